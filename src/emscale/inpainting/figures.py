"""Figures of a compressed-sensing reconstruction: the scan mask, the sparse data, the reconstruction and, when
the fully scanned reference is known, the error map. Each function returns a matplotlib Figure (for reports)."""

from __future__ import annotations

import numpy as np

from ..plotting import intensity_label
from ..sampling.acquire import scan_mask
from ..sampling.slads import psnr

__all__ = ["reconstruction_figure"]


def _image(x) -> np.ndarray:
    """A 2-D view of an image or spectrum image Signal/array (spectrum images: summed over the signal axis)."""
    data = np.asarray(getattr(x, "data", x), dtype=np.float64)
    return data if data.ndim == 2 else data.reshape(data.shape[:2] + (-1,)).sum(axis=-1)


def reconstruction_figure(sparse, reconstruction, reference=None, mask=None, title: str = ""):
    """Mask, sparse data, reconstruction and (with ``reference``) the error map, side by side.

    Parameters
    ----------
    sparse : the sparse Signal (or array) as measured; its mask is read from its metadata unless ``mask`` given.
    reconstruction : the reconstructed Signal (or array), same scan grid.
    reference : optional fully scanned Signal (or array): adds the error map ``reconstruction - reference`` and
        the PSNR in its title.
    mask : bool (rows, columns), True = measured.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..plotting import _new_figure

    m = scan_mask(sparse) if mask is None else np.asarray(mask, bool)
    if m is None:
        raise ValueError("no scan mask: pass mask= or a Signal from sample_scan")
    summed = np.asarray(getattr(reconstruction, "data", reconstruction)).ndim > 2
    quantity = (intensity_label(reconstruction) if hasattr(reconstruction, "metadata") else "Intensity") + (
        ", summed" if summed else "")
    rec = _image(reconstruction)
    sp = np.where(m, _image(sparse), np.nan)
    panels = [
        (f"scan mask ({m.mean():.1%} measured)", m.astype(float), "gray", None),
        ("sparse data (blank: not measured)", sp, "viridis", quantity),
        ("reconstruction", rec, "viridis", quantity),
    ]
    if reference is not None:
        ref = _image(reference)
        err = rec - ref
        # the PSNR of this image (summed over the spectrum for a spectrum image), not of the whole cube
        panels.append((f"error, PSNR {psnr(ref, rec):.1f} dB" + (" (of this sum)" if summed else ""), err, "RdBu_r",
                       "reconstruction - reference"))
    fig = _new_figure((3.4 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels))
    lo, hi = np.nanpercentile(rec, [0.5, 99.5])
    for ax, (name, img, cmap, clabel) in zip(axes, panels, strict=True):
        if cmap == "RdBu_r":
            v = np.nanpercentile(np.abs(img), 99) or 1.0
            im = ax.imshow(img, cmap=cmap, vmin=-v, vmax=v)
        elif cmap == "gray":  # white: measured, black: skipped, as the key says
            from matplotlib.patches import Patch

            im = ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            ax.legend(handles=[Patch(facecolor="white", edgecolor="0.5", label="measured"),
                               Patch(facecolor="black", label="not measured")], loc="upper center",
                      bbox_to_anchor=(0.5, -0.02), ncols=2, fontsize=7, frameon=False)
        else:
            im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
        if clabel:
            fig.colorbar(im, ax=ax, shrink=0.8).set_label(clabel, fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig
