"""Figures: sinograms before/after alignment, orthogonal slices and maximum-intensity projections of a volume.

Each function returns a :class:`matplotlib.figure.Figure` (created without pyplot, so nothing is shown or kept
in a global state); save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import numpy as np

from ..core.signal import Signal
from ..plotting import _new_figure, axis_label, colour_limits, image_extent, intensity_label
from .tiltseries import angles_of, tomo_meta


def _figure(n: int, size=(4.0, 3.6)):
    fig = _new_figure((size[0] * n, size[1]))
    return fig, fig.subplots(1, n, squeeze=False)[0]


def _sinogram(s: Signal, index: int | None) -> tuple[np.ndarray, str]:
    """The sinogram (n_tilts, n_det) of one slice perpendicular to the tilt axis (default: the middle one)."""
    ta = tomo_meta(s)["tilt_axis"]
    d = np.asarray(s.data)
    n = d.shape[1] if ta == "y" else d.shape[2]
    i = n // 2 if index is None else int(index)
    return (d[:, i, :] if ta == "y" else d[:, :, i]), f"{ta} = {i}"


def sinogram_figure(before: Signal, after: Signal | None = None, index: int | None = None):
    """Sinogram of one slice before (and after) alignment; the aligned one should be continuous."""
    series = [("before", before)] + ([("after", after)] if after is not None else [])
    fig, axes = _figure(len(series))
    for ax, (label, s) in zip(axes, series, strict=True):
        sino, where = _sinogram(s, index)
        # rows in angle order, each drawn over its own tilt: a series in acquisition order (dose-symmetric 0, 2, -2,
        # ...) or with uneven steps was drawn as if its rows were equispaced from the first tilt to the last
        a = angles_of(s)
        order = np.argsort(a, kind="stable")
        # the volume figures' grey range (colour_limits): the raw min-max let one hot pixel draw the rest black
        lo, hi, _ = _grey_range([sino])
        ax.pcolormesh(np.arange(sino.shape[1] + 1), _edges(a[order]), sino[order], cmap="gray", vmin=lo, vmax=hi)
        ax.set(title=f"sinogram {label} alignment ({where})", xlabel="detector (px)", ylabel="tilt (deg)")
        ax.invert_yaxis()  # the lowest tilt on top, as the rows of an image
    return fig


def _edges(a: np.ndarray) -> np.ndarray:
    """Cell edges about the sorted coordinates ``a``: midway between neighbours, the ends as far out as their
    neighbour's midpoint (1 wide for a single coordinate)."""
    if a.size == 1:
        return np.array([a[0] - 0.5, a[0] + 0.5])
    mid = (a[1:] + a[:-1]) / 2
    return np.concatenate([[2 * a[0] - mid[0]], mid, [2 * a[-1] - mid[-1]]])


def _volume(vol: Signal) -> tuple[np.ndarray, list]:
    if vol.ndim != 3:
        raise ValueError(f"expected a volume (z, y, x), got shape {vol.shape}")
    return np.asarray(vol.data), list(vol.axes)


def _extent(a, b):
    """imshow's extent of rows along ``a``, columns along ``b``: at the pixels' edges (the first and last
    centres stretched every pixel by n / (n - 1): 8 slices of 1 nm spanned 7 nm)."""
    return image_extent(b, a)


