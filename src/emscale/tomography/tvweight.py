"""The TV weight chosen from the data: hold out some projections and keep the weight that predicts them best.

A fixed weight cannot suit every dose: the weight that gives the best volume grows from ~0.01 on clean data to ~1
at 100 counts per pixel, and 0.01 at low dose is worse than plain SIRT. So ``tv_weight="auto"`` reconstructs a few
slices from the even projections with each candidate weight and scores the misfit on the odd ones (and the other
way round); the weight with the smallest held-out misfit is used for the whole series. A short series (fewer than
``SHORT`` tilts) holds out every fourth projection in turn instead: half of 8-12 tilts is a much poorer
reconstruction than all of them, and its scores then pick a weight for another problem (on ellipsoid and fcc
phantoms, 8-12 tilts, the halves' pick lost 0.5 dB on average and up to 3.0 dB to the best candidate; the
quarters' 0.2 and 1.2). Noise cannot be predicted
from other projections, so the score rises both when the weight smooths away structure and when it lets noise
through. No randomness: the slices, folds and candidates are fixed, so a replay gives the same weight and the same
bits.

Where the series is too short to lose half its projections, or the held-out slices hold no signal, there is no
evidence to choose from and the former default (0.01) is used; the record says which path ran and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError, is_number
from ..engine import Pass, run_pass
from .geometry import ParallelGeometry
from .projector import Projector, partition_slices
from .reconstruction.tv import tv_chambolle_pock

AUTO = "auto"
# half-decade steps over the range where the best weight of the phantoms lies, clean (0.01-0.03) to 30 counts
# (3); none below the former default, which was never worse than 0.003 on a phantom
CANDIDATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
FALLBACK = 0.01  # the former fixed default: used only where the data give nothing to choose with
MIN_TILTS = 8  # each half keeps >= 4 projections
# below this many tilts, 4 folds (each reconstruction keeps 3/4 of the tilts), at 2-3x the halves' time; from it on
# halving costs the reconstruction little: at 40 tilts the halves picked the best candidate on all 6 phantoms and
# the quarters lost up to 1.8 dB (clean ellipsoids; fcc at 30 counts)
SHORT = 20
N_SLICES = 4  # slices reconstructed per candidate and fold


def check_tv_weight(tv_weight) -> float | str:
    """``"auto"`` or a finite number >= 0 (as a float); else a DataError naming what is allowed."""
    if tv_weight == AUTO and isinstance(tv_weight, str):
        return AUTO
    if not (is_number(tv_weight) and np.isfinite(tv_weight) and tv_weight >= 0):  # NaN gave a NaN volume
        raise DataError(f"tv_weight must be a finite number >= 0 (0: no smoothing) or 'auto' (chosen from the "
                        f"data by hold-out), got {tv_weight!r}")
    return float(tv_weight)


@dataclass(frozen=True)
class TVWeightChoice:
    """The weight used and how it came about; :meth:`record` is what the volume's metadata keeps."""

    weight: float
    path: str  # "given", "hold-out" or "fallback"
    why: str
    candidates: tuple[float, ...] = ()
    misfit: tuple[float, ...] = ()  # held-out squared misfit per candidate, all folds summed
    slices: tuple[int, ...] = ()

    def record(self) -> dict:
        out = {"value": self.weight, "path": self.path, "why": self.why}
        if self.candidates:
            out |= {"candidates": list(self.candidates), "held_out_misfit": list(self.misfit),
                    "slices": list(self.slices)}
        return out


def holdout_slices(n_slices: int, k: int = N_SLICES) -> list[int]:
    """``k`` slices spread over the series, away from its ends (where the object often is not)."""
    return sorted({int((i + 0.5) * n_slices / k) for i in range(min(k, n_slices))})


def too_few_tilts(n_angles: int) -> str | None:
    """Why no projections can be held out of a series of ``n_angles`` tilts (under :data:`MIN_TILTS`), else None:
    a choice made by hold-out (the TV weight, SIRT's iterations) falls back to its former default there."""
    if n_angles < MIN_TILTS:
        return f"{n_angles} tilts: too few to hold out half of them (at least {MIN_TILTS}); the former default is used"
    return None


def held_out(sinograms, geom: ParallelGeometry, n_slices: int = N_SLICES):
    """``(rows, b, folds)`` of a choice made by hold-out: the slices read (:func:`holdout_slices`), their sinograms
    ``b`` (float32, ``(len(rows), n_tilts, n_det)``) and the folds ``(test, train)`` of tilt indices: halves, or
    quarters on a series of fewer than :data:`SHORT` tilts, every k-th in angle, so that each fold spans the tilt
    range."""
    rows = holdout_slices(sinograms.shape[0], n_slices)
    b = np.stack([np.asarray(sinograms[i], np.float32) for i in rows])
    k = 2 if geom.n_angles >= SHORT else 4
    order = np.argsort(geom.angles, kind="stable")
    return rows, b, [(order[j::k], order[np.arange(len(order)) % k != j]) for j in range(k)]


