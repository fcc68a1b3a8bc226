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
