"""Reductions by name or user-order index; exact integers, float64 accumulation, partition merges."""

from __future__ import annotations

import numpy as np
import pytest

import emscale.engine.passes as passes
from emscale import AxisError, InlineExecutor, Signal, ThreadExecutor
from emscale.engine import last_report, reduce
from emscale.engine.reductions import result_dtype

OPS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "std": np.std}
# user-order axis spec -> numpy dims for data[y, x, E]
AXIS_CASES = [
    (None, (0, 1, 2)), (0, (1,)), ("x", (1,)), (1, (0,)), ("y", (0,)), (-1, (2,)), (2, (2,)), ("E", (2,)),
    ((1, -1), (0, 2)), (("x", "E"), (1, 2)), ((0, 1), (0, 1)), ((0, "y", -1), (0, 1, 2)),
]


@pytest.fixture
def small_partitions(monkeypatch):
    """Force many partitions in Signal reductions: one row (one y line) of data per partition or so."""
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 1)


def _signal(data):
    return Signal(data, axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "scale": 0.1}])


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("axis, dims", AXIS_CASES, ids=str)
def test_against_numpy_float(op, axis, dims, rng, small_partitions):
    data = rng.normal(100.0, 7.0, (9, 5, 16))
    s = _signal(data)
    got = getattr(s, op)(axis=axis)
    expected = OPS[op](data, axis=dims)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=0)
    assert last_report().n_partitions == 9
    assert got.history[-1]["op"] == op


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("axis, dims", AXIS_CASES, ids=str)
def test_against_numpy_int_exact(op, axis, dims, rng, small_partitions):
    data = rng.integers(0, 60000, (9, 5, 16)).astype(np.uint16)
    s = _signal(data)
    got = getattr(s, op)(axis=axis).data
    if op == "sum":
        assert got.dtype == np.uint64
        np.testing.assert_array_equal(got, np.sum(data, axis=dims, dtype=np.uint64))
    elif op in ("max", "min"):
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, OPS[op](data, axis=dims))
    else:
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, OPS[op](data.astype(np.float64), axis=dims), rtol=1e-12, atol=0)


def test_result_axes_and_roles():
    s = _signal(np.arange(4 * 3 * 5).reshape(4, 3, 5))
    r = s.sum(axis=(1, -1))  # sums y and E, leaves x which becomes the signal axis
    assert [a.name for a in r.axes] == ["x"] and not r.axes[0].navigate
    assert r.nav_shape == () and r.sig_shape == (3,)
    expected = [sum(15 * y + 5 * x + e for y in range(4) for e in range(5)) for x in range(3)]
    np.testing.assert_array_equal(r.data, expected)
    sp = s.sum(axis=("x", "y"))  # the sum spectrum keeps the E calibration
    assert sp.axes[0].name == "E" and sp.axes[0].scale == 0.1
    m = s.max(axis="E")
    assert m.nav_shape == () and m.sig_shape == (3, 4)  # navigation becomes the signal (HyperSpy-style)
    total = s.sum()
    assert total.data.shape == () and int(total.data) == sum(range(60))
    assert total.history[-1]["params"] == {"axis": None}
    assert s.sum(axis=(1, -1)).history[-1]["params"] == {"axis": [1, -1]}
    with pytest.raises(AxisError, match="same axis twice"):
        s.sum(axis=(0, "x"))
    with pytest.raises(AxisError, match="no axis named"):
        s.mean(axis="q")
    with pytest.raises(AxisError, match="axis must be a name or an integer, not 1.5"):  # was a TypeError
        s.mean(axis=1.5)
    np.testing.assert_array_equal(s.sum(axis=np.array([1, -1])).data, s.sum(axis=(1, -1)).data)


def test_integer_sums_exact_beyond_float64():
    big = 2**53 + 1  # not representable in float64
    data = np.full((7, 2, 3), big, dtype=np.int64)
    data[0, 0, 0] = -(2**60)
    s = _signal(data)
    total = int(s.sum().data)
    assert total == 41 * big - 2**60
    per_x = s.sum(axis=("y", "E")).data
    assert per_x.dtype == np.int64
    assert [int(v) for v in per_x] == [20 * big - 2**60, 21 * big]
    with_threads = int(s.sum(executor=ThreadExecutor(2)).data)
    assert with_threads == total


