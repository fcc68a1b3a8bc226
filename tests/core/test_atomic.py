"""Atomic writes under concurrency and crashes: one writer wins, kills leave the destination as it was and their
temporaries are cleaned by the next write, and a swap cut between its two renames is rolled back."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from emscale.core import atomic
from emscale.core.errors import OutputExistsError

SRC = str(Path(atomic.__file__).resolve().parents[2])  # the emscale under test, for the subprocesses


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- two writers, one destination ------------------------------------------------------------------------------
def _race_writer(kind: str, dst: str, who: int, barrier, results) -> None:
    from emscale.core import atomic
    from emscale.core.errors import OutputExistsError

    def fill(tmp: Path) -> None:
        barrier.wait(30)  # both writers are past the early existence check before either moves into place
        if kind == "dir":
            (tmp / "who").write_text(str(who))
            (tmp / "part2").write_text(str(who) * 1000)
        else:
            tmp.write_text(str(who))

    try:
        if kind == "dir":
            atomic.atomic_dir(dst, fill, create=True)
        else:
            atomic.atomic_write(dst, fill)
        results.put((who, "ok"))
    except OutputExistsError:
        results.put((who, "exists"))
    except BaseException as exc:  # noqa: BLE001
        results.put((who, repr(exc)))


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_two_writers_exactly_one_wins(tmp_path, kind):
    ctx = mp.get_context("spawn")
    for trial in range(3):
        dst = tmp_path / f"out{trial}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race_writer, args=(kind, str(dst), who, barrier, results)) for who in (1, 2)]
        for p in procs:
            p.start()
        outcome = dict(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
        assert sorted(outcome.values()) == ["exists", "ok"], outcome
        winner = next(w for w, o in outcome.items() if o == "ok")
        got = (dst / "who").read_text() if kind == "dir" else dst.read_text()
        assert got == str(winner)
        if kind == "dir":
            assert (dst / "part2").read_text() == str(winner) * 1000
    assert _hidden(tmp_path) == []


def test_two_overwriters_both_succeed_and_leave_one_whole(tmp_path):
    dst = tmp_path / "o"
    atomic.atomic_dir(dst, lambda t: (t / "who").write_text("0"), create=True)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()

    def run(who):
        return ctx.Process(target=_overwrite_writer, args=(str(dst), who, barrier, results))

    procs = [run(1), run(2)]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert outcome == {1: "ok", 2: "ok"}
    assert (dst / "who").read_text() in ("1", "2")
    assert sorted(p.name for p in dst.iterdir()) == ["who"]
    assert _hidden(tmp_path) == []


def _overwrite_writer(dst, who, barrier, results):
    from emscale.core import atomic

    def fill(tmp):
        barrier.wait(30)
        (tmp / "who").write_text(str(who))

    atomic.atomic_dir(dst, fill, overwrite=True, create=True)
    results.put((who, "ok"))


# -- a writer killed mid-write ---------------------------------------------------------------------------------
KILLED_WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {src!r})
from emscale.core import atomic

def fill(tmp):
    (tmp / "who").write_text("new")
    (tmp / "big").write_bytes(b"x" * 100_000)
    Path({marker!r}).write_text("writing")
    time.sleep(60)

atomic.atomic_dir({dst!r}, fill, overwrite=True, create=True)
"""


def _spawn(tmp_path, script: str, **fmt) -> subprocess.Popen:
    f = tmp_path / "script.py"
    f.write_text(textwrap.dedent(script).format(src=SRC, **fmt))
    return subprocess.Popen([sys.executable, str(f)])


