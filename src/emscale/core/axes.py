"""Calibrated axes.

An axis maps integer indices to calibrated values, either uniformly (``offset + i * scale``) or through
explicit coordinates (non-uniform axes such as wavelength after a grating calibration).

Axis order convention (the one microscopists know from HyperSpy): the data array is stored in numpy order with
all navigation dimensions first and all signal dimensions last. When axes are *numbered* or *indexed* by the
user (``inav``, ``isig``, ``axis=`` in reductions) they are counted in "user order": navigation axes first in
x, y, z order (the reverse of numpy order), then signal axes, also reversed. For a spectrum image stored as
``data[y, x, E]`` the user axes are ``0 = x``, ``1 = y``, ``2 = E`` (also ``-1 = E``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import AxisError


@dataclass(frozen=True)
class Axis:
    name: str
    size: int
    scale: float = 1.0
    offset: float = 0.0
    units: str = ""
    navigate: bool = False
    # Explicit coordinates for a non-uniform axis; None for a uniform one.
    coords: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        # refused here rather than at the first slice, where a zero scale read "spans [0, 0]"
        if not isinstance(self.navigate, bool | np.bool_):
            raise AxisError(f"axis {self.name!r}: navigate must be True or False, got {self.navigate!r}")
        object.__setattr__(self, "navigate", bool(self.navigate))
        if not (np.isfinite(self.scale) and self.scale != 0):
            raise AxisError(f"axis {self.name!r}: scale must be finite and non-zero, got {self.scale!r}")
        if not np.isfinite(self.offset):
            raise AxisError(f"axis {self.name!r}: offset must be finite, got {self.offset!r}")
        end = float(self.offset) + float(self.scale) * max(int(self.size), 1)  # one past the last value (a stop)
        if self.coords is None and not math.isfinite(end):
            # refused here: the values overflowed to inf and the first figure died in matplotlib ("arange: cannot
            # compute length")
            raise AxisError(f"axis {self.name!r}: offset {self.offset!r} + scale {self.scale!r} x {self.size} values "
                            "overflows: the calibrated values must be finite numbers")
        if self.coords is not None:
            c = np.asarray(self.coords, dtype=float)
            if c.ndim != 1 or c.size != self.size:
                raise AxisError(f"axis {self.name!r}: {c.size} coordinates given for size {self.size}")
            # finite, not necessarily sorted: a tilt series keeps its acquisition order (dose-symmetric, a
            # repeated 0 degrees)
            if not np.all(np.isfinite(c)):
                raise AxisError(f"axis {self.name!r}: coordinates must be finite")
            object.__setattr__(self, "coords", c)

    # -- calibration ---------------------------------------------------------------------------------------
    @property
    def is_uniform(self) -> bool:
        return self.coords is None

    @property
    def values(self) -> np.ndarray:
        if self.coords is not None:
            return self.coords
        return self.offset + self.scale * np.arange(self.size)

    @property
    def low(self) -> float:
        """The smallest value; of any coordinates, not only the ends (a dose-symmetric tilt series keeps its angles
        in acquisition order, 0, 20, -20, 40, ..., -60: its ends said [-60, 0] and refused 40 degrees)."""
        return float(np.min(self.values)) if self.size else float("nan")

    @property
    def high(self) -> float:
        """The largest value (see :attr:`low`)."""
        return float(np.max(self.values)) if self.size else float("nan")

    @property
    def is_monotonic(self) -> bool:
        """Whether the values run in one direction (a uniform axis always; coordinates in order, a repeated value
        allowed: a tilt series that took 0 degrees twice)."""
        if self.is_uniform or self.size < 3:
            return True
        d = np.diff(np.asarray(self.coords, dtype=np.float64))
        return bool(np.all(d >= 0) or np.all(d <= 0))

    def describe_range(self) -> str:
        u = f" {self.units}" if self.units else ""
        return f"[{self.low:g}, {self.high:g}]{u}"

    def value_to_index(self, value: float, clip: bool = False) -> int:
        """Index of the channel nearest to a calibrated value; a value outside the axis is an error.

        Rounding follows HyperSpy's ``value2index`` exactly, so classic code selects the same channels: a
        value half-way between two channels goes to the one whose value is closer to zero, and a uniform axis
        accepts values up to half a channel beyond its ends.

        ``clip=True`` makes the result a slice bound, as HyperSpy's ``isig[v1:v2]`` uses it: a value beyond the
        axis gives 0 below its start and ``size`` (one past the last channel) beyond its end instead of an error.
        """
        value = float(value)
        if not math.isfinite(value):
            raise AxisError(f"axis {self.name!r}: calibrated value {value} is not finite")
        if self.size == 0:
            raise AxisError(f"axis {self.name!r} is empty")
        if self.is_uniform:
            idx = float(self._uniform_index(np.float64(value)))  # infinite far outside a fine axis
            if 0 <= idx < self.size:
                return int(idx)
            if clip:
                return 0 if idx < 0 else self.size
        elif self.low <= value <= self.high:
            c = self.coords
            eps = float(np.min(np.abs(np.diff(c)))) * 1e-12 if self.size > 1 else 0.0
            return int(np.argmin(np.abs(c - value + math.copysign(eps, value) * (value != 0))))
        elif clip:  # the end whose coordinate is nearer
            return 0 if abs(value - self.coords[0]) < abs(value - self.coords[-1]) else self.size
        raise AxisError(f"value {value:g} is outside axis {self.name!r}, which spans {self.describe_range()}")

    def stop_to_index(self, value: float) -> int:
        """A calibrated slice stop: :meth:`value_to_index`, or ``size`` for a value up to one channel past the last
        (the axis's end, ``offset + size * scale``: ``isig[100.0:130.0]`` of a 0.2 eV axis whose last channel is
        129.8 keeps that channel, as in HyperSpy; without it no calibrated slice or window could reach the end)."""
        try:
            return self.value_to_index(value)
        except AxisError as exc:
            c = np.asarray(self.values, dtype=np.float64)
            width = float(c[-1] - c[-2]) if c.size > 1 else (float(self.scale) if self.is_uniform else 0.0)
            past = (float(value) - float(c[-1])) / width if width and math.isfinite(float(value)) else math.nan
            if 0 < past <= 1 + 1e-9:
                return self.size
            end = f"; a slice stop may reach one channel past the last ({self.name!r} ends at {c[-1] + width:g})" \
                if width else ""
            raise AxisError(f"{exc}{end}, or leave the stop out to keep every channel to the end") from None

    def values_to_indices(self, values, clip: bool = True) -> np.ndarray:
        """:meth:`value_to_index` of every value of an array (uniform axes), as int64 of the same shape.

        ``clip=True``: slice bounds in ``[0, size]`` as :meth:`value_to_index` with ``clip``; ``clip=False``:
        a value outside the axis is an error. Values must be finite.
        """
        if not self.is_uniform:
            raise AxisError(f"axis {self.name!r} is non-uniform; values_to_indices needs a uniform axis")
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise AxisError(f"axis {self.name!r}: calibrated values must be finite")
        idx = self._uniform_index(v)  # float: values far outside the axis must not overflow int64
        if clip:
            return np.clip(idx, 0, self.size).astype(np.int64)
        outside = (idx < 0) | (idx >= self.size)
        if np.any(outside):
            bad = float(v[outside].flat[0])
            raise AxisError(f"value {bad:g} is outside axis {self.name!r}, which spans {self.describe_range()}")
        return idx.astype(np.int64)

    def _uniform_index(self, value: np.ndarray) -> np.ndarray:
        """The one value -> index rule of a uniform axis (HyperSpy's): truncate at 1e-12 of a channel, then round
        the index half towards zero where the value is >= 0 (scale > 0) and half away from zero otherwise."""
        with np.errstate(over="ignore"):
            x = np.trunc((value - self.offset) / self.scale * 1e12) / 1e12
        towards_zero = (value >= 0) if self.scale > 0 else (value < 0)
        return np.where(towards_zero == (x >= 0), np.ceil(x - 0.5), np.floor(x + 0.5))

    def index_to_value(self, index: int) -> float:
        return float(self.values[index])

    # -- derived axes --------------------------------------------------------------------------------------
    def sliced(self, sl: slice) -> Axis:
        """The axis after numpy-slicing its dimension with ``sl`` (integer bounds)."""
        start, stop, step = sl.indices(self.size)
        n = len(range(start, stop, step))
        if self.coords is not None:
            return replace(self, size=n, coords=self.coords[np.arange(start, stop, step)])
        return replace(self, size=n, offset=self.offset + start * self.scale, scale=self.scale * step)

    def rebinned(self, factor: int) -> Axis:
        n = self.size // factor
        if self.coords is not None:
            c = self.coords[: n * factor].reshape(n, factor).mean(axis=1)
            return replace(self, size=n, coords=c)
        # Bin centre of the first `factor` channels.
        return replace(
            self, size=n, scale=self.scale * factor, offset=self.offset + self.scale * (factor - 1) / 2
        )

    # -- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "size": int(self.size),
            "scale": float(self.scale),
            "offset": float(self.offset),
            "units": self.units,
            "navigate": bool(self.navigate),
        }
        if self.coords is not None:
            d["coords"] = [float(v) for v in self.coords]
        return d

    @classmethod
    def from_dict(cls, d: dict, size: int | None = None, default_name: str = "") -> Axis:
        known = {
            "name", "size", "scale", "offset", "units", "navigate", "coords", "axis", "is_binned", "_type"
        }
        unknown = set(d) - known
        if unknown:
            raise AxisError(
                f"unknown axis key(s) {sorted(unknown)}; allowed: name, scale, offset, units, navigate"
            )
        coords = d.get("coords", d.get("axis"))
        if size is None:
            size = int(d["size"]) if "size" in d else (len(coords) if coords is not None else None)
        if size is None:
            raise AxisError("axis dict without size")
        if "size" in d and int(d["size"]) != size:
            raise AxisError(
                f"axis {d.get('name', default_name)!r} says size {d['size']} but the data has {size}"
            )
        name = d.get("name") or default_name
        units = d.get("units") or ""
        if not isinstance(units, str):
            units = str(units)
        return cls(
            name=str(name),
            size=int(size),
            scale=float(d.get("scale", 1.0) if d.get("scale") is not None else 1.0),
            offset=float(d.get("offset", 0.0) if d.get("offset") is not None else 0.0),
            units=units,
            navigate=_flag(d.get("navigate", False)),
            coords=None if coords is None else np.asarray(coords, dtype=float),
        )

    def __str__(self) -> str:
        u = f" {self.units}" if self.units else ""
        if self.is_uniform:
            cal = f"scale {self.scale:g}, offset {self.offset + 0.0:g}{u}"
        else:
            cal = f"non-uniform {self.describe_range()}"
        role = "nav" if self.navigate else "sig"
        return f"{self.name or '<unnamed>'} ({role}, {self.size}): {cal}"


def shape_notation(nav_axes, sig_axes) -> str:
    """The shape of a signal as every summary writes it, ``"(80, 64|1024)"``: the navigation sizes, then the
    signal sizes after a bar, each in user order (x before y: the reverse of numpy order). ``nav_axes`` and
    ``sig_axes`` are :class:`Axis` sequences (or sizes) in numpy order, as ``Signal.axes`` and results store them."""
    def sizes(axes):
        return ", ".join(str(getattr(a, "size", a)) for a in list(axes)[::-1])

    return f"({sizes(nav_axes)}|{sizes(sig_axes)})"


def _flag(value):
    """A dict's ``navigate``: True/False (0 and 1 too, as some files store them; None for False); anything else is
    left for :class:`Axis` to refuse (``bool("no")`` is True)."""
    if value is None:
        return False
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value
