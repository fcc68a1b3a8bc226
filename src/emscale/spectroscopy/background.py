"""Background removal for spectra and spectrum images (EELS pre-edge power law, EDS/CL baselines).

:func:`remove_background` fits a background model in a window ``signal_range`` of every spectrum and subtracts
it from the whole spectrum. Two fitting methods:

``fit="fast"``
    HyperSpy's closed-form estimates (``Signal1D.remove_background(fast=True)``), vectorised over all pixels:
    the two-area method for the power law, two geometric means for the exponential, the window mean for the
    offset and linear least squares for the polynomial. The formulas, window edges and binned-axis scaling are
    those of HyperSpy 2.5 (``hyperspy/_components/{power_law,exponential,offset,polynomial}.py``), so results
    agree with HyperSpy to rounding on uniform axes (on non-uniform binned axes, see below).
``fit="weighted"``
    A Poisson maximum-likelihood fit in the window (iteratively reweighted least squares, i.e.
    Poisson-weighted least squares with the weights updated from the model), vectorised over pixels: Newton
    steps on ``log mu = a + b u`` with closed-form 2x2 normal equations for the power law (``u = log E``)
    and the exponential (``u = E``); weighted least squares with weights ``1 / mu`` for the polynomial. It
    starts from the fast estimate. From ~15 counts in the window it is the more accurate (a power law fitted
    at ~15 counts: residual rms past the window 13.1 against the fast estimate's 18.8, and far fewer pixels
    masked); at ~5 counts neither fit holds and it extrapolates worse than the fast estimate (18.4 against 15.0
    on the pixels both fit): bin the map first.

Window convention (as HyperSpy): ``signal_range=(E1, E2)`` selects the channels nearest to ``E1`` and ``E2``
(``i1``, ``i2``) and fits channels ``i1 .. i2 - 1`` (half-open, like ``isig[E1:E2]``). The power law splits
the window into two halves of equal channel count (``i2`` is moved down one channel if needed).

Binned axes: EELS and EDS spectra hold counts per channel (HyperSpy's ``is_binned``); the background
parameters are then densities (counts per axis unit) and the subtracted background is ``model(E) x width(E)``,
``width`` the channel width, as HyperSpy does. Every model is fitted to the counts as such a product (the
offset is the window's counts over its width, the polynomial a least-squares fit of ``width x polynomial``, the
exponential's geometric means are taken of the counts per axis unit), so on a uniform axis the parameters are
HyperSpy's; on a non-uniform one HyperSpy divides the counts by the mean channel width of the whole axis, a
guess that leaves a constant density over a window of changing widths with a residual (236 counts on 130-517
counts per channel for the offset, before this was fitted so), so the parameters differ from HyperSpy's there.
The axis is taken as binned when
``metadata["Signal"]["binned"]`` says so, otherwise when the signal type starts with ``EELS`` or ``EDS``;
``binned=`` overrides.

Execution: a pass over navigation partitions (:func:`emscale.engine.run_pass`). In-memory input is processed
partition by partition into a preallocated output. Lazy (dask) input gives a *lazy* result: the parameter maps
(small, navigation-sized) are computed eagerly by a pass that reads only the fit window, then the
subtraction is a ``dask.array.map_blocks`` over whole-spectrum chunks, evaluated when the result is
computed or saved.

Output dtype: float32 for integer inputs of up to 32 bits and for float16/float32 input, float64 for
float64 and 64-bit integer input. Pixels where the model is undefined (e.g. a zero or negative window
integral for the power law) get a zero background, are flagged in a boolean ``mask`` and reported by a
single warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core.errors import AxisError, DataError, is_number
from ..core.history import in_recipe
from ..core.registry import operation
from ..core.signal import Signal, derive
from ..engine import Pass, partitions, run_pass, runs_here
from ._energy import check_ascending

MODELS = ("powerlaw", "exponential", "polynomial", "offset")
FITS = ("fast", "weighted")

_ALIASES = {
    "powerlaw": "powerlaw",
    "power": "powerlaw",
    "pl": "powerlaw",
    "exponential": "exponential",
    "exp": "exponential",
    "polynomial": "polynomial",
    "poly": "polynomial",
    "offset": "offset",
    "constant": "offset",
}


def model_name(model) -> str:
    """The background model a name means (any case; "pl", "power", "exp", "poly"... as :data:`_ALIASES`)."""
    key = str(model).lower().replace(" ", "").replace("_", "").replace("-", "")
    if key not in _ALIASES:
        raise DataError(f"unknown background model {model!r}; choose one of {', '.join(MODELS)}")
    return _ALIASES[key]


DEFAULT_ORDER = 2


def check_order(order, arguments: dict) -> None:
    """A polynomial degree: a non-negative integer, and only for ``model="polynomial"`` (a degree given with the
    power law was ignored without a word, a reviewer). The default ``order=2`` is in every recorded step, so that
    value is accepted with any model."""
    try:
        model = model_name(arguments.get("model", "powerlaw"))
    except ValueError:  # the model's own check names it
        model = "polynomial"
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 0:
        raise DataError(f"polynomial order must be a non-negative integer, got {order!r}")
    if model != "polynomial" and order != DEFAULT_ORDER:
        raise DataError(f"order={order!r} is the degree of a polynomial background, but model={model!r} has "
                         "none: drop order, or use model='polynomial'")


def check_fit(fit) -> None:
    if fit not in FITS:
        raise DataError(f"unknown fit {fit!r}; choose 'fast' or 'weighted'")


class BackgroundWarning(RuntimeWarning):
    """The background model is undefined in some pixels (their background was set to 0)."""


def check_window(window, name: str = "signal_range") -> tuple[float, float]:
    """``(start, end)``: two finite numbers, start before end, else an :class:`AxisError` naming the parameter
    ``name``. The one check of every window the spectroscopy tools take (background, integration, zero-loss)."""
    try:
        # a bool or a text is no energy ([true, false] read as (1, 0), "reversed"; "70" as 70)
        if isinstance(window, str | bytes) or not all(is_number(v) for v in window):
            raise TypeError
        v1, v2 = (float(v) for v in window)
    except (TypeError, ValueError):
        raise AxisError(f"{name} must be two numbers (start, end), got {window!r}") from None
    if not (np.isfinite(v1) and np.isfinite(v2)):
        raise AxisError(f"{name} {window!r} must be finite")
    if v1 >= v2:
        raise AxisError(f"{name} ({v1:g}, {v2:g}) is reversed or empty: the start must be below the end")
    return v1, v2


def check_signal_range(signal_range) -> None:
    """``"full"`` or two finite numbers, start before end: what can be told without the axis (a recipe reports it
    with its other problems, before any step runs); the axis's own bounds are checked when the step runs."""
    if isinstance(signal_range, str):
        if signal_range != "full":
            raise AxisError(f"signal_range must be (start, end) or 'full', got {signal_range!r}")
        return
    check_window(signal_range)


