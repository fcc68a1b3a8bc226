"""Benchmark: emscale tomography (FBP, SIRT, TV) against scikit-image ``iradon`` and ASTRA's CPU algorithms.

    python benchmarks/bench_tomography.py                 # phantom 128 px, real HAADF series (quick)
    python benchmarks/bench_tomography.py --n 256 --sirt-slices 32 --repeat 3

Cases, each tool in its own fresh process (benchmarks/harness.py; alternating, ``--repeat`` times, median time):

* **FBP, phantom** -- an ellipsoid phantom ``(n, n-1, n-1)`` (odd width: scikit-image's rotation centre
  ``n // 2`` is then emscale's ``(n - 1) / 2``), 180 projections over 180 degrees from emscale's projector;
  ``emscale reconstruct(method="fbp")`` vs ``skimage.transform.iradon`` slice by slice (ramp filter, linear
  interpolation), PSNR against the truth inside the reconstruction circle for both.
* **SIRT 100 iterations, phantom** -- the same phantom, ``--sirt-slices`` slices, 60 projections over +-60
  degrees; emscale ``method="sirt"`` vs ASTRA ``SIRT`` (CPU, ``linear`` = Joseph projector, MinConstraint 0),
  one slice after another as ASTRA's 2D CPU algorithms run. PSNR against the truth for both.
* **TV vs SIRT** -- +-60 degrees, 30 projections: PSNR of TV (Chambolle-Pock, 200 iterations) and of SIRT
  (100 iterations) on the phantom; the row's ratio is the PSNR gain in dB (target >= 2 dB).
* **partitions** -- SIRT 100 iterations of ``--partition-slices`` slices of the phantom with the default
  partitions (the series shared out over the threads) against 8 slices a partition, the former default, in the same
  run; the two must agree to the bit.
* **tiny series** -- a 32 px ellipsoid phantom, 31 projections over +-60 degrees, all 32 slices: TV with its
  weight chosen from the data (``tv_weight="auto"``, the hold-out included) against SIRT 100 iterations, the
  cost of the small case (no peer has a TV solver; the target is well under a second).
* **real HAADF series** -- ``../shared/data/real/tomography/HAADF.mrc`` (77 x 256 x 256, +-76 degrees, tilt axis
  along x, background removed at the 1st percentile): FBP of all 256 slices vs ``iradon``, SIRT 100 of
  ``--sirt-slices`` slices vs ASTRA; accuracy = correlation of the two reconstructions (no truth).

* **out of core** (``--out-of-core N``) -- a series of ``--ooc-tilts`` projections of N x N pixels (the
  projections of a 128 px phantom zoomed to N: the content does not change time or memory) saved to a store,
  reconstructed by FBP into an N^3 store with ``reconstruct_to_store`` in a fresh process: time and peak RSS
  (target <= 1.5 GB for N = 512).

ASTRA (``pip install astra-toolbox``) is optional; without it its rows are skipped. Its angle convention is matched
to emscale's at run time (the sign/offset whose forward projection agrees with emscale's).
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

REAL = harness.REPO.parent / "shared/data/real/tomography/HAADF.mrc"


def psnr(a, truth, mask=None) -> float:
    a, t = np.asarray(a, float), np.asarray(truth, float)
    if mask is not None:
        a, t = a[..., mask], t[..., mask]
    return float(10 * np.log10(t.max() ** 2 / np.mean((a - t) ** 2)))


def circle(n: int) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    return (x**2 + y**2) <= (n // 2) ** 2


# -- the workers (run in child processes) ----------------------------------------------------------------------
def _astra_angles(angles_deg: np.ndarray, convention: str) -> np.ndarray:
    r = np.deg2rad(angles_deg)
    return {"neg": -r, "pos": r, "neg+90": -r + np.pi / 2, "pos+90": r + np.pi / 2}[convention]


def astra_convention() -> str:
    """The mapping of emscale angles to ASTRA's under which both projectors agree (checked on a random slice)."""
    import astra

    from emscale.tomography import ParallelGeometry, Projector

    rng = np.random.default_rng(0)
    img = np.zeros((33, 33), np.float32)
    img[8:20, 5:14] = rng.random((12, 9))
    angles = np.array([-50.0, 10.0, 35.0])
    ours = Projector(ParallelGeometry(angles, n_det=33)).forward(img)
    best, err = "", np.inf
    for conv in ("neg", "pos", "neg+90", "pos+90"):
        vg = astra.create_vol_geom(33, 33)
        pg = astra.create_proj_geom("parallel", 1.0, 33, _astra_angles(angles, conv))
        pid = astra.create_projector("linear", pg, vg)
        sid, sino = astra.create_sino(img, pid)
        astra.data2d.delete(sid)
        astra.projector.delete(pid)
        e = float(np.abs(sino - ours).max())
        if e < err:
            best, err = conv, e
    return best


