"""EELS tools: zero-loss alignment, log-ratio thickness, edge onsets and edge maps (synthetic, real data)."""

from __future__ import annotations

import logging
import warnings
from math import factorial

import numpy as np
import pytest

import emscale
from emscale import DataError, Signal
from emscale.core.registry import _OPERATIONS as _REPLAYABLE
from emscale.spectroscopy import eels

SCALE = 0.1  # eV per channel
OFFSET = -10.0


def _axes(scale=SCALE, offset=OFFSET, name="Energy loss"):
    return [
        {"name": "y", "navigate": True},
        {"name": "x", "navigate": True},
        {"name": name, "scale": scale, "offset": offset, "units": "eV"},
    ]


def low_loss(rng, shape=(10, 12), n=2048, t=None, shifts=None, counts=1e6, zlp="gauss", noise=True):
    """Low-loss cube: ZLP at ``shifts`` (eV) + Poisson plasmon series, I_k ∝ (t/λ)^k / k! (k-fold plasmon)."""
    e = OFFSET + SCALE * np.arange(n)
    t = rng.uniform(0.2, 1.5, shape) if t is None else t
    shifts = rng.uniform(-1.5, 1.5, shape) if shifts is None else shifts
    x = e - shifts[..., None]
    data = np.zeros(shape + (n,))
    for k in range(13):
        w = np.exp(-t) * t**k / factorial(k)
        if k == 0 and zlp == "lorentz":
            prof = 1.0 / (1.0 + (x / 0.5) ** 2)
        else:
            sig = np.sqrt(0.42**2 + k * 2.0**2)  # ZLP FWHM ~1 eV; plasmon at 15 eV, 2 eV wide per order
            prof = np.exp(-0.5 * ((x - 15.0 * k) / sig) ** 2)
        prof = prof / prof.sum(axis=-1, keepdims=True)
        data += counts * w[..., None] * prof
    if noise:
        data = rng.poisson(data)
    return Signal(data.astype(np.float32), axes=_axes(), signal_type="EELS"), t, shifts


# -- zero-loss alignment -------------------------------------------------------------------------------------
@pytest.mark.parametrize("zlp", ["gauss", "lorentz"])
def test_zlp_position_recovers_random_shifts(rng, zlp):
    s, _, shifts = low_loss(rng, zlp=zlp)
    pos = eels.estimate_zero_loss_position(s)
    err = np.abs(pos - shifts) / SCALE
    assert pos.shape == (10, 12)
    assert err.max() < 0.1, f"max ZLP position error {err.max():.3f} channel"


def test_a_nan_channel_away_from_the_zero_loss_peak_does_not_hide_it(rng):
    """np.argmax took a NaN 15 eV above the ZLP for the maximum: the position was NaN and align_zero_loss said the
    spectrum had no distinct zero-loss peak. A NaN beside the peak is left out of the sub-channel fit."""
    s, _, shifts = low_loss(rng, shape=(2, 3))
    clean = eels.estimate_zero_loss_position(s)
    data = np.array(s.data)
    ax = s.axes[-1]
    data[0, 0, ax.value_to_index(shifts[0, 0] + 15.0)] = np.nan
    data[0, 1, ax.value_to_index(shifts[0, 1]) + 2] = np.nan  # inside the peak's fit window
    nan_signal = Signal(data, axes=s.axes, signal_type="EELS")
    pos = eels.estimate_zero_loss_position(nan_signal)
    assert pos[0, 0] == clean[0, 0]
    assert abs(pos[0, 1] - clean[0, 1]) < 0.01 and np.abs(pos - shifts).max() < 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every spectrum has its peak
        res = eels.align_zero_loss(nan_signal)
    assert np.all(res.shifts.data != 0.0)
    assert np.isfinite(eels.elastic_threshold(nan_signal).data).all()