@operation("remove_background", method=True, not_recorded=("return_params", "partition_bytes"),
           check={"model": model_name, "fit": check_fit, "signal_range": check_signal_range, "order": check_order},
           hints={"fast": "is HyperSpy's and not needed: fit='fast' (the default) is its fast=True, "
                          "fit='weighted' a Poisson-weighted least-squares fit"})
def remove_background(
    s: Signal,
    signal_range,
    model: str = "powerlaw",
    order: int = DEFAULT_ORDER,
    fit: str = "fast",
    zero_fill: bool = False,
    return_params: bool = False,
    binned: bool | None = None,
    executor=None,
    progress=None,
    partition_bytes: int = 16 * 2**20,
) -> Signal | tuple[Signal, dict]:
    """Fit a background in ``signal_range`` of every spectrum and subtract it from the whole spectrum.

    Parameters
    ----------
    s : Signal with one signal axis (any number of navigation axes; in memory or lazy).
    signal_range : ``(E1, E2)`` in calibrated units of the signal axis, ``E1 < E2``, inside the axis, at least
        2 channels wide (4 for the power law, ``order + 1`` for a polynomial); ``"full"`` uses the whole axis.
    model : ``"powerlaw"`` (``A E^-r``), ``"exponential"`` (``A exp(-E/tau)``), ``"polynomial"`` (degree
        ``order``) or ``"offset"``.
    order : polynomial degree (``model="polynomial"`` only; another model refuses any but the default).
    fit : ``"fast"`` (HyperSpy's closed-form estimates) or ``"weighted"`` (Poisson-weighted fit, vectorised).
    zero_fill : set the channels before the window start to 0 (Gatan's convention, HyperSpy's ``zero_fill``).
    return_params : also return a dict of per-pixel parameter maps (numpy arrays of the navigation shape,
        numpy order): ``A, r`` (power law), ``A, tau`` (exponential), ``offset``, or ``a0 .. a<order>``
        (polynomial, ``a0`` the constant term), plus ``mask`` (True where the model was undefined and the
        background is 0). Parameters follow HyperSpy's conventions (densities per axis unit on binned axes).
    binned : treat the signal axis as counts per channel; ``None`` decides from the metadata / signal type.
    executor, progress : passed to :func:`emscale.engine.run_pass`.
    partition_bytes : input bytes per partition for in-memory data (small partitions keep all cores busy;
        lazy data are partitioned along their storage chunks).

    Returns
    -------
    Signal (float32 or float64; lazy when ``s`` is lazy), or ``(Signal, params)`` with ``return_params=True``.
    """
    plan = _plan(s, signal_range, model, order, fit, zero_fill, binned)
    data = s.data
    src = data if s.nav_ndim else data[None]
    lo, hi = plan.lo, plan.hi

    if s.is_lazy:
        # the window's pass reads whole spectra's chunks: partitioned as a pass over them, not by the window's
        # bytes alone (a window of a tenth of the channels made one partition of ten chunks, and its progress
        # was reported once, when the read was over; the lazy pass over the whole spectra reported each)
        first = partitions(src)[0]
        packed = run_pass(
            src[..., lo:hi],
            Pass(map=lambda block, rows: plan.estimate(block), name="remove_background.estimate"),
            executor=executor,
            rows=first.stop - first.start,
            progress=progress,
        )
        out = _lazy_subtract(src, packed, plan)
    elif runs_here(executor):
        out = np.empty(src.shape, dtype=plan.out_dtype)

        def map_block(block, rows):
            packed_block = plan.estimate(block[..., lo:hi])
            plan.subtract(block, packed_block, out=out[rows])
            return packed_block

        packed = run_pass(
            src,
            Pass(map=map_block, name="remove_background"),
            executor=executor,
            progress=progress,
            partition_bytes=partition_bytes,
        )
    else:  # the tasks run elsewhere (a cluster): an array written there never reaches this one -- it stayed zero
        def map_parts(block, rows):
            packed_block = plan.estimate(block[..., lo:hi])
            return [(packed_block, plan.subtract(block, packed_block))]

        parts = run_pass(src, Pass(map=map_parts, merge=lambda a, b: a + b, name="remove_background"),
                         executor=executor, progress=progress, partition_bytes=partition_bytes)
        packed = np.concatenate([pk for pk, _ in parts], axis=0)
        out = np.concatenate([o for _, o in parts], axis=0)
    if not s.nav_ndim:
        out = out[0]
        packed = packed[0]

    mask = packed[..., -1] > 0
    _warn_undefined(plan, packed[..., -1])

    n_over = int(np.count_nonzero(plan.overflows(packed) & ~mask))
    if n_over:
        warnings.warn(
            f"remove_background: the {plan.model} fitted in {plan.window_text} is so steep in {n_over} of "
            f"{int(mask.size)} pixel(s) that, extrapolated along the axis, it exceeds the range of "
            f"{np.dtype(plan.out_dtype).name}: those pixels hold infinite values far from the window; fit a "
            "wider window", BackgroundWarning, stacklevel=3)

    result = derive(s, out, s.axes)
    sig_md = result.metadata.get("Signal")
    if isinstance(sig_md, dict) and sig_md.get("counts"):
        sig_md["counts"] = False  # background-subtracted data are no longer Poisson counts
    if not return_params:
        return result
    params = {name: plan.report(packed, j) for j, name in enumerate(plan.names)}
    params["mask"] = mask
    return result, params


