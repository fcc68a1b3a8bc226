"""Out-of-core reconstruction: slice blocks streamed into a zarr store, the volume written with bounded memory.

Two streams, both through :meth:`Signal.save` (which writes partition by partition, reading each partition of a
lazy array only when it writes it):

1. the slice-first result ``(n_slices, nz, n_det)`` is a lazy dask array whose blocks are the solver applied to
   blocks of ``slices_per_partition`` sinograms (``dask.array.map_blocks``); saving it to a scratch store
   reconstructs one partition of slices at a time, so memory holds a few partitions, never the volume;
2. the volume ``(z, y, x)`` is a transposed lazy view of the scratch store; saving it chunked along ``z`` reads
   one slab of ``z`` rows (a few scratch chunks per slice) at a time
   (:func:`.reconstruct.reconstruct_to_store` does both).

A slice's numbers depend on its own sinogram and on quantities fixed before any partition runs, never on the block
it falls in (:mod:`.reconstruct`), so the store holds the bits of the in-memory reconstruction. Memory: the input
series (when it is in memory) plus a few output partitions of at most 32 MB each by default
(:func:`.projector.partition_slices`).
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..core.signal import Signal
from ..engine.executors import executor_context
from ..io.store import load_zarr
from .slicesolver import slice_solver, slices_of

CHUNK_BYTES = 16 * 2**20


def lazy_slices(sinograms, angles, slices_per_partition: int | None = None, executor=None, **params):
    """The reconstruction of slice-first sinograms ``(n_slices, n_tilts, n_det)`` as a lazy dask array
    ``(n_slices, nz, n_det)`` float32: nothing is computed until a block is read.

    ``params`` as in :func:`.reconstruct.reconstruct_slices` (``method``, ``n_iter``, ``filter``, ...); the
    parameters are checked now (and the series' sums computed by one pass, unless ``series`` brings them).
    """
    import dask.array as da

    one, geom = slice_solver(sinograms, angles, executor=executor, **params)
    k = slices_of(slices_per_partition, sinograms.shape[0], geom, executor)
    if isinstance(sinograms, da.Array):
        src = sinograms.rechunk((k, -1, -1))
    else:  # name=False: no hashing of the whole series for a graph key
        src = da.from_array(sinograms, chunks=(k, -1, -1), name=False)

    def block(b, block_info=None):
        lo, hi = block_info[0]["array-location"][0]
        return one(b, slice(lo, hi))

    return src.map_blocks(block, chunks=((src.chunks[0]), (geom.nz,), (geom.n_det,)), dtype=np.float32,
                          meta=np.empty((0, 0, 0), np.float32))


def reconstruct_slices_to_store(
    sinograms, angles, scratch, slices_per_partition: int | None = None, executor=None, progress=None, **params
):
    """Reconstruct slice-first sinograms into a new store in the folder ``scratch``; returns the slices
    ``(n_slices, nz, n_det)`` as a lazy dask array reading that store. ``executor`` runs the partitions."""
    lazy = lazy_slices(sinograms, angles, slices_per_partition, executor, progress=progress, **params)
    n, nz, nw = lazy.shape
    k = int(lazy.chunks[0][0])
    cz = int(min(nz, max(1, CHUNK_BYTES // 16 // (nw * 4))))  # small z chunks: the volume's z slabs read few
    folder = Path(tempfile.mkdtemp(prefix="slices-", dir=Path(scratch)))
    s = Signal(lazy, axes=[{"name": "slice", "navigate": True}, {"name": "z", "navigate": False},
                           {"name": "w", "navigate": False}], signal_type="volume_slices")
    with executor_context(executor) if executor is not None else nullcontext():
        s.save(folder / "slices.zarr", chunks=(k, cz, nw), progress=progress)
    return load_zarr(folder / "slices.zarr", lazy=True).data


def volume_chunks(shape, itemsize: int = 4) -> tuple[int, int, int]:
    """Store chunks of a volume ``(z, y, x)``: whole ``y, x`` planes, about 16 MB of ``z`` rows."""
    nz, ny, nx = (int(n) for n in shape)
    return (int(min(nz, max(1, CHUNK_BYTES // (ny * nx * itemsize)))), ny, nx)
