"""Where to measure: sparse scan patterns and simulated sparse acquisitions (compressed-sensing STEM), a microscope
interface with a virtual microscope serving recorded data, dynamic sampling (SLADS) of images, and autonomous
spectrum imaging. Importing the package declares their operations.

>>> from emscale.sampling import random_pattern, positions
>>> mask = random_pattern((256, 256), 0.1, seed=0)     # True = measured
>>> pos = positions(mask, order="raster")               # (n, 2) (row, column) in scan order
"""

from . import autonomous, microscope, run_signals, slads
from .acquire import sample_array, sample_scan, scan_mask, scan_shape, with_scan_mask
from .patterns import (
    PATTERNS,
    check_mask,
    jittered_grid_pattern,
    line_hop_pattern,
    load_positions,
    make_pattern,
    positions,
    random_pattern,
    read_positions,
    save_positions,
)

__all__ = [
    "PATTERNS",
    "autonomous",
    "check_mask",
    "jittered_grid_pattern",
    "line_hop_pattern",
    "load_positions",
    "make_pattern",
    "microscope",
    "positions",
    "random_pattern",
    "read_positions",
    "run_signals",
    "sample_array",
    "sample_scan",
    "save_positions",
    "scan_mask",
    "scan_shape",
    "slads",
    "with_scan_mask",
]
