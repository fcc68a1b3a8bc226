"""Every real instrument file in ../shared/data/real loads with the shapes, dtypes, calibrations and types its
README lists, and round-trips through the native zarr store exactly."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import emscale as em
from emscale.core.codec import decode, encode


def json_safe(value):
    return encode(value, strict=False)


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _check_roundtrip(s: em.Signal, tmp_path, name="rt.zarr"):
    path = tmp_path / name
    s.save(path)
    r = em.load(path)
    assert isinstance(r, em.Signal)
    assert r.dtype == s.dtype
    np.testing.assert_array_equal(r.to_numpy(), s.to_numpy())
    assert [a.to_dict() for a in r.axes] == [a.to_dict() for a in s.axes]
    assert r.signal_type == s.signal_type
    assert r.title == s.title
    assert r.history == s.history
    # Metadata come back exactly, up to the JSON normalisation of numpy scalars (arrays keep their dtype).
    assert r.metadata == decode(json_safe(s.metadata))
    assert r.original_metadata == decode(json_safe(s.original_metadata))
    # lazily re-opened store gives the same data
    lz = em.load(path, lazy=True)
    assert lz.is_lazy
    np.testing.assert_array_equal(lz.to_numpy(), s.to_numpy())
    return r


def test_bruker_bcf(real_dir, tmp_path):
    path = real_dir / "30x30_instructively_packed_16bit_compressed.bcf"
    digest = _sha(path)
    signals = em.load(path)
    assert isinstance(signals, list) and len(signals) == 2
    image, eds = signals
    assert image.signal_type == "image" and image.shape == (30, 30) and image.dtype == np.uint16
    assert image.nav_ndim == 0 and image.sig_ndim == 2
    assert eds.signal_type == "EDS_SEM"
    assert eds.shape == (30, 30, 2048) and eds.dtype == np.uint16
    assert eds.nav_shape == (30, 30) and eds.sig_shape == (2048,)
    e = eds.sig_axes[0]
    assert e.units == "keV" and e.scale == pytest.approx(0.01, rel=1e-3)
    total = int(eds.sum().data)
    assert 18.0e6 < total < 19.2e6  # README: ~18.6 M counts
    elements = eds.metadata["Sample"]["elements"]
    assert sorted(elements) == sorted("Al C Ca Ce Fe Gd K Mg Na Nd O P Si Sm Th Ti".split())
    # signal_type picks one; history records the load with the file digest
    only = em.load(path, signal_type="EDS_SEM")
    assert isinstance(only, em.Signal) and only.shape == (30, 30, 2048)
    assert only.history[0]["op"] == "load" and only.history[0]["source"]["sha256"] == digest
    _check_roundtrip(eds, tmp_path, "eds.zarr")
    _check_roundtrip(image, tmp_path, "img.zarr")
    assert _sha(path) == digest  # input never modified


def test_eels_si_dm4(real_dir, tmp_path):
    s = em.load(real_dir / "EELS_SI.dm4")
    # the reader's transpose (its axes come in the wrong roles) keeps the type, in the metadata too
    assert s.signal_type == "EELS" and s.metadata["Signal"]["signal_type"] == "EELS"
    assert s.nav_shape == (2, 2) and s.sig_shape == (2048,)
    assert s.dtype == np.float32
    e = s.sig_axes[0]
    assert e.scale == pytest.approx(1.0) and e.units == "eV"
    assert s.history == [s.history[0]] and s.history[0]["op"] == "load"
    _check_roundtrip(s, tmp_path)


def test_eels_spectrum_dm3(real_dir, tmp_path):
    s = em.load(real_dir / "test-EELS_spectrum.dm3")
    assert s.signal_type == "EELS" and s.shape == (2048,) and s.dtype == np.float32
    assert s.nav_ndim == 0
    assert s.sig_axes[0].scale == pytest.approx(0.5) and s.sig_axes[0].units == "eV"
    _check_roundtrip(s, tmp_path)


def test_eds_spectrum_dm3(real_dir, tmp_path):
    s = em.load(real_dir / "test-EDS_spectrum.dm3")
    assert s.signal_type.startswith("EDS") and s.shape == (4096,) and s.dtype == np.uint32
    assert s.sig_axes[0].scale == pytest.approx(0.005, rel=1e-6) and s.sig_axes[0].units == "keV"
    # the reader names this energy axis "x"; it is named from the signal type, as every other file's
    assert s.sig_axes[0].name == "Energy"
    assert s.sum("Energy").to_numpy() == s.to_numpy().sum()
    _check_roundtrip(s, tmp_path)


def test_cl_linescan_dm4(real_dir, tmp_path):
    s = em.load(real_dir / "test-MonoCL_spectrum-SI.dm4")
    assert s.signal_type == "CL"
    assert s.nav_shape == (67,) and s.sig_shape == (1336,) and s.dtype == np.float32
    assert s.sig_axes[0].units == "nm"
    lo, hi = s.sig_axes[0].low, s.sig_axes[0].high
    assert 300 < lo < hi < 1500  # a wavelength range in nm
    _check_roundtrip(s, tmp_path)


def test_velox_emd(velox_emd, tmp_path):
    signals = em.load(velox_emd)
    eels = [s for s in signals if s.signal_type == "EELS"]
    assert len(eels) == 3
    offsets = sorted(round(s.sig_axes[0].offset, 1) for s in eels)
    assert offsets == [-21.5, 480.0, 800.0]
    for s in eels:
        assert s.nav_shape == (20, 16) and s.sig_shape == (2048,) and s.dtype == np.uint16
        assert s.sig_axes[0].scale == pytest.approx(0.1692, rel=1e-4)
    eds_si = [s for s in signals if s.signal_type == "EDS_TEM" and s.nav_ndim == 2]
    assert len(eds_si) == 1 and eds_si[0].nav_shape == (128, 128) and eds_si[0].sig_shape == (4096,)
    picked = em.load(velox_emd, signal_type="EELS")
    assert isinstance(picked, list) and len(picked) == 3
    one = em.load(velox_emd, index=signals.index(eels[0]))
    np.testing.assert_array_equal(one.data, eels[0].data)
    _check_roundtrip(eels[0], tmp_path)


def test_lazy_load_keeps_data_on_disk(real_dir):
    s = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", lazy=True, signal_type="EDS_SEM")
    assert s.is_lazy and "lazy" in repr(s)
    eager = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", signal_type="EDS_SEM")
    np.testing.assert_array_equal(s.sum(axis=(0, 1)).data, eager.sum(axis=(0, 1)).data)
    np.testing.assert_array_equal(s.sum("Energy").data, eager.sum("Energy").data)


def _assert_lazy_as_eager(lz, eager):
    from emscale.core.signal import default_chunks

    assert lz.is_lazy and lz.history[0]["params"]["lazy"] is True
    assert lz.data.chunksize == default_chunks(lz.shape, lz.dtype, lz.nav_ndim)
    got = lz.to_numpy()
    assert got.dtype == eager.dtype and np.array_equal(got, eager.data)


def test_lazy_bcf_survey_image_is_lazy(real_dir):
    """The BCF survey image came back eager (is_lazy False) from ``lazy=True`` while its history said lazy: True:
    RosettaSciIO gives it as numpy. Now dask in emscale's default chunks, bit-identical to the eager load."""
    bcf = real_dir / "30x30_instructively_packed_16bit_compressed.bcf"
    lz = em.load(bcf, index=0, lazy=True)
    assert lz.shape == (30, 30)
    _assert_lazy_as_eager(lz, em.load(bcf, index=0))


