"""The viewer in a real headless Chromium: click a pixel, drag a region and an energy window, read back the page.

Screenshots go to ``test-artifacts/`` (or ``$EMSCALE_ARTIFACTS``) for a person to look at; without Chromium
and chromedriver the tests skip.
"""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.viewer import view


@pytest.fixture(scope="module")
def page(browser, lazy_signal):
    with view(lazy_signal, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.mapsLoaded >= 1 && s.spectraDrawn >= 1")
        yield browser


def state(driver, expr: str):
    return driver.execute_script(f"const s = window.emscaleViewer.state; return {expr};")


def wait(driver, condition: str, timeout: float = 10.0):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: state(d, f"!!({condition})"))


def at(driver, canvas_id: str, client_xy):
    """(element, dx, dy): the offset of a client point from the centre of a canvas (selenium's origin)."""
    el = driver.find_element("id", canvas_id)
    r = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", el)
    return el, client_xy[0] - (r["left"] + r["width"] / 2), client_xy[1] - (r["top"] + r["height"] / 2)


def pixel(driver, x, y):
    return at(driver, "nav", driver.execute_script(f"return window.emscaleViewer.pixelToClient({x}, {y});"))


def chain(driver):
    from selenium.webdriver.common.action_chains import ActionChains

    return ActionChains(driver, duration=20)


def test_the_page_loads_without_errors(page, cube):
    assert state(page, "s.errors") == []
    severe = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert severe == []
    assert state(page, "[s.info.width, s.info.height]") == [16, 12]
    np.testing.assert_array_equal(np.array(state(page, "Array.from(s.map)")).reshape(12, 16), cube.sum(axis=2))


@pytest.mark.parametrize("x, y", [(3, 7), (14, 1)])
def test_clicking_a_pixel_plots_its_spectrum(page, cube, x, y):
    drawn = state(page, "s.spectraDrawn")
    el, dx, dy = pixel(page, x, y)
    chain(page).move_to_element_with_offset(el, dx, dy).click().perform()
    wait(page, f"s.spectraDrawn > {drawn} && s.pixel && s.pixel[0] === {x} && s.pixel[1] === {y}")
    assert state(page, "s.spectrum") == cube[y, x].tolist()
    csv = page.execute_script("return window.emscaleViewer.spectrumCSV();").splitlines()
    assert csv[1] == "Energy (keV),intensity"
    assert [int(line.split(",")[1]) for line in csv[2:]] == cube[y, x].tolist()


def test_exported_msa_reads_back_as_the_spectrum(page, cube, tmp_path):
    import emscale as em

    x, y = state(page, "s.pixel")
    (tmp_path / "p.msa").write_text(page.execute_script("return window.emscaleViewer.spectrumMSA();"), newline="")
    s = em.load(tmp_path / "p.msa")
    np.testing.assert_array_equal(s.data, cube[y, x])
    assert s.axes[-1].scale == pytest.approx(0.02) and s.axes[-1].offset == pytest.approx(0.1)
    assert s.axes[-1].units == "keV"


def test_following_the_mouse_plots_the_pixel_under_it(page, cube):
    page.find_element("id", "hover").click()
    try:
        for x, y in [(6, 2), (12, 10)]:
            el, dx, dy = pixel(page, x, y)
            chain(page).move_to_element_with_offset(el, dx, dy).perform()
            wait(page, f"s.pixel && s.pixel[0] === {x} && s.pixel[1] === {y} && s.pending === 0")
            assert state(page, "s.spectrum") == cube[y, x].tolist()
    finally:
        page.find_element("id", "hover").click()


def test_dragging_a_rectangle_plots_the_region_sum(page, cube):
    drawn = state(page, "s.spectraDrawn")
    el, x0, y0 = pixel(page, 2, 3)
    _, x1, y1 = pixel(page, 9, 8)
    chain(page).move_to_element_with_offset(el, x0, y0).click_and_hold().move_by_offset(
        (x1 - x0) / 2, (y1 - y0) / 2).move_by_offset((x1 - x0) / 2, (y1 - y0) / 2).release().perform()
    wait(page, f"s.spectraDrawn > {drawn} && s.region")
    assert state(page, "s.region") == [2, 10, 3, 9]
    assert state(page, "s.spectrum") == cube[3:9, 2:10].sum(axis=(0, 1)).tolist()


