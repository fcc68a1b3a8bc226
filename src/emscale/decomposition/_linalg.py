"""Small dense linear-algebra helpers shared by the decomposition solvers (PCA, NMF)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


@contextmanager
def one_blas_thread():
    """Dense linear algebra on one BLAS thread. LAPACK's eigensolvers round differently with the number of
    threads (``dsytrd``'s blocked updates split their sums), so the client-side eigendecompositions of the
    solvers run on one: the same bits whatever the process's BLAS threads (a Dask run, whose processes start with
    one, gave other eigenvalues, factors and loadings than local threads; ``OMP_NUM_THREADS=1`` did too).
    Also faster for the sizes met here (the 2048-channel Gram's eigh 0.51 -> 0.43 s; 4096: 4.2 -> 6.0 s)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def tall_qr(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of a tall, skinny matrix. OpenBLAS's threaded QR is many times slower than its
    single-threaded one on such shapes (measured: 8192 x 18 took 50-400 ms threaded, 12 ms on one thread)."""
    with one_blas_thread():
        return np.linalg.qr(a)[0]
