"""The ``emscale`` command line: info, verify, convert, history, run, replay, demo, view, train-erd.

Bad input ends with one line on stderr and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

import typer

from .core.errors import EmscaleError, SeveralSignalsError, SignalTypeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Reproducible, scalable analysis of electron-microscopy spectrum images.",
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"emscale {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    scheduler: str = typer.Option(None, "--scheduler", help="Run every pass on this Dask scheduler (tcp://host:8786)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print emscale's version and exit."),
):
    _state["debug"] = debug
    if scheduler:
        from .engine.distributed import use_cluster

        use_cluster(scheduler)


def _human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def _disk_size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def describe_file(path: Path) -> str:
    """What ``emscale info`` prints: read from the metadata only (the data are opened lazily, not read)."""
    import warnings

    from .core.result import is_result_path
    from .core.signal import key_metadata
    from .io import is_store, load_for_summary, store_summary

    if is_result_path(path):
        return describe_result(path)
    positions = describe_positions(path)
    if positions is not None:
        return positions
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_for_summary(path)  # not the SHA-256 of the whole file, which only a history needs
    signals = loaded if isinstance(loaded, list) else [loaded]
    lines = [f"{path}  ({_human_bytes(_disk_size(path))} on disk, {len(signals)} signal(s))"]
    for i, s in enumerate(signals):
        lines.append(f"[{i}] {s!r}")
        lines.append(f"    in memory: {_human_bytes(s.nbytes)}")
        for j, a in enumerate(s.user_axes):
            lines.append(f"    axis {j}: {a}")
        for k, v in key_metadata(s.metadata).items():
            lines.append(f"    {k}: {v}")
    if is_store(path):
        summary = store_summary(path)
        checks = ("each chunk's checksum is checked when it is read" if summary["checksums"] else
                  "no per-chunk checksums (older store): damage is not detected when reading")
        lines.append(f"data: not read by info; {summary['chunks']} chunk(s), {checks}; "
                     f"`emscale verify {path}` reads and checks the whole store")
    else:
        lines.append("data: not read by info (metadata only)")
    return "\n".join(lines + [f"note: {n}" for n in _load_notes(caught)])


def _load_notes(caught) -> list[str]:
    """What loading warned of, once each (axes renamed, chunks too large for lazy work, metadata read as text...);
    not a missing checksum table, which the "data:" line says, nor a library's deprecation notices."""
    from .io.store import NoChecksumsWarning

    notes = []
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, UserWarning) and not issubclass(w.category, NoChecksumsWarning) and text not in notes:
            notes.append(text)
    return notes


def describe_positions(path: Path) -> str | None:
    """What ``emscale info`` prints for a scan position list (``emscale pattern``'s ``.csv`` or ``.npy``, a scan
    generator's list: two columns of whole numbers), in one line; None for any other file. A ``.csv`` list was
    called a damaged file (RosettaSciIO's CSV readers failed on it), an ``.npy`` one an image of 2 x n pixels."""
    import numpy as np

    from .sampling.patterns import read_positions

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy") or not path.is_file() or path.stat().st_size == 0:
        return None
    if suffix == ".npy":  # an array of whole numbers, (n, 2), as save_positions writes; other arrays are data
        try:
            head = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError):
            return None
        if head.ndim != 2 or head.shape[1] != 2 or head.dtype.kind not in "iu":
            return None
    try:
        pos = read_positions(path)
    except EmscaleError:
        return None
    n, distinct = len(pos), len(np.unique(pos, axis=0)) if len(pos) else 0
    if not n:
        return f"{path}: a scan position list (row, column), not a signal file: it holds no positions"
    (r0, c0), (r1, c1) = pos.min(axis=0), pos.max(axis=0)
    repeated = f", {n - distinct} of them repeating an earlier one" if distinct < n else ""
    return (f"{path}: a scan position list (row, column), not a signal file: {n} positions{repeated}, rows {r0}-{r1}, "
            f"columns {c0}-{c1} (a grid of at least {r1 + 1} x {c1 + 1}: the list does not record its size); the mask= "
            "of sample_scan or inpaint")


