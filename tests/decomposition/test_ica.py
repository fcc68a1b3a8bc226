"""ICA: a rotation of the PCA model, signed factors; clustering of the loadings."""

from __future__ import annotations

import numpy as np
import pytest

from emscale.decomposition import decompose


def test_ica_and_cluster(cube):
    s, truth = cube
    d = decompose(s, "ica", n_components=3, seed=1)
    f = d.factors_array
    assert np.all(f[np.argmax(np.abs(f), axis=0), np.arange(3)] > 0)
    # ICA is a rotation of the PCA model: same reconstruction
    p = decompose(s, "pca", n_components=3)
    np.testing.assert_allclose(d.reconstruct().data, p.reconstruct().data, rtol=1e-6, atol=1e-6)
    c = p.cluster(3, seed=0)
    assert c.labels.data.shape == (24, 20) and set(np.unique(c.labels.data)) == {0, 1, 2}
    assert c.spectra.data.shape == (3, 128)


def _matched_abs_correlation(a, b):
    """For each column of ``a``, the largest |correlation| with a column of ``b`` (and whether the match is 1:1)."""
    c = np.abs(np.corrcoef(a.T, b.T)[: a.shape[1], a.shape[1]:])
    return c.max(axis=1), len(set(np.argmax(c, axis=1))) == a.shape[1]


def test_fast_ica_unmixes_independent_sources():
    from emscale.decomposition.ica import fast_ica

    rng = np.random.default_rng(3)
    sources = np.column_stack([rng.laplace(size=4000), rng.uniform(-1, 1, 4000), rng.exponential(size=4000)])
    mixed = sources @ rng.normal(size=(3, 3)).T + 5.0
    unmix, n_iter, converged = fast_ica(mixed, seed=0)
    found = (mixed - mixed.mean(axis=0)) @ unmix.T
    np.testing.assert_allclose(found.std(axis=0), 1.0, rtol=1e-9)  # unit-variance sources
    best, one_to_one = _matched_abs_correlation(sources, found)
    assert converged and one_to_one and best.min() > 0.995, (best, n_iter)
    again, _, _ = fast_ica(mixed, seed=0)
    assert np.array_equal(again, unmix)  # seeded: the same bits on rerun


def test_fast_ica_agrees_with_scikit_learn():
    from sklearn.decomposition import FastICA

    from emscale.decomposition.ica import fast_ica

    rng = np.random.default_rng(7)
    sources = np.column_stack([rng.laplace(size=3000), rng.laplace(size=3000) ** 3, rng.uniform(size=3000)])
    mixed = sources @ rng.normal(size=(3, 3)).T
    ours = (mixed - mixed.mean(axis=0)) @ fast_ica(mixed, seed=1)[0].T
    theirs = FastICA(3, whiten="unit-variance", random_state=1, max_iter=1000, tol=1e-6).fit_transform(mixed)
    best, one_to_one = _matched_abs_correlation(theirs, ours)
    assert one_to_one and best.min() > 0.9999, best


def test_channel_positions():
    from emscale.decomposition.ica import channel_positions

    keep = np.ones(10, bool)
    keep[[0, 4, 5, 9]] = False
    x, rows = channel_positions(keep, (10,))
    assert x.tolist() == [1, 2, 3, 6, 7, 8] and rows == [slice(0, 6)]
    x, rows = channel_positions(None, (2, 3))  # two rows of a 2-D signal space
    assert x.tolist() == [0, 1, 2, 0, 1, 2] and rows == [slice(0, 3), slice(3, 6)]


