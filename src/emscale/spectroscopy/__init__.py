"""Spectroscopy tools for EELS and EDS spectrum images: background removal
(:mod:`~emscale.spectroscopy.background`, also :meth:`emscale.Signal.remove_background`), EELS tools (:mod:`.eels`),
EDS tools (:mod:`.eds`) and normalisation (:mod:`.normalise`, also :meth:`emscale.Signal.normalise`).

Importing the package declares their operations in the registry.
"""

from . import background, eds, eels, normalise

__all__ = ["background", "eds", "eels", "normalise"]
