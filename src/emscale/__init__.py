"""emscale: reproducible, scalable analysis of electron-microscopy spectrum images.

>>> import emscale as em
>>> s = em.load("EELS Spectrum Image.dm3")
"""

__version__ = "0.1.0"

from .axes import Axis
from .engine import InlineExecutor, ThreadExecutor, get_executor, use_executor
from .errors import AxisError, DataError, EmscaleError, FileFormatError, OutputExistsError
from .history import replay
from .io import convert, load, supported_formats
from .signal import Signal


def __getattr__(name):
    # Heavier subsystems load on first use so `import emscale` stays fast.
    if name == "decompose":
        from .decomposition import decompose

        return decompose
    if name == "use_cluster":
        from .engine.distributed import use_cluster

        return use_cluster
    if name in ("samples",):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'emscale' has no attribute {name!r}")


__all__ = [
    "Axis",
    "AxisError",
    "DataError",
    "EmscaleError",
    "FileFormatError",
    "InlineExecutor",
    "OutputExistsError",
    "Signal",
    "ThreadExecutor",
    "convert",
    "get_executor",
    "load",
    "replay",
    "supported_formats",
    "use_cluster",
    "use_executor",
    "__version__",
]
