"""The tomography operations are registered: recorded in history and replayed bit for bit from a loaded file."""

import numpy as np
import pytest

import emscale as em
from emscale.core import registry
from emscale.tomography import align_tilts, as_tilt_series, reconstruct_tomogram, trace_atoms
from emscale.tomography.alignment import shift_images
from emscale.tomography.phantoms import fcc_nanoparticle, project_volume

ANGLES = np.arange(-70, 71, 5.0)


@pytest.fixture(scope="module")
def stack_path(tmp_path_factory):
    vol, _ = fcc_nanoparticle(32, a=8.0, seed=3)
    proj = shift_images(project_volume(vol, ANGLES), np.random.default_rng(3).uniform(-2, 2, (ANGLES.size, 2)))
    s = em.Signal(proj, axes=[{"name": "index", "navigate": True},
                              {"name": "y", "scale": 0.05, "units": "nm", "navigate": False},
                              {"name": "x", "scale": 0.05, "units": "nm", "navigate": False}])
    path = tmp_path_factory.mktemp("tomo") / "stack.zarr"
    s.save(path)
    return path


def test_operations_are_declared():
    ops = registry.operations()
    for name in ("as_tilt_series", "subtract_background", "align_tilts", "reconstruct_tomogram", "trace_atoms",
                 "spectral_tomography"):
        assert name in ops


def test_pipeline_history_replays_bit_for_bit(stack_path):
    s = em.load(stack_path)
    ts = as_tilt_series(s, angles=ANGLES.tolist(), tilt_axis="y")
    assert ts.axis("tilt").scale == 5.0 and ts.axis("x").units == "nm"
    aligned = align_tilts(ts, com=True)
    vol = reconstruct_tomogram(aligned, method="sirt", n_iter=10)
    atoms = trace_atoms(vol, min_distance=4.0)
    assert [e["op"] for e in atoms.history] == ["load", "as_tilt_series", "align_tilts", "reconstruct_tomogram",
                                                "trace_atoms"]
    assert "executor" not in vol.history[-1]["params"]
    assert vol.history[-1]["params"]["n_iter"] == 10
    assert len(aligned.metadata["Tomography"]["alignment"]["shifts"]) == ANGLES.size
    assert atoms.shape[1] == 4 and atoms.shape[0] > 50
    again = em.replay(atoms.history)
    np.testing.assert_array_equal(again.data, atoms.data)
    np.testing.assert_array_equal(em.replay(vol.history).data, vol.data)


def test_real_mrc_loaded_by_em_load_becomes_a_tilt_series(real_dir):
    from emscale.tomography import read_rawtlt

    s = em.load(real_dir / "tomography/HAADF.mrc")
    ts = as_tilt_series(s, angles=read_rawtlt(real_dir / "tomography/HAADF.rawtlt").tolist(), tilt_axis="x")
    assert ts.shape == (77, 256, 256) and ts.axes[0].name == "tilt"
    assert ts.axis("tilt").values[0] == -76.0 and ts.axis("tilt").scale == 2.0
    assert ts.axis("x").scale == pytest.approx(3.36, abs=1e-5) and ts.axis("x").units == "nm"
    assert [e["op"] for e in ts.history] == ["load", "as_tilt_series"]
    np.testing.assert_array_equal(em.replay(ts.history).data, ts.data)
    with pytest.raises(em.DataError, match="76 tilt angles given for 77 projections"):
        as_tilt_series(s, angles=list(range(76)))


