"""Bad input to the tomography operations: refused up front, by an error that says what to do instead."""

import numpy as np
import pytest

from emscale import Signal
from emscale.core.errors import DataError
from emscale.tomography import (
    align_tilts,
    as_tilt_series,
    reconstruct_tomogram,
    subtract_background,
    tilt_series,
    trace_atoms,
)
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

ANGLES = np.arange(-60, 61, 10.0)


@pytest.fixture(scope="module")
def projections():
    return project_volume(ellipsoid_phantom(16, seed=0), ANGLES)


@pytest.mark.parametrize("op", [reconstruct_tomogram, align_tilts])
def test_a_numpy_stack_is_refused_with_the_way_to_wrap_it(op, projections):
    # was AttributeError: 'numpy.ndarray' object has no attribute 'nav_ndim'
    with pytest.raises(DataError, match=r"got ndarray of shape \(13, 16, 16\): .* tomo.tilt_series\(images, angles\)"):
        op(projections)


@pytest.mark.parametrize("op", [as_tilt_series, reconstruct_tomogram])
def test_a_path_is_refused_with_the_way_to_load_it(op, tmp_path):
    # was AttributeError: 'str' object has no attribute 'nav_ndim'
    with pytest.raises(DataError, match=r"not the path 'HAADF.mrc': tomo.load_tilt_series\(path\) loads an MRC"):
        op("HAADF.mrc")
    with pytest.raises(DataError, match=r"as_tilt_series takes a loaded stack .*got ndarray of shape \(2, 3, 4\)"):
        as_tilt_series(np.zeros((2, 3, 4)))


def test_trace_atoms_of_a_numpy_volume_points_at_locate_atoms():
    # was AttributeError: 'numpy.ndarray' object has no attribute 'metadata', after the whole search
    with pytest.raises(DataError, match="takes a volume Signal .* use locate_atoms"):
        trace_atoms(np.zeros((8, 8, 8)))


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf"), "0.1"])
def test_a_tv_weight_that_is_no_strength_is_refused(bad, projections):
    # NaN gave an all-NaN volume, -1 a volume without a word
    with pytest.raises(DataError, match="tv_weight must be a finite number >= 0"):
        reconstruct_tomogram(tilt_series(projections, ANGLES), method="tv", n_iter=2, tv_weight=bad)


@pytest.mark.parametrize("angles, match", [
    ("HAADF.rawtlt", "'HAADF.rawtlt' is a file name, not tilt angles: read it with tomo.read_rawtlt"),
    ([[-60, -50], [-40, -30]], r"flat list of tilt angles, .* shape \(2, 2\)"),
    ([[-60, -50], [-40]], "one number per projection"),
    (["a", "b"], "one number per projection"),
])
def test_angles_that_are_no_list_of_numbers_are_named(angles, match, projections):
    # a path gave numpy's "could not convert string to float", a nested list an axis-size error
    s = Signal(projections, axes=[{"name": "i", "navigate": True}, {"name": "y", "navigate": False},
                                  {"name": "x", "navigate": False}])
    with pytest.raises(DataError, match=match):
        as_tilt_series(s, angles=angles)
    with pytest.raises(DataError, match=match):
        tilt_series(projections, angles)


def test_a_column_of_angles_is_still_a_list(projections):
    np.testing.assert_array_equal(tilt_series(projections, ANGLES[:, None]).axis("tilt").values, ANGLES)


