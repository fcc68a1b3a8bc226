"""The operation registry: every registered operation is usable from a recipe and replayable from its history."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.core import registry
from emscale.core.errors import EmscaleError
from emscale.workflows import samples
from emscale.workflows.recipes import parse, to_toml
from emscale.workflows.recipes.runner import execute, result_digest

# One example per operation, as recipe steps on one of the cubes below. A new operation without an example here
# fails test_every_operation_has_an_example: add one (it is then checked from a recipe and by replay).
TILTS = [-60.0, -40.0, -20.0, 0.0, 20.0, 40.0, 60.0]
SHIFTS = np.round(np.linspace(-0.4, 0.4, 6 * 5).reshape(6, 5), 3).tolist()
EXAMPLES = {
    "inav": ("eels", [{"op": "inav", "key": ["1:4", "2:5"]}]),
    "isig": ("eels", [{"op": "isig", "key": "60.0:90.0"}]),
    "sum": ("eels", [{"op": "sum", "axis": [0, "Energy loss"]}]),
    "mean": ("eels", [{"op": "mean", "axis": "y"}]),
    "max": ("eels", [{"op": "max", "axis": -1}]),
    "min": ("eels", [{"op": "min"}]),
    "std": ("eels", [{"op": "std", "axis": ["x", "y"]}]),
    "rebin": ("eels", [{"op": "rebin", "scale": [1, 2, 4]}]),
    "transpose": ("eels", [{"op": "transpose"}]),
    "squeeze": ("eels", [{"op": "inav", "key": ["0:1", ":"]}, {"op": "squeeze"}]),
    "remove_background": ("eels", [{"op": "remove_background", "signal_range": [70.0, 95.0], "model": "powerlaw"}]),
    "edge_map": ("eels", [{"op": "edge_map", "edge": "Si_L3"}]),
    "normalise": ("eels", [{"op": "normalise", "signal_range": [70.0, 95.0]}]),
    "shift_spectra": ("lowloss", [{"op": "shift_spectra", "shifts": SHIFTS}]),
    "align_zero_loss": ("lowloss", [{"op": "align_zero_loss"}]),
    "align_spectra": ("eds", [{"op": "align_spectra", "signal_range": [1.5, 2.0], "smooth": 2.0}]),
    "elastic_threshold": ("lowloss", [{"op": "elastic_threshold"}]),
    "thickness": ("lowloss", [{"op": "thickness"}]),
    "line_maps": ("eds", [{"op": "line_maps", "lines_or_elements": ["Si_Ka", "O_Ka"]}]),
    "remove_spikes": ("eds", [{"op": "remove_spikes"}]),
    "decompose": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3}]),
    "factors": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3},
                        {"op": "factors", "of": "d", "name": "f"}]),
    "loadings": ("eds", [{"op": "decompose", "name": "d", "method": "nmf", "n_components": 3},
                         {"op": "loadings", "of": "d", "name": "maps"}]),
    "reconstruct": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3},
                            {"op": "reconstruct", "of": "d", "name": "model", "n_components": 2}]),
    "cluster": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3},
                        {"op": "cluster", "of": "d", "name": "c", "n_clusters": 3}]),
    "labels": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3},
                       {"op": "cluster", "of": "d", "name": "c", "n_clusters": 3},
                       {"op": "labels", "of": "c", "name": "phase_map"}]),
    "as_tilt_series": ("tilts", [{"op": "as_tilt_series", "angles": TILTS, "tilt_axis": "y"}]),
    "subtract_background": ("tilts", [{"op": "as_tilt_series", "angles": TILTS},
                                      {"op": "subtract_background", "normalize": True}]),
    "align_tilts": ("tilts", [{"op": "as_tilt_series", "angles": TILTS}, {"op": "align_tilts"}]),
    "reconstruct_tomogram": ("tilts", [{"op": "as_tilt_series", "angles": TILTS},
                                       {"op": "reconstruct_tomogram", "method": "sirt", "n_iter": 5}]),
    "trace_atoms": ("tilts", [{"op": "as_tilt_series", "angles": TILTS},
                              {"op": "reconstruct_tomogram", "method": "fbp"}, {"op": "trace_atoms"}]),
    "spectral_tomography": ("spectral_tilts", [{"op": "spectral_tomography", "n_components": 2, "n_iter": 5}]),
    "dynamic_sampling": ("eds", [{"op": "sum", "axis": "Energy"},
                                 {"op": "dynamic_sampling", "name": "scan", "model": "@model", "fraction": 0.3,
                                  "noise_dose": 50.0}]),
    "sample_scan": ("eds", [{"op": "sum", "axis": "Energy"},
                            {"op": "sample_scan", "pattern": "line_hop", "fraction": 0.3, "seed": 1}]),
    "inpaint": ("eds", [{"op": "sample_scan", "fraction": 0.4}, {"op": "inpaint", "method": "linear",
                                                                  "n_components": 3}]),
    "autonomous_spectrum_imaging": ("eds", [{"op": "autonomous_spectrum_imaging", "name": "auto", "n_phases": 3,
                                             "fraction": 0.3}]),
    "image": ("eds", [{"op": "sum", "axis": "Energy"},
                      {"op": "dynamic_sampling", "name": "scan", "model": "@model", "fraction": 0.3},
                      {"op": "image", "of": "scan", "name": "scan_image"}]),
    "phases": ("eds", [{"op": "autonomous_spectrum_imaging", "name": "auto", "n_phases": 3, "fraction": 0.3},
                       {"op": "phases", "of": "auto", "name": "phase_map"}]),
    "phase_spectra": ("eds", [{"op": "autonomous_spectrum_imaging", "name": "auto", "n_phases": 3, "fraction": 0.3},
                              {"op": "phase_spectra", "of": "auto", "name": "spectra"}]),
    "arithmetic": ("eds", [{"op": "arithmetic", "operator": "multiply", "operand": 2.5}]),
    "astype": ("eds", [{"op": "astype", "dtype": "float32"}]),
    "calibrate": ("eds", [{"op": "calibrate", "axis": "Energy", "offset": -0.02, "units": "keV"}]),
    "elementwise": ("eds", [{"op": "elementwise", "function": "log1p"}]),
    "spectra": ("eds", [{"op": "decompose", "name": "d", "method": "pca", "n_components": 3},
                        {"op": "cluster", "of": "d", "name": "c", "n_clusters": 3},
                        {"op": "spectra", "of": "c", "name": "phase_spectra"}]),
}


def _lowloss(seed=0):
    rng = np.random.default_rng(seed)
    e = -5.0 + 0.05 * np.arange(600)
    shifts = rng.uniform(-0.5, 0.5, (6, 5))
    x = e - shifts[..., None]
    lam = 1e4 * np.exp(-0.5 * (x / 0.4) ** 2) + 3e3 * np.exp(-0.5 * ((x - 15.0) / 2.0) ** 2) + 5.0
    axes = [{"name": "y"}, {"name": "x"}, {"name": "Energy loss", "scale": 0.05, "offset": -5.0, "units": "eV"}]
    return em.Signal(rng.poisson(lam).astype(np.uint32), axes=axes, signal_type="EELS")


def _tilts():
    from emscale.tomography.phantoms import fcc_nanoparticle, project_volume

    vol, _ = fcc_nanoparticle(24, a=8.0, seed=1)
    axes = [{"name": "index", "navigate": True}, {"name": "y", "scale": 0.05, "units": "nm", "navigate": False},
            {"name": "x", "scale": 0.05, "units": "nm", "navigate": False}]
    return em.Signal(project_volume(vol, TILTS), axes=axes)


def _spectral_tilts():
    from emscale.tomography.phantoms import project_volume, spectral_phantom
    from emscale.tomography.tiltseries import tilt_axis_entry

    phases, spectra = spectral_phantom(12, 32, 2, seed=1)
    proj = np.stack([project_volume(p, TILTS) for p in phases], axis=-1)
    counts = np.random.default_rng(1).poisson(50 * proj @ spectra).astype(np.float32)
    axes = [tilt_axis_entry(np.array(TILTS)), {"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy", "units": "keV"}]
    return em.Signal(counts, axes=axes, metadata={"Tomography": {"tilt_axis": "y"}})


@pytest.fixture(scope="module")
def cubes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cubes")
    made = {
        "eels": samples.eels_si(shape=(6, 5), n_channels=400, seed=1)[0],
        "eds": samples.eds_si(shape=(12, 10), n_channels=512, seed=2)[0],
        "lowloss": _lowloss(),
        "tilts": _tilts(),
        "spectral_tilts": _spectral_tilts(),
    }
    from emscale.sampling.slads_model import lattice_image, train_erd_model

    model = train_erd_model([lattice_image((48, 48), seed=s) for s in (1, 2)], fractions=(0.1, 0.3), n_pixels=400)
    model.save(folder / "model.json")
    paths = {"@model": "model.json"}  # a plain name: the model file beside the input
    for name, s in made.items():
        paths[name] = folder / f"{name}.zarr"
        s.save(paths[name])
    return paths


def test_every_operation_has_an_example():
    missing = sorted(set(registry.operations()) - set(EXAMPLES))
    assert not missing, f"operations without a recipe/replay example in {__file__}: {missing}"


@pytest.mark.parametrize("op", sorted(EXAMPLES))
def test_operation_runs_from_a_recipe_and_replays_bit_for_bit(op, cubes):
    cube, steps = EXAMPLES[op]
    steps = [{k: cubes.get(v, v) if isinstance(v, str) else v for k, v in st.items()} for st in steps]
    recipe = parse(to_toml({"path": str(cubes[cube])}, steps))
    _, signal, results, _ = execute(recipe)
    last = steps[-1].get("name")
    made = results[last] if last else signal
    assert made.history[-1]["op"] == op
    again = em.replay(made.history)
    assert type(again) is type(made)
    assert result_digest(again) == result_digest(made)


def test_an_image_inpainted_by_the_sparse_prior_replays(cubes):
    img = em.load(cubes["eds"]).sum("Energy").sample_scan(fraction=0.3).inpaint(method="sparse")
    np.testing.assert_array_equal(em.replay(img.history).data, img.data)


def test_replayed_maps_equal_the_interactive_ones(cubes):
    # The three cases, called as a user would (methods and properties, not recipes).
    eds = em.load(cubes["eds"])
    d = eds.decompose("nmf", n_components=3)
    maps = d.loadings
    labels = d.cluster(3).labels
    assert [e["op"] for e in labels.history][-3:] == ["decompose", "cluster", "labels"]
    np.testing.assert_array_equal(em.replay(maps.history).data, maps.data)
    np.testing.assert_array_equal(em.replay(labels.history).data, labels.data)
    eels = em.load(cubes["eels"])
    edge = em.spectroscopy.eels.edge_map(eels, "Si_L3", fit="weighted")
    np.testing.assert_array_equal(em.replay(edge.history).data, edge.data)


def test_nested_operations_are_recorded_once(cubes):
    eels = em.load(cubes["eels"])
    edge = em.spectroscopy.eels.edge_map(eels, "Si_L3")  # runs isig and remove_background inside
    assert [e["op"] for e in edge.history] == ["load", "edge_map"]
    assert edge.history[-1]["params"]["edge"] == "Si_L3"
    assert "executor" not in edge.history[-1]["params"] and "progress" not in edge.history[-1]["params"]


def test_declaring_an_operation_twice_is_an_error():
    def sum(s, axis=None):  # noqa: A001 - the clash is the point
        return s

    with pytest.raises(EmscaleError, match="declared twice"):
        registry.operation("sum")(sum)


def test_unknown_step_in_a_history_names_the_known_ones(cubes):
    s = em.load(cubes["eels"]).sum()
    hist = s.history + [{"op": "frobnicate", "params": {}}]
    with pytest.raises(em.ReplayError, match="frobnicate.*known: .*remove_background"):
        em.replay(hist)


def test_keywords_passed_on_to_another_operation_are_checked_at_the_call():
    """edge_map passes its other keywords to remove_background: a misspelt one (integraton_width=) failed only once
    the fit ran, with Python's 'unexpected keyword argument' naming remove_background, not the call."""
    edge_map = em.spectroscopy.eels.edge_map
    s = em.Signal(np.ones((2, 3, 150)), axes=[{}, {}, {"name": "E", "scale": 1.0, "offset": 380.0, "units": "eV"}],
                  signal_type="EELS")
    with pytest.raises(em.ArgumentError, match=r"edge_map: no parameter 'integraton_width'; integraton_width=: did "
                                               r"you mean integration_width=\?; edge_map takes edge, .* and "
                                               r"remove_background's order, fit, zero_fill, binned"):
        edge_map(s, 440.0, integraton_width=30.0)
    with pytest.raises(em.ArgumentError, match="edge_map: no parameter 'signal_range'"):  # edge_map sets it itself
        edge_map(s, 440.0, signal_range=(400.0, 430.0))
    assert edge_map(s, 440.0, fit="weighted").history[-1]["params"]["fit"] == "weighted"


