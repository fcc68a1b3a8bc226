"""Spectral tomography: one NMF of all tilts, one volume per phase, against a 3-phase ground truth."""

import numpy as np
import pytest

from emscale import Signal
from emscale.core.errors import DataError
from emscale.tomography.phantoms import project_volume, spectral_phantom
from emscale.tomography.spectral import spectral_angles, spectral_tomogram
from emscale.tomography.tiltseries import tilt_axis_entry


def _series(n, n_channels, n_tilts, dose, seed):
    phases, spectra = spectral_phantom(n, n_channels, 3, seed=seed)
    angles = np.linspace(-70, 70, n_tilts)
    proj = np.stack([project_volume(p, angles) for p in phases], axis=-1)  # (tilt, y, x, phase)
    counts = np.random.default_rng(seed).poisson(dose * proj @ spectra).astype(np.float32)
    axes = [tilt_axis_entry(angles), {"name": "y", "navigate": True, "units": "nm"},
            {"name": "x", "navigate": True, "units": "nm"}, {"name": "Energy", "units": "keV", "scale": 0.1}]
    return Signal(counts, axes=axes, metadata={"Tomography": {"tilt_axis": "y"}}), phases, spectra


@pytest.mark.slow
def test_three_phases_recovered_as_volumes_and_spectra():
    s, phases, spectra = _series(32, 64, 30, dose=300.0, seed=0)
    assert s.data.sum(axis=-1)[s.data.sum(axis=-1) > 0].mean() > 100  # realistic counts per pixel
    st = spectral_tomogram(s, 3, n_iter=50)
    angles, idx = spectral_angles(st.factors, spectra)
    assert np.all(angles <= 3.0)
    assert st.volumes.shape == (3, 32, 32, 32)
    assert [a.name for a in st.volumes.axes] == ["component", "z", "y", "x"]
    for k in range(3):
        r = np.corrcoef(st.volumes.data[idx[k]].ravel(), phases[k].ravel())[0, 1]
        assert r >= 0.9


def test_spectral_angles_matches_permuted_spectra(rng):
    truth = rng.random((3, 20))
    found = truth[[2, 0, 1]] * [[2.0], [0.5], [3.0]]
    angles, idx = spectral_angles(found, truth)
    np.testing.assert_allclose(angles, 0.0, atol=1e-5)
    assert idx.tolist() == [1, 2, 0]


def test_spectral_tomography_needs_a_spectral_tilt_series():
    with pytest.raises(DataError, match="spectral tilt series"):
        spectral_tomogram(Signal(np.ones((3, 4, 5))), 2)
