"""Recipe files (TOML): parsing and whole-recipe validation before any work starts.

A recipe::

    [input]
    path = "sample.zarr"          # relative to the recipe file
    sha256 = "..."                # optional: refuse a different file
    signal_type = "EELS"          # optional: pick one signal of a multi-signal file (one signal: its type, as em.load)
    index = 0                     # optional: pick by position
    lazy = false

    [[step]]
    op = "remove_background"
    signal_range = [70.2, 97.2]

    [[step]]
    op = "isig"
    key = "94.5:110.1"            # slices as text: ints are indices, floats calibrated values

    [[step]]
    op = "decompose"
    name = "pca"                  # results are named; later steps can refer to them
    method = "pca"
    n_components = "auto"

    [[step]]
    op = "cluster"
    of = "pca"
    n_clusters = 3

    [output]
    signal = "signal.zarr"        # the processed signal (after the last signal step)
    report = "report.html"

A step's ``op`` is any operation of the registry (:mod:`emscale.core.registry`), its keys the operation's
parameters (checked against its signature before anything runs). Operations that make a Signal from the current
signal (``inav``, ``isig``, reductions, ``rebin``, ``remove_background``...) replace it; the others
(``decompose``) add a named result, and operations on a result (``cluster``, ``loadings``...) take
``of = "<name>"`` and add a named result too.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core import registry
from ...core.errors import EmscaleError


class RecipeError(EmscaleError):
    """A recipe that cannot run; the message names the file, line and key."""


@dataclass
class Step:
    op: str
    params: dict
    name: str | None = None
    of: str | None = None
    line: int | None = None


@dataclass
class Recipe:
    input: dict
    steps: list[Step]
    output: dict = field(default_factory=lambda: {"signal": "signal.zarr", "report": "report.html"})
    source: Path | None = None
    text: str = ""

    @property
    def base(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def input_path(self) -> Path:
        p = Path(self.input["path"])
        return p if p.is_absolute() else (self.base / p)


# -- steps are the registered operations ---------------------------------------------------------------------------
def operation_for(op: str):
    """The registered operation a step names, or None."""
    try:
        return registry.get(op)
    except registry.RegistryError:
        return None


# Parameters a recipe does not set: arrays of the data's shape (a mask) and the execution options.
_NOT_PARAMS = {"executor", "progress", "navigation_mask", "signal_mask"}
_TYPE_NAMES = {int: "integer", float: "number", str: "string", bool: "true/false", list: "list", dict: "table"}


def parse_key(key) -> Any:
    """``"12:62"`` -> slice(12, 62); ``"94.5:110.1"`` -> slice(94.5, 110.1); ``[":", "3"]`` -> (slice(None), 3)."""
    if isinstance(key, list):
        return tuple(parse_key(k) for k in key)
    if isinstance(key, int | float) and not isinstance(key, bool):
        return key
    if not isinstance(key, str):
        raise RecipeError(f"index {key!r} must be text like '12:62' or '94.5:110.1', or a number")
    text = key.strip()
    if text in ("...", "Ellipsis"):
        return Ellipsis
    if "," in text:  # Python's s.inav[:, 12:62] written as one string: one index per axis is a TOML list
        items = ", ".join(f'"{k.strip()}"' for k in text.split(","))
        raise RecipeError(f"index {key!r} names several axes in one string; write one per axis as a TOML list: "
                          f"key = [{items}]")
    if ":" not in text:
        return _num(text)
    parts = text.split(":")
    if len(parts) > 3:
        raise RecipeError(f"index {key!r} has too many ':'")
    vals = [None if p.strip() == "" else _num(p) for p in parts]
    return slice(*vals)


def _num(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise RecipeError(f"{text!r} is not a number") from None


def format_key(key) -> str | list:
    """Inverse of :func:`parse_key` for recipes exported from history."""
    if isinstance(key, tuple):
        return [format_key(k) for k in key]
    if isinstance(key, slice):
        parts = ["" if v is None else repr(v) for v in (key.start, key.stop)]
        if key.step is not None:
            parts.append(repr(key.step))
        return ":".join(parts)
    if key is Ellipsis:
        return "..."
    return repr(key)


def _type_ok(value, expected: tuple) -> bool:
    for t in expected:
        if t is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t not in (int, float) and isinstance(value, t):
            return True
    return False


def _expected_types(param: inspect.Parameter) -> tuple | None:
    """Types a parameter accepts, from its annotation text or its default; None when anything goes."""
    ann = param.annotation
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    if param.annotation is inspect.Parameter.empty:
        d = param.default
        if d is inspect.Parameter.empty or d is None:
            return None
        if isinstance(d, tuple):
            return (list,)
        return (type(d),) if type(d) in _TYPE_NAMES else None
    types = []
    for token, t in (("int", int), ("float", float), ("str", str), ("bool", bool), ("tuple", list),
                     ("list", list), ("Sequence", list), ("dict", dict)):
        if token in text:
            types.append(t)
    if re.search(r"Literal\[[^\]]*['\"]", text):  # Literal["auto"]: a string, checked against its choices
        types.append(str)
    if not types or "Any" in text:
        return None
    return tuple(dict.fromkeys(types))


def _literal_strings(param: inspect.Parameter) -> set[str] | None:
    """The strings a parameter annotated ``int | Literal["auto"]`` accepts; None when any string goes."""
    ann = param.annotation
    text = ann if isinstance(ann, str) else str(ann)
    found = re.findall(r"Literal\[([^\]]*)\]", text)
    if not found or "str" in re.sub(r"Literal\[[^\]]*\]", "", text):
        return None
    return {v for group in found for v in ast.literal_eval(f"[{group}]") if isinstance(v, str)}


def _param_problems(where: str, op, params: dict) -> list[str]:
    """Every problem with a step's parameters, one line each (a recipe reports all of them at once)."""
    # keywords passed on to another operation (edge_map's to remove_background) are that operation's to check
    owners = {n: target for n, (_, target) in op.forwarded().items() if n not in _NOT_PARAMS}
    allowed = {n: _expected_types(p) for n, p in op.parameters.items()
               if n not in _NOT_PARAMS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    allowed |= {n: _expected_types(target.parameters[n]) for n, target in owners.items()}
    open_ended = op.forwards is None and any(p.kind is p.VAR_KEYWORD for p in op.parameters.values())
    problems = [f"{where}: step {op.name!r} needs parameter {n!r}" for n, p in op.parameters.items()
                if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and n not in params]
    arguments = {n: p.default for n, p in op.parameters.items() if p.default is not inspect.Parameter.empty} | params
    for k, v in params.items():
        if k not in allowed:
            if not (open_ended and k not in _NOT_PARAMS):
                close = difflib.get_close_matches(k, list(allowed), n=1)
                # the operation's own advice for a keyword a caller may try (HyperSpy's fast=True), as in Python
                hint = f": {k} {op.hints[k]}" if k in op.hints else f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{where}: step {op.name!r} has no parameter {k!r}{hint}; allowed: "
                                f"{', '.join(sorted(allowed))}")
            continue
        problem = _value_problem(where, op, k, v, allowed[k], arguments, owners.get(k, op))
        if problem:
            problems.append(problem)
    return problems


