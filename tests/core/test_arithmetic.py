"""Arithmetic on Signals (``s * 2``, ``s - background``, ``s / s.sum(-1)``): numbers, types, alignment by axis
name, history and replay. A HyperSpy user's ``s * 2`` was a bare TypeError."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.core.arithmetic import RECORDED_OPERAND_VALUES


def _cube(dtype=np.uint16):
    data = np.random.default_rng(0).poisson(20.0, (4, 5, 16)).astype(dtype)
    axes = [{"name": "y", "navigate": True, "scale": 2.0, "units": "nm"},
            {"name": "x", "navigate": True, "scale": 2.0, "units": "nm"},
            {"name": "Energy", "scale": 0.01, "offset": 0.1, "units": "keV"}]
    return em.Signal(data, axes=axes, signal_type="EDS_SEM", metadata={"Signal": {"counts": True}})


def test_numbers_and_operand_sides():
    s = _cube()
    x = s.data.astype(np.float64)
    cases = {"s * 2": x * 2, "2 * s": 2 * x, "s / 4": x / 4, "1 - s": 1 - x, "s ** 2": x ** 2, "-s": -x,
             "np.float64(3) * s": 3 * x, "s - s.mean(axis=(0, 1))": x - x.mean(axis=(0, 1)),
             "s / s.sum(-1)": x / x.sum(-1, keepdims=True), "s * s.isig[0.15]": x * x[..., 5:6]}
    for expr, want in cases.items():
        got = eval(expr)
        assert isinstance(got, em.Signal), expr
        assert got.axes == s.axes, expr
        np.testing.assert_allclose(np.asarray(got.data), want, rtol=1e-12, err_msg=expr)


def test_counts_stay_integers_only_where_the_result_is_counts():
    s = _cube()
    total = s + s
    assert total.dtype == np.uint64 and total.metadata["Signal"]["counts"] is True
    np.testing.assert_array_equal(total.data, 2 * s.data.astype(np.uint64))
    assert (s + 3).dtype == (s + np.uint16(3)).dtype == np.uint64  # a number that cannot be negative adds counts
    assert (s + (-3)).dtype == (s - 3).dtype == np.float64  # the same numbers, the same type
    both = sum([s, s])  # starts from 0 + s: no extra step
    assert both.dtype == np.uint64 and [h["op"] for h in both.history].count("arithmetic") == 1
    for scaled in (s * 2, s - 1, s / 2):
        assert scaled.dtype == np.float64 and scaled.metadata["Signal"]["counts"] is False
    assert (_cube(np.float32) * 2.0).dtype == np.float32
    assert em.decompose(s + s, "pca", n_components=2).params["poisson"] is True


def test_a_signal_operand_is_matched_by_axis_name_size_and_calibration():
    s = _cube()
    with pytest.raises(em.AxisError, match="axis 'Energy' has 8 values"):
        s - s.isig[:8].mean(axis=(0, 1))
    shifted = em.Signal(np.ones(16), axes=[{"name": "Energy", "scale": 0.01, "offset": 0.2, "units": "keV"}])
    with pytest.raises(em.AxisError, match=r"runs from 0.2 in steps of 0.01 keV .* from 0.1 .* s - t.data"):
        s - shifted
    in_ev = em.Signal(np.ones(16), axes=[{"name": "Energy", "scale": 0.01, "offset": 0.1, "units": "eV"}])
    with pytest.raises(em.AxisError, match="0.01 eV"):
        s - in_ev
    bent = em.Signal(np.ones(16), axes=[{"name": "Energy", "coords": 0.1 + 0.01 * np.arange(16) ** 1.1,
                                         "units": "keV"}])
    with pytest.raises(em.AxisError, match="non-uniform coordinates"):
        s - bent
    with pytest.raises(em.AxisError, match="has an axis 'E' that .* lacks"):
        s - em.Signal(np.ones(16), axes=[{"name": "E"}])
    with pytest.raises(em.AxisError, match=r"shape \(7,\) does not broadcast"):
        s * np.ones(7)
    with pytest.raises(TypeError):
        s + "1"


def test_division_by_zero_is_said():
    s = _cube()
    with pytest.warns(UserWarning, match=r"\d+ value\(s\) became inf or NaN"):
        s / (s.isig[0.1] * 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s / 2


def test_recorded_and_replayed_bit_for_bit(tmp_path):
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    out = ((s - s.mean(axis=(0, 1))) * 2.5) / s.sum(-1)
    assert [h["op"] for h in out.history].count("arithmetic") == 3
    np.testing.assert_array_equal(em.replay(out.history).data, out.data)
    lazy = em.load(tmp_path / "c.zarr", lazy=True) * 2
    assert lazy.is_lazy
    np.testing.assert_array_equal(np.asarray(em.replay(lazy.history).data), np.asarray(lazy.data))


def test_an_operand_too_big_to_record_makes_an_unrecorded_step(tmp_path):
    n = RECORDED_OPERAND_VALUES + 1
    s = em.Signal(np.ones((n, 2)), axes=[{"name": "x", "navigate": True}, {"name": "E"}])
    s.save(tmp_path / "s.zarr")
    s = em.load(tmp_path / "s.zarr")
    with pytest.warns(UserWarning, match="cannot be replayed or exported as a recipe"):  # said now, not at a replay
        out = s * np.full((n, 1), 2.0)
    np.testing.assert_array_equal(out.data, 2.0)
    assert out.history[-1]["op"] == "unrecorded" and f"{n} values" in out.history[-1]["how"]
    with pytest.raises(em.ReplayError, match="arithmetic \\* with an operand of"):
        em.replay(out.history)


def test_the_operand_with_every_axis_takes_the_others_place():
    """``spectrum - s`` and ``map * s`` were refused (the left operand's axes were the result's)."""
    s = _cube()
    x = s.data.astype(np.float64)
    spec, nmap = s.mean(axis=(0, 1)), s.sum(-1)
    for got, want in ((spec - s, x.mean(axis=(0, 1)) - x), (nmap * s, x.sum(-1, keepdims=True) * x),
                      (s.sum() / s, x.sum() / x)):
        assert got.axes == s.axes
        np.testing.assert_allclose(got.data, want, rtol=1e-12)


def test_in_place_operators_change_the_signal_itself():
    s = _cube()
    before, x = s, s.data.astype(np.float64)
    s *= 2
    assert s is before and s.history[-1]["op"] == "arithmetic"
    np.testing.assert_array_equal(s.data, 2 * x)
    s -= s.mean(axis=(0, 1))
    np.testing.assert_allclose(before.data, 2 * x - (2 * x).mean(axis=(0, 1)), rtol=1e-12)


def test_small_operands_with_nan_or_odd_numbers_are_recorded(tmp_path):
    """A small array holding NaN failed at save (JSON has no NaN); a longdouble operand recursed for ever."""
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    out = (s * np.r_[np.nan, np.ones(15)]) * np.longdouble(2)
    out.save(tmp_path / "out.zarr")
    again = em.replay(em.load(tmp_path / "out.zarr").history)
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(out.data))
    lazy = em.load(tmp_path / "c.zarr", lazy=True)
    small = lazy / lazy.isig[0.15]  # a lazy operand of 20 values is read and recorded
    assert small.history[-1]["op"] == "arithmetic"
    import dask.array as da

    scaled = s * da.from_array(np.array(3.0))  # a lazy single number is recorded as the number it is
    assert scaled.history[-1]["params"]["operand"] == 3.0 and type(scaled.history[-1]["params"]["operand"]) is float


def test_a_sparse_scan_keeps_its_mask_on_either_side():
    s = _cube()
    p = s.sample_scan("random", 0.3, seed=1)
    mask = em.core.signal.measured_mask(p)
    for out in (s + p, p + s, p * 2):
        np.testing.assert_array_equal(em.core.signal.measured_mask(out), mask)
    with pytest.raises(em.DataError, match="sparse scans of different positions"):
        p + s.sample_scan("random", 0.3, seed=2)
    with pytest.raises(em.DataError, match="is a cut of a sparse scan .* its unmeasured zeros would count"):
        p - p.inav[0:1]


def test_numpy_functions_of_one_value_are_recorded(tmp_path):
    """``np.log(s)``, ``np.sqrt(s)``, ``abs(s)`` were refused; ``np.isnan(s)`` is a mask."""
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    x = s.data.astype(np.float64)
    with pytest.warns(UserWarning, match=r"np.log on .*: \d+ value\(s\) became inf") as caught:
        np.log(s // 100)  # zeros
    assert caught[0].filename == __file__  # the user's line, not one of emscale's layers
    for got, want in ((np.log(s), np.log(x)), (np.sqrt(s), np.sqrt(x)), (np.log1p(s * 0.5), np.log1p(0.5 * x))):
        assert got.dtype == np.float64 and got.axes == s.axes and got.metadata["Signal"]["counts"] is False
        np.testing.assert_allclose(got.data, want, rtol=1e-12)
    assert np.sqrt(s.data.astype(np.float32) * 1.0).dtype == np.float32
    a = abs(s)  # counts are their own absolute value: same numbers, same type, still counts
    assert a.dtype == np.uint16 and a.metadata["Signal"]["counts"] is True
    np.testing.assert_array_equal(a.data, s.data)
    np.testing.assert_array_equal(np.abs(s - 20).data, np.abs(x - 20))
    with pytest.warns(UserWarning, match="division by zero"):
        ratio = (s - 20) / (s - 20)
    nan = np.isnan(ratio)
    assert nan.dtype == bool
    np.testing.assert_array_equal(nan.data, s.data == 20)
    out = np.sqrt(abs(s - 20))
    assert [h["op"] for h in out.history][-2:] == ["elementwise", "elementwise"]
    np.testing.assert_array_equal(em.replay(out.history).data, out.data)
    lazy = np.log1p(em.load(tmp_path / "c.zarr", lazy=True))
    assert lazy.is_lazy
    np.testing.assert_allclose(np.asarray(lazy.data), np.log1p(x), rtol=1e-12)


def test_clip_and_maximum_set_the_numbers_they_say(tmp_path):
    """``np.clip(s, 2, 6)`` returned ``s`` unclipped (numpy clipped a 0-d object array holding the Signal)."""
    em.Signal(np.arange(10, dtype=np.uint16).reshape(2, 5)).save(tmp_path / "s.zarr")
    s = em.load(tmp_path / "s.zarr")
    clipped = np.clip(s, 2, 6)
    np.testing.assert_array_equal(clipped.data, np.clip(np.arange(10), 2, 6).reshape(2, 5))
    assert clipped.dtype == np.uint16 and [h["op"] for h in clipped.history][1:] == ["arithmetic", "arithmetic"]
    np.testing.assert_array_equal(np.clip(s, None, 3).data, np.minimum(s.data, 3))
    background_removed = s - 4.5
    floor = np.maximum(background_removed, 0)
    np.testing.assert_array_equal(floor.data, np.maximum(s.data - 4.5, 0))
    assert np.maximum(0, background_removed).axes == s.axes
    assert np.maximum(s, -1).dtype == np.int32  # holds both sides
    np.testing.assert_array_equal(np.minimum(s, s.T.T * 0 + 3).data, np.minimum(s.data, 3))
    np.testing.assert_array_equal(em.replay(floor.history).data, floor.data)
    with pytest.raises(TypeError, match="np.clip with a Signal"):
        np.clip(s, 0, 3, out=np.empty((2, 5)))


def test_floor_division_and_remainder():
    s = _cube()
    x = s.data.astype(np.int64)
    assert (s // 2).dtype == np.uint16 and (s % 3).dtype == np.uint16  # a whole quotient of counts
    np.testing.assert_array_equal((s // 2).data, x // 2)
    np.testing.assert_array_equal((s % 3).data, x % 3)
    np.testing.assert_array_equal((s // -2).data, x // -2)
    np.testing.assert_allclose((100 // s).data, 100 // x.astype(np.float64))
    with pytest.warns(UserWarning, match="became inf or NaN"):
        zero = s // 0  # numpy's integer division by zero gives 0 without a word: here inf, and said
    assert np.isinf(zero.data).any()
    t = _cube()
    t //= 4
    np.testing.assert_array_equal(t.data, x // 4)


def test_numpy_reductions_and_other_functions():
    s = _cube()
    x = s.data
    np.testing.assert_array_equal(np.sum(s, axis=-1).data, s.sum(-1).data)
    assert np.sum(s, axis=-1).axes == s.sum(-1).axes
    assert float(np.mean(s)) == pytest.approx(x.mean(), rel=1e-12)
    assert int(np.max(s)) == x.max() and float(s.sum()) == x.sum()
    with pytest.raises(TypeError, match=r"np.sum of a Signal takes the axes only .*out"):
        np.sum(s, axis=-1, out=np.empty((4, 5)))
    with pytest.raises(TypeError, match="only a Signal of one value converts to a number; .* holds 320"):
        float(s)
    np.testing.assert_array_equal(np.asarray(s), x)  # numpy's own functions work on the numbers
    np.testing.assert_array_equal(np.concatenate([s, s], axis=0), np.concatenate([x, x], axis=0))
    assert np.allclose(s, x) and np.asarray(s.as_lazy()).shape == x.shape
    with pytest.raises(TypeError, match=r"np.arctan2 on a Signal: not a recorded operation.*em.derive"):
        np.arctan2(s, s)
    with pytest.raises(TypeError, match=r"np.add.reduce on a Signal"):
        np.add.reduce(s)
    with pytest.raises(TypeError, match=r"np.log on a Signal with out"):
        np.log(s, out=np.empty(s.shape))


def test_a_single_position_applies_to_every_position():
    """``s - s.inav[0:1]`` (a length-1 axis, numpy's broadcasting) was refused for the axes' sizes."""
    s = _cube()
    x = s.data.astype(np.float64)
    first = s.inav[0:1]  # HyperSpy order: the first column of the scan
    got = s - first
    assert got.axes == s.axes
    np.testing.assert_allclose(got.data, x - x[:, 0:1, :], rtol=1e-12)
    np.testing.assert_allclose((first - s).data, x[:, 0:1, :] - x, rtol=1e-12)
    np.testing.assert_allclose((s / s.inav[0:1, 0:1]).data, x / x[0:1, 0:1, :], rtol=1e-12)
    other = em.Signal(x[:, 0:1, :], axes=[{**a.__dict__} for a in s.axes[:1]]
                      + [{"name": "x", "navigate": True, "units": "um"}, {**s.axes[2].__dict__}])
    with pytest.raises(em.AxisError, match="axis 'x' is in 'um'"):
        s - other


def test_a_masked_operand_is_refused_not_unmasked():
    s = _cube()
    with pytest.raises(em.DataError, match="masked array with masked values"):
        s - np.ma.masked_array(np.ones(16), mask=[True] + [False] * 15)
    np.testing.assert_array_equal((s - np.ma.masked_array(np.ones(16))).data, s.data - 1.0)


def test_comparisons_make_a_mask_a_decomposition_takes(tmp_path):
    """HyperSpy's ``mask = s.sum(-1) < 100`` for a navigation mask: a boolean Signal, recorded, replayed."""
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    total = s.sum(-1)
    dim = total < float(np.median(total.data))
    assert dim.dtype == bool and dim.shape == total.shape
    np.testing.assert_array_equal(dim.data, total.data < np.median(total.data))
    np.testing.assert_array_equal((float(np.median(total.data)) > total).data, dim.data)  # Python swaps it
    np.testing.assert_array_equal((s >= 20).data, s.data >= 20)
    np.testing.assert_array_equal(em.replay(dim.history).data, dim.data)
    d = em.decompose(s, "pca", n_components=2, navigation_mask=dim)
    loadings = d.loadings_array.reshape(*dim.shape, 2)  # (pixels, components) in numpy order
    assert np.isnan(loadings[dim.data]).all() and not np.isnan(loadings[~dim.data]).any()
    assert (s == s) and not (s == s * 1)  # equality is identity: a Signal is a record with a history


def test_an_operand_made_from_the_signal_is_recorded_as_its_steps(tmp_path):
    """``s / s.sum(-1)`` of a scan above 256 x 256 was an unrecorded step (a map of 67 600 values, more than the
    history keeps): the operand is now recorded as the steps that make it from ``s``, at any size, and made again
    at a replay."""
    rng = np.random.default_rng(3)
    em.Signal(rng.poisson(3.0, (260, 260, 3)).astype(np.uint16),
              axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]).save(
        tmp_path / "big.zarr")
    s = em.load(tmp_path / "big.zarr")
    with pytest.warns(UserWarning, match="division by zero"):
        share = s / s.sum(-1)
    e = share.history[-1]
    assert e["op"] == "arithmetic"
    assert e["params"]["operand"] == {"derived": [{"op": "sum", "params": s.sum(-1).history[-1]["params"]}]}
    share.save(tmp_path / "share.zarr")
    with pytest.warns(UserWarning, match="division by zero"):
        again = em.replay(em.load(tmp_path / "share.zarr").history)
    np.testing.assert_array_equal(again.data, share.data)
    x = s.data.astype(np.float64)
    for got, want in ((s - s.inav[0:1], x - x[:, 0:1]), (s.mean(axis=(0, 1)) - s, x.mean(axis=(0, 1)) - x),
                      (s * s, x * x), (np.maximum(s, s.isig[1]), np.maximum(x, x[..., 1:2]))):
        assert "derived" in got.history[-1]["params"]["operand"]
        np.testing.assert_array_equal(em.replay(got.history).data, got.data)
        np.testing.assert_allclose(got.data, want, rtol=1e-12)
    lazy = em.load(tmp_path / "big.zarr", lazy=True)
    centred = lazy - lazy.mean(axis=(0, 1))
    assert centred.is_lazy and "derived" in centred.history[-1]["params"]["operand"]


