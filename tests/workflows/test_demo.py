"""The main job: the demo pipeline on the embedded samples finds the right rank and the true spectra, and its
landing page links every pipeline's report with its headline numbers and the software versions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emscale.cli import main
from emscale.workflows.demo import run_demo, spectral_angles
from emscale.workflows.demo_index import VERSION_PACKAGES

PIPELINES = ("eds", "eels", "csstem", "tomography")


def test_spectral_angles_match_by_hungarian_assignment():
    true = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    found = np.array([[0, 1.0, 0.01], [1.0, 0.0, 0.0], [0, 0, 1.0]])
    angles, match = spectral_angles(found, true)
    assert list(match) == [1, 0]
    assert angles[0] == 0 and 0 < angles[1] < 1


@pytest.mark.slow
def test_demo_pipeline(tmp_path):
    messages, logged = [], []
    summary = run_demo(tmp_path / "demo", seed=0, tomography="phantom", progress=messages.append,
                       log=logged.append)
    eds, eels, cs, tomo = (summary[k] for k in PIPELINES)
    assert eds["rank"] == eds["true_rank"] == 3
    # The separation issue's target: median spectral angle <= 2 degrees for NMF, VCA and MCR (measured 1.4-1.5;
    # Si ~0.8, SiO2 ~1.4, Cu ~3.3: the Cu particles hold few pixels, and least squares with the true maps give
    # 2.2 degrees there, so the largest angle is bounded loosely).
    for method in ("nmf", "vca", "mcr"):
        angles = eds[f"{method}_angles_deg"]
        assert np.median(angles) <= 2.0 and max(angles) < 4.5, (method, angles)
    assert max(eels["angles_deg"]) < 1.0  # background removal leaves the true Si L2,3 edge shapes
    assert min(eels["edge_map_corr"]) > 0.99  # the edge maps are the true maps (measured 0.999, 0.996)
    # CS-STEM from 15 % of the pixels: the low-rank model beats the full noisy scan against the truth (42.8 vs
    # 24.9 dB) and its dominant-phase map agrees with the full scan's on 98.4 % of the pixels
    assert cs["measured_fraction"] == pytest.approx(0.15, abs=0.002)
    assert cs["psnr_db"] > cs["full_scan_psnr_db"] + 10
    assert cs["phase_agreement"] >= 0.95
    # what the pure phases' angles are made of: a few % of the other phases (Cu: 9 of its 62 pure pixels measured)
    assert cs["pure_pixels_measured"][-1] < 0.25 * cs["pure_pixels"][-1]
    assert all(f[i] >= 0.9 for i, f in enumerate(cs["pure_phase_fractions"])), cs["pure_phase_fractions"]
    assert tomo["shift_error_max_px"] < 0.5 and tomo["sirt_psnr_db"] > tomo["fbp_unaligned_psnr_db"] + 5
    for sub in PIPELINES:
        report = tmp_path / "demo" / sub / "report.html"
        assert report.stat().st_size > 20_000
        assert "<a href='../index.html'>" in report.read_text()  # back to the landing page, which exists
        assert (report.parent / "../index.html").resolve().is_file()
        assert main(["replay", str(tmp_path / "demo" / sub)]) == 0
    # progress: every stage announced, and its time logged when done
    assert sum(m.startswith("[") and "step" in m for m in messages) >= 8
    assert [m.split(":")[0] for m in logged] == [f"[{i}/5] {n}" for i, n in enumerate(
        ("EDS", "EELS", "CS-STEM", "Tomography", "Landing page"), 1)]
    page = (tmp_path / "demo" / "index.html").read_text()
    _check_landing_page(page, summary)


def _check_landing_page(page: str, summary: dict) -> None:
    for sub in PIPELINES:
        assert f"href='{sub}/report.html'" in page
    assert page.count("<img alt=") == len(PIPELINES)  # a thumbnail per pipeline
    eds, eels, cs, tomo = (summary[k] for k in PIPELINES)
    assert f"{eds['rank']} / {eds['true_rank']}" in page
    assert f"{eds['nmf_angles_deg'][0]:.2f}°" in page
    assert f"{eels['edge_map_corr'][0]:.3f}" in page
    assert f"{cs['psnr_db']:.1f} dB" in page and f"{cs['phase_agreement']:.1%}" in page
    key = "shift_error_max_px" if tomo["source"] == "phantom" else "sirt_reprojection_residual"
    assert f"{tomo[key]:.3f}" in page
    versions = dict(re.findall(r"<tr><td>([\w.-]+)</td><td>([^<]+)</td></tr>", page))
    for pkg in VERSION_PACKAGES:
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", versions.get(pkg, "")), (pkg, versions.get(pkg))


def test_demo_histories_name_the_inputs_where_they_end_up(tmp_path, monkeypatch):
    """The demo is staged in a temporary sibling renamed at the end: a result's history must name its input in
    the final folder (it named the temporary one, gone after the rename), so em.replay(history) re-runs it."""
    import emscale as em
    from emscale.workflows import demo

    def eels_only(tmp, seed, summary, progress, log, tomography="auto"):
        (tmp / "inputs").mkdir()
        demo._eels(tmp, seed, summary, demo._Stages(progress, log, 1))

    monkeypatch.setattr(demo, "_write_demo", eels_only)
    out = tmp_path / "demo"
    run_demo(out)
    s = em.load(out / "eels" / "signal.zarr")
    assert s.history[0]["source"]["path"] == str((out / "inputs" / "eels.zarr").resolve())
    again = em.replay(s.history)
    np.testing.assert_array_equal(again.to_numpy(), s.to_numpy())


def test_a_result_replays_from_the_staging_folder_before_the_rename(tmp_path, monkeypatch):
    """The tomography part replays its own result's history while the demo is still staged (the real series'
    report): the history names the input in the final folder, which does not exist until the rename, so
    `emscale demo` stopped there with "the recorded input does not exist" whenever the real tilt series was found."""
    import emscale as em
    from emscale.workflows import demo

    replayed = {}

    def eels_then_replay(tmp, seed, summary, progress, log, tomography="auto"):
        (tmp / "inputs").mkdir()
        demo._eels(tmp, seed, summary, demo._Stages(progress, log, 1))
        s = em.load(tmp / "eels" / "signal.zarr")
        replayed["data"], replayed["history"] = em.replay(s.history).to_numpy(), s.history

    monkeypatch.setattr(demo, "_write_demo", eels_then_replay)
    out = tmp_path / "demo"
    run_demo(out)
    s = em.load(out / "eels" / "signal.zarr")
    np.testing.assert_array_equal(replayed["data"], s.to_numpy())
    assert replayed["history"][0]["source"]["path"] == str((out / "inputs" / "eels.zarr").resolve())


@pytest.mark.slow
def test_the_demo_runs_on_the_real_tilt_series(real_dir, tmp_path):
    summary = run_demo(tmp_path / "demo", seed=0, tomography="real")
    assert summary["tomography"]["source"] == "real HAADF.mrc"
    assert summary["tomography"]["sirt_reprojection_residual"] < 0.3
    assert main(["replay", str(tmp_path / "demo" / "tomography")]) == 0
