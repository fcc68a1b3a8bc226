"""Reconstruction of sparsely scanned images and spectrum images (compressed-sensing STEM).

* images: :func:`inpaint_image` with ``method="sparse"`` (FISTA, Fourier / block-DCT prior; atomic columns
  refitted to their own pixels, :mod:`.columns`, where the hold-out finds it helps), ``"dictionary"``
  (patch dictionary learned from the measured pixels) or a baseline (``"nearest"``, ``"linear"``,
  ``"biharmonic"``); :func:`inpaint_tiled` for large images, tile by tile with overlap.
* spectrum images: :func:`inpaint_spectrum_image` (PCA subspace of the measured spectra, maps inpainted).
* Signals: the registered operation :func:`inpaint` (``s.inpaint(...)``, recorded, replayable, a recipe step).

>>> from emscale.sampling import random_pattern
>>> from emscale.inpainting import inpaint_image
>>> mask = random_pattern(img.shape, 0.1, seed=0)
>>> rec = inpaint_image(img, mask, method="sparse")
"""

from .api import inpaint
from .image import IMAGE_METHODS, inpaint_image
from .spectrum_image import inpaint_spectrum_image
from .tiles import inpaint_tiled

__all__ = ["IMAGE_METHODS", "inpaint", "inpaint_image", "inpaint_spectrum_image", "inpaint_tiled"]
