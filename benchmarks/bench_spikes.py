"""Benchmark: emscale remove_spikes (defaults) vs HyperSpy spikes_removal_tool(interactive=False), same map.

    python benchmarks/bench_spikes.py                          # 64 x 64 x 1024 uint16 (quick)
    python benchmarks/bench_spikes.py --shape 128 128 256      # the map the noise="robust" speed-up was timed on
    python benchmarks/bench_spikes.py --shape 256 256 1024     # larger (134 MB)

The cube: Poisson counts of a smooth EDS-like spectrum image (a decaying background over a floor, five Gaussian
lines shared by two phases whose maps vary across the field) as uint16, with ``--spikes`` single values of 20-100x
the local mean (the expected count there) planted at seeded places. It is written once to a temporary .npy; each
tool then runs in its own fresh subprocess that loads it (benchmarks/harness.py; alternating, --repeat times,
median time of the call alone, peak RSS of the process).

The two algorithms differ, so the row compares the time to clean the same map, not the same computation:

* emscale ``emscale.spectroscopy.eds.remove_spikes(s)``: a value is a spike when it stands out (Poisson z-score
  above 8, ``noise="robust"``) both from the same channel of its 3 x 3 neighbouring pixels and from its 5
  neighbouring channels; it is replaced by the neighbouring pixels' median. One vectorised pass.
* HyperSpy ``Signal1D.spikes_removal_tool(interactive=False, threshold=T, random_state=0)``: spectrum by
  spectrum in Python, a spike is where the derivative along the energy axis (``np.gradient``; the axis left
  uncalibrated, so T is in counts per channel) reaches T; its default 5 channels either side are replaced by a
  linear interpolation plus Poisson noise, and the spectrum is searched again. ``--hs-threshold`` (default 60)
  lies between the largest derivative of the spike-free cube (34 at 64 x 64 x 1024, 44 at 128 x 128 x 256 and
  256 x 256 x 1024: noise on the narrow lines' flanks) and the smallest a planted spike makes (about 95: half of
  20 x the floor of about 9 counts). Only the positive derivative is searched, so a spike in the first channel
  (one of the 300 at 128 x 128 x 256) is not found.

Accuracy: how many of the planted spikes each brought below 5x their local mean, and how many other values each
changed. ``--json PATH`` writes the row in the common schema.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

# Five lines (centre and sigma as fractions of the energy range, peak counts); phase A has lines 0, 2, 4, phase B
# lines 1 and 3. Sigma 0.006: ~6 channels of 1024, ~1.5 of 256, as an EDS line's ~130 eV at 10-40 eV a channel.
LINES = ((0.12, 60.0), (0.25, 40.0), (0.48, 50.0), (0.63, 30.0), (0.80, 35.0))
PHASE_A = (0, 2, 4)
LINE_SIGMA = 0.006
SPIKE_FACTORS = (20.0, 100.0)
REMOVED_BELOW = 5.0  # a planted spike counts as removed once its value is below this many local means


def mean_counts(y, x, ch, shape) -> np.ndarray:
    """The expected counts at pixel ``(y, x)``, channel ``ch`` (index arrays that broadcast) of a ``shape`` map."""
    ny, nx, ne = shape
    yy, xx, e = np.asarray(y) / max(ny, 1), np.asarray(x) / max(nx, 1), np.asarray(ch) / max(ne - 1, 1)
    level = 0.9 + 0.2 * yy
    phase_a = 0.5 + 0.5 * np.sin(2 * np.pi * (yy + 2 * xx))
    mu = level * (8.0 + 40.0 * np.exp(-3.0 * e))
    for j, (centre, height) in enumerate(LINES):
        weight = phase_a if j in PHASE_A else 1.0 - phase_a
        mu = mu + weight * height * np.exp(-0.5 * ((e - centre) / LINE_SIGMA) ** 2)
    return mu


def make_cube(path: Path, shape, n_spikes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write the spiky cube row block by row block (bounded memory); return the planted spikes' (y, x, channel)
    indices (n, 3) and their local means."""
    ny, nx, ne = shape
    rng = np.random.default_rng([seed, 1])
    flat = rng.choice(ny * nx * ne, size=n_spikes, replace=False)
    where = np.stack(np.unravel_index(flat, (ny, nx, ne)), axis=1)
    local = mean_counts(*where.T, shape)
    values = np.minimum(np.rint(rng.uniform(*SPIKE_FACTORS, n_spikes) * local), np.iinfo(np.uint16).max)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=tuple(shape))
    rows = max(1, (32 * 2**20) // (nx * ne * 8))
    for y0 in range(0, ny, rows):
        y1 = min(ny, y0 + rows)
        mu = mean_counts(np.arange(y0, y1)[:, None, None], np.arange(nx)[None, :, None], np.arange(ne), shape)
        block = np.random.default_rng([seed, y0]).poisson(mu).astype(np.uint16)
        here = (where[:, 0] >= y0) & (where[:, 0] < y1)
        block[where[here, 0] - y0, where[here, 1], where[here, 2]] = values[here]
        out[y0:y1] = block
    out.flush()
    del out
    return where, local


def worker(tool: str, inp: Path, outp: Path, hs_threshold: float) -> dict:
    data = np.load(inp)
    if tool == "emscale":
        import emscale as em
        from emscale.spectroscopy.eds import remove_spikes

        s = em.Signal(data, axes=harness.em_axes(), signal_type="EDS_TEM", metadata={"Signal": {"counts": True}})
        t0 = time.perf_counter()
        clean, n_replaced = remove_spikes(s)
        result = np.asarray(clean.data)
        secs = time.perf_counter() - t0
    else:
        import warnings

        warnings.filterwarnings("ignore")
        import hyperspy.api as hs

        h = hs.signals.Signal1D(data)  # cleaned in place
        t0 = time.perf_counter()
        h.spikes_removal_tool(interactive=False, threshold=hs_threshold, random_state=0)
        secs = time.perf_counter() - t0
        result, n_replaced = h.data, None
    np.save(outp, result)
    # where emscale came from: the package under PYTHONPATH or the installed one
    origin = str(Path(sys.modules["emscale"].__file__).parents[1]) if tool == "emscale" else hs.__version__
    return {"tool": tool, "seconds": secs, "n_replaced": n_replaced, "peak_rss_mb": harness.peak_rss_mb(),
            "origin": origin}


CHILD = """
from pathlib import Path
from bench_spikes import worker
report(**worker({tool!r}, Path({inp!r}), Path({outp!r}), {hs_threshold!r}))
"""


def run_children(tools, inp: Path, tmp: Path, args) -> dict:
    """Each tool in its own fresh process, alternating, --repeat times: the median time, the max peak RSS."""
    cases = {t: CHILD.format(tool=t, inp=str(inp), outp=str(tmp / f"{t}.npy"), hs_threshold=args.hs_threshold)
             for t in tools}
    res = harness.run_alternating(cases, args.repeat, on_error="raise")
    return {t: {**r["result"], "seconds": r["seconds"], "runs": r["runs"], "rss_gb": r["rss_gb"]}
            for t, r in res.items()}


def spike_counts(inp: Path, cleaned: Path, where: np.ndarray, local: np.ndarray) -> tuple[int, int]:
    """(planted spikes brought below REMOVED_BELOW x their local mean, other values changed)."""
    orig = np.load(inp, mmap_mode="r")
    out = np.load(cleaned, mmap_mode="r")
    at = tuple(where.T)
    removed = int((out[at] < REMOVED_BELOW * local).sum())
    changed = sum(int((np.asarray(out[i : i + 16]) != orig[i : i + 16]).sum()) for i in range(0, orig.shape[0], 16))
    return removed, changed - int((out[at] != orig[at]).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 64, 1024), metavar=("NY", "NX", "NE"))
    ap.add_argument("--spikes", type=int, default=300, help="planted spikes (default 300)")
    ap.add_argument("--hs-threshold", type=float, default=60.0,
                    help="HyperSpy's derivative threshold, counts per channel (default 60)")
    ap.add_argument("--skip-hyperspy", action="store_true")
    harness.add_common_args(ap, repeat=3)
    args = ap.parse_args(argv)

    shape = tuple(args.shape)
    tools = ["emscale"] + ([] if args.skip_hyperspy else ["hyperspy"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inp = tmp / "cube.npy"
        t0 = time.perf_counter()
        where, local = make_cube(inp, shape, args.spikes)
        gen = time.perf_counter() - t0
        res = run_children(tools, inp, tmp, args)
        counts = {t: spike_counts(inp, tmp / f"{t}.npy", where, local) for t in tools}
    em_res, hs_res = res["emscale"], res.get("hyperspy")
    if hs_res:
        print(f"ratio (HyperSpy time / emscale time): {hs_res['seconds'] / em_res['seconds']:.2f}x")
    print(f"cube {shape} uint16 ({np.prod(shape) * 2 / 2**20:.0f} MB, generated in {gen:.1f} s), "
          f"{args.spikes} planted spikes, HyperSpy threshold {args.hs_threshold:g}, {os.cpu_count()} cores")
    notes = []
    for t, r in res.items():
        removed, other = counts[t]
        print(f"  {t:9s} {r['seconds']:8.3f} s (runs {r['runs']})   peak RSS {r['peak_rss_mb']:6.0f} MB   "
              f"planted removed {removed}/{args.spikes}   other values changed {other}   ({r['origin']})")
        notes.append(f"{t}: {removed}/{args.spikes} planted removed, {other} other values changed")
    rows = [harness.row("remove_spikes (defaults)", harness.size_str(shape, "uint16"),
                        {"seconds": em_res["seconds"], "rss_gb": em_res["rss_gb"]},
                        f"HyperSpy spikes_removal_tool(interactive=False, threshold={args.hs_threshold:g})"
                        if hs_res else "",
                        {"seconds": hs_res["seconds"], "rss_gb": hs_res["rss_gb"]} if hs_res else None,
                        "; ".join(notes), bytes_processed=int(np.prod(shape)) * 2)]
    harness.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
