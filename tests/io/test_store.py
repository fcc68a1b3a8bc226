"""The native zarr v3 store: dtype kept, chunked along navigation, atomic writes, clear errors on bad input."""

from __future__ import annotations

import re
import shutil
import warnings

import dask.array as da
import numpy as np
import pytest
import zarr

import emscale as em
import emscale.io as eio
from emscale.core.errors import FileFormatError, OutputExistsError


def _cube(rng, shape=(12, 10, 64), dtype=np.uint16):
    data = rng.poisson(50, size=shape).astype(dtype)
    return em.Signal(
        data,
        axes=[
            {"name": "y", "scale": 2.0, "units": "nm", "navigate": True},
            {"name": "x", "scale": 2.0, "offset": -3.0, "units": "nm", "navigate": True},
            {"name": "E", "scale": 0.5, "offset": 100.0, "units": "eV"},
        ],
        signal_type="EELS",
        metadata={"Acquisition_instrument": {"TEM": {"beam_energy": 200.0}}, "Signal": {"counts": True}},
    )


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_store_keeps_dtype_chunks_whole_spectra_and_compresses(rng, tmp_path):
    s = _cube(rng)
    s.save(tmp_path / "a.zarr", chunks=(4, 10, 64))
    arr = zarr.open_group(str(tmp_path / "a.zarr"), mode="r")["data"]
    assert arr.dtype == np.uint16
    assert arr.chunks == (4, 10, 64)  # whole spectra in every chunk
    assert arr.metadata.zarr_format == 3
    assert any("blosc" in type(c).__name__.lower() for c in arr.compressors)
    r = em.load(tmp_path / "a.zarr")
    np.testing.assert_array_equal(r.data, s.data)
    assert r.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 200.0
    assert r.axes[1].offset == -3.0 and r.axes[2].units == "eV"


def test_store_metadata_is_compact_json(rng, tmp_path):
    # zarr's default indent doubled the zarr.json that holds a vendor file's original metadata
    s = _cube(rng)
    s.metadata["Original"] = {f"tag{i}": {"value": i, "unit": "s"} for i in range(50)}
    s.save(tmp_path / "a.zarr")
    for name in ("zarr.json", "data/zarr.json"):
        text = (tmp_path / "a.zarr" / name).read_text()
        assert "\n" not in text.strip(), name
    assert zarr.config.get("json_indent") == 2  # zarr's own setting, global to the process, is not touched
    assert em.load(tmp_path / "a.zarr").metadata["Original"]["tag49"]["value"] == 49


def test_default_chunks_are_along_navigation(rng, tmp_path):
    s = _cube(rng, shape=(40, 30, 256))
    s.save(tmp_path / "b.zarr")
    arr = zarr.open_group(str(tmp_path / "b.zarr"), mode="r")["data"]
    assert arr.chunks[-1] == 256


def test_non_uniform_axis_round_trip(tmp_path):
    coords = np.array([400.0, 401.5, 403.5, 406.0])
    s = em.Signal(np.ones((3, 4), np.float32), axes=[{"name": "x", "navigate": True}, {"name": "wl", "coords": coords}])
    s.save(tmp_path / "nu.zarr")
    r = em.load(tmp_path / "nu.zarr")
    np.testing.assert_array_equal(r.axes[1].values, coords)
    assert not r.axes[1].is_uniform


def test_history_survives_save_and_load(rng, tmp_path):
    s = _cube(rng).isig[101.0:110.0].sum("x")
    s.save(tmp_path / "h.zarr")
    r = em.load(tmp_path / "h.zarr")
    # made in memory, the steps cannot be replayed from a file: they are kept as what made the store, and the
    # history starts with the load of the store (replay of a sparse scan saved and reloaded failed on this)
    assert [e["op"] for e in r.history] == ["load"] and r.history[0]["made_by"] == s.history
    assert [e["op"] for e in r.history[0]["made_by"]] == ["isig", "sum"]
    from emscale.workflows.replay import replay

    assert np.array_equal(np.asarray(replay(r.sum("y").history).data), np.asarray(r.sum("y").data))


def test_overwrite_refused_then_allowed(rng, tmp_path):
    s = _cube(rng)
    path = tmp_path / "o.zarr"
    s.save(path)
    with pytest.raises(OutputExistsError, match="already exists"):
        s.save(path)
    s2 = em.Signal(np.zeros((2, 3), np.int32))
    s2.save(path, overwrite=True)
    assert em.load(path).shape == (2, 3)
    assert _leftovers(tmp_path) == []


