"""Per-chunk checksums of the native store: a zarr store wrapper that records the CRC32C of every chunk written
and checks every chunk read against the value recorded for its position (see ``store.py`` for the format).

Imported on first use (it needs zarr); the class lives at module level so that a lazy array using it pickles to
Dask workers.
"""

from __future__ import annotations

import os
import stat

import google_crc32c
import numpy as np
from zarr.storage import WrapperStore

from ..core.errors import FileFormatError

ARRAY = "data"


def crc32c(buf) -> int:
    return google_crc32c.value(buf)


class ChecksumStore(WrapperStore):
    """A zarr store wrapper: records the CRC32C of every chunk written; checks every chunk read against the
    value recorded for its key (``expected``) and raises ``FileFormatError`` naming the store and the chunk."""

    def __init__(self, store, name: str = "", expected: dict[str, int] | None = None, ident=None, layout=None):
        super().__init__(store)
        self.name, self.expected, self.ident, self.layout = name, expected, ident, layout
        self.written: dict[str, int] = {}

    def _with_store(self, store):
        return type(self)(store, self.name, self.expected, self.ident, self.layout)

    def __getstate__(self):
        return {"store": self._store, "name": self.name, "expected": self.expected, "ident": self.ident,
                "layout": self.layout}

    def __setstate__(self, state):
        self.__init__(state["store"], state["name"], state["expected"], state["ident"], state["layout"])

    async def set(self, key: str, value) -> None:
        if is_chunk(key):
            self.written[key] = crc32c(value.as_numpy_array())
        await self._store.set(key, value)

    async def get(self, key: str, prototype, byte_range=None):
        if self.expected is None or key not in self.expected:
            return await self._store.get(key, prototype, byte_range)
        problem = self._not_a_chunk_file(key)
        if problem:
            raise self._damage(key, problem)
        buf = await self._store.get(key, prototype, None)
        if buf is None:
            raise self._damage(key, "is missing")
        if crc32c(buf.as_numpy_array()) != self.expected[key]:
            raise self._damage(key, "does not match its checksum (flipped or truncated bytes, or another "
                                    "chunk's data)")
        if byte_range is not None:  # never with our unsharded layout; checked whole, then read as asked
            return await self._store.get(key, prototype, byte_range)
        return buf

    async def get_partial_values(self, prototype, key_ranges):
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    def _not_a_chunk_file(self, key: str) -> str | None:
        """Why the file of chunk ``key`` cannot be a chunk this store wrote, before it is read (None: it can): a pipe
        in its place blocked every reader for ever, a link to /dev/zero read until memory ran out. A missing one is
        said by the read."""
        try:
            st = os.lstat(os.path.join(self.name, key))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file (a link, a pipe or a device)"
        if self.layout is not None:
            # compressed, a chunk is at most its values at 16 bytes each (complex128) and Blosc's headers
            most = 16 * int(np.prod(self.layout[1], dtype=np.int64)) + 2**16
            if st.st_size > most:
                return f"is larger ({st.st_size} bytes) than its chunk can be ({most})"
        return None

    def _damage(self, key: str, what: str) -> FileFormatError:
        path = self.name
        try:
            st = os.stat(path)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if self.ident is not None and now != self.ident:
            return FileFormatError(f"{path}: replaced while being read (chunk {key} {what} in the store opened "
                                   f"earlier); load it again")
        where = ""
        if self.layout is not None:
            coords, (shape, chunks) = key_coords(key), self.layout
            where = " [" + ", ".join(f"{c * n}:{min((c + 1) * n, s)}" for c, n, s in zip(coords, chunks, shape,
                                                                                         strict=True)) + "]"
        return FileFormatError(f"{path}: chunk {key}{where} {what}: the store is damaged")


def is_chunk(key: str) -> bool:
    return key.startswith(f"{ARRAY}/c/") or key == f"{ARRAY}/c"


def key_coords(key: str) -> tuple[int, ...]:
    rest = key[len(f"{ARRAY}/c"):].strip("/")
    return tuple(int(v) for v in rest.split("/")) if rest else ()


def grid(shape, chunks) -> tuple[int, ...]:
    return tuple(-(-int(n) // int(c)) for n, c in zip(shape, chunks, strict=True))


def chunk_keys(arr, rows: slice | None) -> list[tuple[int, str]]:
    """(flat index in the chunk grid, store key) of every chunk in ``rows`` of the first dim (all if None)."""
    g = grid(arr.shape, arr.chunks)
    if not g:
        return [(0, f"{ARRAY}/{arr.metadata.encode_chunk_key(())}")]
    c0 = arr.chunks[0]
    first = range(g[0]) if rows is None else range(rows.start // c0, -(-rows.stop // c0))
    out = []
    for i in first:
        for rest in np.ndindex(*g[1:]):
            coords = (i, *rest)
            out.append((int(np.ravel_multi_index(coords, g)), f"{ARRAY}/{arr.metadata.encode_chunk_key(coords)}"))
    return out


def written(arr, rows: slice | None) -> list[tuple[int, int]]:
    """(flat index, CRC32C) of the chunks of ``rows`` just written through ``arr``, a ``ChecksumStore`` array."""
    return [(i, arr.store.written.pop(k)) for i, k in chunk_keys(arr, rows)]


def encode_table(crcs: list[tuple[int, int]], shape, chunks, name: str) -> str:
    """The ``chunk_crc32c`` attribute: 8 hex digits (big-endian) per chunk, in C order of the chunk grid."""
    table = np.zeros(int(np.prod(grid(shape, chunks), dtype=np.int64)), np.uint32)
    if len(crcs) != table.size or len({i for i, _ in crcs}) != table.size:
        raise FileFormatError(f"{name}: {len(crcs)} chunks written, {table.size} expected")
    table[[i for i, _ in crcs]] = [c for _, c in crcs]
    return table.astype(">u4").tobytes().hex()


def expect(store: ChecksumStore, arr, table: str) -> None:
    """Arm ``store`` (under ``arr``) to check every chunk read against ``table`` (``encode_table``'s string)."""
    keys = chunk_keys(arr, None)
    try:
        values = np.frombuffer(bytes.fromhex(table), ">u4")
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.size != len(keys):
        raise FileFormatError(f"{store.name}: the chunk checksum table holds {values.size} entries for "
                              f"{len(keys)} chunks: the store is damaged")
    store.expected = {k: int(values[i]) for i, k in keys}
    store.layout = (arr.shape, arr.chunks)
