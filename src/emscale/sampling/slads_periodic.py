"""A non-local SLADS cue: the periodic part of the scanned image, estimated from the sparse measurements.

On a crystal imaged at atomic resolution, the columns that no measurement has hit yet are where the lattice
puts them; no local feature can know that. The estimate ``P`` is the weighted nearest-neighbour reconstruction
``x_hat`` with its Fourier coefficients replaced at the lattice's frequencies by those of the point samples:

    Y(f) = sum_s a_s (y_s - mean y) exp(-2 pi i f . s),

with ``a_s`` the area of the Voronoi cell of sample ``s`` (the pixels whose nearest measurement it is; density
compensation for the uneven SLADS sampling). Point samples keep a lattice's Fourier peaks at full height (a
nearest-neighbour reconstruction of a sparse sample at a few pixels per column smears them away), while the
aliasing of the irregular sampling spreads over all frequencies. A frequency ``f`` with ``|f| >= 1 / period_cut``
is a lattice frequency when ``|Y(f)|^2 > tau N(|f|)``, ``N`` the geometric mean of ``|Y|^2`` over the ring of
frequencies of that modulus (the aliasing floor; noise alone reaches ~20 N on a 128 x 128 scan, ~25 N on
512 x 512, a lattice's peaks hundreds to thousands of N once it is resolved); there::

    P(f) = w Y(f) + (1 - w) X_hat(f),   w = 1 - tau N / |Y(f)|^2,

and ``P(f) = X_hat(f)`` at every other frequency. Where no frequency qualifies (an image without a lattice, or a
lattice not resolved yet by the measurements) there is no estimate (``None``) and the feature ``pdev = |P -
x_hat|`` is exactly 0, which the ERD model reads as "use the local regression" (:mod:`.slads_model`).

``tau`` is set from the benchmark's held-out images (bench_dynamic_sampling.py): at 50 the regular sampling
patterns SLADS leaves in the vacuum of a HAADF projection at 40 % measured passed as a lattice (-2 dB there);
at 70 and 100 it never fired on the HAADF or particle images, and 70 finds the dose-50 lattice earlier (+2.1
dB over random sampling at 20 %, +1.8 at 100). Subtracting a low-pass of ``x_hat`` instead of the mean lowers
the floor and lets the streaks of a projection's straight edges pass too (-3 dB at 20 %).

Cost on a 512 x 512 scan: two real FFTs and an inverse, ~15 ms; the SLADS loop refreshes it every few batches
(:func:`.slads.slads_scan`), not at every one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PERIOD_CUT = 16.0  # pixels: longer periods (background, thickness) always come from the reconstruction
TAU = 70.0  # a kept frequency rises this many times above the aliasing floor (noise: at most ~25 on 512 x 512)


def periodic_image(recon: np.ndarray, values: np.ndarray, measured: np.ndarray, nearest: np.ndarray, shape,
                   tau: float = TAU, period_cut: float = PERIOD_CUT) -> np.ndarray | None:
    """The periodic estimate ``P`` (see the module docstring), flat.

    Parameters
    ----------
    recon : (n_pixels,) the weighted nearest-neighbour reconstruction ``x_hat``.
    values : (n_pixels,) measured values (read at ``measured``).
    measured : (n_pixels,) bool.
    nearest : (n_pixels,) flat index of each pixel's nearest measurement (itself where measured).
    shape : (rows, cols).
    tau : how far above the aliasing floor a frequency must rise to count as a lattice frequency.
    period_cut : pixels; periods longer than this always come from ``recon``.

    Returns
    -------
    (n_pixels,) float64, or None where no frequency rises above the floor (no lattice found: ``P = x_hat``).
    """
    ny, nx = shape = (int(shape[0]), int(shape[1]))
    high, ring, ring_count = _rings(shape, float(period_cut))
    m = np.flatnonzero(measured)
    area = np.bincount(nearest, minlength=ny * nx).astype(np.float64)
    pts = np.zeros(ny * nx)
    pts[m] = area[m] * (values[m] - float(values[m].mean()))
    y = np.fft.rfft2(pts.reshape(shape))
    power = y.real ** 2 + y.imag ** 2
    logp = np.log(power + 1e-300)
    floor = np.exp(np.bincount(ring.ravel(), logp.ravel()) / ring_count)[ring]
    keep = high & (power > tau * floor)
    if not keep.any():
        return None
    spec = np.fft.rfft2(recon.reshape(shape))
    w = 1.0 - tau * floor[keep] / power[keep]
    spec[keep] = w * y[keep] + (1.0 - w) * spec[keep]
    return np.fft.irfft2(spec, s=shape).ravel()


@lru_cache(maxsize=4)
def _rings(shape: tuple[int, int], period_cut: float):
    """Of a ``shape`` scan's half spectrum (``rfft2``): where the period is short enough to be a lattice's, the
    ring (integer ``|f| max(shape)``) of every frequency and each ring's size (at least 1). Read-only arrays,
    computed once per scan shape."""
    ny, nx = shape
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    fr = np.sqrt(fy * fy + fx * fx)
    high = fr >= 1.0 / period_cut
    ring = np.minimum((fr * max(ny, nx)).astype(np.int64), max(ny, nx) // 2 + 1)
    count = np.maximum(np.bincount(ring.ravel()), 1)
    for a in (high, ring, count):
        a.flags.writeable = False
    return high, ring, count
