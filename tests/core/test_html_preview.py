"""The notebook view of a Signal: a navigator thumbnail (sum over the signal) and the mean spectrum beside the
axes table, computed from memory only (lazy signals read nothing; big ones a strided subset), and fast."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

import emscale as em
from emscale.core import html as em_html

AXES = [{"name": "y", "navigate": True, "units": "nm", "scale": 0.5}, {"name": "x", "navigate": True, "units": "nm"},
        {"name": "Energy", "units": "keV", "scale": 0.01}]


def _cube(shape=(12, 16, 300), seed=0):
    rng = np.random.default_rng(seed)
    data = rng.poisson(3.0, shape).astype(np.uint32)
    data[3, 11, :] += 40  # one bright pixel
    data[:, :, 170:175] += 9  # a line at 1.70-1.74 keV in every pixel
    return em.Signal(data, axes=AXES, signal_type="EDS_TEM")


def _thumbnail(h: str) -> np.ndarray:
    from matplotlib.image import imread

    (b64,) = re.findall(r'src="data:image/png;base64,([^"]+)"', h)
    return imread(io.BytesIO(base64.b64decode(b64)))


def _polyline(h: str) -> np.ndarray:
    (pts,) = re.findall(r'<polyline[^>]* points="([^"]+)"', h)
    return np.array([[float(v) for v in p.split(",")] for p in pts.split()])


def test_thumbnail_is_the_navigator_and_the_curve_the_mean_spectrum():
    s = _cube()
    h = s._repr_html_()
    assert "(16, 12|300)" in h and "<table>" in h and "Energy" in h
    img = _thumbnail(h)
    total = s.data.sum(axis=-1, dtype=float)
    assert img.shape == total.shape  # one PNG pixel per navigation pixel (CSS scales it up)
    assert np.unravel_index(np.argmax(img), img.shape) == (3, 11)
    lo, hi = np.percentile(total, (1.0, 99.5))
    expected = np.round(np.clip((total - lo) / (hi - lo), 0, 1) * 255) / 255
    np.testing.assert_allclose(img, expected, atol=1 / 255 + 1e-6)
    xy = _polyline(h)
    mean = s.data.mean(axis=(0, 1))
    assert len(xy) == 300
    assert np.argmin(xy[:, 1]) == np.argmax(mean)  # SVG y grows downwards: the highest point is the line
    assert np.corrcoef(xy[:, 1], mean)[0, 1] < -0.999
    assert "0–2.99 keV" in h


def test_lazy_signal_shows_no_preview_and_reads_nothing():
    s = _cube().as_lazy()
    h = s._repr_html_()
    assert "lazy" in h and "<img" not in h and "<svg" not in h


def test_big_signal_preview_uses_a_strided_subset(monkeypatch):
    s = _cube((40, 60, 100))
    monkeypatch.setattr(em_html, "PREVIEW_MAX_VALUES", 40 * 60 * 100 // 9 + 1000)  # a factor < 9: stride 3
    h = s._repr_html_()
    img = _thumbnail(h)
    assert img.shape == (14, 20)  # every 3rd pixel
    assert "every 3rd pixel" in h
    assert len(_polyline(h)) == 100


def test_spectrum_and_image_signals():
    spec = _cube().inav[2, 3]
    h = spec._repr_html_()
    assert "<img" not in h and len(_polyline(h)) == 300
    img = em.Signal(np.arange(12.0).reshape(3, 4), axes=[{"name": "y", "units": "nm", "navigate": False},
                                                           {"name": "x", "units": "nm", "navigate": False}])
    t = _thumbnail(img._repr_html_())
    assert t.shape == (3, 4) and t[0, 0] == 0 and t[-1, -1] == 1


@pytest.mark.parametrize("img", [np.full((2, 3), np.nan), np.zeros((2, 2))])
def test_gray_png_of_degenerate_images(img):
    from matplotlib.image import imread

    out = imread(io.BytesIO(base64.b64decode(em_html.gray_png(img))))
    assert out.shape == img.shape and np.all(out == 0)
