"""One headless Chromium for the tests that look at pages (report, viewer, documentation site)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium(window: str = "1280,1000", extra: tuple[str, ...] = ()) -> Iterator:
    """A headless Chromium driver (for a fixture to yield), or a skip when Chromium or selenium is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e .[test])")
    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in FLAGS + (f"--window-size={window}",) + tuple(extra):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the browser's profile and singleton-socket folders go to TMPDIR and were left there after quit: 158 in /tmp
    # after two days of suite runs (2-3 MB each for a profile); a folder of its own, removed with the browser
    tmp = tempfile.mkdtemp(prefix="emscale-chromium-")
    try:
        driver = webdriver.Chrome(service=Service(DRIVER, env={**os.environ, "TMPDIR": tmp}), options=opts)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
