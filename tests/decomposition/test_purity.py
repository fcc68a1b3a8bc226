"""Pure-pixel resolution of the rotational ambiguity of non-negative factorisations (decomposition.purity) and
the pure-pixel groups it relies on (decomposition.vca.pure_pixel_groups)."""

import warnings

import numpy as np
import pytest

from emscale.decomposition import decompose
from emscale.decomposition.purity import group_fit_rotation, group_rotation, pure_pixel_rotation
from groundtruth import compound_grains_scene, make_cube, spectral_angles


def _shared_background_model(rng, n=400, p=60, k=3):
    """Noise-free X = A S with pure pixels and spectra sharing a flat background (so that a rotated, still
    non-negative factorisation exists)."""
    s = 0.5 + rng.random((k, p))  # every channel > 0.5: rotations near the identity stay non-negative
    a = rng.dirichlet(np.ones(k), size=n)
    pure = [np.arange(c * 10, c * 10 + 10) for c in range(k)]
    for c, g in enumerate(pure):
        a[g] = np.eye(k)[c]
    return a, s, pure


def test_rotation_recovers_the_pure_factorisation_exactly():
    rng = np.random.default_rng(0)
    a, s, pure = _shared_background_model(rng)
    # an equally good, mixed solution: W' = A P >= 0 and H' = P^-1 S >= 0 (the shared background allows it)
    mix = np.array([[1.0, 0.2, 0.1], [0.05, 1.0, 0.15], [0.1, 0.0, 1.0]])
    w_mixed, h_mixed = a @ mix, np.linalg.inv(mix) @ s
    assert np.all(h_mixed >= 0)
    np.testing.assert_allclose(w_mixed @ h_mixed, a @ s, rtol=1e-12)
    w, h, m = pure_pixel_rotation(w_mixed, h_mixed, pure)
    # up to each component's scale: the rotation maps the groups onto unit loadings
    h_n = h / h.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(h_n, s / s.sum(axis=1, keepdims=True), rtol=1e-9)
    np.testing.assert_allclose(w @ h, a @ s, rtol=1e-9)


def test_group_fit_rotation_has_no_clipping_bias_at_low_counts():
    # pure pixels of three phases at 8 counts each: least-squares concentrations clipped at zero (MCR-ALS's) keep
    # the positive half of the absent components' noise, and summed over a group it reads as a mixture
    rng = np.random.default_rng(3)
    s = rng.dirichlet(np.full(256, 0.3), 3)
    groups = [np.arange(i * 300, (i + 1) * 300) for i in range(3)]
    x = rng.poisson(8.0 * np.repeat(s, 300, axis=0)).astype(float)
    clipped = np.maximum(x @ np.linalg.pinv(s), 0.0)
    off = ~np.eye(3, dtype=bool)
    assert np.min((group_rotation(clipped, groups) - np.eye(3))[off]) > 0.04  # every absent share read as 4-9 %
    sums = np.stack([x[g].sum(axis=0) for g in groups])
    np.testing.assert_allclose(group_fit_rotation(sums, s, "poisson"), np.eye(3), atol=0.005)
    np.testing.assert_allclose(group_fit_rotation(sums, s, "gaussian"), np.eye(3), atol=0.03)  # unbiased, noisier
    # an exact mixture is read back exactly
    mix = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    np.testing.assert_allclose(group_fit_rotation(300 * mix @ s, s), mix, atol=1e-9)


def test_mcr_group_fit_takes_its_best_iterate_where_the_reweighting_cycles():
    # rank 5 at 20 counts/pixel: one group's Poisson fit cycles between two points; its 20th iterate sent the fifth
    # spectrum from 4.8 (the shares of the summed concentrations) to 18.0 degrees off
    s, truth = make_cube(5, "eds", shape=(32, 32), n_channels=256, counts=20, seed=0)
    d = decompose(s, "mcr", n_components=5)
    assert d.info["pure_pixel_rotation"] is True
    assert d.info["pure_pixel_shares"] == "fitted to each group's summed spectrum"
    angles = spectral_angles(d.factors_array.T, truth.spectra)
    assert np.max(angles[[1, 3, 4]]) < 6.5 and np.median(angles) < 12.0