def test_unsigned_sum_does_not_wrap(small_partitions):
    data = np.full((6, 4, 10), 65535, dtype=np.uint16)
    s = _signal(data)
    assert int(s.sum().data) == 65535 * 240
    np.testing.assert_array_equal(s.sum(axis="E").data, np.full((6, 4), 655350, dtype=np.uint64))
    assert s.sum(axis="E").dtype == np.uint64
    b = Signal(np.ones((3, 4), dtype=bool))
    assert b.sum().dtype == np.int64 and int(b.sum().data) == 12


def test_float32_sum_accumulates_in_float64():
    data = np.ones((4000, 1), dtype=np.float32)
    data[0, 0] = 2.0**24  # float32 accumulation would drop every +1 after this
    s = Signal(data)
    got = s.sum(axis=0).data
    assert got.dtype == np.float32
    assert got[0] == np.float32(2.0**24 + 3999)
    assert float(s.mean().data) == pytest.approx((2.0**24 + 3999) / 4000, rel=1e-7)
    assert result_dtype("sum", np.float32) == np.float32
    assert result_dtype("mean", np.int16) == np.float64


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("axis, dims", AXIS_CASES[:5] + AXIS_CASES[8:9], ids=str)
def test_against_numpy_complex(op, axis, dims, rng, small_partitions):
    """The mean and std of complex data kept only the real part (a float64 accumulator): 1.5+0j for 1.5+1j."""
    data = (rng.normal(3.0, 2.0, (9, 5, 16)) + 1j * rng.normal(-1.0, 0.5, (9, 5, 16))).astype(np.complex64)
    got = getattr(_signal(data), op)(axis=axis).data
    expected = OPS[op](data.astype(np.complex128), axis=dims)
    assert got.dtype == (np.float32 if op == "std" else np.complex64)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0)


def test_std_chan_merge_many_partitions(rng):
    # A large offset makes a naive sum-of-squares merge lose digits; Chan's formula keeps 1e-12.
    data = 1e4 + rng.normal(0.0, 1.0, (257, 3, 8))
    for rows in (1, 2, 7, 64, 257):
        got = reduce(data, "std", (0, 1, 2), executor=InlineExecutor())
        assert got == pytest.approx(np.std(data), rel=1e-12)
        from emscale.engine.passes import run_pass
        from emscale.engine.reductions import reduction_pass

        per_channel = run_pass(data, reduction_pass("std", (0, 1), data.dtype), InlineExecutor(), rows=rows)
        np.testing.assert_allclose(per_channel, np.std(data, axis=(0, 1)), rtol=1e-12, atol=0)
        assert last_report().n_partitions == -(-257 // rows)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_lazy_equals_in_memory_and_executors_bit_identical(dtype, rng, small_partitions, monkeypatch):
    data = (rng.gamma(2.0, 50.0, (23, 6, 12))).astype(dtype)
    s = _signal(data)
    lazy = s.as_lazy(chunks=(4, 6, 12))
    exact = np.dtype(dtype).kind in "iu"
    for op in OPS:
        for axis in (None, "x", (1, -1)):  # merged, concatenated, merged
            mem = getattr(s, op)(axis=axis, executor=InlineExecutor()).data
            lz = getattr(lazy, op)(axis=axis, executor=InlineExecutor()).data
            thr = getattr(lazy, op)(axis=axis, executor=ThreadExecutor(n_workers=2, prefetch=1)).data
            thr_mem = getattr(s, op)(axis=axis, executor=ThreadExecutor(n_workers=3, prefetch=0)).data
            assert mem.dtype == lz.dtype == thr.dtype
            if exact:
                np.testing.assert_array_equal(mem, lz)
            else:
                np.testing.assert_allclose(mem, lz, rtol=1e-12, atol=0)
            assert np.array_equal(lz, thr), (op, axis)
            assert np.array_equal(mem, thr_mem), (op, axis)
    # with 1-byte partitions every row is its own partition (23), even across the 4-row dask chunks
    lazy.sum(axis="E", executor=InlineExecutor())
    assert last_report().n_partitions == 23
    # with a budget of 5 rows the partitions are aligned to the 4-row chunks: 6 partitions
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 5 * 6 * 12 * np.dtype(dtype).itemsize)
    lazy.sum(axis="E", executor=InlineExecutor())
    assert last_report().n_partitions == 6


