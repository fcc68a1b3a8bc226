"""Tile-by-tile reconstruction of large sparsely scanned images with overlap, as an engine pass.

The image is cut into tiles of ``tile x tile`` pixels; each is reconstructed from the measured pixels of the
tile grown by ``overlap`` pixels on every side (clipped at the image edge), and only its core is kept, so the
seams see the same context as the interior. One pass partition is one band of tiles: a worker holds one band
plus its halo (``(tile + 2 overlap) x columns`` values) whatever the image size, the image may be a numpy, zarr
or dask array, and the bands are concatenated in order, so every executor gives the same bits.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_count
from ..engine import Pass, read_block, run_pass
from ..sampling.patterns import check_mask
from .image import inpaint_image

__all__ = ["inpaint_tiled"]


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
    a, b = max(0, x0 - overlap), min(nx, x1 + overlap)
    sub, sm = band[:, a:b], bmask[:, a:b]
    if not sm.any():
        (y0, y1), (ya, yb) = rows
        raise DataError(f"the tile of rows {y0}:{y1}, columns {x0}:{x1} holds no measured pixel, nor does its halo "
                        f"(rows {ya}:{yb}, columns {a}:{b}); use larger tiles or a larger overlap")
    return inpaint_image(sub, sm, method, seed, **params)[:, x0 - a : x1 - a]


def inpaint_tiled(
    image,
    mask,
    method: str = "sparse",
    tile: int = 256,
    overlap: int = 32,
    seed: int = 0,
    executor=None,
    progress=None,
    **params,
) -> np.ndarray:
    """Reconstruct ``image`` (rows, columns; numpy, zarr or dask) tile by tile with overlapping halos.

    Parameters
    ----------
    image : (rows, columns) values; only those where ``mask`` is True are read.
    mask : (rows, columns) bool, True = measured.
    method, seed, params : as :func:`~emscale.inpainting.inpaint_image`, applied to each grown tile.
    tile : core tile side in pixels; overlap : halo in pixels added on each side (>= 0).
    executor, progress : passed to :func:`emscale.engine.run_pass` (one partition per band of tiles).

    Returns
    -------
    (rows, columns) float64 reconstruction.
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
            out.append(np.concatenate(row, axis=1)[y0 - a : y1 - a])
        return np.concatenate(out, axis=0)

    index = np.arange(len(bands))
    if progress is not None:  # the pass runs over band indices: report the image's bytes, not the index's
        report, total = progress, ny * nx * 8

        def progress(done, of):
            report(total * done // max(of, 1), total)

    return run_pass(index, Pass(band_map, None, name="inpaint-tiles"), executor=executor, rows=1, progress=progress)
