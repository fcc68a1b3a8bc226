"""The viewer's server over HTTP: the token, no files outside the signal, and the numbers it serves."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

import emscale as em
from emscale import DataError
from emscale.viewer import ViewerData, ViewerServer, view
from emscale.viewer.reading import storage_array


def get(server: ViewerServer, path: str, token: str | None = "ok", headers: dict | None = None):
    """(status, decoded JSON or text) of a GET; ``token="ok"`` sends the server's own token."""
    tok = server.token if token == "ok" else token
    sep = "&" if "?" in path else "?"
    url = f"http://127.0.0.1:{server.port}{path}" + (f"{sep}token={tok}" if tok is not None else "")
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body, ctype = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), e.headers["Content-Type"]
    return status, json.loads(body) if ctype == "application/json" else body.decode()


@pytest.fixture(scope="module", params=["lazy", "memory"])
def server(request, lazy_signal, cube, axes):
    s = lazy_signal if request.param == "lazy" else em.Signal(cube, axes=axes, signal_type="EDS_TEM")
    with view(s, open_browser=False) as v:
        yield v


def decode_map(body) -> np.ndarray:
    return np.frombuffer(base64.b64decode(body["data"]), dtype=body["dtype"]).reshape(body["height"], body["width"])


def test_requests_without_the_token_are_forbidden(server):
    assert server._httpd.server_address[0] == "127.0.0.1"  # loopback only
    assert len(server.token) >= 32 and server.token in server.url
    for path in ("/", "/api/info", "/api/spectrum?x=0&y=0"):
        assert get(server, path, token=None)[0] == 403
        assert get(server, path, token="wrong-" + server.token[6:])[0] == 403
    assert get(server, "/api/spectrum?x=0&y=0", token=None, headers={"X-Emscale-Token": server.token})[0] == 200
    # Another Host (a DNS-rebinding page) is refused even with the token.
    assert get(server, "/api/info", headers={"Host": "evil.example:80"})[0] == 403


def test_nothing_outside_the_opened_signal_is_served(server):
    for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/viewer.js", "//etc/passwd",
                 "/api/../../etc/hostname", "/api/info/../../pyproject.toml"):
        status, body = get(server, path)
        assert status == 404, path
        assert "root:" not in json.dumps(body)


def test_page_is_self_contained(server):
    status, page = get(server, "/")
    assert status == 200
    assert "window.emscaleViewer" in page and "/*VIEWER_JS*/" not in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere: works offline


@pytest.mark.parametrize("x, y", [(0, 0), (15, 11), (3, 7), (9, 2)])
def test_spectrum_values_equal_the_cube_pixel(server, cube, x, y):
    status, body = get(server, f"/api/spectrum?x={x}&y={y}")
    assert status == 200
    assert body["values"] == cube[y, x].tolist()


def test_region_spectrum_equals_the_numpy_sum(server, cube):
    status, body = get(server, "/api/region?x0=2&x1=11&y0=1&y1=6")
    assert status == 200
    assert body["values"] == cube[1:6, 2:11].sum(axis=(0, 1), dtype=np.int64).tolist()
    # corners in either order and boxes over the edge: the answer says which box it summed (it echoed the request)
    status, body = get(server, "/api/region?x0=11&x1=2&y0=-5&y1=6")
    assert status == 200 and (body["x0"], body["x1"], body["y0"], body["y1"]) == (2, 11, 0, 6)
    assert body["values"] == cube[0:6, 2:11].sum(axis=(0, 1), dtype=np.int64).tolist()


