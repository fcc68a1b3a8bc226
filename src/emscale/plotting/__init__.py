"""Static matplotlib figures of signals (headless: uses the Agg canvas, never opens a window).

:func:`plot_signal` picks the figure from the signal's dimensions:

* a spectrum or profile (one signal axis, no navigation): a line plot with the calibrated axis and its units;
* an image or map (two signal axes): the image with extent from the calibration, a scale bar and a colour bar;
* a spectrum image (navigation axes + one signal axis): a navigator (map of the total counts) beside the mean
  spectrum; a line scan (one navigation axis) shows the position-energy image instead of a map.

Maps carry a labelled colour bar and a scale bar in the length unit that makes it read 1-500 (``2 Å``, not
``0.0002 µm``; :mod:`.scalebar`); with a scale bar the axis ticks are hidden, as in a micrograph, otherwise at
most five per axis so that their labels never overlap. Decomposition and clustering figures are in
:mod:`.components`.

Spectra accept ``marks``: edge or line positions drawn as labelled vertical lines. An EDS spectrum's y range fits
the channels above the detector's zero-energy peak, which runs off the top with a note (:func:`fit_above_zero_peak`).
Save with ``fig.savefig("out.png")`` (or ``.svg``, ``.pdf``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.errors import DataError, check_not_complex
from ..core.signal import holds_counts, is_sparse_scan, measured_mask, signal_method
from .limits import SEQUENTIAL, centred, colour_map, isolated_spikes
from .scalebar import add_scalebar, nice_length, scale_bar
from .summaries import finite_summaries

__all__ = ["plot_signal", "check_real", "axis_label", "intensity_label", "intensity_units", "nice_length", "scale_bar",
           "add_scalebar", "style_image_axes", "image_extent", "axis_edges", "draw_image", "fit_above_zero_peak"]

NORMS = ("linear", "log")  # the intensity scales of plot(norm=...)


def axis_label(ax) -> str:
    """``"name (units)"`` for an :class:`~emscale.Axis`."""
    name = ax.name or "axis"
    return f"{name} ({ax.units})" if ax.units else name


def intensity_label(s) -> str:
    """What a signal's values are, for an axis or colour bar: its quantity, "Counts" for counts, else "Intensity"."""
    sig = s.metadata.get("Signal", {}) if isinstance(s.metadata, dict) else {}
    if isinstance(sig, dict) and sig.get("quantity"):
        return str(sig["quantity"])
    return "Counts" if holds_counts(s) else "Intensity"


def in_title(label: str) -> str:
    """The generic labels in lower case inside a title ("total counts"); a quantity as the metadata name it."""
    return label.lower() if label in ("Counts", "Intensity") else label


def intensity_units(s) -> str:
    """The unit of a signal's values, for a file header (an MSA's ``#YUNITS``): the unit in the quantity's
    parentheses ("Electrons (Counts)" -> "Counts"), else the quantity, else "counts" for counts, else ""
    (arbitrary units: a float map's values are not counts)."""
    sig = s.metadata.get("Signal", {}) if isinstance(s.metadata, dict) else {}
    quantity = str(sig.get("quantity") or "") if isinstance(sig, dict) else ""
    if quantity:
        unit = re.search(r"\(([^()]*)\)\s*$", quantity)
        return unit.group(1) if unit else quantity
    return "counts" if holds_counts(s) else ""


def check_real(s, what: str) -> None:
    """Refuse complex values, which matplotlib would show as their real part (a spectrum, with only numpy's
    ComplexWarning) or not at all (an image: a TypeError from deep inside imshow)."""
    check_not_complex(repr(s), s.dtype, f"{what} needs real data: take their modulus or phase first, e.g. "
                      "em.Signal(np.abs(s.data), axes=s.axes) or em.Signal(np.angle(s.data), axes=s.axes)")


def _new_figure(figsize):
    """A plain Figure (never pyplot's: a notebook showed those twice, and a script kept every one open), which a
    Jupyter kernel shows as an image (:func:`.notebook.show_inline`). Every figure of the package starts here."""
    from matplotlib.figure import Figure

    from .notebook import show_inline

    show_inline()
    return Figure(figsize=figsize, layout="constrained")


