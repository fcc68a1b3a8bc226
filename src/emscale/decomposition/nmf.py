"""Non-negative matrix factorisation X ~= W H, written as passes (one pass over the data per iteration).

``loss="kl"``
    Kullback-Leibler (Poisson likelihood) multiplicative updates (Lee & Seung). Each pass, for each block of
    pixels, updates that block's rows of ``W`` (they depend on ``H`` and the block only) and accumulates the
    numerator ``W_b^T (X_b / W_b H)`` and denominator ``sum W_b`` of the ``H`` update, which is applied after
    the pass. The loss is evaluated on the fly (with the factors entering the pass).
``loss="frobenius"``
    HALS (hierarchical alternating least squares, Cichocki & Phan): block rows of ``W`` by column-wise exact
    updates against ``X_b H^T`` and ``H H^T``; ``H`` from the accumulated ``W^T X`` and ``W^T W``.

``W`` (pixels x k) and ``H`` (k x channels) are kept in memory. Initialisation: NNDSVDa (Boutsidis &
Gallopoulos) from a truncated SVD computed by passes, zeros filled with the data mean; or given endmember
spectra (``decompose(init="vca")``) with loadings from W-only updates. ``decompose``'s default, ``init="auto"``,
takes the endmembers when the PCA subspace shows pure pixels (:func:`start_choice`): on dense high-count data
NNDSVDa's start is hundreds of iterations away from the factorisation that the rotation below returns.

The KL steps are over-relaxed, ``W <- W ((R H^T) / (1 H^T))^gamma`` with ``gamma =`` :data:`GAMMA` (exponents in
(0, 2) keep the fixed points locally stable: Badeau, Bertin & Vincent 2010), guarded by the loss: the first check
whose loss rose returns to the last good factors and continues with Lee & Seung's ``gamma = 1``. In memory, after
each loss check the factors also jump along the last block's movement where that lowers the loss
(:mod:`.extrapolation`, option ``extrapolate``): updates that crawl, a factor near one each, reach the same stop in
a fraction of the updates (the Velox EELS maps: a quarter); not along the drift of the solver's own end.

Two routes for KL (the trade-off):

* **in memory** (default whenever the bound below fits in :data:`IN_MEMORY_BYTES`): one pass builds ``X`` as CSR
  (float32 values + int32 column indices: 8 bytes per non-zero; at most one non-zero per count for integer
  data) or, above :data:`DENSE_FRACTION` non-zeros, dense float32 (4 bytes per entry). The updates then touch
  only the non-zeros (:mod:`._klmu`: numba when installed, numpy/scipy otherwise): O(nnz k) per iteration
  instead of O(n p k) plus a read and float64 conversion of every block. For 200 counts/pixel over 2048
  channels that is > 10x less work per iteration and no I/O.
* **passes** (``in_memory=False``): one pass over the data per iteration; slow on big data (every block is read
  and converted each iteration), same maths.
* **subset + loadings pass** (KL data whose CSR would not fit in :data:`IN_MEMORY_BYTES`, or
  ``decompose(fit_pixels=N)``): the spectra are fitted in memory on a seeded random subset of pixels whose CSR
  fits :data:`SUBSET_BYTES` (:func:`pixel_subset`), then one pass computes every pixel's loadings with the spectra
  fixed (:func:`loadings_pass`). Memory: the subset's CSR plus a few partitions, whatever the data size; reads:
  three. The trade-off: the spectra carry the noise of the subset only (a million pixels of an EDS map hold
  ~10^8 counts, far more than the spectra need), the loadings are exact for those spectra.

The factorisation is not unique when spectra share a component (an EDS bremsstrahlung, a line present in two
phases): ``H1 - a H2`` stays non-negative for small ``a``, and on noisy data the KL optimum drifts (slowly,
hundreds of iterations) towards *mixed* spectra with zeros in ``H``, whose loss is lower than that of the true
pure-phase spectra (noise fitting). Starting from pure-pixel endmembers keeps the factorisation nearer the
pure-pixel solution but does not pin it down: a tighter ``tol`` moves it further away. Given groups of pixels
believed pure (``pure_pixels``), the converged factorisation is therefore rotated to the member of that family
whose loadings are pure there (:mod:`.purity`) and the loadings are refitted with the spectra fixed
(:data:`W_ONLY_UPDATES` updates): the reported loss is that of the returned factors. The rotation is applied only
when the data support it (:func:`.purity.rotation_evidence`: every pixel inside the simplex of the groups, up to
noise). On EDS mixtures without pure pixels the other end of the family is tried, whose spectra are pure at each
phase's own lines (:func:`.purity.pure_channel_rotation`, with its own evidence); where both pass, the shape of
the pure pixels' regions decides (:func:`.purity.settle_ends`); failing both, the solver's own factorisation is
returned. When the updates start from the
endmembers with that rotation in view, they stop once the rotated spectra settle (:func:`_kl_in_memory`,
``info["stopped_by"]``), not only by the loss rule, whose tail is that drift. Last, on the in-memory KL route, a
component present in few pixels whose noise loadings elsewhere outweigh them is refitted on its own pixels
(:mod:`.support`, ``info["loading_support"]``).

The method ``"nmf"`` of ``decompose``: :class:`NMF` (its start from the PCA, the subset route, the result).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import check_choice
from ..engine import Pass, runs_here
from ._jit import use_numba as use_numba_for
from ._jit import use_numba_dense_kl
from ._linalg import tall_qr
from ._matrix import DataMatrix
from ._method import Context, Method, register
from .extrapolation import Extrapolation
from .purity import (
    ChannelSettledStop,
    SettledStop,
    channel_end,
    frobenius_channel_end_misfit,
    pixel_end_misfit,
    pure_channel_rotation,
    pure_pixel_rotation,
    rotation_evidence,
)
from .regions import PixelLayout
from .support import described, refine_support
from .vca import evidence_noise, groups_model, vertex_scores

EPS = 1e-12
CHECK_EVERY = 10  # iterations between evaluations of the KL loss (in-memory route)


def nndsvda(u: np.ndarray, s: np.ndarray, vt: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVD with zeros replaced by ``fill`` (NNDSVDa). u (n, k), s (k,), vt (k, p)."""
    k = len(s)
    w = np.zeros((u.shape[0], k))
    h = np.zeros((k, vt.shape[1]))
    w[:, 0] = np.sqrt(s[0]) * np.abs(u[:, 0])
    h[0] = np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, k):
        x, y = u[:, j], vt[j]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        xpn, ypn, xnn, ynn = (np.linalg.norm(a) for a in (xp, yp, xn, yn))
        mp, mn = xpn * ypn, xnn * ynn
        if mp > mn:
            uu, vv, sig = xp / max(xpn, EPS), yp / max(ypn, EPS), mp
        else:
            uu, vv, sig = xn / max(xnn, EPS), yn / max(ynn, EPS), mn
        lam = np.sqrt(s[j] * sig)
        w[:, j] = lam * uu
        h[j] = lam * vv
    w[w < EPS] = fill
    h[h < EPS] = fill
    return w, h