def test_mcr_names_the_shares_only_of_a_rotation_it_kept():
    # sparse pure cube: the pixel end passes its evidence, then the weighing of the two ends drops it
    s, _ = make_cube(3, "eds", shape=(64, 64), n_channels=2048, counts=30, seed=4)
    d = decompose(s, "mcr", n_components=3)
    assert d.info["pure_pixel_rotation"] is False
    assert "pure_pixel_shares" not in d.info


def test_rotation_refuses_groups_on_one_vertex():
    rng = np.random.default_rng(1)
    a, s, pure = _shared_background_model(rng)
    assert pure_pixel_rotation(a, s, [pure[0], pure[0], pure[2]]) is None
    assert pure_pixel_rotation(a, s, pure[:2]) is None


def test_groups_are_distinct_when_vca_picks_one_vertex_twice():
    # seed 5: the neighbourhood grown from VCA's vertex of the phase with only 71 pure pixels drifts onto the big
    # neighbouring phase (two groups on one phase, none on the small one); the repaired groups must cover three
    # different phases.
    from emscale.decomposition._matrix import DataMatrix
    from emscale.decomposition.pca import gram_pca
    from emscale.decomposition.vca import noise_level, pure_pixel_groups, vca_indices, vertex_neighbourhoods

    s, truth = make_cube(rank=3, kind="eds", counts=200, pure=True, seed=5)
    dm = DataMatrix(s.data, 2)
    dm.statistics()
    dm.configure(poisson=True, centre=False)
    p = gram_pca(dm, 3)
    sigma = noise_level(p.trace, p.eigenvalues, 3, dm.n_pixels, dm.n_channels)
    ab = truth.abundances.reshape(-1, 3)
    grown = vertex_neighbourhoods(p.scores, vca_indices(p.scores, 3, seed=0), sigma)
    assert len({int(np.argmax(ab[g].mean(axis=0))) for g in grown}) == 2  # the failure being repaired
    idx, groups = pure_pixel_groups(p.scores, 3, sigma, seed=0)
    majority = [int(np.argmax(ab[g].mean(axis=0))) for g in groups]
    assert sorted(majority) == [0, 1, 2], majority


@pytest.mark.parametrize("pure, low, high", [(True, 0.8, 0.95), (False, 0.0, 0.15)])
def test_share_at_vertices_tells_regions_of_pure_phases_from_mixtures(pure, low, high):
    """Scores of 3 phases in a 3-dimensional subspace with noise 0.2 (per score, pixels of total 100): pure pixels,
    or fractions spread evenly over the simplex. Near the groups' vertices sit nearly all the pure pixels, and of the
    mixtures about the groups' own share (250 pixels of 3000). Pure pixels lie within 1.5 noise radii of their vertex
    with probability 1 - exp(-1.5^2) = 0.89 (two dimensions)."""
    from emscale.decomposition.vca import pure_pixel_groups, share_at_vertices

    rng = np.random.default_rng(0)
    vertices = np.array([[10.0, 4.0, 0.0], [10.0, -2.0, 3.5], [10.0, -2.0, -3.5]])
    fractions = np.eye(3)[rng.integers(0, 3, 3000)] if pure else rng.dirichlet(np.ones(3), 3000)
    scores = fractions @ vertices + rng.normal(0.0, 0.2, (3000, 3))
    _, groups = pure_pixel_groups(scores, 3, 0.2, seed=0)
    assert low <= share_at_vertices(scores, groups, 0.2) <= high


