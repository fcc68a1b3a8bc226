"""Denoising of count spectra (the factors of a sparse spectrum image): closer to the truth, lines kept."""

import numpy as np
import pytest

from emscale.inpainting.spectra import denoise_count_spectra, starlet


def _angle(a, b):
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def _spectrum(n=1024, lines=((174, 4.0, 1.0), (93, 3.0, 0.4), (804, 6.0, 0.6)), seed=0):
    e = np.arange(n) / 100.0
    cont = np.where(e > 0.2, (15.0 - e) / np.maximum(e, 0.05), 0.0) * (1 - np.exp(-(e**3)))
    spec = 0.3 * cont / cont.max()
    for c, w, h in lines:
        spec = spec + h * np.exp(-0.5 * ((np.arange(n) - c) / w) ** 2)
    return spec


@pytest.mark.parametrize("total,seed", [(2e4, 0), (2e5, 1), (4e4, 2)])
def test_denoised_count_spectra_are_closer_to_the_truth_and_keep_their_lines(total, seed):
    rng = np.random.default_rng(seed)
    lines = ((rng.integers(80, 300), 3.0 + rng.random() * 2, 1.0), (rng.integers(500, 900), 5.0, 0.5))
    truth = _spectrum(lines=lines)
    truth *= total / truth.sum()
    noisy = rng.poisson(truth).astype(float)
    den = denoise_count_spectra(noisy)
    before, after = _angle(noisy, truth), _angle(den, truth)
    assert after < 0.75 * before, (before, after)  # measured: about half the angle
    assert den.sum() == pytest.approx(noisy.sum()) and (den >= 0).all()
    for c, w, _ in lines:  # line areas within 5 % (shrinkage keeps significant scales)
        win = slice(int(c - 3 * w), int(c + 3 * w) + 1)
        assert den[win].sum() == pytest.approx(truth[win].sum(), rel=0.05)


def test_denoising_works_column_by_column_and_leaves_empty_channels_empty():
    rng = np.random.default_rng(3)
    truth = np.stack([_spectrum(), _spectrum(lines=((300, 4.0, 1.0),))], axis=1) * 30
    noisy = rng.poisson(truth).astype(float)
    noisy[:10] = 5000.0  # a zero-energy (strobe) peak the fit left out
    out = np.arange(len(noisy)) < 10
    both = denoise_count_spectra(noisy, exclude=out)
    np.testing.assert_allclose(both[:, 1], denoise_count_spectra(noisy[:, 1], exclude=out), rtol=1e-12, atol=1e-12)
    assert (both[:10] == 0).all()
    assert both.tobytes() == denoise_count_spectra(noisy, exclude=out).tobytes()
    assert both[10:20].max() < 3 * truth[10:40].max() + 10  # the excluded peak does not leak into its neighbours


def test_starlet_reconstructs_exactly():
    x = np.random.default_rng(0).normal(size=(300, 2))
    w, c = starlet(x, 5)
    np.testing.assert_allclose(c + sum(w), x, atol=1e-12)
