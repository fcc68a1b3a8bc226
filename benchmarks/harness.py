"""Shared benchmark helpers: one case per fresh subprocess (wall time, peak RSS, a JSON result), repetitions in
alternation with the median, the common row schema, ``--json`` output, machine information and versions.

Every benchmark row is a dict with the keys of :data:`ROW_KEYS`::

    operation        what is measured ("lazy Poisson PCA k=8 (randomized)")
    size             the data ("256x512x4096 uint16, 1.07 GB")
    emscale_s        median wall time of the emscale call (s)
    peer             the peer and its call ("HyperSpy 2.5 lazy decomposition(SVD randomized)"), "" if none
    peer_s           median wall time of the peer call (s), None if no peer
    ratio            peer_s / emscale_s (> 1: emscale faster), None if no peer
    emscale_rss_gb   peak resident memory of the emscale process (GB = 1e9 bytes)
    peer_rss_gb      peak resident memory of the peer process
    accuracy         free text: how the two results agree
    bytes_processed  uncompressed bytes the emscale call reads (all its passes), for the roofline; None if n/a

Peak RSS: each case runs in its own ``python -c`` process. The process reports its own ``VmHWM`` (the high-water
mark of *its* address space, /proc/self/status) when it exits; ``os.wait4``'s ``ru_maxrss`` is collected as well but
is only used where VmHWM is unavailable (not Linux), because on Linux ``ru_maxrss`` of a child carries over the
parent's high-water mark across fork + exec: a runner that has generated a 1 GB cube would make every child
look at least 1 GB big.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

ROW_KEYS = ("operation", "size", "emscale_s", "peer", "peer_s", "ratio", "emscale_rss_gb", "peer_rss_gb",
            "accuracy", "bytes_processed")

MARK = "@@BENCH-RESULT "
HWM_MARK = "@@BENCH-VMHWM-KB "

# Prepended to every case: `report(**kw)` hands a JSON result back; the exit hook reports VmHWM.
PRELUDE = f"""
import atexit as _atexit, json as _json, sys as _sys, time, warnings as _warnings
_sys.path.insert(0, {str(BENCH_DIR)!r})
_warnings.filterwarnings("ignore")

def report(**kw):
    print({MARK!r} + _json.dumps(kw), flush=True)

def _hwm():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    print({HWM_MARK!r} + line.split()[1], flush=True)
    except OSError:
        pass

_atexit.register(_hwm)
"""


@dataclass
class CaseResult:
    wall_s: float  # the whole process, imports included
    peak_rss_gb: float
    result: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The time the case itself measured (``report(seconds=...)``), else the process wall time."""
        return float(self.result.get("seconds", self.wall_s))


class CaseError(RuntimeError):
    pass


def run_case(code: str, timeout: float | None = None, env: dict | None = None) -> CaseResult:
    """Run ``code`` in a fresh Python process; return its wall time, peak RSS (GB) and what it ``report()``-ed.

    The process is reaped with ``os.wait4`` (its rusage); its peak RSS is the VmHWM it reports at exit (see the
    module docstring). The case's own stdout lines go to stderr (a script's stdout stays its table), its stderr
    is dropped unless it fails: then :class:`CaseError` carries the tail.
    """
    src = PRELUDE + textwrap.dedent(code)
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", src], stdout=fout, stderr=ferr,
                                env=None if env is None else {**os.environ, **env})
        timer = None
        if timeout:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, tell Popen
        if timer:
            timer.cancel()
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read(), ferr.read()
    if proc.returncode:
        tail = "\n".join(err.strip().splitlines()[-15:])
        why = f"killed after {timeout} s" if timeout and wall >= timeout else f"exit {proc.returncode}"
        raise CaseError(f"case failed ({why}):\n{tail}")
    result, hwm_kb = {}, None
    for line in out.splitlines():
        if line.startswith(MARK):
            result = json.loads(line[len(MARK):])
        elif line.startswith(HWM_MARK):
            hwm_kb = int(line[len(HWM_MARK):])
        elif line.strip():
            print(line, file=sys.stderr)
    maxrss_kb = usage.ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    if hwm_kb is None:  # no /proc (not Linux): wait4's ru_maxrss, exact there
        hwm_kb = maxrss_kb
    result.setdefault("_ru_maxrss_gb", maxrss_kb * 1024 / 1e9)
    return CaseResult(wall, hwm_kb * 1024 / 1e9, result)


