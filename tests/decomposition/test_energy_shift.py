"""Spectra that shift along their axis across the map (an energy drift) read as extra components: said."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.decomposition.energy_shift import SHIFT_SHARE, chance_tail, shift_share
from groundtruth import drifted_cube, make_cube


def _decompose(s, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = em.decompose(s, "pca", **kw)
    return r, [str(w.message) for w in caught if "derivative of the mean spectrum" in str(w.message)]


@pytest.mark.parametrize(("kind", "rank", "channels"), [("eds", 2, 2.0), ("eds", 3, 5.0), ("eels", 3, 5.0)])
def test_a_drift_that_raises_the_rank_is_said(kind, rank, channels):
    s, truth = make_cube(rank, kind, shape=(48, 48), n_channels=512, counts=2000.0, seed=7 * rank)
    drifted = drifted_cube(s, truth, channels, seed=1)
    r, said = _decompose(drifted, n_components="auto")
    assert r.info["rank_estimate"] > rank  # what the hint explains
    assert r.info["energy_shift_share"] >= SHIFT_SHARE and len(said) == 1
    assert "'Energy" in said[0] and f"automatic rank ({r.info['rank_estimate']})" in said[0]
    assert r.info["energy_shift"] in said[0]
    # the same phases without the drift: the right rank and no word of a shift
    still, none = _decompose(drifted_cube(s, truth, 0.0, seed=1), n_components="auto")
    assert still.info["rank_estimate"] == rank and still.info["energy_shift_share"] < 0.3 and not none
    assert "energy_shift" not in still.info


def test_a_given_k_and_centred_data_are_judged_too():
    s, truth = make_cube(2, "eds", shape=(48, 48), n_channels=512, counts=2000.0, seed=14)
    drifted = drifted_cube(s, truth, 5.0, seed=2)
    r, said = _decompose(drifted, n_components=4)
    assert said and "n_components=4 may spend components on them" in said[0] and "components 2-4" in said[0]
    # a shift or close lines: either, not the shift said as fact (CL maps of overlapping bands, nothing shifted)
    assert ": either the spectra shift along that axis" in said[0] and ", or phases whose lines or bands" in said[0]
    c, said = _decompose(drifted, n_components=3, centre=True)
    assert said and "components 1-3" in said[0]


def test_the_share_is_the_projection_of_the_weighted_derivative():
    rng = np.random.default_rng(0)
    p = 64
    sums = 100.0 + 50.0 * np.exp(-0.5 * ((np.arange(p) - 30) / 3.0) ** 2)
    scale = 1.0 / np.sqrt(sums)
    d = np.gradient(sums) * scale
    d /= np.linalg.norm(d)
    other = rng.standard_normal(p)
    basis = np.linalg.qr(np.column_stack([scale * sums, d, other]))[0]
    assert shift_share(basis, sums, scale, None, centred=False) == pytest.approx(1.0)
    assert shift_share(basis[:, [0, 2]], sums, scale, None, centred=False) < 0.3
    assert shift_share(basis[:, :1], sums, scale, None, centred=False) is None  # nothing after the first
    # a left-out channel: the derivative is not taken across the gap (the two kept neighbours count for nothing)
    keep = np.ones(p + 1, dtype=bool)
    keep[30] = False
    ends = shift_share(basis, sums, scale, keep, centred=False)
    assert 0.9 < ends < 1.0


def test_a_change_of_thickness_is_no_shift():
    """Centred, the first component of a power-law map whose thickness alone varies is that variation, and the
    derivative of a power law is nearly the spectrum itself: it read as a shift (0.71-0.95, review)."""
    rng = np.random.default_rng(0)
    e = 400 + 0.5 * np.arange(512)
    thick = 1 + 0.3 * np.linspace(-1, 1, 40)[None, :] * np.ones((40, 1))
    spec = (e / e[0]) ** -3.0
    data = rng.poisson(200000 / 512 / spec.mean() * thick[..., None] * spec).astype(np.uint32)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy loss", "scale": 0.5, "offset": 400.0, "units": "eV"}]
    s = em.Signal(data, axes=axes, signal_type="EELS")
    for kw in ({"n_components": 1, "centre": True}, {"n_components": 2}):
        r, said = _decompose(s, **kw)
        assert r.info["energy_shift_share"] < 0.2 and not said


@pytest.mark.parametrize("channels", [8, 16, 32])
def test_pca_keeping_every_channel_tests_the_estimated_rank(channels):
    """PCA with n_components=None keeps min(32, channels) components: on 8-32 channels all of them, which span any
    derivative, so a map without a shift read 1.00 and was told to align (review rev54, F5)."""
    s, _ = make_cube(3, "eds", shape=(24, 24), n_channels=channels, counts=500.0, seed=3)
    r, said = _decompose(s)
    assert r.n_components == channels and r.info["rank_estimate"] == 3
    assert "energy_shift" not in r.info and not said  # was 1.0 with the warning
    if channels == 8:  # the rank's 2 components after the first reach 0.7 by chance 19 % of the time: no test
        assert r.info["energy_shift_share"] is None and "reaches the 0.7 that would warn 19% of the time" in \
            r.info["energy_shift_note"]
    else:
        assert r.info["energy_shift_share"] < SHIFT_SHARE


def test_the_chance_of_a_false_shift_is_read_from_its_distribution():
    # a random direction's squared share in t of f free dimensions is Beta(t / 2, (f - t) / 2): on 8 channels
    # two tested components reach 0.7 by chance 19 % of the time (the expected share, 0.53, let them be tested)
    rng = np.random.default_rng(0)
    for t, f in ((2, 7), (2, 15), (4, 31)):
        v = rng.standard_normal((20000, f))
        share = np.linalg.norm(v[:, :t], axis=1) / np.linalg.norm(v, axis=1)
        assert chance_tail(t, f + 1) == pytest.approx(np.mean(share >= SHIFT_SHARE), abs=0.01)
    assert chance_tail(7, 8) == 1.0 and chance_tail(2, 64) < 1e-6


def test_components_spanning_the_channels_are_not_judged():
    s, _ = make_cube(3, "eds", shape=(24, 24), n_channels=8, counts=500.0, seed=3)
    r, said = _decompose(s, n_components=7)
    assert r.info["energy_shift_share"] is None and not said  # was 0.988 with the warning
    assert "components 2-7 span 6 of the 7 directions" in r.info["energy_shift_note"]
    assert "lies 0.93 in them by chance" in r.info["energy_shift_note"]  # sqrt(6 / 7)


def test_a_drift_is_still_said_when_pca_keeps_every_component():
    s, truth = make_cube(3, "eds", shape=(48, 48), n_channels=512, counts=2000.0, seed=21)
    r, said = _decompose(drifted_cube(s, truth, 5.0, seed=1))
    assert r.n_components == 32 and r.info["rank_estimate"] > 3
    assert r.info["energy_shift_share"] >= SHIFT_SHARE and len(said) == 1
    assert f"automatic rank ({r.info['rank_estimate']})" in said[0]


def test_unweighted_counts_are_not_tested_for_a_shift():
    # the tutorial's undrifted sample decomposed with poisson=False warned that its spectra shift (components 2-7 of
    # the elbow's rank 7 held 0.96 of the mean's derivative): the noise of unweighted counts sits on the strongest
    # lines, where that derivative is
    import warnings

    import emscale as em
    from emscale.workflows import samples

    s, _ = samples.eds_si(shape=(32, 40), n_channels=256, scale=0.04, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = em.decompose(s, method="pca", poisson=False)
    assert d.info["energy_shift_share"] is None
    assert d.info["energy_shift_note"].startswith("no shift test: counts decomposed unweighted (poisson=False)")
    assert em.decompose(s, method="pca").info["energy_shift_share"] < 0.1  # weighted: tested, no shift
