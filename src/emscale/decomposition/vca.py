"""Vertex component analysis (Nascimento & Bioucas-Dias 2005) on the PCA scores, with (F)CLS abundances.

Pure pixels are the vertices of the data simplex. VCA works in the k-dimensional PCA subspace (the scores,
already computed by passes): rows are projected onto the plane ``y . mean = 1`` (so that pixel intensity does not
matter), then k times a random direction orthogonal to the endmembers found so far picks the pixel with the
most extreme projection.

A single vertex pixel is the *noisiest* pixel in its direction (the most extreme projection is extreme partly
because of its noise), so its spectrum is a poor endmember at EDS count levels (hundreds of counts per pixel).
:func:`vertex_neighbourhoods` replaces each vertex pixel by the pixels around it in the projected subspace (a few
mean-shift steps: the neighbourhood's centre moves to the mode of the pure-pixel cloud), and the endmember is the
PCA model (denoised) of the *sum* of their spectra: the noise drops as 1/sqrt(counts) while a pure region stays
pure. Without pure pixels the neighbourhood mixes slightly more than the single vertex. Where a pure region's
nearly pure border outnumbers it (a CL emitter's disc in its diffusion halo), the groups may be held at the outermost
mode of the vertex's pixels (:func:`held_at_outer_modes`; NMF and MCR fit again with them, :mod:`.held_groups`).

Without pure pixels VCA's endmembers are the most extreme mixtures, and no other member of the family is there to
return: :func:`judged` reads the groups with the tests that decide NMF's and MCR's pure-pixel rotation, and the
result says whether the data show pure pixels (``info["pure_pixel_rotation"]``, ``"pure_pixel_reason"``), with a
warning where they do not. Where groups found on the map-smoothed scores pass the same tests
(:func:`.map_groups.map_shows_pure_regions`), the data show pure pixels and only VCA's own groups miss them: said in
the reason and ``info["pure_pixel_groups"]``, not warned; the spectra stay the own groups'.

Abundances: per-pixel non-negative least squares in the same subspace (``scipy.optimize.nnls`` on k x k
systems), optionally fully constrained (sum to the pixel total, "FCLS") by the usual augmented row.
The method ``"vca"`` of ``decompose``: :class:`VCA`.
"""

from __future__ import annotations

import numpy as np

from ._method import Context, Method, by_energy, register, unit_sum
from .purity import channel_end, floored_channel_rotation, rotation_evidence, without_action
from .regions import PixelLayout