def nndsvda_from_pca(scores: np.ndarray, factors: np.ndarray, row_root: np.ndarray, col_root: np.ndarray,
                     fill: float) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVDa from a PCA already computed (no pass over the data): with ``Xw = Dr X Dc ~ scores factors^T`` and
    ``row_root = 1 / Dr``, ``col_root = 1 / Dc`` (ones when unweighted), the rank-k model of ``X`` itself is
    ``(row_root * scores) (col_root * factors)^T``, whose SVD two thin QRs give. For Poisson-weighted PCA this
    is the likelihood-better rank-k model of the counts; measured on the 256 x 256 x 2048 benchmark cube it
    starts KL-NMF on the same loss curve as the unweighted SVD (0.01 % lower at every check) without the
    three reads of a second randomized SVD."""
    a = row_root[:, None] * scores
    b = col_root[:, None] * factors
    qa, qb = tall_qr(a), tall_qr(b)
    u, s, vt = np.linalg.svd((qa.T @ a) @ (qb.T @ b).T)
    return nndsvda(qa @ u, s, (qb @ vt.T).T, fill)


def init_nndsvda(dm: DataMatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVDa from the top-k SVD of the unweighted data: randomized (O(n p k)) unless k is a sizeable fraction
    of the matrix, where the exact Gram path (O(n p^2)) is the one that is accurate."""
    from .pca import gram_pca, randomized_pca

    if 4 * k < min(dm.n_pixels, dm.n_channels) or dm.n_channels > 4096:
        r = randomized_pca(dm, k)
    else:
        r = gram_pca(dm, k)
    s = np.sqrt(np.clip(r.eigenvalues[:k], EPS, None))
    u = r.scores / s
    fill = float(dm.sums.col_sums.sum()) / (dm.n_pixels * dm.n_channels)
    return nndsvda(u, s, r.factors.T, fill)


def _kl_pass(dm: DataMatrix, w: np.ndarray, h: np.ndarray, gamma: float = 1.0):
    from scipy.special import xlogy  # here: scipy.special is not needed by the in-memory route

    from ._klmu import mu_step

    hsum = h.sum(axis=1)  # (k,) = H 1

    def m(block, rows):
        x, k0, k1 = dm.block(block, rows)
        wb = w[k0:k1]
        wh = wb @ h + EPS
        loss = float(np.sum(xlogy(x, x / wh) - x + wh))
        wb = mu_step(wb, ((x / wh) @ h.T) / hsum[None, :], gamma)
        wh = wb @ h + EPS
        num = wb.T @ (x / wh)
        return ([wb], num, wb.sum(axis=0), loss)

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])

    blocks, num, den, loss = dm.run(Pass(m, merge, name="nmf-kl"))
    w_new = np.concatenate(blocks, axis=0) if blocks else w
    h_new = mu_step(h, num / np.maximum(den, EPS)[:, None], gamma)
    return w_new, h_new, loss


def _hals_pass(dm: DataMatrix, w: np.ndarray, h: np.ndarray):
    hht = h @ h.T
    k = h.shape[0]

    def m(block, rows):
        x, k0, k1 = dm.block(block, rows)
        wb = w[k0:k1].copy()
        xht = x @ h.T
        loss = float(np.einsum("ij,ij->", x, x) - 2 * np.sum(xht * wb) + np.sum((wb.T @ wb) * hht))
        for c in range(k):
            wb[:, c] = np.maximum(EPS, wb[:, c] + (xht[:, c] - wb @ hht[:, c]) / max(hht[c, c], EPS))
        return ([wb], wb.T @ x, wb.T @ wb, loss)

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])

    blocks, wtx, wtw, loss = dm.run(Pass(m, merge, name="nmf-hals"))
    w_new = np.concatenate(blocks, axis=0) if blocks else w
    h_new = h.copy()
    for c in range(k):
        h_new[c] = np.maximum(EPS, h_new[c] + (wtx[c] - wtw[c] @ h_new) / max(wtw[c, c], EPS))
    return w_new, h_new, max(loss, 0.0)


GAMMA = 1.5  # the default exponent of the KL multiplicative updates (_klmu.mu_step), guarded by the loss
H_FLOOR = 1e-3  # endmember-spectra start: entries floored at this fraction of the spectrum's mean
W_ONLY_UPDATES = 20  # endmember-spectra start: W-only updates before the joint ones (in-memory KL route)
HALS_PROBE = 30  # iterations of the Frobenius fit that probes for a better basin (NMF._other_basin) ...
PROBE_UPDATES = 25  # ... and the KL updates that polish it, to compare its likelihood; not where fewer than
# PROBE_MIN_FILL of the entries are non-zero: the HALS passes are dense (a 64 x 64 x 2048 cube at 10 counts/pixel,
# 0.5 % non-zero: 0.9 -> 2.1 s), and the poorer minima were met at 29 % (four-phase gradients, 1000 counts/pixel)
PROBE_MIN_FILL = 0.1
# ... nor where the fit took fewer updates than this: the probe costs about as much as 60-100 of them (a sparse EDS
# cube of 96 x 96 x 1024 at 200 counts/pixel, 100 updates: 1.56 -> 2.74 s), and a fit that stalls in a poorer
# minimum crawls there for hundreds (the four-phase gradients: 900)
PROBE_MIN_ITER = 300
IN_MEMORY_BYTES = 8 * 2**30  # the KL route holds X in memory (CSR or dense float32) up to this size
DENSE_FRACTION = 0.4  # above this fraction of non-zeros X is held dense (CSR would be bigger and slower)
SUBSET_BYTES = 1 << 30  # out of core: the spectra are fitted on a pixel subset whose in-memory matrix fits this


def check_exponent(value, name: str) -> None:
    """ValueError naming ``name`` unless ``value`` is in (0, 2), the multiplicative updates' stable range."""
    if not 0.0 < float(value) < 2.0:
        raise ValueError(f"{name} must be in (0, 2) (the multiplicative updates' stable range), not {value!r}")


def expected_nonzero_fraction(dm: DataMatrix) -> float:
    """The fraction of non-zero entries that Poisson counts with each channel's mean would have: an upper bound
    (pixels differ)."""
    n = max(dm.n_pixels, 1)
    return float(np.mean(1.0 - np.exp(-np.asarray(dm.sums.col_sums, dtype=float) / n)))


