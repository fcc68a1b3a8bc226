"""How many threads dense linear algebra may use: one place for every package (decomposition's eigensolvers,
inpainting's patch dictionary, the executors' partition functions)."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

# BLAS's thread count is the process's, not a thread's: tasks of an in-process Dask cluster each set and restored it,
# and a task that began while another's limit was being restored ran on two threads (other bits: 1-4 of 40 tasks; a
# PCA's factors 5e-5 from local threads), and the last restore could leave the process on one. The limit is set by
# the first to enter and restored by the last to leave.
_lock = threading.Lock()
_holders = 0
_limiter = None
# threadpoolctl's list of the loaded BLAS libraries: its scan of /proc/self/maps took ~0.2 ms of every pass (a 2x2x64
# sum: 0.4 ms in all, 100-1000x numpy); a library is loaded with the module that needs it (scipy.linalg brings its
# own OpenBLAS beside numpy's), so the list is made again only when a module was imported since
_controller = None
_modules_seen = -1


def _blas_controller():
    """The ``ThreadpoolController`` of the libraries loaded now (called under ``_lock``)."""
    global _controller, _modules_seen
    if _controller is None or len(sys.modules) != _modules_seen:
        from threadpoolctl import ThreadpoolController

        seen = len(sys.modules)  # counted before the scan: a module imported while it runs is scanned for again
        _controller = ThreadpoolController()
        _modules_seen = seen
    return _controller


@contextmanager
def one_blas_thread():
    """Dense linear algebra on one BLAS thread. LAPACK's eigensolvers round differently with the number of
    threads (``dsytrd``'s blocked updates split their sums), so the client-side eigendecompositions of the
    solvers run on one: the same bits whatever the process's BLAS threads (a Dask run, whose processes start with
    one, gave other eigenvalues, factors and loadings than local threads; ``OMP_NUM_THREADS=1`` did too).
    Also faster for the sizes met here (the 2048-channel Gram's eigh 0.51 -> 0.43 s; 4096: 4.2 -> 6.0 s; small
    products of many patches: :mod:`emscale.inpainting.dictionary`). Safe from concurrent threads: the limit holds
    from the first entry to the last exit."""
    global _holders, _limiter
    with _lock:
        if _holders == 0:
            _limiter = _blas_controller().limit(limits=1, user_api="blas")
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _limiter.restore_original_limits()
                _limiter = None


__all__ = ["one_blas_thread"]
