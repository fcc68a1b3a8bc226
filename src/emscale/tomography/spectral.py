"""Spectral tomography: one decomposition of the whole spectral tilt series, then one volume per component.

A spectral tilt series ``X[theta, y, x, E]`` of a sample made of phases with spectra ``S_k(E)`` and densities
``c_k(r)`` is, in the linear (thin, no absorption) regime, ``X = sum_k (P_theta c_k)(y, x) S_k(E)`` with
``P_theta`` the projection at tilt ``theta``. Every tilt shares the spectra, so a factorisation of all
projections' pixels together -- rows: every (tilt, pixel); columns: channels -- gives ``X ~= L F^T`` with ``F``
the spectra and ``L[theta, y, x, k]`` the projections of phase ``k``. Each component's loadings are a tilt series
of their own, reconstructed into a volume. Non-negative factorisation with a Poisson (KL) loss fits counts.

References
----------
P. Nicoletti et al., "Three-dimensional imaging of localized surface plasmon resonances of metal
nanoparticles", Nature 502 (2013) 80-84 (NMF of an EELS tilt series, then a tomogram per component);
B. R. Jany et al., "Retrieving the quantitative chemical information at nanoscale from SEM EDX measurements by
machine learning", Sci. Rep. 7 (2017) 42480 (NMF of EDX data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import DataError
from ..core.registry import operation
from ..core.signal import Signal, derive
from .reconstruct import reconstruct_tomogram
from .tiltseries import tilt_series


@dataclass
class SpectralTomogram:
    """Result of :func:`spectral_tomography`.

    Attributes
    ----------
    factors : (n_components, n_channels) spectra, each summing to one.
    volumes : Signal (component, z, y, x): per component, its counts per voxel (the loadings reconstructed).
    decomposition : the :class:`~emscale.decomposition.result.Decomposition` of the series.
    history : provenance entries (filled by the operation registry).
    """

    factors: np.ndarray
    volumes: Signal
    decomposition: object
    history: list = field(default_factory=list)


def _check(s: Signal) -> None:
    names = [a.name for a in s.axes]
    if s.nav_ndim != 3 or s.sig_ndim != 1 or names[0] != "tilt":
        raise DataError(
            "expected a spectral tilt series: navigation (tilt, y, x) in numpy order and one spectral signal "
            f"axis; got axes {names} with {s.nav_ndim} navigation dimension(s)"
        )


def spectral_tomogram(
    s: Signal, n_components: int, method: str = "nmf", recon: str = "sirt", n_iter: int | None = None,
    seed: int = 0, executor=None, progress=None, **decompose_kwargs,
) -> SpectralTomogram:
    """Decompose a spectral tilt series jointly over all tilts and reconstruct each component's loadings.

    Parameters
    ----------
    s : Signal (tilt, y, x | E) in numpy order; ``metadata["Tomography"]`` as for :func:`.tiltseries.tilt_series`.
    n_components : number of phases / components.
    method : decomposition method (:func:`emscale.decomposition.decompose`), ``"nmf"`` by default.
    recon : reconstruction method (:func:`.reconstruct`).
    n_iter : reconstruction iterations.
    seed : seeds the decomposition.
    **decompose_kwargs : passed on to ``decompose``.

    Example
    -------
    >>> st = spectral_tomogram(eds_tilt_series, n_components=3)
    >>> st.volumes.shape          # (3, nz, ny, nx)
    """
    from ..decomposition import decompose

    _check(s)
    dec = decompose(s, method=method, n_components=n_components, seed=seed, executor=executor, **decompose_kwargs)
    F = np.asarray(dec.factors_array, float)  # (channels, k)
    L = np.asarray(dec.loadings_array, float)  # (pixels, k)
    norm = F.sum(axis=0)
    norm[norm == 0] = 1.0
    F, L = F / norm, L * norm  # spectra sum to one; loadings carry the counts
    meta = s.metadata.get("Tomography", {})
    angles = s.axis("tilt").values
    maps = L.reshape(s.shape[:3] + (n_components,))
    vols = []
    for k in range(n_components):
        ts = tilt_series(maps[..., k], angles, tilt_axis=meta.get("tilt_axis", "y"),
                         axis_shift=float(meta.get("axis_shift", 0.0)))
        ts = Signal(ts.data, axes=[s.axes[0]] + [a.to_dict() | {"navigate": False} for a in s.axes[1:3]],
                    signal_type="tilt_series", metadata=ts.metadata)
        vols.append(reconstruct_tomogram(ts, recon, n_iter=n_iter, executor=executor, progress=progress))
    axes = [{"name": "component", "navigate": True}] + [a.to_dict() for a in vols[0].axes]
    volumes = Signal(np.stack([v.data for v in vols]), axes=axes, signal_type="volume",
                     metadata={"Tomography": {**vols[0].metadata["Tomography"], "decomposition": method}})
    return SpectralTomogram(F.T.copy(), volumes, dec)


@operation("spectral_tomography")
def spectral_tomography(s: Signal, n_components: int, method: str = "nmf", recon: str = "sirt",
                        n_iter: int | None = None, seed: int = 0, executor=None, progress=None) -> Signal:
    """Per-component volumes ``(component, z, y, x)`` of a spectral tilt series (:func:`spectral_tomogram`);
    the component spectra (each summing to one) are in ``metadata["Tomography"]["factors"]``.

    Example
    -------
    >>> vols = spectral_tomography(eds_tilt_series, n_components=3)
    """
    st = spectral_tomogram(s, n_components, method=method, recon=recon, n_iter=n_iter, seed=seed,
                           executor=executor, progress=progress)
    out = derive(s, st.volumes.data, st.volumes.axes, signal_type="volume")
    out.metadata.setdefault("Signal", {})["signal_type"] = "volume"
    out.metadata["Tomography"] = {**st.volumes.metadata["Tomography"], "factors": st.factors.tolist()}
    return out


def spectral_angles(found: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best one-to-one matching of spectra (rows) by angle; returns (angles in degrees per true spectrum, the
    index of the matched found spectrum per true spectrum)."""
    from scipy.optimize import linear_sum_assignment

    a = found / np.linalg.norm(found, axis=1, keepdims=True)
    b = truth / np.linalg.norm(truth, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(b @ a.T, -1.0, 1.0)))
    r, c = linear_sum_assignment(ang)
    return ang[r, c], c