def astra_sirt(sino: np.ndarray, angles: np.ndarray, n_iter: int, conv: str) -> np.ndarray:
    """ASTRA CPU SIRT of sinograms (n_slices, n_angles, n_det), one slice after another."""
    import astra

    n_det = sino.shape[2]
    vg = astra.create_vol_geom(n_det, n_det)
    pg = astra.create_proj_geom("parallel", 1.0, n_det, _astra_angles(angles, conv))
    pid = astra.create_projector("linear", pg, vg)
    out = np.empty((sino.shape[0], n_det, n_det), np.float32)
    for i, s in enumerate(sino):
        sid = astra.data2d.create("-sino", pg, s)
        rid = astra.data2d.create("-vol", vg, 0.0)
        cfg = astra.astra_dict("SIRT")
        cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid,
                   option={"MinConstraint": 0.0})
        aid = astra.algorithm.create(cfg)
        astra.algorithm.run(aid, n_iter)
        out[i] = astra.data2d.get(rid)
        for f, x in ((astra.algorithm.delete, aid), (astra.data2d.delete, sid), (astra.data2d.delete, rid)):
            f(x)
    astra.projector.delete(pid)
    return out


def worker(tool: str, inp: str, outp: str, angles: list, params: dict) -> dict:
    sino = np.load(inp)  # (n_slices, n_angles, n_det)
    angles = np.asarray(angles)
    if tool.startswith("astra"):
        conv = astra_convention()
    if tool.startswith("emscale"):  # compile (or load from numba's cache) the kernels outside the timing
        from emscale import ThreadExecutor
        from emscale.tomography import reconstruct_slices

        warm = {**params, "n_iter": 1} if "n_iter" in params else params
        reconstruct_slices(sino[:2], angles, executor=ThreadExecutor(), **warm)
        reconstruct_slices(sino[:2], angles, **warm)
    t0 = time.perf_counter()
    if tool.startswith("emscale"):
        out = reconstruct_slices(sino, angles, executor=ThreadExecutor(), **params)
    elif tool == "skimage":
        from skimage.transform import iradon

        # scikit-image's angle is emscale's with the opposite sign; iradon wants (n_det, n_angles)
        out = np.stack([iradon(s.T, -angles, filter_name="ramp", interpolation="linear") for s in sino])
    else:
        out = astra_sirt(sino, angles, params["n_iter"], conv)
    secs = time.perf_counter() - t0
    np.save(outp, np.asarray(out, np.float32))
    return {"seconds": secs}


CHILD = """
from bench_tomography import worker
report(**worker({tool!r}, {inp!r}, {outp!r}, {angles!r}, {params!r}))
"""


# -- the cases ---------------------------------------------------------------------------------------------------
def run_pair(tmp: Path, name: str, sino, angles, tools: dict, repeat: int) -> dict:
    inp = tmp / f"{name}.npy"
    np.save(inp, np.ascontiguousarray(sino, np.float32))
    cases = {t: CHILD.format(tool=t.split(":")[0], inp=str(inp), outp=str(tmp / f"{name}_{i}.npy"),
                             angles=[float(a) for a in angles], params=p)
             for i, (t, p) in enumerate(tools.items())}
    res = harness.run_alternating(cases, repeat)
    for i, t in enumerate(tools):
        if "error" not in res[t]:
            res[t]["out"] = np.load(tmp / f"{name}_{i}.npy")
    return res


def have_astra() -> bool:
    try:
        import astra  # noqa: F401
    except Exception:
        return False
    return True


