"""Run every benchmark against its peer in one go and write one table: ``python3 -m benchmarks`` (repo root).

    python3 -m benchmarks                              # --preset quick: a few minutes on 2 cores
    python3 -m benchmarks --preset target              # the issues' sizes (long; needs ~10 GB RAM, ~5 GB disk)
    python3 -m benchmarks --only lazy_pca,roofline     # some of them
    python3 -m benchmarks --note "other jobs running"  # a remark for RESULTS.md

Each benchmark script runs as its own subprocess with ``--json PATH`` (rows in the schema of
benchmarks/harness.py); the runner adds the roofline fraction of every row that reads data --
(bytes_processed / emscale_s) / (the numpy read-pass GB/s that bench_roofline measured in the same run) --
prints the table and writes benchmarks/RESULTS.md with the date, the machine and the versions.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import harness

HERE = Path(__file__).resolve().parent

# name -> (script, quick args, target args). Order: the roofline first (its limit is needed for the others).
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "roofline": ("bench_roofline.py", ["--shape", "128", "256", "2048", "--repeat", "3"],
                 ["--shape", "256", "512", "4096", "--repeat", "3"]),
    "load": ("bench_load.py", ["--shape", "64", "128", "2048", "--repeat", "3"],
             ["--shape", "256", "512", "4096", "--repeat", "3"]),
    "convert": ("bench_convert.py", ["--gb", "0.1", "--repeat", "1"], ["--gb", "2.0", "--repeat", "3"]),
    "background": ("bench_background.py", ["--shape", "64", "64", "1024", "--repeat", "3"],
                   ["--shape", "256", "256", "2048", "--repeat", "3"]),
    "spikes": ("bench_spikes.py", ["--shape", "64", "64", "1024", "--repeat", "3"],
               ["--shape", "256", "256", "1024", "--repeat", "3"]),
    "lazy_pca": ("bench_lazy_pca.py", ["--shape", "64", "128", "1024", "--repeat", "2"],
                 ["--shape", "256", "512", "4096", "--repeat", "3"]),
    "decomposition": ("bench_decomposition.py", [], ["--ny", "256", "--nx", "256", "--channels", "2048"]),
    "out_of_core": ("bench_out_of_core.py", ["--gb", "0.5"], ["--gb", "30"]),
    "inpainting": ("bench_inpainting.py", ["--fractions", "0.1", "0.2", "--sizes", "256", "--si-fractions", "0.15",
                                           "--si-seeds", "0", "--si-shape", "64", "64", "1024"], ["--repeat", "3"]),
    "dynamic_sampling": ("bench_dynamic_sampling.py", ["--scan", "256"], []),
    "tomography": ("bench_tomography.py", ["--n", "64", "--skip-tv"], []),
    "arithmetic": ("bench_arithmetic.py", ["--shape", "128", "128", "1024", "--repeat", "3"],
                   ["--shape", "256", "256", "2048", "--repeat", "3"]),
    "sampling": ("bench_sampling.py", ["--shape", "128", "128", "2048", "--repeat", "1"],
                 ["--shape", "256", "256", "2048", "--repeat", "3"]),
    "eds_lines": ("bench_eds_lines.py", ["--repeat", "3"], ["--repeat", "3"]),
}
USES_WORKDIR = {"load", "lazy_pca", "roofline", "out_of_core", "sampling"}

# The speed/memory targets of the issues: (benchmark, what, where it is measured, check(row) -> bool | None).
TARGETS = [
    ("lazy_pca", "lazy Poisson PCA k=8 at 256x512x4096 uint16: >= 5x faster than HyperSpy lazy",
     lambda r: None if "256x512x4096" not in r["size"] or r["ratio"] is None else r["ratio"] >= 5),
    ("lazy_pca", "lazy Poisson PCA k=8 at 256x512x4096: emscale peak RSS <= 1.5 GB (HyperSpy ~4.4 GB)",
     lambda r: None if "256x512x4096" not in r["size"] or r["emscale_rss_gb"] is None
     else r["emscale_rss_gb"] <= 1.5),
    ("out_of_core", "Poisson PCA k=8 of a >= 30 GB uint16 cube (larger than RAM): emscale peak RSS < 3 GB",
     lambda r: None if "PCA" not in r["operation"] or r["emscale_rss_gb"] is None
     or float(r["size"].split(",")[-1].split()[0]) < 30 else r["emscale_rss_gb"] < 3.0),
    ("convert", "convert a 2 GB cube into the store: emscale peak RSS < 1 GB",
     lambda r: None if r["emscale_rss_gb"] is None or not r["size"].endswith("GB")
     or float(r["size"].split(",")[-1].split()[0]) < 1.9 else r["emscale_rss_gb"] < 1.0),
    ("background", "remove_background fast at 256x256x2048 float32: >= 50x faster than HyperSpy (spectroscopy issue)",
     lambda r: None if "256x256x2048" not in r["size"] or r["ratio"] is None else r["ratio"] >= 50),
    ("decomposition", "full scree Poisson PCA at 256x256x2048: >= 50x faster than HyperSpy (separation issue)",
     lambda r: None if "256x256x2048" not in r["size"] or not r["operation"].startswith("full scree")
     or r["ratio"] is None else r["ratio"] >= 50),
    ("decomposition", "randomized Poisson PCA k=8 at 256x256x2048: >= 5x faster than HyperSpy",
     lambda r: None if "256x256x2048" not in r["size"] or not r["operation"].startswith("randomized")
     or r["ratio"] is None else r["ratio"] >= 5),
    ("decomposition", "KL-NMF at 256x256x2048: >= 20x faster than scikit-learn (mu, KL) at equal or lower loss",
     lambda r: None if "256x256x2048" not in r["size"] or not r["operation"].startswith("KL-NMF")
     or r["ratio"] is None else r["ratio"] >= 20),
    ("decomposition", "Poisson PCA at 256x256x2048: emscale peak RSS <= 2x the data (float32 cube: 0.54 GB)",
     lambda r: None if "256x256x2048" not in r["size"] or "PCA" not in r["operation"] and "randomized" not in
     r["operation"] or r["emscale_rss_gb"] is None else r["emscale_rss_gb"] <= 2 * 256 * 256 * 2048 * 4 / 1e9),
    ("inpainting", "CS-STEM images at 10 % random: best CS method >= biharmonic + 2 dB (mean PSNR)",
     lambda r: None if r.get("fraction") != 0.1 else r["best_cs_gain_db"] >= 2.0),
    ("inpainting", "CS-STEM images at 20 % random: best CS method >= biharmonic + 1.5 dB (mean PSNR)",
     lambda r: None if r.get("fraction") != 0.2 else r["best_cs_gain_db"] >= 1.5),
    ("inpainting", "CS-STEM 512 x 512 image at 10 %: the sparse-prior reconstruction in <= 5 s",
     lambda r: None if r["operation"] != "inpaint sparse 10%" or not r["size"].startswith("512x512")
     or r["emscale_s"] is None else r["emscale_s"] <= 5.0),
    ("dynamic_sampling", "SLADS: choosing the next batch on a 512 x 512 scan <= 50 ms (median at every fraction)",
     lambda r: None if "next-batch decision" not in r["operation"] or not r["size"].startswith("512x512")
     or r["emscale_s"] is None else r["emscale_s"] <= 0.050),
]


def run_script(name: str, args: list[str], out: Path, timeout: float | None) -> tuple[list[dict], str, float]:
    """Run one benchmark script (its table goes to our stdout); return its rows, an error text, its wall time."""
    script, *_ = BENCHMARKS[name]
    cmd = [sys.executable, str(HERE / script), *args, "--json", str(out)]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=harness.REPO, timeout=timeout, stderr=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    wall = time.perf_counter() - t0
    if proc.returncode or not out.exists():
        err = proc.stderr.strip().splitlines()
        if proc.returncode == 2 and any("unrecognized arguments: --json" in e for e in err):
            why = f"{script} does not accept --json yet (it must write its rows in the schema of harness.py)"
        else:
            why = f"exit {proc.returncode}: {err[-1] if err else 'no --json output'}"
        print(f"--- {name} SKIPPED: {why}", flush=True)
        return [], why, wall
    sys.stderr.write(proc.stderr[-2000:] if os.environ.get("EMSCALE_BENCH_VERBOSE") else "")
    doc = json.loads(out.read_text())
    rows = doc["rows"] if isinstance(doc, dict) else doc  # harness.write_json's document, or a bare list
    for r in rows:
        r["benchmark"] = name
    return rows, "", wall


def add_roofline(rows: list[dict]) -> float | None:
    limit = next((r.get("gbps") for r in rows if r.get("limit") == "numpy_read_gbps"), None)
    for r in rows:
        b, t = r.get("bytes_processed"), r.get("emscale_s")
        r["roofline"] = (b / t / 1e9 / limit) if limit and b and t else None
    return limit


def results_md(rows, meta, skipped, walls, targets, limit) -> str:
    m, v = meta["machine"], meta["versions"]
    lines = [
        "# emscale benchmark results",
        "",
        f"* date: {meta['date']}",
        f"* command: `{meta['command']}` (preset **{meta['preset']}**), total {meta['total_s']:.0f} s",
        f"* machine: {m.get('cpu', '?')}, {m.get('cores')} cores, {m.get('ram_gb', '?')} GB RAM, "
        f"{m.get('platform', '')}; load average at start {meta['load_start']}, at end {meta['load_end']}",
        "* versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
    ]
    if meta.get("note"):
        lines.append(f"* note: {meta['note']}")
    lines += [
        "",
        "Ratio = peer time / emscale time (> 1: emscale is faster). Times: median of the repetitions, each a fresh "
        "process, emscale and peer alternating. RSS: peak resident memory of that process (VmHWM), GB = 1e9 bytes. "
        "Roofline: emscale's bytes read per second (all its passes) / the numpy in-memory read pass"
        + (f" ({limit:.2f} GB/s here)." if limit else " (not measured in this run)."),
        "See benchmarks/README.md for what each row measures.",
        "",
        harness.table(rows, markdown=True, roofline=True),
        "",
        "## Targets",
        "",
    ]
    for status, text in targets:
        lines.append(f"* **{status}** -- {text}")
    if skipped:
        lines += ["", "## Skipped", ""] + [f"* {n}: {why}" for n, why in skipped.items()]
    lines += ["", "## Script wall times", "", ", ".join(f"{n} {w:.0f} s" for n, w in walls.items()), ""]
    return "\n".join(lines)


def evaluate_targets(rows, ran) -> list[tuple[str, str]]:
    out = []
    for bench, text, check in TARGETS:
        if bench not in ran:
            out.append(("not run", text))
            continue
        verdicts = [check(r) for r in rows if r["benchmark"] == bench]
        verdicts = [x for x in verdicts if x is not None]
        if not verdicts:
            out.append(("not evaluated at these sizes", text))
        else:
            out.append(("met" if all(verdicts) else "NOT met", text))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python3 -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["quick", "target"], default="quick")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emscale_bench",
                    help="generated cubes and stores (kept and reused between runs)")
    ap.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print the table only, leave RESULTS.md alone")
    ap.add_argument("--note", default="", help="a remark written into RESULTS.md (e.g. other load on the machine)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per benchmark script (default: 900 for quick, none for target)")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = [n for n in BENCHMARKS if n in names]  # roofline first
    timeout = args.timeout if args.timeout is not None else (900 if args.preset == "quick" else None)
    args.workdir.mkdir(parents=True, exist_ok=True)

    load_start = harness.machine_info().get("loadavg", "?")
    t_all = time.perf_counter()
    rows, skipped, walls = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            _, quick, target = BENCHMARKS[name]
            extra = list(quick if args.preset == "quick" else target)
            if name in USES_WORKDIR:
                extra += ["--workdir", str(args.workdir)]
            got, why, wall = run_script(name, extra, Path(tmp) / f"{name}.json", timeout)
            walls[name] = wall
            if why:
                skipped[name] = why
            rows += got
    total = time.perf_counter() - t_all
    limit = add_roofline(rows)
    targets = evaluate_targets(rows, [n for n in names if n not in skipped])

    print(f"\n=== all benchmarks, preset {args.preset} ({total:.0f} s)")
    print(harness.table(rows, roofline=True))
    for status, text in targets:
        print(f"target [{status}] {text}")
    for n, why in skipped.items():
        print(f"skipped {n}: {why}")

    if not args.no_write:
        meta = {
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join(["python3", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
            "preset": args.preset,
            "machine": harness.machine_info(),
            "versions": harness.versions(),
            "note": args.note,
            "load_start": load_start,
            "load_end": harness.machine_info().get("loadavg", "?"),
            "total_s": total,
        }
        args.output.write_text(results_md(rows, meta, skipped, walls, targets, limit))
        args.output.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        print(f"wrote {args.output} and {args.output.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
