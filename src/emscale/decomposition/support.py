"""Loadings fitted to noise: a minor phase's component spread thinly over pixels where it is absent.

A non-negative loading fitted to noise is not zero on average: where a component is absent, its maximum-likelihood
loading is the positive part of a zero-mean estimate, about 0.4 of its standard error. Summed over the many pixels
of a majority phase, those loadings outweigh the few pixels where a minor phase really is, and its spectrum is then
fitted mostly to the majority's noise (measured, issue 17: a phase in 0.5 % of a 96 x 96 x 1024 EDS map at 200
counts/pixel held 11 600 counts at its own 59 pixels and 17 000 spread over the other 9157; KL-NMF's spectrum of it
8.1 degrees from the truth, where the summed spectrum of its pixels is 4.0 degrees away).

:func:`refine_support` finds such components from the fit itself: a loading is significant when it exceeds
:data:`MIN_Z` standard errors (Fisher information of the Poisson model, the other loadings held), and a component
leaks when its insignificant loadings hold more counts than its significant ones (:data:`MAX_LEAK`). A component
really spread thinly everywhere (a support film a few counts deep) also leaks by that count, but its insignificant
loadings sit near one standard error and more, where noise fits average 0.40 (:data:`MAX_MEAN_Z`). For each
component that leaks and passes, the insignificant loadings are set to zero and the spectra, then the loadings,
are fitted again with that support (multiplicative updates keep a zero at zero). The result's ``info`` says which
components were refitted and the figures that decided it (``loading_support``, ``loading_support_reason``).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12
MODEL_FLOOR = 0.1  # purity.MODEL_FLOOR's trust in the model, for the same reason
MIN_Z = 3.0  # a loading above this many standard errors is significant
# Refit a component whose insignificant loadings hold more counts than its significant ones. Measured (96 x 96 x
# 1024, EDS and EELS, KL-NMF with the defaults): a minor phase in 0.5 % of the pixels 1.5-7.3 at 50-200 counts/pixel
# (0.39 at 2000, where its own pixels outweigh the noise); the majority phases of the same maps, pure and mixed,
# 0.00-0.20
MAX_LEAK = 1.0
# ... unless its insignificant loadings average this many standard errors or more: real counts, not noise fits.
# Measured: noise fits of minor phases 0.39-0.79 (0.40 is the mean of the positive part of a standard normal);
# a support film under particles at 5 counts/pixel 1.97, a uniform fifth phase at 5-10 % of 50-200 counts/pixel
# 1.15-1.29
MAX_MEAN_Z = 1.0
# Only pixels that could show the component are judged: a loading holding the pixel's whole count would lie this many
# standard errors out (about the square root of the pixel's count where the component is distinct). At 5 counts/pixel
# no pixel can (a two-phase mixture over 2048 channels: each phase significant in 2-42 of 4096 pixels, its loadings
# elsewhere 0.86-1.56 standard errors on average, real counts that a refit without them turned 51 -> 55 degrees)
MIN_WHOLE_Z = 2 * MIN_Z
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


def leaking_components(w: np.ndarray, h: np.ndarray) -> tuple[list[int], np.ndarray, dict]:
    """``(components to refit, mask (pixels, k) of the loadings to set to zero, figures per component)``
    (:data:`MAX_LEAK`, :data:`MAX_MEAN_Z`). Only loadings in pixels that could show the component are judged
    (:data:`MIN_WHOLE_Z`)."""
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
        if leak > MAX_LEAK and mean_z < MAX_MEAN_Z:
            refit.append(c)
    return refit, judged, figures


def refine_support(xm, w: np.ndarray, h: np.ndarray, w_updates: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(W, H, info)`` with the leaking components' noise loadings set to zero and the factors refitted on the
    in-memory KL matrix ``xm`` (:class:`._klmu.KLMatrix`); ``W, H`` unchanged where none leaks. ``info``: the
    figures of every component with loadings on both sides of :data:`MIN_Z`, the refitted ones and why."""
    refit, judged, figures = leaking_components(w, h)
    info = {"min_z": MIN_Z, "max_leak": MAX_LEAK, "max_mean_z": MAX_MEAN_Z, "components": figures,
            "refitted": refit}
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


def described(info: dict, order) -> dict:
    """``(figures, reason)``: :func:`refine_support`'s ``info`` with the components numbered as in the result
    (``order``: the fitted component at each position of the result), and what was done and why in words."""
    position = {int(c): i for i, c in enumerate(order)}
    figures = {position[c]: v for c, v in info["components"].items()}
    refitted = sorted(position[c] for c in info["refitted"])
    if refitted:
        said = "; ".join(f"component {c}: {figures[c]['leak']:.2g} x its significant counts, {figures[c]['mean_z']:.2f}"
                         " standard errors on average" for c in refitted)
        reason = (f"{said}: loadings below {MIN_Z:g} standard errors that hold more counts than the significant ones "
                  f"(over {MAX_LEAK:g} x) and average under {MAX_MEAN_Z:g} standard error (noise fits average 0.40) "
                  "were set to zero and the spectra refitted: a component present in few pixels is otherwise fitted "
                  "to the noise of the others")
    else:
        reason = (f"kept: no component's loadings below {MIN_Z:g} standard errors hold more counts than its "
                  f"significant ones (over {MAX_LEAK:g} x) while averaging under {MAX_MEAN_Z:g} standard error")
    return {"refitted": refitted, "min_z": MIN_Z, "max_leak": MAX_LEAK, "max_mean_z": MAX_MEAN_Z,
            "components": {str(c): figures[c] for c in sorted(figures)}}, reason
