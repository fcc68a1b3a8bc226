"""RosettaSciIO's ``mapping`` applied on load: beam energy, EELS angles, stage, magnification and Velox's elements
appear in ``metadata`` of the real instrument files (as HyperSpy's ``dict2signal`` puts them)."""

from __future__ import annotations

import numpy as np
import pytest

import emscale as em
from emscale.core.signal import key_metadata
from emscale.io.vendor import apply_mapping, signal_from_dict


def _get(md: dict, path: str):
    for key in path.split("."):
        md = md[key]
    return md


def test_apply_mapping_as_hyperspy():
    om = {"Optics": {"AccelerationVoltage": "300000"}, "Stage": {"AlphaTilt": "0.5"}, "A.B": {"c": 2}}
    mapping = {
        "Optics.AccelerationVoltage": ("Acquisition_instrument.TEM.beam_energy", lambda x: float(x) / 1e3),
        "Stage.AlphaTilt": ("Acquisition_instrument.TEM.Stage.tilt_alpha", float),
        "Stage.Missing": ("Acquisition_instrument.TEM.Stage.x", None),  # absent tag: no key
        "A.B.c": ("Sample.thickness", None),  # a key holding a dot
        "Optics": ("Sample.description", lambda d: d.keys()[0]),  # a subtree: keys() is a list, as in HyperSpy
        "Stage": ("General.title", lambda d: 1 / 0),  # a failing function leaves its key out
    }
    md = apply_mapping({"Acquisition_instrument": {"TEM": {"microscope": "X"}}}, om, mapping)
    assert md["Acquisition_instrument"]["TEM"] == {"microscope": "X", "beam_energy": 300.0,
                                                   "Stage": {"tilt_alpha": 0.5}}
    assert md["Sample"] == {"thickness": 2, "description": "AccelerationVoltage"}
    assert "General" not in md


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EELS_SI.dm4", {"Acquisition_instrument.TEM.beam_energy": 200.0,
                         "Acquisition_instrument.TEM.convergence_angle": 21.0,
                         "Acquisition_instrument.TEM.Detector.EELS.collection_angle": 62.0,
                         "Acquisition_instrument.TEM.magnification": 225000.0}),
        ("test-EELS_spectrum.dm3", {"Acquisition_instrument.TEM.beam_energy": 200.0,
                                    "Acquisition_instrument.TEM.convergence_angle": 21.0,
                                    "Acquisition_instrument.TEM.magnification": 640000.0}),
        ("test-EDS_spectrum.dm3", {"Acquisition_instrument.TEM.beam_energy": 200.0,
                                   "Acquisition_instrument.TEM.magnification": 320000.0}),
    ],
)
def test_dm_mapping(real_dir, name, expected):
    s = em.load(real_dir / name)
    for path, value in expected.items():
        assert _get(s.metadata, path) == pytest.approx(value), path
    tem = s.metadata["Acquisition_instrument"]["TEM"]
    assert {"tilt_alpha", "x", "y", "z"} <= set(tem["Stage"])
    assert tem["acquisition_mode"] == "STEM"


def test_a_mapping_reads_tags_as_hyperspy_spells_them():
    """RosettaSciIO's mappings name tags as HyperSpy's browser spells them ("Number_of_frames"), and their functions
    read subtrees by those names, by dotted paths and as attributes (DM's exposure, microscope name)."""
    om = {"EELS": {"Acquisition": {"Exposure (s)": 0.5, "Number of frames": 4}},
          "Session Info": {"Microscope": "Titan"}, "Prism offset enabled ": 1}
    mapping = {
        "EELS.Acquisition.Number_of_frames": ("Detector.frames", None),
        "EELS.Acquisition": ("Detector.exposure", lambda t: t["Exposure_s"] * t["Number_of_frames"]
                             if "Exposure_s" in t.keys() and "Exposure_s" in t else None),
        "Session_Info": ("Detector.microscope", lambda t: t.Microscope),
        "EELS": ("Detector.dotted", lambda t: t.get("Acquisition.Exposure (s)")),
        "Prism_offset_enabled": ("Detector.prism", None),
    }
    md = apply_mapping({}, om, mapping)
    assert md["Detector"] == {"frames": 4, "exposure": 2.0, "microscope": "Titan", "dotted": 0.5, "prism": 1}


