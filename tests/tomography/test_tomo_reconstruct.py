"""Reconstruction: PSNR against a known 3D phantom, executor/partition invariance, calibrated volume Signal."""

import warnings

import numpy as np
import pytest

from emscale import InlineExecutor, ThreadExecutor
from emscale.core.errors import DataError
from emscale.tomography import reconstruct_slices, reconstruct_tomogram, tilt_series
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

FULL = np.linspace(-90, 90, 60, endpoint=False)
WEDGE = np.linspace(-60, 60, 30)


def psnr(a, truth):
    return 10 * np.log10(truth.max() ** 2 / np.mean((np.asarray(a, float) - truth) ** 2))


@pytest.fixture(scope="module", params=[1, 2])
def phantom(request):
    vol = ellipsoid_phantom(32, seed=request.param)
    return vol, {
        "full": tilt_series(project_volume(vol, FULL), FULL, pixel_size=0.5),
        "wedge": tilt_series(project_volume(vol, WEDGE), WEDGE, pixel_size=0.5),
    }


@pytest.mark.parametrize("filt, floor", [("ramp", 32.5), ("shepp-logan", 31.5), ("hann", 28.5)])
def test_fbp_filters_reach_their_psnr(phantom, filt, floor):
    vol, s = phantom
    rec = reconstruct_tomogram(s["full"], "fbp", filter=filt)
    assert psnr(rec.data, vol) > floor


@pytest.mark.parametrize("where", [0, 15, 29])
def test_fbp_of_a_projection_recorded_twice_is_the_fbp_of_it_once(phantom, where):
    # the first copy of an end angle had weight 0 (its gap to the copy): the volume changed by 3-4 % (a copy in
    # the middle shared its interval already)
    vol, s = phantom
    once = reconstruct_tomogram(s["wedge"], "fbp").to_numpy()
    data, angles = s["wedge"].to_numpy(), WEDGE
    twice = tilt_series(np.insert(data, where, data[where], axis=0), np.insert(angles, where, angles[where]),
                        pixel_size=0.5)
    rec = reconstruct_tomogram(twice, "fbp").to_numpy()
    assert np.linalg.norm(rec - once) <= 1e-6 * np.linalg.norm(once)


@pytest.mark.parametrize("turn", [np.linspace(0, 360, 120, endpoint=False), np.linspace(-180, 180, 121)])
def test_fbp_of_a_full_turn_is_the_fbp_of_half_of_it(phantom, turn):
    # angles over 360 degrees summed their weights to 2 pi: every value doubled (relative error 0.92)
    vol, s = phantom
    rec = reconstruct_tomogram(tilt_series(project_volume(vol, turn), turn, pixel_size=0.5), "fbp").data
    assert psnr(rec, vol) > 32.5
    assert abs(float(np.sum(rec)) / float(np.sum(reconstruct_tomogram(s["full"], "fbp").data)) - 1) < 0.01


def test_fbp_filters_trade_noise_for_resolution_on_clean_data(phantom):
    vol, s = phantom
    p = [psnr(reconstruct_tomogram(s["full"], "fbp", filter=f).data, vol) for f in ("ramp", "shepp-logan", "hann")]
    assert p[0] > p[1] > p[2]  # noise-free data: the sharper the filter, the closer to the truth


def test_sirt_is_nonnegative_and_accurate(phantom):
    vol, s = phantom
    rec = reconstruct_tomogram(s["full"], "sirt", n_iter=50)
    assert rec.data.min() >= 0
    assert psnr(rec.data, vol) > 33.5


