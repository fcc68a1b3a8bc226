"""inav / isig: indices, calibrated floats, slices, steps, errors, views; cross-checked with HyperSpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emscale import AxisError, Signal

CAL = [
    {"name": "y", "scale": 2.0, "offset": -3.0, "units": "nm"},
    {"name": "x", "scale": 0.5, "offset": 1.0, "units": "nm"},
    {"name": "E", "scale": 0.2, "offset": 50.0, "units": "eV"},
]


def _si(shape=(4, 6, 400), dtype=np.int64):
    y, x, e = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return Signal((10000 * y + 100 * x + e).astype(dtype), axes=CAL)


@pytest.fixture
def si():
    return _si()


def test_inav_integers_are_x_then_y(si):
    p = si.inav[5, 2]  # x=5, y=2
    assert p.shape == (400,) and p.nav_shape == ()
    np.testing.assert_array_equal(p.data, si.data[2, 5])
    assert p.data[0] == 20500
    row = si.inav[:, 3]
    assert row.nav_shape == (6,) and row.axis("x").offset == 1.0
    np.testing.assert_array_equal(row.data, si.data[3])
    assert si.inav[-1, -1].data[0] == 30500
    col = si.inav[2]  # only x given: y stays
    assert col.nav_shape == (4,)
    np.testing.assert_array_equal(col.data, si.data[:, 2])


def test_inav_calibrated_floats(si):
    # x: offset 1, scale 0.5 -> 1, 1.5, ..., 3.5; y: offset -3, scale 2 -> -3, -1, 1, 3
    p = si.inav[2.0, 1.0]
    assert p.data[0] == 2 * 10000 + 2 * 100
    s = si.inav[1.5:3.0, -1.0:]  # x indices 1..3 (3.0 -> index 4 excluded), y indices 1..3
    assert s.nav_shape == (3, 3)
    assert s.axis("x").offset == 1.5 and s.axis("x").scale == 0.5
    assert s.axis("y").offset == -1.0 and s.axis("y").scale == 2.0
    np.testing.assert_array_equal(s.data, si.data[1:, 1:4])


def test_isig_half_open_floats(si):
    s = si.isig[94.5:110.1]  # 94.5 -> 222 (tie towards zero, HyperSpy), 110.1 -> 300.5 -> 300
    assert s.sig_shape == (78,)
    assert s.axis("E").offset == pytest.approx(94.4)
    assert s.axis("E").scale == 0.2
    np.testing.assert_array_equal(s.data, si.data[..., 222:300])
    t = si.isig[60.0:61.0]  # indices 50..54
    assert t.sig_shape == (5,) and t.data[0, 0, 0] == 50


def test_isig_int_and_float_mixed(si):
    s = si.isig[5:51.9]  # 51.9 -> 9.5 -> tie towards zero -> 9
    assert s.sig_shape == (4,)
    np.testing.assert_array_equal(s.data, si.data[..., 5:9])
    assert s.axis("E").offset == pytest.approx(51.0)


def test_negative_indices_and_steps(si):
    s = si.isig[-10:]
    np.testing.assert_array_equal(s.data, si.data[..., -10:])
    assert s.axis("E").offset == pytest.approx(50.0 + 390 * 0.2)
    s = si.isig[10:30:4]
    np.testing.assert_array_equal(s.data, si.data[..., 10:30:4])
    assert (s.axis("E").offset, s.axis("E").scale) == (pytest.approx(52.0), pytest.approx(0.8))
    s = si.isig[::-1]
    np.testing.assert_array_equal(s.data, si.data[..., ::-1])
    np.testing.assert_allclose(s.axis("E").values, si.axis("E").values[::-1])
    s = si.inav[::2, ::-1]
    np.testing.assert_array_equal(s.data, si.data[::-1, ::2])


def test_float_calibrated_step(si):
    s = si.isig[50.0:60.0:0.6]  # 3 channels per step
    np.testing.assert_array_equal(s.data, si.data[..., 0:50:3])
    assert s.axis("E").scale == pytest.approx(0.6)
    b = si.isig[::-0.4]  # negative calibrated step walks backwards, as in HyperSpy
    np.testing.assert_array_equal(b.data, si.data[..., ::-2])
    assert b.axis("E").offset == pytest.approx(50.0 + 399 * 0.2)
    assert b.axis("E").scale == pytest.approx(-0.4)
    with pytest.raises(AxisError, match="non-zero"):
        si.isig[::0.0]
    with pytest.raises(AxisError, match="non-zero integer"):
        si.isig[::0]
    # finer than a channel (0.2 eV): it was rounded up to one channel, silently; HyperSpy refuses it too
    with pytest.raises(AxisError, match=r"step 0.1 for axis 'E' is finer than its channel width 0.2"):
        si.isig[50.0:60.0:0.1]
    assert si.isig[::0.2].data.shape == si.data.shape  # exactly one channel
    assert si.isig[::0.2 * (1 - 1e-12)].data.shape == si.data.shape  # rounding of a computed step


def test_ellipsis(si):
    np.testing.assert_array_equal(si.inav[..., 1].data, si.data[1])
    np.testing.assert_array_equal(si.inav[2, ...].data, si.data[:, 2])
    np.testing.assert_array_equal(si.inav[...].data, si.data)
    np.testing.assert_array_equal(si.isig[..., 3:7].data, si.data[..., 3:7])


def test_index_errors(si):
    with pytest.raises(AxisError, match="index 6 is out of range for axis 'x' of size 6"):
        si.inav[6]
    with pytest.raises(AxisError, match="index -5 is out of range for axis 'y' of size 4"):
        si.inav[0, -5]
    with pytest.raises(AxisError) as ei:
        si.isig[130.0]
    assert "'E'" in str(ei.value) and "[50, 129.8] eV" in str(ei.value)
    with pytest.raises(AxisError, match=r"'E'.*\[50, 129.8\] eV"):
        si.isig[40.0:60.0]
    with pytest.raises(AxisError, match=r"outside axis 'x'.*\[1, 3.5\] nm"):
        si.inav[10.0]
    with pytest.raises(AxisError, match="3 indices but the signal has 2 navigation axes"):
        si.inav[0, 0, 0]
    with pytest.raises(AxisError, match="selects nothing"):
        si.isig[5:5]
    with pytest.raises(AxisError, match="integer index or a float"):
        si.isig["a"]
    # an integer slice bound past the end is clamped, as in numpy
    assert si.isig[390:1000].sig_shape == (10,)


def test_in_memory_slices_are_views(si):
    for s in (si.inav[1:4, 2], si.isig[51.0:55.0], si.isig[::3], si.inav[3, 1], si.isig[7]):
        assert np.shares_memory(s.data, si.data)


def test_integer_isig_leaves_navigation_as_signal(si):
    s = si.isig[7]
    assert s.nav_shape == () and s.sig_shape == (6, 4)
    np.testing.assert_array_equal(s.data, si.data[..., 7])


def test_lazy_slicing_matches(si):
    lazy = si.as_lazy(chunks=(1, 3, 400))
    for f in (lambda s: s.inav[1:5, 2], lambda s: s.isig[94.5:110.1], lambda s: s.isig[::-0.4],
              lambda s: s.inav[2.0, 1.0]):
        a, b = f(si), f(lazy)
        assert b.is_lazy and a.axes == b.axes
        np.testing.assert_array_equal(a.data, b.to_numpy())


def test_non_uniform_axis_slicing():
    w = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    s = Signal(np.arange(18).reshape(3, 6), axes=[{"name": "x"}, {"name": "w", "coords": w}])
    t = s.isig[3.5:20.0]  # 3.5 -> 4 (index 2); 20 -> 16 (index 4) excluded
    np.testing.assert_array_equal(t.data, s.data[:, 2:4])
    np.testing.assert_array_equal(t.axis("w").values, [4.0, 8.0])
    r = s.isig[::-2]
    np.testing.assert_array_equal(r.axis("w").values, [32.0, 8.0, 2.0])
    np.testing.assert_array_equal(r.data, s.data[:, ::-2])
    assert s.isig[9.0].data.tolist() == [3, 9, 15]
    with pytest.raises(AxisError, match="non-uniform"):
        s.isig[::2.0]
    with pytest.raises(AxisError, match=r"\[1, 32\]"):
        s.isig[0.5]


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(*[st.one_of(st.none(), st.integers(-8, 8)) for _ in range(6)]),
    st.sampled_from([None, 1, 2, 3, -1, -2]),
)
def test_int_slices_match_numpy_in_reversed_nav_order(bounds, step):
    data = np.arange(5 * 7 * 3).reshape(5, 7, 3)  # y=5, x=7, E=3
    s = Signal(data, axes=[{"name": "y", "offset": 10.0}, {"name": "x", "scale": 0.5}, {"name": "E"}])
    kx = slice(bounds[0], bounds[1], step)
    ky = slice(bounds[2], bounds[3])
    expected = data[ky, kx]
    if 0 in expected.shape:
        with pytest.raises(AxisError, match="selects nothing"):
            s.inav[kx, ky]
        return
    got = s.inav[kx, ky]
    np.testing.assert_array_equal(got.data, expected)
    np.testing.assert_allclose(got.axis("x").values, (np.arange(7) * 0.5)[kx])
    np.testing.assert_allclose(got.axis("y").values, (10.0 + np.arange(5))[ky])
    assert np.shares_memory(got.data, data)


# -- cross-check with HyperSpy -----------------------------------------------------------------------------
def _hs_pair(data):
    hs = pytest.importorskip("hyperspy.api")
    s = Signal(data, axes=CAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = hs.signals.Signal1D(data)
    # HyperSpy's axes_manager._axes are in numpy order too
    for hax, a in zip(h.axes_manager._axes, s.axes, strict=True):
        hax.scale, hax.offset, hax.name = a.scale, a.offset, a.name
    return s, h


def _same(ours, theirs):
    np.testing.assert_array_equal(ours.data, theirs.data)
    t_axes = theirs.axes_manager._axes
    assert len(t_axes) == ours.ndim
    for a, b in zip(ours.axes, t_axes, strict=True):
        assert a.size == b.size
        assert a.offset == pytest.approx(b.offset, abs=1e-12)
        assert a.scale == pytest.approx(b.scale, abs=1e-12)


@pytest.mark.peer
@pytest.mark.parametrize(
    "sig_key",
    [
        slice(94.5, 110.1), slice(50.1, 50.7), slice(55.7, 56.1), slice(50.0, 109.9), slice(49.95, 109.8),
        slice(10, 55.0), slice(5, 51.9), slice(None, None, 0.4), slice(None, None, -0.4),
        slice(60.3, 80.0, 0.6), slice(-10, None), slice(10, 30, 4),
    ],
    ids=str,
)
def test_isig_matches_hyperspy(sig_key):
    s, h = _hs_pair(_si().data)
    _same(s.isig[sig_key], h.isig[sig_key])


@pytest.mark.peer
def test_rounding_matches_hyperspy_on_every_tie():
    s, h = _hs_pair(_si((4, 6, 40)).data)
    for name in ("y", "x", "E"):
        ours = s.axis(name)
        theirs = h.axes_manager[name]
        # every half-way point and channel centre, and a nudge either side
        for v in ours.offset + ours.scale * np.arange(-0.5, ours.size, 0.5):
            for nudge in (0.0, 1e-9, -1e-9):
                value = float(v + nudge)
                try:
                    expected = int(theirs.value2index(value))
                except ValueError:
                    with pytest.raises(AxisError):
                        ours.value_to_index(value)
                    continue
                assert ours.value_to_index(value) == expected, (name, value)


@pytest.mark.peer
@pytest.mark.parametrize(
    "nav_key",
    [
        (slice(None), slice(1, 3)), (slice(1.5, 3.0), slice(-1.0, None)), (2.0, 1.0), (5, 2),
        (slice(None, None, -2),), (1.25,), (slice(1, 5, 2), -1.0),
    ],
    ids=str,
)
def test_inav_matches_hyperspy(nav_key):
    s, h = _hs_pair(_si().data)
    _same(s.inav[nav_key], h.inav[nav_key])


@pytest.mark.peer
def test_inav_big_matches_hyperspy():
    # The example: inav[:, 12:62] on a 64x80 map.
    rng = np.random.default_rng(3)
    data = rng.poisson(3.0, (80, 64, 16)).astype(np.uint16)
    s, h = _hs_pair(data)
    _same(s.inav[:, 12:62], h.inav[:, 12:62])
    _same(s.inav[3.25:20.0, 12:62].isig[51.0:52.3], h.inav[3.25:20.0, 12:62].isig[51.0:52.3])


@pytest.mark.peer
def test_sum_matches_hyperspy():
    rng = np.random.default_rng(4)
    data = rng.poisson(3.0, (8, 10, 50)).astype(np.int64)
    s, h = _hs_pair(data)
    ours = s.sum(axis=(1, -1))  # y and E, leaving x
    theirs = h.sum(axis=(1, -1))
    np.testing.assert_array_equal(ours.data, theirs.data)
    np.testing.assert_array_equal(ours.data, data.sum(axis=(0, 2)))
    assert ours.axes[0].name == "x" and ours.axes[0].offset == theirs.axes_manager._axes[0].offset
    for axis in ("E", 0, (0, 1), ("x", "E")):
        np.testing.assert_array_equal(s.sum(axis=axis).data, h.sum(axis=axis).data)
        np.testing.assert_allclose(s.mean(axis=axis).data, h.mean(axis=axis).data, rtol=1e-12)


def test_a_calibrated_stop_may_reach_the_end_of_the_axis(si):
    # no float slice could keep the last channel: isig[100.0:130.0] of an axis ending at 129.8 was refused
    assert si.isig[100.0:129.9].sig_shape == (149,)  # 129.9 rounds to the last channel, which a stop leaves out
    for stop in (129.95, 130.0):
        np.testing.assert_array_equal(si.isig[100.0:stop].data, si.data[..., 250:])
    with pytest.raises(AxisError, match=r"outside axis 'E'.*a slice stop may reach one channel past the last "
                                        r"\('E' ends at 130\), or leave the stop out"):
        si.isig[100.0:130.1]
    with pytest.raises(AxisError, match="outside axis 'E'"):  # a start is a channel: none lies at 130
        si.isig[130.0:]


def test_a_series_keeps_the_acquisition_values_of_the_frames_it_keeps():
    # a tilt series sliced with inav kept every frame's stage tilt: 77 tilts for 20 frames, and its angles could not
    # be read from the header any more
    tilts = [-60.0 + 10 * i for i in range(13)]
    md = {"Acquisition_instrument": {"TEM": {"Stage": {"tilt_alpha": tilts, "x": [0.5] * 13},
                                             "beam_energy": 300.0, "Detector": {"exposure": list(range(13))}}},
          "Sample": {"elements": list(range(13))}}
    s = Signal(np.zeros((13, 4, 5)), axes=[{"name": "z", "size": 13, "navigate": True},
                                           {"name": "y", "size": 4, "navigate": False},
                                           {"name": "x", "size": 5, "navigate": False}], metadata=md)
    stage = s.inav[::4].metadata["Acquisition_instrument"]["TEM"]
    assert stage["Stage"]["tilt_alpha"] == tilts[::4] and stage["Stage"]["x"] == [0.5] * 4
    assert stage["Detector"]["exposure"] == [0, 4, 8, 12] and stage["beam_energy"] == 300.0
    assert s.inav[3].metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] == -30.0
    assert s.inav[::4].metadata["Sample"]["elements"] == list(range(13))  # not a value a frame
    assert s.metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] == tilts  # the parent untouched
    assert s.isig[1:3].metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] == tilts


def test_an_axis_in_acquisition_order_spans_all_its_values_and_refuses_a_calibrated_slice():
    """A dose-symmetric tilt series keeps its angles in acquisition order (0, 20, -20, 40, -40, 60, -60): its range
    read from the ends, [-60, 0] deg, refused 40 and 60 degrees ("outside the axis") and a slice -40.0:40.0 said the
    axis ends at -180."""
    angles = [0.0, 20.0, -20.0, 40.0, -40.0, 60.0, -60.0]
    data = np.arange(7 * 4 * 5, dtype=np.float32).reshape(7, 4, 5)
    s = Signal(data, axes=[{"name": "tilt", "units": "deg", "coords": angles, "navigate": True},
                           {"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    ax = s.axes[0]
    assert (ax.low, ax.high, ax.describe_range()) == (-60.0, 60.0, "[-60, 60] deg")
    np.testing.assert_array_equal(s.inav[40.0].data, data[3])
    np.testing.assert_array_equal(s.inav[59.0].data, data[5])  # the nearest
    with pytest.raises(AxisError, match=r"'tilt' holds its values out of order \(0, 20, -20, 40, -40, \.\.\. deg"):
        s.inav[-40.0:40.0]
    assert s.inav[1:3].axes[0].coords.tolist() == [20.0, -20.0]  # by index, as before
    with pytest.raises(AxisError, match="outside axis 'tilt', which spans"):
        s.inav[61.0]
    # in order with a value taken twice (0 degrees at the start and the end of a series' first half): sliced as before
    twice = Signal(data[:6], axes=[{"name": "tilt", "coords": [-60.0, -40.0, -20.0, 0.0, 0.0, 20.0], "navigate": True},
                                   {"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    assert twice.inav[-20.0:20.0].axes[0].coords.tolist() == [-20.0, 0.0, 0.0]
