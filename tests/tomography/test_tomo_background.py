"""Vacuum background and per-tilt scaling: a known detector offset and beam drift removed; the real int16 series."""

import numpy as np
import pytest

from emscale.core.errors import DataError
from emscale.tomography import (
    align_tilts,
    angles_of,
    axis_shift_of,
    load_tilt_series,
    reconstruct_slices,
    reconstruct_tomogram,
    subtract_background,
    tilt_series,
)
from emscale.tomography.background import background_levels
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
from emscale.tomography.tiltseries import slice_first

ANGLES = np.arange(-60, 61, 4.0)


def _offset_series(seed, sigma=0.0):
    """Projections of a phantom (vacuum around it) + a known per-tilt offset and beam-current drift + noise."""
    rng = np.random.default_rng(seed)
    vol = np.pad(ellipsoid_phantom(32, seed=seed), ((0, 0), (10, 10), (10, 10)))
    clean = project_volume(vol, ANGLES, "y").astype(np.float64)
    offset = rng.uniform(-32000, -31000) + rng.normal(0, 5, ANGLES.size)
    drift = 1 + 0.08 * np.linspace(-1, 1, ANGLES.size) + rng.normal(0, 0.02, ANGLES.size)
    data = clean * drift[:, None, None] + offset[:, None, None] + rng.normal(0, sigma, clean.shape)
    return tilt_series(data, ANGLES), clean, offset, drift


@pytest.mark.parametrize("seed, method", [(1, "border"), (2, "percentile"), (3, "border")])
def test_known_offset_removed(seed, method):
    s, clean, offset, drift = _offset_series(seed)
    out = subtract_background(s, method=method)
    bg = out.metadata["Tomography"]["background"]
    np.testing.assert_allclose(bg["levels"], offset, atol=0.05)  # float32 storage of -3e4 values: ~2e-3 steps
    np.testing.assert_allclose(out.data, clean * drift[:, None, None], atol=0.05 + 1e-5 * clean.max())
    assert bg["scales"] == [1.0] * ANGLES.size and out.data.min() >= 0
    assert [e["op"] for e in out.history][-1] == "subtract_background"


def test_the_border_a_default_ran_with_is_in_the_metadata():
    """border=None is 1/16 of the image side: the record said only "border"; it says the width now."""
    s, *_ = _offset_series(1)  # images 52 px a side
    assert subtract_background(s).metadata["Tomography"]["background"]["border"] == 3
    assert subtract_background(s, border=5).metadata["Tomography"]["background"]["border"] == 5
    assert "border" not in subtract_background(s, method="percentile").metadata["Tomography"]["background"]


def test_drift_normalised_to_equal_totals():
    s, clean, offset, drift = _offset_series(4)
    out = subtract_background(s, normalize=True)
    totals = out.data.sum(axis=(1, 2), dtype=np.float64)
    assert np.std(totals) / np.mean(totals) < 1e-5
    # the scales undo the drift up to one common factor (the mean total is kept, not the unknown true dose)
    scales = np.asarray(out.metadata["Tomography"]["background"]["scales"])
    ratio = scales * drift
    assert np.std(ratio) / np.mean(ratio) < 1e-3
    np.testing.assert_allclose(out.data, clean * ratio.mean(), atol=2e-3 * clean.max())


def test_noisy_vacuum_level_within_a_tenth_of_the_noise():
    s, _, offset, _ = _offset_series(5, sigma=20.0)
    border = background_levels(s.data, "border", border=6)
    assert np.abs(border - offset).max() < 0.2 * 20  # median of ~1000 frame pixels: error ~ 1.25 sigma / 32
    low = background_levels(s.data, "percentile", percentile=1.0)
    assert np.all(low < offset)  # the documented bias: the 1st percentile sits ~2 sigma below the vacuum level


@pytest.mark.parametrize("kwargs, match", [({"method": "mode"}, "method 'mode'"), ({"border": 0}, "border 0"),
                                           ({"border": 40}, "border 40"),
                                           ({"method": "percentile", "percentile": 80}, "percentile 80")])
def test_bad_parameters_are_named(kwargs, match):
    s, *_ = _offset_series(6)
    with pytest.raises(DataError, match=match):
        subtract_background(s, **kwargs)


def test_all_vacuum_projection_cannot_be_normalised():
    d = np.ones((3, 16, 16))
    d[0, 6:10, 6:10] = 5
    d[2, 6:10, 6:10] = 5
    with pytest.raises(DataError, match=r"tilt index \[1\]"):
        subtract_background(tilt_series(d, [-10, 0, 10]), normalize=True)


