"""Vendor formats through RosettaSciIO: every reader it has, mapped onto :class:`emscale.Signal`."""

from __future__ import annotations

import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from ..core.errors import ArgumentError, AxisError, EmscaleError, FileFormatError
from ..core.signal import Signal

# Spectral units tell which axis of a spectrum image is the signal when a reader leaves it ambiguous.
_SPECTRAL_TYPES = {"EELS", "EDS", "EDS_TEM", "EDS_SEM", "CL", "CL_SEM", "CL_STEM", "PL", "Raman", "XPS"}


def _plugins() -> list[dict]:
    from rsciio import IO_PLUGINS

    return IO_PLUGINS


def supported_formats() -> dict[str, list[str]]:
    """Extension (lower case) -> names of the RosettaSciIO readers that read it (plus ``zarr``)."""
    table: dict[str, list[str]] = {"zarr": ["emscale zarr store"]}
    for p in _plugins():
        for ext in p["file_extensions"]:
            names = table.setdefault(ext.lower(), [])
            if p["name"] not in names:
                names.append(p["name"])
    return table


def _readers_for(path: Path) -> list[dict]:
    ext = path.suffix.lstrip(".").lower()
    found = [p for p in _plugins() if ext in (e.lower() for e in p["file_extensions"])]
    if not found:
        exts = ", ".join(sorted(supported_formats()))
        raise FileFormatError(f"{path}: unknown file extension {path.suffix!r}; supported: {exts}")
    return found


# Formats RosettaSciIO reads lazily through a memory map of the file: a truncated one opens, and fails only when
# the missing bytes are read ("mmap length is greater than file size", naming no file). Reading their last value
# costs one page.
MAPPED_SUFFIXES = frozenset({".mrc", ".mrcs", ".ali", ".rec", ".st", ".dm3", ".dm4", ".rpl", ".raw", ".blo",
                             ".ser", ".emi"})


def _probe_end(path: Path, dicts) -> None:
    """Read the last value of each lazily opened array: a truncated file is an error now, naming the file."""
    for d in dicts:
        data = d.get("data")
        if data is None or not hasattr(data, "compute") or not getattr(data, "size", 0):
            continue
        try:
            np.asarray(data[(-1,) * data.ndim].compute())
        except Exception as exc:  # noqa: BLE001 - whatever the memory map or the reader raises
            raise FileFormatError(f"{path}: its data cannot be read to the end ({type(exc).__name__}: {exc}); the "
                                  "file is truncated or damaged") from None


def _probe_sfs(path: Path) -> None:
    """A Bruker .bcf (an SFS container) read lazily opens when truncated, and its first computation fails with a
    raw ``zlib.error`` naming no file: check instead that every chunk the container's tables point at lies inside
    the file. The tables come from RosettaSciIO's own SFS reader; where that changes shape the check is skipped
    (the read still fails later, less clearly)."""
    try:
        from rsciio.bruker._api import SFS_reader

        sfs = SFS_reader(str(path))
        ends = []

        def walk(tree):
            for item in tree.values():
                if isinstance(item, dict):
                    walk(item)
                elif len(getattr(item, "pointers", ())):
                    ends.append(int(np.max(item.pointers)) + int(sfs.chunksize))

        walk(sfs.vfs)
    except Exception:  # noqa: BLE001 - the reader's internals, not the file, are in question here
        return
    size = path.stat().st_size
    if ends and max(ends) > size:
        raise FileFormatError(f"{path}: the file is truncated ({size} bytes; its chunk tables point up to byte "
                              f"{max(ends)})")


def _refuse_objects(path: Path) -> None:
    """A .npy of Python objects is read by unpickling them, which can run any code the file holds: refused by its
    header, for every command alike. Its reader said "could not be read (corrupt or truncated?)" of it, with
    "NotImplementedError: Can not use auto rechunking with object dtype" lazily (info, history, convert)."""
    if path.suffix.lower() != ".npy":
        return
    header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as f:
            dtype = header[np.lib.format.read_magic(f)](f)[2]
    except Exception:  # noqa: BLE001 - a damaged header, or one of version 3: the reader says what it finds
        return
    if dtype.hasobject:
        raise FileFormatError(f"{path}: a .npy of Python objects (dtype {dtype}), not of numbers: reading it would "
                              "unpickle them, which can run any code the file holds, and emscale reads with "
                              "allow_pickle=False; save the numbers as a numeric array (np.save of a float or "
                              "integer array)")


