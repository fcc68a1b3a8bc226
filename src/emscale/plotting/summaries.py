"""The summaries a spectrum-image figure draws, over the finite values only: the navigator and the mean signal.

For float data ``x[p, c]`` (``p`` a navigation position, ``c`` a signal value), in one pass over the data (numpy
or lazy; the data themselves are unchanged):

* navigator  ``total[p] = sum_c x[p, c]`` with the NaN values left out (NaN where all are);
* mean       ``mean[c] = sum_p x[p, c] / n[c]``, ``n[c]`` the counted positions whose value is not NaN.

numpy's sums are NaN as soon as one term is: 1 % NaN voxels in an 8x8x50 cube blanked about a third of the
navigator (every position holding one) and most channels of the mean spectrum. Integer data hold no NaN and take
the same one pass (their float64 sums are exact below 2^53: a figure's, not a result's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Pass, run_pass


@dataclass
class _Partial:
    """One partition's share: its rows of the navigator, and the per-signal-value sums and counts."""

    total: np.ndarray
    sig_sum: np.ndarray
    sig_count: np.ndarray
    n_nan: int

    def merge(self, other: _Partial) -> _Partial:
        return _Partial(np.concatenate([self.total, other.total]), self.sig_sum + other.sig_sum,
                        self.sig_count + other.sig_count, self.n_nan + other.n_nan)


def finite_summaries(data, nav_ndim: int, counted: np.ndarray | None = None, executor=None):
    """``(total, mean, n_nan)`` of ``data`` (navigation dimensions first): the navigator (navigation shape),
    the mean over the ``counted`` positions (boolean, navigation shape; None: all) of each signal value (signal
    shape; NaN where none counts), and the number of NaN values in the data."""
    nav = tuple(range(nav_ndim))

    def per_block(block, rows):
        if np.dtype(block.dtype).kind in "biu":  # no NaN to skip: sums only, no float64 copy nor masks (a 1 GiB
            # uint16 cube: 12.0 s and 1.7 GiB, its NaN-free pass 4 s and 0.56 GiB)
            x = np.asarray(block)
            sig = tuple(range(nav_ndim, x.ndim))
            total = x.sum(axis=sig, dtype=np.float64)
            if counted is None:
                n = np.full(x.shape[nav_ndim:], int(np.prod(x.shape[:nav_ndim])), dtype=np.int64)
                return _Partial(total, x.sum(axis=nav, dtype=np.float64), n, 0)
            c = counted[rows].reshape(-1)
            flat = x.reshape((-1,) + x.shape[nav_ndim:])[c]
            n = np.full(x.shape[nav_ndim:], int(c.sum()), dtype=np.int64)
            return _Partial(total, flat.sum(axis=0, dtype=np.float64), n, 0)
        x = np.asarray(block, dtype=np.float64)
        nan = np.isnan(x)
        sig = tuple(range(nav_ndim, x.ndim))
        total = np.where(nan.all(axis=sig), np.nan, np.where(nan, 0.0, x).sum(axis=sig))
        keep = ~nan
        if counted is not None:
            keep &= counted[rows].reshape(counted[rows].shape + (1,) * len(sig))
        return _Partial(total, np.where(keep, x, 0.0).sum(axis=nav), keep.sum(axis=nav), int(nan.sum()))

    p = run_pass(data, Pass(per_block, _Partial.merge, name="plot summaries"), executor)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(p.sig_count > 0, p.sig_sum / np.maximum(p.sig_count, 1), np.nan)
    return p.total, mean, p.n_nan
