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


def test_channel_runs():
    from emscale.decomposition.ica import channel_runs

    keep = np.ones(10, bool)
    keep[[0, 4, 5, 9]] = False
    assert channel_runs(keep) == [slice(0, 3), slice(3, 6)]  # kept channels 1-3 and 6-8
    assert channel_runs(None) is None


def test_ica_of_spectra_does_not_differentiate_across_a_masked_gap():
    """A signal_mask that cuts channels out of the middle of EELS spectra: the kept channels either side of the
    gap are not neighbours, and the step between them (a background 60 channels apart) was taken for a sharp
    feature by the derivative that FastICA unmixes: 2.9 / 3.3 / 2.3 degrees from the truth, against 1.9 / 0.9 / 1.2
    without the mask. Differentiated within each run of channels: 1.9 / 1.0 / 1.1."""
    from groundtruth import make_cube, spectral_angles

    s, truth = make_cube(3, "eels", shape=(64, 64), n_channels=512, counts=2000, seed=0)
    gap = np.zeros(512, bool)
    gap[200:260] = True
    d = decompose(s, "ica", n_components=3, signal_mask=gap)
    angles = spectral_angles(d.factors_array.T[:, ~gap], truth.spectra[:, ~gap])
    assert angles.max() <= 2.0, angles
    assert d.info["derivative"] == "within 2 runs of channels"


@pytest.mark.parametrize("every, diff_order", [(2, 1), (3, 2)])
def test_ica_of_spectra_with_runs_too_short_to_differentiate(every, diff_order):
    """A mask that leaves only runs of ``diff_order`` channels (every other channel; or two of every three with
    the second derivative): no run has a derivative of that order, so the kept channels are differentiated as one
    sequence, as before the runs were honoured (zeros in their place gave FastICA nothing: 90 degrees, factors of
    1e163, reported converged)."""
    from groundtruth import make_cube, spectral_angles

    s, truth = make_cube(3, "eels", shape=(32, 32), n_channels=256, counts=2000, seed=0)
    mask = np.zeros(256, bool)
    mask[every - 1::every] = True
    d = decompose(s, "ica", n_components=3, signal_mask=mask, diff_order=diff_order)
    assert d.info["derivative"].startswith("across the mask's gaps"), d.info["derivative"]
    assert spectral_angles(d.factors_array.T[:, ~mask], truth.spectra[:, ~mask]).max() <= 5.0


def test_channel_runs_of_a_two_dimensional_signal_end_with_each_row():
    from emscale.decomposition.ica import channel_runs

    keep = np.ones(16, bool)
    keep[[5, 6]] = False
    # kept: 0-3 | 4 | 7 | 8-11 | 12-15 (rows of 4; channels 5 and 6 masked)
    assert channel_runs(keep, (4, 4)) == [slice(0, 4), slice(4, 5), slice(5, 6), slice(6, 10), slice(10, 14)]
    assert channel_runs(None, (2, 3)) == [slice(0, 3), slice(3, 6)]
    assert channel_runs(None, (7,)) is None
