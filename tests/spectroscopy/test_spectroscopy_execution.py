"""EELS/EDS operations: executor= and progress= on every one that reads the data (same bits on every executor,
never recorded), and energy windows selected with the axis's value -> index rule (HyperSpy's isig)."""

from __future__ import annotations

import inspect
import logging
import warnings

import numpy as np
import pytest

import emscale
from emscale import Signal
from emscale.core.axes import Axis
from emscale.core.registry import get
from emscale.engine import InlineExecutor, ThreadExecutor, last_report
from emscale.spectroscopy import eds, eels

READING = {
    eels: ("estimate_zero_loss_position", "shift_spectra", "align_zero_loss", "elastic_threshold", "thickness",
           "edge_map"),
    eds: ("line_maps", "remove_spikes"),
}


def _low_loss(rng, shape=(12, 10), n=256):
    e = -5.0 + 0.1 * np.arange(n)
    shifts = rng.uniform(-0.5, 0.5, shape)
    zlp = np.exp(-0.5 * ((e - shifts[..., None]) / 0.4) ** 2)
    plasmon = 0.3 * np.exp(-0.5 * ((e - 15.0) / 2.0) ** 2)
    data = rng.poisson(2e4 * (zlp + plasmon) + 5.0).astype(np.float32)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy loss", "scale": 0.1, "offset": -5.0, "units": "eV"}]
    return Signal(data, axes=axes, signal_type="EELS")


def _eds_cube(rng, shape=(12, 10), n=1024):
    e = 0.01 * np.arange(n)
    lines = [eds.line_energy("Fe_Ka"), eds.line_energy("Si_Ka")]
    data = 3.0 + sum(200 * np.exp(-0.5 * ((e - en) / 0.06) ** 2) for en in lines) * np.ones(shape + (1,))
    data = rng.poisson(data).astype(np.uint16)
    data[4, 3, 100] += 900  # a spike
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy", "scale": 0.01, "offset": 0.0, "units": "keV"}]
    return Signal(data, axes=axes, signal_type="EDS_SEM")


@pytest.mark.parametrize("module, name", [(m, n) for m, names in READING.items() for n in names])
def test_every_operation_that_reads_the_data_takes_executor_and_progress(module, name):
    params = inspect.signature(getattr(module, name)).parameters
    assert params["executor"].default is None and params["progress"].default is None
    if name != "estimate_zero_loss_position":  # an array, not an operation
        op = get(name)
        assert "executor" in op.signature.parameters
        assert "executor" not in op.parameters and "progress" not in op.parameters


@pytest.fixture
def small_partitions(monkeypatch):
    """A few spectra rows per partition, so the executors really split the work."""
    monkeypatch.setattr(eels, "_PARTITION_BYTES", 3 * 10 * 256 * 4)
    monkeypatch.setattr(eds, "_PARTITION_BYTES", 3 * 10 * 1024 * 2)


def test_eels_operations_give_the_same_bits_inline_and_threaded_and_report_progress(rng, small_partitions):
    s = _low_loss(rng)
    calls = []

    def progress(done, total):
        calls.append((done, total))

    runs = {}
    for name, ex in (("inline", InlineExecutor()), ("threads", ThreadExecutor(n_workers=3))):
        runs[name] = (
            eels.thickness(s, executor=ex, progress=progress),
            eels.align_zero_loss(s, signal_range=(-2.0, 2.0), executor=ex, progress=progress),
        )
        assert last_report().n_partitions == 4 and last_report().executor == ex.name
    (t_a, al_a), (t_b, al_b) = runs["inline"], runs["threads"]
    assert np.array_equal(t_a.data, t_b.data, equal_nan=True)
    assert np.array_equal(al_a.signal.data, al_b.signal.data, equal_nan=True)
    assert np.array_equal(al_a.shifts.data, al_b.shifts.data)
    assert calls and calls[-1] == (calls[-1][1], calls[-1][1])
    assert all(0 < d <= t for d, t in calls)
    # executor and progress are not recorded
    assert t_b.history[-1]["op"] == "thickness" and t_a.history[-1]["params"] == t_b.history[-1]["params"]
    assert "executor" not in t_b.history[-1]["params"] and "progress" not in t_b.history[-1]["params"]