def test_an_unknown_keyword_names_the_operation_and_what_it_takes():
    """Python's bind error ("got an unexpected keyword argument 'fast'") named neither the operation nor its
    parameters; HyperSpy's keywords get advice."""
    s = em.Signal(np.ones((2, 3, 8)))
    with pytest.raises(em.ArgumentError, match=r"remove_background: no parameter 'fast'; fast= is HyperSpy's and "
                                               r"not needed: fit='fast'.*remove_background takes signal_range, model"):
        s.remove_background(signal_range=(0.5, 2.5), fast=True)
    with pytest.raises(TypeError, match=r"transpose: no parameter 'navigation_axes'.*signal_axes=\[...\].*"
                                        r"transpose takes signal_axes"):
        s.transpose(navigation_axes=[0])
    with pytest.raises(em.ArgumentError, match=r"no parameter 'modle'; modle=: did you mean model=\?"):
        s.remove_background(signal_range=(0.5, 2.5), modle="powerlaw")
    with pytest.raises(em.ArgumentError, match="remove_background: missing a required argument: 'signal_range'"):
        s.remove_background()


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.rebin(scale=(2, 2, 1), crop="no"), "rebin: crop must be True or False, got 'no'"),
    (lambda s: s.remove_background(signal_range=(2.0, 6.0), zero_fill=1), "remove_background: zero_fill must be"),
])
def test_a_yes_no_parameter_that_is_not_a_bool_is_refused_by_name(call, message):
    """Any operation's parameter annotated bool: 'no' and 1 read as yes, and ran as such without a word."""
    s = em.Signal(np.ones((4, 4, 16)), axes=[{"navigate": True}, {"navigate": True},
                                              {"name": "Energy loss", "units": "eV", "scale": 1.0}],
                  signal_type="EELS")
    with pytest.raises(em.DataError, match=message):
        call(s)
    assert s.rebin(scale=(2, 2, 1), crop=np.bool_(True)).data.shape == (2, 2, 16)


@pytest.mark.parametrize("annotation, flag", [
    (bool, True), ("bool", True), ("bool | None", True), ("None | bool", True), ("Optional[bool]", True),
    ("typing.Optional[bool]", True), ("bool | str", False), ("int", False), ("bool | list | None", False)])
def test_every_spelling_of_a_yes_no_annotation_is_a_flag(annotation, flag):
    """The registry checks flags by their annotation: ``Optional[bool]`` and ``None | bool`` were not seen."""
    assert registry.is_flag_annotation(annotation) is flag
