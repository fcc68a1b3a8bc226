"""Reading only what the viewer needs from a signal's array: one storage chunk per pixel, a crop per pass.

Three kinds of source are met: a numpy array (indexed directly), a zarr array (a store opened lazily; a dask
array made by ``da.from_zarr`` is unwrapped to it so that a pixel costs one chunk read and no task graph), and
any other dask array (its chunks are computed one at a time). A pixel's spectrum is cut from the *block* of
storage chunks that holds it -- ``chunks[d]`` rows along every navigation dimension, the whole signal -- and the
last few blocks are kept (an LRU cache bounded in bytes), so the neighbours of a clicked pixel, which the mouse
visits next, cost no read at all.

:class:`Crop` presents a rectangular part of the source (navigation ranges, a channel range) as an array that
:func:`emscale.engine.run_pass` can partition: region sums and window maps read only the chunks they cover.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..io.store import StoreArray

DEFAULT_CACHE_BYTES = 256 * 2**20


def storage_array(data):
    """The array to read from: the checked store array behind an emscale store's lazy array (``em.load(path,
    lazy=True)``: every chunk verified against its checksum) or the zarr array behind a plain ``da.from_zarr``
    dask array; else ``data``.

    Only an untouched graph (two layers: the array and its getter, same shape and dtype) is unwrapped; a dask
    array with any operation on it keeps its graph, which is then the truth.
    """
    if not type(data).__module__.startswith("dask."):
        return data
    layers = getattr(data.dask, "layers", {})
    if not str(data.name).startswith(("from-zarr-", "emscale-store-")) or len(layers) != 2:
        return data
    import zarr

    for value in dict(data.dask).values():
        if isinstance(value, zarr.Array | StoreArray) and value.shape == data.shape and value.dtype == data.dtype:
            return value
    return data


def _nav_chunk_sizes(source, n_nav: int) -> tuple[int, ...]:
    """Storage chunk length along each navigation dimension (1 where unknown)."""
    chunks = getattr(source, "chunks", None)
    if chunks is None or isinstance(source, np.ndarray):
        return (1,) * n_nav
    out = []
    for d in range(n_nav):
        c = chunks[d]
        out.append(int(c[0]) if isinstance(c, tuple) else int(c))
    return tuple(max(1, c) for c in out)


def materialise(block) -> np.ndarray:
    if hasattr(block, "compute"):
        return np.asarray(block.compute(scheduler="synchronous"))
    return np.asarray(block)


class BlockReader:
    """Spectra of single pixels, read a storage block at a time and cached (thread-safe).

    Parameters
    ----------
    source : numpy, zarr or dask array, navigation dimensions first (numpy order).
    n_nav : number of navigation dimensions.
    cache_bytes : bound on the cached blocks (bytes of decoded data).
    """

    def __init__(self, source, n_nav: int, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.source = source
        self.n_nav = n_nav
        self.block = _nav_chunk_sizes(source, n_nav)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.reads = 0  # blocks read from the source (tests check that one pixel costs one block)

    def spectrum(self, index: tuple[int, ...]) -> np.ndarray:
        """The signal at navigation ``index`` (numpy order), shape ``sig_shape`` (numpy order)."""
        if isinstance(self.source, np.ndarray):
            return self.source[index]
        key = tuple(i // b for i, b in zip(index, self.block, strict=True))
        with self._lock:
            blk = self._cache.get(key)
            if blk is not None:
                self._cache.move_to_end(key)
        if blk is None:
            sl = tuple(slice(k * b, (k + 1) * b) for k, b in zip(key, self.block, strict=True))
            blk = materialise(self.source[sl])
            self._keep(key, blk)
        return blk[tuple(i - k * b for i, k, b in zip(index, key, self.block, strict=True))]

    def _keep(self, key, blk: np.ndarray) -> None:
        with self._lock:
            self.reads += 1
            if key in self._cache or blk.nbytes > self.cache_bytes:
                return
            self._cache[key] = blk
            self._held += blk.nbytes
            while self._held > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._held -= old.nbytes


def images_as_spectra(source, along: int = 0):
    """A stack of images ``[n, rows, cols]`` (or one image ``[rows, cols]``) as the spectrum image
    ``[rows, cols, n]`` the viewer reads: a pixel's "spectrum" is its value through the stack (a tilt series'
    intensity against tilt), and a window map the sum of the images in the window (one image for a window of
    one). ``along``: the dimension of a 3-D source that is the stack (1 or 2: its orthogonal sections). A numpy
    source is a view; a zarr or dask one is read through :class:`_StackAsSpectra`."""
    if isinstance(source, np.ndarray):
        return source[..., None] if source.ndim == 2 else np.moveaxis(source, along, -1)
    return _StackAsSpectra(source, along)


class _StackAsSpectra:
    """The read side of :func:`images_as_spectra` over a zarr or dask array: indexing ``[rows, cols, images]``
    with slices (or an integer image) reads those of ``source``, the stack in its dimension ``along`` (only the
    chunks they cover)."""

    def __init__(self, source, along: int = 0):
        self.source = source
        self.dtype = np.dtype(source.dtype)
        self.ndim = 3
        chunks = _nav_chunk_sizes(source, source.ndim)
        if source.ndim == 2:
            self.order = None
            self.shape, self.chunks = (*source.shape, 1), (*chunks, 1)
            return
        self.order = [d for d in range(3) if d != along] + [along]  # the source's dimension of each of ours
        self.shape = tuple(source.shape[d] for d in self.order)
        self.chunks = tuple(chunks[d] for d in self.order)

    def __getitem__(self, key) -> np.ndarray:
        key = (tuple(key) if isinstance(key, tuple) else (key,)) + (slice(None),) * 3
        rows, cols, images = key[:3]
        if self.order is None:
            if not isinstance(images, slice) and images != 0:
                raise IndexError(f"image {images} of 1")
            block = materialise(self.source[rows, cols])
            return block[..., None] if isinstance(images, slice) else block
        index = [None] * 3
        for ours, d in enumerate(self.order):
            index[d] = (rows, cols, images)[ours]
        block = materialise(self.source[tuple(index)])  # its dimensions in the source's order, integers dropped
        kept = [d for d, i in zip(self.order, (rows, cols, images), strict=True) if isinstance(i, slice)]
        return np.transpose(block, [sorted(kept).index(d) for d in kept])


class Crop:
    """A rectangular part of ``source`` as an array ``run_pass`` can partition along its first dimension.

    ``nav`` is one ``slice`` per navigation dimension (numpy order, step 1), ``channels`` a slice of the last
    dimension; reading ``crop[rows]`` reads only ``source[nav0[rows], nav1..., channels]``.
    """

    def __init__(self, source, nav: tuple[slice, ...], channels: slice = slice(None)):
        self.source = source
        self.nav = tuple(slice(*s.indices(n)[:2]) for s, n in zip(nav, source.shape, strict=False))
        self.channels = slice(*channels.indices(source.shape[-1])[:2])
        n_nav = len(self.nav)
        mid = tuple(source.shape[n_nav:-1])
        self.shape = tuple(s.stop - s.start for s in self.nav) + mid + (self.channels.stop - self.channels.start,)
        self.dtype = np.dtype(source.dtype)
        self.ndim = len(self.shape)
        self.chunks = _nav_chunk_sizes(source, 1) if n_nav else None

    def __getitem__(self, rows: slice) -> np.ndarray:
        first = self.nav[0]
        start, stop, _ = rows.indices(self.shape[0])
        key = (slice(first.start + start, first.start + stop), *self.nav[1:])
        key = key + (slice(None),) * (self.source.ndim - len(self.nav) - 1) + (self.channels,)
        return materialise(self.source[key])
