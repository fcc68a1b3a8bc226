"""Ground-truth spectrum images with known rank for the decomposition tests and benchmark.

``make_cube(rank, kind, ...)`` draws ``rank`` pure spectra and smooth abundance maps, mixes them, scales each
pixel to ``counts`` expected counts (times a smooth thickness variation) and draws Poisson noise.

EDS-like spectra: a Kramers bremsstrahlung ``(E0 - E) / E`` with low-energy absorption, plus sharp Gaussian
lines (K-alpha and a weaker K-beta): one element exclusive to each phase plus 1-2 elements shared from a
common pool (with different concentrations). EELS-like spectra: a power-law background ``E^-r`` plus
ionisation edges (a smoothed step followed by a power-law decay) with onsets from a common pool.

Abundances: per component a Gaussian-smoothed random field; a softmax turns the fields into fractions summing
to one. ``pure=True`` sharpens the softmax and stamps a small pure patch of every component; ``pure=False``
keeps every fraction above ~5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass
class Truth:
    spectra: np.ndarray  # (rank, channels), each sums to 1
    abundances: np.ndarray  # (ny, nx, rank) fractions, rows sum to 1
    expected: np.ndarray  # (ny, nx, channels) noise-free expected counts
    rank: int
    params: dict


def eds_spectra(rank: int, n_channels: int, rng: np.random.Generator, background=(0.2, 0.4)) -> np.ndarray:
    e = np.linspace(0.1, 20.0, n_channels)  # keV
    e0 = 20.5
    brems = (e0 - e) / e * np.exp(-0.6 / e**3)
    brems /= brems.sum()
    pool = rng.uniform(0.5, 12.0, size=2 * rank + 3)
    width = 0.0025 * np.sqrt(e) * 25 + 0.04  # keV, ~1.5-3 channels at 512 channels
    shared = np.arange(rank, len(pool))
    out = []
    for c in range(rank):
        # one element exclusive to this phase (phases are distinguishable) plus 1-2 shared ones
        els = [c] + list(rng.choice(shared, size=rng.integers(1, 3), replace=False))
        spec = rng.uniform(*background) * brems
        for el in els:
            w = rng.uniform(0.3, 1.0) if el == c else rng.uniform(0.1, 0.6)
            for line, rel in ((pool[el], 1.0), (pool[el] * 1.1, 0.15)):
                if line < e[-1]:
                    sig = np.interp(line, e, width)
                    g = np.exp(-0.5 * ((e - line) / sig) ** 2)
                    spec = spec + w * rel * g / g.sum()
        out.append(spec / spec.sum())
    return np.asarray(out)


def eels_spectra(rank: int, n_channels: int, rng: np.random.Generator) -> np.ndarray:
    e = np.linspace(250.0, 1000.0, n_channels)  # eV
    pool = rng.uniform(300.0, 850.0, size=max(6, 2 * rank + 2))
    out = []
    for _ in range(rank):
        r = rng.uniform(2.5, 4.0)
        bg = (e / e[0]) ** -r
        spec = bg / bg.sum() * rng.uniform(0.2, 0.4)
        for onset in pool[rng.choice(len(pool), size=rng.integers(1, 3), replace=False)]:
            step = 0.5 * (1 + np.tanh((e - onset) / 4.0))
            edge = step * (np.maximum(e, onset) / onset) ** -rng.uniform(2.0, 3.5)
            spec = spec + rng.uniform(0.6, 1.5) * edge / edge.sum()
        out.append(spec / spec.sum())
    return np.asarray(out)


def abundance_maps(rank: int, shape: tuple[int, int], pure: bool, rng: np.random.Generator) -> np.ndarray:
    fields = np.stack(
        [gaussian_filter(rng.standard_normal(shape), sigma=max(shape) / 8, mode="wrap") for _ in range(rank)], axis=-1
    )
    fields /= fields.std(axis=(0, 1), keepdims=True)
    beta = 4.0 if pure else 1.5
    a = np.exp(beta * fields)
    a /= a.sum(axis=-1, keepdims=True)
    if pure:
        ny, nx = shape
        for c in range(rank):
            y, x = rng.integers(0, ny - 3), rng.integers(0, nx - 3)
            a[y : y + 3, x : x + 3] = 0.0
            a[y : y + 3, x : x + 3, c] = 1.0
    else:
        a = 0.05 + (1 - 0.05 * rank) * a
    return a


def make_cube(
    rank: int,
    kind: str = "eds",
    shape: tuple[int, int] = (32, 32),
    n_channels: int = 256,
    counts: float = 200.0,
    pure: bool = True,
    seed: int = 0,
    dtype=np.uint16,
    background=(0.2, 0.4),
):
    """(Signal, Truth): a Poisson spectrum image with ``rank`` components and ``counts`` mean counts per pixel.

    ``background``: range of the bremsstrahlung fraction of each EDS spectrum. A background shared by every
    spectrum makes NMF non-unique (``H1 - a H2`` stays non-negative for small ``a``); a low one (few %) leaves
    near-empty channels between the lines, which pins the factorisation down.
    """
    from emscale import Signal

    rng = np.random.default_rng(seed)
    if kind == "eds":
        spectra = eds_spectra(rank, n_channels, rng, background)
    else:
        spectra = eels_spectra(rank, n_channels, rng)
    ab = abundance_maps(rank, shape, pure, rng)
    thickness = 1.0 + 0.3 * np.tanh(gaussian_filter(rng.standard_normal(shape), max(shape) / 6, mode="wrap") * 3)
    expected = counts * thickness[..., None] * (ab @ spectra)
    data = rng.poisson(expected)
    if np.dtype(dtype).kind == "u" and data.max() >= np.iinfo(dtype).max:
        dtype = np.uint32
    data = data.astype(dtype)
    if kind == "eds":
        sig = {"name": "Energy", "scale": 19.9 / (n_channels - 1), "offset": 0.1, "units": "keV"}
        st = "EDS_SEM"
    else:
        sig = {"name": "Energy loss", "scale": 750.0 / (n_channels - 1), "offset": 250.0, "units": "eV"}
        st = "EELS"
    axes = [{"name": "y", "navigate": True, "units": "nm"}, {"name": "x", "navigate": True, "units": "nm"}, sig]
    s = Signal(data, axes=axes, signal_type=st, metadata={"Signal": {"counts": True}})
    truth = Truth(
        spectra,
        ab,
        expected,
        rank,
        {"kind": kind, "shape": shape, "n_channels": n_channels, "counts": counts, "pure": pure, "seed": seed},
    )
    return s, truth


def suite(full: bool = False):
    """The parameter grid of the rank suite: dicts of make_cube arguments."""
    counts = (20, 200, 2000, 20000)
    ranks = (2, 3, 4, 5, 6)
    cases = []
    seeds = range(3) if full else range(1)
    for kind in ("eds", "eels"):
        for pure in (True, False):
            for c in counts:
                for r in ranks:
                    for sd in seeds:
                        if not full and (r + sd + int(pure) + counts.index(c)) % 3:
                            continue
                        shape = (64, 64) if c == 20 else (48, 48) if (r + sd) % 2 else (32, 32)
                        n_ch = 512 if (r + sd + counts.index(c)) % 2 else 256
                        cases.append(
                            dict(
                                rank=r,
                                kind=kind,
                                shape=shape,
                                n_channels=n_ch,
                                counts=c,
                                pure=pure,
                                seed=1000 * r + 10 * sd + counts.index(c) + (7 if kind == "eels" else 0),
                            )
                        )
    return cases


def spectral_angles(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Angles (degrees) between each true spectrum and its best-matched found spectrum (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    f = found / np.linalg.norm(found, axis=1, keepdims=True)
    t = true / np.linalg.norm(true, axis=1, keepdims=True)
    cos = np.clip(t @ f.T, -1, 1)
    ang = np.degrees(np.arccos(cos))
    r, c = linear_sum_assignment(ang)
    return ang[r, c]


def clearly_detectable(s, truth: Truth, seed: int = 0) -> bool:
    """True when every component's own (noise-free) signal eigenvalue, after the Poisson weighting, exceeds the
    largest eigenvalue of pure Poisson noise with the *true* variance profile: no method can be asked to find
    components buried below the noise edge. Independent of the estimator under test (uses the truth)."""
    x = np.asarray(s.data, dtype=float).reshape(-1, s.data.shape[-1])
    mu = truth.expected.reshape(x.shape)
    ag = x.sum(1)
    bh = x.sum(0)
    ag[ag == 0] = 1
    bh[bh == 0] = 1
    wr, wc = 1 / np.sqrt(ag)[:, None], 1 / np.sqrt(bh)[None, :]
    theta = np.linalg.svd(mu * wr * wc, compute_uv=False) ** 2
    noise = np.random.default_rng(seed).poisson(mu) - mu
    edge = np.linalg.svd(noise * wr * wc, compute_uv=False)[0] ** 2
    return bool(theta[truth.rank - 1] > edge)
