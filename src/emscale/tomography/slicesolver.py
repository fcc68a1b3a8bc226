"""The per-block solver of a reconstruction: parameters checked once, then any block of slices reconstructed.

A slice's result depends on its own sinogram and on quantities fixed here, before any block runs (geometry, step
sizes, the TV weight's data scale), never on the block it falls in: in memory, out of core and on a cluster the
bits are the same.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, is_number
from ..engine import Pass, run_pass
from .geometry import ParallelGeometry
from .projector import Projector
from .reconstruction import FILTERS, SOLVERS
from .reconstruction.tv import typical_value

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
    if geom.n_angles != sinograms.shape[1]:
        raise DataError(f"angles: {geom.n_angles} tilt angles given for {sinograms.shape[1]} projections")
    A = Projector(geom, backend)
    kw: dict = {"filter": filter, "nonnegative": nonnegative, "tv_weight": tv_weight}
    if n_iter is not None:
        if isinstance(n_iter, bool) or int(n_iter) != n_iter or int(n_iter) < 1:
            raise ValueError(f"n_iter must be a positive number of iterations (None: the method's default), got "
                             f"{n_iter!r}")  # 0 returned the all-zero start volume
        kw["n_iter"] = int(n_iter)
    if method == "tv":  # one data scale for the whole series: every partition then uses the same weight
        kw["value_scale"] = _series_scale(A, sinograms, executor)
    solver = SOLVERS[method]

    def one(block, rows):
        block = np.asarray(block, np.float32)
        if not np.all(np.isfinite(block)):
            raise DataError(f"sinograms: slices {rows.start}..{rows.stop - 1} contain NaN or infinite values")
        return solver(A, block, **kw)

    return one, geom


def _series_scale(A: Projector, sinograms, executor) -> float:
    total = run_pass(sinograms, Pass(lambda b, r: float(np.sum(b, dtype=np.float64)), lambda a, b: a + b,
                                     name="series-sum"), executor)
    mean = total / float(np.prod(sinograms.shape))
    return typical_value(A, np.full(A.geometry.sino_shape, mean, np.float32))
