"""The decompose driver: laziness, masks, Poisson weighting by default, input checks, the method plug-ins."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale import DataError
from emscale.decomposition import decompose


@pytest.mark.parametrize("method", ["pca", "nmf"])
def test_lazy_equals_in_memory(cube, method):
    s, _ = cube
    lz = s.as_lazy(chunks=(5, 20, 128))
    kw = dict(n_components=3, max_iter=40) if method == "nmf" else dict(n_components=3)
    a = decompose(s, method, **kw)
    b = decompose(lz, method, **kw)
    np.testing.assert_allclose(b.eigenvalues, a.eigenvalues, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b.factors_array, a.factors_array, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.loadings_array, a.loadings_array, rtol=1e-8, atol=1e-9)
    rb = b.reconstruct(2)
    assert rb.is_lazy
    np.testing.assert_allclose(rb.to_numpy(), a.reconstruct(2).data, rtol=1e-8, atol=1e-9)


def _masks(s):
    """The first three rows of pixels and the first ten channels masked."""
    nav = np.zeros(s.data.shape[:2], bool)
    nav[:3] = True
    sig = np.zeros(128, bool)
    sig[:10] = True
    return nav, sig


def test_masks(cube):
    s, _ = cube
    nav, sig = _masks(s)
    d = decompose(s, "pca", n_components=3, navigation_mask=nav, signal_mask=sig)
    assert np.isnan(d.loadings.data[:, :3]).all() and np.isfinite(d.loadings.data[:, 3:]).all()
    assert np.isnan(d.factors.data[:, :10]).all() and np.isfinite(d.factors.data[:, 10:]).all()
    x = s.data[3:, :, 10:].reshape(-1, 118).astype(float)
    ag, bh = x.sum(1), x.sum(0)
    sv = np.linalg.svd(x / np.sqrt(ag)[:, None] / np.sqrt(bh), compute_uv=False) ** 2
    np.testing.assert_allclose(d.eigenvalues, sv, rtol=1e-5, atol=1e-12 * sv[0])


def test_masks_given_as_signals_are_recorded_as_their_numbers(cube):
    # the docstring allows Signals; recording one raised a TypeError after the whole decomposition had run
    s, _ = cube
    nav, sig = _masks(s)
    d = decompose(s, "pca", n_components=3, navigation_mask=em.Signal(nav), signal_mask=em.Signal(sig))
    plain = decompose(s, "pca", n_components=3, navigation_mask=nav, signal_mask=sig)
    np.testing.assert_array_equal(d.factors_array, plain.factors_array)
    assert d.history[-1]["params"]["navigation_mask"] == plain.history[-1]["params"]["navigation_mask"]


def test_signal_method_and_counts_metadata():
    rng = np.random.default_rng(0)
    x = rng.poisson(5.0, size=(6, 7, 16)).astype(float)
    assert em.Signal(x).decompose("pca", n_components=2).params["poisson"] is True  # whole numbers: counts
    s = em.Signal(x + 0.25)
    assert s.decompose("pca", n_components=2).params["poisson"] is False
    s2 = em.Signal(x, metadata={"Signal": {"counts": True}})
    assert s2.decompose("pca", n_components=2).params["poisson"] is True
    assert em.Signal(x.astype(np.int32)).decompose(n_components=2).params["poisson"] is True


def test_bad_inputs():
    x = np.ones((5, 6, 8))
    x[1, 2, 3] = np.nan
    with pytest.raises(DataError, match="1 NaN"):
        decompose(em.Signal(x))
    y = np.ones((5, 6, 8))
    y[0, 0, :3] = -1
    with pytest.raises(DataError, match="3 negative"):
        decompose(em.Signal(y), poisson=True)
    decompose(em.Signal(y), poisson=False, n_components=2)
    with pytest.raises(ValueError, match="n_components=9"):
        decompose(em.Signal(np.ones((5, 6, 8))), n_components=9)
    with pytest.raises(DataError, match="excludes everything"):
        decompose(em.Signal(np.ones((5, 6, 8))), navigation_mask=np.ones((5, 6), bool))
    with pytest.raises(DataError, match="excludes everything"):
        decompose(em.Signal(np.ones((5, 6, 8))), signal_mask=np.ones(8, bool))
    with pytest.raises(ValueError, match="unknown method"):
        decompose(em.Signal(np.ones((5, 6, 8))), method="svd2")
    with pytest.raises(ValueError, match="shape"):
        decompose(em.Signal(np.ones((5, 6, 8))), navigation_mask=np.zeros((6, 5), bool))
    with pytest.raises(ValueError, match="n_components"):
        decompose(em.Signal(np.ones((5, 6, 8))), n_components=2.5)


def test_a_method_option_given_to_a_method_that_does_not_take_it_is_an_error():
    s = em.Signal(np.ones((5, 6, 8)))
    with pytest.raises(ValueError, match=r"method 'pca' takes no option 'loss' \(an option of nmf\)"):
        decompose(s, "pca", loss="kl")
    with pytest.raises(ValueError, match=r"method 'ica' takes no option 'closure' \(an option of mcr, vca\)"):
        decompose(s, "ica", closure=False)
    with pytest.raises(ValueError, match=r"method 'vca' takes no option 'max_iter' \(an option of ica, mcr, nmf\)"):
        s.decompose("vca", max_iter=10)
    with pytest.raises(ValueError, match="method 'mcr' takes no option 'fit_pixels'"):
        decompose(s, "mcr", fit_pixels=100)


@pytest.mark.parametrize(("options", "said"), [
    ({"method": "pca", "solver": "randomized", "n_iter": -1},  # ran as 0 power iterations, said nowhere
     "n_iter must be a whole number >= 0 (power iterations of the randomized solver) or None, got -1"),
    ({"method": "pca", "solver": "randomized", "oversample": -1},  # sketched k - 1 columns
     "oversample must be a whole number >= 0 (extra columns of the randomized sketch), got -1"),
    ({"method": "nmf", "max_iter": -1},  # no update at all
     "max_iter must be a whole number >= 1 (iterations; 0 or None: the method's default), got -1"),
    ({"method": "ica", "max_iter": -1}, "max_iter must be a whole number >= 1"),
    ({"method": "mcr", "max_iter": -1}, "max_iter must be a whole number >= 1"),  # was a bare IndexError
    ({"method": "nmf", "max_iter": 2.5}, "max_iter must be a whole number >= 1 (iterations; 0 or None: the method's "
                                         "default), got 2.5"),
])
def test_a_negative_count_of_iterations_or_columns_is_refused_before_the_data_are_read(options, said):
    s = em.Signal(np.random.default_rng(0).poisson(50, (8, 8, 64)).astype(np.uint16))
    read = []
    with pytest.raises(ValueError) as exc:
        decompose(s, n_components=2, progress=lambda *a: read.append(a), **options)
    assert said in str(exc.value) and "\n" not in str(exc.value) and read == []


@pytest.mark.filterwarnings("ignore:nmf stopped at max_iter=5")  # five iterations, as asked
@pytest.mark.parametrize("method", ["ica", "nmf"])
def test_a_history_holding_whole_number_float_counts_replays_as_those_ints(tmp_path, method):
    """Before the counts were checked, ICA's max_iter=5.0 and every method's n_iter=2.0 and oversample=10.0 ran as
    the ints (NMF's and MCR's max_iter=5.0 failed in range()); the check then refused them, so a history recorded
    with them no longer replayed. A whole-number float is taken as that int, at the call and on replay."""
    rng = np.random.default_rng(3)
    em.Signal(rng.poisson(rng.random((256, 2)) @ (rng.random((2, 128)) * 20)).reshape(16, 16, 128)
              .astype(np.uint16)).save(tmp_path / "mix.zarr")
    s = em.load(tmp_path / "mix.zarr")
    ints = decompose(s, method, n_components=2, solver="randomized", max_iter=5, n_iter=2, oversample=10)
    assert ints.info["n_iter"] == 5 and ints.info["power_iterations"] == 2
    floats = decompose(s, method, n_components=2, solver="randomized", max_iter=5.0, n_iter=2.0, oversample=10.0)
    recorded = [dict(e) for e in ints.history]
    recorded[-1]["params"] = {**recorded[-1]["params"], "max_iter": 5.0, "n_iter": 2.0, "oversample": 10.0}
    for r in (floats, em.replay(recorded)):
        np.testing.assert_array_equal(r.factors_array, ints.factors_array)
        np.testing.assert_array_equal(r.loadings_array, ints.loadings_array)
    assert floats.history[-1]["params"]["max_iter"] == 5.0  # recorded as given, as before the check


@pytest.mark.parametrize(("options", "said"), [
    ({"max_iter": 5.5}, "max_iter must be a whole number >= 1 (iterations; 0 or None: the method's default), "
                        "got 5.5"),
    ({"max_iter": True}, "max_iter must be a whole number >= 1"),  # True would read as 1
    ({"max_iter": -5.0}, "max_iter must be a whole number >= 1 (iterations; 0 or None: the method's default), "
                         "got -5.0"),
    ({"n_iter": -1.0}, "n_iter must be a whole number >= 0 (power iterations of the randomized solver) or None, "
                       "got -1.0"),
    ({"oversample": 2.5}, "oversample must be a whole number >= 0 (extra columns of the randomized sketch), got 2.5"),
    ({"oversample": float("inf")}, "oversample must be a whole number >= 0"),
    ({"n_iter": False}, "n_iter must be a whole number >= 0"),
])
def test_a_float_count_that_is_not_a_whole_number_at_least_the_minimum_stays_refused(options, said):
    s = em.Signal(np.random.default_rng(0).poisson(50, (8, 8, 64)).astype(np.uint16))
    with pytest.raises(DataError) as exc:
        decompose(s, "ica", n_components=2, solver="randomized", **options)
    assert said in str(exc.value) and "\n" not in str(exc.value)


def test_no_power_iteration_and_no_oversampling_still_run_and_zero_iterations_still_mean_the_default():
    from emscale.decomposition._method import configured

    s = em.Signal(np.random.default_rng(0).poisson(50, (8, 8, 64)).astype(np.uint16))
    d = decompose(s, n_components=2, solver="randomized", n_iter=0, oversample=0)
    assert d.info["power_iterations"] == 0 and d.factors.data.shape == (2, 64)
    assert configured("nmf", max_iter=0).max_iter == 1000 and configured("mcr", max_iter=1).max_iter == 1


def test_every_registered_method_declares_its_options_and_decompose_takes_them():
    from emscale.core import registry
    from emscale.decomposition._method import METHODS, Method

    assert set(METHODS) == {"pca", "ica", "vca", "mcr", "nmf"} == set(em.decomposition.METHODS)
    recipe_params = registry.get("decompose").parameters  # what a recipe step is validated against
    for name, cls in METHODS.items():
        assert issubclass(cls, Method) and cls.name == name
        assert isinstance(cls.options, dict) and set(cls.recorded) <= set(cls.options)
        assert cls.fit is not Method.fit
        for opt in cls.options:  # a keyword of decompose whose default (None) means "the method's default"
            assert opt in recipe_params and recipe_params[opt].default is None, (name, opt)
        resolved = cls()
        assert {opt: getattr(resolved, opt) for opt in cls.options} == cls.options
    assert METHODS["pca"].options == {}
    assert set(METHODS["nmf"].options) == {"loss", "init", "pure_pixels", "fit_pixels", "max_iter", "tol",
                                           "mu_exponent", "settle_subspace", "extrapolate", "precipitates",
                                           "basin_probe"}
    assert set(METHODS["mcr"].options) == {"closure", "pure_pixels", "max_iter", "tol", "settle_subspace",
                                           "nonnegativity", "stop_on_rise", "exact_refit", "rise_window"}
    assert set(METHODS["vca"].options) == {"closure", "settle_subspace"}
    assert set(METHODS["ica"].options) == {"max_iter", "tol", "on", "diff_order"}


def test_a_sparse_scan_is_decomposed_on_its_measured_pixels():
    """A scan of 20 % of the positions (sample_scan) holds zeros at the others, never counted: decomposed as
    spectra they pulled the components towards zero (here 7.9 / 1.0 / 6.1 degrees from the truth; a new user's
    3-phase cube 36.9 on one phase). The stored scan mask now leaves them out, as a navigation_mask would (3.0 /
    0.9 / 2.6; theirs 1.2); their loadings are NaN."""
    from emscale.decomposition.metrics import spectral_angles
    from groundtruth import make_cube

    s, truth = make_cube(3, "eds", shape=(48, 64), n_channels=256, counts=300, seed=4)
    sparse = s.sample_scan("random", 0.2, seed=0)
    d = decompose(sparse, "nmf", n_components=3)
    assert spectral_angles(d.factors_array.T, truth.spectra)[0].max() < 4.0
    measured = sparse.metadata["Sampling"]
    assert d.params["unmeasured_excluded"] == 48 * 64 - measured["measured_positions"]
    assert d.params["navigation_mask_excluded"] == 0
    assert np.isnan(d.loadings_array.reshape(48 * 64, 3)).any(axis=1).sum() == d.params["unmeasured_excluded"]
    # a reconstruction holds a value everywhere: all of it is decomposed
    full = decompose(sparse.inpaint("nearest"), "pca", n_components=3)
    assert "unmeasured_excluded" not in full.params


def test_fewer_components_than_asked_on_rank_deficient_data_are_said():
    """The randomized route keeps only the directions the data hold: a noise-free cube of two phases gave 2
    components for k = 4 without a word (only params["n_components_used"]); the Gram route returns 4."""
    rng = np.random.default_rng(0)
    a, b = rng.random((64 * 64, 1)), rng.random((1, 1024))
    x = (np.hstack([a, 1 - a]) @ np.vstack([b, b[:, ::-1]])).reshape(64, 64, 1024) * 100
    with pytest.warns(UserWarning, match=r"4 components asked, but the data hold only 2 independent direction"):
        d = em.decompose(em.Signal(x), "pca", n_components=4, solver="randomized")
    assert d.factors_array.shape == (1024, 2) and d.params["n_components_used"] == 2
    assert "components_dropped" in d.info
