"""Recipes: whole-recipe validation with one clear error, bit-identical reruns, replay that catches changes,
recipes exported from history, and the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import emscale as em
from emscale.cli import main
from emscale.core import registry
from emscale.workflows.recipes import RecipeError, parse, recipe_from_history, replay_outdir, run_recipe
from emscale.workflows.samples import eds_si


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    s, truth = eds_si(shape=(24, 28), n_channels=256, scale=0.04, seed=1)
    s.save(folder / "eds.zarr")
    return folder, s, truth


RECIPE = """
[input]
path = "eds.zarr"

[[step]]
op = "isig"
key = "0.2:9.0"

[[step]]
op = "decompose"
name = "pca"
method = "pca"
n_components = "auto"

[[step]]
op = "decompose"
name = "nmf"
method = "nmf"
n_components = 3
seed = 3

[[step]]
op = "cluster"
of = "nmf"
n_clusters = 3
"""


def _write(folder, text=RECIPE, name="r.toml"):
    p = folder / name
    p.write_text(text)
    return p


def test_recipe_runs_twice_bit_identical(sample, tmp_path):
    folder, s, _ = sample
    recipe = _write(folder)
    a = run_recipe(recipe, tmp_path / "a", report=False)
    b = run_recipe(recipe, tmp_path / "b", report=False)
    ma = json.loads((tmp_path / "a" / "manifest.json").read_text())["outputs"]
    mb = json.loads((tmp_path / "b" / "manifest.json").read_text())["outputs"]
    assert ma.keys() == {"signal", "pca", "nmf", "nmf_clusters"}
    assert {k: v["sha256"] for k, v in ma.items()} == {k: v["sha256"] for k, v in mb.items()}
    np.testing.assert_array_equal(a.results["nmf"].factors_array, b.results["nmf"].factors_array)
    np.testing.assert_array_equal(em.load(tmp_path / "a" / "signal.zarr").data, s.isig[0.2:9.0].data)
    # the pinned recipe names the input by absolute path and digest
    pinned = parse((tmp_path / "a" / "recipe.toml").read_text())
    assert pinned.input["sha256"] == s_digest(folder / "eds.zarr")


def s_digest(path):
    from emscale.core.history import file_digest

    return file_digest(path)


def test_replay_verifies_and_detects_an_altered_output(sample, tmp_path):
    folder, s, _ = sample
    out = tmp_path / "res"
    run_recipe(_write(folder), out, report=False)
    assert replay_outdir(out) == []
    # tamper with the stored processed signal: same shape and metadata, one count different
    tampered = em.load(out / "signal.zarr")
    data = tampered.data.copy()
    data[0, 0, 0] += 1
    em.Signal(data, axes=tampered.axes, signal_type=tampered.signal_type, history=tampered.history).save(
        out / "signal.zarr", overwrite=True
    )
    problems = replay_outdir(out)
    assert any(p.startswith("signal:") and "differs" in p for p in problems)
    code = main(["replay", str(out)])
    assert code == 1


def test_a_recipe_run_and_its_replay_read_the_input_file_once(real_dir, tmp_path, monkeypatch):
    """It read it three times (the pin, the replayed recipe's check, the load's history entry): 7 s a pass for a
    10 GB file."""
    import shutil

    from emscale.core import history as H

    monkeypatch.setattr(H, "_DIGESTS", {})
    monkeypatch.setattr(H, "SETTLE_S", -3600.0)  # the copy made just now stands for a file written long before
    shutil.copy(real_dir / "EELS_SI.dm4", tmp_path / "in.dm4")
    (tmp_path / "r.toml").write_text('[input]\npath = "in.dm4"\n\n[[step]]\nop = "sum"\n')
    reads = []
    real = H.hashlib.file_digest
    monkeypatch.setattr(H.hashlib, "file_digest", lambda fh, name: reads.append(fh.name) or real(fh, name))
    run_recipe(tmp_path / "r.toml", tmp_path / "out", report=False)
    assert replay_outdir(tmp_path / "out") == []
    assert [Path(r).name for r in reads].count("in.dm4") == 1, reads


def test_replay_detects_a_changed_input(sample, tmp_path):
    folder, s, _ = sample
    src = tmp_path / "in.zarr"
    s.save(src)
    text = RECIPE.replace('path = "eds.zarr"', f'path = "{src}"')
    out = tmp_path / "res"
    run_recipe(_write(tmp_path, text), out, report=False)
    em.Signal(s.data + 1, axes=s.axes, signal_type=s.signal_type).save(src, overwrite=True)
    with pytest.raises(RecipeError, match="input differs"):
        replay_outdir(out)
    # a folder given as the moved input was "input differs (sha256 e3b0c442...)": the digest of no file at all
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(em.FileFormatError, match="elsewhere: is a directory, not a file"):
        replay_outdir(out, input_path=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[input\npath='x'", "not valid TOML"),
        ("[[step]]\nop='sum'", "[input] with a 'path' is required"),
        ("[input]\npath='eds.zarr'\nfoo=1", "<recipe>:3: [input] has unknown key 'foo'; allowed: path, sha256, "),
        ("[input]\npath='eds.zarr'\n\n[[step]]\nop='frobnicate'", ":4: unknown step 'frobnicate'"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='decompose'\nmethod='pca'\nn_components=[1]",
         "parameter 'n_components' of step 'decompose' must be"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='decompose'\nwibble=2", "has no parameter 'wibble'"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='remove_background'", "needs parameter 'signal_range'"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='isig'\nkey='a:b'", "'a' is not a number"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='inav'\nkey=':, 12:62'",  # was "', 12' is not a number"
         "names several axes in one string; write one per axis as a TOML list: key = [\":\", \"12:62\"]"),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='cluster'\nn_clusters=2", "cluster needs of ="),
        ("[input]\npath='eds.zarr'\n[[step]]\nop='sum'\naxis=1.5", "parameter 'axis' of step 'sum' must be"),
        ("[input]\npath='eds.zarr'\n[output]\nplot='x'", "<recipe>:4: [output] has unknown key 'plot'"),
        ("[recipe]\nname='x'\n[input]\npath='eds.zarr'",  # accepted and ignored, as any typo would be
         "<recipe>:1: unknown top-level table or key 'recipe'; a recipe holds only [input], [[step]] and [output]"),
        # edge_map passes its other keywords on to remove_background: a typo among them passed the check and ended
        # the run with a raw TypeError naming neither the line nor edge_map
        ("[input]\npath='eels.zarr'\n[[step]]\nop='edge_map'\nedge='Fe_L3'\nintegraton_width=30.0",
         "<recipe>:3: step 'edge_map' has no parameter 'integraton_width' (did you mean 'integration_width'?)"),
        ("[input]\npath='eels.zarr'\n[[step]]\nop='edge_map'\nedge='Fe_L3'\nfit='fsat'",
         "<recipe>:3: parameter 'fit' of step 'edge_map': unknown fit 'fsat'"),
        ("[input]\npath='eels.zarr'\n[[step]]\nop='edge_map'\nedge='Fe_L3'\nsignal_range=[1, 2]",
         "step 'edge_map' has no parameter 'signal_range'"),
        # HyperSpy's keyword: the operation's own advice, as the Python API gives it (a review)
        ("[input]\npath='eels.zarr'\n[[step]]\nop='remove_background'\nsignal_range=[1, 2]\nfast=true",
         "<recipe>:3: step 'remove_background' has no parameter 'fast': fast is HyperSpy's and not needed: "
         "fit='fast' (the default) is its fast=True"),
    ],
)
def test_bad_recipes_fail_before_any_work(text, message):
    with pytest.raises(RecipeError) as exc:
        parse(text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value).strip()


def test_every_problem_of_a_recipe_is_reported_at_once_with_its_line():
    """An unknown table, an unknown [input] key and two step typos took three runs to see (the tables' problems
    stopped the check, with no line), and an unknown step had no suggestion."""
    text = ("version = 99\n[input]\npath = 'si.dm4'\nindx = 0\n\n[[step]]\nop = 'remove_backgrond'\n"
            "signal_range = [400.0, 500.0]\n\n[[step]]\nop = 'sum'\naxs = -1\n\n[outptu]\nsignal = 's.zarr'\n")
    with pytest.raises(RecipeError) as exc:
        parse(text)
    assert str(exc.value).splitlines() == [
        "<recipe>:14: unknown top-level table or key 'outptu' (did you mean 'output'?); a recipe holds only [input], "
        "[[step]] and [output]",
        "<recipe>:1: unknown top-level table or key 'version'; a recipe holds only [input], [[step]] and [output]",
        "<recipe>:4: [input] has unknown key 'indx' (did you mean 'index'?); allowed: path, sha256, signal_type, "
        "index, lazy",
        "<recipe>:6: unknown step 'remove_backgrond' (did you mean 'remove_background'?); known: "
        + ", ".join(sorted(registry.operations())),
        "<recipe>:10: step 'sum' has no parameter 'axs' (did you mean 'axis'?); allowed: axis",
    ]


def test_every_problem_of_a_step_is_reported_at_once():
    """A bad value, an unknown key and an unsafe name in one step: only the first was reported."""
    text = ("[input]\npath = 'x.zarr'\n\n[[step]]\nop = 'decompose'\nname = '../evil'\nmethod = 'pca'\n"
            "n_components = 'three'\nbogus = 1\n\n[[step]]\nop = 'isig'\n")
    with pytest.raises(RecipeError) as exc:
        parse(text)
    lines = str(exc.value).splitlines()
    assert len(lines) == 4, lines
    for line, said in zip(lines, ("'n_components'", "no parameter 'bogus'", "'../evil' must be a plain file name",
                                  "needs key"), strict=True):
        assert said in line, line
    assert all(line.startswith("<recipe>:") for line in lines)  # each names the recipe line


def test_a_sparse_scan_recipe_is_checked_before_any_work():
    """The values of sample_scan and inpaint were checked only when the step ran, after the earlier steps, one at
    a time."""
    text = ("[input]\npath = 'x.zarr'\n\n[[step]]\nop = 'sample_scan'\npattern = 'spiral'\nfraction = 1.5\n"
            "seed = -1\ndose = 0.0\nmean_run = 0.5\n\n[[step]]\nop = 'inpaint'\nmethod = 'foo'\nmodel = 'ica'\n"
            "tile = 4\n")
    with pytest.raises(RecipeError) as exc:
        parse(text)
    lines = str(exc.value).splitlines()
    for said in ("unknown pattern 'spiral'", "fraction must be in (0, 1]", "seed must be a whole number >= 0",
                 "dose must be a positive, finite", "mean_run must be >= 1", "unknown method 'foo'",
                 "unknown model 'ica'", "tile must be a whole number >= 8"):
        assert sum(said in line for line in lines) == 1, (said, lines)
    assert len(lines) == 8


_DECOMPOSED = "[[step]]\nop = 'decompose'\nname = 'd'\nmethod = 'nmf'\nn_components = 3\n\n[[step]]\n"


@pytest.mark.parametrize(("step", "said"), [
    (_DECOMPOSED + "op = 'cluster'\nof = 'd'\nn_clusters = 0", "'n_clusters' of step 'cluster': n_clusters must be"),
    (_DECOMPOSED + "op = 'cluster'\nof = 'd'\nn_clusters = 2\nseed = -1", "'seed' of step 'cluster': seed must"),
    (_DECOMPOSED + "op = 'cluster'\nof = 'd'\nn_clusters = 2\nn_components = 0", "'n_components' of step 'cluster'"),
    (_DECOMPOSED + "op = 'reconstruct'\nof = 'd'\nn_components = 0", "'n_components' of step 'reconstruct'"),
    ("[[step]]\nop = 'decompose'\nseed = -1", "'seed' of step 'decompose': seed must be a whole number >= 0"),
    ("[[step]]\nop = 'decompose'\nmethod = 'ica'\ndiff_order = -1", "diff_order must be a non-negative integer"),
    ("[[step]]\nop = 'decompose'\nmethod = 'nmf'\nmax_iter = -1",
     "'max_iter' of step 'decompose': max_iter must be a whole number >= 1 (iterations; 0 or None: the method's"),
    ("[[step]]\nop = 'decompose'\nmethod = 'mcr'\nmax_iter = -1", "max_iter must be a whole number >= 1"),
    ("[[step]]\nop = 'decompose'\nmethod = 'ica'\nmax_iter = -1", "max_iter must be a whole number >= 1"),
    # an option without method goes to the default method, as the run gives it: refused only when the step ran
    ("[[step]]\nop = 'decompose'\nmax_iter = 50", "'max_iter' of step 'decompose': method 'pca' takes no option "
     "'max_iter' (an option of ica, mcr, nmf)"),
    ("[[step]]\nop = 'decompose'\nloss = 'kl'", "'loss' of step 'decompose': method 'pca' takes no option 'loss'"),
    ("[[step]]\nop = 'decompose'\nsolver = 'randomized'\nn_iter = -1",
     "'n_iter' of step 'decompose': n_iter must be a whole number >= 0"),
    ("[[step]]\nop = 'decompose'\noversample = -1", "'oversample' of step 'decompose': oversample must be a whole"),
    ("[[step]]\nop = 'elastic_threshold'\nwindow_length = 0", "'window_length' of step 'elastic_threshold': window_"),
    ("[[step]]\nop = 'thickness'\nwindow_length = 0", "'window_length' of step 'thickness': window_length must be"),
    ("[[step]]\nop = 'thickness'\npolyorder = -1", "'polyorder' of step 'thickness': polyorder must be a whole"),
    ("[[step]]\nop = 'align_spectra'\nmax_shift = -1", "'max_shift' of step 'align_spectra': align_spectra: max_sh"),
    ("[[step]]\nop = 'align_spectra'\nsmooth = 0", "'smooth' of step 'align_spectra': align_spectra: smooth must"),
    ("[[step]]\nop = 'rebin'\nscale = [0, 1, 1]", "'scale' of step 'rebin': rebin factor must be a whole number >= 1"),
    ("[[step]]\nop = 'rebin'\nscale = {E = 2.5}", "'scale' of step 'rebin': rebin factor must be"),
    ("[[step]]\nop = 'trace_atoms'\nexclude_border = -1", "exclude_border must be a whole number >= 0"),
    ("[[step]]\nop = 'spectral_tomography'\nn_components = 0", "'n_components' of step 'spectral_tomography'"),
    ("[[step]]\nop = 'autonomous_spectrum_imaging'\nn_phases = 2\nseed = -1", "'seed' of step 'autonomous_spec"),
    ("[[step]]\nop = 'autonomous_spectrum_imaging'\nn_phases = 0", "n_phases must be a whole number >= 1"),
    ("[[step]]\nop = 'autonomous_spectrum_imaging'\nn_phases = 2\nbatch_size = 0", "batch_size must be"),
    ("[[step]]\nop = 'dynamic_sampling'\nmodel = 'm.json'\nseed = -1", "'seed' of step 'dynamic_sampling'"),
    ("[[step]]\nop = 'dynamic_sampling'\nmodel = 'm.json'\nbudget = 0", "budget must be a whole number >= 1"),
])
def test_a_wrong_count_or_seed_is_refused_before_any_work(step, said):
    """n_clusters = 0, seed = -1 or a rebin factor of 0 were refused only when their step ran, after minutes of NMF
    (a review), where the README says the whole recipe is checked first."""
    with pytest.raises(RecipeError) as exc:
        parse("[input]\npath = 'x.zarr'\n\n" + step + "\n")
    lines = str(exc.value).splitlines()
    assert len(lines) == 1 and said in lines[0] and lines[0].startswith("<recipe>:"), lines


def test_missing_input_and_unwritable_output(sample, tmp_path):
    folder, _, _ = sample
    bad = _write(tmp_path, RECIPE.replace("eds.zarr", "missing.zarr"))
    with pytest.raises(RecipeError, match="does not exist"):
        run_recipe(bad, tmp_path / "out")
    with pytest.raises(RecipeError, match="parent does not exist"):
        run_recipe(_write(folder), tmp_path / "no" / "such" / "out")
    assert not (tmp_path / "out").exists()


def test_existing_results_folder_needs_overwrite(sample, tmp_path):
    folder, _, _ = sample
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(em.OutputExistsError):
        run_recipe(_write(folder), out, report=False)
    assert (out / "keep.txt").exists()


def test_recipe_from_history_reproduces_the_signal(sample, tmp_path):
    folder, _, _ = sample
    s = em.load(folder / "eds.zarr")
    done = s.isig[0.5:6.0].inav[2:20, ::2].rebin({"Energy": 2}).sum("x")
    text = recipe_from_history(done.history)
    rec = parse(text)
    assert [st.op for st in rec.steps] == ["isig", "inav", "rebin", "sum"]
    res = run_recipe(_write(tmp_path, text), tmp_path / "out", report=False)
    np.testing.assert_array_equal(res.signal.data, done.data)


def test_a_history_through_results_exports_each_results_of_and_reproduces_the_labels(sample, tmp_path):
    """The labels of a clustering of a decomposition (a result of a result): the export left out ``of =`` and then
    refused its own recipe, "<recipe>:32: labels needs of = the name of an earlier result step (nmf,
    nmf_clusters)", while em.replay of the same history ran."""
    folder, _, _ = sample
    labels = em.load(folder / "eds.zarr").isig[0.2:9.0].decompose("pca", n_components=3).cluster(3).labels
    text = recipe_from_history(labels.history)
    assert [(st.op, st.name, st.of) for st in parse(text).steps] == [
        ("isig", None, None), ("decompose", "pca", None), ("cluster", "pca_clusters", "pca"),
        ("labels", "pca_clusters_labels", "pca_clusters")]
    res = run_recipe(_write(tmp_path, text), tmp_path / "out", report=False)
    np.testing.assert_array_equal(res.results["pca_clusters_labels"].data, labels.data)