def test_the_axes_name_their_values_and_a_region_reads_its_size(page):
    """The spectrum's y axis and the map's colour bar had no title (the static plots say "Counts"), and a region of
    8 x 6 pixels of 0.5 nm read "sum of 48 pixels x 2..9, y 3..8", its size in pixels only."""
    page.execute_script("window.emscaleViewer.selectRegion([2, 3], [9, 8]);")
    wait(page, "s.region && s.region[0] === 2 && s.region[3] === 9 && s.pending === 0")
    assert page.find_element("id", "specinfo").text == "sum of 48 pixels x 2..9, y 3..8 (4 x 3 nm, 12 nm²)"
    assert state(page, "s.axisTitles") == {"spectrum": "Counts", "colourBar": "Counts, total"}


def test_dragging_an_energy_window_maps_that_window(page, cube, lazy_signal):
    loaded = state(page, "s.mapsLoaded")
    a = page.execute_script("return window.emscaleViewer.energyToClient(0.62);")
    b = page.execute_script("return window.emscaleViewer.energyToClient(0.81);")
    el, xa, ya = at(page, "spec", a)
    chain(page).move_to_element_with_offset(el, xa, ya).click_and_hold().move_by_offset(
        (b[0] - a[0]) / 2, 0).move_by_offset((b[0] - a[0]) / 2, 0).release().perform()
    wait(page, f"s.mapsLoaded > {loaded}")
    i0, i1 = state(page, "s.channels")
    # 0.62 and 0.81 keV on a 0.1 + 0.02 i axis, give or take the mouse's pixel on the 594 px wide plot
    assert abs(i0 - 26) <= 1 and abs(i1 - 35) <= 1
    lo, hi = state(page, "s.window")
    assert lo == pytest.approx(0.1 + 0.02 * i0) and hi == pytest.approx(0.1 + 0.02 * i1)
    shown = np.array(state(page, "Array.from(s.map)")).reshape(12, 16)
    np.testing.assert_array_equal(shown, cube[:, :, i0 : i1 + 1].sum(axis=2))
    # the window holds both end channels, s.isig[lo:hi] stops before hi: the label said "(channels 26..35)", and
    # the same numbers in Python gave one channel less (Bruker map 1.70-1.78 keV: 9 channels here, 8 by isig)
    label = page.find_element("id", "navinfo").text
    assert label.endswith(f"(channels {i0}..{i1}: s.isig[{i0}:{i1 + 1}])"), label
    expression = label.rsplit(": ", 1)[1].rstrip(")")
    in_python = eval(expression, {"s": lazy_signal}).sum(-1).to_numpy()  # noqa: S307 - the label's own expression
    np.testing.assert_array_equal(shown, in_python)


def test_element_markers_and_display_controls(page, artifacts):
    page.find_element("id", "elements").send_keys("Fe, O\n")
    wait(page, "s.markers.length > 0")
    labels = state(page, "s.markers.map(m => m.label)")
    assert "O Ka" in labels and "Fe La" in labels
    page.find_element("id", "navlog").click()
    page.find_element("id", "speclog").click()
    assert state(page, "[s.navLog, s.specLog]") == [True, True]
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "cmap")).select_by_value("inferno")
    assert state(page, "s.cmap") == "inferno"
    shot = artifacts / "viewer.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    assert state(page, "s.errors") == []
    # sixteen elements (a real map's list): labels that would not fit the margin were squeezed unreadable; they
    # name the elements that fit and how many more
    box = page.find_element("id", "elements")
    box.clear()
    box.send_keys("Fe, O, Cu, Si, Al, Mg, Ca, Ti, Cr, Mn, Ni, Zn, C, N, Na, K\n")
    wait(page, "s.markers.length > 10")
    labels = state(page, "s.markerLabels")
    assert labels and all(label["fits"] for label in labels), labels
    assert state(page, "s.errors") == []


