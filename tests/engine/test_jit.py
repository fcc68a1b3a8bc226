"""numba is optional and only for speed: an install that does not import must cost speed, never the result."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import emscale as em
from emscale.engine import jit

pytestmark = pytest.mark.skipif(not jit.HAVE_NUMBA, reason="numba not installed: nothing to break")


@pytest.fixture
def broken_numba(monkeypatch):
    """``import numba`` raises, as an install built against another numpy does."""
    monkeypatch.setitem(sys.modules, "numba", None)
    jit.numba_usable.cache_clear()
    yield
    jit.numba_usable.cache_clear()


def _counts():
    # 64 x 64 x 256 = 2^20 values: above both sizes at which the compiled routes take over
    rng = np.random.default_rng(3)
    e = np.arange(256)
    spectra = np.stack([np.exp(-0.5 * ((e - c) / 8.0) ** 2) + 0.05 for c in (60, 130, 200)])
    maps = rng.dirichlet(np.ones(3), 64 * 64)
    lam = 30.0 * maps @ (spectra / spectra.sum(axis=1, keepdims=True))
    return rng.poisson(lam).reshape(64, 64, 256).astype(np.uint16)


def test_an_installed_numba_that_does_not_import_warns_once_and_is_not_used(broken_numba):
    with pytest.warns(RuntimeWarning, match="numba is installed but does not import"):
        assert jit.numba_usable() is False
    assert jit.numba_usable() is False  # cached: asked once per process


def test_decompositions_fall_back_to_the_numpy_kernels_with_the_same_answer(broken_numba):
    s = em.Signal(_counts())
    with pytest.warns(RuntimeWarning, match="numba is installed but does not import"):
        nmf = em.decompose(s, "nmf", n_components=3, max_iter=60)
        pca = em.decompose(s, "pca", n_components="auto")
    assert nmf.info["route"].endswith("-numpy")
    assert pca.info["rank_estimate"] == 3
    jit.numba_usable.cache_clear()
    sys.modules.pop("numba")
    nmf_compiled = em.decompose(s, "nmf", n_components=3, max_iter=60)
    pca_compiled = em.decompose(s, "pca", n_components="auto")
    assert nmf_compiled.info["route"].endswith("-numba")
    np.testing.assert_allclose(nmf.factors.data, nmf_compiled.factors.data, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(pca.factors.data, pca_compiled.factors.data, rtol=1e-4, atol=1e-6)


def test_a_fresh_process_with_a_broken_numba_projects_in_numpy(tmp_path):
    # a numba that is found but fails to load, first on the path of a fresh process: the tomography kernels
    # decide at their own (lazy) import
    import os
    import subprocess
    import textwrap

    (tmp_path / "numba").mkdir()
    (tmp_path / "numba" / "__init__.py").write_text('raise ImportError("Numba needs NumPy 1.24 or less")\n')
    code = textwrap.dedent("""
        import warnings
        import numpy as np
        from emscale.tomography import ParallelGeometry, Projector
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = Projector(ParallelGeometry(np.linspace(-60, 60, 13), n_det=32))
        assert a.backend == "numpy", a.backend
        assert any("Numba needs NumPy" in str(w.message) for w in caught), [str(w.message) for w in caught]
        sino = a.forward(np.ones((32, 32), np.float32))
        print(sino.shape, round(float(sino[6].sum()), 1))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == "(13, 32) 1024.0"


@pytest.mark.parametrize("given", [None, "ACTIVE"])
def test_loading_numba_asks_openmp_for_passive_waiting_unless_the_user_chose(given):
    """numba's OpenMP workers spun after each parallel loop, and where other work held the cores the next loop from the
    main thread waited a scheduler slice: 7.5-10 ms a loop on a loaded 2-core machine, KL-NMF of 64 x 64 x 256 counts
    4.7 s against 1.0 s with passive waiting (the same bits). Read by libgomp when it loads: set before numba is."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env |= {"OMP_WAIT_POLICY": given} if given else {}
    code = ("import os; from emscale.engine import jit; before = os.environ.get('OMP_WAIT_POLICY'); "
            "jit.numba_usable(); print(before, os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ([str(given), given] if given else ["None", "PASSIVE"])
