"""Shared fixtures of the decomposition tests."""

from __future__ import annotations

import pytest

from groundtruth import make_cube


@pytest.fixture(scope="module")
def cube():
    s, truth = make_cube(rank=3, kind="eds", shape=(24, 20), n_channels=128, counts=300, pure=True, seed=11)
    return s, truth
