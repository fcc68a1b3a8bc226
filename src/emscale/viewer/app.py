"""Starting the viewer: ``view(signal)`` from Python or Jupyter, ``main_view(path)`` behind ``emscale view FILE``."""

from __future__ import annotations

import sys
import time
import webbrowser

from ..core.errors import DataError
from ..core.signal import signal_method
from .server import ViewerServer


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def view(signal, open_browser: bool = True, port: int | None = None, executor=None) -> ViewerServer:
    """Show ``signal`` in the interactive viewer and return the running server.

    Parameters
    ----------
    signal : a spectrum image (one signal axis, up to two navigation axes), or an image or a stack of them along
        one navigation axis (a tilt series: shown image by image, a pixel's values through the stack as its
        spectrum), or a volume (a reconstruction's three signal axes: slice by slice), in memory or lazy; or a
        :class:`~emscale.decomposition.Decomposition`, shown as its scree, factor/loading pairs and phase map.
    open_browser : open the system browser on the viewer's URL; ignored in Jupyter, where the returned object
        displays as an inline frame of the same page.
    port : a fixed port on 127.0.0.1; None picks a free one.
    executor : engine executor for window maps and region sums.

    Returns
    -------
    ViewerServer with ``.url`` (token included) and ``.close()``.

    Example
    -------
    >>> v = em.view(em.load("big.zarr", lazy=True))     # doctest: +SKIP
    >>> v.url, v.close()                                 # doctest: +SKIP
    """
    server = ViewerServer(signal, port=port, executor=executor)
    if open_browser and not _in_notebook():
        webbrowser.open(server.url)
    return server


def main_view(path, index: int | None = None, no_browser: bool = False, port: int | None = None,
              out=print, on_start=None) -> int:
    """``emscale view FILE [--index N] [--no-browser]``: serve the file's signal until Ctrl-C; returns 0.

    The file is opened lazily, so a store bigger than memory opens at once; a file holding several signals
    needs ``index`` (the error lists them). ``out`` prints the URL; ``on_start(server)`` is called once the
    server runs (closing the server from there ends the call, as Ctrl-C does).
    """
    from ..io import load, several_signals

    s = load(path, lazy=True, index=index)
    if isinstance(s, list):
        raise DataError(f"{several_signals(path, s)}; choose one with --index N")
    server = view(s, open_browser=not no_browser, port=port)
    out(f"emscale viewer of {path} at {server.url}")
    out("press Ctrl-C to stop")
    if on_start is not None:
        on_start(server)
    try:
        while not server.closed:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


@signal_method
def view_signal(self, open_browser: bool = True, port: int | None = None, executor=None) -> ViewerServer:
    """``s.view()``: this signal in the interactive viewer (see :func:`view`)."""
    return view(self, open_browser=open_browser, port=port, executor=executor)
