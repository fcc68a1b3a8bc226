"""A single self-contained HTML report of a recipe run: every figure embedded as a PNG data URI."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write
from ..core.errors import recording_warnings
from ..core.html import figure, table
from ..core.signal import is_sparse_scan, measured_mask
from ..decomposition import ClusterResult, Decomposition
from ..plotting import in_title, intensity_label
from ..plotting.summaries import finite_summaries
from ..sampling.autonomous import AutonomousResult
from ..sampling.slads import SladsResult
from .report_sampling import autonomous_section, slads_section
from .report_tomography import tomography_record

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
font-size:.9em}th{background:#f4f4f4}figure{display:inline-block;margin:.5em}img{max-width:100%}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}.ok{color:#176c2b}.bad{color:#a11}
"""


def _mean_spectrum_figure(s, title: str = "Mean spectrum of the input"):
    """The mean over the navigation of a 1-D signal; a signal with no navigation is drawn as it is (the classic EELS
    workflow ends in a profile along x, summed over y and energy: no mean, and no spectrum)."""
    nav = tuple(range(s.nav_ndim))
    fig = _figure((6.5, 3.2))
    ax = fig.add_subplot()
    if s.sig_ndim != 1:
        ax.text(0.5, 0.5, f"signal is {s.sig_ndim}-D: no spectrum", ha="center")
        return fig
    if nav and is_sparse_scan(s):  # its unmeasured positions are zeros nobody counted: the measured ones' mean
        # (Signal.mean refuses to mix them, and a recipe ending in sample_scan failed at its report)
        measured = measured_mask(s)
        mean = finite_summaries(s.data, s.nav_ndim, measured)[1]
        title += f" ({int(measured.sum())} measured positions)"
    else:
        mean = s.mean(axis=nav).to_numpy() if nav else s.to_numpy()
    a = s.sig_axes[0]
    ax.plot(a.values, mean, lw=1)
    ax.set_xlabel(f"{a.name} ({a.units})" if a.units else a.name)
    label = intensity_label(s)
    ax.set_ylabel(f"mean {in_title(label)}" if nav else label)
    ax.set_title(title)
    return fig


SIGNIFICANT = 4  # significant digits of the numbers in the report's tables
_RANK_KEYS = ("method", "threshold", "edge", "sigma2", "tw_sigmas", "pa_margin", "mp_threshold", "mp_edge",
              "mp_sigma2", "n_rows", "n_cols", "dispersion", "dispersion_note", "warning", "caution")
# what each row of the rank evidence is, in words (the table showed the evidence dictionary's keys)
_RANK_WORDS = {
    "method": "method", "threshold": "threshold (eigenvalues above it count)", "edge": "noise edge",
    "sigma2": "noise variance per value (Marchenko-Pastur)", "tw_sigmas": "Tracy-Widom margin (sigmas)",
    "pa_margin": "parallel-analysis margin (share of the edge)", "mp_threshold": "Marchenko-Pastur threshold",
    "mp_edge": "Marchenko-Pastur edge", "mp_sigma2": "Marchenko-Pastur noise variance per value",
    "n_rows": "pixels", "n_cols": "channels", "dispersion": "noise / Poisson variance of the values",
    "dispersion_note": "dispersion", "warning": "warning", "caution": "caution",
}


