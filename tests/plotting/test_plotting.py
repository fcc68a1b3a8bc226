"""Figures render headless, with calibrated labels, and save to PNG / SVG."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.plotting import nice_length, plot_signal
from emscale.workflows import samples


@pytest.fixture(scope="module")
def cube():
    return samples.eels_si(shape=(16, 20), seed=0)


def _save(fig, path):
    fig.savefig(path)
    assert path.stat().st_size > 0
    return path


def test_spectrum_with_marks(cube, tmp_path):
    s, truth = cube
    spec = s.inav[3, 4]
    fig = spec.plot(marks=truth["edges"])
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Energy loss (eV)"
    assert ax.get_ylabel() == "Electrons (Counts)"
    texts = [t.get_text().strip() for t in ax.texts]
    assert "Si L2,3" in texts and "Si L2,3 (SiO2)" in texts
    assert len(ax.lines) == 3  # the spectrum + two marks
    _save(fig, tmp_path / "spec.png")
    svg = _save(fig, tmp_path / "spec.svg")
    assert svg.read_text().lstrip().startswith("<?xml")


def test_image_has_extent_scalebar_and_colorbar(cube, tmp_path):
    s, _ = cube
    img = s.isig[94.5:110.1].sum(axis=-1)
    fig = img.plot()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"  # ticks hidden: the scale bar gives the length
    left, right, bottom, top = ax.images[0].get_extent()
    assert (left, right) == pytest.approx((-0.25, 9.75)) and (top, bottom) == pytest.approx((-0.25, 7.75))
    assert len(fig.axes) == 2  # image + colour bar
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    assert any(isinstance(a, AnchoredSizeBar) for a in ax.artists)
    _save(fig, tmp_path / "map.png")


def test_spectrum_image_layout(cube, tmp_path):
    s, truth = cube
    fig = s.plot(marks=truth["edges"])
    nav, spec = fig.axes[0], fig.axes[1]
    assert nav.get_title().startswith("Navigator") and nav.get_xlabel() == "x"
    assert spec.get_xlabel() == "Energy loss (eV)"
    np.testing.assert_allclose(nav.images[0].get_array(), s.data.sum(axis=-1))
    np.testing.assert_allclose(spec.lines[0].get_ydata(), s.data.mean(axis=(0, 1)))
    _save(fig, tmp_path / "si.png")


def test_lazy_spectrum_image_and_line_scan(cube, tmp_path):
    s, _ = cube
    fig = s.as_lazy().plot()
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), s.data.sum(axis=-1))
    line = s.inav[:, 5]
    fig2 = line.plot()
    assert fig2.axes[0].get_ylabel() == "x (nm)" and fig2.axes[0].get_xlabel() == "Energy loss (eV)"  # no bar
    _save(fig2, tmp_path / "line.png")
    # a CL line scan: position and wavelength both in nm; drawn at equal aspect it was a sliver (67 x 1336 nm)
    cl = em.Signal(np.ones((67, 1336), np.float32), axes=[
        {"name": "x", "navigate": True, "scale": 1.0, "units": "nm"},
        {"name": "Wavelength", "scale": 1.0, "offset": 300.0, "units": "nm"}], signal_type="CL")
    assert cl.plot().axes[0].get_aspect() == "auto"


def test_profile_from_nav_axes(cube):
    s, _ = cube
    prof = s.sum(axis=(1, -1))
    fig = prof.plot(color="k")
    assert fig.axes[0].get_xlabel() == "x (nm)"


def test_into_given_axes_and_errors(cube):
    from matplotlib.figure import Figure

    s, _ = cube
    f = Figure()
    ax = f.add_subplot()
    assert plot_signal(s.inav[0, 0], ax=ax) is f
    with pytest.raises(ValueError, match="single panel"):
        plot_signal(s, ax=ax)
    with pytest.raises(ValueError, match="signal dimensions"):
        em.Signal(
            np.zeros((2, 3, 4)),
            axes=[{"navigate": False}] * 0
            or [
                {"name": "a", "navigate": False},
                {"name": "b", "navigate": False},
                {"name": "c", "navigate": False},
            ],
        ).plot()


def test_nice_length():
    assert nice_length(7.3) == 5 and nice_length(0.26) == 0.2 and nice_length(100) == 100


def test_a_few_line_maps_plot_as_a_grid_named_by_their_lines():
    # the stack was drawn as a "navigator" joining four elements' totals by a line, beside their mean image
    import emscale as em

    maps = em.Signal(np.random.default_rng(0).random((3, 10, 12)),
                     axes=[{"name": "line", "navigate": True}, {"name": "y", "navigate": False},
                           {"name": "x", "navigate": False}],
                     metadata={"Sample": {"xray_lines": ["Fe_Ka", "Si_Ka", "O_Ka"]}})
    fig = maps.plot()
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles == ["Fe_Ka", "Si_Ka", "O_Ka"]
    many = em.Signal(np.zeros((20, 4, 4)), axes=[{"name": "tilt", "navigate": True}, {"name": "y", "navigate": False},
                                                     {"name": "x", "navigate": False}])
    assert any(a.get_title().startswith("Navigator") for a in many.plot().axes)  # a long stack: navigator


def test_line_map_panels_each_carry_their_scale_bar_pixel_ticks_are_whole_and_raw_eds_reads_counts():
    """Of a stack of line maps only the first panel had a scale bar (the others calibrated ticks); maps on axes
    without units had ticks at 2.5 pixels; a raw EDS spectrum image of whole numbers was labelled 'Intensity'."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    def stack(units):
        return em.Signal(np.random.default_rng(0).random((3, 5, 6)),
                         axes=[{"name": "line", "navigate": True},
                               {"name": "y", "navigate": False, "scale": 2.0, "units": units},
                               {"name": "x", "navigate": False, "scale": 2.0 if units else 1.0, "units": units}],
                         metadata={"Sample": {"xray_lines": ["Fe_Ka", "Si_Ka", "O_Ka"]}})

    panels = [a for a in stack("nm").plot().axes if a.get_title()]
    assert len(panels) == 3 and all(any(isinstance(b, AnchoredSizeBar) for b in a.artists) for a in panels)
    for a in [a for a in stack(None).plot().axes if a.get_title()]:
        fig = a.figure
        fig.canvas.draw()
        assert all(float(v).is_integer() for v in a.get_xticks()), a.get_xticks()  # x: pixel indices
    eds = em.Signal(np.ones((4, 5, 64), dtype=np.uint16),
                    axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                          {"name": "Energy", "scale": 0.01, "units": "keV"}], signal_type="EDS_SEM")
    fig = eds.plot()
    assert fig.axes[0].get_title() == "Navigator: total counts"
    assert any(a.get_ylabel() == "Counts, mean per pixel" for a in fig.axes)
    floats = em.Signal(np.ones((4, 5, 64)), axes=eds.axes, signal_type="EDS_SEM")
    assert any(a.get_ylabel() == "Intensity, mean per pixel" for a in floats.plot().axes)


