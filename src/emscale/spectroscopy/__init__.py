"""Spectroscopy tools for EELS and EDS spectrum images.

Submodules are imported on use, e.g. ``from emscale.spectroscopy.background import remove_background``
(also available as :meth:`emscale.Signal.remove_background`).
"""
