"""One entry point for the image reconstructions: a method name -> the reconstruction function."""

from __future__ import annotations

import numpy as np

from ..core.errors import check_seed
from .baselines import biharmonic, linear, nearest
from .dictionary import dictionary
from .sparse import sparse

__all__ = ["CHOOSING_METHODS", "IMAGE_METHODS", "inpaint_image"]

IMAGE_METHODS = {
    "nearest": nearest,
    "linear": linear,
    "biharmonic": biharmonic,
    "sparse": sparse,
    "dictionary": dictionary,
}

# the methods that choose their own settings by hold-out and say what they chose (``return_choice``)
CHOOSING_METHODS = ("sparse", "dictionary")


def check_method(method) -> None:
    """An image method :func:`inpaint_image` knows; else a ValueError listing them."""
    if method not in IMAGE_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(IMAGE_METHODS)}")


def inpaint_image(image, mask, method: str = "sparse", seed: int = 0, **params) -> np.ndarray:
    """Reconstruct a sparsely scanned image.

    Parameters
    ----------
    image : (rows, columns) values; only those where ``mask`` is True are read.
    mask : (rows, columns) bool, True = measured.
    method : ``"sparse"`` (FISTA under a Fourier / block-DCT sparsity prior, :mod:`.sparse`), ``"dictionary"``
        (learned patch dictionary, :mod:`.dictionary`), or a baseline ``"nearest"``, ``"linear"``,
        ``"biharmonic"`` (:mod:`.baselines`).
    seed : seed of every random choice; same seed, same bits.
    params : the method's own parameters (e.g. ``prior=``, ``lam_min=`` of ``"sparse"``; ``patch=`` of
        ``"dictionary"``).

    Returns
    -------
    (rows, columns) float64 image.
    """
    check_method(method)
    check_seed(seed)
    return IMAGE_METHODS[method](image, mask, seed=seed, **params)
