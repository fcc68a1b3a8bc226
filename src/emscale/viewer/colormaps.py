"""Colour maps for the navigator, as 256-entry RGB tables the page applies itself (no plotting on the server).

Taken from matplotlib (a core dependency) so that the viewer's colours are those of emscale's static figures.
"""

from __future__ import annotations

from functools import lru_cache

NAMES = ("gray", "viridis", "inferno", "magma", "cividis", "twilight")


@lru_cache(maxsize=1)
def colormaps() -> dict[str, str]:
    """``{name: hex string of 256 x RGB bytes}`` for :data:`NAMES`."""
    import numpy as np
    from matplotlib import colormaps as mpl

    out = {}
    for name in NAMES:
        rgb = (mpl[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
        out[name] = rgb.tobytes().hex()
    return out
