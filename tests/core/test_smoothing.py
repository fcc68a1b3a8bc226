"""Normalised convolution (core.smoothing): a Gaussian mean of the known points only."""

import numpy as np
from scipy.ndimage import gaussian_filter

from emscale.core.smoothing import normalised_convolution


def test_a_field_with_gaps_keeps_its_level_where_zeros_would_pull_it_down():
    rng = np.random.default_rng(0)
    known = rng.random((40, 50)) < 0.3
    values = np.where(known, 7.0, np.nan)  # missing values are never read
    mean, weight = normalised_convolution(values, known, 2.0)
    assert np.allclose(mean, 7.0)
    plain = gaussian_filter(np.where(known, 7.0, 0.0), 2.0, mode="nearest")
    assert plain.mean() < 0.4 * 7.0  # what smoothing the gaps as zeros gives
    assert np.allclose(weight, gaussian_filter(known.astype(float), 2.0, mode="nearest"))


def test_the_mean_is_the_gaussian_weighted_mean_of_the_known_neighbours():
    values = np.zeros(21)
    known = np.zeros(21, dtype=bool)
    values[[8, 13]], known[[8, 13]] = 1.0, True
    values[12] = 100.0  # unknown: no weight
    mean, _ = normalised_convolution(values, known, 3.0, mode="constant")
    g8, g13 = np.exp(-(10 - 8) ** 2 / 18.0), np.exp(-(10 - 13) ** 2 / 18.0)
    assert np.isclose(mean[10], (g8 * 1.0 + g13 * 1.0) / (g8 + g13))
    values[13] = 3.0
    mean, _ = normalised_convolution(values, known, 3.0, mode="constant")
    assert np.isclose(mean[10], (g8 * 1.0 + g13 * 3.0) / (g8 + g13), rtol=1e-3)


def test_points_out_of_reach_of_any_known_one_read_zero_and_maps_are_not_mixed():
    known = np.zeros((30, 30, 1), dtype=bool)
    known[:3, :3] = True
    values = np.ones((30, 30, 2)) * np.array([2.0, 5.0])
    mean, weight = normalised_convolution(values, known, [1.0, 1.0, 0.0], mode="constant", floor=1e-6)
    assert np.all(mean[-5:, -5:] == 0.0) and np.all(weight[-5:, -5:] <= 1e-6)
    assert np.allclose(mean[:3, :3, 0], 2.0) and np.allclose(mean[:3, :3, 1], 5.0)