def test_window_map_equals_the_numpy_sum(server, cube, axes):
    energy = em.Axis.from_dict(axes[2], size=cube.shape[2])
    for lo, hi in [(0.5, 0.9), (1.2, 0.61), (0.0, 5.0)]:  # reversed and overhanging windows too
        status, body = get(server, f"/api/navigator?window={lo},{hi}")
        assert status == 200
        i0 = energy.value_to_index(max(min(lo, hi), energy.low))
        i1 = energy.value_to_index(min(max(lo, hi), energy.high))
        assert body["channels"] == [i0, i1]
        np.testing.assert_array_equal(decode_map(body), cube[:, :, i0 : i1 + 1].sum(axis=2))
    status, body = get(server, "/api/navigator")
    np.testing.assert_array_equal(decode_map(body), cube.sum(axis=2))


def test_bad_parameters_are_answered_400_naming_them(server):
    status, body = get(server, "/api/spectrum?x=abc&y=0")
    assert status == 400 and "x='abc'" in body["error"]
    status, body = get(server, "/api/spectrum?y=0")
    assert status == 400 and "'x' is missing" in body["error"]
    status, body = get(server, "/api/spectrum?x=16&y=0")
    assert status == 400 and "outside the navigator of 16 x 12" in body["error"]
    status, body = get(server, "/api/navigator?window=7,9")
    assert status == 400 and "outside axis 'Energy'" in body["error"]
    status, body = get(server, "/api/markers?elements=Xx")
    assert status == 400 and "Xx" in body["error"]


def test_markers_are_element_lines_in_the_axis_units(server):
    status, body = get(server, "/api/markers?elements=Fe,o")
    labels = {m["label"]: m["energy"] for m in body["markers"]}
    assert labels["O Ka"] == pytest.approx(0.525, abs=2e-3)
    assert labels["Fe La"] == pytest.approx(0.705, abs=2e-3)
    assert "Fe Ka" not in labels  # 6.4 keV is beyond this 0.1-2.0 keV axis
    status, body = get(server, "/api/markers?elements=O&kind=edge")
    assert [(m["label"], m["energy"]) for m in body["markers"]] == [("O K", pytest.approx(0.532, abs=1e-4))]


def test_eels_markers_are_edge_onsets_in_ev():
    s = em.Signal(np.zeros((2, 3, 400)), axes=[{"navigate": True}, {"navigate": True},
                                               {"name": "Energy loss", "units": "eV", "scale": 1.0, "offset": 250.0}],
                  signal_type="EELS")
    with view(s, open_browser=False) as v:
        body = get(v, "/api/markers?elements=C,Ti,O")[1]
    labels = {m["label"]: m["energy"] for m in body["markers"]}
    assert labels == {"C K": pytest.approx(284.2, abs=0.5), "Ti L2,3": pytest.approx(453.8, abs=1.0),
                      "O K": pytest.approx(532.0, abs=0.5), "Ti L1": pytest.approx(560.9, abs=1.0)}  # EELS onset


def test_a_wavelength_axis_is_offered_no_element_markers(real_dir):
    # the page offered the markers control on a MonoCL spectrum image, and every use of it answered 400
    s = em.load(real_dir / "test-MonoCL_spectrum-SI.dm4", lazy=True)
    assert s.axes[-1].units == "nm"
    with view(s, open_browser=False) as v:
        assert get(v, "/api/info")[1]["marker_kind"] is None
        status, body = get(v, "/api/markers?elements=O")
    assert status == 400 and "element markers need an energy axis in eV or keV; this axis is in 'nm'" in body["error"]


def test_a_pixel_reads_one_storage_block_of_a_lazy_store(lazy_signal, cube):
    # the store's checked array (every chunk verified against its CRC32C), not the dask graph around it
    assert type(storage_array(lazy_signal.data)).__name__ == "StoreArray"
    d = ViewerData(lazy_signal)
    np.testing.assert_array_equal(d.spectrum(9, 5), cube[5, 9])
    assert d.reader.reads == 1
    # Its neighbours in the same 4 x 8 chunk cost no read; the next chunk costs one.
    for x, y in [(8, 4), (15, 7), (10, 6)]:
        np.testing.assert_array_equal(d.spectrum(x, y), cube[y, x])
    assert d.reader.reads == 1
    np.testing.assert_array_equal(d.spectrum(7, 5), cube[5, 7])
    assert d.reader.reads == 2


