"""The machine's limit: a plain numpy read pass over an in-memory cube and over a zarr store of the same cube,
and an sgemm of the randomized-PCA sketch shape; GB/s and GFLOP/s.

    python3 benchmarks/bench_roofline.py --shape 256 512 4096    # the "big data" cube (1.07 GB uint16)

The read pass reduces every row block to a per-channel float32 sum (``np.add.reduce(block, axis=0)``) on one
thread and on all cores (one numpy call per thread on its own rows; numpy releases the GIL); the limit is the
faster, best of --repeat runs. The zarr
pass reads the emscale store's chunks with plain zarr (decompression included) and does the same reduction.
The sgemm is ``(n_pixels x n_channels float32) @ (n_channels x 18)`` -- the sketch product of a k=8 randomized
SVD with oversampling 10 -- through numpy's BLAS. The runner divides each emscale row's bytes/s by the in-memory
read-pass GB/s: its "roofline" column.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def read_pass(get_block, n_rows: int, rows_per_task: int, threads: int) -> None:
    starts = range(0, n_rows, rows_per_task)

    def task(i):
        b = get_block(slice(i, min(i + rows_per_task, n_rows)))
        return np.add.reduce(b.reshape(-1, b.shape[-1]), axis=0, dtype=np.float32)

    with ThreadPoolExecutor(threads) as ex:
        parts = list(ex.map(task, starts))
    return np.sum(parts, axis=0)


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 256, 2048), metavar=("NY", "NX", "NE"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workdir", type=Path, default=None, help="where the zarr store goes (default: a temp dir)")
    harness.add_common_args(ap, repeat=5)
    args = ap.parse_args(argv)
    shape = tuple(args.shape)
    size = harness.size_str(shape, np.uint16)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        store = harness.write_em_store(Path(tmp) / "cube.zarr", shape)
        import zarr

        z = zarr.open_group(str(store), mode="r")["data"]
        cube = z[...]  # the same numbers in memory
        nbytes = cube.nbytes
        row_bytes = nbytes // shape[0]
        rows_mem = max(1, (16 << 20) // row_bytes)  # ~16 MB blocks
        rows_z = max(z.chunks[0], (64 << 20) // row_bytes // z.chunks[0] * z.chunks[0])
        ref = read_pass(lambda s: cube[s], shape[0], rows_mem, args.threads)
        t_mem1 = best_of(lambda: read_pass(lambda s: cube[s], shape[0], rows_mem, 1), args.repeat)
        t_mem = best_of(lambda: read_pass(lambda s: cube[s], shape[0], rows_mem, args.threads), args.repeat)
        got = read_pass(lambda s: z[s], shape[0], rows_z, args.threads)
        assert np.allclose(got, ref, rtol=1e-5)
        t_z = best_of(lambda: read_pass(lambda s: z[s], shape[0], rows_z, args.threads), args.repeat)
        on_disk = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())

        a = cube.reshape(-1, shape[2]).astype(np.float32)
        cube = None  # free it before the float32 copy's sgemm
        omega = np.random.default_rng(0).standard_normal((shape[2], 18)).astype(np.float32)
        a @ omega  # warm up BLAS
        t_mm = best_of(lambda: a @ omega, args.repeat)
        flops = 2.0 * a.shape[0] * a.shape[1] * omega.shape[1]
        a = None

    t_best = min(t_mem, t_mem1)  # the limit: the faster of one thread and all cores
    gbps = nbytes / t_best / 1e9
    rows = [
        harness.row("numpy read pass, in memory [LIMIT]", size, {"seconds": t_best},
                    accuracy=f"{gbps:.2f} GB/s ({args.threads} threads {nbytes / t_mem / 1e9:.2f}, "
                             f"1 thread {nbytes / t_mem1 / 1e9:.2f} GB/s)",
                    bytes_processed=nbytes, limit="numpy_read_gbps", gbps=gbps),
        harness.row(f"zarr store read pass, Blosc/zstd ({args.threads} threads)", size, {"seconds": t_z},
                    accuracy=f"{nbytes / t_z / 1e9:.2f} GB/s uncompressed ({on_disk / 1e9:.3g} GB on disk, "
                             f"{nbytes / max(on_disk, 1):.1f}x)",
                    bytes_processed=nbytes, limit="zarr_read_gbps", gbps=nbytes / t_z / 1e9),
        harness.row(f"sgemm ({shape[0] * shape[1]} x {shape[2]}) @ ({shape[2]} x 18) float32", size,
                    {"seconds": t_mm}, accuracy=f"{flops / t_mm / 1e9:.1f} GFLOP/s",
                    limit="sgemm_gflops", gflops=flops / t_mm / 1e9),
    ]
    harness.print_table(rows, f"# machine limit, best of {args.repeat}: {size}")
    harness.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
