"""What every spectroscopy tool reads of its energy axis: its direction, and its units in eV."""

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


def spectral_axis(s, tool: str) -> Axis:
    """The one signal axis of ``s`` (a Signal), uniform, ascending and of at least 3 channels, as the tools that
    work channel by channel along it need it; else an AxisError naming ``tool``."""
    if s.sig_ndim != 1:
        raise AxisError(f"{tool}: exactly one signal (energy) axis is needed; {s!r} has {s.sig_ndim}")
    ax = s.axes[-1]
    if not ax.is_uniform:
        raise AxisError(f"{tool}: the axis {ax.name!r} is non-uniform; a uniform axis is needed")
    if ax.size < 3:
        raise AxisError(f"{tool}: the axis {ax.name!r} has only {ax.size} channels")
    check_ascending(ax, tool)
    return ax


def ev_per_unit(units) -> float | None:
    """eV in one unit of an energy axis: 1 for eV, 1000 for keV, 0.001 for meV, any case but meV's ("KeV" as keV;
    "MeV" is 10^9 times "meV"); None for any other units."""
    u = str(units or "").strip()
    if u == "meV":
        return 1e-3
    return {"ev": 1.0, "kev": 1e3}.get(u.lower())
