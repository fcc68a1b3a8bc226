"""Spectra that shift along their axis across the map: a hint, since a shift reads as extra components.

A spectrum shifted by ``d`` channels is, to first order, ``S(E - d) ~ S(E) - d S'(E)``: a map whose spectra drift
(an EELS energy drift, a spectrometer's calibration creeping during a long map) or move with the sample (a chemical
shift of an edge, a luminescence peak moving with composition or strain) holds, beside its phases, the derivative
of its mean spectrum with a coefficient per pixel, and each higher order of the shift one more component. The rank
estimate counts them: on ground-truth cubes a drift of 2-5 channels across the map raised the automatic rank by
1-7 (EDS, 5 phases, 2000 counts/pixel, 5 channels: 12).

:func:`shift_share` measures how much of that derivative (weighted like the data the components were found in)
the components after the first hold. Measured on 192 cubes (48 x 48 x 512, EDS and EELS, 2-5 phases, 20-2000
counts/pixel, with and without pure pixels, drifts of 0, 0.5, 2 and 5 channels along x): 0.50-0.99 on the 39 whose
rank the drift raised (36 at :data:`SHIFT_SHARE` or more), at most 0.66 on the 42 without drift; on 54 other cubes
without drift (the rank suite's generators, mixtures of blobs and gradients, 64 x 64 x 1024) at most 0.48; on the
real files of ``shared/data/real`` at most 0.06, but for the cathodoluminescence line scan (0.85: its emission peak
moves from 846 to 870 nm along the line, a real shift). Removing the smooth part of the derivative before the
projection (a Gaussian high-pass of 4 or 16 channels) separated the two no better. The derivative's part along the
mean spectrum itself (a change of intensity, which a power law's derivative nearly is) is left out: centred, a
power-law map whose thickness alone varied read 0.71-0.95 without it. Phases whose lines lie less than a line width
apart differ by what is, to first order, a shift (MoS2 beside PbS: 0.94 at the right rank of 2), and a drift and a
shift in the sample are the same to the data: so this is a hint naming them all, never a change of the result.
"""

from __future__ import annotations

import numpy as np

SHIFT_SHARE = 0.7  # share of the mean spectrum's energy derivative in the components after the first: a hint above


def shift_share(factors: np.ndarray, col_sums: np.ndarray, col_scale, keep_channels, centred: bool) -> float | None:
    """The norm of the projection of the mean spectrum's derivative along energy, weighted like the data
    (``col_scale``: the Poisson weights of the kept channels, None: unweighted), on the components after the first
    (all of them where the data were centred: the mean is then not a component). ``factors``: (kept channels, k),
    orthonormal columns in the weighted space; ``keep_channels``: the flat mask of the kept channels (None: all).
    None where it cannot be judged: fewer than two components (one where centred), or fewer than 8 channels."""
    first = 0 if centred else 1
    if factors.ndim != 2 or factors.shape[1] <= first or factors.shape[0] < 8:
        return None
    sums = np.asarray(col_sums, dtype=np.float64)
    if keep_channels is not None:
        full = np.zeros(keep_channels.size)
        full[keep_channels] = sums
        derivative = np.gradient(full)
        # a derivative across a left-out channel (the strobe peak, a hot channel, a user's mask) is not the
        # spectrum's: those kept channels next to a gap count for nothing
        gap = ~keep_channels
        near_gap = gap | np.r_[gap[1:], False] | np.r_[False, gap[:-1]]
        derivative = np.where(near_gap, 0.0, derivative)[keep_channels]
    else:
        derivative = np.gradient(sums)
    mean = sums.copy()
    if col_scale is not None:
        derivative, mean = derivative * col_scale, mean * col_scale
    # only the part of the derivative that is no change of intensity: on a power law the derivative is nearly the
    # spectrum itself (-r S / E), and a map whose thickness alone varies then read as shifting once centred (its
    # first component is that variation: 0.71-0.95 with no shift at all, review)
    mean_norm = float(np.linalg.norm(mean))
    if mean_norm > 0 and np.isfinite(mean_norm):
        unit = mean / mean_norm
        derivative = derivative - (derivative @ unit) * unit
    norm = float(np.linalg.norm(derivative))
    if not np.isfinite(norm) or norm <= 1e-12 * max(float(np.abs(derivative).max(initial=0.0)), 1e-300):
        return None
    return float(np.linalg.norm(factors[:, first:].T @ (derivative / norm)))


def chance_share(n_tested: int, n_channels: int) -> float:
    """The share a direction unrelated to the components would hold by chance: a random unit vector of the
    ``n_channels - 1`` dimensions left beside the mean spectrum (the derivative is taken orthogonal to it) has an
    expected squared projection of ``n_tested / (n_channels - 1)`` on ``n_tested`` components. Where that reaches
    :data:`SHIFT_SHARE` the share says nothing about a shift: PCA keeping all 8 of 8 channels read 1.00 on maps
    without any (review rev54)."""
    free = max(n_channels - 1, 1)
    return float(np.sqrt(min(n_tested, free) / free))


CHANCE_TAIL = 0.05  # no test where a direction unrelated to the components reaches SHIFT_SHARE this often


def chance_tail(n_tested: int, n_channels: int) -> float:
    """How often a direction unrelated to ``n_tested`` components holds :data:`SHIFT_SHARE` or more of itself in
    them: a random unit vector of ``n_channels - 1`` dimensions has a squared projection on ``n_tested`` of them
    distributed as Beta(n_tested / 2, (n_channels - 1 - n_tested) / 2). The expected share alone
    (:func:`chance_share`) let through 3 components of 8 channels, whose 2 tested reach 0.7 by chance 19 % of the
    time (64 channels: 1e-9)."""
    from scipy.special import betainc  # not scipy.stats: its import took 2 s of a first decompose

    free = max(n_channels - 1, 1)
    if n_tested >= free:
        return 1.0
    if n_tested <= 0:
        return 0.0
    # the survival function of Beta(a, b) at x is the regularised incomplete beta I(1 - x; b, a)
    return float(betainc((free - n_tested) / 2, n_tested / 2, 1.0 - SHIFT_SHARE ** 2))


def shift_note(share: float, k: int, centred: bool, rank_counted: bool, axis: str) -> str:
    """The hint's text."""
    first = 1 if centred else 2
    comps = f"principal component {first}" if k == first else f"principal components {first}-{k}"
    counted = (f"the automatic rank ({k}) may count them" if rank_counted else
               f"n_components={k} may spend components on them")
    # "the spectra shift" was said as fact of CL maps whose broad bands (70-80 nm apart, 40-60 nm wide) overlap and
    # nothing shifts (a review, 0.73-0.87 of the derivative): the two causes are named as what they are, either
    return (f"{comps} hold {share:.2f} of the derivative of the mean spectrum along {axis!r}: either the spectra "
            f"shift along that axis across the map, and a shift reads as extra components, one per order of the "
            f"shift, so {counted}, or phases whose lines or bands lie less than a line width apart differ there (then "
            f"the components are real and aligning would merge them). A drift of the spectrometer or a chemical "
            f"shift does the first. If it is a "
            f"drift, align the spectra first: align_zero_loss for EELS with a zero-loss peak (also_align= for the "
            f"core-loss recorded with it), else spectroscopy.align.align_spectra with a signal_range on a feature "
            f"every spectrum shares (smooth= for a drift that follows the scan)")
