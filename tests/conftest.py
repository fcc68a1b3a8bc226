"""Shared fixtures: the real instrument files beside the checkout, and a fixed random generator."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

REAL_DIR = Path(os.environ.get("EMSCALE_REAL_DATA", Path(__file__).resolve().parents[1].parent / "shared/data/real"))


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL_DIR.is_dir():
        pytest.skip(f"real instrument files not found at {REAL_DIR} (set EMSCALE_REAL_DATA)")
    return REAL_DIR


@pytest.fixture(scope="session")
def velox_emd(real_dir, tmp_path_factory) -> Path:
    """The Velox .emd unzipped into a temporary folder (the shared input is never touched)."""
    import zipfile

    out = tmp_path_factory.mktemp("velox")
    with zipfile.ZipFile(real_dir / "velox_EELS_EDS.zip") as z:
        z.extractall(out)
    return next(out.glob("*.emd"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the browser tests keep their screenshots (report, viewer, docs) for a person to look at: the
    CI artefacts folder ``test-artifacts/`` in the checkout, or ``$EMSCALE_ARTIFACTS``."""
    path = Path(os.environ.get("EMSCALE_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def traced_peak():
    """``peak(fn)``: the most memory Python's allocators held while ``fn()`` ran (tracemalloc), in bytes."""
    import tracemalloc

    def peak(fn) -> int:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return peak