def number(v) -> str:
    """A table cell: floats with :data:`SIGNIFICANT` significant digits, everything else as ``str``."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | np.floating):
        return f"{float(v):.{SIGNIFICANT}g}"
    return str(v)


def _composite(dec, names) -> str:
    """The colour composite of the first three loadings (:func:`..plotting.components.composite_figure`), or where
    one of them takes both signs (PCA's beyond the first) a line saying why none is drawn: a colour's brightness
    shows how much of a component a pixel holds, and a negative loading drew as black, as none at all."""
    from ..plotting.components import COMPOSITE_NAMES, component_label, composite_figure
    from ..plotting.limits import both_signs

    n = min(3, dec.n_components)
    loadings = np.asarray(dec.loadings_array, dtype=float)
    shown = [component_label(c, names[c]) for c in range(n)]
    signed = [shown[c] for c in range(n) if both_signs(loadings[:, c])]
    if signed:
        return (f"<p>No colour composite: loadings {', '.join(signed)} take both signs ({html.escape(dec.method)}), "
                "which a colour's brightness cannot show (a negative loading would be as dark as none); the loading "
                "maps above show them about zero.</p>")
    maps = loadings.T.reshape((dec.n_components,) + tuple(dec.nav_shape))
    of = f"{n} of {dec.n_components} components; " if dec.n_components > n else ""
    caption = (f"Colour composite of loadings {', '.join(shown)} ({of}{', '.join(COMPOSITE_NAMES[:n])} added on "
               "black, each stretched between its 1st and 99th percentiles)")
    return figure(composite_figure(maps, dec.nav_axes, names), caption)


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _cluster_figure(c):
    from ..plotting.components import phase_figure
    from ..spectroscopy.naming import component_names

    sig = c.sig_axes
    names = (component_names(c.spectra_array.T, sig[0], c.signal_type, c.metadata) if len(sig) == 1
             else None)
    lab = c.labels_array.reshape(tuple(a.size for a in c.nav_axes))
    crop = "EDS" in str(c.signal_type or "").upper()
    return phase_figure(lab, c.spectra_array, c.nav_axes, sig[-1], names, title="", crop=crop)


def _rank_evidence(dec) -> tuple[int, dict, int | None]:
    """(automatic rank, its evidence, the number of components asked for or None): what the rank table and the
    scree's caption both state."""
    ev = dec.rank_evidence
    rank = dec.info.get("rank_estimate")
    if ev is None or rank is None:
        # its caution (a randomized subspace reads the rank low) is a row of the table, not a warning each time
        # the report asks (three times on `emscale run` with an explicit n_components)
        rank, ev = dec.estimate_rank(warn=False)
    asked = (dec.params or {}).get("n_components")
    return rank, ev, (asked if isinstance(asked, int) and not isinstance(asked, bool) else None)


def _rank_table(dec) -> str:
    """The rank decision and its evidence, once: one row per scalar of the evidence."""
    rank, ev, asked = _rank_evidence(dec)
    label = ("automatic rank" if asked is None else
             f"automatic rank (for comparison: {asked} component(s) were asked for and used)")
    rows = [(label, rank)] + [(_RANK_WORDS[k], number(ev[k])) for k in _RANK_KEYS if ev.get(k) is not None]
    return "<h3>Rank evidence</h3>" + table(rows, ["quantity", "value"])


def _scree_caption(dec) -> str:
    """The scree's caption in the rank table's terms (it said "no noise threshold: the rank came from
    not-estimated" under a table with a Marchenko-Pastur threshold)."""
    from ..decomposition.result import threshold_label

    rank, ev, asked = _rank_evidence(dec)
    given = "" if asked is None else f"; {asked} component(s) asked for and used"
    if ev.get("threshold") is None:
        method = ev.get("method", "an unknown method")
        return f"Scree plot (no noise threshold: automatic rank {rank} by {method}{given})"
    return (f"Scree plot with the {threshold_label(ev)} at {number(ev['threshold'])}: automatic rank {rank}"
            + (" (the rank decision)" if asked is None else f" (for comparison{given})"))


def _same_rank_evidence(dec, shown: dict) -> str | None:
    """The name of a section already shown whose decomposition had the same data (pixels, channels and the
    leading eigenvalues within 0.1 %: a truncated solver may differ in the noise tail), hence the same rank
    evidence; None if none."""
    top = np.asarray(dec.eigenvalues[:3], dtype=float)
    for name, other in shown.items():
        o = np.asarray(other.eigenvalues[:3], dtype=float)
        if (other.n_pixels, other.n_channels) == (dec.n_pixels, dec.n_channels) and o.shape == top.shape \
                and np.allclose(o, top, rtol=1e-3, atol=0):
            return name
    return None


def _decomposition_section(name: str, dec, shown: dict | None = None) -> str:
    """A decomposition's summary, rank evidence (once per eigenvalue spectrum: ``shown`` maps those already
    written, by section name), factors, loadings and colour composite."""
    shown = {} if shown is None else shown
    parts = [f"<h2>Decomposition “{html.escape(name)}” ({html.escape(dec.method)})</h2>"]
    names = dec.component_names()
    skip = {"rank_estimate", "noise_eigenvalues", "rank_evidence"}
    info = {k: v for k, v in (dec.info or {}).items()
            if k not in skip and not isinstance(v, list | dict | np.ndarray)}
    rows = [("result", repr(dec)), ("components", ", ".join(c if c.startswith("#") else f"#{k} {c}"
                                                          for k, c in enumerate(names)))]
    rows += [(k, number(v)) for k, v in info.items()]
    parts.append(table(rows, ["quantity", "value"]))
    if getattr(dec, "eigenvalues", None) is not None:
        same = _same_rank_evidence(dec, shown)
        if same is not None:
            parts.append(f"<p>Rank evidence and scree: as for “{html.escape(same)}” above (same data).</p>")
        else:
            shown[name] = dec
            parts.append(_rank_table(dec))
            parts.append(figure(dec.plot_scree(), _scree_caption(dec)))
    parts.append(figure(dec.plot_factors(names=names), "Factor spectra"))
    parts.append(figure(dec.plot_loadings(names=names), "Loading maps"))
    if len(dec.nav_shape) == 2 and dec.n_components >= 1:
        parts.append(_composite(dec, names))
    return "\n".join(parts)


def _brief(value, limit: int = 120) -> str:
    """A parameter as the Steps table shows it: its repr, cut where it is long (an inline mask of 4096 booleans)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters; the recipe holds it whole)"


SCAN_FIGURE_BYTES = 2**30  # a larger reconstruction is not drawn: the figure reads the whole array


def _scan_section(scan: dict) -> str:
    """What a sparse scan measured, what reconstructed it and what its automatic choices picked, with the figure of
    mask, sparse data, reconstruction and, where this run sampled the scan itself, the error against the signal it
    sampled (scaled by the dose where counts were drawn)."""
    from ..inpainting.figures import reconstruction_figure
    from ..sampling.acquire import scan_mask

    rec, sparse, reference = scan["reconstruction"], scan["sparse"], scan["reference"]
    info = rec.metadata.get("Sampling", {})
    mask = scan_mask(rec)
    asked, measured = info.get("fraction"), float(mask.mean())
    rows = [("pattern", f"{info.get('pattern', '?')} (seed {info.get('seed', '?')})"),
            ("positions measured", f"{int(mask.sum())} of {mask.size} ({measured:.2%}"
                                   + (f"; asked {asked:.2%})" if asked is not None and info.get("pattern") != "given"
                                      else ")")),
            ("dose factor", f"{info['dose']:g} (Poisson counts drawn)" if "dose" in info else "as recorded"),
            ("reconstruction", str(info.get("reconstruction", "?")))]
    rows += [(f"… {k}", v if isinstance(v, str) else repr(v)) for k, v in (info.get("choice") or {}).items()]
    body = table(rows, ["sparse scan", "value"])
    if reference is not None and tuple(reference.data.shape) != tuple(rec.data.shape):
        reference = None  # a step between the sampling and the reconstruction changed the grid or the channels
    if rec.nbytes > SCAN_FIGURE_BYTES:
        return body + f"<p>Not drawn: the reconstruction holds {rec.nbytes / 1e9:.1f} GB.</p>"
    ref = None if reference is None else np.asarray(reference.data, np.float64) * float(info.get("dose", 1.0))
    what = ("; error against the signal the run sampled" + (" times the dose" if "dose" in info else "")
            if ref is not None else "")
    return body + figure(reconstruction_figure(sparse, rec, reference=ref, mask=mask),
                         f"Scan mask, sparse data, reconstruction{what}")


def _is_volume(s) -> bool:
    return str(s.signal_type or "") == "volume" and s.ndim == 3


def _is_component_volumes(s) -> bool:
    return str(s.signal_type or "") == "volume" and s.ndim == 4 and s.nav_ndim == 1


def _component_volumes_section(vols, s0) -> str:
    """Spectral tomography's result: each component's spectrum (on the input's energy axis) and the maximum-intensity
    projections of its volume."""
    from ..tomography.figures import component_volumes_figure

    n = vols.axes[0].size
    body = f"<p>{n} component volume(s) of {' x '.join(str(a.size) for a in vols.axes[1:])} voxels</p>"
    body += tomography_record({k: v for k, v in vols.metadata.get("Tomography", {}).items()
                               if k not in ("factors", "pure_voxels")})
    factors = np.asarray(vols.metadata.get("Tomography", {}).get("factors", []), dtype=float)
    if factors.ndim == 2 and factors.shape[0] == n:
        body += figure(_factors_figure(factors, s0), "Component spectra (each sums to one)")
    if vols.nbytes > SCAN_FIGURE_BYTES:
        return body + f"<p>Volumes not drawn: they hold {vols.nbytes / 1e9:.1f} GB.</p>"
    shown = "" if n <= 8 else " (the first 8)"
    return body + figure(component_volumes_figure(vols), f"Component volumes{shown}: maximum-intensity projections")


def _factors_figure(factors: np.ndarray, s0):
    """The component spectra on the input's energy axis (plotting's factor figure), on channels where it has none."""
    from ..core.axes import Axis
    from ..plotting.components import factor_figure

    axis = s0.sig_axes[-1] if s0.sig_ndim == 1 and s0.sig_axes[-1].size == factors.shape[1] else None
    return factor_figure(axis or Axis("channel", factors.shape[1]), factors.T, title="Component spectra",
                         ylabel="share")


def _volume_section(vol) -> str:
    """A tomogram's size and voxel, its three central orthogonal slices and its maximum-intensity projections
    (calibrated axes)."""
    from ..tomography.figures import mip_figure, orthoslices_figure

    ax = vol.axes
    voxel = [f"{a.scale:g} {a.units}".strip() for a in ax]
    size = (" x ".join(str(a.size) for a in ax) + " voxels of "
            + (voxel[0] if len(set(voxel)) == 1 else " x ".join(voxel)) + f" ({', '.join(a.name for a in ax)})")
    body = f"<p>{html.escape(size)}</p>" + tomography_record(vol.metadata.get("Tomography", {}))
    if vol.nbytes > SCAN_FIGURE_BYTES:
        return body + f"<p>Not drawn: the volume holds {vol.nbytes / 1e9:.1f} GB.</p>"
    return (body + figure(orthoslices_figure(vol), "Tomogram: orthogonal slices through the centre")
            + figure(mip_figure(vol), "Tomogram: maximum-intensity projections along z, y and x"))


_WARNINGS_HERE = "<!-- warnings -->"  # where the list of warnings goes: known once every figure is drawn


def render(run, recipe_text: str, extra_sections: list[tuple[str, str]] | None = None,
           up: tuple[str, str] | None = None, warned: list[str] | None = None) -> str:
    """The report's HTML for a :class:`emscale.recipes.runner.RunResult`; ``up``: ``(href, text)`` of a link to
    the page the report belongs to. What each step warned (``run.steps[i].warnings``) is listed below the steps,
    with what drawing the report's own figures warned (kept in ``warned`` too, for the manifest)."""
    drawing = [] if warned is None else warned
    with recording_warnings(drawing):
        out = _parts(run, recipe_text, extra_sections, up)
    return "\n".join(out).replace(_WARNINGS_HERE, _warnings_list(run.steps, drawing), 1)


def _warnings_list(steps, drawing: list[str]) -> str:
    """The warnings of the run, each beside the step that raised it, escaped; '' where there were none."""
    items = [f"step {i + 1} ({r.op}{f' → {r.name}' if r.name else ''}): {w}"
             for i, r in enumerate(steps) for w in getattr(r, "warnings", None) or []]
    items += [f"drawing this report: {w}" for w in drawing]
    if not items:
        return ""
    return ("<p class='bad'>Warnings:</p><ul class='bad'>"
            + "".join(f"<li>{html.escape(w)}</li>" for w in items) + "</ul>")


def _parts(run, recipe_text: str, extra_sections, up) -> list[str]:
    s0 = run.input_signal
    src = (s0.history[0].get("source", {}) if s0.history else {})
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>emscale report</title>"
           f"<style>{_CSS}</style></head><body>"]
    if up is not None:
        out.append(f"<p><a href='{html.escape(up[0], quote=True)}'>← {html.escape(up[1])}</a></p>")
    out.append("<h1>emscale analysis report</h1>")
    out.append("<h2>Input</h2>")
    # relative to the results folder, as the pinned recipe names it: the absolute path read is where the run was
    # written, which for a folder written under a temporary name and renamed (the demo's) no longer exists
    rel = (getattr(run, "manifest", None) or {}).get("input", {}).get("path")
    if rel and not Path(rel).is_absolute():
        where = ("file (relative to the results folder)", rel)
    else:  # a recipe's absolute path, kept as it named it
        where = ("file", rel or src.get("path", ""))
    rows = [where, ("sha256", src.get("sha256", "")), ("signal", repr(s0)),
            ("dtype", str(s0.dtype)), ("size in memory", f"{s0.nbytes / 1e6:.2f} MB")]
    out.append(table(rows))
    out.append(table([(i, a.name, "navigation" if a.navigate else "signal", a.size, f"{a.scale:g}",
                        f"{a.offset:g}", a.units) for i, a in enumerate(s0.user_axes)],
                      ["#", "axis", "role", "size", "scale", "offset", "units"]))
    from ..core.signal import key_metadata

    md = key_metadata(s0.metadata)
    if md:
        out.append(table(list(md.items()), ["metadata", "value"]))
    if s0.nav_ndim == 2 and s0.sig_ndim == 1:
        out.append(figure(s0.plot(title=""), "Navigator (total counts) and mean spectrum of the input"))
    elif s0.sig_ndim == 2:  # images (a tilt series, a stack): the middle one, not an empty spectrum panel
        mid = s0.inav[tuple(n // 2 for n in s0.nav_shape)] if s0.nav_ndim else s0
        what = f"image {', '.join(str(n // 2) for n in s0.nav_shape)} of {' x '.join(map(str, s0.nav_shape))}"
        out.append(figure(mid.plot(title=""), f"The input's middle image ({what})" if s0.nav_ndim else "The input"))
    else:
        out.append(figure(_mean_spectrum_figure(s0), "Mean spectrum"))
    out.append("<h2>Steps</h2>")
    out.append(table(
        [(i + 1, r.op + (f" → {r.name}" if r.name else ""), ", ".join(f"{k}={_brief(v)}" for k, v in r.params.items()),
          f"{r.seconds:.3f}", f"{r.peak_rss_mb:.0f}", r.summary) for i, r in enumerate(run.steps)],
        ["#", "step", "parameters", "time (s)", "peak RSS (MB)", "result"]))
    out.append(_WARNINGS_HERE)
    out.append(f"<p>Total {run.manifest.get('seconds', 0):.2f} s, peak memory "
               f"{run.manifest.get('peak_rss_mb', 0):.0f} MB.</p>")
    out.append(f"<p>Processed signal: {html.escape(repr(run.signal))}</p>")
    if run.signal is not s0 and run.signal.sig_ndim == 1:
        after = "Mean spectrum after the steps" if run.signal.nav_ndim else "The signal after the steps"
        out.append(figure(_mean_spectrum_figure(run.signal, after), "Processed signal"))
    elif run.signal is not s0 and run.signal.sig_ndim == 2 and run.signal.nav_ndim <= 1:
        # maps (X-ray line maps, an image): drawn, not only named (a recipe's line maps appeared as a repr)
        out.append(figure(run.signal.plot(title=""), "Processed signal"))
    elif run.signal is not s0 and _is_volume(run.signal):  # a tomogram: it had no figure at all
        out.append("<h2>Tomogram</h2>" + _volume_section(run.signal))
    elif run.signal is not s0 and _is_component_volumes(run.signal):  # spectral tomography: it had none either
        out.append("<h2>Component volumes</h2>" + _component_volumes_section(run.signal, s0))
    scans = getattr(run, "scans", None) or []
    for i, scan in enumerate(scans):
        out.append(f"<h2>Sparse scan and reconstruction{f' {i + 1}' if len(scans) > 1 else ''}</h2>")
        out.append(_scan_section(scan))
    shown: dict = {}
    for name, obj in run.results.items():
        if isinstance(obj, Decomposition):
            out.append(_decomposition_section(name, obj, shown))
        elif isinstance(obj, ClusterResult):
            out.append(f"<h2>Clustering “{html.escape(name)}”</h2>")
            out.append(figure(_cluster_figure(obj), "Phase map and per-phase spectra"))
            if obj.route:
                out.append(f"<p>k-means ({obj.n_clusters} phases, inertia {obj.inertia:.4g}): "
                           f"{html.escape(obj.route)}</p>")
        elif isinstance(obj, SladsResult):
            out.append(slads_section(name, obj, (run.signal, run.input_signal)))
        elif isinstance(obj, AutonomousResult):
            out.append(autonomous_section(name, obj, (run.signal, run.input_signal)))
    for title, body in extra_sections or []:
        out.append(f"<h2>{html.escape(title)}</h2>{body}")
    out.append("<h2>Outputs</h2>")
    out.append(table([(k, ", ".join(v["files"]), v["sha256"]) for k, v in run.manifest["outputs"].items()],
                      ["output", "files", "sha256 of the numbers"]))
    out.append("<h2>Software</h2>")
    out.append(table(list(run.manifest.get("versions", {}).items()), ["package", "version"]))
    out.append("<h2>Recipe that reproduces this report</h2>")
    out.append(f"<pre>{html.escape(recipe_text)}</pre>")
    out.append("<p>Re-run and verify: <code>emscale replay OUTDIR</code></p></body></html>")
    return out


def write_report(run, path, recipe_text: str, extra_sections=None, up: tuple[str, str] | None = None,
                 warned: list[str] | None = None) -> Path:
    """Write the report atomically (temporary sibling, then rename); ``warned``: as :func:`render`."""
    path = Path(path)
    text = render(run, recipe_text, extra_sections, up, warned)
    atomic_write(path, text, overwrite=True)
    return path
