"""Recalibrating an axis is a recorded step (HyperSpy's ``s.axes_manager[-1].offset = ...`` is recorded nowhere,
and emscale's axes are frozen: there was no way to do it that a history kept)."""

import numpy as np
import pytest

import emscale as em


def _si():
    return em.Signal(np.random.default_rng(0).poisson(4.0, (6, 5, 40)).astype(np.uint16),
                     axes=[{"name": "y", "navigate": True, "scale": 2.0, "units": "nm"},
                           {"name": "x", "navigate": True, "scale": 2.0, "units": "nm"},
                           {"name": "Energy loss", "offset": 100.0, "scale": 0.5, "units": "eV"}], signal_type="EELS")


def test_an_energy_offset_corrected_is_a_recorded_step_that_replays(tmp_path):
    _si().save(tmp_path / "si.zarr")
    s = em.load(tmp_path / "si.zarr")
    shifted = s.calibrate("Energy loss", offset=98.2)
    e = shifted.axis("Energy loss")
    assert (e.offset, e.scale, e.units, e.size) == (98.2, 0.5, "eV", 40)
    assert shifted.data is s.data or np.shares_memory(shifted.data, s.data)  # the numbers are not copied
    assert s.axis("Energy loss").offset == 100.0  # the signal it came from is unchanged
    assert shifted.history[-1]["op"] == "calibrate"
    window = shifted.isig[100.0:105.0]  # calibrated slicing reads the new calibration: channels 4-13
    np.testing.assert_array_equal(window.data, s.data[..., 4:14])
    again = em.replay(window.history)
    assert again.axis("Energy loss").offset == window.axis("Energy loss").offset
    np.testing.assert_array_equal(again.data, window.data)
    pixels = s.calibrate(0, scale=0.25, units="nm").calibrate("y", scale=0.25)  # user order: x first
    assert [(a.name, a.scale) for a in pixels.nav_axes] == [("x", 0.25), ("y", 0.25)]


def test_a_recipe_step_recalibrates(tmp_path):
    from emscale.workflows.recipes import parse, recipe_from_history, to_toml
    from emscale.workflows.recipes.runner import execute

    _si().save(tmp_path / "si.zarr")
    # ``rename``, not ``name``: that is a recipe step's key for its result (a rename could not be in a recipe)
    steps = [{"op": "calibrate", "axis": "Energy loss", "offset": 95.0, "units": "eV"},
             {"op": "calibrate", "axis": "x", "rename": "fast"}, {"op": "sum", "axis": "fast"}]
    _, got, _, _ = execute(parse(to_toml({"path": str(tmp_path / "si.zarr")}, steps)))
    assert got.axis("Energy loss").offset == 95.0
    from emscale.workflows.recipes.schema import RecipeError

    with pytest.raises(RecipeError, match="takes no name; an axis's new name is rename = ..."):
        parse(to_toml({"path": str(tmp_path / "si.zarr")}, [{"op": "calibrate", "axis": "x", "name": "fast"}]))
    _, again, _, _ = execute(parse(recipe_from_history(got.history)))
    assert again.axes == got.axes
    np.testing.assert_array_equal(again.data, got.data)


def test_a_tilt_series_recalibrated_keeps_its_tilt_axis_in_pixels():
    """The tilt axis's position is kept in the image axis's calibrated units: rebuilding the series with the real
    pixel size moved it by 64 pixels (2 -> -62.75), and on a narrow detector stopped the reconstruction."""
    from emscale import tomography as tomo

    ts = tomo.tilt_series(np.random.default_rng(0).random((5, 32, 40)), [-40, -20, 0, 20, 40], axis_shift=2.0)
    for tilt_axis in ("y", "x"):
        s = tomo.tilt_series(ts.data, [-40, -20, 0, 20, 40], axis_shift=2.0, tilt_axis=tilt_axis)
        real = s.calibrate("x", scale=0.37, offset=5.0, units="nm").calibrate("y", scale=0.37, units="nm")
        assert tomo.axis_shift_of(real) == pytest.approx(2.0, abs=1e-9), tilt_axis
        assert real.axis("x").units == "nm"


def test_a_recalibration_a_tilt_series_cannot_take_is_refused_at_the_reconstruction():
    """calibrate(scale=-1) made the mirrored volume that tilt_series(pixel_size=-1) refuses; a tilt axis said to be
    in radians was read in degrees (a reviewer)."""
    from emscale import tomography as tomo

    ts = tomo.tilt_series(np.random.default_rng(0).random((5, 16, 16)), [-40, -20, 0, 20, 40])
    with pytest.raises(em.DataError, match="image axis 'x' has a negative scale"):
        tomo.reconstruct_tomogram(ts.calibrate("x", scale=-1.0), method="fbp")
    with pytest.raises(em.DataError, match="the tilt axis is in 'rad'; tilt angles are read in degrees"):
        tomo.reconstruct_tomogram(ts.calibrate("tilt", units="rad"), method="fbp")


def test_a_sparse_scans_mask_follows_a_renamed_axis():
    sparse = _si().sample_scan("random", 0.4, seed=1)
    renamed = sparse.calibrate("x", rename="fast")
    mask = em.sampling.scan_mask(renamed)
    assert mask is not None and np.array_equal(mask, em.sampling.scan_mask(sparse))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"axis": "Energy loss"}, ValueError, "give at least one of scale, offset, units and rename"),
    ({"axis": "Energy loss", "scale": 0}, em.AxisError, "scale must be finite and non-zero"),
    ({"axis": "Energy loss", "offset": float("nan")}, ValueError, "offset must be a finite number"),
    ({"axis": "Energy loss", "scale": 1e308}, em.AxisError, "values overflows: the calibrated values must be finite"),
    ({"axis": "Energy loss", "scale": "0.5"}, ValueError, "scale must be a finite number"),
    ({"axis": "Energy loss", "rename": "x"}, em.AxisError, "rename .x. is empty or is the name of another axis"),
    ({"axis": "Energy", "offset": 1.0}, em.AxisError, "no axis named 'Energy'"),
])
def test_bad_calibrations_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        _si().calibrate(**kwargs)


def test_a_non_uniform_axis_takes_no_scale():
    from emscale import tomography as tomo

    ts = tomo.tilt_series(np.zeros((3, 8, 8)), [-50, 0, 45])
    with pytest.raises(em.AxisError, match="axis 'tilt' is non-uniform"):
        ts.calibrate("tilt", scale=2.0)
    assert ts.calibrate("tilt", units="degrees").axis("tilt").units == "degrees"
