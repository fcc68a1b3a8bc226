"""Fields of an ERD model file read as untrusted input: type, shape and range checked, or one DataError naming the
file and the field.

A model file may come from anyone (a colleague, a download) and a damaged one is not harmless: one NaN weight, a
zero ``std`` or an infinite ``target_scale`` makes every predicted ERD NaN, and SLADS then measures rows in index
order instead of the structure, with exit status 0. So every number is checked here, not where it is used.
Values are echoed cut short: a crafted field can be a 300-digit number or a megabyte of text.
"""

from __future__ import annotations

import math
import reprlib

import numpy as np

from ..core.errors import DataError, is_number

# The standardisation (mean, std) and the perceptron's target_scale are bounded, not only finite: a feature (of
# order one in value-scale units, up to the scan's size in pixels) standardised by a std of 1e-320 or a mean of
# 1.7e308 overflows, and every ERD is NaN; a target_scale of 1e200 overflows when squared. Within MAGNITUDE (and a
# std or scale above 1 / MAGNITUDE) standardised features and the square stay finite; trained models hold numbers
# of order 0.01 to 10.
MAGNITUDE = 1e100

_ECHO = reprlib.Repr()
_ECHO.maxstring = _ECHO.maxother = 40
_ECHO.maxlong = 24
_ECHO.maxlist = _ECHO.maxdict = _ECHO.maxtuple = 4
_ECHO.maxlevel = 2


def shown(value) -> str:
    """``repr(value)`` cut to a few dozen characters."""
    try:
        return _ECHO.repr(value)
    except (ValueError, RecursionError):  # an int past Python's 4300-digit limit of int -> str
        return f"a {type(value).__name__} too long to show"


def bad(source: str, name: str, problem: str, *value) -> DataError:
    """The error for field ``name`` of ``source``; ``value`` (optional) echoed cut short."""
    return DataError(f"{source}: field '{name}' {problem}" + (f", got {shown(value[0])}" if value else ""))


def required(d: dict, key: str, source: str, prefix: str = ""):
    """``d[key]``, or an error naming the missing field (``prefix``: where ``d`` sits in the file)."""
    if key not in d:
        raise bad(source, prefix + key, "missing")
    return d[key]


def number(value, source: str, name: str, positive: bool = False, bounded: bool = False) -> float:
    """A finite number (not a bool, not text); ``positive``: also > 0; ``bounded``: within ``MAGNITUDE`` (and, if
    positive, at least ``1 / MAGNITUDE``)."""
    if not is_number(value):
        raise bad(source, name, "must be a number", value)
    try:
        x = float(value)
    except OverflowError:  # an int beyond float64
        x = math.inf
    if not math.isfinite(x):
        raise bad(source, name, "must be finite", value)
    if positive and not x > 0:
        raise bad(source, name, "must be > 0", value)
    if bounded and (abs(x) > MAGNITUDE or (positive and x < 1 / MAGNITUDE)):
        raise bad(source, name, f"must be {_bounds(positive)} (beyond, the prediction overflows)", value)
    return x


def _bounds(positive: bool) -> str:
    return f"from {1 / MAGNITUDE:g} to {MAGNITUDE:g}" if positive else f"within +-{MAGNITUDE:g}"


def count(value, source: str, name: str, maximum: int) -> int:
    """A whole number from 1 to ``maximum`` (not a bool, not a float)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or not 1 <= value <= maximum:
        raise bad(source, name, f"must be a whole number from 1 to {maximum}", value)
    return int(value)


def nested_within(value, depth: int) -> bool:
    """Lists and objects in ``value`` nest at most ``depth`` levels (walked without recursion: a crafted file nests
    them as deep as the JSON reader allows, which a recursive walk, or the history's encoder later, does not)."""
    todo = [(value, 0)]
    while todo:
        v, level = todo.pop()
        if isinstance(v, dict | list):
            if level >= depth:
                return False
            todo += [(x, level + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return True


def _numbers(value, ndim: int) -> bool:
    """``value`` is ``ndim`` levels of lists whose leaves are numbers (a walk at most ``ndim`` deep)."""
    if ndim == 0:
        return is_number(value)
    return isinstance(value, list | tuple | np.ndarray) and all(_numbers(v, ndim - 1) for v in value)


def array(value, shape: tuple, source: str, name: str, positive: bool = False, bounded: bool = False,
          why: str = "") -> np.ndarray:
    """A float64 array of ``shape`` (``None``: any length but 0) from nested lists of finite numbers; ``positive``:
    every value > 0; ``bounded``: every value within ``MAGNITUDE`` (and, if positive, at least ``1 / MAGNITUDE``).
    ``why``: what the expected shape follows from, for the message."""
    ndim = len(shape)
    if not _numbers(value, ndim):
        raise bad(source, name, f"must be a {ndim}-D array of numbers", value)
    try:
        a = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise bad(source, name, "holds a number beyond float64") from None
    except ValueError:  # rows of different lengths
        raise bad(source, name, f"must be a {ndim}-D array of numbers (its rows differ in length)") from None
    if a.ndim != ndim or any(g != w if w is not None else g == 0 for g, w in zip(a.shape, shape, strict=True)):
        want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ("," if ndim == 1 else "") + ")"
        raise bad(source, name, f"has shape {a.shape}, {want} expected" + (f": {why}" if why else ""))
    off = np.flatnonzero(~np.isfinite(a))
    if off.size:
        raise bad(source, name, f"holds NaN or infinite values ({off.size}, the first at flat index {off[0]})")
    if positive:
        off = np.flatnonzero(~(a > 0))
        if off.size:
            raise bad(source, name, f"must be > 0 everywhere, holds {a.flat[off[0]]:g} at flat index {off[0]}")
    if bounded:
        off = np.flatnonzero((np.abs(a) > MAGNITUDE) | ((a < 1 / MAGNITUDE) if positive else False))
        if off.size:
            raise bad(source, name, f"must be {_bounds(positive)} everywhere (beyond, the prediction overflows), "
                      f"holds {a.flat[off[0]]:g} at flat index {off[0]}")
    return a
