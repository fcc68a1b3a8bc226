"""MCR-ALS: closure, the stop where a clipped step raises the loss, the exact NNLS steps, restarts."""

from __future__ import annotations

import warnings

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


@pytest.mark.parametrize("seed", [0, 1])
def test_mcr_stops_where_a_clipped_step_raises_the_loss(seed):
    """Six broad CL bands with pure cores (a review's scene, 500 counts/pixel): clipped ALS from the pure-pixel start
    lowered the loss for 5-10 iterations, then raised it (1.0103 -> 1.0268 by iteration 200 on seed 0) while one
    spectrum walked 11.4 / 18.0 degrees from the truth (VCA: 3.2 / 2.9). Stopped at the first rise, the lowest-loss
    iterate is kept: 3.3 / 3.1 (the solver's own, unrotated: 15.1 / 21.3 -> 5.9 / 5.9)."""
    from groundtruth import cl_band_scene, spectral_angles

    s, truth = cl_band_scene(seed=seed)
    d = decompose(s, "mcr", n_components=6)
    assert d.info["stopped_by"] == "loss rose" and d.params["stop_on_rise"]
    assert spectral_angles(d.factors_array.T, truth.spectra).max() < 4.0
    own = decompose(s, "mcr", n_components=6, pure_pixels=False)
    assert spectral_angles(own.factors_array.T, truth.spectra).max() < 7.0
    hist = own.info["loss_history"]
    assert hist[-1] == hist.min()  # the iterate returned is the lowest-loss one read
    before = decompose(s, "mcr", n_components=6, stop_on_rise=False)
    assert spectral_angles(before.factors_array.T, truth.spectra).max() > 10.0


def test_a_rise_of_the_loss_that_the_fit_leaves_does_not_stop_it():
    """An EDS blob mixture of four phases (no pure pixel), 64 x 64 x 512 at 2000 counts/pixel: from the pure-pixel
    start the clipped steps' loss fell to 0.25571 at iteration 8, rose for five iterations and fell below it at 14,
    on to 0.25231. Stopped at the first rise (``rise_window=0``, the stop before the window) the spectra were 35-44
    degrees from the truth, the pure-channel rotation refused (75 % of the channels outside its simplex); the fit
    going on through the rise is rotated to pure channels at 1.4-4.8 degrees (NMF: 1.1-5.0)."""
    from groundtruth import mixed_scene, spectral_angles

    s, truth = mixed_scene(rank=4, kind="eds", layout="blobs", shape=(64, 64), n_channels=512, counts=2000, seed=0)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = decompose(s, "mcr", n_components=4)
    assert spectral_angles(d.factors_array.T, truth.spectra).max() < 6.0
    assert any("at a line of its own" in str(w.message) for w in said)  # the pure-channel rotation's warning
    assert d.params["rise_window"] == 10 and d.info["stopped_by"] == "loss" and d.info["n_iter"] > 100
    assert d.info["pure_channel_rotation"]
    hist = d.info["loss_history"]
    assert hist[8] > hist[7] and hist[13] < hist[7]  # the rise read and left
    old = decompose(s, "mcr", n_components=4, rise_window=0)
    assert old.info["stopped_by"] == "loss rose" and old.info["n_iter"] == 9 and not old.info["pure_channel_rotation"]
    assert spectral_angles(old.factors_array.T, truth.spectra).min() > 30.0
    assert old.info["loss"] == hist[7] and d.info["loss_history"][-1] < 0.99 * hist[7]


def test_a_rise_longer_than_the_window_stops_the_fit_at_the_lowest_loss():
    """A rise that lasts (the CL scene above, on a smaller map): the window reads ``rise_window`` iterations more
    and returns the same lowest-loss iterate, the same bits, as the stop at the first rise."""
    from groundtruth import cl_band_scene

    s, _ = cl_band_scene(seed=0, shape=(24, 32))
    first = decompose(s, "mcr", n_components=6, pure_pixels=False, rise_window=0)
    d = decompose(s, "mcr", n_components=6, pure_pixels=False)
    assert first.info["stopped_by"] == d.info["stopped_by"] == "loss rose"
    assert d.info["n_iter"] == first.info["n_iter"] + 10
    np.testing.assert_array_equal(d.factors_array, first.factors_array)
    np.testing.assert_array_equal(d.loadings_array, first.loadings_array)
    assert d.info["loss_history"][-1] == d.info["loss_history"].min() == first.info["loss"]
    with pytest.raises(ValueError, match=r"rise_window must be a whole number >= 0"):
        decompose(s, "mcr", n_components=2, rise_window=-1)


