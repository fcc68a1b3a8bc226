"""Spectrum normalisation: each spectrum scaled to a unit integral over an energy window."""

from __future__ import annotations

import numpy as np

from ..core.errors import AxisError
from ..core.registry import operation
from ..core.signal import Signal, derive
from ..engine import Pass, run_pass
from ._energy import check_ascending
from .background import check_window


@operation("normalise", method=True)
def normalise(s: Signal, signal_range: tuple[float, float] | None = None, executor=None, progress=None) -> Signal:
    """Divide every spectrum by its sum over ``signal_range`` (calibrated units, start below end, the channels
    ``s.isig[start:end]`` selects; ``None``: the whole axis).

    Spectra whose sum is zero become NaN. Returns float64 data on the same axes.
    """
    if s.sig_ndim != 1:
        raise AxisError(f"normalise works on spectra (one signal axis); this signal has {s.sig_ndim}")
    ax = s.sig_axes[0]
    i0, i1 = 0, ax.size
    if signal_range is not None:
        start, end = check_window(signal_range)
        check_ascending(ax, "normalise")
        i0, i1 = ax.value_to_index(start), ax.stop_to_index(end)  # as isig: a stop may be the axis end
        if i1 <= i0:
            raise AxisError(f"signal_range {signal_range!r} holds no channel of axis {ax.name!r}")

    def per_block(block, rows):
        x = np.asarray(block, dtype=np.float64)
        total = x[..., i0:i1].sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total != 0, x / total, np.nan)

    out = run_pass(s.data, Pass(per_block, None, name="normalise"), executor=executor, progress=progress)
    return derive(s, out, s.axes)
