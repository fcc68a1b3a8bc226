"""The main job: generate the embedded samples, run the full pipeline as recipes, report against the truth.

``emscale demo -o OUTDIR`` writes ``OUTDIR/inputs/{eds,eels}.zarr`` (synthetic spectrum images with known
components and Poisson noise), one results folder per pipeline with its HTML report, and ``OUTDIR/index.html``.
The report's "Ground truth" section compares the recovered spectra with the true ones (spectral angles) and the
automatic rank with the true number of components.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_dir
from ..core.errors import OutputExistsError
from .recipes import parse, run_recipe, to_toml

EDS_PHASES = 3
EELS_WINDOW = (96.0, 130.0)  # eV: the Si L2,3 edges of Si (99.8) and SiO2 (105.5) after background removal


def spectral_angles(found: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles (degrees) between each true spectrum and its best-matched found one (Hungarian matching).

    ``found`` is (n_found, channels), ``true`` (n_true, channels). Returns (angles per true spectrum,
    index of the matched found spectrum).
    """
    from scipy.optimize import linear_sum_assignment

    f = found / np.linalg.norm(found, axis=1, keepdims=True)
    t = true / np.linalg.norm(true, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(t @ f.T, -1, 1)))
    rows, cols = linear_sum_assignment(ang)
    out = np.full(len(true), np.nan)
    match = np.full(len(true), -1)
    out[rows] = ang[rows, cols]
    match[rows] = cols
    return out, match


def _truth_section(run, names: list[str], true_k: int, true_spectra: np.ndarray, energy: np.ndarray,
                   methods: tuple[str, ...] = ("nmf", "vca", "mcr")) -> tuple[str, dict]:
    """The automatic rank against the true one, and each method's spectra against the true spectra."""
    rank, _evidence = run.results["pca"].estimate_rank()
    ok = "ok" if rank == true_k else "bad"
    body = [f"<p>Automatic rank: <b class='{ok}'>{rank}</b> (true number of components: {true_k}).</p>"]
    summary: dict = {"rank": int(rank), "true_rank": true_k}
    for method in methods:
        dec = run.results[method]
        sig = dec.sig_axes[0]
        keep = (energy >= sig.low - 1e-9) & (energy <= sig.high + 1e-9)
        angles, match = spectral_angles(np.nan_to_num(dec.factors_array.T), true_spectra[:, keep])
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{m}</td><td>{a:.2f}°</td></tr>"
            for n, m, a in zip(names, match, angles, strict=True)
        )
        body.append(f"<h3>{method.upper()}</h3><table><tr><th>true component</th><th>matched factor</th>"
                    f"<th>spectral angle</th></tr>{rows}</table>"
                    f"<p>Median spectral angle {np.nanmedian(angles):.2f}° (target: 2°).</p>")
        summary[f"{method}_angles_deg"] = [float(a) for a in angles]
    summary["angles_deg"] = summary[f"{methods[0]}_angles_deg"]
    return "".join(body), summary


def _edge_truth(s, truth: dict) -> tuple[str, dict]:
    """Background-removed edges, averaged over the pixels of each pure phase, against the true edge shapes."""
    energy = np.asarray(truth["energy"])
    a = s.sig_axes[0]
    keep = (energy >= a.low - 1e-9) & (energy <= a.high + 1e-9)
    data = s.to_numpy().reshape(-1, a.size)
    rows, angles = [], []
    for name, pure in (("Si", truth["maps"]["SiO2"] < 0.01), ("SiO2", truth["maps"]["SiO2"] > 0.99)):
        found = data[pure.ravel()].mean(axis=0)
        true = np.asarray(truth["components"][name], dtype=float)[keep]
        ang = float(spectral_angles(found[None], true[None])[0][0])
        angles.append(ang)
        rows.append(f"<tr><td>{name}</td><td>{int(pure.sum())}</td><td>{ang:.2f}°</td></tr>")
    body = ("<p>Mean background-removed spectrum of the pure-phase pixels against the true edge shape.</p>"
            "<table><tr><th>phase</th><th>pixels</th><th>spectral angle</th></tr>" + "".join(rows) + "</table>")
    return body, {"angles_deg": angles}


def describe(summary: dict) -> str:
    """One line: the rank decision and the spectral angles of each method."""
    parts = [f"rank {summary['rank']} (true {summary['true_rank']})"] if "rank" in summary else []
    for key, angles in summary.items():
        if key.endswith("_angles_deg"):
            parts.append(f"{key.split('_')[0].upper()} angles {', '.join(f'{a:.2f}' for a in angles)} deg")
    if len(parts) <= 1:
        parts.append(f"spectral angles {', '.join(f'{a:.2f}' for a in summary['angles_deg'])} deg")
    return "; ".join(parts)


