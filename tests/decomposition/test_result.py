"""The Decomposition result: save / load round trip, plots."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.decomposition import Decomposition, decompose


def test_save_load_roundtrip(cube, tmp_path):
    s, _ = cube
    d = decompose(s, "pca", n_components="auto", centre=True)
    p = tmp_path / "dec.npz"
    d.save(p)
    assert [f.name for f in tmp_path.iterdir()] == ["dec.npz"]
    e = em.decomposition.load(p)
    assert isinstance(e, Decomposition) and e.method == "pca"
    np.testing.assert_array_equal(e.factors_array, d.factors_array)
    np.testing.assert_array_equal(e.eigenvalues, d.eigenvalues)
    assert e.estimate_rank()[0] == d.estimate_rank()[0]
    np.testing.assert_allclose(e.reconstruct().data, d.reconstruct().data)
    assert e.factors.sig_axes[0].units == "keV"
    with pytest.raises(em.OutputExistsError):
        d.save(p)
    d.save(p, overwrite=True)


def test_plots(cube):
    s, _ = cube
    d = decompose(s, "pca", n_components=3)
    for fig in (d.plot_scree(), d.plot_factors(), d.plot_loadings()):
        assert fig.axes
    import matplotlib.pyplot as plt

    plt.close("all")


def test_maps_do_not_carry_the_spectrum_type_and_quantity():
    # a phase map's colour bar read "X-rays (Counts)", and its signal_type was the spectrum's
    import emscale as em

    x = np.random.default_rng(0).poisson(5.0, (6, 7, 32)).astype(np.uint16)
    gain = {"Variance_linear_model": {"gain_factor": 0.13, "gain_offset": 0.0}}
    s = em.Signal(x, signal_type="EDS_SEM", metadata={"Signal": {"quantity": "X-rays (Counts)",
                                                                 "Noise_properties": gain}})
    d = em.decompose(s, "pca", n_components=2)
    c = d.cluster(2)
    for maps, quantity in ((c.labels, "Phase (cluster index)"), (d.loadings, "PCA loading")):
        assert maps.signal_type in ("", None) and maps.metadata["Signal"]["quantity"] == quantity
        assert "signal_type" not in maps.metadata["Signal"]
    assert c.spectra.signal_type == "EDS_SEM" and c.spectra.metadata["Signal"]["quantity"] == "X-rays (Counts)"
    # nor do the factors, which are spectra but no counts: their plot's axes read "X-rays (Counts), mean per pixel"
    n = em.decompose(s, "nmf", n_components=2)
    for r, quantity in ((d, "PCA factor"), (n, "NMF factor (share of the counts per channel)")):
        assert r.factors.signal_type == "EDS_SEM" and r.factors.metadata["Signal"] == {"quantity": quantity}
        labels = [a.get_ylabel() for a in r.factors.plot().axes]
        assert quantity in labels and not any("X-rays" in label for label in labels), labels
    import matplotlib.pyplot as plt

    plt.close("all")


def test_maps_of_a_signal_without_metadata_still_say_what_they_are():
    import emscale as em

    x = np.random.default_rng(0).poisson(5.0, (6, 7, 32)).astype(np.uint16)
    assert em.decompose(em.Signal(x), "pca", n_components=2).loadings.metadata["Signal"]["quantity"] == "PCA loading"


def test_the_scree_names_the_test_behind_its_threshold():
    # the line said "Marchenko-Pastur" where the parallel analysis drew it, and components were counted from 1
    import emscale as em

    x = np.random.default_rng(0).poisson(20.0, (12, 12, 64)).astype(np.uint16)
    d = em.decompose(em.Signal(x), "pca", n_components="auto")
    ax = d.plot_scree().axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # (the points within the automatic rank filled, those beyond hollow)
    assert labels == ["automatic rank 1 (filled)", "beyond the rank",
                      "noise threshold (parallel analysis, Poisson)"]  # the line is the threshold, not the edge
    assert ax.lines[0].get_xdata()[0] == 0 and ax.get_ylabel() == "eigenvalue of the Poisson-weighted Gram matrix"
    plain = em.decompose(em.Signal(x.astype(float) + 0.5), "pca", n_components="auto")
    assert "Marchenko-Pastur" in plain.plot_scree().axes[0].get_legend().get_texts()[-1].get_text()


def test_factor_plots_say_what_the_factors_measure():
    # NMF factors sum to one but were labelled "counts per channel"
    import emscale as em

    x = np.random.default_rng(0).poisson(20.0, (8, 8, 64)).astype(np.uint16)
    for method, label in (("nmf", "share of the counts per channel"), ("pca", "factor (a.u.)")):
        d = em.decompose(em.Signal(x), method, n_components=2)
        assert d.plot_factors().axes[0].get_ylabel() == label


def test_a_clustering_plots_as_a_discrete_phase_map_with_its_spectra():
    # labels.plot() (what the tutorial showed) draws the phase indices as a continuous image with a colour bar
    import emscale as em

    x = np.random.default_rng(0).poisson(20.0, (8, 9, 64)).astype(np.uint16)
    c = em.decompose(em.Signal(x), "pca", n_components=2).cluster(3)
    fig = c.plot(names=["a", "b", "c"])
    assert [a.get_title() for a in fig.axes[:2]] == ["Phase map", "Mean spectrum of each phase"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["phase 0: a", "phase 1: b", "phase 2: c"]


@pytest.mark.parametrize("call", [
    lambda d: d.cluster(2, n_components=-1), lambda d: d.cluster(2, n_components=100),
    lambda d: d.cluster(2, n_components=2.7), lambda d: d.cluster(2, n_components=0),
    lambda d: d.reconstruct(2.7), lambda d: d.reconstruct(True), lambda d: d.reconstruct(0),
    lambda d: d.plot_loadings(0), lambda d: d.plot_factors(0),
])
def test_a_component_count_outside_one_to_k_is_refused(call):
    """A slice took n_components=-1 as "all but one" and 100 as "all" and recorded them as given; 2.7 and True
    were truncated; 0 failed in KMeans, a worker thread or the figure's grid."""
    from emscale.core.errors import DataError

    x = np.random.default_rng(0).poisson(5.0, (6, 8, 32)).astype(np.uint16)
    d = em.decompose(em.Signal(x), "pca", n_components=3)
    with pytest.raises(DataError, match="from 1 to the decomposition's 3 components"):
        call(d)