def test_kill_9_mid_write_keeps_destination_and_next_write_cleans_up(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    dst, marker = work / "out", tmp_path / "marker"
    atomic.atomic_dir(dst, lambda t: (t / "who").write_text("old"), create=True)
    proc = _spawn(tmp_path, KILLED_WRITER, dst=str(dst), marker=str(marker))
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert (dst / "who").read_text() == "old"
    left = _hidden(work)
    assert len(left) == 1 and left[0].startswith(f".out.tmp-{proc.pid}-")
    atomic.atomic_dir(work / "other", lambda t: None, create=True)  # another destination: not touched
    assert len(_hidden(work)) == 1
    # a read of the destination (a load calls recover) removes it: it stayed through every load and listing,
    # until the destination itself was written again
    atomic.recover(dst)
    assert _hidden(work) == [] and (dst / "who").read_text() == "old"
    atomic.atomic_dir(dst, lambda t: (t / "who").write_text("next"), overwrite=True, create=True)
    assert (dst / "who").read_text() == "next"
    assert _hidden(work) == []


def test_temporaries_of_a_live_process_are_kept(tmp_path):
    dst = tmp_path / "out"
    live = atomic.temporary_sibling(dst)  # this process: alive
    live.mkdir()
    atomic.atomic_dir(dst, lambda t: (t / "a").write_text("1"), create=True)
    assert live.exists()


# -- a crash between the two renames of a directory swap -------------------------------------------------------
CRASH_BETWEEN_RENAMES = """
import os, sys
sys.path.insert(0, {src!r})
from emscale.core import atomic

atomic._RENAMEAT2 = None  # the portable swap: two renames
calls = []
real = os.replace

def replace(a, b):
    calls.append((a, b))
    real(a, b)
    if len(calls) == 1:
        os._exit(9)  # destination moved aside, new one not yet in place

atomic.os.replace = replace
atomic.atomic_dir({dst!r}, lambda t: (t / "who").write_text("new"), overwrite=True, create=True)
"""


@pytest.mark.parametrize("then", ["write", "read"])
def test_crash_between_renames_is_rolled_back(tmp_path, then):
    work = tmp_path / "w"
    work.mkdir()
    dst = work / "out"
    atomic.atomic_dir(dst, lambda t: (t / "who").write_text("old"), create=True)
    proc = _spawn(tmp_path, CRASH_BETWEEN_RENAMES, dst=str(dst))
    assert proc.wait(60) == 9
    assert not dst.exists()  # the state the crash left: the data only in .out.old-*
    assert any(n.startswith(".out.old-") for n in _hidden(work))
    if then == "write":
        with pytest.raises(OutputExistsError):  # the old output is back, so a plain write is refused
            atomic.atomic_dir(dst, lambda t: (t / "who").write_text("next"), create=True)
        assert (dst / "who").read_text() == "old"
        assert _hidden(work) == []
    else:
        with atomic.read_lock(dst):
            assert (dst / "who").read_text() == "old"


# -- plain behaviour -------------------------------------------------------------------------------------------
def test_atomic_write_refuses_then_overwrites(tmp_path):
    f = tmp_path / "a.txt"
    atomic.atomic_write(f, "one")
    with pytest.raises(OutputExistsError, match="already exists"):
        atomic.atomic_write(f, "two")
    atomic.atomic_write(f, b"three", overwrite=True)
    assert f.read_text() == "three"
    assert _hidden(tmp_path) == []


def test_failed_write_leaves_nothing(tmp_path):
    def boom(tmp):
        (tmp / "x").write_text("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic.atomic_dir(tmp_path / "d", boom, create=True)
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_on_the_disk_names_the_destination_not_its_temporary(tmp_path):
    """A full disk said "[Errno 28] No space left on device: '.d.tmp-1234-.../x'", a name the user never gave."""
    import errno

    def full(tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp / "x"))

    with pytest.raises(OSError, match=rf"^{tmp_path / 'd'}: could not be written \(No space left on device\): "
                                      "nothing written$"):
        atomic.atomic_dir(tmp_path / "d", full, create=True)
    assert list(tmp_path.iterdir()) == []


def test_a_lone_old_copy_is_not_resurrected(tmp_path):
    # A crash after the swap, before the clean-up, leaves only .out.old-*; the user then deletes out on purpose.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    old = tmp_path / f".out.old-{pid}-{atomic._HOST}-0123abcd"
    old.mkdir()
    (old / "who").write_text("ancient")
    atomic.atomic_dir(tmp_path / "out", lambda t: (t / "who").write_text("fresh"), create=True)
    assert (tmp_path / "out" / "who").read_text() == "fresh"
    assert _hidden(tmp_path) == []


def test_without_renameat2_moves_still_refuse_to_replace(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_RENAMEAT2", None)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("taken")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_text("new")
    with pytest.raises(FileExistsError):
        atomic._move_new(tmp_path / "t", tmp_path / "d")
    (tmp_path / "f").write_text("taken")
    (tmp_path / "g").write_text("new")
    with pytest.raises(FileExistsError):
        atomic._move_new(tmp_path / "g", tmp_path / "f")
    assert (tmp_path / "d" / "x").read_text() == (tmp_path / "f").read_text() == "taken"
    atomic.atomic_dir(tmp_path / "d", lambda t: (t / "x").write_text("swapped"), overwrite=True, create=True)
    assert (tmp_path / "d" / "x").read_text() == "swapped"
    assert _hidden(tmp_path) == []


def test_a_fill_in_place_cut_off_is_undone_before_the_next_run(tmp_path):
    # a crash half-way through filling an empty results folder left recipe.toml and report.html there, no manifest:
    # every later run was refused ("not empty"; with --overwrite, "not a results folder that emscale wrote")
    import json

    from emscale.core.atomic import FILLING, check_output_folder

    out = tmp_path / "out"
    out.mkdir()
    (out / "recipe.toml").write_text("x")
    (out / "fig").mkdir()
    (out / FILLING).write_text(json.dumps({"names": ["recipe.toml", "fig", "manifest.json"], "last": "manifest.json"}))
    check_output_folder(out, overwrite=False, unlisted=lambda p: None)
    assert list(out.iterdir()) == []
    # the last entry in: the fill was whole, and only its list goes
    (out / "manifest.json").write_text("{}")
    (out / FILLING).write_text(json.dumps({"names": ["manifest.json"], "last": "manifest.json"}))
    with pytest.raises(OutputExistsError, match="exists and is not empty"):
        check_output_folder(out, overwrite=False, unlisted=lambda p: None)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
