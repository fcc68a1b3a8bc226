"""Tilt series: the real MRC + .rawtlt, stacks with angles, and the errors on bad input."""

import numpy as np
import pytest

import emscale
from emscale import Signal
from emscale.core.errors import AxisError, DataError, FileFormatError
from emscale.tomography import (
    angles_of,
    axis_shift_of,
    load_tilt_series,
    read_rawtlt,
    reconstruct_tomogram,
    tilt_series,
)
from emscale.tomography.phantoms import fcc_nanoparticle, project_volume
from emscale.tomography.tiltseries import slice_first, volume_from_slices


def test_real_haadf_series_loads_with_angles_and_calibration(real_dir):
    s = load_tilt_series(real_dir / "tomography/HAADF.mrc", tilt_axis="x")
    assert s.shape == (77, 256, 256)
    assert [a.name for a in s.axes] == ["tilt", "y", "x"]
    assert s.nav_ndim == 1 and s.sig_ndim == 2
    tilt = s.axis("tilt")
    assert tilt.units == "deg" and tilt.is_uniform
    np.testing.assert_allclose(angles_of(s), np.arange(-76, 77, 2.0))
    for name in ("x", "y"):
        assert s.axis(name).units == "nm"
        assert s.axis(name).scale == pytest.approx(3.36, abs=1e-5)
    assert s.metadata["Tomography"]["tilt_axis"] == "x"
    assert s.data.dtype == np.float32
    # int16 values kept: the reader's numbers, not rescaled
    from rsciio.mrc import file_reader

    raw = file_reader(str(real_dir / "tomography/HAADF.mrc"))[0]["data"]
    np.testing.assert_array_equal(s.data[10], raw[10].astype(np.float32))
    # the load and the angles are recorded (the file's SHA-256 with the load), so the series replays from the file
    assert [h["op"] for h in s.history] == ["load", "as_tilt_series"]
    assert s.history[1]["params"]["rawtlt"] == "HAADF.rawtlt" and s.title == "HAADF"
    np.testing.assert_array_equal(emscale.replay(s.history).data, s.data)


def test_tilt_angles_given_as_numbers_or_a_file_elsewhere(real_dir, tmp_path):
    angles = read_rawtlt(real_dir / "tomography/HAADF.rawtlt")
    (tmp_path / "angles.tlt").write_text("\n".join(f"{a:g}" for a in angles))
    for given in (angles, tmp_path / "angles.tlt"):
        s = load_tilt_series(real_dir / "tomography/HAADF.mrc", angles=given, tilt_axis="x")
        np.testing.assert_allclose(angles_of(s), angles)
        np.testing.assert_array_equal(emscale.replay(s.history).data, s.data)


def test_rawtlt_parsing(tmp_path):
    p = tmp_path / "a.rawtlt"
    p.write_text(" -60.00\n\n  0.5\n 60\n")
    np.testing.assert_allclose(read_rawtlt(p), [-60.0, 0.5, 60.0])
    p.write_text("-60\nabc\n")
    with pytest.raises(FileFormatError, match="line 2"):
        read_rawtlt(p)
    p.write_text("\n\n")
    with pytest.raises(FileFormatError, match="no tilt angles"):
        read_rawtlt(p)


