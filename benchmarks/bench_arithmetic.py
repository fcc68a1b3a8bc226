"""Arithmetic on an in-memory cube: time and the peak of numpy's allocations (tracemalloc) of ``s * 2``,
``s * s``, ``s / s.sum(-1)``, ``np.log1p(s)`` and ``s > 3``, emscale against HyperSpy in the same run.

    python3 benchmarks/bench_arithmetic.py                     # 128 x 128 x 1024 uint16 (32 MiB)
    python3 benchmarks/bench_arithmetic.py --shape 256 256 2048 --json rows.json

Each case is a fresh process (imports and the cube's making are not measured), alternating emscale and HyperSpy,
median time of --repeat. emscale's results are float64 (a uint16 cube times 2 is no longer counts; the recorded
step keeps the numbers exact), HyperSpy's keep numpy's type (uint16 * 2 stays uint16, wrapping above 65535):
compare the peak against the result's own size, which the row gives."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks import harness  # noqa: E402

CASES = {"s * 2": "s * 2", "s * s": "s * s", "s / s.sum(-1)": "s / s.sum(-1)", "np.log1p(s)": "np.log1p(s)",
         "s > 3": "s > 3"}
# HyperSpy 2.5 refuses s / s.sum(-1) ("Invalid dimensions for this operation"; so do s / s.sum(-1).T and
# (s.T / s.sum(-1)).T): no peer row
HYPERSPY = {"s / s.sum(-1)": None}

CODE = """
import sys, time, tracemalloc, warnings
import numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, {src!r})
data = np.random.default_rng(0).poisson(5, {shape!r}).astype(np.uint16)
if {peer!r}:
    import hyperspy.api as hs
    s = hs.signals.Signal1D(data)
else:
    import emscale as em
    s = em.Signal(data)
tracemalloc.start()
t0 = time.perf_counter()
r = {expr}
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
report(seconds=seconds, peak_mib=peak / 2**20, dtype=str(r.data.dtype), result_mib=r.data.nbytes / 2**20)
"""


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 128, 1024), metavar=("NY", "NX", "NE"))
    ap.add_argument("--skip-peers", action="store_true")
    harness.add_common_args(ap, repeat=3)
    args = ap.parse_args(argv)
    src = str(Path(__file__).resolve().parents[1] / "src")
    shape = tuple(args.shape)
    size = harness.size_str(shape, "uint16")
    rows = []
    for label, expr in CASES.items():
        cases = {"emscale": CODE.format(src=src, shape=shape, peer=False, expr=expr)}
        if not args.skip_peers and HYPERSPY.get(label, expr) is not None:
            cases["hyperspy"] = CODE.format(src=src, shape=shape, peer=True, expr=HYPERSPY.get(label, expr))
        got = harness.run_alternating(cases, repeat=args.repeat)
        em_r, hs_r = got["emscale"], got.get("hyperspy", {})
        note = "peak MiB: " + ", ".join(
            f"{who} {r['result']['peak_mib']:.0f} ({r['result']['dtype']} result {r['result']['result_mib']:.0f})"
            for who, r in (("emscale", em_r), ("HyperSpy", hs_r)) if "result" in r)
        rows.append(harness.row(f"arithmetic {label}, in memory", size, em_r, "hyperspy" if hs_r else "", hs_r,
                                accuracy=note))
    harness.print_table(rows, "Arithmetic on an in-memory cube")
    harness.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
