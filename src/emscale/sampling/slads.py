"""SLADS: supervised learning approach for dynamic sampling of a scanned image.

Loop (Godaliyadda et al. 2018): measure a seeded random ``init_fraction`` of the scan; then repeatedly
reconstruct the image from the measurements (weighted nearest neighbours), predict for every unmeasured pixel
the expected reduction in distortion ``ERD(s)`` that measuring it would bring (a regression of its local
features, :mod:`.slads_model`), and measure the ``batch_size`` pixels of largest ERD. Stop when ``budget``
positions are measured or when the estimated remaining distortion ``D = sum_s max(ERD(s), 0) / n_pixels`` falls
below ``stop_erd`` (absolute, value-scale units) or below ``stop_ratio * D_0``, with ``D_0`` its value after the
random start. The relative rule needs no knowledge of the model's units or of its bias (the small ERD every
regression predicts in flat regions, which puts a floor under ``D``): ``D_0`` is the distortion the model sees in
this image when nothing but a sparse random sample is known. ``D`` is the model's estimate, not the error: each ERD
sums the error over a neighbourhood about ``d1`` wide, so neighbourhoods overlap and ``D`` falls with the area of
the gaps, faster than the error. Measured (a review's runs): at ``stop_ratio = 0.02`` the true mean error had fallen
to 0.19-0.34 of its value after the random start (a real HAADF projection at 4.8 % measured, particles at 18 %, a
lattice at 28 %); at 0.1, ``D`` fell 10 x and the error 1.4-2.8 x. Choose ``stop_ratio`` for where it stops on
images like yours, not as a share of the error left.

Batch selection: measuring ``s`` reduces the ERD of its surroundings (within about its distance ``d1(s)`` to the
nearest measurement), so the batch is chosen greedily in decreasing ERD, skipping pixels within ``d1(s)``
(Chebyshev distance) of a pixel already chosen (instead of the paper's pseudo-measurement updates: the same
spreading, no re-prediction).

Only the pixels whose neighbour lists change are re-featurised after each batch (:mod:`.slads_features`), so a
decision costs time in proportion to the batch, not the scan. The one non-local feature, the disagreement with
the periodic estimate of a lattice (:mod:`.slads_periodic`), moves everywhere when that estimate is refreshed (at
most every ``PERIODIC_STEPS`` batches); on a large scan the re-prediction that follows is spread over the next
few steps, largest stale ERD first (:mod:`.slads_erd`), so that no decision waits on all of it.

References
----------
G. M. D. Godaliyadda, D. H. Ye, M. D. Uchic, M. A. Groeber, G. T. Buzzard, C. A. Bouman, "A framework for
dynamic image sampling based on supervised learning", IEEE Trans. Comput. Imaging 4 (2018) 1-16.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..core import codec
from ..core.axes import Axis
from ..core.errors import DataError, check_count, check_positive, check_seed, is_number
from ..core.history import file_beside_input, is_pinned_file
from ..core.registry import operation
from ..core.result import Result, load_npz, save_npz
from ..core.signal import Signal
from .microscope import Microscope, VirtualMicroscope, as_counts, measure
from .patterns import check_fraction
from .slads_erd import PERIODIC_GROWTH, PERIODIC_STEPS, ERDMap  # noqa: F401 - the constants' old home
from .slads_features import NeighbourState, nn_reconstruct
from .slads_model import ERDModel

__all__ = ["SladsResult", "dynamic_sampling", "slads_scan", "select_batch", "psnr", "nn_reconstruct",
           "plot_measurement_order", "plot_convergence", "plot_reconstruction"]


class _SavedResult(Result):
    """Save/load of a run result: its arrays as npz members, its history as JSON (no pickles; the
    decomposition results' archive format)."""

    KIND = ""
    TIMINGS = ("decision_s", "decision_cpu_s")  # measured, not computed: they differ on every run
    NOT_ARRAYS = ("history", "info", "axes")  # kept as JSON in the file; not numbers a digest compares

    def arrays(self, timings: bool = False) -> dict[str, np.ndarray]:
        """The result's arrays by field name: the deterministic ones (what a digest compares), and the
        ``TIMINGS`` too if asked (what a file keeps)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                if f.name not in self.NOT_ARRAYS and (timings or f.name not in self.TIMINGS)}

    def __repr__(self) -> str:
        parts = []
        for name, a in self.arrays().items():
            parts.append(f"{name}={a.item():.4g}" if a.ndim == 0 and a.dtype.kind in "fiu" else
                         f"{name} {a.shape}")
        return f"<{type(self).__name__}: {', '.join(parts)}; {len(self.history)} history steps>"

    def save(self, path, overwrite: bool = False) -> Path:
        """Write to a ``.npz`` file atomically."""
        return save_npz(path, self.KIND, {"history": self.history, "info": self.info, "axes": self.axes},
                        self.arrays(timings=True), overwrite)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save` (``FileFormatError`` for another kind of file)."""
        meta, arrays = load_npz(path, cls.KIND)
        info = meta.get("info", {})  # none in a file saved before the run said why it stopped
        axes = meta.get("axes", [])  # none in a file saved before runs kept the scan's calibration
        return cls(**arrays, history=list(meta.get("history", [])), info=dict(info) if isinstance(info, dict) else {},
                   axes=list(axes) if isinstance(axes, list) else [])

    def scan_axes(self) -> list[Axis]:
        """The scan's two calibrated axes (rows, columns), as the microscope gave them; pixel axes ``y``, ``x``
        for a run saved before runs kept them."""
        shape = np.shape(self.order)
        if len(self.axes) >= 2:
            return [Axis.from_dict(d) for d in self.axes[:2]]
        return [Axis(name=n, size=int(k)) for n, k in zip(("y", "x"), shape, strict=True)]

    def measurement_axes(self) -> list[Axis]:
        """The calibrated axes of one measurement (empty for an image's single value)."""
        return [Axis.from_dict(d) for d in self.axes[2:]]

    def run_params(self) -> dict:
        """The parameters the run's history recorded ({} for a run not made by a recorded operation)."""
        return codec.decode(self.history[-1].get("params", {})) if self.history else {}

    def allowed_positions(self) -> int | None:
        """The positions the run was allowed, from its recorded ``budget`` or ``fraction`` (None if unknown)."""
        p = self.run_params()
        n = int(self.order.size)
        try:
            return _budget(n, p.get("budget"), None if p.get("budget") is not None else p.get("fraction"))
        except (ValueError, TypeError):
            return None


@dataclass(repr=False)  # _SavedResult's: a line, not every array in full
class SladsResult(_SavedResult):
    """Outcome of a dynamic-sampling run.

    Attributes
    ----------
    reconstruction : (rows, cols) weighted nearest-neighbour image from the measurements.
    mask : (rows, cols) bool, measured pixels.
    order : (rows, cols) int, the step at which each pixel was measured (0: the random start), -1 if never.
    positions : (n, 2) int, (row, col) of every measurement in order.
    fractions : (n_steps,) fraction of the scan measured after each step.
    erd_estimate : (n_steps,) estimated remaining distortion per pixel after each step.
    psnr : (n_steps,) PSNR (dB) against ``reference`` after each step, empty without one.
    decision_s : (n_steps - 1,) seconds spent choosing each batch (update + features + ERD + selection).
    decision_cpu_s : (n_steps - 1,) the same in CPU seconds of this process (not inflated by machine load).
    history : provenance entries.
    info : ``{"stopped_by": why the scan stopped, in words}`` (:meth:`stopped_by`).
    axes : the scan's calibrated axes (dicts), as the microscope gave them.

    ``image`` is the reconstruction as an image Signal on those axes, the measured positions in its
    ``metadata["Sampling"]`` (a recorded step: :mod:`.run_signals`).
    """

    reconstruction: np.ndarray
    mask: np.ndarray
    order: np.ndarray
    positions: np.ndarray
    fractions: np.ndarray
    erd_estimate: np.ndarray
    psnr: np.ndarray
    decision_s: np.ndarray
    decision_cpu_s: np.ndarray
    history: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    axes: list = field(default_factory=list)  # the scan's axes as dicts (Axis.to_dict), then a measurement's

    KIND = "emscale-slads-run"

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())

    def stopped_by(self) -> str:
        """Why the scan stopped, in words: the rule of :func:`slads_scan` that ended it, as the run wrote it in
        ``info``; for a file saved before runs did, read from the numbers and the parameters the history recorded."""
        if self.info.get("stopped_by"):
            return str(self.info["stopped_by"])
        p = self.run_params()
        return scan_stopped_by(int(self.mask.sum()), self.allowed_positions(), self.erd_estimate, p.get("stop_erd"),
                               p.get("stop_ratio")) or "not known (no recorded parameters)"