def test_overwrite_replaces_only_an_emscale_store(rng, tmp_path):
    """save/convert(overwrite=True) deleted anything named *.zarr: a user's folder with notes.txt, a plain file."""
    s = em.Signal(np.arange(6, dtype=np.int32).reshape(2, 3))
    user = tmp_path / "results.zarr"
    user.mkdir()
    (user / "notes.txt").write_text("my notes")
    (tmp_path / "x.zarr").write_text("a file")
    with pytest.raises(OutputExistsError, match=r"results.zarr is not an emscale store \(it holds notes.txt\)"):
        s.save(user, overwrite=True)
    with pytest.raises(OutputExistsError, match="x.zarr is a file, not an emscale store"):
        s.save(tmp_path / "x.zarr", overwrite=True)
    s.save(tmp_path / "src.zarr")
    with pytest.raises(OutputExistsError, match="not an emscale store"):
        em.io.convert(tmp_path / "src.zarr", user, overwrite=True)
    assert (user / "notes.txt").read_text() == "my notes" and sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    assert (tmp_path / "x.zarr").read_text() == "a file"
    store = tmp_path / "store.zarr"
    s.save(store)
    (store / "notes.txt").write_text("n")
    with pytest.raises(OutputExistsError, match="also holds notes.txt"):
        s.save(store, overwrite=True)
    (store / "notes.txt").unlink()
    em.Signal(np.full((2, 3), 7, np.int32)).save(store, overwrite=True)  # a store of emscale's is replaced
    assert em.load(store).to_numpy().sum() == 42
    em.io.convert(tmp_path / "src.zarr", store, overwrite=True)
    assert em.load(store).to_numpy().sum() == 15
    assert _leftovers(tmp_path) == []


def test_overwrite_checks_the_store_again_under_the_lock(tmp_path):
    """A file dropped into the store while the new one is written: the old store is kept, the new one beside it."""
    store = tmp_path / "s.zarr"
    em.Signal(np.zeros((2, 3), np.int32)).save(store)

    def drop_notes(*_):
        (store / "notes.txt").write_text("written meanwhile")

    with pytest.raises(OutputExistsError, match="changed while this run wrote.*also holds notes.txt"):
        em.Signal(np.ones((2, 3), np.int32)).save(store, overwrite=True, progress=drop_notes)
    assert (store / "notes.txt").exists() and em.load(store).to_numpy().sum() == 0
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("s.zarr.new-")]
    assert len(kept) == 1 and em.load(kept[0]).to_numpy().sum() == 6


def _exploding(s: em.Signal, bad_block: int) -> em.Signal:
    """A lazy signal whose `bad_block`-th partition raises when read: a crash in the middle of a write."""

    def boom(block, block_info=None):
        if block_info[0]["chunk-location"][0] == bad_block:
            raise RuntimeError("simulated crash while writing")
        return block

    data = da.from_array(s.data, chunks=(2, 10, 64)).map_blocks(boom, dtype=s.dtype)
    return em.Signal(data, axes=s.axes, signal_type=s.signal_type)


def test_crash_during_save_leaves_nothing(rng, tmp_path):
    s = _exploding(_cube(rng), bad_block=3)
    path = tmp_path / "crash.zarr"
    with pytest.raises(RuntimeError, match="simulated crash"):
        s.save(path, chunks=(2, 10, 64))
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_crash_during_overwrite_keeps_the_old_output(rng, tmp_path):
    good = _cube(rng)
    path = tmp_path / "keep.zarr"
    good.save(path)
    with pytest.raises(RuntimeError):
        _exploding(good, bad_block=2).save(path, overwrite=True, chunks=(2, 10, 64))
    np.testing.assert_array_equal(em.load(path).data, good.data)
    assert _leftovers(tmp_path) == []


def test_save_lazy_equals_in_memory(rng, tmp_path):
    s = _cube(rng, shape=(30, 10, 64))
    s.as_lazy(chunks=(7, 10, 64)).save(tmp_path / "lz.zarr", chunks=(5, 10, 64))
    np.testing.assert_array_equal(em.load(tmp_path / "lz.zarr").data, s.data)


