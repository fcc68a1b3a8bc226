"""Benchmark: emscale decomposition vs HyperSpy / scikit-learn, each case in its own subprocess (peak RSS).

    python benchmarks/bench_decomposition.py                    # 64 x 64 x 1024 (default, small)
    python benchmarks/bench_decomposition.py --ny 256 --nx 256 --channels 2048   # the issue's target size
    python benchmarks/bench_decomposition.py --only nmf --json rows.json         # KL-NMF only, rows as JSON
    python benchmarks/bench_decomposition.py --kind both --ny 128 --nx 128 --channels 2048   # + dense EELS rows
    python benchmarks/bench_decomposition.py --only dense-nmf    # KL-NMF, defaults: dense EELS vs sparse EDS
    python benchmarks/bench_decomposition.py --only mixtures     # NMF defaults vs HyperSpy on scenes without
                                                                 # pure pixels (accuracy, issue 17)
    python benchmarks/bench_decomposition.py --only small-maps   # NMF on maps below 10^6-4x10^6 values: the
                                                                 # real Velox EELS maps, a line scan
    python benchmarks/bench_decomposition.py --only cluster      # k-means of loadings: emscale's vs scikit-learn's
    python benchmarks/bench_decomposition.py --only empty-channels   # PCA defaults on maps with counts in a few
                                                                     # channels: the Velox EDS map, a synthetic one

Cases: Poisson PCA with the full scree (emscale Gram vs HyperSpy ``decomposition(normalize_poissonian_noise=
True)``), randomized k=8 (emscale vs HyperSpy ``svd_solver="randomized", output_dimension=8``), KL-NMF k=4
(emscale vs ``sklearn.decomposition.NMF(solver="mu", beta_loss="kullback-leibler")``), FastICA on the PCA scores
(emscale ``method="ica"`` vs HyperSpy ``blind_source_separation``). emscale's time is the median of ``--repeat``
fresh processes (default 3), each peer's of one. Each line prints the
peer/emscale time and peak-RSS ratios first, then the accuracy (eigenvalue agreement, spectral angles, rank).

``--only startup`` (also part of a full run): ``python -c "import emscale"`` and the first ``decompose`` of each
method (pca ``"auto"``, nmf/ica/vca/mcr k=2, and a PCA k=3 clustered into 3 phases) on a small cube (32 x 32 x 512
counts, below 10^6 values) in a fresh process, median of ``--repeat`` processes each; the peer is ``import
hyperspy.api`` and HyperSpy's first ``decomposition()`` on the same cube (and its ``cluster_analysis``).

``--only cluster``: k-means of loading directions (3 features, 3 clusters, 10 starts) in one process, emscale's
``fit_kmeans`` against scikit-learn's ``KMeans`` (already imported), map sizes 32^2 to 512^2; and scikit-learn's
import in a fresh process, which emscale's numpy route does not pay.

``--kind``: ``eds`` (sparse EDS counts, float32: the default), ``eels-dense`` (an EELS-like cube of uint16
counts with ~``--dense-counts`` (200) counts per channel: the dense data where the exact route costs most) or
``both`` (the dense rows printed beside the sparse ones). Dense rows add ``n_components=8`` with
``solver="auto"`` (the default route for an explicit small k) against HyperSpy's randomized k=8.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
# this checkout's emscale, in the children too (run from another worktree it measured the installed one)
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
import harness  # noqa: E402


def make(args, path):
    from groundtruth import make_cube

    if args.kind == "eels-dense":
        s, truth = make_cube(rank=args.rank, kind="eels", shape=(args.ny, args.nx), n_channels=args.channels,
                             counts=args.dense_counts * args.channels, pure=True, seed=args.seed, dtype=np.uint16)
        np.save(path / "data.npy", s.data)  # uint16 counts, as a detector writes them
        np.save(path / "spectra.npy", truth.spectra)
        return
    s, truth = make_cube(
        rank=args.rank,
        kind="eds",
        shape=(args.ny, args.nx),
        n_channels=args.channels,
        counts=args.counts,
        pure=True,
        seed=args.seed,
        background=(0.03, 0.08),
    )
    # float32 Poisson counts, as the separation issue specifies (poisson=True is then passed explicitly)
    np.save(path / "data.npy", s.data.astype(np.float32))
    np.save(path / "spectra.npy", truth.spectra)


def run_case(case: str, path: Path, k: int) -> dict:
    """Runs inside the child process."""
    data = np.load(path / "data.npy")  # in memory for every tool: peak RSS includes the data
    spectra = np.load(path / "spectra.npy") if (path / "spectra.npy").exists() else None  # None: a real map
    out: dict = {}
    t0 = time.perf_counter()
    if case.startswith("em_"):
        import emscale as em

        described = path / "signal.json"  # axes and signal type where the case needs them (EDS: the spectra's end)
        s = (em.Signal(data, **json.loads(described.read_text())) if described.exists() else
             em.Signal(data, axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True}, {"name": "E"}]))
        if case == "em_default":  # what a user gets: em.decompose(s), the whole scree
            d = em.decompose(s)
            out["rank"] = d.info.get("rank_estimate")
        elif case == "em_gram":
            d = em.decompose(s, "pca", solver="gram", poisson=True)  # the whole scree; 32 factors kept
            out["rank"] = d.estimate_rank()[0]
        elif case == "em_rand":
            d = em.decompose(s, "pca", solver="randomized", n_components=k, poisson=True)
        elif case == "em_auto":
            d = em.decompose(s, "pca", n_components=k, poisson=True)  # solver="auto" with an explicit k
            out["solver"] = d.info["solver"]
        elif case == "em_ica":
            d = em.decompose(s, "ica", n_components=k, poisson=True)
        elif case in ("em_nmf_default", "em_nmf_plain", "em_mcr_default"):  # what a user gets: every default
            # (em_nmf_plain: the same without the updates' jumps, extrapolate=False)
            kw = {"extrapolate": False} if case == "em_nmf_plain" else {}
            method = "mcr" if case == "em_mcr_default" else "nmf"
            d = em.decompose(s, method, n_components=k, **kw)
            if (path / "warm").exists():  # the same call once more in the same process: a user's second fit
                out["first_seconds"] = time.perf_counter() - t0
                t1 = time.perf_counter()
                em.decompose(s, method, n_components=k, **kw)
                out["warm_seconds"] = time.perf_counter() - t1
            out["factors"] = d.factors_array.T.tolist()
            out["loadings"] = d.loadings_array
            out.update({key: d.info.get(key) for key in ("route", "n_iter", "start", "pure_pixel_rotation")})
        else:
            # the factorisation against the factorisation (equal-loss comparison): no pure-pixel rotation
            d = em.decompose(s, "nmf", n_components=k, pure_pixels=False, poisson=True)
            out["factors"] = d.factors_array.T.tolist()
            out["loadings"] = d.loadings_array
            out["route"] = d.info.get("route")
        ev = d.explained_variance
        out["ev"] = None if ev is None else ev[:k].tolist()
    elif case in ("hs_full", "hs_rand"):
        import hyperspy.api as hs

        # as given, but integer counts as float32: HyperSpy decomposes only float data (a user change_dtype()s)
        h = hs.signals.Signal1D(data.astype(np.float32) if data.dtype.kind in "iu" else data)
        kw = dict(svd_solver="randomized", output_dimension=k) if case == "hs_rand" else {}
        h.decomposition(normalize_poissonian_noise=True, print_info=False, **kw)
        out["ev"] = np.asarray(h.learning_results.explained_variance)[:k].tolist()
        out["elbow_rank"] = int(h.learning_results.number_significant_components)
    elif case == "hs_ica":
        import hyperspy.api as hs

        h = hs.signals.Signal1D(data)
        h.decomposition(normalize_poissonian_noise=True, print_info=False)
        h.blind_source_separation(k, print_info=False)
    elif case == "hs_nmf":
        import hyperspy.api as hs

        h = hs.signals.Signal1D(data.astype(np.float32))
        h.decomposition(algorithm="NMF", output_dimension=k, print_info=False)
        out["factors"] = np.asarray(h.learning_results.factors).T.tolist()
        out["loadings"] = np.asarray(h.learning_results.loadings)
    elif case == "sk_nmf":
        from sklearn.decomposition import NMF

        x = data.reshape(-1, data.shape[-1])  # float32, as given (scikit-learn keeps float32)
        m = NMF(
            n_components=k,
            solver="mu",
            beta_loss="kullback-leibler",
            init="nndsvda",
            max_iter=1000,
            tol=1e-6,
            random_state=0,
        )
        out["loadings"] = m.fit_transform(x)
        out["factors"] = m.components_.tolist()
    out["seconds"] = out.pop("first_seconds", time.perf_counter() - t0)
    out["maxrss_mb"] = harness.peak_rss_mb()
    if "factors" in out:
        from groundtruth import spectral_angles

        f = np.asarray(out.pop("factors"))
        w = np.asarray(out.pop("loadings"), dtype=float)
        out["kl_loss"] = _kl_loss(data, w, f)
        if spectra is not None and f.shape[0] >= spectra.shape[0]:
            angles = spectral_angles(f, spectra)
            out["median_angle_deg"] = float(np.median(angles))
            out["last_angle_deg"] = float(angles[-1])  # the minor phase's, in the minor-phase scene
    return out


def _kl_loss(data, w, h) -> float:
    """Generalised KL divergence sum X log(X / WH) - X + WH (scikit-learn's definition), by row blocks."""
    x2 = data.reshape(-1, data.shape[-1])
    total = float(w.sum(axis=0) @ h.sum(axis=1))
    for i in range(0, x2.shape[0], 4096):
        x = np.asarray(x2[i : i + 4096], dtype=float)
        wh = w[i : i + 4096] @ h
        m = x > 0
        total += float(np.sum(x[m] * np.log(x[m] / wh[m])) - x[m].sum())
    return total


def child(case, path, k, repeat: int = 1) -> dict:
    """Run ``case`` in ``repeat`` fresh processes: the median time (and second call's, where timed), the largest
    peak RSS, the last run's other results (every run computes the same numbers: seeded)."""
    runs = []
    for _ in range(max(1, repeat)):
        cmd = [sys.executable, __file__, "--child", case, "--dir", str(path), "--k", str(k)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode:
            return {"error": r.stderr.strip().splitlines()[-1] if r.stderr else f"exit {r.returncode}"}
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    res = dict(runs[-1])
    for key in ("seconds", "warm_seconds"):
        if key in res:
            res[key] = float(np.median([x[key] for x in runs]))
    res["maxrss_mb"] = max(x["maxrss_mb"] for x in runs)
    res["runs"] = len(runs)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ny", type=int, default=64)
    ap.add_argument("--nx", type=int, default=64)
    ap.add_argument("--channels", type=int, default=1024)
    ap.add_argument("--counts", type=float, default=200.0)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="emscale runs per case (fresh processes; the median time is reported): its runs take "
                    "seconds, where start-up noise matters; each peer runs once (tens of seconds to minutes)")
    ap.add_argument("--only", choices=("gram", "randomized", "nmf", "ica", "startup", "dense-nmf", "mixtures",
                                       "small-maps", "cluster", "empty-channels"),
                    help="run one case only")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as a JSON list to PATH")
    ap.add_argument("--kind", choices=("eds", "eels-dense", "both"), default="eds")
    ap.add_argument("--dense-counts", type=float, default=200.0, help="counts per channel of the dense EELS cube")
    ap.add_argument("--dense-rank", type=int, default=3,
                    help="rank of the --only dense-nmf cubes (above 4: the dense kernels' row-buffer route)")
    ap.add_argument("--startup-shape", type=int, nargs=3, default=STARTUP_CUBE, metavar=("NY", "NX", "CHANNELS"),
                    help="the start-up rows' cube (default 32 32 512; a tiny one, e.g. 4 4 256, shows the fixed costs)")
    ap.add_argument("--startup-level", type=float, default=STARTUP_LEVEL,
                    help="the start-up cube's mean counts per channel over 2 (default 20: dense counts; 0.5: sparse "
                         "EDS-like counts, the sparse KL route)")
    ap.add_argument("--child")
    ap.add_argument("--dir")
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, Path(args.dir), args.k)))
        return
    kinds = ("eds", "eels-dense") if args.kind == "both" else (args.kind,)
    rows = startup_rows(args) if args.only in (None, "startup") else []
    rows += dense_nmf_rows(args) if args.only in (None, "dense-nmf") else []
    rows += mixture_rows(args) if args.only in (None, "mixtures") else []
    rows += small_map_rows(args) if args.only in (None, "small-maps") else []
    rows += cluster_rows(args) if args.only in (None, "cluster") else []
    rows += empty_channel_rows(args) if args.only in (None, "empty-channels") else []
    for kind in kinds if args.only not in ("startup", "dense-nmf", "mixtures", "small-maps", "cluster",
                                           "empty-channels") else ():
        rows += run_kind(argparse.Namespace(**{**vars(args), "kind": kind}))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


