"""Arithmetic on Signals: ``s * 2``, ``s - background``, ``s / s.sum(-1)``, ``1 - s``, ``s // 2``,
``np.maximum(s, 0)``, as HyperSpy's users write it (the operators are attached in :mod:`.numpy_protocol`).

One recorded operation, ``arithmetic``: the operator and the other operand. A Signal made from ``s`` itself by
recorded steps (``s.sum(-1)`` in ``s / s.sum(-1)``, ``s.mean(axis=(0, 1))``, ``s.inav[0:1]``) is recorded as those
steps and made again at a replay, whatever its size; one made from an earlier state of the signal (``s.sum(-1)`` in
``s.isig[1.2:2.0] / s.sum(-1)``) likewise where its numbers are too many to record (``"at"``); any other operand
as a number, or an array small enough to keep in the history (:data:`RECORDED_OPERAND_VALUES`). A larger array
is applied all the same, but the result's history ends with an ``"unrecorded"`` entry that says why: a replay then
refuses it by name rather than giving other numbers.

A Signal operand is aligned by axis names (each of its axes must be one of the other side's, of the same size,
calibration and units), whichever side holds every axis: a spectrum applies to every pixel, a map (``s.sum(-1)``)
to every channel, and ``spectrum - s`` is as good as ``s - spectrum``; a single position (a length-1 axis:
``s.inav[0:1]``) applies to every position; a sparse scan's mask is carried. An array operand follows numpy's
broadcasting in numpy order. The result has the axes of the side that holds them all. ``s *= 2`` changes ``s``
itself (as HyperSpy's), its dtype and history included. ``<``, ``<=``, ``>``, ``>=`` give a boolean Signal (a mask:
``s.sum(-1) < 100`` as a decomposition's ``navigation_mask``); ``==`` stays identity.

Types, decided by the types and a number's own value, never by an array's values (so that lazy and in-memory data,
and ``a + b`` and ``b + a``, get the same): counts stay integers only where the result is counts -- unsigned (or
boolean) data plus unsigned data or a whole number >= 0, as uint64. Integers stay whole numbers, no longer counts,
for the larger or smaller of two and for ``//`` and ``%`` by a number other than zero (a type that holds both
sides: ``uint16 // 2`` stays uint16); every other result is floating point (float32 for float16 or float32 data
with a Python number, a float32 or a 16-bit operand, else float64), and ``metadata["Signal"]["counts"]`` is set
False: a scaled or background-subtracted map is no longer raw counts (decompose still reads counts times a gain
from the values themselves, and refuses Poisson weighting where a subtraction left negative values)."""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from .codec import decode
from .errors import AxisError, DataError, check_not_complex, is_number, warn_caller
from .history import UNRECORDED, earlier_state, keeping_states, operand_starts, unrecorded_entry
from .registry import as_step, get, operation, operations
from .signal import Signal, _derived, _is_dask, derive, measured_mask

OPERATORS = {"add": ("+", np.add), "subtract": ("-", np.subtract), "multiply": ("*", np.multiply),
             "divide": ("/", np.true_divide), "power": ("**", np.power), "floor_divide": ("//", np.floor_divide),
             "remainder": ("%", np.remainder),
             # numpy functions of two operands: ``np.maximum(s, 0)`` sets what a background subtraction left
             # below zero to zero (``np.clip`` is the two of them)
             "maximum": ("np.maximum", np.maximum), "minimum": ("np.minimum", np.minimum),
             # a boolean Signal: a mask (``s.sum(-1) < 100`` as a decomposition's navigation_mask); ``==`` stays
             # Python's identity, as a Signal is a record with a history, not an array
             "less": ("<", np.less), "less_equal": ("<=", np.less_equal), "greater": (">", np.greater),
             "greater_equal": (">=", np.greater_equal),
             # masks combined: ``(s.sum(-1) < a) | (s.sum(-1) > b)`` (boolean Signals and truth values only)
             "logical_and": ("&", np.logical_and), "logical_or": ("|", np.logical_or),
             "logical_xor": ("^", np.logical_xor)}
