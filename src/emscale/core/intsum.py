"""Integer sums in a 64-bit accumulator that refuse to wrap around, shared by the reductions and ``rebin``."""

from __future__ import annotations

import numpy as np


class SumOverflow(ArithmeticError):
    """An integer sum that does not fit its accumulator (callers re-raise it as ``DataError`` naming the axes)."""


def count(block, dims) -> int:
    """How many values of ``block`` each sum over ``dims`` adds."""
    return int(np.prod([block.shape[d] for d in dims], dtype=np.int64))


def checked_sum(block, dims, acc: np.dtype) -> np.ndarray:
    """``np.sum`` in the integer accumulator ``acc``, refusing to wrap around.

    Free for inputs narrower than 64 bits (count x the dtype's largest value fits: no check runs); otherwise the
    block's largest magnitude bounds the sum, and only when that bound does not fit is the sum redone exactly in
    Python integers and compared with the accumulator's range.
    """
    s = np.sum(block, axis=dims, dtype=acc)
    if acc.kind not in "iu":
        return s
    info, dtype, n = np.iinfo(acc), np.dtype(block.dtype), count(block, dims)
    big = 1 if dtype.kind == "b" else max(int(np.iinfo(dtype).max), -int(np.iinfo(dtype).min))
    if n * big <= info.max or np.size(block) == 0:
        return s
    big = max(int(np.max(block)), -int(np.min(block)))
    if n * big <= info.max:
        return s
    exact = np.sum(np.asarray(block).astype(object), axis=dims)
    if any(v > info.max or v < info.min for v in np.ravel(exact)):
        raise SumOverflow(f"the integer sum does not fit in {acc}")
    return s