@pytest.mark.parametrize("seed, before", [(0, 1.94), (1, 2.73)])
def test_pixels_without_counts_join_no_pure_pixel_group(seed, before):
    """A quarter of the map is vacuum (no counts): such a pixel has no position in the PCA subspace, so its noise
    radius is infinite, and it joined every group up to the cap of n / 2k pixels (three groups of 682 pixels on
    this map); NMF's spectra then went ``before`` degrees from the truth (0.7 and 1.45 now), VCA's 2.66 and NaN
    (0.78 and 1.42 now)."""
    from emscale import Signal

    s, truth = make_cube(rank=3, kind="eds", shape=(64, 64), n_channels=256, counts=200, pure=True, seed=seed)
    data = np.array(s.data)
    data[:16] = 0
    s = Signal(data, axes=s.axes, signal_type=s.signal_type, metadata=s.metadata)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["pure_pixel_rotation"]
    assert np.median(spectral_angles(d.factors_array.T, truth.spectra)) < 0.8 * before
    v = decompose(s, "vca", n_components=3)
    assert np.isfinite(v.factors_array).all() and np.median(spectral_angles(v.factors_array.T, truth.spectra)) < 1.6


CASES = [(seed, bg) for seed in range(4) for bg in ((0.03, 0.08), (0.2, 0.4))]


@pytest.mark.parametrize("method", ["vca", "nmf", "mcr"])
def test_pure_pixel_methods_recover_spectra(method):
    """EDS-like, 200 counts/pixel, pure pixels present, low and realistic (20-40 %) bremsstrahlung: median
    spectral angle <= 2 degrees (the separation issue's target) in the cases listed; the noise-limited floor
    (least squares with the *true* abundances) of these cubes is 0.7-1.6 degrees."""
    medians = []
    for seed, bg in CASES:
        s, truth = make_cube(rank=3, kind="eds", counts=200, pure=True, seed=seed, background=bg)
        d = decompose(s, method, n_components=3)
        medians.append(float(np.median(spectral_angles(d.factors_array.T, truth.spectra))))
        if method in ("nmf", "mcr"):
            assert d.info["pure_pixel_rotation"]
    # measured: VCA 0.97-1.74, NMF 1.01-1.81, MCR 1.05-1.94 (MCR's least squares is the least efficient)
    assert max(medians) <= 2.0, medians


def test_nmf_without_pure_pixel_rotation_drifts():
    # the solver's own member of the family: the reason for the rotation (seed 2, realistic background: 5.2
    # degrees without, 1.2 with)
    s, truth = make_cube(rank=3, kind="eds", counts=200, pure=True, seed=2, background=(0.2, 0.4))
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False)
    fixed = decompose(s, "nmf", n_components=3)
    a_raw = np.median(spectral_angles(raw.factors_array.T, truth.spectra))
    a_fixed = np.median(spectral_angles(fixed.factors_array.T, truth.spectra))
    assert a_fixed <= 2.0 and a_raw > 2 * a_fixed, (a_raw, a_fixed)
    assert not raw.info["pure_pixel_rotation"] and raw.params["pure_pixels"] is False
    # the raw optimum fits the noise better; the rotated factorisation still fits better than the truth
    x = s.data.reshape(-1, s.data.shape[-1]).astype(float)
    mu = truth.expected.reshape(x.shape)
    m = x > 0
    truth_loss = float(np.sum(x[m] * np.log(x[m] / mu[m])) - x.sum() + mu.sum())
    assert raw.info["loss"] <= fixed.info["loss"] <= truth_loss, (raw.info["loss"], fixed.info["loss"], truth_loss)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_the_demo_sample_keeps_its_pure_pixel_rotation(method):
    """The demo's EDS sample (another generator: Si/SiO2 regions, small Cu particles) has pure pixels; the rule
    that decides the rotation must take it. A tighter rule once refused it (4.6 % of the pixels outside the
    groups' simplex, groups 19 % mixed in the solver's factorisation) and the NMF spectra went from
    0.75 / 1.39 / 3.28 to 2.69 / 49.6 / 7.15 degrees from the truth (MCR: 2.77 / 17.4 / 7.74)."""
    from emscale.decomposition import spectral_angles as matched_angles
    from emscale.workflows.samples import eds_si

    s, truth = eds_si(seed=0)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    true = np.stack([np.asarray(truth["components"][n]) for n in truth["components"]])
    angles, _ = matched_angles(np.nan_to_num(d.factors_array.T), true)  # masked strobe channels: 0, as the demo
    assert np.max(angles) <= 4.0, angles