LOGICAL = ("logical_and", "logical_or", "logical_xor")
COMPARISONS = ("less", "less_equal", "greater", "greater_equal")
# an array operand up to this many values is written into the history (base64: 0.7 MB of float64); a larger one
# makes an unrecorded step
RECORDED_OPERAND_VALUES = 1 << 16
CALIBRATION_RTOL = 1e-9


def check_operator(op) -> None:
    if op not in OPERATORS:
        raise ValueError(f"arithmetic: unknown operator {op!r}; one of {', '.join(OPERATORS)}")


class DerivedOperand(NamedTuple):
    """A Signal operand made from the input itself by recorded steps (``s.sum(-1)`` in ``s / s.sum(-1)``), recorded
    as those steps -- ``{"derived": [{"op": "sum", "params": {...}}, ...]}`` -- however many numbers it holds, and
    made again from the input at a replay. ``at``: the operand was made from an earlier state of the input, the one
    after its first ``at`` steps (``s2 / s.sum(-1)`` with ``s2`` made from ``s``), recorded as ``"at": n``; a
    replay or a recipe run keeps that state (:func:`.history.keeping_states`). ``signal``: None until made."""

    steps: list
    signal: Signal | None
    at: int | None = None


def _record_operand(value, arguments):
    if not isinstance(value, DerivedOperand):
        return value
    return {"derived": value.steps} | ({} if value.at is None else {"at": value.at})


def check_operand(operand) -> None:
    """A recipe's mapping operand: ``{"derived": steps}`` naming steps that can be redone (``"at": n``: from the
    signal as it was after its first ``n`` steps), or an array in the history's own form (``{"array": [...],
    "dtype": "float32"}``, what ``emscale history --as-recipe`` writes)."""
    if isinstance(operand, dict):
        _operand_of_mapping(operand)


def _operand_of_mapping(operand: dict):
    """The :class:`DerivedOperand` (not yet made) of ``{"derived": steps}``, or the array an encoded operand holds."""
    what = "arithmetic: an operand given as a mapping"
    if "derived" in operand:
        return DerivedOperand(_derived_steps(operand, what), None, _derived_at(operand, what))
    try:
        array = decode(operand)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{what} must be {{'derived': [steps]}}, the steps that make it from the input, or an array "
                        f"({{'array': [...], 'dtype': 'float64'}}); got keys {sorted(operand)}")
    return array


@operation("arithmetic", check={"operator": check_operator, "operand": check_operand},
           record={"operand": _record_operand})
def arithmetic(s: Signal, operator: str, operand, reflected: bool = False) -> Signal:
    """``s operator operand`` (``operand operator s`` when ``reflected``): ``operator`` one of :data:`OPERATORS`
    (``"add"``, ``"subtract"``, ``"multiply"``, ``"divide"``, ``"power"``, ``"floor_divide"``, ``"remainder"``,
    ``"maximum"``, ``"minimum"``, the comparisons), ``operand`` a number, an array that broadcasts to ``s``'s shape
    (numpy order), or ``{"derived": steps}``: the Signal those recorded steps make from ``s`` (history entries,
    ``{"op": "sum", "params": {"axis": -1}}``; with ``"at": n``, from ``s`` as it was after its first ``n`` steps,
    which a replay or a recipe run keeps), matched by axis names. What ``s + t``, ``2 * s`` and the other
    operators run (module docstring); recipe steps ``{op = "arithmetic", operator = "multiply", operand = 2.5}``,
    ``{op = "arithmetic", operator = "divide", operand = {derived = [{op = "sum", params = {axis = -1}}]}}``."""
    mask_from = None
    if isinstance(operand, dict):  # a recipe's or a replay's: made again from s, or an array written out
        made = _operand_of_mapping(operand)
        operand = made._replace(signal=_rederive(s, made, operator)) if isinstance(made, DerivedOperand) else made
    if isinstance(operand, DerivedOperand):
        mask_from = _scan_mask_of_both(s, operand.signal, operator)
        operand = _aligned(s, operand.signal, operator)
    data, counts = _compute(s, operator, operand, reflected)
    return _with_mask_of(_marked(derive(s, data, s.axes), counts), mask_from)


