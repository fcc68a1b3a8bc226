"""Spectrum-image reconstruction on the demo EDS sample from 15 % of the pixels: spectra and phase map."""

import numpy as np
import pytest

import emscale as em
import emscale.inpainting  # noqa: F401
import emscale.sampling  # noqa: F401
from emscale.core.errors import DataError
from emscale.decomposition import label_agreement, spectral_angles
from emscale.inpainting import inpaint_spectrum_image


def _angles(a, b):
    """Angles (degrees) of the columns of ``a`` (reference spectra) to their matched columns of ``b``."""
    return spectral_angles(b.T, a.T)[0]


@pytest.mark.parametrize("seed", [3, 4])
def test_denoised_spectra_are_closer_to_the_true_ones_than_the_measured_nmf(seed):
    s, truth = em.samples.eds_si(shape=(40, 48), n_channels=512, scale=0.02, seed=seed)
    mask = em.sampling.random_pattern(s.data.shape[:2], 0.15, seed=seed)
    _, info = inpaint_spectrum_image(s, mask, n_components=3, seed=seed)
    true = np.stack(list(truth["components"].values()), axis=1)
    raw, den = _angles(true, info["raw_factors"]), _angles(true, info["factors"])
    assert den.mean() < 0.8 * raw.mean() and den.max() < raw.max(), (raw, den)
    assert np.all(info["factors"][:5] == 0)  # the EDS zero-energy peak stays out of the model


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])
def test_eds_sample_from_15_percent_phase_map_and_spectra(seed):
    s, truth = em.samples.eds_si()
    full = em.decompose(s, "nmf", n_components=3, seed=0)
    sparse = s.sample_scan("random", 0.15, seed=seed)
    rec = sparse.inpaint("linear", n_components=3, seed=seed)
    d = em.decompose(rec, "nmf", n_components=3, seed=0)
    # the phase map (k-means on the NMF loadings) agrees with the full-data one on >= 95 % of the pixels
    agree = label_agreement(full.cluster(3, seed=0).labels.data.ravel(), d.cluster(3, seed=0).labels.data.ravel())
    assert agree >= 0.95, agree
    # the spectra: the target is 2 degrees from the full-data NMF. That reference is itself 0.75 / 1.43 /
    # 3.28 degrees from the true spectra (another noise draw: 0.97 / 1.83 / 3.21 degrees apart), so Cu cannot get
    # below ~3 degrees from it. Measured (seed 0): the measured spectra's own NMF 1.6 / 3.4 / 5.6 degrees, the
    # denoised spectra 1.0 / 2.6 / 3.5 degrees (bench_inpainting.py: 3 seeds x 10 / 15 / 25 %).
    ang = _angles(full.factors_array, d.factors_array)
    assert ang.max() < 4.5 and ang.mean() < 3.0, ang
    truth_spectra = np.stack(list(truth["components"].values()), axis=1)
    assert _angles(truth_spectra, d.factors_array).max() < 4.0


def test_spectrum_image_errors():
    s, _ = em.samples.eds_si(shape=(8, 10), n_channels=32)
    with pytest.raises(DataError, match="shape"):
        inpaint_spectrum_image(s, np.ones((10, 8), bool))
    with pytest.raises(DataError, match="at least 3"):
        inpaint_spectrum_image(s, np.eye(8, 10, dtype=bool) & (np.arange(10) < 2))
    with pytest.raises(ValueError, match="unknown model"):
        inpaint_spectrum_image(s, np.ones((8, 10), bool), model="ica")
    with pytest.raises(DataError, match="navigation"):
        inpaint_spectrum_image(s.inav[0], np.ones((8,), bool))
    with pytest.raises(ValueError, match="denoise_spectra=True needs model='nmf'"):
        inpaint_spectrum_image(s, np.ones((8, 10), bool), model="pca", denoise_spectra=True)


