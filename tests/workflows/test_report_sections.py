"""What a recipe's report shows of each kind of result: the scree caption that agrees with the rank table, the
sections of dynamic sampling and autonomous spectrum imaging, the figure of a tomogram, readable figures of many
components, and advice a recipe can follow."""

from __future__ import annotations

import html as _html
import re
import warnings

import numpy as np
import pytest

import emscale as em
from emscale.workflows.recipes import run_recipe
from emscale.workflows.samples import eds_si


@pytest.fixture(scope="module")
def eds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sections")
    s, _ = eds_si(shape=(24, 28), n_channels=256, scale=0.04, seed=1)
    s.save(folder / "eds.zarr")
    return folder


def _run(folder, text: str, name: str) -> str:
    (folder / f"{name}.toml").write_text(text)
    run_recipe(folder / f"{name}.toml", folder / name)
    return _html.unescape((folder / name / "report.html").read_text())


def _section(text: str, title: str) -> str:
    start = text.index(f"<h2>{title}")
    return text[start:text.index("<h2>", start + 4)]


def test_the_scree_caption_states_the_threshold_the_rank_table_shows(eds):
    # an NMF of a given rank stored no rank evidence ("not-estimated"); the table computed a Marchenko-Pastur
    # threshold, the caption said "no noise threshold: the rank came from not-estimated"
    text = _run(eds, '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "decompose"\nname = "nmf"\nmethod = "nmf"\n'
                     'n_components = 3\n', "nmf")
    section = _section(text, "Decomposition")
    threshold = re.search(r"<td>threshold \(eigenvalues above it count\)</td><td>([^<]+)</td>", section).group(1)
    rank = re.search(r"<td>automatic rank[^<]*</td><td>(\d+)</td>", section).group(1)
    caption = re.search(r"<figcaption>(Scree plot[^<]*)</figcaption>", section).group(1)
    assert "not-estimated" not in caption and "no noise threshold" not in caption
    assert threshold in caption and f"automatic rank {rank}" in caption and "3 component(s) asked for" in caption


def test_the_rank_caution_of_a_short_randomized_run_is_a_row_of_the_report_not_a_warning_each_time(eds):
    # `emscale run` with a given n_components printed the same estimate_rank warning three times (the rank table,
    # the scree caption, the scree), for a call the user never made
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = _run(eds, '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "decompose"\nname = "nmf"\n'
                         'method = "nmf"\nn_components = 3\nsolver = "randomized"\n', "nmf_caution")
    assert not [w for w in caught if "estimate_rank" in str(w.message)]
    section = _section(text, "Decomposition")
    assert re.search(r"<td>caution</td><td>the eigenvalues come from a randomized subspace", section)
    d = em.load_result(eds / "nmf_caution" / "nmf.npz")
    with pytest.warns(UserWarning, match="estimate_rank: the eigenvalues come from a randomized subspace"):
        d.estimate_rank()  # asked for by the user: said


def test_the_undefined_background_warning_in_a_recipe_gives_advice_a_recipe_can_follow(tmp_path):
    # it said "Use return_params=True to get the mask", an argument no recipe step can set
    from emscale.spectroscopy.background import BackgroundWarning
    from emscale.workflows.samples import eels_si

    s, _ = eels_si(shape=(6, 7), seed=3)
    window = (70.2, 97.2)
    d = np.array(s.data, copy=True)
    lo, hi = (s.sig_axes[0].value_to_index(v) for v in window)
    d[2, 3, lo:hi] = 0
    em.Signal(d, axes=s.axes, signal_type="EELS").save(tmp_path / "eels.zarr")
    (tmp_path / "r.toml").write_text(f'[input]\npath = "eels.zarr"\n\n[[step]]\nop = "remove_background"\n'
                                     f"signal_range = {list(window)}\n")
    with pytest.warns(BackgroundWarning, match=r"undefined in 1 of 42") as caught:
        run_recipe(tmp_path / "r.toml", tmp_path / "out", report=False)
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, BackgroundWarning))
    assert "return_params" not in said and "rebin step" in said
    with pytest.warns(BackgroundWarning, match="return_params=True"):  # in Python the mask is one argument away
        em.load(tmp_path / "eels.zarr").remove_background(window)