def test_rawtlt_is_read_beside_the_input_and_nowhere_else(real_dir, tmp_path):
    s = em.load(real_dir / "tomography/HAADF.mrc")
    ts = as_tilt_series(s, rawtlt="HAADF.rawtlt", tilt_axis="x")
    assert ts.axis("tilt").values[0] == -76.0 and ts.axis("tilt").values[-1] == 76.0
    from emscale.core.history import file_digest

    assert ts.history[-1]["params"]["rawtlt"] == "HAADF.rawtlt"
    np.testing.assert_array_equal(em.replay(ts.history).data, ts.data)
    # pinned with the file's digest (as a results folder pins it): an edited file is named, not only a result that
    # differs
    pinned = {"name": "HAADF.rawtlt", "sha256": file_digest(real_dir / "tomography/HAADF.rawtlt")}
    np.testing.assert_array_equal(as_tilt_series(s, rawtlt=pinned, tilt_axis="x").data, ts.data)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("HAADF.mrc", "HAADF.rawtlt"):
        (work / name).write_bytes((real_dir / "tomography" / name).read_bytes())
    (work / "HAADF.rawtlt").write_text((work / "HAADF.rawtlt").read_text().replace("-76", "-75", 1))
    with pytest.raises(em.DataError, match=r"rawtlt .* 'HAADF.rawtlt': .* is not the file this step read"):
        as_tilt_series(em.load(work / "HAADF.mrc"), rawtlt=pinned, tilt_axis="x")
    # a link beside the input that points out of its folder is not read (a recipe reads only that folder)
    (work / "HAADF.rawtlt").unlink()
    (work / "HAADF.rawtlt").symlink_to(real_dir / "tomography" / "HAADF.rawtlt")
    with pytest.raises(em.DataError, match="is a link to .* outside the input's folder"):
        as_tilt_series(em.load(work / "HAADF.mrc"), rawtlt="HAADF.rawtlt", tilt_axis="x")
    for bad in ("../tomography/HAADF.rawtlt", "/etc/passwd", "sub/HAADF.rawtlt", ".."):
        with pytest.raises(em.DataError, match="plain name of a file beside the input"):
            as_tilt_series(s, rawtlt=bad, tilt_axis="x")
    with pytest.raises(em.DataError, match="not both"):
        as_tilt_series(s, angles=list(range(77)), rawtlt="HAADF.rawtlt")
    with pytest.raises(em.DataError, match="not loaded from a file"):
        as_tilt_series(em.Signal(np.zeros((3, 4, 4)), axes=[{"name": "i", "navigate": True},
                                                           {"name": "y", "navigate": False},
                                                           {"name": "x", "navigate": False}]), rawtlt="HAADF.rawtlt")


@pytest.mark.parametrize("angles", [[0.0, 3.0, -3.0, 6.0, -6.0], [-60.0, 0.0, 0.0, 60.0]])
def test_tilts_in_acquisition_order_or_repeated_make_a_tilt_series(angles):
    """A dose-symmetric series and a repeated 0 degrees keep their order as the tilt axis' coordinates (a check on
    sorted coordinates refused them for a while)."""
    stack = em.Signal(np.random.default_rng(0).random((len(angles), 16, 16)),
                      axes=[{"navigate": True}, {"navigate": False}, {"navigate": False}])
    t = as_tilt_series(stack, angles=angles)
    np.testing.assert_array_equal(t.axes[0].values, angles)


def test_a_results_folder_pins_the_angle_file_it_read(real_dir, tmp_path):
    """Replay of a folder whose .rawtlt was edited said only "replayed result differs"; it names the file now."""
    from emscale.workflows.recipes import RecipeError, replay_outdir, run_recipe

    for name in ("HAADF.mrc", "HAADF.rawtlt"):
        (tmp_path / name).write_bytes((real_dir / "tomography" / name).read_bytes())
    (tmp_path / "r.toml").write_text('[input]\npath = "HAADF.mrc"\n\n[[step]]\nop = "as_tilt_series"\n'
                                     'rawtlt = "HAADF.rawtlt"\ntilt_axis = "x"\n')
    run_recipe(tmp_path / "r.toml", tmp_path / "out")
    assert replay_outdir(tmp_path / "out") == []
    (tmp_path / "HAADF.rawtlt").write_text((tmp_path / "HAADF.rawtlt").read_text().replace("-76", "-75", 1))
    with pytest.raises(RecipeError, match=r"\(as_tilt_series\): rawtlt .*'HAADF.rawtlt': .* is not the file"):
        replay_outdir(tmp_path / "out")


BAD_STEPS = [
    ('op = "subtract_background"\nmethod = "foo"', "method 'foo'"),
    ('op = "subtract_background"\nmethod = "percentile"\npercentile = 150.0', "percentile 150.0"),
    ('op = "align_tilts"\nupsample = 0', "upsample must be"),
    ('op = "reconstruct_tomogram"\nmethod = "art"', "method 'art'"),
    ('op = "reconstruct_tomogram"\nn_iter = 0', "n_iter must be"),
    ('op = "reconstruct_tomogram"\nmethod = "fbp"\nn_iter = 10', "takes no iterations"),
    ('op = "reconstruct_tomogram"\nmethod = "fbp"\nfilter = "cosine"', "filter 'cosine'"),
    ('op = "reconstruct_tomogram"\nbackend = "cuda"', "backend 'cuda'"),
    ('op = "trace_atoms"\nmin_distance = 0.5', "min_distance must be"),
]