def _warn_undefined(plan: _Plan, why: np.ndarray) -> None:
    """One warning per cause of the pixels left without a background (``why``: :data:`_UNUSABLE_COUNTS` or
    :data:`_FIT_FAILED`, 0 where the fit is fine)."""
    n = int(why.size)
    n_counts = int(np.count_nonzero(why == _UNUSABLE_COUNTS))
    if n_counts:
        # a recipe step cannot set return_params: there, advice that removes the cause
        advice = ("A rebin step before this one, or a window where every pixel has counts, leaves none undefined."
                  if in_recipe() else MASK_ADVICE)
        warnings.warn(
            f"remove_background: the {plan.model} background ({plan.fit} fit) is undefined in {n_counts} of {n} "
            f"pixel(s) (zero, negative or non-finite counts in the window {plan.window_text}); their "
            f"background was set to 0. {advice}", BackgroundWarning, stacklevel=4)
    n_failed = int(np.count_nonzero(why == _FIT_FAILED))
    if n_failed:
        cause = ("the counts of the window's two halves differ so much for its width that the two-area estimate "
                 "overflows (|r| in the hundreds)" if plan.model == "powerlaw" and plan.fit == "fast" else
                 "the fit gives no finite parameters")
        warnings.warn(
            f"remove_background: the {plan.model} background ({plan.fit} fit) could not be fitted in {n_failed} of "
            f"{n} pixel(s) although their counts in the window {plan.window_text} are usable: {cause}. Their "
            "background was set to 0; a wider window fits them.",
            BackgroundWarning, stacklevel=4)


