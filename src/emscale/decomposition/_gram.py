"""Kernels of the exact (Gram) PCA: the channel Gram matrix of sparse count data, the simulated-noise signs, and
the symmetric eigen-solver that gives the whole spectrum but only the leading vectors.

Sparse Gram
    Counts are mostly zeros (200 counts/pixel over 2048 channels leave ~94 % of the entries empty), and the Gram
    matrix ``sum_i w_i^2 x_i x_i^T`` only needs the products of each pixel's non-zeros: ``sum_i m_i^2 / 2``
    updates (``m_i`` non-zeros in pixel ``i``) instead of BLAS's ``n p^2 / 2``. The upper triangle is kept
    *packed*, and the data and noise Grams are interleaved, so one update touches one cache line and a
    partition's partial is ``p (p + 1)`` doubles (34 MB at 2048 channels) rather than two full matrices; the
    updates go tile by tile (:data:`TILE`) so that the active part of it stays in the core's cache.
    :func:`sparse_gram_worthwhile` decides from the statistics pass whether it beats BLAS.

Noise signs
    The parallel-analysis noise ``sqrt(X) * G`` (see :meth:`._matrix.DataMatrix.gram`) takes its sign for pixel
    ``i`` and channel ``j`` from a counter-based hash of ``(seed, i, j)`` (SplitMix64's finaliser), not from a
    generator's stream: a pixel's sign no longer depends on how the data are partitioned or chunked, nor on which
    of its channels are non-zero, so the sparse and the dense (BLAS) routes use the same noise matrix.

Eigen-solver
    The scree needs every eigenvalue but only the first few eigenvectors: one tridiagonal reduction (LAPACK
    ``sytrd``), all eigenvalues of the tridiagonal matrix (``sterf``), the leading vectors of it (bisection and inverse
    iteration, ``stebz``/``stein``),
    and the back-transformation of just those (``ormqr`` on the reflectors) -- about a third of ``numpy.eigh``
    (which computes all 2048 vectors) at 2048 channels.
"""

from __future__ import annotations

import numpy as np

from ..engine.jit import for_kernel, numba_usable
from ._jit import use_numba_dense
from ._signs import _mix64, _pixel_base, _seed64, noise_signs  # noqa: F401 -- noise_signs: re-exported

# The sparse Gram is used when its work, sum_i m_i^2 / 2 scattered updates, is below this fraction of the dense
# n p^2 / 2 multiply-adds. Measured (2 cores, 2048 channels, data + noise Gram): the sparse kernel costs ~10x
# more per update than BLAS (float64 syrk for the data, float32 for the noise), so it wins below ~4 %;
# 2 % leaves a margin (EDS at 200 counts/pixel: 0.4 %).
SPARSE_GRAM_MAX_WORK = 0.02

# The sparse kernel walks the accumulator tile by tile (TILE x TILE channels: 256 KB of data + noise, inside a
# core's L2) over batches of BATCH pixels: two threads with whole 34 MB accumulators thrashed the shared L3
# (measured 2 threads: 0.97-1.85 s untiled, 0.67 s tiled, EDS 256 x 256 x 2048).
TILE = 128
BATCH = 512

def _kernels():
    from . import _gram_kernels  # here: it imports numba

    return _gram_kernels


def sparse_gram_worthwhile(sum_nnz_sq: float, n_pixels: int, n_channels: int) -> bool:
    """Whether the sparse Gram route is expected to beat BLAS for these non-zero counts (data only)."""
    if n_pixels == 0 or n_channels == 0:
        return False
    if not use_numba_dense(float(n_pixels) * n_channels):
        return False
    return float(sum_nnz_sq) <= SPARSE_GRAM_MAX_WORK * float(n_pixels) * float(n_channels) ** 2


def signed_root(x: np.ndarray, row_weight: np.ndarray | None, seed: int, pixel_ids, channel_ids,
                compiled: bool | None = None) -> np.ndarray:
    """``sqrt(max(x, 0)) * sign * row_weight`` in float32: the noise rows of the dense Gram route (``compiled``:
    the numba kernel, None: when installed; both give the same bits)."""
    x = for_kernel(x)
    w = _row_weights(row_weight, x.shape[0])
    pix = np.asarray(pixel_ids, dtype=np.int64)
    chan = np.asarray(channel_ids, dtype=np.int64)
    if numba_usable() if compiled is None else (compiled and numba_usable()):
        out = np.empty(x.shape, dtype=np.float32)
        _kernels()._signed_root_nb(x, w, pix, chan, _seed64(seed), out)
        return out
    z = np.sqrt(x if x.dtype.kind in "bu" else np.maximum(x, 0), dtype=np.float32)
    z *= noise_signs(seed, pix, chan)
    z *= w[:, None].astype(np.float32)
    return z


