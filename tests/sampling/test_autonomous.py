"""Autonomous spectrum imaging: phase map agrees with the full-data map at a quarter of the positions."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale import DataError
from emscale.sampling.autonomous import (
    adjusted_rand_index,
    autonomous_si,
    autonomous_spectrum_imaging,
    phase_map,
    phase_map_from_mask,
    plot_phase_run,
)
from emscale.sampling.microscope import VirtualMicroscope
from emscale.sampling.patterns import random_pattern


@pytest.fixture(scope="module")
def eds():
    s, truth = em.samples.eds_si(shape=(40, 48), n_channels=512, scale=0.02, seed=4)
    ref, _ = phase_map(s, 3)
    return s, truth, ref


def test_full_data_map_finds_the_true_phases(eds):
    _, truth, ref = eds
    true = np.argmax(np.stack([truth["maps"][k] for k in ("Si", "SiO2", "Cu")]), axis=0)
    assert adjusted_rand_index(true, ref) > 0.8  # boundaries are mixtures: argmax of fractions is not exact


def _band_and_particles(counts: float, seed: int):
    """Three phases at low counts: a matrix, a tilted band (the matrix's line weaker, a line of its own) and six
    small particles; 60 x 72 positions, 128 channels."""
    yy, xx = np.mgrid[:60, :72]
    label = np.zeros((60, 72), int)
    label[(yy > 18 + 0.15 * xx) & (yy < 32 + 0.15 * xx)] = 1
    rng = np.random.default_rng(3)
    for _ in range(6):
        cy, cx, r = rng.uniform(4, 56), rng.uniform(4, 68), rng.uniform(1.5, 3.5)
        label[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    e = np.arange(128)

    def line(mu):
        return np.exp(-0.5 * ((e - mu) / 2.5) ** 2)

    base = 0.5 * np.exp(-e / 50)
    spectra = np.stack([base + line(30), base + 0.6 * line(30) + line(70), base + line(100) + 0.3 * line(30)])
    spectra /= spectra.sum(axis=1, keepdims=True)
    x = np.random.default_rng(seed).poisson(spectra[label] * counts).astype(np.float32)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "E", "scale": 0.02, "units": "keV", "navigate": False}]
    return em.Signal(x, axes=axes, signal_type="EDS_TEM"), label


@pytest.mark.parametrize("counts, floor", [(20, 0.45), (40, 0.85)])
def test_full_data_map_at_low_counts(counts, floor):
    """The full-scan map (the reference the loop's ARI curve is measured against) took its PCA from two power
    passes of the randomized solver, which leave a component this close to the noise far from its direction:
    ARI 0.35-0.38 at 20 counts per position where the exact PCA gives 0.48-0.52 (a reviewer's scene; Poisson PCA
    and k-means in scikit-learn 0.71 with centring)."""
    for seed in (0, 1):
        s, label = _band_and_particles(counts, seed)
        ref, _ = phase_map(s, 3)
        assert adjusted_rand_index(ref, label) > floor, seed


def test_quarter_of_the_positions_reproduce_the_full_map_better_than_random(eds):
    s, _, ref = eds
    scope = VirtualMicroscope(s)
    res = autonomous_si(scope, 3, fraction=0.25, stable_ari=None, reference=ref, seed=1)
    assert res.fraction == pytest.approx(0.25, abs=1e-3)
    assert scope.n_measurements == round(0.25 * 40 * 48) and scope.counts.max() == 1
    assert res.ari[-1] >= 0.95
    rand = [adjusted_rand_index(ref, phase_map_from_mask(VirtualMicroscope(s), random_pattern((40, 48), 0.25, seed=k),
                                                         3)[0]) for k in range(3)]
    assert res.ari[-1] > max(rand) + 0.02, (res.ari[-1], rand)
    assert res.spectra.shape == (3, 512)
    np.testing.assert_allclose(res.probabilities.sum(axis=-1), 1.0)
    # measured positions carry their own (one-hot) label
    m = res.order >= 0
    assert np.all(res.probabilities[m].max(axis=-1) == 1.0)


def test_stops_when_the_map_is_stable_and_replays(eds):
    s, _, _ = eds
    a = autonomous_si(VirtualMicroscope(s), 3, fraction=0.6, stable_ari=0.99, patience=2, seed=0)
    b = autonomous_si(VirtualMicroscope(s), 3, fraction=0.6, stable_ari=0.99, patience=2, seed=0)
    assert a.fraction < 0.6
    assert np.all(a.stability[-2:] >= 0.99)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.phase_map, b.phase_map)


def test_every_run_says_why_it_stopped(eds, tmp_path):
    # an autonomous_si result has no recorded parameters: stopped_by() said "not known (no recorded parameters)"
    s, _, _ = eds
    stable = autonomous_si(VirtualMicroscope(s), 3, fraction=0.6, stable_ari=0.99, patience=2, seed=0)
    low = float(np.min(stable.stability[-2:]))
    assert stable.stopped_by() == (f"map stable: adjusted Rand index between consecutive rounds >= 0.99 for the last "
                                   f"2 rounds (lowest {low:.4g})")
    spent = autonomous_si(VirtualMicroscope(s), 3, fraction=0.1, stable_ari=None)
    assert spent.stopped_by() == "budget spent: 192 of 192 positions"
    back = type(stable).load(stable.save(tmp_path / "run.npz"))
    assert back.stopped_by() == stable.stopped_by() and "info" not in stable.arrays()


def test_bad_input_is_refused(eds):
    s, _, _ = eds
    with pytest.raises(ValueError, match="exceeds the scan size"):
        autonomous_si(VirtualMicroscope(s), 3, budget=40 * 48 + 1)
    # a fraction under half a position was "budget must be at least 1, got 0", with no budget given
    with pytest.raises(ValueError, match=r"^1 position\(s\) to measure \(fraction = 0.0001 of the 1920-position "):
        autonomous_si(VirtualMicroscope(s), 3, fraction=1e-4)
    with pytest.raises(DataError, match="spectra"):
        autonomous_si(VirtualMicroscope(np.zeros((8, 8))), 2)
    # the two functions took budget and fraction in opposite orders: autonomous_si(scope, 3, 0.25) read a budget
    with pytest.raises(TypeError, match="positional"):
        autonomous_si(VirtualMicroscope(s), 3, 0.25)
    with pytest.raises(TypeError, match="positional"):
        autonomous_spectrum_imaging(s, 3, 0.25)
    with pytest.raises(DataError, match=r"label maps differ in shape, \(4, 4\) against \(16,\)"):
        adjusted_rand_index(np.zeros((4, 4)), np.zeros(16))
    with pytest.raises(DataError, match=r"mask has shape \(3, 3\) but the navigation \(scan\) shape is \(40, 48\)"):
        phase_map_from_mask(VirtualMicroscope(s), np.ones((3, 3), bool), 3)
    # named, not scikit-learn's or numpy's words ("The 'n_clusters' parameter of KMeans...", "zero-size array")
    for bad in ({"n_phases": 0}, {"k": 0}, {"n_phases": 2.5}, {"explore": float("nan")}, {"patience": 0}):
        with pytest.raises(DataError, match=f"{next(iter(bad))} must be"):
            autonomous_si(VirtualMicroscope(s), **({"n_phases": 3} | bad))
    damaged = np.array(s.data, dtype=float)
    damaged[:] = np.nan
    with pytest.raises(DataError, match="NaN or infinite values"):
        autonomous_si(VirtualMicroscope(em.Signal(damaged, axes=[{"navigate": True}, {"navigate": True}, {}])), 3)


def test_a_stable_ari_beyond_one_no_counts_and_an_empty_mask_are_named(eds):
    """stable_ari=1.5 ran to the budget silently; all-zero counts were scikit-learn's "Found array with 0
    feature(s)", an empty mask numpy's "cannot reshape array of size 0"."""
    s, _, _ = eds
    axes = [{"navigate": True}, {"navigate": True}, {}]
    for bad in (1.5, 0, -0.2, "0.9"):
        with pytest.raises(DataError, match=r"stable_ari must be an adjusted Rand index in \(0, 1\]"):
            autonomous_si(VirtualMicroscope(s), 3, stable_ari=bad)
    with pytest.raises(DataError, match="measured spectra hold no signal \\(every channel zero\\)"):
        autonomous_si(VirtualMicroscope(em.Signal(np.zeros((20, 24, 32)), axes=axes)), 3, fraction=0.2)
    with pytest.raises(DataError, match="mask is empty: no position is measured"):
        phase_map_from_mask(VirtualMicroscope(s), np.zeros((40, 48), bool), 3)


@pytest.mark.parametrize("mask, values", [
    (random_pattern((40, 48), 0.3, seed=0).astype(np.uint8) * 255, r"uint8 values 0, 255; for a 0/255 image of a "
                                                                    r"mask, pass mask > 0"),
    (np.full((40, 48), 0.5), r"float64 values 0.5"),
    (np.where(random_pattern((40, 48), 0.3, seed=0), 1.0, np.nan), r"float64 values 1 and NaN"),
])
def test_phase_map_from_mask_checks_its_mask_as_the_other_entry_points_do(eds, mask, values):
    """The mask was cast to bool: a 0/255 image of a mask passed as one (384 of 1280 positions measured), 0.5
    everywhere and NaN read as True (every position measured), where check_mask refuses them all."""
    s, _, _ = eds
    scope = VirtualMicroscope(s)
    with pytest.raises(DataError, match=rf"^mask must be booleans or numbers 0 and 1 \(True or 1 = measured\), got "
                                        rf"{values}$"):
        phase_map_from_mask(scope, mask, 3)
    assert scope.n_measurements == 0


def test_numpy_numbers_are_numbers_and_a_negative_seed_is_named(eds):
    # np.float32(0.3) was refused as "explore must be a finite number >= 0"; seed -1 was numpy's "expected
    # non-negative integer"
    s, _, _ = eds
    a = autonomous_si(VirtualMicroscope(s), 3, fraction=0.1, explore=np.float32(0.3), stable_ari=np.float32(0.99))
    b = autonomous_si(VirtualMicroscope(s), 3, fraction=0.1, explore=float(np.float32(0.3)),
                      stable_ari=float(np.float32(0.99)))
    np.testing.assert_array_equal(a.order, b.order)
    with pytest.raises(DataError, match=r"^seed must be a whole number >= 0 \(the same seed gives the same bits\), "
                                        r"got -1$"):
        autonomous_si(VirtualMicroscope(s), 3, seed=-1)


def test_a_reference_that_does_not_fit_the_scan_is_refused_and_an_all_random_run_flagged(eds):
    # a (5, 5) reference ended in scikit-learn's words after 216 spectra were measured
    s, _, ref = eds
    scope = VirtualMicroscope(s)
    with pytest.raises(DataError, match=r"^reference has shape \(5, 5\); real numbers of the scan's shape \(40, 48\) "
                                        r"expected \(a phase map, for the ARI curve\)$"):
        autonomous_si(scope, 3, reference=np.zeros((5, 5), int))
    assert scope.n_measurements == 0
    with pytest.warns(UserWarning, match=r"^init_fraction = 0.1 and fraction = 0.1: the seeded random start \(192 "
                                         r"positions\) takes the whole budget of 192, so no position is chosen by the "
                                         r"uncertainty of the phase map; give an init_fraction below the fraction$"):
        res = autonomous_si(scope, 3, fraction=0.1, init_fraction=0.1, reference=ref)
    assert len(res.fractions) == 1 and len(res.ari) == 1


def test_figure(eds):
    import matplotlib.figure

    s, _, ref = eds
    res = autonomous_si(VirtualMicroscope(s), 3, fraction=0.1, stable_ari=None, reference=ref)
    assert isinstance(plot_phase_run(res), matplotlib.figure.Figure)


@pytest.mark.slow
def test_signal_level_run_replays_bit_for_bit_with_noise(eds):
    from emscale.sampling.autonomous import autonomous_spectrum_imaging

    s, _, _ = eds
    a = autonomous_spectrum_imaging(s, 3, fraction=0.12, stable_ari=None, noise_dose=0.5, seed=2)
    b = autonomous_spectrum_imaging(s, 3, fraction=0.12, stable_ari=None, noise_dose=0.5, seed=2)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    assert a.fraction == pytest.approx(0.12, abs=1e-3)


def test_run_is_recorded_and_replays_bit_for_bit_from_the_file(tmp_path):
    from emscale.sampling.autonomous import autonomous_spectrum_imaging

    s0, _ = em.samples.eds_si(shape=(24, 30), n_channels=256, scale=0.04, seed=9)
    s0.save(tmp_path / "si.zarr")
    s = em.load(tmp_path / "si.zarr")
    res = autonomous_spectrum_imaging(s, 3, fraction=0.2, stable_ari=None, noise_dose=0.8, seed=3)
    assert res.history[-1]["op"] == "autonomous_spectrum_imaging"
    again = em.replay(res.history)
    np.testing.assert_array_equal(again.positions, res.positions)
    np.testing.assert_array_equal(again.phase_map, res.phase_map)
    np.testing.assert_array_equal(again.spectra, res.spectra)


def test_result_saves_and_loads(eds, tmp_path):
    from emscale.sampling.autonomous import AutonomousResult

    s, _, ref = eds
    res = autonomous_si(VirtualMicroscope(s), 3, fraction=0.08, stable_ari=None, reference=ref)
    back = AutonomousResult.load(res.save(tmp_path / "auto.npz"))
    for name, arr in res.arrays().items():
        np.testing.assert_array_equal(getattr(back, name), arr)


def test_weighted_pca_equals_the_pca_of_each_spectrum_repeated_as_often_as_its_weight():
    from emscale.sampling.autonomous import _weighted_loadings

    rng = np.random.default_rng(3)
    x = rng.poisson(rng.uniform(1, 20, (30, 40))).astype(np.float64)
    x[:, 5] = 0  # an empty channel is dropped, not divided by
    w = rng.integers(1, 5, 30).astype(np.float64)
    rep = np.repeat(x, w.astype(int), axis=0)
    first = np.concatenate([[0], np.cumsum(w.astype(int))[:-1]])
    a = _weighted_loadings(x, w, 3)
    b = _weighted_loadings(rep, np.ones(len(rep)), 3)[first]
    np.testing.assert_allclose(np.abs(a), np.abs(b), rtol=1e-9, atol=1e-12)  # up to the sign of each component
    assert not np.allclose(np.abs(a), np.abs(_weighted_loadings(x, np.ones(30), 3)))  # the weights matter


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_phases_of_the_bruker_map_from_a_quarter_of_the_positions(real_dir, seed):
    # the boundary-heavy sample, weighted as the scan area it stands for in the PCA too, finds the full-data
    # split (before: ARI 0.97 / 0.78 / 0.65 for these seeds)
    s = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", signal_type="EDS_SEM")
    ref, _ = phase_map(s, 2)
    res = autonomous_si(VirtualMicroscope(s), 2, fraction=0.25, stable_ari=None, reference=ref, seed=seed)
    assert res.ari[-1] >= 0.95, res.ari[-1]


def _line_over_continuum_scene():
    """Three phases told apart by weak lines over a strong falling continuum (a band, discs, the matrix)."""
    r = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    lab = np.zeros((48, 48), int)
    lab[(yy > 16) & (yy < 28)] = 1
    for _ in range(5):
        cy, cx = r.uniform(4, 44, 2)
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 < 3.5**2] = 2
    e = np.arange(128)
    bg = np.exp(-e / 60)

    def line(c):
        return np.exp(-((e - c) ** 2) / 8)

    spectra = np.stack([bg + 1.5 * line(30), bg + 1.2 * line(30) + line(70), bg + 2 * line(100) + 0.5 * line(30)])
    spectra /= spectra.sum(axis=1, keepdims=True)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E", "navigate": False}]
    return r.poisson(300 * spectra[lab]).astype(np.uint32), lab, axes


def test_a_simulated_lower_dose_is_still_weighted_as_counts():
    # noise_dose=0.3 serves Poisson(0.3 x) / 0.3: not whole numbers, but counts all the same. Taken for non-counts,
    # the phase model lost its Poisson scaling and the continuum's intensity swamped the lines (ARI 0.17). Three
    # seeds: one acquisition's ARI moves by 0.1-0.2 with its seed (which positions the loop measures), seed 4 of
    # scikit-learn's k-means read 0.15 simulated, 0.86 recorded. Measured with emscale's k-means: simulated
    # 0.767 / 0.817 / 0.689, recorded 0.853 / 0.797 / 0.837
    cube, lab, axes = _line_over_continuum_scene()
    s = em.Signal(cube, axes=axes, signal_type="EDS_TEM")
    scope = VirtualMicroscope(s, noise_dose=0.3)
    assert scope.count_scale == 0.3 and VirtualMicroscope(s).count_scale is None
    low = em.Signal(np.random.default_rng(5).poisson(0.3 * cube.astype(float)).astype(np.uint32), axes=axes,
                    signal_type="EDS_TEM")
    ari = np.array([[adjusted_rand_index(lab, autonomous_spectrum_imaging(
        x, 3, fraction=0.25, stable_ari=None, seed=seed, **kw).phase_map) for x, kw in ((s, {"noise_dose": 0.3}),
                                                                                      (low, {}))]
        for seed in (1, 2, 3)])
    assert ari.min() > 0.65, ari
    assert abs(np.mean(ari[:, 0]) - np.mean(ari[:, 1])) < 0.1, ari


class _Detector:
    """A user's microscope (not a VirtualMicroscope): serves ``s`` through ``damage(spectra)``."""

    def __init__(self, s, damage):
        self._scope, self.damage = VirtualMicroscope(s), damage
        self.scan_shape, self.scan_axes, self.signal_axes = (self._scope.scan_shape, self._scope.scan_axes,
                                                             self._scope.signal_axes)
        self.n_measurements = self.dose_spent = self.time_spent = 0

    def measure(self, positions):
        return self.damage(self._scope.measure(positions))


def _nan_in_the_first(x):
    x = x.copy()
    x[0, 7] = np.nan
    return x


@pytest.mark.parametrize("damage, message", [
    # a NaN ended in scikit-learn's KMeans "Input X contains NaN"
    (_nan_in_the_first, r"_Detector.measure of 96 positions returned NaN or infinite values at 1 of them \(the "
                        r"first at row 0, column \d+\)"),
    (lambda x: x[:, :-1], r"_Detector.measure of 96 positions returned shape \(96, 511\); \(96, 512\) expected "
                          r"\(one spectrum per position\)"),
    (lambda x: x[:-1], r"returned shape \(95, 512\); \(96, 512\) expected"),
    (lambda x: x[..., None], r"returned shape \(96, 512, 1\); \(96, 512\) expected"),
])
def test_what_a_users_microscope_returns_is_checked(eds, damage, message):
    s, _, _ = eds
    with pytest.raises(DataError, match=message):
        autonomous_si(_Detector(s, damage), 3)
    with pytest.raises(DataError, match=message.replace("96", "1920").replace("95", "1919")):
        phase_map_from_mask(_Detector(s, damage), np.ones((40, 48), bool), 3)


class _FailingScope(VirtualMicroscope):
    def __init__(self, s, fail_at: int):
        super().__init__(s)
        self.calls, self.fail_at = 0, fail_at

    def measure(self, positions):
        self.calls += 1
        if self.calls == self.fail_at:
            raise TimeoutError("detector did not answer")
        return super().measure(positions)


def test_an_interrupted_run_keeps_its_spectra(eds, tmp_path):
    # a TimeoutError at the 5th call lost 336 measured spectra; a finished run kept no spectrum either
    s, _, _ = eds
    scope = _FailingScope(s, 5)
    with pytest.raises(TimeoutError) as caught:
        autonomous_si(scope, 3, fraction=0.5, stable_ari=None, seed=2)
    part = caught.value.partial_result
    assert len(part.positions) == scope.n_measurements == len(part.measurements) > 0
    rows, cols = part.positions.T
    np.testing.assert_array_equal(part.measurements, np.asarray(s.data)[rows, cols])
    assert part.stopped_by() == (f"interrupted after {scope.n_measurements} positions by TimeoutError: detector "
                                 "did not answer")
    assert (part.phase_map >= 0).all() and len(part.fractions) == 4  # the map of the last round done
    back = type(part).load(part.save(tmp_path / "part.npz"))
    np.testing.assert_array_equal(back.measurements, part.measurements)
    done = autonomous_si(VirtualMicroscope(s), 3, fraction=0.1, stable_ari=None, seed=2)
    np.testing.assert_array_equal(done.measurements, np.asarray(s.data)[tuple(done.positions.T)])


def test_a_dose_budget_stops_the_run(eds):
    s, _, _ = eds
    scope = VirtualMicroscope(s, dose=4.0)
    res = autonomous_si(scope, 3, fraction=0.5, stable_ari=None, batch_size=25, seed=1, max_dose=2000.0)
    assert len(res.positions) == 500 == scope.n_measurements
    assert res.stopped_by() == "dose budget spent: 2000 of 2000 electrons"
    run = autonomous_spectrum_imaging(s, 3, fraction=0.5, stable_ari=None, seed=1, max_dose=300.0)
    assert len(run.positions) == 300 and run.history[-1]["op"] == "autonomous_spectrum_imaging"


def test_a_random_start_that_takes_longer_than_max_time_is_refused_before_any_measurement(eds):
    """max_time = 0.2 s at 0.01 s a position: the random start (96 positions) took 0.96 s, 4.8 times the limit, with
    no warning (the reporter's 32 x 40 scan: 0.64 s of 0.2)."""
    s, _, _ = eds
    scope = VirtualMicroscope(s, dwell_time=0.01)
    with pytest.raises(DataError, match=r"^max_time = 0.2 s: the seeded random start \(96 positions, init_fraction = "
                                        r"0.05 of the 1920-position scan, at 0.01 s each\) alone costs 0.96 s; give "
                                        r"an init_fraction of at most 0.0104 \(20 positions\) or a max_time of at "
                                        r"least 0.96$"):
        autonomous_si(scope, 3, fraction=0.5, max_time=0.2, seed=0)
    assert scope.n_measurements == 0
    res = autonomous_si(scope, 3, fraction=0.5, max_time=0.3, init_fraction=0.01, stable_ari=None, seed=0)
    assert scope.n_measurements == 30 and res.stopped_by() == "time budget spent: 0.3 of 0.3 s"


def test_spectra_that_are_not_counts_are_said_and_the_weighting_used_is_recorded(eds):
    """Counts x 0.5 or + 0.1 switched the phase model from Poisson-weighted to unweighted PCA without a word (the
    Bruker map: ARI 0.874 against the uint16 run). Scaled counts are weighted as decompose takes them (every value a
    whole multiple of one quantum: the same run, bit for bit); spectra that are not counts are said once, with the
    way to declare counts, and every run records the weighting it used."""
    s, _, ref = eds
    axes = [a.to_dict() for a in s.axes]
    np.testing.assert_array_equal(phase_map(em.Signal(np.asarray(s.data, float) * 0.5, axes=axes), 3)[0], ref)
    kw = dict(fraction=0.1, stable_ari=None, seed=0)
    counts = autonomous_si(VirtualMicroscope(s), 3, **kw)
    assert counts.info["poisson"] == "on (automatic: counts)"
    half = autonomous_si(VirtualMicroscope(em.Signal(np.asarray(s.data, float) * 0.5, axes=axes)), 3, **kw)
    np.testing.assert_array_equal(half.positions, counts.positions)
    assert half.info["poisson"] == "on (automatic: every value a whole multiple of 0.5, scaled counts)"
    offset = em.Signal(np.asarray(s.data, float) + 0.1, axes=axes)
    with pytest.warns(UserWarning) as caught:
        off = autonomous_si(VirtualMicroscope(offset), 3, **kw)
    said = [str(w.message) for w in caught if "Poisson" in str(w.message)]
    assert said == ["autonomous_si: Poisson weighting off (automatic: not counts: values that are not whole numbers "
                    "(e.g. 0.1) nor whole multiples of one quantum); the phase model is an unweighted PCA, led by the "
                    "brightest channels. For counts stored scaled or with an offset pass poisson=True (or give the "
                    "microscope a count_scale, detector counts per unit of a value); poisson=False says they are not "
                    "counts and silences this"]
    assert off.info["poisson"].startswith("off (automatic: not counts")
    declared = autonomous_si(VirtualMicroscope(offset), 3, poisson=True, **kw)
    assert declared.info["poisson"] == "on (poisson=True)"
    scope = VirtualMicroscope(s)
    with pytest.raises(DataError, match="^poisson must be True or False, got 'yes'$"):
        autonomous_si(scope, 3, poisson="yes")
    assert scope.n_measurements == 0


def test_the_run_gives_its_phases_as_signals_on_the_scans_axes(tmp_path):
    """The result held bare arrays: the scan's calibration was lost and nothing could go on from it as a Signal."""
    from emscale.sampling import scan_mask
    from emscale.sampling.autonomous import AutonomousResult, autonomous_spectrum_imaging

    s0, _ = em.samples.eds_si(shape=(24, 30), n_channels=256, scale=0.04, seed=9)
    s0.save(tmp_path / "si.zarr")
    s = em.load(tmp_path / "si.zarr")
    res = autonomous_spectrum_imaging(s, 3, fraction=0.2, stable_ari=None, seed=3)
    m, sp = res.phases, res.phase_spectra
    assert [(a.name, a.scale, a.offset, a.units) for a in m.axes] == \
        [(a.name, a.scale, a.offset, a.units) for a in s.axes[:2]]
    assert m.nav_ndim == 0 and np.array_equal(m.data, res.phase_map) and set(np.unique(m.data)) == {0, 1, 2}
    assert np.array_equal(scan_mask(m), res.order >= 0) and not em.core.signal.is_sparse_scan(m)
    assert sp.axes[1].scale == s.axes[2].scale and sp.axes[1].offset == s.axes[2].offset and sp.shape == (3, 256)
    assert m.history[-1]["op"] == "phases" and m.history[-2]["op"] == "autonomous_spectrum_imaging"
    np.testing.assert_array_equal(em.replay(m.history).data, m.data)
    res.save(tmp_path / "run.npz")
    back = AutonomousResult.load(tmp_path / "run.npz")
    assert back.phases.axes == m.axes and back.phase_spectra.axes == sp.axes