def apply(s: Signal, op: str, other, reflected: bool = False) -> Signal:
    """``s op other`` for the operator methods of :class:`Signal`: ``other`` a number, an array or a Signal
    (NotImplemented for anything else, so that Python tries the other side)."""
    mask_from = None
    if isinstance(other, Signal):
        if _holds_more(other, s):
            # ``spectrum - s``, ``map * s``, ``s.inav[0:1] - s``: the operand with every axis at its full length
            # takes the other's place
            return apply(other, op, s, not reflected)
        found = _steps_from(s, other)
        if found is not None and (found.at is None or int(np.prod(other.shape)) > RECORDED_OPERAND_VALUES):
            # made from an earlier state of s: as steps only where its numbers are too many to record
            return arithmetic(s, op, found._replace(signal=other), reflected)
        mask_from = _scan_mask_of_both(s, other, op)
        other = _aligned(s, other, op)
    elif not (is_number(other) or isinstance(other, np.ndarray) or _is_dask(other)):
        if isinstance(other, str | bytes | dict) or other is None:
            return NotImplemented
        try:
            other = np.asarray(other)
        except Exception:  # noqa: BLE001 - not an array: Python tries the other side, then says TypeError
            return NotImplemented
    size = int(np.prod(np.shape(other)))
    if _is_dask(other) and size <= RECORDED_OPERAND_VALUES:
        other = np.asarray(other.compute())  # a small lazy operand is read, to be recorded
    if not _is_dask(other) and np.ndim(other) == 0:
        other = _number_or_array(other)
        other = other.item() if isinstance(other, np.ndarray | np.generic) else other
        if op == "add" and reflected and type(other) is int and other == 0:
            return same(s)  # ``sum([s, t])`` starts from 0 + s: no step, no change of type
    if not _is_dask(other) and size <= RECORDED_OPERAND_VALUES:
        out = arithmetic(s, op, other, reflected)
    else:
        # too many numbers to write into the history: applied, and the step marked unrecorded -- and said now, not
        # first at a replay
        data, counts = _compute(s, op, other, reflected)
        out = _marked(_derived(s, data, s.axes), counts)
        how = (f"arithmetic {OPERATORS[op][0]} with an operand of {size} values (more than {RECORDED_OPERAND_VALUES} "
               "are not written into the history)")
        out.history.append(unrecorded_entry(how))
        warn_caller(f"{how}: the result cannot be replayed or exported as a recipe. An operand made by recorded "
                    "steps from the same signal (s / s.sum(-1)) or from one it was made from (s2 / s.sum(-1)) is "
                    "recorded as those steps; or save the operand and load it as a signal of its own")
    return _with_mask_of(out, mask_from)


def _with_mask_of(out: Signal, mask_from: Signal | None) -> Signal:
    """``out`` with the sparse-scan mask of the operand that carries it (:func:`_scan_mask_of_both`), if any."""
    if mask_from is not None:
        out.metadata["Sampling"] = copy.deepcopy(mask_from.metadata["Sampling"])
    return out


def _steps_from(s: Signal, o: Signal) -> DerivedOperand | None:
    """The recorded steps that made ``o`` from ``s`` (``o``'s history is ``s``'s, a load first, and then those), or
    from an earlier state of ``s`` (the histories share the load and the first ``at`` steps); None where ``o`` was
    made otherwise or by a step that cannot be redone. The operand's Signal is left None."""
    mine, theirs = s.history, o.history
    if not mine or not isinstance(mine[0], dict) or mine[0].get("op") != "load" or not theirs or theirs[0] != mine[0]:
        return None
    shared = 1
    while shared < min(len(mine), len(theirs)) and theirs[shared] == mine[shared]:
        shared += 1
    extra = theirs[shared:]
    if not all(isinstance(e, dict) and _redoable(e.get("op")) for e in extra):
        return None
    steps = [{k: e[k] for k in ("op", "params", "output") if k in e} for e in extra]
    return DerivedOperand(steps, None, None if shared == len(mine) else shared - 1)