def scan_stopped_by(m: int, budget: int | None, erd_estimate, stop_erd, stop_ratio) -> str | None:
    """The rule of :func:`slads_scan` that ends a scan of ``m`` positions measured and distortion estimates
    ``erd_estimate`` (one per step), in words, in the order the scan checks them; None if none does."""
    d, d0 = float(erd_estimate[-1]), float(erd_estimate[0])
    if budget is not None and m >= budget:
        start = " by the random start (no position chosen by the model)" if len(erd_estimate) == 1 else ""
        return f"budget spent{start}: {m} of {budget} positions"
    if stop_erd is not None and d < stop_erd:
        return f"estimated remaining distortion {d:.4g} below stop_erd = {stop_erd:g}"
    if stop_ratio is not None and d < stop_ratio * d0:
        return (f"estimated remaining distortion {d:.4g} below stop_ratio = {stop_ratio:g} of its value after the "
                f"random start ({d0:.4g})")
    return None


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB), peak = the reference's value range, over all pixels; +inf where the
    estimate equals the reference.

    A reference without contrast (one value: a vacuum, a blank frame) has a peak of 0 and no PSNR: +inf where the
    estimate equals it to rounding (:data:`FLAT_ROUNDING` of its magnitude), else NaN. No warning here: a run's
    curve calls this once per batch and says it once (:func:`flat_reference_note`)."""
    ref, est = np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:  # broadcasting would score another image, or fail in numpy's words
        raise DataError(f"psnr: the estimate's shape {est.shape} differs from the reference's {ref.shape}")
    err = ref - est
    mse = float(np.mean(err * err))
    peak = float(ref.max() - ref.min())
    if mse == 0:
        return float("inf")
    if peak == 0:
        # log10(0 / mse) was -inf, the worst score, for a reconstruction exact to 2e-16 (one warning per batch)
        exact = float(np.abs(err).max()) <= FLAT_ROUNDING * float(np.abs(ref).max())
        return float("inf") if exact else float("nan")
    return 10.0 * np.log10(peak * peak / mse)


# an estimate this close (relative to the reference's magnitude) to a flat reference equals it to rounding: SLADS's
# weighted nearest-neighbour average of equal values is off by at most a few units in the last place (2.2e-16 of 0.7)
FLAT_ROUNDING = 16 * np.finfo(np.float64).eps


def flat_reference_note(reference: np.ndarray | None) -> str | None:
    """What a PSNR curve against ``reference`` means where the reference has no contrast; None where it has."""
    if reference is None or np.size(reference) == 0 or np.ptp(reference) > 0:
        return None
    return (f"the reference has no contrast (every value {float(np.ravel(reference)[0]):g}): PSNR is undefined; "
            "the curve holds +inf where the reconstruction equals it to rounding, NaN elsewhere")


def select_batch(erd: np.ndarray, measured: np.ndarray, d1: np.ndarray, shape, batch_size: int) -> np.ndarray:
    """Flat indices of the next ``batch_size`` positions: largest ERD first, spread by ``d1`` exclusion.

    Parameters
    ----------
    erd : (n_pixels,) predicted ERD (ignored at measured pixels).
    measured : (n_pixels,) bool.
    d1 : (n_pixels,) distance of each pixel to its nearest measurement (pixels).
    shape : (rows, cols).
    batch_size : positions wanted; fewer only if fewer pixels are unmeasured.
    """
    u = np.flatnonzero(~measured)
    b = min(int(batch_size), u.size)
    if b == 0:
        return u
    m = min(8 * b, u.size)
    top = u[np.argpartition(-erd[u], m - 1)[:m]] if m < u.size else u
    top = top[np.lexsort((top, -erd[top]))]  # decreasing ERD, ties by index (deterministic)
    ny, nx = shape
    blocked = np.zeros(shape, dtype=bool)
    chosen = []
    radius = np.floor(d1[top]).astype(np.int64)
    for p, r in zip(top.tolist(), radius.tolist(), strict=True):
        y, x = divmod(p, nx)
        if blocked[y, x]:
            continue
        chosen.append(p)
        if len(chosen) == b:
            break
        blocked[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1] = True
    if len(chosen) < b:  # the exclusion left too few: fill with the best remaining
        rest = np.setdiff1d(top, chosen, assume_unique=True)
        rest = rest[np.lexsort((rest, -erd[rest]))][: b - len(chosen)]
        chosen.extend(rest.tolist())
    return np.asarray(chosen, dtype=np.int64)


def _budget(n_pixels: int, budget, fraction) -> int:
    """The positions a run may measure: ``budget`` (a whole number) or ``fraction`` of the scan (in (0, 1]; at
    least one position, as the scan patterns take). A bool, a text or a fractional budget is an error, not a count
    (``fraction=True`` measured the whole scan, ``budget=2.5`` two positions)."""
    if budget is None and fraction is None:
        raise DataError("give budget (positions) or fraction (of the scan)")
    if budget is not None and fraction is not None:  # slads_scan dropped the fraction without a word (a review)
        raise DataError(f"give budget (positions) or fraction (of the scan), not both: budget={budget!r}, "
                         f"fraction={fraction!r}")
    if budget is None:  # a fraction under half a position was refused as "budget must be at least 1, got 0"
        budget = max(1, int(round(check_fraction(fraction) * n_pixels)))
    else:
        check_budget(budget)
    budget = int(budget)
    if budget > n_pixels:
        raise DataError(f"budget {budget} exceeds the scan size ({n_pixels} positions)")
    if budget < 1:
        raise DataError(f"budget must be at least 1, got {budget}")
    return budget


def check_budget(budget) -> None:
    """A scan's budget: None (a fraction gives it) or a whole number of positions >= 1."""
    if budget is not None:
        check_count("budget", budget, "positions to measure")


