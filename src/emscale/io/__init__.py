"""Loading and saving: vendor formats via RosettaSciIO, and the native zarr v3 store."""

from __future__ import annotations

import numbers
import os
import warnings
from pathlib import Path

import numpy as np

from ..core import history as _history
from ..core.atomic import read_lock, recover
from ..core.axes import shape_notation
from ..core.errors import ArgumentError, EmscaleError, FileFormatError, SeveralSignalsError, SignalTypeError
from ..core.result import result_kind
from ..core.signal import Signal
from .store import (
    check_store_output,
    enclosing_store,
    is_store,
    load_zarr,
    read_store,
    save_zarr,
    store_chunks,
    store_summary,
    verify,
)
from .vendor import check_path, load_vendor, one_path, supported_formats


def _refuse_inside_store(p: Path) -> None:
    """A store's ``data`` array (a zarr array of its own) or a chunk is part of the store, not a signal: zarr would
    answer with ContainsArrayError, a vendor reader with its list of extensions."""
    store = enclosing_store(p)
    if store is not None:
        raise FileFormatError(f"{p} lies inside the emscale store {store}: open the store itself "
                              f"(em.load({str(store)!r}), `emscale info {store}`)")


def load(
    path: str | os.PathLike,
    lazy: bool = False,
    signal_type: str | None = None,
    index: int | None = None,
    **reader_kwargs,
) -> Signal | list[Signal]:
    """Load a file: any vendor format RosettaSciIO reads, or an emscale ``.zarr`` store.

    A file with several signals gives a list in file order; ``signal_type=`` keeps only the signals of that
    type (one match gives a Signal) and ``index=`` picks one by its position in the file (given both, the signal
    at ``index`` must be of that type). A file with one signal takes ``signal_type=`` as its type, as HyperSpy
    does (an EDS_SEM map read as EDS_TEM; recorded in the history); :func:`load_picked`, which ``convert`` and the
    command line use, only picks. ``lazy=True`` keeps the data on disk (a dask array read partition by partition).
    Extra keywords go to the reader.
    """
    return _load(path, lazy, signal_type, index, reader_kwargs, relabel=True)


def load_picked(
    path: str | os.PathLike,
    lazy: bool = False,
    signal_type: str | None = None,
    index: int | None = None,
    **reader_kwargs,
) -> Signal | list[Signal]:
    """:func:`load`, where ``signal_type=`` only picks among several signals, as ``convert`` and the command line's
    ``--signal-type`` promise: a file of one signal of another type is a :class:`SignalTypeError`, not relabelled
    (an EELS spectrum image converted with ``--signal-type EDS`` became "EDS" without a word)."""
    return _load(path, lazy, signal_type, index, reader_kwargs, relabel=False)


def load_for_summary(path: str | os.PathLike) -> Signal | list[Signal]:
    """:func:`load` with ``lazy=True``, without the SHA-256 of the file that the history's load entry records (its
    ``sha256`` is None): what ``emscale info`` reads, which records nothing. The digest read the whole file (2.2 s
    of the 5.7 s that info took for a 1.3 GB .hspy) while info said "data: not read". Not for saving: replay needs
    the digest."""
    return _load(path, True, None, None, {}, relabel=True, hashed=False)