# (label, scene, rank, counts per pixel): issue 17's scenes without pure pixels (96 x 96 x 1024, the slow grid's
# seeds) and Ag particles on an Al substrate (its real map in shape and dose)
MIXTURE_CUBES = (("EDS blobs", "blobs", 3, 200.0), ("EDS blobs", "blobs", 2, 2000.0),
                 ("EDS gradient", "gradient", 3, 200.0), ("EDS gradient", "gradient", 2, 2000.0),
                 ("Ag on Al, 50x50x2048", "particles", 2, 380.0),
                 ("EDS minor phase in 0.5 % of the pixels", "minor", 3, 200.0),
                 # real elements' lines over a bulk sample's continuum, smooth mixtures (64 x 64 x 1024, seeds 1, 0;
                 # seed 19: the continuum a fifth of the model at the lines' channels)
                 ("EDS lines over a strong continuum", "continuum", 2, 500.0),
                 ("EDS lines over a strong continuum", "continuum", 3, 500.0),
                 ("EDS lines over a continuum of a fifth", "continuum-19", 3, 500.0))


def _write_signal(path: Path, s, spectra=None) -> None:
    """The files a child case reads (:func:`run_case`): the data, its axes and signal type, and the true spectra
    where known."""
    np.save(path / "data.npy", np.asarray(s.data))
    if spectra is not None:
        np.save(path / "spectra.npy", spectra)
    (path / "signal.json").write_text(json.dumps({"axes": [a.to_dict() for a in s.axes],
                                                  "signal_type": s.signal_type}))


