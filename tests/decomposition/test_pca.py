"""Poisson PCA (Gram / randomized) against exact SVD: scree, data units, centring, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from emscale import InlineExecutor, ThreadExecutor
from emscale.decomposition import decompose


def weighted(s):
    x = s.data.reshape(-1, s.data.shape[-1]).astype(float)
    ag, bh = x.sum(1), x.sum(0)
    ag[ag == 0] = 1
    bh[bh == 0] = 1
    return x / np.sqrt(ag)[:, None] / np.sqrt(bh)[None, :], np.sqrt(ag), np.sqrt(bh)


def test_gram_matches_exact_svd(cube):
    s, _ = cube
    d = decompose(s, "pca", solver="gram")
    xw, _, _ = weighted(s)
    sv = np.linalg.svd(xw, compute_uv=False) ** 2
    np.testing.assert_allclose(d.eigenvalues, sv, rtol=1e-5, atol=1e-12 * sv[0])
    np.testing.assert_allclose(d.explained_variance, sv / xw.shape[0], rtol=1e-5, atol=1e-12 * sv[0])
    np.testing.assert_allclose(d.explained_variance_ratio.sum(), 1.0, rtol=1e-10)


def test_randomized_matches_exact_top_k(cube):
    s, _ = cube
    d = decompose(s, "pca", n_components=8, solver="randomized", seed=3)
    xw, _, _ = weighted(s)
    sv = np.linalg.svd(xw, compute_uv=False) ** 2
    # the components above the noise are exact to 1e-3; the flat noise tail is only approximated
    np.testing.assert_allclose(d.eigenvalues[:3], sv[:3], rtol=1e-3)
    np.testing.assert_allclose(d.eigenvalues[3:8], sv[3:8], rtol=0.15)
    np.testing.assert_allclose(d.trace, sv.sum(), rtol=1e-10)


def test_factors_loadings_in_data_units(cube):
    s, _ = cube
    m = min(s.data.shape[0] * s.data.shape[1], s.data.shape[-1])
    d = decompose(s, "pca", n_components=m)
    model = d.loadings_array @ d.factors_array.T
    np.testing.assert_allclose(model, s.data.reshape(model.shape), atol=1e-8 * s.data.max())
    rec = d.reconstruct()
    np.testing.assert_allclose(rec.data, s.data, atol=1e-8 * s.data.max())
    assert d.factors.data.shape == (m, 128) and d.factors.nav_axes[0].name == "component"
    assert d.factors.sig_axes[0].units == "keV"
    assert d.loadings.data.shape == (m, 24, 20) and [a.name for a in d.loadings.sig_axes] == ["x", "y"]
    assert d.history[-1]["op"] == "decompose" and d.factors.history[-1]["op"] == "factors"
    # sign convention: largest |value| of each factor is positive
    f = d.factors_array
    assert np.all(f[np.argmax(np.abs(f), axis=0), np.arange(f.shape[1])] > 0)


def test_centred_reconstruction(cube):
    s, _ = cube
    d = decompose(s, "pca", n_components=128, centre=True)
    np.testing.assert_allclose(d.reconstruct().data, s.data, atol=1e-7 * s.data.max())
    xw, _, _ = weighted(s)
    sv = np.linalg.svd(xw - xw.mean(0), compute_uv=False) ** 2
    np.testing.assert_allclose(d.eigenvalues[:10], sv[:10], rtol=1e-6)


@pytest.mark.parametrize("solver", ["gram", "randomized"])
def test_deterministic_and_executor_independent(cube, solver):
    s, _ = cube
    kw = dict(n_components=5, solver=solver, seed=7)
    a = decompose(s, "pca", executor=InlineExecutor(), **kw)
    b = decompose(s, "pca", executor=InlineExecutor(), **kw)
    c = decompose(s, "pca", executor=ThreadExecutor(n_workers=2), **kw)
    for other in (b, c):
        assert np.array_equal(a.eigenvalues, other.eigenvalues)
        assert np.array_equal(a.factors_array, other.factors_array)
        assert np.array_equal(a.loadings_array, other.loadings_array)
