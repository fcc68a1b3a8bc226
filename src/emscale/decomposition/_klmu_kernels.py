"""The compiled (numba) sweeps of :mod:`._klmu`, in a module of their own: importing numba and loading the
cached kernels costs ~0.3-1 s, which the numpy route of small matrices never pays (:func:`._jit.use_numba`)."""

import numba as _nb
import numpy as np

EPS = 1e-12  # the model's floor, as _klmu.EPS


@_nb.njit(cache=True, fastmath=False)
def _sum_partials(part):  # pragma: no cover - compiled
    """Sum of the per-chunk partials in chunk order: bit-identical whatever the thread count."""
    out = np.zeros(part.shape[1:])
    for b in range(part.shape[0]):
        out += part[b]
    return out


@_nb.njit(cache=True, fastmath=False)
def _total(v):  # pragma: no cover - compiled
    """The per-chunk loss terms summed in chunk order, compiled apart from the parallel sweeps: there ``v.sum()`` is a
    parallel reduction, and in the reassociating dense sweep its last bits followed the thread count (measured)."""
    t = 0.0
    for b in range(v.shape[0]):
        t += v[b]
    return t


@_nb.njit(inline="always", fastmath=False)
def _mu(w, ratio, gamma):  # pragma: no cover - compiled
    """A multiplicative update ``w * ratio ** gamma``; ``gamma == 1`` is Lee & Seung's step, bit for bit."""
    return w * ratio if gamma == 1.0 else w * ratio**gamma


@_nb.njit(nogil=True, cache=True)
def _nonzeros_nb(x):  # pragma: no cover - compiled
    n, p = x.shape
    counts = np.zeros(n, np.int64)
    for i in range(n):
        c = 0
        for j in range(p):
            if x[i, j] != 0:
                c += 1
        counts[i] = c
    cols = np.empty(counts.sum(), np.int32)
    vals = np.empty(counts.sum(), np.float32)
    q = 0
    for i in range(n):
        for j in range(p):
            v = x[i, j]
            if v != 0:
                cols[q] = j
                vals[q] = v
                q += 1
    return counts, cols, vals


@_nb.njit(parallel=True, cache=True, fastmath=False)
def _w_update_csr(indptr, indices, data, w, ht, hsum, gamma):  # pragma: no cover - compiled
    n, k = w.shape
    for i in _nb.prange(n):
        acc = np.zeros(k)
        for t in range(indptr[i], indptr[i + 1]):
            j = indices[t]
            wh = EPS
            for c in range(k):
                wh += w[i, c] * ht[j, c]
            r = data[t] / wh
            for c in range(k):
                acc[c] += r * ht[j, c]
        for c in range(k):
            w[i, c] = _mu(w[i, c], acc[c] / hsum[c], gamma)


@_nb.njit(parallel=True, cache=True, fastmath=False)
def _h_num_csr(indptr, indices, data, w, ht, bounds, p, with_loss):  # pragma: no cover - compiled
    k = w.shape[1]
    nb = len(bounds) - 1
    part = np.zeros((nb, p, k))
    lossp = np.zeros(nb)
    for b in _nb.prange(nb):
        num = part[b]
        ls = 0.0
        for i in range(bounds[b], bounds[b + 1]):
            for t in range(indptr[i], indptr[i + 1]):
                j = indices[t]
                wh = EPS
                for c in range(k):
                    wh += w[i, c] * ht[j, c]
                x = data[t]
                r = x / wh
                if with_loss:
                    ls += x * np.log(r)
                for c in range(k):
                    num[j, c] += r * w[i, c]
        lossp[b] = ls
    return _sum_partials(part), _total(lossp)


# Up to four components (the common case) the sweeps keep the row of W, the accumulators and the gathered row
# of H^T in scalars: the generic loops over an unknown k keep them in memory (measured 1.8x slower). Fewer
# components are padded with zero columns, which add exact zeros to every sum: on CSR, the same bits as the
# generic sweeps (the dense rows below go further).
# The arithmetic of one non-zero x = X[i, j] of a CSR row.
@_nb.njit(inline="always", fastmath=False)
def _w_terms4(x, j, ht, w0, w1, w2, w3, a0, a1, a2, a3):  # pragma: no cover - compiled
    """The W update's accumulators (a row of ``R H^T``) with the entry's terms added."""
    h0, h1, h2, h3 = ht[j, 0], ht[j, 1], ht[j, 2], ht[j, 3]
    r = x / (EPS + w0 * h0 + w1 * h1 + w2 * h2 + w3 * h3)
    return a0 + r * h0, a1 + r * h1, a2 + r * h2, a3 + r * h3