def test_operands_of_other_origins_keep_their_numbers():
    """Two signals that do not share a loaded input: the operand's numbers are recorded (no steps could make it)."""
    s = _cube()
    t = _cube() * 1.0
    out = s - t.isig[0.1]
    assert "derived" not in str(out.history[-1]["params"]["operand"])
    np.testing.assert_array_equal(out.data, s.data - t.data[..., :1])


def test_a_recipe_step_takes_an_operand_made_from_its_input(tmp_path):
    from emscale.workflows.recipes import parse, to_toml
    from emscale.workflows.recipes.runner import execute

    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    per_pixel_sum = {"derived": [{"op": "sum", "params": {"axis": -1}}]}
    steps = [{"op": "arithmetic", "operator": "divide", "operand": per_pixel_sum}]
    _, got, _, _ = execute(parse(to_toml({"path": str(tmp_path / "c.zarr")}, steps)))
    np.testing.assert_array_equal(got.data, (s / s.sum(-1)).data)
    np.testing.assert_array_equal(em.replay(got.history).data, got.data)
    bad = [{"op": "arithmetic", "operator": "divide", "operand": {"derived": [{"op": "no_such_step"}]}}]
    with pytest.raises(em.EmscaleError, match="step 0 \\('no_such_step'\\) is not an operation that can be redone"):
        execute(parse(to_toml({"path": str(tmp_path / "c.zarr")}, bad)))