def check_batch_size(batch_size) -> None:
    """Positions measured per step: None (the default) or a whole number >= 1."""
    if batch_size is not None:
        check_count("batch_size", batch_size, "positions per step")


def batch_positions(batch_size, default: int) -> int:
    """Positions per step: ``batch_size`` (a whole number >= 1), or ``default`` for None."""
    check_batch_size(batch_size)
    return default if batch_size is None else int(batch_size)


def check_init_fraction(init_fraction) -> float:
    """The share of the scan measured at random first, a number in (0, 1] (:func:`.patterns.check_fraction`)."""
    return check_fraction(init_fraction, "init_fraction", "the share of the scan measured at random first")


class Spending:
    """A run's dose and time limits (``max_dose`` electrons, ``max_time`` seconds; None: none), kept from the
    microscope's own counters (``dose_spent``, ``time_spent``) as they stand when the run starts. A random start
    that alone costs more than a limit is refused before it is measured (:meth:`check_start`); after it each batch
    is cut to the positions the rest of every limit pays for at the cost per position so far, and the run stops
    when that is none."""

    # limit, the counter it reads, the microscope's cost of one position (optional: a user's class may not say)
    KINDS = (("max_dose", "dose_spent", "dose", "electrons"), ("max_time", "time_spent", "dwell_time", "s"))

    def __init__(self, microscope: Microscope, max_dose, max_time):
        self.scope, self.limits, self.cost_attr = microscope, [], {}
        for (name, attr, cost, unit), limit in zip(self.KINDS, (max_dose, max_time), strict=True):
            check_positive(name, limit, f"{unit} this run may spend", optional=True)
            if limit is None:
                continue
            self.limits.append((name, float(limit), attr, unit, float(getattr(microscope, attr))))
            self.cost_attr[attr] = cost

    def check_start(self, n0: int, n_pixels: int, init_fraction: float, minimum: int) -> None:
        """Refuse a random start of ``n0`` positions (of at least ``minimum``, of an ``n_pixels`` scan) that alone
        costs more than a limit, before anything is measured, where the microscope says what one position costs
        (``dose``, ``dwell_time``). It was measured whatever it cost: 690 electrons at max_dose = 100, with a word in
        ``stopped_by`` only ("dose budget spent: 690 of 100 electrons")."""
        for name, limit, attr, unit, _ in self.limits:
            each = self._cost_per_position(attr)
            if each is None or n0 * each <= limit * (1 + 1e-9):  # rounding: 20 x 0.01 s is not over 0.2 s
                continue
            cost = n0 * each
            fits = int(np.floor(limit / each * (1 + 1e-9)))
            way = (f"an init_fraction of at most {fits / n_pixels:.3g} ({fits} positions) or a {name} of at least "
                   f"{cost:g}" if fits >= minimum else
                   f"a {name} of at least {cost:g} (the start takes at least {minimum} positions)")
            raise DataError(f"{name} = {limit:g} {unit}: the seeded random start ({n0} positions, init_fraction = "
                            f"{init_fraction:g} of the {n_pixels}-position scan, at {each:g} {unit} each) alone "
                            f"costs {cost:g} {unit}; give {way}")

    def check_started(self, n0: int) -> None:
        """Say a random start of ``n0`` positions that spent more than a limit, where the microscope did not say what
        one position costs (:meth:`check_start` could not price it)."""
        for name, limit, attr, unit, start in self.limits:
            spent = float(getattr(self.scope, attr)) - start
            if self._cost_per_position(attr) is None and spent > limit:
                warnings.warn(f"{name} = {limit:g} {unit}: the seeded random start ({n0} positions) spent {spent:g} "
                              f"{unit}; {type(self.scope).__name__} does not say what one position costs (its "
                              f"{self.cost_attr[attr]}), so the start could not be priced before it was measured; "
                              f"give a smaller init_fraction or a larger {name}", UserWarning, stacklevel=3)

    def _cost_per_position(self, attr: str) -> float | None:
        """The microscope's ``dose`` or ``dwell_time`` (for the counter ``attr``): None where it does not say."""
        each = getattr(self.scope, self.cost_attr[attr], None)
        return float(each) if is_number(each) else None

    def _room(self, limit: float, attr: str, start: float, n_done: int) -> float:
        spent = float(getattr(self.scope, attr)) - start
        left = limit - spent
        return np.floor(left * n_done / spent) if spent > 0 and n_done else (np.inf if left > 0 else 0)

    def affordable(self, n_done: int) -> float:
        """Positions the rest of every limit pays for (inf without limits)."""
        return min((self._room(limit, attr, start, n_done) for _, limit, attr, _, start in self.limits),
                   default=np.inf)

    def spent(self, n_done: int) -> str:
        """Why the run stopped, in words: the limit(s) that pay for no further position, not one that still
        had room."""
        words = [f"{name[4:]} budget spent: {float(getattr(self.scope, attr)) - start:.6g} of {limit:g} {unit}"
                 for name, limit, attr, unit, start in self.limits
                 if self._room(limit, attr, start, n_done) < 1]
        return "; ".join(words)


