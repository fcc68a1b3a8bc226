"""The main job: generate the embedded samples, run every pipeline as a recipe, report against the truth.

``emscale demo -o OUTDIR`` writes ``OUTDIR/inputs/`` (synthetic spectrum images with known components and Poisson
noise; the tilt series), a recipe and a results folder per pipeline with its HTML report, and ``OUTDIR/index.html``
(the landing page: a thumbnail, the headline numbers and a link per pipeline, the software versions):

* ``eds/``: Poisson PCA with the automatic rank, KL-NMF, VCA, MCR-ALS and a phase map; the automatic rank and each
  method's spectra against the truth (spectral angles);
* ``eels/``: power-law background removal and the Si L2,3 edges; edge maps against the true maps and the pure
  phases' edge shapes against the true ones;
* ``csstem/``: 15 % of the EDS scan reconstructed (:mod:`.demo_csstem`);
* ``tomography/``: the real HAADF tilt series when present, else a phantom (:mod:`.demo_tomography`).
"""
from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_dir, check_output_folder, replaceable_folder
from ..core.history import staged_as
from ..decomposition.metrics import spectral_angle, spectral_angles
from ..io.store import refuse_folder_in_store
from .demo_index import UP
from .recipes import parse, run_recipe, to_toml

EDS_PHASES = 3
EELS_WINDOW = (96.0, 130.0)  # eV: the Si L2,3 edges of Si (99.8) and SiO2 (105.5) after background removal
EELS_BACKGROUND = (70.2, 97.2)  # eV: the pre-edge window of the power-law fit
# Edge-map windows: below the SiO2 onset (105.5 eV) only elemental Si contributes (a map of Si); above it both
# phases do (the SiO2 near-edge peaks on the Si edge's continuation).
EELS_EDGE_WINDOWS = {"Si L2,3 of Si (99.5-104.5 eV)": (99.5, 104.5),
                     "Si L2,3 of Si + SiO2 (105.5-110.5 eV)": (105.5, 110.5)}


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
        ang = spectral_angle(found, true)
        angles.append(ang)
        rows.append(f"<tr><td>{name}</td><td>{int(pure.sum())}</td><td>{ang:.2f}°</td></tr>")
    body = ("<p>Mean background-removed spectrum of the pure-phase pixels against the true edge shape.</p>"
            "<table><tr><th>phase</th><th>pixels</th><th>spectral angle</th></tr>" + "".join(rows) + "</table>")
    return body, {"angles_deg": angles}


def _edge_maps(s, truth: dict) -> tuple[str, dict, np.ndarray]:
    """Spatial results: background-subtracted edge maps (the ``edge_map`` operation on the input) against the
    noise-free truth (the true edge counts integrated over the same window, per pixel)."""
    from ..core.html import figure
    from ..spectroscopy.eels import edge_map

    energy = np.asarray(truth["energy"])
    maps, rows, corr = [], [], []
    for label, window in EELS_EDGE_WINDOWS.items():
        m = np.asarray(edge_map(s, window, background_window=EELS_BACKGROUND).data, np.float64)
        keep = (energy >= window[0]) & (energy < window[1])
        true = truth["thickness"] * sum(truth["maps"][n] * np.asarray(truth["components"][n])[keep].sum()
                                        for n in ("Si", "SiO2"))
        c = float(np.corrcoef(m.ravel(), true.ravel())[0, 1])
        err = float(np.sqrt(np.mean((m - true) ** 2)) / np.sqrt(np.mean(true**2)))
        corr.append(c)
        maps.append((label, m, true))
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{window[0]:g}-{window[1]:g} eV</td><td>{c:.4f}</td>"
                    f"<td>{err:.2%}</td></tr>")
    body = ("<p>Edge maps: the power-law background fitted in "
            f"{EELS_BACKGROUND[0]:g}-{EELS_BACKGROUND[1]:g} eV and the remainder integrated over each window "
            "(operation <code>edge_map</code>), against the noise-free truth (the true edge counts in the same "
            "window: thickness × phase fraction × edge).</p><table><tr><th>map</th><th>window</th>"
            "<th>correlation with truth</th><th>relative RMS error</th></tr>" + "".join(rows) + "</table>"
            + figure(_edge_map_figure(s, maps), "Edge maps (top) and the true maps (bottom)"))
    return body, {"edge_map_corr": corr}, maps[0][1]


