"""The ``inpaint`` operation: a sparsely scanned Signal (image or spectrum image) -> its full reconstruction."""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_count, check_seed
from ..core.registry import operation
from ..core.signal import Signal, derive
from ..sampling.acquire import (
    given_mask,
    measured_info,
    read_mask_file,
    recorded_mask,
    scan_mask,
    scan_shape,
    with_scan_mask,
)
from ..sampling.patterns import check_mask
from .image import (
    CHOOSING_METHODS,
    IMAGE_METHODS,
    SPARSE_OPTIONS,
    check_method,
    check_method_options,
    reconstruct_image,
    warn_if_near_empty,
)
from .spectrum_image import check_decomposition, check_denoise_spectra, check_model, inpaint_spectrum_image
from .tiles import inpaint_tiled
from .tiling import check_tile

__all__ = ["inpaint"]


def check_overlap(overlap) -> None:
    """The halo of a tile: a whole number of pixels >= 0."""
    check_count("overlap", overlap, "pixels of halo on every side of a tile", minimum=0)


def check_n_components(n_components) -> None:
    """The rank of a spectrum image's model: ``"auto"`` or a whole number >= 1."""
    if n_components != "auto":
        check_count("n_components", n_components, "rank of a spectrum image's model; 'auto': from the data")


def check_step_params(params, arguments: dict) -> None:
    """``params`` of a step, by name and value against the step's method, before the data are read (which say
    whether a spectrum image's ``denoise_spectra`` applies); an unknown method is its own check's to name."""
    method = arguments.get("method", "sparse")
    if params is None or method not in IMAGE_METHODS:
        return
    if not isinstance(params, dict):
        raise DataError(f"params must be a table of the method's own parameters, got {params!r}")
    check_params({k: v for k, v in params.items() if k != "return_choice"}, method)  # inpaint sets it itself


@operation("inpaint", method=True, check={"method": check_method, "seed": check_seed, "model": check_model,
                                          "tile": check_tile, "overlap": check_overlap,
                                          "n_components": check_n_components, "decomposition": check_decomposition,
                                          "params": check_step_params, "holdout": SPARSE_OPTIONS["holdout"]},
           record={"mask": recorded_mask}, files={"mask": read_mask_file},
           before_recorded=lambda params: {"holdout": "pooled"})  # a step recorded before the option ran that rule
