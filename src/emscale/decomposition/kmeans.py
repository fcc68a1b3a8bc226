"""Seeded k-means: greedy k-means++ starts and Lloyd's iterations, for a few features per point.

Clustering a decomposition's loadings into phases (:func:`.result.cluster`) and the autonomous acquisition's phase
map are k-means of n pixels in few dimensions (the k loading directions, k <= ~30). scikit-learn's ``KMeans`` does
that well, but importing it costs 0.7-0.9 s (it loads scipy.stats and pandas), more than clustering any map of up to
~10^5 pixels takes: on a 32 x 32 map the first ``cluster`` call took 0.72 s, 0.70 of it the import (issue 17: cost
follows the data). The algorithm is the same as scikit-learn's defaults with ``n_init=10``:

- each start draws its first centre at random (weighted by ``sample_weight``), then each further centre as the best
  of ``2 + int(log(n_clusters))`` candidates drawn with probability proportional to the weighted squared distance
  to the nearest centre chosen so far, "best" meaning the lowest total weighted squared distance (Arthur &
  Vassilvitskii 2007, the greedy variant);
- Lloyd's iterations assign each point to its nearest centre and move each centre to the weighted mean of its
  points, until no label changes or the centres move less than ``tol`` x the mean variance of the features
  (summed squared shift); a cluster left empty takes the point farthest from its centre (no NaN mean);
- of ``n_init`` starts the lowest inertia (weighted sum of squared distances) wins, the first on a tie.

Every random draw comes from one ``numpy.random.default_rng(seed)``, so a rerun gives the same bits. The squared
distances are computed in blocks of :data:`BLOCK` points as ``|x|^2 - 2 x.c + |c|^2`` (one matrix product a block)
and the inertia exactly from the differences.

numpy cannot fuse the distances, the nearest centre and the sums into one sweep as scikit-learn's compiled Lloyd
does, so on big maps this is the slower of the two (measured, 2 cores, 10 starts: 262144 points of 10 features into 8
clusters 3.3 s against 1.0; 65536 x 5 into 6 0.44 against 0.31; 1024 x 3 into 3 0.003 against 0.004, each after
scikit-learn's import). Both cost about in proportion to the points (and the iterations the data need).
:func:`fit_kmeans` therefore runs it up to :data:`NUMPY_MAX_POINTS`, where it answers before scikit-learn would
have been imported, and scikit-learn's ``KMeans`` (the same defaults) above, and says which ran.

References: D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007;
S. P. Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf. Theory 28 (1982) 129-137.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

N_INIT = 10
MAX_ITER = 300
TOL = 1e-4
BLOCK = 1 << 16  # points a distance block: a (BLOCK, n_clusters) float64 array, 5 MB at 10 clusters
# points up to which numpy's k-means runs; above, scikit-learn's. Measured (2 cores, 10 starts), numpy against
# scikit-learn's fit and its 0.85 s import: 131072 x 3 features into 3 clusters 0.41 s against 0.22 + 0.85; 65536 x 8
# into 6 0.31 against 0.23 + 0.85; 262144 x 3 into 3 1.05 against 0.89 + 0.85, x 10 into 8 3.3 against 1.0 + 0.85
NUMPY_MAX_POINTS = 1 << 17


@dataclass(frozen=True)
class KMeansFit:
    """``labels`` (n,) int64 in ``0..n_clusters-1``, ``centres`` (n_clusters, d), ``inertia`` (the weighted sum of
    squared distances to the assigned centres), ``n_iter`` (Lloyd's iterations of the winning start)."""

    labels: np.ndarray
    centres: np.ndarray
    inertia: float
    n_iter: int
    route: str = "numpy"


def fit_kmeans(x, n_clusters: int, seed: int = 0, sample_weight=None) -> KMeansFit:
    """k-means of the rows of ``x`` with ``N_INIT`` starts: :func:`kmeans` up to :data:`NUMPY_MAX_POINTS` points,
    scikit-learn's ``KMeans`` above; ``route`` says which ran and why."""
    n, d = np.shape(x)
    size = f"{n} points x {d} features x {n_clusters} clusters"
    if n <= NUMPY_MAX_POINTS:
        fit = kmeans(x, n_clusters, seed=seed, sample_weight=sample_weight)
        return replace(fit, route=f"numpy: {size}, at most {NUMPY_MAX_POINTS} points (no scikit-learn import)")
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # its "distinct clusters" warning: said by the callers, in emscale's words
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=n_clusters, random_state=seed, n_init=N_INIT, max_iter=MAX_ITER, tol=TOL).fit(
            x, sample_weight=sample_weight)
    return KMeansFit(km.labels_.astype(np.int64), km.cluster_centers_, float(km.inertia_), int(km.n_iter_),
                     f"scikit-learn: {size}, above {NUMPY_MAX_POINTS} points (its compiled Lloyd is faster there)")


