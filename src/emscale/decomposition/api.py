"""``decompose``: the driver. Validation, Poisson weighting, solver and rank, the PCA every method starts from, the
method plug-in (:mod:`._method`), and the result in data units."""

from __future__ import annotations

import warnings
from contextvars import ContextVar
from typing import Literal

import numpy as np

from ..core.errors import DataError, as_count, check_not_complex, check_seed
from ..core.registry import operation
from ..core.signal import Signal, is_sparse_scan, measured_mask
from . import ica, mcr, nmf, pca, vca  # noqa: F401 -- each registers its method (a new method: add its module)
from ._matrix import DataMatrix, saturation_ceiling
from ._method import METHODS as _TABLE
from ._method import Context, Method, configured, method_class, option_as_run, option_before_recorded
from .energy_shift import CHANCE_TAIL, SHIFT_SHARE, chance_share, chance_tail, shift_note, shift_share
from .held_groups import refit_on_held_groups
from .hot_channels import SPIKE_RATIO, find_hot_channels
from .lone_groups import regrown_lone_groups
from .map_groups import map_shows_pure_regions, pure_pixels_refused, refit_on_map_groups
from .rank import MIN_CHANNEL_COUNTS, MIN_RANK_CHANNELS, elbow, estimate_rank, rank_channels, suggest_binning
from .regions import MIN_PIXELS, PixelLayout
from .result import Decomposition
from .spectrum_kind import ZERO_PEAK_KEV, eds_kind, strobe_peak_shown, zero_peak_channels

METHODS = tuple(sorted(_TABLE))
_OPTIONS = sorted({o for cls in _TABLE.values() for o in cls.options})  # recorded as the values they ran with
SOLVERS = ("auto", "gram", "randomized", "single_pass")
SINGLE_PASS_TESTS = 10  # rows of the error-test sketch of the single-pass solver
SINGLE_PASS_NOISY = 0.5  # an estimated relative error above this: a warning (noise-dominated data)
GRAM_MAX_CHANNELS = 4096  # above this the channels x channels Gram matrix gets too big: randomized
DEFAULT_MAX_COMPONENTS = 32  # PCA with n_components=None keeps the whole scree but this many factors/loadings
RANDOMIZED_MIN_VALUES = 2**20  # below this many values the exact route is as fast (and seed-independent)
AUTO_POWER_ITERATIONS = (2, pca.AUTO_MAX_ITER)  # n_iter=None: at least, at most (until settled between)


def check_n_components(n_components) -> None:
    """None (every component), "auto" or a whole number >= 1: what can be told before the data are read (a recipe
    reports it with its other problems, before any step runs)."""
    if n_components is None or (isinstance(n_components, str) and n_components == "auto"):
        return
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer) or n_components < 1:
        raise ValueError(f"n_components must be None, 'auto' or a positive integer, not {n_components!r}")


def _mask_numbers(mask):
    """A mask given as a Signal as its numbers (numpy order); anything else as it is: what is checked, applied
    and recorded (the history holds arrays, not signals)."""
    return mask.to_numpy() if isinstance(mask, Signal) else mask


def check_n_iter(n_iter) -> int | None:
    """The randomized solver's power iterations: None (until the subspace settles) or a whole number >= 0 (0: the
    range finder alone; 2.0: 2, as it ran before the check, :func:`.as_count`); -1 ran as 0, said nowhere."""
    return as_count("n_iter", n_iter, "power iterations of the randomized solver", minimum=0, optional=True)


def check_oversample(oversample) -> int:
    """The randomized solver's extra columns: a whole number >= 0 (10.0: 10, :func:`.as_count`); -1 sketched one
    column fewer than the components asked for, said nowhere."""
    return as_count("oversample", oversample, "extra columns of the randomized sketch", minimum=0)


def _check_option(option: str):
    """The declared check of a method option: the option alone, given to the step's method as the run gives it --
    the default method where the step names none (an option of the default method's was refused only when its step
    ran). An unknown method is the check of ``method``'s to say, once."""

    def check(value, arguments: dict) -> None:
        if method_class(arguments.get("method", "")) is not None:
            configured(arguments["method"], **{option: value})

    return check


@operation("decompose", method=True, result_name="{method}",
           check={"method": lambda v: configured(v), **{o: _check_option(o) for o in _OPTIONS},
                  "n_components": check_n_components, "seed": check_seed, "n_iter": check_n_iter,
                  "oversample": check_oversample},
           record={**{o: option_as_run(o) for o in _OPTIONS},
                   **{m: (lambda v, _: _mask_numbers(v)) for m in ("navigation_mask", "signal_mask")}},
           before_recorded=option_before_recorded)
