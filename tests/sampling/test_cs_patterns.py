"""Sparse scan patterns: exact counts, fast-scan runs, stratification, scan-order export, errors."""

import numpy as np
import pytest

from emscale.core.errors import DataError, OutputExistsError
from emscale.sampling import (
    check_mask,
    jittered_grid_pattern,
    line_hop_pattern,
    load_positions,
    make_pattern,
    positions,
    random_pattern,
    save_positions,
)


@pytest.mark.parametrize("shape,fraction", [((64, 64), 0.1), ((37, 91), 0.05), ((200, 10), 0.3), ((5, 5), 1.0)])
def test_random_pattern_measures_exactly_the_rounded_fraction(shape, fraction):
    mask = random_pattern(shape, fraction, seed=3)
    assert mask.shape == shape and mask.dtype == bool
    assert mask.sum() == max(1, round(fraction * shape[0] * shape[1]))


@pytest.mark.parametrize("name", ["random", "line_hop", "jittered_grid"])
def test_patterns_are_seeded(name):
    a = make_pattern(name, (96, 128), 0.15, seed=7)
    assert np.array_equal(a, make_pattern(name, (96, 128), 0.15, seed=7))
    assert not np.array_equal(a, make_pattern(name, (96, 128), 0.15, seed=8))


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.2, 0.4])
def test_line_hop_runs_along_the_fast_axis_with_the_right_mean_length(fraction):
    mask = line_hop_pattern((256, 256), fraction, seed=1, mean_run=5.0)
    assert abs(mask.mean() - fraction) < 0.15 * fraction
    # runs of consecutive measured pixels within rows: mean length near mean_run (geometric, cut at row ends)
    d = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts, ends = np.nonzero(d == 1), np.nonzero(d == -1)
    lengths = ends[1] - starts[1]
    assert 4.0 < lengths.mean() < 5.5
    # the slow axis is not structured: a column has runs of length ~ 1 / (1 - fraction)
    dv = np.diff(np.pad(mask.astype(np.int8), ((1, 1), (0, 0))), axis=0)
    assert (dv == 1).sum() > 0.6 * mask.sum() * (1 - fraction)


@pytest.mark.parametrize("shape,fraction", [((128, 128), 0.1), ((90, 61), 0.25), ((64, 64), 0.05)])
def test_jittered_grid_has_one_position_per_cell_and_no_large_holes(shape, fraction):
    mask = jittered_grid_pattern(shape, fraction, seed=2)
    assert abs(mask.mean() - fraction) < 0.1 * fraction
    # stratified: every c x c cell holds exactly one, so no 2c x 2c window is empty (random masks have holes)
    c = int(np.ceil(1 / np.sqrt(fraction))) + 1
    win = np.lib.stride_tricks.sliding_window_view(mask, (2 * c, 2 * c)).any(axis=(2, 3))
    assert win.all()


def test_positions_raster_and_serpentine_order():
    mask = np.zeros((3, 5), bool)
    mask[0, [1, 3]] = True
    mask[1, [0, 4]] = True
    mask[2, 2] = True
    assert positions(mask).tolist() == [[0, 1], [0, 3], [1, 0], [1, 4], [2, 2]]
    assert positions(mask, order="serpentine").tolist() == [[0, 1], [0, 3], [1, 4], [1, 0], [2, 2]]
    with pytest.raises(ValueError, match="order"):
        positions(mask, order="spiral")


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_position_list_round_trips(tmp_path, suffix):
    mask = random_pattern((40, 50), 0.2, seed=4)
    path = save_positions(mask, tmp_path / f"scan{suffix}", order="serpentine")
    assert np.array_equal(load_positions(path, (40, 50)), mask)
    if suffix == ".csv":
        lines = path.read_text().splitlines()
        assert lines[0] == "row,column" and len(lines) == mask.sum() + 1
        r, c = map(int, lines[1].split(","))
        assert mask[r, c]
    with pytest.raises(OutputExistsError):
        save_positions(mask, path)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
@pytest.mark.parametrize("name", ["random", "line_hop", "jittered_grid"])
def test_fraction_outside_0_1_is_rejected(name, fraction):
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        make_pattern(name, (10, 10), fraction)


@pytest.mark.parametrize("seed", [None, -1, 1.5, True])
def test_a_seed_that_would_not_give_the_same_mask_again_is_refused(seed):
    """None drew a new mask on every call; every random choice of the sampling and reconstruction takes a seed."""
    from emscale.inpainting import inpaint_image
    from emscale.sampling import sample_array

    for pattern in (random_pattern, line_hop_pattern, jittered_grid_pattern):
        with pytest.raises(DataError, match="seed must be a whole number >= 0"):
            pattern((8, 8), 0.5, seed=seed)
    mask = random_pattern((8, 8), 0.5, seed=0)
    with pytest.raises(DataError, match="seed must be a whole number >= 0"):
        sample_array(np.ones((8, 8)), mask, dose=2.0, seed=seed)
    with pytest.raises(DataError, match="seed must be a whole number >= 0"):
        inpaint_image(np.ones((8, 8)), mask, "linear", seed=seed)
    from emscale.inpainting.dictionary import dictionary
    from emscale.inpainting.sparse import sparse
    from emscale.sampling.microscope import VirtualMicroscope

    for method in (sparse, dictionary):  # the module functions, called without inpaint_image
        with pytest.raises(DataError, match="seed must be a whole number >= 0"):
            method(np.ones((8, 8)), mask, seed=seed)
    with pytest.raises(DataError, match="seed must be a whole number >= 0"):
        VirtualMicroscope(np.ones((8, 8)), noise_dose=10.0, seed=seed)
    assert (random_pattern((8, 8), 0.5, seed=np.int64(3)) == random_pattern((8, 8), 0.5, seed=3)).all()


