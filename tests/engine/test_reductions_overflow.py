"""Integer sums never wrap around: a sum that does not fit its 64-bit accumulator is a DataError naming the axes."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import DataError
from emscale.engine.passes import run_pass
from emscale.engine.reductions import reduction_pass


def _signal(data):
    return em.Signal(data, axes=[{"name": "y", "navigate": True}, {"name": "E"}])


@pytest.mark.parametrize("axis", ["y", "E", None])
def test_uint64_sum_of_4_x_2_63_is_an_error_not_0(axis):
    s = _signal(np.full((4, 4), 2**63, np.uint64))
    with pytest.raises(DataError, match=r"sum over axes .*uint64.*float"):
        s.sum(axis)


def test_int64_sum_below_the_minimum_is_an_error():
    with pytest.raises(DataError, match="int64"):
        _signal(np.full((4, 2), -(2**62), np.int64)).sum("y")


def test_the_overflow_message_advises_the_recorded_conversion():
    # it advised em.Signal(s.data.astype('float64'), axes=s.axes), which drops the metadata and the history
    s = _signal(np.full((4, 2), 2**63, np.uint64))
    with pytest.raises(DataError, match=r"s\.astype\('float64'\)") as err:
        s.sum("y")
    assert "em.Signal(" not in str(err.value)
    assert float(s.astype("float64").sum("y").data[0]) == 4 * 2.0**63


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_overflow_across_partitions_is_an_error(dtype):
    x = np.full((100, 1), 2**62, dtype)
    with pytest.raises(ArithmeticError, match="does not fit"):
        run_pass(x, reduction_pass("sum", (0,), x.dtype), rows=1)


def test_sums_at_the_limit_are_exact():
    d = np.zeros((4, 3), np.uint64)
    d[0, 0], d[1, 1] = 2**63, 2**63 - 1
    assert int(_signal(d).sum().data) == 2**64 - 1
    assert int(_signal(np.full((2, 2), -(2**61), np.int64)).sum().data) == -(2**63)
    x = np.full((3, 1), 2**62, np.uint64)
    assert int(run_pass(x, reduction_pass("sum", (0,), x.dtype), rows=1)[0]) == 3 * 2**62


def test_narrow_counts_sum_exactly_without_checks():
    d = np.full((64, 128), 65535, np.uint16)
    assert int(_signal(d).sum().data) == 64 * 128 * 65535


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_mean_of_64_bit_values_near_their_limit_is_a_float_not_an_error(dtype):
    """A float mean needs no exact integer sum: it raised "sum does not fit" (the sum, 2^66, does not), where the
    mean, 2^62, is a float like any other."""
    d = np.full((4, 4), 2**62, dtype)
    assert float(_signal(d).mean().data) == 2.0**62
    x = np.full((100, 2), 2**62, dtype)
    np.testing.assert_array_equal(run_pass(x, reduction_pass("mean", (0,), x.dtype), rows=1), [2.0**62, 2.0**62])


@pytest.mark.parametrize("op", ["max", "min", "mean", "std"])
def test_reducing_an_empty_axis_names_it(op):
    """A table of no rows (an atom table where no atom was found) is a signal; its max gave numpy's "zero-size
    array to reduction operation maximum which has no identity", its mean NaN with a RuntimeWarning."""
    s = _signal(np.zeros((0, 5)))
    with pytest.raises(DataError, match=rf"{op} over axes with no values: 'y' \(shape \(0, 5\)\)"):
        getattr(s, op)()
    assert getattr(s, op)("E").data.shape == (0,)  # over a non-empty axis: an empty result, as numpy
    assert s.sum().data == 0
