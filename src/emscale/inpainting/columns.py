"""Atomic columns read from a lattice reconstruction, and each column's own intensity fitted to its measured pixels.

A prior shared by the whole image (the lattice's Bragg spots, :mod:`.sparse`) gives every site of the lattice the
average column: an empty site comes out holding an atom that is not there, a heavy or light substitution comes out
average, and vacuum beside a particle keeps a faint lattice. Each site, though, is measured at a few pixels. Here
the sites are the maxima of the lattice reconstruction and each column is a Gaussian of the lattice's own width;
the intensity each column needs on top of the average is fitted by least squares to the misfit at its measured
pixels (one site at a time: columns a lattice spacing apart barely overlap), shrunk a little toward zero, and left
at zero where too few measured pixels see the column to say anything.

By default (``sparse(columns="auto")``) nothing here is used unless the hold-out of :func:`.sparse.choose_prior`
finds that it predicts hidden pixels better, with bright columns (ADF/HAADF) or dark ones (bright-field): on an
image without a lattice the sites mean nothing and the choice falls elsewhere. A caller may also ask for it.
"""

from __future__ import annotations

import numpy as np

from ..core.peaks import local_maxima, parabola_vertex
from .transforms import fft_workers

__all__ = ["CONTRASTS", "column_fill", "column_sites", "column_width", "lattice_spacing"]

CONTRASTS = ("bright", "dark")  # columns brighter than their surroundings (ADF, HAADF) or darker (bright-field)

SHRINK = 0.1  # ridge, in units of the expected evidence of a column (its squared profile times the measured share)
MIN_EVIDENCE = 0.2  # a column seen by less than this share of its expected evidence keeps the lattice's value
MIN_SITES = 9


def lattice_spacing(x: np.ndarray) -> float:
    """The period (pixels) of the strongest non-constant Fourier component of ``x``: the lattice's spacing."""
    import scipy.fft as sfft  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    p = np.abs(sfft.rfft2(x - x.mean(), workers=fft_workers(x))) ** 2
    ky = np.fft.fftfreq(x.shape[0])[:, None]
    kx = np.fft.rfftfreq(x.shape[1])[None, :]
    k = np.hypot(ky, kx)
    p[k < 3.0 / max(x.shape)] = 0.0  # a background ramp or the particle's outline is not the lattice
    if not p.max() > 0:  # a constant image
        return float("inf")
    return float(1.0 / k.flat[int(np.argmax(p))])


def _pixel(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.round(sites[:, 0]).astype(int), np.round(sites[:, 1]).astype(int)


def column_sites(x: np.ndarray, spacing: float) -> np.ndarray:
    """(n, 2) sub-pixel (row, column) positions of the local maxima of ``x`` at least ~0.6 spacing apart and
    brighter than its median."""
    return parabola_vertex(x, local_maxima(x, max(3, int(0.6 * spacing) | 1)))


def column_width(x: np.ndarray, sites: np.ndarray, half: int) -> float:
    """Gaussian width (pixels) of the mean column: the second moment of the sites' mean patch above its floor."""
    iy, ix = _pixel(sites)
    ok = (iy >= half) & (iy < x.shape[0] - half) & (ix >= half) & (ix < x.shape[1] - half)
    if not ok.any():
        return 0.0
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    patch = x[iy[ok, None, None] + yy, ix[ok, None, None] + xx].mean(axis=0)
    patch = patch - patch.min()
    if patch.sum() <= 0:
        return 0.0
    return float(np.sqrt(np.sum(patch * (yy**2 + xx**2)) / patch.sum() / 2.0))


def column_fill(y: np.ndarray, mask: np.ndarray, x: np.ndarray, contrast: str = "bright") -> np.ndarray | None:
    """``x`` with each atomic column's intensity refitted to its measured pixels, or None where ``x`` shows no
    lattice: a spacing under 3 pixels or over a quarter of the image, fewer than :data:`MIN_SITES` sites or more
    than two per spacing squared (the maxima of a flat or noisy image), a column width outside [0.3, spacing / 2].

    ``y``: measured values (anything where ``mask`` is False); ``x``: the lattice reconstruction on the same scale;
    ``contrast``: ``"bright"`` (columns are maxima: ADF, HAADF) or ``"dark"`` (minima: bright-field).
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    if contrast == "dark":
        out = column_fill(-y, mask, -x)
        return None if out is None else -out
    spacing = lattice_spacing(x)
    if not 3.0 <= spacing <= min(x.shape) / 4.0:
        return None
    sites = column_sites(x, spacing)
    # a lattice of this spacing has about one site per spacing^2 (1.15 for a hexagonal one); many more maxima are
    # a flat or noisy reconstruction's, not columns
    if not MIN_SITES <= len(sites) <= 2.0 * x.size / spacing**2:
        return None
    sigma = column_width(x, sites, max(1, int(spacing / 2)))
    if not 0.3 <= sigma <= spacing / 2:
        return None
    half = int(np.ceil(3.0 * sigma))
    oy, ox = np.mgrid[-half : half + 1, -half : half + 1]
    cy, cx = _pixel(sites)
    fy, fx = (sites[:, 0] - cy)[:, None, None], (sites[:, 1] - cx)[:, None, None]
    rows, cols = cy[:, None, None] + oy, cx[:, None, None] + ox
    g = np.exp(-((oy - fy) ** 2 + (ox - fx) ** 2) / (2.0 * sigma**2))
    inside = (rows >= 0) & (rows < x.shape[0]) & (cols >= 0) & (cols < x.shape[1])
    rows, cols = np.clip(rows, 0, x.shape[0] - 1), np.clip(cols, 0, x.shape[1] - 1)
    seen = g * (inside & mask[rows, cols])
    misfit = np.where(mask, y - x, 0.0)[rows, cols]
    evidence = np.sum(seen * g, axis=(1, 2))
    expected = mask.mean() * np.sum(g * g, axis=(1, 2))
    amp = np.where(evidence >= MIN_EVIDENCE * expected, np.sum(seen * misfit, axis=(1, 2)), 0.0)
    amp = amp / (evidence + SHRINK * expected)
    span = float(x.max() - x.min())
    amp = np.clip(amp, -span, span)  # a column seen at one noisy pixel cannot outshine the whole image
    flat = (rows * x.shape[1] + cols)[inside]
    return x + np.bincount(flat, weights=(amp[:, None, None] * g)[inside], minlength=x.size).reshape(x.shape)