def test_align_zero_loss_aligns_and_calibrates(rng):
    s, _, shifts = low_loss(rng)
    res = eels.align_zero_loss(s)
    aligned, shift_map, others = res
    assert others == []
    # shifts = position - median position, recovered to < 0.1 channel
    expected = shifts - np.median(shifts)
    assert np.abs(shift_map.data - expected).max() / SCALE < 0.1
    # every ZLP now sits at 0 eV (calibrate=True), within 0.1 channel
    after = eels.estimate_zero_loss_position(aligned)
    assert np.abs(after).max() / SCALE < 0.1
    # crop=True: no NaN, the axis lost at most the total shift range
    assert np.isfinite(aligned.data).all()
    span = (shifts.max() - shifts.min()) / SCALE
    assert s.shape[-1] - span - 2 <= aligned.shape[-1] <= s.shape[-1]
    assert aligned.axes[-1].scale == pytest.approx(SCALE)
    # counts are (nearly) preserved by linear interpolation away from the cropped ends
    assert aligned.data.sum() == pytest.approx(s.data.sum(), rel=2e-3)
    assert aligned.history[-1]["op"] == "align_zero_loss"
    assert "align_zero_loss" in _REPLAYABLE and "shift_spectra" in _REPLAYABLE


def test_align_fourier_and_target_zero_noise_free(rng):
    s, _, shifts = low_loss(rng, noise=False)
    for interp, tol in (("fourier", 1e-3), ("linear", 0.02)):
        aligned = eels.align_zero_loss(s, target="zero", interpolation=interp, calibrate=False).signal
        after = eels.estimate_zero_loss_position(aligned)
        assert np.abs(after).max() / SCALE < tol, interp
    # crop=False keeps the axis and marks the channels shifted in from outside with NaN
    kept = eels.align_zero_loss(s, crop=False).signal
    assert kept.shape == s.shape and np.isnan(kept.data).any()


def test_align_also_aligns_core_loss(rng):
    s, _, shifts = low_loss(rng, shape=(6, 5), n=512)
    # a core-loss SI recorded with the same drift: a sharp feature at 500 eV moves with the ZLP
    e = 450.0 + 0.25 * np.arange(400)
    core = 1e4 * np.exp(-0.5 * ((e - 500.0 - shifts[..., None]) / 0.6) ** 2) + 100.0
    cs = Signal(core.astype(np.float32), axes=_axes(0.25, 450.0), signal_type="EELS")
    res = eels.align_zero_loss(s, also_align=[cs])
    (core_aligned,) = res.also_aligned
    pos = eels.estimate_zero_loss_position(core_aligned, signal_range=(480.0, 520.0))
    # all features land together, at 500 eV minus the (median) ZLP offset removed by the calibration
    assert np.ptp(pos) < 0.1 * 0.25
    assert pos.mean() == pytest.approx(500.0, abs=0.05)
    assert core_aligned.history[-1]["op"] == "shift_spectra"
    # the same core loss on a keV axis: the eV shifts and offset were taken as keV ("nothing is left after
    # cropping"; with crop=False half the values NaN)
    in_kev = Signal(core.astype(np.float32), axes=_axes(0.25, 450.0), signal_type="EELS").calibrate(
        -1, scale=0.25e-3, offset=0.45, units="keV")
    (kev,) = eels.align_zero_loss(s, also_align=[in_kev]).also_aligned
    np.testing.assert_allclose(kev.data, core_aligned.data)
    assert kev.axes[-1].offset == pytest.approx(core_aligned.axes[-1].offset / 1000)
    with pytest.raises(DataError, match="also_align: each item must be a Signal"):
        eels.align_zero_loss(s, also_align=[core])


def test_shift_spectra_round_trip(rng):
    s, _, _ = low_loss(rng, shape=(4, 3), n=256, noise=False)
    d = rng.uniform(-0.7, 0.7, (4, 3))
    there = eels.shift_spectra(s, d, interpolation="fourier", crop=False)
    back = eels.shift_spectra(there, -d, interpolation="fourier", crop=False)
    assert np.isnan(there.data).any() and np.isnan(back.data).any()  # crop=False marks missing channels
    mid = slice(20, 200)  # Fourier shifts ring near a truncated spectrum end
    np.testing.assert_allclose(back.data[..., mid], s.data[..., mid], rtol=0, atol=1e-3 * s.data.max())
    lin = eels.shift_spectra(eels.shift_spectra(s, d, crop=False), -d, crop=False)
    np.testing.assert_allclose(lin.data[..., mid], s.data[..., mid], rtol=0, atol=0.05 * s.data.max())