def _edge_map_figure(s, maps):
    from matplotlib.figure import Figure

    y, x = s.nav_axes[1], s.nav_axes[0]  # user order x, y
    extent = (x.offset, x.offset + x.scale * x.size, y.offset + y.scale * y.size, y.offset)
    fig = Figure(figsize=(4.4 * len(maps), 6.8), layout="constrained")
    axes = fig.subplots(2, len(maps), squeeze=False)
    for j, (label, found, true) in enumerate(maps):
        for i, (img, what) in enumerate(((found, "edge map"), (true, "truth"))):
            ax = axes[i, j]
            im = ax.imshow(img, cmap="viridis", extent=extent, vmin=true.min(), vmax=true.max())
            ax.set(xlabel=f"x ({x.units})", ylabel=f"y ({y.units})")
            ax.set_title(f"{what}\n{label}", fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8, label="counts")
    return fig


def describe(summary: dict) -> str:
    """One line per pipeline: its headline numbers."""
    if "line" in summary:
        return summary["line"]
    parts = [f"rank {summary['rank']} (true {summary['true_rank']})"] if "rank" in summary else []
    for key, angles in summary.items():
        if key.endswith("_angles_deg"):
            parts.append(f"{key.split('_')[0].upper()} angles {', '.join(f'{a:.2f}' for a in angles)} deg")
    if len(parts) <= 1 and "angles_deg" in summary:
        parts.append(f"spectral angles {', '.join(f'{a:.2f}' for a in summary['angles_deg'])} deg")
    if "edge_map_corr" in summary:
        parts.append(f"edge maps correlate {', '.join(f'{c:.3f}' for c in summary['edge_map_corr'])} with truth")
    return "; ".join(parts)


def _stack(components: dict, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(components[n], dtype=float) for n in names])


def run_demo(outdir, seed: int = 0, overwrite: bool = False, progress=None, tomography: str = "auto",
             log=None) -> dict:
    """Generate the samples, run every pipeline and write ``outdir`` (inputs, recipes, results, reports, index).

    Pipelines: EDS (Poisson PCA, NMF, VCA, MCR, phase map), EELS (background removal, edges, edge maps),
    CS-STEM (15 % of the EDS scan reconstructed; :mod:`.demo_csstem`) and tomography (the real HAADF series
    when present, else a phantom; ``tomography="real" | "phantom"`` forces one; :mod:`.demo_tomography`).

    The whole folder is built under a temporary sibling and renamed into place when complete (an existing empty
    ``outdir`` is filled in place, its listing of files last). A non-empty ``outdir`` is refused unless
    ``overwrite=True``, and then unless it is a demo folder whose own files are as the demo wrote them (a figure
    edited since is named, and nothing replaced). Its files are replaced in one swap of folders, so nothing of the
    old run is mixed with the new one; files and folders of the user's put into it are kept (hard-linked into the
    new folder before the swap: no crash loses them). Recipes name their inputs relative to themselves: the folder
    can be moved.
    ``progress(message)`` is called before each stage and step; ``log(message)`` after each stage (its time).
    """
    refuse_folder_in_store(outdir, "demo folder")
    outdir = check_output_folder(outdir, overwrite, _changed_in_demo, what="demo folder")
    summary: dict = {}

    def write(tmp: Path) -> None:
        # the inputs are loaded from tmp, which is renamed to outdir at the end: histories name them there
        with staged_as(tmp, outdir):
            _write_demo(tmp, seed, summary, progress or (lambda msg: None), log or (lambda msg: None), tomography)
        from .recipes.runner import file_digests, versions

        files = file_digests(tmp)  # with their digests: --overwrite refuses a file the user edited since
        (tmp / DEMO_FILES).write_text(json.dumps({"emscale": versions().get("emscale", ""), "files": files}),
                                      encoding="utf-8")

    atomic_dir(outdir, write, overwrite=True, create=True,
               replaceable=replaceable_folder(overwrite, _changed_in_demo, "demo folder"), last=DEMO_FILES,
               keep=_added_to_demo)
    return summary


DEMO_FILES = "demo_files.json"  # every file the demo wrote: --overwrite replaces no other


def _changed_in_demo(folder: Path) -> list[str] | None:
    """The demo's files in ``folder`` changed since it wrote them (:data:`DEMO_FILES`), in words, or None where it is
    no demo folder: ``--overwrite`` would replace them with new ones, so it refuses."""
    from .recipes.runner import folder_changes

    changes = folder_changes(folder, DEMO_FILES)
    return None if changes is None else [f"{rel} (changed since emscale wrote it)" for rel in changes[1]]


def _added_to_demo(folder: Path) -> list[str]:
    """The entries of the user's in the demo folder ``folder``, which ``--overwrite`` keeps."""
    from .recipes.runner import folder_changes

    changes = folder_changes(folder, DEMO_FILES)
    return [] if changes is None else changes[0]


