"""Align the spectra of a map to each other by correlation: a drift of the spectrometer across the map.

:func:`.eels.align_zero_loss` needs a zero-loss peak; EDS and cathodoluminescence maps have none,
and their drift (or any shift of the spectra) reads as extra components in a decomposition (:mod:`emscale.
decomposition.energy_shift` says so). Here each spectrum is compared with the map's mean spectrum inside
``signal_range``: the shift is the lag at which the two correlate best (Pearson, over one tapered stretch of the
mean, so that neither a change of intensity or level nor the overlap's length at each lag pulls it: a noise-free
power law with an edge, shifted by up to 1.5 channels, is measured to 0.01 channel), refined to a fraction of a
channel by a parabola through the peak and its neighbours (as HyperSpy's ``estimate_shift1D``). The shifts are then
taken relative to their median (the typical spectrum does not move, the interpolation stays small) and applied by
:func:`.eels.shift_spectra`'s own code.

What it cannot do: a change of a spectrum's shape reads as a shift where the two are alike. On core-loss EELS the
background's slope varies across a map, and a steeper power law is, over a window, a shifted one: on such maps the
shifts came out 8-40 channels rms for a drift of 3. Align core-loss maps through the low-loss recorded with them
(``align_zero_loss(low_loss, also_align=[core_loss])``, dual EELS), or remove the background first and give a
``signal_range`` on a sharp feature. Likewise a spectrum of one phase compared with the mean of several is pulled
towards another phase's lines (an undrifted three- to six-phase EDS map: 2-3 channels rms, and the six-phase map,
"aligned", decomposed into 12 components instead of 6; smoothing spread the pull and made it worse; a three-phase
EDS map whose phases share no line, drifting 3-5 channels: 5.5 channels rms, its rank 7 -> 19, against 0.1-0.3
channel and the true rank for two phases): align where a drift is seen (``decompose`` says when the spectra
shift), with a ``signal_range`` on a feature every spectrum shares, and check the rank after.

A spectrum matches only where its best correlation stands out of what noise gives (:data:`NOISE_SIGMAS`); one that
does not is left where it is, and where fewer than half the spectra match nothing is aligned and the error says
why (flat noise, as the Velox example's EELS maps, was moved by up to 100 channels; its spectra now match none).
Counts below :data:`MIN_COUNTS` in the compared stretch are too few to measure a shift by.

Three passes over the data: the mean spectrum, the shifts, the shifted spectra (one more per ``also_align``). The
shift of one spectrum is as noisy as its counts: at a few hundred counts per spectrum, bin the map first or give a
``signal_range`` around its strongest features.

>>> from emscale.spectroscopy.align import align_spectra
>>> aligned, shifts, _ = align_spectra(eds_map, signal_range=(5.5, 8.5))   # the Cr, Fe, Ni K lines
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..core.errors import AxisError, DataError, check_positive, warn_caller
from ..core.registry import as_step, operation
from ..core.signal import Signal, derive
from ..core.smoothing import normalised_convolution
from ..engine import Pass, run_pass, values_and_count
from ._energy import spectral_axis
from .eels import (
    _PARTITION_BYTES,
    _apply_shifts,
    _as_rows,
    _nav_shape_np,
    _nav_signal,
    _source,
    _window,
    check_interpolation,
    shift_spectra,
    shift_units_factor,
)

__all__ = ["SpectraAlignment", "align_spectra", "estimate_shifts"]

DEFAULT_SHIFT_PART = 20  # max_shift=None: a twentieth of the channels compared ...
# a correlation peak counts only above this many standard deviations of the correlation of independent noise
# (1 / sqrt(the stretch's effective number of channels)); the best of the 2 max_shift + 3 lags of pure noise reaches
# about 3
NOISE_SIGMAS = 4.0
# counts (integer data, or metadata Signal.counts) in the stretch compared below which a spectrum's shift is not
# measured: a handful of counts correlates with the mean's lines wherever one of them falls on one, and the noise rule,
# made for many counts a channel, let them through (ground-truth EDS at 5-30 counts/pixel over 2048-4096 channels,
# undrifted: shifts at the edge of the search, 100-200 channels; the two-phase map at 50 counts/pixel, with about
# 45 in the stretch, still measured)
MIN_COUNTS = 40
MIN_DEFAULT_SHIFT = 3  # ... and at least this many channels (a narrow range around one peak)


class SpectraAlignment(NamedTuple):
    """Result of :func:`align_spectra`: unpack as ``aligned, shifts, others = ...``."""

    signal: Signal  # the aligned spectra
    # navigation map of each spectrum's displacement from the mean (axis units): moved by minus it, as
    # shift_spectra's out(E) = in(E + shift); HyperSpy's estimate_shift1D reports the opposite sign
    shifts: Signal
    also_aligned: list  # the ``also_align`` signals, shifted the same way


def _axis(s: Signal):
    return spectral_axis(s, "align_spectra")


def _tukey(m: int, alpha: float = 0.5) -> np.ndarray:
    """A Tukey (tapered cosine) window of ``m`` points: flat in the middle, cosine tapers over ``alpha / 2`` of it
    at each end."""
    x = (np.arange(m) + 0.5) / m
    edge = alpha / 2
    w = np.ones(m)
    lo, hi = x < edge, x > 1 - edge
    w[lo] = 0.5 * (1 - np.cos(np.pi * x[lo] / edge))
    w[hi] = 0.5 * (1 - np.cos(np.pi * (1 - x[hi]) / edge))
    return w


def _lags(y: np.ndarray, ref: np.ndarray, max_lag: int, n_spectra: int, min_counts: float = 0.0) -> np.ndarray:
    """Per row of ``y`` (pixels, n), the lag ``l`` (channels, sub-channel, ``|l| <= max_lag``) at which the
    spectrum matches ``ref`` best: the Pearson correlation of ``y[j + l]`` with ``ref[j]`` over the channels ``j``
    that every lag looked at covers (``ref`` without ``max_lag + 1`` channels at each end, its ends tapered),
    weighted alike, highest interior peak
    of it, refined by a parabola; NaN for a row without any variation there, without a peak inside the lags, or
    whose peak is no higher than noise would give (:data:`NOISE_SIGMAS`), or with fewer than ``min_counts`` in the
    stretch (:data:`MIN_COUNTS` for counts).

    Pearson over one fixed stretch, not a plain cross-correlation over the overlap: the overlap's length and the
    level of a steep background change with the lag, and on an edge or a power law they pulled a plain
    correlation to lag 0 whatever the shift (noise-free power law with an edge shifted by +-1.5 channels: 0.00)."""
    n = y.shape[1]
    reach = max_lag + 1  # one lag beyond the largest asked, so that a peak at max_lag is an interior one
    m = n - 2 * reach
    # the stretch's ends tapered (a Tukey window): a line entering or leaving the stretch as it slides would change
    # the spectrum's variance there by a step, and a pure phase's spectrum then matched another phase's lines better
    # (a two-phase EDS map drifting 3 channels: 12 channels rms with a flat window, 0.4 tapered)
    w = _tukey(m)
    r = ref[reach : n - reach]
    r = r - np.sum(w * r) / w.sum()
    var_r = float(np.sum(w * r * r))
    rc = w * r
    size = 1 << int(np.ceil(np.log2(n + m)))

    def slide(fa, b):  # out[:, k] = sum_j a[:, k + j] b[j], k = 0 .. 2 reach; fa: a's transform
        return np.fft.irfft(fa * np.conj(np.fft.rfft(b, size))[None, :], size, axis=1)[:, : 2 * reach + 1]

    fy = np.fft.rfft(y, size, axis=1)  # once: the cross term and the weighted sum slide the same spectra
    cross = slide(fy, rc)  # rc sums to 0 with the weights: y's weighted mean drops out
    s1, s2 = slide(fy, w), slide(np.fft.rfft(y * y, size, axis=1), w)
    var = s2 - s1 * s1 / w.sum()
    ok_var = (var > 1e-9 * np.maximum(np.abs(s2), 1e-300)) & (var_r > 0)
    c = cross / np.sqrt(np.where(ok_var, var * var_r, np.nan))  # the weighted Pearson correlation at each lag
    k = np.arange(2 * reach + 1)
    lags = k - reach
    finite = np.isfinite(c)
    cm = np.where(finite, c, -np.inf)
    peak = np.zeros_like(finite)
    peak[:, 1:-1] = (cm[:, 1:-1] >= cm[:, :-2]) & (cm[:, 1:-1] > cm[:, 2:]) & finite[:, 1:-1]
    best = np.argmax(np.where(peak, cm, -np.inf), axis=1)
    rows = np.arange(len(best))
    a, b, d = cm[rows, np.maximum(best - 1, 0)], cm[rows, best], cm[rows, np.minimum(best + 1, len(lags) - 1)]
    curve = a - 2 * b + d
    ok = np.isfinite(curve) & (curve < 0)
    out = lags[best] + np.where(ok, 0.5 * (a - d) / np.where(ok, curve, -1.0), 0.0)
    # a best match no stronger than the best of noise over these lags is none: featureless spectra (the Velox
    # example's flat EELS maps) were moved by up to 100 channels. The spectrum is one of the ``n_spectra`` in the
    # mean, and on noise alone it correlates with its own share of the mean by about 1 / sqrt(n_spectra)
    noise = NOISE_SIGMAS * np.sqrt(np.sum(w * w)) / w.sum() + 1.0 / np.sqrt(max(n_spectra, 1))
    few = y[:, reach : n - reach].sum(axis=1) < min_counts
    out[~peak.any(axis=1) | (np.abs(out) > max_lag + 1e-9) | ~(b > noise) | few] = np.nan
    return out


def estimate_shifts(s: Signal, signal_range: Sequence[float] | None = None, max_shift: float | None = None,
                    executor=None, progress=None) -> np.ndarray:
    """Navigation-shaped float64 array: each spectrum's shift against the map's mean spectrum inside
    ``signal_range`` (axis units; positive: the spectrum sits at higher values), NaN for a spectrum without any
    variation there, matching it no better than noise would, or holding NaN or inf there. ``max_shift``: the largest
    shift looked for (axis units; None: a twentieth of the range)."""
    return _estimate_shifts(s, signal_range, max_shift, executor, progress)[0]


def check_max_shift(max_shift, units: str = "") -> None:
    """The largest shift looked for: a finite number > 0 in the axis's ``units``, or None (a twentieth of the
    range's channels)."""
    if max_shift is not None:
        check_positive("align_spectra: max_shift", max_shift,
                       f"{units or 'axis units'}; None: a twentieth of the range")


