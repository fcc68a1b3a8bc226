"""Reconstruction on a dask.distributed LocalCluster (worker processes) gives the in-memory bits."""

import numpy as np
import pytest

from emscale import InlineExecutor
from emscale.engine.distributed import DaskExecutor
from emscale.tomography import reconstruct_to_store, reconstruct_tomogram, tilt_series
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

distributed = pytest.importorskip("distributed")

ANGLES = np.linspace(-60, 60, 21)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def series():
    vol = ellipsoid_phantom(32, seed=11)[:, 12:20]  # 8 slices of 32 x 32 (tilt axis y)
    return tilt_series(project_volume(vol, ANGLES), ANGLES, pixel_size=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("method, kw", [("fbp", {}), ("sirt", {"n_iter": 8}), ("tv", {"n_iter": 8})])
def test_cluster_reconstruction_equals_in_memory(client, series, method, kw):
    ref = reconstruct_tomogram(series, method, slices_per_partition=3, executor=InlineExecutor(), **kw)
    got = reconstruct_tomogram(series, method, slices_per_partition=3, executor=DaskExecutor(client), **kw)
    assert got.shape == (32, 8, 32)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.history[-1]["params"] == ref.history[-1]["params"]  # the executor is not recorded


@pytest.mark.slow
def test_cluster_out_of_core_store_equals_in_memory(client, series, tmp_path):
    ref = reconstruct_tomogram(series, "sirt", n_iter=8, slices_per_partition=3, executor=InlineExecutor())
    out = reconstruct_to_store(series, tmp_path / "vol.zarr", method="sirt", n_iter=8, slices_per_partition=3,
                               executor=DaskExecutor(client), chunks=(5, 8, 32))
    np.testing.assert_array_equal(out.to_numpy(), ref.data)


@pytest.mark.slow
def test_cluster_default_partitions_share_the_series_over_its_workers(client, monkeypatch):
    """By default the slices are shared out over the cluster's two workers (12 of 24 each; inline: all 24 in one
    partition), with the in-memory bits."""
    from emscale.tomography import reconstruct as rec

    vol = ellipsoid_phantom(32, seed=11)[:, 4:28]
    s = tilt_series(project_volume(vol, ANGLES), ANGLES, pixel_size=0.5)
    rows = []
    real = rec.run_pass
    monkeypatch.setattr(rec, "run_pass", lambda src, *a, **k: rows.append(k["rows"]) or real(src, *a, **k))
    ref = reconstruct_tomogram(s, "sirt", n_iter=8, executor=InlineExecutor())
    got = reconstruct_tomogram(s, "sirt", n_iter=8, executor=DaskExecutor(client))
    assert rows == [24, 12]
    np.testing.assert_array_equal(got.data, ref.data)
