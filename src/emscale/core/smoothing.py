"""Normalised convolution: a Gaussian-weighted mean of values known at some points of a grid only.

Where values are missing (unmeasured pixels, spectra without an estimate, pixels not judged), smoothing them as zeros
would pull every mean towards zero near a gap; weighting each point by whether it is known, and dividing by the
smoothed weights, gives the mean of the known neighbours instead (Knutsson & Westin's normalised convolution with a
Gaussian applicability). Four places needed it: pure-pixel regions, noise-fit regions, the shift map of
``align_spectra`` and sparse-scan inpainting.
"""

from __future__ import annotations

import numpy as np


def normalised_convolution(values: np.ndarray, known: np.ndarray, sigma, mode: str = "nearest",
                           floor: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, weight)``: the Gaussian-weighted mean of ``values`` over the points where ``known`` (bool,
    broadcastable to ``values``' shape and of the same number of axes) is True, and the smoothed weights; ``mean`` is
    0 where the weight is not above ``floor``. ``sigma`` and ``mode`` as :func:`scipy.ndimage.gaussian_filter`'s
    (a sigma of 0 leaves an axis unsmoothed)."""
    from scipy.ndimage import gaussian_filter  # here: scipy's submodules cost 0.1-1 s at `import emscale`

    weight = gaussian_filter(known.astype(np.float64), sigma, mode=mode)
    total = gaussian_filter(np.where(known, values, 0.0), sigma, mode=mode)
    return np.where(weight > floor, total / np.maximum(weight, floor), 0.0), weight
