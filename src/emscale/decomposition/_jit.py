"""numba, optional: whether it is there, and arrays in the form its compiled kernels accept."""

from __future__ import annotations

import numpy as np

try:  # optional dependency
    import numba as nb

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - numba missing or broken
    nb = None
    HAVE_NUMBA = False


def for_kernel(x) -> np.ndarray:
    """``x`` as an array the compiled kernels accept: native byte order (vendor files may be big-endian), and
    no float16 / bool (numba has no arithmetic for them)."""
    x = np.asarray(x)
    if x.dtype == np.float16:
        return x.astype(np.float32)
    if x.dtype == np.bool_:
        return x.view(np.uint8)
    if not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x