def _normalise_marks(marks) -> list[tuple[str, float]]:
    if marks is None:
        return []
    if isinstance(marks, Mapping):
        return [(str(k), float(v)) for k, v in marks.items()]
    out = []
    for m in marks:
        if isinstance(m, tuple | list) and len(m) == 2:
            a, b = m
            if isinstance(a, str):
                out.append((a, float(b)))
            else:
                out.append((str(b), float(a)))
        else:
            out.append((f"{float(m):g}", float(m)))
    return out


def _draw_marks(ax, marks, lo, hi):
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for label, pos in _normalise_marks(marks):
        if not (min(lo, hi) <= pos <= max(lo, hi)):
            continue
        ax.axvline(pos, color="0.35", linestyle="--", linewidth=0.9)
        ax.text(
            pos,
            0.98,
            f" {label}",
            transform=trans,
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="0.2",
        )


def image_extent(ax_x, ax_y):
    """imshow extent (left, right, bottom, top) with pixel edges at half a step around the centres."""

    def edges(a):
        v = a.values
        if a.size > 1:
            step = (v[-1] - v[0]) / (a.size - 1)
        else:
            step = a.scale if a.is_uniform else 1.0
        return v[0] - step / 2, v[-1] + step / 2

    x0, x1 = edges(ax_x)
    y0, y1 = edges(ax_y)
    return (x0, x1, y1, y0)  # origin upper: first row at the top


def axis_edges(a) -> np.ndarray:
    """The ``size + 1`` pixel or channel edges of an axis: midway between its values, half a step beyond the
    first and the last (for a uniform axis, the edges :func:`image_extent` puts at the ends)."""
    v = np.asarray(a.values, dtype=float)
    if v.size < 2:
        step = a.scale if a.is_uniform else 1.0
        return np.array([v[0] - step / 2, v[0] + step / 2])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def draw_image(ax, img, axis_x, axis_y, aspect=None, **kw):
    """``img`` (rows along ``axis_y``, columns along ``axis_x``) in calibrated units, first row at the top; ``kw``
    to matplotlib (``cmap``, ``vmin``, ``norm``...). ``aspect`` None: equal where both axes share a unit.

    Uniform axes: ``imshow`` with :func:`image_extent`. A non-uniform axis (energy from wavelength) gets a
    ``pcolormesh`` on :func:`axis_edges`: imshow spaces columns evenly, which puts each channel at the wrong value.
    """
    aspect = aspect or ("equal" if axis_x.units == axis_y.units else "auto")
    if axis_x.is_uniform and axis_y.is_uniform:
        return ax.imshow(img, extent=image_extent(axis_x, axis_y), interpolation="nearest", aspect=aspect, **kw)
    xe, ye = axis_edges(axis_x), axis_edges(axis_y)
    im = ax.pcolormesh(xe, ye, img, shading="flat", **kw)
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[-1], ye[0])  # as imshow's extent: first row at the top
    ax.set_aspect(aspect)
    return im


def style_image_axes(ax, axis_x, axis_y, scalebar: bool = True):
    """Calibrated image axes: with a scale bar (both axes in the same unit) the ticks are hidden, as in a
    micrograph, and the axes keep only their names; otherwise calibrated ticks, few enough that their labels never
    overlap. Returns the bar or None."""
    from matplotlib.ticker import MaxNLocator

    if scalebar and axis_x.units and axis_x.units == axis_y.units:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(axis_x.name or "")  # the direction; the bar gives the length (its unit may differ)
        ax.set_ylabel(axis_y.name or "")
        return add_scalebar(ax, axis_x)
    ax.set_xlabel(axis_label(axis_x))
    ax.set_ylabel(axis_label(axis_y))
    # "auto": as many ticks as the axis length holds labels of this font size, at most 5 across; pixel indices
    # (an uncalibrated axis) are whole numbers, never 2.5
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2, integer=_in_pixels(axis_x)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", min_n_ticks=2, integer=_in_pixels(axis_y)))
    return None


