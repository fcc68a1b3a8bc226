"""Loadings fitted to noise: a minor phase's component spread thinly over pixels where it is absent.

A non-negative loading fitted to noise is not zero on average: where a component is absent, its maximum-likelihood
loading is the positive part of a zero-mean estimate, about 0.4 of its standard error. Summed over the many pixels
of a majority phase, those loadings outweigh the few pixels where a minor phase really is, and its spectrum is then
fitted mostly to the majority's noise (measured, issue 17: a phase in 0.5 % of a 96 x 96 x 1024 EDS map at 200
counts/pixel held 11 600 counts at its own 59 pixels and 17 000 spread over the other 9157; KL-NMF's spectrum of it
8.1 degrees from the truth, where the summed spectrum of its pixels is 4.0 degrees away).

:func:`refine_support` finds such components from the fit itself: a loading is significant when it exceeds :data:`MIN_Z`
standard errors (Fisher information of the Poisson model, the other loadings held), and a component leaks when its
insignificant loadings, in pixels that could show it (:data:`MIN_WHOLE_Z`), hold more counts than the rest of it
(:data:`MAX_LEAK`), or, where the minor phases are said to be precipitates (absent between their own pixels), a share of
them where none stands out as a faint region on the map (:data:`MAX_LEAK_WITHOUT_REGION`). A component really spread
thinly everywhere (a support film a few counts deep) also leaks by that count, but its insignificant loadings sit near
one standard error and more, where noise fits average 0.40 (:data:`MAX_MEAN_Z`; loadings far below that are not at a
noise fit's maximum likelihood either, :data:`MIN_MEAN_Z`); and a phase's faint real part shows on the map, where noise
fits are independent from pixel to pixel (:data:`MAX_NEIGHBOUR_CORRELATION`). For each component that leaks and passes,
the insignificant loadings are set to zero and the spectra, then the loadings, are fitted again with that support
(multiplicative updates keep a zero at zero). The result's ``info`` says which components were refitted and the figures
that decided it (``loading_support``, ``loading_support_reason``).
"""

from __future__ import annotations

import numpy as np

from ..core.smoothing import normalised_convolution
from .purity import MODEL_FLOOR  # the same trust in a solver's model, for the same reason

