"""ICA: a rotation of the PCA model, signed factors; clustering of the loadings."""

from __future__ import annotations

import numpy as np

from emscale.decomposition import decompose


def test_ica_and_cluster(cube):
    s, truth = cube
    d = decompose(s, "ica", n_components=3, seed=1)
    f = d.factors_array
    assert np.all(f[np.argmax(np.abs(f), axis=0), np.arange(3)] > 0)
    # ICA is a rotation of the PCA model: same reconstruction
    p = decompose(s, "pca", n_components=3)
    np.testing.assert_allclose(d.reconstruct().data, p.reconstruct().data, rtol=1e-6, atol=1e-6)
    c = p.cluster(3, seed=0)
    assert c.labels.data.shape == (24, 20) and set(np.unique(c.labels.data)) == {0, 1, 2}
    assert c.spectra.data.shape == (3, 128)
