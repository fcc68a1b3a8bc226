"""The projector ``A`` of a :class:`ParallelGeometry` as a linear operator with ``forward`` and ``adjoint``.

``forward`` maps a stack of slices ``(n_slices, nz, nw)`` to sinograms ``(n_slices, n_angles, n_det)``
(line integrals in pixel units); ``adjoint`` is its exact transpose (a back-projection), so
``<A x, y> = <x, A^T y>`` to rounding (:func:`adjoint_mismatch`). Solvers are written against this interface
only; backends: ``"numba"`` (compiled, parallel over slices and angles / rows), ``"numpy"`` (same maths, no
compiler) or ``"auto"`` (numba when importable). A single slice ``(nz, nw)`` is accepted too.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..core.errors import DataError
from ..engine.executors import as_executor
from .geometry import ParallelGeometry


class _LazyKernels:
    """The compiled kernels, imported on first use: ``import emscale`` must not load numba (0.15 s, and small
    inputs elsewhere never need it)."""

    def __getattr__(self, name):
        return getattr(importlib.import_module(".._kernels", __name__), name)


_kernels = _LazyKernels()

BACKENDS = ("auto", "numba", "numpy")


class Projector:
    """Parallel-beam Joseph projector / back-projector of one geometry.

    Parameters
    ----------
    geometry : the :class:`ParallelGeometry`.
    backend : ``"auto"``, ``"numba"`` or ``"numpy"``.

    Example
    -------
    >>> A = Projector(ParallelGeometry(np.linspace(-70, 70, 36), n_det=64))
    >>> sino = A.forward(np.ones((64, 64), np.float32))     # (36, 64)
    >>> back = A.adjoint(sino)                               # (64, 64)
    """

    def __init__(self, geometry: ParallelGeometry, backend: str = "auto"):
        if backend not in BACKENDS:
            raise DataError(f"backend {backend!r} is not one of {BACKENDS}")
        if backend == "numba" and not _kernels.HAVE_NUMBA:
            raise DataError("backend 'numba' requested but numba is not importable; use 'numpy' or 'auto'")
        self.geometry = geometry
        self.backend = backend_as_run(backend)
        g = geometry
        self._args = (g.cos_.astype(np.float64), g.sin_.astype(np.float64), g.rows.copy(), g.det_centre)

    def __repr__(self) -> str:
        g = self.geometry
        return f"<Projector {g.n_angles} angles, slice {g.nz}x{g.nw} -> {g.n_det} bins, {self.backend}>"

    @staticmethod
    def _stack(x, shape: tuple[int, int], what: str) -> tuple[np.ndarray, bool]:
        x = np.asarray(x)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != shape:
            raise DataError(f"{what} has shape {x.shape}; expected (n_slices, {shape[0]}, {shape[1]}) or {shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not x.dtype.isnative:
            x = x.astype(np.float32)
        return x, single

    def forward(self, vol) -> np.ndarray:
        """Projections of slices ``vol`` (n_slices, nz, nw) -> sinograms (n_slices, n_angles, n_det) float32."""
        x, single = self._stack(vol, self.geometry.vol_shape, "volume")
        fn = _kernels.forward_numba if self.backend == "numba" else _kernels.forward_numpy
        out = fn(x, *self._args, self.geometry.n_det)
        return out[0] if single else out

    def adjoint(self, sino) -> np.ndarray:
        """Back-projection (the transpose of :meth:`forward`) of sinograms -> slices (n_slices, nz, nw)."""
        y, single = self._stack(sino, self.geometry.sino_shape, "sinogram")
        fn = _kernels.adjoint_numba if self.backend == "numba" else _kernels.adjoint_numpy
        out = fn(y, *self._args, self.geometry.vol_shape)
        return out[0] if single else out

    T = adjoint

    # Slices last: ``(nz, nw, ns)`` <-> ``(n_angles, n_det, ns)``, the compiled kernels' own layout, which
    # iterative solvers keep between iterations (no transposes per iteration).
    def forward_last(self, vol: np.ndarray) -> np.ndarray:
        """:meth:`forward` of slices stacked last, ``(nz, nw, ns)`` -> ``(n_angles, n_det, ns)`` float32."""
        vol = np.ascontiguousarray(vol, np.float32)
        if self.backend == "numba":
            return _kernels.forward_last(vol, *self._args, self.geometry.n_det)
        return _kernels.to_last(self.forward(_kernels.to_first(vol)))

    def adjoint_last(self, sino: np.ndarray) -> np.ndarray:
        """:meth:`adjoint` of sinograms stacked last, ``(n_angles, n_det, ns)`` -> ``(nz, nw, ns)`` float32."""
        sino = np.ascontiguousarray(sino, np.float32)
        if self.backend == "numba":
            return _kernels.adjoint_last(sino, *self._args, self.geometry.vol_shape)
        return _kernels.to_last(self.adjoint(_kernels.to_first(sino)))

    def backproject(self, sino) -> np.ndarray:
        """Pixel-driven back-projection with linear interpolation along the detector (the classic FBP
        back-projector, sharper than :meth:`adjoint`, which is the exact transpose of :meth:`forward`)."""
        y, single = self._stack(sino, self.geometry.sino_shape, "sinogram")
        fn = _kernels.backproject_numba if self.backend == "numba" else _kernels.backproject_numpy
        out = fn(y, *self._args[:2], self._args[3], self.geometry.vol_shape)
        return out[0] if single else out

    def norm(self, n_iter: int = 30, seed: int = 0) -> float:
        """Largest singular value ``||A||_2`` by power iteration on ``A^T A`` from a seeded random slice."""
        x = np.random.default_rng(seed).random(self.geometry.vol_shape).astype(np.float32)
        lam = 0.0
        for _ in range(n_iter):
            x = self.adjoint(self.forward(x))
            lam = float(np.linalg.norm(x))
            x = (x / lam).astype(np.float32)
        return float(np.sqrt(lam))


def adjoint_mismatch(A: Projector, n_slices: int = 2, seed: int = 0) -> float:
    """Relative dot-product test ``|<A x, y> - <x, A^T y>| / |<A x, y>|`` with seeded random ``x``, ``y``."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_slices,) + A.geometry.vol_shape).astype(np.float32)
    y = rng.random((n_slices,) + A.geometry.sino_shape).astype(np.float32)
    ax = A.forward(x).astype(np.float64)
    aty = A.adjoint(y).astype(np.float64)
    lhs = float(np.sum(ax * y))
    rhs = float(np.sum(x * aty))
    return abs(lhs - rhs) / abs(lhs)


