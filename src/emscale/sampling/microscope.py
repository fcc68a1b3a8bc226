"""The microscope interface that sampling policies drive, and a virtual microscope serving recorded data.

A scanning microscope, seen by a sampling policy, is a 2-D scan grid of ``scan_shape = (rows, cols)`` probe
positions with a calibration (the two scan axes), a ``measure(positions)`` call that returns one value (an ADF
image) or one spectrum (a spectrum image) per requested position, and counters of what the measurements cost.
Positions are integer ``(row, col)`` pairs in numpy order, shape ``(n, 2)``.

Costs: every position in every call is one exposure of ``dose`` electrons and ``dwell_time`` seconds, so
measuring a position twice costs twice. A real instrument implements :class:`Microscope`; the
:class:`VirtualMicroscope` serves the measurements from a recorded image or spectrum image (an emscale
Signal in memory or lazy, e.g. from a zarr store), optionally with dose-scaled Poisson noise
``y = Poisson(dose_scale * x) / dose_scale``, seeded, so that a run on it replays bit for bit. Recorded values
below 0 are no counts: a detector's dark level (the real HAADF tilt series is int16 with its vacuum at -31890), so
the noise is drawn on the counts above the recorded minimum and that minimum added back.
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import numpy as np

from ..core.axes import Axis
from ..core.errors import DataError, check_not_complex, check_number, check_seed, is_number
from ..core.signal import Signal
from .acquire import MAX_POISSON_MEAN


@runtime_checkable
class Microscope(Protocol):
    """What a sampling policy needs from a scanning microscope (a real one or :class:`VirtualMicroscope`).

    Attributes
    ----------
    scan_shape : (rows, cols) of the scan grid.
    scan_axes : the two calibrated scan axes, numpy order (rows then columns).
    signal_axes : calibrated axes of one measurement (empty for a scalar detector such as ADF).
    n_measurements : positions measured so far, repeats included.
    dose_spent : electrons spent so far.
    time_spent : seconds of beam time spent so far.

    Optional: ``count_scale``, detector counts per unit of a returned value (a number), for an interface that
    returns scaled counts. Policies weight spectra as counts when the values times this scale are whole
    numbers; without it, when the values themselves are (as a real detector's are). ``count_offset``: the value
    of zero counts (a dark level; 0 without it), for an interface whose values are ``offset + counts / scale``.
    ``dose`` and ``dwell_time``: electrons and seconds one position costs, so that a run's ``max_dose`` /
    ``max_time`` refuses a random start it cannot pay for before measuring it (without them it is said after).
    """

    scan_shape: tuple[int, int]
    scan_axes: tuple[Axis, ...]
    signal_axes: tuple[Axis, ...]

    @property
    def n_measurements(self) -> int: ...

    @property
    def dose_spent(self) -> float: ...

    @property
    def time_spent(self) -> float: ...

    def measure(self, positions) -> np.ndarray:
        """Measure at ``positions`` (``(n, 2)`` int, row/col); returns ``(n,)`` values or ``(n, n_channels)``."""
        ...


def as_counts(values, count_scale: float | None = None, count_offset: float = 0.0) -> np.ndarray | None:
    """The detector counts behind measured ``values`` (``(values - count_offset) * count_scale``, a microscope's
    scaled counts above its dark level, or the values themselves when they are whole numbers), or None when they
    are not counts. Poisson weighting and dose checks need counts, and a simulated lower dose serves
    ``Poisson(d x) / d``, which is not whole."""
    x = np.asarray(values, dtype=np.float64) - float(count_offset)
    if not np.all(x >= 0):
        return None
    if count_scale is None:
        return x if np.all(x == np.round(x)) else None
    y = x * float(count_scale)
    return y if np.all(np.abs(y - np.round(y)) <= 1e-6 * np.maximum(y, 1.0)) else None


def measure(microscope: Microscope, flat: np.ndarray) -> np.ndarray:
    """``microscope.measure`` at the flat scan indices ``flat`` (row-major), its return checked: the one call
    through which a sampling policy measures.

    A real instrument's interface is the user's code: a value of the wrong shape ((n, 1) for (n,)) ended in numpy's
    broadcast errors deep in the policy, and a NaN in a NaN reconstruction and ERD (SLADS, which then exited 0) or
    in scikit-learn's k-means (autonomous spectrum imaging). So every return must hold one value (an image) or one
    spectrum of the ``signal_axes``' sizes per position, every one finite; else a :class:`DataError` naming the
    microscope's class, the positions asked for and what came back.
    """
    positions = np.stack(np.divmod(flat, int(microscope.scan_shape[1])), axis=1)
    n = len(positions)
    who = f"{type(microscope).__name__}.measure of {n} positions"
    vals = np.asarray(microscope.measure(positions))
    sizes = tuple(getattr(a, "size", None) for a in getattr(microscope, "signal_axes", ()))
    if vals.dtype.kind not in "biuf":
        raise DataError(f"{who} returned {vals.dtype} values; real numbers expected")
    want = (n, *sizes)
    if vals.ndim != len(want) or any(w is not None and g != w for g, w in zip(vals.shape, want, strict=True)):
        shown = "(" + ", ".join("n_channels" if w is None else str(w) for w in want) + ("," if not sizes else "") + ")"
        raise DataError(f"{who} returned shape {vals.shape}; {shown} expected (one "
                        f"{'spectrum' if sizes else 'value'} per position)")
    bad = _not_finite(vals)
    if bad.any():
        r, c = (int(v) for v in positions[np.argmax(bad)])
        raise DataError(f"{who} returned NaN or infinite values at {int(bad.sum())} of them (the first at row {r}, "
                        f"column {c}); a sampling policy cannot steer by them: check the detector")
    return vals


def _not_finite(vals: np.ndarray) -> np.ndarray:
    """(n,) bool: the positions whose value or spectrum in ``vals`` (n, ...) holds a NaN or an infinity (none of
    n = 0 positions: reshaping an empty array to (0, -1) is numpy's "cannot reshape array of size 0")."""
    return ~np.isfinite(vals).all(axis=tuple(range(1, vals.ndim)))


def check_positions(positions, scan_shape: tuple[int, int]) -> np.ndarray:
    """Positions as an ``(n, 2)`` int64 array inside the scan, or a ValueError naming the offending ones."""
    p = np.asarray(positions)
    if p.ndim == 1 and p.size == 2:
        p = p.reshape(1, 2)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"positions must be an (n, 2) array of (row, col) pairs, got shape {p.shape}")
    if p.size and not np.issubdtype(p.dtype, np.integer):
        if not np.all(np.isfinite(p)) or np.any(p != np.round(p)):
            raise ValueError("positions must be integer (row, col) scan indices")
    p = p.astype(np.int64)
    bad = (p[:, 0] < 0) | (p[:, 0] >= scan_shape[0]) | (p[:, 1] < 0) | (p[:, 1] >= scan_shape[1])
    if np.any(bad):
        first = [tuple(int(v) for v in row) for row in p[bad][:5]]
        raise ValueError(
            f"{int(bad.sum())} positions outside the {scan_shape[0]}x{scan_shape[1]} scan "
            f"(rows 0..{scan_shape[0] - 1}, cols 0..{scan_shape[1] - 1}), e.g. {first}"
        )
    return p


class VirtualMicroscope:
    """A microscope that serves measurements from a recorded image or spectrum image.

    Parameters
    ----------
    signal : Signal (numpy or lazy/dask, e.g. ``em.load("scan.zarr")``) or a numpy array. A spectrum image with
        two navigation axes is scanned over them (one spectrum per position); an image with no navigation axes
        and two signal axes (ADF/HAADF) is scanned over its two axes (one value per position).
    noise_dose : ``None`` serves the recorded values unchanged; a number ``d`` returns
        ``Poisson(d * value) / d``, i.e. ``d`` counts per unit of the recorded value, so a lower ``d`` is a lower
        dose and noisier data. Recorded data with values below 0 are taken as counts above their minimum (a dark
        level): ``dark + Poisson(d * (value - dark)) / d`` with ``dark`` the recorded minimum, said in a warning
        and kept in ``count_offset`` and ``offset_note``.
    dose : electrons per measured position (for the dose counter).
    dwell_time : seconds per measured position (for the time counter).
    seed : seeds the noise; measurements are reproducible given the same sequence of calls.

    Examples
    --------
    >>> scope = VirtualMicroscope(np.arange(12.0).reshape(3, 4))
    >>> scope.measure([[0, 1], [2, 3], [0, 1]])
    array([ 1., 11.,  1.])
    >>> scope.n_measurements
    3
    """

    def __init__(self, signal, noise_dose: float | None = None, dose: float = 1.0, dwell_time: float = 1e-6,
                 seed: int = 0):
        if not isinstance(signal, Signal):
            arr = np.asarray(signal)
            if arr.ndim != 2:
                raise DataError(f"a bare array must be a 2-D image, got shape {arr.shape}; wrap a spectrum image "
                                "in an emscale Signal with two navigation axes")
            signal = Signal(arr, axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}],
                            signal_type="image")
        self._data, self.scan_axes, self.signal_axes = _scan_view(signal)
        check_not_complex("the recorded signal", self._data.dtype,
                          "a detector measures real values: serve their modulus or real part (np.abs, .real)")
        self.signal = signal
        self.scan_shape = (int(self._data.shape[0]), int(self._data.shape[1]))
        # an infinite dose was accepted and failed at the first measurement, in numpy's "lam value too large"
        if noise_dose is not None and not (is_number(noise_dose) and 0 < noise_dose < np.inf):
            raise DataError(f"noise_dose must be a positive, finite number (counts per unit of the recorded value) or "
                            f"None (the recorded values), got {noise_dose!r}")
        check_number("dose", dose, "electrons per measured position")
        check_number("dwell_time", dwell_time, "seconds per measured position")
        self.noise_dose = noise_dose
        # Poisson(d x) / d are counts scaled by 1/d: say so, so that policies still weight them as counts
        self.count_scale = None if noise_dose is None else float(noise_dose)
        self.count_offset, self.offset_note = 0.0, None
        if noise_dose is not None:
            self.count_offset, self.offset_note = _dark_level(self._data)
            if self.offset_note:
                warnings.warn(f"VirtualMicroscope: {self.offset_note}", UserWarning, stacklevel=2)
        self.dose = float(dose)
        self.dwell_time = float(dwell_time)
        check_seed(seed)
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        """Forget all measurements and restart the noise generator (a fresh run from the same seed)."""
        self._rng = np.random.default_rng(self.seed)
        self.counts = np.zeros(self.scan_shape, dtype=np.int64)  # how often each position was measured

    @property
    def n_measurements(self) -> int:
        return int(self.counts.sum())

    @property
    def dose_spent(self) -> float:
        return self.n_measurements * self.dose

    @property
    def time_spent(self) -> float:
        return self.n_measurements * self.dwell_time

    @property
    def is_spectral(self) -> bool:
        return self._data.ndim > 2

    def measure(self, positions) -> np.ndarray:
        """Measure at ``positions``.

        Parameters
        ----------
        positions : ``(n, 2)`` integer (row, col) scan indices; repeats allowed (each one costs).

        Returns
        -------
        ``(n,)`` float64 values for an image, ``(n, *signal_shape)`` float64 spectra for a spectrum image.
        """
        p = check_positions(positions, self.scan_shape)
        vals = _fetch(self._data, p[:, 0], p[:, 1])
        bad = _not_finite(vals)
        if np.any(bad):  # damaged data are an error, never a NaN reconstruction
            r, c = p[np.argmax(bad)]
            raise DataError(f"the recorded data hold NaN or infinite values at {int(bad.sum())} of the {len(p)} "
                            f"positions asked for (the first at row {r}, column {c})")
        if self.noise_dose is not None:
            # counts above the dark level (0 where the data hold no negative value); the clip only for rounding
            lam = np.clip(vals - self.count_offset, 0, None) * self.noise_dose
            if lam.size and lam.max() > MAX_POISSON_MEAN:
                raise DataError(f"noise_dose {self.noise_dose:g} makes Poisson means up to {lam.max():.3g} counts, "
                                f"more than the {MAX_POISSON_MEAN:.0e} a count can hold")
            vals = self.count_offset + self._rng.poisson(lam) / self.noise_dose
        np.add.at(self.counts, (p[:, 0], p[:, 1]), 1)
        return vals

    def __repr__(self) -> str:
        kind = "spectrum image" if self.is_spectral else "image"
        return (f"<VirtualMicroscope {kind} scan {self.scan_shape[0]}x{self.scan_shape[1]}, "
                f"{self.n_measurements} measurements>")