EPS = 1e-12
MIN_Z = 3.0  # a loading above this many standard errors is significant
# Refit a component whose judged insignificant loadings hold more counts than the rest of it. Measured (96 x 96 x
# 1024, EDS and EELS, KL-NMF with the defaults): a minor phase in 0.5 % of the pixels 1.5-7.3 at 50-200 counts/pixel
# (0.39 at 2000, where its own pixels outweigh the noise); the majority phases of the same maps, pure and mixed,
# 0.00-0.20
MAX_LEAK = 1.0
# ... or more than this share of them where none of those loadings stands out as a faint region on the map (under
# MAX_REGION_SHARE of them, :func:`faint_region`): all noise fits, then. Measured at 200 counts/pixel: a minor phase in
# 1-2 % of 64 x 64 or 96 x 96 pixels 0.46-0.96 x, regions 0-0.3 % of its judged pixels, its spectrum 1.0-2.4 degrees
# above what its own summed counts allow (refitted: within 0.1; at 2000 counts/pixel and 0.5 %, 0.39-0.86 x, 0.02-0.3
# degrees above, within 0.06 refitted). A phase thin (1-3 %) over half the map beside its particles 0.18-0.94 x, with
# regions of 3.6-15 %: a refit without the region's rule set its real loadings there to zero, so the first rule holds.
# Only with ``precipitates=True``: a phase dissolved evenly at 0.3-1.5 % beside its own pixels (a solute) has no region
# to find, leaks 0.58-0.89 x with noise-like figures (mean z 0.39-0.45), and its real loadings were set to zero in 10
# of 20 such scenes (a review's, 64 x 64 and 128 x 128, 200 counts/pixel): at that dose nothing in the fit tells it
# from noise fits (nor the component's loading fitted to the judged pixels' summed counts: z 7-31 either way)
MAX_LEAK_WITHOUT_REGION = 0.3
MAX_REGION_SHARE = 0.01
# ... unless its insignificant loadings average this many standard errors or more: real counts, not noise fits.
# Measured: noise fits of minor phases 0.39-0.79 (0.40 is the mean of the positive part of a standard normal);
# a support film under particles at 5 counts/pixel 1.97, a uniform fifth phase at 5-10 % of 50-200 counts/pixel
# 1.15-1.29
MAX_MEAN_Z = 1.0
# ... and not far below a noise fit's 0.40 either: loadings at the positive part of their own maximum-likelihood fit
# average that; far less says the fit has not placed them (measured: a 3-phase EELS cube at 20 counts/pixel over 1024
# channels, every component at 0.12-0.26, its spectra 13-57 degrees from the truth; refitting one at 0.62 x leak
# moved it 57 -> 61 degrees). Minor phases' noise fits measured 0.38-0.79
MIN_MEAN_Z = 0.3
# Only pixels that could show the component are judged: a loading holding the pixel's whole count would lie this many
# standard errors out (about the square root of the pixel's count where the component is distinct). At 5 counts/pixel
# no pixel can (a two-phase mixture over 2048 channels: each phase significant in 2-42 of 4096 pixels, its loadings
# elsewhere 0.86-1.56 standard errors on average, real counts that a refit without them turned 51 -> 55 degrees)
MIN_WHOLE_Z = 2 * MIN_Z
# ... and only where they have no structure on the map: noise fits are independent from pixel to pixel (neighbours
# correlate 0.00-0.06 on minor phases at 50-200 counts/pixel), a phase's faint real part is not (0.37-0.61 on pure-pixel
# cubes at 20 counts/pixel, 4-5 phases, whose loadings below 3 standard errors leak 1.7-2.8 x and average 0.50-0.67:
# refitted, one such cube went 6.73 -> 7.62 degrees median)
MAX_NEIGHBOUR_CORRELATION = 0.2
MIN_PAIRS = 50  # neighbouring judged pixels needed to read that correlation
# A phase thinly present over a region and pure elsewhere (a solute over part of the map beside its precipitates): its
# loadings in the region are insignificant one by one but not noise fits; a judged pixel whose neighbourhood's mean z
# stands above a noise fit's mean (NOISE_FIT_Z, sd NOISE_FIT_SD: the positive part of a standard normal) by
# REGION_SIGMAS of its noise is kept. Measured (a reviewer's scene, 64 x 64 x 1024 EDS, 200 counts/pixel, the third
# phase at 1-5 % over half the map and pure in 0.5 % of the pixels): that region's loadings had been set to zero at
# 1-3 % (its counts 0.92 -> 0.26 of the truth, a majority spectrum 0.9 -> 2.1 degrees)
REGION_SIGMA = 3.0
NOISE_FIT_Z = 0.399
NOISE_FIT_SD = 0.584
REGION_SIGMAS = 4.0
# Maps of more pixels are screened on this many (evenly spaced) first, and judged whole only where some component
# comes near the rule there: the standard errors read the whole model, about 1 s on 256 x 256 x 2048
SCREEN_PIXELS = 8192
SCREEN_LEAK = 0.5  # of the leak limit in use (MAX_LEAK, or MAX_LEAK_WITHOUT_REGION for precipitates)
SCREEN_MEAN_Z = 1.2
H_UPDATES = 50  # spectra updates with the refined support (loadings held), then the loadings' updates
ROW_BLOCK = 2048  # rows per block of the model (rows x channels, float64) for the standard errors


