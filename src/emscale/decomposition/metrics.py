"""How close a separation is to a reference: the spectral-angle and phase-map-agreement metrics of emscale (demo
reports, spectral tomography, tests and benchmarks use them)."""

from __future__ import annotations

import numpy as np


def spectral_angle(a: np.ndarray, b: np.ndarray) -> float:
    """The angle (degrees) between two spectra."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def spectral_angles(found: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles (degrees) between each true spectrum and its best-matched found one (Hungarian matching on the
    angles, one-to-one).

    Parameters
    ----------
    found : (n_found, channels) recovered spectra (rows).
    true : (n_true, channels) reference spectra (rows).

    Returns
    -------
    angles : (n_true,) degrees; NaN for a true spectrum left unmatched (fewer found than true).
    match : (n_true,) index of the matched found spectrum; -1 where unmatched.

    Example
    -------
    >>> angles, match = spectral_angles(d.factors_array.T, true_spectra)
    """
    from scipy.optimize import linear_sum_assignment

    f = np.asarray(found, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(t @ f.T, -1.0, 1.0)))
    rows, cols = linear_sum_assignment(ang)
    out = np.full(len(t), np.nan)
    match = np.full(len(t), -1)
    out[rows] = ang[rows, cols]
    match[rows] = cols
    return out, match


def label_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels with the same label in two phase maps after the best one-to-one matching of their labels
    (Hungarian on the confusion matrix); labels are non-negative integers, the maps of the same shape."""
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    confusion = np.zeros((int(a.max()) + 1, int(b.max()) + 1))
    np.add.at(confusion, (a, b), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / a.size)
