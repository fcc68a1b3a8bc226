"""ICA of the PCA scores (symmetric FastICA), as an exact rotation of the truncated PCA model.

With PCA scores ``Z`` (pixels x k) and weighted factors ``V`` (channels x k), ``Xw ~= Z V^T``. FastICA finds an
unmixing matrix ``U`` (k x k) such that the columns of ``Z U^T`` are as independent as possible; then
``Xw ~= (Z U^T) (V U^-1)^T``: loadings ``Z U^T``, factors ``V U^-1``. Nothing else touches the data.
The method ``"ica"`` of ``decompose``: :class:`ICA`.

:func:`fast_ica` is the symmetric (parallel) fixed-point algorithm with the log-cosh contrast (Hyvarinen 1999),
the defaults of scikit-learn's ``FastICA``. It is written here because it works on the k-column score matrix
only (k x k whitening from the k x k covariance, one (pixels x k) product per iteration) and because importing
scikit-learn costs about 1 s, which dominated ICA on small cubes (issue 17: import + first call 1.0-1.5 s on a
2 x 2 x 2048 to 32 x 32 x 512 cube). scikit-learn's ``FastICA`` from the same start finds the same unmixing up to
the order and signs of the sources (``tests/decomposition/test_ica.py``).

References: A. Hyvarinen, "Fast and robust fixed-point algorithms for independent component analysis", IEEE
Trans. Neural Networks 10 (1999) 626-634; A. Hyvarinen, E. Oja, Neural Networks 13 (2000) 411-430.
"""

from __future__ import annotations

import numpy as np

from ._method import Context, Method, by_energy, register, signed


def _symmetric_decorrelation(w: np.ndarray) -> np.ndarray:
    """``(W W^T)^(-1/2) W``: the orthogonal matrix nearest to ``W`` (every row updated at once, none favoured)."""
    s, u = np.linalg.eigh(w @ w.T)
    s = np.maximum(s, np.finfo(w.dtype).tiny)
    return (u / np.sqrt(s)) @ u.T @ w


def fast_ica(scores: np.ndarray, seed: int = 0, max_iter: int = 1000, tol: float = 1e-6):
    """Symmetric FastICA (log-cosh contrast) of ``scores`` (pixels x k): ``(U, n_iter, converged)``.

    ``U`` (k x k) unmixes the centred scores into unit-variance sources ``(Z - mean) U^T``. The scores are
    whitened by the eigendecomposition of their k x k covariance; ``W`` starts from a seeded standard normal
    matrix, made orthogonal, and each iteration replaces it by the symmetric decorrelation of
    ``E[g(W y) y^T] - diag(E[g'(W y)]) W`` with ``g = tanh``; it stops when every row of ``W`` turned by less than
    ``tol`` (``max |(|w_new . w_old| - 1)| < tol``)."""
    z = np.asarray(scores, dtype=np.float64)
    n, k = z.shape
    zc = z - z.mean(axis=0)
    d, e = np.linalg.eigh(zc.T @ zc / n)
    d = np.maximum(d, np.finfo(np.float64).eps * max(float(d.max()), np.finfo(np.float64).tiny))
    whiten = (e / np.sqrt(d)).T  # y = zc @ whiten.T has the identity covariance
    y = zc @ whiten.T
    w = _symmetric_decorrelation(np.random.default_rng(seed).standard_normal((k, k)))
    converged, n_iter = False, 0
    while n_iter < max_iter:
        n_iter += 1
        g = np.tanh(y @ w.T)  # (n, k): g of every source
        g_prime = (1.0 - g * g).mean(axis=0)
        w_new = _symmetric_decorrelation(g.T @ y / n - g_prime[:, None] * w)
        turned = float(np.max(np.abs(np.abs(np.einsum("ij,ij->i", w_new, w)) - 1.0)))
        w = w_new
        if turned < tol:
            converged = True
            break
    return w @ whiten, n_iter, converged


def ica_rotation(scores: np.ndarray, factors: np.ndarray, seed: int = 0, max_iter: int = 1000, tol: float = 1e-6):
    """(loadings, factors, info) after :func:`fast_ica` of ``scores``; weighted units, unordered, unsigned."""
    unmix, n_iter, converged = fast_ica(scores, seed=seed, max_iter=max_iter, tol=tol)
    loadings = scores @ unmix.T
    f = factors @ np.linalg.pinv(unmix)
    return loadings, f, {"n_iter": int(n_iter), "converged": bool(converged)}


@register
class ICA(Method):
    """FastICA rotation of the PCA model (:func:`ica_rotation`); factors signed (largest-|value| entry positive)
    and ordered by energy. Options: ``max_iter``, ``tol`` of FastICA."""

    name = "ica"
    options = {"max_iter": 1000, "tol": 1e-6}

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        lw, fw, info = ica_rotation(ctx.scores, ctx.factors, seed=ctx.seed, max_iter=self.max_iter, tol=self.tol)
        return (*by_energy(*signed(*ctx.unweighted(fw, lw))), info)