def test_a_derived_lazy_signal_is_read_through_its_graph(lazy_signal, cube, axes):
    doubled = em.Signal(lazy_signal.data * 2, axes=axes)
    assert storage_array(doubled.data) is doubled.data
    d = ViewerData(doubled)
    np.testing.assert_array_equal(d.spectrum(4, 3), 2 * cube[3, 4])
    np.testing.assert_array_equal(d.window_map((0.5, 0.7))[0], 2 * cube[:, :, 20:31].sum(axis=2))


def test_window_maps_are_cached(lazy_signal, cube):
    d = ViewerData(lazy_signal)
    m1, ch = d.window_map((0.3, 0.5))
    assert d.progress()["done"] == d.progress()["total"] == cube[:, :, ch[0] : ch[1] + 1].nbytes
    m2, _ = d.window_map((0.3, 0.5))
    assert m2 is m1


def test_line_scans_and_single_spectra_are_shown(cube, axes):
    line = ViewerData(em.Signal(cube[4], axes=axes[1:]))
    assert (line.width, line.height) == (16, 1)
    np.testing.assert_array_equal(line.spectrum(5), cube[4, 5])
    np.testing.assert_array_equal(line.region(2, 6), cube[4, 2:6].sum(axis=0))
    one = ViewerData(em.Signal(cube[4, 5], axes=axes[2:]))
    assert (one.width, one.height) == (1, 1)
    np.testing.assert_array_equal(one.window_map()[0], [[cube[4, 5].sum()]])


def test_signals_the_viewer_cannot_show_are_refused_clearly():
    # images over two navigation axes (4D-STEM): which one to show is the user's choice
    with pytest.raises(DataError, match=r"holds images \(.*\) over 2 navigation axes .*: pick one position"):
        ViewerData(em.Signal(np.zeros((2, 3, 4, 5)), axes=[{"navigate": True}] * 2 + [{"navigate": False}] * 2))
    with pytest.raises(DataError, match=r"one or two signal axes are needed \(three without a navigation axis\), "
                                        "this signal has 3"):
        ViewerData(em.Signal(np.zeros((2, 3, 4, 5)), axes=[{"navigate": True}] + [{"navigate": False}] * 3))
    with pytest.raises(DataError, match="at most two axes; this signal has 3"):
        ViewerData(em.Signal(np.zeros((2, 3, 4, 5))))


