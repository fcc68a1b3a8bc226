"""Figures of a decomposition show the data: EDS factor plots cropped to the energy range that holds the lines,
loading maps with the colour limits of Signal.plot less isolated spikes (decomposition.result, plotting.limits)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from emscale.core.axes import Axis  # noqa: E402
from emscale.decomposition import decompose  # noqa: E402
from emscale.decomposition.result import Decomposition  # noqa: E402
from emscale.plotting.limits import line_range  # noqa: E402
from groundtruth import make_cube  # noqa: E402


def _decomposition(factors, loadings, sig_axis, nav_shape=(30, 40), signal_type="EDS_SEM"):
    nav = [Axis(name="y", size=nav_shape[0], navigate=True), Axis(name="x", size=nav_shape[1], navigate=True)]
    return Decomposition(method="nmf", params={}, factors_array=factors, loadings_array=loadings, info={},
                         nav_axes=nav, sig_axes=[sig_axis], n_pixels=int(np.prod(nav_shape)),
                         n_channels=factors.shape[0], signal_type=signal_type)


def _eds_factors():
    """Two EDS-like factors on a 0-40 keV axis (2048 channels): a weak continuum and lines between 1.5 and 8
    keV; nothing above 10 keV."""
    e = np.arange(2048) * 0.02
    cont = np.where(e < 10.0, np.exp(-e / 2.0), 0.0)
    f = np.stack([0.02 * cont + np.exp(-0.5 * ((e - c) / 0.06) ** 2) for c in (1.74, 8.04)], axis=1)
    return e, f / f.sum(axis=0), Axis(name="Energy", size=2048, scale=0.02, offset=0.0, units="keV")


def test_line_range_holds_the_lines_with_a_margin():
    e, f, _ = _eds_factors()
    lo, hi = line_range(e, f.T)
    assert 0.0 <= lo < 1.74 - 0.2 and 8.04 + 0.2 < hi < 12.0, (lo, hi)
    # each curve counts equally: a weak high-energy line still lies inside
    g = f.copy()
    g[:, 1] *= 1e-3
    assert line_range(e, g.T)[1] > 8.04
    assert line_range(e, np.zeros(2048)) == (0.0, e[-1])


def test_line_range_holds_the_whole_of_a_weak_first_line_on_a_coarse_axis():
    # 256 channels of 40 eV: O K-alpha at 0.525 keV, weak beside Si K-alpha, only its crest passes the thresholds;
    # the range started at its peak and drew half of it (a review's phase figure: SiO2 read as Si)
    e = np.arange(256) * 0.04
    o = 0.03 * np.exp(-0.5 * ((e - 0.525) / 0.03) ** 2) + np.exp(-0.5 * ((e - 1.74) / 0.04) ** 2)
    o[e < 0.1] = 0.0  # the masked strobe peak
    lo, hi = line_range(e, o)
    assert lo <= 0.525 - 2 * 0.03 and hi >= 1.74 + 2 * 0.04, (lo, hi)


def test_line_range_ends_with_the_lines_not_the_continuum_or_the_noise():
    # a continuum to the beam energy (15 keV) and noisy weak factors: a share of the mass reached 17-18 keV on the
    # Bruker map, whose lines end at 7.5 keV
    e = np.arange(2048) * 0.01
    cont = np.where(e < 15.0, np.exp(-e / 4.0), 0.0)
    rng = np.random.default_rng(1)
    f = np.stack([0.01 * cont + np.exp(-0.5 * ((e - c) / 0.06) ** 2) for c in (0.52, 1.74, 7.48)])
    # weak factors: a small line and noise that follows the counts (sqrt of the continuum), as Poisson-weighted PCA's
    weak = 0.0004 * np.sqrt(cont) * rng.standard_normal((2, 2048)) + 0.02 * np.exp(-0.5 * ((e - 6.4) / 0.06) ** 2)
    noisy = np.vstack([f, weak])
    lo, hi = line_range(e, noisy)
    assert 0.0 <= lo < 0.45 and 7.6 < hi < 9.0, (lo, hi)


def _thirty_kv_spectra() -> tuple[np.ndarray, np.ndarray]:
    """(energy, spectra (2, 4096)): lines up to Cu K beta at 8.9 keV over a continuum to a 30 kV beam's energy."""
    e = -0.2 + 0.01 * np.arange(4096)
    cont = np.clip((30.0 - e) / np.maximum(e, 0.1), 0.0, None) * (1 - np.exp(-np.maximum(e, 0.0) / 0.8))
    lines = {1.74: 1.0, 0.52: 0.5, 8.04: 0.6, 8.90: 0.08}
    return e, np.stack([0.03 * cont + sum(w * np.exp(-0.5 * ((e - c) / (0.03 + 0.005 * c)) ** 2)
                                          for c, w in ln.items()) for ln in (dict(list(lines.items())[:2]), lines)])


def test_line_range_ends_with_the_lines_over_a_strong_continuum_to_the_beam_energy():
    # a 30 kV map's continuum stands above 2 % of the peaks far beyond the lines (Cu K beta at 8.9 keV): the plot
    # ran to 16 keV at 2000 counts/pixel and 22 keV at 200, now to the lines
    e, f = _thirty_kv_spectra()
    noisy = f + 0.002 * np.sqrt(f) * np.random.default_rng(2).standard_normal(f.shape)
    for curves in (f, noisy):
        lo, hi = line_range(e, curves)
        assert lo < 0.3 and 8.9 < hi < 10.0, (lo, hi)


