"""Spectrum normalisation (spectroscopy/normalise.py), the operation docs/architecture.md shows as its example of
how to add one: the numbers against numpy, the history and its replay, a recipe, and the doc's code being the
module's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emscale as em
from emscale.workflows.recipes import execute, load_recipe

AXES = [{"name": "y"}, {"name": "x"}, {"name": "E", "scale": 0.5, "offset": 2.0, "units": "keV"}]


@pytest.fixture
def cube(rng):
    data = rng.poisson(20.0, (5, 6, 40)).astype(np.uint16)
    data[0, 0] = 0  # a spectrum of zeros: NaN, not a division warning
    return em.Signal(data, axes=AXES, signal_type="EDS_TEM")


def test_each_spectrum_sums_to_one_over_the_window(cube):
    out = cube.normalise((5.0, 9.0))
    i0, i1 = 6, 14  # (5.0 - 2.0) / 0.5, (9.0 - 2.0) / 0.5: the channels isig[5.0:9.0] selects
    assert cube.isig[5.0:9.0].shape[-1] == i1 - i0
    x = cube.data.astype(np.float64)
    total = x[..., i0:i1].sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        want = x / total
    np.testing.assert_array_equal(out.data, want)  # NaN where the window's sum is 0
    assert np.isnan(out.data[0, 0]).all() and out.dtype == np.float64 and out.axes == cube.axes
    np.testing.assert_allclose(out.data[1:, :, i0:i1].sum(axis=-1), 1.0)
    np.testing.assert_allclose(cube.normalise().data[2, 3].sum(), 1.0)  # the whole axis
    # lazily, in partitions: the same bits
    np.testing.assert_array_equal(cube.as_lazy(chunks=(2, 6, 40)).normalise((5.0, 9.0)).data, out.data)
    # a stop at the axis's end (one channel past the last, 22 keV), as isig takes it: refused as "outside"
    to_end = cube.normalise((15.0, 22.0))
    np.testing.assert_allclose(to_end.data[1:, :, 26:].sum(axis=-1), 1.0)
    assert cube.isig[15.0:22.0].shape[-1] == 40 - 26


def test_a_window_that_selects_nothing_is_refused(cube):
    with pytest.raises(em.AxisError, match=r"signal_range \(9, 5\) is reversed or empty"):
        cube.normalise((9.0, 5.0))
    with pytest.raises(em.AxisError, match="holds no channel of axis 'E'"):
        cube.normalise((5.0, 5.1))
    with pytest.raises(em.AxisError, match="one signal axis"):
        em.Signal(np.ones((4, 5)), axes=[{"navigate": False}, {"navigate": False}]).normalise()


def test_history_replay_and_recipe(cube, tmp_path):
    cube.save(tmp_path / "raw.zarr")
    out = em.load(tmp_path / "raw.zarr").normalise((5.0, 9.0))
    assert out.history[-1]["op"] == "normalise"
    assert out.history[-1]["params"] == {"signal_range": {"tuple": [5.0, 9.0]}}
    np.testing.assert_array_equal(em.replay(out.history).data, out.data)
    (tmp_path / "r.toml").write_text('[input]\npath = "raw.zarr"\n\n[[step]]\nop = "normalise"\n'
                                     'signal_range = [5.0, 9.0]\n')
    _, s, _, _ = execute(load_recipe(tmp_path / "r.toml"))
    np.testing.assert_array_equal(s.data, out.data)


def test_the_architecture_page_shows_this_module():
    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "architecture.md").read_text()
    code = (root / "src" / "emscale" / "spectroscopy" / "normalise.py").read_text()
    assert f"```python\n{code}```\n" in page