def mixture_rows(args) -> list[dict]:
    """NMF with every default against HyperSpy's NMF (scikit-learn's Frobenius ``cd``) on EDS scenes where no
    pixel of some phase is pure: the median angle to the true spectra (issue 17: never worse than the
    solver's own; HyperSpy's plain NMF is the issue's yardstick). The minor-phase scene: the minor phase's angle,
    its floor the angle of its pixels' summed counts."""
    from groundtruth import (
        lines_over_continuum_scene,
        minor_phase_scene,
        mixed_scene,
        particles_on_substrate,
        separation_floor,
        spectral_angles,
    )

    rows = []
    print("# NMF with the defaults on EDS scenes without pure pixels (issue 17): angles to the truth; floor: the "
          "spectra fitted with the true maps")
    for label, scene, rank, counts in MIXTURE_CUBES:
        floor = float("nan")
        if scene == "particles":
            s, spectra = particles_on_substrate(counts=counts, seed=0)
        elif scene == "minor":  # floor: the minor phase's own summed counts against its spectrum
            s, truth, mask = minor_phase_scene(counts=counts, seed=0)
            spectra = truth.spectra
            floor = float(spectral_angles(np.asarray(s.data)[mask].sum(axis=0)[None].astype(float), spectra[-1:])[0])
        else:
            if scene.startswith("continuum"):
                seed = int(scene.split("-")[1]) if "-" in scene else (1 if rank == 2 else 0)
                s, truth = lines_over_continuum_scene(rank, "smooth", counts, seed=seed)
            else:
                s, truth = mixed_scene(rank=rank, kind="eds", layout=scene, counts=counts,
                                       seed=10 * rank + int(counts) % 7)
            spectra = truth.spectra
            floor = float(np.median(separation_floor(s, truth)))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp)
            _write_signal(path, s, spectra)
            a = child("em_nmf_default", path, rank, args.repeat)
            b = {} if args.skip_peers else child("hs_nmf", path, rank)
        size = f"{label} rank {rank}, {counts:g} counts/pixel"
        key = "last_angle_deg" if scene == "minor" else "median_angle_deg"  # the minor phase's own angle there
        line = (f"{size:44s} | emscale {a.get('seconds', float('nan')):.2f} s, angle "
                f"{a.get(key, float('nan')):.2f} deg")
        line += f" (floor {floor:.2f})" if floor == floor else ""
        if b:
            line += (f" | HyperSpy NMF {b['seconds']:.1f} s, angle {b.get(key, float('nan')):.2f} deg"
                     if "seconds" in b else f" | HyperSpy failed: {b.get('error')}")
        print(line, flush=True)
        rows.append({"operation": "NMF k, defaults, no pure pixels", "size": size, "emscale_s": a.get("seconds"),
                     "peer": "hyperspy" if b else None, "peer_s": b.get("seconds"),
                     "ratio": b["seconds"] / a["seconds"] if "seconds" in b and "seconds" in a else None,
                     "accuracy": line.split(" | ", 1)[1]})
    return rows


