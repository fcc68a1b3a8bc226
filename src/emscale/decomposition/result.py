"""The :class:`Decomposition` result: factors, loadings, the scree and what to do with them.

The model is ``X ~= loadings @ factors.T (+ mean)`` in the units of the data (counts), whatever weighting the
algorithm used internally::

    X[i, j] ~= sum_c L[i, c] F[j, c]  +  mean_scale[i] * mean_spectrum[j]      (the last term only if centred)

``factors`` is a Signal of spectra (navigation axis ``component``, the original signal axes); ``loadings`` a
Signal of maps (navigation axis ``component``, the original navigation axes as signal axes). Masked pixels and
channels are NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..core import codec
from ..core.axes import Axis, shape_notation
from ..core.errors import DataError, check_count, check_seed
from ..core.html import figure, table
from ..core.registry import operation
from ..core.result import Result, load_npz, save_npz
from ..core.signal import Signal, default_chunks
from ..engine import Pass, run_pass
from .kmeans import fit_kmeans

FORMAT_VERSION = 1


@dataclass
class ClusterResult(Result):
    """K-means phases of a decomposition: ``labels`` (a map, -1 in masked pixels) and the mean model ``spectra``
    of each phase, both Signals derived from this result (recorded accessors)."""

    labels_array: np.ndarray  # (pixels,) int64 in numpy pixel order, -1 where masked
    spectra_array: np.ndarray  # (n_clusters, channels)
    nav_axes: list[Axis]  # numpy order
    sig_axes: list[Axis]  # numpy order
    centres: np.ndarray
    inertia: float
    signal_type: str = ""
    metadata: dict = field(default_factory=dict)
    title: str = ""
    history: list = field(default_factory=list)
    route: str = ""  # which k-means ran and why (.kmeans.fit_kmeans); "" in files written before it was recorded

    KIND: ClassVar[str] = "emscale-clusters"

    def arrays(self) -> dict[str, np.ndarray]:
        return {"labels": self.labels_array, "spectra": self.spectra_array}

    @property
    def n_clusters(self) -> int:
        return int(self.spectra_array.shape[0])

    def plot(self, names=None, crop: bool | None = None, title: str = "Phases"):
        """The phase map in one discrete colour per phase, with a key, beside the phases' mean spectra in the same
        colours (``labels.plot()`` draws the labels as a continuous image). ``crop``: as
        :meth:`Decomposition.plot_factors` (``None``: for EDS)."""
        from ..plotting.components import phase_figure

        if len(self.nav_axes) != 2 or len(self.sig_axes) != 1:
            raise ValueError(f"a phase figure needs a 2-D map of spectra; these phases have {len(self.nav_axes)} "
                             f"navigation and {len(self.sig_axes)} signal axes (use labels / spectra)")
        if crop is None:
            crop = "EDS" in str(self.signal_type or "").upper()
        lab = self.labels_array.reshape(tuple(a.size for a in self.nav_axes))
        return phase_figure(lab, self.spectra_array, self.nav_axes, self.sig_axes[0], names, title, crop=bool(crop))

    def _signal(self, data, axes, what: str, signal_type: str, quantity: str | None = None) -> Signal:
        return Signal(data, axes=axes, signal_type=signal_type,
                      metadata=_derived_metadata(self.metadata, signal_type, quantity),
                      history=list(self.history), title=f"{self.title} clusters {what}".strip())

    def save(self, path, overwrite: bool = False) -> Path:
        """Write to a ``.npz`` file atomically (see :func:`save_npz`)."""
        arrays = {"labels": self.labels_array, "spectra": self.spectra_array, "centres": self.centres}
        meta = {k: getattr(self, k) for k in ("inertia", "signal_type", "metadata", "title", "history", "route")}
        meta |= {"nav_axes": [a.to_dict() for a in self.nav_axes], "sig_axes": [a.to_dict() for a in self.sig_axes]}
        return save_npz(path, self.KIND, meta, arrays, overwrite)

    @classmethod
    def load(cls, path) -> ClusterResult:
        meta, arrays = load_npz(path, cls.KIND)
        return cls(arrays["labels"], arrays["spectra"], [Axis.from_dict(d) for d in meta["nav_axes"]],
                   [Axis.from_dict(d) for d in meta["sig_axes"]], arrays["centres"], meta["inertia"],
                   meta["signal_type"], meta["metadata"], meta["title"], meta["history"], meta.get("route", ""))

    def __repr__(self) -> str:
        return f"<ClusterResult {self.n_clusters} clusters {shape_notation(self.nav_axes, self.sig_axes)}>"


def _derived_metadata(metadata: dict, signal_type: str, quantity: str | None) -> dict:
    """A copy of the source's metadata for a derived signal: maps are no spectra, so they carry neither the
    spectrum's type nor its quantity ("X-rays (Counts)" labelled the colour bar of a phase map)."""
    md = codec.loads(codec.dumps(metadata or {}))
    sig = md.get("Signal")
    if isinstance(sig, dict):
        if signal_type == "":
            sig.pop("signal_type", None)
        if quantity is not None or signal_type == "":
            sig.pop("quantity", None)
    if quantity is not None:
        md.setdefault("Signal", {})["quantity"] = quantity
    return md