@pytest.mark.parametrize(("args", "said"), [((2.5,), "n_clusters"), ((True,), "n_clusters"),
                                            ((2, None), "seed must be a whole number"),
                                            ((2, -1), "seed must be a whole number >= 0")])
def test_cluster_counts_and_seed_are_checked(args, said):
    from emscale.core.errors import DataError

    x = np.random.default_rng(0).poisson(5.0, (6, 8, 32)).astype(np.uint16)
    d = em.decompose(em.Signal(x), "pca", n_components=3)
    with pytest.raises(DataError, match=said):
        d.cluster(*args)


def test_decompose_checks_its_seed_before_the_work():
    from emscale.core.errors import DataError

    x = np.random.default_rng(0).poisson(5.0, (6, 8, 32)).astype(np.uint16)
    for seed in (None, -1, 1.5):
        with pytest.raises(DataError, match="seed must be a whole number >= 0"):
            em.decompose(em.Signal(x), "nmf", n_components=2, seed=seed)


def test_a_result_is_not_saved_under_a_store_name(tmp_path):
    """d.save("x.zarr") wrote x.zarr.npz without a word."""
    from emscale.core.errors import DataError

    x = np.random.default_rng(0).poisson(5.0, (6, 8, 32)).astype(np.uint16)
    d = em.decompose(em.Signal(x), "pca", n_components=3)
    with pytest.raises(DataError, match=r"name it x.npz"):
        d.save(tmp_path / "x.zarr")
    assert list(tmp_path.iterdir()) == []
    assert d.save(tmp_path / "x").name == "x.npz"


def _rewritten(src, dst, members=None, meta=None):
    import io
    import json
    import zipfile

    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as w:
        for n in z.namelist():
            data = z.read(n)
            new = (members or {}).get(n)
            if n == "meta.npy" and meta is not None:
                text = json.loads(bytes(np.load(io.BytesIO(data))).decode())
                meta(text)
                new = np.frombuffer(json.dumps(text).encode(), np.uint8)
            if new is not None:
                buf = io.BytesIO()
                np.save(buf, new)
                data = buf.getvalue()
            w.writestr(n, data)
    return dst


def test_an_edited_or_damaged_result_file_is_refused(cube, tmp_path):
    # factors made NaN loaded and clustered NaNs, a column cut loaded as k = 1, a navigation size edited loaded as
    # (12, 3|64) with 144 pixels, factors stored as text were "IndexError: tuple index out of range" (a review)
    s, _ = cube
    p = decompose(s, "pca", n_components=3).save(tmp_path / "d.npz")
    f = em.load_result(p).factors_array

    def smaller(meta):
        meta["nav_axes"][0]["size"] = 3

    for name, kw in {"nan": {"members": {"factors.npy": np.full_like(f, np.nan)}},
                     "cut": {"members": {"factors.npy": f[:, :1]}},
                     "text": {"members": {"factors.npy": np.array(["a", "b"])}},
                     "nav": {"meta": smaller},
                     "digest removed": {"meta": lambda m: m.pop("sha256")}}.items():
        bad = _rewritten(p, tmp_path / f"{name}.npz", **kw)
        with pytest.raises(em.FileFormatError, match="edited or damaged; not read"):
            em.load_result(bad)


def _damaged_copies(p):
    """A saved result with one byte flipped in each part of it (its first zip header, its description member, a
    number member, the zip's directory at the end), and cut short: each as (where, bytes)."""
    import zipfile

    raw = p.read_bytes()
    with zipfile.ZipFile(p) as z:
        at = {i.filename: i.header_offset for i in z.infolist()}
        directory = z.start_dir

    def flipped(offset):
        b = bytearray(raw)
        b[offset] ^= 0x55
        return bytes(b)

    return {"zip header": flipped(0), "meta's npy header": flipped(at["meta.npy"] + 70),
            "meta's JSON": flipped(at["meta.npy"] + 1000), "factors": flipped(at["factors.npy"] + 200),
            "directory's name of meta": flipped(directory + 46), "truncated": raw[:len(raw) // 2]}


def test_a_damaged_result_file_is_refused_as_one(tmp_path):
    """A byte flipped in a saved result raised a bare zipfile.BadZipFile from em.load_result, and `emscale verify`
    called one damaged in its description "not an emscale zarr store" (a review); a .npz of someone else's is no
    damaged result."""
    x = np.random.default_rng(0).poisson(5.0, (6, 5, 32)).astype(np.float32)
    p = em.decompose(em.Signal(x), "pca", n_components=2).save(tmp_path / "d.npz")
    for where, raw in _damaged_copies(p).items():
        bad = tmp_path / "bad.npz"
        bad.write_bytes(raw)
        with pytest.raises(em.FileFormatError, match=r"^\S*bad.npz: a damaged or truncated emscale result \(.*\); "
                                                     "not read$") as caught:
            em.load_result(bad)
        assert "\n" not in str(caught.value), where
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(em.FileFormatError, match="other.npz: a .npz without the description member .* not a result"):
        em.load_result(tmp_path / "other.npz")
