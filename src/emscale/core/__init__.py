"""The lowest layer: axes, the Signal data model, history records, the JSON codec, atomic writes, errors, the
operation registry, result objects, HTML pieces, checked integer sums and the n-D peak finder. Nothing here imports
any other emscale package."""