class _Stages:
    """Progress of the demo: ``[i/n] stage: step k/m op`` messages, and each stage's time when it ends."""

    def __init__(self, progress, log, n: int):
        self.progress, self.log, self.n, self.i, self.t0 = progress, log, n, 0, time.perf_counter()
        self.name, self.started = "", self.t0

    def stage(self, name: str) -> None:
        self.end()
        self.i, self.name, self.started = self.i + 1, name, time.perf_counter()
        self.progress(f"[{self.i}/{self.n}] {name}")

    def steps(self, i: int, n: int, op: str) -> None:
        self.progress(f"[{self.i}/{self.n}] {self.name}: step {min(i + 1, n)}/{n} {op}")

    def end(self) -> None:
        if self.name:
            self.log(f"[{self.i}/{self.n}] {self.name}: done in {time.perf_counter() - self.started:.1f} s")
            self.name = ""


def _write_demo(outdir: Path, seed: int, summary: dict, progress, log, tomography: str = "auto") -> None:
    from .demo_csstem import describe_csstem, run_csstem
    from .demo_tomography import describe_tomography, run_tomography

    st = _Stages(progress, log, 5)
    (outdir / "inputs").mkdir()
    eds_run, eds_truth = _eds(outdir, seed, summary, st)
    eels_thumb = _eels(outdir, seed, summary, st)
    st.stage("CS-STEM: 15 % of the EDS scan, reconstructed")
    summary["csstem"] = run_csstem(outdir, eds_truth, eds_run.results["nmf"], seed=seed, progress=progress)
    summary["csstem"]["line"] = describe_csstem(summary["csstem"])
    st.stage("Tomography: align and reconstruct a tilt series")
    summary["tomography"] = run_tomography(outdir, seed=seed, source=tomography, progress=progress)
    summary["tomography"]["line"] = describe_tomography(summary["tomography"])
    st.stage("Landing page")
    from .demo_index import landing_page
    from .recipes.runner import versions

    entries = _entries(outdir, summary, eds_run, eels_thumb)
    page = landing_page(entries, versions(), time.perf_counter() - st.t0, seed)
    (outdir / "index.html").write_text(page, encoding="utf-8")
    st.end()


def _eds(outdir: Path, seed: int, summary: dict, st: _Stages):
    """EDS: Poisson PCA with automatic rank -> KL-NMF, VCA, MCR-ALS -> phase map."""
    from .samples import eds_si

    st.stage("EDS: sample, Poisson PCA, NMF, VCA, MCR, phase map")
    eds, eds_truth = eds_si(seed=seed)
    eds.save(outdir / "inputs" / "eds.zarr")
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
    (outdir / "eds_recipe.toml").write_text(eds_recipe, encoding="utf-8")
    rec = parse(eds_recipe, source=outdir / "eds_recipe.toml")
    names = list(eds_truth["components"])

    def eds_truth_section(run):
        body, summary["eds"] = _truth_section(run, names, len(names), _stack(eds_truth["components"], names),
                                              np.asarray(eds_truth["energy"]))
        return [("Ground truth", body)]

    run = run_recipe(rec, outdir / "eds", extra_sections=eds_truth_section, progress=st.steps, up=UP)
    return run, eds_truth


def _eels(outdir: Path, seed: int, summary: dict, st: _Stages) -> np.ndarray:
    """EELS: power-law background removal, crop to the Si L2,3 edges; edge maps against the truth."""
    from .samples import eels_si

    st.stage("EELS: sample, background removal, edges, edge maps")
    eels, eels_truth = eels_si(seed=seed)
    eels.save(outdir / "inputs" / "eels.zarr")
    eels_recipe = to_toml(
        {"path": "inputs/eels.zarr"},
        [
            {"op": "remove_background", "signal_range": list(EELS_BACKGROUND)},
            {"op": "isig", "key": f"{EELS_WINDOW[0]!r}:{EELS_WINDOW[1]!r}"},
        ],
        comment="emscale demo: core-loss EELS spectrum image of a Si / SiO2 / Si stack",
    )
    (outdir / "eels_recipe.toml").write_text(eels_recipe, encoding="utf-8")
    rec = parse(eels_recipe, source=outdir / "eels_recipe.toml")
    thumb: list = []

    def eels_truth_section(run):
        maps_body, maps_found, last = _edge_maps(run.input_signal, eels_truth)
        body, summary["eels"] = _edge_truth(run.signal, eels_truth)
        summary["eels"].update(maps_found)
        thumb.append(last)
        return [("Spatial results: edge maps", maps_body), ("Ground truth: edge shapes", body)]

    run_recipe(rec, outdir / "eels", extra_sections=eels_truth_section, progress=st.steps, up=UP)
    return thumb[0]


