"""The main job: the demo pipeline on the embedded samples finds the right rank and the true spectra."""

from __future__ import annotations

import numpy as np

from emscale.cli import main
from emscale.demo import run_demo, spectral_angles


def test_spectral_angles_match_by_hungarian_assignment():
    true = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    found = np.array([[0, 1.0, 0.01], [1.0, 0.0, 0.0], [0, 0, 1.0]])
    angles, match = spectral_angles(found, true)
    assert list(match) == [1, 0]
    assert angles[0] == 0 and 0 < angles[1] < 1


def test_demo_pipeline(tmp_path, capsys):
    summary = run_demo(tmp_path / "demo", seed=0)
    eds, eels = summary["eds"], summary["eels"]
    assert eds["rank"] == eds["true_rank"] == 3
    # VCA on the pure pixels is the most faithful here; KL-NMF trades the shared Si line between Si and SiO2
    # (see decomposition/nmf.py), which is why its angles are larger.
    assert np.median(eds["vca_angles_deg"]) < 3.0
    assert np.median(eds["nmf_angles_deg"]) < 8.0
    assert max(eels["angles_deg"]) < 1.0  # background removal leaves the true Si L2,3 edge shapes
    for sub in ("eds", "eels"):
        assert (tmp_path / "demo" / sub / "report.html").stat().st_size > 20_000
        assert main(["replay", str(tmp_path / "demo" / sub)]) == 0
    assert "eds/report.html" in (tmp_path / "demo" / "index.html").read_text()
