"""Region shapes (decomposition.regions): plateaus of constant composition against peaks of a mixture."""

import numpy as np
import pytest

from emscale.decomposition.regions import MIN_PIXELS, PixelLayout, neighbour_correlation, region_shapes


def _factorisation(share: np.ndarray, rng, counts: float = 400.0):
    """Noisy loadings (pixels, 2) and spectra of totals 1 and 3 such that component 1 holds ``share`` of each
    pixel's counts (the loadings alone, taken for counts, would give it a third of that weight)."""
    c = rng.poisson(np.stack([1 - share.ravel(), share.ravel()], axis=1) * counts).astype(float)
    h = np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 2.5]])
    return c / h.sum(axis=1), h


def _layout(shape):
    return PixelLayout(shape, np.arange(int(np.prod(shape))))


def test_a_pure_region_is_a_plateau_and_a_particle_centre_is_not():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(yy - 32, xx - 32) / 20
    region = (r < 1).astype(float)  # a pure phase, sharp edge
    dome = 0.6 * np.sqrt(np.clip(1 - r**2, 0, 1))  # a particle seen through its substrate
    flat = region_shapes(*_factorisation(region, rng), _layout((64, 64)), [1])[1].plateau
    peak = region_shapes(*_factorisation(dome, rng), _layout((64, 64)), [1])[1].plateau
    # a disc of radius 20 keeps ~(17.5 / 20)^2 of itself above 90 % after the smoothing; the dome only r < 0.44 R
    # of its domain r < 0.87 R, 0.25 without noise (0.31 read: its top's noise, taken off the vertex share as a
    # plateau's, lifts it a little); both far from purity.MIN_PLATEAU (0.44)
    assert flat > 0.7 and peak < 0.35, (flat, peak)


