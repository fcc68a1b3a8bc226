"""Simulated sparse acquisition: values kept where measured, dose and Poisson noise, the mask through save/load."""

import re

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import DataError
from emscale.sampling import random_pattern, sample_array, sample_scan, scan_mask


def _image(shape=(48, 64), seed=0):
    data = np.random.default_rng(seed).random(shape) * 100
    axes = [{"name": "y", "navigate": False, "scale": 0.1, "units": "nm"}, {"name": "x", "navigate": False}]
    return em.Signal(data, axes=axes, signal_type="image", metadata={"Acquisition": {"dwell": 2e-6}})


def test_sample_array_keeps_measured_values_and_zeroes_the_rest():
    data = np.arange(5 * 6 * 3, dtype=np.float32).reshape(5, 6, 3) + 1
    mask = random_pattern((5, 6), 0.3, seed=1)
    out = sample_array(data, mask)
    assert out.dtype == data.dtype
    assert np.array_equal(out[mask], data[mask]) and not out[~mask].any()


def test_dose_scaling_draws_poisson_counts_of_the_scaled_mean():
    data = np.full((200, 200), 40.0)
    mask = np.ones((200, 200), bool)
    out = sample_array(data, mask, dose=0.25, seed=3)
    assert out.dtype == np.int64
    assert abs(out.mean() - 10.0) < 0.05 and abs(out.var() - 10.0) < 0.3  # Poisson: variance = mean = 10
    assert np.array_equal(out, sample_array(data, mask, dose=0.25, seed=3))


def test_errors_name_the_problem():
    data = np.ones((6, 6))
    data[2, 2] = np.nan
    mask = np.zeros((6, 6), bool)
    mask[2, 2] = True
    with pytest.raises(DataError, match="NaN"):
        sample_array(data, mask)
    mask[2, 2] = False
    mask[0, 0] = True
    sample_array(data, mask)  # NaN at an unmeasured position is fine: it is never read
    with pytest.raises(DataError, match="shape"):
        sample_array(data, np.ones((6, 5), bool))
    with pytest.raises(DataError, match="empty"):
        sample_array(data, np.zeros((6, 6), bool))
    with pytest.raises(DataError, match="non-negative"):
        sample_array(-np.ones((6, 6)), np.ones((6, 6), bool), dose=1.0)
    with pytest.raises(DataError, match="2-D scan grid"):
        sample_scan(em.Signal(np.ones(10)))
    with pytest.raises(DataError, match=r"signal_axes=\[1, 0\]\) keeps its rows and columns"):  # how to fix it
        sample_scan(em.Signal(np.ones((6, 6))))


def test_image_signal_keeps_mask_through_save_and_load(tmp_path):
    s = _image()
    sp = sample_scan(s, "jittered_grid", 0.2, seed=5)
    mask = scan_mask(sp)
    assert mask.shape == (48, 64) and abs(mask.mean() - 0.2) < 0.02
    assert np.array_equal(sp.data[mask], s.data[mask]) and not sp.data[~mask].any()
    assert sp.metadata["Acquisition"] == {"dwell": 2e-6} and sp.axes == s.axes
    assert sp.metadata["Sampling"]["pattern"] == "jittered_grid"
    sp.save(tmp_path / "sparse.zarr")
    back = em.load(tmp_path / "sparse.zarr")
    assert np.array_equal(scan_mask(back), mask) and np.array_equal(back.data, sp.data)


def test_spectrum_image_masks_whole_spectra():
    s, _ = em.samples.eds_si(shape=(20, 24), n_channels=64)
    given = random_pattern((20, 24), 0.15, seed=2)
    sp = sample_scan(s, mask=given, dose=2.0, seed=1)
    assert np.array_equal(scan_mask(sp), given)
    assert not sp.data[~given].any() and sp.data[given].sum() > 0
    # Poisson counts of twice the recorded counts: the total roughly doubles
    ratio = sp.data[given].sum() / s.data[given].sum()
    assert 1.9 < ratio < 2.1
    assert sp.metadata["Sampling"]["pattern"] == "given" and sp.metadata["Sampling"]["dose"] == 2.0


@pytest.mark.parametrize("dose", [float("inf"), float("nan"), "2", True, 0, 1e30])
def test_a_dose_that_draws_no_counts_is_refused_by_name(dose):
    with pytest.raises(ValueError, match="dose"):  # inf and 1e30 reached numpy's "lam value too large"
        sample_array(np.ones((4, 4)), np.ones((4, 4), bool), dose=dose)


