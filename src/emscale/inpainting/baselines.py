"""Interpolation baselines for sparse images: nearest neighbour, linear (Delaunay) and biharmonic inpainting.

* nearest: every unmeasured pixel takes the value of the closest measured one (Euclidean distance transform).
* linear: piecewise-linear interpolation on the Delaunay triangulation of the measured positions (scipy's
  ``griddata``); pixels outside the convex hull take the nearest value.
* biharmonic: scikit-image's :func:`skimage.restoration.inpaint_biharmonic`, the smooth solution of
  ``Laplacian^2 u = 0`` in the unmeasured region (Damelin & Hoang 2018) -- the usual reference of compressed-sensing
  STEM papers. scikit-image is optional and imported on use.
"""

from __future__ import annotations

import numpy as np

from ..engine.blas import one_blas_thread
from ._checks import check_image_and_mask

__all__ = ["biharmonic", "linear", "nearest"]


def nearest(image, mask, seed: int = 0) -> np.ndarray:
    """Nearest-measured-neighbour fill. ``image``: (rows, columns); ``mask``: bool, True = measured.

    ``seed`` is accepted for a uniform interface (the method is deterministic)."""
    img, m = check_image_and_mask(image, mask)
    return _nearest_of(img, m)


def _nearest_of(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``img`` (rows, columns[, values]) with each unmeasured pixel taking its nearest measured pixel's values."""
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    _, (iy, ix) = ndimage.distance_transform_edt(~m, return_indices=True)
    return img[iy, ix]


def linear(image, mask, seed: int = 0) -> np.ndarray:
    """Delaunay piecewise-linear interpolation of the measured pixels; nearest fill outside their hull."""
    img, m = check_image_and_mask(image, mask)
    return fill_linear(img[m], m)


def fill_linear(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image ``(rows, columns)``, or images ``(rows, columns, n)``, whose measured pixels (``mask`` True, in row
    order) hold ``values`` (``(measured,)`` or ``(measured, n)``) and whose others are their Delaunay piecewise-linear
    interpolation, one triangulation for every image; nearest fill outside the measured pixels' hull."""
    from scipy.interpolate import LinearNDInterpolator

    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(mask.shape + values.shape[1:])
    out[mask] = values
    pts = np.argwhere(mask)
    if len(pts) < 3:
        return _nearest_of(out, mask)
    # on one BLAS thread: the triangulation's first point location (its barycentric transforms) started BLAS's
    # threads, 0.9-2.5 s on a 16-24 pixel image of a busy 2-core machine (a review), 1-2 ms on one
    with one_blas_thread():
        try:
            interp = LinearNDInterpolator(pts, values, fill_value=np.nan)
        except Exception:  # collinear points (a single row or column): no triangulation
            return _nearest_of(out, mask)
        out[~mask] = interp(np.argwhere(~mask))
    hole = ~np.isfinite(out)
    if hole.any():
        out[hole] = _nearest_of(out, mask)[hole]
    return out


def biharmonic(image, mask, seed: int = 0) -> np.ndarray:
    """scikit-image's biharmonic inpainting of the unmeasured pixels (needs scikit-image)."""
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("method='biharmonic' needs scikit-image: pip install scikit-image") from e
    img, m = check_image_and_mask(image, mask)
    return inpaint_biharmonic(img, ~m)
