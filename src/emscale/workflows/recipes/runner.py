"""Running a recipe into an output folder, and replaying it to prove the outputs are reproduced bit for bit.

The output folder holds the processed signal (zarr), each named result, ``recipe.toml`` (the recipe with the
input pinned by its SHA-256), ``manifest.json`` (a digest of every output's numbers, timings, versions) and the
HTML report. The whole folder is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import codec
from ...core import history as _history
from ...core.atomic import atomic_dir
from ...core.errors import EmscaleError, FileFormatError, OutputExistsError
from ...core.signal import Signal
from ...decomposition import ClusterResult, Decomposition
from ...engine.passes import data_digest
from ...io import load
from ..report import write_report
from .schema import Recipe, RecipeError, format_key, load_recipe, operation_for, parse, parse_key, to_toml

MANIFEST = "manifest.json"
RECIPE = "recipe.toml"


@dataclass
class StepRecord:
    op: str
    params: dict
    name: str | None
    seconds: float
    peak_rss_mb: float
    summary: str


@dataclass
class RunResult:
    outdir: Path
    signal: Signal
    input_signal: Signal
    results: dict = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    recipe: Recipe | None = None


# -- digests of outputs ------------------------------------------------------------------------------------------
def _hash_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def signal_digest(s: Signal) -> str:
    """SHA-256 of a signal's numbers (dtype, shape, bytes), streamed partition by partition."""
    return data_digest(s.data)


def result_digest(obj) -> str:
    if isinstance(obj, Signal):
        return signal_digest(obj)
    if isinstance(obj, Decomposition):
        return _hash_arrays(obj.factors_array, obj.loadings_array, obj.eigenvalues)
    if isinstance(obj, ClusterResult):
        return _hash_arrays(obj.labels_array, obj.spectra_array)
    raise EmscaleError(f"cannot digest result of type {type(obj).__name__}")


# -- writing results -------------------------------------------------------------------------------------------
def _write_result(name: str, obj, folder: Path) -> list[str]:
    if isinstance(obj, Decomposition | ClusterResult):
        return [obj.save(folder / f"{name}.npz").name]
    if isinstance(obj, Signal):
        obj.save(folder / f"{name}.zarr")
        return [f"{name}.zarr"]
    raise EmscaleError(f"cannot write result {name!r} of type {type(obj).__name__}")