# -- thickness -------------------------------------------------------------------------------------------
def test_thickness_known_t_over_lambda(rng):
    s, t, _ = low_loss(rng, noise=False)
    tl = eels.thickness(s)
    assert tl.shape == t.shape and tl.nav_ndim == 0
    assert np.abs(tl.data - t).max() < 0.005
    assert tl.history[-1]["op"] == "thickness"
    # thresholds: the first minimum after each ZLP, between the ZLP (σ 0.42 eV) and the 15 eV plasmon
    thr = eels.elastic_threshold(s).data
    assert np.all((thr > 1.0) & (thr < 6.0))
    # with Poisson noise (1e6 counts per spectrum)
    noisy, t2, _ = low_loss(rng)
    assert np.abs(eels.thickness(noisy).data - t2).max() < 0.02


def test_thickness_window_forms(rng):
    s, t, _ = low_loss(rng, shifts=np.zeros((10, 12)), noise=False)
    a = eels.thickness(s, zlp_window=3.0).data  # threshold energy (exspy's float threshold)
    b = eels.thickness(s, zlp_window=(-3.0, 3.0)).data  # fixed window
    c = eels.thickness(s, zlp_window=np.full((10, 12), 3.0)).data  # threshold map
    for x in (a, b, c):
        assert np.abs(x - t).max() < 0.005
    np.testing.assert_allclose(a, c)


def test_a_smoothing_window_of_no_channels_or_a_negative_order_is_refused_by_name(rng):
    # window_length 0 and -3 ran unsmoothed, as 1 does, said nowhere; polyorder -1 failed in the pass with numpy's
    # "expected deg >= 0"
    s, _, _ = low_loss(rng, shape=(2, 3), noise=False)
    read = []
    for op in (eels.elastic_threshold, eels.thickness):
        for bad in (0, -3, 2.5):
            with pytest.raises(DataError, match=r"^window_length must be a whole number >= 1 \(channels of the "
                               rf"Savitzky-Golay smoothing; 1: unsmoothed\), got {bad}$"):
                op(s, window_length=bad, progress=lambda *a: read.append(a))
        with pytest.raises(DataError, match=r"^polyorder must be a whole number >= 0 .* got -1$"):
            op(s, polyorder=-1, progress=lambda *a: read.append(a))
    assert read == []  # refused before any pass
    # a window of one channel is no smoothing, as before: the same numbers as a window no longer than polyorder
    np.testing.assert_array_equal(eels.thickness(s, window_length=1).data, eels.thickness(s, polyorder=5).data)
    # a fixed window never smooths: any value ran there, and still does (a history holding one replays)
    fixed = eels.thickness(s, zlp_window=(-3.0, 3.0)).data
    np.testing.assert_array_equal(eels.thickness(s, zlp_window=(-3.0, 3.0), window_length=0, polyorder=-1).data,
                                  fixed)


@pytest.mark.peer
def test_thickness_matches_exspy(rng):
    exspy = pytest.importorskip("exspy")
    s, _, _ = low_loss(rng, shape=(4, 5), shifts=np.zeros((4, 5)))
    hs_s = exspy.signals.EELSSpectrum(np.asarray(s.data))
    ax = hs_s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units = SCALE, OFFSET, "eV"
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            thr = hs_s.estimate_elastic_scattering_threshold(window=10)
            theirs_auto = np.asarray(hs_s.estimate_thickness(threshold=thr).data)
            theirs_fixed = np.asarray(hs_s.estimate_thickness(threshold=3.0).data)
    finally:
        logging.disable(logging.NOTSET)
    ours_auto = eels.thickness(s).data
    np.testing.assert_allclose(eels.thickness(s, zlp_window=3.0).data, theirs_fixed, rtol=1e-6)
    # the two thresholds differ by a few channels in the ZLP/plasmon gap, which holds almost no counts
    np.testing.assert_allclose(ours_auto, theirs_auto, atol=1e-3)


