"""The decomposition page: its numbers over HTTP, and in Chromium the phase colours match the legend's."""

from __future__ import annotations

import base64
import json
import urllib.request
from contextlib import contextmanager

import numpy as np
import pytest

import emscale as em
from emscale.viewer import view

try:  # the sample generators move to the workflows layer in the restructuring
    from emscale.workflows.samples import eds_si
except ImportError:
    from emscale.samples import eds_si


@pytest.fixture(scope="module", params=["mcr", "pca"])  # non-negative and signed loadings
def decomposition(request):
    s, _ = eds_si(shape=(14, 17), n_channels=160, scale=0.06, seed=5)
    k = 3
    return em.decompose(s, method=request.param, n_components=k)


def fetch(server, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}?token={server.token}", timeout=30) as r:
        return json.loads(r.read())


def test_the_payload_holds_the_decomposition_numbers(decomposition):
    d = decomposition
    with view(d, open_browser=False) as v:
        body = fetch(v, "/api/decomposition")
        assert urllib.request.urlopen(f"{v.url}").status == 200
        with pytest.raises(urllib.error.HTTPError) as e:  # the spectrum-image endpoints are not there
            urllib.request.urlopen(f"http://127.0.0.1:{v.port}/api/spectrum?x=0&y=0&token={v.token}")
        assert e.value.code == 404
    assert body["method"] == d.method and body["n_components"] == 3
    assert (body["width"], body["height"]) == (17, 14)
    np.testing.assert_array_equal(np.array(body["factors"]), d.factors_array.T)
    for c in range(3):
        m = np.frombuffer(base64.b64decode(body["loadings"][c]), dtype="<f8")
        np.testing.assert_array_equal(m, d.loadings_array[:, c])
    labels = np.array(body["phases"]["labels"])
    if d.method == "mcr":  # non-negative: the dominant component, the legend's spectra are the factors
        assert np.nanmin(d.loadings_array) >= 0
        np.testing.assert_array_equal(labels, np.argmax(d.loadings_array, axis=1))
        np.testing.assert_array_equal(np.array(body["phases"]["spectra"]), d.factors_array.T)
    else:  # signed: K-means phases, seed 0
        np.testing.assert_array_equal(labels, d.cluster(3, seed=0).labels.data.reshape(-1))
    assert sum(body["phases"]["fractions"]) == pytest.approx(1.0)
    sc = body["scree"]
    assert sc["threshold"] == pytest.approx(d.rank_evidence["threshold"])
    assert sc["values"][:5] == pytest.approx(np.asarray(d.rank_evidence["eigenvalues"])[:5].tolist())


@contextmanager
def _drawn(browser, decomposition):
    """The decomposition page open in ``browser``, its state once drawn; the viewer runs until the block ends."""
    from selenium.webdriver.support.ui import WebDriverWait

    with view(decomposition, open_browser=False) as v:
        browser.get(v.url)
        WebDriverWait(browser, 20, 0.05).until(
            lambda b: b.execute_script("return window.emscaleDecomposition.state.ready;"))
        yield browser.execute_script("return window.emscaleDecomposition.state;")


def test_phase_map_colours_match_the_legend_in_chromium(decomposition, browser, artifacts):
    with _drawn(browser, decomposition) as st:
        assert st["errors"] == []
        labels = st["data"]["phases"]["labels"]
        g, w, h = st["phaseGeometry"], st["data"]["width"], st["data"]["height"]
        seen = set()
        for i, k in enumerate(labels):
            if k in seen:
                continue
            seen.add(k)
            x, y = i % w, i // w
            px = [g["x"] + (x + 0.5) * g["w"] / w, g["y"] + (y + 0.5) * g["h"] / h]
            sw = st["swatches"][k]
            colours = browser.execute_script(
                "const p = document.getElementById('phase').getContext('2d'), "
                "l = document.getElementById('legend').getContext('2d');"
                "return [Array.from(p.getImageData(arguments[0], arguments[1], 1, 1).data),"
                "        Array.from(l.getImageData(arguments[2], arguments[3], 1, 1).data)];",
                px[0], px[1], sw["x"], sw["y"])
            assert colours[0] == colours[1], (k, colours)
        assert seen == set(range(3))
        assert browser.execute_script("return document.querySelectorAll('#pairs canvas').length;") == 6
        assert st["scaleBar"].endswith(" nm")  # 17 pixels of 5 nm
        assert browser.save_screenshot(str(artifacts / f"decomposition_{decomposition.method}.png"))


def test_a_pca_that_kept_every_component_shows_as_many_phases_as_its_rank():
    """The default PCA keeps 32 components; the phase map must not show 32 'phases' but the rank the data
    support (the sample's 3 phases)."""
    from emscale.viewer.decomposition import phases

    s, truth = eds_si(shape=(14, 17), n_channels=160, scale=0.06, seed=5)
    assert len(truth["maps"]) == 3
    d = em.decompose(s, method="pca")
    assert d.n_components > 3 and d.info["rank_estimate"] == 3
    p = phases(d)
    assert len(p["spectra"]) == 3 and len(p["fractions"]) == 3
    np.testing.assert_array_equal(p["labels"], d.cluster(3, seed=0, n_components=3).labels.data.reshape(-1))


