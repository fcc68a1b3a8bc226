"""Atomic outputs: everything emscale writes appears whole or not at all, and of two writers exactly one wins.

Writing. A file or folder is written under a hidden temporary sibling ``.NAME.tmp-PID-HOST-RANDOM`` (same
filesystem) and moved into place only once complete:

* a new destination is taken with an atomic *no-replace* move -- ``renameat2(RENAME_NOREPLACE)`` where the kernel
  has it, else ``os.link`` for a file and ``rename`` for a folder (which fails onto a non-empty folder). The
  existence check and the move are one system call, so of two writers racing for the same new destination
  exactly one wins and the other gets ``OutputExistsError`` (an early check spares it the work in the usual case);
* with ``overwrite=True`` a file is replaced by ``os.replace`` (a reader holds the old file open and reads it
  whole); a folder is swapped under an exclusive ``flock`` on the destination folder itself, by
  ``renameat2(RENAME_EXCHANGE)`` where available -- the destination is never missing, the old folder lands under
  the temporary name and is removed -- else by two renames (destination to ``.NAME.old-PID-HOST-RANDOM``, new
  folder to the destination). Entries of the user's in the old folder that the writer keeps (the demo's
  ``--overwrite``) are hard-linked into the new one just before the swap, so each is in place at every moment.

An existing *empty* results folder (``-o .``) is not swapped, which would leave a shell inside it in a deleted
folder: it is filled in place from a temporary folder inside it, entry by entry under its lock, the listing of what
was written last (``atomic_dir(..., create=True, last=...)``).

Reading. ``read_lock(path)`` holds a shared ``flock`` on the folder while a reader opens it (and, for an eager
read, reads it): a swap waits for such readers and they wait for the swap, so an eager read sees the old or the
new folder whole. A lazy reader cannot hold a lock for the life of its array; the store's per-chunk checksums
(``io/store.py``) turn a chunk of a store replaced under it into an error that says so.

Why locks on the destination itself, not a stable symlink to versioned folders: a store must stay a plain folder
that ``cp -r``, ``rsync`` or a zip copies as data (a symlink copies as a link to a folder left behind). Why not a
sibling ``.NAME.lock`` file: the lock on the folder leaves nothing behind, needs no write access to read, and
a reader that locked a folder that was meanwhile replaced notices (its inode is no longer the one at the path)
and locks the new one.

Crashes. A process killed while writing leaves its temporary; one killed after the exchange leaves the old
folder under its temporary name; one killed between the two renames of the portable swap leaves the destination
missing and the old data in ``.NAME.old-*``. Every write first cleans the temporaries of dead processes of this
host (the PID in the name is not alive) and, if the destination is missing while an ``.old-*`` sibling of a dead
process exists, puts that back (rolls the swap back: the new data were never in place). ``recover(path)`` does
both, the roll-back first; readers call it, so a read also restores the destination and removes what a killed
writer left beside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import FileFormatError, OutputExistsError

try:
    import fcntl
except ImportError:  # not POSIX: no locks, the no-replace moves still hold
    fcntl = None

_NO_LOCKS = -1
LOCK_TIMEOUT_S = 600.0  # how long a swap waits for readers of the destination before giving up
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
_SIBLING = re.compile(r"\.(?P<tag>tmp|old)-(?P<pid>\d+)(?:-(?P<host>[0-9a-f]{8}))?-[0-9a-f]{8}$")


def _load_renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _NOREPLACE, _EXCHANGE = -100, 1, 2


def _renameat2(src: Path, dst: Path, flag: int) -> bool:
    """``renameat2`` with ``flag``; False when this kernel/filesystem lacks it (the caller falls back)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flag) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def temporary_sibling(dst: Path, tag: str = "tmp") -> Path:
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.{tag}-{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _siblings(dst: Path) -> list[tuple[str, Path, int, bool]]:
    """This host's ``.tmp-``/``.old-`` siblings of ``dst``: (tag, path, owner's pid, owner alive)."""
    prefix = f".{dst.name}."
    out = []
    try:
        entries = list(os.scandir(dst.parent))
    except OSError:
        return out
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        m = _SIBLING.fullmatch(e.name[len(prefix) - 1:])
        if m and m["host"] in (None, _HOST):
            pid = int(m["pid"])
            out.append((m["tag"], Path(e.path), pid, _alive(pid)))
    return out


def recover(dst, wait_s: float = 10.0) -> None:
    """Finish what a crash interrupted at ``dst``: if it is missing while an ``.old-*`` sibling of a dead process
    holds the data, put that back. A live process in the middle of its swap is given ``wait_s`` to finish. Then the
    temporaries of this host's dead processes beside it are removed (a SIGKILL during a save left its hidden, half
    written ``.tmp-*`` through every later load and listing, until ``dst`` itself was written again).

    Only a swap cut between its renames is undone: that leaves the ``.old-*`` *and* the complete ``.tmp-*`` of
    the same process. A lone ``.old-*`` (a crash after the swap, before the clean-up) is not put back: the
    destination was replaced, and may since have been deleted on purpose.
    """
    dst = Path(dst)
    _restore(dst, wait_s)
    try:
        _clean_stale(dst)
    except OSError:  # a read-only folder: what a crash left there stays
        pass


# An in-place fill (:func:`_fill_in_place`) lists what it moves into the empty folder here first and removes the
# list once its last entry is in: a crash half-way left some of the results, no manifest, and a folder every later
# run refused ("not empty"; with --overwrite, "not a results folder that emscale wrote") until cleaned by hand. Undone
# where an output folder is checked (check_output_folder, which every in-place fill's caller runs first), not on every
# read as the other clean-ups of recover()
FILLING = ".emscale-filling"


def _undo_cut_fill(dst: Path) -> None:
    """Empty again a folder whose in-place fill was cut off (its :data:`FILLING` list there, its writer gone: the
    folder's lock free): the entries the list names are removed, none other; where the fill's last entry (the
    manifest) is in, the fill was whole, and only the list goes."""
    marker = dst / FILLING
    if not marker.is_file() or marker.is_symlink():
        return
    try:
        fd = _lock(dst, exclusive=True, timeout=0.0)
    except FileFormatError:  # a live writer holds it: its fill is under way
        return
    if fd is None:
        return
    try:
        try:
            listed = json.loads(marker.read_text(encoding="utf-8"))
            names, last = [str(n) for n in listed["names"]], listed.get("last")
        except (OSError, ValueError, KeyError, TypeError):
            return  # not a list this module wrote: left alone
        whole = last is not None and os.path.lexists(dst / str(last))
        if not whole:
            for name in names:
                if Path(name).name == name and name not in ("", ".", ".."):  # entries of dst only
                    _remove(dst / name)
        marker.unlink(missing_ok=True)
    finally:
        if fd != _NO_LOCKS:
            os.close(fd)


def _restore(dst: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not os.path.lexists(dst):
        sibs = _siblings(dst)
        cut = {pid for tag, _p, pid, _a in sibs if tag == "tmp"}
        olds = [(p, alive) for tag, p, pid, alive in sibs if tag == "old" and pid in cut]
        if not olds:
            return
        dead = [p for p, alive in olds if not alive]
        if dead:
            try:
                newest = max(dead, key=lambda p: p.lstat().st_ctime)
                _move_new(newest, dst)
            except (FileExistsError, FileNotFoundError):
                pass  # another process recovered it first
            except OSError:
                return  # read-only folder: nothing we can do; the caller reports the missing destination
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _clean_stale(dst: Path) -> None:
    for _tag, p, _pid, alive in _siblings(dst):
        if not alive:
            _remove(p)


@contextlib.contextmanager
def scratch_beside(dst) -> Iterator[Path]:
    """A hidden scratch folder beside ``dst`` for work that ends in writing ``dst`` (the slices of an out-of-core
    reconstruction), removed on the way out. It is named as a temporary sibling (``.NAME.tmp-PID-HOST-RANDOM``): a
    SIGKILL, which no clean-up survives, leaves it behind, and the next write of ``dst`` (this one first) removes it
    as it removes every temporary of a dead process of this host, and nothing else."""
    dst = Path(dst)
    _clean_stale(dst)
    tmp = temporary_sibling(dst)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        _remove(tmp)


def _check(dst: Path, overwrite: bool) -> None:
    if not dst.parent.exists():
        raise FileFormatError(f"{dst.parent}: output directory does not exist")
    recover(dst)  # with the temporaries of dead processes
    if os.path.lexists(dst) and not overwrite:
        raise _exists(dst)


def check_output_file(dst, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output file that :func:`atomic_write` would refuse only once the work is done: an
    existing one without ``overwrite``, a folder in its place, a folder to write it in that is missing or not
    writable. Returns ``dst`` as a Path."""
    dst = Path(dst)
    problem = output_folder_problem(dst)
    if problem in ("does not exist", "is a file, not a folder"):
        raise FileFormatError(f"{dst.parent}: output directory {problem}: nothing written")
    if dst.is_dir():
        raise OutputExistsError(f"{dst} is a folder; the output file would replace it: nothing written")
    if os.path.lexists(dst) and not overwrite:
        raise _exists(dst)
    if problem:
        raise FileFormatError(f"{dst.parent}: output directory {problem}: nothing written")
    return dst


def output_folder_problem(dst) -> str | None:
    """What keeps the folder of ``dst`` from taking it, in words that follow the folder's name (None: nothing): it
    does not exist, is a file, is not writable, or takes no new entry (``/sys``, ``/proc``, where root passes
    ``os.access``: a probe folder is made and removed). Checked before any work: the write itself failed naming its
    temporary (``[Errno 20] Not a directory: 'notdir/.x.zarr.tmp-...'``)."""
    parent = Path(dst).parent
    if not parent.exists():
        return "does not exist"
    if not parent.is_dir():
        return "is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return "is not writable"
    probe = temporary_sibling(Path(dst))
    try:
        os.mkdir(probe)
    except OSError as exc:
        return f"takes no new entry ({exc.strerror})"
    os.rmdir(probe)
    return None


def _exists(dst: Path) -> OutputExistsError:
    return OutputExistsError(f"{dst} already exists; pass overwrite=True (--overwrite) to replace it")


def _move_new(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` only if ``dst`` does not exist (FileExistsError otherwise), atomically."""
    if _renameat2(src, dst, _NOREPLACE):
        return
    if src.is_dir() and not src.is_symlink():
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst))
        try:
            os.rename(src, dst)  # fails onto a non-empty folder
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise FileExistsError(errno.EEXIST, "exists", str(dst)) from exc
            raise
        return
    try:
        os.link(src, dst)  # fails if dst exists
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem: check-then-rename, the best left
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from None
        os.replace(src, dst)
        return
    os.unlink(src)


def _lock(path: Path, exclusive: bool, timeout: float | None) -> int | None:
    """Open ``path`` and ``flock`` it; re-check that the locked inode is still the one at ``path`` (a swap may
    have replaced it while we waited). Returns the fd, None if ``path`` does not exist, ``_NO_LOCKS`` where the
    filesystem has no locks."""
    if fcntl is None:
        return _NO_LOCKS
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            while True:
                try:
                    fcntl.flock(fd, mode | (fcntl.LOCK_NB if deadline is not None else 0))
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise FileFormatError(f"{path}: still in use by another reader or writer after "
                                              f"{timeout:.0f} s; try again") from None
                    time.sleep(0.01)
                except OSError as exc:  # a filesystem without flock
                    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                        os.close(fd)
                        return _NO_LOCKS
                    raise
            st, now = os.fstat(fd), None
            with contextlib.suppress(FileNotFoundError):
                now = os.stat(path)
            if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced while we waited: lock the new one


@contextlib.contextmanager
def read_lock(path) -> Iterator[None]:
    """Hold a shared lock on ``path`` (a folder written by ``atomic_dir``) while reading it: no swap happens
    meanwhile. Restores a destination a crash left missing first. Does nothing where locks do not exist."""
    path = Path(path)
    recover(path)
    fd = _lock(path, exclusive=False, timeout=None)
    try:
        yield
    finally:
        if fd is not None and fd != _NO_LOCKS:
            os.close(fd)


class _Changed(Exception):
    """The destination may no longer be replaced: it changed while the new folder was written (``changed``), or
    what of the user's it holds cannot be kept in the new one."""

    def __init__(self, why: str, changed: bool = True):
        super().__init__(why)
        self.changed = changed


def _swap_in(tmp: Path, dst: Path, overwrite: bool, replaceable=None, keep=None) -> Path | None:
    """Put the complete ``tmp`` at ``dst``. Returns what to delete afterwards (the old folder), if anything.
    ``replaceable(dst)``: None where an existing folder may be replaced, else why not (checked under its lock);
    ``keep(dst)``: the entries of the user's in it to keep in the new folder (:func:`_link_kept`)."""
    while True:
        try:
            _move_new(tmp, dst)
            return None
        except FileExistsError:
            if not overwrite:
                raise _exists(dst) from None
        if not (tmp.is_dir() and not tmp.is_symlink()):
            os.replace(tmp, dst)  # a reader keeps the old file open and reads it whole
            return None
        fd = _lock(dst, exclusive=True, timeout=LOCK_TIMEOUT_S)
        if fd is None:
            continue  # removed while we locked: try the no-replace move again
        try:
            why = None if replaceable is None else replaceable(dst)
            if why is not None:
                raise _Changed(why)
            if keep is not None:
                _link_kept(dst, tmp, keep(dst))
            if _renameat2(tmp, dst, _EXCHANGE):
                return tmp  # the old folder is now under the temporary name
            old = temporary_sibling(dst, "old")
            os.replace(dst, old)
            os.replace(tmp, dst)
            return old
        finally:
            if fd != _NO_LOCKS:
                os.close(fd)


def _link_kept(dst: Path, tmp: Path, kept: list[str]) -> None:
    """Hard-link the user's entries ``kept`` of ``dst`` (relative paths; an empty folder's ends in ``/``) into the
    new folder ``tmp`` before the swap. Links, not moves: until the old folder is removed each file is in both, so a
    crash at any point leaves it in place (at worst twice); nothing is copied. Refused (:class:`_Changed`, the new
    results kept beside) where a name is one of the new results' or the file system has no hard links."""
    made: list[Path] = []
    try:
        for rel in kept:
            new = tmp / rel
            if os.path.lexists(new):
                raise _Changed(f"{rel.rstrip('/')}, of yours, has the name of one of the new results; move it out "
                               "first", changed=False)
            try:
                if rel.endswith("/"):
                    new.mkdir(parents=True)
                else:
                    new.parent.mkdir(parents=True, exist_ok=True)
                    os.link(dst / rel, new, follow_symlinks=False)
                made.append(new)
            except OSError as exc:
                raise _Changed(f"{rel}, of yours, could not be kept in the new folder ({exc.strerror or exc}); move "
                               "it out first", changed=False) from None
    except _Changed:  # the new results, kept beside, hold none of the user's entries
        for new in reversed(made):
            new.rmdir() if new.is_dir() and not new.is_symlink() else new.unlink()
        raise


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
        _swap_in(tmp, dst, overwrite)
    except BaseException:
        _remove(tmp)
        raise


def check_output_folder(dst, overwrite: bool, unlisted: Callable[[Path], list[str] | None], protected=(),
                        what: str = "results folder") -> Path:
    """Refuse, before any work, an output folder whose replacement would destroy what emscale did not write;
    returns ``dst`` resolved (``-o .`` names the current folder).

    Refused whatever ``overwrite`` says: an existing file (a folder would replace it), and a folder that is or holds
    one of the ``protected`` paths (a recipe and its raw input: ``--overwrite`` of the folder that holds them
    deleted them). With ``overwrite=True`` a non-empty folder is replaced only where ``unlisted(dst)`` is an empty
    list: it is a folder emscale wrote (``unlisted`` gives None where it is not one) and holds no file that its own
    list of what it wrote lacks (a user's notes dropped into it); without, a non-empty folder is refused."""
    dst = Path(dst).resolve()
    if dst.exists() and not dst.is_dir():
        raise OutputExistsError(f"{dst} is a file, not a folder; the {what} would replace it: nothing written")
    if dst.is_dir():
        _clean_stale(_inner(dst))  # what a killed run left inside a folder it was filling in place
        with contextlib.suppress(OSError):
            _undo_cut_fill(dst)  # and what it had moved in
    for p in protected:
        p = Path(p).resolve()
        if p == dst or dst in p.parents:
            raise OutputExistsError(f"{dst} holds {p}, which this run reads; choose an output folder that does not "
                                    "hold it: nothing written")
        if p.is_dir() and p in dst.parents:  # inside an input store: its folder is the data
            raise OutputExistsError(f"{dst} lies inside {p}, which this run reads; choose an output folder outside "
                                    "it: nothing written")
    if dst.exists() and any(dst.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{dst} exists and is not empty; pass --overwrite (overwrite=True) to replace "
                                    f"a {what} that emscale wrote")
        refused = _not_replaceable(dst, unlisted, what)
        if refused:
            raise OutputExistsError(refused + ": nothing written")
        if _holds_cwd(dst):  # the swap would leave the shell in the old folder, deleted
            raise OutputExistsError(f"{dst} is the current folder or holds it: --overwrite replaces the folder with a "
                                    "new one, which would leave this shell in a deleted folder; run from outside it: "
                                    "nothing written")
    return dst


def _holds_cwd(dst: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the current folder is gone already
        return False
    return cwd == dst or dst in cwd.parents


def _not_replaceable(dst: Path, unlisted: Callable[[Path], list[str] | None], what: str) -> str | None:
    """Why the non-empty folder ``dst`` may not be replaced, or None where it may (see :func:`check_output_folder`)."""
    foreign = unlisted(dst)
    if foreign is None:
        return f"{dst} is not a {what} that emscale wrote; --overwrite replaces only such a folder"
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return (f"{dst} holds {len(foreign)} file(s) that emscale did not write or that were changed since "
                f"({shown}); --overwrite would lose them: move them out first")
    return None


def replaceable_folder(overwrite: bool, unlisted: Callable[[Path], list[str] | None], what: str = "results folder"):
    """The check :func:`atomic_dir` makes at its swap, under the folder's lock: the folder is empty, or (with
    ``overwrite``) one emscale wrote that holds nothing else. The same rule as :func:`check_output_folder`, again at
    the end: a user may have put files into the folder while the run was writing its results."""
    def check(dst: Path) -> str | None:
        if not dst.is_dir() or dst.is_symlink():
            return f"{dst} is no longer a folder"
        if not any(dst.iterdir()):
            return None
        if not overwrite:
            return f"{dst} is not empty any more"
        return _not_replaceable(dst, unlisted, what)

    return check


def atomic_dir(dst, write: Callable[[Path], None], overwrite: bool = False, create: bool = False,
               replaceable: Callable[[Path], str | None] | None = None, last: str | None = None,
               keep: Callable[[Path], list[str]] | None = None) -> None:
    """Run ``write(tmp)`` to fill a temporary sibling folder, then move it to ``dst``.

    ``create=True`` makes the temporary folder first (``write`` fills it); otherwise ``write`` creates it (a
    zarr store). An existing ``dst`` is replaced only with ``overwrite=True`` and only once the new one is whole;
    of two writers of a new ``dst`` without ``overwrite`` one wins and the other gets ``OutputExistsError``.
    ``replaceable(dst)`` (:func:`replaceable_folder`), checked under the lock just before an existing ``dst`` is
    replaced, says why it may not be (None: it may); then nothing is replaced, the new folder is kept beside it
    under a name of its own, and the ``OutputExistsError`` names both. ``keep(dst)``, called there too, lists the
    entries of the user's (relative paths, an empty folder's ending in ``/``) that the new folder keeps
    (:func:`_link_kept`).

    With ``create=True`` an existing *empty* folder is filled in place (:func:`_fill_in_place`), not swapped for a
    new one: ``-o .`` in an empty folder left the shell in the deleted old folder, seeing nothing.
    """
    dst = Path(dst)
    _check(dst, overwrite)
    in_place = create and dst.is_dir() and not dst.is_symlink() and not _entries(dst)
    tmp = temporary_sibling(_inner(dst) if in_place else dst)
    try:
        if create:
            tmp.mkdir()
        write(tmp)
        old = _fill_in_place(tmp, dst, last) if in_place else _swap_in(tmp, dst, overwrite, replaceable, keep)
    except _Changed as why:  # hours of work are not thrown away for it: kept where no clean-up removes them
        kept = dst.with_name(f"{dst.name}.new-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.rename(tmp, kept)
        lead = f"{dst} changed while this run wrote its results ({why})" if why.changed else f"{dst}: {why}"
        raise OutputExistsError(f"{lead}; it was not replaced, and the new results are in {kept}") from None
    except OSError as exc:
        _remove(tmp)
        if str(tmp) in str(exc.filename or "") and not isinstance(exc, FileFormatError):  # the disk full...
            raise FileFormatError(f"{dst}: could not be written ({exc.strerror or exc}): nothing written") from exc
        raise
    except BaseException:
        _remove(tmp)
        raise
    if old is not None:
        _remove(old)


def _inner(dst: Path) -> Path:
    """The name whose temporary siblings (:func:`temporary_sibling`) lie *inside* ``dst``: the folder an in-place
    fill writes first, on the same file system, found and cleaned by the usual rules (:func:`_clean_stale`)."""
    return dst / dst.name


def _entries(dst: Path) -> list[Path]:
    """What ``dst`` holds, less the temporary folders of in-place fills (this one's, or another writer's)."""
    prefix = f".{dst.name}.tmp-"
    return [p for p in dst.iterdir() if not p.name.startswith(prefix)]


def _fill_in_place(tmp: Path, dst: Path, last: str | None) -> None:
    """Move what ``tmp`` (inside ``dst``) holds into the empty folder ``dst``, entry by entry (renames on one file
    system), ``last`` last -- the listing of what was written (a manifest), so that a folder cut off half-way is
    no results folder -- and remove ``tmp``. Under the folder's exclusive lock, and only if ``dst`` is still empty
    (else :class:`_Changed`: a user's file put into it meanwhile, or another writer's results)."""
    fd = _lock(dst, exclusive=True, timeout=LOCK_TIMEOUT_S)
    if fd is None:
        raise _Changed(f"{dst} was removed")
    try:
        if _entries(dst):
            raise _Changed(f"{dst} is not empty any more")
        entries = sorted(tmp.iterdir(), key=lambda p: p.name == last)
        marker = dst / FILLING
        marker.write_text(json.dumps({"names": [p.name for p in entries], "last": last}), encoding="utf-8")
        for p in entries:
            _move_new(p, dst / p.name)
        tmp.rmdir()
        marker.unlink()
    finally:
        if fd != _NO_LOCKS:
            os.close(fd)


__all__ = ["LOCK_TIMEOUT_S", "atomic_dir", "atomic_write", "check_output_folder", "output_folder_problem",
           "read_lock", "recover", "replaceable_folder", "temporary_sibling"]
