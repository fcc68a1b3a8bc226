"""Alignment: known random shifts recovered, the tilt-axis position found, figures drawn."""

import numpy as np
import pytest

from emscale.tomography import axis_shift_of, estimate_alignment, tilt_series
from emscale.tomography.alignment import _sinusoid_fit, shift_images
from emscale.tomography.figures import sinogram_figure
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

ANGLES = np.arange(-70, 71, 2.0)


def _series(seed, tilt_axis, axis_shift=0.0, max_shift=10.0):
    vol = np.pad(ellipsoid_phantom(40, seed=seed), ((0, 0), (14, 14), (14, 14)))  # room for the shifts
    ts = project_volume(vol, ANGLES, tilt_axis, axis_shift=axis_shift)
    true = np.random.default_rng(seed).uniform(-max_shift, max_shift, (ANGLES.size, 2))
    return tilt_series(shift_images(ts, true), ANGLES, tilt_axis=tilt_axis), true


def _non_rigid(err, tilt_axis):
    """Errors less what no alignment can know: a constant along the axis, 1 / cos / sin across it."""
    along, perp = (0, 1) if tilt_axis == "y" else (1, 0)
    return np.concatenate([err[:, along] - err[:, along].mean(),
                           err[:, perp] - _sinusoid_fit(np.deg2rad(ANGLES), err[:, perp])[1]])


@pytest.mark.parametrize("seed, tilt_axis", [(1, "y"), (2, "x")])
def test_random_shifts_recovered_and_the_chain_error_reported(seed, tilt_axis):
    s, true = _series(seed, tilt_axis)
    al = estimate_alignment(s)
    err = _non_rigid(al.shifts + true, tilt_axis)  # applied shifts undo the true ones
    # measured 0.008 / 0.010 px at most (0.054 / 0.150 while the centres of mass sat on a pedestal)
    assert np.abs(err).max() < 0.03
    assert np.sqrt(np.mean(err**2)) < 0.005
    # the true shifts' 1 / cos / sin part moved the axis: 2.959 / 3.235 px (2.810 / 3.060 found with the pedestal)
    perp = 1 if tilt_axis == "y" else 0
    assert al.axis_shift == pytest.approx(_sinusoid_fit(np.deg2rad(ANGLES), true[:, perp])[0][0], abs=0.01)
    # the residuals say how far the cross-correlation chain was off: residual_rms 0.115 / 0.217 px for a chain
    # 0.110 / 0.207 px rms off (it was 0.006 / 0.028, taken after com had put the centres on the model)
    chain = _non_rigid(al.xcorr_shifts + true, tilt_axis)
    assert al.residual_rms == pytest.approx(np.sqrt(np.mean(chain**2)), rel=0.15)
    assert np.abs(al.residuals).max() > np.abs(err).max()
    assert al.aligned.shape == s.shape and al.aligned.axes == s.axes


def test_cross_correlation_alone_is_within_a_pixel():
    s, true = _series(3, "y")
    al = estimate_alignment(s, com=False)
    assert np.abs(_non_rigid(al.xcorr_shifts + true, "y")).max() < 1.0
    np.testing.assert_array_equal(al.shifts, al.xcorr_shifts)


@pytest.mark.parametrize("axis_shift", [3.5, -6.25])
def test_tilt_axis_position_found(axis_shift):
    s, _ = _series(4, "y", axis_shift=axis_shift, max_shift=0.0)
    al = estimate_alignment(s)
    assert al.axis_shift == pytest.approx(axis_shift, abs=0.2)
    assert axis_shift_of(al.aligned) == pytest.approx(al.axis_shift)


@pytest.mark.parametrize("noise, offset, tilt_axis", [(0.005, 0.0, "y"), (0.016, 100.0, "y"), (0.05, 0.0, "x")])
def test_tilt_axis_position_is_not_pulled_to_the_centre_by_noise(noise, offset, tilt_axis):
    # the centre of mass was taken over every pixel less the 1st percentile (about -2.3 sigma): a pedestal on the
    # vacuum pulled the axis toward the centre: -4.98 / -4.14 / -2.26 px for the true -5.5 in these three cases
    vol = ellipsoid_phantom(64)
    clean = project_volume(vol, ANGLES, tilt_axis, axis_shift=-5.5)
    rng = np.random.default_rng(0)
    s = tilt_series(clean + offset + rng.normal(0, noise * clean.max(), clean.shape), ANGLES, tilt_axis=tilt_axis)
    al = estimate_alignment(s)
    assert al.axis_shift == pytest.approx(-5.5, abs=0.1)  # measured -5.50, -5.51, -5.45
    assert np.sqrt(np.mean(al.shifts**2)) < 0.15  # nothing to correct: 0.01 / 0.03 / 0.10 px rms (0.52 at 5 %)


def test_a_specimen_filling_the_field_is_aligned_without_centre_of_mass():
    # no vacuum at the border: its centre of mass is taken as before vacuum_zeroed, and said to be biased
    full = project_volume(ellipsoid_phantom(64, n_ellipsoids=20, seed=1), ANGLES, "y")
    true = np.random.default_rng(1).uniform(-3, 3, (ANGLES.size, 2))
    with pytest.warns(UserWarning, match=r"of 71 projections \(tilt index 0, 1, 2, .* more\) show nothing above the "
                                         r"noise of their border .* pulled toward its centre"):
        al = estimate_alignment(tilt_series(shift_images(full, true)[:, 16:48, 16:48], ANGLES), com=False)
    err = _non_rigid(al.shifts + true, "y")
    assert np.sqrt(np.mean(err**2)) < 0.75  # 0.51 px: the field's edges cut a different part at every tilt


