"""Synthetic spectrum images: deterministic, calibrated, consistent with their ground truth, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emscale.workflows import samples


def test_eels_si_defaults_and_determinism():
    t0 = time.perf_counter()
    s, truth = samples.eels_si()
    assert time.perf_counter() - t0 < 3.0  # < 1 s on a normal core; slack for shared CI machines
    assert s.shape == (64, 80, 1024) and s.dtype == np.uint32 and s.nav_shape == (80, 64)
    e = s.sig_axes[0]
    assert (e.units, e.offset, e.scale) == ("eV", 50.0, 0.2)
    assert e.low <= 70.2 and e.high >= 110.1
    assert [a.units for a in s.nav_axes] == ["nm", "nm"]
    assert s.signal_type == "EELS" and s.metadata["Signal"]["counts"] is True
    assert s.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 200.0
    s2, _ = samples.eels_si()
    np.testing.assert_array_equal(s.data, s2.data)
    s3, truth3 = samples.eels_si(seed=1)
    assert not np.array_equal(s.data, s3.data)
    np.testing.assert_array_equal(truth["A"], truth3["A"])  # the truth does not depend on the noise seed


def test_eels_si_truth_is_consistent():
    s, truth = samples.eels_si(shape=(16, 20), dose=200.0)
    expected = truth["expected"].astype(np.float64)
    bg = samples.powerlaw_background(truth)
    mu = bg + sum(
        (truth["thickness"] * truth["maps"][k])[..., None] * c for k, c in truth["components"].items()
    )
    np.testing.assert_allclose(expected, mu, rtol=1e-5)
    # Poisson: the mean over pixels and channels matches the expectation
    assert abs(s.data.mean() / expected.mean() - 1) < 0.01
    np.testing.assert_allclose(truth["maps"]["Si"] + truth["maps"]["SiO2"], 1.0)
    E = truth["energy"]
    # edges sit where they should: nothing in the pre-edge window (ends 97.2 eV), SiO2 onset after Si
    assert truth["components"]["Si"][E < 97.5].max() < 1e-3 * truth["components"]["Si"].max()
    assert truth["components"]["SiO2"][E < 103.0].max() < 1e-3 * truth["components"]["SiO2"].max()
    assert set(truth["edges"]) == {"Si L2,3", "Si L2,3 (SiO2)"}
    assert 2.5 < truth["r"].min() and truth["r"].max() < 4.0


def test_eels_si_carbon_edge_when_in_range():
    s, truth = samples.eels_si(shape=(4, 5), n_channels=1400)
    assert "C K" in truth["edges"] and "C" in truth["components"]
    assert "C" in s.metadata["Sample"]["elements"]


def test_eds_si():
    s, truth = samples.eds_si(shape=(20, 24), dose=300.0)
    assert s.shape == (20, 24, 1024) and s.dtype == np.uint32 and s.signal_type == "EDS_SEM"
    assert s.sig_axes[0].units == "keV"
    assert abs(truth["lines"]["Si_Ka1"] - 1.7398) < 1e-3 and abs(truth["lines"]["Cu_Ka1"] - 8.046) < 1e-3
    assert abs(truth["lines"]["O_Ka1"] - 0.525) < 2e-3
    total = sum(truth["maps"].values())
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    # Cu particles show in the total counts and carry the Cu Ka line
    E = truth["energy"]
    ka = np.abs(E - 8.046) < 0.1
    cu = truth["maps"]["Cu"] > 0.9
    assert cu.any()
    assert s.data[cu][:, ka].sum(axis=1).mean() > 5 * s.data[~cu][:, ka].sum(axis=1).mean()
    s2, _ = samples.eds_si(shape=(20, 24), dose=300.0)
    np.testing.assert_array_equal(s.data, s2.data)


def test_bad_shape():
    with pytest.raises(ValueError):
        samples.eels_si(shape=(4,))
    with pytest.raises(ValueError, match="positive"):
        samples.eels_si(offset=-100.0)
