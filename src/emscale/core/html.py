"""Small HTML pieces shared by the reports and the notebook views of signals and results."""

from __future__ import annotations

import base64
import html
import io


def png(fig, dpi: int = 90) -> str:
    """A matplotlib figure as base64 PNG text (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def figure(fig, caption: str) -> str:
    """A ``<figure>`` with the figure inline and its caption."""
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{png(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def table(rows, header=None) -> str:
    """An HTML table of ``rows`` (sequences of cells), escaped."""
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{'<tr>' + h + '</tr>' if h else ''}{body}</table>"


# -- notebook preview of a signal: a navigator thumbnail and the mean spectrum, cheap enough for every repr ------
PREVIEW_MAX_VALUES = 20_000_000  # above this, the preview reads a strided subset of the pixels
THUMB_PX = 128  # displayed size of the thumbnail's longer side (CSS pixels)


def gray_png(img) -> str:
    """A 2-D array as a base64 8-bit grayscale PNG, black at its 1st and white at its 99.5th percentile (finite
    values; NaN black). Written with zlib alone: no figure, so it costs microseconds, not a matplotlib draw."""
    import struct
    import zlib

    import numpy as np

    a = np.asarray(img, dtype=np.float64)
    fin = a[np.isfinite(a)]
    lo, hi = (np.percentile(fin, (1.0, 99.5)) if fin.size else (0.0, 1.0))
    scaled = np.clip((np.nan_to_num(a, nan=lo) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    g = np.round(scaled * 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in g)  # filter byte 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", g.shape[1], g.shape[0], 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def sparkline(x, y, label: str, width: int = 260, height: int = 110, max_points: int = 400) -> str:
    """An inline SVG line plot of ``y`` against ``x`` with the x range and the maximum written under it."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.nan_to_num(np.asarray(y, dtype=np.float64))
    if y.size > max_points:  # bin means: the shape survives, the SVG stays small
        n = y.size // max_points * max_points
        f = y.size // max_points
        x, y = x[:n].reshape(-1, f).mean(axis=1), y[:n].reshape(-1, f).mean(axis=1)
    y0, y1 = float(min(y.min(), 0.0)), float(y.max())
    xs = (x - x[0]) / ((x[-1] - x[0]) or 1.0) * (width - 4) + 2
    ys = height - 2 - (y - y0) / ((y1 - y0) or 1.0) * (height - 4)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'style="border:1px solid #ccc"><title>{html.escape(label)}</title>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1" points="{pts}"/></svg>')


def _preview_arrays(s):
    """(map or None, curve or None, step): the navigator (sum over the signal) or the image, the mean
    spectrum, and the pixel stride used (1: every pixel). None for lazy signals: a preview never reads a store."""
    import numpy as np

    if s.is_lazy or s.ndim == 0 or s.sig_ndim > 2:
        return None, None, 1
    data = np.asarray(s.data)
    nav, sig = s.nav_ndim, s.sig_ndim
    step = 1
    if data.size > PREVIEW_MAX_VALUES and nav:
        step = int(np.ceil((data.size / PREVIEW_MAX_VALUES) ** (1.0 / min(nav, 2))))
    sub = data[(slice(None, None, step),) * min(nav, 2)] if nav <= 2 else data
    sig_ax = tuple(range(nav, nav + sig))
    mean = sub.mean(axis=tuple(range(nav)), dtype=np.float64) if nav else sub.astype(np.float64)
    image = None
    if nav >= 2 and sig:
        image = sub.sum(axis=sig_ax, dtype=np.float64)
        image = image.reshape((-1,) + image.shape[-2:]).sum(axis=0)
    elif sig == 2:
        image = mean
    return image, (mean if sig == 1 else None), step


def signal_preview(s) -> str:
    """HTML of a navigator thumbnail (sum over the signal axes; the image itself for 2-D signals) and the mean
    spectrum of an in-memory :class:`~emscale.Signal`; ``""`` for lazy signals (nothing is read)."""
    image, curve, step = _preview_arrays(s)
    parts = []
    if image is not None:
        h, w = image.shape
        scale = THUMB_PX / max(h, w)
        what = "navigator: total over the signal" if s.nav_ndim >= 2 else "image"
        if step > 1:
            what += f" (every {step}{_ordinal(step)} pixel)"
        parts.append(f'<figure style="margin:0 1em"><img alt="{what}" src="data:image/png;base64,{gray_png(image)}" '
                     f'width="{max(1, round(w * scale))}" height="{max(1, round(h * scale))}" '
                     f'style="image-rendering:pixelated"><figcaption>{html.escape(what)}</figcaption></figure>')
    if curve is not None:
        ax = s.sig_axes[0]
        label = "mean spectrum" if s.nav_ndim else "spectrum"
        rng = f"{ax.low:g}–{ax.high:g} {ax.units}".strip()
        parts.append(f'<figure style="margin:0 1em">{sparkline(ax.values, curve, f"{label}, {rng}")}'
                     f"<figcaption>{label}, {html.escape(ax.name)} {html.escape(rng)}</figcaption></figure>")
    return "".join(parts)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
