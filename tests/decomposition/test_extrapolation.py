"""The KL-NMF updates' jumps along their own movement (:mod:`emscale.decomposition.extrapolation`, issue 17: small
maps took 350-920 multiplicative updates): fewer updates to the same stop, never a higher loss, the plain updates
on request and for steps recorded before the option."""

import numpy as np

from emscale.core import registry
from emscale.decomposition import decompose
from emscale.decomposition.extrapolation import BETA_MIN, CAP, MIN_PROGRESS, Extrapolation
from groundtruth import particles_on_substrate, spectral_angles


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
    assert off.jump(w, h, 1.0, lambda a, b: 0.0) is None
    assert off.info() == {"on": False, "accepted": 0, "refused": 0, "stopped_drifting": False}
    slow = Extrapolation()
    slow.begin(w / 2, h / 3)
    assert slow.jump(w, h, loss=1.0, loss_of=lambda a, b: 0.5, progress=0.5 * MIN_PROGRESS) is None
    assert slow.info() == {"on": True, "accepted": 0, "refused": 0, "stopped_drifting": True}
    assert not slow.live and slow.jump(w, h, loss=1.0, loss_of=lambda a, b: 0.5) is None  # for good


def test_fewer_updates_to_the_same_fit_on_the_real_velox_eels_maps(velox_emd):
    """The Velox EELS maps (16 x 20 x 2048, dense counts, from the pure-pixel endmembers): 900-920 plain updates
    (a geometric crawl); with the jumps 240, the same rotated spectra (0.01-0.02 degrees apart), a loss no higher
    (to the stop rule's accuracy, 1e-6 a block)."""
    import emscale as em

    maps = [s for s in em.load(velox_emd) if s.title.startswith("EELS (")]
    assert len(maps) == 3
    for s in maps:
        fast = decompose(s, "nmf", n_components=3)
        plain = decompose(s, "nmf", n_components=3, extrapolate=False)
        assert plain.info["extrapolation"] == {"on": False, "accepted": 0, "refused": 0, "stopped_drifting": False}
        assert fast.info["extrapolation"]["accepted"] >= 5, fast.info["extrapolation"]
        assert fast.params["extrapolate"] is True and plain.params["extrapolate"] is False
        assert fast.info["pure_pixel_rotation"] and plain.info["pure_pixel_rotation"]
        assert fast.info["n_iter"] <= 0.4 * plain.info["n_iter"], (fast.info["n_iter"], plain.info["n_iter"])
        assert fast.info["loss"] <= plain.info["loss"] * (1 + 1e-5)
        assert np.max(spectral_angles(fast.factors_array.T, plain.factors_array.T)) < 0.1


def test_no_jump_follows_the_drift_where_the_solvers_own_end_is_the_answer():
    """Ag particles on Al, the solver's own factorisation asked for (``pure_pixels=False``; the default took it too
    until the spectra's end chose its channel groups from the continuum level): no rotation is taken, so where the
    updates stop on the family of equally good factorisations is the result. Its blocks lower the loss by 1e-5 down
    to 1e-6: drift, not fit. Jumps there (before :data:`MIN_PROGRESS`) moved the Ag spectrum from 3.32 to 3.59
    degrees; now none is tried after the first drifting block and the result is the plain updates'."""
    s, spectra = particles_on_substrate()
    fast = decompose(s, "nmf", n_components=2, pure_pixels=False)
    plain = decompose(s, "nmf", n_components=2, extrapolate=False, pure_pixels=False)
    assert not fast.info["pure_pixel_rotation"] and not fast.info.get("pure_channel_rotation")
    assert fast.info["extrapolation"]["accepted"] == 0 and fast.info["extrapolation"]["stopped_drifting"]
    assert fast.info["n_iter"] == plain.info["n_iter"]
    np.testing.assert_allclose(spectral_angles(fast.factors_array.T, spectra),
                               spectral_angles(plain.factors_array.T, spectra), atol=0.01)


def test_a_step_recorded_before_the_option_replays_with_plain_updates():
    assert registry.get("decompose").replay_params({"method": "nmf"})["extrapolate"] is False
    assert registry.get("decompose").replay_params({"method": "nmf", "extrapolate": True})["extrapolate"] is True

