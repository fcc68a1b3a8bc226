"""Simulated sparse acquisition: keep the measured scan positions of a recorded image or spectrum image.

A sparse acquisition of a recorded array ``X`` (scan grid first, ``(rows, columns[, channels...])``) with a
pattern ``M`` (True = measured) is ``Y = X`` where ``M`` and 0 elsewhere. With ``dose`` the measured values are
redrawn as Poisson counts of mean ``dose * X`` (the same specimen seen with ``dose`` times the recorded
electron dose, e.g. 0.5 for half the dwell time); without it they are copied. The mask travels with the data:
in a :class:`~emscale.Signal` it is stored, bit-packed, in ``metadata["Sampling"]`` (so it survives
``save``/``load``) and read back by :func:`scan_mask`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..core.errors import DataError, check_seed, is_number
from ..core.history import file_beside_input, is_pinned_file
from ..core.registry import operation
from ..core.signal import Signal, derive, is_sparse_scan, measured_info, measured_mask, store_measured_mask
from .patterns import (
    check_cells,
    check_fraction,
    check_mask,
    check_mean_run,
    check_pattern,
    check_runs,
    make_pattern,
    positions_mask,
    read_positions,
)

__all__ = ["sample_array", "sample_scan", "scan_mask", "scan_shape"]


MAX_POISSON_MEAN = 1e18  # numpy's Poisson sampler refuses means near 2**63


def check_dose(dose) -> None:
    """A dose factor: None (values copied) or a positive, finite number."""
    if dose is None:
        return
    if not (is_number(dose) and 0 < dose < np.inf):
        raise DataError(f"dose must be a positive, finite factor of the recorded dose, got {dose!r}")


def sample_array(data, mask, dose: float | None = None, seed: int = 0) -> np.ndarray:
    """The sparse acquisition of ``data`` through ``mask`` (unmeasured positions are 0).

    Parameters
    ----------
    data : array of shape ``(rows, columns, ...)``: an image, or a spectrum image with the scan grid first.
    mask : bool array ``(rows, columns)``, True = measured.
    dose : None (values copied) or the dose factor: measured values become Poisson counts of mean
        ``dose * data`` (data must then be non-negative).
    seed : seed of the Poisson draw.

    Returns
    -------
    array of the shape of ``data``: the dtype of ``data`` without ``dose``, int64 counts with it.
    """
    check_seed(seed)
    data = np.asarray(data)
    mask = check_mask(mask, data.shape[:2])
    measured = data[mask]
    _check_measured(measured, dose)
    out = np.zeros_like(data) if dose is None else np.zeros(data.shape, np.int64)
    if dose is None:
        out[mask] = measured
        return out
    out[mask] = np.random.default_rng(seed).poisson(float(dose) * measured.astype(np.float64))
    return out


def _check_measured(measured: np.ndarray, dose) -> None:
    """The measured values (of the whole scan or of some of its rows) can be kept, or drawn at ``dose``."""
    if measured.dtype.kind == "f" and not np.isfinite(measured).all():
        raise DataError("data hold NaN or infinite values at measured scan positions")
    if dose is None:
        return
    check_dose(dose)
    if (measured < 0).any():
        raise DataError("dose scaling draws Poisson counts: data must be non-negative at measured positions")
    if measured.size and float(dose) * float(measured.max()) > MAX_POISSON_MEAN:
        raise ValueError(f"dose {dose:g} makes Poisson means up to {float(dose) * float(measured.max()):.3g} counts, "
                         f"more than the {MAX_POISSON_MEAN:.0e} a count can hold")


# rows of a lazy scan drawn at a time (:func:`_draw_lazy`): a block whose int64 counts take at most this many bytes
# (64 MiB of uint16 input made one block of a 64 MiB cube, its int64 result 256 MiB: 1.29 GB peak against the
# in-memory route's 0.68, benchmarks/bench_sampling.py)
DRAW_BLOCK_BYTES = 16 * 2**20


def _draw_lazy(data, mask: np.ndarray, dose: float, seed: int):
    """:func:`sample_array` with a dose, as a lazy array with the same numbers, never the whole scan in memory.

    The Poisson draw is one seeded stream over the measured values in scan order (what histories recorded in memory
    drew). Blocks of whole rows hold consecutive stretches of that stream; a first pass draws through them in order
    (reading each block once, keeping nothing but the generator's state where each block starts, a few hundred
    bytes), so every block can then be drawn on its own, in any order, on any executor. The values are checked in
    that pass: bad data is refused here, as in memory, not at a later compute."""
    import dask.array as da

    row_bytes = max(1, int(np.prod(data.shape[1:])) * np.dtype(np.int64).itemsize)
    rows = max(1, min(data.shape[0], DRAW_BLOCK_BYTES // row_bytes))
    data = data.rechunk((rows,) + tuple(-1 for _ in data.shape[1:]))
    rng = np.random.default_rng(seed)
    states = []
    for i, block in enumerate(data.blocks):
        states.append(rng.bit_generator.state)
        measured = np.asarray(block.compute())[mask[i * rows : (i + 1) * rows]]
        _check_measured(measured, dose)
        rng.poisson(dose * measured.astype(np.float64))

    def draw(block, block_info=None):
        i = block_info[0]["chunk-location"][0]
        g = np.random.default_rng(seed)
        g.bit_generator.state = states[i]
        out = np.zeros(block.shape, np.int64)
        m = mask[i * rows : i * rows + block.shape[0]]
        out[m] = g.poisson(dose * block[m].astype(np.float64))
        return out

    return da.map_blocks(draw, data, dtype=np.int64)


def _keep_measured(block: np.ndarray, measured: np.ndarray) -> np.ndarray:
    kept = block[measured.reshape(measured.shape[:2])]
    if kept.dtype.kind == "f" and not np.isfinite(kept).all():
        raise DataError("data hold NaN or infinite values at measured scan positions")
    return np.where(measured, block, block.dtype.type(0))


def _sample_lazy(data, mask: np.ndarray):
    """:func:`sample_array` without a dose, as a lazy array: read chunk by chunk when it is used, never whole (a
    lazy 10 GB spectrum image was read into memory to keep a tenth of it); NaN at a measured position is the same
    DataError, raised where the chunk is read. ``mask``: checked already (:func:`given_mask`, a made pattern)."""
    import dask.array as da

    extra = (1,) * (data.ndim - 2)
    m = da.from_array(mask.reshape(mask.shape + extra), chunks=data.chunks[:2] + tuple((1,) for _ in extra))
    return da.map_blocks(_keep_measured, data, m, dtype=data.dtype)


def scan_shape(s) -> tuple[int, int]:
    """The scan grid of a Signal: its 2 navigation axes, or the image itself when it has no navigation axis."""
    if s.nav_ndim == 2:
        return tuple(s.data.shape[:2])
    if s.nav_ndim == 0 and s.sig_ndim == 2:
        return tuple(s.data.shape)
    raise DataError(
        f"{s!r}: sparse scanning needs a 2-D scan grid (an image, or two navigation axes); "
        f"got {s.nav_ndim} navigation and {s.sig_ndim} signal axes"
        + ("; to take it as an image, make both axes signal axes: s.transpose(signal_axes=[1, 0]) keeps its rows "
           "and columns, or build it as em.Signal(data, signal_type='image')"
           if s.nav_ndim == 1 and s.sig_ndim == 1 else "")
    )


def with_scan_mask(s: Signal, mask: np.ndarray, **info) -> None:
    """Store ``mask`` (and ``info``) in ``s.metadata["Sampling"]`` in place (the form :func:`scan_mask` reads; a
    crop cuts it with the data, :func:`.core.signal.derive`)."""
    store_measured_mask(s, mask, **info)


def given_mask(s, mask, shape) -> np.ndarray:
    """A mask given to an operation on ``s``: a bool array, or the plain name of a position list (``.csv`` or
    ``.npy``, as ``emscale pattern`` and :func:`.patterns.save_positions` write) beside the input -- a recipe's
    way, which reads nothing outside its input's folder (:func:`.core.history.file_beside_input`)."""
    if isinstance(mask, str) or is_pinned_file(mask):  # a name, or as a results folder pins it
        path, pos = read_mask_file(mask, getattr(s, "history", []))
        return positions_mask(pos, shape, path)
    return check_mask(mask, shape)


