"""Small dense linear-algebra helpers shared by the decomposition solvers (PCA, NMF)."""

from __future__ import annotations

import numpy as np

from ..engine.blas import one_blas_thread


def tall_qr(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of a tall, skinny matrix. OpenBLAS's threaded QR is many times slower than its
    single-threaded one on such shapes (measured: 8192 x 18 took 50-400 ms threaded, 12 ms on one thread)."""
    with one_blas_thread():
        return np.linalg.qr(a)[0]