def decompose(
    s: Signal, method: str = "pca",
    n_components: int | Literal["auto"] | None = None, poisson: bool | None = None,
    seed: int = 0, navigation_mask=None, signal_mask=None, centre: bool = False,
    solver: Literal["auto", "gram", "randomized", "single_pass"] = "auto",
    n_iter: int | None = None, oversample: int = 10,
    max_iter: int | None = None, tol: float | None = None, loss: Literal["kl", "frobenius"] | None = None,
    closure: bool | None = None, init: Literal["auto", "nndsvda", "vca"] | None = None,
    pure_pixels: bool | None = None, fit_pixels: int | None = None, mu_exponent: float | None = None,
    on: Literal["factors", "loadings"] | None = None, diff_order: int | None = None,
    settle_subspace: bool | None = None, extrapolate: bool | None = None, precipitates: bool | None = None,
    basin_probe: bool | None = None, nonnegativity: Literal["clip", "nnls"] | None = None,
    stop_on_rise: bool | None = None, exact_refit: bool | None = None, rise_window: int | None = None,
    mask_zero_peak: bool | None = None,
    mask_hot_channels: bool | None = None, executor=None, progress=None,
) -> Decomposition:
    """Unsupervised decomposition of a spectrum image into spectra (factors) and maps (loadings).

    Parameters
    ----------
    s : the Signal (numpy or lazy); pixels are its navigation positions, channels its signal values.
    method : ``"pca"`` (Poisson-weighted PCA/SVD), ``"nmf"`` (KL or Frobenius NMF), ``"ica"`` (FastICA of the
        PCA model's differentiated spectra, or of its maps), ``"mcr"`` (MCR-ALS), ``"vca"`` (vertex component
        analysis + NNLS abundances): the classes registered in :mod:`.pca`, :mod:`.nmf`, :mod:`.ica`, :mod:`.mcr`,
        :mod:`.vca`.
    n_components : an int; ``"auto"`` for the Marchenko-Pastur rank (:mod:`.rank`); ``None``: PCA keeps the whole
        eigenvalue spectrum and up to 32 factors/loadings, the other methods use ``"auto"``.
    poisson : weight by the Keenan-Kotula scaling ``X / sqrt(aG bH)`` (HyperSpy's
        ``normalize_poissonian_noise``). ``None``: on for integer data, for floats that are all whole numbers
        (counts stored as floats; not with the single-pass solver) or metadata ``{"Signal": {"counts": True}}``,
        but *off*, with a warning, when the data hold negative values (no longer counts: a subtracted
        background); ``info["poisson"]`` says which and why. ``True`` with negative values is an error.
        NMF always fits the raw counts (its KL loss is the Poisson likelihood); the weighting then only serves
        the rank estimate.
    seed : seeds every random choice (randomized sketch, FastICA, VCA, k-means); same seed, same bits.
    navigation_mask, signal_mask : boolean arrays (numpy order: ``data.shape[:nav_ndim]`` resp. the signal
        shape) or Signals; ``True`` marks pixels/channels to *exclude* (HyperSpy's convention). A sparse scan
        (``sample_scan``) is decomposed on its measured pixels only, with or without a navigation_mask
        (``params["unmeasured_excluded"]``); their loadings elsewhere are NaN. A reconstruction is decomposed whole.
    centre : subtract the (weighted) mean spectrum before PCA/ICA; the mean is kept in the model.
    solver : ``"gram"`` (exact, full scree), ``"randomized"`` (top components only), ``"single_pass"`` (PCA from
        sketches taken in one read of the data, for data that can be read only once; reports
        ``info["relative_error_estimate"]``, with a warning above 0.5: noise-dominated data) or ``"auto"``: with an
        int ``n_components`` below a quarter of min(pixels, channels), on data of 2^20 values or more, the
        randomized sketch (its cost O(pixels x channels x k) against the Gram's O(pixels x channels x min(pixels,
        channels))); with a larger k, or ``None`` / ``"auto"`` (the whole scree is wanted), the exact Gram route up
        to 4096 channels, randomized above. The Gram route builds the Gram matrix of the smaller side (pixels x
        pixels when there are fewer pixels than channels). The rank estimate is the same from every solver:
        randomized and single-pass runs that need it (``"auto"``) compute it from the exact spectrum of its channel
        subset (one more read).
    n_iter, oversample : power iterations and oversampling of the randomized solver. ``n_iter=None``: for PCA and
        ICA, whose result is the subspace itself, at least 2, up to 7, until the components that stand out of the
        noise turn by less than a degree between iterations (:func:`.pca.randomized_pca`); for NMF and MCR,
        which start from it, 2 unless ``settle_subspace=True`` (then as PCA: their result then no longer hangs on
        ``seed`` through a rough start); VCA, whose vertices are read from it, as PCA (``settle_subspace=False``:
        2, as before the option). ``info["power_iterations"]`` and its note say how many ran
        and why; an int runs exactly that many.
    max_iter, tol, loss, closure, init, pure_pixels, fit_pixels, mu_exponent, on, diff_order, settle_subspace,
    extrapolate, precipitates, basin_probe, nonnegativity, stop_on_rise, exact_refit, rise_window :
        options of the methods that declare them
        (``None``: the method's default; an option given to a method that does not take it is an error):
        ``max_iter``/``tol`` of ica, mcr, nmf; ``closure`` of mcr, vca (a sum constraint on each pixel's
        abundances, not the same one: VCA's sum to the pixel's total, its loadings are its fractions times its
        counts; MCR's sum to a constant in the Poisson-weighted fit, which the spectra's unit-sum scaling then
        undoes, so its loadings' sums are not constant in counts);
        ``pure_pixels`` of mcr, nmf (the pure-pixel member of the family of equally good non-negative
        factorisations where the data show pure pixels, else on EDS data the member whose spectra are pure at
        each phase's own lines where the data show those, :mod:`.purity`); ``loss``, ``init``, ``fit_pixels``,
        ``mu_exponent``, ``extrapolate``, ``precipitates``, ``basin_probe`` of nmf; ``settle_subspace`` of mcr, nmf,
        vca (``n_iter`` above); ``on`` (unmix the spectra, ``"factors"``, or the maps) and ``diff_order`` (of the
        spectra first) of ica; ``nonnegativity`` (``"clip"``: steps clipped at zero, or ``"nnls"``: exact
        non-negative least squares), ``stop_on_rise`` (keep the lowest-loss iterate where a clipped step raises
        the loss), ``rise_window`` (iterations such a rise may last, to fall below the lowest loss before it, before
        it stops the fit; 0: the first rise stops it) and ``exact_refit`` (judge a rotation whose clipped
        concentrations misfit the data by its exact non-negative ones) of mcr. See each method's class.
    mask_zero_peak : leave out the EDS detector's zero-energy (strobe) peak, the channels below 0.1 keV, from the
        separation. ``None``: on for EDS spectra with an energy axis in keV or eV: ``signal_type`` starting with
        "EDS", or none set, an EDS detector's axis (:func:`.spectrum_kind.eds_kind`; ``info["eds"]`` and
        ``info["eds_reason"]`` say which) and a peak there (:func:`.spectrum_kind.strobe_peak_shown`,
        ``info["zero_peak_reason"]``); ``params["zero_peak_channels"]`` records how many were masked.
        Those channels are 0 in the factors (not modelled; a user's ``signal_mask`` gives NaN). ``False`` keeps
        them: the peak is separated with the sample's lines (HyperSpy's default), most often as a component of
        its own or a share of each, and is never taken for a hot channel (a strobe peak in one channel counts at a
        steady rate in every pixel, as a hot channel does); the factors are finite there.
    mask_hot_channels : leave out hot detector channels (:mod:`.hot_channels`: one channel that counts in every
        pixel at a steady rate, at least ten times each neighbour in the map's total), with a warning that names
        them; on EDS data with ``mask_zero_peak=False``, none below 0.1 keV (the strobe peak, kept as asked).
        ``None``: on for Poisson-weighted data with one signal axis; ``params["hot_channels"]`` lists the
        channels left out (NaN in the factors, as a ``signal_mask`` leaves them). The single-pass solver, which
        reads the data once, can only warn.
    executor, progress : passed to every pass (:func:`emscale.engine.run_pass`).

    The rank (``n_components="auto"``) of Poisson data is estimated from the channels with at least 8 counts in
    the whole map (:func:`.rank.rank_channels`; sparse EDS maps otherwise give 0); when too few channels have
    that many, a warning suggests a binning and ``info["rank_warning"]`` repeats it. Without the weighting a
    rank above 32 or half of min(pixels, channels) is flagged as implausible (noise that follows the signal, or none)
    and the scree's elbow is used instead, with no threshold (``rank_evidence["noise_edge_rank"]`` and
    ``["noise_edge_threshold"]`` keep the edge's); an automatic rank above the 32 components computed is cut to
    them, with a warning and ``info["rank_capped"]``.
    """
    meth = configured(method, max_iter=max_iter, tol=tol, loss=loss, closure=closure, init=init,
                      pure_pixels=pure_pixels, fit_pixels=fit_pixels, mu_exponent=mu_exponent, on=on,
                      diff_order=diff_order, settle_subspace=settle_subspace, extrapolate=extrapolate,
                      precipitates=precipitates, basin_probe=basin_probe, nonnegativity=nonnegativity,
                      stop_on_rise=stop_on_rise, exact_refit=exact_refit, rise_window=rise_window)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    check_seed(seed)  # before the work: a wrong seed failed only at the end
    n_iter, oversample = check_n_iter(n_iter), check_oversample(oversample)  # 2.0 -> 2: recorded as given
    check_not_complex(repr(s), s.dtype, "decompose needs real data: take their modulus or real part first")
    eds, eds_reason = eds_kind(s.signal_type, s.sig_axes[0] if s.sig_ndim == 1 else None)
    kind_info = {"eds": eds, "eds_reason": eds_reason}
    signal_mask, zero_peak = _zero_peak_mask(s, signal_mask, mask_zero_peak, eds, kind_info)
    n_zero_peak = 0 if zero_peak is None else int(zero_peak.sum())
    dm, excluded = _data_matrix(s, n_components, navigation_mask, signal_mask, executor, progress)
    excluded["zero_peak_channels"] = n_zero_peak
    auto_poisson = poisson is None
    if auto_poisson:
        poisson = s.dtype.kind in "biu" or bool(s.metadata.get("Signal", {}).get("counts", False))
    poisson, m = bool(poisson), min(dm.n_pixels, dm.n_channels)
    n_pca = int(n_components) if isinstance(n_components, int | np.integer) else min(m, DEFAULT_MAX_COMPONENTS)
    solver_asked = solver
    solver = _solver(solver, meth, n_components, dm, centre)
    # floats turn out counts only at the statistics read (whole numbers): its randomized first sketch then takes
    # both weightings, so that the same counts as integers and as floats run the same products
    sketch_poisson = None if auto_poisson and not poisson and s.dtype.kind == "f" else poisson
    sketches = _read(dm, solver, n_pca, oversample, seed, sketch_poisson, centre)
    if auto_poisson and mask_hot_channels is not True and not dm.sums.n_nonfinite:
        # _check_values's refusal, before _resolve_poisson warns that the weighting is off and to pass poisson=False:
        # advice of no use to a method that refuses the data anyway (the same data reach _check_values unchanged)
        _refuse_negative(meth, dm.sums)
    poisson, poisson_note = _resolve_poisson(s, dm, poisson, auto_poisson, solver)
    hot = _hot_channels(s, dm, poisson, mask_hot_channels, solver, _kept_zero_peak(s, mask_zero_peak, eds))
    if hot.size and solver != "single_pass":  # read again without them: every sum and sketch must leave them out
        signal_mask = _excluding(s, signal_mask, hot)
        dm = _data_matrix(s, n_components, navigation_mask, signal_mask, executor, progress)[0]
        sketches = _read(dm, solver, n_pca, oversample, seed, sketch_poisson, centre)
    excluded["hot_channels"] = [int(i) for i in hot] if solver != "single_pass" else []
    _check_values(s, dm, meth, poisson, n_components, centre, n_zero_peak)
    saturated = _saturation_note(s, dm)
    dm.configure(poisson=poisson, centre=bool(centre))
    rank_needed = n_components == "auto" or (n_components is None and meth.auto_rank)
    rank_sel = rank_channels(dm.sums.col_sums, poisson) if poisson and not centre else None
    solver_note, simulate_noise = None, poisson
    if (solver == "gram" and poisson and not centre
            and (dm.n_channels if rank_sel is None else int(rank_sel.sum())) < MIN_RANK_CHANNELS):
        # no rank can be estimated (_rank says so): the noise spectrum, and the scree where only the rank wanted it,
        # would be thrown away (the Velox example map, 128 x 128 x 4096 with 2 counts outside the strobe peak:
        # 95 s of eigh on a loaded machine)
        simulate_noise, solver_note = False, "too few counts for a rank estimate: no noise spectrum simulated"
        if rank_needed and solver_asked == "auto":  # an explicit "gram" keeps its exact scree
            solver, n_pca = "randomized", 1
            solver_note = "too few counts for a rank estimate: no scree computed"
    power = _power_iterations(n_iter, meth)
    pca_result, info = _pca(dm, solver, n_pca, seed, simulate_noise, power, oversample, sketches, rank_sel)
    if solver_note:
        info["solver_note"] = solver_note
    rank, evidence, rank_info = _rank(dm, pca_result, solver, rank_sel, rank_needed, seed,
                                      lambda: _zero_peak_counts(s, zero_peak))
    per_value = (_sparse_counts_per_value(s, dm, evidence, rank_sel, navigation_mask)
                 if (rank_needed or n_components is None) and rank else None)
    if per_value is not None and rank_needed:
        _note_binned_rank(s, rank, rank_info, float(np.mean(dm.sums.row_sums)), per_value, seed, signal_mask,
                          executor)
    elif per_value is not None:
        # the whole scree reports a rank it does not use: its doubts are recorded, not warned (_rank_note), and the
        # binned map is not read for it (+25-39 % on a sparse 128 x 128 x 2048 map) -- but a reader of its rank is
        # told where it may fall short (a new user's three layers at 5 counts/pixel: rank 2 of 3, nothing said)
        _rank_note(rank_info, False, f"{per_value:.2g} counts per value in the rank's channels: the single pixels' "
                   "rank may miss components that the map binned shows; n_components='auto' also reads it binned "
                   "2 x 2 and says so")
    k = min(n_pca, pca_result.factors.shape[1])
    if not rank_needed and k < n_pca:
        # the sketch keeps only the directions the data hold: a noise-free cube of two phases gave 2 components for
        # k = 4 (the Gram route returns 4, two of them null), said only by params["n_components_used"]
        note = (f"{n_pca} components asked, but the data hold only {k} independent direction(s) (noise-free or "
                f"rank-deficient): {k} fitted")
        warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)
        info["components_dropped"] = note
    if rank_needed:
        k = max(1, min(rank, pca_result.factors.shape[1]))
        if rank > k:
            _note_cut(s, info, rank, k)
        cap = meth.max_components(dm.n_pixels)
        if cap is not None and k > cap:  # an automatic rank the method would refuse: the most it can fit
            note = (f"automatic rank {k} capped at {cap}: {meth.name} fits at most {cap} component(s) to "
                    f"{dm.n_pixels} pixels")
            warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)
            k = cap
            info["rank_capped"] = f"{info['rank_capped']}; {note}" if "rank_capped" in info else note
    if not rank_needed and meth.separates and poisson and not centre:
        n_rank_ch = dm.n_channels if rank_sel is None else int(rank_sel.sum())
        rank, evidence = _note_weak_components(
            s, info, pca_result, k, rank, evidence, solver,
            lambda: _estimate(dm, pca_result, solver, rank_sel, n_rank_ch, seed, {}))
    _note_energy_shift(s, info, dm, pca_result.factors[:, :k], bool(centre), rank_needed,
                       rank if n_components is None and not rank_needed else None)
    if saturated:
        info["saturated_values"] = saturated
    info = {"solver": solver, "rank_estimate": None if rank is None else int(rank),
            "rank_method": (evidence or {}).get("method"), "poisson": poisson_note, **rank_info, **kind_info} | info
    groups = None
    if meth.uses_pure_pixels:
        sigma = vca.noise_level(pca_result.trace, pca_result.eigenvalues, k, dm.n_pixels, dm.n_channels)
        idx, groups = vca.pure_pixel_groups(pca_result.scores[:, :k], k, sigma, seed=seed)
        # a lone vertex pixel pushed past its phase's cloud by its noise (issue 17): regrown where its counts agree
        groups = regrown_lone_groups(dm, pca_result.scores[:, :k], idx, groups, sigma)
        info["endmember_pixels"] = np.asarray(idx)
    mean_spec = None if dm.mean is None else dm.expand_channels(dm.mean * dm.root_bh)
    mean_scale = None if dm.mean is None else dm.expand_pixels(dm.root_ag)
    ctx = Context(dm, pca_result, k, seed, groups, eds)
    factors, loadings, method_info = meth.fit(ctx)

    def configure():  # the matrix's weighting as for the first fit, before a fit again (a method may change it)
        dm.configure(poisson=poisson, centre=bool(centre))

    if groups is not None and not meth.endmembers_are_pure_pixels:
        # groups climbed off a pure region into its denser border, where the first groups' evidence allows
        ctx, (factors, loadings, method_info) = refit_on_held_groups(
            meth, ctx, idx, sigma, (factors, loadings, method_info), configure=configure)
    if groups is not None and pure_pixels_refused(method_info):
        if meth.endmembers_are_pure_pixels:
            # VCA's endmembers are its groups, and its result stays what they give: refitted on the map's groups, 5
            # of 63 cubes moved, by -0.09 to +1.56 degrees (low-count grains; measured 2026-12-04): too mixed to
            # change its default; again on 7 pure-pixel scenes whose groups were refused (EELS oxide columns at
            # 200-300 counts/pixel, EELS grains at 20-50; 2026-12-07): the median angle better on all 7 (by 0.8-4.3),
            # the worst worse on 3 (by 1.2-3.8), where the map's groups split one phase and join two. Said instead,
            # and as the data's lack only where the map's groups fail too
            layout = PixelLayout.of(dm)
            # a line scan is judged along its line (.purity.line_end): its verdict, a component that reaches its
            # vertex only at a smooth maximum, is said (issue 17's line grid: five never-pure interphases, VCA
            # 18.9-33.5 degrees from the truth at worst, NMF 7.6-21.6; and a pure thin layer at 200 counts/pixel,
            # 12 pixels read as a smooth maximum, VCA 15.6, NMF 14.2), not the single pixels' refusal of a
            # 240-pixel line, a small map's (VCA refused 23 of the 24 line scans at 20 counts/pixel, pure layers
            # among them)
            line = layout.judged_as_line and "line_plateau_fractions" in (method_info.get("pure_pixel_regions") or {})
            shown, judgeable = None, layout.judgeable or line
            # faint groups are said as such; where no warning could be said (k, the map's size) the map's groups
            # would change nothing
            if ("group_counts" not in (method_info.get("pure_pixel_evidence") or {})
                    and k <= WARNED_MAX_COMPONENTS and judgeable):
                shown, method_info["pure_pixel_groups"] = map_shows_pure_regions(ctx, sigma)
            _warn_no_pure_pixels(s, meth, method_info, k, judgeable, shown, line=layout.judged_as_line)
        else:
            refit, note = refit_on_map_groups(meth, ctx, sigma, (factors, loadings, method_info), configure=configure)
            if refit is None:
                method_info["pure_pixel_groups"] = note
            else:
                idx, factors, loadings, method_info = refit
                info["endmember_pixels"] = np.asarray(idx)
    _warn_not_converged(meth, method_info)
    _warn_spectra_end_assumed(s, method_info)
    if meth.nonnegative:
        _warn_empty_components(s, meth, factors, loadings, method_info)
    if meth.nonnegative and poisson:
        _warn_single_count_components(s, factors, dm.sums.col_sums, method_info)
    params = {"n_components": int(n_components) if isinstance(n_components, np.integer) else n_components,
              "poisson": poisson, "seed": int(seed), "centre": bool(centre), "solver": solver, **excluded,
              "n_components_used": int(k), **meth.params()}
    factors = dm.expand_channels(np.ascontiguousarray(factors))
    if zero_peak is not None:
        factors[zero_peak] = 0.0  # the strobe peak is not modelled: 0, not the NaN of a user's mask
    return Decomposition(
        method=meth.name, params=params, factors_array=factors,
        loadings_array=dm.expand_pixels(np.ascontiguousarray(loadings)), mean_spectrum=mean_spec,
        mean_scale=mean_scale, info=info | method_info, nav_axes=list(s.axes[: s.nav_ndim]),
        sig_axes=list(s.axes[s.nav_ndim :]), eigenvalues=pca_result.eigenvalues, trace=pca_result.trace,
        n_pixels=dm.n_pixels, n_channels=dm.n_channels, rank_evidence=evidence, signal_type=s.signal_type,
        metadata=dict(s.metadata), history=list(s.history), title=s.title, lazy=s.is_lazy,
    )


