"""MCR-ALS: closure."""

from __future__ import annotations

import numpy as np

from emscale.decomposition import decompose


def test_mcr_closure(cube):
    s, _ = cube
    d = decompose(s, "mcr", n_components=3, closure=True, max_iter=30)
    assert np.all(d.loadings_array >= 0)
