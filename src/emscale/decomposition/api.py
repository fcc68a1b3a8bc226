"""``decompose``: validation, Poisson weighting, dispatch to the algorithms, and the result in data units."""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError
from ..core.registry import operation
from ..core.signal import Signal
from ._matrix import DataMatrix
from .result import Decomposition

METHODS = ("pca", "nmf", "ica", "mcr", "vca")
SOLVERS = ("auto", "gram", "randomized", "single_pass")
SINGLE_PASS_TESTS = 10  # rows of the error-test sketch of the single-pass solver
GRAM_MAX_CHANNELS = 4096  # above this the channels x channels Gram matrix gets too big: randomized
DEFAULT_MAX_COMPONENTS = 32  # PCA with n_components=None keeps the whole scree but this many factors/loadings


@operation("decompose", method=True, result_name="{method}")
def decompose(
    s: Signal,
    method: str = "pca",
    n_components: int | str | None = None,
    poisson: bool | None = None,
    seed: int = 0,
    navigation_mask=None,
    signal_mask=None,
    centre: bool = False,
    solver: str = "auto",
    n_iter: int = 2,
    oversample: int = 10,
    max_iter: int | None = None,
    tol: float | None = None,
    loss: str = "kl",
    closure: bool = False,
    init: str = "nndsvda",
    pure_pixels: bool = True,
    fit_pixels: int | None = None,
    executor=None,
    progress=None,
) -> Decomposition:
    """Unsupervised decomposition of a spectrum image into spectra (factors) and maps (loadings).

    Parameters
    ----------
    s : the Signal (numpy or lazy); pixels are its navigation positions, channels its signal values.
    method : ``"pca"`` (Poisson-weighted PCA/SVD), ``"nmf"`` (KL or Frobenius NMF), ``"ica"`` (FastICA of the
        PCA scores), ``"mcr"`` (MCR-ALS), ``"vca"`` (vertex component analysis + NNLS abundances).
    n_components : an int; ``"auto"`` for the Marchenko-Pastur rank (:mod:`.rank`); ``None``: PCA keeps the whole
        eigenvalue spectrum and up to 32 factors/loadings, the other methods use ``"auto"``.
    poisson : weight by the Keenan-Kotula scaling ``X / sqrt(aG bH)`` (HyperSpy's
        ``normalize_poissonian_noise``). ``None``: on for integer data or metadata ``{"Signal": {"counts": True}}``.
        NMF always fits the raw counts (its KL loss is the Poisson likelihood); the weighting then only serves
        the rank estimate.
    seed : seeds every random choice (randomized sketch, FastICA, VCA, k-means); same seed, same bits.
    navigation_mask, signal_mask : boolean arrays (numpy order: ``data.shape[:nav_ndim]`` resp. the signal
        shape) or Signals; ``True`` marks pixels/channels to *exclude* (HyperSpy's convention).
    centre : subtract the (weighted) mean spectrum before PCA/ICA; the mean is kept in the model.
    solver : ``"gram"`` (exact, full scree), ``"randomized"`` (top components only), ``"single_pass"`` (PCA
        from sketches taken in one read of the data, for data that can be read only once; reports
        ``info["relative_error_estimate"]``) or ``"auto"`` (gram up to 4096 channels).
    n_iter, oversample : power iterations and oversampling of the randomized solver.
    max_iter, tol : iteration limit and relative loss-change tolerance of NMF / MCR / ICA.
    loss : NMF loss, ``"kl"`` (Poisson) or ``"frobenius"`` (HALS).
    closure : MCR / VCA: abundances of each pixel sum to one (fractions of its total).
    init : NMF start: ``"nndsvda"`` (default: NNDSVDa -- scikit-learn's ``init="nndsvda"`` construction -- of the
        rank-k model of the counts that the (Poisson-weighted) PCA above gives, so no extra read; measured to
        converge in fewer iterations than ``"vca"``) or ``"vca"`` (the pure-pixel endmembers of
        ``method="vca"``). With ``pure_pixels`` the start hardly changes the result (same spectra to 0.1 degree on
        the ground-truth cubes).
    pure_pixels : NMF / MCR: a shared background or line leaves a family of equally good non-negative
        factorisations; pick the one whose loadings are pure at the pure pixels of each component (found in the
        PCA subspace around VCA's vertices; :mod:`.purity`), then refit the loadings. Right when every phase is
        present pure somewhere in the scan; ``False`` returns the solver's own (drifting) member of the family.
    fit_pixels : KL-NMF: fit the spectra on a seeded random subset of this many pixels held in memory, then
        compute every pixel's loadings in one pass with the spectra fixed (bounded memory for data bigger than
        RAM; :mod:`.nmf`). ``None``: all pixels when their in-memory matrix fits (8 GiB), else as many as fit in
        1 GiB.
    executor, progress : passed to every pass (:func:`emscale.engine.run_pass`).
    """
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    _check_n_components_type(n_components)
    if init not in ("vca", "nndsvda"):
        raise ValueError(f"unknown init {init!r}; choose 'vca' or 'nndsvda'")
    if s.nav_ndim == 0:
        raise DataError(f"{s!r} has no navigation axis: decomposition needs several pixels")

    keep_pix = _keep_mask(navigation_mask, s.shape[: s.nav_ndim], "navigation_mask")
    keep_ch = _keep_mask(signal_mask, s.shape[s.nav_ndim :], "signal_mask")
    dm = DataMatrix(s.data, s.nav_ndim, keep_pix, keep_ch, executor=executor, progress=progress)
    if dm.n_pixels < 2:
        raise DataError(f"navigation_mask leaves {dm.n_pixels} pixel(s); at least 2 are needed")
    if dm.n_channels < 2:
        raise DataError(f"signal_mask leaves {dm.n_channels} channel(s); at least 2 are needed")

    m = min(dm.n_pixels, dm.n_channels)
    if poisson is None:
        poisson = s.dtype.kind in "biu" or bool(s.metadata.get("Signal", {}).get("counts", False))
    poisson = bool(poisson)
    if solver == "auto":
        solver = "gram" if dm.n_channels <= GRAM_MAX_CHANNELS else "randomized"
        if method == "nmf" and isinstance(n_components, int | np.integer) and 4 * int(n_components) < m:
            # NMF only needs the top-k subspace (its start): the sketch costs O(n p k), the Gram O(n p^2)
            solver = "randomized"
    if solver == "single_pass":
        if method != "pca" or centre:
            raise ValueError("solver='single_pass' is for uncentred PCA (method='pca', centre=False)")
        k_sp = int(n_components) if isinstance(n_components, int | np.integer) else DEFAULT_MAX_COMPONENTS
        ell = min(max(k_sp, 1) + oversample, m)
        # A generous co-range sketch: its error term scales like sqrt(ell / (ell_co - ell)) times the noise tail.
        sketches = dm.single_pass_sketch(ell, min(8 * ell + 1, dm.n_pixels), SINGLE_PASS_TESTS, seed, poisson)
        st = dm.sums
    else:
        # The randomized solver's first sketch is taken in the statistics read (one read fewer): its column space
        # does not depend on the per-channel Poisson weight, which is only known after that read. A solver that
        # ends up not using it (another k, centring) falls back to its own sketch pass.
        sketch = None
        if solver == "randomized" and not centre:
            k_sk = int(n_components) if isinstance(n_components, int | np.integer) else min(m, DEFAULT_MAX_COMPONENTS)
            sketch = (min(max(k_sk, 1) + oversample, m), int(seed), poisson)
        st = dm.statistics(sketch=sketch, nonzeros=solver == "gram")  # the Gram route's choice reads them
    if st.n_nonfinite:
        raise DataError(f"{s!r} contains {st.n_nonfinite} NaN or infinite value(s) in the decomposed region")
    if poisson and st.n_negative:
        raise DataError(
            f"{st.n_negative} negative value(s) (minimum {st.minimum:g}) in data weighted as Poisson counts; "
            "pass poisson=False or remove the offset"
        )
    if method in ("nmf", "vca", "mcr") and st.n_negative:
        raise DataError(
            f"{method} needs non-negative data; {st.n_negative} value(s) are negative (minimum {st.minimum:g})"
        )
    if float(np.abs(st.col_sums).sum()) == 0 and poisson:
        raise DataError("all the decomposed data are zero")
    if isinstance(n_components, int | np.integer) and not 1 <= int(n_components) <= m:
        raise ValueError(
            f"n_components={int(n_components)} must be between 1 and min(pixels, channels) = "
            f"min({dm.n_pixels}, {dm.n_channels}) = {m}"
        )
    if method in ("nmf", "mcr", "vca") and centre:
        raise ValueError(f"centre=True makes no sense for the non-negative method {method!r}")

    dm.configure(poisson=poisson, centre=bool(centre))
    params = {
        "n_components": n_components if not isinstance(n_components, np.integer) else int(n_components),
        "poisson": poisson,
        "seed": int(seed),
        "centre": bool(centre),
        "solver": solver,
        "navigation_mask_excluded": 0 if keep_pix is None else int((~keep_pix).sum()),
        "signal_mask_excluded": 0 if keep_ch is None else int((~keep_ch).sum()),
    }

    # 1. PCA (every method needs it: the result, the rank, or the subspace)
    want = n_components
    if want is None and method != "pca":
        want = "auto"
    if isinstance(want, int | np.integer):
        k_pca = int(want)
    elif solver == "gram":
        k_pca = min(m, DEFAULT_MAX_COMPONENTS) if want is None else m
    else:
        k_pca = min(m, DEFAULT_MAX_COMPONENTS)
    from .pca import gram_pca, randomized_pca
    from .rank import estimate_rank

    sp_error = None
    if solver == "gram":
        pca = gram_pca(
            dm, k_pca if want != "auto" else min(m, DEFAULT_MAX_COMPONENTS), noise_seed=seed if poisson else None
        )
    elif solver == "single_pass":
        from .pca import single_pass_pca

        pca, sp_error = single_pass_pca(dm, k_pca, seed, sketches, SINGLE_PASS_TESTS)
    else:
        pca = randomized_pca(dm, k_pca, seed=seed, n_iter=n_iter, oversample=oversample)
    noise_top = None if pca.noise_eigenvalues is None else float(pca.noise_eigenvalues[0])
    rank, evidence = estimate_rank(
        pca.eigenvalues, dm.n_pixels, dm.n_channels, trace=None if solver == "gram" else pca.trace, noise_top=noise_top
    )
    if want == "auto":
        k = max(1, min(rank, pca.factors.shape[1]))
    else:
        k = min(k_pca, pca.factors.shape[1])
    params["n_components_used"] = int(k)
    info: dict = {"solver": solver, "rank_estimate": int(rank)}
    if sp_error is not None:
        info["relative_error_estimate"] = sp_error  # a-posteriori estimate of ||Xw - model|| / ||Xw||
    if pca.noise_eigenvalues is not None:
        info["noise_eigenvalues"] = pca.noise_eigenvalues
    base = dict(
        nav_axes=list(s.axes[: s.nav_ndim]),
        sig_axes=list(s.axes[s.nav_ndim :]),
        eigenvalues=pca.eigenvalues,
        trace=pca.trace,
        n_pixels=dm.n_pixels,
        n_channels=dm.n_channels,
        rank_evidence=evidence,
        signal_type=s.signal_type,
        metadata=dict(s.metadata),
        history=list(s.history),
        title=s.title,
        lazy=s.is_lazy,
    )
    v = pca.factors[:, :k]
    z = pca.scores[:, :k]
    idx = groups = None
    if method in ("vca", "mcr", "nmf"):
        from .vca import noise_level, pure_pixel_groups

        sigma = noise_level(pca.trace, pca.eigenvalues, k, dm.n_pixels, dm.n_channels)
        if method != "nmf" or init == "vca" or pure_pixels:
            idx, groups = pure_pixel_groups(z, k, sigma, seed=seed)
            info["endmember_pixels"] = np.asarray(idx)
    mean_spec = mean_scale = None
    if dm.mean is not None:
        mean_spec = dm.expand_channels(dm.mean * dm.root_bh)
        mean_scale = dm.expand_pixels(dm.root_ag)

    if method == "pca":
        lw, fw = z, v
    elif method == "ica":
        from .ica import ica_rotation

        lw, fw, ica_info = ica_rotation(z, v, seed=seed, max_iter=max_iter or 1000, tol=tol or 1e-6)
        info.update(ica_info)
    elif method == "vca":
        from .vca import subspace_abundances, vertex_scores

        # Endmembers: the PCA model of the summed spectra around each vertex pixel (vca.pure_pixel_groups),
        # unweighted, clipped, normalised to unit sum.
        e = (vertex_scores(z, groups, dm.root_ag) @ v.T) * dm.root_bh[None, :]
        e = np.maximum(e, 0.0)
        e /= np.maximum(e.sum(axis=1, keepdims=True), 1e-300)
        # Abundances in the weighted PCA subspace: z_i * sqrt(aG_i) = sum_c a_ic V^T (e_c / sqrt(bH)).
        ecoord = v.T @ (e / dm.root_bh[None, :]).T  # (k, k)
        target = z * dm.root_ag[:, None]
        if closure:
            target = np.concatenate([target, 1e3 * dm.sums.row_sums[:, None]], axis=1)
        a = subspace_abundances(target, ecoord, closure=closure)
        fw = (e / dm.root_bh[None, :]).T  # weighted units so the common unweighting below applies
        lw = a / dm.root_ag[:, None]
    elif method == "mcr":
        from .mcr import mcr_als
        from .vca import vertex_scores

        # weighted endmember spectra: PCA model of the summed spectra around each vertex pixel (unit-free)
        s0 = np.maximum(vertex_scores(z, groups, dm.root_ag) @ v.T / dm.root_bh.mean(), 0.0)
        c, sw, mcr_info = mcr_als(
            dm, s0, max_iter=max_iter or 200, tol=tol or 1e-7, closure=closure, closure_scale=dm.root_ag
        )
        info.update(mcr_info)
        info["pure_pixel_rotation"] = False
        if pure_pixels:
            from .mcr import concentrations
            from .purity import pure_pixel_rotation

            rot = pure_pixel_rotation(c, sw, groups)
            if rot is not None:
                sw = rot[1]
                c, info["loss"] = concentrations(dm, sw, closure=closure, closure_scale=dm.root_ag)
                info["pure_pixel_rotation"] = True
        info["endmember_pixels"] = np.asarray(idx)
        lw, fw = c, sw.T
    else:  # nmf
        from .nmf import kl_fits_in_memory, loadings_pass, nmf, nndsvda_from_pca, pixel_subset, subset_size
        from .vca import vertex_scores

        n_fit = dm.n_pixels
        if loss == "kl":
            n_fit = int(fit_pixels) if fit_pixels is not None else (
                dm.n_pixels if kl_fits_in_memory(dm) else subset_size(dm))
            if not 2 * k <= n_fit:
                raise ValueError(f"fit_pixels={n_fit} is too few for {k} components")
        subset = n_fit < dm.n_pixels
        # The start, from the PCA above, while its weights still map it back to counts: pure-pixel endmember
        # spectra (as method="vca"; on a subset they also cost no pass), or NNDSVDa of the PCA's rank-k model
        if init == "vca" or (subset and groups is not None):
            start = (vertex_scores(z, groups, dm.root_ag) @ v.T) * dm.root_bh[None, :]
        else:
            fill = float(dm.sums.col_sums.sum()) / max(dm.n_pixels * dm.n_channels, 1)
            start = nndsvda_from_pca(z, v, dm.root_ag, dm.root_bh, fill)
        dm.configure(poisson=False, centre=False)
        fit_dm, fit_groups = dm, (groups if pure_pixels else None)
        if subset:
            fit_dm, chosen = pixel_subset(dm, n_fit, seed, groups=fit_groups)
            fit_dm.statistics(nonzeros=False)
            fit_dm.configure(poisson=False, centre=False)
            if fit_groups is not None:  # the groups' pixels that are in the subset, as subset rows
                fit_groups = [np.searchsorted(chosen, np.intersect1d(g, chosen)) for g in fit_groups]
            if isinstance(start, tuple):
                start = (start[0][chosen], start[1])
        w, h, nmf_info = nmf(
            fit_dm, k, loss=loss, max_iter=max_iter or 1000, tol=tol or 1e-6, init=start, pure_pixels=fit_groups,
            in_memory=True if subset else None,
        )
        if subset:
            w, nmf_info["loss"] = loadings_pass(dm, h)
            nmf_info["route"] += f"+subset({n_fit} of {dm.n_pixels} pixels)+loadings-pass"
            nmf_info["fit_pixels"] = n_fit
        info.update(nmf_info)
        f_unw = h.T
        l_unw = w

    if method != "nmf":
        f_unw = fw * dm.root_bh[:, None]
        l_unw = lw * dm.root_ag[:, None]
    if method in ("vca", "mcr"):
        sc = np.maximum(f_unw.sum(axis=0), 1e-300)
        f_unw, l_unw = f_unw / sc, l_unw * sc
    if method in ("pca", "ica"):
        # sign: each factor's largest-|value| entry positive
        sgn = np.sign(f_unw[np.argmax(np.abs(f_unw), axis=0), np.arange(f_unw.shape[1])])
        sgn[sgn == 0] = 1
        f_unw, l_unw = f_unw * sgn, l_unw * sgn
    if method in ("ica", "vca", "mcr"):
        energy = np.linalg.norm(f_unw, axis=0) * np.linalg.norm(l_unw, axis=0)
        order = np.argsort(-energy, kind="stable")
        f_unw, l_unw = f_unw[:, order], l_unw[:, order]
    if method in ("nmf",):
        params["loss"] = loss
        params["init"] = init
    if method in ("nmf", "mcr"):
        params["pure_pixels"] = bool(pure_pixels)
    if method in ("mcr", "vca"):
        params["closure"] = bool(closure)
    return Decomposition(
        method=method,
        params=params,
        factors_array=dm.expand_channels(np.ascontiguousarray(f_unw)),
        loadings_array=dm.expand_pixels(np.ascontiguousarray(l_unw)),
        mean_spectrum=mean_spec,
        mean_scale=mean_scale,
        info=info,
        **base,
    )


def _check_n_components_type(n) -> None:
    if n is None or n == "auto":
        return
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise ValueError(f"n_components must be None, 'auto' or a positive integer, not {n!r}")


def _keep_mask(mask, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    """Flat 'keep' mask (numpy order) from a user mask where True = exclude."""
    if mask is None:
        return None
    if isinstance(mask, Signal):
        mask = mask.to_numpy()
    mask = np.asarray(mask)
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
