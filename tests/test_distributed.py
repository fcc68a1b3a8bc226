"""The same passes on a real dask.distributed LocalCluster (worker processes on loopback) give the in-memory
results, also when a worker is killed in the middle of a pass."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import emscale as em
from emscale.engine import InlineExecutor, Pass, run_pass
from emscale.engine.distributed import DaskExecutor

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(7)
    s = em.Signal(rng.poisson(20, (48, 30, 128)).astype(np.uint16), signal_type="EDS_TEM")
    path = tmp_path_factory.mktemp("dist") / "cube.zarr"
    s.save(path, chunks=(4, 30, 128))
    return s, path


def test_reductions_on_cluster_equal_in_memory(client, store):
    s, path = store
    lazy = em.load(path, lazy=True)
    ex = DaskExecutor(client)
    for op in ("sum", "max", "mean", "std"):
        for axis in ("signal", ("x", "y"), "y"):
            got = getattr(lazy, op)(axis=axis, executor=ex).data
            ref = getattr(s, op)(axis=axis, executor=InlineExecutor()).data
            if op in ("sum", "max"):
                np.testing.assert_array_equal(got, ref)
            else:
                np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_worker_killed_mid_pass_gives_the_same_result(client, store):
    s, path = store
    lazy = em.load(path, lazy=True)

    def slow_sum(block, rows):
        time.sleep(0.15)
        return block.sum(axis=0, dtype=np.int64)

    p = Pass(slow_sum, lambda a, b: a + b, name="slow_sum")
    ref = run_pass(s.data, p, executor=InlineExecutor(), rows=4)
    pids = list(client.run(os.getpid).values())

    def kill():
        os.kill(pids[0], signal.SIGKILL)

    timer = threading.Timer(0.5, kill)
    timer.start()
    got = run_pass(lazy.data, p, executor=DaskExecutor(client), rows=4)
    timer.join()
    np.testing.assert_array_equal(got, ref)


def test_cli_scheduler_option_runs_passes_on_the_cluster(client, store, tmp_path, capsys):
    from emscale.cli import main
    from emscale.engine import get_executor, use_executor

    s, path = store
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[input]\npath = "{path}"\nlazy = true\n\n[[step]]\nop = "sum"\naxis = "signal"\n')
    try:
        code = main(["--scheduler", client.scheduler.address, "run", str(recipe), "-o", str(tmp_path / "out")])
        assert code == 0, capsys.readouterr().err
        ex = get_executor()
        assert isinstance(ex, DaskExecutor) and ex.client is not client
    finally:
        ex = get_executor()
        if isinstance(ex, DaskExecutor):
            ex.client.close()
        use_executor("threads")
    np.testing.assert_array_equal(em.load(tmp_path / "out" / "signal.zarr").data, s.sum("signal").data)