def read_mask_file(mask, history) -> tuple[Path, np.ndarray]:
    """(path, positions) of the position list a mask names beside the input (``history``: the input's), found and
    read (:func:`.patterns.read_positions`): a recipe reads them all before its first step runs."""
    name = mask["name"] if is_pinned_file(mask) else mask
    if Path(str(name)).suffix.lower() not in (".csv", ".npy"):
        raise DataError(f"mask {name!r}: a position list is a .csv or .npy file (emscale pattern writes one)")
    path = file_beside_input(history, mask, "mask")
    return path, read_positions(path)


def recorded_mask(value, args):
    """A mask file is recorded as the mask it held: the history replays without the file. Read again once the
    operation ran, which said what the list holds (positions listed twice): not said a second time."""
    if value is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return given_mask(args["s"], value, scan_shape(args["s"]))


# the pattern each pattern-specific parameter belongs to: recorded as None for the others, which ignore it
_PATTERN_OF = {"mean_run": "line_hop", "runs": "line_hop", "cells": "jittered_grid"}


def _unless_given(name):
    """Record a pattern parameter as None where a mask was given: the step ignored it (and mean_run but for a line
    hop, cells but for a jittered grid), so neither the history nor a pinned recipe should say it ran."""
    def record(value, args):
        if args.get("mask") is not None or (name in _PATTERN_OF and args.get("pattern", "random") != _PATTERN_OF[name]):
            return None
        return value

    return record