def test_convert_streams_a_vendor_file(real_dir, tmp_path):
    src = real_dir / "30x30_instructively_packed_16bit_compressed.bcf"
    seen = []
    em.convert(src, tmp_path / "c.zarr", signal_type="EDS_SEM", chunks=(8, 30, 2048),
               progress=lambda done, total: seen.append((done, total)))
    r = em.load(tmp_path / "c.zarr")
    eager = em.load(src, signal_type="EDS_SEM")
    np.testing.assert_array_equal(r.data, eager.data)
    assert seen and seen[-1][0] == seen[-1][1] == eager.nbytes
    assert r.history[0]["op"] == "load" and r.history[0]["source"]["sha256"] == eager.history[0]["source"]["sha256"]
    with pytest.raises(FileFormatError, match="holds 2 signals"):
        em.convert(src, tmp_path / "d.zarr")
    assert not (tmp_path / "d.zarr").exists()
    # a wrong chunk shape is the caller's, not "a damaged or truncated file"; a 0 was taken as 1
    for chunks, said in (((8, 30), "chunks needs 3 entries"), ((8, 30, 0), "chunks must be whole numbers >= 1")):
        with pytest.raises(ValueError, match=said):
            em.convert(src, tmp_path / "d.zarr", signal_type="EDS_SEM", chunks=chunks)
    assert not (tmp_path / "d.zarr").exists()


def test_a_lazy_signal_of_a_readers_array_saves_in_the_memory_of_an_eager_one(tmp_path, traced_peak):
    """A reader that gives numpy for ``lazy=True`` (Velox EDS and EELS cubes, the BCF image) had its array copied by
    dask's ``from_array``, and the save concatenated each partition from its chunks: 3.3 x the data allocated where
    the eager signal's save takes 2.0 x. Now the dask array reads the reader's array itself, and passes read views."""

    from emscale.engine.executors import executor_context
    from emscale.io.vendor import signal_from_dict

    x = np.random.default_rng(0).poisson(0.05, (64, 128, 2048)).astype(np.uint16)  # 32 MiB, one partition
    d = {"data": x, "axes": [{"name": "y", "size": 64, "navigate": True}, {"name": "x", "size": 128, "navigate": True},
                             {"name": "E", "size": 2048, "navigate": False}]}

    with executor_context("inline"):  # one partition at a time: the same peaks on every run
        eager = signal_from_dict(d)
        saved = traced_peak(lambda: eager.save(tmp_path / "e.zarr"))
        lazy = signal_from_dict(d, lazy=True)
        assert lazy.is_lazy
        saved_lazy = traced_peak(lambda: lazy.save(tmp_path / "l.zarr"))
    assert saved_lazy < saved + x.nbytes // 2, (saved_lazy / x.nbytes, saved / x.nbytes)
    r = em.load(tmp_path / "l.zarr")
    assert r.dtype == np.uint16 and np.array_equal(r.data, x)
    # as_lazy(copy=False) reads the array itself, as its docstring says; as_lazy() a copy
    a = np.zeros((4, 8), np.int32)
    shared, copied = em.Signal(a).as_lazy(copy=False), em.Signal(a).as_lazy()
    a[0, 0] = 7
    assert shared.to_numpy()[0, 0] == 7 and copied.to_numpy()[0, 0] == 0


def test_convert_names_the_signals_of_the_type_given(velox_emd, tmp_path):
    """Each signal of the type by its index in the file, title, type and shape; the Python keywords only."""
    with pytest.raises(FileFormatError, match=r"holds 3 signals of type 'EELS' \(14: 'EELS \(800 to 1146 eV\)' EELS "
                                              r"\(20, 16\|2048\); 15: .*; 16: .*\); pick one with index= to convert$"):
        em.convert(velox_emd, tmp_path / "v.zarr", signal_type="EELS")


# -- bad input ------------------------------------------------------------------------------------------------
def test_unknown_extension_lists_supported(tmp_path):
    f = tmp_path / "data.xyz"
    f.write_bytes(b"hello")
    with pytest.raises(FileFormatError, match=r"unknown file extension '\.xyz'.*dm3.*zarr"):
        em.load(f)


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        em.load(tmp_path / "nothing.dm4")


def test_empty_file(tmp_path):
    f = tmp_path / "empty.dm4"
    f.touch()
    with pytest.raises(FileFormatError, match="empty"):
        em.load(f)


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "folder.dm3"
    d.mkdir()
    with pytest.raises(FileFormatError, match="directory"):
        em.load(d)


