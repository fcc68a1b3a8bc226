"""Small dense linear-algebra helpers shared by the decomposition solvers (PCA, NMF)."""

from __future__ import annotations

import numpy as np

from ..engine.blas import one_blas_thread


def tall_qr(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of a tall, skinny matrix. OpenBLAS's threaded QR is many times slower than its
    single-threaded one on such shapes (measured: 8192 x 18 took 50-400 ms threaded, 12 ms on one thread)."""
    with one_blas_thread():
        return np.linalg.qr(a)[0]


def nnls_gram(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares for many right-hand sides that share one Gram matrix: for each row ``y_i`` of
    ``y`` (n, k), ``x_i = argmin_{x >= 0} x^T g x - 2 y_i^T x``, i.e. ``argmin |a - x B|`` with ``g = B B^T`` and
    ``y = a B^T``. Returns x (n, k).

    Lawson and Hanson's active-set method, run on all rows at once: rows that share a passive set are solved
    together (as in Bro and de Jong's fast NNLS), so the cost is a k x k solve per distinct set and turn, not a
    loop over rows. Each row starts from the largest set on which its least-squares solution is positive, found
    by dropping the negative variables until none is left (on a mixed map most rows need no more turns)."""
    g = np.asarray(g, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, k = y.shape
    x = np.zeros((n, k))
    if n == 0 or k == 0:
        return x
    tol = 10.0 * np.finfo(float).eps * max(float(np.abs(g).sum(axis=0).max()), 1e-300) * k
    passive = np.ones((n, k), dtype=bool)
    rows = np.arange(n)
    for _ in range(k):
        z = _solve_on(g, y[rows], passive[rows])
        ok = ((z > 0) | ~passive[rows]).all(axis=1)
        x[rows[ok]] = z[ok]
        rows, z = rows[~ok], z[~ok]
        if rows.size == 0:
            break
        passive[rows] &= z > 0
    passive[rows] = False  # none left: from the empty set (x is zero there)
    for _ in range(3 * k):  # Lawson and Hanson's outer loop: each turn frees the most wanted variable
        w = y - x @ g
        cand = np.where(passive, -np.inf, w)
        rows = np.flatnonzero(cand.max(axis=1) > tol)
        if rows.size == 0:
            break
        passive[rows, np.argmax(cand[rows], axis=1)] = True
        for _ in range(k):  # the inner loop: back into the feasible set, dropping a variable a turn
            z = _solve_on(g, y[rows], passive[rows])
            bad = ((z <= 0) & passive[rows]).any(axis=1)
            x[rows[~bad]] = z[~bad]
            if not bad.any():
                break
            rows, z = rows[bad], z[bad]
            xr, p = x[rows], passive[rows]
            step = np.where(p & (z <= 0), xr / np.where(xr - z > 0, xr - z, np.inf), np.inf)
            xr = xr + np.minimum(step.min(axis=1), 1.0)[:, None] * (z - xr)
            p &= xr > tol
            xr[~p] = 0.0
            x[rows], passive[rows] = xr, p
    return x


def _solve_on(g: np.ndarray, y: np.ndarray, passive: np.ndarray) -> np.ndarray:
    """Rows of ``y`` solved on their passive sets (zero elsewhere), the rows of one set together."""
    z = np.zeros_like(y)
    if passive.shape[1] <= 62:
        codes = passive.astype(np.int64) @ (np.int64(1) << np.arange(passive.shape[1], dtype=np.int64))
    else:
        codes = np.unique(passive, axis=0, return_inverse=True)[1].ravel()
    order = np.argsort(codes, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        idx = np.flatnonzero(passive[rows[0]])
        if idx.size == 0:
            continue
        sub = g[np.ix_(idx, idx)]
        rhs = y[np.ix_(rows, idx)].T
        try:
            z[np.ix_(rows, idx)] = np.linalg.solve(sub, rhs).T
        except np.linalg.LinAlgError:
            z[np.ix_(rows, idx)] = (np.linalg.pinv(sub) @ rhs).T
    return z