def _zero_peak_mask(s: Signal, signal_mask, mask_zero_peak: bool | None, eds: bool, info: dict):
    """The signal mask with the EDS zero-energy peak (channels below :data:`ZERO_PEAK_KEV`) added, and the flat
    mask of the channels that masked beyond the user's own mask (None: none). ``eds``: :func:`.eds_kind`'s; where
    no signal type says EDS, only where the data show the peak (:func:`.strobe_peak_shown`, said in
    ``info["zero_peak_reason"]``)."""
    if mask_zero_peak is False or s.sig_ndim != 1 or (mask_zero_peak is None and not eds):
        return signal_mask, None
    if mask_zero_peak is None and not s.signal_type:
        shown, info["zero_peak_reason"] = strobe_peak_shown(s, s.sig_axes[0], ZERO_PEAK_KEV)
        if not shown:
            return signal_mask, None
    ax = s.sig_axes[0]
    low = zero_peak_channels(ax)
    if low is None:
        if mask_zero_peak:
            raise ValueError(f"mask_zero_peak=True needs an energy axis in keV or eV; {ax.name!r} is in "
                             f"{ax.units or 'no unit'!r}")
        return signal_mask, None
    if not low.any():
        return signal_mask, None
    if signal_mask is None:
        user = np.zeros(s.sig_shape, dtype=bool)
    else:
        user = np.asarray(_mask_numbers(signal_mask))
        if user.dtype != bool or user.size != low.size:
            return signal_mask, None  # _keep_mask reports the user's mask error
        user = user.reshape(low.shape)
    extra = low & ~user
    return user | low, (extra if extra.any() else None)


def _kept_zero_peak(s: Signal, mask_zero_peak: bool | None, eds: bool) -> np.ndarray | None:
    """The flat mask of the EDS zero-peak channels a user keeps (``mask_zero_peak=False`` on EDS data), which the
    hot-channel search must leave alone; None elsewhere."""
    if mask_zero_peak is not False or not eds or s.sig_ndim != 1:
        return None
    low = zero_peak_channels(s.sig_axes[0])
    return None if low is None else low.reshape(-1)


def _hot_channels(s: Signal, dm: DataMatrix, poisson: bool, mask: bool | None, solver: str,
                  kept: np.ndarray | None = None):
    """The flat indices of the hot channels to leave out (:mod:`.hot_channels`), said in a warning; none unless
    asked for or, by default, for Poisson-weighted data with one signal axis. ``kept``: channels never called hot
    (:func:`_kept_zero_peak`)."""
    if mask is False or (mask is None and not (poisson and s.sig_ndim == 1)):
        return np.zeros(0, dtype=np.int64)
    if s.sig_ndim != 1:
        raise ValueError(f"mask_hot_channels=True needs one signal axis; {s!r} has {s.sig_ndim}")
    st = dm.sums
    hot = find_hot_channels(st.col_sums, st.col_sq, dm.n_pixels, dm.keep_channels)
    if kept is not None:
        # a strobe peak in one channel counts at a steady rate in every pixel, as a hot channel does: kept as
        # asked, not left out as NaN in every factor
        hot = hot[~kept[hot]]
    if hot.size:
        ax = s.sig_axes[0]
        where = ", ".join(f"{int(i)} ({float(ax.values[i]):.4g} {ax.units})".replace(" )", ")") for i in hot[:8])
        more = f" and {hot.size - 8} more" if hot.size > 8 else ""
        done = ("cannot be left out by the single-pass solver, which reads the data once: pass them as a "
                "signal_mask" if solver == "single_pass" else
                "left out of the separation (NaN in the factors; mask_hot_channels=False keeps them)")
        warnings.warn(f"decompose {s!r}: channel(s) {where}{more} count in every pixel at a steady rate, at least "
                      f"{SPIKE_RATIO:g} times their neighbours (a hot detector channel): {done}",
                      UserWarning, stacklevel=4)
    return hot