def test_lazy_velox_eels_spectrum_images_are_lazy(velox_emd):
    """The Velox EELS spectrum images (indices 14-16) came back eager from ``lazy=True``, as the BCF image."""
    lazy, eager = em.load(velox_emd, signal_type="EELS", lazy=True), em.load(velox_emd, signal_type="EELS")
    assert [s.shape for s in lazy] == [(16, 20, 2048)] * 3
    for lz, e in zip(lazy, eager, strict=True):
        _assert_lazy_as_eager(lz, e)


def test_lazy_velox_eds_cube_is_the_eager_one_and_converts_in_the_memory_of_load_and_save(velox_emd, tmp_path,
                                                                                         traced_peak):
    """RosettaSciIO's lazy read of the EDS spectrum stream holds a sparse COO array of it in memory (int64
    coordinates and values), compiles sparse's indexing in every process and densifies each partition in int64:
    convert of the 128 x 128 x 4096 uint16 cube took 12.7 s and 813 MB, its eager load and save 4.7 s and 407 MB.
    The stream is now read as the eager load reads it: the same signals in the same order, the same numbers, and a
    convert that allocates what a load and save do (one partition at a time: the same on every run)."""

    from emscale.engine.executors import executor_context

    lazy, eager = em.load(velox_emd, lazy=True), em.load(velox_emd)
    assert [(s.title, s.shape, s.dtype) for s in lazy] == [(s.title, s.shape, s.dtype) for s in eager]
    assert lazy[17].shape == (128, 128, 4096) and lazy[17].signal_type == "EDS_TEM"
    _assert_lazy_as_eager(lazy[17], eager[17])
    assert lazy[17].metadata == eager[17].metadata and lazy[17].original_metadata == eager[17].original_metadata
    del lazy, eager

    cube = 128 * 128 * 4096 * 2
    with executor_context("inline"):
        saved = traced_peak(lambda: em.load(velox_emd, index=17).save(tmp_path / "e.zarr"))
        converted = traced_peak(lambda: em.convert(velox_emd, tmp_path / "c.zarr", index=17))
    assert converted < saved + cube // 4, (converted / cube, saved / cube)  # was 4.1 cubes against 2.0
    c, e = em.load(tmp_path / "c.zarr"), em.load(tmp_path / "e.zarr")
    assert c.dtype == np.uint16 and np.array_equal(c.data, e.data)
    assert c.history[0]["params"] == {"lazy": True, "index": 17}


