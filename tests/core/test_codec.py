"""The JSON codec: every recorded value comes back as it was; large arrays are written compactly."""

import numpy as np
import pytest

import emscale as em
from emscale.core import codec


@pytest.mark.parametrize("value", [
    np.random.default_rng(0).random((5, 7)) < 0.3, np.random.default_rng(1).random((300, 301)) < 0.1,
    np.zeros((0, 3), bool), np.array(True), np.random.default_rng(2).random(300),
    np.random.default_rng(3).integers(0, 9, (17, 20)).astype(">u2"), np.arange(10, dtype=np.int16),
    np.linspace(0, 1, 4).reshape(2, 2), {"a": (1, slice(2, 8, 2)), "b": [np.float32(0.5), float("nan")]}])
def test_values_come_back_with_their_dtype_and_shape(value):
    back = codec.loads(codec.dumps(value, strict=True))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    else:
        assert back["a"] == value["a"] and back["b"][0] == 0.5 and np.isnan(back["b"][1])


def test_old_array_records_still_read():
    assert codec.decode({"array": [[True, False]], "dtype": "bool"}).tolist() == [[True, False]]


def test_a_given_scan_mask_does_not_swell_the_history(tmp_path):
    # a 1024 x 1024 mask given to sample_scan was recorded as a JSON list of booleans: a 28 MB zarr.json
    from emscale.sampling import random_pattern, scan_mask

    mask = random_pattern((1024, 1024), 0.1, seed=0)
    s = em.Signal(np.ones((1024, 1024), np.uint8), axes=[{"name": "y", "navigate": False},
                                                         {"name": "x", "navigate": False}])
    sparse = s.sample_scan(mask=mask)
    sparse.save(tmp_path / "sparse.zarr")
    attrs = sum(p.stat().st_size for p in (tmp_path / "sparse.zarr").rglob("zarr.json"))
    assert attrs < 1_000_000, attrs  # the packed bits: 131 kB of mask, twice (history and Sampling), base64
    back = em.load(tmp_path / "sparse.zarr")
    assert np.array_equal(scan_mask(back), mask)
    assert np.array_equal(codec.decode(back.history[0]["made_by"][-1]["params"])["mask"], mask)


@pytest.mark.parametrize("tag, message", [
    # a 1.2 kB store whose metadata claimed a 40000 x 40000 mask of no bits made `emscale info` take 1.75 GB
    ({"bits": "", "shape": [40000, 40000]}, r"0 byte\(s\) of bits for a shape \[40000, 40000\]"),
    ({"bits": "AA==", "shape": [3, -5]}, r"shape \[3, -5\] is not a list of sizes"),
    ({"array": [0, 1], "dtype": "V100000000"}, r"dtype 'V100000000' is not one emscale writes"),
    ({"base64": "AAAA", "dtype": "O", "shape": [1]}, r"dtype 'O' is not a number type"),
])
def test_a_tag_that_claims_more_than_it_holds_is_refused(tag, message):
    with pytest.raises(em.DataError, match=message):
        codec.decode({"metadata": {"evil": tag}})


def test_text_arrays_are_as_wide_as_their_text():
    back = codec.decode({"array": ["ab", "c"], "dtype": "<U1000000"})  # 8 MB had the declared width been kept
    assert back.tolist() == ["ab", "c"] and back.itemsize == 8


def test_a_dtype_is_recorded_by_its_name():
    """``em.load(velox, SI_dtype=np.uint8)`` failed: "parameter value <class 'numpy.uint8'> ... cannot be recorded
    in history"; ``SI_dtype="uint8"`` ran. Both are recorded as the name, which numpy takes back."""
    for given in (np.uint8, np.dtype("uint8"), "uint8"):
        assert codec.encode(given) == "uint8" and np.dtype(codec.decode(codec.encode(given))) == np.uint8
    assert codec.encode(np.float32) == "float32"
