"""Replay: re-run a recorded history from the raw file, step by step, through the operation registry."""

from __future__ import annotations

import os
from pathlib import Path

from ..core import registry
from ..core.codec import decode
from ..core.errors import ReplayError
from ..core.history import UNRECORDED, file_digest, keeping_states, operand_starts, staged_file, unrecorded_step
from ..core.signal import Signal
from ..engine.passes import data_digest
from ..io import load


def replay(history: list[dict], source: str | os.PathLike | None = None, verify_digest: bool = True):
    """Re-run recorded steps from the raw file and return what the last one made (a Signal or a result).

    ``history`` is a Signal's (or a result's) ``history`` list, or the list saved with it. Its first entry must
    be the load; ``source`` replaces the recorded path (the raw file moved), and its digest must match the
    recorded one unless ``verify_digest=False``. Every later entry names a registered operation
    (:mod:`emscale.core.registry`) that is called on what the step before made; an entry with ``"output": i``
    takes the ``i``-th of the values that operation returns. A Signal or result given in place of its history
    replays that history.

    What the history cannot describe is refused, never replayed into other numbers (a :class:`ReplayError` naming
    the entry): a step marked ``"unrecorded"`` (a Signal made by ``em.derive`` outside any operation), and, where
    the signal was saved (a store pins the last entry to the SHA-256 of the numbers it holds, ``"data_sha256"``),
    numbers that differ from those saved -- changed by something no entry records, such as an in-place edit of
    ``s.data``. That check hashes each pinned step's output once (one pass over it); ``verify_digest=False``
    skips it with the input's. An in-place edit of a signal never saved leaves no trace to check.
    """
    if not isinstance(history, list | tuple) and isinstance(getattr(history, "history", None), list):
        history = history.history  # em.replay(s) for em.replay(s.history)
    if not isinstance(history, list | tuple):
        raise ReplayError(f"replay takes a history (a list: s.history), not a {type(history).__name__}")
    if not history:
        raise ReplayError("empty history: nothing to replay")
    first = history[0]
    if not isinstance(first, dict):
        raise ReplayError(f"history entry 0 is a {type(first).__name__}, not a recorded load (a dict)")
    if first.get("op") != "load":
        raise ReplayError(f"history starts with {first.get('op')!r}, not with a load: cannot replay from a file")
    src = first.get("source", {})
    path = Path(source) if source is not None else staged_file(src.get("path", ""))
    if not path.exists():
        raise ReplayError(f"{path}: the recorded input does not exist (pass source= to point at its new place)")
    if verify_digest and src.get("sha256"):
        got = file_digest(path)
        if got != src["sha256"]:
            raise ReplayError(
                f"{path} does not match the recorded input (sha256 {got[:12]}... != {src['sha256'][:12]}...)"
            )
    params = decode(first.get("params", {}))
    params.pop("path", None)
    obj = load(path, **params)
    if isinstance(obj, list):
        raise ReplayError(f"{path} holds several signals; the recorded load must pick one (signal_type=...)")
    if verify_digest and first.get("data_sha256"):
        _check_saved_numbers(obj, first, 0)
    # the states an operand made from an earlier state of the signal starts from (``"at": n``), held while it runs
    with keeping_states(operand_starts(history[1:])) as keep:
        keep(obj)
        return _replay_steps(obj, history, verify_digest, keep)


def _replay_steps(obj, history: list, verify_digest: bool, keep):
    for i, e in enumerate(history[1:], start=1):
        if not isinstance(e, dict):
            raise ReplayError(f"history entry {i} is a {type(e).__name__}, not a recorded step (a dict)")
        if not isinstance(e.get("op"), str):
            raise ReplayError(f"history entry {i} names no operation (op: {e.get('op')!r})")
        if e["op"] == UNRECORDED:
            raise ReplayError(f"{unrecorded_step(i, e)}: replay cannot redo it and would give other numbers; "
                              "declare the computation as an operation (emscale.core.registry.operation) so that it "
                              "is recorded")
        try:
            op = registry.get(e["op"])
        except registry.RegistryError as exc:
            raise ReplayError(f"history entry {i} ({e['op']!r}) cannot be replayed: {exc}") from None
        params = decode(e.get("params", {}))
        if not isinstance(params, dict):
            raise ReplayError(f"history entry {i} ({op.name!r}): params is a {type(params).__name__}, not a dict")
        params = op.replay_params(params)
        try:
            op.signature.bind(obj, **params)
        except TypeError as exc:  # a damaged entry, named here rather than deep inside the operation
            raise ReplayError(f"history entry {i} ({op.name!r}) does not fit the operation: {exc}") from None
        obj = op.function(obj, **params)
        if isinstance(obj, tuple):
            out = e.get("output", 0)
            if isinstance(out, bool) or not isinstance(out, int) or not 0 <= out < len(obj):
                raise ReplayError(f"history entry {i} ({op.name!r}): output {out!r} is not one of the "
                                  f"{len(obj)} values it returns")
            obj = obj[out]
        if verify_digest and e.get("data_sha256"):
            _check_saved_numbers(obj, e, i)
        keep(obj)
    return obj


def _check_saved_numbers(obj, e: dict, i: int) -> None:
    """Refuse a replayed step whose numbers are not those saved after it (the entry's ``data_sha256``)."""
    if not isinstance(obj, Signal):
        return
    got = data_digest(obj.data)
    if got != e["data_sha256"]:
        raise ReplayError(
            f"history entry {i} ({e['op']!r}): the replayed numbers differ from those saved with this history "
            f"(sha256 {got[:12]}... against {e['data_sha256'][:12]}... saved): the data were changed by something "
            "the history does not record (an in-place edit of s.data, numbers computed outside emscale's "
            "operations); pass verify_digest=False to get the replayed numbers anyway")
