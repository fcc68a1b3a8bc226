"""Ground-truth images for the reconstruction tests: atomic lattices and a smooth particle, seeded."""

import numpy as np

from emscale.sampling.slads import psnr as _library_psnr


def lattice(n=128, a=8.0, theta=0.3, sigma=1.5, dose=200.0, seed=0):
    """Gaussian atoms on a rotated square lattice (two species, 3 % vacancies, 0.3 px jitter), Poisson noise.

    Returns (noisy counts, noise-free expected counts)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    m = int(n / a * 1.6) + 2
    ij = np.mgrid[-m:m, -m:m].reshape(2, -1).T
    pos = ij @ (a * rot).T + n / 2 + rng.normal(0, 0.3, (len(ij), 2))
    z = np.where(ij.sum(1) % 2 == 0, 1.0, 0.6) * (rng.random(len(ij)) > 0.03)
    keep = (pos > -4).all(1) & (pos < n + 4).all(1) & (z > 0)
    img = np.full((n, n), 0.1) + 0.05 * xx / n
    for (py, px), zz in zip(pos[keep], z[keep], strict=True):
        img += zz * np.exp(-((yy - py) ** 2 + (xx - px) ** 2) / (2 * sigma**2))
    return rng.poisson(img * dose).astype(float), img * dose


def particle(n=128, seed=0):
    """A smooth faceted particle with internal bands on a flat background, light Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n] / n
    body = 1 / (1 + np.exp(-(0.3 - np.hypot((yy - 0.5) / 0.8, xx - 0.45)) / 0.02))
    bands = 1 + 0.4 * np.sin(2 * np.pi * 3 * xx + rng.random() * 6)
    truth = 100 + 1000 * body * bands
    return truth + rng.normal(0, 5, truth.shape), truth


def psnr(x, ref):
    """The library's PSNR (peak = the reference's range), estimate first as these tests write it."""
    return _library_psnr(ref, x)


def defect_lattice(n=128, a=8.0, theta=0.2, sigma=1.3, vacancies=0.08, dose=100.0, seed=0):
    """Gaussian atoms on a rotated hexagonal lattice with a share of its sites empty, Poisson noise.

    Returns (noisy counts, noise-free expected counts, bool map of the pixels within 2.5 sigma of an empty site)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    m = int(n / a * 1.6) + 2
    ij = np.mgrid[-m:m, -m:m].reshape(2, -1).T
    basis = a * np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    pos = ij @ basis @ rot.T + n / 2
    empty = rng.random(len(ij)) < vacancies
    inside = (pos > -4).all(1) & (pos < n + 4).all(1)
    img = np.full((n, n), 0.1)
    near = np.zeros((n, n), bool)
    for (py, px), e in zip(pos[inside], empty[inside], strict=True):
        d2 = (yy - py) ** 2 + (xx - px) ** 2
        if e:
            near |= d2 <= (2.5 * sigma) ** 2
        else:
            img += np.exp(-d2 / (2 * sigma**2))
    return rng.poisson(img * dose).astype(float), img * dose, near
