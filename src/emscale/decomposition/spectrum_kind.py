"""Whether a signal's spectra are EDS spectra: what the separation's EDS-only steps follow (the zero-energy peak's
mask, the pure-channel end of :mod:`.purity`, plots cropped to the lines).

The ``signal_type`` says so where it is set. A signal wrapped from a plain array has none, and the same counts then
skipped the pure-channel end: a held-out EDS gradient of three phases (64 x 64 x 1024, 2300 counts/pixel) went
0.45 -> 9.0 degrees from the truth (NMF). Untyped, the energy axis decides: an EDS detector's channels are
5-20 eV wide and its axis runs from about zero (the strobe peak) to the K lines of the transition metals or further;
an EELS spectrometer's channels are 0.005-1 eV wide (2-5 eV at most for a survey), and a CL axis is a wavelength.
The detector's zero-energy (strobe) peak lies below :data:`ZERO_PEAK_KEV` (:func:`zero_peak_channels`): decompose
masks it, plots draw it off scale.
"""

from __future__ import annotations

import numpy as np

from ..core.axes import Axis
from ..spectroscopy._energy import ev_per_unit

EDS_MIN_CHANNEL_EV = 4.0  # narrowest EDS channel taken without a signal_type
ZERO_PEAK_KEV = 0.1  # EDS channels below this energy hold the detector's zero-energy (strobe) peak
STROBE_WINDOW_KEV = (0.1, 0.3)  # beside the zero-energy peak: where a detector counts almost no X-rays
STROBE_RATIO = 2.0  # the channels below 0.1 keV hold a peak: this many times the window's counts per channel
STROBE_PIXELS = 4096  # pixels read to tell (the first rows)
EDS_MAX_START_KEV = 0.5  # an EDS axis starts at (or below) about zero energy
EDS_MIN_END_KEV = 5.0  # ... and reaches at least this far


def kev_per_unit(units) -> float | None:
    """keV in one unit of an energy axis in keV or eV (:func:`..spectroscopy._energy.ev_per_unit`); None for any
    other units (meV too: no EDS axis is in meV)."""
    ev = ev_per_unit(units)
    return None if ev is None or ev < 1.0 else ev / 1e3


def eds_kind(signal_type: str | None, axis: Axis | None) -> tuple[bool, str]:
    """``(eds, why)``: whether the spectra along ``axis`` (the one signal axis; None where there are several) are
    EDS spectra, from ``signal_type`` where it is set, else from the axis (:data:`EDS_MIN_CHANNEL_EV`,
    :data:`EDS_MAX_START_KEV`, :data:`EDS_MIN_END_KEV`)."""
    st = str(signal_type or "")
    if st:
        eds = st.upper().startswith("EDS")
        return eds, f"signal_type {st!r}"
    if axis is None:
        return False, "no signal_type, and not one signal axis"
    per_kev = kev_per_unit(axis.units)
    if per_kev is None:
        return False, f"no signal_type, and the axis {axis.name!r} is not an energy in keV or eV"
    values = np.asarray(axis.values, dtype=float) * per_kev
    if values.size < 2:
        return False, "no signal_type, and a single channel"
    step_ev = 1e3 * float(np.median(np.abs(np.diff(values))))
    start, end = float(values.min()), float(values.max())
    span = f"an axis of {start:.2f}-{end:.2f} keV at {step_ev:.3g} eV per channel"
    eds = step_ev >= EDS_MIN_CHANNEL_EV and start <= EDS_MAX_START_KEV and end >= EDS_MIN_END_KEV
    if eds:
        return True, f"no signal_type; {span}, as an EDS detector records (set signal_type to say otherwise)"
    return False, (f"no signal_type; {span}, not an EDS detector's (channels of at least {EDS_MIN_CHANNEL_EV:g} eV "
                   f"from below {EDS_MAX_START_KEV:g} to above {EDS_MIN_END_KEV:g} keV)")


def zero_peak_channels(axis: Axis) -> np.ndarray | None:
    """The channels of ``axis`` (an energy in keV or eV) below :data:`ZERO_PEAK_KEV`, where an EDS detector's
    zero-energy peak lies, as a boolean array; None on an axis in other units."""
    scale = kev_per_unit(axis.units)
    if scale is None:
        return None
    return np.asarray(axis.values, dtype=float) * scale < ZERO_PEAK_KEV - 1e-9


def strobe_peak_shown(s, axis: Axis, below_kev: float) -> tuple[bool, str]:
    """Whether the channels below ``below_kev`` hold a zero-energy (strobe) peak: where no signal_type says EDS,
    their mean counts must be :data:`STROBE_RATIO` times those of :data:`STROBE_WINDOW_KEV`, where a detector
    counts almost no X-rays, over the first :data:`STROBE_PIXELS` pixels. A spectral phantom on 0-6.4 keV held
    10 % of its peak at 0 keV, smoothly: masked, its spectra went 0.5-0.9 -> 2.7-3.1 degrees from the truth."""
    e = np.asarray(axis.values, dtype=float) * (kev_per_unit(axis.units) or 1.0)
    low, window = e < below_kev, (e >= STROBE_WINDOW_KEV[0]) & (e < STROBE_WINDOW_KEV[1])
    if not low.any() or not window.any():
        return False, "no channels beside the zero-energy peak to compare it with"
    take = np.flatnonzero(low | window)
    # the first rows of the map, then its first pixels: a lazy cube is not reshaped whole to reach them
    data = s.data if s.nav_ndim else s.data[None]
    per_row = int(np.prod(data.shape[1:-1], dtype=np.int64))
    rows = data[: -(-STROBE_PIXELS // max(per_row, 1)), ..., take]
    rows = np.asarray(rows.compute() if hasattr(rows, "compute") else rows, dtype=np.float64)
    sample = rows.reshape(-1, take.size)[:STROBE_PIXELS]
    mean_low = float(np.mean(sample[:, low[take]]))
    mean_window = float(np.mean(sample[:, window[take]]))
    shown = mean_low > 0 and mean_low >= STROBE_RATIO * mean_window
    lo, hi = STROBE_WINDOW_KEV
    return shown, (f"below {below_kev:g} keV {mean_low:.3g} counts a channel against {mean_window:.3g} at "
                   f"{lo:g}-{hi:g} keV: " + ("a zero-energy peak" if shown else "no zero-energy peak"))

