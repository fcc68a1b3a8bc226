"""The native store: a zarr v3 group holding the array and, in its attributes, axes, metadata and history.

Layout of ``x.zarr``: group attributes ``{"emscale": {...}}`` and one array ``data`` chunked along navigation with
whole spectra per chunk, compressed with Blosc/zstd, in the signal's own dtype (counts stay integers). Writes go
to a hidden temporary sibling which is renamed into place only once complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from .. import history as _history
from ..errors import FileFormatError, OutputExistsError
from ..signal import Signal, default_chunks

FORMAT = "emscale-signal"
FORMAT_VERSION = 1


def json_safe(value):
    """Metadata in a JSON form that :func:`emscale.history.decode` turns back (arrays keep their dtype);
    vendor types JSON cannot hold (bytes, dates, objects) become strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {"array": value.tolist(), "dtype": str(value.dtype)}
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _tmp_sibling(dst: Path, tag: str) -> Path:
    return dst.with_name(f".{dst.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_dir_write(dst: Path, write, overwrite: bool = False) -> None:
    """Run ``write(tmp_path)`` into a temporary sibling, then rename it to ``dst``.

    A crash or exception inside ``write`` leaves nothing behind; an existing ``dst`` is only replaced with
    ``overwrite=True``, and then only after the new one is complete.
    """
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst} already exists; pass overwrite=True (--overwrite) to replace it")
    if not dst.parent.exists():
        raise FileFormatError(f"{dst.parent}: output directory does not exist")
    tmp = _tmp_sibling(dst, "tmp")
    try:
        write(tmp)
        if dst.exists():
            old = _tmp_sibling(dst, "old")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise


def _compressor():
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")


def store_attrs(s: Signal) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "axes": [a.to_dict() for a in s.axes],
        "signal_type": s.signal_type,
        "title": s.title,
        "metadata": json_safe(s.metadata),
        "original_metadata": json_safe(s.original_metadata),
        "history": json_safe(s.history),
    }


def save_zarr(s: Signal, path, overwrite: bool = False, chunks=None, progress=None) -> None:
    """Write ``s`` to a zarr v3 store at ``path``, partition by partition (bounded memory for lazy data)."""
    import zarr

    from ..engine.passes import Pass, combine_row_digests, data_digest, row_digests, run_pass

    dst = Path(path)
    if chunks is None:
        chunks = default_chunks(s.shape, s.dtype, s.nav_ndim)
    chunks = tuple(int(min(max(c, 1), max(n, 1))) for c, n in zip(chunks, s.shape, strict=True))
    if len(chunks) != s.ndim:
        raise ValueError(f"chunks {chunks} do not match the {s.ndim} dimensions of the data")
    attrs = store_attrs(s)
    json.dumps(attrs)  # fail before writing anything if metadata cannot be stored

    def write(tmp: Path):
        group = zarr.open_group(store=str(tmp), mode="w-", zarr_format=3)
        group.attrs["emscale"] = attrs
        arr = group.create_array(
            "data",
            shape=s.shape,
            dtype=s.dtype,
            chunks=chunks if s.ndim else (),
            compressors=_compressor(),
            dimension_names=[a.name or None for a in s.axes],
        )
        if s.ndim == 0:
            arr[...] = np.asarray(s.to_numpy())
            group.attrs["emscale"] = {**attrs, "data_sha256": data_digest(np.asarray(s.to_numpy()))}
            return

        def write_block(block, rows):
            arr[rows] = block
            return row_digests(block)

        # The digest of the numbers is computed in the same pass and stored with the attributes, so the
        # store's metadata digest (what a load records) changes whenever the data do.
        digests = run_pass(s.data, Pass(write_block, lambda a, b: a + b, name="save"), rows=_rows(s, chunks),
                           progress=progress)
        group.attrs["emscale"] = {**attrs, "data_sha256": combine_row_digests(s.dtype, s.shape, digests)}

    atomic_dir_write(dst, write, overwrite=overwrite)


def _rows(s: Signal, chunks) -> int:
    """Partition rows: a multiple of the chunk along the first dim, ~64 MB, so writers never share a chunk."""
    from ..engine.passes import DEFAULT_PARTITION_BYTES

    row_bytes = int(np.prod(s.shape[1:], dtype=np.int64)) * s.dtype.itemsize
    c = chunks[0]
    return max(c, DEFAULT_PARTITION_BYTES // max(row_bytes, 1) // c * c)


def is_store(path: Path) -> bool:
    return path.is_dir() and (path / "zarr.json").exists()


def load_zarr(path, lazy: bool = False) -> Signal:
    import zarr

    p = Path(path)
    try:
        group = zarr.open_group(store=str(p), mode="r")
        attrs = dict(group.attrs).get("emscale")
        arr = group["data"]
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{p}: not a readable emscale zarr store ({type(exc).__name__}: {exc})") from exc
    if not attrs or attrs.get("format") != FORMAT:
        raise FileFormatError(f"{p}: zarr store without emscale attributes (not written by emscale)")
    if lazy:
        import dask.array as da

        data = da.from_zarr(arr)
    else:
        data = arr[...]
    return Signal(
        data,
        axes=attrs["axes"],
        signal_type=attrs.get("signal_type", ""),
        metadata=_history.decode(attrs.get("metadata", {})),
        original_metadata=_history.decode(attrs.get("original_metadata", {})),
        history=attrs.get("history", []),
        title=attrs.get("title", ""),
    )