def test_line_range_ends_with_the_lines_of_factors_read_from_few_counts():
    # a factor estimated from 10^5 counts over 4096 channels: its continuum to the beam energy is noisy, and a
    # running minimum under it (a morphological opening) runs along the noise's troughs, so that every crest stood
    # above it: 11-17 keV on 4 of these 5 draws (NMF and MCR of a 30 kV map at 200 counts/pixel: 16.7 keV)
    e, f = _thirty_kv_spectra()
    f /= f.sum(axis=1, keepdims=True)
    for seed in range(5):
        lo, hi = line_range(e, np.random.default_rng(seed).poisson(1e5 * f))
        assert lo < 0.3 and 8.9 < hi < 10.0, (seed, lo, hi)


def test_line_range_takes_single_channel_spikes_for_no_line():
    # a sparse factor's single counts far above its lines: the running mean spread each into a crest 16 channels
    # wide that passed as a line (MCR of a 30 kV map at 3-20 counts/pixel: drawn to 28-31 keV)
    e, f = _thirty_kv_spectra()
    f /= f.sum(axis=1, keepdims=True)
    counts = np.random.default_rng(0).poisson(1e5 * f).astype(float)
    for channel in (1500, 2200, 2900):  # 14.8, 21.8 and 28.8 keV
        counts[1, channel] += 0.5 * counts[1].max()
    lo, hi = line_range(e, counts)
    assert lo < 0.3 and 8.9 < hi < 10.0, (lo, hi)


def test_pca_factors_of_a_sparse_eds_cube_end_with_its_lines():
    # signed PCA factors of 3 counts/pixel over 1024 channels: drawn to 19.7 keV where the lines end at 11.4
    s, truth = make_cube(3, "eds", shape=(48, 48), n_channels=1024, counts=3, seed=5)
    e = np.asarray(s.sig_axes[0].values)
    d = decompose(s, "pca", n_components=3)
    lo, hi = line_range(e, np.asarray(d.factors_array).T)
    true_lo, true_hi = line_range(e, truth.spectra)
    assert abs(hi - true_hi) < 0.5 and lo < true_lo + 0.2, (lo, hi, true_lo, true_hi)


def test_eds_factor_plot_shows_the_energy_range_of_the_lines():
    e, f, ax_e = _eds_factors()
    d = _decomposition(f, np.ones((1200, 2)), ax_e)
    fig = d.plot_factors()
    lo, hi = fig.axes[0].get_xlim()
    assert (lo, hi) == pytest.approx(line_range(e, f.T))
    assert hi < 12.0 and lo < 1.5  # not 0-40 keV squeezed
    full = d.plot_factors(crop=False).axes[0].get_xlim()
    assert full == pytest.approx((0.0, e[-1]))
    # EELS factors are drawn over the whole axis unless asked
    eels = _decomposition(f, np.ones((1200, 2)), ax_e, signal_type="EELS")
    assert eels.plot_factors().axes[0].get_xlim() == pytest.approx((0.0, e[-1]))


def test_sparse_loading_maps_leave_isolated_hot_pixels_out_of_their_colour_range():
    rng = np.random.default_rng(0)
    maps = rng.poisson(0.3, size=(1200, 2)).astype(float)
    maps[rng.choice(1200, 3, replace=False), 0] = 500.0  # three hot pixels (0.25 %), each alone
    _, f, ax_e = _eds_factors()
    d = _decomposition(f, maps, ax_e)
    fig = d.plot_loadings()
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    # the hot pixels saturate, with a pointed end; the map itself is visible (colour_limits alone: 0-500)
    assert images[0].get_clim() == (0.0, 3.0) and images[0].colorbar.extend == "max"
    assert images[1].get_clim() == (0.0, float(maps[:, 1].max())) and images[1].colorbar.extend == "neither"


def test_a_tiny_phase_is_not_drawn_as_bright_as_the_leftovers_of_the_other_loadings():
    """A 9-pixel Fe inclusion (0.22 % of a 64 x 64 map, NMF loading ~516 over 0.06 +- 0.66, leftovers up to ~19)
    got the 1st-99.5th percentiles, 0-6.45: the leftovers as bright as the inclusion. Now Signal.plot's rule."""
    rng = np.random.default_rng(1)
    m = np.clip(rng.normal(0.06, 0.66, (64, 64)), 0, None)
    m[rng.integers(0, 64, 12), rng.integers(34, 64, 12)] = rng.uniform(6, 19, 12)  # leftovers, one pixel each
    m[30:33, 10:13] = rng.uniform(480, 545, (3, 3))
    _, f, ax_e = _eds_factors()
    d = _decomposition(f[:, :1], m.reshape(-1, 1), ax_e, nav_shape=(64, 64))
    im = d.plot_loadings().axes[0].images[0]
    assert im.get_clim() == (0.0, float(m.max())) and im.colorbar.extend == "neither"


def test_the_scree_marks_the_rank_and_says_where_it_came_from():
    # before: only the threshold line was drawn, every eigenvalue the same point; the rank appeared nowhere
    import emscale as em

    rng = np.random.default_rng(0)
    maps = rng.random((3, 20 * 20))
    spectra = np.abs(rng.normal(size=(3, 64))) * 30
    cube = rng.poisson(maps.T @ spectra).reshape(20, 20, 64).astype(float)
    s = em.Signal(cube, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                              {"name": "E", "units": "keV", "scale": 0.01}], signal_type="EDS_SEM")
    for d, source in [(em.decompose(s, method="pca"), "automatic rank"),
                      (em.decompose(s, method="nmf", n_components=2), "estimated rank")]:
        rank, label = d.scree_rank()
        assert rank is not None and label.startswith(f"{source} {rank}")
        ax = d.plot_scree().axes[0]
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{label} (filled)" in texts
        filled = next(line for line in ax.get_lines() if line.get_label() == f"{label} (filled)")
        assert len(filled.get_xdata()) == rank
