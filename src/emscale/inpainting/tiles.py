"""Tile-by-tile reconstruction of large sparsely scanned images with overlap, as an engine pass.

The image is cut into tiles of ``tile x tile`` pixels; each is reconstructed from the measured pixels of the
tile grown by ``overlap`` pixels on every side (clipped at the image edge), and only its core is kept, so the
seams see the same context as the interior. One pass partition is one band of tiles: a worker holds one band
plus its halo (``(tile + 2 overlap) x columns`` values) whatever the image size, the image may be a numpy, zarr
or dask array, and the bands are concatenated in order, so every executor gives the same bits.
"""

from __future__ import annotations

import json

from .image import CHOOSING_METHODS, reconstruct_image
from .tiling import tiled

__all__ = ["inpaint_tiled", "tile_choices"]


def tile_choices(choices: list[dict]) -> dict:
    """What the tiles' own hold-outs chose, counted: ``{"tiles": n, "prior": {"fourier": 12, "fourier+dct": 4},
    ...}``, one count table per setting (a nested setting, as the dictionary's sparse start, flattened to
    ``"start.prior"``). A score that differs on every tile (``held_out_mse``) is left out: its counts say nothing."""
    counts: dict[str, dict[str, int]] = {}

    def add(prefix, choice):
        for key, value in choice.items():
            if key in UNCOUNTED:
                continue
            if isinstance(value, dict):
                add(f"{prefix}{key}.", value)
            else:
                table = counts.setdefault(prefix + key, {})
                label = value if isinstance(value, str) else json.dumps(value)
                table[label] = table.get(label, 0) + 1

    for c in choices:
        add("", c)
    return {"tiles": len(choices), **{k: dict(sorted(v.items())) for k, v in counts.items()}}


UNCOUNTED = ("held_out_mse", "far_gaps_evidence")


def inpaint_tiled(
    image,
    mask,
    method: str = "sparse",
    tile: int = 256,
    overlap: int = 32,
    seed: int = 0,
    executor=None,
    progress=None,
    return_choice: bool = False,
    **params,
):
    """Reconstruct ``image`` (rows, columns; numpy, zarr or dask) tile by tile with overlapping halos.

    Parameters
    ----------
    image : (rows, columns) values; only those where ``mask`` is True are read.
    mask : (rows, columns) bool, True = measured.
    method, seed, params : as :func:`~emscale.inpainting.inpaint_image`, applied to each grown tile.
    tile : core tile side in pixels; overlap : halo in pixels added on each side (>= 0).
    executor, progress : passed to :func:`emscale.engine.run_pass` (one partition per band of tiles).
    return_choice : also return what each tile's hold-out chose, counted over the tiles (:func:`tile_choices`;
        ``{"tiles": n}`` alone for a baseline).

    Returns
    -------
    (rows, columns) float64 reconstruction; with ``return_choice``, ``(reconstruction, choices)``.
    """
    def fill(values, mask):
        if method in CHOOSING_METHODS:
            return reconstruct_image(values, mask, method, seed, return_choice=True, **params)
        return reconstruct_image(values, mask, method, seed, **params), None

    out, choices = tiled(image, mask, fill, tile, overlap, executor, progress)
    if not return_choice:
        return out
    return out, (tile_choices(choices) if method in CHOOSING_METHODS else {"tiles": len(choices)})