def test_a_sparse_scan_plots_its_measured_positions_only():
    # unmeasured positions were drawn as zero counts and diluted the mean spectrum ~6.7x at 15 %
    from emscale.workflows.samples import eds_si

    s, _ = eds_si(shape=(24, 28), n_channels=256, seed=1)
    sparse = s.sample_scan("random", 0.15, seed=0)
    fig = sparse.plot()
    nav, spec = fig.axes[0], fig.axes[1]
    # on two lines: on one it ran from -37 px, off the figure, over its colour bar
    assert " ".join(nav.get_title().split()).endswith("(15% of positions measured)") and "\n" in nav.get_title()
    assert np.isnan(nav.images[0].get_array().filled(np.nan)).mean() > 0.8
    mean = spec.lines[0].get_ydata()
    full = s.to_numpy().reshape(-1, 256).mean(axis=0)
    assert 0.7 < mean.sum() / full.sum() < 1.3  # the measured pixels' mean, not a sixth of it


def test_a_non_uniform_axis_is_drawn_at_its_values_a_uniform_one_as_before():
    """A line scan on the energy axis [1, 2, 4, 8, 16] eV with signal only at 4 eV: imshow spaced the five channels
    evenly over 0.25-16.75 eV and drew the 4 eV one centred at 8.5 eV. Now a mesh on the bin edges."""
    energy = {"name": "Energy", "units": "eV"}
    d = np.zeros((3, 5))
    d[:, 2] = 1.0
    s = em.Signal(d, axes=[{"name": "x", "navigate": True}, {**energy, "coords": [1.0, 2.0, 4.0, 8.0, 16.0]}])
    panel = s.plot().axes[0]
    assert len(panel.images) == 0
    (mesh,) = panel.collections
    xy = mesh.get_coordinates()
    np.testing.assert_allclose(xy[0, :, 0], [0.5, 1.5, 3.0, 6.0, 12.0, 20.0])  # midpoints, half a step beyond
    np.testing.assert_allclose(xy[:, 0, 1], [-0.5, 0.5, 1.5, 2.5])
    col = int(np.argmax(np.asarray(mesh.get_array())[0]))
    assert (xy[0, col, 0], xy[0, col + 1, 0]) == (3.0, 6.0)  # the bin holding 4 eV
    assert panel.get_xlim() == (0.5, 20.0) and panel.get_ylim() == (2.5, -0.5)  # first row at the top, as imshow
    uniform = em.Signal(d, axes=[{"name": "x", "navigate": True}, {**energy, "scale": 0.5, "offset": 1.0}]).plot()
    (im,) = uniform.axes[0].images
    assert im.get_extent() == [0.75, 3.25, 2.5, -0.5] and len(uniform.axes[0].collections) == 0