@_nb.njit(inline="always", fastmath=False)
def _w_new4(w0, w1, w2, w3, a0, a1, a2, a3, hsum, gamma):  # pragma: no cover - compiled
    """The row's updated W from its accumulators."""
    return (_mu(w0, a0 / hsum[0], gamma), _mu(w1, a1 / hsum[1], gamma), _mu(w2, a2 / hsum[2], gamma),
            _mu(w3, a3 / hsum[3], gamma))


@_nb.njit(inline="always", fastmath=False)
def _h_terms4(x, j, ht, w0, w1, w2, w3, num, ls, with_loss):  # pragma: no cover - compiled
    """The entry's terms of ``W^T R`` added to ``num``; returns the running loss sum ``ls`` with its term."""
    r = x / (EPS + w0 * ht[j, 0] + w1 * ht[j, 1] + w2 * ht[j, 2] + w3 * ht[j, 3])
    if with_loss:
        ls += x * np.log(r)
    num[j, 0] += r * w0
    num[j, 1] += r * w1
    num[j, 2] += r * w2
    num[j, 3] += r * w3
    return ls


@_nb.njit(inline="always", fastmath=False)
def _w_row4(indptr, indices, data, ht, hsum, gamma, i, w0, w1, w2, w3):  # pragma: no cover - compiled
    """Row i's W update: its new (w0, w1, w2, w3)."""
    a0 = a1 = a2 = a3 = 0.0
    for t in range(indptr[i], indptr[i + 1]):
        a0, a1, a2, a3 = _w_terms4(data[t], indices[t], ht, w0, w1, w2, w3, a0, a1, a2, a3)
    return _w_new4(w0, w1, w2, w3, a0, a1, a2, a3, hsum, gamma)


@_nb.njit(inline="always", fastmath=False)
def _h_row4(indptr, indices, data, ht, i, w0, w1, w2, w3, num, ls, with_loss):  # pragma: no cover - compiled
    """Row i's share of W^T R added to ``num``; returns the running loss sum ``ls`` with the row's terms."""
    for t in range(indptr[i], indptr[i + 1]):
        ls = _h_terms4(data[t], indices[t], ht, w0, w1, w2, w3, num, ls, with_loss)
    return ls


@_nb.njit(parallel=True, cache=True, fastmath=False)
def _w_update_csr4(indptr, indices, data, w, ht, hsum, gamma, bounds):  # pragma: no cover - compiled
    for b in _nb.prange(len(bounds) - 1):
        for i in range(bounds[b], bounds[b + 1]):
            w[i, 0], w[i, 1], w[i, 2], w[i, 3] = _w_row4(
                indptr, indices, data, ht, hsum, gamma, i, w[i, 0], w[i, 1], w[i, 2], w[i, 3]
            )


@_nb.njit(parallel=True, cache=True, fastmath=False)
def _sweep_csr4(indptr, indices, data, w, ht, hsum, gamma, bounds, p, update_w, with_loss):  # pragma: no cover
    """``W^T R`` (and the loss terms) in per-chunk partials summed in chunk order; with ``update_w`` each row's
    W update first (``_w_update_csr4``), the numerator then taken with the updated row while it is in the
    cache. Rows are independent in the W update, so this is the arithmetic of the W sweep and the H sweep
    run one after the other -- the same bits -- with the non-zeros streamed from memory once, not twice."""
    nb = len(bounds) - 1
    part = np.zeros((nb, p, 4))
    lossp = np.zeros(nb)
    for b in _nb.prange(nb):
        ls = 0.0
        for i in range(bounds[b], bounds[b + 1]):
            w0, w1, w2, w3 = w[i, 0], w[i, 1], w[i, 2], w[i, 3]
            if update_w:
                w0, w1, w2, w3 = _w_row4(indptr, indices, data, ht, hsum, gamma, i, w0, w1, w2, w3)
                w[i, 0], w[i, 1], w[i, 2], w[i, 3] = w0, w1, w2, w3
            ls = _h_row4(indptr, indices, data, ht, i, w0, w1, w2, w3, part[b], ls, with_loss)
        lossp[b] = ls
    return _sum_partials(part), _total(lossp)


