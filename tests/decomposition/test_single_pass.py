"""Single-pass PCA (sketches taken in one read of the data): exact on low-rank data, an honest error estimate
on noisy data, one read only, and the same bits on every executor and storage."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.engine import InlineExecutor, ThreadExecutor, passes


def _low_rank(rng, shape=(30, 40, 96), rank=3, noise=0.0):
    spectra = rng.gamma(2.0, 1.0, (rank, shape[2])) + 0.1
    maps = rng.dirichlet(np.ones(rank), size=shape[:2])
    x = 1000.0 * maps @ spectra
    if noise:
        x = x + noise * rng.standard_normal(x.shape)
    return em.Signal(x.astype(np.float64))


def test_single_pass_is_exact_on_low_rank_data(rng):
    s = _low_rank(rng)
    exact = em.decompose(s, n_components=3, solver="gram", poisson=False)
    sp = em.decompose(s, n_components=3, solver="single_pass", poisson=False)
    np.testing.assert_allclose(sp.eigenvalues[:3], exact.eigenvalues[:3], rtol=1e-8)
    np.testing.assert_allclose(np.abs(sp.factors_array), np.abs(exact.factors_array), atol=1e-8)
    assert sp.info["relative_error_estimate"] < 1e-6
    model = sp.reconstruct().data
    np.testing.assert_allclose(model, s.data, rtol=1e-6, atol=1e-6)


def test_error_estimate_tracks_the_true_error(rng):
    s = _low_rank(rng, noise=30.0)
    sp = em.decompose(s, n_components=3, solver="single_pass", poisson=False)
    x = s.data.reshape(-1, s.data.shape[-1])
    true = np.linalg.norm(x - sp.reconstruct().data.reshape(x.shape)) / np.linalg.norm(x)
    est = sp.info["relative_error_estimate"]
    assert 0.5 * true < est < 2.0 * true


def test_single_pass_reads_the_data_once(rng, monkeypatch):
    s = _low_rank(rng, noise=1.0)
    monkeypatch.setattr(passes.log, "reports", [])
    em.decompose(s, n_components=3, solver="single_pass", poisson=False)
    names = [r.name for r in passes.log.reports]
    assert names == ["decomposition-single-pass"]


def test_single_pass_poisson_is_deterministic_across_executors_and_storage(rng, tmp_path):
    counts = rng.poisson(5.0, (24, 20, 64)).astype(np.uint16)
    s = em.Signal(counts)
    a = em.decompose(s, n_components=4, solver="single_pass", executor=InlineExecutor())
    s.save(tmp_path / "c.zarr", chunks=(5, 20, 64))
    lazy = em.load(tmp_path / "c.zarr", lazy=True)
    b = em.decompose(lazy, n_components=4, solver="single_pass", executor=ThreadExecutor(2))
    np.testing.assert_allclose(a.factors_array, b.factors_array, rtol=1e-9, atol=1e-12)
    c = em.decompose(s, n_components=4, solver="single_pass", executor=ThreadExecutor(2))
    assert np.array_equal(a.factors_array, c.factors_array)


def test_single_pass_only_for_pca():
    s = em.Signal(np.ones((4, 5, 6)))
    with pytest.raises(ValueError, match="single_pass"):
        em.decompose(s, method="nmf", n_components=2, solver="single_pass")


def test_a_noise_dominated_sketch_is_said():
    # on sparse counts the sketch's directions were 13-88 degrees from the exact ones, said only by
    # info["relative_error_estimate"] (1.01)
    from groundtruth import make_cube

    s, _ = make_cube(3, "eds", shape=(128, 128), n_channels=512, counts=20, seed=2)
    with pytest.warns(UserWarning, match=r"estimated relative error is 1\.0\d*: the data are mostly noise"):
        d = em.decompose(s, "pca", n_components=5, solver="single_pass")
    assert d.info["relative_error_estimate"] > 0.5 and "solver='randomized'" in d.info["single_pass_warning"]
    s, _ = make_cube(3, "eds", shape=(96, 96), n_channels=512, counts=2000, seed=2)
    assert "single_pass_warning" not in em.decompose(s, "pca", n_components=5, solver="single_pass").info  # 0.40
