"""Separation accuracy on ground-truth scenes without pure pixels (issue 17): the pure-pixel rotation of NMF/MCR
must not make the default worse than the solver's own factorisation (``pure_pixels=False``), and EDS scenes with
>= 200 counts/pixel are separated to <= 2 degrees (median spectral angle, Hungarian matching)."""

import numpy as np
import pytest

from emscale.decomposition import decompose
from groundtruth import mixed_scene, spectral_angles


def _median_angle(d, truth) -> float:
    return float(np.median(spectral_angles(d.factors_array.T, truth.spectra)))


@pytest.mark.parametrize("layout, counts", [("blobs", 2000), ("gradient", 200)])
def test_eds_mixtures_keep_the_solvers_factorisation(layout, counts):
    s, truth = mixed_scene(rank=3, kind="eds", layout=layout, shape=(64, 64), n_channels=512, counts=counts, seed=3)
    d = decompose(s, "nmf", n_components=3)
    assert not d.info["pure_pixel_rotation"], d.info["pure_pixel_evidence"]
    assert d.info["pure_pixel_reason"].startswith("no pure pixels")
    assert _median_angle(d, truth) <= 2.0


def test_eels_mixture_is_no_worse_than_the_unrotated_solver():
    s, truth = mixed_scene(rank=3, kind="eels", layout="blobs", shape=(48, 48), n_channels=256, counts=200, seed=2)
    d = decompose(s, "nmf", n_components=3)
    raw = decompose(s, "nmf", n_components=3, pure_pixels=False)
    assert _median_angle(d, truth) <= _median_angle(raw, truth) + 1e-9


GRID = [(kind, layout, rank, counts) for kind in ("eds", "eels") for layout in ("blobs", "gradient")
        for rank in (2, 3, 4) for counts in (20, 200, 2000)]


@pytest.mark.slow
@pytest.mark.parametrize("kind, layout, rank, counts", GRID)
@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_default_is_never_worse_than_the_unrotated_solver(method, kind, layout, rank, counts):
    """The issue's held-out size (96 x 96 pixels, 1024 channels)."""
    s, truth = mixed_scene(rank=rank, kind=kind, layout=layout, counts=counts, seed=10 * rank + counts % 7)
    d = decompose(s, method, n_components=rank)
    raw = decompose(s, method, n_components=rank, pure_pixels=False)
    a, a_raw = _median_angle(d, truth), _median_angle(raw, truth)
    assert a <= a_raw + 1e-9, (a, a_raw, d.info["pure_pixel_evidence"])
    if kind == "eds" and counts >= 200 and method == "nmf":
        assert a <= 2.0, (a, d.info["pure_pixel_evidence"])
