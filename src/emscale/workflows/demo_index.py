"""The demo's landing page ``index.html``: per pipeline a thumbnail, the headline numbers and the report link,
then the software versions. Self-contained (thumbnails inline as PNG data URIs), like the reports."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from ..core.html import png

UP = ("../index.html", "all results of the demo")  # each report's link back to the landing page
VERSION_PACKAGES = ("emscale", "numpy", "scipy", "dask", "zarr", "rosettasciio", "python")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.7em;margin-bottom:.2em}.lead{color:#555;margin-top:0}
.card{display:flex;gap:1.2em;border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0;align-items:flex-start}
.card img{width:220px;height:auto;border:1px solid #eee;border-radius:4px;flex:none}
.card h2{margin:.1em 0 .4em;font-size:1.2em}.card h2 a{color:#0b5cad;text-decoration:none}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;font-size:.9em}
th{background:#f4f4f4}.ok{color:#176c2b;font-weight:600}.bad{color:#a11;font-weight:600}
.desc{color:#444;font-size:.92em;margin:.2em 0 .5em}footer{color:#666;font-size:.85em;margin-top:2em}
"""


@dataclass
class Entry:
    """One pipeline on the landing page.

    ``numbers``: ``(label, value text, verdict)`` rows, verdict True (meets its target), False (misses it) or None
    (no target). ``thumbnail``: a matplotlib figure (rendered small) or None.
    """

    key: str
    title: str
    href: str
    description: str
    numbers: list[tuple[str, str, bool | None]] = field(default_factory=list)
    thumbnail: object = None


def _numbers(rows) -> str:
    cells = []
    for label, value, verdict in rows:
        cls = "" if verdict is None else (" class='ok'" if verdict else " class='bad'")
        cells.append(f"<tr><td>{html.escape(label)}</td><td{cls}>{html.escape(value)}</td></tr>")
    return f"<table>{''.join(cells)}</table>" if cells else ""


def _card(e: Entry) -> str:
    thumb = (f"<a href='{html.escape(e.href)}'><img alt='{html.escape(e.title)} thumbnail' "
             f"src='data:image/png;base64,{png(e.thumbnail, dpi=70)}'></a>" if e.thumbnail is not None else "")
    return (f"<section class='card' id='{html.escape(e.key)}'>{thumb}<div>"
            f"<h2><a href='{html.escape(e.href)}'>{html.escape(e.title)}</a></h2>"
            f"<p class='desc'>{html.escape(e.description)}</p>{_numbers(e.numbers)}"
            f"<p><a href='{html.escape(e.href)}'>Full report →</a></p></div></section>")


def landing_page(entries: list[Entry], versions: dict, seconds: float | None = None, seed: int = 0) -> str:
    """The landing page's HTML."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(versions.get(k, 'not installed')))}</td></tr>"
                   for k in VERSION_PACKAGES)
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>emscale demo</title>"
        f"<style>{_CSS}</style></head><body>",
        "<h1>emscale demo</h1>",
        f"<p class='lead'>Synthetic samples with known ground truth and real data, each run as a recipe (replay "
        f"any results folder with <code>emscale replay DIR</code>); generated with seed {seed}{took}.</p>",
        *(_card(e) for e in entries),
        "<h2>Software</h2>",
        f"<table><tr><th>package</th><th>version</th></tr>{rows}</table>",
        "<footer>Every report is a single self-contained HTML file; the recipes beside this page reproduce "
        "them.</footer></body></html>",
    ])


def image_thumbnail(img, title: str = "", cmap: str = "viridis", **imshow):
    """A small figure of one 2-D array (no axes), for a landing-page card."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0, 3.0 * img.shape[0] / img.shape[1] + (0.3 if title else 0)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(img, cmap=cmap, interpolation="nearest", **imshow)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig
