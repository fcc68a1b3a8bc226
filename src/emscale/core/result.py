"""Results that are not Signals (a decomposition, a clustering, a dynamic-sampling run...): one base class.

A result carries a ``history`` (the registry appends to it like to a Signal's), names its numbers
(:meth:`Result.arrays`: what digests and replay compare) and saves to one ``.npz`` file: arrays as npz members,
everything else as one JSON member written with the one codec -- no pickled objects, so a result file from
someone else is read with ``allow_pickle=False``. :func:`load_result` reads any kind back by the format tag the
file carries. Since version 2 the JSON member holds the SHA-256 of the numbers and of itself (:func:`_content_digest`):
a file edited or damaged (factors made NaN, a column cut, a navigation size changed) is refused by name, where it
loaded and clustered NaNs; a file of version 1 has none and is read as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import codec
from .atomic import atomic_write
from .errors import DataError, FileFormatError, OutputExistsError

FORMAT_VERSION = 2  # 2: the content digest
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
    described = codec.encode({"format": kind, "version": FORMAT_VERSION, **meta})
    text = codec.dumps({**described, "sha256": _content_digest(described, arrays)})
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)
    atomic_write(path, buf.getvalue(), overwrite=overwrite)
    return path


def _content_digest(described: dict, arrays: dict) -> str:
    """SHA-256 of a result's JSON-safe description (without its digest) and of each array's name, dtype, shape and
    bytes."""
    h = hashlib.sha256(json.dumps(described, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\n{name}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read(path) -> tuple[dict, dict]:
    raw, arrays, _ = _checked(path)
    return codec.decode(raw), arrays


def _checked(path) -> tuple[dict, dict, str | None]:
    """A result file's description (as stored), its arrays and the digest recorded with them (None in a file of
    version 1), checked against each other."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = json.loads(bytes(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    # a member nested past Python's recursion too; a damaged zip: a member's CRC-32, a header, a cut-off end
    except (OSError, ValueError, KeyError, EOFError, NotImplementedError, RecursionError, zipfile.BadZipFile) as e:
        raise _unreadable(path, e) from e
    if not isinstance(raw, dict):
        raise FileFormatError(f"{path} is not a saved emscale result (no metadata table)")
    recorded = raw.pop("sha256", None)
    if recorded is None and raw.get("version", 1) != 1:  # written with every file since version 2: taken out
        raise FileFormatError(f"{path}: a result of version {raw.get('version')!r} without its content digest: edited "
                              "or damaged; not read")
    if recorded is not None and recorded != _content_digest(raw, arrays):
        raise FileFormatError(f"{path}: its numbers or description no longer match the digest recorded when it was "
                              "saved: edited or damaged; not read")
    return raw, arrays, recorded


def _unreadable(path, e: Exception) -> FileFormatError:
    """The error for a file np.load could not read as a result: a damaged or truncated result where the file still
    shows emscale's description member (``meta.npy``, written first: in its first header, or in the zip's directory
    at the end), else a file that is no result of emscale's."""
    why = " ".join(f"{type(e).__name__}: {e}".split())  # one line: numpy's messages can run over several
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return FileFormatError(f"{path} is not a saved emscale result: {why}")
    if not head.startswith(b"PK\x03\x04"):  # numpy took it for a pickle and advised loading it unsafely
        why = "the file is empty" if not head else "no zip header at its start, which every .npz has"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except Exception:  # the directory at the end is the damaged part, or the file is no zip at all
        names = None
    if b"meta.npy" in head or (names is not None and "meta.npy" in names):
        return FileFormatError(f"{path}: a damaged or truncated emscale result ({why}); not read")
    if names is not None:  # a readable .npz of someone else's (np.savez): say so, not "KeyError: 'meta'"
        return FileFormatError(f"{path}: a .npz without the description member ('meta') every emscale result "
                               "has: not a result emscale saved")
    return FileFormatError(f"{path} is not a saved emscale result: {why}")


def verify_result(path) -> dict:
    """Check a saved result's numbers and description against the content digest recorded when it was saved
    (``emscale verify``). Returns ``{"path", "kind", "arrays", "sha256"}`` (``"arrays"``: how many); raises
    ``FileFormatError`` naming the file where they differ, or where it has no digest (version 1)."""
    raw, arrays, recorded = _checked(path)
    if recorded is None:
        raise FileFormatError(f"{path}: a result of version 1, saved without a content digest: nothing to verify it "
                              "against (it loads as before)")
    return {"path": str(path), "kind": raw.get("format"), "arrays": len(arrays), "sha256": recorded}


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


def is_result_path(path) -> bool:
    """Whether ``path`` is read as a result: an existing ``.npz`` file, which is never a signal. One that
    :func:`result_kind` does not recognise (damaged, or not emscale's) is read as one too, to be refused as what it is
    (a store's or a vendor file's reader called a damaged result "not an emscale zarr store")."""
    p = Path(path)
    return p.suffix.lower() == ".npz" and p.is_file()


def load_result(path) -> Result:
    """Any saved result, by the format tag in its file."""
    meta, _ = _read(path)
    cls = _KINDS.get(meta.get("format"))
    if cls is None:
        raise FileFormatError(f"{path}: unknown result format {meta.get('format')!r}; known: {sorted(_KINDS)}")
    try:
        return cls.load(path)
    except FileFormatError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:  # a file of version 1, damaged
        raise FileFormatError(f"{path}: a damaged {meta.get('format')} file ({type(e).__name__}: {e})") from e


__all__ = ["Result", "is_result_path", "load_npz", "load_result", "result_kind", "save_npz"]
