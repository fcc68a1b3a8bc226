"""numpy's functions of one value on a Signal: ``np.log(s)``, ``np.sqrt(s)``, ``abs(s)``, ``np.isnan(s)``.

One recorded operation, ``elementwise``, named by the function (a recipe step ``{op = "elementwise",
function = "log1p"}``). The result keeps ``s``'s axes, mask and metadata. Types: the absolute value of integers
stays integers (counts stay counts: they are their own absolute value); ``isnan``, ``isinf``, ``isfinite`` and
``logical_not`` (``~mask``) give a boolean Signal (a mask); the absolute value of complex data is their modulus;
every other function gives floating point (float32 for float16 and float32 data, else float64; complex data
refused) and clears ``metadata["Signal"]["counts"]``. Values the function leaves inf or NaN where the input was
finite (the log of a zero) are said, with their count, at measured scan positions of in-memory data (a lazy result
is not computed to look)."""

from __future__ import annotations

import numpy as np

from .arithmetic import new_nonfinite
from .errors import DataError, check_not_complex, warn_caller
from .registry import operation
from .signal import Signal, _is_dask, derive

FLOATING = ("sqrt", "cbrt", "square", "reciprocal", "exp", "expm1", "exp2", "log", "log2", "log10", "log1p",
            "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
            "arctanh", "deg2rad", "rad2deg", "floor", "ceil", "rint", "trunc", "sign")
TESTS = ("isnan", "isinf", "isfinite", "logical_not")
FUNCTIONS = {name: getattr(np, name) for name in (*FLOATING, *TESTS, "absolute")}


def check_function(name) -> None:
    if name not in FUNCTIONS:
        raise ValueError(f"elementwise: unknown function {name!r}; one of {', '.join(sorted(FUNCTIONS))}")


@operation("elementwise", check={"function": check_function})
def elementwise(s: Signal, function: str) -> Signal:
    """``np.<function>(s)``, value by value: ``function`` one of :data:`FUNCTIONS` (numpy's names: ``"log"``,
    ``"sqrt"``, ``"absolute"``, ``"isnan"``, ...). What ``np.log(s)`` and ``abs(s)`` run (module docstring)."""
    check_function(function)
    data = s.data if _is_dask(s.data) else np.asarray(s.data)
    kind = data.dtype.kind
    if function in TESTS:
        out, counts = FUNCTIONS[function](data), False
    elif function == "absolute" and kind in "biu":
        out, counts = (data if kind in "bu" else np.absolute(data)), True
    elif function == "absolute" and kind == "c":
        out, counts = np.absolute(data), False  # the modulus: what decompose and plot ask of complex data
    else:
        check_not_complex(f"np.{function}: {s!r}", data.dtype,
                          "take their modulus first (abs(s)) or compute on s.data and wrap the result (em.derive)")
        dtype = np.float32 if data.dtype in (np.float16, np.float32) else np.float64
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # in memory numpy casts inside its loop, a buffer at a time: no full-size float copy beside the result
            out = (FUNCTIONS[function](data.astype(dtype, copy=False)) if _is_dask(data)
                   else FUNCTIONS[function](data, dtype=dtype))
        counts = False
        if not _is_dask(out):
            _warn_new_nonfinite(s, function, data, out)
    result = derive(s, out, s.axes)
    if not counts:  # a log or a square root of counts is no longer counts
        result.metadata.setdefault("Signal", {})["counts"] = False
    return result


def _warn_new_nonfinite(s: Signal, function: str, data, out) -> None:
    if np.isfinite(out).all():  # the common case: no full-size test of the input
        return
    new = new_nonfinite(s, out, ~np.isfinite(data))
    if new:
        warn_caller(f"np.{function} on {s!r}: {new} value(s) became inf or NaN (values outside the function's "
                    "domain, such as the log of a zero or the square root of a negative number); mask or replace "
                    "them before a decomposition")


CASTS = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
         "bool")


def _dtype_name(dtype) -> str | None:
    """The name of a cast's type: ``"float32"``, ``np.float32`` and ``np.dtype("float32")`` alike (None: no type)."""
    try:  # None is not a type here (numpy reads it as float64)
        return np.dtype(dtype).name if not isinstance(dtype, bool) and dtype is not None else None
    except TypeError:
        return None


def check_dtype(dtype) -> None:
    if _dtype_name(dtype) not in CASTS:
        raise ValueError(f"astype: dtype must be one of {', '.join(CASTS)}, got {dtype!r}")


@operation("astype", method=True, check={"dtype": check_dtype}, record={"dtype": lambda v, a: _dtype_name(v)})
def astype(s: Signal, dtype: str) -> Signal:
    """The numbers as ``dtype`` (HyperSpy's ``s.change_dtype("float32")``, recorded): ``"float32"`` halves a
    float64 signal's memory. Refused where values would change without a word (:func:`numpy.can_cast`, ``"safe"``,
    decided by the types): to an integer type or bool from a type it does not hold (float to int, int32 to uint16).
    Integers above what a float holds exactly (2**24 for float32: 2**24 + 1 would round) and floats beyond a
    narrower float's range (1e300 to float32: inf) are refused on data in memory; lazy data are not read to look.
    A narrower float otherwise rounds each value to the nearest, as intended."""
    check_dtype(dtype)
    target = np.dtype(_dtype_name(dtype))
    source = s.data.dtype
    check_not_complex(f"astype: {s!r}", source, "take their modulus first (abs(s))")
    if target.kind != "f" and not np.can_cast(source, target, "safe"):
        raise DataError(f"astype on {s!r}: {source} values do not all fit in {target} (they would be rounded or "
                        f"wrap); cast to float32 or float64, or to an integer type that holds {source}")
    exact = 2 ** (np.finfo(target).nmant + 1) if target.kind == "f" else None  # integers held exactly up to it
    if (exact is not None and source.kind in "iu" and 8 * source.itemsize > np.finfo(target).nmant + 1
            and not _is_dask(s.data) and s.data.size):
        # numpy calls int64 -> float64 safe, yet 2**53 + 1 rounds; only the values above ``exact`` can, and they are
        # cast and back to see whether they did (2**24 + 2 is held by float32)
        big = s.data[(s.data > exact) | (s.data < -exact)] if source.kind == "i" else s.data[s.data > exact]
        with np.errstate(invalid="ignore", over="ignore"):  # 2**64 - 1 in float64 is 2**64: back, it is no uint64
            kept = big.astype(target).astype(source) if big.size else big
        if big.size and not np.array_equal(kept, big):
            raise DataError(f"astype on {s!r}: values above 2**{np.finfo(target).nmant + 1} would be rounded in "
                            f"{target}" + ("; cast to float64" if target != np.float64 else ""))
    with np.errstate(over="ignore"):  # said below, as a refusal, where it happened
        out = s.data.astype(target)
    if target.kind == "f" and source.kind == "f" and target.itemsize < source.itemsize and not _is_dask(out):
        grown = int(np.count_nonzero(np.isinf(out))) - int(np.count_nonzero(np.isinf(s.data)))
        if grown:
            raise DataError(f"astype on {s!r}: {grown} value(s) lie beyond {target}'s range "
                            f"(+-{float(np.finfo(target).max):.4g}) and would become inf")
    return derive(s, out, s.axes)


__all__ = ["CASTS", "FUNCTIONS", "astype", "elementwise"]