def _redoable(name) -> bool:
    """Whether a history entry's operation can be redone as an operand's step: a declared operation, not the
    load (the operand starts from ``s``) nor an unrecorded step."""
    return isinstance(name, str) and name not in (UNRECORDED, "load") and name in operations()


def _derived_steps(operand: dict, what: str) -> list:
    steps = operand.get("derived")
    if set(operand) - {"at"} != {"derived"} or not isinstance(steps, list | tuple):
        raise DataError(f"{what} must be {{'derived': [steps]}}, the steps that make it from the input; got keys "
                        f"{sorted(operand)}")
    for i, e in enumerate(steps):
        name = e.get("op") if isinstance(e, dict) else None
        if not _redoable(name):
            raise DataError(f"{what}: step {i} ({name!r}) is not an operation that can be redone; each step is "
                            "{'op': name, 'params': {...}} of a declared operation")
    return list(steps)


def _derived_at(operand: dict, what: str) -> int | None:
    at = operand.get("at")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
        raise DataError(f"{what}: 'at' must be a number of steps >= 0 (the operand starts from the signal as it was "
                        f"after that many steps; 0: the input), got {at!r}")
    return at


def _rederive(s: Signal, spec: DerivedOperand, op: str) -> Signal:
    """The operand that ``spec``'s steps (checked by :func:`_derived_steps`) make from ``s`` (or from the earlier
    state of it that ``spec.at`` names): a replay's or a recipe's. A step may make a result rather than a Signal
    (``decompose`` before ``reconstruct``); the last makes the Signal."""
    obj = s if spec.at is None or spec.at == len(s.history) - 1 else _earlier(s, spec.at, op)
    steps = spec.steps
    # each step recorded as its own (as_step): an operand inside these steps that starts from an earlier state of
    # theirs ("at") reads how many steps came before it from the history, and finds that state among those kept
    with keeping_states(operand_starts(steps)) as keep:
        keep(obj)
        for i, e in enumerate(steps):
            name = e["op"]
            step = get(name)
            params = step.replay_params(decode(e.get("params", {})))
            obj = as_step(step.function, obj, **params)
            if isinstance(obj, tuple):
                out = e.get("output", 0)
                obj = obj[out] if type(out) is int and 0 <= out < len(obj) else None
            if obj is None:
                raise DataError(f"arithmetic {OPERATORS[op][0]}: step {i} ({name!r}) of the operand's steps names "
                                f"an output it does not make ({e.get('output')!r})")
            keep(obj)
    if not isinstance(obj, Signal):
        raise DataError(f"arithmetic {OPERATORS[op][0]}: the operand's steps end with a {type(obj).__name__}, not a "
                        "Signal")
    return obj


def _earlier(s: Signal, at: int, op: str) -> Signal:
    """The state of ``s`` after its first ``at`` steps, as the replay or recipe run in progress kept it."""
    what = f"arithmetic {OPERATORS[op][0]}: the operand is made from the signal as it was after {at} step(s)"
    if at >= len(s.history):
        raise DataError(f"{what}, but {s!r} has only {len(s.history) - 1}")
    base = earlier_state(at, s.history[1 : at + 1])
    if base is None:
        raise DataError(f"{what}; only a replay (em.replay) or a recipe run keeps that state, and this one kept none "
                        f"that {s!r} was made from")
    return base


def same(s: Signal) -> Signal:
    """A new Signal of ``s``'s numbers and history (``+s``, ``0 + s``): an in-place operator on it (``total += f``)
    must not change ``s``."""
    return _derived(s, s.data, s.axes)


