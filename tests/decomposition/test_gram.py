"""The exact (Gram) PCA's kernels: the sparse and the BLAS routes give the Gram matrices of the weighted data and
of the simulated Poisson noise written out densely, whatever the masks, chunking and partitioning; the noise signs
are a function of (seed, pixel, channel) only; the scree solver equals numpy's eigh."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import _gram, _jit, _matrix
from emscale.decomposition._matrix import DataMatrix
from emscale.engine import InlineExecutor, ThreadExecutor, passes
from emscale.engine.blas import one_blas_thread
from emscale.engine.jit import numba_usable
from groundtruth import three_peak_counts

needs_numba = pytest.mark.skipif(not numba_usable(), reason="the sparse Gram route needs numba")


@pytest.fixture(scope="module")
def counts():
    """Sparse Poisson counts of rank 3 (uint16), 24 x 20 pixels x 160 channels, ~3 counts per pixel in peaks."""
    return three_peak_counts(1.5, 0.01)


def dense_reference(x, seed, keep_pixels=None, keep_channels=None, centre=False):
    """Weighted data and noise written out densely: Xw, and Z = sqrt(X) * signs weighted like Xw."""
    n, p = x.shape[0] * x.shape[1], x.shape[-1]
    x = x.reshape(n, p).astype(float)
    signs = _gram.noise_signs(seed, np.arange(n), np.arange(p)).astype(float)
    if keep_pixels is not None:
        x, signs = x[keep_pixels], signs[keep_pixels]
    if keep_channels is not None:
        x, signs = x[:, keep_channels], signs[:, keep_channels]
    ag, bh = x.sum(1), x.sum(0)
    ag[ag == 0] = 1
    bh[bh == 0] = 1
    scale = 1 / np.sqrt(ag)[:, None] / np.sqrt(bh)[None, :]
    xw = x * scale
    if centre:
        xw = xw - (x / np.sqrt(ag)[:, None]).sum(0) / np.sqrt(bh) / x.shape[0]
    return xw, np.sqrt(x) * signs * scale



@pytest.fixture(autouse=True)
def _compiled_routes_on_small_cubes(monkeypatch):
    """These cubes are small enough for the numpy route (:func:`._jit.use_numba`); the routes are tested here."""
    monkeypatch.setattr(_jit, "NUMBA_MIN_VALUES", 0)
    monkeypatch.setattr(_jit, "DENSE_NUMBA_MIN_VALUES", 0)

@pytest.mark.parametrize("route", [pytest.param("sparse", marks=needs_numba), "dense"])
def test_gram_and_noise_gram_equal_the_dense_products(counts, route, monkeypatch):
    monkeypatch.setattr(_gram, "SPARSE_GRAM_MAX_WORK", 1.0 if route == "sparse" else 0.0)
    keep_pixels = np.ones(24 * 20, bool)
    keep_pixels[7:50] = False
    keep_channels = np.ones(160, bool)
    keep_channels[:5] = False
    for kp, kc, centre in ((None, None, False), (keep_pixels, keep_channels, False), (keep_pixels, None, True)):
        dm = DataMatrix(counts, 2, kp, kc, executor=InlineExecutor())
        dm.statistics()
        dm.configure(poisson=True, centre=centre)
        c, cn = dm.gram(noise_seed=3)
        name = passes.last_report().name
        assert name == ("decomposition-gram-sparse" if route == "sparse" and not centre else "decomposition-gram")
        xw, z = dense_reference(counts, 3, kp, kc, centre)
        np.testing.assert_allclose(c, xw.T @ xw, rtol=1e-10, atol=1e-13 * np.abs(c).max())
        assert np.array_equal(c, c.T) and np.array_equal(cn, cn.T)
        # the BLAS route accumulates the noise in float32 within a partition
        tol = 1e-12 if name.endswith("sparse") else 1e-5
        np.testing.assert_allclose(cn, z.T @ z, rtol=0, atol=tol * np.abs(z.T @ z).max())


@needs_numba
def test_routes_agree_and_do_not_depend_on_chunks_partitions_or_executor(counts, monkeypatch):
    x = counts.reshape(-1, 160)
    results = {}
    for route, chunk, part, ex in (("sparse", _matrix.GRAM_CHUNK_BYTES, None, InlineExecutor()),
                                   ("sparse", 8 * 160 * 7, 3 * 160 * 8, ThreadExecutor(2)),
                                   ("dense", 8 * 160 * 7, 3 * 160 * 8, InlineExecutor())):
        monkeypatch.setattr(_gram, "SPARSE_GRAM_MAX_WORK", 1.0 if route == "sparse" else 0.0)
        monkeypatch.setattr(_matrix, "GRAM_CHUNK_BYTES", chunk)
        if part:
            monkeypatch.setattr(_matrix, "MIN_PARTITION_BYTES", 1)
            monkeypatch.setattr(passes, "DEFAULT_PARTITION_BYTES", part)
        for data, nav in ((x, 1), (counts, 2)):  # one pixel per first-dimension row, and rows of 20
            dm = DataMatrix(data, nav, executor=ex)
            dm.statistics()
            dm.configure(poisson=False, centre=False)
            results.setdefault(nav, []).append(dm.gram(noise_seed=4))
    for runs in results.values():
        (c0, n0), (c1, n1), (c2, n2) = runs
        np.testing.assert_allclose(c1, c0, rtol=1e-13)
        np.testing.assert_allclose(n1, n0, rtol=1e-13, atol=1e-13 * np.abs(n0).max())
        np.testing.assert_allclose(c2, c0, rtol=1e-12)
        np.testing.assert_allclose(n2, n0, rtol=0, atol=1e-5 * np.abs(n0).max())
    z = np.sqrt(x.astype(float)) * _gram.noise_signs(4, np.arange(x.shape[0]), np.arange(160))
    np.testing.assert_allclose(results[1][0][1], z.T @ z, atol=1e-12 * np.abs(z.T @ z).max())
    np.testing.assert_allclose(results[2][0][1], results[1][0][1], rtol=1e-13, atol=1e-13)


def test_noise_signs_are_balanced_and_the_numba_and_numpy_paths_agree():
    s = _gram.noise_signs(11, np.arange(400), np.arange(500))
    assert s.dtype == np.int8 and set(np.unique(s)) == {-1, 1}
    assert abs(s.mean()) < 0.01  # 200 000 signs: 4.5 sigma
    assert abs(np.corrcoef(s[:, :-1].ravel(), s[:, 1:].ravel())[0, 1]) < 0.01
    assert not np.array_equal(s, _gram.noise_signs(12, np.arange(400), np.arange(500)))
    # a pixel's sign depends on its own indices only
    np.testing.assert_array_equal(_gram.noise_signs(11, np.array([7, 399]), np.array([3, 42])), s[[7, 399]][:, [3, 42]])
    x = np.random.default_rng(0).poisson(0.7, (40, 500)).astype(np.uint16)
    w = np.linspace(0.5, 2, 40)
    fast = _gram.signed_root(x, w, 11, np.arange(360, 400), np.arange(500))
    slow = _gram.signed_root(x, w, 11, np.arange(360, 400), np.arange(500), compiled=False)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_allclose(slow, np.sqrt(x) * s[360:] * w[:, None], rtol=1e-6)


@pytest.mark.parametrize("k", [0, 3, 40])
def test_eigh_scree_equals_numpy(k):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((900, 300))
    a[:, :4] *= 20
    c = a.T @ a
    w, v = _gram.eigh_scree(c, k)
    ref_w, ref_v = np.linalg.eigh(c)
    ref_w, ref_v = ref_w[::-1], ref_v[:, ::-1]
    np.testing.assert_allclose(w, ref_w, rtol=1e-12, atol=1e-12 * ref_w[0])
    assert v.shape == (300, k)
    np.testing.assert_allclose(np.abs(np.sum(v * ref_v[:, :k], axis=0)), 1.0, atol=1e-10)
    np.testing.assert_allclose(c @ v, v * w[:k], atol=1e-9 * ref_w[0])
    assert _gram.top_eigenvalue(c) == pytest.approx(ref_w[0], rel=1e-12)


def test_eigh_scree_gives_the_solver_only_the_rows_that_hold_values(monkeypatch):
    """Zero rows and columns (channels with no count), where they are most of the matrix, are left out of the
    eigensolver and come back as eigenvalues 0 with their unit vectors; a matrix with none or fewer takes the route it
    took before, bit for bit."""
    rng = np.random.default_rng(5)
    a = np.zeros((400, 300))
    live = np.sort(rng.choice(300, 70, replace=False))
    a[:, live] = rng.standard_normal((400, 70)) * np.linspace(30, 1, 70)
    c = a.T @ a
    sizes = []
    solve = _gram._eigh_scree
    monkeypatch.setattr(_gram, "_eigh_scree", lambda m, k: sizes.append(m.shape) or solve(m, k))
    w, v = _gram.eigh_scree(c, 80)  # more vectors than the live rows: 10 dead rows' unit vectors follow
    assert sizes == [(70, 70)]
    ref = np.linalg.eigvalsh(c)[::-1]
    np.testing.assert_allclose(w[:70], ref[:70], rtol=1e-12)
    assert w.shape == (300,) and np.all(w[70:] == 0.0)
    np.testing.assert_allclose(v.T @ v, np.eye(80), atol=1e-12)
    np.testing.assert_allclose(c @ v, v * w[:80], atol=1e-9 * w[0])
    dead = np.setdiff1d(np.arange(300), live)
    assert np.array_equal(np.argmax(v[:, 70:], axis=0), dead[:10]) and np.all(v[live, 70:] == 0.0)
    for empty in (0, 140):  # none, or fewer than half: the whole matrix, the bits of before
        full = rng.standard_normal((400, 300))
        full[:, :empty] = 0.0
        sizes.clear()
        w2, v2 = _gram.eigh_scree(full.T @ full, 5)
        with one_blas_thread():
            w3, v3 = solve(full.T @ full, 5)
        assert sizes == [(300, 300)] and np.array_equal(w2, w3) and np.array_equal(v2, v3)


def test_counts_in_a_few_channels_size_the_scree_solver_and_agree_with_the_whole_gram(monkeypatch):
    """The Velox example map (4066 channels, 2 with a count) ran a 4066-wide eigensolver (16 s loaded): a cube whose
    counts sit in 24 of 512 channels hands it 24 x 24, and its scree and factors are those of the whole Gram matrix
    (the route before: its zero rows in) to 1e-12."""
    rng = np.random.default_rng(3)
    live = np.concatenate([np.arange(c - 4, c + 4) for c in (100, 250, 400)])  # three lines of 8 channels
    shape = np.exp(-0.5 * ((np.arange(8) - 3.5) / 2.0) ** 2)
    spectra = np.zeros((3, 24))
    for i in range(3):  # each phase: its own line strong, the others weak
        spectra[i] = np.concatenate([shape * (1.0 if j == i else 0.2) for j in range(3)])
    ab = rng.dirichlet(np.ones(3), 32 * 32)
    x = np.zeros((32 * 32, 512), dtype=np.uint16)
    x[:, live] = rng.poisson(200 * ab @ (spectra / spectra.sum(1, keepdims=True)))
    s = em.Signal(x.reshape(32, 32, 512))
    sizes = []
    solve = _gram._eigh_scree
    monkeypatch.setattr(_gram, "_eigh_scree", lambda m, k: sizes.append(m.shape[0]) or solve(m, k))
    d = em.decompose(s, seed=0)
    assert d.info["solver"] == "gram" and max(sizes) <= 24
    monkeypatch.setattr(_gram, "_empty_rows", lambda c: None)  # the whole Gram matrix, as before
    sizes.clear()
    ref = em.decompose(s, seed=0)
    assert max(sizes) == 512
    lam, ref_lam = d.eigenvalues, ref.eigenvalues
    assert np.count_nonzero(lam) == 24 and np.all(lam[24:] == 0.0) and np.all(np.abs(ref_lam[24:]) < 1e-12)
    np.testing.assert_allclose(lam[:24], ref_lam[:24], rtol=1e-12)
    f, ref_f = np.asarray(d.factors_array)[:, :20], np.asarray(ref.factors_array)[:, :20]
    np.testing.assert_allclose(f, ref_f, rtol=0, atol=1e-12 * np.abs(ref_f).max())


@needs_numba
def test_sparse_route_is_chosen_for_sparse_counts_only(counts):
    s = em.Signal(counts)
    em.decompose(s, solver="gram")
    names = [r.name for r in passes.log.reports[-3:]]
    assert "decomposition-gram-sparse" in names
    dense = np.random.default_rng(1).poisson(30.0, counts.shape).astype(np.uint16)  # no zeros
    em.decompose(em.Signal(dense), solver="gram")
    names = [r.name for r in passes.log.reports[-3:]]
    assert "decomposition-gram" in names and "decomposition-gram-sparse" not in names


@pytest.mark.parametrize("dtype", [">u2", ">f4", "f2", "?"])
def test_gram_routes_accept_big_endian_half_and_boolean_data(counts, dtype, monkeypatch):
    """Vendor files may hand over big-endian arrays; numba's kernels need native numbers."""
    x = (counts > 0) if dtype == "?" else counts.astype(dtype)
    ref = x.reshape(-1, 160).astype(float)
    for work in (1.0, 0.0):
        monkeypatch.setattr(_gram, "SPARSE_GRAM_MAX_WORK", work)
        dm = DataMatrix(x, 2, executor=InlineExecutor())
        dm.statistics()
        dm.configure(poisson=False, centre=False)
        c, cn = dm.gram(noise_seed=1)
        np.testing.assert_allclose(c, ref.T @ ref, rtol=1e-12)
        z = np.sqrt(ref) * _gram.noise_signs(1, np.arange(480), np.arange(160))
        np.testing.assert_allclose(cn, z.T @ z, rtol=0, atol=1e-5 * np.abs(z.T @ z).max())


def test_top_eigenvalue_of_structured_and_degenerate_matrices():
    """An all-ones start is orthogonal to the top eigenvector of these (found in review: 0 instead of 200)."""
    u = np.repeat([1.0, -1.0], 100)
    for c, top in ((np.outer(u, u), 200.0), (np.eye(200) + np.outer(u, u), 201.0), (np.zeros((100, 100)), 0.0),
                   (5 * np.eye(120), 5.0)):
        assert _gram.top_eigenvalue(c) == pytest.approx(top, rel=1e-10, abs=1e-12)


def test_a_fresh_processs_first_full_scree_pca_is_its_second():
    """The same bits from the first decomposition of a process as from the next (the replay's promise): scipy.linalg's
    own OpenBLAS, loaded inside the eigensolver's one-thread block, ran on every thread the first time."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, emscale as em\n"
        "rng = np.random.default_rng(0)\n"
        "s = em.Signal(rng.poisson(5.0, (24, 24, 1024)).astype(np.uint16))\n"
        "a = em.decompose(s)\n"
        "b = em.decompose(s)\n"
        "print(np.array_equal(a.factors.data, b.factors.data) and np.array_equal(a.loadings.data, b.loadings.data))\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True"
