"""Axis and colour limits that show the data: the energy range that holds spectral lines, robust image contrast.

* :func:`line_range` -- the x-range where a set of curves stands above its continuum by a small share of its
  lines (each curve scaled to its own peak, so a weak component counts as much as a strong one), widened by a
  margin. An EDS spectrum on a 0-40 keV axis whose lines all lie below 10 keV is then drawn over 0-10 keV, not
  squeezed into a quarter of the plot.
* :func:`isolated_spikes` -- single pixels far beyond all eight neighbours and the rest of a map (a spike in one
  spectrum that a component took up, a hot pixel of a count image), which an image (``Signal.plot``, a loading map)
  leaves out of its colour range.
* :func:`colour_map`, :func:`both_signs`, :func:`centred` -- a diverging map centred on zero for a map of both
  signs (PCA loadings, a difference), viridis for one of one sign.
"""

from __future__ import annotations

import numpy as np

PEAK_FRACTION = 0.02  # share of each curve's largest excess over its continuum that marks where its lines are
SMOOTH_SHARE = 1 / 256  # of the axis: the running mean before the lines are read (16 of 4096 channels)
CONTINUUM_SHARE = 1 / 32  # of the axis: the width the continuum is read over (1.28 keV of a 0-40 keV axis)
NOISE_SIGMAS = 5.0  # a line stands above the continuum by this many times the smoothed curve's noise
MARGIN = 0.05  # fraction of the range added on each side
SPIKE_SHARE = 0.5  # a crest with more than this share of its excess in one channel is a spike, not a line,
# where neither neighbour of that channel holds this share of it: a line one or two channels wide (O K-alpha on
# 40 eV channels, sigma 0.75 channel) holds over half its excess in its peak channel, but its flanks hold 0.4 of the
# peak; a Gaussian's hold at least 0.25 down to a sigma of 0.6 channel, narrower than any X-ray line
SPIKE_FLANK = 0.25
SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"  # the colour maps of a map of one sign, and of both signs about zero
# both signs are substantial where each holds at least this share of the summed |values|: PCA loadings beyond the
# first hold 0.50 of theirs on each side (three EDS cubes), a noise component of ICA 0.40; the floor of a positive ICA
# loading around zero at most 0.06, NMF, VCA and MCR none
SIGNED_SHARE = 0.2


def line_range(x: np.ndarray, curves: np.ndarray, fraction: float = PEAK_FRACTION,
               margin: float = MARGIN) -> tuple[float, float]:
    """``(lo, hi)`` in the units of ``x`` (n,): the span where any of ``curves`` (n,) or (m, n), each scaled to its
    own largest ``|value|`` (a weak component counts as much as a strong one), stands above its own continuum by
    ``fraction`` of its largest such excess and by :data:`NOISE_SIGMAS` times its noise; widened by ``margin``
    times its width on each side and clipped to ``x``'s span. All-zero or non-finite curves give the full span.

    The continuum is the curve's running median over :data:`CONTINUUM_SHARE` of the axis (it follows the slow
    continuum under a line, which fills a small part of the window, and cuts the line off); the curve is smoothed
    over :data:`SMOOTH_SHARE` of the axis first (at least 5 channels), and its noise is the clipped spread of its
    channel-to-channel changes, scaled to that smoothing. A share of the curves' mass did not do, nor a share of
    their peak: a continuum that runs to the beam energy and the noise of weak components spread them (the Bruker
    map's lines end at 7.5 keV, the mass at 18; a 30 kV map whose lines end at 8.9 keV was drawn to 16 keV at 2000
    counts/pixel, to 22 keV at 200). Nor did a running minimum (a morphological opening): it runs along the noise's
    troughs, and a noisy factor's every crest then stood above it (the same map at 200 counts/pixel, NMF and MCR:
    to 16.7 keV)."""
    from scipy.ndimage import median_filter, uniform_filter1d

    x = np.asarray(x, dtype=float)
    lo_all, hi_all = float(np.min(x)), float(np.max(x))
    c = np.abs(np.atleast_2d(np.asarray(curves, dtype=float)))
    c = np.where(np.isfinite(c), c, 0.0)
    top = c.max(axis=1, keepdims=True)
    keep = top[:, 0] > 0
    n = len(x)
    if not keep.any() or n < 2:
        return lo_all, hi_all
    order = np.argsort(x, kind="stable")
    raw = c[keep][:, order] / top[keep]
    width = min(n, max(5, round(SMOOTH_SHARE * n)))
    smooth = uniform_filter1d(raw, width, axis=1)
    window = min(n, max(8 * width, round(CONTINUUM_SHARE * n)))
    continuum = median_filter(smooth, size=(1, window), mode="nearest")
    excess = smooth - continuum
    above = (excess >= fraction * excess.max(axis=1, keepdims=True)) & (excess >= NOISE_SIGMAS * _noise(raw, width))
    _drop_spikes(above, np.maximum(raw - continuum, 0.0), width)
    where = np.flatnonzero(above.any(axis=0))
    if where.size == 0:  # no curve holds a line above its continuum and noise
        return lo_all, hi_all
    xs = x[order]
    lo, hi = float(xs[where[0]]), float(xs[where[-1]])
    # at least the smoothing width: a weak line passes the thresholds only at its crest, and its flanks lie that far
    # out (the range started at the peak of O K-alpha, cutting it in half)
    pad = max(margin * (hi - lo), width * float(np.median(np.diff(xs))))
    return max(lo_all, lo - pad), min(hi_all, hi + pad)


def _drop_spikes(above: np.ndarray, excess: np.ndarray, width: int) -> None:
    """Clear, in ``above`` (m, n), each run of channels whose ``excess`` (m, n: the unsmoothed curve over its
    continuum, within the run and half the smoothing ``width`` about it) lies more than :data:`SPIKE_SHARE` in one
    channel: a single count of a sparse factor, which the running mean spreads into a crest ``width`` channels
    wide, not a line, which spans several channels (an EDS line's peak channel holds 0.1-0.3 of it at 10-40 eV a
    channel). Measured: MCR factors of a 30 kV map at 3-20 counts/pixel over 4096 channels (lines to 9.5 keV) were
    drawn to 28.5-30.9 keV, now 8.6-18.1; PCA factors of EDS cubes at 3-10 counts/pixel to 14.9-19.7 keV where the
    lines end at 11.4-13.2, now 11.3-13.4. Nothing moved on 200-2000 counts/pixel, the real Bruker map, NMF of the
    same cubes, or 256-channel scenes. NMF factors at 3-20 counts/pixel still run to 15-27 keV: their crests are
    several channels wide."""
    n, half = above.shape[1], width // 2
    for i in np.flatnonzero(above.any(axis=1)):
        edges = np.diff(np.r_[0, above[i].astype(np.int8), 0])
        for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            seg = excess[i, max(0, start - half):min(n, stop + half)]
            total, j = float(seg.sum()), int(np.argmax(seg))
            flanks = max(seg[j - 1] if j > 0 else 0.0, seg[j + 1] if j + 1 < seg.size else 0.0)
            if total > 0 and float(seg[j]) > SPIKE_SHARE * total and flanks < SPIKE_FLANK * float(seg[j]):
                above[i, start:stop] = False


def _noise(curves: np.ndarray, width: int) -> np.ndarray:
    """(m, 1): each curve's noise after a running mean over ``width`` channels, from the spread of its changes
    against a three-channel mean, clipped at three of its spreads (the lines are not noise); the median absolute
    value is 0 on sparse counts, where most channels hold nothing."""
    from scipy.ndimage import uniform_filter1d

    r = curves - uniform_filter1d(curves, 3, axis=1)
    sd = r.std(axis=1, keepdims=True)
    for _ in range(5):
        sd = np.sqrt(np.mean(np.where(np.abs(r) <= 3.0 * sd, r, 0.0) ** 2, axis=1, keepdims=True))
    return sd / np.sqrt(width)


SPIKE_RANGE = 3.0  # a spike stands this many times the rest's range beyond it, and beyond its neighbours
SPIKE_MAX_SHARE = 0.005  # more isolated pixels than this share of the map are its data (a sparse map), not spikes


def isolated_spikes(img: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels of a 2-D ``img`` that are spikes: each lies farther from the map's median than
    :data:`SPIKE_RANGE` times every one of its eight neighbours does, and beyond the range of the other pixels by
    :data:`SPIKE_RANGE` times that range. None where more than :data:`SPIKE_MAX_SHARE` of the pixels would be
    (the map is sparse: those pixels are what it shows) or where the rest is constant. A pixel beside an unmeasured
    (non-finite) one is no spike: on a sparse scan every measured pixel stands alone.

    Isolated, not merely few: a phase of 9 pixels (3 x 3, 0.22 % of a 64 x 64 map, loading 516 over 0.06) is a
    blob whose pixels neighbour each other, and three isolated 500s in a Poisson(0.3) map (0.25 %) are spikes; a
    share of the pixels cannot tell the two apart."""
    from scipy.ndimage import maximum_filter, minimum_filter

    v = np.asarray(img, dtype=float)
    none = np.zeros(v.shape, bool)
    finite = np.isfinite(v)
    if v.ndim != 2 or finite.sum() < 9:
        return none
    dev = np.where(finite, np.abs(v - np.median(v[finite])), 0.0)
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    # every neighbour measured: on a sparse scan (unmeasured pixels NaN) each measured pixel stood alone, and a
    # particle seen at one or two positions of a 10 % scan was taken for a spike (a code review: 5 of 40 draws)
    seen = minimum_filter(finite, footprint=ring, mode="constant", cval=True)
    cand = finite & seen & (dev > SPIKE_RANGE * maximum_filter(dev, footprint=ring, mode="constant", cval=0.0))
    rest = v[finite & ~cand]
    if not cand.any() or rest.size == 0:
        return none
    rlo, rhi = float(rest.min()), float(rest.max())
    if not rhi > rlo:
        return none
    reach = SPIKE_RANGE * (rhi - rlo)
    spikes = cand & ((v > rhi + reach) | (v < rlo - reach))
    return spikes if spikes.sum() <= SPIKE_MAX_SHARE * finite.sum() else none


def colour_map(img: np.ndarray, cmap: str | None = None) -> tuple[str, bool]:
    """``(cmap, centred)``: a given ``cmap`` as it is; else :data:`DIVERGING`, to be centred on zero (``centred``
    True: :func:`centred`), where ``img`` holds substantial values of both signs (:func:`both_signs`),
    :data:`SEQUENTIAL` otherwise."""
    if cmap is not None:
        return cmap, False
    return (DIVERGING, True) if both_signs(img) else (SEQUENTIAL, False)


def both_signs(img: np.ndarray) -> bool:
    """Whether the finite values of ``img`` of each sign hold at least :data:`SIGNED_SHARE` of their summed absolute
    value (a PCA loading, a difference map; not the noise floor of a positive map)."""
    v = np.asarray(img, dtype=float)
    v = v[np.isfinite(v)]
    negative, positive = float(-v[v < 0].sum()), float(v[v > 0].sum())
    return min(negative, positive) >= SIGNED_SHARE * (negative + positive) > 0


def centred(lo: float, hi: float) -> tuple[float, float]:
    """Colour limits symmetric about zero that hold ``lo`` and ``hi``: white (zero) in the middle of a diverging map."""
    m = max(abs(lo), abs(hi))
    return -m, m
