"""Results folders: recipes confined to their folder, replay that finds every change, folders that can move."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import OutputExistsError
from emscale.workflows.demo import run_demo
from emscale.workflows.recipes import RecipeError, load_recipe, parse, replay_outdir, run_recipe


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    rng = np.random.default_rng(3)
    axes = [{"name": "y"}, {"name": "x"}, {"name": "E", "scale": 0.5, "offset": 100.0, "units": "eV"}]
    em.Signal(rng.poisson(20.0, (6, 5, 64)).astype(np.uint16), axes=axes, signal_type="EELS").save(root / "in.zarr")
    return root


RECIPE = """[input]
path = "{path}"

[[step]]
op = "isig"
key = "2:60"

[[step]]
op = "decompose"
name = "pca"
method = "pca"
n_components = 2
"""


@pytest.mark.parametrize("addition, key", [
    ('[output]\nreport = "../../victim.html"\n', "report"),
    ('[output]\nsignal = "../escape_signal.zarr"\n', "signal"),
    ('[output]\nsignal = "/tmp/abs.zarr"\n', "signal"),
    ('[[step]]\nop = "decompose"\nname = "../../escape_name"\n', "name"),
])
def test_a_recipe_cannot_write_outside_its_folder(cube, tmp_path, addition, key):
    victim = tmp_path / "victim.html"
    victim.write_text("precious")
    text = RECIPE.format(path=cube / "in.zarr") + addition
    with pytest.raises(RecipeError, match=f"{key}.*plain file name"):
        run_recipe(parse(text), tmp_path / "out" / "r24")
    assert victim.read_text() == "precious" and not (tmp_path / "out").exists()


def test_all_problems_of_a_recipe_are_reported_at_once(cube):
    text = (f'[input]\npath = "{cube / "in.zarr"}"\n\n[[step]]\nop = "sum"\naxis = 1.5\n\n'
            '[[step]]\nop = "frobnicate"\n\n[output]\nsignal = 5\n')
    with pytest.raises(RecipeError) as exc:
        parse(text)
    lines = str(exc.value).splitlines()
    assert len(lines) == 3
    assert any(":4: parameter 'axis'" in m for m in lines) and any(":8: unknown step 'frobnicate'" in m for m in lines)
    assert any("[output] signal must be text" in m for m in lines)


def test_a_misspelt_choice_is_caught_before_the_run(cube):
    with pytest.raises(RecipeError, match="n_components.*'auto'.*'three'"):
        parse(f'[input]\npath = "{cube / "in.zarr"}"\n[[step]]\nop = "decompose"\nn_components = "three"\n')


def test_remove_background_model_is_accepted_by_recipes(cube):
    parse(f'[input]\npath = "{cube / "in.zarr"}"\n[[step]]\nop = "remove_background"\n'
          'signal_range = [105.0, 115.0]\nmodel = "exponential"\n')


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_recipe_saved_with_a_byte_order_mark_reads_as_its_text(cube, tmp_path, encoding):
    # Notepad's UTF-8 mark was "not valid TOML (at line 1, column 1)"; PowerShell 5's `>` writes UTF-16 with one
    text = RECIPE.format(path=cube / "in.zarr").replace('key = "2:60"', 'key = "2:60"  # über alle Kanäle')
    (tmp_path / "r.toml").write_bytes(text.encode(encoding))
    assert load_recipe(tmp_path / "r.toml").text == text


def test_a_recipe_in_another_encoding_is_refused_with_its_name(cube, tmp_path):
    # Latin-1 was "'utf-8' codec can't decode byte 0xfc in position 73", with no file named
    text = RECIPE.format(path=cube / "in.zarr").replace('key = "2:60"', 'key = "2:60"  # über')
    (tmp_path / "r.toml").write_bytes(text.encode("latin-1"))
    with pytest.raises(RecipeError, match=r"r\.toml: not UTF-8 text \(byte 0xfc at offset \d+\); save the recipe as"):
        load_recipe(tmp_path / "r.toml")


@pytest.fixture
def results(cube, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(cube, work / "inputs")
    (work / "r.toml").write_text(RECIPE.format(path="inputs/in.zarr"))
    run_recipe(work / "r.toml", work / "out")
    assert replay_outdir(work / "out") == []
    return work


def test_manifest_lists_every_file_with_relative_input(results):
    m = json.loads((results / "out" / "manifest.json").read_text())
    assert m["input"]["path"] == "../inputs/in.zarr"
    assert {"recipe.toml", "report.html", "pca.npz", "signal.zarr/zarr.json"} <= set(m["files"])
    assert "threading" in m


def test_a_moved_results_folder_replays(results, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(results, moved)
    assert replay_outdir(moved / "out") == []
    alone = tmp_path / "alone"
    shutil.move(moved / "out", alone)
    with pytest.raises(RecipeError, match="does not exist.*pass --input PATH"):
        replay_outdir(alone)
    assert replay_outdir(alone, input_path=moved / "inputs" / "in.zarr") == []
    # a wrong --input is named as the user's, not sent back to the option it came from
    with pytest.raises(RecipeError, match=r"in\.zarr: the input given \(--input\) does not exist$"):
        replay_outdir(alone, input_path=tmp_path / "inputs" / "in.zarr")


def test_a_results_folder_of_an_input_named_by_an_absolute_path_replays_where_it_moves(cube, tmp_path):
    # the absolute path was rewritten relative to the results folder, so a folder moved alone (its input at the
    # fixed place the recipe named) failed: "../../../in.zarr: the recipe's input does not exist"
    work = tmp_path / "work"
    work.mkdir()
    (work / "r.toml").write_text(RECIPE.format(path=(cube / "in.zarr").as_posix()))
    run_recipe(work / "r.toml", work / "out")
    m = json.loads((work / "out" / "manifest.json").read_text())
    assert m["input"]["path"] == str(cube / "in.zarr")
    assert f'path = "{(cube / "in.zarr").as_posix()}"' in (work / "out" / "recipe.toml").read_text()
    moved = tmp_path / "x" / "y" / "z"
    moved.mkdir(parents=True)
    shutil.move(work / "out", moved / "out")
    assert replay_outdir(moved / "out") == []
    report = (moved / "out" / "report.html").read_text().replace("\n", "")
    assert f"<td>file</td><td>{cube / 'in.zarr'}</td>" in report


def _tamper_outputs_emptied(out):
    m = json.loads((out / "manifest.json").read_text())
    m["outputs"] = {}
    (out / "manifest.json").write_text(json.dumps(m))


def _tamper_removed_and_altered(out):
    m = json.loads((out / "manifest.json").read_text())
    del m["outputs"]["pca"]
    del m["files"]["pca.npz"]
    (out / "manifest.json").write_text(json.dumps(m))
    (out / "pca.npz").write_bytes(b"not the result")


def _tamper_axis_scale(out):
    p = out / "signal.zarr" / "zarr.json"
    doc = json.loads(p.read_text())
    axes = doc["attributes"]["emscale"]["axes"]
    axes[0]["scale"] = 2.0 * float(axes[0].get("scale", 1.0))
    p.write_text(json.dumps(doc))


def _tamper_report(out):
    (out / "report.html").write_text((out / "report.html").read_text().replace("emscale", "emscalE", 1))


def _tamper_input_hash(out):
    m = json.loads((out / "manifest.json").read_text())
    m["input"]["sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(m))


def _tamper_extra_file(out):
    (out / "extra.txt").write_text("planted")


def _tamper_step_params(out):  # "every output reproduced bit for bit" of a manifest that misdescribed the run
    m = json.loads((out / "manifest.json").read_text())
    m["steps"][1]["params"]["n_components"] = 7
    (out / "manifest.json").write_text(json.dumps(m))


def _tamper_step_dropped(out):
    m = json.loads((out / "manifest.json").read_text())
    m["steps"] = m["steps"][1:]
    (out / "manifest.json").write_text(json.dumps(m))


def _tamper_step_emptied(out):  # only the values present were compared: {} passed (a reviewer)
    m = json.loads((out / "manifest.json").read_text())
    m["steps"][1]["params"] = {}
    (out / "manifest.json").write_text(json.dumps(m))


def _tamper_step_float(out):  # 2 -> 2.0 passed Python's equality
    m = json.loads((out / "manifest.json").read_text())
    m["steps"][1]["params"]["n_components"] = 2.0
    (out / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("tamper", [_tamper_outputs_emptied, _tamper_removed_and_altered, _tamper_axis_scale,
                                    _tamper_report, _tamper_input_hash, _tamper_extra_file, _tamper_step_params,
                                    _tamper_step_dropped, _tamper_step_emptied, _tamper_step_float])
def test_replay_finds_tampering(results, tamper):
    tamper(results / "out")
    assert replay_outdir(results / "out")


def test_a_deleted_output_is_said_once(results):
    # it was said twice, the second time as a raw "[Errno 2] No such file or directory" from reading it
    (results / "out" / "pca.npz").unlink()
    assert replay_outdir(results / "out") == ["pca.npz: in the manifest but missing from the folder"]


def test_replay_never_reads_a_file_the_manifest_does_not_list(results, tmp_path):
    # a manifest's output pointing outside the folder was reported as unlisted, then read all the same (a crafted
    # result there took 3.3 GB)
    outside = tmp_path / "outside.npz"
    shutil.copy(results / "out" / "pca.npz", outside)
    m = json.loads((results / "out" / "manifest.json").read_text())
    m["outputs"]["pca"]["files"] = [f"../../{outside.name}"]
    (results / "out" / "manifest.json").write_text(json.dumps(m))
    import emscale.workflows.recipes.runner as runner

    read = []
    real = runner._read_result
    runner._read_result = lambda files, outdir: read.append(files) or real(files, outdir)
    try:
        problems = replay_outdir(results / "out")
    finally:
        runner._read_result = real
    assert "pca: its files are not listed in the manifest" in problems and ["../../outside.npz"] not in read


def test_replay_of_a_converted_real_file_is_not_a_false_alarm(real_dir, tmp_path):
    em.convert(real_dir / "EELS_SI.dm4", tmp_path / "eels.zarr")
    (tmp_path / "r.toml").write_text('[input]\npath = "eels.zarr"\n\n[[step]]\nop = "sum"\naxis = "x"\n')
    run_recipe(tmp_path / "r.toml", tmp_path / "out")
    assert replay_outdir(tmp_path / "out") == []


def test_demo_never_destroys_a_users_folder(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="not empty"):
        run_demo(out)
    assert (out / "thesis.tex").read_text() == "years of work" and len(list(out.iterdir())) == 1
    # --overwrite replaces only a folder the demo wrote, not the user's
    with pytest.raises(OutputExistsError, match="not a demo folder that emscale wrote"):
        run_demo(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "years of work" and len(list(out.iterdir())) == 1
    # a failure half-way leaves a demo folder as it was, even with overwrite
    import emscale.workflows.demo as demo

    old = tmp_path / "old_demo"
    (old / "eds").mkdir(parents=True)
    (old / "index.html").write_text("old")
    (old / "eds" / "manifest.json").write_text("{}")
    listing = {"emscale": "0", "files": ["index.html", "eds/manifest.json"]}
    (old / "demo_files.json").write_text(json.dumps(listing))
    monkeypatch.setattr(demo, "_write_demo", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        run_demo(old, overwrite=True)
    assert (old / "index.html").read_text() == "old" and not list(tmp_path.glob(".old_demo.*"))


@pytest.fixture()
def user_folder(tmp_path):
    """A user's folder holding a raw file and a recipe that reads it."""
    d = tmp_path / "work"
    d.mkdir()
    em.Signal(np.arange(24, dtype=np.uint16).reshape(2, 3, 4)).save(d / "raw.zarr")
    (d / "r.toml").write_text('[input]\npath = "raw.zarr"\n\n[[step]]\nop = "sum"\naxis = 0\n')
    return d


