"""Notebook friendliness: Signals and decomposition results show an HTML summary, figures inline."""

from __future__ import annotations

import emscale as em
from emscale.workflows.samples import eds_si


def test_signal_and_decomposition_html_summaries():
    s, _ = eds_si(shape=(12, 14), n_channels=128, scale=0.08, seed=4)
    h = s._repr_html_()
    assert "(14, 12|128)" in h and "Energy" in h and "<table>" in h
    d = em.decompose(s, n_components=3)
    h = d._repr_html_()
    assert "Decomposition pca k=3" in h and "data:image/png;base64," in h
    lazy = s.as_lazy()
    assert "lazy" in lazy._repr_html_()