def test_a_reconstruction_plots_every_position():
    """A reconstruction keeps its scan's mask for the record but holds a value at every position: its navigator is
    not blanked where the scan did not measure (it was: 85 % NaN)."""
    from emscale.workflows.samples import eds_si

    s, _ = eds_si(shape=(24, 28), n_channels=256, seed=1)
    rec = s.sample_scan("random", 0.15, seed=0).inpaint("nearest")
    nav = rec.plot().axes[0]
    assert not np.isnan(nav.images[0].get_array().filled(np.nan)).any()


@pytest.mark.parametrize("shape, axes", [
    ((100,), [{"name": "E"}]),
    ((10, 10), [{"name": "y"}, {"name": "x"}]),
    ((4, 5, 6), [{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]),
])
def test_complex_data_are_refused_naming_modulus_and_phase(shape, axes):
    # before: a spectrum drew its real part labelled "Intensity", an image failed inside matplotlib's imshow
    s = em.Signal(np.exp(1j * np.linspace(0, 6, int(np.prod(shape)))).reshape(shape), axes=axes)
    with pytest.raises(em.DataError, match="complex values; plot needs real data.*np.abs.*np.angle"):
        s.plot()


@pytest.mark.parametrize("lazy", [False, True])
def test_a_few_nan_values_leave_the_navigator_and_mean_spectrum_whole(lazy):
    # before: 1 % NaN voxels in a cube of ones blanked ~a third of the navigator and most of the mean spectrum
    import dask.array as da

    d = np.ones((8, 8, 50))
    d[np.random.default_rng(0).random(d.shape) < 0.01] = np.nan
    d[5, 6, :] = np.nan  # a position with no value at all stays blank
    n_nan = int(np.isnan(d).sum())
    data = da.from_array(d, chunks=(3, 8, 50)) if lazy else d.copy()
    axes = [{"name": "y", "navigate": True, "units": "nm"}, {"name": "x", "navigate": True, "units": "nm"},
            {"name": "E", "units": "eV"}]
    s = em.Signal(data, axes=axes)
    with pytest.warns(UserWarning, match=f"{n_nan} of 3200 values .* are NaN"):
        fig = s.plot()
    nav = np.asarray(fig.axes[0].get_images()[0].get_array(), dtype=float)
    expected = np.sum(~np.isnan(d), axis=2).astype(float)
    expected[5, 6] = np.nan
    np.testing.assert_array_equal(nav, expected)
    spectrum = next(a for a in fig.axes if a.get_title() == "Mean spectrum")
    np.testing.assert_array_equal(spectrum.get_lines()[0].get_ydata(), np.ones(50))  # mean of the finite ones
    assert np.isnan(d).sum() == n_nan  # the data are unchanged


def test_the_navigator_title_names_what_its_colour_bar_does():
    """A quantity in the metadata ("Electrons (Counts)", as DM files give): the title said "total intensity" above
    a colour bar of "Electrons (Counts), total"."""
    s = em.Signal(np.ones((4, 5, 6)), metadata={"Signal": {"quantity": "Electrons (Counts)"}})
    fig = s.plot()
    assert fig.axes[0].get_title() == "Navigator: total Electrons (Counts)"
    assert em.Signal(np.ones((4, 5, 6))).plot().axes[0].get_title() == "Navigator: total intensity"


def test_log_norm_shows_the_core_loss_under_the_zero_loss_peak_and_leaves_out_values_at_or_below_zero(cube):
    """plot(norm="log"), as HyperSpy's: the spectrum's y axis or the image's colours on a log scale. Values <= 0
    (background-subtracted data) are left out, counted in a warning, never clipped to a made-up floor."""
    from matplotlib.colors import LogNorm

    s, _ = cube
    spec = s.inav[3, 4]
    (ax,) = spec.plot(norm="log").axes
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), spec.data)  # the counts themselves
    assert spec.plot().axes[0].get_yscale() == "linear"
    signed = em.Signal(np.array([-2.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 5.0, 3.0, 2.0]))
    with pytest.warns(UserWarning, match=r"norm='log': 2 of 9 values of the spectrum are <= 0 and are left out"):
        (ax,) = signed.plot(norm="log").axes
    y = ax.lines[0].get_ydata()
    assert np.ma.count_masked(y) == 2 and y.min() == 1.0
    image = em.Signal(np.outer(np.arange(1, 9), np.logspace(0, 4, 10)), axes=[{"navigate": False}] * 2)
    for fig in (image.plot(norm="log"), image.T.plot(norm="log")):  # an image; a line scan (position x energy)
        im = fig.axes[0].images[0]
        assert isinstance(im.norm, LogNorm) and (im.norm.vmin, im.norm.vmax) == (1.0, 8e4)
    _, spectrum_panel = s.plot(norm="log").axes[:2]  # a spectrum image: its mean spectrum on the log scale
    assert spectrum_panel.get_yscale() == "log"
    with pytest.raises(ValueError, match=r"no value above 0"):
        em.Signal(-np.ones(9)).plot(norm="log")
    with pytest.raises(ValueError, match=r"norm must be one of 'linear', 'log', got 'symlog'"):
        spec.plot(norm="symlog")


