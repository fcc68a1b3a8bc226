"""Tile-by-tile reconstruction of an image with overlapping halos: one pass over bands of tiles (bounded memory,
any executor). The method that fills a tile is the caller's (:func:`.tiles.inpaint_tiled` for the image methods,
:func:`.gaps.interpolate` for biharmonic interpolation); this module imports none of them."""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_count
from ..engine import Pass, read_block, run_pass
from ..sampling.patterns import check_mask

__all__ = ["check_tile", "tiled"]


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """``ceil(n / tile)`` spans of equal size (to a pixel), none longer than ``tile``: cut at multiples of ``tile``,
    the last tile could be a strip of 1-2 pixels (too few for a patch, often with no measured pixel)."""
    edges = np.round(np.linspace(0, n, -(-n // tile) + 1)).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def check_tile(tile) -> None:
    """None (the whole image at once) or a tile side of at least 8 pixels."""
    if tile is not None:
        check_count("tile", tile, "pixels a side; None: the whole image", minimum=8)


def _tile(band, bmask, rows, x0, x1, nx, overlap, fill):
    """The tile's core reconstructed from it and its halo by ``fill(values, mask) -> (image, choice)``."""
    a, b = max(0, x0 - overlap), min(nx, x1 + overlap)
    sub, sm = band[:, a:b], bmask[:, a:b]
    if not sm.any():
        (y0, y1), (ya, yb) = rows
        raise DataError(f"the tile of rows {y0}:{y1}, columns {x0}:{x1} holds no measured pixel, nor does its halo "
                        f"(rows {ya}:{yb}, columns {a}:{b}); use larger tiles or a larger overlap")
    rec, choice = fill(sub, sm)
    return rec[:, x0 - a : x1 - a], choice


def tiled(image, mask, fill, tile: int = 256, overlap: int = 32, executor=None, progress=None):
    """(reconstruction, each tile's choice in order): ``image`` (rows, columns; numpy, zarr or dask) filled tile by
    tile by ``fill(values, mask) -> (image, choice)`` on the tile grown by ``overlap`` pixels on every side."""
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
            row = [_tile(band, m[a:b], ((y0, y1), (a, b)), x0, x1, nx, overlap, fill) for x0, x1 in xs]
            out.append((np.concatenate([r for r, _ in row], axis=1)[y0 - a : y1 - a], [c for _, c in row]))
        return out

    def gather(parts):  # the bands in order, and their tiles' choices in the same order
        return np.concatenate([band for band, _ in parts], axis=0), [c for _, cs in parts for c in cs]

    index = np.arange(len(bands))
    if progress is not None:  # the pass runs over band indices: report the image's bytes, not the index's
        report, total = progress, ny * nx * 8

        def progress(done, of):
            report(total * done // max(of, 1), total)

    return run_pass(index, Pass(band_map, lambda a, b: a + b, gather, name="inpaint-tiles"), executor=executor,
                    rows=1, progress=progress)
