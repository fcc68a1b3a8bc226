"""Pure-pixel groups found again on the map, where those of single pixels were refused.

At low counts, phases whose spectra differ little (EELS FeO and NiO grains, 6 degrees apart, 200 counts/pixel)
overlap pixel by pixel in the PCA subspace, and each pure-pixel group (:func:`.vca.pure_pixel_groups`) holds two of
them (450 and 232 pixels); pixels then lie beyond or outside the groups' simplex, and the evidence
(:mod:`.purity`) refuses it. The PCA scores smoothed on the map (:data:`.regions.SMOOTHING`) find the grains' own
groups, and the method is fitted once more with them.

Tried only where the first groups were refused: groups from smoothed scores blur a phase a few pixels wide (MCR on
3-pixel EELS layers: 2.2 -> 21.5 degrees, had they replaced groups that passed). And taken only where the map is
regions of pure phases: a mixture's smoothed extremes too can pass the evidence (4 MCR and 2 NMF cells of the
no-pure-pixel grid of ``test_no_pure_pixels`` went worse than the solver's own), but there a group is a few pixels
(1-5) or few pixels sit at a vertex (1-31 % on the grid's and a reviewer's mixtures, against 63-85 % on pure EELS
grains, layers and grains under a thickness ramp at 50-300 counts/pixel).

Measured, NMF / MCR, the solver's own -> now (64 x 64 x 1024 EELS): grains at 50, 200 and 300 counts/pixel
28.6 / 31.0 -> 5.2 / 5.2, 29.1 / 12.5 -> 2.5 / 2.5 and -> 2.0 / 2.0 degrees; 3-pixel layers at 50 counts/pixel
29.2 / 29.8 -> 4.5 / 4.4; grains under a thickness ramp, MCR at 200 counts/pixel, 18.5 -> 2.1. No EDS or CL scene
of the same set changed, and the grid's cells all stay where they were.

A line scan's groups are found on the scores smoothed along the line (:func:`.regions.line_smoothed_scores`, no
group under :data:`MIN_LINE_GROUP` pixels): an EDS layer at 200 counts/pixel (issue 17's line grid, seed 1) had a
group of one noisy pixel at its interface, the spectra's end was taken at 9.8 degrees from the truth at worst (the
solver's own 6.9); its groups along the line pass, 6.1.

It costs a smoothing and a group search where the map shows no regions, and a second fit where it does. That fit
is given the first one (``Context.first_fit``): NMF, whose start then uses no groups, goes on from its factorisation
(20-170 iterations where the first took 340-900; a fresh second fit had tripled the time, 6.9 -> 20.6 s on a 64 x 64
x 1024 cube); MCR starts from the groups themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import vca
from ._method import Context, Method
from .regions import MIN_PIXELS_TO_REFUSE, PixelLayout, line_smoothed_scores, smoothed_scores

MIN_GROUP = 13  # pixels: the smoothing's footprint (4 pi sigma^2); a smaller group is a noisy extreme, no region
# along a line scan the smoothing averages 2 sqrt(pi) sigma = 3.5 pixels (.regions.PixelLayout.averaged): groups are
# found on the scores smoothed along the line (.regions.line_smoothed_scores), where a layer's group of one noisy
# pixel at its interface refused the pixel end (issue 17's line grid, EDS layer at 200 counts/pixel, seed 1)
MIN_LINE_GROUP = 4
MIN_AT_VERTICES = 0.5  # share of the pixels at a smoothed group's vertex (vca.share_at_vertices)


def pure_pixels_refused(info: dict) -> bool:
    """The method judged the pure-pixel groups (a rotation asked for) and kept neither end of the family."""
    return ("pure_pixel_evidence" in info and not info.get("pure_pixel_rotation")
            and not info.get("pure_channel_rotation"))


def groups_on_the_map(ctx: Context, noise: float):
    """``(vertex pixels, groups, the share at their vertices)``: pure-pixel groups found on the PCA scores smoothed
    on the map (``noise``: a single pixel's score noise), or ``(None, None, why not)`` where the map is no full
    scan or does not look like regions of pure phases."""
    layout = PixelLayout.of(ctx.dm)
    line = layout.judged_as_line
    smooth = line_smoothed_scores(ctx.scores, layout) if line else smoothed_scores(ctx.scores, layout)
    if smooth is None:
        return None, None, ("the line scan is not measured at every pixel" if line else f"the map is no full scan "
                            f"with {MIN_PIXELS_TO_REFUSE} pixels or more away from its edge to smooth")
    scores, rows, reduction = smooth
    idx, groups = vca.pure_pixel_groups(scores, ctx.k, noise * reduction, seed=ctx.seed)
    share = vca.share_at_vertices(scores, groups, noise * reduction)
    idx, groups = rows[idx], [rows[g] for g in groups]
    smallest, least = min(len(g) for g in groups), MIN_LINE_GROUP if line else MIN_GROUP
    if smallest < least:
        return None, None, f"one holds {smallest} pixel(s), under the smoothing's {least}: no region"
    if share < MIN_AT_VERTICES:
        return None, None, (f"{100 * share:.0f} % of the pixels sit at their vertices (under "
                            f"{100 * MIN_AT_VERTICES:.0f} %): the map is no regions of pure phases")
    return idx, groups, f"{100 * share:.0f} % of the pixels sit at their vertices{', along the line' if line else ''}"


_OWN = "from the single pixels' PCA scores, the method's own"


def map_shows_pure_regions(ctx: Context, noise: float) -> tuple[bool, str]:
    """``(shown, note)``: whether pure-pixel groups found on the map (:func:`groups_on_the_map`) pass VCA's evidence
    (:func:`.vca.judged`) where the single pixels' groups were refused, and a note saying which groups were read and
    why. For a method whose endmembers are its groups (VCA), which keeps them whatever the map shows: the verdict
    says whether the *data* lack pure pixels or only its groups miss them.

    At 200 counts/pixel two EELS phases 3 degrees apart (TiO2, Ti2O3, 64 x 64 x 1024, each pure over a quarter of
    the map) lie 0.1-0.2 noise radii apart pixel by pixel: VCA's single pixels' groups hold both, and one sits
    between them and the third phase (160-180 of its 680 pixels from the other two), which 17 % of the pixels then
    lie beyond. The map's groups fill the phases (600 pixels of the third phase, none of the others) and pass."""
    idx, groups, said = groups_on_the_map(ctx, noise)
    smoothed = _smoothed_on(ctx)
    if groups is None:
        return False, f"{_OWN}; groups from the {smoothed} PCA scores were not read: {said}"
    verdict = vca.judged(replace(ctx, groups=groups))
    if verdict["pure_pixel_rotation"]:
        return True, f"{_OWN}; groups from the {smoothed} PCA scores ({said}) pass: {verdict['pure_pixel_reason']}"
    return False, (f"{_OWN}; groups from the {smoothed} PCA scores ({said}) were refused too: "
                   f"{verdict['pure_pixel_reason']}")


def refit_on_map_groups(meth: Method, ctx: Context, noise: float, first: tuple, configure: Callable[[], None]):
    """``((vertex pixels, factors, loadings, info), note)``: the method fitted again with the groups of
    :func:`groups_on_the_map`, where the map shows regions and those groups pass the method's evidence; else
    ``(None, note)``, without a fit where the map shows no regions. ``first``: the first fit's ``(factors, loadings,
    info)``. The note (``info["pure_pixel_groups"]``) says which groups were kept and why. ``configure`` sets the
    matrix's weighting again as for the first fit (a method may change it)."""
    idx, groups, said = groups_on_the_map(ctx, noise)
    if groups is not None:
        configure()
        factors, loadings, info = meth.fit(replace(ctx, groups=groups, first_fit=first[:2]))
        if info.get("pure_pixel_rotation"):
            info["pure_pixel_groups"] = (f"from the {_smoothed_on(ctx)} PCA scores ({said}), which passed; the "
                                         f"single pixels' groups were refused ({first[2]['pure_pixel_reason']})")
            return (idx, factors, loadings, info), info["pure_pixel_groups"]
        said = f"{said}, but they were refused too ({info.get('pure_pixel_reason', '')})"
    return None, (f"from the single pixels' PCA scores; groups from the {_smoothed_on(ctx)} scores were not taken: "
                  f"{said}")


def _smoothed_on(ctx: Context) -> str:
    """Where :func:`groups_on_the_map` smoothed the scores, in the notes' words (a line scan's: along its line)."""
    return "line-smoothed" if PixelLayout.of(ctx.dm).judged_as_line else "map-smoothed"