def test_a_hot_pixel_does_not_flatten_the_colours_and_limits_can_be_given():
    # one 60 000-count spike left 5 colours for a whole navigator (matrix 0.9, particle 4.8 of 255), and vmin/vmax
    # were ignored for images and crashed in Axes.plot for spectrum images
    rng = np.random.default_rng(0)
    d = rng.poisson(2, (64, 64, 128)).astype(np.uint16)
    d[20:40, 20:40] += rng.poisson(2, (20, 20, 128)).astype(np.uint16)
    axes = [{"name": "y", "scale": 5, "units": "nm"}, {"name": "x", "scale": 5, "units": "nm"},
            {"name": "Energy", "scale": 0.01, "units": "keV"}]
    clean = em.Signal(d.copy(), axes=axes, signal_type="EDS_TEM").plot().axes[0].images[0].get_clim()
    assert clean == (float(d.sum(-1).min()), float(d.sum(-1).max()))  # no outlier: min to max, as before
    d[5, 5, 100] = 60000
    fig = em.Signal(d, axes=axes, signal_type="EDS_TEM").plot()
    lo, hi = fig.axes[0].images[0].get_clim()
    nav = np.sort(d.sum(-1).astype(float), axis=None)
    # the range of the rest: the spike, an isolated pixel, is left out (image_limits), and nothing else; colour_limits
    # alone dropped the two highest and lowest values (nav[2], nav[-3]) with it, and pointed the bar at both ends
    assert (lo, hi) == (nav[0], nav[-2]) and hi < 2 * d[20:40, 20:40].sum(-1).mean()
    assert fig.axes[0].images[0].colorbar.extend == "max"  # a pointed end: values lie beyond the top colour
    img = em.Signal(rng.normal(1000, 30, (32, 32)), signal_type="image")
    assert img.plot(vmin=900, vmax=1100).axes[0].images[0].get_clim() == (900.0, 1100.0)
    assert em.Signal(d, axes=axes).plot(vmin=0, vmax=500).axes[0].images[0].get_clim() == (0.0, 500.0)
    with pytest.raises(TypeError, match="pass vmin=/vmax= as plot's own arguments"):
        img.plot(clim=(0, 1))


