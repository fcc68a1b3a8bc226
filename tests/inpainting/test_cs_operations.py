"""The registered operations sample_scan and inpaint: history, replay from the file, the mask, spectrum images."""

import warnings

import numpy as np
import pytest
from cs_images import lattice
from scipy import ndimage

import emscale as em
import emscale.inpainting  # noqa: F401  (declares inpaint)
import emscale.sampling  # noqa: F401  (declares sample_scan)
from emscale.core.errors import DataError
from emscale.sampling import scan_mask


def _image_file(tmp_path):
    noisy, _ = lattice(n=64, seed=6)
    axes = [
        {"name": "y", "navigate": False, "scale": 0.02, "units": "nm"},
        {"name": "x", "navigate": False, "scale": 0.02, "units": "nm"},
    ]
    em.Signal(noisy, axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    return em.load(tmp_path / "adf.zarr")


@pytest.mark.parametrize("method", ["sparse", "linear"])
def test_image_sample_and_inpaint_replay_bit_for_bit(tmp_path, method):
    s = _image_file(tmp_path)
    sparse = s.sample_scan("jittered_grid", 0.2, seed=3)
    full = sparse.inpaint(method, seed=1)
    assert [h["op"] for h in full.history[-2:]] == ["sample_scan", "inpaint"]
    assert full.history[-1]["params"]["method"] == method
    again = em.replay(full.history)
    assert again.data.tobytes() == full.data.tobytes()
    mask = scan_mask(full)
    assert np.array_equal(mask, scan_mask(sparse)) and full.metadata["Sampling"]["reconstruction"] == method
    assert np.array_equal(full.data[mask], s.data[mask])
    assert full.axes == s.axes
    if method == "sparse":  # what the hold-out chose is kept, and survives a save
        choice = full.metadata["Sampling"]["choice"]
        assert choice["chosen_by"] == "hold-out" and choice["prior"] in ("fourier", "fourier+dct")
        full.save(tmp_path / "full.zarr")
        assert em.load(tmp_path / "full.zarr").metadata["Sampling"]["choice"] == choice
    else:
        assert "choice" not in full.metadata["Sampling"]


def test_inpaint_needs_a_mask_and_tiles_through_the_operation(tmp_path):
    s = _image_file(tmp_path)
    with pytest.raises(DataError, match="no scan mask"):
        s.inpaint("linear")
    mask = emscale.sampling.random_pattern(s.data.shape, 0.25, seed=0)
    tiled = s.inpaint("linear", mask=mask, tile=32, overlap=8)
    assert tiled.history[-1]["params"]["tile"] == 32 and np.isfinite(tiled.data).all()
    # return_choice is the operation's own business: passed through params it neither breaks tiles nor is dropped
    tiled = s.inpaint("sparse", mask=mask, tile=32, overlap=8, params={"return_choice": True})
    assert np.isfinite(tiled.data).all()
    # each tile's hold-out chose for itself; the record counts the choices over the 2 x 2 tiles
    choice = tiled.metadata["Sampling"]["choice"]
    assert choice["tiles"] == 4 and sum(choice["prior"].values()) == 4 and sum(choice["chosen_by"].values()) == 4
    assert set(choice["prior"]) <= {"fourier", "fourier+dct"} and set(choice["lam_min"]) <= {
        repr(v) for v in emscale.inpainting.sparse.LAM_MIN_CANDIDATES}
    assert s.inpaint("linear", mask=mask, tile=32, overlap=8).metadata["Sampling"]["choice"] == {"tiles": 4}
    whole = s.inpaint("sparse", mask=mask, params={"return_choice": False})
    assert whole.metadata["Sampling"]["choice"]["chosen_by"] == "hold-out"


def test_spectrum_image_from_a_third_of_the_pixels_beats_nearest_spectra():
    s, truth = em.samples.eds_si(shape=(24, 32), n_channels=256, dose=2000.0)
    sparse = s.sample_scan("random", 0.3, seed=2)
    rec = sparse.inpaint("linear", n_components=3)
    assert rec.data.shape == s.data.shape and rec.data.dtype == np.float32
    mask = scan_mask(rec)
    expected = truth["expected"]
    err = np.linalg.norm((rec.data - expected)[~mask]) / np.linalg.norm(expected[~mask])
    _, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    near = s.data[iy, ix]  # each unmeasured pixel gets the nearest measured spectrum as recorded
    err_near = np.linalg.norm((near - expected)[~mask]) / np.linalg.norm(expected[~mask])
    assert err < 0.5 * err_near and err < 0.1, (err, err_near)


def test_reconstruction_figure_has_mask_sparse_reconstruction_and_error_panels(tmp_path):
    from emscale.inpainting.figures import reconstruction_figure

    s = _image_file(tmp_path)
    sparse = s.sample_scan("random", 0.3, seed=0)
    rec = sparse.inpaint("linear")
    fig = reconstruction_figure(sparse, rec, reference=s)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("scan mask (30.0%")
    assert titles[1:3] == ["sparse data (blank: not measured)", "reconstruction"]
    assert titles[3].startswith("error, PSNR")
    # every image but the mask has a labelled colour bar, and the mask a key (only the error map had a bar)
    bars = [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 3 and bars[-1] == "reconstruction - reference"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["measured", "not measured"]
    fig.savefig(tmp_path / "cs.png")
    assert (tmp_path / "cs.png").stat().st_size > 1000


def test_dictionary_says_through_the_operation_whether_it_refined_its_start(tmp_path):
    s = _image_file(tmp_path)
    sparse = s.sample_scan("random", 0.2, seed=3)
    # a recipe's "auto" is a string of its own, not the literal of the signature
    full = sparse.inpaint("dictionary", params={"n_train": 1000, "n_iter": 2, "refine": "".join(["au", "to"])})
    choice = full.metadata["Sampling"]["choice"]
    assert choice["chosen_by"] == "hold-out" and isinstance(choice["refined"], bool)
    assert set(choice["held_out_mse"]) == {"start", "dictionary"} and choice["start"]["chosen_by"] == "hold-out"
    full.save(tmp_path / "full.zarr")
    assert em.load(tmp_path / "full.zarr").metadata["Sampling"]["choice"] == choice
    assert em.replay(full.history).data.tobytes() == full.data.tobytes()


def test_inpaint_takes_no_mask_beyond_the_stored_one_and_checks_its_params_by_name():
    from emscale.sampling import random_pattern

    noisy, _ = lattice(n=48, seed=1)
    s = em.Signal(noisy, axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    sparse = s.sample_scan("random", 0.1, seed=0)
    wider = random_pattern((48, 48), 0.3, seed=5)
    with pytest.raises(DataError, match="zeros would be read as measurements"):
        sparse.inpaint("linear", mask=wider)  # read 0 at 616 positions never measured: mean 7 against 60
    within = wider & scan_mask(sparse)
    out = sparse.inpaint("linear", mask=within)
    assert out.metadata["Sampling"]["pattern"] == "given"
    assert out.metadata["Sampling"]["fraction"] == pytest.approx(within.mean())
    for kw, said in [(dict(params={"priorr": "fourier"}), "takes no parameter 'priorr'; it takes columns"),
                     (dict(method="linear", params={"prior": "fourier"}), "takes no parameter 'prior'; it takes none"),
                     (dict(params={"seed": 3}), "'seed' is an argument of inpaint itself"),
                     (dict(model="pca"), "apply to spectrum images"), (dict(n_components=3), "apply to spectrum"),
                     (dict(params=["prior"]), "params must be a table")]:
        with pytest.raises(ValueError, match=said):
            sparse.inpaint(**kw)
    cube = np.random.default_rng(0).poisson(5.0, (8, 8, 32)).astype(np.uint16)
    si = em.Signal(cube, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}])
    sparse_si = si.sample_scan("random", 0.5, seed=0)
    with pytest.raises(ValueError, match="tile and overlap apply to images"):
        sparse_si.inpaint("linear", tile=8)
    chose = sparse_si.inpaint("linear", model="pca", n_components=2).metadata["Sampling"]["choice"]
    assert chose == {"model": "pca", "n_components": 2}


def test_integer_data_with_negative_values_are_not_treated_as_counts_in_a_spectrum_image():
    # an int16 cube after a background subtraction: its model was clipped at 0 as if it were counts, where the
    # same values in float64 were not (decompose itself switches the Poisson weighting off for them)
    import warnings

    from emscale.sampling import random_pattern

    rng = np.random.default_rng(0)
    cube = (rng.poisson(30, (24, 24, 64)) - 35).astype(np.int16)
    axes = [{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]
    mask = random_pattern((24, 24), 0.3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Poisson weighting is off, and says so
        ints = em.Signal(cube, axes=axes).inpaint("linear", mask=mask, n_components=3, model="pca")
        floats = em.Signal(cube.astype(np.float64), axes=axes).inpaint("linear", mask=mask, n_components=3,
                                                                        model="pca")
    assert np.asarray(ints.data).min() < -1.0
    assert np.array_equal(np.asarray(ints.data), np.asarray(floats.data))


def test_a_spectrum_image_passes_options_to_its_decomposition_checked_by_name():
    # the NMF's "pass a larger max_iter or tol" could not be followed: params go to the map method
    rng = np.random.default_rng(0)
    cube = rng.poisson(200 * rng.dirichlet(np.ones(3), (16, 16)) @ rng.random((3, 64))).astype(np.uint16)
    s = em.Signal(cube, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}])
    sparse = s.sample_scan("random", 0.3, seed=0)
    with pytest.warns(UserWarning, match="stopped at max_iter=20"):
        out = sparse.inpaint("linear", decomposition={"max_iter": 20})
    assert out.history[-1]["params"]["decomposition"] == {"max_iter": 20}
    for bad, said in [({"maxiter": 5}, "decompose takes no option 'maxiter'"), ({"seed": 5}, "set by the "
                      "reconstruction itself"), ([1], "must be a table")]:
        with pytest.raises(ValueError, match=said):
            sparse.inpaint("linear", decomposition=bad)
    image = em.Signal(np.ones((8, 8)), axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    with pytest.raises(ValueError, match="decomposition applies to spectrum images"):
        image.sample_scan("random", 0.5).inpaint("linear", decomposition={"max_iter": 5})


def test_a_near_empty_scan_is_reconstructed_with_a_warning_that_names_the_count(tmp_path):
    s = _image_file(tmp_path)
    one = np.zeros(s.data.shape, bool)
    one[10, 20] = True
    with pytest.warns(UserWarning, match=r"only 1 of 4096 scan positions were measured") as record:
        flat = s.inpaint("sparse", mask=one)
    assert record[0].filename == __file__  # points at the caller's line
    assert np.allclose(flat.data, s.data[10, 20])
    enough = emscale.sampling.random_pattern(s.data.shape, 0.01, seed=0)  # 41 positions: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.inpaint("linear", mask=enough)
        emscale.inpainting.inpaint_image(np.asarray(s.data), enough, "linear")
    # the function for arrays said nothing where the Signal's method warned
    with pytest.warns(UserWarning, match=r"inpaint_image: only 1 of 4096 scan positions were measured") as record:
        emscale.inpainting.inpaint_image(np.asarray(s.data), one, "linear")
    assert record[0].filename == __file__ and len(record) == 1


def test_inpaint_refuses_an_option_it_would_misread_before_it_runs():
    noisy, _ = lattice(n=48, seed=1)
    sparse = em.Signal(noisy, axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
                       ).sample_scan("random", 0.2, seed=0)
    for kw, said in [(dict(params={"n_iter": 0}), "n_iter must be a whole number >= 1 .*got 0"),
                     (dict(params={"n_iter": -5}), "n_iter must be a whole number >= 1"),
                     (dict(method="dictionary", params={"stride": 0}), "stride must be a whole number >= 1"),
                     (dict(tile=16, overlap=-1), "overlap must be a whole number >= 0"),
                     (dict(overlap=-1), "overlap must be a whole number >= 0")]:
        with pytest.raises(DataError, match=said):
            sparse.inpaint(**kw)