@pytest.mark.parametrize("method", ["sirt", "tv"])
def test_nonnegative_false_keeps_the_negative_values(method):
    """A volume that needs negative values (a phase's share where another component was mixed in: the evidence of
    spectral tomography's pure voxels). TV clipped at zero whatever it was asked."""
    vol = ellipsoid_phantom(16, seed=1)
    vol = vol - 0.5 * ellipsoid_phantom(16, seed=2)
    s = tilt_series(project_volume(vol, FULL), FULL)
    kw = {"tv_weight": 0.01} if method == "tv" else {}
    lin = reconstruct_tomogram(s, method, n_iter=50, nonnegative=False, **kw).data
    clipped = reconstruct_tomogram(s, method, n_iter=50, **kw).data
    assert clipped.min() >= 0 and lin.min() < -0.5 * np.abs(vol[vol < 0]).mean()


def test_tv_beats_sirt_by_2db_in_the_missing_wedge(phantom):
    vol, s = phantom
    p_sirt = psnr(reconstruct_tomogram(s["wedge"], "sirt", n_iter=100).data, vol)
    p_tv = psnr(reconstruct_tomogram(s["wedge"], "tv", n_iter=100, tv_weight=0.01).data, vol)
    assert p_sirt > 31.0
    assert p_tv > p_sirt + 2.0


@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_tv_does_not_depend_on_the_data_scale(scale):
    # |q| squared in float32 overflowed at 1e20 (thousands of RuntimeWarnings, relative error 0.32 against 0.20)
    # and underflowed at 1e-30
    vol = ellipsoid_phantom(16, seed=1)
    proj = project_volume(vol, WEDGE).astype(np.float64)
    one = reconstruct_tomogram(tilt_series(proj, WEDGE), "tv", n_iter=60, tv_weight=0.1).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = reconstruct_tomogram(tilt_series(proj * scale, WEDGE), "tv", n_iter=60, tv_weight=0.1).to_numpy()
    assert np.abs(scaled / scale - one).max() <= 1e-4 * np.abs(one).max()


def test_values_beyond_float32_are_said_so():
    # "NaN or infinite value(s)" for finite data that the float32 cast made infinite
    proj = project_volume(ellipsoid_phantom(8, seed=1), WEDGE).astype(np.float64) * 1e300
    with pytest.raises(DataError, match=r"images: values up to \d\.\d+e\+300 exceed float32's range"):
        tilt_series(proj, WEDGE)


@pytest.mark.parametrize("method", ["fbp", "sirt", "tv"])
def test_bit_identical_across_executors_and_partitions(method):
    vol = ellipsoid_phantom(24, seed=5)
    s = tilt_series(project_volume(vol, WEDGE), WEDGE)
    kw = {"n_iter": 10} if method != "fbp" else {}
    a = reconstruct_tomogram(s, method, executor=InlineExecutor(), slices_per_partition=5, **kw).data
    b = reconstruct_tomogram(s, method, executor=ThreadExecutor(2), slices_per_partition=5, **kw).data
    c = reconstruct_tomogram(s, method, executor=ThreadExecutor(2), slices_per_partition=24, **kw).data
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_default_partitions_share_the_series_over_the_workers(monkeypatch):
    """A partition of 8 slices left the projector's innermost loop (over a block's slices) short: TV on 64 slices of
    256 x 256 took 57 s, against 22 s with 32 slices a partition. By default the series is shared out over the
    executor's workers, with at least 8 slices a partition and at most 2^23 voxels; the bits are those of any other
    partitioning."""
    from emscale.engine import run_pass
    from emscale.tomography import reconstruct as rec
    from emscale.tomography.geometry import ParallelGeometry
    from emscale.tomography.projector import partition_slices

    def geom(n):
        return ParallelGeometry(WEDGE, n_det=n)

    assert partition_slices(64, geom(256), ThreadExecutor(2)) == 32
    assert partition_slices(128, geom(128), ThreadExecutor(2)) == 64
    assert partition_slices(32, geom(32), ThreadExecutor(16)) == 8  # at least 8 where they fit
    assert partition_slices(40, geom(24), InlineExecutor()) == 40
    assert partition_slices(1024, geom(1024), ThreadExecutor(2)) == 8  # 2^23 voxels: 32 MB of float32 an array
    assert partition_slices(64, geom(4096), ThreadExecutor(2)) == 1

    rows = []
    monkeypatch.setattr(rec, "run_pass", lambda src, *a, **k: rows.append(k["rows"]) or run_pass(src, *a, **k))
    s = tilt_series(project_volume(ellipsoid_phantom(24, seed=5), WEDGE), WEDGE)
    for method in ("sirt", "tv"):
        kw = {"n_iter": 10, "tv_weight": 0.1} if method == "tv" else {"n_iter": 10}
        auto = reconstruct_tomogram(s, method, executor=ThreadExecutor(2), **kw).data
        ones = reconstruct_tomogram(s, method, executor=ThreadExecutor(2), slices_per_partition=1, **kw).data
        assert np.array_equal(auto, ones)
    assert rows == [12, 1, 12, 1]