def test_dm_detector_tags_need_for_dose_and_quantification(real_dir):
    """Dwell time, live time, frames and aperture, which HyperSpy finds in the same files (they were left out: the
    mappings name them with underscores, and the functions read subtrees with dotted paths)."""
    eels = em.load(real_dir / "EELS_SI.dm4").metadata["Acquisition_instrument"]["TEM"]
    assert eels["microscope"] == "FEI Titan"
    assert eels["Detector"]["EELS"] == pytest.approx(
        {"collection_angle": 62.0, "dwell_time": 0.0199501246882793, "frame_number": 1, "aperture_size": 5.0,
         "spectrometer": "GIF Quantum ER"})
    spectrum = em.load(real_dir / "test-EELS_spectrum.dm3").metadata["Acquisition_instrument"]["TEM"]["Detector"]
    assert spectrum["EELS"]["exposure"] == pytest.approx(0.0035) and spectrum["EELS"]["frame_number"] == 50
    eds = em.load(real_dir / "test-EDS_spectrum.dm3").metadata["Acquisition_instrument"]["TEM"]["Detector"]["EDS"]
    assert eds == pytest.approx({"azimuth_angle": 45.0, "elevation_angle": 18.0, "live_time": 3.806,
                                 "real_time": 4.233})


def test_dm4_stage_tilt(real_dir):
    stage = em.load(real_dir / "EELS_SI.dm4").metadata["Acquisition_instrument"]["TEM"]["Stage"]
    assert stage["tilt_alpha"] == pytest.approx(0.00244, abs=1e-5)
    assert stage["x"] == pytest.approx(-0.308049)


def test_bcf_stage(real_dir):
    s = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", signal_type="EDS_SEM")
    sem = s.metadata["Acquisition_instrument"]["SEM"]
    assert sem["beam_energy"] == 20.0 and sem["magnification"] == pytest.approx(1819.22595)
    assert sem["Stage"]["x"] == pytest.approx(66940.81) and "rotation" in sem["Stage"]
    # the whole map's real time (RosettaSciIO's Bruker reader): a sum or a binning of its pixels keeps it (it read
    # 63 066 s, 17.5 h, summed, and 630.7 s binned 3 x 3)
    assert sem["Detector"]["EDS"]["real_time"] == pytest.approx(70.07298)
    for done in (s.sum(axis=(0, 1)), s.rebin([3, 3, 1])):
        assert done.metadata["Acquisition_instrument"]["SEM"]["Detector"]["EDS"]["real_time"] == pytest.approx(70.07298)


def test_velox_mapping(velox_emd):
    signals = em.load(velox_emd)
    eds = next(s for s in signals if s.signal_type == "EDS_TEM" and s.nav_ndim == 2)
    tem = eds.metadata["Acquisition_instrument"]["TEM"]
    assert tem["beam_energy"] == 300.0 and tem["magnification"] == 5000.0 and tem["microscope"] == "Titan"
    assert {"tilt_alpha", "tilt_beta", "x", "y", "z"} <= set(tem["Stage"])
    elements = eds.metadata["Sample"]["elements"]
    assert isinstance(elements, list) and elements and all(isinstance(e, str) for e in elements)
    # Velox gives no mapping for its EELS spectrum images; the file's instrument tags still apply to them
    for s in (s for s in signals if s.signal_type == "EELS"):
        tem = s.metadata["Acquisition_instrument"]["TEM"]
        assert tem["beam_energy"] == 300.0 and "Stage" in tem and "EDS" not in tem.get("Detector", {})


def test_velox_eels_angles(velox_emd):
    """RosettaSciIO's Velox mapping leaves out the probe's convergence angle (Optics.BeamConvergence, rad) and the
    spectrometer's collection angle (EnergyFilter.CollectionAngleRange, rad), which the file holds and HyperSpy's
    EELS tools read: in mrad now, the collection angle on the EELS signals only."""
    signals = em.load(velox_emd)
    for s in signals:
        tem = s.metadata["Acquisition_instrument"]["TEM"]
        assert tem["convergence_angle"] == pytest.approx(21.4338, abs=1e-4)
        eels = tem.get("Detector", {}).get("EELS", {})
        if s.signal_type == "EELS":
            assert eels["collection_angle"] == pytest.approx(3.34355, abs=1e-5)
        else:
            assert not eels
    assert key_metadata(signals[0].metadata)["TEM.Stage.tilt_alpha"] == "0 deg"  # -0.0 in the file


def test_original_filename_is_the_files_name_not_the_path_as_typed(velox_emd, real_dir, monkeypatch):
    """Velox recorded the path as typed ('../real/x.emd', in a report '/tmp/.../recipes/../real/...'); DM and
    HyperSpy record the base name."""
    monkeypatch.chdir(velox_emd.parent)
    (velox_emd.parent / "sub").mkdir(exist_ok=True)
    typed = f"sub/../{velox_emd.name}"
    for s in em.load(typed):
        assert s.metadata["General"]["original_filename"] == velox_emd.name
    assert em.load(real_dir / "EELS_SI.dm4").metadata["General"]["original_filename"] == "EELS_SI.dm4"


