"""emscale: reproducible, scalable analysis of electron-microscopy spectrum images.

>>> import emscale as em
>>> s = em.load("EELS Spectrum Image.dm3")

Importing the package imports every operation package, so that each operation is declared in the registry
(:mod:`emscale.core.registry`) before anything is replayed or run from a recipe.
"""

# Operation packages (each declares its operations on import).
from . import inpainting, plotting, sampling, spectroscopy, tomography, viewer  # noqa: E402, I001
from .core import numpy_protocol as _numpy_protocol  # noqa: F401 -- s + t, 2 * s, np.log(s): their operations
from .core import calibrate as _calibrate  # noqa: F401 -- s.calibrate(axis, scale=..., offset=...): recorded
from .core.axes import Axis
from .core.errors import (ArgumentError, AxisError, DataError, EmscaleError, FileFormatError, OutputExistsError,
                          ReplayError)
from .core.signal import Signal, derive
from .core.version import __version__
from .decomposition import decompose  # noqa: E402
from .engine import InlineExecutor, ThreadExecutor, get_executor, use_executor
from .io import convert, load, supported_formats, verify
from .workflows.replay import replay  # noqa: E402


def load_result(path):
    """A result emscale saved as ``.npz`` (a Decomposition, its ClusterResult, a SLADS or autonomous run), by the
    format tag in the file; ``emscale run`` writes them beside ``signal.zarr``. No pickles: safe to open."""
    from . import decomposition, sampling  # noqa: F401 -- their result kinds register on import
    from .core.result import load_result as _load_result

    return _load_result(path)


def __getattr__(name):
    # Subsystems that pull in heavier dependencies load on first use so `import emscale` stays fast.
    if name == "use_cluster":
        from .engine.distributed import use_cluster

        return use_cluster
    if name == "samples":
        from .workflows import samples

        return samples
    raise AttributeError(f"module 'emscale' has no attribute {name!r}")


__all__ = [
    "ArgumentError",
    "Axis",
    "AxisError",
    "DataError",
    "EmscaleError",
    "FileFormatError",
    "InlineExecutor",
    "OutputExistsError",
    "ReplayError",
    "Signal",
    "ThreadExecutor",
    "convert",
    "decompose",
    "derive",
    "get_executor",
    "inpainting",
    "load",
    "load_result",
    "plotting",
    "replay",
    "sampling",
    "spectroscopy",
    "supported_formats",
    "tomography",
    "use_cluster",
    "use_executor",
    "verify",
    "viewer",
    "__version__",
]
