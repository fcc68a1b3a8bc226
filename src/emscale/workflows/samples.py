"""Deterministic synthetic spectrum images with known components, for examples, tests and benchmarks.

Every generator takes a ``seed`` (default 0: the same call gives the same array on every machine) and returns
``(signal, truth)``: an emscale :class:`~emscale.Signal` of Poisson counts and a dict with the ground truth
it was drawn from (parameter maps, component spectra, phase maps).

Counts are stored as ``uint32`` (exact integers, as detectors deliver them;
``metadata["Signal"]["counts"]`` is True and the signal axis is binned, i.e. each value is the number of
counts in that channel). Navigation shape arguments are in numpy order, ``(rows, columns) = (y, x)``.

>>> from emscale import samples
>>> s, truth = samples.eels_si()          # 64 x 80 pixels x 1024 channels, 50-254.6 eV
>>> s2 = s.remove_background(signal_range=(70.2, 97.2))
"""

from __future__ import annotations

import numpy as np

from ..core.signal import Signal

__all__ = ["eels_si", "eds_si", "powerlaw_background"]


def _logistic(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _gauss(x, c, fwhm):
    s = fwhm / 2.3548200450309493
    return np.exp(-0.5 * ((x - c) / s) ** 2)


def _nav_axes(shape, scale, units):
    ny, nx = shape
    return [
        {"name": "y", "scale": scale, "offset": 0.0, "units": units, "navigate": True},
        {"name": "x", "scale": scale, "offset": 0.0, "units": units, "navigate": True},
    ]


def _check_shape(shape):
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (rows, columns) with positive sizes, got {shape!r}")
    return int(shape[0]), int(shape[1])


# -- EELS ---------------------------------------------------------------------------------------------------
# Edge onsets (eV). SiO2 shifts the Si L2,3 onset by ~5.7 eV (chemical shift + band gap).
SI_L23 = 99.8
SIO2_L23 = 105.5
C_K = 284.0


def _si_edge(E):
    """Elemental Si L2,3: L3/L2 spin-orbit pair (2:1, 0.6 eV apart), weak near-edge wiggles, delayed
    maximum."""
    step = (2 / 3) * _logistic((E - SI_L23) / 0.25) + (1 / 3) * _logistic((E - SI_L23 - 0.6) / 0.25)
    fine = 1 + 0.25 * _gauss(E, 101.3, 1.2) + 0.15 * _gauss(E, 103.2, 1.8)
    delayed = 1 + 1.2 * _gauss(E, 118.0, 18.0)
    return step * fine * delayed * (np.maximum(E, 1.0) / SI_L23) ** -3.0


def _sio2_edge(E):
    """SiO2 Si L2,3: onset ~105.5 eV, the two sharp ELNES peaks at 106.0 / 108.3 eV, broad humps at 115 /
    130 eV."""
    step = _logistic((E - SIO2_L23) / 0.35)
    fine = 1 + 1.6 * _gauss(E, 106.0, 0.9) + 1.3 * _gauss(E, 108.3, 1.3) + 0.5 * _gauss(E, 115.0, 5.0)
    delayed = 1 + 1.0 * _gauss(E, 130.0, 14.0)
    return step * fine * delayed * (np.maximum(E, 1.0) / SIO2_L23) ** -3.0


def _c_edge(E):
    """Amorphous carbon K edge: pi* peak at 285.5 eV on a sigma* step from 290 eV."""
    step = _logistic((E - 288.5) / 1.0)
    pi = 0.8 * _gauss(E, 285.5, 1.2) * _logistic((E - C_K) / 0.3)
    return (step + pi) * (np.maximum(E, 1.0) / C_K) ** -2.5


def powerlaw_background(truth: dict, energy: np.ndarray | None = None, dtype=np.float64) -> np.ndarray:
    """The true background cube (expected counts per channel) ``scale * A * E**-r`` of an :func:`eels_si`
    truth."""
    E = np.asarray(truth["energy"] if energy is None else energy, dtype=np.float64)
    A = truth["A"][..., None]
    r = truth["r"][..., None]
    return (truth["scale"] * A * np.exp(-r * np.log(E))).astype(dtype)


def eels_si(
    shape: tuple[int, int] = (64, 80),
    n_channels: int = 1024,
    offset: float = 50.0,
    scale: float = 0.2,
    seed: int = 0,
    dose: float = 1000.0,
    pixel_size: float = 0.5,
):
    """A core-loss EELS spectrum image of a Si / SiO2 / Si stack (a gate oxide seen edge-on).

    The oxide is a vertical band (about 30% of the width, centred at 55% of x, with a wavy interface), so a
    profile along x crosses Si -> SiO2 -> Si. The specimen is a wedge: the relative thickness grows along y.

    Each pixel's expected counts per channel are ``scale * A * E**-r`` (a power-law background, HyperSpy's
    binned convention: ``A`` is a density in counts/eV) plus ``t * (f_Si * Si(E) + f_SiO2 * SiO2(E) [+
    C(E)])`` where ``Si``/``SiO2`` are the Si L2,3 edges of the two phases (onsets 99.8 and 105.5 eV,
    different fine structure), and a C K edge (284 eV, a thin contamination layer) is added only when the
    axis reaches it. The data are Poisson draws of that, stored as uint32.

    Parameters
    ----------
    shape : navigation shape (rows y, columns x); the classic workflow's ``inav[:, 12:62]`` needs y >= 62.
    n_channels, offset, scale : the energy-loss axis (eV). The default spans 50-254.6 eV.
    seed : random seed of the Poisson noise (the noise-free truth does not depend on it).
    dose : expected background counts per channel at 100 eV in a pixel of unit relative thickness (the mean of
        the map is about this). ~1000 is a good spectrum image, ~10 a low-dose one.
    pixel_size : nm per pixel.

    Returns
    -------
    (Signal, truth) where ``truth`` holds ``A, r, thickness`` maps (numpy order, shape ``shape``), ``maps``
    (phase fractions), ``components`` (expected counts per channel of each edge for unit fraction and
    thickness), ``edges`` (name -> onset eV), ``energy`` (axis values), ``scale``, ``expected`` (the
    noise-free cube, float32).
    """
    ny, nx = _check_shape(shape)
    if n_channels < 2 or scale <= 0:
        raise ValueError("need n_channels >= 2 and a positive scale")
    E = offset + scale * np.arange(n_channels, dtype=np.float64)
    if E[0] <= 0:
        raise ValueError(
            f"the energy axis must be positive for a power-law background; it starts at {E[0]:g} eV"
        )
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    u, v = xx / max(nx - 1, 1), yy / max(ny - 1, 1)  # 0..1

    # phase maps: a wavy vertical oxide band
    centre = 0.55 * nx + 2.5 * np.sin(2 * np.pi * 1.5 * v + 0.4)
    half = 0.15 * nx
    edge = 1.2
    f_ox = _logistic((xx - (centre - half)) / edge) - _logistic((xx - (centre + half)) / edge)
    f_ox = np.clip(f_ox, 0.0, 1.0)
    f_si = 1.0 - f_ox

    # wedge thickness + a gentle bump; background shape depends on thickness and phase
    t = 0.7 + 0.6 * v + 0.1 * np.exp(-(((u - 0.25) / 0.2) ** 2 + ((v - 0.6) / 0.25) ** 2))
    r = 3.05 + 0.35 * f_ox - 0.25 * (t - 1.0) + 0.05 * np.sin(2 * np.pi * u)
    A = dose * t * (1.0 + 0.15 * f_ox) * 100.0**r / scale  # so that scale * A * 100**-r = dose * t * (...)

    comps = {
        "Si": dose * 0.45 * _si_edge(E) * scale / 0.2,
        "SiO2": dose * 0.30 * _sio2_edge(E) * scale / 0.2,
    }
    maps = {"Si": f_si, "SiO2": f_ox}
    edges = {"Si L2,3": SI_L23, "Si L2,3 (SiO2)": SIO2_L23}
    if E[-1] >= C_K:
        comps["C"] = dose * 0.02 * _c_edge(E) * scale / 0.2
        maps["C"] = np.full((ny, nx), 1.0)
        edges["C K"] = C_K

    logE = np.log(E)
    mu = np.exp(np.log(scale * A)[..., None] - r[..., None] * logE)  # (ny, nx, nE)
    for name, comp in comps.items():
        mu += (t * maps[name])[..., None] * comp
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mu).astype(np.uint32)

    axes = _nav_axes((ny, nx), pixel_size, "nm") + [
        {
            "name": "Energy loss",
            "scale": float(scale),
            "offset": float(offset),
            "units": "eV",
            "navigate": False,
        }
    ]
    metadata = {
        "General": {"title": "Synthetic Si/SiO2/Si EELS spectrum image"},
        "Signal": {"signal_type": "EELS", "counts": True, "binned": True, "quantity": "Electrons (Counts)"},
        "Acquisition_instrument": {
            "TEM": {
                "beam_energy": 200.0,
                "convergence_angle": 21.0,
                "Detector": {"EELS": {"collection_angle": 52.0, "aperture_size": 5.0, "dwell_time": 0.01}},
            }
        },
        "Sample": {
            "elements": ["O", "Si"] + (["C"] if "C" in comps else []),
            "description": "Si/SiO2/Si stack",
        },
        "Synthetic": {"generator": "emscale.samples.eels_si", "seed": int(seed), "dose": float(dose)},
    }
    s = Signal(counts, axes=axes, signal_type="EELS", metadata=metadata, title=metadata["General"]["title"])
    truth = {
        "A": A,
        "r": r,
        "thickness": t,
        "maps": maps,
        "components": comps,
        "edges": edges,
        "energy": E,
        "scale": float(scale),
        "expected": mu.astype(np.float32),
    }
    return s, truth


