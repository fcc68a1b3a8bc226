"""VCA: pure-pixel endmembers on the EDS sample."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import decompose
from groundtruth import grain_scene, make_cube, mixed_scene, particles_on_substrate, spectral_angles


def test_vca_endmembers_eds_si():
    s, truth = em.samples.eds_si(seed=0)
    true = np.array(list(truth["components"].values()))
    d = decompose(s, "vca", n_components=3)
    ang = spectral_angles(d.factors_array.T, true)
    assert np.max(ang) <= 4.0 and np.median(ang) <= 3.0, ang  # single-pixel vertices: 3.7 / 22 / 8 degrees


def _peaky_grains(seed, counts, shape=(96, 96), n_channels=512):
    """Three pure phases in Voronoi grains, each spectrum four Gaussian lines on a flat floor."""
    rng = np.random.default_rng(seed)
    e = np.arange(n_channels)
    spectra = np.full((3, n_channels), 0.02)
    for p in range(3):
        for c in rng.choice(np.arange(20, n_channels - 20), 4, replace=False):
            spectra[p] += rng.uniform(0.5, 2) * np.exp(-0.5 * ((e - c) / 3.0) ** 2)
    spectra /= spectra.sum(1, keepdims=True)
    centres = rng.uniform(0, shape, size=(15, 2))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    nearest = np.argmin((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2, axis=-1)
    ab = np.eye(3)[np.arange(15) % 3][nearest]
    return em.Signal(rng.poisson(counts * ab @ spectra).astype(np.uint16)), spectra


def test_vca_reads_a_settled_subspace_at_low_counts():
    """VCA refines nothing, so a subspace left rough by two power iterations is its answer: at 3 counts/pixel an
    explicit k (the randomized route) gave 11.7-19.7 degrees where the exact route gives 4.9-5.8; the settled one is
    the exact route's. Where the components stand out (30 counts/pixel) the same bits as two iterations."""
    s, spectra = _peaky_grains(seed=1, counts=3.0)
    d = decompose(s, "vca", n_components=3)
    assert d.info["solver"] == "randomized" and d.info["power_iterations"] > 2
    exact = decompose(s, "vca", n_components=3, solver="gram")
    old = decompose(s, "vca", n_components=3, settle_subspace=False)
    a, a_exact, a_old = (np.median(spectral_angles(r.factors_array.T, spectra)) for r in (d, exact, old))
    assert a <= a_exact + 0.5 and a_old > a + 5, (a, a_exact, a_old)
    assert old.info["power_iterations_note"] == "2: settle_subspace=False (vca reads its result from this subspace)"
    bright, _ = _peaky_grains(seed=2, counts=30.0)
    np.testing.assert_array_equal(decompose(bright, "vca", n_components=3).factors_array,
                                  decompose(bright, "vca", n_components=3, settle_subspace=False).factors_array)


def test_a_vca_recorded_before_settle_subspace_replays_its_two_iterations(tmp_path):
    _peaky_grains(seed=1, counts=3.0, shape=(48, 48))[0].save(tmp_path / "grains.zarr")
    s = em.load(tmp_path / "grains.zarr")
    new = decompose(s, "vca", n_components=3)
    assert new.history[-1]["params"]["settle_subspace"] is True and new.info["power_iterations"] > 2
    old = [dict(e) for e in new.history]
    old[-1]["params"] = {k: v for k, v in old[-1]["params"].items() if k != "settle_subspace"}
    np.testing.assert_array_equal(em.replay(old).factors_array,
                                  decompose(s, "vca", n_components=3, settle_subspace=False).factors_array)
    np.testing.assert_array_equal(em.replay(new.history).factors_array, new.factors_array)


