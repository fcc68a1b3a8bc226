"""Where the tutorials find the real instrument files, and what they do when the files are absent.

The files live beside the checkout in ``../shared/data/real`` (the tests use the same place, see
``tests/conftest.py``); ``EMSCALE_REAL_DATA`` points elsewhere. A tutorial that needs one calls
:func:`real_file`, which returns ``None`` and prints a visible note when the file is missing, so that the
tutorial falls back to the embedded samples (:mod:`emscale.workflows.samples`) and the docs still build on a
clone without the data.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout's root: the first folder above the working directory holding ``pyproject.toml``."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


REAL_DATA = Path(os.environ.get("EMSCALE_REAL_DATA", repo_root().parent / "shared/data/real"))


def real_file(name: str) -> Path | None:
    """``REAL_DATA / name`` when it exists, else ``None`` after printing a note that the sample is used."""
    path = REAL_DATA / name
    if path.is_file():
        return path
    print(f"NOTE: real data file {name!r} not found in {REAL_DATA} (set EMSCALE_REAL_DATA); "
          "this tutorial uses an embedded synthetic sample instead.")
    return None