def describe_result(path: Path) -> str:
    """What ``emscale info`` prints for a result file (``emscale run``'s ``pca.npz``...): what it is and its arrays."""
    from . import load_result

    r = load_result(path)
    lines = [f"{path}  ({_human_bytes(_disk_size(path))} on disk, an emscale result: {r.KIND})", f"    {r!r}"]
    for name, a in r.arrays().items():
        lines.append(f"    {name}: {' x '.join(map(str, a.shape)) or 'scalar'} {a.dtype}")
    lines.append(f"    history: {len(r.history)} step(s) (`emscale history {path}`); in Python: em.load_result(path)")
    return "\n".join(lines)


@app.command()
def info(file: Path = typer.Argument(..., help="A vendor file or an emscale .zarr store.")):
    """Signals in FILE: shapes (navigation|signal), axes with calibration and units, dtype, type, sizes."""
    typer.echo(describe_file(file))


@app.command()
def verify(file: Path = typer.Argument(..., help="An emscale .zarr store, or a result's .npz.")):
    """Read every chunk of FILE, check each against its checksum, the numbers against their recorded digest and the
    axes, dtype, type and metadata against theirs; of a result (.npz), its numbers and description against the
    content digest it was saved with."""
    from .core.result import is_result_path, verify_result
    from .io import verify as _verify

    if is_result_path(file):
        r = verify_result(file)
        typer.echo(f"{file}: OK, an emscale result ({r['kind']}): its {r['arrays']} arrays and description match the "
                   f"content digest recorded when it was saved (sha256 {r['sha256'][:12]}...)")
        return
    result = _verify(file)
    checked = ["chunk checksums"] * result["checksums"] + ["data digest"] + ["metadata digests"] * result["meta"]
    kind = ", ".join(checked[:-1]) + " and " + checked[-1] if len(checked) > 1 else checked[0]
    line = f"{file}: OK, {result['chunks']} chunks, {kind} match (sha256 {result['data_sha256'][:12]}...)"
    if not result["checksums"]:  # a store written by an earlier emscale: what could not be checked is said
        line += "; an older store, without chunk checksums"
    if not result["meta"]:
        line += "; an older store, without metadata digests: its axes, dtype, signal type and metadata are not checked"
    elif not result.get("records", True):
        line += "; an older store, without digests of its history and original metadata: those are not checked"
    typer.echo(line)


def _parse_chunks(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise EmscaleError(f"--chunks must be comma-separated integers, got {text!r}") from None


def _pick_one(signal_type: str | None) -> str:
    """How to pick one of several signals on the command line (``--signal-type`` given: those of that type)."""
    return "pick one with --index" + ("" if signal_type else " or --signal-type")


@contextlib.contextmanager
def _options_named(signal_type: str | None, what: str):
    """The advice of a :class:`SignalChoiceError` in the command line's options (its message names the keywords)."""
    try:
        yield
    except SeveralSignalsError as exc:
        raise SeveralSignalsError(exc.held, f"{_pick_one(signal_type)} {what}") from None
    except SignalTypeError as exc:
        advice = SignalTypeError.relabel_advice("--signal-type", exc.wanted)
        raise SignalTypeError(exc.held, exc.wanted, advice) from None


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Vendor file to convert."),
    dst: Path = typer.Argument(..., help="Output .zarr store."),
    chunks: str = typer.Option(None, help="Chunk shape in numpy order, e.g. 16,16,2048."),
    overwrite: bool = typer.Option(False, help="Replace an existing output."),
    signal_type: str = typer.Option(None, help="Pick the signal of this type in a multi-signal file."),
    index: int = typer.Option(None, help="Pick the signal at this position in a multi-signal file."),
):
    """Stream SRC into the native zarr store DST with bounded memory."""
    from . import convert as _convert
    from .engine.progress import ProgressBar

    if dst.suffix.lower() != ".zarr":  # ".zarr" alone is a hidden file's name, without a suffix: said as such
        raise EmscaleError(f"output {dst}: must be a name ending in .zarr (e.g. data.zarr)")
    kwargs = {}
    if signal_type:
        kwargs["signal_type"] = signal_type
    if index is not None:
        kwargs["index"] = index
    with ProgressBar(f"convert {src.name}") as bar, _options_named(signal_type, "to convert"):
        _convert(src, dst, chunks=_parse_chunks(chunks), overwrite=overwrite, progress=bar, **kwargs)
    typer.echo(f"wrote {dst} ({_human_bytes(_disk_size(dst))})")


