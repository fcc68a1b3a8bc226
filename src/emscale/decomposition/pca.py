"""(Poisson-weighted) PCA of a :class:`._matrix.DataMatrix`, written as passes.

Two solvers, both returning the *weighted* quantities (the caller undoes the weights):

``gram``
    One pass accumulates ``C = Xw^T Xw`` (channels x channels, float64; sparse counts multiply only their
    non-zeros, :mod:`._gram`). One tridiagonal reduction of ``C`` gives the whole eigenvalue spectrum (the scree)
    and the leading factors (:func:`._gram.eigh_scree`); one more pass projects the blocks, ``scores = Xw V``.
    Exact, and the right choice up to a few thousand channels. When there are fewer pixels than channels (a
    2 x 2 x 2048 cube) the same eigenvalues come from the *pixel* Gram matrix ``Xw Xw^T`` (n x n; the weighted
    rows are read once, as they are few), the factors from ``Xw^T U / s``: the cost follows
    ``min(pixels, channels)`` and numba is never loaded for it (:func:`_pixel_gram_pca`).
    For the rank estimate on sparse counts it also gives the spectrum of the principal sub-matrix over the
    well-populated channels (:func:`.rank.rank_channels`), with the noise Gram's sub-matrix.

``randomized``
    Halko-Martinsson-Tropp range finder with a seeded Gaussian test matrix, ``oversample`` extra columns and
    ``n_iter`` power iterations, each re-orthonormalised. The tall (pixels x l) bases are kept implicitly as
    ``Xw @ c`` with a small (channels x l) ``c``; one pass over the data returns both ``Xw^T (Xw c)`` and the
    (l x l) Gram matrix of ``Xw c`` (:meth:`._matrix.DataMatrix.sketch_products`), which is all a power
    iteration needs, so the solver reads the data ``n_iter + 2`` times after the statistics (one fewer when
    the statistics pass took the first sketch, one fewer when the tall ``Xw c`` of the last pass is small
    enough to keep: then it gives the scores).

``single_pass``
    For data that can be read only once (a cold archive, a live stream): range, co-range and error-test
    sketches all taken in one read together with the statistics (Tropp et al., SIMAX 2017 and SISC 2019), the
    factorisation then computed from the sketches alone. Less accurate than ``randomized`` with power
    iterations; the a-posteriori estimate of the relative Frobenius error is reported.

The method ``"pca"`` of ``decompose`` (:class:`PCA`) returns this PCA itself, unweighted; every other method
starts from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._linalg import tall_qr
from ._matrix import DataMatrix
from ._method import Context, Method, register, signed
from .rank import (
    ALL_PASSED_MAX,
    CHANNEL_SPREAD,
    DISPERSION_BAND,
    PA_MARGIN,
    ChannelGains,
    LevelHalves,
    channel_dispersions,
    may_scale,
)


@dataclass
class PCAResult:
    factors: np.ndarray  # (kept channels, k) weighted, orthonormal columns
    scores: np.ndarray  # (kept pixels, k) = Xw @ factors (loadings in weighted units)
    eigenvalues: np.ndarray  # eigenvalues of Xw^T Xw: the full spectrum (gram) or the top l (randomized)
    trace: float  # ||Xw||_F^2 (sum of all eigenvalues)
    solver: str
    noise_eigenvalues: np.ndarray | None = None  # [largest eigenvalue of the simulated noise Gram] (parallel analysis)
    # the rank estimate's sub-matrix over the well-populated channels (sparse counts): its eigenvalues, noise top
    rank_eigenvalues: np.ndarray | None = None
    rank_noise_top: float | None = None
    # traces of the simulated noise Gram (all kept channels; the rank subset): its energy, the Poisson variance of
    # the data's own values, against which the data's residual energy measures their dispersion (.rank)
    noise_trace: float | None = None
    rank_noise_trace: float | None = None
    # the rank channels split at their median count (.rank.LevelHalves), where the data are not counts at unit gain
    levels: LevelHalves | None = None
    # the rank channels' own noise dispersions, where they spread beyond their sampling (.rank.ChannelGains): the
    # noise tops above are then theirs
    channel_gains: ChannelGains | None = None
    power_iterations: int | None = None  # randomized: the power iterations run
    power_note: str | None = None  # randomized with a settling rule: why they stopped there


PIXEL_GRAM_MAX_BYTES = 2**28  # the pixel-side route reads the weighted rows into memory up to this size
NOISE_ROWS_MAX_BYTES = 2**28  # the extra noise draws of a small map read its rows into memory up to this size


def gram_pca(dm: DataMatrix, k: int, noise_seed: int | None = None, rank_sel: np.ndarray | None = None) -> PCAResult:
    """Exact PCA from the Gram matrix of the smaller side; ``rank_sel`` (kept-channel mask) also gives the
    spectrum of the rank estimate's channel subset (:attr:`PCAResult.rank_eigenvalues`)."""
    if dm.n_pixels < dm.n_channels and dm.n_pixels * dm.n_channels * 8 <= PIXEL_GRAM_MAX_BYTES:
        return _pixel_gram_pca(dm, k, noise_seed, rank_sel)
    from ._gram import eigh_scree, top_eigenvalue

    noise = rank_lam = rank_vecs = rank_noise = noise_diag = levels = gains = cn = None
    extra = range(0)
    if noise_seed is None:
        c = dm.gram()
    else:
        c, cn = dm.gram(noise_seed=noise_seed)
        noise = np.array([top_eigenvalue(cn)])
        noise_diag = np.diag(cn).astype(np.float64)
        if rank_sel is not None:
            rank_noise = top_eigenvalue(cn[np.ix_(rank_sel, rank_sel)]) if rank_sel.any() else 0.0
        draws = noise_draws(dm.n_pixels, dm.n_channels)
        if draws > 1 and dm.n_pixels * dm.n_channels * 8 <= NOISE_ROWS_MAX_BYTES:
            # a small map: the pass's draw and more, as on the pixel side (its rows in memory, within that bound)
            extra = range(1, draws)
            tops, rank_tops = _noise_tops(dm, _noise_root(dm), noise_seed, rank_sel, extra)
            noise = np.array([max(float(noise[0]), *tops)])
            if rank_sel is not None and rank_sel.any():
                rank_noise = max(rank_noise, *rank_tops)
    if rank_sel is not None:  # the eigenvalues (the same bits with or without vectors) and a few vectors
        sub = c[np.ix_(rank_sel, rank_sel)]
        rank_lam, rank_vecs = eigh_scree(sub, _gain_vectors(sub.shape[0]) if cn is not None else 0)
        del sub
    trace = float(np.trace(c))
    w, vk = eigh_scree(c, k)
    w = w[: min(dm.n_pixels, dm.n_channels)]
    if cn is not None:
        sel = np.arange(dm.n_channels) if rank_sel is None else np.flatnonzero(rank_sel)

        def vectors(r, g=c):
            if rank_sel is not None:
                return rank_vecs
            return vk if vk.shape[1] >= r else eigh_scree(g, _gain_vectors(dm.n_channels))[1]

        def scaled_top(root_d):  # the top noise eigenvalue of every draw, each channel's noise scaled by root_d
            sub = cn[np.ix_(sel, sel)] if rank_sel is not None else cn
            top = top_eigenvalue(sub * root_d[:, None] * root_d[None, :])
            if extra:
                root = _noise_root(dm)
                root[:, sel] *= root_d
                tops, rank_tops = _noise_tops(dm, root, noise_seed, rank_sel, extra)
                top = max(top, *(tops if rank_sel is None else rank_tops))
            return top

        lam_r, top_r = (w, float(noise[0])) if rank_sel is None else (rank_lam, rank_noise)
        gains = _channel_gains(dm, lam_r, vectors, np.diag(c)[sel], noise_diag[sel], top_r, sel, scaled_top)
        del cn
        if gains is not None:  # the simulated noise is Z D: its top, trace and channels' energies
            noise, rank_noise, noise_diag = gains.apply(noise, rank_noise, noise_diag, sel, rank_sel is None)
    noise_traces = (None, None) if noise_diag is None else (
        float(noise_diag.sum()), None if rank_sel is None else float(noise_diag[rank_sel].sum()))
    if noise_diag is not None:
        levels = _levels(dm, w, noise, noise_diag, rank_sel, rank_lam, rank_noise, noise_traces,
                         lambda idx, g=c: eigh_scree(g[np.ix_(idx, idx)], 0)[0])
    del c
    scores = dm.matmul(vk, name="decomposition-project") if vk.shape[1] else np.zeros((dm.n_pixels, 0))
    return PCAResult(vk, scores, w, trace, "gram", noise, rank_lam, rank_noise, *noise_traces, levels=levels,
                     channel_gains=gains)