def warn_all_random(n0: int, budget: int, asked: str, init_fraction, chosen_by: str) -> None:
    """A random start of ``n0`` positions that takes the whole ``budget`` leaves no step to the policy: the run is a
    random scan that reports itself as an adaptive one. ``asked``: the budget as the caller gave it, for the
    message."""
    if n0 >= budget:
        warnings.warn(f"init_fraction = {init_fraction:g} and {asked}: the seeded random start ({n0} positions) takes "
                      f"the whole budget of {budget}, so no position is chosen {chosen_by}; give an init_fraction "
                      "below the fraction", UserWarning, stacklevel=3)


def check_reference(reference, shape: tuple[int, int], what: str) -> np.ndarray | None:
    """A run's ``reference`` (None, or finite real numbers of the scan's ``shape``), as an array; else a
    DataError, before anything is measured (a 1-D row broadcast into a PSNR of -59 dB, a smaller image failed
    after hundreds of positions). ``what``: what the reference is, for the message."""
    if reference is None:
        return None
    ref = np.asarray(reference)
    if ref.dtype.kind not in "biuf" or ref.shape != tuple(shape):
        kind = "" if ref.dtype.kind in "biuf" else f" of {ref.dtype} values"
        raise DataError(f"reference has shape {ref.shape}{kind}; real numbers of the scan's shape {tuple(shape)} "
                        f"expected ({what})")
    if not np.all(np.isfinite(ref)):
        raise DataError(f"reference holds {int(np.size(ref) - np.count_nonzero(np.isfinite(ref)))} NaN or infinite "
                        f"value(s) ({what})")
    return ref


