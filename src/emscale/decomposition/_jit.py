"""numba, optional: whether it is there, whether a matrix is worth it, and arrays in the form its compiled
kernels accept. numba is imported (0.3-1 s with the cached kernels) only by the kernel modules
(:mod:`._klmu_kernels`, :mod:`._gram_kernels`), i.e. when a compiled route runs."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np

HAVE_NUMBA = find_spec("numba") is not None
NUMBA_MIN_VALUES = 1 << 17  # below this many matrix entries numpy is as fast as loading numba and its kernels


def use_numba(n_values: float, requested: bool | None = None) -> bool:
    """Whether a compiled route runs for a matrix of ``n_values`` entries: ``requested`` (None: when numba is
    installed and the matrix holds at least :data:`NUMBA_MIN_VALUES` entries), never without numba."""
    if requested is None:
        return HAVE_NUMBA and float(n_values) >= NUMBA_MIN_VALUES
    return bool(requested) and HAVE_NUMBA


def for_kernel(x) -> np.ndarray:
    """``x`` as an array the compiled kernels accept: native byte order (vendor files may be big-endian), and
    no float16 / bool (numba has no arithmetic for them), C-contiguous (a channel slice of a block is a strided
    view; a row copy keeps the kernels to one compiled specialisation and costs less than a boolean gather)."""
    x = np.ascontiguousarray(x)
    if x.dtype == np.float16:
        return x.astype(np.float32)
    if x.dtype == np.bool_:
        return x.view(np.uint8)
    if not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x
