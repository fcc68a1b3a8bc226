"""One notation for shapes everywhere: ``(x, y|E)`` as the Signal repr writes it, also in result reprs."""

from __future__ import annotations

import numpy as np

import emscale as em
from emscale.core.axes import Axis, shape_notation
from emscale.decomposition.result import ClusterResult, Decomposition


def test_shape_notation_is_user_order():
    nav = [Axis(name="y", size=64, navigate=True), Axis(name="x", size=80, navigate=True)]
    sig = [Axis(name="E", size=1024)]
    assert shape_notation(nav, sig) == "(80, 64|1024)"
    assert shape_notation([], [5]) == "(|5)"
    s = em.Signal(np.zeros((64, 80, 16), np.uint8), axes=[{"name": "y", "navigate": True},
                                                          {"name": "x", "navigate": True}, {"name": "E"}])
    assert "(80, 64|16)" in repr(s)
    d = Decomposition(method="pca", params={}, factors_array=np.zeros((16, 2)), loadings_array=np.zeros((5120, 2)),
                      nav_axes=list(s.axes[:2]), sig_axes=[s.axes[2]])
    c = ClusterResult(np.zeros(5120, np.int64), np.zeros((3, 16)), list(s.axes[:2]), [s.axes[2]],
                      np.zeros((3, 2)), 0.0)
    for r in (repr(d), repr(c)):
        assert "(80, 64|16)" in r and "nav=" not in r, r