def read_vendor(path: Path, lazy: bool = False, **reader_kwargs) -> list[dict]:
    """Signal dictionaries from RosettaSciIO, trying each reader that claims the extension."""
    import importlib

    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    _refuse_objects(path)
    errors, rejected = [], []
    for plugin in _readers_for(path):
        try:
            reader = importlib.import_module(plugin["api"]).file_reader
        except ImportError as exc:
            errors.append(f"{plugin['name']}: reader unavailable ({exc})")
            continue
        unknown = _unknown_keywords(reader, reader_kwargs)
        if unknown is not None:
            rejected.append(f"the {plugin['name']} reader takes no {unknown}")
            continue
        with _ReaderLog() as said:
            try:
                dicts = _read(plugin, reader, path, lazy, reader_kwargs)
            except TypeError as exc:
                if "lazy" in str(exc) and "unexpected keyword" in str(exc):
                    dicts = reader(str(path), **reader_kwargs)
                else:
                    errors.append(f"{plugin['name']}: {type(exc).__name__}: {exc}{said.text()}")
                    continue
            except Exception as exc:  # noqa: BLE001 - a corrupt file can raise anything from a reader
                errors.append(f"{plugin['name']}: {type(exc).__name__}: {exc}{said.text()}")
                continue
        said.warn(path)
        if dicts:
            if lazy and path.suffix.lower() in MAPPED_SUFFIXES:
                _probe_end(path, dicts)
            elif lazy and path.suffix.lower() == ".bcf":
                _probe_sfs(path)
            return list(dicts)
        errors.append(f"{plugin['name']}: no signal found")
    if rejected and not errors:  # the caller's keyword, not the file: no reader was tried
        raise ArgumentError(f"{path}: {'; '.join(rejected)} (em.load passes keywords other than lazy, signal_type "
                            "and index to the file's reader)")
    # a reader that failed on the file says more than one whose optional module is missing (a truncated .mrc led
    # with "MRCZ: reader unavailable (No module named 'mrcz')")
    tried = [e for e in errors if ": reader unavailable (" not in e]
    detail = "; ".join(tried + [e for e in errors if e not in tried] + rejected)
    other = _other_format(path)
    if other:  # a renamed file: the readers of its extension fail on it, and the reason is not damage
        raise FileFormatError(f"{path}: could not be read -- its first bytes are those of {other}, not of a "
                              f"{path.suffix} file (renamed?) -- {detail}")
    if any(cue in e for e in tried for cue in TRUNCATION_CUES):
        raise FileFormatError(f"{path}: the file is shorter than its headers describe (cut short, or a damaged "
                              f"header) -- {detail}")
    raise FileFormatError(f"{path}: could not be read (corrupt or truncated?) -- {detail}")


# What the readers say where a file ends before the data its headers describe (a copy cut short, or a header
# whose sizes are damaged: an .mrc with nz + 5 written in it reads the same): the memory map of the MRC and raw
# readers, the struct reads of DigitalMicrograph's tag tree, h5py (Velox, EMD) and zlib (Bruker)
TRUNCATION_CUES = ("mmap length is greater than file size", "unpack requires a buffer of", "truncated file: eof",
                   "incomplete or truncated stream")


def _read(plugin: dict, reader, path: Path, lazy: bool, reader_kwargs: dict) -> list[dict]:
    """``reader(path, lazy=lazy, **reader_kwargs)``; a lazy read of a Velox .emd whose spectrum image is small reads
    its spectrum stream as the eager read does (:func:`_velox_dense_stream`)."""
    if lazy and plugin["name"] == "EMD" and reader_kwargs.get("sum_frames", True) is not False:
        dicts = _velox_dense_stream(path, reader_kwargs)
        if dicts is not None:
            return dicts
    return reader(str(path), lazy=lazy, **reader_kwargs)


# The most a lazy read of a Velox .emd allocates to read its EDS spectrum stream densely (see _velox_dense_stream).
# A constant, not a share of the free memory: which path a file takes, and so the time and memory of reading it,
# is then the same on every machine and every run. 1 GiB: the eager load of such a cube allocates it anyway, and
# a lazy save of it adds one partition (16 MiB); a cube above it (a 1024 x 1024 x 4096 uint16 map: 8 GiB) is what
# a lazy read is for, and stays RosettaSciIO's sparse array (40 bytes a count: 0.8 GB for 20 counts a pixel).
DENSE_STREAM_BUDGET = 2**30