@pytest.mark.parametrize("lazy", [False, True])
def test_a_stack_of_images_is_read_as_a_spectrum_image_through_the_stack(tmp_path, lazy):
    """A tilt series (images along a non-uniform tilt axis) was refused ("this signal holds images, not spectra"):
    the image is now the map, a pixel's values through the stack its spectrum, a window of one tilt that image."""
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 30000, (5, 6, 7), dtype=np.int16)
    tilts = [-60.0, -20.0, 0.0, 35.0, 70.0]
    s = em.Signal(stack, axes=[{"name": "tilt", "units": "deg", "coords": tilts},
                               {"name": "y", "units": "nm", "scale": 2.0}, {"name": "x", "units": "nm", "scale": 2.0}],
                  signal_type="image")
    if lazy:  # a store: read a block of pixels through every image, never the whole stack at once
        s.save(tmp_path / "t.zarr")
        s = em.load(tmp_path / "t.zarr", lazy=True)
    d = ViewerData(s)
    assert (d.width, d.height) == (7, 6) and d.energy.name == "tilt"
    np.testing.assert_array_equal(d.spectrum(3, 4), stack[:, 4, 3])
    np.testing.assert_array_equal(d.window_map((35.0, 35.0))[0], stack[3])
    np.testing.assert_array_equal(d.window_map((-20.0, 0.0))[0], stack[1:3].sum(axis=0, dtype=np.int64))
    np.testing.assert_array_equal(d.region(1, 3, 2, 4), stack[:, 2:4, 1:3].sum(axis=(1, 2), dtype=np.int64))
    # its sinograms: slices along y, images of (tilt, x); a pixel's values run along y
    sino = ViewerData(s, along=1)
    assert (sino.width, sino.height) == (7, 5) and sino.energy.name == "y"
    np.testing.assert_array_equal(sino.window_map((4.0, 4.0))[0], stack[:, 2, :])
    np.testing.assert_array_equal(sino.spectrum(6, 3), stack[3, :, 6])
    with view(s, open_browser=False) as v:
        info = get(v, "/api/info")[1]
        assert info["images"] and info["energy"]["values"] == tilts and info["marker_kind"] is None
        assert [a["name"] for a in info["nav_axes"]] == ["x", "y"]
        assert info["sections"] == ["tilt", "y", "x"] and info["along"] == 0
        side = get(v, "/api/info?along=2")[1]
        assert [a["name"] for a in side["nav_axes"]] == ["y", "tilt"] and side["energy"]["name"] == "x"
        assert get(v, "/api/spectrum?x=4&y=1&along=2")[1]["values"] == stack[1, 4, :].tolist()
        assert get(v, "/api/info?along=3")[0] == 400
    one = ViewerData(em.Signal(stack[2], axes=[{"name": "y"}, {"name": "x"}], signal_type="image"))
    assert (one.width, one.height) == (7, 6) and one.energy.size == 1
    np.testing.assert_array_equal(one.window_map()[0], stack[2])
    # a volume (a reconstruction: three signal axes) slice by slice along its first numpy axis
    volume = ViewerData(em.Signal(stack, axes=[{"name": "z", "navigate": False}, {"name": "y", "navigate": False},
                                               {"name": "x", "navigate": False}]))
    assert volume.energy.name == "z" and [a.name for a in volume.image_axes] == ["x", "y"]
    np.testing.assert_array_equal(volume.window_map((4, 4))[0], stack[4])


def test_a_window_over_a_stack_in_acquisition_order_is_one_image_or_refused():
    """Tilts in acquisition order (0, 20, -20, 40, -40): the window -20..20 summed the images at 20 and -20 only
    (channels 1..2) and 0..40 took -20 with them; one tilt is its image, a range is refused by name."""
    stack = np.arange(5 * 3 * 4, dtype=np.int16).reshape(5, 3, 4)
    s = em.Signal(stack, axes=[{"name": "tilt", "units": "deg", "coords": [0.0, 20.0, -20.0, 40.0, -40.0]},
                               {"name": "y"}, {"name": "x"}], signal_type="image")
    d = ViewerData(s)
    np.testing.assert_array_equal(d.window_map((40.0, 40.0))[0], stack[3])
    with pytest.raises(ValueError, match="'tilt' holds its values out of order"):
        d.window_map((-20.0, 20.0))


def test_a_second_cube_gives_its_own_numbers(make_cube, axes):
    cube = make_cube((5, 7, 33), seed=11).astype(np.float32) / 3
    with view(em.Signal(cube, axes=axes), open_browser=False) as v:
        assert get(v, "/api/spectrum?x=6&y=4")[1]["values"] == cube[4, 6].astype(np.float64).tolist()
        body = get(v, "/api/navigator?window=0.2,0.4")[1]
        assert body["channels"] == [5, 15]
        # sent as float32: rounded to 2^-24 of each value, as an image needs
        np.testing.assert_allclose(decode_map(body), cube[:, :, 5:16].sum(axis=2, dtype=np.float64), rtol=2**-24)
    assert v.closed