def test_a_history_with_array_operands_exports_as_a_recipe(tmp_path):
    """``emscale history --as-recipe`` refused any array operand ("write it to a file beside the input", which an
    arithmetic step cannot name): the recipe now holds it in the history's own form, dtype and NaN kept."""
    from emscale.workflows.recipes import parse, recipe_from_history
    from emscale.workflows.recipes.runner import execute

    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    out = (s - np.r_[np.nan, np.arange(15)].astype(np.float32)) * np.full((1, 5, 1), 0.5)
    _, got, _, _ = execute(parse(recipe_from_history(out.history)))
    assert got.dtype == out.dtype
    np.testing.assert_array_equal(got.data, out.data)
    with pytest.raises(em.EmscaleError, match="must be {'derived': \\[steps\\]}.* or an array"):
        em.core.arithmetic.arithmetic(s, "add", {"values": [1, 2]})
    pca = {"derived": [{"op": "decompose", "params": {"method": "pca", "n_components": 2}}]}
    with pytest.raises(em.EmscaleError, match="the operand's steps end with a Decomposition, not a Signal"):
        em.core.arithmetic.arithmetic(s, "add", pca)


def test_accumulating_in_place_never_changes_the_first_signal():
    """``total = 0; for f in frames: total += f`` made ``total`` the first frame itself (``0 + s`` returned ``s``),
    and the loop summed into it; ``t = +s; t *= 3`` tripled ``s``."""
    frames = [_cube() for _ in range(3)]
    first = frames[0].data.copy()
    total = 0
    for f in frames:
        total += f
    assert total is not frames[0]
    np.testing.assert_array_equal(frames[0].data, first)
    np.testing.assert_array_equal(total.data, 3 * first.astype(np.uint64))
    s = _cube()
    for copy_of_s in (+s, sum([s]), np.clip(s, None, None)):
        copy_of_s *= 3
        np.testing.assert_array_equal(s.data, first)