@pytest.mark.parametrize("method, before, fewer", [("nmf", 340, 2), ("mcr", 156, 4)])
def test_rotated_solvers_stop_once_the_rotated_spectra_settle(monkeypatch, method, before, fewer):
    """Dense counts with pure pixels: the result is rotated to the pure-pixel groups, so the iterations stop once
    the rotated spectra settle (issue 17: this cube took ``before`` iterations by the loss rule alone) -- with the
    spectra of the loss rule's run within a few hundredths of a degree. Without the rotation, the loss rule only."""
    from emscale.decomposition import purity

    s, truth = make_cube(3, kind="eels", shape=(64, 64), n_channels=240, counts=5000, pure=True, seed=1)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"] and d.info["stopped_by"] == "rotated spectra settled"
    assert decompose(s, method, n_components=3, pure_pixels=False).info["stopped_by"] in ("loss", "max_iter")
    monkeypatch.setattr(purity, "SETTLED_DEGREES", 0.0)  # the loss rule alone
    full = decompose(s, method, n_components=3)
    assert full.info["stopped_by"] == "loss"
    assert d.info["n_iter"] <= full.info["n_iter"] / fewer
    a, a_full = (spectral_angles(x.factors_array.T, truth.spectra) for x in (d, full))
    assert np.max(np.abs(a - a_full)) < 0.05, (a, a_full)
    assert np.median(a) < 1.0


def test_mcr_on_a_soft_mixture_is_not_stopped_near_its_pure_pixel_start():
    """No pure pixels in the PCA subspace: the settled-spectra stop is off. Ungated, ALS passed the evidence after
    37 iterations, still near its pure-pixel start, and was rotated: 12.5 degrees from the truth against 7.6 for
    the converged solution, which the evidence then refuses."""
    s, truth = make_cube(4, kind="eels", shape=(48, 48), n_channels=512, counts=2000, pure=False, seed=6)
    d = decompose(s, "mcr", n_components=4)
    assert d.info["stopped_by"] != "rotated spectra settled"
    assert np.median(spectral_angles(d.factors_array.T, truth.spectra)) < 9.0


def _mixed_spectra_model(rng, own_lines: bool, n=900, p=200, k=3):
    """Noise-free X = A S without pure pixels (every fraction >= 0.15) and spectra of lines over a shared continuum;
    returned as an equally good factorisation whose spectra are mixed (W = A P, H = P^-1 S... here H = Q S, W =
    A Q^-1 with Q mixing the spectra)."""
    e = np.arange(p)
    continuum = 0.02 * np.exp(-e / 120.0)
    lines = [30, 80, 140, 170]
    members = [[0, 3], [1, 3], [2]] if own_lines else [[1], [1, 3], [2]]  # False: phase 0 has no line of its own
    s = np.stack([continuum + sum(np.exp(-0.5 * ((e - lines[j]) / 2.0) ** 2) for j in m) for m in members])
    s /= s.sum(axis=1, keepdims=True)
    a = 0.15 + 0.55 * rng.dirichlet(np.ones(k), size=n)
    q = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])  # mixed spectra: H = Q S
    return a @ np.linalg.inv(q), q @ s, s


