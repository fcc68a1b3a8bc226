"""The simulated-noise signs of the parallel analysis, in numpy: a counter-based hash of (seed, pixel, channel).

Apart from :mod:`._gram` (whose numba kernels compute the same bits) so that the small-cube route
(:func:`.pca.gram_pca` on the pixel side) draws them without loading numba.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PIXEL_MUL = np.uint64(0xD1B54A32D192ED03)


def _mix64(z):
    """SplitMix64's finaliser on uint64 (wrapping arithmetic); numpy arrays here, scalars in the kernels."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pixel_base(seed, pixel):
    """The hash input of a pixel's channel 0 (uint64); channel j hashes ``base + j``."""
    return seed * _GOLDEN + pixel * _PIXEL_MUL


def _seed64(seed: int) -> np.uint64:
    return np.uint64(int(seed) % 2**64)


def noise_signs(seed: int, pixel_ids: np.ndarray, channel_ids: np.ndarray) -> np.ndarray:
    """+-1 (int8, pixels x channels) for global pixel indices ``pixel_ids`` and channel indices ``channel_ids``:
    the top bit of ``mix64(seed * phi + pixel * K + channel)``. The numba kernels compute the same bits."""
    with np.errstate(over="ignore"):
        base = _pixel_base(_seed64(seed), np.asarray(pixel_ids, dtype=np.uint64))
        h = _mix64(base[:, None] + np.asarray(channel_ids, dtype=np.uint64)[None, :])
    return (np.int8(1) - np.int8(2) * (h >> np.uint64(63)).astype(np.int8)).astype(np.int8)
