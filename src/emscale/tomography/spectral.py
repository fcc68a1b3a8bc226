"""Spectral tomography: one decomposition of the whole spectral tilt series, then one volume per component.

A spectral tilt series ``X[theta, y, x, E]`` of a sample made of phases with spectra ``S_k(E)`` and densities
``c_k(r)`` is, in the linear (thin, no absorption) regime, ``X = sum_k (P_theta c_k)(y, x) S_k(E)`` with
``P_theta`` the projection at tilt ``theta``. Every tilt shares the spectra, so a factorisation of all
projections' pixels together -- rows: every (tilt, pixel); columns: channels -- gives ``X ~= L F^T`` with ``F``
the spectra and ``L[theta, y, x, k]`` the projections of phase ``k``. Each component's loadings are a tilt series
of their own, reconstructed into a volume. Non-negative factorisation with a Poisson (KL) loss fits counts.
The factorisation is fixed only up to a mixing of its components; in projection the phases overlap, in the
volume they do not, so the mixing is undone at the reconstruction's pure voxels (:mod:`.purevoxels`) and the
loadings refitted to the counts with the unmixed spectra before the final reconstruction.

References
----------
P. Nicoletti et al., "Three-dimensional imaging of localized surface plasmon resonances of metal
nanoparticles", Nature 502 (2013) 80-84 (NMF of an EELS tilt series, then a tomogram per component);
B. R. Jany et al., "Retrieving the quantitative chemical information at nanoscale from SEM EDX measurements by
machine learning", Sci. Rep. 7 (2017) 42480 (NMF of EDX data).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..core.errors import DataError, check_seed, warn_caller
from ..core.registry import operation
from ..core.signal import Signal, derive
from .phantoms import project_volume
from .purevoxels import fit_loadings_kl, pure_voxel_unmixing
from .reconstruct import METHODS, reconstruct_tomogram
from .slicesolver import check_n_iter, iterations_as_run, n_iter_before_recorded, thicker_than_detector
from .tilt_axis import resolve_tilt_axis
from .tiltseries import (
    axis_record,
    check_tilt_axis,
    check_tilt_axis_name,
    check_tilts,
    checked_angles,
    perpendicular_axis,
    shift_on,
    tilt_series,
)


@dataclass
class SpectralTomogram:
    """Result of :func:`spectral_tomography`.

    Attributes
    ----------
    factors : (n_components, n_channels) spectra, each summing to one.
    volumes : Signal (component, z, y, x): per component, its counts per voxel (the loadings reconstructed).
    decomposition : the :class:`~emscale.decomposition.result.Decomposition` of the series (before the
        pure-voxel rotation).
    info : ``{"pure_voxels": evidence}`` (:func:`.purevoxels.pure_voxel_unmixing`).
    history : provenance entries (filled by the operation registry).
    """

    factors: np.ndarray
    volumes: Signal
    decomposition: object
    info: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


def _check(s: Signal) -> None:
    names = [a.name for a in s.axes]
    if s.nav_ndim != 3 or s.sig_ndim != 1 or names[0] != "tilt":
        raise DataError(
            "expected a spectral tilt series: navigation (tilt, y, x) in numpy order and one spectral signal "
            f"axis; got axes {names} with {s.nav_ndim} navigation dimension(s)"
        )


def check_spectral_tilt_axis(tilt_axis) -> None:
    """``"auto"``, ``"y"``, ``"x"`` (:func:`.tiltseries.check_tilt_axis_name`), or None: the axis of a step recorded
    before ``tilt_axis``."""
    if tilt_axis is not None:
        check_tilt_axis_name(tilt_axis)


def _geometry(s: Signal, tilt_axis: str | None) -> tuple[np.ndarray, str, float, dict]:
    """The series' tilt angles, tilt axis and axis shift (what reconstructs its maps and projects volumes back) and
    the evidence of the axis (:func:`.tilt_axis.resolve_tilt_axis` on the counts summed over the spectrum), checked
    as :func:`.tiltseries.tilt_series` checks them, before the decomposition: on a series of one tilt it ran 4 s of
    NMF (minutes on a large series) before the first reconstruction refused it. ``tilt_axis`` as
    :func:`spectral_tomogram` takes it; a warning (angles that look like radians, a named axis the projections
    contradict) is said here once, not once a reconstruction."""
    angles = s.axis("tilt").values
    check_tilts(angles, "spectral_tomography")
    checked_angles(angles, s.shape[0], stacklevel=4)
    meta = s.metadata.get("Tomography", {})
    asked, origin = _asked_axis(tilt_axis, meta)
    check_tilt_axis_name(asked)
    axis, evidence, said = resolve_tilt_axis(np.asarray(s.data.sum(axis=-1)), angles, asked)
    if origin:
        evidence["reason"] = f"{origin}; {evidence['reason'].removeprefix('named; ')}"
    if said:
        warn_caller(said)
    shift = shift_on(s.axes[1:3], {**meta, "tilt_axis": axis})
    check_tilt_axis(s.shape[:3], axis, shift)
    return angles, axis, shift, evidence


def _asked_axis(tilt_axis: str | None, meta: dict) -> tuple[str, str | None]:
    """The axis to resolve (``"auto"``, or one named) and, for one not named by ``tilt_axis``, who named it."""
    if tilt_axis not in ("auto", None):
        return tilt_axis, None
    if "tilt_axis" in meta:
        return meta["tilt_axis"], "named by the series' metadata"
    if tilt_axis is None:  # a step recorded before tilt_axis, which took "y" where the metadata named none
        return "y", "'y': the metadata name no axis, and a step recorded before tilt_axis took 'y'"
    return "auto", None


def _volumes(maps: np.ndarray, s: Signal, geometry: tuple, rec: dict, nonnegative: bool = True) -> list[Signal]:
    """One reconstructed volume per component of the loading maps ``(tilt, y, x, k)`` (``geometry``: of
    :func:`_geometry`; ``rec``: the keywords of :func:`.reconstruct.reconstruct_tomogram`); ``nonnegative=False``
    keeps the linear reconstruction, whose negative values are the evidence of mixing (:mod:`.purevoxels`)."""
    angles, tilt_axis, shift, _ = geometry
    vols = []
    for k in range(maps.shape[-1]):
        with warnings.catch_warnings():  # said once, up front, not once a reconstruction (5-7 times)
            warnings.filterwarnings("ignore", message="the tilt angles span only", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".* repeat a tilt angle of the series", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"tilt_axis='[yx]': the projections follow", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"thickness=.* voxels is", category=UserWarning)
            ts = tilt_series(maps[..., k], angles, tilt_axis=tilt_axis)
            ts = Signal(ts.data, axes=[s.axes[0]] + [a.to_dict() | {"navigate": False} for a in s.axes[1:3]],
                        signal_type="tilt_series", metadata=ts.metadata)
            ts.metadata["Tomography"] = axis_record({}, ts.axes[1:], tilt_axis, shift)
            vols.append(reconstruct_tomogram(ts, nonnegative=nonnegative, **rec))
    return vols


def _unmixing(maps: np.ndarray, F: np.ndarray, s: Signal, geometry: tuple, rec: dict):
    """Pure-voxel unmixing (:func:`.purevoxels.pure_voxel_unmixing`) of the loading maps ``(tilt, y, x, k)``.

    The evidence is taken on the linear reconstructions: clipped at zero, a mixed component's negative density
    (the shell under a core that the factorisation mixed with it) vanishes and its voxels look pure (measured,
    core-shell at 2000 counts per voxel: the clipped volumes approved a 24-degree-wrong core spectrum with 0 %
    outside the simplex)."""
    lin = np.stack([np.asarray(v.data, np.float64)
                    for v in _volumes(maps, s, geometry, rec, nonnegative=False)], axis=-1)
    # the loadings' sum is the same for every mixing (spectra sum to one): its non-negative volume is the density
    total = np.asarray(_volumes(maps.sum(axis=-1, keepdims=True), s, geometry, rec)[0].data, np.float64)
    angles, tilt_axis, shift, _ = geometry

    def project(vol):
        return project_volume(vol, angles, tilt_axis=tilt_axis, axis_shift=shift)

    return pure_voxel_unmixing(lin, total, maps, project, F.T)


def spectral_tomogram(
    s: Signal, n_components: int | Literal["auto"] | None, method: str = "nmf", recon: str = "sirt",
    n_iter: int | Literal["auto"] | None = "auto", seed: int = 0, pure_voxels: bool = True,
    thickness: int | None = None, tilt_axis: str | None = "auto", executor=None, progress=None, **decompose_kwargs,
) -> SpectralTomogram:
    """Decompose a spectral tilt series jointly over all tilts and reconstruct each component's loadings.

    Parameters
    ----------
    s : Signal (tilt, y, x | E) in numpy order; ``metadata["Tomography"]`` as for :func:`.tiltseries.tilt_series`.
    n_components : number of phases / components; ``"auto"`` or None: the decomposition's estimate of the rank.
    method : decomposition method (:func:`emscale.decomposition.decompose`), ``"nmf"`` by default.
    recon : reconstruction method (:func:`.reconstruct`).
    n_iter : reconstruction iterations, as :func:`.reconstruct.reconstruct_tomogram` takes them: ``"auto"`` (the
        default) SIRT's count chosen from each component's maps (:mod:`.sirtiterations`; each noisy in its own way),
        TV's fixed 200; None the method's fixed count (SIRT's 100, as a step recorded before ``"auto"``); a number
        as given. With ``"auto"`` the volumes' ``metadata["Tomography"]["n_iter"]`` and ``["n_iter_choice"]`` are
        lists, one per component.
    seed : seeds the decomposition.
    pure_voxels : resolve the factorisation's rotational ambiguity at the pure voxels of the reconstructed
        loadings (:mod:`.purevoxels`; applied only when the evidence says the voxels are pure), then refit the
        loadings to the counts with those spectra (Poisson likelihood) and reconstruct them again.
    thickness : voxels along the beam of each component volume (``None``: the detector width), as for
        :func:`.reconstruct.reconstruct_tomogram`.
    tilt_axis : the image axis parallel to the tilt axis: ``"auto"`` (the default) the one the series'
        ``metadata["Tomography"]["tilt_axis"]`` names, else the one the projections (the counts summed over the
        spectrum) follow, as :func:`.tiltseries.tilt_series` tells it (``"y"`` where they do not tell, said in a
        warning); ``"y"`` or ``"x"``: that one (said in a warning where the projections clearly contradict it).
        None: the metadata's, else ``"y"``, as a step recorded before ``tilt_axis`` ran (its replay).
    **decompose_kwargs : passed on to ``decompose``.

    Returns
    -------
    :class:`SpectralTomogram`; ``info["pure_voxels"]`` holds the evidence and whether the rotation was used,
    ``info["tilt_axis"]`` (and the volumes' ``metadata["Tomography"]["tilt_axis_evidence"]``) the axis taken and
    why.

    Example
    -------
    >>> st = spectral_tomogram(eds_tilt_series, n_components=3)
    >>> st.volumes.shape          # (3, nz, ny, nx)
    """
    from ..decomposition import decompose

    _check(s)
    check_recon(recon)  # before the decomposition, which takes minutes
    check_recon_n_iter(n_iter, {"recon": recon})
    geometry = _geometry(s, tilt_axis)
    if said := thicker_than_detector(thickness, perpendicular_axis(s.axes[1:3], geometry[1]).size):
        warn_caller(said)  # once, not once a component's reconstruction
    dec = decompose(s, method=method, n_components=n_components, seed=seed, executor=executor, **decompose_kwargs)
    F = np.asarray(dec.factors_array, float)  # (channels, k)
    L = np.asarray(dec.loadings_array, float)  # (pixels, k)
    norm = F.sum(axis=0)
    norm[norm == 0] = 1.0
    F, L = F / norm, L * norm  # spectra sum to one; loadings carry the counts
    maps = L.reshape(s.shape[:3] + (F.shape[1],))  # the rank the decomposition settled on ("auto", None)
    rec = {"method": recon, "n_iter": n_iter, "thickness": thickness, "executor": executor, "progress": progress}
    info = {"applied": False, "reason": "not asked (pure_voxels=False)"}
    if pure_voxels:
        M, info = _unmixing(maps, F, s, geometry, rec)
        if M is not None:
            spectra = np.clip(M @ F.T, 0.0, None)
            F = (spectra / spectra.sum(axis=1, keepdims=True)).T
            maps = fit_loadings_kl(s.data, F.T, nav_ndim=3, executor=executor).reshape(maps.shape)
    vols = _volumes(maps, s, geometry, rec)
    axes = [{"name": "component", "navigate": True}] + [a.to_dict() for a in vols[0].axes]
    evidence = geometry[3]
    meta = {**vols[0].metadata["Tomography"], "decomposition": method, "tilt_axis_evidence": evidence}
    if "n_iter_choice" in meta:  # SIRT's "auto": each component's count and why, not the first one's alone
        meta |= {"n_iter": [v.metadata["Tomography"]["n_iter"] for v in vols],
                 "n_iter_choice": [v.metadata["Tomography"]["n_iter_choice"] for v in vols]}
    volumes = Signal(np.stack([v.data for v in vols]), axes=axes, signal_type="volume", metadata={"Tomography": meta})
    return SpectralTomogram(F.T.copy(), volumes, dec, info={"pure_voxels": info, "tilt_axis": evidence})


def check_recon(recon) -> None:
    """The reconstruction method of the component maps (:data:`.reconstruct.METHODS`); else a DataError."""
    if not isinstance(recon, str) or recon not in METHODS:
        raise DataError(f"recon {recon!r} is not one of {METHODS} (the reconstruction; method= is the "
                        "decomposition's)")


def check_recon_n_iter(n_iter, arguments: dict) -> None:
    """``n_iter`` of the reconstruction ``arguments["recon"]`` (:func:`.slicesolver.check_n_iter`)."""
    check_n_iter(n_iter, {"method": arguments.get("recon", "sirt")})


def check_n_components(n_components) -> None:
    """decompose's check of ``n_components``, which it is given (the decomposition is imported when it runs)."""
    from ..decomposition.api import check_n_components as decompose_check

    decompose_check(n_components)


# a step recorded before tilt_axis took "y" where the metadata named no axis: its replay does still (None)
@operation("spectral_tomography", record={"n_iter": lambda v, a: iterations_as_run(v, a["recon"])},
           before_recorded=lambda params: n_iter_before_recorded(params.get("recon", "sirt")) | {"tilt_axis": None},
           check={"recon": check_recon, "n_iter": check_recon_n_iter, "seed": check_seed,
                  "tilt_axis": check_spectral_tilt_axis, "n_components": check_n_components})
def spectral_tomography(s: Signal, n_components: int | Literal["auto"] | None, method: str = "nmf", recon: str = "sirt",
                        n_iter: int | Literal["auto"] | None = "auto", seed: int = 0, pure_voxels: bool = True,
                        thickness: int | None = None, tilt_axis: str | None = "auto", executor=None,
                        progress=None) -> Signal:
    """Per-component volumes ``(component, z, y, x)`` of a spectral tilt series (:func:`spectral_tomogram`);
    the component spectra (each summing to one) are in ``metadata["Tomography"]["factors"]``, the pure-voxel
    evidence in ``["pure_voxels"]``, the tilt axis taken and why in ``["tilt_axis_evidence"]``.

    Example
    -------
    >>> vols = spectral_tomography(eds_tilt_series, n_components=3)
    """
    st = spectral_tomogram(s, n_components, method=method, recon=recon, n_iter=n_iter, seed=seed,
                           pure_voxels=pure_voxels, thickness=thickness, tilt_axis=tilt_axis, executor=executor,
                           progress=progress)
    out = derive(s, st.volumes.data, st.volumes.axes, signal_type="volume")
    out.metadata.setdefault("Signal", {})["signal_type"] = "volume"
    out.metadata["Tomography"] = {**st.volumes.metadata["Tomography"], "factors": st.factors.tolist(),
                                  "pure_voxels": st.info["pure_voxels"]}
    return out