def inpaint(
    s: Signal,
    method: str = "sparse",
    seed: int = 0,
    mask=None,
    n_components: int | str = "auto",
    model: str = "nmf",
    tile: int | None = None,
    overlap: int = 32,
    params: dict | None = None,
    decomposition: dict | None = None,
    holdout: str = "crossfit",
    executor=None,
    progress=None,
) -> Signal:
    """Reconstruct a sparsely scanned image or spectrum image at every scan position.

    Parameters
    ----------
    s : a Signal from :func:`~emscale.sampling.sample_scan` (its mask is read from its metadata) or any image /
        spectrum image with ``mask`` given.
    method : image method (``"sparse"``, ``"dictionary"``, ``"biharmonic"``, ``"linear"``, ``"nearest"``); for a
        spectrum image, the method that fills its loading maps.
    seed : seed of every random choice; the same seed gives the same bits.
    mask : bool ``(rows, columns)``, True = measured, or the plain name of a position list beside the input
        (:func:`~emscale.sampling.acquire.given_mask`); None: the mask stored in ``s.metadata["Sampling"]``.
    n_components : spectrum images: rank of the low-rank model (int or ``"auto"``).
    model : spectrum images: ``"nmf"`` (KL-NMF of the measured spectra) or ``"pca"`` (Poisson PCA) subspace.
    tile, overlap : images: reconstruct tile by tile (core ``tile`` pixels, halo ``overlap``) as an engine pass;
        None: the whole image at once.
    params : the image method's own parameters (``{"prior": "fourier", "lam_min": 0.02}``, ``{"patch": 8}``);
        spectrum images also take ``{"denoise_spectra": False}`` (on by default for counts with the NMF model).
    decomposition : spectrum images: further options of their decomposition (``{"max_iter": 3000}``), checked by
        name against :func:`emscale.decompose`.
    holdout : how ``"sparse"`` (and ``"dictionary"``'s sparse start) decides between its prior and biharmonic
        interpolation on a small image (:func:`.sparse.sparse`): ``"crossfit"`` or ``"pooled"`` (the rule of
        steps recorded before 2026-12-07, which replay with it).
    executor, progress : engine execution options (not recorded).

    Returns
    -------
    Signal on the axes of ``s`` (float64 image, float32 spectrum image), the mask kept in its metadata with
    ``metadata["Sampling"]["reconstruction"] = method``; a whole image by ``"sparse"`` also keeps what ran in
    ``metadata["Sampling"]["choice"]`` (prior, threshold, column refit, local residual, and who chose them), one
    by ``"dictionary"`` whether its patch models replaced the sparse start, why, and the start's own choice; a
    tiled one, the number of tiles and each setting's choices counted over them.

    Example
    -------
    >>> sparse = s.sample_scan("random", 0.1, seed=0)
    >>> full = sparse.inpaint("sparse")
    """
    check_overlap(overlap)
    check_n_components(n_components)
    shape = scan_shape(s)
    stored = scan_mask(s)
    if mask is None and stored is None:
        raise DataError(f"{s!r} carries no scan mask (metadata['Sampling']); pass mask= or use sample_scan first")
    m = check_mask(stored, shape) if mask is None else given_mask(s, mask, shape)
    if mask is not None and stored is not None and (m & ~stored).any():
        raise DataError(
            f"mask marks {int(np.count_nonzero(m & ~stored))} position(s) measured that the scan mask stored with "
            f"{s!r} says were not: their zeros would be read as measurements; pass a mask within the stored one"
        )
    params = _checked_params(params, method, s.nav_ndim == 2, n_components, model, tile)
    SPARSE_OPTIONS["holdout"](holdout)
    if method in CHOOSING_METHODS:
        params["holdout"] = holdout
    warn_if_near_empty(f"inpaint {s!r}", m)
    if s.nav_ndim != 2 and decomposition is not None:
        raise DataError("decomposition applies to spectrum images; this signal is an image")
    choice = {}
    if s.nav_ndim == 2:
        data, si_info = inpaint_spectrum_image(
            s, m, n_components, method, seed, model, executor=executor, progress=progress,
            decomposition=decomposition, **params
        )
        choice = {"model": model, "n_components": int(si_info["n_components"])}  # "auto" resolved
        if si_info["interpolated_channels"].size:
            choice["interpolated_channels"] = int(si_info["interpolated_channels"].size)
    elif tile is not None:  # what each tile's hold-out chose, counted over the tiles
        data, choice = inpaint_tiled(
            s.data, m, method, int(tile), int(overlap), seed, executor=executor, progress=progress,
            return_choice=True, **params
        )
    elif method in CHOOSING_METHODS:  # each says what its hold-out chose
        data, choice = reconstruct_image(np.asarray(s.data), m, method, seed, return_choice=True, **params)
    else:
        data = reconstruct_image(np.asarray(s.data), m, method, seed, **params)
    out = derive(s, data, s.axes)
    stored_info = s.metadata.get("Sampling", {}).items()
    info = {k: v for k, v in stored_info if k not in ("shape", "axes", "mask_packed", "choice")}
    if mask is not None:  # the stored pattern's name and fraction describe another mask
        info.update(pattern="given", fraction=float(m.mean()), **measured_info(m))
    if choice:
        info["choice"] = choice
    with_scan_mask(out, m, **{**info, "reconstruction": method})
    return out


# set by the operation itself, not through params
RESERVED = ("image", "mask", "seed", "method", "model", "n_components", "executor", "progress", "tile", "overlap",
            "decomposition", "holdout")


def _checked_params(params, method, spectrum_image, n_components, model, tile) -> dict:
    """``params`` checked against what the image method (and, for a spectrum image, its reconstruction) takes: a
    misspelt or misplaced name is a ValueError naming it, not a TypeError from deep inside, or silently ignored."""
    check_method(method)
    if params is not None and not isinstance(params, dict):
        raise DataError(f"params must be a table of the method's own parameters, got {params!r}")
    params = dict(params or {})
    params.pop("return_choice", None)  # the whole-image sparse path asks for it itself
    if spectrum_image and tile is not None:
        raise DataError("tile and overlap apply to images; a spectrum image is reconstructed through its low-rank "
                         "model, one partition of rows at a time")
    if not spectrum_image and (n_components != "auto" or model != "nmf"):
        raise DataError("n_components and model apply to spectrum images; this signal is an image")
    check_params(params, method, spectrum_image)
    return params


def check_params(params: dict, method: str, spectrum_image: bool | None = None) -> None:
    """The image method's own ``params``, by name and value (:func:`.image.check_method_options`); a spectrum image
    also takes ``denoise_spectra`` (``spectrum_image`` None: either, as a recipe checks before reading the data)."""
    for name in params:
        if name in RESERVED:
            raise DataError(f"params: {name!r} is an argument of inpaint itself; give it there, not in params")
    also = {} if spectrum_image is False else {"denoise_spectra": check_denoise_spectra}
    check_method_options(method, params, also)