def _holds_more(o: Signal, s: Signal) -> bool:
    """Whether ``o`` has every axis of ``s`` and more of them, or the same ones with one longer where ``s``'s is a
    single position (which broadcasts, as numpy's length-1 dimensions do)."""
    mine = {a.name: a.size for a in s.axes}
    theirs = {a.name: a.size for a in o.axes}
    if not mine.keys() <= theirs.keys():
        return False
    return o.ndim > s.ndim or any(n == 1 < theirs[name] for name, n in mine.items())


def _scan_mask_of_both(s: Signal, o: Signal, op: str) -> Signal | None:
    """The operand whose sparse-scan mask the result must carry where only ``o`` has one (``full + sparse``: the
    unmeasured positions are still unmeasured); None where ``s``'s own is carried (or neither has one). Two
    different masks are refused: the result would be measured nowhere in full."""
    a, b = measured_mask(s), measured_mask(o)
    if b is None:
        return None
    if a is None:
        return o if b.shape == tuple(s.shape[: b.ndim]) else None
    if a.shape != b.shape:  # a cut of the scan (p.inav[0:1]) spread over it: its unmeasured zeros would count
        raise DataError(f"arithmetic {OPERATORS[op][0]}: {o!r} is a cut of a sparse scan ({b.shape} positions of "
                        f"{a.shape}); applied to every position of {s!r}, its unmeasured zeros would count as "
                        "values: inpaint the scan first (Signal.inpaint)")
    if not np.array_equal(a, b):
        raise DataError(f"arithmetic {OPERATORS[op][0]}: {s!r} and {o!r} are sparse scans of different positions; "
                        "inpaint them first (Signal.inpaint) or combine scans of the same mask")
    return None


def _compute(s: Signal, op: str, operand, reflected: bool):
    """(the result's numbers, whether they are still counts)."""
    check_operator(op)
    other = _number_or_array(operand, truth=op in LOGICAL)
    data = s.data if _is_dask(s.data) else np.asarray(s.data)
    other_dtype = np.dtype(other.dtype if hasattr(other, "dtype") else type(other))
    if op in LOGICAL and (data.dtype.kind != "b" or other_dtype.kind != "b"):
        raise DataError(f"arithmetic {OPERATORS[op][0]}: & | ^ combine masks (boolean Signals such as "
                        f"s.sum(-1) < 100) and truth values, not {data.dtype} and {other_dtype} values "
                        "(bitwise integer arithmetic: on s.data, wrapped with em.derive)")
    check_not_complex(f"arithmetic {OPERATORS[op][0]}: {s!r}", data.dtype,
                      "take their modulus first (abs(s)) or compute on s.data and wrap the result (em.derive)")
    try:
        shape = tuple(np.broadcast_shapes(tuple(data.shape), tuple(np.shape(other))))
    except ValueError:
        shape = None
    if shape != tuple(s.shape):
        raise AxisError(f"arithmetic {OPERATORS[op][0]}: an operand of shape {tuple(np.shape(other))} does not "
                        f"broadcast to {s!r}'s shape {tuple(s.shape)} (numpy order: navigation first, signal last); "
                        "a Signal operand is matched by axis names")
    dtype, counts = _result_type(op, data.dtype, other, reflected)
    kwargs = {}
    if _is_dask(data) or _is_dask(other):  # blockwise: each block is cast as it is computed
        a = data.astype(dtype, copy=False)
        b = other.astype(dtype, copy=False) if hasattr(other, "astype") else dtype.type(other)
    elif op in COMPARISONS:
        # a float64 operand makes numpy compare in float64 (exact for counts), casting the data a buffer at a time
        a, b = data, (other.astype(dtype, copy=False) if hasattr(other, "astype") else dtype.type(other))
    else:
        # numpy casts inside its loop, a buffer at a time: no full-size copy of the data (or of an operand of their
        # size, s * s) in the computation's type besides the result -- a uint16 cube times 2 held 8 + 8 bytes a
        # value at its peak, now 8; the same bits as casting first (every cast here is the one the loop makes)
        a, b, kwargs = data, (other if hasattr(other, "astype") else dtype.type(other)), {"dtype": dtype}
    if reflected:
        a, b = b, a
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = OPERATORS[op][1](a, b, **kwargs)
    if not _is_dask(out):
        _warn_new_nonfinite(s, op, data, other, out)
    return out, counts


