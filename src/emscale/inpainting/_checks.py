"""Input checks shared by the image reconstructions: one place for the messages."""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_not_complex
from ..sampling.patterns import check_mask


def check_image_and_mask(image, mask) -> tuple[np.ndarray, np.ndarray]:
    """``image`` as float64 (values at unmeasured positions ignored) and ``mask`` checked against its shape.

    Raises
    ------
    DataError : image not 2-D or complex, mask empty or of another shape, NaN/inf at a measured position.
    """
    img = np.asarray(image)
    check_not_complex("image", img.dtype, "inpainting reconstructs real values: pass their modulus or real part "
                      "(np.abs, .real)")
    if img.ndim != 2:
        raise DataError(f"image must be 2-D (rows, columns), got shape {img.shape}")
    m = check_mask(mask, img.shape)
    img = img.astype(np.float64)
    if not np.isfinite(img[m]).all():
        raise DataError("image holds NaN or infinite values at measured positions (mask True)")
    return np.where(m, img, 0.0), m


def standardise(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Measured values scaled to zero mean and unit spread, so thresholds do not depend on the detector gain."""
    v = img[mask]
    mu = float(v.mean())
    sd = float(v.std())
    if sd == 0:
        sd = 1.0
    return np.where(mask, (img - mu) / sd, 0.0), mu, sd