def _dark_level(data) -> tuple[float, str | None]:
    """(dark level, note) of recorded data for a simulated dose: their minimum where it is below 0, else (0, None).

    A count cannot be negative, so values below 0 are an offset: the real HAADF tilt series (int16) has its vacuum
    at -31890 and 94.5 % of projection 38 below 0. Clipped to 0, as before, that vacuum served 0 and the particle
    a step of 31890 units: a SLADS run at noise_dose=0.001 scored 6.6 dB against 37.2 dB with the offset taken off
    by hand (review rev54). The minimum is the one dark level the data themselves show; a detector's measured dark
    level, subtracted beforehand, is better. Reads the data once (twice where they hold negative values)."""
    lazy = type(data).__module__.startswith("dask.")
    lo = float(data.min().compute() if lazy else data.min())
    if not lo < 0:
        return 0.0, None
    below = float((data < 0).mean().compute() if lazy else (data < 0).mean())
    return lo, (f"{below:.1%} of the recorded values are below 0 (down to {lo:g}): no counts as they stand, so "
                f"noise_dose takes them as counts above that minimum, the dark level (Poisson noise drawn on value "
                f"- ({lo:g}), then added back); subtract the detector's own dark level first if it is known")


def _scan_view(signal: Signal):
    """The array with the two scan dimensions first, the scan axes and the per-position signal axes."""
    axes = signal.axes
    if signal.nav_ndim == 2:
        return signal.data, tuple(axes[:2]), tuple(axes[2:])
    if signal.nav_ndim == 0 and signal.ndim == 2:
        return signal.data, tuple(axes), ()
    raise DataError(
        f"the virtual microscope scans a 2-D image or a spectrum image with 2 navigation axes; got a Signal "
        f"of shape {signal.shape} with {signal.nav_ndim} navigation axes"
    )


def _fetch(data, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if type(data).__module__.startswith("dask."):
        if rows.size == 0:
            return np.zeros((0,) + tuple(data.shape[2:]))
        return np.asarray(data.vindex[rows, cols].compute(), dtype=np.float64)
    return np.asarray(data[rows, cols], dtype=np.float64)
