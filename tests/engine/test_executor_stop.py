"""A pass given up (Ctrl-C, SIGTERM, an error) stops its tasks: those not started are cancelled, the running ones
end at their next ``check_stop``. The thread pool's exit waited for every task in flight, a whole partition of a
reconstruction (45-65 s full size): SIGTERM took that long to end ``emscale run``."""

import time

import numpy as np
import pytest

from emscale.engine import executors
from emscale.engine.executors import ThreadExecutor

STEPS, STEP_S = 100, 0.01  # a task of 1 s in 100 steps


def test_a_pass_given_up_cancels_queued_tasks_and_stops_running_ones():
    check = getattr(executors, "check_stop", lambda: None)  # the code before had none: its tasks ran to the end
    steps: list[int] = []

    def task(item):  # the first ends after 0.1 s, when the one beside it has 0.9 s to go
        for _ in range(STEPS // 10 if item == 0 else STEPS):
            check()
            time.sleep(STEP_S)
            steps.append(item)
        return item

    def interrupted(i):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ThreadExecutor(n_workers=2, prefetch=1).map(task, range(8), on_done=interrupted)
    assert [i for i in (1, 2) if steps.count(i) == STEPS] == []  # before: both ran to their end
    assert not set(steps) - {0, 1, 2}  # nothing submitted after the interruption (before: the queued one ran)


def test_a_pass_that_ends_normally_is_untouched():
    ex = ThreadExecutor(n_workers=2, prefetch=1)
    assert ex.map(lambda i: i * i, range(20)) == [i * i for i in range(20)]
    assert executors.check_stop() is None  # outside any task: nothing to stop


def test_sirt_interrupted_after_its_first_partitions_ends_within_an_iteration(monkeypatch):
    """A reconstruction's partition checks between its iterations: the interruption does not wait for the
    partitions in flight (here 4 of them on 2 workers, two rounds; full size one round took 45-65 s). Counted in
    iterations run, not in seconds (a loaded machine's timing is no test)."""
    import importlib

    from emscale.tomography.reconstruct import reconstruct_slices

    sirt = importlib.import_module("emscale.tomography.reconstruction.sirt")  # the module, not its function

    iterations = []

    def counted():
        iterations.append(1)
        executors.check_stop()

    monkeypatch.setattr(sirt, "check_stop", counted)
    sino = np.random.default_rng(0).random((12, 30, 48)).astype(np.float32)
    angles = np.linspace(-70, 70, 30)

    def run(progress=None):
        reconstruct_slices(sino, angles, method="sirt", n_iter=300, slices_per_partition=3, progress=progress,
                           executor=ThreadExecutor(n_workers=2, prefetch=1))

    run()
    whole = len(iterations)  # 4 partitions x 300 iterations
    iterations.clear()
    ended = []

    def interrupted(done, total):
        if ended:  # the series' sums were read: the first partition of the slices is in
            raise KeyboardInterrupt
        if done == total:
            ended.append(True)

    with pytest.raises(KeyboardInterrupt):
        run(interrupted)
    assert whole == 4 * 300 and len(iterations) < 0.75 * whole, (len(iterations), whole)