@app.command()
def history(
    file: Path = typer.Argument(..., help="An emscale .zarr store (or any loadable file)."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw history as JSON."),
    as_recipe: bool = typer.Option(False, "--as-recipe", help="Print a recipe (TOML) that reproduces it."),
    signal_type: str = typer.Option(None, help="Pick the signal of this type in a multi-signal file."),
    index: int = typer.Option(None, help="Pick the signal at this position in a multi-signal file."),
):
    """The processing history recorded with a signal or a result."""
    from . import load_result
    from .core.result import is_result_path
    from .io import load_picked, several_signals

    if is_result_path(file):
        loaded = load_result(file)  # first: a damaged result, or another's .npz, is no result to speak of
        if signal_type or index is not None:
            raise EmscaleError(f"{file} is an emscale result, which holds one history: --index and --signal-type "
                               "pick among the signals of a file")
    else:
        with _options_named(signal_type, "for the history"):
            loaded = load_picked(file, lazy=True, signal_type=signal_type, index=index)
    if isinstance(loaded, list) and (as_json or as_recipe):  # documents one after the other are no JSON or TOML
        raise SeveralSignalsError(several_signals(file, loaded, signal_type),
                                  f"{_pick_one(signal_type)} for {'--json' if as_json else '--as-recipe'}")
    signals = loaded if isinstance(loaded, list) else [loaded]
    for i, s in enumerate(signals):
        if as_recipe:
            from .workflows.recipes import recipe_from_history

            typer.echo(recipe_from_history(s.history))
            continue
        if as_json:
            typer.echo(json.dumps(s.history, indent=2))
            continue
        if len(signals) > 1:
            typer.echo(f"[{i}] {s!r}")
        for k, e in enumerate(s.history):
            params = ", ".join(f"{p}={_shown(v)}" for p, v in _decoded(e.get("params", {})).items())
            src = e.get("source")
            extra = f"  <- {src['path']} sha256:{src['sha256'][:12]}" if src else ""
            typer.echo(f"{k:3d}  {e.get('time', '')}  {e['op']}({params})  emscale {e.get('version', '?')}{extra}")


def _decoded(params):
    """A history entry's parameters as Python values (the codec's tags undone: tuples, slices, arrays)."""
    from .core.codec import decode

    try:
        out = decode(params)
    except Exception:  # noqa: BLE001 - a damaged entry is still shown, as stored
        return params if isinstance(params, dict) else {"params": params}
    return out if isinstance(out, dict) else {"params": out}


def _shown(v) -> str:
    """A parameter as Python would write it: ``(70.2, 97.2)``, ``slice(94.5, 110.1)``; an array by its size."""
    import numpy as np

    if isinstance(v, slice):
        parts = [v.start, v.stop] + ([v.step] if v.step is not None else [])
        return f"slice({', '.join(_shown(x) for x in parts)})"
    if isinstance(v, tuple):
        return f"({', '.join(_shown(x) for x in v)}{',' if len(v) == 1 else ''})"
    if isinstance(v, list):
        return f"[{', '.join(_shown(x) for x in v)}]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_shown(x)}" for k, x in v.items()) + "}"
    if isinstance(v, np.ndarray):
        if v.size <= 8:
            return f"np.array({v.tolist()!r}, dtype={str(v.dtype)!r})"
        return f"<array {v.dtype} {'x'.join(map(str, v.shape))}>"
    if v is Ellipsis:
        return "..."
    return repr(v)