def test_lazy_velox_eds_cube_above_the_dense_budget_stays_sparse(velox_emd, monkeypatch):
    """The lazy read reads the EDS stream densely only where the dense cube is within DENSE_STREAM_BUDGET: a big
    map (1024 x 1024 x 4096 uint16: 8 GiB) stays RosettaSciIO's sparse array (40 bytes a count). The real cube
    (134 MB) with the budget one byte under it keeps the six streams' sparse arrays; at its size exactly, none."""
    import sparse

    from emscale.io import vendor

    def sparse_arrays(s) -> int:
        return sum(isinstance(v, sparse.COO) for v in s.data.__dask_graph__().values())

    cube = 128 * 128 * 4096 * 2
    monkeypatch.setattr(vendor, "DENSE_STREAM_BUDGET", cube)
    assert sparse_arrays(em.load(velox_emd, index=17, lazy=True)) == 0
    monkeypatch.setattr(vendor, "DENSE_STREAM_BUDGET", cube - 1)
    lz = em.load(velox_emd, index=17, lazy=True)
    assert lz.is_lazy and lz.shape == (128, 128, 4096) and sparse_arrays(lz) == 6
    got = lz.to_numpy()
    assert got.dtype == np.uint16 and int(got.sum()) == 11093
    assert np.array_equal(got, em.load(velox_emd, index=17).data)


def test_index_and_signal_type_must_agree(real_dir):
    """Given both, signal_type was ignored: index 0 of the bcf (an image) came back for signal_type="EDS_SEM"."""
    from emscale.core.errors import FileFormatError

    path = real_dir / "30x30_instructively_packed_16bit_compressed.bcf"
    with pytest.raises(FileFormatError, match="signal 0 is of type 'image', not 'EDS_SEM'; give the index or the "
                                              "signal type, not both$"):  # words for Python and --index alike
        em.load(path, signal_type="EDS_SEM", index=0)
    assert em.load(path, signal_type="EDS_SEM", index=1).signal_type == "EDS_SEM"