@pytest.mark.parametrize("tilt_axis", ["y", "x"])
def test_volume_signal_is_calibrated_and_oriented(tilt_axis):
    vol = np.zeros((20, 16, 24), np.float32)
    vol[12, 4, 18] = 1.0  # one voxel off-centre in every direction
    s = tilt_series(project_volume(vol, FULL, tilt_axis), FULL, pixel_size=0.7, tilt_axis=tilt_axis)
    rec = reconstruct_tomogram(s, "fbp", thickness=20)
    assert rec.shape == (20, 16, 24)
    assert [a.name for a in rec.axes] == ["z", "y", "x"]
    assert all(a.units == "nm" and a.scale == pytest.approx(0.7) for a in rec.axes)
    assert rec.axes[0].offset == pytest.approx(-0.7 * 19 / 2)
    assert rec.signal_type == "volume"
    assert np.unravel_index(np.argmax(rec.data), rec.shape) == (12, 4, 18)


def test_reconstruct_errors():
    good = np.ones((4, 5, 16), np.float32)
    with pytest.raises(ValueError, match="method 'art'"):
        reconstruct_slices(good, np.arange(5.0), method="art")
    with pytest.raises(ValueError, match="filter 'cosine'"):
        reconstruct_slices(good, np.arange(5.0), method="fbp", filter="cosine")
    with pytest.raises(DataError, match="4 tilt angles given for 5 projections"):
        reconstruct_slices(good, np.arange(4.0))
    bad = good.copy()
    bad[2, 1, 3] = np.nan
    with pytest.raises(DataError, match="slices 0..3 contain NaN"):
        reconstruct_slices(bad, np.arange(5.0), method="fbp", executor=InlineExecutor())
    with pytest.raises(DataError, match="outside the detector"):
        reconstruct_slices(good, np.arange(5.0), axis_shift=9.0)


def test_orthoslices_and_mip_figures(tmp_path):
    from emscale.tomography import mip_figure, orthoslices_figure

    vol = ellipsoid_phantom(24, seed=6)
    s = tilt_series(project_volume(vol, FULL), FULL, pixel_size=0.5)
    rec = reconstruct_tomogram(s, "fbp")
    for make in (orthoslices_figure, mip_figure):
        fig = make(rec)
        assert len(fig.axes) == 4  # three panels and their colour bar
        assert fig.axes[0].get_xlabel() == "x (nm)"
        # one grey scale: each panel was scaled to its own range, and no bar said what the greys were
        assert len({fig.axes[k].images[0].get_clim() for k in range(3)}) == 1
        assert fig.axes[3].get_ylabel().startswith("Intensity")
        fig.savefig(tmp_path / f"{make.__name__}.png")
    assert orthoslices_figure(rec).axes[0].get_title() == "xy, z = 12 (0.25 nm)"  # index and place
    holed = rec.data.copy()
    holed[0, 0, 0] = np.nan  # one NaN voxel made the shared grey scale NaN and every panel blank
    for make in (orthoslices_figure, mip_figure):
        lo, hi = make(type(rec)(holed, axes=rec.axes)).axes[0].images[0].get_clim()
        assert np.isfinite(lo) and np.isfinite(hi) and hi > lo
    # the MIP along z is the volume's maximum over z
    img = mip_figure(rec).axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img), rec.data.max(axis=0))
    # pixels span their edges: 24 x 0.5 nm is 12 nm wide (it was 11.5, every pixel stretched by 24 / 23)
    for fig in (orthoslices_figure(rec), mip_figure(rec)):
        left, right, bottom, top = fig.axes[0].images[0].get_extent()
        assert right - left == pytest.approx(24 * 0.5) and bottom - top == pytest.approx(rec.shape[1] * 0.5)


