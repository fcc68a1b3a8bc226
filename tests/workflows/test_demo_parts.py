"""The demo's parts on their own: the tomography part against a phantom with known shifts, the real series as a
replayable recipe, and the landing page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emscale.cli import main
from emscale.workflows.demo_index import VERSION_PACKAGES, Entry, image_thumbnail, landing_page
from emscale.workflows.demo_tomography import phantom_series, run_tomography, volume_error


@pytest.mark.parametrize("seed", [0, 3])
def test_phantom_series_shifts_are_known_and_free_of_rigid_motion(seed):
    s, truth = phantom_series(seed)
    shifts, theta = truth["shifts"], np.deg2rad(s.axis("tilt").values)
    assert s.shape == (71, 68, 68) and np.abs(shifts).max() > 5
    assert abs(shifts[:, 0].mean()) < 1e-9  # nothing along the axis that no alignment could see
    basis = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    np.testing.assert_allclose(basis.T @ shifts[:, 1], 0, atol=1e-9)


def test_tomography_part_on_the_phantom_recovers_the_shifts(tmp_path):
    (tmp_path / "inputs").mkdir()
    found = run_tomography(tmp_path, seed=1, source="phantom")
    # measured: max error 0.03 px (seed 0), RMS 0.01 px, for true shifts up to ~11 px
    assert found["true_shift_max_px"] > 8
    assert found["shift_error_max_px"] < 0.5 and found["shift_error_rms_px"] < 0.15
    assert abs(found["axis_shift_px"]) < 0.2
    # the aligned reconstructions are far closer to the truth than FBP of the misaligned series (33 / 30 vs 24 dB)
    assert found["sirt_psnr_db"] > found["fbp_unaligned_psnr_db"] + 5
    assert found["fbp_psnr_db"] > found["fbp_unaligned_psnr_db"] + 3
    assert found["sirt_rel_error"] < 0.45 and found["sirt_reprojection_residual"] < 0.2
    report = (tmp_path / "tomography" / "report.html").read_text()
    assert report.count("<img") >= 7 and "recovered-shift error" in report
    assert main(["replay", str(tmp_path / "tomography")]) == 0


def test_volume_error_of_the_truth_and_of_a_scaled_copy():
    t = np.random.default_rng(0).random((4, 5, 6))
    rel, psnr = volume_error(t * 1.1, t)
    peak = t.max() - t.min()  # one PSNR in the product: the reference's value range is the peak (sampling.slads.psnr)
    assert rel == pytest.approx(0.1) and psnr == pytest.approx(10 * np.log10(peak**2 / np.mean((0.1 * t) ** 2)))


@pytest.mark.slow
def test_tomography_part_on_the_real_series(real_dir, tmp_path):
    (tmp_path / "inputs").mkdir()
    found = run_tomography(tmp_path, source="real")
    assert found["n_tilts"] == 77 and found["shape"] == [77, 48, 64]
    assert 3 < found["max_shift_px"] < 15  # the series really is misaligned (measured 6.1 px)
    # SIRT fits the aligned projections better than FBP (measured 0.084 vs 0.151)
    assert found["sirt_reprojection_residual"] < found["fbp_reprojection_residual"] < 0.3
    assert main(["replay", str(tmp_path / "tomography")]) == 0


def test_landing_page_has_a_card_per_pipeline_with_numbers_link_and_versions():
    entries = [Entry("a", "Pipeline A", "a/report.html", "first", [("rank", "3 / 3", True), ("PSNR", "40.0 dB", None)],
                     image_thumbnail(np.eye(4))),
               Entry("b", "Pipeline <B>", "b/report.html", "second", [("angle", "5.00°", False)])]
    versions = {"emscale": "0.1.0", "numpy": "2.4.6", "python": "3.11.7"}
    page = landing_page(entries, versions, seconds=12.5)
    assert "href='a/report.html'" in page and "href='b/report.html'" in page
    assert "Pipeline &lt;B&gt;" in page  # escaped
    assert "<td class='ok'>3 / 3</td>" in page and "<td class='bad'>5.00°</td>" in page and "<td>40.0 dB</td>" in page
    assert page.count("data:image/png;base64,") == 1
    found = dict(re.findall(r"<tr><td>([\w.-]+)</td><td>([^<]+)</td></tr>", page))
    assert found["numpy"] == "2.4.6" and found["scipy"] == "not installed"
    assert all(pkg in found for pkg in VERSION_PACKAGES)
    assert "12.5 s" in page
