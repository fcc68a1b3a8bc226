"""Messages that say what is wrong with the input of decompose."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em


def test_a_single_pixel_is_named_without_a_mask():
    s = em.Signal(np.ones((1, 1, 16)))
    with pytest.raises(em.DataError, match="has 1 pixel: decomposition needs at least 2") as exc:
        em.decompose(s)
    assert "navigation_mask" not in str(exc.value)


def test_too_many_nmf_components_for_the_pixels_names_the_pixels_not_an_option():
    """4 spectra, 3 components: it said 'fit_pixels=4 is too few', an option the user never passed."""
    s = em.Signal(np.random.default_rng(0).poisson(5.0, (2, 2, 64)).astype(np.uint16))
    with pytest.raises(ValueError, match="4 pixels are too few for 3 NMF components.*at most 2") as exc:
        em.decompose(s, "nmf", n_components=3)
    assert "fit_pixels" not in str(exc.value)
    assert em.decompose(s, "nmf", n_components=2).factors_array.shape == (64, 2)


@pytest.mark.parametrize(("method", "option", "value"), [("nmf", "pure_pixels", "no"), ("nmf", "precipitates", 1),
                                                       ("vca", "closure", "false"), ("mcr", "settle_subspace", 0)])
def test_a_yes_no_option_that_is_not_a_bool_is_refused_by_name(method, option, value):
    """'no' and 1 read as yes: pure_pixels="no" ran the rotation without a word."""
    s = em.Signal(np.random.default_rng(0).poisson(5.0, (4, 4, 32)).astype(np.uint16))
    with pytest.raises(em.DataError, match=f"{option} must be True or False, got {value!r}"):
        em.decompose(s, method, n_components=2, **{option: value})


@pytest.mark.parametrize("method", ["pca", "ica", "nmf"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_all_zero_data_are_named(method, dtype):
    s = em.Signal(np.zeros((4, 5, 32), dtype=dtype))
    with pytest.raises(em.DataError, match="all the decomposed data are zero"):
        em.decompose(s, method, n_components=2)


def test_an_implausible_gaussian_rank_is_flagged():
    """Noise that follows the signal, without Poisson weighting: nearly every eigenvalue passes the
    Marchenko-Pastur edge (the real MonoCL line scan: 66 of 67). The scree's elbow is used instead (this scene's
    rank, 1; the edge's 34 is in the evidence), with a warning that says why and what to do."""
    from emscale import Signal
    from emscale.decomposition import decompose

    rng = np.random.default_rng(0)
    mean = 1000.0 * rng.gamma(2.0, 1.0, (40, 1)) * np.exp(-0.5 * ((np.arange(600) - 300) / 60.0) ** 2)[None, :]
    x = (rng.poisson(mean) - 5).astype(np.float32)  # counts with an offset: some negative values
    s = Signal(x, axes=[{"navigate": True}, {"navigate": False}])
    with pytest.warns(UserWarning, match="implausible.*poisson=True"):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == 1 and "implausible" in d.info["rank_warning"]
    assert d.rank_evidence["method"] == "elbow" and d.rank_evidence["noise_edge_rank"] > 20
    # the edge's threshold is no line of the elbow's rank: the scree draws none (it drew the edge's, 20 above it)
    assert d.rank_evidence["threshold"] is None and not d.has_noise_threshold()
    assert np.sum(d.eigenvalues > d.rank_evidence["noise_edge_threshold"]) == d.rank_evidence["noise_edge_rank"]
    assert not [ln for ln in d.plot_scree().axes[0].get_lines() if "threshold" in str(ln.get_label())]
    white = Signal(rng.normal(size=(40, 600)).astype(np.float32) + 1.0, axes=s.axes)
    assert "rank_warning" not in decompose(white, "pca", n_components="auto").info


