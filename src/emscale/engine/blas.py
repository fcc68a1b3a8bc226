"""How many threads dense linear algebra may use: one place for every package (decomposition's eigensolvers,
inpainting's patch dictionary)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_blas_thread():
    """Dense linear algebra on one BLAS thread. LAPACK's eigensolvers round differently with the number of
    threads (``dsytrd``'s blocked updates split their sums), so the client-side eigendecompositions of the
    solvers run on one: the same bits whatever the process's BLAS threads (a Dask run, whose processes start with
    one, gave other eigenvalues, factors and loadings than local threads; ``OMP_NUM_THREADS=1`` did too).
    Also faster for the sizes met here (the 2048-channel Gram's eigh 0.51 -> 0.43 s; 4096: 4.2 -> 6.0 s; small
    products of many patches: :mod:`emscale.inpainting.dictionary`)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


__all__ = ["one_blas_thread"]
