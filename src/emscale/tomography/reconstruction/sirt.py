"""SIRT: ``x <- P_+(x + C A^T R (b - A x))`` with ``R = 1 / (A 1)`` (row sums), ``C = 1 / (A^T 1)`` (column sums).

The update is a preconditioned gradient step on ``||b - A x||^2_R`` that converges to the ``R``-weighted least
squares solution; ``P_+`` clips at zero when ``nonnegative`` (the projection of projected SIRT). Rows/columns
with zero sum (rays missing the slice, pixels seen by no ray) get zero weight. Starts from zero.

References
----------
J. Gregor and T. Benson, "Computational analysis and improvement of SIRT", IEEE Trans. Med. Imaging 27 (2008)
918-924; the ASTRA toolbox's ``SIRT`` (van Aarle et al., Ultramicroscopy 157 (2015) 35-47).
"""

from __future__ import annotations

import numpy as np

from ...engine import check_stop
from ..projector import Projector

N_ITER = 100  # the default number of iterations


def _inverse(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    np.divide(1.0, x, out=out, where=x > 1e-6)
    return out


def sirt(A: Projector, sino: np.ndarray, n_iter: int = N_ITER, nonnegative: bool = True, **_unused) -> np.ndarray:
    """SIRT of sinograms ``(n_slices, n_angles, n_det)`` -> slices ``(n_slices, nz, nw)`` float32.

    Parameters
    ----------
    A : the projector.
    sino : line integrals in pixel units.
    n_iter : iterations (one forward and one back-projection each).
    nonnegative : clip the estimate at zero after every update.

    Example
    -------
    >>> rec = sirt(A, sino, n_iter=100)
    """
    from .._kernels import to_first  # numba loads on first use, not on import

    x, step = iteration(A, sino, nonnegative)
    for _ in range(int(n_iter)):
        check_stop()  # a pass given up (Ctrl-C, SIGTERM) ends here, not after every iteration of the partition
        step()
    return to_first(x)


def iteration(A: Projector, sino: np.ndarray, nonnegative: bool = True):
    """The start ``x`` (zero, slices last: ``(nz, nw, n_slices)``) and ``step()``, one SIRT update of ``x`` in
    place, for who follows the estimate iteration by iteration (:mod:`..sirtiterations`). ``step(ax)``: with
    ``A x`` (slices last) computed already, by a caller that projects several estimates at once."""
    from .._kernels import to_last

    g = A.geometry
    R = _inverse(A.forward(np.ones(g.vol_shape, np.float32)))[:, :, None]
    C = _inverse(A.adjoint(np.ones(g.sino_shape, np.float32)))[:, :, None]
    # slices last between iterations: the projector's compiled layout, no transposes per iteration
    b = to_last(np.asarray(sino, np.float32))
    x = np.zeros(g.vol_shape + (b.shape[2],), np.float32)

    def step(ax=None):
        nonlocal x  # updated in place: += on the array, as before
        r = b - (A.forward_last(x) if ax is None else ax)
        r *= R
        x += C * A.adjoint_last(r)
        if nonnegative:
            np.maximum(x, 0.0, out=x)

    return x, step