# -- edges -----------------------------------------------------------------------------------------------
def test_edge_onsets_from_xraydb():
    assert eels.edge_onset("Si_L3") == pytest.approx(99.8, abs=1.0)  # xraydb: L3 99.2, L2 99.8
    # the light elements' K edges are EELS onsets: xraydb's are the free atom's, 9-12 eV above where the edge rises
    # in a solid (the real EELS_SI.dm4's O K at 526-530 eV; the viewer's marker stood at 543.1)
    assert [eels.edge_onset(f"{el}_K") for el in "NOF"] == [401.0, 532.0, 685.0]
    assert eels.edge_onset("O_K", table="xraydb") == pytest.approx(543.1, abs=0.1)
    with pytest.raises(ValueError, match="unknown edge table 'exspy'"):
        eels.edges("O", table="exspy")
    assert eels.edge_onset("Fe_L3") == pytest.approx(707.0, abs=1.5)
    assert eels.edge_onset(("Fe", "L2,3")) == eels.edge_onset("Fe L23") == eels.edge_onset("Fe_L3")
    fe = eels.edges("Fe")
    assert all(isinstance(e, tuple) and len(e) == 3 for e in fe)
    names = [e.edge for e in fe]
    assert {"K", "L1", "L2", "L3"} <= set(names)
    assert all(e.onset >= eels.MIN_EDGE_ENERGY for e in fe)  # xraydb's 2 eV placeholders dropped
    assert "L2,3" in [e.edge for e in eels.edges("Fe", combine=True)]
    found = eels.edge_onsets(["O", "Fe", "Co"], energy_range=(480, 826))
    expected = [("O", "K"), ("Fe", "L3"), ("Fe", "L2"), ("Co", "L3"), ("Co", "L2")]
    assert [(e.element, e.edge) for e in found] == expected
    assert [e.onset for e in found] == sorted(e.onset for e in found)
    with pytest.raises(ValueError):
        eels.edge_onset("Xx_K")
    with pytest.raises(ValueError):
        eels.edge_onset("O_M5")


def _core_loss(rng, noise=False):
    e = 500.0 + 0.5 * np.arange(1024)
    a = rng.uniform(0.5, 2.0, (8, 9)) * 1e3 * 600.0**3
    amp = rng.uniform(0.0, 1.0, (8, 9)) * 200.0
    from scipy.special import erf

    edge = 0.5 * (1 + erf((e - 708.0) / 1.0)) * (e / 708.0) ** -3
    data = a[..., None] * e**-3.0 * 0.5 + amp[..., None] * edge
    if noise:
        data = rng.poisson(data)
    return Signal(data.astype(np.float32), axes=_axes(0.5, 500.0), signal_type="EELS"), amp, edge, e


def test_edge_map_recovers_edge_intensity(rng):
    pytest.importorskip("emscale.spectroscopy.background", reason="remove_background is not available yet")
    s, amp, edge, e = _core_loss(rng)
    m = eels.edge_map(s, "Fe_L3")
    info = m.metadata["EELS"]["edge_map"]
    lo, hi = info["integration_window"]
    sel = (e >= lo - 1e-9) & (e < hi - 1e-9)
    true = amp * edge[sel].sum()
    assert m.shape == amp.shape and np.isfinite(m.data).all()
    assert np.abs(m.data - true).max() < 0.02 * true.mean()
    assert np.corrcoef(m.data.ravel(), true.ravel())[0, 1] > 0.9999
    assert m.history[-1]["op"] == "edge_map" and "edge_map" in _REPLAYABLE
    # explicit windows and an onset energy give the same numbers
    m2 = eels.edge_map(s, 706.8, background_window=info["background_window"], integration_window=(lo, hi))
    np.testing.assert_allclose(m2.data, m.data, rtol=1e-5)


def test_a_pixel_whose_background_cannot_be_fitted_is_nan_in_the_edge_map(rng):
    # at a low dose half the pre-edge window holds no count in some pixels: their background stayed in, and the
    # map read the raw window sum there (23.4 where the fitted pixels' mean was 17.3), with no NaN
    s, _, _, e = _core_loss(rng)
    low = Signal(rng.poisson(np.asarray(s.data) * 2e-5).astype(np.uint16), axes=s.axes, signal_type="EELS")
    with pytest.warns(UserWarning) as said:
        m = eels.edge_map(low, "Fe_L3")
    _, params = low.isig[560.0:760.0].remove_background(tuple(m.metadata["EELS"]["edge_map"]["background_window"]),
                                                        return_params=True)
    unfitted = params["mask"]
    assert 0 < unfitted.sum() < unfitted.size
    np.testing.assert_array_equal(np.isnan(m.data), unfitted)
    texts = [str(w.message) for w in said]
    assert any(f"{int(unfitted.sum())} pixel(s) are NaN: {int(unfitted.sum())} without a fitted background" in t
               for t in texts)
    assert not any("return_params" in t for t in texts)  # edge_map takes no such keyword