def test_the_navigator_is_sent_in_four_bytes_a_pixel_where_nothing_visible_is_lost(cube, axes):
    """The map was sent as float64: 11 MB of base64 for 1024 x 1024 pixels, for an image of 256 colours."""
    floats = cube / 3.0
    big = np.full(cube.shape[:2] + (2,), 1e300)  # beyond float32: would turn infinite
    small = np.full(cube.shape[:2] + (2,), 1e-300)  # below float32's normal numbers: would turn 0
    counts = np.full(cube.shape[:2] + (2,), 2**31 - 1, dtype=np.int64)  # sums beyond int32
    cases = [(cube, "<i4", cube.sum(-1, dtype=np.int64), 0.0), (floats, "<f4", floats.sum(-1), 2**-24),
             (big, "<f8", big.sum(-1), 0.0), (small, "<f8", small.sum(-1), 0.0),
             (counts, "<f4", counts.sum(-1, dtype=np.float64), 2**-24)]
    for data, dtype, expected, rtol in cases:
        with view(em.Signal(data, axes=axes, signal_type="EDS_TEM"), open_browser=False) as v:
            body = get(v, "/api/navigator")[1]
        assert body["dtype"] == dtype
        assert len(base64.b64decode(body["data"])) == np.dtype(dtype).itemsize * cube.shape[0] * cube.shape[1]
        np.testing.assert_allclose(decode_map(body), expected, rtol=rtol, atol=0)
        assert body["max"] == expected.max()  # the stated range stays exact


def test_main_view_serves_a_file_until_closed(lazy_signal, tmp_path, cube):
    from emscale.viewer import main_view

    lines, seen = [], {}

    def check(server):
        seen["spectrum"] = get(server, "/api/spectrum?x=5&y=6")[1]["values"]
        server.close()

    path = tmp_path / "again.zarr"
    lazy_signal.save(path)
    assert main_view(path, no_browser=True, out=lines.append, on_start=check) == 0
    assert lines[0].startswith(f"emscale viewer of {path} at http://127.0.0.1:") and "token=" in lines[0]
    assert seen["spectrum"] == cube[6, 5].tolist()


def test_main_view_asks_which_signal_of_a_file_with_several(monkeypatch, cube, axes):
    from emscale.viewer import main_view

    two = [em.Signal(cube, axes=axes, title="EDS"), em.Signal(cube[..., :10], axes=axes, title="EELS")]
    monkeypatch.setattr("emscale.io.load", lambda path, lazy, index: two if index is None else two[index])
    with pytest.raises(DataError, match=r"x.emd holds 2 signals \(0: 'EDS' untyped \(16, 12\|96\); 1: 'EELS' untyped "
                                        r"\(16, 12\|10\)\); "
                                        r"choose one with --index N"):
        main_view("x.emd", no_browser=True, out=lambda line: None)
    lines = []
    assert main_view("x.emd", index=1, no_browser=True, out=lines.append, on_start=lambda s: s.close()) == 0
    assert lines[0].startswith("emscale viewer of x.emd at http://127.0.0.1:")


def test_in_jupyter_the_viewer_is_an_inline_frame_of_its_page(cube, axes):
    with view(em.Signal(cube, axes=axes), open_browser=False) as v:
        html = v._repr_html_()
        assert f'src="{v.url}"' in html and html.startswith("<iframe")
    assert "closed" in repr(v)
    assert "<iframe" not in v._repr_html_() and "closed" in v._repr_html_()  # no frame of a dead port