def loading_z(w: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z, z_whole)``, each (pixels, k): the loadings over their standard errors under Poisson noise, ``w sqrt(I)``
    with the Fisher information ``I_pc = sum_j H_cj^2 / (W H)_pj`` of each loading (the others held); and the same
    for a loading that held the pixel's whole model count (what the pixel could show of the component). The model
    is trusted down to :data:`MODEL_FLOOR` of the map's mean model at the channel (scaled to the pixel's count), as
    in :mod:`.purity`: a solver's exact zeros would make any count there infinitely informative."""
    z = np.empty_like(w, dtype=np.float64)
    whole = np.empty_like(z)
    # float32 blocks, in place: this read of the whole model is the step's cost (256 x 256 x 2048: 3.0 -> 0.9 s)
    h32 = h.astype(np.float32)
    h2 = (h32**2).T
    h_sums = np.maximum(h.sum(axis=1), EPS)
    mean_model = w.mean(axis=0) @ h
    floor_shape = (MODEL_FLOOR * mean_model / max(float(mean_model.sum()), EPS)).astype(np.float32)
    for lo in range(0, w.shape[0], ROW_BLOCK):
        blk = w[lo : lo + ROW_BLOCK]
        totals = blk @ h_sums  # each pixel's model count
        mu = blk.astype(np.float32) @ h32
        np.maximum(mu, np.maximum(totals[:, None].astype(np.float32) * floor_shape[None, :], EPS), out=mu)
        np.reciprocal(mu, out=mu)
        root_info = np.sqrt((mu @ h2).astype(np.float64))
        z[lo : lo + ROW_BLOCK] = blk * root_info
        whole[lo : lo + ROW_BLOCK] = (totals[:, None] / h_sums[None, :]) * root_info
    return z, whole


def neighbour_correlation(values: np.ndarray, judged: np.ndarray, layout) -> float | None:
    """Pearson correlation of ``values`` between neighbouring judged pixels along the scan's two fastest axes
    (``layout``: a :class:`.regions.PixelLayout`), or None with fewer than :data:`MIN_PAIRS` such pairs."""
    grid = np.full(int(np.prod(layout.nav_shape, dtype=np.int64)), np.nan)
    grid[layout.flat[judged]] = values[judged]
    grid = grid.reshape(layout.nav_shape)
    a, b = [], []
    for axis in range(max(grid.ndim - 2, 0), grid.ndim):
        lo = np.take(grid, np.arange(grid.shape[axis] - 1), axis=axis).ravel()
        hi = np.take(grid, np.arange(1, grid.shape[axis]), axis=axis).ravel()
        both = np.isfinite(lo) & np.isfinite(hi)
        a.append(lo[both])
        b.append(hi[both])
    a, b = np.concatenate(a), np.concatenate(b)
    if len(a) < MIN_PAIRS or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def faint_region(z: np.ndarray, judged: np.ndarray, layout) -> np.ndarray:
    """Judged pixels (bool, as ``judged``) whose neighbourhood's loadings stand above noise fits: the mean ``z`` of the
    judged pixels around each (Gaussian weights of :data:`REGION_SIGMA` pixels over the scan's two fastest axes)
    above :data:`NOISE_FIT_Z` by more than :data:`REGION_SIGMAS` of its noise (the positive part of a standard
    normal has standard deviation :data:`NOISE_FIT_SD`; the mean of ``n`` such, ``sd / sqrt(n)``, with ``n`` the
    weights' effective count)."""
    from scipy.ndimage import gaussian_filter

    n = int(np.prod(layout.nav_shape, dtype=np.int64))
    on, val = np.zeros(n, dtype=bool), np.zeros(n)
    on[layout.flat[judged]] = True
    val[layout.flat[judged]] = z[judged]
    nav = len(layout.nav_shape)
    sigma = [0.0] * max(nav - 2, 0) + [REGION_SIGMA] * min(nav, 2)
    shape = layout.nav_shape
    local, weight = normalised_convolution(val.reshape(shape), on.reshape(shape), sigma, mode="constant", floor=1e-300)
    local, weight = local.reshape(-1), weight.reshape(-1)
    # the effective count of a Gaussian-weighted mean: (sum g)^2 / sum g^2 over the judged neighbours
    squares = gaussian_filter(on.reshape(shape).astype(np.float64), [x / np.sqrt(2.0) for x in sigma],
                              mode="constant").reshape(-1)
    g0 = 1.0 / (2.0 * np.pi * REGION_SIGMA**2) if nav >= 2 else 1.0 / (np.sqrt(2.0 * np.pi) * REGION_SIGMA)
    squared_weight = squares * g0 / (2.0 if nav >= 2 else np.sqrt(2.0))
    n_eff = weight**2 / np.maximum(squared_weight, 1e-300)
    above = local > NOISE_FIT_Z + REGION_SIGMAS * NOISE_FIT_SD / np.sqrt(np.maximum(n_eff, 1.0))
    return judged & above[layout.flat]


