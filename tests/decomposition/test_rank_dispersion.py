"""The automatic rank of integer data that are not counts at unit gain (a detector's gain, sub-Poisson readout).

The parallel analysis simulates noise with the Poisson variance of the values; detectors that record g units
per electron have g times that. Measured before the dispersion check: Velox EELS (g ~ 0.17) rank 1 where a second
component stands 3.5x above the noise; a gain of 6 counted noise as components."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import decompose
from groundtruth import make_cube


def _with_dispersion(truth, g: float, seed: int) -> np.ndarray:
    """Integer data with the truth's expected values and noise ``g`` times their Poisson variance."""
    rng = np.random.default_rng(seed)
    lam = truth.expected
    if g > 1:  # g units per detected electron
        return (g * rng.poisson(lam / g)).astype(np.uint32)
    return np.clip(np.round(lam + np.sqrt(g * lam) * rng.standard_normal(lam.shape)), 0, None).astype(np.uint32)


def _rank(data, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = decompose(em.Signal(data, axes=s.axes, signal_type=s.signal_type), "pca", n_components="auto")
    return d.info["rank_estimate"], d.rank_evidence


@pytest.mark.parametrize("kind,counts,rank,g", [("eels", 5000, 3, 0.2), ("eels", 20000, 2, 0.2), ("eels", 5000, 3, 6.0),
                                                ("eds", 2000, 4, 6.0), ("eels", 20000, 2, 6.0)])
def test_the_rank_of_counts_at_another_gain_is_the_rank_of_the_counts(kind, counts, rank, g):
    s, truth = make_cube(rank, kind, shape=(40, 40), n_channels=384, counts=counts, seed=rank + int(g))
    r0, ev0 = _rank(s.data, s)
    assert r0 == rank and 1 / 1.25 < ev0["dispersion"] < 1.25  # Poisson: unit gain, edge not scaled
    assert "dispersion_note" not in ev0
    r, ev = _rank(_with_dispersion(truth, g, seed=7), s)
    assert r == rank, (r, ev["dispersion"])
    assert ev["dispersion"] == pytest.approx(g, rel=0.15)
    assert "not counts at unit gain" in ev["dispersion_note"]
    assert ev["edge"] == pytest.approx(ev["dispersion"] * ev["noise_top"])


@pytest.mark.parametrize("kind,rank,g", [("eds", 3, 1.1), ("eels", 1, 1.2), ("eels", 3, 1.15), ("eds", 1, 0.85)])
def test_a_gain_near_one_is_measured_too(kind, rank, g):
    """Counted against the unit-gain edge, a gain of 1.1-1.2 over-counted (35 and 48 of 48 ground-truth cubes)
    until the residual, stripped of the noise those extra components took, looked like unit gain: inside the
    dispersion band, so the edge was never scaled (scaled counts 16 x 16: 4-5 components of 1-3)."""
    s, truth = make_cube(rank, kind, shape=(16, 16), n_channels=256, counts=2000, seed=1)
    t = em.Signal(s.data.astype(np.float64) * g, axes=s.axes, signal_type=s.signal_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = decompose(t, "pca", n_components="auto", poisson=True)
    assert d.info["rank_estimate"] == rank, d.rank_evidence["dispersion"]
    assert d.rank_evidence["dispersion"] == pytest.approx(g, rel=0.05)


def test_noise_that_is_not_scaled_poisson_keeps_the_unit_gain_edge():
    # sub-Poisson read-out rounded to integers: channels of a few counts keep a rounding floor, so the residual's
    # noise is not the simulated noise scaled, and a scaled edge would run into it (it counted 324 of 324)
    s, truth = make_cube(4, "eds", shape=(40, 40), n_channels=384, counts=2000, seed=4)
    r, ev = _rank(_with_dispersion(truth, 0.2, seed=7), s)
    assert r == 4
    assert "the edge of counts at unit gain is kept" in ev["dispersion_note"]
    assert ev["edge"] == ev["noise_top"]


def test_re_estimating_from_the_stored_evidence_gives_the_same_rank():
    s, truth = make_cube(3, "eels", shape=(40, 40), n_channels=384, counts=5000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = decompose(em.Signal(_with_dispersion(truth, 0.2, 1), axes=s.axes), "pca", n_components="auto")
    assert d.estimate_rank()[0] == d.info["rank_estimate"] == 3


def test_velox_eels_spectrum_images_have_two_components(velox_emd):
    # three EELS spectrum images of one region, 16 x 20 x 2048 integer values at ~0.17 x their Poisson variance
    signals = [x for x in em.load(velox_emd) if x.signal_type == "EELS" and x.nav_ndim == 2]
    assert len(signals) == 3
    for sig in signals:
        d = decompose(sig, "pca", n_components="auto")
        ev = d.rank_evidence
        assert d.info["rank_estimate"] == 2, (ev["dispersion"], ev["eigenvalues"][:4] / ev["edge"])
        assert 0.1 < ev["dispersion"] < 0.25


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_counts_stored_as_floats_are_weighted_as_counts(dtype):
    # without the weighting the Marchenko-Pastur edge counted their heteroscedastic noise: 43-114 of rank 3
    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=512, counts=300, seed=2)
    as_int = decompose(s, "pca", n_components="auto")
    as_float = decompose(em.Signal(s.data.astype(dtype), axes=s.axes, signal_type=s.signal_type), "pca",
                         n_components="auto")
    assert as_int.info["rank_estimate"] == as_float.info["rank_estimate"] == 3
    assert as_float.info["poisson"] == "on (automatic: whole numbers, counts stored as floats)"
    np.testing.assert_allclose(as_float.eigenvalues[:3], as_int.eigenvalues[:3], rtol=1e-5)
    fractional = s.data.astype(dtype)
    fractional[0, 0, 7] += 0.5  # one value that is not a count: no longer counts
    off = decompose(em.Signal(fractional, axes=s.axes), "pca", n_components=3)
    assert off.info["poisson"] == "off (automatic: not integer counts)"


@pytest.mark.parametrize("shape", [(1, 3), (2, 2), (2, 3), (3, 3), (4, 4)])
def test_counts_on_a_few_pixels_are_counts_at_unit_gain(shape):
    # each component takes its own noise with it (1/9 of it on 3 x 3 pixels): without that share the dispersion of
    # pure Poisson maps read 0.32-0.79 there, and a rank-1 map came out rank 3 on a scaled edge (found in review)
    e = np.arange(1024)
    spectrum = np.exp(-e / 300) + 3 * np.exp(-0.5 * ((e - 400) / 6) ** 2)
    for seed in range(4):
        x = np.random.default_rng(seed).poisson(3000 * np.ones(shape + (1,)) * spectrum / spectrum.sum())
        r, ev = _rank(x.astype(np.uint16), em.Signal(x.astype(np.uint16)))
        assert "dispersion_note" not in ev and ev["edge"] == ev["noise_top"], (seed, r, ev.get("dispersion"))
        assert 0.8 < ev["dispersion"] < 1.25


def test_whole_number_floats_with_the_single_pass_solver_say_why_they_are_not_weighted():
    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=256, counts=300, seed=2)
    d = decompose(em.Signal(s.data.astype(np.float32), axes=s.axes), "pca", n_components=3, solver="single_pass")
    assert d.info["poisson"].startswith("off (automatic: floats; the single-pass solver decides at its one read")


def _weighted_as_scaled_counts(x, axes, g):
    """``x`` (counts of rank 3 times ``g``), in memory and lazy in 5-row partitions: weighted as scaled counts, rank 3,
    the gain measured."""
    for sig in (em.Signal(x, axes=axes), em.Signal(x, axes=axes).as_lazy(chunks=(5, 32, 256))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = decompose(sig, "pca", n_components="auto")
        assert d.info["poisson"].startswith("on (automatic: every value a whole multiple of"), d.info["poisson"]
        assert d.info["rank_estimate"] == 3 and d.rank_evidence["dispersion"] == pytest.approx(g, rel=0.05)


@pytest.mark.parametrize("g, dtype", [(1.37, np.float64), (0.5, np.float32), (2.5, np.float32)])
def test_scaled_counts_stored_as_floats_are_weighted(g, dtype):
    """Counts times a gain are fractional floats, so the automatic weighting was off and the unweighted rank counted
    noise (a new user's 3 phases x 1.37: 52 components). Every value is a whole multiple of one value: counts."""
    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=256, counts=200, seed=1)
    x = (s.data.astype(np.float64) * g).astype(dtype)
    _weighted_as_scaled_counts(x, s.axes, g)
    jittered = s.data * g + np.random.default_rng(0).uniform(0, 0.01, s.data.shape)  # not multiples of anything
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert decompose(em.Signal(jittered, axes=s.axes), "pca", n_components=3).info["poisson"].startswith("off")


@pytest.mark.parametrize("g, dtype", [(1.37, np.float32), (0.5, np.float64)])
def test_dense_scaled_counts_without_zeros_are_weighted(g, dtype):
    """Dense counts times a gain (an EELS cube on a background, not one zero): the quantum was looked for only where
    zeros show the smallest count, so these were unweighted and the rank counted noise (29 of rank 3). The smallest
    step between distinct values, where consecutive counts meet, is the quantum."""
    s, truth = make_cube(3, "eels", shape=(32, 32), n_channels=256, counts=5000, seed=1)
    counts = np.random.default_rng(2).poisson(truth.expected + 20)
    assert counts.min() > 0
    x = (counts * g).astype(dtype)
    _weighted_as_scaled_counts(x, s.axes, g)
    # an offset is no quantum (counts + 0.25 step by one and are not multiples of it), nor is jitter's smallest step
    from emscale.decomposition._matrix import quantum_of

    assert np.isnan(quantum_of((counts + 0.25).reshape(-1, 256)))
    jittered = counts * g + np.random.default_rng(0).uniform(0, 0.01, counts.shape)
    assert np.isnan(quantum_of(jittered.reshape(-1, 256)))


@pytest.mark.parametrize("kind,offset", [("eels", 2), ("eels", 10), ("eds", 2), ("eds", 10)])
def test_counts_with_an_offset_are_no_gain(kind, offset):
    """An offset added to the counts lowers their dispersion most where the counts are fewest; read as a gain by
    their mean, the scaled edge ran into the noise (EELS: 8 and 37 components of 3): the channels of fewer and of
    more counts disagree, and the unit-gain edge is kept."""
    s, truth = make_cube(3, kind, shape=(48, 48), n_channels=512, counts=2000, seed=1)
    r, ev = _rank(s.data.astype(np.uint32) + offset, s)
    assert r == 3, (r, ev.get("dispersion_note"))
    assert "the edge of counts at unit gain is kept" in ev["dispersion_note"] and ev["edge"] == ev["noise_top"]
    if kind == "eels":  # EDS's bulk already tells (its offset is 10-100 x its few counts between the lines)
        fewer, more = ev["level_dispersions"]
        assert more > 1.25 * fewer and "not a gain" in ev["dispersion_note"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = decompose(em.Signal(s.data.astype(np.uint32) + offset, axes=s.axes, signal_type=s.signal_type), "pca",
                      n_components="auto")
    assert d.estimate_rank()[0] == 3


@pytest.mark.parametrize("kind,rank", [("eels", 1), ("eels", 2), ("eds", 2)])
def test_a_gain_over_sparse_counts_is_measured(kind, rank):
    """Six units per electron over 200 counts/pixel: every eigenvalue of the rank's channels passed the unit-gain edge
    (EELS 256 of 256), leaving no residual to measure the dispersion by, and the rank was returned as it was."""
    s, truth = make_cube(rank, kind, shape=(40, 40), n_channels=256, counts=200, seed=rank)
    r, ev = _rank(_with_dispersion(truth, 6.0, seed=rank), s)
    assert r == rank, (r, ev["dispersion"])
    assert ev["dispersion"] == pytest.approx(6.0, rel=0.05)


@pytest.mark.parametrize("n_pixels,counts", [(8, 2000), (9, 20000), (11, 2000)])
def test_a_few_pixels_each_of_its_own_spectrum_keep_their_rank(n_pixels, counts):
    """Every eigenvalue passes the unit-gain edge where each pixel holds a spectrum of its own: that many components,
    not a gain (read as one, a review's 8-11 pixels at unit gain came out rank 1)."""
    rng = np.random.default_rng(n_pixels)
    lam = rng.uniform(0.2, 1.8, (n_pixels, 256))
    x = rng.poisson(lam / lam.sum(1, keepdims=True) * counts).reshape(1, n_pixels, 256).astype(np.uint32)
    r, ev = _rank(x, em.Signal(x))
    assert r == n_pixels and "dispersion_note" not in ev


def _with_channel_gains(s, spread: float, seed: int):
    """The cube's counts, each channel recorded at its own gain ``1 + spread * N(0, 1)`` (float data, counts)."""
    g = np.clip(1 + spread * np.random.default_rng(seed).standard_normal(s.data.shape[-1]), 0.3, None)
    return em.Signal(np.asarray(s.data, dtype=np.float32) * g.astype(np.float32), axes=s.axes,
                     signal_type=s.signal_type, metadata={"Signal": {"counts": True}})


@pytest.mark.parametrize("kind,counts,spread,seed,before", [("eels", 2000, 0.2, 0, 7), ("eds", 2000, 0.2, 1, 5)])
def test_a_gain_of_each_channel_is_measured_per_channel(kind, counts, spread, seed, before):
    """An uncorrected gain reference (each channel its own gain, mean 1) gives each channel's noise its own variance;
    the data's top noise eigenvalue then stood above the simulated edge by more than the 5 % margin, which one
    global dispersion cannot move: rank ``before`` of 3. Each channel's dispersion is measured, and the edge is the
    simulated noise's with those dispersions."""
    s, _ = make_cube(3, kind, (48, 48), 512, counts, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = decompose(_with_channel_gains(s, spread, 100 + seed), "pca", poisson=True)
        plain = decompose(s, "pca", poisson=True)
    ev = d.rank_evidence
    assert d.info["rank_estimate"] == 3, (before, ev.get("channel_dispersion"))
    cd = ev["channel_dispersion"]
    assert cd["spread"] > 4 * cd["band"] and cd["rank"] == before  # counted past the unit-gain rank
    assert cd["range"][0] < 0.6 and cd["range"][1] > 1.4  # the gains' own range, 1 -/+ 2.5 spreads
    assert cd["noise_top"] > cd["noise_top_unit"] and ev["noise_top"] == cd["noise_top"]
    assert "a per-channel detector gain?" in ev["channel_note"]
    # counts at unit gain: no per-channel dispersion, the edge of the counts
    assert plain.info["rank_estimate"] == 3 and "channel_dispersion" not in plain.rank_evidence
    assert d.estimate_rank()[0] == 3  # recomputed from the stored evidence
    # centred counts at unit gain: the residual lacks the mean too, and their dispersions spread (2.3-2.9, a code
    # review): no per-channel dispersion, the edge of the counts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        centred = decompose(s, "pca", poisson=True, centre=True)
    assert "channel_dispersion" not in centred.rank_evidence and "channel_note" not in centred.rank_evidence
