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


@pytest.mark.parametrize("axis", [0, 1])
def test_axis_partitions_and_folding_on_cluster_give_the_in_memory_bits(client, store, axis):
    """Partitions along a chosen axis and fold=True on the cluster (which gathers, then merges in order)."""
    s, path = store
    lazy = em.load(path, lazy=True)

    def m(block, rows):
        return np.sqrt(block.astype(np.float64)).sum(axis=axis)

    def per_slab(block, rows):
        return np.sqrt(block.astype(np.float64)) * 0.5

    p = Pass(m, lambda a, b: a + b, name="axis-sum")
    ref = run_pass(s.data, p, executor=InlineExecutor(), rows=4, axis=axis)
    for fold in (False, True):
        got = run_pass(lazy.data, p, executor=DaskExecutor(client), rows=4, axis=axis, fold=fold)
        np.testing.assert_array_equal(got, ref)
    got = run_pass(lazy.data, Pass(per_slab, name="slabs"), executor=DaskExecutor(client), rows=4, axis=axis)
    np.testing.assert_array_equal(got, np.sqrt(s.data.astype(np.float64)) * 0.5)


def test_spike_removal_on_cluster_gives_the_in_memory_bits(client, store, monkeypatch):
    """remove_spikes with the executor passed in: the cleaned rows travel back with the partials (a task writing
    into an output array of the client would write into a copy on the worker)."""
    from emscale.spectroscopy import eds

    s, path = store
    data = s.data.copy()
    data[5, 7, 60] += 2000
    data[20, 0, 10] += 2000
    spiky = em.Signal(data, signal_type="EDS_TEM")
    spiky.save(path.parent / "spiky.zarr", chunks=(4, 30, 128))
    lazy = em.load(path.parent / "spiky.zarr", lazy=True)
    monkeypatch.setattr(eds, "_PARTITION_BYTES", 8 * 30 * 128 * 2)
    ref, n_ref = eds.remove_spikes(spiky, executor=InlineExecutor())
    got, n_got = eds.remove_spikes(lazy, executor=DaskExecutor(client))
    assert n_got == n_ref >= 2
    np.testing.assert_array_equal(got.data, ref.data)


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


@pytest.mark.parametrize("level", [0.3, 30.0])
def test_gram_pca_on_cluster_gives_the_in_memory_bits(client, tmp_path, level, monkeypatch):
    """Both Gram routes on the cluster -- sparse counts (numba kernels in the worker processes) and dense counts
    (BLAS syrk; its task once captured scipy's unpicklable routine objects) -- with the executor passed in (the
    matrix once carried the client into the tasks): the same bits as in memory."""
    from emscale.decomposition import _jit
    from emscale.engine import passes

    monkeypatch.setattr(_jit, "DENSE_NUMBA_MIN_VALUES", 0)  # the route is chosen here; this cube is small

    rng = np.random.default_rng(8)
    x = rng.poisson(level * rng.random((1, 1, 128)) + 0.01, (48, 30, 128)).astype(np.uint16)
    s = em.Signal(x, signal_type="EDS_TEM")
    s.save(tmp_path / "c.zarr", chunks=(4, 30, 128))
    lazy = em.load(tmp_path / "c.zarr", lazy=True)
    got = em.decompose(lazy, "pca", solver="gram", executor=DaskExecutor(client))
    from emscale.decomposition._jit import HAVE_NUMBA

    route = "decomposition-gram-sparse" if level < 1 and HAVE_NUMBA else "decomposition-gram"
    assert any(r.name == route for r in passes.log.reports[-4:])
    ref = em.decompose(s, "pca", solver="gram", executor=InlineExecutor())
    np.testing.assert_array_equal(got.eigenvalues, ref.eigenvalues)
    np.testing.assert_array_equal(got.factors_array, ref.factors_array)
    np.testing.assert_array_equal(got.info["noise_eigenvalues"], ref.info["noise_eigenvalues"])


@pytest.mark.parametrize("method", ["nmf", "mcr", "vca", "ica"])
def test_separations_on_cluster_give_the_in_memory_bits(client, tmp_path, method):
    rng = np.random.default_rng(9)
    spectra = rng.random((3, 128)) ** 4
    maps = rng.dirichlet(np.ones(3) * 0.3, size=(32, 24))
    x = rng.poisson(60 * maps @ (spectra / spectra.sum(1, keepdims=True))).astype(np.uint16)
    s = em.Signal(x, signal_type="EDS_TEM")
    s.save(tmp_path / "c.zarr", chunks=(4, 24, 128))
    lazy = em.load(tmp_path / "c.zarr", lazy=True)
    got = em.decompose(lazy, method, n_components=3, executor=DaskExecutor(client))
    ref = em.decompose(s, method, n_components=3, executor=InlineExecutor())
    np.testing.assert_array_equal(got.factors_array, ref.factors_array)
    np.testing.assert_array_equal(got.loadings_array, ref.loadings_array)


