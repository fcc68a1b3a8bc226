"""numba, optional: whether it is installed, and arrays in the form compiled kernels accept.

One place for the whole package. Only the kernel modules import numba itself (0.3-1 s with their cached kernels),
and only when a compiled route runs; each package decides from the size of its data whether that route repays the
loading (:mod:`emscale.decomposition._jit`, :mod:`emscale.sampling.slads_features`)."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np

HAVE_NUMBA = find_spec("numba") is not None


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
