"""Executors run the tasks of a pass: one task per navigation partition.

An executor only maps a function over partitions and returns the partial results *in partition order*; the
pass merges them in that fixed order, so every executor yields bit-identical results.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor as _Pool
from contextlib import contextmanager
from typing import Any


class Executor:
    name = "base"

    def map(
        self, fn: Callable[[Any], Any], items: Sequence, on_done: Callable[[int], None] | None = None
    ) -> list:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class InlineExecutor(Executor):
    """Runs every task in the calling thread, one after another (tests, debugging)."""

    name = "inline"

    def map(self, fn, items, on_done=None):
        out = []
        for i, item in enumerate(items):
            out.append(fn(item))
            if on_done:
                on_done(i)
        return out


class ThreadExecutor(Executor):
    """A local thread pool; at most ``n_workers + prefetch`` partitions are in flight, so memory stays bounded
    while the next partition is already being read as the current one computes."""

    name = "threads"

    def __init__(self, n_workers: int | None = None, prefetch: int = 1):
        self.n_workers = max(1, n_workers or os.cpu_count() or 1)
        self.prefetch = max(0, prefetch)

    def map(self, fn, items, on_done=None):
        items = list(items)
        out: list = [None] * len(items)
        with _blas_threads(max(1, (os.cpu_count() or 1) // self.n_workers)), _Pool(self.n_workers) as pool:
            pending: deque = deque()
            it: Iterable = iter(enumerate(items))
            limit = self.n_workers + self.prefetch

            def submit_next() -> bool:
                try:
                    i, item = next(it)
                except StopIteration:
                    return False
                pending.append((i, pool.submit(fn, item)))
                return True

            while len(pending) < limit and submit_next():
                pass
            while pending:
                i, fut = pending.popleft()
                out[i] = fut.result()
                if on_done:
                    on_done(i)
                submit_next()
        return out

    def __repr__(self) -> str:
        return f"<ThreadExecutor n_workers={self.n_workers}>"


@contextmanager
def _blas_threads(n: int):
    """Limit BLAS threads so that workers times BLAS threads does not oversubscribe the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


_current: Executor | None = None


def get_executor() -> Executor:
    global _current
    if _current is None:
        _current = ThreadExecutor()
    return _current


def use_executor(executor: Executor | str | None = "threads", **kwargs) -> Executor:
    """Set the default executor: ``"inline"``, ``"threads"`` (default) or an :class:`Executor` instance."""
    global _current
    if executor is None or executor == "threads":
        _current = ThreadExecutor(**kwargs)
    elif executor == "inline":
        _current = InlineExecutor()
    elif isinstance(executor, Executor):
        _current = executor
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'inline', 'threads' or an Executor instance")
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
