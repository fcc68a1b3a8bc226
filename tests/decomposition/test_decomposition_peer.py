"""Cross-checks of the decomposition against HyperSpy (peer tests; skipped when HyperSpy is absent)."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import decompose
from emscale.decomposition.rank import elbow
from groundtruth import clearly_detectable, make_cube, suite


@pytest.mark.peer
def test_poisson_pca_matches_hyperspy_on_bruker(real_dir):
    hs = pytest.importorskip("hyperspy.api")
    s = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", signal_type="EDS_SEM")
    if isinstance(s, list):
        s = next(x for x in s if x.nav_ndim == 2)
    d = decompose(s, "pca", solver="gram", mask_zero_peak=False)  # HyperSpy keeps the zero-energy peak
    h = hs.signals.Signal1D(np.asarray(s.to_numpy(), dtype=float))
    h.decomposition(normalize_poissonian_noise=True, print_info=False)
    ev = np.asarray(h.learning_results.explained_variance)
    n = min(len(ev), len(d.explained_variance))
    top = ev[0]
    keep = ev[:n] > 1e-9 * top
    np.testing.assert_allclose(d.explained_variance[:n][keep], ev[:n][keep], rtol=1e-5)
    # the model in data units agrees too (first 5 components)
    hm = h.get_decomposition_model(5).data.reshape(-1, s.data.shape[-1])
    np.testing.assert_allclose(d.reconstruct(5).data.reshape(hm.shape), hm, rtol=1e-6, atol=1e-6 * hm.max())


@pytest.mark.peer
def test_hyperspy_elbow_is_off_on_ground_truth():
    hs = pytest.importorskip("hyperspy.api")
    from threadpoolctl import threadpool_limits

    rows = []
    # realistic sizes (groundtruth.suite); one BLAS thread, else HyperSpy's SVDs spin on a busy 2-core machine
    with threadpool_limits(limits=1, user_api="blas"):
        for case in [c for c in suite(full=False) if c["counts"] >= 200][:6]:
            s, truth = make_cube(**case)
            if not clearly_detectable(s, truth):
                continue
            h = hs.signals.Signal1D(s.data.astype(float))
            h.decomposition(normalize_poissonian_noise=True, print_info=False)
            hs_rank = int(h.learning_results.number_significant_components)
            ours = decompose(s, "pca", n_components=1).estimate_rank()[0]
            rows.append((truth.rank, ours, hs_rank, elbow(h.learning_results.explained_variance_ratio) + 1))
    assert rows
    ours_hit = np.mean([t == o for t, o, _, _ in rows])
    hs_hit = np.mean([t == e for t, _, e, _ in rows])
    assert ours_hit >= 0.9 and hs_hit < ours_hit, rows


@pytest.mark.peer
@pytest.mark.parametrize("kind,counts,seed", [("eds", 1000, 1), ("eels", 5000, 2)])
def test_ica_unmixes_the_spectra_as_hyperspy_bss_does(kind, counts, seed):
    hs = pytest.importorskip("hyperspy.api")
    from groundtruth import spectral_angles

    s, truth = make_cube(3, kind, shape=(32, 32), n_channels=512, counts=counts, seed=seed)
    d = decompose(s, "ica", n_components=3, seed=seed)
    h = hs.signals.Signal1D(np.asarray(s.data, dtype=float))
    h.decomposition(normalize_poissonian_noise=True, print_info=False)
    h.blind_source_separation(3, print_info=False)
    ours = np.sort(np.minimum(spectral_angles(d.factors_array.T, truth.spectra),
                              spectral_angles(-d.factors_array.T, truth.spectra)))
    bss = h.learning_results.bss_factors
    theirs = np.sort(np.minimum(spectral_angles(bss.T, truth.spectra), spectral_angles(-bss.T, truth.spectra)))
    np.testing.assert_allclose(ours, theirs, atol=0.5)  # FastICA's start differs; the optimum is the same


def test_ica_of_the_spectra_beats_ica_of_the_maps_on_mixtures():
    # mixture maps (fractions summing to one, a shared thickness) are dependent by construction; unmixing them left
    # the spectra 24-130 degrees from the truth, unmixing the differentiated spectra 0.5-25 (HyperSpy's default)
    from groundtruth import spectral_angles

    for kind, counts, seed, best in [("eels", 5000, 2, 2.0), ("eds", 1000, 1, 5.0)]:
        s, truth = make_cube(3, kind, shape=(32, 32), n_channels=512, counts=counts, seed=seed)
        spectra = decompose(s, "ica", n_components=3)
        maps = decompose(s, "ica", n_components=3, on="loadings")
        a_spectra = np.median(spectral_angles(spectra.factors_array.T, truth.spectra))
        a_maps = np.median(spectral_angles(maps.factors_array.T, truth.spectra))
        assert a_spectra < best and a_maps > 20, (kind, a_spectra, a_maps)
        assert spectra.info["on"] == "factors" and spectra.params["on"] == "factors"
        np.testing.assert_allclose(spectra.reconstruct().data, maps.reconstruct().data, rtol=1e-6, atol=1e-6)
