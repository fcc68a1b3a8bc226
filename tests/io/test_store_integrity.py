"""Damaged and concurrently replaced stores: every fault is an error naming the store and the chunk, never data.

Fault cases (each silently returned data before checksums): a deleted chunk, flipped bytes, a truncated chunk,
two chunks swapped, a damaged store converted (a fresh digest written over zeros), a store without checksums
damaged (caught by its data digest), and a store replaced while a reader reads it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

import emscale as em
import emscale.io as eio
from emscale.cli import main
from emscale.core.errors import DataError, FileFormatError

CHUNKS = (4, 10, 64)  # 12 rows -> three chunks: data/c/0/0/0, data/c/1/0/0, data/c/2/0/0


def _cube(rng, shape=(12, 10, 64), dtype=np.uint16) -> em.Signal:
    return em.Signal(rng.poisson(50, size=shape).astype(dtype),
                     axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}],
                     signal_type="EELS")


def _store(rng, tmp_path, name="s.zarr") -> tuple[Path, em.Signal]:
    s = _cube(rng)
    path = tmp_path / name
    s.save(path, chunks=CHUNKS)
    return path, s


def _chunk(path: Path, i: int) -> Path:
    return path / "data" / "c" / str(i) / "0" / "0"


def _read(path: Path, lazy: bool):
    s = em.load(path, lazy=lazy)
    return np.asarray(s.data.compute() if lazy else s.data)


def _strip_checksums(path: Path) -> None:
    """Make ``path`` look like a store written before per-chunk checksums (format 1)."""
    meta = json.loads((path / "zarr.json").read_text())
    attrs = meta["attributes"]["emscale"]
    attrs.pop("chunk_crc32c", None)
    attrs.pop("meta_sha256", None)  # format 3 on: a format-1 store beside them is refused as edited
    attrs["format_version"] = 1
    (path / "zarr.json").write_text(json.dumps(meta))


# -- damaged chunks: an error naming the store and the chunk, on eager and lazy reads ---------------------------
def _delete(path):
    _chunk(path, 1).unlink()


def _flip(path):
    f = _chunk(path, 1)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))


def _truncate(path):
    f = _chunk(path, 1)
    f.write_bytes(f.read_bytes()[:-7])


def _swap(path):
    a, b = _chunk(path, 0), _chunk(path, 1)
    da_, db_ = a.read_bytes(), b.read_bytes()
    a.write_bytes(db_)
    b.write_bytes(da_)


DAMAGE = {"deleted": _delete, "flipped": _flip, "truncated": _truncate, "swapped": _swap}


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_chunk_is_an_error_naming_store_and_chunk(rng, tmp_path, damage, lazy):
    path, _ = _store(rng, tmp_path)
    DAMAGE[damage](path)
    with pytest.raises(FileFormatError, match=r"s\.zarr.*chunk data/c/[01]/0/0"):
        _read(path, lazy)


@pytest.mark.parametrize("damage", DAMAGE)
def test_verify_finds_every_damage(rng, tmp_path, damage):
    path, _ = _store(rng, tmp_path)
    assert eio.verify(path)["chunks"] == 3
    DAMAGE[damage](path)
    with pytest.raises(FileFormatError, match=r"s\.zarr"):
        eio.verify(path)


@pytest.mark.parametrize("read", ["eager", "lazy", "verify", "convert"])
def test_a_store_whose_save_was_killed_is_refused(rng, tmp_path, read):
    # what a SIGKILL during a save leaves: the attributes (format 5) written first, some chunks, and no checksum
    # table, data digest or metadata digests, which come when the save ends. It opened as an old store, its
    # missing chunks read as zeros, and `convert` made a store of it that `verify` called OK
    path, _ = _store(rng, tmp_path)
    meta = json.loads((path / "zarr.json").read_text())
    for key in ("chunk_crc32c", "data_sha256", "meta_sha256"):
        meta["attributes"]["emscale"].pop(key, None)
    (path / "zarr.json").write_text(json.dumps(meta))
    _chunk(path, 1).unlink()
    action = {"eager": lambda: _read(path, False), "lazy": lambda: _read(path, True),
              "verify": lambda: eio.verify(path), "convert": lambda: eio.convert(path, tmp_path / "rescued.zarr")}
    with pytest.raises(FileFormatError, match=r"s\.zarr: no per-chunk checksums, which a store of format 5 records "
                                              r"when its save ends: an interrupted save"):
        action[read]()
    assert not (tmp_path / "rescued.zarr").exists()


def test_a_chunk_of_zeros_is_written_and_reads_back(tmp_path):
    # zarr skips chunks equal to the fill value unless told otherwise; a missing chunk must always be damage.
    data = np.zeros((12, 10, 64), np.uint16)
    data[8:] = 7
    em.Signal(data).save(tmp_path / "z.zarr", chunks=CHUNKS)
    assert _chunk(tmp_path / "z.zarr", 0).exists()
    np.testing.assert_array_equal(em.load(tmp_path / "z.zarr").data, data)
    assert eio.verify(tmp_path / "z.zarr")["chunks"] == 3


def test_damaged_data_never_raise_a_raw_codec_error(rng, tmp_path):
    path, _ = _store(rng, tmp_path)
    f = _chunk(path, 2)
    f.write_bytes(b"\x00" * 40)  # not Blosc at all
    with pytest.raises(FileFormatError, match="chunk data/c/2/0/0"):
        em.load(path)


# -- stores written before checksums: still load, say so; their digest still catches damage --------------------
def test_store_without_checksums_loads_with_a_warning_and_verify_uses_its_digest(rng, tmp_path):
    path, s = _store(rng, tmp_path)
    _strip_checksums(path)
    with pytest.warns(UserWarning, match="without per-chunk checksums"):
        r = em.load(path)
    np.testing.assert_array_equal(r.data, s.data)
    assert eio.verify(path)["checksums"] is False
    _delete(path)
    with pytest.raises(FileFormatError, match=r"s\.zarr.*do not match"):
        eio.verify(path)


def test_store_without_checksums_damaged_bytes_give_file_format_error(rng, tmp_path):
    path, _ = _store(rng, tmp_path)
    _strip_checksums(path)
    _chunk(path, 1).write_bytes(b"\x01" * 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FileFormatError, match=r"s\.zarr"):
            em.load(path)


# -- convert of a damaged store fails and writes nothing -------------------------------------------------------
@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "format1"])
def test_convert_of_a_damaged_store_fails(rng, tmp_path, checksums):
    path, _ = _store(rng, tmp_path)
    if not checksums:
        _strip_checksums(path)
    _delete(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FileFormatError, match=r"s\.zarr"):
            em.convert(path, tmp_path / "copy.zarr")
    assert not (tmp_path / "copy.zarr").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_convert_of_a_sound_store_keeps_its_digest(rng, tmp_path):
    path, s = _store(rng, tmp_path)
    em.convert(path, tmp_path / "copy.zarr", chunks=(6, 10, 64))
    assert eio.verify(tmp_path / "copy.zarr")["data_sha256"] == eio.verify(path)["data_sha256"]


# -- the command line -----------------------------------------------------------------------------------------
def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_verify_ok_then_damaged(rng, tmp_path, capsys):
    path, _ = _store(rng, tmp_path)
    code, out, err = _cli(capsys, "verify", path)
    assert code == 0, err
    assert "OK" in out and "3 chunks" in out
    _flip(path)
    code, out, err = _cli(capsys, "verify", path)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "chunk data/c/1/0/0" in err and "Traceback" not in err


def test_cli_verify_of_a_missing_store_says_so(tmp_path, capsys):
    """It said "not an emscale zarr store (no zarr.json inside)" of a path where nothing is."""
    code, out, err = _cli(capsys, "verify", tmp_path / "nonexist.zarr")
    assert code == 2 and err.strip() == f"emscale: error: {tmp_path / 'nonexist.zarr'}: no such file or folder"


def test_cli_verify_of_a_vendor_file_and_history_of_a_results_folder_say_what_to_name(rng, tmp_path, capsys):
    """``verify x.dm4`` said "no zarr.json inside"; ``history OUT`` of a results folder "is a directory"."""
    (tmp_path / "x.dm4").write_bytes(b"DM")
    code, out, err = _cli(capsys, "verify", tmp_path / "x.dm4")
    assert code == 2 and "a vendor file has none of; `emscale convert` makes a store of it" in err, err
    _store(rng, tmp_path)
    code, out, err = _cli(capsys, "history", tmp_path)
    assert code == 2 and f"the emscale stores in it: s.zarr (e.g. {tmp_path / 's.zarr'})" in err, err


def test_cli_info_says_it_did_not_read_the_data(rng, tmp_path, capsys):
    path, _ = _store(rng, tmp_path)
    _delete(path)  # info reads metadata only: it cannot tell, and says so
    code, out, err = _cli(capsys, "info", path)
    assert code == 0, err
    assert "not read" in out and "emscale verify" in out


# -- the description of the numbers: axes, dtype, type and metadata against their digests ------------------------
def _edit(path: Path, name: str, change) -> None:
    meta = json.loads((path / name).read_text())
    change(meta)
    (path / name).write_text(json.dumps(meta))


def _scale(meta):
    meta["attributes"]["emscale"]["axes"][2]["scale"] = 2.0


def _int32(meta):
    meta["data_type"] = "int32"


def _type(meta):
    meta["attributes"]["emscale"]["signal_type"] = "EDS_TEM"


def _step(meta):  # a step that never ran: `emscale history` printed it, verify said OK (a reviewer)
    meta["attributes"]["emscale"]["history"].append({"op": "remove_background", "params": {"signal_range": [4, 9]}})


def _vendor(meta):
    meta["attributes"]["emscale"]["original_metadata"] = {"Microscope": "another one"}


EDITS = {"axis scale": ("zarr.json", _scale, r"axis 2 \('E'\)"),
         "dtype": ("data/zarr.json", _int32, r"the array's dtype, shape or chunks \(data/zarr.json says int32"),
         "signal type": ("zarr.json", _type, "signal type"),
         "history": ("zarr.json", _step, "history"),
         "original metadata": ("zarr.json", _vendor, "original metadata")}


@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_description_is_an_error_naming_what_differs(tmp_path, capsys, edit):
    """An axis scale edited in zarr.json passed verify and info; float32 made int32 in data/zarr.json made em.load
    return other numbers without a word (only verify's data digest saw it)."""
    path = tmp_path / "s.zarr"
    em.Signal(np.linspace(0, 1, 12 * 10 * 64, dtype=np.float32).reshape(12, 10, 64),
              axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}],
              signal_type="EELS").save(path, chunks=CHUNKS)
    name, change, said = EDITS[edit]
    _edit(path, name, change)
    for lazy in (False, True):
        with pytest.raises(FileFormatError, match=rf"s\.zarr: its description no longer matches the digests recorded "
                                                  rf"when it was written \(a zarr.json edited or damaged\): {said}"):
            em.load(path, lazy=lazy)
    with pytest.raises(FileFormatError, match=said):
        eio.verify(path)
    for cmd in ("verify", "info"):
        code, out, err = _cli(capsys, cmd, path)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "no longer matches" in err, err