def test_a_sparse_count_map_is_no_hot_pixel():
    # 0.6 % of the pixels hold 1-10 counts: the percentiles clipped it at (0, 2), 90 % of its counts at the top
    # colour, where 0.5 % and 0.7 % kept (0, 10)
    rng = np.random.default_rng(0)
    img = np.zeros((128, 128))
    idx = rng.choice(img.size, int(0.006 * img.size), replace=False)
    img.flat[idx] = rng.integers(1, 11, idx.size)
    fig = em.Signal(img, axes=[{"name": "y"}, {"name": "x"}], signal_type="image").plot()
    assert fig.axes[0].images[0].get_clim() == (0.0, 10.0)
    img.flat[idx[:3]] = 500.0  # three hot pixels among them are still taken as such
    hot = em.Signal(img, axes=[{"name": "y"}, {"name": "x"}], signal_type="image").plot()
    assert hot.axes[0].images[0].get_clim() == (0.0, 10.0) and hot.axes[0].images[0].colorbar.extend == "max"


def test_isolated_hot_pixels_of_a_count_image_are_left_out_of_its_colour_range():
    """Three lone 500s in a Poisson(0.3) count image (0.07 % of 64 x 64, above colour_limits' 0.05 %) drew it over
    0-500, all black: Signal.plot now leaves isolated single-pixel spikes out, as a loading map does."""
    rng = np.random.default_rng(0)
    img = rng.poisson(0.3, (64, 64)).astype(float)
    img[[5, 30, 50], [7, 40, 20]] = 500.0
    im = em.Signal(img, signal_type="image").plot().axes[0].images[0]
    assert im.get_clim() == (0.0, float(np.sort(img, axis=None)[-4])) == (0.0, 4.0)
    assert im.colorbar.extend == "max"  # the spikes lie beyond the top colour
    given = em.Signal(img, signal_type="image").plot(vmin=0, vmax=500).axes[0].images[0]
    assert given.get_clim() == (0.0, 500.0) and given.colorbar.extend == "neither"  # given limits as they are


