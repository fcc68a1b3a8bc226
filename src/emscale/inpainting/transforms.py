"""Thresholding in the sparsifying transforms of the compressed-sensing prior.

Both transforms are Parseval tight frames ``W`` (``W^T W = I``), so ``W^T thr_lam(W x)`` is the proximal map of
``lam * ||W x||_1`` for soft thresholding when ``W`` is orthonormal, and its standard cycle-spinning
approximation when ``W`` is redundant (Coifman & Donoho 1995; Elad et al. 2005).

* :func:`fourier_threshold` -- the orthonormal 2-D Fourier transform of the whole image. Crystal lattices are
  sparse there: an atomic-resolution image is a few Bragg spots and their harmonics.
* :func:`block_dct_threshold` -- the orthonormal DCT-II of ``b x b`` blocks, averaged over the ``(b / step)^2``
  block grids shifted by multiples of ``step`` (a tight frame of redundancy ``(b / step)^2``). It keeps local
  structure the global transform cannot: particle edges, defects, grain boundaries (Guleryuz 2006).

The mean (DC) coefficient is never thresholded. ``lam`` is in units of the (standardised) image values.

References
----------
Coifman, Donoho, "Translation-invariant de-noising", Wavelets and Statistics (1995) 125-150.
Guleryuz, "Nonlinear approximation based image recovery using adaptive sparse reconstructions and iterated
denoising", IEEE Trans. Image Process. 15 (2006) 539-571.
"""

from __future__ import annotations

import numpy as np

__all__ = ["block_dct_threshold", "fft_workers", "fourier_threshold", "threshold"]

# below this many values an FFT runs on one thread: handing a small transform to a thread pool cost more than the
# transform (a stack of 5 x 64 x 64, the hold-out's folds of a 32 x 32 image: 0.33 ms a forward and inverse pair
# on every core, 0.08 ms on one; 160 x 160 0.43 against 0.11; the two met at 1.2-2 x 10^5 values on this 2-core
# machine, and threads won from 3 x 10^5). The bits are the same either way: the threads split whole 1-D transforms
THREADED_FFT_VALUES = 2**17


def fft_workers(x: np.ndarray) -> int:
    """``workers`` for scipy.fft on ``x``: 1 below :data:`THREADED_FFT_VALUES` values, else every core (-1)."""
    return 1 if x.size < THREADED_FFT_VALUES else -1


def threshold(c: np.ndarray, lam: float, kind: str = "hard") -> np.ndarray:
    """Hard (keep ``|c| >= lam``) or soft (shrink magnitudes by ``lam``) thresholding of real or complex ``c``."""
    a = np.abs(c)
    if kind == "hard":
        return np.where(a >= lam, c, 0)
    if lam <= 0:
        return c.copy()
    # c * max(1 - lam / |c|, 0) with no temporaries beyond |c| (the thresholds run inside every solver iteration);
    # |c| = 0 gives lam / 0 = inf (lam > 0 here) and a factor of 0
    with np.errstate(divide="ignore"):
        f = np.divide(lam, a, out=a)
    np.subtract(1.0, f, out=f)
    np.maximum(f, 0.0, out=f)
    return c * f


def fourier_threshold(x: np.ndarray, lam: float, kind: str = "hard") -> np.ndarray:
    """``F^T thr(F x)`` with ``F`` the orthonormal 2-D real FFT of the image ``x`` (rows, columns), or of each
    image of a stack (..., rows, columns)."""
    import scipy.fft as sfft  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    workers = fft_workers(x)
    c = sfft.rfft2(x, norm="ortho", workers=workers)
    dc = c[..., 0, 0].copy()
    c = threshold(c, lam, kind)
    c[..., 0, 0] = dc
    # the shape is given only where the last axis is odd: with it pocketfft takes a path 3-5 x slower, and an even
    # length is what the inverse gives without it (same bits)
    s = x.shape[-2:] if x.shape[-1] % 2 else None
    return sfft.irfft2(c, s=s, norm="ortho", workers=workers)


def block_dct_threshold(
    x: np.ndarray, lam: float, block: int = 16, step: int = 8, kind: str = "hard", shifts=None
) -> np.ndarray:
    """Cycle-spun block-DCT thresholding of the image ``x``: the mean of the thresholded results over block grids
    shifted by ``(dy, dx)`` (by default every multiple of ``step`` below ``block``; edges reflected so every pixel
    lies in a full block). An iterative solver may pass one shift per iteration instead (cycle spinning across
    iterations: the same frame on average at a fraction of the cost). ``x`` may be a stack (..., rows, columns):
    each image is thresholded on its own."""
    ny, nx = x.shape[-2:]
    lead = x.shape[:-2]
    pad = block
    xp = np.pad(x, [(0, 0)] * len(lead) + [(pad, pad)] * 2, mode="reflect" if min(ny, nx) > pad else "symmetric")
    if shifts is None:
        shifts = [(dy, dx) for dy in range(0, block, step) for dx in range(0, block, step)]
    if not all(0 <= dy < block and 0 <= dx < block for dy, dx in shifts):
        raise ValueError(f"block-grid shifts must lie in [0, {block}), got {list(shifts)}")
    import scipy.fft as sfft  # here: scipy's submodules cost 0.1-1 s at `import emscale`

    acc = None
    workers = fft_workers(xp)
    for dy, dx in shifts:
        sub = xp[..., dy:, dx:]
        my, mx = (sub.shape[-2] // block) * block, (sub.shape[-1] // block) * block
        blocks = sub[..., :my, :mx].reshape(*lead, my // block, block, mx // block, block)
        c = sfft.dctn(blocks, axes=(-3, -1), norm="ortho", workers=workers)
        dc = c[..., :, 0, :, 0].copy()
        c = threshold(c, lam, kind)
        c[..., :, 0, :, 0] = dc
        # every block grid covers the image (the padding is a whole block), so each shift adds one estimate of
        # every pixel: the mean over shifts needs no count map
        part = sfft.idctn(c, axes=(-3, -1), norm="ortho", workers=workers).reshape(*lead, my, mx)[
            ..., pad - dy : pad - dy + ny, pad - dx : pad - dx + nx
        ]
        acc = part if acc is None else acc + part
    return acc / len(shifts) if len(shifts) > 1 else acc
