"""Gaps wider than a random scan leaves: whether the sparsity prior or plain interpolation fills them.

The sparse prior's settings are chosen by a hold-out that hides a random tenth of the measured pixels
(:func:`.sparse.choose_prior`), so the prior is validated on gaps as wide as a random scan of that fraction leaves.
A given or dynamic pattern can leave far wider ones: an unscanned block, the flat regions a dynamic (SLADS) scan
skips. There the prior's coefficients extrapolate, and soft thresholding shrinks towards the mean of the measured
values. For a lattice that is right (its Bragg spots continue into the hole: +11 dB over biharmonic with a 64-pixel
hole in a random 10 % scan); for a particle on a support it is not (-6 dB on real HAADF projections; -24 to -32 dB
where a scan that follows the image's gradients skipped the vacuum).

Pixels farther from every measured pixel than a random scan of the same fraction leaves all but
:data:`REACH_TAIL` of its unmeasured pixels (:func:`reach`) are *far*. Where a gap is :data:`WIDE_GAP` reaches wide,
wider than any random-like scan leaves, or the measured density is :data:`UNEVEN` times as uneven as a random scan's
(a dynamic scan; :func:`far_pixels`), a second hold-out compares the prior with biharmonic interpolation, the plain
method, on gaps as wide: discs of measured pixels as wide as the widest gap are hidden in the least densely measured
places, the crop is reconstructed both ways without them, and the disc pixels as far from what is left as the far
pixels are predicted (:func:`choose_interpolation`). Where interpolation predicts them better the image is
interpolated (:func:`interpolate`); where no measured region is wide enough to hide a disc in, there is no evidence
and the prior is kept. A periodic scan (a grid, every k-th row; :func:`periodic_scan`) can alias the Fourier prior
in a way hidden measured pixels, which lie on the lattice, cannot show: the prior is kept with a warning that says
so and names biharmonic interpolation to compare with. A line-hopping scan (:func:`run_scan`: runs along the rows
far longer than a random scan's) leaves no far gap, but its gaps lie across the rows, between runs, where a hidden
single pixel, whose run's neighbours are kept, is not: whole runs are hidden instead (:func:`choose_on_runs`) and
the image is filled by the blend of the two that predicts them best. Random and jittered scans are reconstructed as
before, to the bit; so are images under :data:`MIN_SIDE` pixels a side.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["choose_interpolation", "choose_on_runs", "density_spread", "far_pixels", "interpolate", "mean_run",
           "periodic_scan", "reach", "repeat_excess", "run_scan"]

REACH_TAIL = 1e-5  # share of a random scan's unmeasured pixels that lie beyond the reach
# a gap this many reaches wide (its farthest pixel from any measured one) is one no random-like scan leaves: on
# 32-512 pixel scans of 2-50 %, random scans reach at most 1.54 x, line-hopping ones of mean run 4 (the default) 2.44 x
# (runs of 16 and 64 pixels: 4.4 and 6.3 x at 2 %); a 64-pixel hole in 256 x 256 at 10 % 5.4 x
WIDE_GAP = 3.0
# a dynamic (SLADS) scan leaves no wide gap but measures edges densely and flat regions sparsely: its density in 16
# pixel squares varies 57-137 x a random scan's on real HAADF projections at 10-30 %, where random scans give at most
# 1.3, line-hopping ones 7.3 (mean run 4) to 24 (mean run 64, 2-30 %)
UNEVEN = 32.0
SPREAD_WINDOW = 16
# share of the chance misses a shift avoids (repeat_excess) above which a scan is periodic: a grid or every k-th row
# 1.0. In share of measured pixels carried onto measured ones, random, jittered, line-hopping (runs up to 64), block
# and SLADS scans gave at most 0.6, 0.66, 0.77, 0.57 and 0.77 (below their excess, 0.26-0.67 at 2-70 %); counted
# so, any scan above 90 % was periodic. In excess, random, jittered and line-hopping scans (mean run 4) of 32-256
# pixels give at most 0.43 at 2-99 %, line hops of mean run 16 and 64 0.61 and 0.72
PERIODIC = 0.9
MIN_CHANCE_MISSES = 20  # misses chance would make under a shift below which it says nothing
PERIOD_SHIFT = 32
MIN_SIDE = 32  # pixels a side below which scans are not checked: a row's gaps follow (1 - f)^(2r), not the 2-D law
WHOLE_INTERPOLATION = 256 * 256  # pixels up to which the interpolation is one solve, tiles above
INTERPOLATION_TILE = 256
# the smaller tile where every unmeasured pixel lies within SMALL_INTERPOLATION_GAP of a measured one (5/8 of its
# 32-pixel halo): the solve's cost grows faster than its size. Line-hopping scans of three real projections upsampled
# to 512 x 512: the reconstruction at 10 % 6.6 -> 5.1 s, at 5 % 10.7 -> 7.7 s, at 3 % (gaps of 19-27 pixels: some
# masks) 12.5 -> 9.6 s; PSNR the same to 0.001 dB at 3-20 %, the values within 3e-3 of the range. A wider gap keeps
# the big tile, whose halo spans it (a gap cut by a tile's edge is filled from one side only)
SMALL_INTERPOLATION_TILE = 128
SMALL_INTERPOLATION_GAP = 20
MAX_DISCS = 4
MIN_SCORED = 20  # far hidden pixels below which the discs decide nothing: the prior is kept
# a scan whose measured runs along the fast direction are this many times as long as a random scan's (1 / (1 - f))
# is a line-hopping one: random scans give 1.0, jittered grids less, line hops of mean run 4 (the default) 3.2-3.8 at
# 5-20 %. Its gaps lie between runs, across rows, where hidden single pixels (whose neighbours on the run are kept)
# are not: on real HAADF projections at 5 % the prior lost 0.3-2.6 dB to biharmonic interpolation, while the
# pixel hold-out found it better. Choosing one of the two by the hidden runs' error was right on average but wrong
# both ways on single masks (six real projections and the Velox image, four masks at 5, 10 and 20 %: the prior kept
# 1.2-1.9 dB below biharmonic, or interpolation chosen 1.7-2.6 dB below the prior): a few hundred hidden pixels
# barely tell the two apart, and the error lives in a few places (a particle's edge across a wide gap). Their
# least-squares blend (each error partly cancels the other's) moved the mean gain over biharmonic +0.35 -> +0.63,
# +1.01 -> +1.34 and +2.02 -> +2.07 dB, the worst case -1.91 -> -0.95, -0.28 -> +0.11 and +0.00 -> +0.79 dB
RUN_SCAN = 2.0
RUN_HOLDOUT = 0.1  # share of the window's measured pixels a fold hides, as whole runs
RUN_HIDDEN = 400  # hidden pixels before the comparison is trusted (folds of RUN_HOLDOUT, at most RUN_FOLDS)
# (200 on images of at most 128 x 128, tried 2026-12-07: three folds in place of five to ten, on the 70 small cases of
# sparse.py's note on the hold-out's iterations: the share moved with the fewer runs, down to -0.67 dB on a 96-pixel
# crop of a real projection line-hopped at 5 % and -0.20 on a 96-pixel lattice)
RUN_FOLDS = 10
MIN_RUNS = 50  # runs in the hold-out's window below which hidden runs decide nothing: the prior is kept


def reach(fraction: float) -> float:
    """Distance (pixels) from the nearest measured pixel that all but :data:`REACH_TAIL` of the unmeasured pixels
    of a random scan of ``fraction`` lie within: ``P(d > r) = (1 - f)^(pi r^2)`` for independently measured
    pixels."""
    f = min(max(float(fraction), 1e-9), 1.0 - 1e-9)
    return math.sqrt(math.log(1.0 / REACH_TAIL) / (math.pi * -math.log1p(-f)))


def _distances(mask) -> np.ndarray:
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`

    return ndimage.distance_transform_edt(~mask)


def density_spread(mask, window: int = SPREAD_WINDOW) -> float | None:
    """Variance of the measured count in ``window``-pixel squares over a random scan's (binomial) variance: ~1 for
    a random scan, below for a jittered one, above where the scan measured some regions densely and left others
    sparse; None where the image holds fewer than four whole squares."""
    m = np.asarray(mask, dtype=bool)
    rows, cols = (m.shape[0] // window) * window, (m.shape[1] // window) * window
    f = float(m.mean())
    if rows * cols < 4 * window * window or not 0 < f < 1:
        return None
    counts = m[:rows, :cols].reshape(rows // window, window, cols // window, window).sum(axis=(1, 3))
    return float(counts.var() / (window * window * f * (1 - f)))


def interpolate(image, mask, executor=None) -> np.ndarray:
    """Biharmonic interpolation of the unmeasured pixels: whole up to :data:`WHOLE_INTERPOLATION` pixels, above that
    tile by tile with overlap (scikit-image solves one sparse system per connected unmeasured region, which in a
    sparse scan is nearly the whole image: 9 s at 512 x 512 and 174 s and 5 GB at 1024 x 1024), in tiles of
    :data:`SMALL_INTERPOLATION_TILE` where no gap is wide."""
    from .baselines import biharmonic
    from .tiling import tiled

    if np.size(image) <= WHOLE_INTERPOLATION:
        return biharmonic(image, mask)
    small = float(_distances(np.asarray(mask, dtype=bool)).max()) <= SMALL_INTERPOLATION_GAP
    tile = SMALL_INTERPOLATION_TILE if small else INTERPOLATION_TILE
    return tiled(image, mask, lambda v, m: (biharmonic(v, m), None), tile, tile // 4, executor)[0]


def _run_starts(m: np.ndarray) -> np.ndarray:
    """The first pixel of each run of measured pixels along the rows (a bool mask)."""
    starts = m.copy()
    starts[:, 1:] &= ~m[:, :-1]
    return starts


def _runs(m: np.ndarray) -> int:
    """How many runs of measured pixels the rows hold."""
    return int(np.count_nonzero(_run_starts(m)))


def mean_run(mask) -> float:
    """Mean length (pixels) of the runs of measured pixels along each row (the fast scan direction)."""
    m = np.asarray(mask, dtype=bool)
    return float(np.count_nonzero(m)) / max(_runs(m), 1)


def run_scan(mask) -> str | None:
    """Why the scan measured runs along its rows (a line-hopping scan), or None: its mean run :data:`RUN_SCAN`
    times a random scan's ``1 / (1 - f)`` or longer, on a scan of at least :data:`MIN_SIDE` pixels a side and
    :data:`MIN_RUNS` runs (a few runs are no scan pattern, and hiding them leaves nothing to fit)."""
    m = np.asarray(mask, dtype=bool)
    f = float(m.mean())
    n_runs = _runs(m)
    if min(m.shape) < MIN_SIDE or not 0 < f < 1 or n_runs < MIN_RUNS:
        return None
    run = float(np.count_nonzero(m)) / n_runs
    if run < RUN_SCAN / (1.0 - f):
        return None
    return f"runs of {run:.1f} pixels along the rows ({run * (1.0 - f):.1f} x a random scan's)"


def _run_folds(mask, seed) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, hidden) pairs of disjoint folds, each hiding whole runs of the window's measured pixels (a seeded
    order of the runs, :data:`RUN_HOLDOUT` of the pixels a fold) until :data:`RUN_HIDDEN` pixels are hidden."""
    label = (np.cumsum(_run_starts(mask).ravel()) * mask.ravel()).reshape(mask.shape)
    n_runs = int(label.max())
    order = np.random.default_rng(seed).permutation(n_runs) + 1
    lengths = np.bincount(label.ravel(), minlength=n_runs + 1)[order]
    before = np.cumsum(lengths) - lengths  # pixels in the runs before each, in the seeded order
    per_fold = max(1, int(RUN_HOLDOUT * np.count_nonzero(mask)))
    folds = []
    for k in range(min(RUN_FOLDS, -(-RUN_HIDDEN // per_fold))):
        hidden = np.isin(label, order[(before >= k * per_fold) & (before < (k + 1) * per_fold)])
        if hidden.any():
            folds.append((mask & ~hidden, hidden))
    return folds


def choose_on_runs(y, mask, reconstruct, crop, seed=0) -> tuple[float, dict]:
    """The prior's share ``w`` (0 to 1, two decimals) in ``w * prior + (1 - w) * biharmonic`` that predicts hidden
    runs of a line-hopping scan best, and the evidence: in ``crop`` (the window of :func:`.sparse.hold_out`), folds
    of whole runs are hidden (:func:`_run_folds`), each reconstructed both ways, and the share is the least-squares
    one over the pooled hidden pixels (a stacked blend), clipped to [0, 1]: 0 interpolates, 1 keeps the prior.
    ``reconstruct(y, mask)``: the prior's reconstruction with the settings already chosen."""
    from .biharmonic import symmetric_biharmonic

    mc, yc = mask[crop], y[crop]
    if _runs(mc) < MIN_RUNS:
        return 1.0, {"folds": 0, "hidden_pixels": 0,
                     "why": f"fewer than {MIN_RUNS} runs in the hold-out's window to compare on: the prior is kept"}
    e_prior = e_interp = cross = 0.0
    folds = _run_folds(mc, seed)
    for fit, hidden in folds:
        yfit = np.where(fit, yc, 0.0)
        d_prior = reconstruct(yfit, fit)[hidden] - yc[hidden]
        d_interp = symmetric_biharmonic(yfit, fit)[hidden] - yc[hidden]
        e_prior += float(d_prior @ d_prior)
        e_interp += float(d_interp @ d_interp)
        cross += float(d_prior @ d_interp)
    n = sum(int(np.count_nonzero(h)) for _, h in folds)
    # minimises |w d_prior + (1 - w) d_interp|^2 over the hidden pixels
    spread = e_prior + e_interp - 2.0 * cross
    w = round(float(np.clip((e_interp - cross) / spread, 0.0, 1.0)), 2) if spread > 0 else 1.0
    blend = (w * w * e_prior + (1 - w) ** 2 * e_interp + 2 * w * (1 - w) * cross) / n
    info = {"folds": len(folds), "hidden_pixels": n, "prior_mse": round(e_prior / n, 6),
            "interpolation_mse": round(e_interp / n, 6), "blend_mse": round(blend, 6), "prior_share": w}
    info["why"] = (f"hidden runs predicted best with the prior's share {w:.2f} (mean squared error {blend:.4g}; the "
                   f"prior alone {e_prior / n:.4g}, biharmonic interpolation alone {e_interp / n:.4g})")
    return w, info


def periodic_scan(mask, max_shift: int = PERIOD_SHIFT) -> str | None:
    """Why the scan is periodic (a regular grid, every k-th row or column), or None: some shift by up to
    ``max_shift`` pixels with a row component carries the measured pixels onto measured pixels far more often than
    chance does (:func:`repeat_excess` above :data:`PERIODIC`). Sampling on a lattice can alias the Fourier prior,
    and hidden measured pixels, which lie on the lattice, cannot show it: on real projections and a natural image
    biharmonic interpolation was better on grid and row-skipping scans (0.1-5.5 dB, 10-30 %), on a lattice whose
    period the grid resolves the prior (+4.9 dB). A scan that measured every position is not periodic."""
    m = np.asarray(mask, dtype=bool)
    repeats = _repeat_shares(m, max_shift)
    if repeats is None:
        return None
    share, rows, dxs = repeats
    best, f = float(share.max()), float(m.mean())
    if (best - f) / (1 - f) <= PERIODIC:
        return None
    # the shortest of the shifts that repeat as much (a grid repeats at every multiple of its period)
    ties = np.argwhere(share >= best - 1e-9)
    dy, j = min(ties.tolist(), key=lambda t: (rows[t[0]] ** 2 + dxs[t[1]] ** 2, rows[t[0]], dxs[t[1]]))
    dx = int(dxs[j])
    return (f"a periodic scan ({best:.0%} of the measured pixels repeat at a shift of {int(rows[dy])}, {dx} pixels, "
            f"where {f:.0%} would by chance)")


def repeat_excess(mask, max_shift: int = PERIOD_SHIFT) -> float | None:
    """How far the best shift of :func:`periodic_scan` repeats the measured pixels beyond chance: ``(s - f) / (1 -
    f)`` with ``s`` the share of measured pixels it carries onto measured ones and ``f`` the measured fraction, the
    share ``s`` independently measured pixels give -- 0 for them, 1 for a lattice. At 90 % every shift of a random
    scan repeats about 90 % (it was taken for periodic); this is the share of the chance misses a shift avoids.
    None where :func:`periodic_scan` does not look (an image under :data:`MIN_SIDE` a side, a full scan)."""
    m = np.asarray(mask, dtype=bool)
    repeats = _repeat_shares(m, max_shift)
    if repeats is None:
        return None
    f = float(m.mean())
    return (float(repeats[0].max()) - f) / (1 - f)


def _repeat_shares(m: np.ndarray, max_shift: int):
    """(share, rows, dxs): for each shift ``(rows[i], dxs[j])`` the share of the measured pixels whose shifted
    place is in the image that it carries onto measured pixels (autocorrelation by FFT, zero-padded by the largest
    shift); 0 for a shift that keeps under half of them inside. None for an image under :data:`MIN_SIDE` a side,
    fewer than two measured pixels, or every pixel measured."""
    n = int(np.count_nonzero(m))
    if min(m.shape) < MIN_SIDE or n < 2 or n == m.size:
        return None
    s = min(max_shift, min(m.shape) // 2)
    size = (m.shape[0] + s, m.shape[1] + s)  # zero-padded by the largest shift: no shift wraps around
    fm = np.fft.rfft2(m.astype(np.float64), s=size)
    hits = np.fft.irfft2(np.conj(fm) * fm, s=size)  # measured pixels whose shifted place is measured
    rows = np.r_[1 : s + 1]  # a row component: a line-hopping scan's runs along the row are not a period
    dxs = np.r_[0 : s + 1, -s:0]
    share = hits[np.ix_(rows, dxs % size[1])]
    # measured pixels whose shifted place is in the image, from a summed-area table
    table = np.pad(np.cumsum(np.cumsum(m, axis=0, dtype=np.int64), axis=1), ((1, 0), (1, 0)))
    top, left, right = m.shape[0] - rows[:, None], np.maximum(0, -dxs)[None, :], m.shape[1] - np.maximum(0, dxs)
    inside = table[top, right[None, :]] - table[top, left] - table[0, right[None, :]] + table[0, left]
    # a shift that keeps under half of them inside says little (two of 20 pixels repeating is no period), nor one
    # where chance would miss few (a 99 % scan of 32 x 32 pixels has 10 unmeasured ones to miss)
    telling = (inside >= n / 2) & (inside * (1 - n / m.size) >= MIN_CHANCE_MISSES)
    return np.where(telling, share / np.maximum(inside, 1), 0.0), rows, dxs


def far_pixels(mask) -> tuple[np.ndarray | None, np.ndarray, str]:
    """(far, distances, why): the unmeasured pixels beyond :func:`reach` of the mask's fraction and every pixel's
    distance to the nearest measured one, where the scan is unlike a random one (a gap :data:`WIDE_GAP` reaches
    wide, or a measured density :data:`UNEVEN` times as uneven, :func:`density_spread`), and why; ``far`` None
    where it is random-like (the prior's own hold-out has seen gaps like its gaps)."""
    m = np.asarray(mask, dtype=bool)
    if min(m.shape) < MIN_SIDE:  # the reach is a 2-D law, and no disc of the hold-out fits
        return None, np.zeros(m.shape), f"not looked at (under {MIN_SIDE} pixels a side)"
    d = _distances(m)
    r = reach(m.mean())
    if d.max() > WIDE_GAP * r:
        return d > r, d, f"a gap {d.max() / r:.1f} reaches wide (a random-like scan leaves under {WIDE_GAP:g})"
    spread = density_spread(m)
    if spread is not None and spread > UNEVEN:
        return d > r, d, (f"measured density {spread:.0f} x as uneven as a random scan's (a random-like scan: under "
                          f"{UNEVEN:g})")
    return None, d, "random-like"


def _discs(mask, far, radius: float, crop, seed) -> tuple[np.ndarray, int]:
    """(the crop's pixels inside them, how many): up to :data:`MAX_DISCS` disjoint discs of ``radius`` inside
    ``crop`` around measured pixels, holding no far pixel (a measured region), the least densely measured places
    first (ties in a seeded order)."""
    from scipy import ndimage

    mc, fc = mask[crop], far[crop]
    rows, cols = mc.shape
    r = int(math.ceil(radius))
    centres = np.random.default_rng(seed).permutation(np.argwhere(mc[r : rows - r, r : cols - r]) + r)
    clear = _distances(fc) if fc.any() else np.full(mc.shape, np.inf)  # distance to the nearest far pixel
    centres = centres[clear[centres[:, 0], centres[:, 1]] > radius]
    # the sparsest measured places first: where the scan left the image least measured, as in its far gaps
    density = ndimage.uniform_filter(mc.astype(np.float64), 2 * r + 1, mode="constant")
    centres = centres[np.argsort(density[centres[:, 0], centres[:, 1]], kind="stable")]
    chosen: list[tuple[int, int]] = []
    for cy, cx in centres:
        if all((cy - y) ** 2 + (cx - x) ** 2 > (2 * radius + 1) ** 2 for y, x in chosen):
            chosen.append((int(cy), int(cx)))
            if len(chosen) == MAX_DISCS:
                break
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = yy**2 + xx**2 <= radius**2
    hidden = np.zeros((rows, cols), bool)
    for cy, cx in chosen:
        hidden[cy - r : cy + r + 1, cx - r : cx + r + 1] |= disc
    return hidden, len(chosen)


def choose_interpolation(y, mask, far, distances, reconstruct, crop, seed=0) -> tuple[bool, dict]:
    """Whether biharmonic interpolation (True) or the prior's reconstruction predicts gaps as wide as the scan's far
    gaps better, and the evidence.

    ``y``: standardised values, ``mask``: measured, ``far``/``distances`` from :func:`far_pixels`;
    ``reconstruct(y, mask)``: the prior's reconstruction with the settings already chosen; ``crop``: the window the
    hold-out runs on (:func:`.sparse.hold_out`'s). Discs as wide as the widest far gap (its farthest pixel's distance
    plus the reach; at most a quarter of the crop) are hidden where the scan measured least densely (:func:`_discs`),
    the crop is reconstructed both ways without them, and the hidden measured pixels as far from what is left as the
    far gaps are predicted (discs half as wide, down to twice the reach, where none fits)."""
    from .biharmonic import symmetric_biharmonic

    r_far = reach(float(np.mean(mask)))
    widest = float(distances.max())  # the farthest unmeasured pixel
    radius = min(max(2.0 * r_far, widest + r_far), min(mask[crop].shape) / 4.0)
    hidden, n_discs = _discs(mask, far, radius, crop, seed)
    while not n_discs and radius / 2 >= 2.0 * r_far:  # no measured region as wide: the widest that fits
        radius /= 2
        hidden, n_discs = _discs(mask, far, radius, crop, seed)
    info = {"far_pixels": int(np.count_nonzero(far)), "reach": round(r_far, 2), "disc_radius": round(radius, 1)}
    fit = mask[crop] & ~hidden
    scored = hidden & mask[crop] & (_distances(fit) > r_far)  # as far from what is left as the far gaps are
    info["discs"], info["scored_pixels"] = n_discs, int(np.count_nonzero(scored))
    if info["scored_pixels"] < MIN_SCORED:
        info["why"] = "no measured region as wide as the far gaps to compare on: the prior is kept"
        return False, info
    yc = np.where(fit, y[crop], 0.0)
    e_prior = float(np.mean((reconstruct(yc, fit)[scored] - y[crop][scored]) ** 2))
    e_interp = float(np.mean((symmetric_biharmonic(yc, fit)[scored] - y[crop][scored]) ** 2))
    use = e_interp < e_prior
    info.update(prior_mse=round(e_prior, 6), interpolation_mse=round(e_interp, 6))
    info["why"] = (f"hidden discs predicted {'better' if use else 'worse'} by biharmonic interpolation "
                   f"({e_interp:.4g} against the prior's {e_prior:.4g})")
    return use, info
