"""SLADS neighbour state: the incremental update equals a full recomputation; reconstruction and ERD target."""

from __future__ import annotations

import numpy as np
import pytest

from emscale.sampling.patterns import random_pattern
from emscale.sampling.slads_features import FEATURES, NeighbourState, nn_reconstruct
from emscale.sampling.slads_model import erd_target


@pytest.mark.parametrize("shape, k, batch, seed", [((40, 56), 6, 37, 0), ((33, 29), 4, 5, 1), ((64, 64), 8, 200, 2)])
def test_incremental_update_equals_full_recomputation(shape, k, batch, seed):
    rng = np.random.default_rng(seed)
    img = rng.random(shape)
    n = img.size
    first = rng.choice(n, max(k, n // 50), replace=False)
    st = NeighbourState(shape, first, img.ravel()[first], k=k)
    for _ in range(12):
        new = rng.choice(np.flatnonzero(~st.measured), batch, replace=False)
        st.add(new, img.ravel()[new])
    full = NeighbourState(shape, np.flatnonzero(st.measured), img.ravel()[st.measured], k=k, scale=st.scale,
                          offset=st.offset)
    np.testing.assert_array_equal(st.nn_d2, full.nn_d2)
    np.testing.assert_array_equal(st.nn_i, full.nn_i)
    np.testing.assert_array_equal(st.recon, full.recon)
    np.testing.assert_array_equal(st.features, full.features)


def test_neighbour_lists_are_the_true_nearest_measurements():
    rng = np.random.default_rng(4)
    shape = (20, 24)
    mask = random_pattern(shape, 0.1, seed=9)
    st = NeighbourState(shape, np.flatnonzero(mask), rng.random(int(mask.sum())), k=5)
    my, mx = np.nonzero(mask)
    for p in rng.choice(np.flatnonzero(~mask.ravel()), 30, replace=False):
        y, x = divmod(int(p), shape[1])
        d2 = np.sort((my - y) ** 2 + (mx - x) ** 2)[:5]
        np.testing.assert_array_equal(st.nn_d2[p], d2)


def test_reconstruction_is_inverse_square_distance_weighted():
    img = np.zeros((5, 5))
    mask = np.zeros((5, 5), dtype=bool)
    # measurements at distance 1 (value 10) and 2 (value 50) from the centre, and far corners
    for (y, x), v in {(2, 3): 10.0, (2, 0): 50.0, (0, 0): 7.0, (4, 4): 9.0}.items():
        mask[y, x] = True
        img[y, x] = v
    rec = nn_reconstruct(mask, img, k=2)
    w1, w2 = 1.0, 1.0 / 4.0
    assert rec[2, 2] == pytest.approx((w1 * 10 + w2 * 50) / (w1 + w2))
    np.testing.assert_array_equal(rec[mask], img[mask])
    np.testing.assert_allclose(nn_reconstruct(random_pattern((9, 11), 0.3, seed=1), np.full((9, 11), 3.25)), 3.25,
                               rtol=1e-14)


def test_features_name_the_local_structure():
    shape = (30, 30)
    img = np.zeros(shape)
    img[:, 15:] = 1.0  # a vertical edge
    mask = random_pattern(shape, 0.15, seed=3)
    st = NeighbourState(shape, np.flatnonzero(mask), img[mask], k=6)
    f = st.features.reshape(shape + (len(FEATURES),))
    um = ~mask
    edge = um.copy()
    edge[:, :13] = False
    edge[:, 18:] = False
    flat = um.copy()
    flat[:, 6:24] = False
    assert f[edge][:, FEATURES.index("std")].mean() > 5 * f[flat][:, FEATURES.index("std")].mean() + 0.05
    assert np.all(f[flat][:, FEATURES.index("range")] == 0)


def test_erd_target_is_large_where_the_reconstruction_is_wrong():
    shape = (40, 40)
    img = np.zeros(shape)
    img[18:22, 18:22] = 1.0  # a small bright square the sparse sampling misses
    mask = random_pattern(shape, 0.05, seed=2)
    mask[18:22, 18:22] = False
    st = NeighbourState(shape, np.flatnonzero(mask), img[mask], k=6)
    rd = erd_target(img, st, c=4.0).reshape(shape)
    assert np.all(rd[mask] == 0)
    assert rd[19:21, 19:21].min() > 0.5
    assert rd[:8, :8][~mask[:8, :8]].max() == 0.0


@pytest.mark.skipif(not __import__("emscale.sampling.slads_features", fromlist=["HAVE_NUMBA"]).HAVE_NUMBA,
                    reason="numba not installed")
@pytest.mark.parametrize("k", [1, 4, 6])
def test_compiled_kernels_give_the_numpy_routes_bits(monkeypatch, k):
    """Large scans merge neighbour lists and compute features with numba kernels: the same lists, reconstruction
    and features to the last bit as numpy's, over a run with repeated measurements and periodic refreshes."""
    from emscale.sampling import slads_features
    from emscale.sampling.slads_model import lattice_image

    img = lattice_image((96, 112), spacing=6.0, angle=0.3, seed=2)

    def run(min_pixels):
        monkeypatch.setattr(slads_features, "NUMBA_MIN_PIXELS", min_pixels)
        flat = np.flatnonzero(random_pattern(img.shape, 0.1, seed=1))
        st = NeighbourState(img.shape, flat, img.ravel()[flat], k=k)
        rng = np.random.default_rng(0)
        changed = []
        for step in range(25):
            nxt = rng.choice(img.size, 30, replace=False)  # some already measured: replaced values
            changed.append(st.add(nxt, img.ravel()[nxt] * (1.0 + 0.01 * step)))
            if step % 6 == 0:
                st.refresh_periodic()
        return st, changed

    (a, ca), (b, cb) = run(1 << 40), run(1)
    assert a.periodic is not None  # the pdev branch of the kernel ran
    for x, y in zip(ca, cb, strict=True):
        np.testing.assert_array_equal(x, y)
    for name in ("nn_d2", "nn_i", "recon", "features"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
