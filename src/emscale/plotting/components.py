"""Figures of decomposition and clustering results: factor spectra, loading maps, the phase map with its spectra.

They take arrays and :class:`~emscale.Axis` objects (not the result classes, which live beside this package and
use these figures), and the component names (e.g. from :func:`emscale.spectroscopy.naming.component_names`):

* :func:`factor_figure` -- the factor spectra on one calibrated axis, labelled ``"#k name"``;
* :func:`loading_figure` -- one calibrated map per component, each with the colour limits of
  :func:`~emscale.plotting.plot_signal` (:func:`~emscale.plotting.image_limits`), a labelled colour bar and a scale bar;
* :func:`phase_figure` -- the cluster map beside the mean spectrum of each phase, the colour of phase ``k`` in
  the map (a :class:`~matplotlib.colors.ListedColormap` with one colour per phase) being the colour of its
  spectrum, with a colour bar that names the phases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _new_figure, axis_label, draw_image, image_limits, style_image_axes
from .limits import colour_map, line_range

PHASE_COLOURS = "tab10"
MASKED_COLOUR = "0.85"
LEGEND_MAX = 8  # more curves than this: one small panel each (a longer legend hides the curves; tab10 repeats)


def component_label(k: int, name: str | None) -> str:
    """``"#1 Si Kα"`` for a named component, ``"#1"`` otherwise."""
    return f"#{k}" if not name or name == f"#{k}" else f"#{k} {name}"


PANEL_WIDTH = 3.6  # inches a panel of a grid of factors or loadings takes


def _curves(axis, curves: np.ndarray, names: Sequence[str] | None, title: str, ylabel: str,
            xlim: tuple[float, float] | None = None):
    """``curves`` (k, n) against ``axis``: in one panel with a legend up to :data:`LEGEND_MAX` of them, else one
    small panel each (titled by its component, sharing the axes' range) in a grid."""
    y = np.asarray(curves, dtype=float)
    k = y.shape[0]
    names = list(names) if names is not None else [None] * k
    x = np.asarray(axis.values, dtype=float)
    xlim = xlim or (float(x.min()), float(x.max()))
    if k <= LEGEND_MAX:
        fig = _new_figure((7.0, 3.8))
        ax = fig.add_subplot()
        for c in range(k):
            ax.plot(x, y[c], lw=1.1, color=f"C{c % 10}", label=component_label(c, names[c]))
        ax.set_xlabel(axis_label(axis))
        ax.set_ylabel(ylabel)
        ax.set_xlim(*xlim)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.legend(fontsize=8)
        ax.set_title(title)
        return fig
    cols = 6 if k > 24 else 4
    rows = int(np.ceil(k / cols))
    # panels as wide as the loading maps' (a report shows both at the page's width): 1.9 inches a panel drew the
    # 10 factors of a real EDS map at 60 % of the width the maps beside them took, their ticks at 6 points unreadable
    fig = _new_figure((cols * PANEL_WIDTH, rows * 1.8 + 0.6))
    axs = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for c, ax in enumerate(axs):
        if c >= k:
            ax.set_axis_off()
            continue
        ax.plot(x, y[c], lw=0.9, color="C0")
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xlim(*xlim)
        ax.set_title(component_label(c, names[c]), fontsize=9, pad=2)
        ax.tick_params(labelsize=7, length=2, pad=1, labelbottom=c + cols >= k)  # the lowest of each column
        ax.yaxis.get_offset_text().set_fontsize(7)
    fig.supxlabel(axis_label(axis), fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    fig.suptitle(f"{title} ({k} components)", fontsize=10)
    return fig


def factor_figure(axis, factors: np.ndarray, names: Sequence[str] | None = None, title: str = "Factors",
                  crop: bool = False, ylabel: str = "factor (counts per channel)"):
    """The factor spectra ``factors`` (channels, k) against ``axis`` (more than :data:`LEGEND_MAX`: a panel
    each); ``crop``: only the energy range holding their lines (:func:`.limits.line_range`)."""
    f = np.asarray(factors, dtype=float)
    x = np.asarray(axis.values, dtype=float)
    return _curves(axis, f.T, names, title, ylabel, line_range(x, f.T) if crop else None)


def _grid(k: int) -> tuple[int, int]:
    cols = min(k, 4) if k != 4 else 2
    return int(np.ceil(k / cols)), cols


def loading_figure(maps: np.ndarray, nav_axes: Sequence, names: Sequence[str] | None = None,
                   title: str = "Loadings", clabel: str = "loading", cmap: str | None = None):
    """One map per component: ``maps`` (k, rows, columns) on ``nav_axes`` (numpy order: y then x), or
    profiles when ``maps`` is (k, n) on one axis. ``cmap`` None: each map's own (:func:`.limits.colour_map`), a
    diverging one centred on zero for a map of both signs."""
    m = np.asarray(maps, dtype=float)
    k = m.shape[0]
    names = list(names) if names is not None else [None] * k
    if m.ndim == 2:  # line scans: profiles
        return _curves(nav_axes[-1], m, names, title, clabel)
    rows, cols = _grid(k)
    ay, ax_ = nav_axes[-2], nav_axes[-1]
    aspect = (ay.size * abs(ay.scale)) / max(ax_.size * abs(ax_.scale), 1e-300) if ay.units == ax_.units else 1.0
    panel = PANEL_WIDTH / 1.2
    fig = _new_figure((cols * PANEL_WIDTH, rows * panel * min(max(aspect, 0.4), 1.6) + 0.5))
    for c in range(k):
        a = fig.add_subplot(rows, cols, c + 1)
        cmap_c, centre = colour_map(m[c], cmap)
        vmin, vmax, extend = image_limits(m[c], centre)  # every image's rule, Signal.plot's
        im = draw_image(a, m[c], ax_, ay, cmap=cmap_c, vmin=vmin, vmax=vmax)
        style_image_axes(a, ax_, ay)
        a.set_xlabel("")
        a.set_ylabel("")
        a.set_title(component_label(c, names[c]), fontsize=10)
        cb = fig.colorbar(im, ax=a, shrink=0.85, extend=extend)
        cb.set_label(clabel, fontsize=8)
        cb.ax.tick_params(labelsize=7)
    fig.suptitle(title)
    return fig


# The composite's component colours, added on black. Not red, green and blue: under deuteranopia (Machado, Oliveira
# & Fernandes 2009, severity 1, on linear RGB) red and green -- the demo's Si beside SiO2 -- lie 27.8 apart (CIELAB
# dE76), these at least 81 (protanopia 65.9 -> 50.1, tritanopia 71.5 -> 52.4, normal vision 170.6 -> 80.7); their
# sums, two or three components in one pixel, stay as far apart as red, green and blue's (deuteranopia 19.6 -> 21.6,
# protanopia 8.3 both). Okabe-Ito's vermillion, bluish green and blue: 53.4 under deuteranopia, 5.6 for the sums.
COMPOSITE_COLOURS = ((0.9, 0.0, 0.6), (0.1, 0.9, 0.0), (0.0, 0.3, 1.0))
COMPOSITE_NAMES = ("magenta", "green", "blue")


def composite_figure(maps: np.ndarray, nav_axes: Sequence, names: Sequence[str] | None = None):
    """The first three of the non-negative ``maps`` (k, rows, columns) in :data:`COMPOSITE_COLOURS` added on black,
    each stretched between its 1st and 99th percentiles, with a key naming the component of each colour; the title
    says which components it shows, and of how many."""
    m = np.asarray(maps, dtype=float)
    k, n = m.shape[0], min(3, m.shape[0])
    names = list(names) if names is not None else [None] * k
    rgb = np.zeros(m.shape[1:] + (3,))
    for c in range(n):
        v = np.nan_to_num(m[c])
        lo, hi = np.percentile(v, [1, 99])
        rgb += np.clip((v - lo) / (hi - lo if hi > lo else 1), 0, 1)[..., None] * np.asarray(COMPOSITE_COLOURS[c])
    fig = _new_figure((5.2, 4.4))
    ax = fig.add_subplot()
    ay, ax_ = nav_axes[-2], nav_axes[-1]
    draw_image(ax, np.clip(rgb, 0, 1), ax_, ay)
    style_image_axes(ax, ax_, ay)
    from matplotlib.patches import Patch

    key = [Patch(color=COMPOSITE_COLOURS[c], label=f"{COMPOSITE_NAMES[c]}: {component_label(c, names[c])}")
           for c in range(n)]
    ax.legend(handles=key, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    shown = "loading #0" if n == 1 else f"loadings #0-#{n - 1}"
    ax.set_title(f"Colour composite of {shown}" + (f" ({n} of {k} components)" if k > n else ""))
    return fig


def phase_colours(n: int) -> list[tuple[float, float, float, float]]:
    """The RGBA colour of each of ``n`` phases (shared by the map and the spectra)."""
    from matplotlib import colormaps

    base = colormaps[PHASE_COLOURS]
    return [base(i % base.N) for i in range(n)]


def phase_figure(labels: np.ndarray, spectra: np.ndarray, nav_axes: Sequence, sig_axis,
                 names: Sequence[str] | None = None, title: str = "Phases", crop: bool = False):
    """The phase map ``labels`` (rows, columns; -1 masked) beside the phase spectra ``spectra`` (n, channels).

    Phase ``k`` has colour ``phase_colours(n)[k]`` in both panels; the colour bar of the map names the phases.
    ``crop``: draw the spectra over the range holding their lines (:func:`.limits.line_range`).
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    lab = np.asarray(labels)
    sp = np.asarray(spectra, dtype=float)
    n = sp.shape[0]
    colours = phase_colours(n)
    names = [f"phase {k}" + (f": {nm}" if nm and nm != f"#{k}" else "") for k, nm in
             enumerate(names if names is not None else [None] * n)]
    fig = _new_figure((11.0, 4.0))
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.3))
    cmap = ListedColormap(colours, name="phases").with_extremes(bad=MASKED_COLOUR)
    norm = BoundaryNorm(np.arange(-0.5, n), n)
    if lab.ndim == 2:
        ay, ax_ = nav_axes[-2], nav_axes[-1]
        im = draw_image(left, np.ma.masked_less(lab, 0), ax_, ay, cmap=cmap, norm=norm)
        style_image_axes(left, ax_, ay)
        cb = fig.colorbar(im, ax=left, ticks=np.arange(n), shrink=0.85)
        cb.ax.set_yticklabels(names, fontsize=8)
        cb.ax.set_title("phase", fontsize=9)  # above the bar: its tick labels already fill its side
    else:
        x = np.asarray(nav_axes[-1].values, dtype=float)
        for k in range(n):
            left.scatter(x[lab.ravel() == k], np.full(int(np.sum(lab.ravel() == k)), k), color=colours[k], s=6)
        left.set_xlabel(axis_label(nav_axes[-1]))
        left.set_yticks(np.arange(n), names)
    left.set_title("Phase map")
    xs = np.asarray(sig_axis.values, dtype=float)
    for k in range(n):
        right.plot(xs, sp[k], lw=1.1, color=colours[k], label=names[k])
    right.set_xlabel(axis_label(sig_axis))
    right.set_ylabel("mean counts per channel")
    right.set_xlim(*(line_range(xs, sp) if crop else (float(xs.min()), float(xs.max()))))
    right.legend(fontsize=8)
    right.set_title("Mean spectrum of each phase")
    if title:
        fig.suptitle(title)
    return fig
