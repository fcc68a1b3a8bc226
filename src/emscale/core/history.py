"""Provenance records: every operation that derives a Signal or a result appends one entry to its history.

An entry is ``{"op", "params", "version", "time"}``; a load entry adds ``"source": {"path", "sha256", ...}``.
Parameters are written with the one codec (:mod:`.codec`), so that JSON round-trips them and replay
(:mod:`emscale.workflows.replay`) can call the same registered operations again. Entries are made by the
operation registry (:mod:`.registry`) and by the loader, never by hand in an operation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
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


__all__ = ["decode", "encode", "entry", "file_digest"]  # the codec's pair, for readers of histories
