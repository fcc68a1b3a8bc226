"""``decompose``: the driver. Validation, Poisson weighting, solver and rank, the PCA every method starts from, the
method plug-in (:mod:`._method`), and the result in data units."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..core.errors import DataError
from ..core.registry import operation
from ..core.signal import Signal
from . import ica, mcr, nmf, pca, vca  # noqa: F401 -- each registers its method (a new method: add its module)
from ._matrix import DataMatrix
from ._method import METHODS as _TABLE
from ._method import Context, Method, configured
from .rank import estimate_rank
from .result import Decomposition

METHODS = tuple(sorted(_TABLE))
SOLVERS = ("auto", "gram", "randomized", "single_pass")
SINGLE_PASS_TESTS = 10  # rows of the error-test sketch of the single-pass solver
GRAM_MAX_CHANNELS = 4096  # above this the channels x channels Gram matrix gets too big: randomized
DEFAULT_MAX_COMPONENTS = 32  # PCA with n_components=None keeps the whole scree but this many factors/loadings


@operation("decompose", method=True, result_name="{method}")
def decompose(
    s: Signal, method: str = "pca", n_components: int | Literal["auto"] | None = None, poisson: bool | None = None,
    seed: int = 0, navigation_mask=None, signal_mask=None, centre: bool = False,
    solver: Literal["auto", "gram", "randomized", "single_pass"] = "auto",
    n_iter: int = 2, oversample: int = 10,
    max_iter: int | None = None, tol: float | None = None, loss: Literal["kl", "frobenius"] | None = None,
    closure: bool | None = None, init: Literal["nndsvda", "vca"] | None = None, pure_pixels: bool | None = None,
    fit_pixels: int | None = None,
    executor=None, progress=None,
) -> Decomposition:
    """Unsupervised decomposition of a spectrum image into spectra (factors) and maps (loadings).

    Parameters
    ----------
    s : the Signal (numpy or lazy); pixels are its navigation positions, channels its signal values.
    method : ``"pca"`` (Poisson-weighted PCA/SVD), ``"nmf"`` (KL or Frobenius NMF), ``"ica"`` (FastICA of the
        PCA scores), ``"mcr"`` (MCR-ALS), ``"vca"`` (vertex component analysis + NNLS abundances): the classes
        registered in :mod:`.pca`, :mod:`.nmf`, :mod:`.ica`, :mod:`.mcr`, :mod:`.vca`.
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
    max_iter, tol, loss, closure, init, pure_pixels, fit_pixels : options of the methods that declare them
        (``None``: the method's default; an option given to a method that does not take it is an error):
        ``max_iter``/``tol`` of ica, mcr, nmf; ``closure`` of mcr, vca (abundances sum to one);
        ``pure_pixels`` of mcr, nmf (the pure-pixel member of the family of equally good non-negative
        factorisations, :mod:`.purity`); ``loss``, ``init``, ``fit_pixels`` of nmf. See each method's class.
    executor, progress : passed to every pass (:func:`emscale.engine.run_pass`).
    """
    meth = configured(method, max_iter=max_iter, tol=tol, loss=loss, closure=closure, init=init,
                      pure_pixels=pure_pixels, fit_pixels=fit_pixels)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    dm, excluded = _data_matrix(s, n_components, navigation_mask, signal_mask, executor, progress)
    if poisson is None:
        poisson = s.dtype.kind in "biu" or bool(s.metadata.get("Signal", {}).get("counts", False))
    poisson, m = bool(poisson), min(dm.n_pixels, dm.n_channels)
    n_pca = int(n_components) if isinstance(n_components, int | np.integer) else min(m, DEFAULT_MAX_COMPONENTS)
    solver = _solver(solver, meth, n_components, dm, centre)
    sketches = _read(dm, solver, n_pca, oversample, seed, poisson, centre)
    _check_values(s, dm, meth, poisson, n_components, centre)
    dm.configure(poisson=poisson, centre=bool(centre))
    pca_result, info = _pca(dm, solver, n_pca, seed, poisson, n_iter, oversample, sketches)
    noise_top = None if pca_result.noise_eigenvalues is None else float(pca_result.noise_eigenvalues[0])
    rank, evidence = estimate_rank(pca_result.eigenvalues, dm.n_pixels, dm.n_channels, noise_top=noise_top,
                                   trace=None if solver == "gram" else pca_result.trace)
    k = min(n_pca, pca_result.factors.shape[1])
    if n_components == "auto" or (n_components is None and meth.auto_rank):
        k = max(1, min(rank, pca_result.factors.shape[1]))
    info = {"solver": solver, "rank_estimate": int(rank)} | info
    groups = None
    if meth.uses_pure_pixels:
        sigma = vca.noise_level(pca_result.trace, pca_result.eigenvalues, k, dm.n_pixels, dm.n_channels)
        idx, groups = vca.pure_pixel_groups(pca_result.scores[:, :k], k, sigma, seed=seed)
        info["endmember_pixels"] = np.asarray(idx)
    mean_spec = None if dm.mean is None else dm.expand_channels(dm.mean * dm.root_bh)
    mean_scale = None if dm.mean is None else dm.expand_pixels(dm.root_ag)
    factors, loadings, method_info = meth.fit(Context(dm, pca_result, k, seed, groups))
    params = {"n_components": int(n_components) if isinstance(n_components, np.integer) else n_components,
              "poisson": poisson, "seed": int(seed), "centre": bool(centre), "solver": solver, **excluded,
              "n_components_used": int(k), **meth.params()}
    return Decomposition(
        method=meth.name, params=params, factors_array=dm.expand_channels(np.ascontiguousarray(factors)),
        loadings_array=dm.expand_pixels(np.ascontiguousarray(loadings)), mean_spectrum=mean_spec,
        mean_scale=mean_scale, info=info | method_info, nav_axes=list(s.axes[: s.nav_ndim]),
        sig_axes=list(s.axes[s.nav_ndim :]), eigenvalues=pca_result.eigenvalues, trace=pca_result.trace,
        n_pixels=dm.n_pixels, n_channels=dm.n_channels, rank_evidence=evidence, signal_type=s.signal_type,
        metadata=dict(s.metadata), history=list(s.history), title=s.title, lazy=s.is_lazy,
    )


def _data_matrix(s: Signal, n_components, navigation_mask, signal_mask, executor, progress):
    """The DataMatrix of the kept pixels and channels, and the numbers excluded by the masks (for the params)."""
    if n_components is not None and n_components != "auto" and (
            isinstance(n_components, bool) or not isinstance(n_components, int | np.integer)):
        raise ValueError(f"n_components must be None, 'auto' or a positive integer, not {n_components!r}")
    if s.nav_ndim == 0:
        raise DataError(f"{s!r} has no navigation axis: decomposition needs several pixels")
    keep_pix = _keep_mask(navigation_mask, s.shape[: s.nav_ndim], "navigation_mask")
    keep_ch = _keep_mask(signal_mask, s.shape[s.nav_ndim :], "signal_mask")
    dm = DataMatrix(s.data, s.nav_ndim, keep_pix, keep_ch, executor=executor, progress=progress)
    if dm.n_pixels < 2:
        raise DataError(f"navigation_mask leaves {dm.n_pixels} pixel(s); at least 2 are needed")
    if dm.n_channels < 2:
        raise DataError(f"signal_mask leaves {dm.n_channels} channel(s); at least 2 are needed")
    return dm, {"navigation_mask_excluded": 0 if keep_pix is None else int((~keep_pix).sum()),
                "signal_mask_excluded": 0 if keep_ch is None else int((~keep_ch).sum())}


def _solver(solver: str, meth: Method, n_components, dm: DataMatrix, centre: bool) -> str:
    """``"auto"`` resolved: gram up to :data:`GRAM_MAX_CHANNELS` channels, randomized above, and randomized for a
    method that needs only the top-k PCA subspace when k is given and small."""
    m = min(dm.n_pixels, dm.n_channels)
    if solver == "auto":
        solver = "gram" if dm.n_channels <= GRAM_MAX_CHANNELS else "randomized"
        if meth.top_k_only and isinstance(n_components, int | np.integer) and 4 * int(n_components) < m:
            # the sketch costs O(n p k), the Gram matrix O(n p^2)
            solver = "randomized"
    if solver == "single_pass" and (not meth.single_pass or centre):
        raise ValueError("solver='single_pass' is for uncentred PCA (method='pca', centre=False)")
    return solver


def _read(dm: DataMatrix, solver: str, n_pca: int, oversample: int, seed, poisson: bool, centre: bool):
    """The statistics read (``dm.sums``); it also takes the sketches of the single-pass solver (returned) or the
    randomized solver's first sketch."""
    ell = min(max(n_pca, 1) + oversample, min(dm.n_pixels, dm.n_channels))
    if solver == "single_pass":
        # A generous co-range sketch: its error term scales like sqrt(ell / (ell_co - ell)) times the noise tail.
        return dm.single_pass_sketch(ell, min(8 * ell + 1, dm.n_pixels), SINGLE_PASS_TESTS, seed, poisson)
    # The randomized solver's first sketch is taken in the statistics read (one read fewer): its column space does
    # not depend on the per-channel Poisson weight, which is only known after that read. A solver that ends up not
    # using it (another k, centring) falls back to its own sketch pass.
    sketch = (ell, int(seed), poisson) if solver == "randomized" and not centre else None
    dm.statistics(sketch=sketch, nonzeros=solver == "gram")  # the Gram route's choice reads them
    return None


def _check_values(s: Signal, dm: DataMatrix, meth: Method, poisson: bool, n_components, centre: bool) -> None:
    st, m = dm.sums, min(dm.n_pixels, dm.n_channels)
    if st.n_nonfinite:
        raise DataError(f"{s!r} contains {st.n_nonfinite} NaN or infinite value(s) in the decomposed region")
    if poisson and st.n_negative:
        raise DataError(
            f"{st.n_negative} negative value(s) (minimum {st.minimum:g}) in data weighted as Poisson counts; "
            "pass poisson=False or remove the offset"
        )
    if meth.nonnegative and st.n_negative:
        raise DataError(
            f"{meth.name} needs non-negative data; {st.n_negative} value(s) are negative (minimum {st.minimum:g})"
        )
    if float(np.abs(st.col_sums).sum()) == 0 and poisson:
        raise DataError("all the decomposed data are zero")
    if isinstance(n_components, int | np.integer) and not 1 <= int(n_components) <= m:
        raise ValueError(
            f"n_components={int(n_components)} must be between 1 and min(pixels, channels) = "
            f"min({dm.n_pixels}, {dm.n_channels}) = {m}"
        )
    if meth.nonnegative and centre:
        raise ValueError(f"centre=True makes no sense for the non-negative method {meth.name!r}")


def _pca(dm: DataMatrix, solver: str, n_pca: int, seed, poisson: bool, n_iter: int, oversample: int, sketches):
    """The PCA of the configured matrix (weighted units) and what it adds to the result's info."""
    info: dict = {}
    if solver == "gram":
        result = pca.gram_pca(dm, n_pca, noise_seed=seed if poisson else None)
    elif solver == "single_pass":
        result, info["relative_error_estimate"] = pca.single_pass_pca(dm, n_pca, seed, sketches, SINGLE_PASS_TESTS)
    else:
        result = pca.randomized_pca(dm, n_pca, seed=seed, n_iter=n_iter, oversample=oversample)
    if result.noise_eigenvalues is not None:
        info["noise_eigenvalues"] = result.noise_eigenvalues
    return result, info


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