def build_kl_matrix(dm: DataMatrix, use_numba: bool | None = None):
    """One pass over the partitions: the kept (unweighted) data as CSR (float32 values), or dense float32 when
    more than :data:`DENSE_FRACTION` of the entries are non-zero. Partials concatenate in partition order.
    ``use_numba``: as :func:`nmf`'s; None decides by size, the dense route by :func:`._jit.use_numba_dense_kl`
    (numpy's passes are as fast below ~6 x 10^5 values, counting numba's load), the CSR route by
    :func:`._jit.use_numba`."""
    from ._klmu import KLMatrix, nonzeros

    n, p = dm.n_pixels, dm.n_channels
    # each route asks only when it is taken: asking loads numba (to see that it works)
    requested = use_numba
    if np.dtype(dm.data.dtype).kind in "biu" and dm.sums is not None:
        # expected fraction of non-zeros of Poisson counts with each channel's mean: an upper bound (pixels
        # differ), so only a clearly dense matrix skips the CSR route (whose own test then decides)
        if expected_nonzero_fraction(dm) > 0.9:
            # Poisson counts this high are mostly non-zero: dense float32 straight away (a CSR first would peak at
            # several times the dense size in indices)
            if runs_here(dm.executor):
                # filled in place: gathering the partials, then concatenating them, held the matrix twice
                dense = np.empty((n, p), dtype=np.float32)

                def fill_rows(block, rows):
                    x, k0, k1 = dm.raw_block(block, rows)
                    dense[k0:k1] = x
                    return None

                dm.run(Pass(fill_rows, lambda a, b: None, name="nmf-build-dense"))
            else:  # the tasks run elsewhere: their rows come back as partials
                def dense_rows(block, rows):
                    return [np.asarray(dm.raw_block(block, rows)[0], dtype=np.float32)]

                parts = dm.run(Pass(dense_rows, lambda a, b: a + b, name="nmf-build-dense"))
                dense = np.concatenate(parts, axis=0) if parts else np.zeros((0, p), np.float32)
                del parts
            return KLMatrix(n, p, dense=dense, use_numba=use_numba_dense_kl(float(n) * p, requested))

    def m(block, rows):
        counts, cols, vals = nonzeros(dm.raw_block(block, rows)[0])
        return ([counts], [cols], [vals])

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2])

    counts, cols, vals = dm.run(Pass(m, merge, name="nmf-build-csr"))
    if sum(len(v) for v in vals) > DENSE_FRACTION * n * p:
        # dense after all: filled partial by partial, each freed once placed (concatenating the parts first, then
        # indexing with an int64 row per entry, peaked at 6x the dense matrix: 3.3 GB for a 0.27 GB uint16 cube)
        dense = np.zeros((n, p), dtype=np.float32)
        r0 = 0
        while counts:
            c, ci, vi = counts.pop(0), cols.pop(0), vals.pop(0)
            dense[np.repeat(np.arange(r0, r0 + len(c)), c), ci] = vi
            r0 += len(c)
        return KLMatrix(n, p, dense=dense, use_numba=use_numba_dense_kl(float(n) * p, requested))
    counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    data = np.concatenate(vals) if vals else np.zeros(0, np.float32)
    return KLMatrix(n, p, csr=(indptr, indices, data), use_numba=use_numba_for(float(n) * p, requested))


def kl_fits_in_memory(dm: DataMatrix) -> bool:
    """Upper bound of the in-memory size: 8 bytes per non-zero (at most one per count for integer data)."""
    return _in_memory_bound(dm) <= IN_MEMORY_BYTES


def _in_memory_bound(dm: DataMatrix) -> float:
    bound = 4.0 * dm.n_pixels * dm.n_channels
    if np.dtype(dm.data.dtype).kind in "biu" and dm.sums is not None:
        bound = min(bound, 8 * float(np.sum(dm.sums.col_sums)))
    return bound


