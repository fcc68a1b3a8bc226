"""The Signal data model: axis order, roles, reshaping, conversion and display."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emscale import Axis, AxisError, Signal

AXES = [
    {"name": "y", "scale": 2.0, "offset": -3.0, "units": "nm"},
    {"name": "x", "scale": 0.5, "offset": 1.0, "units": "nm"},
    {"name": "E", "scale": 0.2, "offset": 50.0, "units": "eV"},
]


@pytest.fixture
def si():
    """data[y, x, E] = 10000*y + 100*x + E, shape (4, 6, 40): every value names its position."""
    y, x, e = np.meshgrid(np.arange(4), np.arange(6), np.arange(40), indexing="ij")
    data = (10000 * y + 100 * x + e).astype(np.int64)
    return Signal(data, axes=AXES, signal_type="EELS", metadata={"beam": {"energy_kV": 200}}, title="si")


def test_user_order(si):
    assert si.shape == (4, 6, 40)
    assert si.nav_shape == (6, 4)  # x, y
    assert si.sig_shape == (40,)
    assert [a.name for a in si.user_axes] == ["x", "y", "E"]
    assert [a.name for a in si.axes] == ["y", "x", "E"]
    assert si.axis(0).name == "x" and si.axis(1).name == "y" and si.axis(-1).name == "E"
    assert si.axis(2).name == "E" and si.axis("y").scale == 2.0
    assert (si.nav_ndim, si.sig_ndim, si.ndim) == (2, 1, 3)
    assert si.nbytes == 4 * 6 * 40 * 8
    with pytest.raises(AxisError, match="no axis named 'z'.*'x', 'y', 'E'"):
        si.axis("z")
    with pytest.raises(AxisError, match="out of range"):
        si.axis(3)
    with pytest.raises(AxisError, match="name or an integer"):
        si.axis(1.0)


def test_default_axes_names():
    s = Signal(np.zeros((2, 3, 4, 5)))
    assert [a.name for a in s.user_axes] == ["x", "y", "z", "signal"]
    assert s.nav_shape == (4, 3, 2) and s.sig_shape == (5,)


def test_an_image_given_without_axes_is_an_image():
    """signal_type="image" makes the last two dimensions the signal, as HyperSpy's Signal2D (it was a line scan of
    spectra, which sparse scanning and tomography refused, a reviewer); a stack navigates along z."""
    data = np.arange(20.0).reshape(4, 5)
    s = Signal(data, signal_type="image")
    assert (s.nav_ndim, [a.name for a in s.axes]) == (0, ["y", "x"]) and np.array_equal(s.data, data)
    stack = Signal(np.zeros((3, 4, 5)), signal_type="Image")
    assert [(a.name, a.navigate) for a in stack.axes] == [("z", True), ("y", False), ("x", False)]
    assert Signal(np.zeros(6), signal_type="image").sig_shape == (6,)
    assert Signal(data).nav_ndim == 1  # no type: the last dimension alone is the signal, as before


def test_signal_axes_declared_first_are_moved_last_without_copy():
    data = np.arange(24.0).reshape(2, 3, 4)
    axes = [{"name": "E", "navigate": False}, {"name": "y", "navigate": True}, {"name": "x", "navigate": 1}]
    s = Signal(data, axes=axes)
    assert [a.name for a in s.axes] == ["y", "x", "E"]
    assert s.shape == (3, 4, 2)
    assert np.shares_memory(s.data, data)
    assert s.data[1, 2, 1] == data[1, 1, 2]


def test_construction_errors():
    with pytest.raises(AxisError, match="2 axes given for 3-dimensional"):
        Signal(np.zeros((2, 3, 4)), axes=[{}, {}])
    with pytest.raises(AxisError, match="unique.*'a'"):
        Signal(np.zeros((2, 3)), axes=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(AxisError, match="has size 5"):
        Signal(np.zeros((2, 3)), axes=[{}, Axis(name="E", size=5)])


def test_repr_and_describe(si):
    assert repr(si) == "<Signal EELS 'si' (6, 4|40) int64>"
    assert repr(si.as_lazy()) == "<Signal EELS 'si' (6, 4|40) int64, lazy>"
    d = si.describe()
    assert "[0] x (nav, 6): scale 0.5, offset 1 nm" in d
    assert "[2] E (sig, 40): scale 0.2, offset 50 eV" in d
    assert "<td>x</td><td>nav</td><td>6</td>" in si._repr_html_()


def test_transpose_and_T(si):
    t = si.T
    assert repr(t) == "<Signal 'si' (40|6, 4) int64>"  # pixels are not an EELS signal
    assert [a.name for a in t.axes] == ["E", "y", "x"]
    assert t.data[7, 2, 3] == si.data[2, 3, 7]
    assert t.T.nav_shape == (6, 4)
    np.testing.assert_array_equal(t.T.data, si.data)
    # Named signal axes: x becomes the only signal axis.
    u = si.transpose(signal_axes=["x"])
    assert [a.name for a in u.user_axes] == ["E", "y", "x"]
    assert u.sig_shape == (6,) and u.nav_shape == (40, 4)
    assert u.data[2, 7, 3] == si.data[2, 3, 7]
    assert u.axis("x").offset == 1.0 and not u.axis("x").navigate
    assert u.history[-1]["op"] == "transpose" and u.history[-1]["params"] == {"signal_axes": ["x"]}
    v = si.transpose(signal_axes=[np.int64(0)])  # a numpy integer (user index 0 = x)
    assert [a.name for a in v.sig_axes] == ["x"] and v.history[-1]["params"] == {"signal_axes": [0]}


@pytest.mark.parametrize("n", [1, np.int64(2)])
def test_transpose_refuses_a_bare_integer(si, n):
    """HyperSpy reads ``signal_axes=2`` as two signal axes; read as the axis at index 2 it left a spectrum image
    as it was, without a word."""
    with pytest.raises(AxisError, match=rf"signal_axes={int(n)} is ambiguous.*signal_axes=\[{int(n)}\]"):
        si.transpose(signal_axes=n)


def test_transpose_keeps_the_order_the_signal_axes_are_listed_in(si):
    """As HyperSpy: the first listed is the image's x (the last numpy axis). A set of axes kept numpy's order, so
    ``["y", "x"]`` gave the same image as ``["x", "y"]``."""
    a, b = si.transpose(signal_axes=["y", "x"]), si.transpose(signal_axes=["x", "y"])
    assert [x.name for x in a.sig_axes] == ["y", "x"] and [x.name for x in b.sig_axes] == ["x", "y"]
    assert a.data.shape == (40, 6, 4) and b.data.shape == (40, 4, 6)
    np.testing.assert_array_equal(a.data, si.data.transpose(2, 1, 0))
    np.testing.assert_array_equal(b.data, si.data.transpose(2, 0, 1))


def test_squeeze():
    axes = [{"name": "y"}, {"name": "x", "scale": 2.0}, {"name": "E"}]
    s = Signal(np.arange(15.0).reshape(1, 5, 3), axes=axes)
    q = s.squeeze()
    assert q.shape == (5, 3) and [a.name for a in q.axes] == ["x", "E"]
    assert q.axis("x").scale == 2.0
    np.testing.assert_array_equal(q.data, s.data[0])
    assert q.history[-1]["op"] == "squeeze"
    assert Signal(np.zeros((2, 3))).squeeze().shape == (2, 3)
    lazy = s.as_lazy().squeeze()
    assert lazy.is_lazy and np.array_equal(lazy.to_numpy(), s.data[0])


def test_rebin_counts_and_calibration(si):
    r = si.rebin((2, 2, 4))  # user order: x by 2, y by 2, E by 4
    assert r.shape == (2, 3, 10)
    assert r.dtype == np.int64
    assert int(r.data.sum()) == int(si.data.sum())
    # r[0, 0, 0] sums y 0..1, x 0..1, E 0..3
    expected = sum(10000 * y + 100 * x + e for y in range(2) for x in range(2) for e in range(4))
    assert r.data[0, 0, 0] == expected
    e = r.axis("E")
    assert (e.scale, e.offset) == (pytest.approx(0.8), pytest.approx(50.3))  # centre of 50.0..50.6
    assert (r.axis("x").scale, r.axis("x").offset) == (1.0, 1.25)
    assert (r.axis("y").scale, r.axis("y").offset) == (4.0, -2.0)
    assert r.history[-1]["params"] == {"scale": [2, 2, 4], "crop": False}
    # dict form, by name and index
    r2 = si.rebin({"E": 4, 0: 2, "y": 2})
    np.testing.assert_array_equal(r2.data, r.data)
    with pytest.raises(AxisError, match="names the same axis twice"):  # the last factor had won (a reviewer)
        si.rebin({"E": 4, 2: 2})


def test_rebin_integer_counts_do_not_overflow():
    s = Signal(np.full((4, 8), 40000, dtype=np.uint16))
    r = s.rebin((2, 4))
    assert r.dtype == np.uint64
    assert np.all(r.data == 8 * 40000)


@pytest.mark.parametrize(("dtype", "factor"), [(">f4", 2), (">f8", 2), (">u2", 1), (">u2", 2)])
def test_rebin_of_big_endian_data_sums_in_native_order(dtype, factor):
    """A big-endian float cube (any factor) or integers at factors of 1 raised numpy's raw TypeError ("The dtype and
    signature arguments to ufuncs only select the general DType and not details such as the byte order")."""
    import dask.array as da

    a = np.arange(4 * 4 * 8).reshape(4, 4, 8).astype(dtype)
    want = a.astype(a.dtype.newbyteorder("=")).reshape(4, 4, 8 // factor, factor).sum(-1)
    for data in (a, da.from_array(a, chunks=(1, 4, 8))):
        np.testing.assert_array_equal(np.asarray(Signal(data).rebin({-1: factor}).data), want)


def test_rebin_not_divisible_and_crop(si):
    with pytest.raises(AxisError, match=r"'E' of size 40 is not divisible by 3; pass crop=True"):
        si.rebin((1, 1, 3))
    c = si.rebin((1, 1, 3), crop=True)
    assert c.shape == (4, 6, 13)
    assert c.data[0, 0, 12] == 36 + 37 + 38  # channel 39 dropped
    with pytest.raises(AxisError, match="3 factors"):
        si.rebin((2, 2))
    with pytest.raises(AxisError, match="positive integer"):
        si.rebin((1.5, 1, 1))


def test_rebin_lazy_matches(si):
    lazy = si.as_lazy(chunks=(3, 6, 40)).rebin((2, 2, 4))
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.to_numpy(), si.rebin((2, 2, 4)).data)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 4), st.integers(1, 3), st.integers(1, 5), st.integers(0, 2**31), st.booleans(),
)
def test_rebin_preserves_total_property(fx, fy, fe, seed, crop):
    rng = np.random.default_rng(seed)
    shape = (fy * 3 + (1 if crop else 0), fx * 2, fe * 4 + (2 if crop else 0))
    data = rng.integers(0, 1000, shape).astype(np.uint32)
    s = Signal(data)
    r = s.rebin((fx, fy, fe), crop=crop)
    kept = data[: (shape[0] // fy) * fy, : (shape[1] // fx) * fx, : (shape[2] // fe) * fe]
    assert int(r.data.sum()) == int(kept.sum(dtype=np.uint64))


def test_compute_and_as_lazy(si):
    lazy = si.as_lazy(chunks=(1, 6, 40))
    assert lazy.is_lazy and lazy.data.chunks[0] == (1, 1, 1, 1)
    assert lazy.as_lazy() is lazy
    back = lazy.compute()
    assert not back.is_lazy and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.data, si.data)
    assert back.axes == si.axes and back.metadata == si.metadata
    assert si.compute() is si
    # as_lazy/compute change no values: no history entry
    assert back.history == si.history == []


def test_derive_copies_metadata(si):
    d = si.isig[2:5]
    d.metadata["beam"]["energy_kV"] = 300
    assert si.metadata["beam"]["energy_kV"] == 200
    assert d.signal_type == "EELS" and d.title == "si"


def test_xarray_round_trip(si):
    pytest.importorskip("xarray")
    s = si.isig[51.0:55.0]
    x = s.to_xarray()
    assert x.dims == ("y", "x", "E")
    np.testing.assert_allclose(x.coords["E"].values, s.axis("E").values)
    assert x.coords["E"].attrs["units"] == "eV"
    back = Signal.from_xarray(x)
    assert back.axes == s.axes  # exact calibration, roles and units
    np.testing.assert_array_equal(back.data, s.data)
    assert back.metadata == s.metadata and back.history == s.history
    assert (back.signal_type, back.title) == ("EELS", "si")
    # transposed roles survive too
    t = Signal.from_xarray(si.T.to_xarray())
    assert t.nav_shape == (40,) and t.sig_shape == (6, 4)


def test_xarray_round_trip_non_uniform_and_lazy():
    pytest.importorskip("xarray")
    s = Signal(
        np.arange(12.0).reshape(2, 6),
        axes=[{"name": "x", "scale": 3.0}, {"name": "w", "coords": [1, 2, 4, 8, 16, 32], "units": "nm"}],
    )
    back = Signal.from_xarray(s.to_xarray())
    assert not back.axis("w").is_uniform
    np.testing.assert_array_equal(back.axis("w").values, [1, 2, 4, 8, 16, 32])
    assert back.axis("x").scale == 3.0
    lazy = Signal.from_xarray(s.as_lazy().to_xarray())
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.to_numpy(), s.data)