def test_the_client_streams_partials_with_a_bounded_window(client):
    # the executor gathered every partial before merging: 2.4 GB on the client for the PCA of a 1 GB store
    ex = DaskExecutor(client)
    n_items = 40
    held = []
    for i, out in enumerate(ex.imap(_blas_and_index, list(range(n_items)))):
        assert out[1] == i  # in partition order
        held.append(len(client.futures))
    assert max(held) <= 2 * len(client.scheduler_info()["workers"]) + 1, held
    assert {out[0] for out in ex.map(_blas_and_index, [0, 1, 2])} == {1}  # one BLAS thread, as locally
    assert ex.workers() == 2  # what an operation may size its partitions by (a reconstruction's slices)


def _blas_and_index(i):
    from threadpoolctl import threadpool_info

    return max((t["num_threads"] for t in threadpool_info() if t["user_api"] == "blas"), default=1), i


def test_in_memory_background_removal_on_cluster_gives_the_in_memory_bits(client):
    """The in-memory path wrote each block into an array on the workers: on a cluster the result was all zeros,
    without a word (a new user's trial)."""
    from emscale.workflows import samples

    s, _ = samples.eels_si(shape=(16, 20), seed=1)
    local = s.remove_background((70.0, 97.0), executor=InlineExecutor(), return_params=True)
    remote = s.remove_background((70.0, 97.0), executor=DaskExecutor(client), return_params=True)
    assert np.abs(local[0].data).max() > 0
    assert local[0].data.tobytes() == remote[0].data.tobytes()
    assert all(np.array_equal(local[1][k], remote[1][k]) for k in local[1])


def test_tasks_for_another_process_carry_their_own_block_not_the_array():
    """Each task closed over the whole in-memory array, so a cluster was sent all of it with every task (a 0.27 GB
    cube: 1.5-2.4 GB on the client)."""
    import pickle

    import cloudpickle

    class Elsewhere(InlineExecutor):
        shares_memory = False
        sizes: list = []

        def map(self, fn, items, on_done=None):
            Elsewhere.sizes += [len(cloudpickle.dumps((fn, item))) for item in items]
            return super().map(fn, items, on_done)

    data = np.arange(64 * 1000, dtype=np.float64).reshape(64, 1000)
    total = run_pass(data, Pass(lambda b, r: b.sum(axis=0), lambda a, b: a + b), executor=Elsewhere(), rows=8)
    assert np.array_equal(total, data.sum(axis=0))
    assert len(Elsewhere.sizes) == 8 and max(Elsewhere.sizes) < 2 * 8 * 1000 * 8 < len(pickle.dumps(data))


def test_the_viewers_maps_run_on_the_cluster(client, store):
    """The window-map pass held the viewer's data object, lock and all, which a worker process cannot unpickle: the
    navigator was an HTTP 500 under `emscale --scheduler ... view`."""
    from emscale.viewer import ViewerData

    s, path = store
    on_cluster = ViewerData(em.load(path, lazy=True), executor=DaskExecutor(client))
    here = ViewerData(s, executor=InlineExecutor())
    for window in (None, (20.0, 60.0)):
        np.testing.assert_array_equal(on_cluster.window_map(window)[0], here.window_map(window)[0])


def test_a_local_cluster_takes_the_callers_options_over_the_defaults():
    """``use_cluster(local=1, processes=False)`` was a TypeError ("multiple values for keyword argument
    'processes'"): the defaults were passed beside the caller's."""
    ex = em.use_cluster(local=1, processes=False, threads_per_worker=2)
    try:
        workers = ex.client.scheduler_info()["workers"]
        assert len(workers) == 1 and next(iter(workers.values()))["nthreads"] == 2
        assert type(ex.client.cluster.workers[0]).__name__ != "Nanny"  # in this process, not a worker process
    finally:
        cluster = ex.client.cluster
        ex.client.close()
        cluster.close()
        em.use_executor("threads")


def _blas_threads_seen(i):
    from threadpoolctl import threadpool_info

    seen = []
    for _ in range(10):
        seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
        a = np.ones((200, 200))
        a @ a
        time.sleep(0.003 * (i % 3))
    return max(seen)


def test_tasks_of_a_cluster_in_this_process_all_run_on_one_blas_thread():
    # each task set and restored the process's BLAS limit; tasks side by side as threads undid each other's (1-4 of
    # 40 ran on two threads: a PCA's factors 5e-5 from local threads), and the last left the process on one
    from threadpoolctl import threadpool_info, threadpool_limits

    def threads():
        return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")

    with threadpool_limits(limits=2, user_api="blas"):
        ex = em.use_cluster(local=2, processes=False, threads_per_worker=2)
        try:
            seen = list(ex.imap(_blas_threads_seen, range(40)))
        finally:
            cluster = ex.client.cluster
            ex.client.close()
            cluster.close()
            em.use_executor("threads")
        assert seen == [1] * 40 and threads() == min(2, os.cpu_count() or 1)


def test_a_pass_on_a_closed_client_says_how_to_go_on():
    # closing the client without use_executor("threads") left the next pass to dask's raw ClosedClientError
    s = em.Signal(np.arange(2 * 3 * 8, dtype=np.uint16).reshape(2, 3, 8))
    ex = em.use_cluster(local=1, processes=False)
    try:
        cluster = ex.client.cluster
        ex.client.close()
        cluster.close()
        with pytest.raises(em.EmscaleError, match=r"client of this executor was closed: em\.use_executor\('threads'\)"):
            s.sum(axis=(0, 1))
    finally:
        em.use_executor("threads")
