"""In-plane rotation of the tilt axis: a known turn of the projections (2-5 degrees) recovered within 0.3 degree."""

import numpy as np
import pytest

from emscale.core.errors import DataError
from emscale.tomography import align_tilts, estimate_alignment, tilt_series
from emscale.tomography.alignment import shift_images
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
from emscale.tomography.rotation import axis_profiles, estimate_axis_rotation, rotate_images

ANGLES = np.arange(-70, 71, 3.0)


def _rotated(seed, tilt_axis, phi):
    vol = np.pad(ellipsoid_phantom(36, seed=seed), ((0, 0), (12, 12), (12, 12)))
    flat = project_volume(vol, ANGLES, tilt_axis)
    return flat, rotate_images(flat, -phi, tilt_axis)  # the axis turned by +phi in the images


@pytest.mark.parametrize("seed, tilt_axis, phi", [(1, "y", 3.0), (2, "x", -4.2), (4, "x", 2.5)])
def test_known_rotation_recovered_within_0_3_degree(seed, tilt_axis, phi):
    flat, turned = _rotated(seed, tilt_axis, phi)
    assert estimate_axis_rotation(turned, tilt_axis) == pytest.approx(phi, abs=0.3)
    assert abs(estimate_axis_rotation(flat, tilt_axis)) < 0.2


def test_profiles_along_the_true_axis_agree_across_tilts():
    flat, turned = _rotated(3, "y", 4.0)
    spread = [np.std(axis_profiles(turned, p, "y"), axis=0).sum() for p in (0.0, 4.0)]
    assert spread[1] < spread[0] / 3


def test_alignment_reports_and_undoes_the_rotation():
    _, turned = _rotated(5, "y", 3.5)
    shifts = np.random.default_rng(5).uniform(-3, 3, (ANGLES.size, 2))
    s = tilt_series(shift_images(turned, shifts), ANGLES, tilt_axis="y")
    al = estimate_alignment(s, rotation=True)
    assert al.rotation == pytest.approx(3.5, abs=0.3)
    assert estimate_alignment(s).rotation == 0.0  # not estimated unless asked
    out = align_tilts(s, rotation=True)
    assert out.metadata["Tomography"]["alignment"]["rotation"] == pytest.approx(al.rotation)
    assert abs(estimate_axis_rotation(out.data, "y")) < 0.3  # the aligned series' axis is the image axis


def test_no_interior_minimum_is_an_error_not_a_guess():
    _, turned = _rotated(6, "y", 4.0)
    with pytest.raises(DataError, match="edge of the search range"):
        estimate_axis_rotation(turned, "y", search=2.0)  # the true 4 degrees lie outside +-2