def test_a_store_written_before_the_description_digests_loads_and_verify_says_so(rng, tmp_path, capsys):
    path, s = _store(rng, tmp_path)
    code, out, err = _cli(capsys, "verify", path)
    assert code == 0 and "chunk checksums, data digest and metadata digests match" in out, out
    _edit(path, "zarr.json", lambda m: m["attributes"]["emscale"].pop("meta_sha256"))
    # from format 3 on every store records them: taken out, every check went with them (a reviewer)
    with pytest.raises(FileFormatError, match="format_version 5 in zarr.json, yet no metadata digests"):
        em.load(path)
    _edit(path, "zarr.json", lambda m: m["attributes"]["emscale"].update(format_version=2))  # a store of format 2
    _edit(path, "zarr.json", _scale)  # not detected: nothing was recorded to check it against
    assert em.load(path).axes[2].scale == 2.0
    code, out, err = _cli(capsys, "verify", path)
    assert code == 0 and out.strip().endswith("an older store, without metadata digests: its axes, dtype, signal "
                                              "type and metadata are not checked"), out


def test_a_store_written_before_the_history_digest_loads(rng, tmp_path):
    """Format-3 stores written before the history and the original metadata were digested have no digest of them:
    read as before (their other digests still checked)."""
    path, s = _store(rng, tmp_path)

    def removed(meta):
        for k in ("history", "original_metadata"):
            meta["attributes"]["emscale"]["meta_sha256"].pop(k)

    def older(meta):
        meta["attributes"]["emscale"]["format_version"] = 3

    _edit(path, "zarr.json", removed)
    _edit(path, "zarr.json", _step)
    # from format 4 on a missing digest was taken out: deleting it switched the check off (a reviewer)
    with pytest.raises(FileFormatError, match="no longer matches the digests .*: history; original metadata"):
        em.load(path)
    for bad in ("4", 4.0, 6, 2):  # a version edited to switch the check off, or one this emscale cannot know
        _edit(path, "zarr.json", lambda m, v=bad: m["attributes"]["emscale"].update(format_version=v))
        with pytest.raises(FileFormatError, match=f"format_version {bad!r} in zarr.json"):
            em.load(path)
    _edit(path, "zarr.json", older)
    assert "remove_background" in str(em.load(path).history)
    assert eio.verify(path)["records"] is False
    _edit(path, "zarr.json", _scale)
    with pytest.raises(FileFormatError, match=r"axis 2 \('E'\)"):
        em.load(path)


