"""MCR-ALS: closure."""

from __future__ import annotations

import numpy as np
import pytest

from emscale import Signal
from emscale.decomposition import decompose


def test_mcr_closure(cube):
    s, _ = cube
    d = decompose(s, "mcr", n_components=3, closure=True, max_iter=30)
    assert np.all(d.loadings_array >= 0)


def test_squared_residual_from_the_update_products_is_the_residual():
    """The squared residual of a concentration pass comes from C^T C and C^T X (no residual matrix); it equals
    |X - C S|^2 formed directly, on noisy counts and on noise-free data, where the expansion cancels and the pass
    forms the residual itself (the expansion gives 1e-6 there against 6e-21)."""
    from emscale.decomposition._matrix import DataMatrix
    from emscale.decomposition.mcr import _concentration_pass
    from emscale.engine import InlineExecutor

    rng = np.random.default_rng(5)
    s = rng.random((3, 60)) + 0.05
    c = rng.dirichlet(np.ones(3), size=(20, 30)) * 400
    for data in (rng.poisson(c @ s).astype(np.float64), c @ s):
        dm = DataMatrix(data, 2, executor=InlineExecutor())
        conc, _, _, res = _concentration_pass(dm, s, False, None)
        x = data.reshape(-1, 60)
        direct = float(np.sum((x - conc @ s) ** 2))
        assert res == pytest.approx(direct, rel=1e-9, abs=1e-30)


def test_a_component_that_dies_in_the_least_squares_is_restarted_where_the_fit_is_worst():
    """Four EELS phases over 85 / 10 / 4 / 1 % of the map, 5000 counts/pixel (a review's held-out scene): MCR-ALS lets
    one spectrum shrink to zero over ~55 iterations, with and without the pure-pixel rotation; it was returned all
    zero (3.9 / 90 / 6.2 / 19.0 degrees from the truth). Restarted once from the worst-fitted pixel's residual, the
    phase is kept: 0.5 / 1.5 / 2.3 / 5.2 with the rotation; NMF keeps all four too."""
    from groundtruth import spectral_angles, unequal_phases

    s, truth = unequal_phases(seed=111)
    for pure_pixels in (True, False):
        d = decompose(s, "mcr", n_components=4, pure_pixels=pure_pixels)
        assert "empty_components" not in d.info
        assert [r["component"] for r in d.info["reseeded_components"]] == [0]
        assert np.all(d.factors_array.sum(axis=0) > 0)
        if pure_pixels:
            found = spectral_angles(d.factors_array.T, truth.spectra)
            assert np.median(found) < 3.0 and max(found) < 8.0, found
    # the restart's pixel is one of the 1 % phase's, numbered over the whole map also where pixels are masked
    pixel = d.info["reseeded_components"][0]["pixel"]
    assert truth.abundances.reshape(-1, 4)[pixel, 3] > 0.9
    mask = np.zeros(s.data.shape[:2], dtype=bool)
    mask[:2] = True
    masked = decompose(s, "mcr", n_components=4, pure_pixels=False, navigation_mask=mask)
    assert masked.info["reseeded_components"][0]["pixel"] == pixel
    n = decompose(s, "nmf", n_components=4)
    assert "empty_components" not in n.info
    assert np.median(spectral_angles(n.factors_array.T, truth.spectra)) < 3.0


def test_a_component_restarted_that_dies_again_is_returned_empty_and_said():
    """A third component of noise-free rank-2 data has nothing to hold: restarted once from the worst-fitted
    pixel (whose residual is rounding), it dies again and stays zero; decompose then warns that it holds nothing."""
    from emscale.decomposition._matrix import DataMatrix
    from emscale.decomposition._method import method_class
    from emscale.decomposition.api import _warn_empty_components
    from emscale.decomposition.mcr import mcr_als
    from emscale.engine import InlineExecutor

    rng = np.random.default_rng(5)
    spectra = rng.random((2, 60)) + 0.05
    data = rng.dirichlet(np.ones(2), size=(20, 30)) * 400 @ spectra
    start = np.vstack([spectra * rng.uniform(0.8, 1.2, spectra.shape), np.zeros(60)])
    c, s, info = mcr_als(DataMatrix(data, 2, executor=InlineExecutor()), start, max_iter=50)
    assert [r["component"] for r in info["reseeded_components"]] == [2]
    assert not s[2].any() and np.all(s[:2].sum(axis=1) > 0)
    with pytest.warns(UserWarning, match=r"component\(s\) 2 of 3 hold nothing .* try NMF"):
        _warn_empty_components(Signal(data), method_class("mcr"), s.T, c, info)
    assert info["empty_components"] == [2]
