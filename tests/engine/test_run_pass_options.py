"""run_pass options: ordered folding of partials (fold=True) and partitions along a chosen axis (axis=k), on numpy,
dask and zarr sources with the local executors (the Dask executor: tests/engine/test_distributed.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from emscale import AxisError
from emscale.engine import InlineExecutor, Pass, ThreadExecutor, last_report, partitions, read_block, run_pass
from emscale.engine.executors import Executor

da = pytest.importorskip("dask.array")

EXECUTORS = {
    "inline": InlineExecutor,
    "threads": lambda: ThreadExecutor(n_workers=3, prefetch=1),
}


def _cube(rng):
    return rng.normal(size=(7, 9, 5, 6))


def _sources(data, axis):
    """The same array as numpy, dask and zarr, chunked along ``axis`` in runs of 2."""
    chunks = tuple(2 if d == axis else n for d, n in enumerate(data.shape))
    out = {"numpy": data, "dask": da.from_array(data, chunks=chunks)}
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store={}, shape=data.shape, chunks=chunks, dtype=data.dtype)
    z[...] = data
    out["zarr"] = z
    return out


def _float_sum_pass(axis):
    """A merge pass whose result depends on the merge order (float sums), with named partials."""

    def m(block, rows):
        return {"total": block.sum(axis=axis), "rows": [(rows.start, rows.stop)]}

    def merge(a, b):
        return {"total": a["total"] + b["total"], "rows": a["rows"] + b["rows"]}

    return Pass(m, merge, name="axis-sum")


def test_partitions_along_an_axis():
    a = np.zeros((3, 10, 4))  # 96 bytes per index of dimension 1
    assert partitions(a, rows=4, axis=1) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert partitions(a, partition_bytes=2 * 96 + 5, axis=1) == partitions(a, rows=2, axis=1)
    assert partitions(a, partition_bytes=1, axis=-1) == [slice(i, i + 1) for i in range(4)]
    d = da.zeros((3, 20, 4), chunks=(3, 3, 4))  # 96-byte slabs along dimension 1, 3-long chunks
    assert partitions(d, partition_bytes=96 * 7, axis=1) == [slice(i, min(i + 6, 20)) for i in range(0, 20, 6)]
    with pytest.raises(AxisError, match="partition axis 3"):
        partitions(a, axis=3)


def test_read_block_along_an_axis():
    a = np.arange(60).reshape(3, 4, 5)
    b = read_block(a, slice(1, 3), axis=1)
    assert np.shares_memory(a, b)
    np.testing.assert_array_equal(b, a[:, 1:3])
    np.testing.assert_array_equal(read_block(da.from_array(a, chunks=(1, 2, 5)), slice(2, 5), axis=2), a[..., 2:5])


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
@pytest.mark.parametrize("source", ["numpy", "dask", "zarr"])
@pytest.mark.parametrize("axis", [0, 1, 3])
def test_axis_partitions_give_the_same_bits_on_every_source_and_executor(rng, executor, source, axis):
    data = _cube(rng)
    src = _sources(data, axis)[source]
    # the reference: the same partitions read with numpy indexing, merged in order by hand
    parts = [slice(i, min(i + 2, data.shape[axis])) for i in range(0, data.shape[axis], 2)]
    expected = sum((data[(slice(None),) * axis + (p,)].sum(axis=axis) for p in parts[1:]),
                   start=data[(slice(None),) * axis + (parts[0],)].sum(axis=axis))
    for fold in (False, True):
        got = run_pass(src, _float_sum_pass(axis), EXECUTORS[executor](), rows=2, axis=axis, fold=fold)
        np.testing.assert_array_equal(got["total"], expected)
        assert got["rows"] == [(p.start, p.stop) for p in parts]
        rep = last_report()
        assert (rep.n_partitions, rep.bytes_read) == (len(parts), data.nbytes)


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
@pytest.mark.parametrize("source", ["numpy", "dask", "zarr"])
def test_concatenating_pass_along_an_axis(rng, executor, source):
    """A tilt series partitioned by slices along the tilt axis (here dimension 1): the slabs come back in place."""
    data = _cube(rng)
    src = _sources(data, 1)[source]
    seen = []

    def m(block, rows):
        seen.append((rows.start, rows.stop))
        np.testing.assert_array_equal(block, data[:, rows])
        return np.sqrt(np.abs(block)) * 2.0

    got = run_pass(src, Pass(m, name="per-slice"), EXECUTORS[executor](), rows=4, axis=1)
    np.testing.assert_array_equal(got, np.sqrt(np.abs(data)) * 2.0)
    assert sorted(seen) == [(0, 4), (4, 8), (8, 9)]


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
def test_fold_merges_left_to_right_in_partition_order(executor):
    data = np.arange(30).reshape(10, 3)

    def m(block, rows):
        time.sleep(0.002 * (10 - rows.start))  # later partitions finish first
        return [int(rows.start)]

    p = Pass(m, merge=lambda a, b: a + b, finalize=tuple, name="order")
    assert run_pass(data, p, EXECUTORS[executor](), rows=1, fold=True) == tuple(range(10))


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
def test_fold_gives_the_bits_of_merging_at_the_end(rng, executor):
    data = rng.normal(size=(40, 33)) * 10.0 ** rng.integers(-8, 8, size=(40, 1))
    p = Pass(lambda b, r: b.sum(axis=0), np.add, name="sum0")
    gathered = run_pass(data, p, InlineExecutor(), rows=3)
    folded = run_pass(data, p, EXECUTORS[executor](), rows=3, fold=True)
    np.testing.assert_array_equal(folded, gathered)


@pytest.mark.parametrize("n_workers, prefetch", [(1, 0), (2, 1), (3, 2)])
def test_fold_holds_only_the_partials_in_flight(n_workers, prefetch):
    """Partials are merged as they arrive: never more than n_workers + prefetch of them exist besides the running
    result and the one being merged (gathering would hold all 30)."""
    lock = threading.Lock()
    alive = {"now": 0, "peak": 0}

    class Partial:
        def __init__(self, value):
            self.value = value
            with lock:
                alive["now"] += 1
                alive["peak"] = max(alive["peak"], alive["now"])

        def __del__(self):
            with lock:
                alive["now"] -= 1

    def merge(a, b):
        return Partial(a.value + b.value)

    p = Pass(lambda b, r: Partial(int(b.sum())), merge, lambda acc: acc.value, name="held")
    data = np.arange(30 * 4).reshape(30, 4)
    assert run_pass(data, p, ThreadExecutor(n_workers, prefetch), rows=1, fold=True) == int(data.sum())
    assert alive["peak"] <= n_workers + prefetch + 2


def test_fold_on_an_executor_that_cannot_stream_gathers_and_merges_in_order(rng):
    class Gathering(Executor):  # only map(): the base imap gathers all results, then hands them over in order
        name = "gathering"

        def map(self, fn, items, on_done=None):
            items = list(items)
            out = [None] * len(items)
            for i in reversed(range(len(items))):  # completes out of order
                out[i] = fn(items[i])
                if on_done:
                    on_done(i)
            return out

    data = rng.normal(size=(12, 5))
    p = Pass(lambda b, r: (b.sum(axis=0), [r.start]), lambda a, b: (a[0] + b[0], a[1] + b[1]), name="g")
    ref = run_pass(data, p, InlineExecutor(), rows=2)
    calls = []
    got = run_pass(data, p, Gathering(), rows=2, fold=True, progress=lambda d, t: calls.append(d))
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1] == [0, 2, 4, 6, 8, 10]
    assert calls[-1] == data.nbytes and len(calls) == 6
    assert last_report().executor == "gathering"


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
def test_fold_reports_progress_and_propagates_errors(executor):
    data = np.ones((11, 7), dtype=np.float32)
    calls = []
    run_pass(data, Pass(lambda b, r: b.sum(), np.add, name="p"), EXECUTORS[executor](), rows=2, fold=True,
             progress=lambda done, total: calls.append((done, total)))
    assert [d for d, _ in calls] == [min(2 * (i + 1), 11) * 28 for i in range(6)]
    assert all(t == data.nbytes for _, t in calls)

    def bad(block, rows):
        if rows.start == 6:
            raise RuntimeError("bad partition 6")
        return block.sum()

    with pytest.raises(RuntimeError, match="bad partition 6"):
        run_pass(data, Pass(bad, np.add, name="bad"), EXECUTORS[executor](), rows=2, fold=True)


def test_fold_on_a_zero_dimensional_source():
    assert run_pass(np.array(5.0), Pass(lambda b, r: b * 2, np.add), InlineExecutor(), fold=True) == 10.0
    assert last_report().n_partitions == 1


def test_an_executor_may_be_named_wherever_one_is_taken():
    """``executor="inline"`` reached the pass as a string (a raw AttributeError: 'str' object has no attribute
    'map'), in run_pass and in every operation that passes it on (a tiled inpaint)."""
    from emscale.engine import run_pass as rp
    from emscale.inpainting import inpaint_tiled
    from emscale.sampling import random_pattern

    x = np.arange(40.0).reshape(8, 5)
    total = Pass(lambda b, r: float(b.sum()), lambda a, b: a + b)
    assert rp(x, total, "inline") == rp(x, total, "threads") == rp(x, total) == 780.0
    img = np.add.outer(np.sin(np.arange(48) / 3.0), np.cos(np.arange(48) / 4.0))
    m = random_pattern(img.shape, 0.3, seed=1)
    a = inpaint_tiled(img, m, method="linear", tile=32, overlap=8, executor="inline")
    b = inpaint_tiled(img, m, method="linear", tile=32, overlap=8, executor="threads")
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown executor 'dask'; use 'inline', 'threads' or an Executor"):
        rp(x, total, "dask")


def test_progress_true_gives_each_pass_a_bar_and_other_values_are_refused_at_the_call(capsys, rng, monkeypatch):
    """``s.sum(progress=True)`` failed deep in run_pass with "'bool' object is not callable": the API took only a
    callback, which every pass calls from 0 again (an operation may run several)."""
    import emscale as em
    from emscale.engine import passes

    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 64_000)  # 4 partitions
    s = em.Signal(rng.normal(size=(40, 50, 16)))
    lazy = s.as_lazy(chunks=(10, 50, 16))
    out = lazy.sum(axis=("x", "y"), progress=True)
    np.testing.assert_allclose(out.data, s.data.sum(axis=(0, 1)))
    assert "sum" in capsys.readouterr().err  # the bar, named after its pass, on stderr
    seen = []
    lazy.sum(axis="x", progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == s.nbytes and seen[0][0] < s.nbytes  # this pass's bytes, up to its total
    assert lazy.sum(axis="x", progress=False).shape == (40, 16)
    with pytest.raises(em.ArgumentError, match=r"sum: progress must be True \(a progress bar per pass\), False/None, "
                                               r"or a function progress\(bytes_done, bytes_total\).*got 'yes'"):
        s.sum(progress="yes")
    with pytest.raises(em.ArgumentError, match="progress must be True"):
        run_pass(s.data, Pass(lambda b, r: b.sum(), lambda a, b: a + b), progress=1)


def test_a_progress_bar_shows_the_average_rate_since_it_was_entered(monkeypatch):
    """A sparse Velox EDS cube (134 MB of counts from a 6 MB file, one partition, 10 s) showed "2.8 TB/s": rich's
    rate is of the last updates. The bar's rate is the bytes over the seconds since the bar was entered."""
    from rich.console import Console

    from emscale.engine import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    bar = progress.ProgressBar("convert x.emd")
    with bar:
        assert bar._p is None  # nothing shown before the first partition (an error then is printed alone)
        clock[0] = 110.0
        bar(134_200_000, 134_200_000)
        task = bar._p.tasks[0]
        column = bar._p.columns[-1]
        console = Console(file=None, width=200)
        with console.capture() as cap:
            console.print(column.render(task))
    assert cap.get().strip() == "13.4 MB/s 0:00:10"
