"""Recalibrating an axis as a recorded step: HyperSpy's ``s.axes_manager[-1].offset = -2.5`` (an energy scale
corrected against a known edge, the pixel size of a mis-calibrated scan) changes a signal that no history records;
``s.calibrate("Energy loss", offset=-2.5)`` is a step like any other, recorded, replayed and usable in a recipe.

The numbers are not touched (the new Signal holds the same array). Metadata that a package keeps in an axis's
calibrated units (the tilt axis's position on a tilt series' image axes) follows the axis through the hooks that
package registers (:func:`on_recalibration`), so that it stays where it was in pixels."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace

from .axes import Axis
from .errors import AxisError, is_number
from .registry import operation
from .signal import Signal, derive

__all__ = ["calibrate", "on_recalibration"]

# f(metadata, old_axes, new_axes): metadata (the new signal's, a copy) brought to the new axes in place
_HOOKS: list[Callable[[dict, list[Axis], list[Axis]], None]] = []


def on_recalibration(fn: Callable[[dict, list[Axis], list[Axis]], None]):
    """Register ``fn(metadata, old_axes, new_axes)``, called on the new signal's metadata (its own copy) after an
    axis is recalibrated: a package keeping a value in an axis's calibrated units moves it to the new ones."""
    _HOOKS.append(fn)
    return fn


def _check_number(what: str, value) -> None:
    if value is not None and not (is_number(value) and abs(float(value)) < float("inf")):
        raise ValueError(f"calibrate: {what} must be a finite number (None: kept), got {value!r}")


def _check_text(what: str, value) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"calibrate: {what} must be text (None: kept), got {value!r}")


@operation("calibrate", method=True,
           check={"scale": lambda v: _check_number("scale", v), "offset": lambda v: _check_number("offset", v),
                  "units": lambda v: _check_text("units", v), "rename": lambda v: _check_text("rename", v)})
def calibrate(s: Signal, axis: int | str, scale: float | None = None, offset: float | None = None,
              units: str | None = None, rename: str | None = None) -> Signal:
    """The signal with one axis recalibrated: ``value = offset + scale * index`` in ``units``, named ``rename``
    (each None: kept; ``name`` is a recipe step's own key, the name of its result). ``axis``: its name or its index
    in user order (HyperSpy's: navigation x first, then the signal axes; ``-1`` the last signal axis).

    Example
    -------
    >>> s2 = s.calibrate("Energy loss", offset=s.axis("Energy loss").offset - 1.8)   # the edge was 1.8 eV high
    >>> s2 = s.calibrate("x", scale=0.25, units="nm").calibrate("y", scale=0.25, units="nm")
    """
    d = s._dim(axis)
    old = s.axes[d]
    for what, value in (("scale", scale), ("offset", offset)):
        _check_number(what, value)
    for what, value in (("units", units), ("rename", rename)):
        _check_text(what, value)
    if scale is None and offset is None and units is None and rename is None:
        raise ValueError(f"calibrate: give at least one of scale, offset, units and rename for axis {old.name!r}")
    if not old.is_uniform and (scale is not None or offset is not None):
        raise AxisError(f"calibrate: axis {old.name!r} is non-uniform (its values are listed one by one); scale and "
                        "offset do not apply to it")
    if rename is not None and (not rename.strip() or any(a.name == rename for i, a in enumerate(s.axes) if i != d)):
        raise AxisError(f"calibrate: rename {rename!r} is empty or is the name of another axis of {s!r}")
    new = replace(old, **{k: (float(v) if k in ("scale", "offset") else v) for k, v in
                          (("scale", scale), ("offset", offset), ("units", units), ("name", rename)) if v is not None})
    axes = list(s.axes)
    axes[d] = new
    out = derive(s, s.data, axes)
    sampling = s.metadata.get("Sampling")
    if rename is not None and isinstance(sampling, dict) and isinstance(sampling.get("axes"), list):
        # a sparse scan's mask names the axes it covers: derive dropped it as no longer fitting; it follows them
        out.metadata["Sampling"] = {**copy.deepcopy(sampling),
                                    "axes": [rename if n == old.name else n for n in sampling["axes"]]}
    for hook in _HOOKS:
        hook(out.metadata, list(s.axes), axes)
    return out