def _tree(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize("where", ["the folder itself", "its parent", "the raw file", "inside the raw store"])
def test_overwrite_never_destroys_the_recipes_own_input(user_folder, where):
    """``emscale run r.toml -o . --overwrite`` deleted the raw file and the recipe; ``-o raw.bcf --overwrite``
    replaced the raw file with a folder of results."""
    out = {"the folder itself": user_folder, "its parent": user_folder.parent,
           "the raw file": user_folder / "raw.zarr", "inside the raw store": user_folder / "raw.zarr" / "out"}[where]
    before = _tree(user_folder)
    with pytest.raises(OutputExistsError, match="which this run reads|is a file|which holds only its own files"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert _tree(user_folder) == before


@pytest.mark.parametrize("where", ["inside", "itself"])
def test_results_are_never_written_into_a_store(user_folder, tmp_path, where):
    """``emscale run r.toml -o other.zarr/results`` (a store the run does not read) wrote its results inside that
    store, whose next ``--overwrite`` was then refused for holding files emscale did not write; the demo too."""
    other = tmp_path / "other.zarr"
    em.Signal(np.zeros((2, 2, 3), dtype=np.uint16)).save(other)
    before = _tree(other)
    out = other / "results" if where == "inside" else other
    said = "lies inside" if where == "inside" else "is"
    with pytest.raises(OutputExistsError, match=f"results folder {re.escape(str(out))} {said} the emscale store "
                       f"{re.escape(str(other))}, which holds only its own files; write it outside: nothing written"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    with pytest.raises(OutputExistsError, match="demo folder .* the emscale store"):
        run_demo(out)
    assert _tree(other) == before and em.load(other).data.shape == (2, 2, 3)


def test_an_empty_current_folder_is_filled_in_place(user_folder, tmp_path, monkeypatch):
    """``emscale run r.toml -o .`` in a new empty folder swapped that folder for a new one: the shell was left in the
    deleted folder (``ls`` showed nothing, ``emscale replay .`` found no manifest)."""
    out = tmp_path / "new"
    out.mkdir()
    inode = out.stat().st_ino
    monkeypatch.chdir(out)
    run_recipe(user_folder / "r.toml", ".")
    assert out.stat().st_ino == inode  # the same folder, which the shell is still in
    assert sorted(p.name for p in Path(".").iterdir()) == ["manifest.json", "recipe.toml", "report.html",
                                                            "signal.zarr"]
    assert replay_outdir(".") == []
    # the swap of --overwrite would strand the shell the same way: refused, the results kept
    before = _tree(out)
    with pytest.raises(OutputExistsError, match="is the current folder or holds it: --overwrite replaces the folder"):
        run_recipe(user_folder / "r.toml", ".", overwrite=True)
    monkeypatch.chdir(out / "signal.zarr")
    with pytest.raises(OutputExistsError, match="is the current folder or holds it"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert _tree(out) == before
    monkeypatch.chdir(tmp_path)  # from outside it, --overwrite replaces it as before
    run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert replay_outdir(out) == []


def test_overwrite_replaces_only_a_results_folder(user_folder, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not a results folder that emscale wrote"):
        run_recipe(user_folder / "r.toml", notes, overwrite=True)
    assert (notes / "todo.txt").read_text() == "mine"
    run_recipe(user_folder / "r.toml", tmp_path / "out")
    run_recipe(user_folder / "r.toml", tmp_path / "out", overwrite=True)  # a results folder: replaced
    assert (tmp_path / "out" / "manifest.json").is_file()
    # a file named manifest.json does not make a results folder (other tools write one): the folder was replaced
    (notes / "manifest.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="not a results folder that emscale wrote"):
        run_recipe(user_folder / "r.toml", notes, overwrite=True)
    assert (notes / "todo.txt").read_text() == "mine"
    # nor is a file the user put into a results folder deleted with it
    (tmp_path / "out" / "my_notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"holds 1 file\(s\) that emscale did not write or "
                                                r"that were changed since \(my_notes.txt\)"):
        run_recipe(user_folder / "r.toml", tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "my_notes.txt").read_text() == "mine"


def test_overwrite_keeps_a_users_file_copied_in_with_its_old_time(user_folder, tmp_path):
    # cp -p / rsync -a / tar x keep a file's old mtime, before the manifest's: it was deleted unseen; an empty
    # folder of the user's too
    import os

    out = tmp_path / "out"
    run_recipe(user_folder / "r.toml", out)
    report = out / "report.html"
    old = (out / "manifest.json").stat().st_mtime - 3600
    report.write_text("<p>my notes</p>")
    os.utime(report, (old, old))
    with pytest.raises(OutputExistsError, match=r"report.html \(changed since emscale wrote it\)"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert report.read_text() == "<p>my notes</p>"
    shutil.rmtree(out)
    run_recipe(user_folder / "r.toml", out)
    # a link put in place of the report, to a copy of it elsewhere: replaced silently, the link being no file
    # emscale wrote (a review); the folder is kept
    kept = tmp_path / "mine.html"
    shutil.copy(report, kept)
    report.unlink()
    report.symlink_to(kept)
    with pytest.raises(OutputExistsError, match=r"report.html \(changed since emscale wrote it\)"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert report.is_symlink() and kept.read_text().startswith("<!")
    shutil.rmtree(out)
    run_recipe(user_folder / "r.toml", out)
    (out / "my_folder").mkdir()
    with pytest.raises(OutputExistsError, match=r"my_folder/ \(empty folder\)"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert (out / "my_folder").is_dir()


def test_overwrite_keeps_a_report_the_user_edited(user_folder, tmp_path):
    """--overwrite replaced a file the run had written even where the user had edited it since (the manifest's digest
    shows the edit); a file copied back unchanged, or touched without a change, does not stop it."""
    import os

    out = tmp_path / "out"
    run_recipe(user_folder / "r.toml", out)
    report = out / "report.html"
    os.utime(report, (report.stat().st_atime, report.stat().st_mtime + 5))  # touched, same bytes: replaceable
    run_recipe(user_folder / "r.toml", out, overwrite=True)
    report.write_text(report.read_text() + "<p>my reading of the figures</p>")
    os.utime(report, (report.stat().st_atime, (out / "manifest.json").stat().st_mtime + 5))
    with pytest.raises(OutputExistsError, match=r"holds 1 file\(s\) .* \(report.html \(changed since emscale wrote "
                                                r"it\)\); --overwrite would lose them"):
        run_recipe(user_folder / "r.toml", out, overwrite=True)
    assert report.read_text().endswith("<p>my reading of the figures</p>")


def _small_demo(monkeypatch, text: str) -> None:
    """The demo's pipelines replaced by two files: its folder handling is what is tested."""
    import emscale.workflows.demo as demo

    def write(outdir, *args):
        (outdir / "eds").mkdir()
        (outdir / "eds" / "manifest.json").write_text(text)
        (outdir / "index.html").write_text(text)

    monkeypatch.setattr(demo, "_write_demo", write)


def test_demo_overwrite_replaces_its_own_files_and_keeps_the_users(tmp_path, monkeypatch):
    # "with --overwrite replace only what it wrote": a user's notes in the demo folder stopped the rerun (issue 17)
    import os

    out = tmp_path / "demo"
    _small_demo(monkeypatch, "first")
    run_demo(out)
    (out / "my_notes.txt").write_text("mine")
    (out / "eds" / "reading.md").write_text("the EDS map")
    (out / "drafts" / "fig").mkdir(parents=True)
    (out / "drafts" / "fig" / "a.svg").write_text("<svg/>")
    (out / "empty").mkdir()
    (out / "link").symlink_to("my_notes.txt")
    notes_inode = (out / "my_notes.txt").stat().st_ino
    _small_demo(monkeypatch, "second")
    run_demo(out, overwrite=True)
    assert (out / "index.html").read_text() == "second" and (out / "eds" / "manifest.json").read_text() == "second"
    assert (out / "my_notes.txt").read_text() == "mine" and (out / "my_notes.txt").stat().st_ino == notes_inode
    assert (out / "eds" / "reading.md").read_text() == "the EDS map"
    assert (out / "drafts" / "fig" / "a.svg").read_text() == "<svg/>" and (out / "empty").is_dir()
    assert os.readlink(out / "link") == "my_notes.txt"
    assert not [p.name for p in tmp_path.iterdir() if p.name != "demo"]  # no temporary or old folder left
    # the user's files are still theirs, not the demo's: a third run keeps them again
    _small_demo(monkeypatch, "third")
    run_demo(out, overwrite=True)
    assert (out / "index.html").read_text() == "third" and (out / "my_notes.txt").read_text() == "mine"


def test_demo_overwrite_refuses_what_it_would_lose(tmp_path, monkeypatch):
    import os

    out = tmp_path / "demo"
    _small_demo(monkeypatch, "first")
    run_demo(out)
    # a demo file the user edited would be replaced: refused, nothing written
    (out / "index.html").write_text("my edits")
    later = (out / "demo_files.json").stat().st_mtime + 5
    os.utime(out / "index.html", (later, later))
    with pytest.raises(OutputExistsError, match=r"index.html \(changed since emscale wrote it\).*would lose them"):
        run_demo(out, overwrite=True)
    assert (out / "index.html").read_text() == "my edits"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    # a file of the user's named as one of the new results: the old folder is left whole, the new one beside it
    (out / "index.html").unlink()
    run_demo(out, overwrite=True)  # a demo file the user deleted is simply written again
    import emscale.workflows.demo as demo

    def write(outdir, *args):
        (outdir / "index.html").write_text("fourth")
        (outdir / "notes.txt").write_text("the demo's")

    monkeypatch.setattr(demo, "_write_demo", write)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes.txt, of yours, has the name of one of the new results.*"
                                                r"new results are in"):
        run_demo(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "index.html").read_text() == "first"
    beside = [p for p in tmp_path.iterdir() if p.name.startswith("demo.new-")]
    assert len(beside) == 1 and (beside[0] / "notes.txt").read_text() == "the demo's"
    assert sorted(p.name for p in beside[0].iterdir()) == ["demo_files.json", "index.html", "notes.txt"]


def test_demo_overwrite_keeps_a_file_the_user_edited(tmp_path):
    from emscale.workflows.demo import DEMO_FILES, _added_to_demo, _changed_in_demo

    d = tmp_path / "demo"
    d.mkdir()
    (d / "index.html").write_text("written")
    (d / DEMO_FILES).write_text(json.dumps({"emscale": "0", "files": {"index.html": em.core.history.file_digest(
        d / "index.html")}}))
    assert _changed_in_demo(d) == [] and _added_to_demo(d) == []
    (d / "index.html").write_text("edited")
    os_time = (d / DEMO_FILES).stat().st_mtime + 5
    import os

    os.utime(d / "index.html", (os_time, os_time))
    assert _changed_in_demo(d) == ["index.html (changed since emscale wrote it)"] and _added_to_demo(d) == []
    assert _changed_in_demo(tmp_path) is None and _added_to_demo(tmp_path) == []  # no demo folder


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_put_into_the_folder_while_the_run_writes_is_not_deleted(user_folder, tmp_path, overwrite):
    """The folder was checked only at the start: empty then (or an emscale folder), it was swapped out whole at the
    end with what the user had put into it meanwhile."""
    out = tmp_path / "out"
    out.mkdir()
    if overwrite:
        run_recipe(user_folder / "r.toml", out)

    def meanwhile(*args):
        if not (out / "mine.txt").exists():
            (out / "mine.txt").write_text("important")

    with pytest.raises(OutputExistsError, match=r"changed while this run wrote its results.*new results are in"):
        run_recipe(user_folder / "r.toml", out, overwrite=overwrite, progress=meanwhile)
    assert (out / "mine.txt").read_text() == "important"
    kept = list(tmp_path.glob("out.new-*"))
    assert len(kept) == 1 and (kept[0] / "manifest.json").is_file() and replay_outdir(kept[0]) == []


def test_result_names_of_the_folder_and_overlong_ones_are_refused_before_running(tmp_path):
    """A result named `signal` displaced the processed signal's entry in the manifest; a 300-character name ran
    every step, then failed with a raw 'File name too long'."""
    text = ('[input]\npath = "x.zarr"\n\n[[step]]\nop = "decompose"\nname = "signal"\nmethod = "pca"\n\n'
            f'[[step]]\nop = "decompose"\nname = "{"a" * 300}"\nmethod = "pca"\n')
    with pytest.raises(RecipeError) as e:
        parse(text)
    assert "the results folder's own" in str(e.value) and "300 characters long" in str(e.value)
    # a result whose file is the [output] signal's: every step ran, then the write failed naming a temporary folder
    text = ('[input]\npath = "x.zarr"\n\n[[step]]\nop = "decompose"\nname = "pca"\nmethod = "pca"\n\n'
            '[[step]]\nop = "reconstruct"\nof = "pca"\nname = "Rec"\n\n[output]\nsignal = "rec.zarr"\n')
    with pytest.raises(RecipeError, match=r"result name 'Rec' would be written as Rec.zarr, the \[output\] signal"):
        parse(text)


def test_a_range_written_as_a_list_gets_a_hint(user_folder, tmp_path):
    (user_folder / "s.toml").write_text('[input]\npath = "raw.zarr"\n\n[[step]]\nop = "isig"\nkey = [0, 2]\n')
    with pytest.raises(RecipeError, match='a range is written as text, key = "0:2"'):
        run_recipe(user_folder / "s.toml", tmp_path / "o")


def test_values_wrong_whatever_the_data_are_reported_before_any_step_runs():
    """n_components = -2 and signal_range = "400:500" passed the check and failed only when their step ran, after
    the input had loaded."""
    text = ('[input]\npath = "x.zarr"\n\n[[step]]\nop = "remove_background"\nsignal_range = "400:500"\n\n'
            '[[step]]\nop = "decompose"\nmethod = "pca"\nn_components = -2\n')
    with pytest.raises(RecipeError) as e:
        parse(text)
    assert "signal_range must be (start, end) or 'full', got '400:500'" in str(e.value)
    assert "n_components must be None, 'auto' or a positive integer, not -2" in str(e.value)


def test_a_recipe_nested_too_deeply_or_with_a_bool_range_is_one_line(cube):
    # 200 000 '[' ended in "RecursionError: maximum recursion depth exceeded"; [true, false] read as (1, 0) and was
    # called reversed
    head = f'[input]\npath = "{cube / "in.zarr"}"\n\n[[step]]\nop = "sum"\naxis = '
    with pytest.raises(RecipeError, match="nested too deeply to read"):
        parse(head + "[" * 200_000 + "]" * 200_000 + "\n")
    text = f'[input]\npath = "{cube / "in.zarr"}"\n\n[[step]]\nop = "remove_background"\nsignal_range = [true, false]\n'
    with pytest.raises(RecipeError, match=r"signal_range must be two numbers \(start, end\), got \[True, False\]"):
        parse(text)


def test_a_recipe_reads_no_file_beside_the_raw_file_its_store_was_saved_from(tmp_path):
    """A store saved from a file in the sender's private folder names that folder in its history. A recipe sent with
    the store looked there too for the angle list it names, read the file and quoted its first line in the error (or
    took a file of numbers as the tilt angles). In a recipe, only the input's folder is looked in."""
    secret, inbox = tmp_path / "secret", tmp_path / "inbox"
    secret.mkdir()
    inbox.mkdir()
    axes = [{"name": "tilt", "size": 3, "navigate": True}, {"name": "y", "size": 8, "navigate": False},
            {"name": "x", "size": 8, "navigate": False}]
    em.Signal(np.ones((3, 8, 8), dtype=np.float32), axes=axes).save(secret / "raw.zarr")
    em.load(secret / "raw.zarr").save(inbox / "stack.zarr")
    (secret / "angles.rawtlt").write_text("-10\n0\n10\n")
    (inbox / "r.toml").write_text('[input]\npath = "stack.zarr"\n\n[[step]]\nop = "as_tilt_series"\n'
                                  'rawtlt = "angles.rawtlt"\ntilt_axis = "x"\n')
    with pytest.raises(RecipeError, match=f"no such file beside the input \\(looked in {re.escape(str(inbox))}\\)"):
        run_recipe(inbox / "r.toml", tmp_path / "out", report=False)
    assert not (tmp_path / "out").exists()
    # the Python API, on the user's own data, still finds the file beside the raw file
    from emscale import tomography as tomo

    assert tomo.as_tilt_series(em.load(inbox / "stack.zarr"), rawtlt="angles.rawtlt", tilt_axis="x").axes[0].size == 3


def test_a_replay_names_a_damaged_manifest_and_what_holds_no_file(results, tmp_path):
    # a manifest that is a JSON list, or whose output entry is a number: "AttributeError: 'int' object has no
    # attribute 'get'"; a link to a folder elsewhere or an empty folder put into the results: "reproduced bit for bit"
    out = results / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    name = next(iter(manifest["outputs"]))
    (out / "manifest.json").write_text(json.dumps({**manifest, "outputs": {**manifest["outputs"], name: 5}}))
    assert f"{name}: its entry in the manifest is damaged" in replay_outdir(out)
    (out / "manifest.json").write_text("[1, 2]")
    with pytest.raises(RecipeError, match=r"manifest\.json: not a table of the run \(a JSON list\)"):
        replay_outdir(out)
    (out / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("secret")
    (out / "extra").symlink_to(tmp_path / "elsewhere")
    (out / "empty").mkdir()
    assert replay_outdir(out) == ["empty: in the folder but not in the manifest (an empty folder)",
                                  "extra: in the folder but not in the manifest (a link)"]
    # a link in place of a file emscale wrote, to a copy elsewhere: the same numbers, "reproduced bit for bit"
    (out / "extra").unlink()
    (out / "empty").rmdir()
    copy = tmp_path / "report_copy.html"
    shutil.copy(out / "report.html", copy)
    (out / "report.html").unlink()
    (out / "report.html").symlink_to(copy)
    assert replay_outdir(out) == ["report.html: a link, in place of the file emscale wrote"]