def test_a_hot_voxel_does_not_black_out_the_volume_figures_and_unitless_axes_get_no_brackets():
    """One voxel at 1e5 in a sphere of 100 set the plain min-max grey range: the sphere at 0.1 % of it, black. Now
    Signal.plot's rule (colour_limits): the rest's range, the colour bar's pointed ends; "x ()" labels without units."""
    import emscale as em
    from emscale.plotting import colour_limits
    from emscale.tomography import mip_figure, orthoslices_figure

    z, y, x = np.mgrid[:48, :64, :64]
    vol = (((x - 32) ** 2 + (y - 32) ** 2 + (z - 24) ** 2 < 15 ** 2) * 100.0
           + np.random.default_rng(0).normal(0, 5, (48, 64, 64))).astype(np.float32)
    vol[24, 32, 40] = 1e5
    axes = [{"name": n, "units": "nm"} for n in "zyx"]
    ortho, mip = orthoslices_figure(em.Signal(vol, axes=axes)), mip_figure(em.Signal(vol, axes=axes))
    lo, hi = ortho.axes[0].images[0].get_clim()
    # each voxel once: the slices' shared lines counted twice (hi 114.48 there, against 113.82)
    shown = np.concatenate([vol[24].ravel(), np.delete(vol[:, 32], 24, 0).ravel(),
                            np.delete(np.delete(vol[:, :, 32], 24, 0), 32, 1).ravel()])
    assert (lo, hi) == colour_limits(shown)[:2] and 100 < hi < 130
    assert ortho.axes[2].images[0].colorbar.extend == "both"  # the bar of the last panel
    lo, hi = mip.axes[0].images[0].get_clim()
    assert (lo, hi) == colour_limits(vol)[:2] and 100 < hi < 130
    assert mip.axes[2].images[0].colorbar.extend == "max"  # the projections reach no low voxel
    bare = orthoslices_figure(em.Signal(vol[:8, :8, :8]))
    assert all("()" not in a.get_xlabel() + a.get_ylabel() for a in bare.axes[:3])
    assert orthoslices_figure(em.Signal(vol, axes=axes)).axes[0].get_xlabel() == "x (nm)"


def test_the_orthoslices_grey_range_counts_each_voxel_once():
    """The three slices share three lines and the centre voxel, which counted three times: a hot centre voxel of a
    7 x 7 x 7 volume survived colour_limits' drop of one value at each end, and the slices were drawn over 100-1e5,
    black. A 3 x 3 x 3 volume (27 values, no outlier step) keeps its min-max, as before."""
    import emscale as em
    from emscale.plotting import colour_limits
    from emscale.tomography import orthoslices_figure

    vol = np.random.default_rng(0).normal(100, 5, (7, 7, 7))
    vol[3, 3, 3] = 1e5
    fig = orthoslices_figure(em.Signal(vol))
    (lo, hi), extend = fig.axes[0].images[0].get_clim(), fig.axes[2].images[0].colorbar.extend  # the last's bar
    once = np.concatenate([vol[3].ravel(), np.delete(vol[:, 3], 3, 0).ravel(),
                           np.delete(np.delete(vol[:, :, 3], 3, 0), 3, 1).ravel()])
    assert once.size == 127 and (lo, hi, extend) == colour_limits(once)
    assert hi < 120 and extend == "both"
    small = vol[2:5, 2:5, 2:5]  # the hot voxel at its centre
    assert orthoslices_figure(em.Signal(small)).axes[0].images[0].get_clim() == (
        float(np.concatenate([small[1].ravel(), small[:, 1].ravel(), small[:, :, 1].ravel()]).min()), 1e5)


