"""Passes over navigation partitions whose partial results merge.

A *pass* is three functions: ``map(block, rows) -> partial`` for one partition (a contiguous range of the
first array dimension), ``merge(a, b) -> partial`` (associative; applied left to right in partition order so
the result does not depend on the executor), and ``finalize(partial) -> result``. :func:`run_pass` reads each
partition from the source (numpy array, dask array or zarr array) and hands it to the executor; algorithm code
never knows which executor runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .executors import Executor, get_executor

DEFAULT_PARTITION_BYTES = 64 * 2**20


@dataclass
class Pass:
    map: Callable[[np.ndarray, slice], Any]
    merge: Callable[[Any, Any], Any] | None = None  # None: partials are concatenated along axis 0
    finalize: Callable[[Any], Any] = lambda x: x
    name: str = "pass"


@dataclass
class PassReport:
    name: str
    n_partitions: int
    bytes_read: int
    seconds: float
    executor: str

    @property
    def gb_per_s(self) -> float:
        return self.bytes_read / 1e9 / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.n_partitions} partitions, {self.bytes_read / 1e6:.1f} MB in "
            f"{self.seconds:.3f} s ({self.gb_per_s:.2f} GB/s, {self.executor})"
        )


@dataclass
class _Log:
    reports: list[PassReport] = field(default_factory=list)


log = _Log()


def _chunk_rows(source) -> int | None:
    chunks = getattr(source, "chunks", None)
    if chunks is None:
        return None
    c0 = chunks[0]
    if isinstance(c0, tuple):  # dask: tuple of chunk sizes per dimension
        return int(c0[0]) if c0 else None
    return int(c0)


def partitions(source, partition_bytes: int | None = None, rows: int | None = None) -> list[slice]:
    """Contiguous ranges of the first dimension, each about ``partition_bytes`` and aligned to storage chunks.

    ``partition_bytes=None`` uses :data:`DEFAULT_PARTITION_BYTES` as it is at call time (configurable).
    """
    if partition_bytes is None:
        partition_bytes = DEFAULT_PARTITION_BYTES
    shape = source.shape
    if len(shape) == 0 or shape[0] == 0:
        return [slice(0, shape[0] if shape else 0)] if shape else [slice(None)]
    n = shape[0]
    if rows is None:
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(source.dtype).itemsize
        rows = max(1, partition_bytes // max(1, row_bytes))
        c = _chunk_rows(source)
        # Whole storage chunks per partition, unless a chunk is itself bigger than the budget (a reader that
        # chunks across the whole first dimension): then stay within the budget and read part of a chunk.
        if c and c <= rows:
            rows = rows // c * c
    rows = min(max(1, rows), n)
    return [slice(i, min(i + rows, n)) for i in range(0, n, rows)]


def read_block(source, rows: slice) -> np.ndarray:
    """Materialise one partition as a numpy array (a view for numpy sources)."""
    if getattr(source, "ndim", 1) == 0:  # a 0-d source is one partition; it cannot be sliced by rows
        rows = ()
    if isinstance(source, np.ndarray):
        return source[rows]
    block = source[rows]
    if hasattr(block, "compute"):  # dask: read inside this worker, do not nest thread pools
        return np.asarray(block.compute(scheduler="synchronous"))
    return np.asarray(block)


def run_pass(
    source,
    p: Pass,
    executor: Executor | None = None,
    partition_bytes: int | None = None,
    rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """Run pass ``p`` over ``source``; ``progress(bytes_done, bytes_total)`` is called after each
    partition."""
    executor = executor or get_executor()
    if getattr(source, "ndim", 0) == 0:
        parts = [slice(None)]
    else:
        parts = partitions(source, partition_bytes, rows)
    itemsize = np.dtype(source.dtype).itemsize
    row_bytes = int(np.prod(source.shape[1:], dtype=np.int64)) * itemsize if source.ndim else itemsize
    sizes = [((s.stop or 0) - (s.start or 0)) * row_bytes if source.ndim else itemsize for s in parts]
    total = int(sum(sizes))
    done = [0]

    def task(rows_: slice):
        return p.map(read_block(source, rows_), rows_)

    def on_done(i: int):
        done[0] += sizes[i]
        if progress:
            progress(done[0], total)

    t0 = time.perf_counter()
    partials = executor.map(task, parts, on_done)
    if p.merge is None:
        acc = partials[0] if len(partials) == 1 else np.concatenate(partials, axis=0)
    else:
        acc = partials[0]
        for part in partials[1:]:
            acc = p.merge(acc, part)
    result = p.finalize(acc)
    log.reports.append(PassReport(p.name, len(parts), total, time.perf_counter() - t0, executor.name))
    del log.reports[:-100]
    return result


def last_report() -> PassReport | None:
    return log.reports[-1] if log.reports else None


def row_digests(block: np.ndarray) -> list[bytes]:
    """SHA-256 of each row (first-dimension slice) of a block: merged in order these make a digest of the
    whole array that does not depend on how it was partitioned."""
    import hashlib

    return [hashlib.sha256(np.ascontiguousarray(row).tobytes()).digest() for row in block]


def combine_row_digests(dtype, shape, digests: list[bytes]) -> str:
    import hashlib

    h = hashlib.sha256(f"{np.dtype(dtype).str}{tuple(shape)}".encode())
    for d in digests:
        h.update(d)
    return h.hexdigest()


def data_digest(source, executor: Executor | None = None) -> str:
    """SHA-256 of an array's numbers (dtype, shape and bytes in C order), streamed partition by partition."""
    if getattr(source, "ndim", 0) == 0:
        return combine_row_digests(source.dtype, (), row_digests(np.asarray(source).reshape(1)))
    parts = run_pass(source, Pass(lambda b, r: row_digests(b), lambda a, b: a + b, name="digest"), executor)
    return combine_row_digests(source.dtype, source.shape, parts)