def kmeans(x, n_clusters: int, seed: int = 0, sample_weight=None, n_init: int = N_INIT, max_iter: int = MAX_ITER,
           tol: float = TOL) -> KMeansFit:
    """k-means of the rows of ``x`` (n, d) into ``n_clusters`` (see the module docstring).

    ``sample_weight`` (n,): non-negative weights (default 1 each). Clusters may come out empty only where fewer
    distinct points than ``n_clusters`` exist."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[0]
    if x.ndim != 2 or not 1 <= n_clusters <= n:
        raise ValueError(f"k-means needs 1 <= n_clusters <= n points (a 2-D array), got {n_clusters} clusters of "
                         f"an array of shape {x.shape}")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    points = _Points(x, w)
    rng = np.random.default_rng(seed)
    threshold = tol * float(np.mean(np.var(x, axis=0))) if n > 1 else 0.0
    best = None
    for _ in range(n_init):
        labels, centres, n_iter = _lloyd(points, _plus_plus(points, n_clusters, rng), max_iter, threshold)
        inertia = float(w @ np.sum((x - centres[labels]) ** 2, axis=1))
        if best is None or inertia < best.inertia:
            best = KMeansFit(labels, centres, inertia, n_iter)
    return best


class _Points:
    """The points with what every iteration reuses: their squared norms and the weighted features by feature (a
    contiguous row each, for :func:`numpy.bincount`: 2.6x faster than strided columns)."""

    def __init__(self, x: np.ndarray, w: np.ndarray):
        self.x, self.w = x, w
        self.sq = np.einsum("ij,ij->i", x, x)
        self.weighted = np.ascontiguousarray((x * w[:, None]).T)

    def sq_distances(self, centres: np.ndarray) -> np.ndarray:
        """(n, m) squared distances to ``centres`` (m, d), clipped at zero (the expansion's rounding)."""
        d2 = self.x @ (-2.0 * centres.T)
        d2 += self.sq[:, None]
        d2 += np.einsum("ij,ij->i", centres, centres)[None, :]
        return np.maximum(d2, 0.0, out=d2)

    def nearest(self, centres: np.ndarray) -> np.ndarray:
        """Each point's nearest centre, in blocks of :data:`BLOCK` points (the squared norm of the point is the
        same for every centre, so it is left out)."""
        labels = np.empty(len(self.x), dtype=np.int64)
        m2, cc = -2.0 * centres.T, np.einsum("ij,ij->i", centres, centres)
        for lo in range(0, len(self.x), BLOCK):
            d2 = self.x[lo : lo + BLOCK] @ m2
            d2 += cc
            labels[lo : lo + BLOCK] = np.argmin(d2, axis=1)
        return labels

    def means(self, labels: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(each cluster's weighted mean, the clusters without weight); those keep their centre."""
        k = len(centres)
        mass = np.bincount(labels, weights=self.w, minlength=k)
        sums = np.stack([np.bincount(labels, weights=row, minlength=k) for row in self.weighted], axis=1)
        held = mass > 0
        out = centres.copy()
        out[held] = sums[held] / mass[held, None]
        return out, np.flatnonzero(~held)


def _plus_plus(points: _Points, n_clusters: int, rng) -> np.ndarray:
    x, w = points.x, points.w
    n = len(x)
    trials = 2 + int(np.log(n_clusters))
    first = rng.choice(n, p=w / w.sum()) if w.sum() > 0 else rng.integers(n)
    centres = [x[first]]
    closest = points.sq_distances(x[first][None, :])[:, 0]
    for _ in range(1, n_clusters):
        mass = np.cumsum(w * closest)
        if not mass[-1] > 0:  # every point on a centre already: any point will do
            centres.append(x[rng.integers(n)])
            continue
        ids = np.minimum(np.searchsorted(mass, rng.random(trials) * mass[-1]), n - 1)
        near = np.minimum(closest[:, None], points.sq_distances(x[ids]))  # (n, trials)
        pick = int(np.argmin(w @ near))
        centres.append(x[ids[pick]])
        closest = near[:, pick]
    return np.array(centres)


def _lloyd(points: _Points, centres: np.ndarray, max_iter: int, threshold: float):
    labels = points.nearest(centres)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        moved, empty = points.means(labels, centres)
        if empty.size:  # the points farthest from their centres, one each, become the empty clusters' centres
            dist = np.sum((points.x - centres[labels]) ** 2, axis=1)
            far = np.argsort(-dist, kind="stable")[: empty.size]
            moved[empty] = points.x[far]
        shift = float(np.sum((moved - centres) ** 2))
        centres = moved
        new_labels = points.nearest(centres)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        if shift <= threshold:
            break
    return labels, centres, n_iter