def _atom_columns(rng, sigma=1.5, spacing=8, size=128):
    """A HAADF image: Gaussian atom columns (sigma px, a few pixels each) on a lattice, one heavy column among them,
    with Poisson noise on a background of 20 counts."""
    y, x = np.mgrid[:size, :size].astype(float)
    img = np.full((size, size), 20.0)
    for cy in range(spacing // 2, size, spacing):
        for cx in range(spacing // 2, size, spacing):
            img += 200.0 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
    img += 5000.0 * np.exp(-((y - 60) ** 2 + (x - 60) ** 2) / (2 * sigma**2))  # one heavy column, far brighter
    return rng.poisson(img).astype(float)


def test_atom_columns_and_the_real_tilt_series_keep_their_colour_limits(real_dir):
    """Structure of several pixels is no spike: a HAADF image of atom columns (one of them 25 times as bright as
    the rest) and every projection of the real tilt series keep colour_limits' range and extend exactly."""
    from emscale.plotting import colour_limits, image_limits
    from emscale.tomography import load_tilt_series

    rng = np.random.default_rng(1)
    for img in (_atom_columns(rng), _atom_columns(rng, sigma=1.0, spacing=12)):
        im = em.Signal(img, signal_type="image").plot().axes[0].images[0]
        assert (*im.get_clim(), im.colorbar.extend) == colour_limits(img)
        assert im.get_clim()[1] == img.max()  # the heavy column keeps the top colour
    s = load_tilt_series(real_dir / "tomography/HAADF.mrc", tilt_axis="x")
    d = np.asarray(s.data)
    assert all(image_limits(p) == colour_limits(p) for p in d)  # each of the 77 projections
    mean = s.plot().axes[1].images[0]  # the series' mean image
    assert (*mean.get_clim(), mean.colorbar.extend) == colour_limits(mean.get_array())


def test_a_volume_says_how_to_look_at_it():
    """A reconstructed volume's plot() said only "reduce or slice it first"."""
    axes = [{"name": n, "navigate": False} for n in ("z", "y", "x")]
    vol = em.Signal(np.zeros((4, 5, 6), np.float32), axes=axes, signal_type="volume")
    with pytest.raises(ValueError, match=r"cannot plot 3 signal dimensions.*orthoslices_figure\(s\)"):
        vol.plot()


def test_an_image_of_both_signs_is_drawn_in_a_diverging_map_with_symmetric_limits():
    """A difference map (-3 .. +1) was drawn in viridis from -3 to 1: zero a blue-green nobody reads as zero."""
    y, x = np.mgrid[:20, :30]
    diff = em.Signal(np.where(x < 10, -3.0, 1.0) * (1 + y / 40), axes=[{"name": "y", "units": "nm"},
                                                                      {"name": "x", "units": "nm"}])
    im = diff.plot().axes[0].images[0]
    lo, hi = im.get_clim()
    assert im.get_cmap().name == "RdBu_r" and -lo == hi == 3.0 * (1 + 19 / 40)
    assert diff.plot(cmap="magma").axes[0].images[0].get_cmap().name == "magma"  # the user's map is kept
    assert diff.plot(vmin=-1, vmax=1).axes[0].images[0].get_clim() == (-1, 1)
    positive = em.Signal(np.abs(diff.data), axes=diff.axes)
    assert positive.plot().axes[0].images[0].get_cmap().name == "viridis"


def _eds_with_strobe(signal_type="EDS_SEM", nav=()):
    """A Bruker-like EDS spectrum (10 eV channels from -0.47 keV): the zero-energy peak at 0 keV 850 counts high,
    O K-alpha 310, Si K-alpha 250, a low continuum."""
    e = -0.47 + 0.01 * np.arange(1024)
    line = lambda c, a, w=0.03: a * np.exp(-0.5 * ((e - c) / w) ** 2)  # noqa: E731
    y = line(0.0, 850.0) + line(0.525, 310.0) + line(1.74, 250.0) + 5.0 * (e > 0.2)
    axes = [{"name": n, "units": "µm"} for n in "yx"[:len(nav)]]
    axes.append({"name": "Energy", "units": "keV", "scale": 0.01, "offset": -0.47})
    return em.Signal(np.broadcast_to(y, nav + y.shape).copy(), axes=axes, signal_type=signal_type)


def test_the_eds_zero_energy_peak_runs_off_the_top_of_a_spectrum_fitted_to_the_lines():
    """On the real Bruker map the zero-energy (strobe) peak, ~850 counts a pixel, set the y range and squeezed the
    lines (310 and below) into its lower third."""
    for s in (_eds_with_strobe(), _eds_with_strobe(nav=(3, 4))):
        (ax,) = [a for a in s.plot().axes if a.get_xlabel() == "Energy (keV)"]  # a spectrum image's: its mean
        top = ax.get_ylim()[1]
        assert 310 < top < 400, top
        note = [t.get_text().strip() for t in ax.texts if "zero-energy peak" in t.get_text()]
        assert note == ["zero-energy peak off scale (850)"], [t.get_text() for t in ax.texts]
    eels = _eds_with_strobe("EELS")  # a zero-loss peak is the spectrum's own: the range holds it
    assert eels.plot().axes[0].get_ylim()[1] > 850
    # a peak within the range fitted to the lines is no note's, and a pixel with nothing above it keeps its range
    low = _eds_with_strobe()
    low.data[low.data > 320] = 315.0
    ax = low.plot().axes[0]
    assert ax.get_ylim()[1] > 315 and not [t for t in ax.texts if "zero-energy" in t.get_text()]
    only = _eds_with_strobe()
    only.data[only.axes[0].values > 0.05] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib: "Attempting to set identical low and high ylims"
        assert only.plot().axes[0].get_ylim()[1] > 800


def test_a_spectrum_of_one_value_is_a_point_on_its_channels_width():
    """The classic EELS workflow summed to one position (``inav[0:1, :].isig[...].sum(axis=(1, -1))`` of the real
    2 x 2 map) is a spectrum of one value: its line drew nothing, and its equal limits got matplotlib's "identical
    low and high xlims" warning."""
    s = em.Signal(np.array([4069.8]), axes=[em.Axis("y", 1, scale=0.5, offset=2.0, units="nm")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = s.plot().axes[0]
    assert ax.get_xlim() == (1.75, 2.25)
    (line,) = ax.lines
    assert line.get_marker() == "o" and list(line.get_ydata()) == [4069.8]


def test_the_spectrum_image_titles_fit_at_paper_sizes_and_stay_at_the_default():
    """At 3.5 x 2.6, 4 x 3 and 5 x 3.5 in the navigator's "Navigator: total counts" started off the figure (-33 px
    at 3.5 in) and ran over its colour bar; at the default 11 x 4.4 in it is left on one line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(0)
    s = em.Signal(rng.poisson(5, (32, 32, 256)).astype(np.uint16), signal_type="EDS_TEM",
                  axes=[{"name": "y", "units": "nm"}, {"name": "x", "units": "nm"},
                        {"name": "Energy", "units": "keV", "scale": 0.01}])
    for size in ((3.5, 2.6), (4, 3), (5, 3.5)):
        fig = s.plot(figsize=size)
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.canvas.draw()
        nav, spectrum = fig.axes[0].title.get_window_extent(renderer), fig.axes[1].title.get_window_extent(renderer)
        bar = fig.axes[2].get_window_extent(renderer)
        assert 0 <= nav.x0 and nav.x1 <= bar.x0 and spectrum.x1 <= fig.bbox.width, (size, nav, bar, spectrum)
        assert fig.axes[0].get_title() == "Navigator:\ntotal counts"
    fig = s.plot()
    assert fig.axes[0].get_title() == "Navigator: total counts" and fig.axes[0].title.get_fontsize() == 12.0
    assert fig.axes[1].get_title() == "Mean spectrum"


def test_plot_signal_documents_the_colour_limits_it_takes():
    """The docstring said a hot pixel gave "the 1st-99.5th percentiles"; colour_limits takes the rest's range."""
    from emscale.plotting import OUTLIER_RANGE, OUTLIER_SHARE

    doc = " ".join(plot_signal.__doc__.split())
    assert "percentile" not in doc and "colour_limits" in doc
    assert f"at most {OUTLIER_SHARE * 100:g} % of them" in doc and OUTLIER_RANGE == 3.0 and "three times" in doc
    assert "the rest's range" in doc


def test_colour_limits_of_a_sparse_or_tiny_map_keep_its_values():
    """The outlier rule took the rest's range where the rest was constant (one count in one pixel: limits (0, 0))
    and dropped a 2 x 2 map's extreme values (the real EELS_SI's PCA loadings: half the map beyond its colours)."""
    from emscale.plotting import colour_limits

    one = np.zeros((30, 40))
    one[3, 4] = 1.0
    assert colour_limits(one) == (0.0, 1.0, "neither")
    tiny = np.array([[-3158.0, -100.0], [100.0, 2536.0]])
    assert colour_limits(tiny) == (-3158.0, 2536.0, "neither")
    hot = np.random.default_rng(0).poisson(50.0, (20, 20)).astype(float)  # 400 values: a hot pixel is still one
    hot[5, 5] = 60000.0
    vmin, vmax, extend = colour_limits(hot)
    assert vmax < 100 and extend == "max"


def test_a_title_with_mathtext_or_lines_of_its_own_is_not_split():
    fig = plot_signal(em.Signal(np.ones((4, 5, 8)), axes=[{"name": "y"}, {"name": "x"}, {"name": "E"}]),
                      figsize=(3.5, 2.6), title=None)
    from emscale.plotting import _fit_title

    ax = fig.axes[0]
    ax.set_title(r"Flux ($e^- \; per \; s$) over a long panel title")
    _fit_title(ax, 1.0)
    assert "\n" not in ax.get_title() and ax.title.get_fontsize() < 12.0
    ax.set_title("two\nlines that are much too wide for the panel", fontsize=12.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # TextToPath: "Glyph 10 missing"
        _fit_title(ax, 1.0)
    assert ax.get_title() == "two\nlines that are much too wide for the panel" and ax.title.get_fontsize() == 12.0


def test_a_sparse_scan_s_measured_pixels_are_no_spikes():
    """On a 10 % scan (unmeasured pixels NaN) every measured pixel stood alone among its neighbours, and a particle
    of 1000 over a background of 100 seen at one or two positions was taken for a spike: drawn over 71-138 where
    its range is 71-1000 (a code review, 5 of 40 draws). A pixel beside an unmeasured one is no spike."""
    from emscale.plotting import colour_limits, image_limits

    for seed in (0, 1, 2, 3, 4, 5, 6, 7):
        rng = np.random.default_rng(seed)
        img = rng.poisson(100, (64, 64)).astype(float)
        yy, xx = np.mgrid[:64, :64]
        img[(yy - 20) ** 2 + (xx - 40) ** 2 < 16] = 1000
        sparse = np.where(rng.random((64, 64)) < 0.1, img, np.nan)
        assert image_limits(sparse) == colour_limits(sparse), seed
