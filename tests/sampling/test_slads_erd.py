"""The ERD map of a SLADS scan: a periodic refresh's re-prediction spread over a few steps (largest stale ERD
first), every ERD at all times the model's prediction of the stored features, all of them current again once the
spread is over, the same bits on rerun and on any number of BLAS threads."""

from __future__ import annotations

import numpy as np
import pytest

from emscale.sampling.patterns import random_pattern
from emscale.sampling.slads import select_batch
from emscale.sampling.slads_erd import PERIODIC_STEPS, ERDMap
from emscale.sampling.slads_features import PDEV, NeighbourState
from emscale.sampling.slads_model import disc_image, lattice_image, train_erd_model
from emscale.sampling.slads_regressors import PREDICT_ROWS, predict_mlp


@pytest.fixture(scope="module")
def model():
    train = [lattice_image((64, 64), spacing=5 + s, angle=0.4 * s, seed=s) for s in range(2)]
    train += [disc_image((64, 64), 6, 5, radius=(3, 10), noise_dose=300)]
    m = train_erd_model(train, fractions=(0.1, 0.3), n_pixels=600, seed=0, min_lattice_pixels=500)
    assert m.lattice is not None
    return m


def _steps(model, img, n_steps, batch=12, **kw):
    """A SLADS loop on ``img`` driven by hand: yields (state, ERD map, pixels stale before the step's update)."""
    flat = np.flatnonzero(random_pattern(img.shape, 0.08, seed=1))
    st = NeighbourState(img.shape, flat, img.ravel()[flat], k=model.k)
    em = ERDMap(model, st, **kw)
    for _ in range(n_steps):
        nxt = select_batch(em.erd, st.measured, np.sqrt(st.nn_d2[:, 0]), img.shape, batch)
        em.update(nxt, st.add(nxt, img.ravel()[nxt]))
        yield st, em


def _current_pdev(st, pixels):
    return np.abs(st.periodic[pixels] - st.recon[pixels]) * (1.0 / st.scale)


@pytest.mark.parametrize("spacing, angle, seed", [(6.0, 0.3, 2), (8.5, 1.1, 3)])
def test_spread_refresh_leaves_every_erd_the_prediction_of_current_features(model, spacing, angle, seed):
    img = lattice_image((88, 96), spacing=spacing, angle=angle, seed=seed)
    refreshes, since, was_stale = 0, None, False
    for st, em in _steps(model, img, 40, min_pixels=500):
        u = np.flatnonzero(~st.measured)
        # at every step: the ERD is the model's prediction of the stored features (stale ones included; to the
        # last bits only, as BLAS rounds the rows at the end of a product its own way)
        np.testing.assert_allclose(em.erd[u], model.predict(st.features[u]), rtol=1e-12, atol=0)
        assert np.all(em.erd[st.measured] == -np.inf)
        if em.stale.any() and not was_stale:  # a refresh step (the spread before it is always over)
            refreshes, since = refreshes + 1, 0
            stale = np.flatnonzero(em.stale)
            # really stale: their stored pdev is not the current estimate's (the test is not vacuous) ...
            assert np.abs(st.features[stale, PDEV] - _current_pdev(st, stale)).max() > 1e-3
            # ... the refresh step re-predicted only part of them, the largest stale ERDs first
            assert em.predicted.size < u.size
            done = np.setdiff1d(em.predicted, np.flatnonzero(em.stale))
            assert stale.size > 0 and done.size > 0
        elif since is not None:
            since += 1
        if since == em.spread - 1:  # the spread is over: nothing stale, every pdev current
            assert not em.stale.any()
            np.testing.assert_array_equal(st.features[u, PDEV], _current_pdev(st, u))
        was_stale = bool(em.stale.any())
    assert refreshes >= 2


def test_each_step_of_the_spread_re_predicts_the_largest_stale_erds_first(model):
    img = lattice_image((96, 96), spacing=7.0, angle=0.6, seed=4)
    flat = np.flatnonzero(random_pattern(img.shape, 0.08, seed=1))
    st = NeighbourState(img.shape, flat, img.ravel()[flat], k=model.k)
    em = ERDMap(model, st, min_pixels=400)
    checked = 0
    for _ in range(12):
        nxt = select_batch(em.erd, st.measured, np.sqrt(st.nn_d2[:, 0]), img.shape, 12)
        before, was = em.erd.copy(), em.stale.copy()
        changed = st.add(nxt, img.ravel()[nxt])
        em.update(nxt, changed)
        if not em.stale.any():
            continue
        if not was.any():  # the refresh step: every unmeasured pixel went stale
            was = ~st.measured
        was[changed] = False
        was[nxt] = False
        redone = np.intersect1d(em.predicted, np.flatnonzero(was))
        kept = np.flatnonzero(em.stale)
        assert redone.size and kept.size
        assert before[redone].min() >= before[kept].max()
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("kw", [{}, {"spread": 1, "min_pixels": 1}])
def test_small_scans_and_no_spread_re_predict_every_pixel_at_the_refresh(model, kw):
    img = lattice_image((88, 96), spacing=6.0, angle=0.3, seed=2)
    n_refresh = 0
    for st, em in _steps(model, img, 2 * PERIODIC_STEPS + 1, **kw):  # default min_pixels: more than the scan
        assert not em.stale.any()
        u = np.flatnonzero(~st.measured)
        if st.periodic is not None:
            n_refresh += em.predicted.size == u.size
            np.testing.assert_array_equal(st.features[u, PDEV], _current_pdev(st, u))
    assert n_refresh >= 1


def test_spread_run_is_the_same_on_rerun_and_on_any_number_of_blas_threads(model):
    from threadpoolctl import threadpool_limits

    img = lattice_image((88, 88), spacing=6.5, angle=0.9, seed=6)
    runs = []
    for threads in (1, 2, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append([(em.erd.copy(), st.measured.copy()) for st, em in _steps(model, img, 14, min_pixels=300)])
    for other in runs[1:]:
        for (e0, m0), (e1, m1) in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(m0, m1)
            np.testing.assert_array_equal(e0, e1)


def test_spread_is_checked():
    st = NeighbourState((8, 8), np.arange(0, 64, 5), np.ones(13))
    for bad in (0, PERIODIC_STEPS + 1):
        with pytest.raises(ValueError, match=f"spread must be in 1..{PERIODIC_STEPS}"):
            ERDMap(None, st, spread=bad)
    with pytest.raises(ValueError, match="min_pixels"):
        ERDMap(None, st, min_pixels=0)


@pytest.mark.parametrize("n", [1, 5, PREDICT_ROWS, PREDICT_ROWS + 1, 3 * PREDICT_ROWS + 17])
def test_perceptron_in_blocks_gives_the_bits_of_one_product(model, n):
    from threadpoolctl import threadpool_limits

    params = model.lattice["params"]
    z = np.random.default_rng(n).standard_normal((n, params["members"][0]["weights"][0].shape[0]))
    want = np.zeros(n)
    with threadpool_limits(limits=1, user_api="blas"):
        for net in params["members"]:  # the forward pass as one product per layer
            h = z
            for w, b in zip(net["weights"][:-1], net["biases"][:-1], strict=True):
                h = np.maximum(h @ w + b, 0.0)
            want += np.maximum(h @ net["weights"][-1][:, 0] + net["biases"][-1][0], 0.0) ** 2
    want *= params["target_scale"] ** 2 / len(params["members"])
    np.testing.assert_array_equal(predict_mlp(params, z), want)
    assert np.ptp(want) > 0 or n == 1
