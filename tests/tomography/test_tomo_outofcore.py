"""Out-of-core reconstruction: the store holds the in-memory bits, the slices are lazy until saved."""

import numpy as np
import pytest

import emscale as em
from emscale import InlineExecutor, ThreadExecutor
from emscale.tomography import reconstruct as rec_mod
from emscale.tomography import reconstruct_to_store, reconstruct_tomogram, tilt_series
from emscale.tomography.outofcore import lazy_slices
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume
from emscale.tomography.tiltseries import slice_first

ANGLES = np.linspace(-70, 70, 29)


@pytest.mark.parametrize("method, tilt_axis, seed", [("fbp", "y", 1), ("sirt", "x", 2), ("tv", "y", 3)])
def test_store_equals_in_memory_bit_for_bit(tmp_path, method, tilt_axis, seed):
    vol = ellipsoid_phantom(20, seed=seed)[:, :, :18] if tilt_axis == "x" else ellipsoid_phantom(20, seed=seed)
    s = tilt_series(project_volume(vol, ANGLES, tilt_axis), ANGLES, pixel_size=0.4, tilt_axis=tilt_axis)
    kw = {"n_iter": 5} if method != "fbp" else {}
    ref = reconstruct_tomogram(s, method, slices_per_partition=3, **kw)
    out = reconstruct_to_store(s, tmp_path / "vol.zarr", method=method, slices_per_partition=3,
                               executor=ThreadExecutor(2), chunks=(4, 7, 9), **kw)
    assert out.is_lazy
    np.testing.assert_array_equal(out.to_numpy(), ref.data)
    assert out.axes == ref.axes
    assert [p.name for p in tmp_path.iterdir()] == ["vol.zarr"]  # the scratch store is gone
    loaded = em.load(tmp_path / "vol.zarr")
    made = loaded.history[0]["made_by"]  # a series made in memory: the store's load keeps what made it
    assert loaded.history[0]["op"] == "load" and made[-1]["op"] == "reconstruct_tomogram"
    assert "scratch" not in made[-1]["params"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        reconstruct_to_store(s, tmp_path / "vol.zarr", method=method, **kw)


def test_slices_are_lazy_until_saved(tmp_path, monkeypatch):
    calls = []
    fbp = rec_mod.SOLVERS["fbp"]
    monkeypatch.setitem(rec_mod.SOLVERS, "fbp", lambda A, b, **kw: calls.append(b.shape[0]) or fbp(A, b, **kw))
    vol = ellipsoid_phantom(16, seed=4)
    sino = slice_first(project_volume(vol, ANGLES), "y")
    lazy = lazy_slices(sino, ANGLES, slices_per_partition=5, method="fbp")
    assert calls == [] and lazy.chunks[0] == (5, 5, 5, 1)
    s = em.Signal(lazy, axes=[{"name": "slice", "navigate": True}, {"name": "z"}, {"name": "w"}])
    assert s.is_lazy and calls == []
    s.save(tmp_path / "slices.zarr", chunks=(5, 16, 16))
    assert sorted(calls) == [1, 5, 5, 5]  # each block reconstructed once, by the save
    ref = rec_mod.reconstruct_slices(sino, ANGLES, method="fbp", executor=InlineExecutor())
    np.testing.assert_array_equal(em.load(tmp_path / "slices.zarr").data, ref)


KILLED_RUN = """
import sys, time
import numpy as np
from emscale.tomography import reconstruct as rec, reconstruct_to_store, tilt_series
from emscale.tomography.phantoms import ellipsoid_phantom, project_volume

angles = np.linspace(-70, 70, 29)
s = tilt_series(project_volume(ellipsoid_phantom(16, seed=1), angles), angles)
rec.SOLVERS["fbp"] = lambda A, b, **kw: time.sleep(600)  # killed while it reconstructs
reconstruct_to_store(s, sys.argv[1], method="fbp")
"""


def test_a_scratch_folder_left_by_a_killed_run_is_removed_by_the_next_run(tmp_path):
    """A SIGKILL during reconstruct_to_store left its hidden scratch folder beside the output for good."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "vol.zarr"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(em.__file__))}
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(n.startswith("slices") for _, folders, _ in os.walk(tmp_path) for n in folders):
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start reconstructing"
            time.sleep(0.05)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".vol.zarr")  # the killed run's scratch, slices inside
    (tmp_path / ".vol.zarr.notes").write_text("a user's file of a similar name")
    ang = np.linspace(-70, 70, 29)
    s = tilt_series(project_volume(ellipsoid_phantom(16, seed=1), ang), ang)
    reconstruct_to_store(s, out, method="fbp")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".vol.zarr.notes", "vol.zarr"]
