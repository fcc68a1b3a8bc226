"""The automatic rank on sparse counts (5-30 counts/pixel over 2048-4096 channels), from every solver; the EDS
zero-energy peak mask; data that are no longer counts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emscale import DataError, Signal
from emscale.decomposition import decompose
from groundtruth import make_cube, mixed_scene

# (rank, shape, channels, counts/pixel, seed, bremsstrahlung fraction). Before: rank 0 (n_components 1) on the
# first two (the top eigenvalues all at the Poisson-weighted ceiling 1, the noise edge too); the last two were
# right already and must stay right.
SPARSE = [
    (2, (64, 64), 4096, 5, 1, (0.3, 0.5)),
    (3, (64, 64), 2048, 6, 2, (0.3, 0.5)),
    (2, (64, 64), 2048, 6, 1, (0.2, 0.4)),
    (4, (96, 96), 2048, 30, 3, (0.3, 0.5)),
]


@pytest.mark.parametrize("case", SPARSE, ids=lambda c: f"r{c[0]}-{c[1][0]}px-{c[2]}ch-{c[3]}cts")
def test_sparse_rank_is_the_truth(case):
    r, shape, p, counts, seed, bg = case
    s, truth = make_cube(r, "eds", shape=shape, n_channels=p, counts=counts, seed=seed, background=bg)
    d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == truth.rank == d.n_components
    assert 8 <= d.info["rank_channels"] < p
    assert d.rank_evidence["method"] == "parallel-analysis-poisson"


def test_sparse_rank_same_from_every_solver():
    r, shape, p, counts, seed, bg = SPARSE[1]
    s, truth = make_cube(r, "eds", shape=shape, n_channels=p, counts=counts, seed=seed, background=bg)
    ranks = {solver: decompose(s, "pca", n_components="auto", solver=solver).info["rank_estimate"]
             for solver in ("gram", "randomized", "single_pass")}
    assert ranks == dict.fromkeys(ranks, truth.rank)


def test_too_few_counts_warns_with_a_binning():
    rng = np.random.default_rng(0)
    data = (rng.random((32, 32, 2048)) < 0.001).astype(np.uint16)  # ~2 counts/pixel, ~1 per channel
    s = Signal(data, axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}])
    with pytest.warns(UserWarning, match="too few counts for a rank estimate.*channels per bin in energy"):
        d = decompose(s, "pca", n_components="auto")
    assert d.n_components == 1 and "rank_warning" in d.info
    # nothing to estimate: no exact scree and no noise spectrum to throw away (the Velox map: 7.1 -> 0.4 s)
    assert d.info["solver"] == "randomized" and d.info["solver_note"].endswith("no scree computed")
    with pytest.warns(UserWarning, match="too few counts for a separation"):
        whole = decompose(s, "pca")  # the whole scree asked for: computed, but not its noise
    assert whole.info["solver"] == "gram" and "noise_eigenvalues" not in whole.info


def test_a_rank_of_zero_warns_with_a_binning():
    # 1 count/pixel over 1024 channels: 30-odd channels reach 8 counts, so the estimate runs, and finds nothing
    s, _ = make_cube(3, "eds", shape=(48, 48), n_channels=1024, counts=1, seed=1)
    with pytest.warns(UserWarning, match="no component stands above the noise.*channels per bin in energy"):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == 0 and "rank_warning" in d.info
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 30 counts/pixel: components found, nothing to say
        assert decompose(make_cube(3, "eds", shape=(48, 48), n_channels=1024, counts=30, seed=1)[0], "pca",
                         n_components="auto").info["rank_estimate"] > 0


def _eds(data, offset_kev=-0.05, scale_kev=0.01):
    axes = [{"navigate": True, "name": "y"}, {"navigate": True, "name": "x"},
            {"navigate": False, "name": "Energy", "units": "keV", "offset": offset_kev, "scale": scale_kev}]
    return Signal(data, axes=axes, signal_type="EDS_TEM")


def test_eds_zero_peak_masked_by_default():
    rng = np.random.default_rng(1)
    data = rng.poisson(2.0, size=(8, 8, 256)).astype(np.uint16)
    data[..., :15] += 500  # the strobe peak below 0.1 keV (channels 0-14: -0.05 ... 0.09 keV)
    d = decompose(_eds(data), "pca", n_components=2)
    assert d.params["zero_peak_channels"] == 15
    assert (d.factors_array[:15] == 0).all() and np.isfinite(d.factors_array).all()  # not modelled: 0, not NaN
    d2 = decompose(_eds(data), "pca", n_components=2, mask_zero_peak=False)
    assert d2.params["zero_peak_channels"] == 0 and np.isfinite(d2.factors_array).all()
    # not EDS: nothing masked unless asked
    s = _eds(data)
    s.signal_type = "EELS"
    assert decompose(s, "pca", n_components=2).params["zero_peak_channels"] == 0


def test_a_map_of_strobe_counts_only_is_refused_by_name():
    """Counts only in the zero-energy peak and two stray counts elsewhere (like the real Velox example map, whose
    acquisition stopped after 320 pixels): once the peak is masked, three components would be made of single
    counts (each 'component' one pixel, loss 0). An error names the masked peak and what is left; a separation
    that is possible but holds almost no counts warns."""
    data = np.zeros((16, 16, 256), dtype=np.uint16)
    data[:4, :, 5:15] = 3  # the strobe peak, channels below 0.1 keV
    data[0, 0, 100] = data[1, 3, 200] = 1
    with pytest.raises(DataError, match=r"zero-energy peak \(15 channel.*only 2 channel\(s\) and 2 pixel\(s\).*"
                                        r"at most 2 component"):
        decompose(_eds(data), "nmf", n_components=3)
    # the advice says where the counts are: binning cannot help (it said "bin 8 channels and 2 x 2", whatever the
    # binning already was)
    with pytest.warns(UserWarning, match=r"too few counts for a separation .*: the EDS zero-energy \(strobe\) "
                                         r"peak, masked, held 1920 of the 1922 counts, and 2 are left elsewhere.*"
                                         r"binning adds nothing"):
        d = decompose(_eds(data), "nmf", n_components=2)
    assert "rank_warning" in d.info and "rebin" not in d.info["rank_warning"]
    sparse_lines = data.copy()
    sparse_lines[..., :15] = 0
    sparse_lines[::3, ::3, 100] = 1  # few counts, none in the peak: the binning advice as before
    with pytest.warns(UserWarning, match=r"too few counts for a rank estimate: .*bin the data, e\.g\."):
        decompose(_eds(sparse_lines), "pca", n_components="auto")
    with pytest.raises(DataError, match="zero-energy peak.*all the decomposed data are zero"):
        decompose(_eds(np.where(np.arange(256) < 15, data, 0).astype(np.uint16)), "pca", n_components=1)
    kept = decompose(_eds(data), "nmf", n_components=3, mask_zero_peak=False)  # the user keeps the peak
    assert kept.n_components == 3


def test_the_real_velox_map_is_refused_by_name(velox_emd):
    import emscale as em

    eds = [s for s in em.load(velox_emd) if s.signal_type.startswith("EDS") and s.data.ndim == 3][0]
    with pytest.raises(DataError, match="zero-energy peak.*only 2 channel"):
        decompose(eds, "mcr", n_components=3)


def test_negative_data_switch_poisson_off_with_a_warning():
    rng = np.random.default_rng(2)
    data = rng.poisson(50.0, size=(6, 6, 64)).astype(np.float32) - 50.0  # background-subtracted
    s = Signal(data, axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}],
               metadata={"Signal": {"counts": True}})
    with pytest.warns(UserWarning, match="Poisson weighting off"):
        d = decompose(s, "pca", n_components="auto")
    assert d.params["poisson"] is False and d.info["poisson"].startswith("off")
    with pytest.raises(ValueError, match="negative"):
        decompose(s, "pca", n_components=2, poisson=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decompose(s, "pca", n_components=2, poisson=False)
    # the randomized route's first sketch (2**20 values and more, a given k) is taken weighted too, for the choice
    # made later: a negative row sum's sqrt was numpy's bare "invalid value" warning, once a partition (a review)
    big = Signal(rng.poisson(3.0, size=(64, 64, 256)).astype(np.float32) - 3.5,
                 axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(UserWarning, match="Poisson weighting off"):
            assert decompose(big, "pca", n_components=3).info["solver"] == "randomized"


def test_whole_numbers_with_a_negative_value_are_not_counts_and_it_is_said():
    """Floats that are whole numbers are taken as counts; one negative value made them "not integer counts" with no
    word, and the automatic rank went from 2 to 5 (found by a new-user review)."""
    s, _ = make_cube(2, "eds", shape=(16, 16), n_channels=128, counts=200.0, seed=4)
    data = np.asarray(s.data).astype(np.float64)
    data[0, 0, 50] = -1.0
    bare = [{"navigate": True}, {"navigate": True}, {"navigate": False}]
    with pytest.warns(UserWarning, match=r"Poisson weighting off: 1 negative value\(s\) \(minimum -1\)"):
        d = decompose(Signal(data, axes=bare), "pca", n_components=2)
    assert d.info["poisson"].startswith("off: 1 negative value(s)")
    # measured values with negative ones (background-subtracted spectra): off, and said, as the README promises
    # (it was recorded in info alone)
    fractional = data + 0.25
    with pytest.warns(UserWarning, match=r"Poisson weighting off: \d+ negative value\(s\)"):
        d = decompose(Signal(fractional - 1.0, axes=bare), "pca", n_components=2)
    assert d.info["poisson"].startswith("off: ") and "negative value(s)" in d.info["poisson"]
    with warnings.catch_warnings():  # fractional values without negative ones: off without a word, as before
        warnings.simplefilter("error")
        d = decompose(Signal(np.abs(fractional), axes=bare), "pca", n_components=2)
    assert d.info["poisson"] == "off (automatic: not integer counts)"
    with pytest.raises(DataError, match=r"has 1 channel: decomposition needs at least 2"):  # no mask was given
        decompose(Signal(data[..., 50:51], axes=bare), "pca", n_components=1)


@pytest.mark.parametrize("method, solver", [("pca", "gram"), ("pca", "randomized"), ("nmf", "auto")])
def test_estimate_rank_agrees_with_what_decompose_reported(method, solver):
    """``Decomposition.estimate_rank()`` recomputes from the stored evidence (the sparse-channel spectrum), not
    from the scree of all channels (which gave 0 here: every top eigenvalue at the one-count ceiling)."""
    r, shape, p, counts, seed, bg = SPARSE[1]
    s, truth = make_cube(r, "eds", shape=shape, n_channels=p, counts=counts, seed=seed, background=bg)
    d = decompose(s, method, n_components="auto", solver=solver)
    rank, ev = d.estimate_rank()
    assert rank == d.info["rank_estimate"] == truth.rank
    assert ev["method"] == "parallel-analysis-poisson" and ev["rank_channels"] == d.info["rank_channels"] < p
    assert d.estimate_rank(tw_sigmas=3.0)[0] == rank  # the parallel-analysis edge does not use the TW margin


def test_a_rank_of_zero_warns_on_the_randomized_route_too():
    # more pixels and channels than the Gram routes take: the rank comes from the randomized route's subset, where
    # the rank-0 warning was missing (found in review)
    s, _ = make_cube(3, "eds", shape=(70, 70), n_channels=4400, counts=1.5, seed=1)
    with pytest.warns(UserWarning, match="no component stands above the noise"):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["solver"] == "randomized" and d.info["rank_estimate"] == 0


def test_an_explicit_gram_solver_keeps_its_scree_with_too_few_counts():
    # the too-few-counts shortcut switched an explicit solver="gram" to randomized (found in review)
    rng = np.random.default_rng(0)
    sparse = Signal((rng.random((32, 32, 2048)) < 0.001).astype(np.uint16),
                    axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}])
    with pytest.warns(UserWarning, match="too few counts"):
        exact = decompose(sparse, "pca", n_components="auto", solver="gram")
    assert exact.info["solver"] == "gram" and exact.info["solver_note"].endswith("no noise spectrum simulated")


def test_a_component_that_is_a_single_count_is_named():
    """At 5 counts/pixel over 1024 channels VCA and MCR returned 'spectra' that were one channel of one count (90
    degrees from the truth) without a word (a new user's own scene)."""
    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=2048, counts=5.0, seed=0)
    with pytest.warns(UserWarning, match=r"component\(s\) 2 \(\d+ % in one channel of \d+ counts\) are single counts"):
        d = decompose(s, "mcr", n_components=3)
    assert d.info["single_count_components"] == [2]
    s, _ = make_cube(3, "eds", shape=(32, 32), n_channels=2048, counts=200.0, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("vca", "mcr", "nmf"):
            assert "single_count_components" not in decompose(s, method, n_components=3).info


def test_a_map_whose_binned_rank_is_higher_says_so():
    """Two phases in a gradient at 5 counts/pixel over 2048 channels: single pixels show one component above the noise,
    the map binned 2 x 2 shows both, and nothing said so (a new user's mixtures at 5-10 counts/pixel: rank 1-2 of 3)."""
    s, _ = mixed_scene(rank=2, kind="eds", layout="gradient", shape=(64, 64), n_channels=2048, counts=5, seed=2)
    said = (r"the rank estimate is 1 at [45].* counts per pixel, and 2 with the map binned 2 x 2 .*compare "
            r"n_components=2 on the scree, or bin it with s\.rebin\(scale=\(2, 2, 1\)\)")
    with pytest.warns(UserWarning, match=said):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == d.n_components == 1  # the single pixels' rank stays the one used
    assert d.info["rank_binned"]["rank"] == 2 and d.info["rank_binned"]["scale"] == [2, 2]
    assert "binned 2 x 2" in d.info["rank_warning"]
    assert "rank_binned" not in decompose(s, "pca", n_components=2).info  # no rank asked, no probe
    # the whole scree reports a rank it does not use: no probe, no warning, but its reader is told (a new user's
    # layers at 5 counts/pixel: rank 2 of 3 and nothing said)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scree = decompose(s, "pca")
    assert scree.info["rank_estimate"] == 1 and "rank_binned" not in scree.info
    assert "n_components='auto' also reads it binned 2 x 2" in scree.info["rank_warning"]
    # nor on lazy data, which the probe would read once more
    assert "rank_binned" not in decompose(s.as_lazy(), "pca", n_components="auto").info


def test_the_binned_rank_said_is_the_binned_maps_own():
    """The tutorials' sample at 1.9 counts/pixel: the warning said 2 binned 2 x 2, where decompose of the map so
    binned reads 3 (its third component at 1.02 x the threshold, inside the band the probe counts as the edge)."""
    from emscale.workflows.samples import eds_si

    s, _ = eds_si(shape=(64, 80), n_channels=256, scale=0.04, seed=0, dose=2)
    with pytest.warns(UserWarning, match=r"and 3 with the map binned 2 x 2 \(7.6 counts per pixel, 2 of them clear "
                                         r"of its noise edge\).*compare n_components=3"):
        d = decompose(s, "pca", n_components="auto")
    binned = decompose(s.rebin([2, 2, 1], crop=True), "pca", n_components="auto")
    assert d.info["rank_binned"]["rank"] == binned.info["rank_estimate"] == 3
    assert d.info["rank_binned"]["clear_of_edge"] == 2


def test_a_map_too_sparse_for_2_x_2_is_asked_binned_4_x_4():
    """Two phases in blobs at 4 counts/pixel over 2048 channels: single pixels and the map binned 2 x 2 show one
    component clear of the noise, binned 4 x 4 both; nothing was said."""
    s, _ = mixed_scene(rank=2, kind="eds", layout="blobs", shape=(64, 64), n_channels=2048, counts=4, seed=1)
    said = r"the rank estimate is 1 at .* and 2 with the map binned 4 x 4 .*s\.rebin\(scale=\(4, 4, 1\)\)"
    with pytest.warns(UserWarning, match=said):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == 1 and d.info["rank_binned"]["scale"] == [4, 4]
    assert d.info["rank_binned"]["rank"] == 2


def test_a_sparse_map_whose_binned_rank_is_the_same_is_not_warned():
    s, truth = make_cube(4, "eds", shape=(64, 64), n_channels=2048, counts=5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == truth.rank and "rank_binned" not in d.info
