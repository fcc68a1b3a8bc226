"""Reconstruct a tilt series into a calibrated volume, slice by slice, as a pass over slice partitions.

The series ``(n_tilts, ny, nx)`` is viewed slice first, ``(n_slices, n_tilts, n_det)`` (slices along the tilt
axis), and one :class:`emscale.engine.Pass` maps every partition of slices through the chosen solver
(:mod:`.reconstruction`); partials are concatenated in partition order. A slice's result depends on its own
sinogram and on quantities fixed before the pass (geometry, step sizes, the TV weight's data scale), never on
the partition it falls in, so every executor -- and every partition size -- gives the same bits.

The volume is a Signal ``(z, y, x)`` with the image calibration on ``y, x`` and the same pixel size on ``z``
(``z = 0`` at the tilt axis), ``signal_type="volume"``. The slices are centred on the tilt axis, so the axis
across it is the image's shifted by ``axis_shift``: a point's ``y, x`` in the volume are its coordinates in the
projection at zero tilt.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from ..core.atomic import scratch_beside
from ..core.axes import Axis
from ..core.errors import DataError, warn_caller
from ..core.registry import operation
from ..core.signal import Signal, derive
from ..engine import Pass, run_pass
from ..io.store import check_store_output, load_zarr
from .outofcore import reconstruct_slices_to_store, volume_chunks
from .projector import backend_as_run
from .reconstruction import SOLVERS
from .sirtiterations import AUTO as AUTO_ITER
from .sirtiterations import choose_sirt_iterations
from .slicesolver import (
    check_backend,
    check_filter,
    check_method,
    check_n_iter,
    iterations_as_run,
    n_iter_before_recorded,
    series_of,
    slice_solver,
    slices_of,
    thicker_than_detector,
    tv_weight_choice,
)
from .tiltseries import (
    angles_of,
    axis_record,
    check_series,
    perpendicular_axis,
    slice_first,
    tomo_meta,
    volume_from_slices,
)
from .tvweight import check_tv_weight

METHODS = tuple(SOLVERS)


def reconstruct_slices(
    sinograms, angles, method: str = "sirt", n_iter: int | Literal["auto"] | None = "auto", filter: str = "ramp",
    tv_weight: float | Literal["auto"] = "auto", nonnegative: bool = True, thickness: int | None = None,
    axis_shift: float = 0.0, backend: str = "auto", slices_per_partition: int | None = None, executor=None,
    progress=None, series=None,
) -> np.ndarray:
    """Reconstruct slice-first sinograms ``(n_slices, n_tilts, n_det)`` -> slices ``(n_slices, nz, n_det)``.

    Parameters
    ----------
    sinograms : numpy, dask or zarr array, read partition by partition.
    angles : degrees, one per tilt.
    method : ``"fbp"``, ``"sirt"`` or ``"tv"`` (Chambolle-Pock).
    n_iter : SIRT / TV iterations. ``"auto"`` (the default): for SIRT, the count whose reconstruction of a few
        slices from every other projection best predicts the projections left out, at most 500
        (:mod:`.sirtiterations`: clean data run long, noisy data stop before the iterations fit the noise); for TV
        200. None: the fixed 100 / 200 (:data:`.slicesolver.ITERATIONS`, SIRT's former default). The volume's
        ``metadata["Tomography"]["n_iter"]`` says how many ran, and for ``"auto"`` ``["n_iter_choice"]`` why.
    filter : FBP filter, one of ``"ramp"``, ``"shepp-logan"``, ``"hann"``.
    tv_weight : TV strength (dimensionless, see :func:`.reconstruction.tv_chambolle_pock`), or ``"auto"``: the
        candidate weight whose reconstruction of a few slices from every other projection best predicts the
        projections left out (:mod:`.tvweight`; ~0.01 on clean data, ~0.3-1 at 100 counts per pixel).
    nonnegative : SIRT and TV clip at zero.
    thickness : slice thickness ``nz`` in pixels (default ``n_det``).
    axis_shift : tilt-axis position on the detector, pixels from its centre.
    backend : projector backend (``"auto"``, ``"numba"``, ``"numpy"``).
    slices_per_partition : slices per engine partition; None: :func:`.projector.partition_slices` (the series
        shared out over the executor's workers, at least 8 slices, at most 2^23 voxels). The bits do not depend
        on it.
    executor, progress : for :func:`emscale.engine.run_pass`, every pass: the series' sums, for ``tv_weight="auto"``
        each hold-out fold, then the slices.
    series : :func:`.slicesolver.series_of` of these sinograms and parameters, where the caller has it already
        (e.g. from choosing the TV weight): the series is then not read a second time before the slices.
    """
    one, geom = slice_solver(sinograms, angles, method, n_iter, filter, tv_weight, nonnegative, thickness,
                             axis_shift, backend, executor, series, progress)
    rows = slices_of(slices_per_partition, sinograms.shape[0], geom, executor)
    return run_pass(sinograms, Pass(one, None, name=f"reconstruct[{method}]"), executor, rows=rows,
                    progress=progress)


@operation("reconstruct_tomogram", not_recorded=("scratch",),
           record={"n_iter": lambda v, a: iterations_as_run(v, a["method"])},
           before_recorded=lambda params: n_iter_before_recorded(params.get("method", "sirt")),
           check={"method": check_method, "n_iter": check_n_iter, "filter": check_filter, "tv_weight": check_tv_weight,
                  "backend": check_backend})
def reconstruct_tomogram(
    s: Signal, method: str = "sirt", n_iter: int | Literal["auto"] | None = "auto", filter: str = "ramp",
    tv_weight: float | Literal["auto"] = "auto", nonnegative: bool = True, thickness: int | None = None,
    backend: str = "auto", slices_per_partition: int | None = None, executor=None, progress=None,
    scratch: str | None = None,
) -> Signal:
    """Reconstruct a tilt-series Signal (aligned, background-subtracted) into a volume Signal ``(z, y, x)``.

    The tilt axis and its shift come from ``s.metadata["Tomography"]`` (:func:`.tiltseries.tilt_series`,
    :func:`.alignment.align_tilts`); other parameters as in :func:`reconstruct_slices`.

    ``scratch`` (a folder; not recorded: it changes where the numbers live, not the numbers) reconstructs out of
    core: slice blocks are streamed into a store in that folder (:func:`.outofcore.reconstruct_slices_to_store`)
    and the volume returned is a lazy view of it (dask), which ``vol.save(path, chunks=...)`` writes with bounded
    memory; :func:`reconstruct_to_store` does both. The bits equal the in-memory result.

    SIRT's ``n_iter="auto"`` (the default) is chosen once for the series from a few of its slices; the count that
    ran, the path (``"hold-out"``, ``"settled"``, ``"cap"`` or ``"fallback"``), the slices and their held-out
    misfit are in ``metadata["Tomography"]["n_iter_choice"]``, and the history keeps ``"auto"``, which a replay
    chooses again by the rule of the emscale that replays it: the same count and bits where the rule is the same
    (a step recorded by the rule before ``"settled"``, 2026-12-07, may stop earlier now; a results folder's replay
    then names the data's changed SHA-256).

    For ``method="tv"`` the weight used, and for ``"auto"`` how it was chosen (candidates, held-out misfit), is in
    ``metadata["Tomography"]["tv_weight"]``; the history keeps ``"auto"``, which a replay chooses again, to the
    same weight and bits (the choice is deterministic).

    Example
    -------
    >>> vol = reconstruct_tomogram(aligned, method="sirt", n_iter=100)
    >>> vol.axes[0].name, vol.axes[0].units
    ('z', 'nm')
    """
    check_series(s)
    check_method(method)  # before any pass over the series (TV's choice of weight makes some)
    check_n_iter(n_iter, {"method": method})
    check_filter(filter)
    check_backend(backend)
    if scratch is not None and not Path(scratch).is_dir():  # before the reconstruction, not after it
        raise DataError(f"scratch {str(scratch)!r}: no such folder (the folder that holds the slices out of core)")
    meta = tomo_meta(s)
    ta = meta["tilt_axis"]
    data = s.data if s.is_lazy else np.asarray(s.data)
    sinograms = slice_first(data, ta)
    if said := thicker_than_detector(thickness, sinograms.shape[2]):
        warn_caller(said)
    choice = series = iterations = None
    if method == "sirt" and n_iter == AUTO_ITER:  # chosen once here, so that the volume can say how many and why
        series = series_of(sinograms, angles_of(s), thickness, meta["axis_shift"], backend, executor, progress)
        iterations = choose_sirt_iterations(sinograms, series.A.geometry, nonnegative, backend)
        n_iter = iterations.n_iter
    if method == "tv":  # chosen once here, so that the volume can say which weight and why
        # the one pass over the series: the choice and the solver both start from it
        series = series_of(sinograms, angles_of(s), thickness, meta["axis_shift"], backend, executor, progress)
        choice = tv_weight_choice(sinograms, angles_of(s), tv_weight, n_iter, thickness, meta["axis_shift"],
                                  backend, executor, series, progress)
        tv_weight = choice.weight
        if choice.path == "fallback":  # said, not only written into the metadata
            warn_caller(f"tv_weight='auto': {choice.why} ({choice.weight}); pass tv_weight= to set it")
    kw = dict(method=method, n_iter=n_iter, filter=filter, tv_weight=tv_weight, nonnegative=nonnegative,
              thickness=thickness, axis_shift=meta["axis_shift"], backend=backend,
              slices_per_partition=slices_per_partition, executor=executor, progress=progress, series=series)
    if scratch is None:
        vol = np.ascontiguousarray(volume_from_slices(reconstruct_slices(sinograms, angles_of(s), **kw), ta))
    else:
        vol = volume_from_slices(reconstruct_slices_to_store(sinograms, angles_of(s), scratch, **kw), ta)
    y, x = replace(s.axes[1], navigate=False), replace(s.axes[2], navigate=False)
    perp = perpendicular_axis((y, x), ta)
    # the slices are centred on the tilt axis, not on the image: on the image's own coordinates, so that a
    # position in the volume is the same number as in the projection at zero tilt
    centred = replace(perp, offset=perp.offset + perp.scale * meta["axis_shift"])
    y, x = (y, centred) if ta == "y" else (centred, x)
    nz = vol.shape[0]
    zax = Axis("z", nz, scale=perp.scale, offset=-perp.scale * (nz - 1) / 2, units=perp.units)
    out = derive(s, vol, [zax, y, x], signal_type="volume")
    out.metadata.setdefault("Signal", {})["signal_type"] = "volume"
    # the series' tomography record (alignment included) carries over, with how the volume was made
    out.metadata["Tomography"] = {**axis_record(s.metadata.get("Tomography", {}), s.axes[1:], ta, meta["axis_shift"]),
                                  "method": method, "n_tilts": int(s.shape[0])}
    if (ran := iterations_as_run(n_iter, method)) is not None:
        out.metadata["Tomography"]["n_iter"] = ran
    if iterations is not None:
        out.metadata["Tomography"]["n_iter_choice"] = iterations.record()
    out.metadata["Tomography"]["backend"] = backend_as_run(backend)  # "auto" as it ran
    if choice is not None:
        out.metadata["Tomography"]["tv_weight"] = choice.record()
    return out


def reconstruct_to_store(s: Signal, path, overwrite: bool = False, chunks=None, executor=None, progress=None,
                         **params) -> Signal:
    """Reconstruct a tilt series straight into the emscale store ``path`` with bounded memory.

    Parameters
    ----------
    s : tilt-series Signal, as for :func:`.reconstruct.reconstruct_tomogram` (whose parameters ``params`` are).
    path : the ``.zarr`` store to write; a scratch store is made beside it and removed afterwards (one that a killed
        run left is removed by the next run to ``path``: :func:`emscale.core.atomic.scratch_beside`).
    overwrite : replace an existing ``path``.
    chunks : store chunks of the volume ``(z, y, x)`` (default :func:`volume_chunks`: z slabs of ~16 MB).
    executor, progress : run and report the reconstruction's partitions.

    Returns
    -------
    The saved volume, loaded lazily (its history ends with the ``reconstruct_tomogram`` step, so
    ``em.replay`` gives the same bits in memory).

    Example
    -------
    >>> vol = reconstruct_to_store(aligned, "vol.zarr", method="fbp")
    """
    path = check_store_output(path, overwrite)  # before the reconstruction, not after it
    path.parent.mkdir(parents=True, exist_ok=True)
    with scratch_beside(path) as tmp:
        vol = reconstruct_tomogram(s, executor=executor, progress=progress, scratch=str(tmp), **params)
        vol.save(path, overwrite=overwrite, chunks=chunks or volume_chunks(vol.shape, vol.dtype.itemsize))
    return load_zarr(path, lazy=True)
