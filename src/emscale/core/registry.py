"""The operation registry: each public operation is declared once, and from that declaration it is recorded in
the history, replayable, usable as a recipe step and, where declared so, a method.

>>> @operation("remove_background", method=True)
... def remove_background(s: Signal, signal_range, model: str = "powerlaw", executor=None, progress=None):
...     ...
...     return derive(s, out, s.axes)

Calling a declared operation binds its arguments to the signature (defaults filled in) and runs it; the
object it returns (a Signal or a result with a ``history`` list; for a tuple, each such value in it) gets the
history of the input plus one entry ``{"op": name, "params": bound arguments}`` (and ``"output": i`` for the
``i``-th value of a tuple, ``i > 0``). ``executor`` and
``progress`` change where and how visibly the work runs, never the numbers, so they are not recorded.
Operations called *inside* another operation are not recorded: the outer call is the step a user made.

The registry knows nothing of the layers above: packages declare their operations when they are imported, and
importing :mod:`emscale` imports every operation package.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ArgumentError, EmscaleError, check_flag, check_progress
from .history import entry

NOT_RECORDED = frozenset({"executor", "progress"})

_inside = contextvars.ContextVar("emscale_operation_depth", default=0)


@dataclass(frozen=True)
class Operation:
    """One declared operation. ``function`` is the recording callable; ``implementation`` the plain one."""

    name: str
    function: Callable
    implementation: Callable
    signature: inspect.Signature
    on: type | None  # type of the first parameter, the signal or result the operation works on; None: a Signal
    method: str | None = None
    not_recorded: frozenset = field(default_factory=frozenset)
    result_name: str | None = None
    checks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    before_recorded: Callable[[dict], dict] | None = None
    hints: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, Callable[[Any, list], Any]] = field(default_factory=dict)
    forwards: str | None = None  # the operation that the ``**keywords`` go to
    forward_except: frozenset = field(default_factory=frozenset)

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The parameters a caller (or a recipe step) gives: all but the input and the execution options."""
        return {n: p for i, (n, p) in enumerate(self.signature.parameters.items())
                if i > 0 and n not in self.not_recorded}

    def check(self, name: str, value, arguments: dict) -> None:
        """Run the declared check of parameter ``name`` on ``value`` (nothing where none is declared); a check of
        two parameters also gets ``arguments``, every parameter of the step (defaults filled in)."""
        f = self.checks.get(name)
        if f is None:
            return
        required = [p for p in inspect.signature(f).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        f(value, arguments) if len(required) == 2 else f(value)
    def forwarded(self) -> dict[str, tuple[inspect.Parameter, Operation]]:
        """The keywords ``**keywords`` takes, each with the operation it goes to: that operation's parameters less
        this one's own and those it sets itself (``forward_except``). Empty when nothing is forwarded."""
        if self.forwards is None:
            return {}
        target = get(self.forwards)
        own = set(self.signature.parameters)
        return {n: (p, target) for n, p in target.parameters.items() if n not in own and n not in self.forward_except}

    def replay_params(self, params: dict) -> dict:
        """A recorded step's parameters, with those it predates filled in (``before_recorded``)."""
        return params if self.before_recorded is None else self.before_recorded(params) | params

    @property
    def returns_signal(self) -> bool:
        """Whether the operation makes a Signal (first of a returned tuple) rather than a result object."""
        host = _HOSTS.get("signal")
        ret = typing.get_type_hints(self.implementation).get("return")
        if isinstance(ret, types.UnionType):  # Signal | tuple[Signal, ...]: the plain call
            ret = typing.get_args(ret)[0]
        if ret is host:
            return True
        if typing.get_origin(ret) is tuple:
            return typing.get_args(ret)[:1] == (host,)
        if isinstance(ret, type) and issubclass(ret, tuple):  # a NamedTuple whose first field is a Signal
            return next(iter(typing.get_type_hints(ret).values()), None) is host
        return False


_OPERATIONS: dict[str, Operation] = {}
_HOSTS: dict[str, type] = {}


class RegistryError(EmscaleError):
    pass


def register_host(name: str, cls: type) -> None:
    """Make ``cls`` the class that ``method=True`` operations on ``name`` objects attach to (``"signal"``)."""
    _HOSTS[name] = cls


_FLAG_ANNOTATIONS = frozenset({"bool", "bool|None", "None|bool", "Optional[bool]", "typing.Optional[bool]"})


def is_flag_annotation(annotation) -> bool:
    """Whether a parameter's annotation makes it a yes/no flag: ``bool``, or ``bool | None`` (None: "decide") in any
    spelling (the modules' postponed annotations are strings)."""
    if annotation is bool:
        return True
    text = annotation if isinstance(annotation, str) else str(annotation)
    return text.replace(" ", "") in _FLAG_ANNOTATIONS


def operation(
    name: str,
    *,
    on: type | None = None,
    method: bool | str = False,
    record: Mapping[str, Callable[[Any, dict], Any]] | None = None,
    not_recorded: tuple[str, ...] = (),
    result_name: str | None = None,
    check: Mapping[str, Callable[..., Any]] | None = None,
    before_recorded: Callable[[dict], dict] | None = None,
    hints: Mapping[str, str] | None = None,
    files: Mapping[str, Callable[[Any, list], Any]] | None = None,
    forwards: str | None = None,
    forward_except: tuple[str, ...] = (),
):
    """Declare ``fn`` as the operation ``name``.

    Parameters
    ----------
    on : the class of the first argument when it is not a Signal (a decomposition result, ...).
    method : ``True`` attaches the operation as a method of that class under ``name``; a string names the method;
        ``"property"`` makes it a read-only property.
    record : ``{parameter: f(value, arguments)}`` writes a parameter in the canonical form replay re-reads
        (e.g. axis names as given, factors in user order), ``arguments`` being all bound arguments.
    not_recorded : parameters that change only what is returned besides the result (``return_params``).
    result_name : the default name of the result in a recipe, a format string of the step's parameters and
        ``of`` (e.g. ``"{of}_clusters"``); by default the operation's name.
    check : ``{parameter: f(value)}`` raising ``ValueError`` for a value the operation would refuse (a method or
        model name, with the aliases and spellings the operation itself accepts): a recipe is checked with them
        before any step runs. A value that is right or wrong according to another parameter (the options of the
        step's ``method``) is checked by ``f(value, arguments)``, ``arguments`` being every parameter of the step
        with the defaults filled in (:meth:`Operation.check`).
    before_recorded : ``f(params) -> {parameter: value}`` for the parameters a recorded step predates (absent
        from it): the values that reproduce the behaviour of that time (a default that changed when the parameter
        was first recorded), which replay (:meth:`Operation.replay_params`) fills in.
    hints : ``{keyword: advice}`` for keywords the operation does not take but a caller may try (HyperSpy's
        ``fast=``): an unknown keyword is an :class:`ArgumentError` naming the operation and its parameters,
        with the advice where there is one.
    files : ``{parameter: read(name, history)}`` for parameters whose text names a file beside the input (a
        position list, a trained model; :func:`.history.file_beside_input` with ``history``, the input's): a
        recipe finds and reads every such file with them once its input is loaded, before any step runs.
    forwards : the operation that ``fn``'s ``**keywords`` are passed on to (``edge_map``'s to
        ``remove_background``): a keyword that operation does not take, or one of ``forward_except`` (those ``fn``
        sets itself), is refused at the call and in a recipe's check, naming it -- not deep inside the run.
    """
    record = dict(record or {})

    def deco(fn: Callable) -> Callable:
        if name in _OPERATIONS and _OPERATIONS[name].implementation is not fn:
            raise RegistryError(f"operation {name!r} is declared twice ({_OPERATIONS[name].implementation.__module__} "
                                f"and {fn.__module__})")
        sig = inspect.signature(fn)
        first = next(iter(sig.parameters))
        skip = NOT_RECORDED | frozenset(not_recorded)
        # yes/no parameters: "no" or 1 would read as yes
        flags = [n for n, p in sig.parameters.items() if is_flag_annotation(p.annotation)]

        @functools.wraps(fn)
        def recorded(*args, **kwargs):
            if _inside.get():
                return fn(*args, **kwargs)
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise ArgumentError(_bind_message(_OPERATIONS[name], kwargs, exc)) from None
            if forwards is not None:
                _check_forwarded(_OPERATIONS[name], bound)
            check_progress(bound.arguments.get("progress"), f"{name}: progress")
            for flag in flags:
                if bound.arguments.get(flag) is not None:
                    check_flag(f"{name}: {flag}", bound.arguments[flag])
            bound.apply_defaults()
            token = _inside.set(1)
            try:
                out = fn(*bound.args, **bound.kwargs)
            finally:
                _inside.reset(token)
            target = bound.arguments[first]
            outputs = out if isinstance(out, tuple) else (out,)
            made = [(i, o) for i, o in enumerate(outputs)
                    if o is not target and isinstance(getattr(o, "history", None), list)]
            if not made:
                return out
            params = _params(sig, bound.arguments, record, skip)
            for i, o in made:  # the 2nd, 3rd... value an operation returns is replayed as {"output": i}
                # copied whole: an output that shares its input's entries (nested dicts) edits them for both
                o.history = copy.deepcopy(list(getattr(target, "history", []))
                                          + [entry(name, params, **({"output": i} if i else {}))])
            return out

        attr = None
        if method:
            host = on if on is not None else _HOSTS.get("signal")
            if host is None:
                raise RegistryError(f"operation {name!r}: no class to attach the method to")
            attr = name if method is True or method == "property" else str(method)
            setattr(host, attr, property(recorded, doc=fn.__doc__) if method == "property" else recorded)
        _OPERATIONS[name] = Operation(name, recorded, fn, sig, on, attr, skip, result_name, dict(check or {}),
                                      before_recorded, dict(hints or {}), dict(files or {}), forwards,
                                      frozenset(forward_except))
        return recorded

    return deco


def _check_forwarded(op: Operation, bound: inspect.BoundArguments) -> None:
    """Refuse a ``**keyword`` that the operation it is passed on to does not take, before anything runs."""
    extra = next((bound.arguments.get(n, {}) for n, p in op.signature.parameters.items()
                  if p.kind is inspect.Parameter.VAR_KEYWORD), {})
    allowed = op.forwarded()
    unknown = {k: v for k, v in extra.items() if k not in allowed}
    if unknown:
        raise ArgumentError(_bind_message(op, unknown, None))


def _bind_message(op: Operation, kwargs: dict, exc: TypeError | None) -> str:
    """Why a call does not fit the operation ``op``, naming it and the parameters it takes (Python's own message
    names neither the function nor what it accepts)."""
    import difflib

    name, sig, hints = op.name, op.signature, op.hints
    params = [n for n, p in list(sig.parameters.items())[1:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
    takes = f"{name} takes {', '.join(params)}" if params else f"{name} takes no parameters"
    forwarded = list(op.forwarded())
    if forwarded:
        takes += f", and {op.forwards}'s {', '.join(forwarded)}"
        params += forwarded
    accepts_any = op.forwards is None and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [] if accepts_any else [k for k in kwargs if k not in params]
    if not unknown:
        return f"{name}: {exc}; {takes}"
    advice = []
    for k in unknown:
        if k in hints:
            advice.append(f"{k}= {hints[k]}")
        elif close := difflib.get_close_matches(k, params, n=1):
            advice.append(f"{k}=: did you mean {close[0]}=?")
    kws = ", ".join(repr(k) for k in unknown)
    head = f"{name}: no parameter {kws}" if len(unknown) == 1 else f"{name}: no parameters {kws}"
    return "; ".join([head, *advice, takes])


def recording() -> bool:
    """Whether a declared operation is running (its outer call records the step): code outside one that makes a
    new Signal makes a step no history entry describes."""
    return bool(_inside.get())


def as_step(function: Callable, *args, **kwargs):
    """Call a declared operation as a recorded step of its own even inside another operation (for outputs
    derived from *other* inputs, e.g. signals aligned alongside the one an operation works on)."""
    token = _inside.set(0)
    try:
        return function(*args, **kwargs)
    finally:
        _inside.reset(token)


def _params(sig: inspect.Signature, arguments: dict, record: dict, skip: frozenset) -> dict:
    params = {}
    for i, (n, v) in enumerate(arguments.items()):
        if i == 0 or n in skip:
            continue
        if sig.parameters[n].kind is inspect.Parameter.VAR_KEYWORD:
            params.update(v)
            continue
        params[n] = record[n](v, arguments) if n in record else v
    return params


def get(name: str) -> Operation:
    """The declared operation ``name``; an unknown name is an error listing the known ones."""
    try:
        return _OPERATIONS[name]
    except KeyError:
        raise RegistryError(f"no operation {name!r}; known: {', '.join(sorted(_OPERATIONS))}") from None


def operations() -> dict[str, Operation]:
    """Every declared operation by name (a copy)."""
    return dict(_OPERATIONS)


__all__ = ["Operation", "RegistryError", "as_step", "get", "operation", "operations", "recording", "register_host"]
