"""Electron tomography: tilt series, alignment, single-axis reconstruction, atom tracing, spectral tomography.

A tilt series is a :class:`~emscale.Signal` ``(n_tilts, ny, nx)`` with navigation axis ``"tilt"`` (degrees) and
signal axes ``y, x``; a reconstruction is a volume Signal ``(z, y, x)`` with the same calibration.

>>> from emscale import tomography as tomo
>>> s = tomo.load_tilt_series("HAADF.mrc", tilt_axis="x")       # angles from HAADF.rawtlt
>>> al = tomo.align_tilts(s)
>>> vol = tomo.reconstruct(al.aligned, method="sirt", n_iter=100)
"""

from .alignment import Alignment, align_tilts
from .geometry import ParallelGeometry
from .projector import Projector, adjoint_mismatch
from .reconstruct import METHODS, reconstruct, reconstruct_slices
from .tiltseries import angles_of, load_tilt_series, read_rawtlt, tilt_series

__all__ = [
    "METHODS",
    "Alignment",
    "ParallelGeometry",
    "Projector",
    "adjoint_mismatch",
    "align_tilts",
    "angles_of",
    "load_tilt_series",
    "read_rawtlt",
    "reconstruct",
    "reconstruct_slices",
    "tilt_series",
]