def run_alternating(cases: dict[str, str], repeat: int = 1, timeout: float | None = None,
                    on_error: str = "skip") -> dict[str, dict]:
    """Run each case ``repeat`` times, the cases in alternation (A B A B ...), each run a fresh process.

    Returns per case ``{"seconds": median, "rss_gb": max peak RSS, "runs": [...], "result": last result}`` or
    ``{"error": message}`` if a run failed (``on_error="raise"`` re-raises instead).
    """
    runs: dict[str, list[CaseResult]] = {name: [] for name in cases}
    errors: dict[str, str] = {}
    for _ in range(max(1, repeat)):
        for name, code in cases.items():
            if name in errors:
                continue
            try:
                runs[name].append(run_case(code, timeout=timeout))
            except CaseError as e:
                if on_error == "raise":
                    raise
                errors[name] = str(e)
                print(f"[{name}] {e}", file=sys.stderr)
    out = {}
    for name in cases:
        if name in errors:
            out[name] = {"error": errors[name].splitlines()[-1] if errors[name] else "failed"}
            continue
        rs = runs[name]
        out[name] = {
            "seconds": statistics.median(r.seconds for r in rs),
            "rss_gb": max(r.peak_rss_gb for r in rs),
            "runs": [round(r.seconds, 4) for r in rs],
            "result": rs[-1].result,
        }
    return out


def row(operation: str, size: str, em: dict | None, peer_name: str = "", peer: dict | None = None,
        accuracy: str = "", bytes_processed: int | None = None, **extra) -> dict:
    """A row of the common schema from two :func:`run_alternating` entries (either may carry an error)."""
    em = em or {}
    peer = peer or {}
    em_s, peer_s = em.get("seconds"), peer.get("seconds")
    notes = [accuracy] if accuracy else []
    if "error" in em:
        notes.append(f"emscale failed: {em['error']}")
    if peer_name and "error" in peer:
        notes.append(f"peer failed: {peer['error']}")
    r = {
        "operation": operation,
        "size": size,
        "emscale_s": em_s,
        "peer": peer_name,
        "peer_s": peer_s,
        "ratio": (peer_s / em_s) if em_s and peer_s else None,
        "emscale_rss_gb": em.get("rss_gb"),
        "peer_rss_gb": peer.get("rss_gb"),
        "accuracy": "; ".join(notes),
        "bytes_processed": bytes_processed,
    }
    r.update(extra)
    return r


def write_json(path, rows: list[dict], meta: dict | None = None) -> None:
    """``--json PATH``: the rows (and optional metadata) as one JSON document."""
    if path is None:
        return
    doc = {"script": Path(sys.argv[0]).name, "rows": rows, "meta": meta or {}}
    Path(path).write_text(json.dumps(doc, indent=1, default=_jsonable))


def _jsonable(v):
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def add_common_args(ap, repeat: int = 3) -> None:
    ap.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the rows (common schema) here")
    ap.add_argument("--repeat", type=int, default=repeat,
                    help=f"runs per case, alternating emscale and peer; the median time is reported "
                         f"(default {repeat})")


def peak_rss_mb() -> float:
    """Peak resident set size of *this* process in MB: VmHWM on Linux (ru_maxrss of a child is carried over
    from its parent across fork + exec there and can report the parent's peak), ru_maxrss elsewhere."""
    import resource

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024.0)


# ---------------------------------------------------------------------------------------------- formatting


def fmt(v, spec: str = ".3g", none: str = "-") -> str:
    if v is None:
        return none
    if isinstance(v, float):
        if v != v:  # NaN
            return none
        return format(v, spec)
    return str(v)


def fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:.2f}x"


def fmt_pct(v) -> str:
    if not isinstance(v, float):
        return fmt(v)
    return f"{100 * v:.0f}%" if v >= 0.1 else f"{100 * v:.2g}%"


TABLE_COLS = [
    ("ratio", "ratio peer/em", fmt_ratio),
    ("operation", "operation", str),
    ("size", "size", str),
    ("emscale_s", "emscale s", lambda v: fmt(v, ".3g")),
    ("peer", "peer", str),
    ("peer_s", "peer s", lambda v: fmt(v, ".3g")),
    ("emscale_rss_gb", "emscale RSS GB", lambda v: fmt(v, ".2f")),
    ("peer_rss_gb", "peer RSS GB", lambda v: fmt(v, ".2f")),
    ("roofline", "roofline", lambda v: fmt_pct(v)),
    ("accuracy", "accuracy / notes", str),
]


