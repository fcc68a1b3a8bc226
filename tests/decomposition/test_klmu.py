"""KL multiplicative-update kernels: the specialised CSR sweeps for up to four components give the same bits as the
generic ones (padding with zero components adds exact zeros); the dense ones sum in SIMD lanes, the same values to
rounding and the same bits on every rerun."""

import numpy as np
import pytest

from emscale.decomposition import _klmu

pytestmark = pytest.mark.skipif(not _klmu.HAVE_NUMBA, reason="numba not installed")


def _random_csr(rng, n=300, p=80, density=0.1):
    x = rng.poisson(3.0, size=(n, p)) * (rng.random((n, p)) < density)
    r, c = np.nonzero(x)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype(np.int64)
    return x, (indptr, c.astype(np.int32), x[r, c].astype(np.float32))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_four_component_sweeps_equal_generic_sweeps(k):
    rng = np.random.default_rng(k)
    x, csr = _random_csr(rng)
    xm = _klmu.KLMatrix(*x.shape, csr=csr)
    w0, h0 = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1
    w, h = w0.copy(), h0.copy()
    xm.w_update(w, h)
    loss = xm.h_update(w, h)
    # the generic kernels, called directly
    wg, hg = w0.copy(), h0.copy()
    _klmu._kernels()._w_update_csr(*csr, wg, np.ascontiguousarray(hg.T), np.maximum(hg.sum(axis=1), _klmu.EPS),
                                   1.0)
    num, xlog = _klmu._kernels()._h_num_csr(*csr, wg, np.ascontiguousarray(hg.T), xm.bounds, xm.p, True)
    loss_g = xlog - xm.total + float(wg.sum(axis=0) @ hg.sum(axis=1))
    hg *= num.T / np.maximum(wg.sum(axis=0), _klmu.EPS)[:, None]
    assert np.array_equal(w, wg) and np.array_equal(h, hg) and loss == loss_g
    # and the update is the textbook one (dense numpy)
    ref_w = w0 * ((x / (w0 @ h0 + _klmu.EPS)) @ h0.T) / h0.sum(axis=1)
    np.testing.assert_allclose(w, ref_w, rtol=1e-10)


@pytest.mark.parametrize("gamma", [1.0, 1.7])
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_fused_iteration_equals_the_two_sweeps(k, dense, gamma):
    """``iterate`` (one read of the data for W and H) gives the bits of ``w_update`` then ``h_update``, on CSR and
    on dense matrices (the dense fused sweep: 1.45x faster per iteration on 9216 x 1024, k = 3, measured), plain
    and over-relaxed."""
    rng = np.random.default_rng(10 + k)
    x, csr = _random_csr(rng, n=500, p=120, density=0.8 if dense else 0.1)
    xm = _klmu.KLMatrix(*x.shape, dense=x.astype(np.float32)) if dense else _klmu.KLMatrix(*x.shape, csr=csr)
    w0, h0 = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1
    w, h, wf, hf = w0.copy(), h0.copy(), w0.copy(), h0.copy()
    for it in range(3):
        loss = (xm.w_update(w, h, gamma), xm.h_update(w, h, with_loss=it != 1, gamma=gamma))[1]
        loss_f = xm.iterate(wf, hf, with_loss=it != 1, gamma=gamma)
        assert np.array_equal(w, wf) and np.array_equal(h, hf) and loss == loss_f


@pytest.mark.parametrize("k", [3, 6])
def test_compiled_loss_equals_the_numpy_loss_and_the_definition(k):
    rng = np.random.default_rng(20 + k)
    x, csr = _random_csr(rng, n=400, p=90)
    w, h = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1
    wh = w @ h
    m = x > 0
    ref = float(np.sum(x[m] * np.log(x[m] / (wh[m] + _klmu.EPS))) - x.sum() + wh.sum())
    dense = x.astype(np.float32)
    for kw in (dict(csr=csr), dict(dense=dense)):
        fast = _klmu.KLMatrix(*x.shape, **kw).loss(w, h)
        slow = _klmu.KLMatrix(*x.shape, use_numba=False, **kw).loss(w, h)
        assert fast == pytest.approx(slow, rel=1e-12) and fast == pytest.approx(ref, rel=1e-10)


