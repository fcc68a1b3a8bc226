"""Pure voxels: resolve the rotational ambiguity of a spectral tilt series' factorisation in 3D.

A factorisation of the projections ``X ~= L F^T`` is fixed only up to an invertible ``M``: ``(L M^-1)(M F^T)``
fits as well while both stay non-negative. In projection the phases overlap -- a ray crosses several -- so few
pixels are pure and a Poisson NMF drifts along that family towards mixed spectra as the counts fall (measured:
3.4-4.2 degrees from the true spectra at ~100 counts per pixel, 2.8-4.4 at ~540). In the volume the phases
do not overlap: reconstructing each component's loadings gives voxel coordinates ``V0`` (voxels x k) and, for
a sample made of distinct phases, most massive voxels are pure, so their coordinates normalised to unit sum
cluster at the ``k`` vertices of a simplex. The vertices' rows ``M`` give the pure spectra ``M F^T`` -- counts
from every tilt pooled through the factorisation, mixing removed in 3D, where it can be.

1. Voxels with at least half the 95th-percentile mass; their coordinates ``a = V0 / sum(V0)``.
2. Farthest-point seeds, then k-means on ``a`` (deterministic Lloyd iterations).
3. Each vertex: the mean of the inner half (nearest the centre) of its cluster -- robust to the mixed voxels at
   phase boundaries.
4. Evidence: every massive voxel's barycentric coordinates ``a M^-1``; the rotation is used when at most 10 %
   of them lie outside the simplex (a coordinate below -10 %) and ``M`` is well conditioned; otherwise the
   factorisation's own spectra are kept (smoothly varying mixtures have no pure voxels) and the reason recorded.

References
----------
J. M. P. Nascimento and J. M. Bioucas-Dias, "Vertex component analysis", IEEE TGRS 43 (2005) 898-910 (pure
pixels as simplex vertices); the same argument in projection space is :mod:`emscale.decomposition.purity`.
"""

from __future__ import annotations

import numpy as np

MAX_OUTSIDE = 0.10  # the same rule as emscale.decomposition.purity: at most 10 % of voxels outside the simplex
OUTSIDE_SHARE = -0.10
MAX_CONDITION = 1e8


def _farthest_seeds(a: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` mutually far points (the first: the farthest from the mean)."""
    idx = [int(np.argmax(np.sum((a - a.mean(axis=0)) ** 2, axis=1)))]
    d = np.sum((a - a[idx[0]]) ** 2, axis=1)
    for _ in range(1, k):
        idx.append(int(np.argmax(d)))
        d = np.minimum(d, np.sum((a - a[idx[-1]]) ** 2, axis=1))
    return np.array(idx)


def _kmeans(a: np.ndarray, centres: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """Cluster labels of ``a`` after Lloyd iterations from ``centres``."""
    for _ in range(n_iter):
        labels = np.argmin(((a[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        new = np.array([a[labels == j].mean(axis=0) if np.any(labels == j) else centres[j]
                        for j in range(len(centres))])
        if np.allclose(new, centres):
            break
        centres = new
    return labels


def pure_voxel_vertices(v0: np.ndarray) -> tuple[np.ndarray | None, dict]:
    """Vertex coordinates ``M`` (k x k, rows summing to one) of the voxel loadings ``v0`` (n_voxels, k), and the
    evidence: ``{"applied", "outside_fraction", "condition", "n_voxels", "reason"}``. ``M`` is ``None`` when
    the evidence says the voxels are not pure (see the module)."""
    v0 = np.asarray(v0, np.float64)
    k = v0.shape[1]
    m = v0.sum(axis=1)
    positive = m[m > 0]
    if positive.size < 10 * k:
        return None, {"applied": False, "reason": f"only {positive.size} voxels with matter"}
    keep = m >= 0.5 * np.percentile(positive, 95)
    a = v0[keep] / m[keep, None]
    labels = _kmeans(a, a[_farthest_seeds(a, k)])
    rows = []
    for j in range(k):
        member = a[labels == j]
        if len(member) == 0:
            return None, {"applied": False, "reason": f"vertex {j} has no voxels"}
        d = np.sum((member - member.mean(axis=0)) ** 2, axis=1)
        rows.append(member[d <= np.median(d)].mean(axis=0))
    M = np.array(rows)
    cond = float(np.linalg.cond(M))
    info = {"n_voxels": int(keep.sum()), "condition": cond}
    if not cond < MAX_CONDITION:
        return None, {**info, "applied": False, "outside_fraction": 1.0,
                      "reason": f"vertices not independent (condition {cond:.3g})"}
    bary = a @ np.linalg.inv(M)
    outside = float(np.mean(bary.min(axis=1) < OUTSIDE_SHARE))
    info["outside_fraction"] = outside
    if outside > MAX_OUTSIDE:
        return None, {**info, "applied": False,
                      "reason": f"{outside:.0%} of the massive voxels lie outside the vertices' simplex (> "
                                f"{MAX_OUTSIDE:.0%}): no pure voxels, the factorisation's spectra are kept"}
    return M, {**info, "applied": True, "reason": "pure voxels found for every component"}


def fit_loadings_kl(x: np.ndarray, spectra: np.ndarray, n_iter: int = 200) -> np.ndarray:
    """Non-negative loadings ``W`` (pixels x k) of counts ``x`` (pixels x channels) for fixed ``spectra``
    (k x channels): multiplicative updates of the Poisson (KL) likelihood (Lee and Seung 2001)."""
    x = np.asarray(x, np.float64)
    h = np.asarray(spectra, np.float64)
    w = np.full((x.shape[0], h.shape[0]), max(float(x.sum(axis=1).mean()), 1e-12) / h.shape[0])
    denom = h.sum(axis=1)
    for _ in range(n_iter):
        w *= ((x / np.maximum(w @ h, 1e-12)) @ h.T) / denom
    return w
