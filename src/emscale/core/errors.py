"""Exceptions raised for bad input; each message names the offending thing."""

import contextlib


class EmscaleError(Exception):
    """Base class of every error emscale raises on purpose."""


class ArgumentError(EmscaleError, TypeError):
    """A call's arguments do not fit the function: an unknown keyword (another package's), a missing one."""


class AxisError(EmscaleError, ValueError):
    """An axis name, index or calibrated value does not fit the signal."""


class DataError(EmscaleError, ValueError):
    """The data themselves are unusable (NaN, negative counts, wrong shape...)."""


class FileFormatError(EmscaleError, OSError):
    """A file could not be read: unknown extension, corrupt or truncated content."""


class OutputExistsError(EmscaleError, FileExistsError):
    """An output already exists and overwrite was not requested."""


class SignalChoiceError(FileFormatError):
    """The signals of a file do not give the one asked for. ``held`` says what the file holds (``"X holds 2 signals
    (0: ...)"``), ``how`` what to do: a command line says it with its own options, not the Python keywords."""

    def __init__(self, held: str, how: str):
        super().__init__(f"{held}; {how}")
        self.held = held


class SeveralSignalsError(SignalChoiceError):
    """A file holds several signals where one is needed."""


class SignalTypeError(SignalChoiceError):
    """A file holds one signal, of another type than the ``signal_type`` that was to pick it (``wanted``)."""

    def __init__(self, held: str, wanted: str, how: str):
        super().__init__(held, how)
        self.wanted = wanted

    @staticmethod
    def relabel_advice(option: str, wanted: str) -> str:
        """The advice where ``option`` (``signal_type=``, ``--signal-type``) was given to relabel a single signal:
        it only picks; relabelling is HyperSpy's load, which em.load keeps."""
        return (f"{option} picks among several signals; to relabel it, as HyperSpy's load does: "
                f"em.load(path, signal_type={wanted!r}) in Python, and save that")


class ReplayError(EmscaleError):
    """A recorded history or results folder cannot be re-run (unknown step, moved or changed input)."""


def check_count(name: str, value, unit: str = "", minimum: int = 1, optional: bool = False) -> None:
    """A parameter that counts something (components, neighbours, pixels, an upsampling): a whole number >=
    ``minimum`` (1 unless none is a valid count, as for a margin), not a bool, or None where ``optional``; else a
    :class:`DataError` naming it. ``unit``: what one of it means, for the message."""
    import numpy as np

    if optional and value is None:
        return
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < minimum:
        raise DataError(f"{name} must be a whole number >= {minimum}{f' ({unit})' if unit else ''}"
                        f"{' or None' if optional else ''}, got {value!r}")


def as_count(name: str, value, unit: str = "", minimum: int = 1, optional: bool = False):
    """:func:`check_count`'s count, with a whole-number float (5.0) taken as that int (5, the same bits): a history
    recorded while such a count ran as given (decompose's n_iter, oversample, ICA's max_iter) must replay. A float
    that is not whole (5.5), below ``minimum`` or not finite is refused, as given, by :func:`check_count`."""
    import numpy as np

    if isinstance(value, float | np.floating) and value.is_integer() and int(value) >= minimum:
        return int(value)
    check_count(name, value, unit, minimum, optional)
    return value


def is_number(value) -> bool:
    """A real number (Python or NumPy), not a bool and not text: what a numeric option may be."""
    import numpy as np

    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def check_seed(seed) -> None:
    """A seed: a whole number >= 0 (:func:`check_count`); None ("random") would break a rerun's bits."""
    check_count("seed", seed, "the same seed gives the same bits", minimum=0)


def check_number(name: str, value, unit: str = "", minimum: float = 0.0) -> None:
    """A parameter that measures something (a weight, a threshold): a finite real number >= ``minimum``
    (:func:`is_number`); else a :class:`DataError` naming it. ``unit``: what it means, for the message."""
    import math

    if not (is_number(value) and math.isfinite(value) and value >= minimum):
        raise DataError(f"{name} must be a finite number >= {minimum:g}{f' ({unit})' if unit else ''}, got {value!r}")


def check_positive(name: str, value, unit: str = "", optional: bool = False) -> None:
    """A parameter that must be above zero to mean anything (a threshold, a width, a budget): a finite real number
    > 0 (:func:`is_number`), or None where ``optional``; else a :class:`DataError` naming it. ``unit``: what it
    means, for the message."""
    import math

    if optional and value is None:
        return
    if not (is_number(value) and math.isfinite(value) and value > 0):
        raise DataError(f"{name} must be a finite number > 0{f' ({unit})' if unit else ''}"
                        f"{' or None' if optional else ''}, got {value!r}")


def check_flag(name: str, value) -> None:
    """A yes/no option: True or False (a NumPy bool too), not 1 or "no", which read as yes; else a
    :class:`DataError` naming it."""
    import numpy as np

    if not isinstance(value, bool | np.bool_):
        raise DataError(f"{name} must be True or False, got {value!r}")


def check_not_complex(name: str, dtype, advice: str) -> None:
    """Data that must be real: values of a complex ``dtype`` are a :class:`DataError` naming them (``name``) and
    saying what to do (``advice``). Unchecked, numpy casts them to real ones and drops the imaginary part with
    nothing but a ComplexWarning (``abs(s)`` gave 3 for 3 + 4j; a virtual microscope warned at each of 80
    measurements)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        said = "" if str(dtype) in name else f" ({dtype})"  # a Signal's repr names its dtype already
        raise DataError(f"{name} holds complex values{said}; {advice}")


def check_choice(name: str, value, choices: tuple) -> None:
    """One of a few named values (``choices``), else a ValueError naming the parameter and them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be {' or '.join(repr(c) for c in choices)}, not {value!r}")


def check_progress(progress, where: str = "progress") -> None:
    """A ``progress`` option: ``True`` (a progress bar per pass), ``False``/``None`` (nothing) or a function
    ``progress(bytes_done, bytes_total)``; anything else is an :class:`ArgumentError` naming ``where`` (it failed
    deep inside the first pass, "'bool' object is not callable" for ``True`` before bars existed)."""
    if progress is None or isinstance(progress, bool) or callable(progress):
        return
    raise ArgumentError(f"{where} must be True (a progress bar per pass), False/None, or a function "
                        f"progress(bytes_done, bytes_total) called after each partition; got {progress!r}")


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointed at the first frame outside emscale: the user's line (``s / 0``, ``np.log(s)``)
    however many of emscale's layers (operators, numpy's dispatch, the registry) lie between."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    level, frame = 2, sys._getframe(1)  # stacklevel 2: the caller of warn_caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)


def warning_text(message, category: type[Warning]) -> str:
    """A warning as a report or a manifest keeps it: its message, its category named where it is not a
    ``UserWarning`` (numpy's ``RuntimeWarning: invalid value encountered in divide``)."""
    return str(message) if category is UserWarning else f"{category.__name__}: {message}"


@contextlib.contextmanager
def recording_warnings(into: list[str]):
    """A block whose warnings are kept in ``into`` (:func:`warning_text`, each text once, in order; ResourceWarning,
    a reader's unclosed file, left out) and shown as before once it ends -- raised or not. The filters in force
    decide, as without it: an ignored warning is neither kept nor shown, ``error`` raises inside the block.

    A recipe's steps and its report keep what they warned so (in the manifest and the report), where it was on the
    console only."""
    import warnings

    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield into
    finally:
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
            text = warning_text(w.message, w.category)
            if not issubclass(w.category, ResourceWarning) and text not in into:
                into.append(text)
