"""The demo's tomography part: the real HAADF tilt series when it is at hand, else a phantom with known truth.

**Real series** (``<real data>/tomography/HAADF.mrc`` + ``HAADF.rawtlt``; ``EMSCALE_REAL_DATA`` or the
``shared/data/real`` folder beside the repository): copied into ``inputs/`` and run as a recipe of registered
operations, so ``emscale replay`` re-runs it bit for bit:

1. ``rebin`` 4 x 4 (256 -> 64 pixels of 13.44 nm: a few seconds of reconstruction) and ``isig`` crop of the rows
   the needle never leaves (y 8-56 of 64: the rest is vacuum at every tilt);
2. background: the file's counts sit on an offset near -31900 (unsigned detector counts stored as int16 minus
   32768) that drifts a little from scan line to scan line. Each scan line (along ``x``, the tilt axis) has
   vacuum at its right end at every tilt (the needle leaves the field on the left), so ``transpose`` makes ``x``
   the signal axis, ``remove_background(model="offset")`` subtracts each line's mean over that vacuum window
   (``x`` >= 770 nm), and ``transpose`` restores the image;
3. ``as_tilt_series`` with the ``.rawtlt`` angles (tilt axis along ``x``), ``align_tilts`` (cross-correlation
   chain; no centre of mass: the needle runs out of the field along the axis; rotation off);
4. ``reconstruct_tomogram``: FBP (ramp) and SIRT (non-negative), saved as named volumes.

The report shows sinograms before/after alignment, the shifts, orthoslices and MIPs of both volumes and the
residuals: the alignment's own and the reprojection residual ``||A x - b|| / ||b||`` of each volume.

**Phantom** (no real file): an ellipsoid phantom projected over +-70 deg, each projection shifted by a known
random amount (up to ~10 px, free of the rigid-motion components no alignment can know: see
:mod:`emscale.tomography.alignment`); the report gives the recovered-shift error and each reconstruction's
error against the true volume (also for FBP of the unaligned series, to show what alignment buys).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..core.html import figure, table
from ..sampling.slads import psnr
from .demo_index import UP
from .recipes import parse, run_recipe, to_toml

BIN = 4
CROP_Y = "8:56"  # binned rows holding the needle at every tilt
VACUUM_X = (770.0, 851.0)  # nm: the right end of every scan line is vacuum (binned columns 57-63)
SIRT_ITER = 20
PHANTOM_ANGLES = np.arange(-70.0, 71.0, 2.0)
REAL_ALIGN = {"com": False, "rotation": False}  # the needle leaves the field along the axis: no centre of mass
PHANTOM_ALIGN = {"com": True, "rotation": False}


def real_data_dir() -> Path:
    """The shared real-data folder: ``$EMSCALE_REAL_DATA`` or ``shared/data/real`` beside the repository."""
    env = os.environ.get("EMSCALE_REAL_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared/data/real"


def real_series_path() -> Path | None:
    """``HAADF.mrc`` of the real data folder when it and its ``.rawtlt`` exist, else None."""
    p = real_data_dir() / "tomography" / "HAADF.mrc"
    return p if p.is_file() and p.with_suffix(".rawtlt").is_file() else None


def run_tomography(outdir: Path, seed: int = 0, source: str = "auto", progress=None) -> dict:
    """Write ``outdir/tomography`` (results, report) from the real series or the phantom; returns the summary.

    ``source``: ``"auto"`` (real when present), ``"real"`` or ``"phantom"``.
    """
    if source not in ("auto", "real", "phantom"):
        raise ValueError(f"source must be 'auto', 'real' or 'phantom', got {source!r}")
    real = real_series_path() if source != "phantom" else None
    if source == "real" and real is None:
        raise FileNotFoundError(f"no real tilt series at {real_data_dir() / 'tomography/HAADF.mrc'}")
    say = progress or (lambda msg: None)
    inputs = Path(outdir) / "inputs"
    inputs.mkdir(exist_ok=True)
    if real is not None:
        say("Tomography: real HAADF series (bin, background, align, FBP, SIRT)")
        return _run_real(Path(outdir), real)
    say("Tomography: phantom with known shifts (align, FBP, SIRT)")
    return _run_phantom(Path(outdir), seed)


# -- real series -------------------------------------------------------------------------------------------------
def _real_steps() -> list[dict]:
    return [
        {"op": "rebin", "scale": [1, BIN, BIN]},
        {"op": "isig", "key": [":", CROP_Y]},
        {"op": "transpose", "signal_axes": ["x"]},
        {"op": "remove_background", "signal_range": list(VACUUM_X), "model": "offset", "binned": False},
        {"op": "transpose", "signal_axes": ["x", "y"]},
        {"op": "as_tilt_series", "rawtlt": "HAADF.rawtlt", "tilt_axis": "x"},
        {"op": "align_tilts", **REAL_ALIGN},
        {"op": "reconstruct_tomogram", "method": "sirt", "n_iter": SIRT_ITER},
    ]


def _run_real(outdir: Path, mrc: Path) -> dict:
    for f in (mrc, mrc.with_suffix(".rawtlt")):
        shutil.copyfile(f, outdir / "inputs" / f.name)
    text = to_toml({"path": f"inputs/{mrc.name}"}, _real_steps(),
                   comment="emscale demo: real HAADF-STEM tilt series (ETSpy test data), binned 4x")
    (outdir / "tomo_recipe.toml").write_text(text, encoding="utf-8")
    summary: dict = {"source": "real HAADF.mrc"}

    def sections(run):
        body, found = _real_section(run)
        summary.update(found)
        return [("Tomography", body)]

    run_recipe(parse(text, source=outdir / "tomo_recipe.toml"), outdir / "tomography", extra_sections=sections,
               up=UP)
    return summary


def reprojection_residual(vol, series) -> float:
    """``||A x - b|| / ||b||``: how well the volume's projections match the (aligned) series it came from."""
    from ..tomography import angles_of, axis_shift_of
    from ..tomography.phantoms import project_volume

    t = series.metadata["Tomography"]
    b = np.asarray(series.data, np.float64)
    ax = project_volume(np.asarray(vol.data), angles_of(series), t["tilt_axis"], axis_shift_of(series))
    return float(np.linalg.norm(ax - b) / np.linalg.norm(b))


