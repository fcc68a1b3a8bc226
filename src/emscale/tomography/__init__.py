"""Electron tomography: tilt series, alignment, single-axis reconstruction, atom tracing, spectral tomography.

A tilt series is a :class:`~emscale.Signal` ``(n_tilts, ny, nx)`` with navigation axis ``"tilt"`` (degrees) and
signal axes ``y, x``; a reconstruction is a volume Signal ``(z, y, x)`` with the same calibration.

Operations (declared in the registry: recorded, replayable, recipe steps): ``as_tilt_series``,
``subtract_background``, ``align_tilts``, ``reconstruct_tomogram``, ``trace_atoms``, ``spectral_tomography``.

>>> import emscale as em
>>> from emscale import tomography as tomo
>>> ts = tomo.as_tilt_series(em.load("HAADF.mrc"), tomo.read_rawtlt("HAADF.rawtlt").tolist(), tilt_axis="x")
>>> ts = tomo.subtract_background(ts, normalize=True)      # the detector offset and beam drift
>>> vol = tomo.reconstruct_tomogram(tomo.align_tilts(ts), method="sirt", n_iter=100)
>>> vol = tomo.reconstruct_to_store(tomo.align_tilts(ts), "vol.zarr", method="fbp")   # the volume out of core

Memory: ``as_tilt_series``, ``subtract_background`` and ``align_tilts`` read the whole series into memory and
return it there, a lazily loaded one too; the reconstruction streams a lazy series by slices and
``reconstruct_to_store`` writes the volume with bounded memory.
"""

from ..decomposition.metrics import spectral_angles  # re-exported: one metric, kept where users found it
from .alignment import Alignment, align_tilts, alignment_of, estimate_alignment
from .atoms import TracedAtoms, locate_atoms, match_atoms, trace_atoms
from .background import background_levels, subtract_background
from .figures import mip_figure, orthoslices_figure, sinogram_figure
from .geometry import ParallelGeometry
from .projector import Projector, adjoint_mismatch
from .reconstruct import METHODS, reconstruct_slices, reconstruct_to_store, reconstruct_tomogram
from .rotation import RotationFit, estimate_axis_rotation, fit_axis_rotation
from .spectral import SpectralTomogram, spectral_tomogram, spectral_tomography
from .tiltseries import (
    angles_of,
    as_tilt_series,
    axis_shift_of,
    load_tilt_series,
    read_rawtlt,
    spectral_tilt_series,
    tilt_series,
)

__all__ = [
    "METHODS",
    "Alignment",
    "ParallelGeometry",
    "RotationFit",
    "Projector",
    "SpectralTomogram",
    "TracedAtoms",
    "adjoint_mismatch",
    "align_tilts",
    "alignment_of",
    "background_levels",
    "angles_of",
    "as_tilt_series",
    "axis_shift_of",
    "estimate_alignment",
    "estimate_axis_rotation",
    "fit_axis_rotation",
    "load_tilt_series",
    "locate_atoms",
    "match_atoms",
    "mip_figure",
    "orthoslices_figure",
    "read_rawtlt",
    "reconstruct_slices",
    "reconstruct_to_store",
    "reconstruct_tomogram",
    "sinogram_figure",
    "spectral_angles",
    "spectral_tilt_series",
    "spectral_tomogram",
    "spectral_tomography",
    "subtract_background",
    "tilt_series",
    "trace_atoms",
]
