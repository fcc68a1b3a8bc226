"""Passes over partitions of an array whose partial results merge.

A *pass* is three functions: ``map(block, rows) -> partial`` for one partition (a contiguous range ``rows`` of
one array dimension, the first by default), ``merge(a, b) -> partial`` (associative; applied left to right in
partition order so the result does not depend on the executor), and ``finalize(partial) -> result``.
:func:`run_pass` reads each partition from the source (numpy array, dask array or zarr array) and hands it to the
executor; algorithm code never knows which executor runs it.

Partial results with several parts are best written as named records with their own merge (a small dataclass
whose ``merge(self, other)`` is the pass's ``merge``), not as positional tuples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import AxisError, check_progress
from ..core.held import held_array
from .executors import Executor, as_executor, runs_here
from .progress import ProgressBar

DEFAULT_PARTITION_BYTES = 64 * 2**20
WHOLE_CHUNK_BUDGETS = 8  # a storage chunk of up to this many partition budgets is read once for its partitions


def float64_partition_bytes(dtype) -> int:
    """The stored bytes of a partition whose rows are worked on in float64 (a decomposition's): the rows of
    :data:`DEFAULT_PARTITION_BYTES` of float64: 8 MiB of uint8, 16 MiB of uint16, 32 MiB of float32."""
    return DEFAULT_PARTITION_BYTES // max(1, 8 // np.dtype(dtype).itemsize)


@dataclass
class Pass:
    map: Callable[[np.ndarray, slice], Any]
    merge: Callable[[Any, Any], Any] | None = None  # None: partials are concatenated along axis 0
    finalize: Callable[[Any], Any] = lambda x: x
    name: str = "pass"


def values_and_count(a: tuple, b: tuple) -> tuple:
    """The merge of partials ``(values, count)``: one value per row (flat, in partition order) concatenated, the
    counts summed (a pass that maps its rows and counts those it could not: the spectra with NaN in a window)."""
    return np.concatenate([a[0], b[0]]), a[1] + b[1]


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


def _partition_axis(source, axis: int) -> int:
    """``axis`` as a non-negative dimension of ``source`` (an error names it when it is not one)."""
    ndim = len(source.shape)
    if not -ndim <= int(axis) < ndim:
        raise AxisError(f"partition axis {axis} does not exist in an array of shape {tuple(source.shape)}")
    return int(axis) % ndim


def _chunk_rows(source, axis: int = 0) -> int | None:
    chunks = getattr(source, "chunks", None)
    if chunks is None:
        return None
    c0 = chunks[axis]
    if isinstance(c0, tuple):  # dask: tuple of chunk sizes per dimension
        return int(c0[0]) if c0 else None
    return int(c0)


def _slab_bytes(source, axis: int) -> int:
    """Bytes of one index along ``axis`` (one 'row' of the partitioning)."""
    shape = source.shape
    rest = int(np.prod([n for d, n in enumerate(shape) if d != axis], dtype=np.int64))
    return rest * np.dtype(source.dtype).itemsize


def partitions(
    source, partition_bytes: int | None = None, rows: int | None = None, axis: int = 0
) -> list[slice]:
    """Contiguous ranges of dimension ``axis`` (the first by default), each about ``partition_bytes`` and
    aligned to storage chunks; ``rows`` fixes the length of a range instead.

    ``partition_bytes=None`` uses :data:`DEFAULT_PARTITION_BYTES` as it is at call time (configurable).
    """
    if partition_bytes is None:
        partition_bytes = DEFAULT_PARTITION_BYTES
    shape = source.shape
    if len(shape) == 0:
        return [slice(None)]
    axis = _partition_axis(source, axis)
    n = shape[axis]
    if n == 0:
        return [slice(0, 0)]
    if rows is None:
        rows = max(1, partition_bytes // max(1, _slab_bytes(source, axis)))
        c = _chunk_rows(source, axis)
        # Whole storage chunks per partition, unless a chunk is itself bigger than the budget (a reader that
        # chunks across the whole dimension): then stay within the budget and read part of a chunk (run_pass reads
        # such a chunk once for its partitions: _chunk_groups).
        if c and c <= rows:
            rows = rows // c * c
    rows = min(max(1, rows), n)
    return [slice(i, min(i + rows, n)) for i in range(0, n, rows)]


def read_block(source, rows: slice, axis: int = 0) -> np.ndarray:
    """Materialise one partition, ``source[:, ..., rows, ...]`` with ``rows`` on dimension ``axis``, as a numpy
    array (a view for numpy sources)."""
    if getattr(source, "ndim", 1) == 0:  # a 0-d source is one partition; it cannot be sliced by rows
        index = ()
    else:  # the first dimension is indexed by the plain slice: array-like sources need no tuple support
        k = _partition_axis(source, axis)
        index = rows if k == 0 else (slice(None),) * k + (rows,)
    if isinstance(source, np.ndarray):
        return source[index]
    held = held_array(source)
    if held is not None:  # a lazy signal of numbers already in memory: a view, not a copy concatenated from chunks
        return held[index]
    block = source[index]
    if hasattr(block, "compute"):  # dask: read inside this worker, do not nest thread pools
        return np.asarray(block.compute(scheduler="synchronous"))
    return np.asarray(block)


def run_pass(
    source,
    p: Pass,
    executor: Executor | str | None = None,
    partition_bytes: int | None = None,
    rows: int | None = None,
    progress: Callable[[int, int], None] | bool | None = None,
    axis: int = 0,
    fold: bool = False,
):
    """Run pass ``p`` over ``source``; ``progress(bytes_done, bytes_total)`` is called after each partition.

    Parameters
    ----------
    progress : a function called after each partition with the bytes of this pass read so far and its total (an
        operation that runs several passes calls it for each, from 0 again); ``True``: a progress bar for this
        pass, named after it (:class:`.progress.ProgressBar`); ``None`` or ``False``: nothing.
    axis : the dimension partitioned: a partition is ``source[:, ..., rows, ...]`` with ``rows`` a range of
        dimension ``axis`` (``p.map`` receives that range), and the partials of a pass without a merge are
        concatenated along ``axis``.
    fold : merge each partial into the running result as soon as every partial before it is in, instead of
        gathering them all first: the same left-to-right fold in partition order, hence the same bits, but a
        pass holds only the partials in flight where the executor can stream them (:meth:`Executor.imap`;
        executors that cannot, such as the Dask executor, gather and merge in order as before).
    """
    check_progress(progress)
    if progress is True:
        with ProgressBar(p.name) as bar:
            return run_pass(source, p, executor, partition_bytes, rows, bar, axis, fold)
    executor = as_executor(executor)
    if getattr(source, "ndim", 0) == 0:
        parts, axis = [slice(None)], 0
        sizes = [np.dtype(source.dtype).itemsize]
    else:
        axis = _partition_axis(source, axis)
        parts = partitions(source, partition_bytes, rows, axis)
        slab = _slab_bytes(source, axis)
        sizes = [((s.stop or 0) - (s.start or 0)) * slab for s in parts]
    total = int(sum(sizes))
    done = [0]

    groups = _chunk_groups(source, parts, axis)
    if groups is not None:
        # one read of a chunk for the partitions inside it, each still mapped on its own rows (the same partials,
        # merged in the same order: the same bits as partitions read one by one)
        at = {r.start: i for i, r in enumerate(parts)}
        items, sizes = groups, [sum(sizes[at[r.start]] for r in g) for g in groups]

        def task(group: list[slice]):
            lo, hi = group[0].start, group[-1].stop
            block = read_block(source, slice(lo, hi), axis)
            index = (slice(None),) * axis
            return [p.map(block[(*index, slice(r.start - lo, r.stop - lo))], r) for r in group]
    elif isinstance(source, np.ndarray) and not runs_here(executor):
        # tasks that run elsewhere carry their own block: a closure over the array shipped all of it with every
        # task (a 0.27 GB cube on a 2-worker cluster: 1.5-2.4 GB on the client)
        items = [(r, read_block(source, r, axis)) for r in parts]

        def task(item):
            return p.map(item[1], item[0])
    else:
        items = parts

        def task(rows_: slice):
            return p.map(read_block(source, rows_, axis), rows_)

    def on_done(i: int):
        done[0] += sizes[i]
        if progress:
            progress(done[0], total)

    t0 = time.perf_counter()
    if fold and p.merge is not None:
        acc, n = None, 0
        with closing(executor.imap(task, items, on_done)) as results:
            for result in results:
                for part in (result if groups is not None else [result]):
                    acc = part if n == 0 else p.merge(acc, part)
                    n += 1
                del result, part
        if n != len(parts):  # pragma: no cover - an executor yields one result per partition
            raise RuntimeError(f"pass {p.name!r}: {len(parts) - n} partial(s) were not merged")
    else:
        partials = executor.map(task, items, on_done)
        if groups is not None:
            partials = [part for result in partials for part in result]
        if p.merge is None:
            acc = partials[0] if len(partials) == 1 else np.concatenate(partials, axis=axis)
        else:
            acc = partials[0]
            for part in partials[1:]:
                acc = p.merge(acc, part)
    result = p.finalize(acc)
    log.reports.append(PassReport(p.name, len(parts), total, time.perf_counter() - t0, executor.name))
    del log.reports[:-100]
    return result


def _chunk_groups(source, parts: list[slice], axis: int) -> list[list[slice]] | None:
    """The partitions grouped by the storage chunk they start in, where a chunk is over the budget (partitions read
    parts of it) and at most :data:`WHOLE_CHUNK_BUDGETS` budgets: a reader decodes, a store decompresses, a whole
    chunk for any part of it (the Velox EDS cube, chunked 128 x 128 x 1024 of 4096 channels: eight partitions decoded
    its event stream eight times, line maps 7.3 s, one read 3.0). None where partitions hold whole chunks, the source
    is in memory, or the chunks are larger than that."""
    if isinstance(source, np.ndarray) or len(parts) < 2:
        return None
    c = _chunk_rows(source, axis)
    rows = parts[0].stop - parts[0].start
    if not c or c <= rows or c > WHOLE_CHUNK_BUDGETS * rows:
        return None
    groups: dict[int, list[slice]] = {}
    for r in parts:
        groups.setdefault(r.start // c, []).append(r)
    return list(groups.values())


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