MIN_GAIN_RANK = 1  # no component above the unit-gain edge: nothing a per-channel dispersion could take away


def _gain_vectors(p: int) -> int:
    """How many leading eigenvectors the per-channel dispersion may take the residual past: up to
    :data:`.rank.ALL_PASSED_MAX`, within a quarter of the channels (from 64 up: :func:`._gram.eigh_scree` then keeps
    the eigenvalues' bits, the same tridiagonal route as without vectors)."""
    return p if p < 64 else min(ALL_PASSED_MAX, p // 4)


def _channel_gains(dm: DataMatrix, lam, vectors, diag, noise_diag, noise_top: float, sel, scaled_top):
    """The rank channels' :class:`.rank.ChannelGains` where their dispersions spread beyond their sampling
    (:data:`.rank.CHANNEL_SPREAD`), else None (counts at unit gain, or at one gain: nothing changes). ``lam``: the
    rank channels' spectrum; ``vectors(r)``: at least ``r`` of its leading eigenvectors or fewer (then none is
    measured); ``diag``, ``noise_diag``: the diagonals of the data and noise Gram sub-matrices; ``noise_top``: the
    unit-gain noise edge; ``scaled_top(sqrt(d))``: the noise edge with each channel's noise scaled by ``d_c``."""
    # centred data: the residual past r also lacks the mean, a component the unit-gain rank does not count, and the
    # dispersions spread (2.3-2.9 on plain counts, a code review): the rule was measured on uncentred data only
    if noise_top is None or dm.row_scale is None or dm.mean is not None or sel.size < 4 * MIN_GAIN_RANK:
        return None
    lam = np.asarray(lam, dtype=float)
    r = int(np.count_nonzero(lam > noise_top * (1 + PA_MARGIN)))
    if not MIN_GAIN_RANK <= r <= min(ALL_PASSED_MAX, dm.n_pixels // 4, sel.size // 4):
        return None
    vecs = vectors(r)
    if vecs.shape[1] < r:
        return None
    d, spread = channel_dispersions(lam, vecs, diag, noise_diag, r, dm.n_pixels, float(np.mean(dm.row_scale ** 2)),
                                    dm.col_scale[sel] ** 2)
    if d is None or not spread > CHANNEL_SPREAD:
        return None
    level = float((d * noise_diag).sum() / noise_diag.sum())
    if not 1.0 / DISPERSION_BAND <= level <= DISPERSION_BAND:  # not counts near unit gain: the global dispersion's
        return None  # checks judge them, as before (an offset, a read-out floor, a gain: .rank._parallel_analysis)
    return ChannelGains(float(spread), r, float(noise_top), float(scaled_top(np.sqrt(d))), float(d.min()),
                        float(d.max()), d)


def _levels(dm: DataMatrix, lam, noise, noise_energy, rank_sel, rank_lam, rank_noise, noise_traces,
            spectrum) -> LevelHalves | None:
    """The rank channels' :class:`.rank.LevelHalves`, only where the parallel analysis may scale its edge
    (:func:`.rank.may_scale`: two more eigenvalue spectra of half the size, none for counts at unit gain);
    ``spectrum(channels)``: the Gram sub-matrix's eigenvalues over those kept channels."""
    sel = np.arange(dm.n_channels) if rank_sel is None else np.flatnonzero(rank_sel)
    lam, top, trace = (lam, noise[0], noise_traces[0]) if rank_sel is None else (rank_lam, rank_noise,
                                                                                 noise_traces[1])
    if sel.size < 4 or not trace or not may_scale(lam, float(top), trace, dm.n_pixels, sel.size):
        return None
    return LevelHalves.split(dm.sums.col_sums[sel], noise_energy[sel], lambda idx: spectrum(sel[idx]))


def _top_eigenvalue_of_rows(z: np.ndarray) -> float:
    """Largest eigenvalue of ``z^T z`` (= of ``z z^T``), from the Gram matrix of the smaller side."""
    from ._gram import top_eigenvalue

    if z.size == 0:
        return 0.0
    return top_eigenvalue(_smaller_gram(z))


def _smaller_gram(z: np.ndarray) -> np.ndarray:
    """``z z^T`` or ``z^T z``, whichever is smaller: the same non-zero eigenvalues."""
    return z @ z.T if z.shape[0] <= z.shape[1] else z.T @ z


NOISE_DRAW_STRIDE = 7919  # seed offset between the noise draws of a few-pixel matrix
FEW_CHANNELS = 64  # fewer channels than this: the most noise draws (noise_draws)


def noise_draws(n_pixels: int, n_channels: int) -> int:
    """Noise draws for the parallel analysis of a matrix with ``n_pixels`` rows: one from 1024 pixels up (the top
    noise eigenvalue concentrates, and :data:`.rank.PA_MARGIN` covers its spread), up to 16 below, whose maximum
    is taken: with fewer pixels the top eigenvalue of one draw fluctuates by about the margin or more (pure Poisson
    noise on 3-6 pixels counted 2 components in 3 of 15 seeded cubes with one draw). Ground truth of 8 x 8 and
    12 x 12 pixels (EDS and EELS, rank 1-3, 200 and 2000 counts/pixel, 256 and 1024 channels, 8 seeds each): with one
    draw from 64 pixels up, 42 of 384 over-counted (by one; 17 % at 8 x 8); with 1024 // pixels draws, 3 (and 3 more
    missed a component within 3 % of the edge); 4096 // pixels changed nothing more.

    The fluctuation is the same in the other dimension (the Tracy-Widom scale is symmetric in pixels and channels):
    under :data:`FEW_CHANNELS` channels every map gets the 16 draws. With one draw, 20 x 30 maps of three pure
    phases over 12-32 channels counted 4 on 11 of 140 seeded cubes (a review's and the suite's, 50 and 500
    counts/pixel); with 16, on 2."""
    if int(n_channels) < FEW_CHANNELS:
        return 16
    return int(min(16, max(1, 1024 // max(int(n_pixels), 1))))


def _pixel_gram_pca(dm: DataMatrix, k: int, noise_seed: int | None, rank_sel: np.ndarray | None) -> PCAResult:
    """The exact PCA from the (pixels x pixels) Gram matrix ``K = Xw Xw^T`` when pixels < channels: the same
    non-zero eigenvalues as ``Xw^T Xw``, factors ``V = Xw^T U s^-1`` (orthonormal), scores ``U s``. The simulated
    noise uses the same signs as the channel-side route (:mod:`._signs`), so the parallel analysis sees the same
    noise matrix."""
    from ._gram import eigh_scree

    n = dm.n_pixels
    xw = dm.take_rows(np.arange(n), weighted=True)  # (n, p), weighted and centred as configured
    kmat = xw @ xw.T
    kk = int(min(max(k, 0), n))
    w, u = eigh_scree(0.5 * (kmat + kmat.T), kk)  # every eigenvalue, the leading kk vectors
    s = np.sqrt(w[:kk])
    live = s > (s[0] if kk else 0.0) * 1e-10
    factors = np.zeros((dm.n_channels, kk))
    factors[:, live] = (xw.T @ u[:, live]) / s[live]
    scores = u * s
    trace = float(np.trace(kmat))
    noise = rank_lam = rank_noise = levels = energy = gains = None
    noise_traces = (None, None)
    if noise_seed is not None:
        root = _noise_root(dm)
        draws = range(noise_draws(n, dm.n_channels))
        tops, rank_tops = _noise_tops(dm, root, noise_seed, rank_sel, draws)
        noise = np.array([max(tops)])
        rank_noise = max(rank_tops) if rank_tops else None
        energy = np.einsum("ij,ij->j", root, root)  # the signs square to one: the same for every draw
        noise_traces = (float(energy.sum()), None if rank_sel is None else float(energy[rank_sel].sum()))
    if rank_sel is not None:  # the eigenvalues alone, from the smaller side of the sub-matrix (zeros for the rest)
        rank_lam = np.zeros(n)
        lam = eigh_scree(_smaller_gram(xw[:, rank_sel]), 0)[0] if rank_sel.any() else np.zeros(0)
        rank_lam[: lam.size] = lam  # min(pixels, rank channels) values
    if energy is not None:
        sel = np.arange(dm.n_channels) if rank_sel is None else np.flatnonzero(rank_sel)
        xs = xw[:, sel]

        def scaled_top(root_d):  # every draw again, each channel's noise scaled by root_d
            scaled = root.copy()
            scaled[:, sel] *= root_d
            tops, rank_tops = _noise_tops(dm, scaled, noise_seed, rank_sel, draws)
            return max(tops if rank_sel is None else rank_tops)

        lam_r, top_r = (w, float(noise[0])) if rank_sel is None else (rank_lam, rank_noise)
        gains = _channel_gains(dm, lam_r, lambda r: _leading_vectors(xs, r), np.einsum("ij,ij->j", xs, xs),
                               energy[sel], top_r, sel, scaled_top)
        if gains is not None:  # the simulated noise is Z D: its top, trace and channels' energies
            noise, rank_noise, energy = gains.apply(noise, rank_noise, energy, sel, rank_sel is None)
            noise_traces = (float(energy.sum()), None if rank_sel is None else float(energy[rank_sel].sum()))
        levels = _levels(dm, w, noise, energy, rank_sel, rank_lam, rank_noise, noise_traces,
                         lambda idx: eigh_scree(_smaller_gram(xw[:, idx]), 0)[0])
    return PCAResult(factors, scores, w, trace, "gram", noise, rank_lam, rank_noise, *noise_traces, levels=levels,
                     channel_gains=gains)


def _leading_vectors(xs: np.ndarray, r: int) -> np.ndarray:
    """The ``r`` leading eigenvectors of ``xs^T xs`` (columns), from the Gram matrix of the smaller side."""
    from ._gram import eigh_scree

    if xs.shape[0] >= xs.shape[1]:
        return eigh_scree(xs.T @ xs, r)[1]
    lam, u = eigh_scree(xs @ xs.T, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xs.T @ u) / np.sqrt(lam[: u.shape[1]])


def _noise_root(dm: DataMatrix) -> np.ndarray:
    """``sqrt(X)`` weighted like ``Xw``, (pixels x channels): the simulated noise before its signs."""
    root = np.sqrt(np.maximum(dm.take_rows(np.arange(dm.n_pixels), weighted=False), 0.0))
    if dm.row_scale is not None:
        root *= dm.row_scale[:, None]
        root *= dm.col_scale[None, :]
    return root


def _noise_tops(dm: DataMatrix, root: np.ndarray, noise_seed: int, rank_sel, draws) -> tuple[list, list]:
    """Top eigenvalues of the simulated noise ``root * signs`` of each draw (and of its rank channels): the same
    signs as the Gram pass's draw 0 (:mod:`._signs`)."""
    from ._signs import noise_signs

    pix = np.flatnonzero(dm.keep_pixels) if dm.keep_pixels is not None else np.arange(dm.n_pixels)
    chan = np.flatnonzero(dm.keep_channels) if dm.keep_channels is not None else np.arange(dm.n_channels)
    tops, rank_tops = [], []
    for draw in draws:  # signs are +-1: the weighting commutes with them exactly
        z = root * noise_signs(noise_seed + NOISE_DRAW_STRIDE * draw, pix, chan)
        tops.append(_top_eigenvalue_of_rows(z))
        if rank_sel is not None:
            rank_tops.append(_top_eigenvalue_of_rows(z[:, rank_sel]))
    return tops, rank_tops


TALL_MAX_BYTES = 2**27  # keep the last pass's tall (pixels x l) matrix for the scores up to this size
# The settling rule of the power iterations (``max_iter`` above ``n_iter``): a component whose eigenvalue is at
# least SETTLE_RATIO times the block's last stands out of the noise the oversampled block holds; the iterations go
# on until those components turn by less than SETTLE_DEGREES between passes. Measured 2026-12-02 on 27 mixed-blob
# cubes (24 x 24 to 64 x 64 pixels, 1024-4096 channels, k = rank to 12): two fixed iterations left the components
# that stand out of the noise 0.8-13.7 degrees from the exact ones (38-41 where one barely does), seven 0.0-0.8
# (6-8); the rule stops at two on a 256 x 256 x 2048 cube whose components stand far out (as before, 0.01 degrees)
SETTLE_RATIO = 1.2
SETTLE_DEGREES = 1.0
AUTO_MAX_ITER = 7  # scikit-learn's randomized_svd runs 7 for a small k


def randomized_pca(dm: DataMatrix, k: int, seed: int = 0, n_iter: int = 2, oversample: int = 10,
                   max_iter: int | None = None) -> PCAResult:
    """Range finder whose tall (pixels x l) bases are never stored: each is kept implicitly as ``Xw @ c`` with a
    small (channels x l) ``c`` made orthonormal through the (l x l) Gram matrix of ``Xw @ c``, so memory does not
    grow with the number of pixels (a 30 GB cube has millions of them) beyond the final (pixels x k) loadings.

    Passes: ``N, G = Xw^T Xw c, (Xw c)^T (Xw c)`` for ``c = Omega`` (or taken by the statistics pass, see
    :meth:`DataMatrix.statistics`), then per power iteration ``T = G^-1/2``, ``c = qr(N T)`` and one pass for
    the new ``N, G``; finally ``B^T = N T = Xw^T Q`` with ``Q = Xw c T`` orthonormal, its SVD, and the scores
    ``Q (U_B s)`` from one more pass or from the last pass's tall ``Xw c`` when it is small enough to keep.

    ``n_iter`` power iterations are run; with ``max_iter`` above it, more, up to ``max_iter``, until the
    components that stand out of the noise settle (:data:`SETTLE_RATIO`, :data:`SETTLE_DEGREES`): a component
    little above the noise converges slowly, and two iterations can leave it tens of degrees off. Data whose
    components stand far out settle by ``n_iter`` and get the same bits as without the rule.
    """
    n, p = dm.n_pixels, dm.n_channels
    ell = min(k + oversample, min(n, p))
    poisson = dm.row_scale is not None
    sk = dm.sketches.get((ell, seed, poisson))
    n_iter = max(n_iter, 0)
    max_iter = n_iter if max_iter is None else max(int(max_iter), n_iter)
    keep_tall = n * ell * 8 <= TALL_MAX_BYTES
    y = None
    if sk is not None and dm.mean is None:
        # the statistics pass took Xw^T Xw c and the Gram of Xw c for c = Dc^-1 Omega (Xw c = Dr X Omega)
        omega = sk["omega"]
        c = omega if dm.col_scale is None else omega / dm.col_scale[:, None]
        nn = sk["n"] if dm.col_scale is None else sk["n"] * dm.col_scale[:, None]
        g = sk["g"]
    else:
        c = np.random.default_rng(seed).standard_normal((p, ell))
        nn, g, y = dm.sketch_products(c, tall=keep_tall and n_iter == 0, name="decomposition-sketch")
    done, note, ritz = 0, None, None
    while True:
        t = _orthonormaliser(g)
        bt = nn @ t
        if done >= n_iter:
            if done >= max_iter:
                if max_iter > n_iter:
                    note = f"stopped after {max_iter}, the most it runs, before the leading components settled"
                break
            turned, m, ritz = _turned(ritz, bt, k)
            if turned < SETTLE_DEGREES:
                note = (f"settled: the {m} component(s) that stand out of the noise turned "
                        f"{turned:.2g} degrees in the last iteration")
                break
        elif max_iter > n_iter and done == n_iter - 1:
            ritz = np.linalg.svd(bt, full_matrices=False)[0]
        c = tall_qr(bt)
        done += 1
        nn, g, y = dm.sketch_products(c, tall=keep_tall and done >= n_iter, name="decomposition-power")
    # bt (p, l') = Xw^T Q = B^T with Q = Xw c t orthonormal, from the last pass
    vb, s, ubt = np.linalg.svd(bt, full_matrices=False)  # B^T = vb s ubt  ->  B = ubt^T s vb^T
    k = min(k, s.size)
    factors = np.ascontiguousarray(vb[:, :k])
    w = t @ (ubt.T[:, :k] * s[:k])  # scores = Q @ (ubt^T s) = Xw c w
    if y is not None:
        scores = y @ w
    else:
        scores = dm.matmul(c @ w, name="decomposition-project", dtype=dm.product_dtype)
    return PCAResult(factors, scores, s**2, dm.frobenius_sq(), "randomized", power_iterations=done,
                     power_note=note)


def _turned(before: np.ndarray | None, after: np.ndarray, k: int) -> tuple[float, int, np.ndarray]:
    """(degrees, m, Ritz vectors of ``after``): the largest principal angle between the leading ``m`` Ritz vectors
    ``before`` (of the previous pass; None: none yet, an infinite turn) and those of the product ``after`` =
    ``Xw^T Q`` (channels, l), ``m`` the components of the first ``k`` whose eigenvalue is at least
    :data:`SETTLE_RATIO` times the block's last (a component at the noise never settles and need not)."""
    v1, s, _ = np.linalg.svd(after, full_matrices=False)
    m = int(np.sum(s[:k] ** 2 >= SETTLE_RATIO * s[-1] ** 2))
    if before is None:
        return float("inf"), m, v1
    if m == 0:
        return 0.0, 0, v1
    cos = np.linalg.svd(before[:, :m].T @ v1[:, :m], compute_uv=False)
    return float(np.degrees(np.arccos(np.clip(cos.min(), -1.0, 1.0)))), m, v1


def _orthonormaliser(g: np.ndarray) -> np.ndarray:
    """``T`` (l x l') such that ``Xw c T`` has orthonormal columns, from the Gram matrix ``g`` of ``Xw c``;
    directions with no energy (a rank-deficient matrix) are dropped."""
    w, v = np.linalg.eigh(0.5 * (g + g.T))
    keep = w > w.max() * 1e-13 if w.size and w.max() > 0 else np.zeros(w.size, bool)
    return v[:, keep] / np.sqrt(w[keep])


def single_pass_pca(dm: DataMatrix, k: int, seed: int, sketches, n_test: int) -> tuple[PCAResult, float]:
    """Finish a single-pass sketch (:meth:`DataMatrix.single_pass_sketch`): (result, estimated relative error)."""
    y, w, z, _omega = sketches
    if dm.col_scale is not None:  # the per-channel Poisson weight, known only after the pass
        w = w * dm.col_scale[None, :]
        z = z * dm.col_scale[None, :]
    q = tall_qr(y)
    psi_q, theta_q = _wide_times(dm, seed, (w.shape[0], n_test), q)
    x, *_ = np.linalg.lstsq(psi_q, w, rcond=None)  # (l, channels): Xw ~ Q x
    u, sv, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, sv.size)
    factors = np.ascontiguousarray(vt[:k].T)
    scores = q @ (u[:, :k] * sv[:k])
    trace = dm.frobenius_sq()
    err_sq = float(np.sum((z - theta_q @ x) ** 2)) / n_test
    rel = float(np.sqrt(err_sq / trace)) if trace > 0 else 0.0
    return PCAResult(factors, scores, sv**2, trace, "single_pass"), rel


def _wide_times(dm: DataMatrix, seed: int, heights: tuple[int, ...], tall: np.ndarray) -> list[np.ndarray]:
    """``G_j @ tall`` for the row-seeded test matrices of the sketch, regenerated row by row (no data read)."""
    out = [np.zeros((h, tall.shape[1])) for h in heights]
    n_rows = dm.nav_shape[0] if dm.nav_shape else 1
    for r in range(n_rows):
        rows = slice(r, r + 1)
        k0, k1, _ = dm._kept_range(rows)
        for acc, g in zip(out, dm._row_gaussians(rows, seed, heights), strict=True):
            acc += g @ tall[k0:k1]
    return out


@register
class PCA(Method):
    """The (Poisson-weighted) PCA itself: loadings are the scores, factors the principal axes, both unweighted;
    each factor's largest-|value| entry positive. ``n_components=None`` keeps every component the solver
    computed (up to 32) and the whole scree."""

    name = "pca"
    auto_rank = False
    separates = False  # k components for a denoised reconstruction are asked for as often as for phases
    single_pass = True
    settles_subspace = True

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        return (*signed(*ctx.unweighted(ctx.factors, ctx.scores)), {})
