"""A DigitalMicrograph tilt series (angles calibrated on the stack's navigation axis) and stacks of single images.

No DM tilt series is among the shared real files and RosettaSciIO does not write DM, so the test writes a DM3
file byte by byte in the documented tag-tree layout (the layout RosettaSciIO's reader parses: a big-endian
header, tag groups and ``%%%%``-delimited data tags, little-endian values) and loads it through ``em.load``: the
whole real reading path (RosettaSciIO's DM reader, emscale's axis conversion, ``as_tilt_series``) runs on it.
"""

import struct

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import DataError
from emscale.tomography import angles_of, as_tilt_series, tilt_series

# DM3 encoded types: 3 long, 6 float, 7 double, 4 uint16 (strings are arrays of it), 20 array
_SIMPLE = {int: (3, "<i"), float: (7, "<d")}


def _data_tag(name: str, value) -> bytes:
    if isinstance(value, str):
        codes = [ord(c) for c in value]
        info, payload = [20, 4, len(codes)], struct.pack(f"<{len(codes)}H", *codes)
    elif isinstance(value, np.ndarray):
        info, payload = [20, 6, value.size], value.astype("<f4").tobytes()
    else:
        enc, fmt = _SIMPLE[type(value)]
        info, payload = [enc], struct.pack(fmt, value)
    head = struct.pack(">bh", 21, len(name)) + name.encode() + b"%%%%"
    return head + struct.pack(f">{1 + len(info)}l", len(info), *info) + payload


def _group(tags: dict | list) -> bytes:
    """A tag group: a ``list`` holds unnamed entries; ``dict`` / ``list`` values are sub-groups, the rest data."""
    items = [("", v) for v in tags] if isinstance(tags, list) else list(tags.items())
    body = b""
    for name, value in items:
        if isinstance(value, dict | list):
            body += struct.pack(">bh", 20, len(name)) + name.encode() + _group(value)
        else:
            body += _data_tag(name, value)
    return struct.pack(">bbl", 1, 0, len(items)) + body


def write_dm3(path, data: np.ndarray, calibrations, name="tilt series", image_tags=None) -> None:
    """A DM3 file holding the float32 image stack ``data`` (numpy order) with one ``(origin, scale, units)`` per
    axis in DM order (x, y, z: the reverse of numpy's); DM's offset is ``-origin * scale``."""
    dims = [{"Origin": float(o), "Scale": float(s), "Units": u} for o, s, u in calibrations]
    image = {
        "ImageData": {
            "Calibrations": {"Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": ""}, "Dimension": dims},
            "Data": np.ascontiguousarray(data, np.float32).ravel(),
            "DataType": 2,  # float32
            "Dimensions": list(data.shape[::-1]),
            "PixelDepth": 4,
        },
        "ImageTags": image_tags or {"Acquisition": {"Device": {"Name": "test"}}},
        "Name": name,
    }
    root = _group({"ImageList": [image]})
    with open(path, "wb") as f:
        f.write(struct.pack(">lll", 3, len(root) + 12, 1) + root)


def _stack(seed, n=9):
    rng = np.random.default_rng(seed)
    return rng.random((n, 12, 16)).astype(np.float32)


@pytest.mark.parametrize("seed, start, step, units", [(1, -60.0, 15.0, "deg"), (2, -70.0, 2.5, "°")])
def test_dm_tilt_series_angles_from_the_navigation_axis(tmp_path, seed, start, step, units):
    data = _stack(seed)
    path = tmp_path / "series.dm3"
    # x, y: 0.25 nm pixels; z (the stack): the tilt angle, offset = -origin * scale
    write_dm3(path, data, [(0, 0.25, "nm"), (0, 0.25, "nm"), (-start / step, step, units)])
    s = em.load(path)
    assert s.nav_shape == (9,) and s.sig_shape == (16, 12)
    ts = as_tilt_series(s, tilt_axis="y")
    np.testing.assert_allclose(angles_of(ts), start + step * np.arange(9))
    assert ts.axis("tilt").units == "deg"
    np.testing.assert_array_equal(ts.data, data)
    assert ts.axis("x").scale == 0.25 and ts.axis("x").units == "nm"
    assert [e["op"] for e in ts.history] == ["load", "as_tilt_series"]
    np.testing.assert_array_equal(em.replay(ts.history).data, ts.data)


def test_dm_stack_in_radians_becomes_degrees(tmp_path):
    path = tmp_path / "rad.dm3"
    write_dm3(path, _stack(3), [(0, 1.0, "nm"), (0, 1.0, "nm"), (4, np.deg2rad(10.0), "rad")])
    ts = as_tilt_series(em.load(path))
    np.testing.assert_allclose(angles_of(ts), np.arange(-40, 41, 10.0), atol=1e-9)


def test_uncalibrated_dm_stack_needs_the_angles_given(tmp_path):
    path = tmp_path / "plain.dm3"
    write_dm3(path, _stack(4), [(0, 1.0, "nm"), (0, 1.0, "nm"), (0, 1.0, "")])
    s = em.load(path)
    with pytest.raises(DataError, match="not calibrated in degrees"):
        as_tilt_series(s)
    angles = [-60, -45, -20, -5, 0, 10, 30, 45, 65]  # non-uniform angles given: explicit coordinates
    ts = as_tilt_series(s, angles=angles)
    np.testing.assert_array_equal(angles_of(ts), angles)
    assert not ts.axis("tilt").is_uniform


def test_stack_of_single_dm_images_with_given_angles(tmp_path):
    """Single images (one DM file per tilt, as a tomography acquisition may leave them) and their angles."""
    data = _stack(5, n=5)
    angles = [-50.0, -20.0, 0.0, 25.0, 55.0]
    images = []
    for i, im in enumerate(data):
        write_dm3(tmp_path / f"tilt_{i:02d}.dm3", im, [(0, 0.5, "nm"), (0, 0.5, "nm")], name=f"tilt {i}")
        images.append(em.load(tmp_path / f"tilt_{i:02d}.dm3"))
    assert images[0].nav_ndim == 0 and images[0].sig_shape == (16, 12)
    ts = tilt_series([im.data for im in images], angles, pixel_size=images[0].axis("x").scale, tilt_axis="x")
    np.testing.assert_array_equal(ts.data, data)
    np.testing.assert_array_equal(angles_of(ts), angles)
    assert ts.axis("y").scale == 0.5
    with pytest.raises(DataError, match="4 tilt angles given for 5 projections"):
        tilt_series([im.data for im in images], angles[:4])
