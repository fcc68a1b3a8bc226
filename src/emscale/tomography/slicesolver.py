"""The per-block solver of a reconstruction: parameters checked once, then any block of slices reconstructed.

A slice's result depends on its own sinogram and on quantities fixed here, before any block runs (geometry, step
sizes, the TV weight's data scale), never on the block it falls in: in memory, out of core and on a cluster the
bits are the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..core.errors import DataError, is_number
from ..engine import Pass, run_pass
from .geometry import ParallelGeometry
from .projector import BACKENDS, Projector, partition_slices
from .reconstruction import FILTERS, SOLVERS
from .reconstruction.sirt import N_ITER as SIRT_ITER
from .reconstruction.tv import N_ITER as TV_ITER
from .reconstruction.tv import typical_value
from .sirtiterations import AUTO as AUTO_ITER
from .sirtiterations import choose_sirt_iterations
from .tiltseries import check_tilts
from .tvweight import AUTO, TVWeightChoice, check_tv_weight, choose_tv_weight

METHODS = tuple(SOLVERS)
ITERATIONS = {"sirt": SIRT_ITER, "tv": TV_ITER}  # the iterative methods' fixed n_iter of None (SIRT's old default)


def iterations_as_run(n_iter, method: str) -> int | str | None:
    """The iterations a reconstruction by ``method`` runs: ``n_iter`` as given, ``None`` the method's fixed count
    (:data:`ITERATIONS`), ``"auto"`` SIRT's count chosen from the data (:mod:`.sirtiterations`; kept as "auto",
    which a replay chooses again, to the same count) and TV's fixed count; None for FBP, which does not iterate.
    What the history and a pinned recipe record, so that a later change of default does not change a replay."""
    if method not in ITERATIONS:
        return None if n_iter in (None, AUTO_ITER) else n_iter
    if n_iter == AUTO_ITER:
        return AUTO_ITER if method == "sirt" else ITERATIONS[method]
    return ITERATIONS[method] if n_iter is None else int(n_iter)


# the iterations a step recorded before n_iter was written as it ran (absent from a results folder's pinned recipe
# and manifest, which hold no None) ran with: fixed here, whatever ITERATIONS says later
ITERATIONS_BEFORE_RECORDED = {"sirt": 100, "tv": 200}


def n_iter_before_recorded(method: str) -> dict:
    """``{"n_iter": ...}`` for a recorded step by ``method`` that predates the recorded n_iter (``before_recorded``
    of the registry); an explicit None (a history of that time) replays with :data:`ITERATIONS`."""
    return {"n_iter": ITERATIONS_BEFORE_RECORDED.get(method)}


def slice_solver(sinograms, angles, method="sirt", n_iter=AUTO_ITER, filter="ramp", tv_weight=AUTO, nonnegative=True,
                 thickness=None, axis_shift=0.0, backend="auto", executor=None, series=None, progress=None):
    """Check the parameters and return ``(one, geometry)``: ``one(block, rows)`` reconstructs a block of slice-first
    sinograms ``(k, n_tilts, n_det)`` into slices ``(k, nz, n_det)`` float32, the same bits whatever the block.
    ``tv_weight="auto"`` and SIRT's ``n_iter="auto"`` are chosen here, once for the whole series (:mod:`.tvweight`,
    :mod:`.sirtiterations`). ``series``: the
    :func:`series_of` of these sinograms and parameters where the caller has it (no second pass over the data).
    ``progress``: for every pass made here, as :func:`emscale.engine.run_pass` takes it."""
    check_method(method)
    tv_weight = check_tv_weight(tv_weight)
    check_filter(filter)
    check_backend(backend)
    kw: dict = {"filter": filter, "nonnegative": nonnegative, "tv_weight": tv_weight}
    check_n_iter(n_iter, {"method": method})
    if n_iter not in (None, AUTO_ITER):
        kw["n_iter"] = int(n_iter)
    series = _given_or_new(series, sinograms, angles, thickness, axis_shift, backend, executor, progress)
    A = series.A
    if method == "sirt" and n_iter == AUTO_ITER:
        kw["n_iter"] = choose_sirt_iterations(sinograms, A.geometry, nonnegative, backend).n_iter
    if method == "tv":  # one data scale and weight for the whole series: every partition then uses the same
        kw["value_scale"] = series.value_scale
        if tv_weight == AUTO:
            kw["tv_weight"] = choose_tv_weight(sinograms, A.geometry, kw["value_scale"], kw.get("n_iter", TV_ITER),
                                               backend, executor, progress).weight
    solver = SOLVERS[method]

    def one(block, rows):
        block = np.asarray(block, np.float32)
        if not np.all(np.isfinite(block)):
            raise DataError(f"sinograms: slices {rows.start}..{rows.stop - 1} contain NaN or infinite values")
        return solver(A, block, **kw)

    return one, A.geometry


def check_method(method) -> None:
    """A reconstruction method (``"fbp"``, ``"sirt"``, ``"tv"``); else a :class:`DataError` naming them."""
    if not isinstance(method, str) or method not in SOLVERS:
        raise DataError(f"method {method!r} is not one of {METHODS}")


def check_filter(filter) -> None:
    """An FBP filter name (:data:`.reconstruction.FILTERS`); else a :class:`DataError` naming them."""
    if not isinstance(filter, str) or filter not in FILTERS:
        raise DataError(f"filter {filter!r} is not one of {FILTERS}")


def check_backend(backend) -> None:
    """A projector backend (:data:`.projector.BACKENDS`); else a :class:`DataError` naming them."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise DataError(f"backend {backend!r} is not one of {BACKENDS}")


