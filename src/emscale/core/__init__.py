"""The lowest layer: axes, the Signal data model, history records, the JSON codec, atomic writes, errors and the
operation registry. Nothing here imports any other emscale package."""