def _value_problem(where: str, op, k: str, v, expected, arguments: dict, owner=None) -> str | None:
    """The first thing wrong with the value ``v`` of parameter ``k`` (``arguments``: every parameter of the step,
    for a check that depends on another), or None; ``owner``: the operation that takes ``k`` where ``op`` passes
    it on (by default ``op``)."""
    owner = op if owner is None else owner
    if expected is not None and not _type_ok(v, expected):
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in expected)
        return f"{where}: parameter {k!r} of step {op.name!r} must be {names}, got {v!r}"
    if isinstance(v, float) and not math.isfinite(v):
        return f"{where}: parameter {k!r} of step {op.name!r} is not finite"
    try:  # the operation's own test of the value (names, with the spellings it accepts)
        owner.check(k, v, arguments)
    except (ValueError, TypeError) as exc:
        return f"{where}: parameter {k!r} of step {op.name!r}: {exc}"
    choices = _literal_strings(owner.parameters[k]) if k in owner.parameters else None
    if choices is not None and isinstance(v, str) and v not in choices:
        return (f"{where}: parameter {k!r} of step {op.name!r} must be one of "
                f"{', '.join(map(repr, sorted(choices)))} (or a value of another listed type), got {v!r}")
    return None


INPUT_KEYS = {"path": str, "sha256": str, "signal_type": str, "index": int, "lazy": bool}


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line_of(text: str, table: str | None, key: str) -> str:
    """``":N"``, the line of the recipe ``text`` where ``key`` is set in ``table`` (None: the top level, where a
    table ``[key]`` counts too), or ``""`` where no line says so plainly."""
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?(\s*#.*)?", s)
        if header:
            current = header.group(1).strip("\"' ")
            if table is None and current == key:
                return f":{n}"
        elif current == table and re.match(rf"[\"']?{re.escape(key)}[\"']?\s*=", s):
            return f":{n}"
    return ""


def _step_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[step]]")]


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 100  # characters: a file name (with its suffix and the temporary folder's) stays far below 255 bytes
# what a results folder holds of its own: the manifest's "signal" entry, manifest.json, report.html, recipe.toml
RESERVED_NAMES = ("signal", "manifest", "report", "recipe")