def _velox_signals(wanted, what: str):
    """The signals of the Velox example (``shared/data/real/velox_EELS_EDS.zip``, or ``$EMSCALE_REAL_DATA``) whose
    title ``wanted`` accepts; none, said, where the file is not there."""
    import zipfile

    import emscale as em

    zp = Path(os.environ.get("EMSCALE_REAL_DATA", harness.REPO.parent / "shared" / "data" / "real"))
    zp = zp / "velox_EELS_EDS.zip"
    if not zp.exists():
        print(f"({what} skipped: {zp} not found)")
        return
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(zp) as z:
        z.extractall(tmp)
        for f in Path(tmp).glob("*.emd"):
            yield from (s for s in em.load(f) if wanted(s.title))


def _small_maps():
    """(label, Signal, true spectra or None): the Velox EELS maps of ``shared/data/real`` (16 x 20 x 2048, dense
    counts; skipped where the file is not there) and synthetic maps of the same regime (below ~4 x 10^6 values)."""
    from groundtruth import mixed_scene

    for s in _velox_signals(lambda title: title.startswith("EELS ("), "Velox EELS maps"):
        yield f"Velox {s.title}, 16x20x2048", s, None
    for label, shape, kind, counts, seed in (("EELS line scan 1x64x1024", (1, 64), "eels", 2000, 4),
                                             ("EDS blobs 64x64x1024", (64, 64), "eds", 200, 1)):
        s, truth = mixed_scene(rank=3, kind=kind, layout="blobs", shape=shape, n_channels=1024, counts=counts,
                               seed=seed)
        yield f"{label}, {counts} counts/pixel", s, truth.spectra


