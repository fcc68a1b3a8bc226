"""Unsupervised signal separation: Poisson PCA (Gram or randomized, as passes), rank estimation by the
Marchenko-Pastur edge, NMF (KL / Frobenius), ICA, VCA, MCR-ALS, and clustering of the loadings.

``decompose`` (:mod:`.api`) is the driver; each method is a plug-in in its own module, registered in the method
table of :mod:`._method` (the protocol: what a method declares, what its ``fit`` is given and returns).

>>> d = s.decompose("pca", n_components="auto")     # or emscale.decompose(s, ...)
>>> d.estimate_rank()[0], d.factors, d.loadings, d.reconstruct(4)
"""

from .api import METHODS, decompose
from .metrics import label_agreement, spectral_angle, spectral_angles
from .rank import estimate_rank
from .result import ClusterResult, Decomposition

load = Decomposition.load

__all__ = ["METHODS", "ClusterResult", "Decomposition", "decompose", "estimate_rank", "label_agreement", "load",
           "spectral_angle", "spectral_angles"]