MASK_ADVICE = "Use return_params=True to get the mask."  # replaced by callers that mark those pixels themselves

# Why a pixel has no background (the last column of the packed parameters; 0: fitted).
_UNUSABLE_COUNTS = 1.0  # zero, negative or non-finite counts in the window
_FIT_FAILED = 2.0  # usable counts, but the estimate is not finite (an overflow of the two-area formula)


# -- planning ----------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    model: str
    fit: str
    order: int
    lo: int
    hi: int
    x: np.ndarray  # axis values, float64
    w: np.ndarray  # channel width per channel (1 when not binned): the background is model(E) x w
    binned: bool
    zero_fill: bool
    out_dtype: np.dtype
    range: tuple[float, float]
    window_text: str

    @property
    def names(self) -> tuple[str, ...]:
        if self.model == "powerlaw":
            return ("A", "r")
        if self.model == "exponential":
            return ("A", "tau")
        if self.model == "offset":
            return ("offset",)
        return tuple(f"a{k}" for k in range(self.order + 1))

    # Internal parameters, one row per pixel, all of the density model(E) (counts per axis unit when binned):
    #   powerlaw: A, r (HyperSpy convention); exponential: A, tau; offset: the constant;
    #   polynomial: coefficients c0..cN in t = (x - xc) / xs.
    # The packed array carries them plus a last column, why the pixel is masked (_UNUSABLE_COUNTS, _FIT_FAILED) or 0.

    def estimate(self, block: np.ndarray) -> np.ndarray:
        """Packed parameters (..., k + 1) for a block holding the window channels only."""
        lead = block.shape[:-1]
        y = np.asarray(block).reshape(-1, block.shape[-1])
        with np.errstate(all="ignore"):
            if self.model == "powerlaw":
                p, bad = _powerlaw_fast(y, self)
                if self.fit == "weighted":
                    p, bad = _loglinear_weighted(y, self, p, bad)
            elif self.model == "exponential":
                p, bad = _exponential_fast(y, self)
                if self.fit == "weighted":
                    p, bad = _loglinear_weighted(y, self, p, bad)
            elif self.model == "offset":
                # counts over width: the density of a constant (its Poisson maximum likelihood too)
                p = (y.sum(axis=-1, dtype=np.float64) / self.w[self.lo : self.hi].sum())[:, None]
                bad = ~np.isfinite(p[:, 0])
            else:
                p, bad = _polynomial(y, self, weighted=self.fit == "weighted")
            failed = ~bad & ~np.all(np.isfinite(p), axis=1)
            p = np.where((bad | failed)[:, None], _null_params(self, p.shape[1]), p)
        why = np.where(bad, _UNUSABLE_COUNTS, np.where(failed, _FIT_FAILED, 0.0))
        packed = np.concatenate([p, why[:, None]], axis=1)
        return packed.reshape(lead + (packed.shape[1],))

    def background(self, p: np.ndarray) -> np.ndarray:
        """Background (n, n_channels), float64, from internal parameters (n, k).

        Float64 although the output may be float32: the power law and the exponential are evaluated as
        ``exp(log A - r log E)``, whose argument is tens, and float32's relative error there grows with it (0.004
        counts at 1600 counts on a real Velox SI against exspy, 130 x the rounding of the result to float32, a
        reviewer). Only a slice of the pixels is evaluated at a time (:meth:`subtract`)."""
        x = self.x
        with np.errstate(all="ignore"):
            # log A goes inside the exponential: on a short noisy window r (or 1 / tau) can be large enough that
            # E^-r overflows while A underflows to 0, and inf * 0 made every channel NaN although the background
            # itself is well within range (EELS_SI.dm4, window 1500-1510 eV: r 24-57)
            if self.model == "powerlaw":
                pos = x > 0
                logx = np.where(pos, np.log(np.where(pos, x, 1.0)), 0.0)
                bg = np.multiply(-p[:, 1:2], logx[None, :])
                bg += np.log(np.abs(p[:, 0:1]))
                np.exp(bg, out=bg)
                if (p[:, 0] < 0).any():
                    bg *= np.sign(p[:, 0:1])
                bg *= (self.w * pos)[None, :]
            elif self.model == "exponential":
                bg = np.multiply(-1.0 / p[:, 1:2], x[None, :])
                bg += np.log(np.abs(p[:, 0:1]))
                np.exp(bg, out=bg)
                if (p[:, 0] < 0).any():
                    bg *= np.sign(p[:, 0:1])
                bg *= self.w[None, :]
            elif self.model == "offset":
                bg = p[:, 0:1] * self.w[None, :]
            else:
                t = (x - self.xc) / self.xs
                bg = np.broadcast_to(p[:, -1:], (p.shape[0], x.size)).copy()
                for k in range(p.shape[1] - 2, -1, -1):
                    bg *= t[None, :]
                    bg += p[:, k : k + 1]
                bg *= self.w[None, :]
        return bg

    def overflows(self, packed: np.ndarray) -> np.ndarray:
        """True per pixel where the background leaves the output dtype's range somewhere on the axis: a steep
        power law or exponential fitted on a short window, extrapolated far from it."""
        if self.model not in ("powerlaw", "exponential"):
            return np.zeros(packed.shape[:-1], bool)
        p = packed[..., :-1]
        with np.errstate(all="ignore"):
            if self.model == "powerlaw":
                pos = self.x > 0
                u = np.log(self.x[pos]) if pos.any() else np.zeros(1)
                slope = -p[..., 1]
            else:
                pos = np.ones(self.x.size, bool)
                u, slope = self.x, -1.0 / p[..., 1]
            top = np.maximum(slope * u.min(), slope * u.max())
            log_max = np.log(np.abs(p[..., 0])) + top + np.log(np.max(self.w[pos], initial=1.0))
        return log_max > np.log(np.finfo(self.out_dtype).max)

    def subtract(self, block: np.ndarray, packed: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``block - background`` (zero-filled before the window if asked), written into ``out`` if given.

        Works through the pixels in slices of about 1M values so the (float64) temporaries stay small and in cache.
        """
        n_ch = block.shape[-1]
        if out is None:
            out = np.empty(block.shape, dtype=self.out_dtype)
        elif not out.flags.c_contiguous:  # pragma: no cover - slabs of a C-ordered output are contiguous
            out[...] = self.subtract(block, packed)
            return out
        y = np.asarray(block).reshape(-1, n_ch)
        o = out.reshape(-1, n_ch)
        p = packed.reshape(-1, packed.shape[-1])[:, :-1]
        step = max(1, (1 << 20) // max(n_ch, 1))
        for i in range(0, y.shape[0], step):
            sl = slice(i, i + step)
            bg = self.background(p[sl])
            np.subtract(y[sl], bg, out=bg)  # in float64, rounded once to the output dtype
            with np.errstate(over="ignore"):  # a steep extrapolated background: inf, warned of by the caller
                o[sl] = bg
            if self.zero_fill:
                o[sl, : self.lo] = 0
        return out

    def report(self, packed: np.ndarray, j: int) -> np.ndarray:
        """Parameter ``j`` in HyperSpy's convention from the packed array."""
        p = packed[..., :-1]
        if self.model != "polynomial":
            return np.array(p[..., j])
        # polynomial: convert t-basis to x-basis coefficients a0..aN
        return (p @ self.t_to_x)[..., j]

    # polynomial basis (set in _plan)
    xc: float = 0.0
    xs: float = 1.0
    t_to_x: np.ndarray | None = None


def _null_params(plan: _Plan, k: int) -> np.ndarray:
    """Parameters that give a zero background."""
    z = np.zeros(k)
    if plan.model == "exponential":
        z[1] = 1.0
    return z


def _is_binned(s, binned):
    if binned is not None:
        return bool(binned)
    md = s.metadata.get("Signal", {}) if isinstance(s.metadata, dict) else {}
    if isinstance(md, dict) and md.get("binned") is not None:
        return bool(md["binned"])
    st = (s.signal_type or "").upper()
    return st.startswith("EELS") or st.startswith("EDS")


def _out_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.dtype(np.float64) if dtype.itemsize >= 8 else np.dtype(np.float32)
    if dtype.kind in "biu":
        return np.dtype(np.float64) if dtype.itemsize >= 8 else np.dtype(np.float32)
    raise DataError(f"remove_background needs real-valued data, not {dtype}")


def _plan(s, signal_range, model, order, fit, zero_fill, binned) -> _Plan:
    if s.sig_ndim != 1:
        raise AxisError(
            f"remove_background needs exactly one signal axis; {s!r} has {s.sig_ndim} "
            "(use transpose(signal_axes=...) to choose the spectral axis)"
        )
    model = model_name(model)
    check_fit(fit)
    check_order(order, {"model": model})
    order = int(order)
    ax = s.sig_axes[0]
    check_ascending(ax, "remove_background")
    out_dtype = _out_dtype(s.dtype)
    n = ax.size
    u = f" {ax.units}" if ax.units else ""

    check_signal_range(signal_range)
    v1, v2 = (ax.low, ax.high) if isinstance(signal_range, str) else (float(v) for v in signal_range)
    half = abs(ax.scale) / 2 if ax.is_uniform else 0.0
    tol = half + 1e-9 * max(abs(ax.scale), 1e-300)
    # the window may end where a slice may (Axis.stop_to_index: up to one channel past the last), and there, as
    # in HyperSpy (value_range_to_indices), it stops at the last channel: (100, 130) on an axis ending at 129.8
    # fits what (100, 129.8) fits
    if v1 < ax.low - tol or v2 > ax.high + 2 * tol:
        inside = v2 >= ax.low and v1 <= ax.high  # partly: it is the end past the axis that is wrong
        raise AxisError(
            f"signal_range ({v1:g}, {v2:g}){u} {'extends past' if inside else 'is outside'} the {ax.name!r} axis, "
            f"which spans {ax.describe_range()}"
        )
    i1, i2 = sorted((ax.value_to_index(v1), min(ax.stop_to_index(v2), n - 1)))
    width = i2 - i1
    min_width, what = _min_channels(model, order)
    if width < min_width:
        raise AxisError(
            f"signal_range ({v1:g}, {v2:g}){u} covers {width} channel(s) of the {ax.name!r} axis "
            f"(channel width {abs(ax.scale):g}{u}); {what} needs at least {min_width}"
        )
    if model == "powerlaw":
        # HyperSpy: the two halves must have the same number of channels
        if (i1 + i2) % 2:
            i2 -= 1
    x = np.asarray(ax.values, dtype=np.float64)
    if model == "powerlaw" and np.any(x[i1 : i2 + 1] <= 0):
        raise AxisError(
            f"a power-law background needs positive {ax.name!r} values in the window; ({v1:g}, {v2:g}){u} "
            f"reaches {x[i1]:g}{u}"
        )
    is_binned = _is_binned(s, binned)
    if is_binned:
        w = np.full(n, abs(ax.scale)) if ax.is_uniform else np.abs(np.gradient(x))
    else:
        w = np.ones(n)
    plan = _Plan(
        model=model,
        fit=fit,
        order=order,
        lo=i1,
        hi=i2,
        x=x,
        w=w,
        binned=is_binned,
        zero_fill=bool(zero_fill),
        out_dtype=out_dtype,
        range=(v1, v2),
        window_text=f"[{x[i1]:g}, {x[i2]:g}){u}",
    )
    if model == "polynomial":
        xw = x[i1:i2]
        plan.xc = float(xw.mean())
        plan.xs = float(max(np.ptp(xw) / 2, 1e-300))
        plan.t_to_x = _t_to_x(order, plan.xc, plan.xs)
    return plan


def _min_channels(model: str, order: int) -> tuple[int, str]:
    """The fewest channels a window may have for the model, and the model in words. The power law's two-area
    estimate compares the sums of two halves; with one channel each (a 2-channel window) their noise alone
    gave r from -84 to +118 and backgrounds of -5.7e32, so each half needs 2, as in HyperSpy (which fails on
    fewer)."""
    if model == "polynomial":
        return max(2, order + 1), f"a degree-{order} polynomial"
    if model == "powerlaw":
        return 4, "the powerlaw model (two halves of at least 2 channels)"
    return 2, f"the {model} model"


def _t_to_x(order: int, xc: float, xs: float) -> np.ndarray:
    """Matrix M with a = c @ M: coefficients in t = (x - xc) / xs to coefficients in x (increasing powers)."""
    from numpy.polynomial import polynomial as P

    m = np.zeros((order + 1, order + 1))
    base = np.array([-xc / xs, 1.0 / xs])  # t as a polynomial in x
    term = np.array([1.0])
    for j in range(order + 1):
        m[j, : term.size] = term
        term = P.polymul(term, base)
    return m


# -- fast estimates (HyperSpy's formulas) --------------------------------------------------------------------
def _powerlaw_fast(y: np.ndarray, plan: _Plan):
    """Two-area method: PowerLaw.estimate_parameters with x1 = E[i1], x2 = x3 = E[mid], x4 = E[i2]."""
    m = y.shape[1]  # channels i1 .. i2 - 1
    h = m // 2
    x = plan.x
    i1, i4 = plan.lo, plan.hi
    i3 = (i1 + i4) // 2
    x1, x2, x3, x4 = x[i1], x[i3], x[i3], x[i4]
    if plan.binned:
        I1 = y[:, :h].sum(axis=1, dtype=np.float64)
        I2 = y[:, h:].sum(axis=1, dtype=np.float64)
    else:
        from scipy.integrate import simpson

        yf = y.astype(np.float64, copy=False)
        I1 = simpson(yf[:, :h], x=x[i1:i3], axis=1)
        I2 = simpson(yf[:, h:], x=x[i3:i4], axis=1)
    r = 2 * np.log(I1 / I2 * (x4 - x3) / (x2 - x1)) / np.log(x4 * x3 / x2 / x1)
    k = 1 - r
    A1 = k * I1 / (x2**k - x1**k)
    A2 = k * I2 / (x4**k - x3**k)
    A = (A1 * I1 + A2 * I2) / (I1 + I2)
    return np.stack([A, r], axis=1), ~((I1 > 0) & (I2 > 0))


def _exponential_fast(y: np.ndarray, plan: _Plan):
    """Exponential.estimate_parameters: geometric means of the two half windows."""
    x = plan.x
    i1, i2 = plan.lo, plan.hi
    imid = (i1 + i2) // 2
    h = imid - i1
    yf = y.astype(np.float64, copy=False)
    bad = ~np.all(yf > 0, axis=1)
    # the geometric means of the density (counts over width; on a uniform axis HyperSpy's A / scale)
    ly = np.log(np.where(yf > 0, yf, 1.0)) - np.log(plan.w[i1:i2])
    lg1 = ly[:, :h].mean(axis=1)
    lg2 = ly[:, h:].mean(axis=1)
    xa = (x[i1] + x[imid]) / 2
    xb = (x[imid] + x[i2]) / 2
    logA = (lg1 - (xa / xb) * lg2) / (1 - xa / xb)
    tau = -xb / (lg2 - logA)
    return np.stack([np.exp(logA), tau], axis=1), bad


def _polynomial(y: np.ndarray, plan: _Plan, weighted: bool):
    """Least squares of the counts by ``width x polynomial`` in t = (x - xc) / xs (np.polyfit's solution divided by
    the channel width on a uniform axis); ``weighted`` iterates with weights 1/mu."""
    x = plan.x[plan.lo : plan.hi]
    t = (x - plan.xc) / plan.xs
    V = np.vander(t, plan.order + 1, increasing=True) * plan.w[plan.lo : plan.hi, None]  # (m, K)
    yf = y.astype(np.float64, copy=False)
    c = yf @ np.linalg.pinv(V).T  # (n, K)
    bad = ~np.all(np.isfinite(c), axis=1)
    if weighted:
        K = V.shape[1]
        outer = (V[:, :, None] * V[:, None, :]).reshape(V.shape[0], K * K)
        floor = 0.05 * np.abs(yf).mean(axis=1, keepdims=True) + 1e-12
        for _ in range(4):
            mu = c @ V.T
            wts = 1.0 / np.maximum(mu, floor)
            M = (wts @ outer).reshape(-1, K, K)
            rhs = (wts * yf) @ V
            ok = np.isfinite(M).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
            M[~ok] = np.eye(K)
            rhs[~ok] = 0
            try:
                c_new = np.linalg.solve(M, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                c_new = np.stack(
                    [np.linalg.lstsq(Mi, ri, rcond=None)[0] for Mi, ri in zip(M, rhs, strict=True)]
                )
            c = np.where(ok[:, None], c_new, c)
    return c, bad


# -- Poisson-weighted fits of log-linear models -------------------------------------------------------------
def _loglinear_weighted(y: np.ndarray, plan: _Plan, p0: np.ndarray, bad0: np.ndarray, max_iter: int = 60):
    """Poisson maximum likelihood of ``mu_i = w_i exp(a + b u_i)`` by Newton / IRLS, vectorised over pixels.

    ``u`` is ``log E`` (power law) or ``E`` (exponential), centred and scaled; each step solves the 2x2 normal
    equations of the Poisson-weighted least-squares problem (weights mu) in closed form.
    """
    x = plan.x[plan.lo : plan.hi]
    raw = np.log(x) if plan.model == "powerlaw" else x
    uc = float(raw.mean())
    us = float(raw.std()) or 1.0
    u = (raw - uc) / us
    off = np.log(plan.w[plan.lo : plan.hi]) if plan.binned else np.zeros_like(u)
    yf = y.astype(np.float64, copy=False)
    total = yf.sum(axis=1)
    bad = ~(total > 0) | ~np.all(np.isfinite(yf), axis=1)

    # Start: the slope from the fast estimate where it is usable, else flat; the level by profiling a.
    if plan.model == "powerlaw":
        b = -p0[:, 1] * us
    else:
        b = np.where(p0[:, 1] != 0, -us / p0[:, 1], 0.0)
    b = np.where(bad0 | ~np.isfinite(b), 0.0, np.clip(b, -10.0, 10.0))
    e = np.exp(np.clip(b[:, None] * u[None, :] + off[None, :], -700, 700))
    a = np.log(np.where(bad, 1.0, total) / e.sum(axis=1))

    active = ~bad
    uu = u * u
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        eta = a[idx, None] + b[idx, None] * u[None, :] + off[None, :]
        mu = np.exp(np.minimum(eta, 700.0))
        res = yf[idx] - mu
        g0 = res.sum(axis=1)
        g1 = res @ u
        h00 = mu.sum(axis=1)
        h01 = mu @ u
        h11 = mu @ uu
        det = h00 * h11 - h01 * h01
        da = (h11 * g0 - h01 * g1) / det
        db = (h00 * g1 - h01 * g0) / det
        # damp long steps (far from the optimum the quadratic model can overshoot)
        step = np.minimum(1.0, 1.0 / np.maximum(np.abs(db), 1e-300))
        step = np.minimum(step, 5.0 / np.maximum(np.abs(da), 1e-300))
        fin = np.isfinite(da) & np.isfinite(db) & (det > 0)
        step = np.where(fin, step, 0.0)
        a[idx] += step * np.where(fin, da, 0.0)
        b[idx] += step * np.where(fin, db, 0.0)
        done = ~fin | ((np.abs(da) < 1e-10) & (np.abs(db) < 1e-10))
        a[idx[~fin]] = np.nan  # a failed step: no parameters (reported as a failed fit, not as bad counts)
        active[idx[done]] = False
    if plan.model == "powerlaw":
        r = -b / us
        A = np.exp(a - b * uc / us)
        return np.stack([A, r], axis=1), bad
    with np.errstate(divide="ignore"):
        tau = np.where(b != 0, -us / b, np.inf)
    A = np.exp(a - b * uc / us)
    return np.stack([A, tau], axis=1), bad


# -- lazy output --------------------------------------------------------------------------------------------
def _lazy_subtract(src, packed: np.ndarray, plan: _Plan):
    """``src - background`` as a dask array over whole-spectrum chunks, with the eager parameter maps."""
    d = src.rechunk({src.ndim - 1: -1})

    def fn(block, block_info=None):
        loc = block_info[0]["array-location"][:-1]
        sl = tuple(slice(a, b) for a, b in loc)
        return plan.subtract(block, packed[sl])

    return d.map_blocks(fn, dtype=plan.out_dtype)
