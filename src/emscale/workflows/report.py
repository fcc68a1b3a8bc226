"""A single self-contained HTML report of a recipe run: every figure embedded as a PNG data URI."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write
from ..core.html import figure, table
from ..decomposition import ClusterResult, Decomposition

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
font-size:.9em}th{background:#f4f4f4}figure{display:inline-block;margin:.5em}img{max-width:100%}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}.ok{color:#176c2b}.bad{color:#a11}
"""


def _mean_spectrum_figure(s, title: str = "Mean spectrum of the input"):
    import matplotlib.pyplot as plt

    nav = tuple(range(s.nav_ndim))
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    if s.sig_ndim != 1:
        ax.text(0.5, 0.5, f"signal is {s.sig_ndim}-D: no spectrum", ha="center")
        return fig
    mean = s.mean(axis=nav).to_numpy() if nav else s.to_numpy()
    a = s.sig_axes[0]
    ax.plot(a.values, mean, lw=1)
    ax.set_xlabel(f"{a.name} ({a.units})" if a.units else a.name)
    ax.set_ylabel("mean counts")
    ax.set_title(title)
    return fig


def _rgb_figure(dec):
    import matplotlib.pyplot as plt

    lo = np.asarray(dec.loadings_array[:, : min(3, dec.n_components)], dtype=float)
    rgb = np.zeros((lo.shape[0], 3))
    for c in range(lo.shape[1]):
        v = np.nan_to_num(lo[:, c])
        lo_, hi = np.percentile(v, [1, 99])
        rgb[:, c] = np.clip((v - lo_) / (hi - lo_ if hi > lo_ else 1), 0, 1)
    shape = tuple(dec.nav_shape) if len(dec.nav_shape) == 2 else None  # numpy order, like the loadings
    fig, ax = plt.subplots(figsize=(4, 4))
    if shape is not None:
        ax.imshow(rgb.reshape(shape + (3,)), interpolation="nearest")
        ax.set_axis_off()
    else:
        ax.plot(rgb)
    ax.set_title("RGB composite of loadings 1-3")
    return fig


def _cluster_figure(c):
    import matplotlib.pyplot as plt

    lab = c.labels.to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    if lab.ndim == 2:
        axes[0].imshow(lab, cmap="tab10", interpolation="nearest")
        axes[0].set_axis_off()
    else:
        axes[0].plot(lab)
    axes[0].set_title("Phase map (clusters)")
    sp = c.spectra.to_numpy()
    a = c.spectra.sig_axes[0]
    for k in range(sp.shape[0]):
        axes[1].plot(a.values, sp[k], lw=1, color=plt.get_cmap("tab10")(k), label=f"phase {k}")
    axes[1].set_xlabel(f"{a.name} ({a.units})" if a.units else a.name)
    axes[1].legend(fontsize=7)
    axes[1].set_title("Mean spectrum per phase")
    return fig


def _decomposition_section(name: str, dec) -> str:
    parts = [f"<h2>Decomposition “{html.escape(name)}” ({html.escape(dec.method)})</h2>"]
    info = {k: v for k, v in (dec.info or {}).items() if not isinstance(v, list | dict | np.ndarray)}
    rows = [("components", dec.n_components)] + [(k, v) for k, v in info.items()]
    if getattr(dec, "eigenvalues", None) is not None:
        rank, ev = dec.estimate_rank()
        rows.append(("automatic rank", rank))
        rows += [(f"rank evidence: {k}", v) for k, v in ev.items() if isinstance(v, int | float | str)]
    parts.append(table(rows, ["quantity", "value"]))
    if getattr(dec, "eigenvalues", None) is not None:
        parts.append(figure(dec.plot_scree(), "Scree plot with the noise threshold (rank decision)"))
    parts.append(figure(dec.plot_factors(), "Factor spectra"))
    parts.append(figure(dec.plot_loadings(), "Loading maps"))
    if len(dec.nav_shape) == 2 and dec.n_components >= 1:
        parts.append(figure(_rgb_figure(dec), "RGB composite"))
    return "\n".join(parts)


def render(run, recipe_text: str, extra_sections: list[tuple[str, str]] | None = None) -> str:
    """The report's HTML for a :class:`emscale.recipes.runner.RunResult`."""
    s0 = run.input_signal
    src = (s0.history[0].get("source", {}) if s0.history else {})
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>emscale report</title>"
           f"<style>{_CSS}</style></head><body>", "<h1>emscale analysis report</h1>"]
    out.append("<h2>Input</h2>")
    rows = [("file", src.get("path", "")), ("sha256", src.get("sha256", "")), ("signal", repr(s0)),
            ("dtype", str(s0.dtype)), ("size in memory", f"{s0.nbytes / 1e6:.2f} MB")]
    out.append(table(rows))
    out.append(table([(i, a.name, "navigation" if a.navigate else "signal", a.size, f"{a.scale:g}",
                        f"{a.offset:g}", a.units) for i, a in enumerate(s0.user_axes)],
                      ["#", "axis", "role", "size", "scale", "offset", "units"]))
    from ..core.signal import key_metadata

    md = key_metadata(s0.metadata)
    if md:
        out.append(table(list(md.items()), ["metadata", "value"]))
    out.append(figure(_mean_spectrum_figure(s0), "Mean spectrum"))
    out.append("<h2>Steps</h2>")
    out.append(table(
        [(i + 1, r.op + (f" → {r.name}" if r.name else ""), ", ".join(f"{k}={v!r}" for k, v in r.params.items()),
          f"{r.seconds:.3f}", f"{r.peak_rss_mb:.0f}", r.summary) for i, r in enumerate(run.steps)],
        ["#", "step", "parameters", "time (s)", "peak RSS (MB)", "result"]))
    out.append(f"<p>Total {run.manifest.get('seconds', 0):.2f} s, peak memory "
               f"{run.manifest.get('peak_rss_mb', 0):.0f} MB.</p>")
    out.append(f"<p>Processed signal: {html.escape(repr(run.signal))}</p>")
    if run.signal is not s0 and run.signal.sig_ndim == 1:
        out.append(figure(_mean_spectrum_figure(run.signal, "Mean spectrum after the steps"), "Processed signal"))
    for name, obj in run.results.items():
        if isinstance(obj, Decomposition):
            out.append(_decomposition_section(name, obj))
        elif isinstance(obj, ClusterResult):
            out.append(f"<h2>Clustering “{html.escape(name)}”</h2>")
            out.append(figure(_cluster_figure(obj), "Phase map and per-phase spectra"))
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
    return "\n".join(out)


def write_report(run, path, recipe_text: str, extra_sections=None) -> Path:
    """Write the report atomically (temporary sibling, then rename)."""
    path = Path(path)
    text = render(run, recipe_text, extra_sections)
    atomic_write(path, text, overwrite=True)
    return path