def output_name(where: str, value, suffix: str = "") -> str:
    """A name that becomes a file inside the results folder: plain (no folder, no ``..``, not absolute), so that
    a recipe from someone else can never write outside its output folder."""
    if not isinstance(value, str):
        raise RecipeError(f"{where} must be text (a file name), got {value!r}")
    if not _PLAIN_NAME.fullmatch(value) or ".." in value:
        raise RecipeError(f"{where} = {value!r} must be a plain file name (letters, digits, '_', '-', '.'; no "
                          "folders, no '..'): outputs stay inside the results folder")
    if len(value) > MAX_NAME:
        raise RecipeError(f"{where} is {len(value)} characters long; at most {MAX_NAME}")
    if suffix and not value.endswith(suffix):
        raise RecipeError(f"{where} = {value!r} must end with {suffix!r}")
    return value


def default_name(op: str, params: dict, of: str | None = None) -> str:
    """The name of a result step that names none: the operation's own (``decompose``: its method), else
    ``<of>_<op>`` for one on a result (``nmf_loadings``), else the operation's name."""
    operation = operation_for(op)
    values = {k: p.default for k, p in operation.parameters.items()} | params | {"of": of}
    return (operation.result_name or ("{of}_" + op if of else op)).format(**values)


def _parse_step(i: int, raw: dict, where: str, line: int | None, names: set[str]) -> Step:
    """One step, checked against the registered operation it names; ``names`` collects result names."""
    params = dict(raw)
    op = params.pop("op", None)
    if not isinstance(op, str):
        raise RecipeError(f"{where}: step {i + 1} needs op = \"...\"")
    name = params.pop("name", None)
    of = params.pop("of", None)
    operation = operation_for(op)
    if operation is None:
        raise RecipeError(f"{where}: unknown step {op!r}{_did_you_mean(op, registry.operations())}; known: "
                          f"{', '.join(sorted(registry.operations()))}")
    if operation.on is not None:  # works on an earlier result, named by `of`
        if of is None and len(names) == 1:
            of = next(iter(names))
        if of not in names:
            raise RecipeError(f"{where}: {op} needs of = the name of an earlier result step "
                              f"({', '.join(sorted(names)) or 'there is none'})")
    elif of is not None:
        raise RecipeError(f"{where}: step {op!r} works on the current signal and takes no 'of'")
    problems = []
    if op in ("inav", "isig"):
        if "key" not in params:
            problems.append(f"{where}: step {op!r} needs key = \"start:stop\"")
        else:
            try:
                parse_key(params["key"])
            except RecipeError as exc:
                problems.append(f"{where}: key of step {op!r}: {exc}")
    keyless = op in ("inav", "isig") and "key" not in params  # said above, with the form the key takes
    problems += [p for p in _param_problems(where, operation, params)
                 if not (keyless and p.endswith("needs parameter 'key'"))]
    if operation.on is not None or not operation.returns_signal:
        if name is None:
            name = default_name(op, params, of)
        try:
            output_name(f"{where}: name", name)
        except RecipeError as exc:
            problems.append(str(exc))
        if name.lower() in RESERVED_NAMES:
            problems.append(f"{where}: result name {name!r} is the results folder's own ({', '.join(RESERVED_NAMES)} "
                            "are taken); choose another")
        if name in names:
            problems.append(f"{where}: result name {name!r} is used twice")
        names.add(name)
    elif name is not None:
        problems.append(f"{where}: step {op!r} changes the signal and takes no name" + (
            "; an axis's new name is rename = ..." if op == "calibrate" else ""))
    if problems:
        raise RecipeError("\n".join(problems))
    return Step(op, params, name=name, of=of, line=line)