def _excluding(s: Signal, signal_mask, channels: np.ndarray) -> np.ndarray:
    """The signal mask (numpy order, ``True`` = excluded) with ``channels`` (flat indices) added."""
    out = np.zeros(int(np.prod(s.sig_shape)), dtype=bool)
    if signal_mask is not None:
        out |= np.asarray(_mask_numbers(signal_mask), dtype=bool).reshape(-1)
    out[channels] = True
    return out.reshape(s.sig_shape)


def _resolve_poisson(s: Signal, dm: DataMatrix, poisson: bool, auto: bool, solver: str) -> tuple[bool, str]:
    """The Poisson weighting actually used, and why (``info["poisson"]``): automatic weighting is switched off,
    with a warning, for data with negative values (not counts any more), and on for floats that are all whole
    non-negative numbers (counts stored as floats: without the weighting their automatic rank counted noise, 43-114
    components of a rank-3 cube). The single-pass solver has decided at its one read."""
    st = dm.sums
    negative = (f"off: {st.n_negative} negative value(s) (minimum {st.minimum:g}), the data are no longer "
                "counts (a subtracted background?); Poisson weighting would be wrong")

    def refused():  # data that would be taken as counts but for their negative values: said, not silent
        warnings.warn(f"decompose {s!r}: Poisson weighting {negative}. Pass poisson=False to silence this.",
                      UserWarning, stacklevel=5)
        return False, negative

    if not poisson:
        whole = auto and s.dtype.kind == "f" and solver != "single_pass" and not st.n_fractional and \
            not st.n_nonfinite
        if whole and not st.n_negative and float(np.sum(st.col_sums)) > 0:
            return True, "on (automatic: whole numbers, counts stored as floats)"
        scaled = auto and s.dtype.kind == "f" and solver != "single_pass" and not st.n_nonfinite and \
            np.isfinite(st.quantum) and not st.n_negative
        if scaled:
            # counts times a gain (1.37: a rank of 52 components for 3 phases without the weighting); the weighting
            # does not change with a scale, and the rank's dispersion test measures the gain
            return True, f"on (automatic: every value a whole multiple of {st.quantum:.6g}, scaled counts)"
        if whole and st.n_negative:
            return refused()
        if auto and s.dtype.kind == "f" and solver == "single_pass":
            return False, "off (automatic: floats; the single-pass solver decides at its one read, before it can see "\
                          "whether they are whole numbers: pass poisson=True for counts)"
        if auto and st.n_negative:  # background-subtracted spectra (floats): said, as the README promises
            return refused()
        return False, "off" + ("" if not auto else " (automatic: not integer counts)")
    if auto and st.n_negative:
        return refused()
    return True, "on" + (" (automatic: counts)" if auto else "")


SATURATED_SHARE = 1e-4  # values at an 8/16-bit ceiling above this share of the data are said (a saturated detector)


def _saturation_note(s: Signal, dm: DataMatrix) -> str | None:
    """A warning, and its text for ``info``, where many values sit at the ceiling of an 8- or 16-bit integer: the
    counts were clipped there (a saturated detector, or an export that clipped), so they are neither counts nor the
    linear mixture the methods assume. A review's uint8 cube with 7.5 % of its values at 255 gave an automatic rank
    of 8 for 3 phases and NMF spectra 16.9 degrees from the truth (0.4 unclipped), with nothing said."""
    ceiling, n = saturation_ceiling(s.dtype), dm.sums.n_at_ceiling
    if ceiling is None or n <= SATURATED_SHARE * dm.n_pixels * dm.n_channels:
        return None
    note = (f"{n} value(s) ({100.0 * n / (dm.n_pixels * dm.n_channels):.3g} %) sit at {ceiling}, the largest a "
            f"{s.dtype} holds: the detector or the export saturated, and clipped values are neither counts nor a "
            "linear mixture (the rank and the components are then wrong); record below saturation, or leave those "
            "pixels out (navigation_mask)")
    warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)
    return note


EDGE_BAND = 0.05  # a last component kept within this share above the noise threshold is flagged
IMPLAUSIBLE_RANK_SHARE = 0.5  # a Marchenko-Pastur rank above this share of min(pixels, channels) is flagged


def _zero_peak_counts(s: Signal, zero_peak) -> float:
    """The counts in the channels the zero-peak mask took (0 where it took none): read again, only where the
    counts left are too few for a rank, to say whether binning can help."""
    if zero_peak is None:
        return 0.0
    idx = np.flatnonzero(zero_peak)
    total = s.data[..., idx].sum(dtype=np.float64)
    return float(total.compute() if hasattr(total, "compute") else total)


def _rank(dm: DataMatrix, result, solver: str, rank_sel, rank_needed: bool, seed, zero_peak_counts=None):
    """(rank, evidence, info) from the spectrum. Poisson data: the parallel analysis on the well-populated
    channels (:func:`.rank.rank_channels`), the same numbers from every solver (randomized / single-pass compute
    that subset's exact spectrum when the rank is needed; with a given ``n_components`` they report none).
    ``zero_peak_counts()``: the counts the zero-peak mask took, asked for only where too few are left."""
    info: dict = {}
    poisson = dm.row_scale is not None and dm.mean is None
    n_rank_ch = dm.n_channels if rank_sel is None else int(rank_sel.sum())
    if poisson:
        info["rank_channels"] = n_rank_ch
    if poisson and n_rank_ch < MIN_RANK_CHANNELS:
        advice = suggest_binning(dm.sums.col_sums, dm.sums.row_sums)
        # with a given n_components too: no rank can be seen, and the components are single counts and noise
        what = "a rank estimate" if rank_needed else "a separation (its components are mostly noise)"
        msg = (f"too few counts for {what}: {n_rank_ch} channel(s) hold at least {MIN_CHANNEL_COUNTS} "
               f"counts (mean {float(np.mean(dm.sums.row_sums)):.3g} counts per pixel); bin the data, e.g. "
               f"{advice} (Signal.rebin)")
        left = float(np.sum(dm.sums.row_sums))
        taken = zero_peak_counts() if zero_peak_counts is not None else 0.0
        if taken > left:
            # the Velox example map: 11 091 of its 11 093 counts in the strobe peak; binning moves none out of it
            hopeless = left < MIN_CHANNEL_COUNTS * MIN_RANK_CHANNELS  # no binning gives enough channels enough counts
            msg = (f"too few counts for {what}: the EDS zero-energy (strobe) peak, masked, held {taken:.6g} of the "
                   f"{taken + left:.6g} counts, and {left:.6g} are left elsewhere ({n_rank_ch} channel(s) with at "
                   f"least {MIN_CHANNEL_COUNTS}); "
                   + ("binning adds nothing to the lines: the map holds almost no X-ray signal to separate"
                      if hopeless else f"bin the data, e.g. {advice} (Signal.rebin)")
                   + " (mask_zero_peak=False would separate the detector's peak, not the sample)")
        warnings.warn(msg, UserWarning, stacklevel=4)
        info["rank_warning"] = msg
        return 0, {"method": "too-few-counts", "eigenvalues": result.eigenvalues, "rank_channels": n_rank_ch}, info
    if poisson and solver != "gram" and not rank_needed:
        return None, {"method": "not-estimated", "eigenvalues": result.eigenvalues}, info
    rank, ev = _estimate(dm, result, solver, rank_sel, n_rank_ch, seed, info)
    m = min(dm.n_pixels, dm.n_channels)
    if poisson and rank == 0:
        # not even the mean spectrum stands above the noise, though enough channels passed the too-few-counts test
        # (EDS at 1 count/pixel: 26 channels with 8 counts)
        _rank_note(info, rank_needed, f"no component stands above the noise (rank estimate 0; mean "
                   f"{float(np.mean(dm.sums.row_sums)):.3g} counts per pixel): bin the data, e.g. "
                   f"{suggest_binning(dm.sums.col_sums, dm.sums.row_sums)} (Signal.rebin)")
    if ev.get("method") == "elbow":
        # a handful of values without Poisson weighting: no noise bulk and no simulated edge, only the scree's bend
        # poisson=True is offered only where it would run: data with negative values are refused it
        counts = ", or pass poisson=True for counts" if not dm.sums.n_negative else ""
        _rank_note(info, rank_needed, f"the rank estimate {rank} is the scree's elbow, not a noise edge: {m} "
                   f"eigenvalue(s) leave no noise bulk to measure (choose n_components from the scree{counts})")
    simulated_edge = str(ev.get("method", "")).startswith("parallel-analysis")
    lam, thr = np.asarray(ev.get("eigenvalues", [])), ev.get("threshold")
    if simulated_edge and thr and 0 < rank <= len(lam) and lam[rank - 1] < thr * (1 + EDGE_BAND):
        # the last component kept stands within the spread of the noise's own top eigenvalue over its edge: on 384
        # ground-truth cubes of 8 x 8 and 12 x 12 pixels this band held all 3 over-counts and 6 of the 365 right ranks
        _rank_note(info, rank_needed, f"the rank estimate {rank} is at the noise edge: component {rank} stands only "
                   f"{lam[rank - 1] / thr:.3f} x above the threshold (the noise's own top eigenvalue varies by about "
                   f"{EDGE_BAND:.0%}): it may be {rank - 1}; compare both (scree plot)")
    if not simulated_edge and m >= 8 and _implausible(rank, m, weighted=dm.row_scale is not None):
        # Without Poisson weighting the edge assumes one noise level for every entry; noise that follows the
        # signal (counts with an offset, a detector gain) leaves no Marchenko-Pastur bulk and nearly every
        # eigenvalue passes (the MonoCL line scan: 66 of 67)
        # Nor is a noise edge left to measure where the data hold no noise (a noise-free model, a reconstruction:
        # 513 and 514 of a rank-3 cube, a reviewer) or noise that follows the signal (counts plus read noise: 209).
        # The scree's elbow (the first point of its flat part, HyperSpy's estimate_elbow_position) found 3 on all
        # three: it is used instead, and said
        edge_rank, rank = rank, max(1, elbow(np.asarray(ev.get("eigenvalues", []))))
        # the edge's threshold is not the elbow's: kept under its own name, so that no scree draws it as the line
        # that decided the rank (172 of 253 eigenvalues above it for an elbow of 7, a review)
        ev = ev | {"method": "elbow", "noise_edge_rank": int(edge_rank), "noise_edge_threshold": ev.get("threshold"),
                   "threshold": None}
        _rank_note(info, rank_needed, f"the noise-edge rank estimate {edge_rank} of at most {m} is implausible: the "
                   "noise of these data is not the same for every value, or there is none (the Marchenko-Pastur "
                   f"edge assumes one level); the scree's elbow, {rank}, is used instead. If they are counts (also "
                   "scaled by a gain, or with an offset: remove it), decompose with poisson=True; else check "
                   "n_components on the scree")
    return rank, ev, info


