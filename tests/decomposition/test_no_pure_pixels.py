"""Separation accuracy on ground-truth scenes without pure pixels (issue 17): the pure-pixel rotation of NMF/MCR
must not make the default worse than the solver's own factorisation (``pure_pixels=False``), and EDS scenes with
>= 200 counts/pixel are separated to <= 2 degrees (median spectral angle, Hungarian matching)."""

import numpy as np
import pytest

import emscale.decomposition.mcr as mcr_module
from emscale.decomposition import decompose
from groundtruth import (
    alloy_scene,
    counts_signal,
    cube_energy_axis,
    eds_spectra,
    flakes_and_particles,
    grain_boundary_segregation,
    grain_scene,
    lines_over_continuum_scene,
    make_cube,
    mixed_scene,
    particles_on_film,
    particles_on_substrate,
    separation_floor,
    spectral_angles,
)


def _median_angle(d, spectra) -> float:
    return float(np.median(spectral_angles(d.factors_array.T, spectra)))


def test_eds_gradient_is_not_taken_for_pure_pixels():
    """A smooth compositional gradient: the candidate groups are mixtures and 24 % of the pixels lie outside
    their simplex, so the pure-pixel rotation is refused (it used to be applied regardless; HyperSpy's NMF: 25.6
    degrees on this scene). Each phase has a line of its own, so the spectra's end of the family is taken: 2.8
    degrees against the solver's own 3.1 (64 x 64 x 512)."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200, seed=3)
    d = decompose(s, "nmf", n_components=3)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_evidence"]
    assert d.info["pure_pixel_reason"].startswith("no pure pixels")
    assert d.info["pure_pixel_evidence"]["outside_fraction"] > 0.1
    assert d.info["pure_channel_rotation"], d.info["pure_channel_reason"]
    # what was done, not the evidence's "the solver's own factorisation is kept"
    assert d.info["pure_pixel_reason"].endswith("; the spectra's end taken"), d.info["pure_pixel_reason"]
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert _median_angle(d, truth.spectra) <= min(3.0, _median_angle(raw, truth.spectra))


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("seed, target", [(0, 2.0), (2, 7.0), (3, 2.0)])
def test_eds_mixtures_take_the_pure_channel_member(method, seed, target):
    """Without pure pixels, at 2000 counts/pixel, the solvers stop anywhere in the family of equally good
    factorisations (NMF 1.7-18.4, MCR 6.0-11.2 degrees from the truth on these gradients); each phase's own
    lines pin the spectra's end of it (:func:`.purity.pure_channel_rotation`): NMF 1.6 / 6.2 / 1.6, MCR 1.5 /
    6.3 / 1.7 degrees."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=2000,
                           seed=seed)
    d = decompose(s, method, n_components=3)
    raw = decompose(s, method, n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and d.info["pure_channel_rotation"], d.info["pure_channel_reason"]
    assert d.info["pure_channel_reason"].startswith("pure channels")
    assert d.info["pure_channel_evidence"]["outside_fraction"] <= 0.01
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(target, a_raw), (a, a_raw)


@pytest.mark.parametrize("layout", ["blobs", "gradient"])
def test_the_spectras_end_stops_once_its_spectra_settle(monkeypatch, layout):
    """EDS mixtures without pure pixels whose end is the spectra's, from NNDSVDa (sparse counts): the updates stop
    once the pure-channel member's spectra settle, not after the loss rule's drift along the family (issue 17's
    rank-2 scenes at 2000 counts/pixel: 460 / 530 iterations -> 170 / 180, 0.30 / 0.30 -> 0.29 / 0.28 degrees).
    The stop rules alone, with the plain updates (with the updates' jumps, the default, both stop sooner: 140 / 260
    on the blobs)."""
    from emscale.decomposition import purity

    s, truth = mixed_scene(rank=2, kind="eds", layout=layout, counts=2000, seed=25)
    d = decompose(s, "nmf", n_components=2, extrapolate=False)
    assert d.info["start"] == "nndsvda" and d.info["pure_channel_rotation"]
    assert d.info["stopped_by"] == "rotated spectra settled"
    monkeypatch.setattr(purity, "SETTLED_DEGREES", 0.0)  # the loss rule alone
    full = decompose(s, "nmf", n_components=2, extrapolate=False)
    assert full.info["stopped_by"] == "loss" and full.info["pure_channel_rotation"]
    assert d.info["n_iter"] <= full.info["n_iter"] / 2, (d.info["n_iter"], full.info["n_iter"])
    a, a_full = (spectral_angles(x.factors_array.T, truth.spectra) for x in (d, full))
    assert np.max(np.abs(a - a_full)) < 0.05, (a, a_full)


@pytest.mark.parametrize("options", [{"loss": "frobenius"}, {"fit_pixels": 1500}])
def test_the_pure_channel_member_on_the_other_nmf_routes(options):
    """HALS (Gaussian evidence, the pass-based route) and the subset fit with a loadings pass: 1.45 and 1.83 degrees
    against the solvers' own 15.2 and 21.5."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=2000, seed=0)
    d = decompose(s, "nmf", n_components=3, **options)
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False, **options)
    assert d.info["pure_channel_rotation"], d.info["pure_channel_reason"]
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= 2.0 and a_raw > 10.0, (a, a_raw)


@pytest.mark.parametrize("layout, seed", [("gradient", 1), ("gradient", 3), ("blobs", 2)])
def test_a_phase_without_a_line_of_its_own_keeps_the_solvers_spectra(layout, seed):
    """Phase 0's only line is also phase 1's (as Si beside SiO2): pinning each phase's most extreme channels
    would strip that line from phase 1. The channels outside the groups' simplex show it (4-16 % here, at most 1 %
    where the pure-channel member was right), and the solver's own factorisation is kept, bit for bit."""
    s, truth = mixed_scene(rank=3, kind="eds", layout=layout, shape=(64, 64), n_channels=512, counts=2000,
                           seed=seed, own_lines=False)
    d = decompose(s, "nmf", n_components=3)
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and not d.info["pure_channel_rotation"]
    assert d.info["pure_channel_reason"].startswith("no pure channels"), d.info["pure_channel_reason"]
    assert d.info["pure_channel_evidence"]["outside_fraction"] > 0.03
    np.testing.assert_array_equal(d.factors_array, raw.factors_array)


def test_an_mcr_rotation_is_judged_by_its_exact_non_negative_fit():
    """MCR refits the concentrations to the rotated spectra and refuses a rotation that fits the data worse than its
    own. Clipped least squares is no fit of spectra whose least-squares concentrations go negative: on EELS cubes at
    200 counts/pixel the clipped refit of rotated spectra 3-8 degrees from the truth read 7-10 x the solver's own and
    the rotation was refused, keeping the solver's own at 15-39 degrees. Their exact non-negative concentrations fit
    as well as the solver's own (1.004-1.006 x); the rotation is taken, and the result says which refit ran."""
    for rank, pure, seed, own_angle, target in [(2, False, 1, 14.0, 3.5), (4, True, 1, 20.0, 8.0)]:
        s, truth = make_cube(rank, "eels", shape=(48, 48), n_channels=512, counts=200, seed=seed, pure=pure)
        d = decompose(s, "mcr", n_components=rank)
        own = decompose(s, "mcr", n_components=rank, pure_pixels=False)
        assert d.info["pure_pixel_rotation"] and d.info["rotation_loss_ratio"] < 1.02
        assert d.info["rotation_refit"].startswith("exact non-negative concentrations (the clipped ones fit ")
        assert _median_angle(d, truth.spectra) < target < own_angle < _median_angle(own, truth.spectra)
        # recorded before the option (exact_refit=False), as that run did: the clipped refit refuses the rotation
        old = decompose(s, "mcr", n_components=rank, exact_refit=False)
        assert not old.info["pure_pixel_rotation"] and old.info["rotation_loss_ratio"] > 4
        assert "rotation_refit" not in old.info
        np.testing.assert_array_equal(old.factors_array, own.factors_array)