def folds_said(folds) -> str:
    """What the :func:`held_out` folds hold out, for a choice's ``why``."""
    return ("half of the projections (every other tilt, both ways)" if len(folds) == 2 else
            "quarter of the projections (every fourth tilt, each in turn)")


def choose_tv_weight(sinograms, geom: ParallelGeometry, value_scale: float, n_iter: int = 200,
                     backend: str = "auto", executor=None, progress=None) -> TVWeightChoice:
    """The candidate weight whose reconstruction from the other projections best predicts each held-out fold
    (halves; quarters on a series of fewer than ``SHORT`` tilts).

    Parameters
    ----------
    sinograms : slice-first ``(n_slices, n_tilts, n_det)`` (numpy, dask or zarr); only a few slices are read.
    geom : the series' geometry (thickness and axis shift are kept for the halves).
    value_scale : the series' typical voxel value, as the full reconstruction uses it.
    n_iter : iterations, as the full reconstruction will run (the best weight depends on them).
    executor : runs the candidates' slices (:func:`.projector.partition_slices` a partition) as
        :func:`emscale.engine.run_pass` does.
    progress : for each fold's pass, as :func:`emscale.engine.run_pass` takes it (a fold of a full-size series takes
        seconds to minutes).
    """
    if said := too_few_tilts(geom.n_angles):
        return TVWeightChoice(FALLBACK, "fallback", said)
    rows, b, folds = held_out(sinograms, geom)
    weights = np.repeat(CANDIDATES, len(rows))  # each candidate's copy of the hold-out slices, stacked
    # the candidates' slices are partitioned as a reconstruction's are: each slice is solved on its own, and the
    # solver's time per slice falls with the slices a partition holds (4 slices of 32 x 32, 200 iterations: 0.05 s;
    # all six candidates' 24: 0.08 s)
    batch = partition_slices(len(weights), geom, executor)
    misfit = np.zeros(len(CANDIDATES))
    for test, train in folds:
        fit = _misfit_of(Projector(subset(geom, train), backend), Projector(subset(geom, test), backend),
                         b[:, test], weights, n_iter, value_scale)
        stacked = np.tile(b[:, train], (len(CANDIDATES), 1, 1))
        per_slice = run_pass(stacked, Pass(fit, None, name="tv-weight-holdout"), executor, rows=batch,
                             progress=progress)
        misfit += per_slice.reshape(len(CANDIDATES), -1).sum(axis=1)
    if not (np.all(np.isfinite(misfit)) and misfit.max() > 0):
        return TVWeightChoice(FALLBACK, "fallback", f"the hold-out slices {rows} hold no signal to score the "
                                                    "candidates with; the former default is used", slices=tuple(rows))
    best = int(np.argmin(misfit))
    edge = " (the edge of the candidates: the best may lie beyond)" if best in (0, len(CANDIDATES) - 1) else ""
    why = f"smallest misfit on the held-out {folds_said(folds)}, slices {rows}, {n_iter} iterations{edge}"
    return TVWeightChoice(CANDIDATES[best], "hold-out", why, CANDIDATES, tuple(float(m) for m in misfit),
                          tuple(rows))


def _misfit_of(a_train: Projector, a_test: Projector, b_test: np.ndarray, weights: np.ndarray, n_iter: int,
               value_scale: float):
    """The pass's map: reconstruct a block of the stacked training sinograms with each slice's weight, and return
    each slice's squared misfit on the held-out projections (float64)."""
    def fit(block, rows):
        x = tv_chambolle_pock(a_train, np.asarray(block, np.float32), n_iter=n_iter, tv_weight=weights[rows],
                              value_scale=value_scale)
        r = (a_test.forward(x) - b_test[np.arange(rows.start, rows.stop) % len(b_test)]).reshape(len(x), -1)
        return np.einsum("ij,ij->i", r, r, dtype=np.float64)

    return fit


def subset(geom: ParallelGeometry, idx: np.ndarray) -> ParallelGeometry:
    """The geometry of the projections ``idx`` of ``geom`` (a fold), thickness and axis shift kept."""
    return ParallelGeometry(geom.angles[idx], n_det=geom.n_det, nz=geom.nz, nw=geom.nw, axis_shift=geom.axis_shift)
