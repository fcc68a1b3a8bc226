"""The engine: partitions, passes (concatenating and merging), progress, reports and executors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import emscale.engine.executors as executors
from emscale.engine import (
    InlineExecutor,
    Pass,
    ThreadExecutor,
    executor_context,
    get_executor,
    last_report,
    partitions,
    read_block,
    run_pass,
    sum_spectrum,
    total_counts,
    use_executor,
)

da = pytest.importorskip("dask.array")


def test_partitions_by_rows_and_bytes():
    a = np.zeros((10, 4, 8))  # 256 bytes a row
    assert partitions(a, rows=3) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert partitions(a, rows=100) == [slice(0, 10)]
    assert partitions(a, partition_bytes=3 * 256 + 10) == partitions(a, rows=3)
    assert partitions(a, partition_bytes=1) == [slice(i, i + 1) for i in range(10)]
    assert partitions(a) == [slice(0, 10)]  # default budget (64 MB) covers it
    assert partitions(np.zeros((0, 3))) == [slice(0, 0)]


def test_partitions_aligned_to_chunks():
    d = da.zeros((20, 4, 8), chunks=(3, 4, 8))  # 256-byte rows, 3-row chunks
    parts = partitions(d, partition_bytes=256 * 7)  # 7 rows budget -> 6 rows, two whole chunks
    assert parts == [slice(i, min(i + 6, 20)) for i in range(0, 20, 6)]
    assert all(p.start % 3 == 0 for p in parts)
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store={}, shape=(20, 4, 8), chunks=(4, 4, 8), dtype="f8")
    assert partitions(z, partition_bytes=256 * 9) == [slice(i, min(i + 8, 20)) for i in range(0, 20, 8)]


def test_read_block():
    a = np.arange(24).reshape(6, 4)
    b = read_block(a, slice(2, 4))
    assert np.shares_memory(a, b)
    lazy = read_block(da.from_array(a, chunks=(2, 4)), slice(1, 5))
    assert type(lazy) is np.ndarray
    np.testing.assert_array_equal(lazy, a[1:5])


@pytest.mark.parametrize("make_executor", [InlineExecutor, lambda: ThreadExecutor(n_workers=2, prefetch=1)])
def test_concat_pass_sees_every_row_once(make_executor, rng):
    data = rng.integers(0, 100, (17, 3, 5))
    seen = []

    def m(block, rows):
        seen.append((rows.start, rows.stop))
        np.testing.assert_array_equal(block, data[rows])
        return block.sum(axis=-1) * 2

    out = run_pass(data, Pass(m, name="double"), make_executor(), rows=4)
    np.testing.assert_array_equal(out, data.sum(axis=-1) * 2)
    assert sorted(seen) == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 17)]
    rep = last_report()
    assert (rep.name, rep.n_partitions, rep.bytes_read) == ("double", 5, data.nbytes)


def test_merge_pass_merges_left_to_right_in_partition_order():
    data = np.arange(30).reshape(10, 3)

    def m(block, rows):
        time.sleep(0.002 * (10 - rows.start))  # later partitions finish first
        return [int(rows.start)]

    p = Pass(m, merge=lambda a, b: a + b, finalize=tuple, name="order")
    for ex in (InlineExecutor(), ThreadExecutor(n_workers=4, prefetch=2)):
        assert run_pass(data, p, ex, rows=1) == tuple(range(10))


def test_merge_pass_on_lazy_and_zarr_sources(rng):
    data = rng.normal(size=(12, 4, 6))
    p = Pass(lambda b, r: b.sum(axis=0), merge=np.add, finalize=lambda x: x / 12, name="mean0")
    expected = data.mean(axis=0)
    np.testing.assert_allclose(run_pass(da.from_array(data, chunks=(5, 4, 6)), p, InlineExecutor()), expected)
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store={}, shape=data.shape, chunks=(5, 4, 6), dtype="f8")
    z[...] = data
    np.testing.assert_allclose(run_pass(z, p, InlineExecutor(), rows=5), expected, rtol=1e-14)
    assert last_report().n_partitions == 3


@pytest.mark.parametrize("make_executor", [InlineExecutor, lambda: ThreadExecutor(n_workers=3)])
def test_progress_reaches_total_bytes(make_executor):
    data = np.ones((11, 7), dtype=np.float32)
    calls = []
    run_pass(data, Pass(lambda b, r: b, name="p"), make_executor(), rows=2,
             progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == 6
    assert all(total == data.nbytes for _, total in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and dones[-1] == data.nbytes
    assert dones[0] == 2 * 7 * 4


def test_pass_report_and_timing():
    data = np.zeros((8, 1000))

    def slow(block, rows):
        time.sleep(0.01)
        return block[:, :1]

    run_pass(data, Pass(slow, name="slow"), InlineExecutor(), rows=2)
    rep = last_report()
    assert rep.n_partitions == 4 and rep.bytes_read == 64000 and rep.executor == "inline"
    assert rep.seconds >= 0.04
    assert rep.gb_per_s == pytest.approx(64000 / 1e9 / rep.seconds)
    assert str(rep).startswith("slow: 4 partitions, 0.1 MB in")


@pytest.mark.parametrize("n_workers, prefetch", [(1, 0), (2, 1), (3, 2)])
def test_thread_executor_bounds_partitions_in_flight(n_workers, prefetch):
    """While the first partition is slow, no more than n_workers + prefetch partitions are read ahead."""
    lock = threading.Lock()
    state = {"started": 0, "done": 0, "max_ahead": 0}
    items = list(range(20))

    def fn(i):
        with lock:
            state["started"] += 1
            state["max_ahead"] = max(state["max_ahead"], state["started"] - state["done"])
        if i == 0:  # hold the first partition until read-ahead has filled up, then a little longer
            deadline = time.monotonic() + 2.0
            while state["started"] < n_workers + prefetch and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)
        return i * i

    def on_done(i):
        with lock:
            state["done"] += 1

    ex = ThreadExecutor(n_workers=n_workers, prefetch=prefetch)
    out = ex.map(fn, items, on_done)
    assert out == [i * i for i in items]
    assert state["max_ahead"] == n_workers + prefetch
    assert ex.workers() == n_workers and InlineExecutor().workers() == 1  # tasks at once (a partition's size)


def test_thread_executor_propagates_errors():
    def fn(i):
        if i == 3:
            raise RuntimeError("bad partition 3")
        return i

    with pytest.raises(RuntimeError, match="bad partition 3"):
        ThreadExecutor(n_workers=2).map(fn, range(8))


def test_executor_selection(monkeypatch):
    monkeypatch.setattr(executors, "_current", None)
    assert isinstance(get_executor(), ThreadExecutor)
    assert isinstance(use_executor("inline"), InlineExecutor)
    assert isinstance(get_executor(), InlineExecutor)
    with executor_context(ThreadExecutor(n_workers=2)) as ex:
        assert get_executor() is ex and ex.n_workers == 2
        run_pass(np.zeros((4, 2)), Pass(lambda b, r: b), rows=1)
        assert last_report().executor == "threads"
    assert isinstance(get_executor(), InlineExecutor)
    assert use_executor("threads", n_workers=3).n_workers == 3
    with pytest.raises(ValueError, match="unknown executor"):
        use_executor("cluster")


def test_sum_spectrum_and_total_counts(rng):
    data = rng.integers(0, 50, (5, 6, 9)).astype(np.uint8)
    spectrum = sum_spectrum(data, 2, InlineExecutor())
    np.testing.assert_array_equal(spectrum, data.sum(axis=(0, 1), dtype=np.uint64))
    np.testing.assert_array_equal(total_counts(data, 2, InlineExecutor()), data.sum(axis=2, dtype=np.uint64))
    assert sum_spectrum(data, 2).dtype == np.uint64


def test_zero_dimensional_source():
    assert run_pass(np.array(5.0), Pass(lambda b, r: b * 2), InlineExecutor()) == 10.0
    assert last_report().n_partitions == 1 and last_report().bytes_read == 8
    assert run_pass(da.from_array(np.array(3)), Pass(lambda b, r: b + 1), InlineExecutor()) == 4


@pytest.mark.parametrize("executor", [InlineExecutor(), ThreadExecutor(1), ThreadExecutor(2)])
def test_partition_functions_run_with_one_blas_thread_in_every_executor(executor):
    # a product split over BLAS threads can round differently: inline left BLAS at its default, and an out-of-core
    # run gave other digests inline than threaded
    from threadpoolctl import threadpool_info

    def blas_threads(block, rows):
        return [max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)]

    seen = run_pass(np.ones((8, 4)), Pass(blas_threads, lambda a, b: a + b), executor=executor, partition_bytes=64)
    assert set(seen) == {1}


def test_a_chunk_over_the_budget_is_read_once_for_its_partitions():
    # a reader's chunk (the Velox EDS cube: 128 x 128 x 1024 of 4096 channels) is decoded whole for any part of it;
    # eight partitions decoded the event stream eight times (line maps 7.3 s, now 3.0). The partitions and their
    # merge are unchanged: the same bits as in memory
    import dask.array as da

    from emscale.engine.passes import Pass, run_pass

    reads = []
    data = np.random.default_rng(0).poisson(3.0, (64, 8, 32)).astype(np.uint16)

    def decoded(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    lazy = da.from_array(data, chunks=(32, 8, 16)).map_blocks(decoded, dtype=data.dtype)
    p = Pass(lambda b, r: b.astype(np.float64).std(axis=(0, 1)) * (r.stop - r.start),
             lambda a, b: a + b, name="test")
    budget = 8 * 8 * 32 * 2  # 8 rows: 4 partitions a chunk
    got = run_pass(lazy, p, "inline", budget)
    assert len(reads) == 4  # each of the 2 x 2 chunks once, not once for each of its 4 partitions
    np.testing.assert_array_equal(got, run_pass(data, p, "inline", budget))
    reads.clear()
    run_pass(lazy, p, "threads", budget, fold=True)
    assert len(reads) == 4


def test_one_blas_thread_scans_the_loaded_libraries_again_only_after_an_import(monkeypatch):
    """threadpoolctl's scan of the loaded libraries (/proc/self/maps, ~0.2 ms) ran on every pass: 0.4 ms of a
    2x2x64 sum. It runs again only when a module was imported since (a new BLAS comes with one)."""
    import sys

    import threadpoolctl

    from emscale.engine import blas

    made = []
    real = threadpoolctl.ThreadpoolController

    def counted():
        made.append(1)
        return real()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", counted)
    monkeypatch.setattr(blas, "_controller", None)
    for _ in range(3):
        with blas.one_blas_thread():
            pass
    assert len(made) == 1
    monkeypatch.setitem(sys.modules, "emscale_test_new_module", object())
    with blas.one_blas_thread():
        pass
    assert len(made) == 2


def test_one_blas_thread_limits_a_blas_loaded_after_its_first_use():
    """scipy.linalg loads its own OpenBLAS beside numpy's: imported after a first pass, it is limited too, and
    restored after."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from emscale.engine.blas import one_blas_thread\n"
        "def threads():\n"
        "    return sorted((p['filepath'], p['num_threads']) for p in threadpool_info() if p['user_api'] == 'blas')\n"
        "first = len(threads())\n"
        "with one_blas_thread():\n"
        "    pass\n"
        "import scipy.linalg\n"
        "before = threads()\n"
        "with one_blas_thread():\n"
        "    inside = threads()\n"
        "print(json.dumps({'first': first, 'then': len(before), 'inside': sorted({n for _, n in inside}),\n"
        "                  'restored': threads() == before, 'scipy_before': 'scipy.linalg' in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    if got["then"] == got["first"]:
        pytest.skip("scipy.linalg brings no BLAS of its own here")
    assert got["inside"] == [1] and got["restored"]