@pytest.fixture(scope="module")
def real_binned(real_dir):
    s = load_tilt_series(real_dir / "tomography/HAADF.mrc", tilt_axis="x")
    d = s.data.reshape(77, 128, 2, 128, 2).mean(axis=(2, 4))  # 2x binned: the tests stay fast
    return tilt_series(d, angles_of(s), pixel_size=6.72, tilt_axis="x")


def test_real_series_vacuum_level_and_drift(real_binned):
    out = subtract_background(real_binned, normalize=True)
    bg = out.metadata["Tomography"]["background"]
    levels = np.asarray(bg["levels"])
    assert np.all((levels > -31900) & (levels < -31860))  # the int16 detector offset of the ETSpy series
    assert np.ptp(levels) < 30  # one offset drifting by ~20 counts over the series (of a 60 000 count range)
    scales = np.asarray(bg["scales"])
    assert 0.03 < np.ptp(scales) < 0.2  # a real ~5 % drift of the projection totals, corrected
    frame = np.ones((128, 128), bool)
    frame[8:-8, 8:-8] = False
    vac = out.data[:, frame]
    assert np.median(vac) < 5 and np.median(out.data[:, 50:78, 50:78]) > 1000  # vacuum ~0, needle bright


def _sirt_of_middle_slices(s):
    aligned = align_tilts(s, com=False)
    sino = slice_first(np.asarray(aligned.data), "x")[56:64]  # 8 slices across the striped part of the needle
    rec = reconstruct_slices(sino, angles_of(aligned), method="sirt", n_iter=60,
                             axis_shift=axis_shift_of(aligned))
    return rec, sino


@pytest.mark.slow
def test_real_series_sirt_cross_section_is_a_compact_disc(real_binned):
    rec, sino = _sirt_of_middle_slices(subtract_background(real_binned, normalize=True))
    # a compact cross-section: the needle's disc holds the mass, the rest of the slice is near zero
    mid = rec[4]
    inside = mid > 0.25 * mid.max()
    assert 0.05 < inside.mean() < 0.35
    assert mid[~inside].sum() < 0.15 * mid.sum()


@pytest.mark.slow
def test_real_series_orthoslices_figure(real_binned, tmp_path):
    """The whole pipeline on the (binned) real series, orthogonal slices drawn (an artefact to look at)."""
    from emscale.tomography import orthoslices_figure, reconstruct_tomogram

    vol = reconstruct_tomogram(align_tilts(subtract_background(real_binned, normalize=True), com=False),
                               method="sirt", n_iter=100)
    v = np.asarray(vol.data)
    # the needle (along x) is a solid of revolution: its cross-sections are discs about one line
    mid = v[:, :, 64]
    assert (mid > 0.25 * mid.max()).mean() > 0.03 and v[:, :, 120].max() < 0.1 * v.max()  # beyond the tip: empty
    fig = orthoslices_figure(vol)
    fig.savefig(tmp_path / "real_orthoslices.png")
    assert (tmp_path / "real_orthoslices.png").stat().st_size > 10_000


def test_unclipped_vacuum_noise_averages_to_zero_and_sirt_keeps_the_mass():
    # clipped, the vacuum noise is rectified into a pedestal of about 0.4 sigma that SIRT takes as density
    rng = np.random.default_rng(4)
    vol = np.pad(ellipsoid_phantom(32, seed=4), ((0, 0), (8, 8), (8, 8)))
    clean = project_volume(vol, ANGLES, "y").astype(np.float64)
    sigma = 0.05 * clean.max()
    s = tilt_series(clean + 500.0 + rng.normal(0, sigma, clean.shape), ANGLES)
    vacuum = clean < 1e-6
    clipped, kept = subtract_background(s), subtract_background(s, clip=False)
    assert clipped.metadata["Tomography"]["background"]["clip"] is True
    assert kept.metadata["Tomography"]["background"]["clip"] is False
    assert np.asarray(clipped.data)[vacuum].mean() == pytest.approx(0.4 * sigma, rel=0.15)
    assert abs(np.asarray(kept.data)[vacuum].mean()) < 0.05 * sigma
    mass = {name: float(np.asarray(reconstruct_tomogram(b, method="sirt", n_iter=30).data).sum())
            for name, b in (("clean", tilt_series(clean, ANGLES)), ("clipped", clipped), ("kept", kept))}
    # SIRT's own non-negativity rectifies the volume's noise too: the excess mass is less than halved, not gone
    # (1.31 -> 1.13 of the noise-free data's SIRT)
    assert 0 < mass["kept"] - mass["clean"] < 0.5 * (mass["clipped"] - mass["clean"])