def test_zarr_not_written_by_emscale(tmp_path):
    """A plain zarr array said "not a readable emscale zarr store (ContainsArrayError: An array already exists in
    store wrapping-file://...)": it is named as a zarr array, with the way to read its numbers as a signal."""
    import dask.array as da

    foreign = tmp_path / "foreign.zarr"
    zarr.create_array(str(foreign), shape=(2, 3), dtype="i4")[:] = 7
    wrap = re.escape("to read its numbers as a signal: em.Signal(dask.array.from_zarr(path[, component]), "
                     "axes=[...]), then .save('new.zarr')")
    for call in (em.load, eio.verify):
        with pytest.raises(FileFormatError, match=f"foreign.zarr: a zarr array, not an emscale store .*; {wrap}$"):
            call(foreign)
    em.Signal(da.from_zarr(str(foreign))).save(tmp_path / "wrapped.zarr")  # the way the message gives
    assert em.load(tmp_path / "wrapped.zarr").data.tolist() == [[7] * 3] * 2
    zarr.open_group(str(tmp_path / "group.zarr"), mode="w").create_array("data", shape=(3,), dtype="i2")
    with pytest.raises(FileFormatError, match=f"group.zarr: zarr store without emscale attributes .*; {wrap}$"):
        em.load(tmp_path / "group.zarr")
    (tmp_path / "plain.zarr").mkdir()
    with pytest.raises(FileFormatError, match="not a zarr store"):
        em.load(tmp_path / "plain.zarr")


@pytest.mark.parametrize("name", ["30x30_instructively_packed_16bit_compressed.bcf", "EELS_SI.dm4"])
def test_truncated_vendor_file(real_dir, tmp_path, name):
    src = real_dir / name
    cut = tmp_path / name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FileFormatError, match=name.replace(".", r"\.")):
        em.load(cut)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing left behind


def test_output_folder_missing(rng, tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        _cube(rng).save(tmp_path / "no" / "such" / "x.zarr")


def test_an_unusable_output_folder_is_named_before_the_input_is_read(rng, tmp_path, capsys, monkeypatch):
    """`emscale convert full.dm4 notdir/x.zarr` (notdir a file; /dev/null/x.zarr, /sys/x.zarr alike) said
    "[Errno 20] Not a directory: 'notdir/.x.zarr.tmp-...'", naming a temporary, once the input had been read."""
    import errno
    import os

    from emscale.cli import main

    (tmp_path / "notdir").write_text("x")
    (tmp_path / "ro").mkdir()
    mkdir = os.mkdir

    def refuse_in_ro(p, *a, **kw):  # what /sys answers root, whom os.access lets through
        if os.path.dirname(p) == str(tmp_path / "ro"):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), p)
        return mkdir(p, *a, **kw)

    monkeypatch.setattr(os, "mkdir", refuse_in_ro)
    missing_input = tmp_path / "never_read.dm4"  # the output is checked first: this input is never opened
    for dst, problem in ((tmp_path / "notdir" / "x.zarr", f"{tmp_path / 'notdir'} is a file, not a folder"),
                         (tmp_path / "no" / "x.zarr", f"{tmp_path / 'no'} does not exist"),
                         (tmp_path / "ro" / "x.zarr", f"{tmp_path / 'ro'} takes no new entry (Operation not "
                                                      "permitted)")):
        assert main(["convert", str(missing_input), str(dst)]) == 2
        assert capsys.readouterr().err.strip() == f"emscale: error: {dst}: cannot be written: {problem}"
        with pytest.raises(FileFormatError, match=re.escape(f"{dst}: cannot be written: {problem}")):
            _cube(rng).save(dst)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["notdir", "ro"]


def test_input_never_modified(real_dir, tmp_path):
    src = tmp_path / "copy.dm4"
    shutil.copy(real_dir / "EELS_SI.dm4", src)
    before = src.read_bytes()
    s = em.load(src)
    s.isig[400.0:500.0].save(tmp_path / "out.zarr")
    assert src.read_bytes() == before


def test_saving_an_empty_signal_names_the_empty_axis_not_chunks(tmp_path):
    """A (0, 5) signal was refused with "chunks must be whole numbers >= 1 ... got (0, 5)", chunks never passed."""
    from emscale.core.errors import DataError

    for shape, axis in (((0, 5), "'x'"), ((3, 0), "'signal'"), ((2, 0, 4), "'x'")):
        with pytest.raises(DataError, match=re.escape(f"empty signal: axis {axis} has size 0 (shape {shape})")) as err:
            em.Signal(np.zeros(shape)).save(tmp_path / "e.zarr")
        assert "chunks" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_save_with_chunks_of_the_wrong_length_names_the_count(tmp_path):
    """Was zip's "argument 2 is longer than argument 1"."""
    import emscale as em

    with pytest.raises(ValueError, match=r"chunks needs 3 entries \(one per dimension, numpy order\), got 2"):
        em.Signal(np.ones((6, 9, 21))).save(tmp_path / "a.zarr", chunks=(3, 3))
    assert not (tmp_path / "a.zarr").exists()