def check_n_iter(n_iter, arguments: dict) -> None:
    """``n_iter``: ``"auto"`` (the default: SIRT's count from the data, TV's fixed one), None (the method's fixed
    count, :data:`ITERATIONS`) or a whole number >= 1, and the latter only for an iterative ``method``
    (``arguments["method"]``); else a :class:`DataError`."""
    if n_iter is None or (isinstance(n_iter, str) and n_iter == AUTO_ITER):
        return
    if isinstance(n_iter, bool) or not is_number(n_iter) or int(n_iter) != n_iter or int(n_iter) < 1:
        raise DataError(f"n_iter must be a positive number of iterations, 'auto' (SIRT: until the misfit settles) "
                        f"or None (the method's fixed count), got {n_iter!r}")  # 0 returned the all-zero volume
    if arguments.get("method", "sirt") == "fbp":  # given for FBP it was ignored without a word
        raise DataError(f"n_iter={n_iter!r}: filtered back-projection is one step, it takes no iterations "
                        "(n_iter is for method='sirt' or 'tv')")


def thicker_than_detector(thickness, n_det: int) -> str | None:
    """What to say of a volume ``thickness`` voxels thick over a detector of ``n_det`` pixels across the tilt axis
    (the default thickness), or None. Thicker, its top and bottom leave the detector at all but the lowest tilts and
    are reconstructed from those alone (``thickness=1000`` on 33 pixels: a 1000 x 33 x 33 volume, without a word);
    a sample thicker than the field of view is wide is rare, a thickness in nm taken for voxels is not."""
    if not is_number(thickness) or isinstance(thickness, bool) or not thickness > n_det:
        return None
    beyond = np.degrees(np.arcsin(n_det / thickness))
    return (f"thickness={thickness:g} voxels is {thickness / n_det:.3g} x the {n_det} pixels of the projections "
            f"across the tilt axis (the default thickness): its top and bottom leave the detector at tilts beyond "
            f"+-{beyond:.2g} degrees and are reconstructed from the lower tilts alone; thickness counts voxels "
            "(pixels), not the axes' units")


def slices_of(slices_per_partition, n_slices: int, geometry: ParallelGeometry, executor=None) -> int:
    """The slices a partition holds: as given (at least 1), or by :func:`partition_slices` for None."""
    if slices_per_partition is None:
        return partition_slices(n_slices, geometry, executor)
    return max(1, int(slices_per_partition))


def tv_weight_choice(sinograms, angles, tv_weight=AUTO, n_iter=AUTO_ITER, thickness=None, axis_shift=0.0,
                     backend="auto", executor=None, series=None, progress=None) -> TVWeightChoice:
    """The TV weight a reconstruction of ``sinograms`` uses and why: ``"auto"`` chosen from the data
    (:func:`.tvweight.choose_tv_weight`), a number as given. Pass the chosen ``weight`` on as ``tv_weight``, and
    ``series`` (:func:`series_of`) to both: the choice and the series' pass are then made once, and the choice
    recorded. ``progress``: for the passes (the series' sums where ``series`` is not given, the hold-out folds)."""
    tv_weight = check_tv_weight(tv_weight)
    if tv_weight != AUTO:
        return TVWeightChoice(tv_weight, "given", "tv_weight given")
    series = _given_or_new(series, sinograms, angles, thickness, axis_shift, backend, executor, progress)
    return choose_tv_weight(sinograms, series.A.geometry, series.value_scale,
                            TV_ITER if n_iter in (None, AUTO_ITER) else int(n_iter), backend, executor, progress)


