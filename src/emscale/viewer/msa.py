"""The EMSA/MAS (ISO 22029) header keywords of a spectrum the viewer exports: its signal type and acquisition.

The page writes the file (``spectrumMSA`` in ``static/viewer.js``); what its header says of the acquisition is
decided here, from HyperSpy's metadata places (``Acquisition_instrument.{TEM,SEM}...``), which RosettaSciIO's msa
reader maps the keywords back to. The units are the standard's, which are HyperSpy's: BEAMKV in kV (``beam_energy``
in keV), CONVANGLE and COLLANGLE in mrad, ELEVANGLE and AZIMANGLE in degrees, LIVETIME and REALTIME in seconds.
"""

from __future__ import annotations

from ..core.signal import Signal, acquisition_value

# The EMSA codes of the signal types that start with these (EDS_SEM, EDS_TEM; CL_SEM): "EELS" and "CL", as written
# before, are no codes, and HyperSpy read them back as a plain Signal1D.
SIGNAL_TYPES = {"EDS": "EDS", "EELS": "ELS", "CL": "CLS"}

# keyword: its place under Acquisition_instrument.{TEM,SEM}, and the only code whose spectrum it describes (None:
# any); an EELS signal's metadata may hold the EDS detector recorded alongside, whose angles and times are not the
# EELS spectrum's. EELS times (INTEGTIME, DWELLTIME) are left out: RosettaSciIO reads those millisecond keywords into
# HyperSpy's places in seconds unconverted, 1000 times too long.
KEYWORDS = {
    "BEAMKV": (("beam_energy",), None),
    "CONVANGLE": (("convergence_angle",), None),
    "COLLANGLE": (("Detector", "EELS", "collection_angle"), "ELS"),
    "ELEVANGLE": (("Detector", "EDS", "elevation_angle"), "EDS"),
    "AZIMANGLE": (("Detector", "EDS", "azimuth_angle"), "EDS"),
    "LIVETIME": (("Detector", "EDS", "live_time"), "EDS"),
    "REALTIME": (("Detector", "EDS", "real_time"), "EDS"),
}


def msa_keywords(signal: Signal, pixels: int = 1) -> dict:
    """The SIGNALTYPE and acquisition keywords of a spectrum of ``signal``: one pixel's, or the sum of ``pixels``.

    Parameters
    ----------
    signal : the signal the viewer shows (a spectrum image, a line scan or one spectrum).
    pixels : how many pixels were summed into the spectrum. The live time is per pixel, so a sum of n pixels was
        counted for n times as long (as :func:`~emscale.core.signal.scale_counting_times` scales it for sums).

    Returns
    -------
    dict
        Keyword to value, only those the metadata give; no SIGNALTYPE for a signal type EMSA has no code for.
    """
    signal_type = str(signal.signal_type or "").upper()
    code = next((c for prefix, c in SIGNAL_TYPES.items() if signal_type.startswith(prefix)), None)
    out = {} if code is None else {"SIGNALTYPE": code}
    for keyword, (path, only) in KEYWORDS.items():
        if only not in (None, code):
            continue
        value = acquisition_value(signal.metadata, *path, signal_type=signal.signal_type)
        if value is not None:
            out[keyword] = value
    if "LIVETIME" in out:
        out["LIVETIME"] *= pixels
    # a map's real time is not a pixel's: RosettaSciIO's Bruker reader gives the whole map's (70 s for 900 pixels)
    if signal.nav_ndim:
        out.pop("REALTIME", None)
    return out
