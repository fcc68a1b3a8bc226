"""The viewer's local web server: one page and a few JSON endpoints over one opened signal.

Security model: the server binds 127.0.0.1 only, on a free port; every request must carry the random token
(``?token=`` or the ``X-Emscale-Token`` header; 403 otherwise) and a ``Host`` of this loopback address (a DNS
rebinding page has another one; 403). Nothing is served from disk paths: the page and its script are package
resources and every other answer is computed from the opened signal, so ``/../x`` or any unknown path is a 404.

Endpoints (all ``GET``; pixel indices are integers in user order, x the column; windows in calibrated units):

===============================  ==========================================================================
``/``                            the page (script and style inlined; works offline, no CDN)
``/api/info``                    title, type, shape, calibrated axes, energy values, colormaps, elements,
                                 ``msa``: a pixel's EMSA header keywords (:func:`.msa.msa_keywords`);
                                 ``images``: an image or a stack of them (``energy`` is then the stack's axis);
                                 ``slices``: a volume's; ``sections``: the axes it may be sliced along
``...&along=1``                  (a stack of images or a volume) every endpoint above, for its slices along
                                 that axis (numpy order; 0, the default, is the stack's own)
``/api/spectrum?x=&y=``          one pixel's spectrum (one storage block read, cached)
``/api/region?x0=&x1=&y0=&y1=``  summed spectrum of ``x0 <= x < x1``, ``y0 <= y < y1`` (a pass), and its
                                 ``msa`` keywords
``/api/navigator?window=lo,hi``  map summed over the window (no window: every channel); base64 of ``dtype``,
                                 its ``min``/``max`` and ``clim`` (the static figures' colour limits)
``/api/progress``                the window-map pass in progress: ``{"done", "total"}`` in bytes
``/api/markers?elements=Fe,O``   X-ray lines / edge onsets in the axis units (``&kind=xray|edge``); each
                                 element's main X-ray line, or (``&lines=all``) its alpha and beta lines
``/api/decomposition``           (a decomposition's viewer only, instead of the above) scree, pairs, phases
===============================  ==========================================================================
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..core.errors import DataError
from ..plotting import image_limits, intensity_label, intensity_units
from .colormaps import colormaps
from .data import ViewerData
from .decomposition import is_decomposition
from .decomposition import payload as decomposition_payload
from .markers import element_markers, marker_kind
from .msa import msa_keywords

HOST = "127.0.0.1"
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'")


class BadRequest(ValueError):
    """A request whose parameters are missing or malformed (answered 400 with the message)."""


def _jsonable(values: np.ndarray) -> list:
    """Exact numbers for JSON: integers stay integers, NaN/inf become null."""
    a = np.asarray(values)
    if a.dtype.kind in "biu":  # Python integers, exact (a uint64 above 2^63 cast to int64 came out negative)
        return (a.astype(np.int64) if a.dtype.kind == "b" else a).tolist()
    return [v if math.isfinite(v) else None for v in a.astype(np.float64).tolist()]


def _display_map(m: np.ndarray) -> np.ndarray:
    """The navigator map as the page receives it: int32 for counts that fit (exact), else float32 where every value
    keeps its size (a rounding of 6e-8 at most: no colour, tick or contrast limit moves), else float64 (values beyond
    float32's range would turn infinite or zero). float64 throughout was 8 MB for 1024 x 1024 pixels, 11 MB sent."""
    m = np.asarray(m)
    if m.dtype.kind in "iu" and m.size and np.iinfo(np.int32).min <= m.min() and m.max() <= np.iinfo(np.int32).max:
        return np.ascontiguousarray(m, dtype="<i4")
    with np.errstate(over="ignore"):
        m32 = m.astype("<f4")
    finite = np.isfinite(m)
    v = m[finite]
    kept = np.isfinite(m32[finite]).all() and not np.any((v != 0) & (np.abs(v) < np.finfo(np.float32).tiny))
    return m32 if kept else np.ascontiguousarray(m, dtype="<f8")


def _page(name: str) -> bytes:
    """``static/<name>.html`` with the shared style and scripts (``plot.js``, ``<name>.js``) inlined: one
    self-contained answer."""
    static = resources.files(__package__) / "static"
    html = (static / f"{name}.html").read_text(encoding="utf-8")
    html = html.replace("/*VIEWER_CSS*/", (static / "viewer.css").read_text(encoding="utf-8"))
    script = (static / "plot.js").read_text(encoding="utf-8") + (static / f"{name}.js").read_text(encoding="utf-8")
    html = html.replace("/*VIEWER_JS*/", script)
    return html.encode("utf-8")


class ViewerServer:
    """A running viewer of one signal (or one decomposition) on ``http://127.0.0.1:PORT/?token=...`` (:attr:`url`).

    Parameters
    ----------
    signal : the spectrum image to show (numpy or lazy), or a :class:`~emscale.decomposition.Decomposition`
        (then the page shows its scree, factor/loading pairs and phase map, from ``/api/decomposition``).
    port : a fixed port; None picks a free one.
    executor : engine executor for the window-map and region passes.

    Use as a context manager or call :meth:`close`. In Jupyter the object displays as an inline frame.
    """

    def __init__(self, signal, port: int | None = None, executor=None):
        if is_decomposition(signal):
            self.data = None
            self.decomposition = decomposition_payload(signal)
            self._page = _page("decomposition")
        else:
            self.data = ViewerData(signal, executor=executor)
            self.decomposition = None
            self._page = _page("viewer")
        self._sections: dict[int, ViewerData] = {}  # a stack's or volume's slices along its other axes, as asked
        self._sections_lock = threading.Lock()
        self.token = secrets.token_urlsafe(24)
        self._httpd = ThreadingHTTPServer((HOST, int(port or 0)), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.viewer = self  # type: ignore[attr-defined]
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="emscale-viewer", daemon=True)
        self._thread.start()
        self.closed = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> ViewerServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.url
        return f"<ViewerServer {state}>"

    def _repr_html_(self) -> str:
        if self.closed:  # an iframe would point at a port nobody listens on any more
            return "<p><em>emscale viewer: closed</em> (open a new one with <code>em.viewer.view(s)</code>)</p>"
        return f'<iframe src="{self.url}" width="100%" height="720" style="border:0"></iframe>'

    def _view(self, q: dict) -> ViewerData:
        """The view a request asks for: the signal as opened, or (``along=1|2``) a stack's or volume's slices along
        that axis (numpy order), made on first use."""
        along = _int(q, "along", 0)
        if along == 0:
            return self.data
        with self._sections_lock:
            if along not in self._sections:
                self._sections[along] = ViewerData(self.data.signal, executor=self.data.executor, along=along)
            return self._sections[along]

    # -- endpoints -----------------------------------------------------------------------------------------
    def api_info(self, q: dict) -> dict:
        data = self._view(q)
        s = data.signal
        e = data.energy
        images = data.stack_axis is not None  # the images are the navigator, their stack the spectrum's axis
        nav = [a.to_dict() for a in (data.image_axes if images else s.nav_axes)] or [
            {"name": "x", "size": 1, "scale": 1.0, "offset": 0.0, "units": "", "navigate": True}]
        if len(nav) == 1:
            nav.append({"name": "", "size": 1, "scale": 1.0, "offset": 0.0, "units": "", "navigate": True})
        sample = s.metadata.get("Sample", {}) if isinstance(s.metadata, dict) else {}
        return {
            "title": s.title or "", "signal_type": s.signal_type, "shape": list(s.shape), "dtype": str(s.dtype),
            "lazy": s.is_lazy, "nav_shape": list(s.nav_shape), "width": data.width, "height": data.height,
            "nav_axes": nav[:2],
            "energy": {"name": e.name, "units": e.units, "values": e.values.tolist(), "uniform": e.is_uniform},
            "y_units": intensity_units(s), "y_label": intensity_label(s),  # the static plots' axis title
            "elements": [str(v) for v in sample.get("elements", [])] if isinstance(sample, dict) else [],
            "marker_kind": marker_kind(s.signal_type, e.units), "colormaps": colormaps(),
            "measured_fraction": None if data.measured is None else float(data.measured.mean()),
            "images": images, "slices": images and s.sig_ndim == 3,  # a volume's slices
            # the axes a stack or volume can be sliced along (numpy order), and the one shown
            "sections": [a.name for a in s.axes] if images and s.ndim == 3 else [], "along": data.along,
            # the exported MSA header's type and acquisition (one pixel's); none for a pixel through a stack of images
            "msa": {} if images else msa_keywords(s),
        }

    def api_spectrum(self, q: dict) -> dict:
        x, y = _int(q, "x"), _int(q, "y", 0)
        return {"x": x, "y": y, "values": _jsonable(self._view(q).spectrum(x, y))}

    def api_region(self, q: dict) -> dict:
        # the box actually summed is echoed, not the request (corners swapped or clipped to the navigator)
        data = self._view(q)
        x0, x1, y0, y1 = data.region_box(_int(q, "x0"), _int(q, "x1"), _int(q, "y0", 0), _int(q, "y1", 1))
        v = data.region(x0, x1, y0, y1)
        msa = {} if data.stack_axis is not None else msa_keywords(data.signal, data.region_pixels(x0, x1, y0, y1))
        return {"x0": x0, "x1": x1, "y0": y0, "y1": y1, "values": _jsonable(v), "msa": msa}

    def api_navigator(self, q: dict) -> dict:
        window, data = _window(q), self._view(q)
        m, (i0, i1) = data.window_map(window)
        m64 = np.asarray(m, dtype=np.float64)
        finite = m64[np.isfinite(m64)]
        e = data.energy.values
        image = _display_map(m)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        # the page's automatic contrast: the static figures' rule (Signal.plot's), the full range less isolated
        # spikes and a few hot pixels (the 0.5-99.5th percentiles clipped a sparse map of 1-10 counts at (0, 2): 98 %
        # of its counts at the top colour)
        vmin, vmax, _ = image_limits(m64)
        return {
            "width": data.width, "height": data.height, "channels": [i0, i1],
            "window": None if window is None else [float(e[i0]), float(e[i1])],
            "min": lo, "max": hi, "clim": [lo if vmin is None else vmin, hi if vmax is None else vmax],
            "dtype": image.dtype.str, "data": base64.b64encode(image.tobytes()).decode("ascii"),
        }

    def api_progress(self, q: dict) -> dict:
        return self._view(q).progress()

    def api_decomposition(self, q: dict) -> dict:
        return self.decomposition

    def api_markers(self, q: dict) -> dict:
        from ..spectroscopy.eds import beam_energy  # here: the viewer opens before any X-ray table is needed

        elements = [e for e in _str(q, "elements", "").replace(";", ",").replace(" ", ",").split(",") if e]
        s = self.data.signal
        markers = element_markers(elements, self._view(q).energy, s.signal_type, _str(q, "kind", "auto"),
                                  beam_energy=beam_energy(s), lines=_str(q, "lines", "main"))
        return {"markers": markers}


ROUTES = {
    "/api/info": ViewerServer.api_info,
    "/api/spectrum": ViewerServer.api_spectrum,
    "/api/region": ViewerServer.api_region,
    "/api/navigator": ViewerServer.api_navigator,
    "/api/progress": ViewerServer.api_progress,
    "/api/markers": ViewerServer.api_markers,
}
DECOMPOSITION_ROUTES = {"/api/decomposition": ViewerServer.api_decomposition}


def _str(q: dict, name: str, default: str | None = None) -> str:
    if name in q:
        return q[name][-1]
    if default is None:
        raise BadRequest(f"parameter {name!r} is missing")
    return default


def _int(q: dict, name: str, default: int | None = None) -> int:
    raw = _str(q, name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"parameter {name}={raw!r} is not an integer") from None


def _window(q: dict) -> tuple[float, float] | None:
    raw = _str(q, "window", "")
    if not raw:
        return None
    try:
        lo, hi = (float(v) for v in raw.split(","))
    except ValueError:
        raise BadRequest(f"parameter window={raw!r} is not 'lo,hi' (two numbers in the energy axis units)") from None
    return lo, hi


class _Handler(BaseHTTPRequestHandler):
    server_version = "emscale-viewer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a viewer on the user's machine; the console stays for the CLI's own messages

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode("utf-8"), "application/json")

    def _allowed(self, viewer: ViewerServer, q: dict) -> bool:
        host = self.headers.get("Host", "")
        if host not in (f"{HOST}:{viewer.port}", f"localhost:{viewer.port}"):
            return False
        given = self.headers.get("X-Emscale-Token") or (q.get("token") or [""])[-1]
        return hmac.compare_digest(given.encode(), viewer.token.encode())

    def do_GET(self):  # noqa: N802 - http.server's name
        viewer: ViewerServer = self.server.viewer  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        q = parse_qs(parts.query, keep_blank_values=True)
        if not self._allowed(viewer, q):
            return self._json(403, {"error": "forbidden: this viewer needs the token of its URL"})
        if parts.path == "/":
            return self._send(200, viewer._page, "text/html; charset=utf-8")
        route = (ROUTES if viewer.data is not None else DECOMPOSITION_ROUTES).get(parts.path)
        if route is None:
            return self._json(404, {"error": f"no such endpoint {parts.path!r}"})
        try:
            return self._json(200, route(viewer, q))
        except (BadRequest, ValueError, IndexError, DataError) as exc:
            return self._json(400, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the page shows the message instead of hanging
            return self._json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def do_POST(self):  # noqa: N802
        self._json(405, {"error": "the viewer only answers GET"})

    do_PUT = do_DELETE = do_POST
