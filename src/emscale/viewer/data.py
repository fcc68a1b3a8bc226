"""What the viewer shows, computed from a Signal: pixel spectra, region sums and energy-window maps.

For a spectrum image stored ``data[y, x, E]`` (numpy order; a line scan ``data[x, E]`` is shown as one row):

* pixel spectrum    ``S(E) = data[y, x, E]``                                   (one storage block read)
* region spectrum   ``S(E) = sum_{y0<=y<y1, x0<=x<x1} data[y, x, E]``         (one engine pass over the crop)
* window map        ``M(y, x) = sum_{i0<=e<=i1} data[y, x, e]``               (one engine pass, cached per window)

Sums of integer counts are exact (int64); of floats, float64. Windows are given in calibrated units and map to
channels with :meth:`emscale.Axis.value_to_index` (HyperSpy's rounding), clipped to the axis.

An image ``data[y, x]`` or a stack of them ``data[n, y, x]`` (a tilt series, a volume's slices, a time series) is
read as the spectrum image ``data[y, x, n]`` (:func:`.reading.images_as_spectra`): the map of a window of one is
that image, of a wider window the sum of its images (a projection of a volume's slab), and a pixel's "spectrum" is
its value through the stack.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..core.axes import Axis
from ..core.errors import DataError
from ..core.signal import Signal, is_sparse_scan, measured_mask
from ..engine import Pass, run_pass
from ..plotting import check_real
from .reading import BlockReader, Crop, images_as_spectra, storage_array

MAP_CACHE_ENTRIES = 32


def _window_sums(block: np.ndarray, n_nav: int, acc, nan_aware: bool) -> np.ndarray:
    """Each pixel's sum over the block's channels; with ``nan_aware`` (float data) NaN values are left out, and a
    pixel with no finite value in them is NaN (missing, drawn transparent), not a sum of 0 counts."""
    flat = block.reshape(block.shape[:n_nav] + (-1,))
    if not nan_aware:
        return np.sum(flat, axis=-1, dtype=acc)
    out = np.asarray(np.nansum(flat, axis=-1, dtype=acc))
    missing = np.all(np.isnan(flat), axis=-1)
    if missing.any():
        out = np.where(missing, np.nan, out)
    return out


def _acc_dtype(dtype) -> np.dtype:
    """The sums' accumulator: int64 for integers narrower than 64 bits (exact); float64 for the rest, 64-bit integers
    too (their sums of 2^62 wrapped round to 0 in int64; a map or a plot needs the magnitude, not the last digit)."""
    dtype = np.dtype(dtype)
    return np.dtype(np.int64) if dtype.kind in "biu" and dtype.itemsize < 8 else np.dtype(np.float64)


class ViewerData:
    """The read side of the viewer for one signal with one signal axis and at most two navigation axes, or with
    two signal axes (images) and at most one navigation axis (the stack's: :attr:`stack_axis`, which then plays the
    energy axis), or a volume (three signal axes, none to navigate), read as a stack of slices along its first numpy
    axis.

    Parameters
    ----------
    signal : the spectrum image or images (numpy or lazy); it is never copied into memory as a whole.
    executor : engine executor for the passes (default: the configured one).
    along : for a stack of images or a volume, the axis (numpy order) whose slices are shown: 0, the stack's; 1 or
        2 the orthogonal sections (a tilt series' sinograms, a volume's xz and yz slices).
    """

    def __init__(self, signal: Signal, executor=None, along: int = 0):
        if not isinstance(signal, Signal):
            raise DataError(f"the viewer shows a Signal, not {type(signal).__name__}")
        # images: one, a stack along one navigation axis, or a volume (three signal axes) slice by slice
        images = signal.sig_ndim == 2 or (signal.sig_ndim == 3 and signal.nav_ndim == 0)
        if images and signal.nav_ndim > 1:
            raise DataError(
                f"the viewer shows an image or a stack of images along one axis; this signal holds images "
                f"({', '.join(a.name for a in signal.sig_axes)}) over {signal.nav_ndim} navigation axes "
                f"({', '.join(a.name for a in signal.nav_axes)}): pick one position of all but one with inav"
            )
        if not images and signal.sig_ndim != 1:
            raise DataError(
                f"the viewer shows spectra, images, or a volume's slices: one or two signal axes are needed (three "
                f"without a navigation axis), this signal has {signal.sig_ndim} "
                f"({', '.join(a.name for a in signal.sig_axes)}); transpose it or pick one with isig"
            )
        if signal.nav_ndim > 2:
            raise DataError(
                f"the viewer navigates at most two axes; this signal has {signal.nav_ndim} "
                f"({', '.join(a.name for a in signal.nav_axes)}); slice the others with inav"
            )
        check_real(signal, "the viewer")
        self.signal = signal
        self.executor = executor
        src = storage_array(signal.data)
        # images: the image is the navigator, the stack's axis the spectrum's (:func:`.reading.images_as_spectra`)
        along = int(along)
        if along and not (images and signal.ndim == 3 and 0 <= along < 3):
            raise ValueError(f"along={along}: only a stack of images or a volume is sliced along another axis (0, 1 "
                             "or 2, in numpy order)")
        self.along = along
        self.stack_axis = (signal.axes[along] if signal.ndim == 3 else Axis("image", 1)) if images else None
        shown = [a for i, a in enumerate(signal.axes) if i != along or signal.ndim == 2]
        self.image_axes = list(reversed(shown[-2:])) if images else None  # user order (x, y)
        if images:
            src = images_as_spectra(src, along)
        elif signal.nav_ndim == 0:  # one spectrum: a 1x1 navigator
            src = np.asarray(src[...]).reshape(1, -1)
        self.source = src
        self.n_nav = 2 if images else max(signal.nav_ndim, 1)
        self.reader = BlockReader(src, self.n_nav)
        self.energy = self.stack_axis if images else signal.sig_axes[0]
        # a sparse scan's unmeasured positions hold zeros nobody counted: no data, not zero counts
        mask = measured_mask(signal) if is_sparse_scan(signal) and not along else None
        self.measured = mask if mask is not None and mask.shape == tuple(src.shape[: self.n_nav]) else None
        # NaN in a float cube: numpy's sums are NaN as soon as one term is (0.5 % NaN blanked 64 % of the map)
        self._sum = np.nansum if np.dtype(src.dtype).kind == "f" else np.sum
        self._maps: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()
        self._progress = {"window": None, "done": 0, "total": 0}

    # -- geometry ------------------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        return int(self.source.shape[self.n_nav - 1])

    @property
    def height(self) -> int:
        return int(self.source.shape[0]) if self.n_nav == 2 else 1

    def _check_xy(self, x: int, y: int) -> tuple[int, ...]:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(f"pixel x={x}, y={y} is outside the navigator of {self.width} x {self.height}")
        return (y, x) if self.n_nav == 2 else (x,)

    def channels(self, window: tuple[float, float] | None) -> tuple[int, int]:
        """Inclusive channel range ``(i0, i1)`` of a calibrated window ``(lo, hi)`` (None: every channel)."""
        n = self.energy.size
        if window is None:
            return 0, n - 1
        lo, hi = (float(v) for v in window)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"window {window!r}: both ends must be finite numbers")
        lo, hi = min(lo, hi), max(lo, hi)
        ax = self.energy
        if hi < ax.low or lo > ax.high:
            raise ValueError(f"window {lo:g}..{hi:g} is outside axis {ax.name!r}, which spans {ax.describe_range()}")
        if lo != hi and not ax.is_monotonic:  # the channels between two of its values are not those values' range
            raise ValueError(f"window {lo:g}..{hi:g}: axis {ax.name!r} holds its values out of order (e.g. tilts in "
                             "acquisition order), so no run of its channels spans a range; pick one value at a time")
        i = sorted(ax.value_to_index(min(max(v, ax.low), ax.high)) for v in (lo, hi))
        return i[0], i[1]

    # -- reads ---------------------------------------------------------------------------------------------
    def spectrum(self, x: int, y: int = 0) -> np.ndarray:
        """The spectrum of pixel (x, y) (user order: x is the column), shape ``(n_channels,)``; NaN at a position a
        sparse scan did not measure."""
        at = self._check_xy(x, y)
        if self.measured is not None and not self.measured[at]:
            return np.full(self.energy.size, np.nan)
        return np.asarray(self.reader.spectrum(at)).reshape(-1)

    def region_box(self, x0: int, x1: int, y0: int = 0, y1: int = 1) -> tuple[int, int, int, int]:
        """The box a region request sums: corners in either order (a drag to the left), clipped to the navigator."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x1 <= x0 or y1 <= y0:
            raise IndexError(
                f"region x {x0}..{x1}, y {y0}..{y1} holds no pixel of the {self.width} x {self.height} navigator"
            )
        return x0, x1, y0, y1

    def _nav(self, x0: int, x1: int, y0: int, y1: int) -> tuple[slice, ...]:
        return (slice(y0, y1), slice(x0, x1)) if self.n_nav == 2 else (slice(x0, x1),)

    def region_pixels(self, x0: int, x1: int, y0: int = 0, y1: int = 1) -> int:
        """How many pixels counted into the region's sum (:meth:`region_box`): a sparse scan's measured ones."""
        x0, x1, y0, y1 = self.region_box(x0, x1, y0, y1)
        if self.measured is None:
            return (x1 - x0) * (y1 - y0)
        return int(np.count_nonzero(self.measured[self._nav(x0, x1, y0, y1)]))

    def region(self, x0: int, x1: int, y0: int = 0, y1: int = 1, progress=None) -> np.ndarray:
        """Summed spectrum of the pixels ``x0 <= x < x1``, ``y0 <= y < y1`` (:meth:`region_box`), shape
        ``(n_channels,)``."""
        x0, x1, y0, y1 = self.region_box(x0, x1, y0, y1)
        nav = self._nav(x0, x1, y0, y1)
        acc = _acc_dtype(self.source.dtype)
        dims = tuple(range(self.n_nav))
        total = self._sum
        p = Pass(lambda b, r: total(b, axis=dims, dtype=acc), np.add, name="viewer region")
        return np.asarray(run_pass(Crop(self.source, nav), p, self.executor, progress=progress)).reshape(-1)

    def window_map(self, window: tuple[float, float] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """The navigator image summed over the channels of ``window`` (cached), shape ``(height, width)``."""
        i0, i1 = self.channels(window)
        with self._lock:
            hit = self._maps.get((i0, i1))
        if hit is not None:
            return hit, (i0, i1)
        acc = _acc_dtype(self.source.dtype)
        nav = tuple(slice(None) for _ in range(self.n_nav))

        def track(done, total):
            self._progress.update(window=[i0, i1], done=done, total=total)
            if progress:
                progress(done, total)

        # locals only: a pass that held self sent the viewer's lock to a cluster's workers, which cannot pickle it
        n_nav, nan_aware = self.n_nav, self._sum is np.nansum
        p = Pass(lambda b, r: _window_sums(b, n_nav, acc, nan_aware), None, name="viewer window map")
        self._progress.update(window=[i0, i1], done=0, total=0)
        m = np.asarray(run_pass(Crop(self.source, nav, slice(i0, i1 + 1)), p, self.executor, progress=track))
        m = m.reshape(self.height, self.width)
        if self.measured is not None:
            m = np.where(self.measured.reshape(m.shape), m, np.nan)
        with self._lock:
            self._maps[(i0, i1)] = m
            while len(self._maps) > MAP_CACHE_ENTRIES:
                self._maps.pop(next(iter(self._maps)))
        return m, (i0, i1)

    def progress(self) -> dict:
        """The state of the window-map pass in progress (or of the last one)."""
        return dict(self._progress)