def _shifts_figure(angles, shifts, true=None):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.0), layout="constrained")
    ax = fig.subplots()
    for k, name in enumerate(("y", "x")):
        ax.plot(angles, shifts[:, k], "o-", ms=3, label=f"applied shift {name}")
        if true is not None:
            ax.plot(angles, -true[:, k], "k:", lw=1, label="truth" if k == 0 else None)
    ax.set(xlabel="tilt (deg)", ylabel="shift (px)", title="Alignment shifts per projection")
    ax.legend(fontsize=7)
    return fig


def _volume_figures(name: str, vol) -> list[str]:
    from ..tomography import mip_figure, orthoslices_figure

    return [figure(orthoslices_figure(vol), f"{name}: orthogonal slices through the centre"),
            figure(mip_figure(vol), f"{name}: maximum-intensity projections")]


def _volumes(run, aligned, thickness=None) -> dict:
    """The recipe's SIRT volume and, for comparison in the report, FBP (ramp) of the same aligned series."""
    from ..tomography import reconstruct_tomogram

    return {"sirt": run.signal, "fbp": reconstruct_tomogram(aligned, method="fbp", thickness=thickness)}


def _real_section(run) -> tuple[str, dict]:
    from ..tomography import align_tilts, angles_of, axis_shift_of, sinogram_figure
    from .replay import replay

    before = replay(run.signal.history[:-2])  # the series as it was just before align_tilts
    aligned = align_tilts(before, **REAL_ALIGN)  # the recipe's step again: the same bits
    t = aligned.metadata["Tomography"]
    al = t["alignment"]
    shifts = np.asarray(al["shifts"])
    found = {"n_tilts": int(aligned.shape[0]), "shape": list(aligned.shape), "axis_shift_px": axis_shift_of(aligned),
             "max_shift_px": float(np.abs(shifts).max()), "alignment_residual_rms_px": float(al["residual_rms"])}
    a = angles_of(aligned)
    rows = [("tilts", f"{aligned.shape[0]} ({a[0]:g} to {a[-1]:g} deg)"),
            ("projection (binned, cropped)", f"{aligned.shape[1]} x {aligned.shape[2]} px of "
             f"{aligned.axes[1].scale:g} {aligned.axes[1].units}"),
            ("tilt axis", "x (in-plane rotation not estimated)"),
            ("tilt-axis position", f"{found['axis_shift_px']:.2f} px from the centre"),
            ("largest shift applied", f"{found['max_shift_px']:.2f} px"),
            ("alignment residual RMS", f"{al['residual_rms']:.3f} px")]
    figs = [figure(sinogram_figure(before, aligned), "Sinogram of the middle slice before and after alignment"),
            figure(_shifts_figure(a, shifts), "Shifts found by the cross-correlation chain")]
    for name, vol in _volumes(run, aligned).items():
        res = reprojection_residual(vol, aligned)
        found[f"{name}_reprojection_residual"] = res
        rows.append((f"{name.upper()} reprojection residual ||Ax-b||/||b||", f"{res:.4f}"))
        if name != "sirt":  # the recipe's result: the report's Tomogram section draws it
            figs += _volume_figures(_label(name), vol)
    body = ("<p>Real HAADF-STEM tilt series, binned 4x, background (vacuum level of each scan line) removed, "
            "aligned by a cross-correlation chain and reconstructed by SIRT (the recipe's result, saved with its "
            "history; drawn under Tomogram above) and, for comparison, FBP.</p>" + table(rows, ["quantity", "value"])
            + "".join(figs))
    return body, found