def test_a_real_maps_sixteen_elements_get_one_readable_label_each(browser, real_dir, artifacts):
    """The Bruker map opens with its metadata's 16 elements: 72 dashed markers covered 0-7 keV, under 5 labels
    merged past recognition ("Mg · Al +13" over 0.09-2.1 keV, its Mg and Al the L-beta lines at 0.1 keV). Now each
    element's main line, and each its own label ("Fe Ka"), set apart where lines crowd, a leader to its line."""
    s = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", index=1)
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.mapsLoaded >= 1 && s.spectraDrawn >= 1 && s.markers.length > 0")
        assert state(browser, "s.errors") == []
        assert browser.find_element("id", "elements").get_attribute("value").count(",") == 15
        labels = state(browser, "s.markerLabels")
        assert len(state(browser, "s.markers")) == 16 and len(labels) == 16
        assert sorted(label["text"].replace(" ", "_") for label in labels) == sorted(s.metadata["Sample"]["xray_lines"])
        assert all(label["fits"] for label in labels), labels
        assert np.diff(sorted(label["x"] for label in labels)).min() > 10.99  # 10 px of text each: none overprinted
        assert browser.save_screenshot(str(artifacts / "viewer_bruker_markers.png"))
        # every line on demand: the labels merge ("Fe La,Lb1 · O Ka +2") but still fit and never overprint
        browser.find_element("id", "alllines").click()
        wait(browser, "s.markers.length === 72")
        labels = state(browser, "s.markerLabels")
        assert all(label["fits"] for label in labels) and np.diff(sorted(label["x"] for label in labels)).min() > 10.99
        assert browser.save_screenshot(str(artifacts / "viewer_bruker_all_lines.png"))
        assert state(browser, "s.errors") == []


@pytest.mark.parametrize("span, units, shown, factor", [(0.004, "µm", "nm", 1000.0), (50.0, "µm", "µm", 1.0),
                                                        (2e-7, "m", "nm", 1e9), (3000.0, "nm", "µm", 1e-3),
                                                        (5.0, "px", "px", 1.0)])
def test_lengths_are_shown_in_the_unit_that_reads_best(page, span, units, shown, factor):
    got = page.execute_script(f"return window.emscalePlot.lengthUnit({span}, {units!r});")
    assert got["units"] == shown and got["factor"] == pytest.approx(factor)
    bar = page.execute_script(f"return window.emscalePlot.scaleBar({span}, {units!r}).label;")
    assert bar == f"{span * factor:g} {shown}"


def test_msa_of_a_non_uniform_axis_gives_each_channel_its_energy(browser):
    # energy from wavelength: 1239.84 / 400..800 nm, steps from 7.7 to 1.9 meV; XPERCHAN/OFFSET alone put
    # channel 25 at 2.309 eV instead of 2.052
    import emscale as em

    energy = 1239.84 / np.linspace(400, 800, 50)
    d = np.arange(6 * 50, dtype=float).reshape(2, 3, 50) / 7
    s = em.Signal(d, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                           {"name": "Energy", "units": "eV", "coords": energy}])
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        x, y = state(browser, "s.pixel")
        lines = browser.execute_script("return window.emscaleViewer.spectrumMSA();").split("\r\n")
    head = {k.strip("#").strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ln.startswith("#"))}
    assert head["DATATYPE"] == "XY"
    assert head["YUNITS"] == ""  # float values of no stated quantity are not counts
    rows = [ln for ln in lines if ln and not ln.startswith("#")]
    xy = np.array([[float(v) for v in ln.split(",")] for ln in rows])
    np.testing.assert_allclose(xy[:, 0], energy)
    np.testing.assert_allclose(xy[:, 1], d[y, x])
    assert xy[25, 0] == pytest.approx(2.052, abs=1e-3)


