"""Line scans (issue 17): the pure-pixel end judged along the line, where a phase that never fills a layer of its own
(an interphase peaking at 50 %) refuses it, and layers keep it."""

import numpy as np
import pytest

from emscale.decomposition import decompose
from groundtruth import line_scan_scene, spectral_angles


def _angles(d, spectra) -> np.ndarray:
    return spectral_angles(d.factors_array.T, spectra)


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_an_interphase_never_pure_refuses_the_pixel_end(method):
    """EDS, 240 x 1024 at 2000 counts/pixel: the pixel end put the interphase 33.1 degrees from the truth (the
    solver's own 17.6 / 28.1; NMF / MCR) as the map-size limit kept it on every line scan. Along the line its group
    fills no plateau (0.37-0.40 of its domain at 90 % of the vertex), and the spectra's end is taken: 12.8 / 11.8."""
    s, spectra = line_scan_scene("eds", "interphase", counts=2000.0, seed=0)
    d = decompose(s, method, n_components=3)
    own = decompose(s, method, n_components=3, pure_pixels=False)
    assert not d.info["pure_pixel_rotation"]
    assert d.info["pure_pixel_reason"].startswith("pure pixels refused: along the line scan")
    assert d.info["pure_channel_rotation"]
    assert min(d.info["pure_pixel_regions"]["line_plateau_fractions"].values()) < 0.45
    assert _angles(d, spectra).max() <= _angles(own, spectra).max() + 1.0
    assert _angles(d, spectra).max() < 15.0


def test_an_eels_interphase_keeps_the_pure_layers_at_their_pixels():
    """EELS has no spectra's end: the two phases that fill plateaus keep their pure pixels and the interphase takes
    the solver's own spectrum (NMF, 2000 counts/pixel: median 4.0 degrees, worst 15.8; the pixel end 4.0 / 18.8, the
    solver's own 15.8 / 22.1)."""
    s, spectra = line_scan_scene("eels", "interphase", counts=2000.0, seed=0)
    d = decompose(s, "nmf", n_components=3)
    own = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert len(d.info["mixed_end"]) == 2, d.info["pure_pixel_reason"]
    assert "the solver's own spectra taken for the others" in d.info["pure_pixel_reason"]
    a, a_own = _angles(d, spectra), _angles(own, spectra)
    assert a.max() <= a_own.max() + 1.0 and np.median(a) < 5.0


@pytest.mark.parametrize("profile, nav_shape", [("multilayer", None), ("thinlayer", None), ("multilayer", (1, 240))])
def test_eels_layers_keep_their_pure_pixels(profile, nav_shape):
    """Pure layers 20 and 12 pixels wide fill plateaus along the line (0.58-0.98) and keep the pixel end: NMF at 2000
    counts/pixel 4.4 / 11.5 degrees at worst, the solver's own 30.1 / 24.5. A map one pixel high is a line too."""
    s, spectra = line_scan_scene("eels", profile, counts=2000.0, seed=0, nav_shape=nav_shape)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert min(d.info["pure_pixel_regions"]["line_plateau_fractions"].values()) >= 0.45
    assert _angles(d, spectra).max() < (5.0 if profile == "multilayer" else 12.0)


def test_a_refused_mixed_member_of_a_line_scan_is_not_said_a_spectra_s_end():
    """MCR refuses a member whose misfit is too large (end_refused rewrites the reason): a line scan's member of pure
    pixels for some components and the solver's own spectra for the others was then said "the spectra's end refused
    by its misfit (pure_channel_reason)", of EELS data whose pure_channel_reason is "not tried: not EDS data"."""
    from emscale.decomposition.purity import OTHERS_OWN, end_refused

    said = end_refused(f"pure pixels kept for component(s) 0, 1 only, which fill a plateau along the line scan; "
                       f"...{OTHERS_OWN}")
    assert "spectra's end" not in said and OTHERS_OWN not in said
    assert said.endswith("; the solver's own factorisation kept, that member (pure pixels for those, the solver's own "
                         "spectra for the others) refused by its misfit (rotation_loss_ratio)")


def test_a_layer_whose_group_is_one_noisy_pixel_is_found_again_along_the_line():
    """EDS layer at 200 counts/pixel, seed 1: one pure-pixel group is a single noisy pixel at the right layer's
    interface (pixel 152), 35 % of the pixels lie outside the groups' simplex, and the spectra's end was taken: worst
    angle 9.8 degrees, where pure_pixels=False gives 6.9. Every component of that member fills a plateau along the
    line (0.87-0.98): the groups are at fault, not the data. The solver's own is kept and the groups found again on
    the scores smoothed along the line pass: 6.1."""
    s, spectra = line_scan_scene("eds", "layer", counts=200.0, seed=1)
    d = decompose(s, "nmf", n_components=3)
    own = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    assert not d.info.get("pure_channel_rotation")
    assert d.info["pure_pixel_groups"].startswith("from the line-smoothed PCA scores (")  # said "map-smoothed"
    assert "along the line), which passed; the single pixels' groups were refused" in d.info["pure_pixel_groups"]
    a, a_own = _angles(d, spectra), _angles(own, spectra)
    assert a.max() < 6.5 and a.max() <= a_own.max()


def test_vca_warns_where_the_line_test_refuses_its_groups():
    """VCA takes its groups as the endmembers whatever the evidence: on the never-pure EDS interphase (2000
    counts/pixel) the line test refuses them (the interphase's plateau 0.40) and its interphase lay 33.5 degrees from
    the truth (NMF's plain fit 17.6) without a word, said 'not warned: a map of fewer than 2048 pixels'."""
    s, spectra = line_scan_scene("eds", "interphase", counts=2000.0, seed=0)
    with pytest.warns(UserWarning, match="vca takes its endmembers from pure pixels, and the data do not show them "
                                         r"\(pure pixels refused: along the line scan"):
        d = decompose(s, "vca", n_components=3)
    assert "not warned" not in d.info["pure_pixel_reason"]
    assert d.info["pure_pixel_warning"].startswith("vca takes its endmembers")
    assert _angles(d, spectra).max() > 30.0  # the warned spectra: the interphase's most extreme mixture


def test_vca_is_not_warned_where_only_a_line_s_single_pixels_refuse_its_groups():
    """A 240-pixel line's single pixels are a small map's: the EDS layer at 200 counts/pixel, seed 1 (a group of one
    noisy pixel, 37.5 % outside) is not warned of, and the reason says why (a line scan, not a map's size)."""
    import warnings

    s, _ = line_scan_scene("eds", "layer", counts=200.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decompose(s, "vca", n_components=3)
    assert d.info["pure_pixel_reason"].endswith(
        "not warned: a line scan whose single pixels refused them (warned where its line test refuses them)")