# -- a store replaced while it is read: the old or the new one whole, or a clear error -------------------------
def _overwriter(path: str, n: int, ready) -> None:
    import emscale as em

    shape = (64, 16, 256)
    ready.set()
    for i in range(n):
        em.Signal(np.full(shape, i % 2 + 1, np.uint16)).save(path, chunks=(2, 16, 256), overwrite=True)


def test_reader_during_overwrite_sees_old_or_new_whole(tmp_path):
    path = tmp_path / "swap.zarr"
    em.Signal(np.full((64, 16, 256), 1, np.uint16)).save(path, chunks=(2, 16, 256))
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    writer = ctx.Process(target=_overwriter, args=(str(path), 40, ready))
    writer.start()
    ready.wait(60)
    reads, mixed, raw_errors = 0, 0, []
    try:
        while writer.is_alive() or reads == 0:
            try:
                d = np.asarray(em.load(path).data)
            except FileFormatError:
                continue  # a clear error is allowed
            except Exception as exc:  # noqa: BLE001 - what we are looking for
                raw_errors.append(repr(exc))
                continue
            reads += 1
            if len(np.unique(d)) != 1:
                mixed += 1
    finally:
        writer.join(120)
    assert writer.exitcode == 0
    assert reads > 0
    assert (mixed, raw_errors) == (0, [])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_lazy_reader_of_a_replaced_store_gets_a_clear_error(tmp_path):
    path = tmp_path / "lz.zarr"
    em.Signal(np.full((12, 10, 64), 1, np.uint16)).save(path, chunks=CHUNKS)
    s = em.load(path, lazy=True)
    em.Signal(np.full((12, 10, 64), 2, np.uint16)).save(path, chunks=CHUNKS, overwrite=True)
    with pytest.raises(FileFormatError, match=r"lz\.zarr.*replaced"):
        s.data.compute()


