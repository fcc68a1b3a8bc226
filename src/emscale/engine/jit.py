"""numba, optional: whether it is installed, and arrays in the form compiled kernels accept.

One place for the whole package. Only the kernel modules import numba itself (0.3-1 s with their cached kernels),
and only when a compiled route runs; each package decides from the size of its data whether that route repays the
loading (:mod:`emscale.decomposition._jit`, :mod:`emscale.sampling.slads_features`)."""

from __future__ import annotations

import os
import warnings
from functools import cache
from importlib.util import find_spec

import numpy as np

HAVE_NUMBA = find_spec("numba") is not None  # installed; whether it imports is learnt on the first compiled route


@cache
def numba_usable() -> bool:
    """Whether numba is installed and imports. Asked only where a compiled route would run, so that ``import
    emscale`` and small inputs never load it. An install that does not import (built against another numpy, a
    missing llvmlite) warns once and the numpy kernels run: the same maths, slower, rather than an error from a
    speed-only dependency."""
    if not HAVE_NUMBA:
        return False
    # numba's default OpenMP layer (GNU libgomp) keeps its workers spinning after each parallel loop; where other
    # work holds the cores, the next loop from the main thread waits a scheduler slice for them. KL-NMF runs one
    # parallel loop an update: measured on a loaded 2-core machine, 7.5-10 ms a loop against 4 us with passive
    # waiting, NMF k=2 of 64 x 64 x 256 counts 4.7 -> 1.0 s. Read when libgomp first loads, after this; a user's
    # own setting is kept (the same bits either way: the wait policy changes no schedule)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba  # noqa: F401
    except Exception as exc:  # an ImportError, or whatever a broken binary raises while loading
        warnings.warn(f"numba is installed but does not import ({type(exc).__name__}: {exc}); emscale runs its "
                      "numpy kernels instead (same results, slower)", RuntimeWarning, stacklevel=3)
        return False
    return True


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
