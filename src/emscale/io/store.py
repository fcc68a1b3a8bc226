"""The native store: a zarr v3 group holding the array and, in its attributes, axes, metadata and history.

Layout of ``x.zarr``: group attributes ``{"emscale": {...}}`` and one array ``data`` chunked along navigation with
whole spectra per chunk, compressed with Blosc/zstd, in the signal's own dtype (counts stay integers). Writes go
to a hidden temporary sibling which is moved into place only once complete (``core/atomic.py``).

Integrity (format 2). Every chunk is written, zeros included (zarr would otherwise skip chunks equal to the fill
value and read them back as fill values), and the attributes keep the CRC32C of each chunk's stored bytes,
``chunk_crc32c``: one 8-hex-digit value per chunk in C order of the chunk grid. Every read goes through
``_ChecksumStore``, which checks a chunk's bytes against the value recorded for *its position* before zarr
decodes them, so a missing chunk, flipped or truncated bytes, and two chunks swapped are each a
``FileFormatError`` naming the store and the chunk -- never fill values, other data, or a raw codec error.
CRC32C of the compressed bytes runs at several GB/s (``google_crc32c``, hardware-accelerated), next to Blosc's
decompression it costs a few percent (``benchmarks/bench_load.py``). ``data_sha256``, the SHA-256 of the numbers
written in the save pass, is the whole-array check: ``verify(path)`` (``emscale verify``) recomputes it, and
``convert`` of a store checks it before its output is moved into place. Stores of format 1 (no chunk checksums)
still load, with a warning; ``verify`` checks them by their digest.

Format 3 adds ``meta_sha256``, digests of what the store says about its numbers besides the numbers
(:func:`meta_digests`: each axis, the array's dtype, shape and chunks, the signal type, title and metadata). They
are small JSON, so every open checks them: an axis scale edited in ``zarr.json`` or float32 made int32 in
``data/zarr.json`` (the bytes then read as other numbers, every chunk's checksum still right) is an error naming
what differs. Stores written before (format 1 and 2) have none and load as before; ``verify`` says so. Since
2026-12-03 they also cover the history (as pinned to the numbers) and the vendor's original metadata: a parameter
edited in the saved history made ``emscale history`` print steps that never ran, and ``verify`` said OK; a store
written before without those two digests loads as before. Format 5 (2026-12-06) digests the array's own document,
``data/zarr.json``, whole but for its attributes: its codecs and fill value decide what the stored bytes mean. From
format 3 on a store without ``meta_sha256`` had it removed, and is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..core import codec
from ..core.atomic import atomic_dir, output_folder_problem, read_lock
from ..core.errors import DataError, EmscaleError, FileFormatError, OutputExistsError
from ..core.signal import Signal, default_chunks, signal_method
from ..engine import passes
from ..engine.passes import Pass, combine_row_digests, data_digest, row_digests, run_pass

FORMAT = "emscale-signal"
# 2: every chunk written, chunk_crc32c in the attributes; 3: meta_sha256; 4: meta_sha256 covers the history and
# the original metadata (a format-4 store without those digests had them removed: refused); 5: and the array's own
# document, data/zarr.json (its codecs and fill value: an endianness or a transpose edited in read other numbers, or
# the same numbers in other places, every chunk's checksum still right)
FORMAT_VERSION = 5
# A chunk is the smallest read: above this size (8 x the default's 16 MiB) every partition of a lazy signal
# decompresses a whole chunk for its share of it, and a pass reads the store many times over. For float64; a
# narrower dtype's limit shrinks with it, as a decomposition's partitions do (sized by their rows in float64): 32 MiB
# chunks of uint16 were read 12 times a chunk by a PCA, without a word
LARGE_CHUNK_BYTES = 128 * 2**20
DEFAULT_CHUNK_BYTES = 16 * 2**20
# Many chunks under this size are read each with its own overhead (file, checksum, decompression): one-pixel chunks
# of a 48 x 48 x 256 cube made a PCA 16 x slower
SMALL_CHUNK_BYTES = 64 * 2**10
MANY_SMALL_CHUNKS = 64


class NoChecksumsWarning(UserWarning):
    """A store written by an earlier emscale, without per-chunk checksums: damage is not detected when reading
    (``emscale info`` says so on its "data:" line, and shows no note for it)."""


def _compressor():
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")


def store_attrs(s: Signal) -> dict:
    lossy = codec.as_text(s.metadata)
    if lossy:  # the vendors' original_metadata is kept as text without a word: it is a record, not an input
        import warnings

        warnings.warn(f"{len(lossy)} metadata value(s) written as text, read back as strings: "
                      f"{', '.join(lossy[:5])}{' ...' if len(lossy) > 5 else ''}", stacklevel=3)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "axes": [a.to_dict() for a in s.axes],
        "signal_type": s.signal_type,
        "title": s.title,
        "metadata": codec.encode(s.metadata, strict=False),
        "original_metadata": codec.encode(s.original_metadata, strict=False),
        "history": s.history,  # entries are JSON already (codec-encoded parameters)
    }


def meta_digests(attrs: dict, dtype, shape, chunks, array_doc: dict | None = None) -> dict:
    """The SHA-256 of each part of a store's description that the numbers mean nothing without, as JSON with sorted
    keys: ``{"axes": [one per axis, numpy order], "array": dtype, shape and chunks, "signal_type", "title",
    "metadata", "history", "original_metadata"}``, and ``"array_document"`` where ``array_doc`` (the array's parsed
    ``data/zarr.json``, format 5) is given. ``attrs``: the store's attributes as written or read; the array's
    from its own metadata."""
    def digest(value, allow_nan: bool = False) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=allow_nan)
        return hashlib.sha256(text.encode()).hexdigest()

    array = {"dtype": np.dtype(dtype).name, "shape": [int(n) for n in shape], "chunks": [int(n) for n in chunks]}
    out = {"axes": [digest(a) for a in attrs.get("axes", [])], "array": digest(array),
           **{k: digest(attrs.get(k)) for k in ("signal_type", "title", "metadata", *_RECORDS)}}
    if array_doc is not None:  # a float array's fill value may be NaN
        out["array_document"] = digest({k: v for k, v in array_doc.items() if k != "attributes"}, allow_nan=True)
    return out


def _array_document(folder: Path) -> dict:
    """The array's own zarr document (``data/zarr.json``), parsed."""
    from . import checksums

    value = json.loads((folder / checksums.ARRAY / "zarr.json").read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


# digested since format 4: a store written before has no digest of them, and is read as before
_RECORDS = ("history", "original_metadata")


def _format_version(attrs: dict, p=None) -> int:
    """The store's format version (1 where none was written, as the first stores); a value that is no whole number
    of the formats known, "4" or 5, is a damaged (or edited) store, or one from a newer emscale: refused."""
    v = attrs.get("format_version", 1)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= FORMAT_VERSION:
        raise FileFormatError(f"{p or 'the store'}: format_version {v!r} in zarr.json is not one this emscale reads "
                              f"(1 to {FORMAT_VERSION}): damaged, edited, or written by a newer emscale")
    return v


def _check_meta(p: Path, attrs: dict, arr) -> None:
    """Refuse a store whose description differs from the digests recorded when it was written (format 3 on); a
    store written before has none and is read as before."""
    version = _format_version(attrs, p)
    recorded = attrs.get("meta_sha256")
    if recorded is None and version >= 3:  # written with every store since: taken out, and every check with it
        raise FileFormatError(f"{p}: format_version {version} in zarr.json, yet no metadata digests (meta_sha256), "
                              "which every store of format 3 on records: removed (an edited zarr.json); not read")
    if recorded is None:
        return
    if version < 3:  # digests came with format 3: a lower version beside them was edited in
        raise FileFormatError(f"{p}: format_version {version} in zarr.json, yet it holds metadata digests (format 3 "
                              "on): damaged or edited")
    if not isinstance(recorded, dict):
        raise FileFormatError(f"{p}: its record of the metadata digests (meta_sha256 in zarr.json) is damaged")
    try:  # an axis's scale edited to NaN, a document nested past Python's recursion: named, not a raw error
        now = meta_digests(attrs, arr.dtype, arr.shape, arr.chunks, _array_document(p) if version >= 5 else None)
    except (ValueError, TypeError, RecursionError, OSError) as exc:
        raise FileFormatError(f"{p}: its zarr.json cannot be read as written ({type(exc).__name__}: {exc}): edited or "
                              "damaged; not read") from None
    changed = []
    if now["array"] != recorded.get("array"):
        changed.append(f"the array's dtype, shape or chunks (data/zarr.json says {arr.dtype}, shape "
                       f"{tuple(arr.shape)}, chunks {tuple(arr.chunks)})")
    elif version >= 5 and now["array_document"] != recorded.get("array_document"):
        changed.append("the array's document (data/zarr.json: its codecs, fill value or chunk encoding)")
    axes, was = attrs.get("axes", []), recorded.get("axes")
    if not isinstance(was, list) or len(was) != len(now["axes"]):
        changed.append(f"the list of axes (now {len(axes)})")
    else:
        changed += [f"axis {i} ({a.get('name') if isinstance(a, dict) else a!r})"
                    for i, (a, d, w) in enumerate(zip(axes, now["axes"], was, strict=True)) if d != w]
    changed += [k.replace("_", " ") for k in ("signal_type", "title", "metadata") if now[k] != recorded.get(k)]
    required = version >= 4  # from format 4 on, a missing digest was removed, not never written
    changed += [k.replace("_", " ") for k in _RECORDS if (k in recorded or required) and now[k] != recorded.get(k)]
    if changed:
        raise FileFormatError(f"{p}: its description no longer matches the digests recorded when it was written "
                              f"(a zarr.json edited or damaged): {'; '.join(changed)}; not read")


def check_store_name(path) -> Path:
    """``path`` as a Path, or a DataError when its name does not end in ``.zarr``: a store named ``x.h5`` is a
    folder every HDF5 reader refuses. Callers that work before writing (a conversion, a reconstruction) check first."""
    p = Path(path)
    if p.suffix.lower() != ".zarr":
        raise DataError(f"emscale writes its zarr store: name it '*.zarr', not {str(path)!r} (emscale writes no "
                        "other format)")
    return p


def _store_format(p: Path) -> str | None:
    """The emscale format named in the attributes of the zarr group at ``p``; None where there is none."""
    try:
        with open(p / "zarr.json", encoding="utf-8") as fh:
            attrs = json.load(fh).get("attributes", {})
    except (OSError, ValueError, AttributeError, RecursionError):  # a zarr.json nested past Python's recursion too
        return None
    info = attrs.get("emscale") if isinstance(attrs, dict) else None
    return info.get("format") if isinstance(info, dict) else None


def enclosing_store(p) -> Path | None:
    """The emscale store that ``p`` lies inside (its ``data`` array, a chunk of it); None where ``p`` is in none,
    or is a store itself."""
    p = Path(p).absolute()
    if _store_format(p) == FORMAT:
        return None
    return _store_above(p)


def _store_above(p: Path) -> Path | None:
    """The innermost emscale store among the folders that hold ``p`` (``p`` itself not included)."""
    return next((q for q in p.parents if _store_format(q) == FORMAT), None)


def refuse_folder_in_store(folder, what: str = "results folder") -> None:
    """Refuse, before any work, an output ``folder`` that is an emscale store or lies inside one: a store holds only
    its own files, and one written into changed the store (its next ``--overwrite`` was refused for holding files
    emscale did not write; `emscale run -o data.zarr/results` went through). Resolved, so that a link or '..' cannot
    hide it."""
    p = Path(folder).resolve()
    holder = p if _store_format(p) == FORMAT else _store_above(p)
    if holder is not None:
        where = "is" if holder == p else "lies inside"
        raise OutputExistsError(f"{what} {folder} {where} the emscale store {holder}, which holds only its own "
                                "files; write it outside: nothing written")


def not_replaceable(p: Path) -> str | None:
    """Why a save with ``overwrite=True`` may not replace what is at ``p`` (None: it may). Only an emscale store
    holding nothing besides its own files, or an empty folder, is replaced: anything else merely named ``*.zarr``
    (a user's folder, a file) would be deleted by the swap."""
    from . import checksums

    if not p.is_dir():
        return f"{p} is a file, not an emscale store; overwrite=True would delete it"
    names = sorted(os.listdir(p))
    if not names:
        return None
    if _store_format(p) != FORMAT:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (f"{p} is not an emscale store (it holds {shown}); overwrite=True replaces only a store emscale wrote "
                "and would delete this folder with everything in it")
    foreign = [n for n in names if n not in ("zarr.json", checksums.ARRAY)]
    if foreign:
        return (f"{p} is an emscale store that also holds {', '.join(foreign[:5])}, which emscale did not write; "
                "overwrite=True would delete them (move them out first)")
    return None


def check_store_output(path, overwrite: bool) -> Path:
    """Refuse, before any work, a store output that the save would refuse at its end: a wrong name
    (:func:`check_store_name`), one inside an existing store, an existing one without ``overwrite``, or one that may
    not be replaced (:func:`not_replaceable`). Returns the path."""
    p = check_store_name(path)
    # A store written into another (`convert a.zarr a.zarr/b.zarr`) changed that store, whose next --overwrite was
    # then refused for holding files emscale did not write; resolved, so that a link or '..' cannot hide it
    holder = _store_above(p.resolve())
    if holder is not None:
        raise OutputExistsError(f"{p} lies inside the emscale store {holder}, which holds only its own files; write "
                                "the new store outside it: nothing written")
    problem = output_folder_problem(p)
    if problem:
        raise FileFormatError(f"{p}: cannot be written: {p.parent} {problem}")
    if os.path.lexists(p):
        if not overwrite:
            raise OutputExistsError(f"{p} already exists; pass overwrite=True (--overwrite) to replace it")
        why = not_replaceable(p)
        if why:
            raise OutputExistsError(f"{why}: nothing written")
    return p


def _refuse_own_input(s, dst: Path) -> None:
    """Refuse to replace a store that ``s``'s history loaded: its lazy numbers may still be read from it, and the
    history would name a file whose digest no longer matches, so the result would not replay (a new user's
    ``s.save(src, overwrite=True)`` went through)."""
    if not os.path.lexists(dst):
        return
    target = Path(dst).resolve()
    for entry in getattr(s, "history", []) or []:
        source = entry.get("source") if isinstance(entry, dict) else None
        path = source.get("path") if isinstance(source, dict) else None
        if path and entry.get("op") == "load" and Path(path).resolve() == target:
            raise OutputExistsError(f"{dst} is the store {s!r} was loaded from: replacing it would leave its history "
                                    "naming numbers that are no longer there; save under another name")
    if target in stores_read(getattr(s, "data", None)):
        raise OutputExistsError(f"{dst} is the store the numbers of {s!r} are read from (lazily): replacing it would "
                                "pull them from under it; save under another name")


def _refuse_empty(s) -> None:
    """An axis of size 0 would otherwise surface as chunks of 0 the caller never passed."""
    empty = [repr(a.name) for a, n in zip(s.axes, s.shape, strict=True) if n == 0]
    if empty:
        raise DataError(f"cannot save an empty signal: axis {', '.join(empty)} has size 0 (shape {tuple(s.shape)}); "
                        "a store holds at least one value along every axis")


def store_chunks(s, chunks) -> tuple[int, ...]:
    """The chunk shape a store of ``s`` is written with: ``chunks`` (one whole number >= 1 per dimension, numpy
    order; longer than a dimension is cut to it) or, None, :func:`default_chunks`. A ValueError names a wrong one;
    a DataError an empty signal, which has no chunks to write."""
    _refuse_empty(s)
    if chunks is None:
        # no bigger than a decomposition's partition of these rows, which would decompress (and check) a chunk
        # once for each of its parts in every pass: uint8 in the 16 MiB chunks of wider dtypes, 6 reads a chunk
        # for a PCA, 2.05 s against 1.55 s
        chunks = default_chunks(s.shape, s.dtype, s.nav_ndim,
                                target_bytes=min(DEFAULT_CHUNK_BYTES, passes.float64_partition_bytes(s.dtype)))
    chunks = tuple(chunks)
    if len(chunks) != s.ndim:
        raise ValueError(f"chunks needs {s.ndim} entries (one per dimension, numpy order), got {len(chunks)}: "
                         f"{chunks}")
    if any(isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1 for c in chunks):
        raise ValueError(f"chunks must be whole numbers >= 1, one per dimension (numpy order), got {chunks}")
    return tuple(int(min(c, max(n, 1))) for c, n in zip(chunks, s.shape, strict=True))


def large_chunk_note(shape, chunks, dtype, nav_ndim: int) -> str | None:
    """What to do about a chunk layout that makes lazy passes slow, None where it does not: the chunk shape
    :func:`default_chunks` would give, to rewrite the store with. Three layouts:

    * chunks above :data:`LARGE_CHUNK_BYTES` (for float64; a narrower dtype's in proportion): every lazy partition
      decompresses a whole chunk for its share of it;
    * chunks that split the signal axes over more pixels than that holds whole: a partition (all the channels of its
      pixels) decompresses every such chunk its pixels touch (a 384 x 384 x 2048 store in chunks of 384 x 384 x 64:
      a PCA 10.6 x slower, with no word);
    * many chunks under :data:`SMALL_CHUNK_BYTES`: each read pays its own overhead (one-pixel chunks: a PCA 16 x, a
      sum 39 x slower)."""
    itemsize = np.dtype(dtype).itemsize
    # in proportion to a decomposition's partition of these rows (the float64 one is DEFAULT_PARTITION_BYTES)
    limit = LARGE_CHUNK_BYTES * passes.float64_partition_bytes(dtype) // passes.DEFAULT_PARTITION_BYTES
    size = int(np.prod(chunks, dtype=np.int64)) * itemsize
    # the bytes of whole spectra over the pixels one chunk spans: what a partition decompresses to read them
    spectrum = int(np.prod(shape[nav_ndim:], dtype=np.int64)) * itemsize
    spanned = int(np.prod(chunks[:nav_ndim], dtype=np.int64)) * spectrum
    n_chunks = int(np.prod([-(-n // c) for n, c in zip(shape, chunks, strict=True)], dtype=np.int64))
    good = default_chunks(shape, dtype, nav_ndim, target_bytes=min(DEFAULT_CHUNK_BYTES, limit // 2))
    rewrite = f"rewrite it with other chunks, e.g. `emscale convert IN OUT --chunks {','.join(map(str, good))}`"
    shown = ",".join(map(str, chunks))
    if size > limit:
        return (f"chunks of {size / 2**20:.1f} MiB ({shown}): every lazy partition decompresses a whole chunk, so "
                f"passes read the data many times over; {rewrite}")
    if spanned > limit and tuple(chunks[nav_ndim:]) != tuple(shape[nav_ndim:]):
        return (f"chunks ({shown}) split the signal axes over {spanned / size:.0f} x their own size of whole "
                f"spectra: every lazy partition decompresses each chunk its pixels touch, so passes read the data "
                f"many times over; {rewrite}")
    if size < SMALL_CHUNK_BYTES and n_chunks >= MANY_SMALL_CHUNKS and tuple(chunks) != tuple(good):
        return (f"{n_chunks} chunks of {size / 2**10:.1f} KiB ({shown}): each read pays its own overhead, so "
                f"passes are many times slower; {rewrite}")
    return None


def save_zarr(s: Signal, path, overwrite: bool = False, chunks=None, progress=None, expect_sha256=None,
              source=None) -> None:
    """Write ``s`` to a zarr v3 store at ``path``, partition by partition (bounded memory for lazy data).

    ``expect_sha256``: the digest the numbers must have (a store being copied); on a mismatch nothing is
    written and ``FileFormatError`` names ``source``.
    """
    import zarr
    from zarr.storage import LocalStore

    from . import checksums

    dst = check_store_output(path, overwrite)
    _refuse_own_input(s, dst)
    given = chunks is not None
    chunks = store_chunks(s, chunks)
    note = large_chunk_note(s.shape, chunks, s.dtype, s.nav_ndim) if given else None
    if note:
        warnings.warn(f"{dst}: {note}", UserWarning, stacklevel=3)
    attrs = store_attrs(s)
    json.dumps(attrs, allow_nan=False)  # fail before writing anything if metadata cannot be stored

    def write(tmp: Path):
        group = zarr.open_group(store=checksums.ChecksumStore(LocalStore(str(tmp)), name=str(dst)), mode="w-",
                                zarr_format=3)
        group.attrs["emscale"] = attrs
        arr = group.create_array(
            checksums.ARRAY,
            shape=s.shape,
            dtype=s.dtype,
            chunks=chunks if s.ndim else (),
            compressors=_compressor(),
            dimension_names=[a.name or None for a in s.axes],
            config={"write_empty_chunks": True},  # a missing chunk is then always damage
        )
        if s.ndim == 0:
            value = np.asarray(s.to_numpy())
            arr[...] = value
            digest = data_digest(value)
            crcs = checksums.written(arr, None)
        else:
            def write_block(block, rows):
                arr[rows] = block
                return row_digests(block), checksums.written(arr, rows)

            # The digest of the numbers and each chunk's checksum are computed in the same pass and stored with
            # the attributes, so the store's metadata digest (what a load records) changes whenever the data do.
            parts = run_pass(s.data, Pass(write_block, lambda a, b: (a[0] + b[0], a[1] + b[1]), name="save"),
                             rows=_rows(s, chunks), progress=progress)
            digest = combine_row_digests(s.dtype, s.shape, parts[0])
            crcs = parts[1]
        if expect_sha256 is not None and digest != expect_sha256:
            raise FileFormatError(f"{source or dst}: the data read do not match the digest recorded when it was "
                                  f"written (sha256 {expect_sha256[:12]}..., read {digest[:12]}...): the store is "
                                  f"damaged; nothing written")
        final = {**attrs, "data_sha256": digest, "history": pin_digest(s.history, digest),
                 "chunk_crc32c": checksums.encode_table(crcs, s.shape, chunks, str(dst))}
        # the digests once, of what is written at the end (the history pinned to the numbers' digest)
        final["meta_sha256"] = meta_digests(final, s.dtype, s.shape, chunks if s.ndim else (), _array_document(tmp))
        group.attrs["emscale"] = final
        _compact_metadata(tmp, checksums.ARRAY)
        written.append(digest)

    written: list[str] = []
    # checked again under the lock at the swap: the folder may have changed while the store was written
    atomic_dir(dst, write, overwrite=overwrite, replaceable=not_replaceable)
    s.history = pin_digest(s.history, written[0])


def _compact_metadata(folder: Path, array: str) -> None:
    """The store's metadata documents rewritten without indentation, before the store is swapped into place: the
    vendor's original metadata rides in ``zarr.json``, and zarr's default indent of 2 doubled it (1.45 -> 0.72 MB
    for the real EELS_SI.dm4). Not by zarr's ``json_indent`` setting: that is global to the process, and saves
    running in threads left it changed for everyone."""
    for doc in (folder / "zarr.json", folder / array / "zarr.json"):
        if doc.is_file():
            value = json.loads(doc.read_text(encoding="utf-8"))
            doc.write_text(json.dumps(value, allow_nan=True), encoding="utf-8")


def pin_digest(history: list[dict], digest: str) -> list[dict]:
    """``history`` with its last entry pinned to the digest of the numbers it made (``"data_sha256"``), as saved:
    a replay (:func:`emscale.replay`) checks what it rebuilds against it, so that numbers changed by something the
    history does not record (an in-place edit of ``s.data``) are named rather than silently replayed otherwise."""
    if not history:
        return list(history)
    return [*history[:-1], {**history[-1], "data_sha256": digest}]


def _rows(s: Signal, chunks) -> int:
    """Partition rows: a multiple of the chunk along the first dim, ~64 MB, so writers never share a chunk."""
    row_bytes = int(np.prod(s.shape[1:], dtype=np.int64)) * s.dtype.itemsize
    c = chunks[0]
    return max(c, passes.DEFAULT_PARTITION_BYTES // max(row_bytes, 1) // c * c)


def is_store(path: Path) -> bool:
    return path.is_dir() and (path / "zarr.json").exists()


class StoreArray:
    """The store's array as dask and the engine read it: every read error becomes a ``FileFormatError``."""

    def __init__(self, arr, name: str):
        self.arr, self.name = arr, name
        self.shape, self.dtype, self.ndim, self.chunks = arr.shape, arr.dtype, arr.ndim, arr.chunks

    def __getitem__(self, key):
        try:
            return self.arr[key]
        except (MemoryError, IndexError):
            raise
        except EmscaleError:  # a chunk that does not match its checksum
            _settle_reads()
            raise
        except Exception as exc:  # noqa: BLE001 - a codec error on damaged bytes of a store without checksums
            _settle_reads()
            raise FileFormatError(f"{self.name}: data could not be read ({type(exc).__name__}: {exc}): the store "
                                  f"is damaged") from exc


def _settle_reads(timeout_s: float = 60.0) -> None:
    """Wait for the chunk reads zarr still runs after one of them failed. zarr reads the chunks of a selection as
    tasks on its event-loop thread under ``asyncio.gather``, which hands back the first error and leaves the others
    running; a script that ended on the error then printed "Task was destroyed but it is pending!" for each, or
    "Cannot close a running event loop" from zarr's exit handler. Waiting (not cancelling: other threads' reads run on
    the same loop) lets them end; their own errors are collected by the gather."""
    import asyncio

    from zarr.core.sync import sync

    async def settle():
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=timeout_s)

    try:
        sync(settle())
    except Exception:  # noqa: BLE001 - a clean-up: the read's own error is the one to report
        pass


# how to make an emscale store of the numbers of another zarr array
_WRAP = ("to read its numbers as a signal: em.Signal(dask.array.from_zarr(path[, component]), axes=[...]), then "
         ".save('new.zarr')")


def _node_type(p: Path) -> str | None:
    """``"array"`` or ``"group"``: what the zarr v3 metadata at ``p`` says it is (None where it says nothing)."""
    try:
        with open(p / "zarr.json", encoding="utf-8") as fh:
            kind = json.load(fh).get("node_type")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _open(p: Path) -> tuple[StoreArray, dict]:
    """Open a store for reading (call under ``read_lock``): its array, every chunk checked, and attributes."""
    import zarr
    from zarr.storage import LocalStore

    from . import checksums

    try:
        st = os.stat(p)
        store = checksums.ChecksumStore(LocalStore(str(p), read_only=True), name=str(p), ident=(st.st_dev, st.st_ino))
        group = zarr.open_group(store=store, mode="r")
        attrs = dict(group.attrs).get("emscale")
        arr = group[checksums.ARRAY]
    except Exception as exc:  # noqa: BLE001
        if _node_type(p) == "array":  # zarr said "ContainsArrayError: An array already exists in store ..."
            raise FileFormatError(f"{p}: a zarr array, not an emscale store (a zarr group with emscale's "
                                  f"attributes); {_WRAP}") from None
        raise FileFormatError(f"{p}: not a readable emscale zarr store ({type(exc).__name__}: {exc})") from exc
    if not attrs or attrs.get("format") != FORMAT:
        raise FileFormatError(f"{p}: zarr store without emscale attributes (not written by emscale); {_WRAP}")
    table = attrs.get("chunk_crc32c")
    if table is None and _format_version(attrs, p) >= 2:
        # the table is written when the save ends: a save killed half way left a store that opened as an old one,
        # its unwritten chunks read as zeros (192 of 256 rows of a killed 537 MB save), and converted "verified"
        raise FileFormatError(f"{p}: no per-chunk checksums, which a store of format {attrs['format_version']} "
                              "records when its save ends: an interrupted save (or an edited zarr.json), whose "
                              "chunks may be missing; save or convert it again from its source")
    if table is None:
        warnings.warn(f"{p}: written without per-chunk checksums (store format {attrs.get('format_version', 1)}): "
                      "damage is not detected when reading; `emscale verify` checks its data digest",
                      NoChecksumsWarning, stacklevel=3)
    else:
        checksums.expect(store, arr, table)
    _check_meta(p, attrs, arr)
    return StoreArray(arr, str(p)), attrs


def store_summary(path) -> dict:
    """What a store's attributes say about its integrity, without reading the data."""
    from . import checksums

    p = Path(path)
    with read_lock(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr, attrs = _open(p)
    return {"chunks": int(np.prod(checksums.grid(arr.shape, arr.chunks), dtype=np.int64)) if arr.ndim else 1,
            "checksums": "chunk_crc32c" in attrs, "data_sha256": attrs.get("data_sha256")}


def verify(path) -> dict:
    """Read every chunk of the store at ``path`` (each checked against its checksum) and recompute the SHA-256
    of the numbers against ``data_sha256``. Returns ``{"path", "chunks", "checksums", "meta", "records",
    "data_sha256"}`` (``"records"``: whether the history and original metadata have digests, format 4 on); raises
    ``FileFormatError`` naming the store (and the chunk) on any damage. ``"meta"``: whether the store's description
    (axes, dtype, shape, type, metadata) was checked against its digests; a store written before them has none."""
    from . import checksums
    from .vendor import check_path

    p = check_path(path)  # "no zarr.json inside" a store that is not there at all
    if not is_store(p):
        what = (": verify checks a store's chunk checksums and digests, which a vendor file has none of; `emscale "
                "convert` makes a store of it" if p.is_file() else " (no zarr.json inside)")
        raise FileFormatError(f"{p}: not an emscale zarr store{what}")
    with read_lock(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify is the check the warning points to
            arr, attrs = _open(p)
        expected = attrs.get("data_sha256")
        if expected is None:
            raise FileFormatError(f"{p}: no data digest recorded (written by an early emscale): cannot be verified")
        digest = data_digest(arr if arr.ndim else arr[...])
    if digest != expected:
        raise FileFormatError(f"{p}: the data do not match the digest recorded when the store was written (sha256 "
                              f"{expected[:12]}..., read {digest[:12]}...): the store is damaged")
    n = int(np.prod(checksums.grid(arr.shape, arr.chunks), dtype=np.int64)) if arr.ndim else 1
    return {"path": str(p), "chunks": n, "checksums": "chunk_crc32c" in attrs, "meta": "meta_sha256" in attrs,
            "records": all(k in (attrs.get("meta_sha256") or {}) for k in _RECORDS),
            "data_sha256": digest}


def _as_lazy(arr: StoreArray, attrs: dict, p: Path):
    import dask.array as da
    from dask.base import tokenize

    token = tokenize(str(p), os.stat(p / "zarr.json").st_mtime_ns, attrs.get("data_sha256"),
                     attrs.get("chunk_crc32c"), arr.shape, arr.chunks)
    name = f"{_LAZY_PREFIX}{token}"
    _LAZY_SOURCES[name] = str(Path(p).resolve())
    return da.from_array(arr, chunks=arr.chunks, name=name, meta=np.empty((0,) * arr.ndim, arr.dtype))


# The stores lazy arrays read from, by the name of their graph layer: a save may not replace a store its signal still
# reads (a store saved from a vendor file names that file in its history's load step, not the store)
_LAZY_PREFIX = "emscale-store-"
_LAZY_SOURCES: dict[str, str] = {}


def stores_read(data) -> set[Path]:
    """The emscale stores a lazy array reads from (none for numpy data)."""
    graph = getattr(data, "dask", None)
    layers = getattr(graph, "layers", None) or {}
    return {Path(_LAZY_SOURCES[n]) for n in layers if n in _LAZY_SOURCES}


def read_store(p: Path, lazy: bool = False) -> Signal:
    """``load_zarr`` for a caller that already holds ``read_lock(p)``."""
    arr, attrs = _open(p)
    if lazy and arr.ndim:
        note = large_chunk_note(arr.shape, arr.chunks, arr.dtype, sum(bool(a.get("navigate")) for a in attrs["axes"]))
        if note:
            warnings.warn(f"{p}: {note}", UserWarning, stacklevel=4)
    data = _as_lazy(arr, attrs, p) if lazy else arr[...]
    return Signal(
        data,
        axes=attrs["axes"],
        signal_type=attrs.get("signal_type", ""),
        metadata=codec.decode(attrs.get("metadata", {})),
        original_metadata=codec.decode(attrs.get("original_metadata", {})),
        history=attrs.get("history", []),
        title=attrs.get("title", ""),
    )


def load_zarr(path, lazy: bool = False) -> Signal:
    """Read a store; eagerly, the whole read happens under a shared lock (no overwrite swaps it meanwhile)."""
    p = Path(path)
    with read_lock(p):
        return read_store(p, lazy=lazy)


@signal_method
def save(self: Signal, path, overwrite: bool = False, chunks=None, progress=None) -> None:
    """Write to the native zarr v3 store (atomically; an existing output needs ``overwrite=True``); the name ends in
    ``.zarr`` (:func:`check_store_name`)."""
    save_zarr(self, path, overwrite=overwrite, chunks=chunks, progress=progress)
