"""Loading: a real Bruker .bcf with ``em.load`` vs ``hyperspy.api.load``, and a chunked store read lazily and
summed over navigation: ``em.load("x.zarr", lazy=True).sum(("x", "y"))`` vs ``hs.load("x.hspy", lazy=True).sum()``.

    python3 benchmarks/bench_load.py                          # store cube 64 x 128 x 2048 uint16
    python3 benchmarks/bench_load.py --shape 256 512 4096     # the "big data" cube (1.07 GB)

Each case is a fresh process (imports excluded from the time, peak RSS of the whole process). BCF rows: the first
load in the process ("cold": what opening a file in a new session costs, the readers' own lazy imports included)
and the median of the next --loads loads ("warm"). Store rows: load + navigation sum, computed. Accuracy: the
loaded arrays are compared element for element (BCF) and the summed spectra (store).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

BCF = harness.REPO.parent / "shared" / "data" / "real" / "30x30_instructively_packed_16bit_compressed.bcf"

BCF_EM = """
import emscale as em, numpy as np, statistics
t0 = time.perf_counter(); r = em.load({path!r}); cold = time.perf_counter() - t0
warm = []
for _ in range({loads}):
    t0 = time.perf_counter(); r = em.load({path!r}); warm.append(time.perf_counter() - t0)
r = r if isinstance(r, list) else [r]
eds = [s for s in r if s.sig_ndim == 1][0]
np.save({out!r}, np.asarray(eds.data))
report(seconds=cold, warm=statistics.median(warm) if warm else None, shape=list(eds.shape), n=len(r))
"""

BCF_HS = """
import hyperspy.api as hs, numpy as np, statistics
t0 = time.perf_counter(); r = hs.load({path!r}); cold = time.perf_counter() - t0
warm = []
for _ in range({loads}):
    t0 = time.perf_counter(); r = hs.load({path!r}); warm.append(time.perf_counter() - t0)
r = r if isinstance(r, list) else [r]
eds = [s for s in r if s.axes_manager.signal_dimension == 1][0]
np.save({out!r}, np.asarray(eds.data))
report(seconds=cold, warm=statistics.median(warm) if warm else None, shape=list(eds.data.shape), n=len(r))
"""

SUM_EM = """
import emscale as em, numpy as np
t0 = time.perf_counter()
s = em.load({path!r}, lazy=True)
spec = np.asarray(s.sum(("x", "y")).data)
sec = time.perf_counter() - t0
np.save({out!r}, spec)
report(seconds=sec)
"""

SUM_HS = """
import hyperspy.api as hs, numpy as np
t0 = time.perf_counter()
s = hs.load({path!r}, lazy=True)
spec = np.asarray(s.sum().data.compute())
sec = time.perf_counter() - t0
np.save({out!r}, spec)
report(seconds=sec)
"""


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 128, 2048), metavar=("NY", "NX", "NE"))
    ap.add_argument("--bcf", type=Path, default=BCF)
    ap.add_argument("--loads", type=int, default=5, help="warm loads per BCF process")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/emscale_bench"))
    ap.add_argument("--no-peer", action="store_true")
    harness.add_common_args(ap, repeat=3)
    args = ap.parse_args(argv)
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    rows = []

    # 1. the real Bruker file
    if args.bcf.exists():
        cases = {"em": BCF_EM.format(path=str(args.bcf), loads=args.loads, out=str(wd / "bcf_em.npy"))}
        if not args.no_peer:
            cases["hs"] = BCF_HS.format(path=str(args.bcf), loads=args.loads, out=str(wd / "bcf_hs.npy"))
        res = harness.run_alternating(cases, args.repeat)
        em_r, hs_r = res["em"], res.get("hs")
        acc = ""
        if hs_r and "seconds" in hs_r and "seconds" in em_r:
            a, b = np.load(wd / "bcf_em.npy"), np.load(wd / "bcf_hs.npy")
            same = a.shape == b.shape and np.array_equal(a, b)
            acc = f"EDS cube {a.shape} {'identical' if same else 'DIFFERS'} to HyperSpy's"
        size = f"{args.bcf.name} ({args.bcf.stat().st_size / 1e6:.2f} MB)"
        peer = "hyperspy.api.load" if hs_r else ""
        rows.append(harness.row("load BCF, first call in a fresh process", size, em_r, peer, hs_r, acc))
        warm_em = {**em_r, "seconds": em_r.get("result", {}).get("warm")} if "seconds" in em_r else em_r
        warm_hs = ({**hs_r, "seconds": hs_r.get("result", {}).get("warm")} if hs_r and "seconds" in hs_r
                   else hs_r)
        rows.append(harness.row(f"load BCF, warm (median of {args.loads})", size, warm_em, peer, warm_hs,
                                "same process, after a first load"))
    else:
        print(f"{args.bcf} not found: BCF rows skipped", file=sys.stderr)

    # 2. a chunked store, read lazily and summed over navigation
    shape = tuple(args.shape)
    tag = "x".join(map(str, shape))
    store = harness.write_em_store(wd / f"cube_{tag}.zarr", shape)
    cases = {"em": SUM_EM.format(path=str(store), out=str(wd / "sum_em.npy"))}
    if not args.no_peer:
        hspy = harness.write_hspy(wd / f"cube_{tag}.hspy", shape)
        cases["hs"] = SUM_HS.format(path=str(hspy), out=str(wd / "sum_hs.npy"))
    res = harness.run_alternating(cases, args.repeat)
    acc = ""
    if "seconds" in res["em"] and "seconds" in res.get("hs", {}):
        a, b = np.load(wd / "sum_em.npy").astype(np.float64), np.load(wd / "sum_hs.npy").astype(np.float64)
        acc = f"sum spectra max rel diff {np.max(np.abs(a - b) / np.maximum(np.abs(b), 1)):.1e}"
    nbytes = int(np.prod(shape)) * 2
    rows.append(harness.row("lazy load + navigation sum (zarr vs hspy)", harness.size_str(shape, np.uint16),
                            res["em"], "hs.load(.hspy, lazy=True).sum()" if "hs" in res else "", res.get("hs"),
                            acc, bytes_processed=nbytes))

    harness.print_table(rows, f"# loading, median of {args.repeat} fresh processes each")
    harness.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