def test_pure_channel_rotation_recovers_spectra_with_lines_of_their_own():
    from emscale.decomposition.purity import pure_channel_rotation

    w, h, s = _mixed_spectra_model(np.random.default_rng(1), own_lines=True)
    assert w.min() > 0  # a valid non-negative factorisation
    apply, ev, reason, rot = pure_channel_rotation(w * 1e4, h)  # data units: 10^4 counts per pixel
    assert apply and reason.startswith("pure channels"), reason
    assert ev["outside_fraction"] <= 0.01
    before = spectral_angles(h, s).max()
    after = spectral_angles(rot[1], s).max()
    # the continuum under a line is taken from the other phases there: not exact, but far nearer than the mixture
    assert before > 10.0 and after < 1.5, (before, after)
    x = (w * 1e4) @ h  # the same model, up to the negative spectral values clipped to zero (1.2 %; callers refit W)
    assert np.linalg.norm(rot[0] @ rot[1] - x) <= 0.02 * np.linalg.norm(x)


@pytest.mark.xfail(strict=True, reason="known limitation (purity.pure_channel_rotation): phase 0's only line is "
                   "phase 1's and nothing else is shared, so the member with phase 1 stripped of that line is as "
                   "consistent as the truth (0 % of the channels outside); the evidence refuses only where the "
                   "stripping leaves other channels outside (test_no_pure_pixels: 4-16 %)")
def test_pure_channel_rotation_is_refused_for_a_phase_without_a_line_of_its_own():
    from emscale.decomposition.purity import pure_channel_rotation

    w, h, s = _mixed_spectra_model(np.random.default_rng(1), own_lines=False)
    apply, ev, reason, rot = pure_channel_rotation(w * 1e4, h)
    assert not apply and rot is None and reason.startswith("no pure channels"), reason


@pytest.mark.parametrize("n_channels", [512, 2048, 4096])
def test_channel_groups_from_the_continuum_level_are_at_the_lines(n_channels):
    """A solver's model at few counts: Al, and a minor phase's spectrum that mixes Al into Ag, left at zero on the
    faint continuum above 4 keV but for a count here and there (KL-NMF's sparse zeros). There the mixture's share
    is mostly 0 and Al's 1, so Al's channel group lay on that continuum, where the solver's own spectra are pure
    already: the spectra's end was the solver's mixture. Raised to their continuum level (the running mean), the
    spectra put Al's group at Al Ka, where the mixture holds Al that a pure Ag spectrum does not."""
    from emscale.decomposition.purity import channel_groups, continuum_floor

    e = (np.arange(n_channels) + 0.5) * 20.0 / n_channels
    continuum = np.clip(20.0 - e, 0, None) / np.maximum(e, 0.3) * (1 - np.exp(-e / 0.8))

    def line(c):
        g = np.exp(-0.5 * ((e - c) / (0.04 + 0.01 * np.sqrt(c))) ** 2)
        return g / g.sum()

    al = 0.35 * continuum / continuum.sum() + line(1.487)
    ag = 0.45 * continuum / continuum.sum() + line(2.984) + 0.45 * line(3.151)
    h = np.stack([al, 0.6 * ag + 0.4 * al])
    tail = np.flatnonzero(e > 4.0)
    h[1, tail] *= np.where(tail % 8 == 0, 8.0, 0.0)  # zero but for a spike in eight channels (the same mean)
    raw, floored = channel_groups(h), channel_groups(h, floor=True)
    assert np.all(e[raw[0]] > 4.0)  # on the continuum the mixture left at zero
    assert np.all(np.abs(e[floored[0]] - 1.487) < 0.15), e[floored[0]]  # at Al Ka
    assert np.all(np.abs(e[floored[1]] - 2.984) < 0.15), e[floored[1]]  # Ag La, as before
    lifted = continuum_floor(h)
    assert np.all(lifted >= h) and np.all(lifted[1, e > 5.0] > 0)
    np.testing.assert_array_equal(lifted[0, np.abs(e - 1.487) < 0.02], h[0, np.abs(e - 1.487) < 0.02])  # line kept


