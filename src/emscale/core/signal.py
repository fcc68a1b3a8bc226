"""The one data model: an N-D array with calibrated navigation and signal axes, metadata and history.

Storage order: the array is kept in numpy order with navigation dimensions first and signal dimensions last
(``data[y, x, E]`` for a spectrum image). User order -- used by ``inav``, ``isig`` and ``axis=`` -- counts
navigation axes x, y, z... (reverse numpy order) then signal axes likewise; see :mod:`emscale.axes`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import codec
from .axes import Axis, shape_notation
from .errors import AxisError, DataError, check_count, is_number
from .held import held_dask
from .history import unrecorded_entry
from .intsum import SumOverflow, checked_sum
from .registry import operation, recording, register_host


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask.")


_NAV_NAMES = ("x", "y", "z", "t")


def _default_axes(ndim: int, image: bool = False) -> list[Axis]:
    """Last dimension is the signal; navigation dims named x, y, z... in user order. ``image``: the last two
    dimensions are the signal (y, x), as HyperSpy's Signal2D, and the navigation dims are named from z (a stack)."""
    n_sig = min(2 if image else 1, ndim)
    n_nav = ndim - n_sig
    first = 2 if n_sig == 2 else 0
    axes = []
    for d in range(n_nav):
        k = first + n_nav - 1 - d
        axes.append(Axis(name=_NAV_NAMES[k] if k < len(_NAV_NAMES) else f"nav{k}", size=0, navigate=True))
    names = ("y", "x") if n_sig == 2 else ("signal",)
    axes += [Axis(name=name, size=0, navigate=False) for name in names[len(names) - n_sig :]]
    return axes


