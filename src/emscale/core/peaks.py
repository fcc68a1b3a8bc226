"""Peaks of an n-D array: the local maxima above the array's median, refined to a sub-sample position.

Atomic columns in an image (:mod:`emscale.inpainting.columns`) and atoms in a tomogram
(:mod:`emscale.tomography.atoms`) are found the same way, so both read them here.
"""

from __future__ import annotations

import numpy as np

from .errors import check_count

__all__ = ["local_maxima", "parabola_vertex"]


def local_maxima(x: np.ndarray, size: int, exclude_border: int | None = 0) -> np.ndarray:
    """(n, ndim) indices, in C order, of the samples of ``x`` that are the maximum of the ``size``-wide cube about
    them (edges repeated) and above the median of ``x`` (the background: its noise maxima are never peaks and only
    slow the rest down). ``exclude_border``: drop peaks fewer than this many samples from a face (1: those on a
    face); None or 0: none dropped."""
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`

    b = 0 if exclude_border is None else exclude_border
    check_count("exclude_border", b, "samples from a face", minimum=0)
    is_max = (x == ndimage.maximum_filter(x, size=size, mode="nearest")) & (x > np.median(x))
    b = int(b)
    if b:
        inside = np.zeros_like(is_max)
        inside[(slice(b, -b),) * x.ndim] = True
        is_max &= inside
    return np.argwhere(is_max)


def parabola_vertex(x: np.ndarray, peaks: np.ndarray, log: bool = False) -> np.ndarray:
    """(n, ndim) positions of ``peaks`` (integer indices into ``x``) moved, along each axis, to the vertex of the
    parabola through the three samples about them, by at most half a sample. ``log``: fit the parabola to
    ``log x`` (exact for a sampled Gaussian; ``x`` must then be > 0 at the peaks). A peak on a face, or where the
    three samples do not curve down, keeps its index along that axis."""
    peaks = np.asarray(peaks, dtype=np.intp).reshape(-1, x.ndim)
    out = peaks.astype(float)
    if not np.issubdtype(x.dtype, np.floating):  # differences of unsigned samples would wrap around
        x = x.astype(np.float64)
    v = np.log(np.maximum(x, np.finfo(np.float32).tiny)) if log else x
    for ax in range(x.ndim):
        lo = peaks.copy()
        hi = peaks.copy()
        lo[:, ax] -= 1
        hi[:, ax] += 1
        ok = (lo[:, ax] >= 0) & (hi[:, ax] < x.shape[ax])
        a = v[tuple(lo[ok].T)]
        b = v[tuple(peaks[ok].T)]
        c = v[tuple(hi[ok].T)]
        curv = a - 2.0 * b + c
        step = np.where(curv < 0, 0.5 * (a - c) / np.where(curv < 0, curv, -1.0), 0.0)
        out[ok, ax] += np.clip(step, -0.5, 0.5)
    return out