def test_key_metadata_sums_up_long_number_lists():
    # an MRC header's magnification: one value per tilt, then zeros: 1024 numbers in emscale info and the reports
    from emscale.core.signal import key_metadata

    md = {"Acquisition_instrument": {"TEM": {"magnification": [115000.0] * 77 + [0.0] * 947, "beam_energy": 300.0,
                                             "convergence_angle": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]}}}
    out = key_metadata(md)
    assert out["TEM.magnification"] == "115000 (77 values, then 947 zeros)"
    assert out["TEM.beam_energy"] == "300 keV"  # with the unit of the metadata convention
    assert out["TEM.convergence_angle"] == "9 values from 1 to 9"
    elements = [f"E{i}" for i in range(16)]
    assert key_metadata({"Sample": {"elements": elements}})["elements"] == elements  # names are listed whole
    # the tilt angles hold a 0 degree tilt among them; an unused table is all zeros (it read "1024 values from 0 to
    # 0; the other 1024 are 0" and, for the angles, "1024 values from -76 to 76; the other 948 are 0")
    tilts = {"TEM": {"Stage": {"tilt_alpha": list(range(-76, 77, 2)) + [0] * 947, "tilt_beta": [0.0] * 1024}}}
    out = key_metadata({"Acquisition_instrument": tilts})
    assert out["TEM.Stage.tilt_alpha"] == "77 values from -76 to 76; 1 of them 0, then 947 zeros"
    assert out["TEM.Stage.tilt_beta"] == "0 (all 1024 values)"