def test_x_ray_markers_leave_out_lines_the_beam_cannot_excite(axes):
    s = em.Signal(np.zeros((2, 2, 1000), np.uint16), signal_type="EDS_SEM",
                  axes=[axes[0], axes[1], {"name": "Energy", "units": "keV", "scale": 0.02}],
                  metadata={"Acquisition_instrument": {"SEM": {"beam_energy": 5.0}}})
    with view(s, open_browser=False) as v:
        labels = [m["label"] for m in get(v, "/api/markers?elements=Fe")[1]["markers"]]
    assert "Fe La" in labels and "Fe Ka" not in labels  # Fe K edge 7.1 keV > 5 kV beam
    s.metadata["Acquisition_instrument"]["SEM"]["beam_energy"] = 15.0
    with view(s, open_browser=False) as v:
        labels = [m["label"] for m in get(v, "/api/markers?elements=Fe")[1]["markers"]]
    assert "Fe Ka" in labels and "Fe Kb" not in labels  # the element's main line only
    with view(s, open_browser=False) as v:
        labels = [m["label"] for m in get(v, "/api/markers?elements=Fe&lines=all")[1]["markers"]]
    assert "Fe Ka" in labels and "Fe Kb" in labels


BRUKER_MAP = "30x30_instructively_packed_16bit_compressed.bcf"


def test_x_ray_markers_default_to_each_elements_main_line(real_dir):
    """The Bruker map's 16 elements (its metadata) drew 72 markers, every alpha and beta line (Mg, Al, Si, P Lb3/Lb4
    at 0.09-0.18 keV among them, far from any peak of theirs): now the one line each element's name picks in
    line_maps (the metadata's own Sample.xray_lines), and every line with ``lines=all``."""
    s = em.load(real_dir / BRUKER_MAP, index=1)
    with view(s, open_browser=False) as v:
        elements = ",".join(get(v, "/api/info")[1]["elements"])
        main = get(v, f"/api/markers?elements={elements}")[1]["markers"]
        every = get(v, f"/api/markers?elements={elements}&lines=all")[1]["markers"]
        status, body = get(v, "/api/markers?elements=Fe&lines=some")
    assert len(main) == 16 and len(every) == 72
    assert sorted(m["label"].replace(" ", "_") for m in main) == sorted(s.metadata["Sample"]["xray_lines"])
    assert status == 400 and "lines must be 'main' or 'all', not 'some'" in body["error"]


@pytest.mark.parametrize("metadata, signal_type, dtype, units, label", [
    ({}, "EDS_TEM", np.uint16, "counts", "Counts"),
    ({}, "", np.float64, "", "Intensity"),
    ({"Signal": {"quantity": "Electrons (Counts)"}}, "EELS", np.float64, "Counts", "Electrons (Counts)"),
    ({"Signal": {"quantity": "Absorbance"}}, "", np.float64, "Absorbance", "Absorbance"),
])
def test_info_says_the_axis_uniformity_and_what_the_values_are(cube, axes, metadata, signal_type, dtype, units,
                                                                 label):
    """``y_label``, the static plots' axis title, was not served: the page's spectrum axis and colour bar had none."""
    s = em.Signal(cube.astype(dtype), axes=axes, signal_type=signal_type, metadata=metadata)
    with view(s, open_browser=False) as v:
        status, info = get(v, "/api/info")
    assert status == 200 and info["energy"]["uniform"] is True and info["y_units"] == units
    assert info["y_label"] == label


def test_complex_data_are_refused_by_the_viewer(cube, axes):
    s = em.Signal(cube * (1 + 1j), axes=axes)
    with pytest.raises(DataError, match="complex values; the viewer needs real data"):
        view(s, open_browser=False)


