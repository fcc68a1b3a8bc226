"""Pure-pixel groups of one or two pixels grown again where the lone pixel's counts make it one of the regrown cluster.

VCA's vertex is the most extreme pixel in its direction, extreme partly through its noise; one pushed far enough
out has no neighbour within its noise radius, and :func:`.vca.pure_pixel_groups` leaves it a group of one. Its
spectrum is then taken as its phase's (Mo / MoS2 / PbS grains, 48 x 48 x 2048, 200 counts/pixel: the MoS2 vertex
pixel alone, NMF's MoS2 8.97 degrees from the truth, the other two 1.3-1.7; issue 17). Grown again from the pixel
nearest it, such a group may be its phase's pure region (there: 370 of 384 pixels MoS2), but it may as well be
another phase's region or a mixture's (a sparse EDS cube at 30 counts/pixel: groups of 1 and 2 grown into 682 and
339 pixels of the wrong phase, MCR 23 -> 65 degrees), and on real maps a group of one is often right (the Velox
EELS maps). So the regrown group replaces the lone one only where it is a cluster (few pixels beyond it, as a pure
region's; a mixture's extreme pixels go on outward) and the lone pixel's counts are explained as Poisson
noise around the regrown group's spectrum scaled to its total (:func:`lone_pixel_statistic`, a likelihood ratio
with ``k - 1`` degrees of freedom, against the groups' summed counts), within the chance bound of the ``n`` pixels
VCA searched.

Why counts, not the distance in the projected subspace: the scores' noise is heavier-tailed than their Gaussian
model, from single counts in channels of nearly no expected counts weighted by the PCA factors' noise there (the
grains' lone pixel: 25 of its Mahalanobis distance's 36 from the channels above 2.6 keV; each phase's most extreme
true pure pixel at 28-36 where chi-square's bound is 21.5). The likelihood ratio weighs a count by how much it tells
the phases apart, and on the true pure pixels of those grains it is chi-square's (medians 1.25-1.68, largest
10.6-15.8 of 486-1099; chi-square(2): 1.39, about 12).
"""

from __future__ import annotations

import numpy as np

from . import vca

MIN_GROUP_PIXELS = 3  # a group of fewer pixels is a lone vertex pixel (with at most one neighbour)
CHANCE = 0.05  # the chance that any of the n pixels searched, one of a cluster, is refused as not one


def regrown_lone_groups(dm, scores: np.ndarray, idx: np.ndarray, groups, noise: float,
                        width: float = vca.GROUP_WIDTH):
    """``groups`` with each group of fewer than :data:`MIN_GROUP_PIXELS` pixels grown again from the pixel
    nearest its vertex pixel ``idx[j]`` (noise radii, as :func:`.vca.vertex_neighbourhoods` measures; never onto
    pixels nearer another group's centre), where that gives a group of at least that many pixels distinct from the
    others, a cluster (:func:`_a_cluster`), and the vertex pixel's counts are one of that group's
    (:func:`lone_pixel_statistic` at most chi-square's ``1 - CHANCE / n`` quantile with ``k - 1`` degrees).
    Only a vertex pixel of :data:`.vca.MIN_GROUP_COUNTS` counts or more is tested. ``dm``: the data matrix,
    Poisson-weighted and not centred (else the groups are returned as they are: no counts to test); ``scores``:
    its rank-k PCA scores. The same list where no group is small. The counts are the data's own (one pass per
    group tested), not the groups' PCA model: on the grains of seed 1 that model put a pure Mo pixel at 24.1, over
    the bound, the summed counts at 1.5 (the true Mo spectrum: 7.6); in channels of nearly no counts the model's
    relative error is large."""
    k = len(groups)
    # a lone pixel of fewer counts than a group needs to place a vertex (vca.MIN_GROUP_COUNTS, said as a faint group)
    # holds too few to tell the phases apart: sparse EDS cubes at 20 counts/pixel (seed 2: a pixel of 17 counts, ratio
    # 6.6, grown into 682 pixels, 8 % of another phase) moved NMF's untouched first spectrum 20.2 -> 49.5 degrees
    small = [j for j, g in enumerate(groups) if len(g) < MIN_GROUP_PIXELS]
    small = [j for j in small if float(dm.root_ag[idx[j]]) ** 2 >= vca.MIN_GROUP_COUNTS]
    if not small or k < 2 or dm.row_scale is None or dm.mean is not None:
        return groups
    # scipy.special, not scipy.stats (chi2.isf, the same numbers): that import alone took 2 s of a first decompose
    from scipy.special import chdtri

    y, proj, radius = vca.noise_radii(scores, k, noise, width)
    wt = proj**2
    bound = float(chdtri(k - 1, CHANCE / len(scores)))
    reach = radius * (vca.MODE_WIDTH / width)  # the noise radii the cluster test reads
    out = list(groups)
    for j in small:
        centres = np.stack([vca.group_centre(y, wt, g) for c, g in enumerate(out) if c != j])
        d = np.sqrt(np.einsum("ij,ij->i", y - y[idx[j]], y - y[idx[j]])) / radius
        d[out[j]] = np.inf
        d[proj <= 1e-300] = np.inf  # a pixel without counts has no position
        if not np.isfinite(d).any():
            continue
        start = np.array([int(np.argmin(d))])
        grown = vca.vertex_neighbourhoods(scores, start, noise, width=width, k=k, rivals=centres)[0]
        trial = out[:j] + [grown] + out[j + 1 :]
        if len(grown) < MIN_GROUP_PIXELS or vca.first_duplicate(trial) is not None:
            continue
        if not _a_cluster(y, reach, wt, trial, j):
            continue
        sums = summed_spectra(dm, trial + [np.array([idx[j]])])
        if lone_pixel_statistic(sums[-1], sums[:-1], j) <= bound:
            out = trial
    return out


