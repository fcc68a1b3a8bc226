"""What the decomposition page shows: the scree with its rank evidence, factor/loading pairs and a phase map.

The model is ``X ~= L F^T`` (see :mod:`emscale.decomposition.result`): factor ``c`` is a spectrum ``F[:, c]``,
its loading ``L[:, c]`` a map. The phase map gives every pixel one label:

* non-negative loadings (NMF, MCR, VCA...): the dominant component, ``argmax_c L[i, c]``; the legend's spectra are
  then the factors themselves, in the same colours as in the pairs;
* signed loadings (PCA, ICA): K-means on the loading directions (:meth:`Decomposition.cluster`, ``seed=0``,
  as many clusters as components), the legend's spectra the clusters' mean model spectra.

Pixels without a finite loading (masked) get label -1 (transparent). Each loading map's colours follow the static
figures' rule (:func:`loading_limits`, :func:`~emscale.plotting.image_limits`).
"""

from __future__ import annotations

import base64

import numpy as np

from ..core.errors import DataError
from ..plotting import image_limits
from ..plotting.limits import colour_map


def _floats(a) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64).ravel()]


def _b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def is_decomposition(obj) -> bool:
    return all(hasattr(obj, k) for k in ("factors_array", "loadings_array", "nav_axes", "sig_axes", "method"))


def scree(d, n: int = 50) -> dict | None:
    """The first ``n`` eigenvalues with the noise threshold they are compared with (same normalisation), the rank
    and where it came from (``rank_label``: "automatic rank 9", or "estimated rank 9 (4 components fitted)" for a
    result given its ``n_components``, whose scree is estimated now rather than shown without a threshold), and
    the estimate's ``caution`` (a rank read from a short randomized run may be low) for the page to show: no
    warning, as the static scree figure gives none, for a rank the user did not ask for."""
    ev, caution = d.rank_evidence or {}, None
    if ev.get("eigenvalues") is not None and (ev.get("threshold") is not None or ev.get("method") == "elbow"):
        values, threshold, method = ev["eigenvalues"], ev["threshold"], str(ev.get("method", ""))
    elif d.eigenvalues is not None and d.has_noise_threshold():
        est = d.estimate_rank(warn=False)[1]  # on d.eigenvalues: the threshold is in their normalisation
        values, threshold, method = d.eigenvalues, est["threshold"], str(est.get("method", ""))
        caution = est.get("caution")
    elif d.explained_variance_ratio is not None:
        values, threshold, method = d.explained_variance_ratio, None, ""
    else:
        return None
    values = np.asarray(values, dtype=np.float64)[:n]
    rank, label = d.scree_rank() if d.eigenvalues is not None else (d.info.get("rank_estimate"), "")
    if rank is None and threshold is not None:
        rank = int(np.sum(values > threshold))
    return {"values": _floats(values), "threshold": None if threshold is None else float(threshold),
            "method": method, "rank": None if rank is None else int(rank),
            "rank_label": label or ("" if rank is None else f"estimated rank {int(rank)}"), "caution": caution}


def _phase_count(d) -> int:
    """As many phases as the data support: the automatic rank where the decomposition estimated one (a PCA that
    kept every component would otherwise show 32 'phases'), else every kept component."""
    rank = d.info.get("rank_estimate")
    if rank is None and d.rank_evidence:
        rank = d.rank_evidence.get("rank")
    if rank is None or int(rank) < 1:
        return d.n_components
    return max(1, min(int(rank), d.n_components))


def loading_limits(m, shape: tuple[int, int]) -> dict:
    """The colour scale of a loading map (flattened ``m`` of a ``shape`` map), as the static loading figures draw
    it: ``signed`` (blue-white-red about zero, limits symmetric) where both signs hold a substantial share
    (:func:`~emscale.plotting.limits.colour_map`), and :func:`~emscale.plotting.image_limits`' ``vmin``,
    ``vmax`` and ``extend`` (the full range, less a few hot or isolated pixels; ``extend`` says at which end values
    lie beyond). The 1st-99th percentiles drew a 9-pixel inclusion (0.22 % of the pixels) loading 516 as bright as
    background leftovers of 6."""
    m = np.asarray(m, dtype=float).reshape(shape)
    signed = colour_map(m)[1]
    vmin, vmax, extend = image_limits(m, centre=signed)
    if vmin is None:  # no finite loading
        return {"vmin": 0.0, "vmax": 1.0, "extend": extend, "signed": False}
    return {"vmin": vmin, "vmax": vmax, "extend": extend, "signed": bool(signed)}


def phases(d) -> dict:
    """Per-pixel phase labels (numpy navigation order, flattened) and the legend's spectra."""
    lo = np.asarray(d.loadings_array, dtype=np.float64)
    finite = np.all(np.isfinite(lo), axis=1)
    if finite.any() and np.min(lo[finite]) >= 0:
        labels = np.full(lo.shape[0], -1, dtype=np.int64)
        labels[finite] = np.argmax(lo[finite], axis=1)
        spectra = np.asarray(d.factors_array, dtype=np.float64).T
        how = "dominant component (argmax of the loadings)"
    else:
        k = _phase_count(d)
        c = d.cluster(k, seed=0, n_components=k)
        labels = np.asarray(c.labels.data).reshape(-1)
        spectra = np.asarray(c.spectra.data).reshape(k, -1)
        how = f"K-means on the directions of the first {k} loadings ({k} clusters, seed 0)"
    return {"labels": labels.tolist(), "spectra": [_floats(s) for s in spectra], "how": how,
            "fractions": [float(np.mean(labels[finite] == k)) if finite.any() else 0.0 for k in range(len(spectra))]}


def payload(d) -> dict:
    """Everything the page draws, in JSON (loadings as base64 float64, numpy navigation order)."""
    if len(d.sig_axes) != 1 or len(d.nav_axes) > 2:
        raise DataError(
            f"the decomposition viewer shows spectra over at most two navigation axes; this decomposition has "
            f"{len(d.sig_axes)} signal and {len(d.nav_axes)} navigation axes"
        )
    nav = list(reversed(d.nav_axes))  # user order x, y
    nav_shape_np = tuple(a.size for a in d.nav_axes)
    height = int(nav_shape_np[0]) if len(nav_shape_np) == 2 else 1
    width = int(nav_shape_np[-1]) if nav_shape_np else 1
    energy = d.sig_axes[-1]
    lo = np.asarray(d.loadings_array, dtype=np.float64)
    return {
        "kind": "decomposition", "method": d.method, "title": d.title or "", "n_components": d.n_components,
        "width": width, "height": height, "nav_axes": [a.to_dict() for a in nav],
        "energy": {"name": energy.name, "units": energy.units, "values": energy.values.tolist()},
        "scree": scree(d), "factors": [_floats(f) for f in np.asarray(d.factors_array).T],
        "loadings": [_b64(lo[:, c]) for c in range(d.n_components)],
        "loading_limits": [loading_limits(lo[:, c], (height, width)) for c in range(d.n_components)],
        "phases": phases(d),
    }