def test_a_non_uniform_navigation_axis_is_labelled_with_its_coordinates(browser):
    """A tilt axis in acquisition order (coordinates, no scale) was drawn and labelled from its scale and offset:
    pixel 4 of tilts -60 ... 70 degrees read '4 deg', and the ticks ran 0..6."""
    import emscale as em

    tilts = [-60.0, -45.0, -20.0, 0.0, 5.0, 30.0, 70.0]
    d = np.arange(3 * 7 * 10, dtype=float).reshape(3, 7, 10) / 3
    s = em.Signal(d, axes=[{"name": "y", "navigate": True, "units": "nm", "scale": 2.0, "offset": 10.0},
                           {"name": "tilt", "navigate": True, "units": "deg", "coords": tilts},
                           {"name": "Energy", "units": "keV", "scale": 0.1}])
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        ticks = state(browser, "s.navTicks")
        browser.execute_script("window.emscaleViewer.selectPixel(4, 2);")
        wait(browser, "s.pixel[0] === 4 && s.spectrumLabel.startsWith('pixel x=4')")
        label = state(browser, "s.spectrumLabel")
        np.testing.assert_allclose(state(browser, "Array.from(s.map)"), d.sum(-1).ravel(), rtol=2**-24)
        assert state(browser, "s.errors") == []
    # six ticks on seven tilts: each at the centre of its pixel, labelled with that pixel's tilt
    at = [round(f * 7 - 0.5) for f, _ in ticks["x"]]
    assert at == [0, 1, 2, 4, 5, 6] and [f for f, _ in ticks["x"]] == pytest.approx([(i + 0.5) / 7 for i in at])
    assert [v for _, v in ticks["x"]] == [tilts[i] for i in at]
    # the uniform axis as before: pixels 0..2 span 9..15 nm (10 + 2 i, half a pixel either side)
    assert [v for _, v in ticks["y"]] == [9, 10, 11, 12, 13, 14, 15]
    assert [f for f, _ in ticks["y"]] == pytest.approx([(v - 9) / 6 for v in range(9, 16)])
    assert label == "pixel x=4, y=2 (5 deg, 14 nm)"


