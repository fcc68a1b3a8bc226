"""The native store: a zarr v3 group holding the array and, in its attributes, axes, metadata and history.

Layout of ``x.zarr``: group attributes ``{"emscale": {...}}`` and one array ``data`` chunked along navigation with
whole spectra per chunk, compressed with Blosc/zstd, in the signal's own dtype (counts stay integers). Writes go
to a hidden temporary sibling which is renamed into place only once complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core import codec
from ..core.atomic import atomic_dir
from ..core.errors import FileFormatError
from ..core.signal import Signal, default_chunks, signal_method
from ..engine import passes
from ..engine.passes import Pass, combine_row_digests, data_digest, row_digests, run_pass

FORMAT = "emscale-signal"
FORMAT_VERSION = 1


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
        "metadata": codec.encode(s.metadata, strict=False),
        "original_metadata": codec.encode(s.original_metadata, strict=False),
        "history": s.history,  # entries are JSON already (codec-encoded parameters)
    }


def save_zarr(s: Signal, path, overwrite: bool = False, chunks=None, progress=None) -> None:
    """Write ``s`` to a zarr v3 store at ``path``, partition by partition (bounded memory for lazy data)."""
    import zarr

    dst = Path(path)
    if chunks is None:
        chunks = default_chunks(s.shape, s.dtype, s.nav_ndim)
    chunks = tuple(int(min(max(c, 1), max(n, 1))) for c, n in zip(chunks, s.shape, strict=True))
    if len(chunks) != s.ndim:
        raise ValueError(f"chunks {chunks} do not match the {s.ndim} dimensions of the data")
    attrs = store_attrs(s)
    json.dumps(attrs, allow_nan=False)  # fail before writing anything if metadata cannot be stored

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

    atomic_dir(dst, write, overwrite=overwrite)


def _rows(s: Signal, chunks) -> int:
    """Partition rows: a multiple of the chunk along the first dim, ~64 MB, so writers never share a chunk."""
    row_bytes = int(np.prod(s.shape[1:], dtype=np.int64)) * s.dtype.itemsize
    c = chunks[0]
    return max(c, passes.DEFAULT_PARTITION_BYTES // max(row_bytes, 1) // c * c)


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
        metadata=codec.decode(attrs.get("metadata", {})),
        original_metadata=codec.decode(attrs.get("original_metadata", {})),
        history=attrs.get("history", []),
        title=attrs.get("title", ""),
    )


@signal_method
def save(self: Signal, path, overwrite: bool = False, chunks=None, progress=None) -> None:
    """Write to the native zarr v3 store (atomically; an existing output needs ``overwrite=True``)."""
    save_zarr(self, path, overwrite=overwrite, chunks=chunks, progress=progress)