def small_map_rows(args) -> list[dict]:
    """KL-NMF k=3 with every default on small maps, where the multiplicative updates crawl (issue 17: a cube below
    10^6 values "well under 1 s"; the Velox EELS maps took 900-920 updates): emscale, emscale without the updates'
    jumps (``extrapolate=False``, :mod:`emscale.decomposition.extrapolation`) and HyperSpy's NMF, each in fresh
    processes; each time counts from the tool's import (the first call a user waits for). Loss: the KL divergence
    of each result (the same definition for all); angles where the truth is known."""
    rows = []
    print("# KL-NMF k=3, defaults, small maps (issue 17): seconds from the import in a fresh process, updates, KL "
          f"loss, median angle to the truth; load {os.getloadavg()[0]:.1f}")
    for label, s, spectra in _small_maps():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp)
            _write_signal(path, s, spectra)
            (path / "warm").touch()  # emscale's children time a second call too
            a = child("em_nmf_default", path, 3, args.repeat)
            plain = child("em_nmf_plain", path, 3, args.repeat)
            b = {} if args.skip_peers else child("hs_nmf", path, 3)
        line = f"{label:48s}"
        for name, r in (("emscale", a), ("emscale plain updates", plain), ("HyperSpy NMF", b)):
            if not r:
                continue
            if "seconds" not in r:
                line += f" | {name} failed: {r.get('error')}"
                continue
            line += f" | {name} {r['seconds']:.2f} s"
            line += f" (again {r['warm_seconds']:.2f} s)" if "warm_seconds" in r else ""
            line += f", {r['n_iter']} updates" if r.get("n_iter") is not None else ""
            line += f", loss {r['kl_loss']:.6g}" + (f", {r['median_angle_deg']:.2f} deg" if "median_angle_deg" in r
                                                     else "")
        print(line, flush=True)
        for name, r in (("emscale plain updates", plain), ("hyperspy", b)):
            if r:
                rows.append({"operation": "KL-NMF k=3, defaults, small map", "size": label,
                             "emscale_s": a.get("seconds"), "peer": name, "peer_s": r.get("seconds"),
                             "ratio": r["seconds"] / a["seconds"] if "seconds" in r and "seconds" in a else None,
                             "accuracy": line.split(" | ", 1)[1]})
    return rows


def _empty_channel_maps():
    """(label, Signal): maps whose counts sit in a few channels, most channels holding none: the Velox example EDS
    map of ``shared/data/real`` (128 x 128 x 4096, 11 093 counts, 11 091 of them in the masked strobe peak; skipped
    where the file is not there) and a synthetic map of three lines, 8 channels each, in 2048."""
    from groundtruth import counts_signal

    for s in _velox_signals(lambda title: title == "EDS (UltraX2, spectrum image)", "Velox EDS map"):
        yield "Velox EDS map 128x128x4096, 2 counts outside the strobe", s
    rng = np.random.default_rng(0)
    live = np.concatenate([np.arange(c - 4, c + 4) for c in (300, 900, 1500)])
    spectra = rng.gamma(2.0, 1.0, (3, live.size))
    x = np.zeros((64 * 64, 2048), dtype=np.uint16)
    x[:, live] = rng.poisson(20 * rng.dirichlet(np.ones(3), 64 * 64) @ (spectra / spectra.sum(1, keepdims=True)))
    energy = {"name": "Energy", "scale": 0.01, "offset": 0.0, "units": "keV"}
    yield "64x64x2048, 20 counts/pixel in 24 channels", counts_signal(x.reshape(64, 64, 2048), energy, "EDS_SEM")


def empty_channel_rows(args) -> list[dict]:
    """``em.decompose(s)`` (PCA, the whole scree) on maps whose counts sit in a few channels, where the Gram matrix
    is mostly zero rows (:func:`emscale.decomposition._gram.eigh_scree` solves only the others), against HyperSpy's
    ``decomposition(normalize_poissonian_noise=True)`` on the same map, each in fresh processes."""
    rows = []
    print(f"# PCA, defaults, maps with counts in a few channels (issue 17); load {os.getloadavg()[0]:.1f}")
    for label, s in _empty_channel_maps():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp)
            _write_signal(path, s)
            a = child("em_default", path, 8, args.repeat)
            b = {} if args.skip_peers else child("hs_full", path, 8)
        line = f"{label:56s} | emscale {a.get('seconds', float('nan')):.2f} s, rank {a.get('rank')}"
        if "seconds" in b:
            line += f" | HyperSpy {b['seconds']:.2f} s | ratio {b['seconds'] / a['seconds']:.1f}x"
        elif b:
            line += f" | HyperSpy failed: {b.get('error')}"
        print(line, flush=True)
        rows.append({"operation": "PCA, defaults, counts in a few channels", "size": label,
                     "emscale_s": a.get("seconds"), "peer": "hyperspy" if b else None, "peer_s": b.get("seconds"),
                     "ratio": b["seconds"] / a["seconds"] if "seconds" in b and "seconds" in a else None})
    return rows


