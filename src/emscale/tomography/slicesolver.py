"""The per-block solver of a reconstruction: parameters checked once, then any block of slices reconstructed.

A slice's result depends on its own sinogram and on quantities fixed here, before any block runs (geometry, step
sizes, the TV weight's data scale), never on the block it falls in: in memory, out of core and on a cluster the
bits are the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError
from ..engine import Pass, run_pass
from .geometry import ParallelGeometry
from .projector import Projector
from .reconstruction import FILTERS, SOLVERS
from .reconstruction.tv import N_ITER as TV_ITER
from .reconstruction.tv import typical_value
from .tiltseries import check_tilts
from .tvweight import AUTO, TVWeightChoice, check_tv_weight, choose_tv_weight

METHODS = tuple(SOLVERS)


def slice_solver(sinograms, angles, method="sirt", n_iter=None, filter="ramp", tv_weight=AUTO, nonnegative=True,
                 thickness=None, axis_shift=0.0, backend="auto", executor=None):
    """Check the parameters and return ``(one, geometry)``: ``one(block, rows)`` reconstructs a block of slice-first
    sinograms ``(k, n_tilts, n_det)`` into slices ``(k, nz, n_det)`` float32, the same bits whatever the block.
    ``tv_weight="auto"`` is chosen here, once for the whole series (:mod:`.tvweight`)."""
    if method not in SOLVERS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    tv_weight = check_tv_weight(tv_weight)
    if filter not in FILTERS:
        raise ValueError(f"filter {filter!r} is not one of {FILTERS}")
    kw: dict = {"filter": filter, "nonnegative": nonnegative, "tv_weight": tv_weight}
    if n_iter is not None:
        if isinstance(n_iter, bool) or int(n_iter) != n_iter or int(n_iter) < 1:
            raise ValueError(f"n_iter must be a positive number of iterations (None: the method's default), got "
                             f"{n_iter!r}")  # 0 returned the all-zero start volume
        kw["n_iter"] = int(n_iter)
    A, stats = _series(sinograms, angles, thickness, axis_shift, backend, executor)
    if method == "tv":  # one data scale and weight for the whole series: every partition then uses the same
        kw["value_scale"] = _value_scale(A, stats)
        if tv_weight == AUTO:
            kw["tv_weight"] = choose_tv_weight(sinograms, A.geometry, kw["value_scale"], kw.get("n_iter", TV_ITER),
                                               backend, executor).weight
    solver = SOLVERS[method]

    def one(block, rows):
        block = np.asarray(block, np.float32)
        if not np.all(np.isfinite(block)):
            raise DataError(f"sinograms: slices {rows.start}..{rows.stop - 1} contain NaN or infinite values")
        return solver(A, block, **kw)

    return one, A.geometry


def tv_weight_choice(sinograms, angles, tv_weight=AUTO, n_iter=None, thickness=None, axis_shift=0.0,
                     backend="auto", executor=None) -> TVWeightChoice:
    """The TV weight a reconstruction of ``sinograms`` uses and why: ``"auto"`` chosen from the data
    (:func:`.tvweight.choose_tv_weight`), a number as given. Pass the chosen ``weight`` on as ``tv_weight``: the
    choice is then made once, and recorded."""
    tv_weight = check_tv_weight(tv_weight)
    if tv_weight != AUTO:
        return TVWeightChoice(tv_weight, "given", "tv_weight given")
    A, stats = _series(sinograms, angles, thickness, axis_shift, backend, executor)
    return choose_tv_weight(sinograms, A.geometry, _value_scale(A, stats), TV_ITER if n_iter is None else int(n_iter),
                            backend, executor)


def _series(sinograms, angles, thickness, axis_shift, backend, executor) -> tuple[Projector, SeriesStats]:
    """The projector of the series' geometry and the sums over the whole series (one pass)."""
    if sinograms.ndim != 3 or 0 in sinograms.shape:
        raise DataError(f"sinograms: expected a non-empty (n_slices, n_tilts, n_det) array, got {sinograms.shape}")
    geom = ParallelGeometry(angles, n_det=sinograms.shape[2], nz=thickness, axis_shift=axis_shift)
    check_tilts(geom.angles, "a reconstruction")
    if geom.n_angles != sinograms.shape[1]:
        raise DataError(f"angles: {geom.n_angles} tilt angles given for {sinograms.shape[1]} projections")
    stats = run_pass(sinograms, Pass(SeriesStats.of, SeriesStats.merge, name="series-stats"), executor)
    stats.warn_if_offset()
    return Projector(geom, backend), stats


def _value_scale(A: Projector, stats: SeriesStats) -> float:
    return typical_value(A, np.full(A.geometry.sino_shape, stats.total / stats.size, np.float32))


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
