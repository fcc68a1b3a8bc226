"""When a matrix is worth numba's compiled kernels (:mod:`._klmu_kernels`, :mod:`._gram_kernels`); whether numba
is there and the arrays its kernels accept are the engine's (:mod:`emscale.engine.jit`)."""

from __future__ import annotations

from ..engine.jit import HAVE_NUMBA, numba_usable  # noqa: F401 -- HAVE_NUMBA: re-exported (._klmu, tests)

NUMBA_MIN_VALUES = 1 << 17  # below this many matrix entries numpy is as fast as loading numba and its kernels
# The dense routes -- the Gram matrix (PCA, and the PCA every other method starts from) and the KL updates of a dense
# matrix -- are BLAS-bound in numpy: as fast as their compiled kernels up to ~10^6 values, where loading numba
# (0.3-0.5 s in a fresh process) would be most of the call. Measured, idle: PCA n_components="auto" on EDS
# 32 x 32 x 512 and 64 x 64 x 240, second call 0.14 / 0.06 s compiled, 0.11 / 0.10 s numpy, first call 0.64 / 0.42 s
# compiled, 0.13 / 0.10 s numpy; NMF k=2 of dense counts (40 per channel) on the same shapes, second call 0.35 /
# 0.50 s compiled, 0.34 / 0.43 s numpy, first call 0.83 / 0.90 s compiled, 0.36 / 0.45 s numpy.
DENSE_NUMBA_MIN_VALUES = 1 << 20
# ... but not the KL updates of a dense matrix (NMF of EELS counts): numpy's update is a chain of whole-array passes
# (the model by BLAS with k = 2-4 inner terms, the ratio, two more products) where the compiled sweep does it row by
# row in one, 2.4-2.8x faster an update (320 x 2048 to 4096 x 240 values, k = 2-3, idle: 0.6-1.2 ms against
# 1.6-2.8 ms). Loading numba and two cached sweeps costs 0.25-0.4 s in a fresh process, repaid within a fit of the
# usual 200+ updates from ~6 x 10^5 values: the Velox EELS maps (320 x 2048), first call in a fresh process 0.94-1.12 s
# numpy, 0.88-1.01 s compiled, later calls 0.68-0.78 -> 0.44-0.50 s (numba already loaded by the file's reader:
# the first call too, 0.83 -> 0.63 s); a 32 x 32 x 512 cube of 80 updates, first call 0.41 s numpy, 0.58 s compiled.
DENSE_KL_NUMBA_MIN_VALUES = 600_000


def use_numba(n_values: float, requested: bool | None = None, min_values: int | None = None) -> bool:
    """Whether a compiled route runs for a matrix of ``n_values`` entries: ``requested`` (None: when numba is
    installed and the matrix holds at least ``min_values`` entries, :data:`NUMBA_MIN_VALUES` by default),
    never without a numba that imports (:func:`emscale.engine.jit.numba_usable`)."""
    if requested is None:
        return float(n_values) >= (NUMBA_MIN_VALUES if min_values is None else min_values) and numba_usable()
    return bool(requested) and numba_usable()


def use_numba_dense(n_values: float, requested: bool | None = None) -> bool:
    """:func:`use_numba` for the dense Gram routes: at least :data:`DENSE_NUMBA_MIN_VALUES` entries."""
    return use_numba(n_values, requested, min_values=DENSE_NUMBA_MIN_VALUES)


def use_numba_dense_kl(n_values: float, requested: bool | None = None) -> bool:
    """:func:`use_numba` for the KL updates of a dense matrix: at least :data:`DENSE_KL_NUMBA_MIN_VALUES` entries."""
    return use_numba(n_values, requested, min_values=DENSE_KL_NUMBA_MIN_VALUES)
