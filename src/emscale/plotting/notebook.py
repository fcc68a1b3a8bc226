"""Figures shown as images in a Jupyter kernel without ``%matplotlib inline``.

Every figure of the package is a plain :class:`matplotlib.figure.Figure`, never pyplot's (a notebook would show a
pyplot figure twice, once as the cell's value and once when the cell ends, and a script would keep every one open).
IPython draws a plain Figure as an image only where a PNG printer is registered for it, which the inline backend does
when ``%matplotlib inline`` runs; a fresh kernel showed ``<Figure size 1100x440 with 3 Axes>``. :func:`show_inline`
registers one with the running kernel's display formatter (``formatters["image/png"].for_type``), once, where none is
registered; ``%matplotlib inline`` later replaces it with its own.
"""

from __future__ import annotations

import sys

_done = False


def show_inline() -> bool:
    """Register a PNG printer for matplotlib figures with the running Jupyter kernel's shell, where there is one
    and no printer for them is registered yet. Returns whether this call registered it. Cheap where IPython was never
    imported (a script), and done once a kernel's shell was found: a later call does nothing."""
    global _done
    if _done or "IPython" not in sys.modules:  # no kernel runs without IPython: a script never imports it here
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):  # a terminal IPython shows figures in windows, via pyplot;
        return False  # not done: a kernel may start later in this process
    _done = True
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
        return False  # %matplotlib inline (or the user) registered one already
    except KeyError:
        pass
    png.for_type(Figure, _png)
    return True


def _png(fig) -> bytes | None:
    from IPython.core.pylabtools import print_figure

    return print_figure(fig, "png")  # bbox_inches="tight", as the inline backend's default
