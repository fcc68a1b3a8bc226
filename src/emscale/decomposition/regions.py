"""Do a component's purest pixels fill regions of constant composition, or only peaks of a smooth mixture?

A phase is a region of constant composition: where a component's pure-pixel group is truly pure, most of the
pixels where that component dominates sit at the vertex (edges aside), a plateau of its share map. Where the
group is only the most extreme *mixture* (a particle whose share peaks at its centre, particles of different
thicknesses each reaching their own maximum, a blob that rises and falls smoothly), the share reaches the vertex
at a few points and most of the component's domain lies in between. :func:`region_shapes` measures that on
the navigation grid: the share map is smoothed (a Gaussian of :data:`SMOOTHING` pixels, which averages the
Poisson noise of single pixels away but not a region's edge), and of the pixels at or above :data:`DOMAIN_LEVEL`
of the vertex share, the fraction at or above :data:`PLATEAU_LEVEL` of it is returned. The vertex share is the
smoothed map's :data:`TOP_PERCENTILE` percentile (robust to single noisy pixels).

The loadings are the pixel end's *before* their clip at zero. Clipped, every pixel beyond a group's centre piles up
at the vertex: at 20 counts/pixel a group holds a quarter of the pixels, and a smooth blob or gradient then read
as a plateau (0.52-0.54, issue 17's grid at rank 2), as did a blob mixture levelling off at 92 / 8 % at 200
counts/pixel (0.47-0.52). Unclipped, pixels beyond the vertex read a share above 1; the vertex share is the top
share less its noise (:data:`TOP_NOISE_SIGMAS`), so that the noise of a true vertex's pixels does not lift it. That
noise is measured where the component holds at least :data:`DOMAIN_LEVEL` of its top: over the whole map, where it
is mostly absent, it read 3-5 x too low, and with the vertex share lowered only above 1, pure stripes at 20
counts/pixel read 0.25-0.46 (the top of a noisy plateau stands 2.6 of its noise above the plateau).

Measured (NMF and MCR at the pure-pixel end, the component whose spectrum the two ends of the family dispute
most, lowest of the disputed): 0.44-0.76 where the pure pixels are right (two phases of one alloy at 200-2000
counts/pixel, the demo's EDS sample at three seeds), 0.02-0.41 where they are extreme mixtures (Ag particles on an
Al substrate; Gaussian-blob and gradient mixtures at 20-2000 counts/pixel);
before, clipped, 0.46-0.84 and 0.06-0.54. The smoothing width and levels were the best of 60 settings tried (with
clipped loadings); the classes still meet at the threshold (:mod:`.purity`, :func:`.purity.settle_ends`).

A vertex that many pixels lie beyond is no vertex at all (:attr:`RegionShape.beyond`, judged by
:func:`.purity.channel_end` on every component, EDS or not). Measured, the share of the pixels whose smoothed share
lies above 1 by more than its noise: at most 10 % where the pure pixels are right (alloys, pure-pixel EDS and EELS
cubes at 20-2000 counts/pixel, the demo's EDS sample at ten seeds: 4.5-9.9 %); 14-37 % on most smooth EELS mixtures
where the rotation was wrong; 79-98 % where a pure-pixel group of a few noisy pixels passed its evidence at 5
counts/pixel (its plateau read 0.75-0.77, a phase). Some wrong rotations stay below (EELS mixtures at 2000
counts/pixel: 8-9 %). Their maps have no plateau anywhere: the flattest component reads 0.23-0.29, against
0.64-0.82 where the pure pixels are right (:data:`.purity.MIN_PLATEAU`, judged by :func:`.purity.channel_end`).

A map mixed pixel by pixel (fractions drawn independently in every pixel, no spatial structure) the smoothing
averages into a plateau: Dirichlet(1) mixtures of four EDS phases read 0.43-0.85, nothing beyond (issue 17). Its
shares are no more alike between neighbours than between any two pixels (:func:`neighbour_correlation`, under 0.03
on 64 x 64 maps; 0.16-0.98 for the most structured component of every pure-region scene measured, noisy EELS discs
at 200 counts/pixel the lowest), and few of its single pixels reach a vertex (:attr:`RegionShape.at_vertex`); both
are judged by :func:`.purity.channel_end`.

Known limitation: a region a few pixels across is mostly edge after the smoothing, so a pure phase of small
particles (radius 2-3 pixels: 0.36-0.47) or a layer 3 pixels wide (0.33) scores like a mixture; where the two ends
of the family dispute such a phase, the spectra's end is taken. Where every phase is that narrow (a multilayer of
3-pixel layers) no group fills a plateau, and the pixel end is kept only because no pixel lies beyond its vertices
(:data:`.purity.NARROW_BEYOND`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.smoothing import normalised_convolution

SMOOTHING = 1.0  # pixels (Gaussian sigma)
# A sparse scan (20 % of the pixels, scattered) holds a fifth of them under that width: the smoothed shares kept the
# single pixels' noise, and a pure phase read as a mixture (the demo's EDS sample at 128 x 128, 20 % random: the
# SiO2 group's plateau 0.18, the spectra's end taken, 25 degrees from the truth). Scaled to the measured density
# (:attr:`PixelLayout.smoothing`), the same number of measured pixels is averaged
DENSE_SCAN = 0.9
MAX_SMOOTHING = 3.0  # pixels: a scan of 11 % or fewer is smoothed as one of 11 %
PLATEAU_LEVEL = 0.9
DOMAIN_LEVEL = 0.5
TOP_PERCENTILE = 99.5
TOP_NOISE_SIGMAS = 2.6  # the 99.5th percentile of a Gaussian noise lies 2.6 standard deviations out
MIN_PIXELS = 2048  # smaller maps (32 x 32) hold regions a few smoothing widths across: too small to weigh two ends
# A map mixed everywhere shows itself on smaller maps too: no component's share levels off anywhere (the flattest
# 0.18-0.42 on blob and gradient mixtures of 24 x 24 to 45 x 45 pixels), while a map with pure regions keeps at
# least one that does (0.47-0.80 on alloys, the demo's sample, pure-patch cubes down to 20 x 20). Refusing the pixel
# end for that alone is judged from this size; weighing it against the spectra's end (settle_ends), which asks
# *every* disputed group to fill a plateau, needs MIN_PIXELS (on 20 x 20 to 40 x 40 alloys their smaller regions
# read 0.13-0.37 and the right end was refused: 2.7 -> 15 degrees).
MIN_PIXELS_TO_REFUSE = 256
# A line scan (one navigation axis of more than one pixel) holds its regions along that axis alone, and is judged by
# line_plateaus: a layer 20 pixels wide is 20 smoothing widths across on a scan of 240 pixels, which MIN_PIXELS (a
# map's count) never let through, so a line scan always kept the pixel end (issue 17: a never-pure interphase 23-33
# degrees from the truth where the solver's own was 8-26). Shorter lines keep it still
MIN_LINE_PIXELS = 64
# Along a line, a component whose share reaches its vertex at a smooth maximum (never pure) has a plateau of at most
# sqrt(0.1 / 0.5) = 0.447 of its domain (a parabola's top; a Gaussian's 0.39), where a region of constant composition
# has a flat top (a 12-pixel layer with soft edges 0.54 over its 13 pixels of domain; wider ones up to 1). Measured
# (issue 17's line grid, 240 x 1024, NMF and MCR at 200-2000 counts/pixel): 0.00-0.40 for the never-pure interphase
# and a three-phase gradient's middle, 0.45-0.98 for pure layers, multilayers and thin layers
MIN_LINE_PLATEAU = 0.45
# ... judged only where the smoothed share's noise is at most this: beyond, a pure layer's noisy pixels fall below 90
# % of the vertex, and its plateau reads as a maximum (EELS layers at 20-200 counts/pixel: 0.0-0.39 at noise 0.05-0.17)
MAX_LINE_NOISE = 0.05


@dataclass(frozen=True)
class PixelLayout:
    """Where the rows of a factorisation's loadings lie on the navigation grid: ``flat`` indexes the rows into
    ``nav_shape`` (numpy order); pixels not in ``flat`` (a sparse scan's unmeasured ones) are left out."""

    nav_shape: tuple[int, ...]
    flat: np.ndarray

    @classmethod
    def of(cls, dm) -> PixelLayout:
        """The layout of a :class:`._matrix.DataMatrix`'s kept pixels."""
        flat = np.flatnonzero(dm.keep_pixels) if dm.keep_pixels is not None else np.arange(dm.n_pixels_total)
        return cls(tuple(dm.nav_shape), flat)

    @property
    def smoothing(self) -> float:
        """The smoothing width (pixels) that averages as many *measured* pixels as :data:`SMOOTHING` does on a full
        scan: wider by ``1 / sqrt(density)`` on a scattered sparse scan, where the measured pixels around each one
        are that fraction of its neighbours (:data:`DENSE_SCAN` and up: a full scan, or one with a region left out,
        keeps :data:`SMOOTHING`), at most :data:`MAX_SMOOTHING`."""
        n = int(np.prod(self.nav_shape, dtype=np.int64))
        if len(self.flat) == n:
            return SMOOTHING
        from scipy.ndimage import gaussian_filter

        kept = np.zeros(n)
        kept[self.flat] = 1.0
        nav = len(self.nav_shape)
        sigma = [0.0] * max(nav - 2, 0) + [SMOOTHING] * min(nav, 2)
        # the kernel's weight on the pixel itself is left out: what counts is how many of its neighbours are measured
        centre = np.zeros((9,) * min(nav, 2))
        centre[(4,) * centre.ndim] = 1.0
        own = float(gaussian_filter(centre, SMOOTHING, mode="constant")[(4,) * centre.ndim])
        near = gaussian_filter(kept.reshape(self.nav_shape), sigma, mode="nearest").reshape(-1)[self.flat]
        density = float((near.mean() - own) / (1.0 - own))
        return SMOOTHING if density >= DENSE_SCAN else min(SMOOTHING / np.sqrt(max(density, 1e-12)), MAX_SMOOTHING)

    @property
    def line(self) -> bool:
        """A line scan: one navigation axis of more than one pixel (a 1 x N or N x 1 map too)."""
        return sum(size > 1 for size in self.nav_shape) == 1

    @property
    def averaged(self) -> float:
        """How many pixels the smoothing (:data:`SMOOTHING`) averages: ``4 pi sigma^2`` on a map, ``2 sqrt(pi)
        sigma`` along a line (the inverse of the Gaussian weights' sum of squares)."""
        return float(2 * np.sqrt(np.pi) * SMOOTHING) if self.line else float(4 * np.pi * SMOOTHING**2)

    @property
    def judgeable(self) -> bool:
        """Enough pixels to weigh the pixel end against the spectra's end by the shape of every group's region."""
        return len(self.flat) >= MIN_PIXELS

    @property
    def shows_mixing(self) -> bool:
        """Enough pixels to see a map mixed everywhere (no group's share levels off), which refuses the pixel end."""
        return len(self.flat) >= MIN_PIXELS_TO_REFUSE

    @property
    def judged_as_line(self) -> bool:
        """A line scan of at least :data:`MIN_LINE_PIXELS` pixels: its groups are judged by :func:`line_plateaus`."""
        return self.line and len(self.flat) >= MIN_LINE_PIXELS


def _smoothed(values: np.ndarray, layout: PixelLayout) -> np.ndarray:
    """``values`` (rows, m: one column per map) smoothed on the grid, at the rows' pixels; unmeasured pixels carry
    no weight (normalised convolution)."""
    n, m = int(np.prod(layout.nav_shape, dtype=np.int64)), values.shape[1]
    grid, known = np.zeros((n, m)), np.zeros((n, 1), dtype=bool)
    grid[layout.flat], known[layout.flat] = values, True
    # the scan's two fastest axes are space; others (a tilt, a time, a focal series) are not smoothed across, nor
    # are the maps
    nav = len(layout.nav_shape)
    sigma = [0.0] * max(nav - 2, 0) + [layout.smoothing] * min(nav, 2) + [0.0]
    mean, _ = normalised_convolution(grid.reshape(*layout.nav_shape, m), known.reshape(*layout.nav_shape, 1), sigma)
    return mean.reshape(n, m)[layout.flat]


def smoothed_scores(scores: np.ndarray, layout: PixelLayout) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(scores smoothed on the map, their rows, their noise's reduction factor)`` for finding pure-pixel groups
    where a phase fills regions, at the pixels two smoothing widths or more from the map's edge; None where the map
    is no full scan or holds fewer than :data:`MIN_PIXELS_TO_REFUSE` such pixels. The smoothing (:data:`SMOOTHING`)
    averages ``4 pi sigma^2`` pixels, but fewer near the edge: there the noise is up to twice as large and a corner
    pixel was taken for a vertex (a pure-pixel group of 1 pixel on EELS grains at 200 counts/pixel)."""
    n = int(np.prod(layout.nav_shape, dtype=np.int64))
    if len(layout.flat) != n or len(layout.nav_shape) < 2:
        return None
    margin = int(np.ceil(2 * SMOOTHING))
    inner = np.zeros(layout.nav_shape, dtype=bool)
    inner[..., margin:-margin, margin:-margin] = True
    rows = np.flatnonzero(inner)
    if len(rows) < MIN_PIXELS_TO_REFUSE:
        return None
    return _smoothed(scores, layout)[rows], rows, 1.0 / float(np.sqrt(4 * np.pi * SMOOTHING**2))


def line_smoothed_scores(scores: np.ndarray, layout: PixelLayout) -> tuple[np.ndarray, np.ndarray, float] | None:
    """:func:`smoothed_scores` along a line scan (:attr:`PixelLayout.judged_as_line`, every pixel measured): smoothed
    along the line's own axis, at the pixels two smoothing widths or more from its ends, the noise reduced by the
    square root of the ``2 sqrt(pi) sigma`` pixels averaged (:attr:`PixelLayout.averaged`); None elsewhere."""
    n = int(np.prod(layout.nav_shape, dtype=np.int64))
    if not layout.judged_as_line or len(layout.flat) != n:
        return None
    margin = int(np.ceil(2 * SMOOTHING))
    rows = np.arange(margin, n - margin)
    return _smoothed(scores, PixelLayout((n,), layout.flat))[rows], rows, 1.0 / float(np.sqrt(layout.averaged))


def _smoothed_noise(residual: np.ndarray, averaged: float) -> float:
    """The standard deviation of the smoothed share's noise: the single pixels' (robust, from their residual about
    the smoothed map) over the square root of the smoothing's effective number of pixels ``averaged``
    (:attr:`PixelLayout.averaged`)."""
    mad = float(np.median(np.abs(residual - np.median(residual))))
    return 1.4826 * mad / np.sqrt(averaged)


@dataclass(frozen=True)
class RegionShape:
    """How a component's share map looks around its pure-pixel group's vertex (:func:`region_shapes`).

    ``plateau``: of the pixels where the smoothed share is at least :data:`DOMAIN_LEVEL` of the vertex share, the
    fraction at or above :data:`PLATEAU_LEVEL` of it. ``beyond``: the fraction of all the pixels whose smoothed share
    lies above 1 by more than :data:`TOP_NOISE_SIGMAS` times its noise, i.e. beyond the vertex by more than noise
    can put them."""

    plateau: float
    beyond: float
    peak: float = 1.0  # the smoothed share map's top (TOP_PERCENTILE): under DOMAIN_LEVEL, a group of isolated pixels
    # the single pixels' shares' correlation with their neighbours' (neighbour_correlation); NaN where not measured
    structure: float = float("nan")
    # the fraction of the single pixels whose share reaches PLATEAU_LEVEL of the vertex: where neighbours are not alike
    # (no region to smooth), the pixels that sit at the vertex by themselves
    at_vertex: float = float("nan")


def neighbour_correlation(values: np.ndarray, layout: PixelLayout) -> float:
    """How alike neighbouring pixels' ``values`` (one per row) are: the correlation of each pixel's value, less the
    map's mean, with that of its neighbour along each of the scan's two fastest axes, pooled over both. About 0 where
    the values vary from pixel to pixel with no spatial structure (noise, or mixtures drawn pixel by pixel); a map of
    regions keeps its neighbours alike however noisy its pixels. NaN on a sparse scan (its neighbours unmeasured)."""
    n = int(np.prod(layout.nav_shape, dtype=np.int64))
    if len(layout.flat) != n:
        return float("nan")
    grid = (values - values.mean()).reshape(layout.nav_shape)
    cross = power = 0.0
    for axis in range(max(grid.ndim - 2, 0), grid.ndim):
        if grid.shape[axis] < 2:
            continue
        a, b = np.delete(grid, -1, axis=axis), np.delete(grid, 0, axis=axis)
        cross += float(np.sum(a * b))
        power += float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return cross / power if power > 0 else float("nan")


def _single_pixels(share: np.ndarray, layout: PixelLayout) -> tuple[float, float]:
    """``(structure, at_vertex)`` of :class:`RegionShape`, from a component's unsmoothed shares."""
    return neighbour_correlation(share, layout), float(np.count_nonzero(share >= PLATEAU_LEVEL) / len(share))


def _shares(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(pixels, k): each component's share of each pixel's counts in the factorisation ``w h`` (data units; the
    spectra's negative values left out of their totals, the loadings' kept: a pixel beyond a vertex reads above 1)."""
    counts = w * np.maximum(h, 0.0).sum(axis=1)[None, :]
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)


def region_shapes(w: np.ndarray, h: np.ndarray, layout: PixelLayout, components) -> dict[int, RegionShape]:
    """For each of ``components`` its :class:`RegionShape`. ``w`` (pixels, k) and ``h`` (k, channels): a
    factorisation in data units (``X ~= w h``, any scaling of the spectra).
    ``w`` may hold negative loadings (the pixel end before its clip at zero): a pixel beyond the vertex then reads a
    share above 1, not at it. The vertex share is the top share less :data:`TOP_NOISE_SIGMAS` times the smoothed
    share's noise near it (at the pixels of at least :data:`DOMAIN_LEVEL` of the top): a flat region's top stands
    that far above its level by noise alone, beyond a true vertex pixels lie by their noise only, and beyond a group
    of extreme mixtures by the mixtures' own spread. A component whose share is nowhere positive has no region:
    plateau 0."""
    components = [int(c) for c in components]
    share = _shares(w, h)
    smooth = _smoothed(share[:, components], layout)
    out = {}
    for c, column in zip(components, smooth.T, strict=True):
        peak = float(np.percentile(column, TOP_PERCENTILE))
        near = column >= DOMAIN_LEVEL * peak if peak > 0 else np.ones(len(column), dtype=bool)
        noise = _smoothed_noise((share[:, c] - column)[near], layout.averaged)
        beyond = float(np.count_nonzero(column > 1.0 + TOP_NOISE_SIGMAS * noise) / len(column))
        top = peak - TOP_NOISE_SIGMAS * noise
        if top <= 0.0:
            out[c] = RegionShape(0.0, beyond, peak, *_single_pixels(share[:, c], layout))
            continue
        domain = int(np.count_nonzero(column >= DOMAIN_LEVEL * top))
        out[c] = RegionShape(float(np.count_nonzero(column >= PLATEAU_LEVEL * top) / max(domain, 1)), beyond, peak,
                             *_single_pixels(share[:, c], layout))
    return out


def line_plateaus(w: np.ndarray, h: np.ndarray, layout: PixelLayout, components) -> dict[int, tuple[float, float]]:
    """Along a line scan, for each of ``components`` ``(plateau, noise)``: of the pixels where its smoothed share is
    at least :data:`DOMAIN_LEVEL` of the vertex, the fraction at or above :data:`PLATEAU_LEVEL` of it, and the
    smoothed share's noise (:func:`_smoothed_noise`, over the square root of the pixels the smoothing averages along
    a line). ``w``, ``h`` as :func:`region_shapes`.

    The vertex is the share 1, where the pixel end puts its group by construction, not the top of the map less its
    noise as on a map (:func:`region_shapes`): along a line a smooth maximum is reached at a few correlated pixels,
    whose top stands little above it, and that lowering put the never-pure interphase of issue 17's line grid at
    plateaus 0.44-0.58, among the thin layers' 0.54-0.75 (at the vertex 1: 0.17-0.40 against 0.45-0.98)."""
    components = [int(c) for c in components]
    share = _shares(w, h)
    # smoothed along the line's own axis, wherever it lies among axes of one pixel ((n, 1, 1) as (n,))
    along = PixelLayout((int(np.prod(layout.nav_shape, dtype=np.int64)),), layout.flat)
    smooth = _smoothed(share[:, components], along)
    out = {}
    for c, column in zip(components, smooth.T, strict=True):
        domain = column >= DOMAIN_LEVEL
        noise = _smoothed_noise((share[:, c] - column)[domain], layout.averaged) if domain.any() else float("inf")
        plateau = np.count_nonzero(column >= PLATEAU_LEVEL) / max(int(np.count_nonzero(domain)), 1)
        out[c] = (float(plateau), float(noise))
    return out