def _label(name: str) -> str:
    return {"sirt": f"SIRT ({SIRT_ITER} iterations, non-negative)", "fbp": "FBP (ramp filter)",
            "fbp_unaligned": "FBP of the unaligned series"}[name]


# -- phantom -----------------------------------------------------------------------------------------------------
def _rigid_free(shifts: np.ndarray, theta: np.ndarray, along: int, perp: int) -> np.ndarray:
    """Shifts less what no alignment can know: a constant along the tilt axis; 1, cos, sin across it."""
    out = np.array(shifts, np.float64)
    out[:, along] -= out[:, along].mean()
    basis = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    coef = np.linalg.lstsq(basis, out[:, perp], rcond=None)[0]
    out[:, perp] -= basis @ coef
    return out


def phantom_series(seed: int = 0, n: int = 40, max_shift: float = 10.0):
    """(tilt series Signal with known shifts, truth dict: ``volume`` (z, y, x), ``shifts`` (n_tilts, 2) px)."""
    from ..tomography import tilt_series
    from ..tomography.alignment import shift_images
    from ..tomography.phantoms import ellipsoid_phantom, project_volume

    pad = int(np.ceil(max_shift)) + 4
    vol = np.pad(ellipsoid_phantom(n, seed=seed), ((0, 0), (pad, pad), (pad, pad)))
    clean = project_volume(vol, PHANTOM_ANGLES, "y")
    rng = np.random.default_rng(seed)
    true = _rigid_free(rng.uniform(-max_shift, max_shift, (PHANTOM_ANGLES.size, 2)), np.deg2rad(PHANTOM_ANGLES), 0, 1)
    s = tilt_series(shift_images(clean, true), PHANTOM_ANGLES, pixel_size=1.0, units="nm", tilt_axis="y",
                    metadata={"General": {"title": "Ellipsoid phantom, shifted projections"}})
    return s, {"volume": vol, "shifts": true}


def _run_phantom(outdir: Path, seed: int) -> dict:
    s, truth = phantom_series(seed)
    s.save(outdir / "inputs" / "tomo_phantom.zarr")
    nz = truth["volume"].shape[0]
    steps = [{"op": "align_tilts", **PHANTOM_ALIGN},
             {"op": "reconstruct_tomogram", "method": "sirt", "n_iter": SIRT_ITER, "thickness": nz}]
    text = to_toml({"path": "inputs/tomo_phantom.zarr"}, steps,
                   comment="emscale demo: ellipsoid phantom tilt series with known random shifts")
    (outdir / "tomo_recipe.toml").write_text(text, encoding="utf-8")
    summary: dict = {"source": "phantom"}

    def sections(run):
        body, found = _phantom_section(run, truth)
        summary.update(found)
        return [("Tomography against the truth", body)]

    run_recipe(parse(text, source=outdir / "tomo_recipe.toml"), outdir / "tomography", extra_sections=sections,
               up=UP)
    return summary


