"""EELS tools: zero-loss alignment, log-ratio thickness, edge onsets (from ``xraydb``) and edge maps.

Every function takes a :class:`~emscale.Signal` with one energy axis (uniform, the last numpy dimension) and
works on all spectra at once: the spectra of one navigation partition are a 2-D array ``(pixels, channels)``
and each step is a vectorised numpy expression on it, run as an engine pass (:func:`emscale.engine.run_pass`),
so lazy (dask) data are read partition by partition. Results that are Signals carry a history entry and can
be replayed (:func:`emscale.replay`).

>>> from emscale.spectroscopy import eels
>>> res = eels.align_zero_loss(low_loss, signal_range=(-3.0, 3.0))
>>> aligned, shifts = res.signal, res.shifts           # shifts in eV, one per pixel
>>> t = eels.thickness(aligned)                       # t/lambda map (log-ratio method)
>>> eels.edge_onsets(["O", "Fe"], energy_range=(450, 900))
[Edge(element='O', edge='K', onset=532.0), Edge(element='Fe', edge='L3', onset=706.8), ...]
>>> fe = eels.edge_map(core_loss, "Fe_L3")             # background-subtracted integrated Fe L3 intensity
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..core.axes import Axis
from ..core.errors import AxisError, DataError, check_count, warn_caller
from ..core.registry import as_step, operation
from ..core.signal import Signal, derive
from ..engine import Pass, run_pass, values_and_count
from ._energy import ev_per_unit, spectral_axis
from .background import MASK_ADVICE, check_window
from .elements import element_symbol

# Widest fit window (channels each side of the maximum) for the sub-channel ZLP position.
_MAX_HALF_WIDTH = 25
# A zero-loss peak sits near 0 eV. Without a signal_range, a spectrum's maximum above this energy is not one (a
# core-loss spectrum, a background-subtracted one, an axis never calibrated), nor is an axis that starts above it.
ZLP_MAX_ENERGY = 50.0  # eV
# Work partitions are expanded to float64 temporaries (several per block); keep them modest.
_PARTITION_BYTES = 16 * 2**20

__all__ = [
    "Edge",
    "ZeroLossAlignment",
    "align_zero_loss",
    "edge_map",
    "edge_onset",
    "edge_onsets",
    "edges",
    "elastic_threshold",
    "estimate_zero_loss_position",
    "shift_spectra",
    "thickness",
]


# ---------------------------------------------------------------------------------------------------------
# helpers shared by the passes
# ---------------------------------------------------------------------------------------------------------
def _energy_axis(s: Signal) -> Axis:
    return spectral_axis(s, "EELS tools")


def _zlp_search(ax: Axis, signal_range, what: str) -> tuple[int, int, int | None]:
    """``(i0, i1, last)``: the channels searched for the zero-loss peak, and the last channel a peak may sit on
    (None: any). With ``signal_range`` the user says where the peak is; without it, on an axis in eV, a peak must lie
    at or below :data:`ZLP_MAX_ENERGY`, and an axis that starts above that is refused by name."""
    if signal_range is not None:
        return (*_window(ax, signal_range, "signal_range"), None)
    per_ev = ev_per_unit(ax.units)
    if per_ev is None or ax.scale <= 0:
        return 0, ax.size, None
    if ax.offset * per_ev > ZLP_MAX_ENERGY:
        raise DataError(
            f"{what}: the energy axis starts at {ax.offset * per_ev:g} eV, so it holds no zero-loss peak (a core-loss "
            f"spectrum?); {what} needs low-loss spectra that include the ZLP near 0 eV (give signal_range=(E1, E2) "
            "where the peak lies if the axis is not calibrated)"
        )
    last = int(math.floor((ZLP_MAX_ENERGY / per_ev - ax.offset) / ax.scale + 1e-9))
    return 0, ax.size, min(last, ax.size - 1)


def _distinct_peaks(y: np.ndarray, k: np.ndarray, i0: int, i1: int, last: int | None) -> np.ndarray:
    """Rows whose maximum channel ``k`` (searched in ``[i0, i1)``) is a peak: positive, inside the searched
    channels (not at their ends, where a falling background or a cut has its maximum), at or below channel
    ``last``, and followed somewhere by a fall below half of it (flat or noise-only spectra never fall so)."""
    m, n = y.shape
    peak = y[np.arange(m), k]
    ok = np.isfinite(peak) & (peak > 0) & (k > i0) & (k < i1 - 1)
    if last is not None:
        ok &= k <= last
    after = np.arange(n)[None, :] > k[:, None]
    return ok & np.any(after & (y < 0.5 * peak[:, None]), axis=1)


def _max_channel(y: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """Per row, the channel of the largest finite value in ``[i0, i1)`` (np.argmax takes a NaN for the maximum,
    so one NaN channel 15 eV from the zero-loss peak hid the peak)."""
    return np.argmax(np.where(np.isfinite(y[:, i0:i1]), y[:, i0:i1], -np.inf), axis=1) + i0


def _source(s: Signal):
    """The data with at least one leading navigation dimension (a single spectrum becomes a stack of one)."""
    return s.data if s.nav_ndim else s.data[None]


def _nav_shape_np(s: Signal) -> tuple[int, ...]:
    return tuple(s.shape[: s.nav_ndim])


def shift_units_factor(o, s: Signal, ax: Axis, tool: str) -> float:
    """The factor that turns a shift on ``s``'s energy axis ``ax`` into one on ``o``'s (1 in the same units; eV,
    keV and meV converted), for ``also_align``; an error naming the problem where ``o`` is no signal of the same
    navigation shape or its axis is in units a shift cannot be carried into."""
    if not isinstance(o, Signal):
        raise DataError(f"also_align: each item must be a Signal, got {type(o).__name__}")
    other = spectral_axis(o, tool)
    if _nav_shape_np(o) != _nav_shape_np(s):
        raise DataError(f"also_align: {o!r} has navigation shape {o.nav_shape}, expected {s.nav_shape}")
    if str(other.units or "") == str(ax.units or ""):
        return 1.0
    mine, theirs = ev_per_unit(ax.units), ev_per_unit(other.units)
    if mine is None or theirs is None:
        raise DataError(f"also_align: {o!r}'s axis {other.name!r} is in {other.units or 'no unit'!r}, {s!r}'s in "
                        f"{ax.units or 'no unit'!r}: a shift cannot be carried from one to the other")
    return mine / theirs


def _as_rows(block: np.ndarray) -> np.ndarray:
    """(..., channels) -> float64 (pixels, channels)."""
    return np.asarray(block, dtype=np.float64).reshape(-1, block.shape[-1])


def _window(ax: Axis, window, what: str) -> tuple[int, int]:
    """Channel range ``[i0, i1)`` of an energy window, as HyperSpy's ``isig[E1:E2]`` selects it (the axis's
    value -> index rule, :meth:`Axis.value_to_index`, clipped to the axis), at least one channel."""
    lo, hi = check_window(window, what)
    if hi < ax.low - abs(ax.scale) / 2 or lo > ax.high + abs(ax.scale) / 2:
        raise AxisError(f"{what} {window!r} lies outside the energy axis {ax.describe_range()}")
    i0, i1 = ax.value_to_index(lo, clip=True), ax.value_to_index(hi, clip=True)
    if i1 <= i0:
        i1 = min(i0 + 1, ax.size)
        i0 = i1 - 1
    return i0, i1


def _as_map(v) -> np.ndarray:
    """A per-pixel map given as a Signal or an array, as a float64 array."""
    return np.asarray(v.to_numpy() if isinstance(v, Signal) else v, dtype=np.float64)


def _nav_signal(s: Signal, data: np.ndarray, title: str, quantity: str) -> Signal:
    """A navigation-shaped result (one value per pixel) derived from ``s``."""
    axes = list(s.axes[: s.nav_ndim])
    data = np.asarray(data).reshape(_nav_shape_np(s))
    out = derive(s, data, axes, signal_type="")
    out.title = f"{s.title} {title}".strip()
    out.metadata.setdefault("General", {})["title"] = out.title
    out.metadata.setdefault("Signal", {}).update({"signal_type": "", "quantity": quantity})
    return out


# ---------------------------------------------------------------------------------------------------------
# zero-loss peak position and alignment
# ---------------------------------------------------------------------------------------------------------
def _peak_positions(y: np.ndarray, i0: int, i1: int, subpixel: bool, half_width: int | None,
                    last: int | None = None) -> np.ndarray:
    """Sub-channel position (fractional channel index) of the maximum of each row of ``y`` in ``[i0, i1)``.

    The maximum channel is refined by a weighted least-squares parabola through the channels around it
    (``half_width`` channels each side; ``None``: half the peak's FWHM, at least 2): fitted to the logarithm
    of the counts with Poisson weights over the positive channels (exact for a Gaussian peak), to the counts
    when fewer than three are positive. Rows whose maximum is not a distinct peak (:func:`_distinct_peaks`, with
    ``last`` the last channel allowed) give NaN.
    """
    m, n = y.shape
    rows = np.arange(m)
    k = _max_channel(y, i0, i1)
    peak = y[rows, k]
    pos = k.astype(np.float64)
    if subpixel and m:
        hmax = _MAX_HALF_WIDTH if half_width is None else max(1, int(half_width))
        x = np.arange(-hmax, hmax + 1, dtype=np.float64)
        idx = k[:, None] + x.astype(np.int64)[None, :]
        v = np.take_along_axis(y, np.clip(idx, 0, n - 1), axis=1)
        # a NaN channel near the peak is left out of the fit, as a channel beyond the axis is
        inside_axis = (idx >= 0) & (idx <= n - 1) & np.isfinite(v)
        v = np.where(inside_axis, v, 0.0)
        if half_width is None:
            # Half the FWHM: channels above half maximum, counted outwards from the peak while contiguous.
            above = (v >= 0.5 * peak[:, None]) & inside_axis
            right = np.argmin(above[:, hmax:], axis=1)
            left = np.argmin(above[:, hmax::-1], axis=1)
            right = np.where(above[:, hmax:].all(axis=1), hmax, right)
            left = np.where(above[:, hmax::-1].all(axis=1), hmax, left)
            h = np.clip(np.round((left + right - 1) / 2.0), 2, hmax)
        else:
            h = np.full(m, float(hmax))
        use = (np.abs(x)[None, :] <= h[:, None]) & inside_axis
        # Log fit over the positive channels of the window when there are enough of them.
        positive = np.sum(use & (v > 0), axis=1) >= 3
        use = use & ((v > 0) | ~positive[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(positive[:, None], np.log(np.where(v > 0, v, 1.0)), v)
        # Poisson weights for the log fit (var(log y) ~ 1/y); uniform weights for the linear fit.
        w = np.where(use, np.where(positive[:, None], np.clip(v, 0, None), 1.0), 0.0)
        s = [np.sum(w * x**p, axis=1) for p in range(5)]
        t = [np.sum(w * z * x**p, axis=1) for p in range(3)]
        a = np.stack([np.stack(s[r : r + 3], -1) for r in range(3)], axis=-2)
        rhs = np.stack(t, -1)
        good = np.abs(np.linalg.det(a)) > 1e-12 * np.maximum(s[4] * s[2] * s[0], 1e-300)
        a[~good] = np.eye(3)
        coef = np.linalg.solve(a, rhs[..., None])[..., 0]
        b, c = coef[:, 1], coef[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = -b / (2.0 * c)
        ok = good & (c < 0) & np.isfinite(delta) & (np.abs(delta) <= np.maximum(h / 2, 1.0))
        # The refined position stays inside the search range.
        pos = np.clip(pos + np.where(ok, delta, 0.0), i0, i1 - 1)
    pos[~_distinct_peaks(y, k, i0, i1, last)] = np.nan
    return pos


def estimate_zero_loss_position(
    s: Signal,
    signal_range: Sequence[float] | None = None,
    subpixel: bool = True,
    half_width: int | None = None,
    executor=None,
    progress=None,
) -> np.ndarray:
    """Energy (axis units) of the zero-loss peak of every spectrum, as a numpy array of navigation shape.

    ``signal_range=(E1, E2)`` restricts the search for the maximum (use it when another feature can be
    brighter than the ZLP, or to bound the alignment). Spectra whose maximum is not a distinct peak give NaN: not
    positive, at an end of the searched channels, never followed by a fall to half of it (a flat spectrum), or,
    without ``signal_range``, above :data:`ZLP_MAX_ENERGY` (a core-loss maximum); an axis in eV that starts above
    that energy is refused (:class:`DataError`).
    ``executor``, ``progress``: passed to :func:`emscale.engine.run_pass`.
    """
    return _zlp_positions(s, signal_range, subpixel, half_width, executor, progress)[0]


def _zlp_positions(s, signal_range, subpixel, half_width, executor, progress) -> tuple[np.ndarray, int]:
    """:func:`estimate_zero_loss_position` and the number of spectra with NaN or inf next to their peak (its channel
    or one beside it): the peak then read from a neighbour, half a channel off (a NaN further out is left out of the
    fit at no cost)."""
    ax = _energy_axis(s)
    i0, i1, last = _zlp_search(ax, signal_range, "locating the zero-loss peak")

    def m(block, rows):
        y = _as_rows(block)
        pos = _peak_positions(y, i0, i1, subpixel, half_width, last)
        bad = 0
        if y.dtype.kind in "fc":
            k = np.rint(np.where(np.isfinite(pos), pos, 0)).astype(np.int64)
            near = np.clip(k[:, None] + np.arange(-1, 2)[None, :], 0, y.shape[1] - 1)
            bad = int((np.isfinite(pos) & ~np.isfinite(np.take_along_axis(y, near, axis=1)).all(axis=1)).sum())
        return pos, bad

    idx, bad = run_pass(_source(s), Pass(m, values_and_count, name="zlp_position"), executor, _PARTITION_BYTES,
                        progress=progress)
    return (ax.offset + ax.scale * np.asarray(idx, dtype=np.float64)).reshape(_nav_shape_np(s)), bad


def check_interpolation(interpolation, tool: str = "") -> None:
    """The sub-channel interpolation of a shift: ``"linear"`` or ``"fourier"``; else a DataError (named after
    ``tool`` where given, so that a tool can say it before its passes)."""
    if interpolation not in ("linear", "fourier"):
        raise DataError(f"{tool}{': ' if tool else ''}interpolation must be 'linear' or 'fourier', not "
                        f"{interpolation!r}")


def _shift_rows(y: np.ndarray, d: np.ndarray, interpolation: str) -> np.ndarray:
    """``out[p, i] = y[p, i + d[p]]`` (fractional ``d`` in channels); NaN where ``i + d`` leaves the row."""
    m, n = y.shape
    i = np.arange(n, dtype=np.float64)[None, :]
    j = i + d[:, None]
    valid = (j >= -1e-9) & (j <= n - 1 + 1e-9)
    if interpolation == "linear":
        j0 = np.floor(j)
        f = j - j0
        j0 = j0.astype(np.int64)
        a = np.take_along_axis(y, np.clip(j0, 0, n - 1), axis=1)
        b = np.take_along_axis(y, np.clip(j0 + 1, 0, n - 1), axis=1)
        out = a + f * (b - a)
    elif interpolation == "fourier":
        bad = ~np.isfinite(y)
        if bad.any():
            # NaN (e.g. from an earlier uncropped shift) would spread over the whole row: fill with the
            # nearest valid value, shift, and put NaN back wherever the shifted gap reaches.
            y = _fill_nearest(y, bad)
            gap = _shift_rows(bad.astype(np.float64), d, "linear")
            valid &= ~(gap > 0) & np.isfinite(y).all(axis=1, keepdims=True)
            y = np.where(np.isfinite(y), y, 0.0)
        # Pad with the edge values so the periodic wrap-around is far from the data; then a phase ramp.
        pad = n // 2
        yp = np.pad(y, ((0, 0), (pad, pad)), mode="edge")
        npad = yp.shape[1]
        freq = np.fft.rfftfreq(npad)
        spec = np.fft.rfft(yp, axis=1) * np.exp(2j * np.pi * freq[None, :] * d[:, None])
        out = np.fft.irfft(spec, n=npad, axis=1)[:, pad : pad + n]
    else:
        check_interpolation(interpolation)
    out[~valid] = np.nan
    return out


def _fill_nearest(y: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``y`` with each flagged value replaced by the nearest unflagged one in its row (all-flagged: NaN)."""
    n = y.shape[1]
    i = np.arange(n)[None, :]
    fwd = np.maximum.accumulate(np.where(bad, -1, i), axis=1)
    bwd = np.minimum.accumulate(np.where(bad, n, i)[:, ::-1], axis=1)[:, ::-1]
    use_fwd = (fwd >= 0) & ((bwd >= n) | (i - fwd <= bwd - i))
    src = np.where(use_fwd, fwd, np.where(bwd < n, bwd, 0))
    out = np.take_along_axis(y, src, axis=1)
    out[(fwd < 0) & (bwd >= n)] = np.nan
    return out


def _out_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype == np.float32 or dtype == np.float16 or (dtype.kind in "biu" and dtype.itemsize <= 2):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _apply_shifts(
    s: Signal, shift_ev: np.ndarray, interpolation: str, crop: bool, calibrate_offset: float, executor=None,
    progress=None,
) -> tuple[np.ndarray, Axis]:
    """Shift every spectrum of ``s`` by ``shift_ev`` (nav-shaped, eV): ``out(E) = in(E + shift)``."""
    ax = _energy_axis(s)
    n = ax.size
    d_all = np.asarray(shift_ev, dtype=np.float64).reshape(-1) / ax.scale
    if d_all.size != int(np.prod(_nav_shape_np(s), dtype=np.int64)):
        raise DataError(f"{d_all.size} shifts given for {s!r} with navigation shape {s.nav_shape}")
    if not np.all(np.isfinite(d_all)):
        raise DataError("shifts must be finite")
    dtype = _out_dtype(s.dtype)
    src = _source(s)
    per_row = int(np.prod(src.shape[1:-1], dtype=np.int64))

    def m(block, rows):
        start = rows.start or 0
        d = d_all[start * per_row : (start + block.shape[0]) * per_row]
        out = _shift_rows(_as_rows(block), d, interpolation)
        return out.reshape(block.shape).astype(dtype, copy=False)

    data = run_pass(src, Pass(m, None, name="shift_spectra"), executor, _PARTITION_BYTES, progress=progress)
    if not s.nav_ndim:
        data = data[0]
    new_ax = Axis(ax.name, n, ax.scale, ax.offset - float(calibrate_offset), ax.units, False)
    if crop and d_all.size:
        lo = max(0, math.ceil(-float(d_all.min()) - 1e-9))
        hi = min(n - 1, math.floor(n - 1 - float(d_all.max()) + 1e-9))
        if hi < lo:
            raise DataError("the shifts are larger than the energy axis: nothing is left after cropping")
        sl = slice(lo, hi + 1)
        data = data[..., sl]
        new_ax = new_ax.sliced(sl)
    return data, new_ax


@operation("shift_spectra", record={"shifts": lambda v, a: _as_map(v)})
def shift_spectra(
    s: Signal,
    shifts,
    interpolation: str = "linear",
    crop: bool = True,
    calibrate_offset: float = 0.0,
    executor=None,
    progress=None,
) -> Signal:
    """Shift every spectrum along energy by its own amount: ``out(E) = in(E + shift)`` (shifts in axis units).

    ``shifts`` is a numpy array of navigation shape (numpy order) or a navigation-map Signal, e.g. the
    ``shifts`` of :func:`align_zero_loss`. Sub-channel shifts interpolate linearly (``"linear"``) or with a
    Fourier phase ramp (``"fourier"``); channels shifted in from outside the axis are NaN unless ``crop=True``
    keeps only the channels defined for every spectrum. ``calibrate_offset`` is then subtracted from the
    energy-axis offset (e.g. to put the ZLP at 0 eV). ``executor``, ``progress``: passed to
    :func:`emscale.engine.run_pass`.
    """
    data, ax = _apply_shifts(s, _as_map(shifts), interpolation, crop, calibrate_offset, executor, progress)
    return derive(s, data, list(s.axes[:-1]) + [ax])


class ZeroLossAlignment(NamedTuple):
    """Result of :func:`align_zero_loss`: unpack as ``aligned, shifts, others = ...``."""

    signal: Signal  # the aligned spectra
    shifts: Signal  # per pixel, its ZLP position minus the target (energy units): the spectrum moved by minus it
    also_aligned: list  # the ``also_align`` signals shifted the same way


@operation("align_zero_loss", not_recorded=("also_align",))
def align_zero_loss(
    s: Signal,
    signal_range: Sequence[float] | None = None,
    subpixel: bool = True,
    also_align: Sequence[Signal] = (),
    target: str | float = "median",
    calibrate: bool = True,
    crop: bool = True,
    interpolation: str = "linear",
    executor=None,
    progress=None,
) -> ZeroLossAlignment:
    """Align the zero-loss peak (ZLP) of every spectrum.

    1. Find each ZLP: the maximum channel (inside ``signal_range=(E1, E2)`` when given), refined to a fraction
       of a channel by a 5-point least-squares parabola through the log counts (``subpixel=True``).
    2. Shift each spectrum so its ZLP lands on ``target``: ``"median"`` (default: the median ZLP position,
       which keeps the interpolation small), ``"zero"`` (0 eV) or an energy.
    3. ``calibrate=True`` then moves the energy-axis offset so that the common ZLP position is 0 eV.

    Sub-channel shifts use linear interpolation (or ``interpolation="fourier"``). ``crop=True`` keeps only the
    channels that every shifted spectrum covers (no NaN); ``crop=False`` keeps the axis and fills with NaN.
    Spectra without a distinct zero-loss peak (:func:`estimate_zero_loss_position`) are left unshifted (shift 0,
    with a warning); when no spectrum has one, or the axis starts above :data:`ZLP_MAX_ENERGY` (a core-loss
    spectrum), :class:`DataError` says so.

    ``also_align`` signals (e.g. core-loss spectrum images recorded with this low-loss, same navigation shape)
    are shifted by the same energies and recalibrated the same way.

    Returns :class:`ZeroLossAlignment` ``(signal, shifts, also_aligned)``; ``shifts`` is a navigation map of
    each spectrum's ZLP position minus the target, in energy units: each was moved by minus it, as
    :func:`shift_spectra` does (``out(E) = in(E + shift)``).

    ``executor``, ``progress``: passed to :func:`emscale.engine.run_pass` (one pass locates the ZLPs, one shifts
    the spectra, one more per ``also_align`` signal; ``progress`` counts each pass's bytes).
    """
    ax = _energy_axis(s)
    if str(s.signal_type or "").upper().startswith("EDS"):
        # an EDS map's zero-energy (strobe) peak was "aligned" as a zero-loss peak, and channels dropped
        raise DataError(f"{s!r} is an EDS signal: align_zero_loss aligns the zero-loss peak of EELS spectra; an EDS "
                        "detector's zero-energy peak is no energy reference of the specimen")
    factors = [shift_units_factor(o, s, ax, "align_zero_loss") for o in also_align]  # before any pass
    pos, nonfinite = _zlp_positions(s, signal_range, subpixel, None, executor, progress)
    if nonfinite:  # a NaN at the peak channel moved the pixel half a channel, with no word (a review)
        warnings.warn(f"{nonfinite} of {pos.size} spectra hold NaN or inf at their zero-loss peak (its channel or one "
                      "beside it): their peaks are read from a neighbour, up to half a channel off, and the shift "
                      "spreads each NaN to the next channel; mask or replace them first", stacklevel=2)
    finite = np.isfinite(pos)
    if not finite.any():
        raise DataError(f"{s!r}: no spectrum has a distinct zero-loss peak (a positive maximum that the spectrum "
                        f"falls to half of after it, below {ZLP_MAX_ENERGY:g} eV unless signal_range says where); "
                        "nothing to align")
    if not finite.all():
        warnings.warn(
            f"{int((~finite).sum())} of {finite.size} spectra have no distinct zero-loss peak; they are left "
            "unshifted", stacklevel=2
        )
    if isinstance(target, str):
        if target == "median":
            tgt = float(np.median(pos[finite]))
        elif target in ("zero", "0"):
            tgt = 0.0
        else:
            raise DataError(f"target must be 'median', 'zero' or an energy, not {target!r}")
    else:
        tgt = float(target)
    shifts = np.where(finite, pos - tgt, 0.0)
    offset = tgt if calibrate else 0.0
    data, new_ax = _apply_shifts(s, shifts, interpolation, crop, offset, executor, progress)
    aligned = derive(s, data, list(s.axes[:-1]) + [new_ax])
    shift_sig = _nav_signal(s, shifts, "ZLP shifts", f"ZLP shift ({ax.units or 'energy'})")
    # a core loss in keV took the eV shifts and offset as keV: "nothing is left after cropping", or half NaN
    others = [as_step(shift_spectra, o, shifts * f, interpolation=interpolation, crop=crop,
                      calibrate_offset=offset * f, executor=executor, progress=progress)
              for o, f in zip(also_align, factors, strict=True)]
    return ZeroLossAlignment(aligned, shift_sig, others)


# ---------------------------------------------------------------------------------------------------------
# thickness (log-ratio)
# ---------------------------------------------------------------------------------------------------------
def check_window_length(window_length) -> None:
    """The Savitzky-Golay window of the ZLP's end, in channels: a whole number >= 1 (made odd, cut to the axis; one
    of ``polyorder`` channels or fewer leaves the spectra unsmoothed). 0 and -3 ran unsmoothed, said nowhere."""
    check_count("window_length", window_length, "channels of the Savitzky-Golay smoothing; 1: unsmoothed")


def check_polyorder(polyorder) -> None:
    """The Savitzky-Golay polynomial's order: a whole number >= 0 (-1 failed deep in the pass with numpy's
    "expected deg >= 0")."""
    check_count("polyorder", polyorder, "order of the Savitzky-Golay polynomial", minimum=0)


def _threshold_index(y: np.ndarray, window_length: int, polyorder: int, i0: int, i1: int,
                     last: int | None = None) -> np.ndarray:
    """Per row: index of the first local minimum after the ZLP (end of the elastic peak); -1 when none, or when
    the row's maximum is not a distinct peak (:func:`_distinct_peaks`)."""
    from scipy.signal import savgol_filter

    m, n = y.shape
    wl = min(int(window_length) | 1, n - (1 - n % 2))
    if wl > polyorder:
        ys = savgol_filter(y, wl, polyorder, axis=1, mode="interp")
        dy = savgol_filter(y, wl, polyorder, deriv=1, axis=1, mode="interp")
    else:
        ys = y
        dy = np.gradient(y, axis=1)
    k = _max_channel(y, i0, i1)
    peak = ys[np.arange(m), k]
    i = np.arange(n)[None, :]
    # Start past the half maximum of the ZLP so noise on the peak top cannot pass for a minimum; a spectrum
    # that never falls to half its maximum (no distinct ZLP) is searched from the maximum on.
    below_half = (i > k[:, None]) & (ys < 0.5 * peak[:, None])
    start = np.where(below_half.any(axis=1), np.argmax(below_half, axis=1), k + 1)
    rising = (i >= start[:, None]) & (dy >= 0)
    found = rising.any(axis=1) & _distinct_peaks(y, k, i0, i1, last)
    return np.where(found, np.argmax(rising, axis=1), -1)


@operation("elastic_threshold", check={"window_length": check_window_length, "polyorder": check_polyorder})
def elastic_threshold(
    s: Signal,
    signal_range: Sequence[float] | None = None,
    window_length: int = 5,
    polyorder: int = 2,
    executor=None,
    progress=None,
) -> Signal:
    """Energy of the first intensity minimum after the zero-loss peak of every spectrum (end of the ZLP).

    The spectra are smoothed with a Savitzky-Golay filter (``window_length`` channels, made odd, ``polyorder``;
    derivative from the same filter; a window of ``polyorder`` channels or fewer: unsmoothed); the search starts
    once the smoothed intensity has fallen below half the ZLP maximum (at the maximum when it never does) and stops
    at the first channel where the derivative is no longer negative. NaN where no minimum is found or the spectrum
    has no distinct zero-loss peak (:func:`estimate_zero_loss_position`).
    ``signal_range`` restricts the search for the ZLP maximum. Returns a navigation-map Signal (energy units).
    ``executor``, ``progress``: passed to :func:`emscale.engine.run_pass`.
    """
    check_window_length(window_length)
    check_polyorder(polyorder)
    ax = _energy_axis(s)
    i0, i1, last = _zlp_search(ax, signal_range, "the elastic threshold")

    def m(block, rows):
        idx = _threshold_index(_as_rows(block), window_length, polyorder, i0, i1, last)
        e = np.where(idx >= 0, ax.offset + ax.scale * idx, np.nan)
        return e.reshape(block.shape[:-1])

    thr = run_pass(_source(s), Pass(m, None, name="elastic_threshold"), executor, _PARTITION_BYTES,
                   progress=progress)
    return _nav_signal(s, thr, "elastic threshold", f"energy ({ax.units})")


def _smoothing_check(check):
    """``check`` of a smoothing option of :func:`thickness`, where its mode smooths (``zlp_window`` None): a fixed
    window or threshold never reads them, and ran with any value (a recorded history holding one still replays)."""
    return lambda value, arguments: check(value) if arguments.get("zlp_window") is None else None


@operation("thickness", record={"zlp_window": lambda v, a: _as_map(v) if isinstance(v, Signal) else v},
           check={"window_length": _smoothing_check(check_window_length),
                  "polyorder": _smoothing_check(check_polyorder)})
def thickness(
    s: Signal,
    zlp_window=None,
    signal_range: Sequence[float] | None = None,
    window_length: int = 5,
    polyorder: int = 2,
    executor=None,
    progress=None,
) -> Signal:
    """Relative thickness map ``t / lambda = ln(I_total / I_zlp)`` (log-ratio method, Egerton).

    ``I_total`` sums every channel of the spectrum; ``I_zlp`` sums the zero-loss peak, as ``zlp_window`` says:

    * ``None`` (default): from the first channel up to (not including) the first intensity minimum after the
      ZLP of each spectrum, found by :func:`elastic_threshold` (like exspy's
      ``estimate_elastic_scattering_threshold``; the ZLP need not sit at 0 eV);
    * a number: a threshold energy, the same for all spectra (exspy's ``estimate_thickness(threshold=E)``);
    * a navigation map (Signal or array) of threshold energies;
    * ``(E1, E2)``: a fixed window around the ZLP.

    The spectra must contain the whole low-loss distribution (ZLP and plural plasmon scattering). Pixels whose
    ZLP integral is not positive, or (default window) that have no distinct zero-loss peak
    (:func:`estimate_zero_loss_position`), give NaN with a warning; when every pixel does, or the axis starts above
    :data:`ZLP_MAX_ENERGY` (a core-loss spectrum), :class:`DataError` says so. Returns a navigation-map Signal
    (float64).
    ``executor``, ``progress``: passed to :func:`emscale.engine.run_pass`.
    """
    if zlp_window is None:  # the mode that smooths (a recipe's check too: _smoothing_check)
        check_window_length(window_length)
        check_polyorder(polyorder)
    ax = _energy_axis(s)
    n = ax.size
    src = _source(s)
    per_row = int(np.prod(src.shape[1:-1], dtype=np.int64))
    window: tuple[int, int] | None = None
    thr_idx: np.ndarray | None = None
    mode = "auto"
    if zlp_window is None:
        pass
    elif isinstance(zlp_window, Signal | np.ndarray):
        arr = zlp_window.to_numpy() if isinstance(zlp_window, Signal) else zlp_window
        arr = np.asarray(arr, dtype=np.float64).reshape(-1)
        if arr.size != max(1, per_row * src.shape[0]):
            raise DataError(
                f"zlp_window map has {arr.size} values for {s!r} with navigation shape {s.nav_shape}"
            )
        finite = np.isfinite(arr)
        thr_idx = np.where(finite, ax.values_to_indices(np.where(finite, arr, ax.offset)), -1).astype(np.int64)
        mode = "map"
    elif np.ndim(zlp_window) == 0:
        window = (0, ax.value_to_index(float(zlp_window), clip=True))
        mode = "threshold"
    else:
        if len(zlp_window) != 2:
            raise DataError(f"zlp_window must be None, an energy, a map or (E1, E2); got {zlp_window!r}")
        window = _window(ax, zlp_window, "zlp_window")
        mode = "window"
    # a given signal_range is checked in every mode; the axis must hold a ZLP where the default window finds it
    i0, i1, last = (_zlp_search(ax, signal_range, "thickness") if mode == "auto" or signal_range is not None
                    else (0, n, None))

    def m(block, rows):
        y = _as_rows(block)
        total = y.sum(axis=1)
        if mode in ("auto", "map"):
            if mode == "auto":
                idx = _threshold_index(y, window_length, polyorder, i0, i1, last)
            else:
                start = rows.start or 0
                idx = thr_idx[start * per_row : (start + block.shape[0]) * per_row]
            cs = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y, axis=1)], axis=1)
            zlp = np.take_along_axis(cs, np.clip(idx, 0, n)[:, None], axis=1)[:, 0]
            zlp = np.where(idx >= 0, zlp, np.nan)
        else:
            zlp = y[:, window[0] : window[1]].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(zlp > 0, np.log(total / zlp), np.nan)
        return t.reshape(block.shape[:-1])

    t = run_pass(src, Pass(m, None, name="thickness"), executor, _PARTITION_BYTES, progress=progress)
    missing = ~np.isfinite(np.asarray(t))
    why = ("no distinct zero-loss peak, or a ZLP integral that is not positive" if mode == "auto"
           else "a ZLP integral that is not positive")
    if missing.all():
        raise DataError(f"{s!r}: no spectrum gives a thickness ({why}); the log-ratio method needs low-loss "
                        "spectra with their zero-loss peak")
    if missing.any():
        warnings.warn(f"{int(missing.sum())} of {missing.size} spectra give no thickness ({why}): NaN there",
                      stacklevel=2)
    return _nav_signal(s, t, "t/lambda", "t/lambda")