def test_progress_is_reported_per_partition():
    vol = ellipsoid_phantom(16, seed=7)
    s = tilt_series(project_volume(vol, WEDGE), WEDGE)
    calls = []
    reconstruct_tomogram(s, "fbp", slices_per_partition=4, progress=lambda done, total: calls.append((done, total)),
                         executor=InlineExecutor())
    # the series' sums (one pass), then the slices in their four partitions
    assert len(calls) == 1 + 4 and calls[0][0] == calls[0][1] and calls[-1][0] == calls[-1][1]
    assert [d for d, t in calls[1:]] == [t * k // 4 for k, (d, t) in enumerate(calls[1:], 1)]


def test_sizes_and_iterations_that_make_no_volume_are_refused_by_name():
    ang = np.arange(-60, 61, 15.0)
    ts = tilt_series(project_volume(ellipsoid_phantom(24, seed=0), ang), ang)
    # thickness 0 silently meant the full width; -5 failed inside numpy; n_iter=0 returned the all-zero start
    for bad in (0, -5, 2.5):
        with pytest.raises(DataError, match=f"thickness .* must be a positive number of pixels .* got {bad}"):
            reconstruct_tomogram(ts, method="fbp", thickness=bad)
    with pytest.raises(ValueError, match="n_iter must be a positive number of iterations"):
        reconstruct_tomogram(ts, method="sirt", n_iter=0)
    with pytest.raises(ValueError, match="filtered back-projection is one step, it takes no iterations"):
        reconstruct_tomogram(ts, method="fbp", n_iter=50)  # was ignored without a word
    assert reconstruct_tomogram(ts, method="fbp", thickness=8).data.shape[0] == 8


def test_angles_in_radians_are_flagged():
    ang = np.arange(-60, 61, 15.0)
    proj = project_volume(ellipsoid_phantom(24, seed=0), ang)
    with pytest.warns(UserWarning, match="span only 2.09 degrees .* if they are radians, pass np.rad2deg"):
        tilt_series(proj, np.deg2rad(ang))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tilt_series(proj, ang)


@pytest.mark.parametrize("tilt_axis", ["y", "x"])
def test_volume_coordinates_are_the_projections_with_a_shifted_axis(tilt_axis):
    from emscale.tomography import match_atoms, trace_atoms
    from emscale.tomography.phantoms import fcc_nanoparticle

    ang = np.arange(-70, 71, 2.0)
    vol, atoms = fcc_nanoparticle(n=40, a=8.0, seed=0)
    s = tilt_series(project_volume(vol, ang, tilt_axis, axis_shift=6.0), ang, pixel_size=0.5, tilt_axis=tilt_axis,
                    axis_shift=6.0)
    found = trace_atoms(reconstruct_tomogram(s, method="sirt", n_iter=30)).data[:, :3]
    across = 2 if tilt_axis == "y" else 1
    truth = atoms * 0.5
    truth[:, 0] -= 0.5 * 39 / 2  # z = 0 at the tilt axis
    truth[:, across] += 0.5 * 6.0  # the tilt axis 6 px right of the image centre: the object with it
    m = match_atoms(found / 0.5, truth / 0.5, max_distance=2.0)
    assert m["found_fraction"] > 0.95 and m["rms"] < 0.5
    offset = np.mean([found[i, across] - truth[j, across] for i, j in m["pairs"]])
    # the traced x sat 6 px (3 nm) off the zero-tilt image's positions: mean x 20.08 px for a truth of 26.1 px
    assert abs(offset) < 0.05


@pytest.mark.parametrize("method", ["fbp", "sirt", "tv"])
def test_a_series_with_the_detector_offset_left_in_is_flagged(method):
    import warnings

    ang = np.arange(-60, 61, 10.0)
    proj = project_volume(ellipsoid_phantom(16, seed=0), ang)
    kw = {} if method == "fbp" else {"n_iter": 2}
    # was silent: SIRT of it is all zeros
    with pytest.warns(UserWarning, match=r"100% of the tilt series' values are negative .* tomo.subtract_background"):
        reconstruct_tomogram(tilt_series(proj - 30000.0, ang), method=method, **kw)
    # a positive vacuum level (raw counts of a detector with a dark level) was silent: a haze in the volume
    with pytest.warns(UserWarning, match=r"no value of the tilt series is near zero .* tomo.subtract_background"):
        reconstruct_tomogram(tilt_series(proj + 0.5 * proj.max(), ang), method=method, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noisy = proj + np.random.default_rng(0).normal(0, 0.05, proj.shape)  # the vacuum's noise about zero
        reconstruct_tomogram(tilt_series(noisy, ang), method=method, **kw)


def test_the_raw_real_series_is_flagged(real_dir):
    from emscale.tomography import load_tilt_series

    s = load_tilt_series(real_dir / "tomography/HAADF.mrc", tilt_axis="x").rebin({"y": 8, "x": 8})
    with pytest.warns(UserWarning, match="values are negative .* the detector offset is still in the data"):
        reconstruct_tomogram(s, method="fbp")


def test_a_volume_thicker_than_the_detector_is_wide_is_said():
    """thickness=1000 on a 33-pixel detector gave a 1000 x 33 x 33 volume without a word: voxels that far along the
    beam are seen by the lowest tilts only (a thickness in nm taken for pixels, most likely)."""
    import warnings

    ang = np.arange(-60, 61, 15.0)
    ts = tilt_series(project_volume(ellipsoid_phantom(24, seed=0), ang), ang)
    with pytest.warns(UserWarning, match=r"thickness=1000 voxels is 41.7 x the 24 pixels .* across the tilt axis"):
        assert reconstruct_tomogram(ts, method="fbp", thickness=1000).data.shape == (1000, 24, 24)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="thickness=")
        reconstruct_tomogram(ts, method="fbp", thickness=24)


def test_fbp_density_on_a_limited_tilt_range_depends_on_the_shape_as_the_tutorial_says():
    """The tomography tutorial's figures of FBP's density at +-70 deg (2 deg steps, 64 voxels), summed over the
    object, as a share of the truth: 0.73-0.79 for compact objects (here: ellipsoids, a needle along the tilt
    axis), 0.33-0.43 for a plate lying across the beam, 0.89-0.91 for it edge-on. It had said 0.73-0.79 for any
    object."""
    n, angles = 64, np.arange(-70.0, 71.0, 2.0)
    z, y, x = np.meshgrid(*[np.arange(n) - (n - 1) / 2] * 3, indexing="ij")
    shapes = {"ellipsoids": ellipsoid_phantom(n, seed=0),
              "needle": ((z**2 + x**2) <= 8.0**2) & (np.abs(y) <= 0.4 * n),
              "plate across": (np.abs(z) <= 4.06) & (np.abs(x) <= 0.35 * n) & (np.abs(y) <= 0.35 * n),
              "plate edge-on": (np.abs(x) <= 4.06) & (np.abs(z) <= 0.35 * n) & (np.abs(y) <= 0.35 * n)}
    share = {}
    for name, truth in shapes.items():
        truth = np.asarray(truth, np.float32)
        vol = reconstruct_tomogram(tilt_series(project_volume(truth, angles), angles, pixel_size=1.0),
                                   method="fbp").to_numpy()
        share[name] = float(vol[truth > 0].sum() / truth[truth > 0].sum())
    assert share == pytest.approx({"ellipsoids": 0.772, "needle": 0.759, "plate across": 0.329,
                                   "plate edge-on": 0.906}, abs=0.002)
