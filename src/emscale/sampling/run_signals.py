"""The results of a sampling run as Signals on the scan's calibrated axes: recorded steps on the run's result, so
that a run's image or phase map goes on through the rest of the library (inpainting, plotting, saving) with its
calibration and its history (the decomposition results' accessors do the same)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.axes import Axis
from ..core.registry import operation
from ..core.signal import Signal, measured_info, store_measured_mask
from .autonomous import AutonomousResult
from .slads import SladsResult

__all__ = ["phase_spectra", "phases", "slads_image"]


def _image_axes(result) -> list[Axis]:
    return [replace(a, navigate=False) for a in result.scan_axes()]


def _with_scan(out: Signal, measured: np.ndarray, how: str) -> Signal:
    # a value at every position: recorded as a reconstruction of the measured positions, not as a sparse scan
    store_measured_mask(out, measured, pattern=how, reconstruction=how, **measured_info(measured))
    return out


@operation("image", on=SladsResult, method="property")
def slads_image(r: SladsResult) -> Signal:
    """The run's reconstruction as an image Signal on the scan's calibrated axes; its measured positions in
    ``metadata["Sampling"]`` (:func:`emscale.sampling.scan_mask` reads them)."""
    out = Signal(np.asarray(r.reconstruction), axes=_image_axes(r), signal_type="image", history=list(r.history),
                 title="dynamic sampling reconstruction")
    return _with_scan(out, np.asarray(r.mask, bool), "dynamic_sampling")


@operation("phases", on=AutonomousResult, method="property")
def phases(r: AutonomousResult) -> Signal:
    """The run's phase map (the phase of every scan position, measured or inferred; -1 before the first map) as an
    image Signal on the scan's calibrated axes; the measured positions in ``metadata["Sampling"]``."""
    out = Signal(np.asarray(r.phase_map), axes=_image_axes(r), signal_type="image", history=list(r.history),
                 title="autonomous spectrum imaging phases")
    out.metadata.setdefault("Signal", {})["quantity"] = "Phase"
    return _with_scan(out, np.asarray(r.order) >= 0, "autonomous_spectrum_imaging")


@operation("phase_spectra", on=AutonomousResult, method="property")
def phase_spectra(r: AutonomousResult) -> Signal:
    """The mean model spectrum of each phase, along navigation axis ``phase``, on a spectrum's calibrated axes."""
    spectra = np.asarray(r.spectra)
    sig = r.measurement_axes()
    if [a.size for a in sig] != list(spectra.shape[1:]):  # a run saved before results kept the axes
        sig = [Axis(name=f"signal{i}", size=int(n), navigate=False) for i, n in enumerate(spectra.shape[1:])]
    axes = [Axis(name="phase", size=int(spectra.shape[0]), navigate=True)] + [replace(a, navigate=False) for a in sig]
    return Signal(spectra, axes=axes, history=list(r.history), title="autonomous spectrum imaging phase spectra")
