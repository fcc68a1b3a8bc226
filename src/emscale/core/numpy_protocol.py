"""A Signal among numpy's operators and functions, as HyperSpy's users write them.

- ``s * 2``, ``1 - s``, ``s // 2``, ``s < 100``, ``(m < a) | (m > b)``, ``np.maximum(s, 0)``: the recorded
  operation ``arithmetic`` (:mod:`.arithmetic`); ``np.log(s)``, ``abs(s)``, ``np.isnan(s)``, ``~mask``:
  ``elementwise`` (:mod:`.elementwise`). ``==`` stays identity (a Signal is a record with a history); ``if mask:``
  holds only for a Signal of one value (``if s.sum() > 1e6:``), as numpy's truth of an array.
- ``np.clip(s, 0, None)``: ``np.maximum`` then ``np.minimum``, two recorded steps; ``np.sum(s, axis=-1)`` (and
  ``mean``, ``max``, ``min``, ``std``): the Signal's own reduction over those axes, counted in the Signal's axis
  order (HyperSpy's: ``np.mean(s, axis=0)`` is the mean over x) -- numpy's other functions count in numpy's order.
- Any other numpy function (``np.concatenate([s, t])``, ``np.allclose(s, t)``) and ``np.asarray(s)`` work on the
  numbers and give plain arrays, as HyperSpy's do: the axes and history stay with the Signal. ``float(s.sum())``
  is the one value of a Signal that holds one.
- A numpy function of one or two values that is none of these (``np.arctan2``, ``np.add.reduce``) is refused
  with the way to do it, never applied without a record.

The methods are attached here, where the operations are declared (importing them in signal.py is a cycle)."""

from __future__ import annotations

import numpy as np

from .arithmetic import COMPARISONS, OPERATORS, apply, same
from .elementwise import FUNCTIONS, elementwise
from .signal import Signal, _is_dask

DUNDERS = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "truediv", "power": "pow",
           "floor_divide": "floordiv", "remainder": "mod", "less": "lt", "less_equal": "le", "greater": "gt",
           "greater_equal": "ge", "logical_and": "and", "logical_or": "or", "logical_xor": "xor"}
# numpy's & | ^ on an array and a Signal call the bitwise ufuncs: on masks, the logical ones
BINARY = {fn: op for op, (_, fn) in OPERATORS.items()} | {
    np.bitwise_and: "logical_and", np.bitwise_or: "logical_or", np.bitwise_xor: "logical_xor"}
UNARY = {fn: name for name, fn in FUNCTIONS.items()}
REDUCTIONS = {np.sum: "sum", np.mean: "mean", np.max: "max", np.amax: "max", np.min: "min", np.amin: "min",
              np.std: "std"}


def _operator(op: str, reflected: bool):
    def method(self, other):
        return apply(self, op, other, reflected)

    method.__name__ = f"__{'r' if reflected else ''}{DUNDERS[op]}__"
    sides = ("other", "self") if reflected else ("self", "other")
    method.__doc__ = f"``{sides[0]} {OPERATORS[op][0]} {sides[1]}``: see :mod:`emscale.core.arithmetic`."
    return method


def _in_place(op: str):
    def method(self, other):
        out = apply(self, op, other)
        if out is NotImplemented:
            return NotImplemented
        self.__dict__.update(out.__dict__)  # HyperSpy's ``s *= 2`` changes s itself: its numbers, type and history
        return self

    method.__name__ = f"__i{DUNDERS[op]}__"
    method.__doc__ = (f"``self {OPERATORS[op][0]}= other``: ``self`` becomes the result (its dtype as the operator's: "
                      "see :mod:`emscale.core.arithmetic`), history included.")
    return method


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """numpy's side of the operators (``np.float32(2) * s``, ``np.maximum(s, 0)``) and of the functions of one
    value (``np.log(s)``); any other ufunc, or one called with numpy's ``out=`` / ``where=``, is refused with the
    way to do it, not numpy's bare "does not support ufuncs"."""
    name = getattr(ufunc, "__name__", str(ufunc))
    if method == "__call__" and not kwargs:
        if len(inputs) == 2 and ufunc in BINARY:
            first = inputs[0] is self
            return apply(self, BINARY[ufunc], inputs[1] if first else inputs[0], not first)
        if len(inputs) == 1 and ufunc is np.negative:
            return -self
        if len(inputs) == 1 and ufunc is np.positive:
            return +self
        if len(inputs) == 1 and ufunc is np.invert:
            return ~self
        if len(inputs) == 1 and ufunc in UNARY:
            return elementwise(self, UNARY[ufunc])
    how = f"np.{name}" if method == "__call__" else f"np.{name}.{method}"
    args = ", ".join(["s.data", "t.data", "u.data"][: max(getattr(ufunc, "nin", 1), 1)])
    raise TypeError(f"{how} on a Signal{' with ' + ', '.join(kwargs) if kwargs else ''}: not a recorded operation "
                    f"(those are + - * / // % ** < <= > >= & | ^ ~, np.maximum, np.minimum and "
                    f"np.{', np.'.join(FUNCTIONS)}); apply it to the numbers and wrap them, em.derive(s, "
                    f"np.{name}({args}), s.axes) (a step the history marks unrecorded)")