def table(rows: list[dict], markdown: bool = False, roofline: bool = False) -> str:
    cols = [c for c in TABLE_COLS if roofline or c[0] != "roofline"]
    cells = [[f(r.get(k)) if r.get(k) is not None or k in ("ratio",) else "-" for k, _, f in cols] for r in rows]
    heads = [h for _, h, _ in cols]
    if markdown:
        def esc(s):
            return s.replace("|", "\\|")

        lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in cell) + " |" for cell in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    widths[-1] = len(heads[-1])  # free text last, unpadded
    out = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(out)


def print_table(rows: list[dict], title: str | None = None) -> None:
    if title:
        print(title)
    print(table(rows))


# ---------------------------------------------------------------------------------------------- machine, versions


def machine_info() -> dict:
    info = {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu"] = platform.processor() or "unknown"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    info["ram_gb"] = round(int(line.split()[1]) * 1024 / 1e9, 1)
                    break
    except OSError:
        pass
    try:
        info["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    return info


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("emscale", "numpy", "scipy", "dask", "zarr", "numcodecs", "hyperspy", "exspy", "rosettasciio",
                 "scikit-learn", "h5py"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = {f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
                for p in threadpool_info() if p.get("user_api") == "blas"}
        if blas:
            out["blas"] = ", ".join(sorted(blas))
    except Exception:  # noqa: BLE001 - optional information
        pass
    return out


def size_str(shape, dtype) -> str:
    import numpy as np

    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return f"{'x'.join(map(str, shape))} {np.dtype(dtype).name}, {nbytes / 1e9:.3g} GB"


# ---------------------------------------------------------------------------------------------- shared data


def poisson_cube(shape, seed: int = 0, dtype="uint16", rows_per_block: int = 8, rank: int = 3):
    """A dask array of Poisson counts, ``shape = (ny, nx, channels)``: ``rank`` smooth spectra (a decaying
    background and Gaussian peaks) mixed by smooth maps, generated block by block (seeded per block, so the
    same shape and seed give the same numbers) -- memory stays at a few blocks whatever the size."""
    import dask.array as da
    import numpy as np

    ny, nx, ne = shape
    e = np.linspace(0.0, 1.0, ne, dtype=np.float64)
    spectra = [30 * np.exp(-4 * e) + 2]
    for j in range(1, rank):
        c = 0.15 + 0.7 * j / max(rank - 1, 1)
        spectra.append(40 * np.exp(-0.5 * ((e - c) / 0.01) ** 2) + 8 * np.exp(-0.5 * ((e - c + 0.1) / 0.02) ** 2))
    spectra = np.array(spectra)

    def block(block_info=None):
        (y0, y1), (x0, x1), _ = block_info[None]["array-location"]
        rng = np.random.default_rng([seed, y0, x0])
        yy, xx = np.meshgrid(np.arange(y0, y1) / max(ny, 1), np.arange(x0, x1) / max(nx, 1), indexing="ij")
        maps = [np.ones_like(yy)] + [0.5 + 0.5 * np.sin(2 * np.pi * (j * yy + (j + 1) * xx) + j)
                                     for j in range(1, rank)]
        mu = np.tensordot(np.stack(maps, -1), spectra, axes=1)
        return rng.poisson(mu).astype(dtype)

    rows = (rows_per_block,) * (ny // rows_per_block) + ((ny % rows_per_block,) if ny % rows_per_block else ())
    return da.map_blocks(block, dtype=np.dtype(dtype), chunks=(rows, (nx,), (ne,)))


def em_axes():
    return [{"name": "y", "navigate": True, "units": "nm"}, {"name": "x", "navigate": True, "units": "nm"},
            {"name": "Energy", "scale": 0.01, "offset": 0.0, "units": "keV"}]


def write_em_store(path: Path, shape, seed: int = 0) -> Path:
    """The generated cube as an emscale zarr store (once; reused while it exists)."""
    path = Path(path)
    if not path.exists():
        import emscale as em

        em.Signal(poisson_cube(shape, seed), axes=em_axes(), signal_type="EDS_TEM",
                  metadata={"Signal": {"counts": True}}).save(str(path))
    return path


def write_hspy(path: Path, shape, seed: int = 0) -> Path:
    """The same cube written by HyperSpy (``Signal1D(dask).as_lazy().save``), chunked like HyperSpy's own files."""
    path = Path(path)
    if not path.exists():
        import warnings

        warnings.filterwarnings("ignore")
        import hyperspy.api as hs

        s = hs.signals.Signal1D(poisson_cube(shape, seed)).as_lazy()
        tmp = path.with_name(f".{path.name}.tmp.hspy")
        tmp.unlink(missing_ok=True)
        s.save(str(tmp), show_progressbar=False)
        tmp.rename(path)
    return path
