"""align_spectra: spectra aligned to the map's mean by cross-correlation; the drift's extra components go."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.spectroscopy.align import align_spectra

SCALE = 0.01  # keV per channel


def _drifted_map(counts: float, drift: float, seed: int = 0, shape=(40, 40), p: int = 512):
    """Two phases mixed along x (A: lines at channels 220 and 300, B: 240 and 400) sharing a weak peak at 100,
    every spectrum shifted by ``drift * y / (ny - 1)`` channels (a drift growing along the scan). Returns the
    Signal and the true shifts (channels, per row)."""
    ch = np.arange(p, dtype=np.float64)

    def g(c, w):
        return np.exp(-0.5 * ((ch - c) / w) ** 2)

    a = 0.3 * g(100, 3) + g(220, 3) + 0.5 * g(300, 4) + 0.05
    b = 0.3 * g(100, 3) + g(240, 3) + 0.7 * g(400, 4) + 0.05
    ny, nx = shape
    fa = np.clip(np.linspace(0, 1, nx)[None, :] + 0.3 * np.sin(np.arange(ny) / 5)[:, None], 0, 1)
    true = drift * np.arange(ny) / (ny - 1)
    expected = np.empty((ny, nx, p))
    for i in range(ny):
        for j in range(nx):
            spec = fa[i, j] * a + (1 - fa[i, j]) * b
            expected[i, j] = np.interp(ch - true[i], ch, spec / spec.sum() * counts)
    data = np.random.default_rng(seed).poisson(expected).astype(np.uint16)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy", "scale": SCALE, "units": "keV"}]
    return em.Signal(data, axes=axes, signal_type="EDS_TEM"), true


def _rms(shifts, true) -> float:
    est = shifts.to_numpy() / SCALE
    err = (est - np.median(est)) - (true - np.median(true))[:, None]
    return float(np.sqrt(np.mean(err**2)))


def _rank(s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = em.decompose(s, "pca", n_components="auto")
    return r.info["rank_estimate"], r.info["energy_shift_share"]


def test_a_drift_is_measured_and_its_components_go():
    s, true = _drifted_map(2000.0, 3.0)
    aligned, shifts, others = align_spectra(s)
    assert _rms(shifts, true) < 0.3 and others == []
    assert shifts.shape == s.data.shape[:-1] and "keV" in shifts.metadata["Signal"]["quantity"]
    assert abs(float(np.median(shifts.to_numpy()))) < 1e-12  # relative to the median: the typical one stays
    rank, share = _rank(s)
    assert rank > 2 and share > 0.7  # the drift's derivative components, said by decompose
    rank, share = _rank(aligned)
    assert rank == 2 and share < 0.1
    assert aligned.axes[-1].size < s.axes[-1].size  # crop=True: the channels every shifted spectrum covers


def test_smoothing_the_shift_map_keeps_noise_out():
    """At 100 counts a spectrum each shift carries its noise (about 1 channel rms); a drift follows the scan, and the
    smoothed map is within 0.2 channel."""
    s, true = _drifted_map(100.0, 3.0, seed=3)
    _, raw, _ = align_spectra(s)
    aligned, smooth, _ = align_spectra(s, smooth=4)
    assert _rms(smooth, true) < 0.2 < 0.5 < _rms(raw, true)
    assert _rank(aligned)[0] == 2


def test_featureless_or_too_sparse_spectra_are_not_moved():
    """Flat noise (as the Velox example's EELS maps): each spectrum's best lag was noise, up to 100 channels."""
    data = np.random.default_rng(4).poisson(100.0, size=(16, 20, 512)).astype(np.uint16)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy loss", "scale": 0.17, "offset": -21.5, "units": "eV"}]
    with pytest.raises(em.DataError, match=r"of 320 spectra .* better than noise would.*nothing aligned"):
        align_spectra(em.Signal(data, axes=axes, signal_type="EELS"))


def test_an_undrifted_map_is_left_as_it_is():
    s, _ = _drifted_map(2000.0, 0.0, seed=2)
    aligned, shifts, _ = align_spectra(s)
    assert np.abs(shifts.to_numpy()).max() / SCALE < 0.6
    assert _rank(aligned)[0] == 2


def test_recorded_and_replayed(tmp_path):
    s, _ = _drifted_map(500.0, 2.0, shape=(12, 10), p=256)
    s.save(tmp_path / "m.zarr")
    loaded = em.load(tmp_path / "m.zarr")
    aligned = align_spectra(loaded, max_shift=0.2).signal
    assert aligned.history[-1]["op"] == "align_spectra" and aligned.history[-1]["params"]["max_shift"] == 0.2
    np.testing.assert_array_equal(em.replay(aligned.history).data, aligned.data)
    lazy = align_spectra(em.load(tmp_path / "m.zarr", lazy=True), max_shift=0.2).signal
    np.testing.assert_array_equal(np.asarray(lazy.data), aligned.data)


def test_bad_input_is_named():
    s, _ = _drifted_map(200.0, 0.0, shape=(6, 5), p=128)
    with pytest.raises(em.DataError, match="single spectrum"):
        align_spectra(s.inav[0, 0])
    with pytest.raises(em.AxisError, match="holds 2 channel"):
        align_spectra(s, signal_range=(0.5, 0.52))
    with pytest.raises(em.AxisError, match="outside"):
        align_spectra(s, signal_range=(5.0, 6.0))
    with pytest.raises(em.DataError, match=r"max_shift must be a finite number > 0 \(keV"):
        align_spectra(s, max_shift=-1)
    with pytest.raises(em.DataError, match=r"smooth must be a finite number > 0 \(pixels"):
        align_spectra(s, smooth=0)
    with pytest.raises(em.DataError, match="max_shift must be a finite number > 0"):
        align_spectra(s, max_shift=True)
    # a NumPy number is a number (the hand-written check before refused np.float32)
    assert align_spectra(s, max_shift=np.float32(0.05), smooth=np.float32(1.0)).shifts.shape == s.data.shape[:-1]
    with pytest.raises(em.DataError, match="interpolation must be"):
        align_spectra(s, interpolation="cubic")
    flat = em.Signal(np.ones((3, 4, 64)), axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                                               {"name": "E"}])
    with pytest.raises(em.DataError, match="0 of 12 spectra"):
        align_spectra(flat)
    with pytest.raises(em.DataError, match="single spectrum"):
        align_spectra(s.inav[0:1, 0:1])


def test_a_shifted_shape_is_measured_on_a_steep_background():
    """A plain cross-correlation put the shift of a power law with an edge at 0 whatever it was (review)."""
    e = 250 + 0.5 * np.arange(1024)
    ch = np.arange(1024.0)
    spec = (e / 250) ** -3 + 0.05 / (1 + np.exp(-(e - 284))) * (284 / e) ** 2.5
    true = np.linspace(0, 3, 8)
    data = np.stack([np.interp(ch - k, ch, spec) for k in true]) * 1e4
    t = em.Signal(data, axes=[{"name": "x", "navigate": True},
                              {"name": "Energy loss", "scale": 0.5, "offset": 250.0, "units": "eV"}])
    for window in (None, (270.0, 320.0)):
        found = align_spectra(t, signal_range=window).shifts.to_numpy() / 0.5
        np.testing.assert_allclose(found, true - np.median(true), atol=0.02)


def test_a_shift_of_max_shift_is_found_and_also_align_follows_in_its_own_units():
    ch = np.arange(128.0)
    base = np.exp(-0.5 * ((ch - 64) / 3) ** 2) + 0.1
    data = np.stack([np.interp(ch - k, ch, base) for k in (-2.0, 0.0, 2.0)]) * 1000
    axes = [{"name": "x", "navigate": True}, {"name": "Energy", "scale": 0.01, "units": "keV"}]
    s = em.Signal(data, axes=axes)
    in_ev = em.Signal(data.copy(), axes=[axes[0], {"name": "Energy", "scale": 10.0, "units": "eV"}])
    out = align_spectra(s, max_shift=0.02, also_align=[in_ev], crop=False)  # exactly 2 channels
    np.testing.assert_allclose(out.shifts.to_numpy() / 0.01, [-2.0, 0.0, 2.0], atol=0.05)
    np.testing.assert_allclose(out.also_aligned[0].data, out.signal.data, equal_nan=True)  # 10 eV = 0.01 keV
    with pytest.raises(em.DataError, match="each item must be a Signal"):
        align_spectra(s, also_align=[data])
    other = em.Signal(data, axes=[axes[0], {"name": "Wavelength", "scale": 1.0, "units": "nm"}])
    with pytest.raises(em.DataError, match="cannot be carried"):
        align_spectra(s, also_align=[other])


def test_sparse_counts_are_not_measured():
    """At 5-30 counts a spectrum over 2048 channels, a count on one of the mean's lines matched anywhere: undrifted
    spectra were moved to the edge of the search (100-200 channels)."""
    from groundtruth import make_cube

    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=2048, counts=10.0, seed=10)
    with pytest.raises(em.DataError, match=r"of 1024 spectra .* better than noise would.*bin the map"):
        align_spectra(s)


def test_a_spectrum_with_a_nan_in_the_range_is_said_to_be_one():
    # read as zero, a NaN moved the match, and the warning blamed noise (a review)
    s, _ = _drifted_map(2000.0, 3.0, shape=(8, 8))
    data = s.data.astype(np.float32)
    data[2, 3, 250] = np.nan
    bad = em.Signal(data, axes=s.axes, signal_type="EDS_TEM")
    with pytest.warns(UserWarning, match=r"of 64 spectra, 1 hold NaN or inf inside signal_range; they are left "):
        _, shifts, _ = align_spectra(bad)
    assert shifts.to_numpy()[2, 3] == 0.0