def _in_pixels(axis) -> bool:
    """An uncalibrated axis: no units, and its values are the channel indices (scale 1 from a whole offset)."""
    return (not axis.units and axis.is_uniform and axis.scale == 1 and float(axis.offset).is_integer())


def _positive_only(values, what: str):
    """The values for a log scale: those <= 0 masked (matplotlib would clip them to its lowest decade or drop them
    without a word), with a warning that counts them; refused where none is left to show."""
    v = np.ma.masked_invalid(np.asarray(values, dtype=float))
    bad = int(np.ma.count(v) - np.count_nonzero(v > 0))
    if not np.any(v > 0):
        raise ValueError(f"norm='log': the {what} holds no value above 0 to show on a log scale")
    if bad:
        warnings.warn(f"norm='log': {bad} of {v.size} values of the {what} are <= 0 and are left out", stacklevel=5)
    return np.ma.masked_less_equal(v, 0)


OUTLIER_RANGE = 3.0  # a min-max range this many times the rest's range is a few pixels' doing
OUTLIER_SHARE = 5e-4  # "a few": at most this share of the pixels (at least one) at each end
# ... of a map of at least this many values: in a smaller one a single value is no "few" (a 2 x 2 map's loadings
# lost their extreme pixel at each end: half the map beyond its colour range)
OUTLIER_MIN_VALUES = 100


def colour_limits(img, vmin=None, vmax=None) -> tuple[float | None, float | None, str]:
    """The colour limits of an image and the colour bar's ``extend``: the given ``vmin``/``vmax``; else the
    finite minimum and maximum, unless a few pixels at either end (at most :data:`OUTLIER_SHARE` of them, in a map
    of at least :data:`OUTLIER_MIN_VALUES`) stretch that range :data:`OUTLIER_RANGE` times beyond the range of the
    rest, which is not constant (a hot pixel: one 60 000-count spike left 5 colours for a whole map), where the
    rest's range is taken and the colour bar's ends say that values lie beyond it. The rest's range, not the
    1st-99.5th percentiles: a sparse map whose 0.6 % occupied pixels hold 1-10 counts was clipped at (0, 2), 90 % of
    its counts at the top colour."""
    v = np.asarray(img, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return vmin, vmax, "neither"
    lo, hi = float(v.min()), float(v.max())
    if vmin is None and vmax is None and v.size >= OUTLIER_MIN_VALUES:
        k = max(1, int(OUTLIER_SHARE * v.size))
        rest = np.partition(v, (k, v.size - 1 - k))
        rlo, rhi = float(rest[k]), float(rest[v.size - 1 - k])
        # where the rest is constant the few pixels are what the map shows (a sparse map: one count in one pixel
        # drew over a range of zero width)
        if rhi > rlo and hi - lo > OUTLIER_RANGE * (rhi - rlo):
            vmin, vmax = rlo, rhi
    vmin = lo if vmin is None else float(vmin)
    vmax = hi if vmax is None else float(vmax)
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (lo < vmin, hi > vmax)]
    return vmin, vmax, extend


def image_limits(img, centre: bool = False) -> tuple[float | None, float | None, str]:
    """``(vmin, vmax, extend)`` of an image (``Signal.plot``, loading maps): :func:`colour_limits` (min to max,
    less a few hot pixels) over the image without its :func:`.limits.isolated_spikes`; ``centre``: symmetric about
    zero. colour_limits alone drops up to 0.05 % of the pixels: a Poisson(0.3) count image with three isolated 500s
    (0.25 %) was drawn 0-500, all black, now 0-3; structure of several pixels (atom columns, a 9-pixel inclusion,
    a sparse map's counts) holds no spike and keeps colour_limits' range. Loading maps: the 1st-99.5th percentiles
    drew a 9-pixel Fe inclusion (loading 516) at 80 times the top colour, as bright as NMF leftovers of 6 (0-6.45;
    now 0-545). The colour bar's pointed ends say where values lie beyond the limits."""
    v = np.asarray(img, dtype=float)
    spikes = isolated_spikes(v)
    vmin, vmax, _ = colour_limits(np.where(spikes, np.nan, v))
    if centre and vmin is not None:
        vmin, vmax = centred(vmin, vmax)
    vmin, vmax, extend = colour_limits(v, vmin, vmax)  # the extend against every value, the spikes too
    return vmin, vmax, extend


