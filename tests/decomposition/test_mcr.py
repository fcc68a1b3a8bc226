"""MCR-ALS: closure."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_a_component_that_dies_in_the_least_squares_is_said():
    """Four EELS phases over 85 / 10 / 4 / 1 % of the map, 5000 counts/pixel (a review's held-out scene): MCR-ALS lets
    one spectrum shrink to zero over 150 iterations, with and without the pure-pixel rotation; it was returned all
    zero without a word. Now warned and listed; NMF keeps all four."""
    from groundtruth import spectral_angles, unequal_phases

    s, truth = unequal_phases(seed=111)
    for pure_pixels in (True, False):
        with pytest.warns(UserWarning, match=r"component\(s\) \d of 4 hold nothing .* try NMF"):
            d = decompose(s, "mcr", n_components=4, pure_pixels=pure_pixels)
        assert len(d.info["empty_components"]) == 1
        assert d.factors_array[:, d.info["empty_components"][0]].sum() == 0
    n = decompose(s, "nmf", n_components=4)
    assert "empty_components" not in n.info
    assert np.median(spectral_angles(n.factors_array.T, truth.spectra)) < 3.0
