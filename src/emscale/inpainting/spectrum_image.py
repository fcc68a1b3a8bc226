"""Spectrum-image reconstruction from a subset of scan positions through the low-rank structure of the spectra.

A spectrum image ``X`` (pixels x channels) of a few phases is close to rank ``k``: ``X ~ L F^T`` with ``k``
spectra ``F`` (channels x k) and maps ``L`` (pixels x k). From the measured pixels ``Omega`` alone,

1. the KL-NMF (Poisson likelihood; default) or the Poisson-weighted PCA of the measured spectra gives ``F`` and
   the loadings ``L[Omega]`` (:func:`emscale.decompose` with ``navigation_mask`` excluding the unmeasured pixels;
   rank by the Marchenko-Pastur edge unless given); for counts and NMF, each spectrum of ``F`` is then denoised as
   the Poisson count spectrum it is, ``F_j sum L_j``, by variance-stabilised starlet shrinkage (:mod:`.spectra`):
   its lines are kept, the noise of its continuum is not,
2. each loading map is inpainted spatially from ``Omega`` (any image method, :func:`.inpaint_image`), and
3. the cube is the model ``L F^T`` at every pixel, written one partition of rows at a time (engine pass).

The spectra are measured only at ``|Omega|`` pixels but with all their channels, so ``F`` is as well determined as
from a full scan of ``|Omega|`` pixels; the spatial prior only has to fill ``k`` smooth maps rather than the
``channels`` noisy images of the cube.

What the spectra can reach is set by the counts of the measured pixels: an estimate from a fraction ``f`` of the
pixels carries the noise of ``f`` of the counts, and the full-data NMF (the usual reference) its own. With nested
data the part of the reference's noise that lies in the unmeasured pixels, ``sqrt(1 - f)`` of it, is unknowable,
so no reconstruction comes closer to the full-data spectra than that (without the denoising step the angle is
``sqrt(1/f - 1)`` times the reference's own error). An EM for the missing pixels (complete the cube with
``L F^T``, refit, repeat) has the fixed point of the fit of the measured pixels alone: the completed pixels return
the current ``F`` to itself. Tried with a spatial prior (the completed pixels' loadings linearly interpolated from
the measured ones at each of 60 iterations; ``eds_si``, 15 %, one mask) it moved the spectra 1-2.7 degrees, away
from the full-data ones (Si / SiO2 / Cu 1.9 / 4.4 / 6.4 degrees against 1.6 / 3.4 / 5.6). Step 1b is what brings
the spectra towards the floor.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_flag
from ..engine import Pass, run_pass
from ..sampling.patterns import check_mask
from .baselines import fill_linear
from .image import reconstruct_image
from .spectra import denoise_count_spectra

MODEL_BLOCK_BYTES = 64 * 2**20  # the model cube L F^T is built in partitions of at most this many float64 bytes

__all__ = ["inpaint_spectrum_image"]


def inpaint_spectrum_image(
    s,
    mask,
    n_components: int | str = "auto",
    method: str = "linear",
    seed: int = 0,
    model: str = "nmf",
    denoise_spectra: bool | None = None,
    executor=None,
    progress=None,
    decomposition: dict | None = None,
    **params,
):
    """Reconstruct the full cube of a spectrum image measured at the scan positions ``mask``.

    Parameters
    ----------
    s : Signal with 2 navigation axes (rows, columns) and one signal axis; values at unmeasured positions are
        ignored.
    mask : (rows, columns) bool, True = measured.
    n_components : rank of the model (int) or ``"auto"`` (Marchenko-Pastur edge of the measured spectra).
    model : ``"nmf"`` (KL-NMF of the measured spectra -- the Poisson likelihood; non-negative spectra and maps, so
        the cube's own NMF returns the same spectra) or ``"pca"`` (Poisson-weighted PCA; maps of either sign).
    denoise_spectra : denoise the NMF spectra as count spectra (:func:`.spectra.denoise_count_spectra`); None: on
        for count data (integer dtype or metadata ``{"Signal": {"counts": True}}``) with ``model="nmf"``.
    method : image method filling the loading maps (``"linear"``, ``"biharmonic"``, ``"sparse"``, ...).
    decomposition : further options of the decomposition (:func:`emscale.decompose`), e.g. ``{"max_iter": 3000}``
        where the NMF says it ran out of iterations (:func:`check_decomposition`).
    seed : seed of the decomposition and of the map inpainting.
    executor, progress : passed to the decomposition and the model pass.
    params : the image method's own parameters.

    Returns
    -------
    (cube, info): float32 array of the shape of ``s.data`` (clipped at 0 for count data); info holds
    ``n_components``, ``factors`` (channels x k, denoised when ``denoise_spectra``), ``raw_factors`` (the
    decomposition's own), the inpainted ``loadings`` (rows x columns x k) and ``interpolated_channels``: the
    channels the decomposition left out (the EDS zero-energy peak, masked or hot channels), which hold their
    measured values, linearly interpolated between the measured pixels.
    """
    from ..decomposition import decompose

    if s.nav_ndim != 2 or s.sig_ndim != 1:
        raise DataError(f"{s!r}: spectrum-image reconstruction needs 2 navigation axes and 1 signal axis")
    m = check_mask(mask, s.data.shape[:2])
    if m.sum() < 3:
        raise DataError(f"mask measures {int(m.sum())} position(s); at least 3 are needed")
    check_model(model)
    check_denoise_spectra(denoise_spectra)
    if denoise_spectra and model != "nmf":
        raise DataError("denoise_spectra=True needs model='nmf' (PCA factors are not count spectra)")
    dec = decompose(
        s, model, n_components=n_components, seed=seed, navigation_mask=~m, executor=executor, progress=progress,
        **check_decomposition(decomposition),
    )
    # counts as the decomposition resolved them: integers with negative values (a subtracted background) are not
    counts = (s.dtype.kind in "biu" or bool(s.metadata.get("Signal", {}).get("counts", False))) and bool(
        dec.params.get("poisson", True))
    if denoise_spectra is None:
        denoise_spectra = counts and model == "nmf"
    k = dec.n_components
    out_of_fit = _channels_out_of_fit(s, dec, k)
    f = np.nan_to_num(dec.factors_array[:, :k])
    lo = dec.loadings_array[:, :k].reshape(m.shape + (k,))
    raw = f.copy()
    if denoise_spectra:
        total = np.nan_to_num(lo[m]).sum(axis=0)  # the counts each spectrum carries: F_j sum_i L_ij
        safe = np.where(total > 0, total, 1.0)
        f = np.where(total > 0, denoise_count_spectra(f * total, exclude=out_of_fit) / safe, f)
    maps = np.stack([reconstruct_image(np.where(m, lo[..., j], 0.0), m, method, seed, **params) for j in range(k)],
                    axis=-1)
    if model == "nmf":  # abundances stay non-negative where an interpolant overshoots
        maps = np.maximum(maps, 0.0)
    extra = [] if dec.mean_scale is None else [dec.mean_scale.reshape(m.shape), dec.mean_spectrum]
    if extra:  # a centred model: the mean spectrum's per-pixel scale is inpainted like a loading
        scale = reconstruct_image(np.where(m, extra[0], 0.0), m, method, seed, **params)
        maps = np.concatenate([maps, scale[..., None]], axis=-1)
        f = np.concatenate([f, extra[1][:, None]], axis=1)
    ft = np.ascontiguousarray(f.T)
    floor = 0.0 if counts else -np.inf  # a model of counts is clipped at zero (no negative expected counts)
    # the channels the model does not hold (the EDS zero-energy peak, masked or hot channels) were written 0 at every
    # pixel, measured ones too: a real Bruker map lost 21 % of its counts. They are their measured values,
    # interpolated between the measured pixels
    unfit = np.flatnonzero(out_of_fit)
    filled = _interpolated_channels(s, m, unfit) if unfit.size else None

    def model_block(block, rows):
        cube = np.maximum(block @ ft, floor).astype(np.float32)
        if filled is not None:
            cube[..., unfit] = filled[rows]
        return cube

    # partitions sized by the cube they produce (the maps are tiny): each holds one float64 product at a time
    row_bytes = max(int(np.prod(maps.shape[1:-1])) * ft.shape[1] * 8, 1)
    cube = run_pass(maps, Pass(model_block, None, name="inpaint-spectrum-image"), executor=executor,
                    progress=progress, rows=max(1, MODEL_BLOCK_BYTES // row_bytes))
    return cube, {"n_components": k, "factors": f[:, :k], "raw_factors": raw, "loadings": maps[..., :k],
                  "interpolated_channels": unfit}


def _interpolated_channels(s, m: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """(rows, columns, len(channels)) float32: those channels' measured values, linearly interpolated between the
    measured pixels (:func:`.baselines.fill_linear`, one triangulation for all)."""
    values = s.data[..., channels]
    values = np.asarray(values.compute() if hasattr(values, "compute") else values)
    return fill_linear(values[m], m).astype(np.float32)


# set by the reconstruction itself
_DECOMPOSITION_SET = ("s", "method", "n_components", "seed", "navigation_mask", "executor", "progress")


def check_decomposition(options) -> dict:
    """Further options of the decomposition (None: none) checked by name against :func:`emscale.decompose`."""
    import inspect

    from ..decomposition import decompose

    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"decomposition must be a table of decompose's options, got {options!r}")
    taken = [k for k in inspect.signature(decompose).parameters if k not in _DECOMPOSITION_SET]
    for name in options:
        if name in _DECOMPOSITION_SET:
            raise ValueError(f"decomposition: {name!r} is set by the reconstruction itself (model, n_components, "
                             "seed and the mask are inpaint's own arguments)")
        if name not in taken:
            raise ValueError(f"decomposition: decompose takes no option {name!r}; it takes {', '.join(taken)}")
    return dict(options)


def check_denoise_spectra(denoise_spectra) -> None:
    """None (on for counts with the NMF model) or True / False."""
    if denoise_spectra is not None:
        check_flag("denoise_spectra", denoise_spectra)


def check_model(model) -> None:
    """A low-rank model name: ``"nmf"`` or ``"pca"``; else a ValueError listing them."""
    if model not in ("nmf", "pca"):
        raise DataError(f"unknown model {model!r}; choose 'nmf' or 'pca'")


def _channels_out_of_fit(s, dec, k: int) -> np.ndarray:
    """Channels the decomposition left out: NaN in its factors (a signal mask) or its EDS zero-energy peak (the
    ``zero_peak_channels`` lowest energies)."""
    out = ~np.isfinite(dec.factors_array[:, :k]).all(axis=1)
    n_zero = int(dec.params.get("zero_peak_channels", 0) or 0)
    if n_zero:
        out[np.argsort(np.asarray(s.sig_axes[0].values), kind="stable")[:n_zero]] = True
    return out
