"""A simulated sparse acquisition at a lower dose of a spectrum image on disk: ``sample_scan(fraction, dose=)``
read from a zarr store and written to another, lazily (the route since 2026-12-03: blocks of rows drawn in scan
order, a first pass keeping the generator's state where each block starts) against the in-memory route (the cube
read whole, drawn, written), in the same run; peak RSS of each fresh process, and whether the two wrote the same
numbers (the lazy route must give the in-memory draw's bits).

    python3 benchmarks/bench_sampling.py                         # 128 x 128 x 2048 uint16 (64 MiB)
    python3 benchmarks/bench_sampling.py --shape 256 256 2048 --json rows.json

No peer library simulates a sparse scan; the in-memory route is the baseline."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks import harness  # noqa: E402

CODE = """
import sys, time, shutil, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {src!r})
import emscale as em
from emscale.engine.passes import data_digest
out = {out!r}
shutil.rmtree(out, ignore_errors=True)
t0 = time.perf_counter()
s = em.load({store!r}, lazy={lazy!r})
sparse = s.sample_scan("random", {fraction!r}, seed=0, dose={dose!r})
sparse.save(out)
seconds = time.perf_counter() - t0
report(seconds=seconds, sha256=em.load(out, lazy=True).history[-1]["data_sha256"])
"""


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 128, 2048), metavar=("NY", "NX", "NE"))
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--dose", type=float, default=0.5)
    ap.add_argument("--workdir", default=None, help="where the input store is written (default: a temporary folder)")
    harness.add_common_args(ap, repeat=2)
    args = ap.parse_args(argv)
    src = str(Path(__file__).resolve().parents[1] / "src")
    shape = tuple(args.shape)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        store = harness.write_em_store(Path(tmp) / "in.zarr", shape)
        cases = {name: CODE.format(src=src, store=str(store), out=str(Path(tmp) / f"{name}.zarr"), lazy=lazy,
                                   fraction=args.fraction, dose=args.dose)
                 for name, lazy in (("lazy", True), ("in_memory", False))}
        got = harness.run_alternating(cases, repeat=args.repeat)
    lazy, mem = got["lazy"], got["in_memory"]
    same = lazy.get("result", {}).get("sha256") == mem.get("result", {}).get("sha256") is not None
    rows = [harness.row(f"sample_scan {args.fraction:g} at dose {args.dose:g}, zarr to zarr (lazy)",
                        harness.size_str(shape, "uint16"), lazy, "in-memory route", mem,
                        accuracy="same numbers as the in-memory draw" if same else "NUMBERS DIFFER")]
    harness.print_table(rows, "Simulated sparse acquisition at a lower dose")
    harness.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
