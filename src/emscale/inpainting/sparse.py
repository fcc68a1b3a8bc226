"""Sparsity-regularised compressed-sensing reconstruction of a sparsely scanned image (FISTA with continuation).

With ``y`` the measured values, ``M`` the sampling operator (keep the measured pixels) and ``W`` a Parseval
frame in which the image is sparse (:mod:`.transforms`), the image solves

    min_x  1/2 ||M (x - y)||^2 + lam ||W x||_1

by FISTA (Beck & Teboulle 2009): the gradient step ``z + M (y - z)`` (step 1: ``||M|| = 1``), the
thresholding ``W^T thr_lam(W .)``, and Nesterov's momentum. ``lam`` decreases geometrically from ``lam_max``
to ``lam_min`` over the iterations (continuation: large coefficients are found first, Hale et al. 2008); the
final ``lam_min`` sets how much noise is left and is chosen from the data by hold-out validation -- a seeded
10 % of the measured pixels are hidden, each candidate reconstructs the rest, and the candidate that predicts the
hidden pixels best wins -- so no threshold is tuned to one image or one dose. On a small image one such tenth is a
few dozen pixels and the choice turns on which ones; there the error is pooled over up to ten disjoint tenths.

Local residual: a prior shared by the whole image (the lattice's few Bragg spots) cannot hold what one place has
and the rest has not -- a vacancy, a substituted or extra atom, an amorphous patch. Those stay in the misfit at the
measured pixels, where the measured values are put back, while their unmeasured neighbours keep the average
lattice: a vacancy comes out partly filled with an atom that is not there. :func:`residual_fill` spreads the misfit
from the measured pixels to their neighbours (a normalised convolution at the measured pixels' spacing, shrunk by
a multiple of its robust spread so noise is not spread). The same hold-out decides whether it is applied and how
much it is shrunk, with the prior and threshold, so it runs only where it predicts hidden pixels better.
Before it, and chosen the same way, each atomic column's own intensity can be refitted to its measured pixels
(:mod:`.columns`): the local residual is blind to a column's shape, the column fit is not, so a few measured pixels
anywhere on an empty column's footprint lower the whole column. Neither empties every site: a column seen by too
few measured pixels keeps the lattice's value (on lattices with vacancies at 10-20 %, the fill at empty sites
went from 0.19-0.42 to 0.04-0.24 of a column's height). Not at 10 % on every lattice: a new user's (144 x 144, an
incommensurate 7.3-pixel period, 8 vacancies) kept 0.46-0.50 of a column at its empty sites at 10 % (0.05-0.09 at
20 %), and heavy columns of twice the height came out at 1.34-1.36: at 10 % a site is seen by 0-3 measured pixels
within 2.6 pixels, too few to empty it against the lattice the prior holds there.

The image is reconstructed inside a margin of :data:`MARGIN` unmeasured pixels: the FFT takes an image as periodic,
and a lattice whose period does not divide the image would jump where it wraps, a jump no few coefficients hold.

On a small image (:data:`INTERPOLATION_MAX_PIXELS`) the same hold-out also scores biharmonic interpolation, the
plain method: a smooth particle edge in a 32-pixel crop is held by it better than by any few coefficients, and where
it predicts the hidden pixels better the image is interpolated, so the default is not worse than the plain method
where the data can show it.

Priors: ``"fourier"`` (global FFT: lattices), ``"dct"`` (cycle-spun 16 x 16 block DCT: local structure) and
``"fourier+dct"`` (both, applied in turn at each iteration, as in morphological component analysis: a lattice
with defects and edges).

References
----------
Beck, Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear inverse problems", SIAM J. Imaging
Sci. 2 (2009) 183-202.
Hale, Yin, Zhang, "Fixed-point continuation for l1-minimization", SIAM J. Optim. 19 (2008) 1107-1130.
Elad, Starck, Querre, Donoho, "Simultaneous cartoon and texture image inpainting using morphological component
analysis (MCA)", Appl. Comput. Harmon. Anal. 19 (2005) 340-358.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..core.errors import check_count, check_flag, check_seed, is_number
from ..core.smoothing import normalised_convolution
from ._checks import check_image_and_mask, standardise
from .baselines import nearest
from .biharmonic import biharmonic_operator, symmetric_biharmonic
from .columns import CONTRASTS, column_fill
from .gaps import choose_interpolation, choose_on_runs, far_pixels, interpolate, periodic_scan, run_scan
from .transforms import block_dct_threshold, fourier_threshold

__all__ = ["OPTION_CHECKS", "PRIORS", "check_options", "fista_inpaint", "hold_out", "iterations", "residual_fill",
           "sparse", "spread_misfit"]

PRIORS = ("fourier", "dct", "fourier+dct")
LAM_MAX = 3.0  # in units of the measured values' standard deviation
# 0.0006: on seven real HAADF projections the hold-out picked the grid's lowest value (0.002) at 20-30 % every
# time and at 10 % on six of seven; below it won again (+0.4-0.5 dB at 10 % on four, at most +0.24 elsewhere;
# 0.0002 added nothing more there and lost up to 0.9 dB on synthetic lattices)
LAM_MIN_CANDIDATES = (0.0006, 0.002, 0.006, 0.02, 0.06, 0.2, 0.6)
FALLBACK_LAM_MIN = 0.006  # where no hold-out can be made (fista_inpaint's default)
# Soft thresholding only. Hard thresholding (as in MCA inpainting), tried 2026-12-01 on seven real images and ten
# synthetic ones at 5-30 %: better on some real projections (+1.1 dB on projection 38 at 20 %), worse on lattices
# (-0.2 to -5 dB); offered to the hold-out as a further choice it gained 0.03-0.08 dB on average for twice the
# hold-out's time, and its wrong picks cost up to 0.92 dB (projection 38 at 10 %: +1.10 over biharmonic, below 2)
PRIOR_CANDIDATES = ("fourier", "fourier+dct")
# Biharmonic interpolation (the plain method) is a further candidate of the pooled hold-out on small images, where
# the prior has few measured pixels and a wide margin around it. Measured 2026-12-02 on 534 cases (24-256 pixel crops
# at two places in five real HAADF projections and the Velox HAADF image, lattices with and without vacancies,
# particles, smooth scenes with and without noise; 10, 20, 30 %, two masks each): the prior alone was below
# biharmonic in 102 cases (up to 10.2 dB, 32-pixel crops of a particle's edge). With biharmonic chosen where it
# predicts the pooled folds better: 37 cases below it, mean +0.32 dB; 24-32 pixels +0.85 to +0.93 dB (up to +10.2),
# 48-64 pixels +0.04 to +0.09 (up to +5.0); 17 cases lost 0.1-2.0 dB to a wrong pick. From 96 pixels a side it was
# never picked (186 cases) and cost 0.1-0.6 s. A second set (516 other cases: 16-80 pixel crops of four other
# projections at other places, sums and energy windows of the real Bruker and Velox spectrum images, other lattices
# and smooth scenes, other masks): below biharmonic 111 -> 48, mean +0.25 dB, up to 5.1 dB forgone where the pick
# was wrong; its 80-pixel crops, scored too, 15 -> 6 below it, mean +0.57 dB. A prior is kept on a tie (a constant
# image). Mirroring the measured pixels into the margin instead, tried on 42 cases: -0.6 dB on average.
# 80 -> 128 pixels a side, 2026-12-03, after a reviewer's smooth scenes lost up to 6 dB just above 80 pixels: on 240
# cases of 96-256 pixels (smooth scenes and particles with and without noise, particles with fringes, coins, lattices
# of 7 and 20 pixels and a crystal edge; random 5-30 % and line-hopping 5-10 % scans) and 48 of six real HAADF
# projections and two 128-pixel crops, up to 128 pixels: smooth images +0.01 -> +0.28 dB over biharmonic on average
# (below it 43 -> 23 of 120, worst -8.1 -> -5.2; 3 lost more than 0.5 dB to a wrong pick, up to 2.2), lattices
# +6.51 -> +6.53, the real images +1.35 -> +1.35, none lost 0.5 dB. Up to 256 pixels the real projections lost: +1.35
# -> +1.26 (line-hopping scans, up to 2.6 dB to a wrong pick), for 0.8 -> 3 s at 5 %
INTERPOLATION = "biharmonic"
INTERPOLATION_MAX_PIXELS = 128 * 128
_PLAIN = (INTERPOLATION, None, False, None)  # its key among the hold-out's (prior, lam_min, columns, shrink)
COLUMN_CANDIDATES = (False, *CONTRASTS)  # no column refit, or one of bright / dark columns
# the local residual's shrink, in robust spreads of the spread misfit; None: not applied. On 15 lattices with
# vacancies, substitutions, adatoms, a particle edge and an amorphous patch (noise-free, 100 and 20 counts per
# column, 10-30 %) the hold-out's pick over this grid gained 1.2 dB on average over the prior alone, on seven real
# HAADF projections 0.27 dB
RESIDUAL_CANDIDATES = (None, 0.0, 1.0, 2.0, 4.0)
RESIDUAL_WIDTH = 0.7  # of smooth_fill's width: the spread misfit stays within about one sampling distance
HOLDOUT = 0.1  # share of the measured pixels hidden to choose the prior and lam_min
# the choice is made on a central crop of at most this many pixels a side. The whole of a 256 x 256 image
# (256) chose better by 0.03 dB on average on seven real HAADF projections and 0.10 dB on 15 defect lattices
# (at most 0.67 dB: a particle whose vacuum lies outside the crop), for 1.5 x the time
CV_SIZE = 192
# unmeasured pixels around the image in every reconstruction (fista_inpaint). Against none, on 99 cases (seven real
# HAADF projections, 26 synthetic lattices with and without defects, 10-30 %): whole image +0.15 dB on average on the
# real projections (-0.16 to +0.57), +1.4 and +6.6 dB on two sets of lattices (an incommensurate lattice up to +33;
# one that tiles the image exactly, the only periodic image, 79.6 -> 67.3 dB at 10 %); 24 pixels: about the same
# gains for 1.3 x the time of 16
MARGIN = 16
# the iterations' precision: the FFT, the block DCT and the thresholds run 1.8 x faster in float32. Against float64
# on the 99 cases above (10-30 %): no hold-out choice changed and the whole-image PSNR moved by at most 0.005 dB
# (noise-free lattices at 60-94 dB included); the result is returned in float64
WORKING_DTYPE = np.float32
# FISTA iterations of a scan (n_iter="auto"): in proportion to the spacing of its measured pixels, 60 at 10 %. A
# fixed 60 was measured best at 10 % and kept at every fraction, but the geometric schedule's last iterations at small
# thresholds fit noise into the gaps where they are narrow. Measured 2026-12-05 on six real HAADF projections (0, 12,
# 38, 50, 64, 76), the Velox HAADF image and three lattices, two masks each, against a fixed 60 (gain over biharmonic):
# 5 % (85 iterations) +3.03 -> +3.38 dB on average, worst image -0.48 -> +0.38; 20 % (42) +2.94 -> +3.27, worst
# +1.27 -> +1.58; 30 % (35) +2.40 -> +2.63, worst +1.31 -> +1.60; no case lost more than 0.23 dB (lattices at 5 %),
# the projections gained 0.2-1.1 dB. The hold-out choosing among 30, 40, 45 and 60 instead did no better on 56 of
# those cases (0.04 dB below the rule on average, from 1.1 below to 0.4 above) for about 3 x the hold-out's time
ITERATIONS_AT_TENTH = 60
# ... except where the image is exactly what the prior holds (a noise-free lattice that tiles the image: 80 -> 69 dB
# at 20 %), which the longer run recovers and the hold-out shows by a large factor (5 there); on the real images
# above the two runs' held-out errors were within 15 % of each other
CONVERGED_GAIN = 0.5
MOST_ITERATIONS = 160  # 1.4 %; below it the count stays there (unmeasured: the cost would grow without bound)
FEWEST_ITERATIONS = 20
# The hold-out's candidates run the reconstruction's own count on small images too. Fewer, tried 2026-12-07 to cut a
# 128 x 128 image's 2-4 s (images of at most 128 x 128: the Velox HAADF image, 64 and 96 pixel crops of it, of real
# projections 20 and 38 and of a lattice; random and line-hopping scans at 5 and 10 %, two masks each): half of them
# left the priors unconverged, and the pooled hold-out chose biharmonic interpolation or larger thresholds (39 cases:
# median 0.00 dB, crops of the projections down to -1.5, the lattice line-hopped at 10 % -3.7); 60 in place of 85-90
# at 5 % still lost up to 1.1 dB (23 cases: biharmonic chosen on crops of the projections)


def _denoiser(prior: str, kind: str, block: int):
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")

    step = block // 4
    cycle = [(dy, dx) for dy in range(0, block, step) for dx in range(0, block, step)]
    # a fixed stride through the shifts so consecutive iterations use distant grids
    order = [cycle[(i * 7) % len(cycle)] for i in range(len(cycle))]

    def den(x, lam, it):
        if "fourier" in prior:
            x = fourier_threshold(x, lam, kind)
        if "dct" in prior:
            x = block_dct_threshold(x, lam, block, kind=kind, shifts=[order[it % len(order)]])
        return x

    return den


def fista_inpaint(
    y,
    mask,
    x0,
    prior="fourier+dct",
    lam_min=FALLBACK_LAM_MIN,
    n_iter=60,
    kind="soft",
    block=16,
    momentum=True,
    margin=None,
) -> np.ndarray:
    """FISTA iterations with a geometric threshold schedule on standardised data.

    Parameters
    ----------
    y : (rows, columns) standardised measured values (0 where unmeasured); mask : bool, True = measured.
    x0 : (rows, columns) start (an interpolation of ``y``, e.g. :func:`smooth_fill`). ``mask`` and ``x0`` may be
        stacks (n, rows, columns) reconstructed image by image in one run (the hold-out's folds), ``y`` one image
        or a stack.
    prior, kind, block : the frame (:data:`PRIORS`), ``"hard"`` or ``"soft"`` thresholding, the DCT block size.
    lam_min, n_iter : last threshold and number of iterations (``lam`` from :data:`LAM_MAX` down to ``lam_min``).
    margin : unmeasured pixels added on every side (None: :data:`MARGIN`). The Fourier prior sees the image as
        periodic; a lattice whose period does not divide the image jumps where the image wraps, and that jump
        spreads over every Fourier coefficient. In a free margin the jump falls where nothing is measured.

    Returns
    -------
    (rows, columns), or (n, rows, columns) for stacks, float64: the last thresholded iterate (measured pixels not
    reinserted). The iterations run in :data:`WORKING_DTYPE` (float32).
    """
    pad = MARGIN if margin is None else margin
    check_count("margin", pad, "unmeasured pixels on every side; None: MARGIN", minimum=0)
    _check_n_iter(n_iter)
    pad = int(pad)
    y, x0 = np.asarray(y, dtype=WORKING_DTYPE), np.asarray(x0, dtype=WORKING_DTYPE)
    if pad:
        def widths(a):  # the last two axes: a stack of images (one a hold-out fold) is padded image by image
            return [(0, 0)] * (a.ndim - 2) + [(pad, pad)] * 2

        y, mask, x0 = np.pad(y, widths(y)), np.pad(mask, widths(mask)), np.pad(x0, widths(x0), mode="edge")
    den = _denoiser(prior, kind, block)
    lams = (LAM_MAX * (lam_min / LAM_MAX) ** (np.arange(n_iter) / max(n_iter - 1, 1))).tolist()
    x_prev = x0
    z = x0
    t = 1.0
    for it, lam in enumerate(lams):
        x = den(np.where(mask, y, z), lam, it)
        if momentum:
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            z = x + ((t - 1.0) / t_next) * (x - x_prev)
            t = t_next
        else:
            z = x
        x_prev = x
    return x_prev[..., pad : x_prev.shape[-2] - pad, pad : x_prev.shape[-1] - pad].astype(np.float64)


def _spread(values, mask, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian normalised convolution of the values at the measured pixels: (spread values, where defined)."""
    spread, weight = normalised_convolution(values, mask, sigma, mode="reflect", floor=1e-3)
    return spread, weight > 1e-3


def _spacing(mask) -> float:
    return max(0.7, 0.5 / np.sqrt(mask.mean()))


def iterations(mask) -> int:
    """FISTA iterations for a scan of ``mask`` (``n_iter="auto"``): :data:`ITERATIONS_AT_TENTH` times the spacing of
    its measured pixels relative to that of a 10 % scan, within [:data:`FEWEST_ITERATIONS`,
    :data:`MOST_ITERATIONS`]."""
    fraction = max(float(np.mean(mask)), 1e-12)
    return int(np.clip(round(ITERATIONS_AT_TENTH * np.sqrt(0.1 / fraction)), FEWEST_ITERATIONS, MOST_ITERATIONS))


def smooth_fill(y, mask) -> np.ndarray:
    """A cheap start: Gaussian normalised convolution of the measured values (width ~ the mean spacing of the
    measured pixels), nearest-neighbour where no measured pixel is near."""
    v, ok = _spread(y, mask, _spacing(mask))
    return np.where(ok, v, nearest(y, mask))


def spread_misfit(y, mask, x) -> tuple[np.ndarray, float]:
    """The misfit of ``x`` at the measured pixels (``y - x``) spread to their unmeasured neighbours (zero where no
    measured pixel is within a few widths), and its robust spread (1.4826 x its median absolute value: defects
    are few, so the median reads the noise)."""
    r, _ = _spread(y - x, mask, RESIDUAL_WIDTH * _spacing(mask))
    return r, 1.4826 * float(np.median(np.abs(r)))


def residual_fill(y, mask, x, shrink: float, misfit=None) -> np.ndarray:
    """``x`` plus its spread misfit (:func:`spread_misfit`, or ``misfit`` where already computed),
    soft-thresholded at ``shrink`` times its robust spread; 0 keeps all of it."""
    r, spread = spread_misfit(y, mask, x) if misfit is None else misfit
    return x + np.sign(r) * np.maximum(np.abs(r) - shrink * spread, 0.0)


def _with_residual(y, mask, x, shrink, misfit=None) -> np.ndarray:
    return x if shrink is None else residual_fill(y, mask, x, shrink, misfit)


def _with_columns(y, mask, x, columns) -> tuple[np.ndarray, object]:
    """``x`` refitted with bright or dark columns (``columns`` one of :data:`.columns.CONTRASTS`) or as it is
    (False), and what ran: the contrast, False, or "no lattice" where asked for and ``x`` shows none."""
    if not columns:
        return x, False
    xc = column_fill(y, mask, x, columns)
    return (x, "no lattice") if xc is None else (xc, columns)


def _only(candidates, default):
    """A caller's single candidate is kept; of several, the default (where no hold-out can choose)."""
    return candidates[0] if len(candidates) == 1 else default


def _crop(shape, size):
    sl = []
    for n in shape:
        c = min(n, size)
        a = (n - c) // 2
        sl.append(slice(a, a + c))
    return tuple(sl)


def _holdout_crop(mask):
    """The :data:`CV_SIZE` window the hold-out is made on: the central one, unless it holds fewer than
    :data:`MIN_HOLDOUT_PIXELS` measured pixels while the image holds more (a given or dynamic pattern measured away
    from the centre): then the window, at steps of a quarter of its side, that holds the most."""
    crop = _crop(mask.shape, CV_SIZE)
    if np.count_nonzero(mask[crop]) >= MIN_HOLDOUT_PIXELS or np.count_nonzero(mask) < MIN_HOLDOUT_PIXELS:
        return crop
    sides = [min(n, CV_SIZE) for n in mask.shape]
    starts = [sorted({*range(0, n - c + 1, max(1, c // 4)), n - c}) for n, c in zip(mask.shape, sides, strict=True)]
    table = np.pad(np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1), ((1, 0), (1, 0)))

    def held(y, x):
        (cy, cx) = sides
        return int(table[y + cy, x + cx] - table[y, x + cx] - table[y + cy, x] + table[y, x])

    y, x = max(((y, x) for y in starts[0] for x in starts[1]), key=lambda p: (held(*p), -p[0], -p[1]))
    return slice(y, y + sides[0]), slice(x, x + sides[1])


MIN_HOLDOUT_PIXELS = 20  # measured pixels in the crop below which no single hold-out split is made


def _too_few(n: int) -> str:
    """A choice's ``chosen_by`` where fewer than ``n`` measured pixels made no hold-out."""
    return f"defaults: fewer than {n} measured pixels in the hold-out's {CV_SIZE}-pixel window"


TOO_FEW_TO_HOLD_OUT = _too_few(MIN_HOLDOUT_PIXELS)
# ... and below which the pooled folds of choose_prior are not made either: down to it, every fold hides one pixel
# (at most one fold a measured pixel). Measured 2026-12-03 on 192 cases with 8-19 measured pixels (24 and 48 pixel
# crops of four real HAADF projections, a 32-pixel crop of the Velox HAADF image and its 16 x 20 DF-S image, three
# synthetic lattices whole and cropped; four masks each): the defaults that ran there (the last prior, no biharmonic)
# were below biharmonic by more than 0.5 dB in 66 cases, on average by 6.3 dB on DF-S and 5.1-9.4 dB on the 24-pixel
# crops; with the folds 13 cases, mean over all -0.40 -> +0.93 dB (lattices +2.2 -> +2.1, 24-pixel crops -5.7 ->
# -0.4). A floor of 10 left 29 cases below biharmonic. Only where biharmonic is a candidate (images of at most
# INTERPOLATION_MAX_PIXELS, whose window is the whole image): on a 256 x 256 image 12 measured pixels took 0.8 -> 12.6 s
# (ten folds of the 192-pixel window) for +0.05 dB, and the priors alone are what the defaults already choose from
MIN_POOLED_PIXELS = 5


def pooled_minimum(interpolation: bool) -> int:
    """The fewest measured pixels in the window :func:`choose_prior` pools its folds over: :data:`MIN_POOLED_PIXELS`
    where biharmonic interpolation is a candidate, else :data:`MIN_HOLDOUT_PIXELS`."""
    return MIN_POOLED_PIXELS if interpolation else MIN_HOLDOUT_PIXELS


def too_few_to_pool(interpolation: bool) -> str:
    """The choice's ``chosen_by`` where :func:`choose_prior` made no folds."""
    return _too_few(pooled_minimum(interpolation))
# pixels hidden in all, over disjoint folds, before a choice is trusted (at most MAX_FOLDS folds): one fold of a 256 x
# 256 image at 10 % hides 368, of a 64 x 64 one 40. On 153 small images (32-96 pixel crops of real HAADF projections
# and of 11 lattices, sums of real spectrum images; 10-30 %; hold-out seeds 0-4) against one fold: +0.34 dB on
# average over the seeds (32-pixel HAADF crops +1.3; one case -0.85), the worst seed +0.89 dB, the spread over the
# seeds 1.42 -> 0.52 dB
MIN_HIDDEN_PIXELS = 200
# up to all ten disjoint tenths of the measured pixels, hidden in turn: more than five where a tenth holds fewer than
# 40 pixels (under 400 measured in the hold-out's window; it was at most five). On 432 crops of nine real HAADF
# projections (16-48 pixels, 10-30 %, two masks, two places), with biharmonic a candidate: below biharmonic 76 -> 49
# cases; mean +0.19 / +0.33 / +0.32 dB at 16 / 24 / 32 pixels (up to +7.9, down to -4.3 where the pooled choice moved
# to a worse candidate), -0.05 dB at 48 pixels (only its 10 % masks change); 0.20-0.27 -> 0.35-0.46 s a reconstruction
MAX_FOLDS = 10
# The "crossfit" hold-out (holdout="crossfit", where biharmonic is a candidate): the prior is chosen on the pooled
# folds as by "pooled" (the same pick), but set against biharmonic only on folds that did not choose it -- the pooled
# folds cross-fitted (the best of the candidates already scored, chosen on every other fold, scored on the folds
# between, and the other way round; no further solve) and the folds after them, every measured pixel hidden once
# (:func:`all_folds`), on which the pick itself is reconstructed, one solve a fold, until the differences' mean is
# STOP_SE standard errors from zero (from MIN_STOP_FOLDS of them). The prior is kept where that mean is at most
# zero. The pooled rule set the best of ~50 candidates, scored on the folds that chose it, against biharmonic.
# Replayed 2026-12-07 on the captured per-fold errors of two sets against "pooled" (gain over biharmonic; cases
# more than 0.1 dB below it): 176 cases (/tmp/cs65: six natural images, three real HAADF, a smooth field and a
# lattice at 64 and 128 pixels, 5-30 %, two masks) +1.634 -> +1.689 dB, below 22 -> 12, worst -3.31 -> -1.72 (7
# cases lost more than 0.1 dB, 16 gained), real HAADF +1.03 -> +1.13; a review's 54 (grains with Poisson noise, a
# noisy lattice, a step edge at 24-64 pixels, 5-30 %) +5.426 -> +5.458, below 1 -> 0 (a step edge at 24 pixels, 5 %:
# -2.31 -> 0), one lost 0.61 dB (the step edge at 10 %). Cross-fitting alone, with no folds after the pooled ones,
# gave the review's gain but lost on the 176 (+1.625, below 19). A margin of 0.5 standard errors (or a t quantile
# of the folds' count at 0.6, or 1 / sqrt(count)) left 6-11 of the 176 below, but sent two of the review's grains at
# 24-40 pixels to biharmonic (+5.384: below main): its folds are ten everywhere, so no margin that follows their
# count could keep both; -0.5 gained nothing on either
STOP_SE = 3.0
MIN_STOP_FOLDS = 3
HOLDOUTS = ("crossfit", "pooled")


def hold_out(mask, seed=0, fold=0, minimum=MIN_HOLDOUT_PIXELS):
    """The seeded hold-out every choice here is made on: ``(crop, fit, hide)`` with ``crop`` the slices of the
    :data:`CV_SIZE` window (:func:`_holdout_crop`: the central one unless it holds too few measured pixels),
    ``fit`` its mask without the hidden pixels and ``hide`` the flat indices (in the crop) of the :data:`HOLDOUT`
    share of its measured pixels hidden; None where the crop has fewer than :data:`MIN_HOLDOUT_PIXELS` measured
    pixels (``minimum``; :data:`MIN_POOLED_PIXELS` for the pooled folds). ``fold`` k hides the k-th such share of
    the same seeded permutation (folds are disjoint; fold 0 is the plain hold-out)."""
    crop = _holdout_crop(mask)
    mc = mask[crop]
    idx = np.flatnonzero(mc)
    if len(idx) < minimum:
        return None
    check_count("fold", fold, "which disjoint tenth of the measured pixels is hidden", minimum=0)
    h = _fold_size(len(idx))
    if not fold < len(idx) // h:
        raise ValueError(f"fold must be in [0, {len(idx) // h}) for {len(idx)} measured pixels, got {fold!r}")
    hide = np.random.default_rng(seed).permutation(idx)[fold * h : (fold + 1) * h]
    fit = mc.copy()
    fit.flat[hide] = False
    return crop, fit, hide


def n_folds(mask, minimum: int = MIN_HOLDOUT_PIXELS) -> int:
    """How many disjoint hold-out folds make at least :data:`MIN_HIDDEN_PIXELS` hidden pixels (at most
    :data:`MAX_FOLDS`, and at most as many as there are measured pixels to hide): one on a large image, more on a
    small one, where one fold's few pixels make a noisy choice; 0 under ``minimum`` measured pixels in the window
    (:func:`pooled_minimum`)."""
    n = int(np.count_nonzero(mask[_holdout_crop(mask)]))
    if n < minimum:
        return 0
    return int(np.clip(-(-MIN_HIDDEN_PIXELS // _fold_size(n)), 1, min(MAX_FOLDS, n // _fold_size(n))))


def _fold_size(n_measured: int) -> int:
    return max(1, int(HOLDOUT * n_measured))  # hidden pixels in one fold


def choose_prior(
    y,
    mask,
    seed=0,
    priors=PRIOR_CANDIDATES,
    lam_mins=LAM_MIN_CANDIDATES,
    n_iter=60,
    residuals=RESIDUAL_CANDIDATES,
    columns=COLUMN_CANDIDATES,
    interpolation=False,
    holdout="pooled",
    evidence=None,
):
    """(prior, lam_min, columns, residual shrink) of the candidate that best predicts a seeded hold-out of the
    measured pixels (pooled over :func:`n_folds` disjoint folds).

    ``y``: standardised measured values (rows, columns); ``mask``: bool. Runs on a crop of at most
    :data:`CV_SIZE` a side (:func:`hold_out`), with the iterations the reconstruction itself will run
    (``n_iter``: a shorter run leaves the small thresholds unconverged and picks a larger one than the full run
    needs -- 0.006 against 0.0006 on two real HAADF projections at 10 %, 0.3-0.7 dB lost). Each (prior, lam_min)
    is reconstructed once and scored without and with its column refits (:func:`.columns.column_fill`, bright and
    dark columns; a refit the crop shows no lattice for is not scored where the plain candidate (False) is) and
    with every residual shrink (:func:`residual_fill`; None: not applied). Returns the winning tuple and the table
    ``{(prior, lam_min, columns, shrink): held-out MSE}``, empty where :func:`hold_out` makes none: then each
    single candidate given is kept, and otherwise the last prior, :data:`FALLBACK_LAM_MIN`, no column refit and no
    residual are returned. ``interpolation``: biharmonic interpolation of the folds is scored as well, under the key
    ``(INTERPOLATION, None, False, None)``; where it wins that tuple is returned. ``holdout`` (with
    ``interpolation``): ``"pooled"`` sets the best prior against biharmonic on the folds that chose it;
    ``"crossfit"`` on folds that did not (:func:`prior_or_plain`), the table staying the pooled one, and
    ``evidence`` (a dict, where given) gets what :func:`prior_or_plain` found."""
    least = pooled_minimum(interpolation)
    splits = [hold_out(mask, seed, k, least) for k in range(n_folds(mask, least))]
    if not splits:
        return (priors[-1], _only(lam_mins, FALLBACK_LAM_MIN), _only(columns, False), _only(residuals, None)), {}
    crop = splits[0][0]
    yc = y[crop]
    folds = [(fit, hide, np.where(fit, yc, 0.0)) for _, fit, hide in splits]
    scores, errors = _grid(yc, folds, priors, lam_mins, n_iter, residuals, columns)
    best = min(scores, key=lambda k: (scores[k], str(k)))
    if interpolation:
        # the folds' interpolation solved in the symmetric mode (:mod:`.biharmonic`: the same values to 1e-9, half
        # the time); the image itself, where it wins, is interpolated by scikit-image
        plain = [float(np.sum((symmetric_biharmonic(yfit, fit).flat[hide] - yc.flat[hide]) ** 2))
                 for fit, hide, yfit in folds]
        scores[_PLAIN] = sum(plain) / sum(len(hide) for _, hide, _ in folds)
        found = {"difference": None}
        if holdout == "crossfit":
            found = prior_or_plain(y, mask, seed, best, errors, plain, [hide for _, hide, _ in folds], n_iter)
            if evidence is not None:
                evidence.update(found)
        if found["difference"] is not None:
            best = best if found["difference"] <= 0.0 else _PLAIN  # a tie keeps the prior (a constant image)
        elif scores[_PLAIN] < scores[best]:  # strictly: on a tie (a constant image) the prior runs as it did
            best = _PLAIN
    return best, scores


def _grid(yc, folds, priors, lam_mins, n_iter, residuals, columns):
    """The candidates' held-out errors on the folds ``[(fit, hide, yfit)]`` of the crop ``yc``: ``{key: pooled
    MSE}`` and ``{key: [SSE of each fold]}``, the thresholds searched locally (:func:`choose_prior`)."""
    # the folds run as one stack through the solver (one transform call a stack, not a fold: small images are
    # many short calls), the same bits as one at a time
    fits = np.stack([fit for fit, _, _ in folds])
    starts = np.stack([smooth_fill(yfit, fit) for fit, _, yfit in folds])
    scores, errors = {}, {}

    def score(prior, lam) -> float:
        sse, seen, each = {}, {}, {}
        xs = fista_inpaint(yc, fits, starts, prior=prior, lam_min=lam, n_iter=n_iter)
        for x, (fit, hide, yfit) in zip(xs, folds, strict=True):
            for col in columns:
                xc, ran = _with_columns(yfit, fit, x, col)
                if ran == "no lattice" and False in columns:  # the same x is scored as the plain candidate
                    continue
                misfit = spread_misfit(yfit, fit, xc) if any(r is not None for r in residuals) else None
                for shrink in residuals:
                    xr = _with_residual(yfit, fit, xc, shrink, misfit)
                    key = (prior, lam, col, shrink)
                    err = float(np.sum((xr.flat[hide] - yc.flat[hide]) ** 2))
                    sse[key] = sse.get(key, 0.0) + err
                    seen[key] = seen.get(key, 0) + len(hide)
                    each.setdefault(key, []).append(err)
        # pooled over the folds; a column refit that found no lattice in some fold is not scored at all
        total = sum(len(hide) for _, hide, _ in folds)
        mine = {k: v / total for k, v in sse.items() if seen[k] == total}
        scores.update(mine)
        errors.update({k: each[k] for k in mine})
        return min(mine.values(), default=np.inf)

    for prior in priors:
        # a local search along the threshold grid: every other threshold, then the neighbours of the best until
        # both of its neighbours are scored -- 5 of 7 reconstructions where the best is inside the grid. On 288
        # held-out curves (real HAADF projections and lattices with defects, 10-30 %) it found the grid's best in
        # 282 and came within 4.3 % of its error in the other six
        tried = {i: score(prior, lam_mins[i]) for i in range(1 if len(lam_mins) > 2 else 0, len(lam_mins), 2)}
        while True:
            b = min(tried, key=lambda i: (tried[i], i))
            todo = [i for i in (b - 1, b + 1) if 0 <= i < len(lam_mins) and i not in tried]
            if not todo:
                break
            tried.update({i: score(prior, lam_mins[i]) for i in todo})
    return scores, errors


def all_folds(mask, minimum: int = MIN_POOLED_PIXELS) -> int:
    """How many disjoint folds the measured pixels of the hold-out's window make: every one hidden once
    (:data:`MAX_FOLDS` at most); 0 under ``minimum``."""
    n = int(np.count_nonzero(mask[_holdout_crop(mask)]))
    return 0 if n < minimum else min(MAX_FOLDS, n // _fold_size(n))


def prior_or_plain(y, mask, seed, chosen, errors, plain, hidden, n_iter) -> dict:
    """The evidence of the hold-out's ``"crossfit"`` rule (:data:`HOLDOUTS`) on the prior ``chosen`` against
    biharmonic interpolation: ``{"folds", "difference", "se"}``.

    ``chosen`` is the best of the pooled folds, whose SSEs are ``errors`` (``{key: [SSE a fold]}``, every candidate
    scored), biharmonic's ``plain``, their hidden pixels ``hidden``. Each fold's difference of mean squared errors
    (a prior's less biharmonic's) is taken where the prior was chosen without it: on the pooled folds cross-fitted
    (the best of ``errors`` on the even folds scored on the odd ones, and the other way round), then on the folds
    after them with ``chosen`` reconstructed (one solve a fold), until their mean is :data:`STOP_SE` standard errors
    from zero (from :data:`MIN_STOP_FOLDS` of them) or every measured pixel was hidden once. The evidence: those
    differences' count, mean and standard error (standardised values); the mean None where there is no such fold
    (one pooled fold and no other). :func:`choose_prior` keeps the prior where the mean is at most zero."""
    diffs = []
    if len(hidden) > 1:
        halves = (list(range(0, len(hidden), 2)), list(range(1, len(hidden), 2)))
        for pick_on, score_on in (halves, halves[::-1]):
            total = sum(len(hidden[k]) for k in pick_on)
            key = min(errors, key=lambda q: (sum(errors[q][k] for k in pick_on) / total, str(q)))
            diffs += [(errors[key][k] - plain[k]) / len(hidden[k]) for k in score_on]
    crop = _holdout_crop(mask)
    yc = y[crop]
    prior, lam, col, shrink = chosen
    operator = None
    for k in range(len(hidden), all_folds(mask)):
        if len(diffs) >= MIN_STOP_FOLDS:
            mean, se = _mean_se(diffs)
            if abs(mean) > STOP_SE * se:  # a clear case
                break
        if operator is None:  # built once; each further fold's biharmonic system is a slice of it
            operator = biharmonic_operator(yc.shape)
        _, fit, hide = hold_out(mask, seed, k, MIN_POOLED_PIXELS)
        yfit = np.where(fit, yc, 0.0)
        x = fista_inpaint(yc, fit, smooth_fill(yfit, fit), prior=prior, lam_min=lam, n_iter=n_iter)
        xr = _with_residual(yfit, fit, _with_columns(yfit, fit, x, col)[0], shrink)
        err = float(np.sum((xr.flat[hide] - yc.flat[hide]) ** 2))
        bih = float(np.sum((symmetric_biharmonic(yfit, fit, operator).flat[hide] - yc.flat[hide]) ** 2))
        diffs.append((err - bih) / len(hide))
    if not diffs:
        return {"folds": 0, "difference": None, "se": None}
    mean, se = _mean_se(diffs)
    return {"folds": len(diffs), "difference": mean, "se": se}


def _mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the folds' differences (0 for one fold: no spread to read)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else 0.0)


def _check_prior(prior) -> None:
    if prior != "auto" and prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; choose 'auto' or one of {', '.join(PRIORS)}")


def _check_lam_min(lam_min) -> None:
    if lam_min is not None and not (is_number(lam_min) and 0 <= lam_min < np.inf):
        raise ValueError(f"lam_min must be None (by the hold-out) or a finite threshold >= 0, got {lam_min!r}")


def _check_residual(residual) -> None:
    if residual not in ("auto", None) and not (is_number(residual) and 0 <= residual < np.inf):
        raise ValueError(f"residual must be 'auto', None or a finite shrink >= 0, got {residual!r}")


def _check_columns(columns) -> None:
    if isinstance(columns, np.bool_):
        columns = bool(columns)
    if not (isinstance(columns, bool) or columns in ("auto", *CONTRASTS)):  # 1 is not True here
        raise ValueError(f"columns must be 'auto', True, False, 'bright' or 'dark', got {columns!r}")


def _check_far_gaps(far_gaps) -> None:
    if isinstance(far_gaps, np.bool_):
        far_gaps = bool(far_gaps)
    if not (isinstance(far_gaps, bool) or far_gaps == "auto"):
        raise ValueError(f"far_gaps must be 'auto', True or False, got {far_gaps!r}")


def _check_holdout(holdout) -> None:
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout must be one of {', '.join(map(repr, HOLDOUTS))}, got {holdout!r}")


def _check_n_iter(n_iter) -> None:
    # 0 returned the smooth start (18.9 dB against 27.0 on a lattice at 20 %) and said the hold-out chose it
    if isinstance(n_iter, str) and n_iter == "auto":
        return
    check_count("n_iter", n_iter, "FISTA iterations, or 'auto'")


# each option of sparse() and its check: one place for what it accepts (a recipe checks its params with them)
OPTION_CHECKS = {
    "prior": _check_prior,
    "lam_min": _check_lam_min,
    "n_iter": _check_n_iter,
    "keep_measured": lambda v: check_flag("keep_measured", v),
    "residual": _check_residual,
    "columns": _check_columns,
    "far_gaps": _check_far_gaps,
    "holdout": _check_holdout,
}


def check_options(**options) -> None:
    """Options of :func:`sparse` (any of :data:`OPTION_CHECKS`, by name), each checked: an error naming it."""
    for name, value in options.items():
        OPTION_CHECKS[name](value)


def sparse(
    image,
    mask,
    prior: str = "auto",
    lam_min: float | None = None,
    n_iter: int | str = "auto",
    seed: int = 0,
    keep_measured: bool = True,
    residual: float | str | None = "auto",
    columns: bool | str = "auto",
    far_gaps: bool | str = "auto",
    holdout: str = "crossfit",
    return_choice: bool = False,
):
    """Compressed-sensing reconstruction of a sparsely scanned image under a sparsity prior.

    Parameters
    ----------
    image : (rows, columns) values; only those where ``mask`` is True are read.
    mask : (rows, columns) bool, True = measured.
    prior : ``"fourier"``, ``"dct"``, ``"fourier+dct"`` or ``"auto"`` (chosen with ``lam_min`` by hold-out
        validation, :func:`choose_prior`). On an image of at most :data:`INTERPOLATION_MAX_PIXELS` pixels ``"auto"``
        also scores biharmonic interpolation, the plain method, on the same folds; where it predicts the hidden
        pixels better the image is interpolated and the choice's ``"prior"`` says ``"biharmonic"``.
    lam_min : final threshold in units of the measured values' standard deviation; None: by hold-out validation.
    n_iter : FISTA iterations; ``"auto"``: in proportion to the measured pixels' spacing (:func:`iterations`: 60 at
        10 %, 42 at 20 %, 85 at 5 %).
    seed : seed of the hold-out choice; the result is bit-identical for the same seed.
    keep_measured : put the measured values back into the result (else the denoised model everywhere). Keep
        them where the raw scan is the reference; at a few counts per pixel the model is closer to the sample
        than the counts are (a held-out lattice at 10 counts per column, 20 % measured: 22.9 dB against the
        noise-free image with them kept, 36.1 dB without).
    residual : the local residual (:func:`residual_fill`: what the prior cannot hold, such as a vacancy, spread
        from the measured pixels to their neighbours): ``"auto"`` (by the hold-out, with the prior and
        threshold), None (off) or a shrink in robust spreads (0 keeps all of it).
    columns : refit each atomic column's intensity to its measured pixels (:mod:`.columns`: an empty site is
        emptied, a heavy one kept heavy): ``"auto"`` (by the hold-out, with bright or dark columns), ``"bright"``
        (ADF, HAADF; also True), ``"dark"`` (bright-field) or False. Where the reconstruction shows no lattice it
        is not applied, and the choice says so (``"no lattice"``).
    far_gaps : a scan that leaves gaps wider than a random one of the same fraction (an unscanned block, the regions
        a dynamic scan skipped; :mod:`.gaps`), or gaps across the rows between a line-hopping scan's runs, may be
        better filled by plain interpolation: ``"auto"`` uses biharmonic interpolation for the whole image where a
        hold-out on hidden discs as wide as those gaps finds it predicts better than the prior, and for a
        line-hopping scan the blend of the prior and interpolation that predicts hidden whole runs best (the
        prior's share in ``far_gaps_evidence["prior_share"]``); True interpolates there always, False never.
    holdout : how the hold-out decides between the prior it chose and biharmonic interpolation where both are
        candidates: ``"crossfit"`` on folds that did not choose the prior (:func:`prior_or_plain`; the evidence in
        ``"holdout_evidence"``) or ``"pooled"`` on the folds that did (the rule before 2026-12-07). Both choose the
        same prior; where they decide alike the result is the same.
    return_choice : also return ``{"prior", "lam_min", "n_iter", "columns", "residual", "chosen_by", "folds",
        "far_gaps"}``:
        what ran, who chose it (``"hold-out"``, ``"caller"``, or the defaults where too few pixels are measured to
        hold out), over how many hold-out folds (0: none), and what was done with far gaps (``"none"`` for a
        random-like scan or an image under 32 pixels a side, ``"interpolated"``, ``"blended"``, ``"kept"``,
        ``"off"``; their evidence in ``"far_gaps_evidence"``). An interpolated image keeps its measured values
        whatever ``keep_measured`` says (a blended one, in the interpolation's share). Where interpolation was a
        candidate, ``"held_out_mse"`` gives the pooled held-out error of the best prior and of biharmonic
        interpolation (standardised values).

    Returns
    -------
    (rows, columns) float64 reconstruction; with ``return_choice``, ``(reconstruction, choice)``.

    Example
    -------
    >>> from emscale.sampling import random_pattern
    >>> mask = random_pattern(img.shape, 0.1, seed=0)
    >>> rec = sparse(img, mask)
    """
    img, m = check_image_and_mask(image, mask)
    check_seed(seed)
    check_options(prior=prior, lam_min=lam_min, n_iter=n_iter, keep_measured=keep_measured, residual=residual,
                  columns=columns, far_gaps=far_gaps, holdout=holdout)
    columns, far_gaps = (bool(v) if isinstance(v, np.bool_) else v for v in (columns, far_gaps))
    if columns is True:
        columns = "bright"
    auto_iter = n_iter == "auto"
    n_iter = iterations(m) if auto_iter else int(n_iter)
    y, mu, sd = standardise(img, m)
    held_out = prior == "auto" or lam_min is None or residual == "auto" or columns == "auto"
    chosen_by = "caller"
    folds = 0
    held_out_mse = None
    if held_out:
        with_interpolation = prior == "auto" and m.size <= INTERPOLATION_MAX_PIXELS
        evidence = {}
        (prior, lam_min, columns, residual), scores = choose_prior(
            y,
            m,
            seed,
            PRIOR_CANDIDATES if prior == "auto" else (prior,),
            LAM_MIN_CANDIDATES if lam_min is None else (float(lam_min),),
            n_iter=n_iter,
            residuals=RESIDUAL_CANDIDATES if residual == "auto" else (residual,),
            columns=COLUMN_CANDIDATES if columns == "auto" else (columns,),
            interpolation=with_interpolation,
            holdout=holdout,
            evidence=evidence,
        )
        chosen_by = "hold-out" if scores else too_few_to_pool(with_interpolation)
        folds = n_folds(m, pooled_minimum(with_interpolation))
        if auto_iter and scores and prior != INTERPOLATION:
            n_iter = _converged_if_exact(y, m, seed, (prior, lam_min, columns, residual), scores, n_iter)
        if with_interpolation and scores:
            held_out_mse = {"prior": min(v for k, v in scores.items() if k[0] != INTERPOLATION),
                            INTERPOLATION: scores[_PLAIN]}
    if prior == INTERPOLATION:  # the plain method predicted the hidden pixels better than every prior
        out = interpolate(img, m)
        # far gaps, if the scan leaves any, are interpolated with the rest; no second hold-out is needed
        if far_gaps is False:
            far_choice = "off"
        else:
            unlike_random = periodic_scan(m) or far_pixels(m)[0] is not None or run_scan(m)
            far_choice = "interpolated" if unlike_random else "none"
        far_evidence = None
    else:
        settings = dict(prior=prior, lam_min=float(lam_min), n_iter=n_iter, columns=columns,
                        residual=None if residual is None else float(residual))
        # decided before the whole image is reconstructed: where interpolation fills it, the prior's run is not made
        interpolated, share, far_choice, far_evidence = _far_gaps(
            img, y, m, far_gaps, lambda yy, mm: _reconstruct(yy, mm, **settings)[0], seed)
        if share > 0.0:
            x, columns = _reconstruct(y, m, **settings)
            x = x * sd + mu
            if interpolated is not None:
                x = share * x + (1.0 - share) * interpolated
        else:
            x = interpolated
        out = np.where(m, img, x) if keep_measured else x
    if not return_choice:
        return out
    choice = {
        "prior": prior,
        "lam_min": None if lam_min is None else float(lam_min),
        "n_iter": None if prior == INTERPOLATION else n_iter,
        "columns": columns,
        "residual": None if residual is None else float(residual),
        "chosen_by": chosen_by,
        "folds": folds,
        "far_gaps": far_choice,
    }
    if held_out_mse:
        choice["held_out_mse"] = held_out_mse
    if held_out and evidence:
        choice["holdout_evidence"] = evidence
    if far_evidence:
        choice["far_gaps_evidence"] = far_evidence
    return out, choice


def _converged_if_exact(y, m, seed, chosen, scores, n_iter) -> int:
    """:data:`ITERATIONS_AT_TENTH` iterations in place of fewer (``n_iter``, :func:`iterations` of a scan above
    10 %) where the hold-out finds the longer run predicts the hidden pixels :data:`CONVERGED_GAIN` times better
    with the chosen settings: an image its prior holds exactly, which the shorter run leaves short of convergence."""
    if n_iter >= ITERATIONS_AT_TENTH:
        return n_iter
    prior, lam_min, columns, residual = chosen
    _, longer = choose_prior(y, m, seed, (prior,), (lam_min,), n_iter=ITERATIONS_AT_TENTH, residuals=(residual,),
                             columns=(columns,))
    converged = longer.get(chosen, np.inf)
    return ITERATIONS_AT_TENTH if converged < CONVERGED_GAIN * scores[chosen] else n_iter


def _reconstruct(y, m, prior, lam_min, n_iter, columns, residual):
    """(standardised reconstruction, the column refit that ran) with the settings chosen."""
    x = fista_inpaint(y, m, smooth_fill(y, m), prior=prior, lam_min=lam_min, n_iter=n_iter)
    x, ran = _with_columns(y, m, x, columns)
    return _with_residual(y, m, x, residual), ran


def _far_gaps(img, y, m, far_gaps, reconstruct, seed):
    """(biharmonic interpolation in data units or None, the prior's share of the image, what was done, evidence):
    interpolation of the whole image where the scan is periodic, leaves far gaps or hops along its rows
    (:mod:`.gaps`) and the caller asks, or where :func:`.gaps.choose_interpolation` finds it predicts hidden discs
    better (far gaps); for a line-hopping scan the blend of the two that :func:`.gaps.choose_on_runs` finds predicts
    hidden runs best. Share 1 (no interpolation) where the prior stands."""
    if far_gaps is False:
        return None, 1.0, "off", None
    periodic = periodic_scan(m)
    if periodic and far_gaps is True:
        return interpolate(img, m), 0.0, "interpolated", {"scan": periodic, "why": "asked (far_gaps=True)"}
    if periodic:
        # hidden measured pixels lie on the scan's lattice and cannot show aliasing: nothing to decide with. The
        # prior lost to biharmonic on most grid scans tried (0.1-5.5 dB), but won on a lattice whose period the
        # grid resolves (+4.9 dB): kept, and said
        why = (f"{periodic}: sampling on a lattice can alias the prior's Fourier coefficients, and no hold-out on "
               "the scan's own pixels can show it; compare with method='biharmonic' (far_gaps=True interpolates)")
        warnings.warn(f"sparse: {why}", UserWarning, stacklevel=4)
        return None, 1.0, "kept", {"scan": periodic, "why": why}
    far, dist, unlike = far_pixels(m)
    runs = run_scan(m) if far is None else None
    if far is None and runs is None:
        return None, 1.0, "none", None
    if far_gaps is True:
        share, evidence = 0.0, {"why": "asked (far_gaps=True)"}
        if far is not None:
            evidence = {"far_pixels": int(np.count_nonzero(far)), **evidence}
    elif far is not None:
        use, evidence = choose_interpolation(y, m, far, dist, reconstruct, _holdout_crop(m), seed)
        share = 0.0 if use else 1.0
    else:  # a line-hopping scan: its gaps lie between its runs
        share, evidence = choose_on_runs(y, m, reconstruct, _holdout_crop(m), seed)
    evidence["scan"] = unlike if far is not None else runs
    done = "interpolated" if share == 0.0 else "kept" if share == 1.0 else "blended"
    return (interpolate(img, m) if share < 1.0 else None), share, done, evidence