def _velox_stream_bytes(f, reader_kwargs: dict) -> int | None:
    """At most the bytes of the spectrum image(s) RosettaSciIO's eager read of the open Velox file ``f`` allocates
    (frames summed): the largest image's scan shape x the largest stream's channels (rebinned) x the item size,
    once or for each stream (``sum_EDS_detectors=False``). From the file's headers, before anything is read: the
    reader takes the scan shape from an image and the channels and dtype from each stream's acquisition settings.
    None where a header is not as Velox 11 writes it."""
    import json

    try:
        streams = [f["Data/SpectrumStream"][k] for k in f["Data/SpectrumStream"]]
        settings = [json.loads(bytes(g["AcquisitionSettings"][0]).decode("utf-8")) for g in streams]
        pixels = max(int(np.prod(f["Data/Image"][k]["Data"].shape[:-1])) for k in f["Data/Image"])
        channels = max(int(a["bincount"]) for a in settings) // int(reader_kwargs.get("rebin_energy", 1))
        itemsize = max(np.dtype(reader_kwargs.get("SI_dtype") or a["StreamEncoding"]).itemsize for a in settings)
    except Exception:  # noqa: BLE001 - a header missing or of another shape: the caller reads as asked
        return None
    cubes = 1 if reader_kwargs.get("sum_EDS_detectors", True) else len(streams)
    return cubes * pixels * channels * itemsize


def _velox_dense_stream(path: Path, reader_kwargs: dict) -> list[dict] | None:
    """RosettaSciIO's lazy read of a Velox .emd, but for its EDS spectrum stream, read as its eager read does:
    the same signals in the same order. None where the file is no Velox file with a spectrum stream, where the dense
    spectrum image would take more than :data:`DENSE_STREAM_BUDGET`, or where RosettaSciIO's reader class is not
    where 0.15 has it: the caller then reads as asked (the stream as a sparse array).

    RosettaSciIO's lazy read of the stream holds the whole stream and a sparse COO array of it in memory (int64
    coordinates and values: 40 bytes a count, where the dense cube takes 2 bytes a channel), compiles sparse's
    indexing with numba in every process (5 s, in dask's ``from_array`` of the COO array, before the reader
    returns), and densifies each partition in int64. `emscale convert` of the real 128 x 128 x 4096 EDS cube took
    12.7 s and 813 MB, its eager load and save 4.7 s and 407 MB. Read densely (the reader's own cached kernel, in
    the stream's dtype), the cube is wrapped lazily by ``signal_from_dict``. Not by densifying the lazy read's
    array afterwards: the read itself took 4.9 s, the compile already paid. Hence RosettaSciIO's private reader
    class, with its one step made eager, and only under the budget. Not by ``select_type="spectrum_image"``:
    RosettaSciIO then takes the spectrum image's shape from the first image, not the last (the real file's cube
    came out 16 x 20, the shape of an EELS map)."""
    import inspect

    import h5py

    try:
        from rsciio.emd._emd_velox import FeiEMDReader
    except ImportError:
        return None
    try:
        f = h5py.File(path, "r")
    except Exception:  # noqa: BLE001 - not HDF5, damaged: the reader's own error names it
        return None
    data = f.get("Data")
    if not ("Version" in f and isinstance(data, h5py.Group) and "Image" in data and "SpectrumImage" in data
            and "SpectrumStream" in data):
        f.close()
        return None
    dense = _velox_stream_bytes(f, reader_kwargs)
    if dense is None or dense > DENSE_STREAM_BUDGET:
        f.close()
        return None

    class DenseStream(FeiEMDReader):
        def _read_spectrum_stream(self):
            self.lazy = False
            try:
                super()._read_spectrum_stream()
            finally:
                self.lazy = True

    # what file_reader passes on for a Velox file (dataset_path and stack_group are NCEM's: ignored)
    takes = inspect.signature(FeiEMDReader).parameters
    try:  # the file stays open, as RosettaSciIO's own lazy read leaves it: the images are read from it
        reader = DenseStream(lazy=True, **{k: v for k, v in reader_kwargs.items() if k in takes})
        reader.read_file(f)
    except BaseException:
        f.close()
        raise
    return reader.dictionaries


# the first bytes of common formats, what they are and the extensions they go by: a file whose readers all failed
# and whose first bytes are another format's was renamed, not damaged (a DM4 file named .bcf read "corrupt or
# truncated?")
_SIGNATURES = (
    (b"\x00\x00\x00\x03", "a Gatan DM3 file", (".dm3", ".dm4")),  # one reader reads both
    (b"\x00\x00\x00\x04", "a Gatan DM4 file", (".dm3", ".dm4")),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Velox .emd, HyperSpy .hspy, NeXus .nxs)",
     (".emd", ".hspy", ".h5", ".hdf5", ".hdf", ".nxs", ".nx")),
    (b"AAMVHFSS", "a Bruker .bcf file", (".bcf",)),
    (b"II*\x00", "a TIFF file", (".tif", ".tiff")),
    (b"MM\x00*", "a TIFF file", (".tif", ".tiff")),
    (b"PK\x03\x04", "a zip archive (unzip it first)", ()),
)