def test_excess_rotation_reads_each_line_above_the_others_continuum():
    """Noise-free: spectra of real elements' lines over a strong continuum, mixed by a known rotation. At each
    phase's channel group the other phase's true spectrum has no line but its continuum; the member pure at the
    groups strips that continuum (6.7 / 3.4 degrees off), the member with no line excess at the others' groups is the
    truth up to the continuum's slope between a line and its lower flank (0.51 / 0.21 degrees)."""
    from emscale.decomposition.purity import channel_groups, excess_rotation, line_excess, pure_pixel_rotation
    from groundtruth import lines_over_continuum_scene, spectral_angles

    _, truth = lines_over_continuum_scene(2, "smooth", 500, seed=1)
    mix = np.array([[0.8, 0.2], [0.3, 0.7]])
    h = mix @ truth.spectra
    w = truth.abundances.reshape(-1, 2) @ np.linalg.inv(mix)
    groups = channel_groups(truth.spectra)
    total = w.mean(axis=0) @ h
    m = excess_rotation(line_excess(h, groups, total))
    excess = pure_pixel_rotation(h.T, w.T, groups, m=m)[0].T
    plain = pure_pixel_rotation(h.T, w.T, groups)[0].T
    assert max(spectral_angles(excess, truth.spectra)) < 1.0
    assert max(spectral_angles(plain, truth.spectra)) > 3.0


def test_a_settled_stop_whose_evidence_keeps_refusing_asks_it_at_doubling_intervals():
    # the evidence (a sweep of the sampled pixels) was asked at every check once the spectra settled: 127 asks, 43 of
    # an MCR fit's 50 s, on an EELS mixture whose evidence refused throughout (the solver's own fit took 6.5 s)
    from emscale.decomposition.purity import SettledStop

    a, s, pure = _shared_background_model(np.random.default_rng(1))
    asked = []
    stop = SettledStop(pure, lambda w, h: asked.append(len(asked)) or False)
    assert not any(stop(a, s, 1.0, 1.0) for _ in range(128))  # settled from the second check on, always refused
    assert len(asked) == 7  # checks 2, 4, 8, ..., 128
    holds = SettledStop(pure, lambda w, h: True)
    assert [holds(a, s, 1.0, 1.0) for _ in range(3)] == [False, True, True]  # fires at the first settled check


def _si_fe_cu(maps: np.ndarray, counts: float, seed: int):
    """(Signal, spectra (3, 256)): Si, Fe and Cu lines over one bremsstrahlung continuum that every phase shares
    (0-10 keV, nothing below 0.1 keV), times ``maps`` (ny, nx, 3), Poisson counts (a reviewer's held-out scenes)."""
    from emscale.core.signal import Signal

    e = (np.arange(256) + 0.5) * 10.0 / 256
    brems = 0.15 * np.clip((10.0 - e) / e, 0, 5) * (1 - np.exp(-e / 0.5))

    def lines(*centre_width_height):
        return brems + sum(h * np.exp(-0.5 * ((e - c) / w) ** 2) for c, w, h in centre_width_height)

    spectra = np.stack([lines((1.74, 0.06, 3.0), (1.84, 0.06, 0.5)),
                        lines((6.40, 0.08, 2.0), (0.70, 0.05, 0.6), (7.06, 0.08, 0.4)),
                        lines((8.04, 0.09, 2.5), (0.93, 0.05, 0.8))])
    spectra[:, e < 0.1] = 0.0
    spectra /= spectra.sum(axis=1, keepdims=True)
    data = np.random.default_rng(seed).poisson(counts * maps @ spectra).astype(np.uint32)
    axes = [{"name": "y", "size": maps.shape[0], "navigate": True}, {"name": "x", "size": maps.shape[1],
            "navigate": True}, {"name": "Energy", "size": 256, "scale": 10.0 / 256, "offset": float(e[0]),
                                "units": "keV", "navigate": False}]
    return Signal(data, axes=axes, signal_type="EDS_SEM"), spectra


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pure_regions_at_few_counts_per_pixel_keep_their_pure_pixels(method, seed):
    """Three pure stripes at 20 counts/pixel: the plateau of a region (regions.region_shapes) was read against a
    vertex share raised by the noise of the single pixels (the map's 99.5th percentile, lowered by the noise only
    above 1, and that noise measured over the whole map, where the component is mostly absent), so the flat stripes
    read as the tops of mixtures (0.25-0.46), the pure pixels were refused and the spectra went 17-20 degrees from
    the truth (the stripes' own sums: 3.5-4.8). Now 5.3-8.2."""
    maps = np.zeros((40, 60, 3))
    for c in range(3):
        maps[:, 20 * c:20 * (c + 1), c] = 1.0
    s, spectra = _si_fe_cu(maps, 20.0, seed)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert max(spectral_angles(d.factors_array.T, spectra)) < 9.0