@pytest.mark.parametrize("kind", ["noise-free", "reconstructed"])
def test_data_without_poisson_noise_get_the_scree_elbow(kind):
    """A rank-3 cube that is no longer raw counts: the noise edge gave 513 / 514 / 209 (a reviewer), and NMF with
    n_components="auto" then fitted 32 components; the scree's elbow gives 3, as HyperSpy's. (On 64 such cubes,
    ranks 2-5, EDS and EELS, noise-free, times a gain, with read noise, less an offset: the elbow was right on 56,
    the edge on 2, the elbow's next point on 5.)"""
    from groundtruth import make_cube

    s, truth = make_cube(3, kind="eels", shape=(32, 32), n_channels=512, counts=20000.0, seed=4)
    if kind == "noise-free":
        x = truth.expected
    else:
        x = em.decompose(s, "pca", n_components=3).reconstruct(3).data
    f = em.Signal(np.asarray(x), axes=s.axes, signal_type="EELS")
    with pytest.warns(UserWarning, match="implausible.*elbow, 3, is used instead"):
        d = em.decompose(f, "pca", n_components="auto", poisson=False)
    assert d.info["rank_estimate"] == 3 and d.n_components == 3


def test_complex_data_are_refused_by_name():
    s = em.Signal(np.ones((4, 5, 16), dtype=complex))
    with pytest.raises(em.DataError, match="holds complex values; decompose needs real data"):
        em.decompose(s, "pca", n_components=2)


@pytest.mark.parametrize("method,max_iter", [("nmf", 20), ("mcr", 3)])
def test_a_method_that_runs_out_of_iterations_says_so(method, max_iter):
    rng = np.random.default_rng(0)
    x = rng.poisson(30 * rng.dirichlet([1, 1, 1], (20, 20)) @ rng.dirichlet(np.ones(64), 3)).astype(np.uint16)
    with pytest.warns(UserWarning, match=f"{method} stopped at max_iter={max_iter} before its loss settled"):
        d = em.decompose(em.Signal(x), method, n_components=3, max_iter=max_iter)
    assert d.info["converged"] is False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert em.decompose(em.Signal(x), method, n_components=3).info["converged"] is True


def test_a_rank_from_the_scree_elbow_says_it_is_a_guess():
    # 4 spectra of non-count values (EELS_SI.dm4): the rank came from the elbow of 4 eigenvalues, without a word
    rng = np.random.default_rng(2)
    x = rng.normal(100.0, 1.0, (2, 2, 64)) + rng.random((2, 2, 1)) * np.linspace(0, 5, 64)
    with pytest.warns(UserWarning, match="is the scree's elbow, not a noise edge: 4 eigenvalue"):
        d = em.decompose(em.Signal(x), "pca", n_components="auto")
    assert d.info["rank_method"] == "elbow" and "rank_warning" in d.info
    assert "pass poisson=True for counts" in d.info["rank_warning"]
    # background-subtracted (negative values): poisson=True would be refused, so it is not offered
    d = em.decompose(em.Signal(x - 100.5), "pca", n_components="auto")
    assert d.info["rank_method"] == "elbow" and "poisson=True" not in d.info["rank_warning"], d.info["rank_warning"]
    counts = em.Signal(rng.poisson(20.0, (8, 8, 64)).astype(np.uint16))
    assert em.decompose(counts, "pca", n_components="auto").info["rank_method"] == "parallel-analysis-poisson"


@pytest.mark.parametrize("loss,max_iter,n_checks,span", [("kl", 40, 4, "between its last two loss checks, 10 "
                                                           "iterations apart"), ("frobenius", 8, 8, "per iteration")])
def test_nmf_out_of_iterations_reports_its_own_last_progress(loss, max_iter, n_checks, span):
    # the history holds the solver's losses (KL in memory: every 10 iterations; the pass route: every pass), then
    # the final loss and the pure-pixel rotation's refit; the warning read the last two entries, so it reported
    # the refit's rise as the solver's progress
    from groundtruth import make_cube

    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=256, counts=200, seed=0)
    with pytest.warns(UserWarning, match=span) as rec:
        d = em.decompose(s, "nmf", n_components=3, max_iter=max_iter, loss=loss)
    assert d.info["pure_pixel_rotation"] is True  # the case where a refit's loss follows the solver's
    checks = d.info["loss_history"][:n_checks]
    assert len(d.info["loss_history"]) > n_checks
    said = [str(w.message) for w in rec if "stopped at max_iter" in str(w.message)][0]
    said = float(said.split("change of the loss ")[1].split(" ")[0])
    assert said == pytest.approx(abs(checks[-2] - checks[-1]) / checks[-1], rel=0.05)  # printed to 2 digits


