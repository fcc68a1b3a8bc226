"""`emscale train-erd`: trains on every image of files and folders, writes the model atomically, refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emscale import Signal
from emscale.cli import main
from emscale.sampling.slads_model import ERDModel, disc_image, lattice_image, train_erd_model

BCF = "30x30_instructively_packed_16bit_compressed.bcf"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folder(tmp_path):
    """A .npy stack of two lattices and a .zarr image of a third."""
    d = tmp_path / "train"
    d.mkdir()
    np.save(d / "stack.npy", np.stack([lattice_image((40, 44), spacing=6 + s, seed=s) for s in range(2)]))
    img = Signal(lattice_image((36, 40), spacing=7.5, seed=5),
                 axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}], signal_type="image")
    img.save(d / "image.zarr")
    return d


def test_trains_on_every_image_of_a_folder_and_writes_a_loadable_model(folder, tmp_path, capsys):
    out = tmp_path / "erd.json"
    code, stdout, err = run(capsys, "train-erd", folder, "-o", out, "--fraction", 0.1, "--fraction", 0.3,
                            "--seed", 3, "--n-pixels", 300)
    assert code == 0, err
    model = ERDModel.load(out)
    assert model.info["n_images"] == 3 and model.info["fractions"] == [0.1, 0.3] and model.info["seed"] == 3
    assert model.info["n_samples"] == 3 * 2 * 300
    assert [s["images"] for s in model.info["sources"]] == [1, 2]  # image.zarr, stack.npy (name order)
    assert "stack.npy: 2 image(s)" in stdout and "ERD model (mlp) on 3 images" in stdout and "R^2" in stdout
    # the same fit as the library call on the same images
    images = list(np.load(folder / "stack.npy"))
    ref = train_erd_model([lattice_image((36, 40), spacing=7.5, seed=5)] + images, fractions=(0.1, 0.3),
                          n_pixels=300, seed=3)
    f = np.random.default_rng(0).random((40, len(ref.mean))) * 2
    np.testing.assert_allclose(model.predict(f), ref.predict(f), rtol=1e-12)
    assert model.regressor == "mlp" and len(model.params["members"]) == 3


def test_an_existing_model_is_replaced_only_with_overwrite(folder, tmp_path, capsys):
    out = tmp_path / "erd.json"
    out.write_text("{}")
    code, _, err = run(capsys, "train-erd", folder / "stack.npy", "-o", out, "--fraction", 0.2, "--n-pixels", 100)
    assert code == 2 and "already exists" in err and out.read_text() == "{}"
    code, _, err = run(capsys, "train-erd", folder / "stack.npy", "-o", out, "--fraction", 0.2, "--n-pixels", 100,
                       "--overwrite")
    assert code == 0, err
    assert json.loads(out.read_text())["format"] == "emscale-slads-erd"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_model_that_explains_little_is_written_with_a_warning(tmp_path, capsys):
    np.save(tmp_path / "sparse.npy", np.stack([np.random.default_rng(s).poisson(0.002, (48, 48)) for s in range(2)]))
    out = tmp_path / "erd.json"
    code, stdout, err = run(capsys, "train-erd", tmp_path / "sparse.npy", "-o", out, "--fraction", 0.1, "--fraction",
                            0.3, "--n-pixels", 300, "--seed", 3)
    assert code == 0, err
    r2 = ERDModel.load(out).info["r2"]
    assert r2 < 0.1 and f"R^2 {r2:.3f}" in stdout
    assert err.startswith(f"emscale: warning: the ERD model explains only {r2:g} of its training targets' variance")


def test_a_vendor_file_contributes_its_images_and_skips_its_spectra(real_dir, tmp_path, capsys):
    out = tmp_path / "erd.json"
    code, stdout, err = run(capsys, "train-erd", real_dir / BCF, "-o", out, "--fraction", 0.2, "--n-pixels", 200)
    assert code == 0, err
    assert f"{BCF}: 1 image(s)" in stdout  # the 30 x 30 image; the EDS spectrum image is not an image
    assert ERDModel.load(out).info["n_images"] == 1


def test_bad_input_ends_in_one_clear_line(folder, tmp_path, capsys):
    si = Signal(np.ones((6, 5, 16)), axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "navigate": False}])
    si.save(tmp_path / "si.zarr")
    stack = np.stack([disc_image((24, 24), 2, 0), np.full((24, 24), 7.0)])
    np.save(tmp_path / "blank.npy", stack)  # a blank frame: trained a model "R^2 0.8" on rounding noise
    cases = [
        ((tmp_path / "missing.npy",), "does not exist"),
        ((tmp_path / "blank.npy",), "blank.npy: image 1 of its 2 has no contrast (every pixel 7): there is no error "
                                    "to learn the ERD from; leave it out of the training images"),
        ((tmp_path / "si.zarr",), "si.zarr: holds no 2-D image"),
        ((folder, "--fraction", 1.5), "fractions must be in (0, 1)"),
        ((folder, "--regressor", "forest"), "regressor must be one of ['mlp', 'poly2'], got 'forest'"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "train-erd", *args, "-o", tmp_path / "m.json")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run(capsys, "train-erd", folder, "-o", tmp_path / "m.txt")
    assert code == 2 and "must end in .json" in err
    assert not (tmp_path / "m.json").exists()


@pytest.fixture
def no_training(monkeypatch):
    """Training that fails the test: an output that cannot be written is refused before it."""
    import emscale.sampling.slads_train as slads_train

    def trained(*args, **kwargs):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(slads_train, "train_erd_model", trained)


def test_an_output_that_cannot_be_written_is_refused_before_training(folder, tmp_path, capsys, monkeypatch,
                                                                     no_training):
    import os

    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "dir.json").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    access = os.access
    # chmod alone does not lock out root, who runs the CI: the check asks os.access, so it is told
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and access(p, mode, **kw))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    cases = [
        (tmp_path / "old.json", [],
         f"{tmp_path / 'old.json'} already exists; pass overwrite=True (--overwrite) to replace it"),
        (tmp_path / "missing" / "m.json", [], f"{tmp_path / 'missing'}: output directory does not exist"),
        (tmp_path / "dir.json", ["--overwrite"], f"{tmp_path / 'dir.json'} is a folder; the output file would "
                                                 "replace it"),
        (locked / "m.json", [], f"{locked}: output directory is not writable"),
    ]
    for out, extra, message in cases:
        code, _, err = run(capsys, "train-erd", folder, "-o", out, *extra)
        assert code == 2 and err.strip().splitlines() == [f"emscale: error: {message}" + (
            "" if "already exists" in message else ": nothing written")], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "old.json").read_text() == "{}"


@pytest.mark.parametrize("content, message", [
    ("objects", "an array of Python objects (stored as a pickle, which emscale never loads); save a numeric array"),
    ("pickle", "not a .npy array (no .npy header: a pickle or another format; emscale never loads pickles)"),
    ("truncated", "not a readable .npy array (Failed to read all data"),
])
def test_an_unreadable_npy_is_named_and_never_unpickled(tmp_path, capsys, content, message):
    import pickle

    path = tmp_path / "bad.npy"
    if content == "objects":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif content == "pickle":
        path.write_bytes(pickle.dumps([[1.0, 2.0], [3.0, 4.0]]))
    else:
        np.save(path, np.zeros((40, 40)))
        path.write_bytes(path.read_bytes()[:500])
    code, _, err = run(capsys, "train-erd", path, "-o", tmp_path / "m.json")
    assert code == 2 and err.startswith(f"emscale: error: {path}: {message}") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m.json").exists()