def test_eds_operations_give_the_same_bits_inline_and_threaded_and_report_progress(rng, small_partitions):
    s = _eds_cube(rng)
    got, calls = {}, []

    def progress(done, total):
        calls.append((done, total))

    for ex in (InlineExecutor(), ThreadExecutor(n_workers=3)):
        calls.clear()
        maps = eds.line_maps(s, ["Fe_Ka", "Si_Ka"], executor=ex, progress=progress)
        assert calls[-1] == (s.data.nbytes, s.data.nbytes) and len(calls) == 4
        clean, n = eds.remove_spikes(s, executor=ex, progress=progress)
        assert last_report().n_partitions == 4 and calls[-1] == (s.data.nbytes, s.data.nbytes)
        got[ex.name] = (maps.data, clean.data, n)
    assert np.array_equal(got["inline"][0], got["threads"][0])
    assert np.array_equal(got["inline"][1], got["threads"][1]) and got["inline"][2] == got["threads"][2] >= 1
    assert got["inline"][1][4, 3, 100] < 900


# -- value -> index: one rule, the axis's -----------------------------------------------------------------------
@pytest.mark.parametrize("window, channels", [
    ((-8.75, 1.75), (3, 23)),  # exact half-channel ties: half towards zero for values >= 0, away below
    ((-9.25, 0.75), (2, 21)),
    ((-8.25, 2.25), (4, 24)),
    ((-12.0, 50.0), (0, 60)),  # beyond the axis: clipped to its ends, as isig slices
])
def test_energy_windows_use_the_axis_rule(window, channels):
    ax = Axis("E", 60, 0.5, -10.0, "eV")
    assert eels._window(ax, window, "w") == channels
    assert eds._bounds(ax, *window) == channels
    assert tuple(ax.value_to_index(v, clip=True) for v in window) == channels


@pytest.mark.peer
def test_energy_windows_select_what_hyperspy_isig_selects():
    hs = pytest.importorskip("hyperspy.api")
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    ax = Axis("E", 60, 0.5, -10.0, "eV")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = hs.signals.Signal1D(np.arange(60.0))
    ref.axes_manager[0].offset, ref.axes_manager[0].scale = -10.0, 0.5
    for window in [(-8.75, 1.75), (-9.25, 0.75), (-8.25, 2.25), (0.25, 1.25), (-3.3, 7.7)]:
        sel = ref.isig[window[0] : window[1]].data
        assert eels._window(ax, window, "w") == (int(sel[0]), int(sel[-1]) + 1), window


def test_thickness_threshold_map_uses_the_axis_rule(rng):
    s = _low_loss(rng, shape=(2, 3))
    ax = s.axes[-1]
    thr = np.array([[0.75, 1.25, 1.0], [np.nan, 0.85, 2.05]])
    t = eels.thickness(s, zlp_window=thr, executor=InlineExecutor()).data
    y = s.data.astype(np.float64)
    for (i, j), v in np.ndenumerate(thr):
        if np.isnan(v):
            assert np.isnan(t[i, j])
            continue
        k = ax.value_to_index(v, clip=True)
        assert t[i, j] == np.log(y[i, j].sum() / np.concatenate([[0.0], np.cumsum(y[i, j])])[k])


def test_values_to_indices_is_value_to_index_elementwise():
    ax = Axis("E", 60, 0.5, -10.0, "eV")
    v = np.array([-20.0, -10.25, -8.75, -0.25, 0.0, 0.25, 1.75, 19.5, 19.76, 1e300])
    np.testing.assert_array_equal(ax.values_to_indices(v), [ax.value_to_index(x, clip=True) for x in v])
    with pytest.raises(emscale.AxisError, match="outside axis"):
        ax.values_to_indices(v, clip=False)
    with pytest.raises(emscale.AxisError, match="outside axis"):
        ax.value_to_index(19.76)


def test_a_reversed_energy_axis_is_refused_by_name_not_read_as_other_numbers(rng):
    # isig[::-1] is allowed (as in HyperSpy); the windows and fits here are channel ranges from low to high energy,
    # and a reversed axis gave other numbers without a word (a background of -2217 counts for +2141)
    low, cube = _low_loss(rng), _eds_cube(rng)
    calls = [
        lambda: low.isig[::-1].remove_background(signal_range=(5.0, 8.0)),
        lambda: eels.estimate_zero_loss_position(low.isig[::-1]),
        lambda: eels.thickness(low.isig[::-1]),
        lambda: eds.line_maps(cube.isig[::-1], ["Fe_Ka", "Si_Ka"]),
        lambda: low.isig[::-1].normalise(signal_range=(5.0, 8.0)),
    ]
    for call in calls:
        with pytest.raises(emscale.AxisError, match=r"runs from high to low .* reverse it first with s\.isig\[::-1\]"):
            call()
    # the same data the right way round are read as before
    assert np.isfinite(low.isig[::-1].isig[::-1].remove_background(signal_range=(5.0, 8.0)).to_numpy()).all()
