"""EDS tools: X-ray lines (from ``xraydb``), element (line-intensity) maps, binning and spike removal.

Every function takes a :class:`~emscale.Signal` with one energy axis (the last numpy dimension, keV or eV) and
works on all spectra at once, as an engine pass over navigation partitions (:func:`emscale.engine.run_pass`):
lazy (dask) data are read partition by partition. Results that are Signals carry a history entry and can be
replayed (:func:`emscale.replay`).

>>> from emscale.spectroscopy import eds
>>> eds.xray_lines("Fe", beam_energy=20)        # lines excited at 20 kV, energies in keV
>>> maps = eds.line_maps(s)                      # one map per line of metadata Sample.xray_lines / elements
>>> maps.metadata["Sample"]["xray_lines"]        # which map is which (maps.inav[i] is map i)
>>> clean, n = eds.remove_spikes(s)              # outliers replaced by the median of their neighbours
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..core.axes import Axis
from ..core.errors import AxisError, DataError, check_choice, check_count, check_positive, is_number, warn_caller
from ..core.registry import operation
from ..core.signal import Signal, acquisition_value, derive
from ..engine import Pass, read_block, run_pass
from ._energy import check_ascending, ev_per_unit
from .elements import element_symbol

__all__ = [
    "MN_KA_KEV",
    "XrayLine",
    "beam_energy",
    "bin_energy",
    "bin_navigation",
    "line_energy",
    "line_fwhm",
    "line_maps",
    "main_line",
    "remove_spikes",
    "xray_lines",
]

# Mn Ka energy (keV) at which detector resolution is specified (the value exspy uses).
MN_KA_KEV = 5.8987
DEFAULT_RESOLUTION_MNKA = 130.0  # eV
_PARTITION_BYTES = 16 * 2**20


# ---------------------------------------------------------------------------------------------------------
# X-ray lines
# ---------------------------------------------------------------------------------------------------------
class XrayLine(NamedTuple):
    element: str
    line: str  # "Ka", "Kb", "La", "Lb1", "Ma", ... (exspy / HyperSpy names)
    energy: float  # keV (intensity-weighted over the merged components)
    weight: float  # relative intensity within the initial shell (xraydb)
    edge: float  # keV, ionisation energy of the initial shell (the beam must exceed it)

    @property
    def name(self) -> str:
        return f"{self.element}_{self.line}"


# xraydb components merged into the lines EDS resolves (and exspy names): Ka1,2,3 -> Ka, La1,2 -> La,
# Kb1,3 -> Kb. Other lines keep xraydb's name (Lb1, Lb2,15, Lg1, Ll, Ln, Ma, Mb, Mg, Mz, Kb2, Kb5...).
_MERGE = {"Ka1": "Ka", "Ka2": "Ka", "Ka3": "Ka", "La1": "La", "La2": "La", "Kb1": "Kb", "Kb3": "Kb"}


@lru_cache(maxsize=256)
def _all_lines(element: str) -> tuple[XrayLine, ...]:
    import xraydb

    edges = xraydb.xray_edges(element)
    groups: dict[str, list] = {}
    for name, ln in xraydb.xray_lines(element).items():
        groups.setdefault(_MERGE.get(name, name), []).append(ln)
    out = []
    for name, comps in groups.items():
        w = np.array([c.intensity for c in comps], dtype=float)
        e = np.array([c.energy for c in comps], dtype=float)
        energy = float((w * e).sum() / w.sum()) if w.sum() > 0 else float(e.mean())
        level = comps[0].initial_level.split(",")[0]
        edge = edges[level].energy if level in edges else max(c.energy for c in comps)
        out.append(XrayLine(element, name, energy / 1000.0, float(w.sum()), float(edge) / 1000.0))
    return tuple(sorted(out, key=lambda ln: ln.energy))


def xray_lines(
    element: str, beam_energy: float | None = None, energy_range: Sequence[float] | None = None
) -> list[XrayLine]:
    """X-ray emission lines of an element from ``xraydb``, energies in keV, sorted by energy.

    Components EDS cannot resolve are merged (intensity-weighted energy): ``Ka`` (Ka1-3), ``Kb`` (Kb1, Kb3),
    ``La`` (La1, La2); the rest keep their names. ``beam_energy`` (keV) keeps only the lines the beam can
    excite (ionisation energy of the initial shell below the beam energy); ``energy_range=(E1, E2)`` (keV)
    keeps lines inside it.

    >>> [(l.name, round(l.energy, 3)) for l in xray_lines("Fe", beam_energy=5)]
    [('Fe_Ll', 0.616), ('Fe_Ln', 0.629), ('Fe_La', 0.705), ('Fe_Lb1', 0.718), ('Fe_Lb3', 0.792), ...]
    """
    out = list(_all_lines(element_symbol(element)))
    if beam_energy is not None:
        out = [ln for ln in out if ln.edge < float(beam_energy)]
    if energy_range is not None:
        lo, hi = (float(v) for v in energy_range)
        out = [ln for ln in out if lo <= ln.energy <= hi]
    return out


def _parse_line(spec: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z]{1,2})[\s_-]+([A-Za-z][A-Za-z0-9,]*)\s*", str(spec))
    if not m:
        raise DataError(f"X-ray line {spec!r} not understood; use e.g. 'Fe_Ka', 'Ce_La', 'Th_Ma'")
    el, line = m.groups()
    return element_symbol(el), line[:1].upper() + line[1:]


def line_energy(spec: str | XrayLine) -> float:
    """Energy (keV) of a line given as ``"Fe_Ka"`` (or an :class:`XrayLine`)."""
    if isinstance(spec, XrayLine):
        return spec.energy
    el, line = _parse_line(spec)
    for ln in _all_lines(el):
        if ln.line == line:
            return ln.energy
    known = ", ".join(ln.line for ln in _all_lines(el))
    raise DataError(f"{el} has no {line} line; known: {known}")


def line_fwhm(energy, resolution_mnka: float = DEFAULT_RESOLUTION_MNKA):
    """Peak FWHM (keV) at ``energy`` (keV) from the detector resolution at Mn Ka (eV).

    Fiori & Newbury's formula, as exspy's ``get_FWHM_at_Energy``:
    ``FWHM(E)^2 = FWHM_MnKa^2 + 2.5 (E - E_MnKa)`` with FWHM and energies in eV (the Fano term grows like E,
    so the width grows like sqrt(E) at high energy).
    """
    e = np.asarray(energy, dtype=float)
    f2 = 2.5 * (e - MN_KA_KEV) * 1000.0 + float(resolution_mnka) ** 2
    return np.sqrt(np.maximum(f2, 1.0)) / 1000.0


# ---------------------------------------------------------------------------------------------------------
# metadata helpers
# ---------------------------------------------------------------------------------------------------------
def beam_energy(s: Signal) -> float | None:
    """The beam energy (keV) the metadata give (the signal type's microscope first); None where they give none, or
    none above zero (a 0 keV beam is a missing value, not a beam that excites no line)."""
    e = acquisition_value(s.metadata, "beam_energy", signal_type=s.signal_type)
    return e if e is not None and e > 0 else None


def _resolution(s: Signal) -> float | None:
    """The detector's FWHM at Mn Ka (eV) that the file's metadata give, None where they give none."""
    return acquisition_value(s.metadata, "Detector", "EDS", "energy_resolution_MnKa", signal_type=s.signal_type) or None


def _energy_axis(s: Signal) -> tuple[Axis, float]:
    """The energy axis and the factor from keV to its units. A signal whose type says it is no EDS signal is refused:
    an EELS map's loss axis in eV passed every check, and ``line_maps(eels, ["Fe"])`` integrated 667-742 eV of
    energy loss as "Fe La" (a review, Velox EELS map); exspy has no such method on EELS signals."""
    kind = str(s.signal_type or "")
    if kind and not kind.upper().startswith("EDS"):
        raise DataError(f"{s!r} has signal_type {kind!r}: the EDS tools read X-ray lines on an EDS detector's energy "
                        "axis; set signal_type='EDS_SEM' or 'EDS_TEM' if the data are X-ray counts after all")
    if s.sig_ndim != 1:
        raise AxisError(f"EDS tools need exactly one signal (energy) axis; {s!r} has {s.sig_ndim}")
    ax = s.axes[-1]
    if not ax.is_uniform:
        raise AxisError(f"energy axis {ax.name!r} is non-uniform; EDS tools need a uniform energy axis")
    check_ascending(ax, "EDS tools")
    per_ev = ev_per_unit(ax.units or "keV")
    if per_ev == 1e3:
        return ax, 1.0
    if per_ev == 1.0:
        return ax, 1000.0
    raise AxisError(f"energy axis {ax.name!r} has units {ax.units!r}; expected keV or eV")


def _sample(s: Signal) -> dict:
    sm = s.metadata.get("Sample", {}) if isinstance(s.metadata, dict) else {}
    return sm if isinstance(sm, dict) else {}


def main_line(element: str, beam_energy: float | None, lo: float, hi: float) -> XrayLine | None:
    """The line an element's name stands for (in :func:`line_maps`, and the viewer's markers): exspy's choice, among
    the element's Ka, La, Ma lines inside ``lo..hi`` (keV), the first (K before L before M) below half the beam
    energy (overvoltage >= 2), else the last one; None where none lies inside."""
    cands = [
        ln for ln in xray_lines(element, beam_energy) if ln.line in ("Ka", "La", "Ma") and lo < ln.energy < hi
    ]
    if not cands:
        return None
    cands.sort(key=lambda ln: ln.line)
    e0 = beam_energy if beam_energy is not None else hi
    for ln in cands:
        if ln.energy < e0 / 2:
            return ln
    return cands[-1]


def _resolve_lines(s: Signal, lines_or_elements, lo: float, hi: float) -> list[XrayLine]:
    e0 = beam_energy(s)
    if lines_or_elements is None:
        sm = _sample(s)
        lines_or_elements = sm.get("xray_lines") or sm.get("elements")
        if not lines_or_elements:
            raise DataError(
                f"{s!r}: no lines or elements given and the metadata has no Sample.xray_lines or "
                "Sample.elements"
            )
    if isinstance(lines_or_elements, str | XrayLine):
        lines_or_elements = [lines_or_elements]
    out: list[XrayLine] = []
    for item in lines_or_elements:
        if isinstance(item, XrayLine):
            out.append(item)
            continue
        item = str(item)
        if re.fullmatch(r"\s*[A-Za-z]{1,2}\s*", item):
            ln = main_line(item, e0, lo, hi)
            if ln is None:
                warnings.warn(
                    f"line_maps: {item} has no Ka/La/Ma line inside the energy axis; skipped", stacklevel=3
                )
                continue
            out.append(ln)
        else:
            el, name = _parse_line(item)
            match = [ln for ln in _all_lines(el) if ln.line == name]
            if not match:
                known = ", ".join(ln.line for ln in _all_lines(el))
                raise DataError(f"{el} has no {name} line; known: {known}")
            out.append(match[0])
    names = [ln.name for ln in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DataError(f"line_maps: lines given twice: {sorted(dup)}")
    return out


# ---------------------------------------------------------------------------------------------------------
# line maps
# ---------------------------------------------------------------------------------------------------------
def _bounds(ax: Axis, lo: float, hi: float) -> tuple[int, int]:
    """Channel range [i0, i1) nearest to [lo, hi) (HyperSpy's isig convention: the axis's value -> index rule,
    :meth:`Axis.value_to_index`, clipped to the axis), at least 1 channel when the window overlaps the axis;
    (0, 0) when it does not."""
    if hi < ax.low - abs(ax.scale) / 2 or lo > ax.high + abs(ax.scale) / 2:
        return 0, 0
    i0, i1 = ax.value_to_index(lo, clip=True), ax.value_to_index(hi, clip=True)
    if i1 <= i0:
        i1 = min(i0 + 1, ax.size)
        i0 = i1 - 1
    return i0, i1


def _check_fwhms(name: str, value) -> None:
    """A window size in multiples of the line FWHM: a finite number above 0 (``width=0`` integrated one channel and
    a negative width reversed the window, without a word, a reviewer)."""
    if not (is_number(value) and np.isfinite(value) and value > 0):
        raise DataError(f"{name} must be a finite number of line FWHMs above 0, got {value!r}")


def _check_resolution(value) -> None:
    if value is not None and not (is_number(value) and np.isfinite(value) and value > 0):
        raise DataError(f"resolution_mnka must be the detector's FWHM at Mn Ka in eV, a number above 0 (or None: "
                        f"the metadata's, else {DEFAULT_RESOLUTION_MNKA:g}), got {value!r}")


def _check_background_offset(value, arguments: dict) -> None:
    """The background windows start outside the integration window (a negative offset swapped them across the
    peak, one inside it subtracted part of the peak)."""
    _check_fwhms("background_offset", value)
    width = arguments.get("width", 1.2)
    if is_number(width) and value < width / 2:
        raise DataError(f"background_offset={value!r} FWHM puts the background windows inside the integration window "
                        f"(width={width!r} FWHM reaches {width / 2:g} FWHM from the line): use at least {width / 2:g}")


@operation("line_maps", check={"width": lambda v: _check_fwhms("width", v), "resolution_mnka": _check_resolution,
                               "background_width": lambda v: _check_fwhms("background_width", v),
                               "background_offset": _check_background_offset})
def line_maps(
    s: Signal,
    lines_or_elements: Sequence[str] | str | None = None,
    width: float = 1.2,
    background_windows: bool | np.ndarray | Sequence = True,
    background_offset: float = 2.0,
    background_width: float = 1.0,
    resolution_mnka: float | None = None,
    clip: bool = False,
    executor=None,
    progress=None,
) -> Signal:
    """Integrated X-ray line intensities (counts) of every pixel: one map per line, as one stacked Signal.

    Parameters
    ----------
    lines_or_elements : ``"Fe_Ka"``-style line names and/or element symbols (an element picks its Ka, La or Ma
        line as exspy does: the first below half the beam energy). Default: the metadata's
        ``Sample.xray_lines``, else ``Sample.elements``.
    width : integration window width in multiples of the line FWHM (window ``E +- width * FWHM / 2``). The
        FWHM follows the detector resolution at Mn Ka (``Acquisition_instrument.*.Detector.EDS.
        energy_resolution_MnKa``, default 130 eV; ``resolution_mnka`` overrides) by :func:`line_fwhm`.
    background_windows : ``True``: two windows, ``background_width * FWHM`` wide, starting
        ``background_offset * FWHM`` either side of the line (exspy's default geometry; when the windows of
        two requested lines overlap, both use the outer pair, as exspy does); the mean counts per
        channel in each, linearly interpolated across the integration window, are subtracted. A window
        outside the axis is dropped (the other one gives a constant). ``False``: no subtraction. An array
        ``(n_lines, 4)`` gives the windows explicitly (``left_lo, left_hi, right_lo, right_hi``, axis units).
    clip : set negative intensities (background larger than the peak) to 0. Off by default, as exspy's
        ``get_lines_intensity``: clipping biases weak and absent lines upwards (the noise of an absent line
        sums to about 0, its positive half does not), so sums over pixels or regions are wrong. A history
        recorded before this default changed names ``clip=True`` and replays so.
    executor, progress : passed to :func:`emscale.engine.run_pass`.

    A NaN (or infinite) value in a line's integration or background windows makes that line's map NaN at that pixel;
    one outside every window changes nothing.

    Returns
    -------
    Signal of shape ``(n_lines, *navigation shape)``: a navigation axis ``line`` over the maps, the original
    navigation axes as its (image) signal axes; ``maps.inav[i]`` is map ``i``.
    ``metadata["Sample"]["xray_lines"]`` names the maps in order and ``metadata["EDS"]["line_maps"]`` records
    energies and windows.
    """
    _check_fwhms("width", width)
    _check_resolution(resolution_mnka)
    if background_windows is True:
        _check_fwhms("background_width", background_width)
        _check_background_offset(background_offset, {"width": width})
    ax, k = _energy_axis(s)
    lo_kev, hi_kev = ax.low / k, ax.high / k
    lines = _resolve_lines(s, lines_or_elements, lo_kev, hi_kev)
    if not lines:
        raise DataError(f"{s!r}: none of the requested X-ray lines lies inside the energy axis")
    res = float(resolution_mnka) if resolution_mnka is not None else _resolution(s)
    resolution_from = "given" if resolution_mnka is not None else "the metadata" if res is not None else "assumed"
    if res is None:  # the Bruker map and the DM EDS spectrum give none: their windows were 130 eV's, unsaid
        res = DEFAULT_RESOLUTION_MNKA
        warnings.warn(f"line_maps {s!r}: the metadata give no detector resolution (energy_resolution_MnKa); the line "
                      f"windows assume {res:g} eV at Mn Ka: pass resolution_mnka= for the detector's own", stacklevel=3)
    energies = np.array([ln.energy for ln in lines])
    fwhm = line_fwhm(energies, res)
    nl = len(lines)
    iw = np.stack([energies - width * fwhm / 2, energies + width * fwhm / 2], axis=1) * k
    if background_windows is True:
        a, b = background_offset * fwhm, (background_offset + background_width) * fwhm
        bw = np.stack([energies - b, energies - a, energies + a, energies + b], axis=1) * k
        # Neighbouring lines whose windows overlap share their outer windows (exspy's rule), so that no
        # background window sits on the other line.
        order = np.argsort(bw[:, 0], kind="stable")
        for ia, ib in zip(order[:-1], order[1:], strict=True):
            if bw[ia, 2] > bw[ib, 0]:
                merged = np.concatenate([bw[ia, :2], bw[ib, 2:]])
                bw[ia] = merged
                bw[ib] = merged
        use_bg = True
    elif background_windows is False or background_windows is None:
        bw = np.full((nl, 4), np.nan)
        use_bg = False
    else:
        bw = np.asarray(background_windows, dtype=float)
        if bw.shape != (nl, 4):
            raise DataError(f"background_windows must have shape ({nl}, 4) (a row per line), not {bw.shape}")
        use_bg = True

    idx = np.zeros((nl, 6), dtype=np.int64)  # integration, left, right: [i0, i1) each
    for j in range(nl):
        i0, i1 = _bounds(ax, iw[j, 0], iw[j, 1])
        if i1 <= i0:
            raise DataError(f"line {lines[j].name} at {lines[j].energy:g} keV is outside the energy axis")
        idx[j, 0:2] = i0, i1
        if use_bg:
            idx[j, 2:4] = _bounds(ax, bw[j, 0], bw[j, 1])
            idx[j, 4:6] = _bounds(ax, bw[j, 2], bw[j, 3])
    e_ch = ax.offset + ax.scale * np.arange(ax.size, dtype=np.float64)
    ecs = np.concatenate([[0.0], np.cumsum(e_ch)])

    def centre(i0, i1):
        n = i1 - i0
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (ecs[i1] - ecs[i0]) / np.maximum(n, 1), np.nan), n

    n_int = idx[:, 1] - idx[:, 0]
    sum_e_int = ecs[idx[:, 1]] - ecs[idx[:, 0]]
    el_c, nl_ch = centre(idx[:, 2], idx[:, 3])
    er_c, nr_ch = centre(idx[:, 4], idx[:, 5])
    if use_bg:
        none = (nl_ch == 0) & (nr_ch == 0)
        if none.any():
            bad = [lines[j].name for j in np.nonzero(none)[0]]
            warnings.warn(
                f"line_maps: no background window inside the axis for {bad}; not subtracted", stacklevel=2
            )
    windows = idx.reshape(-1, 2)

    def m(block, rows):
        # integer counts are summed in float64 window by window, exactly, without a float64 copy of the block (4 x
        # its bytes: the lazy Velox cube's 128 MB became 512 MB); other values are converted first, as before
        y = np.asarray(block) if np.issubdtype(block.dtype, np.integer) else np.asarray(block, dtype=np.float64)
        y = y.reshape(-1, block.shape[-1])
        # Each window summed on its own: a running sum carried a NaN (or the rounding of a large total) from
        # one channel into every window after it.
        sums = np.stack([y[:, i0:i1].sum(axis=1, dtype=np.float64) for i0, i1 in windows],
                        axis=1).reshape(y.shape[0], nl, 3)
        peak = sums[:, :, 0]
        if use_bg:
            with np.errstate(invalid="ignore", divide="ignore"):
                bl = sums[:, :, 1] / np.where(nl_ch > 0, nl_ch, 1)
                br = sums[:, :, 2] / np.where(nr_ch > 0, nr_ch, 1)
            both = (nl_ch > 0) & (nr_ch > 0)
            slope = np.where(both, (br - bl) / np.where(both, er_c - el_c, 1.0), 0.0)
            base = np.where(nl_ch > 0, bl, np.where(nr_ch > 0, br, 0.0))
            ref = np.where(nl_ch > 0, el_c, er_c)
            ref = np.where(np.isfinite(ref), ref, 0.0)
            bg = n_int * base + slope * (sum_e_int - n_int * ref)
            peak = peak - bg
        if clip:
            peak = np.maximum(peak, 0.0)
        # the windows' own counts ride along (summed after the pass) to tell a background that outweighs its line
        return np.concatenate([peak, sums[:, :, 0]], axis=1).reshape(block.shape[:-1] + (2 * nl,))

    src = s.data if s.nav_ndim else s.data[None]
    both = run_pass(src, Pass(m, None, name="line_maps"), executor, _PARTITION_BYTES, progress=progress)
    out = both[..., :nl]
    over = _background_over_line(both, lines) if use_bg and not clip and np.issubdtype(s.dtype, np.integer) else []
    if not s.nav_ndim:
        out = out[0]
    undefined = int(np.count_nonzero(~np.isfinite(out)))
    if undefined:  # a map with a NaN pixel came back without a word (a reviewer)
        warn_caller(f"line_maps: {undefined} map value(s) are NaN or infinite: the spectra hold NaN or infinite "
                    "values in those lines' integration or background windows; mask or replace them")
    data = np.moveaxis(out, -1, 0)  # (n_lines, *nav)
    line_axis = Axis("line", nl, navigate=True)
    img_axes = [
        Axis(a.name, a.size, a.scale, a.offset, a.units, False, a.coords) for a in s.axes[: s.nav_ndim]
    ]
    names = [ln.name for ln in lines]
    maps = derive(s, data, [line_axis] + img_axes, signal_type="")
    maps.title = f"{s.title} X-ray line intensities".strip()
    md = maps.metadata
    md.setdefault("General", {})["title"] = maps.title
    md.setdefault("Signal", {}).update({"signal_type": "", "quantity": "X-ray line intensity (counts)"})
    md.setdefault("Sample", {})["xray_lines"] = names
    md["Sample"]["elements"] = sorted({ln.element for ln in lines})
    md.setdefault("EDS", {})["line_maps"] = {
        "lines": names,
        "energies": [float(e) * k for e in energies],
        "fwhm": [float(f) * k for f in fwhm],
        "integration_windows": [[float(e_ch[i0]), float(e_ch[i1 - 1])] for i0, i1 in idx[:, :2]],
        "background_windows": bw.tolist() if use_bg else None,
        "units": ax.units or "keV",
        "background_over_line": [lines[j].name for j in over],
        "resolution_mnka": res,
        "resolution_from": resolution_from,
    }
    return maps


def _background_over_line(both: np.ndarray, lines) -> list[int]:
    """The lines (indices) whose subtracted background outweighs their window over the whole map by more than
    counting noise (three sigmas of the window's counts), warned of by name: a background window on another line
    (the real Bruker map's Sm La summed to -522 353 where its window holds 95 831), not a line the map lacks, which
    sums to zero within its noise. ``both``: the maps, then the windows' counts (..., 2 x lines)."""
    nl = len(lines)
    totals = np.nansum(both.reshape(-1, 2 * nl), axis=0)
    total, seen = totals[:nl], totals[nl:]
    over = [int(j) for j in np.flatnonzero(total < -3.0 * np.sqrt(np.maximum(seen, 1.0)))]
    if over:
        said = "; ".join(f"{lines[j].name} {total[j]:.0f} counts, its window holding {seen[j]:.0f}" for j in over)
        warn_caller(f"line_maps: the background read in the side windows outweighs the line over the whole map "
                    f"({said}): another line lies in a background window (of a listed element or not); look at the "
                    "sum spectrum with the windows used (metadata['EDS']['line_maps']) and give background_windows=")
    return over


# ---------------------------------------------------------------------------------------------------------
# binning
# ---------------------------------------------------------------------------------------------------------
def bin_navigation(s: Signal, factor: int | Sequence[int], crop: bool = True) -> Signal:
    """Sum ``factor`` x ``factor`` pixels (or one factor per navigation axis, user order x, y...); counts are
    preserved. A thin wrapper around :meth:`Signal.rebin` (``crop=True`` drops a remainder)."""
    nav = s.nav_axes
    if not nav:
        raise AxisError(f"{s!r} has no navigation axes to bin")
    # not int(): 2.9 binned by 2 and 1.9 not at all, and the history kept the truncated factors; rebin refuses them
    factors = [factor] * len(nav) if np.ndim(factor) == 0 else list(factor)
    if len(factors) != len(nav):
        raise AxisError(f"bin_navigation needs {len(nav)} factors (x, y...), got {len(factors)}")
    return s.rebin({i: f for i, f in enumerate(factors)}, crop=crop)


def bin_energy(s: Signal, factor: int, crop: bool = True) -> Signal:
    """Sum ``factor`` adjacent energy channels; counts are preserved. A thin wrapper around
    :meth:`Signal.rebin` (``crop=True`` drops a remainder)."""
    if s.sig_ndim != 1:
        raise AxisError(f"bin_energy needs one signal (energy) axis; {s!r} has {s.sig_ndim}")
    return s.rebin({-1: factor}, crop=crop)


# ---------------------------------------------------------------------------------------------------------
# spike removal
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Despiked:
    """One partition's share of :func:`remove_spikes`: the number of values replaced and the cleaned rows, which
    the merge (on the client, in partition order) writes into the output."""

    n: int
    rows: slice | None
    cleaned: np.ndarray | None


def _check_threshold(threshold) -> None:
    """A spike's z-score: a finite number > 0 (0 or less replaced every value above its neighbours' median:
    752 000 values of a real map, 40 % of its counts)."""
    check_positive("threshold", threshold,
                   "how many Poisson standard deviations a spike stands above its neighbours; 8 by default")


def _check_window(name: str):
    return lambda v: check_count(name, v, "values along each axis")


SPREAD_CHANNELS = 5  # the neighbourhood's scatter (remove_spikes, noise="robust") is read over at least this many


def _reflected(idx: np.ndarray, shape) -> np.ndarray:
    """Indices (..., ndim) beyond an array's edges folded back as scipy.ndimage's ``mode="reflect"`` does
    (d c b a | a b c d | d c b a), however far they reach."""
    n = np.asarray(shape)
    i = np.mod(idx, 2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def _median_at(a: np.ndarray, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``median_filter(a, size, mode="reflect")`` read at ``points`` (k, ndim) only, with the same bits: the
    filter's rank ``size // 2`` value of each window (``offsets``: the window's (m, ndim) offsets)."""
    vals = a[tuple(np.moveaxis(_reflected(points[:, None, :] + offsets, a.shape), -1, 0))]
    r = offsets.shape[0] // 2
    return np.partition(vals, r, axis=1)[:, r]


def _scatter_at(f64: np.ndarray, points: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """1.4826 x the median absolute deviation from the median, both over ``size`` windows (``mode="reflect"``),
    at ``points`` (k, ndim) of ``f64``: the bits of the two median filters over the whole array read there. Where
    the windows would cover the array anyway, or a value is not finite (the filters' order of NaN is their own),
    the filters run over the whole array."""
    offsets = np.stack([g.ravel() for g in np.meshgrid(*[np.arange(n) - n // 2 for n in size], indexing="ij")],
                       axis=1)
    if points.shape[0] * offsets.shape[0] > f64.size or not np.isfinite(f64).all():
        from scipy.ndimage import median_filter

        dev = np.abs(f64 - median_filter(f64, size=size, mode="reflect"))
        return 1.4826 * median_filter(dev, size=size, mode="reflect")[tuple(points.T)]
    # the deviation is needed at every value of the points' windows: each such value once
    flat = np.ravel_multi_index(tuple(np.moveaxis(_reflected(points[:, None, :] + offsets, f64.shape), -1, 0)),
                                f64.shape)
    needed, where = np.unique(flat, return_inverse=True)
    near = np.stack(np.unravel_index(needed, f64.shape), axis=1)
    dev = np.abs(f64[tuple(near.T)] - _median_at(f64, near, offsets))
    r = offsets.shape[0] // 2
    return 1.4826 * np.partition(dev[where.reshape(flat.shape)], r, axis=1)[:, r]


def _check_noise(noise) -> None:
    check_choice("noise", noise, ("robust", "poisson"))


@operation("remove_spikes", check={"threshold": _check_threshold, "size": _check_window("size"),
                                   "energy_window": _check_window("energy_window"), "noise": _check_noise},
           before_recorded=lambda params: {"noise": "poisson"})
def remove_spikes(
    s: Signal, threshold: float = 8.0, size: int = 3, energy_window: int = 5, noise: str = "robust", executor=None,
    progress=None
) -> tuple[Signal, int]:
    """Replace outliers (cosmic rays, hot channels of single pixels) by the median of their neighbourhood.

    A value ``x`` (one pixel, one channel) is a spike when it stands out on both sides:

    * from the same channel of the neighbouring pixels: ``x - m_nav > threshold * sqrt(m_nav + 1)`` with
      ``m_nav`` the median over a ``size`` neighbourhood along each navigation axis (Poisson z-score; the
      ``+ 1`` keeps sparse, mostly-zero data safe), and
    * from the neighbouring channels of its own spectrum: the same test against ``m_E``, the median over
      ``energy_window`` channels. A real X-ray line is several channels wide, so a pixel that is genuinely
      rich in an element (a small inclusion) is kept; a spike one or two channels wide is not.
      ``energy_window=1`` switches this check off.

    ``noise="robust"`` (the default) takes the navigation test's standard deviation as the larger of the Poisson
    ``sqrt(m_nav + 1)`` and the scatter of the neighbourhood itself: 1.4826 x the median absolute deviation from
    the median over the ``size`` neighbourhood and ``energy_window`` channels (at least :data:`SPREAD_CHANNELS`),
    which one spike does not move. Data that are no longer counts (a dark level subtracted, a gain applied)
    scatter more than their Poisson level, and a CL line scan's noise of +-6 around a median of -1 was taken for
    spikes (8 -> -1 at 812 nm); counts keep their Poisson test, where the scatter is that. ``noise="poisson"``: the
    Poisson level alone (a step recorded before ``noise`` replays so).

    Spikes are replaced by ``m_nav`` (by ``m_E`` for a single spectrum, which has no navigation neighbours).
    Runs as one pass over navigation partitions, each reading ``size // 2`` neighbouring rows (``executor``,
    ``progress``: passed to :func:`emscale.engine.run_pass`).
    Returns ``(cleaned Signal, number of values replaced)``; the cleaned signal keeps the dtype.
    """
    from scipy.ndimage import median_filter

    if s.sig_ndim != 1:
        raise AxisError(f"remove_spikes needs one signal (energy) axis; {s!r} has {s.sig_ndim}")
    _check_threshold(threshold)
    _check_window("size")(size)
    _check_window("energy_window")(energy_window)
    _check_noise(noise)
    if s.nav_ndim == 0 and energy_window < 3:
        raise DataError("a single spectrum has no navigation neighbours: pass energy_window >= 3")
    if s.dtype.kind not in "biuf":
        raise DataError(f"remove_spikes needs real-valued data, not {s.dtype}")
    src = s.data if s.nav_ndim else s.data[None]
    nav_fp = (int(size) if s.nav_ndim else 1,) * (src.ndim - 1) + (1,)
    e_fp = (1,) * (src.ndim - 1) + (int(energy_window),)
    has_nav = bool(s.nav_ndim)  # the tasks close over this, not over the Signal
    robust = noise == "robust" and has_nav
    # rows read beyond a partition: its medians need size // 2; the scatter around a row's window median needs the
    # window medians of its neighbours, as many again (else a partition's edge rows would see reflected medians:
    # other bits than in memory)
    halo = (nav_fp[0] // 2) * (2 if robust else 1)
    spread_fp = nav_fp[:-1] + (max(int(energy_window), SPREAD_CHANNELS),)
    n0 = src.shape[0]
    out = np.empty(src.shape, dtype=s.dtype)

    def excess(x, med, spread=None):
        medf = med.astype(np.float64)
        sd = np.sqrt(np.maximum(medf, 0.0) + 1.0)
        return (x - medf) > threshold * (sd if spread is None else np.maximum(sd, spread))

    def m(block, rows):
        start = rows.start or 0
        stop = start + block.shape[0]
        block = np.asarray(block)
        x = block.astype(np.float64)
        spike = np.ones(block.shape, dtype=bool)
        if energy_window > 1:
            med_e = median_filter(block, size=e_fp, mode="reflect")
            spike &= excess(x, med_e)
        if has_nav:
            parts = [block]
            if halo:
                top = read_block(src, slice(max(0, start - halo), start))
                bottom = read_block(src, slice(stop, min(n0, stop + halo)))
                parts = [np.asarray(top), block, np.asarray(bottom)]
            full = np.concatenate(parts, axis=0) if len(parts) > 1 else block
            k = parts[0].shape[0] if len(parts) > 1 else 0
            med_full = median_filter(full, size=nav_fp, mode="reflect")
            med = med_full[k : k + block.shape[0]]
            spike &= excess(x, med)
            if robust and spike.any():
                # the scatter only raises the threshold (max(sd, spread)), so it is read only where a value passes
                # the Poisson tests: its two 3x3x5 medians over every value took 2.8 of 4.4 s on a 128x128x256 map
                # that has no such value. Over the neighbouring channels too: nine values' median scatter is too
                # noisy a scale (28 false spikes in 57 000 values of +-5 noise), forty-five hold it
                at = np.argwhere(spike)
                in_full = at.copy()
                in_full[:, 0] += k  # the block's rows lie below the halo read above it
                spread = _scatter_at(full.astype(np.float64), in_full, spread_fp)
                spike[tuple(at.T)] = excess(x[spike], med[spike], spread)
        else:
            med = med_e
        return _Despiked(int(spike.sum()), slice(start, stop), np.where(spike, med, block))

    def store(part: _Despiked) -> int:
        if part.cleaned is not None:
            out[part.rows] = part.cleaned
        return part.n

    def merge(a: _Despiked, b: _Despiked) -> _Despiked:
        return _Despiked(store(a) + store(b), None, None)

    n = run_pass(src, Pass(m, merge, store, name="remove_spikes"), executor, _PARTITION_BYTES, progress=progress,
                 fold=True)
    data = out if s.nav_ndim else out[0]
    cleaned = derive(s, data, s.axes)
    return cleaned, int(n)
