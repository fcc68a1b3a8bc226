"""The hold-outs' biharmonic interpolation (:mod:`emscale.inpainting.biharmonic`): scikit-image's system, solved in
SuperLU's symmetric mode; the same values to the last digits, and the reconstruction's hold-outs solve no system
the scikit-image way."""

from __future__ import annotations

import numpy as np
import pytest
from cs_images import lattice, particle

import emscale.inpainting.baselines as baselines
from emscale.inpainting.biharmonic import biharmonic_operator, biharmonic_system, symmetric_biharmonic
from emscale.inpainting.sparse import sparse
from emscale.sampling.patterns import line_hop_pattern, random_pattern


@pytest.mark.parametrize(("shape", "make", "fraction"), [
    ((64, 64), random_pattern, 0.05), ((64, 80), line_hop_pattern, 0.1), ((37, 29), random_pattern, 0.3),
    ((5, 7), random_pattern, 0.5),
])
def test_the_symmetric_solve_gives_scikit_images_values(shape, make, fraction):
    img = particle(n=max(shape), seed=1)[0][: shape[0], : shape[1]] * 1000.0
    m = make(shape, fraction, seed=3)
    m[0, 0] = m[-1, -1] = False  # unmeasured corners: the clipped windows' rows
    ours, theirs = symmetric_biharmonic(img, m), baselines.biharmonic(img, m)
    assert np.abs(ours - theirs).max() <= 1e-9 * np.ptp(img[m])
    np.testing.assert_array_equal(ours[m], img[m])
    a, _, where = biharmonic_system(img, ~m)
    assert a.shape == (len(where), len(where)) == (np.count_nonzero(~m),) * 2
    assert abs(a - a.T).max() == 0.0  # symmetric: what the solve's mode assumes


def test_a_solve_it_does_not_trust_is_scikit_images(monkeypatch):
    import emscale.inpainting.biharmonic as module

    img = particle(n=40, seed=2)[0]
    m = random_pattern(img.shape, 0.1, seed=0)
    monkeypatch.setattr(module, "RESIDUAL", -1.0)  # no residual passes: the general mode, scikit-image's bits
    np.testing.assert_array_equal(symmetric_biharmonic(img, m), baselines.biharmonic(img, m))


def test_an_image_with_nothing_unmeasured_is_returned_as_it_is():
    img = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(symmetric_biharmonic(img, np.ones((3, 4), bool)), img)


def _count_scikit_image_solves(monkeypatch):
    calls = []

    def counted(image, mask, seed=0):
        calls.append(np.shape(image))
        return original(image, mask, seed)

    original = baselines.biharmonic
    monkeypatch.setattr(baselines, "biharmonic", counted)
    return calls


def test_a_small_line_hopping_scan_solves_no_system_the_scikit_image_way(monkeypatch):
    # its pooled hold-out scored biharmonic interpolation on each fold and the far-gap hold-out on each fold of
    # hidden runs, every one scikit-image's general-mode solve (6 + 10 here; 10 solves of 0.3 s at 128 x 128, 3 of
    # the 5 s a 128 x 128 line-hopping scan at 5 % took): the folds are solved in the symmetric mode, and the prior
    # kept (the lattice continues between the runs) needs no interpolation of the image
    img = lattice(n=64, seed=2)[0]
    m = line_hop_pattern(img.shape, 0.1, seed=0)
    calls = _count_scikit_image_solves(monkeypatch)
    rec, choice = sparse(img, m, return_choice=True)
    assert choice["folds"] == 6 and choice["far_gaps"] == "kept", choice
    assert choice["far_gaps_evidence"]["folds"] == 10 and "biharmonic" in choice["held_out_mse"]
    assert calls == []
    np.testing.assert_array_equal(rec, sparse(img, m, far_gaps=False))


def test_a_small_random_scan_solves_no_system_the_scikit_image_way(monkeypatch):
    img = particle(n=48, seed=0)[0]
    m = random_pattern(img.shape, 0.1, seed=1)
    calls = _count_scikit_image_solves(monkeypatch)
    choice = sparse(img, m, return_choice=True)[1]
    assert choice["folds"] == 9 and "biharmonic" in choice["held_out_mse"]
    assert calls == ([] if choice["prior"] != "biharmonic" else [(48, 48)])


@pytest.mark.parametrize("shape", [(24, 24), (48, 40)])
def test_a_fold_system_sliced_from_the_image_operator_is_the_stencil_built_one(shape):
    # the crossfit hold-out's folds after the pooled ones slice their systems from one operator: the same matrix,
    # the right-hand side summed in another order, so the same values to the last digits
    img = particle(n=max(shape), seed=0)[0][: shape[0], : shape[1]]
    m = random_pattern(shape, 0.1, seed=2)
    a, _, where = biharmonic_system(img, ~m)
    operator = biharmonic_operator(shape)
    assert (abs(operator[where][:, where] - a) > 0).nnz == 0
    built, sliced = symmetric_biharmonic(img, m), symmetric_biharmonic(img, m, operator)
    assert np.abs(sliced - built).max() <= 1e-9 * np.ptp(img) and np.array_equal(sliced[m], img[m])
