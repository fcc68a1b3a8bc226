"""Reductions (sum, mean, max, min, std) written as passes over the first array dimension.

When the first dimension is among the reduced ones the partials are merged (sums add; std merges
(count, mean, M2) triples with Chan's formula); otherwise each partition's result is one slab of the output
and the slabs are concatenated. Sums of integers are exact (int64/uint64) or an error: a sum that does not fit
its 64-bit accumulator raises ``DataError`` naming the axes rather than wrapping around (``checked_sum``,
``_checked_add``); sums of floats accumulate in float64, and so does the mean of 64-bit integers; the mean and
std of complex values work in complex128 (the std is real, as numpy's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import DataError
from ..core.intsum import SumOverflow, checked_sum, count
from ..core.registry import operation
from ..core.signal import Signal, axis_param, check_not_mixing_scan, derive, holds_counts, scale_counting_times
from .passes import Pass, run_pass

OPS = ("sum", "mean", "max", "min", "std")


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.dtype(np.int64)
    if dtype.kind == "u":
        return np.dtype(np.uint64)
    if dtype.kind == "i":
        return np.dtype(np.int64)
    if dtype.kind == "c":
        return np.dtype(np.complex128)
    return np.dtype(np.float64)


def _checked_add(a, b):
    """``a + b`` of integer partial sums, refusing to wrap around."""
    r = a + b
    a_, b_, r_ = np.asarray(a), np.asarray(b), np.asarray(r)
    if r_.dtype.kind == "u" and np.any(r_ < a_):
        raise SumOverflow(f"the integer sum does not fit in {r_.dtype}")
    if r_.dtype.kind == "i" and np.any(((a_ ^ r_) & (b_ ^ r_)) < 0):
        raise SumOverflow(f"the integer sum does not fit in {r_.dtype}")
    return r


def _narrowed(total: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A float64 sum in the data's own float type, refused (SumOverflow) where a finite sum does not fit it: a
    float16 cube of 1000s summed to inf, only numpy's cast warning saying so (float16 holds 65504)."""
    with np.errstate(over="ignore"):
        out = total.astype(dtype, copy=False)
    if dtype.kind == "f" and np.any(np.isinf(out) & np.isfinite(total)):
        raise SumOverflow(f"the sum exceeds {dtype}'s largest value ({np.finfo(dtype).max:g})")
    return out