def test_an_mcr_pixel_end_that_leaves_the_family_of_equal_fits_is_refused():
    """A four-phase EDS gradient (200 counts/pixel, no pure pixels): the groups, 42 % mixed in the solver's own
    factorisation, passed the single pixels' evidence (4.2 % outside) and the map (a plateau of 0.54, 13 % beyond),
    and MCR rotated its spectra to 32-43 degrees from the truth against its own 10-20. The rotated spectra refit
    1.7 % worse than the solver's own, exactly (2.5 x clipped): no member of the family of equally good fits,
    whose members refit to a few parts in a thousand. Refused, the solver's own is kept bit for bit."""
    s, truth = mixed_scene(rank=4, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200, seed=0)
    d = decompose(s, "mcr", n_components=4)
    own = decompose(s, "mcr", n_components=4, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and not d.info["pure_channel_rotation"]
    assert 1.015 < d.info["rotation_loss_ratio"] < 1.02, d.info["rotation_loss_ratio"]
    assert "(the clipped ones fit 2.469 x the solver's own squared residual, the exact ones 1.01" in \
        d.info["rotation_refit"]
    assert d.info["pure_pixel_reason"].startswith("pure-pixel rotation refused: its spectra, their concentrations "
                                                  "refitted exactly, fit the data 1.01"), d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_evidence"]["outside_fraction"] < 0.1  # the single pixels' evidence passed
    np.testing.assert_array_equal(d.factors_array, own.factors_array)
    assert _median_angle(d, truth.spectra) < 20.0
    # recorded before the exact refit (exact_refit=False), as that run did: the rotation is taken
    old = decompose(s, "mcr", n_components=4, exact_refit=False)
    assert old.info["pure_pixel_rotation"] and "rotation_refit" not in old.info
    assert _median_angle(old, truth.spectra) > 35.0


def test_an_mcr_rotation_that_breaks_the_fit_is_refused(monkeypatch):
    """Where even the exact refit fits the data worse than the solver's own by more than purity.MAX_LOSS_RATIO, the
    rotation is refused and the solver's own kept, bit for bit (the bound lowered under the exact refit's 1.004 x
    here). A smooth EELS mixture of four phases (200 counts/pixel), whose extreme mixtures pass the single pixels'
    evidence (2.6 % outside), was refused by the clipped refit alone (400 x) and is rotated now, as NMF is: on a
    mixture without pure pixels neither end is the physical member (18.8 degrees from the truth against the
    solver's own 22.7)."""
    s, truth = make_cube(2, "eels", shape=(48, 48), n_channels=512, counts=200, seed=1, pure=False)
    monkeypatch.setattr(mcr_module, "MAX_LOSS_RATIO", 1.001)
    d = decompose(s, "mcr", n_components=2)
    own = decompose(s, "mcr", n_components=2, pure_pixels=False)
    # the ratio said is the exact refit's, on which the rotation was refused (the clipped refit read 10.2 x)
    assert not d.info["pure_pixel_rotation"] and 1.001 < d.info["rotation_loss_ratio"] < 1.01
    assert "(the clipped ones fit 10.19 x the solver's own squared residual, the exact ones 1.00" in \
        d.info["rotation_refit"]
    assert d.info["pure_pixel_reason"].startswith("pure-pixel rotation refused: its spectra fit the data 1 x worse")
    np.testing.assert_array_equal(d.factors_array, own.factors_array)
    monkeypatch.undo()
    s, truth = mixed_scene(rank=4, kind="eels", layout="blobs", shape=(64, 64), n_channels=512, counts=200, seed=47)
    d = decompose(s, "mcr", n_components=4)
    assert d.info["pure_pixel_rotation"] and d.info["rotation_loss_ratio"] < 1.02
    assert "the clipped ones fit 399.5 x" in d.info["rotation_refit"]
    s, truth = make_cube(3, "eels", shape=(48, 48), n_channels=512, counts=200, seed=3)
    d = decompose(s, "mcr", n_components=3)
    own = decompose(s, "mcr", n_components=3, pure_pixels=False)
    assert d.info["pure_pixel_rotation"] and d.info["rotation_loss_ratio"] < 1.02 and "rotation_refit" not in d.info
    assert _median_angle(d, truth.spectra) < _median_angle(own, truth.spectra)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("seed, counts", [(0, 200), (1, 2000)])
def test_alloy_phases_keep_the_pure_pixel_member(method, seed, counts):
    """Two phases made of the same elements in different proportions, each present pure (a two-phase alloy): the
    blob scenes read the other way round. Here the pure-pixel member is the truth (NMF 1.59 / 0.58 degrees, MCR
    1.65 / 0.58; the solvers' own 10.1 / 9.1 and 6.8 / 1.4); the spectra's end passes its evidence as well (0 % of
    the channels outside: a line segment has no outside) but strips each phase of the other's elements (14-17
    degrees). What keeps the pure pixels is the shape of their regions (:func:`.purity.settle_ends`): each phase
    fills regions of constant composition (plateau fractions 0.51 and 0.60 for the most disputed phase, against
    at most 0.44 on the blob mixtures)."""
    from emscale.decomposition.purity import MIN_PLATEAU, pure_channel_rotation

    s, spectra = alloy_scene(rank=2, counts=counts, seed=seed)
    d = decompose(s, method, n_components=2)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert min(d.info["pure_channel_evidence"]["plateau_fractions"].values()) >= MIN_PLATEAU
    assert _median_angle(d, spectra) <= 2.0
    apply, _, reason, rot = pure_channel_rotation(d.loadings_array, d.factors_array.T)
    assert apply, reason
    assert float(np.median(spectral_angles(rot[1], spectra))) >= 10.0


@pytest.mark.slow
@pytest.mark.parametrize("method, target", [("nmf", 2.0), ("mcr", 2.2)])
@pytest.mark.parametrize("seed, counts", [(34, 200), (31, 2000), (3, 2000)])
def test_eds_blob_plateaus_take_the_spectras_end(method, target, seed, counts):
    """Smooth Gaussian-blob mixtures: the groups pass the pure-pixel evidence (1-6 % of the pixels outside, as the
    demo's 4.6 %), and so do the spectra's end's. The groups' components reach the vertex only at the blobs' cores
    (20-49 % of their domains, against 78 % for the demo's SiO2 layer, :mod:`.regions`), so the spectra's end is
    taken. The pure-pixel rotation used to be applied: NMF 18.0 / 20.8 / 15.7 degrees; now 1.68 / 1.14 / 1.58
    (the solver's own 3.18 / 10.6 / 7.42); MCR 1.94 / 0.97 / 1.77 (its own 6.2 / 14.3 / 11.9)."""
    from emscale.decomposition.purity import MIN_PLATEAU

    s, truth = mixed_scene(rank=3, kind="eds", layout="blobs", shape=(64, 64), n_channels=512, counts=counts,
                           seed=seed)
    d = decompose(s, method, n_components=3)
    raw = decompose(s, method, n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and d.info["pure_channel_rotation"], d.info["pure_channel_reason"]
    assert d.info["pure_pixel_reason"].startswith("pure pixels refused")
    assert min(d.info["pure_pixel_regions"]["plateau_fractions"].values()) < MIN_PLATEAU
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(target, a_raw), (a, a_raw)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("rank, seed", [(2, 32), (3, 30), (2, 31)])
def test_a_blob_core_that_fills_a_plateau_is_not_held_at_its_pixels(method, rank, seed):
    """Smooth blob mixtures at 200 counts/pixel where one blob's core fills a plateau by chance (0.45-0.49 of its
    domain, over MIN_PLATEAU) while the others do not: that core is a mixture, and it holds the other phases' lines
    only by its mixing (0.22-0.26 of their counts, purity.line_shares), not as a substrate holds its particles' element
    (0.5 and more). Held at its pixels (the mixed end) it went 10-24 degrees from the truth, the solver's own 3-11
    median; now the spectra's end is taken for every component: at most 4.5 degrees. Seed 31: the pixel end is
    refused as a whole, and the core (plateau 0.45, share 0.50) has 4.2 % of the pixels beyond it, no vertex
    (purity.substrate_of_refused, NARROW_BEYOND): held, NMF went 2.3 -> 8.4 degrees."""
    s, truth = mixed_scene(rank=rank, kind="eds", layout="blobs", shape=(64, 64), n_channels=512, counts=200, seed=seed)
    d = decompose(s, method, n_components=rank)
    raw = decompose(s, method, n_components=rank, pure_pixels=False)
    assert "mixed_end" not in d.info and d.info["pure_channel_rotation"], d.info["pure_pixel_reason"]
    found = spectral_angles(d.factors_array.T, truth.spectra)
    assert max(found) <= 5.0 and np.median(found) <= _median_angle(raw, truth.spectra), found


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known limitation (purity.rotation_evidence): EELS edges ride on every "
                   "phase's background, so there is no spectra's end to weigh against the pure pixels, and a blob's "
                   "plateau passes for a pure region (5.9 % of the pixels outside): 21.5 degrees against the solver's "
                   "own 19.2")
def test_eels_blob_plateaus_keep_the_solvers_factorisation():
    s, truth = mixed_scene(rank=3, kind="eels", layout="blobs", shape=(64, 64), n_channels=512, counts=200, seed=37)
    d = decompose(s, "nmf", n_components=3)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_evidence"]


def _al_to_ag(spectrum: np.ndarray) -> float:
    """The issue's window ratio: counts at Al Ka over counts at Ag La (10 eV channels from 5 eV)."""
    e = (np.arange(spectrum.size) + 0.5) * 0.01
    return float(spectrum[(e > 1.40) & (e < 1.58)].sum() / spectrum[(e > 2.90) & (e < 3.07)].sum())


@pytest.mark.parametrize("profile, ag_max, seed", [("hemisphere", 0.6, 0), ("hemisphere", 0.9, 0), ("disc", 0.6, 0),
                                                   ("disc", 0.9, 1)])
def test_particles_on_a_substrate_keep_the_substrate_out_of_the_particles_spectrum(profile, ag_max, seed):
    """The issue's real map in shape and dose (Ag particles on Al, 50 x 50 x 2048, 380 counts/pixel): Al is pure
    around the particles, Ag never is. The particles' centres pass the pure-pixel evidence (0.0 % outside), and
    NMF used to put Al Ka into the Ag spectrum (these four maps: window ratio Al Ka / Ag La 1.62 / 0.48 / 1.55 /
    0.24, Ag 55.7 / 23.1 / 54.5 / 11.3 degrees from the truth; the real map: 2.8). The centres are peaks, not
    regions (11-20 % of each component's domain at 90 % of the vertex share), so the spectra's end is taken: ratio
    0.055 / 0.034 / 0.036 / 0.015 (HyperSpy's plain NMF on the real map: 0.04), Ag 3.3 / 1.7 / 2.3 / 1.2 degrees."""
    s, spectra = particles_on_substrate(profile=profile, ag_max=ag_max, seed=seed)
    d = decompose(s, "nmf", n_components=2)
    assert not d.info["pure_pixel_rotation"], d.info["pure_channel_reason"]
    factors = d.factors_array.T
    ag = int(np.argmin([_al_to_ag(f) for f in factors]))
    assert _al_to_ag(factors[ag]) < 0.1
    assert max(spectral_angles(factors, spectra)) <= 3.5


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("pair, seed", [("Si on SiO2", 0), ("Fe on Fe oxide", 1),
                                        ("Si on a little Si in alumina", 1)])
def test_particles_whose_lines_the_substrate_holds_too_take_each_component_its_own_end(method, pair, seed):
    """Particles whose every line the substrate holds too (Si on SiO2, Fe on its oxide; 50 x 50 x 2048 at 2000
    counts/pixel): the substrate is pure around them, the particles never. Both ends pass their evidence, the
    particles' groups are peaks, not regions, and the spectra's end used to be taken for both components, stripping
    the shared line from the substrate: 12.5-17.4 degrees from the truth, the solver's own 2.0-3.5 (a reviewer's Si
    on SiO2: 41 degrees). The substrate's group fills a region of constant composition: it keeps its pure pixels,
    and only the particles are taken at their lines (the O K line they lack): 0.2-0.4 degrees. A substrate with a
    little of the particles' element (Si at 0.2 of Al) holds as small a share of their line as a blob's core mixes in
    (0.18), and is told from one by its flat region (plateau 0.85): 0.17 / 0.88 degrees; at the spectra's end 8.3."""
    s, spectra = particles_on_substrate(pair=pair, counts=2000, seed=seed)
    d = decompose(s, method, n_components=2)
    raw = decompose(s, method, n_components=2, pure_pixels=False)
    assert d.info.get("mixed_end") and "pure pixels kept for component(s)" in d.info["pure_pixel_reason"]
    found, own = spectral_angles(d.factors_array.T, spectra), spectral_angles(raw.factors_array.T, spectra)
    assert max(found) <= 2.0 and np.median(found) < np.median(own), (found, own)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_a_substrate_keeps_its_pure_pixels_where_the_particles_refuse_the_pixel_end(method):
    """Fe particles on their own oxide, where the particles' group (extreme mixtures, never pure) leaves 1.1-1.2 % of
    the pixels outside the groups' simplex by more than 6 standard errors: the pixel end is refused as a whole, and
    the spectra's end alone stripped Fe from the oxide (8.3 / 1.3 degrees from the truth with NMF, 17.5 / 1.5 with
    MCR). The oxide's own group is a vertex all the same (a plateau of 0.84 with 0.1 % of the pixels beyond) and holds
    the particles' line (0.44 of their counts there), so it keeps its pixel end and only the particles are taken at
    their lines (purity.substrate_of_refused): 0.24 / 1.3-1.5 degrees."""
    s, spectra = particles_on_substrate(pair="Fe on Fe oxide", counts=2000, seed=0)
    d = decompose(s, method, n_components=2)
    raw = decompose(s, method, n_components=2, pure_pixels=False)
    assert d.info.get("mixed_end") and "refused for the others: no pure pixels shown" in d.info["pure_pixel_reason"]
    found, own = spectral_angles(d.factors_array.T, spectra), spectral_angles(raw.factors_array.T, spectra)
    assert max(found) <= 2.0 and np.median(found) < np.median(own), (found, own)


@pytest.mark.parametrize("scene", ["Fe on Fe oxide 0", "Fe on Fe oxide 1", "gradient"])
def test_mcr_says_its_own_is_kept_where_its_misfit_refuses_the_spectras_end(scene, monkeypatch):
    """MCR refits the concentrations to the rotated spectra and refuses a rotation that fits the data worse than its
    own (purity.MAX_LOSS_RATIO). The reasons then say the solver's own is kept, not the end they had chosen: with the
    bound lowered under 1, so that every rotation is refused, they said "each of those taken at the spectra's end"
    (Fe on its oxide, the pixel end refused as a whole or weighed against the spectra's end) or "the spectra's end
    taken" (a gradient), and mixed_end named the oxide."""
    monkeypatch.setattr(mcr_module, "MAX_LOSS_RATIO", 0.5)
    if scene == "gradient":
        s, _ = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200, seed=3)
    else:
        s, _ = particles_on_substrate(pair="Fe on Fe oxide", counts=2000, seed=int(scene[-1]))
    d = decompose(s, "mcr", n_components=3 if scene == "gradient" else 2)
    assert not d.info["pure_channel_rotation"] and not d.info["pure_pixel_rotation"] and "mixed_end" not in d.info
    assert "spectra's end taken" not in d.info["pure_pixel_reason"]
    assert "taken at the spectra's end" not in d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_reason"].endswith("the spectra's end refused by its misfit (pure_channel_reason)")


