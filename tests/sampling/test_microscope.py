"""The microscope protocol and the virtual microscope: values served, every measurement counted, bad positions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale import DataError, Signal
from emscale.sampling.microscope import Microscope, VirtualMicroscope, as_counts
from emscale.sampling.slads import psnr


def _si(ny=5, nx=7, ne=11, seed=3):
    rng = np.random.default_rng(seed)
    data = rng.poisson(20.0, size=(ny, nx, ne)).astype(np.uint16)
    axes = [{"name": "y", "scale": 2.0, "units": "nm", "navigate": True},
            {"name": "x", "scale": 2.0, "units": "nm", "navigate": True},
            {"name": "Energy", "scale": 0.01, "units": "keV"}]
    return Signal(data, axes=axes, signal_type="EDS_SEM")


def test_image_values_served_and_every_measurement_counted():
    img = np.arange(20.0).reshape(4, 5) ** 1.5
    scope = VirtualMicroscope(img, dose=3.0, dwell_time=2e-6)
    assert isinstance(scope, Microscope)
    assert scope.scan_shape == (4, 5) and scope.signal_axes == ()
    v = scope.measure([[0, 0], [3, 4], [1, 2], [3, 4]])
    np.testing.assert_array_equal(v, [img[0, 0], img[3, 4], img[1, 2], img[3, 4]])
    assert scope.n_measurements == 4
    assert scope.counts[3, 4] == 2 and scope.counts[0, 1] == 0
    assert scope.dose_spent == pytest.approx(12.0)
    assert scope.time_spent == pytest.approx(8e-6)
    scope.measure([[3, 4]])  # measuring again costs again
    assert scope.dose_spent == pytest.approx(15.0) and scope.counts[3, 4] == 3


def test_spectrum_image_returns_spectra_with_calibration():
    s = _si()
    scope = VirtualMicroscope(s)
    assert scope.scan_shape == (5, 7)
    assert [a.name for a in scope.scan_axes] == ["y", "x"] and scope.scan_axes[1].scale == 2.0
    assert scope.signal_axes[0].name == "Energy"
    spec = scope.measure(np.array([[4, 6], [0, 1]]))
    np.testing.assert_array_equal(spec, s.data[[4, 0], [6, 1]].astype(float))
    assert spec.shape == (2, 11)


def test_lazy_zarr_signal_serves_the_same_values(tmp_path):
    import emscale as em

    s = _si(ny=6, nx=9, ne=13, seed=8)
    s.save(tmp_path / "si.zarr")
    lazy = em.load(tmp_path / "si.zarr", lazy=True)
    assert lazy.is_lazy
    pos = np.array([[5, 8], [0, 0], [2, 3], [2, 3]])
    np.testing.assert_array_equal(VirtualMicroscope(lazy).measure(pos), VirtualMicroscope(s).measure(pos))


@pytest.mark.parametrize("bad", [[[5, 0]], [[0, -1]], [[0, 7]], [[-3, 2], [1, 1]]])
def test_positions_outside_the_scan_are_refused_and_not_counted(bad):
    scope = VirtualMicroscope(_si())
    with pytest.raises(ValueError, match="outside the 5x7 scan"):
        scope.measure(bad)
    assert scope.n_measurements == 0


def test_malformed_positions_are_refused():
    scope = VirtualMicroscope(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        scope.measure([[1, 2, 3]])
    with pytest.raises(ValueError, match="integer"):
        scope.measure([[0.5, 1.0]])


def test_poisson_noise_is_seeded_and_dose_scaled():
    img = np.full((2, 2), 4.0)
    a = VirtualMicroscope(img, noise_dose=25.0, seed=5).measure(np.zeros((4000, 2), dtype=int))
    b = VirtualMicroscope(img, noise_dose=25.0, seed=5).measure(np.zeros((4000, 2), dtype=int))
    np.testing.assert_array_equal(a, b)
    # Poisson(100) / 25: mean 4, variance 100 / 625 = 0.16
    assert abs(a.mean() - 4.0) < 4 * np.sqrt(0.16 / 4000)
    assert a.var() == pytest.approx(0.16, rel=0.1)
    assert not np.array_equal(a, VirtualMicroscope(img, noise_dose=25.0, seed=6).measure(np.zeros((4000, 2), int)))


def test_reset_restarts_counters_and_noise():
    scope = VirtualMicroscope(np.ones((3, 3)), noise_dose=2.0, seed=1)
    first = scope.measure([[1, 1]] * 10)
    scope.reset()
    assert scope.n_measurements == 0
    np.testing.assert_array_equal(scope.measure([[1, 1]] * 10), first)


def test_unscannable_signal_is_a_clear_error():
    line = Signal(np.zeros((4, 10)), axes=[{"name": "x", "navigate": True}, {"name": "E"}])
    with pytest.raises(DataError, match="2 navigation axes"):
        VirtualMicroscope(line)
    with pytest.raises(DataError, match="2-D image"):
        VirtualMicroscope(np.zeros(5))
    with pytest.raises(ValueError, match="noise_dose"):
        VirtualMicroscope(np.zeros((2, 2)), noise_dose=0)


def test_an_empty_request_measures_nothing():
    # was numpy's "cannot reshape array of size 0 into shape (0,newaxis)"
    scope = VirtualMicroscope(np.ones((3, 4)), noise_dose=2.0)
    assert scope.measure(np.zeros((0, 2), int)).shape == (0,) and scope.n_measurements == 0
    assert VirtualMicroscope(_si()).measure(np.zeros((0, 2), int)).shape == (0, 11)


@pytest.mark.parametrize("dose", [np.inf, float("nan"), -1.0, "10", True])
def test_a_dose_that_cannot_draw_counts_is_refused_up_front(dose):
    # noise_dose = inf was accepted and failed at the first measurement in numpy's "lam value too large"
    with pytest.raises(DataError, match=r"^noise_dose must be a positive, finite number \(counts per unit of the "
                                        rf"recorded value\) or None \(the recorded values\), got {dose!r}$"):
        VirtualMicroscope(np.ones((3, 4)), noise_dose=dose)
    with pytest.raises(DataError, match=r"^dose must be a finite number >= 0 \(electrons per measured position\), "
                                        r"got inf$"):
        VirtualMicroscope(np.ones((3, 4)), dose=np.inf)
    scope = VirtualMicroscope(np.ones((3, 4)), noise_dose=1e300)  # finite, but its counts beyond int64
    with pytest.raises(DataError, match=r"^noise_dose 1e\+300 makes Poisson means up to 1e\+300 counts, more than "
                                        r"the 1e\+18 a count can hold$"):
        scope.measure([[0, 0]])
    assert scope.n_measurements == 0


def test_complex_data_are_refused_before_any_measurement():
    """A complex image ran a whole scan, warning "Casting complex values" at every measurement (80 times)."""
    import warnings

    img = np.arange(12.0).reshape(3, 4) * (1 + 1j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"the recorded signal holds complex values \(complex128\).*np.abs"):
            VirtualMicroscope(img)


def test_values_below_zero_are_counts_above_the_dark_level():
    """A simulated dose clipped negative values to 0: a detector's dark level (the real HAADF series' vacuum at
    -31890) served 0 everywhere (review rev54, F3). Now the minimum is the dark level, said once."""
    img = -100.0 + np.array([[0.0, 10.0], [40.0, 200.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scope = VirtualMicroscope(img, noise_dose=1.0, seed=0)
    said = [str(w.message) for w in caught]
    assert len(said) == 1 and "75.0% of the recorded values are below 0 (down to -100)" in said[0]
    assert scope.count_offset == -100.0 and scope.offset_note in said[0]
    a = scope.measure(np.array([[1, 0]] * 4000))  # -60: 40 counts above the dark level
    assert abs(a.mean() + 60.0) < 4 * np.sqrt(40 / 4000)  # was 0.0 (clipped)
    assert a.var() == pytest.approx(40.0, rel=0.1)
    assert as_counts(a, scope.count_scale, scope.count_offset) is not None  # whole counts above it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert VirtualMicroscope(img + 100.0, noise_dose=1.0).count_offset == 0.0  # no negative value: no offset


def test_noise_dose_on_a_crop_of_the_real_haadf_series_draws_above_its_dark_level(real_dir):
    series = em.load(real_dir / "tomography" / "HAADF.mrc")
    crop = series.to_numpy()[38, 100:164, 100:164].astype(np.float64)  # a third of it vacuum, at -31891
    with pytest.warns(UserWarning, match=r"33.3% of the recorded values are below 0 \(down to -31891\)"):
        scope = VirtualMicroscope(crop, noise_dose=0.001, seed=0)
    served = scope.measure(np.stack(np.divmod(np.arange(crop.size), 64), axis=1)).reshape(crop.shape)
    # Poisson noise alone on the counts above the dark level: MSE = mean(value - dark) / dose
    expected = 10 * np.log10(np.ptp(crop) ** 2 / (np.mean(crop - crop.min()) / 0.001))
    assert psnr(crop, served) == pytest.approx(expected, abs=0.3)  # 20.3 dB; clipped at 0 it was 14.0