def test_a_sparse_scan_is_not_sampled_again_and_the_measured_fraction_is_recorded():
    # sampled twice, the second mask's positions that the first never measured were kept as measured zeros
    img = em.Signal(np.ones((64, 64)), axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    once = img.sample_scan("line_hop", 0.05, seed=0)
    info = once.metadata["Sampling"]
    assert info["fraction"] == 0.05 and info["measured_fraction"] == scan_mask(once).mean() != 0.05
    assert info["measured_positions"] == int(scan_mask(once).sum())
    with pytest.raises(DataError, match="already a sparse scan"):
        once.sample_scan("random", 0.5, seed=1)
    from emscale.core.signal import key_metadata  # what `emscale info` shows

    assert key_metadata(once.metadata)["sparse scan"] == f"line_hop, {info['measured_fraction']:.1%} measured"


def test_a_reconstruction_of_a_sparse_scan_may_be_sampled_again():
    # it kept its scan's mask for the record, and was refused as "already a sparse scan ... its unmeasured zeros
    # would be sampled" although it holds no unmeasured zero
    img = em.Signal(np.add.outer(np.arange(32.0), np.arange(32.0)) + 1,
                    axes=[{"name": "y", "navigate": False}, {"name": "x", "navigate": False}])
    rec = img.sample_scan("random", 0.3, seed=0).inpaint("linear")
    again = rec.sample_scan("random", 0.2, seed=1)
    m = scan_mask(again)
    assert m.mean() == pytest.approx(0.2, abs=0.01) and again.metadata["Sampling"]["seed"] == 1
    assert "reconstruction" not in again.metadata["Sampling"]
    np.testing.assert_array_equal(np.asarray(again.data)[m], np.asarray(rec.data)[m])


def test_a_jittered_grid_recorded_before_its_cells_existed_replays_its_square_cells(tmp_path):
    """The jittered grid now cuts as many cells as positions asked for; a history that does not say which cells
    ran is from before, when they were square, and replays them."""
    from emscale.sampling import jittered_grid_pattern

    _image((24, 30)).save(tmp_path / "adf.zarr")
    s = em.load(tmp_path / "adf.zarr")
    new = s.sample_scan("jittered_grid", 0.3, seed=2)
    assert new.history[-1]["params"]["cells"] == "exact"
    assert int(scan_mask(new).sum()) == round(0.3 * 24 * 30)
    old = [dict(e) for e in new.history]
    old[-1]["params"] = {k: v for k, v in old[-1]["params"].items() if k != "cells"}
    assert np.array_equal(scan_mask(em.replay(old)), jittered_grid_pattern((24, 30), 0.3, seed=2, cells="square"))
    assert np.array_equal(scan_mask(em.replay(new.history)), scan_mask(new))
    # a random scan ignores cells: not recorded as if it ran
    assert s.sample_scan("random", 0.3).history[-1]["params"]["cells"] is None


def test_a_crop_of_a_sparse_scan_cuts_its_mask_with_the_data():
    # the crop kept the full scan's mask: inpaint said "mask has shape (48, 64) but the navigation (scan) shape is
    # (30, 40)" although no mask was given
    sp = sample_scan(_image(), "random", 0.2, seed=0)
    crop = sp.isig[10:50, 8:38]  # x 10:50, y 8:38 (user order)
    mask = scan_mask(crop)
    assert np.array_equal(mask, scan_mask(sp)[8:38, 10:50])
    assert np.array_equal(mask, np.asarray(crop.data) != 0)
    assert crop.metadata["Sampling"]["measured_positions"] == int(mask.sum())
    assert crop.inpaint("linear").shape == (30, 40)
    assert np.array_equal(scan_mask(sp.isig[10:50:2, 3]), scan_mask(sp)[3, 10:50:2])  # a line of the scan
    si, _ = em.samples.eds_si(shape=(20, 24), n_channels=64)
    spsi = sample_scan(si, "random", 0.3, seed=1)
    assert np.array_equal(scan_mask(spsi.inav[3:20, 5:15]), scan_mask(spsi)[5:15, 3:20])
    assert np.array_equal(scan_mask(spsi.isig[10:40]), scan_mask(spsi))  # an energy window keeps every position
    assert np.array_equal(scan_mask(spsi.sum(axis=-1)), scan_mask(spsi))  # the total-counts image too


def test_combining_the_positions_of_a_sparse_scan_is_refused():
    # rebin summed the unmeasured zeros with the measured values silently (a 2 x 2 rebin of a 20 % scan: 0 to 4
    # measured values a pixel, 60 % of the pixels nonzero) and kept the full-size mask
    sp = sample_scan(_image(), "random", 0.2, seed=0)
    for combine in (lambda s: s.rebin((2, 2)), lambda s: s.mean(), lambda s: s.max(axis="x")):
        with pytest.raises(DataError, match=r"is a sparse scan \(614 of 3072 positions measured, axes y \(48\), x "
                                            r"\(64\)\); combining its positions would mix"):
            combine(sp)
    assert float(np.asarray(sp.sum().data)) == float(np.asarray(sp.data).sum())  # the sum of what was measured
    si, _ = em.samples.eds_si(shape=(20, 24), n_channels=64)
    spsi = sample_scan(si, "random", 0.3, seed=1)
    assert np.array_equal(scan_mask(spsi.rebin((1, 1, 4))), scan_mask(spsi))  # the energy axis only: allowed
    with pytest.raises(DataError, match="rebin: .* is a sparse scan"):
        spsi.rebin((2, 2, 1))
    rec = sp.inpaint("nearest")  # a reconstruction holds a value everywhere: its mask is kept for the record only
    binned = rec.rebin((2, 2))
    assert scan_mask(binned) is None and binned.metadata["Sampling"]["reconstruction"] == "nearest"
    with pytest.warns(UserWarning, match="is a sparse scan, and its mask of measured positions .* does not describe"):
        moved = spsi.T
    assert scan_mask(moved) is None


def test_a_line_hop_recorded_before_its_runs_existed_replays_its_fixed_runs(tmp_path):
    """A line hop above mean_run / (mean_run + 1) now lengthens its runs to measure the fraction asked; a history
    that does not say which runs ran is from before, when 90 % of a 4-pixel line hop measured 80 %, and replays it."""
    from emscale.sampling import line_hop_pattern

    _image((40, 50)).save(tmp_path / "adf.zarr")
    s = em.load(tmp_path / "adf.zarr")
    new = s.sample_scan("line_hop", 0.9, seed=2)
    assert new.history[-1]["params"]["runs"] == "lengthen"
    assert scan_mask(new).mean() == pytest.approx(0.9, abs=0.02)
    old = [dict(e) for e in new.history]
    old[-1]["params"] = {k: v for k, v in old[-1]["params"].items() if k != "runs"}
    replayed = scan_mask(em.replay(old))
    assert np.array_equal(replayed, line_hop_pattern((40, 50), 0.9, seed=2, runs="fixed"))
    assert replayed.mean() == pytest.approx(0.8, abs=0.02)
    assert np.array_equal(scan_mask(em.replay(new.history)), scan_mask(new))
    # a random scan ignores runs: not recorded as if it ran
    assert s.sample_scan("random", 0.3).history[-1]["params"]["runs"] is None
    with pytest.raises(ValueError, match="unknown runs 'long'"):
        s.sample_scan("line_hop", 0.9, runs="long")


def test_a_lazy_spectrum_image_is_sampled_chunk_by_chunk():
    # a lazy cube was read whole into memory to keep a tenth of it; it stays lazy, with the same numbers
    data = np.random.default_rng(2).poisson(3.0, (40, 30, 64)).astype(np.uint16)
    axes = [{"name": "y"}, {"name": "x"}, {"name": "E", "navigate": False}]
    s = em.Signal(data, axes=axes, signal_type="EDS")
    lazy = s.as_lazy(chunks=(8, 30, 64))
    sp, ref = sample_scan(lazy, "random", 0.15, seed=4), sample_scan(s, "random", 0.15, seed=4)
    assert sp.is_lazy and sp.dtype == np.uint16
    assert np.array_equal(np.asarray(sp.data.compute()), ref.data) and np.array_equal(scan_mask(sp), scan_mask(ref))
    bad = data.astype(np.float32)
    bad[np.nonzero(scan_mask(ref))[0][0], np.nonzero(scan_mask(ref))[1][0], 5] = np.nan
    out = sample_scan(em.Signal(bad, axes=axes).as_lazy(chunks=(8, 30, 64)), "random", 0.15, seed=4)
    with pytest.raises(DataError, match="NaN"):
        out.compute()


@pytest.mark.parametrize("chunks, block_bytes", [((8, 30, 64), 64 * 2**20), ((7, 11, 20), 3 * 30 * 64 * 8),
                                                 ((40, 30, 64), 30 * 64 * 8)])
def test_a_lazy_spectrum_image_is_drawn_at_a_dose_chunk_by_chunk(monkeypatch, chunks, block_bytes):
    """With a dose the lazy cube was read whole into memory for the Poisson draw (a 10 GB map at 10 % held 10 GB
    and an int64 result of 40). It stays lazy, drawn a block of rows at a time with the numbers the in-memory draw
    gives, whatever the chunks and however many blocks; bad values are refused at the call, as in memory."""
    from emscale.sampling import acquire

    monkeypatch.setattr(acquire, "DRAW_BLOCK_BYTES", block_bytes)
    data = np.random.default_rng(2).poisson(30.0, (40, 30, 64)).astype(np.uint16)
    axes = [{"name": "y"}, {"name": "x"}, {"name": "E", "navigate": False}]
    s = em.Signal(data, axes=axes, signal_type="EDS")
    lazy = sample_scan(s.as_lazy(chunks=chunks), "random", 0.15, seed=4, dose=0.5)
    ref = sample_scan(s, "random", 0.15, seed=4, dose=0.5)
    assert lazy.is_lazy and lazy.dtype == ref.dtype == np.int64
    assert np.array_equal(np.asarray(lazy.data.compute()), ref.data)
    assert lazy.history[-1]["params"] == ref.history[-1]["params"]
    image = em.Signal(data[..., 0].astype(np.float32), signal_type="image")
    assert np.array_equal(np.asarray(sample_scan(image.as_lazy(chunks=(9, 30)), seed=1, dose=2.0).data.compute()),
                          sample_scan(image, seed=1, dose=2.0).data)
    bad = data.astype(np.float32)
    bad[np.nonzero(scan_mask(ref))[0][-1], np.nonzero(scan_mask(ref))[1][-1], 5] = -1.0
    with pytest.raises(DataError, match="non-negative"):
        sample_scan(em.Signal(bad, axes=axes).as_lazy(chunks=chunks), "random", 0.15, seed=4, dose=0.5)
    # True was taken as 1.0 lazily and refused in memory; a text or a list met float() first, with its raw words
    for dose in (True, 0, -1.0, "abc", [1.0]):
        for signal in (s, s.as_lazy(chunks=chunks)):
            match = "dose must be a positive, finite factor .* got " + re.escape(repr(dose))
            with pytest.raises(ValueError, match=match):
                sample_scan(signal, "random", 0.15, seed=4, dose=dose)


def test_a_lazy_draw_holds_a_block_not_the_scan(monkeypatch):
    import tracemalloc

    import dask.array as da

    from emscale.sampling import acquire

    monkeypatch.setattr(acquire, "DRAW_BLOCK_BYTES", 2**20)
    cube = da.random.default_rng(0).poisson(5.0, (128, 128, 512), chunks=(16, 128, 512)).astype(np.uint16)  # 16 MiB
    s = em.Signal(cube, axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "navigate": False}])
    tracemalloc.start()
    try:
        out = sample_scan(s, "random", 0.2, seed=0, dose=1.0)
        total = int(out.data.sum().compute(scheduler="synchronous"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total > 0 and peak < 24 * 2**20, peak / 2**20  # the int64 result alone: 64 MiB; in memory it held 80+


def test_a_position_list_that_repeats_a_position_is_warned_of_once(tmp_path):
    # the operation warned, then its record read the list again and warned the same words a second time
    import warnings

    _image((6, 8)).save(tmp_path / "x.zarr")
    (tmp_path / "dup.csv").write_text("row,column\n0,1\n0,1\n3,3\n")
    s = em.load(tmp_path / "x.zarr")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sparse = s.sample_scan(mask="dup.csv")
    said = [str(w.message) for w in caught if "repeat an earlier one" in str(w.message)]
    assert len(said) == 1 and said[0].endswith("1 of its 3 positions repeat an earlier one; each position is "
                                               "measured once (2 positions)")
    assert int(scan_mask(sparse).sum()) == 2
    assert sparse.history[-1]["params"]["mask"] is not None  # recorded as the mask it held, as before
