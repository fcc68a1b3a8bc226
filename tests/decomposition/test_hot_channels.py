"""Hot detector channels (one channel counting in every pixel at a steady rate) are left out of the separation,
said and recorded; narrow peaks of the sample and single-pixel spikes are not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emscale import derive
from emscale.core.signal import Signal
from emscale.decomposition import decompose
from emscale.decomposition.hot_channels import find_hot_channels
from groundtruth import make_cube, spectral_angles

HOT = 517


def _with_hot_channel(seed: int, rate: float):
    s, truth = make_cube(3, "eds", shape=(96, 96), n_channels=1024, counts=200, seed=seed)
    data = s.to_numpy().astype(np.uint32)
    data[..., HOT] += np.random.default_rng(99).poisson(rate, data.shape[:2]).astype(np.uint32)
    return derive(s, data, s.axes), truth


@pytest.mark.parametrize("method", ["nmf", "mcr"])
@pytest.mark.parametrize("seed, rate", [(0, 5.0), (1, 20.0)])
def test_hot_channel_left_out_of_the_separation(method, seed, rate):
    # Before: every spectrum took 2.5 % (5 counts/pixel) or 9 % (20) of its mass in the hot channel, 10-16 and
    # 35-50 degrees from the truth; the clean cube gives 0.7-1.6
    s, truth = _with_hot_channel(seed, rate)
    with pytest.warns(UserWarning, match=rf"channel\(s\) {HOT} \(10.16 keV\) count in every pixel"):
        d = decompose(s, method, n_components=3)
    assert d.params["hot_channels"] == [HOT]
    assert np.isnan(d.factors_array[HOT]).all() and np.isfinite(np.delete(d.factors_array, HOT, axis=0)).all()
    found = np.delete(d.factors_array, HOT, axis=0).T
    assert spectral_angles(found, np.delete(truth.spectra, HOT, axis=1)).max() < 2.0


def test_hot_channel_kept_when_asked():
    s, _ = _with_hot_channel(0, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing said
        d = decompose(s, "nmf", n_components=3, mask_hot_channels=False)
    assert d.params["hot_channels"] == [] and np.isfinite(d.factors_array).all()
    assert d.factors_array[HOT].min() > 0.05 * d.factors_array.max(axis=0).min()  # the channel shared by all


def test_clean_cube_has_no_hot_channel():
    s, _ = make_cube(3, "eds", shape=(48, 48), n_channels=512, counts=2000, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decompose(s, "pca", n_components=3).params["hot_channels"] == []


def test_single_pass_can_only_warn():
    s, _ = _with_hot_channel(0, 20.0)
    with pytest.warns(UserWarning, match="cannot be left out by the single-pass solver"):
        d = decompose(s, "pca", n_components=3, solver="single_pass")
    assert d.params["hot_channels"] == [] and np.isfinite(d.factors_array).all()


def _sums(x):
    x = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    return x.sum(0), (x * x).sum(0), x.shape[0]


def test_narrow_peaks_of_the_sample_are_not_hot():
    rng = np.random.default_rng(0)
    e = np.arange(-5.0, 100.0)  # 1 eV channels
    zlp = np.exp(-0.5 * (e / (0.3 / 2.355)) ** 2)  # a cold-FEG zero-loss peak: one channel
    thickness = 0.3 + 0.5 * rng.random((32, 32))
    low_loss = rng.poisson(1e4 * np.exp(-thickness)[..., None] * zlp / zlp.sum() + 5.0)
    assert np.max(low_loss[..., 5]) > 10 * np.max(low_loss[..., [4, 6]])  # the spike test alone would take it
    assert find_hot_channels(*_sums(low_loss)).size == 0
    cosmic = rng.poisson(2.0, (32, 32, 256))
    cosmic[7, 9, 100] += 5000  # one pixel
    assert find_hot_channels(*_sums(cosmic)).size == 0


def test_hot_channel_rules():
    rng = np.random.default_rng(1)
    x = rng.poisson(0.5, (40, 40, 64))
    x[..., 30] += rng.poisson(8.0, (40, 40))
    assert find_hot_channels(*_sums(x)).tolist() == [30]
    x[..., 0] += rng.poisson(8.0, (40, 40))  # an end channel has one neighbour
    assert find_hot_channels(*_sums(x)).tolist() == [0, 30]
    kept = np.ones(64, dtype=bool)
    kept[29] = kept[31] = False  # both neighbours left out: nothing to compare with
    cs, sq, n = _sums(x[..., kept])
    assert find_hot_channels(cs, sq, n, kept).tolist() == [0]
    few = rng.poisson(0.01, (4, 4, 64))
    few[..., 10] = 5  # 80 counts, below MIN_COUNTS: too few to tell
    assert find_hot_channels(*_sums(few)).size == 0


def test_a_kept_strobe_peak_in_one_channel_is_not_taken_for_a_hot_channel():
    """mask_zero_peak=False on an EDS map whose strobe peak is one channel (40 eV channels, 0 keV in channel 5):
    that channel counts at a steady rate in every pixel, and the hot-channel search left it out, NaN in every
    factor, against the user's word. Kept now, finite; a hot channel above 0.1 keV is still left out."""
    rng = np.random.default_rng(0)
    e = np.arange(256) * 0.04 - 0.2
    spectra = np.stack([np.exp(-0.5 * ((e - c) / 0.06) ** 2) for c in (1.49, 1.74, 6.4)]) + 0.02
    data = rng.poisson(300 * rng.dirichlet([0.3] * 3, size=(24, 24)) @ (spectra / spectra.sum(1, keepdims=True)))
    data[..., 5] += rng.poisson(60.0, size=(24, 24))  # the strobe peak
    axes = [{"navigate": True, "name": "y"}, {"navigate": True, "name": "x"},
            {"navigate": False, "name": "Energy", "units": "keV", "offset": -0.2, "scale": 0.04}]
    s = Signal(data.astype(np.uint16), axes=axes, signal_type="EDS_TEM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pure-channel note of NMF
        default = decompose(s, "nmf", n_components=3, seed=0)
    assert default.params["zero_peak_channels"] == 8 and (default.factors_array[:8] == 0).all()
    for hot in (None, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pure-channel note of NMF
            warnings.filterwarnings("error", message=".*hot detector channel")
            d = decompose(s, "nmf", n_components=3, seed=0, mask_zero_peak=False, mask_hot_channels=hot)
        assert d.params["hot_channels"] == [] and d.params["zero_peak_channels"] == 0
        assert np.isfinite(d.factors_array).all()
        np.testing.assert_allclose(d.factors_array[5], [0.1703, 0.1677, 0.1709], atol=2e-4)  # shared by all three
    data[..., 200] += rng.poisson(20.0, size=(24, 24))  # a hot channel at 7.8 keV
    with pytest.warns(UserWarning, match=r"channel\(s\) 200 \(7.8 keV\) count in every pixel"):
        d = decompose(derive(s, data.astype(np.uint16), s.axes), "nmf", n_components=3, seed=0,
                      mask_zero_peak=False)
    assert d.params["hot_channels"] == [200] and np.isfinite(np.delete(d.factors_array, 200, axis=0)).all()
