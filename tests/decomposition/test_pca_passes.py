"""Pass structure of the PCA solvers: how often the randomized solver reads the data, that the fused passes give
the results of the textbook algorithm, the same bits on every executor, and the Gram pass's bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import _matrix, decompose, pca
from emscale.decomposition._matrix import DataMatrix
from emscale.engine import InlineExecutor, Pass, ThreadExecutor, passes
from groundtruth import three_peak_counts


@pytest.fixture(scope="module")
def counts():
    """A Poisson cube of rank 3 (uint16 counts), 24 x 20 pixels x 160 channels."""
    return three_peak_counts(40.0, 0.05)


def weighted(x, keep_pixels=None, keep_channels=None, centre=False):
    x = x.reshape(-1, x.shape[-1]).astype(float)
    if keep_pixels is not None:
        x = x[keep_pixels]
    if keep_channels is not None:
        x = x[:, keep_channels]
    ag, bh = x.sum(1), x.sum(0)
    ag[ag == 0] = 1
    bh[bh == 0] = 1
    xw = x / np.sqrt(ag)[:, None] / np.sqrt(bh)[None, :]
    return xw - xw.mean(0) if centre else xw


def textbook_randomized(xw, k, seed, n_iter, oversample, omega=None):
    """The randomized range finder written out densely (explicit QR of every tall basis), float64."""
    n, p = xw.shape
    ell = min(k + oversample, n, p)
    if omega is None:
        omega = np.random.default_rng(seed).standard_normal((p, ell))
    q = np.linalg.qr(xw @ omega)[0]
    for _ in range(n_iter):
        q = np.linalg.qr(xw @ np.linalg.qr(xw.T @ q)[0])[0]
    u, s, vt = np.linalg.svd(q.T @ xw, full_matrices=False)
    return s[:k] ** 2, vt[:k].T, (q @ u[:, :k]) * s[:k]


def names(monkeypatch):
    log = []
    monkeypatch.setattr(passes.log, "reports", log)
    return log


def test_randomized_reads_the_data_three_times(counts, monkeypatch):
    # decompose takes the first sketch in the statistics read (its column space does not need the channel
    # weights); each power iteration is one read; the last one keeps Xw c for the scores
    log = names(monkeypatch)
    em.decompose(em.Signal(counts), n_components=5, solver="randomized", seed=1, n_iter=2)
    assert [r.name for r in log] == ["decomposition-statistics-sketch", "decomposition-power", "decomposition-power"]
    log.clear()
    em.decompose(em.Signal(counts), n_components=5, solver="randomized", seed=1, n_iter=0)
    assert [r.name for r in log] == ["decomposition-statistics-sketch", "decomposition-project"]
    log.clear()
    monkeypatch.setattr(pca, "TALL_MAX_BYTES", 0)  # too many pixels to keep Xw c: the scores take a pass
    em.decompose(em.Signal(counts), n_components=5, solver="randomized", seed=1, n_iter=2)
    assert [r.name for r in log][-1] == "decomposition-project" and len(log) == 4
    log.clear()
    monkeypatch.setattr(pca, "TALL_MAX_BYTES", 2**27)
    em.decompose(em.Signal(counts), n_components=5, solver="randomized", seed=1, centre=True, n_iter=2)  # no stats
    assert [r.name for r in log] == [
        "decomposition-statistics", "decomposition-sketch", "decomposition-power", "decomposition-power"
    ]


@pytest.mark.parametrize("centre", [False, True])
def test_fused_passes_equal_the_textbook_algorithm(counts, centre):
    d = em.decompose(em.Signal(counts), n_components=6, solver="randomized", seed=4, centre=centre, n_iter=2)
    xw = weighted(counts, centre=centre)
    omega = None
    if not centre:  # the first sketch was taken in the statistics read: Omega meets Dr X, i.e. Xw @ (Dc^-1 Omega)
        bh = counts.reshape(-1, 160).sum(0).astype(float)
        omega = np.random.default_rng(4).standard_normal((160, 16)) * np.sqrt(bh)[:, None]
    ev, f, scores = textbook_randomized(xw, 6, seed=4, n_iter=2, oversample=10, omega=omega)
    # float32 block products (uncentred counts) vs float64: ~1e-6; the centred path is float64 throughout
    tol = 1e-8 if centre else 2e-5
    np.testing.assert_allclose(d.eigenvalues[:6], ev, rtol=tol)
    bh = counts.reshape(-1, 160).sum(0).astype(float)
    fw = d.factors_array / np.sqrt(bh)[:, None]  # back to weighted units
    fw /= np.linalg.norm(fw, axis=0)
    np.testing.assert_allclose(np.abs(np.sum(fw[:, :3] * f[:, :3], axis=0)), 1.0, atol=tol)
    lw = d.loadings_array[:, :3] / np.sqrt(counts.reshape(-1, 160).sum(1))[:, None]
    np.testing.assert_allclose(np.abs(lw), np.abs(scores[:, :3]), rtol=1e-4, atol=1e-5 * np.abs(scores).max())
    # and the components above the noise are those of the exact SVD (the 1e-3)
    sv = np.linalg.svd(xw, compute_uv=False) ** 2
    top = 2 if centre else 3  # rank 3; centred, the mean takes one
    np.testing.assert_allclose(d.eigenvalues[:top], sv[:top], rtol=1e-3)


def test_float64_data_products_are_float64(counts):
    d64 = em.decompose(em.Signal(counts.astype(np.float64)), n_components=6, solver="randomized", seed=4,
                       poisson=True, n_iter=2)
    omega = np.random.default_rng(4).standard_normal((160, 16)) * np.sqrt(counts.reshape(-1, 160).sum(0))[:, None]
    ev = textbook_randomized(weighted(counts), 6, seed=4, n_iter=2, oversample=10, omega=omega)[0]
    np.testing.assert_allclose(d64.eigenvalues[:6], ev, rtol=1e-8)
    dm = DataMatrix(counts.astype(np.float64), 2)
    assert dm.product_dtype == np.float64 and DataMatrix(counts, 2).product_dtype == np.float32


def test_statistics_pass_takes_the_first_sketch(counts, monkeypatch):
    """statistics(sketch=) folds the first sketch and power product into the statistics read: three reads in
    all; Xw (Dc^-1 Omega) = Dr X Omega is a valid start (same column space as Dr X)."""
    log = names(monkeypatch)
    dm = DataMatrix(counts, 2, executor=InlineExecutor())
    dm.statistics(sketch=(16, 2, True))
    dm.configure(poisson=True, centre=False)
    r = pca.randomized_pca(dm, 6, seed=2, n_iter=2, oversample=10)
    assert [x.name for x in log] == ["decomposition-statistics-sketch", "decomposition-power", "decomposition-power"]
    xw = weighted(counts)
    omega = np.random.default_rng(2).standard_normal((160, 16)) * np.sqrt(counts.reshape(-1, 160).sum(0))[:, None]
    ev = textbook_randomized(xw, 6, 2, 2, 10, omega=omega)[0]
    np.testing.assert_allclose(r.eigenvalues[:6], ev, rtol=2e-5)
    sv = np.linalg.svd(xw, compute_uv=False) ** 2
    np.testing.assert_allclose(r.eigenvalues[:3], sv[:3], rtol=1e-3)
    # the sums are those of the plain statistics pass; a sketch for another seed is not used
    plain = DataMatrix(counts, 2)
    st = plain.statistics()
    np.testing.assert_array_equal(st.row_sums, dm.sums.row_sums)
    np.testing.assert_array_equal(st.col_sums, dm.sums.col_sums)
    log.clear()
    pca.randomized_pca(dm, 6, seed=3, n_iter=1)
    assert [x.name for x in log] == ["decomposition-sketch", "decomposition-power"]


def test_randomized_is_bit_identical_across_runs_and_executors(counts):
    s = em.Signal(counts)
    kw = dict(n_components=5, solver="randomized", seed=9)
    a = em.decompose(s, executor=InlineExecutor(), **kw)
    for other in (em.decompose(s, executor=InlineExecutor(), **kw),
                  em.decompose(s, executor=ThreadExecutor(n_workers=2), **kw),
                  em.decompose(s.as_lazy(chunks=(4, 20, 160)), executor=ThreadExecutor(n_workers=2), **kw)):
        assert np.array_equal(a.eigenvalues, other.eigenvalues)
        assert np.array_equal(a.factors_array, other.factors_array)
        assert np.array_equal(a.loadings_array, other.loadings_array)
    b = em.decompose(s, executor=InlineExecutor(), **{**kw, "seed": 10})
    assert not np.array_equal(a.factors_array, b.factors_array)


class _PlainExecutor(InlineExecutor):
    """An executor the folding runner does not know (it dispatches on the exact type): passes go through
    engine.run_pass, as on a cluster."""

    name = "plain"


@pytest.mark.parametrize("solver", ["gram", "randomized"])
def test_folding_runner_gives_the_bits_of_run_pass(counts, solver):
    s = em.Signal(counts)
    kw = dict(n_components=5, solver=solver, seed=2)
    a = em.decompose(s, executor=_PlainExecutor(), **kw)
    b = em.decompose(s, executor=ThreadExecutor(n_workers=2), **kw)
    assert np.array_equal(a.eigenvalues, b.eigenvalues)
    assert np.array_equal(a.factors_array, b.factors_array)
    assert np.array_equal(a.loadings_array, b.loadings_array)
    assert a.info.get("noise_eigenvalues") is None or np.array_equal(a.info["noise_eigenvalues"],
                                                                     b.info["noise_eigenvalues"])


def test_folding_runner_holds_only_the_partials_in_flight(monkeypatch):
    live, peak = [0], [0]

    class Partial:
        def __init__(self):
            live[0] += 1
            peak[0] = max(peak[0], live[0])

        def __del__(self):
            live[0] -= 1

    data = np.zeros((40, 3, 8))
    dm = DataMatrix(data, 2, executor=ThreadExecutor(n_workers=2, prefetch=1))
    monkeypatch.setattr(_matrix, "MIN_PARTITION_BYTES", 1)
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 3 * 8 * 8)  # one row per partition

    def m(block, rows):
        p = Partial()
        p.rows = [rows.start]
        return p

    def merge(a, b):
        a.rows += b.rows
        return a

    acc = dm.run(Pass(m, merge, name="count"))
    assert acc.rows == list(range(40))
    assert peak[0] <= 2 + 1 + 1  # workers + prefetch + the running result
    assert passes.last_report().name == "count" and passes.last_report().n_partitions == 40


def test_gram_eigenvalues_exact_and_partition_independent(counts, monkeypatch):
    s = em.Signal(counts.astype(np.float32))
    xw = weighted(counts)
    sv = np.linalg.svd(xw, compute_uv=False) ** 2
    a = em.decompose(s, solver="gram", poisson=True)
    np.testing.assert_allclose(a.eigenvalues, sv, rtol=1e-5, atol=1e-12 * sv[0])
    monkeypatch.setattr(_matrix, "MIN_PARTITION_BYTES", 1)
    monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", 3 * 20 * 160 * 4 * 2)  # 3 rows per partition
    b = em.decompose(s, solver="gram", poisson=True)
    np.testing.assert_allclose(b.eigenvalues, a.eigenvalues, rtol=1e-10, atol=1e-13 * sv[0])
    assert b.estimate_rank()[0] == a.estimate_rank()[0]
    r = em.decompose(s, solver="randomized", n_components=5, poisson=True, seed=1)
    np.testing.assert_allclose(em.decompose(em.Signal(counts), solver="randomized", n_components=5,
                                            seed=1).eigenvalues, r.eigenvalues, rtol=1e-6)


def test_randomized_with_masks(counts):
    nav = np.zeros((24, 20), bool)
    nav[2:5, 3:9] = True
    sig = np.zeros(160, bool)
    sig[150:] = True
    d = em.decompose(em.Signal(counts), n_components=4, solver="randomized", seed=0, navigation_mask=nav,
                     signal_mask=sig, n_iter=2)
    xw = weighted(counts, ~nav.reshape(-1), ~sig)
    bh = counts.reshape(-1, 160)[~nav.reshape(-1)][:, ~sig].sum(0).astype(float)  # kept pixels and channels
    omega = np.random.default_rng(0).standard_normal((150, 14)) * np.sqrt(bh)[:, None]  # the statistics sketch
    ev = textbook_randomized(xw, 4, 0, 2, 10, omega=omega)[0]
    np.testing.assert_allclose(d.eigenvalues[:4], ev, rtol=2e-5)
    assert np.isnan(d.loadings_array.reshape(24, 20, -1)[3, 4]).all()
    assert np.isnan(d.factors_array[155]).all()


def test_randomized_on_a_dask_cluster_gives_the_same_bits(counts, tmp_path):
    distributed = pytest.importorskip("distributed")
    from emscale.engine import executor_context
    from emscale.engine.distributed import DaskExecutor

    em.Signal(counts).save(tmp_path / "c.zarr", chunks=(4, 20, 160))
    lazy = em.load(tmp_path / "c.zarr", lazy=True)
    kw = dict(n_components=4, solver="randomized", seed=5)
    a = em.decompose(lazy, executor=ThreadExecutor(n_workers=2), **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with executor_context(DaskExecutor(client)):
            b = em.decompose(lazy, **kw)
    assert np.array_equal(a.eigenvalues, b.eigenvalues)
    assert np.array_equal(a.factors_array, b.factors_array)
    assert np.array_equal(a.loadings_array, b.loadings_array)


def _top_subspace_angle(a, b, r):
    qa, qb = np.linalg.qr(np.asarray(a)[:, :r])[0], np.linalg.qr(np.asarray(b)[:, :r])[0]
    return float(np.degrees(np.arccos(np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False).min(), -1, 1))))


def test_power_iterations_go_on_until_the_components_above_the_noise_settle():
    """Three blob-mixed EDS phases at 200 counts/pixel (40 x 40 x 2048): the third component stands 1.7 x above
    the noise, and two power iterations left the top-3 subspace 7.9 degrees from the exact one. The default goes
    on until the components that stand out turn by less than a degree between passes, and says so."""
    from groundtruth import mixed_scene

    s, _ = mixed_scene(rank=3, kind="eds", layout="blobs", shape=(40, 40), n_channels=2048, counts=200, seed=2)
    exact = em.decompose(s, "pca", n_components=3, solver="gram")
    two = em.decompose(s, "pca", n_components=3, n_iter=2)
    settled = em.decompose(s, "pca", n_components=3)
    assert two.info["solver"] == settled.info["solver"] == "randomized"
    assert _top_subspace_angle(exact.factors_array, two.factors_array, 3) > 5.0
    assert _top_subspace_angle(exact.factors_array, settled.factors_array, 3) < 1.0
    assert 2 < settled.info["power_iterations"] <= 7 and two.info["power_iterations"] == 2
    assert settled.info["power_iterations_note"].startswith("settled: the 3 component(s)")
    # NMF and MCR start from it: two by default, as before (settled, mixtures moved both ways), settled when asked
    # (a new user's EELS layers: the result then no longer hung on the seed, 0.7-4.7 degrees -> 0.7 at every seed)
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        nmf = em.decompose(s, "nmf", n_components=3, max_iter=5)
    assert nmf.info["power_iterations"] == 2 and nmf.params["settle_subspace"] is False
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        mcr = em.decompose(s, "mcr", n_components=3, max_iter=3, settle_subspace=True)
    assert mcr.info["power_iterations"] == settled.info["power_iterations"] and mcr.params["settle_subspace"]
    # VCA reads its vertices from it, refining nothing: settled, as PCA; two where asked (or recorded before)
    assert em.decompose(s, "vca", n_components=3).info["power_iterations"] == settled.info["power_iterations"]
    assert em.decompose(s, "vca", n_components=3, settle_subspace=False).info["power_iterations"] == 2


def test_components_that_stand_far_out_settle_at_two_iterations_with_the_same_bits(counts, monkeypatch):
    """A cube whose components stand far above the noise reads the data three times, as with n_iter=2, and gives
    its bits."""
    big = np.concatenate([counts] * 4, axis=0) * 8  # more pixels and counts: the components stand far out
    log = names(monkeypatch)
    d = em.decompose(em.Signal(big), n_components=3, solver="randomized", seed=1)
    assert [r.name for r in log] == ["decomposition-statistics-sketch", "decomposition-power", "decomposition-power"]
    assert d.info["power_iterations"] == 2 and d.info["power_iterations_note"].startswith("settled")
    fixed = em.decompose(em.Signal(big), n_components=3, solver="randomized", seed=1, n_iter=2)
    np.testing.assert_array_equal(d.factors_array, fixed.factors_array)


def test_a_rank_read_from_a_rough_randomized_subspace_is_cautioned():
    """estimate_rank of a result computed with an integer k on the randomized route reads its eigenvalues from two
    power iterations, low near the noise edge (a new user's EELS cube of rank 4 read 3 / 2 / 3): it says so; a
    settled subspace does not need to."""
    from groundtruth import mixed_scene

    s, _ = mixed_scene(rank=3, kind="eds", layout="blobs", shape=(40, 40), n_channels=2048, counts=200, seed=2)
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        rough = em.decompose(s, "nmf", n_components=3, max_iter=5)
    with pytest.warns(UserWarning, match=r"estimate_rank: the eigenvalues come from a randomized subspace of 2 "):
        _, evidence = rough.estimate_rank()
    assert "n_components='auto'" in evidence["caution"]
    with pytest.warns(UserWarning, match="stopped at max_iter"):
        settled = em.decompose(s, "nmf", n_components=3, max_iter=5, settle_subspace=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, evidence = settled.estimate_rank()
    assert "caution" not in evidence


def test_the_exact_pca_has_the_same_bits_whatever_the_blas_threads(tmp_path):
    # LAPACK's eigensolver rounded with the process's BLAS threads: a Dask run (worker processes start with one)
    # and OMP_NUM_THREADS=1 gave other eigenvalues, factors and loadings than local threads
    import hashlib
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, sys, numpy as np\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from groundtruth import make_cube\n"
        "from emscale.decomposition import decompose\n"
        "s, _ = make_cube(3, 'eds', shape=(64, 64), n_channels=512, counts=400, seed=1)\n"
        "d = decompose(s, 'pca', solver='gram')\n"
        "print(hashlib.sha256(d.eigenvalues.tobytes() + d.factors_array.tobytes() + d.loadings_array.tobytes())"
        ".hexdigest())\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    from groundtruth import make_cube

    s, _ = make_cube(3, "eds", shape=(64, 64), n_channels=512, counts=400, seed=1)
    d = decompose(s, "pca", solver="gram")
    here = hashlib.sha256(d.eigenvalues.tobytes() + d.factors_array.tobytes() + d.loadings_array.tobytes())
    assert one.stdout.strip() == here.hexdigest()
