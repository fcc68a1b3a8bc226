"""Bad parameters of inpaint and sample_scan are emscale's own errors (DataError, a ValueError: caught as before),
as those of the other operations are; they were plain ValueErrors."""

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import DataError, EmscaleError


def _image():
    return em.Signal(np.random.default_rng(0).random((12, 12)), axes=[{"name": "y", "navigate": True},
                                                                       {"name": "x", "navigate": True}])


def _spectrum_image():
    return em.Signal(np.random.default_rng(0).poisson(5.0, (8, 8, 16)).astype(float),
                     axes=[{"name": "y", "navigate": True}, {"name": "x", "navigate": True},
                           {"name": "E", "navigate": False}])


def test_the_error_classes_are_value_errors():
    assert issubclass(DataError, ValueError) and issubclass(DataError, EmscaleError)


@pytest.mark.parametrize("kw, said", [({"fraction": 1.5}, "fraction must be"), ({"fraction": 0}, "fraction must be"),
                                      ({"dose": -1.0}, "dose must be")])
def test_sample_scan_parameters(kw, said):
    with pytest.raises(DataError, match=said):
        _image().sample_scan(**kw)


@pytest.mark.parametrize("spectra, kw, said", [
    (False, {"method": "cubic"}, "unknown method 'cubic'"),
    (False, {"params": 3}, "params must be a table"),
    (False, {"params": {"nonsense": 1}}, "takes no parameter 'nonsense'"),
    (False, {"params": {"seed": 1}}, "is an argument of inpaint itself"),
    (False, {"model": "pca"}, "n_components and model apply to spectrum images"),
    (True, {"model": "ica"}, "unknown model 'ica'"),
])
def test_inpaint_parameters(spectra, kw, said):
    s = (_spectrum_image() if spectra else _image()).sample_scan(fraction=0.5)
    with pytest.raises(DataError, match=said):
        s.inpaint(**kw)