def _load(path, lazy, signal_type, index, reader_kwargs: dict, relabel: bool,
          hashed: bool = True) -> Signal | list[Signal]:
    if not isinstance(lazy, (bool, np.bool_)):  # "yes" or 0 would pass as a truth value and be recorded as such
        raise ValueError(f"lazy must be True or False, got {lazy!r}")
    lazy = bool(lazy)
    if index is not None and (isinstance(index, bool) or not isinstance(index, numbers.Integral)):
        raise ValueError(f"index must be a whole number, the signal's position in the file, got {index!r}")
    recover(one_path(path))  # a store a crash left half-swapped is put back first
    p = check_path(path)
    _refuse_inside_store(p)
    if p.suffix.lower() == ".zarr" or is_store(p):
        if not is_store(p):
            raise FileFormatError(f"{p}: not a zarr store (no zarr.json inside)")
        with read_lock(p):  # the digest and the data of one store, not of two an overwrite swapped between
            digest = _history.file_digest(p) if hashed else None
            signals = [read_store(p, lazy=lazy)]
    else:
        if p.is_dir():
            inside = sorted(q.name for q in p.glob("*.zarr") if is_store(q))[:5]  # a results folder: name its stores
            raise FileFormatError(f"{p}: is a directory, not a file" + (
                f"; the emscale stores in it: {', '.join(inside)} (e.g. {p / inside[0]})" if inside else ""))
        if not p.is_file():  # a pipe or a device: its digest (read to the end) waited for ever (/dev/zero, a FIFO)
            raise FileFormatError(f"{p}: not a regular file (a pipe, device or socket); emscale reads files")
        kind = result_kind(p)
        if kind is not None:  # a result emscale wrote (emscale run's pca.npz...): not a signal
            raise FileFormatError(f"{p} is an emscale result ({kind}), not a signal: open it with "
                                  "em.load_result(path)")
        if p.suffix.lower() == ".npz":  # no signal format; a damaged result would get the list of 60 extensions
            raise FileFormatError(f"{p}: a .npz file is not a signal format, and it is not a readable emscale "
                                  "result (em.load_result opens those; damaged or from elsewhere?)")
        digest = _history.file_digest(p) if hashed else None
        signals = load_vendor(p, lazy=lazy, **reader_kwargs)
    picked = list(enumerate(signals))
    if signal_type is not None:
        if len(signals) == 1:
            found = signals[0].signal_type
            if not relabel and isinstance(signal_type, str) and signal_type != found:
                raise SignalTypeError(f"{p} holds one signal, of type {found or 'untyped'!r}", signal_type,
                                      SignalTypeError.relabel_advice("signal_type=", signal_type))
            _check_signal_type(p, signal_type, found)
            signals[0].signal_type = signal_type
            if isinstance(signals[0].metadata.get("Signal"), dict):  # the two said EELS and EDS_TEM (a reviewer)
                signals[0].metadata["Signal"]["signal_type"] = signal_type
        else:
            picked = [(i, s) for i, s in picked if s.signal_type == signal_type]
            if not picked:
                have = sorted({s.signal_type or "<none>" for s in signals})
                raise FileFormatError(f"{p}: no signal of type {signal_type!r}; the file holds {have}")
    if index is not None:
        if not -len(signals) <= index < len(signals):
            raise FileFormatError(f"{p}: index {index} out of range, the file holds {len(signals)} signals")
        index = int(index) % len(signals)  # -1: the last, as in Python; recorded as its position
        if len(signals) > 1 and signal_type is not None and signals[index].signal_type != signal_type:
            raise FileFormatError(f"{p}: signal {index} is of type {signals[index].signal_type or '<none>'!r}, "
                                  f"not {signal_type!r}; give the index or the signal type, not both")
        picked = [(index, signals[index])]
    out = []
    for i, s in picked:
        params = {"lazy": lazy, **reader_kwargs}
        if len(signals) > 1:
            params["index"] = i
        elif signal_type is not None:
            params["signal_type"] = signal_type
        # A store that carries its history from a load already says where it came from; replay starts at the raw
        # file. One made in memory (its history starts with an operation) can only be replayed from itself: its
        # steps are kept with the load as what made it, not as steps to re-run
        if not s.history or not isinstance(s.history[0], dict) or s.history[0].get("op") != "load":
            src = {"path": _history.recorded_path(p), "sha256": digest, "format": p.suffix.lstrip(".").lower()}
            made = {"made_by": s.history} if s.history else {}
            s.history = [_history.entry("load", params, source=src, **made)]
        out.append(s)
    return out[0] if len(out) == 1 else out