def test_no_markers_control_is_offered_on_a_wavelength_axis(browser):
    """Cathodoluminescence: the elements box was offered (and filled from the metadata), and the page opened with
    the markers' error 'element markers need an energy axis in eV or keV'."""
    import emscale as em

    axes = [{"name": "x", "navigate": True, "units": "nm", "scale": 20.0},
            {"name": "Wavelength", "units": "nm", "scale": 0.5, "offset": 400.0}]
    cl = em.Signal(np.arange(6 * 40, dtype=float).reshape(6, 40), axes=axes, signal_type="CL",
                   metadata={"Sample": {"elements": ["Ga", "N"]}})
    with view(cl, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        assert not browser.find_element("id", "elements").is_displayed()
        assert not browser.find_element("id", "kind").is_displayed()
        assert state(browser, "[s.errors, s.markers]") == [[], []]
    eds = em.Signal(np.ones((6, 40)), axes=[axes[0], {"name": "Energy", "units": "keV", "scale": 0.5}])
    with view(eds, open_browser=False) as server:  # an energy axis keeps the control
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        assert browser.find_element("id", "elements").is_displayed()


def test_a_single_spectrum_is_shown_without_a_navigator(browser):
    """One spectrum: a 1 x 1 navigator drew a made-up axis from -0.5 to 0.5, a scale bar of no unit and a colour bar
    from one value to the same."""
    import emscale as em

    one = em.Signal(np.arange(40.0), axes=[{"name": "Energy", "units": "eV", "scale": 0.5}], signal_type="EELS")
    with view(one, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        assert not browser.find_element("id", "nav-panel").is_displayed()
        assert browser.find_element("id", "spec").is_displayed() and state(browser, "s.errors") == []
    line = em.Signal(np.ones((2, 40)), axes=[{"name": "x", "navigate": True}, {"name": "Energy", "units": "eV"}])
    with view(line, open_browser=False) as server:  # two spectra keep their navigator
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        assert browser.find_element("id", "nav-panel").is_displayed()


def test_msa_writes_a_channel_without_data_as_nan_not_zero(browser, tmp_path):
    """A NaN channel was exported as 0 counts."""
    import emscale as em

    d = np.arange(2 * 3 * 20, dtype=float).reshape(2, 3, 20) + 1
    d[..., 5] = np.nan
    s = em.Signal(d, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                           {"name": "Energy", "units": "keV", "scale": 0.1}])
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        x, y = state(browser, "s.pixel")
        text = browser.execute_script("return window.emscaleViewer.spectrumMSA();")
    assert "#COMMENT     : NaN marks a channel without data" in text
    (tmp_path / "p.msa").write_text(text, newline="")
    back = em.load(tmp_path / "p.msa").data
    assert np.isnan(back[5]) and np.array_equal(np.delete(back, 5), np.delete(d[y, x], 5))


def test_a_tilt_series_opens_at_its_middle_image_and_steps_through_the_stack(browser, artifacts):
    """Images along a tilt axis: the map is the middle image (not the sum of all), the slider shows another, a
    click plots the pixel's values through the stack against the tilts."""
    import emscale as em

    rng = np.random.default_rng(4)
    stack = rng.integers(0, 1000, (5, 12, 16), dtype=np.uint16)
    tilts = [-60.0, -20.0, 0.0, 35.0, 70.0]
    s = em.Signal(stack, axes=[{"name": "tilt", "units": "deg", "coords": tilts},
                               {"name": "y", "units": "nm", "scale": 2.0}, {"name": "x", "units": "nm", "scale": 2.0}],
                  signal_type="image", title="tilt series")
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.mapsLoaded >= 1 && s.spectraDrawn >= 1")
        assert state(browser, "s.errors") == []
        assert browser.find_element("id", "stack").is_displayed()
        np.testing.assert_array_equal(np.array(state(browser, "Array.from(s.map)")).reshape(12, 16), stack[2])
        assert browser.find_element("id", "navinfo").text == "image 2 of 5 (tilt 0 deg)"
        loaded = state(browser, "s.mapsLoaded")
        browser.execute_script("window.emscaleViewer.showImage(4);")
        wait(browser, f"s.mapsLoaded > {loaded}")
        np.testing.assert_array_equal(np.array(state(browser, "Array.from(s.map)")).reshape(12, 16), stack[4])
        assert browser.find_element("id", "stack").get_attribute("value") == "4"
        drawn = state(browser, "s.spectraDrawn")
        browser.execute_script("window.emscaleViewer.selectPixel(9, 3);")
        wait(browser, f"s.spectraDrawn > {drawn}")
        assert state(browser, "s.spectrum") == stack[:, 3, 9].tolist()
        assert "5 images along 'tilt' of 16 x 12" in browser.find_element("id", "shape").text
        assert state(browser, "s.errors") == []
        assert browser.save_screenshot(str(artifacts / "viewer_tilt_series.png"))


def test_a_volume_opens_slice_by_slice(browser):
    """A reconstruction (three signal axes) was refused; it opens at its middle slice along its first axis."""
    import emscale as em

    vol = np.random.default_rng(5).random((6, 10, 8)).astype(np.float32)
    s = em.Signal(vol, axes=[{"name": n, "navigate": False, "units": "nm", "scale": 1.5} for n in "zyx"],
                  signal_type="volume")
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.mapsLoaded >= 1 && s.spectraDrawn >= 1")
        assert state(browser, "s.errors") == []
        assert state(browser, "[s.info.width, s.info.height]") == [8, 10]
        np.testing.assert_array_equal(np.array(state(browser, "Array.from(s.map)"), dtype=np.float32).reshape(10, 8),
                                      vol[3])
        assert browser.find_element("id", "navinfo").text == "slice 3 of 6 (z 4.5 nm)"
        assert "6 slices along 'z' of 8 x 10" in browser.find_element("id", "shape").text
        # the orthogonal sections: slices along y are images of (z, x), along x of (z, y)
        for along, (h, w) in ((1, (6, 8)), (2, (6, 10))):
            loaded = state(browser, "s.mapsLoaded")
            browser.execute_script(f"window.emscaleViewer.sliceAlong({along});")
            wait(browser, f"s.mapsLoaded > {loaded} && s.info.along === {along} && s.spectrum")
            assert state(browser, "[s.info.width, s.info.height]") == [w, h]
            middle = np.take(vol, vol.shape[along] // 2, axis=along)
            np.testing.assert_array_equal(
                np.array(state(browser, "Array.from(s.map)"), dtype=np.float32).reshape(h, w), middle)
            wait(browser, "s.pending === 0")
            assert state(browser, "s.spectrum") == pytest.approx(
                np.take(np.take(vol, h // 2, axis=0), w // 2, axis=0 if along == 2 else 1).tolist())
        assert state(browser, "s.errors") == []


@pytest.mark.parametrize("signal_type, title, acquisition, read_type, read_back", [
    ("EDS_SEM", "EDX: map", {"SEM": {"beam_energy": 20.0, "Detector": {"EDS": {
        "elevation_angle": 35.0, "azimuth_angle": 90.0, "live_time": 0.25}}}}, "EDS_SEM",
     {"beam_energy": 20.0, "Detector.EDS.elevation_angle": 35.0, "Detector.EDS.azimuth_angle": 90.0,
      "Detector.EDS.live_time": 0.25}),
    ("EELS", "EELS (480 to 826.4 eV)", {"TEM": {"beam_energy": 300.0, "convergence_angle": 21.4, "Detector": {
        "EELS": {"collection_angle": 3.3}}}}, "EELS",
     {"beam_energy": 300.0, "convergence_angle": 21.4, "Detector.EELS.collection_angle": 3.3}),
    ("CL", "test-CL_spectrum-SI", {"SEM": {"beam_energy": 5.0}}, "CL", {"beam_energy": 5.0}),
])
def test_exported_msa_reads_back_in_rosettasciio_with_its_title_type_and_acquisition(
        browser, tmp_path, signal_type, title, acquisition, read_type, read_back):
    """RosettaSciIO (HyperSpy's reader) splits each header line at ": ": the title "EDX: pixel (3, 5)" read back
    as '', and "test-CL_spectrum-SI: pixel (10, 0)" failed to read ("too many values to unpack"); SIGNALTYPE
    "EELS" and "CL" are no EMSA codes (a plain Signal1D), and no BEAMKV or detector angle was written."""
    from rsciio.msa import file_reader

    d = np.arange(2 * 3 * 20, dtype=np.int64).reshape(2, 3, 20) + 1
    s = em.Signal(d, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                           {"name": "Energy", "units": "keV", "scale": 0.1}], signal_type=signal_type, title=title,
                  metadata={"Acquisition_instrument": acquisition})
    with view(s, open_browser=False) as server:
        browser.get(server.url)
        wait(browser, "s.ready && s.spectraDrawn >= 1")
        x, y = state(browser, "s.pixel")
        label = state(browser, "s.spectrumLabel")
        (tmp_path / "p.msa").write_text(browser.execute_script("return window.emscaleViewer.spectrumMSA();"),
                                        newline="")
        browser.execute_script("window.emscaleViewer.selectRegion([0, 0], [2, 1]);")
        wait(browser, "s.region && s.pending === 0")
        (tmp_path / "r.msa").write_text(browser.execute_script("return window.emscaleViewer.spectrumMSA();"),
                                        newline="")
    back = file_reader(tmp_path / "p.msa")[0]
    md = back["metadata"]
    assert md["General"]["title"] == f"{title.replace(': ', ' - ')} - {label}"[:64]
    assert md["Signal"]["signal_type"] == read_type
    np.testing.assert_array_equal(back["data"], d[y, x])
    # RosettaSciIO reads the keywords into HyperSpy's TEM places, whatever the microscope
    tem = md["Acquisition_instrument"]["TEM"]
    for path, value in read_back.items():
        node = tem
        for key in path.split("."):
            node = node[key]
        assert node == value, path
    region = file_reader(tmp_path / "r.msa")[0]
    np.testing.assert_array_equal(region["data"], d[:2, :3].sum(axis=(0, 1)))
    if signal_type.startswith("EDS"):  # six pixels: six times the live time of one
        assert region["metadata"]["Acquisition_instrument"]["TEM"]["Detector"]["EDS"]["live_time"] == 0.25 * 6


def test_a_sparse_map_opens_over_its_full_range_and_a_hot_pixel_is_marked_beyond_it(browser, artifacts):
    """The automatic contrast took the 0.5-99.5th percentiles: a sparse map of 1-10 counts on 0.6 % of its pixels
    opened at (0, 2), 90 % of the occupied pixels at the top colour and nothing saying so. Now the static figures'
    rule (Signal.plot's image_limits): (0, 10); an isolated hot pixel is left out of the range (the rest's min-max,
    120-210), and the colour bar says values lie beyond it."""
    rng = np.random.default_rng(0)
    sparse = np.zeros((128 * 128, 4), dtype=np.uint16)
    where = rng.choice(128 * 128, int(0.006 * 128 * 128), replace=False)
    sparse[where, 1] = rng.integers(1, 11, where.size)
    hot = rng.poisson(20, (64, 64, 8)).astype(np.uint16)
    hot[5, 5] = 60000
    axes = [{"name": "y", "navigate": True, "units": "nm", "scale": 0.2},
            {"name": "x", "navigate": True, "units": "nm", "scale": 0.2}, {"name": "Energy", "units": "keV"}]
    for name, data, clim, extend in (("sparse", sparse.reshape(128, 128, 4), [0, 10], "neither"),
                                      ("hot", hot, [120, 210], "max")):
        with view(em.Signal(data, axes=axes, signal_type="EDS_TEM"), open_browser=False) as server:
            browser.get(server.url)
            wait(browser, "s.ready && s.mapsLoaded >= 1 && s.spectraDrawn >= 1")
            assert state(browser, "[s.vmin, s.vmax, s.extend]") == [*clim, extend], name
            assert browser.find_element("id", "vmax").get_attribute("value") == str(clim[1])
            assert state(browser, "s.errors") == []
            assert browser.save_screenshot(str(artifacts / f"viewer_contrast_{name}.png"))


def test_msa_headers_are_ascii_and_a_long_title_is_shortened_whole(browser, tmp_path):
    """A region's title "EDX - sum of 60 pixels ... (16.67 x 10 µm, 166.8 µm²)" was written in UTF-8 (HyperSpy read
    "Âµm") and cut at 64 characters, its closing bracket lost. Now ASCII (µ -> u, ² -> 2, Å -> A), shortened
    clause by clause: the area first, the signal's title in its middle, then the position in micrometres."""
    from rsciio.msa import file_reader

    d = np.arange(12 * 16 * 20, dtype=np.int64).reshape(12, 16, 20) % 97
    axes = [{"name": "y", "navigate": True, "units": "µm", "scale": 1.6667},
            {"name": "x", "navigate": True, "units": "µm", "scale": 1.6667},
            {"name": "Energy", "units": "keV", "scale": 0.1}]
    cases = [("EDX", [3, 4], [12, 9], "EDX - sum of 60 pixels x 3..12, y 4..9 (16.67 x 10 um)"),
             ("Ångström scan: 30x30_instructively_packed_16bit_compressed", [0, 0], [1, 1],
              "Angstro...ressed - sum of 4 pixels x 0..1, y 0..1")]
    for title, a, b, expected in cases:
        with view(em.Signal(d, axes=axes, signal_type="EDS_TEM", title=title), open_browser=False) as server:
            browser.get(server.url)
            wait(browser, "s.ready && s.spectraDrawn >= 1")
            browser.execute_script(f"window.emscaleViewer.selectRegion({a}, {b});")
            wait(browser, "s.region && s.pending === 0")
            assert "µm²" in state(browser, "s.spectrumLabel")  # the page itself keeps its units
            msa = browser.execute_script("return window.emscaleViewer.spectrumMSA();")
        assert msa.isascii()
        (tmp_path / "r.msa").write_text(msa, newline="")
        back = file_reader(tmp_path / "r.msa")[0]
        assert back["metadata"]["General"]["title"] == expected and len(expected) <= 64
        np.testing.assert_array_equal(back["data"], d[a[1]:b[1] + 1, a[0]:b[0] + 1].sum(axis=(0, 1)))
        assert back["axes"][0]["scale"] == pytest.approx(0.1) and back["axes"][0]["units"] == "keV"
