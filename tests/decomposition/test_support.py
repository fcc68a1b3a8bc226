"""A minor phase's loadings fitted to the majority's noise (decomposition.support)."""

import numpy as np
import pytest

from emscale import decompose
from emscale.decomposition.support import MAX_MEAN_Z, leaking_components, loading_z
from groundtruth import minor_phase_scene, particles_on_film, spectral_angles


def _angles(d, spectra):
    return spectral_angles(np.asarray(d.factors_array).T, spectra)


def _floor(s, truth, mask):
    """The angle of the minor phase's own summed counts to its true spectrum: what its pixels allow."""
    own = np.asarray(s.data)[mask].sum(axis=0).astype(float)
    return float(spectral_angles(own[None], truth.spectra[-1:])[0])


@pytest.mark.parametrize(("kind", "counts", "seed", "before"), [("eds", 200, 0, 8.09), ("eds", 50, 1, 23.9),
                                                                ("eels", 200, 0, 20.6)])
def test_a_minor_phase_is_fitted_to_its_own_pixels(kind, counts, seed, before):
    """A phase in 0.5 % of the pixels (59 of 96 x 96): its KL-NMF loadings elsewhere, each the positive part of a
    noise fit, held more counts than its own pixels (17 000 against 11 600 at 200 counts/pixel) and its spectrum
    was ``before`` degrees from the truth. Refitted on its own pixels, it is as close as its summed counts allow."""
    s, truth, mask = minor_phase_scene(counts=counts, seed=seed, kind=kind)
    d = decompose(s, "nmf", n_components=3)
    a = _angles(d, truth.spectra)
    floor = _floor(s, truth, mask)
    assert a[-1] <= 1.1 * floor < before, (a, floor)
    assert np.max(a[:2]) < 2.5, a  # the majority phases: 1.9 / 2.9 before at 50 counts/pixel, 0.5-1.8 elsewhere
    support = d.info["loading_support"]
    minor = int(np.argmin(d.loadings_array.reshape(-1, 3).astype(bool).sum(axis=0)))
    assert support["refitted"] == [minor], support
    assert support["components"][str(minor)]["leak"] > 1.0 and "set to zero" in d.info["loading_support_reason"]
    # the minor phase's loadings: zero outside a few pixels more than its own (its particles' rims, in part)
    outside = np.asarray(d.loadings_array).reshape(*mask.shape, 3)[..., minor][~mask]
    assert np.count_nonzero(outside) < 0.03 * outside.size


def test_the_majority_phases_are_left_alone_where_no_component_leaks():
    """At 2000 counts/pixel the minor phase's own 59 pixels outweigh its noise fits (0.39 x): nothing is refitted."""
    s, truth, mask = minor_phase_scene(counts=2000, seed=1)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["loading_support"]["refitted"] == []
    assert d.info["loading_support_reason"].startswith("kept")
    assert _angles(d, truth.spectra)[-1] <= 1.1 * _floor(s, truth, mask)


def test_a_film_a_few_counts_deep_keeps_its_loadings():
    """A support film under particles at 5 counts/pixel is insignificant in most single pixels yet real everywhere:
    refitted on its significant pixels alone its spectrum went 2.4 -> 7.6 degrees. Its loadings outside hold fewer
    counts than inside and average 1.5 standard errors (noise fits: 0.40): kept."""
    s, spectra = particles_on_film(film_counts=5.0, seed=0)
    d = decompose(s, "nmf", n_components=3)
    assert d.info["loading_support"]["refitted"] == []
    assert np.max(_angles(d, spectra)) < 3.0


def test_noise_fits_and_real_thin_counts_are_told_apart():
    """leaking_components on a model built by hand: a component absent from 990 of 1000 pixels whose loadings there
    are the positive part of noise is refitted; one present at 1.5 standard errors everywhere is not."""
    rng = np.random.default_rng(0)
    h = np.zeros((2, 64))
    h[0, :32], h[1, 32:] = 1.0 / 32, 1.0 / 32
    n = 1000
    w = np.zeros((n, 2))
    w[:, 0] = 400.0
    se = 1.0 / loading_z(np.column_stack([w[:, 0], np.ones(n)]), h)[0][:, 1]  # a loading of 1 over its z
    w[:, 1] = np.maximum(rng.standard_normal(n), 0.0) * se  # noise fits: positive parts, mean 0.40 se
    w[:10, 1] = 16.0  # its own pixels: 4 standard errors each, 160 counts against ~200 in noise fits
    refit, judged, figures = leaking_components(w, h)
    assert refit == [1] and judged[10:, 1].mean() > 0.9
    assert figures[1]["mean_z"] < MAX_MEAN_Z
    w[10:, 1] = 1.5 * se[10:]  # real thin counts everywhere
    refit, _, figures = leaking_components(w, h)
    assert refit == [] and figures[1]["mean_z"] > MAX_MEAN_Z
