"""Provenance: entries for every derivation, JSON round trips, and replay from the raw file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emscale
from emscale import Signal
from emscale.core import history as H

AXES = [
    {"name": "y", "scale": 2.0, "offset": -3.0},
    {"name": "x", "scale": 0.5, "offset": 1.0},
    {"name": "E", "scale": 0.2, "offset": 50.0, "units": "eV"},
]


@pytest.fixture
def si(rng):
    return Signal(rng.poisson(4.0, (6, 8, 40)).astype(np.uint16), axes=AXES, signal_type="EELS")


def test_every_derivation_appends_an_entry(si):
    steps = [
        ("inav", lambda s: s.inav[1:7, 2.0:]),
        ("isig", lambda s: s.isig[51.0:55.1]),
        ("rebin", lambda s: s.rebin((2, 1, 2))),
        ("transpose", lambda s: s.T),
        ("transpose", lambda s: s.T),
        ("mean", lambda s: s.mean(axis="y")),
        ("sum", lambda s: s.sum(axis=-1)),
        ("squeeze", lambda s: s.isig[0:1].squeeze()),
    ]
    s = si
    for i, (op, f) in enumerate(steps):
        before = list(s.history)
        s = f(s)
        new = s.history[len(before):]
        assert s.history[: len(before)] == before
        assert [e["op"] for e in new][-1] == op, i
        e = new[-1]
        assert set(e) == {"op", "params", "version", "time"}
        assert e["version"] == emscale.__version__
        assert dt.datetime.fromisoformat(e["time"]).tzinfo is not None
        json.dumps(e)  # JSON-safe
    assert si.history == []  # the source is untouched
    assert [e["op"] for e in s.history] == [
        "inav", "isig", "rebin", "transpose", "transpose", "mean", "sum", "isig", "squeeze"
    ]


def test_recorded_params(si):
    e = si.inav[1:7:2, np.int64(3)].history[-1]
    assert e["params"] == {"key": {"tuple": [{"slice": [1, 7, 2]}, 3]}}
    e = si.isig[..., 51.5:].history[-1]
    assert e["params"] == {"key": {"tuple": [{"slice": [51.5, None, None]}]}}
    assert si.std(axis=("x", 2)).history[-1]["params"] == {"axis": ["x", 2]}
    assert si.transpose(signal_axes=[0, "y"]).history[-1]["params"] == {"signal_axes": [0, "y"]}


@pytest.mark.parametrize(
    "value",
    [
        slice(1, 2, None), slice(None, 94.5, 0.4), (1, slice(2.0, None), Ellipsis), Ellipsis, [1, (2, 3)],
        {"a": (1, 2), "b": [slice(None)], "c": None}, np.arange(6, dtype=np.uint16).reshape(2, 3),
        np.array([1.5, -2.0], dtype=np.float32), "txt", True, 3, -2.5,
    ],
    ids=repr,
)
def test_encode_decode_round_trip(value):
    enc = H.encode(value)
    back = H.decode(json.loads(json.dumps(enc)))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    else:
        assert back == value and type(back) is type(value)


def test_encode_numpy_scalars_and_paths(tmp_path):
    assert H.encode(np.int64(5)) == 5 and type(H.encode(np.int64(5))) is int
    assert H.encode(np.float32(0.5)) == 0.5
    assert H.encode(tmp_path / "a.zarr") == str(tmp_path / "a.zarr")
    with pytest.raises(TypeError, match="cannot be recorded"):
        H.encode(object())


@settings(max_examples=50, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.just(Ellipsis),
            st.builds(slice, st.one_of(st.none(), st.integers()), st.one_of(st.none(), st.floats(-9, 9))),
        ),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                                st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        max_leaves=8,
    )
)
def test_encode_decode_property(value):
    assert H.decode(json.loads(json.dumps(H.encode(value)))) == value


# -- replay --------------------------------------------------------------------------------------------------
def _save_raw(s, path):
    try:
        s.save(path)
    except Exception as exc:  # noqa: BLE001 - the store is another module; report, do not hide
        pytest.skip(f"zarr store IO failed ({type(exc).__name__}: {exc}); replay cannot be tested")


def test_replay_bit_for_bit(si, tmp_path):
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    s = emscale.load(raw)
    assert s.history[0]["op"] == "load" and s.history[0]["source"]["sha256"]
    np.testing.assert_array_equal(s.data, si.data)
    out = s.inav[1:7, 2.0:].isig[51.0:55.1].rebin((2, 1, 2)).sum(axis=(1, -1))
    hist = json.loads(json.dumps(out.history))  # as it would be stored
    again = emscale.replay(hist)
    assert np.array_equal(again.data, out.data) and again.data.dtype == out.data.dtype
    assert again.axes == out.axes
    # the raw file moved: give its new place
    moved = tmp_path / "moved.zarr"
    raw.rename(moved)
    again = emscale.replay(hist, source=moved)
    assert np.array_equal(again.data, out.data)
    # float results replay bit for bit too
    f = s.as_lazy(chunks=(2, 8, 40)).std(axis="x").mean(axis=0).compute()
    g = emscale.replay(json.loads(json.dumps(f.history)), source=moved)
    assert np.array_equal(g.data, f.data)


def test_replay_modified_source_is_refused(si, tmp_path):
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    out = emscale.load(raw).isig[51.0:52.0].sum()
    changed = Signal(si.data, axes=[AXES[0], AXES[1], {**AXES[2], "offset": 49.0}], signal_type="EELS")
    changed.save(raw, overwrite=True)
    with pytest.raises(emscale.ReplayError, match="does not match the recorded input"):
        emscale.replay(out.history)
    # explicitly allowed: replays against the new file
    assert emscale.replay(out.history, verify_digest=False).data.shape == ()


def test_replay_detects_changed_data_with_same_metadata(si, tmp_path):
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    out = emscale.load(raw).sum()
    Signal(si.data + 1, axes=AXES, signal_type="EELS").save(raw, overwrite=True)
    with pytest.raises(emscale.ReplayError):
        emscale.replay(out.history)


def test_replay_errors(si, tmp_path):
    with pytest.raises(emscale.ReplayError, match="empty history"):
        emscale.replay([])
    with pytest.raises(emscale.ReplayError, match="not with a load"):
        emscale.replay(si.sum().history)
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    hist = emscale.load(raw).sum().history
    hist.append(H.entry("frobnicate", {"n": 1}))
    with pytest.raises(emscale.ReplayError, match=r"entry 2 \('frobnicate'\) cannot be replayed"):
        emscale.replay(hist)


def test_replay_of_a_signal_replays_its_history_and_a_folder_is_no_input(si, tmp_path):
    """em.replay(s) gave "TypeError: 'Signal' object is not subscriptable"; a folder given as the input was
    "does not match the recorded input" (the SHA-256 of no file at all)."""
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    out = emscale.load(raw).isig[51.0:55.1].sum(axis="x")
    np.testing.assert_array_equal(emscale.replay(out).data, out.data)
    with pytest.raises(emscale.ReplayError, match="replay takes a history .*, not a int"):
        emscale.replay(3)
    (tmp_path / "folder").mkdir()
    with pytest.raises(emscale.FileFormatError, match=r"folder: is a directory, not a file \(nor an emscale "
                                                      r"\.zarr store\)"):
        emscale.replay(out.history, source=tmp_path / "folder")


@pytest.mark.parametrize(("damage", "said"), [
    (lambda h: h.append(["sum"]), r"history entry 2 is a list, not a recorded step"),
    (lambda h: h[1].update(params={"axis": "E", "frobs": 3}), r"entry 1 \('sum'\) does not fit the operation:.*frobs"),
    (lambda h: h[1].update(params=[1, 2]), r"entry 1 \('sum'\): params is a list"),
    (lambda h: h[1].update(op=["sum"]), r"entry 1 names no operation \(op: \['sum'\]\)"),
    (lambda h: h.__setitem__(0, "load"), r"entry 0 is a str, not a recorded load"),
])
def test_a_damaged_history_entry_is_named(si, tmp_path, damage, said):
    """A damaged entry (hand-edited, truncated) used to fail with a bare TypeError or AttributeError from inside
    the operation, naming neither the step nor the entry."""
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    hist = json.loads(json.dumps(emscale.load(raw).sum(axis="E").history))
    damage(hist)
    with pytest.raises(emscale.ReplayError, match=said):
        emscale.replay(hist)


def test_file_digest_of_plain_file(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"abc")
    assert H.file_digest(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _counting_reads(monkeypatch) -> list:
    reads = []
    real = H.hashlib.file_digest
    monkeypatch.setattr(H.hashlib, "file_digest", lambda fh, name: reads.append(fh.name) or real(fh, name))
    return reads


def test_a_file_unchanged_since_it_was_hashed_is_not_read_again(tmp_path, monkeypatch):
    """A recipe run read its input whole three times for the same digest (7 s a pass for a 10 GB file). A file
    whose size, inode and change time are those of an earlier read is not read again; one written since is."""
    monkeypatch.setattr(H, "_DIGESTS", {})
    reads = _counting_reads(monkeypatch)
    p = tmp_path / "a.bin"
    p.write_bytes(b"abc")
    # written just now: the change time has the kernel's tick (or a coarser file system's), a rewrite within it
    # would keep it, so the digest is not kept
    assert H.file_digest(p) == H.file_digest(p) and len(reads) == 2
    monkeypatch.setattr(H, "SETTLE_S", -3600.0)  # as if written long before
    first = H.file_digest(p)
    assert H.file_digest(p) == H.file_digest(tmp_path / "." / "a.bin") == first and len(reads) == 3
    time.sleep(0.05)  # past the change time's tick
    p.write_bytes(b"abd")  # same size, other bytes
    assert H.file_digest(p) != first and len(reads) == 4
    os.utime(p, ns=(0, p.stat().st_mtime_ns))  # a touch changes the change time too: read again, same digest
    assert H.file_digest(p) == hashlib.sha256(b"abd").hexdigest() and len(reads) == 5


def test_decompose_records_the_method_options_it_ran_with_and_replays_older_records(tmp_path):
    """A method option left at its default is written as the default's value (``on="factors"`` for ICA), so a
    later change of default cannot change what a history replays to; a record from before ICA recorded ``on``
    (no such key) replays as FastICA of the maps, the only way then, not as today's default."""
    rng = np.random.default_rng(0)
    path = tmp_path / "counts.zarr"
    Signal(rng.poisson(5.0, (16, 16, 64)).astype(np.uint16)).save(path)
    s = emscale.load(path)
    d = emscale.decompose(s, "ica", n_components=2)
    params = d.history[-1]["params"]
    assert params["on"] == "factors" and params["diff_order"] == 1 and params["max_iter"] == 1000
    assert params["loss"] is None and params["pure_pixels"] is None  # NMF's options: not ICA's
    old = [dict(e) for e in d.history]
    old[-1]["params"] = {k: v for k, v in params.items() if k not in ("on", "diff_order")}
    by_maps = emscale.decompose(s, "ica", n_components=2, on="loadings")
    np.testing.assert_array_equal(emscale.replay(old).factors_array, by_maps.factors_array)
    np.testing.assert_array_equal(emscale.replay(d.history).factors_array, d.factors_array)
    assert not np.array_equal(d.factors_array, by_maps.factors_array)