def test_nnls_steps_never_raise_the_loss():
    """``nonnegativity="nnls"``: both steps exact non-negative least squares, so the loss falls at every iteration
    (clipped steps raised it from iteration 10 on the same scene)."""
    from groundtruth import cl_band_scene

    s, _ = cl_band_scene(seed=0, shape=(24, 32))
    d = decompose(s, "mcr", n_components=6, pure_pixels=False, stop_on_rise=False, nonnegativity="nnls", max_iter=60)
    hist = d.info["loss_history"]
    assert np.all(np.diff(hist) <= 1e-12 * hist[0]), np.diff(hist).max()
    with pytest.raises(ValueError, match="nonnegativity must be 'nnls' or 'clip'"):
        decompose(s, "mcr", n_components=2, nonnegativity="exact")


def test_a_step_recorded_before_the_stop_on_rise_replays_without_it():
    from emscale.decomposition._method import option_before_recorded

    assert option_before_recorded({"method": "mcr"}) == {"stop_on_rise": False, "exact_refit": False,
                                                         "rise_window": 0}
    # recorded with the stop, before the exact refit: the clipped refit alone, as that run judged its rotation
    assert option_before_recorded({"method": "mcr", "stop_on_rise": True}) == {"exact_refit": False,
                                                                               "rise_window": 0}
    # recorded before the rise window: stopped at the first rise, as that run was
    assert option_before_recorded({"method": "mcr", "stop_on_rise": True, "exact_refit": True}) == {"rise_window": 0}
    assert option_before_recorded({"method": "mcr", "stop_on_rise": True, "exact_refit": True,
                                   "rise_window": 10}) == {}


def test_nnls_gram_equals_scipy_nnls_row_by_row():
    """The grouped active-set NNLS gives scipy's per-row answer, with rows at zero, on a boundary and inside."""
    from scipy.optimize import nnls

    from emscale.decomposition._linalg import nnls_gram

    rng = np.random.default_rng(0)
    for k, n, c in [(1, 20, 10), (3, 400, 40), (6, 500, 100), (10, 200, 50)]:
        b = np.abs(rng.normal(size=(k, c))) + 0.5 * rng.normal(size=(k, c))
        a = rng.normal(size=(n, c)) + rng.random((n, k)) @ b
        x = nnls_gram(b @ b.T, a @ b.T)
        ref = np.array([nnls(b.T, row)[0] for row in a])
        np.testing.assert_allclose(x, ref, atol=1e-10)
        assert (x >= 0).all() and (x == 0).any() and (x > 0).any()
    assert nnls_gram(np.eye(2), np.zeros((0, 2))).shape == (0, 2)


def test_a_component_that_dies_in_the_least_squares_is_restarted_where_the_fit_is_worst():
    """Four EELS phases over 85 / 10 / 4 / 1 % of the map, 5000 counts/pixel (a review's held-out scene): MCR-ALS lets
    one spectrum shrink to zero over ~55 iterations, with and without the pure-pixel rotation; it was returned all
    zero (3.9 / 90 / 6.2 / 19.0 degrees from the truth). Restarted once from the worst-fitted pixel's residual, the
    phase is kept: 0.5 / 1.5 / 2.3 / 5.2 with the rotation; NMF keeps all four too. (By default the fit stops at
    iteration 25, where its loss first rises, before the spectrum shrinks: 0.5 / 1.5 / 2.2 / 5.1, no restart; the
    restart is tested with the stop off.)"""
    from groundtruth import spectral_angles, unequal_phases

    s, truth = unequal_phases(seed=111)
    default = decompose(s, "mcr", n_components=4)
    assert "reseeded_components" not in default.info and default.info["stopped_by"] == "loss rose"
    assert max(spectral_angles(default.factors_array.T, truth.spectra)) < 5.5
    for pure_pixels in (True, False):
        d = decompose(s, "mcr", n_components=4, pure_pixels=pure_pixels, stop_on_rise=False)
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
    masked = decompose(s, "mcr", n_components=4, pure_pixels=False, navigation_mask=mask, stop_on_rise=False)
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


def test_a_component_that_dies_inside_the_rise_window_ends_the_fit_at_the_lowest_loss(monkeypatch):
    """A rise the window let go on killed a component (its spectrum clipped to zero): the fit restarted it from the
    worst-fitted pixel and dropped the lowest-loss iterate, where window 0 had stopped at the rise and returned that
    iterate (the code review)."""
    from emscale.decomposition import mcr

    losses = iter([10.0, 9.0, 8.0, 8.5, 8.4])

    def concentration_pass(dm, s, closure, scale, nonnegativity):
        loss = next(losses)
        ctx = np.ones((2, 5))
        if loss == 8.5:  # the first step of the rise clips component 1 to zero
            ctx[1] = -1.0
        return np.full((4, 2), loss), np.eye(2), ctx, loss

    monkeypatch.setattr(mcr, "_concentration_pass", concentration_pass)
    c, s, info = mcr.mcr_als(None, np.ones((2, 5)), max_iter=5, tol=1e-7, rise_window=10)
    assert info["stopped_by"] == "loss rose" and info["loss"] == 8.0 and c[0, 0] == 8.0
    assert not info.get("reseeded_components") and s[1].any()  # the lowest-loss iterate's spectra, none restarted