def test_vca_says_when_the_data_show_no_pure_pixels():
    """VCA's endmembers are its pure-pixel groups: on a mixture without pure pixels they are its most extreme
    mixtures (96 x 96 x 1024 EDS blobs, 200 counts/pixel: 19 degrees from the truth, NMF 4.5), and nothing said so.
    The groups are judged by the tests that decide NMF's and MCR's rotation; where they fail, a warning names the
    reason. The spectra are VCA's as before."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="blobs", counts=200, seed=3)
    with pytest.warns(UserWarning, match="vca takes its endmembers from pure pixels, and the data do not show them"):
        d = decompose(s, "vca", n_components=3)
    assert not d.info["pure_pixel_rotation"] and d.info["pure_pixel_evidence"]["outside_fraction"] > 0.1
    assert d.info["pure_pixel_reason"].startswith("no pure pixels shown")
    assert "solver's own" not in d.info["pure_pixel_reason"]  # NMF's action, not VCA's
    assert d.info["pure_pixel_warning"].startswith("vca takes its endmembers")
    assert np.median(spectral_angles(d.factors_array.T, truth.spectra)) > 10.0


def test_vca_says_when_the_map_shows_no_pure_regions():
    """A blob mixture at 2000 counts/pixel passes the single pixels' evidence (0.4 % outside), but no group fills a
    region of constant composition on the map (16 degrees from the truth, NMF 1.9)."""
    s, truth = mixed_scene(rank=3, kind="eds", layout="blobs", counts=2000, shape=(64, 64), n_channels=1024, seed=3)
    with pytest.warns(UserWarning, match="no pure-pixel group fills a region of constant composition"):
        d = decompose(s, "vca", n_components=3)
    assert d.info["pure_pixel_evidence"]["outside_fraction"] <= 0.1 and not d.info["pure_pixel_rotation"]
    assert "pure_pixel_regions" in d.info


@pytest.mark.parametrize("kind, seed, counts", [("eds", 0, 5.0), ("eels", 0, 5.0), ("eels", 2, 3.0)])
def test_vca_says_when_its_groups_hold_too_few_counts_to_place_a_vertex(kind, seed, counts):
    """Pure phases at 3-5 counts/pixel: VCA's vertices were single pixels of 1-2 counts, far out through their noise
    (a rare channel's count, raised by the Poisson weighting), and the simplex of such vertices holds every pixel:
    "pure pixels: 0.0 % outside", spectra 50-90 degrees from the truth, not a word. A group of fewer than
    MIN_GROUP_COUNTS counts places no vertex: said, with binning as the remedy."""
    from emscale.decomposition.vca import MIN_GROUP_COUNTS

    if kind == "eds":
        s, truth = make_cube(3, "eds", shape=(96, 96), n_channels=1024, counts=counts, seed=seed)
    else:
        s, truth = grain_scene(rank=3, shape=(96, 96), n_channels=1024, counts=counts, seed=seed)
    # said of the groups, not of the data (every pixel is pure here; "the data do not show them", a review)
    with pytest.warns(UserWarning, match="vca takes its endmembers from pure pixels, and its pure-pixel groups hold "
                                         "too few counts to show them"):
        d = decompose(s, "vca", n_components=3)
    ev = d.info["pure_pixel_evidence"]
    assert not d.info["pure_pixel_rotation"] and min(ev["group_counts"]) < MIN_GROUP_COUNTS, ev
    assert "too few to place a vertex (bin the map" in d.info["pure_pixel_reason"]
    assert np.median(spectral_angles(d.factors_array.T, truth.spectra)) > 40.0  # what VCA gives there, said now


def test_vca_groups_of_enough_counts_still_show_pure_pixels():
    # the same EDS phases at 30 counts/pixel: groups of ~1000 pixels, pure pixels shown, 1.8-3.5 degrees
    s, truth = make_cube(3, "eds", shape=(96, 96), n_channels=1024, counts=30.0, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decompose(s, "vca", n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert np.max(spectral_angles(d.factors_array.T, truth.spectra)) < 4.0


@pytest.mark.parametrize("kind, counts", [("eds", 200), ("eels", 200), ("eds", 2000)])
def test_vca_on_pure_pixels_says_so_without_a_warning(kind, counts):
    s, truth = make_cube(3, kind, shape=(64, 64), n_channels=1024, counts=counts, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decompose(s, "vca", n_components=3)
    assert d.info["pure_pixel_rotation"] and d.info["pure_pixel_reason"].startswith("pure pixels:")
    assert "pure_pixel_warning" not in d.info
    assert np.median(spectral_angles(d.factors_array.T, truth.spectra)) < 3.0


@pytest.mark.parametrize("scene, k", [("grains", 4), ("small", 3)])
def test_vca_does_not_warn_where_the_pure_pixel_tests_are_unreliable(scene, k):
    """Every pixel pure, yet the single pixels' evidence puts over 10 % outside the groups' simplex: with four or more
    components (EELS grains, 24 x 24 at 400 counts/pixel: VCA 3.5-13 degrees from the truth, NMF 8.6-20) and on maps
    under 2048 pixels (three grains, 40 x 40 at 100 counts/pixel: VCA 4.0-4.3, as NMF), where pure phases too fail
    it (a review: 25 false alarms in 84 pure-pixel runs). The reason says it was not warned."""
    if scene == "grains":
        s, truth = grain_scene(4, shape=(24, 24), counts=400, seed=4)
    else:
        s, truth = grain_scene(3, shape=(40, 40), counts=100, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*rank estimate")  # the rank's own note, not this test's
        d = decompose(s, "vca", n_components=k)
    assert "pure_pixel_warning" not in d.info
    if not d.info["pure_pixel_rotation"]:
        assert "; not warned: " in d.info["pure_pixel_reason"]


@pytest.mark.parametrize("counts, profile, ag_max, seed", [(380, "hemisphere", 0.6, 0), (380, "hemisphere", 0.9, 0),
                                                           (380, "hemisphere", 0.6, 1), (200, "disc", 0.6, 0)])
def test_vca_says_when_particles_seen_through_their_substrate_are_its_endmembers(counts, profile, ag_max, seed):
    """Ag particles on Al (50 x 50 x 2048): the particles' centres pass the single pixels' evidence, but they are
    mixtures with the substrate, and VCA's Ag spectrum holds Al Ka (55.5 / 22.8 / 40.4 / 56.8 degrees from the
    truth). Weighed from VCA's own vertices, the spectra's end lay 6-9 degrees from them: its channel groups for
    Al fell on continuum channels, where the mixed vertex is lowest, and nothing was said. One pure-channel step, its
    groups chosen from the spectra raised to their continuum level, first puts them at a line, the ends differ by
    over 10 degrees, and the centres' regions are peaks, not plateaus: warned (the last two were missed with the
    step's groups chosen from the vertices themselves)."""
    s, spectra = particles_on_substrate(counts=counts, profile=profile, ag_max=ag_max, seed=seed)
    with pytest.warns(UserWarning, match="vca takes its endmembers from pure pixels, and the data do not show them"):
        d = decompose(s, "vca", n_components=2)
    assert not d.info["pure_pixel_rotation"]
    assert d.info["pure_pixel_reason"].startswith("pure pixels refused: both ends pass their evidence")
    assert max(spectral_angles(d.factors_array.T, spectra)) > 20.0


