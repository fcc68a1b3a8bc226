"""Joseph's parallel-beam projector and its exact transpose, compiled (numba) and in numpy.

One slice is an image ``f[k, j]`` (``k``: depth z, ``j``: the detector-parallel axis w) with pixel centres at
``z = k - cz``, ``w = j - cw`` (``cz = (nz - 1) / 2``). At tilt ``theta`` the point ``(w, z)`` projects onto the
detector coordinate ``u = w cos(theta) + z sin(theta)``; detector bin ``b`` sits at ``u = b - cu``. The ray of
bin ``b`` is sampled once per image row where ``|cos| >= |sin|`` (``w`` interpolated linearly inside row ``k``,
step length ``1 / |cos|``), else once per image column (``z`` interpolated, step ``1 / |sin|``) -- Joseph (1982).

The transpose is written as a *gather* over pixels (each pixel collects the rays it feeds, at most two bins per
angle because a linear-interpolation footprint has width ``2 |cos|`` <= 2 bins), so both directions run in
parallel without write races and give the same bits whatever the number of threads. The weights of both
directions are the same function ``1 - |i(b) - i|`` (written per ray in one direction and per pixel in the other),
so ``<A x, y> = <x, A^T y>`` to rounding (about 1e-9 relative).

Arrays: volume ``(n_slices, nz, nw)`` float32, sinogram ``(n_slices, n_angles, n_det)`` float32, accumulations
in float64.

References
----------
P. M. Joseph, "An improved algorithm for reprojecting rays through pixel images", IEEE Trans. Med. Imaging 1
(1982) 192-196.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..engine.jit import numba_usable

HAVE_NUMBA = numba_usable()  # this module loads on the first projection, not with emscale
_nb = None
if HAVE_NUMBA:  # optional dependency: the numpy versions below compute the same maths, slower
    import numba as _nb


def _forward_impl(volp, cos_, sin_, rows, cu, out):
    """Joseph forward projection, slices last: ``volp`` (nz + 2, nw + 2, ns) zero-padded, ``out`` (n_angles,
    n_det, ns). The sample positions and weights of a ray depend on the geometry only, so they are computed once
    and applied to every slice in the innermost (contiguous, vectorised) loop."""
    nz, nw, ns = volp.shape[0] - 2, volp.shape[1] - 2, volp.shape[2]
    n_det = out.shape[1]
    cz = (nz - 1) / 2.0
    cw = (nw - 1) / 2.0
    for a in _prange(cos_.shape[0]):
        by_rows = rows[a]
        # Row by row (``w`` interpolated) or column by column (``z`` interpolated); the padding (one zero pixel
        # on every side) lets neighbours -1 and n read zeros, so the inner loop needs one range test only.
        n_lines, n_along = (nz, nw) if by_rows else (nw, nz)
        den = cos_[a] if by_rows else sin_[a]
        other = sin_[a] if by_rows else cos_[a]
        ca = cw if by_rows else cz
        cl = cz if by_rows else cw
        step = 1.0 / den
        scale = np.float32(1.0 / abs(den))
        acc = np.zeros((n_det, ns), np.float32)
        for line in range(n_lines):
            x0 = (-cu - (line - cl) * other) * step + ca  # x at bin b is x0 + b * step
            lo_x, hi_x = (-1.0 - x0) * den, (n_along - x0) * den
            b_lo = max(0, int(math.floor(min(lo_x, hi_x))))
            b_hi = min(n_det, int(math.ceil(max(lo_x, hi_x))) + 1)
            for b in range(b_lo, b_hi):
                x = x0 + b * step
                if not -1.0 < x < n_along:
                    continue
                i0 = int(math.floor(x))
                f = np.float32(x - i0)
                g = np.float32(1.0) - f
                if by_rows:
                    for s in range(ns):
                        acc[b, s] += g * volp[line + 1, i0 + 1, s] + f * volp[line + 1, i0 + 2, s]
                else:
                    for s in range(ns):
                        acc[b, s] += g * volp[i0 + 1, line + 1, s] + f * volp[i0 + 2, line + 1, s]
        for b in range(n_det):
            for s in range(ns):
                out[a, b, s] = acc[b, s] * scale


def _adjoint_impl(sinop, cos_, sin_, rows, cu, out):
    """The exact transpose of :func:`_forward_impl`, a gather per pixel row: ``sinop`` (n_angles, n_det + 2, ns)
    zero-padded, ``out`` (nz, nw, ns). Pixel ``(k, j)`` projects to bin coordinate ``bc``; the forward weight of
    bin ``b`` for it is ``1 - |b - bc| / half`` (``half = |cos|`` row by row, ``|sin|`` column by column), times
    ``1 / half``; a footprint of width ``2 half <= 2`` bins covers at most two bins."""
    nz, nw, ns = out.shape
    n_det = sinop.shape[1] - 2
    cz = (nz - 1) / 2.0
    cw = (nw - 1) / 2.0
    for k in _prange(nz):
        z = k - cz
        acc = np.zeros((nw, ns), np.float32)
        for a in range(cos_.shape[0]):
            c = cos_[a]
            half = abs(c) if rows[a] else abs(sin_[a])
            inv = 1.0 / half
            bc0 = -cw * c + z * sin_[a] + cu
            for j in range(nw):
                bc = bc0 + j * c
                b0 = int(math.floor(bc - half)) + 1
                # both bins' weights first (a bin outside the footprint weighs 0; one outside the detector reads
                # the zero padding), then one vectorised pass over the slices
                w0 = np.float32(max(0.0, 1.0 - abs(b0 - bc) * inv) * inv)
                w1 = np.float32(max(0.0, 1.0 - abs(b0 + 1 - bc) * inv) * inv)
                i0 = min(max(b0, -1), n_det) + 1
                i1 = min(max(b0 + 1, -1), n_det) + 1
                for s in range(ns):
                    acc[j, s] += w0 * sinop[a, i0, s] + w1 * sinop[a, i1, s]
        for j in range(nw):
            for s in range(ns):
                out[k, j, s] = acc[j, s]


def _backproject_impl(sinop, cos_, sin_, cu, out):
    """Pixel-driven back-projection with linear interpolation of the detector (the FBP back-projector; not the
    transpose of the Joseph forward, whose footprint widens with ``1 / |cos|``), slices last: ``sinop``
    (n_angles, n_det + 2, ns), ``out`` (nz, nw, ns). Weights are computed once per pixel and angle and applied
    to all slices in the vectorised inner loop."""
    nz, nw, ns = out.shape
    n_det = sinop.shape[1] - 2
    cz = (nz - 1) / 2.0
    cw = (nw - 1) / 2.0
    for k in _prange(nz):
        z = k - cz
        acc = np.zeros((nw, ns), np.float32)
        for a in range(cos_.shape[0]):
            c = cos_[a]
            bc0 = -cw * c + z * sin_[a] + cu
            # columns whose bin coordinate falls in (-1, n_det); the test below only guards the ends
            j_lo, j_hi = 0, nw
            if c != 0.0:
                e0, e1 = (-1.0 - bc0) / c, (n_det - bc0) / c
                j_lo = max(0, int(math.floor(min(e0, e1))))
                j_hi = min(nw, int(math.ceil(max(e0, e1))) + 1)
            for j in range(j_lo, j_hi):
                bc = bc0 + j * c
                if -1.0 < bc < n_det:
                    b0 = int(math.floor(bc))
                    f = np.float32(bc - b0)
                    g = np.float32(1.0) - f
                    for s in range(ns):
                        acc[j, s] += g * sinop[a, b0 + 1, s] + f * sinop[a, b0 + 2, s]
        for j in range(nw):
            for s in range(ns):
                out[k, j, s] = acc[j, s]


if HAVE_NUMBA:
    _prange = _nb.prange
    _forward_par = _nb.njit(parallel=True, cache=True, fastmath=False)(_forward_impl)
    _adjoint_par = _nb.njit(parallel=True, cache=True, fastmath=False)(_adjoint_impl)
    _backproject_par = _nb.njit(parallel=True, cache=True, fastmath=False)(_backproject_impl)
    _backproject_ser = _nb.njit(parallel=False, cache=True, fastmath=False)(_backproject_impl)
    _forward_ser = _nb.njit(parallel=False, cache=True, fastmath=False)(_forward_impl)
    _adjoint_ser = _nb.njit(parallel=False, cache=True, fastmath=False)(_adjoint_impl)
else:  # pragma: no cover
    _prange = range


def _parallel_ok() -> bool:
    # numba's "workqueue" layer aborts on concurrent parallel launches from several threads (a ThreadExecutor);
    # OpenMP and TBB do not. Off the main thread with workqueue, run the serial build (same bits).
    if threading.current_thread() is threading.main_thread():
        return True
    try:
        return _nb.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False


# Slices-last layout: the public functions take and return slices first, ``(ns, ...)``; the ``*_last`` ones
# work on ``(..., ns)`` arrays directly (what the iterative solvers keep between iterations).
def forward_last(vol, cos_, sin_, rows, cu, n_det):
    """``vol`` (nz, nw, ns) float32 -> sinograms (n_angles, n_det, ns)."""
    out = np.empty((cos_.shape[0], n_det, vol.shape[2]), np.float32)
    volp = np.pad(vol, ((1, 1), (1, 1), (0, 0)))
    (_forward_par if _parallel_ok() else _forward_ser)(volp, cos_, sin_, rows, float(cu), out)
    return out


def adjoint_last(sino, cos_, sin_, rows, cu, vol_shape):
    """``sino`` (n_angles, n_det, ns) float32 -> slices (nz, nw, ns), the transpose of :func:`forward_last`."""
    out = np.empty(tuple(vol_shape) + (sino.shape[2],), np.float32)
    sinop = np.pad(sino, ((0, 0), (1, 1), (0, 0)))
    (_adjoint_par if _parallel_ok() else _adjoint_ser)(sinop, cos_, sin_, rows, float(cu), out)
    return out


def backproject_last(sino, cos_, sin_, cu, vol_shape):
    """``sino`` (n_angles, n_det, ns) float32 -> slices (nz, nw, ns), pixel-driven, linear interpolation."""
    out = np.empty(tuple(vol_shape) + (sino.shape[2],), np.float32)
    sinop = np.pad(sino, ((0, 0), (1, 1), (0, 0)))
    (_backproject_par if _parallel_ok() else _backproject_ser)(sinop, cos_, sin_, float(cu), out)
    return out


def to_last(x):
    """(ns, a, b) -> contiguous (a, b, ns)."""
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))


def to_first(x):
    """(a, b, ns) -> contiguous (ns, a, b)."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 0))


