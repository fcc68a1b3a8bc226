"""Messages that say what is wrong with the input of decompose."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em


def test_a_single_pixel_is_named_without_a_mask():
    s = em.Signal(np.ones((1, 1, 16)))
    with pytest.raises(em.DataError, match="has 1 pixel: decomposition needs at least 2") as exc:
        em.decompose(s)
    assert "navigation_mask" not in str(exc.value)


@pytest.mark.parametrize("method", ["pca", "ica", "nmf"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_all_zero_data_are_named(method, dtype):
    s = em.Signal(np.zeros((4, 5, 32), dtype=dtype))
    with pytest.raises(em.DataError, match="all the decomposed data are zero"):
        em.decompose(s, method, n_components=2)
