"""The one check every spectroscopy tool makes of its energy axis's direction."""

from __future__ import annotations

from ..core.axes import Axis
from ..core.errors import AxisError


def check_ascending(ax: Axis, tool: str) -> None:
    """An AxisError where ``ax`` runs from high to low values (``s.isig[::-1]``): windows, fits and line positions
    are found as channel ranges from low to high energy, and on a reversed axis they silently came out as other
    numbers (a background fitted at 560-590 eV gave -2217 counts at 600 eV for +2141)."""
    if ax.size > 1 and ax.values[-1] < ax.values[0]:
        u = f" {ax.units}" if ax.units else ""
        raise AxisError(f"{tool}: the energy axis {ax.name!r} runs from high to low ({ax.values[0]:g} to "
                        f"{ax.values[-1]:g}{u}); reverse it first with s.isig[::-1]")