def test_key_metadata_shows_the_eds_times_angles_and_the_stage_tilt():
    """`emscale info` of the Bruker file left out its real time and the detector's elevation and azimuth (what an
    EDS quantification needs besides the live time), and any stage tilt."""
    from emscale.core.signal import key_metadata

    md = {"Acquisition_instrument": {"SEM": {"Stage": {"tilt_alpha": 10.0, "tilt_beta": -2.5, "x": 3.0},
                                             "Detector": {"EDS": {"real_time": 70.07298, "live_time": 60.0,
                                                                  "elevation_angle": 35.0, "azimuth_angle": 90.0}}}}}
    eds = "SEM.Detector.EDS"
    assert key_metadata(md) == {"SEM.Stage.tilt_alpha": "10 deg", "SEM.Stage.tilt_beta": "-2.5 deg",
                                f"{eds}.live_time": "60 s", f"{eds}.real_time": "70.073 s",
                                f"{eds}.elevation_angle": "35 deg", f"{eds}.azimuth_angle": "90 deg"}


def test_an_acquisition_value_is_read_from_the_signal_types_microscope_first():
    """EDS line picking took the TEM's beam first and component naming the SEM's: one map, two beam energies."""
    from emscale.core.signal import acquisition_value

    md = {"Acquisition_instrument": {"SEM": {"beam_energy": 20.0, "Detector": {"EDS": {"live_time": 60}}},
                                     "TEM": {"beam_energy": 200.0, "Stage": {"tilt_alpha": "10"}}}}
    assert acquisition_value(md, "beam_energy", signal_type="EDS_SEM") == 20.0
    assert acquisition_value(md, "beam_energy", signal_type="CL_SEM") == 20.0
    assert acquisition_value(md, "beam_energy", signal_type="EDS_TEM") == 200.0
    assert acquisition_value(md, "beam_energy") == 200.0
    assert acquisition_value(md, "Detector", "EDS", "live_time", signal_type="EDS_TEM") == 60.0  # the other's
    assert acquisition_value(md, "Stage", "tilt_alpha") == 10.0  # a number written as text
    md["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] = "ten"
    assert acquisition_value(md, "Stage", "tilt_alpha") is None  # not a number
    assert acquisition_value({"Acquisition_instrument": ["SEM"]}, "beam_energy") is None
    assert acquisition_value(None, "beam_energy") is None


def test_rebin_refuses_an_integer_sum_that_does_not_fit_and_an_axis_it_would_empty():
    """The README says integer sums that would overflow 64 bits raise: sum did, rebin wrapped around."""
    import dask.array as da

    from emscale.core.errors import DataError

    big = np.full((4, 3, 2), 2**62, dtype=np.uint64)
    for data in (big, da.from_array(big, chunks=2)):
        with pytest.raises(DataError, match="does not fit in uint64"):
            np.asarray(Signal(data).rebin((3, 2, 1)).data)
    fits = Signal(np.full((4, 3, 2), 2**60, dtype=np.int64)).rebin((3, 2, 1))
    assert fits.data.dtype == np.int64 and np.all(fits.data == 6 * 2**60)
    with pytest.raises(AxisError, match="larger than its size 9"):
        Signal(np.ones((6, 9, 21))).rebin((10, 1, 1), crop=True)


def test_rebin_refuses_a_64_bit_sum_just_past_the_limit_and_keeps_one_at_it():
    """2 x 2**62 in int64 came back as -2**63 and 2 x 2**63 in uint64 as 0 (eager and lazy): the float64 shadow
    sum rounds 2**64 - 1 up to 2**64, so ``> float(max)`` let them pass. Now the check is exact."""
    from emscale.core.errors import DataError

    cases = [np.full((2, 3), 2**62, np.int64), np.full((2, 3), 2**63, np.uint64),
             np.array([[2**63 + 1000] * 3, [2**63 - 1] * 3], np.uint64), np.full((2, 3), -2**62 - 1, np.int64)]
    for data in cases:
        for s in (Signal(data), Signal(data).as_lazy(chunks=(1, 2))):
            with pytest.raises(DataError, match=f"sum of 2 values does not fit in {np.dtype(data.dtype.kind + '8')}"):
                np.asarray(s.rebin((2, 1)).data)
    at_max = Signal(np.array([[2**63] * 3, [2**63 - 1] * 3], np.uint64))
    at_min = Signal(np.full((2, 3), -2**62, np.int64))
    for s, want in ((at_max, 2**64 - 1), (at_min, -2**63)):
        for r in (s.rebin((2, 1)), s.as_lazy(chunks=(1, 2)).rebin((2, 1))):
            assert r.to_numpy().tolist() == [[want] * 3]


def test_the_signal_type_goes_with_the_signal_axes(si):
    """"EELS" names what the signal axis holds: a transpose, or a reduction over the energy axis, leaves images of
    pixels, which kept the type (and its copy in the metadata, which the constructor falls back to)."""
    si.metadata["Signal"] = {"signal_type": "EELS", "binned": True}
    for derived in (si.T, si.sum(-1), si.max("E"), si.transpose(signal_axes=["x"])):
        assert derived.signal_type == "" and "signal_type" not in derived.metadata["Signal"], derived
        assert derived.metadata["Signal"]["binned"]
    for kept in (si.sum(0), si.isig[2:9], si.inav[1], si.transpose(signal_axes=["E", "x"])):
        assert kept.signal_type == "EELS" and kept.metadata["Signal"]["signal_type"] == "EELS", kept


def test_transpose_to_no_signal_axis_is_refused():

    with pytest.raises(AxisError, match="names no axis"):
        Signal(np.ones((5, 4, 3))).transpose(signal_axes=[])


@pytest.mark.parametrize(("data", "metadata", "said"), [
    (np.array(["a", "b"]), None, "not dtype <U1"),
    (np.array([object(), object()]), None, "not dtype object"),
    (np.ones(3), [1, 2], "metadata must be a dict"),
])
def test_a_signal_of_what_is_not_numbers_is_refused(data, metadata, said):
    """Objects failed only when saved (zarr's "data type resolution from object failed"), a list of metadata with
    "cannot convert dictionary update sequence element #0"."""
    from emscale.core.errors import DataError

    with pytest.raises(DataError, match=said):
        Signal(data, metadata=metadata)


def test_repr_of_an_untyped_signal_and_a_negative_zero_offset():
    """Shown as "<Signal Signal 'hi' ...>" and "offset -0 nm" (the real DM4, MonoCL and Velox files)."""
    assert repr(Signal(np.ones((2, 3, 4)), title="hi")) == "<Signal 'hi' (3, 2|4) float64>"
    s = Signal(np.ones((2, 4)), axes=[{"offset": -0.0, "units": "nm", "navigate": True}, {}])
    assert "offset 0 nm" in s.describe() and "-0" not in s.describe()


def _eds_with_times(**times):
    md = {"Acquisition_instrument": {"TEM": {"beam_energy": 200.0, "Detector": {"EDS": dict(times)}}}}
    axes = [{"name": "y"}, {"name": "x"}, {"name": "Energy", "scale": 0.02, "units": "keV"}]
    return Signal(np.ones((40, 50, 64), np.uint16), axes=axes, signal_type="EDS_TEM", metadata=md)


def _times(s):
    eds = s.metadata["Acquisition_instrument"]["TEM"]["Detector"]["EDS"]
    return eds.get("live_time"), eds.get("real_time")


def test_summed_eds_pixels_sum_their_counting_times():
    """A 2x2 rebin kept live_time 1.5 s (exspy: 6.0) and a sum over 2000 pixels 1.5 s (exspy: 3000): counts per
    second of the result were 4 and 2000 times too high."""
    s = _eds_with_times(live_time=1.5, real_time=2.0)
    # real_time is the acquisition's (a Bruker map's is the whole map's): summing pixels does not lengthen it
    assert _times(s.rebin([2, 2, 1])) == (6.0, 2.0)
    assert _times(s.rebin([2, 1, 4])) == (3.0, 2.0)  # channels binned: no pixels summed beyond the 2 along x
    assert _times(s.sum(axis=("x", "y"))) == (3000.0, 2.0)
    assert _times(s.sum(axis="x")) == (75.0, 2.0)
    assert _times(s.sum()) == (3000.0, 2.0)  # every axis: the pixels' times, though no EDS axis is left
    assert _times(s.sum(axis="Energy")) == (1.5, 2.0)  # a sum over channels sums no pixels
    assert _times(s.mean(axis=("x", "y"))) == (1.5, 2.0)  # a mean is one pixel's worth
    assert _times(s) == (1.5, 2.0)  # the input keeps its own
    only_live = _eds_with_times(live_time=1.5)
    assert _times(only_live.rebin([2, 2, 1])) == (6.0, None)
    eels = _eds_with_times(live_time=1.5)
    eels.signal_type = "EELS"  # the EDS detector recorded alongside an EELS signal is not its pixels' time
    assert _times(eels.sum(axis=("x", "y"))) == (1.5, None)
    h = _exspy_signal(s, "EDS_TEM", "EDS.live_time", 1.5)
    assert h.rebin(scale=(2, 2, 1)).metadata.Acquisition_instrument.TEM.Detector.EDS.live_time == 6.0
    assert h.sum(axis=(0, 1)).metadata.Acquisition_instrument.TEM.Detector.EDS.live_time == 3000.0


def _exspy_signal(s, signal_type: str, key: str, value: float):
    """The peer's signal of ``s``'s numbers with one detector time set (``key`` under TEM.Detector)."""
    hs = pytest.importorskip("hyperspy.api")
    pytest.importorskip("exspy")
    h = hs.signals.Signal1D(s.to_numpy())
    h.set_signal_type(signal_type)
    h.metadata.set_item(f"Acquisition_instrument.TEM.Detector.{key}", value)
    return h


def test_summed_eels_pixels_sum_their_dwell_time():
    """A 2x2 rebin of the real EELS_SI kept dwell_time 0.01995 s (exspy: 0.0798): its counts per second were 4
    times too high. exspy's sum leaves the times; the counts of a sum are still n pixels' worth."""
    det = {"dwell_time": 0.5, "exposure": 0.25}
    md = {"Acquisition_instrument": {"TEM": {"Detector": {"EELS": dict(det), "EDS": {"live_time": 1.5}}}}}
    axes = [{"name": "y"}, {"name": "x"}, {"name": "Energy loss", "scale": 1.0, "units": "eV"}]
    s = Signal(np.ones((4, 6, 32), np.uint16), axes=axes, signal_type="EELS", metadata=md)

    def times(r):
        d = r.metadata["Acquisition_instrument"]["TEM"]["Detector"]
        return d["EELS"]["dwell_time"], d["EELS"]["exposure"], d["EDS"]["live_time"]

    assert times(s.rebin([2, 2, 1])) == (2.0, 1.0, 1.5)  # the EDS detector alongside keeps its own
    assert times(s.sum(axis=("x", "y"))) == (12.0, 6.0, 1.5)
    assert times(s.sum(axis="Energy loss")) == (0.5, 0.25, 1.5)
    h = _exspy_signal(s, "EELS", "EELS.dwell_time", 0.5)
    assert h.rebin(scale=(2, 2, 1)).metadata.Acquisition_instrument.TEM.Detector.EELS.dwell_time == 2.0


def test_the_title_is_one_value_with_the_metadata_s():
    """Editing metadata["General"]["title"] (HyperSpy's place) left s.title and the repr at the old name, also after a
    save and load (found by a review)."""
    s = Signal(np.ones((2, 3)), title="old")
    s.metadata["General"]["title"] = "new"
    assert s.title == "new" and "'new'" in repr(s)
    s.title = "newer"
    assert s.metadata["General"]["title"] == "newer"
    given = {"General": {"title": "theirs", "date": "2026-01-01"}}
    t = Signal(np.ones(3), title="ours", metadata=given)
    assert t.title == "ours" and t.metadata["General"]["date"] == "2026-01-01"
    assert given["General"]["title"] == "theirs"  # the caller's dict is not changed
    assert Signal(np.ones(3)).metadata == {}  # no title, no entry


def test_rebin_by_one_keeps_the_dtype():
    """``rebin([1, 1, 1])`` sums one value a block: uint16 came back as uint64 (4 x the bytes for the same counts)."""
    s = Signal(np.arange(24, dtype=np.uint16).reshape(2, 3, 4))
    for r in (s.rebin([1, 1, 1]), s.as_lazy().rebin([1, 1, 1])):
        assert r.dtype == np.uint16
        np.testing.assert_array_equal(np.asarray(r.data), s.data)
    assert s.rebin([1, 1, 2]).dtype == np.uint64  # a real sum widens, as numpy's


@pytest.mark.parametrize("name, way", [("crop_signal", "s.isig[start:stop]"), ("change_dtype", "s.astype("),
                                       ("decomposition", "s.decompose()"), ("axes_manager", "s.user_axes")])
def test_hyperspy_names_say_the_emscale_way(name, way):
    # a bare AttributeError named nothing to use instead (a HyperSpy user's review)
    s = Signal(np.zeros((2, 3, 4)))
    said = f"Signal has no '{name}' \\(HyperSpy's\\); in emscale: .*{re.escape(way)}"
    with pytest.raises(AttributeError, match=said):
        getattr(s, name)
    with pytest.raises(AttributeError, match="'Signal' object has no attribute 'no_such_thing'"):
        _ = s.no_such_thing
    assert not hasattr(s, name)


def test_every_hyperspy_equivalent_names_what_exists():
    # each way given is a Signal attribute or a function that exists
    import importlib

    from emscale.core.hyperspy_names import HYPERSPY_EQUIVALENTS

    for hint in HYPERSPY_EQUIVALENTS.values():
        for path in re.findall(r"emscale\.([a-z_.]+)\(", hint):
            module, _, func = ("emscale." + path).rpartition(".")
            assert hasattr(importlib.import_module(module), func), path
        for attr in re.findall(r"\bs\.([a-z_]+)", hint):
            assert hasattr(Signal, attr), attr


@pytest.mark.parametrize("shape", [(0, 4, 16), (4, 4, 0)])
def test_an_empty_signal_is_no_figure(shape):
    # matplotlib's "index 0 is out of bounds" and "Axis limits cannot be NaN or Inf" (a review)
    from emscale.core.errors import DataError

    with pytest.raises(DataError, match=r"nothing to plot: axis '.*' of .* has size 0"):
        Signal(np.ones(shape)).plot()