def test_the_spectras_end_taken_without_pure_pixels_is_warned():
    """The spectra's end on a map mixed everywhere is an assumption the channels cannot test (each phase alone at a
    line of its own): a review's metal beside its oxide, stripped of its metal line, went unwarned at 28.6 degrees
    (MCR) where pure_pixels=False gave 5.8. Warned wherever it is taken without pure pixels; not where pure pixels
    are taken."""
    s, _ = mixed_scene(rank=4, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200,
                       own_lines=False, seed=34)
    with pytest.warns(UserWarning, match="an assumption the channels cannot test") as caught:
        d = decompose(s, "mcr", n_components=4)
    assert d.info["pure_channel_rotation"] and not d.info["pure_pixel_rotation"]
    assert "compare pure_pixels=False" in d.info["pure_channel_warning"]
    assert sum("pure_pixels=False, the solver's own" in str(w.message) for w in caught) == 1
    s, _ = make_cube(3, "eds", shape=(48, 48), n_channels=512, counts=200, seed=3)
    d = decompose(s, "mcr", n_components=3)
    assert d.info["pure_pixel_rotation"] and "pure_channel_warning" not in d.info


def test_a_group_the_map_refuses_keeps_no_component_at_its_pixels():
    """Four phases mixed along gradients, none of them pure: the map refuses the pixel end (22 % of the pixels beyond
    one group's vertex), and another group's corner of the map levels off (plateau 0.51, 0.4 % beyond) holding the
    other phases' lines by its mixing (0.85). Held at its pixels while the others took the spectra's end, MCR went
    10.6 -> 19.0 degrees from the truth (median): a mixture has no vertex to hold."""
    s, truth = mixed_scene(rank=4, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200,
                           own_lines=False, seed=34)
    d = decompose(s, "mcr", n_components=4)
    assert "mixed_end" not in d.info and "pure pixels refused" in d.info["pure_pixel_reason"], d.info
    assert _median_angle(d, truth.spectra) < 12.0


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("flake_share", [0.5, 0.35])
def test_a_flake_of_constant_mixture_beside_particles_is_not_held_at_its_pixels(method, flake_share):
    """Flat MoS2 flakes over an SiO2 substrate (a constant mixture, never pure: a plateau all the same) beside Au
    particles (no plateau), every phase with lines of its own, so the spectra's end is right for all three. The
    flake held at its pixels with the substrate (mixed_end as first written) went to 41-58 degrees from the truth
    (a reviewer's 17 such scenes: 20-67): the flake's mixture holds none of the particles' lines (share 0.002-0.004,
    purity.line_shares), so nothing is held and the spectra's end is taken for all: 0.2-0.8 degrees."""
    s, spectra = flakes_and_particles(flake_share=flake_share, seed=1)
    d = decompose(s, method, n_components=3)
    assert "mixed_end" not in d.info, d.info["pure_pixel_reason"]
    assert max(d.info["pure_channel_evidence"]["particle_line_shares"].values()) < 0.01
    assert max(spectral_angles(d.factors_array.T, spectra)) <= 1.5


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("counts, profile, ag_max, seed", [(380, "hemisphere", 0.6, 0), (200, "hemisphere", 0.6, 0),
                                                           (200, "disc", 0.6, 1)])