def test_store_survives_copy(rng, tmp_path):
    path, s = _store(rng, tmp_path)
    shutil.copytree(path, tmp_path / "copied.zarr")
    np.testing.assert_array_equal(em.load(tmp_path / "copied.zarr").data, s.data)
    assert zarr.open_group(str(tmp_path / "copied.zarr"), mode="r")["data"].shape == s.shape


def test_save_refuses_a_name_that_is_not_a_zarr_store(tmp_path):
    # a folder named x.h5 would be refused by every HDF5 reader
    with pytest.raises(DataError, match=r"name it '\*.zarr', not '.*x.h5'"):
        em.Signal(np.ones((2, 3, 4))).save(tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_every_writer_of_a_store_refuses_another_name_before_any_work(tmp_path, real_dir):
    # em.convert wrote a zarr folder named b.h5, and reconstruct_to_store refused the name only after the whole
    # reconstruction (found in review)
    from emscale.tomography import reconstruct_to_store, tilt_series

    with pytest.raises(DataError, match=r"name it '\*.zarr'"):
        em.convert(real_dir / "EELS_SI.dm4", tmp_path / "b.h5")
    ts = tilt_series(np.ones((3, 8, 8), np.float32), [-30.0, 0.0, 30.0])
    with pytest.raises(DataError, match=r"name it '\*.zarr'"):
        reconstruct_to_store(ts, tmp_path / "vol", method="fbp")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_damaged_chunk_leaves_no_pending_reads_behind(tmp_path):
    """em.load of a store with a truncated chunk raised its clean FileFormatError, then the script's exit printed
    "Task was destroyed but it is pending!" 2-4 times (or "Cannot close a running event loop"): zarr's other chunk
    reads of the selection were still running on its event loop."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    em.Signal(rng.poisson(2.0, (64, 128, 4096)).astype(np.uint16)).save(tmp_path / "c.zarr", chunks=(16, 128, 4096))
    _chunk(tmp_path / "c.zarr", 2).write_bytes(_chunk(tmp_path / "c.zarr", 2).read_bytes()[:1000])
    script = ("import emscale as em\n"
              "try:\n    em.load('c.zarr')\nexcept em.FileFormatError as e:\n    print('caught', e)\n")
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith("caught c.zarr: chunk data/c/2/0/0"), proc
        assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("edit", ["big endian", "transpose"])
def test_an_edited_codec_is_refused(rng, tmp_path, edit):
    # the chunks' checksums cover their stored bytes and the digests the dtype, shape and chunks, but not the codecs:
    # "endian": "big" read other numbers (a sum of 15 488 became 3 964 928), a transpose codec put them elsewhere
    path, s = _store(rng, tmp_path)

    def change(doc):
        if edit == "big endian":
            next(c for c in doc["codecs"] if c["name"] == "bytes")["configuration"]["endian"] = "big"
        else:
            doc["codecs"].insert(0, {"name": "transpose", "configuration": {"order": [0, 2, 1]}})

    _edit(path, "data/zarr.json", change)
    for read in (lambda: _read(path, False), lambda: _read(path, True), lambda: eio.verify(path)):
        with pytest.raises(FileFormatError, match=r"no longer matches .*: the array's document \(data/zarr.json"):
            read()


def test_a_zarr_json_that_is_no_json_it_can_write_is_named(rng, tmp_path, capsys):
    # an axis scale of NaN: "builtins.ValueError: Out of range float values are not JSON compliant", no path
    path, _ = _store(rng, tmp_path)
    _edit(path, "zarr.json", lambda m: m["attributes"]["emscale"]["axes"][2].update(scale=float("nan")))
    with pytest.raises(FileFormatError, match=r"s\.zarr: its zarr\.json cannot be read as written .*edited or damaged"):
        em.load(path)


def test_a_deeply_nested_zarr_json_above_a_file_is_not_a_store(tmp_path):
    # every load looks for a store above the file: a zarr.json nested past Python's recursion in a parent folder
    # made `emscale info` of any file below it a raw RecursionError
    (tmp_path / "zarr.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "sub").mkdir()
    em.Signal(np.arange(12, dtype=np.uint16).reshape(3, 4)).save(tmp_path / "sub" / "x.zarr")
    assert em.load(tmp_path / "sub" / "x.zarr").data.sum() == 66
    from emscale.io.store import enclosing_store

    assert enclosing_store(tmp_path / "sub" / "file.dm4") is None


def test_a_chunk_that_is_no_file_is_refused_before_it_is_read(rng, tmp_path):
    # a pipe in a chunk's place blocked every reader (and `emscale verify`) for ever; a link to /dev/zero was read
    # until memory ran out
    import os
    import subprocess
    import sys

    path, _ = _store(rng, tmp_path)
    link = _chunk(path, 1)
    link.unlink()
    link.symlink_to("/dev/zero")
    with pytest.raises(FileFormatError, match=r"chunk data/c/1/0/0 .* is not a regular file \(a link, a pipe"):
        em.load(path)
    link.unlink()
    os.mkfifo(link)
    script = f"import emscale as em\ntry:\n    em.load({str(path)!r})\nexcept em.FileFormatError as e:\n    print(e)\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "is not a regular file (a link, a pipe or a device)" in proc.stdout, proc


def test_several_paths_or_a_wildcard_say_how_to_load_several(tmp_path):
    # HyperSpy's load([a, b], stack=True) was a raw TypeError; load("*.dm3") said only "no such file or folder"
    way = r"one path a call: \[em\.load\(f\) for f in sorted\(glob\.glob\('\*\.dm3'\)\)\] loads several"
    with pytest.raises(FileFormatError, match=r"a list of 2 paths: " + way):
        em.load([tmp_path / "a.dm3", tmp_path / "b.dm3"], stack=True)
    with pytest.raises(FileFormatError, match=r"no such file or folder \(a wildcard is not expanded: " + way):
        em.load(tmp_path / "*.dm3")
