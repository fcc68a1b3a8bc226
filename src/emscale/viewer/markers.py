"""Element markers for the spectrum plot: X-ray lines (EDS) or core-loss edge onsets (EELS), from xraydb.

The kind follows the signal: ``EELS`` signals get edges, ``EDS*`` signals lines; otherwise an energy axis in
keV suggests lines and one in eV edges. Energies are converted to the axis units (eV or keV) and only markers
inside the axis are returned.

X-ray lines: by default (``lines="main"``) each element's main line only, the one its name picks in
:func:`emscale.spectroscopy.eds.line_maps` (Ka, La or Ma, the first below half the beam energy). Every alpha and
beta line (``Ka``, ``Kb``, ``La``, ``Lb1``..., ``Ma``, ``Mb``, as HyperSpy's markers, those with at least
:data:`MIN_LINE_WEIGHT` of their family's strongest) hid the peaks they were there to name: the Bruker map's 16
elements drew 72 dashed lines, 67 of them below 7 keV, Mg, Al, Si and P each with an L-beta pair at 0.09-0.18 keV
where no peak of theirs is; their main lines are 16, its metadata's own ``xray_lines``. ``lines="all"`` gives
every line on demand.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.axes import Axis
from ..core.errors import check_choice

MIN_LINE_WEIGHT = 0.1
KINDS = ("auto", "xray", "edge")
LINES = ("main", "all")


PER_KEV = {"ev": 1000.0, "kev": 1.0}  # the energy units markers can be placed on (lower case): axis units a keV


def _unit_per_kev(units: str) -> float:
    per_kev = PER_KEV.get(units.strip().lower())
    if per_kev is None:
        raise ValueError(f"element markers need an energy axis in eV or keV; this axis is in {units!r}")
    return per_kev


def marker_kind(signal_type: str, units: str) -> str | None:
    """The markers a signal's spectra get (``"edge"`` or ``"xray"``), or None where its axis is not an energy in eV
    or keV (a wavelength in nm: cathodoluminescence), on which no element marker can be placed."""
    u = units.strip().lower()
    if u not in PER_KEV:
        return None
    st = (signal_type or "").upper()
    if st.startswith("EELS"):
        return "edge"
    if st.startswith("EDS"):
        return "xray"
    return "xray" if u == "kev" else "edge"


def element_markers(elements: Sequence[str], axis: Axis, signal_type: str = "", kind: str = "auto",
                    beam_energy: float | None = None, lines: str = "main") -> list[dict]:
    """Markers ``{"label", "energy", "element", "weight"}`` for ``elements`` inside ``axis`` (axis units).

    Parameters
    ----------
    elements : element symbols ("Fe", "o" ...); an unknown one is a ValueError naming it.
    axis : the energy axis (units eV or keV).
    signal_type : the signal's type, used when ``kind="auto"``.
    kind : "auto", "xray" (EDS lines) or "edge" (EELS edges).
    beam_energy : keV; X-ray lines the beam cannot excite are left out.
    lines : X-ray lines: "main" (each element's main line) or "all" (its alpha and beta lines).
    """
    from ..spectroscopy import eds, eels

    check_choice("kind", kind, KINDS)
    check_choice("lines", lines, LINES)
    if kind == "auto":
        kind = marker_kind(signal_type, axis.units)
    per_kev = _unit_per_kev(axis.units)
    lo, hi = axis.low, axis.high
    out = []
    if kind == "xray" and lines == "main":
        for el in elements:
            ln = eds.main_line(el, beam_energy, lo / per_kev, hi / per_kev)
            if ln is not None:
                out.append(_line_marker(ln, per_kev))
    elif kind == "xray":
        for el in elements:
            found = eds.xray_lines(el, beam_energy=beam_energy, energy_range=(lo / per_kev, hi / per_kev))
            strongest: dict[str, float] = {}
            for ln in found:
                strongest[ln.line[0]] = max(strongest.get(ln.line[0], 0.0), ln.weight)
            for ln in found:
                if ln.line[1:2] in ("a", "b") and ln.weight >= MIN_LINE_WEIGHT * strongest[ln.line[0]]:
                    out.append(_line_marker(ln, per_kev))
    else:
        ev_per_unit = 1000.0 / per_kev
        for e in eels.edge_onsets(list(elements), energy_range=(lo * ev_per_unit, hi * ev_per_unit), combine=True):
            out.append({"label": f"{e.element} {e.edge}", "energy": e.onset / ev_per_unit, "element": e.element,
                        "weight": 1.0})
    return sorted(out, key=lambda m: m["energy"])


def _line_marker(ln, per_kev: float) -> dict:
    return {"label": f"{ln.element} {ln.line}", "energy": ln.energy * per_kev, "element": ln.element,
            "weight": ln.weight}