def test_a_derived_signal_owns_its_history_entries(si, tmp_path):
    """``derive`` copied the list, not the entries: editing the child's load entry changed the parent's."""
    raw = tmp_path / "raw.zarr"
    si.save(raw)
    parent = emscale.load(raw)
    child = parent.isig[51.0:55.0]
    child.history[0]["params"]["lazy"] = True
    child.history[0]["params"]["new"] = [1, 2]
    assert parent.history[0]["params"] == {"lazy": False}
    assert child.history[0]["params"] == {"lazy": True, "new": [1, 2]}
    assert [e["op"] for e in parent.history] == ["load"] and [e["op"] for e in child.history] == ["load", "isig"]
    grandchild = child.sum()
    parent.history[0]["params"]["lazy"] = "edited"  # nor does a parent's edit reach what was derived from it
    assert grandchild.history[0]["params"]["lazy"] is True and child.history[0]["params"]["lazy"] is True


def test_a_signal_made_outside_the_operations_is_marked_and_its_replay_refused(si, tmp_path):
    """``em.derive(s, np.log1p(...), s.axes)`` in a user's script left no entry: the history ['load', 'isig'] of
    the saved result replayed into other numbers (up to 3230.8 on a real EELS cube) without a word, and
    ``emscale history --as-recipe`` exported a recipe giving those other numbers."""
    from emscale.workflows.recipes import RecipeError, recipe_from_history

    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    s = emscale.load(raw)
    k = emscale.derive(s, np.log1p(s.data), s.axes).isig[51.0:55.0]
    assert [e["op"] for e in k.history] == ["load", "unrecorded", "isig"]
    k.save(tmp_path / "k.zarr")
    t = emscale.load(tmp_path / "k.zarr")
    with pytest.raises(emscale.ReplayError, match=r"history entry 1 is a step emscale did not record \(em.derive "
                                                  r"outside an operation"):
        emscale.replay(t.history)
    with pytest.raises(RecipeError, match="history entry 1 is a step emscale did not record"):
        recipe_from_history(t.history)
    # a copy of the same numbers held otherwise is no step, and an operation's own derive is its recorded step
    assert [e["op"] for e in s.as_lazy().compute().history] == ["load"]
    assert [e["op"] for e in s.isig[51.0:55.0].history] == ["load", "isig"]


