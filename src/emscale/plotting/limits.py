"""Axis and colour limits that show the data: the energy range that holds spectral lines, robust image contrast.

* :func:`mass_range` -- the x-range over which a set of curves carries a given share of its absolute mass (each
  curve normalised to unit mass first, so a weak component counts as much as a strong one), widened by a margin.
  An EDS spectrum on a 0-40 keV axis whose lines all lie below 10 keV is then drawn over 0-10 keV, not squeezed
  into a quarter of the plot.
* :func:`robust_clim` -- colour limits at percentiles of an image (default 1 and 99.5 %), so that a few hot pixels
  of a sparse map do not leave the rest nearly black.
"""

from __future__ import annotations

import numpy as np

MASS = 0.995  # share of each curve's absolute mass the range holds
MARGIN = 0.05  # fraction of the range added on each side
PERCENTILES = (1.0, 99.5)


def mass_range(x: np.ndarray, curves: np.ndarray, mass: float = MASS, margin: float = MARGIN) -> tuple[float, float]:
    """``(lo, hi)`` in the units of ``x`` (n,): the smallest interval between the ``(1 - mass) / 2`` and
    ``(1 + mass) / 2`` quantiles of the mean of the unit-mass ``|curves|`` (n,) or (m, n), widened by ``margin``
    times its width on each side and clipped to ``x``'s span. All-zero or non-finite curves give the full span."""
    x = np.asarray(x, dtype=float)
    lo_all, hi_all = float(np.min(x)), float(np.max(x))
    c = np.abs(np.atleast_2d(np.asarray(curves, dtype=float)))
    c = np.where(np.isfinite(c), c, 0.0)
    tot = c.sum(axis=1, keepdims=True)
    keep = tot[:, 0] > 0
    if not keep.any() or len(x) < 2:
        return lo_all, hi_all
    profile = (c[keep] / tot[keep]).mean(axis=0)
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(profile[order])
    cum /= cum[-1]
    tail = (1.0 - mass) / 2.0
    i0 = int(np.searchsorted(cum, tail, side="left"))
    i1 = int(np.searchsorted(cum, 1.0 - tail, side="left"))
    xs = x[order]
    lo, hi = float(xs[min(i0, len(xs) - 1)]), float(xs[min(i1, len(xs) - 1)])
    pad = margin * max(hi - lo, float(np.median(np.diff(xs))) if len(xs) > 1 else 0.0)
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
