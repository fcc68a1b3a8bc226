"""The execution engine: passes over navigation partitions, run by an executor."""

from .executors import (
    Executor,
    InlineExecutor,
    PassStopped,
    ThreadExecutor,
    check_stop,
    executor_context,
    get_executor,
    runs_here,
    use_executor,
)
from .passes import Pass, PassReport, last_report, partitions, read_block, run_pass, values_and_count
from .reductions import reduce, sum_spectrum, total_counts

__all__ = [
    "Executor",
    "InlineExecutor",
    "PassStopped",
    "ThreadExecutor",
    "check_stop",
    "executor_context",
    "get_executor",
    "runs_here",
    "use_executor",
    "Pass",
    "PassReport",
    "last_report",
    "partitions",
    "read_block",
    "run_pass",
    "values_and_count",
    "reduce",
    "sum_spectrum",
    "total_counts",
]