def test_metadata_that_comes_back_as_text_is_named_when_saved(tmp_path):
    """A date, bytes, a set and an integer key came back as strings without a word."""
    import datetime

    import emscale as em

    md = {"General": {"date": datetime.date(2024, 1, 2), "raw": b"\x00\x01", 1: "one", "tags": {1, 2},
                      "fine": [1, 2.0, "x", None, np.float32(1.5), np.arange(3)], "z": np.complex128(1 + 2j)}}
    with pytest.warns(UserWarning, match=r"5 metadata value\(s\) written as text") as caught:
        em.Signal(np.ones((2, 3)), metadata=md).save(tmp_path / "a.zarr")
    said = str(caught[0].message)
    assert all(k in said for k in ("General/date", "General/raw", "General/1", "General/tags", "General/z"))
    assert "fine" not in said
    assert em.load(tmp_path / "a.zarr").metadata["General"]["date"] == "2024-01-02"


def test_a_store_of_oversized_chunks_warns_with_the_chunks_to_rewrite_it_with(rng, tmp_path, monkeypatch):
    """A store written as one huge chunk (a 268 MB cube in one) made every lazy partition decompress all of it,
    without a word. Saving with such chunks and opening such a store lazily now say so and give a chunk shape."""
    from emscale.io import store

    # the cube's whole 15 KB in one chunk is "large" here: over 4 KB of uint16 (a quarter of float64's limit)
    monkeypatch.setattr(store, "LARGE_CHUNK_BYTES", 16384)
    s = _cube(rng)
    with pytest.warns(UserWarning, match=r"chunks of 0.0 MiB \(12,10,64\).*--chunks 1,10,64"):
        s.save(tmp_path / "big.zarr", chunks=(12, 10, 64))
    with pytest.warns(UserWarning, match=r"big.zarr: chunks of .*emscale convert IN OUT --chunks 1,10,64"):
        r = em.load(tmp_path / "big.zarr", lazy=True)
    np.testing.assert_array_equal(r.data.compute(), s.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.load(tmp_path / "big.zarr")  # read whole in memory: one chunk costs nothing more
        s.save(tmp_path / "small.zarr", chunks=(1, 10, 64))
        em.load(tmp_path / "small.zarr", lazy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.convert(tmp_path / "big.zarr", tmp_path / "rewritten.zarr", chunks=(1, 10, 64))  # the advice, followed
    assert zarr.open_group(str(tmp_path / "rewritten.zarr"), mode="r")["data"].chunks == (1, 10, 64)
    # float64 rows grow 4 x less into a decomposition's partitions: the same chunks of them are not large
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.Signal(s.data.astype(np.float64)).save(tmp_path / "f8.zarr", chunks=(1, 10, 64))
        em.Signal(s.data.astype(np.float64)).save(tmp_path / "f8big.zarr", chunks=(3, 10, 64))  # 15 KB < 16 KB


def test_default_chunks_of_narrow_counts_are_a_decompositions_partition(rng, tmp_path):
    # uint8 counts took the 16 MiB chunks of wider dtypes, twice a decomposition's partition of them (8 MiB: rows
    # worked on in float64): each pass decompressed and checked every chunk twice (6 reads a chunk for a PCA)
    from emscale.engine.passes import float64_partition_bytes

    s = em.Signal(rng.poisson(0.5, (64, 128, 2048)).astype(np.uint8),
                  axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}])
    s.save(tmp_path / "u8.zarr")
    chunks = zarr.open_group(str(tmp_path / "u8.zarr"), mode="r")["data"].chunks
    assert chunks == (32, 128, 2048) and np.prod(chunks) == float64_partition_bytes(np.uint8)
    lazy = em.decompose(em.load(tmp_path / "u8.zarr", lazy=True), "pca", n_components=3)
    np.testing.assert_array_equal(lazy.factors_array, em.decompose(s, "pca", n_components=3).factors_array)
    em.Signal(s.data.astype(np.uint16)).save(tmp_path / "u16.zarr")  # wider dtypes: 16 MiB, as before
    assert zarr.open_group(str(tmp_path / "u16.zarr"), mode="r")["data"].chunks == (32, 128, 2048)


