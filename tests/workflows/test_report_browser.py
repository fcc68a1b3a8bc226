"""The HTML report opened in a real headless Chromium: no console errors, every image renders, the component
names and the rank-evidence table are there once, and a full-page screenshot is kept for a person to look at in
``test-artifacts/screenshots/report.png`` at the repository root (the ``artifacts`` fixture; or
``$EMSCALE_ARTIFACTS/screenshots``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chromium import chromium
from emscale.workflows.recipes import run_recipe
from emscale.workflows.samples import eds_si

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e .[test])")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for these tests; a skip when it is not installed."""
    yield from chromium("1280,2000")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    s, _ = eds_si(shape=(20, 24), n_channels=256, scale=0.04, seed=2)
    s.save(folder / "eds.zarr")
    (folder / "r.toml").write_text(
        '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "decompose"\nname = "pca"\nmethod = "pca"\n'
        'n_components = "auto"\n\n[[step]]\nop = "decompose"\nname = "nmf"\nmethod = "nmf"\nn_components = 3\n\n'
        '[[step]]\nop = "cluster"\nof = "nmf"\nn_clusters = 3\n'
    )
    run_recipe(folder / "r.toml", folder / "out")
    return folder / "out" / "report.html"


def test_report_renders_in_chromium(browser, report, artifacts):
    browser.get(report.as_uri())
    assert browser.title == "emscale report"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"
    )
    # mean spectrum, scree, factors and loadings of both decompositions, RGB composites, the phase map
    assert len(images) >= 8
    for alt, complete, w, h in images:
        assert complete and w > 0 and h > 0, alt
    headings = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);")
    for needed in ("Input", "Steps", "Software", "Recipe that reproduces this report"):
        assert needed in headings
    text = browser.execute_script("return document.body.innerText;")
    assert "k-means (3 phases, inertia " in text and "numpy: 480 points x 3 features x 3 clusters" in text
    h3 = browser.execute_script("return Array.from(document.querySelectorAll('h3')).map(h => h.textContent);")
    assert h3.count("Rank evidence") == 1  # PCA and NMF of the same data: one table, the NMF refers to it
    cells = browser.execute_script(
        "const h = Array.from(document.querySelectorAll('h3')).find(e => e.textContent === 'Rank evidence');"
        "return Array.from(h.nextElementSibling.querySelectorAll('tr')).slice(1).map(r => r.cells[1].textContent);")
    numbers = [c for c in cells if re.fullmatch(r"[-+0-9.e]+", c)]
    assert len(numbers) >= 5
    for c in numbers:  # 3-4 significant digits, not 0.006299887345995816
        assert len(re.sub(r"^[-+0.]+|e.*$|\.", "", c)) <= 4, c
    assert "Si Kα" in text and "Cu K/L" in text  # components named by their lines
    assert "nav=" not in text and "(24, 20|256)" in text  # the signal's own shape notation
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(1280, min(int(height) + 200, 16000))  # the window frame takes some of it
    (artifacts / "screenshots").mkdir(parents=True, exist_ok=True)
    shot = artifacts / "screenshots" / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    from matplotlib.image import imread

    assert imread(shot).shape[0] >= min(height, 15800)  # the whole page, not a window of it


def test_report_numbers_have_four_significant_digits():
    from emscale.workflows.report import number

    assert number(0.0059998927) == "0.006" and number(4.3429310078877785e-06) == "4.343e-06"
    assert number(59031.27) == "5.903e+04" and number(3) == "3" and number(True) == "True"