@operation("labels", on=ClusterResult, method="property")
def cluster_labels(c: ClusterResult) -> Signal:
    """The phase map: the cluster of each pixel (-1 where masked), on the original navigation axes."""
    axes = [replace(a, navigate=False) for a in c.nav_axes]
    return c._signal(c.labels_array.reshape(tuple(a.size for a in c.nav_axes)), axes, "labels", "",
                     quantity="Phase (cluster index)")


@operation("spectra", on=ClusterResult, method="property")
def cluster_spectra(c: ClusterResult) -> Signal:
    """The mean model spectrum of each cluster, along navigation axis ``cluster``."""
    k = c.n_clusters
    axes = [Axis(name="cluster", size=k, navigate=True)] + list(c.sig_axes)
    return c._signal(c.spectra_array.reshape((k,) + tuple(a.size for a in c.sig_axes)), axes, "spectra",
                     c.signal_type)


def threshold_label(evidence: dict) -> str:
    """The scree's threshold line named by the test that drew it (it said Marchenko-Pastur for every rank, also where
    the parallel analysis decided). The line is the threshold, a margin above the parallel analysis' noise edge (it
    said "noise edge" at the threshold's value, beside a table of both)."""
    method = str(evidence.get("method", ""))
    if method.startswith("parallel-analysis"):
        scaled = evidence.get("dispersion_note") and evidence.get("edge") != evidence.get("noise_top")
        return "noise threshold (parallel analysis, Poisson" + (f" x {evidence['dispersion']:.3g})" if scaled else ")")
    if method.startswith("marchenko-pastur"):
        return "noise threshold (Marchenko-Pastur)"
    return f"noise threshold ({method})" if method else "noise threshold"