# Mean counts per value of the rank's channels below which the map is tried binned 2 x 2 for more components: there
# over 95 % of the non-zero values are single counts, whose Poisson-weighted eigenvalues crowd at the noise edge.
# Measured (2026-12-04; EDS blob and gradient mixtures and pure-patch cubes, ranks 2-4, 64 x 64 and 96 x 96 pixels,
# 2048-4096 channels): the rank was short of the truth in 10 of 16 cubes at 2-30 counts/pixel (0.003-0.028 a value),
# the 2 x 2 binned rank nearer the truth in 8 of them and never above it; right in all 8 at 100-300 (0.045-0.17).
# On 80 more (ranks 2-4, 32-96 pixels a side, 1024-4096 channels, 3-60 counts/pixel) the binned rank was above the
# single pixels' in 20, never above the truth
SPARSE_VALUE_COUNTS = 0.1
BINNED_MIN_SIDE = 16  # pixels a side before binning: 8 x 8 binned pixels at least
# 2 x 2 first; 4 x 4 where that shows no more and its values are still sparse: single pixels at 3-6 counts/pixel
# over 2048 channels read 1 of 3 phases, binned 2 x 2 2 at the noise edge (1.002-1.04 x), 4 x 4 2 clear of it
BINNED_SCALES = (2, 4)
_binned_probe = ContextVar("binned_probe", default=False)  # inside the probe's own decompose: no probe of the probe


def _sparse_counts_per_value(s: Signal, dm: DataMatrix, evidence: dict, rank_sel, navigation_mask) -> float | None:
    """The mean counts per value of the rank's channels where the map is to be asked binned for its rank
    (:func:`_note_binned_rank`): a simulated noise edge on sparse counts (:data:`SPARSE_VALUE_COUNTS`) of a full 2-D
    scan in memory, at least :data:`BINNED_MIN_SIDE` pixels a side; else None."""
    if _binned_probe.get() or not str((evidence or {}).get("method", "")).startswith("parallel-analysis"):
        return None
    if s.nav_ndim != 2 or min(s.nav_shape) < BINNED_MIN_SIDE or navigation_mask is not None or is_sparse_scan(s):
        return None
    if s.is_lazy:  # the probe would read the data once more (a review: +24-46 % on lazy cubes of 8-30 counts/pixel)
        return None
    sel = np.ones(dm.n_channels, dtype=bool) if rank_sel is None else np.asarray(rank_sel, dtype=bool)
    per_value = float(np.sum(dm.sums.col_sums[sel])) / max(dm.n_pixels * int(sel.sum()), 1)
    return per_value if per_value < SPARSE_VALUE_COUNTS else None