def volume_error(vol: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(relative RMS error ``||v - t|| / ||t||``, PSNR in dB with the truth's value range as the peak) of a volume."""
    v, t = np.asarray(vol, np.float64), np.asarray(true, np.float64)
    return float(np.linalg.norm(v - t) / np.linalg.norm(t)), psnr(t, v)


def _phantom_section(run, truth: dict) -> tuple[str, dict]:
    from ..tomography import align_tilts, angles_of, axis_shift_of, reconstruct_tomogram, sinogram_figure

    before = run.input_signal
    aligned = align_tilts(before, **PHANTOM_ALIGN)  # the recipe's step again: the same bits
    t = aligned.metadata["Tomography"]
    shifts = np.asarray(t["alignment"]["shifts"])
    a = angles_of(aligned)
    err = _rigid_free(shifts + truth["shifts"], np.deg2rad(a), 0, 1)  # the applied shifts undo the true ones
    found = {"shift_error_max_px": float(np.abs(err).max()), "shift_error_rms_px": float(np.sqrt(np.mean(err**2))),
             "true_shift_max_px": float(np.abs(truth["shifts"]).max()), "axis_shift_px": axis_shift_of(aligned)}
    nz = truth["volume"].shape[0]
    rows = [("largest true shift", f"{found['true_shift_max_px']:.2f} px"),
            ("recovered-shift error, max / RMS", f"{found['shift_error_max_px']:.3f} / "
             f"{found['shift_error_rms_px']:.3f} px (target < 0.5 px)"),
            ("tilt-axis position found", f"{found['axis_shift_px']:.3f} px (truth 0)")]
    figs = [figure(sinogram_figure(before, aligned), "Sinogram of the middle slice before and after alignment"),
            figure(_shifts_figure(a, shifts, truth["shifts"]), "Shifts found and the truth")]
    vols = _volumes(run, aligned, nz) | {"fbp_unaligned": reconstruct_tomogram(before, method="fbp", thickness=nz)}
    for name, vol in vols.items():
        rel, psnr = volume_error(vol.data, truth["volume"])
        found[f"{name}_rel_error"], found[f"{name}_psnr_db"] = rel, psnr
        rows.append((f"{_label(name)} against the true volume", f"relative RMS error {rel:.3f}, PSNR {psnr:.1f} dB"))
        if name == "fbp":  # SIRT, the recipe's result, is drawn by the report's Tomogram section
            figs += _volume_figures(_label(name), vol)
        if name != "fbp_unaligned":
            found[f"{name}_reprojection_residual"] = reprojection_residual(vol, aligned)
    body = ("<p>An ellipsoid phantom projected over ±70° in 2° steps, each projection shifted by a known random "
            "amount; the shifts are recovered by the cross-correlation chain and the centre-of-mass refinement. "
            "SIRT is the recipe's result (saved with its history; drawn under Tomogram above); FBP is shown for "
            "comparison.</p>"
            + table(rows, ["quantity", "value"]) + "".join(figs))
    return body, found


def describe_tomography(summary: dict) -> str:
    """One line for the landing page and the console."""
    if summary.get("source") == "phantom":
        return (f"phantom: shift error max {summary['shift_error_max_px']:.2f} px, SIRT PSNR "
                f"{summary['sirt_psnr_db']:.1f} dB, FBP PSNR {summary['fbp_psnr_db']:.1f} dB "
                f"(unaligned {summary['fbp_unaligned_psnr_db']:.1f} dB)")
    return (f"real series: {summary['n_tilts']} tilts, shifts up to {summary['max_shift_px']:.1f} px, "
            f"reprojection residual FBP {summary['fbp_reprojection_residual']:.3f} / SIRT "
            f"{summary['sirt_reprojection_residual']:.3f}")


__all__ = ["describe_tomography", "phantom_series", "real_data_dir", "reprojection_residual", "run_tomography",
           "volume_error"]