class Signal:
    """An N-D array with calibrated axes split into navigation and signal, metadata and history.

    Parameters
    ----------
    data : numpy or dask array
    axes : one dict (or :class:`Axis`) per array dimension in numpy order, keys ``name, scale, offset,
        units, navigate`` (and ``coords`` for a non-uniform axis). Omitted keys: scale 1, offset 0, no units;
        by default the last dimension is the signal axis (the last two for ``signal_type="image"``).
    signal_type : e.g. ``"EELS"``, ``"EDS_TEM"``, ``"EDS_SEM"``, ``"CL"``, ``"image"``.
    metadata : acquisition parameters (beam energy, detector, dates, elements...).
    original_metadata : the vendor's tree, kept untouched.
    history : list of provenance entries (see :mod:`emscale.history`).
    """

    def __init__(
        self,
        data,
        axes: Sequence[dict | Axis] | None = None,
        signal_type: str = "",
        metadata: dict | None = None,
        original_metadata: dict | None = None,
        history: list[dict] | None = None,
        title: str = "",
    ):
        if not _is_dask(data) and not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if np.dtype(data.dtype).kind in "OUSMm":  # objects, text and dates reached numpy's reductions and zarr
            raise DataError(f"a signal holds numbers (bool, integer, float or complex), not dtype {data.dtype}")
        if metadata is not None and not isinstance(metadata, dict):
            raise DataError(f"metadata must be a dict (nested sections), got {type(metadata).__name__}")
        ndim = data.ndim
        if axes is None:
            axes = [{} for _ in range(ndim)]
        if len(axes) != ndim:
            raise AxisError(f"{len(axes)} axes given for {ndim}-dimensional data of shape {data.shape}")
        # signal_type "image": the last two dimensions are the image (an image given without axes was a line scan
        # of spectra, which sparse scanning and tomography refused, a reviewer)
        defaults = _default_axes(ndim, image=str(signal_type or "").lower() == "image")
        built = []
        for d, (a, size) in enumerate(zip(axes, data.shape, strict=True)):
            if isinstance(a, Axis):
                if a.size != size:
                    raise AxisError(f"axis {a.name!r} has size {a.size} but data dimension {d} has {size}")
                built.append(a)
            else:
                a = dict(a)
                a.setdefault("navigate", defaults[d].navigate)
                built.append(Axis.from_dict(a, size=size, default_name=defaults[d].name))
        names = [a.name for a in built if a.name]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise AxisError(f"axis names must be unique; repeated: {sorted(dup)}")
        # Keep navigation dims first in storage (a view, no copy).
        nav = [d for d, a in enumerate(built) if a.navigate]
        sig = [d for d, a in enumerate(built) if not a.navigate]
        order = nav + sig
        if order != list(range(ndim)):
            data = data.transpose(order)
            built = [built[d] for d in order]
        self._data = data
        self._axes: tuple[Axis, ...] = tuple(built)
        md = dict(metadata or {})
        self.metadata: dict = md
        self.signal_type: str = signal_type or md.get("Signal", {}).get("signal_type", "") or ""
        if title:
            self.title = title
        self.original_metadata: dict = original_metadata if original_metadata is not None else {}
        self.history: list[dict] = list(history or [])

    # -- basic properties ----------------------------------------------------------------------------------
    @property
    def data(self):
        return self._data

    @property
    def title(self) -> str:
        """The title, held in one place: ``metadata["General"]["title"]`` (HyperSpy's), so that setting either
        changes both (a copy kept beside it went stale when the metadata's was edited, and the repr showed it)."""
        g = self.metadata.get("General")
        t = g.get("title") if isinstance(g, dict) else None
        return "" if t is None else str(t)

    @title.setter
    def title(self, value) -> None:
        value = "" if value is None else str(value)
        g = self.metadata.get("General")
        if not isinstance(g, dict) or (not value and "title" not in g):
            if not value:
                return
            g = {}
        self.metadata["General"] = {**g, "title": value}  # a new dict: the caller's metadata is not changed

    @property
    def axes(self) -> tuple[Axis, ...]:
        """Axes in numpy (storage) order."""
        return self._axes

    @property
    def nav_ndim(self) -> int:
        return sum(a.navigate for a in self._axes)

    @property
    def sig_ndim(self) -> int:
        return len(self._axes) - self.nav_ndim

    @property
    def nav_axes(self) -> tuple[Axis, ...]:
        """Navigation axes in user order (x, y, ...)."""
        return tuple(reversed(self._axes[: self.nav_ndim]))

    @property
    def sig_axes(self) -> tuple[Axis, ...]:
        """Signal axes in user order."""
        return tuple(reversed(self._axes[self.nav_ndim :]))

    @property
    def user_axes(self) -> tuple[Axis, ...]:
        """All axes in user order: navigation (x, y, ...) then signal."""
        return self.nav_axes + self.sig_axes

    @property
    def nav_shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.nav_axes)

    @property
    def sig_shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.sig_axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Numpy shape of the data."""
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def is_lazy(self) -> bool:
        return _is_dask(self._data)

    def axis(self, key: int | str) -> Axis:
        """An axis by name or by user-order index."""
        return self._axes[self._dim(key)]

    # -- axis resolution -----------------------------------------------------------------------------------
    def _user_to_dim(self) -> list[int]:
        """numpy dim for each user-order position."""
        n = self.nav_ndim
        return list(range(n - 1, -1, -1)) + list(range(self.ndim - 1, n - 1, -1))

    def _dim(self, key: int | str | Axis) -> int:
        if isinstance(key, Axis):
            key = key.name
        if isinstance(key, str):
            hits = [d for d, a in enumerate(self._axes) if a.name == key]
            if not hits:
                names = ", ".join(repr(a.name) for a in self.user_axes)
                raise AxisError(f"no axis named {key!r}; this signal has {names}")
            return hits[0]
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise AxisError(f"axis must be a name or an integer, not {key!r}")
        u2d = self._user_to_dim()
        if not -len(u2d) <= int(key) < len(u2d):
            raise AxisError(f"axis index {key} is out of range for a signal with {len(u2d)} axes")
        return u2d[int(key)]

    def _dims(self, axis) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        if isinstance(axis, np.ndarray | range):
            axis = tuple(np.asarray(axis).tolist())
        if not isinstance(axis, list | tuple):
            axis = (axis,)  # one axis; _dim refuses what is neither a name nor an integer (axis=1.5)
        dims = [self._dim(a) for a in axis]
        if len(set(dims)) != len(dims):
            raise AxisError(f"axis {axis!r} names the same axis twice")
        return tuple(sorted(dims))

    # -- indexing ------------------------------------------------------------------------------------------
    @property
    def inav(self) -> _Indexer:
        """Index navigation axes in x, y order: integers are indices, floats calibrated values."""
        return _Indexer(self, navigation=True)

    @property
    def isig(self) -> _Indexer:
        """Index signal axes: integers are indices, floats calibrated values; slices are half-open."""
        return _Indexer(self, navigation=False)

    # -- reshaping -----------------------------------------------------------------------------------------
    @operation("rebin", record={"scale": lambda v, a: _user_factors(a["self"], _rebin_factors(a["self"], v, True))},
               check={"scale": lambda v: _check_rebin_scale(v)})
    def rebin(self, scale: Sequence[int] | dict, crop: bool = False) -> Signal:
        """Sum blocks of ``scale`` channels/pixels per axis; counts are preserved.

        ``scale`` is a sequence of integer factors in user order (one per axis) or a dict
        ``{axis name or index: factor}``. A size not divisible by its factor is an error unless ``crop=True``,
        which drops the remainder.
        """
        factors = _rebin_factors(self, scale, crop)
        check_not_mixing_scan(self, [d for d, f in enumerate(factors) if f > 1], "rebin")
        data = self._data
        crop_sl = tuple(slice(0, (n // f) * f) for n, f in zip(self.shape, factors, strict=True))
        data = data[crop_sl]
        new_shape = []
        for n, f in zip(data.shape, factors, strict=True):
            new_shape += [n // f, f]
        data = _block_sums(data.reshape(new_shape), tuple(range(1, 2 * self.ndim, 2)), int(np.prod(factors)))
        axes = [a.rebinned(f) for a, f in zip(self._axes, factors, strict=True)]
        out = derive(self, data, axes)
        pixels = int(np.prod([f for a, f in zip(self._axes, factors, strict=True) if a.navigate]))
        scale_counting_times(out, pixels, self.signal_type)
        return out

    @operation("transpose", record={"signal_axes": lambda v, a: None if v is None else axis_param(
        [v] if isinstance(v, str | int | np.integer | Axis) else list(v))},
               hints={"navigation_axes": "is HyperSpy's: name the signal axes instead (signal_axes=[...]); every "
                                         "other axis navigates"})
    def transpose(self, signal_axes: Sequence[int | str] | None = None) -> Signal:
        """Swap roles: by default navigation axes become signal axes and vice versa (``s.T``).

        ``signal_axes`` instead names the axes (name or user-order index) that become the signal axes.
        """
        if signal_axes is None:
            sig = list(range(self.nav_ndim))
        else:
            if isinstance(signal_axes, int | np.integer) and not isinstance(signal_axes, bool):
                # HyperSpy reads an integer as the number of signal axes, emscale's lists name axes: either reading
                # would silently give the other's result
                raise AxisError(f"transpose: signal_axes={int(signal_axes)} is ambiguous (in HyperSpy a number of "
                                f"signal axes); name the axes: signal_axes=[{int(signal_axes)}] for the axis at user "
                                f"index {int(signal_axes)}, or their names")
            if isinstance(signal_axes, str | Axis):
                signal_axes = (signal_axes,)
            self._dims(signal_axes)  # refuses unknown and repeated axes
            # listed in user order, as HyperSpy takes them: the first is the image's x, the last numpy axis
            sig = [self._dim(a) for a in reversed(list(signal_axes))]
            if not sig:  # no signal axis would make every axis one, the opposite of what was asked
                raise AxisError("transpose: signal_axes names no axis; name at least one, or pass None to swap "
                                "navigation and signal")
        axes = [Axis(**{**_fields(a), "navigate": d not in sig}) for d, a in enumerate(self._axes)]
        nav = [d for d in range(self.ndim) if d not in sig]
        order = nav + sig
        return derive(self, self._data.transpose(order), [axes[d] for d in order])

    @operation("squeeze")
    def squeeze(self) -> Signal:
        """Drop axes of size 1."""
        keep = [d for d, n in enumerate(self.shape) if n != 1]
        if len(keep) == self.ndim:
            return self
        data = self._data.reshape(tuple(self.shape[d] for d in keep))
        return derive(self, data, [self._axes[d] for d in keep])

    @property
    def T(self) -> Signal:
        return self.transpose()

    # -- conversion ----------------------------------------------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        return np.asarray(self._data.compute()) if self.is_lazy else self._data

    def compute(self) -> Signal:
        """An in-memory copy of a lazy signal (the same signal if already in memory)."""
        if not self.is_lazy:
            return self
        return _derived(self, self.to_numpy(), self._axes)

    def as_lazy(self, chunks=None, copy: bool = True) -> Signal:
        """A dask-backed view of this signal, chunked along navigation with whole spectra per chunk.

        ``copy=False``: the dask array reads this signal's numpy array itself, not a copy of it (half the memory;
        passes read views of it, as they do of an eager signal's), and an in-place edit of it shows through."""
        import dask.array as da

        if self.is_lazy:
            return self
        if chunks is None:
            chunks = default_chunks(self.shape, self.dtype, self.nav_ndim)
        if not copy and type(self._data) is np.ndarray:
            return _derived(self, held_dask(self._data, chunks), self._axes)
        return _derived(self, da.from_array(self._data, chunks=chunks), self._axes)

    def to_xarray(self):
        """An ``xarray.DataArray`` with named dims, coordinates, units and roles in attributes."""
        import json

        import xarray as xr

        dims = [a.name for a in self._axes]
        coords = {}
        for a in self._axes:
            cattrs = {"units": a.units, "navigate": int(a.navigate)}
            if a.is_uniform:  # exact calibration: differences of the values are not exactly the scale
                cattrs.update(scale=float(a.scale), offset=float(a.offset))
            coords[a.name] = (a.name, a.values, cattrs)
        attrs = {
            "signal_type": self.signal_type,
            "title": self.title,
            "metadata": codec.dumps(self.metadata),
            "history": json.dumps(self.history),
        }
        return xr.DataArray(self._data, dims=dims, coords=coords, attrs=attrs)

    @classmethod
    def from_xarray(cls, da) -> Signal:
        import json

        axes = []
        for d, name in enumerate(da.dims):
            c = da.coords.get(name)
            attrs = dict(c.attrs) if c is not None else {}
            entry: dict[str, Any] = {
                "name": str(name),
                "units": attrs.get("units", ""),
                "navigate": bool(attrs.get("navigate", d < da.ndim - 1)),
            }
            if c is not None and "scale" in attrs and "offset" in attrs:
                entry.update(scale=float(attrs["scale"]), offset=float(attrs["offset"]))
            elif c is not None and c.size > 1:
                v = np.asarray(c.values, dtype=float)
                step = np.diff(v)
                if np.allclose(step, step[0], rtol=1e-9, atol=0):
                    entry.update(scale=float(step[0]), offset=float(v[0]))
                else:
                    entry["coords"] = v
            elif c is not None and c.size == 1:
                entry["offset"] = float(np.asarray(c.values)[0])
            axes.append(entry)
        md = da.attrs.get("metadata")
        hist = da.attrs.get("history")
        return cls(
            da.data,
            axes=axes,
            signal_type=da.attrs.get("signal_type", ""),
            metadata=codec.loads(md) if isinstance(md, str) else {},
            history=json.loads(hist) if isinstance(hist, str) else [],
            title=da.attrs.get("title", ""),
        )

    # -- arithmetic: ``s + t``, ``2 * s``, ``np.log(s)``, ... are attached by .numpy_protocol -----------------------
    __array_ufunc__ = None  # numpy defers to the reflected operators: ``np.float32(2) * s`` is a Signal

    # -- display -------------------------------------------------------------------------------------------
    def __getattr__(self, name: str):
        # only for names not found: HyperSpy's, refused with the emscale way (a bare AttributeError said nothing)
        from .hyperspy_names import HYPERSPY_EQUIVALENTS

        if name in HYPERSPY_EQUIVALENTS:
            raise AttributeError(f"Signal has no {name!r} (HyperSpy's); in emscale: {HYPERSPY_EQUIVALENTS[name]} "
                                 "(docs/coming_from_hyperspy.md)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        kind = f" {self.signal_type}" if self.signal_type else ""  # untyped: not "<Signal Signal ...>"
        title = f" {self.title!r}" if self.title else ""
        lazy = ", lazy" if self.is_lazy else ""
        shape = shape_notation(self._axes[: self.nav_ndim], self._axes[self.nav_ndim :])
        return f"<Signal{kind}{title} {shape} {self.dtype}{lazy}>"

    def describe(self) -> str:
        """Multi-line summary: shapes, dtype, type, laziness and every axis with its calibration."""
        lines = [repr(self), f"  size in memory: {self.nbytes / 1e6:.2f} MB"]
        for i, a in enumerate(self.user_axes):
            lines.append(f"  [{i}] {a}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(a.name)}</td><td>{'nav' if a.navigate else 'sig'}</td>"
            f"<td>{a.size}</td><td>{a.scale:g}</td><td>{a.offset:g}</td><td>{html.escape(a.units)}</td></tr>"
            for i, a in enumerate(self.user_axes)
        )
        from .html import signal_preview

        return (
            f"<div><b>{html.escape(repr(self))}</b><div style='display:flex;align-items:flex-start'>"
            f"<table><tr><th>#</th><th>name</th><th>role</th><th>size</th>"
            f"<th>scale</th><th>offset</th><th>units</th></tr>{rows}</table>{signal_preview(self)}</div></div>"
        )


register_host("signal", Signal)


def derive(s: Signal, data, axes: Sequence[Axis], signal_type: str | None = None, title: str | None = None,
           index: tuple | None = None) -> Signal:
    """A new Signal derived from ``s``: its metadata and history copied (carried over unchanged, shared with no one).

    The public way for operation code to build its output; the operation registry appends the history entry
    of the operation that called it (:mod:`.registry`). When no signal axis is left, the navigation axes become
    the signal (as in HyperSpy).

    A sparse scan's mask of measured positions (:func:`measured_mask`) is metadata of one value a scan position:
    ``index``, the numpy index that took ``data`` from ``s.data`` (``inav``, ``isig``), cuts it as it cut the
    data. A mask the output's axes no longer fit (a reduction or a transpose moved the scan) is dropped, with a
    warning where the zeros it marked as unmeasured are still in the output (:func:`_scan_mask_of`).

    Called outside any operation (``em.derive(s, np.log1p(s.data), s.axes)`` in a user's script), no operation
    records what made ``data``: the history then ends with an ``"unrecorded"`` entry, and replaying it, or
    exporting it as a recipe, is refused with a message naming that entry rather than silently giving other
    numbers. Declare the computation as an operation (:func:`emscale.core.registry.operation`) to record it.
    """
    out = _derived(s, data, axes, signal_type, title, index)
    if not recording():
        out.history.append(unrecorded_entry("em.derive outside an operation: numbers computed by the caller"))
    return out


def _derived(s: Signal, data, axes: Sequence[Axis], signal_type: str | None = None, title: str | None = None,
             index: tuple | None = None) -> Signal:
    """:func:`derive` without the mark of an unrecorded step: for a copy of the same numbers (``compute``,
    ``as_lazy``), which changes how the data are held, not what they are."""
    axes = list(axes)
    if axes and not any(not a.navigate for a in axes):
        axes = [Axis(**{**_fields(a), "navigate": False}) for a in axes]
    if signal_type is None:
        # the type names what the signal axes hold (an EELS energy loss): where none of them is a signal axis any
        # more (a transpose, a reduction over the energy axis) an image of pixels is not "EELS"
        kept = {a.name for a in s.sig_axes} & {a.name for a in axes if not a.navigate}
        signal_type = s.signal_type if kept else ""
    metadata = copy.deepcopy(s.metadata)
    if signal_type != s.signal_type and isinstance(metadata.get("Signal"), dict):
        # the metadata's copy of the type must not bring the parent's back (the constructor falls back to it)
        if signal_type:
            metadata["Signal"]["signal_type"] = signal_type
        else:
            metadata["Signal"].pop("signal_type", None)
    out = Signal(
        data,
        axes=axes,
        signal_type=signal_type,
        metadata=metadata,
        original_metadata=s.original_metadata,
        history=copy.deepcopy(s.history),  # entries are nested dicts: a shallow copy let a child edit its parent's
        title=s.title if title is None else title,
    )
    _scan_mask_of(s, out, index)
    _per_frame_of(s, out, index)
    return out


def _per_frame_of(s: Signal, out: Signal, index: tuple | None) -> None:
    """Cut ``out``'s per-frame acquisition lists as ``index`` cut the frames, in place: a series along one navigation
    axis (a tilt series, a time series) whose ``metadata["Acquisition_instrument"]`` holds a list of numbers a frame
    (a stage tilt, an exposure) keeps the values of the frames it keeps. ``inav[::4]`` of the real tilt series kept
    all 77 tilts for its 20 frames, and reading them as the series' angles was refused."""
    if index is None or s.nav_ndim != 1 or not index or index[0] == slice(None) \
            or "Acquisition_instrument" not in out.metadata:
        return  # (an isig keeps every frame)
    n, take = s.axes[0].size, index[0]  # an int or a slice (inav's keys), which index a list as they do the data

    def cut(node):
        for key, value in list(node.items()):
            if isinstance(value, dict):
                cut(value)
            elif (isinstance(value, list) and len(value) == n > 1
                  and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
                node[key] = value[take]

    if isinstance(out.metadata["Acquisition_instrument"], dict):
        cut(out.metadata["Acquisition_instrument"])


def signal_method(fn=None, *, name: str | None = None):
    """Attach ``fn`` as a Signal method from a higher layer (saving, plotting, viewing): not an operation, not
    recorded. The method takes the function's name, or ``name``; a ``*_signal`` suffix is dropped."""
    def attach(f):
        setattr(Signal, name or f.__name__.removesuffix("_signal"), f)
        return f

    return attach(fn) if fn is not None else attach


def measured_mask(s) -> np.ndarray | None:
    """The measured scan positions of a sparsely scanned signal (``metadata["Sampling"]``, written by
    ``sample_scan``), as a boolean array over the signal's first dimensions ((rows, columns) for a scan, fewer once
    an index took a line or a position of it); None for a full scan."""
    info = s.metadata.get("Sampling")
    if not info or "mask_packed" not in info:
        return None
    shape = tuple(int(n) for n in info["shape"])
    bits = np.unpackbits(np.asarray(info["mask_packed"], np.uint8), count=int(np.prod(shape, dtype=np.int64)))
    return bits.astype(bool).reshape(shape)


def measured_info(mask) -> dict:
    """What a scan mask measured, for ``metadata["Sampling"]``: its share of the positions and their number (a line
    hop measures about the fraction asked for, not exactly it)."""
    return {"measured_fraction": float(mask.mean()), "measured_positions": int(np.count_nonzero(mask))}


def store_measured_mask(s: Signal, mask, **info) -> None:
    """Store ``mask`` (True = measured), the positions of the scan over the first ``mask.ndim`` dimensions of
    ``s``, and ``info`` in ``s.metadata["Sampling"]`` in place: bit-packed, with its shape and the names of the
    axes it covers (which :func:`derive` follows), in the form :func:`measured_mask` reads."""
    mask = np.asarray(mask, bool)
    s.metadata["Sampling"] = {**info, "shape": list(mask.shape), "axes": [a.name for a in s.axes[: mask.ndim]],
                              "mask_packed": np.packbits(mask.ravel())}


def check_not_mixing_scan(s: Signal, dims, what: str) -> None:
    """Refuse (:class:`DataError`) an operation that combines values of neighbouring scan positions (numpy
    ``dims``) of a sparse scan: it would average the zeros of unmeasured positions into the measured values."""
    mask = measured_mask(s) if is_sparse_scan(s) else None
    if mask is None or not any(d < mask.ndim for d in dims):
        return
    raise DataError(
        f"{what}: {s!r} is a sparse scan ({np.count_nonzero(mask)} of {mask.size} positions measured, "
        f"axes {_scan_axes(s)}); combining its positions would mix the unmeasured positions' zeros into the "
        "measured values. Reconstruct it first (s.inpaint(...)), or combine only its other axes")


def holds_counts(s) -> bool:
    """Counts: the metadata says so, or whole numbers of an EDS or EELS signal (a detector's counts per channel, as
    the readers give them without the metadata flag)."""
    sig = s.metadata.get("Signal", {}) if isinstance(s.metadata, dict) else {}
    if isinstance(sig, dict) and sig.get("counts") is not None:
        return bool(sig["counts"])
    spectroscopy = (s.signal_type or "").upper().startswith(("EDS", "EELS"))
    return spectroscopy and np.dtype(s.dtype).kind in "iu"


def is_sparse_scan(s) -> bool:
    """Whether ``s`` holds a sparse scan's zeros at unmeasured positions: a stored mask, and no reconstruction
    (which keeps its scan's mask for the record, but holds a value at every position)."""
    return measured_mask(s) is not None and "reconstruction" not in s.metadata.get("Sampling", {})


def _mask_fits(info: dict, axes: Sequence[Axis]) -> bool:
    """Whether a stored mask covers the first of ``axes``: their sizes, and their names where it recorded them."""
    shape = [int(n) for n in info["shape"]]
    covered = list(axes[: len(shape)])
    if len(covered) < len(shape) or [a.size for a in covered] != shape:
        return False
    return "axes" not in info or [a.name for a in covered] == list(info["axes"])


def _scan_mask_of(s: Signal, out: Signal, index: tuple | None) -> None:
    """``out``'s scan mask from ``s``'s (see :func:`derive`): cut by ``index``, kept where it still fits, else
    dropped -- with a warning where ``s`` is a sparse scan, whose zeros would now read as measured values."""
    mask = measured_mask(s)
    if mask is None:
        return
    info = {k: v for k, v in out.metadata["Sampling"].items() if k not in ("shape", "axes", "mask_packed")}
    if index is not None:
        cut = mask[tuple(index[: mask.ndim])]
        info.update(measured_info(cut))  # (an index never leaves an empty cut: _select refuses an empty axis)
        store_measured_mask(out, cut, **info)
        return
    if _mask_fits(s.metadata["Sampling"], out.axes):
        return
    out.metadata["Sampling"] = info  # what was scanned, for the record; no mask describes this grid
    if is_sparse_scan(s) and set(_scan_names(s)) <= {a.name for a in out.axes}:
        # the scan's positions are all still there, moved (a transpose): their zeros would read as measured. A
        # reduction over them is the operation's to allow (a sum) or refuse (check_not_mixing_scan)
        import warnings

        warnings.warn(
            f"{s!r} is a sparse scan, and its mask of measured positions (axes {_scan_axes(s)}) does not describe "
            f"the result {out!r}, which holds the unmeasured positions' zeros as if measured; reconstruct the scan "
            "first (s.inpaint(...)) to work on every position", UserWarning, stacklevel=4)


def _scan_names(s: Signal) -> list[str]:
    """The names of the axes a stored mask covers (recorded with it; before they were, the first axes')."""
    info = s.metadata["Sampling"]
    return list(info.get("axes") or [a.name for a in s.axes[: len(info["shape"])]])


def _scan_axes(s: Signal) -> str:
    return ", ".join(f"{n} ({k})" for n, k in zip(_scan_names(s), s.metadata["Sampling"]["shape"], strict=True))


def acquisition_value(metadata, *path: str, signal_type=None) -> float | None:
    """The number at ``Acquisition_instrument.<microscope>.<path>`` (HyperSpy's places); None where none holds one.

    Where the metadata hold both microscopes (a file converted from one to the other, a merged tree), the one the
    signal was recorded on answers first: the SEM's for a signal typed ``*_SEM`` (``EDS_SEM``, ``CL_SEM``), as exspy's
    SEM spectra read it, else the TEM's. Three lookups took TEM first in one place and SEM first in another, so one
    EDS_SEM map was named with the SEM's 20 keV beam and its lines chosen with the TEM's 200."""
    inst = metadata.get("Acquisition_instrument", {}) if isinstance(metadata, dict) else {}
    order = ("SEM", "TEM") if str(signal_type or "").upper().endswith("_SEM") else ("TEM", "SEM")
    for microscope in order:
        node = inst.get(microscope) if isinstance(inst, dict) else None
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str):  # a number written as text ("200"), as the lookups before took it
            try:
                node = float(node)
            except ValueError:
                continue
        if is_number(node):
            return float(node)
    return None


def key_metadata(md: dict) -> dict:
    """A few acquisition parameters a microscopist looks for first."""
    out = {}
    general = md.get("General", {})
    for k in ("title", "date", "time", "original_filename"):
        if general.get(k):
            out[k] = general[k]
    acq = md.get("Acquisition_instrument", {})
    for inst_name, inst in acq.items():
        if not isinstance(inst, dict):
            continue
        for k in ("beam_energy", "microscope", "magnification", "convergence_angle"):
            if k in inst:
                out[f"{inst_name}.{k}"] = _with_unit(inst[k], k)
        stage = inst.get("Stage", {})
        for k in ("tilt_alpha", "tilt_beta"):  # a tilted sample changes an EDS take-off angle, and a tilt series
            if isinstance(stage, dict) and k in stage:
                out[f"{inst_name}.Stage.{k}"] = _with_unit(stage[k], k)
        det = inst.get("Detector", {})
        for dname, d in det.items() if isinstance(det, dict) else []:
            if isinstance(d, dict):
                for k in ("collection_angle", "dispersion", "energy_resolution_MnKa", "live_time", "real_time",
                          "elevation_angle", "azimuth_angle"):
                    if k in d:
                        out[f"{inst_name}.Detector.{dname}.{k}"] = _with_unit(d[k], k)
    sample = md.get("Sample", {})
    if sample.get("elements"):
        out["elements"] = list(sample["elements"])
    scan = md.get("Sampling", {})  # a sparse scan: what was measured, and what reconstructed it
    if isinstance(scan, dict) and scan.get("shape"):
        frac = scan.get("measured_fraction", scan.get("fraction"))
        out["sparse scan"] = (f"{scan.get('pattern', '?')}" + (f", {frac:.1%} measured" if frac is not None else "")
                              + (f", dose x{scan['dose']:g}" if "dose" in scan else ""))
        if scan.get("reconstruction"):
            out["reconstructed by"] = str(scan["reconstruction"])
    return {k: _brief(v) for k, v in out.items()}


# the counting times of each detector's pixel (HyperSpy's places, Acquisition_instrument.{SEM,TEM}.Detector.<kind>);
# not EDS real_time: RosettaSciIO's Bruker reader gives the whole map's (a 30 x 30 map's 70 s read 17.5 h when summed)
_COUNTING_TIMES = {"EDS": ("live_time",), "EELS": ("dwell_time", "exposure")}


def scale_counting_times(s: Signal, n: int, signal_type: str) -> None:
    """Multiply the counting times of the summed signal's detector in ``s.metadata`` by ``n``, the number of pixels
    summed into each value of ``s``: the counts of n pixels were collected in n times the time, so that counts per
    second stay right. EDS: ``live_time`` (exspy does so for ``sum`` and ``rebin``; its ``sum`` counts the pixels
    of a sum over the energy axis too -- here a sum over signal axes sums no pixels); not ``real_time``, the time
    the acquisition took (a Bruker map's is the whole map's; exspy's ``sum`` leaves it, its ``rebin`` scales it).
    EELS: ``dwell_time`` and ``exposure`` (exspy's ``rebin`` scales them; its ``sum`` does not, which
    left a summed spectrum's counts per second n times too high). Only the times of the summed signal's own detector
    (``signal_type``: the summed signal's, a sum over every axis has none left) are scaled: an EELS signal's
    metadata may hold the EDS detector recorded alongside, whose time is not the EELS pixels'."""
    detector = next((k for k in _COUNTING_TIMES if str(signal_type).upper().startswith(k)), None)
    if n == 1 or detector is None:
        return
    acq = s.metadata.get("Acquisition_instrument")
    for inst in acq.values() if isinstance(acq, dict) else ():
        det = inst.get("Detector") if isinstance(inst, dict) else None
        times = det.get(detector) if isinstance(det, dict) else None
        if not isinstance(times, dict):
            continue
        for key in _COUNTING_TIMES[detector]:
            v = times.get(key)
            if is_number(v):
                times[key] = float(v) * n


# The units of HyperSpy's metadata convention (what RosettaSciIO's mappings write), for display
_UNITS = {"beam_energy": "keV", "convergence_angle": "mrad", "collection_angle": "mrad", "dispersion": "eV/channel",
          "energy_resolution_MnKa": "eV", "live_time": "s", "real_time": "s", "magnification": "x",
          "tilt_alpha": "deg", "tilt_beta": "deg", "elevation_angle": "deg", "azimuth_angle": "deg"}


def _with_unit(value, key: str):
    """A number with the unit the metadata convention gives its key ("15 keV"); anything else as it is."""
    unit = _UNITS.get(key)
    if unit is None or isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return value
    return f"{float(value) + 0.0:g} {unit}"  # + 0.0: a stage at -0.0 deg (Velox) reads "0 deg"


def _brief(value, most: int = 8):
    """A long numeric list in a few words: an MRC header's magnification is one value per tilt and then hundreds of
    zeros (1024 numbers in `emscale info` and in every report)."""
    if not isinstance(value, list | tuple | np.ndarray) or len(value) <= most:
        return value
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":  # names (the elements) are read whole
        return value
    a = a.ravel()
    nz = np.flatnonzero(a)
    if not nz.size:
        return f"0 (all {a.size} values)"
    # a header's table padded with zeros after its last entry: the entries, then the padding (a 0 degree tilt among
    # 77 angles is an entry, not padding: it read "1024 values from -76 to 76; the other 948 are 0")
    head, pad = a[: nz[-1] + 1], a.size - (nz[-1] + 1)
    then = f", then {pad} zeros" if pad else ""
    zeros = f"; {head.size - nz.size} of them 0" if nz.size < head.size else ""  # every non-zero is in the head
    distinct = np.unique(head)
    if distinct.size == 1:
        return f"{distinct[0].item():g} ({head.size} values{then})"
    return f"{head.size} values from {head.min().item():g} to {head.max().item():g}{zeros}{then}"


def default_chunks(shape, dtype, nav_ndim: int, target_bytes: int = 16 * 2**20) -> tuple[int, ...]:
    """Chunks along navigation with whole spectra per chunk, about ``target_bytes`` each."""
    shape = tuple(int(n) for n in shape)
    if nav_ndim == 0:
        return shape
    sig_bytes = int(np.prod(shape[nav_ndim:], dtype=np.int64)) * np.dtype(dtype).itemsize
    budget = max(1, target_bytes // max(sig_bytes, 1))
    chunks = list(shape)
    # Fill from the fastest navigation dim outwards.
    for d in range(nav_ndim - 1, -1, -1):
        take = int(min(shape[d], max(1, budget)))
        chunks[d] = take
        budget = budget // max(take, 1)
    return tuple(chunks)


def _fields(a: Axis) -> dict:
    return {
        "name": a.name,
        "size": a.size,
        "scale": a.scale,
        "offset": a.offset,
        "units": a.units,
        "navigate": a.navigate,
        "coords": a.coords,
    }


def axis_param(axis):
    """An axis argument in the form the history records: names and integers, lists for several."""
    if isinstance(axis, Axis):
        return axis.name
    if isinstance(axis, list | tuple):
        return [axis_param(a) for a in axis]
    if isinstance(axis, np.integer):
        return int(axis)
    return axis


def _check_rebin_scale(scale) -> None:
    """Rebin factors as a recipe gives them, before the signal (its axes and sizes) is read: each a whole number
    >= 1 (:func:`_rebin_factors` refuses the rest with the data)."""
    for f in scale.values() if isinstance(scale, dict) else scale if isinstance(scale, list | tuple) else ():
        check_count("rebin factor", f, "values summed into one along its axis")


def _rebin_factors(s: Signal, scale, crop: bool) -> list[int]:
    """Rebin factors in numpy order from a user-order sequence or an ``{axis: factor}`` dict, validated."""
    factors = [1] * s.ndim
    if isinstance(scale, dict):
        s._dims(list(scale))  # refuses an axis named twice ({"E": 4, 2: 2}: the last factor won)
        for k, f in scale.items():
            factors[s._dim(k)] = f
    else:
        if len(scale) != s.ndim:
            raise AxisError(f"rebin needs {s.ndim} factors (user order), got {len(scale)}")
        for pos, f in enumerate(scale):
            factors[s._user_to_dim()[pos]] = f
    for d, f in enumerate(factors):
        if isinstance(f, bool) or not isinstance(f, int | np.integer) or f < 1:
            raise AxisError(f"rebin factor for axis {s._axes[d].name!r} must be a positive integer, got {f!r}")
        if s.shape[d] % f and not crop:
            raise AxisError(f"axis {s._axes[d].name!r} of size {s.shape[d]} is not divisible by {f}; pass crop=True")
        if f > s.shape[d]:
            raise AxisError(f"rebin factor {f} for axis {s._axes[d].name!r} is larger than its size {s.shape[d]}: "
                            "nothing would be left")
    return factors


def _block_sums(blocks, axes: tuple[int, ...], n: int):
    """``blocks`` (numpy or dask) summed over ``axes`` (``n`` values per sum); integers in a 64-bit accumulator and
    refused (DataError) rather than wrapped where a sum does not fit it (:func:`.intsum.checked_sum`: free below
    64 bits, exact near the accumulator's limit)."""
    dtype = np.dtype(blocks.dtype).newbyteorder("=")  # numpy's sum takes no byte order: big-endian data sum native
    if dtype.kind not in "biu" or n == 1:  # one value a block (factors all 1) keeps its dtype: no sum to widen for
        sums = blocks.sum(axis=axes, dtype=dtype)
        if dtype != np.float16 or n == 1:
            return sums
        # half precision sums in its own type (the bits recorded steps hold), refused where a sum runs past 65504:
        # a float16 cube of 1000s binned to inf, only numpy's overflow warning saying so
        if _is_dask(blocks):
            wide = blocks.sum(axis=axes, dtype=np.float32)
            return sums.map_blocks(lambda a, b: _finite_half(a, b, n), wide, dtype=dtype)
        # in memory the single-precision sums are needed only where a half-precision one ran to inf
        return _finite_half(sums, blocks.sum(axis=axes, dtype=np.float32), n) if np.isinf(sums).any() else sums
    acc = np.dtype(np.uint64 if dtype.kind == "u" else np.int64)

    def checked(block):
        try:
            return checked_sum(block, axes, acc)
        except SumOverflow:
            raise DataError(f"rebin: an integer sum of {n} values does not fit in {acc}; convert the data to float "
                            "first") from None

    if not _is_dask(blocks):
        return checked(np.asarray(blocks))
    # each block sum must lie within one chunk for the per-chunk check to see all of its values
    whole = blocks.rechunk({ax: -1 for ax in axes})
    return whole.map_blocks(checked, drop_axis=axes, dtype=acc, meta=np.empty((0,) * (blocks.ndim - len(axes)), acc))


def _finite_half(sums, wide, n: int):
    """``sums`` (float16) where no finite sum (``wide``, the same in float32) ran past float16's largest value."""
    if np.any(np.isinf(sums) & np.isfinite(wide)):
        raise DataError(f"rebin: a sum of {n} values exceeds float16's largest value (65504); convert the "
                        "data to float32 first (s.astype('float32'), recorded)")
    return sums


def _user_factors(s: Signal, factors: list[int]) -> list[int]:
    return [int(factors[d]) for d in s._user_to_dim()]


class _Indexer:
    """``s.inav[...]`` / ``s.isig[...]``: keys in user order; int = index, float = calibrated value."""

    def __init__(self, signal: Signal, navigation: bool):
        self._s = signal
        self._nav = navigation

    def __getitem__(self, key) -> Signal:
        return (select_nav if self._nav else select_sig)(self._s, key)

    def __setitem__(self, key, value) -> None:
        which = "inav" if self._nav else "isig"
        raise TypeError(f"s.{which}[...] = ... (or *= and the like): a Signal is not changed in place by index, as "
                        "every change is a recorded step; build the change from whole signals (s * mask, "
                        "np.where on s.data), or edit a copy of the numbers and wrap it, em.derive(s, data, s.axes) "
                        "(a step the history marks unrecorded)")


def _normalise_key(s: Signal, key, nav: bool) -> tuple:
    """The key as a tuple with one entry per indexed axis (user order), an Ellipsis expanded."""
    group = s.nav_axes if nav else s.sig_axes
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = len(group) - (len(key) - 1)
        key = key[:i] + (slice(None),) * max(fill, 0) + key[i + 1 :]
    if len(key) > len(group):
        raise AxisError(
            f"{'inav' if nav else 'isig'} got {len(key)} indices but the signal has {len(group)} "
            f"{'navigation' if nav else 'signal'} axes"
        )
    return key


def _select(s: Signal, key, nav: bool) -> Signal:
    op = "inav" if nav else "isig"
    key = _normalise_key(s, key, nav)
    u2d = s._user_to_dim()
    offset = 0 if nav else s.nav_ndim
    np_key: list[Any] = [slice(None)] * s.ndim
    new_axes: list[Axis | None] = list(s.axes)
    for pos, k in enumerate(key):
        d = u2d[offset + pos]
        ax = s.axes[d]
        if isinstance(k, slice):
            sl = _to_index_slice(ax, k)
            np_key[d] = sl
            new_axes[d] = ax.sliced(sl)
        else:
            np_key[d] = _to_index(ax, k)
            new_axes[d] = None
    data = s.data[tuple(np_key)]
    axes = [a for a in new_axes if a is not None]
    for a in axes:
        if a.size == 0:
            raise AxisError(f"{op}[{_fmt_key(key)}] selects nothing on axis {a.name!r}")
    return derive(s, data, axes, index=tuple(np_key))


@operation("inav", record={"key": lambda v, a: _normalise_key(a["s"], v, True)})
def select_nav(s: Signal, key) -> Signal:
    """``s.inav[key]``: navigation axes in user order (x, y, ...); int = index, float = calibrated value."""
    return _select(s, key, True)


@operation("isig", record={"key": lambda v, a: _normalise_key(a["s"], v, False)})
def select_sig(s: Signal, key) -> Signal:
    """``s.isig[key]``: signal axes in user order; int = index, float = calibrated value."""
    return _select(s, key, False)


def _fmt_key(key) -> str:
    def one(k):
        if isinstance(k, slice):
            parts = ["" if v is None else repr(v) for v in (k.start, k.stop)]
            return ":".join(parts) + ("" if k.step is None else f":{k.step!r}")
        return repr(k)

    return ", ".join(one(k) for k in key)


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_float(v) -> bool:
    return isinstance(v, float | np.floating)


def _to_index(ax: Axis, k) -> int:
    if _is_int(k):
        if not -ax.size <= int(k) < ax.size:
            raise AxisError(f"index {k} is out of range for axis {ax.name!r} of size {ax.size}")
        return int(k) % ax.size
    if _is_float(k):
        return ax.value_to_index(k)
    raise AxisError(f"cannot index axis {ax.name!r} with {k!r}: use an integer index or a float value")


def _first_values(ax: Axis, n: int = 5) -> str:
    v = np.asarray(ax.values)
    return ", ".join(f"{x:g}" for x in v[:n]) + (", ..." if v.size > n else "") + (f" {ax.units}" if ax.units else "")


def _to_index_slice(ax: Axis, k: slice) -> slice:
    def bound(v, stop: bool = False):
        if v is None or _is_int(v):
            return None if v is None else int(v)
        if _is_float(v) and not ax.is_monotonic:
            raise AxisError(f"axis {ax.name!r} holds its values out of order ({_first_values(ax)}, e.g. tilts in "
                            "acquisition order): a calibrated slice spans no run of positions there; slice by index, "
                            "or select one value at a time (a float index: the nearest)")
        if _is_float(v):
            return ax.stop_to_index(v) if stop else ax.value_to_index(v)
        raise AxisError(f"cannot slice axis {ax.name!r} with bound {v!r}: use an integer or a float")

    step = k.step
    if step is not None:
        if _is_float(step):
            if not ax.is_uniform:
                raise AxisError(f"a calibrated step needs a uniform axis; {ax.name!r} is non-uniform")
            if step == 0 or not np.isfinite(step):
                raise AxisError(f"slice step for axis {ax.name!r} must be non-zero and finite, got {step!r}")
            # Channels per step, keeping the direction (a negative step walks backwards, as in HyperSpy).
            per = step / ax.scale
            if abs(per) < 1 - 1e-9:  # slicing picks channels; it cannot make finer ones
                width = f"{abs(ax.scale)!r} {ax.units or ''}".rstrip()
                raise AxisError(f"slice step {step!r} for axis {ax.name!r} is finer than its channel width {width}; "
                                "slicing selects channels, it does not resample")
            step = max(1, int(round(abs(per)))) * (1 if per > 0 else -1)
        elif not _is_int(step) or step == 0:
            raise AxisError(
                f"slice step for axis {ax.name!r} must be a non-zero integer or a float, got {step!r}"
            )
    # a backward slice's stop lies before its start: the axis's end rule is for a forward one
    return slice(bound(k.start), bound(k.stop, stop=step is None or step > 0), step)
