"""(Poisson-weighted) PCA of a :class:`._matrix.DataMatrix`, written as passes.

Two solvers, both returning the *weighted* quantities (the caller undoes the weights):

``gram``
    One pass accumulates ``C = Xw^T Xw`` (channels x channels, float64). ``eigh(C)`` gives the whole eigenvalue
    spectrum (the scree) and the factors; one more pass projects the blocks, ``scores = Xw V``. Exact, and the
    right choice up to a few thousand channels.

``randomized``
    Halko-Martinsson-Tropp range finder with a seeded Gaussian test matrix, ``oversample`` extra columns and
    ``n_iter`` power iterations, each re-orthonormalised by QR. Every product with the data is a pass: tall
    matrices (pixels x l) are the concatenated partials of ``Xw @ B``; wide ones (channels x l) are the summed
    partials of ``Xw^T @ A``. Memory: a few (pixels x l) and (channels x l) matrices.

``single_pass``
    For data that can be read only once (a cold archive, a live stream): range, co-range and error-test
    sketches all taken in one read together with the statistics (Tropp et al., SIMAX 2017 and SISC 2019), the
    factorisation then computed from the sketches alone. Less accurate than ``randomized`` with power
    iterations; the a-posteriori estimate of the relative Frobenius error is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._matrix import DataMatrix


@dataclass
class PCAResult:
    factors: np.ndarray  # (kept channels, k) weighted, orthonormal columns
    scores: np.ndarray  # (kept pixels, k) = Xw @ factors (loadings in weighted units)
    eigenvalues: np.ndarray  # eigenvalues of Xw^T Xw: the full spectrum (gram) or the top l (randomized)
    trace: float  # ||Xw||_F^2 (sum of all eigenvalues)
    solver: str
    noise_eigenvalues: np.ndarray | None = None  # top eigenvalues of the simulated noise Gram (parallel analysis)


def _sorted_eigh(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, v = np.linalg.eigh(c)
    order = np.argsort(w)[::-1]
    return np.clip(w[order], 0.0, None), v[:, order]


def gram_pca(dm: DataMatrix, k: int, noise_seed: int | None = None) -> PCAResult:
    noise = None
    if noise_seed is None:
        c = dm.gram()
    else:
        c, cn = dm.gram(noise_seed=noise_seed)
        from scipy.linalg import eigh

        p = cn.shape[0]
        top = eigh(cn, eigvals_only=True, subset_by_index=[max(p - 16, 0), p - 1])
        noise = np.sort(top)[::-1]
    w, v = _sorted_eigh(c)
    m = min(dm.n_pixels, dm.n_channels)
    w = w[:m]
    vk = np.ascontiguousarray(v[:, :k])
    scores = dm.matmul(vk, name="decomposition-project")
    return PCAResult(vk, scores, w, float(np.trace(c)), "gram", noise)


def _qr(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of a tall, skinny matrix. OpenBLAS's threaded QR is many times slower than its
    single-threaded one on such shapes (measured: 8192 x 18 took 50-400 ms threaded, 12 ms on one thread)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.qr(a)[0]


def randomized_pca(dm: DataMatrix, k: int, seed: int = 0, n_iter: int = 2, oversample: int = 10) -> PCAResult:
    """Range finder whose tall (pixels x l) bases are never stored: each is kept implicitly as ``Xw @ B`` with a
    small (channels x l) ``B`` made orthonormal through the (l x l) Gram matrix of ``Xw @ B``, so memory does not
    grow with the number of pixels (a 30 GB cube has millions of them) beyond the final (pixels x k) loadings."""
    n, p = dm.n_pixels, dm.n_channels
    ell = min(k + oversample, min(n, p))
    rng = np.random.default_rng(seed)
    b = _orthonormalising(dm, rng.standard_normal((p, ell)), "decomposition-sketch")
    for _ in range(max(n_iter, 0)):
        z = _qr(dm.normal_product(b, name="decomposition-power"))
        b = _orthonormalising(dm, z, "decomposition-power-gram")
    bt = dm.normal_product(b, name="decomposition-project-T")  # (p, l) = Xw^T Q = B^T with Q = Xw b
    vb, s, ubt = np.linalg.svd(bt, full_matrices=False)  # B^T = vb s ubt  ->  B = ubt^T s vb^T
    k = min(k, s.size)
    factors = np.ascontiguousarray(vb[:, :k])
    scores = dm.matmul(b @ (ubt.T[:, :k] * s[:k]), name="decomposition-project")  # Q @ (ubt^T s)
    return PCAResult(factors, scores, s**2, dm.frobenius_sq(), "randomized")


def _orthonormalising(dm: DataMatrix, b: np.ndarray, name: str) -> np.ndarray:
    """``b @ T`` such that ``Xw @ b @ T`` has orthonormal columns, from one pass for the Gram matrix of
    ``Xw @ b``; directions with no energy (a rank-deficient matrix) are dropped."""
    g = dm.product_gram(b, name=name)
    w, v = np.linalg.eigh(0.5 * (g + g.T))
    keep = w > w.max() * 1e-13 if w.size and w.max() > 0 else np.zeros(w.size, bool)
    return b @ (v[:, keep] / np.sqrt(w[keep]))


def single_pass_pca(dm: DataMatrix, k: int, seed: int, sketches, n_test: int) -> tuple[PCAResult, float]:
    """Finish a single-pass sketch (:meth:`DataMatrix.single_pass_sketch`): (result, estimated relative error)."""
    y, w, z, _omega = sketches
    if dm.col_scale is not None:  # the per-channel Poisson weight, known only after the pass
        w = w * dm.col_scale[None, :]
        z = z * dm.col_scale[None, :]
    q = _qr(y)
    psi_q, theta_q = _wide_times(dm, seed, (w.shape[0], n_test), q)
    x, *_ = np.linalg.lstsq(psi_q, w, rcond=None)  # (l, channels): Xw ~ Q x
    u, sv, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, sv.size)
    factors = np.ascontiguousarray(vt[:k].T)
    scores = q @ (u[:, :k] * sv[:k])
    trace = dm.frobenius_sq()
    err_sq = float(np.sum((z - theta_q @ x) ** 2)) / n_test
    rel = float(np.sqrt(err_sq / trace)) if trace > 0 else 0.0
    return PCAResult(factors, scores, sv**2, trace, "single_pass"), rel


def _wide_times(dm: DataMatrix, seed: int, heights: tuple[int, ...], tall: np.ndarray) -> list[np.ndarray]:
    """``G_j @ tall`` for the row-seeded test matrices of the sketch, regenerated row by row (no data read)."""
    out = [np.zeros((h, tall.shape[1])) for h in heights]
    n_rows = dm.nav_shape[0] if dm.nav_shape else 1
    for r in range(n_rows):
        rows = slice(r, r + 1)
        k0, k1, _ = dm._kept_range(rows)
        for acc, g in zip(out, dm._row_gaussians(rows, seed, heights), strict=True):
            acc += g @ tall[k0:k1]
    return out
