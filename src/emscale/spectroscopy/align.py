"""Align the spectra of a map to each other by cross-correlation: a drift of the spectrometer across the map.

:func:`.eels.align_zero_loss` needs a zero-loss peak; core-loss EELS, EDS and cathodoluminescence maps have none,
and their drift (or any shift of the spectra) reads as extra components in a decomposition (:mod:`emscale.
decomposition.energy_shift` says so). Here each spectrum is compared with the map's mean spectrum inside
``signal_range``: the shift is the lag of the largest cross-correlation of the two (their means removed, so that a
change of intensity or background level does not pull it), refined to a fraction of a channel by a parabola through
the peak and its neighbours (as HyperSpy's ``estimate_shift1D``). The shifts are then taken relative to their median
(the typical spectrum does not move, the interpolation stays small) and applied by
:func:`.eels.shift_spectra`'s own code.

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

from ..core.errors import AxisError, DataError, warn_caller
from ..core.registry import as_step, operation
from ..core.signal import Signal, derive
from ..engine import Pass, run_pass
from ._energy import check_ascending
from .eels import _PARTITION_BYTES, _apply_shifts, _as_rows, _nav_shape_np, _nav_signal, _source, _window, shift_spectra

__all__ = ["SpectraAlignment", "align_spectra", "estimate_shifts"]


class SpectraAlignment(NamedTuple):
    """Result of :func:`align_spectra`: unpack as ``aligned, shifts, others = ...``."""

    signal: Signal  # the aligned spectra
    shifts: Signal  # navigation map of the shift applied to each spectrum, in the axis's units
    also_aligned: list  # the ``also_align`` signals, shifted the same way


def _axis(s: Signal):
    if s.sig_ndim != 1:
        raise AxisError(f"align_spectra needs exactly one signal axis; {s!r} has {s.sig_ndim}")
    ax = s.axes[-1]
    if not ax.is_uniform:
        raise AxisError(f"align_spectra: axis {ax.name!r} is non-uniform; shifts need a uniform axis")
    if ax.size < 3:
        raise AxisError(f"align_spectra: axis {ax.name!r} has only {ax.size} channels")
    check_ascending(ax, "align_spectra")
    return ax


def _lags(y: np.ndarray, ref: np.ndarray, max_lag: int) -> np.ndarray:
    """Per row of ``y`` (pixels, n), the lag ``l`` (channels, |l| <= ``max_lag``, sub-channel) that maximises
    ``sum_j y[j + l] ref[j]`` with both means removed; NaN for a row without any variation or
    without a peak of the correlation inside the lags."""
    n = y.shape[1]
    yc = y - y.mean(axis=1, keepdims=True)
    rc = ref - ref.mean()
    size = 1 << int(np.ceil(np.log2(2 * n)))
    cc = np.fft.irfft(np.fft.rfft(yc, size, axis=1) * np.conj(np.fft.rfft(rc, size))[None, :], size, axis=1)
    lags = np.arange(-max_lag, max_lag + 1)
    c = cc[:, lags % size]  # column i: lag lags[i]
    # the highest peak inside the lags looked for: a correlation still rising at the edge of the window has found
    # no match there (a spectrum of one phase against a mean whose strongest lines are another's), not a shift
    peak = np.zeros_like(c, dtype=bool)
    peak[:, 1:-1] = (c[:, 1:-1] >= c[:, :-2]) & (c[:, 1:-1] > c[:, 2:])
    best = np.argmax(np.where(peak, c, -np.inf), axis=1)
    rows = np.arange(len(best))
    a, b, d = c[rows, np.maximum(best - 1, 0)], c[rows, best], c[rows, np.minimum(best + 1, len(lags) - 1)]
    curve = a - 2 * b + d
    out = lags[best] + np.where(curve < 0, 0.5 * (a - d) / np.where(curve < 0, curve, -1.0), 0.0)
    none = ~peak.any(axis=1) | ~np.any(yc != 0, axis=1) | ~np.isfinite(c).all(axis=1)
    out[none] = np.nan
    return out


def estimate_shifts(s: Signal, signal_range: Sequence[float] | None = None, max_shift: float | None = None,
                    executor=None, progress=None) -> np.ndarray:
    """Navigation-shaped float64 array: each spectrum's shift against the map's mean spectrum inside
    ``signal_range`` (axis units; positive: the spectrum sits at higher values), NaN for a spectrum without any
    variation there. ``max_shift``: the largest shift looked for (axis units; None: a quarter of the range)."""
    ax = _axis(s)
    i0, i1 = (0, ax.size) if signal_range is None else _window(ax, signal_range, "signal_range")
    if i1 - i0 < 3:
        raise AxisError(f"align_spectra: signal_range {signal_range!r} holds {i1 - i0} channel(s) of {ax.name!r}; "
                        "at least 3 are needed to compare spectra")
    n = i1 - i0
    if max_shift is None:
        max_lag = max(1, n // 4)
    else:
        if not (isinstance(max_shift, int | float) and not isinstance(max_shift, bool) and np.isfinite(max_shift)
                and max_shift > 0):
            raise ValueError(f"align_spectra: max_shift must be a positive number in {ax.units or 'axis units'} "
                             f"(None: a quarter of the range), got {max_shift!r}")
        max_lag = int(min(max(1, np.ceil(max_shift / abs(ax.scale))), n - 1))
    src = _source(s)

    def total(block, rows):
        y = _as_rows(block)[:, i0:i1]
        return np.where(np.isfinite(y), y, 0.0).sum(axis=0)

    ref = run_pass(src, Pass(total, lambda a, b: a + b, name="align_spectra-mean"), executor, _PARTITION_BYTES,
                   progress=progress)

    def lags(block, rows):
        y = _as_rows(block)[:, i0:i1]
        return _lags(np.where(np.isfinite(y), y, 0.0), ref, max_lag).reshape(block.shape[:-1])

    out = run_pass(src, Pass(lags, None, name="align_spectra-shifts"), executor, _PARTITION_BYTES,
                   progress=progress)
    out = np.asarray(out, dtype=np.float64).reshape(_nav_shape_np(s)) * ax.scale
    return out


def _smoothed(shifts: np.ndarray, finite: np.ndarray, sigma: float) -> np.ndarray:
    """The shift map smoothed by a Gaussian of ``sigma`` pixels over every navigation axis, the spectra without an
    estimate (``finite`` False) given no weight (normalised convolution)."""
    from scipy.ndimage import gaussian_filter

    w = gaussian_filter(finite.astype(np.float64), sigma, mode="nearest")
    v = gaussian_filter(np.where(finite, shifts, 0.0), sigma, mode="nearest")
    return np.where(w > 1e-12, v / np.maximum(w, 1e-12), 0.0)


@operation("align_spectra", not_recorded=("also_align",))
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
    """Align every spectrum to the map's mean spectrum by cross-correlation inside ``signal_range`` (axis units;
    None: the whole axis), looking for shifts up to ``max_shift`` (None: a quarter of the range).

    ``smooth``: the standard deviation (pixels) of a Gaussian over the navigation axes applied to the shift map
    before it is used (None: each spectrum's own shift). A drift follows the scan slowly, whereas one spectrum's
    estimate carries its counts' noise, and shifting by noise adds the derivative components that the alignment
    was to remove (measured: 40 x 40 pixels, a weak shared peak at 200 counts/pixel, no drift: automatic rank 2 ->
    4 after aligning on it unsmoothed). A shift of the sample (a chemical shift) is not smooth: leave it None there.

    The shifts are taken relative to their median and applied as :func:`.eels.shift_spectra` does
    (``interpolation`` ``"linear"`` or ``"fourier"``; ``crop=True`` keeps only the channels every shifted
    spectrum covers). Spectra without any variation inside the range are left where they are, with a warning.
    ``also_align`` signals of the same navigation shape are shifted by the same amounts.

    Returns :class:`SpectraAlignment` ``(signal, shifts, also_aligned)``; ``shifts`` is a navigation map of the
    shift applied to each spectrum (axis units). ``executor``, ``progress``: passed to
    :func:`emscale.engine.run_pass`.
    """
    if interpolation not in ("linear", "fourier"):  # before the two passes that estimate the shifts
        raise DataError(f"align_spectra: interpolation must be 'linear' or 'fourier', not {interpolation!r}")
    if smooth is not None and not (isinstance(smooth, int | float) and not isinstance(smooth, bool)
                                   and np.isfinite(smooth) and smooth > 0):
        raise ValueError(f"align_spectra: smooth must be a positive number of pixels or None, got {smooth!r}")
    if s.nav_ndim == 0:
        raise DataError(f"align_spectra: {s!r} is a single spectrum; there is nothing to align it to")
    ax = _axis(s)
    pos = estimate_shifts(s, signal_range, max_shift, executor, progress)
    finite = np.isfinite(pos)
    if not finite.any():
        raise DataError(f"align_spectra: no spectrum of {s!r} varies inside signal_range {signal_range!r} or matches "
                        "the mean spectrum at a shift up to max_shift; nothing to align")
    if not finite.all():
        warn_caller(f"align_spectra: {int((~finite).sum())} of {finite.size} spectra match the mean spectrum at no "
                    "shift up to max_shift (no peak of their cross-correlation) or do not vary inside the range; they "
                    "are left unshifted")
    shifts = np.where(finite, pos - float(np.median(pos[finite])), 0.0)
    if smooth is not None:
        shifts = _smoothed(shifts, finite, smooth)
    data, new_ax = _apply_shifts(s, shifts, interpolation, crop, 0.0, executor, progress)
    aligned = derive(s, data, list(s.axes[:-1]) + [new_ax])
    shift_sig = _nav_signal(s, shifts, "spectral shifts", f"shift ({ax.units or ax.name})")
    others = []
    for o in also_align:
        if _nav_shape_np(o) != _nav_shape_np(s):
            raise DataError(f"also_align: {o!r} has navigation shape {o.nav_shape}, expected {s.nav_shape}")
        others.append(as_step(shift_spectra, o, shifts, interpolation=interpolation, crop=crop,
                              executor=executor, progress=progress))
    return SpectraAlignment(aligned, shift_sig, others)
