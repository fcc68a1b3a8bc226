"""Decomposition figures: phase-map colours equal the colours of the phase spectra, loading maps carry a
labelled colour bar and a scale bar, and components are titled by their names."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from emscale.core.axes import Axis
from emscale.plotting.components import component_label, factor_figure, loading_figure, phase_figure

NAV = [Axis(name="y", size=20, scale=2.0, units="nm", navigate=True),
       Axis(name="x", size=30, scale=2.0, units="nm", navigate=True)]
E = Axis(name="Energy", size=200, scale=0.05, units="keV")


def _labels(n=4, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, n, size=(20, 30))
    lab[0, :3] = -1  # masked pixels
    return lab


def _colour_of(im, value):
    return tuple(np.round(im.cmap(im.norm(value)), 6))


def test_phase_map_colours_are_the_spectrum_colours():
    n = 4
    lab = _labels(n)
    spectra = np.abs(np.random.default_rng(1).normal(size=(n, 200)))
    fig = phase_figure(lab, spectra, NAV, E, names=["Si Kα", "#1", "Cu K/L", "O Kα"])
    left, right = fig.axes[0], fig.axes[1]
    im = left.images[0]
    lines = right.get_lines()
    assert len(lines) == n
    for k, line in enumerate(lines):
        assert _colour_of(im, k) == tuple(np.round(to_rgba(line.get_color()), 6)), k
        np.testing.assert_allclose(line.get_ydata(), spectra[k])
    # the colours drawn in the map are those colours at the pixels of each phase
    rgba = im.to_rgba(im.get_array())
    for k in range(n):
        r, c = np.argwhere(lab == k)[0]
        assert tuple(np.round(rgba[r, c], 6)) == tuple(np.round(to_rgba(lines[k].get_color()), 6))
    assert len({_colour_of(im, k) for k in range(n)}) == n  # distinguishable
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert legend == ["phase 0: Si Kα", "phase 1", "phase 2: Cu K/L", "phase 3: O Kα"]
    cbar = fig.axes[2]
    assert [t.get_text() for t in cbar.get_yticklabels()] == legend  # the colour bar names the phases
    assert any(isinstance(a, AnchoredSizeBar) for a in left.artists)


def test_loading_maps_have_colour_bars_scale_bars_and_named_titles():
    maps = np.random.default_rng(2).random((3, 20, 30))
    fig = loading_figure(maps, NAV, ["Si Kα", "#1", "Cu K/L"], clabel="loading")
    panels = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in panels] == ["#0 Si Kα", "#1", "#2 Cu K/L"]
    for a, m in zip(panels, maps, strict=True):
        np.testing.assert_array_equal(a.images[0].get_array(), m)
        (bar,) = [x for x in a.artists if isinstance(x, AnchoredSizeBar)]
        assert bar.txt_label.get_text() == "10 nm"  # 60 nm field of view
        assert len(a.get_xticks()) == 0
    cbars = [a for a in fig.axes if not a.images]
    assert len(cbars) == 3 and all(c.get_ylabel() == "loading" for c in cbars)


def test_factor_legend_uses_the_names():
    f = np.random.default_rng(3).random((200, 2))
    fig = factor_figure(E, f, ["Si Kα", "#1"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["#0 Si Kα", "#1"]
    assert component_label(2, None) == "#2" and component_label(2, "#2") == "#2"


def test_many_components_are_drawn_as_small_panels_not_behind_a_long_legend():
    # PCA with 32 components of a CL line scan: a 32-entry legend squashed the profiles, and matplotlib's
    # "constrained_layout not applied" reached the terminal
    import warnings

    from emscale.core.html import png
    from emscale.plotting.components import LEGEND_MAX

    k = 32
    line = [Axis(name="x", size=67, scale=5.0, units="nm", navigate=True)]
    rng = np.random.default_rng(4)
    for fig in (loading_figure(rng.random((k, 67)), line, [f"#{c}" for c in range(k)]),
                factor_figure(E, rng.random((200, k)), None)):
        panels = [a for a in fig.axes if a.get_lines()]
        assert len(panels) == k and [a.get_title() for a in panels] == [f"#{c}" for c in range(k)]
        assert all(a.get_legend() is None or len(a.get_legend().get_texts()) <= LEGEND_MAX for a in fig.axes)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            png(fig)
    few = loading_figure(rng.random((3, 67)), line, None)
    assert len(few.axes) == 1 and len(few.axes[0].get_legend().get_texts()) == 3  # a few: one panel, a legend


def test_signed_loading_maps_get_a_diverging_map_centred_on_zero_and_positive_ones_viridis():
    """PCA loadings hold both signs (the demo's #1: -0.52 to 0.06 at the 1st/99th percentiles, half the absolute
    mass negative) and were drawn in viridis between their percentiles, zero an arbitrary green."""
    y, x = np.mgrid[:20, :30]
    signed = (x - 14.5) / 14.5  # -1 .. 1
    positive = 1.0 + y / 19.0
    noisy = positive - 1.05  # ICA-like: positive values over a floor just below zero (0.5 % of the mass)
    fig = loading_figure(np.stack([positive, signed, noisy]), NAV, clabel="loading")
    ims = [a.images[0] for a in fig.axes if a.images]
    assert [im.get_cmap().name for im in ims] == ["viridis", "RdBu_r", "viridis"]
    lo, hi = ims[1].get_clim()
    assert lo == -hi and hi >= 0.9
    assert ims[0].get_clim()[0] > 0  # the positive map keeps its own range


def test_the_composite_colours_stay_apart_under_deuteranopia_and_its_key_names_each_component():
    """The report's composite coloured the components pure red, green and blue: red and green (the demo's Si and
    SiO2) lie 27.8 apart (CIELAB dE76) under deuteranopia (Machado et al. 2009, severity 1)."""
    from skimage.color import deltaE_cie76, rgb2lab

    from emscale.plotting.components import COMPOSITE_COLOURS, composite_figure

    machado_deuteranopia = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                                     [-0.011820, 0.042940, 0.968881]])

    def seen(rgb):  # in sRGB, through the simulation applied to linear RGB
        lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        out = np.clip(lin @ machado_deuteranopia.T, 0, 1)
        return rgb2lab(np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055))

    colours = np.asarray(COMPOSITE_COLOURS, dtype=float)
    for a in range(3):
        for b in range(a + 1, 3):
            assert deltaE_cie76(seen(colours[a]), seen(colours[b])) > 50, (a, b)
    maps = np.zeros((4, 20, 30))
    maps[0, :, :10], maps[1, :, 10:20], maps[2, :, 20:], maps[3] = 1.0, 2.0, 3.0, 5.0
    fig = composite_figure(maps, NAV, ["Si Kα", "#1", "Cu K/L", "O Kα"])
    ax = fig.axes[0]
    rgb = ax.images[0].get_array()
    for k, col in enumerate((5, 15, 25)):  # each component alone: its own colour at full strength
        np.testing.assert_allclose(rgb[10, col], colours[k], atol=1e-6)
    key = [t.get_text() for t in ax.get_legend().get_texts()]
    assert key == ["magenta: #0 Si Kα", "green: #1", "blue: #2 Cu K/L"]
    assert ax.get_title() == "Colour composite of loadings #0-#2 (3 of 4 components)"
