"""remove_background: HyperSpy agreement (fast), ground truth, weighted fits, masks, errors, dtypes,
laziness."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import AxisError
from emscale.spectroscopy.background import BackgroundWarning, remove_background
from emscale.workflows import samples

WINDOW = (70.2, 97.2)
MODELS = ("powerlaw", "exponential", "offset", "polynomial")
HS_NAMES = {
    "powerlaw": "Power law",
    "exponential": "Exponential",
    "offset": "Offset",
    "polynomial": "Polynomial",
}


@pytest.fixture(scope="module")
def small():
    return samples.eels_si(shape=(12, 14), seed=3)


def _plain(s, data=None, signal_type="EELS", metadata=None):
    return em.Signal(
        s.data if data is None else data,
        axes=s.axes,
        signal_type=signal_type,
        metadata=metadata if metadata is not None else {},
    )


def _edge_slice(truth, lo=94.5, hi=110.1):
    E = truth["energy"]
    return slice(int(np.argmin(abs(E - lo))), int(np.argmin(abs(E - hi))))


# -- peer cross-checks --------------------------------------------------------------------------------------
def _hs_signal(hs, s, binned):
    h = hs.signals.Signal1D(np.asarray(s.data))
    ax = h.axes_manager.signal_axes[0]
    a = s.sig_axes[0]
    ax.scale, ax.offset, ax.units = a.scale, a.offset, a.units
    ax.is_binned = binned
    return h


@pytest.mark.peer
@pytest.mark.parametrize("binned", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_fast_matches_hyperspy(small, model, binned):
    hs = pytest.importorskip("hyperspy.api")
    s, _ = small
    h = _hs_signal(hs, s, binned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ho, hm = h.remove_background(
            signal_range=WINDOW,
            background_type=HS_NAMES[model],
            polynomial_order=2,
            fast=True,
            show_progressbar=False,
            return_model=True,
        )
    out, params = remove_background(
        _plain(s), WINDOW, model=model, order=2, binned=binned, return_params=True
    )
    data = s.data.astype(np.float64)
    bg_hs = data - ho.data
    bg_em = data - out.data
    # float32 output: compare the subtracted background relative to its size
    np.testing.assert_allclose(bg_em, bg_hs, rtol=1e-4, atol=1e-4 * np.abs(bg_hs).max())
    comp = hm[0]
    for name in params:
        if name == "mask":
            assert not params[name].any()
            continue
        ref = (
            comp.parameters_dict[name]
            if hasattr(comp, "parameters_dict")
            else getattr(comp, name).map["values"]
        )
        np.testing.assert_allclose(params[name], ref, rtol=1e-4, atol=1e-10 * np.abs(ref).max(), err_msg=name)


@pytest.mark.peer
def test_zero_fill_matches_hyperspy(small):
    hs = pytest.importorskip("hyperspy.api")
    s, _ = small
    h = _hs_signal(hs, s, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ho = h.remove_background(signal_range=WINDOW, fast=True, zero_fill=True, show_progressbar=False)
    out = s.remove_background(WINDOW, zero_fill=True)
    lo = s.sig_axes[0].value_to_index(WINDOW[0])
    assert np.all(out.data[..., :lo] == 0) and np.all(ho.data[..., :lo] == 0)
    np.testing.assert_allclose(out.data, ho.data, rtol=1e-4, atol=1e-3 * np.abs(ho.data).max())


# -- ground truth
# ---------------------------------------------------------------------------------------------
def test_power_law_recovered_at_high_counts():
    s, truth = samples.eels_si(shape=(8, 10), dose=1e6, seed=1)
    sl = _edge_slice(truth)
    bg_true = samples.powerlaw_background(truth)[..., sl]
    for fit, tol_r in (("fast", 0.01), ("weighted", 0.002)):
        out, p = s.remove_background(WINDOW, fit=fit, return_params=True)
        assert np.max(np.abs(p["r"] / truth["r"] - 1)) < tol_r, fit
        bg = (s.data.astype(np.float64) - out.data)[..., sl]
        assert np.max(np.abs(bg / bg_true - 1)) < 0.01, fit


def test_weighted_beats_fast_at_low_counts():
    s, truth = samples.eels_si(shape=(32, 40), dose=5.0, seed=2)
    sl = _edge_slice(truth)
    bg_true = samples.powerlaw_background(truth)[..., sl]
    rmse = {}
    for fit in ("fast", "weighted"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BackgroundWarning)
            out, p = s.remove_background(WINDOW, fit=fit, return_params=True)
        bg = (s.data.astype(np.float64) - out.data)[..., sl]
        rmse[fit] = float(np.sqrt(np.mean((bg - bg_true) ** 2)))
        rmse[fit + "_r"] = float(np.sqrt(np.mean((p["r"] - truth["r"]) ** 2)))
    assert rmse["weighted"] < 0.95 * rmse["fast"], rmse
    assert rmse["weighted_r"] < rmse["fast_r"], rmse


@pytest.mark.parametrize("model", MODELS)
def test_weighted_exact_on_noise_free_model(model):
    E = 50 + 0.2 * np.arange(400)
    A = np.array([[2e7, 5e7], [1e7, 3e7]])
    r = np.array([[3.0, 2.5], [3.5, 2.8]])
    if model == "powerlaw":
        mu = 0.2 * A[..., None] * E ** -r[..., None]
    elif model == "exponential":
        mu = 0.2 * A[..., None] * 1e-5 * np.exp(-E / (10 * r[..., None]))
    elif model == "offset":
        mu = np.broadcast_to(r[..., None] * 100, A.shape + E.shape).copy()
    else:
        mu = 1e3 + 5 * (E - 60) + 0.2 * (E - 70) ** 2 * r[..., None]
    s = em.Signal(
        mu,
        axes=[
            {"name": "y", "navigate": True},
            {"name": "x", "navigate": True},
            {"name": "E", "scale": 0.2, "offset": 50.0, "units": "eV"},
        ],
        signal_type="EELS",
    )
    out = s.remove_background(WINDOW, model=model, fit="weighted")
    assert np.max(np.abs(out.data)) < 1e-5 * np.max(mu)


@pytest.mark.parametrize("model, fit, tol", [("offset", "fast", 1e-9), ("polynomial", "fast", 1e-9),
                                             ("polynomial", "weighted", 1e-9), ("exponential", "weighted", 1e-9),
                                             ("powerlaw", "weighted", 1e-9), ("exponential", "fast", 0.03),
                                             ("powerlaw", "fast", 1e-4)])
def test_non_uniform_binned_axis_subtracts_density_times_channel_width(model, fit, tol):
    """Counts per channel of a density on an axis uniform in wavelength (channel widths 0.0026-0.010 eV): the
    offset was the window's mean counts, subtracted as the same counts in every channel (residual 236 on 130-517
    counts per channel), the polynomial and the exponential were fitted to counts rather than to densities
    (residuals 37 and 7.6). Every model now fits and subtracts model(E) x width(E)."""
    energy = np.sort(1239.84 / np.linspace(400.0, 800.0, 300))
    width = np.abs(np.gradient(energy))
    density = {"offset": 5e4 + 0 * energy, "polynomial": 5e4 + 2e4 * (energy - 2.3) + 1e4 * (energy - 2.3) ** 2,
               "exponential": 5e4 * np.exp(-energy / 0.7), "powerlaw": 5e4 * energy**-2.0}[model]
    counts = np.tile(density * width, (3, 1))
    s = em.Signal(counts, axes=[{"name": "x", "navigate": True}, {"name": "E", "coords": energy, "units": "eV"}],
                  signal_type="EELS")
    out, params = s.remove_background((2.0, 2.6), model=model, fit=fit, return_params=True)
    assert np.abs(out.data).max() < tol * counts.min(), np.abs(out.data).max()
    if model == "offset":
        assert params["offset"][0] == pytest.approx(5e4, rel=1e-12)  # counts per eV (HyperSpy's guess: 54060)
    if model == "polynomial":
        np.testing.assert_allclose([params[f"a{k}"][0] for k in range(3)], [56900.0, -26000.0, 1e4], rtol=1e-9)


# -- undefined pixels ----------------------------------------------------------------------------------------
def test_undefined_pixels_masked_with_one_warning(small):
    s, _ = small
    d = s.data.copy()
    lo, hi = (s.sig_axes[0].value_to_index(v) for v in WINDOW)
    d[2, 3, lo:hi] = 0
    d[5, 7, lo : (lo + hi) // 2] = 0
    sig = _plain(s, d)
    for fit in ("fast", "weighted"):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out, p = sig.remove_background(WINDOW, fit=fit, return_params=True)
        msgs = [x for x in w if issubclass(x.category, BackgroundWarning)]
        n_expected = 2 if fit == "fast" else 1  # the weighted fit still fits one zero half-window
        assert len(msgs) == 1 and f"{n_expected} of {12 * 14}" in str(msgs[0].message), [
            str(m.message) for m in w
        ]
        assert p["mask"].sum() == n_expected and p["mask"][2, 3]
        assert np.all(np.isfinite(out.data))
        np.testing.assert_array_equal(out.data[2, 3], d[2, 3].astype(np.float32))  # background 0 there
        assert p["A"][2, 3] == 0 and p["r"][2, 3] == 0


def test_a_power_law_window_needs_two_channels_per_half():
    """A 2-channel window (one channel per half of the two-area estimate) gave r from -84 to +118 and backgrounds
    of -5.7e32, mostly without a warning; HyperSpy fails on fewer than 4 channels."""
    energy = 200.0 + 0.5 * np.arange(400)
    counts = np.random.default_rng(0).poisson(np.tile(2e10 * energy**-3.0 * 0.5, (20, 1))).astype(np.float32)
    s = em.Signal(counts, axes=[{"name": "x", "navigate": True},
                                {"name": "E", "scale": 0.5, "offset": 200.0, "units": "eV"}], signal_type="EELS")
    for window in ((300.0, 301.0), (300.0, 301.5)):
        with pytest.raises(AxisError, match=r"covers [23] channel\(s\).*powerlaw model .* needs at least 4"):
            s.remove_background(window)
    s.remove_background((300.0, 302.0), model="exponential")  # a window of 4 is enough; 2 for other models
    s.remove_background((300.0, 301.0), model="exponential")


def test_an_overflowing_two_area_estimate_is_not_blamed_on_the_counts():
    """Window halves of 20 and 60 counts 1 eV apart at 300 eV: r = -331, E^(1 - r) overflows and A is NaN. The
    warning said 'zero, negative or non-finite counts'; it now names the overflow."""
    data = np.full((2, 40), 50.0)
    data[0, 20:24] = [10.0, 10.0, 30.0, 30.0]
    s = em.Signal(data, axes=[{"name": "x", "navigate": True},
                              {"name": "E", "scale": 0.5, "offset": 290.0, "units": "eV"}], signal_type="EELS")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out, p = s.remove_background((300.0, 302.0), return_params=True)
    msgs = [str(x.message) for x in w if issubclass(x.category, BackgroundWarning)]
    assert len(msgs) == 1 and "could not be fitted in 1 of 2 pixel(s)" in msgs[0] and "overflows" in msgs[0], msgs
    assert "non-finite counts" not in msgs[0]
    assert p["mask"].tolist() == [True, False]
    np.testing.assert_array_equal(out.data[0], data[0])  # background 0 there


def test_no_warning_when_all_defined(small):
    s, _ = small
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.remove_background(WINDOW)


# -- bad input -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rng, match",
    [
        ((40.0, 97.2), "extends past"),  # one end on the axis (it said "is outside")
        ((70.2, 400.0), "extends past"),
        ((400.0, 450.0), "is outside"),
        ((97.2, 70.2), "reversed"),
        ((80.0, 80.0), "reversed"),
        ((80.0, 80.25), "at least 2"),
        (("a", 3), "two numbers"),
        ((1.0,), "two numbers"),
    ],
)
def test_bad_signal_range(small, rng, match):
    s, _ = small
    with pytest.raises(AxisError, match=match):
        s.remove_background(rng)


def test_bad_options(small):
    s, _ = small
    with pytest.raises(ValueError, match="unknown background model"):
        s.remove_background(WINDOW, model="lorentzian")
    with pytest.raises(ValueError, match="unknown fit"):
        s.remove_background(WINDOW, fit="slow")
    with pytest.raises(AxisError, match="needs at least 4"):
        s.remove_background((80.0, 80.6), model="polynomial", order=3)
    img = em.Signal(
        np.ones((4, 5, 6)),
        axes=[{"name": "z", "navigate": True}, {"name": "y", "navigate": False}, {"name": "x"}],
    )
    with pytest.raises(AxisError, match="one signal axis"):
        remove_background(img, (1.0, 3.0))
    neg = em.Signal(
        np.ones((3, 50)), axes=[{"name": "x", "navigate": True}, {"name": "E", "offset": -10.0, "scale": 1.0}]
    )
    with pytest.raises(AxisError, match="positive"):
        neg.remove_background((-5.0, 20.0))
    neg.remove_background((-5.0, 20.0), model="polynomial")  # fine for a polynomial


# -- dtypes, laziness, layout -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype, out",
    [
        (np.uint16, np.float32),
        (np.int32, np.float32),
        (np.uint32, np.float32),
        (np.int64, np.float64),
        (np.float32, np.float32),
        (np.float64, np.float64),
    ],
)
def test_integer_and_float_input(small, dtype, out):
    s, _ = small
    sig = _plain(s, s.data.astype(dtype))
    res = sig.remove_background(WINDOW)
    assert res.dtype == out
    ref = _plain(s, s.data.astype(np.float64)).remove_background(WINDOW)
    np.testing.assert_allclose(res.data, ref.data, rtol=1e-4, atol=1e-4 * np.abs(ref.data).max())


@pytest.mark.parametrize("fit", ["fast", "weighted"])
@pytest.mark.parametrize("model", MODELS)
def test_lazy_equals_in_memory(small, model, fit):
    s, _ = small
    lazy = s.as_lazy(chunks=(5, 14, 1024))
    a, pa = s.remove_background(WINDOW, model=model, fit=fit, zero_fill=True, return_params=True)
    b, pb = lazy.remove_background(WINDOW, model=model, fit=fit, zero_fill=True, return_params=True)
    assert b.is_lazy and not a.is_lazy
    np.testing.assert_array_equal(a.data, b.to_numpy())
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


def test_executors_agree(small):
    s, _ = small
    with em.engine.executor_context("inline"):
        a = s.remove_background(WINDOW, fit="weighted")
    with em.engine.executor_context(em.ThreadExecutor(n_workers=3)):
        from emscale.engine import passes

        b = remove_background(s, WINDOW, fit="weighted")
        assert passes.last_report().name == "remove_background"
    np.testing.assert_array_equal(a.data, b.data)


def test_single_spectrum_and_line_scan(small):
    s, _ = small
    spec = s.inav[3, 4]
    line = s.inav[:, 4]
    a = spec.remove_background(WINDOW)
    b = line.remove_background(WINDOW)
    c = s.remove_background(WINDOW)
    assert a.shape == (1024,) and b.shape == (14, 1024)
    np.testing.assert_allclose(a.data, c.data[4, 3], rtol=1e-6)
    np.testing.assert_allclose(b.data, c.data[4], rtol=1e-6)


def test_zero_fill_and_metadata(small):
    s, _ = small
    out = s.remove_background(WINDOW, zero_fill=True)
    lo = s.sig_axes[0].value_to_index(WINDOW[0])
    assert np.all(out.data[..., :lo] == 0) and np.any(out.data[..., lo] != 0)
    assert out.metadata["Signal"]["counts"] is False and s.metadata["Signal"]["counts"] is True
    assert out.axes == s.axes


def test_history_and_replay(small, tmp_path):
    s, _ = small
    path = tmp_path / "cube.zarr"
    s.save(path)
    loaded = em.load(path)
    out = loaded.remove_background(WINDOW, model="polynomial", order=1, fit="weighted", zero_fill=True)
    last = out.history[-1]
    assert last["op"] == "remove_background"
    assert last["params"]["model"] == "polynomial" and last["params"]["fit"] == "weighted"
    again = em.replay(out.history)
    np.testing.assert_array_equal(again.data, out.data)


@pytest.mark.parametrize("model", ["powerlaw", "exponential"])
def test_a_steep_fit_on_a_short_window_stays_finite_in_float32(model):
    """A steep background fitted on a few channels (r 24-57 on EELS_SI.dm4 at 1500-1510 eV): A alone overflows
    float32 and E^-r underflows to 0, and their product made every channel NaN though the background is in range."""
    x = np.linspace(300.0, 2347.0, 2048)
    truth = 1e3 * ((x / 1500.0) ** -30.0 if model == "powerlaw" else np.exp(-(x - 1500.0) / 15.0))
    axes = [{"name": "Energy loss", "scale": float(x[1] - x[0]), "offset": 300.0, "units": "eV"}]
    s = em.Signal(np.stack([truth, 2 * truth]).astype(np.float32), axes=[{"name": "x", "navigate": True}, *axes],
                  signal_type="EELS")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither undefined nor out of range
        out = np.asarray(remove_background(s, signal_range=(1500.0, 1510.0), model=model, binned=False).data)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    wide = em.Signal(s.data.astype(np.float64), axes=s.axes, signal_type="EELS")  # the same fit in float64
    ref = np.asarray(remove_background(wide, signal_range=(1500.0, 1510.0), model=model, binned=False).data)
    assert np.allclose(out, ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())


def test_a_background_beyond_the_output_range_is_named_in_a_warning():
    x = np.linspace(300.0, 2347.0, 2048)
    truth = 1e3 * (x / 2300.0) ** -80.0  # 7.7^80 times the window's level at 300 eV: beyond float32
    axes = [{"name": "Energy loss", "scale": float(x[1] - x[0]), "offset": 300.0, "units": "eV"}]
    s = em.Signal(np.minimum(truth, 1e30)[None].astype(np.float32), axes=[{"name": "x", "navigate": True}, *axes],
                  signal_type="EELS")
    with pytest.warns(BackgroundWarning, match=r"so steep in 1 of 1 pixel\(s\).*exceeds the range of float32"):
        remove_background(s, signal_range=(2300.0, 2320.0), binned=False)


def test_an_order_with_a_model_that_has_none_is_refused(small, tmp_path):
    """``order=3`` with the power law was ignored without a word, in a call and in a recipe (a reviewer)."""
    s, _ = small
    with pytest.raises(ValueError, match="order=3 is the degree of a polynomial background"):
        s.remove_background(WINDOW, order=3)
    with pytest.raises(ValueError, match="non-negative integer"):
        s.remove_background(WINDOW, model="polynomial", order=-1)
    from emscale.core.registry import get
    with pytest.raises(ValueError, match="model='exponential' has none"):
        get("remove_background").check("order", 1, {"model": "exp", "order": 1})
    s.remove_background(WINDOW, order=2)  # the default, in every recorded step: accepted with any model


@pytest.mark.parametrize("model", ["powerlaw", "exponential", "polynomial"])
def test_integer_counts_are_rounded_once_to_float32(model):
    """The background of integer counts is evaluated in float64 and the difference rounded once to float32: the
    power law in float32 (``exp`` of an argument of tens) was 130 x the rounding off exspy's result (a reviewer:
    0.004 counts at 1600 counts)."""
    rng = np.random.default_rng(7)
    e = np.linspace(100.0, 900.0, 1600)
    expected = 2.0e9 * e ** -2.7 + 50.0 * (e > 500)
    data = rng.poisson(np.broadcast_to(expected, (6, 5, e.size))).astype(np.uint16)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "E", "offset": 100.0, "scale": float(e[1] - e[0]), "units": "eV"}]
    res = em.Signal(data, axes=axes).remove_background((120.0, 300.0), model=model)
    ref = em.Signal(data.astype(np.float64), axes=axes).remove_background((120.0, 300.0), model=model)
    assert res.dtype == np.float32
    ulp = np.spacing(np.abs(ref.data).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(res.data - ref.data) / ulp) <= 0.5 + 1e-6


@pytest.mark.peer
@pytest.mark.parametrize("model", MODELS)
def test_a_window_may_end_at_the_axis_end_as_in_hyperspy(small, model):
    # signal_range=(x, axis end) was refused ("outside the axis"); HyperSpy takes it and stops at the last channel
    hs = pytest.importorskip("hyperspy.api")
    s, _ = small
    ax = s.sig_axes[0]
    last, end = ax.high, ax.high + ax.scale
    start = round(last - 40 * ax.scale, 6)
    ours = s.remove_background((start, end), model=model)
    np.testing.assert_array_equal(ours.data, s.remove_background((start, last), model=model).data)
    h = _hs_signal(hs, s, True)
    h.set_signal_type("EELS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = h.remove_background(signal_range=(start, end), background_type=HS_NAMES[model], fast=True,
                                     show_progressbar=False)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-5, atol=1e-3 * float(np.abs(theirs.data).max()))
    # a window of which one end lies past the axis "extends past" it (it said "is outside" of (470, 490) on an
    # axis from 480 eV, which a new user read as wrong); one wholly beyond it "is outside"
    with pytest.raises(AxisError, match=r"\) eV extends past the 'Energy loss' axis"):
        s.remove_background((start, end + ax.scale), model=model)
    with pytest.raises(AxisError, match=r"\) eV is outside the 'Energy loss' axis"):
        s.remove_background((end + 10 * ax.scale, end + 50 * ax.scale), model=model)


def test_a_lazy_background_reports_its_progress_chunk_by_chunk(small, monkeypatch):
    """On lazy data the background's pass reads only the window, and its partitions were sized by the window's
    bytes: a window of 13 % of the channels put the whole map's chunks into one partition, so its progress came
    once, when the read was over (the code review: no bar on a lazy map where the other lazy operations show
    one). Partitioned as a pass over the whole spectra: one report per chunk, as ``normalise`` gives, and the
    same numbers."""
    from emscale.engine import passes

    s, _ = small
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 2 * 14 * 1024 * 8)  # two rows of float64 spectra
    eager = em.Signal(s.data.astype(np.float64), axes=s.axes, signal_type="EELS")
    lazy = eager.as_lazy(chunks=(2, 14, 1024))
    seen, other = [], []
    out = lazy.remove_background(WINDOW, progress=lambda done, total: seen.append((done, total)))
    lazy.normalise(progress=lambda done, total: other.append((done, total)))
    assert len(other) == 6 and len(seen) == 6, (other, seen)  # was 1: [(180096, 180096)]
    n = seen[-1][1]
    assert [d for d, _ in seen] == [n * (i + 1) // 6 for i in range(6)] and all(t == n for _, t in seen)
    np.testing.assert_array_equal(out.to_numpy(), eager.remove_background(WINDOW).to_numpy())
