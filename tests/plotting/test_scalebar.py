"""Scale bars read 1-500 in a length unit with a 1-2-5 number; maps have labelled colour bars; ticks never
overlap (hidden under a scale bar, at most five otherwise)."""

from __future__ import annotations

import numpy as np
import pytest
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

import emscale as em
from emscale.plotting import plot_signal
from emscale.plotting.scalebar import length_label, nice_length, scale_bar


@pytest.mark.parametrize(("span", "units", "length", "label"), [
    (0.0008, "µm", 0.0002, "2 Å"),  # not "0.0002 µm"
    (0.0008, "um", 0.0002, "2 Å"),
    (40.0, "nm", 10.0, "10 nm"),
    (2000.0, "nm", 500.0, "500 nm"),
    (3.2, "µm", 0.5, "500 nm"),
    (9.0, "µm", 2.0, "2 µm"),
    (0.4, "nm", 0.1, "1 Å"),
    (0.008, "nm", 0.002, "2 pm"),
    (30.0, "Å", 5.0, "5 Å"),
    (45.0, "Å", 10.0, "1 nm"),
    (5000.0, "µm", 1000.0, "1 mm"),
    (4.0, "1/nm", 1.0, "1 nm⁻¹"),
    (100.0, "", 20.0, "20"),
])
def test_scale_bar_unit_and_length(span, units, length, label):
    got_length, got_label = scale_bar(span, units)
    assert got_length == pytest.approx(length) and got_label == label


@pytest.mark.parametrize("span", np.geomspace(1e-4, 1e4, 37))
def test_scale_bar_label_is_a_nice_number_from_1_to_500(span):
    length, label = scale_bar(span, "µm")
    value, unit = label.split(" ")
    v = float(value)
    assert 1 <= v <= 500 and unit in ("m", "mm", "µm", "nm", "Å", "pm")
    mant = v / 10 ** np.floor(np.log10(v))
    assert any(np.isclose(mant, m) for m in (1, 2, 5))
    assert span / 10 < length <= span / 4 * (1 + 1e-9)  # a quarter of the field at most, never tiny


def test_nice_length_and_length_label():
    assert nice_length(7.3) == 5 and nice_length(0.26) == 0.2 and nice_length(100) == 100 and nice_length(-1) == 1
    assert length_label(0.05, "µm") == "50 nm" and length_label(1500.0, "nm") == "1.5 µm"


def _map(units="µm", scale=0.0001, shape=(24, 32)):
    rng = np.random.default_rng(0)
    axes = [{"name": "y", "units": units, "scale": scale, "navigate": False},
            {"name": "x", "units": units, "scale": scale, "navigate": False}]
    return em.Signal(rng.random(shape), axes=axes, metadata={"Signal": {"quantity": "HAADF (a.u.)"}})


def _bar(ax) -> AnchoredSizeBar:
    (bar,) = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    return bar


def test_map_in_um_gets_an_angstrom_bar_hidden_ticks_and_a_labelled_colour_bar():
    fig = plot_signal(_map())  # 32 x 0.1 nm = 3.2 nm field of view, calibrated in µm
    ax, cax = fig.axes
    assert _bar(ax).txt_label.get_text() == "5 Å"
    assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    assert cax.get_ylabel() == "HAADF (a.u.)"


def _overlaps(labels) -> bool:
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_without_a_scale_bar_the_tick_labels_do_not_overlap():
    fig = plot_signal(_map(units="µm", scale=0.000123456, shape=(40, 400)), scalebar=False)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert not [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert ax.get_xlabel() == "x (µm)"  # ticks shown: the axis carries the unit
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    xs = [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
    ys = [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
    assert 2 <= len(xs) <= 6 and len(ys) >= 2
    assert not _overlaps(xs) and not _overlaps(ys)  # a 40-pixel-high strip: few y ticks


def test_spectrum_image_navigator_has_a_labelled_colour_bar_and_a_nm_bar():
    from emscale.workflows.samples import eels_si

    s, _ = eels_si(shape=(16, 20), n_channels=64, seed=0)  # 0.5 nm pixels: 10 nm wide
    fig = s.plot()
    nav = fig.axes[0]
    assert _bar(nav).txt_label.get_text() == "2 nm"
    cbar_labels = [a.get_ylabel() for a in fig.axes[2:]]
    assert "Electrons (Counts), total" in cbar_labels