def test_the_model_cube_is_built_in_bounded_partitions(monkeypatch):
    """The cube ``L F^T`` used to be one float64 product of the whole scan (peak 4.3x the float32 result on
    128 x 128 x 2048); partitions sized by the output keep the float64 temporaries small, with the same bits."""
    import tracemalloc

    from emscale.inpainting import spectrum_image
    from emscale.sampling import random_pattern

    s, _ = em.samples.eds_si(shape=(64, 64), n_channels=1024, dose=50.0)
    mask = random_pattern((64, 64), 0.2, seed=1)
    monkeypatch.setattr(spectrum_image, "MODEL_BLOCK_BYTES", 1 << 40)  # one partition
    whole, _ = inpaint_spectrum_image(s, mask, n_components=3, method="linear")
    monkeypatch.setattr(spectrum_image, "MODEL_BLOCK_BYTES", 1 << 20)  # 1 MiB: 16 partitions
    tracemalloc.start()
    try:
        parts, _ = inpaint_spectrum_image(s, mask, n_components=3, method="linear")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(parts, whole)
    assert peak < 3.0 * parts.nbytes, peak / parts.nbytes  # result + its partials + the small decomposition


def test_an_automatic_rank_is_capped_where_nmf_could_not_fit_it():
    # 4 measured spectra of a 3-phase cube: the automatic rank 3 was then refused by KL-NMF ("4 pixels are too few
    # for 3 NMF components ... ask for at most 2"), although nobody asked for 3
    rng = np.random.default_rng(0)
    spectra, fractions = rng.random((3, 64)), rng.dirichlet(np.ones(3), (16, 16))
    cube = rng.poisson(200 * fractions @ spectra).astype(np.uint16)
    s = em.Signal(cube, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}])
    mask = np.zeros((16, 16), bool)
    mask.flat[rng.permutation(256)[:4]] = True
    with pytest.warns(UserWarning, match="automatic rank 3 capped at 2: nmf fits at most 2 component"):
        out = s.inpaint("linear", mask=mask)
    assert out.metadata["Sampling"]["choice"] == {"model": "nmf", "n_components": 2}
    d = em.decompose(s, "nmf", navigation_mask=~mask, n_components="auto")
    assert d.n_components == 2 and "capped at 2" in d.info["rank_capped"]


def test_channels_left_out_of_the_model_keep_their_measured_counts():
    """The channels the decomposition leaves out (here the EDS zero-energy peak, masked by default) came back 0 at
    every pixel, measured ones included: a real Bruker map lost 21 % of its counts without a word. They are now
    their measured values, linearly interpolated between the measured pixels, and the result says how many."""
    s, _ = em.samples.eds_si(shape=(40, 48), n_channels=512, scale=0.02, seed=3)
    e = s.axes[-1].values
    strobe = np.random.default_rng(3).poisson(np.exp(-0.5 * (e / 0.03) ** 2) * 300, s.data.shape)
    s = em.Signal(np.asarray(s.data) + strobe.astype(s.dtype), axes=s.axes, signal_type=s.signal_type)
    low = e < 0.1
    assert low.sum() == 5 and strobe[..., low].sum() > 0
    sparse = s.sample_scan("random", 0.15, seed=3)
    m = em.sampling.scan_mask(sparse)
    out = sparse.inpaint("linear", n_components=3)
    assert out.metadata["Sampling"]["choice"]["interpolated_channels"] == 5
    data, rec = np.asarray(s.data, dtype=np.float64), np.asarray(out.data, dtype=np.float64)
    np.testing.assert_array_equal(rec[m][:, low], data[m][:, low])
    measured_total, rebuilt_total = data[m].sum(), rec[m].sum()
    assert abs(rebuilt_total / measured_total - 1) < 0.01, rebuilt_total / measured_total
    # between the measured pixels: within their range, not zero
    unmeasured = rec[~m][:, low]
    assert unmeasured.min() >= data[m][:, low].min() and unmeasured.max() <= data[m][:, low].max()
    assert unmeasured.mean() == pytest.approx(data[..., low].mean(), rel=0.1)
