"""The compiled (numba) kernels of :mod:`._gram`, in a module of their own: importing numba and loading the
cached kernels costs ~0.3-1 s, which the numpy route of small matrices never pays (:func:`._jit.use_numba`)."""

import numba as _nb
import numpy as np

from ._signs import _mix64, _pixel_base

_mix64_nb = _nb.njit(inline="always")(_mix64)
_pixel_base_nb = _nb.njit(inline="always")(_pixel_base)


@_nb.njit(inline="always")
def _negative(base, channel):  # the sign of channel ``channel`` of the pixel hashed from ``base``: -1?
    return (_mix64_nb(base + np.uint64(channel)) >> np.uint64(63)) != 0


@_nb.njit(nogil=True, cache=True)
def _unpack_nb(acc, column, d, out):
    p = out.shape[0]
    q = 0
    for i in range(p):
        for j in range(i, p):
            v = acc[q, column] * d[i] * d[j]
            out[i, j] = v
            out[j, i] = v
            q += 1


@_nb.njit(nogil=True, cache=True)
def _signed_root_nb(x, w, pix, chan, seed, out):
    n, p = x.shape
    for i in range(n):
        base = _pixel_base_nb(seed, np.uint64(pix[i]))
        wi = np.float32(w[i])
        for j in range(p):
            v = x[i, j]
            if v > 0:
                s = np.float32(np.sqrt(np.float64(v))) * wi
                out[i, j] = -s if _negative(base, chan[j]) else s
            else:
                out[i, j] = 0.0


@_nb.njit(nogil=True, cache=True)
def _sparse_gram_nb(x, w, pix, chan, seed, noise, acc, tile, batch):
    n, p = x.shape
    n_t = (p + tile - 1) // tile
    cap = 4096
    idx = np.empty(cap, np.int64)
    val = np.empty(cap)
    nzv = np.empty(cap)
    starts = np.empty((batch, n_t + 1), np.int64)
    for r0 in range(0, n, batch):
        r1 = min(n, r0 + batch)
        count = 0
        for i in range(r0, r1):
            for j in range(p):
                if x[i, j] != 0:
                    count += 1
        if count > cap:
            cap = max(count, 2 * cap)
            idx = np.empty(cap, np.int64)
            val = np.empty(cap)
            nzv = np.empty(cap)
        # the batch's non-zeros, row by row, split at channel-tile boundaries
        m = 0
        for i in range(r0, r1):
            li = i - r0
            wi = w[i]
            base = _pixel_base_nb(seed, np.uint64(pix[i]))
            for t in range(n_t):
                starts[li, t] = m
                for j in range(t * tile, min(p, t * tile + tile)):
                    v = x[i, j]
                    if v != 0:
                        idx[m] = j
                        val[m] = np.float64(v) * wi
                        if noise:
                            s = np.sqrt(np.float64(v)) * wi if v > 0 else 0.0
                            nzv[m] = -s if _negative(base, chan[j]) else s
                        m += 1
            starts[li, n_t] = m
        # tile by tile, so that the accumulator's active part stays in the core's cache
        for ta in range(n_t):
            for tb in range(ta, n_t):
                for li in range(r1 - r0):
                    a0 = starts[li, ta]
                    a1 = starts[li, ta + 1]
                    b1 = starts[li, tb + 1]
                    for a in range(a0, a1):
                        ia = idx[a]
                        row = ia * (2 * p - ia + 1) // 2 - ia  # packed offset of (ia, ib) is row + ib
                        va = val[a]
                        b0 = a if ta == tb else starts[li, tb]
                        if noise:
                            na = nzv[a]
                            for b in range(b0, b1):
                                q = row + idx[b]
                                acc[q, 0] += va * val[b]
                                acc[q, 1] += na * nzv[b]
                        else:
                            for b in range(b0, b1):
                                acc[row + idx[b], 0] += va * val[b]