DENSE_NMF_CUBES = (  # (label, kind, counts per pixel): the cubes of issue 17, 96 x 96 x 1024, rank 3, pure pixels
    ("sparse EDS", "eds", 200.0), ("dense EELS", "eels", 5000.0), ("dense EELS", "eels", 20000.0))


def dense_nmf_rows(args) -> list[dict]:
    """KL-NMF with every default on dense high-count EELS-like cubes against the sparse EDS cube of the same size
    (issue 17: dense within 2x of sparse), and the peers on the dense cubes: scikit-learn's KL ``mu`` and
    HyperSpy's NMF (scikit-learn's Frobenius ``cd``); MCR-ALS with its defaults on the same cubes. Angles: median to
    the true spectra."""
    from groundtruth import make_cube

    rows, sparse_s = [], None
    k = args.dense_rank
    print(f"# KL-NMF with the defaults, 96x96x1024, rank {k}, pure pixels (issue 17)")
    for label, kind, counts in DENSE_NMF_CUBES:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp)
            s, truth = make_cube(k, kind=kind, shape=(96, 96), n_channels=1024, counts=counts, pure=True, seed=1)
            np.save(path / "data.npy", s.data)
            np.save(path / "spectra.npy", truth.spectra)
            a = child("em_nmf_default", path, k, args.repeat)
            mcr = child("em_mcr_default", path, k, args.repeat)
            peers = {} if kind == "eds" or args.skip_peers else {
                "scikit-learn": child("sk_nmf", path, k), "hyperspy": child("hs_nmf", path, k)}
        if "seconds" not in a:
            print(f"{label} {counts:g}: emscale failed: {a.get('error')}")
            continue
        sparse_s = a["seconds"] if kind == "eds" else sparse_s
        vs_sparse = a["seconds"] / sparse_s if sparse_s else float("nan")
        line = (f"{label:10s} {counts:>6g} counts/pixel | emscale {a['seconds']:.2f} s ({vs_sparse:.2f}x the sparse "
                f"cube), {a.get('n_iter')} iterations, start {a.get('start')}, angle "
                f"{a.get('median_angle_deg', float('nan')):.2f} deg")
        for name, b in peers.items():
            line += (f" | {name} {b.get('seconds', float('nan')):.1f} s, angle "
                     f"{b.get('median_angle_deg', float('nan')):.2f} deg" if "seconds" in b
                     else f" | {name} failed: {b.get('error')}")
        print(line, flush=True)
        for name, b in (peers or {"-": {}}).items():
            rows.append({"operation": f"KL-NMF k={k}, defaults", "size": f"96x96x1024 {label}, {counts:g} counts/pixel",
                         "emscale_s": a["seconds"], "peer": name if b else None, "peer_s": b.get("seconds"),
                         "ratio": b["seconds"] / a["seconds"] if "seconds" in b else None,
                         "accuracy": line.split(" | ", 1)[1], "vs_sparse": vs_sparse})
        if "seconds" in mcr:  # MCR-ALS on the same cube (no peer here: HyperSpy and scikit-learn have none)
            print(f"{'':10s} {'':>6s}              | emscale MCR-ALS {mcr['seconds']:.2f} s, {mcr.get('n_iter')} "
                  f"iterations, angle {mcr.get('median_angle_deg', float('nan')):.2f} deg", flush=True)
            rows.append({"operation": f"MCR-ALS k={k}, defaults",
                         "size": f"96x96x1024 {label}, {counts:g} counts/pixel", "emscale_s": mcr["seconds"],
                         "peer": None, "accuracy": mcr.get("median_angle_deg")})
    return rows