def _oxide_columns(counts, seed):
    """TiO2, Ti2O3 and FeO (EELS, 64 x 64 x 1024), each pure over a quarter of the map or more, in columns with
    wavy tanh boundaries 2.5 pixels wide; TiO2 and Ti2O3 3.1 degrees apart."""
    e = 400 + 0.4 * np.arange(1024)

    def edge(e0, r=2.5):
        return 0.5 * (1 + np.tanh(e - e0)) * np.clip(e / e0, 1, None) ** (-r)

    def line(c, w):
        return np.exp(-0.5 * ((e - c) / w) ** 2)

    tio2 = ((e / 400) ** -3.0 + 0.25 * edge(456) + 0.35 * (line(457.5, 0.8) + 0.8 * line(459.5, 1.0)
            + 0.6 * line(463, 0.9) + 0.6 * line(465.3, 1.1)) + 0.15 * edge(530) + 0.12 * line(531, 1.2)
            + 0.1 * line(533.5, 1.4) + 0.07 * line(542, 4))
    ti2o3 = ((e / 400) ** -3.2 + 0.30 * edge(455.5) + 0.40 * (line(458.2, 1.3) + 0.7 * line(463.8, 1.5))
             + 0.09 * edge(531) + 0.06 * line(532, 1.5) + 0.05 * line(541, 5))
    feo = ((e / 400) ** -2.8 + 0.14 * edge(531.5) + 0.07 * line(532.5, 1.0) + 0.09 * line(539, 3)
           + 0.12 * edge(708) + 0.35 * line(709, 1.5) + 0.15 * line(722, 1.8))
    spectra = np.stack([tio2, ti2o3, feo])
    spectra /= spectra.sum(1, keepdims=True)
    yy, xx = np.mgrid[0:64, 0:64]
    b1 = 0.5 * (1 + np.tanh((xx - 21 - 4 * np.sin(yy / 9)) / 2.5))
    b2 = 0.5 * (1 + np.tanh((xx - 43 + 3 * np.cos(yy / 7)) / 2.5))
    ab = np.stack([1 - b1, b1 * (1 - b2), b2], -1)
    data = np.random.default_rng(seed).poisson(counts * ab @ spectra).astype(np.uint32)
    axes = [em.Axis("y", 64, navigate=True), em.Axis("x", 64, navigate=True),
            em.Axis("Energy loss", 1024, scale=0.4, offset=400.0, units="eV")]
    return em.Signal(data, axes=axes, signal_type="EELS"), spectra


@pytest.mark.parametrize("scene", ["oxides", "grains"])
def test_vca_does_not_say_the_data_lack_pure_pixels_its_groups_missed(scene):
    """Phases pure over whole regions, yet "the data do not show them" was warned: at 200 counts/pixel TiO2 and
    Ti2O3 (3.1 degrees apart) lie 0.1-0.2 noise radii apart pixel by pixel, VCA's single pixels' groups hold both,
    and one group sits between them and FeO (its vertex pulled inward: 17 % of the pixels lie beyond it). Groups
    found on the map-smoothed scores pass the same evidence: the data show pure pixels, and only VCA's groups miss
    them -- not warned, said in the reason and in ``pure_pixel_groups``. Its spectra are the same bits (2.8 / 6.8 /
    4.8 degrees, as the seeds that were not warned). EELS grains at 50 counts/pixel likewise."""
    if scene == "oxides":
        s, spectra = _oxide_columns(counts=200, seed=1)
    else:
        s, truth = grain_scene(3, shape=(96, 96), n_channels=1024, counts=50, seed=2)
        spectra = truth.spectra
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*rank estimate")  # the third component's own note
        d = decompose(s, "vca", n_components=3)
    assert not d.info["pure_pixel_rotation"] and "pure_pixel_warning" not in d.info
    assert d.info["pure_pixel_reason"].endswith(
        "; not warned: the data show pure pixels, which the single pixels' groups miss (pure_pixel_groups)")
    assert d.info["pure_pixel_groups"].startswith(
        "from the single pixels' PCA scores, the method's own; groups from the map-smoothed PCA scores (")
    assert ") pass: pure pixels: " in d.info["pure_pixel_groups"]
    ang = spectral_angles(d.factors_array.T, spectra)
    assert np.median(ang) < (5.0 if scene == "oxides" else 4.7), ang
