"""Cost of the per-chunk checksums on reads: a store read with its CRC32C checks vs the same store without them.

    python3 benchmarks/bench_store_checks.py                            # cube 128 x 256 x 2048 uint16 (134 MB)
    python3 benchmarks/bench_store_checks.py --before /path/to/main/src # also the code before checksums

Cases, each a fresh process (one untimed read first, then the fastest of --loads reads: the machine may be
shared), alternated, median of --repeat processes: "checked" (a format-2 store, every chunk's CRC32C
checked), "unchecked" (the same store with its checksum table removed: the format-1 read path of the same code),
and with --before, the emscale at that path reading a store it wrote. Rows: eager ``em.load`` and lazy
``em.load(lazy=True).sum(("x", "y"))``, in GB/s of decoded data; plus the raw CRC32C speed on the stored bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"

CASE = """
import json, sys, time, warnings
import numpy as np
import emscale as em
warnings.simplefilter("ignore")
path, mode, loads = sys.argv[1], sys.argv[2], int(sys.argv[3])


def once():
    if mode == "eager":
        return em.load(path).data
    return np.asarray(em.load(path, lazy=True).sum(("x", "y")).data)


once()  # imports and first-call set-up are not what is measured
times = []
for _ in range(loads):
    t0 = time.perf_counter()
    once()
    times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": min(times)}))
"""


def _write(src: Path, path: Path, shape) -> None:
    code = f"""
import numpy as np, emscale as em
rng = np.random.default_rng(0)
data = rng.poisson(20, size={tuple(shape)!r}).astype(np.uint16)
em.Signal(data, axes=[{{"name": "y", "navigate": True}}, {{"name": "x", "navigate": True}}, {{"name": "E"}}]).save(
    {str(path)!r}, overwrite=True)
"""
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(src)})


def _strip(path: Path) -> None:
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["emscale"].pop("chunk_crc32c", None)
    (path / "zarr.json").write_text(json.dumps(meta))


def _time(src: Path, path: Path, mode: str, loads: int) -> float:
    out = subprocess.run([sys.executable, "-c", CASE, str(path), mode, str(loads)], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(src)})
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _crc_speed(path: Path) -> float:
    import google_crc32c

    blobs = [f.read_bytes() for f in sorted((path / "data").rglob("*")) if f.is_file()]
    import time

    t0 = time.perf_counter()
    for _ in range(5):
        for b in blobs:
            google_crc32c.value(b)
    return 5 * sum(map(len, blobs)) / (time.perf_counter() - t0) / 1e9


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 256, 2048), metavar=("NY", "NX", "NE"))
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per case (median taken)")
    ap.add_argument("--loads", type=int, default=3, help="timed warm reads per process (fastest kept)")
    ap.add_argument("--before", type=Path, help="src folder of the emscale before checksums (e.g. main)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/emscale_bench_checks"))
    args = ap.parse_args(argv)
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    nbytes = int(np.prod(args.shape)) * 2
    stores = {"checked": (SRC, wd / "checked.zarr"), "unchecked": (SRC, wd / "unchecked.zarr")}
    if args.before:
        stores["before"] = (args.before, wd / "before.zarr")
    for src, path in stores.values():
        _write(src, path, args.shape)
    _strip(stores["unchecked"][1])
    result = {"shape": list(args.shape), "bytes": nbytes,
              "crc32c_GBps_on_stored_bytes": _crc_speed(wd / "checked.zarr")}
    for mode in ("eager", "lazy_sum"):
        times = {k: [] for k in stores}
        for _ in range(args.repeat):
            for name, (src, path) in stores.items():
                times[name].append(_time(src, path, mode, args.loads))
        result[mode] = {k: {"median_s": statistics.median(v), "GBps": nbytes / statistics.median(v) / 1e9}
                        for k, v in times.items()}
        over = times["checked"], times["unchecked"]
        result[mode]["overhead_vs_unchecked"] = statistics.median(over[0]) / statistics.median(over[1]) - 1
    stored = sum(f.stat().st_size for f in (wd / "checked.zarr").rglob("*") if f.is_file())
    result["stored_bytes"] = stored
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
