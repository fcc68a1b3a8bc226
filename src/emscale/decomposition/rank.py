"""Rank estimation from the eigenvalue spectrum with the Marchenko-Pastur law.

After Poisson weighting (:mod:`._matrix`) the noise of the weighted matrix ``Xw`` (N pixels x p channels) is
close to independent with a common variance sigma^2. The eigenvalues of ``Xw^T Xw`` that come from noise alone
then follow the Marchenko-Pastur law whose upper edge is ``sigma^2 (sqrt(N) + sqrt(p))^2``; eigenvalues of
components (a signal direction strong enough to be detected at all) lie above it.

Method (iterated to a fixed point, starting at r = 0):

1. sigma^2 from the *bulk* ``lambda[r:]``: its median matched to the median of the Marchenko-Pastur law with
   dimensions (N - r, p - r) (robust to the r outliers). When only the top eigenvalues are known (randomized
   solver) sigma^2 comes from the trace instead: ``(||Xw||_F^2 - sum(lambda[:r])) / ((N - r)(p - r))``.
2. threshold = edge + ``tw_sigmas`` x the Tracy-Widom scale ``sigma^2 (sqrt(N)+sqrt(p)) (1/sqrt(N)+1/sqrt(p))^(1/3)``
   (the size of the largest noise eigenvalue's fluctuations), a small safety margin for finite size and for
   residual heteroscedasticity of the weighted Poisson noise.
3. r = number of eigenvalues above the threshold.

Definition of the rank: the number of components to keep *in the decomposition's own model*. Uncentred (the
default, as HyperSpy), the first component is essentially the mean spectrum, and it counts: for a non-negative
mixture of r pure spectra the uncentred rank is r, the number of physical components. Centred, the mean is kept
separately and the rank counts the components of the variation about it.

Poisson data: parallel analysis (the default when Poisson weighting is on and the Gram solver runs). The
weighted Poisson noise is *heteroscedastic* (its variance follows the local spectrum over the mean spectrum),
and its largest eigenvalue then exceeds the homoscedastic Marchenko-Pastur edge, which would count noise as
components. The Gram pass therefore also accumulates the Gram matrix of a noise-only matrix with the data's own
variance profile, ``Z = sqrt(X) * G`` (G random signs, weighted like ``Xw``; ``Z^2 = X``, whose mean is the
Poisson variance), at no extra read of the data. Its largest eigenvalue is the noise edge; the threshold is that edge
times ``1 + PA_MARGIN``, and the rank is the number of eigenvalues above it (a component whose own signal
energy exceeds the noise edge always ends up above it). The Marchenko-Pastur numbers are still reported.

Why signs and not Gaussians: in sparse counts (EDS at ~20 counts/pixel) a channel with a handful of counts in the
whole map carries, after the ``1 / sqrt(column sum)`` weighting, a self-normalised Poisson noise energy of
~``1 / counts``, while a Gaussian ``sqrt(X) * G`` gives it a chi-square energy (one count: ``G^2``, often 3-8x
more): the simulated edge sat above the data's own edge and weak components were missed (4 of 155 detectable
ground-truth cases, all EDS at 20 counts). Signs reproduce the data's edge to ~1 % there: 155/155 detectable and
180/240 in all, none above the truth (tests/decomposition/test_rank.py, slow); on held-out seeds (3-5, same grid)
161/161 detectable and 187/240 in all, none above. ``PA_MARGIN`` stays at 5 %: over those 480 cases the data's
first noise eigenvalue reaches 1.0155x the simulated edge, so 2-3 % would still never over-count there but would
find only 3-6 more components per 240 cases (nearly all misses sit within 1 % of the edge: below the noise).

Sparse counts (EDS at 5-30 counts/pixel over 2048-4096 channels). The Poisson weighting makes the largest
eigenvalue of a non-negative ``Xw`` exactly 1 (Perron: ``sqrt(aG)`` and ``sqrt(bH)`` are its singular vectors), and
*every* block of entries that shares no pixel and no channel with the rest (a pixel whose few counts sit in
channels nobody else hit) is a separate block of the matrix with the same eigenvalue 1. In a sparse map there are
hundreds of such blocks; random signs do not change them (a block that is a tree can be re-signed back to the
data), so the simulated noise edge is 1 as well and nothing passes ``1.05``: the estimate was 0. More generally
a channel with ``b`` counts in the whole map carries localised eigenvalues ~``X_ij / b``, up to 1, far above the
spread-out noise that the parallel analysis models. The estimate therefore uses only the channels with at least
:data:`MIN_CHANNEL_COUNTS` counts (:func:`rank_channels`): the principal sub-matrices of the data and noise Gram
matrices over those channels, the per-pixel weights unchanged. Dense data keep every channel (nothing changes);
on sparse ground-truth scenes (2-4 phases, 5-30 counts/pixel, 2048-4096 channels,
tests/decomposition/test_sparse_rank.py) 8 counts found the true rank on every scene tried, where 4 under-counted
(localised eigenvalues still at ~0.25-0.5) and 16-64 threw away too many line channels (and once over-counted).
When fewer than :data:`MIN_RANK_CHANNELS` channels qualify, no estimate is possible: the driver warns and suggests
a binning (:func:`suggest_binning`).

The scree "elbow" (the point farthest from the chord of the log scree, as HyperSpy's
``estimate_elbow_position``) is only a fallback when the spectrum is too short for a noise bulk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TW_SIGMAS = 3.0
PA_MARGIN = 0.05
# Data whose residual energy is outside [1 / DISPERSION_BAND, DISPERSION_BAND] times the Poisson variance of their
# values are not counts at unit gain: the simulated noise edge is scaled by their dispersion (:func:`dispersion`)
DISPERSION_BAND = 1.25
# ... and the data are counts at unit gain where the dispersion counted from rank 0 (:func:`_scaled_rank`) is within
# [1 / GAIN_BAND, GAIN_BAND]: 0.987-1.028 on 48 ground-truth cubes at unit gain (8 x 8 to 32 x 32, EDS and EELS,
# 200 and 2000 counts/pixel), 1.085-1.131 at a gain of 1.1
GAIN_BAND = 1.05
# ... and where they are not, the edge is scaled only where the noise is a gain: the same dispersion in the rank
# channels of fewer and of more counts (:class:`LevelHalves`), within this band. Measured, more over fewer: a gain of
# 4 on EDS and EELS cubes at 200-20000 counts/pixel 0.998-1.008, the Velox EELS maps 0.989-0.998. An offset added to
# the counts lowers the dispersion most where the counts are fewest (EELS, 2000 counts/pixel over 512 channels, 2 and
# 10 added: 1.47 and 2.06; read as a gain by their mean, the scaled edge let 8 and 37 components of 3 pass); a
# sub-Poisson read-out rounded to integers raises it there (0.69-0.91, whose unit-gain edge counted 3 of 3)
LEVEL_BAND = 1.25
# Data whose channels each have their own dispersion (an uncorrected per-channel gain: each channel records g_c units
# per count) are measured against a simulated noise of that dispersion per channel (:class:`ChannelGains`) where the
# robust spread of the channels' dispersions is above this many times their sampling spread. Measured on
# ground-truth cubes (48 x 48 x 512, rank 3, EDS and EELS, 200 and 2000 counts/pixel, seeds 0-5): 0.62-1.08 at unit
# gain, 1.7-2.0 at a gain spread of 5 %, 2.7-3.6 at 10 %, 4.6-6.9 at 20 %
CHANNEL_SPREAD = 1.5
ALL_PASSED_MAX = 32  # the most components a decomposition computes (api.DEFAULT_MAX_COMPONENTS)
MIN_CHANNEL_COUNTS = 8  # channels with fewer counts in the whole map are left out of the rank estimate
MIN_RANK_CHANNELS = 8  # fewer channels than this with enough counts: too few counts for any estimate


def rank_channels(col_sums: np.ndarray, poisson: bool) -> np.ndarray | None:
    """Boolean mask over the kept channels used by the rank estimate: those with at least
    :data:`MIN_CHANNEL_COUNTS` counts (Poisson data); ``None`` when that is every channel (or not Poisson)."""
    if not poisson:
        return None
    sel = np.asarray(col_sums) >= MIN_CHANNEL_COUNTS
    return None if sel.all() else sel


def suggest_binning(col_sums: np.ndarray, row_sums: np.ndarray) -> str:
    """A binning that would give the rank estimate enough counts: the energy factor (power of two) that brings
    the median line-free channel to :data:`MIN_CHANNEL_COUNTS` counts, and 2 x 2 in navigation when pixels hold
    fewer than 20 counts."""
    cs = np.asarray(col_sums, dtype=float)
    med = float(np.median(cs[cs > 0])) if np.any(cs > 0) else 0.0
    f = 1
    while med * f < MIN_CHANNEL_COUNTS and f < 64:
        f *= 2
    nav = float(np.mean(row_sums)) if len(row_sums) else 0.0
    parts = []
    if f > 1:
        parts.append(f"{f} channels per bin in energy")
    if nav < 20:
        parts.append("2 x 2 in navigation")
    return " and ".join(parts) or "2 x 2 in navigation"


@lru_cache(maxsize=256)
def mp_median(beta: float) -> float:
    """Median of the Marchenko-Pastur law with ratio ``beta = min/max <= 1`` and unit variance
    (eigenvalues of W^T W / max(N, p))."""
    beta = float(min(max(beta, 1e-9), 1.0))
    lo, hi = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2
    x = np.linspace(lo, hi, 20001)
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = np.sqrt(np.clip((hi - x) * (x - lo), 0, None)) / (2 * np.pi * beta * x)
    dens[~np.isfinite(dens)] = 0
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    return float(np.interp(0.5, cdf, x))


def mp_threshold(sigma2: float, n: int, p: int, tw_sigmas: float = TW_SIGMAS) -> tuple[float, float]:
    """(edge, threshold) for noise eigenvalues of an n x p matrix with noise variance sigma2."""
    a, b = np.sqrt(n), np.sqrt(p)
    edge = sigma2 * (a + b) ** 2
    tw = sigma2 * (a + b) * (1 / a + 1 / b) ** (1 / 3)
    return float(edge), float(edge + tw_sigmas * tw)


def elbow(values: np.ndarray, max_points: int = 20) -> int:
    """Index of the elbow of a log scree curve (farthest point from the chord), as HyperSpy does."""
    v = np.clip(np.asarray(values, dtype=float), 1e-30, None)
    n = min(max_points, len(v) - 1)
    if n < 2:
        return 0
    y = np.log(v[: n + 1])
    x = np.arange(n + 1)
    x1, y1, x2, y2 = 0, y[0], n, y[n]
    d = np.abs((y2 - y1) * x - (x2 - x1) * y + x2 * y1 - y2 * x1) / np.hypot(y2 - y1, x2 - x1)
    return int(np.argmax(d))


@dataclass(frozen=True)
class LevelHalves:
    """The rank's channels split at their median count, each half's own Gram spectrum (the principal sub-matrix's
    eigenvalues, descending) and the trace of its simulated noise: a gain gives both halves one dispersion
    (:func:`dispersion`), an offset or a read-out floor does not (:data:`LEVEL_BAND`)."""

    fewer: np.ndarray
    more: np.ndarray
    noise_fewer: float
    noise_more: float
    n_fewer: int
    n_more: int

    @classmethod
    def split(cls, counts: np.ndarray, noise_energy: np.ndarray, spectrum) -> LevelHalves:
        """``counts`` and ``noise_energy`` (simulated noise's energy) per channel; ``spectrum(channels)``: the
        eigenvalues of the Gram sub-matrix over those channels (indices, ascending)."""
        order = np.argsort(np.asarray(counts), kind="stable")
        fewer, more = np.sort(order[: order.size // 2]), np.sort(order[order.size // 2 :])
        return cls(spectrum(fewer), spectrum(more), float(noise_energy[fewer].sum()), float(noise_energy[more].sum()),
                   int(fewer.size), int(more.size))

    def dispersions(self, r: int, n_rows: int) -> tuple[float, float]:
        """The dispersion of the channels of fewer and of more counts, each half's residual past rank ``r``."""
        return (dispersion(self.fewer, r, self.noise_fewer, n_rows, self.n_fewer),
                dispersion(self.more, r, self.noise_more, n_rows, self.n_more))


@dataclass(frozen=True)
class ChannelGains:
    """A per-channel dispersion of the noise and the simulated noise edge it gives.

    After Poisson weighting the noise of channel ``c`` of counts recorded at ``g_c`` units per count has variance
    ``g_c`` times the simulated noise's (``Z = sqrt(X) * signs``, weighted like ``Xw``, has ``Z^2 = X``): with a
    spread of ``g_c`` the data's top noise eigenvalue, the edge of a Marchenko-Pastur law whose columns have
    variances ``g_c``, lies above the simulated edge (a gain spread of 20 %: 4-8 components of 3). One number for
    every channel (:func:`dispersion`) cannot move it. Each channel's dispersion ``d_c`` is its residual energy past
    the unit-gain rank ``r`` over its simulated noise energy times the share the components leave it
    (:func:`channel_dispersions`), and the simulated noise becomes ``Z D``, ``D = diag(sqrt(d_c))``: its edge
    the top eigenvalue of ``D Cn D`` (every draw's), its energy per channel ``d_c Cn_cc`` (the global
    :func:`dispersion` then reads ~1). Used only where the ``d_c`` spread more than :data:`CHANNEL_SPREAD` times
    their sampling spread and their mean (over the noise energy) lies within :data:`DISPERSION_BAND` of 1: counts
    near unit gain, channel by channel. Data of another level (a global gain, an offset, a read-out floor) are
    the global checks' to judge, as before (216 ground-truth cubes at gains 0.3-6: every rank and dispersion
    unchanged)."""

    spread: float  # robust spread of d_c / median(d_c) - 1 over each one's sampling standard deviation
    rank: int  # the unit-gain rank the residual was taken past
    noise_top_unit: float  # the simulated noise edge at unit gain in every channel
    noise_top: float  # ... with the channels' own dispersions (the largest of every draw, as at unit gain)
    low: float  # the smallest and largest d_c
    high: float
    d: np.ndarray  # d_c of each rank channel

    def apply(self, noise, rank_noise, energy: np.ndarray, sel: np.ndarray, all_channels: bool):
        """(noise tops, rank channels' noise top, noise energy per channel) of the simulated noise ``Z D``."""
        energy = np.array(energy, dtype=np.float64)
        energy[sel] *= self.d
        if all_channels:
            return np.array([self.noise_top]), rank_noise, energy
        return noise, self.noise_top, energy

    def evidence(self) -> dict:
        return {"spread": self.spread, "band": CHANNEL_SPREAD, "rank": self.rank,
                "noise_top_unit": self.noise_top_unit, "noise_top": self.noise_top, "range": [self.low, self.high]}

    def note(self) -> str:
        return (f"the channels' noise dispersions spread {self.spread:.3g} x their sampling spread (from "
                f"{self.low:.3g} to {self.high:.3g} x the Poisson variance: a per-channel detector gain?); the noise "
                f"edge is that of noise with each channel's own dispersion, {self.noise_top:.4g} for "
                f"{self.noise_top_unit:.4g}")


def channel_dispersions(lam: np.ndarray, vecs: np.ndarray, diag: np.ndarray, noise_diag: np.ndarray, r: int,
                        n_rows: int, row_var: float, col_var: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(d, spread): each channel's dispersion ``d_c`` and their robust spread in units of their sampling spread.

    ``lam``, ``vecs``: the top eigenvalues and eigenvectors (columns) of the data Gram ``C``; ``diag``,
    ``noise_diag``: the diagonals of ``C`` and of the simulated noise Gram ``Cn``; ``r``: the rank to take the
    residual past; ``row_var``: the mean squared row weight, ``col_var`` each channel's squared weight.
    ``d_c = (C_cc - sum_k lam_k v_ck^2) / (Cn_cc (1 - sum_k v_ck^2) (1 - r / n_rows))``. Its sampling variance
    (relative): ``2 sum_i m_ic^2 w_i^2 w_c^2 / Cn_cc^2`` for the weighted means ``m`` (the components' energy of the
    channel, the mean row weight for ``w_i``): the residual's squares and the values ``Z^2 = X`` share their
    Poisson part, so only the squared means' term is left (2 / pixels for equal means; measured spread at unit
    gain 0.6-1.1). The spread is ``1.4826 x`` the median absolute deviation of ``(d_c / median - 1)`` over that
    standard deviation: a channel a missed component reaches does not move it. ``(None, nan)`` where fewer than
    :data:`MIN_RANK_CHANNELS` channels can be measured."""
    v = np.asarray(vecs, dtype=float)[:, :r]
    signal = (v * v) @ np.asarray(lam, dtype=float)[:r]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (diag - signal) / (noise_diag * (1.0 - (v * v).sum(axis=1)) * (1.0 - r / n_rows))
        rel_var = 2.0 * row_var * col_var * signal / (noise_diag * noise_diag)
    ok = np.isfinite(d) & np.isfinite(rel_var) & (rel_var > 0) & (noise_diag > 0)
    if np.count_nonzero(ok) < MIN_RANK_CHANNELS:
        return None, float("nan")
    med = float(np.median(d[ok]))
    if not med > 0:
        return None, float("nan")
    z = (d[ok] / med - 1.0) / np.sqrt(rel_var[ok])
    spread = 1.4826 * float(np.median(np.abs(z - np.median(z))))
    return np.where(ok, np.clip(d, 0.0, None), med), spread


def may_scale(lam: np.ndarray, noise_top: float, noise_trace: float, n_rows: int, n_cols: int,
              pa_margin: float = PA_MARGIN) -> bool:
    """Whether the parallel analysis of the spectrum ``lam`` may scale its edge by the dispersion
    (:func:`_parallel_analysis`), and so read :class:`LevelHalves`: a full spectrum (at least 8 values, the
    Marchenko-Pastur bulk's), not counts at unit gain, and not one whose every eigenvalue passed on few values."""
    m = min(n_rows, n_cols)
    lam = np.sort(np.asarray(lam, dtype=float))[::-1][:m]
    if m < 8 or len(lam) < m or not noise_trace > 0:
        return False
    thr = noise_top * (1 + pa_margin)
    if np.count_nonzero(lam > thr) >= m and _each_its_own(lam):
        return False
    return not _unit_gain(lam, thr, noise_trace, n_rows, n_cols)[0]


def _each_its_own(lam: np.ndarray) -> bool:
    """Whether a spectrum whose every eigenvalue passed the unit-gain edge can be read as that many components: on
    few values, where each pixel may hold a spectrum of its own (8-11 pixels of distinct spectra at unit gain, a
    review: rank 8-11, read as a gain 1), not above :data:`ALL_PASSED_MAX`. Above it, the noise is above the counts'
    everywhere: a gain over sparse counts (EELS at 200 counts/pixel over 256 channels, 6 units per electron: 256 of
    256), whose dispersion is then measured."""
    return len(lam) <= ALL_PASSED_MAX


def _unit_gain(lam: np.ndarray, thr: float, noise_trace: float, n_rows: int, n_cols: int):
    """(unit gain, dispersion, rank counted from 0 against the scaled edge or None): the dispersion at the
    unit-gain rank within :data:`DISPERSION_BAND`, and counted from 0 within :data:`GAIN_BAND`."""
    g = dispersion(lam, int(np.count_nonzero(lam > thr)), noise_trace, n_rows, n_cols)
    if not np.isfinite(g) or not 1.0 / DISPERSION_BAND <= g <= DISPERSION_BAND:
        return False, g, None
    # at a rank counted against the unit-gain edge the residual has lost the noise those components took: a gain
    # inside the band over-counts until the rest looks like unit gain (1.1: 35 of 48 cubes over-counted, 1.2:
    # 48 of 48, rank 1-3, 8 x 8 to 32 x 32 pixels). Counted from 0 instead, the residual keeps its noise
    # and shows the gain, and unit-gain counts stay within a narrower band
    r_scaled = _scaled_rank(lam, thr, noise_trace, n_rows, n_cols)
    g = dispersion(lam, r_scaled, noise_trace, n_rows, n_cols)
    return 1.0 / GAIN_BAND <= g <= GAIN_BAND, g, r_scaled


def estimate_rank(
    eigenvalues: np.ndarray,
    n_rows: int,
    n_cols: int,
    trace: float | None = None,
    tw_sigmas: float = TW_SIGMAS,
    max_iter: int = 50,
    noise_top: float | None = None,
    pa_margin: float = PA_MARGIN,
    noise_trace: float | None = None,
    levels: LevelHalves | None = None,
) -> tuple[int, dict]:
    """Number of eigenvalues of ``Xw^T Xw`` above the Marchenko-Pastur noise edge.

    Parameters
    ----------
    eigenvalues : eigenvalues of the Gram matrix (any order); the full spectrum, or the top few with ``trace``.
    n_rows, n_cols : shape of the weighted matrix (kept pixels, kept channels).
    trace : ``||Xw||_F^2``; needed when only the top eigenvalues are known.
    noise_top : largest eigenvalue of the simulated Poisson-noise Gram matrix: parallel analysis.
    noise_trace : trace of that matrix; with the full spectrum, the parallel analysis checks that the data's noise
        is Poisson at unit gain and scales the edge by their dispersion where it is not (:func:`dispersion`), and
        only where ``levels`` (given) show that dispersion in the channels of fewer counts as in those of more.

    Returns
    -------
    rank, evidence : evidence has ``eigenvalues``, ``sigma2``, ``edge``, ``threshold``, ``method``.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    m = min(n_rows, n_cols)
    lam = lam[:m]
    full = len(lam) >= m and m >= 8
    if not full and trace is None and noise_top is None:
        r = elbow(lam) + 1 if len(lam) > 2 else len(lam)
        return r, {"eigenvalues": lam, "sigma2": None, "edge": None, "threshold": None, "method": "elbow"}
    if not full and trace is None:  # a few pixels (or channels): no noise bulk, but the simulated edge holds
        r, pa = _parallel_analysis(lam, float(noise_top), pa_margin, noise_trace if len(lam) >= m else None,
                                   n_rows, n_cols, levels=levels)
        return r, {"eigenvalues": lam, "sigma2": None, **pa, "n_rows": int(n_rows), "n_cols": int(n_cols)}
    r = 0
    seen = set()
    sigma2 = edge = thr = float("nan")
    for _ in range(max_iter):
        n_r, p_r = n_rows - r, n_cols - r
        if n_r < 2 or p_r < 2:
            break
        if full:
            bulk = lam[r:]
            big, small = max(n_r, p_r), min(n_r, p_r)
            sigma2 = float(np.median(bulk)) / (big * mp_median(small / big))
        else:
            sigma2 = max(float(trace) - float(lam[:r].sum()), 0.0) / (n_r * p_r)
        edge, thr = mp_threshold(sigma2, n_r, p_r, tw_sigmas)
        r_new = int(np.count_nonzero(lam > thr))
        if not full:
            r_new = min(r_new, len(lam))
        if r_new == r or r_new in seen:
            r = max(r, r_new)
            break
        seen.add(r)
        r = r_new
    evidence = {
        "eigenvalues": lam,
        "sigma2": sigma2,
        "edge": edge,
        "threshold": thr,
        "tw_sigmas": tw_sigmas,
        "method": "marchenko-pastur-median" if full else "marchenko-pastur-trace",
        "n_rows": int(n_rows),
        "n_cols": int(n_cols),
    }
    if noise_top is not None:
        r, pa = _parallel_analysis(lam, float(noise_top), pa_margin, noise_trace if full else None, n_rows, n_cols,
                                   mp=(sigma2, r) if full else None, levels=levels)
        evidence.update(mp_sigma2=sigma2, mp_edge=edge, mp_threshold=thr, **pa)
    if not full and r >= len(lam):
        evidence["warning"] = f"all {len(lam)} computed eigenvalues are above the noise edge; compute more"
    return r, evidence


def dispersion(eigenvalues: np.ndarray, r: int, noise_trace: float, n_rows: int, n_cols: int) -> float:
    """The data's noise variance over the Poisson variance of their values: the energy outside the top ``r``
    components (the full spectrum's sum beyond them) over the simulated noise's (``noise_trace``: the weighted
    values themselves, as ``Z^2 = X``) times the share of it those components leave, ``(n - r)(p - r) / (n p)``
    (each component takes its own noise with it: on 3 x 3 pixels one takes 1/9). Counts at unit gain give ~1 once
    ``r`` holds the components (measured on ground-truth Poisson cubes, EDS and EELS, 20-5000 counts/pixel:
    0.98-1.01 at the true rank, and on 1 x 3 to 6 x 6 pixel maps); a detector that records ``g`` units per electron
    gives ~``g`` (Velox EELS spectrum images: 0.17)."""
    lam = np.asarray(eigenvalues, dtype=float)
    left = max(n_rows - r, 0) * max(n_cols - r, 0) / max(float(n_rows) * n_cols, 1.0)
    if left <= 0:
        return float("nan")
    return float(max(lam.sum() - lam[:r].sum(), 0.0) / (noise_trace * left))


def _parallel_analysis(lam: np.ndarray, noise_top: float, pa_margin: float, noise_trace: float | None,
                       n_rows: int, n_cols: int, mp: tuple[float, int] | None = None,
                       levels: LevelHalves | None = None) -> tuple[int, dict]:
    """Rank and evidence of the parallel analysis: eigenvalues above the simulated noise edge times
    ``1 + pa_margin``.

    With ``noise_trace`` (the full spectrum known), data whose dispersion at that rank lies outside the band
    [1 / :data:`DISPERSION_BAND`, :data:`DISPERSION_BAND`], or counted from rank 0 outside
    [1 / :data:`GAIN_BAND`, :data:`GAIN_BAND`], are not counts at unit gain (a detector gain, a scaling): noise
    ``g`` times the Poisson variance has ``g`` times the simulated edge, and the rank is the smallest r whose own
    residual's dispersion leaves exactly r eigenvalues above its scaled edge (iterated up from 0: the
    strong components leave the residual first). That needs the noise to be scaled Poisson noise, which is checked
    first: its dispersion by the residual energy (at the smaller of that rank and the Marchenko-Pastur one, ``mp``)
    and by the bulk's median (``mp``'s ``sigma2``) agree within the band. Scaled Poisson noise gives both within
    2-6 % (ground truth at gain 0.2 and 6, Velox EELS 0.172 / 0.169); noise of another shape does not (a read-out
    floor under low counts: 0.39 and 0.22; scaled, its edge ran into the noise, 75 components of 4) and keeps the
    counts' own edge. Nor is the edge scaled where ``levels`` show another dispersion in the channels of fewer counts
    than in those of more (:data:`LEVEL_BAND`: an offset added to the counts passes the first check)."""
    thr = noise_top * (1 + pa_margin)
    r = int(np.count_nonzero(lam > thr))
    pa = {"edge": noise_top, "threshold": thr, "method": "parallel-analysis-poisson", "pa_margin": pa_margin,
          "noise_top": noise_top}
    if noise_trace is None or not noise_trace > 0:
        return r, pa
    g = dispersion(lam, r, noise_trace, n_rows, n_cols)
    pa["noise_trace"] = float(noise_trace)
    pa["dispersion"] = g
    if not np.isfinite(g) and (mp is None or _each_its_own(lam)):  # every eigenvalue passed (no rest to measure)
        return r, pa
    unit, _, r_scaled = _unit_gain(lam, thr, noise_trace, n_rows, n_cols)
    if unit:
        return r, pa
    near_one = r_scaled is not None  # the dispersion at the unit-gain rank lies within DISPERSION_BAND
    g_bulk = g_energy = float("nan")
    if mp is not None and np.isfinite(mp[0]):
        g_bulk = float(mp[0]) * n_rows * n_cols / noise_trace
        g_energy = dispersion(lam, min(r, int(mp[1])), noise_trace, n_rows, n_cols)
    if not (g_bulk > 0 and 1.0 / DISPERSION_BAND <= g_energy / g_bulk <= DISPERSION_BAND):
        if near_one:  # counts near unit gain whose noise cannot be shown to be scaled: read as counts, as before
            return r, pa  # (a 1 x 3 pixel map of unit-gain counts measures 1.064 from rank 0; it has no bulk)
        pa["dispersion_note"] = (
            f"the noise is {g_energy:.3g} x the Poisson variance of the values by its energy, but {g_bulk:.3g} x "
            "by its bulk's median: not scaled Poisson noise, so the edge of counts at unit gain is kept")
        return r, pa
    r_scaled = _scaled_rank(lam, thr, noise_trace, n_rows, n_cols) if r_scaled is None else r_scaled
    if levels is not None:
        g_fewer, g_more = levels.dispersions(min(r_scaled, levels.n_fewer - 1, levels.n_more - 1), n_rows)
        if not (g_fewer > 0 and 1.0 / LEVEL_BAND <= g_more / g_fewer <= LEVEL_BAND):
            pa["level_dispersions"] = [float(g_fewer), float(g_more)]
            pa["dispersion_note"] = (
                f"the noise is {g_fewer:.3g} x the Poisson variance of the values in the channels of fewer counts, "
                f"but {g_more:.3g} x in those of more: not a gain (an offset added to the counts, or a read-out "
                "floor?), so the edge of counts at unit gain is kept")
            return r, pa
    g = dispersion(lam, r_scaled, noise_trace, n_rows, n_cols)
    pa.update(edge=g * noise_top, threshold=g * thr, dispersion=g, dispersion_bulk=g_bulk,
              dispersion_note=(f"the noise is {g:.3g} x the Poisson variance of the values (not counts at unit "
                               "gain: a detector gain or a scaling?); the noise edge is scaled by it"))
    return r_scaled, pa


def _scaled_rank(lam: np.ndarray, thr: float, noise_trace: float, n_rows: int, n_cols: int) -> int:
    """The smallest rank whose own residual's dispersion leaves exactly that many eigenvalues above the edge
    ``thr`` scaled by it (iterated up from 0: the strong components leave the residual first)."""
    r, seen = 0, set()
    while r not in seen:
        seen.add(r)
        r = int(np.count_nonzero(lam > dispersion(lam, r, noise_trace, n_rows, n_cols) * thr))
    return r