@dataclass(frozen=True)
class Series:
    """What every reconstruction of a series starts from: the projector of its geometry and its sums. Made once by
    :func:`series_of` and handed to :func:`tv_weight_choice` and :func:`slice_solver`, which otherwise each read
    the whole series again."""

    A: Projector
    stats: SeriesStats
    made_for: tuple  # the sinograms' shape and the parameters it was made with: a mismatch is refused

    @cached_property
    def value_scale(self) -> float:
        """The typical voxel value of the whole series, which TV's weight is relative to."""
        return typical_value(self.A, np.full(self.A.geometry.sino_shape, self.stats.total / self.stats.size,
                                             np.float32))


def series_of(sinograms, angles, thickness=None, axis_shift=0.0, backend="auto", executor=None,
              progress=None) -> Series:
    """The projector of the series' geometry and the sums over the whole series (one pass)."""
    if sinograms.ndim != 3 or 0 in sinograms.shape:
        raise DataError(f"sinograms: expected a non-empty (n_slices, n_tilts, n_det) array, got {sinograms.shape}")
    geom = ParallelGeometry(angles, n_det=sinograms.shape[2], nz=thickness, axis_shift=axis_shift)
    check_tilts(geom.angles, "a reconstruction")
    if geom.n_angles != sinograms.shape[1]:
        raise DataError(f"angles: {geom.n_angles} tilt angles given for {sinograms.shape[1]} projections")
    stats = run_pass(sinograms, Pass(SeriesStats.of, SeriesStats.merge, name="series-stats"), executor,
                     progress=progress)
    stats.warn_if_offset()
    return Series(Projector(geom, backend), stats, _made_for(sinograms, geom, backend))


def _made_for(sinograms, geom: ParallelGeometry, backend) -> tuple:
    return tuple(sinograms.shape), tuple(geom.angles.tolist()), geom.nz, geom.axis_shift, backend


def _given_or_new(series, sinograms, angles, thickness, axis_shift, backend, executor, progress=None) -> Series:
    if series is None:
        return series_of(sinograms, angles, thickness, axis_shift, backend, executor, progress)
    # the checks series_of makes, without its pass: another series' sums would give another data scale silently
    if tuple(sinograms.shape) != series.made_for[0]:
        raise DataError(f"series: made for sinograms {series.made_for[0]}, given {tuple(sinograms.shape)}")
    asked = ParallelGeometry(angles, n_det=sinograms.shape[2], nz=thickness, axis_shift=axis_shift)
    if _made_for(sinograms, asked, backend) != series.made_for:
        raise DataError("series: made with other angles, thickness, axis shift or backend than those given")
    return series


POSITIVE_OFFSET = 0.2  # lowest value over highest above which the series is taken to sit on a vacuum level


@dataclass(frozen=True)
class SeriesStats:
    """Sums over the whole series, read once before any slice is solved."""

    total: float  # sum of the values (float64, partitions added in order: the same bits on every executor)
    negative: int  # values below zero
    size: int
    minimum: float = float("inf")
    maximum: float = float("-inf")

    @classmethod
    def of(cls, block, rows) -> SeriesStats:
        b = np.asarray(block)
        lo, hi = (float(np.min(b)), float(np.max(b))) if b.size else (float("inf"), float("-inf"))
        return cls(float(np.sum(b, dtype=np.float64)), int(np.count_nonzero(b < 0)), int(b.size), lo, hi)

    def merge(self, other: SeriesStats) -> SeriesStats:
        return SeriesStats(self.total + other.total, self.negative + other.negative, self.size + other.size,
                           min(self.minimum, other.minimum), max(self.maximum, other.maximum))

    def warn_if_offset(self) -> None:
        # line integrals of a density are >= 0 and ~0 in vacuum; a series mostly below zero still has the
        # detector's offset in it, and SIRT / TV (clipped at zero) make an empty volume of it, FBP garbage
        if self.negative > self.size / 2:
            warnings.warn(
                f"{self.negative / self.size:.0%} of the tilt series' values are negative (mean "
                f"{self.total / self.size:.4g}): the detector offset is still in the data, and the volume will be "
                "empty or meaningless. Remove the vacuum level first: tomo.subtract_background(series)",
                UserWarning, stacklevel=4)
        elif self.minimum > POSITIVE_OFFSET * self.maximum > 0:
            # no value of any projection near zero: the vacuum sits on a positive level (raw counts of a detector
            # with a dark level), which the solvers take for mass: a haze fills the volume and atom tracing finds
            # atoms in it (a series of projections x 100 + 1000: vacuum voxels at 0.88 of an atom peak, 24 % false)
            warnings.warn(
                f"no value of the tilt series is near zero (the lowest is {self.minimum:.4g}, "
                f"{self.minimum / self.maximum:.0%} of the highest): if the projections show vacuum, its level is "
                "still in the data and the volume will be hazy; remove it first: tomo.subtract_background(series)",
                UserWarning, stacklevel=4)