def test_a_recipe_names_bad_tomography_values_before_any_step_runs(stack_path, tmp_path):
    """Values the tomography steps refuse were found only when their step ran, after the steps before it (minutes
    on a large series); now every one is named with its line before the input is read."""
    from emscale.workflows.recipes import RecipeError, run_recipe

    lines = ['[input]', f'path = "{stack_path.name}"', '', '[[step]]', 'op = "as_tilt_series"',
             f'angles = {ANGLES.tolist()}', 'tilt_axis = "y"']
    for step, _ in BAD_STEPS:
        lines += ['', '[[step]]', step]
    recipe = stack_path.parent / "bad_tomo.toml"
    recipe.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecipeError) as err:
        run_recipe(recipe, tmp_path / "out", report=False)
    message = str(err.value)
    for _, said in BAD_STEPS:
        assert said in message
    assert "bad_tomo.toml:9: parameter 'method' of step 'subtract_background'" in message  # its line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, said", [({"method": "art"}, "method 'art'"), ({"n_iter": 0}, "n_iter must be"),
                                      ({"method": "fbp", "filter": "cosine"}, "filter 'cosine'"),
                                      ({"backend": "cuda"}, "backend 'cuda'")])
def test_bad_reconstruction_parameters_are_emscale_errors(stack_path, kw, said):
    """They were plain ValueErrors; a DataError is one too (caught as before) and an EmscaleError as elsewhere."""
    from emscale.core.errors import DataError
    from emscale.tomography.background import subtract_background

    ts = as_tilt_series(em.load(stack_path), angles=ANGLES.tolist(), tilt_axis="y")
    with pytest.raises(DataError, match=said):
        reconstruct_tomogram(ts, **kw)
    with pytest.raises(DataError, match="percentile 150"):
        subtract_background(ts, method="percentile", percentile=150.0)


@pytest.mark.parametrize("method, ran", [("sirt", "auto"), ("tv", 200)])
def test_the_iterations_a_default_n_iter_ran_are_recorded(stack_path, method, ran):
    """n_iter left at None ran the method's default, which the history (None), the volume's metadata (nothing) and
    a pinned recipe did not say: a later change of the default would have changed a replay. They say it now, and
    a history of before (None) replays to the same bits: SIRT's 100 iterations of then, whatever the default is
    now ("auto": chosen from the data, kept as "auto" in the history, the count in the metadata)."""
    from emscale.workflows.recipes import replay_outdir, run_recipe

    aligned = align_tilts(as_tilt_series(em.load(stack_path), angles=ANGLES.tolist(), tilt_axis="y"))
    extra = {"tv_weight": 0.01} if method == "tv" else {}
    vol = reconstruct_tomogram(aligned, method=method, **extra)
    assert vol.history[-1]["params"]["n_iter"] == ran
    count = 200 if method == "tv" else vol.metadata["Tomography"]["n_iter_choice"]["value"]
    assert vol.metadata["Tomography"]["n_iter"] == count
    assert vol.metadata["Tomography"]["backend"] in ("numba", "numpy")
    np.testing.assert_array_equal(em.replay(vol.history).data, vol.data)
    old = [dict(e) for e in vol.history]
    old[-1] = {**old[-1], "params": {**old[-1]["params"], "n_iter": None}}
    then = vol if method == "tv" else reconstruct_tomogram(aligned, method=method, n_iter=100)
    np.testing.assert_array_equal(em.replay(old).data, then.data)
    if method == "sirt":  # FBP runs no iterations: none said
        fbp = reconstruct_tomogram(aligned, method="fbp")
        assert fbp.history[-1]["params"]["n_iter"] is None and "n_iter" not in fbp.metadata["Tomography"]
        recipe = stack_path.parent / "default_n_iter.toml"
        recipe.write_text(f'[input]\npath = "{stack_path.name}"\n\n[[step]]\nop = "as_tilt_series"\n'
                          f'angles = {ANGLES.tolist()}\ntilt_axis = "y"\n\n[[step]]\nop = "reconstruct_tomogram"\n')
        run_recipe(recipe, stack_path.parent / "out_default_n_iter", report=False)
        assert 'n_iter = "auto"' in (stack_path.parent / "out_default_n_iter" / "recipe.toml").read_text()
        assert replay_outdir(stack_path.parent / "out_default_n_iter") == []
    # a results folder of before holds no n_iter (its pinned recipe and manifest hold no None): the default of then
    op = registry.get("reconstruct_tomogram")
    assert op.replay_params({"method": method})["n_iter"] == {"sirt": 100, "tv": 200}[method]
    assert op.replay_params({"method": method, "n_iter": None})["n_iter"] is None  # a history of then
    assert op.replay_params({"method": "fbp"})["n_iter"] is None