def test_nndsvda_from_pca_is_nndsvda_of_the_models_svd():
    from emscale.decomposition.nmf import nndsvda, nndsvda_from_pca

    rng = np.random.default_rng(3)
    z, v = rng.standard_normal((200, 3)), np.linalg.qr(rng.standard_normal((50, 3)))[0]
    ra, rb = rng.random(200) + 0.5, rng.random(50) + 0.5
    model = (ra[:, None] * z) @ (rb[:, None] * v).T
    u, s, vt = np.linalg.svd(model, full_matrices=False)
    w_ref, h_ref = nndsvda(u[:, :3], s[:3], vt[:3], 0.01)  # NNDSVD does not depend on the singular vectors' signs
    w, h = nndsvda_from_pca(z, v, ra, rb, 0.01)
    np.testing.assert_allclose(w, w_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h, h_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4", "f2", "i4"])
def test_compiled_nonzeros_equal_numpy(dtype):
    x = np.random.default_rng(4).poisson(0.3, size=(50, 70)).astype(dtype)
    counts, cols, vals = _klmu.nonzeros(x)
    r, c = np.nonzero(x)
    assert counts.dtype == np.int64 and cols.dtype == np.int32 and vals.dtype == np.float32
    np.testing.assert_array_equal(counts, np.bincount(r, minlength=50))
    np.testing.assert_array_equal(cols, c)
    np.testing.assert_array_equal(vals, x[r, c].astype(np.float32))


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("k", [3, 5])
def test_over_relaxed_step_is_the_textbook_step_with_an_exponent(k, dense):
    """``gamma``: W <- W ((R H^T) / (1 H^T))^gamma, H likewise; compiled and numpy routes agree with it."""
    rng = np.random.default_rng(30 + k)
    x, csr = _random_csr(rng, n=200, p=60, density=0.8 if dense else 0.2)
    w0, h0 = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1
    ref_w = w0 * (((x / (w0 @ h0 + _klmu.EPS)) @ h0.T) / h0.sum(axis=1)) ** 1.7
    ref_h = h0 * ((ref_w.T @ (x / (ref_w @ h0 + _klmu.EPS))) / ref_w.sum(axis=0)[:, None]) ** 1.7
    kw = dict(dense=x.astype(np.float32)) if dense else dict(csr=csr)
    for use_numba in (True, False):
        w, h = w0.copy(), h0.copy()
        _klmu.KLMatrix(*x.shape, use_numba=use_numba, **kw).iterate(w, h, with_loss=False, gamma=1.7)
        np.testing.assert_allclose(w, ref_w, rtol=1e-9)
        np.testing.assert_allclose(h, ref_h, rtol=1e-9)


@pytest.mark.parametrize("gamma", [1.0, 1.5])
@pytest.mark.parametrize("k", [1, 3, 4, 5, 9])
def test_dense_lane_kernels_agree_with_the_numpy_route(k, gamma):
    """The dense kernels sum in SIMD lanes (reassociated): up to four components in registers, more through a row
    buffer (it was one serial chain of k products a channel: 12 -> 4.5 ms an iteration on the real Bruker map at
    k = 9). The numpy route's values to rounding -- the W-only update (endmember start, refit after the rotation),
    the H sweep with its loss, and the fused iteration."""
    rng = np.random.default_rng(40 + k)
    x, _ = _random_csr(rng, n=300, p=90, density=0.8)
    x = x.astype(np.float32)
    w0, h0 = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1
    lanes, plain = (_klmu.KLMatrix(*x.shape, dense=x, use_numba=u) for u in (True, False))
    assert lanes.use_numba or not _klmu.HAVE_NUMBA
    w, wn = w0.copy(), w0.copy()
    lanes.w_update(w, h0, gamma)
    plain.w_update(wn, h0, gamma)
    np.testing.assert_allclose(w, wn, rtol=1e-12)
    num, xlog = lanes._sweep(w0, np.ascontiguousarray(h0.T), True)
    num_n, xlog_n = plain._sweep(w0, np.ascontiguousarray(h0.T), True)
    np.testing.assert_allclose(num, num_n, rtol=1e-12)
    assert xlog == pytest.approx(xlog_n, rel=1e-12)
    (w, h), (wn, hn) = (w0.copy(), h0.copy()), (w0.copy(), h0.copy())
    loss, loss_n = lanes.iterate(w, h, True, gamma), plain.iterate(wn, hn, True, gamma)
    np.testing.assert_allclose(w, wn, rtol=1e-12)
    np.testing.assert_allclose(h, hn, rtol=1e-12)
    assert loss == pytest.approx(loss_n, rel=1e-12)


@pytest.mark.parametrize("dense, k", [(True, 3), (True, 7), (False, 3)])
def test_sweeps_give_the_same_bits_on_every_rerun_alignment_and_thread_count(dense, k):
    """The dense lane sums are fixed by the compiled code, not by where the rows lie in memory or how many threads
    run, and the per-chunk loss terms are summed in chunk order on every route (a ``sum()`` in the reassociating
    dense sweep followed the thread count): a copy of X at another address (shifted by one float32)
    and one thread give the bits of the first run, losses included."""
    import numba

    rng = np.random.default_rng(7)
    x, csr = _random_csr(rng, n=640, p=203, density=0.9 if dense else 0.2)
    x = x.astype(np.float32)
    shifted = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)
    shifted[:] = x
    w0, h0 = rng.random((x.shape[0], k)) + 0.1, rng.random((k, x.shape[1])) + 0.1

    def run(data):
        w, h = w0.copy(), h0.copy()
        xm = _klmu.KLMatrix(*data.shape, dense=data) if dense else _klmu.KLMatrix(*data.shape, csr=csr)
        losses = [xm.iterate(w, h, with_loss=True, gamma=1.3) for _ in range(3)]
        return w, h, losses

    first = run(x)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = run(x)
    finally:
        numba.set_num_threads(threads)
    for other in (run(x), run(shifted), one_thread):
        assert all(np.array_equal(a, b) for a, b in zip(first[:2], other[:2], strict=True))
        assert first[2] == other[2]
