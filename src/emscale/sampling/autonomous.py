"""Autonomous spectrum imaging: measure spectra where the phase map is still uncertain.

Active-learning loop in the spirit of Kusne et al. (2014) and CAMEO (Kusne et al. 2020):

1. measure a seeded random ``init_fraction`` of the scan positions;
2. fit the phase model of the spectra measured so far: Poisson-weighted PCA followed by k-means on the loading
   directions (as ``Decomposition.cluster``), which labels every measured position with one of ``n_phases``
   phases and gives each phase's mean model spectrum. The sample is dense at boundaries, so each measured
   spectrum stands for the area of its Voronoi cell ``w_i`` in the scan, in k-means *and* in the PCA: with the
   Keenan-Kotula scaling ``Z = X / sqrt(a b^T)`` (``a`` the spectra's totals, ``b`` the ``w``-weighted mean
   spectrum), the components are the right singular vectors of ``diag(sqrt(w)) Z`` -- the PCA of the whole scan
   as the sample estimates it, not of the boundary mixtures it over-represents (on the Bruker map, ARI at 25 %
   rose from 0.80 to 0.97 for 2 phases, mean of 3 seeds). Without weights (the full-data map) it is
   :func:`emscale.decompose` (randomized solver);
3. spread the labels to unmeasured positions by an inverse-square-distance vote of the ``k`` nearest measured
   positions, giving phase probabilities ``p_s``; the uncertainty of an unmeasured position is

       u(s) = 1 - max_c p_s(c) + explore * d1(s) / max d1,

   high on phase boundaries (neighbours disagree) and, through the exploration term, in the large gaps where a
   small or rare phase could hide;
4. measure the ``batch_size`` most uncertain positions (greedy, spread by their distance to the nearest
   measurement, as in :func:`emscale.sampling.slads.select_batch`) and repeat until the budget is spent or the
   map is stable (adjusted Rand index between consecutive maps >= ``stable_ari`` for ``patience`` rounds).

References
----------
A. G. Kusne et al., "On-the-fly machine-learning for high-throughput experiments: search for rare-earth-free
permanent magnets", Sci. Rep. 4 (2014) 6367. A. G. Kusne et al., "On-the-fly closed-loop materials discovery via
Bayesian active learning", Nat. Commun. 11 (2020) 5966.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import DataError, check_count, check_flag, check_number, check_seed, is_number, warn_caller
from ..core.registry import operation
from ..core.signal import Signal
from ..engine.blas import one_blas_thread
from .microscope import Microscope, VirtualMicroscope, as_counts, measure
from .patterns import check_mask
from .slads import (
    Spending,
    _budget,
    _SavedResult,
    batch_positions,
    check_batch_size,
    check_budget,
    check_init_fraction,
    check_reference,
    keep_partial,
    run_axes,
    select_batch,
    warn_all_random,
)

__all__ = ["AutonomousResult", "autonomous_si", "autonomous_spectrum_imaging", "phase_map", "phase_map_from_mask",
           "adjusted_rand_index", "plot_phase_run"]


@dataclass(repr=False)  # _SavedResult's: a line, not every array in full
class AutonomousResult(_SavedResult):
    """Outcome of an autonomous spectrum-imaging run.

    Attributes
    ----------
    phase_map : (rows, cols) int phase label of every scan position (measured or inferred).
    spectra : (n_phases, n_channels) mean model spectrum of each phase (data units).
    probabilities : (rows, cols, n_phases) phase probabilities (one-hot at measured positions).
    order : (rows, cols) int, round at which each position was measured (0: the random start), -1 if never.
    positions : (n, 2) int (row, col) of every measurement in order.
    fractions : (n_rounds,) fraction of the scan measured after each round.
    stability : (n_rounds,) ARI between each round's map and the previous one (NaN for the first).
    ari : (n_rounds,) ARI against ``reference`` after each round (empty without one).
    measurements : (n, n_channels) the spectra measured, in the order of ``positions`` (the data the dose paid
        for; (0, 0) in a file saved before runs kept them).
    history : provenance entries.
    info : ``{"stopped_by": why the run stopped, in words}`` (:meth:`stopped_by`), and ``"poisson"``: the phase
        model's weighting, in words (:func:`poisson_weighting`; none in a file saved before runs said it).
    axes : the scan's calibrated axes and a spectrum's (dicts), as the microscope gave them.

    ``phases`` and ``phase_spectra`` are the phase map and the phases' spectra as Signals on those axes (recorded
    steps: :mod:`.run_signals`).
    """

    phase_map: np.ndarray
    spectra: np.ndarray
    probabilities: np.ndarray
    order: np.ndarray
    positions: np.ndarray
    fractions: np.ndarray
    stability: np.ndarray
    ari: np.ndarray
    measurements: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    history: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    axes: list = field(default_factory=list)  # the scan's axes as dicts (Axis.to_dict), then a spectrum's

    KIND = "emscale-autonomous-si-run"

    @property
    def fraction(self) -> float:
        return float((self.order >= 0).mean())

    def stopped_by(self) -> str:
        """Why the run stopped, in words: the budget or a stable map (:func:`autonomous_si`'s rules, in its
        order), as the run wrote it in ``info``; for a file saved before runs did, read from the numbers and the
        parameters the history recorded."""
        if self.info.get("stopped_by"):
            return str(self.info["stopped_by"])
        p = self.run_params()
        return run_stopped_by(int((self.order >= 0).sum()), self.allowed_positions(), self.stability,
                              p.get("stable_ari"), p.get("patience")) or "not known (no recorded parameters)"


def run_stopped_by(m: int, budget: int | None, stability, stable_ari, patience) -> str | None:
    """The rule of :func:`autonomous_si` that ends a run of ``m`` positions measured and map stabilities
    ``stability`` (one per round), in words, in the order the run checks them; None if none does."""
    if budget is not None and m >= budget:
        start = " by the random start (no position chosen adaptively)" if len(stability) == 1 else ""
        return f"budget spent{start}: {m} of {budget} positions"
    if patience and is_stable(stability, stable_ari, patience):
        return (f"map stable: adjusted Rand index between consecutive rounds >= {stable_ari:g} for the last "
                f"{patience} rounds (lowest {float(np.min(stability[-patience:])):.4g})")
    return None


def adjusted_rand_index(a, b) -> float:
    """Adjusted Rand index of two label maps (1: the same partition up to relabelling)."""
    from sklearn.metrics import adjusted_rand_score

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:  # scikit-learn's "inconsistent numbers of samples" named no map
        raise DataError(f"adjusted_rand_index: the label maps differ in shape, {a.shape} against {b.shape}")
    return float(adjusted_rand_score(a.ravel(), b.ravel()))


def poisson_weighting(x: np.ndarray, count_scale: float | None = None, poisson: bool | None = None) -> tuple[bool, str]:
    """Whether the phase model weights the spectra ``x`` as Poisson counts, and why, in words (a run's
    ``info["poisson"]``): ``poisson`` where given (decompose's parameter); else on for counts (whole numbers, or
    whole after the microscope's ``count_scale``: :func:`.microscope.as_counts`) and for scaled counts as
    :func:`emscale.decompose` takes them (every value a whole multiple of one quantum: ``quantum_of``); the
    weighting ``X / sqrt(a b^T)`` does not change when X is scaled. Off for anything else."""
    from ..decomposition._matrix import quantum_of

    if poisson is not None:
        check_flag("poisson", poisson)
        return bool(poisson), f"{'on' if poisson else 'off'} (poisson={bool(poisson)})"
    if as_counts(x, count_scale) is not None:
        return True, "on (automatic: counts" + ("" if count_scale is None else f", {count_scale:g} per unit of a "
                                                 "value: the microscope's count_scale") + ")"
    x = np.asarray(x, dtype=np.float64)
    q = quantum_of(x)
    if q is not None and np.isfinite(q):
        return True, f"on (automatic: every value a whole multiple of {q:.6g}, scaled counts)"
    if np.any(x < 0):
        why = f"{int(np.count_nonzero(x < 0))} negative value(s), the lowest {float(x.min()):g}"
    else:
        why = (f"values that are not whole numbers (e.g. {float(x[x != np.round(x)][0]):g}) nor whole multiples of "
               "one quantum")
    return False, f"off (automatic: not counts: {why})"


def _weighting(x: np.ndarray, microscope: Microscope, poisson: bool | None, where: str) -> tuple[bool, str]:
    """:func:`poisson_weighting` of the spectra ``x`` a run decides on, said where spectra that are not counts
    turn it off without being asked: scaled by 0.5 or offset by 0.1, the counts of the Bruker map gave another
    phase map (ARI 0.874 against the uint16 run) with no word."""
    on, note = poisson_weighting(x, getattr(microscope, "count_scale", None), poisson)
    if poisson is None and not on:
        warn_caller(f"{where}: Poisson weighting {note}; the phase model is an unweighted PCA, led by the brightest "
                    "channels. For counts stored scaled or with an offset pass poisson=True (or give the microscope a "
                    "count_scale, detector counts per unit of a value); poisson=False says they are not counts and "
                    "silences this")
    return on, note


def _fit(spectra: np.ndarray, sig_axes, n_phases: int, n_components: int | None, seed: int,
         weights: np.ndarray | None = None, poisson: bool = False):
    """Labels (n,) and phase spectra (n_phases, n_channels) of measured spectra (n, n_channels).

    ``weights``: the area each measured position stands for (its Voronoi cell in the scan), so that k-means
    on an adaptively sampled set, denser at boundaries, still estimates the phases of the whole scan.
    ``poisson``: Keenan-Kotula weighting of the PCA (:func:`poisson_weighting`).
    """
    from ..decomposition import decompose
    from ..decomposition.kmeans import fit_kmeans

    check_count("n_phases", n_phases, "phases")  # 0 was refused as n_components, a name never passed
    if spectra.shape[0] < n_phases:
        raise ValueError(f"{spectra.shape[0]} spectra measured, fewer than n_phases={n_phases}")
    nc = n_phases if n_components is None else int(n_components)
    if weights is None:
        axes = [{"name": "position", "navigate": True}] + [
            {"name": a.name, "scale": a.scale, "offset": a.offset, "units": a.units, "navigate": False}
            for a in sig_axes
        ]
        s = Signal(spectra, axes=axes if len(axes) == spectra.ndim else None)
        d = decompose(s, method="pca", n_components=nc, poisson=poisson, seed=seed)
        lo = np.asarray(d.loadings_array)[:, :nc]
        w = np.ones(len(lo))
    else:
        w = np.asarray(weights, dtype=np.float64)
        lo = _weighted_loadings(spectra.reshape(len(spectra), -1), w, nc, poisson)
    if lo.shape[1] == 0 or not np.any(spectra):  # KMeans: "Found array with 0 feature(s)"
        raise DataError(f"the {len(spectra)} measured spectra hold no signal (every channel "
                        f"{'zero' if not np.any(spectra) else 'constant'}): there are no phases to tell apart; check "
                        "the detector and the energy range")
    lo = lo / np.maximum(np.linalg.norm(lo, axis=1, keepdims=True), 1e-300)  # direction: intensity-blind
    labels = fit_kmeans(lo, n_phases, seed=seed, sample_weight=w).labels
    flat_spec = spectra.reshape(len(spectra), -1)
    out = np.zeros((n_phases, flat_spec.shape[1]))
    for c in range(n_phases):
        sel = labels == c
        if sel.any():
            out[c] = np.average(flat_spec[sel], axis=0, weights=w[sel])
    return labels.astype(np.int64), out


def _weighted_loadings(x: np.ndarray, w: np.ndarray, nc: int, poisson: bool = False) -> np.ndarray:
    """Loadings (n, nc) of the ``w``-weighted PCA of spectra ``x`` (n, n_channels), Keenan-Kotula scaled where
    ``poisson`` (see the module docstring): the components are fitted to ``diag(sqrt(w)) Z``, every spectrum is
    then projected on them unweighted."""
    x = x.astype(np.float64)
    if poisson:
        b = np.average(x, axis=0, weights=w)
        keep = b > 0  # channels no measured spectrum has counts in carry no information
        a = np.maximum(x.sum(axis=1), 1e-12)
        z = x[:, keep] / np.sqrt(a[:, None] * b[keep][None, :])
    else:
        z = x
    a = np.sqrt(w)[:, None] * z
    # the top right singular vectors from the eigenvectors of the smaller Gram matrix (only nc are needed), on
    # one thread: a full multithreaded SVD of a few hundred spectra is 20x slower on a loaded machine
    with one_blas_thread():
        if a.shape[0] <= a.shape[1]:
            vals, u = np.linalg.eigh(a @ a.T)
            u = u[:, ::-1][:, :nc]
            v = (a.T @ u) / np.sqrt(np.maximum(vals[::-1][:nc], 1e-300))
        else:
            v = np.linalg.eigh(a.T @ a)[1][:, ::-1][:, :nc]
        return z @ v


def _spread(shape, flat: np.ndarray, labels: np.ndarray, n_phases: int, k: int):
    """Phase probabilities (n_pixels, n_phases) by a 1/d^2 vote of the k nearest measured positions, and d1."""
    n = shape[0] * shape[1]
    coords = np.stack(np.divmod(np.arange(n), shape[1]), axis=1).astype(np.float64)
    kk = min(k, flat.size)
    from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    d, i = cKDTree(coords[flat]).query(coords, k=kk)
    d = np.asarray(d).reshape(n, kk)
    i = np.asarray(i).reshape(n, kk)
    w = 1.0 / np.maximum(d, 1e-12) ** 2
    prob = np.zeros((n, n_phases))
    for j in range(kk):
        np.add.at(prob, (np.arange(n), labels[i[:, j]]), w[:, j])
    prob /= prob.sum(axis=1, keepdims=True)
    prob[flat] = np.eye(n_phases)[labels]
    return prob, d[:, 0]


def _voronoi_weights(shape, flat: np.ndarray) -> np.ndarray:
    """Scan positions nearest to each measured position (ties to the lower index), shape (len(flat),)."""
    n = shape[0] * shape[1]
    coords = np.stack(np.divmod(np.arange(n), shape[1]), axis=1).astype(np.float64)
    from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    _, i = cKDTree(coords[flat]).query(coords, k=1)
    return np.bincount(np.asarray(i).ravel(), minlength=flat.size).astype(np.float64)


def _check_scope(microscope: Microscope) -> None:
    if not getattr(microscope, "signal_axes", ()):
        raise DataError("autonomous_si needs a microscope that returns spectra; this one returns scalar values "
                        "(use emscale.sampling.slads for images)")


def phase_map_from_mask(microscope: Microscope, mask, n_phases: int, n_components: int | None = None, k: int = 8,
                        seed: int = 0, *, poisson: bool | None = None):
    """Phase map from the spectra at ``mask`` (True = measure) only: the fixed-pattern baseline. The mask is
    booleans or numbers 0 and 1 of the scan's shape (:func:`.patterns.check_mask`; a DataError otherwise).
    ``poisson``: the phase model's weighting, as :func:`autonomous_si`'s.

    Returns (phase_map (rows, cols), spectra (n_phases, n_channels)).
    """
    _check_scope(microscope)
    # cast to bool, a 0/255 image of a mask passed as one, and 0.5 or NaN everywhere measured every position
    mask = check_mask(mask, tuple(microscope.scan_shape))
    flat = np.flatnonzero(mask)
    x = measure(microscope, flat).reshape(flat.size, -1)
    on, _ = _weighting(x, microscope, poisson, "phase_map_from_mask")
    labels, spectra = _fit(x, microscope.signal_axes, n_phases, n_components, seed, poisson=on)
    prob, _ = _spread(mask.shape, flat, labels, n_phases, k)
    return prob.argmax(axis=1).reshape(mask.shape), spectra


def phase_map(signal: Signal, n_phases: int, n_components: int | None = None, seed: int = 0, *,
              poisson: bool | None = None):
    """The full-data phase map with the same model as :func:`autonomous_si` (every position measured; ``poisson``:
    its weighting, as :func:`autonomous_si`'s).

    Returns (phase_map (rows, cols), spectra (n_phases, n_channels)).
    """
    scope = VirtualMicroscope(signal)
    return phase_map_from_mask(scope, np.ones(scope.scan_shape, dtype=bool), n_phases, n_components, seed=seed,
                               poisson=poisson)


def autonomous_si(microscope: Microscope, n_phases: int, *, budget: int | None = None, fraction: float | None = 0.25,
                  init_fraction: float = 0.05, batch_size: int | None = None, n_components: int | None = None,
                  k: int = 8, explore: float = 0.3, stable_ari: float | None = 0.995, patience: int = 3,
                  weighted: bool = True, seed: int = 0, reference: np.ndarray | None = None,
                  max_dose: float | None = None, max_time: float | None = None,
                  poisson: bool | None = None) -> AutonomousResult:
    """Measure a spectrum image adaptively until its phase map is resolved.

    Parameters
    ----------
    microscope : a :class:`~emscale.sampling.microscope.Microscope` returning spectra.
    n_phases : phases of the model (k-means clusters).
    budget, fraction : at most this many positions (or this fraction of the scan); ``budget`` wins if given. These
        and the rest are keyword-only: the two functions took them in opposite orders, and
        ``autonomous_si(scope, 3, 0.25)`` read 0.25 as a budget.
    init_fraction : seeded random start (at least ``n_phases`` positions).
    batch_size : positions per round; ``None``: 1 % of the scan (at least 1).
    n_components : PCA components of the model; ``None``: ``n_phases``.
    k : measured neighbours voting for the phase of an unmeasured position.
    explore : weight of the distance-to-nearest-measurement term of the uncertainty.
    stable_ari, patience : stop once ``patience`` consecutive rounds change the map by less than this ARI
        (``None``: run to the budget).
    weighted : weight each measured spectrum in k-means by the scan area it stands for (its Voronoi cell), so
        the boundary-heavy sample does not pull the phase centres towards mixtures.
    seed : seeds the start, the decomposition and k-means.
    reference : a phase map (e.g. :func:`phase_map` of the full data) to record the ARI curve against.
    max_dose, max_time : also stop before the run spends more than this dose (electrons) or beam time (s)
        (:class:`.slads.Spending`); a random start that alone costs more is a DataError, before anything is
        measured.
    poisson : weight the phase model's PCA as Poisson counts (Keenan-Kotula, as :func:`emscale.decompose`'s
        ``poisson``). ``None``: decided on the random start, on for counts (whole numbers, or whole after the
        microscope's ``count_scale``) and scaled counts (whole multiples of one quantum), off with a warning for
        anything else (:func:`poisson_weighting`). The result's ``info["poisson"]`` says which and why.

    Returns
    -------
    AutonomousResult

    Example
    -------
    >>> s, _ = emscale.samples.eds_si()
    >>> res = autonomous_si(VirtualMicroscope(s), n_phases=3, fraction=0.25)
    >>> res.phase_map.shape
    (64, 80)
    """
    _check_scope(microscope)
    check_count("n_phases", n_phases)
    check_count("k", k)
    check_count("patience", patience)
    if n_components is not None:
        check_count("n_components", n_components)
    check_number("explore", explore, "weight of the distance term of the uncertainty")
    if stable_ari is not None and not (is_number(stable_ari) and 0 < stable_ari <= 1):
        raise DataError(f"stable_ari must be an adjusted Rand index in (0, 1] (1: the map no longer changes at all) "
                        f"or None (run to the budget), got {stable_ari!r}")
    check_seed(seed)
    if poisson is not None:  # before the start is measured, not after
        check_flag("poisson", poisson)
    shape = tuple(int(v) for v in microscope.scan_shape)
    n = shape[0] * shape[1]
    asked = f"fraction = {fraction}" if budget is None else f"budget = {budget}"
    budget = _budget(n, budget, None if budget is not None else fraction)
    n0 = min(max(n_phases, int(round(check_init_fraction(init_fraction) * n))), budget)
    if n0 < n_phases:
        raise ValueError(f"{budget} position(s) to measure ({asked} of the {n}-position scan) is below "
                         f"n_phases={n_phases}")
    batch = batch_positions(batch_size, max(1, n // 100))
    reference = check_reference(reference, shape, "a phase map, for the ARI curve")
    spending = Spending(microscope, max_dose, max_time)
    spending.check_start(n0, n, init_fraction, n_phases)
    warn_all_random(n0, budget, asked, init_fraction, "by the uncertainty of the phase map")
    flat = np.sort(np.random.default_rng(seed).choice(n, n0, replace=False))
    x = measure(microscope, flat).reshape(flat.size, -1)
    spending.check_started(n0)
    on, poisson_note = _weighting(x, microscope, poisson, "autonomous_si")
    order = np.full(n, -1, dtype=np.int64)
    order[flat] = 0
    seq, rec = [flat], _Record(reference)
    measured = np.zeros(n, dtype=bool)
    measured[flat] = True
    rnd, prob, spectra, why = 0, None, np.zeros((0, x.shape[1])), None

    def result(stopped_by: str) -> AutonomousResult:
        pos = np.concatenate(seq)
        p = np.zeros((n, n_phases)) if prob is None else prob  # interrupted before the first map: none
        return AutonomousResult(
            phase_map=p.argmax(axis=1).reshape(shape) if prob is not None else np.full(shape, -1),
            spectra=spectra, probabilities=p.reshape(shape + (n_phases,)), order=order.reshape(shape),
            positions=np.stack(np.divmod(pos, shape[1]), axis=1), fractions=np.asarray(rec.frac),
            stability=np.asarray(rec.stab), ari=np.asarray(rec.ari), measurements=x[: pos.size],
            info={"stopped_by": stopped_by, "poisson": poisson_note}, axes=run_axes(microscope))

    try:
        while True:
            w = _voronoi_weights(shape, flat) if weighted else None
            labels, spectra = _fit(x, microscope.signal_axes, n_phases, n_components, seed, w, on)
            prob, d1 = _spread(shape, flat, labels, n_phases, k)
            rec.add(prob.argmax(axis=1), measured)
            if flat.size >= budget or rec.stable(stable_ari, patience):
                break
            room = spending.affordable(flat.size)
            if room < 1:
                why = spending.spent(flat.size)
                break
            score = 1.0 - prob.max(axis=1) + explore * d1 / max(float(d1.max()), 1.0)
            nxt = select_batch(score, measured, d1, shape, int(min(batch, budget - flat.size, room)))
            x = np.concatenate([x, measure(microscope, nxt).reshape(nxt.size, -1)])
            rnd += 1
            order[nxt] = rnd
            measured[nxt] = True
            flat = np.concatenate([flat, nxt])
            seq.append(nxt)
    except BaseException as err:  # the map is the last round's; the measurements are every one made
        keep_partial(err, result, int(measured.sum()))
        raise
    return result(why or run_stopped_by(flat.size, budget, rec.stab, stable_ari, patience))


@operation("autonomous_spectrum_imaging", check={
    "n_phases": lambda v: check_count("n_phases", v, "phases"), "k": lambda v: check_count("k", v),
    "patience": lambda v: check_count("patience", v), "seed": check_seed,
    "n_components": lambda v: check_count("n_components", v, optional=True),
    "batch_size": check_batch_size, "budget": check_budget})
def autonomous_spectrum_imaging(s: Signal, n_phases: int, *, fraction: float | None = 0.25, budget: int | None = None,
                                init_fraction: float = 0.05, batch_size: int | None = None,
                                n_components: int | None = None, k: int = 8, explore: float = 0.3,
                                stable_ari: float | None = 0.995, patience: int = 3, weighted: bool = True,
                                noise_dose: float | None = None, seed: int = 0, max_dose: float | None = None,
                                max_time: float | None = None, poisson: bool | None = None) -> AutonomousResult:
    """:func:`autonomous_si` on a virtual microscope serving the recorded spectrum image ``s`` (a replayable run).

    ``noise_dose``: dose-scaled Poisson noise of the virtual microscope (``None``: the recorded counts); ``seed``
    seeds the run and the microscope's noise. Other parameters: :func:`autonomous_si`. Recorded in the result's
    history (policy parameters and seed); ``em.replay(result.history)`` re-runs it bit for bit.
    """
    scope = VirtualMicroscope(s, noise_dose=noise_dose, seed=seed)
    return autonomous_si(scope, n_phases, budget=budget, fraction=fraction, init_fraction=init_fraction,
                         batch_size=batch_size, n_components=n_components, k=k, explore=explore,
                         stable_ari=stable_ari, patience=patience, weighted=weighted, seed=seed,
                         max_dose=max_dose, max_time=max_time, poisson=poisson)


class _Record:
    """Per-round convergence records."""

    def __init__(self, reference):
        self.reference = None if reference is None else np.asarray(reference).ravel()
        self.frac, self.stab, self.ari, self.prev = [], [], [], None

    def add(self, labels: np.ndarray, measured: np.ndarray) -> None:
        self.frac.append(float(measured.mean()))
        self.stab.append(float("nan") if self.prev is None else adjusted_rand_index(self.prev, labels))
        if self.reference is not None:
            self.ari.append(adjusted_rand_index(self.reference, labels))
        self.prev = labels

    def stable(self, threshold, patience: int) -> bool:
        return is_stable(self.stab, threshold, patience)


def is_stable(stability, threshold, patience: int) -> bool:
    """The stopping rule of :func:`autonomous_si`: the last ``patience`` stability scores all at least
    ``threshold`` (None: never stable)."""
    if threshold is None or len(stability) <= patience:
        return False
    return bool(np.all(np.asarray(stability[-patience:]) >= threshold))


def plot_phase_run(result: AutonomousResult, reference: np.ndarray | None = None):
    """Figure: phase map, measurement order coloured by round, and the convergence curves."""
    from ..plotting import _new_figure  # not pyplot: a notebook shows the returned figure once

    fig = _new_figure((13, 4))
    axs = fig.subplots(1, 3)
    axs[0].imshow(result.phase_map, cmap="tab10", interpolation="nearest")
    axs[0].set_title(f"phase map ({100 * result.fraction:.1f} % measured)")
    o = np.ma.masked_less(result.order.astype(float), 0)
    im = axs[1].imshow(o, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=axs[1], label="round")
    axs[1].set_title("measurement order")
    f = 100 * result.fractions
    axs[2].plot(f, result.stability, marker=".", label="ARI to previous round")
    if result.ari.size:
        axs[2].plot(f, result.ari, marker=".", label="ARI to reference")
    axs[2].set_xlabel("positions measured (%)")
    axs[2].set_ylabel("adjusted Rand index")
    axs[2].legend()
    axs[2].grid(alpha=0.3)
    return fig