def orthoslices_figure(vol: Signal, position: tuple[int, int, int] | None = None):
    """Three orthogonal slices (xy, xz, yz) through ``position`` (z, y, x indices; default the centre), on one grey
    scale with its colour bar (each panel on its own scale, and none shown, made the slices incomparable)."""
    d, (az, ay, ax_) = _volume(vol)
    k, j, i = position or tuple(n // 2 for n in d.shape)
    fig, axes = _figure(3)
    panels = ((axes[0], d[k], (ay, ax_), f"xy, {_at(az, k)}"), (axes[1], d[:, j], (az, ax_), f"xz, {_at(ay, j)}"),
              (axes[2], d[:, :, i], (az, ay), f"yz, {_at(ax_, i)}"))
    lo, hi, extend = _grey_range(_each_voxel_once(d, k, j, i))
    for ax, img, (a, b), title in panels:
        shown = ax.imshow(img, cmap="gray", extent=_extent(a, b), vmin=lo, vmax=hi)
        ax.set(title=title, xlabel=axis_label(b), ylabel=axis_label(a))  # "x", not "x ()", without units
    fig.colorbar(shown, ax=list(axes), label=intensity_label(vol), shrink=0.9, extend=extend)
    return fig


def _each_voxel_once(d: np.ndarray, k: int, j: int, i: int) -> list[np.ndarray]:
    """The voxels of the xy, xz and yz slices through ``(k, j, i)``, each once: the slices share three lines and the
    centre voxel, which counted two and three times among the few values colour_limits may drop (a hot centre
    voxel of a 7 x 7 x 7 volume, counted three times, kept its range: the slices black; 6 x 6 x 6: 108 values
    counted, 91 voxels, so the outlier step ran on a volume below its 100 values)."""
    xz = np.delete(d[:, j], k, axis=0)  # less its line in the xy slice
    yz = np.delete(np.delete(d[:, :, i], k, axis=0), j, axis=1)  # less its lines in the xy and xz slices
    return [d[k], xz, yz]


def _grey_range(images, shown=None) -> tuple[float | None, float | None, str]:
    """One grey scale for ``images`` and the colour bar's ``extend`` over the values of ``shown`` (default
    ``images``): :func:`~emscale.plotting.colour_limits` (``Signal.plot``'s rule) of their finite values, the
    range unless a few voxels stretch it three times beyond the rest's (one hot voxel at 1e5 in a sphere of 100
    drew the sphere at 0.1 % of the grey range, black); None, None (each its own) where none is finite (a NaN voxel
    made the plain range NaN and every panel blank)."""
    lo, hi, extend = colour_limits(_joined(images))  # colour_limits leaves the non-finite values out itself
    if shown is not None and lo is not None:
        _, _, extend = colour_limits(_joined(shown), lo, hi)
    return lo, hi, extend


def _joined(images) -> np.ndarray:
    """The values of ``images`` in one array; one image as it is (a volume's MIPs read the whole volume: no copy)."""
    return np.asarray(images[0]) if len(images) == 1 else np.concatenate([np.ravel(i) for i in images])


def _at(axis, index: int) -> str:
    """A slice's place: its index, and its coordinate where the axis is calibrated ("z = 32 (12.5 nm)")."""
    where = f"{axis.name} = {index}"
    return f"{where} ({axis.index_to_value(index):.4g} {axis.units})" if axis.units else where


def _mips(row, d: np.ndarray, axes, prefix: str = ""):
    """Maximum-intensity projections of the volume ``d`` (z, y, x) along z, y and x into the three panels ``row``, on
    one grey scale; returns the last image (for a colour bar)."""
    az, ay, ax_ = axes
    mips = [d.max(axis=axis) for axis in range(3)]
    lo, hi, extend = _grey_range([d], mips)
    for ax, axis, (a, b) in ((row[0], 0, (ay, ax_)), (row[1], 1, (az, ax_)), (row[2], 2, (az, ay))):
        shown = ax.imshow(mips[axis], cmap="gray", extent=_extent(a, b), vmin=lo, vmax=hi)
        ax.set(title=f"{prefix}MIP along {'zyx'[axis]}", xlabel=axis_label(b), ylabel=axis_label(a))
    return shown, extend


def mip_figure(vol: Signal):
    """Maximum-intensity projections of the volume along z, y and x, on one grey scale with its colour bar."""
    d, axes = _volume(vol)
    fig, row = _figure(3)
    shown, extend = _mips(row, d, axes)
    fig.colorbar(shown, ax=list(row), label=f"{intensity_label(vol)}, maximum", shrink=0.9, extend=extend)
    return fig


def component_volumes_figure(vols: Signal, max_components: int = 8):
    """Maximum-intensity projections along z, y and x of each component volume ``(component, z, y, x)``, a row a
    component (the first ``max_components``), each row on its own grey scale, with its colour bar."""
    d = np.asarray(vols.data)
    if d.ndim != 4:
        raise ValueError(f"expected component volumes (component, z, y, x), got shape {d.shape}")
    n = min(d.shape[0], max_components)
    fig = _new_figure((9.0, 2.6 * n + 0.4))
    grid = fig.subplots(n, 3, squeeze=False)
    for c in range(n):
        shown, extend = _mips(grid[c], d[c], vols.axes[1:], prefix=f"component {c}: ")
        fig.colorbar(shown, ax=list(grid[c]), shrink=0.9, extend=extend)
    return fig