def _before_options(params: dict) -> dict:
    """A pattern recorded before its option existed ran the rule of its time: a jittered grid square cells, a line
    hop runs of ``mean_run`` at every fraction (:func:`.patterns.jittered_grid_pattern`, :func:`.line_hop_pattern`)."""
    if params.get("mask") is not None:
        return {}
    return {"jittered_grid": {"cells": "square"}, "line_hop": {"runs": "fixed"}}.get(params.get("pattern"), {})


def scan_mask(s) -> np.ndarray | None:
    """The measured-positions mask stored in a Signal's metadata by :func:`sample_scan` (None if there is none)."""
    return measured_mask(s)


@operation("sample_scan", method=True, check={"pattern": check_pattern, "fraction": check_fraction,
                                               "seed": check_seed, "dose": check_dose, "mean_run": check_mean_run,
                                               "cells": check_cells, "runs": check_runs},
           record={"mask": recorded_mask, "pattern": _unless_given("pattern"), "fraction": _unless_given("fraction"),
                   "mean_run": _unless_given("mean_run"), "cells": _unless_given("cells"),
                   "runs": _unless_given("runs")},
           before_recorded=_before_options, files={"mask": read_mask_file})
def sample_scan(
    s: Signal,
    pattern: str = "random",
    fraction: float = 0.1,
    seed: int = 0,
    mask=None,
    dose: float | None = None,
    mean_run: float = 4.0,
    cells: str = "exact",
    runs: str = "lengthen",
) -> Signal:
    """A simulated sparse acquisition of Signal ``s``: only the positions of a scan pattern are kept.

    Parameters
    ----------
    s : an image (2 signal axes) or a spectrum image (2 navigation axes).
    pattern : ``"random"``, ``"line_hop"`` or ``"jittered_grid"`` (:mod:`.patterns`); ignored when ``mask`` is
        given.
    fraction : share of scan positions measured, in (0, 1].
    seed : seed of the pattern and of the Poisson draw.
    mask : a given pattern, ``(rows, columns)`` in numpy order, booleans or 0/1 (True or 1 = measured;
        :func:`.patterns.check_mask`); or the plain name of a position list beside the input (``.csv`` /
        ``.npy``, as ``emscale pattern`` writes), recorded as the mask.
    dose : None or the dose factor of :func:`sample_array` (Poisson counts of mean ``dose * s``).
    mean_run : mean run length (pixels) of ``"line_hop"``.
    cells : cell layout of ``"jittered_grid"``: ``"exact"`` (as many cells as positions asked for) or
        ``"square"`` (the layout of histories recorded before ``cells`` existed, which replay with it).
    runs : run rule of ``"line_hop"`` above ``fraction = mean_run / (mean_run + 1)``: ``"lengthen"`` (the runs
        lengthen, so it measures the fraction asked) or ``"fixed"`` (the rule of histories recorded before ``runs``
        existed, which replay with it: at most ``mean_run / (mean_run + 1)`` measured).

    Returns
    -------
    Signal with unmeasured positions set to 0 and ``metadata["Sampling"]`` holding the pattern (read it back with
    :func:`scan_mask`), its name, the fraction asked for, the measured fraction and positions, and the seed. A
    signal that is already a sparse scan is refused (a reconstruction of one is not).

    Example
    -------
    >>> sparse = s.sample_scan("line_hop", 0.15, seed=1)
    >>> scan_mask(sparse).mean()
    """
    shape = scan_shape(s)
    if is_sparse_scan(s):
        # a reconstruction keeps its scan's mask for the record, but its every position holds a value: it may be
        # sampled again (a simulation on a reconstructed image)
        raise DataError(f"{s!r} is already a sparse scan (metadata['Sampling']): its unmeasured zeros would be "
                        "sampled as measurements; sample the full signal")
    if mask is None:
        kw = {"line_hop": {"mean_run": mean_run, "runs": runs}, "jittered_grid": {"cells": cells}}.get(pattern, {})
        mask = make_pattern(pattern, shape, fraction, seed, **kw)
        info = {"pattern": pattern, "fraction": float(fraction), "seed": int(seed)}
    else:
        mask = given_mask(s, mask, shape)
        info = {"pattern": "given", "fraction": float(mask.mean()), "seed": int(seed)}
    check_dose(dose)  # before float(): True passed as 1.0 on lazy data, refused in memory (a reviewer)
    info.update(measured_info(mask))
    if dose is not None:
        info["dose"] = float(dose)
    if s.is_lazy:
        data = _sample_lazy(s.data, mask) if dose is None else _draw_lazy(s.data, mask, float(dose), seed)
    else:  # a Poisson draw in one seeded stream over the measured values
        data = sample_array(np.asarray(s.data), mask, dose, seed)
    out = derive(s, data, s.axes)
    with_scan_mask(out, mask, **info)
    return out