def test_an_edge_map_on_an_axis_in_kev_is_the_map_on_ev(rng):
    """The edge table is in eV: on an axis in keV, Fe L3 was looked for at 708 keV ("outside the energy axis"); the
    named onset and the default widths are taken in the axis's units, and the map is the one on eV."""
    s, amp, edge, e = _core_loss(rng)
    kev = s.calibrate(-1, scale=s.axes[-1].scale / 1e3, offset=s.axes[-1].offset / 1e3, units="keV")
    m, m_kev = eels.edge_map(s, "Fe_L3"), eels.edge_map(kev, "Fe_L3")
    np.testing.assert_allclose(m_kev.data, m.data, rtol=1e-5)
    np.testing.assert_array_equal(eels.edge_map(kev.calibrate(-1, units="KeV"), "Fe_L3").data, m_kev.data)
    assert m_kev.metadata["EELS"]["edge_map"]["integration_window"] == pytest.approx(
        [v / 1e3 for v in m.metadata["EELS"]["edge_map"]["integration_window"]])


def test_an_eds_map_is_not_aligned_on_its_zero_energy_peak():
    """An EDS map's zero-energy peak was "aligned" as a zero-loss peak (2 channels dropped, 2048 -> 2046)."""
    data = np.random.default_rng(0).poisson(2.0, (4, 5, 256)).astype(np.uint16)
    data[..., 5] += 500
    s = Signal(data, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                           {"name": "Energy", "offset": -0.1, "scale": 0.01, "units": "keV"}], signal_type="EDS_SEM")
    with pytest.raises(DataError, match="is an EDS signal: align_zero_loss aligns the zero-loss peak of EELS"):
        eels.align_zero_loss(s)


def test_edge_map_refuses_windows_mostly_off_the_axis_and_warns_when_one_is_cut(rng):
    """A default pre-edge window cut to 2.7 of its 70.7 eV (the axis starts at 690 eV) was fitted anyway and
    extrapolated over the edge, and an Fe L3 map on an axis ending before the onset integrated 7.5 of 50 eV."""
    s, amp, edge, e = _core_loss(rng)
    with pytest.raises(emscale.AxisError, match=r"Fe_L3: the edge onset 706.8 eV lies outside the energy axis"):
        eels.edge_map(s.isig[:699.5], "Fe_L3")
    with pytest.raises(emscale.AxisError, match=r"background window \(621.98.*mostly outside .* \(2.66.* of 70.68"):
        eels.edge_map(s.isig[690.0:], "Fe_L3")
    with pytest.raises(emscale.AxisError, match=r"integration window \(1000, 1100\) eV lies mostly outside"):
        eels.edge_map(s, (1000.0, 1100.0), background_window=(900.0, 990.0))
    with pytest.warns(UserWarning, match=r"integration window \(692.66.*is cut .* to \(692.66.*, 720\) eV: 27.3"):
        m = eels.edge_map(s.isig[:720.0], "Fe_L3")
    assert m.metadata["EELS"]["edge_map"]["integration_window"][1] == 720.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a window on the axis says nothing
        eels.edge_map(s, "Fe_L3")


def test_reversed_windows_are_named_as_such(rng):
    """edge_map((450, 400)) said the window 'is outside the energy axis' and background_window=(395, 300) that
    it 'has (almost) no channels'; every window is now checked as remove_background checks its signal_range."""
    s, *_ = _core_loss(rng)
    reversed_ = "is reversed or empty: the start must be below the end"
    with pytest.raises(emscale.AxisError, match=rf"^edge \(750, 700\) {reversed_}"):
        eels.edge_map(s, (750.0, 700.0))
    with pytest.raises(emscale.AxisError, match=rf"^background_window \(695, 600\) {reversed_}"):
        eels.edge_map(s, (700.0, 750.0), background_window=(695.0, 600.0))
    with pytest.raises(emscale.AxisError, match=rf"^integration_window \(750, 750\) {reversed_}"):
        eels.edge_map(s, "Fe_L3", integration_window=(750.0, 750.0))
    with pytest.raises(emscale.AxisError, match=rf"^signal_range \(1, -1\) {reversed_}"):
        eels.estimate_zero_loss_position(s, signal_range=(1.0, -1.0))