def test_nan_values_are_skipped_and_unmeasured_positions_are_no_data(cube, axes):
    # 0.5 % NaN values blanked 64 % of the navigator and nulled the region spectrum; a sparse scan's unmeasured
    # positions were served as measured spectra of zero counts
    data = cube.astype(np.float64)
    rng = np.random.default_rng(1)
    data.flat[rng.choice(data.size, data.size // 200, replace=False)] = np.nan
    with view(em.Signal(data, axes=axes, signal_type="EDS_TEM"), open_browser=False) as v:
        _, nav = get(v, "/api/navigator")
        np.testing.assert_allclose(decode_map(nav), np.nansum(data, axis=-1))
    # a pixel with no finite value is missing data, not 0 counts on the map (np.nansum gave 0)
    data[3, 5, :] = np.nan
    with view(em.Signal(data, axes=axes, signal_type="EDS_TEM"), open_browser=False) as v:
        m = decode_map(get(v, "/api/navigator")[1])
        assert np.isnan(m[3, 5]) and np.isfinite(np.delete(m.ravel(), 3 * m.shape[1] + 5)).all()
        _, reg = get(v, "/api/region?x0=0&x1=16&y0=0&y1=12")
        np.testing.assert_allclose(reg["values"], np.nansum(data, axis=(0, 1)))
    sparse = em.Signal(cube, axes=axes, signal_type="EDS_TEM").sample_scan(fraction=0.25, seed=2)
    measured = em.sampling.scan_mask(sparse)
    with view(sparse, open_browser=False) as v:
        _, info = get(v, "/api/info")
        assert info["measured_fraction"] == measured.mean()
        m = decode_map(get(v, "/api/navigator")[1])
        assert np.isnan(m[~measured]).all() and np.array_equal(m[measured], cube.sum(-1)[measured])
        y, x = np.argwhere(~measured)[0]
        assert get(v, f"/api/spectrum?x={x}&y={y}")[1]["values"] == [None] * cube.shape[-1]
        y, x = np.argwhere(measured)[0]
        assert get(v, f"/api/spectrum?x={x}&y={y}")[1]["values"] == cube[y, x].tolist()


def test_64_bit_counts_are_shown_at_their_size_not_wrapped_round(axes):
    """int64 counts of 2^62 summed to 0 on the map and the region (the int64 accumulator wrapped round), and a
    uint64 value above 2^63 was served negative."""
    shape = (3, 4, 8)
    big = np.full(shape, 2**62, dtype=np.int64)
    with view(em.Signal(big, axes=axes, signal_type="EDS_TEM"), open_browser=False) as v:
        m = decode_map(get(v, "/api/navigator")[1])
        np.testing.assert_allclose(m, shape[-1] * 2.0**62)
        _, reg = get(v, "/api/region?x0=0&x1=2&y0=0&y1=2")
        np.testing.assert_allclose(reg["values"], 4 * 2.0**62)
    huge = np.full(shape, 2**63 + 5, dtype=np.uint64)
    with view(em.Signal(huge, axes=axes, signal_type="EDS_TEM"), open_browser=False) as v:
        assert get(v, "/api/spectrum?x=0&y=0")[1]["values"][0] == 2**63 + 5


EDS_ACQUISITION = {"Acquisition_instrument": {"SEM": {"beam_energy": 20.0, "Detector": {"EDS": {
    "elevation_angle": 35.0, "azimuth_angle": 90.0, "live_time": 0.25, "real_time": 70.07}}}}}


def test_info_and_region_give_the_msa_keywords_of_the_acquisition(cube, axes):
    """The exported MSA typed EELS and CL as "EELS" and "CL", no EMSA codes (HyperSpy read a plain Signal1D), and
    said nothing of the acquisition: the Bruker map's 20 kV and 35 / 90 deg detector angles read back as none."""
    s = em.Signal(cube, axes=axes, signal_type="EDS_SEM", metadata=EDS_ACQUISITION)
    with view(s, open_browser=False) as v:
        info = get(v, "/api/info")[1]
        region = get(v, "/api/region?x0=2&x1=5&y0=1&y1=3")[1]
    # no REALTIME: a map's metadata hold the whole map's time (the Bruker map's 70 s), no pixel's
    assert info["msa"] == {"SIGNALTYPE": "EDS", "BEAMKV": 20.0, "ELEVANGLE": 35.0, "AZIMANGLE": 90.0,
                           "LIVETIME": 0.25}
    assert region["msa"] == {**info["msa"], "LIVETIME": 0.25 * 6}  # six pixels counted six times as long
    with view(s.inav[3, 2], open_browser=False) as v:  # one spectrum: its real time is its own
        assert get(v, "/api/info")[1]["msa"]["REALTIME"] == 70.07
    sparse = s.sample_scan(fraction=0.25, seed=2)
    measured = int(em.sampling.scan_mask(sparse)[1:3, 2:5].sum())
    with view(sparse, open_browser=False) as v:  # the unmeasured positions counted nothing
        assert get(v, "/api/region?x0=2&x1=5&y0=1&y1=3")[1]["msa"]["LIVETIME"] == 0.25 * measured
    eels = em.Signal(cube, axes=axes, signal_type="EELS", metadata={"Acquisition_instrument": {"TEM": {
        "beam_energy": 300.0, "convergence_angle": 21.4, "Detector": {"EELS": {"collection_angle": 3.3},
                                                                     "EDS": {"elevation_angle": 18.0}}}}})
    with view(eels, open_browser=False) as v:  # the EDS detector recorded alongside is not this spectrum's
        assert get(v, "/api/info")[1]["msa"] == {"SIGNALTYPE": "ELS", "BEAMKV": 300.0, "CONVANGLE": 21.4,
                                                 "COLLANGLE": 3.3}
    for signal_type, code in (("CL_SEM", {"SIGNALTYPE": "CLS"}), ("EDS_TEM", {"SIGNALTYPE": "EDS"}), ("", {})):
        with view(em.Signal(cube, axes=axes, signal_type=signal_type), open_browser=False) as v:
            assert get(v, "/api/info")[1]["msa"] == code


def _contrast_maps() -> dict:
    """Maps (as one-channel cubes) whose automatic contrast the viewer got wrong, or must keep right."""
    rng = np.random.default_rng(0)
    sparse = np.zeros(128 * 128)  # 0.6 % of the pixels occupied at 1-10 counts
    where = rng.choice(sparse.size, int(0.006 * sparse.size), replace=False)
    sparse[where] = rng.integers(1, 11, where.size)
    hot = rng.poisson(2560, (64, 64)).astype(float)
    hot[5, 5] = 60000 * 128  # one pixel of 60 000 counts in each of 128 channels
    yy, xx = np.mgrid[0:40, 0:50]
    nan = np.sin(xx / 7.0) * np.cos(yy / 9.0) + 2.0
    nan[3:6, 10:30] = np.nan
    return {"sparse": sparse.reshape(128, 128), "hot pixel": hot, "smooth": 100.0 + xx + 2.0 * yy,
            "constant": np.full((10, 12), 7.0), "NaNs": nan}


@pytest.mark.parametrize("name, expected", [("sparse", (0.0, 10.0)), ("hot pixel", (2380.0, 2743.0)),
                                            ("smooth", (100.0, 227.0)), ("constant", (7.0, 7.0)),
                                            ("NaNs", (1.0, 3.0))])
def test_the_navigator_s_colour_limits_are_the_static_figures(name, expected):
    """The page's automatic contrast took the 0.5-99.5th percentiles: a sparse map of 1-10 counts opened at (0, 2),
    90 % of its occupied pixels at the top colour. The server now sends the static figures' (``Signal.plot``'s
    image_limits): the full range, unless an isolated spike or a few pixels stretch it (a hot pixel), then the
    rest's (the hot pixel's map: its every other pixel, 2380-2743; colour_limits alone also dropped the lowest,
    2401-2733, where Signal.plot no longer does)."""
    from emscale.plotting import image_limits

    m = _contrast_maps()[name]
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "Energy", "units": "keV"}]
    with view(em.Signal(m[..., None], axes=axes), open_browser=False) as v:
        body = get(v, "/api/navigator")[1]
    assert body["clim"] == list(image_limits(m)[:2])
    assert body["clim"] == pytest.approx(expected, abs=0.01)
    assert body["max"] == np.nanmax(m)  # the hot pixel stays on the map; the colour bar says it lies beyond
