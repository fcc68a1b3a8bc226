"""Spectroscopy tools for EELS and EDS spectrum images: background removal
(:mod:`~emscale.spectroscopy.background`, also :meth:`emscale.Signal.remove_background`), EELS tools (:mod:`.eels`),
EDS tools (:mod:`.eds`), alignment of spectra by cross-correlation (:mod:`.align`) and normalisation
(:mod:`.normalise`, also :meth:`emscale.Signal.normalise`).

Importing the package declares their operations in the registry.
"""

from . import align, background, eds, eels, normalise

__all__ = ["align", "background", "eds", "eels", "normalise"]
