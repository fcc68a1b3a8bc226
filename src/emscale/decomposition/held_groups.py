"""Pure-pixel groups held at the outermost mode of their vertex's pixels, where the first groups' evidence allows.

A pure region inside a broad, nearly pure border (a CL emitter's disc of 113 pixels in a diffusion halo of sigma
6 px) gives a vertex whose pure pixels the border's outnumber within the groups' width: the mean shift of
:func:`.vca.vertex_neighbourhoods` climbs into the border (groups of 250-376 pixels, 0-10 % pure), the map then
finds no group filling a region of constant composition, and NMF and MCR refused the pixel end (7.7-12.6 degrees
from the truth at worst where the true discs as groups give 1.7-2.8). :func:`.vca.held_at_outer_modes` holds such a
group at its vertex's outermost mode (38-73 % pure there).

On a mixture the held groups are its more extreme mixtures, and with them the single pixels' evidence no longer sees
the mixing (a rank-3 EDS blob mixture: 13.1 % of the pixels outside the first groups' simplex, 3.2 % outside the
held ones'). So the evidence that tells a mixture is read on the first groups, and the held ones are tried only
where the first fit refused the pixel end because the map showed no region of constant composition or pixels beyond
a vertex, which a group climbed inside its vertex explains, after the single pixels passed (:func:`may_hold`). The
method is then fitted again with the held groups, and that fit replaces the first only where it keeps the pixel end:
elsewhere the first fit stands as it was (the map's groups, :mod:`.map_groups`, are then tried on it as before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from . import vca
from ._method import Context, Method
from .purity import MAX_BEYOND, MAX_DEEP, MAX_OUTSIDE, MIN_PLATEAU, NARROW_BEYOND


def may_hold(info: dict) -> bool:
    """Whether a first fit's verdict leaves the held groups to try: the pixel end refused by the map's regions
    alone (:func:`.purity.channel_end`: a group with more than :data:`.purity.MAX_BEYOND` of the pixels beyond its
    vertex, or none filling a plateau with more than :data:`.purity.NARROW_BEYOND` beyond) after the single pixels
    passed (:func:`.purity.rotation_evidence`), and neither end taken. A pixel end taken keeps its groups: held
    groups moved 10 accepted CL fits nearer the truth (medians by 0.7-1.9 degrees), but also the real Bruker .bcf's
    (30 x 30, k=3: a group of 150 pixels -> 111, NMF's factor 0.9 degrees), whose vertex's pixels thin out towards
    it as a mixture's do. So do a line scan's, the spectra's end, a map mixed pixel by pixel and the single pixels'
    own refusal."""
    ev = info.get("pure_pixel_evidence") or {}
    regions = info.get("pure_pixel_regions") or {}
    if "outside_fraction" not in ev or "line_plateau_fractions" in regions or "mixed_end" in info:
        return False
    if info.get("pure_pixel_rotation") or info.get("pure_channel_rotation") or "beyond_fractions" not in regions:
        return False
    single_pixels_pass = ev["outside_fraction"] <= MAX_OUTSIDE and ev.get("deep_outside_fraction", 0.0) <= MAX_DEEP
    beyond = max(regions["beyond_fractions"].values())
    plateau = max(regions["plateau_fractions"].values())
    return single_pixels_pass and (beyond > MAX_BEYOND or (plateau < MIN_PLATEAU and beyond > NARROW_BEYOND))


def refit_on_held_groups(meth: Method, ctx: Context, idx: np.ndarray, noise: float, first: tuple,
                         configure: Callable[[], None]):
    """``(context, (factors, loadings, info))``: the method fitted again with the groups held at their vertices'
    outermost modes (:func:`.vca.held_at_outer_modes`, ``noise``: a single pixel's score noise) where
    :func:`may_hold` allows, any group moved and that fit keeps the pixel end; else ``(ctx, first)``, the first fit
    ``(factors, loadings, info)`` as it was. ``configure`` sets the matrix's weighting again as for the first fit (a
    method may change it)."""
    if not may_hold(first[2]):
        return ctx, first
    held = vca.held_at_outer_modes(ctx.scores, idx, ctx.groups, noise, vca.GROUP_WIDTH)
    moved = [c for c, (a, b) in enumerate(zip(held, ctx.groups, strict=True)) if not np.array_equal(a, b)]
    if not moved:
        return ctx, first
    configure()
    factors, loadings, info = meth.fit(replace(ctx, groups=held))  # leaves the matrix as the first fit did
    if not info.get("pure_pixel_rotation"):
        return ctx, first
    info["pure_pixel_groups"] = (f"group(s) {', '.join(map(str, moved))} held at their vertex's outermost mode "
                                 f"(the first groups' fit: {first[2].get('pure_pixel_reason', '')})")
    return replace(ctx, groups=held), (factors, loadings, info)