def test_given_mask_errors():
    with pytest.raises(DataError, match="empty"):
        check_mask(np.zeros((4, 4), bool))
    with pytest.raises(DataError, match=r"shape \(4, 4\).*\(5, 4\)"):
        check_mask(np.ones((4, 4), bool), shape=(5, 4))
    with pytest.raises(DataError, match="boolean"):
        check_mask(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="unknown pattern"):
        make_pattern("spiral", (4, 4), 0.5)


@pytest.mark.parametrize("name, text", [("x.csv", "row,column\n1,2\nx,3\n"), ("w.csv", "row,column,a,b\n1,2,3,4\n"),
                                        ("f.csv", "row,column\n1.5,2\n"), ("p.npy", b"not an array")])
def test_a_damaged_position_list_is_an_error_naming_the_file(tmp_path, name, text):
    # a recipe reads position lists from beside its input: a damaged one raised numpy's message without the file,
    # and four columns were read as two positions
    from emscale.sampling import load_positions

    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError, match=f"{name}: not a position list"):
        load_positions(path, (8, 8))


def test_a_position_list_without_a_header_is_read_whole_as_row_column(tmp_path):
    # the first line was skipped as a header whatever it held: "0,1 / 2,3 / 4,5" gave two positions
    path = tmp_path / "scan.csv"
    path.write_text("0,1\n2,3\n4,5\n")
    assert np.argwhere(load_positions(path, (10, 10))).tolist() == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("header, lines", [("x,y", ["1,0", "3,2", "5,4"]), ("Col, Row", ["1, 0", "3, 2", "5, 4"]),
                                           ("row\tcolumn", ["0\t1", "2\t3", "4\t5"])])
def test_a_position_list_header_names_its_columns_in_either_order(tmp_path, header, lines):
    # an x,y file was read as row,column: every position transposed
    path = tmp_path / "scan.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    assert np.argwhere(load_positions(path, (10, 10))).tolist() == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("header, problem", [("a,b", "does not name a row and a column"),
                                             ("x,x", "does not name a row and a column"),
                                             ("row,column,dwell", "names 3 columns")])
def test_a_position_list_header_it_does_not_understand_is_refused(tmp_path, header, problem):
    path = tmp_path / "scan.csv"
    path.write_text(f"{header}\n1,2\n")
    with pytest.raises(DataError, match=f"scan.csv: not a position list.*{problem}"):
        load_positions(path, (8, 8))


def test_repeated_positions_are_measured_once_with_a_warning_that_counts_them(tmp_path):
    path = tmp_path / "scan.csv"
    path.write_text("row,column\n1,1\n2,2\n1,1\n1,1\n")
    with pytest.warns(UserWarning, match="2 of its 4 positions repeat an earlier one"):
        mask = load_positions(path, (4, 4))
    assert mask.sum() == 2


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_a_saved_position_list_reads_back_in_its_scan_order(tmp_path, suffix):
    from emscale.sampling import read_positions

    mask = line_hop_pattern((30, 41), 0.3, seed=5)
    path = save_positions(mask, tmp_path / f"scan{suffix}", order="serpentine")
    assert np.array_equal(read_positions(path), positions(mask, order="serpentine"))


@pytest.mark.parametrize("shape, fraction", [((1, 50), 0.05), ((8, 8), 0.3), ((300, 5), 0.02), ((7, 300), 0.01),
                                             ((3, 1000), 0.9), ((128, 128), 0.1)])
def test_jittered_grid_measures_as_many_positions_as_a_random_scan_on_any_shape(shape, fraction):
    # square cells of 1 / sqrt(fraction) did not fit thin or small grids: 1 x 50 at 5 % measured 24 %, 8 x 8 at 30 %
    # 39 %, 300 x 5 at 2 % 2.9 %, 7 x 300 at 1 % 1.4 %
    mask = jittered_grid_pattern(shape, fraction, seed=4)
    assert mask.sum() == random_pattern(shape, fraction).sum()
    # still stratified: a cell is about 1 / fraction pixels, so no row band of 3 cells' height is empty
    if min(shape) > 1:
        rows = max(1, int(np.ceil(3 * np.sqrt(shape[0] / (fraction * shape[1])))))
        assert all(mask[y : y + rows].any() for y in range(0, shape[0] - rows + 1))