STARTUP_CUBE = (32, 32, 512)  # 524 288 values: "a cube below 10^6 values decomposes in well under 1 s"
STARTUP_LEVEL = 20.0
STARTUP_CODE = """
import sys, time
t0 = time.perf_counter()
{imp}
t1 = time.perf_counter()
import numpy as np
rng = np.random.default_rng(0)
shape = {shape}
data = rng.poisson({level} * rng.dirichlet([1.0, 1.0], size=shape[:-1]) @ rng.gamma(2.0, 1.0, size=(2, shape[-1])))
data = data.astype(np.uint16)
t2 = time.perf_counter()
{call}
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""
STARTUP_CALLS = {
    "pca": ("em.decompose(s, 'pca', n_components='auto')", "h.decomposition(print_info=False)"),
    "nmf": ("em.decompose(s, 'nmf', n_components=2)", "h.decomposition(algorithm='NMF', output_dimension=2, "
            "print_info=False)"),
    "ica": ("em.decompose(s, 'ica', n_components=2)", None),
    "vca": ("em.decompose(s, 'vca', n_components=2)", None),
    "mcr": ("em.decompose(s, 'mcr', n_components=2)", None),
    # the phase map: a decomposition's loadings clustered by k-means (emscale's own up to its size limit)
    "pca+cluster": ("em.decompose(s, 'pca', n_components=3).cluster(3)",
                    "h.decomposition(print_info=False); h.cluster_analysis('decomposition', number_of_components=3, "
                    "n_clusters=3)"),
}


def _startup(imp: str, call: str, repeat: int, shape=STARTUP_CUBE, level: float = STARTUP_LEVEL) -> dict:
    """Median (import seconds, first-call seconds) over ``repeat`` fresh processes."""
    code = STARTUP_CODE.format(imp=imp, shape=tuple(shape), level=float(level), call=call)
    runs = []
    for _ in range(max(1, repeat)):
        # this checkout's emscale, as the --child cases (the installed one may be another worktree's)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"),
                                                            os.environ.get("PYTHONPATH", "")])}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
        if r.returncode:
            return {"error": r.stderr.strip().splitlines()[-1] if r.stderr else f"exit {r.returncode}"}
        runs.append([float(v) for v in r.stdout.split()[-2:]])
    imp_s, call_s = np.median(np.asarray(runs), axis=0)
    return {"import_s": float(imp_s), "seconds": float(call_s)}


def startup_rows(args) -> list[dict]:
    """Import time and the first call of each method on a small cube, fresh processes (issue 17)."""
    shape = tuple(args.startup_shape)
    size = "x".join(map(str, shape)) + f" uint16 counts ({2 * args.startup_level:g} per channel), fresh process"
    print(f"# start-up: import and first decompose on {size}; {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.1f}")
    em_imp = "import emscale as em"
    hs_imp = "import hyperspy.api as hs"
    rows = []
    for method, (ours, peer) in STARTUP_CALLS.items():
        a = _startup(em_imp, f"s = em.Signal(data, axes=[{{'navigate': True}}] * 2 + [{{'navigate': False}}])\n{ours}",
                     args.repeat, shape, args.startup_level)
        b = {"error": "skipped"}
        if peer and not args.skip_peers:
            b = _startup(hs_imp, f"h = hs.signals.Signal1D(data.astype(np.float32))\n{peer}", 1, shape,
                         args.startup_level)
        line = f"first decompose {method:11s} | emscale import {a.get('import_s', float('nan')):.2f} s, first call "
        line += f"{a.get('seconds', float('nan')):.2f} s"
        if "seconds" in b:
            line += f" | HyperSpy import {b['import_s']:.2f} s, first call {b['seconds']:.2f} s"
        for who, r in (("emscale", a), ("peer", b)):
            if "error" in r and r["error"] != "skipped":
                line += f" | {who} failed: {r['error']}"
        print(line, flush=True)
        rows.append({"operation": f"import + first decompose ({method})", "size": size,
                     "emscale_import_s": a.get("import_s"), "emscale_s": a.get("seconds"), "peer": "hyperspy",
                     "peer_import_s": b.get("import_s"), "peer_s": b.get("seconds"), "kind": "startup"})
    return rows


def cluster_rows(args) -> list[dict]:
    """k-means of loading directions: emscale's route at each map size against scikit-learn's fit (issue 17)."""
    from emscale.decomposition.kmeans import fit_kmeans

    code = "import time; t = time.perf_counter(); import sklearn.cluster; print(time.perf_counter() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(max(1, args.repeat))]
    imp = float(np.median(imports))
    print(f"# k-means of loading directions (3 features, 3 clusters, 10 starts); import sklearn.cluster {imp:.2f} s "
          f"(fresh process, median of {len(imports)}); {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    from sklearn.cluster import KMeans

    rows = []
    for side in (32, 128, 256, 512):
        rng = np.random.default_rng(side)
        x = rng.normal(size=(3, 3))[rng.integers(3, size=side * side)] + 0.4 * rng.normal(size=(side * side, 3))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        times, fits = [], []
        for fit in (lambda x: fit_kmeans(x, 3, seed=0),
                    lambda x: KMeans(n_clusters=3, random_state=0, n_init=10).fit(x)):
            t = time.perf_counter()
            fits.append(fit(x))
            times.append(time.perf_counter() - t)
        ours, theirs = fits
        ratio = ours.inertia / theirs.inertia_
        print(f"cluster {side}x{side} | emscale {times[0]:.3f} s ({ours.route.split(':')[0]}) | scikit-learn "
              f"{times[1]:.3f} s + import {imp:.2f} s | ratio (with its import) {(times[1] + imp) / times[0]:.1f}x "
              f"| inertia ratio {ratio:.5f}", flush=True)
        rows.append({"operation": "k-means of loadings", "size": f"{side}x{side} x 3 features, 3 clusters",
                     "emscale_s": times[0], "route": ours.route, "peer": "scikit-learn KMeans", "peer_s": times[1],
                     "peer_import_s": imp, "inertia_ratio": ratio, "kind": "cluster"})
    return rows


def run_kind(args) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        make(args, path)
        dose = (f"{args.counts:g} counts/pixel" if args.kind == "eds" else
                f"dense EELS uint16, {args.dense_counts:g} counts/channel")
        size = f"{args.ny}x{args.nx}x{args.channels}, {dose}, rank {args.rank}"
        print(f"# decomposition benchmark: {size}; {os.cpu_count()} cpus")
        n_full = min(args.ny * args.nx, args.channels)
        pairs = [
            ("full scree (Poisson PCA)", "em_gram", "hs_full", n_full),
            ("randomized k=8", "em_rand", "hs_rand", 8),
            ("KL-NMF k=rank", "em_nmf", "sk_nmf", args.rank),
            ("FastICA on PCA scores k=rank", "em_ica", "hs_ica", args.rank),
        ]
        if args.only:
            pairs = [pairs[("gram", "randomized", "nmf", "ica").index(args.only)]]
        elif args.kind == "eels-dense":  # the PCA routes only (NMF on dense counts: a row of its own, issue 17)
            pairs = pairs[:2] + [("auto solver k=8", "em_auto", "hs_rand", 8)]
        rows = []
        nbytes = int(np.load(path / "data.npy", mmap_mode="r").nbytes)
        for label, ours, peer, k in pairs:
            a = child(ours, path, k, args.repeat)
            b = {"error": "skipped"} if args.skip_peers else child(peer, path, k)
            line = f"{label:28s}"
            if "seconds" in a and "seconds" in b:
                line += f" time peer/emscale = {b['seconds'] / a['seconds']:.2f}x"
                line += f"  peak RSS peer/emscale = {b['maxrss_mb'] / a['maxrss_mb']:.2f}x"
            line += f" | emscale {a.get('seconds', float('nan')):.2f} s {a.get('maxrss_mb', float('nan')):.0f} MB"
            line += f" | peer {b.get('seconds', float('nan')):.2f} s {b.get('maxrss_mb', float('nan')):.0f} MB"
            if a.get("ev") and b.get("ev"):
                ea, eb = np.asarray(a["ev"]), np.asarray(b["ev"])
                n = min(len(ea), len(eb), 8)
                line += f" | top-{n} eigenvalue max rel diff {np.max(np.abs(ea[:n] - eb[:n]) / eb[:n]):.1e}"
            if "solver" in a:
                line += f" | emscale solver {a['solver']}"
            if "rank" in a:
                line += f" | rank: emscale {a['rank']} (true {args.rank})"
            if "elbow_rank" in b:
                line += f", HyperSpy elbow {b['elbow_rank']}"
            if "median_angle_deg" in a:
                line += f" | median angle emscale {a['median_angle_deg']:.2f} deg"
            if "median_angle_deg" in b:
                line += f", peer {b['median_angle_deg']:.2f} deg"
            if "kl_loss" in a and "kl_loss" in b:
                line += f" | KL loss emscale {a['kl_loss']:.6e}, peer {b['kl_loss']:.6e}"
            for who, r in (("emscale", a), ("peer", b)):
                if "error" in r and r["error"] != "skipped":
                    line += f" | {who} failed: {r['error']}"
            print(line, flush=True)
            acc = line.split(" | ", 3)[-1] if line.count(" | ") >= 3 else ""
            rows.append(
                {
                    "operation": label,
                    "size": size,
                    "emscale_s": a.get("seconds"),
                    "peer": "scikit-learn" if peer == "sk_nmf" else "hyperspy",
                    "peer_s": b.get("seconds"),
                    "ratio": b["seconds"] / a["seconds"] if "seconds" in a and "seconds" in b else None,
                    "emscale_rss_gb": a["maxrss_mb"] / 1024 if "maxrss_mb" in a else None,
                    "peer_rss_gb": b["maxrss_mb"] / 1024 if "maxrss_mb" in b else None,
                    "accuracy": acc,
                    "bytes_processed": nbytes,
                    "kind": args.kind,
                }
            )
        return rows


if __name__ == "__main__":
    main()