def parse(text: str, source: Path | None = None, label: str = "<recipe>") -> Recipe:
    """Parse and validate a whole recipe; every problem found is reported in one :class:`RecipeError`, one line
    each, naming the line and key (in ``source``, else in the text ``label`` names)."""
    label = str(source) if source else label
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{label}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib's parser recurses per nesting level: 200 000 '[' ended in a bare RecursionError
        raise RecipeError(f"{label}: not a recipe: its values are nested too deeply to read") from None
    except ValueError as exc:  # Python's own limits: an integer of 5000 digits ("Exceeds the limit ..."), unnamed
        raise RecipeError(f"{label}: not a recipe: a value it holds cannot be read ({exc})") from None
    # every problem of the tables, the steps and the names is collected and reported at once (a recipe with four
    # typos took three runs to show them, a review)
    errors = []
    for k in sorted(set(doc) - {"input", "step", "output"}):
        # a [recipe] table, a top-level version = 99: nothing reads them, and a typo would pass unseen
        errors.append(f"{label}{_line_of(text, None, k)}: unknown top-level table or key {k!r}"
                      f"{_did_you_mean(k, ('input', 'step', 'output'))}; a recipe holds only [input], [[step]] and "
                      "[output]")
    inp = doc.get("input")
    if not isinstance(inp, dict) or "path" not in inp:
        errors.append(f"{label}: [input] with a 'path' is required")
        inp = inp if isinstance(inp, dict) else {}
    for k in sorted(set(inp) - set(INPUT_KEYS)):
        errors.append(f"{label}{_line_of(text, 'input', k)}: [input] has unknown key {k!r}"
                      f"{_did_you_mean(k, INPUT_KEYS)}; allowed: {', '.join(INPUT_KEYS)}")
    for k, t in INPUT_KEYS.items():
        if k in inp and not _type_ok(inp[k], (t,)):
            errors.append(f"{label}{_line_of(text, 'input', k)}: [input] {k} must be {_TYPE_NAMES[t]}, "
                          f"got {inp[k]!r}")
    out = {"signal": "signal.zarr", "report": "report.html"}
    out_doc = doc.get("output", {})
    if not isinstance(out_doc, dict):
        errors.append(f"{label}: output must be an [output] table")
        out_doc = {}
    for k in sorted(set(out_doc) - set(out)):
        errors.append(f"{label}{_line_of(text, 'output', k)}: [output] has unknown key {k!r}"
                      f"{_did_you_mean(k, out)}; allowed: signal, report")
    out.update({k: v for k, v in out_doc.items() if k in out})
    for key, suffix in (("signal", ".zarr"), ("report", ".html")):
        try:
            output_name(f"{label}: [output] {key}", out[key], suffix)
        except RecipeError as exc:
            errors.append(str(exc))
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list):
        raise RecipeError(f"{label}: steps must be written as [[step]] tables")
    lines = _step_lines(text)
    steps: list[Step] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        line = lines[i] if i < len(lines) else None
        where = f"{label}:{line}" if line else f"{label}: step {i + 1}"
        try:
            steps.append(_parse_step(i, raw, where, line, names))
        except RecipeError as exc:  # every step is checked: all the problems are reported at once
            errors.append(str(exc))
    # a result named N is written as N.zarr (a Signal) or N.npz: the first must not be the output signal's file
    errors += [f"{label}:{st.line or ''} result name {st.name!r} would be written as {st.name}.zarr, the [output] "
               f"signal's file; choose another name or another [output] signal" for st in steps
               if st.name is not None and f"{st.name}.zarr".lower() == str(out["signal"]).lower()]
    if errors:
        raise RecipeError("\n".join(errors))
    return Recipe(input=inp, steps=steps, output=out, source=source, text=text)


def load_recipe(path) -> Recipe:
    p = Path(path)
    if p.is_dir():  # was "no such recipe file", for a folder that is there
        raise RecipeError(f"{p}: a folder, not a recipe file")
    if not p.is_file():
        raise RecipeError(f"{p}: no such recipe file")
    return parse(recipe_text(p), source=p.resolve())


def recipe_text(path: Path) -> str:
    """The text of the recipe file ``path``: UTF-8 (TOML's encoding), with or without the byte-order mark Windows
    editors write, or UTF-16 with its mark (what PowerShell 5's ``>`` writes); anything else is an error that names
    the file (a Latin-1 recipe failed with the codec's words and no file name)."""
    raw = Path(path).read_bytes()
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the "
                          "recipe as UTF-8") from None


# -- writing ----------------------------------------------------------------------------------------------------
def _toml_value(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # TOML has no surrogate-pair escapes for characters beyond the BMP
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):  # an inline table, e.g. scale = {y = 4, x = 4}
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    shown = repr(v)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."  # an array's repr ran to 120 lines of the error
    raise RecipeError(f"value {shown} ({type(v).__name__}) cannot be written to a recipe")


def _toml_key(k: str) -> str:
    import json
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def to_toml(input_: dict, steps: list[dict], output: dict | None = None, comment: str = "") -> str:
    """A recipe text; parameters equal to None are left out (they mean 'the default')."""
    lines = [f"# {c}" for c in comment.splitlines()] + ([""] if comment else [])
    lines.append("[input]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in input_.items() if v is not None]
    for st in steps:
        lines += ["", "[[step]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in st.items() if v is not None]
    if output:
        lines += ["", "[output]"] + [f"{k} = {_toml_value(v)}" for k, v in output.items()]
    return "\n".join(lines) + "\n"