def _image(fig, ax, img, axis_x, axis_y, title, cmap, scalebar, colorbar, clabel, aspect=None, norm="linear",
           clim=(None, None)):
    """``aspect`` None: equal where both axes share a unit (a map), else "auto". ``clim``: the user's
    ``(vmin, vmax)``, either None for :func:`image_limits`' choice. ``cmap`` None: :func:`.limits.colour_map`'s,
    a diverging map with limits symmetric about zero for an image of both signs (unless ``clim`` gives them)."""
    kw, extend = {}, "neither"
    if norm == "log":
        from matplotlib.colors import LogNorm

        img = _positive_only(img, "image")
        kw["norm"] = LogNorm(vmin=float(clim[0] or img.min()), vmax=float(clim[1] or img.max()))
        cmap = cmap or SEQUENTIAL
    else:
        cmap, centre = colour_map(img, cmap)
        if clim == (None, None):  # isolated spikes left out, as in a loading map (three 500s drew a map 0-500)
            kw["vmin"], kw["vmax"], extend = image_limits(img, centre)
        else:
            kw["vmin"], kw["vmax"], extend = colour_limits(img, *clim)
    im = draw_image(ax, img, axis_x, axis_y, aspect=aspect, cmap=cmap, **kw)
    if title:
        ax.set_title(title)
    style_image_axes(ax, axis_x, axis_y, scalebar)
    if colorbar:
        cb = fig.colorbar(im, ax=ax, shrink=0.85, extend=extend)
        cb.set_label(clabel or "Intensity")
    return im


def _spectrum(ax, x_axis, y, label_y, title, marks, norm="linear", signal_type="", **line_kw):
    if norm == "log":
        y = _positive_only(y, "spectrum")
        ax.set_yscale("log")
    low, high = x_axis.low, x_axis.high
    if x_axis.size == 1:
        # one value (a profile summed to one position): a line of one point draws nothing, and equal limits got
        # matplotlib's "identical low and high xlims" warning. A marker, on the channel's width
        line_kw = {"marker": "o", **line_kw}
        half = abs(float(x_axis.scale)) / 2
        low, high = low - half, high + half
    ax.plot(x_axis.values, y, **line_kw)
    ax.set_xlabel(axis_label(x_axis))
    ax.set_ylabel(label_y)
    ax.set_xlim(low, high)
    if norm != "log":
        fit_above_zero_peak(ax, x_axis, y, signal_type)
    if title:
        ax.set_title(title)
    _draw_marks(ax, marks, x_axis.low, x_axis.high)


def fit_above_zero_peak(ax, axis, y, signal_type: str) -> None:
    """An EDS spectrum ``y`` along ``axis`` (:func:`..decomposition.spectrum_kind.eds_kind`): the y range fitted to
    the channels above the zero-energy (strobe) peak (those decompose masks,
    :func:`..decomposition.spectrum_kind.zero_peak_channels`), with a note where the peak runs off the top. On the
    real Bruker map the peak, 850 counts a pixel, set the range and squeezed the lines (310 and below) into its lower
    third."""
    from matplotlib.transforms import blended_transform_factory

    from ..decomposition.spectrum_kind import eds_kind, zero_peak_channels

    low = zero_peak_channels(axis)
    if low is None or not low.any() or low.all() or not eds_kind(signal_type, axis)[0]:
        return
    v = np.asarray(y, dtype=float)
    rest, peak = v[~low][np.isfinite(v[~low])], np.where(np.isfinite(v[low]), v[low], -np.inf)
    if rest.size == 0:
        return
    lo, hi = min(float(rest.min()), 0.0), float(rest.max())
    top = hi + 0.05 * (hi - lo)
    if not hi > lo or not peak.max() > top:  # nothing above the peak to fit (a sparse pixel), or the peak fits
        return
    ax.set_ylim(lo - 0.05 * (hi - lo), top)
    # a caret where the peak leaves the axes, the note in the top right corner (over the high-energy continuum: beside
    # the peak it ran over the O K-alpha line of the Bruker map)
    x = float(np.asarray(axis.values, dtype=float)[low][np.argmax(peak)])
    ax.text(x, 1.0, "\u25b2", fontsize=6, color="0.3", ha="center", va="center",  # a text: ax.lines stay the data
            transform=blended_transform_factory(ax.transData, ax.transAxes))
    top = float(peak.max())
    ax.text(0.98, 0.97, f"zero-energy peak off scale ({top:,.0f})" if top >= 100 else
            f"zero-energy peak off scale ({top:.3g})", transform=ax.transAxes, fontsize=7, color="0.3", va="top",
            ha="right")