def test_missing_angle_file_is_named(tmp_path):
    f = tmp_path / "series.mrc"
    f.write_bytes(b"")
    with pytest.raises(FileFormatError, match="series.mrc: the file is empty"):  # the file first, then its angles
        load_tilt_series(f)
    axes = [{"name": "n", "navigate": True}, {"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    Signal(np.ones((3, 4, 4)), axes=axes).save(tmp_path / "series.zarr")
    with pytest.raises(FileFormatError, match="pass angles= or put series.rawtlt beside it"):
        load_tilt_series(tmp_path / "series.zarr")


def test_a_repeated_tilt_angle_is_said():
    """An angle file with a line twice was taken without a word (a new user's: ten more 0 degree projections, SIRT's
    error 0.179 -> 0.197); a tilt recorded twice on purpose (a dose check) is still taken."""
    import warnings

    with pytest.warns(UserWarning, match=r"1 projection\(s\) repeat a tilt angle .*projections 1 and 2 at 0 degrees"):
        s = tilt_series(np.ones((4, 8, 8)), [-10.0, 0.0, 0.0, 10.0])
    assert s.axes[0].size == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tilt_series(np.ones((4, 8, 8)), [-10.0, 0.0, 5.0, 10.0])


def test_non_uniform_angles_become_axis_coordinates():
    angles = [-60.0, -45.0, -20.0, 0.0, 15.0, 50.0]
    s = tilt_series(np.ones((6, 8, 10)), angles, pixel_size=0.25)
    ax = s.axis("tilt")
    assert not ax.is_uniform
    np.testing.assert_array_equal(ax.values, angles)
    assert s.axis("x").scale == 0.25 and s.axis("x").units == "nm"
    u = tilt_series(np.ones((3, 8, 8)), [-30, 0, 30])
    assert u.axis("tilt").is_uniform and u.axis("tilt").scale == 30


def test_stack_of_signals_and_signal_calibration_kept():
    stack = Signal(np.ones((4, 6, 5)), axes=[{"name": "n", "navigate": True},
                                              {"name": "y", "scale": 2.0, "units": "nm", "navigate": False},
                                              {"name": "x", "scale": 2.0, "units": "nm", "navigate": False}])
    s = tilt_series(stack, [-45, -15, 15, 45])
    assert s.axis("y").scale == 2.0 and s.shape == (4, 6, 5)
    lst = tilt_series([np.zeros((6, 5)), np.ones((6, 5))], [0, 10])
    assert lst.shape == (2, 6, 5)


@pytest.mark.parametrize(
    "images, angles, kwargs, match",
    [
        (np.ones((3, 8, 8)), [0, 1], {}, "2 tilt angles given for 3 projections"),
        (np.ones((0, 8, 8)), [], {}, "empty"),
        (np.ones((8, 8)), [0], {}, r"expected a stack \(n_tilts, ny, nx\)"),
        ([np.ones((8, 8)), np.ones((8, 9))], [0, 1], {}, "different shapes"),
        (np.ones((2, 8, 8)), [0, np.nan], {}, "non-finite tilt angle"),
        # a typo (400 for 40) was reconstructed as the 40 degree tilt without a word
        (np.ones((3, 8, 8)), [-40, 0, 400], {},
         r"tilt angle\(s\) \[400.0\] \(projection\(s\) \[2\]\) lie beyond a full turn"),
        # a mask in the angles' place was taken as tilts of 0 and 1 degrees, with a warning about radians
        (np.ones((3, 8, 8)), np.array([True, False, True]), {}, r"angles: got True/False values \(a boolean array"),
        (np.ones((3, 8, 8)), [True, False, True], {}, r"angles: got True/False values \(a boolean array"),
        (np.ones((25, 8, 8)), None, {}, r"angles: none given \(None\); a tilt series needs its tilt angles"),
        (np.ones((3, 8, 8)), [0, 1, 2], {"axis_shift": 4.0}, "outside the image"),
        # -1 made a volume of negative scale (its atom coordinates mirrored); 0 and NaN were refused by the axis
        (np.ones((3, 8, 8)), [0, 1, 2], {"pixel_size": -1}, "pixel_size must be a positive, finite length"),
        (np.ones((3, 8, 8)), [0, 1, 2], {"pixel_size": 0}, "pixel_size must be a positive, finite length"),
    ],
)
def test_bad_series_raise_clear_errors(images, angles, kwargs, match):
    with pytest.raises(DataError, match=match):
        tilt_series(images, angles, **kwargs)


def test_nan_projection_is_named_by_index():
    d = np.ones((4, 8, 8))
    d[2, 3, 3] = np.nan
    with pytest.raises(DataError, match=r"images: 1 NaN or infinite value\(s\) in 1 of 4 projections, the first at "
                                        r"tilt index 2"):
        tilt_series(d, [0, 1, 2, 3])


def test_bad_tilt_axis_name():
    with pytest.raises(AxisError, match="tilt_axis 'z'"):
        tilt_series(np.ones((2, 4, 4)), [0, 1], tilt_axis="z")


@pytest.mark.parametrize("ta", ["y", "x"])
def test_slice_first_and_back_are_inverse_layouts(ta, rng):
    d = rng.random((5, 6, 7))
    sf = slice_first(d, ta)
    assert sf.shape == ((6, 5, 7) if ta == "y" else (7, 5, 6))
    vol = rng.random((sf.shape[0], 3, sf.shape[2]))
    v = volume_from_slices(vol, ta)
    assert v.shape == ((3, 6, 7) if ta == "y" else (3, 6, 7))


@pytest.mark.parametrize("tilt_axis", ["y", "x"])
def test_tilt_axis_position_follows_binning_and_crops(tilt_axis):
    s = tilt_series(np.zeros((3, 256, 256)), [-60, 0, 60], pixel_size=3.36, tilt_axis=tilt_axis, axis_shift=22.95)
    assert axis_shift_of(s) == pytest.approx(22.95)
    assert axis_shift_of(s.rebin({"y": 4, "x": 4})) == pytest.approx(5.7375)  # (127.5 + 22.95 - 1.5) / 4 - 31.5
    across = {"x": slice(10, None)} if tilt_axis == "y" else {"y": slice(10, None)}
    crop = s.isig[across["x"], :] if tilt_axis == "y" else s.isig[:, across["y"]]
    assert axis_shift_of(crop) == pytest.approx(17.95)  # 10 px cut on one side: the centre moves 5 px
    along = s.isig[:, 10:] if tilt_axis == "y" else s.isig[10:, :]
    assert axis_shift_of(along) == pytest.approx(22.95)  # a crop along the axis leaves it where it was


def test_binned_and_cropped_series_reconstruct_about_their_own_axis():
    angles = np.arange(-70, 71, 2.0)
    vol, _ = fcc_nanoparticle(n=40, a=8.0, seed=0)
    s = tilt_series(project_volume(vol, angles, axis_shift=6.0), angles, axis_shift=6.0)

    def misfit(t):
        v = reconstruct_tomogram(t, method="sirt", n_iter=30).to_numpy()
        b = np.asarray(t.data)
        return np.linalg.norm(project_volume(v, angles, axis_shift=axis_shift_of(t)) - b) / np.linalg.norm(b)

    binned, cropped = s.rebin({"y": 2, "x": 2}), s.isig[6:, :]
    assert axis_shift_of(binned) == pytest.approx(3.0) and axis_shift_of(cropped) == pytest.approx(3.0)
    # with the stale 6 px the misfits were 0.138 and 0.118; about the right axis 0.103 and 0.078
    assert misfit(binned) < 0.11 and misfit(cropped) < 0.085


def test_a_record_in_pixels_only_is_read_on_the_series_axes():
    s = tilt_series(np.zeros((3, 64, 64)), [-60, 0, 60], pixel_size=2.0)
    s.metadata["Tomography"] = {"tilt_axis": "y", "axis_shift": 4.5}  # written before axis_position
    assert axis_shift_of(s) == 4.5
    assert "axis_shift" not in tilt_series(s, [-60, 0, 60], axis_shift=1.0).metadata["Tomography"]
