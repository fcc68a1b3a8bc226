"""The per-block solver of a reconstruction: parameters checked once, then any block of slices reconstructed.

A slice's result depends on its own sinogram and on quantities fixed here, before any block runs (geometry, step
sizes, the TV weight's data scale), never on the block it falls in: in memory, out of core and on a cluster the
bits are the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError, is_number
from ..engine import Pass, run_pass
from .geometry import ParallelGeometry
from .projector import Projector
from .reconstruction import FILTERS, SOLVERS
from .reconstruction.tv import typical_value
from .tiltseries import check_tilts

METHODS = tuple(SOLVERS)


def slice_solver(sinograms, angles, method="sirt", n_iter=None, filter="ramp", tv_weight=0.01, nonnegative=True,
                 thickness=None, axis_shift=0.0, backend="auto", executor=None):
    """Check the parameters and return ``(one, geometry)``: ``one(block, rows)`` reconstructs a block of slice-first
    sinograms ``(k, n_tilts, n_det)`` into slices ``(k, nz, n_det)`` float32, the same bits whatever the block."""
    if method not in SOLVERS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    if not (is_number(tv_weight) and np.isfinite(tv_weight) and tv_weight >= 0):  # NaN gave a NaN volume
        raise DataError(f"tv_weight must be a finite number >= 0 (0: no smoothing), got {tv_weight!r}")
    if filter not in FILTERS:
        raise ValueError(f"filter {filter!r} is not one of {FILTERS}")
    if sinograms.ndim != 3 or 0 in sinograms.shape:
        raise DataError(f"sinograms: expected a non-empty (n_slices, n_tilts, n_det) array, got {sinograms.shape}")
    geom = ParallelGeometry(angles, n_det=sinograms.shape[2], nz=thickness, axis_shift=axis_shift)
    check_tilts(geom.angles, "a reconstruction")
    if geom.n_angles != sinograms.shape[1]:
        raise DataError(f"angles: {geom.n_angles} tilt angles given for {sinograms.shape[1]} projections")
    A = Projector(geom, backend)
    stats = run_pass(sinograms, Pass(SeriesStats.of, SeriesStats.merge, name="series-stats"), executor)
    stats.warn_if_offset()
    kw: dict = {"filter": filter, "nonnegative": nonnegative, "tv_weight": tv_weight}
    if n_iter is not None:
        if isinstance(n_iter, bool) or int(n_iter) != n_iter or int(n_iter) < 1:
            raise ValueError(f"n_iter must be a positive number of iterations (None: the method's default), got "
                             f"{n_iter!r}")  # 0 returned the all-zero start volume
        kw["n_iter"] = int(n_iter)
    if method == "tv":  # one data scale for the whole series: every partition then uses the same weight
        kw["value_scale"] = typical_value(A, np.full(geom.sino_shape, stats.total / stats.size, np.float32))
    solver = SOLVERS[method]

    def one(block, rows):
        block = np.asarray(block, np.float32)
        if not np.all(np.isfinite(block)):
            raise DataError(f"sinograms: slices {rows.start}..{rows.stop - 1} contain NaN or infinite values")
        return solver(A, block, **kw)

    return one, geom


@dataclass(frozen=True)
class SeriesStats:
    """Sums over the whole series, read once before any slice is solved."""

    total: float  # sum of the values (float64, partitions added in order: the same bits on every executor)
    negative: int  # values below zero
    size: int

    @classmethod
    def of(cls, block, rows) -> SeriesStats:
        return cls(float(np.sum(block, dtype=np.float64)), int(np.count_nonzero(np.asarray(block) < 0)),
                   int(np.size(block)))

    def merge(self, other: SeriesStats) -> SeriesStats:
        return SeriesStats(self.total + other.total, self.negative + other.negative, self.size + other.size)

    def warn_if_offset(self) -> None:
        # line integrals of a density are >= 0 and ~0 in vacuum; a series mostly below zero still has the
        # detector's offset in it, and SIRT / TV (clipped at zero) make an empty volume of it, FBP garbage
        if self.negative > self.size / 2:
            warnings.warn(
                f"{self.negative / self.size:.0%} of the tilt series' values are negative (mean "
                f"{self.total / self.size:.4g}): the detector offset is still in the data, and the volume will be "
                "empty or meaningless. Remove the vacuum level first: tomo.subtract_background(series)",
                UserWarning, stacklevel=4)
