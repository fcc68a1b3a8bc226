"""The non-local SLADS cue: the periodic estimate finds a lattice's unmeasured columns, is absent (exactly) on
images without a lattice, and the model's lattice regression is used only where it is present."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emscale.sampling.patterns import random_pattern
from emscale.sampling.slads_features import FEATURES, LOCAL_FEATURES, NeighbourState
from emscale.sampling.slads_model import FORMAT, ERDModel, disc_image, lattice_image, train_erd_model


def _state(img, frac, seed):
    flat = np.flatnonzero(random_pattern(img.shape, frac, seed=seed))
    return NeighbourState(img.shape, flat, img.ravel()[flat])


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.mark.parametrize("spacing, angle, shape, frac", [(5.0, 1.3, (128, 128), 0.2), (7.0, 0.3, (112, 128), 0.25),
                                                          (10.0, 0.8, (128, 112), 0.2)])
def test_periodic_estimate_is_closer_to_a_lattice_than_the_nn_reconstruction(spacing, angle, shape, frac):
    clean = lattice_image(shape, spacing=spacing, angle=angle, width=1.2, noise_dose=None, seed=4)
    noisy = lattice_image(shape, spacing=spacing, angle=angle, width=1.2, noise_dose=100, seed=4)
    st = _state(noisy, frac, seed=2)
    assert st.periodic is not None
    u = ~st.measured
    assert np.all(st.features[u, FEATURES.index("pdev")] > 0)
    # the estimate puts back columns the sparse sample missed: closer to the noise-free lattice
    assert _rmse(st.periodic.reshape(shape), clean) < 0.95 * _rmse(st.reconstruction(), clean)
    # and its disagreement with the reconstruction points at the reconstruction's error
    err = np.abs(st.reconstruction() - clean).ravel()[u]
    assert np.corrcoef(st.features[u, FEATURES.index("pdev")], err)[0, 1] > 0.2




@pytest.mark.parametrize("seed, frac", [(0, 0.05), (1, 0.2), (2, 0.4)])
def test_no_lattice_in_a_particle_image_leaves_pdev_exactly_zero(seed, frac):
    img = disc_image((96, 112), 15, seed, radius=(3, 10), noise_dose=300)
    st = _state(img, frac, seed)
    assert st.periodic is None
    assert np.all(st.features[:, FEATURES.index("pdev")] == 0)
    st.add(np.flatnonzero(~st.measured)[:50], np.ones(50))
    assert st.refresh_periodic().size == 0 or np.all(st.features[:, FEATURES.index("pdev")] == 0)


@pytest.fixture(scope="module")
def model():
    train = [lattice_image((64, 64), spacing=5 + s, angle=0.4 * s, seed=s) for s in range(2)]
    train += [disc_image((64, 64), 6, 5, radius=(3, 10), noise_dose=300)]
    return train_erd_model(train, fractions=(0.1, 0.3), n_pixels=600, seed=0, min_lattice_pixels=500)


@pytest.mark.filterwarnings("ignore:the ERD model explains")  # `few` is trained to have no lattice, not to be good
def test_the_lattice_regression_is_used_only_where_pdev_is_not_zero(model, tmp_path):
    assert model.lattice is not None and model.info["lattice"]["n_samples"] >= 500
    few = train_erd_model([lattice_image((48, 48), spacing=6, seed=3)], fractions=(0.3,), n_pixels=200)
    assert few.lattice is None and "lattice" not in few.info  # too few lattice pixels for a second regression
    rng = np.random.default_rng(1)
    f = rng.random((100, len(FEATURES)))
    f[:50, -1] = 0.0
    local = ERDModel(regressor=model.regressor, params=model.params, mean=model.mean, std=model.std)
    out = model.predict(f)
    np.testing.assert_allclose(out[:50], local.predict(f[:50]), rtol=1e-12)
    assert not np.allclose(out[50:], local.predict(f[50:]))
    back = ERDModel.load(model.save(tmp_path / "m.json"))
    np.testing.assert_array_equal(back.predict(f), out)


def test_a_version_2_file_loads_as_the_local_regression_and_wrong_features_are_refused(model, tmp_path):
    d = model.to_dict()
    v2 = {k: v for k, v in d.items() if k != "lattice"}
    v2.update(version=2, features=list(LOCAL_FEATURES))
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    old = ERDModel.load(tmp_path / "v2.json")
    assert old.lattice is None
    f = np.random.default_rng(2).random((40, len(FEATURES))) + 0.1  # pdev > 0: a v2 model ignores it
    local = ERDModel(regressor=model.regressor, params=model.params, mean=model.mean, std=model.std)
    np.testing.assert_array_equal(old.predict(f), local.predict(f))
    for version, feats in ((3, list(LOCAL_FEATURES)), (2, list(FEATURES))):
        bad = dict(d, version=version, features=feats)
        with pytest.raises(ValueError, match=f"version {version}.*retrain"):
            ERDModel.from_dict(bad)
    bad = dict(d, lattice=dict(d["lattice"], mean=[0.0] * 3))
    with pytest.raises(ValueError, match="lattice.*standardisation"):
        ERDModel.from_dict(bad)
    assert d["format"] == FORMAT and d["version"] == 3