# The dense rows of up to four components run in SIMD lanes. Without reassociation a row's sums over its channels
# are one serial chain of additions, which the compiler must keep in order: the sweep was bound by that chain's
# latency (24 ms per iteration on 9216 x 1024, k = 3). Allowing these kernels -- and only these -- to reassociate
# lets the compiler split each sum into vector lanes: 7.5-9 ms, measured. The order of the additions is then fixed
# by the compiled code, not by the data or the thread count: reruns give the same bits, and the kernels below agree
# with each other bit for bit (the fused sweep is still the W sweep then the H sweep). They no longer give the
# CSR kernels' or numpy's bits (relative differences ~1e-15). H arrives as four contiguous rows (4, channels) so that a
# row's model is a vector expression.
_DENSE_FM = {"reassoc", "contract"}


@_nb.njit(inline="always", fastmath=_DENSE_FM)
def _w_row_dense4(xi, h4, hsum, gamma, w0, w1, w2, w3):  # pragma: no cover - compiled
    """A dense row's W update: its new (w0, w1, w2, w3) from its channels ``xi`` (zeros add nothing)."""
    h0, h1, h2, h3 = h4[0], h4[1], h4[2], h4[3]
    a0 = a1 = a2 = a3 = 0.0
    for j in range(xi.shape[0]):
        r = xi[j] / (EPS + w0 * h0[j] + w1 * h1[j] + w2 * h2[j] + w3 * h3[j])
        a0 += r * h0[j]
        a1 += r * h1[j]
        a2 += r * h2[j]
        a3 += r * h3[j]
    return _w_new4(w0, w1, w2, w3, a0, a1, a2, a3, hsum, gamma)


@_nb.njit(inline="always", fastmath=_DENSE_FM)
def _h_row_dense4(xi, h4, w0, w1, w2, w3, num, ls, with_loss):  # pragma: no cover - compiled
    """A dense row's share of ``W^T R`` added to ``num`` (4, channels); returns the running loss sum with the row's
    terms ``x log(x / WH)`` (zeros add nothing)."""
    h0, h1, h2, h3 = h4[0], h4[1], h4[2], h4[3]
    n0, n1, n2, n3 = num[0], num[1], num[2], num[3]
    if with_loss:
        for j in range(xi.shape[0]):
            x = xi[j]
            r = x / (EPS + w0 * h0[j] + w1 * h1[j] + w2 * h2[j] + w3 * h3[j])
            if x > 0:
                ls += x * np.log(r)
            n0[j] += r * w0
            n1[j] += r * w1
            n2[j] += r * w2
            n3[j] += r * w3
        return ls
    for j in range(xi.shape[0]):
        r = xi[j] / (EPS + w0 * h0[j] + w1 * h1[j] + w2 * h2[j] + w3 * h3[j])
        n0[j] += r * w0
        n1[j] += r * w1
        n2[j] += r * w2
        n3[j] += r * w3
    return ls


@_nb.njit(parallel=True, cache=True, fastmath=_DENSE_FM)
def _sweep_dense4(x, w, h4, hsum, gamma, bounds, update_w, with_loss):  # pragma: no cover - compiled
    """``(W^T R)`` as (4, channels) and the loss terms of a dense X (rows, channels) with up to four components
    (padded), in per-chunk partials summed in chunk order. With ``update_w`` each row's W update first, its share of
    ``W^T R`` then taken with the updated row while the row is in the cache: the W sweep and the H sweep one after
    the other -- the same bits -- with X streamed from memory once per iteration, not twice."""
    nb = len(bounds) - 1
    part = np.zeros((nb, 4, x.shape[1]))
    lossp = np.zeros(nb)
    for b in _nb.prange(nb):
        ls = 0.0
        for i in range(bounds[b], bounds[b + 1]):
            w0, w1, w2, w3 = w[i, 0], w[i, 1], w[i, 2], w[i, 3]
            if update_w:
                w0, w1, w2, w3 = _w_row_dense4(x[i], h4, hsum, gamma, w0, w1, w2, w3)
                w[i, 0], w[i, 1], w[i, 2], w[i, 3] = w0, w1, w2, w3
            ls = _h_row_dense4(x[i], h4, w0, w1, w2, w3, part[b], ls, with_loss)
        lossp[b] = ls
    return _sum_partials(part), _total(lossp)