@dataclass
class Decomposition(Result):
    method: str
    params: dict
    factors_array: np.ndarray  # (all channels, k), NaN in masked channels
    loadings_array: np.ndarray  # (all pixels, k), numpy (C) pixel order, NaN in masked pixels
    nav_axes: list[Axis]  # numpy order
    sig_axes: list[Axis]  # numpy order
    eigenvalues: np.ndarray | None = None  # of Xw^T Xw (the PCA scree; full for gram, top l for randomized)
    trace: float | None = None
    n_pixels: int = 0  # kept pixels
    n_channels: int = 0  # kept channels
    mean_spectrum: np.ndarray | None = None
    mean_scale: np.ndarray | None = None
    rank_evidence: dict | None = None
    info: dict = field(default_factory=dict)  # loss, n_iter, converged, solver...
    signal_type: str = ""
    metadata: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # the decomposed signal's history and the decompose step
    title: str = ""
    lazy: bool = False

    KIND: ClassVar[str] = "emscale-decomposition"

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"factors": self.factors_array, "loadings": self.loadings_array}
        return out if self.eigenvalues is None else out | {"eigenvalues": self.eigenvalues}

    # -- shapes --------------------------------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        return int(self.factors_array.shape[1])

    @property
    def nav_shape(self) -> tuple[int, ...]:
        """Numpy order (y, x): the order of ``loadings_array``'s pixels, ``loadings_array.reshape(nav_shape +
        (-1,))``. Not ``Signal.nav_shape``, which is in user order (x, y): the maps as a Signal are ``loadings``."""
        return tuple(a.size for a in self.nav_axes)

    @property
    def sig_shape(self) -> tuple[int, ...]:
        """Numpy order, as :attr:`nav_shape`."""
        return tuple(a.size for a in self.sig_axes)

    # -- signals -------------------------------------------------------------------------------------------
    def _signal(self, data, axes, what: str, signal_type=None, quantity: str | None = None) -> Signal:
        st = self.signal_type if signal_type is None else signal_type
        return Signal(
            data,
            axes=axes,
            signal_type=st,
            metadata=_derived_metadata(self.metadata, st, quantity),
            history=list(self.history),
            title=f"{self.title} {self.method} {what}".strip(),
        )

    @property
    def explained_variance(self) -> np.ndarray | None:
        """Eigenvalues divided by the number of pixels: HyperSpy's ``explained_variance``."""
        return None if self.eigenvalues is None else self.eigenvalues / max(self.n_pixels, 1)

    @property
    def explained_variance_ratio(self) -> np.ndarray | None:
        """Each eigenvalue over the total (weighted) sum of squares."""
        if self.eigenvalues is None:
            return None
        total = self.trace if self.trace else float(np.sum(self.eigenvalues))
        return self.eigenvalues / total

    # -- rank ----------------------------------------------------------------------------------------------
    def estimate_rank(self, tw_sigmas: float | None = None, warn: bool = True) -> tuple[int, dict]:
        """(rank, evidence) from the Marchenko-Pastur edge of the eigenvalue spectrum; see :mod:`.rank`.

        Recomputed from the evidence ``decompose`` stored (:attr:`rank_evidence`: the spectrum of the rank
        estimate's channel subset, :func:`.rank.rank_channels`, its shape and its parallel-analysis noise edge),
        so with the default ``tw_sigmas`` it agrees with ``info["rank_estimate"]``; results without stored
        evidence (older files, a given ``n_components`` on the randomized route) use the PCA scree of all
        kept channels. Where the eigenvalues come from a short randomized run the evidence's ``"caution"`` says
        the rank may read low, with a warning unless ``warn=False`` (a figure or report that shows the caution)."""
        from .rank import TW_SIGMAS, estimate_rank

        tw = TW_SIGMAS if tw_sigmas is None else tw_sigmas
        ev = self.rank_evidence or {}
        if ev.get("method") == "too-few-counts":
            return 0, dict(ev)
        if ev.get("n_rows") and ev.get("n_cols") and ev.get("eigenvalues") is not None:
            pa = ev.get("method") == "parallel-analysis-poisson"
            trace = None if ev.get("method") != "marchenko-pastur-trace" else self.trace
            rank, out = estimate_rank(np.asarray(ev["eigenvalues"], dtype=float), int(ev["n_rows"]),
                                      int(ev["n_cols"]), trace=trace, tw_sigmas=tw,
                                      noise_top=float(ev.get("noise_top", ev["edge"])) if pa else None,
                                      # the halves that kept the unit-gain edge are not stored: kept again
                                      noise_trace=ev.get("noise_trace") if pa and "level_dispersions" not in ev
                                      else None,
                                      **({"pa_margin": float(ev["pa_margin"])} if pa and "pa_margin" in ev else {}))
            return rank, out | {k: v for k, v in ev.items() if k not in out}
        if self.eigenvalues is None:
            raise ValueError(f"a {self.method!r} decomposition has no eigenvalue spectrum to estimate a rank from")
        full = self.info.get("solver") == "gram"
        noise = self.info.get("noise_eigenvalues")
        rank, out = estimate_rank(
            self.eigenvalues,
            self.n_pixels,
            self.n_channels,
            noise_top=None if noise is None or not len(noise) else float(np.asarray(noise)[0]),
            trace=None if full else self.trace,
            tw_sigmas=tw,
        )
        rough = (self.info.get("solver") == "randomized" and int(self.info.get("power_iterations") or 99) < 7
                 and not str(self.info.get("power_iterations_note", "")).startswith("settled"))
        if rough:
            # a new user's EELS cube of true rank 4 (200 counts/pixel) read 3 / 2 / 3 here after NMF with k = 4:
            # two power iterations leave the eigenvalues near the noise edge low (the 4th at 0.83-0.86 of the
            # threshold, 1.05-1.30 exact)
            note = (f"the eigenvalues come from a randomized subspace of {self.info.get('power_iterations')} power "
                    "iteration(s), which reads those near the noise edge low: the rank may be underestimated; "
                    "decompose(..., n_components='auto') estimates it from the exact spectrum")
            if warn:
                warnings.warn(f"estimate_rank: {note}", UserWarning, stacklevel=2)
            out = out | {"caution": note}
        return rank, out

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> Path:
        """Write to a ``.npz`` file atomically (see :func:`save_npz`)."""
        meta = {
            "method": self.method,
            "params": self.params,
            "nav_axes": [a.to_dict() for a in self.nav_axes],
            "sig_axes": [a.to_dict() for a in self.sig_axes],
            "trace": self.trace,
            "n_pixels": self.n_pixels,
            "n_channels": self.n_channels,
            "rank_evidence": self.rank_evidence,
            "info": self.info,
            "signal_type": self.signal_type,
            "metadata": self.metadata,
            "history": self.history,
            "title": self.title,
            "lazy": self.lazy,
        }
        arrays = {"factors": self.factors_array, "loadings": self.loadings_array}
        for name in ("eigenvalues", "mean_spectrum", "mean_scale"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return save_npz(path, self.KIND, meta, arrays, overwrite)

    @classmethod
    def load(cls, path) -> Decomposition:
        meta, arrays = load_npz(path, cls.KIND)
        return cls(
            method=meta["method"],
            params=meta["params"],
            factors_array=arrays["factors"],
            loadings_array=arrays["loadings"],
            nav_axes=[Axis.from_dict(d) for d in meta["nav_axes"]],
            sig_axes=[Axis.from_dict(d) for d in meta["sig_axes"]],
            eigenvalues=arrays.get("eigenvalues"),
            trace=meta["trace"],
            n_pixels=meta["n_pixels"],
            n_channels=meta["n_channels"],
            mean_spectrum=arrays.get("mean_spectrum"),
            mean_scale=arrays.get("mean_scale"),
            rank_evidence=meta["rank_evidence"],
            info=meta["info"],
            signal_type=meta["signal_type"],
            metadata=meta["metadata"],
            history=meta["history"],
            title=meta["title"],
            lazy=meta["lazy"],
        )

    # -- figures -------------------------------------------------------------------------------------------
    def plot_scree(self, n: int = 50, ax=None):
        """Log scree of the eigenvalues with the Marchenko-Pastur noise threshold (when known)."""
        if self.eigenvalues is None:
            raise ValueError(f"a {self.method!r} decomposition has no eigenvalue spectrum")
        from matplotlib.ticker import MaxNLocator

        from ..plotting import _new_figure

        # not pyplot's: a notebook showed the scree twice, and 25 calls in a script left 25 figures open
        fig = ax.figure if ax is not None else _new_figure((6.4, 4.8))
        ax = ax if ax is not None else fig.add_subplot()
        ev = self.eigenvalues[:n]
        # components counted from 0, as the factors and loadings are named (#0, #1...)
        ev_info = self._scree_evidence()
        rank, source = self.scree_rank()
        x, y = np.arange(len(ev)), np.clip(ev, 1e-300, None)
        ax.semilogy(x, y, "-", color="C0", lw=1)
        if rank is None:
            ax.semilogy(x, y, "o", ms=3, color="C0", label="eigenvalues")
        else:  # the components the rank keeps filled, the others hollow
            ax.semilogy(x[:rank], y[:rank], "o", ms=4, color="C0", label=f"{source} (filled)")
            ax.semilogy(x[rank:], y[rank:], "o", ms=4, mfc="white", color="C0", label="beyond the rank")
        if ev_info.get("threshold") is not None:
            ax.axhline(ev_info["threshold"], color="C3", ls="--", label=threshold_label(ev_info))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("component")
        weighted = "Poisson-weighted " if self.params.get("poisson") else ""
        ax.set_ylabel(f"eigenvalue of the {weighted}Gram matrix")
        ax.legend()
        ax.set_title(f"{self.method} scree")
        return fig

    def _scree_evidence(self) -> dict:
        """The rank evidence the scree draws: the stored one, else estimated now ({} when there is none). A rank
        given on the randomized route stored none ("not-estimated"): the estimate from the PCA scree is drawn, as
        :meth:`estimate_rank` (and the report's rank table) gives it."""
        if self.rank_evidence is not None and self.rank_evidence.get("method") != "not-estimated":
            return self.rank_evidence
        try:
            return self.estimate_rank(warn=False)[1]
        except ValueError:
            return {}

    def scree_rank(self) -> tuple[int | None, str]:
        """(rank, a label saying where it came from) for the scree's marks: ``decompose``'s automatic rank
        ("automatic rank 9"), else the rank the scree supports, estimated now (:meth:`estimate_rank`; an NMF given
        ``n_components`` stored none: "estimated rank 9 (4 components fitted)"), else ``(None, "")``."""
        if self.info.get("rank_estimate") is not None:
            rank = int(self.info["rank_estimate"])
            if isinstance(self.params.get("n_components"), int):  # estimated beside a given k: not the rank used
                return rank, f"estimated rank {rank} ({self.n_components} components fitted)"
            return rank, f"automatic rank {rank}"
        try:
            rank = int(self.estimate_rank(warn=False)[0])
        except ValueError:
            return None, ""
        return rank, f"estimated rank {rank} ({self.n_components} components fitted)"

    def has_noise_threshold(self) -> bool:
        """Whether :meth:`plot_scree` draws a noise threshold (a rank from the scree's elbow has none)."""
        return self._scree_evidence().get("threshold") is not None

    def component_names(self, elements=None) -> list[str]:
        """A name per component from its dominant X-ray lines (EDS) or edges (EELS), ``"#k"`` where ambiguous;
        see :func:`emscale.spectroscopy.naming.component_names` (``elements`` overrides ``Sample.elements``)."""
        from ..spectroscopy.naming import component_names

        if len(self.sig_axes) != 1:
            return [f"#{c}" for c in range(self.n_components)]
        return component_names(self.factors_array, self.sig_axes[0], self._spectrum_type, self.metadata, elements)

    @property
    def _spectrum_type(self) -> str:
        """The signal type, or "EDS" where none was set and decompose took the spectra for EDS spectra
        (``info["eds"]``, :mod:`.spectrum_kind`)."""
        return self.signal_type or ("EDS" if self.info.get("eds") else "")

    def plot_factors(self, n_components: int | None = None, crop: bool | None = None, names=None):
        """The factor spectra (one signal axis) or images, labelled ``#k`` and their element name
        (:meth:`component_names`; or ``names``). ``crop``: draw only the energy range where the factors
        reach 2 % of their peaks, with a 5 % margin (:func:`emscale.plotting.limits.line_range`);
        ``None``: for EDS, whose lines often fill a small part of a 0-20/40 keV axis."""
        from ..plotting.components import factor_figure, loading_figure

        k = _first_components(self, n_components)
        names = (self.component_names() if names is None else list(names))[:k]
        if len(self.sig_axes) == 1:
            if crop is None:
                crop = self._spectrum_type.upper().startswith("EDS")
            from ._method import method_class

            # the non-negative methods' spectra sum to one (the loadings carry the counts); PCA/ICA's have no unit
            method = method_class(self.method)
            unit = "share of the counts per channel" if method and method.nonnegative else "factor (a.u.)"
            return factor_figure(self.sig_axes[0], self.factors_array[:, :k], names, f"{self.method} factors",
                                 crop=bool(crop), ylabel=unit)
        images = self.factors_array[:, :k].T.reshape((k,) + self.sig_shape)
        return loading_figure(images, self.sig_axes, names, f"{self.method} factors", clabel="factor")

    def plot_loadings(self, n_components: int | None = None, names=None):
        """The loading maps (or profiles) on the calibrated navigation axes, each with a colour bar, a scale bar
        and its own colour limits, those of ``Signal.plot`` over the map without its isolated spikes
        (:func:`emscale.plotting.image_limits`): a phase of a few pixels keeps the top colour, a few
        hot pixels do not leave a sparse map nearly black. Titled ``#k`` and the component's element name
        (:meth:`component_names`; or ``names``)."""
        from ..plotting.components import loading_figure

        k = _first_components(self, n_components)
        names = (self.component_names() if names is None else list(names))[:k]
        maps = self.loadings_array[:, :k].T.reshape((k,) + self.nav_shape)
        if maps.ndim > 3:  # outer navigation axes: their first index
            maps = maps.reshape((k, -1) + maps.shape[-2:])[:, 0]
        return loading_figure(maps, self.nav_axes, names, f"{self.method} loadings")

    def _repr_html_(self) -> str:
        """Notebook summary: what was run, the rank decision and the scree figure inline."""
        import html

        rows = [("method", self.method), ("components", self.n_components), ("pixels", self.n_pixels),
                ("channels", self.n_channels)]
        rows += [(k, v) for k, v in (self.info or {}).items() if isinstance(v, int | float | str | bool)]
        body = f"<div><b>{html.escape(repr(self))}</b>{table(rows, ['quantity', 'value'])}"
        if self.eigenvalues is not None:
            body += figure(self.plot_scree(), "scree")
        return body + "</div>"

    def __repr__(self) -> str:
        return (
            f"<Decomposition {self.method} k={self.n_components} {shape_notation(self.nav_axes, self.sig_axes)}"
            f" pixels={self.n_pixels} channels={self.n_channels}>"
        )


# -- what a decomposition gives: each a recorded operation on it ----------------------------------------------
@operation("factors", on=Decomposition, method="property")
def factors(d: Decomposition) -> Signal:
    """Spectra: one per component along navigation axis ``component``. Their quantity is what they are, not the
    data's ("X-rays (Counts)" labelled normalised spectra): a share of the counts per channel for the non-negative
    methods, whose loadings carry the counts, and a factor without unit for PCA and ICA."""
    from ._method import method_class

    k = d.n_components
    data = d.factors_array.T.reshape((k,) + d.sig_shape)
    axes = [Axis(name="component", size=k, navigate=True)] + list(d.sig_axes)
    method = method_class(d.method)
    quantity = f"{d.method.upper()} factor" + (" (share of the counts per channel)" if method and method.nonnegative
                                               else "")
    f = d._signal(data, axes, "factors", quantity=quantity)
    for key in ("counts", "Noise_properties"):  # normalised spectra and unit vectors: no counts, no detector noise
        f.metadata["Signal"].pop(key, None)
    return f


@operation("loadings", on=Decomposition, method="property")
def loadings(d: Decomposition) -> Signal:
    """Maps: one per component along navigation axis ``component``, the original navigation axes as signal."""
    k = d.n_components
    data = d.loadings_array.T.reshape((k,) + d.nav_shape)
    axes = [Axis(name="component", size=k, navigate=True)] + [replace(a, navigate=False) for a in d.nav_axes]
    return d._signal(data, axes, "loadings", signal_type="", quantity=f"{d.method.upper()} loading")


def _first_components(d, n_components) -> int:
    """How many of the first components to use: all for None, else a whole number 1..k (DataError naming the
    range: a slice would silently take -1 as "all but one" and 100 as "all")."""
    if n_components is None:
        return d.n_components
    if (isinstance(n_components, bool) or not isinstance(n_components, int | np.integer)
            or not 1 <= n_components <= d.n_components):
        raise DataError(f"n_components must be a whole number from 1 to the decomposition's {d.n_components} "
                        f"components, got {n_components!r}")
    return int(n_components)


def _check_first_components(n_components) -> None:
    """What a recipe can tell of ``n_components`` before the decomposition exists (:func:`_first_components`)."""
    check_count("n_components", n_components, "the first components of the decomposition", optional=True)


@operation("reconstruct", on=Decomposition, method=True, check={"n_components": _check_first_components})
def reconstruct(d: Decomposition, n_components: int | None = None, executor=None) -> Signal:
    """The model with the first ``n_components`` components (all by default), in data units.

    Computed from the loadings and factors only (no data pass); lazy (dask, blockwise) when the decomposed
    signal was lazy, otherwise one pass over the loadings partitions.
    """
    k = _first_components(d, n_components)
    f = np.ascontiguousarray(d.factors_array[:, :k].T)  # (k, channels)
    nav_shape, sig_shape = d.nav_shape, d.sig_shape
    n_nav = len(nav_shape)
    lo = d.loadings_array[:, :k]
    if d.mean_scale is not None:
        lo = np.concatenate([lo, d.mean_scale[:, None]], axis=1)
        f = np.concatenate([f, d.mean_spectrum[None, :]], axis=0)
    lo = lo.reshape(nav_shape + (lo.shape[1],))
    n_ch = f.shape[1]

    def flat_model(block, rows=None):
        return (block.reshape(-1, block.shape[-1]) @ f).reshape(block.shape[:-1] + (n_ch,))

    if d.lazy:
        import dask.array as da

        chunks = default_chunks(nav_shape + (n_ch,), np.float64, n_nav)
        lz = da.from_array(lo, chunks=chunks[:n_nav] + (lo.shape[-1],))
        data = lz.map_blocks(flat_model, dtype=np.float64, chunks=lz.chunks[:-1] + ((n_ch,),))
    else:
        data = run_pass(lo, Pass(flat_model, None, name="decomposition-reconstruct"), executor=executor)
    data = data.reshape(nav_shape + sig_shape)
    return d._signal(data, list(d.nav_axes) + list(d.sig_axes), "reconstruct")


@operation("cluster", on=Decomposition, method=True, result_name="{of}_clusters",
           check={"n_clusters": lambda v: check_count("n_clusters", v), "seed": check_seed,
                  "n_components": _check_first_components})
def cluster(d: Decomposition, n_clusters: int, seed: int = 0, n_components: int | None = None) -> ClusterResult:
    """K-means on the loadings -> a phase map and the mean model spectrum of each phase.

    Pixels are clustered on the *direction* of their loading vector (each row scaled to unit norm), so that
    intensity (thickness, beam current) does not split a phase. A centred decomposition is clustered on the
    direction of each pixel's model spectrum with the mean term, :func:`_centred_features`. The spectra are the
    per-cluster means of the model ``L F^T`` (``+ mean``; from the factors, no data pass), in data units.

    Clusters that k-means leaves empty (more clusters asked than distinct loading directions) are dropped, with
    a warning naming them, and the rest renumbered from 0: the result may hold fewer than ``n_clusters``.
    """
    check_count("n_clusters", n_clusters)
    check_seed(seed)  # a numpy seed is non-negative
    k = _first_components(d, n_components)
    lo = d.loadings_array[:, :k]
    ok = np.all(np.isfinite(lo), axis=1)
    feats = lo[ok] if d.mean_scale is None else _centred_features(d, k)[ok]
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    feats = feats / np.where(norms == 0, 1, norms)
    if n_clusters < 1 or n_clusters > len(feats):
        raise ValueError(f"n_clusters must be between 1 and the {len(feats)} usable pixels, got {n_clusters}")
    km = fit_kmeans(feats, n_clusters, seed=seed)
    kept, centres = _drop_empty_clusters(km, n_clusters, len(feats))
    labels = np.full(lo.shape[0], -1, dtype=np.int64)
    labels[ok] = kept
    unseparated = _warn_unseparated(feats, kept)
    f = d.factors_array[:, :k]
    spectra = np.empty((len(centres), f.shape[0]))
    for c in range(len(centres)):
        mean_lo = lo[labels == c].mean(axis=0)
        spectra[c] = f @ mean_lo
        if d.mean_scale is not None:
            spectra[c] += d.mean_scale[labels == c].mean() * d.mean_spectrum
    if not unseparated and d.params.get("poisson"):
        _warn_scattered(labels.reshape(d.nav_shape), spectra)
    return ClusterResult(labels, spectra, list(d.nav_axes), list(d.sig_axes), centres,
                         km.inertia, d.signal_type, dict(d.metadata), d.title, list(d.history), km.route)


# Two clusters whose centres lie fewer than this many within-cluster standard deviations apart (along the line through
# them) are one population that k-means cut in two: the halves of a Gaussian cloud lie 2.66 apart, two phases of a
# review's EELS map (1000 counts/pixel) 8.9-11.1. k-means cuts a large noisy cluster rather than isolate a small one
# it cannot see: asked for 4 clusters where a 2 % phase did not stand out of the noise in the loadings (1.2 apart),
# it halved the 74 % phase (2.7 apart) and said nothing
SEPARATED = 4.0


def _warn_unseparated(feats: np.ndarray, labels: np.ndarray) -> bool:
    """Warn where two clusters of ``feats`` (the rows clustered) are no two populations (:data:`SEPARATED`); say
    whether it warned."""
    from itertools import combinations

    members = [feats[labels == c] for c in range(int(labels.max()) + 1)]
    worst = None
    for i, j in combinations(range(len(members)), 2):
        a, b = members[i], members[j]
        u = b.mean(axis=0) - a.mean(axis=0)
        dist = float(np.linalg.norm(u))
        u = u / max(dist, 1e-300)
        spread = np.sqrt(((a @ u).var() * len(a) + (b @ u).var() * len(b)) / (len(a) + len(b)))
        ratio = dist / max(float(spread), 1e-300)
        if worst is None or ratio < worst[0]:
            worst = (ratio, i, j, len(a), len(b))
    if worst is None or worst[0] >= SEPARATED:
        return False
    ratio, i, j, na, nb = worst
    warnings.warn(f"cluster: clusters {i} and {j} ({na} and {nb} pixels) are not two populations told apart: their "
                  f"centres lie {ratio:.2g} within-cluster standard deviations apart in the loadings (at least "
                  f"{SEPARATED:g} for two; the halves of one noisy cloud lie 2.7 apart): one phase cut in two, or "
                  "phases the noise mixes pixel by pixel; ask for fewer clusters, or, if a phase is missing, for "
                  "more components where it stands out of the noise", UserWarning, stacklevel=4)
    return True


# Two clusters whose pixels lie next to each other hardly more often than if each pixel had been dealt to one of them
# at random, and whose mean spectra a single pixel's counts cannot tell apart, are one population cut in two by the
# noise. The centres' test cannot see this where a decomposition holds two near-copies of one spectrum: NMF's
# non-negative loadings push each pixel to one copy or the other, so the halves lie far apart in the loadings.
# kappa: the agreement of neighbouring pixels, 0 by chance, 1 where every neighbour of a pixel is in its cluster.
# Measured 2026-12-07 on 39 maps of a review (EDS / EELS / CL, 20-2000 counts/pixel, 2-5 phases of 1-97 %), NMF at the
# true k: the 7 EELS maps where a 1-3 % phase lay under the noise and NMF cut the majority in two (0.49-0.79 of the
# pixels right) 0.00-0.10; the 23 good pure-phase ones (0.99-1.00) 0.81-0.97 (the 9 smooth mixtures the centres' test
# warns of already); a real SEM map's phases (the .bcf) 0.71-1.0
SCATTERED = 0.2
# ... but real phases can be scattered too (a reviewer's one-pixel lamellae and checkerboards, dispersed single-pixel
# precipitates of 15-30 %: kappa -1.0 to 0.02, every pixel labelled right), and there the clusters' mean spectra lie
# far apart in a pixel's Poisson noise: d' = |a - b| / sqrt((a + b) / 2) over the channels, the two scaled to one
# total (one-pixel stripes 2.8 at 20 counts/pixel, 11.6 at 300; the grid's real phases 3.7-54), where the halves of
# one phase lie 0.1-2.1 apart (their selection by the noise keeps them from 0). A pixel is told to one of the two with
# an error of Phi(-d'/2): 11 % at this
DISTINCT = 2.5
# ... only between clusters that could be halves of one population, each at least a tenth of the pair's pixels (a
# real phase of scattered single pixels beside a matrix has no neighbours of its own), with neighbours enough to count
SCATTERED_SHARE = 0.1
SCATTERED_NEIGHBOURS = 50


def _neighbour_pairs(grid: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts of neighbouring pixels (along each navigation axis) with labels (a, b) in ``grid``; -1 (masked)
    pixels are left out. One axis at a time, in int32 codes: on a 4096 x 4096 map 3 x its labels at the peak, where
    int64 codes of every axis at once took 7-8 x."""
    pairs = np.zeros(n * n, dtype=np.int64)
    for axis in range(grid.ndim):
        g = np.moveaxis(grid, axis, 0)
        first, second = g[:-1].ravel().astype(np.int32), g[1:].ravel().astype(np.int32)
        both = (first >= 0) & (second >= 0)
        pairs += np.bincount(first[both] * n + second[both], minlength=n * n)
    return pairs.reshape(n, n)


def _pixel_separation(a: np.ndarray, b: np.ndarray) -> float:
    """d' of two mean spectra (counts per pixel) in a single pixel's Poisson noise, both scaled to their mean total;
    NaN (masked) channels left out (:data:`DISTINCT`)."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.maximum(a[ok], 0.0), np.maximum(b[ok], 0.0)
    total = 0.5 * (a.sum() + b.sum())
    a, b = a * total / max(a.sum(), 1e-300), b * total / max(b.sum(), 1e-300)
    mean = 0.5 * (a + b)
    used = mean > 0
    return float(np.sqrt(np.sum((a[used] - b[used]) ** 2 / mean[used])))


def _warn_scattered(grid: np.ndarray, spectra: np.ndarray) -> None:
    """Warn where two clusters of the phase map ``grid`` (navigation shape, -1 where masked) are scattered through
    each other pixel by pixel (:data:`SCATTERED`) and their mean spectra ``spectra`` (counts per pixel) lie within a
    pixel's noise (:data:`DISTINCT`)."""
    from itertools import combinations

    n = len(spectra)
    pairs = _neighbour_pairs(grid, n)
    size = np.bincount(grid[grid >= 0], minlength=n)
    worst = None
    for i, j in combinations(range(n), 2):
        together = pairs[i, i] + pairs[j, j]
        counted = together + pairs[i, j] + pairs[j, i]
        if min(size[i], size[j]) < SCATTERED_SHARE * (size[i] + size[j]) or counted < SCATTERED_NEIGHBOURS:
            continue
        chance = (size[i] ** 2 + size[j] ** 2) / (size[i] + size[j]) ** 2
        kappa = (together / counted - chance) / (1 - chance)
        if kappa >= SCATTERED or (worst is not None and kappa >= worst[0]):
            continue
        apart = _pixel_separation(spectra[i], spectra[j])
        if apart < DISTINCT:
            worst = (kappa, i, j, together / counted, chance, apart)
    if worst is None:
        return
    kappa, i, j, agree, chance, apart = worst
    warnings.warn(f"cluster: clusters {i} and {j} ({size[i]} and {size[j]} pixels) are not two regions: neighbouring "
                  f"pixels of the two fall in the same one {agree:.0%} of the time, {chance:.0%} if each pixel were "
                  f"dealt to one at random (kappa {kappa:.2f}, at least {SCATTERED:g} for two regions), and their "
                  f"mean spectra lie {apart:.2g} single-pixel noise units apart (at least {DISTINCT:g} to tell a pixel "
                  "to one or the other): one population cut in two by noise (a decomposition with more components "
                  "than the data hold makes two near-copies of one spectrum); ask for fewer clusters, or decompose "
                  "with n_components='auto'", UserWarning, stacklevel=4)


def _drop_empty_clusters(km, n_clusters: int, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres) of the clusters that hold pixels, renumbered in their order. An empty cluster has no mean
    spectrum (it was NaN: NMF k = 1 clustered into 3 gave 2 NaN spectra and only numpy/scikit-learn warnings)."""
    size = np.bincount(km.labels, minlength=n_clusters)
    empty = np.flatnonzero(size == 0)
    if not empty.size:
        return km.labels, km.centres
    held = np.flatnonzero(size)
    warnings.warn(f"cluster: {n_clusters} clusters asked, but the {n_points} pixels' loading directions fill only "
                  f"{held.size}: cluster(s) {', '.join(map(str, empty))} came out empty and are dropped (the rest "
                  "renumbered from 0); ask for fewer clusters or decompose into more components",
                  UserWarning, stacklevel=4)
    renumber = np.cumsum(size > 0) - 1
    return renumber[km.labels].astype(np.int64), km.centres[held]


def _centred_features(d: Decomposition, k: int) -> np.ndarray:
    """(pixels, k + 1) coordinates of each pixel's model spectrum ``L F^T + mean_scale mean_spectrum`` in an
    orthonormal basis of the span of the factors and the mean spectrum (QR of those k + 1 spectra over the
    channels where all are finite): their directions are the model spectra's directions.

    The centred loadings alone are deviations from the mean: a majority phase near the mean has loadings that are
    noise around zero, and scaled to unit length they point anywhere (92/6/2 % phases, 500 counts/pixel: 0.51 of
    the pixels agreed with the truth, uncentred 1.000). Appending the mean scale as a further loading without
    the basis weighs the terms in their arbitrary units (50 counts/pixel, thickness 0.2-2.5: 0.53-0.69 against
    0.97 here); these directions are also the same for any rotation of the factors (PCA and ICA alike)."""
    basis = np.column_stack([d.factors_array[:, :k], d.mean_spectrum])
    _, r = np.linalg.qr(basis[np.all(np.isfinite(basis), axis=1)])
    return np.column_stack([d.loadings_array[:, :k], d.mean_scale]) @ r.T