def _note_binned_rank(s: Signal, rank: int, info: dict, per_pixel: float, per_value: float, seed, signal_mask,
                      executor) -> None:
    """Where the map binned 2 x 2 -- or, where that shows no more and its values are still sparse
    (``per_value`` times 4 under :data:`SPARSE_VALUE_COUNTS`), 4 x 4 (:data:`BINNED_SCALES`) -- shows more
    components than its single pixels, a warning, and ``info["rank_binned"]``: the binned rank, and the counts per
    pixel (``per_pixel``: those of the decomposed channels) both ways. The rank used stays the single pixels'
    (binning mixes neighbouring pixels, and the user decides whether the map may be coarser)."""
    for scale in BINNED_SCALES:
        if scale > 2 and (min(s.nav_shape) < scale * BINNED_MIN_SIDE // 2
                          or per_value * (scale // 2) ** 2 >= SPARSE_VALUE_COUNTS):
            return  # 8 x 8 binned pixels at least; where the coarser step's values are no longer sparse, it is not
        if _binned_rank_note(s, rank, info, per_pixel, scale, seed, signal_mask, executor):
            return


def _binned_rank_note(s: Signal, rank: int, info: dict, per_pixel: float, scale: int, seed, signal_mask,
                      executor) -> bool:
    """:func:`_note_binned_rank` at one ``scale``: whether the map binned ``scale x scale`` showed more. The probe
    takes the randomized route, which computes the rank's channel subset exactly (the same rank as the exact route)
    without the full scree."""
    factors = [scale] * s.nav_ndim + [1] * s.sig_ndim
    token = _binned_probe.set(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the probe's own notes are about the binned map, not the user's
            probe = decompose(s.rebin(factors, crop=True), "pca", n_components="auto", poisson=True, seed=seed,
                              solver="randomized", n_iter=1,
                              signal_mask=signal_mask, mask_zero_peak=False, mask_hot_channels=False,
                              executor=executor)
    finally:
        _binned_probe.reset(token)
    # counted only where they stand clear of the binned map's noise edge (EDGE_BAND): a 48 x 48 pure-patch cube of
    # rank 3 at 30 counts/pixel read 4 binned, its fourth eigenvalue 1.0003 x the threshold
    ev = probe.rank_evidence or {}
    lam, thr = np.asarray(ev.get("eigenvalues", [])), ev.get("threshold")
    estimate = int(probe.info.get("rank_estimate") or 0)
    binned = estimate
    if thr and lam.size:
        binned = min(binned, int(np.count_nonzero(lam[:binned] > thr * (1 + EDGE_BAND))))
    if binned <= rank:
        return False
    binned_per_pixel = scale * scale * per_pixel
    # the binned map's own estimate, as decompose of s.rebin(...) gives it (the rank said was the clear count: 2
    # where the user's binned map read 3, its third at 1.02 x the threshold, a review), and how many stand clear
    info["rank_binned"] = {"scale": [scale, scale], "rank": estimate, "clear_of_edge": int(binned),
                           "counts_per_pixel": round(per_pixel, 3),
                           "binned_counts_per_pixel": round(binned_per_pixel, 3)}
    clear = "" if binned == estimate else f", {binned} of them clear of its noise edge"
    # a faint phase, or a variation of one that the counts of single pixels hide (a review: absorption that grows with
    # thickness read 2 -> 3 at 77 counts/pixel; a detector channel firing in a fifth of the pixels, 4 -> 5)
    msg = (f"the rank estimate is {rank} at {per_pixel:.3g} counts per pixel, and {estimate} with the map binned "
           f"{scale} x {scale} ({binned_per_pixel:.3g} counts per pixel{clear}): the map holds more than single "
           "pixels show "
           "(a faint phase, or a variation of one: thickness, absorption, a detector channel); compare "
           f"n_components={estimate} on the scree, or bin it with s.rebin(scale={tuple(factors)})")
    _rank_note(info, True, msg)
    return True


def _implausible(rank: int, m: int, weighted: bool) -> bool:
    """Whether a Marchenko-Pastur rank (no simulated noise edge) of a matrix of ``m = min(pixels, channels)`` is no
    rank at all. Above :data:`IMPLAUSIBLE_RANK_SHARE` of ``m``: nearly every eigenvalue passed. Without Poisson
    weighting also above :data:`DEFAULT_MAX_COMPONENTS` (the most components an automatic rank keeps): on
    ground-truth counts (2-5 phases, 32 x 32 x 256 and 48 x 48 x 512, 20-20000 counts/pixel, EDS and EELS, and
    the same counts x 1.37) the unweighted rank was 33-505, only some of them above half of ``m``, while white
    noise added to the same cubes gave 1-5 (the weighted counts' ranks) and 3-30-component scenes in white noise
    at most their true rank."""
    return rank > IMPLAUSIBLE_RANK_SHARE * m or (not weighted and rank > DEFAULT_MAX_COMPONENTS)


def _estimate(dm: DataMatrix, result, solver: str, rank_sel, n_rank_ch: int, seed, info: dict) -> tuple[int, dict]:
    """(rank, evidence) from whichever spectrum holds the rank: the rank channels' exact spectrum (computed here on
    the randomized / single-pass routes), else the PCA's own. Where the channels' noise dispersions spread (a
    per-channel gain, :class:`.rank.ChannelGains`) the evidence says so: ``channel_dispersion``, ``channel_note``."""
    rank, ev, gains = _estimate_from(dm, result, solver, rank_sel, n_rank_ch, seed, info)
    if gains is not None:
        ev = ev | {"channel_dispersion": gains.evidence(), "channel_note": gains.note()}
    return rank, ev


def _estimate_from(dm: DataMatrix, result, solver: str, rank_sel, n_rank_ch: int, seed, info: dict):
    poisson = dm.row_scale is not None and dm.mean is None
    if poisson and solver != "gram":
        if n_rank_ch > GRAM_MAX_CHANNELS and dm.n_pixels > GRAM_MAX_CHANNELS:
            info["rank_warning"] = (f"{n_rank_ch} channels: the exact rank spectrum is too big; Marchenko-Pastur "
                                    "on the top eigenvalues instead")
        else:
            sub = _rank_subset(dm, rank_sel, seed)
            result = pca.gram_pca(sub, 0, noise_seed=seed)
            rank, ev = estimate_rank(result.eigenvalues, sub.n_pixels, sub.n_channels,
                                     noise_top=float(result.noise_eigenvalues[0]), noise_trace=result.noise_trace,
                                     levels=result.levels)
            return rank, ev | {"rank_channels": n_rank_ch}, result.channel_gains
    if result.rank_eigenvalues is not None:
        rank, ev = estimate_rank(result.rank_eigenvalues, dm.n_pixels, n_rank_ch, noise_top=result.rank_noise_top,
                                 noise_trace=result.rank_noise_trace, levels=result.levels)
        return rank, ev | {"rank_channels": n_rank_ch, "all_eigenvalues": result.eigenvalues}, result.channel_gains
    noise_top = None if result.noise_eigenvalues is None else float(result.noise_eigenvalues[0])
    rank, ev = estimate_rank(result.eigenvalues, dm.n_pixels, dm.n_channels, noise_top=noise_top,
                             trace=None if solver == "gram" else result.trace, noise_trace=result.noise_trace,
                             levels=result.levels)
    return rank, ev, result.channel_gains


def _note_cut(s: Signal, info: dict, rank: int, k: int) -> None:
    """An automatic rank above the components computed (:data:`DEFAULT_MAX_COMPONENTS`, or min(pixels, channels))
    is cut to them: said, and recorded in ``info["rank_capped"]`` (before, the result just had fewer components
    than ``info["rank_estimate"]``)."""
    note = f"automatic rank {rank} cut to the {k} components computed (at most {DEFAULT_MAX_COMPONENTS})"
    warnings.warn(f"decompose {s!r}: {note}; pass n_components to keep more", UserWarning, stacklevel=5)
    info["rank_capped"] = note


# The randomized route's screen for a given k above the rank: its k-th component below this times the sketch's last
# eigenvalue (the noise where the data hold fewer components) sends it to the rank estimate. Measured over 108 cubes
# (EDS/EELS, ranks 2-4, 20-2000 counts/pixel, pure and mixed, 48^2-96^2 pixels), two power iterations: a noise
# component stood at most 1.25 x the last, a clearly detectable one at least 1.46; weak components the noise edge
# still finds 1.16-1.29 (so the ratio alone cannot judge); the real Bruker map's nine components 2.4-500, its tenth 1.24
WEAK_RATIO = 1.3


def _note_weak_components(s: Signal, info: dict, result, k: int, rank, evidence, solver: str, estimate):
    """A given ``n_components`` above the rank estimate (the simulated noise edge of ``n_components="auto"``):
    said, and recorded in ``info["weak_components"]``. A rank-2 map with a third phase C = (A + B) / 2, k = 3:
    NMF's phase map agreed with the truth at ARI 0.42 (MCR 0.11) against 1.0 at k = 2, without a word. The exact
    route has the estimate; the randomized route computes it (``estimate()``, the exact spectrum of the rank
    channels: the cost of ``"auto"``) only where its own sketch puts the k-th component near the noise
    (:data:`WEAK_RATIO`). Returns (rank, evidence), the estimate computed here where there was none."""
    if rank == 0:  # too few counts for any estimate: said already
        return rank, evidence
    lam = np.asarray(result.eigenvalues, dtype=np.float64)
    if rank is None and solver == "randomized":
        if not (lam.size > k and lam[-1] > 0 and lam[k - 1] < WEAK_RATIO * lam[-1]):
            return rank, evidence
        rank, evidence = estimate()
    if not str((evidence or {}).get("method", "")).startswith("parallel-analysis") or not 0 < rank < k:
        return rank, evidence
    note = (f"n_components={k}, but the rank estimate is {rank} (the simulated noise edge, as "
            f"n_components='auto'): component(s) {', '.join(str(j) for j in range(rank + 1, k + 1))} do not stand "
            f"out of the noise and may split a phase or fit noise; compare n_components={rank} (scree plot)")
    warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)
    info["weak_components"] = note
    return rank, evidence


def _note_energy_shift(s: Signal, info: dict, dm: DataMatrix, factors: np.ndarray, centred: bool,
                       rank_needed: bool, rank: int | None = None) -> None:
    """Spectra shifting along energy across the map (:mod:`.energy_shift`): the share of the mean spectrum's
    derivative in the components after the first, in ``info["energy_shift_share"]``, and a warning
    (``info["energy_shift"]``) at :data:`.energy_shift.SHIFT_SHARE` or more. ``rank``: the rank estimate where the
    number of components was not chosen (PCA's ``n_components=None`` computes every one, up to 32); the share is then
    taken on the components the data hold. None where the components tested span so many of the kept channels that
    a derivative unrelated to them would reach the warning by chance (``info["energy_shift_note"]`` says so)."""
    if s.sig_ndim != 1:
        return
    st = dm.sums
    if dm.col_scale is None and not st.n_negative and not st.n_fractional and not st.n_nonfinite:
        # unweighted counts: their noise is largest on the strongest lines, where the mean's derivative lies too, so
        # the noise components past the signal hold it by chance (the tutorial's undrifted sample, poisson=False:
        # 0.96 of it in components 2-7, the elbow's rank 7; weighted, 0.02)
        info["energy_shift_share"] = None
        info["energy_shift_note"] = ("no shift test: counts decomposed unweighted (poisson=False), whose noise "
                                     "components sit on the strongest lines, where a shift's derivative lies too")
        return
    if rank is not None and 0 < rank < factors.shape[1]:
        # past the rank the components are noise, which holds the derivative only by chance: on maps without a
        # shift, PCA's 32 components read 0.68 of 64 channels, 0.51 of 128 and 1.00 of 8-32 (all of them), while
        # the estimated rank's 3 read 0.04-0.17 (review rev54)
        factors, rank_needed = factors[:, :rank], True
    first = 0 if centred else 1
    n_tested, n_channels = factors.shape[1] - first, factors.shape[0]
    chance, tail = chance_share(n_tested, n_channels), chance_tail(n_tested, n_channels)
    if n_tested > 0 and tail >= CHANCE_TAIL:
        comps = f"component {first + 1}" if n_tested == 1 else f"components {first + 1}-{factors.shape[1]}"
        info["energy_shift_share"] = None
        info["energy_shift_note"] = (
            f"no shift test: {comps} span {min(n_tested, n_channels - 1)} of the {n_channels - 1} directions beside "
            f"the mean spectrum ({n_channels} channels kept), so any spectrum's derivative lies {chance:.2f} in them "
            f"by chance, and reaches the {SHIFT_SHARE} that would warn {tail:.0%} of the time")
        return
    share = shift_share(factors, dm.sums.col_sums, dm.col_scale, dm.keep_channels, centred)
    if share is None:
        return
    info["energy_shift_share"] = round(share, 3)
    if share >= SHIFT_SHARE:
        note = shift_note(share, factors.shape[1], centred, rank_needed, s.sig_axes[0].name)
        warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)
        info["energy_shift"] = note


def _rank_note(info: dict, rank_needed: bool, msg: str) -> None:
    """A doubt about the rank: recorded in ``info["rank_warning"]``, and a warning where the rank is used."""
    if rank_needed:
        warnings.warn(msg, UserWarning, stacklevel=5)
    info["rank_warning"] = f"{info['rank_warning']}; {msg}" if info.get("rank_warning") else msg


SINGLE_CHANNEL_SHARE = 0.5  # of a component's spectrum in one channel
FEW_COUNTS = 10  # counts over the whole map in that channel


# The pure-pixel verdict is warned only where its tests are reliable: at most this many components (with more, the
# candidate groups of pure phases too spread past purity.MAX_OUTSIDE: five pure phases read 11-12 % outside) on a
# map of regions.MIN_PIXELS pixels or more (the regions' tests need it). A review (2026-12-04) of pure-pixel scenes
# of 20 x 20 to 40 x 40 pixels (EDS, EELS, grains, layers, alloys; ranks 2-5, 100-400 counts/pixel) found 25 false
# alarms in 84 runs, 20 of them at k >= 4, mostly EELS, VCA 3-13 degrees from the truth where NMF was 9-42 in some:
# none is warned under this rule
WARNED_MAX_COMPONENTS = 3


def _warn_no_pure_pixels(s: Signal, meth, info: dict, k: int, judgeable: bool, map_shows: bool | None = None,
                         line: bool = False) -> None:
    """A method whose endmembers are its pure-pixel groups (VCA) on data that do not show pure pixels there: its
    spectra are then the most extreme mixtures, not the phases (issue 17: 12-26 degrees from the truth on EDS
    mixtures of two and three phases at 200-2000 counts/pixel, where NMF got 1.9-4.5). Said, with the reason, in
    ``info["pure_pixel_warning"]`` where the verdict is reliable (:data:`WARNED_MAX_COMPONENTS`, a ``judgeable``
    map or a ``line`` scan refused by its line test, and no groups found on the map pass: ``map_shows``,
    :func:`.map_groups.map_shows_pure_regions`); elsewhere the reason says why it is not warned."""
    if k > WARNED_MAX_COMPONENTS or not judgeable or map_shows:
        # where the map's groups pass, the data show pure pixels and only the single pixels' groups missed them:
        # "the data do not show them" was said of EELS phases each pure over a quarter of the map (200 counts/pixel,
        # 1 of 4 seeds), whose spectra (2.8 / 6.8 / 4.8 degrees from the truth) were as good as the unwarned seeds'
        why = (f"{k} components (pure phases too can fail this test with more than {WARNED_MAX_COMPONENTS})"
               if k > WARNED_MAX_COMPONENTS else
               "a line scan whose single pixels refused them (warned where its line test refuses them)"
               if not judgeable and line else f"a map of fewer than {MIN_PIXELS} pixels" if not judgeable
               else "the data show pure pixels, which the single pixels' groups miss (pure_pixel_groups)")
        info["pure_pixel_reason"] = f"{info['pure_pixel_reason']}; not warned: {why}"
        return
    # a group of a few counts says nothing of the data (every pixel pure at 5 counts/pixel was "do not show them")
    faint = "group_counts" in (info.get("pure_pixel_evidence") or {})
    shown = "its pure-pixel groups hold too few counts to show them" if faint else "the data do not show them"
    note = (f"{meth.name} takes its endmembers from pure pixels, and {shown} "
            f"({info['pure_pixel_reason']}): its spectra may be mixtures of the phases; NMF or MCR fit mixtures "
            "(decompose(s, 'nmf', ...))")
    info["pure_pixel_warning"] = note
    warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)


