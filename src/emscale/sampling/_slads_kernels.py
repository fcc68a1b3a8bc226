"""The compiled (numba) kernels of :class:`.slads_features.NeighbourState`, in a module of their own: importing numba
and loading the cached kernels costs ~0.3-1 s, which small scans never pay (``slads_features.NUMBA_MIN_PIXELS``).

They compute what the numpy route computes, in the same order, so both give the same bits (tested): the merge
is integer arithmetic, and the weighted sums run left to right as ``slads_features._row_sum`` and ``_row_dot`` do.
"""

import numba as _nb
import numpy as np


@_nb.njit(nogil=True, cache=True)
def merge_nb(pix, cand, d2, nn_d2, nn_i, n):
    """Merge candidate neighbours ``(pix, cand, d2)`` into the k-NN lists ``nn_d2``, ``nn_i`` (rows sorted by the
    key ``d2 * n + index``); returns the pixels whose lists were merged, ascending (as ``np.flatnonzero``)."""
    k = nn_d2.shape[1]
    counts = np.zeros(n, np.int64)
    for t in range(pix.size):
        counts[pix[t]] += 1
    n_up = 0
    for p in range(n):
        if counts[p] > 0:
            n_up += 1
    upix = np.empty(n_up, np.int64)
    start = np.zeros(n, np.int64)  # where pixel p's candidates begin in ``keys`` (only read for upix)
    q = 0
    width = 0
    for p in range(n):
        c = counts[p]
        if c > 0:
            upix[q] = p
            start[p] = 0 if q == 0 else start[upix[q - 1]] + counts[upix[q - 1]]
            width = max(width, c)
            q += 1
    keys = np.empty(pix.size, np.int64)
    fill = np.zeros(n, np.int64)
    for t in range(pix.size):
        p = pix[t]
        keys[start[p] + fill[p]] = np.int64(d2[t]) * n + cand[t]
        fill[p] += 1
    row = np.empty(k + width, np.int64)
    for q in range(n_up):
        p = upix[q]
        m = 0
        for j in range(k):
            row[m] = np.int64(nn_d2[p, j]) * n + nn_i[p, j]
            m += 1
        for t in range(start[p], start[p] + counts[p]):
            row[m] = keys[t]
            m += 1
        for a in range(1, m):  # insertion sort: a few candidates per pixel
            v = row[a]
            b = a - 1
            while b >= 0 and row[b] > v:
                row[b + 1] = row[b]
                b -= 1
            row[b + 1] = v
        for j in range(k):
            nn_d2[p, j] = row[j] // n
            nn_i[p, j] = row[j] % n
    return upix


@_nb.njit(nogil=True, cache=True)
def neighbour_features_nb(p, nn_d2, nn_i, values, recon, features, inv, offset, periodic, has_periodic, pdev_col):
    """Reconstruction and neighbour features at the pixels ``p`` (``_refresh`` of the numpy route, column 1 -- the
    gradient -- set to 0)."""
    k = nn_d2.shape[1]
    w = np.empty(k)
    y = np.empty(k)
    for t in range(p.size):
        i = p[t]
        for j in range(k):
            w[j] = 1.0 / nn_d2[i, j]
            y[j] = values[nn_i[i, j]]
        s = w[0] + w[1] if k > 1 else w[0]
        for j in range(2, k):
            s += w[j]
        for j in range(k):
            w[j] /= s
        xh = w[0] * y[0] + w[1] * y[1] if k > 1 else w[0] * y[0]
        for j in range(2, k):
            xh += w[j] * y[j]
        recon[i] = xh
        e = y[0] - xh
        v = w[0] * (e * e)
        if k > 1:
            e = y[1] - xh
            v = v + w[1] * (e * e)
        for j in range(2, k):
            e = y[j] - xh
            v += w[j] * (e * e)
        hi = y[0]
        lo = y[0]
        for j in range(1, k):
            hi = max(hi, y[j])
            lo = min(lo, y[j])
        features[i, 0] = np.sqrt(v) * inv
        features[i, 1] = 0.0
        features[i, 2] = (hi - lo) * inv
        features[i, 3] = abs(y[0] - xh) * inv
        features[i, 4] = np.sqrt(nn_d2[i, 0])
        features[i, 5] = np.sqrt(nn_d2[i, k - 1])
        features[i, 6] = (xh - offset) * inv
        features[i, pdev_col] = abs(periodic[i] - xh) * inv if has_periodic else 0.0
