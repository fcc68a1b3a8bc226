"""Resolve the rotational ambiguity of a non-negative factorisation by pure pixels.

``X ~= W H`` and ``X ~= (W M^-1) (M H)`` fit equally well for any invertible ``M`` that keeps both factors
non-negative. When spectra share a component (an EDS bremsstrahlung, a line present in two phases) such ``M``
exist near the identity, and an NMF or MCR-ALS solver drifts along that family towards mixed spectra while fitting
the noise (on the demo's EDS sample KL-NMF ended 11-13 degrees from the true SiO2 spectrum at a *lower* loss than
the truth). The family has one member whose loadings are pure (one non-zero) at the pure pixels of every
component; it is also the member with the smallest spectral simplex (the minimum-volume solution), and it is the
physical one when each phase is present pure somewhere in the scan.

:func:`pure_pixel_rotation` picks that member given, for each component, a group of pixels believed pure (found
in the PCA subspace by :func:`.vca.vertex_neighbourhoods`): row ``c`` of ``M`` is the summed loadings of group
``c``, so ``W M^-1`` maps the group's pixels onto the unit vector ``e_c`` and ``M H`` holds the factorisation's
own model of each group's summed spectrum. Small negative loadings (noise around the simplex edges) are clipped
to zero; the caller refits the loadings with the spectra fixed.
"""

from __future__ import annotations

import numpy as np

MAX_CONDITION = 1e8  # a rotation this ill-conditioned means two groups sit on the same vertex: leave W, H alone


def pure_pixel_rotation(w: np.ndarray, h: np.ndarray, groups, floor: float = 0.0):
    """``(W M^-1 clipped at floor, M H, M)`` for pixel-index groups (one per component), or ``None`` when the
    groups do not define an invertible rotation (fewer groups than components, or two groups on one vertex)."""
    k = w.shape[1]
    if len(groups) != k or any(len(g) == 0 for g in groups):
        return None
    m = np.stack([w[np.asarray(g)].sum(axis=0) for g in groups])  # (k groups, k components)
    m /= np.maximum(m.sum(axis=1, keepdims=True), 1e-300)
    if not np.all(np.isfinite(m)) or np.linalg.cond(m) > MAX_CONDITION:
        return None
    w_new = np.maximum(w @ np.linalg.inv(m), floor)
    h_new = np.maximum(m @ h, 0.0)
    return w_new, h_new, m
