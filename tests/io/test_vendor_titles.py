"""Files with many signals: titles that tell them apart, one name per energy axis, one length unit per file."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.core.signal import Signal
from emscale.io.vendor import distinct_titles, harmonise_axes


def _spectrum(title, offset=0.0, detector=None, nav=()):
    om = {"BinaryResult": {"Detector": detector}} if detector else {}
    axes = [{"name": n, "scale": 1.0, "units": "nm", "navigate": True} for n in ("y", "x")[: len(nav)]]
    axes.append({"name": "Energy", "scale": 0.5, "offset": offset, "units": "eV", "navigate": False})
    return Signal(np.zeros(nav + (8,)), axes=axes, title=title, original_metadata=om)


def test_shared_titles_get_the_first_qualifier_that_differs():
    signals = [_spectrum("EDS", detector="D1"), _spectrum("EDS", detector="D2"),
               _spectrum("EDS", detector="D2", nav=(2, 2)), _spectrum("HAADF"),
               _spectrum("EELS", offset=100.0), _spectrum("EELS", offset=400.0), _spectrum("X"), _spectrum("X")]
    titles = distinct_titles(signals)
    assert titles[:4] == ["EDS (D1)", "EDS (D2, spectrum)", "EDS (D2, spectrum image)", "HAADF"]
    assert titles[4:6] == ["EELS (100 to 103.5 eV)", "EELS (400 to 403.5 eV)"]
    assert titles[6:] == ["X", "X 2"]  # nothing tells them apart: numbered
    assert len(set(titles)) == len(titles)


def test_energy_axes_named_one_way_and_lengths_in_one_unit():
    dicts = [{"axes": [{"name": "y", "scale": 0.15, "offset": -4.0, "units": "µm"},
                       {"name": "X-ray energy", "scale": 0.01, "units": "keV"}]},
             {"axes": [{"name": "y", "scale": 150.0, "offset": 0.0, "units": "nm"},
                       {"name": "Energy-loss", "scale": 0.2, "units": "eV"}]}]
    out = harmonise_axes(dicts)
    assert [a["name"] for a in out[0]["axes"]] == ["y", "Energy"]
    assert out[1]["axes"][1]["name"] == "Energy loss"
    assert out[0]["axes"][0]["units"] == out[1]["axes"][0]["units"] == "nm"
    assert out[0]["axes"][0]["scale"] == pytest.approx(150.0) and out[0]["axes"][0]["offset"] == pytest.approx(-4000)
    assert out[0]["axes"][1]["units"] == "keV"  # energies keep their units
    assert dicts[0]["axes"][0]["units"] == "µm"  # the reader's dictionaries are not changed


def test_a_spectrum_axis_in_a_length_unit_keeps_its_unit():
    """A CL map of 10 µm pixels with its wavelength in nm came back in µm (scale 0.0005, offset 0.4): a range in
    nm no longer fitted it. The real MonoCL line scan's x (0.0206 µm in the file and in HyperSpy) became nm."""
    cl = [{"axes": [{"name": "y", "scale": 10.0, "units": "µm"}, {"name": "x", "scale": 10.0, "units": "µm"},
                    {"name": "Wavelength", "scale": 0.5, "offset": 400.0, "units": "nm", "navigate": False}]}]
    assert harmonise_axes(cl)[0]["axes"] == cl[0]["axes"]
    scan = [{"axes": [{"name": "x", "scale": 0.0206, "units": "µm"},
                      {"name": "Wavelength", "scale": 0.5, "offset": 400.0, "units": "nm", "navigate": False}]}]
    assert harmonise_axes(scan)[0]["axes"] == scan[0]["axes"]
    image = [{"axes": [{"name": "y", "scale": 0.15, "units": "µm", "navigate": False},  # an image's axes: pixels
                       {"name": "x", "scale": 150.0, "units": "nm", "navigate": False}]}]
    assert [a["units"] for a in harmonise_axes(image)[0]["axes"]] == ["nm", "nm"]


def test_velox_signals_have_distinct_titles_and_consistent_axes(velox_emd):
    signals = em.load(velox_emd)
    titles = [s.title for s in signals]
    assert len(set(titles)) == len(titles), titles
    eds = sorted(t for t, s in zip(titles, signals, strict=True) if s.signal_type.startswith("EDS"))
    assert eds == ["EDS (UltraX1)", "EDS (UltraX2, spectrum image)", "EDS (UltraX2, spectrum)", "EDS (UltraX3)",
                   "EDS (UltraX4)", "EDS (UltraX5)", "EDS (UltraX6)"]
    eels = sorted((s.sig_axes[0].offset, s.title) for s in signals if s.signal_type == "EELS")
    assert [t for _, t in eels] == ["EELS (-21.5 to 324.8 eV)", "EELS (480 to 826.4 eV)", "EELS (800 to 1146 eV)"]
    energy = {s.sig_axes[0].name for s in signals if s.sig_ndim == 1}
    assert energy == {"Energy", "Energy loss"}
    lengths = [a for s in signals for a in s.axes if a.units in ("nm", "µm", "m")]
    assert {a.units for a in lengths} == {"nm"} and len(lengths) == 18  # 9 calibrated 2-D scans
    assert {round(a.scale, 3) for a in lengths} == {158.658}  # the same pixels, one number everywhere
    assert signals[0].metadata["General"]["title"] == titles[0]
    assert em.load(velox_emd, index=titles.index("EELS (480 to 826.4 eV)")).title == "EELS (480 to 826.4 eV)"


def test_a_file_without_a_title_is_titled_by_its_name(real_dir):
    """The MRC reader gives no title; the file's name stands in (results and reports name it), where HyperSpy's load
    leaves it ''."""
    path = real_dir / "tomography" / "HAADF.mrc"
    if not path.exists():
        pytest.skip("real tilt series not present")
    s = em.load(path)
    assert s.title == "HAADF"
    assert s.metadata["General"]["title"] == "HAADF"
