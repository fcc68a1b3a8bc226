"""Spectroscopy tools for EELS and EDS spectrum images: background removal
(:mod:`~emscale.spectroscopy.background`, also :meth:`emscale.Signal.remove_background`), EELS tools (:mod:`.eels`)
and EDS tools (:mod:`.eds`).

Importing the package declares their operations in the registry.
"""

from . import background, eds, eels

__all__ = ["background", "eds", "eels"]
