"""Small cubes cost what their smaller side costs: fewer pixels than channels -> the pixel Gram matrix."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from emscale import Signal
from emscale.decomposition import decompose, pca
from emscale.decomposition._jit import HAVE_NUMBA


def _cube(shape, seed=0):
    rng = np.random.default_rng(seed)
    spectra = rng.gamma(2.0, 1.0, size=(2, shape[-1]))
    maps = rng.dirichlet([1.0, 1.0], size=shape[:-1])
    data = rng.poisson(20.0 * maps @ spectra).astype(np.uint16)
    return Signal(data, axes=[{"navigate": True}] * (len(shape) - 1) + [{"navigate": False}])


@pytest.mark.parametrize("centre", [False, True])
def test_pixel_gram_equals_channel_gram(monkeypatch, centre):
    s = _cube((6, 5, 300))
    a = decompose(s, "pca", n_components=None, centre=centre)  # 30 pixels < 300 channels: the pixel side
    monkeypatch.setattr(pca, "PIXEL_GRAM_MAX_BYTES", 0)  # force the channels x channels Gram
    b = decompose(s, "pca", n_components=None, centre=centre)
    assert a.info["solver"] == b.info["solver"] == "gram"
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9, atol=1e-12 * a.eigenvalues[0])
    k = 3
    np.testing.assert_allclose(np.abs(a.factors_array[:, :k]), np.abs(b.factors_array[:, :k]), rtol=1e-6, atol=1e-9)
    assert a.info["rank_estimate"] == b.info["rank_estimate"]
    if not centre:
        np.testing.assert_allclose(a.info["noise_eigenvalues"], b.info["noise_eigenvalues"], rtol=1e-5)


def test_tiny_cube_never_builds_the_channel_gram():
    # a fresh process: PCA "auto" and None on 2 x 2 x 2048 run without numba (the channel Gram's kernels)
    code = (
        "import sys, time, numpy as np, emscale as em\n"
        "s = em.Signal(np.random.default_rng(0).poisson(5, (2, 2, 2048)).astype(np.uint16),"
        " axes=[{'navigate': True}, {'navigate': True}, {'navigate': False}])\n"
        "t = time.perf_counter()\n"
        "d = em.decompose(s, 'pca', n_components='auto'); em.decompose(s, 'pca')\n"
        "print(time.perf_counter() - t, 'numba' in sys.modules, d.info['solver'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, numba_loaded, solver = float(out[0]), out[1] == "True", out[2]
    assert solver == "gram" and not numba_loaded
    assert seconds < 5.0  # ~0.04 s measured on a busy machine (it was 1-58 s with the 2048 x 2048 Gram)


def test_auto_solver_with_a_small_int_k_sketches(monkeypatch):
    from emscale.decomposition import api

    s = _cube((8, 8, 64))
    assert decompose(s, "pca", n_components=3).info["solver"] == "gram"  # below 2^20 values: exact, as fast
    monkeypatch.setattr(api, "RANDOMIZED_MIN_VALUES", 0)  # a big cube
    assert decompose(s, "pca", n_components=3).info["solver"] == "randomized"
    assert decompose(s, "pca", n_components=16).info["solver"] == "gram"  # not small: 4 k >= min(n, p)
    assert decompose(s, "pca", n_components="auto").info["solver"] == "gram"
    assert decompose(s, "pca").info["solver"] == "gram"


def test_small_cube_every_method_without_numba_and_light_import():
    """A fresh process: ``import emscale`` loads no scipy submodule that only some operations need, and a cube
    below :data:`._jit.NUMBA_MIN_VALUES` values runs every method on numpy (numba never imported, nor
    scikit-learn: ICA is emscale's own FastICA), and so do the methods that read the data only through the Gram
    route (PCA, VCA, MCR, ICA), below :data:`._jit.DENSE_NUMBA_MIN_VALUES`, and NMF of dense counts, below
    :data:`._jit.DENSE_KL_NUMBA_MIN_VALUES`; clustering its loadings imports no scikit-learn either (:mod:`.kmeans`).
    Timings: the start-up rows of benchmarks/bench_decomposition.py."""
    code = (
        "import sys, time, numpy as np, emscale as em\n"
        "heavy = sorted(m for m in ('scipy.spatial', 'scipy.ndimage', 'scipy.sparse', 'scipy.fft', 'sklearn', 'numba')"
        " if m in sys.modules)\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.poisson(20 * rng.dirichlet([1, 1], (24, 20)) @ rng.gamma(2, 1, (2, 160))).astype(np.uint16)\n"
        "s = em.Signal(x, axes=[{'navigate': True}, {'navigate': True}, {'navigate': False}])\n"
        "out = {}\n"
        "for m in ('pca', 'nmf', 'vca', 'mcr', 'ica'):\n"
        "    t = time.perf_counter()\n"
        "    em.decompose(s, m, n_components='auto' if m == 'pca' else 2)\n"
        "    out[m] = (time.perf_counter() - t, 'numba' in sys.modules, 'sklearn' in sys.modules)\n"
        "x = rng.poisson(200 * rng.dirichlet([1, 1, 1], (32, 32)) @ rng.dirichlet(np.ones(512), 3)).astype(np.uint16)\n"
        "s = em.Signal(x, axes=[{'navigate': True}, {'navigate': True}, {'navigate': False}])\n"
        "for m in ('pca', 'vca', 'mcr', 'ica'):\n"  # 2^19 values: the Gram route stays on numpy
        "    t = time.perf_counter()\n"
        "    em.decompose(s, m, n_components='auto' if m == 'pca' else 3)\n"
        "    out[m + ' 32x32x512'] = (time.perf_counter() - t, 'numba' in sys.modules, 'sklearn' in sys.modules)\n"
        "x = rng.poisson(40 * rng.dirichlet([1, 1], (32, 32)) @ rng.gamma(2, 1, (2, 512))).astype(np.uint16)\n"
        "s = em.Signal(x, axes=[{'navigate': True}, {'navigate': True}, {'navigate': False}])\n"
        "d = em.decompose(s, 'nmf', n_components=2)\n"  # dense counts: the dense KL route, on numpy too
        "out['nmf dense 32x32x512'] = (d.info['route'], 'numba' in sys.modules, 'sklearn' in sys.modules)\n"
        "t = time.perf_counter()\n"
        "c = d.cluster(2)\n"  # emscale's k-means: scikit-learn's import alone took 0.7 s of 0.72
        "out['cluster 32x32'] = (time.perf_counter() - t, 'numba' in sys.modules, 'sklearn' in sys.modules)\n"
        "out['scipy.stats'] = 'scipy.stats' in sys.modules\n"  # its import alone took 2 s of a first decompose
        "print(repr((heavy, out)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, out = eval(res.strip().splitlines()[-1])  # noqa: S307 -- our own child's repr
    assert heavy == [] and out.pop("scipy.stats") is False
    assert not any(numba for _, numba, _ in out.values())
    assert out["nmf dense 32x32x512"][0] == "dense-numpy"
    assert [m for m, (_, _, sk) in out.items() if sk] == []


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_a_dense_map_of_the_velox_size_takes_the_compiled_kl_sweeps(monkeypatch):
    """A dense EELS map of 20 x 16 x 2048 (the Velox maps' size, 655 360 values) took numpy's KL updates, 2.4-2.8x
    slower an update than the compiled sweep (:data:`._jit.DENSE_KL_NUMBA_MIN_VALUES`); both give the same
    factorisation to rounding."""
    from emscale.decomposition import _jit

    rng = np.random.default_rng(5)
    x = rng.poisson(30 * rng.dirichlet([2, 2, 2], (20, 16)) @ rng.gamma(4, 1, (3, 2048))).astype(np.uint16)
    s = Signal(x, axes=[{"navigate": True}, {"navigate": True}, {"navigate": False}], signal_type="EELS")
    d = decompose(s, "nmf", n_components=3)
    assert d.info["route"] == "dense-numba"
    monkeypatch.setattr(_jit, "DENSE_KL_NUMBA_MIN_VALUES", 1 << 40)
    ref = decompose(s, "nmf", n_components=3)
    assert ref.info["route"] == "dense-numpy"
    assert d.info["n_iter"] == ref.info["n_iter"]
    np.testing.assert_allclose(d.factors_array, ref.factors_array, rtol=1e-6, atol=1e-9 * ref.factors_array.max())


def test_numpy_kl_updates_sweep_a_small_sparse_matrix_in_one_chunk():
    """The numpy KL route gathers the non-zeros of its CSR row chunks one chunk after another: split only by their
    number, not into the compiled sweeps' 16 or more (work for every core), which had made each row of a 4 x 4 pixel
    cube its own chunk (NMF 0.32 -> 0.07 s). Both chunkings give the same factorisation to rounding."""
    from emscale.decomposition import _klmu

    rng = np.random.default_rng(3)
    x = rng.poisson(2.0, size=(16, 256)) * (rng.random((16, 256)) < 0.3)
    r, c = np.nonzero(x)
    csr = (np.concatenate([[0], np.cumsum(np.bincount(r, minlength=16))]).astype(np.int64), c.astype(np.int32),
           x[r, c].astype(np.float32))
    one = _klmu.KLMatrix(16, 256, csr=csr, use_numba=False)
    assert list(one.bounds) == [0, 16]
    dense = _klmu.KLMatrix(64, 256, dense=np.ones((64, 256), np.float32), use_numba=False)
    assert len(dense.bounds) == 17  # dense rows keep their chunks: fewer, larger ones were slower
    many = _klmu.KLMatrix(16, 256, csr=csr, use_numba=False)
    many.bounds = _klmu.row_chunks(csr[0])  # the compiled sweeps' chunks: a row each
    assert len(many.bounds) > 10
    w0, h0 = rng.random((16, 2)) + 0.1, rng.random((2, 256)) + 0.1
    (w1, h1), (w2, h2) = (w0.copy(), h0.copy()), (w0.copy(), h0.copy())
    for _ in range(5):
        loss1, loss2 = one.iterate(w1, h1), many.iterate(w2, h2)
    np.testing.assert_allclose(w1, w2, rtol=1e-12)
    np.testing.assert_allclose(h1, h2, rtol=1e-12)
    assert loss1 == pytest.approx(loss2, rel=1e-12)


def test_numpy_kl_updates_read_a_small_dense_matrix_as_float64_once():
    """The numpy KL route read each dense row chunk as float64 in every sweep, two sweeps an update, and gathered
    its non-zeros for the loss where no value is zero (EELS counts). A small dense matrix is now converted once and
    a chunk without zeros is summed whole; the updates and the loss are the same to the bit."""
    from emscale.decomposition import _klmu

    rng = np.random.default_rng(5)
    x = rng.poisson(40.0, size=(48, 300)).astype(np.float32)
    once = _klmu.KLMatrix(48, 300, dense=x, use_numba=False)
    assert once._dense64 is not None and once._dense64.dtype == np.float64
    each = _klmu.KLMatrix(48, 300, dense=x, use_numba=False)
    each._dense64 = None  # converted chunk by chunk, as before
    each._positive_rows[:] = False  # the loss's non-zeros gathered, as before
    assert once._positive_rows.all()
    w0, h0 = rng.random((48, 3)) + 0.1, rng.random((3, 300)) + 0.1
    (w1, h1), (w2, h2) = (w0.copy(), h0.copy()), (w0.copy(), h0.copy())
    for _ in range(4):
        assert once.iterate(w1, h1, gamma=1.5) == each.iterate(w2, h2, gamma=1.5)
    assert np.array_equal(w1, w2) and np.array_equal(h1, h2)
    assert once.loss(w1, h1) == each.loss(w2, h2)
    big = _klmu.KLMatrix(1, _klmu.DENSE64_MAX_VALUES + 1, dense=np.ones((1, _klmu.DENSE64_MAX_VALUES + 1), np.float32),
                         use_numba=False)
    assert big._dense64 is None  # a large matrix is not held twice


def test_rank_of_a_few_pixels_comes_from_the_simulated_noise():
    """2-6 pixels leave no noise bulk for Marchenko-Pastur; the rank used to be the scree elbow (2 of 4 on pure
    Poisson noise of 2 x 2 x 2048). Now the parallel analysis decides, with the maximum of several noise draws."""
    wrong = 0
    for seed in range(10):
        for shape in [(2, 2, 2048), (1, 3, 1024), (2, 3, 512)]:
            noise = np.random.default_rng(seed).poisson(5, shape).astype(np.uint16)
            d = decompose(Signal(noise, axes=[{"navigate": True}] * 2 + [{"navigate": False}]), "pca",
                          n_components="auto")
            wrong += d.info["rank_estimate"] != 1
            assert d.rank_evidence["method"] == "parallel-analysis-poisson"
    assert wrong <= 1  # measured 0 of 30 (one noise draw: 3 of 15 over-counted)
    rng = np.random.default_rng(0)
    for _ in range(3):
        spectra = rng.gamma(2.0, 1.0, (2, 2048)) * 3
        mix = np.array([[1, 0], [0, 1], [0.5, 0.5], [1, 0]])
        x = rng.poisson(2 * mix @ spectra).reshape(2, 2, 2048).astype(np.uint16)
        d = decompose(Signal(x, axes=[{"navigate": True}] * 2 + [{"navigate": False}]), "pca", n_components="auto")
        assert d.info["rank_estimate"] == 2


def test_the_rank_of_an_8_by_8_map_does_not_count_noise():
    """One noise draw from 64 pixels up: on 8 x 8 maps the data's own top noise eigenvalue passed the simulated
    edge in 32 of 192 ground-truth cubes (these eight: seeds 1 and 5 over-counted). Now 1024 // pixels draws."""
    from groundtruth import make_cube

    ranks = [decompose(make_cube(2, "eds", shape=(8, 8), n_channels=256, counts=200, seed=seed)[0], "pca",
                       n_components="auto").info["rank_estimate"] for seed in range(8)]
    assert ranks == [2] * 8


def test_a_rank_at_the_noise_edge_says_so():
    """A last component within 5 % over the threshold is as likely noise (all over-counts left on 384 cubes of
    8 x 8 and 12 x 12 pixels sat there): warned with the lower rank, and recorded."""
    from groundtruth import make_cube

    s, _ = make_cube(2, "eels", shape=(8, 8), n_channels=256, counts=2000, seed=0)  # rank 3 of 2, 1.027 x the edge
    with pytest.warns(UserWarning, match=r"rank estimate 3 is at the noise edge: component 3 stands only 1\.0\d\d x"):
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == 3 and "it may be 2" in d.info["rank_warning"]
    s, _ = make_cube(2, "eels", shape=(8, 8), n_channels=256, counts=2000, seed=3)  # a clear rank 2: no word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decompose(s, "pca", n_components="auto")
    assert d.info["rank_estimate"] == 2 and "rank_warning" not in d.info
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recorded, not warned, where the rank is not used
        d = decompose(make_cube(2, "eels", shape=(8, 8), n_channels=256, counts=2000, seed=0)[0], "pca",
                      n_components=2)
    assert "noise edge" in d.info["rank_warning"]


def _sparse_cube(shape, counts, seed=1):
    rng = np.random.default_rng(seed)
    spectra = rng.gamma(0.3, 1.0, size=(3, shape[-1]))
    spectra /= spectra.sum(1, keepdims=True)
    maps = rng.dirichlet([0.5] * 3, size=shape[:-1])
    data = rng.poisson(counts * maps @ spectra).astype(np.uint16)
    return Signal(data, axes=[{"navigate": True}] * 2 + [{"navigate": False}])


@pytest.mark.parametrize("shape, counts", [((12, 15, 700), 40.0), ((20, 15, 1200), 6.0)])
def test_pixel_gram_rank_evidence_equals_channel_gram(monkeypatch, shape, counts):
    """Sparse counts with more than 64 pixels: the pixel side's one reduction (every eigenvalue, the leading
    vectors), the rank channels' spectrum from the smaller side of their sub-matrix (pixels, then channels) and the
    noise tops by Lanczos give the channel side's rank evidence."""
    s = _sparse_cube(shape, counts)
    a = decompose(s, "pca", n_components="auto")
    monkeypatch.setattr(pca, "PIXEL_GRAM_MAX_BYTES", 0)
    b = decompose(s, "pca", n_components="auto")
    ea, eb = a.rank_evidence, b.rank_evidence
    n_pixels = shape[0] * shape[1]
    assert (ea["rank_channels"] < n_pixels) == (counts < 10)  # both sides of the rank sub-matrix are exercised
    assert a.info["rank_estimate"] == b.info["rank_estimate"] >= 1
    top = eb["eigenvalues"][0]
    np.testing.assert_allclose(ea["eigenvalues"][: eb["eigenvalues"].size], eb["eigenvalues"], rtol=1e-8,
                               atol=1e-10 * top)
    np.testing.assert_allclose(ea["all_eigenvalues"][:n_pixels], eb["all_eigenvalues"][:n_pixels], rtol=1e-8,
                               atol=1e-10 * eb["all_eigenvalues"][0])
    assert ea["noise_top"] == pytest.approx(eb["noise_top"], rel=1e-6)
    if counts > 10:  # at 6 counts/pixel the leading eigenvalues are the one-count blocks' 1s: no defined vectors
        np.testing.assert_allclose(np.abs(a.factors_array), np.abs(b.factors_array), rtol=1e-6, atol=1e-8)