@app.command()
def demo(
    out: Path = typer.Option(Path("emscale_demo"), "-o", "--out", help="Output directory."),
    seed: int = typer.Option(0, help="Seed of the generated samples and of every random choice."),
    overwrite: bool = typer.Option(False, help="Replace the files of an earlier demo in OUT (only a folder the demo "
                                   "wrote; files of yours in it are kept)."),
):
    """Run every pipeline (EDS, EELS, CS-STEM, tomography) on the embedded samples and the real tilt series,
    write the reports and a landing page OUT/index.html."""
    from rich.console import Console

    from .workflows.demo import describe, run_demo

    console = Console(stderr=True, log_path=False)
    with console.status("emscale demo") as status:
        summary = run_demo(out, seed=seed, overwrite=overwrite, progress=lambda msg: status.update(msg),
                           log=console.log)
    for key, s in summary.items():
        typer.echo(f"{key}: {describe(s)}")
    typer.echo(f"report: {out / 'index.html'}")


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe file (TOML)."),
    out: Path = typer.Option(..., "-o", "--out", help="Results folder."),
    overwrite: bool = typer.Option(False, help="Replace an existing results folder."),
):
    """Validate and run RECIPE, writing results (zarr), a manifest and an HTML report into OUT."""
    from .workflows.recipes import load_recipe, run_recipe

    rec = load_recipe(recipe)  # the whole recipe is validated before any work starts
    with _Steps() as bar:
        result = run_recipe(rec, out, overwrite=overwrite, progress=bar)
    n = len(result.steps)
    typer.echo(f"wrote {out} ({n} step{'' if n == 1 else 's'}, report {out / rec.output['report']})")


@app.command()
def pattern(
    kind: str = typer.Argument(..., help="random, line_hop or jittered_grid."),
    out: Path = typer.Option(..., "-o", "--out", help="Position list to write: .csv (row,column) or .npy."),
    shape: tuple[int, int] = typer.Option(..., "--shape", metavar="ROWS COLUMNS", help="Scan grid: --shape 64 80."),
    fraction: float = typer.Option(0.1, help="Share of the scan positions measured, in (0, 1]."),
    seed: int = typer.Option(0, help="Seed of the pattern: the same seed, the same positions."),
    order: str = typer.Option("raster", help="Scan order: raster, or serpentine (odd rows right to left)."),
    mean_run: float = typer.Option(None, help="line_hop only: mean number of consecutive measured pixels (default 4)."),
    overwrite: bool = typer.Option(False, help="Replace an existing position list."),
):
    """Write the positions of a sparse scan pattern, in scan order, for a scan generator to consume."""
    from .sampling.patterns import make_pattern, save_positions

    if mean_run is not None and kind != "line_hop":
        raise EmscaleError(f"--mean-run applies to line_hop scans only, not to {kind}")
    mask = make_pattern(kind, shape, fraction, seed, **({} if mean_run is None else {"mean_run": mean_run}))
    save_positions(mask, out, order=order, overwrite=overwrite)
    typer.echo(f"wrote {out}: {int(mask.sum())} of {mask.size} positions ({mask.mean():.2%}), {kind}, seed {seed}, "
               f"{order} order")


@app.command()
def replay(
    outdir: Path = typer.Argument(..., help="A results folder written by `emscale run`."),
    input_path: Path = typer.Option(None, "--input", help="The raw input, where it moved (its SHA-256 must match)."),
):
    """Re-run the recorded recipe from the raw input and verify every output is bit-identical."""
    from .workflows.recipes import replay_outdir

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = replay_outdir(outdir, input_path=input_path)
    for w in caught:
        if not issubclass(w.category, ResourceWarning):  # a reader's unclosed file (rosettasciio's MRC) is not news
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if problems:
        for p in problems:
            typer.echo(f"DIFFERENT: {p}", err=True)
        raise typer.Exit(1)
    close = sum("not bit for bit" in str(w.message) for w in caught)
    typer.echo(f"replay of {outdir}: every output reproduced " + (
        "bit for bit" if not close else f"({close} within the tolerance the warnings give, the rest bit for bit)"))