def test_complex_values_are_not_cut_to_their_real_part():
    """``abs(s)`` of complex data gave the real part (3 for 3 + 4j), ``s * 2`` dropped the imaginary part."""
    s = em.Signal(np.array([[3 + 4j, 1j]], np.complex64), axes=[{"name": "x", "navigate": True}, {"name": "k"}])
    modulus = abs(s)
    assert modulus.dtype == np.float32
    np.testing.assert_allclose(modulus.data, [[5.0, 1.0]])
    for f in (lambda: s * 2, lambda: np.sqrt(s), lambda: s + 1):
        with pytest.raises(em.DataError, match="holds complex values; take their modulus first"):
            f()
    np.testing.assert_array_equal(np.isnan(s).data, [[False, False]])


def test_an_operand_from_a_decomposition_replays(tmp_path):
    """``s - d.reconstruct(2)`` (HyperSpy's s - s.get_decomposition_model(2)) was recorded as steps that a replay
    refused: the decomposition made no Signal."""
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    d = em.decompose(s, "pca", n_components=2)
    residual = s - d.reconstruct(2)
    assert [e["op"] for e in residual.history[-1]["params"]["operand"]["derived"]] == ["decompose", "reconstruct"]
    np.testing.assert_array_equal(em.replay(residual.history).data, residual.data)


