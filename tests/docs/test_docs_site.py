"""The built documentation site opens offline in a browser, and its pages show their figures.

Skipped unless the site has been built (``docs/build.sh`` writes ``docs/_build/html``) or
``EMSCALE_BUILD_DOCS=1`` asks this test to build it first (several minutes: every notebook is executed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from chromium import chromium

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "_build" / "html"
_BUILD_LEFT: list[Path] = []  # what a build in this session left in the temp folder


@pytest.fixture(scope="module")
def site() -> Path:
    if os.environ.get("EMSCALE_BUILD_DOCS") == "1":
        before = set(Path(tempfile.gettempdir()).glob("emscale-*"))
        subprocess.run([str(ROOT / "docs" / "build.sh")], check=True, cwd=ROOT)
        _BUILD_LEFT.extend(sorted(set(Path(tempfile.gettempdir()).glob("emscale-*")) - before))
    if not (SITE / "index.html").is_file():
        pytest.skip(f"documentation not built ({SITE}); run docs/build.sh or set EMSCALE_BUILD_DOCS=1")
    built = (SITE / "index.html").stat().st_mtime
    newer = [p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts and p.stat().st_mtime > built]
    if newer:  # a site built before the sources changed would be checked against pages it does not have
        pytest.skip(f"the built site is older than {newer[0].relative_to(ROOT)}; rebuild (docs/build.sh) or set "
                    "EMSCALE_BUILD_DOCS=1")
    return SITE


def test_a_build_leaves_nothing_in_the_temp_folder(site):
    """The tutorials' folders were left in the temp folder by every build (four, up to 6 MB each): 132 in a day."""
    if os.environ.get("EMSCALE_BUILD_DOCS") != "1":
        pytest.skip("the site was not built by this session (EMSCALE_BUILD_DOCS=1 builds it)")
    assert not _BUILD_LEFT, f"the docs build left {len(_BUILD_LEFT)} folder(s) in the temp folder: {_BUILD_LEFT[:3]}"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for these tests; a skip when it is not installed."""
    yield from chromium("1280,1000", ("--allow-file-access-from-files",))


def _open(driver, path: Path, wait_for: str = "body") -> None:
    """Load a page and wait until it is this page, fully loaded, with ``wait_for`` present (a ``get`` can return
    while the previous document is still the current one)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    uri = path.as_uri()
    driver.get(uri)
    try:
        WebDriverWait(driver, 20).until(
            lambda d: d.current_url.split("#")[0] == uri
            and d.execute_script("return document.readyState") == "complete"
            and d.execute_script("return document.querySelectorAll(arguments[0]).length > 0", wait_for)
        )
    except TimeoutException:
        pytest.fail(f"{path.relative_to(SITE)}: no {wait_for!r} within 20 s of opening it")


def _figures(driver) -> list[dict]:
    """Every <img> on the page: its source kind and whether the browser decoded it to a non-empty bitmap."""
    return driver.execute_script(
        """return Array.from(document.querySelectorAll('img')).map(i => ({
               src: i.getAttribute('src') || '', ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0}));"""
    )


def test_index_opens_offline_and_links_every_section(site, browser):
    _open(browser, site / "index.html", "a[href]")
    assert "emscale" in browser.title
    links = {a.get_attribute("href").split("#")[0].rsplit("/", 1)[-1]
             for a in browser.find_elements("css selector", "a[href]") if a.get_attribute("href")}
    for page in ("getting_started.html", "index.html", "coming_from_hyperspy.html", "architecture.html"):
        assert page in links, f"index does not link {page}"


@pytest.mark.parametrize("page", ["tutorials/signal_separation.html", "tutorials/classic_eels.html",
                                  "tutorials/tomography.html"])
def test_notebook_page_shows_its_executed_figures(site, browser, page):
    path = site / page
    assert path.is_file(), f"{page} missing from the built site"
    _open(browser, path, "div.cell_output img")
    figures = _figures(browser)
    assert figures, f"{page}: no figure"
    broken = [f["src"][:80] for f in figures if not f["ok"]]
    assert not broken, f"{page}: figures that did not load: {broken}"
    # executed at build time: outputs are in the page, not a notebook without results
    outputs = browser.find_elements("css selector", "div.cell_output")
    assert outputs, f"{page}: no cell outputs (notebook not executed?)"


def test_api_reference_documents_decompose(site, browser):
    _open(browser, site / "api" / "generated" / "emscale.decomposition.api.html")
    assert "n_components" in browser.find_element("tag name", "body").text