def test_the_spectra_end_of_particles_on_a_substrate_is_at_the_substrate_line(method, counts, profile, ag_max, seed):
    """The Al component's channel group lay on the faint continuum (4-9 keV), where the solver's Ag spectrum, a
    mixture holding Al Ka, was near zero: the solver's own spectra were pure there already, and its mixture was
    taken for the spectra's end. NMF at 200 counts/pixel: Ag 48.9 / 44.9 degrees from the truth; MCR, which itself
    ends at the pure-pixel end on these maps (Ag 52.7 degrees with pure_pixels=False at 380 counts/pixel), 56.1 /
    45.2 / 44.3 (a known limitation before). Chosen from the spectra raised to their continuum level
    (:func:`.purity.continuum_floor`), Al's group is at Al Ka: 3.1-4.7 degrees."""
    s, spectra = particles_on_substrate(counts=counts, profile=profile, ag_max=ag_max, seed=seed)
    d = decompose(s, method, n_components=2)
    factors = d.factors_array.T
    assert min(_al_to_ag(f) for f in factors) < 0.1, d.info["pure_channel_reason"]
    assert max(spectral_angles(factors, spectra)) <= 5.0


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_a_blob_plateau_of_constant_mixture_is_not_taken_for_a_phase(method):
    """Two phases in broad blobs: where one phase's blobs are absent the mixture levels off at 92 / 8 %, and the
    pure-pixel groups (a neighbourhood of hundreds of pixels) sit on that level. Judged on the pixel end's loadings
    clipped at zero, every pixel beyond a group's centre piled up at its vertex and the level read as a phase of its
    own (plateau fraction 0.47-0.52): NMF 20.7 degrees from the truth against the solver's own 5.7. Unclipped, the
    mixtures' own spread beyond the groups shows (0.24-0.32) and the spectra's end is taken: 1.6 degrees."""
    s, truth = mixed_scene(rank=2, kind="eds", layout="blobs", shape=(64, 64), n_channels=512, counts=200, seed=102)
    d = decompose(s, method, n_components=2)
    raw = decompose(s, method, n_components=2, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and d.info["pure_channel_rotation"], d.info["pure_pixel_reason"]
    assert max(d.info["pure_pixel_regions"]["plateau_fractions"].values()) < 0.4
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(2.0, a_raw), (a, a_raw)


@pytest.mark.parametrize(("layout", "seed"), [("gradient", 6), ("blobs", 5)])
def test_a_group_that_most_pixels_lie_beyond_is_no_vertex(layout, seed):
    """At 5 counts/pixel over 2048 channels a pure-pixel group of a few noisy pixels passes its evidence on a
    smooth mixture, and its spectra bound none of the data: written in them, the solver's model puts 79-98 % of
    the smoothed shares above 1 by more than their noise, yet the plateau read a phase (0.75-0.77). The pixel end
    was kept: 50.9 and 46.6 degrees from the truth against the solver's own 44.1 and 40.4. Refused now, the
    solver's own is kept."""
    s, truth = mixed_scene(rank=2, kind="eds", layout=layout, shape=(64, 64), n_channels=2048, counts=5, seed=seed)
    d = decompose(s, "nmf", n_components=2)
    raw = decompose(s, "nmf", n_components=2, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert "no vertex of the data" in d.info["pure_pixel_reason"]
    assert max(d.info["pure_pixel_regions"]["beyond_fractions"].values()) > 0.5
    assert _median_angle(d, truth.spectra) <= _median_angle(raw, truth.spectra) + 1e-9


@pytest.mark.parametrize("layout", ["blobs", "gradient"])
def test_eels_mixture_whose_groups_bound_no_region_keeps_the_solvers_own(layout):
    """EELS has no spectra's end to weigh the pixel end against, so a pixel end that passed its single pixels'
    evidence was always taken: here MCR went 4.3 -> 13.9 degrees (blobs) and 4.0 -> 11.9 (gradient). On the map,
    32-37 % of the pixels lie beyond a group's vertex by more than their noise (at most 10 % where the pure pixels
    are right): the pixel end is refused and the solver's own kept. (On the gradient 1.0 % of the pixels also lie
    outside the groups' simplex by more than 6 standard errors, which refuses it first.)"""
    s, truth = mixed_scene(rank=2, kind="eels", layout=layout, shape=(64, 64), n_channels=512, counts=200, seed=24)
    d = decompose(s, "mcr", n_components=2)
    raw = decompose(s, "mcr", n_components=2, pure_pixels=False)
    reason = d.info["pure_pixel_reason"]
    assert not d.info["pure_pixel_rotation"] and ("no vertex of the data" in reason or "standard errors" in reason)
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(5.0, a_raw + 1e-9), (a, a_raw)


@pytest.mark.parametrize(("layout", "rank", "before"), [("gradient", 2, 8.97), ("blobs", 3, 18.03)])
def test_eels_mixture_where_no_group_fills_a_plateau_keeps_the_solvers_own(layout, rank, before):
    """At 2000 counts/pixel the noise is small, and a smooth EELS mixture's extreme mixtures lie beyond their groups'
    vertex by more than it on only 7-10 % of the pixels, as pure pixels' noise does (up to 10 %). What differs is
    the map: no component's share levels off at its vertex (plateaus 0.23-0.29; where the pure pixels are right
    the flattest component fills 0.64-0.82). MCR took the pixel end: 8.97 degrees from the truth (gradient, the
    solver's own 3.86) and 18.03 (blobs, 6.44)."""
    s, truth = mixed_scene(rank=rank, kind="eels", layout=layout, shape=(64, 64), n_channels=512, counts=2000,
                           seed=10 * rank + 5)
    d = decompose(s, "mcr", n_components=rank)
    raw = decompose(s, "mcr", n_components=rank, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"]
    assert "no pure-pixel group fills a region of constant composition" in d.info["pure_pixel_reason"]
    assert max(d.info["pure_pixel_regions"]["plateau_fractions"].values()) < 0.35
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= a_raw + 1e-9 and a < before - 2.0, (a, a_raw)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_pure_layers_too_narrow_for_a_plateau_keep_the_pure_pixels(method):
    """Layers 3 pixels wide are mostly edge after the regions' smoothing: no group fills a plateau (0.33), as on a
    map mixed everywhere, but no pixel lies beyond a vertex either. Refused on the plateaus alone, the pixel end
    (1.4 degrees from the truth) gave way to the solver's own (3.1-3.3)."""
    s, truth = make_cube(2, "eels", shape=(64, 64), n_channels=512, counts=200, seed=0, layers=3)
    d = decompose(s, method, n_components=2)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    regions = d.info["pure_pixel_regions"]
    assert max(regions["plateau_fractions"].values()) < 0.44 and max(regions["beyond_fractions"].values()) <= 0.02
    assert _median_angle(d, truth.spectra) < 2.0


def test_a_refused_rotation_does_not_keep_an_early_stop():
    """MCR from the endmember start stops once the pure-pixel rotation's spectra settle, a stop that assumes the
    rotation is taken. Refused (here: 19 % of the pixels beyond a group's vertex), the solver's own was kept as it
    stood after 24 iterations, 14.3 degrees from the truth against 13.2 after the loss rule's 116: it goes on."""
    s, truth = mixed_scene(rank=2, kind="eels", layout="blobs", shape=(64, 64), n_channels=512, counts=2000, seed=25)
    d = decompose(s, "mcr", n_components=2)
    raw = decompose(s, "mcr", n_components=2, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and d.info["stopped_by"] == "loss", d.info["stopped_by"]
    assert d.info["n_iter"] == raw.info["n_iter"] == len(d.info["loss_history"])
    np.testing.assert_allclose(d.factors_array, raw.factors_array, rtol=1e-6, atol=1e-9)


def test_nmf_goes_on_where_its_rotation_is_refused_after_an_early_stop():
    """NMF from the endmember start stops once the rotated spectra settle; refused (26 % of the pixels beyond a
    group's vertex) its own factorisation stood as at that stop, 3.16 degrees from the truth after 190 iterations
    (110 with the updates' jumps, :mod:`emscale.decomposition.extrapolation`): the loss rule's end is 2.87 (2.86,
    after 180 in all). Asked for (``init="vca"``): the default's ``init="auto"`` reruns such a fit from
    NNDSVDa, the plain method's 2.43 here (the next test)."""
    s, truth = mixed_scene(rank=2, kind="eels", layout="blobs", shape=(64, 64), n_channels=512, counts=500, seed=21)
    d = decompose(s, "nmf", n_components=2, init="vca")
    reason = d.info["pure_pixel_reason"]  # 2.2 % of the pixels are also more than 6 standard errors outside
    assert not d.info["pure_pixel_rotation"] and ("no vertex of the data" in reason or "standard errors" in reason)
    assert d.info["stopped_by"] == "loss" and d.info["n_iter"] > 110
    assert _median_angle(d, truth.spectra) < 3.0


def test_an_endmember_start_whose_pure_pixels_are_refused_is_rerun_from_the_plain_start():
    """The PCA subspace of a two-phase EELS gradient shows pure pixels (0.5 % outside), so NMF started from the
    groups' endmembers; the fit's end refused them (no group fills a region), and the solver's own factorisation from
    that start was kept: 6.84 degrees from the truth where the plain method (NNDSVDa) gives 5.52. Now the fit is
    rerun from NNDSVDa there, and the default is the plain method's, bit for bit, and says why."""
    s, truth = mixed_scene(rank=2, kind="eels", layout="gradient", shape=(48, 48), n_channels=512, counts=2000,
                           seed=0)
    d = decompose(s, "nmf", n_components=2)
    raw = decompose(s, "nmf", n_components=2, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and d.info["start"] == "nndsvda"
    assert d.info["start_reason"].startswith("pure-pixel endmembers: in the PCA subspace, pure pixels")
    assert d.info["start_reason"].endswith("so the fit was rerun from NNDSVDa (the endmember start presumes them)")
    np.testing.assert_array_equal(d.factors_array, raw.factors_array)
    assert _median_angle(d, truth.spectra) < 6.0


@pytest.mark.parametrize("method, seed", [("nmf", 0), ("nmf", 1), ("mcr", 0)])
def test_pure_grains_of_close_eels_phases_at_low_counts(method, seed):
    """Every pixel pure, three EELS phases 6.5 degrees apart on a shared background, 300 counts/pixel: single noisy
    pixels do not tell the phases apart in the PCA subspace, each pure-pixel group holds two phases and is refused
    (NMF kept its own, 25.7 / 28.4 degrees on these seeds; MCR 9.7). The groups found on map-smoothed scores are
    the grains' own and pass."""
    s, truth = grain_scene(3, shape=(48, 48), n_channels=512, counts=300, seed=seed)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"] and d.info["pure_pixel_groups"].startswith("from the map-smoothed")
    assert _median_angle(d, truth.spectra) <= 3.0


@pytest.mark.parametrize("layout, seed, gate", [("blobs", 2, "% of the pixels sit at their vertices (under 50 %)"),
                                                 ("gradient", 0, "one holds 2 pixel(s), under the smoothing's 13")])
def test_map_smoothed_groups_of_a_mixture_are_not_taken(layout, seed, gate):
    """Two EELS phases mixed everywhere, 2000 counts/pixel: the single pixels' groups are refused, and the groups
    of the map-smoothed scores, the mixture's extremes, would pass the evidence and end worse than the solver's own
    (3.98 against 2.84 degrees on the blobs, 7.93 against 5.52 on the gradient). Few pixels sit at their vertices,
    or one group is a few pixels: the map shows no regions of pure phases, and they are not tried."""
    s, truth = mixed_scene(rank=2, kind="eels", layout=layout, shape=(48, 48), n_channels=512, counts=2000,
                           seed=seed)
    d = decompose(s, "nmf", n_components=2)
    own = decompose(s, "nmf", n_components=2, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and gate in d.info["pure_pixel_groups"]
    assert _median_angle(d, truth.spectra) <= _median_angle(own, truth.spectra) + 1e-9


# Passed on the randomized sketch only because the plain fit from its NNDSVDa was worse (rotated 21.9, plain 23.2
# degrees); on the exact subspace, which NMF reads on small data since 2026-12-06 as the other methods do, the plain
# fit reaches 10.0 and the rotation 17.1 (seed 3: 16.4 against 22.8 the other way). Issue 17's EELS blobs
@pytest.mark.xfail(strict=True, reason="known limitation (issue 17): the rotation on EELS blob mixtures")
def test_eels_mixture_is_no_worse_than_the_unrotated_solver():
    """EELS edges ride on the backgrounds of every phase: no channel is one phase's alone, and the spectra's end
    of the family is not tried."""
    s, truth = mixed_scene(rank=3, kind="eels", layout="blobs", shape=(48, 48), n_channels=256, counts=200, seed=2)
    d = decompose(s, "nmf", n_components=3)
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert _median_angle(d, truth.spectra) <= _median_angle(raw, truth.spectra) + 1e-9
    assert not d.info["pure_channel_rotation"]
    assert d.info["pure_channel_reason"].startswith("not tried: not EDS data")


def test_the_separation_floor_is_what_the_counts_allow():
    """The oracle the grid's failures are measured against: spectra fitted with the true maps. Its angles shrink
    as the square root of the dose (median 1.18 -> 0.46 degrees, 200 -> 2000 counts/pixel, on this small scene),
    and the default NMF, which must find the maps as well, does not beat it (2.57 and 2.11)."""
    angles = {}
    for counts in (200, 2000):
        s, truth = mixed_scene(rank=3, kind="eds", layout="blobs", shape=(48, 48), n_channels=256, counts=counts,
                               seed=34)
        angles[counts] = float(np.median(separation_floor(s, truth)))
        d = decompose(s, "nmf", n_components=3)
        assert _median_angle(d, truth.spectra) >= angles[counts] - 0.05, (counts, angles[counts])
    assert 2.0 < angles[200] / angles[2000] < 5.0, angles


# The 32 x 32 map: on the exact subspace, which NMF now reads on small data as every other method does, its groups
# lie beyond their vertices by 0.020 of the pixels, at NARROW_BEYOND, and the region test lets the rotation pass
# (15.4 degrees against the solver's own 5.5). MCR, on that subspace all along, gave 15.4 before; NMF passed on the
# randomized sketch's noisier groups (0.041 beyond). Kept strict: issue 17's rotation on mixtures without pure pixels
@pytest.mark.parametrize("kind, shape", [
    pytest.param("eds", (32, 32), marks=pytest.mark.xfail(strict=True, reason="known limitation (issue 17): the "
                                                           "region test's edge, see above")),
    ("eds", (45, 45)), ("eels", (45, 45))])
def test_a_small_map_mixed_everywhere_is_not_rotated_to_pure_pixels(kind, shape):
    """Under 2048 pixels the map was not looked at, and the extreme mixtures of a blob mixture passed as pure pixels
    (EDS 32 x 32 at 2000 counts/pixel: 15.4 degrees from the truth, the solver's own 5.5; a new user's own 45 x 45
    EDS mixture: 28 against 9.4). No component's share levels off anywhere on such a map, at this size too."""
    s, truth = mixed_scene(rank=3, kind=kind, layout="blobs", shape=shape, n_channels=512, counts=2000.0, seed=3)
    d = decompose(s, "nmf", n_components=3)
    own = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"] and "no pure-pixel group fills a region" in d.info["pure_pixel_reason"]
    assert _median_angle(d, truth.spectra) <= _median_angle(own, truth.spectra) + 2.0


@pytest.mark.parametrize("n, seed", [(20, 0), (24, 1), (40, 0)])
def test_a_small_map_of_pure_regions_keeps_its_pure_pixels(n, seed):
    """The other side of the size limit: alloy phases in regions of a small map (20 x 20 to 40 x 40) keep the pure
    pixels (2.2-2.7 degrees; refused, as the weighing of the two ends would refuse them at this size, 9-15)."""
    s, spectra = alloy_scene(2, shape=(n, n), counts=200.0, seed=seed)
    d = decompose(s, "nmf", n_components=2)
    assert d.info["pure_pixel_rotation"] and _median_angle(d, spectra) < 3.0, d.info.get("pure_pixel_reason")


GRID = [(kind, layout, rank, counts) for kind in ("eds", "eels") for layout in ("blobs", "gradient")
        for rank in (2, 3, 4) for counts in (20, 200, 2000)]


# Cells that fail today (measured 2026-12-01, the pixel end judged on the map by both its beyond fraction and its
# plateaus), marked so that the slow suite shows a new failure, not these known ones.
# Worse than the solver's own: EELS blobs and gradients at rank 4 and 200 counts/pixel, whose extreme mixtures fill
# plateaus (0.69-0.93) as phases do and lie beyond their vertex on 1-4 % of the pixels (the plateau ambiguity of
# test_alloy_phases_keep_the_pure_pixel_member), and EDS gradients at rank 4 (20 and 2000 counts/pixel).
# Above 2 degrees but better than the solver's own: nmf-eds-blobs-3-200 (2.2) and -gradient-3-200 (2.95).
# The scenes' own floors (groundtruth.separation_floor: the spectra fitted with the true maps) at 200 counts/pixel:
# blobs rank 3 1.39, gradient rank 3 2.12, blobs rank 4 3.57, gradient rank 4 2.78 degrees: 2 degrees is out of any
# factorisation's reach on the last three. At 2000 counts/pixel the rank-4 floors are 1.10 and 1.12 (the default is at
# 10.5 and 30.3 there); at 20 counts/pixel the floors are 3.2-7.7 degrees.
# 2026-12-02: MCR's cells at EELS blobs / gradients rank 4, 200 counts/pixel and EDS gradients rank 4, 2000 counts/pixel
# pass: their rotations broke the fit (2246-1.4e6 x the solver's misfit) and are refused (purity.MAX_LOSS_RATIO).
# 2026-12-02, later: nmf-eels-gradient-2-2000 passes (an endmember start whose pure pixels are refused at the end is
# rerun from NNDSVDa: 3.12, the plain method's). The evidence's model floor (purity.MODEL_FLOOR: z-scores at truly pure
# pixels spread 0.9-1.5, not 2.6-39) passes the pure pixels of EELS layers at 200 counts/pixel (24.8 -> 2.2 degrees)
# and of three low-dose pure cubes (7.4 -> 7.1, 20.0 -> 10.8, 41.6 -> 19.4), and moves nmf-eels-gradient-4-200 from
# 10.9 % outside (refused, by 0.9 %) to 4.1 %: its groups then fill plateaus (0.73-0.81) with at most 5 % of the pixels
# beyond, as nmf-eels-blobs-4-200's do, and it is rotated to 25.5 degrees against its own 17.5
# 2026-12-02, later still: the rank-4 gradients were no test. Their fractions, linear in the map's coordinates, span
# three maps (1, u, v), so four phases were affinely dependent and no data fixed their spectra (the figures above for
# them compare two arbitrary members). With squared rises (groundtruth.mixed_fractions) they are independent:
# mcr-eds-gradient-4-20 then passes, and mcr-eds-gradient-4-200 fails like NMF's cell (rotated to 33-47 degrees
# against its own 11-16: four groups of n / 2k pixels, a plateau of 0.48 passes MIN_PLATEAU). NMF's own stays at
# 14-25 degrees at 2000 counts/pixel on that scene, the pure pixels refused
# 2026-12-03 (a helper's diagnosis, each cell reproduced alone): the four cells worse than the solver's own
# (nmf-eds-gradient-4-200 36.9 against 16.5 degrees, mcr-eds-gradient-4-200 36.6 / 14.2, nmf-eels-blobs-4-200
# 28.0 / 12.6, nmf-eels-gradient-4-200 23.0 / 16.1) are all the pure-pixel rotation: groups at the size cap (n / 2k
# pixels) whose pixels are 46-66 % mixed in the solver's own factorisation. nmf-eds-blobs-4-2000 and
# nmf-eds-gradient-4-2000 are the solver's own result, both ends refused (10.5 and 21.9 degrees, no end near the
# 1.1 floor): they miss the 2-degree target only. No criterion tried (group mixing, negative mass, the rotation's
# condition number, outside fraction, plateaus, KL ratio) separates the four from right rotations on pure-pixel cubes.
# mcr-eds-gradient-4-200 passes since purity.MAX_LOSS_RATIO is 4 (its rotation read 6.78 x the solver's misfit)
# 2026-12-05: mcr-eds-gradient-4-20 fails by 0.003 degrees (52.123 against its own 52.120): at 20 counts/pixel the
# solver's spectra are pure at their channel groups already (sparse), the groups chosen again from the continuum level
# (purity.continuum_floor) give a member 1.5 degrees from the solver's that passes its evidence, and no spectrum is
# within 50 degrees of the truth either way
# 2026-12-06: it passes since a plateau is read against the vertex share less its noise near the vertex
# (regions.region_shapes); no other cell changed its verdict
KNOWN_FAILURES = {
    ("nmf", "eds", "blobs", 3, 200), ("nmf", "eds", "blobs", 4, 200), ("nmf", "eds", "blobs", 4, 2000),
    ("nmf", "eds", "gradient", 3, 200),
    ("nmf", "eds", "gradient", 4, 200), ("nmf", "eds", "gradient", 4, 2000),
    ("nmf", "eels", "blobs", 4, 200), ("nmf", "eels", "gradient", 4, 200)}


@pytest.mark.slow
@pytest.mark.parametrize("kind, layout, rank, counts", GRID)
@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_default_is_never_worse_than_the_unrotated_solver(method, kind, layout, rank, counts, request):
    """The issue's held-out size (96 x 96 pixels, 1024 channels)."""
    if (method, kind, layout, rank, counts) in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=False, reason="known limitation (issue 17): see KNOWN_FAILURES"))
    s, truth = mixed_scene(rank=rank, kind=kind, layout=layout, counts=counts, seed=10 * rank + counts % 7)
    d = decompose(s, method, n_components=rank)
    raw = decompose(s, method, n_components=rank, pure_pixels=False)
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= a_raw + 1e-9, (a, a_raw, d.info["pure_pixel_evidence"])
    if kind == "eds" and counts >= 200 and method == "nmf" and a > 2.0:
        floor = float(np.median(separation_floor(s, truth)))  # what the counts allow, for the message
        pytest.fail(f"{a:.2f} degrees, above 2 (the scene's own floor: {floor:.2f}); {d.info['pure_pixel_evidence']}")


def test_a_subset_fit_keeps_the_pure_pixels_and_says_why():
    """The subset route (``fit_pixels``) fits the spectra on scattered pixels, too sparse a map to judge regions (a
    constant 70 % region at 50 counts/pixel scores 0.89 with every pixel, 0.48 with a tenth of them), so the
    two ends are not weighed (:func:`.purity.settle_ends`) and the pure pixels passed by their evidence are kept:
    the particles' Al stays in the Ag spectrum there, and the result says so."""
    s, spectra = particles_on_substrate(profile="hemisphere", ag_max=0.6, seed=0)
    d = decompose(s, "nmf", n_components=2, fit_pixels=1500)
    assert d.info["pure_pixel_rotation"]
    assert d.info["pure_channel_reason"].startswith("not tried: the pure pixels passed their evidence and the "
                                                    "spectra were fitted on a scattered subset")


def test_pure_phases_that_blend_softly_and_share_their_lines_keep_the_pure_pixels():
    """Two of the three phases have no line of their own (their largest share of any channel is 0.6), so the
    spectra's end is wrong (21.0 / 31.2 degrees) yet passes its evidence; the phases blend softly around their pure
    regions. One group's plateau read 0.27 (a mixture) and the spectra's end was taken, while the regions read as
    the tops of mixtures only because their vertex share was lifted by the single pixels' noise
    (:func:`.regions.region_shapes`). Now 0.59 / 0.62: the pure pixels kept, 0.81 / 10.3 / 0.99 degrees."""
    s, truth = make_cube(3, "eds", shape=(128, 128), n_channels=1024, counts=200, seed=5)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert _median_angle(d, truth.spectra) <= 2.0


@pytest.mark.parametrize("film, seed", [("SiN", 0), ("SiN", 2), ("C", 0), ("C", 1)])
@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_particles_on_a_support_film_get_their_own_spectra(method, film, seed):
    """TEM: Ag and TiO2 spheres on a SiN film that the beam crosses in every pixel. A dense sphere's share levels
    off at its centre (a plateau), so the pure pixels were kept, and the particles' spectra were particle-and-film
    mixtures 16-18 degrees from the truth (a reviewer; pure_pixels=False 3-13). The film goes on under the
    particles at the spectra's end (purity.substrate_levels): that end is taken. On a carbon film with Cu lines
    under Au and Fe2O3 the two ends differ by only 3-6 degrees (under DISPUTED_DEGREES), and the pure pixels were
    kept the same way (5-6 degrees; the solver's own 2-4)."""
    kw = {} if film == "SiN" else {"film_counts": 100.0, "particle_counts": 1500.0}
    s, spectra = particles_on_film(seed=seed, film=film, **kw)
    d = decompose(s, method, n_components=3)
    raw = decompose(s, method, n_components=3, pure_pixels=False)
    a, a_raw = _median_angle(d, spectra), _median_angle(raw, spectra)
    assert d.info["pure_channel_rotation"] and not d.info["pure_pixel_rotation"]
    assert "a support seen through particles" in d.info["pure_pixel_reason"]
    assert a < 1.5 and a <= a_raw, (a, a_raw)
    assert max(np.asarray(spectral_angles(d.factors_array.T, spectra))) < 1.5


@pytest.mark.parametrize("method, seed", [("mcr", 0), ("nmf", 0), ("nmf", 1)])
def test_particles_sharing_a_line_with_their_film_keep_it(method, seed):
    """BaTiO3 and FeO spheres on a TiO2 film (issue 17, a reviewer's finding): BaTiO3's Ti K line is the film's too.
    The spectra's end strips it from BaTiO3 and hands those counts to the film, which then grows under the BaTiO3
    spheres to 2.6-4.3 times its own level (purity.FILM_OVER_EACH): not a film of one thickness. That end was taken as
    a support seen through particles, BaTiO3 or FeO 10.0-13.2 degrees from the truth; now neither end is taken there,
    and the fit ends at the solver's own or at the pure pixels: at most 3.6 degrees."""
    s, spectra = particles_on_film(film="TiO2", film_counts=150.0, particle_counts=1500.0, shape=(48, 48),
                                   n_channels=2048, n_particles=12, seed=seed)
    d = decompose(s, method, n_components=3)
    found = spectral_angles(d.factors_array.T, spectra)
    assert not d.info["pure_channel_rotation"], (found, d.info["pure_channel_reason"])
    assert max(found) < 4.0, found


def test_a_film_growing_under_particles_is_said():
    """The verdict of test_particles_sharing_a_line_with_their_film_keep_it where it ends the fit: the film's level
    under the BaTiO3 spheres named, and the solver's own kept (within 0.1 degrees of pure_pixels=False's fit)."""
    s, spectra = particles_on_film(film="TiO2", film_counts=150.0, particle_counts=1500.0, shape=(48, 48),
                                   n_channels=2048, n_particles=12, seed=1)
    d = decompose(s, "nmf", n_components=3)
    ev = d.info["pure_channel_evidence"]
    assert not d.info["pure_pixel_rotation"] and not d.info["pure_channel_rotation"]
    assert max(ev["film_levels_under_each"].values()) > ev["film_over_each"] == 2.0, ev
    assert d.info["pure_channel_reason"].startswith("not taken: component 2 goes on under the disputed components")
    assert "(over 200 %: not a film of one thickness" in d.info["pure_channel_reason"]
    assert d.info["pure_pixel_reason"].endswith("the solver's own factorisation is kept")
    own = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert max(spectral_angles(d.factors_array.T, own.factors_array.T)) < 0.1


@pytest.mark.parametrize("film_counts, particle_counts, seed, method, worst", [
    (20, 80, 1, "nmf", 4.4), (20, 80, 2, "mcr", 4.9), (200, 200, 1, "nmf", 18.6), (200, 200, 1, "mcr", 13.4)])
def test_a_carbon_film_at_few_counts_is_read_as_a_film(film_counts, particle_counts, seed, method, worst):
    """Au and Fe2O3 on a C film at 20/80 and 200/200 film/particle counts: the film goes on under the particles at
    0.83-0.88 of its own level (purity.SUBSTRATE_LEVEL), 0.79-0.90 under each kind of particle
    (purity.FILM_UNDER_EACH), and the spectra's end is taken: 3.5-4.4 / 8.7-18.1 degrees from the truth. Raising
    the level to 0.9, as a metal beside its compound once asked for (a code review), kept the pixel end: 22 / 55."""
    s, spectra = particles_on_film(film_counts=film_counts, particle_counts=particle_counts, film="C", seed=seed)
    d = decompose(s, method, n_components=3)
    found = spectral_angles(d.factors_array.T, spectra)
    assert d.info["pure_channel_rotation"] and not d.info["pure_pixel_rotation"], (found, d.info["pure_pixel_reason"])
    assert "a support seen through particles" in d.info["pure_pixel_reason"]
    assert max(found) < worst, found


@pytest.mark.parametrize("counts, seed", [(500, 0), (5000, 1)])
@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_a_segregant_on_grain_boundaries_is_not_taken_for_pure_pixels(method, counts, seed):
    """Two grain phases and a segregant on the one-pixel boundaries (never pure; a review's held-out family), on a
    map of 40 x 44 pixels: too small to weigh the two ends by their regions. The boundary pixels of one grain phase
    were taken as the segregant's vertex; those of the other then lie outside the simplex by 9-30 standard errors
    (4-6 % of the pixels, under the 10 % the noise of true vertices is allowed), and the segregant's spectrum was
    23-57 degrees off where the solver's own is 0.7-3.5. Pixels that far outside are no noise: the rotation is
    refused."""
    s, truth = grain_boundary_segregation(counts=counts, seed=seed)
    d = decompose(s, method, n_components=3)
    raw = decompose(s, method, n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"]
    assert "standard errors" in d.info["pure_pixel_reason"], d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_evidence"]["deep_outside_fraction"] > 0.01
    found, own = spectral_angles(d.factors_array.T, truth.spectra), spectral_angles(raw.factors_array.T, truth.spectra)
    assert found.max() <= own.max() + 0.5 and found.max() <= 3.6, (found, own)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_pure_grains_over_a_realistic_continuum_take_the_pure_pixels(method):
    """Real elements' lines over a bulk sample's continuum (groundtruth.lines_over_continuum_scene), Voronoi grains
    at 500 counts/pixel: the pure pixels hold (measured 1.56 / 1.47 degrees; the solver's own 6.9 / 7.7)."""
    s, truth = lines_over_continuum_scene(3, "grains", 500, seed=0)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert _median_angle(d, truth.spectra) <= 2.0


@pytest.mark.parametrize("method, seed, target", [("nmf", 1, 2.0), ("mcr", 1, 2.0), ("nmf", 0, 4.0),
                                                  ("mcr", 2, 4.0)])
def test_the_spectras_end_reads_the_lines_above_a_realistic_continuum(method, seed, target):
    """Smooth mixtures of real elements' lines over a bulk sample's continuum (each K alpha peak 1-14 x the continuum
    under it): taken alone at its line, each phase's member stripped the others' continuum from under the line,
    NMF 5.81 / 10.32 degrees from the truth against the solver's own 3.26 / 9.57 (MCR 5.40 / 9.22 against 3.91 /
    12.11). The continuum holds 28-56 % of the model at the lines' channels here (1-17 % on mixed_scene's), so the
    lines are read above the continuum at their flanks (purity.excess_rotation): 1.89 / 3.35, MCR 1.78 /
    3.65."""
    rank = 2 if seed == 1 else 3
    s, truth = lines_over_continuum_scene(rank, "smooth", 500, seed=seed)
    d = decompose(s, method, n_components=rank)
    raw = decompose(s, method, n_components=rank, pure_pixels=False)
    ev = d.info["pure_channel_evidence"]
    assert d.info["pure_channel_rotation"] and ev["above_continuum"] and ev["continuum_share"] >= 0.25, ev
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(target, a_raw), (a, a_raw)


@pytest.mark.parametrize("method, rank, seed, target", [("nmf", 2, 10, 3.0), ("mcr", 2, 10, 2.5),
                                                        ("nmf", 3, 19, 3.5), ("mcr", 3, 19, 3.5)])
def test_a_continuum_of_a_fifth_of_the_model_is_read_too(method, rank, seed, target):
    """The continuum holds 21-24 % of the model at these scenes' lines, under the first gate (25 %): the member pure at
    the lines was taken, NMF 6.0 / 5.97 and MCR 4.64 / 5.65 degrees from the truth, against the solver's own 5.97 /
    5.97 and 2.88 / 4.76. Read above the continuum: 2.7 / 3.25, MCR 1.96 / 3.14."""
    from emscale.decomposition.purity import MIN_CONTINUUM_SHARE

    s, truth = lines_over_continuum_scene(rank, "smooth", 500, seed=seed)
    d = decompose(s, method, n_components=rank)
    raw = decompose(s, method, n_components=rank, pure_pixels=False)
    ev = d.info["pure_channel_evidence"]
    assert MIN_CONTINUUM_SHARE <= ev["continuum_share"] < 0.25 and ev["above_continuum"], ev
    a, a_raw = _median_angle(d, truth.spectra), _median_angle(raw, truth.spectra)
    assert a <= min(target, a_raw), (a, a_raw)


@pytest.mark.parametrize("rank, seed", [(3, 0), (3, 6)])
def test_a_strong_continuum_whose_groups_stand_above_no_flank_keeps_the_solvers_own(rank, seed):
    """The continuum holds 29-48 % of the model at the lines' channels, so the member pure at them would strip it from
    under the lines; read above the continuum, one group stands above no flank: no line of its own there. The member
    pure at the groups was taken all the same: MCR 10.11 / 15.1 degrees from the truth against its own 7.53 / 6.74.
    Nothing the data show pins the spectra's end there: the solver's own is kept, and the reason says why."""
    s, truth = lines_over_continuum_scene(rank, "smooth", 500, seed=seed)
    d = decompose(s, "mcr", n_components=rank)
    raw = decompose(s, "mcr", n_components=rank, pure_pixels=False)
    assert not d.info["pure_channel_rotation"] and not d.info["pure_pixel_rotation"]
    ev = d.info["pure_channel_evidence"]
    assert ev["continuum_share"] >= 0.25 and not ev["above_continuum"] and not ev["stands_above_flanks"], ev
    assert d.info["pure_channel_reason"].startswith("no pure channels: the continuum holds"), d.info
    np.testing.assert_array_equal(d.factors_array, raw.factors_array)


def test_lines_that_stand_alone_keep_the_pure_channel_member():
    """On mixed_scene's EDS spectra the continuum holds a few % of the model at the lines' channels (the pure-channel
    assumption holds to 1-4 % of a line's counts there): the member pure at the groups is kept, as before."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=2000, seed=0)
    d = decompose(s, "nmf", n_components=3)
    ev = d.info["pure_channel_evidence"]
    assert d.info["pure_channel_rotation"] and not ev["above_continuum"] and ev["continuum_share"] < 0.2, ev


def _mixed_pixel_by_pixel(seed: int, counts: float = 500.0):
    """Four EDS phases mixed in every pixel, fractions Dirichlet(1) drawn pixel by pixel: no region, no spatial
    structure (a reviewer's fine-grained mixtures, issue 17)."""
    rng = np.random.default_rng(seed)
    spectra = eds_spectra(4, 512, rng)
    fractions = rng.dirichlet([1.0] * 4, size=(64, 64))
    data = rng.poisson(counts * fractions @ spectra).astype(np.uint16)
    return counts_signal(data, *cube_energy_axis("eds", 512)), spectra


@pytest.mark.parametrize("method", [pytest.param("nmf", marks=pytest.mark.slow), "mcr"])
def test_a_map_mixed_pixel_by_pixel_refuses_the_pure_pixels(method):
    """The smoothing of the region test averaged pixel-by-pixel mixtures into a plateau, and the pure pixels (the
    most extreme mixtures, 0.4 % of the pixels outside their simplex, none beyond a vertex) were kept: MCR median
    6.2 degrees from the truth against the solver's own 1.5 (NMF 2.2). Neighbouring pixels' shares are no more
    alike than any two (correlation under 0.05) and few pixels reach a vertex: the pixel end is refused, and the
    solver's own kept."""
    d, raw, spectra = _refused_as_mixed_pixel_by_pixel(method, seed=1)
    assert sum(d.info["pure_pixel_regions"]["at_vertex_fractions"].values()) < 0.12
    a, a_raw = _median_angle(d, spectra), _median_angle(raw, spectra)
    assert a <= min(2.5, a_raw + 1e-9), (a, a_raw)


def _refused_as_mixed_pixel_by_pixel(method: str, **scene):
    """The default and plain fits of :func:`_mixed_pixel_by_pixel`, the default's pure pixels refused for no
    spatial structure (no component's neighbours alike)."""
    s, spectra = _mixed_pixel_by_pixel(**scene)
    d = decompose(s, method, n_components=4)
    raw = decompose(s, method, n_components=4, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert "no spatial structure" in d.info["pure_pixel_reason"]
    assert max(abs(x) for x in d.info["pure_pixel_regions"]["neighbour_correlations"].values()) < 0.05
    return d, raw, spectra


@pytest.mark.parametrize("method", [pytest.param("nmf", marks=pytest.mark.slow), "mcr"])
def test_a_map_mixed_pixel_by_pixel_at_low_counts_refuses_the_pure_pixels(method):
    """At 220 counts/pixel Poisson noise puts 22 % of such a map's pixels at 90 % of a vertex (summed over the
    components), over the 12 % that let the pixel end through: MCR went 15.2 / 15.9 / 15.5 / 8.1 degrees from the
    truth (NMF 15.0 / 15.7 / 15.4 / 7.9), their own 3.2 / 2.2 / 2.2 / 1.6 (3.5 / 1.8 / 2.0 / 1.6). Nor does the loss
    see it: the rotated spectra refit within 0.6 % of the solver's own."""
    d, raw, spectra = _refused_as_mixed_pixel_by_pixel(method, seed=5, counts=220.0)
    assert 0.2 < sum(d.info["pure_pixel_regions"]["at_vertex_fractions"].values()) < 0.25
    if method == "mcr":  # NMF's own comes from another start (its endmember start, not the plain one)
        np.testing.assert_array_equal(d.factors_array, raw.factors_array)
    a, a_raw = _median_angle(d, spectra), _median_angle(raw, spectra)
    assert a <= min(3.0, a_raw + 0.01), (a, a_raw)
