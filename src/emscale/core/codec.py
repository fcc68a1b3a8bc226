"""The one JSON codec of emscale: history parameters, store attributes, saved results and manifests.

JSON holds dicts, lists, strings, numbers, booleans and null. What else emscale records is written as a tagged
dict that :func:`decode` turns back into the same value::

    slice(1, 7, 2)          -> {"slice": [1, 7, 2]}
    ...                     -> {"ellipsis": true}
    (1, 2)                  -> {"tuple": [1, 2]}
    np.array([1, 2], "u2")  -> {"array": [1, 2], "dtype": "uint16"}
    a bool array            -> {"bits": "<base64 of its packed bits>", "shape": [rows, columns]}
    a larger number array   -> {"base64": "<base64 of its bytes>", "dtype": "<u2", "shape": [...]}
    float("nan")            -> {"float": "nan"}

Boolean arrays (a scan mask given to an operation) and number arrays of more than :data:`INLINE_VALUES` values are
written as base64: as JSON lists, a 1024 x 1024 mask made a 28 MB history.

``strict=True`` (history parameters: what replay re-runs) refuses any other type; ``strict=False`` (vendor
metadata) writes bytes as text, dates as ISO strings and other objects as their ``str``.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .axes import Axis
from .errors import DataError

_TAGS = ("slice", "ellipsis", "tuple", "float")
INLINE_VALUES = 256  # number arrays up to this size are written as readable JSON lists


def encode(value: Any, strict: bool = True) -> Any:
    """JSON-safe form of ``value``; see the module docstring."""
    if isinstance(value, dict):
        return {str(k): encode(v, strict) for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v, strict) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, strict) for v in value]}
    if isinstance(value, slice):
        return {"slice": [encode(value.start, strict), encode(value.stop, strict), encode(value.step, strict)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "b":
            return {"bits": _b64(np.packbits(value.ravel())), "shape": list(value.shape)}
        if value.dtype.kind in "iuf" and (value.size > INLINE_VALUES or not np.isfinite(value).all()):
            # (JSON has no NaN or inf: a small array holding one is written as its bytes too)
            return {"base64": _b64(value), "dtype": value.dtype.str, "shape": list(value.shape)}
        if strict or value.dtype.kind in "iuf":
            return {"array": value.tolist(), "dtype": str(value.dtype)}
        return [encode(v, strict) for v in value.tolist()]
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, np.generic):  # a longdouble's item() is a longdouble again
            item = float(item) if np.issubdtype(value.dtype, np.floating) else str(item)
        return encode(item, strict)
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Axis):  # an axis given as an object is re-found by its name
        return value.name
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        # by its name, which numpy takes back as the same dtype (load(..., SI_dtype=np.uint8) failed to record)
        return np.dtype(value).name
    if strict:
        raise TypeError(f"parameter value {value!r} of type {type(value).__name__} cannot be recorded in history")
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def as_text(value: Any, where: str = "") -> list[str]:
    """The places (``a/b/c``) in ``value`` that ``encode(value, strict=False)`` writes as text and that come back
    as strings: bytes, dates, sets, paths, complex numbers and other objects, and dict keys that are not
    strings."""
    if isinstance(value, dict):
        out = [f"{where}/{k!r}".lstrip("/") for k in value if not isinstance(k, str)]
        for k, v in value.items():
            out += as_text(v, f"{where}/{k}")
        return out
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in as_text(v, f"{where}[{i}]")]
    if isinstance(value, np.ndarray | np.generic):  # complex numbers are written as their text too
        return [] if value.dtype.kind in "biuf" else [where.lstrip("/")]
    if value is None or value is Ellipsis or isinstance(value, bool | int | float | str | slice):
        return []
    return [where.lstrip("/")]  # bytes, dates, sets, paths, axes and other objects


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"slice"}:
            return slice(*(decode(v) for v in value["slice"]))
        if keys == {"ellipsis"}:
            return Ellipsis
        if keys == {"tuple"}:
            return tuple(decode(v) for v in value["tuple"])
        if keys == {"float"}:
            return float(value["float"])
        if keys == {"array", "dtype"}:
            return _array(value["array"], value["dtype"])
        if keys == {"bits", "shape"}:
            return _bits(value["bits"], value["shape"])
        if keys == {"base64", "dtype", "shape"}:
            return np.frombuffer(base64.b64decode(value["base64"]), _number_dtype(value["dtype"])).reshape(
                _shape(value["shape"])).copy()
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


# What a file may claim is what it holds: a tag that asked for more (a 1.2 kB store whose metadata claimed a
# 40000 x 40000 mask of no bits, "U1000000" strings) made every reader allocate gigabytes.


def _shape(shape) -> tuple[int, ...]:
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                            for n in shape)):
        raise DataError(f"damaged encoded array: shape {shape!r} is not a list of sizes")
    return tuple(shape)


def _bits(text, shape) -> np.ndarray:
    """A packed bool array: exactly the bits its shape needs."""
    shape = _shape(shape)
    n = math.prod(shape)
    bits = np.frombuffer(base64.b64decode(text), np.uint8)
    if bits.size != -(-n // 8):
        raise DataError(f"damaged encoded mask: {bits.size} byte(s) of bits for a shape {list(shape)} of {n} values")
    return np.unpackbits(bits, count=n).astype(bool).reshape(shape)


def _dtype(dtype, kinds: str, what: str) -> np.dtype:
    """``dtype`` parsed, of one of ``kinds``; else a DataError saying it is not ``what``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in kinds:
        raise DataError(f"damaged encoded array: dtype {dtype!r} is not {what}")
    return dt


def _number_dtype(dtype) -> np.dtype:
    return _dtype(dtype, "biufc", "a number type")


def _array(values, dtype) -> np.ndarray:
    """A JSON list as an array of ``dtype``: numbers as written; text as long as the text it holds (not the
    declared width); no other kind."""
    dt = _dtype(dtype, "biufcUSO", "one emscale writes")
    if dt.kind in "US":
        return np.asarray(values, dtype=dt.kind)
    return np.asarray(values, dtype=object if dt.kind == "O" else dt)


def dumps(value: Any, strict: bool = False, **kwargs) -> str:
    """``json.dumps`` of :func:`encode`; always valid JSON (no NaN literals)."""
    return json.dumps(encode(value, strict), allow_nan=False, **kwargs)


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))


__all__ = ["decode", "dumps", "encode", "loads"]
