"""VCA: pure-pixel endmembers on the EDS sample."""

from __future__ import annotations

import numpy as np

import emscale as em
from emscale.decomposition import decompose
from groundtruth import spectral_angles


def test_vca_endmembers_eds_si():
    s, truth = em.samples.eds_si(seed=0)
    true = np.array(list(truth["components"].values()))
    d = decompose(s, "vca", n_components=3)
    ang = spectral_angles(d.factors_array.T, true)
    assert np.max(ang) <= 4.0 and np.median(ang) <= 3.0, ang  # single-pixel vertices: 3.7 / 22 / 8 degrees
