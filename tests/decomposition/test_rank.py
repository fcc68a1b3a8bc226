"""Rank estimation: the automatic rank on a cube and on the ground-truth suite, against the elbow."""

from __future__ import annotations

import numpy as np
import pytest

from emscale.decomposition import decompose
from emscale.decomposition.rank import elbow
from groundtruth import clearly_detectable, make_cube, suite


def test_rank_auto_on_cube(cube):
    s, truth = cube
    d = decompose(s, "pca", n_components="auto")
    assert d.n_components == truth.rank
    r, ev = d.estimate_rank()
    assert r == truth.rank and ev["method"] == "parallel-analysis-poisson"
    assert ev["eigenvalues"][r - 1] > ev["threshold"] > ev["eigenvalues"][r]
    # not Poisson: Marchenko-Pastur with the median-matched noise level
    d2 = decompose(s, "pca", poisson=True, solver="randomized", n_components=20)
    assert d2.estimate_rank()[1]["method"] == "marchenko-pastur-trace"


def _rank_hits(cases):
    """Per case (groundtruth.suite): the true rank, emscale's estimate, the HyperSpy-style elbow on the same
    scree, and the independent oracle (every component above the data's own noise edge, from the truth)."""
    from threadpoolctl import threadpool_limits

    rows = []
    # one BLAS thread: same answers, and threaded OpenBLAS on a busy 2-core machine spins (a 1024-channel eigh
    # took 9-16 s instead of 0.3 s; the 20 quick cases 197 s instead of 23 s)
    with threadpool_limits(limits=1, user_api="blas"):
        for case in cases:
            s, truth = make_cube(**case)
            d = decompose(s, "pca", n_components=1, solver="gram")  # the full scree: the exact route
            r, _ = d.estimate_rank()
            e = elbow(d.explained_variance_ratio) + 1
            rows.append(dict(case, true=truth.rank, est=r, elbow=e, detectable=clearly_detectable(s, truth)))
    return rows


def _rank_rates(rows):
    """(detectable cases, emscale hit rate on all, on detectable, elbow hit rate on all, on detectable, misses)."""
    det = [x for x in rows if x["detectable"]]

    def rate(rs, key):
        return float(np.mean([x[key] == x["true"] for x in rs])) if rs else float("nan")

    keys = ("rank", "kind", "counts", "pure", "shape", "n_channels", "seed", "est", "detectable")
    misses = [{k: x[k] for k in keys} for x in rows if x["est"] != x["true"]]
    return len(det), rate(rows, "est"), rate(det, "est"), rate(rows, "elbow"), rate(det, "elbow"), misses


def test_rank_suite_quick():
    # 20 cases of realistic size (64x64 to 192x192 pixels, 256-1024 channels), every dose, kind and pure/not.
    # Measured: detectable 14/20, emscale right on 14/14 of them and 15/20 in all; the elbow on 2/20 (0/14)
    rows = _rank_hits(suite(full=False))
    n_det, hit, hit_det, elbow_hit, elbow_det, misses = _rank_rates(rows)
    assert n_det >= 12, misses
    assert hit_det >= 0.9, misses
    assert hit >= 0.7, misses
    assert all(x["est"] <= x["true"] for x in rows), misses  # never noise counted as a component
    assert elbow_det < hit_det and elbow_hit < hit


@pytest.mark.slow
def test_rank_suite_full():
    # 240 cases (ranks 2-6, EDS/EELS, 20-20000 counts/pixel, pure or not, 3 seeds). Measured: 155 detectable;
    # emscale right on 155/155 detectable and 180/240 in all (75 %), never above the truth; the elbow right on
    # 0/155 detectable and 40/240 in all. (With Gaussian instead of sign noise in the parallel analysis: 151/155
    # and 168/240 -- its chi-square tail over-weighted near-empty channels; see DataMatrix.gram.)
    rows = _rank_hits(suite(full=True))
    n_det, hit, hit_det, elbow_hit, elbow_det, misses = _rank_rates(rows)
    assert n_det >= 150, (n_det, misses)
    assert hit_det >= 0.99, (hit_det, misses)
    assert hit >= 0.73, (hit, misses)
    # never more components than the truth (no noise counted as signal)
    assert all(x["est"] <= x["true"] for x in rows), misses
    assert elbow_det < 0.2 and elbow_hit < 0.25 and elbow_hit < hit


@pytest.mark.parametrize("n_channels, seed", [(12, 3), (12, 5), (16, 5), (16, 9)])
def test_few_channels_draw_the_noise_edge_as_often_as_few_pixels(n_channels, seed):
    """Three pure phases on 20 x 30 pixels over 12-16 channels at 50 counts/pixel: one noise draw's top eigenvalue
    fluctuates by more than the margin when the channels are few (as when the pixels are), and these maps counted 4
    components; the draws of a few-pixel map are taken for few channels too (pca.noise_draws)."""
    s, _ = make_cube(3, "eds", shape=(20, 30), n_channels=n_channels, counts=50, seed=seed, layers=10)
    assert decompose(s, "pca").info["rank_estimate"] == 3