# ---------------------------------------------------------------------------------------------------------
# edges (xraydb)
# ---------------------------------------------------------------------------------------------------------
class Edge(NamedTuple):
    element: str
    edge: str  # "K", "L1", "L2", "L3", "M4", ... or a combined EELS name such as "L2,3", "M4,5"
    onset: float  # eV


# Sub-shells EELS usually reports as one edge: combined name -> members (onset = lowest member).
_COMBINED = {
    "L2,3": ("L2", "L3"),
    "M2,3": ("M2", "M3"),
    "M4,5": ("M4", "M5"),
    "N2,3": ("N2", "N3"),
    "N4,5": ("N4", "N5"),
    "N6,7": ("N6", "N7"),
    "O2,3": ("O2", "O3"),
    "O4,5": ("O4", "O5"),
}
_MEMBER_OF = {m: c for c, ms in _COMBINED.items() for m in ms}
_SHELL_ORDER = "KLMNOP"

# xraydb lists a few shallow sub-shells with placeholder energies of a few eV (e.g. Fe M4,5 at 2 eV); they
# are not core-loss edges, so edges below this energy are dropped.
MIN_EDGE_ENERGY = 10.0
# The K edges whose xraydb (Elam) energy is the free atom's, 9-12 eV above where the edge rises in a solid: the
# onsets EELS tables list (Ahn & Krivanek's EELS Atlas). On the real EELS_SI.dm4 the O K edge rises at 526-530 eV,
# the viewer's marker stood at 543.1. Of 412 onsets compared with exspy's table these were the light elements' only
# differences over 5 eV (the rest: a median 0.8 eV; heavy O and N shells of the actinides apart)
EELS_ONSETS = {("N", "K"): 401.0, ("O", "K"): 532.0, ("F", "K"): 685.0}
TABLES = ("eels", "xraydb")


