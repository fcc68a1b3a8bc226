"""A given n_components above what the data support is said (issue 17: a phase split or noise fitted without a
word)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from groundtruth import eds_spectra, make_cube


def _two_phases_and_their_mixture(counts: float = 200.0):
    """Three regions A, B and C = (A + B) / 2: rank 2 with three 'phases' on the map."""
    rng = np.random.default_rng(0)
    spectra = eds_spectra(2, 512, rng)
    spectra = np.vstack([spectra, 0.5 * (spectra[0] + spectra[1])])
    xx = np.mgrid[:48, :48][1]
    ab = np.eye(3)[(xx * 3) // 48]
    data = rng.poisson(counts * ab @ spectra).astype(np.uint16)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy", "scale": 0.04, "offset": 0.1, "units": "keV"}]
    return em.Signal(data, axes=axes, signal_type="EDS_SEM", metadata={"Signal": {"counts": True}})


@pytest.mark.parametrize("solver", ["auto", "gram"])
@pytest.mark.parametrize("method", ["nmf", "vca"])
def test_k_above_the_supported_rank_is_said(method, solver):
    s = _two_phases_and_their_mixture()
    with pytest.warns(UserWarning, match="n_components=3, but the rank estimate is 2 .*component.s. 3 do not"):
        d = em.decompose(s, method, n_components=3, solver=solver)
    assert "compare n_components=2" in d.info["weak_components"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = em.decompose(s, method, n_components=2, solver=solver)
    assert "weak_components" not in d.info


def test_pca_components_asked_for_a_reconstruction_are_not_questioned():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = em.decompose(_two_phases_and_their_mixture(), "pca", n_components=6)
    assert "weak_components" not in d.info


@pytest.mark.parametrize("kind, counts, pure", [("eds", 20, True), ("eds", 200, False), ("eels", 200, True),
                                                ("eels", 2000, False)])
def test_the_true_rank_of_a_detectable_cube_is_not_questioned(kind, counts, pure):
    s, truth = make_cube(3, kind=kind, shape=(48, 48), n_channels=512, counts=counts, pure=pure, seed=3)
    for solver in ("auto", "gram"):
        d = em.decompose(s, "vca", n_components=3, solver=solver)
        assert "weak_components" not in d.info, (solver, d.info["weak_components"])