@pytest.mark.parametrize("seed", [1, 3])
def test_a_minor_phase_of_isolated_pixels_does_not_move_the_major_phases(seed):
    """Two pure halves and six isolated Cu pixels at 200 counts/pixel: the Cu group's smoothed share never reaches
    half its vertex (no region to fill), its plateau (0.21-0.34) refused the pure pixels of all, and the spectra's
    end moved the major Fe 13.3-13.7 degrees from the truth. The isolated group is now left to the regions of the
    other disputed components: Fe 2.7-2.8 degrees (its pixels' sum 1.2-1.3)."""
    maps = np.zeros((48, 48, 3))
    maps[:, :24, 0] = maps[:, 24:, 1] = 1.0
    for p in [(10, 10), (30, 35), (40, 5), (5, 40), (20, 20), (44, 30)]:
        maps[p] = [0.0, 0.0, 1.0]
    s, spectra = _si_fe_cu(maps, 200.0, seed)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert d.info["pure_channel_evidence"]["isolated_groups"]
    assert max(spectral_angles(d.factors_array.T, spectra)[:2]) < 4.0


def _decompose_warned(s, method, k):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = decompose(s, method, n_components=k)
    return d, [str(w.message) for w in caught]


def test_four_pure_phases_whose_groups_spread_keep_their_pure_pixels():
    """Voronoi grains of Mo, MoS2, TiO2 and BaSO4 (every pixel pure, 200 counts/pixel; a reviewer's): 12.8 % of the
    pixels lay outside the groups' simplex on NMF's factorisation (the limit 10 %), the pure pixels were refused
    and the spectra's end taken, Mo 68.3 degrees from the truth (it has no line MoS2 lacks), warned as data that
    show no pure pixels. Up to 15 % with 4 components, the map decides: every group fills a region of constant
    composition (plateaus 0.72-0.84), none has pixels beyond it (1.5 %): Mo 5.5, the others 1.6-4.2."""
    s, truth = compound_grains_scene(seed=2)
    d, said = _decompose_warned(s, "nmf", 4)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_reason"].startswith("pure pixels: 12.8 % of the pixels lie outside"), d.info
    assert "on the map every group fills a region of constant composition" in d.info["pure_pixel_reason"]
    assert not d.info["pure_channel_rotation"] and "pure_channel_warning" not in d.info
    assert not [m for m in said if "no pure pixels" in m], said
    angles = spectral_angles(d.factors_array.T, truth.spectra)
    assert max(angles) < 7.0, angles


@pytest.mark.parametrize("seed, level, worst", [(0, 0.807, 3.3), (1, 0.864, 5.1)])
def test_a_metal_beside_its_compound_is_not_read_as_a_support_film(seed, level, worst):
    """Voronoi grains of Mo, MoS2 and TiO2 (every pixel pure, 200 counts/pixel; issue 17): both ends passed their
    evidence, every disputed group filled a plateau (0.68 / 0.52), but the spectra's end strips Mo of the lines MoS2
    shares, so MoS2 seemed to go on under the Mo grains at 0.81 / 0.86 of its own level -- a support film's level --
    and that end was taken, Mo 53.9 / 62.1 degrees from the truth. A film lies under every phase; TiO2 replaces
    MoS2 (0.03 of its level under the TiO2 grains, purity.FILM_UNDER_EACH): the pure pixels are kept, 3.3 / 5.1."""
    s, truth = compound_grains_scene(("Mo", "MoS2", "TiO2"), seed=seed)
    d = decompose(s, "nmf", n_components=3)
    angles = spectral_angles(d.factors_array.T, truth.spectra)
    assert d.info["pure_pixel_rotation"], (angles, d.info["pure_pixel_reason"])
    assert max(angles) == pytest.approx(worst, abs=0.1), angles
    reason = d.info["pure_channel_reason"]
    assert reason.startswith("not taken: both ends pass their evidence"), reason
    assert "no support under every phase); the pure pixels kept" in reason, reason
    ev = d.info["pure_channel_evidence"]
    assert max(ev["substrate_levels"].values()) == pytest.approx(level, abs=0.002), ev["substrate_levels"]
    assert min(ev["film_levels_under_each"].values()) < 0.05, ev["film_levels_under_each"]