@app.command()
def view(
    file: Path = typer.Argument(..., help="A vendor file or an emscale .zarr store (opened lazily)."),
    index: int = typer.Option(None, "--index", help="Which signal of a file that holds several."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL instead of opening a browser."),
    port: int = typer.Option(None, "--port", help="A fixed port on 127.0.0.1 (default: a free one)."),
):
    """Explore FILE in the browser: navigator map, pixel and region spectra, energy-window maps; an image or a stack
    of them (a tilt series) image by image (Ctrl-C ends)."""
    from .viewer import main_view

    raise typer.Exit(main_view(file, index=index, no_browser=no_browser, port=port))


@app.command("train-erd")
def train_erd(
    images: list[Path] = typer.Argument(..., help="Training images: files, .zarr stores or folders of them "
                                                  "(every 2-D image, stack frame or map they hold; .npy too)."),
    out: Path = typer.Option(..., "-o", "--out", help="The model file to write (.json)."),
    fraction: list[float] = typer.Option(None, "--fraction", help="Share of pixels measured in a training mask "
                                         "(repeat for several; default 0.02 0.05 0.1 0.2 0.3 0.4)."),
    seed: int = typer.Option(0, help="Seed of the training masks and pixel draws."),
    n_pixels: int = typer.Option(4000, "--n-pixels", help="Unmeasured pixels drawn per image and fraction."),
    regressor: str = typer.Option("mlp", help="The regression: mlp (three small perceptrons, averaged) or poly2 "
                                              "(degree-2 polynomial, the version-1 model)."),
    overwrite: bool = typer.Option(False, help="Replace an existing model file."),
):
    """Train a SLADS ERD model (dynamic sampling) on IMAGES and write it as JSON, atomically."""
    from .core.atomic import check_output_file
    from .sampling.slads_train import train_erd_from_files

    if out.suffix.lower() != ".json":
        raise EmscaleError(f"output {out} must end in .json (the model is written as JSON)")
    check_output_file(out, overwrite)  # now, not after a training of seconds to minutes
    kw = {"fractions": tuple(fraction)} if fraction else {}
    model, sources = train_erd_from_files(images, seed=seed, n_pixels=n_pixels, regressor=regressor, **kw)
    model.save(out, overwrite=overwrite)
    for path, n in sources:
        typer.echo(f"  {path}: {n} image(s)")
    i = model.info
    typer.echo(f"wrote {out}: ERD model ({i['regressor']}) on {i['n_images']} images, fractions {i['fractions']}, "
               f"{i['n_samples']} samples, R^2 {i['r2']:.3f}, seed {i['seed']}")


class _Steps:
    """A rich progress bar over recipe steps, shown from the first step on: an error before (the output folder, the
    input) is printed alone, not under an empty bar."""

    _p = None

    def __enter__(self):
        return self

    def __call__(self, i: int, n: int, op: str):
        if self._p is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn(), console=Console(stderr=True))  # stdout: the results only
            self._p.__enter__()
            self._task = self._p.add_task("recipe", total=n)
        self._p.update(self._task, completed=i, total=n, description=f"step {min(i + 1, n)}/{n}: {op}")

    def __exit__(self, *exc):
        from .engine.progress import close_bar

        return None if self._p is None else close_bar(self._p, exc)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage-error classes, abort classes) as typer raises them: typer 0.2x vendors click as ``typer._click`` and
    has its own ``Abort``, which are not click's classes (a bad option printed ``NoSuchOption: ...`` and no usage)."""
    import importlib

    import click

    usage, abort = [click.ClickException], [click.exceptions.Abort]
    for module, name, into in (("typer._click.exceptions", "ClickException", usage),
                               ("typer.exceptions", "Abort", abort)):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:  # an older typer on the installed click
            cls = None
        if isinstance(cls, type) and cls not in into:
            into.append(cls)
    return tuple(usage), tuple(abort)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning expected errors into one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # restores the standard display and signal handlers on return
    with warnings.catch_warnings(), _signals_noted() as received:
        if not debug:
            warnings.showwarning = _warning_line
        return _main(args, debug, received)


