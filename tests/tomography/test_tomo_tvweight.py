"""tv_weight="auto": chosen from the data by hold-out, no worse than SIRT at low dose, recorded, replayed."""

import numpy as np
import pytest

import emscale as em
from emscale import ThreadExecutor
from emscale.tomography import as_tilt_series, reconstruct_slices, reconstruct_tomogram, tilt_series
from emscale.tomography.geometry import ParallelGeometry
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
from emscale.tomography.projector import Projector
from emscale.tomography.reconstruction.tv import tv_chambolle_pock, typical_value
from emscale.tomography.tvweight import CANDIDATES

ANGLES = np.arange(-70, 71, 5.0)  # 29 tilts
ROWS = slice(12, 20)  # 8 slices across the tilt axis: the hold-out reconstructs 4 of them


def psnr(a, truth):
    return 10 * np.log10(truth.max() ** 2 / np.mean((np.asarray(a, float) - truth) ** 2))


def phantom(counts):
    """An ellipsoid phantom's series (clean, or Poisson counts with ``counts`` per pixel on average) and the truth
    in the series' units."""
    vol = ellipsoid_phantom(32, seed=1)[:, ROWS]
    proj = project_volume(ellipsoid_phantom(32, seed=1), ANGLES)[:, ROWS]
    if counts is None:
        return tilt_series(proj, ANGLES), vol
    k = counts / proj.mean()
    return tilt_series(np.random.default_rng(7).poisson(proj * k).astype(np.float32), ANGLES), vol * k


@pytest.fixture(scope="module")
def low_dose():
    s, truth = phantom(100)
    return s, truth, reconstruct_tomogram(s, "tv")


@pytest.fixture(scope="module")
def clean():
    s, truth = phantom(None)
    return s, truth, reconstruct_tomogram(s, "tv")


def test_auto_tv_is_no_worse_than_sirt_at_100_counts(low_dose):
    s, truth, auto = low_dose
    p_sirt = psnr(reconstruct_tomogram(s, "sirt").data, truth)
    p_old = psnr(reconstruct_tomogram(s, "tv", tv_weight=0.01).data, truth)
    p_auto = psnr(auto.data, truth)
    assert p_old < p_sirt - 3.0  # the former fixed default: 24.6 dB against SIRT's 29.4
    assert p_auto > p_sirt + 0.5  # 30.2 dB
    assert auto.metadata["Tomography"]["tv_weight"]["value"] == 1.0


def test_auto_weight_stays_small_on_clean_data(clean):
    s, truth, auto = clean
    rec = auto.metadata["Tomography"]["tv_weight"]
    assert rec["path"] == "hold-out" and rec["value"] <= 0.03
    p_old = psnr(reconstruct_tomogram(s, "tv", tv_weight=0.01).data, truth)
    assert psnr(auto.data, truth) >= p_old - 0.1  # clean data: no worse than the former default
    assert psnr(auto.data, truth) > psnr(reconstruct_tomogram(s, "sirt").data, truth) + 10.0


def test_the_choice_is_recorded_with_its_scores(low_dose):
    _, _, auto = low_dose
    rec = auto.metadata["Tomography"]["tv_weight"]
    assert rec["path"] == "hold-out" and "held-out" in rec["why"]
    assert rec["candidates"] == list(CANDIDATES) and len(rec["held_out_misfit"]) == len(CANDIDATES)
    assert rec["value"] == rec["candidates"][int(np.argmin(rec["held_out_misfit"]))]
    assert rec["slices"] == [1, 3, 5, 7]
    assert auto.history[-1]["params"]["tv_weight"] == "auto"


def test_auto_is_deterministic_and_the_chosen_weight_gives_the_same_bits(low_dose):
    s, _, auto = low_dose
    w = auto.metadata["Tomography"]["tv_weight"]["value"]
    np.testing.assert_array_equal(reconstruct_tomogram(s, "tv", tv_weight=w).data, auto.data)
    # reconstruct_slices chooses "auto" itself, to the same weight
    sino = np.ascontiguousarray(np.asarray(s.data).transpose(1, 0, 2))
    again = reconstruct_slices(sino, ANGLES, "tv")
    np.testing.assert_array_equal(again.transpose(1, 0, 2), auto.data)


def test_an_explicit_weight_is_used_as_given():
    s, _ = phantom(100)
    vol = reconstruct_tomogram(s, "tv", n_iter=20, tv_weight=0.01)
    assert vol.metadata["Tomography"]["tv_weight"] == {"value": 0.01, "path": "given", "why": "tv_weight given"}
    # the solver itself, with the series' data scale: no hold-out on this path
    sino = np.ascontiguousarray(np.asarray(s.data).transpose(1, 0, 2))
    A = Projector(ParallelGeometry(ANGLES, n_det=32))
    scale = typical_value(A, np.full(A.geometry.sino_shape, np.mean(sino, dtype=np.float64), np.float32))
    direct = tv_chambolle_pock(A, sino, n_iter=20, tv_weight=0.01, value_scale=scale)
    np.testing.assert_array_equal(vol.data, direct.transpose(1, 0, 2))