def _marked(out: Signal, counts: bool) -> Signal:
    if not counts:  # a scaled or subtracted map is no longer raw counts
        out.metadata.setdefault("Signal", {})["counts"] = False
    return out


def _number_or_array(operand, truth: bool = False):
    if isinstance(operand, bool | np.bool_):
        if truth:
            return np.bool_(operand)
        raise DataError(f"arithmetic: the operand {operand!r} is a truth value, not a number")
    if is_number(operand):
        return operand
    if isinstance(operand, np.ma.MaskedArray) and np.ma.is_masked(operand):
        raise DataError("arithmetic: the operand is a masked array with masked values; its mask would be lost "
                        "(numpy's operators use the numbers under it): fill them first, e.g. operand.filled(np.nan)")
    a = operand if _is_dask(operand) else np.asarray(operand)
    if a.dtype.kind not in "biuf":
        raise DataError(f"arithmetic: the operand holds {a.dtype} values, not numbers")
    return a


def _result_type(op: str, data_dtype, other, reflected: bool = False) -> tuple[np.dtype, bool]:
    """(dtype of the computation, whether the result is still counts): see the module docstring. Decided by the
    types and by a number's own value, never by the values of an array: lazy and in-memory data get the same type,
    and ``a + b`` the type of ``b + a``."""
    data_dtype = np.dtype(data_dtype)
    if op in COMPARISONS:  # compared as float64 (exact for counts), a boolean result
        return np.dtype(np.float64), False
    if op in LOGICAL:
        return np.dtype(bool), False
    other_dtype = np.dtype(other.dtype) if hasattr(other, "dtype") else np.asarray(other).dtype
    if op == "add" and data_dtype.kind in "bu" and _unsigned(other):
        return np.dtype(np.uint64), True  # counts plus counts (``s - 3`` and ``s + (-3)`` alike are not)
    if data_dtype.kind in "iu" and other_dtype.kind in "iu" and _integer_result(op, other, reflected):
        # whole numbers of a type that holds both sides (uint16 // 2 stays uint16, np.maximum(uint16, -1) int32)
        return np.result_type(data_dtype, np.min_scalar_type(other) if np.ndim(other) == 0 else other_dtype), False
    single = data_dtype.kind == "f" and data_dtype.itemsize <= 4 and (
        not hasattr(other, "dtype") or other_dtype.itemsize <= 2 or other_dtype == np.float32)
    return np.dtype(np.float32 if single else np.float64), False


def _unsigned(other) -> bool:
    """Whether ``other`` cannot be negative by its type (unsigned or boolean) or, for a single number, its value."""
    if np.ndim(other) == 0 and not _is_dask(other):
        value = other.item() if isinstance(other, np.ndarray | np.generic) else other
        return isinstance(value, int) and value >= 0
    return np.dtype(other.dtype).kind in "bu"


def _integer_result(op: str, other, reflected: bool) -> bool:
    """Whether integers ``op`` integers stay whole numbers: the larger or smaller of two, and a quotient or remainder
    by a number other than zero (numpy's integer division by zero gives 0 without a word; as floating point it is
    inf, and said; an array divisor goes that way too, so that lazy and in-memory data agree)."""
    if op in ("maximum", "minimum"):
        return True
    if op in ("floor_divide", "remainder") and not reflected and np.ndim(other) == 0 and not _is_dask(other):
        return other != 0
    return False


def _warn_new_nonfinite(s: Signal, op: str, data, other, out) -> None:
    """Division by zero (and the like) leaves inf or NaN where the inputs were finite: said, with the count."""
    if np.isfinite(out).all():
        return
    before = ~np.isfinite(data)
    if np.ndim(other):
        before = before | ~np.isfinite(np.broadcast_to(other, out.shape))
    new = new_nonfinite(s, out, before)
    if new:
        warn_caller(f"arithmetic {OPERATORS[op][0]} on {s!r}: {new} value(s) became inf or NaN (division by zero "
                    "or an undefined power); mask or replace them before a decomposition")