def test_spectral_tomography_checks_the_reconstruction_before_the_decomposition(monkeypatch):
    from emscale import decomposition
    from emscale.tomography import spectral_tomography
    from emscale.tomography.tiltseries import tilt_axis_entry

    def never(*a, **k):
        raise AssertionError("the decomposition ran before recon was checked")

    monkeypatch.setattr(decomposition, "decompose", never)
    axes = [tilt_axis_entry(ANGLES), {"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "E"}]
    s = Signal(np.ones((ANGLES.size, 4, 4, 8), np.float32), axes=axes, metadata={"Tomography": {"tilt_axis": "y"}})
    # was: "method 'art' is not one of ..." after the whole NMF, naming method instead of recon
    with pytest.raises(DataError, match="recon 'art' is not one of .* method= is the decomposition's"):
        spectral_tomography(s, 3, recon="art")


@pytest.mark.parametrize("op", [reconstruct_tomogram, align_tilts])
@pytest.mark.parametrize("keep, angles, match", [
    (slice(0, 1), [0.0], "at least 3 projections, got 1"),
    (slice(0, 2), [-10.0, 10.0], "at least 3 projections, got 2"),
    (slice(0, 4), [5.0] * 4, "all 4 projections are at 5 degrees"),
])
def test_a_series_too_short_or_at_one_tilt_is_refused(op, keep, angles, match, projections):
    # one or two projections reconstructed and "aligned" without a word; four at one angle too
    with pytest.raises(DataError, match=match):
        op(tilt_series(projections[keep], angles))


def test_alignment_needs_three_different_tilts(projections):
    with pytest.raises(DataError, match="only 2 different tilts"):
        align_tilts(tilt_series(projections[:4], [-10.0, -10.0, 10.0, 10.0]))


def test_an_all_zero_series_is_refused_by_the_alignment(projections):
    import warnings

    d = projections.copy()
    d[3] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it gave 2 RuntimeWarnings per projection and a "nan px" axis
        with pytest.raises(DataError, match=r"tilt index \[3\] hold one value throughout"):
            align_tilts(tilt_series(d, ANGLES))
        with pytest.raises(DataError, match="every projection holds one value throughout"):
            align_tilts(tilt_series(np.zeros_like(d), ANGLES))


@pytest.mark.parametrize("op", [align_tilts, subtract_background])
def test_a_nan_column_that_bypassed_tilt_series_is_named(op, projections):
    # a series built as a Signal (or loaded from a store) is not checked by tilt_series: subtract_background
    # returned all NaN (a NaN in every border), align_tilts said "the fitted tilt axis lies nan px ..."
    good = tilt_series(projections, ANGLES)
    d = good.to_numpy().copy()
    d[:, :, 5] = np.nan
    s = Signal(d, axes=[a.to_dict() for a in good.axes], signal_type="tilt_series", metadata=good.metadata)
    with pytest.raises(DataError, match=r"the tilt series: 208 NaN or infinite value\(s\) in 13 of 13 projections, "
                                        r"the first at tilt index 0"):
        op(s)


def test_a_scratch_folder_that_does_not_exist_is_named(projections, tmp_path):
    # tempfile's raw FileNotFoundError, after the series had been arranged for the reconstruction
    ts = tilt_series(projections, ANGLES)
    with pytest.raises(DataError, match=r"scratch '.*nowhere': no such folder"):
        reconstruct_tomogram(ts, scratch=str(tmp_path / "nowhere"))


def test_mistakes_in_the_files_and_values_of_a_tilt_series_are_named(tmp_path, real_dir):
    """Found by a new user: a missing .mrc was "no tilt angles for it, put its .rawtlt beside it"; the .mrc given
    as its angle file, a raw UnicodeDecodeError; a saved tilt series (angles in degrees on its axis) asked for a
    .rawtlt; a negative max_distance matched every atom (scipy takes it as no bound); 3 x 3 images said "border 1:
    must be between 1 and 0 px"."""
    import emscale as em
    from emscale.core.errors import FileFormatError
    from emscale.tomography import (
        as_tilt_series,
        load_tilt_series,
        match_atoms,
        read_rawtlt,
        subtract_background,
        tilt_series,
    )

    with pytest.raises(FileFormatError, match="nope.mrc: no such file"):
        load_tilt_series(tmp_path / "nope.mrc")
    with pytest.raises(FileFormatError, match="HAADF.mrc: not a text file of tilt angles"):
        read_rawtlt(real_dir / "tomography" / "HAADF.mrc")
    (tmp_path / "long.rawtlt").write_text("x" * 500 + "\n")
    with pytest.raises(FileFormatError, match=r"line 1: 'x{40}\.\.\.' is not a tilt angle"):
        read_rawtlt(tmp_path / "long.rawtlt")
    ts = tilt_series(np.ones((3, 8, 8)), [-20.0, 0.0, 20.0])
    ts.save(tmp_path / "ts.zarr")
    again = load_tilt_series(tmp_path / "ts.zarr")
    np.testing.assert_array_equal(again.axes[0].values, [-20.0, 0.0, 20.0])
    axes = [{"name": "n", "size": 3, "navigate": True}, {"name": "y", "size": 8, "navigate": False},
            {"name": "x", "size": 8, "navigate": False}]
    em.Signal(np.ones((3, 8, 8)), axes=axes).save(tmp_path / "stack.zarr")  # a stack with no angles on its axis
    with pytest.raises(FileFormatError, match="no tilt angles for .*stack.zarr: pass angles="):
        load_tilt_series(tmp_path / "stack.zarr")
    t = np.zeros((2, 3))
    for bad in (-1, 0, float("nan")):
        with pytest.raises(DataError, match="max_distance must be a positive, finite distance"):
            match_atoms(t + 0.5, t, bad)
    with pytest.raises(DataError, match="images of 3 px a side are too small for a border frame"):
        subtract_background(tilt_series(np.ones((3, 3, 3)), [-10.0, 0.0, 10.0]))
    np.save(tmp_path / "stack.npy", np.ones((5, 6, 7), np.float32))  # loads as one 3-D signal
    stack = em.load(tmp_path / "stack.npy")
    with pytest.raises(DataError, match=r"s.transpose\(signal_axes=\[0, 1\]\), its numpy axis 0 \(5 images\)"):
        as_tilt_series(stack, angles=[0.0, 1, 2, 3, 4])
    assert as_tilt_series(stack.transpose(signal_axes=[0, 1]), angles=[0.0, 1, 2, 3, 4]).data.shape == (5, 6, 7)


def test_an_mrc_without_its_angle_file_takes_the_angles_of_its_header(tmp_path, real_dir):
    """The real series' header holds each projection's stage tilt (as its .rawtlt does); without the .rawtlt it was
    "no tilt angles: pass angles=". A header whose tilts are all one value (no tilt series) is not taken."""
    import shutil

    import emscale as em
    from emscale.core.errors import FileFormatError
    from emscale.tomography import as_tilt_series, load_tilt_series, read_rawtlt

    shutil.copy(real_dir / "tomography" / "HAADF.mrc", tmp_path / "h.mrc")
    s = load_tilt_series(tmp_path / "h.mrc", tilt_axis="x")
    np.testing.assert_array_equal(s.axes[0].values, read_rawtlt(real_dir / "tomography" / "HAADF.rawtlt"))
    stack = em.load(tmp_path / "h.mrc").inav[:5]
    stack.metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] = [3.0] * 1024
    with pytest.raises(DataError, match="the file's header holds no tilt angle per projection: pass the tilt angles"):
        as_tilt_series(stack)
    stack.save(tmp_path / "flat.zarr")
    with pytest.raises(FileFormatError, match="no tilt angles for .*flat.zarr"):
        load_tilt_series(tmp_path / "flat.zarr")


def test_a_sliced_series_reads_the_tilts_of_its_frames_from_the_header(real_dir):
    # inav[::4] kept the header's 77 tilts for 20 frames, and as_tilt_series refused it ("the file's header holds no
    # tilt angle per projection")
    import emscale as em
    from emscale.tomography import as_tilt_series

    full = as_tilt_series(em.load(real_dir / "tomography" / "HAADF.mrc"), tilt_axis="x")
    part = as_tilt_series(em.load(real_dir / "tomography" / "HAADF.mrc").inav[::4], tilt_axis="x")
    np.testing.assert_array_equal(part.axes[0].values, full.axes[0].values[::4])


def test_projection_and_scan_arguments_are_named_errors():
    # a review's: a (2, 2) angle array projected four tilts, tilt_axis="z" or "Y" projected about x, k=0 neighbours
    # failed in numpy's words, n_phases=0 was refused as n_components, an unknown pattern was a bare ValueError
    from emscale.core.errors import AxisError
    from emscale.sampling import make_pattern
    from emscale.sampling.slads_features import nn_reconstruct

    vol = ellipsoid_phantom(8, seed=0)
    with pytest.raises(DataError, match=r"angles: a list of tilt angles, not an array of shape \(2, 2\)"):
        project_volume(vol, np.ones((2, 2)))
    for axis in ("z", "Y"):
        with pytest.raises(AxisError, match=f"tilt_axis '{axis}': use 'y' or 'x'"):
            project_volume(vol, ANGLES, tilt_axis=axis)
    mask = np.zeros((8, 8), bool)
    mask[::2, ::2] = True
    with pytest.raises(DataError, match=r"k must be a whole number >= 1 \(neighbours\), got 0"):
        nn_reconstruct(mask, np.ones((8, 8)), k=0)
    with pytest.raises(DataError, match="unknown pattern 'spiral'"):
        make_pattern("spiral", (8, 8), 0.2)


def test_phase_map_names_n_phases():
    from emscale.sampling.autonomous import phase_map
    from emscale.workflows.samples import eds_si

    s, _ = eds_si(shape=(6, 6), n_channels=32, seed=0)
    with pytest.raises(DataError, match=r"n_phases must be a whole number >= 1 \(phases\), got 0"):
        phase_map(s, n_phases=0)


def test_an_angle_file_beside_the_input_given_by_its_path_is_named(real_dir):
    # the full path of the real series' angle file, beside it, was refused with no word of what to give
    import emscale as em

    s = em.load(real_dir / "tomography" / "HAADF.mrc")
    with pytest.raises(DataError, match="it is beside the input: give its name, 'HAADF.rawtlt'"):
        as_tilt_series(s, rawtlt=str(real_dir / "tomography" / "HAADF.rawtlt"), tilt_axis="x")


def test_a_slice_is_refused_as_a_volume_to_project():
    """A 2D array failed in numpy's words, "axes don't match array"."""
    vol = ellipsoid_phantom(16, seed=0)
    with pytest.raises(DataError, match=r"vol: expected a volume \(z, y, x\), got shape \(16, 16\).*vol\[:, None, :\]"):
        project_volume(vol[0], ANGLES)


def test_complex_projections_are_refused(projections):
    """Cast to float32 with only numpy's ComplexWarning: the imaginary part dropped silently."""
    with pytest.raises(DataError, match=r"images holds complex values \(complex64\).*np.abs\(images\)"):
        tilt_series(projections.astype(np.complex64), ANGLES)
