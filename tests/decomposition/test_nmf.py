"""NMF (KL / Frobenius): recovery of the true spectra, loss against scikit-learn, routes, determinism."""

from __future__ import annotations

import numpy as np

import emscale as em
from emscale import InlineExecutor, ThreadExecutor
from emscale.decomposition import decompose
from groundtruth import make_cube, spectral_angles


def test_nmf_deterministic_threads(cube):
    s, _ = cube
    a = decompose(s, "nmf", n_components=3, executor=InlineExecutor(), max_iter=50)
    b = decompose(s, "nmf", n_components=3, executor=ThreadExecutor(n_workers=2), max_iter=50)
    assert np.array_equal(a.factors_array, b.factors_array)
    assert a.info["loss"] == b.info["loss"]


def test_nmf_kl_recovers_spectra():
    # EDS-like, 200 counts/pixel, pure pixels, low bremsstrahlung (identifiable: see groundtruth.make_cube)
    s, truth = make_cube(
        rank=3, kind="eds", shape=(32, 32), n_channels=256, counts=200, pure=True, seed=3, background=(0.03, 0.08)
    )
    d = decompose(s, "nmf", n_components=3)
    ang = spectral_angles(d.factors_array.T, truth.spectra)
    assert np.median(ang) <= 2.0, ang
    assert d.info["converged"] and d.info["n_iter"] > 1 and np.isfinite(d.info["loss"])
    assert np.all(d.factors_array >= 0) and np.all(d.loadings_array >= 0)
    np.testing.assert_allclose(d.factors_array.sum(0), 1.0)
    # loadings carry the counts
    np.testing.assert_allclose(d.loadings_array.sum(), s.data.sum(), rtol=0.02)
    mcr = decompose(s, "mcr", n_components=3)
    assert np.median(spectral_angles(mcr.factors_array.T, truth.spectra)) <= 2.0
    vca = decompose(s, "vca", n_components=3)
    assert np.median(spectral_angles(vca.factors_array.T, truth.spectra)) <= 2.0


def _kl(x, w, h):
    wh = w @ h
    m = x > 0
    return float(np.sum(x[m] * np.log(x[m] / wh[m])) - x.sum() + wh.sum())


def test_nmf_kl_loss_not_above_sklearn():
    from sklearn.decomposition import NMF

    s, _ = make_cube(
        rank=3, kind="eds", shape=(24, 24), n_channels=128, counts=200, pure=True, seed=5, background=(0.03, 0.08)
    )
    x = s.data.reshape(-1, 128).astype(float)
    ref = NMF(3, solver="mu", beta_loss="kullback-leibler", init="nndsvda", max_iter=1000, tol=1e-6, random_state=0)
    w = ref.fit_transform(x)
    sk_loss = _kl(x, w, ref.components_)
    # the solver against the solver: without the pure-pixel rotation, which trades a little likelihood (noise
    # fitting) for the physical member of the family of equally good factorisations (tests/decomposition/test_purity.py)
    d = decompose(s, "nmf", n_components=3, init="nndsvda", pure_pixels=False)
    ours = _kl(x, d.loadings_array, d.factors_array.T)
    assert d.info["route"].startswith("csr")
    np.testing.assert_allclose(d.info["loss"], ours, rtol=1e-6)  # reported loss = sklearn's definition
    assert ours <= sk_loss * (1 + 1e-7), (ours, sk_loss)


def test_nmf_kl_routes_agree(cube):
    from emscale.decomposition._matrix import DataMatrix
    from emscale.decomposition.nmf import init_nndsvda, nmf

    s, _ = cube
    dm = DataMatrix(s.data, 2)
    dm.statistics()
    dm.configure(poisson=False, centre=False)
    w0, h0 = init_nndsvda(dm, 3)
    runs = {
        "numba": nmf(dm, 3, max_iter=30, tol=0, init=(w0, h0), use_numba=True),
        "numpy": nmf(dm, 3, max_iter=30, tol=0, init=(w0, h0), use_numba=False),
        "passes": nmf(dm, 3, max_iter=30, tol=0, init=(w0, h0), in_memory=False),
    }
    assert runs["numpy"][2]["route"] == "csr-numpy" and runs["passes"][2]["route"] == "passes"
    for name in ("numpy", "passes"):
        np.testing.assert_allclose(runs[name][1], runs["numba"][1], rtol=1e-6, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(runs[name][0], runs["numba"][0], rtol=1e-6, atol=1e-6, err_msg=name)


def test_nmf_dense_route_and_float_data():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(10, 12, 3)) @ rng.gamma(2.0, size=(3, 40))  # dense, non-integer
    s = em.Signal(x)
    d = decompose(s, "nmf", n_components=3, max_iter=300)
    assert d.info["route"].startswith("dense")
    # The reported loss is accumulated in float32 (the dense route's precision) and is a near-cancelling sum
    # here (an almost exact fit), so it matches the float64 recomputation to float32 accuracy.
    np.testing.assert_allclose(d.info["loss"], _kl(x.reshape(-1, 40), d.loadings_array, d.factors_array.T), rtol=1e-5)
    assert d.info["loss"] < 1e-3 * x.sum()


def test_nmf_frobenius_and_auto_rank(cube):
    s, truth = cube
    d = decompose(s, "nmf", loss="frobenius", max_iter=200)
    assert d.n_components == truth.rank and d.params["loss"] == "frobenius"
    assert np.all(d.factors_array >= 0)
