"""The evidence for pure pixels (decomposition.purity.rotation_evidence): the rotation to the pure-pixel member
of the NMF/MCR family is applied only when every pixel lies inside the simplex of the pure-pixel groups, and the
result records which path ran and why."""

import numpy as np
import pytest

from emscale.decomposition import decompose
from emscale.decomposition.purity import MAX_OUTSIDE, outside_scores, pure_pixel_rotation, rotation_evidence
from groundtruth import make_cube, mixed_scene


def _model(rng, pure: bool, n=900, p=80, k=3, counts=500.0):
    """Expected counts W H (Poisson draws) with spectra on a shared background; fractions either with a pure
    patch of 30 pixels per component, or filling a disc inside the simplex (every fraction >= 4 %: a smooth,
    rounded cloud; the groups are then the 30 most extreme mixtures towards each vertex)."""
    h = 0.3 + rng.random((k, p)) * (rng.random((k, p)) > 0.7) * 5
    h /= h.sum(axis=1, keepdims=True)
    if pure:
        frac = rng.dirichlet(np.full(k, 0.5), size=n)
        groups = [np.arange(c * 30, c * 30 + 30) for c in range(k)]
        for c, g in enumerate(groups):
            frac[g] = np.eye(k)[c]
    else:
        basis = np.linalg.qr(np.vstack([np.ones(k), rng.standard_normal((k - 1, k))]).T)[0][:, 1:]  # sum-zero
        d = rng.standard_normal((n, k - 1))
        d *= (rng.random(n) ** (1 / (k - 1)) / np.linalg.norm(d, axis=1))[:, None]
        frac = 1.0 / k + 0.36 * d @ basis.T
        groups = [np.argsort(-frac[:, c], kind="stable")[:30] for c in range(k)]
    x = rng.poisson(counts * frac @ h).astype(float)
    return counts * frac, h, x, groups


@pytest.mark.parametrize("seed", [0, 1])
def test_evidence_accepts_pure_pixels_and_refuses_mixtures(seed):
    rng = np.random.default_rng(seed)
    w, h, _, groups = _model(rng, pure=True)
    apply, ev, reason = rotation_evidence(w, h, groups)
    assert apply and ev["outside_fraction"] <= MAX_OUTSIDE and reason.startswith("pure pixels"), ev
    w, h, _, groups = _model(rng, pure=False)
    apply, ev, reason = rotation_evidence(w, h, groups)
    assert not apply and ev["outside_fraction"] > MAX_OUTSIDE and reason.startswith("no pure pixels shown:"), ev
    assert ev["group_sizes"] == [30, 30, 30] and 0 < ev["pixels_sampled"] <= 900


def test_evidence_without_distinct_groups_refuses():
    rng = np.random.default_rng(3)
    w, h, _, groups = _model(rng, pure=True)
    apply, ev, reason = rotation_evidence(w, h, [groups[0], groups[0], groups[2]])
    assert not apply and "distinct" in reason and pure_pixel_rotation(w, h, [groups[0]] * 3) is None


def test_standard_errors_are_those_of_the_poisson_fisher_information():
    """The z-scores of ``outside_scores`` (Fisher information built in blocks of pixels) are each rotated loading
    over its standard error from the textbook formula, pixel by pixel, over more pixels than one block holds, with
    the model floored at :data:`MODEL_FLOOR` of the mean model (scaled to the pixel's total)."""
    from emscale.decomposition.purity import EVIDENCE_BLOCK, MODEL_FLOOR, group_rotation, outside_scores

    rng = np.random.default_rng(6)
    w, h, _, groups = _model(rng, pure=True, n=EVIDENCE_BLOCK * 2 + 37)
    assert len(outside_scores(w, h, groups)[0]) == len(w)
    minv = np.linalg.inv(group_rotation(w, groups))
    w[5, 1:] = 0.0  # a pure pixel, where a channel of component 0's zeros holds nothing in the model
    h[0, :7] = 0.0
    totals = w.sum(axis=1)
    floor = MODEL_FLOOR * (w.mean(axis=0) @ h) / totals.mean()
    idx, z = outside_scores(w, h, groups)
    for i in (0, 5, EVIDENCE_BLOCK - 1, EVIDENCE_BLOCK, len(w) - 1):
        fisher = (h / np.maximum(w[i] @ h, floor * totals[i])) @ h.T
        se = np.sqrt(np.diag(minv.T @ np.linalg.inv(fisher) @ minv))
        np.testing.assert_allclose(z[i], (w[i] @ minv) / se, rtol=1e-9)


