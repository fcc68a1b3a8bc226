"""Provenance: every operation that derives a Signal appends a JSON-safe entry to its history.

An entry is ``{"op", "params", "version", "time"}``; a load entry adds ``"source": {"path", "sha256", ...}``.
Parameters are encoded so that JSON round-trips them (tuples become lists, slices become
``{"slice": [start, stop, step]}``) and :func:`replay` can call the same operations again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EmscaleError


def version() -> str:
    from . import __version__

    return __version__


def encode(value: Any) -> Any:
    """JSON-safe form of a parameter value."""
    if isinstance(value, slice):
        return {"slice": [encode(value.start), encode(value.stop), encode(value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} cannot be recorded in history")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if set(value) == {"slice"}:
            return slice(*(decode(v) for v in value["slice"]))
        if set(value) == {"ellipsis"}:
            return Ellipsis
        if set(value) == {"tuple"}:
            return tuple(decode(v) for v in value["tuple"])
        if set(value) == {"array", "dtype"}:
            return np.asarray(value["array"], dtype=value["dtype"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def entry(op: str, params: dict | None = None, **extra) -> dict:
    e = {
        "op": op,
        "params": encode(dict(params or {})),
        "version": version(),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    e.update(extra)
    return e


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file. For a zarr store (a directory) it covers the metadata documents only -- hashing every
    chunk of a many-GB store at each load would cost a full read -- but emscale stores carry the digest of
    their numbers in those documents (written during the save pass), so new data changes it too."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.rglob("zarr.json")):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(f.read_bytes())
        return h.hexdigest()
    with open(p, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# Operations that replay can re-run: op name -> function(signal, **params) -> signal.
_REPLAYABLE: dict[str, Callable] = {}


def replayable(op: str):
    """Register how to re-run a recorded operation."""

    def deco(fn):
        _REPLAYABLE[op] = fn
        return fn

    return deco


class ReplayError(EmscaleError):
    pass


def _register_all() -> None:
    """Import the modules whose operations register themselves for replay (a fresh process has not yet)."""
    import importlib

    for mod in ("signal", "spectroscopy.background", "spectroscopy.eels", "spectroscopy.eds"):
        importlib.import_module(f"{__package__}.{mod}")


def replay(history: list[dict], source: str | os.PathLike | None = None, verify_digest: bool = True):
    """Re-run recorded steps from the raw file and return the resulting Signal.

    ``history`` is a Signal's ``history`` list (or the list saved with it). Its first entry must be the load;
    ``source`` replaces the recorded path (the raw file moved), and its digest must match the recorded one
    unless ``verify_digest=False``.
    """
    from .io import load

    if not history:
        raise ReplayError("empty history: nothing to replay")
    first = history[0]
    if first.get("op") != "load":
        raise ReplayError(
            f"history starts with {first.get('op')!r}, not with a load: cannot replay from a file"
        )
    src = first.get("source", {})
    path = Path(source) if source is not None else Path(src.get("path", ""))
    if verify_digest and src.get("sha256"):
        got = file_digest(path)
        if got != src["sha256"]:
            raise ReplayError(
                f"{path} does not match the recorded input (sha256 {got[:12]}... != {src['sha256'][:12]}...)"
            )
    params = decode(first.get("params", {}))
    params.pop("path", None)
    s = load(path, **params)
    if isinstance(s, list):
        raise ReplayError(f"{path} holds several signals; the recorded load must pick one (signal_type=...)")
    _register_all()
    for e in history[1:]:
        op = e.get("op")
        fn = _REPLAYABLE.get(op)
        if fn is None:
            raise ReplayError(f"history step {op!r} cannot be replayed (known: {sorted(_REPLAYABLE)})")
        s = fn(s, **decode(e.get("params", {})))
    return s
