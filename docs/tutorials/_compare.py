"""Helpers of the signal-separation tutorials: how close recovered spectra are to the true ones."""

from __future__ import annotations

import numpy as np


def spectral_angles(factors, truth: dict) -> dict:
    """For each true spectrum, the smallest angle (degrees) to any recovered factor (columns of ``factors``)."""
    f = np.asarray(factors, dtype=np.float64)
    f = f / np.linalg.norm(f, axis=0, keepdims=True)
    out = {}
    for name, spectrum in truth.items():
        c = np.asarray(spectrum, dtype=np.float64)
        cos = np.clip(f.T @ (c / np.linalg.norm(c)), -1.0, 1.0)
        out[name] = round(float(np.degrees(np.arccos(np.abs(cos))).min()), 1)
    return out
