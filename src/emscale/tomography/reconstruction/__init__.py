"""Reconstruction algorithms written against a :class:`~emscale.tomography.projector.Projector`.

Each solver takes a stack of sinograms ``(n_slices, n_angles, n_det)`` and returns slices ``(n_slices, nz, nw)``;
slices never interact, so :mod:`emscale.tomography.reconstruct` runs them as passes over slice partitions.
"""

from .fbp import FILTERS, fbp, filter_sinograms
from .sirt import sirt
from .tv import tv_chambolle_pock

SOLVERS = {"fbp": fbp, "sirt": sirt, "tv": tv_chambolle_pock}

__all__ = ["FILTERS", "SOLVERS", "fbp", "filter_sinograms", "sirt", "tv_chambolle_pock"]
