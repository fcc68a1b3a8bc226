"""Atomic outputs: everything emscale writes appears whole or not at all.

A file or folder is written under a hidden temporary sibling (same filesystem, so the final ``os.replace`` is
atomic) and renamed into place only once complete; a crash or exception leaves the destination as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from .errors import FileFormatError, OutputExistsError


def temporary_sibling(dst: Path, tag: str = "tmp") -> Path:
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _check(dst: Path, overwrite: bool) -> None:
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst} already exists; pass overwrite=True (--overwrite) to replace it")
    if not dst.parent.exists():
        raise FileFormatError(f"{dst.parent}: output directory does not exist")


def atomic_write(dst, content: str | bytes | Callable[[Path], None], overwrite: bool = False) -> None:
    """Write a file atomically. ``content`` is text, bytes, or a function that writes the temporary path."""
    dst = Path(dst)
    _check(dst, overwrite)
    tmp = temporary_sibling(dst)
    try:
        if callable(content):
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise


def atomic_dir(dst, write: Callable[[Path], None], overwrite: bool = False, create: bool = False) -> None:
    """Run ``write(tmp)`` to fill a temporary sibling folder, then rename it to ``dst``.

    ``create=True`` makes the temporary folder first (``write`` fills it); otherwise ``write`` creates it (a
    zarr store). An existing ``dst`` is replaced only with ``overwrite=True`` and only once the new one is whole.
    """
    dst = Path(dst)
    _check(dst, overwrite)
    tmp = temporary_sibling(dst)
    try:
        if create:
            tmp.mkdir()
        write(tmp)
        if dst.exists():
            old = temporary_sibling(dst, "old")
            os.replace(dst, old)
            os.replace(tmp, dst)
            _remove(old)
        else:
            os.replace(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise


__all__ = ["atomic_dir", "atomic_write", "temporary_sibling"]
