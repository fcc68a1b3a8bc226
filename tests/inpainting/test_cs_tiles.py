"""Tile-by-tile reconstruction: same bits on every executor, close to the whole-image result, zarr input."""

import numpy as np
import pytest
from cs_images import lattice, psnr

from emscale.core.errors import DataError
from emscale.engine import InlineExecutor, ThreadExecutor
from emscale.inpainting import inpaint_image, inpaint_tiled
from emscale.sampling import random_pattern


@pytest.fixture(scope="module")
def sparse_image():
    noisy, truth = lattice(n=192, a=7.0, theta=0.6, seed=3)
    return noisy, truth, random_pattern(noisy.shape, 0.15, seed=1)


@pytest.mark.slow
def test_tiled_sparse_is_executor_independent_and_near_the_whole_image(sparse_image):
    noisy, truth, mask = sparse_image
    a = inpaint_tiled(noisy, mask, "sparse", tile=96, overlap=32, executor=InlineExecutor())
    b = inpaint_tiled(noisy, mask, "sparse", tile=96, overlap=32, executor=ThreadExecutor(2))
    assert a.tobytes() == b.tobytes()
    whole = inpaint_image(noisy, mask, "sparse")
    assert psnr(a, truth) > psnr(whole, truth) - 1.5  # the Fourier prior sees fewer lattice periods per tile
    assert psnr(a, truth) > psnr(inpaint_image(noisy, mask, "nearest"), truth) + 2.0
    assert np.array_equal(a[mask], noisy[mask])


def test_tiled_linear_has_no_seams_and_reads_zarr(sparse_image, tmp_path):
    zarr = pytest.importorskip("zarr")
    noisy, _, mask = sparse_image
    z = zarr.open_array(tmp_path / "img.zarr", mode="w", shape=noisy.shape, chunks=(32, 192), dtype="f8")
    z[:] = noisy
    tiled = inpaint_tiled(z, mask, "linear", tile=48, overlap=12)
    whole = inpaint_image(noisy, mask, "linear")
    # Delaunay interpolation is local: with a 12-pixel halo the tiles agree with the whole image almost everywhere
    assert np.mean(np.abs(tiled - whole) < 1e-9) > 0.93


def test_tile_errors():
    img = np.ones((64, 64))
    mask = np.zeros((64, 64), bool)
    mask[:8, :8] = True
    with pytest.raises(DataError, match="no measured pixel"):
        inpaint_tiled(img, mask, "linear", tile=16, overlap=0)
    with pytest.raises(ValueError, match="tile must be"):
        inpaint_tiled(img, mask, tile=4)


def test_tiles_are_balanced_so_no_edge_strip_is_left_and_errors_say_where():
    # cut at multiples of the tile, a 65-pixel side left a 1-pixel strip: too narrow for the dictionary's 8-pixel
    # patches ("patch must be between 2 and the image's smaller side 5") and reconstructed worst of all
    from emscale.inpainting.tiling import _spans

    assert _spans(65, 32) == [(0, 22), (22, 43), (43, 65)] and _spans(512, 256) == [(0, 256), (256, 512)]
    for n in range(8, 200):
        for tile in (8, 13, 32, 64):
            sizes = [b - a for a, b in _spans(n, tile)]
            assert sum(sizes) == n and max(sizes) <= tile and max(sizes) - min(sizes) <= 1
    img = np.random.default_rng(0).random((64, 65))
    out, choice = inpaint_tiled(img, random_pattern(img.shape, 0.3, seed=0), "dictionary", tile=32, overlap=4,
                                n_train=500, n_iter=2, return_choice=True)
    assert out.shape == img.shape and np.isfinite(out).all()
    # the dictionary's choice and its sparse start's, counted over the 2 x 3 tiles; the per-tile scores left out
    assert choice["tiles"] == 6 and sum(choice["refined"].values()) == 6 and sum(choice["start.prior"].values()) == 6
    assert not any(k.startswith("held_out_mse") for k in choice) and set(choice["refined"]) <= {"true", "false"}
    mask = np.zeros((64, 64), bool)
    mask[40:48, :8] = True
    with pytest.raises(DataError, match="rows 0:16, columns 0:16"):  # the columns alone named a measured strip
        inpaint_tiled(np.ones((64, 64)), mask, "linear", tile=16, overlap=0)
    with pytest.raises(DataError, match="2-D image"):
        inpaint_tiled(np.zeros((4, 40, 40)), np.ones((40, 40), bool), "linear")
    calls = []
    inpaint_tiled(np.ones((50, 50)), random_pattern((50, 50), 0.3, seed=0), "linear", tile=16,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (50 * 50 * 8, 50 * 50 * 8) and len(calls) == 4  # the image's bytes, not the band index's
