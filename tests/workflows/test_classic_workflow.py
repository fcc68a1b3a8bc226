"""The classic five-line EELS workflow on a generated cube, cross-checked step by step against
HyperSpy/exspy."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import emscale as em
from emscale.workflows import samples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    s, truth = samples.eels_si(seed=4)
    path = tmp_path_factory.mktemp("classic") / "si.zarr"
    s.save(path)
    return path, s, truth


def _five_lines(path, lazy=False):
    s = em.load(path, lazy=lazy)
    s = s.remove_background(signal_range=(70.2, 97.2))
    s = s.inav[:, 12:62].isig[94.5:110.1]
    profile = s.sum(axis=(1, -1))
    fig = profile.plot()
    return profile, fig


def test_five_lines(stored, tmp_path):
    path, s, truth = stored
    profile, fig = _five_lines(path)
    assert profile.shape == (80,) and profile.sig_axes[0].name == "x" and profile.sig_axes[0].units == "nm"
    assert [e["op"] for e in profile.history] == ["load", "remove_background", "inav", "isig", "sum"]
    out = tmp_path / "profile.png"
    fig.savefig(out)
    assert out.stat().st_size > 0 and fig.axes[0].get_xlabel() == "x (nm)"
    # physics: the Si edge integral is high in Si and drops in the oxide band (lower Si density, shifted edge)
    ox = truth["maps"]["SiO2"][12:62].mean(axis=0)
    p = profile.to_numpy()
    assert p[ox > 0.95].mean() < 0.7 * p[ox < 0.05].mean()
    # the profile follows the noise-free truth (background removed by the fast two-area method)
    E = truth["energy"]
    sl = slice(int(np.argmin(abs(E - 94.5))), int(np.argmin(abs(E - 110.1))))
    edge = (
        truth["expected"][12:62, :, sl].astype(np.float64) - samples.powerlaw_background(truth)[12:62, :, sl]
    )
    np.testing.assert_allclose(p, edge.sum(axis=(0, 2)), rtol=0.1)
    # lazy gives the same numbers, and replay from the store reproduces them
    lazy_profile, _ = _five_lines(path, lazy=True)
    np.testing.assert_allclose(lazy_profile.to_numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(em.replay(profile.history).to_numpy(), p, rtol=1e-6)


@pytest.mark.peer
def test_matches_hyperspy_step_by_step(stored):
    hs = pytest.importorskip("hyperspy.api")
    exspy = pytest.importorskip("exspy")
    path, s, _ = stored
    h = exspy.signals.EELSSpectrum(np.asarray(s.data))
    h.axes_manager.signal_axes[0].scale = 0.2
    h.axes_manager.signal_axes[0].offset = 50.0
    for name, ax in zip(("x", "y"), h.axes_manager.navigation_axes, strict=True):
        ax.name, ax.scale, ax.units = name, 0.5, "nm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hb = h.remove_background(signal_range=(70.2, 97.2), fast=True, show_progressbar=False)
    assert isinstance(hb, hs.signals.BaseSignal)
    e = em.load(path)
    eb = e.remove_background(signal_range=(70.2, 97.2))
    scale = np.abs(hb.data).max()
    np.testing.assert_allclose(eb.data, hb.data, rtol=1e-4, atol=1e-4 * scale)
    hc = hb.inav[:, 12:62].isig[94.5:110.1]
    ec = eb.inav[:, 12:62].isig[94.5:110.1]
    assert ec.shape == hc.data.shape
    assert ec.sig_axes[0].offset == pytest.approx(hc.axes_manager.signal_axes[0].offset)
    assert ec.nav_axes[1].offset == pytest.approx(hc.axes_manager.navigation_axes[1].offset)
    np.testing.assert_allclose(ec.data, hc.data, rtol=1e-4, atol=1e-4 * scale)
    hp = hc.sum(axis=(1, -1))
    ep = ec.sum(axis=(1, -1))
    assert ep.shape == hp.data.shape
    np.testing.assert_allclose(ep.to_numpy(), hp.data, rtol=1e-5)


def test_example_script(tmp_path):
    spec = importlib.util.spec_from_file_location("classic", ROOT / "examples" / "classic_eels_workflow.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main([str(tmp_path / "fig.png"), "--dose", "200"])
    assert out.exists() and out.stat().st_size > 0