# -- EDS ----------------------------------------------------------------------------------------------------
_FAMILY_WEIGHT = {"K": 1.0, "L": 0.35, "M": 0.15}


def _lines(element: str, e_max_kev: float, e_min_kev: float):
    """(name, energy keV, relative weight) of an element's X-ray lines, from xraydb."""
    import xraydb

    out = []
    for name, line in xraydb.xray_lines(element).items():
        fam = name[0]
        e = line.energy / 1000.0
        w = float(line.intensity) * _FAMILY_WEIGHT.get(fam, 0.0)
        if w >= 0.01 and e_min_kev <= e <= e_max_kev:
            out.append((f"{element}_{name}", e, w))
    return out


def _fwhm_kev(E_kev, fwhm_mnka_ev=130.0):
    """Detector resolution: FWHM^2 = FWHM(Mn Ka)^2 + 2.5 (E - 5.898 keV) eV (as HyperSpy's EDS tools)."""
    f2 = fwhm_mnka_ev**2 + 2.5 * (np.asarray(E_kev) - 5.898) * 1000.0
    return np.sqrt(np.maximum(f2, 1.0)) / 1000.0


def eds_si(
    shape: tuple[int, int] = (64, 80),
    n_channels: int = 1024,
    offset: float = 0.0,
    scale: float = 0.01,
    beam_energy: float = 15.0,
    seed: int = 0,
    dose: float = 500.0,
    pixel_size: float = 5.0,
):
    """An SEM-EDS spectrum image: a SiO2 layer on Si with Cu particles.

    Phases: ``Si`` (substrate, bottom), ``SiO2`` (a layer across the top third) and ``Cu`` (round particles on
    the substrate). Each phase spectrum is a Kramers bremsstrahlung continuum ``(E0 - E) / E`` with a
    low-energy detector cut-off, plus Gaussian lines at the xraydb energies of its elements (K, L families;
    widths from a 130 eV Mn Ka resolution). Line-family weights are illustrative, not quantitative.

    Parameters
    ----------
    shape : navigation shape (rows y, columns x).
    n_channels, offset, scale : the energy axis in keV (default 0-10.23 keV).
    beam_energy : keV; lines above it are not excited.
    seed : random seed of the Poisson noise.
    dose : expected total counts per pixel of pure Si (SiO2 gives 0.75x, Cu 1.5x; EDS maps are sparse: tens to
        thousands of counts per pixel).
    pixel_size : nm per pixel.

    Returns
    -------
    (Signal, truth) with ``maps`` (phase fractions, numpy order), ``components`` (expected counts per
    channel of each pure phase at this dose), ``lines`` (name -> keV for the lines used), ``elements``,
    ``energy``, ``expected`` (noise-free cube, float32).
    """
    ny, nx = _check_shape(shape)
    E = offset + scale * np.arange(n_channels, dtype=np.float64)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)

    f_ox = _logistic((0.33 * ny + 1.5 * np.sin(2 * np.pi * xx / max(nx, 1)) - yy) / 1.0)
    cu = np.zeros((ny, nx))
    for cy, cx, rad in ((0.6, 0.25, 0.09), (0.8, 0.7, 0.12), (0.55, 0.8, 0.06)):
        d = np.hypot(yy - cy * ny, xx - cx * nx)
        cu = np.maximum(cu, _logistic((rad * min(ny, nx) - d) / 0.8))
    cu = cu * (1 - f_ox)
    f_si = np.clip(1.0 - f_ox - cu, 0.0, 1.0)
    maps = {"Si": f_si, "SiO2": f_ox, "Cu": cu}
    phase_elements = {"Si": {"Si": 1.0}, "SiO2": {"Si": 0.45, "O": 0.55}, "Cu": {"Cu": 1.0}}
    phase_z = {"Si": 14.0, "SiO2": 10.8, "Cu": 29.0}
    phase_yield = {"Si": 1.0, "SiO2": 0.75, "Cu": 1.5}  # relative total counts of the pure phases

    e_lo = max(E[0], 0.1)
    e_hi = min(E[-1], beam_energy * 0.95)
    line_table = {}
    for el in ("O", "Si", "Cu"):
        for name, e, w in _lines(el, e_hi, e_lo):
            line_table[name] = (e, w, el)

    Ep = np.maximum(E, 1e-3)
    brems = np.where(E < beam_energy, (beam_energy - E) / Ep, 0.0)
    brems *= 1.0 - np.exp(-((Ep / 1.0) ** 3))  # window / dead-layer absorption at low energy
    comps = {}
    for ph, els in phase_elements.items():
        spec = 0.02 * phase_z[ph] * brems
        for e, w, el in line_table.values():
            if el in els:
                eff = 1.0 - np.exp(-((e / 0.6) ** 3))  # detector window absorbs soft X-rays
                spec = spec + 25.0 * els[el] * w * eff * _gauss(E, e, _fwhm_kev(e)) * (scale / 0.01)
        spec = np.clip(spec, 0.0, None)
        comps[ph] = dose * phase_yield[ph] * spec / spec.sum()
    mu = sum(maps[ph][..., None] * comps[ph] for ph in comps)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mu).astype(np.uint32)

    axes = _nav_axes((ny, nx), pixel_size, "nm") + [
        {"name": "Energy", "scale": float(scale), "offset": float(offset), "units": "keV", "navigate": False}
    ]
    elements = sorted({el for els in phase_elements.values() for el in els})
    metadata = {
        "General": {"title": "Synthetic SiO2/Si/Cu EDS spectrum image"},
        "Signal": {"signal_type": "EDS_SEM", "counts": True, "binned": True, "quantity": "X-rays (Counts)"},
        "Acquisition_instrument": {
            "SEM": {
                "beam_energy": float(beam_energy),
                "Detector": {
                    "EDS": {
                        "energy_resolution_MnKa": 130.0,
                        "elevation_angle": 35.0,
                        "azimuth_angle": 0.0,
                        "live_time": 0.05,
                    }
                },
            }
        },
        "Sample": {"elements": elements, "xray_lines": sorted(line_table)},
        "Synthetic": {"generator": "emscale.samples.eds_si", "seed": int(seed), "dose": float(dose)},
    }
    s = Signal(
        counts, axes=axes, signal_type="EDS_SEM", metadata=metadata, title=metadata["General"]["title"]
    )
    truth = {
        "maps": maps,
        "components": comps,
        "lines": {k: v[0] for k, v in sorted(line_table.items(), key=lambda kv: kv[1][0])},
        "elements": elements,
        "energy": E,
        "expected": mu.astype(np.float32),
    }
    return s, truth