def forward_numba(vol, cos_, sin_, rows, cu, n_det):
    return to_first(forward_last(to_last(vol), cos_, sin_, rows, cu, n_det))


def adjoint_numba(sino, cos_, sin_, rows, cu, vol_shape):
    return to_first(adjoint_last(to_last(sino), cos_, sin_, rows, cu, vol_shape))


def backproject_numba(sino, cos_, sin_, cu, vol_shape):
    return to_first(backproject_last(to_last(sino), cos_, sin_, cu, vol_shape))


# -- numpy versions (no numba): vectorised over slices and over the rows/columns of one angle ----------------
def _interp_along(vol, idx, along_w: bool):
    """Linear interpolation of ``vol`` (ns, nz, nw) at fractional indices ``idx`` (n_lines, n_det) along w (line
    ``l`` = row ``l``) or along z (line ``l`` = column ``l``); summed over the lines -> (ns, n_det)."""
    ns, nz, nw = vol.shape
    n_along = nw if along_w else nz
    i0 = np.floor(idx).astype(np.int64)
    f = idx - i0
    lines = np.arange(idx.shape[0])[:, None]
    acc = np.zeros((ns, idx.shape[1]))
    for off, wt in ((0, 1.0 - f), (1, f)):
        i = i0 + off
        ok = (i >= 0) & (i < n_along)
        ic = np.clip(i, 0, n_along - 1)
        g = vol[:, lines, ic] if along_w else vol[:, ic, lines]
        acc += np.sum(g * np.where(ok, wt, 0.0), axis=1)
    return acc


