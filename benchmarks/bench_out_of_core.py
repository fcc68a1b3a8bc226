"""A cube larger than RAM ("big data" issue): Poisson PCA k=8 on a zarr store with bounded memory.

    python3 benchmarks/bench_out_of_core.py --gb 0.5        # quick
    python3 benchmarks/bench_out_of_core.py --gb 30         # the issue's target: >= 30 GB of uint16 on disk

Generates (once, block by block, bounded memory; kept in --workdir) a Poisson uint16 cube of ``--gb`` GB
uncompressed as an emscale zarr store, then, each in a fresh process:

* a plain numpy read pass over the same store (every chunk read and decompressed, nothing computed): the
  machine's limit for any out-of-core algorithm on this store;
* emscale ``em.decompose(em.load(store, lazy=True), n_components=8, solver=...)`` for each --solvers entry
  (``single_pass`` reads the store once; ``randomized`` with 2 power iterations reads it four times: the
  statistics read takes the first sketch, one read per power iteration, one for the scores of a cube this big);
* with ``--nmf``, emscale KL-NMF k=4 (``em.decompose(s, "nmf", n_components=4)``): Poisson PCA for the pure-pixel
  groups, then the spectra fitted in memory on a pixel subset and every loading in one more read.

Reported: time, peak RSS (target < 3 GB), bytes read and effective GB/s against the read pass. No peer: HyperSpy
cannot decompose a cube larger than memory (its lazy decomposition is measured in bench_lazy_pca.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

READ = """
import emscale as em
from emscale.engine import Pass, run_pass
s = em.load({path!r}, lazy=True)
t0 = time.perf_counter()
run_pass(s.data, Pass(lambda b, r: None, lambda a, b: None, name="read"))
report(seconds=time.perf_counter() - t0, bytes_read=s.nbytes)
"""

PCA = """
import emscale as em, numpy as np
from emscale.engine import passes
passes.log.reports.clear()  # the engine's own pass log counts the bytes every pass reads
t0 = time.perf_counter()
s = em.load({path!r}, lazy=True)
d = em.decompose(s, method="pca", n_components=8, solver={solver!r}, seed=0)
report(seconds=time.perf_counter() - t0, bytes_read=sum(r.bytes_read for r in passes.log.reports),
       ev=np.asarray(d.explained_variance)[:8].tolist(), rel_error=d.info.get("relative_error_estimate"))
"""


NMF = """
import emscale as em, numpy as np
from emscale.engine import passes
passes.log.reports.clear()
t0 = time.perf_counter()
s = em.load({path!r}, lazy=True)
d = em.decompose(s, method="nmf", n_components=4, seed=0)
report(seconds=time.perf_counter() - t0, bytes_read=sum(r.bytes_read for r in passes.log.reports),
       route=d.info["route"], loss=d.info["loss"])
"""


def _measured(entry: dict) -> dict:
    """A run_alternating entry with the in-process time and what the case reported brought to the top."""
    if "error" in entry:
        return entry
    res = dict(entry.get("result", {}))
    return {**entry, **res, "seconds": res.get("seconds", entry["seconds"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=0.5, help="uncompressed size of the generated uint16 cube")
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--solvers", default="single_pass,randomized")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/emscale_bench"))
    ap.add_argument("--nmf", action="store_true", help="also KL-NMF k=4 (subset fit + loadings pass)")
    harness.add_common_args(ap, repeat=1)
    args = ap.parse_args()

    n_pix = int(args.gb * 1e9 / 2 / args.channels)
    nx = 512
    shape = (max(1, n_pix // nx), nx, args.channels)
    args.workdir.mkdir(parents=True, exist_ok=True)
    store = harness.write_em_store(args.workdir / f"ooc_{'x'.join(map(str, shape))}.zarr", shape)
    size = harness.size_str(shape, "uint16")
    on_disk = sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e9

    rows = []
    read = _measured(harness.run_alternating({"read": READ.format(path=str(store))}, repeat=args.repeat)["read"])
    read_gbs = read["bytes_read"] / 1e9 / read["seconds"] if "seconds" in read else None
    rows.append(harness.row("zarr store read pass [LIMIT]", size, read,
                            accuracy=f"{read_gbs:.2f} GB/s uncompressed ({on_disk:.2f} GB on disk)"
                            if read_gbs else "", bytes_processed=read.get("bytes_read")))
    for solver in [s.strip() for s in args.solvers.split(",") if s.strip()]:
        case = PCA.format(path=str(store), solver=solver)
        r = _measured(harness.run_alternating({solver: case}, repeat=args.repeat)[solver])
        notes = []
        if "seconds" in r and read_gbs:
            gbs = r["bytes_read"] / 1e9 / r["seconds"]
            notes.append(f"{gbs:.2f} GB/s over {r['bytes_read'] / max(read['bytes_read'], 1):.0f} reads of the "
                         f"store = {gbs / read_gbs:.0%} of the read pass")
        if r.get("rel_error") is not None:
            notes.append(f"estimated relative error {r['rel_error']:.3f}")
        notes.append("target: peak RSS < 3 GB")
        rows.append(harness.row(f"out-of-core Poisson PCA k=8 ({solver})", size, r, accuracy="; ".join(notes),
                                bytes_processed=r.get("bytes_read")))
    if args.nmf:
        r = _measured(harness.run_alternating({"nmf": NMF.format(path=str(store))}, repeat=args.repeat)["nmf"])
        notes = []
        if "seconds" in r and read_gbs:
            notes.append(f"{r['bytes_read'] / max(read['bytes_read'], 1):.0f} reads of the store; {r.get('route')}")
        notes.append("target: peak RSS < 3 GB")
        rows.append(harness.row("out-of-core KL-NMF k=4", size, r, accuracy="; ".join(notes),
                                bytes_processed=r.get("bytes_read")))
    harness.print_table(rows, f"out of core: {size}, {on_disk:.2f} GB on disk")
    harness.write_json(args.json, rows)


if __name__ == "__main__":
    main()
