"""The HTML report opened in a real headless Chromium: no console errors, every image renders, a screenshot."""

from __future__ import annotations

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
    shot = artifacts / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
