"""A progress bar for passes: ``progress=True`` of any operation, and the command line's bars.

:func:`.passes.run_pass` calls ``progress(bytes_done, bytes_total)`` after each partition of *one* pass; an
operation may run several passes (a background fit and an integration, NMF's four), and each starts again from 0.
``progress=True`` therefore gives each pass a bar of its own, named after the pass.
"""

from __future__ import annotations


class ProgressBar:
    """A rich progress bar fed by the engine's ``progress(bytes_done, bytes_total)`` callback (a context manager)."""

    def __init__(self, description: str):
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

        self._p = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                           TransferSpeedColumn(), TimeRemainingColumn(), transient=False)
        self._desc = description
        self._task = None

    def __enter__(self):
        self._p.__enter__()
        self._task = self._p.add_task(self._desc, total=None)
        return self

    def __call__(self, done: int, total: int):
        self._p.update(self._task, completed=done, total=total)

    def __exit__(self, *exc):
        return self._p.__exit__(*exc)
