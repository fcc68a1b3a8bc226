"""Vertex component analysis (Nascimento & Bioucas-Dias 2005) on the PCA scores, with (F)CLS abundances.

Pure pixels are the vertices of the data simplex. VCA works in the k-dimensional PCA subspace (the scores,
already computed by passes): rows are projected onto the plane ``y . mean = 1`` (so that pixel intensity does not
matter), then k times a random direction orthogonal to the endmembers found so far picks the pixel with the
most extreme projection. Endmember spectra are the PCA model (denoised) at those pixels.

Abundances: per-pixel non-negative least squares in the same subspace (``scipy.optimize.nnls`` on k x k
systems), optionally fully constrained (sum to the pixel total, "FCLS") by the usual augmented row.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls


def vca_indices(scores: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Kept-pixel indices of k endmember pixels."""
    rng = np.random.default_rng(seed)
    z = scores[:, :k]
    u = z.mean(axis=0)
    proj = z @ u
    proj = np.where(np.abs(proj) < 1e-300, 1e-300, proj)
    y = z / proj[:, None]
    a = np.zeros((k, k))
    a[-1, 0] = 1.0
    idx = np.zeros(k, dtype=np.int64)
    for i in range(k):
        w = rng.standard_normal(k)
        f = w - a @ (np.linalg.pinv(a) @ w)
        f /= max(np.linalg.norm(f), 1e-300)
        v = y @ f
        idx[i] = int(np.argmax(np.abs(v)))
        a[:, i] = y[idx[i]]
    return idx


def subspace_abundances(z: np.ndarray, e: np.ndarray, closure: bool = False, delta: float = 1e3) -> np.ndarray:
    """Per-pixel NNLS ``z_i ~= e @ a_i`` (a_i >= 0) for z (pixels, k) and endmember coordinates e (k, c).

    With ``closure`` the abundances of each pixel sum to ``totals`` given as the last column of ``z`` (the
    caller appends them) through an augmented row weighted by ``delta``.
    """
    n = z.shape[0]
    out = np.zeros((n, e.shape[1]))
    if closure:
        e = np.vstack([e, delta * np.ones((1, e.shape[1]))])
    for i in range(n):
        out[i] = nnls(e, z[i])[0]
    return out