def test_numbers_changed_in_place_before_a_save_are_named_by_replay(si, tmp_path):
    """``s.data[...] = 0`` then save: the replay of the store's history gave the numbers before the edit, silently.
    A save pins the history's last entry to the digest of the numbers written; replay checks it."""
    raw = tmp_path / "raw.zarr"
    _save_raw(si, raw)
    out = emscale.load(raw).isig[51.0:55.0].compute()
    out.save(tmp_path / "a.zarr")
    assert out.history[-1]["data_sha256"] == emscale.load(tmp_path / "a.zarr").history[-1]["data_sha256"]
    np.testing.assert_array_equal(emscale.replay(emscale.load(tmp_path / "a.zarr").history).data, out.data)
    before = out.data.copy()
    out.data[0, 0, :] = 0
    out.save(tmp_path / "b.zarr")
    t = emscale.load(tmp_path / "b.zarr")
    with pytest.raises(emscale.ReplayError, match=r"entry 1 \('isig'\): the replayed numbers differ from those saved "
                                                  r"with this history .*an in-place edit of s.data"):
        emscale.replay(t.history)
    np.testing.assert_array_equal(emscale.replay(t.history, verify_digest=False).data, before)
    # the same for the data as loaded (the load entry is the last), and lazily
    s = emscale.load(raw)
    s.data[0, 0, 0] += 1
    s.save(tmp_path / "c.zarr")
    with pytest.raises(emscale.ReplayError, match=r"entry 0 \('load'\): the replayed numbers differ"):
        emscale.replay(emscale.load(tmp_path / "c.zarr", lazy=True))
