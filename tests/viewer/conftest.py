"""Known cubes for the viewer tests: Poisson counts with distinct pixels, in memory and as a lazy zarr store."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from chromium import chromium

AXES = [
    {"name": "y", "navigate": True, "units": "nm", "scale": 0.5, "offset": 10.0},
    {"name": "x", "navigate": True, "units": "nm", "scale": 0.5, "offset": -3.0},
    {"name": "Energy", "units": "keV", "scale": 0.02, "offset": 0.1},
]


def known_cube(shape=(12, 16, 96), seed=3) -> np.ndarray:
    """Counts whose pixels all differ: a ramp along x and y plus Poisson noise and two peaks."""
    rng = np.random.default_rng(seed)
    ny, nx, ne = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    e = np.arange(ne)
    peak = 40 * np.exp(-0.5 * ((e - ne / 3) / 2.0) ** 2) * (xx[..., None] > nx / 2)
    mu = 3 + 0.5 * xx[..., None] + 2.0 * yy[..., None] + peak
    return (rng.poisson(mu) + (np.arange(ny * nx).reshape(ny, nx, 1) * 7) % 5).astype(np.uint16)


@pytest.fixture(scope="session")
def axes() -> list[dict]:
    return [dict(a) for a in AXES]


@pytest.fixture(scope="session")
def make_cube():
    return known_cube


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return known_cube()


@pytest.fixture(scope="module")
def lazy_signal(cube, tmp_path_factory):
    path = tmp_path_factory.mktemp("viewer") / "cube.zarr"
    # Chunks of 4 x 8 pixels so that a pixel's block is a real part of the store.
    em.Signal(cube, axes=AXES, signal_type="EDS_TEM", title="known cube").save(path, chunks=(4, 8, 96))
    return em.load(path, lazy=True)




@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for these tests; a skip when it is not installed."""
    yield from chromium("1440,1000")
