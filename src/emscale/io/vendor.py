"""Vendor formats through RosettaSciIO: every reader it has, mapped onto :class:`emscale.Signal`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import AxisError, FileFormatError
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


def read_vendor(path: Path, lazy: bool = False, **reader_kwargs) -> list[dict]:
    """Signal dictionaries from RosettaSciIO, trying each reader that claims the extension."""
    import importlib

    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    errors = []
    for plugin in _readers_for(path):
        try:
            reader = importlib.import_module(plugin["api"]).file_reader
        except ImportError as exc:
            errors.append(f"{plugin['name']}: reader unavailable ({exc})")
            continue
        try:
            dicts = reader(str(path), lazy=lazy, **reader_kwargs)
        except TypeError as exc:
            if "lazy" in str(exc) and "unexpected keyword" in str(exc):
                dicts = reader(str(path), **reader_kwargs)
            else:
                errors.append(f"{plugin['name']}: {type(exc).__name__}: {exc}")
                continue
        except Exception as exc:  # noqa: BLE001 - a corrupt file can raise anything from a reader
            errors.append(f"{plugin['name']}: {type(exc).__name__}: {exc}")
            continue
        if dicts:
            return list(dicts)
        errors.append(f"{plugin['name']}: no signal found")
    detail = "; ".join(errors)
    raise FileFormatError(f"{path}: could not be read (corrupt or truncated?) -- {detail}")


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
            s = s.transpose(signal_axes=[spectral])
        return _PostProcess(s)

    def to_signal2D(self, *args, **kwargs):
        s = self.signal
        if s.sig_ndim != 2 and s.ndim >= 2:
            s = s.transpose(signal_axes=[a.name for a in s.user_axes[-2:]])
        return _PostProcess(s)

    def squeeze(self):
        return _PostProcess(self.signal.squeeze())


def signal_from_dict(d: dict, history: list[dict] | None = None) -> Signal:
    md = dict(d.get("metadata") or {})
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
    s.history = list(history or [])  # the reader's own reshaping is part of reading, not a user step
    if not s.signal_type and s.sig_ndim == 2 and s.nav_ndim == 0:
        s.signal_type = "image"
    return s


def load_vendor(path: Path, lazy: bool = False, **reader_kwargs) -> list[Signal]:
    return [signal_from_dict(d) for d in read_vendor(path, lazy=lazy, **reader_kwargs)]


def check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    return p
