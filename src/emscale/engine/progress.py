"""A progress bar for passes: ``progress=True`` of any operation, and the command line's bars.

:func:`.passes.run_pass` calls ``progress(bytes_done, bytes_total)`` after each partition of *one* pass; an
operation may run several passes (a background fit and an integration, NMF's four), and each starts again from 0.
``progress=True`` therefore gives each pass a bar of its own, named after the pass.

The bars go to stderr, as warnings and errors do: a command's output piped to a file holds its results only (the
bar's last state ended up among them). A bar appears at the first partition done, so an error before it (a refused
output, an unreadable input) is printed alone, not under an empty ``0/? bytes ?``; one after it takes the bar
away (:func:`close_bar`).
"""

from __future__ import annotations

import time


class ProgressBar:
    """A rich progress bar fed by the engine's ``progress(bytes_done, bytes_total)`` callback (a context manager).

    The bytes are those of the data in memory (uncompressed), and the rate is their average since the bar was
    entered: rich's own rate is of the last few updates, which for a file read in one partition (a sparse Velox EDS
    cube: 134 MB of counts from 6 MB of file, in 10 s) said 2.8 TB/s."""

    def __init__(self, description: str):
        self._desc = description
        self._p = None
        self._task = None
        self._t0 = time.monotonic()

    def __enter__(self):
        self._t0 = time.monotonic()
        return self

    def __call__(self, done: int, total: int):
        if self._p is None:
            self._start()
        self._p.update(self._task, completed=done, total=total)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress

        self._p = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                           _average_rate(self._t0), console=Console(stderr=True), transient=False,
                           get_time=lambda: time.monotonic())  # the clock of t0, wherever it is read
        self._p.__enter__()
        self._task = self._p.add_task(self._desc, total=None)

    def __exit__(self, *exc):
        return None if self._p is None else close_bar(self._p, exc)


def close_bar(p, exc: tuple):
    """Leave a rich ``Progress`` ``p`` as a context manager does, with the exception ``exc`` of ``__exit__``: after
    an error the bar is taken away (from a file, never written), so that the error is the one line on stderr."""
    if exc and exc[0] is not None:
        p.live.transient = True
        p.live.stop()  # not Progress.stop, which ends a file with an empty line
        return None
    return p.__exit__(*exc)


def _average_rate(t0: float):
    """A rich column: the bytes done over the seconds since ``t0``, and those seconds (``6.1 MB/s 0:00:22``; rich's
    elapsed time starts at the first update, after the first partition)."""
    from datetime import timedelta

    from rich.filesize import decimal
    from rich.progress import ProgressColumn
    from rich.text import Text

    class AverageRate(ProgressColumn):
        def render(self, task) -> Text:
            finished = task.finished_time is not None and task.start_time is not None
            elapsed = (task.start_time + task.finished_time if finished else time.monotonic()) - t0
            rate = f"{decimal(int(task.completed / elapsed))}/s" if task.completed and elapsed > 0 else "?"
            return Text(f"{rate} {timedelta(seconds=int(max(elapsed, 0)))}", style="progress.data.speed")

    return AverageRate()
