"""Benchmark: emscale remove_background(fit="fast") vs HyperSpy remove_background(fast=True), same array.

    python benchmarks/bench_background.py                      # 64 x 64 x 1024 float32 (quick)
    python benchmarks/bench_background.py --shape 256 256 2048 # the issue's target size (~512 MB float32)

The cube (a power law with per-pixel A, r plus two edges, Poisson noise) is written once to a temporary .npy;
each tool then runs in its own fresh subprocess that loads it (benchmarks/harness.py; alternating, --repeat
times, median time), so the peak resident memory (VmHWM) of one tool does not include the other.
Reported per tool: wall time of the remove_background call alone, peak RSS of the
process and the peak increase over the (current) RSS just before the call, i.e. after imports and loading.
The first printed line is the ratio (HyperSpy time / emscale time); the last is the maximum relative
difference of the subtracted backgrounds. ``--json PATH`` writes the row in the common schema.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

OFFSET, SCALE = 50.0, 0.2


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def make_cube(path: Path, shape, dtype: str, seed: int = 0) -> None:
    """Write the test cube row block by row block (bounded memory)."""
    ny, nx, ne = shape
    E = OFFSET + SCALE * np.arange(ne)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))
    rng = np.random.default_rng(seed)
    rows = max(1, (64 * 2**20) // (nx * ne * 8))
    yy_all = np.linspace(0, 1, ny)
    xx = np.linspace(0, 1, nx)
    edge = 0.4 * (1 / (1 + np.exp(-(E - 99.8) / 0.3))) * (E / 99.8) ** -3
    for y0 in range(0, ny, rows):
        yy = yy_all[y0 : y0 + rows, None]
        t = 0.7 + 0.6 * yy + 0.0 * xx
        r = 3.0 + 0.3 * np.sin(3 * xx) - 0.2 * (t - 1)
        bg = 500.0 * t[..., None] * (E / 100.0) ** -r[..., None]
        mu = bg * (1 + edge)
        out[y0 : y0 + rows] = rng.poisson(mu).astype(dtype)
    out.flush()
    del out


def worker(tool: str, inp: Path, outp: Path, window, model: str, threads: int | None) -> dict:
    data = np.load(inp)
    if tool == "emscale":
        import emscale as em

        if threads:
            em.use_executor("threads", n_workers=threads)
        s = em.Signal(
            data,
            axes=[
                {"name": "y", "navigate": True},
                {"name": "x", "navigate": True},
                {"name": "Energy loss", "scale": SCALE, "offset": OFFSET, "units": "eV"},
            ],
            signal_type="EELS",
        )
        base = _current_rss_mb()
        t0 = time.perf_counter()
        res = s.remove_background(signal_range=window, model=model)
        secs = time.perf_counter() - t0
        result = res.data
    else:
        import warnings

        warnings.filterwarnings("ignore")
        import hyperspy.api as hs

        h = hs.signals.Signal1D(data)
        ax = h.axes_manager.signal_axes[0]
        ax.scale, ax.offset, ax.units = SCALE, OFFSET, "eV"
        ax.is_binned = True
        names = {
            "powerlaw": "Power law",
            "exponential": "Exponential",
            "offset": "Offset",
            "polynomial": "Polynomial",
        }
        base = _current_rss_mb()
        t0 = time.perf_counter()
        res = h.remove_background(
            signal_range=window, background_type=names[model], fast=True, show_progressbar=False
        )
        secs = time.perf_counter() - t0
        result = res.data
    peak = harness.peak_rss_mb()
    np.save(outp, np.asarray(result, dtype=np.float32))
    return {
        "tool": tool,
        "seconds": secs,
        "peak_rss_mb": peak,
        "peak_increase_mb": peak - base,
        "out_dtype": str(result.dtype),
    }


CHILD = """
from bench_background import worker
report(**worker({tool!r}, Path({inp!r}), Path({outp!r}), {window!r}, {model!r}, {threads!r}))
"""


def run_children(tools, inp: Path, tmp: Path, args) -> dict:
    """Each tool in its own fresh process (benchmarks/harness.py), alternating, --repeat times: the median time
    of the call, the max peak RSS."""
    cases = {
        t: "from pathlib import Path\n" + CHILD.format(tool=t, inp=str(inp), outp=str(tmp / f"{t[:2]}.npy"),
                                                      window=tuple(args.window), model=args.model,
                                                      threads=args.threads)
        for t in tools
    }
    res = harness.run_alternating(cases, args.repeat, on_error="raise")
    out = {}
    for t, r in res.items():
        d = dict(r["result"])
        runs = [x for x in r["runs"]]
        d["seconds"] = r["seconds"]  # median over the repetitions
        d["runs"] = runs
        d["rss_gb"] = r["rss_gb"]
        out[t] = d
    return out


def max_rel_diff(inp: Path, a: Path, b: Path) -> tuple[float, float]:
    """Max |bg_a - bg_b| / max |bg_b| and the max elementwise relative difference where |bg_b| > 1e-3 max."""
    d = np.load(inp, mmap_mode="r")
    ea = np.load(a, mmap_mode="r")
    eb = np.load(b, mmap_mode="r")
    worst_abs, worst_rel, scale = 0.0, 0.0, 0.0
    step = max(1, d.shape[0] // 16)
    for i in range(0, d.shape[0], step):
        dd = np.asarray(d[i : i + step], dtype=np.float64)
        ba = dd - ea[i : i + step]
        bb = dd - eb[i : i + step]
        scale = max(scale, float(np.abs(bb).max()))
        diff = np.abs(ba - bb)
        worst_abs = max(worst_abs, float(diff.max()))
        big = np.abs(bb) > 1e-3 * np.abs(bb).max()
        if big.any():
            worst_rel = max(worst_rel, float((diff[big] / np.abs(bb[big])).max()))
    return worst_abs / scale if scale else 0.0, worst_rel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 64, 1024), metavar=("NY", "NX", "NE"))
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--window", type=float, nargs=2, default=(70.2, 97.2))
    ap.add_argument(
        "--model", default="powerlaw", choices=["powerlaw", "exponential", "offset", "polynomial"]
    )
    ap.add_argument("--threads", type=int, default=None, help="emscale worker threads (default: all cores)")
    ap.add_argument("--skip-hyperspy", action="store_true")
    harness.add_common_args(ap, repeat=3)
    ap.add_argument("--worker", choices=["emscale", "hyperspy"], help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(
            json.dumps(
                worker(args.worker, args.input, args.output, tuple(args.window), args.model, args.threads)
            )
        )
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inp = tmp / "cube.npy"
        t0 = time.perf_counter()
        make_cube(inp, args.shape, args.dtype)
        gen = time.perf_counter() - t0
        size_mb = os.path.getsize(inp) / 2**20
        res = run_children(["emscale"] + ([] if args.skip_hyperspy else ["hyperspy"]), inp, tmp, args)
        em_res, hs_res = res["emscale"], res.get("hyperspy")
        if hs_res:
            print(
                f"ratio (HyperSpy time / emscale time): {hs_res['seconds'] / em_res['seconds']:.2f}x; "
                f"peak RSS increase emscale / HyperSpy: "
                f"{em_res['peak_increase_mb'] / max(hs_res['peak_increase_mb'], 1e-9):.2f}"
            )
        print(
            f"cube {tuple(args.shape)} {args.dtype} ({size_mb:.0f} MB, generated in {gen:.1f} s), "
            f"model {args.model}, window {tuple(args.window)}, {os.cpu_count()} cores"
        )
        for r in (em_res, hs_res):
            if r:
                print(
                    f"  {r['tool']:9s} {r['seconds']:8.3f} s   peak RSS {r['peak_rss_mb']:8.0f} MB   "
                    f"(+{r['peak_increase_mb']:.0f} MB over loaded input)   output {r['out_dtype']}"
                )
        acc = ""
        if hs_res:
            rel_max, rel_elem = max_rel_diff(inp, tmp / "em.npy", tmp / "hy.npy")
            print(
                f"max relative difference of the backgrounds: {rel_max:.2e} (of the max background), "
                f"{rel_elem:.2e} (elementwise)"
            )
            acc = f"backgrounds max rel diff {rel_max:.1e} (of max), {rel_elem:.1e} elementwise"
        rows = [harness.row(f"remove_background {args.model} fast", harness.size_str(args.shape, args.dtype),
                            {"seconds": em_res["seconds"], "rss_gb": em_res["rss_gb"]},
                            "HyperSpy remove_background(fast=True)" if hs_res else "",
                            {"seconds": hs_res["seconds"], "rss_gb": hs_res["rss_gb"]} if hs_res else None,
                            acc, bytes_processed=int(np.prod(args.shape)) * np.dtype(args.dtype).itemsize)]
        harness.write_json(args.json, rows)


if __name__ == "__main__":
    main()