def sparse_gram_accumulate(acc: np.ndarray, x: np.ndarray, row_weight: np.ndarray | None, seed: int | None,
                           pixel_ids, channel_ids) -> None:
    """``acc += packed upper triangles of (Dr x)^T (Dr x)`` (and of the noise rows ``signed_root``'s, interleaved,
    when ``seed`` is not None); ``acc`` from :func:`packed_accumulator`."""
    x = for_kernel(x)
    w = _row_weights(row_weight, x.shape[0])
    _kernels()._sparse_gram_nb(x, w, np.asarray(pixel_ids, dtype=np.int64), np.asarray(channel_ids, dtype=np.int64),
                    _seed64(0 if seed is None else seed), seed is not None, acc, TILE, BATCH)


def _row_weights(row_weight: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if row_weight is None else np.asarray(row_weight, dtype=np.float64)


def packed_accumulator(p: int, noise: bool) -> np.ndarray:
    return np.zeros((p * (p + 1) // 2, 2 if noise else 1))


def unpack_symmetric(acc: np.ndarray, p: int, column: int, scale: np.ndarray | None) -> np.ndarray:
    """The symmetric (p x p) matrix ``D U D`` for the packed upper triangle ``U = acc[:, column]`` and
    ``D = diag(scale)`` (identity when None): each entry computed once, ``(u_ij d_i) d_j``, and mirrored."""
    d = np.ones(p) if scale is None else np.asarray(scale, dtype=np.float64)
    out = np.empty((p, p))
    _kernels()._unpack_nb(acc, column, d, out)
    return out



# The scree solver leaves out the empty rows (channels or pixels with no count) from this share of the matrix up: it
# then does at most 1/8 of the work. Below it the whole matrix goes in, as before this rule, because the live block's
# eigenpairs differ from the whole matrix's in the last bits (EDS cubes with 3-16 % of their 1024 channels empty:
# 5e-14 relative in the eigenvalues, 2e-13 in the factors), and a history recorded before the rule must replay to
# the same numbers. The Velox example map: 4064 of 4066 rows empty.
EMPTY_ROWS_MIN_SHARE = 0.5


def eigh_scree(c: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All eigenvalues of the symmetric ``c`` (descending, negatives clipped to 0) and the eigenvectors of the
    ``k`` largest (columns, same order), from one tridiagonal reduction, on one BLAS thread
    (:func:`emscale.engine.blas.one_blas_thread`: the same bits whatever the process's threads). Where most rows are
    empty (:data:`EMPTY_ROWS_MIN_SHARE`) only the others are solved (:func:`_eigh_scree_live`)."""
    # imported before the limit: scipy.linalg brings its own OpenBLAS, and one loaded inside the block ran dsytrd on
    # all its threads -- a fresh process's first full-scree PCA differed from every later one (the real .bcf's factors
    # by 2.5e-10) and an in-session replay was not bit for bit. Not in one_blas_thread itself: every first pass of
    # any operation would pay the import (a 2 x 2 x 64 sum: 0.02 -> 0.67 s)
    import scipy.linalg  # noqa: F401

    from ..engine.blas import one_blas_thread

    dead = _empty_rows(c)
    if dead is not None and np.count_nonzero(dead) < EMPTY_ROWS_MIN_SHARE * dead.size:
        dead = None  # a few empty rows: the whole matrix, as before (see EMPTY_ROWS_MIN_SHARE)
    with one_blas_thread():
        if dead is None:
            return _eigh_scree(c, k)
        return _eigh_scree_live(c, k, dead)


def _empty_rows(c: np.ndarray) -> np.ndarray | None:
    """The rows (= columns) of the symmetric ``c`` that are all zero, as a mask; None where there are none. A
    channel with no count (or a pixel) gives such a row of the Gram matrix, exactly: only its products are summed."""
    if np.all(np.diagonal(c) != 0):  # a zero row has a zero diagonal: the whole matrix is read only where one has
        return None
    dead = np.count_nonzero(c, axis=1) == 0  # 0.02 s at 4066 rows; ~np.any(c[rows] != 0) copied them first: 0.8 s
    return dead if dead.any() else None


def _eigh_scree_live(c: np.ndarray, k: int, dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_eigh_scree` of ``c`` whose ``dead`` rows and columns are zero: ``c`` is then the live block and a zero
    block, so the eigensolver gets only the live block (the Velox example map's 4066-channel Gram holds 2 live
    channels: 16 s of dsytrd on a loaded machine, now none), and each dead row adds an eigenvalue 0 whose eigenvector
    is that row's unit vector (after the live block's vectors: the same descending order)."""
    p = c.shape[0]
    live = np.flatnonzero(~dead)
    k = int(min(max(k, 0), p))
    w, v = _eigh_scree(np.ascontiguousarray(c[np.ix_(live, live)]), min(k, live.size))
    values = np.zeros(p)
    values[: live.size] = w  # descending, clipped at 0: the dead rows' zeros follow
    vec = np.zeros((p, k))
    vec[live, : v.shape[1]] = v
    extra = k - v.shape[1]
    vec[np.flatnonzero(dead)[:extra], v.shape[1] + np.arange(extra)] = 1.0
    return values, vec


def _eigh_scree(c: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg import eigh_tridiagonal, lapack

    p = c.shape[0]
    k = int(min(max(k, 0), p))
    if p < 64 or k > p // 4:  # small, or most vectors wanted: the full solver is as fast
        w, v = np.linalg.eigh(c)
        order = np.argsort(w)[::-1]
        return np.clip(w[order], 0.0, None), np.ascontiguousarray(v[:, order[:k]])
    lwork = int(lapack.dsytrd_lwork(p, lower=1)[0])
    a, d, e, tau, info = lapack.dsytrd(np.asfortranarray(c), lower=1, lwork=lwork, overwrite_a=1)
    if info:  # pragma: no cover - LAPACK argument error
        raise np.linalg.LinAlgError(f"dsytrd failed (info={info})")
    values, info = lapack.dsterf(d.copy(), e.copy())
    if info:  # pragma: no cover
        raise np.linalg.LinAlgError(f"dsterf did not converge (info={info})")
    values = np.sort(values)[::-1]
    if k == 0:
        return np.clip(values, 0.0, None), np.zeros((p, 0))
    wt, vt = eigh_tridiagonal(d, e, select="i", select_range=(p - k, p - 1))
    order = np.argsort(wt)[::-1]
    vt = np.asfortranarray(vt[:, order])
    # Q = H(1) ... H(p-1) with the reflectors below the sub-diagonal: Q y = [y_0; ormqr(A[1:, :p-1]) y[1:]]
    lw = max(1, k) * 64  # blocked ormqr's workspace: columns of C times the block size
    q, _, info = lapack.dormqr("L", "N", a[1:, : p - 1], tau, vt[1:], lwork=lw, overwrite_c=1)
    if info:  # pragma: no cover
        raise np.linalg.LinAlgError(f"dormqr failed (info={info})")
    vec = np.empty((p, k))
    vec[0] = vt[0]
    vec[1:] = q
    return np.clip(values, 0.0, None), vec


DENSE_TOP_MAX = 256  # up to this size one dense eigvalsh is cheaper than the Lanczos steps


def top_eigenvalue(c: np.ndarray, max_steps: int = 300, rtol: float = 1e-7) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite matrix: Lanczos with full re-orthogonalisation
    from a fixed pseudo-random start (the same number on every run; a structured start such as all ones can be
    orthogonal to the top eigenvector), stopped when the top Ritz pair's residual is below ``rtol`` of it; an
    exact breakdown or no convergence falls back to the dense solver.
    (Written here because ``scipy.sparse.linalg.eigsh`` costs 0.36 s to import, more than this solve.) On one BLAS
    thread, as :func:`eigh_scree`."""
    import scipy.linalg  # noqa: F401 -- as in eigh_scree

    from ..engine.blas import one_blas_thread

    with one_blas_thread():
        return _top_eigenvalue(c, max_steps, rtol)


def _top_eigenvalue(c: np.ndarray, max_steps: int, rtol: float) -> float:
    from scipy.linalg import eigh_tridiagonal

    p = c.shape[0]
    if p <= DENSE_TOP_MAX:
        return float(np.linalg.eigvalsh(c)[-1])
    steps = min(max_steps, p)
    q = np.zeros((steps + 1, p))
    start = np.random.default_rng(0x5EED).standard_normal(p)
    q[0] = start / np.linalg.norm(start)
    alpha, beta = np.zeros(steps), np.zeros(steps)
    for j in range(steps):
        v = c @ q[j]
        alpha[j] = q[j] @ v
        v -= q[: j + 1].T @ (q[: j + 1] @ v)  # full re-orthogonalisation (twice is enough)
        v -= q[: j + 1].T @ (q[: j + 1] @ v)
        beta[j] = np.linalg.norm(v)
        # the top Ritz pair of the tridiagonal T_j (LAPACK stebz/stein: no BLAS threads, which spin for tiny
        # matrices on a busy machine: 54 dense eigh calls took 3 s there)
        vals, vecs = eigh_tridiagonal(alpha[: j + 1], beta[:j], select="i", select_range=(j, j))
        ritz = float(vals[-1])
        if beta[j] <= 1e-14 * max(abs(ritz), 1e-300):  # invariant subspace: it may miss the top eigenvector
            break
        # residual of the top Ritz pair: |beta_j s_j|; the eigenvalue error is below its square over the gap
        if abs(beta[j] * vecs[-1, -1]) <= rtol * abs(ritz):
            return ritz
        q[j + 1] = v / beta[j]
    return float(np.linalg.eigvalsh(c)[-1])
