"""Running a recipe into an output folder, and replaying it to prove the outputs are reproduced bit for bit.

The output folder holds the processed signal (zarr), each named result, ``recipe.toml`` (the recipe with the
input pinned by its SHA-256), ``manifest.json`` (a digest of every output's numbers, timings, versions) and the
HTML report. The whole folder is written under a temporary name and renamed into place when complete; an existing
empty folder (``-o .`` in a new folder) is filled in place, the manifest last (:func:`.core.atomic.atomic_dir`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import resource
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import codec, registry
from ...core import history as _history
from ...core.atomic import atomic_dir, check_output_folder, replaceable_folder
from ...core.errors import EmscaleError, recording_warnings
from ...core.result import Result, load_result
from ...core.signal import Signal
from ...engine.passes import data_digest
from ...io import load, several_signals
from ...io.store import refuse_folder_in_store
from ..report import write_report
from .schema import (
    _NOT_PARAMS,
    Recipe,
    RecipeError,
    default_name,
    format_key,
    load_recipe,
    operation_for,
    parse,
    parse_key,
    recipe_text,
    to_toml,
)

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
    as_run: dict = field(default_factory=dict)  # values the step ran with for parameters left at None (_as_run)
    warnings: list[str] = field(default_factory=list)  # what the step warned (core.errors.warning_text), in order


@dataclass
class RunResult:
    outdir: Path
    signal: Signal
    input_signal: Signal
    results: dict = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    recipe: Recipe | None = None
    # each inpaint step on the main signal: {"sparse": its input, "reconstruction": its output, "reference": the
    # signal a sample_scan of this run sampled (None for a recorded sparse scan)}, for the report
    scans: list = field(default_factory=list)


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
    if isinstance(obj, Result):
        return _hash_arrays(*obj.arrays().values())
    raise EmscaleError(f"cannot digest result of type {type(obj).__name__}")


# -- writing results -------------------------------------------------------------------------------------------
def _write_result(name: str, obj, folder: Path) -> list[str]:
    if isinstance(obj, Result):
        return [obj.save(folder / f"{name}.npz").name]
    if isinstance(obj, Signal):
        obj.save(folder / f"{name}.zarr")
        return [f"{name}.zarr"]
    raise EmscaleError(f"cannot write result {name!r} of type {type(obj).__name__}")


def _read_result(files: list[str], folder: Path):
    path = folder / files[0]
    return load_result(path) if path.suffix == ".npz" else load(path)


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
def unlisted_files(folder: Path, listing: str = MANIFEST) -> list[str] | None:
    """The files in ``folder`` that its ``listing`` (a results folder's manifest, the demo's list) does not name (a
    user's notes put into it) or whose digest it names no longer (a report or figure the user edited), in words, or
    None where ``folder`` is no folder emscale wrote: ``--overwrite`` replaces only a folder where this is empty
    (see :func:`folder_changes`)."""
    changes = folder_changes(folder, listing)
    if changes is None:
        return None
    added, changed = changes
    return ([f"{rel} (empty folder)" if rel.endswith("/") else rel for rel in added]
            + [f"{rel} (changed since emscale wrote it)" for rel in changed])


def folder_changes(folder: Path, listing: str = MANIFEST) -> tuple[list[str], list[str]] | None:
    """``(added, changed)``: the entries of ``folder`` that its ``listing`` does not name (:func:`listed_only`) and
    the files it names whose digest it names no longer, or None where ``folder`` is no folder emscale wrote. A file
    of that name alone does not make one (other tools write ``manifest.json``): it must be emscale's, with its
    ``files``.

    Only files touched after the listing was written are hashed again (it is written last), so checking a folder of
    large stores costs no read of their chunks."""
    try:
        written = json.loads((folder / listing).read_text(encoding="utf-8"))
        since = (folder / listing).stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(written, dict) or "emscale" not in written or not isinstance(written.get("files"), dict | list):
        return None
    files = written["files"]
    added = listed_only(folder, {str(f) for f in files} | {listing})
    changed = [rel for rel, digest in sorted(files.items()) if _changed(folder / rel, digest, since)] \
        if isinstance(files, dict) else []
    return added, changed


def _changed(path: Path, digest, since: float) -> bool:
    if path.is_symlink():  # emscale writes no links: one put in place of its file points at the user's own
        return True
    try:
        st = path.stat()
        # the inode's change time too: a user's file copied in with its old time (cp -p, rsync -a, tar x) keeps
        # an mtime before the listing's and was deleted unseen
        return max(st.st_mtime, st.st_ctime) > since and _history.file_digest(path) != digest
    except OSError:  # removed since: nothing of the user's to lose
        return False


def listed_only(folder: Path, listed: set[str]) -> list[str]:
    """The entries below ``folder`` other than folders (relative POSIX paths, sorted) that ``listed`` lacks, and the
    folders of no listed output that hold nothing (a user's empty folder, which went unseen), their paths ending in
    ``/``."""
    tops = {name.split("/")[0] for name in listed}
    out = []
    for f in folder.rglob("*"):
        rel = f.relative_to(folder).as_posix()
        if f.is_symlink() or not f.is_dir():
            if rel not in listed:
                out.append(rel)
        elif rel.split("/")[0] not in tops and not any(f.iterdir()):
            out.append(f"{rel}/")
    return sorted(out)


def _check_writable(outdir: Path, overwrite: bool, protected=()) -> Path:
    refuse_folder_in_store(outdir)
    outdir = check_output_folder(outdir, overwrite, unlisted_files, protected)
    parent = outdir.parent
    if not parent.exists():
        raise RecipeError(f"{parent}: output folder's parent does not exist")
    if not os.access(parent, os.W_OK):
        raise RecipeError(f"{parent}: output folder is not writable")
    return outdir


def _load_input(recipe: Recipe, path: Path | None = None) -> Signal:
    given = path is not None  # --input: the path the user named, not the recipe's
    path = recipe.input_path() if path is None else Path(path)
    if not path.exists():
        if given:
            raise RecipeError(f"{path}: the input given (--input) does not exist")
        raise RecipeError(f"{path}: the recipe's input does not exist" + (
            " (the results folder or the input moved? pass --input PATH)" if recipe.input.get("sha256") else ""))
    want = recipe.input.get("sha256")
    if want:
        got = _history.file_digest(path)
        if got != want:
            raise RecipeError(f"{path}: input differs from the recipe's (sha256 {got[:12]}... != {want[:12]}...)")
    kwargs = {k: recipe.input[k] for k in ("signal_type", "index", "lazy") if k in recipe.input}
    s = load(path, **kwargs)
    if isinstance(s, list):  # with a signal_type matched by several, the index picks one of those
        typed = kwargs.get("signal_type")
        raise RecipeError(f"{several_signals(path, s, typed)}; pick one with "
                          + ("index" if typed is not None else "signal_type or index") + " in [input]")
    return s


def execute(recipe: Recipe, progress=None, input_path=None) -> tuple[Signal, Signal, dict, list[StepRecord]]:
    """Run the steps in memory: (input signal, final signal, named results, step records); ``input_path``
    replaces the recipe's input (a moved raw file; its SHA-256 must still match a pinned recipe's)."""
    return _execute(recipe, progress, input_path)[:4]


def _execute(recipe: Recipe, progress=None, input_path=None):
    """:func:`execute`, and the sparse scans reconstructed (:attr:`RunResult.scans`) for the report."""
    s = _load_input(recipe, input_path)
    with _history.input_folder(Path(input_path or recipe.input_path()).parent):
        _check_files(recipe, s)
        return _run_steps(recipe, s, progress)


def _check_files(recipe: Recipe, s: Signal) -> None:
    """Every file a step names beside the input (a position list, a model: the operations' ``files``), found and
    read before any step runs: a missing or damaged one is reported with the others, not after the steps before
    it ran."""
    problems = []
    for i, st in enumerate(recipe.steps):
        for name, read in operation_for(st.op).files.items():
            value = st.params.get(name)
            if not (isinstance(value, str) or _history.is_pinned_file(value)):
                continue  # given inline (a mask as a table of booleans): the step's own checks see it
            try:
                read(value, s.history)
            except (EmscaleError, ValueError) as exc:
                problems.append(f"{_where(recipe, st, i)} ({st.op}): {exc}")
    if problems:
        raise RecipeError("\n".join(problems))


def _where(recipe: Recipe, st, i: int) -> str:
    """The recipe line of step ``i`` (``st``) as the recipe's check names it, ``file:line``."""
    label = str(recipe.source) if recipe.source else "<recipe>"
    return f"{label}:{st.line}" if st.line else f"{label}: step {i + 1}"


def _run_steps(recipe: Recipe, s: Signal, progress):
    # the states an operand made from an earlier state of the signal starts from (``at = n``), held while it runs
    input_steps = len(s.history) - 1  # the input's own steps: an operand's ``at`` counts from the recipe's input
    starts = {n + input_steps for n in _history.operand_starts([st.params for st in recipe.steps])}
    with _history.keeping_states(starts) as keep:
        keep(s)
        return _steps_kept(recipe, s, progress, keep, input_steps)


def _steps_kept(recipe: Recipe, s: Signal, progress, keep, input_steps: int):
    first = s
    results: dict = {}
    records: list[StepRecord] = []
    scans: list = []
    reference = None
    for i, st in enumerate(recipe.steps):
        if progress:
            progress(i, len(recipe.steps), st.op)
        t0 = time.perf_counter()
        op = operation_for(st.op)
        params = _call_params(st.op, st.params, input_steps)
        _check_starts(recipe, st, i, len(s.history) - 1 - input_steps)
        warned: list[str] = []
        try:
            with _history.files_read() as read, recording_warnings(warned):
                obj = op.function(results[st.of] if op.on is not None else s, **params)
        except (EmscaleError, ValueError) as exc:  # a value only the data can refute (n_components=50 of 4)
            where = _where(recipe, st, i)
            key = st.params.get("key")
            hint = ""
            if st.op in ("inav", "isig") and isinstance(key, list) and all(
                    isinstance(k, int | float) and not isinstance(k, bool) for k in key):
                hint = (f"; key = {key} is one index per axis: a range is written as text, "
                        f"key = \"{':'.join(str(k) for k in key)}\"")
            raise RecipeError(f"{where} ({st.op}): {exc}{hint}") from exc
        if st.name is not None:
            results[st.name] = obj
        else:
            before, s = s, (obj := obj[0] if isinstance(obj, tuple) else obj)
            keep(s)
            if st.op == "sample_scan":
                reference = before
            elif st.op == "inpaint":
                scans.append({"sparse": before, "reconstruction": s, "reference": reference})
        summary = repr(obj) if isinstance(obj, Signal) else repr(obj).splitlines()[0][:200]
        records.append(StepRecord(st.op, st.params, st.name, time.perf_counter() - t0, _peak_rss_mb(), summary,
                                  _as_run(op, st.params, obj, read), warned))
    if progress:
        progress(len(recipe.steps), len(recipe.steps), "done")
    return first, s, results, records, scans


# never pinned: what a recipe cannot set (schema), and how a step runs rather than what it computes
_NOT_PINNED = frozenset(_NOT_PARAMS | {"partition_bytes", "slices_per_partition", "scratch"})


def _as_run(op, given: dict, obj, read: dict | None = None) -> dict:
    """The values a step's history recorded for parameters it was not given: every default as it ran, those
    resolved at run time (a None default: decompose's ``on="factors"``, ``max_iter=1000``, ...) and the fixed ones
    (a background ``model``, a ``seed``), so that a later change of any default does not change a replay. A file
    the step read beside the input by name (``read``: :func:`.core.history.files_read`) is pinned by its digest,
    so that a replay of a changed file names it."""
    made = obj[0] if isinstance(obj, tuple) else obj
    history = getattr(made, "history", None)
    if not history:
        return {}
    sig = op.signature.parameters
    recorded = codec.decode(history[-1].get("params", {}))
    files = {k: _history.pinned_file(v, read[v]) for k, v in given.items() if isinstance(v, str) and v in (read or {})}
    return files | {k: v for k, v in recorded.items()
                    if k not in given and k in sig and k not in _NOT_PINNED
                    and sig[k].default is not inspect.Parameter.empty and v is not None}


def pinned_input(recipe: Recipe, outdir: Path) -> dict[str, str]:
    """The input as the results folder records it, in its pinned recipe and its manifest: ``{"path", "sha256"}``.
    A path the recipe names relatively is recorded relative to that folder (the folder and the input beside it can
    move together), an absolute one as given (a fixed place, such as a shared data store, that stays where it is
    when the results folder moves); the SHA-256 is that of the file, read once for both records."""
    path = recipe.input_path()
    pinned = str(path) if Path(recipe.input["path"]).is_absolute() else os.path.relpath(path.resolve(),
                                                                                         Path(outdir).resolve())
    return {"path": pinned, "sha256": _history.file_digest(path)}


def pinned_recipe_text(recipe: Recipe, pinned: dict[str, str], records: list[StepRecord] | None = None) -> str:
    """The recipe as written to the results folder: the input as :func:`pinned_input` records it (its path, and the
    SHA-256 of the file the run read); with the run's ``records``, each step also pins the values it ran with for
    what it left at the default (:func:`_as_run`), so that a later change of a default does not change what
    ``emscale replay`` re-runs."""
    inp = dict(recipe.input) | pinned
    steps = []
    for i, st in enumerate(recipe.steps):
        d = {"op": st.op}
        if st.name:
            d["name"] = st.name
        if st.of:
            d["of"] = st.of
        d.update(st.params)
        if records is not None:
            d.update(records[i].as_run)
        steps.append(d)
    return to_toml(inp, steps, recipe.output, comment="emscale recipe (pinned copy written with the results)")


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` (relative POSIX path -> digest), the manifest excepted: the
    manifest lists the whole folder, so a file added, removed or changed afterwards is found."""
    out = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder).as_posix()
        if rel != MANIFEST:
            out[rel] = _history.file_digest(f)
    return out


def _threading() -> dict:
    """The BLAS/OpenMP thread counts: reductions inside BLAS may sum in another order with other counts."""
    from threadpoolctl import threadpool_info

    return {f"{i.get('internal_api')}:{i.get('prefix')}": i.get("num_threads") for i in threadpool_info()}


def run_recipe(recipe, outdir, overwrite: bool = False, progress=None, report: bool = True,
               extra_sections=None, up: tuple[str, str] | None = None) -> RunResult:
    """Validate, run and write a recipe's outputs, manifest and report into ``outdir`` (atomically).

    ``extra_sections``: ``[(title, html), ...]`` added to the report, or a function of the run returning them.
    ``up``: ``(href, text)`` of a link at the report's top to the page it belongs to (the demo's index).
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    outdir = _check_writable(Path(outdir), overwrite, [recipe.input_path()] + ([recipe.source] if recipe.source
                                                                             else []))
    if not recipe.input_path().exists():
        raise RecipeError(f"{recipe.input_path()}: input file of the recipe does not exist")
    t0 = time.perf_counter()
    first, s, results, records, scans = _execute(recipe, progress)
    made: list[RunResult] = []

    def write(tmp: Path) -> None:
        outputs = {}
        s.save(tmp / recipe.output["signal"])
        outputs["signal"] = {"files": [recipe.output["signal"]], "sha256": signal_digest(s)}
        for name, obj in results.items():
            outputs[name] = {"files": _write_result(name, obj, tmp), "sha256": result_digest(obj)}
        pinned = pinned_input(recipe, outdir)
        pinned_text = pinned_recipe_text(recipe, pinned, records)
        (tmp / RECIPE).write_text(pinned_text, encoding="utf-8")
        result = RunResult(outdir, s, first, results, records, {}, recipe, scans)
        sections = extra_sections(result) if callable(extra_sections) else extra_sections
        manifest = {
            "emscale": versions().get("emscale", ""),
            "input": dict(pinned),
            "outputs": outputs,
            "steps": [r.__dict__ | {"params": codec.encode(r.params), "as_run": codec.encode(r.as_run)}
                      for r in records],
            "seconds": time.perf_counter() - t0,
            "peak_rss_mb": _peak_rss_mb(),
            "versions": versions(),
            "threading": _threading(),
        }
        result.manifest = manifest
        if report:
            drawing: list[str] = []  # what drawing the report's figures warned (NaN in the input's navigator)
            write_report(result, tmp / recipe.output["report"], recipe_text=pinned_text,
                         extra_sections=sections, up=up, warned=drawing)
            manifest["report_warnings"] = drawing
        manifest["files"] = file_digests(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        made.append(result)

    # _check_writable allowed an empty existing folder: it is filled in place, and a non-empty one emscale wrote is
    # replaced whole with overwrite -- if it is still so when the results are whole (a user may have put files into
    # it meanwhile); the manifest comes last, so that a folder without one is no results folder
    atomic_dir(outdir, write, overwrite=True, create=True, replaceable=replaceable_folder(overwrite, unlisted_files),
               last=MANIFEST)
    result = made[0]
    return result


# -- replay ----------------------------------------------------------------------------------------------------
def _read_manifest(outdir: Path) -> dict:
    mpath = outdir / MANIFEST
    if not outdir.is_dir():
        raise RecipeError(f"{outdir}: no such folder" if not outdir.exists() else
                          f"{outdir}: a file, not a results folder")
    if not mpath.is_file():
        raise RecipeError(f"{outdir}: no {MANIFEST}; not an emscale results folder")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{mpath}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):  # a JSON list: "'list' object has no attribute 'get'"
        raise RecipeError(f"{mpath}: not a table of the run (a JSON {type(manifest).__name__}); the manifest was "
                          "damaged")
    for key in ("outputs", "files", "input"):
        if not isinstance(manifest.get(key), dict):
            raise RecipeError(f"{mpath}: '{key}' is missing or not a table; the manifest was damaged")
    return manifest


def _numbers(obj) -> list[np.ndarray]:
    return [np.asarray(obj.to_numpy())] if isinstance(obj, Signal) else list(obj.arrays().values())


REPLAY_RTOL = 1e-9  # allowed difference, of an array's scale, when the BLAS threading differs from the recorded run's


def replay_difference(fresh: np.ndarray | None, stored: np.ndarray | None) -> float:
    """How far a replayed array is from the recorded one, as a fraction of the recorded array's scale (its largest
    finite magnitude): ``max |fresh - stored| / max |stored|`` over the finite elements; 0 where they are equal,
    ``inf`` where they cannot be compared so (another shape, NaN or infinity elsewhere, integers or flags that
    differ at all). Scaled to the array, not element by element: a sum taken in another order (other BLAS threads)
    moves each element by a few ulps of the array's largest values, which is a large relative change of an element
    near zero (a loading of 2e-4 among values of 30)."""
    if fresh is None or stored is None:
        return 0.0 if fresh is None and stored is None else np.inf
    a, b = np.asarray(fresh), np.asarray(stored)
    if a.shape != b.shape:
        return np.inf
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return 0.0 if np.array_equal(a, b) else np.inf
    fa, fb = np.isfinite(a), np.isfinite(b)
    # NaN where NaN, the same infinities where infinite
    if not (np.array_equal(fa, fb) and np.array_equal(a[~fa], b[~fb], equal_nan=True)):
        return np.inf
    if not fb.any():
        return 0.0
    diff = float(np.max(np.abs(a[fa] - b[fb])))
    scale = float(np.max(np.abs(b[fb])))
    return 0.0 if diff == 0 else (diff / scale if scale > 0 else np.inf)


def replay_outdir(outdir, input_path=None) -> list[str]:
    """Re-run the recipe recorded in ``outdir`` from the raw input and compare every output with the manifest.

    Returns the list of differences (empty when everything is reproduced). Checked: the set of files in the
    folder against the manifest, each file's SHA-256 (numbers, metadata, axes, report), the input's SHA-256
    against both the manifest and the pinned recipe, and each replayed output against the recorded one -- bit
    for bit, or, where the BLAS threading differs from the recorded run's, within :data:`REPLAY_RTOL` of each
    array's largest value (:func:`replay_difference`; reported).
    ``input_path`` points at a raw input that moved.
    """
    outdir = Path(outdir)
    manifest = _read_manifest(outdir)
    if not (outdir / RECIPE).is_file():
        raise RecipeError(f"{outdir}: no {RECIPE}, so there is nothing to replay (the results folder is incomplete)")
    recipe = parse(recipe_text(outdir / RECIPE), source=(outdir / RECIPE).resolve())
    for st in recipe.steps:  # pinned with every value it ran with, a step lacks only what it predates: of its time
        st.params = operation_for(st.op).replay_params(st.params)
    problems = []
    on_disk = file_digests(outdir)
    listed = manifest["files"]
    problems += [f"{f}: in the folder but not in the manifest" for f in sorted(set(on_disk) - set(listed))]
    # what holds no file to digest: an empty folder, a link to a folder elsewhere ("reproduced bit for bit")
    problems += [f"{f.rstrip('/')}: in the folder but not in the manifest "
                 f"({'an empty folder' if f.endswith('/') else 'a link'})"
                 for f in listed_only(outdir, set(listed) | {MANIFEST}) if f not in on_disk]
    problems += [f"{f}: in the manifest but missing from the folder" for f in sorted(set(listed) - set(on_disk))]
    # emscale writes no links: a link in place of one of its files reads the same numbers from somewhere else, which
    # a later change there alters unseen ("reproduced bit for bit", with the report a link to a copy elsewhere)
    problems += [f"{f}: a link, in place of the file emscale wrote" for f in sorted(set(on_disk) & set(listed))
                 if (outdir / f).is_symlink()]
    problems += [f"{f}: changed after the run (sha256 differs from the manifest)"
                 for f in sorted(set(on_disk) & set(listed)) if on_disk[f] != listed[f]]
    if manifest["input"].get("sha256") != recipe.input.get("sha256"):
        problems.append("input: the manifest's input sha256 differs from the pinned recipe's")
    _, s, results, records = execute(recipe, input_path=input_path)
    problems += _steps_described(manifest.get("steps"), records)
    fresh = {"signal": s, **results}
    recorded = manifest["outputs"]
    problems += [f"{n}: produced by the replay but not listed in the manifest" for n in fresh if n not in recorded]
    same_threads = manifest.get("threading") == _threading()
    for name, entry in recorded.items():
        stored = None
        if not isinstance(entry, dict) or not isinstance(entry.get("files", []), list) \
                or not all(isinstance(f, str) for f in entry.get("files", [])):
            problems.append(f"{name}: its entry in the manifest is damaged")  # was "'int' object has no ..."
            continue
        if not set(entry.get("files", [])) <= {f.split("/")[0] for f in listed}:
            # never read: a manifest's entry may point anywhere (../../elsewhere.npz)
            problems.append(f"{name}: its files are not listed in the manifest")
        elif all((outdir / f).exists() for f in entry.get("files", [])):  # a missing one is said above, once
            try:
                stored = _read_result(entry["files"], outdir)
            except Exception as exc:  # noqa: BLE001 - a damaged output is a finding, not a crash
                problems.append(f"{name}: stored output cannot be read ({type(exc).__name__}: {exc})")
        if stored is not None and result_digest(stored) != entry.get("sha256"):
            problems.append(f"{name}: stored output {entry['files'][0]} differs from the manifest")
        if name not in fresh:
            problems.append(f"{name}: not produced by the replay")
        elif result_digest(fresh[name]) != entry.get("sha256"):
            worst = np.inf
            if stored is not None and not same_threads:
                made, kept = _numbers(fresh[name]), _numbers(stored)
                worst = max(map(replay_difference, made, kept), default=0.0) if len(made) == len(kept) else np.inf
            if not worst <= REPLAY_RTOL:
                problems.append(f"{name}: replayed result differs from the recorded one" + (
                    "" if manifest.get("steps") and "as_run" in manifest["steps"][0] else
                    " (a folder written before recipes pinned the defaults each step ran with: a default that "
                    "has changed since?)"))
            else:
                warnings.warn(f"{name}: reproduced within {REPLAY_RTOL:g} of each array's largest value (at most "
                              f"{worst:.1e} of it), not bit for bit: the BLAS threading differs from the recorded "
                              f"run's ({manifest.get('threading')})", stacklevel=2)
    return problems


def _steps_described(listed, records: list[StepRecord]) -> list[str]:
    """Where the manifest's description of the steps (operation, name, the values each ran with) is not the run's
    that the replay made: the manifest is not among the files it digests, so an edited step passed as "reproduced".
    A value the replay adds to a step older than a parameter (:meth:`Operation.replay_params`) is added to the
    manifest's account likewise."""
    if not isinstance(listed, list):
        return ["manifest: its list of steps is missing or damaged"]
    if len(listed) != len(records):
        return [f"manifest: it lists {len(listed)} steps, the recipe ran {len(records)}"]
    problems = []
    for i, (m, r) in enumerate(zip(listed, records, strict=True), start=1):
        if not isinstance(m, dict):
            problems.append(f"manifest: step {i} is damaged")
            continue
        ran = codec.encode({**r.params, **r.as_run})
        said = {**(m.get("params") or {}), **(m.get("as_run") or {})}
        try:  # what the replay adds to a step older than a parameter, added to the manifest's account too
            said = codec.encode(operation_for(r.op).replay_params(codec.decode(said)))
        except Exception:  # noqa: BLE001 - a damaged entry is a difference, named below
            pass
        # compared as JSON text: 2 and 2.0, false and 0 are other values in a manifest
        differ = sorted(k for k in set(said) | set(ran)
                        if json.dumps(said.get(k), sort_keys=True) != json.dumps(ran.get(k), sort_keys=True))
        if m.get("op") != r.op or m.get("name") != r.name or differ:
            what = f"parameter(s) {', '.join(differ)}" if differ else "its operation or name"
            problems.append(f"manifest: step {i} ({m.get('op')!r}) says other {what} than the recipe ran with")
    return problems


def _written_out(op: str, name: str, value, params: dict):
    """An array parameter in the history's own form (``{"array": [...], "dtype": ...}``) where the operation's
    declared check takes that form (an arithmetic operand); else the array, which a recipe refuses."""
    if not isinstance(value, np.ndarray):
        return value
    try:
        operation = registry.get(op)
    except registry.RegistryError:
        return value
    if name not in operation.checks:
        return value
    encoded = codec.encode(value)
    try:
        operation.check(name, encoded, params)
    except ValueError:
        return value
    return encoded


def _recipe_params(op: str, p: dict, where: str) -> dict:
    """A recorded step's parameters (decoded) as a recipe writes them: index keys as text, tuples as lists, the
    steps of an operand made from the input (``{"derived": [...]}``) likewise, a small array in the history's own
    form where the operation takes it (:func:`_written_out`); any other array is refused."""
    try:  # a step recorded before one of its parameters was: the value of that time
        p = registry.get(op).replay_params(p)
    except registry.RegistryError:
        pass  # parse() names the unknown operation
    if op in ("inav", "isig"):
        key = p["key"]
        p = {"key": format_key(key[0] if isinstance(key, tuple) and len(key) == 1 else key)}
    p = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
    p = {k: _written_out(op, k, v, p) for k, v in p.items()}
    for k, v in p.items():
        if _is_derived(v):
            p[k] = {**v, "derived": [_recipe_step(e, where) for e in v["derived"]]}
    arrays = [k for k, v in p.items() if isinstance(v, np.ndarray)]
    if arrays:  # a mask or table made in memory: a recipe names files, it holds no arrays
        raise RecipeError(f"{where} ({op}): {', '.join(map(repr, arrays))} was given as an array "
                          f"({'x'.join(map(str, p[arrays[0]].shape))}), which a recipe cannot hold; write it to a "
                          "file beside the input (a scan mask: np.save or `emscale pattern`) and name that file in "
                          "the recipe's step")
    return p


def _recipe_step(e: dict, where: str) -> dict:
    """One step of an operand made from the input, as a recipe writes it: its parameters as a step's (None, the
    default, left out: TOML has no None)."""
    params = {n: x for n, x in _recipe_params(e["op"], dict(e.get("params", {})), where).items() if x is not None}
    return {"op": e["op"], **({"output": e["output"]} if "output" in e else {}), "params": params}


def _is_derived(value) -> bool:
    """An operand made from the input by recorded steps: ``{"derived": [{"op": ..., "params": ...}, ...]}``, and
    ``"at": n`` where it starts from the signal as it was after its first ``n`` steps."""
    return (isinstance(value, dict) and set(value) in ({"derived"}, {"derived", "at"})
            and isinstance(value["derived"], list)
            and all(isinstance(e, dict) and isinstance(e.get("op"), str) for e in value["derived"]))


def _start(value) -> int | None:
    """The ``at`` of a recipe's derived operand where it is a number of steps (>= 0); None for none, and for a bad
    one, which the operation's own check names."""
    at = value.get("at") if _is_derived(value) else None
    return at if isinstance(at, int) and not isinstance(at, bool) and at >= 0 else None


def _check_starts(recipe: Recipe, st, i: int, done: int) -> None:
    """An operand's ``at`` names a state of the signal the recipe has made: at most the steps that changed it so far
    (said in the recipe's count; the operation would say it in the history's, from the raw file)."""
    if st.of is not None:
        return
    for k, v in st.params.items():
        at = _start(v)
        if at is not None and at > done:
            raise RecipeError(f"{_where(recipe, st, i)} ({st.op}): {k} starts at = {at}, but {done} step(s) of this "
                              f"recipe changed the signal before it (at = 0: the recipe's input)")


def _call_params(op: str, params: dict, before: int = 0) -> dict:
    """A recipe step's parameters as the operation takes them: an index key's text parsed (``"12:62"``), in the
    steps of an operand made from the input too. ``before``: the steps the input's own history holds after its load
    (a store saved from a session): a recipe counts an operand's ``at`` from its input, the history from the raw
    file."""
    params = dict(params)
    if op in ("inav", "isig") and "key" in params:
        params["key"] = parse_key(params["key"])
    for k, v in params.items():
        if _is_derived(v):
            params[k] = {**v, "derived": [{**e, "params": _call_params(e["op"], e.get("params", {}), before)}
                                          for e in v["derived"]]}
            if _start(v) is not None:
                params[k]["at"] = v["at"] + before
    return params


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
    made = None  # the name of the result the step before made; None: it changed the signal
    for i, e in enumerate(history[1:], start=1):
        op = e["op"]
        if op == _history.UNRECORDED:  # a recipe of the other steps would silently give other numbers
            raise RecipeError(f"{_history.unrecorded_step(i, e)}: no recipe can reproduce it")
        params = _recipe_params(op, codec.decode(e.get("params", {})), f"history entry {i}")
        of, made = _on_what_came_before(op, params, made, f"history entry {i} ({op})")
        steps.append({"op": op, **({"of": of} if of else {}), **params})
    text = to_toml(inp, steps, comment="emscale recipe exported from a signal's history")
    try:  # what we export must be a valid recipe
        parse(text, label="exported recipe")
    except RecipeError as exc:  # its line numbers are those of a text nobody was shown
        raise RecipeError(f"the recipe exported from this history does not pass a recipe's check (a step of another "
                          f"emscale, or a defect of the export; em.replay(history) re-runs the history itself):\n"
                          f"{exc}") from None
    return text


def _on_what_came_before(op: str, params: dict, made: str | None, where: str) -> tuple[str | None, str | None]:
    """Each entry of a history works on what the entry before made (``made``: the name of a result, None for the
    signal); in a recipe a step on a result names it, and the other steps work on the signal. Returns the step's
    ``of`` and the name of the result it makes (the one :func:`.schema.parse` gives it; None: it changes the
    signal)."""
    operation = operation_for(op)
    if operation is None:
        return None, None  # parse() names the unknown operation
    if operation.on is None and made is not None:  # a recipe would run it on its input's chain: other numbers
        raise RecipeError(f"{where} works on what {made!r} made, a result; a recipe's signal steps work on its "
                          "input's chain, so no recipe can reproduce it (em.replay(history) can)")
    of = made if operation.on is not None else None
    if operation.on is not None or not operation.returns_signal:
        return of, default_name(op, params, of)
    return of, None