def test_the_centre_of_mass_is_left_out_by_default_where_the_specimen_runs_out_of_the_field():
    # com=True was the default: a specimen cut by the field's edges came out 1.32 px RMS (worst 5.5 px) off, against
    # 0.51 without the centre of mass (a review's slab wider than the field: 2.03 against 0.24)
    full = project_volume(ellipsoid_phantom(64, n_ellipsoids=20, seed=1), ANGLES, "y")
    true = np.random.default_rng(1).uniform(-3, 3, (ANGLES.size, 2))
    with pytest.warns(UserWarning, match="show nothing above the noise"):
        cut = tilt_series(shift_images(full, true)[:, 16:48, 16:48], ANGLES)
        al = estimate_alignment(cut)
    assert al.com.startswith("off (automatic: the specimen runs out of the field in 67 of 71 projections")
    assert np.sqrt(np.mean(_non_rigid(al.shifts + true, "y") ** 2)) < 0.75
    s, _ = _series(1, "y")  # in view: as before
    assert estimate_alignment(s).com == ("on (automatic: the specimen runs out of the field in 0 of 71 projections; "
                                         "the object stays in view)")


def test_a_projection_of_noise_alone_is_named_by_tilt_index():
    clean = project_volume(ellipsoid_phantom(48), ANGLES, "y")
    data = clean + np.random.default_rng(1).normal(0, 0.01 * clean.max(), clean.shape)
    data[3] = data[3] - clean[3]  # the beam missed the object: its centre of mass is that of the noise
    with pytest.warns(UserWarning, match=r"^1 of 71 projections \(tilt index 3\) show nothing above the noise"):
        estimate_alignment(tilt_series(data, ANGLES))


def test_sinogram_figure_before_after(tmp_path):
    s, _ = _series(1, "y")
    al = estimate_alignment(s)
    fig = sinogram_figure(s, al.aligned)
    assert len(fig.axes) == 2
    out = tmp_path / "sinograms.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000


def test_sinogram_of_a_dose_symmetric_series_is_drawn_in_angle_order():
    # was drawn in acquisition order (0, 4, -4, 8, ...) on an axis labelled from the first tilt (0) to the last (-60)
    angles = np.array([0.0] + [sign * a for a in range(4, 61, 4) for sign in (1, -1)])
    data = project_volume(ellipsoid_phantom(24), angles, "y")
    ax = sinogram_figure(tilt_series(data, angles)).axes[0]
    assert ax.get_ylim() == (62.0, -62.0)  # -60 on top, +60 at the bottom, each row 4 degrees high
    rows = np.asarray(ax.collections[0].get_array()).reshape(angles.size, 24)
    np.testing.assert_array_equal(rows, data[np.argsort(angles), 12, :])


def test_one_hot_pixel_does_not_black_out_a_sinogram():
    """The sinogram took the raw min-max: one pixel at 1e5 drew the rest (0-~20) in its lowest 0.02 %, black. Now
    the volume figures' rule (colour_limits): the rest's range; a sinogram with no hot pixel keeps its min-max."""
    from emscale.plotting import colour_limits

    angles = np.arange(-60, 61, 4.0)
    data = project_volume(ellipsoid_phantom(24), angles, "y")
    plain = sinogram_figure(tilt_series(data, angles)).axes[0].collections[0].get_clim()
    assert plain == (float(data[:, 12].min()), float(data[:, 12].max()))
    hot = data.copy()
    hot[7, 12, 5] = 1e5
    lo, hi = sinogram_figure(tilt_series(hot, angles)).axes[0].collections[0].get_clim()
    assert (lo, hi) == colour_limits(hot[:, 12])[:2] == plain
    assert hi < 100


def test_real_series_sinograms_become_continuous(real_dir, tmp_path):
    from emscale.tomography import load_tilt_series

    s = load_tilt_series(real_dir / "tomography/HAADF.mrc", tilt_axis="x")
    d = s.data.reshape(77, 128, 2, 128, 2).mean(axis=(2, 4))  # 2x binned: the test stays fast
    s = tilt_series(d - np.percentile(d, 1), s.axis("tilt").values, pixel_size=6.72, tilt_axis="x")
    al = estimate_alignment(s, com=False)  # the needle runs out of the field along the axis: no centre of mass

    def jump(x):  # mean change between neighbouring tilts
        return float(np.mean(np.abs(np.diff(np.asarray(x), axis=0))))

    assert jump(al.aligned.data) < jump(s.data) / 5
    assert np.abs(al.shifts).max() > 5  # the series really was misaligned
    fig = sinogram_figure(s, al.aligned)
    fig.savefig(tmp_path / "real_sinograms.png")


@pytest.mark.parametrize("upsample", [0, -3, 2.5, True])
def test_an_upsampling_that_is_no_whole_number_is_refused(upsample):
    s, _ = _series(0, "y")
    with pytest.raises(ValueError, match="upsample must be a whole number >= 1"):
        estimate_alignment(s, upsample=upsample)


def test_the_background_record_is_kept_and_the_shifts_follow_a_slice():
    from emscale.tomography import align_tilts, alignment_of, subtract_background

    s, _ = _series(5, "y", max_shift=4.0)
    aligned = align_tilts(subtract_background(tilt_series(s.data + 100.0, ANGLES)))
    t = aligned.metadata["Tomography"]
    # align_tilts dropped what subtract_background recorded
    assert t["background"]["levels"] == pytest.approx([100.0] * ANGLES.size)
    full = alignment_of(aligned)["shifts"]
    assert full.shape == (ANGLES.size, 2)
    for cut in (slice(10, 60), slice(None, None, 2), slice(None, None, -1)):
        part = alignment_of(aligned.inav[cut])
        np.testing.assert_array_equal(part["shifts"], full[cut])  # the metadata's array stays whole (71 rows)
        assert part["angles"] == ANGLES[cut].tolist()
