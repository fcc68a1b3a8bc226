"""Numpy arrays held in memory, wrapped as dask without a copy, and found again by the passes that read them.

``dask.array.from_array`` copies a numpy array (dask 2026.8: so that a later in-place edit does not show through),
and a pass over the dask array then concatenates each partition from its chunks: a lazy signal of numbers a
reader had already read into memory (a Velox EDS cube, 134 MB) took three times its size by the end of a save,
where the eager signal's passes read views. :func:`held_dask` wraps the array itself; :func:`held_array` gives it
back for that dask array (and no other: a slice or any operation makes another), so that a pass reads views of it.
"""

from __future__ import annotations

import weakref

import numpy as np

# dask array name -> the numpy array it reads, while both live (the graph holds the array)
_HELD: dict[str, weakref.ref] = {}


class _Held:
    """The array as dask's ``from_array`` reads it: no ``copy`` method, so it is not copied; indexing gives views."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def __getitem__(self, key):
        return self.data[key]


def held_dask(data: np.ndarray, chunks):
    """A dask array of ``data`` in ``chunks`` that reads ``data`` itself (not a copy: an in-place edit of ``data``
    shows through)."""
    import uuid

    import dask.array as da

    name = f"emscale-held-{uuid.uuid4().hex}"  # not by its numbers: hashing them would read the whole array
    out = da.from_array(_Held(data), chunks=chunks, name=name, meta=np.empty((0,) * data.ndim, data.dtype))
    _HELD[out.name] = weakref.ref(data, lambda _, n=out.name: _HELD.pop(n, None))
    return out


def held_array(x) -> np.ndarray | None:
    """The numpy array that the dask array ``x`` reads as it is (made by :func:`held_dask`); None for any other."""
    ref = _HELD.get(getattr(x, "name", None)) if not isinstance(x, np.ndarray) else None
    data = ref() if ref is not None else None
    if data is None or getattr(x, "shape", None) != data.shape or getattr(x, "dtype", None) != data.dtype:
        return None
    return data