def _warn_spectra_end_assumed(s: Signal, info: dict) -> None:
    """The spectra's end of the family (:func:`.purity.pure_channel_rotation`) taken where the data show no pure
    pixels: each component alone at a line of its own is then an assumption the channels cannot test, wrong where two
    phases share every line of one of them. Said in ``info["pure_channel_reason"]`` only, a review's metal and oxide
    (Si, SiO2, Cu mixed everywhere, 64 x 64 x 1024 EDS at 1000 counts/pixel) went unwarned with SiO2 28.6 degrees from
    the truth (MCR; NMF 36.4), stripped of its Si line, where ``pure_pixels=False`` gave 5.8. Warned, and kept in
    ``info["pure_channel_warning"]``."""
    if not info.get("pure_channel_rotation") or info.get("pure_pixel_rotation"):
        return
    held = info.get("mixed_end")
    which = "the components other than " + ", ".join(str(c) for c in held) if held else "the components"
    note = (f"the spectra of {which} were taken as each component alone at a line of its own (pure_channel_reason), "
            "as the data show no pure pixels: an assumption the channels cannot test, wrong where two phases share "
            "every line of one of them (a metal and its oxide), which it strips of that line; compare "
            "pure_pixels=False, the solver's own")
    info["pure_channel_warning"] = note
    warnings.warn(f"decompose {s!r}: {note}", UserWarning, stacklevel=4)


def _warn_single_count_components(s: Signal, factors: np.ndarray, col_sums: np.ndarray, info: dict) -> None:
    """``factors``: (kept channels, components), ``col_sums`` those channels' counts. A component that is mostly
    one channel holding a few counts over the whole map is a count, not a phase:
    on sparse counts (5 counts/pixel over 1024 channels) VCA and MCR returned such "spectra" for two of three
    components (90 degrees from the truth) without a word. Said, with the remedy, and listed in
    ``info["single_count_components"]``."""
    h = np.abs(np.asarray(factors, dtype=np.float64)).T  # (components, kept channels)
    total = h.sum(axis=1)
    peak = h.argmax(axis=1)
    share = np.divide(h[np.arange(h.shape[0]), peak], total, out=np.zeros_like(total), where=total > 0)
    bad = [int(c) for c in np.flatnonzero((share > SINGLE_CHANNEL_SHARE) & (col_sums[peak] < FEW_COUNTS))]
    if not bad:
        return
    info["single_count_components"] = bad
    said = ", ".join(f"{c} ({100 * share[c]:.0f} % in one channel of {col_sums[peak[c]]:g} counts)" for c in bad)
    warnings.warn(f"decompose {s!r}: component(s) {said} are single counts, not phases: the data hold too few counts "
                  "per channel for this many components; bin them (rebin) or ask for fewer components",
                  UserWarning, stacklevel=4)


def _warn_empty_components(s: Signal, meth: Method, factors: np.ndarray, loadings: np.ndarray, info: dict) -> None:
    """A component whose spectrum or loadings are all zero holds nothing: the fit has fewer components in effect.
    Alternating least squares can let one die (a phase in 1 % of the pixels, 4 phases of EELS at 5000 counts/pixel:
    MCR's spectrum slowly shrank to zero, with and without the pure-pixel rotation, and was returned without a word;
    NMF kept it, 1.9 degrees from the truth; MCR now restarts such a component once, :func:`.mcr.mcr_als`). Said,
    and listed in ``info["empty_components"]``."""
    f = np.abs(np.asarray(factors, dtype=np.float64)).sum(axis=0)
    w = np.abs(np.asarray(loadings, dtype=np.float64)).sum(axis=0)
    empty = [int(c) for c in np.flatnonzero((f == 0) | (w == 0))]
    if not empty:
        return
    info["empty_components"] = empty
    others = "NMF, whose Poisson loss keeps a phase of few pixels, or " if meth.name != "nmf" else ""
    warnings.warn(f"decompose {s!r}: component(s) {', '.join(map(str, empty))} of {len(f)} hold nothing (spectrum or "
                  f"loadings all zero): {meth.name} fitted {len(f) - len(empty)} in effect; a phase in few pixels can "
                  f"be lost this way: try {others}fewer components", UserWarning, stacklevel=4)


def _warn_not_converged(meth: Method, info: dict) -> None:
    """An iterative method that ran out of iterations says so (before, only ``info["converged"]`` did: the default
    NMF of the Bruker map, k = 9, stopped at 1000 without a word)."""
    if info.get("converged", True) or info.get("stopped_by", "max_iter") != "max_iter":
        return
    hist = np.asarray(info.get("loss_history", ()), dtype=float)
    change = ""
    # the solver's own last progress where it says it (NMF checks its loss every 10 iterations and appends the
    # final and a rotation's losses after the checks: their difference is no progress of the solver's)
    last, span = info.get("last_change") or (None, 1)
    if "last_change" not in info and hist.size >= 2 and np.isfinite(hist[-2:]).all() and hist[-1] != 0:
        last = abs(hist[-2] - hist[-1]) / abs(hist[-1])
    if last is not None:
        tol = getattr(meth, "tol", None)
        if tol is not None and last <= tol:  # the last update settled it; only the count ran out before the check
            return
        per = "per iteration" if span == 1 else f"between its last two loss checks, {span} iterations apart"
        change = f" (last relative change of the loss {last:.2g} {per})"
    warnings.warn(f"{meth.name} stopped at max_iter={info.get('n_iter')} before its loss settled to tol="
                  f"{getattr(meth, 'tol', None)}{change}; the result is usable but not converged: pass a larger "
                  "max_iter or tol", UserWarning, stacklevel=4)


def _rank_subset(dm: DataMatrix, rank_sel, seed) -> DataMatrix:
    """The configured matrix restricted to the rank estimate's channels (same per-pixel weights), from the
    statistics already read: no extra statistics pass."""
    from dataclasses import replace as dc_replace

    sub = DataMatrix(dm.data, dm.nav_ndim, dm.keep_pixels, dm.keep_channels, dm.executor, dm.progress)
    st = dm.sums
    if rank_sel is not None:
        keep = np.ones(dm.n_channels_total, bool) if dm.keep_channels is None else dm.keep_channels.copy()
        keep[np.flatnonzero(keep)[~rank_sel]] = False
        sub = DataMatrix(dm.data, dm.nav_ndim, dm.keep_pixels, keep, dm.executor, dm.progress)
        st = dc_replace(st, col_sums=st.col_sums[rank_sel], col_sq_over_row=st.col_sq_over_row[rank_sel],
                        col_over_sqrt_row=st.col_over_sqrt_row[rank_sel], col_sq=st.col_sq[rank_sel])
    sub.sums = st
    sub.configure(poisson=True, centre=False)
    sub.row_scale, sub.root_ag = dm.row_scale, dm.root_ag  # the per-pixel weights of the whole matrix
    return sub


def _data_matrix(s: Signal, n_components, navigation_mask, signal_mask, executor, progress):
    """The DataMatrix of the kept pixels and channels, and the numbers excluded by the masks (for the params)."""
    check_n_components(n_components)
    if s.nav_ndim == 0:
        raise DataError(f"{s!r} has no navigation axis: decomposition needs several pixels")
    given = keep_pix = _keep_mask(navigation_mask, s.shape[: s.nav_ndim], "navigation_mask")
    measured = _measured(s)
    if measured is not None:
        keep_pix = measured if given is None else given & measured
        if not keep_pix.any():
            raise DataError("navigation_mask excludes every measured pixel of the sparse scan: nothing to decompose")
    keep_ch = _keep_mask(signal_mask, s.shape[s.nav_ndim :], "signal_mask")
    dm = DataMatrix(s.data, s.nav_ndim, keep_pix, keep_ch, executor=executor, progress=progress)
    if dm.n_pixels < 2:
        raise DataError(f"navigation_mask leaves {dm.n_pixels} pixel(s); at least 2 are needed" if keep_pix is not None
                        else f"{s!r} has {dm.n_pixels} pixel: decomposition needs at least 2")
    if dm.n_channels < 2:
        raise DataError(f"signal_mask leaves {dm.n_channels} channel(s); at least 2 are needed" if keep_ch is not None
                        else f"{s!r} has {dm.n_channels} channel: decomposition needs at least 2")
    return dm, {"navigation_mask_excluded": 0 if given is None else int((~given).sum()),
                "signal_mask_excluded": 0 if keep_ch is None else int((~keep_ch).sum()),
                **({} if measured is None else {"unmeasured_excluded": int((~measured).sum())})}