def test_pixels_beyond_the_vertex_by_more_than_noise_are_counted():
    """A pure region's pixels lie beyond its vertex by their noise only; a vertex taken inside the data (every
    pixel's share written as 1.6 of it, the other component's loading negative) has all of them beyond."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:64]
    region = (np.hypot(yy - 32, xx - 32) < 20).astype(float)
    w, h = _factorisation(region, rng)
    inside = region_shapes(w, h, _layout((64, 64)), [1])[1]
    share = np.full(64 * 64, 1.6) + rng.normal(0, 0.05, 64 * 64)
    w_far = np.stack([(1 - share) / h[0].sum(), share / h[1].sum()], axis=1)
    far = region_shapes(w_far, h, _layout((64, 64)), [1])[1]
    assert inside.beyond < 0.02 and far.beyond > 0.95, (inside, far)
    # a component that holds no positive share anywhere has no region
    assert region_shapes(w_far, h, _layout((64, 64)), [0])[0].plateau == 0.0


def test_the_share_is_of_counts_whatever_the_spectra_scaling_and_row_order():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:48]
    dome = 0.8 * np.sqrt(np.clip(1 - (np.hypot(yy - 20, xx - 24) / 15) ** 2, 0, 1))
    w, h = _factorisation(dome, rng)
    layout = _layout((48, 48))
    a = region_shapes(w, h, layout, [1])[1].plateau
    assert region_shapes(w * [1.0, 3.0], h / [[1.0], [3.0]], layout, [1])[1].plateau == pytest.approx(a)
    order = rng.permutation(len(w))
    assert region_shapes(w[order], h, PixelLayout((48, 48), order), [1])[1].plateau == pytest.approx(a)
    # the loadings taken for counts weigh component 1 three times too little: another map, another fraction
    assert abs(region_shapes(w, np.ones_like(h), layout, [1])[1].plateau - a) > 0.05


def test_unmeasured_pixels_carry_no_weight():
    """A sparse scan: the rows are the measured pixels only; the others neither count nor dilute the smoothing."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:64, 0:64]
    share = (np.hypot(yy - 32, xx - 32) < 20).astype(float)
    w, h = _factorisation(share, rng)
    full = region_shapes(w, h, _layout((64, 64)), [1])[1].plateau
    kept = np.sort(rng.choice(64 * 64, size=64 * 64 // 3, replace=False))
    sparse = region_shapes(w[kept], h, PixelLayout((64, 64), kept), [1])[1].plateau
    # (the smoothing, widened to average as many measured pixels as on the full scan, blurs the disc's edge:
    # 0.77 against 0.88)
    assert abs(sparse - full) < 0.15 and sparse > 0.7, (sparse, full)


def test_only_the_two_scan_axes_are_smoothed():
    """A pure disc moving 2 pixels per frame of a series (tilt, time): smoothing across frames would blur it into a
    dome; per frame it stays a plateau."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:40, 0:40]
    frames = np.stack([(np.hypot(yy - 20, xx - 10 - 2 * t) < 6).astype(float) for t in range(8)])
    w, h = _factorisation(frames, rng)
    series = region_shapes(w, h, PixelLayout((8, 40, 40), np.arange(w.shape[0])), [1])[1].plateau
    one = region_shapes(*_factorisation(frames[0], rng), _layout((40, 40)), [1])[1].plateau
    assert series == pytest.approx(one, abs=0.08) and series > 0.5, (series, one)


def test_small_maps_are_not_judged():
    assert not PixelLayout((32, 32), np.arange(1024)).judgeable
    assert PixelLayout((50, 50), np.arange(2500)).judgeable  # the real Ag on Al map
    assert MIN_PIXELS > 1024


def test_a_sparse_scan_averages_as_many_measured_pixels_as_a_full_one():
    """At 20 % of the pixels, scattered, the full scan's smoothing width holds a fifth of the measured pixels: the
    smoothed shares kept the single pixels' noise (here 0.2 of a share per pixel, as an NMF of few counts gives)
    and a pure region read as a mixture: 0.28 against the full scan's 0.89. Widened by 1 / sqrt(density): 0.78."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:96, 0:96]
    share = (np.hypot(yy - 48, xx - 48) < 30).astype(float).ravel() + rng.normal(0, 0.2, 96 * 96)
    h = np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 2.5]])
    w = np.stack([1 - share, share], axis=1) / h.sum(axis=1)
    full = region_shapes(w, h, _layout((96, 96)), [1])[1].plateau
    kept = np.sort(rng.choice(96 * 96, size=96 * 96 // 5, replace=False))
    layout = PixelLayout((96, 96), kept)
    assert layout.smoothing == pytest.approx(1 / np.sqrt(0.2), rel=0.05)
    sparse = region_shapes(w[kept], h, layout, [1])[1].plateau
    assert full > 0.85 and 0.7 < sparse < full, (sparse, full)
    # a full scan, and one with a region left out, keep the full scan's width
    assert _layout((96, 96)).smoothing == 1.0
    assert PixelLayout((96, 96), np.flatnonzero((xx >= 20).ravel())).smoothing == 1.0


def test_the_demo_sample_scanned_at_a_fifth_keeps_its_pure_pixels():
    """The demo's EDS sample (128 x 96, 512 channels) with 20 % of its pixels measured at random, decomposed on
    them (what the spectrum-image inpainting does): the pure pixels were refused (a plateau read through single
    pixels' noise) and the spectra's end taken, 28.7-28.9 degrees from the true SiO2 spectrum (seeds 1, 2)."""
    import emscale as em
    from emscale import sampling
    from emscale.workflows import samples

    si, truth = samples.eds_si(shape=(128, 96), n_channels=512, seed=0)
    spectra = np.stack([np.asarray(truth["components"][k]) for k in ("Si", "SiO2", "Cu")], axis=1)
    measured = sampling.random_pattern((128, 96), 0.2, seed=1)
    d = em.decompose(si, "nmf", n_components=3, seed=0, navigation_mask=~measured)
    assert d.info["pure_pixel_rotation"], d.info["pure_pixel_reason"]
    f = np.asarray(d.factors_array)
    cos = (f / np.linalg.norm(f, axis=0)).T @ (spectra / np.linalg.norm(spectra, axis=0))
    angles = np.degrees(np.arccos(np.clip(cos.max(axis=0), -1, 1)))
    assert angles.max() < 4.0, angles


def test_along_a_line_a_smooth_maximum_is_no_plateau_and_a_thin_layer_is():
    """A share peaking as a Gaussian (15 pixels) reads 0.37 of its domain at 90 % of the vertex, under the line's
    limit; a layer 12 pixels wide with soft edges 0.54 (the vertex taken at the share 1)."""
    from scipy.special import erfc

    from emscale.decomposition.regions import MIN_LINE_PLATEAU, line_plateaus

    rng = np.random.default_rng(0)
    x = np.arange(240)
    peak = np.exp(-0.5 * ((x - 120) / 15.0) ** 2)
    layer = 1 - 0.5 * erfc((x - 114) / 2.0) - 0.5 * erfc(-(x - 126) / 2.0)
    layout = _layout((240,))
    assert layout.line and layout.judged_as_line and not _layout((16, 16)).line and _layout((1, 240)).line
    p_peak, n_peak = line_plateaus(*_factorisation(peak, rng, counts=20000.0), layout, [1])[1]
    p_layer, _ = line_plateaus(*_factorisation(np.clip(layer, 0, 1), rng, counts=20000.0), layout, [1])[1]
    assert p_peak < MIN_LINE_PLATEAU <= p_layer
    assert 0.3 < p_peak < 0.45 and p_layer > 0.5 and n_peak < 0.05
    # a map one pixel high (or a line along the first of three axes) reads as the line
    same = line_plateaus(*_factorisation(peak, np.random.default_rng(0), counts=20000.0), layout, [1])[1]
    for shape in ((1, 240), (240, 1, 1)):
        wide = line_plateaus(*_factorisation(peak.reshape(shape), np.random.default_rng(0), counts=20000.0),
                             _layout(shape), [1])[1]
        assert wide == same


def test_a_map_mixed_pixel_by_pixel_has_no_spatial_structure_and_a_noisy_region_map_has():
    """Shares drawn pixel by pixel (Dirichlet(1), no region) are averaged by the smoothing into a plateau (0.43-0.85
    on a reviewer's EDS maps, issue 17); their neighbours are no more alike than any two pixels. Pure regions at 20
    counts/pixel, their shares as noisy as the mixture's spread, keep neighbours alike."""
    rng = np.random.default_rng(0)
    shape = (64, 64)
    mixed = rng.dirichlet([1.0, 1.0], size=shape)[..., 1]
    yy, xx = np.mgrid[0:64, 0:64]
    region = (np.hypot(yy - 32, xx - 32) < 20).astype(float)
    none = region_shapes(*_factorisation(mixed, rng), _layout(shape), [1])[1]
    some = region_shapes(*_factorisation(region, rng, counts=20.0), _layout(shape), [1])[1]
    assert none.plateau > 0.44, none  # what the plateau test alone took for a phase
    assert abs(none.structure) < 0.05 and some.structure > 0.5, (none.structure, some.structure)
    assert neighbour_correlation(region.ravel(), _layout(shape)) > 0.9
    # a sparse scan's neighbours are not all measured: not judged
    assert np.isnan(neighbour_correlation(region.ravel()[::2], PixelLayout(shape, np.arange(0, 4096, 2))))


def test_a_line_scan_not_measured_at_every_pixel_has_no_groups_found_along_it():
    """Groups are found again along a line only where every pixel is measured (the smoothing along the line reads
    its neighbours); a sparse line says so rather than smoothing across its gaps."""
    from types import SimpleNamespace

    from emscale.decomposition.map_groups import groups_on_the_map
    from emscale.decomposition.regions import line_smoothed_scores

    scores = np.random.default_rng(0).normal(size=(256, 2))
    full = line_smoothed_scores(scores, _layout((256,)))
    assert full is not None and full[1][0] == 2 and len(full[1]) == 252  # two smoothing widths off each end
    kept = np.ones(256, dtype=bool)
    kept[::5] = False
    sparse = PixelLayout((256,), np.flatnonzero(kept))
    assert sparse.judged_as_line and line_smoothed_scores(scores[kept], sparse) is None
    ctx = SimpleNamespace(dm=SimpleNamespace(keep_pixels=kept, nav_shape=(256,), n_pixels_total=256),
                          scores=scores[kept], k=2, seed=0)
    assert groups_on_the_map(ctx, 1.0) == (None, None, "the line scan is not measured at every pixel")