def check_smooth(smooth) -> None:
    """The shift map's Gaussian: a finite number > 0 (pixels), or None (each spectrum's own shift)."""
    check_positive("align_spectra: smooth", smooth, "pixels of the shift map's Gaussian", optional=True)


def _estimate_shifts(s, signal_range, max_shift, executor, progress) -> tuple[np.ndarray, int]:
    """:func:`estimate_shifts` and the number of spectra not estimated for NaN or inf inside the range."""
    ax = _axis(s)
    i0, i1 = (0, ax.size) if signal_range is None else _window(ax, signal_range, "signal_range")
    n = i1 - i0
    if max_shift is None:
        max_lag = max(MIN_DEFAULT_SHIFT, n // DEFAULT_SHIFT_PART)
    else:
        check_max_shift(max_shift, ax.units)
        max_lag = int(max(1, np.ceil(max_shift / abs(ax.scale) - 1e-9)))
    max_lag = min(max_lag, (n - 5) // 2)  # the stretch compared keeps at least 3 channels
    if max_lag < 1:
        raise AxisError(f"align_spectra: signal_range {signal_range!r} holds {n} channels of {ax.name!r}; at least 7 "
                        "are needed to compare spectra at a shift of one channel")
    src = _source(s)
    n_spectra = int(np.prod(_nav_shape_np(s)))
    counts = s.dtype.kind in "iu" or bool(s.metadata.get("Signal", {}).get("counts", False))
    min_counts = MIN_COUNTS if counts else 0.0

    def total(block, rows):
        y = _as_rows(block)[:, i0:i1]
        return np.where(np.isfinite(y), y, 0.0).sum(axis=0)

    ref = run_pass(src, Pass(total, lambda a, b: a + b, name="align_spectra-mean"), executor, _PARTITION_BYTES,
                   progress=progress)

    def lags(block, rows):
        y = _as_rows(block)[:, i0:i1]
        ok = np.isfinite(y)
        out = _lags(np.where(ok, y, 0.0), ref, max_lag, n_spectra, min_counts)
        finite = ok.all(axis=1)
        # a NaN read as zero moved the match, and the spectrum was said to match no better than noise would
        return np.where(finite, out, np.nan), int((~finite).sum())

    out, bad = run_pass(src, Pass(lags, values_and_count, name="align_spectra-shifts"), executor, _PARTITION_BYTES,
                        progress=progress)
    out = np.asarray(out, dtype=np.float64).reshape(_nav_shape_np(s)) * ax.scale
    return out, bad


def _smoothed(shifts: np.ndarray, finite: np.ndarray, sigma: float) -> np.ndarray:
    """The shift map smoothed by a Gaussian of ``sigma`` pixels over every navigation axis, the spectra without an
    estimate (``finite`` False) given no weight (normalised convolution)."""
    return normalised_convolution(shifts, finite, sigma)[0]


@operation("align_spectra", not_recorded=("also_align",), check={"max_shift": check_max_shift, "smooth": check_smooth})
def align_spectra(
    s: Signal,
    signal_range: Sequence[float] | None = None,
    max_shift: float | None = None,
    smooth: float | None = None,
    also_align: Sequence[Signal] = (),
    crop: bool = True,
    interpolation: str = "linear",
    executor=None,
    progress=None,
) -> SpectraAlignment:
    """Align every spectrum to the map's mean spectrum by correlation inside ``signal_range`` (axis units; None:
    the whole axis), looking for shifts up to ``max_shift`` (None: a twentieth of the range's channels, at least 3:
    a drift moves spectra by a few channels, and the wider the search, the likelier a spectrum of one phase matches
    another phase's lines in the mean: an undrifted six-phase EDS map had shifts of up to 80 channels at a quarter).

    ``smooth``: the standard deviation (pixels) of a Gaussian over the navigation axes applied to the shift map
    before it is used (None: each spectrum's own shift). A drift follows the scan slowly, whereas one spectrum's
    estimate carries its counts' noise, and shifting by noise adds the derivative components that the alignment
    was to remove (measured: 40 x 40 pixels, a weak shared peak at 200 counts/pixel, no drift: automatic rank 2 ->
    4 after aligning on it unsmoothed). A shift of the sample (a chemical shift) is not smooth: leave it None there.

    The shifts are taken relative to their median and applied as :func:`.eels.shift_spectra` does
    (``interpolation`` ``"linear"`` or ``"fourier"``; ``crop=True`` keeps only the channels every shifted
    spectrum covers). Spectra that match the mean no better than noise would (or do not vary inside the range) are
    left where they are, with a warning; where they are half or more, nothing is aligned (:class:`DataError`).
    ``also_align`` signals of the same navigation shape are shifted by the same amounts.

    Returns :class:`SpectraAlignment` ``(signal, shifts, also_aligned)``; ``shifts`` is a navigation map of
    each spectrum's displacement (axis units, relative to their median): each was moved by minus it, as
    :func:`.eels.shift_spectra` does (``out(E) = in(E + shift)``; HyperSpy's ``estimate_shift1D`` reports the opposite
    sign). ``executor``, ``progress``: passed to
    :func:`emscale.engine.run_pass`.
    """
    check_interpolation(interpolation, "align_spectra")  # before the two passes that estimate the shifts
    check_smooth(smooth)
    if s.nav_ndim == 0 or int(np.prod(s.nav_shape)) < 2:
        raise DataError(f"align_spectra: {s!r} is a single spectrum; there is nothing to align it to")
    ax = _axis(s)
    factors = [shift_units_factor(o, s, ax, "align_spectra") for o in also_align]  # before any pass over the data
    pos, nonfinite = _estimate_shifts(s, signal_range, max_shift, executor, progress)
    finite = np.isfinite(pos)
    if 2 * int(finite.sum()) < finite.size:
        # the few that pass are chance: of the Velox example's flat EELS map, 7 of 320 "matched", one 75 channels off
        raise DataError(f"align_spectra: {int(finite.sum())} of {finite.size} spectra of {s!r} match the mean spectrum "
                        f"inside signal_range {signal_range!r} better than noise would, at a shift up to max_shift: "
                        "too few counts, or no feature the spectra share there; nothing aligned (bin the map, or give "
                        "a signal_range on a feature every spectrum holds)")
    if not finite.all():
        fate = "given the smoothed shift of their neighbours" if smooth is not None else "left unshifted"
        unmatched = int((~finite).sum()) - nonfinite
        said = [f"{nonfinite} hold NaN or inf inside signal_range"] if nonfinite else []
        said += [f"{unmatched} match the mean spectrum at no shift up to max_shift better than noise would, or do not "
                 "vary inside the range"] if unmatched else []
        warn_caller(f"align_spectra: of {finite.size} spectra, {'; '.join(said)}; they are {fate}")
    shifts = np.where(finite, pos - float(np.median(pos[finite])), 0.0)
    if smooth is not None:
        shifts = _smoothed(shifts, finite, smooth)
    data, new_ax = _apply_shifts(s, shifts, interpolation, crop, 0.0, executor, progress)
    aligned = derive(s, data, list(s.axes[:-1]) + [new_ax])
    shift_sig = _nav_signal(s, shifts, "spectral shifts", f"shift ({ax.units or ax.name})")
    others = [as_step(shift_spectra, o, shifts * f, interpolation=interpolation, crop=crop, executor=executor,
                      progress=progress) for o, f in zip(also_align, factors, strict=True)]
    return SpectraAlignment(aligned, shift_sig, others)