def test_signal_from_dict_is_lazy_when_asked_even_from_numpy():
    """A reader that gives numpy for lazy=True (Velox EELS, the BCF image) gave an eager signal: now dask."""
    import numpy as np

    from emscale.core.signal import default_chunks
    from emscale.io.vendor import signal_from_dict

    data = np.arange(4 * 3 * 8, dtype=np.uint16).reshape(4, 3, 8)
    axes = [{"name": n, "size": k, "scale": 1.0, "offset": 0.0, "units": "", "navigate": nav}
            for n, k, nav in (("y", 4, True), ("x", 3, True), ("E", 8, False))]
    d = {"data": data, "axes": axes, "metadata": {"Signal": {"signal_type": "EELS"}}}
    assert not signal_from_dict(d).is_lazy
    s = signal_from_dict(d, lazy=True)
    assert s.is_lazy and s.data.chunksize == default_chunks((4, 3, 8), np.uint16, 2) == (4, 3, 8)
    assert s.to_numpy().dtype == np.uint16 and np.array_equal(s.to_numpy(), data)


def test_axes_that_share_a_name_are_renamed_with_a_warning_naming_the_file(tmp_path, monkeypatch):
    """An .hspy whose axes are all named 'E' (HyperSpy reads it) was refused with "reader output does not form a
    valid signal: axis names must be unique; repeated: ['E']", naming no file."""
    import re

    import numpy as np
    from rsciio.hspy import file_writer

    path = tmp_path / "same.hspy"
    data = np.arange(24.0).reshape(2, 3, 4)
    axes = [{"name": "E", "size": 2, "navigate": True}, {"name": "E", "size": 3, "navigate": True, "scale": 2.0},
            {"name": "E", "size": 4, "navigate": False, "units": "eV"}]
    file_writer(str(path), {"data": data, "axes": axes, "metadata": {"General": {"title": "t"}},
                            "original_metadata": {}, "attributes": {"_lazy": False}, "tmp_parameters": {},
                            "package_info": {"name": "test", "version": "0"}, "learning_results": {}, "models": {}})
    with pytest.warns(UserWarning, match=re.escape(f"{path}: axes share a name, which emscale's axes may not (they are "
                                                   "picked by name); renamed 'E' (navigation, size 3) as 'E_2', 'E' "
                                                   "(signal, size 4) as 'E_3'")):
        s = em.load(path)
    assert [(a.name, a.size, a.scale) for a in s.axes] == [("E", 2, 1.0), ("E_2", 3, 2.0), ("E_3", 4, 1.0)]
    np.testing.assert_array_equal(s.data, data)
    # any other refusal of what a reader gave names the file too
    two = [{"name": "y"}, {"name": "x"}]
    monkeypatch.setattr("emscale.io.vendor.read_vendor", lambda p, lazy=False: [{"data": data, "axes": two}])
    with pytest.raises(em.FileFormatError, match=re.escape(f"{path}: reader gave 2 axes for data of shape (2, 3, 4)")):
        em.load(path)


def _stack_dict(tilts, frames=3):
    """A reader's dictionary of a ``frames``-frame stack whose FEI-like header holds ``len(tilts)`` records."""
    axes = [{"name": "tilt", "size": frames, "navigate": True}, {"name": "y", "size": 4, "navigate": False},
            {"name": "x", "size": 4, "navigate": False}]
    return {"data": np.zeros((frames, 4, 4)), "axes": axes, "metadata": {},
            "original_metadata": {"fei_header": {"a_tilt": np.asarray(tilts, dtype=np.float32)}},
            "mapping": {"fei_header.a_tilt": ("Acquisition_instrument.TEM.Stage.tilt_alpha", None)}}


def test_per_frame_lists_are_cut_to_the_frames():
    """An MRC's FEI extended header has 1024 records whatever the frames: the real tilt series' 77 angles came with
    947 zeros of padding in every per-frame list (review rev54)."""
    s = signal_from_dict(_stack_dict([-60.0, 0.0, 60.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert s.metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] == [-60.0, 0.0, 60.0]  # had 8
    assert len(s.original_metadata["fei_header"]["a_tilt"]) == 8  # the file's header as it is
    # values past the frames are no padding: the header says more than the data hold, kept as the file has it
    odd = signal_from_dict(_stack_dict([-60.0, 0.0, 60.0, 5.0, 0.0]))
    assert odd.metadata["Acquisition_instrument"]["TEM"]["Stage"]["tilt_alpha"] == [-60.0, 0.0, 60.0, 5.0, 0.0]


def test_the_real_tilt_series_lists_one_value_a_frame(real_dir):
    s = em.load(real_dir / "tomography" / "HAADF.mrc")
    tem = s.metadata["Acquisition_instrument"]["TEM"]
    angles = tem["Stage"]["tilt_alpha"]
    assert len(angles) == s.axes[0].size == 77  # was 1024: the angles, then zeros
    assert angles[0] == -76.0 and angles[-1] == 76.0 and np.all(np.diff(angles) == 2.0)
    for values in (tem["Stage"]["tilt_beta"], tem["Stage"]["x"], tem["magnification"],
                   tem["Detector"]["Camera"]["exposure"]):
        assert len(values) == 77
    assert tem["magnification"][0] == 115000.0