def phantom_rows(tmp: Path, args) -> list[dict]:
    from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
    from emscale.tomography.tiltseries import slice_first

    n = args.n - 1 if args.n % 2 == 0 else args.n
    vol = ellipsoid_phantom(n, n_ellipsoids=10, seed=7)  # (z, y, x), tilt axis y: slices are y
    truth = vol.transpose(1, 0, 2)  # (slices, z, x)
    m = circle(n)
    rows = []
    full = np.arange(0, 180, 1.0)
    sino = slice_first(project_volume(vol, full), "y")
    r = run_pair(tmp, "fbp", sino, full, {"emscale": {"method": "fbp"}, "skimage": {}}, args.repeat)
    em, sk = r["emscale"], r["skimage"]
    acc = (f"PSNR in circle emscale {psnr(em['out'], truth, m):.2f} dB, iradon {psnr(sk['out'], truth, m):.2f} dB; "
           f"max |diff| in circle {np.abs(em['out'] - sk['out'])[..., m].max():.2e}")
    rows.append(harness.row("FBP ramp, phantom, 180 angles", f"{n}x{n}x{n} float32", em,
                            "skimage.transform.iradon (per slice)", sk, acc))
    wedge = np.linspace(-60, 60, 60)
    k = min(args.sirt_slices, n)
    sl = slice(n // 2 - k // 2, n // 2 - k // 2 + k)
    sino = slice_first(project_volume(vol, wedge), "y")[sl]
    tools = {"emscale": {"method": "sirt", "n_iter": 100}}
    if have_astra():
        tools["astra"] = {"n_iter": 100}
    r = run_pair(tmp, "sirt", sino, wedge, tools, args.repeat)
    em, ast = r["emscale"], r.get("astra")
    acc = f"PSNR emscale {psnr(em['out'], truth[sl]):.2f} dB"
    if ast and "out" in ast:
        acc += f", ASTRA {psnr(ast['out'], truth[sl]):.2f} dB"
    rows.append(harness.row("SIRT 100 it, phantom, 60 angles +-60", f"{k}x{n}x{n} float32", em,
                            "ASTRA CPU SIRT (linear, per slice)" if ast else "", ast, acc))
    if args.skip_tv:
        return rows
    tv_angles = np.linspace(-60, 60, 30)
    sino = slice_first(project_volume(vol, tv_angles), "y")[sl]
    r = run_pair(tmp, "tv", sino, tv_angles, {"emscale": {"method": "tv", "n_iter": 200, "tv_weight": 0.01},
                                              "emscale:sirt": {"method": "sirt", "n_iter": 100}}, 1)
    p_tv, p_sirt = psnr(r["emscale"]["out"], truth[sl]), psnr(r["emscale:sirt"]["out"], truth[sl])
    row = harness.row("TV (200 it) vs SIRT (100 it), 30 angles +-60", f"{k}x{n}x{n} float32", r["emscale"],
                      "emscale SIRT 100 it", r["emscale:sirt"],
                      f"PSNR TV {p_tv:.2f} dB, SIRT {p_sirt:.2f} dB, gain {p_tv - p_sirt:.2f} dB "
                      f"({'met' if p_tv - p_sirt >= 2 else 'NOT met'}: >= 2 dB)")
    rows.append(row)
    return rows


def partition_rows(tmp: Path, args) -> list[dict]:
    """SIRT of a series of ``--partition-slices`` slices with the default partitions (shared out over the threads)
    against 8 slices a partition (the former default), in the same run; the bits must be the same."""
    from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
    from emscale.tomography.tiltseries import slice_first

    n = args.n - 1 if args.n % 2 == 0 else args.n
    vol = ellipsoid_phantom(n, n_ellipsoids=10, seed=7)
    wedge = np.linspace(-60, 60, 60)
    k = min(args.partition_slices, n)
    sino = slice_first(project_volume(vol, wedge), "y")[n // 2 - k // 2 : n // 2 - k // 2 + k]
    r = run_pair(tmp, "partitions", sino, wedge, {"emscale": {"method": "sirt", "n_iter": 100},
                                                  "emscale:8": {"method": "sirt", "n_iter": 100,
                                                                "slices_per_partition": 8}}, args.repeat)
    same = "out" in r["emscale"] and "out" in r["emscale:8"] and np.array_equal(r["emscale"]["out"],
                                                                                r["emscale:8"]["out"])
    return [harness.row("SIRT 100 it, default partitions", f"{k}x{n}x{n} float32", r["emscale"],
                        "emscale, 8 slices a partition", r["emscale:8"], f"same bits: {same}")]


def tiny_rows(tmp: Path, args) -> list[dict]:
    from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
    from emscale.tomography.tiltseries import slice_first

    vol = ellipsoid_phantom(32, seed=7)
    angles = np.linspace(-60, 60, 31)
    sino = slice_first(project_volume(vol, angles), "y")
    r = run_pair(tmp, "tiny", sino, angles, {"emscale": {"method": "tv", "tv_weight": "auto"},
                                             "emscale:sirt": {"method": "sirt", "n_iter": 100}}, args.repeat)
    truth = vol.transpose(1, 0, 2)
    acc = (f"PSNR TV (auto) {psnr(r['emscale']['out'], truth):.2f} dB, SIRT {psnr(r['emscale:sirt']['out'], truth):.2f}"
           f" dB; TV {'met' if r['emscale']['seconds'] < 1 else 'NOT met'}: < 1 s")
    return [harness.row("TV auto weight (hold-out + 200 it), tiny series", "31x32x32 float32", r["emscale"],
                        "emscale SIRT 100 it", r["emscale:sirt"], acc)]


def real_rows(tmp: Path, args) -> list[dict]:
    if not REAL.is_file():
        print(f"real series not found at {REAL}; skipped", file=sys.stderr)
        return []
    from emscale.tomography import load_tilt_series
    from emscale.tomography.tiltseries import slice_first

    s = load_tilt_series(REAL, tilt_axis="x")
    d = s.data - np.percentile(s.data, 1)
    angles = s.axis("tilt").values
    sino = slice_first(d, "x")  # (256 slices along x, 77, 256)
    rows = []
    r = run_pair(tmp, "real_fbp", sino, angles, {"emscale": {"method": "fbp"}, "skimage": {}}, args.repeat)
    em, sk = r["emscale"], r["skimage"]
    m = circle(sino.shape[2])
    c = np.corrcoef(em["out"][..., m].ravel(), sk["out"][..., m].ravel())[0, 1]
    rows.append(harness.row("FBP ramp, real HAADF (unaligned)", "77x256x256 -> 256x256x256", em,
                            "skimage.transform.iradon (per slice)", sk, f"correlation in circle {c:.5f}"))
    if have_astra():
        k = args.sirt_slices
        sl = slice(128 - k // 2, 128 - k // 2 + k)
        r = run_pair(tmp, "real_sirt", sino[sl], angles,
                     {"emscale": {"method": "sirt", "n_iter": 100}, "astra": {"n_iter": 100}}, args.repeat)
        em, ast = r["emscale"], r["astra"]
        c = np.corrcoef(em["out"].ravel(), ast["out"].ravel())[0, 1] if "out" in ast else float("nan")
        rows.append(harness.row("SIRT 100 it, real HAADF", f"77x256x{k} -> {k}x256x256", em,
                                "ASTRA CPU SIRT (linear, per slice)", ast, f"correlation {c:.4f}"))
    return rows


OOC_CHILD = """
import emscale as em
from emscale.tomography import reconstruct_to_store
s = em.load({inp!r})
t0 = time.perf_counter()
vol = reconstruct_to_store(s, {outp!r}, method="fbp")
report(seconds=time.perf_counter() - t0, shape=list(vol.shape))
"""


def out_of_core_row(tmp: Path, n: int, n_tilts: int) -> dict:
    from scipy import ndimage

    import emscale as em
    from emscale.tomography import tilt_series
    from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

    angles = np.linspace(-90, 90, n_tilts, endpoint=False)
    small = project_volume(ellipsoid_phantom(128, seed=3), angles)
    proj = np.stack([ndimage.zoom(p, n / 128, order=1) for p in small]).astype(np.float32)
    inp = tmp / "series.zarr"
    tilt_series(proj, angles, pixel_size=1.0).save(inp, chunks=(8, n, n))
    del small, proj
    r = harness.run_alternating({"emscale": OOC_CHILD.format(inp=str(inp), outp=str(tmp / "vol.zarr"))}, 1)
    em_r = r["emscale"]
    ok = "error" not in em_r and em.load(tmp / "vol.zarr", lazy=True).shape == (n, n, n)
    rss = em_r.get("rss_gb")
    acc = (f"peak RSS {rss:.2f} GB ({'met' if rss is not None and rss <= 1.5 else 'NOT met'}: <= 1.5 GB); "
           f"volume store {n}^3 float32 written: {ok}") if rss is not None else ""
    return harness.row(f"FBP out of core (reconstruct_to_store), {n_tilts} tilts", f"{n_tilts}x{n}x{n} -> {n}^3",
                       em_r, "", None, acc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128, help="phantom size (made odd)")
    ap.add_argument("--sirt-slices", type=int, default=16, help="slices for the SIRT / TV rows")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-phantom", action="store_true")
    ap.add_argument("--skip-tv", action="store_true")
    ap.add_argument("--partition-slices", type=int, default=64, help="slices for the partitions row")
    ap.add_argument("--out-of-core", type=int, default=0, metavar="N", help="also reconstruct an N^3 volume "
                    "out of core (time, peak RSS)")
    ap.add_argument("--ooc-tilts", type=int, default=90)
    harness.add_common_args(ap, repeat=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [] if args.skip_phantom else (phantom_rows(Path(tmp), args) + partition_rows(Path(tmp), args)
                                             + tiny_rows(Path(tmp), args))
        if not args.skip_real:
            rows += real_rows(Path(tmp), args)
        if args.out_of_core:
            rows.append(out_of_core_row(Path(tmp), args.out_of_core, args.ooc_tilts))
    harness.print_table(rows, f"tomography ({os.cpu_count()} cores)")
    for r in rows:
        print(f"  {r['operation']}: {r['accuracy']}")
    harness.write_json(args.json, rows)


if __name__ == "__main__":
    main()