# Slices a partition holds where the caller does not say (``slices_per_partition=None``). The projector applies
# each ray's weights to every slice of a block in its innermost loop, so a block of 8 slices spends most of its time
# outside that loop. Measured 2026-12-05 (2 cores, two threads, numba): TV at 200 iterations on 64 slices of 256 x
# 256 from 61 tilts 57.4 / 33.1 / 22.3 / 27.5 s with 8 / 16 / 32 / 64 slices a partition (SIRT 27.4 / 15.0 / 9.4 /
# 7.6 s); 128 slices of 128 x 128: TV 27.9 / 15.5 / 10.7 / 8.5 / 12.8 s with 8 / 16 / 32 / 64 / 128 (one partition
# leaves the second thread idle). Same bits in every case. A partition is at most PARTITION_VOXELS voxels (32 MB of
# float32 an array: 8 slices of 1024 x 1024, as before), and at least MIN_PARTITION_SLICES slices where it fits
PARTITION_VOXELS = 1 << 23
MIN_PARTITION_SLICES = 8


def backend_as_run(backend: str) -> str:
    """The projector backend that ``backend`` runs: ``"auto"`` is numba where it is installed, else numpy."""
    if backend == "auto":
        return "numba" if _kernels.HAVE_NUMBA else "numpy"
    return backend


def partition_slices(n_slices: int, geometry: ParallelGeometry, executor=None) -> int:
    """Slices a partition of a reconstruction holds by default: the series shared out over the executor's workers
    (one partition each) but at least :data:`MIN_PARTITION_SLICES`, and no partition over :data:`PARTITION_VOXELS`
    voxels. The bits do not depend on it."""
    workers = as_executor(executor).workers()
    most = max(1, PARTITION_VOXELS // (geometry.nz * geometry.n_det))
    return int(min(most, max(MIN_PARTITION_SLICES, -(-n_slices // workers))))