def _other_format(path: Path) -> str | None:
    """What the file's first bytes say it is, where that is a format its extension is not (:data:`_SIGNATURES`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    suffix = path.suffix.lower()
    return next((what for sig, what, exts in _SIGNATURES if head.startswith(sig) and suffix not in exts), None)


class _ReaderLog:
    """RosettaSciIO's log records of ERROR and above during one reader call, kept instead of printed: a corrupt file
    printed the reader's ``ERROR | ...`` line above emscale's own error, two lines where one is promised. Where the
    reader fails they join the error; where it reads the file they are said as warnings."""

    def __init__(self):
        import logging

        self.records: list[str] = []
        self.logger = logging.getLogger("rsciio")
        outer = self

        class _Keep(logging.Handler):
            def emit(self, record):
                outer.records.append(record.getMessage())

        self.handler = _Keep(level=logging.ERROR)

    def __enter__(self):
        self.propagate = self.logger.propagate
        self.kept = [h for h in self.logger.handlers if h.level <= 40]
        for h in self.kept:
            self.logger.removeHandler(h)
        self.logger.addHandler(self.handler)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        for h in self.kept:
            self.logger.addHandler(h)
        self.logger.propagate = self.propagate
        return False

    def text(self) -> str:
        return "".join(f" (the reader logged: {m})" for m in self.records[:3])

    def warn(self, path) -> None:
        import warnings

        for m in self.records:
            warnings.warn(f"{path}: the file's reader logged an error but read the file: {m}", UserWarning,
                          stacklevel=4)


def _unknown_keywords(reader, kwargs: dict) -> str | None:
    """The keywords in ``kwargs`` that ``reader`` does not take, with those it does (None: it takes them all)."""
    import inspect

    try:
        params = inspect.signature(reader).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    unknown = [k for k in kwargs if k not in params]
    if not unknown:
        return None
    takes = [n for n in list(params)[1:] if n != "lazy"]
    return (f"keyword {', '.join(map(repr, unknown))} (it takes {', '.join(takes) or 'none but lazy'})")


def _axes_from_dicts(d: dict) -> list[dict]:
    data = d["data"]
    axes = [dict(a) for a in d.get("axes", [])]
    if len(axes) != data.ndim:
        raise FileFormatError(f"reader gave {len(axes)} axes for data of shape {data.shape}")
    out = []
    has_nav = all("navigate" in a for a in axes)
    for a in axes:
        coords = a.get("axis")
        entry = {
            "name": str(a.get("name") or ""),
            "scale": a.get("scale", 1.0),
            "offset": a.get("offset", 0.0),
            "units": "" if a.get("units") in (None, "<undefined>") else str(a["units"]),
            # Without navigate flags every axis is a signal axis (an image, a lone spectrum), as HyperSpy does.
            "navigate": bool(a["navigate"]) if has_nav else False,
        }
        if coords is not None and not np.isscalar(coords):
            entry["coords"] = np.asarray(coords, dtype=float)
        out.append(entry)
    return out


class _PostProcess:
    """Stands in for a HyperSpy signal in a reader's ``post_process`` functions (e.g. DM's
    ``to_signal1D`` then ``squeeze``), translating them into emscale operations."""

    def __init__(self, signal: Signal):
        self.signal = signal

    def to_signal1D(self, *args, **kwargs):
        s = self.signal
        if s.sig_ndim != 1 and s.nav_ndim >= 1:
            # The spectral axis is the (last) navigation axis; everything else navigates.
            spectral = s.nav_axes[-1].name
            s = self._typed(s.transpose(signal_axes=[spectral]))
        return _PostProcess(s)

    def to_signal2D(self, *args, **kwargs):
        s = self.signal
        if s.sig_ndim != 2 and s.ndim >= 2:
            names = [a.name for a in s.axes]  # numpy order; a transpose lists its axes in user order (reversed)
            last = sorted((a.name for a in s.user_axes[-2:]), key=names.index, reverse=True)
            s = self._typed(s.transpose(signal_axes=last))
        return _PostProcess(s)

    def _typed(self, s: Signal) -> Signal:
        """The reader's type on its transposed signal: the file's axes were read in the wrong roles, and the type
        describes the right ones (a transpose of a user's signal drops it: :func:`.core.signal.derive`)."""
        s.signal_type = self.signal.signal_type
        if self.signal.signal_type:
            s.metadata.setdefault("Signal", {})["signal_type"] = self.signal.signal_type
        return s

    def squeeze(self):
        return _PostProcess(self.signal.squeeze())


_MISSING = object()


def _slug(key) -> str:
    """A tag's name as HyperSpy's metadata browser spells it, which RosettaSciIO's mappings (and the functions in
    them) use beside the tag's own name: accents dropped, only letters, digits, spaces and underscores kept, spaces
    as underscores ("Exposure (s)" -> "Exposure_s", "Number of frames" -> "Number_of_frames")."""
    text = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    text = "".join(c for c in text if c.isalnum() or c in " _").strip().replace(" ", "_")
    return text if text.isidentifier() else "Number_" + text


def _child(tree: dict, key: str):
    """``tree[key]``, the key matched as written or else as its :func:`_slug`; ``_MISSING`` when absent."""
    if key in tree:
        return tree[key]
    slug = _slug(key)
    for k, v in tree.items():
        if _slug(k) == slug:
            return v
    return _MISSING


def _get_path(tree, path: str):
    """The item at the dotted ``path`` of a nested dict (HyperSpy's ``get_item``); a key that itself holds dots
    is matched whole, and a key is matched as written or as HyperSpy spells it (:func:`_slug`). ``_MISSING`` when
    absent."""
    if not isinstance(tree, dict):
        return _MISSING
    found = _child(tree, path)
    if found is not _MISSING:
        return found
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):  # the longest leading key first ("Probe Current (nA)" has no dot, a few do)
        head = _child(tree, ".".join(parts[:i]))
        if head is not _MISSING:
            found = _get_path(head, ".".join(parts[i:]))
            if found is not _MISSING:
                return found
    return _MISSING


