"""Scale bars that read like a microscopist's: a 1-2-5 length in the unit that makes it a number from 1 to 500.

A map calibrated in µm whose field of view is 0.8 nm gets a bar of ``2 Å``, not ``0.0002 µm``: the bar length
is the 1-2-5 value (:func:`nice_length`) at or below a quarter of the field of view, in the axis units, and its
label converts it to the largest length unit (m, mm, µm, nm, Å, pm) in which it is at least 1 (with 1-2-5 steps
that number is then 1-500). Units that are not lengths (``"1/nm"``, ``"mrad"``, ``""``) keep their own unit.
"""

from __future__ import annotations

import numpy as np

# metres per unit; the ladder the label climbs down
LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "µm": 1e-6, "nm": 1e-9, "Å": 1e-10, "pm": 1e-12}
_ALIASES = {"um": "µm", "μm": "µm", "micron": "µm", "microns": "µm", "A": "Å", "angstrom": "Å", "Angstrom": "Å",
            "nanometer": "nm", "nanometre": "nm"}
FRACTION = 0.25  # of the field of view


def nice_length(target: float) -> float:
    """The 1-2-5 value at or below ``target`` (``7.3 -> 5``, ``0.26 -> 0.2``); 1.0 for a non-positive target."""
    if not np.isfinite(target) or target <= 0:
        return 1.0
    e = 10.0 ** np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * e <= target * (1 + 1e-9):
            return float(m * e)
    return float(e)


def length_label(value: float, units: str) -> str:
    """``value`` (in ``units``) written in the length unit that makes it 1-500: ``(0.0002, "µm") -> "2 Å"``.

    A unit that is not a length keeps itself: ``(0.5, "1/nm") -> "0.5 nm⁻¹"``.
    """
    unit = _ALIASES.get(str(units).strip(), str(units).strip())
    if unit not in LENGTH_UNITS:
        if unit.startswith("1/"):  # reciprocal space: "nm⁻¹"
            unit = unit[2:] + "⁻¹"
        return f"{value:g} {unit}".strip()
    metres = value * LENGTH_UNITS[unit]
    for name, m in LENGTH_UNITS.items():  # largest first
        v = metres / m
        if v >= 1 - 1e-9:
            return f"{_round(v):g} {name}"
    return f"{_round(metres / LENGTH_UNITS['pm']):g} pm"


def _round(v: float) -> float:
    return float(f"{v:.3g}")


def scale_bar(span: float, units: str, fraction: float = FRACTION) -> tuple[float, str]:
    """``(length in axis units, label)`` of the scale bar for a field of view ``span`` (axis units)."""
    length = nice_length(abs(span) * fraction)  # every length unit is a power of ten of another: still 1-2-5
    return length, length_label(length, units)


def add_scalebar(ax, axis_x, color: str = "white", fraction: float = FRACTION):
    """Draw the scale bar of ``axis_x`` (an :class:`~emscale.Axis`) at the lower right of an image ``ax``, on
    a translucent dark box so that it reads on bright and dark maps; returns the artist."""
    from matplotlib import patheffects
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    span = abs(axis_x.high - axis_x.low) + abs(axis_x.scale)
    length, label = scale_bar(span, axis_x.units, fraction)
    bar = AnchoredSizeBar(ax.transData, length, label, "lower right", pad=0.3, borderpad=0.4, sep=3,
                          color=color, frameon=True, size_vertical=span / 120, label_top=True,
                          fontproperties={"size": 9, "weight": "bold"})
    bar.patch.set(facecolor="black", alpha=0.45, edgecolor="none")
    bar.txt_label._text.set_path_effects([patheffects.withStroke(linewidth=2, foreground="black")])
    ax.add_artist(bar)
    return bar