def leak_limit(precipitates: bool) -> float:
    """The leak above which a component with no faint region on the map is refitted: :data:`MAX_LEAK`, or
    :data:`MAX_LEAK_WITHOUT_REGION` where the minor phases are said to be precipitates."""
    return MAX_LEAK_WITHOUT_REGION if precipitates else MAX_LEAK


def leaking_components(w: np.ndarray, h: np.ndarray, layout=None,
                       precipitates: bool = False) -> tuple[list[int], np.ndarray, dict]:
    """``(components to refit, mask (pixels, k) of the loadings to set to zero, figures per component)``
    (:data:`MAX_LEAK`, :data:`MAX_MEAN_Z`, :data:`MAX_NEIGHBOUR_CORRELATION`). Only loadings in pixels that could
    show the component are judged (:data:`MIN_WHOLE_Z`). Without ``layout`` (the pixels' places on the map) none is
    refitted: noise fits and a map's faint real part are then not told apart. ``precipitates``: as
    :func:`refine_support`'s."""
    low = leak_limit(precipitates)
    z, whole = loading_z(w, h)
    sig = z > MIN_Z
    judged = ~sig & (whole >= MIN_WHOLE_Z)
    refit, figures = [], {}
    for c in range(w.shape[1]):
        if not sig[:, c].any() or not judged[:, c].any():
            continue
        leak = float(w[judged[:, c], c].sum()) / max(float(w[~judged[:, c], c].sum()), EPS)
        mean_z = float(z[judged[:, c], c].mean())
        figures[c] = {"significant_pixels": int(sig[:, c].sum()), "judged_pixels": int(judged[:, c].sum()),
                      "leak": round(leak, 3), "mean_z": round(mean_z, 3)}
        if leak <= low or not MIN_MEAN_Z <= mean_z < MAX_MEAN_Z or layout is None:
            continue
        faint = faint_region(z[:, c], judged[:, c], layout)
        limit = MAX_LEAK if faint.sum() > MAX_REGION_SHARE * judged[:, c].sum() else low
        judged[faint, c] = False  # a faint but real presence over a region: kept
        leak = float(w[judged[:, c], c].sum()) / max(float(w[~judged[:, c], c].sum()), EPS)
        figures[c] |= {"faint_region_pixels": int(faint.sum()), "leak": round(leak, 3)}
        if leak <= limit:
            continue
        r = neighbour_correlation(w[:, c], judged[:, c], layout)
        figures[c]["neighbour_correlation"] = None if r is None else round(r, 3)
        if r is not None and r < MAX_NEIGHBOUR_CORRELATION:
            refit.append(c)
    return refit, judged, figures