class _Tree(dict):
    """A subtree handed to a mapping function, which RosettaSciIO writes for HyperSpy's metadata browser: its keys
    are the tags' :func:`_slug` names (DM's exposure reads ``tags["Exposure_s"]``), ``keys()`` is a list (Velox's
    element list reads ``d[d.keys()[0]]``), ``get`` takes a dotted path (DM's microscope name reads
    ``tags.get("Session Info.Microscope")``) and a tag is also an attribute."""

    def keys(self):  # type: ignore[override]
        return [_slug(k) for k in super().keys()]

    def __contains__(self, key):
        return _child(dict(self), key) is not _MISSING

    def __getitem__(self, key):
        v = _child(dict(self), key)
        if v is _MISSING:
            raise KeyError(key)
        return _wrap(v)

    def get(self, path, default=None):  # type: ignore[override]
        v = _get_path(dict(self), path)
        return default if v is _MISSING else _wrap(v)

    get_item = get

    def __getattr__(self, name):
        v = _child(dict(self), name)
        if v is _MISSING:
            raise AttributeError(name)
        return _wrap(v)


def _wrap(value):
    return _Tree(value) if isinstance(value, dict) and not isinstance(value, _Tree) else value


def _set_path(tree: dict, path: str, value) -> None:
    parts = path.split(".")
    for key in parts[:-1]:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        else:
            node = tree[key] = dict(node)  # never write into a dict the reader may share
        tree = node
    tree[parts[-1]] = value