def test_the_square_cells_of_recorded_jittered_grids_are_kept():
    mask = jittered_grid_pattern((1, 50), 0.05, seed=0, cells="square")
    assert mask.sum() == 12  # what every jittered grid measured before cells existed
    with pytest.raises(ValueError, match="unknown cells 'round'"):
        jittered_grid_pattern((8, 8), 0.3, cells="round")


def test_a_mask_is_booleans_or_zeros_and_ones_and_the_refusal_says_so():
    # 0/1 integers were accepted but 0/1 floats refused, and a 0/255 mask was told "must be boolean, got dtype uint8"
    eye = np.eye(4, dtype=bool)
    for ok in (eye, eye.astype(np.uint8), eye.astype(np.float32), eye.astype(float)):
        assert np.array_equal(check_mask(ok), eye)
    for bad, said in [(eye * np.uint8(255), r"got uint8 values 0, 255; for a 0/255 image of a mask, pass mask > 0"),
                      (np.where(eye, np.nan, 1.0), "got float64 values 1 and NaN"),
                      (eye * 2 - 1, "got int64 values -1, 1"), (np.full((4, 4), "a"), "got dtype <U1")]:
        with pytest.raises(DataError, match=r"mask must be booleans or numbers 0 and 1 \(True or 1 = measured\), "
                                            + said):
            check_mask(bad)


@pytest.mark.parametrize("mean_run", [1, 2, 4])
def test_line_hop_measures_the_fraction_asked_at_every_fraction(mean_run):
    # a hop skipped at least one pixel, so the share measured stopped at mean_run / (mean_run + 1): 4 pixels at 90 %
    # measured 80.3 % (128 x 128), mean_run 1 50 % at 60, 90 and 95 %, mean_run 2 66.7 % at 70 and 90 %
    for fraction in np.round(np.arange(0.05, 0.96, 0.05), 2):
        got = np.mean([line_hop_pattern((128, 128), fraction, seed=s, mean_run=mean_run).mean() for s in range(3)])
        assert got == pytest.approx(fraction, abs=0.015), fraction


def test_line_hop_lengthens_its_runs_only_where_the_hops_would_be_under_a_pixel():
    # below fraction = mean_run / (mean_run + 1) the mask is the one before runs existed, bit for bit
    for fraction in (0.05, 0.3, 0.8):
        assert np.array_equal(line_hop_pattern((64, 70), fraction, seed=3),
                              line_hop_pattern((64, 70), fraction, seed=3, runs="fixed"))
    old = line_hop_pattern((128, 128), 0.9, seed=0, runs="fixed")
    assert old.mean() == pytest.approx(0.8029, abs=1e-4)  # what every line hop at 90 % measured before runs existed
    new = line_hop_pattern((128, 128), 0.9, seed=0)
    assert new.mean() == pytest.approx(0.8992, abs=1e-4)
    d = np.diff(np.pad(new.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    (rows, starts), (_, ends) = np.nonzero(d == 1), np.nonzero(d == -1)
    same_row = rows[1:] == rows[:-1]
    assert set(starts[1:][same_row] - ends[:-1][same_row]) == {1}  # every hop within a row one pixel
    lengths = ends - starts
    assert 7.5 < lengths.mean() < 9.5  # the runs longer: mean 9 = 0.9 / 0.1, cut at row ends
    with pytest.raises(ValueError, match="unknown runs 'long'"):
        line_hop_pattern((8, 8), 0.3, runs="long")


@pytest.mark.parametrize("shape", [(64.7, 64), "64", (True, 8), (64,), (0, 8), None])
def test_a_scan_shape_is_two_whole_numbers(shape):
    # (64.7, 64) gave a 64 x 64 scan, "64" a 6 x 4 one, (True, 8) a 1 x 8 one
    for make in (random_pattern, line_hop_pattern, jittered_grid_pattern):
        with pytest.raises(ValueError, match=r"shape must be \(rows, columns\), two whole numbers >= 1"):
            make(shape, 0.1)


def test_a_position_list_written_for_a_smaller_grid_is_warned(tmp_path):
    """A 64 x 64 list at 20 % on a 256 x 256 image measured 1.25 % of it, all in one corner, without a word."""
    import warnings

    path = save_positions(random_pattern((64, 64), 0.2, seed=0), tmp_path / "scan.csv")
    with pytest.warns(UserWarning, match=r"819 positions all lie in rows 0-63 and columns 0-63 of the 256 x 256 "
                                         r"scan grid \(6.2 % of it\): a list written for a 64 x 64 scan or smaller"):
        assert load_positions(path, (256, 256)).sum() == 819
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_positions(path, (64, 64))  # its own grid
    # a random list over 66 x 66 leaves its last 2 columns out of its 650 runs by a chance of (64 / 66)^650 = 2e-9
    with pytest.warns(UserWarning, match="of the 66 x 66 scan grid"):
        load_positions(path, (66, 66))
    few = tmp_path / "few.csv"
    few.write_text("row,column\n1,1\n2,2\n3,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_positions(few, (16, 16))  # 3 positions in a 4 x 3 corner: chance 1e-4, no evidence of a smaller list
