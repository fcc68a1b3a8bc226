"""Tile-by-tile reconstruction of large sparsely scanned images with overlap, as an engine pass.

The image is cut into tiles of ``tile x tile`` pixels; each is reconstructed from the measured pixels of the
tile grown by ``overlap`` pixels on every side (clipped at the image edge), and only its core is kept, so the
seams see the same context as the interior. One pass partition is one band of tiles: a worker holds one band
plus its halo (``(tile + 2 overlap) x columns`` values) whatever the image size, the image may be a numpy, zarr
or dask array, and the bands are concatenated in order, so every executor gives the same bits.
"""

from __future__ import annotations

import json

import numpy as np

from ..core.errors import DataError, check_count
from ..engine import Pass, read_block, run_pass
from ..sampling.patterns import check_mask
from .image import CHOOSING_METHODS, inpaint_image

__all__ = ["inpaint_tiled", "tile_choices"]


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """``ceil(n / tile)`` spans of equal size (to a pixel), none longer than ``tile``: cut at multiples of ``tile``,
    the last tile could be a strip of 1-2 pixels (too few for a patch, often with no measured pixel)."""
    edges = np.round(np.linspace(0, n, -(-n // tile) + 1)).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def check_tile(tile) -> None:
    """None (the whole image at once) or a tile side of at least 8 pixels."""
    if tile is not None:
        check_count("tile", tile, "pixels a side; None: the whole image", minimum=8)


def _tile(band, bmask, rows, x0, x1, nx, overlap, method, seed, params):
    """The tile's core reconstructed from it and its halo, and what the method chose there (None for a baseline)."""
    a, b = max(0, x0 - overlap), min(nx, x1 + overlap)
    sub, sm = band[:, a:b], bmask[:, a:b]
    if not sm.any():
        (y0, y1), (ya, yb) = rows
        raise DataError(f"the tile of rows {y0}:{y1}, columns {x0}:{x1} holds no measured pixel, nor does its halo "
                        f"(rows {ya}:{yb}, columns {a}:{b}); use larger tiles or a larger overlap")
    if method in CHOOSING_METHODS:
        rec, choice = inpaint_image(sub, sm, method, seed, return_choice=True, **params)
    else:
        rec, choice = inpaint_image(sub, sm, method, seed, **params), None
    return rec[:, x0 - a : x1 - a], choice


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
    if len(image.shape) != 2:
        raise DataError(f"tiled reconstruction needs a 2-D image (rows, columns), got shape {tuple(image.shape)}")
    ny, nx = image.shape
    m = check_mask(mask, (ny, nx))
    tile, overlap = int(tile), int(overlap)
    check_tile(tile)
    check_count("overlap", overlap, "pixels of halo on every side", minimum=0)
    bands = _spans(ny, tile)
    xs = _spans(nx, tile)

    def band_map(idx, rows):
        out = []
        for i in np.asarray(idx).ravel():
            y0, y1 = bands[int(i)]
            a, b = max(0, y0 - overlap), min(ny, y1 + overlap)
            band = np.asarray(read_block(image, slice(a, b)), dtype=np.float64)
            row = [_tile(band, m[a:b], ((y0, y1), (a, b)), x0, x1, nx, overlap, method, seed, params) for x0, x1 in xs]
            out.append((np.concatenate([r for r, _ in row], axis=1)[y0 - a : y1 - a], [c for _, c in row]))
        return out

    def gather(parts):  # the bands in order, and their tiles' choices in the same order
        return np.concatenate([band for band, _ in parts], axis=0), [c for _, cs in parts for c in cs]

    index = np.arange(len(bands))
    if progress is not None:  # the pass runs over band indices: report the image's bytes, not the index's
        report, total = progress, ny * nx * 8

        def progress(done, of):
            report(total * done // max(of, 1), total)

    out, choices = run_pass(index, Pass(band_map, lambda a, b: a + b, gather, name="inpaint-tiles"),
                            executor=executor, rows=1, progress=progress)
    if not return_choice:
        return out
    return out, (tile_choices(choices) if method in CHOOSING_METHODS else {"tiles": len(choices)})
