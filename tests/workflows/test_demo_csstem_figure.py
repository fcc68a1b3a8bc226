"""The CS-STEM demo's phase figure: one colour per true phase in every panel, with a key and a scale bar."""

from __future__ import annotations

import numpy as np

import emscale as em
from emscale.workflows.demo_csstem import _as_truth, _phase_figure


def test_phase_maps_are_relabelled_to_the_true_phases_and_keyed():
    # the panels coloured NMF component indices and the truth's indices alike, with no key: one colour could mean
    # two phases
    rng = np.random.default_rng(0)
    true = rng.random((3, 50))
    found = true[[2, 0, 1]]  # the NMF's order
    full = np.array([[0, 1], [2, -1]])  # component indices, -1 masked
    (relabelled,) = _as_truth(found, true, full)
    np.testing.assert_array_equal(relabelled, [[2, 0], [1, -1]])
    axes = [em.Axis(name="x", size=2, scale=5.0, units="nm"), em.Axis(name="y", size=2, scale=5.0, units="nm")]
    fig = _phase_figure(["Si", "SiO2", "Cu"], relabelled, relabelled, relabelled, scale=axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Si", "SiO2", "Cu"]