def test_index_counts_from_the_end_and_bad_options_are_named(real_dir):
    from emscale.core.errors import FileFormatError

    path = real_dir / "30x30_instructively_packed_16bit_compressed.bcf"
    last = em.load(path, index=-1)  # the last, as in Python; recorded as its position, so replay finds it
    assert last.signal_type == "EDS_SEM" and last.history[0]["params"]["index"] == 1
    assert np.array_equal(em.replay(last.history).data, last.data)
    with pytest.raises(FileFormatError, match="index -3 out of range, the file holds 2 signals"):
        em.load(path, index=-3)
    with pytest.raises(ValueError, match="index must be a whole number.*'a'"):  # a raw TypeError from '<='
        em.load(path, index="a")
    with pytest.raises(ValueError, match="lazy must be True or False, got 'yes'"):  # was taken as true
        em.load(path, lazy="yes")


def test_an_unknown_reader_keyword_is_the_callers_mistake(real_dir):
    """em.load(f, foo=1) was reported as a file that "could not be read (corrupt or truncated?) -- TypeError"."""
    with pytest.raises(em.ArgumentError, match=r"the DigitalMicrograph reader takes no keyword 'foo' \(it takes "
                                               r"order, optimize.*\) \(em.load passes keywords"):
        em.load(real_dir / "test-EELS_spectrum.dm3", foo=1)
    assert em.load(real_dir / "test-EELS_spectrum.dm3", optimize=False).signal_type == "EELS"


def test_an_unknown_signal_type_for_a_single_signal_is_warned(real_dir, tmp_path):
    """signal_type="banana" labelled the EELS spectrum silently; a known type (HyperSpy's relabelling) is quiet."""
    import warnings

    path = real_dir / "test-EELS_spectrum.dm3"
    with pytest.warns(UserWarning, match=r"signal_type 'eels' is no known signal type and the file's signal is "
                                         r"EELS; did you mean 'EELS'\?"):
        em.load(path, signal_type="eels")
    with pytest.warns(UserWarning, match="signal_type 'banana' is no known"):
        assert em.load(path, signal_type="banana").signal_type == "banana"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        relabelled = em.load(path, signal_type="EDS_TEM")
    # the metadata said EELS still, and kept saying it through save and load (a reviewer)
    assert relabelled.signal_type == relabelled.metadata["Signal"]["signal_type"] == "EDS_TEM"
    relabelled.save(tmp_path / "r.zarr")
    assert em.load(tmp_path / "r.zarr").metadata["Signal"]["signal_type"] == "EDS_TEM"


@pytest.mark.parametrize("name, found, asked", [("EELS_SI.dm4", "EELS", "EDS"),
                                                ("test-MonoCL_spectrum-SI.dm4", "CL", "EELS")])
def test_convert_signal_type_picks_and_never_relabels_a_single_signal(real_dir, tmp_path, capsys, name, found, asked):
    """`convert --signal-type EDS` of an EELS dm4 (or EELS of a CL line scan in nm) wrote a store labelled EDS, exit
    0, where the option says it picks the signal of that type in a multi-signal file. em.load still relabels."""
    from emscale.cli import main

    with pytest.raises(em.FileFormatError, match=rf"{name} holds one signal, of type '{found}'; signal_type= picks "
                                                 rf"among several signals; to relabel it, as HyperSpy's load does: "
                                                 rf"em.load\(path, signal_type='{asked}'\) in Python, and save that"):
        em.convert(real_dir / name, tmp_path / "x.zarr", signal_type=asked)
    assert main(["convert", str(real_dir / name), str(tmp_path / "x.zarr"), "--signal-type", asked]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"emscale: error: {real_dir / name} holds one signal, of type '{found}'; --signal-type "
                           f"picks among several signals; to relabel it, as HyperSpy's load does: em.load(path, "
                           f"signal_type='{asked}') in Python, and save that"), err
    assert not (tmp_path / "x.zarr").exists()
    em.convert(real_dir / name, tmp_path / "x.zarr", signal_type=found)  # its own type picks it
    assert em.load(tmp_path / "x.zarr").signal_type == found
    assert em.load(real_dir / name, signal_type=asked).signal_type == asked  # HyperSpy's load, documented