def test_ica_of_spectra_does_not_differentiate_across_a_masked_gap():
    """A signal_mask that cuts channels out of the middle of EELS spectra: the kept channels either side of the
    gap are 61 channels apart, and the step between them, differentiated as if they were neighbours, was taken
    for a sharp feature by FastICA: 2.9 / 3.3 / 2.3 degrees from the truth, against 1.9 / 0.9 / 1.2 without the
    mask. Differentiated with respect to the channels' positions: 1.9 / 1.0 / 1.1."""
    from groundtruth import make_cube, spectral_angles

    s, truth = make_cube(3, "eels", shape=(64, 64), n_channels=512, counts=2000, seed=0)
    gap = np.zeros(512, bool)
    gap[200:260] = True
    d = decompose(s, "ica", n_components=3, signal_mask=gap)
    angles = spectral_angles(d.factors_array.T[:, ~gap], truth.spectra[:, ~gap])
    assert angles.max() <= 2.0, angles
    assert d.info["derivative"] == "by the kept channels' positions"


@pytest.mark.parametrize("mask_seed", [0, 1])
@pytest.mark.parametrize("diff_order", [1, 2])
def test_ica_of_spectra_with_scattered_masked_channels(mask_seed, diff_order):
    """Half the channels masked at random, and every other channel of the first 200: the kept channels are
    differentiated with respect to their positions: at most 1.7 / 5.6 (every other) and 3.2 / 4.4 degrees (random)
    with the first / second derivative. (A first version differentiated only runs of consecutive channels and
    dropped the short ones: 30.8 degrees, a derivative of 56 of 156 channels.)"""
    from groundtruth import make_cube, spectral_angles

    s, truth = make_cube(3, "eels", shape=(32, 32), n_channels=256, counts=2000, seed=0)
    mask = np.random.default_rng(mask_seed).random(256) < 0.5 if mask_seed else np.zeros(256, bool)
    if not mask_seed:
        mask[1:200:2] = True
    d = decompose(s, "ica", n_components=3, signal_mask=mask, diff_order=diff_order)
    assert d.info["derivative"] == "by the kept channels' positions"
    assert spectral_angles(d.factors_array.T[:, ~mask], truth.spectra[:, ~mask]).max() <= 6.5


def _particles_on_a_matrix(n=40, n_channels=256, dose=200, seed=1):
    """Two kinds of sparse round particles (independent maps) on a uniform matrix: (signal, true spectra)."""
    from emscale.core.axes import Axis
    from emscale.core.signal import Signal

    e = np.linspace(0.2, 10, n_channels)

    def spectrum(lines):
        s = 0.15 * np.exp(-e / 3) * e + sum(np.exp(-0.5 * ((e - line) / 0.08) ** 2) for line in lines)
        return s / s.sum()

    spectra = np.array([spectrum([1.74]), spectrum([0.52, 1.74]), spectrum([8.04, 0.93])])
    yy, xx = np.mgrid[:n, :n]
    maps = [np.ones((n, n))]
    for placement in (5, 9):
        rng, p = np.random.default_rng(placement), np.zeros((n, n))
        for _ in range(8):
            cy, cx = rng.integers(0, n, 2)
            p[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = 2
        maps.append(p)
    mean = np.stack(maps, -1).reshape(-1, 3) @ spectra * dose
    x = np.random.default_rng(seed).poisson(mean).astype(np.uint32).reshape(n, n, n_channels)
    axes = [Axis("y", n, navigate=True), Axis("x", n, navigate=True), Axis("E", n_channels)]
    return Signal(x, axes=axes, signal_type="EDS_SEM"), spectra


def test_ica_of_the_maps_unmixes_them_in_data_units():
    # FastICA of the Poisson-weighted scores put the particle spectra 17-22 degrees from the truth (the per-pixel
    # weight 1/sqrt(counts) couples the independent maps); unmixing the maps in data units gets 3-7, as HyperSpy's
    # blind_source_separation(on_loadings=True) and scikit-learn's FastICA of the data-unit loadings do
    s, spectra = _particles_on_a_matrix()
    f = np.nan_to_num(decompose(s, "ica", n_components=3, on="loadings").factors_array).T
    cos = np.abs((spectra / np.linalg.norm(spectra, axis=1, keepdims=True)) @ (f / np.linalg.norm(f, axis=1,
                                                                                                   keepdims=True)).T)
    particles = np.degrees(np.arccos(np.clip(cos.max(axis=1), 0, 1)))[1:]
    assert particles.max() < 10, particles