def test_default_partition_size_is_read_at_call_time(monkeypatch):
    data = np.zeros((10, 4, 8))
    s = _signal(data)
    s.sum()
    assert last_report().n_partitions == 1
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 2 * 4 * 8 * 8)  # two rows
    s.sum()
    assert last_report().n_partitions == 5


def test_progress_from_signal_reduction():
    calls = []
    s = _signal(np.ones((3, 2, 4), dtype=np.int32))
    s.sum(axis="E", progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (3 * 2 * 4 * 4, 3 * 2 * 4 * 4)


def test_std_holds_one_work_copy_of_a_partition():
    # (x - mean) ** 2 held three float64 copies of each partition: 2x the data's float64 size at peak here
    import tracemalloc

    from emscale.engine.executors import InlineExecutor
    from emscale.engine.reductions import reduce

    x = np.random.default_rng(0).poisson(5, (64, 64, 256)).astype(np.uint16)
    tracemalloc.start()
    try:
        out = reduce(x, "std", (0, 1), executor=InlineExecutor())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(out, x.astype(np.float64).std(axis=(0, 1)), rtol=1e-12)
    assert peak < 1.5 * x.size * 8, peak / (x.size * 8)


def test_an_energy_window_summed_from_counts_stays_counts_and_is_titled_by_its_window():
    """``s.isig[7.9:8.2].sum(-1)`` of a uint16 EDS cube lost the signal type with the energy axis: an untitled map
    whose colour bar said "Intensity", where a pixel spectrum of the same cube says "Counts"."""
    from emscale.plotting import intensity_label

    data = np.random.default_rng(0).poisson(3.0, (4, 5, 1024)).astype(np.uint16)
    s = Signal(data, axes=[{"name": "y", "units": "nm"}, {"name": "x", "units": "nm"},
                           {"name": "Energy", "units": "keV", "scale": 0.01}], signal_type="EDS_TEM")
    m = s.isig[7.9:8.2].sum(-1)
    np.testing.assert_array_equal(m.data, data[..., 790:820].sum(-1, dtype=np.uint64))
    assert (intensity_label(s.inav[0, 0]), intensity_label(m)) == ("Counts", "Counts")
    assert m.title == "sum over Energy 7.9 to 8.2 keV"
    fig = m.plot()
    assert (fig.axes[0].get_title(), fig.axes[1].get_ylabel()) == ("sum over Energy 7.9 to 8.2 keV", "Counts")
    assert intensity_label(s.mean(-1)) == "Intensity"  # a mean of counts is not counts
    assert intensity_label(s.sum("x")) == "Counts" and s.sum("x").title == ""  # energy kept: its type says so
    # a negative start and a reversed axis read low to high ("-0.47-20.01", "20--0.48" before); pixels by name
    neg = Signal(data[..., :8], axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "units": "keV", "scale": -0.01,
                                                                      "offset": 0.02}])
    assert neg.sum(-1).title == "sum over E -0.06 to 0.02 keV"
    assert neg.sum().title == "sum over E -0.06 to 0.02 keV, y, x"


def test_a_half_precision_sum_past_its_largest_value_is_refused():
    """A float16 cube of 1000s summed and binned to inf (float16 holds 65504; only numpy's cast warning said so).
    Refused by name; sums that fit keep their float16 bits (steps recorded before replay the same)."""
    import dask.array as da

    from emscale import DataError

    a = np.full((4, 4, 16), 1000, np.float16)
    for data in (a, da.from_array(a, chunks=(1, 4, 8))):
        s = Signal(data)
        with pytest.raises(DataError, match=r"sum over axes .*: the sum exceeds float16's largest value \(65504\)"):
            s.sum()
        with pytest.raises(DataError, match=r"rebin: a sum of 256 values exceeds float16's largest value"):
            np.asarray(s.rebin((4, 4, 16)).data)
        fits = s.sum(-1)
        assert fits.dtype == np.float16 and np.all(np.asarray(fits.data) == 16000)
        assert np.all(np.asarray(s.rebin((1, 1, 16)).data) == 16000)
    assert np.isinf(float(Signal(np.full((2, 2), np.inf, np.float16)).sum().data))  # inf values sum to inf
