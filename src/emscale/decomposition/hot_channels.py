"""Hot detector channels: one channel that counts in every pixel at a steady rate, whatever the sample.

A stuck or noisy channel of an EDS detector's pulse processor (or a hot CCD column of an EELS camera without its
dark reference) adds Poisson counts of one constant mean to one channel of every spectrum. To a separation this is
a component of its own, a flat map times a one-channel spectrum; with ``k`` set to the phases it is shared among
the phases (20 counts/pixel on a 200 counts/pixel EDS map put 9 % of each phase's mass in that channel and moved
every NMF/MCR spectrum 35-50 degrees from the truth).

Two tests, both on the statistics pass's per-channel sums (no extra read of the data):

- a spike in the map's total spectrum: at least :data:`SPIKE_RATIO` times each neighbouring channel. No line
  of a detector is that narrow: an EDS line of 50 eV FWHM in 40 eV channels gives at most 6, an EELS edge or a
  cathodoluminescence line spreads over several channels;
- counts spread over the pixels as a steady Poisson source's are, the dispersion ``var / mean`` of the channel's
  counts over the pixels at most :data:`MAX_DISPERSION`. A narrow peak of the sample (a zero-loss peak in coarse
  channels, a sharp luminescence line) follows thickness and composition (a dispersion in the hundreds at such
  counts); a cosmic-ray spike sits in one pixel.
"""

from __future__ import annotations

import numpy as np

SPIKE_RATIO = 10.0  # the channel's total over each neighbour's
MAX_DISPERSION = 2.0  # var / mean of its counts over the pixels (1 for a steady Poisson source)
MIN_COUNTS = 100.0  # below this total a channel's dispersion says little


def find_hot_channels(col_sums: np.ndarray, col_sq: np.ndarray, n_pixels: int,
                      kept: np.ndarray | None = None) -> np.ndarray:
    """Indices (among all channels, flat numpy order) of the hot channels of a map of counts.

    ``col_sums``, ``col_sq``: per kept channel, the total and the sum of squares over ``n_pixels`` pixels;
    ``kept``: the flat boolean mask of kept channels (None: all). A left-out channel is no neighbour: its kept
    neighbour on the other side decides, and a channel with no kept neighbour is never called hot."""
    sums = np.asarray(col_sums, dtype=np.float64)
    sq = np.asarray(col_sq, dtype=np.float64)
    index = np.arange(sums.size) if kept is None else np.flatnonzero(kept)
    if sums.size < 3 or n_pixels < 2:
        return np.zeros(0, dtype=np.int64)
    padded = np.full(int(index[-1]) + 3, np.nan)  # a NaN on each side: the ends have one neighbour
    padded[index + 1] = sums
    neighbour = np.fmax(padded[index], padded[index + 2])  # NaN only where neither neighbour is kept
    mean = sums / n_pixels
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = (sq / n_pixels - mean**2) / mean
        spike = (sums >= MIN_COUNTS) & np.isfinite(neighbour) & (sums >= SPIKE_RATIO * neighbour)
    return index[spike & (dispersion <= MAX_DISPERSION)].astype(np.int64)
