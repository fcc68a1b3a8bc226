"""Training an ERD model from image files: gather the 2-D images of files and folders, fit, summarise.

What counts as a training image: every 2-D image a file holds -- an image (two signal axes, no navigation), each
frame of an image stack (two signal axes over one or more navigation axes, e.g. the projections of a tilt series),
a map (two navigation axes, no signal axis, e.g. a spectrum image summed over energy) -- read by
:func:`emscale.load` (emscale ``.zarr`` stores and every vendor format RosettaSciIO reads) or from a ``.npy``
array (read without pickles). Spectrum images and other signals that are not images are skipped; a file with no
image at all is an error that names it. A folder contributes its files and stores in name order (not recursive).

The ERD regression is :func:`.slads_model.train_erd_model`; this module only feeds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.signal import Signal
from .slads_model import ERDModel, check_fractions, train_erd_model, without_contrast

__all__ = ["images_from_files", "train_erd_from_files"]


def _images_of_signal(s: Signal) -> list[np.ndarray]:
    """The 2-D images of one signal (see the module docstring); empty if it holds none."""
    data = np.asarray(s.data)
    n_sig = len(s.sig_shape)
    if n_sig == 2:
        return [np.asarray(im, dtype=np.float64) for im in data.reshape((-1,) + data.shape[-2:])]
    if n_sig == 0 and data.ndim == 2:
        return [data.astype(np.float64)]
    return []


def _images_of_file(path: Path) -> list[np.ndarray]:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:  # numpy's words name no file, and advise loading an untrusted pickle
            if "Object arrays" in str(e):
                why = "an array of Python objects (stored as a pickle, which emscale never loads); save a numeric array"
            elif "pickled" in str(e):
                why = "not a .npy array (no .npy header: a pickle or another format; emscale never loads pickles)"
            else:
                why = f"not a readable .npy array ({e})"
            raise DataError(f"{path}: {why}") from None
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a readable .npy array ({e})") from None
        if arr.ndim < 2:
            raise DataError(f"{path}: a .npy training image must be 2-D (or a stack of 2-D images), got shape "
                            f"{arr.shape}")
        return [np.asarray(im, dtype=np.float64) for im in arr.reshape((-1,) + arr.shape[-2:])]
    from ..io import load

    loaded = load(path)
    images = []
    for s in loaded if isinstance(loaded, list) else [loaded]:
        images += _images_of_signal(s)
    return images


def _expand(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"{p}: training image file or folder does not exist")
        if p.is_dir() and p.suffix.lower() != ".zarr":
            inside = sorted(q for q in p.iterdir() if not q.name.startswith("."))
            if not inside:
                raise DataError(f"{p}: folder holds no files")
            out += inside
        else:
            out.append(p)
    return out


def images_from_files(paths) -> tuple[list[np.ndarray], list[tuple[str, int]]]:
    """Every 2-D training image of ``paths`` (files, ``.zarr`` stores or folders of them).

    Returns
    -------
    images : list of (rows, cols) float64 arrays.
    sources : (path, number of images) for every file read.
    """
    images, sources = [], []
    for p in _expand(paths):
        found = [im for im in _images_of_file(p) if im.size > 0]
        if not found:
            raise DataError(f"{p}: holds no 2-D image (a spectrum image? sum it over energy into a map first)")
        for im in found:
            if not np.all(np.isfinite(im)):
                raise DataError(f"{p}: an image holds NaN or infinite values")
        flat = without_contrast(found)
        if flat:
            which = "its image" if len(found) == 1 else f"image {flat[0]} of its {len(found)}"
            raise DataError(f"{p}: {which} has no contrast (every pixel {found[flat[0]].flat[0]:g}): there is no error "
                            f"to learn the ERD from; leave it out of the training images")
        images += found
        sources.append((str(p), len(found)))
    return images, sources


def train_erd_from_files(paths, fractions=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4), n_pixels: int = 4000, k: int = 4,
                         c: float = 4.0, seed: int = 0,
                         regressor: str = "mlp") -> tuple[ERDModel, list[tuple[str, int]]]:
    """Fit an ERD model on every image of ``paths`` (see :func:`images_from_files`).

    Parameters
    ----------
    paths : files, ``.zarr`` stores or folders of them.
    fractions, n_pixels, k, c, seed, regressor : see :func:`.slads_model.train_erd_model`.

    Returns
    -------
    (model, sources) with ``sources`` as in :func:`images_from_files`; the model's ``info`` records the sources.

    Example
    -------
    >>> model, _ = train_erd_from_files(["haadf_images/"], fractions=(0.05, 0.2), seed=1)
    >>> model.save("adf_erd.json")
    """
    fractions = check_fractions(fractions)  # before any file is read
    images, sources = images_from_files(paths)
    model = train_erd_model(images, fractions=fractions, n_pixels=n_pixels, k=k, c=c, seed=seed, regressor=regressor)
    model.info["sources"] = [{"path": Path(p).name, "images": n} for p, n in sources]
    return model, sources
