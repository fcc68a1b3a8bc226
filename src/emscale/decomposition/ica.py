"""ICA of the PCA scores (scikit-learn FastICA), as an exact rotation of the truncated PCA model.

With PCA scores ``Z`` (pixels x k) and weighted factors ``V`` (channels x k), ``Xw ~= Z V^T``. FastICA finds an
unmixing matrix ``U`` (k x k) such that the columns of ``Z U^T`` are as independent as possible; then
``Xw ~= (Z U^T) (V U^-1)^T``: loadings ``Z U^T``, factors ``V U^-1``. Nothing else touches the data.
The method ``"ica"`` of ``decompose``: :class:`ICA`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._method import Context, Method, by_energy, register, signed


def ica_rotation(scores: np.ndarray, factors: np.ndarray, seed: int = 0, max_iter: int = 1000, tol: float = 1e-6):
    """(loadings, factors, info) after FastICA of ``scores``; weighted units, unordered, unsigned."""
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    k = scores.shape[1]
    ica = FastICA(n_components=k, whiten="unit-variance", random_state=seed, max_iter=max_iter, tol=tol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ica.fit(scores)
    unmix = ica.components_  # (k, k): sources = (Z - mean) @ unmix.T
    loadings = scores @ unmix.T
    f = factors @ np.linalg.pinv(unmix)
    info = {
        "n_iter": int(ica.n_iter_),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    }
    return loadings, f, info


@register
class ICA(Method):
    """FastICA rotation of the PCA model (:func:`ica_rotation`); factors signed (largest-|value| entry positive)
    and ordered by energy. Options: ``max_iter``, ``tol`` of FastICA."""

    name = "ica"
    options = {"max_iter": 1000, "tol": 1e-6}

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        lw, fw, info = ica_rotation(ctx.scores, ctx.factors, seed=ctx.seed, max_iter=self.max_iter, tol=self.tol)
        return (*by_energy(*signed(*ctx.unweighted(fw, lw))), info)