def test_a_signal_step_after_a_result_step_is_no_recipe(sample):
    """A recipe's signal steps work on its input's chain, never on a result: a sum of the loadings was exported as
    a sum of the input, other numbers with no word."""
    folder, _, _ = sample
    maps = em.load(folder / "eds.zarr").decompose("pca", n_components=3).loadings.sum("x")
    with pytest.raises(RecipeError, match=r"^history entry 3 \(sum\) works on what 'pca_loadings' made"):
        recipe_from_history(maps.history)


def test_an_exported_recipe_that_fails_its_check_is_named_as_the_export_not_as_a_recipe_file(sample):
    """The export's check of its own text named "<recipe>:5", a file the user never saw."""
    folder, _, _ = sample
    history = [dict(e) for e in em.load(folder / "eds.zarr").sum("x").history]
    history[-1]["op"] = "frobnicate"  # an operation of another emscale
    with pytest.raises(RecipeError) as err:
        recipe_from_history(history)
    assert "<recipe>" not in str(err.value)
    assert str(err.value).startswith("the recipe exported from this history") and "unknown step 'frobnicate'" in str(
        err.value)


def test_a_mask_made_in_memory_cannot_go_into_a_recipe_and_the_error_says_so_in_one_line(sample):
    # it failed deep in the TOML writer with the array's repr: 120 lines of the error, each 'emscale: error:'
    folder, _, _ = sample
    s = em.load(folder / "eds.zarr")
    mask = np.zeros(s.data.shape[:2], bool)
    mask[::3, ::3] = True
    with pytest.raises(RecipeError) as err:
        recipe_from_history(s.sample_scan(mask=mask).history)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300
    assert msg.startswith("history entry 1 (sample_scan): 'mask' was given as an array (24x28)") and "file" in msg


