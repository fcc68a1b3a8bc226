"""Axis calibration: value <-> index, derived axes, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from emscale import Axis, AxisError

E = Axis(name="E", size=300, scale=0.2, offset=50.0, units="eV")


def test_values_low_high_and_range_text():
    assert E.values[0] == 50.0
    assert E.values[-1] == pytest.approx(50.0 + 299 * 0.2)
    assert E.low == 50.0
    assert E.high == pytest.approx(109.8)
    assert E.describe_range() == "[50, 109.8] eV"
    neg = Axis(name="d", size=5, scale=-0.5, offset=2.0)
    assert (neg.low, neg.high) == (0.0, 2.0)


@pytest.mark.parametrize(
    "value, index",
    [
        (50.0, 0),
        (50.09, 0),
        (50.11, 1),
        (94.5, 222),  # (94.5-50)/0.2 = 222.5 -> tie goes to the channel nearer zero (HyperSpy)
        (110.1 - 0.2 * 2, 298),  # 109.7 -> 298.5 -> 298
        (55.7, 28),  # 28.500000000000004 in floating point: HyperSpy truncates at 1e-12 channel -> 28
        (50.1, 0),  # 0.5000000000000071 -> 0
        (109.8, 299),
        (109.85, 299),  # within half a channel of the top end
        (49.95, 0),  # within half a channel of the bottom end
    ],
)
def test_value_to_index_uniform(value, index):
    assert E.value_to_index(value) == index


def test_value_to_index_ties_follow_hyperspy():
    # y axis: offset -3, scale 2 -> values -3, -1, 1, 3. Half-way points go to the value closer to zero.
    y = Axis(name="y", size=4, scale=2.0, offset=-3.0)
    assert y.value_to_index(-2.0) == 1  # between -3 and -1 -> -1
    assert y.value_to_index(0.0) == 1  # between -1 and 1 -> ties at 0 go to the lower index, as HyperSpy
    assert y.value_to_index(2.0) == 2  # between 1 and 3 -> 1
    assert y.value_to_index(1.9) == 2
    assert y.value_to_index(2.1) == 3


def test_value_to_index_negative_scale():
    a = Axis(name="d", size=5, scale=-0.5, offset=2.0)  # values 2, 1.5, 1, 0.5, 0
    assert a.value_to_index(2.0) == 0
    assert a.value_to_index(0.0) == 4
    assert a.value_to_index(1.1) == 2
    assert a.value_to_index(1.25) == 2  # tie between 1.5 and 1.0 -> 1.0 (closer to zero)


@pytest.mark.parametrize("value", [49.8, 109.95 + 0.01, 200.0, -1.0])
def test_value_outside_axis_names_axis_and_range(value):
    with pytest.raises(AxisError) as ei:
        E.value_to_index(value)
    msg = str(ei.value)
    assert "'E'" in msg and "[50, 109.8] eV" in msg


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_value_not_finite(value):
    with pytest.raises(AxisError, match="not finite"):
        E.value_to_index(value)


def test_non_uniform_axis():
    w = Axis(name="w", size=6, coords=[1, 2, 4, 8, 16, 32], units="nm")
    assert not w.is_uniform
    np.testing.assert_array_equal(w.values, [1, 2, 4, 8, 16, 32])
    assert w.value_to_index(5.9) == 2
    assert w.value_to_index(6.1) == 3
    assert w.value_to_index(3.0) == 1  # tie -> value closer to zero, as HyperSpy
    assert w.value_to_index(32.0) == 5
    with pytest.raises(AxisError, match=r"'w'.*\[1, 32\] nm"):
        w.value_to_index(33.0)
    with pytest.raises(AxisError, match="coordinates given for size"):
        Axis(name="w", size=3, coords=[1.0, 2.0])


def test_sliced_uniform():
    a = E.sliced(slice(10, 20))
    assert (a.size, a.offset, a.scale) == (10, pytest.approx(52.0), 0.2)
    b = E.sliced(slice(10, 20, 3))  # 10, 13, 16, 19
    assert (b.size, b.offset, b.scale) == (4, pytest.approx(52.0), pytest.approx(0.6))
    c = E.sliced(slice(None, None, -1))
    assert c.size == 300
    np.testing.assert_allclose(c.values, E.values[::-1])
    d = E.sliced(slice(-5, None))
    np.testing.assert_allclose(d.values, E.values[-5:])


def test_sliced_non_uniform_with_negative_step():
    w = Axis(name="w", size=6, coords=[1, 2, 4, 8, 16, 32])
    np.testing.assert_array_equal(w.sliced(slice(None, None, -1)).values, [32, 16, 8, 4, 2, 1])
    np.testing.assert_array_equal(w.sliced(slice(None, None, -2)).values, [32, 8, 2])
    np.testing.assert_array_equal(w.sliced(slice(1, 5, 2)).values, [2, 8])


def test_rebinned_uniform_and_non_uniform():
    a = Axis(name="E", size=10, scale=0.5, offset=100.0).rebinned(2)
    # New channel 0 covers old 100.0 and 100.5: centre 100.25, scale 1.0
    assert (a.size, a.scale, a.offset) == (5, 1.0, 100.25)
    np.testing.assert_allclose(a.values, [100.25, 101.25, 102.25, 103.25, 104.25])
    w = Axis(name="w", size=5, coords=[1, 2, 4, 8, 16]).rebinned(2)
    np.testing.assert_array_equal(w.values, [1.5, 6.0])


def test_dict_round_trip_and_validation():
    for a in (E, Axis(name="w", size=3, coords=[1, 2, 5], navigate=True)):
        b = Axis.from_dict(a.to_dict())
        assert b == a
        np.testing.assert_array_equal(b.values, a.values)
    with pytest.raises(AxisError, match="unknown axis key"):
        Axis.from_dict({"name": "E", "sclae": 1.0}, size=3)
    with pytest.raises(AxisError, match="says size 4"):
        Axis.from_dict({"name": "E", "size": 4}, size=3)
    d = Axis.from_dict({"scale": None, "offset": None}, size=3, default_name="q")
    assert (d.name, d.scale, d.offset) == ("q", 1.0, 0.0)


def test_str():
    assert str(E) == "E (sig, 300): scale 0.2, offset 50 eV"


@pytest.mark.parametrize(("spec", "said"), [
    ({"scale": 0}, "scale must be finite and non-zero"),
    ({"scale": float("nan")}, "scale must be finite and non-zero"),
    ({"offset": float("inf")}, "offset must be finite"),
    # values overflowing to inf passed, and the first figure died in matplotlib ("arange: cannot compute length")
    ({"scale": 1e308}, r"offset 0.0 \+ scale 1e\+308 x 5 values overflows"),
    ({"coords": [1.0, 2.0, float("nan"), 4.0, 5.0]}, "coordinates must be finite"),
    ({"navigate": "no"}, "navigate must be True or False"),
])
def test_a_bad_calibration_is_refused_when_the_signal_is_built(spec, said):
    """Accepted before, and found only at the first slice: a zero scale read 'spans [0, 0]'; NaN coordinates were
    kept, and navigate="no" made the signal axis a navigation axis."""
    import emscale as em

    with pytest.raises(AxisError, match=said):
        em.Signal(np.ones((2, 3, 5)), axes=[{}, {}, spec])


def test_navigate_none_or_0_and_unsorted_coordinates_are_still_accepted():
    """A tilt series keeps its acquisition order (dose-symmetric, a repeated 0 degrees) as coordinates."""
    import emscale as em

    s = em.Signal(np.ones((5, 3)), axes=[{"coords": [0.0, 3.0, -3.0, 6.0, 0.0], "navigate": True},
                                         {"navigate": None}])
    assert [a.navigate for a in s.axes] == [True, False]
    assert Axis.from_dict({"size": 2, "navigate": 1.0}).navigate is True
