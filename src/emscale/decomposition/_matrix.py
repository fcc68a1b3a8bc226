"""The data seen as a (pixels x channels) matrix, with masks, Poisson weights and centring applied per block.

Every product with the matrix is a pass (:func:`emscale.engine.run_pass`) over navigation partitions: a block
is read, reshaped to (pixels, channels), converted to float64 *one block at a time*, masked, weighted and
centred, and multiplied. Nothing full-size is ever materialised, so the same code runs on numpy, dask and zarr
data with any executor. Partials merge in partition order, hence the results do not depend on the executor.

Conventions (those of HyperSpy's ``normalize_poissonian_noise``, Keenan & Kotula 2004)::

    aG[i] = sum_j X[i, j]  over kept channels      (per-pixel total)
    bH[j] = sum_i X[i, j]  over kept pixels        (per-channel total)
    Xw[i, j] = X[i, j] / (sqrt(aG[i]) * sqrt(bH[j]))   (zeros in aG / bH are replaced by 1)

With this scaling the Poisson noise of ``Xw`` has variance ~ ``1 / sum(X)`` everywhere; the rank estimate
(:mod:`.rank`) estimates that level from the data, so it does not depend on the overall scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Pass, run_pass
from ..errors import DataError


@dataclass
class Sums:
    """Results of the first (statistics) pass."""

    row_sums: np.ndarray  # (n_kept_pixels,) per-pixel totals over kept channels
    col_sums: np.ndarray  # (n_kept_channels,) per-channel totals over kept pixels
    n_nonfinite: int
    n_negative: int
    minimum: float
    col_sq_over_row: np.ndarray  # sum_i X_ij^2 / aG_i  (for the weighted Frobenius norm)
    col_over_sqrt_row: np.ndarray  # sum_i X_ij / sqrt(aG_i) (for the weighted mean)
    col_sq: np.ndarray  # sum_i X_ij^2 (unweighted Frobenius norm)


def _merge_sums(a, b):
    return (
        a[0] + b[0],  # list of row-sum arrays
        a[1] + b[1],
        a[2] + b[2],
        a[3] + b[3],
        min(a[4], b[4]),
        a[5] + b[5],
        a[6] + b[6],
        a[7] + b[7],
    )


class DataMatrix:
    """Pass-based linear algebra on a Signal's data viewed as a (kept pixels x kept channels) matrix.

    Parameters
    ----------
    data : numpy, dask or zarr array in numpy order (navigation dims first).
    nav_ndim : number of navigation dimensions.
    keep_pixels, keep_channels : flat boolean arrays (numpy order) of the pixels / channels used, or None.
    """

    def __init__(self, data, nav_ndim: int, keep_pixels=None, keep_channels=None, executor=None, progress=None):
        self.data = data
        self.nav_ndim = nav_ndim
        shape = tuple(int(n) for n in data.shape)
        self.nav_shape = shape[:nav_ndim]
        self.sig_shape = shape[nav_ndim:]
        self.n_pixels_total = int(np.prod(self.nav_shape, dtype=np.int64))
        self.n_channels_total = int(np.prod(self.sig_shape, dtype=np.int64))
        self.inner = int(np.prod(self.nav_shape[1:], dtype=np.int64))  # pixels per first-dim row
        self.keep_pixels = keep_pixels
        self.keep_channels = keep_channels
        self.n_pixels = int(keep_pixels.sum()) if keep_pixels is not None else self.n_pixels_total
        self.n_channels = int(keep_channels.sum()) if keep_channels is not None else self.n_channels_total
        # kept-pixel offset of each pixel (for indexing per-pixel arrays restricted to kept pixels)
        self._kept_before = None if keep_pixels is None else np.concatenate([[0], np.cumsum(keep_pixels)])
        self.executor = executor
        self.progress = progress
        # set by configure()
        self.row_scale: np.ndarray | None = None  # 1/sqrt(aG) for kept pixels
        self.col_scale: np.ndarray | None = None  # 1/sqrt(bH) for kept channels
        self.mean: np.ndarray | None = None  # weighted column mean subtracted from each row
        self.sums: Sums | None = None

    # -- block access --------------------------------------------------------------------------------------
    def _kept_range(self, rows: slice) -> tuple[int, int, np.ndarray | None]:
        p0 = rows.start * self.inner
        p1 = rows.stop * self.inner
        if self.keep_pixels is None:
            return p0, p1, None
        return int(self._kept_before[p0]), int(self._kept_before[p1]), self.keep_pixels[p0:p1]

    def raw_block(self, block: np.ndarray, rows: slice) -> tuple[np.ndarray, int, int]:
        """(pixels, channels) view of the kept part of one block (not converted), and its kept-row range."""
        x = block.reshape(-1, self.n_channels_total)
        if self.keep_channels is not None:
            x = x[:, self.keep_channels]
        k0, k1, keep = self._kept_range(rows)
        if keep is not None:
            x = x[keep]
        return x, k0, k1

    def block(self, block: np.ndarray, rows: slice) -> tuple[np.ndarray, int, int]:
        """The weighted, centred float64 (pixels, channels) matrix of one block: a new block-size array."""
        x, k0, k1 = self.raw_block(block, rows)
        x = np.array(x, dtype=np.float64, copy=True)
        if self.row_scale is not None:
            x *= self.row_scale[k0:k1, None]
        if self.col_scale is not None:
            x *= self.col_scale[None, :]
        if self.mean is not None:
            x -= self.mean[None, :]
        return x, k0, k1

    def run(self, p: Pass):
        # Blocks become float64 (pixels x channels) arrays with a temporary or two: size the partitions by that
        # expanded size, not by the stored bytes (a uint16 block grows 4x).
        from ..engine import passes

        grow = max(1, 8 // np.dtype(self.data.dtype).itemsize)
        return run_pass(self.data, p, executor=self.executor, progress=self.progress,
                        partition_bytes=max(passes.DEFAULT_PARTITION_BYTES // grow, 1 << 20))

    # -- the statistics pass -------------------------------------------------------------------------------
    def statistics(self) -> Sums:
        """One pass: per-pixel and per-channel totals, NaN/inf and negative counts, weighted-norm helpers."""
        acc = self.run(Pass(self._statistics_block, _merge_sums, name="decomposition-statistics"))
        return self._set_sums(acc)

    def _set_sums(self, acc) -> Sums:
        rows = np.concatenate(acc[0]) if acc[0] else np.zeros(0)
        self.sums = Sums(rows, *acc[1:])
        return self.sums

    def _statistics_block(self, block, rows):
        """One block's share of the statistics (also used by the single-pass sketch)."""
        x, _, _ = self.raw_block(block, rows)
        xf = np.asarray(x, dtype=np.float64)
        if x.dtype.kind in "fc":
            fin = np.isfinite(xf)
            n_bad = int(xf.size - np.count_nonzero(fin))
            if n_bad:
                xf = np.where(fin, xf, 0.0)
        else:
            n_bad = 0
        rs = xf.sum(axis=1)
        n_neg = 0 if x.dtype.kind in "bu" else int(np.count_nonzero(xf < 0))
        mn = float(xf.min()) if xf.size else np.inf
        rs1 = np.where(rs == 0, 1.0, rs)
        # Weighted column sums as matrix-vector products: one block-size temporary (x^2) instead of four.
        x2 = xf * xf
        sq = (1.0 / rs1) @ x2
        osr = (1.0 / np.sqrt(np.abs(rs1))) @ xf
        return ([rs], xf.sum(axis=0), n_bad, n_neg, mn, sq, osr, x2.sum(axis=0))

    # -- the single-pass sketch ----------------------------------------------------------------------------
    def single_pass_sketch(self, ell: int, ell_co: int, n_test: int, seed: int, poisson: bool):
        """ONE read of the data (Tropp, Yurtsever, Udell & Cevher 2017/2019): the statistics, the range sketch
        ``Y = Xr Omega``, the co-range sketch ``W = Psi Xr`` and an error-test sketch ``Z = Theta Xr``, where
        ``Xr`` is the data with the per-pixel Poisson weight (known inside each block) applied. The per-channel
        weight needs the whole pass; as a diagonal right factor it leaves the range of ``Y`` unchanged and is
        applied to ``W`` and ``Z`` afterwards (``Psi Xw = (Psi Xr) Dc``). ``Psi`` and ``Theta`` are drawn per
        first-dimension row from ``(seed, row)``, so nothing depends on the partitioning or the executor.
        """
        p = self.n_channels
        omega = np.random.default_rng([seed, 0]).standard_normal((p, ell))

        def m(block, rows):
            stats = self._statistics_block(block, rows)
            x, k0, k1 = self.raw_block(block, rows)
            x = np.array(x, dtype=np.float64, copy=True)
            x[~np.isfinite(x)] = 0.0
            if poisson:
                rs = x.sum(axis=1)
                x /= np.sqrt(np.where(rs <= 0, 1.0, rs))[:, None]
            psi, theta = self._row_gaussians(rows, seed, (ell_co, n_test))
            return (stats, [x @ omega], psi @ x, theta @ x)

        def merge(a, b):
            return (_merge_sums(a[0], b[0]), a[1] + b[1], a[2] + b[2], a[3] + b[3])

        stats, ys, w, z = self.run(Pass(m, merge, name="decomposition-single-pass"))
        self._set_sums(stats)
        return np.concatenate(ys, axis=0), w, z, omega

    def _row_gaussians(self, rows: slice, seed: int, heights: tuple[int, ...]) -> list[np.ndarray]:
        """Wide Gaussian test matrices restricted to the kept pixels of first-dim rows ``rows``."""
        out = []
        for j, h in enumerate(heights):
            parts = [np.random.default_rng([seed, 1 + j, r]).standard_normal((h, self.inner))
                     for r in range(rows.start, rows.stop)]
            g = np.concatenate(parts, axis=1)
            if self.keep_pixels is not None:
                g = g[:, self.keep_pixels[rows.start * self.inner : rows.stop * self.inner]]
            out.append(g)
        return out

    def configure(self, poisson: bool, centre: bool) -> None:
        """Set the Poisson weights (HyperSpy's convention) and the centring from the statistics pass."""
        st = self.sums if self.sums is not None else self.statistics()
        if poisson:
            ag = np.where(st.row_sums == 0, 1.0, st.row_sums)
            bh = np.where(st.col_sums == 0, 1.0, st.col_sums)
            if np.any(ag < 0) or np.any(bh < 0):
                raise DataError("Poisson weighting needs non-negative per-pixel and per-channel totals")
            self.row_scale = 1.0 / np.sqrt(ag)
            self.col_scale = 1.0 / np.sqrt(bh)
            self.root_ag = np.sqrt(ag)
            self.root_bh = np.sqrt(bh)
        else:
            self.row_scale = self.col_scale = None
            self.root_ag = np.ones(self.n_pixels)
            self.root_bh = np.ones(self.n_channels)
        self.mean = None
        if centre:
            if poisson:
                self.mean = st.col_over_sqrt_row * self.col_scale / self.n_pixels
            else:
                self.mean = st.col_sums / self.n_pixels

    def frobenius_sq(self) -> float:
        """||Xw - 1 mean^T||_F^2 from the statistics pass (no extra pass)."""
        st = self.sums
        if self.col_scale is not None:
            total = float(np.sum(st.col_sq_over_row * self.col_scale**2))
        else:
            total = float(np.sum(st.col_sq))
        if self.mean is not None:
            total -= self.n_pixels * float(self.mean @ self.mean)
        return max(total, 0.0)

    # -- products ------------------------------------------------------------------------------------------
    def gram(self, noise_seed: int | None = None):
        """C = Xw^T Xw (channels x channels), accumulated in float64 in partition order.

        With ``noise_seed`` (Poisson data) the same pass also accumulates the Gram matrix of a *noise-only*
        matrix with the data's variance profile, ``Z = sqrt(X) * G`` weighted like ``Xw`` (G standard normal,
        drawn per first-dimension row from ``(noise_seed, row)`` so it does not depend on the partitioning or
        the executor): its top eigenvalue is the noise edge used by the parallel-analysis rank estimate.
        Returns C, or (C, C_noise).
        """

        def m(block, rows):
            x, k0, k1 = self.block(block, rows)
            c = x.T @ x
            if noise_seed is None:
                return c
            raw, _, _ = self.raw_block(block, rows)
            z = np.sqrt(np.maximum(np.asarray(raw, dtype=np.float64), 0.0))
            g = self._noise(rows, z.shape[0])
            z *= g
            if self.row_scale is not None:
                z *= self.row_scale[k0:k1, None]
            if self.col_scale is not None:
                z *= self.col_scale[None, :]
            return (c, z.T @ z)

        self._noise_seed = noise_seed
        if noise_seed is None:
            c = self.run(Pass(m, lambda a, b: a + b, name="decomposition-gram"))
            return 0.5 * (c + c.T)
        c, cn = self.run(Pass(m, lambda a, b: (a[0] + b[0], a[1] + b[1]), name="decomposition-gram"))
        return 0.5 * (c + c.T), 0.5 * (cn + cn.T)

    def _noise(self, rows: slice, n_kept: int) -> np.ndarray:
        """Standard normals for the kept pixels/channels of first-dim rows ``rows`` (row-seeded)."""
        parts = []
        for r in range(rows.start, rows.stop):
            g = np.random.default_rng([self._noise_seed, r]).standard_normal((self.inner, self.n_channels_total))
            parts.append(g)
        g = np.concatenate(parts, axis=0)
        if self.keep_channels is not None:
            g = g[:, self.keep_channels]
        if self.keep_pixels is not None:
            g = g[self.keep_pixels[rows.start * self.inner : rows.stop * self.inner]]
        assert g.shape[0] == n_kept
        return g

    def matmul(self, b: np.ndarray, name: str = "decomposition-XB") -> np.ndarray:
        """Xw @ b for b (channels, k): a tall (kept pixels, k) matrix, partials concatenated."""

        def m(block, rows):
            x, _, _ = self.block(block, rows)
            return x @ b

        return self.run(Pass(m, None, name=name))

    def rmatmul(self, a: np.ndarray, name: str = "decomposition-XtA") -> np.ndarray:
        """Xw^T @ a for a tall (kept pixels, k) matrix: a (channels, k) matrix."""

        def m(block, rows):
            x, k0, k1 = self.block(block, rows)
            return x.T @ a[k0:k1]

        return self.run(Pass(m, lambda u, v: u + v, name=name))

    def product_gram(self, b: np.ndarray, name: str = "decomposition-YtY") -> np.ndarray:
        """(Xw b)^T (Xw b) for b (channels, l): an (l, l) matrix; the tall Xw b is never stored."""

        def m(block, rows):
            y = self.block(block, rows)[0] @ b
            return y.T @ y

        return self.run(Pass(m, lambda u, v: u + v, name=name))

    def normal_product(self, b: np.ndarray, name: str = "decomposition-XtXB") -> np.ndarray:
        """Xw^T (Xw b) for b (channels, l): a (channels, l) matrix; the tall Xw b is never stored."""

        def m(block, rows):
            x = self.block(block, rows)[0]
            return x.T @ (x @ b)

        return self.run(Pass(m, lambda u, v: u + v, name=name))

    def take_rows(self, kept_indices: np.ndarray, weighted: bool = False) -> np.ndarray:
        """Rows (spectra) of the kept pixels with the given kept-pixel indices, in float64."""
        kept_indices = np.asarray(kept_indices, dtype=np.int64)

        def m(block, rows):
            if weighted:
                x, k0, k1 = self.block(block, rows)
            else:
                x, k0, k1 = self.raw_block(block, rows)
            sel = (kept_indices >= k0) & (kept_indices < k1)
            return (np.nonzero(sel)[0], np.asarray(x[kept_indices[sel] - k0], dtype=np.float64))

        def merge(u, v):
            return (np.concatenate([u[0], v[0]]), np.concatenate([u[1], v[1]]))

        where, spectra = self.run(Pass(m, merge, name="decomposition-take"))
        out = np.empty((len(kept_indices), self.n_channels))
        out[where] = spectra
        return out

    # -- shapes --------------------------------------------------------------------------------------------
    def expand_pixels(self, a: np.ndarray, fill=np.nan) -> np.ndarray:
        """(kept pixels, ...) -> (all pixels, ...) with ``fill`` in masked pixels."""
        if self.keep_pixels is None:
            return a
        out = np.full((self.n_pixels_total,) + a.shape[1:], fill, dtype=np.result_type(a, np.float64))
        out[self.keep_pixels] = a
        return out

    def expand_channels(self, f: np.ndarray, fill=np.nan) -> np.ndarray:
        """(kept channels, ...) -> (all channels, ...) with ``fill`` in masked channels."""
        if self.keep_channels is None:
            return f
        out = np.full((self.n_channels_total,) + f.shape[1:], fill, dtype=np.result_type(f, np.float64))
        out[self.keep_channels] = f
        return out
