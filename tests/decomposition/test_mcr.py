"""MCR-ALS: closure."""

from __future__ import annotations

import numpy as np

from emscale.decomposition import decompose


def test_mcr_closure(cube):
    s, _ = cube
    d = decompose(s, "mcr", n_components=3, closure=True, max_iter=30)
    assert np.all(d.loadings_array >= 0)


def test_mcr_stops_once_the_rotated_spectra_settle(monkeypatch):
    """Dense counts with pure pixels: the result is rotated to the pure-pixel groups, so the iterations stop once
    the rotated spectra settle (issue 17: this cube took 156 iterations by the residual rule) -- with the spectra
    of the residual rule's run within a few hundredths of a degree."""
    from emscale.decomposition import purity
    from groundtruth import make_cube, spectral_angles

    s, truth = make_cube(3, kind="eels", shape=(64, 64), n_channels=240, counts=5000, pure=True, seed=1)
    d = decompose(s, "mcr", n_components=3)
    assert d.info["pure_pixel_rotation"] and d.info["stopped_by"] == "rotated spectra settled"
    monkeypatch.setattr(purity, "SETTLED_DEGREES", 0.0)  # only the residual rule
    full = decompose(s, "mcr", n_components=3)
    assert full.info["stopped_by"] == "loss"
    assert d.info["n_iter"] <= full.info["n_iter"] / 4
    a, a_full = (spectral_angles(x.factors_array.T, truth.spectra) for x in (d, full))
    assert np.max(np.abs(a - a_full)) < 0.05, (a, a_full)
    assert np.median(a) < 1.0
    no_rotation = decompose(s, "mcr", n_components=3, pure_pixels=False)
    assert no_rotation.info["stopped_by"] in ("loss", "max_iter")
