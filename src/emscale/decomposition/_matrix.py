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

Inside a partition the products work on *chunks* of a few MB (:meth:`DataMatrix._chunks`), so that the
converted, weighted rows stay in the CPU caches between the conversion and the matrix products, and a task's
temporaries do not grow with the partition. Products with tall-and-skinny results apply the diagonal weights to
the small factors instead of the block (``Xw c = Dr (X (Dc c)) - 1 (m^T c)``), and where the data are exactly
representable in float32 (counts up to 16 bits, float32 data) and not centred, the randomized solver's products
run in float32 BLAS (the merged products accumulate in float64). The Gram matrix of the exact solver stays
float64 throughout.

Every pass folds each partial into the running result as soon as the partials before it are in
(``run_pass(..., fold=True)``): the same left-to-right merge in partition order, hence the same bits, but on
executors that stream (inline, threads) a pass holds only the partials in flight instead of one per partition (a
2048 x 2048 Gram partial is 34 MB). Partials with several parts are named records with a ``merge`` method
(:class:`StatisticsPartial`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError
from ..engine import InlineExecutor, Pass, passes, run_pass
from ._jit import use_numba_dense

# Smallest partition (bytes of the stored rows) a DataMatrix pass uses.
MIN_PARTITION_BYTES = 1 << 20
# Working set of one chunk (converted rows) inside a partition: small enough to stay in the caches.
CHUNK_BYTES = 2 * 2**20
# Chunks of the Gram pass (syrk: bigger chunks amortise the update of the channels x channels accumulator).
GRAM_CHUNK_BYTES = 8 * 2**20


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
    nnz_sq: float = np.nan  # sum over pixels of (non-zeros in the pixel)^2: the sparse Gram's work (NaN: not counted)
    n_fractional: int = 0  # > 0 when some finite value is not a whole number (counted in the first chunk with any)
    # fractional floats that are all whole multiples of one positive value (counts times a gain): that value, else
    # NaN (see :func:`quantum_of`)
    quantum: float = np.nan
    n_at_ceiling: int = 0  # values at the largest number an 8- or 16-bit integer holds (a saturated detector)


def saturation_ceiling(dtype) -> int | None:
    """The largest value of an 8- or 16-bit integer dtype, where a saturated detector or a clipping export leaves
    its counts; None for other dtypes (32-bit counters do not fill)."""
    dtype = np.dtype(dtype)
    return int(np.iinfo(dtype).max) if dtype.kind in "iu" and dtype.itemsize <= 2 else None


# -- partial results of the passes: named records, merged in partition order ---------------------------------------
@dataclass
class StatisticsPartial:
    """One partition's share of the statistics pass; the fields of :class:`Sums`, with ``row_sums`` a list of
    per-partition arrays (concatenated once, at the end)."""

    row_sums: list
    col_sums: np.ndarray
    n_nonfinite: int
    n_negative: int
    minimum: float
    col_sq_over_row: np.ndarray
    col_over_sqrt_row: np.ndarray
    col_sq: np.ndarray
    nnz_sq: float
    n_fractional: int = 0
    quantum: float = np.nan  # of this partition's fractional values (None: none seen yet; NaN: none fits)
    n_at_ceiling: int = 0

    def merge(self, other: StatisticsPartial) -> StatisticsPartial:
        return StatisticsPartial(
            self.row_sums + other.row_sums,
            self.col_sums + other.col_sums,
            self.n_nonfinite + other.n_nonfinite,
            self.n_negative + other.n_negative,
            min(self.minimum, other.minimum),
            self.col_sq_over_row + other.col_sq_over_row,
            self.col_over_sqrt_row + other.col_over_sqrt_row,
            self.col_sq + other.col_sq,
            self.nnz_sq + other.nnz_sq,
            self.n_fractional + other.n_fractional,
            merge_quanta(self.quantum, other.quantum),
            self.n_at_ceiling + other.n_at_ceiling,
        )

    def sums(self) -> Sums:
        rows = np.concatenate(self.row_sums) if self.row_sums else np.zeros(0)
        return Sums(rows, self.col_sums, self.n_nonfinite, self.n_negative, self.minimum, self.col_sq_over_row,
                    self.col_over_sqrt_row, self.col_sq, self.nnz_sq, self.n_fractional,
                    np.nan if self.quantum is None or not self.n_fractional else self.quantum, self.n_at_ceiling)


@dataclass
class SketchedStatisticsPartial:
    """The statistics and the randomized solver's first products ``n = X^T Dr Y``, ``g = Y^T Y``
    (:meth:`DataMatrix.statistics` with ``sketch``)."""

    stats: StatisticsPartial
    n: np.ndarray
    g: np.ndarray

    def merge(self, other: SketchedStatisticsPartial) -> SketchedStatisticsPartial:
        return SketchedStatisticsPartial(self.stats.merge(other.stats), self.n + other.n, self.g + other.g)


@dataclass
class SinglePassPartial:
    """The statistics, the range sketch rows ``ys`` (a list, concatenated at the end), the co-range sketch ``w``
    and the error-test sketch ``z`` (:meth:`DataMatrix.single_pass_sketch`)."""

    stats: StatisticsPartial
    ys: list
    w: np.ndarray
    z: np.ndarray

    def merge(self, other: SinglePassPartial) -> SinglePassPartial:
        return SinglePassPartial(self.stats.merge(other.stats), self.ys + other.ys, self.w + other.w,
                                 self.z + other.z)


@dataclass
class GramPartial:
    """Upper triangles of the Gram matrix ``c`` (float64) and of the noise Gram matrix ``noise`` (float32 within a
    partition, float64 once merged; None without noise), merged in place."""

    c: np.ndarray
    noise: np.ndarray | None

    def merge(self, other: GramPartial) -> GramPartial:
        self.c += other.c
        if self.noise is not None:
            if self.noise.dtype != np.float64:
                self.noise = self.noise.astype(np.float64)
            self.noise += other.noise
        return self


@dataclass
class PowerPartial:
    """One power-iteration read (:meth:`DataMatrix.sketch_products`): ``g = Y^T Y``, ``n = X^T Dr Y``, the column
    sums ``s`` of ``Y`` (centred data) and the tall ``Y`` rows (a list; empty unless asked for), merged in place."""

    g: np.ndarray
    n: np.ndarray
    s: np.ndarray
    ys: list

    def merge(self, other: PowerPartial) -> PowerPartial:
        self.g += other.g
        self.n += other.n
        self.s += other.s
        self.ys += other.ys
        return self


@dataclass
class TakenRows:
    """Rows taken from a partition (:meth:`DataMatrix.take_rows`): their positions in the request and values."""

    where: np.ndarray
    spectra: np.ndarray

    def merge(self, other: TakenRows) -> TakenRows:
        return TakenRows(np.concatenate([self.where, other.where]), np.concatenate([self.spectra, other.spectra]))


def _sym_from_upper(c: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose upper triangle is that of ``c`` (syrk fills one triangle)."""
    u = np.triu(c)
    u += np.triu(c, 1).T
    return u


def _exact_in_float32(dtype) -> bool:
    dt = np.dtype(dtype)
    return dt.kind == "b" or (dt.kind in "iu" and dt.itemsize <= 2) or (dt.kind == "f" and dt.itemsize <= 4)


def _channel_index(keep: np.ndarray | None):
    """``keep`` (flat boolean) as a slice when its True entries are one contiguous run, else itself."""
    if keep is None:
        return None
    idx = np.flatnonzero(keep)
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return keep


class _ArrayOutline:
    """What a DataMatrix sent to a worker keeps of its in-memory data: shape and dtype, not the numbers."""

    def __init__(self, a: np.ndarray):
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim


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
        # Kept channels in one run (the EDS zero-energy peak, an energy range) are a slice: a view, where a
        # boolean mask gathers (copies) every block in every pass (+0.6 s per solve on the benchmark cube).
        self._channels = _channel_index(keep_channels)
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
        # the randomized solver's first products, taken by statistics(sketch=): {(ell, seed, poisson): products}
        self.sketches: dict = {}

    def __getstate__(self):
        # A pass's tasks close over the matrix and travel to cluster workers: the executor (a Dask client, with
        # its event loop) and the progress callback belong to the client side and cannot be pickled.
        state = self.__dict__.copy()
        state["executor"] = state["progress"] = None
        if isinstance(state.get("data"), np.ndarray):  # the tasks get their blocks; the whole array stays here
            state["data"] = _ArrayOutline(state["data"])
        return state

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
            x = x[:, self._channels]
        k0, k1, keep = self._kept_range(rows)
        if keep is not None:
            x = x[keep]
        return x, k0, k1

    def block(self, block: np.ndarray, rows: slice) -> tuple[np.ndarray, int, int]:
        """The weighted, centred float64 (pixels, channels) matrix of one block: a new block-size array."""
        x, k0, k1 = self.raw_block(block, rows)
        return self._weigh(x, k0, k1), k0, k1

    def _chunks(self, block: np.ndarray, rows: slice, nbytes: int = CHUNK_BYTES, itemsize: int = 8):
        """The kept part of one block in chunks of about ``nbytes`` (at ``itemsize`` bytes per value), not
        converted: yields ``(x, k0, k1, a, b)`` with ``x`` the (kept pixels, kept channels) rows of the block's
        pixels ``a:b`` (counted from the block's first pixel) and ``k0:k1`` their kept-pixel range. The
        chunking depends on the partition only, never on the executor."""
        xa = block.reshape(-1, self.n_channels_total)
        n = xa.shape[0]
        p0 = rows.start * self.inner
        step = max(1, nbytes // max(1, self.n_channels * itemsize))
        for a in range(0, n, step):
            b = min(a + step, n)
            x = xa[a:b]
            if self.keep_pixels is None:
                k0, k1 = p0 + a, p0 + b
            else:
                k0, k1 = int(self._kept_before[p0 + a]), int(self._kept_before[p0 + b])
                x = x[self.keep_pixels[p0 + a : p0 + b]]
            if self.keep_channels is not None:
                x = x[:, self._channels]
            yield x, k0, k1, a, b

    def _weigh(self, x: np.ndarray, k0: int, k1: int) -> np.ndarray:
        """Weighted, centred float64 copy of kept rows ``k0:k1`` (what :meth:`block` does to a whole block)."""
        x = np.array(x, dtype=np.float64, copy=True)
        if self.row_scale is not None:
            x *= self.row_scale[k0:k1, None]
        if self.col_scale is not None:
            x *= self.col_scale[None, :]
        if self.mean is not None:
            x -= self.mean[None, :]
        return x

    @property
    def product_dtype(self) -> np.dtype:
        """Precision of the block products of the randomized solver: float32 where the data are exact in float32
        (integers of up to 16 bits, float16/32) and not centred; float64 otherwise (the Gram matrix of the exact
        solver is always float64)."""
        return np.dtype(np.float32 if _exact_in_float32(self.data.dtype) and self.mean is None else np.float64)

    def _times(self, x: np.ndarray, k0: int, k1: int, cw: np.ndarray, mc: np.ndarray | None):
        """(x converted to cw's dtype, Xw c for the kept rows k0:k1 in float64) with ``cw = Dc c`` and
        ``mc = m^T c``: the weights act on the small factors, not on the rows."""
        xc = np.asarray(x, dtype=cw.dtype)
        y = np.asarray(xc @ cw, dtype=np.float64)
        if self.row_scale is not None:
            y *= self.row_scale[k0:k1, None]
        if mc is not None:
            y -= mc[None, :]
        return xc, y

    def _factor(self, c: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray | None]:
        cw = c if self.col_scale is None else c * self.col_scale[:, None]
        return np.ascontiguousarray(cw, dtype=dtype), (None if self.mean is None else self.mean @ c)

    def run(self, p: Pass):
        """Run ``p`` over the data with this matrix's executor and progress callback, folding partials as they
        arrive. Partitions are sized by the float64 size of their rows (nmf / mcr still convert whole blocks)."""
        partition_bytes = max(passes.float64_partition_bytes(self.data.dtype), MIN_PARTITION_BYTES)
        executor = self.executor
        if executor is None and isinstance(self.data, np.ndarray) and self.data.nbytes <= partition_bytes:
            # one partition in memory: a thread pool has nothing to share out, and starting its threads and
            # waiting on them cost more than the pass (MCR on 24 x 20 x 160: 78 passes, 3.6 s of 3.8 s on a busy
            # machine); every executor gives the same bits
            executor = InlineExecutor()
        return run_pass(self.data, p, executor=executor, progress=self.progress,
                        partition_bytes=partition_bytes, fold=True)

    # -- the statistics pass -------------------------------------------------------------------------------
    def statistics(self, sketch: tuple[int, int, bool] | None = None, nonzeros: bool = True) -> Sums:
        """One pass: per-pixel and per-channel totals, NaN/inf and negative counts, weighted-norm helpers.

        ``nonzeros``: also count each pixel's non-zeros (:attr:`Sums.nnz_sq`), which only the Gram solver's choice
        of route reads (:meth:`gram`; uncounted, it takes the BLAS route); the count costs about a third of the
        pass's arithmetic.

        ``sketch=(ell, seed, poisson)`` also takes the randomized solver's first products in the same read
        (:meth:`sketch_products` of the test matrix ``b0 = Dc^-1 Omega``, Omega standard normal (channels x ell)
        from ``seed``): the per-channel weight ``Dc`` is only known at the end of the pass, but ``Xw b0 = Dr X
        Omega`` needs only the per-pixel weight, which each block knows. Stored in :attr:`sketches` under
        ``(ell, seed, poisson)`` for :func:`.pca.randomized_pca` (uncentred PCA only). ``poisson=None`` (the
        weighting is decided by this read: floats that may be whole counts) takes the products of both.
        """
        if sketch is None:
            def m0(block, rows):
                return self._statistics_block(block, rows, nonzeros=nonzeros)

            acc = self.run(Pass(m0, StatisticsPartial.merge, name="decomposition-statistics"))
            return self._set_sums(acc)
        ell, seed = int(sketch[0]), int(sketch[1])
        # counts stored as floats are only known to be counts after this read: without the weighted products too,
        # the randomized solver took its own first sketch from another test matrix, and the same counts as uint32
        # and as float64 gave different NMF spectra (0.045 apart, review rev54 F7)
        weightings = (False, True) if sketch[2] is None else (bool(sketch[2]),)
        dtype = np.dtype(np.float32 if _exact_in_float32(self.data.dtype) else np.float64)
        omega = np.random.default_rng(seed).standard_normal((self.n_channels, ell)).astype(dtype)

        def m(block, rows):
            return self._statistics_block(block, rows, (omega, weightings), nonzeros=nonzeros)

        acc = self.run(Pass(m, SketchedStatisticsPartial.merge, name="decomposition-statistics-sketch"))
        self.sketches = {(ell, seed, weighted): {"omega": omega.astype(np.float64), "n": acc.n[j],
                                                 "g": 0.5 * (acc.g[j] + acc.g[j].T)}
                         for j, weighted in enumerate(weightings)}
        return self._set_sums(acc.stats)

    def _set_sums(self, acc: StatisticsPartial) -> Sums:
        self.sums = acc.sums()
        return self.sums

    def _statistics_block(self, block, rows, sketch=None, nonzeros: bool = True):
        """One block's share of the statistics (also used by the single-pass sketch), chunk by chunk; with
        ``sketch=(omega, weightings)`` also ``(X^T Dr Y, Y^T Y)`` for ``Y = Dr X omega``, one pair per weighting
        (Poisson: ``Dr`` the per-pixel weight, else the identity), stacked (see :meth:`statistics`)."""
        p = self.n_channels
        rss, n_bad, n_neg, mn, nnz_sq, n_frac = [], 0, 0, np.inf, (0.0 if nonzeros else np.nan), 0
        quantum = None  # no value seen yet
        n_ceil, ceiling = 0, saturation_ceiling(self.data.dtype)
        cs, sq, osr, csq = np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p)
        if sketch is not None:
            omega, weightings = sketch
            n_sk = np.zeros((len(weightings), p, omega.shape[1]))
            g_sk = np.zeros((len(weightings), omega.shape[1], omega.shape[1]))
        for x, _, _, _, _ in self._chunks(block, rows):
            if ceiling is not None:
                n_ceil += int(np.count_nonzero(np.asarray(x) == ceiling))
            xf = np.asarray(x, dtype=np.float64)
            if x.dtype.kind in "fc":
                fin = np.isfinite(xf)
                bad = int(xf.size - np.count_nonzero(fin))
                if bad:
                    n_bad += bad
                    xf = np.where(fin, xf, 0.0)
                if not n_frac:  # whole-number floats are counts stored as floats; one fraction says they are not
                    n_frac = int(np.count_nonzero(xf != np.round(xf)))
                if n_frac and (quantum is None or np.isfinite(quantum)):  # fractions, maybe of scaled counts
                    quantum = merge_quanta(quantum, quantum_of(xf))
            rs = xf.sum(axis=1)
            rss.append(rs)
            if nonzeros:
                nz = np.count_nonzero(xf, axis=1).astype(np.float64)
                nnz_sq += float(nz @ nz)
            if x.dtype.kind not in "bu":
                n_neg += int(np.count_nonzero(xf < 0))
            if xf.size:
                mn = min(mn, float(xf.min()))
            rs1 = np.where(rs == 0, 1.0, rs)
            # Weighted column sums as matrix-vector products: one chunk-size temporary (x^2) instead of four.
            x2 = xf * xf
            cs += xf.sum(axis=0)
            sq += (1.0 / rs1) @ x2
            osr += (1.0 / np.sqrt(np.abs(rs1))) @ xf
            csq += x2.sum(axis=0)
            if sketch is not None:
                xc = xf if omega.dtype == np.float64 else np.asarray(x, dtype=omega.dtype)
                y0 = np.asarray(xc @ omega, dtype=np.float64)
                # Dr, as configure() sets it; |row sum|: a negative one (background-subtracted data) rules the
                # weighting out later, and its sqrt warned in numpy's words meanwhile (a review)
                dr = (1.0 / np.sqrt(np.abs(rs1)))[:, None] if any(weightings) else None
                for j, poisson in enumerate(weightings):
                    y = y0 * dr if poisson else y0
                    g_sk[j] += y.T @ y
                    yr = y * dr if poisson else y
                    n_sk[j] += xc.T @ yr.astype(omega.dtype, copy=False)
        rs = np.concatenate(rss) if len(rss) != 1 else rss[0]
        out = StatisticsPartial([rs], cs, n_bad, n_neg, mn, sq, osr, csq, nnz_sq, n_frac, quantum, n_ceil)
        return out if sketch is None else SketchedStatisticsPartial(out, n_sk, g_sk)

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
            stats = self._statistics_block(block, rows, nonzeros=False)
            x, k0, k1 = self.raw_block(block, rows)
            x = np.array(x, dtype=np.float64, copy=True)
            x[~np.isfinite(x)] = 0.0
            if poisson:
                rs = x.sum(axis=1)
                x /= np.sqrt(np.where(rs <= 0, 1.0, rs))[:, None]
            psi, theta = self._row_gaussians(rows, seed, (ell_co, n_test))
            return SinglePassPartial(stats, [x @ omega], psi @ x, theta @ x)

        acc = self.run(Pass(m, SinglePassPartial.merge, name="decomposition-single-pass"))
        self._set_sums(acc.stats)
        return np.concatenate(acc.ys, axis=0), acc.w, acc.z, omega

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
        """||Xw - 1 mean^T||_F^2 from the statistics pass (no extra pass once it has run)."""
        st = self.sums if self.sums is not None else self.statistics()
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
        matrix with the data's variance profile, ``Z = sqrt(X) * G`` weighted like ``Xw`` (G random signs from a
        hash of ``(noise_seed, pixel, channel)``, :func:`._gram.noise_signs`, so nothing depends on the
        partitioning or the executor; signs, not Gaussians: an entry's noise energy is then exactly X, Poisson's
        variance, where a Gaussian G gives it a chi-square tail that in near-empty channels -- one count in the
        whole map -- raised the simulated noise edge up to 4.6x and hid real components at 20 counts/pixel): its
        top eigenvalue is the noise edge used by the parallel-analysis rank estimate.
        Returns C, or (C, C_noise).

        Two routes, chosen from the statistics pass (the data only): sparse count data (uncentred) go through
        :mod:`._gram`'s kernel, which multiplies only each pixel's non-zeros, data and noise together; otherwise
        each partition accumulates one triangle through BLAS ``syrk`` on chunks of its rows, in place (the noise
        Gram in float32 within a partition: only its top eigenvalue, with a 5 % margin, is used). Either way a
        task holds its partial and one chunk, not a float64 copy of its block, and, uncentred, the per-channel
        weight is applied to the merged matrices (``C = Dc (X^T Dr^2 X) Dc``), not to every row.
        """
        from scipy.linalg import blas  # the module, not its routines: tasks that travel to workers must pickle

        from . import _gram

        p = self.n_channels
        noise = noise_seed is not None
        post_scale = self.mean is None and self.col_scale is not None
        st = self.sums if self.sums is not None else self.statistics()
        sparse = self.mean is None and _gram.sparse_gram_worthwhile(st.nnz_sq, self.n_pixels, p)
        chan_ids = np.flatnonzero(self.keep_channels) if self.keep_channels is not None else np.arange(p)
        # small matrices: numpy, numba never imported
        compiled = use_numba_dense(float(self.n_pixels) * p)

        def pixel_ids(p0: int, a: int, b: int) -> np.ndarray:
            ids = np.arange(p0 + a, p0 + b)
            return ids if self.keep_pixels is None else ids[self.keep_pixels[p0 + a : p0 + b]]

        def row_weight(k0: int, k1: int):
            return None if self.row_scale is None else self.row_scale[k0:k1]

        def m_sparse(block, rows):
            acc = _gram.packed_accumulator(p, noise)
            p0 = rows.start * self.inner
            for x, k0, k1, a, b in self._chunks(block, rows, GRAM_CHUNK_BYTES):
                if x.shape[0]:
                    _gram.sparse_gram_accumulate(acc, x, row_weight(k0, k1), noise_seed,
                                                 pixel_ids(p0, a, b), chan_ids)
            return acc

        def m_dense(block, rows):
            c = np.zeros((p, p), order="F")
            cn = np.zeros((p, p), dtype=np.float32, order="F") if noise else None
            p0 = rows.start * self.inner
            for x, k0, k1, a, b in self._chunks(block, rows, GRAM_CHUNK_BYTES):
                if x.shape[0] == 0:
                    continue
                if post_scale:
                    w = np.multiply(x, self.row_scale[k0:k1, None], dtype=np.float64)
                else:
                    w = self._weigh(x, k0, k1)
                c = blas.dsyrk(1.0, w.T, beta=1.0, c=c, overwrite_c=1)  # c += w^T w (upper triangle)
                if not noise:
                    continue
                del w
                # sqrt(X) * G * Dr in float32 (Dc is applied to the merged matrix)
                z = _gram.signed_root(x, row_weight(k0, k1), noise_seed, pixel_ids(p0, a, b), chan_ids, compiled)
                cn = blas.ssyrk(1.0, z.T, beta=1.0, c=cn, overwrite_c=1)
            return GramPartial(c, cn)

        def merge_sparse(a, b):
            a += b
            return a

        if sparse:  # uncentred: the per-channel weight applied while unpacking, the same bits as below
            acc = self.run(Pass(m_sparse, merge_sparse, name="decomposition-gram-sparse"))
            c = _gram.unpack_symmetric(acc, p, 0, self.col_scale)
            return (c, _gram.unpack_symmetric(acc, p, 1, self.col_scale)) if noise else c
        acc = self.run(Pass(m_dense, GramPartial.merge, name="decomposition-gram"))
        c, cn = acc.c, acc.noise
        if post_scale:
            c *= self.col_scale[:, None]
            c *= self.col_scale[None, :]
        c = _sym_from_upper(c)  # exactly symmetric
        if not noise:
            return c
        cn = cn.astype(np.float64, copy=False)
        if self.col_scale is not None:
            cn *= self.col_scale[:, None]
            cn *= self.col_scale[None, :]
        return c, _sym_from_upper(cn)

    def matmul(self, b: np.ndarray, name: str = "decomposition-XB", dtype=np.float64) -> np.ndarray:
        """Xw @ b for b (channels, k): a tall (kept pixels, k) float64 matrix, partials concatenated; the block
        products in ``dtype`` (float64: exact)."""
        bw, mb = self._factor(b, dtype)

        def m(block, rows):
            out = [self._times(x, k0, k1, bw, mb)[1] for x, k0, k1, _, _ in self._chunks(block, rows)]
            return out[0] if len(out) == 1 else np.concatenate(out, axis=0)

        return self.run(Pass(m, None, name=name))

    def map_and_back(self, b: np.ndarray, rowmap, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pass for b (channels, k): ``C = rowmap(Xw b, k0, k1)`` chunk by chunk (kept pixels ``k0:k1``),
        and ``C^T C`` (k, k), ``C^T Xw`` (k, channels). Returns (C (kept pixels, k), C^T C, C^T Xw).

        The weights act on b and on C, never on the rows: a chunk is converted to float64 once and read by two
        products, where weighting it first costs two more sweeps over it (MCR-ALS's pass, whose products are
        k wide)."""
        bw, mb = self._factor(b, np.float64)
        k = b.shape[1]

        def m(block, rows):
            cs, ctc, ctx, csum = [], np.zeros((k, k)), np.zeros((k, self.n_channels)), np.zeros(k)
            for x, k0, k1, _, _ in self._chunks(block, rows):
                xc, y = self._times(x, k0, k1, bw, mb)
                c = rowmap(y, k0, k1)
                cs.append(c)
                ctc += c.T @ c
                cr = c if self.row_scale is None else c * self.row_scale[k0:k1, None]
                ctx += cr.T @ xc
                csum += c.sum(axis=0)
            return (cs, ctc, ctx, csum)

        def merge(u, v):
            return (u[0] + v[0], u[1] + v[1], u[2] + v[2], u[3] + v[3])

        cs, ctc, ctx, csum = self.run(Pass(m, merge, name=name))
        if self.col_scale is not None:
            ctx *= self.col_scale[None, :]
        if self.mean is not None:
            ctx -= np.outer(csum, self.mean)  # C^T Xw = (C^T Dr X) Dc - (C^T 1) m^T
        c = np.concatenate(cs, axis=0) if cs else np.zeros((0, k))
        return c, ctc, ctx

    def rmatmul(self, a: np.ndarray, name: str = "decomposition-XtA") -> np.ndarray:
        """Xw^T @ a for a tall (kept pixels, k) matrix: a (channels, k) matrix."""

        def m(block, rows):
            out = np.zeros((self.n_channels, a.shape[1]))
            for x, k0, k1, _, _ in self._chunks(block, rows):
                out += self._weigh(x, k0, k1).T @ a[k0:k1]
            return out

        return self.run(Pass(m, lambda u, v: u + v, name=name))

    def sketch_products(self, c: np.ndarray, tall: bool = False, name: str = "decomposition-power"):
        """One pass for ``c`` (channels, l): ``N = Xw^T (Xw c)`` (channels, l), ``G = (Xw c)^T (Xw c)`` (l, l),
        and with ``tall`` the tall ``Xw c`` itself (kept pixels, l), else None.

        The randomized solver's range finder needs both of the first two: ``T`` from ``eigh(G)`` makes
        ``Xw c T`` orthonormal, and then ``N T = Xw^T (Xw c T)`` is the next power-iteration product, so an
        iteration costs one read. Block products in :attr:`product_dtype`, merged in float64; the tall matrix
        from the same float products.
        """
        dtype = self.product_dtype
        cw, mc = self._factor(c, dtype)
        ell = c.shape[1]

        def m(block, rows):
            g, n, s, ys = np.zeros((ell, ell)), np.zeros((self.n_channels, ell)), np.zeros(ell), []
            for x, k0, k1, _, _ in self._chunks(block, rows, itemsize=dtype.itemsize):
                xc, y = self._times(x, k0, k1, cw, mc)
                g += y.T @ y
                yr = y if self.row_scale is None else y * self.row_scale[k0:k1, None]
                n += xc.T @ yr.astype(dtype, copy=False)
                if mc is not None:
                    s += y.sum(axis=0)
                if tall:
                    ys.append(y)
            return PowerPartial(g, n, s, ys)

        acc = self.run(Pass(m, PowerPartial.merge, name=name))
        g, n, s, ys = acc.g, acc.n, acc.s, acc.ys
        if self.col_scale is not None:
            n *= self.col_scale[:, None]
        if self.mean is not None:
            n -= np.outer(self.mean, s)  # Xw^T y = Dc X^T Dr y - m (1^T y)
        y = None
        if tall:
            y = np.concatenate(ys, axis=0) if ys else np.zeros((0, ell))
        return n, 0.5 * (g + g.T), y

    def take_rows(self, kept_indices: np.ndarray, weighted: bool = False) -> np.ndarray:
        """Rows (spectra) of the kept pixels with the given kept-pixel indices, in float64."""
        kept_indices = np.asarray(kept_indices, dtype=np.int64)

        def m(block, rows):
            if weighted:
                x, k0, k1 = self.block(block, rows)
            else:
                x, k0, k1 = self.raw_block(block, rows)
            sel = (kept_indices >= k0) & (kept_indices < k1)
            return TakenRows(np.nonzero(sel)[0], np.asarray(x[kept_indices[sel] - k0], dtype=np.float64))

        taken = self.run(Pass(m, TakenRows.merge, name="decomposition-take"))
        out = np.empty((len(kept_indices), self.n_channels))
        out[taken.where] = taken.spectra
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


QUANTUM_RTOL = 1e-6  # two partitions' quanta are one where they agree this closely


def quantum_of(x: np.ndarray) -> float | None:
    """The count quantum of ``x`` where every value is a whole multiple of one positive value (counts times a gain,
    stored as floats: a detector's scaled counts), NaN where some value is not, None where ``x`` holds no positive
    value. With zeros in ``x`` (sparse counts) the quantum is the smallest positive value; without (dense counts,
    their smallest count far above one) it is the smallest step between distinct values of a sample of them, where
    consecutive counts meet (:data:`QUANTUM_SAMPLE`), refined over the sample. An offset is not a quantum: Poisson
    counts + 0.25 step by 1 and are not whole multiples of it."""
    pos = x[x > 0]
    if pos.size == 0:
        return None if not np.any(x < 0) else np.nan
    if np.any(x < 0):
        return np.nan
    if pos.size < x.size:
        q = float(pos.min())
    else:
        sample = np.unique(pos.ravel()[:QUANTUM_SAMPLE])
        if sample.size < 2:
            return np.nan
        q = float(np.diff(sample).min())
        k = np.round(sample / q)
        q = float(sample @ k / (k @ k))  # the step's float error would grow along the values (a count of 5000)
    r = pos / q
    if not r.max() <= QUANTUM_MAX_COUNT:  # a step between two nearly equal values, not a count's quantum
        return np.nan
    # float32 values carry ~6e-8 relative error: 1e-6 of the ratio, and 1e-3 absolute, tell whole from half
    return q if bool(np.all(np.abs(r - np.round(r)) <= 1e-3 + 1e-6 * r)) else np.nan


# The most counts a value may hold for the test to tell whole multiples (its tolerance grows as 1e-6 of the count);
# a tiny step between two close values of jittered data made every value a whole multiple of it
QUANTUM_MAX_COUNT = 2**17
# Values of a dense chunk whose distinct steps give its quantum: enough for consecutive counts to meet (the counts
# of a channel spread over ~sqrt(counts) values, and a chunk holds many channels)
QUANTUM_SAMPLE = 65536


def merge_quanta(a: float | None, b: float | None) -> float | None:
    """One quantum of two partitions' (None: a partition without positive values takes the other's)."""
    if a is None:
        return b
    if b is None:
        return a
    if np.isfinite(a) and np.isfinite(b) and abs(a - b) <= QUANTUM_RTOL * max(a, b):
        return min(a, b)
    return np.nan