def test_a_recipe_ending_in_a_tomogram_draws_its_slices_with_calibrated_axes(tmp_path):
    # the tomogram, the result of a tomography recipe, appeared only as a repr
    from emscale.tomography.phantoms import fcc_nanoparticle, project_volume

    tilts = [float(t) for t in np.linspace(-60.0, 60.0, 9)]
    vol, _ = fcc_nanoparticle(24, a=8.0, seed=1)
    axes = [{"name": "index", "navigate": True}, {"name": "y", "scale": 0.05, "units": "nm", "navigate": False},
            {"name": "x", "scale": 0.05, "units": "nm", "navigate": False}]
    em.Signal(project_volume(vol, tilts), axes=axes).save(tmp_path / "tilts.zarr")
    text = _run(tmp_path, f'[input]\npath = "tilts.zarr"\n\n[[step]]\nop = "as_tilt_series"\nangles = {tilts}\n'
                          '\n[[step]]\nop = "reconstruct_tomogram"\nmethod = "sirt"\nn_iter = 5\n', "tomo")
    section = _section(text, "Tomogram")
    assert "orthogonal slices through the centre" in section and section.count("<img") == 2
    assert "maximum-intensity projections" in section
    assert "24 x 24 x 24 voxels of 0.05 nm" in section


def test_a_tomography_report_gives_the_numbers_a_tomographer_checks(tmp_path):
    """The report held the steps and the volume's figures only: not the tilt axis and why, the vacuum levels, the
    alignment's shifts and residual, nor the centre-of-mass decision (a reviewer)."""
    from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

    tilts = [float(t) for t in np.arange(-60.0, 61.0, 10.0)]
    proj = project_volume(ellipsoid_phantom(32, seed=2), tilts, tilt_axis="x")
    proj = np.random.default_rng(2).poisson(np.maximum(proj, 0) / proj.max() * 200).astype(np.float32) + 50
    axes = [{"name": "index", "navigate": True}, {"name": "y", "scale": 0.5, "units": "nm", "navigate": False},
            {"name": "x", "scale": 0.5, "units": "nm", "navigate": False}]
    em.Signal(proj, axes=axes).save(tmp_path / "tilts.zarr")
    text = _run(tmp_path, f'[input]\npath = "tilts.zarr"\n\n[[step]]\nop = "as_tilt_series"\nangles = {tilts}\n'
                          '\n[[step]]\nop = "subtract_background"\n\n[[step]]\nop = "align_tilts"\n'
                          '\n[[step]]\nop = "reconstruct_tomogram"\nmethod = "sirt"\nn_iter = 5\n', "tomo_numbers")
    section = _section(text, "Tomogram")
    assert "<td>tilt axis</td><td>along image x: the rows' intensity centroids follow the tilts" in section
    assert re.search(r"<td>background</td><td>\w+, vacuum levels [-\d.e+]+ to [-\d.e+]+", section)
    assert re.search(r"<td>alignment</td><td>residual rms [\d.e+-]+ px; shifts up to [\d.e+-]+ px", section)
    assert "<td>centre-of-mass step</td>" in section and "<td>reconstruction</td><td>method sirt" in section
    assert "Alignment: each projection's shift" in section and section.count("<img") == 3


def test_a_spectral_tomography_recipe_draws_each_component_volume_and_spectrum(tmp_path):
    # its (component, z, y, x) result matched no section: the report showed only a repr
    from emscale.tomography.phantoms import project_volume, spectral_phantom
    from emscale.tomography.tiltseries import tilt_axis_entry

    tilts = [float(t) for t in np.linspace(-60.0, 60.0, 9)]
    phases, spectra = spectral_phantom(12, 32, 2, seed=1)
    proj = np.stack([project_volume(p, tilts) for p in phases], axis=-1)
    counts = np.random.default_rng(1).poisson(50 * proj @ spectra).astype(np.float32)
    axes = [tilt_axis_entry(np.array(tilts)), {"name": "y", "navigate": True}, {"name": "x", "navigate": True},
            {"name": "Energy", "scale": 0.1, "units": "keV"}]
    em.Signal(counts, axes=axes, metadata={"Tomography": {"tilt_axis": "y"}}).save(tmp_path / "st.zarr")
    text = _run(tmp_path, '[input]\npath = "st.zarr"\n\n[[step]]\nop = "spectral_tomography"\nn_components = 2\n'
                          'n_iter = 5\n', "spectral")
    section = _section(text + "<h2>", "Component volumes")
    assert "2 component volume(s) of 12 x 12 x 12 voxels" in section
    assert section.count("<img") == 2 and "Component spectra" in section and "maximum-intensity projections" in section


def _sampling_run(folder, text: str, name: str):
    (folder / f"{name}.toml").write_text(text)
    res = run_recipe(folder / f"{name}.toml", folder / name)
    return res, _html.unescape((folder / name / "report.html").read_text())