def _plain(value):
    """numpy scalars and arrays as Python values (metadata travel as JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def apply_mapping(metadata: dict, original_metadata: dict, mapping: dict | None) -> dict:
    """``metadata`` with RosettaSciIO's ``mapping`` applied, as HyperSpy's ``dict2signal`` does: for each
    ``original tag path -> (metadata path, function or None)`` whose tag exists in ``original_metadata``, the tag's
    value (passed through the function) is written at the metadata path unless it is None. A function that fails
    on an odd file leaves that key out (a missing magnification must not make a file unreadable)."""
    out = dict(metadata)
    for source, target in (mapping or {}).items():
        path, fn = (target, None) if isinstance(target, str) else (target[0], target[1])
        value = _get_path(original_metadata, source)
        if value is _MISSING:
            continue
        if fn is not None:
            try:
                value = fn(_wrap(value))
            except Exception:  # noqa: BLE001 - a vendor tag in an unexpected form: skip that key only
                continue
        if value is not None:
            _set_path(out, path, _plain(value))
    return out


def signal_from_dict(d: dict, history: list[dict] | None = None, lazy: bool = False) -> Signal:
    """A Signal from a RosettaSciIO signal dictionary; ``lazy``: dask-backed even where the reader gave a numpy
    array (Velox EELS spectrum images, a BCF's survey image), so that ``is_lazy`` says what the load recorded."""
    md = apply_mapping(dict(d.get("metadata") or {}), d.get("original_metadata") or {}, d.get("mapping"))
    sig_md = dict(md.get("Signal") or {})
    signal_type = sig_md.get("signal_type", "") or ""
    try:
        s = Signal(
            d["data"],
            axes=_axes_from_dicts(d),
            signal_type=signal_type,
            metadata=md,
            original_metadata=d.get("original_metadata") or {},
            history=history,
        )
    except AxisError as exc:
        raise FileFormatError(f"reader output does not form a valid signal: {exc}") from exc
    for fn in d.get("post_process", []) or []:
        try:
            s = fn(_PostProcess(s)).signal
        except AttributeError as exc:
            raise FileFormatError(f"unsupported reader post-processing step: {exc}") from exc
    _trim_per_frame(s.metadata, d.get("mapping"), int(np.prod([a.size for a in s.nav_axes], dtype=np.int64)))
    if lazy:
        # a no-op for the readers that already give dask; default_chunks for the others, over the reader's array
        # itself (no one else holds it): a copy took twice the memory
        s = s.as_lazy(copy=False)
    s.history = list(history or [])  # the reader's own reshaping is part of reading, not a user step
    if not s.signal_type and s.sig_ndim == 2 and s.nav_ndim == 0:
        s.signal_type = "image"
    return s


def _trim_per_frame(metadata: dict, mapping: dict | None, frames: int) -> None:
    """Cut the per-frame lists a mapping wrote to ``frames`` (the navigation positions; 1 for a single image), in
    place. An MRC file's FEI extended header holds 1024 records whatever the frames: the HAADF tilt series (77
    frames) read ``Stage.tilt_alpha`` as its 77 angles then 947 zeros, and so every Stage, exposure and
    magnification list. Only a list longer than the frames with nothing but zeros past them is cut; one with
    values there (a header that describes frames the data do not hold) is left as the file has it."""
    for target in (mapping or {}).values():
        path = target if isinstance(target, str) else target[0]
        value = _get_path(metadata, path)
        if not isinstance(value, list) or len(value) <= frames:
            continue
        if all(isinstance(v, int | float) and v == 0 for v in value[frames:]):
            _set_path(metadata, path, value[:frames])  # copies the dicts on its way: none the reader may share


def _instrument_mapping(dicts: list[dict]) -> dict:
    """The instrument part (``Acquisition_instrument`` targets outside any detector) of the first mapping a reader
    gave for a file: Velox gives none for its EELS spectrum images, though their original metadata hold the same
    ``Optics`` / ``Stage`` tags as the EDS and image signals of the same file."""
    for d in dicts:
        found = {src: tgt for src, tgt in (d.get("mapping") or {}).items()
                 if (tgt if isinstance(tgt, str) else tgt[0]).startswith("Acquisition_instrument.")
                 and ".Detector." not in (tgt if isinstance(tgt, str) else tgt[0])}
        if found:
            return found
    return {}


# -- one file, one vocabulary: axis names, length units and titles made consistent across its signals ----------
# Readers name the same axis differently (Velox: "Energy-loss" for EELS, "X-ray energy" for an EDS spectrum image
# but "Energy" for its spectra); the HyperSpy names are used throughout.
_AXIS_NAMES = {"energy-loss": "Energy loss", "energy loss": "Energy loss", "x-ray energy": "Energy",
               "energy": "Energy"}
# A spectrum's energy axis left with a placeholder name (DM3 EDS spectra: "x") is named from the signal type
_PLACEHOLDER_NAMES = {"", "x", "y", "z", "dim", "dim0", "axis", "undefined", "<undefined>"}
# nm per unit of each length unit a reader writes (µ as U+00B5 or U+03BC, or "u")
_LENGTH_NM = {"m": 1e9, "mm": 1e6, "\u00b5m": 1e3, "\u03bcm": 1e3, "um": 1e3, "nm": 1.0, "pm": 1e-3,
              "\u00c5": 0.1, "\u212b": 0.1}


def _is_spatial(a: dict, d: dict) -> bool:
    """A length axis that is a pixel size: a navigation axis, or a signal axis of an image. The one signal axis of a
    spectrum is not, even in a length unit (a CL wavelength in nm)."""
    if a.get("units") not in _LENGTH_NM:
        return False
    return a.get("navigate", True) or sum(not x.get("navigate", True) for x in d.get("axes", [])) >= 2


def _common_length_unit(dicts: list[dict]) -> str | None:
    """The length unit for every pixel-size axis of a file (:func:`_is_spatial`): nm, µm or mm, whichever puts the
    median pixel size between 1 and 1000 (nm below 1 nm too). None when those axes already share one unit."""
    spatial = [a for d in dicts for a in d.get("axes", []) if _is_spatial(a, d)]
    if len({a["units"] for a in spatial}) < 2:
        return None
    median = float(np.median([abs(float(a.get("scale") or 1.0)) * _LENGTH_NM[a["units"]] for a in spatial]))
    return "nm" if median < 1e3 else ("\u00b5m" if median < 1e6 else "mm")


def harmonise_axes(dicts: list[dict]) -> list[dict]:
    """Reader dictionaries with the energy axes named one way (``"Energy"``, ``"Energy loss"``) and, when a file
    mixes length units in its pixel sizes (Velox: nm for EELS, µm for the rest), every pixel-size axis in one unit
    (scale and offset converted; coordinates too). A spectrum's own axis keeps its unit (a CL wavelength in nm
    beside µm pixels was turned into µm, and a range given in nm no longer fitted it)."""
    unit = _common_length_unit(dicts)
    out = []
    for d in dicts:
        axes = []
        signal_type = str(((d.get("metadata") or {}).get("Signal") or {}).get("signal_type") or "")
        for a in d.get("axes", []):
            a = dict(a)
            name = str(a.get("name") or "")
            a["name"] = _AXIS_NAMES.get(name.strip().lower(), name) if name else a.get("name")
            if (not a.get("navigate", True) and a.get("units") in ("eV", "keV")
                    and name.strip().lower() in _PLACEHOLDER_NAMES):
                a["name"] = "Energy loss" if signal_type.upper().startswith("EELS") else "Energy"
            if unit is not None and _is_spatial(a, d) and a["units"] != unit:
                f = _LENGTH_NM[a["units"]] / _LENGTH_NM[unit]
                for key in ("scale", "offset"):
                    if a.get(key) is not None:
                        a[key] = float(a[key]) * f
                if a.get("axis") is not None and not np.isscalar(a["axis"]):
                    a["axis"] = np.asarray(a["axis"], dtype=float) * f
                a["units"] = unit
            axes.append(a)
        out.append(dict(d, axes=axes))
    return out


def _qualifiers(s: Signal) -> list:
    """What can tell apart signals of one file that share a title, most telling first: the detector (Velox
    ``BinaryResult.Detector``), spectrum image or single spectrum/image, the energy range of the signal axis."""
    det = (s.original_metadata.get("BinaryResult") or {}).get("Detector") if isinstance(
        s.original_metadata, dict) else None
    kind = ("spectrum image" if s.nav_ndim else "spectrum") if s.sig_ndim == 1 else (
        "image stack" if s.nav_ndim else "image")
    rng = None
    if s.sig_ndim == 1 and s.sig_axes[0].units in ("eV", "keV"):
        a = s.sig_axes[0]
        rng = f"{a.low:.4g} to {a.high:.4g} {a.units}"
    return [str(det) if det else None, kind, rng]


def distinct_titles(signals: list[Signal]) -> list[str]:
    """Titles that tell the signals of one file apart: a title shared by several gets, in brackets, the first
    qualifier (:func:`_qualifiers`) that differs among them -- ``"EDS (UltraX3)"``, ``"EELS (480 to 826.4 eV)"``
    -- then the next for those still alike, and a number as the last resort (``"EDS 2"``)."""
    titles = [s.title or s.signal_type or "signal" for s in signals]
    extra: list[list[str]] = [[] for _ in signals]
    quals = [_qualifiers(s) for s in signals]
    for level in range(len(quals[0]) if quals else 0):
        groups: dict = {}
        for i, t in enumerate(titles):
            groups.setdefault((t, tuple(extra[i])), []).append(i)
        for members in groups.values():
            values = {quals[i][level] for i in members}
            if len(members) > 1 and len(values) > 1:
                for i in members:
                    if quals[i][level]:
                        extra[i].append(quals[i][level])
    labels = [f"{t} ({', '.join(e)})" if e else t for t, e in zip(titles, extra, strict=True)]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[i] = label if seen[label] == 1 else f"{label} {seen[label]}"
    return labels


def unique_axis_names(dicts: list[dict], path: Path) -> list[dict]:
    """Reader dictionaries whose axes have distinct names: HyperSpy reads a file whose axes share a name (every axis
    "E" in an .hspy), a Signal refuses it (an axis is picked by its name). The first of a name, in storage order,
    keeps it; the others get ``_2``, ``_3``...; a warning names the file and each renamed axis."""
    out, renamed = [], []
    for d in dicts:
        axes = [dict(a) for a in d.get("axes", [])]
        taken = {str(a.get("name") or "") for a in axes}
        seen: set[str] = set()
        for a in axes:
            name = str(a.get("name") or "")
            if name and name in seen:
                k = 2
                while f"{name}_{k}" in taken:
                    k += 1
                a["name"] = f"{name}_{k}"
                taken.add(a["name"])
                role = "navigation" if a.get("navigate", True) else "signal"
                renamed.append(f"{name!r} ({role}, size {a.get('size', '?')}) as {a['name']!r}")
            seen.add(name)
        out.append(dict(d, axes=axes))
    if renamed:
        warnings.warn(f"{path}: axes share a name, which emscale's axes may not (they are picked by name); renamed "
                      f"{', '.join(renamed)}", UserWarning, stacklevel=5)
    return out


def _mrad(value) -> float:
    return 1e3 * float(value)


# Velox tags that RosettaSciIO's mapping leaves out (0.8), though HyperSpy's EELS tools read them: the probe's
# convergence semi-angle (``Optics.BeamConvergence``, rad) and, for EELS, the spectrometer's collection angle (the
# end of ``EnergyFilter.CollectionAngleRange``, rad), both in mrad as DM's mapping writes them
_VELOX_OPTICS = {"Optics.BeamConvergence": ("Acquisition_instrument.TEM.convergence_angle", _mrad)}
_VELOX_EELS = {"CustomProperties.EnergyFilter.CollectionAngleRange.End.value": (
    "Acquisition_instrument.TEM.Detector.EELS.collection_angle", _mrad)}


def _with_velox_angles(d: dict) -> dict:
    """``d`` with :data:`_VELOX_OPTICS` (and :data:`_VELOX_EELS` for an EELS signal) added to its mapping, where
    its original metadata are Velox's (``Optics`` beside ``CustomProperties``)."""
    om = d.get("original_metadata") or {}
    if not ("Optics" in om and "CustomProperties" in om):
        return d
    eels = ((d.get("metadata") or {}).get("Signal") or {}).get("signal_type") == "EELS"
    return dict(d, mapping={**(d.get("mapping") or {}), **_VELOX_OPTICS, **(_VELOX_EELS if eels else {})})


def load_vendor(path: Path, lazy: bool = False, **reader_kwargs) -> list[Signal]:
    dicts = unique_axis_names(harmonise_axes(read_vendor(path, lazy=lazy, **reader_kwargs)), path)
    shared = _instrument_mapping(dicts)
    if shared:
        dicts = [d if d.get("mapping") else dict(d, mapping=shared) for d in dicts]
    dicts = [_with_velox_angles(d) for d in dicts]
    try:
        signals = [signal_from_dict(d, lazy=lazy) for d in dicts]
    except EmscaleError as exc:  # what the reader gave does not form a signal: say which file gave it
        if str(path) in str(exc):
            raise
        raise FileFormatError(f"{path}: {exc}") from exc
    for s in signals:
        # A reader that gives no title (MRC, some TIFF): the file's name stands in, so that reports, results and
        # the lists of a file's signals name it. Not HyperSpy's way: its load (2.5) leaves the title ''
        if not s.title:
            _set_title(s, path.stem)
        # the file's name, as HyperSpy records it: the Velox reader wrote the path as typed ("../real/x.emd"), which
        # says nothing once the file moves; where it was read from is the history's load entry
        s.metadata["General"] = {**(s.metadata.get("General") or {}), "original_filename": path.name}
    if len(signals) > 1:
        for s, title in zip(signals, distinct_titles(signals), strict=True):
            if title != s.title:
                _set_title(s, title)
    return signals


def _set_title(s: Signal, title: str) -> None:
    s.title = title
    s.metadata["General"] = {**(s.metadata.get("General") or {}), "title": title}  # never shared


_SEVERAL = "one path a call: [em.load(f) for f in sorted(glob.glob('*.dm3'))] loads several (no stacking on load)"


def one_path(path) -> Path:
    """``path`` as a Path; a list of paths (HyperSpy's ``load([a, b], stack=True)``) or anything else that is no
    path is a :class:`FileFormatError` with the way to load several."""
    if isinstance(path, list | tuple):  # was "TypeError: expected str, bytes or os.PathLike object, not list"
        raise FileFormatError(f"a list of {len(path)} paths: {_SEVERAL}")
    if not isinstance(path, str | os.PathLike):
        raise FileFormatError(f"a path to a file, not {type(path).__name__} {path!r}")
    return Path(path)


def check_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path that exists (:func:`one_path`), else a :class:`FileFormatError`; a wildcard
    (``load("*.dm3")``) is said not to be expanded."""
    p = one_path(path)
    if not p.exists():
        wildcard = any(c in p.name for c in "*?[")
        raise FileFormatError(f"{p}: no such file or folder" + (  # a store is a folder
            f" (a wildcard is not expanded: {_SEVERAL})" if wildcard else ""))
    return p