def subset_size(dm: DataMatrix, budget: float = SUBSET_BYTES) -> int:
    """How many pixels' in-memory matrix fits ``budget`` (by the bound of :func:`kl_fits_in_memory`)."""
    per_pixel = max(_in_memory_bound(dm) / max(dm.n_pixels, 1), 1.0)
    return int(min(dm.n_pixels, max(budget // per_pixel, 1)))


def pixel_subset(dm: DataMatrix, n_fit: int, seed: int, groups=None) -> tuple[DataMatrix, np.ndarray]:
    """A DataMatrix over a seeded random subset of ``n_fit`` of the kept pixels (in storage order), and the
    kept-pixel indices (of ``dm``) it holds. Its passes still read every partition but keep only those rows.

    ``groups`` (pure-pixel groups, kept-pixel indices): up to ``n_fit / (2 k)`` pixels of each are taken first
    (a seeded sample when a group is bigger): pure pixels are what pins the spectra down, and a uniform sample
    would keep only a fraction of a small pure region."""
    rng = np.random.default_rng(seed)
    must = np.zeros(0, dtype=np.int64)
    if groups:
        cap = max(1, n_fit // (2 * len(groups)))
        parts = [g if len(g) <= cap else rng.choice(g, size=cap, replace=False) for g in groups]
        must = np.unique(np.concatenate(parts).astype(np.int64))[:n_fit]
    rest = np.setdiff1d(np.arange(dm.n_pixels), must, assume_unique=True)
    extra = rng.choice(rest, size=max(n_fit - len(must), 0), replace=False)
    chosen = np.sort(np.concatenate([must, extra]))
    flat = np.flatnonzero(dm.keep_pixels) if dm.keep_pixels is not None else np.arange(dm.n_pixels_total)
    keep = np.zeros(dm.n_pixels_total, dtype=bool)
    keep[flat[chosen]] = True
    sub = DataMatrix(dm.data, dm.nav_ndim, keep, dm.keep_channels, executor=dm.executor, progress=dm.progress)
    return sub, chosen


def loadings_pass(
    dm: DataMatrix, h: np.ndarray, loss: str = "kl", n_updates: int = W_ONLY_UPDATES, w_start=None
) -> tuple[np.ndarray, float]:
    """One pass: every pixel's loadings for fixed spectra H (k, channels), and the loss of the result.

    Per cache-sized chunk of a block: a start (the rows of ``w_start``, or least squares ``max(X H^+, floor)``),
    then ``n_updates`` loadings-only updates -- KL multiplicative updates on the chunk's non-zeros
    (:class:`._klmu.KLMatrix`, numba when installed), or HALS sweeps for ``loss="frobenius"``. The rows are
    independent given H. Chunks keep the temporaries (indices of the non-zeros) small whatever the partition
    size. Serves the out-of-core loadings (subset route) and the refit after the pure-pixel rotation."""
    from ._klmu import KLMatrix, nonzeros

    h = np.maximum(np.asarray(h, dtype=np.float64), EPS)
    pinv = np.linalg.pinv(h).astype(np.float32)  # (p, k)
    k = h.shape[0]
    hht = h @ h.T

    def chunk(x, k0, k1):
        x = np.asarray(x)
        if w_start is not None:
            w = np.array(w_start[k0:k1], dtype=np.float64)
        else:
            w = (x.astype(np.float32) @ pinv).astype(np.float64)  # least squares, one sgemm
            w = np.maximum(w, 1e-3 * np.maximum(x.sum(axis=1, dtype=np.float64), 1.0)[:, None] / k)
        if loss == "kl":
            counts, cols, vals = nonzeros(x)
            indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            xm = KLMatrix(x.shape[0], x.shape[1], csr=(indptr, cols, vals))
            for _ in range(n_updates):
                xm.w_update(w, h)
            return w, xm.loss(w, h)
        xf = x.astype(np.float64)
        xht = xf @ h.T
        for _ in range(n_updates):
            for c in range(k):
                w[:, c] = np.maximum(EPS, w[:, c] + (xht[:, c] - w @ hht[:, c]) / max(hht[c, c], EPS))
        r = xf - w @ h
        return w, float(np.einsum("ij,ij->", r, r))

    def m(block, rows):
        parts = [chunk(x, k0, k1) for x, k0, k1, _, _ in dm._chunks(block, rows, itemsize=16)]
        return ([p[0] for p in parts], float(sum(p[1] for p in parts)))

    blocks, val = dm.run(Pass(m, lambda a, b: (a[0] + b[0], a[1] + b[1]), name="nmf-loadings"))
    return (np.concatenate(blocks, axis=0) if blocks else np.zeros((0, k))), float(val)


def _kl_in_memory(xm, w, h, max_iter, tol, gamma: float = 1.0, check_every: int = CHECK_EVERY,
                  settle=None, extrapolate: bool = True):
    """KL multiplicative updates on the in-memory matrix. Returns W, H, loss history, converged, iterations, the
    iteration at which over-relaxed steps were given up (0: never), what stopped the updates and the
    :class:`.extrapolation.Extrapolation` (its jumps' counts).

    The loss (its logarithms cost as much as an update) is evaluated every ``check_every`` iterations; the
    updates stop when it decreased by less than ``tol`` (relative) over those iterations -- stricter than a
    per-iteration test with the same ``tol`` and than scikit-learn's rule (relative to the initial loss).
    ``gamma > 1`` over-relaxes the steps (:func:`._klmu.mu_step`); the descent is guarded at every check: a loss
    above the block's start returns to the factors there and continues with plain steps.
    ``extrapolate``: after each check from the second, a jump along the block's movement, kept where it lowers the
    loss (:mod:`.extrapolation`); a block's progress, for the loss rule and ``settle``, is then counted from the
    jump's end. While a jump may still be tried, the checks read the loss of the factors themselves (one more sweep a
    check): the fused update's loss is that of the new W with the old H, above the factors' own, and a jump judged
    against it could raise the loss (a review found 6 such in ~400 jumps, up to 7e-6 relative).

    ``settle``: a :class:`.purity.SettledStop`, when the result will be rotated to the pure-pixel groups (the
    endmember start): the updates also stop at the first check where it says the rotated spectra settled. Without
    its loss condition the updates on the Velox EELS map of ``shared/data/real`` stopped in an early stall, 2 % above
    the loss rule's loss, spectra 1 degree away. Measured (issue 17, 96 x 96 x 1024
    EELS-like cubes with pure pixels, k = 3, 5000 and 20000 counts/pixel): the rotated spectra's median angle to
    the truth is within 0.01 degrees of the loss rule's after ~100 iterations instead of 180-190; k = 4: ~310
    instead of 420. The loss rule's tail moves them less than 0.01 degrees per check there.
    """
    w = np.ascontiguousarray(w, dtype=np.float64)
    h = np.ascontiguousarray(h, dtype=np.float64)
    history = []
    converged = False
    it = given_up = 0
    stopped = "max_iter"
    jumps = Extrapolation(extrapolate)
    jumps.begin(w, h)
    # the pure-pixel end in view (the endmember start): where the updates stop on the family of equally good
    # factorisations is rotated away, or refitted from NNDSVDa where the rotation is refused (NMF.fit), so the jumps
    # may follow the drift along it as well as the fit (:data:`.extrapolation.MIN_PROGRESS`)
    rotated_away = isinstance(settle, SettledStop)
    ref = np.inf  # the loss at the block's start (the last check's, or the jump's end)
    for it in range(1, max_iter + 1):
        check = it % check_every == 0
        if jumps.live:  # a check reads the loss of the factors themselves: a jump must descend from them
            xm.iterate(w, h, with_loss=False, gamma=gamma)
            cur = xm.loss(w, h) if check else None
        else:  # the plain updates (as before the option: a recorded step replays them bit for bit)
            cur = xm.iterate(w, h, with_loss=check, gamma=gamma)  # loss of (W new, H old)
        if cur is None:
            continue
        if gamma != 1.0 and cur > ref:
            w[:], h[:] = jumps.start
            gamma, given_up = 1.0, it
            continue
        history.append(cur)
        if np.isfinite(ref) and abs(ref - cur) <= tol * max(abs(cur), EPS):
            converged, stopped = True, "loss"
            break
        if settle is not None and settle(w, h, ref, cur):
            converged, stopped = True, "rotated spectra settled"
            break
        progress, ref = ref - cur, cur
        if len(history) > 1:  # the first block is the start's transient, no direction to follow
            jumped = jumps.jump(w, h, cur, xm.loss, np.inf if rotated_away else progress)
            ref = cur if jumped is None else jumped
        jumps.begin(w, h)
    history.append(xm.loss(w, h))
    return w, h, history, converged, it, given_up, stopped, jumps


def _last_change(checks, span: int) -> tuple[float, int] | None:
    """(relative change of the loss between the last two ``checks``, iterations between them), or None: the
    solver's own last progress, which the entries appended to the history after it (the final loss, a rotation's
    refit) do not say."""
    if len(checks) < 2 or not np.isfinite(checks[-2:]).all() or checks[-1] == 0:
        return None
    return float(abs(checks[-2] - checks[-1]) / abs(checks[-1])), span


@dataclass
class _Run:
    """Where the solver's updates stand: what :func:`nmf` reports of them (``history``: the losses, then the entries
    appended after the solver's own, a rotation's refit; ``checks``: the solver's own alone), and what a fit that goes
    on after a stop extends (:meth:`go_on`)."""

    history: list
    converged: bool
    it: int
    given_up: int
    stopped: str
    jumps: Extrapolation
    checks: list
    last_change: tuple[float, int] | None

    @classmethod
    def in_memory(cls, xm, w, h, max_iter, tol, gamma, settle=None, extrapolate=True):
        """(W, H, run) of :func:`_kl_in_memory` (its arguments)."""
        w, h, history, converged, it, given_up, stopped, jumps = _kl_in_memory(
            xm, w, h, max_iter, tol, gamma, settle=settle, extrapolate=extrapolate)
        checks = history[:-1]  # the loss every CHECK_EVERY iterations; the last entry is the final loss
        return w, h, cls(history, converged, it, given_up, stopped, jumps, checks, _last_change(checks, CHECK_EVERY))

    @classmethod
    def by_passes(cls, dm: DataMatrix, w, h, loss: str, max_iter: int, tol: float, gamma: float):
        """(W, H, run) of :func:`_by_passes` (its arguments): one loss per pass, no jumps."""
        w, h, history, converged, it, given_up = _by_passes(dm, w, h, loss, max_iter, tol, gamma)
        return w, h, cls(history, converged, it, given_up, "loss" if converged else "max_iter", Extrapolation(False),
                         list(history), _last_change(history, 1))

    def go_on(self, xm, w, h, max_iter, tol, gamma, extrapolate):
        """The in-memory updates from (W, H) to the loss rule, within what is left of ``max_iter``, added to this
        run. Returns (W, H)."""
        w, h, more = _Run.in_memory(xm, w, h, max_iter - self.it, tol, gamma, extrapolate=extrapolate)
        self.jumps = self.jumps.merged(more.jumps)
        self.converged, self.stopped = more.converged, more.stopped
        self.history, self.it = self.history + more.history, self.it + more.it
        self.given_up = self.given_up or more.given_up
        self.checks = self.checks + more.checks
        self.last_change = _last_change(self.checks, CHECK_EVERY)
        return w, h

    def go_on_if_settled(self, xm, w, h, max_iter, tol, gamma, extrapolate):
        """:meth:`go_on` where the updates stopped because the rotated spectra settled (the stop assumed a rotation
        the fit then did not take) with iterations left of ``max_iter``: (W, H); else None (the run as it was)."""
        if self.stopped != "rotated spectra settled" or self.it >= max_iter:
            return None
        return self.go_on(xm, w, h, max_iter, tol, gamma, extrapolate)


def _by_passes(dm: DataMatrix, w, h, loss: str, max_iter: int, tol: float, gamma: float):
    """The pass-based iterations (one pass over the data each), with the descent guard of :func:`_kl_in_memory`
    for over-relaxed KL steps (the loss a pass reports is that of the factors entering it)."""
    g = gamma if loss == "kl" else 1.0
    prev = np.inf
    history = []
    converged = False
    it = given_up = 0
    back = (w, h)  # the factors entering the previous pass
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
        entering = (w, h)
        w, h, cur = _kl_pass(dm, w, h, g) if loss == "kl" else _hals_pass(dm, w, h)
        if g != 1.0 and cur > prev:  # the previous step raised the loss: from the factors before it, plain steps
            (w, h), g, given_up, prev = back, 1.0, it, np.inf
            history.pop()
            continue
        history.append(cur)
        if np.isfinite(prev) and abs(prev - cur) <= tol * max(abs(cur), EPS):
            converged = True
            break
        prev, back = cur, entering
    return w, h, history, converged, it, given_up


def nmf(
    dm: DataMatrix,
    k: int,
    loss: str = "kl",
    max_iter: int = 1000,
    tol: float = 1e-6,
    init: tuple[np.ndarray, np.ndarray] | np.ndarray | None = None,
    in_memory: bool | None = None,
    use_numba: bool | None = None,
    pure_pixels=None,
    gamma: float = 1.0,
    pure_channels: bool = False,
    layout=None,
    extrapolate: bool = True,
    precipitates: bool = False,
    noise: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Factorise the (unweighted, uncentred) data matrix of ``dm``: returns W (pixels, k), H (k, channels), info.

    Stops when the relative decrease of the loss falls below ``tol`` per iteration (KL in memory: over 10
    iterations, stricter than scikit-learn's rule; iterations are cheap), or at ``max_iter``.
    ``init``: None (NNDSVDa), ``(W, H)``, or endmember spectra ``H`` (k, channels) whose loadings come from
    W-only updates first. ``in_memory``: KL only; ``None`` holds X in memory when it fits in
    :data:`IN_MEMORY_BYTES`, ``False`` forces the pass-based route (one pass over the data per iteration).
    ``use_numba``: None uses numba when it is installed and the matrix has at least ``_jit.NUMBA_MIN_VALUES``
    entries, ``_jit.DENSE_KL_NUMBA_MIN_VALUES`` when held dense (smaller: numpy, numba not even imported); False the
    numpy/scipy sweeps.
    ``gamma``: the exponent of the KL multiplicative updates (:func:`._klmu.mu_step`; 1: Lee & Seung's), guarded:
    the first check whose loss rose returns to the last good factors and continues with ``gamma = 1``
    (``info["gamma_given_up_at"]``).
    ``pure_pixels``: a list of k arrays of kept-pixel indices, each a group of pixels believed pure in one
    component; the result is rotated to the factorisation whose loadings are pure there (:mod:`.purity`) when
    the evidence holds (:func:`.purity.rotation_evidence`; ``info``: ``pure_pixel_rotation``,
    ``pure_pixel_evidence``, ``pure_pixel_reason``). ``pure_channels``: where that rotation is refused, rotate to
    the factorisation whose spectra are pure at each component's most extreme channels when the evidence holds
    (:func:`.purity.pure_channel_rotation`, for EDS; ``info``: ``pure_channel_rotation``, ``..._evidence``,
    ``..._reason``); where both pass, the end is chosen by :func:`.purity.settle_ends` from the pixels' positions
    ``layout`` (a :class:`.regions.PixelLayout`; None keeps the pure pixels). A rotated member's loss, its loadings
    refitted, over the solver's own is ``info["rotation_loss_ratio"]``; a pure-pixel member above
    :data:`.purity.MAX_NMF_PIXEL_END_RATIO` (KL) or :data:`.purity.MAX_NMF_FROBENIUS_PIXEL_END_RATIO` (Frobenius),
    and worse by more than its (pixels + channels) x k parameters, is refused, the solver's own kept
    (:func:`.purity.pixel_end_misfit`); so is a spectra's end of the Frobenius loss above
    :data:`.purity.MAX_NMF_FROBENIUS_CHANNEL_END_RATIO` (:func:`.purity.frobenius_channel_end_misfit`).
    ``noise``: the evidence's noise model (:func:`.vca.evidence_noise`); None: Poisson for the KL loss, Gaussian at
    the fit's residual for Frobenius.
    ``extrapolate``: KL in memory, jumps along the updates' movement where they lower the loss
    (:mod:`.extrapolation`; ``info["extrapolation"]`` counts them); the pass-based route has none (a jump's loss
    would cost a pass).
    ``precipitates``: a minor phase's insignificant loadings are refitted to zero from
    :data:`.support.MAX_LEAK_WITHOUT_REGION` where none stands out on the map (:func:`.support.refine_support`).
    """
    check_choice("loss", loss, ("kl", "frobenius"))
    check_exponent(gamma, "gamma")
    fixed_h = 0
    if init is None:
        w, h = init_nndsvda(dm, k)
    elif isinstance(init, tuple):
        w, h = init
    else:  # endmember spectra (k, channels): loadings from W-only updates with these spectra
        h = np.maximum(np.asarray(init, dtype=np.float64), 0.0)
        h /= np.maximum(h.sum(axis=1, keepdims=True), EPS)
        h = np.maximum(h, H_FLOOR * h.mean(axis=1, keepdims=True))  # MU cannot revive exact zeros
        w = np.repeat(np.maximum(dm.sums.row_sums, 1.0)[:, None] / k, k, axis=1)
        fixed_h = W_ONLY_UPDATES
    w = np.maximum(np.asarray(w, dtype=np.float64), EPS)
    h = np.maximum(np.asarray(h, dtype=np.float64), EPS)
    route = "passes"
    settle = None
    if loss == "kl" and (in_memory or (in_memory is None and kl_fits_in_memory(dm))):
        # small matrices: the numpy sweeps (numba's import and kernel load cost more than the whole fit)
        xm = build_kl_matrix(dm, use_numba=use_numba)
        w = np.ascontiguousarray(w)
        for _ in range(fixed_h):
            xm.w_update(w, h)
        if fixed_h and pure_pixels is not None:
            settle = SettledStop(pure_pixels, lambda w, h: rotation_evidence(w, h, pure_pixels)[0])
        elif pure_pixels is not None and pure_channels:
            # EDS, NNDSVDa start: the spectra's end, where taken, settles long before the loss rule's drift ends
            settle = ChannelSettledStop(lambda w, h: pure_channel_rotation(w, h)[0])
        w, h, run = _Run.in_memory(xm, w, h, max_iter, tol, gamma, settle=settle, extrapolate=extrapolate)
        route = ("csr" if xm.csr is not None else "dense") + ("-numba" if xm.use_numba else "-numpy")
    else:
        xm = None  # no in-memory matrix; nor does a run by passes stop at settled spectra (go_on_if_settled)
        w, h, run = _Run.by_passes(dm, w, h, loss, max_iter, tol, gamma)
    resolved = False
    evidence, reason = None, "not asked (pure_pixels=False)"
    channel_info: dict = {}
    if pure_pixels is not None:
        if noise is None:
            noise = {"noise": "poisson"} if loss == "kl" else {
                "noise": "gaussian", "sigma2": float(run.history[-1]) / max(dm.n_pixels * dm.n_channels, 1)}
        def ends(w, h):
            apply, evidence, reason = rotation_evidence(w, h, pure_pixels, **noise)
            rot = pure_pixel_rotation(w, h, pure_pixels, floor=EPS)
            pixel_end = None if rot is None or not apply else rot[:2]
            refused = None if rot is None or apply else rot[:2]
            return (evidence, reason, pixel_end, *channel_end(w, h, pixel_end, pure_channels, layout, **noise,
                                                              refused=refused, refused_reason=reason,
                                                              refused_evidence=evidence))

        evidence, reason, pixel_end, channel_info, by_channels = ends(w, h)
        # whether the stop's assumed end was not taken: the pixel end for SettledStop, the spectra's end for
        # ChannelSettledStop
        own = not channel_info.get("pure_channel_rotation") and (
            isinstance(settle, ChannelSettledStop) or not (pixel_end is not None and by_channels is None))
        # the stop assumed a rotation; where the solver's own is kept, it goes on to its loss rule (a rotation
        # taken from the early stop is as good: the spectra's end, 0.00-0.01 degrees apart)
        went_on = run.go_on_if_settled(xm, w, h, max_iter, tol, gamma, extrapolate) if own else None
        if went_on is not None:
            w, h = went_on
            evidence, reason, pixel_end, channel_info, by_channels = ends(w, h)
        # the spectra's end where the pixel end was refused or outweighed
        resolved = pixel_end is not None and by_channels is None
        rot = pixel_end if resolved else by_channels
        if rot is not None:
            solver_own = w, h, float(run.history[-1])
            w, h = np.maximum(rot[0], EPS), np.maximum(rot[1], EPS)
            if route != "passes":
                for _ in range(W_ONLY_UPDATES):
                    xm.w_update(w, h)
                run.history.append(xm.loss(w, h))
            else:
                w, final = loadings_pass(dm, h, loss=loss, w_start=w)
                run.history.append(final)
            channel_info["rotation_loss_ratio"] = float(run.history[-1]) / max(abs(solver_own[2]), EPS)
            # a member that fits far worse than the solver's own is none of the family (decided and said by
            # pixel_end_misfit; the Frobenius loss's spectra's end, which no Poisson evidence judged, by
            # frobenius_channel_end_misfit)
            size = (dm.n_pixels, dm.n_channels, k)
            refit = float(run.history[-1])
            if resolved:
                refused = pixel_end_misfit(reason, channel_info, loss, refit, solver_own[2], size)
            elif loss == "frobenius":
                refused = frobenius_channel_end_misfit(reason, channel_info, refit, solver_own[2], size)
            else:
                refused = None
            if refused is not None:
                w, h, resolved = solver_own[0], solver_own[1], False
                run.history.pop()
                reason, channel_info = refused
                # the stop assumed the end now refused
                w, h = run.go_on_if_settled(xm, w, h, max_iter, tol, gamma, extrapolate) or (w, h)
    support = None
    if route != "passes" and loss == "kl":  # a minor phase's noise loadings (:mod:`.support`)
        w, h, support = refine_support(xm, w, h, W_ONLY_UPDATES, layout, precipitates)
        if support["refitted"]:
            run.history.append(xm.loss(w, h))
    # Scale: each spectrum sums to 1, loadings carry the counts; order by total signal.
    scale = np.maximum(h.sum(axis=1), EPS)
    h = h / scale[:, None]
    w = w * scale[None, :]
    order = np.argsort(-w.sum(axis=0), kind="stable")
    info = {
        "loss": float(run.history[-1]),
        "n_iter": run.it,
        "converged": run.converged,
        "stopped_by": run.stopped,
        "loss_name": loss,
        "loss_history": np.asarray(run.history),
        "route": route,
        "gamma": gamma if loss == "kl" else None,  # HALS has no exponent
        "gamma_given_up_at": run.given_up,
        "extrapolation": run.jumps.info() | ({} if route != "passes" else {"why": "none on the pass-based route"}),
        "pure_pixel_rotation": resolved,
        "pure_pixel_reason": reason,
    }
    info["last_change"] = run.last_change
    info["loading_support"], info["loading_support_reason"] = described(support, order) if support is not None else (
        {"refitted": []}, "not tried: " + ("the Frobenius loss" if loss != "kl" else
                                           "the data are not held in memory (one pass an iteration)"))
    if evidence is not None:
        info["pure_pixel_evidence"] = evidence
        info |= channel_info
    return w[:, order], h[order], info


def start_choice(ctx: Context, init: str) -> tuple[bool, str]:
    """Whether to start from the pure-pixel endmember spectra (else NNDSVDa), and why.

    ``init="auto"`` starts from the endmembers on dense counts (more than :data:`DENSE_FRACTION` of the entries
    non-zero, :func:`expected_nonzero_fraction`) when the PCA subspace already shows pure pixels: every pixel inside
    the simplex of the pure-pixel groups, by the test that later decides the rotation
    (:func:`.purity.rotation_evidence`, on the PCA's rank-k model written as barycentric loadings of the groups'
    mean spectra). There the two starts end in the same factorisation after the rotation, and NNDSVDa's is far
    from it on dense high-count data (measured, issue 17: 96 x 96 x 1024 EELS-like cube, 5000 counts/pixel, k = 3:
    the rotated spectra reach 0.4-0.6 degrees from the truth after 25 multiplicative updates from the endmembers,
    after ~1000 from NNDSVDa). Without pure pixels the groups are extreme mixtures, and a start there pulls the
    solver towards them: NNDSVDa. On sparse counts the groups' mean spectra are mostly noise, and the evidence test
    cannot tell (nothing lies significantly outside): from them the spectra ended further from the truth (64 x 64 x
    2048 EDS cubes, 10 counts/pixel: median 36.5 against NNDSVDa's 19.4 degrees; 5 counts/pixel without pure
    pixels: 58.1 against 48.8), and NNDSVDa is not slow there: NNDSVDa. Where the fit's end refuses the pure pixels
    the endmember start presumed, :meth:`NMF.fit` reruns from NNDSVDa (the plain method's factorisation)."""
    if init != "auto":
        return init == "vca", f"init={init!r} asked"
    if ctx.groups is None:
        return False, "no pure-pixel groups (pure_pixels=False): NNDSVDa"
    dm = ctx.dm
    dense = expected_nonzero_fraction(dm)
    if dense <= DENSE_FRACTION:
        return False, (f"sparse counts (~{100 * dense:.0f} % of the entries non-zero, at most "
                       f"{100 * DENSE_FRACTION:.0f} %): NNDSVDa")
    model = groups_model(ctx)
    if model is None:
        return False, "the pure-pixel groups span fewer than k vertices: NNDSVDa"
    apply, ev, reason = rotation_evidence(*model, ctx.groups, **evidence_noise(ctx))
    return apply, f"{'pure-pixel endmembers' if apply else 'NNDSVDa'}: in the PCA subspace, {reason}"


@register
class NMF(Method):
    """NMF of the raw counts (:func:`nmf`; the Poisson weighting serves only the rank), started from the PCA:
    NNDSVDa of its rank-k model of the counts (``init="nndsvda"``, no extra read) or the pure-pixel endmember
    spectra of ``method="vca"`` (``init="vca"``; ``init="auto"``, the default, chooses by :func:`start_choice`).
    Options: ``loss`` (``"kl"``, Poisson; ``"frobenius"``, HALS),
    ``init``, ``pure_pixels`` (rotate to the factorisation whose loadings are pure at the pure-pixel groups,
    when the data show pure pixels there: :func:`.purity.rotation_evidence`; else, on EDS data, to the one whose
    spectra are pure at each phase's own lines when the data show those: :func:`.purity.pure_channel_rotation`;
    where both do, :func:`.purity.settle_ends`),
    ``fit_pixels`` (KL: fit the spectra on a seeded subset of this many pixels, then one loadings pass;
    ``None``: all pixels when they fit in memory, else as many as fit in :data:`SUBSET_BYTES`), ``max_iter``,
    ``tol``, ``mu_exponent`` (KL: the multiplicative updates' exponent, :data:`GAMMA`, guarded), ``extrapolate``
    (KL in memory: jumps along the updates' movement, kept where they lower the loss, :mod:`.extrapolation`;
    ``False``: the plain updates, as before the option), ``precipitates`` (KL in memory: the minor phases are absent
    between their own pixels, so a component's insignificant loadings that show no faint region on the map are noise
    fits, refitted to zero from 0.3 x the counts of its significant ones, :mod:`.support`; the default ``False``
    only above 1 x, since a phase dissolved thinly everywhere at 0.3-1.5 % looks the same at 200 counts/pixel),
    ``basin_probe`` (KL, ``init="auto"``: a fit from NNDSVDa that stalled in a poorer minimum is run again from a
    short HALS fit's, :meth:`_other_basin`; ``False``: as before the option). Spectra sum to one, loadings carry
    the counts, components ordered by total signal."""

    name = "nmf"
    nonnegative = True
    options = {"loss": "kl", "init": "auto", "pure_pixels": True, "fit_pixels": None, "max_iter": 1000,
               "tol": 1e-6, "mu_exponent": GAMMA, "settle_subspace": False, "extrapolate": True, "basin_probe": True,
               "precipitates": False}
    recorded = ("loss", "init", "pure_pixels", "mu_exponent", "settle_subspace", "extrapolate", "precipitates",
                "basin_probe")
    # plain updates before the option; no probe for a poorer minimum before it (2026-12-06), so that a step recorded
    # before replays to its bits
    before_recorded = {"extrapolate": False, "basin_probe": False}

    @property
    def uses_pure_pixels(self) -> bool:
        return self.init == "vca" or self.pure_pixels

    def validate(self) -> None:
        if self.init not in ("auto", "vca", "nndsvda"):
            raise ValueError(f"unknown init {self.init!r}; choose 'auto', 'vca' or 'nndsvda'")
        check_exponent(self.mu_exponent, "mu_exponent")
        check_choice("loss", self.loss, ("kl", "frobenius"))

    def max_components(self, n_pixels: int) -> int | None:
        # KL-NMF fits 2 pixels a component at least (fit below); a given fit_pixels is checked there
        return max(1, n_pixels // 2) if self.loss == "kl" and self.fit_pixels is None else None

    def _other_basin(self, dm, k: int, start, fitted, fit_from, why: str):
        """The KL fit from NNDSVDa can end in a poorer minimum of the likelihood, which the loss rule calls
        converged: a review's four-phase EDS gradients at 1000 counts/pixel, KL 533 601 where the truth's model
        scores 515 050, 15-40 degrees from it (3000 updates stay there); our own such scene 528 k against the truth's
        511.4 k. A Frobenius (HALS) fit from the same start does not stall there (1.5-2.8 degrees on both): a short
        one (:data:`HALS_PROBE` iterations), polished by :data:`PROBE_UPDATES` KL updates, shows where it leads.
        Where that is below the fit's end by more than the factorisation's (pixels + channels) x k parameters (AIC's
        charge for a second factorisation), the fit is run again from it (our scene: 507 k, 1.4-2.7 degrees on 4 of
        4 seeds). Members of one non-negative family differ by far less: on 23 scenes (mixtures, pure and sparse
        cubes) the two ends were within 0-6400 of each other against bounds of 8448-18 432, and nothing was
        switched, for 10 % more time (22.9 s against 20.8 over the 23); there the HALS start's own angles differ
        both ways (an EELS mixture 25.7 -> 8.7 degrees, a sparse EDS cube 16.3 -> 65.0), which the likelihood
        cannot tell apart. Returns (start, w, h, info, why, whether switched)."""
        w, h, info = fitted
        hw, hh, _ = nmf(dm, k, loss="frobenius", max_iter=HALS_PROBE, tol=1e-6, init=start)
        polished = nmf(dm, k, loss="kl", max_iter=PROBE_UPDATES, tol=1e-12, init=(hw, hh),
                       gamma=float(self.mu_exponent), extrapolate=bool(self.extrapolate))
        probe, bound, ended = float(polished[2]["loss"]), float((dm.n_pixels + dm.n_channels) * k), info["loss"]
        if not probe < ended - bound:
            return start, w, h, info, why, False
        start = (polished[0], polished[1])
        w, h, info = fit_from(start)
        why += (f"; a HALS fit from it, polished by {PROBE_UPDATES} KL updates, reached a loss {ended - probe:.4g} "
                f"below this fit's end, more than its {bound:.0f} parameters: the KL updates had stalled in a poorer "
                "minimum, and were run again from there")
        return start, w, h, info, why, True

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        dm, k, groups = ctx.dm, ctx.k, ctx.groups
        n_fit = dm.n_pixels
        if self.loss == "kl":
            n_fit = int(self.fit_pixels) if self.fit_pixels is not None else (
                dm.n_pixels if kl_fits_in_memory(dm) else subset_size(dm))
            if not 2 * k <= n_fit:
                if self.fit_pixels is not None:
                    raise ValueError(f"fit_pixels={n_fit} is too few for {k} components (at least {2 * k})")
                raise ValueError(f"{dm.n_pixels} pixels are too few for {k} NMF components (KL-NMF needs at least "
                                 f"{2 * k} pixels, 2 per component): ask for at most {dm.n_pixels // 2}")
        subset = n_fit < dm.n_pixels
        # The start, from the PCA, while its weights still map it back to counts: pure-pixel endmember spectra
        # (as method="vca"; on a subset they also cost no pass), or NNDSVDa of the PCA's rank-k model
        endmembers, why = start_choice(ctx, self.init)
        fill = float(dm.sums.col_sums.sum()) / max(dm.n_pixels * dm.n_channels, 1)
        weights = dm.root_ag, dm.root_bh  # the PCA's, before configure below replaces them
        # data that are no counts: their noise is no Poisson noise, whatever the loss (the KL loss's evidence took
        # noise-free floats for counts, and the pure pixels passed where 32 % of the pixels lie outside); read
        # before configure below turns the weighting off. Counts: the loss's own (None)
        noise = None if dm.row_scale is not None else evidence_noise(ctx)

        def plain_start():  # also the rerun's, below: built only where it runs
            return nndsvda_from_pca(ctx.scores, ctx.factors, *weights, fill)

        if endmembers or (subset and groups is not None):
            start = (vertex_scores(ctx.scores, groups, dm.root_ag) @ ctx.factors.T) * dm.root_bh[None, :]
        elif ctx.first_fit is not None:
            # the plain start, run to the loss rule already: the same factorisation, only its groups are new (an
            # EELS grain cube at 50 counts/pixel: 900 iterations again, 6.6 s, for the same solver's own)
            start = (ctx.first_fit[1], ctx.first_fit[0].T)
            why += "; went on from the first fit's factorisation (refused with the single pixels' groups)"
        else:
            start = plain_start()
        dm.configure(poisson=False, centre=False)
        fit_dm, fit_groups = dm, (groups if self.pure_pixels else None)
        if subset:
            fit_dm, chosen = pixel_subset(dm, n_fit, ctx.seed, groups=fit_groups)
            fit_dm.statistics(nonzeros=False)
            fit_dm.configure(poisson=False, centre=False)
            if fit_groups is not None:  # the groups' pixels that are in the subset, as subset rows
                fit_groups = [np.searchsorted(chosen, np.intersect1d(g, chosen)) for g in fit_groups]
            if isinstance(start, tuple):
                start = (start[0][chosen], start[1])

        def fit_from(start):
            return nmf(fit_dm, k, loss=self.loss, max_iter=self.max_iter, tol=self.tol, init=start,
                       pure_pixels=fit_groups, in_memory=True if subset else None,
                       gamma=float(self.mu_exponent), pure_channels=ctx.eds,
                       layout=None if subset else PixelLayout.of(dm), extrapolate=bool(self.extrapolate),
                       precipitates=bool(self.precipitates), noise=noise)

        w, h, info = fit_from(start)
        switched = False
        if self.basin_probe and self.init == "auto" and self.loss == "kl" and not endmembers and not subset \
                and ctx.first_fit is None \
                and expected_nonzero_fraction(dm) >= PROBE_MIN_FILL and info["n_iter"] >= PROBE_MIN_ITER:
            start, w, h, info, why, switched = self._other_basin(fit_dm, k, start, (w, h, info), fit_from, why)
        if endmembers and self.init == "auto" and not subset and ctx.first_fit is None and not (
                info["pure_pixel_rotation"] or info.get("pure_channel_rotation")):
            # The endmember start presumes the pure pixels its end refused; the solver's own factorisation from there
            # is not the plain method's (an EELS two-phase gradient, 2000 counts/pixel: 3.96 degrees from the truth
            # against 3.12 from NNDSVDa; blobs of three phases, 7.1 against 3.9), and a default must not be worse
            start = plain_start()
            w, h, info = fit_from(start)
            why += ("; the pure pixels were refused at the end, so the fit was rerun from NNDSVDa (the endmember "
                    "start presumes them)")
        info["start"] = ("pure-pixel endmembers" if not isinstance(start, tuple) else
                         "nndsvda+hals" if switched else "nndsvda")
        info["start_reason"] = why
        if subset:
            w, info["loss"] = loadings_pass(dm, h)
            info["route"] += f"+subset({n_fit} of {dm.n_pixels} pixels)+loadings-pass"
            info["fit_pixels"] = n_fit
        return h.T, w, info
