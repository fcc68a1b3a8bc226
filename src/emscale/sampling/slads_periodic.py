"""A non-local SLADS cue: the periodic part of the scanned image, estimated from the sparse measurements.

On a crystal imaged at atomic resolution, the columns that no measurement has hit yet are where the lattice
puts them; no local feature can know that. The estimate

    P = L + H

splits the spectrum at the cut-off frequency ``f_c = 1 / period_cut`` (cycles per pixel):

* ``L``: the frequencies below ``f_c`` of the weighted nearest-neighbour reconstruction ``x_hat`` (the smooth
  background, which that reconstruction gets right);
* ``H``: the frequencies above ``f_c`` of the density-compensated point samples,
  ``Y(f) = sum_s a_s (y_s - mean y) exp(-2 pi i f . s)``, with ``a_s`` the area of the Voronoi cell of sample
  ``s`` (the pixels whose nearest measurement it is, so that ``sum_s a_s`` is the scan's area), kept through
  the Wiener-like weight ``w(f) = max(0, 1 - tau N / |Y(f)|^2)``, ``N`` the median of ``|Y|^2`` over those
  frequencies (the aliasing floor of the sparse, irregular sampling).

Point samples keep the lattice's Fourier peaks unattenuated (a nearest-neighbour reconstruction of a sparse
sample smears them away at spacings of a few pixels) while the sampling's aliasing spreads over all frequencies
at the floor ``N``; only sharp peaks -- a lattice -- rise ``tau`` times above it. On an image with no
periodicity ``H`` is nearly zero and ``P`` is a low-pass of ``x_hat``, so its features then tell the regression
about ordinary image detail only.

Cost on a 512 x 512 scan: two real FFTs and a median, ~20 ms; the SLADS loop refreshes it every few steps
(:func:`.slads.slads_scan`), not at every batch.
"""

from __future__ import annotations

import numpy as np

PERIOD_CUT = 16.0  # pixels: longer periods come from the reconstruction, shorter ones from the point samples
TAU = 100.0  # a kept frequency rises this many times above the aliasing floor (noise: at most ~25 on 512 x 512)


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
    tau : how far above the aliasing floor a frequency must rise to be kept.
    period_cut : pixels; periods longer than this come from ``recon``.

    Returns
    -------
    (n_pixels,) float64, or None where no frequency rises above the floor (no lattice found: ``P = x_hat``).
    """
    ny, nx = shape
    m = np.flatnonzero(measured)
    area = np.bincount(nearest, minlength=ny * nx).astype(np.float64)
    pts = np.zeros(ny * nx)
    pts[m] = area[m] * (values[m] - float(values[m].mean()))
    y = np.fft.rfft2(pts.reshape(shape))
    power = y.real ** 2 + y.imag ** 2
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    fr = np.sqrt(fy * fy + fx * fx)
    ring = np.minimum((fr * max(ny, nx)).astype(np.int64), max(ny, nx) // 2 + 1)
    logp = np.log(power + 1e-300)
    floor = np.exp(np.bincount(ring.ravel(), logp.ravel()) / np.maximum(np.bincount(ring.ravel()), 1))[ring]
    keep = (fr >= 1.0 / period_cut) & (power > tau * floor)
    if not keep.any():
        return None
    spec = np.fft.rfft2(recon.reshape(shape))
    w = 1.0 - tau * floor[keep] / power[keep]
    spec[keep] = w * y[keep] + (1.0 - w) * spec[keep]
    return np.fft.irfft2(spec, s=shape).ravel()
