"""Where to measure: a microscope interface with a virtual microscope serving recorded data, dynamic sampling
(SLADS) of images, and autonomous spectrum imaging. Importing the package declares their operations."""

from . import autonomous, microscope, slads

__all__ = ["autonomous", "microscope", "slads"]
