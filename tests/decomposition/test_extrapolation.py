"""The KL-NMF updates' jumps along their own movement (:mod:`emscale.decomposition.extrapolation`, issue 17: small
maps took 350-920 multiplicative updates): fewer updates to the same stop, never a higher loss, the plain updates
on request and for steps recorded before the option."""

import numpy as np
import pytest

from emscale.core import registry
from emscale.decomposition import decompose
from emscale.decomposition.extrapolation import BETA_MIN, CAP, Extrapolation
from groundtruth import mixed_scene, spectral_angles


def test_a_jump_follows_a_geometric_crawl_and_keeps_zeros():
    """Entries that a block of updates multiplied by a steady factor are carried on by that factor ** beta; an
    exact zero stays zero and no entry moves by more than CAP."""
    w0 = np.array([[1.0, 0.0], [2.0, 4.0]])
    w = w0 * np.array([[1.1, 1.0], [0.9, 1e3]])
    w[0, 1] = 0.0
    h0 = np.ones((2, 3))
    h = h0 * 1.2
    jumps = Extrapolation()
    jumps.begin(w0, h0)
    new = jumps.jump(w, h, loss=1.0, loss_of=lambda a, b: 0.5)
    assert new == 0.5 and jumps.accepted == 1
    np.testing.assert_allclose(w, [[1.1**2, 0.0], [2.0 * 0.9**2, 4e3 * CAP]])
    np.testing.assert_allclose(h, 1.2**2 * np.ones((2, 3)))


def test_a_jump_that_raises_the_loss_is_refused_and_three_stop_them():
    w, h = np.full((3, 2), 2.0), np.full((2, 4), 3.0)
    jumps = Extrapolation()
    for n in range(1, 5):
        jumps.begin(w / 2, h / 3)
        worse = float("nan") if n == 1 else 2.0
        assert jumps.jump(w, h, loss=1.0, loss_of=lambda a, b, worse=worse: worse) is None
        np.testing.assert_array_equal(w, 2.0)
        np.testing.assert_array_equal(h, 3.0)
    assert jumps.refused == 3 and jumps.beta < BETA_MIN  # the fourth was not tried
    off = Extrapolation(on=False)
    off.begin(w / 2, h / 3)
    assert off.jump(w, h, 1.0, lambda a, b: 0.0) is None and off.info() == {"on": False, "accepted": 0, "refused": 0}


@pytest.mark.parametrize(("shape", "kind", "counts", "seed"), [((1, 64), "eels", 2000, 4),
                                                               ((64, 64), "eds", 200, 1)])
def test_fewer_updates_to_the_same_fit(shape, kind, counts, seed):
    """A 1 x 64 EELS line scan (790 plain updates) and an EDS mixture without pure pixels (390): at most 60 % of the
    plain updates (measured 350 and 230), the same loss (to the stop rule's accuracy), the spectra as near the
    truth."""
    s, truth = mixed_scene(rank=3, kind=kind, layout="blobs", shape=shape, n_channels=1024, counts=counts, seed=seed)
    fast = decompose(s, "nmf", n_components=3)
    plain = decompose(s, "nmf", n_components=3, extrapolate=False)
    assert plain.info["extrapolation"] == {"on": False, "accepted": 0, "refused": 0}
    assert fast.info["extrapolation"]["on"] and fast.info["extrapolation"]["accepted"] > 0
    assert fast.params["extrapolate"] is True and plain.params["extrapolate"] is False
    assert fast.info["n_iter"] <= 0.6 * plain.info["n_iter"], (fast.info["n_iter"], plain.info["n_iter"])
    assert fast.info["loss"] <= plain.info["loss"] * (1 + 1e-5)  # the stop rule's accuracy: 1e-6 a block
    near, far = (float(np.median(spectral_angles(d.factors_array.T, truth.spectra))) for d in (fast, plain))
    assert near <= far + 0.1, (near, far)


def test_a_step_recorded_before_the_option_replays_with_plain_updates():
    assert registry.get("decompose").replay_params({"method": "nmf"})["extrapolate"] is False
    assert registry.get("decompose").replay_params({"method": "nmf", "extrapolate": True})["extrapolate"] is True