def refine_support(xm, w: np.ndarray, h: np.ndarray, w_updates: int, layout=None,
                   precipitates: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(W, H, info)`` with the leaking components' noise loadings set to zero and the factors refitted on the
    in-memory KL matrix ``xm`` (:class:`._klmu.KLMatrix`); ``W, H`` unchanged where none leaks. ``info``: the
    figures of every component with loadings on both sides of :data:`MIN_Z` and the refitted ones (the rule's
    constants and the words: :func:`described`). ``precipitates``: the minor phases are absent between their own
    pixels, so a component's loadings that show no faint region on the map are refitted from
    :data:`MAX_LEAK_WITHOUT_REGION` (else from :data:`MAX_LEAK` only: a phase dissolved thinly everywhere, 0.3-1.5 %
    of 200 counts/pixel, leaks 0.58-0.89 x without a region, and its real loadings were set to zero)."""
    if w.shape[0] > SCREEN_PIXELS:
        rows = np.unique(np.linspace(0, w.shape[0] - 1, SCREEN_PIXELS).round().astype(np.int64))
        screened = leaking_components(w[rows], h)[2]
        near = SCREEN_LEAK * leak_limit(precipitates)
        if layout is None or not any(v["leak"] > near and v["mean_z"] < SCREEN_MEAN_Z * MAX_MEAN_Z
                                     for v in screened.values()):
            return w, h, {"components": screened, "refitted": [], "screened_pixels": len(rows),
                          "precipitates": bool(precipitates)}
    refit, judged, figures = leaking_components(w, h, layout, precipitates)
    info = {"components": figures, "refitted": refit, "precipitates": bool(precipitates)}
    if not refit:
        return w, h, info
    w, h = w.copy(), h.copy()
    for c in refit:
        w[judged[:, c], c] = 0.0
    for _ in range(H_UPDATES):
        xm.h_update(w, h, with_loss=False)
    for _ in range(w_updates):
        xm.w_update(w, h)
    return w, h, info


def described(info: dict, order) -> tuple[dict, str]:
    """``(figures, reason)``: :func:`refine_support`'s ``info`` with the components numbered as in the result
    (``order``: the fitted component at each position of the result), and what was done and why in words."""
    position = {int(c): i for i, c in enumerate(order)}
    figures = {position[c]: v for c, v in info["components"].items()}
    refitted = sorted(position[c] for c in info["refitted"])
    precipitates = info["precipitates"]
    low = leak_limit(precipitates)
    lower = (f" ({MAX_LEAK_WITHOUT_REGION:g} x where under {MAX_REGION_SHARE:.0%} of them stand out as a faint region "
             "on the map: precipitates=True)") if precipitates else ""
    rule = (f"loadings below {MIN_Z:g} standard errors, where the pixel could show the component, that hold over "
            f"{MAX_LEAK:g} x the counts of the rest of it{lower}, average "
            f"{MIN_MEAN_Z:g}-{MAX_MEAN_Z:g} standard errors (noise fits: 0.40) and correlate under "
            f"{MAX_NEIGHBOUR_CORRELATION:g} between neighbouring pixels (noise has no structure on the map)")
    if refitted:
        said = "; ".join(f"component {c}: {figures[c]['leak']:.2g} x, {figures[c]['mean_z']:.2f} standard errors, "
                         f"neighbours {figures[c]['neighbour_correlation']:.2f}" for c in refitted)
        reason = (f"{said}: {rule}, set to zero and the spectra refitted; a component present in few pixels is "
                  "otherwise fitted to the noise of the others")
    else:
        unplaced = any(v["leak"] > low and MIN_MEAN_Z <= v["mean_z"] < MAX_MEAN_Z
                       and "neighbour_correlation" not in v for v in figures.values())
        reason = f"kept: no component has {rule}" + (
            "; the pixels' places on the map are not known here (a subset fit), so none is judged" if unplaced else "")
    if "screened_pixels" in info:
        reason += f" (decided on {info['screened_pixels']} evenly spaced pixels)"
    return {"refitted": refitted, "min_z": MIN_Z, "max_leak": MAX_LEAK, "precipitates": precipitates,
            "max_leak_without_region": MAX_LEAK_WITHOUT_REGION, "max_region_share": MAX_REGION_SHARE,
            "min_mean_z": MIN_MEAN_Z, "max_mean_z": MAX_MEAN_Z, "max_neighbour_correlation": MAX_NEIGHBOUR_CORRELATION,
            "components": {str(c): figures[c] for c in sorted(figures)}} | (
        {"screened_pixels": info["screened_pixels"]} if "screened_pixels" in info else {}), reason