@_nb.njit(parallel=True, cache=True, fastmath=_DENSE_FM)
def _w_update_dense4(x, w, h4, hsum, gamma, bounds):  # pragma: no cover - compiled
    """The W update of :func:`_sweep_dense4` alone (the W-only updates of an endmember start and of the refit after
    the pure-pixel rotation), the same bits as there."""
    for b in _nb.prange(len(bounds) - 1):
        for i in range(bounds[b], bounds[b + 1]):
            w[i, 0], w[i, 1], w[i, 2], w[i, 3] = _w_row_dense4(x[i], h4, hsum, gamma, w[i, 0], w[i, 1], w[i, 2],
                                                               w[i, 3])


# Dense rows of more than four components: the row's model, ratio and sums go through a row buffer of its channels,
# one contiguous loop a component, so each runs in SIMD lanes as the four-component kernels do. The generic kernels
# they replace (one serial chain of k products a channel) took 12 ms an iteration on the real Bruker map (900 x 2048,
# k = 9) against 1.9 ms at k = 4; now 4.5 ms (9216 x 1024 at k = 9: 55 -> 20 ms).
@_nb.njit(inline="always", fastmath=_DENSE_FM)
def _model_rowk(wi, hk, wh):  # pragma: no cover - compiled
    """``wh`` <- EPS + the row's model ``sum_c w[c] h[c, :]``."""
    p = wh.shape[0]
    for j in range(p):
        wh[j] = EPS
    for c in range(hk.shape[0]):
        wc = wi[c]
        hc = hk[c]
        for j in range(p):
            wh[j] += wc * hc[j]


@_nb.njit(inline="always", fastmath=_DENSE_FM)
def _w_row_densek(xi, wi, hk, hsum, gamma, wh):  # pragma: no cover - compiled
    """A dense row's W update in place (``wi``), ``wh`` the row buffer."""
    _model_rowk(wi, hk, wh)
    for j in range(wh.shape[0]):
        wh[j] = xi[j] / wh[j]
    for c in range(hk.shape[0]):
        hc = hk[c]
        a = 0.0
        for j in range(wh.shape[0]):
            a += wh[j] * hc[j]
        wi[c] = _mu(wi[c], a / hsum[c], gamma)


@_nb.njit(inline="always", fastmath=_DENSE_FM)
def _h_row_densek(xi, wi, hk, num, ls, with_loss, wh):  # pragma: no cover - compiled
    """A dense row's share of ``W^T R`` added to ``num`` (k, channels); returns the running loss sum."""
    _model_rowk(wi, hk, wh)
    if with_loss:
        for j in range(wh.shape[0]):
            xv = xi[j]
            r = xv / wh[j]
            if xv > 0:
                ls += xv * np.log(r)
            wh[j] = r
    else:
        for j in range(wh.shape[0]):
            wh[j] = xi[j] / wh[j]
    for c in range(hk.shape[0]):
        wc = wi[c]
        nc = num[c]
        for j in range(wh.shape[0]):
            nc[j] += wh[j] * wc
    return ls


@_nb.njit(parallel=True, cache=True, fastmath=_DENSE_FM)
def _sweep_densek(x, w, hk, hsum, gamma, bounds, update_w, with_loss):  # pragma: no cover - compiled
    """:func:`_sweep_dense4` for any number of components: ``(W^T R)`` as (k, channels) and the loss terms, with
    each row's W update first where ``update_w`` (X read once an iteration)."""
    k, p = hk.shape
    nb = len(bounds) - 1
    part = np.zeros((nb, k, p))
    lossp = np.zeros(nb)
    for b in _nb.prange(nb):
        wh = np.empty(p)
        ls = 0.0
        for i in range(bounds[b], bounds[b + 1]):
            if update_w:
                _w_row_densek(x[i], w[i], hk, hsum, gamma, wh)
            ls = _h_row_densek(x[i], w[i], hk, part[b], ls, with_loss, wh)
        lossp[b] = ls
    return _sum_partials(part), _total(lossp)


@_nb.njit(parallel=True, cache=True, fastmath=_DENSE_FM)
def _w_update_densek(x, w, hk, hsum, gamma, bounds):  # pragma: no cover - compiled
    """The W update of :func:`_sweep_densek` alone, the same bits as there."""
    p = hk.shape[1]
    for b in _nb.prange(len(bounds) - 1):
        wh = np.empty(p)
        for i in range(bounds[b], bounds[b + 1]):
            _w_row_densek(x[i], w[i], hk, hsum, gamma, wh)
