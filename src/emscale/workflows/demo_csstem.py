"""The demo's compressed-sensing STEM part: 15 % of the EDS spectrum image's scan positions, reconstructed.

A recipe on the demo's EDS input (``inputs/eds.zarr``): ``sample_scan`` keeps a seeded random 15 % of the scan
positions (the rest are not measured), ``inpaint`` recovers the whole cube from them through its low-rank
structure (the Poisson PCA subspace of the measured spectra, ``MODEL``; each loading map filled by the image method
``METHOD``;
:mod:`emscale.inpainting.spectrum_image`). The reconstruction is the recipe's signal: saved, with its history,
and replayed bit for bit by ``emscale replay``.

The report compares against what is known:

* **PSNR** of the reconstructed cube against the noise-free truth (and, for scale, of the fully scanned noisy
  cube: the low-rank model also denoises);
* **phase map**: each pixel's dominant phase (the component of the full scan's NMF that contributes most counts,
  by least squares) from the reconstruction against the same map from the full scan, as the share of pixels that
  agree after matching the labels (Hungarian), and both against the true dominant phase;
* **phase spectra**: the mean spectrum of the pure pixels of each phase against the true phase spectrum (spectral
  angles), for the reconstruction and for the full scan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.html import figure, table
from ..decomposition.metrics import label_agreement, spectral_angle, spectral_angles
from ..sampling.slads import psnr
from .demo_index import UP
from .recipes import parse, run_recipe, to_toml

FRACTION = 0.15
METHOD = "sparse"
MODEL = "pca"  # the Poisson PCA subspace: as accurate here as KL-NMF's (43.8 vs 42.8 dB) at a sixth of the time
N_COMPONENTS = 3


def run_csstem(outdir: Path, eds_truth: dict, full_nmf, seed: int = 0, progress=None) -> dict:
    """Write ``outdir/csstem`` from ``outdir/inputs/eds.zarr``; ``full_nmf`` is the full-scan NMF Decomposition.

    Returns the summary (PSNR, angles, phase-map agreement).
    """
    (progress or (lambda msg: None))(f"CS-STEM: {FRACTION:.0%} of the EDS scan, inpaint ({METHOD})")
    outdir = Path(outdir)
    text = to_toml(
        {"path": "inputs/eds.zarr"},
        [{"op": "sample_scan", "pattern": "random", "fraction": FRACTION, "seed": seed},
         {"op": "inpaint", "method": METHOD, "n_components": N_COMPONENTS, "model": MODEL, "seed": seed}],
        comment=f"emscale demo: compressed-sensing STEM -- {FRACTION:.0%} of the EDS scan positions, reconstructed",
    )
    (outdir / "csstem_recipe.toml").write_text(text, encoding="utf-8")
    summary: dict = {"fraction": FRACTION, "method": METHOD}

    def sections(run):
        body, found = _section(run, eds_truth, full_nmf, seed)
        summary.update(found)
        return [("Compressed sensing against the full scan and the truth", body)]

    run_recipe(parse(text, source=outdir / "csstem_recipe.toml"), outdir / "csstem", extra_sections=sections,
               up=UP)
    return summary


def dominant_phase(cube: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """Per pixel, the index of the spectrum (rows of ``spectra``) contributing most counts (least squares)."""
    x = np.asarray(cube, np.float64).reshape(-1, cube.shape[-1])
    a = np.linalg.lstsq(spectra.T, x.T, rcond=None)[0].T  # (pixels, k) abundances
    return np.argmax(a * spectra.sum(axis=1), axis=1).reshape(cube.shape[:-1])


def _section(run, truth: dict, full_nmf, seed: int) -> tuple[str, dict]:
    from ..inpainting.figures import reconstruction_figure
    from ..sampling.acquire import scan_mask

    rec = run.signal.to_numpy()
    sparse = run.input_signal.sample_scan("random", FRACTION, seed=seed)  # the recipe's first step: the same bits
    mask = scan_mask(sparse)
    full = run.input_signal.to_numpy()
    expected = np.asarray(truth["expected"])
    names = list(truth["components"])
    true_spectra = np.stack([np.asarray(truth["components"][n], float) for n in names])
    spectra = np.nan_to_num(np.asarray(full_nmf.factors_array, np.float64).T)  # the full scan's NMF spectra
    phases_cs, phases_full = dominant_phase(rec, spectra), dominant_phase(full, spectra)
    phases_true = np.argmax(np.stack([truth["maps"][n] for n in names], axis=-1) * true_spectra.sum(axis=1), -1)
    pure = [truth["maps"][n].ravel() > 0.99 for n in names]  # pixels of one phase only
    r2, f2 = rec.reshape(-1, rec.shape[-1]), full.reshape(-1, full.shape[-1])
    ang_rec = [spectral_angle(r2[p].mean(axis=0), s) for p, s in zip(pure, true_spectra, strict=True)]
    ang_scan = [spectral_angle(f2[p].mean(axis=0), s) for p, s in zip(pure, true_spectra, strict=True)]
    measured = mask.ravel()
    # what an angle is made of: each pure phase's reconstructed mean spectrum as counts fractions of the true spectra
    mix = [_fractions(r2[p].mean(axis=0), true_spectra) for p in pure]
    found = {"measured_fraction": float(mask.mean()), "psnr_db": psnr(expected, rec),
             "full_scan_psnr_db": psnr(expected, full),
             "pure_phase_angles_deg": ang_rec, "pure_phase_angles_full_scan_deg": ang_scan,
             "phase_agreement": label_agreement(phases_cs, phases_full),
             "phase_agreement_full_vs_true": label_agreement(phases_full, phases_true),
             "phase_agreement_cs_vs_true": label_agreement(phases_cs, phases_true),
             "pure_pixels_measured": [int((p & measured).sum()) for p in pure],
             "pure_pixels": [int(p.sum()) for p in pure], "pure_phase_fractions": [m.tolist() for m in mix]}
    rows = [("scan positions measured", f"{found['measured_fraction']:.1%} (random, seed {seed})"),
            ("PSNR of the reconstructed cube (every channel) vs the noise-free truth", f"{found['psnr_db']:.1f} dB"),
            ("PSNR of the full (noisy) scan's cube vs the truth", f"{found['full_scan_psnr_db']:.1f} dB"),
            ("mean spectrum of each pure phase vs its true spectrum: reconstruction",
             ", ".join(f"{n} {a:.2f}°" for n, a in zip(names, ang_rec, strict=True))),
            ("... full scan", ", ".join(f"{n} {a:.2f}°" for n, a in zip(names, ang_scan, strict=True))),
            ("pure pixels of each phase: measured of all",
             ", ".join(f"{n} {k} of {t}" for n, k, t in zip(
                 names, found["pure_pixels_measured"], found["pure_pixels"], strict=True))),
            ("... their reconstructed mean spectrum in fractions of the true spectra (counts, non-negative least "
             "squares)",
             "; ".join(f"{n}: " + ", ".join(f"{100 * v:.1f} % {m}" for m, v in zip(names, f, strict=True))
                       for n, f in zip(names, mix, strict=True))),
            ("dominant-phase map agreement with the full scan's", f"{found['phase_agreement']:.1%} (target ≥ 95 %)"),
            ("dominant-phase map agreement with the truth (reconstruction / full scan)",
             f"{found['phase_agreement_cs_vs_true']:.1%} / {found['phase_agreement_full_vs_true']:.1%}")]
    figs = [figure(reconstruction_figure(sparse, run.signal, reference=expected, mask=mask,
                                         title="Counts summed over energy"),
                   "Scan mask, sparse data, reconstruction and its error against the noise-free truth"),
            figure(_phase_figure(names, *_as_truth(spectra, true_spectra, phases_cs, phases_full), phases_true,
                                 scale=run.input_signal.nav_axes),
                   "Dominant phase per pixel: reconstruction, full scan, truth (one colour per phase, as keyed)")]
    body = (f"<p>{FRACTION:.0%} of the scan positions of the EDS spectrum image, chosen at random, reconstructed "
            f"by inpaint (low-rank {MODEL.upper()} model of the measured spectra, loading maps filled by the "
            f"“{METHOD}” method). Phase maps: each pixel's dominant component (least squares on the full scan's "
            "NMF spectra), the same rule on the reconstruction, the full scan and the truth.</p>"
            + table(rows, ["quantity", "value"])
            + "<p>A pure phase's angle to its true spectrum measures how much of the other phases the reconstruction "
            "mixes into its pixels: the fractions say which phases and how much, and the measured pixels how little "
            "of a small phase (the particles) the sparse scan saw.</p>" + "".join(figs))
    return body, found


def _fractions(spectrum: np.ndarray, true_spectra: np.ndarray) -> np.ndarray:
    """``spectrum`` as a mixture of the unit-sum ``true_spectra``: non-negative least-squares amounts (counts), as
    fractions of their sum."""
    from scipy.optimize import nnls

    a = nnls(np.asarray(true_spectra, np.float64).T, np.asarray(spectrum, np.float64))[0]
    return a / max(float(a.sum()), 1e-300)


def _as_truth(spectra: np.ndarray, true_spectra: np.ndarray, *maps):
    """Maps of the full scan's NMF component indices relabelled to the true phases' order (each component to the
    true spectrum it matches), so that one colour means one phase in every panel."""
    _, match = spectral_angles(spectra, true_spectra)
    relabel = np.full(spectra.shape[0], -1)
    for true_index, found in enumerate(match):
        if 0 <= found < len(relabel):  # -1: a true phase no component matched
            relabel[found] = true_index
    return [np.where(m >= 0, relabel[np.clip(m, 0, len(relabel) - 1)], -1) for m in maps]


def _phase_figure(names, *maps, scale=None):
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from ..plotting import draw_image
    from ..plotting.components import phase_colours
    from ..plotting.scalebar import add_scalebar

    colours = phase_colours(len(names))
    cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names))
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    calibrated = scale is not None and len(scale) == 2
    for ax, m, title in zip(axes, maps, ("reconstruction", "full scan", "truth"), strict=True):
        if calibrated:
            draw_image(ax, np.ma.masked_less(m, 0), scale[0], scale[1], aspect="equal", cmap=cmap, norm=norm)
        else:
            ax.imshow(np.ma.masked_less(m, 0), cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    if calibrated:
        add_scalebar(axes[0], scale[0])
    fig.legend(handles=[Patch(facecolor=c, label=n) for c, n in zip(colours, names, strict=True)],
               loc="outside lower center", ncols=len(names), fontsize=8, frameon=False)
    return fig


def describe_csstem(s: dict) -> str:
    """One line for the landing page and the console."""
    return (f"{s['measured_fraction']:.0%} sampled: PSNR {s['psnr_db']:.1f} dB (full scan {s['full_scan_psnr_db']:.1f}"
            f" dB), pure-phase spectra within {max(s['pure_phase_angles_deg']):.2f} deg of the truth, phase map "
            f"{s['phase_agreement']:.1%} agreement")