def _entries(outdir: Path, summary: dict, eds_run, eels_thumb) -> list:
    """The landing page's cards: thumbnail, headline numbers (with their targets), link."""
    from ..io import load
    from .demo_index import Entry, image_thumbnail

    eds, eels, cs, tomo = (summary[k] for k in ("eds", "eels", "csstem", "tomography"))
    labels = eds_run.results["nmf_clusters"].labels.to_numpy()
    entries = [
        Entry("eds", "EDS: Poisson PCA with automatic rank, KL-NMF, VCA, MCR-ALS, phase map", "eds/report.html",
              "Synthetic SEM-EDS spectrum image of SiO2 / Si / Cu with Poisson noise; components found "
              "blindly and compared with the true spectra.",
              [("rank found / true", f"{eds['rank']} / {eds['true_rank']}", eds["rank"] == eds["true_rank"])]
              + [(f"{m.upper()} spectral angles (median; target ≤ 2°)",
                  f"{', '.join(f'{a:.2f}°' for a in eds[f'{m}_angles_deg'])} "
                  f"({np.nanmedian(eds[f'{m}_angles_deg']):.2f}°)", bool(np.nanmedian(eds[f"{m}_angles_deg"]) <= 2))
                 for m in ("nmf", "vca", "mcr")],
              image_thumbnail(labels, "phase map (NMF + k-means)", cmap="tab10", vmin=0, vmax=9)),
        Entry("eels", "EELS: power-law background removal, Si L2,3 edges, edge maps", "eels/report.html",
              "Synthetic core-loss EELS spectrum image of a Si / SiO2 / Si stack on a wedge.",
              [("edge maps: correlation with truth",
                ", ".join(f"{c:.3f}" for c in eels["edge_map_corr"]), min(eels["edge_map_corr"]) >= 0.99),
               ("pure-phase edge shapes: spectral angles (target < 1°)",
                ", ".join(f"{a:.2f}°" for a in eels["angles_deg"]), max(eels["angles_deg"]) < 1)],
              image_thumbnail(eels_thumb, "Si L2,3 edge map of elemental Si")),
        Entry("csstem", "CS-STEM: 15 % of the EDS scan, reconstructed", "csstem/report.html",
              "Random 15 % of the scan positions kept; the cube recovered from its low-rank structure.",
              [("PSNR vs truth (full scan)", f"{cs['psnr_db']:.1f} dB ({cs['full_scan_psnr_db']:.1f} dB)", None),
               ("pure-phase spectra vs truth: reconstruction (full scan)",
                ", ".join(f"{a:.2f}° ({b:.2f}°)" for a, b in zip(cs["pure_phase_angles_deg"],
                                                                  cs["pure_phase_angles_full_scan_deg"], strict=True)),
                None),
               ("phase map agreement with full scan (target ≥ 95 %)", f"{cs['phase_agreement']:.1%}",
                cs["phase_agreement"] >= 0.95)],
              image_thumbnail(load(outdir / "csstem" / "signal.zarr").to_numpy().sum(axis=-1),
                              "reconstruction (counts)")),
        _tomo_entry(outdir, tomo, load, Entry, image_thumbnail),
    ]
    return entries


def _tomo_entry(outdir: Path, tomo: dict, load, Entry, image_thumbnail):
    vol = load(outdir / "tomography" / "signal.zarr").to_numpy()
    thumb = image_thumbnail(vol.max(axis=0), "SIRT volume, MIP along z", cmap="gray")
    if tomo["source"] == "phantom":
        numbers = [("recovered-shift error max / RMS (target < 0.5 px)",
                    f"{tomo['shift_error_max_px']:.3f} / {tomo['shift_error_rms_px']:.3f} px",
                    tomo["shift_error_max_px"] < 0.5),
                   ("PSNR vs true volume: SIRT / FBP / FBP unaligned",
                    f"{tomo['sirt_psnr_db']:.1f} / {tomo['fbp_psnr_db']:.1f} / {tomo['fbp_unaligned_psnr_db']:.1f} dB",
                    None)]
        desc = "Ellipsoid phantom, projections shifted by known random amounts, aligned and reconstructed."
    else:
        numbers = [("tilts, projection size", f"{tomo['n_tilts']}, {tomo['shape'][1]} × {tomo['shape'][2]} px", None),
                   ("largest shift found; tilt-axis position",
                    f"{tomo['max_shift_px']:.2f} px; {tomo['axis_shift_px']:.2f} px", None),
                   ("reprojection residual SIRT / FBP",
                    f"{tomo['sirt_reprojection_residual']:.3f} / {tomo['fbp_reprojection_residual']:.3f}", None)]
        desc = ("Real HAADF-STEM tilt series (ETSpy test data), binned 4×, background removed, aligned, "
                "reconstructed by SIRT and FBP.")
    return Entry("tomography", "Tomography: alignment and reconstruction", "tomography/report.html", desc, numbers,
                 thumb)