def test_a_signal_is_not_saved_over_the_store_it_was_loaded_from(tmp_path):
    """``s.save(src, overwrite=True)`` on a signal loaded (lazily) from ``src`` went through: its history then named
    a file whose digest no longer matched, and replay refused it. Refused before anything is written."""
    src = tmp_path / "a.zarr"
    em.Signal(np.arange(24, dtype=np.uint16).reshape(2, 3, 4)).save(src)
    s = em.load(src, lazy=True)
    with pytest.raises(em.OutputExistsError, match="loaded from"):
        s.isig[1:].save(src, overwrite=True)
    np.testing.assert_array_equal(em.load(src).to_numpy(), np.arange(24).reshape(2, 3, 4))
    s.isig[1:].save(tmp_path / "b.zarr")  # another name is fine


def test_no_store_is_written_inside_another(rng, tmp_path):
    """`emscale convert a.zarr a.zarr/inner.zarr` (or into a.zarr/data/x.zarr) exited 0 with the new store inside
    the old one, whose next --overwrite was then refused: 'holds inner.zarr, which emscale did not write'."""
    src = tmp_path / "a.zarr"
    _cube(rng).save(src)
    before = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    (tmp_path / "link").symlink_to(src)
    for dst in (src / "inner.zarr", src / "data" / "x.zarr", tmp_path / "link" / "x.zarr",
                src / "data" / ".." / "x.zarr"):
        with pytest.raises(OutputExistsError, match=f"{re.escape(str(dst))} lies inside the emscale store "
                                                    f"{re.escape(str(src))}, .*nothing written"):
            em.convert(src, dst)
        with pytest.raises(OutputExistsError, match="lies inside the emscale store"):
            em.load(src).save(dst)
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*")) == before
    em.verify(src)
    _cube(rng).save(src, overwrite=True)  # still a store emscale may replace
    em.convert(src, tmp_path / "a.zarr.copy.zarr")  # beside it (a name that starts like it) is fine


def test_chunks_that_split_the_spectra_or_are_tiny_warn_with_the_chunks_to_rewrite_with(rng, tmp_path):
    # a store in chunks of 384 x 384 x 64 (every pixel, a 32nd of the channels) made a lazy PCA 10.6 x slower, one
    # in one-pixel chunks 16 x, with no word (a review)
    from emscale.io.store import large_chunk_note

    split = large_chunk_note((384, 384, 2048), (384, 384, 64), np.uint16, 2)
    assert split.startswith("chunks (384,384,64) split the signal axes over 32 x their own size of whole spectra")
    tiny = large_chunk_note((48, 48, 256), (1, 1, 256), np.uint16, 2)
    assert tiny.startswith("2304 chunks of 0.5 KiB (1,1,256)") and tiny.endswith("--chunks 48,48,256`")
    s = em.Signal(rng.poisson(2.0, (16, 16, 64)).astype(np.uint16))
    with pytest.warns(UserWarning, match=r"256 chunks of 0.1 KiB \(1,1,64\)"):
        s.save(tmp_path / "tiny.zarr", chunks=(1, 1, 64))
    with pytest.warns(UserWarning, match=r"tiny.zarr: 256 chunks of 0.1 KiB"):
        em.load(tmp_path / "tiny.zarr", lazy=True)
    for good in (large_chunk_note((384, 384, 2048), (10, 384, 2048), np.uint16, 2),
                 large_chunk_note((64, 64, 2048), (16, 64, 256), np.uint16, 2)):  # a split over few pixels
        assert good is None


def test_a_lazy_signal_cannot_replace_the_store_it_reads_from(rng, tmp_path):
    # a store saved from a vendor file names that file in its load step, and `(em.load(x, lazy=True) * 2).save(x,
    # overwrite=True)` replaced the store under the lazy signal (its next read: "replaced while being read")
    s = _cube(rng)
    s.history = [{"op": "load", "source": {"path": str(tmp_path / "raw.dm4"), "sha256": "0" * 64}}]
    s.save(tmp_path / "x.zarr")
    lazy = em.load(tmp_path / "x.zarr", lazy=True)
    with pytest.raises(em.OutputExistsError, match=r"x\.zarr is the store the numbers of .* are read from \(lazily\)"):
        (lazy * 2).save(tmp_path / "x.zarr", overwrite=True)
    np.testing.assert_array_equal(em.load(tmp_path / "x.zarr").data, s.data)
    (em.load(tmp_path / "x.zarr") * 2).save(tmp_path / "x.zarr", overwrite=True)  # read whole first: allowed