def test_edge_map_of_a_pixel_with_a_nan_in_a_window_is_nan(rng):
    """A NaN inside the integration window was skipped (nansum: 115 counts where remove_background followed by
    isig[E1:E2].sum(-1) gives NaN); now a NaN in either window gives NaN, and one outside both changes nothing."""
    s, amp, edge, e = _core_loss(rng, noise=True)
    windows = {"background_window": (650.0, 700.0), "integration_window": (710.0, 760.0)}
    clean = eels.edge_map(s, "Fe_L3", **windows).data
    data = np.array(s.data)
    ax = s.axes[-1]
    data[0, 0, ax.value_to_index(730.0)] = np.nan  # integration window
    data[1, 1, ax.value_to_index(660.0)] = np.nan  # background window
    data[2, 2, ax.value_to_index(900.0)] = np.nan  # outside both
    with pytest.warns(RuntimeWarning, match="undefined in 1 of 72 pixel.*non-finite"), \
            pytest.warns(UserWarning, match="edge map Fe_L3: 2 pixel\\(s\\) are NaN"):  # the first was silent
        m = eels.edge_map(Signal(data, axes=s.axes, signal_type="EELS"), "Fe_L3", **windows).data
    by_hand = Signal(data, axes=s.axes, signal_type="EELS").isig[600.0:800.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_hand = by_hand.remove_background((650.0, 700.0)).isig[710.0:760.0].sum(axis=-1).to_numpy()
    assert np.isnan(m[0, 0]) and np.isnan(by_hand[0, 0]) and np.isnan(m[1, 1])
    assert m[2, 2] == clean[2, 2]
    assert np.isnan(m).sum() == 2


# -- real data (Velox .emd: 16x20x2048 EELS SIs at -21.5, 480, 800 eV) ---------------------------------------
@pytest.fixture(scope="module")
def velox_eels(velox_emd):
    signals = emscale.load(velox_emd)
    eels_sis = {round(s.axes[-1].offset): s for s in signals if s.signal_type == "EELS"}
    assert sorted(eels_sis) == [-22, 480, 800]
    return eels_sis


def test_real_low_loss_without_a_zero_loss_peak_is_refused_by_name(velox_eels):
    """This file's "low-loss" spectra are flat, noisy counts (~100 per channel, no ZLP). The alignment used to
    shift them by their noise maxima (up to 211 eV without a signal_range, cropping 2048 channels to 16) and the
    thickness to return numbers; now both say there is no zero-loss peak. A thickness window the user gives is
    still integrated as asked."""
    ll = velox_eels[-22]
    assert ll.shape == (16, 20, 2048) and ll.dtype == np.uint16
    for kwargs in ({}, {"signal_range": (-3.0, 3.0)}):
        with pytest.raises(emscale.DataError, match="distinct zero-loss peak"):
            eels.align_zero_loss(ll, **kwargs)
        with pytest.raises(emscale.DataError, match="distinct zero-loss peak"):
            eels.thickness(ll, **kwargs)
    assert np.isnan(eels.estimate_zero_loss_position(ll)).all()
    tw = eels.thickness(ll, zlp_window=(-3.0, 3.0))
    # 6 eV of 346 eV of flat counts: ln(346 / 6) ~ 4.05
    assert np.all(np.isfinite(tw.data)) and np.abs(tw.data - np.log(2048 / 35.5)).max() < 0.1
    # provenance: shifting the spectra replays from the raw file
    shifted = eels.shift_spectra(ll, np.full((16, 20), 0.25))
    np.testing.assert_array_equal(emscale.replay(shifted.history).data, shifted.data)


def test_core_loss_and_background_subtracted_spectra_have_no_zero_loss_peak(real_dir):
    """A core-loss spectrum image (300-2347 eV) used to be 'aligned' by recalibrating its axis to 0 eV (every edge
    300 eV off) and given t/lambda ~ 1; a background-subtracted spectrum (-100-924 eV, its maximum at 919.5 eV)
    gave NaN without a word."""
    core = emscale.load(real_dir / "EELS_SI.dm4")
    for op in (eels.align_zero_loss, eels.thickness, eels.estimate_zero_loss_position, eels.elastic_threshold):
        with pytest.raises(emscale.DataError, match="starts at 300 eV, so it holds no zero-loss peak"):
            op(core)
    flat = emscale.load(real_dir / "test-EELS_spectrum.dm3")
    with pytest.raises(emscale.DataError, match="no spectrum gives a thickness .no distinct zero-loss peak"):
        eels.thickness(flat)
    with pytest.raises(emscale.DataError, match="distinct zero-loss peak"):
        eels.align_zero_loss(flat)


def test_spectra_without_a_zero_loss_peak_are_left_out_with_a_warning(rng):
    s, t, _ = low_loss(rng, shape=(4, 5), noise=False)
    data = np.array(s.data)
    data[1, 2] = 50.0  # one flat spectrum: no peak
    s2 = Signal(data, axes=_axes(), signal_type="EELS")
    with pytest.warns(UserWarning, match="1 of 20 spectra have no distinct zero-loss peak"):
        res = eels.align_zero_loss(s2)
    assert res.shifts.data[1, 2] == 0.0
    with pytest.warns(UserWarning, match="1 of 20 spectra give no thickness"):
        tl = eels.thickness(s2).data
    assert np.isnan(tl[1, 2]) and np.abs(np.delete(tl.ravel() - t.ravel(), 7)).max() < 0.005


def test_real_core_loss_edges_and_maps(velox_eels):
    pytest.importorskip("emscale.spectroscopy.background", reason="remove_background is not available yet")
    cl = velox_eels[480]
    ax = cl.axes[-1]
    found = {(e.element, e.edge): e.onset for e in eels.edge_onsets(["O", "Fe", "Co"], (ax.low, ax.high))}
    for key, onset in ((("O", "K"), 532.0), (("Fe", "L3"), 708.0), (("Co", "L3"), 779.0)):
        assert key in found and abs(found[key] - onset) < 12.0
        assert ax.low < found[key] < ax.high
    hi = velox_eels[800].axes[-1]
    assert [e.edge for e in eels.edge_onsets(["Fe", "Co"], (hi.low, hi.high))] == ["L1", "L1"]
    for edge in ("O_K", "Fe_L3", "Co_L3"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = eels.edge_map(cl, edge)
        d = m.data
        assert d.shape == (16, 20) and np.isfinite(d).all()
        lo, hi_ = m.metadata["EELS"]["edge_map"]["integration_window"]
        window_counts = cl.isig[float(lo) : float(hi_)].to_numpy().sum(axis=-1).astype(float)
        # flat data: the background-subtracted edge signal is noise around zero, never a large negative bias
        assert np.median(d) > -0.01 * window_counts.mean()
        assert np.abs(d).max() < 0.1 * window_counts.mean()


def test_an_oxygen_edge_map_starts_at_the_eels_onset_and_an_older_step_replays(rng):
    # the O K windows were placed from xraydb's 543.1 eV; a step recorded before replays with that table
    import emscale as em
    from emscale.core import registry

    e = np.arange(420.0, 700.0, 1.0)
    s = em.Signal(rng.poisson(50.0 + 1e6 * e[None, None, :] ** -2.0, (3, 4, e.size)).astype(np.uint16),
                  axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                        {"name": "Energy loss", "scale": 1.0, "offset": 420.0, "units": "eV"}], signal_type="EELS")
    m = eels.edge_map(s, "O_K")
    assert m.metadata["EELS"]["edge_map"]["integration_window"][0] == pytest.approx(532.0 * 0.98, abs=1.0)
    assert m.history[-1]["params"]["table"] == "eels"
    old = registry.get("edge_map").replay_params({"edge": "O_K"})
    assert old["table"] == "xraydb"
    before = eels.edge_map(s, "O_K", table="xraydb")
    assert before.metadata["EELS"]["edge_map"]["integration_window"][0] == pytest.approx(543.1 * 0.98, abs=1.0)


def test_a_nan_at_the_zero_loss_peak_is_said(rng):
    # the peak's own channel NaN: the peak was read from a neighbour, half a channel off, with no word (a review)
    s, _, shifts = low_loss(rng, shape=(2, 3))
    data = np.array(s.data)
    ax = s.axes[-1]
    data[1, 2, ax.value_to_index(shifts[1, 2])] = np.nan
    with pytest.warns(UserWarning, match=r"1 of 6 spectra hold NaN or inf at their zero-loss peak"):
        eels.align_zero_loss(Signal(data, axes=s.axes, signal_type="EELS"))