class _Terminated(SystemExit):
    """SIGTERM (a timeout, the end of a SLURM job) as an exception in the main thread: what is being written is
    removed on the way out, as on Ctrl-C (the clean-up of ``core.atomic``), and the exit code is 143 (128 + 15),
    that of a process the signal ended. By default SIGTERM ended the process at once and left a ``convert``'s
    hidden temporary store (hundreds of MB) behind."""


# what a process ended by each signal says, as its last line on stderr
_SIGNAL_SAID = {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted (SIGINT)"}


@contextlib.contextmanager
def _signals_noted():
    """SIGTERM raised as :class:`_Terminated`, Ctrl-C as Python's KeyboardInterrupt (what catches it, the viewer's
    stop, still does); each one received is noted in the list yielded, for :func:`_main` to report it as itself
    whatever it surfaced as: typer turns a KeyboardInterrupt into exit code 130, said nowhere, and a numba kernel
    (NMF's) that the signal interrupts raises "SystemError: CPUDispatcher(...) returned a result with an exception
    set"."""
    import signal

    received: list[signal.Signals] = []

    def terminated(signum, frame):
        received.append(signal.Signals(signum))
        raise _Terminated(128 + signum)

    def interrupted(signum, frame):
        received.append(signal.Signals(signum))
        raise KeyboardInterrupt

    handlers = {signal.SIGTERM: terminated}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where it is ignored (a background job)
        handlers[signal.SIGINT] = interrupted
    try:
        previous = {s: signal.signal(s, h) for s, h in handlers.items()}
    except ValueError:  # not the main thread (main() called from a thread): signals cannot be caught there
        yield received
        return
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _ended_by(sig) -> None:
    """Ends the process as the signal ``sig`` would have, its one line said: the clean-up ran on the way here; a
    thread stuck in a read (a store's chunk that is a pipe) would keep the process alive after main returned, as it
    did until a SIGKILL."""
    print(f"emscale: {_SIGNAL_SAID[sig.name]}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + sig)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr, as errors are (Python's display adds the source file and line)."""
    print(f"emscale: warning: {message}", file=sys.stderr if file is None else file)


def _main(args: list[str], debug: bool, received: list) -> int:
    try:
        rc = app(args=args, standalone_mode=False)  # returns the code of a typer.Exit
    except BaseException:
        if received:  # whatever the signal surfaced as: a numba kernel's SystemError, a reader's "cannot read"
            _ended_by(received[-1])
        return _error_code(debug)
    if received and rc == 128 + received[-1]:  # typer's exit code 130 for Ctrl-C's KeyboardInterrupt
        _ended_by(received[-1])
    return rc if isinstance(rc, int) else 0


def _error_code(debug: bool) -> int:
    """The exit code of the exception being handled, said in one line on stderr."""
    try:
        raise
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0)
    except (EmscaleError, OSError, ValueError, KeyError) as exc:
        if debug:
            raise
        from .workflows.recipes import RecipeError

        lines = str(exc).splitlines() or [type(exc).__name__]
        if not isinstance(exc, RecipeError):  # a recipe's check lists every problem, one per line; else one line
            lines = lines[:1]
        for line in lines:
            print(f"emscale: error: {line}", file=sys.stderr)
        return 2
    except Exception as exc:  # click's own usage errors
        usage, abort = _click_exceptions()
        if isinstance(exc, usage):
            exc.show()
            return exc.exit_code
        if isinstance(exc, abort):
            print("emscale: aborted", file=sys.stderr)
            return 1
        if debug:
            raise
        print(f"emscale: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