# the signal types emscale and HyperSpy's family (exspy, lumispy, holospy, pyxem) know: load(signal_type=) of
# a file with one signal labels it with any type, and one none of them knows is most likely a typo
KNOWN_SIGNAL_TYPES = frozenset({
    "EELS", "EDS", "EDS_SEM", "EDS_TEM", "DielectricFunction", "CL", "CL_SEM", "CL_STEM", "PL", "EL",
    "Luminescence", "Raman", "XPS", "hologram", "electron_diffraction", "diffraction", "polar_diffraction", "DPC",
    "beam_shift", "STEM", "image", "volume", "volume_slices", "tilt_series", "atom_positions",
})


def _check_signal_type(p: Path, wanted: str, found: str) -> None:
    """``load(p, signal_type=wanted)`` of a file with one signal (of type ``found``) labels it ``wanted``; warn
    where ``wanted`` is no type anyone knows (the file does not hold it either): a typo would pass silently."""
    if not isinstance(wanted, str):
        raise ArgumentError(f"signal_type must be text (e.g. 'EELS'), got {wanted!r}")
    if wanted == found or wanted in KNOWN_SIGNAL_TYPES:
        return
    import difflib

    close = {t.upper(): t for t in KNOWN_SIGNAL_TYPES}
    guess = close.get(wanted.upper()) or next(iter(difflib.get_close_matches(wanted, sorted(KNOWN_SIGNAL_TYPES),
                                                                             n=1)), None)
    hint = f"did you mean {guess!r}? " if guess else ""
    warnings.warn(f"{p}: signal_type {wanted!r} is no known signal type and the file's signal is "
                  f"{found or 'untyped'!s}; {hint}it is labelled {wanted!r} as asked (known: "
                  f"{', '.join(sorted(KNOWN_SIGNAL_TYPES, key=str.lower))})", UserWarning, stacklevel=4)


def several_signals(src, signals: list, signal_type=None) -> str:
    """``"<src> holds N signals [of type T] (0: 'title' TYPE (nav|sig); ...)"``, each by its index in the file:
    how a refusal of a file that holds several starts (each caller says how to pick one, with its own options)."""
    def index(i, x):  # load records a signal's position in the file; a list from elsewhere is in file order
        params = x.history[0].get("params", {}) if x.history and isinstance(x.history[0], dict) else {}
        return params.get("index", i) if isinstance(params, dict) else i

    listed = "; ".join(f"{index(i, x)}: {x.title!r} {x.signal_type or 'untyped'} "
                       f"{shape_notation(x.axes[:x.nav_ndim], x.axes[x.nav_ndim:])}" for i, x in enumerate(signals))
    typed = "" if signal_type is None else f" of type {signal_type!r}"
    return f"{src} holds {len(signals)} signals{typed} ({listed})"


def convert(src, dst, chunks=None, overwrite: bool = False, progress=None, **load_kwargs) -> None:
    """Stream a (big) file into the native zarr store with bounded memory: read lazily, write per partition."""
    check_store_output(dst, overwrite)
    with warnings.catch_warnings():  # the advice to convert a store of oversized chunks: being followed
        warnings.filterwarnings("ignore", message=".*every lazy partition decompresses a whole chunk")
        s = load_picked(src, lazy=True, **load_kwargs)
    if isinstance(s, list):
        typed = load_kwargs.get("signal_type")
        raise SeveralSignalsError(several_signals(src, s, typed), "pick one with "
                                  + ("index=" if typed is not None else "index= or signal_type=") + " to convert")
    store_chunks(s, chunks)  # a wrong chunk shape is the caller's, not a damaged file's
    # A store's numbers must still have the digest recorded when it was written (nothing written otherwise).
    expect = store_summary(src)["data_sha256"] if is_store(Path(src)) else None
    try:
        save_zarr(s, dst, overwrite=overwrite, chunks=chunks, progress=progress, expect_sha256=expect, source=src)
    except (EmscaleError, OSError):
        raise
    except Exception as e:  # a vendor reader fails on damaged data only when the data are read (zlib, struct, EOF)
        raise FileFormatError(f"cannot read the data of {src}: {type(e).__name__}: {e} (a damaged or truncated "
                              "file?); nothing written") from e


__all__ = ["convert", "load", "load_picked", "load_zarr", "save_zarr", "supported_formats", "verify"]