def _measured(s: Signal) -> np.ndarray | None:
    """The flat 'keep' mask of a sparse scan's measured pixels (``metadata["Sampling"]``, written by
    ``sample_scan``): its unmeasured positions hold zeros that were never counted, and decomposed as spectra they
    pulled every component towards zero (a new user's 3-phase EDS scan at 20 %: SiO2 36.9 degrees from the truth,
    1.2 with the mask). None for a full scan or a reconstruction, whose every position holds a value."""
    if not is_sparse_scan(s):
        return None
    mask, nav = measured_mask(s), tuple(s.shape[: s.nav_ndim])
    if mask.shape != nav:
        raise DataError(f"{s!r} carries a scan mask of shape {mask.shape} for navigation shape {nav}: the mask no "
                        "longer fits the data (cropped or rebinned after sampling?)")
    return mask.reshape(-1)


def _solver(solver: str, meth: Method, n_components, dm: DataMatrix, centre: bool) -> str:
    """``"auto"`` resolved: randomized when ``n_components`` is a small int (below a quarter of min(pixels,
    channels): the whole scree is not wanted) and the data hold at least :data:`RANDOMIZED_MIN_VALUES` values
    (below that the exact route takes milliseconds, and its subspace is the one every method reads its pure-pixel
    groups from); otherwise
    gram when the Gram matrix of the smaller side is affordable (up to :data:`GRAM_MAX_CHANNELS` channels, or
    fewer pixels than channels within :data:`.pca.PIXEL_GRAM_MAX_BYTES`), randomized above."""
    if solver == "auto":
        pixel_side = dm.n_pixels < dm.n_channels and dm.n_pixels * dm.n_channels * 8 <= pca.PIXEL_GRAM_MAX_BYTES
        solver = "gram" if dm.n_channels <= GRAM_MAX_CHANNELS or pixel_side else "randomized"
        small_k = isinstance(n_components, int | np.integer) and 4 * int(n_components) < min(dm.n_pixels, dm.n_channels)
        if small_k and dm.n_pixels * dm.n_channels >= RANDOMIZED_MIN_VALUES:
            # a small k given: the sketch costs O(n p k), the Gram matrix O(n p min(n, p))
            solver = "randomized"
    if solver == "single_pass" and (not meth.single_pass or centre):
        raise ValueError("solver='single_pass' is for uncentred PCA (method='pca', centre=False)")
    return solver


def _read(dm: DataMatrix, solver: str, n_pca: int, oversample: int, seed, poisson: bool | None, centre: bool):
    """The statistics read (``dm.sums``); it also takes the sketches of the single-pass solver (returned) or the
    randomized solver's first sketch. ``poisson=None``: the weighting is decided by this read (floats that may be
    whole counts, :func:`_resolve_poisson`): the randomized solver's first products are taken with and without it."""
    ell = min(max(n_pca, 1) + oversample, min(dm.n_pixels, dm.n_channels))
    if solver == "single_pass":
        # A generous co-range sketch: its error term scales like sqrt(ell / (ell_co - ell)) times the noise tail.
        return dm.single_pass_sketch(ell, min(8 * ell + 1, dm.n_pixels), SINGLE_PASS_TESTS, seed, bool(poisson))
    # The randomized solver's first sketch is taken in the statistics read (one read fewer): its column space does
    # not depend on the per-channel Poisson weight, which is only known after that read. A solver that ends up not
    # using it (another k, centring) falls back to its own sketch pass.
    sketch = (ell, int(seed), poisson) if solver == "randomized" and not centre else None
    dm.statistics(sketch=sketch, nonzeros=solver == "gram")  # the Gram route's choice reads them
    return None


def _refuse_negative(meth: Method, st) -> None:
    """A non-negative method (NMF, MCR, VCA) refuses data with negative values (``st``: their sums)."""
    if meth.nonnegative and st.n_negative:
        raise DataError(
            f"{meth.name} needs non-negative data; {st.n_negative} value(s) are negative (minimum {st.minimum:g})"
        )


def _check_values(s: Signal, dm: DataMatrix, meth: Method, poisson: bool, n_components, centre: bool,
                  n_zero_peak: int = 0) -> None:
    st, m = dm.sums, min(dm.n_pixels, dm.n_channels)
    if st.n_nonfinite:
        raise DataError(f"{s!r} contains {st.n_nonfinite} NaN or infinite value(s) in the decomposed region")
    if poisson and st.n_negative:
        raise DataError(
            f"{st.n_negative} negative value(s) (minimum {st.minimum:g}) in data weighted as Poisson counts; "
            "pass poisson=False or remove the offset"
        )
    _refuse_negative(meth, st)
    # A map whose counts are all in the EDS strobe peak (an aborted or empty acquisition: the real Velox example
    # file, 11093 counts, 11091 of them below 0.1 keV) is next to empty once the peak is masked: say so
    masked = (f"after leaving out the EDS zero-energy peak ({n_zero_peak} channel(s) below {ZERO_PEAK_KEV:g} keV; "
              "mask_zero_peak=False keeps it), ") if n_zero_peak else ""
    if float(np.abs(st.col_sums).sum()) == 0 and not st.n_negative:  # no negatives and zero sums: all zero
        raise DataError(f"{masked}all the decomposed data are zero: there is nothing to separate")
    if isinstance(n_components, int | np.integer) and not 1 <= int(n_components) <= m:
        raise DataError(
            f"n_components={int(n_components)} must be between 1 and min(pixels, channels) = "
            f"min({dm.n_pixels}, {dm.n_channels}) = {m}"
        )
    if meth.nonnegative and isinstance(n_components, int | np.integer):
        # the rank of the data is at most the number of channels (pixels) holding a non-zero value: more
        # non-negative components than that are made up (one-pixel components of single counts, loss 0); a PCA
        # asked for more gets components of zero variance, as a full-rank reconstruction expects
        nz_channels = int(np.count_nonzero(st.col_sq))
        nz_pixels = int(np.count_nonzero(st.row_sums)) if not st.n_negative else dm.n_pixels
        if int(n_components) > min(nz_channels, nz_pixels):
            raise DataError(
                f"n_components={int(n_components)}, but {masked}the decomposed data hold non-zero values in only "
                f"{nz_channels} channel(s) and {nz_pixels} pixel(s) (a total of {float(np.sum(st.col_sums)):g}): "
                f"at most {min(nz_channels, nz_pixels)} component(s) can be separated"
            )
    if meth.nonnegative and centre:
        raise ValueError(f"centre=True makes no sense for the non-negative method {meth.name!r}")


def _power_iterations(n_iter: int | None, meth: Method) -> tuple[int, int | None, str]:
    """The randomized route's power iterations: (at least, at most or None for exactly that many, what a fixed count
    says in ``info``). ``n_iter`` as given; None: PCA and ICA, whose result is the subspace, and NMF and MCR
    asked to (``settle_subspace``), run until it settles (:data:`AUTO_POWER_ITERATIONS`); the others the least."""
    if n_iter is not None:
        return n_iter, None, "as given (n_iter)"
    least, most = AUTO_POWER_ITERATIONS
    if meth.settles_subspace:
        return least, most, ""
    if meth.refines_subspace:
        return least, None, f"{least}: {meth.name} refines its result from this subspace"
    return least, None, f"{least}: settle_subspace=False ({meth.name} reads its result from this subspace)"


def _pca(dm: DataMatrix, solver: str, n_pca: int, seed, simulate_noise: bool, power: tuple, oversample: int,
         sketches,
         rank_sel=None):
    """The PCA of the configured matrix (weighted units) and what it adds to the result's info."""
    info: dict = {}
    if solver == "gram":
        result = pca.gram_pca(dm, n_pca, noise_seed=seed if simulate_noise else None, rank_sel=rank_sel)
    elif solver == "single_pass":
        result, info["relative_error_estimate"] = pca.single_pass_pca(dm, n_pca, seed, sketches, SINGLE_PASS_TESTS)
        if info["relative_error_estimate"] > SINGLE_PASS_NOISY:
            # noise-dominated counts: the sketch's top directions were 6-88 degrees from the exact ones (200 and 20
            # counts/pixel; a review's 1 GiB EDS cube 11-84), said only by this number
            note = (f"the single-pass sketch's estimated relative error is {info['relative_error_estimate']:.3g}: the "
                    "data are mostly noise for a sketch taken in one read, and its components can be tens of degrees "
                    "from the exact ones; where the data can be read again use solver='randomized' or 'gram'")
            warnings.warn(f"decompose: {note}", UserWarning, stacklevel=4)
            info["single_pass_warning"] = note
    else:
        least, most, fixed_note = power
        result = pca.randomized_pca(dm, n_pca, seed=seed, n_iter=least, oversample=oversample, max_iter=most)
        info["power_iterations"] = result.power_iterations
        info["power_iterations_note"] = result.power_note or fixed_note
        # the one dtype-dependent path: 16-bit integers and float32 data (exact in float32) take float32 block
        # products, and their results differ from the same counts in 32/64 bits in the last digits (2e-11 of an
        # NMF spectrum, review rev54 F7); said, so that such a difference has a name
        info["block_products"] = str(dm.product_dtype)
    if result.noise_eigenvalues is not None:
        info["noise_eigenvalues"] = result.noise_eigenvalues
    return result, info


def _keep_mask(mask, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    """Flat 'keep' mask (numpy order) from a user mask where True = exclude."""
    if mask is None:
        return None
    mask = np.asarray(_mask_numbers(mask))
    if mask.dtype != bool:
        raise ValueError(f"{name} must be a boolean array (True = exclude), got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        if mask.size == int(np.prod(shape)) and mask.ndim == 1:
            pass
        else:
            raise ValueError(f"{name} has shape {mask.shape}; expected {tuple(shape)} (numpy order)")
    keep = ~mask.reshape(-1)
    if not keep.any():
        raise DataError(f"{name} excludes everything: nothing left to decompose")
    return keep