def test_cli_run_history_replay(sample, tmp_path, capsys, monkeypatch):
    folder, _, _ = sample
    out = tmp_path / "cli"
    assert main(["run", str(_write(folder)), "-o", str(out)]) == 0
    assert (out / "report.html").stat().st_size > 10_000
    assert main(["replay", str(out)]) == 0
    assert "bit for bit" in capsys.readouterr().out
    # a replay within tolerance does not end by claiming bit for bit
    import emscale.workflows.recipes as recipes

    def close(outdir, input_path=None):
        import warnings

        warnings.warn("pca: reproduced within 1e-09 of each array's largest value, not bit for bit: the BLAS "
                      "threading differs", stacklevel=2)
        return []

    monkeypatch.setattr(recipes, "replay_outdir", close)
    assert main(["replay", str(out)]) == 0
    said = capsys.readouterr()
    assert "1 within the tolerance" in said.out and "not bit for bit" in said.err
    monkeypatch.undo()
    for folder_, why in ((tmp_path / "nothere", "no such folder"), (tmp_path, "no manifest.json")):
        assert main(["replay", str(folder_)]) == 2
        assert why in capsys.readouterr().err
    (out / "recipe.toml").unlink()
    assert main(["replay", str(out)]) == 2
    assert "no recipe.toml" in capsys.readouterr().err
    assert main(["history", str(out / "signal.zarr"), "--as-recipe"]) == 0
    text = capsys.readouterr().out
    assert 'op = "isig"' in text and 'key = "0.2:9.0"' in text
    bad = _write(tmp_path, "[input]\npath='x.zarr'\n[[step]]\nop='nope'\n", "bad.toml")
    assert main(["run", str(bad), "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "unknown step 'nope'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o2").exists()


def test_a_parameter_written_as_an_inline_table_runs_and_replays(sample, tmp_path):
    # scale = {y = 2, x = 2} passed validation and every step, then the pinned copy could not be written (no output)
    folder, s, _ = sample
    rebin = '[[step]]\nop = "rebin"\nscale = {y = 2, x = 2}\n\n'
    text = RECIPE.replace('[[step]]\nop = "isig"', rebin + '[[step]]\nop = "isig"', 1)
    out = tmp_path / "res"
    run_recipe(_write(folder, text, "table.toml"), out)
    assert "scale = {y = 2, x = 2}" in (out / "recipe.toml").read_text()
    assert em.load(out / "signal.zarr").data.shape[:2] == (s.data.shape[0] // 2, s.data.shape[1] // 2)
    replay_outdir(out)


def test_every_problem_and_every_bad_choice_is_reported_before_any_work(tmp_path, capsys):
    # the CLI printed only the first problem, and a misspelt model or method failed only when its step ran
    text = ("[input]\npath = 'x.zarr'\n\n[[step]]\nop = 'remove_background'\nsignal_range = [1.0, 2.0]\n"
            "model = 'powerlw'\n\n[[step]]\nop = 'decompose'\nmethod = 'pcaa'\n")
    assert main(["run", str(_write(tmp_path, text, "two.toml")), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("emscale: error: ") for line in err)
    assert "'model' of step 'remove_background': unknown background model 'powerlw'" in err[0]
    assert "'method' of step 'decompose': unknown method 'pcaa'; choose one of ica, mcr, nmf, pca, vca" in err[1]
    assert not (tmp_path / "o").exists()


def test_the_names_a_recipe_accepts_are_the_ones_the_operations_accept(sample, tmp_path):
    # any case and the background aliases, as decompose and remove_background take them: a results folder made with
    # method = "PCA" must still replay
    text = ("[input]\npath = 'x.zarr'\n\n[[step]]\nop = 'remove_background'\nsignal_range = [1.0, 2.0]\n"
            "model = 'PL'\n\n[[step]]\nop = 'decompose'\nmethod = 'PCA'\n")
    assert len(parse(text).steps) == 2
    folder, _, _ = sample
    out = tmp_path / "upper"
    run_recipe(_write(folder, RECIPE.replace('method = "pca"', 'method = "PCA"'), "upper.toml"), out)
    replay_outdir(out)


def test_the_report_names_the_input_relative_to_the_results_folder(sample, tmp_path):
    # the demo's reports named the temporary folder the run was written in, which the rename removes
    folder, _, _ = sample
    out = tmp_path / "rel"
    run_recipe(_write(folder, RECIPE, "rel.toml"), out)
    text = (out / "report.html").read_text()
    import os

    rel = os.path.relpath(folder / "eds.zarr", out)
    assert f"<td>file (relative to the results folder)</td><td>{rel}</td>" in text.replace("\n", "")


def test_the_report_says_the_rank_evidence_in_words(sample, tmp_path):
    # the table showed the evidence dictionary's keys (tw_sigmas, pa_margin, n_rows...) and an "automatic rank"
    # beside an asked-for n_components without saying which was used
    folder, _, _ = sample
    out = tmp_path / "words"
    run_recipe(_write(folder, RECIPE.replace('n_components = "auto"', "n_components = 2"), "words.toml"), out)
    text = (out / "report.html").read_text()
    assert "threshold (eigenvalues above it count)" in text and "<td>pa_margin</td>" not in text
    assert "automatic rank (for comparison: 2 component(s) were asked for and used)" in text


def test_a_recipe_ending_in_maps_draws_them_in_its_report(sample, tmp_path):
    # line maps, the main result of an EDS recipe, appeared in the report only as a text repr
    folder, _, _ = sample
    text = "[input]\npath = 'eds.zarr'\n\n[[step]]\nop = 'line_maps'\nlines_or_elements = ['Si_Ka', 'Cu_Ka']\n"
    out = tmp_path / "maps"
    run_recipe(_write(folder, text, "maps.toml"), out)
    html = (out / "report.html").read_text()
    assert html.count("<figcaption>Processed signal</figcaption>") == 1


def test_the_pinned_recipe_holds_the_defaults_each_step_ran_with(sample, tmp_path):
    """A step that leaves a method option at its default is pinned with the value it ran with (ICA of the spectra,
    derivative order 1, FastICA's 1000 iterations), so that ``emscale replay`` re-runs the same after a default
    changes; the manifest says them too. The steps as written are unchanged."""
    import tomllib

    folder, _, _ = sample
    text = RECIPE.replace('method = "nmf"\nn_components = 3', 'method = "ica"\nn_components = 3')
    out = tmp_path / "out"
    run_recipe(_write(folder, text, "ica.toml"), out, report=False)
    pinned = tomllib.loads((out / "recipe.toml").read_text())["step"]
    ica = next(st for st in pinned if st.get("method") == "ica")
    assert (ica["on"], ica["diff_order"], ica["max_iter"]) == ("factors", 1, 1000)
    assert "loss" not in ica and "on" not in next(st for st in pinned if st.get("method") == "pca")
    # fixed defaults too (a seed, a solver): a later change of them must not change a replay either
    pca = next(st for st in pinned if st.get("method") == "pca")
    assert (pca["seed"], pca["solver"], ica["seed"]) == (0, "auto", 3)  # 3: given
    assert next(st for st in pinned if st["op"] == "cluster")["seed"] == 0
    assert not any("executor" in st or "progress" in st for st in pinned)
    steps = json.loads((out / "manifest.json").read_text())["steps"]
    assert steps[2]["as_run"]["on"] == "factors" and "on" not in steps[2]["params"]
    assert replay_outdir(out) == []


def test_a_history_from_before_an_option_was_recorded_exports_the_value_of_its_time(sample):
    """An ICA step recorded before ``on`` existed ran FastICA on the maps; the recipe exported from it says so
    (it would otherwise run today's default, FastICA of the spectra)."""
    folder, _, _ = sample
    d = em.load(folder / "eds.zarr").decompose("ica", n_components=3)
    old = [dict(e) for e in d.history]
    old[-1]["params"] = {k: v for k, v in old[-1]["params"].items() if k not in ("on", "diff_order")}
    step = parse(recipe_from_history(old)).steps[-1]
    assert step.params["on"] == "loadings"
    assert parse(recipe_from_history(d.history)).steps[-1].params["on"] == "factors"


def test_a_folder_from_before_the_pinned_defaults_that_no_longer_replays_says_why(sample, tmp_path):
    """A manifest without the steps' as-run values (written before recipes pinned them), or without steps at all,
    and an output whose recorded digest no longer matches its replay: the finding says a changed default may be
    the cause, and a manifest without steps is a finding, not a KeyError."""
    folder, _, _ = sample
    out = tmp_path / "res"
    run_recipe(_write(folder), out, report=False)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["outputs"]["nmf"]["sha256"] = "0" * 64  # as if the recorded run had computed something else
    for steps in ([{k: v for k, v in st.items() if k != "as_run"} for st in manifest["steps"]], None):
        if steps is None:
            del manifest["steps"]
        else:
            manifest["steps"] = steps
        (out / "manifest.json").write_text(json.dumps(manifest))
        problems = [p for p in replay_outdir(out) if p.startswith("nmf: replayed")]
        assert problems and "a default that has changed since?" in problems[0], problems


def test_a_sparse_scan_recipe_reports_what_it_measured_what_ran_and_the_figure(tmp_path):
    # the report of a user's CS-STEM recipe had no mask, no reconstruction figure and no word of the hold-out's
    # choice (only the demo added them, by hand)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "inpainting"))
    from cs_images import lattice

    noisy, _ = lattice(n=48, seed=6)
    axes = [{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    em.Signal(noisy, axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    text = ('[input]\npath = "adf.zarr"\n\n[[step]]\nop = "sample_scan"\npattern = "line_hop"\nfraction = 0.2\n'
            'seed = 3\ndose = 2.0\n\n[[step]]\nop = "inpaint"\nmethod = "sparse"\n')
    res = run_recipe(_write(tmp_path, text, "cs.toml"), tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    section = html[html.index("<h2>Sparse scan and reconstruction</h2>"):]
    measured = em.sampling.scan_mask(res.signal)
    assert f"{int(measured.sum())} of 2304 ({measured.mean():.2%}; asked 20.00%)" in section
    assert "2 (Poisson counts drawn)" in section and "hold-out" in section and "… prior" in section
    assert section.index("<img") < section.index("<h2>", 5)  # the figure is in this section
    assert "error against the signal the run sampled times the dose" in section
    assert res.scans[0]["reference"] is res.input_signal and res.scans[0]["reconstruction"] is res.signal


def test_a_recipe_samples_through_a_position_list_beside_its_input(tmp_path):
    # `emscale pattern` writes the list a scan generator reads; a recipe could not read it back ("mask must be
    # boolean, got dtype <U8"), and an inline mask of 4096 booleans made a 28 kB recipe
    from emscale.sampling import load_positions, make_pattern, save_positions, scan_mask

    axes = [{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    em.Signal(np.random.default_rng(0).random((32, 40)), axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    save_positions(make_pattern("jittered_grid", (32, 40), 0.2, 1), tmp_path / "scan.csv")
    text = ('[input]\npath = "adf.zarr"\n\n[[step]]\nop = "sample_scan"\nmask = "scan.csv"\n\n[[step]]\n'
            'op = "inpaint"\nmethod = "linear"\n')
    res = run_recipe(_write(tmp_path, text, "m.toml"), tmp_path / "out", report=False)
    assert np.array_equal(scan_mask(res.signal), load_positions(tmp_path / "scan.csv", (32, 40)))
    assert replay_outdir(tmp_path / "out") == []
    pinned = (tmp_path / "out" / "recipe.toml").read_text()
    assert "pattern" not in pinned and "fraction" not in pinned  # ignored with a mask: neither pinned nor recorded
    # the results folder pins the list by its digest: a replay of a changed list names it
    assert 'mask = {name = "scan.csv", sha256 = "' in pinned
    save_positions(make_pattern("jittered_grid", (32, 40), 0.2, 2), tmp_path / "scan.csv", overwrite=True)
    with pytest.raises(RecipeError, match=r"\(sample_scan\): mask 'scan.csv': .* is not the file this step read"):
        replay_outdir(tmp_path / "out")
    (tmp_path / "scan.csv").unlink()  # the history holds the mask itself, not the file's name
    assert np.array_equal(np.asarray(em.replay(res.signal.history).data), np.asarray(res.signal.data))
    for name, said in [("../scan.csv", "plain name of a file beside the input"), ("scan.txt", ".csv or .npy"),
                       ("gone.csv", "no such file beside the input")]:
        with pytest.raises(RecipeError, match=said):
            run_recipe(_write(tmp_path, text.replace("scan.csv", name), "bad.toml"), tmp_path / "bad",
                       report=False)
    assert not (tmp_path / "bad").exists()


def test_the_report_cuts_a_long_parameter_in_its_steps_table(tmp_path):
    # an inline 64 x 64 mask printed its 4096 booleans in the Steps table
    axes = [{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    em.Signal(np.ones((16, 16)), axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    mask = (np.arange(256).reshape(16, 16) % 3 == 0).tolist()
    text = (f'[input]\npath = "adf.zarr"\n\n[[step]]\nop = "sample_scan"\nmask = {json.dumps(mask).lower()}\n\n'
            '[[step]]\nop = "inpaint"\nmethod = "nearest"\n')
    run_recipe(_write(tmp_path, text, "inline.toml"), tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    steps = html[html.index("<h2>Steps</h2>"):html.index("<h2>", html.index("<h2>Steps</h2>") + 5)]
    assert "characters; the recipe holds it whole" in steps and steps.count("true") + steps.count("True") < 40


def test_a_results_folder_from_before_an_option_existed_replays_with_the_value_of_its_time(tmp_path):
    """A pinned recipe holds every value its steps ran with, so a parameter it lacks is one the step predates: the
    replay runs it with the value of its time (a jittered grid's square cells), not today's default."""
    import hashlib

    axes = [{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    em.Signal(np.random.default_rng(0).random((20, 30)), axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    text = ('[input]\npath = "adf.zarr"\n\n[[step]]\nop = "sample_scan"\npattern = "jittered_grid"\nfraction = 0.3\n'
            'cells = "square"\n')
    out = tmp_path / "out"
    run_recipe(_write(tmp_path, text, "j.toml"), out, report=False)
    pinned = out / "recipe.toml"
    pinned.write_text(pinned.read_text().replace('cells = "square"\n', ""))  # as a folder written before cells
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["recipe.toml"] = hashlib.sha256(pinned.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert replay_outdir(out) == []


def test_an_inpaint_steps_params_are_checked_against_its_method_before_any_work():
    # a misspelt option (lam for lam_min) and n_iter = -5 were found only when the step ran, after the steps before
    text = ("[input]\npath = 'x.zarr'\n\n[[step]]\nop = 'sample_scan'\nfraction = 1.5\n\n[[step]]\nop = 'inpaint'\n"
            "method = 'sparse'\nparams = {lam = 3, n_iter = -5}\n\n[[step]]\nop = 'inpaint'\nmethod = 'dictionary'\n"
            "params = {patch = 8, stride = 12}\n\n[[step]]\nop = 'inpaint'\nmethod = 'linear'\n"
            "params = {denoise_spectra = false}\n")
    with pytest.raises(RecipeError) as exc:
        parse(text)
    lines = str(exc.value).splitlines()
    assert len(lines) == 3, lines
    assert "fraction must be in (0, 1]" in lines[0]
    assert "<recipe>:8: parameter 'params' of step 'inpaint': params: 'sparse' takes no parameter 'lam'" in lines[1]
    assert "n_iter must be a whole number >= 1 (FISTA iterations, or 'auto'), got -5" in lines[1]
    assert "<recipe>:13:" in lines[2] and "stride 12 is longer than the patch (8 pixels)" in lines[2]


def test_the_files_a_recipe_names_are_found_before_any_step_runs(tmp_path):
    # a missing position list was found only when its step ran, after the steps before it
    axes = [{"name": "y", "navigate": False}, {"name": "x", "navigate": False}]
    em.Signal(np.random.default_rng(0).random((32, 40)), axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    (tmp_path / "bad.csv").write_text("row,column\n1,2\n1.5,3\n")
    text = ('[input]\npath = "adf.zarr"\n\n[[step]]\nop = "sample_scan"\nfraction = 0.3\n\n[[step]]\nop = "inpaint"\n'
            'mask = "nothere.csv"\n\n[[step]]\nop = "inpaint"\nmask = "bad.csv"\n')
    ran = []
    recipe = _write(tmp_path, text, "files.toml")
    with pytest.raises(RecipeError) as exc:
        run_recipe(recipe, tmp_path / "out", progress=lambda *a: ran.append(a))
    assert ran == [] and not (tmp_path / "out").exists()
    lines = str(exc.value).splitlines()
    assert len(lines) == 2, lines
    where = Path(recipe).resolve()  # file:line, as the recipe's check names its lines
    assert lines[0].startswith(f"{where}:8 (inpaint): mask 'nothere.csv': no such file beside the input")
    assert lines[1].startswith(f"{where}:12 (inpaint): ") and "bad.csv: not a position list" in lines[1]


def test_a_recipe_that_ends_in_a_sparse_scan_writes_its_report(tmp_path):
    # every step ran, then the report's mean spectrum refused the scan's uncounted zeros: exit 2, nothing written
    s, _ = eds_si(shape=(16, 20), n_channels=64, seed=1)
    s.save(tmp_path / "eds.zarr")
    text = '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "sample_scan"\nfraction = 0.25\nseed = 2\n'
    res = run_recipe(_write(tmp_path, text, "sparse.toml"), tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Processed signal" in html and em.sampling.scan_mask(res.signal).sum() == 80
    from emscale.workflows.report import _mean_spectrum_figure

    fig = _mean_spectrum_figure(res.signal, "after")
    assert fig.axes[0].get_title() == "after (80 measured positions)"
    measured = np.asarray(res.signal.data)[em.sampling.scan_mask(res.signal)].mean(axis=0)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), measured)


def test_a_pipe_or_a_device_is_no_input(tmp_path):
    # its digest read to the end: `emscale run` on /dev/zero or a FIFO waited for ever
    import os

    fifo = tmp_path / "scan.dm3"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(em.FileFormatError, match="not a regular file"):
            em.load(path)


def test_a_replay_under_other_blas_threads_is_compared_to_each_arrays_scale(tmp_path, monkeypatch):
    # compared element by element (rtol=1e-9, atol=0), a PCA that reproduced to 1e-13 of its values failed where a
    # loading of 2e-4 moved by 1.3e-9 of itself; a difference of the array's scale must still fail
    import warnings

    from emscale.workflows.recipes import runner

    rng = np.random.default_rng(0)
    data = rng.uniform(1.0, 100.0, (6, 7, 32))
    data[0, 0, 0] = 2e-4  # near zero, next to values of 100
    em.Signal(data).save(tmp_path / "x.zarr")
    recipe = _write(tmp_path, '[input]\npath = "x.zarr"\n\n[[step]]\nop = "isig"\nkey = "0:32"\n', "f.toml")
    out = tmp_path / "res"
    run_recipe(recipe, out, report=False)
    real_execute, real_threading = runner.execute, runner._threading

    def replayed_with(change):
        def execute(*args, **kwargs):
            first, s, results, records = real_execute(*args, **kwargs)
            moved = s.data.copy()
            change(moved)
            return first, em.Signal(moved, axes=s.axes, history=s.history), results, records
        return execute

    monkeypatch.setattr(runner, "_threading", lambda: {"openblas:other": 1})

    def near_zero(d):  # 5e-9 of the element, 1e-14 of the array's largest value
        d[0, 0, 0] *= 1 + 5e-9

    monkeypatch.setattr(runner, "execute", replayed_with(near_zero))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert replay_outdir(out) == []
    said = [str(w.message) for w in caught if "not bit for bit" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("signal: reproduced within 1e-09 of each array's largest value")

    def real(d):  # 1e-6 of the array's scale
        d[3, 3, 3] += 1e-6 * np.abs(d).max()

    monkeypatch.setattr(runner, "execute", replayed_with(real))
    assert replay_outdir(out) == ["signal: replayed result differs from the recorded one"]
    monkeypatch.setattr(runner, "execute", replayed_with(lambda d: d.__setitem__((1, 1, 1), np.nan)))
    assert replay_outdir(out) == ["signal: replayed result differs from the recorded one"]
    # under the recorded threading, bit for bit only
    monkeypatch.setattr(runner, "_threading", real_threading)
    monkeypatch.setattr(runner, "execute", replayed_with(near_zero))
    assert replay_outdir(out) == ["signal: replayed result differs from the recorded one"]


def test_what_a_step_warns_goes_into_the_manifest_and_the_report_and_an_old_manifest_still_replays(sample,
                                                                                                    tmp_path):
    # the warnings were on the console only: the report and the manifest of a run whose NMF did not converge
    # said nothing of it
    folder, _, _ = sample
    text = RECIPE.split('[[step]]\nop = "decompose"\nname = "pca"')[0] + (
        '[[step]]\nop = "decompose"\nname = "nmf"\nmethod = "nmf"\nn_components = 3\nseed = 3\nmax_iter = 10\n')
    out = tmp_path / "res"
    with pytest.warns(UserWarning, match="nmf stopped at max_iter=10") as shown:
        run_recipe(_write(folder, text, "warns.toml"), out)
    assert sum("stopped at max_iter" in str(w.message) for w in shown) == 1  # shown once, as before
    manifest = json.loads((out / "manifest.json").read_text())
    assert [len(st["warnings"]) for st in manifest["steps"]] == [0, 1]
    said = manifest["steps"][1]["warnings"][0]
    assert said.startswith("nmf stopped at max_iter=10 before its loss settled")
    report = (out / "report.html").read_text()
    assert f"<li>step 2 (decompose → nmf): {said}</li>" in report
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        assert replay_outdir(out) == []
    # a manifest written before steps kept their warnings replays as it did
    for st in manifest["steps"]:
        del st["warnings"]
    del manifest["report_warnings"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        assert replay_outdir(out) == []


def test_what_drawing_the_report_warns_is_in_the_report_escaped_and_in_the_manifest(tmp_path):
    data = np.random.default_rng(0).uniform(1.0, 10.0, (4, 5, 16))
    data[1, 2, 3] = np.nan
    em.Signal(data).save(tmp_path / "nan.zarr")
    recipe = _write(tmp_path, '[input]\npath = "nan.zarr"\n\n[[step]]\nop = "isig"\nkey = "0:8"\n', "nan.toml")
    out = tmp_path / "res"
    with pytest.warns(UserWarning, match="are NaN"):
        run_recipe(recipe, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["steps"][0]["warnings"] == []
    assert len(manifest["report_warnings"]) == 1 and manifest["report_warnings"][0].startswith("1 of 320 values of <")
    report = (out / "report.html").read_text()
    assert "<li>drawing this report: 1 of 320 values of &lt;Signal" in report


def test_a_recipe_that_ends_in_a_profile_draws_it_as_it_is(tmp_path):
    # the classic EELS workflow ends in a profile along x (summed over y and energy): the report titled it "Mean
    # spectrum after the steps" with "mean counts" beside values that were sums, of a spectrum that was none
    s, _ = eds_si(shape=(6, 10), n_channels=32, seed=1)
    s.save(tmp_path / "eds.zarr")
    text = '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "sum"\naxis = [0, -1]\n'
    res = run_recipe(_write(tmp_path, text, "profile.toml"), tmp_path / "out")
    assert res.signal.nav_ndim == 0 and res.signal.sig_ndim == 1
    from emscale.workflows.report import _mean_spectrum_figure

    ax = _mean_spectrum_figure(res.signal, "The signal after the steps").axes[0]
    assert ax.get_ylabel() == "X-rays (Counts)"  # the quantity, no "mean"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.asarray(res.signal.data))
    assert ax.lines[0].get_ydata().sum() == np.asarray(s.data).sum()  # sums, not means


def test_a_recipe_that_python_cannot_read_or_a_folder_is_named(tmp_path):
    # an integer of 5000 digits: "Exceeds the limit (4300 digits) for integer string conversion", no recipe named;
    # `emscale run adir.toml` on a folder: "no such recipe file"
    from emscale.workflows.recipes import load_recipe

    with pytest.raises(RecipeError, match=r"<recipe>: not a recipe: a value it holds cannot be read \(Exceeds"):
        parse("[input]\npath = 'x.zarr'\n[[step]]\nop = 'sum'\naxis = " + "9" * 5000 + "\n")
    (tmp_path / "adir.toml").mkdir()
    with pytest.raises(RecipeError, match=r"adir\.toml: a folder, not a recipe file"):
        load_recipe(tmp_path / "adir.toml")