def test_operands_made_with_index_keys_export_as_a_recipe(tmp_path):
    """``s - s.inav[0:1]`` (a slice in the operand's steps) could not be written to a recipe, ``s - s.inav[0, 0]``
    was written as another key ([0, 0] for the tuple (0, 0)), a background's ``binned=None`` could not be written."""
    from emscale.workflows.recipes import parse, recipe_from_history
    from emscale.workflows.recipes.runner import execute

    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    for out in (s - s.inav[0:1], s / s.isig[0.12:0.15].sum(-1), s - s.inav[0, 0],
                s - s.remove_background(signal_range=(0.1, 0.14), model="offset")):
        _, got, _, _ = execute(parse(recipe_from_history(out.history)))
        np.testing.assert_array_equal(got.data, out.data)


def test_types_follow_the_types_lazy_or_not_either_way_round(tmp_path):
    """Signed integers (a real HAADF tilt series is int16): ``m + m`` was float64 in memory and int64 lazy (the
    sign of the values was read only where they were in memory), ``m + a`` and ``a + m`` differed."""
    data = np.random.default_rng(1).integers(-5, 200, (4, 5, 16)).astype(np.int16)
    em.Signal(data).save(tmp_path / "m.zarr")
    kinds = []
    for lazy in (False, True):
        m = em.load(tmp_path / "m.zarr", lazy=lazy)
        a = np.maximum(m, 0)
        kinds.append([(m + m).dtype, (m // m.inav[0:1]).dtype, (m + a).dtype, (a + m).dtype, (m // 2).dtype,
                      (m * 2.0).dtype])
        np.testing.assert_array_equal(np.asarray((m + a).data), data.astype(np.float64) + np.maximum(data, 0))
    assert kinds[0] == kinds[1]
    assert kinds[0][0] == kinds[0][2] == kinds[0][3] == np.float64 and kinds[0][4] == np.int16
    f16 = em.Signal(np.ones((2, 3), np.float16))
    assert (f16 * 2).dtype == np.sqrt(f16).dtype == np.float32


def test_masks_combine_with_and_or_not():
    s = _cube()
    total = s.sum(-1)
    low, high = total < 310, total > 330
    either = low | high
    np.testing.assert_array_equal(either.data, low.data | high.data)
    np.testing.assert_array_equal((low & ~high).data, low.data & ~high.data)
    np.testing.assert_array_equal((low ^ True).data, ~low.data)
    np.testing.assert_array_equal((np.ones(total.shape, bool) & low).data, low.data)
    with pytest.raises(em.DataError, match="& \\| \\^ combine masks"):
        _ = s & 1
    with pytest.raises(TypeError, match="~ inverts a mask"):
        _ = ~s
    assert bool(s.sum() > 1) and not bool(s.sum() < 1)
    with pytest.raises(ValueError, match="ambiguous"):
        if total < 300:  # an if on a whole mask was always true
            pass


def test_what_a_sparse_scan_and_an_index_assignment_are_told():
    s = _cube()
    p = s.sample_scan("random", 0.3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 at unmeasured positions is not the user's division by zero
        p / p.sum(-1)
        np.log1p(p)
    with pytest.raises(TypeError, match="a Signal is not changed in place by index"):
        s.isig[0.1:0.12] *= 0
    with pytest.raises(TypeError, match=r"em.derive\(s, np.arctan2\(s.data, t.data\), s.axes\)"):
        np.arctan2(s, s)


def test_an_operand_made_from_an_earlier_state_of_the_signal_is_recorded_as_its_steps(tmp_path):
    """``s.isig[1:3] / s.sum(-1)`` (an energy window over the pixel's total counts) of a scan above 256 x 256 was an
    unrecorded step: the operand was made from ``s``, not from ``s.isig[1:3]``, and its 67 600 values were more
    than the history keeps. It is recorded as its steps from the state of the signal it was made from (``"at"``),
    which a replay and a recipe run keep, and made again there: the same bits."""
    from emscale.workflows.recipes import parse, recipe_from_history
    from emscale.workflows.recipes.runner import execute

    rng = np.random.default_rng(4)
    em.Signal(rng.poisson(3.0, (260, 260, 4)).astype(np.uint16) + 1,
              axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]).save(
        tmp_path / "big.zarr")
    s = em.load(tmp_path / "big.zarr")
    for out, at in ((s.isig[1:3] / s.sum(-1), 0), ((s * 2).isig[1:3] - (s * 2).isig[0:1], 1),
                    # an operand inside the operand's steps made from an earlier state of theirs: replayed with the
                    # outer operand's steps unrecorded it read a stale history and summed the map again (a reviewer)
                    (s.isig[1:3] / (s.isig[0:1].sum(-1) / s.sum(-1)), 0),
                    ((s * 2).isig[1:3] / ((s * 3).sum(-1) / (s * 3).isig[0:1].sum(-1)), 0)):
        e = out.history[-1]
        assert e["op"] == "arithmetic" and e["params"]["operand"]["at"] == at, e["params"]["operand"]
        np.testing.assert_array_equal(em.replay(out.history).data, out.data)
        _, got, _, _ = execute(parse(recipe_from_history(out.history)))
        np.testing.assert_array_equal(got.data, out.data)
    x = s.data.astype(np.float64)
    np.testing.assert_allclose((s.isig[1:3] / s.sum(-1)).data, x[..., 1:3] / x.sum(-1, keepdims=True), rtol=1e-12)
    small = s.inav[0:10, 0:10]
    assert "derived" not in str((small.isig[1:3] / small.sum(-1)).history[-1]["params"]["operand"])  # numbers
    window = s.isig[1:3]
    with pytest.raises(em.DataError, match="after 0 step.*only a replay .* or a recipe run keeps that state"):
        em.core.arithmetic.arithmetic(window, "divide", {"derived": [{"op": "sum", "params": {"axis": -1}}], "at": 0})
    with pytest.raises(em.DataError, match="'at' must be a number of steps >= 0"):
        em.core.arithmetic.arithmetic(window, "divide", {"derived": [], "at": -1})


def test_a_cast_is_a_recorded_step(tmp_path):
    """HyperSpy's ``s.change_dtype("float32")`` had no recorded counterpart (uint16 * 1.0 is float64): ``astype``
    casts where no value changes, and refuses a cast that would round or wrap."""
    _cube().save(tmp_path / "c.zarr")
    s = em.load(tmp_path / "c.zarr")
    f = s.astype("float32")
    assert f.dtype == np.float32 and f.history[-1]["op"] == "astype"
    np.testing.assert_array_equal(f.data, s.data.astype(np.float32))
    np.testing.assert_array_equal(em.replay(f.history).data, f.data)
    assert em.load(tmp_path / "c.zarr", lazy=True).astype("float32").is_lazy
    assert s.astype("int32").dtype == np.int32
    for bad in ("uint8", "int16"):
        with pytest.raises(em.DataError, match=f"uint16 values do not all fit in {bad}"):
            s.astype(bad)
    with pytest.raises(em.DataError, match="float32 values do not all fit in int64"):
        f.astype("int64")
    with pytest.raises(ValueError, match="dtype must be one of float16, float32"):
        s.astype("complex64")
    # a reviewer: 1e300 became inf, 2**24 + 1 rounded in float32, np.dtype("float32") could not be recorded
    with pytest.raises(em.DataError, match="1 value\\(s\\) lie beyond float32's range"):
        em.Signal(np.array([1.0, 1e300])).astype("float32")
    with pytest.raises(em.DataError, match="values above 2\\*\\*24 would be rounded in float32"):
        em.Signal(np.array([2**24 + 1])).astype("float32")
    for big, dtype in ((np.array([2**53 + 1]), "float64"), (np.array([2**64 - 1], np.uint64), "float64")):
        with pytest.raises(em.DataError, match="would be rounded"):  # numpy calls these casts safe
            em.Signal(big).astype(dtype)
    assert em.Signal(np.array([2**24 + 2])).astype("float32").data[0] == 2**24 + 2  # held exactly: not refused
    with pytest.raises(ValueError, match="dtype must be one of"):
        s.astype(None)  # numpy's float64
    typed = s.astype(np.dtype("float32"))
    assert typed.history[-1]["params"]["dtype"] == "float32" and s.astype(np.float16).dtype == np.float16


def test_a_recipe_counts_an_operands_at_from_its_input(tmp_path):
    """A hand-written recipe on a store that carries a history (raw file, then x 2): ``at = 0`` named the raw file's
    state, which the run never held ("only a replay or a recipe run keeps that state", in a recipe run); it is the
    recipe's input, and the run's history counts from the raw file, so that it replays."""
    from emscale.workflows.recipes import parse, to_toml
    from emscale.workflows.recipes.runner import execute

    rng = np.random.default_rng(5)
    em.Signal(rng.poisson(3.0, (260, 260, 4)).astype(np.uint16) + 1,
              axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]).save(
        tmp_path / "raw.zarr")
    (em.load(tmp_path / "raw.zarr") * 2).save(tmp_path / "mid.zarr")
    mid = em.load(tmp_path / "mid.zarr")
    steps = [{"op": "isig", "key": "1:3"},
             {"op": "arithmetic", "operator": "divide",
              "operand": {"derived": [{"op": "sum", "params": {"axis": -1}}], "at": 0}}]
    _, got, _, _ = execute(parse(to_toml({"path": str(tmp_path / "mid.zarr")}, steps)))
    np.testing.assert_array_equal(got.data, (mid.isig[1:3] / mid.sum(-1)).data)
    assert got.history[-1]["params"]["operand"]["at"] == 1  # the history's count, from the raw file
    np.testing.assert_array_equal(em.replay(got.history).data, got.data)
    beyond = steps[:1] + [{**steps[1], "operand": {**steps[1]["operand"], "at": 2}}]
    with pytest.raises(em.EmscaleError, match=r"operand starts at = 2, but 1 step\(s\) of this recipe changed"):
        execute(parse(to_toml({"path": str(tmp_path / "mid.zarr")}, beyond)))  # said in the history's count (4, 3)