def _start(n_pixels: int, budget: int, init_fraction: float, k: int, seed: int) -> np.ndarray:
    """The seeded random first measurements (at least k, at most the budget)."""
    n0 = min(max(k, int(round(check_init_fraction(init_fraction) * n_pixels))), budget)
    if n0 < k:
        raise ValueError(f"{budget} position(s) to measure (the budget, or the fraction of the {n_pixels}-position "
                         f"scan) is below the {k} measurements SLADS needs to start")
    return np.sort(np.random.default_rng(seed).choice(n_pixels, n0, replace=False))


LOW_COUNTS = 1.0  # mean counts per position below which SLADS's features mostly see noise


def _warn_low_counts(counts) -> None:
    """SLADS reads structure from the measured values; at a fraction of a count per position it reads noise.
    Measured on a real HAADF projection, 10 % budget: at 0.35 counts per position (5 at the brightest pixel) 20.5 dB
    against 21.8 for random sampling (models trained on clean and on equally noisy images alike); at 3.5 counts
    (50 at the brightest) 30.2 against 29.5."""
    if counts is not None and counts.size and float(counts.mean()) < LOW_COUNTS:
        # With the shot-noise reconstruction (denoise) SLADS led random sampling by 1.6-2.1 dB at 10 % of two real
        # HAADF projections at 0.5 counts per position, but gained nothing more from 10 to 20 %, where space
        # filling (explore=1.0) did as well or better
        warnings.warn(f"SLADS at {float(counts.mean()):.3g} counts per position (mean of the first measurements): "
                      f"its features see mostly noise at this dose; below ~{LOW_COUNTS:g} count per position "
                      "measuring more than ~10 % gained little over space filling (explore=1.0)", UserWarning,
                      stacklevel=3)


