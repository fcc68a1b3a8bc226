"""The report's record of how a tomogram was made: the numbers a tomographer checks before trusting a volume.

A reviewer read a tomography run's report and found only the steps and the volume's figures: not which axis the
series was tilted about and why, where the axis crosses the image, the vacuum levels taken off, how far the
alignment moved each projection and how well the projections then agree, whether the centre-of-mass step ran,
nor how many iterations the reconstruction took. All of them are in the volume's ``metadata["Tomography"]``.
"""

from __future__ import annotations

import numpy as np

from ..core.html import figure, table


def tomography_record(record: dict) -> str:
    """A table of the tilt geometry, background, alignment and reconstruction of ``record`` (a volume's
    ``metadata["Tomography"]``), and a figure of the alignment's shifts and residuals per tilt where it holds them;
    '' for an empty record."""
    if not isinstance(record, dict) or not record:
        return ""
    rows = []
    axis = record.get("tilt_axis")
    if axis:
        why = (record.get("tilt_axis_evidence") or {}).get("reason")
        rows.append(("tilt axis", f"along image {axis}" + (f": {why}" if why else "")))
    if record.get("axis_position") is not None:
        rows.append(("tilt axis position", f"{record['axis_position']:.4g} (calibrated units across the axis)"))
    if record.get("n_tilts"):
        rows.append(("tilts", record["n_tilts"]))
    bg = record.get("background") or {}
    if bg:
        levels = np.asarray(bg.get("levels", []), dtype=float)
        span = f", vacuum levels {levels.min():.4g} to {levels.max():.4g}" if levels.size else ""
        rows.append(("background", f"{bg.get('method', '?')}{span}" + (", normalised" if bg.get("normalize") else "")))
    al = record.get("alignment") or {}
    if al:
        shifts = np.asarray(al.get("shifts", []), dtype=float)
        moved = (f"; shifts up to {np.abs(shifts).max():.3g} px" if shifts.size else "")
        rows.append(("alignment", f"residual rms {al.get('residual_rms', float('nan')):.3g} px{moved}"))
        if al.get("rotation") is not None:
            rows.append(("axis rotation", f"{al['rotation']:.3g} ± {al.get('rotation_stderr', 0.0):.2g} deg"))
        if al.get("com"):
            rows.append(("centre-of-mass step", al["com"]))
    done = [f"{k} {record[k]}" for k in ("method", "n_iter", "filter", "tv_weight") if record.get(k) is not None]
    if done:
        rows.append(("reconstruction", ", ".join(done)))
    body = table(rows, ["tomography", "as run"]) if rows else ""
    shifts_fig = _alignment_figure(al)
    return body + (figure(shifts_fig, "Alignment: each projection's shift and its residual against the others")
                   if shifts_fig is not None else "")


def _alignment_figure(al: dict):
    """Shifts (y, x) and residuals against tilt, or None where the record holds none."""
    angles = np.asarray(al.get("angles", []), dtype=float)
    shifts = np.asarray(al.get("shifts", []), dtype=float)
    if angles.size == 0 or shifts.shape[:1] != angles.shape:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 2.8), layout="constrained")
    ax, rax = fig.subplots(1, 2)
    order = np.argsort(angles, kind="stable")
    for k, name in enumerate(("y", "x")[: shifts.shape[1] if shifts.ndim == 2 else 1]):
        ax.plot(angles[order], (shifts[:, k] if shifts.ndim == 2 else shifts)[order], ".-", label=f"shift {name}")
    ax.set(xlabel="tilt (deg)", ylabel="px", title="shifts applied")
    ax.legend(fontsize=8)
    residuals = np.asarray(al.get("residuals", []), dtype=float)
    if residuals.shape[:1] == angles.shape:
        rax.plot(angles[order], (residuals if residuals.ndim == 1 else np.linalg.norm(residuals, axis=1))[order], ".")
    rax.set(xlabel="tilt (deg)", ylabel="px", title="residual after alignment")
    return fig