def check_table(table) -> None:
    """An edge table :func:`edges` knows; else a DataError naming them."""
    if table not in TABLES:
        raise DataError(f"unknown edge table {table!r}; choose 'eels' (EELS onsets where they differ from X-ray "
                        "edges) or 'xraydb' (X-ray absorption edges throughout)")


@lru_cache(maxsize=256)
def _subshells(element: str, table: str = "eels") -> tuple[Edge, ...]:
    import xraydb

    out = []
    for name, e in xraydb.xray_edges(element).items():
        if e.energy >= MIN_EDGE_ENERGY:
            onset = EELS_ONSETS.get((element, name), float(e.energy)) if table == "eels" else float(e.energy)
            out.append(Edge(element, name, onset))
    return tuple(sorted(out, key=lambda x: (_SHELL_ORDER.index(x.edge[0]), x.edge)))


def edges(element: str, combine: bool = False, table: str = "eels") -> list[Edge]:
    """Core-loss edges of an element (eV): ``xraydb``'s X-ray absorption edge energies, with the EELS onsets of the
    light elements whose tabulated edge is the free atom's (:data:`EELS_ONSETS`: N, O, F K) for ``table="eels"``, the
    default; ``table="xraydb"`` takes xraydb's throughout (edge maps recorded before 2026-12-06 did: O K at 543.1).

    Sub-shells are named as in EELS tables (``K``, ``L1``, ``L2``, ``L3``, ``M4``, ``M5``...). With
    ``combine=True`` the pairs that EELS resolves as one edge are merged (``L2,3``, ``M4,5``...) with the
    lower onset.

    >>> edges("Si")[:4]
    [Edge(element='Si', edge='K', onset=1839.0), Edge(element='Si', edge='L1', onset=149.7), ...]
    """
    check_table(table)
    el = element_symbol(element)
    sub = list(_subshells(el, table))
    if not combine:
        return sub
    out: list[Edge] = []
    groups: dict[str, list[Edge]] = {}
    for e in sub:
        c = _MEMBER_OF.get(e.edge)
        if c is None:
            out.append(e)
        else:
            if c not in groups:
                groups[c] = []
                out.append(Edge(el, c, math.nan))  # placeholder keeps shell order
            groups[c].append(e)
    return [Edge(el, e.edge, min(g.onset for g in groups[e.edge])) if e.edge in groups else e for e in out]


