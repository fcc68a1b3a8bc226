"""Names for decomposition components from their dominant X-ray lines (EDS) or ionisation edges (EELS).

A factor spectrum ``f(E)`` is named after the element features it carries, and only where the match is
unambiguous; otherwise it keeps its index ``"#k"``.

**EDS.** The continuum is removed with a grey opening (a running minimum then maximum over ``~3`` detector FWHM,
which keeps the bremsstrahlung and drops peaks narrower than the window); the peaks of the residual ``r(E)``
whose height is at least :data:`EDS_DOMINANT` of the largest are matched to the X-ray lines (``xraydb``, via
:func:`.eds.xray_lines`) within half the detector FWHM at that energy (Fiori & Newbury's formula,
:func:`.eds.line_fwhm`). Peaks wider than :data:`MAX_WIDTH` detector FWHM are continuum, not lines. A
candidate line is dropped when its element could not produce it alone: a line that is not its family's
principal line (``Kb`` without ``Ka``), or a softer family whose harder principal line is excited (overvoltage
>= :data:`MIN_OVERVOLTAGE`) inside the axis, needs that principal line among the peaks too.
A peak is assigned when one element remains, or the nearest is :data:`RATIO` times closer than the next. Lines
less than a channel apart are one candidate -- where a peak sits on the channel grid cannot tell them apart (Al Kα
1.4867 and Br Lα 1.4804 keV on a 20 eV grid: the peak's channel at 1.48 keV is nearer Br Lα) -- and it is named by
the lighter element: a light element's K or L line is the commoner in a sample than a heavy one's L or M line, which
would come with harder lines of its own.

**EELS.** Edges are steps, so the onsets are the peaks of the smoothed derivative ``f'(E)`` (a Gaussian derivative,
sigma ~1 eV) that are positive and at least :data:`EELS_DOMINANT` of the largest; each is matched to the K, L2,3 and
M4,5 edges (:func:`.eels.edges`, ``combine=True``) within ``2 eV + 4 %`` of the energy (chemical shifts: Si L2,3 moves
by +6 eV in SiO2, tabulated O K sits 11 eV above its onset in oxides), with the same ratio rule, except where another
element's edge is nearer than a K edge of B to F (:data:`COMMON_EDGES`) that lies within :data:`CHEMICAL_SHIFT_EV` of
the peak: the onset fits both, the nearer is no evidence, and the peak is left unnamed unless ``elements`` leaves one of
them out (the real EELS_SI.dm4's O K, its derivative peak at 528 eV, was named 'Sb M4,5' for Sb M5 at 528.2 eV against O
K's 532 in the tables; naming it O K instead named real Sb, Sc, Ru and Cd edges at their own energies C, N or O K).
Derivative peaks within ``12 eV + 5 %`` above a stronger one are its near-edge fine structure and are not matched, nor
are weaker ones whose own ``12 eV + 5 %`` would hold a stronger one (two onsets that close are one edge and its
structure: the strongest marks the edge). The peaks are weighed strongest first. A rise that does not persist (a
detector's spike of a few channels, which comes back) or that is the one-channel step between the halves of a whole
detector's channels (channel ``n/2``; their offsets differ from pixel to pixel) is no edge.

**Noise.** A peak names a component only where it stands :data:`NOISE_SIGMAS` times the noise of the curve it was
found on (EDS: the residual; EELS: the derivative) above zero: the factor's channel noise read from its second
differences (robust: lines and edges are few channels, a smooth background's are near zero), carried through the
filter. Components that are noise (a flat spectrum, a component past the rank) had been named after their largest
wiggle: "Fe L2,3 + Mn L2,3" on an EELS cube of flat Poisson noise, "Cr K/L + Si Kα + Ho Lα" on an EDS one (the
largest wiggles 2.5-5.4 sigmas).

Elements come from ``Sample.elements`` of the metadata when present (Velox, Bruker and the samples carry
them); otherwise every element from B to U is a candidate and only unambiguous matches name a component.

Labels read ``"Si Kα"`` (one line), ``"Cu K"`` (several lines of one family), ``"Cu K/L"`` (several
families), ``"Ti L2,3"`` (an edge); components with several elements join them with ``" + "`` in the order of
their strongest feature.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..core.signal import acquisition_value
from ._energy import ev_per_unit

EDS_DOMINANT = 0.2  # a peak names the component when it reaches this fraction of the strongest
EELS_DOMINANT = 0.35
MIN_OVERVOLTAGE = 1.5
MAX_WIDTH = 2.0  # an EDS peak wider than this many detector FWHM is not a line
FINE_STRUCTURE_EV = 12.0  # derivative peaks this close above an edge onset are its near-edge structure
RATIO = 3.0  # the nearest candidate must be this many times closer than the next to be unambiguous
# An EELS onset moves this far with the compound (O K rises at 526-530 eV in the real EELS_SI.dm4's oxide, 532 in the
# tables; Si L2,3 +6 eV in SiO2): within it the nearer of two edges is no evidence
CHEMICAL_SHIFT_EV = 6.0
# ... where one of them is a K edge of B-F, in nearly every sample (carbon films, oxides, nitrides), against the heavy
# elements' edges there (Ru M4,5 279, Sc L2,3 400, Cd M4,5 404, Sb M4,5 528 eV): the peak is left unnamed
COMMON_EDGES = frozenset((el, "K") for el in ("B", "C", "N", "O", "F"))
MAX_ELEMENTS = 3
SPIKE_WIDTH = 3  # a detector's spike is this many channels wide at most
PERSIST_EV = 30.0  # an edge's step is read over this many eV either side of its onset
PERSIST_SIGMAS = 3.0  # ... and persists at this many times the noise of the fitted step
PERSIST = 0.1  # ... and at this share of the step its derivative peak makes (a spike's: none)
SEAM_SHARE = 0.5  # the share of a rise made in the one channel between a detector's halves that makes it theirs
# ... read only on grids of 1/3 eV or finer (the derivative's sigma 3 channels or more): an edge rises over ~1 eV, so
# on a 0.5-1 eV grid it makes half its rise in one channel too (a 10 % Nd M4,5 edge at channel n/2 lost its name on
# 3 of 3 spectra at 1 eV, 2 of 3 at 0.5 eV; the code review), where the Velox windows' grid is 0.17 eV
SEAM_MIN_SIGMA = 3.0
# peaks of a curve of 1000-2000 white-noise values reach 3.5-4 of their sigma: measured on factors of flat Poisson
# cubes (NMF, k = 3): up to 3.8 (EELS derivative) and 5.4 (EDS residual, the opening's floor biased low by the noise)
NOISE_SIGMAS = 8.0
ALL_ELEMENTS = tuple(range(5, 93))  # B .. U
_EDS_LINES = ("Ka", "Kb", "La", "Lb1", "Ma", "Mb")
_PRINCIPAL = {"K": "Ka", "L": "La", "M": "Ma"}
_HARDER = {"L": "K", "M": "L"}
_EELS_EDGES = ("K", "L2,3", "M4,5")
_GREEK = {"a": "α", "b": "β", "g": "γ"}


def _line_label(line: str) -> str:
    """``"Ka"`` -> ``"Kα"``, ``"Lb1"`` -> ``"Lβ1"``."""
    return line[0] + _GREEK.get(line[1:2], line[1:2]) + line[2:]


def _elements(metadata: dict | None, elements: Sequence[str] | None) -> list[str]:
    import xraydb

    from .elements import element_symbol

    if elements is None and isinstance(metadata, dict):
        sample = metadata.get("Sample", {})
        listed = sample.get("elements") if isinstance(sample, dict) else None
        # the file's word, not the caller's: an entry that names no element ("Fe2O3") is left out and said, where it
        # failed a recipe's report after every step had run
        listed = list(listed) if isinstance(listed, list | tuple) else []
        elements = [e for e in listed if _is_element(e)]
        unknown = [e for e in listed if e not in elements]
        if unknown:
            warnings.warn(f"the metadata's Sample.elements holds {unknown}, which name no element: left out of the "
                          "component names", UserWarning, stacklevel=4)
    if elements:
        return sorted({element_symbol(e) for e in elements})
    return [xraydb.atomic_symbol(z) for z in ALL_ELEMENTS]


def _is_element(name) -> bool:
    from ..core.errors import DataError
    from .elements import element_symbol

    try:
        element_symbol(name)
    except DataError:
        return False
    return True


def _energy_kev(axis) -> tuple[np.ndarray, float]:
    """Axis values in keV and the factor keV -> axis units (EDS axes are in keV or eV)."""
    f = 1000.0 if ev_per_unit(axis.units) == 1.0 else 1.0
    return np.asarray(axis.values, dtype=float) / f, f


def _unique(cands: list[tuple[float, str, object]], energy, channel: float) -> object | None:
    """The candidate nearest the peak when it is unambiguous (see the module docstring). ``energy(c)``: where a
    candidate's line or edge lies; those less than a ``channel`` from the nearest one are one candidate, named by
    its lightest element."""
    import xraydb

    if not cands:
        return None
    cands.sort(key=lambda c: c[0])
    near = energy(cands[0][2])
    twins = [c for c in cands if abs(energy(c[2]) - near) < channel]
    best = min(twins, key=lambda c: (xraydb.atomic_number(c[1]), c[0]))
    others = [c for c in cands if c[1] not in {t[1] for t in twins}]
    if not others or others[0][0] > RATIO * max(cands[0][0], 1e-12):
        return best[2]
    return None


def _peaks(y: np.ndarray, dominant: float, min_distance: int, floor: float = 0.0) -> np.ndarray:
    """Indices of the peaks of ``y`` at least ``dominant`` times the highest and at least ``floor``, strongest
    first."""
    from scipy.signal import find_peaks

    top = float(np.max(y)) if y.size else 0.0
    if not top > 0 or top < floor:
        return np.zeros(0, dtype=int)
    idx, props = find_peaks(y, height=max(dominant * top, floor), prominence=dominant * top / 2,
                            distance=max(min_distance, 1))
    return idx[np.argsort(-props["peak_heights"], kind="stable")]


def _noise_floor(f: np.ndarray, sigma: float, order: int) -> float:
    """:data:`NOISE_SIGMAS` times the noise of ``f`` after a Gaussian filter of ``sigma`` channels (``order`` 1: its
    derivative). The channel noise is read from the median absolute second difference (a first difference read
    a power-law background's slope as noise: 63-92 on a noise-free EELS spectrum, whose 5 % edges then went
    unnamed) over the channels between the first and last nonzero one (an EDS axis past the beam energy is zeros,
    which read as no noise at all); 0 where that is 0 (a factor of few counts, mostly zeros: no floor, as before)."""
    from scipy.ndimage import gaussian_filter1d

    channel = _channel_noise(f)
    half = int(np.ceil(6 * sigma))
    impulse = np.zeros(2 * half + 1)
    impulse[half] = 1.0
    return NOISE_SIGMAS * channel * float(np.linalg.norm(gaussian_filter1d(impulse, sigma, order=order)))


def _channel_noise(f: np.ndarray) -> float:
    """The noise of one channel of ``f``, read as :func:`_noise_floor` says."""
    held = np.flatnonzero(f)
    d = np.diff(f[held[0]: held[-1] + 1], n=2) if held.size else f[:0]
    return float(np.median(np.abs(d - np.median(d)))) / 0.6745 / np.sqrt(6.0) if d.size else 0.0


# -- EDS ------------------------------------------------------------------------------------------------------
def _eds_peaks(f: np.ndarray, e_kev: np.ndarray, resolution: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d, grey_opening

    from .eds import line_fwhm

    step = float(np.median(np.diff(e_kev))) if e_kev.size > 1 else 1.0
    width = int(np.ceil(3 * float(line_fwhm(max(float(e_kev.max()), 1.0), resolution)) / step)) | 1
    f = np.nan_to_num(f)
    y = gaussian_filter1d(f, 1.0)
    r = y - grey_opening(y, size=min(width, max(3, y.size // 2 * 2 - 1)))
    idx = _peaks(r, EDS_DOMINANT, width // 3, _noise_floor(f, 1.0, 0))
    if idx.size:  # a line is as narrow as the detector makes it; a wider hump is continuum (its low-energy cut-off)
        from scipy.signal import peak_widths

        fwhm = peak_widths(r, idx, rel_height=0.5)[0] * step
        idx = idx[fwhm <= MAX_WIDTH * line_fwhm(e_kev[idx], resolution) + 2 * step]
    return e_kev[idx]


def _eds_candidates(elements, e_max: float, beam: float):
    from .eds import xray_lines

    table = {}
    for el in elements:
        lines = {ln.line: ln for ln in xray_lines(el, beam_energy=beam) if ln.line in _EDS_LINES}
        table[el] = {k: v for k, v in lines.items() if v.energy <= e_max}
    return table


def _eds_names(f, e_kev, elements, beam: float, resolution: float) -> list[tuple[str, str, float]]:
    from .eds import line_fwhm

    peaks = _eds_peaks(f, e_kev, resolution)
    table = _eds_candidates(elements, float(e_kev.max()), beam)
    step = float(np.median(np.diff(e_kev))) if e_kev.size > 1 else 0.0

    def tol(e):
        return 0.5 * float(line_fwhm(e, resolution))

    found = []
    for rank, p in enumerate(peaks):
        cands = []
        for el, lines in table.items():
            for ln in lines.values():
                d = abs(ln.energy - p)
                hard = lines.get(_PRINCIPAL[_HARDER[ln.line[0]]]) if ln.line[0] in _HARDER else None
                excited_hard = hard is not None and beam / hard.edge >= MIN_OVERVOLTAGE
                if d <= tol(p) and _possible(ln, lines, hard if excited_hard else None, peaks, tol):
                    cands.append((d, el, ln))
        ln = _unique(cands, lambda line: line.energy, step)
        if ln is None and rank == 0:
            return []  # the strongest peak is unexplained: no name
        if ln is not None:
            found.append((ln.element, ln.line, rank))
    return found


def _possible(line, lines: dict, hard, peaks: np.ndarray, tol) -> bool:
    fam = line.line[0]
    needed = [] if line.line == _PRINCIPAL[fam] else [lines.get(_PRINCIPAL[fam])]
    if hard is not None:
        needed.append(hard)
    return all(n is not None and np.any(np.abs(peaks - n.energy) <= tol(n.energy)) for n in needed)


# -- EELS -----------------------------------------------------------------------------------------------------
def _eels_names(f, e_ev, elements) -> list[tuple[str, str, int]]:
    from scipy.ndimage import gaussian_filter1d

    from .eels import edges

    step = float(np.median(np.diff(e_ev))) if e_ev.size > 1 else 1.0
    sigma = max(1.0, 1.0 / step)
    f = np.nan_to_num(f)
    d = gaussian_filter1d(f, sigma, order=1)
    margin = int(np.ceil(4 * sigma))  # the derivative filter's edge effects
    idx = [i for i in _peaks(d, EELS_DOMINANT, margin, _noise_floor(f, sigma, 1))
           if margin <= i < d.size - margin and _persists(f, i, d[i], sigma, step) and not _at_seam(f, i, d[i], sigma)]
    # strongest first: a weaker peak in the near-edge structure of a stronger one is not a new edge, nor is one
    # whose own structure would hold the stronger (in energy order a weak wiggle below the strongest onset
    # discarded that onset)
    peaks: list[float] = []
    for e in (float(v) for v in e_ev[idx]):
        if not any(_fine_structure(k, e) or _fine_structure(e, k) for k in peaks):
            peaks.append(e)
    table = [e for el in elements for e in edges(el, combine=True)
             if e.edge in _EELS_EDGES and e_ev.min() <= e.onset <= e_ev.max() + 20]
    found = []
    for rank, p in enumerate(peaks):
        cands = [(abs(e.onset - p), e.element, e) for e in table if abs(e.onset - p) <= 2.0 + 0.04 * p]
        e = _unique(cands, lambda edge: edge.onset, step)
        if e is not None and _shift_ambiguous(cands, e):
            e = None
        if e is None and rank == 0:
            return []
        if e is not None:
            found.append((e.element, e.edge, rank))
    return found


def _shift_ambiguous(cands: list[tuple[float, str, object]], nearest) -> bool:
    """Whether the ``nearest`` edge, no edge of :data:`COMMON_EDGES`, has one of them among the candidates
    ``(distance, element, edge)`` within :data:`CHEMICAL_SHIFT_EV` of the peak."""
    if (nearest.element, nearest.edge) in COMMON_EDGES:
        return False
    return any(c[0] <= CHEMICAL_SHIFT_EV and (c[1], c[2].edge) in COMMON_EDGES for c in cands)


def _at_seam(f: np.ndarray, i: int, slope: float, sigma: float) -> bool:
    """Whether the rise the derivative peak at channel ``i`` marks is the step between the two halves of a whole
    detector's channels (a power of two, 1024 or more; a grid of ``sigma`` :data:`SEAM_MIN_SIGMA` channels or
    more): the peak within ``2 sigma`` of channel ``n/2`` and at least
    :data:`SEAM_SHARE` of its step (``slope * sqrt(2 pi) * sigma``) made in the one channel from ``n/2 - 1`` to
    ``n/2``. The halves of a camera read out apart carry offsets of their own, which differ from pixel to pixel and
    which decomposition gives a component: the three EELS windows of the Velox file each step at channel 1024 of
    2048 (each pixel's mean over the 120 channels after it less that before: spread 1.17-1.24 counts where the
    noise makes 0.54, mean 0.1 or less), and that step was named 'Nd M4,5' (973 eV) and 'Y M4,5' (152 eV). The
    step persists, as an edge's does; it is sharper than an edge's rise on a fine grid, but at 10 noise sigmas one
    channel's jump cannot tell them apart elsewhere, so only the seam's channel is read."""
    n = f.size
    if n < 1024 or n & (n - 1) or sigma < SEAM_MIN_SIGMA or abs(i - n // 2) > 2 * sigma:
        return False
    return f[n // 2] - f[n // 2 - 1] >= SEAM_SHARE * slope * np.sqrt(2 * np.pi) * sigma


def _persists(f: np.ndarray, i: int, slope: float, sigma: float, step: float) -> bool:
    """Whether the rise the derivative peak at channel ``i`` marks (``slope``: the derivative there) persists, as an
    edge's step does, where a detector's spike comes back. The step is fitted with a straight background shared by
    both sides over :data:`PERSIST_EV` (at least 10 channels) either side, leaving out ``2 sigma`` +
    :data:`SPIKE_WIDTH` channels about the onset (the spike's own); it persists at :data:`PERSIST_SIGMAS` times its
    noise (the channel noise through the fit) and :data:`PERSIST` of the step a sharp rise of that slope makes
    (``slope * sqrt(2 pi) * sigma``; for a curve without noise). Spikes of 1-3 channels whose derivative stood
    10-12 noise sigmas were named 'Fe L2,3' on grids of 0.17-1 eV; their fitted steps read -3 to 2.5 sigmas, a 5-10 %
    Fe L2,3 edge's 3.5-26 (a running median of a few channels, the other test of a spike, drops a white line on a
    1 eV grid too). Where a side holds fewer than 3 channels the rise counts as a step, as before."""
    gap = int(np.ceil(2 * sigma)) + SPIKE_WIDTH
    n = max(int(round(PERSIST_EV / step)), 10)
    x = np.r_[max(i - gap - n, 0): max(i - gap + 1, 0), i + gap: min(i + gap + n + 1, f.size)]
    before = int(np.sum(x < i))
    if before < 3 or x.size - before < 3:
        return True
    t = (x - i) / float(gap + n)
    design = np.stack([np.ones_like(t), t, (x > i).astype(float)], axis=1)
    height = float(np.linalg.lstsq(design, f[x], rcond=None)[0][2])
    noise = _channel_noise(f) * float(np.sqrt(np.linalg.inv(design.T @ design)[2, 2]))
    return height > max(PERSIST * slope * np.sqrt(2 * np.pi) * sigma, PERSIST_SIGMAS * noise)


def _fine_structure(onset: float, e: float) -> bool:
    """Whether ``e`` lies in the near-edge structure above an edge whose onset is ``onset`` (eV)."""
    return onset < e <= onset + FINE_STRUCTURE_EV + 0.05 * onset


def _label(found: list[tuple[str, str, int]], eels: bool) -> str:
    by_el: dict[str, list[str]] = {}
    for el, line, _ in found:
        by_el.setdefault(el, [])
        if line not in by_el[el]:
            by_el[el].append(line)
    parts = []
    for el, lines in list(by_el.items())[:MAX_ELEMENTS]:
        if eels:
            parts.append(f"{el} {'/'.join(lines)}")
            continue
        fams = sorted({ln[0] for ln in lines}, key="KLM".index)
        parts.append(f"{el} {_line_label(lines[0])}" if len(lines) == 1 else f"{el} {'/'.join(fams)}")
    return " + ".join(parts)


def component_names(
    factors: np.ndarray,
    axis,
    signal_type: str = "",
    metadata: dict | None = None,
    elements: Sequence[str] | None = None,
) -> list[str]:
    """A name per component: its dominant element lines (EDS) or edges (EELS), or ``"#k"`` when ambiguous.

    Parameters
    ----------
    factors : (channels, k) factor spectra (columns), in any units; NaN (masked channels) count as 0.
    axis : the energy :class:`~emscale.Axis` of the channels (EDS: keV or eV; EELS: eV).
    signal_type : ``"EDS..."`` or ``"EELS"``; anything else gives ``"#k"`` names.
    metadata : the signal's metadata: ``Sample.elements`` restricts the candidates, the beam energy (keV) of
        ``Acquisition_instrument.{SEM,TEM}`` (the signal type's microscope first) limits the excited X-ray
        lines, and the EDS detector resolution (``Detector.EDS.energy_resolution_MnKa``, eV) sets the match
        tolerance.
    elements : candidate elements, overriding the metadata.

    Returns
    -------
    list of k strings, e.g. ``["Si Kα", "Cu K/L", "#2"]``.

    Example
    -------
    >>> component_names(d.factors_array, d.sig_axes[0], "EDS_SEM", d.metadata)   # doctest: +SKIP
    ['O Kα + Si Kα', 'Si Kα', 'Cu K/L']
    """
    f = np.asarray(factors, dtype=float)
    if f.ndim == 1:
        f = f[:, None]
    k = f.shape[1]
    kind = str(signal_type or "").upper()
    names = [f"#{c}" for c in range(k)]
    if not (kind.startswith("EDS") or kind.startswith("EELS")) or f.shape[0] < 8:
        return names
    els = _elements(metadata, elements)
    if kind.startswith("EDS"):
        from .eds import DEFAULT_RESOLUTION_MNKA

        e_kev, _ = _energy_kev(axis)
        beam = acquisition_value(metadata, "beam_energy", signal_type=signal_type) or float(e_kev.max())
        res = (acquisition_value(metadata, "Detector", "EDS", "energy_resolution_MnKa", signal_type=signal_type)
               or DEFAULT_RESOLUTION_MNKA)
        out = []
        for c in range(k):
            pos = _positive_side(f[:, c])
            label = _label(_eds_names(pos, e_kev, els, beam, res), False) or names[c]
            if -pos.min() >= BIPOLAR * pos.max():
                # a contrast of two phases (a PCA factor): both sides named, or the label was the positive side's
                # alone ("Si Kα" on a factor whose larger peak was a negative Cu K and whose map showed the Cu)
                label = f"{label} / −{_label(_eds_names(-pos, e_kev, els, beam, res), False) or '?'}"
            out.append(label)
        return out
    e_ev = np.asarray(axis.values, dtype=float) * (1000.0 if ev_per_unit(axis.units) == 1e3 else 1.0)
    return [_label(_eels_names(f[:, c], e_ev, els), True) or names[c] for c in range(k)]


BIPOLAR = 0.5  # a factor whose negative peak reaches this share of its positive one has two sides


def _positive_side(f: np.ndarray) -> np.ndarray:
    """The factor with the sign whose peaks dominate (PCA factors have an arbitrary sign): its larger side."""
    f = np.nan_to_num(f)
    return -f if -f.min() > f.max() else f
