"""Streaming conversion of a big vendor file into the native zarr store: time and peak RSS, emscale vs HyperSpy.

    python3 benchmarks/bench_convert.py --gb 2.0

Generates (once, with bounded memory) a uint16 spectrum image as a .hspy file -- a format both tools read lazily
through RosettaSciIO -- then, each in a fresh subprocess so peak RSS is that process's own:
emscale `em.convert(src, dst.zarr)` and HyperSpy `hs.load(src, lazy=True).save(dst.hspy)`
(HyperSpy's zspy writer needs zarr v2).
Target (foundation issue): emscale peak RSS < 1 GB on a 2 GB cube.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

EMSCALE = """
import emscale as em
em.convert({src!r}, {dst!r})
"""

HYPERSPY = """
import hyperspy.api as hs
s = hs.load({src!r}, lazy=True)
s.save({dst!r})
"""


def generate(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """A Poisson uint16 cube written as .hspy (HDF5, chunked along navigation like HyperSpy's own files),
    built block by block from a dask array so generation itself stays within a few hundred MB."""
    if path.exists():
        return
    import dask.array as da
    from rsciio.hspy import file_writer

    base = (200 * np.exp(-np.linspace(0, 4, shape[2]))).astype(np.float32) + 5

    def block(block_info=None):
        loc = block_info[None]["array-location"]
        rng = np.random.default_rng([seed, loc[0][0]])
        n = (loc[0][1] - loc[0][0], loc[1][1] - loc[1][0])
        return rng.poisson(base, size=(*n, shape[2])).astype(np.uint16)

    rows = (8,) * (shape[0] // 8) + ((shape[0] % 8,) if shape[0] % 8 else ())
    data = da.map_blocks(block, dtype=np.uint16, chunks=(rows, (shape[1],), (shape[2],)))
    axes = [
        {"name": "y", "size": shape[0], "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": True},
        {"name": "x", "size": shape[1], "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": True},
        {"name": "Energy", "size": shape[2], "scale": 0.01, "offset": 0.0, "units": "keV", "navigate": False},
    ]
    md = {"General": {"title": "bench"}, "Signal": {"signal_type": "EDS_TEM"}}
    file_writer(str(path), {"data": data, "axes": axes, "metadata": md, "original_metadata": {}, "tmp_parameters": {},
                            "attributes": {"_lazy": True}, "package_info": {},
                            "learning_results": {}, "models": {}})


def run_case(code: str) -> tuple[float, float]:
    """Wall time (s) and peak RSS (GB) of a fresh Python process running ``code``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"case failed with status {status}:\n{code}")
    return wall, usage.ru_maxrss * 1024 / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="cube size in GB (uint16)")
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/emscale_bench_convert"))
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    n_pix = int(args.gb * 1e9 / 2 / args.channels)
    ny = int(np.sqrt(n_pix / 2))
    shape = (ny, n_pix // ny, args.channels)
    src = args.workdir / f"cube_{shape[0]}x{shape[1]}x{shape[2]}.hspy"
    generate(src, shape)
    size_gb = int(np.prod(shape)) * 2 / 1e9  # uncompressed: what the tools stream
    print(f"input {src.name}: {shape} uint16, {size_gb:.2f} GB ({src.stat().st_size / 1e9:.2f} GB on disk)")

    rows = []
    dst = args.workdir / "out.zarr"
    shutil.rmtree(dst, ignore_errors=True)
    t, rss = run_case(EMSCALE.format(src=str(src), dst=str(dst)))
    rows.append(("emscale convert -> zarr", t, rss))
    shutil.rmtree(dst, ignore_errors=True)
    if not args.no_peer:
        try:
            import hyperspy  # noqa: F401

            peer_dst = args.workdir / "out.hspy"
            peer_dst.unlink(missing_ok=True)
            t, rss = run_case(HYPERSPY.format(src=str(src), dst=str(peer_dst)))
            rows.append(("HyperSpy lazy load -> hspy", t, rss))
            peer_dst.unlink(missing_ok=True)
        except ImportError:
            print("HyperSpy not installed: peer skipped")

    print(f"{'case':32s} {'time s':>8s} {'GB/s':>6s} {'peak RSS GB':>12s}")
    for name, t, rss in rows:
        print(f"{name:32s} {t:8.2f} {size_gb / t:6.2f} {rss:12.2f}")
    if len(rows) == 2:
        print(f"ratio peer/emscale: time {rows[1][1] / rows[0][1]:.2f}x, peak RSS {rows[1][2] / rows[0][2]:.2f}x")
    print(f"target: emscale peak RSS < 1 GB -> {'met' if rows[0][2] < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
