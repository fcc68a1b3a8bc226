"""Axis and colour limits that show the data: the energy range that holds spectral lines, robust image contrast.

* :func:`line_range` -- the x-range where a set of curves reaches a small share of its peaks (each curve scaled to
  its own peak, so a weak component counts as much as a strong one), widened by a margin. An EDS spectrum on a
  0-40 keV axis whose lines all lie below 10 keV is then drawn over 0-10 keV, not squeezed into a quarter of the
  plot.
* :func:`robust_clim` -- colour limits at percentiles of an image (default 1 and 99.5 %), so that a few hot pixels
  of a sparse map do not leave the rest nearly black.
"""

from __future__ import annotations

import numpy as np

PEAK_FRACTION = 0.02  # share of each curve's largest value that marks where its lines are
MARGIN = 0.05  # fraction of the range added on each side
PERCENTILES = (1.0, 99.5)


def line_range(x: np.ndarray, curves: np.ndarray, fraction: float = PEAK_FRACTION,
               margin: float = MARGIN) -> tuple[float, float]:
    """``(lo, hi)`` in the units of ``x`` (n,): the span where any of ``curves`` (n,) or (m, n), each scaled to its
    own largest ``|value|`` (a weak component counts as much as a strong one) and smoothed over 5 channels, reaches
    ``fraction`` of it; widened by ``margin`` times its width on each side and clipped to ``x``'s span. All-zero or
    non-finite curves give the full span. A share of the curves' mass did not do: a continuum that runs to the beam
    energy and the noise of weak components spread it (the Bruker map's lines end at 7.5 keV, the mass at 18)."""
    from scipy.ndimage import uniform_filter1d

    x = np.asarray(x, dtype=float)
    lo_all, hi_all = float(np.min(x)), float(np.max(x))
    c = np.abs(np.atleast_2d(np.asarray(curves, dtype=float)))
    c = np.where(np.isfinite(c), c, 0.0)
    top = c.max(axis=1, keepdims=True)
    keep = top[:, 0] > 0
    if not keep.any() or len(x) < 2:
        return lo_all, hi_all
    order = np.argsort(x, kind="stable")
    profile = uniform_filter1d((c[keep] / top[keep]).max(axis=0)[order], min(5, len(x)))
    above = np.flatnonzero(profile >= fraction * profile.max())
    xs = x[order]
    lo, hi = float(xs[above[0]]), float(xs[above[-1]])
    pad = margin * max(hi - lo, float(np.median(np.diff(xs))))
    return max(lo_all, lo - pad), min(hi_all, hi + pad)


def robust_clim(img: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
    """``(vmin, vmax)``: the given percentiles of the finite values of ``img``; when they coincide (a nearly
    constant map) the finite minimum and maximum, and ``(0, 1)`` when nothing is finite."""
    v = np.asarray(img, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = (float(q) for q in np.percentile(v, percentiles))
    if not hi > lo:
        lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi
