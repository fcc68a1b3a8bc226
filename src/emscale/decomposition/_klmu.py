"""Kullback-Leibler multiplicative-update kernels on an in-memory matrix (CSR or dense float32).

The KL updates (Lee & Seung) need the model ``WH`` only where ``X`` is non-zero::

    W <- W * (R H^T) / (1 H^T),   H <- H * (W^T R) / (W^T 1),   R = X / WH on the non-zeros of X

and the loss ``sum_nz X log(X / WH) - sum X + sum WH`` with ``sum WH = (W^T 1) . (H 1)``. EDS counts are sparse
(200 counts spread over 2048 channels: > 90 % zeros), so holding ``X`` as CSR and evaluating ``WH`` at its
non-zeros costs ``O(nnz k)`` per update instead of ``O(n p k)``.

Each half-update is one fused sweep over the rows: the model at the row's non-zeros, the ratio, and the
numerator (a row of ``R H^T``, or a fixed row-chunk's partial of ``W^T R``). Row chunks are fixed by the data
shape (never by the thread count) and their partials are summed in chunk order, so the result is bit-identical
whatever the number of threads. With numba (optional) the sweeps are compiled and run in parallel over rows /
chunks; without it they are vectorised numpy / scipy.sparse with the same chunking (slower, same maths).
"""

from __future__ import annotations

import numpy as np

from ..engine.jit import for_kernel, numba_usable
from ._jit import HAVE_NUMBA, use_numba  # noqa: F401 -- HAVE_NUMBA: re-exported

EPS = 1e-12
DENSE64_MAX_VALUES = 1 << 22  # a dense matrix the numpy route also holds as float64 (at most 32 MB)
CHUNK_NNZ = 1 << 20  # non-zeros per row chunk (partials of W^T R; the numpy route's vectorised chunks)


def row_chunks(indptr: np.ndarray, target: int = CHUNK_NNZ, max_chunks: int = 256, min_chunks: int = 16) -> np.ndarray:
    """Boundaries (rows) of contiguous row chunks of about ``target`` non-zeros, at least ``min_chunks`` where there
    are enough rows (so that a parallel sweep has work for every core); depends on the data only."""
    n = len(indptr) - 1
    nnz = int(indptr[-1])
    n_chunks = int(min(max(1, -(-nnz // target)), max_chunks, max(n, 1)))
    n_chunks = int(min(max(n_chunks, min_chunks), max(n, 1)))
    cuts = np.searchsorted(indptr, np.linspace(0, nnz, n_chunks + 1)[1:-1]).astype(np.int64)
    b = np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]])).astype(np.int64)
    return b


def _kernels():
    from . import _klmu_kernels  # here: it imports numba

    return _klmu_kernels


def nonzeros(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts of a (rows, channels) block: non-zeros per row (int64), their columns (int32), values
    (float32); compiled: two scans of the block instead of numpy's nonzero + bincount + gather (4.7x faster)."""
    x = for_kernel(x)
    if x.ndim == 2 and use_numba(x.size):
        return _kernels()._nonzeros_nb(x)
    r, c = np.nonzero(x)
    return np.bincount(r, minlength=x.shape[0]).astype(np.int64), c.astype(np.int32), x[r, c].astype(np.float32)


def mu_step(a: np.ndarray, ratio: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """``a * ratio ** gamma``: the multiplicative update, over-relaxed for ``gamma > 1`` (``gamma == 1``: Lee &
    Seung's, bit for bit). Exponents in (0, 2) keep the KL fixed points locally stable (Badeau, Bertin & Vincent
    2010); the caller guards the descent (:func:`.nmf._kl_in_memory`)."""
    return a * ratio if gamma == 1.0 else a * ratio**gamma


_ONES4 = np.ones(4)  # the unused H sums of a sweep without the W update


def _rows4(h: np.ndarray) -> np.ndarray:
    """(k <= 4, channels) -> contiguous (4, channels) float64, extra rows zero: H as the dense sweeps read it."""
    out = np.zeros((4, h.shape[1]))
    out[: h.shape[0]] = h
    return out


def _pad4(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """(rows, k <= 4) -> contiguous (rows, 4) float64; extra columns ``fill`` (zeros: components that add exact
    zeros; the H sums of padded components are 1 so that nothing divides by zero)."""
    if a.shape[1] == 4 and a.flags.c_contiguous and a.dtype == np.float64:
        return a
    out = np.full((a.shape[0], 4), fill)
    out[:, : a.shape[1]] = a
    return out


class KLMatrix:
    """The data matrix held in memory for KL multiplicative updates: CSR (sparse counts) or dense float32."""

    def __init__(self, n: int, p: int, csr=None, dense=None, use_numba: bool | None = None):
        self.n, self.p = n, p
        self.csr = csr  # (indptr int64, indices int32, data float32)
        self.dense = dense  # (n, p) float32
        self.use_numba = numba_usable() if use_numba is None else (bool(use_numba) and numba_usable())
        if csr is not None:
            indptr = csr[0]
            self.rows = None
        else:
            indptr = np.arange(n + 1, dtype=np.int64) * p
        # the numpy route gathers a CSR chunk's non-zeros one chunk after another: the compiled sweeps' 16 chunks
        # (work for every core) only multiplied its calls (4 x 4 x 256 EDS counts, a chunk a row: NMF 0.32 -> 0.07 s;
        # per iteration, 256 x 512 CSR 1.26 -> 0.93 ms). Its dense chunks stay as they are: fewer, larger ones were
        # slower end to end (32 x 32 x 768 EELS, NMF 0.31 -> 0.35 s), their float64 temporaries leaving the cache
        sparse_numpy = csr is not None and not self.use_numba
        self.bounds = row_chunks(indptr, min_chunks=1) if sparse_numpy else row_chunks(indptr)
        self.total = (
            float(np.sum(csr[2], dtype=np.float64)) if csr is not None else float(np.sum(dense, dtype=np.float64))
        )
        # the numpy route reads a dense matrix as float64 in every sweep: a small one is converted once
        numpy_dense = dense is not None and not self.use_numba
        self._dense64 = dense.astype(np.float64) if numpy_dense and dense.size <= DENSE64_MAX_VALUES else None
        # dense rows with no zero (EELS counts): the loss needs no mask of the non-zeros there (a reduction, not a
        # mask of the whole matrix)
        self._positive_rows = dense.min(axis=1, initial=np.inf) > 0 if numpy_dense else None

    @property
    def nbytes(self) -> int:
        if self.csr is not None:
            return int(sum(a.nbytes for a in self.csr))
        return int(self.dense.nbytes)

    # -- numpy / scipy fallback --------------------------------------------------------------------------
    def _ratio_np(self, w, ht, rows_lo, rows_hi):
        """(row index per nz, col index, x, x / WH) of rows [lo, hi) for the numpy path."""
        if self.csr is not None:
            indptr, indices, data = self.csr
            a, b = int(indptr[rows_lo]), int(indptr[rows_hi])
            r = np.repeat(np.arange(rows_lo, rows_hi), np.diff(indptr[rows_lo : rows_hi + 1]))
            c = indices[a:b]
            x = data[a:b].astype(np.float64)
        else:
            blk = self.dense[rows_lo:rows_hi]
            r, c = np.nonzero(blk)
            x = blk[r, c].astype(np.float64)
            r = r + rows_lo
        wh = np.einsum("nk,nk->n", w[r], ht[c]) + EPS
        return r, c, x, x / wh

    def _dense_ratio(self, w, ht, lo, hi):
        """(x, x / WH) of dense rows [lo, hi) in float64, for the numpy path."""
        if self._dense64 is None:
            x = self.dense[lo:hi].astype(np.float64)
        else:
            x = self._dense64[lo:hi]
        model = w[lo:hi] @ ht.T
        model += EPS
        return x, np.divide(x, model, out=model)

    def w_update(self, w: np.ndarray, h: np.ndarray, gamma: float = 1.0) -> None:
        """In place: W <- W * ((R H^T) / (1 H^T)) ** gamma (:func:`mu_step`)."""
        ht = np.ascontiguousarray(h.T)
        hsum = np.maximum(h.sum(axis=1), EPS)
        if self.use_numba:
            if self.csr is not None and w.shape[1] <= 4:
                w4 = _pad4(w)
                _kernels()._w_update_csr4(*self.csr, w4, _pad4(ht), _pad4(hsum[None, :], 1.0)[0], float(gamma),
                                          self.bounds)
                w[:] = w4[:, : w.shape[1]]
            elif self.csr is not None:
                _kernels()._w_update_csr(*self.csr, w, ht, hsum, float(gamma))
            elif w.shape[1] <= 4:
                w4 = _pad4(w)
                _kernels()._w_update_dense4(self.dense, w4, _rows4(h), _pad4(hsum[None, :], 1.0)[0], float(gamma),
                                            self.bounds)
                w[:] = w4[:, : w.shape[1]]
            else:
                wc = np.ascontiguousarray(w)
                _kernels()._w_update_densek(self.dense, wc, np.ascontiguousarray(h), hsum, float(gamma), self.bounds)
                if wc is not w:
                    w[:] = wc
            return
        acc = np.zeros_like(w)
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
            if self.dense is not None:  # dense rows: BLAS on the whole chunk beats gathering its non-zeros
                acc[lo:hi] = self._dense_ratio(w, ht, int(lo), int(hi))[1] @ ht
                continue
            r, c, _, ratio = self._ratio_np(w, ht, int(lo), int(hi))
            for q in range(w.shape[1]):
                acc[lo:hi, q] = np.bincount(r - lo, weights=ratio * ht[c, q], minlength=hi - lo)
        w[:] = mu_step(w, acc / hsum[None, :], gamma)

    def _sweep(self, w: np.ndarray, ht: np.ndarray, with_loss: bool, numerator: bool = True):
        """``(W^T R)^T`` (channels, k) and ``sum_nz X log(X / WH)`` (0 without ``with_loss``) for the current W and
        H^T. The compiled sweeps always give the numerator; the numpy one skips it without ``numerator``."""
        k = w.shape[1]
        if self.use_numba:
            if self.csr is not None and k <= 4:
                num, xlog = _kernels()._sweep_csr4(*self.csr, _pad4(w), _pad4(ht), _ONES4, 1.0, self.bounds, self.p,
                                                   False, with_loss)
                return num[:, :k], xlog
            if self.csr is not None:
                return _kernels()._h_num_csr(*self.csr, np.ascontiguousarray(w), ht, self.bounds, self.p, with_loss)
            if k <= 4:
                num, xlog = _kernels()._sweep_dense4(self.dense, _pad4(w), _rows4(ht.T), _ONES4, 1.0, self.bounds,
                                                     False, with_loss)
                return num[:k].T, xlog
            num, xlog = _kernels()._sweep_densek(self.dense, np.ascontiguousarray(w), np.ascontiguousarray(ht.T),
                                                 np.ones(k), 1.0, self.bounds, False, with_loss)
            return num.T, xlog
        num = np.zeros((self.p, k))
        xlog = 0.0
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
            if self.dense is not None:
                x, ratio = self._dense_ratio(w, ht, int(lo), int(hi))
                if with_loss and self._positive_rows[lo:hi].all():  # the same sum without gathering (same bits)
                    xlog += float(np.sum(x * np.log(ratio)))
                elif with_loss:
                    nz = x > 0
                    xlog += float(np.sum(x[nz] * np.log(ratio[nz])))
                if numerator:
                    num += ratio.T @ w[lo:hi]
                continue
            r, c, x, ratio = self._ratio_np(w, ht, int(lo), int(hi))
            if with_loss:
                xlog += float(np.sum(x * np.log(ratio)))
            for q in range(k if numerator else 0):
                num[:, q] += np.bincount(c, weights=ratio * w[r, q], minlength=self.p)
        return num, xlog

    def _kl(self, xlog: float, w: np.ndarray, h: np.ndarray) -> float:
        """The loss from the sweep's ``sum X log(X / WH)``: ``- sum X + sum WH``, with ``sum WH = (W^T 1).(H 1)``."""
        return float(xlog) - self.total + float(w.sum(axis=0) @ h.sum(axis=1))

    def h_update(self, w: np.ndarray, h: np.ndarray, with_loss: bool = True, gamma: float = 1.0) -> float | None:
        """In place: H <- H * ((W^T R) / (W^T 1)) ** gamma. Returns the KL loss of (W, H) *before* the update (the
        logarithms cost as much as the rest of the sweep: ``with_loss=False`` skips them and returns None)."""
        num, xlog = self._sweep(w, np.ascontiguousarray(h.T), with_loss)
        loss = self._kl(xlog, w, h) if with_loss else None
        h[:] = mu_step(h, num.T / np.maximum(w.sum(axis=0), EPS)[:, None], gamma)
        return loss

    def iterate(self, w: np.ndarray, h: np.ndarray, with_loss: bool = True, gamma: float = 1.0) -> float | None:
        """One multiplicative-update iteration in place, :meth:`w_update` then :meth:`h_update` (same result);
        up to four components in one fused sweep over the data (sparse: its non-zeros). Returns the loss of
        (W new, H old) or None."""
        fused = self.use_numba and (w.shape[1] <= 4 or self.dense is not None)
        if not fused:
            self.w_update(w, h, gamma)
            return self.h_update(w, h, with_loss, gamma)
        k = w.shape[1]
        hsum = np.maximum(h.sum(axis=1), EPS)
        if k > 4:  # dense rows of any number of components: one fused sweep too
            wc = np.ascontiguousarray(w)
            num, xlog = _kernels()._sweep_densek(self.dense, wc, np.ascontiguousarray(h), hsum, float(gamma),
                                                 self.bounds, True, with_loss)
            if wc is not w:
                w[:] = wc
            loss = self._kl(xlog, w, h) if with_loss else None
            h[:] = mu_step(h, num / np.maximum(w.sum(axis=0), EPS)[:, None], gamma)
            return loss
        w4 = _pad4(w)
        if self.csr is not None:
            num, xlog = _kernels()._sweep_csr4(*self.csr, w4, _pad4(np.ascontiguousarray(h.T)),
                                               _pad4(hsum[None, :], 1.0)[0], float(gamma), self.bounds, self.p, True,
                                               with_loss)
        else:
            num, xlog = _kernels()._sweep_dense4(self.dense, w4, _rows4(h), _pad4(hsum[None, :], 1.0)[0],
                                                 float(gamma), self.bounds, True, with_loss)
            num = num.T
        if w4 is not w:
            w[:] = w4[:, :k]
        loss = self._kl(xlog, w, h) if with_loss else None
        h[:] = mu_step(h, num[:, :k].T / np.maximum(w.sum(axis=0), EPS)[:, None], gamma)
        return loss

    def loss(self, w: np.ndarray, h: np.ndarray) -> float:
        """Generalised KL divergence ``sum X log(X / WH) - X + WH`` (scikit-learn's definition)."""
        return self._kl(self._sweep(w, np.ascontiguousarray(h.T), True, numerator=False)[1], w, h)