def edge_onsets(
    elements: str | Sequence[str], energy_range: Sequence[float] | None = None, combine: bool = False
) -> list[Edge]:
    """The edges of several elements, sorted by onset, optionally only those inside ``energy_range=(E1, E2)``
    (eV; pass a signal's ``(axis.low, axis.high)`` to list the edges it covers)."""
    if isinstance(elements, str):
        elements = [elements]
    out = [e for el in elements for e in edges(el, combine=combine)]
    if energy_range is not None:
        lo, hi = (float(v) for v in energy_range)
        out = [e for e in out if lo <= e.onset <= hi]
    return sorted(out, key=lambda e: (e.onset, e.element))


def _parse_edge(spec) -> tuple[str, str]:
    if isinstance(spec, tuple | list) and len(spec) == 2:
        el, name = spec
    else:
        m = re.fullmatch(r"\s*([A-Za-z]{1,2})[\s_-]+([A-Za-z]\d?(?:[,]?\d)?)\s*", str(spec))
        if not m:
            raise DataError(
                f"edge {spec!r} not understood; use e.g. 'Fe_L3', 'O_K', 'Fe_L2,3' or ('Fe', 'L3')"
            )
        el, name = m.groups()
    name = str(name).strip().upper()
    if re.fullmatch(r"[A-Z]\d\d", name):  # "L23" -> "L2,3"
        name = f"{name[:2]},{name[2]}"
    return element_symbol(el), name