@pytest.mark.parametrize("counts, seed", [(100, 0), (400, 2)])
def test_z_scores_at_truly_pure_pixels_are_standard(counts, seed):
    """Every pixel pure (EELS layers), NMF's own factorisation, the true groups: the absent components' rotated
    loadings over their standard errors spread like a standard normal. KL-NMF's spectra end with exact zeros (15-58
    of 512 channels), and where a pure pixel's loadings are zero too the model expects ~0 counts where the truth does
    not: the information at those channels exploded, the spread read 3.6 (100 counts/pixel) and 39 (400), and
    9-10 % of the scores fell below -3 (issue 17: pure EELS grains refused as mixtures). Measured now: 0.88-0.97."""
    s, truth = make_cube(3, "eels", shape=(48, 48), n_channels=512, counts=counts, layers=6, seed=seed)
    d = decompose(s, "nmf", n_components=3, pure_pixels=False)
    w, h = d.loadings_array.reshape(-1, 3), d.factors_array.T
    assert np.any(h <= 1e-12)  # the case in point: spectra with exact zeros
    layer = truth.abundances.reshape(-1, 3).argmax(axis=1)
    groups = [np.flatnonzero(layer == c) for c in range(3)]
    idx, z = outside_scores(w, h, groups)
    absent = np.concatenate([np.delete(z[layer[idx] == c], c, axis=1).ravel() for c in range(3)])
    assert 0.7 < absent.std() < 1.3 and np.mean(absent < -3) < 0.01, (absent.std(), np.mean(absent < -3))
    assert rotation_evidence(w, h, groups)[0]


def test_gaussian_noise_model_gives_the_same_decision():
    rng = np.random.default_rng(4)
    for pure in (True, False):
        w, h, x, groups = _model(rng, pure=pure)
        sigma2 = float(np.mean((x - w @ h) ** 2))
        assert rotation_evidence(w, h, groups, noise="gaussian", sigma2=sigma2)[0] is pure


@pytest.mark.parametrize("method", ["nmf", "mcr"])
def test_decompose_records_the_path_and_the_evidence(method):
    s, _ = make_cube(rank=3, kind="eds", shape=(32, 32), n_channels=256, counts=200, pure=True, seed=2)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"] is True and d.info["pure_pixel_reason"].startswith("pure pixels")
    assert set(d.info["pure_pixel_evidence"]) >= {"outside_fraction", "negative_mass", "group_sizes"}
    s, _ = mixed_scene(rank=3, kind="eds", layout="gradient", shape=(64, 64), n_channels=512, counts=200, seed=3)
    d = decompose(s, method, n_components=3)
    assert d.info["pure_pixel_rotation"] is False and d.info["pure_pixel_reason"].startswith("no pure pixels")
    assert d.info["pure_pixel_evidence"]["outside_fraction"] > MAX_OUTSIDE
    # EDS, each phase a line of its own: the spectra's end of the family
    assert d.info["pure_channel_rotation"] is True and d.info["pure_channel_reason"].startswith("pure channels")
    assert set(d.info["pure_channel_evidence"]) >= {"outside_fraction", "group_channels", "group_impurity"}
    s.signal_type = "CL"  # not EDS: that end is not tried
    d = decompose(s, method, n_components=3)
    assert d.info["pure_channel_rotation"] is False and d.info["pure_channel_reason"] == "not tried: not EDS data"
    off = decompose(s, method, n_components=3, pure_pixels=False)
    assert off.info["pure_pixel_reason"] == "not asked (pure_pixels=False)" and "pure_pixel_evidence" not in off.info
    # evidence refused: the solver's own factorisation, bit for bit
    np.testing.assert_array_equal(d.factors_array, off.factors_array)
    np.testing.assert_array_equal(d.loadings_array, off.loadings_array)
