"""The report's sections of adaptive scans, dynamic sampling (SLADS) and autonomous spectrum imaging: what was
measured against what was asked, why the run stopped, the numbers it carries, and small figures of the
measurement order and of what the run made (the reconstruction; the phase map and its spectra)."""

from __future__ import annotations

import html

import numpy as np

from ..core.axes import Axis
from ..core.html import figure, table
from ..plotting.components import MASKED_COLOUR
from ..sampling.autonomous import AutonomousResult
from ..sampling.slads import SladsResult


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _grid(signals, shape):
    """(y axis, x axis, signal) of the scan grid: two axes of ``shape`` of a signal of the run (the image sampled,
    or the spectrum image's navigation), so the figures are calibrated; else pixel axes and None (a later step
    changed the grid)."""
    for s in signals:
        for axes in (s.axes[:s.nav_ndim], s.axes[s.nav_ndim:]):
            if len(axes) == 2 and tuple(a.size for a in axes) == tuple(shape):
                return axes[0], axes[1], s
    return Axis("y (pixel)", int(shape[0])), Axis("x (pixel)", int(shape[1])), None


def _image(fig, ax, img, ay, ax_, title, cmap, clabel=None, vmin=None, vmax=None):
    from ..plotting import draw_image, style_image_axes

    im = draw_image(ax, img, ax_, ay, cmap=cmap, vmin=vmin, vmax=vmax)
    style_image_axes(ax, ax_, ay)
    ax.set_title(title, fontsize=9)
    if clabel:
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        cb.set_label(clabel, fontsize=8)
        cb.ax.tick_params(labelsize=7)


def _order(fig, ax, order, ay, ax_, what: str):
    """The measured positions coloured by the step (round) that measured them; grey where never measured."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad=MASKED_COLOUR)
    _image(fig, ax, np.ma.masked_less(order.astype(float), 0), ay, ax_, "measurement order", cmap, what)


def _measured(mask: np.ndarray, params: dict) -> str:
    """"m of n (share; asked ...)" with what the run was asked for as it was given: a budget or a fraction."""
    m, n = int(mask.sum()), int(mask.size)
    asked = (f"; asked {params['budget']} positions" if params.get("budget") is not None else
             f"; asked {params['fraction']:.2%}" if params.get("fraction") is not None else "")
    return f"{m} of {n} ({m / n:.2%}{asked})"


def slads_section(name: str, res: SladsResult, signals) -> str:
    """Positions measured (and asked), the stopping rule, batches, the estimated remaining distortion (and PSNR
    where a reference was given), and the figure of order, reconstruction and distortion against the fraction."""
    n0 = int((res.order == 0).sum())
    erd = np.asarray(res.erd_estimate, dtype=float)
    rows = [("positions measured", _measured(res.mask, res.run_params())), ("stopped", res.stopped_by()),
            ("steps", f"{len(res.fractions) - 1} batch(es) after a random start of {n0} positions"),
            ("estimated remaining distortion per pixel", f"{erd[0]:.4g} → {erd[-1]:.4g}")]
    if np.asarray(res.psnr).size:
        rows.append(("PSNR against the reference (dB)", f"{float(res.psnr[0]):.4g} → {float(res.psnr[-1]):.4g}"))
    if np.asarray(res.decision_s).size:
        rows.append(("time to choose a batch (median)", f"{1e3 * float(np.median(res.decision_s)):.3g} ms"))
    ay, ax_, _ = _grid(signals, res.mask.shape)
    fig = _figure((10.5, 3.0))
    a0, a1, a2 = fig.subplots(1, 3)
    _order(fig, a0, res.order, ay, ax_, "step")
    measured = np.asarray(res.reconstruction)[res.mask]
    lo, hi = (np.percentile(measured, (1, 99)) if measured.size else (None, None))
    _image(fig, a1, res.reconstruction, ay, ax_, "reconstruction (nearest neighbours)", "gray", vmin=lo, vmax=hi)
    a2.semilogy(100 * np.asarray(res.fractions), np.clip(erd, 1e-300, None), marker="." if erd.size < 30 else None)
    a2.set_xlabel("positions measured (%)", fontsize=8)
    a2.set_ylabel("remaining distortion (est.)", fontsize=8)
    a2.tick_params(labelsize=7)
    a2.grid(alpha=0.3)
    return (f"<h2>Dynamic sampling (SLADS) “{html.escape(name)}”</h2>" + table(rows, ["dynamic sampling", "value"])
            + figure(fig, "Dynamic sampling: measurement order, reconstruction from the measured positions, "
                          "estimated remaining distortion against the fraction measured"))


def autonomous_section(name: str, res: AutonomousResult, signals) -> str:
    """Positions measured (and asked), the stopping rule, rounds, each phase's share of the scan and the map's
    stability; the figures of order and stability, and of the phase map beside the phase spectra."""
    from ..plotting.components import phase_figure
    from ..spectroscopy.naming import component_names

    pm = np.asarray(res.phase_map)
    n_phases = int(np.asarray(res.spectra).shape[0])
    shares = np.bincount(pm.ravel(), minlength=n_phases) / pm.size
    stab = np.asarray(res.stability, dtype=float)
    rows = [("positions measured", _measured(res.order >= 0, res.run_params())), ("stopped", res.stopped_by()),
            ("rounds", f"{len(res.fractions)} round(s): the random start and {len(res.fractions) - 1} batch(es)"),
            ("share of the scan per phase", ", ".join(f"{k}: {p:.1%}" for k, p in enumerate(shares))),
            ("ARI between the last two maps", f"{stab[-1]:.4g}" if stab.size and np.isfinite(stab[-1]) else "-")]
    if np.asarray(res.ari).size:
        rows.append(("ARI against the reference", f"{float(res.ari[-1]):.4g}"))
    ay, ax_, s = _grid(signals, pm.shape)
    fig = _figure((7.5, 3.0))
    a0, a1 = fig.subplots(1, 2)
    _order(fig, a0, res.order, ay, ax_, "round")
    a1.plot(100 * np.asarray(res.fractions), stab, marker=".")
    if res.run_params().get("stable_ari") is not None:
        a1.axhline(res.run_params()["stable_ari"], color="C3", ls="--", lw=0.8, label="stable_ari")
        a1.legend(fontsize=7)
    a1.set_xlabel("positions measured (%)", fontsize=8)
    a1.set_ylabel("ARI to the previous round", fontsize=8)
    a1.tick_params(labelsize=7)
    a1.grid(alpha=0.3)
    spectra = np.asarray(res.spectra)
    sig = s.axes[s.nav_ndim:] if s is not None else ()
    if len(sig) == 1 and sig[0].size == spectra.shape[1]:
        axis, names = sig[0], component_names(spectra.T, sig[0], s.signal_type, s.metadata)
    else:
        axis, names = Axis("channel", spectra.shape[1]), None
    crop = s is not None and "EDS" in str(s.signal_type or "").upper()
    phases = phase_figure(pm, spectra, (ay, ax_), axis, names, title="", crop=crop)
    return (f"<h2>Autonomous spectrum imaging “{html.escape(name)}”</h2>"
            + table(rows, ["autonomous spectrum imaging", "value"])
            + figure(phases, "Phase map and per-phase mean spectra (measured and inferred positions)")
            + figure(fig, "Measurement order by round and the map's stability per round"))