def edge_onset(spec, table: str = "eels") -> float:
    """Onset energy (eV) of one edge (``table``: as :func:`edges`).

    ``spec`` is e.g. ``"Fe_L3"``, ``"O K"``, ``"Fe_L2,3"`` (or ``"Fe_L23"``) or ``("Fe", "L3")``.
    """
    el, name = _parse_edge(spec)
    known = {e.edge: e.onset for e in edges(el, table=table)} | {
        e.edge: e.onset for e in edges(el, combine=True, table=table)}
    if name not in known:
        raise DataError(f"{el} has no {name} edge above {MIN_EDGE_ENERGY:g} eV; known: {', '.join(known)}")
    return known[name]


# ---------------------------------------------------------------------------------------------------------
# edge maps
# ---------------------------------------------------------------------------------------------------------
# A window of which less than this fraction lies on the energy axis is refused: a power law fitted on a sliver of
# its pre-edge window and extrapolated over the edge gave maps of -4e5 where the truth is 0 (2.5 of 30 eV kept),
# and an integration window 7.5 of 50 eV long is not the edge intensity that was asked for.
MIN_WINDOW_ON_AXIS = 0.5


def _on_axis(ax: Axis, window, what: str, label: str) -> tuple[float, float]:
    """The part of an energy window that lies on the axis (whose last channel reaches one channel beyond its value):
    refused when less than :data:`MIN_WINDOW_ON_AXIS` of it, with a warning when more than a channel is cut."""
    lo, hi = (float(v) for v in window)
    kept = (max(lo, ax.low), min(hi, ax.high + ax.scale))
    on_axis = max(kept[1] - kept[0], 0.0)
    u = f" {ax.units}" if ax.units else ""
    asked = f"{what} ({lo:g}, {hi:g}){u}"
    if on_axis < MIN_WINDOW_ON_AXIS * (hi - lo):
        raise AxisError(
            f"edge map {label}: the {asked} lies mostly outside the energy axis {ax.describe_range()} ({on_axis:g} "
            f"of {hi - lo:g}{u} on it); give a {what.replace(' ', '_')} that lies on the axis"
        )
    if on_axis < (hi - lo) - ax.scale:
        warnings.warn(
            f"edge map {label}: the {asked} is cut by the end of the energy axis {ax.describe_range()} to "
            f"({kept[0]:g}, {kept[1]:g}){u}: {on_axis:g} of {hi - lo:g}{u}", stacklevel=3
        )
    return kept