def test_too_few_tilts_fall_back_to_the_former_default_and_say_so():
    angles = np.arange(-50, 51, 20.0)  # 6 tilts
    s = tilt_series(project_volume(ellipsoid_phantom(16, seed=2), angles), angles)
    with pytest.warns(UserWarning, match=r"tv_weight='auto': 6 tilts: too few .* \(0.01\); pass tv_weight="):
        rec = reconstruct_tomogram(s, "tv", n_iter=5).metadata["Tomography"]["tv_weight"]  # was said nowhere else
    assert rec["path"] == "fallback" and rec["value"] == 0.01 and "6 tilts" in rec["why"]


def test_other_methods_record_no_tv_weight():
    s, _ = phantom(None)
    assert "tv_weight" not in reconstruct_tomogram(s, "fbp").metadata["Tomography"]


def test_auto_replays_bit_for_bit_from_a_file(tmp_path):
    s, _ = phantom(1000)
    path = tmp_path / "series.zarr"
    em.Signal(np.asarray(s.data), axes=[{"name": "index", "navigate": True}, {"name": "y", "navigate": False},
                                        {"name": "x", "navigate": False}]).save(path)
    ts = as_tilt_series(em.load(path), angles=ANGLES.tolist(), tilt_axis="y")
    vol = reconstruct_tomogram(ts, "tv", n_iter=30)
    assert vol.history[-1]["params"]["tv_weight"] == "auto"
    again = em.replay(vol.history)
    np.testing.assert_array_equal(again.data, vol.data)
    assert again.metadata["Tomography"]["tv_weight"] == vol.metadata["Tomography"]["tv_weight"]


def test_recipes_take_auto_and_refuse_other_words():
    from emscale.workflows.recipes import parse
    from emscale.workflows.recipes.schema import RecipeError

    head = '[input]\npath = "series.zarr"\n[[step]]\nop = "reconstruct_tomogram"\nmethod = "tv"\n'
    assert parse(head + 'tv_weight = "auto"\n').steps[0].params["tv_weight"] == "auto"
    assert parse(head + "tv_weight = 0.3\n").steps[0].params["tv_weight"] == 0.3
    for bad in ('"best"', "-1.0"):
        with pytest.raises(RecipeError, match="tv_weight must be a finite number >= 0 .* or 'auto'"):
            parse(head + f"tv_weight = {bad}\n")


@pytest.mark.parametrize("scratch", [False, True])
def test_the_series_is_read_once_before_the_slices(tmp_path, monkeypatch, scratch):
    from emscale.tomography import slicesolver

    passes = []
    run_pass = slicesolver.run_pass
    monkeypatch.setattr(slicesolver, "run_pass", lambda data, p, *a, **k: passes.append(p.name) or run_pass(data, p, *a,
                                                                                                          **k))
    s, _ = phantom(100)
    vol = reconstruct_tomogram(s, "tv", n_iter=3, scratch=tmp_path if scratch else None)
    # the weight's choice and the solver share one pass (they made one each, the same sums twice)
    assert passes == ["series-stats"]
    assert vol.metadata["Tomography"]["tv_weight"]["path"] == "hold-out"


def test_a_series_made_for_other_data_is_refused():
    from emscale.core.errors import DataError
    from emscale.tomography.slicesolver import series_of, slice_solver

    s, _ = phantom(None)
    sino = np.ascontiguousarray(np.asarray(s.data).transpose(1, 0, 2))
    series = series_of(sino, ANGLES)
    with pytest.raises(DataError, match="made for sinograms"):
        slice_solver(sino[:4], ANGLES, "tv", series=series)
    with pytest.raises(DataError, match="other angles, thickness"):
        slice_solver(sino, ANGLES, "tv", thickness=16, series=series)
    one, _ = slice_solver(sino, ANGLES, "tv", n_iter=3, tv_weight=0.1, series=series)
    np.testing.assert_array_equal(one(sino, slice(0, len(sino))),
                                  slice_solver(sino, ANGLES, "tv", n_iter=3, tv_weight=0.1)[0](sino, slice(0, 8)))


