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

__all__ = ["block_dct_threshold", "fourier_threshold", "threshold"]


def threshold(c: np.ndarray, lam: float, kind: str = "hard") -> np.ndarray:
    """Hard (keep ``|c| >= lam``) or soft (shrink magnitudes by ``lam``) thresholding of real or complex ``c``."""
    a = np.abs(c)
    if kind == "hard":
        return np.where(a >= lam, c, 0)
    return c * np.maximum(1.0 - lam / np.maximum(a, 1e-300), 0.0)


def fourier_threshold(x: np.ndarray, lam: float, kind: str = "hard") -> np.ndarray:
    """``F^T thr(F x)`` with ``F`` the orthonormal 2-D real FFT of the image ``x`` (rows, columns)."""
    import scipy.fft as sfft  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    c = sfft.rfft2(x, norm="ortho", workers=-1)
    dc = c[0, 0]
    c = threshold(c, lam, kind)
    c[0, 0] = dc
    return sfft.irfft2(c, s=x.shape, norm="ortho", workers=-1)


def block_dct_threshold(
    x: np.ndarray, lam: float, block: int = 16, step: int = 8, kind: str = "hard", shifts=None
) -> np.ndarray:
    """Cycle-spun block-DCT thresholding of the image ``x``: the mean of the thresholded results over block grids
    shifted by ``(dy, dx)`` (by default every multiple of ``step`` below ``block``; edges reflected so every pixel
    lies in a full block). An iterative solver may pass one shift per iteration instead (cycle spinning across
    iterations: the same frame on average at a fraction of the cost)."""
    ny, nx = x.shape
    pad = block
    xp = np.pad(x, pad, mode="reflect" if min(ny, nx) > pad else "symmetric")
    acc = np.zeros_like(xp)
    cnt = np.zeros_like(xp)
    if shifts is None:
        shifts = [(dy, dx) for dy in range(0, block, step) for dx in range(0, block, step)]
    for dy, dx in shifts:
        sub = xp[dy:, dx:]
        my, mx = (sub.shape[0] // block) * block, (sub.shape[1] // block) * block
        blocks = sub[:my, :mx].reshape(my // block, block, mx // block, block)
        import scipy.fft as sfft  # here: scipy's submodules cost 0.1-1 s at `import emscale`
        c = sfft.dctn(blocks, axes=(1, 3), norm="ortho", workers=-1)
        dc = c[:, 0, :, 0].copy()
        c = threshold(c, lam, kind)
        c[:, 0, :, 0] = dc
        acc[dy : dy + my, dx : dx + mx] += sfft.idctn(c, axes=(1, 3), norm="ortho", workers=-1).reshape(my, mx)
        cnt[dy : dy + my, dx : dx + mx] += 1.0
    return acc[pad : pad + ny, pad : pad + nx] / cnt[pad : pad + ny, pad : pad + nx]
