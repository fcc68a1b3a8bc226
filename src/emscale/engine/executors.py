"""Executors run the tasks of a pass: one task per navigation partition.

An executor maps a function over partitions and hands back the partial results *in partition order*: all at once
(:meth:`Executor.map`) or one by one as soon as every partial before it is in (:meth:`Executor.imap`, which holds
only the partials in flight where the executor can stream). The pass merges them in that fixed order, so every
executor yields bit-identical results.

A pass given up while its tasks run (an error in the consumer, Ctrl-C, SIGTERM) cancels the tasks not yet started
and tells the running ones: a long task (a partition of a reconstruction's iterations) calls :func:`check_stop`
between its steps and ends there, so that the interruption takes effect in a step, not a partition.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor as _Pool
from contextlib import contextmanager
from typing import Any

from .blas import one_blas_thread


class PassStopped(Exception):  # noqa: N818 - a request, not a failure
    """Raised by :func:`check_stop` in a task whose pass was given up; nothing ever waits for its result."""


_task = threading.local()  # .stop: the Event of the pass whose task this thread runs


def check_stop() -> None:
    """End the calling task here (:class:`PassStopped`) where its pass was given up (Ctrl-C, SIGTERM, an error);
    nothing elsewhere (the main thread, an inline executor, whose interruption arrives as it is). Cheap: a long
    task calls it between its steps (a reconstruction: every iteration)."""
    stop = getattr(_task, "stop", None)
    if stop is not None and stop.is_set():
        raise PassStopped("the pass this task belongs to was given up")


def _stoppable(fn: Callable, stop: threading.Event) -> Callable:
    """``fn`` run as a task of the pass that ``stop`` ends (:func:`check_stop` sees it)."""

    def task(item):
        _task.stop = stop
        try:
            return fn(item)
        finally:
            _task.stop = None

    return task


class Executor:
    """Runs a function over items (partitions). Subclasses implement :meth:`map`; those that can hand results
    over one by one also implement :meth:`imap`."""

    name = "base"
    # the tasks run in this process: a pass may write its results into an array it holds (remove_background's
    # output); an executor whose tasks run elsewhere (a Dask cluster) gets them back as partials instead
    shares_memory = True

    def map(
        self, fn: Callable[[Any], Any], items: Sequence, on_done: Callable[[int], None] | None = None
    ) -> list:
        """``[fn(item) for item in items]``; ``on_done(i)`` is called as task ``i`` finishes."""
        raise NotImplementedError

    def imap(
        self, fn: Callable[[Any], Any], items: Sequence, on_done: Callable[[int], None] | None = None
    ) -> Iterator:
        """``fn(item)`` for each item, yielded in item order; ``on_done(i)`` as task ``i`` finishes.

        An executor that can stream yields each result as soon as it and every result before it are in, and
        holds only the results in flight. This default (for executors that cannot) gathers them all first.
        """
        yield from self.map(fn, items, on_done)

    def workers(self) -> int:
        """How many tasks run at once (an operation may size its partitions by it; never its results)."""
        return 1

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class InlineExecutor(Executor):
    """Runs every task in the calling thread, one after another (tests, debugging)."""

    name = "inline"

    def map(self, fn, items, on_done=None):
        return list(self.imap(fn, items, on_done))

    def imap(self, fn, items, on_done=None):
        # one BLAS thread per partition, as in every other executor (a thread pool's workers, Dask's worker
        # processes): a product split over threads can round differently, and the bits must not depend on the
        # executor (an out-of-core run compared inline and threaded gave different digests)
        with one_blas_thread():
            for i, item in enumerate(items):
                out = fn(item)
                if on_done:
                    on_done(i)
                yield out


class ThreadExecutor(Executor):
    """A local thread pool; at most ``n_workers + prefetch`` partitions are in flight, so memory stays bounded
    while the next partition is already being read as the current one computes."""

    name = "threads"

    def __init__(self, n_workers: int | None = None, prefetch: int = 1):
        self.n_workers = max(1, n_workers or os.cpu_count() or 1)
        self.prefetch = max(0, prefetch)

    def map(self, fn, items, on_done=None):
        return list(self.imap(fn, items, on_done))

    def imap(self, fn, items, on_done=None):
        # Results are taken in item order; the next task is submitted once the consumer has taken one, so no
        # more than n_workers + prefetch results are held besides the one the consumer works on.
        # Given up (an exception here or in the consumer, the generator closed): the tasks not started are
        # cancelled and the running ones told (check_stop), before the pool's exit waits for them.
        stop = threading.Event()
        task = _stoppable(fn, stop)
        with one_blas_thread(), _Pool(self.n_workers) as pool:  # one per partition, whatever n_workers
            pending: deque = deque()
            it: Iterable = iter(enumerate(items))
            limit = self.n_workers + self.prefetch

            def submit_next() -> bool:
                try:
                    i, item = next(it)
                except StopIteration:
                    return False
                pending.append((i, pool.submit(task, item)))
                return True

            try:
                while len(pending) < limit and submit_next():
                    pass
                while pending:
                    i, fut = pending.popleft()
                    out = fut.result()
                    del fut
                    if on_done:
                        on_done(i)
                    yield out
                    del out
                    submit_next()
            finally:
                if pending:  # left before the end
                    stop.set()
                    for _, fut in pending:
                        fut.cancel()

    def workers(self) -> int:
        return self.n_workers

    def __repr__(self) -> str:
        return f"<ThreadExecutor n_workers={self.n_workers}>"


_current: Executor | None = None


def get_executor() -> Executor:
    global _current
    if _current is None:
        _current = ThreadExecutor()
    return _current


def runs_here(executor: Executor | str | None = None) -> bool:
    """Whether the tasks of ``executor`` (None: the default one) run in this process, so that a pass may write its
    results into an array held here (:attr:`Executor.shares_memory`)."""
    return getattr(as_executor(executor), "shares_memory", True)


def as_executor(executor: Executor | str | None = None, **kwargs) -> Executor:
    """The executor a name or instance stands for: None the default one (:func:`get_executor`), ``"inline"``,
    ``"threads"``, or an :class:`Executor` itself; anything else is a ValueError naming the choices (a name passed
    as ``executor=`` reached the pass, which raised a raw AttributeError)."""
    if executor is None:
        return get_executor()
    if isinstance(executor, Executor):
        return executor
    if executor == "threads":
        return ThreadExecutor(**kwargs)
    if executor == "inline":
        return InlineExecutor()
    raise ValueError(f"unknown executor {executor!r}; use 'inline', 'threads' or an Executor instance")


def use_executor(executor: Executor | str | None = "threads", **kwargs) -> Executor:
    """Set the default executor: ``"inline"``, ``"threads"`` (default) or an :class:`Executor` instance."""
    global _current
    _current = as_executor("threads" if executor is None else executor, **kwargs)
    return _current


@contextmanager
def executor_context(executor: Executor | str):
    """Temporarily use another executor."""
    global _current
    prev = _current
    use_executor(executor)
    try:
        yield _current
    finally:
        _current = prev