def plot_signal(
    s,
    ax=None,
    marks: Mapping[str, float] | Sequence | None = None,
    title: str | None = None,
    cmap: str | None = None,
    scalebar: bool = True,
    colorbar: bool = True,
    figsize: tuple[float, float] | None = None,
    norm: str = "linear",
    vmin: float | None = None,
    vmax: float | None = None,
    **line_kw,
):
    """A matplotlib :class:`~matplotlib.figure.Figure` of ``s`` (see the module docstring for the layouts).

    Parameters
    ----------
    s : Signal (in memory or lazy; a lazy signal is reduced through the engine, never loaded whole).
    ax : draw into this matplotlib Axes (spectra and images only); the figure returned is ``ax.figure``.
    marks : positions to mark on spectra: ``{"Si L2,3": 99.8}``, ``[("O K", 532)]`` or plain numbers.
    title : figure title (default: the signal's title).
    cmap, scalebar, colorbar : image options. ``cmap`` None: viridis, or for an image of substantial values of
        both signs (a PCA loading, a difference) "RdBu_r" with limits symmetric about zero (:mod:`.limits`).
    figsize : inches; a sensible default per layout.
    norm : ``"linear"`` or ``"log"`` (as HyperSpy's ``plot(norm=...)``): a logarithmic intensity scale for the
        spectrum (its y axis) or the image (its colours), where a zero-loss peak or a few bright pixels would
        flatten the rest. The navigator of a spectrum image stays linear. Values <= 0 have no place on it: they are
        left out (blank), with a warning that counts them.
    vmin, vmax : colour limits of the images drawn (an image, each image of a stack, the navigator of a spectrum
        image). Default (:func:`image_limits`): isolated single-pixel spikes left out
        (:func:`.limits.isolated_spikes`), then :func:`colour_limits`: the minimum and maximum, or, where a few
        pixels at either end (at most 0.05 % of them, at least one) stretch that range more than three times beyond
        the range of the rest (a hot pixel), the rest's range; the colour bar's pointed ends then say values lie
        beyond.
    line_kw : passed to ``Axes.plot`` for spectra (``color=``, ``linewidth=``...).
    """
    for name in ("clim", "vmin", "vmax"):
        if name in line_kw:  # passed on to Axes.plot, where it failed in matplotlib's words (or was ignored)
            raise TypeError(f"plot() got {name}= among the line options; pass vmin=/vmax= as plot's own arguments")
    clim = (vmin, vmax)
    if title is None:
        title = s.title or ""
    nav, sig = s.nav_ndim, s.sig_ndim
    if sig == 0 or s.ndim == 0:
        raise ValueError(f"nothing to plot: {s!r} has no signal axis")
    if sig > 2:
        volume = "; a volume's three central slices: emscale.tomography.orthoslices_figure(s)" if sig == 3 else ""
        raise ValueError(f"cannot plot {sig} signal dimensions; reduce or slice {s!r} first{volume}")
    check_real(s, "plot")
    empty = [repr(a.name) for a, n in zip(s.axes, s.shape, strict=True) if n == 0]
    if empty:  # matplotlib's "index 0 is out of bounds" or "Axis limits cannot be NaN or Inf"
        raise DataError(f"nothing to plot: axis {', '.join(empty)} of {s!r} has size 0")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}, got {norm!r}")
    if ax is not None and nav:
        raise ValueError("ax= draws a single panel: a spectrum or an image, not a spectrum image")

    if nav == 0:
        if ax is None:
            fig = _new_figure(figsize or ((6.4, 4.0) if sig == 1 else (5.6, 4.6)))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        data = np.asarray(s.to_numpy())
        if sig == 1:
            _spectrum(ax, s.sig_axes[0], data, intensity_label(s), title, marks, norm=norm,
                      signal_type=s.signal_type, **line_kw)
        else:
            ax_x, ax_y = s.sig_axes
            _image(fig, ax, data, ax_x, ax_y, title, cmap, scalebar, colorbar, intensity_label(s), norm=norm,
                   clim=clim)
        return fig

    if nav == 1 and sig == 2 and s.nav_shape[0] <= MONTAGE_MAX:
        return _montage(s, title, cmap, scalebar, colorbar, figsize, norm, clim)

    # spectrum image / image stack: navigator + signal summary
    fig = _new_figure(figsize or (11.0, 4.4))
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.25))
    measured = measured_mask(s) if nav == 2 and is_sparse_scan(s) else None
    if measured is not None and not (measured.shape == tuple(s.data.shape[:nav]) and measured.any()):
        measured = None
    total, mean_sig = _summaries(s, measured)
    if nav > 2:  # collapse the outer navigation axes for the navigator (NaN only where every one is)
        stack = total.reshape((-1,) + total.shape[-2:])
        total = np.where(np.isnan(stack).all(axis=0), np.nan, np.nansum(stack, axis=0))
    nav_axes = s.nav_axes
    if nav == 1:
        if sig == 1:
            # line scan: position x energy
            line = s.to_numpy() if not s.is_lazy else s.compute().to_numpy()
            _image(
                fig,
                left,
                line,
                s.sig_axes[0],
                nav_axes[0],
                "Line scan",
                cmap,
                False,
                colorbar,
                intensity_label(s),
                aspect="auto",  # position against energy or wavelength fills its panel, though both may be in nm
                norm=norm,  # the line scan is the signal here, the spectrum panel its mean
                clim=clim,
            )
        else:
            left.plot(nav_axes[0].values, total)
            left.set_xlabel(axis_label(nav_axes[0]))
            left.set_ylabel(f"{intensity_label(s)}, total")
            left.set_title("Navigator")
    else:
        _image(
            fig,
            left,
            total,
            nav_axes[0],
            nav_axes[1],
            # what the colour bar says: the quantity where the metadata name one ("Electrons (Counts)" read "total
            # intensity" above a bar of "Electrons (Counts), total")
            f"Navigator: total {in_title(intensity_label(s))}"
            + (f" ({measured.mean():.0%} of positions measured)" if measured is not None else ""),
            cmap,
            scalebar,
            colorbar,
            f"{intensity_label(s)}, total",
            clim=clim,
        )
        # the navigator's share of the width, less its colour bar with ticks and label
        _fit_title(left, fig.get_figwidth() / 2.25 - COLOURBAR_WIDTH)
    if sig == 1:
        _spectrum(
            right,
            s.sig_axes[0],
            mean_sig,
            f"{intensity_label(s)}, mean per {'measured ' if measured is not None else ''}pixel",
            "Mean spectrum",
            marks,
            norm=norm,
            signal_type=s.signal_type,
            **line_kw,
        )
    else:
        ax_x, ax_y = s.sig_axes
        _image(fig, right, mean_sig, ax_x, ax_y, "Mean image", cmap, scalebar, colorbar,
               f"{intensity_label(s)}, mean", norm=norm)
    _fit_title(right, fig.get_figwidth() * 1.25 / 2.25 - COLOURBAR_WIDTH)  # its y labels take a colour bar's width
    if title:
        fig.suptitle(title)
    return fig