def _array_function(self, func, types, args, kwargs):
    """numpy's other functions: see the module docstring."""
    if func is np.clip:
        return _clip(*args, **kwargs)
    if func in REDUCTIONS and args and args[0] is self:
        return _reduction(self, REDUCTIONS[func], func, *args[1:], **kwargs)
    return func(*_numbers(args), **_numbers(kwargs))


def _clip(a, a_min=None, a_max=None, out=None, **kwargs):
    if not isinstance(a, Signal) or out is not None or kwargs:
        raise TypeError("np.clip with a Signal: np.clip(s, low, high) with no other options (the limits may be "
                        "None, numbers or arrays); for numpy's out= and the others use s.data")
    if a_min is not None:
        a = np.maximum(a, a_min)
    if a_max is not None:
        a = np.minimum(a, a_max)
    return same(a) if a_min is None and a_max is None else a


def _reduction(s: Signal, name: str, func, axis=None, *rest, **kwargs):
    # numpy hands over the keywords as the caller wrote them: any but the axis is an option the Signal's own
    # reduction lacks (its default value aside)
    if rest or any(v is not None and not (k == "keepdims" and v is False) for k, v in kwargs.items()):
        raise TypeError(f"np.{func.__name__} of a Signal takes the axes only (s.{name}(axis), a recorded step); for "
                        f"numpy's other options ({', '.join(kwargs) or 'positional ones'}) use s.data")
    return getattr(s, name)(axis)


def _numbers(x):
    """``x`` with each Signal in it (in lists, tuples and dicts too) replaced by its numbers (a dask array for a
    lazy one, so that numpy's function dispatches to dask's)."""
    if isinstance(x, Signal):
        return x.data
    if isinstance(x, list | tuple):
        return type(x)(_numbers(v) for v in x)
    if isinstance(x, dict):
        return {k: _numbers(v) for k, v in x.items()}
    return x


def _array(self, dtype=None, copy=None):
    """``np.asarray(s)``: the numbers, computed where lazy."""
    if _is_dask(self.data):
        if copy is False:
            raise ValueError(f"np.asarray({self!r}, copy=False): a lazy Signal's numbers are computed, a copy")
        return np.asarray(self.data.compute(), dtype=dtype)
    a = np.asarray(self.data, dtype=dtype)
    return a.copy() if copy else a


def _invert(self):
    """``~mask``: the mask's complement (boolean Signals only: on integers ``~`` is bitwise)."""
    if self.dtype.kind != "b":
        raise TypeError(f"~ on {self!r}: ~ inverts a mask (a boolean Signal such as s.sum(-1) < 100); for bitwise "
                        "integer arithmetic use s.data and wrap it (em.derive)")
    return elementwise(self, "logical_not")


def _truth(self) -> bool:
    """``if s.sum() > 1e6:``: the truth of a Signal of one value; of more values it is ambiguous, as numpy's (and an
    ``if`` on a whole mask was always true)."""
    n = int(np.prod(self.shape))
    if n != 1:
        raise ValueError(f"the truth value of {self!r} ({n} values) is ambiguous: use (mask).data.any() or .all()")
    return bool(_one_value(self))


def _one_value(self):
    if int(np.prod(self.shape)) != 1:
        raise TypeError(f"only a Signal of one value converts to a number; {self!r} holds {int(np.prod(self.shape))} "
                        "(s.data for its numbers)")
    data = self.data.compute() if _is_dask(self.data) else self.data
    return np.asarray(data).reshape(()).item()


for _op in OPERATORS:
    if _op in ("maximum", "minimum"):
        continue  # numpy functions, no Python operator
    # Python swaps a comparison itself (``100 < s`` is ``s > 100``): no reflected or in-place form
    for _m in ((_operator(_op, False),) if _op in COMPARISONS else
               (_operator(_op, False), _operator(_op, True), _in_place(_op))):
        setattr(Signal, _m.__name__, _m)
Signal.__array_ufunc__ = _array_ufunc
Signal.__array_function__ = _array_function
Signal.__array__ = _array
Signal.__neg__ = lambda self: apply(self, "multiply", -1)
Signal.__pos__ = same  # ``+s`` changes no number: no step (as ``0 + s``), but a Signal of its own
Signal.__invert__ = _invert
Signal.__bool__ = _truth
Signal.__abs__ = lambda self: elementwise(self, "absolute")
Signal.__float__ = lambda self: float(_one_value(self))
Signal.__int__ = lambda self: int(_one_value(self))
