"""Seeded sparse scan patterns for compressed-sensing STEM, and their export as scan-position lists.

A pattern is a boolean mask over the scan grid in numpy order ``(rows, columns) = (y, x)``; ``True`` marks a
measured position. The fast scan direction is x (along a row), the slow one y, as on a STEM scan generator.

* :func:`random_pattern` -- a uniformly random subset of exactly ``round(fraction * n)`` positions
  (Stevens et al. 2014).
* :func:`line_hop_pattern` -- in each row, the beam dwells on random runs of consecutive pixels and hops over
  the rest (Kovarik et al. 2016): what a scan generator can drive without flying back for every pixel.
* :func:`jittered_grid_pattern` -- one random position in each cell of a regular grid of exactly
  ``round(fraction * n)`` cells of about ``1 / fraction`` pixels (stratified sampling: no large holes, no clusters).
* :func:`check_mask` -- a user's mask, checked.

:func:`positions` lists a mask's positions in scan order (raster, or serpentine for a scan that reverses
direction on every row) and :func:`save_positions` writes that list as ``.npy`` or ``.csv`` for a scan generator;
:func:`load_positions` reads such a list back as a mask (a ``.csv`` with a ``row,column`` or ``x,y`` header, or
none: then ``row,column``; :func:`read_positions` says the format) -- the round trip is exact.

References
----------
Stevens, Yang, Carin, Arslan, Browning, "The potential for Bayesian compressive sensing to significantly reduce
electron dose in high-resolution STEM images", Microscopy 63 (2014) 41-51.
Kovarik, Stevens, Liyu, Browning, "Implementing an accurate and rapid sparse sampling approach for low-dose
atomic resolution STEM imaging", Appl. Phys. Lett. 109 (2016) 164102.

>>> mask = random_pattern((64, 64), 0.1, seed=0)
>>> int(mask.sum())
410
>>> positions(mask).shape       # (row, column) pairs in raster order
(410, 2)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..core.errors import DataError, check_seed, is_number

__all__ = [
    "PATTERNS",
    "check_fraction",
    "check_mask",
    "check_mean_run",
    "check_pattern",
    "check_runs",
    "jittered_grid_pattern",
    "line_hop_pattern",
    "load_positions",
    "make_pattern",
    "positions",
    "positions_mask",
    "random_pattern",
    "read_positions",
    "save_positions",
]


def _check_shape(shape) -> tuple[int, int]:
    """(rows, columns): two whole numbers >= 1; a text, a fraction or a bool is refused, not converted ("64" gave
    a 6 x 4 scan, 64.7 a 64-row one)."""
    whole = isinstance(shape, tuple | list | np.ndarray) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool | np.bool_) for n in shape)
    if not whole or len(shape) != 2 or min(shape) < 1:
        raise DataError(f"shape must be (rows, columns), two whole numbers >= 1, got {shape!r}")
    return int(shape[0]), int(shape[1])


def check_fraction(fraction, name: str = "fraction", meaning: str = "the share of scan positions measured") -> float:
    """A share of the scan, a number in (0, 1], as a float; else a DataError naming ``name`` and its ``meaning``."""
    if not (is_number(fraction) and 0.0 < fraction <= 1.0):
        raise DataError(f"{name} must be in (0, 1] ({meaning}), got {fraction!r}")
    return float(fraction)


def random_pattern(shape, fraction: float, seed: int = 0) -> np.ndarray:
    """Uniformly random positions: exactly ``max(1, round(fraction * rows * columns))`` of them.

    Parameters
    ----------
    shape : (rows, columns) of the scan grid.
    fraction : share of positions measured, in (0, 1].
    seed : seed of the random choice; the same seed gives the same mask on every machine.

    Returns
    -------
    mask : bool array of shape ``shape``; True = measured.
    """
    shape = _check_shape(shape)
    f = check_fraction(fraction)
    check_seed(seed)
    n = shape[0] * shape[1]
    k = min(n, max(1, round(f * n)))
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return mask.reshape(shape)


RUNS = ("lengthen", "fixed")


def line_hop_pattern(shape, fraction: float, seed: int = 0, mean_run: float = 4.0,
                     runs: str = "lengthen") -> np.ndarray:
    """Random runs of consecutive pixels along the fast scan direction (x), hopping over the others.

    Each row alternates measured runs (geometric lengths, mean ``mean_run`` pixels) and skipped runs (geometric,
    mean ``mean_run * (1 - fraction) / fraction``), starting at a random phase, so the expected share measured is
    ``fraction`` and every row is covered evenly.

    A hop skips at least one pixel, so above ``fraction = mean_run / (mean_run + 1)`` the skipped runs cannot be
    as short as that mean asks. ``runs="lengthen"`` then hops over exactly one pixel and lengthens the measured
    runs to a mean of ``fraction / (1 - fraction)`` pixels: the expected share measured is ``fraction`` at every
    fraction. ``runs="fixed"``, the only rule before ``runs`` existed (kept so that a scan recorded then replays
    the same mask), keeps ``mean_run`` and measures at most ``mean_run / (mean_run + 1)`` (4 pixels at 90 %:
    80 %). Below that fraction both give the same mask.

    Parameters
    ----------
    shape : (rows, columns) of the scan grid.
    fraction : expected share of positions measured, in (0, 1].
    seed : seed of the run lengths.
    mean_run : mean number of consecutive measured pixels (>= 1); 1 gives isolated random pixels per row.
    runs : ``"lengthen"`` or ``"fixed"`` (above).

    Returns
    -------
    mask : bool array of shape ``shape``; True = measured. At least one position is measured.
    """
    ny, nx = _check_shape(shape)
    f = check_fraction(fraction)
    check_seed(seed)
    check_mean_run(mean_run)
    check_runs(runs)
    if f == 1.0:
        return np.ones((ny, nx), bool)
    rng = np.random.default_rng(seed)
    mean_skip = mean_run * (1 - f) / f
    if mean_skip < 1 and runs == "lengthen":  # a one-pixel hop, and runs of the mean that measures f of the row
        mean_run, mean_skip = f / (1 - f), 1.0
    mask = np.zeros((ny, nx), bool)
    for row in range(ny):
        on = rng.random() < f  # start in a run with the stationary probability
        x = 0
        while x < nx:
            mean = mean_run if on else mean_skip
            length = int(rng.geometric(min(1.0, 1.0 / mean)))
            if on:
                mask[row, x : x + length] = True
            x += length
            on = not on
    if not mask.any():
        mask[rng.integers(ny), rng.integers(nx)] = True
    return mask


JITTER_CELLS = ("exact", "square")


def jittered_grid_pattern(shape, fraction: float, seed: int = 0, cells: str = "exact") -> np.ndarray:
    """One random position in each cell of a grid of cells of about ``1 / fraction`` pixels (stratified sampling).

    ``cells="exact"`` cuts the grid into exactly ``max(1, round(fraction * rows * columns))`` cells, as many as
    :func:`random_pattern` measures: ``g`` bands of rows, ``g`` chosen so that the cells come out about square
    (``sqrt(k * rows / columns)``, within the grid's bounds), each band cut into ``k // g`` or ``k // g + 1``
    cells along the row and turned round it by a random offset. ``cells="square"``, the only layout before
    ``cells`` existed (kept so that a scan recorded then replays the same mask), cuts square cells of
    ``1 / sqrt(fraction)`` pixels a side: on a thin or small grid they do not fit and it measures far more than
    asked (1 x 50 at 5 %: 24 %; 8 x 8 at 30 %: 39 %).

    Parameters
    ----------
    shape : (rows, columns) of the scan grid.
    fraction : share of positions measured, in (0, 1].
    seed : seed of the position within each cell.
    cells : ``"exact"`` or ``"square"`` (above).

    Returns
    -------
    mask : bool array of shape ``shape``; True = measured.
    """
    ny, nx = _check_shape(shape)
    f = check_fraction(fraction)
    check_seed(seed)
    check_cells(cells)
    ey, ex = _exact_cells(ny, nx, f) if cells == "exact" else _square_cells(ny, nx, f)
    rng = np.random.default_rng(seed)
    y0, y1 = ey[..., :-1], ey[..., 1:]
    x0, x1 = ex[..., :-1], ex[..., 1:]
    ry = rng.random((y0.shape[-1], x0.shape[-1]))
    rx = rng.random((y0.shape[-1], x0.shape[-1]))
    ys = y0[:, None] + np.floor(ry * (y1 - y0)[:, None]).astype(int)
    xs = x0 + np.floor(rx * (x1 - x0)).astype(int)
    if cells == "exact":
        # each band's cells turned round the row by a random offset: cut alike, bands of k // g cells in nx > k // g
        # pixels put their wide cells, and so their few unmeasured pixels at 98 %, in the same columns
        xs = (xs + np.floor(rng.random((len(ys), 1)) * nx).astype(int)) % nx
    keep = np.broadcast_to(x1 > x0, ys.shape)  # a band of fewer cells than the widest ends in empty ones (exact)
    mask = np.zeros((ny, nx), bool)
    mask[ys[keep], xs[keep]] = True
    return mask


def _square_cells(ny: int, nx: int, f: float) -> tuple[np.ndarray, np.ndarray]:
    """(row edges, column edges) of square cells of ``1 / sqrt(f)`` pixels (edges at rounded multiples)."""
    c = 1.0 / math.sqrt(f)
    ey = np.unique(np.round(np.arange(0, ny + c, c)).clip(0, ny).astype(int))
    ex = np.unique(np.round(np.arange(0, nx + c, c)).clip(0, nx).astype(int))
    return ey, ex[None, :]


def _exact_cells(ny: int, nx: int, f: float) -> tuple[np.ndarray, np.ndarray]:
    """(row edges of the bands, each band's column edges padded to the widest band's by repeating the last edge) of
    exactly ``k = max(1, round(f * ny * nx))`` cells, about square: ``g`` bands, ``k // g`` or ``k // g + 1`` cells
    each (the longer bands spread evenly), every cell at least one pixel wide and high."""
    n = ny * nx
    k = min(n, max(1, round(f * n)))
    g = int(np.clip(round(math.sqrt(k * ny / nx)), -(-k // nx), min(ny, k)))
    per_band = k // g + (np.arange(1, g + 1) * (k % g) // g > np.arange(g) * (k % g) // g)
    ey = np.arange(g + 1) * ny // g
    widest = int(per_band.max())
    j = np.minimum(np.arange(widest + 1)[None, :], per_band[:, None])
    return ey, j * nx // per_band[:, None]


def check_cells(cells) -> None:
    """The cell layout of :func:`jittered_grid_pattern`: ``"exact"`` or ``"square"``."""
    if cells not in JITTER_CELLS:
        raise DataError(f"unknown cells {cells!r}; choose 'exact' (as many cells as positions asked for) or "
                         "'square' (cells of 1 / sqrt(fraction) pixels a side, the layout before cells existed)")


def check_mask(mask, shape=None, name: str = "mask") -> np.ndarray:
    """A user-given pattern as a boolean mask, checked: 2-D, of ``shape`` when given, at least one True.

    A mask is booleans (True = measured) or numbers that are all 0 or 1 (integers or floats: 1 = measured). Other
    numbers are refused, 0/255 too: read as "nonzero = measured", an image passed as a mask would pass as one;
    ``mask > 0`` says it.

    Raises
    ------
    DataError : a mask of other values, with no measured position, or whose shape differs from ``shape``.
    """
    m = np.asarray(mask)
    if m.dtype != bool:
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise DataError(f"{name} must be booleans or numbers 0 and 1 (True or 1 = measured), got "
                            f"{_mask_values(m)}")
        m = m.astype(bool)
    if shape is not None and m.shape != tuple(shape):
        raise DataError(f"{name} has shape {m.shape} but the navigation (scan) shape is {tuple(shape)}")
    if m.ndim != 2 and shape is None:
        raise DataError(f"{name} must be 2-D (rows, columns), got shape {m.shape}")
    if not m.any():
        raise DataError(f"{name} is empty: no position is measured")
    return m


def _mask_values(m: np.ndarray) -> str:
    """What a refused mask holds, in a few words, with the way out where it is a 0/N image of a mask."""
    if m.dtype.kind not in "biuf":
        return f"dtype {m.dtype}"
    values = np.unique(m[~np.isnan(m)] if m.dtype.kind == "f" else m)
    shown = ", ".join(f"{v:g}" for v in values[:4]) + (f" ... ({len(values)} values)" if len(values) > 4 else "")
    nan = " and NaN" if m.dtype.kind == "f" and np.isnan(m).any() else ""
    hint = f"; for a 0/{values[1]:g} image of a mask, pass mask > 0" if len(values) == 2 and values[0] == 0 else ""
    return f"{m.dtype} values {shown}{nan}{hint}"


PATTERNS = {"random": random_pattern, "line_hop": line_hop_pattern, "jittered_grid": jittered_grid_pattern}


def check_pattern(pattern) -> None:
    """A pattern name :func:`make_pattern` knows; else a DataError listing them."""
    if pattern not in PATTERNS:
        raise DataError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")


def check_runs(runs) -> None:
    """The run rule of :func:`line_hop_pattern`: ``"lengthen"`` or ``"fixed"``."""
    if runs not in RUNS:
        raise DataError(f"unknown runs {runs!r}; choose 'lengthen' (runs lengthen where the fraction needs hops of "
                         "under one pixel) or 'fixed' (mean_run whatever the fraction, the rule before runs existed)")


def check_mean_run(mean_run) -> None:
    """The mean run length of :func:`line_hop_pattern`: >= 1 pixel."""
    if not (is_number(mean_run) and mean_run >= 1):
        raise DataError(f"mean_run must be >= 1 pixel, got {mean_run!r}")


def make_pattern(pattern: str, shape, fraction: float, seed: int = 0, **kwargs) -> np.ndarray:
    """The mask of a pattern named ``"random"``, ``"line_hop"`` or ``"jittered_grid"``."""
    check_pattern(pattern)
    return PATTERNS[pattern](shape, fraction, seed=seed, **kwargs)


def positions(mask, order: str = "raster") -> np.ndarray:
    """The measured positions of a mask as ``(n, 2)`` int ``(row, column)`` pairs in scan order.

    Parameters
    ----------
    mask : 2-D bool array, True = measured.
    order : ``"raster"`` (every row left to right, rows top to bottom) or ``"serpentine"`` (odd rows right to
        left, as a scan that does not fly back).

    Returns
    -------
    (n, 2) int64 array of (row y, column x).
    """
    m = check_mask(mask)
    if order not in ("raster", "serpentine"):
        raise DataError(f"unknown order {order!r}; choose 'raster' or 'serpentine'")
    pos = np.argwhere(m).astype(np.int64)  # argwhere is raster order already
    if order == "serpentine":
        key_x = np.where(pos[:, 0] % 2 == 1, -pos[:, 1], pos[:, 1])
        pos = pos[np.lexsort((key_x, pos[:, 0]))]
    return pos


def save_positions(mask, path, order: str = "raster", overwrite: bool = False) -> Path:
    """Write the positions of ``mask`` in scan order to ``path`` (``.npy``: (n, 2) int64; ``.csv``: a header
    ``row,column`` then one position a line) for a scan generator to consume; :func:`load_positions` reads it back
    exactly. Returns the path."""
    from ..core.atomic import atomic_write
    from ..core.errors import OutputExistsError

    path = Path(path)
    if path.suffix.lower() not in (".npy", ".csv"):
        raise DataError(f"{path}: position list must be .npy or .csv")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it")
    pos = positions(mask, order)

    def write(tmp: Path) -> None:  # to a temporary sibling, then renamed: a crash leaves no half-written list
        with open(tmp, "wb") as fh:
            if path.suffix.lower() == ".npy":
                np.save(fh, pos)
            else:
                np.savetxt(fh, pos, fmt="%d", delimiter=",", header="row,column", comments="")

    atomic_write(path, write, overwrite=True)
    return path


# the names a position list's header may give its two columns (case and surrounding spaces ignored)
ROW_NAMES = ("row", "y")
COLUMN_NAMES = ("column", "col", "x")


def read_positions(path) -> np.ndarray:
    """The positions of a list written by :func:`save_positions` or a scan generator, as ``(n, 2)`` int64
    ``(row, column)`` pairs in the file's order (duplicates kept).

    ``.npy``: an ``(n, 2)`` array of whole numbers, ``(row, column)``. ``.csv``: one position a line, two whole
    numbers separated by a comma (or by tabs or spaces); blank lines and lines starting with ``#`` are skipped. A
    first line that is not two numbers is a header naming the columns, in either order: ``row``/``y`` and
    ``column``/``col``/``x`` (``x,y`` is read as column, row). Without a header the pairs are ``(row, column)``,
    the order :func:`save_positions` writes.

    Raises
    ------
    DataError : the file cannot be read, is not two columns of whole numbers, or has a header it does not
        understand; the message names the file.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            pos, order = np.load(path), (0, 1)  # no pickles: np.load refuses object arrays
        else:
            pos, order = _read_csv(path)
        pos = np.asarray(pos)
        if pos.size and (pos.ndim != 2 or pos.shape[1] != 2 or pos.dtype.kind not in "biuf"):
            raise DataError(f"not (row, column) pairs (an array of shape {pos.shape}, dtype {pos.dtype})")
        bad = np.flatnonzero(~(np.isfinite(pos) & (pos == np.round(pos))).all(axis=1)) if pos.size else []
        if len(bad):
            raise DataError(f"position {bad[0] + 1} ({', '.join(f'{v:g}' for v in pos[bad[0]])}) is not two whole "
                             f"numbers ({len(bad)} such)")
        return np.asarray(pos, dtype=np.int64).reshape(-1, 2)[:, order]
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a position list (two columns of whole numbers, optionally under a header "
                        f"such as 'row,column' or 'x,y'): {e}") from None


def _read_csv(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """(the numbers of a ``.csv`` position list as written, the column order that makes them (row, column))."""
    lines = [(i + 1, line.strip()) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    rows = [(n, line.split(",") if "," in line else line.split()) for n, line in lines]
    order = (0, 1)
    if rows and not all(_is_number(f) for f in rows[0][1]):
        order = _header_order(rows[0][1])  # a header is the first line only: one later is a damaged value
        rows = rows[1:]
    values = []
    for n, fields in rows:
        if len(fields) != 2:
            raise DataError(f"line {n} has {len(fields)} values, not 2")
        try:
            values.append([float(f) for f in fields])
        except ValueError:
            raise DataError(f"line {n} ({', '.join(f.strip() for f in fields)}) is not two numbers") from None
    return np.asarray(values, dtype=np.float64).reshape(-1, 2), order


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header_order(names: list[str]) -> tuple[int, int]:
    """The columns of a header that hold the row and the column: ``row,column`` -> (0, 1), ``x,y`` -> (1, 0)."""
    got = [n.strip().strip('"').lower() for n in names]
    kinds = ["row" if n in ROW_NAMES else "column" if n in COLUMN_NAMES else None for n in got]
    if len(got) != 2:
        raise DataError(f"the header {','.join(n.strip() for n in names)!r} names {len(got)} columns; a position "
                         "list has two, a row and a column")
    if sorted(map(str, kinds)) != ["column", "row"]:
        raise DataError(f"the header {','.join(n.strip() for n in names)!r} does not name a row and a column (one "
                         f"of {'/'.join(ROW_NAMES)} and one of {'/'.join(COLUMN_NAMES)})")
    return kinds.index("row"), kinds.index("column")


def load_positions(path, shape) -> np.ndarray:
    """The mask of ``shape`` from a position list (:func:`read_positions`: ``.npy``, or ``.csv`` with or without a
    header). A position listed more than once is measured once, with a warning that counts them (a scan generator
    list that revisits positions doses them again, which a mask cannot hold)."""
    return positions_mask(read_positions(path), shape, path)


# a list's rows and columns all in the grid's top-left corner by this little chance, were they spread over the
# whole grid, was written for a smaller scan: a 64 x 64 list at 20 % (819 positions) on a 256 x 256 grid measured
# 1.25 % of it, in one corner, and inpainting filled the rest from nothing (issue 14's review)
CORNER_CHANCE = 1e-9


def _warn_if_cornered(pos: np.ndarray, shape: tuple[int, int], path) -> None:
    """Warn where the positions ``pos`` all lie in a corner ``rows 0..r, columns 0..c`` of the scan grid ``shape``
    that a list spread over the grid would fill with a chance under :data:`CORNER_CHANCE`: a list written for a
    smaller grid. The chance is ``(r / rows)`` to the power of the rows measured times ``(c / columns)`` to the
    power of the runs along the rows (a position whose left neighbour is not listed), not of the positions: a
    line-hop scan's runs of 16 pixels place 16 positions by one draw, and its 505 positions on 64 x 80 at 10 %
    left the last 2 rows empty. A list made for a region of the grid that leaves its last rows and columns out is
    warned too; the warning says so."""
    if not len(pos):
        return
    ends = pos.max(axis=0) + 1
    listed = np.zeros(tuple(int(v) for v in ends), dtype=bool)  # the corner only: a list inside the grid
    listed[pos[:, 0], pos[:, 1]] = True
    runs = int(np.count_nonzero(listed[:, 0])) + int(np.count_nonzero(listed[:, 1:] & ~listed[:, :-1]))
    measured = [int(np.count_nonzero(listed.any(axis=1))), runs]
    log_chance = sum(m * np.log(e / n) for m, e, n in zip(measured, ends, shape, strict=True))
    if log_chance < np.log(CORNER_CHANCE):
        rows, cols = (int(v) for v in ends)
        share = rows * cols / (shape[0] * shape[1])
        warnings.warn(f"{path}: its {len(pos)} positions all lie in rows 0-{rows - 1} and columns 0-{cols - 1} of "
                      f"the {shape[0]} x {shape[1]} scan grid ({100 * share:.2g} % of it): a list written for a "
                      f"{rows} x {cols} scan or smaller? (If it is a region of the grid, that is what is "
                      "measured.)", UserWarning, stacklevel=4)


def positions_mask(pos, shape, path) -> np.ndarray:
    """The mask of ``shape`` measured at ``pos`` ((n, 2) (row, column), as :func:`read_positions` gives them, read
    from ``path``, which the messages name); see :func:`load_positions`."""
    shape = _check_shape(shape)
    if len(pos) and ((pos < 0).any() or (pos >= np.array(shape)).any()):
        raise DataError(f"{path}: positions fall outside the scan grid {shape} (rows, columns)")
    _warn_if_cornered(pos, shape, path)
    mask = np.zeros(shape, bool)
    mask[pos[:, 0], pos[:, 1]] = True
    repeated = len(pos) - int(np.count_nonzero(mask))
    if repeated:
        warnings.warn(f"{path}: {repeated} of its {len(pos)} positions repeat an earlier one; each position is "
                      f"measured once ({len(pos) - repeated} positions)", UserWarning, stacklevel=3)
    return check_mask(mask, name=str(path))