def test_a_dynamic_sampling_recipe_reports_what_it_measured_why_it_stopped_and_the_figure(tmp_path):
    # a SLADS run had only a one-line summary in the Steps table
    from emscale.sampling.slads_model import lattice_image, train_erd_model

    train_erd_model([lattice_image((48, 48), seed=s) for s in (1, 2)], fractions=(0.1, 0.3),
                    n_pixels=400).save(tmp_path / "model.json")
    axes = [{"name": "y", "scale": 0.1, "units": "nm", "navigate": False},
            {"name": "x", "scale": 0.1, "units": "nm", "navigate": False}]
    em.Signal(lattice_image((40, 44), seed=5), axes=axes, signal_type="image").save(tmp_path / "adf.zarr")
    res, text = _sampling_run(tmp_path, '[input]\npath = "adf.zarr"\n\n[[step]]\nop = "dynamic_sampling"\n'
                                        'name = "scan"\nmodel = "model.json"\nfraction = 0.2\nseed = 1\n', "slads")
    scan = res.results["scan"]
    section = _section(text, "Dynamic sampling (SLADS) “scan”")
    m = int(scan.mask.sum())
    assert f"{m} of 1760 ({m / 1760:.2%}; asked 20.00%)" in section
    assert f"budget spent: {m} of 352 positions" in section and scan.stopped_by() in section
    assert f"{len(scan.fractions) - 1} batch(es) after a random start of {int((scan.order == 0).sum())}" in section
    assert f"{scan.erd_estimate[0]:.4g} → {scan.erd_estimate[-1]:.4g}" in section
    assert section.count("<img") == 1 and "measurement order, reconstruction" in section
    # the results folder pins the model file by its digest: replayed as run, and a retrained model is named
    from emscale.workflows.recipes import RecipeError, replay_outdir

    assert 'model = {name = "model.json", sha256 = "' in (tmp_path / "slads" / "recipe.toml").read_text()
    assert replay_outdir(tmp_path / "slads") == []
    train_erd_model([lattice_image((48, 48), seed=s) for s in (3, 4)], fractions=(0.1, 0.3),
                    n_pixels=400).save(tmp_path / "model.json", overwrite=True)
    with pytest.raises(RecipeError, match=r"\(dynamic_sampling\): model .*'model.json': .* is not the file"):
        replay_outdir(tmp_path / "slads")


def test_an_autonomous_spectrum_imaging_recipe_reports_its_phase_map_and_why_it_stopped(eds):
    res, text = _sampling_run(eds, '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "autonomous_spectrum_imaging"\n'
                                   'name = "auto"\nn_phases = 3\nfraction = 0.3\n', "auto")
    run = res.results["auto"]
    section = _section(text, "Autonomous spectrum imaging “auto”")
    m = int((run.order >= 0).sum())
    assert f"{m} of 672 ({m / 672:.2%}; asked 30.00%)" in section
    assert run.stopped_by() in section and ("budget spent" in section or "map stable" in section)
    assert f"{len(run.fractions)} round(s)" in section
    shares = np.bincount(run.phase_map.ravel(), minlength=3) / run.phase_map.size
    assert ", ".join(f"{k}: {p:.1%}" for k, p in enumerate(shares)) in section
    assert section.count("<img") == 2 and "Phase map and per-phase mean spectra" in section


def test_a_composite_is_drawn_for_non_negative_loadings_only_and_names_the_components_it_shows(eds):
    """PCA loadings beyond the first take both signs, and the report drew them as red, green and blue brightness
    ("RGB composite"), where a negative loading showed as black, the same as none."""
    text = _run(eds, '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "decompose"\nname = "pca"\nmethod = "pca"\n'
                     'n_components = 4\n\n[[step]]\nop = "decompose"\nname = "nmf"\nmethod = "nmf"\n'
                     'n_components = 4\n', "composite")
    pca, nmf = _section(text, "Decomposition “pca”"), _section(text, "Decomposition “nmf”")
    assert "composite" not in re.sub(r"<p>No colour composite[^<]*</p>", "", pca).lower()
    assert re.search(r"<p>No colour composite: loadings #1 [^,]+, #2 [^,]+ take both signs \(pca\)", pca)
    assert re.search(r"<figcaption>Colour composite of loadings #0 [^,]+, #1 [^,]+, #2 [^,(]+ \(3 of 4 components; "
                     r"magenta, green, blue added on black", nmf)
