"""Interactive viewer of spectrum images in the browser and in Jupyter.

``view(signal)`` starts a small web server (standard library ``ThreadingHTTPServer``) on 127.0.0.1, on a free
port, with a random token in its URL, and returns a :class:`ViewerServer` (``.url``, ``.close()``).
``emscale view FILE [--index N] [--no-browser]`` (:func:`main_view`) does the same for a file, opened lazily.
The page is plain JavaScript drawing on canvases, inlined in one HTML answer: no CDN, no build step, works
offline. It shows the navigator (the sum over the signal, or over an energy window dragged on the spectrum)
with calibrated axes, a scale bar and a colour bar; a clicked (or hovered) pixel's spectrum; a dragged
rectangle's summed spectrum; X-ray line or edge markers for chosen elements; log/linear, contrast limits and
colour map; CSV export of the spectrum and PNG export of the map. An image, or a stack of images along one axis
(a tilt series, a volume's slices), is shown image by image with a slider; a pixel's values through the stack are
its spectrum, and a window dragged over them maps the sum of those images (:mod:`.data`); a stack or a volume may
be sliced along its other axes too (sinograms, xz and yz sections).

Jupyter: the returned :class:`ViewerServer` displays as an inline frame of the same local page
(``_repr_html_``), rather than an anywidget/ipywidgets widget. Reason: one front end and one data path, the
one tested in a real browser, with no new dependency; the server already reads only the chunks it needs and
runs window maps as engine passes, which a widget would have to re-implement over comm messages. The cost:
the browser must reach 127.0.0.1 of the kernel's machine (true for a local notebook; a remote JupyterHub
needs jupyter-server-proxy or an SSH tunnel).

Big data: a pixel's spectrum reads the one storage block that holds it (the zarr array behind a lazily loaded
store is read directly, without a dask graph) and recent blocks are cached; window maps and region sums are
engine passes over the crop they need, and maps are cached per channel window.
"""

from .app import main_view, view
from .data import ViewerData
from .server import ViewerServer

__all__ = ["ViewerData", "ViewerServer", "main_view", "view"]