def forward_numpy(vol, cos_, sin_, rows, cu, n_det):
    ns, nz, nw = vol.shape
    cz, cw = (nz - 1) / 2.0, (nw - 1) / 2.0
    u = np.arange(n_det) - cu
    out = np.zeros((ns, cos_.shape[0], n_det), np.float32)
    for a in range(cos_.shape[0]):
        c, sn = float(cos_[a]), float(sin_[a])
        if rows[a]:
            idx = (u[None, :] - (np.arange(nz)[:, None] - cz) * sn) / c + cw
            out[:, a] = _interp_along(vol, idx, True) / abs(c)
        else:
            idx = (u[None, :] - (np.arange(nw)[:, None] - cw) * c) / sn + cz
            out[:, a] = _interp_along(vol, idx, False) / abs(sn)
    return out


def adjoint_numpy(sino, cos_, sin_, rows, cu, vol_shape):
    nz, nw = vol_shape
    cz, cw = (nz - 1) / 2.0, (nw - 1) / 2.0
    n_det = sino.shape[2]
    z = (np.arange(nz) - cz)[:, None]
    w = (np.arange(nw) - cw)[None, :]
    kk, jj = np.arange(nz)[:, None], np.arange(nw)[None, :]
    out = np.zeros((sino.shape[0], nz, nw))
    for a in range(cos_.shape[0]):
        c, sn = float(cos_[a]), float(sin_[a])
        half = abs(c) if rows[a] else abs(sn)
        bc = w * c + z * sn + cu
        first = np.floor(bc - half).astype(np.int64) + 1
        for b in (first, first + 1):  # the footprint covers at most two bins
            u = b - cu
            wt = 1.0 - np.abs((u - z * sn) / c + cw - jj) if rows[a] else 1.0 - np.abs((u - w * c) / sn + cz - kk)
            ok = (wt > 0.0) & (b >= 0) & (b < n_det) & (b <= np.ceil(bc + half) - 1)
            g = sino[:, a, np.clip(b, 0, n_det - 1)]
            out += g * np.where(ok, wt / half, 0.0)
    return out.astype(np.float32)


def backproject_numpy(sino, cos_, sin_, cu, vol_shape):
    nz, nw = vol_shape
    n_det = sino.shape[2]
    z = (np.arange(nz) - (nz - 1) / 2.0)[:, None]
    w = (np.arange(nw) - (nw - 1) / 2.0)[None, :]
    sinop = np.pad(sino, ((0, 0), (0, 0), (1, 1)))
    out = np.zeros((sino.shape[0], nz, nw), np.float32)
    for a in range(cos_.shape[0]):
        bc = w * float(cos_[a]) + z * float(sin_[a]) + cu
        inside = (bc > -1.0) & (bc < n_det)
        b0 = np.floor(np.where(inside, bc, -1.0)).astype(np.int64)
        f = np.where(inside, bc - b0, 0.0)
        out += ((1.0 - f) * sinop[:, a, b0 + 1] + f * sinop[:, a, b0 + 2]).astype(np.float32)
    return out