def _a_cluster(y: np.ndarray, reach: np.ndarray, wt: np.ndarray, groups, j: int) -> bool:
    """Whether the pixels outward of group ``j``'s centre are those of a cluster there (:func:`.vca.noise_explains`,
    the test that holds a group at its vertex's outer mode): a mixture's most extreme pixels go on outward. A rank-4
    EELS mixture without pure pixels (2000 counts/pixel, seed 6): its lone vertex pixel's counts are one of the
    group grown from its neighbour (likelihood ratio 3.7: at that dose the extreme mixtures do not tell apart), but
    180 pixels, 88 % of that group's size, lie beyond it, and with it grown MCR went 7.6 -> 15.4 degrees from the
    truth (test_purity). The grains' grown groups: none (the MoS2 of seed 0, the Mo of seed 1)."""
    centres = np.stack([vca.group_centre(y, wt, g) for g in groups])
    inward = np.delete(centres, j, axis=0).mean(axis=0) - centres[j]
    inward /= max(float(np.linalg.norm(inward)), 1e-300)
    return vca.noise_explains(y, reach, centres[j], inward, len(groups[j]), len(groups))


def summed_spectra(dm, groups) -> np.ndarray:
    """(groups, kept channels): the summed counts of each group of kept pixels, in one pass (the weighted matrix's
    ``Xw^T A`` with ``A`` the groups' indicators times the pixels' root totals, unweighted by the channels')."""
    a = np.zeros((dm.n_pixels, len(groups)))
    for c, g in enumerate(groups):
        a[g, c] = dm.root_ag[g]
    return (dm.rmatmul(a, name="decomposition-lone-groups") * dm.root_bh[:, None]).T


def lone_pixel_statistic(x: np.ndarray, spectra: np.ndarray, j: int) -> float:
    """Twice the Poisson log-likelihood ratio of counts ``x`` (channels) between the spectrum ``spectra[j]``
    scaled to its total and that spectrum moved along the lines to the others (``h_j + sum_i b_i (h_j - h_i)``,
    the ``k - 1`` amounts ``b`` fitted; clipped at a small positive floor, rescaled to the total). For a pixel of
    that cluster, chi-square with ``k - 1`` degrees; a pixel beyond it, or of another phase, lies farther."""
    from scipy.optimize import minimize

    h = np.maximum(np.asarray(spectra, dtype=np.float64), 0.0)
    h /= np.maximum(h.sum(axis=1, keepdims=True), 1e-300)
    hj = h[j]
    floor = 1e-12 * float(hj.max())
    lines = hj[None, :] - np.delete(h, j, axis=0)
    total = float(x.sum())

    def nll(b):
        m = np.maximum(hj + b @ lines, floor)
        mu = total * m / m.sum()
        return float(mu.sum() - x @ np.log(mu))

    b0 = np.zeros(len(lines))
    at_h = nll(b0)
    fit = minimize(nll, b0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6})
    return 2.0 * max(at_h - float(fit.fun), 0.0)