@pytest.mark.parametrize("as_given", ["poisson=False"])
def test_an_unweighted_rank_above_the_components_kept_is_flagged_and_its_cut_recorded(as_given):
    """Counts without Poisson weighting: the Marchenko-Pastur rank of a 2-phase EELS cube was 66 of at most 256
    (under half: no warning) and silently cut to 32 components.
    It is now flagged, and the scree's elbow is used. (Counts times a gain, also unweighted once, are now
    taken as scaled counts: test_rank_dispersion.)"""
    import warnings

    from emscale.decomposition import decompose
    from groundtruth import make_cube

    s, _ = make_cube(2, "eels", shape=(32, 32), n_channels=256, counts=200.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts = decompose(s, "pca", n_components="auto")  # weighted: no doubt, nothing cut
    assert counts.info["rank_estimate"] <= 2 and not {"rank_warning", "rank_capped"} & set(counts.info)
    kw = {"poisson": False} if as_given == "poisson=False" else {}
    data = s if kw else em.Signal(s.data * 1.37, axes=s.axes, signal_type=s.signal_type)
    with pytest.warns(UserWarning) as said:
        d = decompose(data, "pca", n_components="auto", **kw)
    # the elbow is a guess (flagged): 1 here, not 2, but no longer 66 cut to 32
    assert d.info["rank_estimate"] in (1, 2) and d.n_components == d.info["rank_estimate"]
    assert d.rank_evidence["noise_edge_rank"] == 66
    assert "implausible" in d.info["rank_warning"] and "poisson=True" in d.info["rank_warning"]
    assert "rank_capped" not in d.info
    assert sum("implausible" in str(w.message) for w in said) == 1


def _bright_mixture(seed=0):
    rng = np.random.default_rng(seed)
    maps, spectra = rng.dirichlet(np.full(3, 0.3), size=48 * 48), rng.random((3, 128)) ** 4
    return rng.poisson(maps @ spectra * (30000 / spectra.sum(1).mean())).reshape(48, 48, 128)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_values_clipped_at_the_dtype_ceiling_are_said(dtype):
    """A review's uint8 cube with 7.5 % of its values at 255 gave rank 8 for 3 phases and spectra 16.9 degrees off,
    with nothing said; the same counts in a wider dtype are not flagged."""
    x = _bright_mixture()
    top = int(np.iinfo(dtype).max)
    clipped = em.Signal(np.clip(x * (top // 255), 0, top).astype(dtype))
    share = float(np.mean(clipped.data == top))
    assert share > 0.05
    said = rf"\({100 * share:.3g} %\) sit at {top}, the largest a {np.dtype(dtype)} holds"
    with pytest.warns(UserWarning, match=said):
        d = em.decompose(clipped, "pca", n_components=3)
    assert d.info["saturated_values"].startswith(f"{int(np.sum(clipped.data == top))} value(s)")
    wide = em.Signal(x.astype(np.uint16))
    assert int(wide.data.max()) < 65535
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert "saturated_values" not in em.decompose(wide, "pca", n_components=3).info


@pytest.mark.parametrize("method", ["nmf", "mcr", "vca"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_a_non_negative_method_refuses_negative_data_without_advising_poisson_false(method, dtype):
    """decompose first warned "Poisson weighting off ... Pass poisson=False to silence this", then refused the data:
    advice of no use, the method refuses them whatever the weighting (a review)."""
    x = np.random.default_rng(0).poisson(5.0, (6, 8, 32)).astype(dtype)
    x[0, 0, :3] = -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test, before the error it is followed by
        with pytest.raises(em.DataError, match=f"^{method} needs non-negative data; 3 value"):
            em.decompose(em.Signal(x), method, n_components=2)