def test_a_short_series_is_not_scored_on_halves(monkeypatch):
    from emscale.tomography import tvweight

    # 8 tilts at 100 counts: a reconstruction from 4 of them needs another weight than one from all 8, and the
    # halves picked 0.1, 3.0 dB below the best candidate (below SIRT too)
    angles = np.linspace(-70, 70, 8)
    vol = ellipsoid_phantom(64, seed=1)[:, 28:36]
    proj = project_volume(vol, angles)
    k = 100 / proj.mean()
    s = tilt_series(np.random.default_rng(101).poisson(proj * k).astype(np.float32), angles)
    truth = vol.transpose(1, 0, 2) * k
    auto = reconstruct_tomogram(s, "tv")
    rec = auto.metadata["Tomography"]["tv_weight"]
    assert "every fourth tilt" in rec["why"]
    sino = np.ascontiguousarray(np.asarray(s.data).transpose(1, 0, 2))
    A = Projector(ParallelGeometry(angles, n_det=64))
    scale = typical_value(A, np.full(A.geometry.sino_shape, np.mean(sino, dtype=np.float64), np.float32))
    every = tv_chambolle_pock(A, np.tile(sino, (len(CANDIDATES), 1, 1)), tv_weight=np.repeat(CANDIDATES, len(sino)),
                              value_scale=scale).reshape(len(CANDIDATES), *truth.shape)
    p = {w: psnr(x, truth) for w, x in zip(CANDIDATES, every, strict=True)}
    np.testing.assert_array_equal(every[CANDIDATES.index(rec["value"])], auto.data.transpose(1, 0, 2))
    monkeypatch.setattr(tvweight, "SHORT", 0)
    halves = reconstruct_tomogram(s, "tv", n_iter=200).metadata["Tomography"]["tv_weight"]["value"]
    p_sirt = psnr(reconstruct_tomogram(s, "sirt").data.transpose(1, 0, 2), truth)
    assert p[halves] < max(p.values()) - 2.0
    assert p[rec["value"]] > max(p.values()) - 1.0 and p[rec["value"]] > p_sirt + 1.0


def test_the_hold_out_partitions_its_slices_as_a_reconstruction_does(low_dose, monkeypatch):
    """The candidates' hold-out slices are partitioned as a reconstruction's (:func:`.projector.partition_slices`:
    shared out over the workers), not one candidate a partition (the solver's per-slice overhead was most of the
    time: 32 x 32 slices, 31 tilts, 1.0 -> 0.6 s for the whole TV reconstruction). Each slice is solved on its own,
    so the misfits are the same to the bit."""
    import emscale.tomography.projector as projector
    import emscale.tomography.tvweight as tvw

    s, _, vol = low_dose
    calls = []
    real_run_pass = tvw.run_pass
    monkeypatch.setattr(tvw, "run_pass", lambda src, *a, **k: calls.append(k["rows"]) or real_run_pass(src, *a, **k))
    batched = reconstruct_tomogram(s, "tv", executor=ThreadExecutor(2)).metadata["Tomography"]["tv_weight"]
    monkeypatch.setattr(projector, "PARTITION_VOXELS", 1)  # one slice a partition
    apart = reconstruct_tomogram(s, "tv", executor=ThreadExecutor(2)).metadata["Tomography"]["tv_weight"]
    assert calls == [12, 12, 1, 1]  # two folds each: the six candidates' 4 slices over two workers, then apart
    assert apart["held_out_misfit"] == batched["held_out_misfit"] and apart["value"] == batched["value"]
    assert batched == vol.metadata["Tomography"]["tv_weight"]


def test_tv_gradient_and_divergence_are_adjoint():
    """<grad x, q> = -<x, div q> on slices stacked last (nz, nw, ns), the solver's layout."""
    from emscale.tomography.reconstruction.tv import div, grad

    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5, 3))
    q = rng.standard_normal((2, 7, 5, 3))
    assert np.sum(grad(x) * q) == pytest.approx(-np.sum(x * div(q)), rel=1e-12)
    assert np.all(grad(x)[0, -1] == 0) and np.all(grad(x)[1, :, -1] == 0)  # zero at the far edge (Neumann)
    np.testing.assert_allclose(grad(x)[0, 2, 1], x[3, 1] - x[2, 1])  # along z, each slice on its own


def test_every_pass_of_a_tv_reconstruction_reports_progress():
    """Only the slices' pass reported: the series' sums and the hold-out folds (seconds to minutes at full size) ran
    without a word, so a TV reconstruction with progress=True said nothing until its end."""
    from emscale import InlineExecutor

    s = tilt_series(project_volume(ellipsoid_phantom(16, seed=2), ANGLES), ANGLES)
    calls = []
    vol = reconstruct_tomogram(s, "tv", n_iter=3, slices_per_partition=4, executor=InlineExecutor(),
                               progress=lambda done, total: calls.append((done, total)))
    assert vol.metadata["Tomography"]["tv_weight"]["path"] == "hold-out"
    totals = [t for d, t in calls if d == t]  # one per pass: the series' sums, the two hold-out folds, the slices
    series_bytes = s.data.size * s.data.itemsize
    fold = len(CANDIDATES) * 4 * 16 * 4  # a fold's bytes per tilt it keeps: candidates x slices x detector x float32
    assert totals == [series_bytes, 14 * fold, 15 * fold, series_bytes]  # 29 tilts: 15 held out, then 14
    assert len(calls) == 1 + 1 + 1 + 4  # the slices' pass in its four partitions