def _check_onset(ax: Axis, onset: float, label: str) -> None:
    """An edge whose onset lies beyond the axis has no pre-edge and no edge on it to map."""
    if not ax.low <= onset <= ax.high:
        u = f" {ax.units}" if ax.units else ""
        raise AxisError(
            f"edge map {label}: the edge onset {onset:g}{u} lies outside the energy axis {ax.describe_range()}"
        )


@operation("edge_map", forwards="remove_background", forward_except=("signal_range",), check={"table": check_table},
           before_recorded=lambda params: {"table": "xraydb"})  # a step recorded before the EELS onsets replays
def edge_map(
    s: Signal,
    edge,
    background_window: Sequence[float] | None = None,
    integration_window: Sequence[float] | None = None,
    model: str = "powerlaw",
    integration_width: float = 50.0,
    onset_margin: float = 0.02,
    table: str = "eels",
    executor=None,
    progress=None,
    **background_kwargs,
) -> Signal:
    """Background-subtracted integrated intensity of one core-loss edge, one value per pixel.

    ``edge`` is an edge name (``"Fe_L3"``, ``("O", "K")``; onset from :func:`edge_onset` of ``table``), an onset
    energy, or
    an ``(E1, E2)`` window (then the integration window). The background (``model``, default power law) is
    fitted in ``background_window`` by :meth:`Signal.remove_background` and the remainder summed over
    ``integration_window``. Defaults, with ``E0 = onset * (1 - onset_margin)`` (the tabulated X-ray edge can
    sit a few eV above the EELS onset): integration ``(E0, E0 + integration_width)``, background
    ``(E0 - max(30 eV, 0.1 * onset), E0)``. An onset or window given as numbers is in the energy axis's units; an
    edge name's onset and ``integration_width`` are in eV, converted on an axis in keV or meV. Extra keywords (e.g.
    ``fit="fast"``) go to ``remove_background``.
    ``executor``, ``progress``: passed to :func:`emscale.engine.run_pass` (the background fit's pass and the
    integration's).

    Windows and the energy axis: a window that reaches beyond the axis is cut to it, with a warning when more than
    a channel is cut; one of which less than half (:data:`MIN_WINDOW_ON_AXIS`) lies on the axis is refused
    (:class:`AxisError`), as is an onset (named edge or energy) outside the axis when a window is derived from it.
    The windows used are recorded in ``metadata["EELS"]["edge_map"]``.

    A NaN (or infinite) value in either window makes that pixel's intensity NaN; one outside both changes nothing.
    """
    ax = _energy_axis(s)
    # the edge table and the default widths are in eV; an axis in keV (or meV) takes them in its own units (Ti L3
    # at 453.8 "keV" was said to lie outside a 0.3-2.3 keV axis)
    per_ev = ev_per_unit(ax.units) or 1.0
    named = isinstance(edge, tuple | list) and len(edge) == 2 and isinstance(edge[0], str)
    if isinstance(edge, str) or named:
        onset = edge_onset(edge, table) / per_ev
        label = "{}_{}".format(*_parse_edge(edge))
    elif np.ndim(edge) == 0:
        onset = float(edge)
        label = f"{onset:g} {ax.units}".strip()
    else:
        if len(edge) != 2:
            raise DataError(f"edge {edge!r}: give an edge name, an onset energy or an (E1, E2) window")
        check_window(edge, "edge")
        if integration_window is None:
            integration_window = tuple(float(v) for v in edge)
        onset = float(edge[0])
        label = f"{float(edge[0]):g}-{float(edge[1]):g} {ax.units}".strip()
    for window, name in ((background_window, "background_window"), (integration_window, "integration_window")):
        if window is not None:
            check_window(window, name)
    if integration_window is None or background_window is None:
        _check_onset(ax, onset, label)
    e0 = onset * (1.0 - onset_margin) if onset > 0 else onset
    if integration_window is None:
        integration_window = (e0, e0 + float(integration_width) / per_ev)
    if background_window is None:
        iw0 = float(integration_window[0])
        background_window = (iw0 - max(30.0 / per_ev, 0.1 * abs(onset)), iw0)
    bw = _on_axis(ax, background_window, "background window", label)
    bw = (bw[0], min(bw[1], ax.high))  # remove_background takes a window inside the axis's values
    iw = _on_axis(ax, integration_window, "integration window", label)
    b0, b1 = _window(ax, bw, "background_window")
    i0, i1 = _window(ax, iw, "integration_window")
    # Fit and subtract on the part of the spectrum the map needs only.
    lo, hi = min(b0, i0), max(i1, b1)
    sub = s.isig[lo:hi]
    # Pass the background window in energies on the cropped signal's axis.
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        stripped, params = sub.remove_background(bw, model=model, executor=executor, progress=progress,
                                                 return_params=True, **background_kwargs)
    for w in said:  # an unfitted pixel is NaN in the map (below): the advice to ask for the mask is not this call's
        warn_caller(str(w.message).replace(MASK_ADVICE, "Those pixels are NaN in the edge map."), w.category)
    j0, j1, k0, k1 = i0 - lo, i1 - lo, b0 - lo, b1 - lo

    def m(block, rows):
        y = np.asarray(block, dtype=np.float64)
        # A NaN in the background window leaves its pixel unfitted (background 0); one in the integration window
        # is a value the sum cannot know: either way that pixel's intensity is unknown, as it is by hand
        # (remove_background, then isig[E1:E2].sum(-1)).
        fitted = np.isfinite(y[..., k0:k1]).all(axis=-1)
        return np.where(fitted, y[..., j0:j1].sum(axis=-1), np.nan)

    data = run_pass(_source(stripped), Pass(m, None, name="edge_map"), executor, _PARTITION_BYTES,
                    progress=progress)
    # a pixel whose background could not be fitted (no counts in half the window at a low dose) kept its
    # background, and its intensity read as the raw window sum (23.4 where the fitted pixels' mean was 17.3)
    unfitted = np.asarray(params["mask"]).reshape(np.shape(data)) & np.isfinite(data)
    data = np.where(unfitted, np.nan, data)
    undefined = int(np.count_nonzero(~np.isfinite(data)))
    if undefined:
        why = [f"{int(unfitted.sum())} without a fitted background (see the warning above; binning the map gives "
               "them counts)"] if unfitted.any() else []
        if undefined > unfitted.sum():
            why.append(f"{undefined - int(unfitted.sum())} whose spectra hold NaN or infinite values in the "
                       "background or integration window (mask or replace them)")
        warn_caller(f"edge map {label}: {undefined} pixel(s) are NaN: " + "; ".join(why))
    out = _nav_signal(s, data, f"{label} edge intensity", f"{label} intensity (counts)")
    out.metadata.setdefault("EELS", {})["edge_map"] = {
        "edge": label,
        "onset": onset,
        "background_window": list(bw),
        "integration_window": [ax.offset + ax.scale * i0, ax.offset + ax.scale * i1],
        "model": model,
    }
    return out