def slads_scan(microscope: Microscope, model: ERDModel, budget: int | None = None, fraction: float | None = None,
               batch_size: int | None = None, init_fraction: float = 0.02, stop_erd: float | None = None,
               stop_ratio: float | None = None, explore: float = 0.0, seed: int = 0,
               reference: np.ndarray | None = None, max_dose: float | None = None,
               max_time: float | None = None, denoise: bool = True) -> SladsResult:
    """Scan an image by dynamic sampling: measure where the model predicts the largest error reduction.

    Parameters
    ----------
    microscope : a :class:`~emscale.sampling.microscope.Microscope` with a scalar detector (an image).
    model : trained ERD model (:func:`~emscale.sampling.slads_model.train_erd_model`, ``ERDModel.load``).
    budget, fraction : stop after this many positions (or this fraction of the scan); one of them.
    batch_size : positions per step; ``None``: 0.1 % of the scan (at least 1).
    init_fraction : seeded random start (at least ``model.k`` positions).
    stop_erd : also stop once the estimated remaining distortion per pixel is below this (value-scale units).
    stop_ratio : also stop once the estimated remaining distortion is below this fraction of its value after the
        random start (unitless, in (0, 1); e.g. 0.02; independent of the model's scale and bias). The estimate
        falls faster than the error (module docstring): 0.02 left 0.19-0.34 of the error after the start.
    explore : fraction of each batch taken farthest from any measurement instead of by ERD (space filling, a
        guard against a model that under-predicts some kind of region; 0 by default: on the benchmark images
        0.1 cost 0.2 dB on lattices and gained 0.2 dB on HAADF).
    seed : seeds the start.
    reference : the true image, to record the PSNR curve (benchmarks; a real scan has none).
    max_dose, max_time : also stop before the run spends more than this dose (electrons) or beam time (s), by the
        microscope's ``dose_spent`` / ``time_spent`` counters from the run's start (:class:`Spending`); a random
        start that alone costs more is a DataError, before anything is measured.
    denoise : when the microscope declares its values detector counts (its ``count_scale``; a simulated dose does),
        the reconstruction (and the PSNR curve) shrinks each measured value towards its measured neighbours by its
        shot noise (:func:`.slads_features.denoise_counts`); False keeps measured values as they are. SLADS
        measures densely where the image is bright, where Poisson noise is largest: kept as measured, those values
        cost 1-4 dB against random sampling at 0.5-10 counts per position (a real HAADF projection, 10-20 %).
        The positions chosen do not depend on it.

    Returns
    -------
    SladsResult

    Example
    -------
    >>> scope = VirtualMicroscope(image)
    >>> res = slads_scan(scope, ERDModel.load("adf_erd.json"), fraction=0.2)
    >>> res.reconstruction.shape == image.shape
    True
    """
    if getattr(microscope, "signal_axes", ()):
        raise DataError("slads_scan samples scalar images; this microscope returns spectra "
                        "(use emscale.sampling.autonomous for spectrum images)")
    model = _model(model, any_path=True)
    if not (is_number(explore) and 0 <= explore <= 1):
        raise DataError(f"explore must be a fraction of each batch in [0, 1] (0: all by ERD), got {explore!r}")
    check_seed(seed)
    # the estimate is a sum of ERDs clipped at 0: a stop_erd of 0 or less never stopped a scan
    check_positive("stop_erd", stop_erd, "estimated remaining distortion per pixel, in value-scale units",
                   optional=True)
    shape = tuple(int(v) for v in microscope.scan_shape)
    n = shape[0] * shape[1]
    asked = f"fraction = {fraction}" if budget is None else f"budget = {budget}"
    budget = _budget(n, budget, fraction)
    batch = batch_positions(batch_size, max(1, n // 1000))
    if stop_ratio is not None and not (is_number(stop_ratio) and 0 < stop_ratio < 1):
        raise ValueError(f"stop_ratio must be in (0, 1) (a fraction of the initial distortion estimate), "
                         f"got {stop_ratio!r}")
    reference = check_reference(reference, shape, "the true image, for the PSNR curve")
    spending = Spending(microscope, max_dose, max_time)
    flat = _start(n, budget, init_fraction, model.k, seed)
    spending.check_start(flat.size, n, init_fraction, model.k)
    warn_all_random(flat.size, budget, asked, init_fraction, "by the model")
    vals = measure(microscope, flat)
    spending.check_started(flat.size)
    count_scale = getattr(microscope, "count_scale", None)
    count_offset = float(getattr(microscope, "count_offset", 0.0) or 0.0)  # a dark level: values are counts above it
    counts = as_counts(vals, count_scale, count_offset)
    _warn_low_counts(counts)
    # the shrinkage only where the microscope declares counts: an ADF detector's ADC units are whole numbers too
    # (the HAADF tilt series), and shrinking them as counts of 1 cost 2.3 dB (projection 5, 20 %)
    counts_per_unit = float(count_scale) if denoise and counts is not None and count_scale is not None else None
    st = NeighbourState(shape, flat, vals, k=model.k)
    order = np.full(n, -1, dtype=np.int64)
    order[flat] = 0
    seq = [flat]
    curve = _Curve(reference, counts_per_unit, count_offset)
    recon_note = ("measured values as they are: " + ("denoise=False" if not denoise else "the microscope declares no "
                  "detector counts (count_scale)") if counts_per_unit is None else
                  f"measured values shrunk by their shot noise ({counts_per_unit:g} counts per unit; denoise=True)")

    def result(stopped_by: str) -> SladsResult:
        pos = np.concatenate(seq)
        return SladsResult(
            reconstruction=st.reconstruction(counts_per_unit, count_offset), mask=st.measured.reshape(shape).copy(),
            order=order.reshape(shape),
            positions=np.stack(np.divmod(pos, shape[1]), axis=1), fractions=np.asarray(curve.frac),
            erd_estimate=np.asarray(curve.erd), psnr=np.asarray(curve.psnr), decision_s=np.asarray(curve.decision),
            decision_cpu_s=np.asarray(curve.cpu), info={"stopped_by": stopped_by, "reconstruction": recon_note}
            | ({"psnr": curve.note} if curve.note else {})
            | ({"dark_level": microscope.offset_note} if getattr(microscope, "offset_note", None) else {}),
            axes=run_axes(microscope))

    try:
        erd = ERDMap(model, st)
        curve.add(st, erd.erd)
        step, why = 0, None
        while st.measured.sum() < budget:
            room = spending.affordable(int(st.measured.sum()))
            if room < 1:
                why = spending.spent(int(st.measured.sum()))
                break
            t0, c0 = time.perf_counter(), time.process_time()
            nxt = _next_batch(erd.erd, st, shape, int(min(batch, budget - int(st.measured.sum()), room)), explore)
            curve.tick(t0, c0)
            step += 1
            vals = measure(microscope, nxt)
            t0, c0 = time.perf_counter(), time.process_time()
            added = st.add(nxt, vals)
            order[nxt] = step
            seq.append(nxt)
            erd.update(nxt, added)
            curve.tick(t0, c0, add=True)
            curve.add(st, erd.erd)
            if stop_erd is not None and curve.erd[-1] < stop_erd:
                break
            if stop_ratio is not None and curve.erd[-1] < stop_ratio * curve.erd[0]:
                break
    except BaseException as err:  # Ctrl-C or the instrument's error: what was measured is the user's dose
        keep_partial(err, result, int(st.measured.sum()))
        raise
    return result(why or scan_stopped_by(int(st.measured.sum()), budget, curve.erd, stop_erd, stop_ratio))


def keep_partial(err: BaseException, result, n_measured: int) -> None:
    """Attach the run's result so far to ``err`` (``err.partial_result``, built by ``result(stopped_by)``), said in
    a note on the error: a microscope that fails or a Ctrl-C mid-run lost every position measured (632 of a SLADS
    scan, 336 spectra of an autonomous run), though their dose is spent. The original error is raised unchanged;
    a result that cannot be built is left out, never raised in its place."""
    why = f"interrupted after {n_measured} positions by {type(err).__name__}: {err}".rstrip(": ")
    try:
        err.partial_result = result(why)
    except Exception:  # noqa: BLE001 - the error being raised is the one to report
        return
    err.add_note(f"emscale: the {n_measured} positions measured before this error are kept in the error's "
                 "partial_result (e.g. sys.last_value.partial_result after an uncaught error; .save(path) it)")


def _model(model, s=None, any_path: bool = False) -> ERDModel:
    """The ERD model: an ERDModel, its dict, or a saved one. ``any_path``: a path anywhere (slads_scan, called
    from code); otherwise the plain file name of one beside the input ``s`` (a recipe's way, sandboxed:
    :func:`.core.history.file_beside_input`)."""
    if isinstance(model, ERDModel):
        return model
    if isinstance(model, dict) and not is_pinned_file(model):  # else a file, as a results folder pins it
        return ERDModel.from_dict(model)
    if not any_path:
        return model_file(model, getattr(s, "history", []))
    if isinstance(model, str | os.PathLike):
        return ERDModel.load(model)
    raise DataError(f"model must be a trained ERD model (train_erd_model(...), ERDModel.load(path)), its dict or "
                    f"the path of a saved model, got {type(model).__name__}")


def model_file(name, history) -> ERDModel:
    """The saved model a plain file name names beside the input (``history``: the input's), read."""
    return ERDModel.load(file_beside_input(history, name, "model (or pass ERDModel.load(path))"))


@operation("dynamic_sampling", record={"model": lambda v, args: _model(v, args.get("s")).to_dict()},
           files={"model": model_file}, before_recorded=lambda params: {"denoise": False},
           check={"seed": check_seed, "batch_size": check_batch_size, "budget": check_budget})
def dynamic_sampling(s: Signal, model: dict | str, fraction: float | None = 0.2, budget: int | None = None,
                     batch_size: int | None = None, init_fraction: float = 0.02, stop_erd: float | None = None,
                     stop_ratio: float | None = None, explore: float = 0.0, noise_dose: float | None = None,
                     seed: int = 0, max_dose: float | None = None, max_time: float | None = None,
                     denoise: bool = True) -> SladsResult:
    """SLADS on a virtual microscope that serves the recorded image ``s`` (a replayable run).

    Recorded in the result's history: the policy parameters, the whole model (as its dict, so a replay does
    not depend on a model file) and the seed; ``em.replay(result.history)`` re-runs it bit for bit.

    Parameters
    ----------
    s : the recorded image (Signal with two signal axes, or a 2-D array).
    model : the ERD model as its dict (``ERDModel.to_dict()``, JSON-friendly, so a run records it), an
        :class:`ERDModel`, or the plain file name of a saved model beside the input (a recipe's way: it reads
        nothing outside its input's folder; :func:`.core.history.file_beside_input`).
    fraction, budget, batch_size, init_fraction, stop_erd, stop_ratio, explore, max_dose, max_time : see
        :func:`slads_scan` (the virtual microscope spends 1 electron and 1 us a position)
        (``explore``: the guard against a model trained on another kind of image).
    noise_dose : dose-scaled Poisson noise of the virtual microscope (``None``: the recorded values).
    seed : seeds the start and the microscope's noise; the same seed replays the same run bit for bit.
    denoise : see :func:`slads_scan` (with ``noise_dose``, the reconstruction weighs the measured values' shot
        noise); a history recorded before the option replays without it.
    """
    scope = VirtualMicroscope(s, noise_dose=noise_dose, seed=seed)
    return slads_scan(scope, _model(model, s), budget=budget, fraction=None if budget is not None else fraction,
                      batch_size=batch_size, init_fraction=init_fraction, stop_erd=stop_erd, stop_ratio=stop_ratio,
                      explore=explore, seed=seed, max_dose=max_dose, max_time=max_time, denoise=denoise)


def run_axes(microscope) -> list[dict]:
    """The microscope's scan axes and a measurement's axes, as a run result keeps them (dicts, JSON in its file)."""
    axes = list(getattr(microscope, "scan_axes", ()) or ()) + list(getattr(microscope, "signal_axes", ()) or ())
    return [a.to_dict() for a in axes if isinstance(a, Axis)]


def _next_batch(erd: np.ndarray, st: NeighbourState, shape, b: int, explore: float) -> np.ndarray:
    """``round(explore * b)`` positions farthest from any measurement (space filling: no region is left out
    because the regression under-predicts it), the rest by ERD."""
    d1 = np.sqrt(st.nn_d2[:, 0])
    n_far = int(round(explore * b))
    far = select_batch(d1, st.measured, d1, shape, n_far) if n_far else np.zeros(0, np.int64)
    if far.size == b:
        return far
    taken = st.measured.copy()
    taken[far] = True
    return np.concatenate([far, select_batch(erd, taken, d1, shape, b - far.size)])


class _Curve:
    """Per-step records of a run."""

    def __init__(self, reference, count_scale=None, count_offset: float = 0.0):
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.count_scale, self.count_offset = count_scale, count_offset
        self.note = flat_reference_note(self.reference)
        if self.note:  # once for the run, not once per batch
            warnings.warn(f"slads_scan: {self.note}", UserWarning, stacklevel=3)
        self.frac, self.erd, self.psnr, self.decision, self.cpu = [], [], [], [], []

    def tick(self, t0: float, c0: float, add: bool = False) -> None:
        """Book the wall and CPU time since (t0, c0) to the current decision (a new one unless ``add``)."""
        if not add:
            self.decision.append(0.0)
            self.cpu.append(0.0)
        self.decision[-1] += time.perf_counter() - t0
        self.cpu[-1] += time.process_time() - c0

    def add(self, st: NeighbourState, erd: np.ndarray) -> None:
        n = st.measured.size
        self.frac.append(float(st.measured.sum()) / n)
        u = ~st.measured
        self.erd.append(float(np.clip(erd[u], 0, None).sum()) / n)
        if self.reference is not None:
            self.psnr.append(psnr(self.reference, st.reconstruction(self.count_scale, self.count_offset)))


def plot_measurement_order(result: SladsResult, ax=None, cmap: str = "viridis"):
    """Figure of the measured positions coloured by the step at which they were measured."""
    from ..plotting import _new_figure  # not pyplot: a notebook shows the returned figure once

    fig = ax.figure if ax is not None else _new_figure((5, 4.5))
    ax = ax if ax is not None else fig.add_subplot()
    o = np.ma.masked_less(result.order.astype(float), 0)
    im = ax.imshow(o, cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="step")
    ax.set_title(f"measurement order ({100 * result.fraction:.1f} % measured)")
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    return fig


def plot_convergence(curves: dict, ylabel: str = "PSNR (dB)", ax=None):
    """Figure of quality vs fraction measured; ``curves`` maps a label to ``(fractions, values)``."""
    from ..plotting import _new_figure  # not pyplot: a notebook shows the returned figure once

    fig = ax.figure if ax is not None else _new_figure((5.5, 4))
    ax = ax if ax is not None else fig.add_subplot()
    for label, (x, y) in curves.items():
        ax.plot(100 * np.asarray(x), y, marker="o" if len(x) < 20 else None, label=label)
    ax.set_xlabel("pixels measured (%)")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_reconstruction(result: SladsResult, reference: np.ndarray | None = None):
    """Figure: the reconstruction, the measured positions coloured by step and (with ``reference``) the
    absolute error map, titled with the fraction measured and the PSNR."""
    from ..plotting import _new_figure  # not pyplot: a notebook shows the returned figure once

    n = 3 if reference is not None else 2
    fig = _new_figure((4.5 * n, 4))
    axs = fig.subplots(1, n)
    axs[0].imshow(result.reconstruction, cmap="gray", interpolation="nearest")
    axs[0].set_title(f"reconstruction ({100 * result.fraction:.1f} % measured)")
    plot_measurement_order(result, ax=axs[1])
    if reference is not None:
        err = np.abs(np.asarray(reference, dtype=np.float64) - result.reconstruction)
        im = axs[2].imshow(err, cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=axs[2], label="|error|")
        axs[2].set_title(f"error map (PSNR {psnr(reference, result.reconstruction):.1f} dB)")
    for a in axs:
        a.set_xlabel("x (pixel)")
    return fig
