"""KL-NMF for data bigger than memory: spectra fitted on a seeded pixel subset, loadings in one pass."""

import numpy as np

import emscale as em
from emscale.decomposition import decompose
from emscale.decomposition import spectral_angles as matched_angles
from groundtruth import make_cube, spectral_angles


def _kl(x, w, h):
    wh = w @ h
    m = x > 0
    return float(np.sum(x[m] * np.log(x[m] / wh[m])) - x.sum() + wh.sum())


def test_subset_fit_then_loadings_pass(tmp_path):
    s, truth = make_cube(rank=3, kind="eds", shape=(48, 48), n_channels=256, counts=200, pure=True, seed=3)
    full = decompose(s, "nmf", n_components=3)
    s.save(tmp_path / "cube.zarr")
    lazy = em.load(tmp_path / "cube.zarr", lazy=True)
    sub = decompose(lazy, "nmf", n_components=3, fit_pixels=900)  # 39 % of the pixels
    assert "subset(900 of 2304 pixels)" in sub.info["route"] and sub.info["fit_pixels"] == 900
    a_full = np.median(spectral_angles(full.factors_array.T, truth.spectra))
    a_sub = np.median(spectral_angles(sub.factors_array.T, truth.spectra))
    # measured: all pixels 1.49, subsets of 1500 / 900 / 400 pixels 1.63 / 2.27 / 2.63 (the subset's noise)
    assert a_sub <= 2.5 and a_sub <= a_full + 1.0, (a_sub, a_full)
    # every pixel gets loadings: they carry the counts and agree with the in-memory factorisation's
    x = s.data.reshape(-1, 256).astype(float)
    np.testing.assert_allclose(sub.loadings_array.sum(), x.sum(), rtol=0.02)
    _, match = matched_angles(sub.factors_array.T, full.factors_array.T)
    for c, j in enumerate(match):
        r = np.corrcoef(sub.loadings_array[:, c], full.loadings_array[:, j])[0, 1]
        assert r > 0.98, (c, r)
    # the reported loss is that of the returned factors, over every pixel
    np.testing.assert_allclose(sub.info["loss"], _kl(x, sub.loadings_array, sub.factors_array.T), rtol=1e-6)
    # same seed: the same subset and the same bits, in memory or lazy
    again = decompose(s, "nmf", n_components=3, fit_pixels=900)
    assert np.array_equal(again.factors_array, sub.factors_array)
    assert np.array_equal(again.loadings_array, sub.loadings_array)


def test_fit_pixels_too_few():
    s, _ = make_cube(rank=3, kind="eds", shape=(16, 16), n_channels=64, counts=200, pure=True, seed=1)
    import pytest

    with pytest.raises(ValueError, match="fit_pixels=4"):
        decompose(s, "nmf", n_components=3, fit_pixels=4)


def test_subset_fit_without_pure_pixels_starts_from_the_pca():
    """pure_pixels=False finds no pure-pixel groups: the subset fit starts from the PCA's NNDSVDa rows."""
    s, truth = make_cube(rank=3, kind="eds", shape=(48, 48), n_channels=256, counts=200, pure=True, seed=3)
    sub = decompose(s, "nmf", n_components=3, fit_pixels=1500, pure_pixels=False)
    assert "subset(1500 of 2304 pixels)" in sub.info["route"] and not sub.info["pure_pixel_rotation"]
    x = s.data.reshape(-1, 256).astype(float)
    np.testing.assert_allclose(sub.loadings_array.sum(), x.sum(), rtol=0.02)
    # measured 1.4 / 2.8 / 3.3 deg (with the pure-pixel rotation: 0.5 / 1.6 / 3.6); this call used to raise
    assert np.median(spectral_angles(sub.factors_array.T, truth.spectra)) < 4.0