def vca_indices(scores: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Kept-pixel indices of k endmember pixels."""
    rng = np.random.default_rng(seed)
    y = _projected(scores, k)
    a = np.zeros((k, k))
    a[-1, 0] = 1.0
    idx = np.zeros(k, dtype=np.int64)
    for i in range(k):
        w = rng.standard_normal(k)
        f = w - a @ (np.linalg.pinv(a) @ w)
        f /= max(np.linalg.norm(f), 1e-300)
        v = y @ f
        idx[i] = int(np.argmax(np.abs(v)))
        a[:, i] = y[idx[i]]
    return idx


def _projected(scores: np.ndarray, k: int) -> np.ndarray:
    z = scores[:, :k]
    proj = z @ z.mean(axis=0)
    proj = np.where(np.abs(proj) < 1e-300, 1e-300, proj)
    return z / proj[:, None]


def group_centre(y: np.ndarray, wt: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """The inverse-variance weighted mean position of the pixels ``nb``.

    ``y``: the pixels' projected positions and ``wt`` their inverse noise variances (:func:`noise_radii`'s
    projections, squared). The plain mean where none of the pixels holds a count (weight 0: a pixel without counts
    has no position in the subspace, e.g. 98 % of an aborted map).
    """
    total = wt[nb].sum()
    return (wt[nb, None] * y[nb]).sum(axis=0) / total if total > 0 else y[nb].mean(axis=0)


def vertex_neighbourhoods(
    scores: np.ndarray,
    idx: np.ndarray,
    noise: float,
    n_shift: int = 50,
    width: float = 2.0,
    k: int | None = None,
    rivals: np.ndarray | None = None,
    held: tuple[np.ndarray, np.ndarray, float] | None = None,
):
    """Kept-pixel indices of the pixels around each vertex in VCA's projected subspace.

    ``noise`` is the standard deviation of the noise of one score (per pixel and direction; with the Poisson
    weighting it is about ``1 / sqrt(total counts)`` for every pixel). A pixel's projected position
    ``y = z / (z . u)`` then has noise ``noise * sqrt(k - 1) / |z . u|``; the neighbourhood holds the pixels
    within ``width`` such radii of the centre, which starts at the vertex pixel and moves to the
    (inverse-variance weighted) mean of its neighbourhood until the neighbourhood no longer changes (at most
    ``n_shift`` times): a mean shift to the mode of the pure-pixel cloud. Stopping early matters: the vertex pixel
    is extreme partly through its noise, so a neighbourhood only a few steps from it is biased outwards (on the
    demo's EDS sample two steps left the SiO2 endmember 3.6 degrees off, the converged shift 1.4). At most
    ``n / (2k)`` pixels; at least the vertex pixel. Deterministic (stable sorts). ``rivals``: centres (m, k) of
    other vertices; a pixel nearer to one of them than to the moving centre is not taken (a neighbourhood grown
    from a small pure region must not drift onto a big neighbouring one). ``held``: ``(start pixels, inward unit
    direction, most allowed move)``: the shift starts from those pixels' centre and its centre may not move along
    the direction by more than that from there (:func:`held_at_outer_modes`); one vertex then.
    """
    idx = np.asarray(idx, dtype=np.int64)
    k = len(idx) if k is None else k  # the dimension (the number of endmembers), when growing fewer vertices
    y, proj, radius = noise_radii(scores, k, noise, width)
    n = y.shape[0]
    wt = proj**2  # inverse noise variance of y
    # a pixel without counts (vacuum, a hole) has no position: its radius is infinite, and it joined every group up
    # to the cap (a map of EDS grains with a quarter of vacuum: three groups of 682 vacuum pixels, 0.89 -> 2.54
    # degrees from the truth)
    unplaced = proj <= 1e-300
    cap = max(1, n // (2 * k))
    out = []
    for c in range(len(idx)):
        centre = y[idx[c]]
        nb = np.array([idx[c]])
        if held is not None:
            nb, inward, allowed = held
            start = centre = group_centre(y, wt, nb)
        for _ in range(n_shift + 1):
            d = np.sqrt(np.einsum("ij,ij->i", y - centre, y - centre)) / radius
            d[unplaced] = np.inf
            if rivals is not None:
                nearest = np.min([np.einsum("ij,ij->i", y - r, y - r) for r in rivals], axis=0)
                d = np.where(nearest < (d * radius) ** 2, np.inf, d)
            new = np.nonzero(d <= 1.0)[0]
            if len(new) > cap:
                new = np.sort(np.argsort(d, kind="stable")[:cap])
            if len(new) == 0:
                new = np.array([idx[c]])
            if np.array_equal(new, nb):
                break
            nb = new
            centre = group_centre(y, wt, nb)
            if held is not None:
                centre = centre - max(float((centre - start) @ inward) - allowed, 0.0) * inward
        out.append(nb)
    return out


MODE_WIDTH = 0.75  # noise radii of the narrow shift that finds the outermost mode of a vertex's pixels
MODE_PIXELS = 20  # fewer: a few noisy pixels far out, no mode (1-7 on mixtures, 56-99 on the CL discs)
# A pure region's pixels pile up at its vertex, spread by their noise alone: few lie more than TAIL_SIGMAS standard
# deviations outward of the mode's centre (a Gaussian cluster puts 0.6 % of its pixels there, about 1 % of its
# mode's). CL discs in halos (sigma 4-18 px, seeds 0-2; 33 modes held): 0-1.2 % of the mode's pixels. A mixture's
# most extreme pixels are the thin end of a continuous cloud that goes on outward: 3.2-39 % at 7 of the 13 mixture
# vertices whose groups lie inside their mode (18 EDS/EELS mixtures at 200-2000 counts/pixel), among them each whose
# group held by a02be8f had moved a fit; the other 6 (0-2.8 %) are held, and the evidence read on the first groups
# decides (.held_groups). At 2 deviations the two overlapped (CL up to 7.3 %, mixtures from 9 %)
TAIL_SIGMAS = 2.5
MAX_OUTER_TAIL = 0.03
INWARD_SIGMAS = 2.0  # how far (standard errors of the mode's centre) a held group's centre may lie inside it


def held_at_outer_modes(scores: np.ndarray, idx: np.ndarray, groups, noise: float, width: float):
    """The groups, each held at the outermost mode of its vertex's pixels where its centre lies inside it.

    A pure region inside a broad mixed border (a CL emitter's disc in its diffusion halo) gives a vertex whose pure
    pixels are outnumbered, within two noise radii, by the border's nearly pure ones: the mean shift of
    :func:`vertex_neighbourhoods` climbs into that denser border (CL, 4 discs of 113 pure pixels in halos of sigma
    6 px: groups of 250-376 pixels, 0-10 % pure). A narrow shift (:data:`MODE_WIDTH` radii) from the vertex pixel
    stops at the first mode from outside, the pure pixels'. Where that mode holds :data:`MODE_PIXELS` pixels or
    more and the group's centre lies farther inside it (towards the other groups' centres) than the mode's own
    reach (its pixels' mean noise radius at :data:`MODE_WIDTH`: a narrow shift from the most extreme pixel may stop
    that far out on a region of pure pixels alone), and the pixels outward of the mode are those of a cluster there
    (:func:`noise_explains`; a mixture's most extreme pixels are not), the group is grown again from the mode,
    ``width`` radii wide, its centre never farther inside than :data:`INWARD_SIGMAS` standard errors of the mode's
    centre (the same CL: 38-73 % pure). Elsewhere the group stays as it was. The driver fits again with these
    groups only where the first groups' evidence allows (:mod:`.held_groups`).
    """
    k = len(groups)
    if k < 2:
        return groups
    y, proj, reach = noise_radii(scores, k, noise, MODE_WIDTH)
    wt = proj**2
    centres = np.stack([group_centre(y, wt, g) for g in groups])
    out = list(groups)
    for c in range(k):
        mode = vertex_neighbourhoods(scores, idx[c : c + 1], noise, width=MODE_WIDTH, k=k)[0]
        total = float(wt[mode].sum())
        if len(mode) < MODE_PIXELS or total <= 0:
            continue
        start = group_centre(y, wt, mode)
        inward = np.delete(centres, c, axis=0).mean(axis=0) - start
        inward /= max(float(np.linalg.norm(inward)), 1e-300)
        if (centres[c] - start) @ inward > float(np.mean(reach[mode])) and noise_explains(y, reach, start, inward,
                                                                                           len(mode), k):
            allowed = INWARD_SIGMAS * max(float(noise), 1e-300) / np.sqrt(total)
            out[c] = vertex_neighbourhoods(scores, idx[c : c + 1], noise, width=width, k=k,
                                           held=(mode, inward, allowed))[0]
    return out


def noise_explains(y: np.ndarray, reach: np.ndarray, start: np.ndarray, inward: np.ndarray, n_mode: int,
                    k: int) -> bool:
    """Whether the pixels outward of a mode's centre are those of a cluster there, not a mixture's extreme pixels.

    Of the pixels within a noise radius of the line through ``start`` along ``inward``, at most
    :data:`MAX_OUTER_TAIL` of the mode's ``n_mode`` lie more than :data:`TAIL_SIGMAS` standard deviations of their
    noise outward. ``reach``: the pixels' :data:`MODE_WIDTH` noise radii.
    """
    sd = reach / (MODE_WIDTH * np.sqrt(max(k - 1, 1)))  # one direction's noise of each pixel's position
    along = (y - start) @ inward
    across = np.linalg.norm((y - start) - np.outer(along, inward), axis=1)
    tail = (across <= sd * np.sqrt(max(k - 1, 1))) & (along < -TAIL_SIGMAS * sd)
    return int(np.count_nonzero(tail)) <= MAX_OUTER_TAIL * n_mode


def vertex_scores(scores: np.ndarray, groups, row_weight: np.ndarray | None = None) -> np.ndarray:
    """(k, k) summed PCA scores of each pixel group (:func:`pure_pixel_groups`), each pixel weighted by
    ``row_weight`` (the square root of its total in Poisson-weighted PCA, so the sum is that of the raw spectra),
    divided by the group size."""
    k = len(groups)
    z = scores[:, :k]
    wt = np.ones(z.shape[0]) if row_weight is None else np.asarray(row_weight, dtype=float)
    return np.stack([(wt[nb, None] * z[nb]).mean(axis=0) for nb in groups])


def groups_model(ctx: Context) -> tuple[np.ndarray, np.ndarray] | None:
    """``(w, h)`` in data units: the PCA's rank-k model of the data written as barycentric loadings ``w`` (pixels,
    k; negative where a pixel lies outside the groups' simplex) of the pure-pixel groups' mean spectra ``h`` (k,
    channels; their PCA model, :func:`vertex_scores`). None where the groups span fewer than k vertices."""
    dm = ctx.dm
    vs = vertex_scores(ctx.scores, ctx.groups, dm.root_ag)
    if not np.all(np.isfinite(vs)) or np.linalg.cond(vs) > 1e8:
        return None
    w = (dm.root_ag[:, None] * ctx.scores) @ np.linalg.inv(vs)
    return w, vs @ (ctx.factors.T * dm.root_bh[None, :])


GROUP_WIDTH = 1.5  # noise radii of the pure-pixel groups' neighbourhoods (pure_pixel_groups)


def pure_pixel_groups(scores: np.ndarray, k: int, noise: float, seed: int = 0, width: float = GROUP_WIDTH):
    """(vertex pixel indices, groups of pixels around each vertex): VCA's vertices (:func:`vca_indices`), each
    grown into a neighbourhood (:func:`vertex_neighbourhoods`), and made distinct.

    VCA's random directions can pick two noisy pixels near the *same* vertex and miss a vertex whose pure region
    is small (seen on a ground-truth cube: two groups of 170 pixels on one phase, none on a phase with 71 pure
    pixels). Two groups sharing more than half of the smaller one are such a pair: the later one is replaced by
    the pixel farthest from the affine hull of the other groups' centres (a successive-projection step on
    denoised vertices, discounted by each pixel's noise radius so that a faint noisy pixel does not win), grown
    the same way but never onto pixels nearer to another group's centre. Repeated until the groups are distinct
    (at most k times)."""
    y, proj, radius = noise_radii(scores, k, noise, width)
    wt = proj**2
    idx = vca_indices(scores, k, seed=seed)
    groups = vertex_neighbourhoods(scores, idx, noise, width=width)
    for _ in range(k):
        dup = first_duplicate(groups)
        if dup is None:
            break
        others = [g for j, g in enumerate(groups) if j != dup]
        centres = np.stack([group_centre(y, wt, g) for g in others])
        d = _distance_to_affine_hull(y, centres) - 1.5 * radius
        idx[dup] = int(np.argmax(d))
        groups[dup] = vertex_neighbourhoods(scores, idx[dup : dup + 1], noise, width=width, k=k, rivals=centres)[0]
    return idx, groups


def share_at_vertices(scores: np.ndarray, groups, noise: float, width: float = 1.5) -> float:
    """The fraction of the pixels within ``width`` noise radii of a group's centre in VCA's projected subspace (the
    groups' own neighbourhood width in :func:`pure_pixel_groups`, without its cap of ``n / (2k)`` pixels). Where
    every pixel is pure, it is the share of the noise within that radius (chi-square with ``k - 1`` degrees below
    ``width^2 (k - 1)``: 0.87, 0.89, 0.92 for k = 2, 3, 4); where the phases mix, about the groups' own share.
    Pixels without a position (no counts: vacuum, a hole) count neither way."""
    k = len(groups)
    y, proj, radius = noise_radii(scores, k, noise, width)
    near = np.zeros(len(y), dtype=bool)
    for g in groups:
        near |= np.linalg.norm(y - group_centre(y, proj**2, g), axis=1) <= radius
    placed = proj > 1e-300
    return float(near[placed].mean()) if placed.any() else 0.0


def noise_radii(scores: np.ndarray, k: int, noise: float, width: float):
    """Each pixel's projected position, its projection on the mean score and its noise radius.

    Returns ``(y, proj, radius)``: the positions ``y = z / (z . u)`` of the scores ``z`` (their first ``k``) on
    the plane ``y . u = 1`` (``u`` the mean score), the projections ``proj = |z . u|``, and ``width`` times the
    noise of each position, ``noise * sqrt(k - 1) / |z . u|`` (:func:`vertex_neighbourhoods`).
    """
    z = scores[:, :k]
    proj = np.maximum(np.abs(z @ z.mean(axis=0)), 1e-300)
    return _projected(scores, k), proj, width * max(float(noise), 1e-300) * np.sqrt(max(k - 1, 1)) / proj


def first_duplicate(groups) -> int | None:
    """The first group that shares more than half of its pixels with an earlier group, or None.

    ``groups``: pixel index arrays, each without repeats. The overlap is counted against the smaller of the two
    groups; the index returned is the later group's, the one :func:`pure_pixel_groups` grows again elsewhere.
    """
    for b in range(len(groups)):
        for a in range(b):
            shared = np.intersect1d(groups[a], groups[b], assume_unique=True).size
            if shared > 0.5 * min(len(groups[a]), len(groups[b])):
                return b
    return None


def _distance_to_affine_hull(y: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = y - centres[0]
    if len(centres) > 1:
        q = np.linalg.qr((centres[1:] - centres[0]).T)[0]
        d = d - (d @ q) @ q.T
    return np.sqrt(np.einsum("ij,ij->i", d, d))


def noise_level(trace: float, eigenvalues: np.ndarray, k: int, n_pixels: int, n_channels: int) -> float:
    """Per-entry noise standard deviation of the (weighted) matrix: the variance left after k components,
    spread over the remaining ``n_pixels * (n_channels - k)`` degrees of freedom."""
    rest = max(float(trace) - float(np.sum(eigenvalues[:k])), 0.0)
    return float(np.sqrt(rest / max(n_pixels * max(n_channels - k, 1), 1)))


def evidence_noise(ctx) -> dict:
    """The noise model of the pure-pixel evidence (:func:`.purity.rotation_evidence`): Poisson for counts (the
    weighting on), else Gaussian at the PCA's per-entry level (:func:`noise_level`)."""
    dm = ctx.dm
    if dm.row_scale is not None:
        return {"noise": "poisson"}
    sigma = noise_level(ctx.pca.trace, ctx.pca.eigenvalues, ctx.k, dm.n_pixels, dm.n_channels)
    return {"noise": "gaussian", "sigma2": sigma**2}


def subspace_abundances(z: np.ndarray, e: np.ndarray, closure: bool = False, delta: float = 1e3) -> np.ndarray:
    """Per-pixel NNLS ``z_i ~= e @ a_i`` (a_i >= 0) for z (pixels, k) and endmember coordinates e (k, c).

    With ``closure`` the abundances of each pixel sum to ``totals`` given as the last column of ``z`` (the
    caller appends them) through an augmented row weighted by ``delta``.
    """
    from scipy.optimize import nnls  # here: scipy.optimize costs ~0.15 s to import, and only VCA needs it

    n = z.shape[0]
    out = np.zeros((n, e.shape[1]))
    if closure:
        e = np.vstack([e, delta * np.ones((1, e.shape[1]))])
    for i in range(n):
        out[i] = nnls(e, z[i])[0]
    return out


# summed counts of a pure-pixel group below which it places no vertex. A vertex pixel of one or two counts is far out
# through its noise alone (Poisson weighting raises a rare channel's single count), and the simplex of such vertices
# holds every pixel, so the single pixels' test passed: on pure grains at 3-5 counts/pixel (96 x 96 x 1024) VCA's
# groups were 1-4 pixels of 1-16 counts in all, its spectra 47-89 degrees from the truth, said to be pure pixels
# ("0.0 % outside"). A group of 100 counts estimates its lines' shares to 10-25 %; a real one-pixel phase at
# hundreds of counts per pixel still passes
MIN_GROUP_COUNTS = 100


def _faint_group(groups, counts: list[float]) -> str | None:
    """Why a pure-pixel group holds too few ``counts`` (each group's summed counts) to place a vertex
    (:data:`MIN_GROUP_COUNTS`), or None."""
    j = int(np.argmin(counts))
    if counts[j] >= MIN_GROUP_COUNTS:
        return None
    return (f"pure-pixel group {j} holds {counts[j]:.0f} count(s) in {len(groups[j])} pixel(s), under "
            f"{MIN_GROUP_COUNTS}: too few to place a vertex (bin the map to gather counts)")


def judged(ctx: Context) -> dict:
    """Whether the data show pure pixels at the groups ``ctx.groups``: not where a group holds too few counts
    (:data:`MIN_GROUP_COUNTS`), else by the tests that decide NMF's and MCR's pure-pixel rotation, applied to the
    groups' PCA model (:func:`groups_model`): the single pixels' evidence (:func:`.purity.rotation_evidence`), then
    the map (:func:`.purity.channel_end`: a vertex many pixels lie beyond, no group filling a region of constant
    composition, and on EDS data the spectra's end weighed against the pixel end). The result's
    ``pure_pixel_rotation`` (True: shown), ``pure_pixel_evidence``, ``pure_pixel_reason`` and, where the map was
    read, ``pure_pixel_regions``."""
    dm = ctx.dm
    if dm.row_scale is not None:  # counts (Poisson weighting on): each group's own
        counts = [float(dm.sums.row_sums[g].sum()) for g in ctx.groups]
        faint = _faint_group(ctx.groups, counts)
        if faint is not None:
            return {"pure_pixel_rotation": False, "pure_pixel_reason": faint,
                    "pure_pixel_evidence": {"group_sizes": [len(g) for g in ctx.groups], "group_counts": counts}}
    model = groups_model(ctx)
    if model is None:
        return {"pure_pixel_rotation": False, "pure_pixel_evidence": {"group_sizes": [len(g) for g in ctx.groups]},
                "pure_pixel_reason": f"the {ctx.k} pure-pixel groups do not define {ctx.k} distinct vertices"}
    noise = evidence_noise(ctx)
    shown, evidence, reason = rotation_evidence(*model, ctx.groups, **noise)
    out = {"pure_pixel_rotation": shown, "pure_pixel_evidence": evidence, "pure_pixel_reason": reason}
    if shown:
        layout = PixelLayout.of(dm)
        # the spectra's end weighed from one pure-channel step of the model, its channel groups chosen from the
        # spectra raised to their continuum level (purity.floored_channel_rotation), not from the model itself: the
        # model's spectra are the groups' vertices, and where a vertex is an extreme mixture (Ag particles seen
        # through their Al substrate, 50 x 50 x 2048) the substrate's groups fell on the faint continuum, where the
        # mixed vertex is lowest, not at Al Ka; the spectra's end from there lay 6-9 degrees from the model (under
        # DISPUTED_DEGREES): no warning, Ag 7-56 degrees from the truth. Of 16 Ag-on-Al maps (Ag at 0.6 and 0.9, 200
        # and 380 counts/pixel, VCA 6-60 degrees off) 14 are warned about (the two others 6-7 degrees off), 9 with the
        # step's groups chosen from its own spectra; on 364 other EDS scenes (512 and 2048 channels) six more: four
        # with VCA 10-22 degrees off (NMF 2-7), a blob mixture where VCA is at 3.0 (NMF 10.4, MCR 3.7) and a
        # pure-patch cube where it is at 4.7 (NMF 4.3)
        start = floored_channel_rotation(*model, **noise)[3] if ctx.eds and layout.judgeable else None
        on_map, _ = channel_end(*model, model, ctx.eds, layout, **noise, channel_start=start)
        out |= {key: on_map[key] for key in ("pure_pixel_rotation", "pure_pixel_reason", "pure_pixel_regions")
                if key in on_map}
    out["pure_pixel_reason"] = without_action(out["pure_pixel_reason"])
    return out


@register
class VCA(Method):
    """Endmembers: the PCA model of the summed spectra of each pure-pixel group (:func:`pure_pixel_groups`),
    unweighted, clipped and normalised to unit sum; abundances by NNLS in the weighted PCA subspace
    (:func:`subspace_abundances`). Option: ``closure`` (each pixel's abundances sum to one: fractions of its
    total). Whether the data show pure pixels at the groups: :func:`judged`, in the result's info (a warning where
    they do not)."""

    name = "vca"
    nonnegative = True
    uses_pure_pixels = True
    options = {"closure": False, "settle_subspace": True}
    recorded = ("closure", "settle_subspace")
    # VCA reads its vertices straight from the PCA subspace, refining nothing, so the randomized route's power
    # iterations go on until it settles (as PCA's and ICA's): at 3 counts/pixel two left pure grains 11.7-19.7
    # degrees from the truth, the settled subspace 4.9-5.8, as the exact route (test_vca); at 2 counts/pixel a
    # review's scene went 46.0 -> 24.3 (exact 14.4: the rule stops at 7 iterations unsettled). Histories recorded
    # before the option ran two
    before_recorded = {"settle_subspace": False}
    refines_subspace = False
    endmembers_are_pure_pixels = True

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        dm, v, z = ctx.dm, ctx.factors, ctx.scores
        e = (vertex_scores(z, ctx.groups, dm.root_ag) @ v.T) * dm.root_bh[None, :]
        e = np.maximum(e, 0.0)
        e /= np.maximum(e.sum(axis=1, keepdims=True), 1e-300)
        # Abundances in the weighted PCA subspace: z_i * sqrt(aG_i) = sum_c a_ic V^T (e_c / sqrt(bH)).
        ecoord = v.T @ (e / dm.root_bh[None, :]).T  # (k, k)
        target = z * dm.root_ag[:, None]
        if self.closure:
            target = np.concatenate([target, 1e3 * dm.sums.row_sums[:, None]], axis=1)
        a = subspace_abundances(target, ecoord, closure=self.closure)
        fw = (e / dm.root_bh[None, :]).T  # weighted units, so that the common unweighting applies
        return (*by_energy(*unit_sum(*ctx.unweighted(fw, a / dm.root_ag[:, None]))), judged(ctx))