def test_an_nmf_given_its_components_shows_its_scree_threshold_and_where_the_rank_came_from():
    # before: the explained variance ratio, every point hollow, no threshold, no rank
    from emscale.viewer.decomposition import payload

    s, _ = eds_si(shape=(14, 17), n_channels=160, scale=0.06, seed=5)
    d = em.decompose(s, method="nmf", n_components=3)
    sc = payload(d)["scree"]
    rank = d.estimate_rank()[0]
    assert sc["threshold"] == pytest.approx(d.estimate_rank()[1]["threshold"])
    assert sc["rank"] == rank and sc["rank_label"] == f"estimated rank {rank} (3 components fitted)"
    pca = payload(em.decompose(s, method="pca"))["scree"]
    assert pca["rank_label"].startswith("automatic rank")


def test_a_map_over_a_non_uniform_axis_is_drawn_with_square_pixels_and_no_scale_bar(browser):
    """Tilts in acquisition order (coordinates, no scale) beside a 20 nm step: the map's aspect came from the tilt
    axis's scale (1) against 20 nm, its pixels 20 x taller than wide, and its scale bar measured the tilts in
    degrees from that scale."""
    s, _ = eds_si(shape=(6, 9), n_channels=160, scale=0.06, seed=5)
    tilts = [-60.0, -45.0, -20.0, 0.0, 5.0, 30.0, 45.0, 60.0, 70.0]
    axes = [s.axes[0].to_dict() | {"scale": 20.0, "units": "nm"},
            {"name": "tilt", "navigate": True, "units": "deg", "coords": tilts}, s.axes[2].to_dict()]
    d = em.decompose(em.Signal(s.data, axes=axes, signal_type=s.signal_type), method="nmf", n_components=2)
    with _drawn(browser, d) as st:
        assert st["errors"] == []
    g = st["phaseGeometry"]
    assert g["w"] / 9 == pytest.approx(g["h"] / 6)
    assert "scaleBar" in st and st["scaleBar"] is None  # null: drawn without one, not never set


def _inclusion_cube():
    """Two phases side by side on 40 x 40 pixels and a third in a 3 x 3 inclusion (0.56 % of the pixels)."""
    rng = np.random.default_rng(3)
    e = np.arange(256) * 0.04
    lines = np.stack([30 * np.exp(-0.5 * ((e - c) / 0.1) ** 2) + 0.5 for c in (1.74, 8.04, 6.4)])
    phase = np.zeros((40, 40), dtype=int)
    phase[:, 20:] = 1
    phase[18:21, 6:9] = 2
    axes = [{"name": "y", "units": "nm", "scale": 1.0}, {"name": "x", "units": "nm", "scale": 1.0},
            {"name": "Energy", "units": "keV", "scale": 0.04}]
    return em.Signal(rng.poisson(lines[phase]).astype(np.uint16), axes=axes, signal_type="EDS_TEM"), phase


def test_a_small_inclusions_loading_is_coloured_over_its_full_range(browser):
    """The loading maps' colours spanned the 1st-99th percentiles: the inclusion's loading (310) and background
    leftovers of 11-15 came out equally bright. Now the static figures' limits (colour_limits): the full range."""
    from emscale.plotting import colour_limits

    s, phase = _inclusion_cube()
    d = em.decompose(s, method="nmf", n_components=3)
    with _drawn(browser, d) as st:
        assert st["errors"] == []
        lims, g = st["data"]["loading_limits"], st["loadingGeometry"]
        k = int(np.argmax([d.loadings_array[phase.ravel() == 2, c].mean() for c in range(3)]))
        m = d.loadings_array[:, k].reshape(40, 40)
        assert (lims[k]["vmin"], lims[k]["vmax"], lims[k]["extend"]) == colour_limits(m)
        assert lims[k]["signed"] is False and lims[k]["vmax"] == pytest.approx(341.73, abs=0.01)
        leftover = np.unravel_index(np.argmax(np.where(phase == 2, -np.inf, m)), m.shape)
        assert m[leftover] > np.percentile(m, 99)  # a leftover the old scale drew at the inclusion's colour

        def colour(y, x):
            return browser.execute_script(
                f"return Array.from(document.getElementById('loading-{k}').getContext('2d')"
                ".getImageData(arguments[0], arguments[1], 1, 1).data);",
                g["x"] + (x + 0.5) * g["w"] / 40, g["y"] + (y + 0.5) * g["h"] / 40)

        inclusion, background = colour(19, 7), colour(*leftover)
    # the inclusion near its component's colour (tab10 green, 44 160 44), the leftover (15.5) near white
    assert inclusion[:3] == pytest.approx([44, 160, 44], abs=30) and min(background[:3]) >= 240


def test_an_nmf_given_its_components_opens_without_the_rank_warning(recwarn):
    """Opening it warned "estimate_rank: ... randomized subspace ... the rank may be underestimated" for a rank
    the user did not ask for (they fixed 3 components); the page states the caution beside its scree instead."""
    from emscale.viewer.decomposition import payload

    s, _ = _inclusion_cube()
    d = em.decompose(s, method="nmf", n_components=3, solver="randomized")
    recwarn.clear()
    sc = payload(d)["scree"]
    assert [str(w.message) for w in recwarn] == []
    assert "the rank may be underestimated" in sc["caution"]
    assert sc["rank_label"] == f"estimated rank {sc['rank']} (3 components fitted)"
