"""One entry point for the image reconstructions: a method name -> the reconstruction function."""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, check_seed, warn_caller
from ._checks import check_image_and_mask
from .baselines import biharmonic, linear, nearest
from .dictionary import OPTION_CHECKS as DICTIONARY_OPTIONS
from .dictionary import check_options as check_dictionary_options
from .dictionary import dictionary
from .sparse import MIN_HOLDOUT_PIXELS, sparse
from .sparse import OPTION_CHECKS as SPARSE_OPTIONS
from .sparse import check_options as check_sparse_options

__all__ = ["CHOOSING_METHODS", "IMAGE_METHODS", "METHOD_OPTIONS", "SPARSE_OPTIONS", "check_method_options",
           "inpaint_image", "reconstruct_image", "warn_if_near_empty"]

IMAGE_METHODS = {
    "nearest": nearest,
    "linear": linear,
    "biharmonic": biharmonic,
    "sparse": sparse,
    "dictionary": dictionary,
}

# the methods that choose their own settings by hold-out and say what they chose (``return_choice``)
CHOOSING_METHODS = ("sparse", "dictionary")


# each method's own options (besides image, mask and seed): the check of each, and the check of them together (an
# option whose bounds depend on another's); the baselines take none
METHOD_OPTIONS = {
    "sparse": (SPARSE_OPTIONS, check_sparse_options),
    "dictionary": (DICTIONARY_OPTIONS, check_dictionary_options),
}


def check_method(method) -> None:
    """An image method :func:`inpaint_image` knows; else a ValueError listing them."""
    if method not in IMAGE_METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(IMAGE_METHODS)}")


def check_method_options(method, options: dict, also: dict | None = None) -> None:
    """The options of image method ``method`` (a dict), by name and value: a name it does not take is a ValueError
    listing those it takes, a value it would refuse an error naming the option (``n_iter=0``); several problems are
    one ValueError saying each. ``also``: further options and their checks (a spectrum image's)."""
    check_method(method)
    checks, check_together = METHOD_OPTIONS.get(method, ({}, None))
    checks = {**checks, **(also or {})}
    problems: list[Exception] = []
    unknown = [name for name in options if name not in checks]
    if unknown:
        problems.append(DataError(
            f"params: {method!r} takes no parameter {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(sorted(checks)) or 'none'}"))
    known = {k: v for k, v in options.items() if k in checks}
    for name, value in known.items():
        try:
            checks[name](value)
        except ValueError as exc:
            problems.append(exc)
    if not problems and check_together is not None:
        check_together(**{k: v for k, v in known.items() if k not in (also or {})})
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise DataError("; ".join(map(str, problems)))


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
    # the method's own checks, made before the warning: a mask it refuses (an empty one) is no near-empty scan
    _, m = check_image_and_mask(image, mask)
    warn_if_near_empty("inpaint_image", m)
    return reconstruct_image(image, mask, method, seed, **params)


def reconstruct_image(image, mask, method: str = "sparse", seed: int = 0, **params) -> np.ndarray:
    """:func:`inpaint_image` for the callers that have checked and said what they must already (a signal's
    ``inpaint``, each loading map of a spectrum image, each tile): no warning of its own."""
    return IMAGE_METHODS[method](image, mask, seed=seed, **params)


def warn_if_near_empty(what: str, mask) -> None:
    """Every method returns something from a handful of measured positions (one pixel gives a flat image); say
    that it is a guess, where too few were measured for any method to choose its own settings."""
    n = int(np.count_nonzero(mask))
    if n < MIN_HOLDOUT_PIXELS:
        warn_caller(f"{what}: only {n} of {mask.size} scan positions were measured (fewer than {MIN_HOLDOUT_PIXELS}); "
                    "whatever the method, the reconstruction is little more than an interpolation of "
                    f"{n} value(s)")