def result_dtype(op: str, dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if op in ("max", "min"):
        return dtype
    if op == "sum":
        return _sum_dtype(dtype) if dtype.kind in "biu" else dtype
    # mean: float (complex) of the input precision, float64 for integers; std: real, as numpy's
    if op == "std" and dtype.kind == "c":
        return np.finfo(dtype).dtype
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def reduction_pass(op: str, dims: tuple[int, ...], dtype) -> Pass:
    if op not in OPS:
        raise ValueError(f"unknown reduction {op!r}; known: {', '.join(OPS)}")
    dims = tuple(sorted(dims))
    merged = 0 in dims
    acc_dtype = _sum_dtype(dtype)
    if op == "mean" and np.dtype(dtype).kind in "iu" and np.dtype(dtype).itemsize == 8:
        # a float mean needs no exact sum, and 64-bit values near their limit would overflow the integer one
        acc_dtype = np.dtype(np.float64)
    out_dtype = result_dtype(op, dtype)
    cplx = np.dtype(dtype).kind == "c"  # mean and std of complex values work in complex128, not float64
    work = np.dtype(np.complex128) if cplx else np.dtype(np.float64)

    if op in ("sum", "mean"):

        def m(block, rows):
            return (checked_sum(block, dims, acc_dtype), count(block, dims))

        def merge(a, b):
            return (_checked_add(a[0], b[0]), a[1] + b[1])

        def fin(acc):
            s, n = acc
            if op == "sum":
                return _narrowed(np.asarray(s), out_dtype)
            return (np.asarray(s, dtype=work) / n).astype(out_dtype, copy=False)

        if not merged:
            return Pass(lambda b, r: fin(m(b, r)), None, name=op)
        return Pass(m, merge, fin, name=op)

    if op in ("max", "min"):
        f = np.max if op == "max" else np.min
        g = np.maximum if op == "max" else np.minimum

        def mm(block, rows):
            return f(block, axis=dims)

        return Pass(mm, g if merged else None, name=op)

    # std: Chan et al. pairwise merge of (n, mean, M2)
    def ms(block, rows):
        # one work-precision copy of the block, its deviations and their squares written over it: the float64
        # copies of (x - mean) and its square were 3x a block's size in temporaries at each thread
        x = np.array(block, dtype=work)
        n = count(block, dims)
        mean = np.mean(x, axis=dims, keepdims=True)
        x -= mean
        if cplx:
            m2 = np.sum(np.abs(x) ** 2, axis=dims)
        else:
            np.multiply(x, x, out=x)
            m2 = np.sum(x, axis=dims)
        return (n, np.squeeze(mean, axis=dims), m2)

    def merge_std(a, b):
        na, ma, m2a = a
        nb, mb, m2b = b
        n = na + nb
        d = mb - ma
        dd = np.abs(d) ** 2 if cplx else d * d
        return (n, ma + d * (nb / n), m2a + m2b + dd * (na * nb / n))

    def fin_std(acc):
        n, _, m2 = acc
        return np.sqrt(m2 / n).astype(out_dtype, copy=False)

    if not merged:
        return Pass(lambda b, r: fin_std(ms(b, r)), None, name=op)
    return Pass(ms, merge_std, fin_std, name=op)


def reduce(data, op: str, dims: tuple[int, ...], executor=None, progress=None) -> np.ndarray:
    """Reduce ``data`` (numpy, dask or zarr array) over numpy dimensions ``dims`` with ``op``."""
    if data.ndim == 0 or not dims:
        return np.asarray(data)
    return np.asarray(run_pass(data, reduction_pass(op, dims, data.dtype), executor, progress=progress))


def sum_spectrum(data, nav_ndim: int, executor=None, progress=None) -> np.ndarray:
    """Per-channel sum over every navigation position (the 'sum spectrum')."""
    return reduce(data, "sum", tuple(range(nav_ndim)), executor, progress)


def total_counts(data, nav_ndim: int, executor=None, progress=None) -> np.ndarray:
    """Per-pixel sum over every signal channel (the 'total counts' navigator image)."""
    return reduce(data, "sum", tuple(range(nav_ndim, data.ndim)), executor, progress)


# -- the reductions as Signal operations (s.sum(axis=...), ...) ---------------------------------------------------
_DOCS = {
    "sum": "Sum over axes given by name or user-order index (``None``: all). Integer sums are exact.",
    "mean": "Mean over axes given by name or user-order index (``None``: all).",
    "max": "Maximum over axes given by name or user-order index (``None``: all).",
    "min": "Minimum over axes given by name or user-order index (``None``: all).",
    "std": "Population standard deviation (ddof=0) over the axes, merged exactly across partitions.",
}


def _window_title(title: str, axes: Sequence, pixels: Sequence = ()) -> str:
    """``"<title>, sum over Energy 7.9 to 8.2 keV"``: each summed signal axis from its first value to one step past
    its last (the window as ``isig[7.9:8.2]``, half-open, names it), low to high, rounded to the step's decimal; the
    summed navigation axes ``pixels`` by name after it."""
    parts = []
    for a in axes:
        v = np.asarray(a.values, dtype=float)
        step = float(a.scale) if a.is_uniform else float(np.median(np.diff(v))) if v.size > 1 else 0.0
        digits = max(0, -int(np.floor(np.log10(abs(step))))) if step else 6
        lo, hi = sorted(round(float(x), digits) for x in (v[0], v[-1] + step))
        parts.append(f"{a.name} {lo:g} to {hi:g}" + (f" {a.units}" if a.units else ""))
    what = "sum over " + ", ".join(parts + [a.name for a in pixels])
    return f"{title}, {what}" if title else what


def _declare_reduction(op: str):
    def reduction(s: Signal, axis: int | str | Sequence[int | str] | None = None, executor=None,
                  progress=None) -> Signal:
        dims = s._dims(axis)
        if op != "sum":  # a sum of a sparse scan's positions is what was measured; a mean, min... counts its zeros
            check_not_mixing_scan(s, dims, op)
        empty = [repr(s.axes[d].name) for d in dims if s.data.shape[d] == 0]
        if empty and op != "sum":  # numpy: "zero-size array to reduction operation maximum which has no identity"
            raise DataError(f"{op} over axes with no values: {', '.join(empty)} (shape {tuple(s.data.shape)})")
        try:
            out = reduce(s.data, op, dims, executor=executor, progress=progress)
        except SumOverflow as exc:
            names = ", ".join(repr(s.axes[d].name) for d in dims)
            # s.astype keeps the metadata and the history (a new Signal of the data, once advised here, lost both)
            raise DataError(f"{op} over axes {names}: {exc}; convert the data to a wider float first "
                            f"(s.astype('float64'), recorded) or reduce fewer values") from None
        summed = [s.axes[d] for d in dims if not s.axes[d].navigate]
        pixels = [s.axes[d] for d in dims if s.axes[d].navigate]
        title = _window_title(s.title, summed, pixels) if op == "sum" and summed else None
        result = derive(s, out, [a for d, a in enumerate(s.axes) if d not in dims], title=title)
        if op == "sum":
            scale_counting_times(result, int(np.prod([s.shape[d] for d in dims if s.axes[d].navigate])), s.signal_type)
            if holds_counts(s) and not holds_counts(result):
                # a sum over the energy axis drops the type that made whole numbers counts ("EDS_TEM"): an energy
                # window's map then read "Intensity" beside its cube's "Counts"; the flag carries what they are
                result.metadata.setdefault("Signal", {})["counts"] = True
        return result

    reduction.__name__ = reduction.__qualname__ = op
    reduction.__doc__ = _DOCS[op]
    return operation(op, method=True, record={"axis": lambda v, a: axis_param(v)})(reduction)


for _op in OPS:
    _declare_reduction(_op)