def test_four_phases_mixed_pixel_by_pixel_are_not_shown_on_the_map():
    """The rule above must not take a map mixed at every pixel (a code review): four EDS phases in Dirichlet(1)
    fractions at 220 counts/pixel, 10.7 % of the pixels outside the groups' simplex, passed plateau and beyond (the
    smoothed shares level off, nothing beyond) and were taken, MCR 20.0 degrees from the truth (its own 3.1). No
    component's shares are alike between neighbours (-0.015-0.003): refused, as before the rule (worst 7.7)."""
    from groundtruth import counts_signal, cube_energy_axis, eds_spectra

    rng = np.random.default_rng(9)
    spectra = eds_spectra(4, 512, rng)
    fractions = rng.dirichlet([1.0] * 4, size=(64, 64))
    s = counts_signal(rng.poisson(220 * fractions @ spectra).astype(np.uint16), *cube_energy_axis("eds", 512))
    d = decompose(s, "mcr", n_components=4)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert "on the map every group fills" not in d.info["pure_pixel_reason"]
    assert max(spectral_angles(d.factors_array.T, spectra)) < 10.0


def test_a_group_of_pure_grains_with_pixels_beyond_it_is_found_again_on_the_map():
    """The same grains, MCR: the single pixels passed (2.1 % outside), but 16 % of the pixels lay beyond TiO2's
    group's vertex (over 15 %, Ti K beside Ba L) and the map refused the pure pixels; the spectra's end was taken,
    Mo 46.2 degrees from the truth (its own 16.9), warned as data that show no pure pixels. Every group fills a
    region of constant composition (plateaus 0.68-0.84): the group is at fault, not the data. The solver's own is
    kept, so the groups are found again on the map (.map_groups), which pass: 1.6-2.1 degrees."""
    s, truth = compound_grains_scene(seed=2)
    d, said = _decompose_warned(s, "mcr", 4)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_groups"].startswith("from the map-smoothed PCA scores"), d.info["pure_pixel_groups"]
    assert "16 % of the pixels lie beyond pure-pixel group 2's vertex" in d.info["pure_pixel_groups"]
    assert "pure_channel_warning" not in d.info and not [m for m in said if "no pure pixels" in m], said
    angles = spectral_angles(d.factors_array.T, truth.spectra)
    assert max(angles) < 3.0, angles



def test_a_refused_pixel_end_is_said_in_the_spectras_reason_in_either_form():
    """The spectra's-end reasons that end with 'the pure pixels kept' (not needed, not taken) still said so after the
    fit check refused the pure pixels (the code review); those that start with it were rewritten already."""
    from emscale.decomposition.purity import PIXELS_KEPT, pixel_end_refused

    nor = "nor the pure pixels (refused by their misfit: pure_pixel_reason)"
    assert pixel_end_refused(f"{PIXELS_KEPT}: spectra alike") == f"not taken, {nor}: spectra alike"
    agree = "not needed: both ends agree"
    assert pixel_end_refused(f"{agree}; the pure pixels kept") == f"{agree}; {nor}"
    assert pixel_end_refused("not tried: not EDS data; the solver's own spectra kept").endswith("own spectra kept")
