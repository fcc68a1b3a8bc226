"""Ground-truth objects for tests and benchmarks: volumes with known content and their projections.

* :func:`ellipsoid_phantom` -- random non-overlapping-ish ellipsoids of constant density inside the cylinder
  every tilt sees (a 3D Shepp-Logan-like piecewise-constant object).
* :func:`fcc_nanoparticle` -- atoms of an fcc lattice inside a sphere, rendered as 3D Gaussians.
* :func:`spectral_phantom` -- 2-3 phase volumes and their spectra (EDS-like Gaussian lines on a background).
* :func:`project_volume` -- the tilt series ``(n_tilts, ny, nx)`` of a volume ``(z, y, x)``.

Every random choice takes ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import AxisError, DataError
from .geometry import ParallelGeometry
from .projector import Projector


def project_volume(vol: np.ndarray, angles, tilt_axis: str = "y", axis_shift: float = 0.0,
                   backend: str = "auto") -> np.ndarray:
    """Tilt series ``(n_tilts, ny, nx)`` float32 of a volume ``(z, y, x)`` (line integrals in voxel units)."""
    if tilt_axis not in ("y", "x"):  # "z" or "Y" projected about x, with no word
        raise AxisError(f"tilt_axis {tilt_axis!r}: use 'y' or 'x'")
    vol = np.asarray(vol, np.float32)
    if vol.ndim != 3:  # a slice failed in numpy's words, "axes don't match array"
        raise DataError(f"vol: expected a volume (z, y, x), got shape {vol.shape}; one slice (z, x) projects as "
                        "vol[:, None, :]")
    # (z, y, x) -> slices (n_slices, nz, n_w): the inverse of volume_from_slices
    slices = vol.transpose(1, 0, 2) if tilt_axis == "y" else vol.transpose(2, 0, 1)
    g = ParallelGeometry(angles, n_det=slices.shape[2], nz=slices.shape[1], axis_shift=axis_shift)
    sino = Projector(g, backend).forward(np.ascontiguousarray(slices))  # (n_slices, n_tilts, n_det)
    return np.ascontiguousarray(sino.transpose(1, 0, 2) if tilt_axis == "y" else sino.transpose(1, 2, 0))


def _grid(shape):
    return [np.arange(n) - (n - 1) / 2 for n in shape]


def ellipsoid_phantom(n: int = 64, n_ellipsoids: int = 8, seed: int = 0, nz: int | None = None) -> np.ndarray:
    """A ``(nz, n, n)`` volume (z, y, x) of random constant-density ellipsoids (densities 0.2-1, summed where
    they overlap) inside the cylinder of radius ``0.45 n`` about the y axis; float32."""
    rng = np.random.default_rng(seed)
    nz = nz or n
    z, y, x = np.meshgrid(*_grid((nz, n, n)), indexing="ij")
    vol = np.zeros((nz, n, n), np.float32)
    r_max = 0.45 * min(n, nz)
    for _ in range(n_ellipsoids):
        radii = rng.uniform(0.08, 0.25, 3) * n
        rot = _rotation(rng)
        c = rng.uniform(-1, 1, 3) * (r_max - radii.max()) / np.sqrt(2)
        c[1] = rng.uniform(-0.3, 0.3) * n
        d = np.stack([z - c[0], y - c[1], x - c[2]], axis=-1) @ rot
        inside = np.sum((d / radii) ** 2, axis=-1) <= 1.0
        vol[inside] += rng.uniform(0.2, 1.0)
    return vol


def _rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def fcc_positions(radius: float, a: float, seed: int = 0) -> np.ndarray:
    """Atom positions (voxels, relative to the centre; (n, 3) as z, y, x) of an fcc lattice of constant ``a``
    (voxels) inside a sphere of ``radius``, with a random sub-voxel offset of the lattice."""
    rng = np.random.default_rng(seed)
    m = int(np.ceil(radius / a)) + 1
    cells = np.stack(np.meshgrid(*[np.arange(-m, m + 1)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    pos = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a + rng.uniform(-0.5, 0.5, 3)
    return pos[np.sum(pos**2, axis=1) <= radius**2]


def render_gaussians(positions: np.ndarray, shape, sigma: float = 1.0, amplitude: float = 1.0) -> np.ndarray:
    """Sum of isotropic 3D Gaussians (peak ``amplitude``) at ``positions`` (relative to the volume centre)."""
    vol = np.zeros(shape, np.float32)
    centre = (np.asarray(shape) - 1) / 2
    r = int(np.ceil(4 * sigma))
    offs = np.arange(-r, r + 1)
    for p in positions + centre:
        i = np.round(p).astype(int)
        idx = [k + offs for k in i]  # the voxels within 4 sigma along each axis
        ok = [(ix >= 0) & (ix < n) for ix, n in zip(idx, shape, strict=True)]
        if not all(o.any() for o in ok):
            continue
        g = [np.exp(-((ix[o] - pk) ** 2) / (2 * sigma**2)) for ix, o, pk in zip(idx, ok, p, strict=True)]
        sl = tuple(slice(ix[o][0], ix[o][-1] + 1) for ix, o in zip(idx, ok, strict=True))
        vol[sl] += amplitude * (g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :])
    return vol


def fcc_nanoparticle(n: int = 64, a: float = 8.0, radius: float | None = None, sigma: float = 1.0,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An fcc nanoparticle: volume ``(n, n, n)`` of Gaussian atoms and the true positions (absolute voxel
    indices, (n_atoms, 3) as z, y, x). ``radius`` defaults to ``0.38 n``."""
    radius = 0.38 * n if radius is None else radius
    pos = fcc_positions(radius, a, seed)
    vol = render_gaussians(pos, (n, n, n), sigma)
    return vol, pos + (n - 1) / 2


def spectral_phantom(n: int = 32, n_channels: int = 96, n_phases: int = 3, seed: int = 0):
    """Phase volumes ``(n_phases, n, n, n)`` (z, y, x; fractions 0/1, disjoint) and spectra
    ``(n_phases, n_channels)`` (unit sum): a sphere, an ellipsoid and a box at random places, each phase with
    its own Gaussian lines on a shared decaying background."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*_grid((n, n, n)), indexing="ij")
    phases = np.zeros((n_phases, n, n, n), np.float32)
    occupied = np.zeros((n, n, n), bool)
    for k in range(n_phases):
        c = rng.uniform(-0.22, 0.22, 3) * n
        r = rng.uniform(0.12, 0.18, 3) * n
        d = [(z - c[0]) / r[0], (y - c[1]) / r[1], (x - c[2]) / r[2]]
        shape = sum(di**2 for di in d) <= 1 if k != 2 else np.max(np.abs(d), axis=0) <= 1
        shape &= ~occupied
        phases[k][shape] = 1.0
        occupied |= shape
    e = np.arange(n_channels)
    background = np.exp(-e / (0.6 * n_channels))
    centres = rng.permutation(np.linspace(0.12, 0.9, 3 * n_phases))[: 2 * n_phases] * n_channels
    spectra = np.empty((n_phases, n_channels))
    for k in range(n_phases):
        lines = sum(rng.uniform(1, 3) * np.exp(-((e - c) ** 2) / (2 * 1.5**2)) for c in centres[2 * k: 2 * k + 2])
        spectra[k] = 0.3 * background + lines
    return phases, spectra / spectra.sum(axis=1, keepdims=True)


__all__ = [
    "ellipsoid_phantom",
    "fcc_nanoparticle",
    "fcc_positions",
    "project_volume",
    "render_gaussians",
    "spectral_phantom",
]