def new_nonfinite(s: Signal, out, before) -> int:
    """How many values of ``out`` are inf or NaN that were not (``before``: those that were), counted at the measured
    positions of a sparse scan only: its unmeasured zeros give 0 / 0 by design, and are inpainted later."""
    new = ~np.isfinite(out) & ~before
    mask = measured_mask(s)
    if mask is not None and mask.shape == new.shape[: mask.ndim]:
        new = new[mask]
    return int(np.count_nonzero(new))


def _aligned(s: Signal, o: Signal, op: str):
    """``o``'s numbers shaped to broadcast over ``s``: each of its axes is the axis of ``s`` with its name, of the
    same size and calibration; the axes ``s`` has and ``o`` lacks get length 1."""
    if o.ndim == 0:
        return np.asarray(o.data).item() if not o.is_lazy else o.data
    names = [a.name for a in s.axes]
    where = []
    for a in o.axes:
        if a.name not in names:
            raise AxisError(f"arithmetic {OPERATORS[op][0]}: {o!r} has an axis {a.name!r} that {s!r} lacks (its axes: "
                            f"{', '.join(names)}); the axes of an operand are matched by name")
        d = names.index(a.name)
        b = s.axes[d]
        if a.size != b.size and a.size != 1:
            raise AxisError(f"arithmetic {OPERATORS[op][0]}: axis {a.name!r} has {a.size} values in {o!r} and "
                            f"{b.size} in {s!r} (a single position would apply to all of them)")
        if a.size == 1 != b.size:
            # one position applies to every position of the axis (numpy's broadcasting): where it was taken is not
            # compared, its units are
            if (a.units or "") != (b.units or ""):
                raise AxisError(f"arithmetic {OPERATORS[op][0]}: axis {a.name!r} is in {a.units or 'no units'!r} "
                                f"in {o!r} and in {b.units or 'no units'!r} in {s!r}")
        elif not _same_calibration(a, b):
            raise AxisError(f"arithmetic {OPERATORS[op][0]}: axis {a.name!r} runs {_calibration(a)} in {o!r} and "
                            f"{_calibration(b)} in {s!r}: the values would be paired channel by channel across "
                            "different energies or positions (to pair them anyway, use the operand's numbers: "
                            "s - t.data)")
        where.append(d)
    data = o.data if o.is_lazy else np.asarray(o.data)
    order = np.argsort(where)
    data = data.transpose(tuple(int(i) for i in order))
    sizes = dict(zip(where, (a.size for a in o.axes), strict=True))
    shape = tuple(sizes.get(d, 1) for d in range(s.ndim))
    return data.reshape(shape)


def _same_calibration(a, b) -> bool:
    if (a.units or "") != (b.units or ""):
        return False
    if a.is_uniform and b.is_uniform:
        return bool(np.isclose(a.scale, b.scale, rtol=CALIBRATION_RTOL, atol=0)
                    and np.isclose(a.offset, b.offset, rtol=CALIBRATION_RTOL, atol=abs(b.scale) * 1e-9))
    va, vb = a.values, b.values
    return bool(np.allclose(va, vb, rtol=CALIBRATION_RTOL, atol=float(np.ptp(vb)) * 1e-9 if vb.size else 0.0))


def _calibration(a) -> str:
    u = f" {a.units}" if a.units else " (no units)"
    if a.is_uniform:
        return f"from {a.offset!r} in steps of {a.scale!r}{u}"
    return f"over non-uniform coordinates {a.values[0]!r} ... {a.values[-1]!r}{u}"


__all__ = ["COMPARISONS", "LOGICAL", "OPERATORS", "RECORDED_OPERAND_VALUES", "apply", "arithmetic", "same"]
