"""Provenance records: every operation that derives a Signal or a result appends one entry to its history.

An entry is ``{"op", "params", "version", "time"}``; a load entry adds ``"source": {"path", "sha256", ...}``.
Parameters are written with the one codec (:mod:`.codec`), so that JSON round-trips them and replay
(:mod:`emscale.workflows.replay`) can call the same registered operations again. Entries are made by the
operation registry (:mod:`.registry`) and by the loader, never by hand in an operation.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .codec import decode, encode
from .version import __version__


def entry(op: str, params: dict | None = None, **extra) -> dict:
    e = {
        "op": op,
        "params": encode(dict(params or {})),
        "version": __version__,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    e.update(extra)
    return e


# the op of an entry that marks a step no operation recorded: numbers a caller computed and wrapped with
# ``derive`` outside any operation. Replay cannot redo it and refuses; nothing else ever writes this op
UNRECORDED = "unrecorded"


def unrecorded_entry(how: str) -> dict:
    """The mark :func:`emscale.core.signal.derive` leaves in a history for a Signal made outside any operation."""
    return entry(UNRECORDED, {}, how=how)


def unrecorded_step(i: int, e: dict) -> str:
    """What a history entry ``i`` marked :data:`UNRECORDED` is, for the refusal of those who would redo it."""
    return f"history entry {i} is a step emscale did not record ({e.get('how', 'unrecorded')})"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file. For a zarr store (a directory) it covers the metadata documents only -- hashing every
    chunk of a many-GB store at each load would cost a full read -- but emscale stores carry the digest of
    their numbers in those documents (written during the save pass), so new data changes it too. A file is read
    once in a process while it stays unchanged (:data:`SETTLE_S`)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir() and not (p / "zarr.json").is_file():  # the digest of no file at all: any folder would "differ"
        from .errors import FileFormatError

        raise FileFormatError(f"{p}: is a directory, not a file (nor an emscale .zarr store); name the input file "
                              "itself")
    if p.is_dir():
        for f in sorted(p.rglob("zarr.json")):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(f.read_bytes())
        return h.hexdigest()
    return _cached_file_digest(p)


# Digests of files read in this process, by what the file system says of them: a recipe run read its input whole
# three times (the recipe's pin, the replayed recipe's check, the load's history entry), 7 s a pass for a 10 GB
# file. A file changed since has another size, inode, or change time (the kernel sets the ctime at every write and
# utime, and no user can set it back); the change time is kept at the kernel's tick (a few ms) or a coarser file
# system's (FAT: 2 s), so a file changed within SETTLE_S of its hashing is never taken from here, as git treats an
# index entry as racily clean
SETTLE_S = 2.0
_DIGESTS: dict[tuple, str] = {}
_MOST_DIGESTS = 64


def _cached_file_digest(p: Path) -> str:
    st = os.stat(p)
    key = (str(p.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    started = time.time()
    with open(p, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    if max(st.st_mtime, st.st_ctime) < started - SETTLE_S:
        if len(_DIGESTS) >= _MOST_DIGESTS:
            _DIGESTS.pop(next(iter(_DIGESTS)))
        _DIGESTS[key] = digest
    return digest


# decode and encode: the codec's pair, for readers of histories
__all__ = ["UNRECORDED", "decode", "encode", "entry", "file_digest", "unrecorded_entry", "unrecorded_step"]


# the folder of the input a recipe runs on (set by the recipe runner while its steps run): a store converted from a
# raw file elsewhere has that raw file in its history, but the recipe's files lie beside the store
_INPUT_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar("input_folder", default=None)


@contextlib.contextmanager
def input_folder(folder) -> Iterator[None]:
    """While the block runs, :func:`file_beside_input` looks in ``folder`` first (a recipe's input folder)."""
    token = _INPUT_FOLDER.set(Path(folder))
    try:
        yield
    finally:
        _INPUT_FOLDER.reset(token)


# a folder being written under a temporary name and renamed into place when complete (:func:`staged_as`): a file
# loaded from inside it is recorded at the place it will have, not at the temporary one that is gone by then
_STAGED: contextvars.ContextVar[tuple[Path, Path] | None] = contextvars.ContextVar("staged", default=None)


@contextlib.contextmanager
def staged_as(tmp, final) -> Iterator[None]:
    """While the block runs, a load of a file below ``tmp`` records it below ``final`` (:func:`recorded_path`):
    ``tmp`` is a staging folder renamed to ``final`` at the end (the demo's), so histories name the file that
    will exist, and ``em.replay(history)`` re-runs from it."""
    token = _STAGED.set((Path(tmp).resolve(), Path(final).resolve()))
    try:
        yield
    finally:
        _STAGED.reset(token)


def recorded_path(path) -> str:
    """The absolute path a load records for ``path``: inside a staging folder (:func:`staged_as`), its final one."""
    p = Path(path).resolve()
    staged = _STAGED.get()
    if staged is not None and p.is_relative_to(staged[0]):
        return str(staged[1] / p.relative_to(staged[0]))
    return str(p)


def staged_file(path) -> Path:
    """Where a recorded ``path`` can be read now: inside a staging block (:func:`staged_as`), a path below the final
    folder is still below the staging one until the rename (the demo replays its own results before it)."""
    p = Path(path)
    staged = _STAGED.get()
    if staged is not None and not p.exists() and p.is_absolute() and p.is_relative_to(staged[1]):
        return staged[0] / p.relative_to(staged[1])
    return p


# the files file_beside_input found while a block ran (:func:`files_read`): what a results folder pins
_FILES_READ: contextvars.ContextVar[dict | None] = contextvars.ContextVar("files_read", default=None)


@contextlib.contextmanager
def files_read() -> Iterator[dict]:
    """While the block runs, the files :func:`file_beside_input` finds are collected in the dict yielded (name ->
    path): the recipe runner pins exactly those, by :func:`pinned_file`."""
    token = _FILES_READ.set({})
    try:
        yield _FILES_READ.get()
    finally:
        _FILES_READ.reset(token)


def pinned_file(name: str, path) -> dict:
    """A file read beside the input, as a results folder pins it: its name and SHA-256."""
    return {"name": name, "sha256": file_digest(path)}


def is_pinned_file(value) -> bool:
    return isinstance(value, dict) and set(value) == {"name", "sha256"}


def in_recipe() -> bool:
    """Whether a recipe's steps are running (:func:`input_folder` is set): a message's advice then names what a
    recipe step can set, not an argument of the Python call."""
    return _INPUT_FOLDER.get() is not None


def file_beside_input(history: list[dict], name, what: str) -> Path:
    """The file ``name`` beside the input: in a recipe, the folder of the recipe's input and no other; else the
    folder of the raw file the signal was loaded from (its history's ``load`` step).

    A step that reads a second file (an angle list, a trained model) names it this way -- a plain file name, no
    folders -- so that a recipe from someone else reads nothing outside its input's folder, and a results folder
    that carries its inputs stays complete. A results folder pins it as ``{"name", "sha256"}``: the same file, or
    an error naming it. ``what`` names the parameter in the error, which lists the folders
    looked in when the file is in none of them.
    """
    from .errors import DataError

    pinned = None
    if is_pinned_file(name):  # as a results folder pins it
        name, pinned = name["name"], name["sha256"]
    src = next((e["source"].get("path") for e in history if e.get("op") == "load" and e.get("source")), None)
    # in a recipe, not the raw file's folder too: a store saved from a file in the sender's private folder names that
    # folder in its history, and a recipe sent with the store would read (and quote, in its errors) a file there
    recipe_folder = _INPUT_FOLDER.get()
    folders = [recipe_folder.resolve()] if recipe_folder is not None else \
        [staged_file(src).parent.resolve()] if src else []
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        # the step records its parameter as given, and a results folder moved elsewhere must find the file again: a
        # path is refused, and where it is the input's own folder the message names the file to give (the full path
        # of the real series' angle file beside it was refused with no hint)
        beside = isinstance(name, str) and Path(name).is_absolute() and Path(name).resolve().parent in folders
        hint = f"; it is beside the input: give its name, {Path(name).name!r}" if beside else ""
        raise DataError(f"{what} {name!r}: give the plain name of a file beside the input (no folders){hint}")
    if not folders:
        raise DataError(f"{what} {name!r}: the signal was not loaded from a file (no load step in its history), "
                        "so there is no folder to look in")
    for folder in folders:
        if (folder / name).is_file():
            if (folder / name).resolve().parent != folder:  # a link out of the folder reads what it points at
                raise DataError(f"{what} {name!r}: {folder / name} is a link to {(folder / name).resolve()}, outside "
                                "the input's folder; a recipe reads only files in that folder")
            if pinned is not None and file_digest(folder / name) != pinned:
                raise DataError(f"{what} {name!r}: {folder / name} is not the file this step read (SHA-256 "
                                f"{file_digest(folder / name)[:12]}... against {str(pinned)[:12]}... recorded): it was "
                                "changed or replaced")
            read = _FILES_READ.get()
            if read is not None:
                read[name] = folder / name
            return folder / name
    looked = " or ".join(map(str, folders))
    raise DataError(f"{what} {name!r}: no such file beside the input (looked in {looked})")


# -- earlier states of a signal that a replay or a recipe run keeps ------------------------------------------------
# An arithmetic operand made from an ancestor of the signal (``s2 / s.sum(-1)`` with ``s2`` made from ``s``) is
# recorded as its steps from the state of the signal after its first n steps, ``{"derived": [...], "at": n}``. A
# replay and a recipe run hold those states (only the ones their steps name) while they run, so that the operand can
# be made again from them.
_EARLIER: contextvars.ContextVar[dict | None] = contextvars.ContextVar("earlier_states", default=None)


def operand_starts(value) -> set[int]:
    """The states (``"at": n``) that the derived operands in ``value`` (a step's parameters, or a whole history)
    start from, those nested in an operand's own steps included."""
    found: set[int] = set()

    def walk(v) -> None:
        if isinstance(v, dict):
            at = v.get("at")
            if "derived" in v and isinstance(at, int) and not isinstance(at, bool):
                found.add(at)
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    walk(value)
    return found


@contextlib.contextmanager
def keeping_states(needed) -> Iterator:
    """Within it, ``keep(obj)`` holds ``obj`` if it is the state after ``n`` steps (its history: the load and ``n``
    more entries) for an ``n`` in ``needed``; :func:`earlier_state` gives it back. Nested (an operand's own steps
    made again inside a replay), the states kept outside stay visible and ``needed`` adds to theirs; the inner ones
    are dropped when it ends."""
    outer = _EARLIER.get()
    wanted = set(needed) | (outer["needed"] if outer else set())
    states: dict[int, list] = {k: list(v) for k, v in (outer["states"] if outer else {}).items()}

    def keep(obj) -> None:
        history = getattr(obj, "history", None)
        if isinstance(history, list) and len(history) - 1 in wanted:
            states.setdefault(len(history) - 1, []).append(obj)

    token = _EARLIER.set({"needed": wanted, "states": states})
    try:
        yield keep
    finally:
        _EARLIER.reset(token)


def earlier_state(n: int, steps) -> object | None:
    """The state after ``n`` steps that the replay or recipe run in progress kept, the one whose steps after its
    load are ``steps`` (compared by :func:`step_key`; states of other chains may share ``n``); None outside one, or
    where none was kept."""
    kept = _EARLIER.get()
    want = [step_key(e) for e in steps]
    for obj in (kept["states"].get(n, []) if kept else []):
        if [step_key(e) for e in obj.history[1:]] == want:
            return obj
    return None


def step_key(e) -> tuple:
    """What identifies a history entry as a step: its operation, parameters and output (not its time or version)."""
    return (e.get("op"), e.get("params"), e.get("output")) if isinstance(e, dict) else (e,)
