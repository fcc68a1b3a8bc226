"""Results that are not Signals (a decomposition, a clustering, a dynamic-sampling run...): one base class.

A result carries a ``history`` (the registry appends to it like to a Signal's), names its numbers
(:meth:`Result.arrays`: what digests and replay compare) and saves to one ``.npz`` file: arrays as npz members,
everything else as one JSON member written with the one codec -- no pickled objects, so a result file from
someone else is read with ``allow_pickle=False``. :func:`load_result` reads any kind back by the format tag the
file carries.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import codec
from .atomic import atomic_write
from .errors import DataError, FileFormatError, OutputExistsError

FORMAT_VERSION = 1
_KINDS: dict[str, type[Result]] = {}


class Result:
    """Base class of result objects. Subclasses set ``KIND`` (the file's format tag) and implement
    :meth:`arrays`, :meth:`save` and :meth:`load` (usually with :func:`save_npz` / :func:`load_npz`)."""

    KIND: ClassVar[str] = ""
    history: list

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            _KINDS[cls.KIND] = cls

    def arrays(self) -> dict[str, np.ndarray]:
        """The result's numbers by name, in a fixed order (what a digest of the result covers)."""
        raise NotImplementedError

    def save(self, path, overwrite: bool = False) -> Path:
        raise NotImplementedError

    @classmethod
    def load(cls, path) -> Result:
        raise NotImplementedError


def save_npz(path, kind: str, meta: dict, arrays: dict, overwrite: bool = False) -> Path:
    """Numbers as npz members, everything else as one JSON member (the one codec); written atomically."""
    path = Path(path)
    if path.suffix.lower() == ".zarr":  # was written as x.zarr.npz without a word
        raise DataError(f"{path}: a result is saved as one .npz file, not a .zarr store (signals are); name it "
                        f"{path.with_suffix('.npz').name}")
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True")
    text = codec.dumps({"format": kind, "version": FORMAT_VERSION, **meta})
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)
    atomic_write(path, buf.getvalue(), overwrite=overwrite)
    return path


def _read(path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = codec.loads(bytes(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError) as e:
        raise FileFormatError(f"{path} is not a saved emscale result: {e}") from e
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path} is not a saved emscale result (no metadata table)")
    return meta, arrays


def load_npz(path, kind: str) -> tuple[dict, dict]:
    meta, arrays = _read(path)
    if meta.get("format") != kind:
        raise FileFormatError(f"{path} is not a saved {kind} file (it says {meta.get('format')!r})")
    if isinstance(meta.get("history"), list):
        # a history is held encoded, as a Signal's is (JSON-safe: `emscale history --json`, a recipe, a store)
        meta["history"] = codec.encode(meta["history"])
    return meta, arrays


def result_kind(path) -> str | None:
    """The format tag of an emscale result file (``"emscale-decomposition"``...), or None for any other file."""
    p = Path(path)
    if p.suffix.lower() != ".npz" or not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            if "meta" not in z.files:
                return None
            meta = codec.loads(bytes(z["meta"]))
    except Exception:  # not an npz, or not ours: the caller's own reader says what is wrong with it
        return None
    kind = meta.get("format") if isinstance(meta, dict) else None
    return kind if isinstance(kind, str) and kind.startswith("emscale-") else None


def load_result(path) -> Result:
    """Any saved result, by the format tag in its file."""
    meta, _ = _read(path)
    cls = _KINDS.get(meta.get("format"))
    if cls is None:
        raise FileFormatError(f"{path}: unknown result format {meta.get('format')!r}; known: {sorted(_KINDS)}")
    return cls.load(path)


__all__ = ["Result", "load_npz", "load_result", "result_kind", "save_npz"]