COLOURBAR_WIDTH = 0.75  # inches a colour bar with its ticks and label takes beside its map (measured at 3.5-11 in)
TITLE_SHRINK = (1.0, 0.85, 0.7)  # a title too wide for its panel is wrapped, then shrunk by these factors


def _fit_title(ax, width: float) -> None:
    """Wrap ``ax``'s title at its spaces into lines that fit ``width`` inches, after its first ": " where that
    fits, into two lines where a font shrunk by :data:`TITLE_SHRINK` allows (else more), shrunk further where one
    word is wider still; a title with mathtext is only shrunk. At 3.5-5 in wide the spectrum image's "Navigator:
    total counts" started off the figure and ran over the colour bar (and a sparse scan's "... (15% of positions
    measured)" at the default 11 in); a title that fits, or that has lines of its own, is left as it is."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    title = ax.get_title()
    prop = FontProperties(size=rcParams["axes.titlesize"], weight=rcParams["axes.titleweight"])
    size = prop.get_size_in_points()
    text_to_path = TextToPath()

    def inches(text: str, points: float) -> float:
        return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72.0 * points / size

    if not title or width <= 0 or "\n" in title or inches(title, size) <= width:
        return  # a title of lines of its own is the caller's layout
    if "$" in title:  # mathtext is not split at its spaces: the font shrinks instead
        ax.set_title(title, fontsize=size * max(min(TITLE_SHRINK), width / inches(title, size)))
        return
    def wrap(words: list[str], points: float) -> list[str]:
        lines = [words[0]]
        for w in words[1:]:
            if inches(f"{lines[-1]} {w}", points) <= width:
                lines[-1] = f"{lines[-1]} {w}"
            else:
                lines.append(w)
        return lines

    head, colon, rest = title.partition(": ")
    for points in (size * f for f in TITLE_SHRINK):
        lines = wrap(title.split(" "), points)
        if colon and inches(head + ":", points) <= width and len(wrap(rest.split(" "), points)) == 1:
            lines = [head + ":", rest]  # "Navigator:" over "total counts", not "Navigator: total" over "counts"
        widest = max(inches(line, points) for line in lines)
        if len(lines) <= 2 and widest <= width:
            break
    ax.set_title("\n".join(lines), fontsize=points * min(1.0, width / widest))


def _summaries(s, measured):
    """The navigator (navigation numpy shape) and the mean signal of a spectrum image or image stack.

    A sparse scan's unmeasured positions are no data, not zero counts (they diluted the mean ~1/fraction): NaN in
    the navigator, left out of the mean (its mean over positions is refused by check_not_mixing_scan; its sum is
    not). The values are summed over the finite ones, with a warning naming how many are NaN (numpy's sums are NaN
    as soon as one term is), in one read of the data."""
    total, mean_sig, n_nan = finite_summaries(s.data, s.nav_ndim, measured)  # one read, integer data too
    if n_nan:
        warnings.warn(f"{n_nan} of {s.data.size} values of {s!r} are NaN: the navigator sums and the mean "
                      "averages the other values only", stacklevel=4)
    if measured is not None:
        total = np.where(measured, total, np.nan)
    return total, mean_sig


MONTAGE_MAX = 16  # a stack of up to this many images (line maps, loadings...) is drawn as a grid, one panel each


def _montage(s, title, cmap, scalebar, colorbar, figsize, norm="linear", clim=(None, None)):
    """A few images along one navigation axis, each in its own panel with its own contrast and name (X-ray line
    maps: "Fe_Ka"...; else the axis value). A navigator through their totals and their mean would mix different
    quantities (four elements' counts joined by a line)."""
    n = s.nav_shape[0]
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = _new_figure(figsize or (3.2 * cols, 2.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    names = list((s.metadata.get("Sample") or {}).get("xray_lines") or [])
    nav_axis = s.nav_axes[0]
    if len(names) != n:
        vals = nav_axis.values
        names = [f"{nav_axis.name} {v:g}" if nav_axis.name else f"{v:g}" for v in np.asarray(vals, float)]
    data = s.to_numpy() if not s.is_lazy else s.compute().to_numpy()
    ax_x, ax_y = s.sig_axes
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_axis_off()
            continue
        # every panel its bar: a panel without one got calibrated ticks instead, unlike its neighbours
        _image(fig, ax, data[i], ax_x, ax_y, names[i], cmap, scalebar, colorbar, intensity_label(s), norm=norm,
               clim=clim)
    if title:
        fig.suptitle(title)
    return fig


@signal_method
def plot(self, **kwargs):
    """A matplotlib figure of this signal; see :func:`emscale.plotting.plot_signal`."""
    return plot_signal(self, **kwargs)