def _read_result(files: list[str], folder: Path):
    path = folder / files[0]
    if path.suffix == ".npz":
        try:
            return Decomposition.load(path)
        except FileFormatError:
            return ClusterResult.load(path)
    return load(path)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("emscale", "numpy", "scipy", "dask", "distributed", "zarr", "rosettasciio", "scikit-learn",
                "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


# -- running ---------------------------------------------------------------------------------------------------
def _check_writable(outdir: Path, overwrite: bool) -> None:
    parent = outdir.resolve().parent
    if outdir.exists() and not overwrite and any(outdir.iterdir()):
        raise OutputExistsError(f"{outdir} exists and is not empty; pass overwrite=True (--overwrite)")
    if not parent.exists():
        raise RecipeError(f"{parent}: output folder's parent does not exist")
    if not os.access(parent, os.W_OK):
        raise RecipeError(f"{parent}: output folder is not writable")


def _load_input(recipe: Recipe) -> Signal:
    path = recipe.input_path()
    want = recipe.input.get("sha256")
    if want:
        got = _history.file_digest(path)
        if got != want:
            raise RecipeError(f"{path}: input differs from the recipe's (sha256 {got[:12]}... != {want[:12]}...)")
    kwargs = {k: recipe.input[k] for k in ("signal_type", "index", "lazy") if k in recipe.input}
    s = load(path, **kwargs)
    if isinstance(s, list):
        raise RecipeError(f"{path} holds {len(s)} signals; pick one with signal_type or index in [input]")
    return s


def execute(recipe: Recipe, progress=None) -> tuple[Signal, Signal, dict, list[StepRecord]]:
    """Run the steps in memory: (input signal, final signal, named results, step records)."""
    s = _load_input(recipe)
    first = s
    results: dict = {}
    records: list[StepRecord] = []
    for i, st in enumerate(recipe.steps):
        if progress:
            progress(i, len(recipe.steps), st.op)
        t0 = time.perf_counter()
        op = operation_for(st.op)
        params = dict(st.params)
        if st.op in ("inav", "isig"):
            params["key"] = parse_key(params["key"])
        try:
            obj = op.function(results[st.of] if op.on is not None else s, **params)
        except EmscaleError as exc:
            where = f"line {st.line}" if st.line else f"step {i + 1}"
            raise RecipeError(f"{where} ({st.op}): {exc}") from exc
        if st.name is not None:
            results[st.name] = obj
        else:
            s = obj = obj[0] if isinstance(obj, tuple) else obj
        summary = repr(obj) if isinstance(obj, Signal) else repr(obj).splitlines()[0][:200]
        records.append(StepRecord(st.op, st.params, st.name, time.perf_counter() - t0, _peak_rss_mb(), summary))
    if progress:
        progress(len(recipe.steps), len(recipe.steps), "done")
    return first, s, results, records


def pinned_recipe_text(recipe: Recipe, input_signal: Signal) -> str:
    """The recipe with the input given by absolute path and pinned by SHA-256, as written to the output."""
    inp = dict(recipe.input)
    inp["path"] = str(recipe.input_path().resolve())
    src = input_signal.history[0].get("source", {}) if input_signal.history else {}
    if src.get("sha256"):
        inp["sha256"] = src["sha256"]
    steps = []
    for st in recipe.steps:
        d = {"op": st.op}
        if st.name:
            d["name"] = st.name
        if st.of:
            d["of"] = st.of
        d.update(st.params)
        steps.append(d)
    return to_toml(inp, steps, recipe.output, comment="emscale recipe (pinned copy written with the results)")


def run_recipe(recipe, outdir, overwrite: bool = False, progress=None, report: bool = True,
               extra_sections=None) -> RunResult:
    """Validate, run and write a recipe's outputs, manifest and report into ``outdir`` (atomically).

    ``extra_sections``: ``[(title, html), ...]`` added to the report, or a function of the run returning them.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    outdir = Path(outdir)
    _check_writable(outdir, overwrite)
    if not recipe.input_path().exists():
        raise RecipeError(f"{recipe.input_path()}: input file of the recipe does not exist")
    t0 = time.perf_counter()
    first, s, results, records = execute(recipe, progress)
    made: list[RunResult] = []

    def write(tmp: Path) -> None:
        outputs = {}
        s.save(tmp / recipe.output["signal"])
        outputs["signal"] = {"files": [recipe.output["signal"]], "sha256": signal_digest(s)}
        for name, obj in results.items():
            outputs[name] = {"files": _write_result(name, obj, tmp), "sha256": result_digest(obj)}
        (tmp / RECIPE).write_text(pinned_recipe_text(recipe, first))
        manifest = {
            "emscale": versions().get("emscale", ""),
            "input": {"path": str(recipe.input_path().resolve()),
                      "sha256": (first.history[0].get("source", {}) if first.history else {}).get("sha256")},
            "outputs": outputs,
            "steps": [r.__dict__ | {"params": codec.encode(r.params)} for r in records],
            "seconds": time.perf_counter() - t0,
            "peak_rss_mb": _peak_rss_mb(),
            "versions": versions(),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        result = RunResult(outdir, s, first, results, records, manifest, recipe)
        sections = extra_sections(result) if callable(extra_sections) else extra_sections
        if report:
            write_report(result, tmp / recipe.output["report"], recipe_text=(tmp / RECIPE).read_text(),
                         extra_sections=sections)
        made.append(result)

    # _check_writable allowed an empty existing folder: it is replaced whole, like a non-empty one with overwrite
    atomic_dir(outdir, write, overwrite=True, create=True)
    result = made[0]
    return result


# -- replay ----------------------------------------------------------------------------------------------------
def replay_outdir(outdir) -> list[str]:
    """Re-run the recipe recorded in ``outdir`` from the raw input and compare every output with the manifest.

    Returns the list of differences (empty when everything is reproduced bit for bit). An output file altered
    after the run is reported too.
    """
    outdir = Path(outdir)
    mpath = outdir / MANIFEST
    if not mpath.is_file():
        raise RecipeError(f"{outdir}: no {MANIFEST}; not an emscale results folder")
    manifest = json.loads(mpath.read_text())
    recipe = parse((outdir / RECIPE).read_text(), source=(outdir / RECIPE).resolve())
    problems = []
    for name, entry in manifest["outputs"].items():
        try:
            on_disk = _read_result(entry["files"], outdir)
            got = result_digest(on_disk)
        except Exception as exc:  # noqa: BLE001 - a damaged output is a finding, not a crash
            problems.append(f"{name}: stored output cannot be read ({type(exc).__name__}: {exc})")
            continue
        if got != entry["sha256"]:
            problems.append(f"{name}: stored output {entry['files'][0]} differs from the manifest")
    _, s, results, _ = execute(recipe)
    fresh = {"signal": s, **results}
    for name, entry in manifest["outputs"].items():
        if name not in fresh:
            problems.append(f"{name}: not produced by the replay")
        elif result_digest(fresh[name]) != entry["sha256"]:
            problems.append(f"{name}: replayed result differs from the recorded one")
    return problems


# -- recipes from history --------------------------------------------------------------------------------------
def recipe_from_history(history: list[dict]) -> str:
    """A recipe reproducing a signal's recorded history (its first entry must be a load)."""
    if not history or history[0].get("op") != "load":
        raise RecipeError("history does not start with a load; no recipe can reproduce it from a file")
    load_e = history[0]
    params = codec.decode(load_e.get("params", {}))
    inp = {"path": load_e["source"]["path"], "sha256": load_e["source"].get("sha256")}
    for k in ("signal_type", "index", "lazy"):
        if k in params:
            inp[k] = params[k]
    steps = []
    for e in history[1:]:
        op = e["op"]
        p = codec.decode(e.get("params", {}))
        if op in ("inav", "isig"):
            key = p["key"]
            p = {"key": format_key(key[0] if isinstance(key, tuple) and len(key) == 1 else key)}
        elif "axis" in p and isinstance(p["axis"], tuple):
            p["axis"] = list(p["axis"])
        p = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
        steps.append({"op": op, **p})
    text = to_toml(inp, steps, comment="emscale recipe exported from a signal's history")
    parse(text)  # what we export must be a valid recipe
    return text