def _stack(components: dict, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(components[n], dtype=float) for n in names])


def run_demo(outdir, seed: int = 0, overwrite: bool = False, progress=None) -> dict:
    """Generate the samples, run both pipelines and write ``outdir`` (inputs, recipes, results, reports, index).

    The whole folder is built under a temporary sibling and renamed into place when complete. A non-empty
    ``outdir`` is refused unless ``overwrite=True``; then it is replaced whole, so nothing of the old folder is
    mixed with the new one. Recipes name their inputs relative to themselves: the folder can be moved.
    ``progress(message)`` is called before each stage.
    """
    outdir = Path(outdir)
    if outdir.exists() and any(outdir.iterdir()) and not overwrite:
        raise OutputExistsError(f"{outdir} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    summary: dict = {}
    atomic_dir(outdir, lambda tmp: _write_demo(tmp, seed, summary, progress or (lambda msg: None)),
               overwrite=True, create=True)
    return summary


def _write_demo(outdir: Path, seed: int, summary: dict, progress) -> None:
    from .samples import eds_si, eels_si

    inputs = outdir / "inputs"
    inputs.mkdir()

    # -- EDS: Poisson PCA with automatic rank -> KL-NMF -> phase map ------------------------------------------
    progress("EDS sample: generating")
    eds, eds_truth = eds_si(seed=seed)
    eds.save(inputs / "eds.zarr")
    eds_recipe = to_toml(
        {"path": "inputs/eds.zarr"},
        [
            {"op": "decompose", "name": "pca", "method": "pca", "n_components": "auto", "seed": seed},
            {"op": "decompose", "name": "nmf", "method": "nmf", "n_components": "auto", "seed": seed},
            {"op": "decompose", "name": "vca", "method": "vca", "n_components": "auto", "seed": seed},
            {"op": "decompose", "name": "mcr", "method": "mcr", "n_components": "auto", "seed": seed},
            {"op": "cluster", "of": "nmf", "n_clusters": EDS_PHASES, "seed": seed},
        ],
        comment="emscale demo: EDS spectrum image of SiO2 / Si / Cu",
    )
    (outdir / "eds_recipe.toml").write_text(eds_recipe)
    rec = parse(eds_recipe, source=outdir / "eds_recipe.toml")
    names = list(eds_truth["components"])

    def eds_truth_section(run):
        body, summary["eds"] = _truth_section(run, names, len(names), _stack(eds_truth["components"], names),
                                              np.asarray(eds_truth["energy"]))
        return [("Ground truth", body)]

    progress("EDS: PCA, NMF, VCA, MCR, clustering")
    run_recipe(rec, outdir / "eds", extra_sections=eds_truth_section)

    # -- EELS: the classic workflow -- power-law background removal, crop to the Si L2,3 edges ---------------
    progress("EELS sample: generating")
    eels, eels_truth = eels_si(seed=seed)
    eels.save(inputs / "eels.zarr")
    eels_recipe = to_toml(
        {"path": "inputs/eels.zarr"},
        [
            {"op": "remove_background", "signal_range": [70.2, 97.2]},
            {"op": "isig", "key": f"{EELS_WINDOW[0]!r}:{EELS_WINDOW[1]!r}"},
        ],
        comment="emscale demo: core-loss EELS spectrum image of a Si / SiO2 / Si stack",
    )
    (outdir / "eels_recipe.toml").write_text(eels_recipe)
    rec = parse(eels_recipe, source=outdir / "eels_recipe.toml")

    def eels_truth_section(run):
        body, summary["eels"] = _edge_truth(run.signal, eels_truth)
        return [("Ground truth", body)]

    progress("EELS: background removal, edges")
    run_recipe(rec, outdir / "eels", extra_sections=eels_truth_section)

    index = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>emscale demo</title></head><body>",
             "<h1>emscale demo</h1><ul>"]
    for key, label in (("eds", "EDS: Poisson PCA with automatic rank, KL-NMF, VCA, MCR-ALS, phase map"),
                       ("eels", "EELS: power-law background removal, Si L2,3 edges")):
        s = summary[key]
        index.append(f"<li><a href='{key}/report.html'>{label}</a> — {describe(s)}</li>")
    index.append("</ul></body></html>")
    (outdir / "index.html").write_text("\n".join(index))
