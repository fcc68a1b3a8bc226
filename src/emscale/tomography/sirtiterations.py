"""SIRT's iterations chosen from the data: hold out some projections and stop where they are predicted best.

SIRT's iterations are its regularisation, and a fixed count cannot suit every series: 100 iterations (the former
default) left clean data far from converged -- a bcc lattice at +-65 deg traced 30 % of its light atoms, 97 % at
200 and all at 400; a 127-pixel detector's volume was worse than FBP's -- while on noisy data the iterations go on
to fit the noise (semi-convergence: a smooth object at 20 counts per unit, +-90 deg, 64 px: 0.12 relative error at
100 iterations, 0.055 at 21, 0.25 at 800). So ``n_iter="auto"`` reconstructs a few slices
(:func:`.tvweight.held_out`) from every other projection and follows the misfit on the projections left out
(and the other way round; quarters on a series of fewer than ``SHORT`` tilts), iteration by iteration: noise cannot
be predicted from other projections, so that misfit falls while the iterations recover the object and rises once
they fit noise. The count where it is smallest, times ``FOLD_SCALE``, at most ``MOST``, is used for the whole
series: one count, fixed before the slices are solved, so every partition and executor gives the same bits, and a
replay chooses the same count again. Where the series is too short to hold projections out, or the slices hold no
signal, the former default (100) is used; the record says which path ran and why.

The folds lose half the projections, and their best count is lower than the full series': on 2D phantoms
(smooth blobs, constant-density particles, atom lattices with light atoms; 32-96 px; noise-free, 200 and 20 counts
per unit; +-60, +-70, +-90 deg, 2 deg steps; 61 cases) it was below the full series' best count in 19 of the 28
cases that stopped before the cap. Unscaled and scaled by 1.25 the count did alike there (errors on average 1.6 %
and 1.8 % above the best count's up to 500; one case 4 % worse than 100 iterations' each: smooth, +-60 deg, 20
counts), and 52 and 51 cases were better than 100 iterations' by more than 5 %; on 3D ellipsoids (32 px, +-70 deg) at 5
counts per unit the unscaled count (48) was 4 % worse than 100 iterations, the scaled one (60) 1.4 %: so scaled
(by 1.5 or 2: more cases worse). A stopping rule on the full data's own misfit (stop once an iteration lowers it by
less than 0.1 %) was tried first: on smooth objects at low dose the misfit goes on falling
while the noise is fitted, and it stopped at 100-135 iterations where 20-50 were best (worse than the old default).

On clean data the held-out misfit never turns up: it falls ever more slowly, and following it to its smallest
value ran every clean series to the cap -- the real HAADF series (binned 4 x 4) 500 iterations, 18.9 s against 2.2 s
at 100, for a projection misfit of 0.0362 against 0.0386 (0.0367 at 200). So the search also ends where more
iterations no longer pay: once the held-out misfit has fallen by less than ``SETTLED`` of itself per iteration over
the last ``WINDOW`` iterations, that count is taken as the folds' best (x ``FOLD_SCALE`` as above). On the 61 cases
(the hold-out curves as recorded, the errors after each iteration up to 800) a fall of less than 1e-4 per
iteration (averaged over 10) kept the chosen counts' errors on average 2.5 % above the best count's up to 500
(1.8 % without it), none worse than 100 iterations' by more than 3.0 % (4.6 % without it); the phantoms' noise-free
series still fall faster than that at 500 (their errors do too: 0.20 at 200, 0.13 at 500 for a lattice) and run
to the cap. 3e-4 gave 4.6 % on average, 3e-5 2.0 % with hardly a count changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import check_stop
from .geometry import ParallelGeometry
from .projector import Projector
from .reconstruction.sirt import N_ITER, iteration
from .tvweight import folds_said, held_out, subset, too_few_tilts

AUTO = "auto"
# the cap: clean data go on improving slowly (the missing wedge's directions); 500 iterations are 5 x the former
# default's time and had most of the gain (bcc lattice +-65 deg: every light atom traced at 400)
MOST = 500
FOLD_SCALE = 1.25  # the folds' best count to the full series' (see above)
# the search ends once the held-out misfit fell by less than SETTLED of itself per iteration over the last WINDOW
# iterations: where it rose (the folds fit noise) or levelled off (more iterations no longer pay; see above)
SETTLED = 1e-4
WINDOW = 10
N_SLICES = 4  # slices reconstructed per fold
FALLBACK = N_ITER  # the former fixed default: used only where the data give nothing to choose with


@dataclass(frozen=True)
class SirtIterations:
    """The iterations a SIRT reconstruction runs and why; :meth:`record` is what the volume's metadata keeps."""

    n_iter: int
    path: str  # "hold-out" (the misfit rose after its best), "settled" (it levelled off), "cap" or "fallback"
    why: str
    slices: tuple[int, ...] = ()
    misfit: tuple[float, ...] = ()  # held-out relative misfit after 0, 1, 2, ... iterations (all folds)

    def record(self) -> dict:
        out = {"value": self.n_iter, "path": self.path, "why": self.why}
        if self.slices:
            out["slices"] = list(self.slices)
        if self.misfit:
            best = int(np.argmin(self.misfit[1:])) + 1
            out |= {"held_out_best": best, "held_out_misfit": self.misfit[best],
                    "followed_to": len(self.misfit) - 1, "most": MOST, "settled_below": SETTLED, "window": WINDOW}
        return out


def choose_sirt_iterations(sinograms, geom: ParallelGeometry, nonnegative: bool = True,
                           backend: str = "auto") -> SirtIterations:
    """The SIRT iterations whose reconstruction from the other projections best predicts each held-out fold.

    Parameters
    ----------
    sinograms : slice-first ``(n_slices, n_tilts, n_det)`` (numpy, dask or zarr); only ``N_SLICES`` are read.
    geom : the series' geometry (thickness and axis shift are kept for the folds).
    nonnegative, backend : as the full reconstruction runs.
    """
    if said := too_few_tilts(geom.n_angles):
        return SirtIterations(FALLBACK, "fallback", said)
    rows, b, folds = held_out(sinograms, geom, N_SLICES)
    curve = _held_out_misfit(b, geom, folds, nonnegative, backend)
    if not (np.all(np.isfinite(curve)) and curve[0] > 0):
        return SirtIterations(FALLBACK, "fallback", f"the slices {rows} hold no signal to score the iterations "
                                                    "with; the former default is used", tuple(rows))
    curve = curve / curve[0]
    best = int(np.argmin(curve[1:])) + 1
    n = min(MOST, int(round(FOLD_SCALE * best)))
    held = folds_said(folds)
    kept = dict(slices=tuple(rows), misfit=tuple(float(m) for m in curve))
    if best >= MOST:
        return SirtIterations(n, "cap", f"the misfit on the held-out {held} of slices {rows} still fell at "
                                        f"{MOST} iterations, the most run (clean data)", **kept)
    if best == len(curve) - 1:  # still falling where the search ended: it levelled off
        said = (f"the misfit on the held-out {held} of slices {rows} fell by less than {SETTLED:g} of itself per "
                f"iteration over the {WINDOW} up to {best} (more no longer pay)")
        path = "settled"
    else:
        said, path = f"smallest misfit on the held-out {held}, slices {rows}, after {best} iterations", "hold-out"
    if n == MOST:  # x FOLD_SCALE passed the cap: said as the cap (a code review: 'hold-out ... x 1.25' ran 500)
        return SirtIterations(n, "cap", f"{said}; x {FOLD_SCALE} for the whole series, capped at {MOST}", **kept)
    return SirtIterations(n, path, f"{said}; x {FOLD_SCALE} for the whole series", **kept)


def _held_out_misfit(b: np.ndarray, geom: ParallelGeometry, folds, nonnegative: bool, backend: str) -> np.ndarray:
    """The held-out misfit ``sqrt(sum ||b_test - A_test x_train||^2)`` over the ``folds`` (``(test, train)`` tilt
    indices, :func:`.tvweight.held_out`) and the slices ``b``, after 0, 1, 2, ... SIRT iterations, until it fell by
    less than ``WINDOW * SETTLED`` of itself over the last ``WINDOW`` iterations (or rose), or ``MOST``."""
    from ._kernels import to_last  # numba loads on first use, not on import (as reconstruction.sirt)

    runs = []
    for test, train in folds:
        a_train = Projector(subset(geom, train), backend)
        x, step = iteration(a_train, b[:, train], nonnegative)
        runs.append((x, step, a_train, Projector(subset(geom, test), backend), to_last(b[:, test]), test, train))
    together = _together(geom, runs, backend)
    curve = []
    for i in range(MOST + 1):
        check_stop()
        total = 0.0
        ax = None if together is None else together.forward_last(np.concatenate([run[0] for run in runs], axis=2))
        for f, (x, step, _, a_test, b_test, test, train) in enumerate(runs):
            mine = None if ax is None else ax[:, :, f * x.shape[2]:(f + 1) * x.shape[2]]
            r = b_test - (a_test.forward_last(x) if mine is None else mine[test])
            total += float(np.einsum("ijk,ijk->", r, r, dtype=np.float64))
            if i < MOST:
                step(None if mine is None else np.ascontiguousarray(mine[train]))
        curve.append(np.sqrt(total))
        if i >= WINDOW and curve[i - WINDOW] - curve[i] < WINDOW * SETTLED * curve[i - WINDOW]:
            break
    return np.array(curve)


def _together(geom: ParallelGeometry, runs, backend: str) -> Projector | None:
    """The whole series' projector, which projects every fold's estimate onto its training and its held-out tilts
    in one call, where it holds each fold's own projectors' numbers (cosines, sines, the row-or-column choice and
    the detector centre, angle for angle); else None, and each fold projects on its own.

    The projector's work per ray is shared by the slices of a call and each tilt is projected on its own, so the
    folds' estimates stacked (2 x 4 slices) are one call over the series' tilts, with the same numbers, in place of
    two per fold over parts of them: on clean data, where the folds run to the cap of 500 iterations, the hold-out
    was as long as the whole series' 500 iterations (the real series binned 4 x 4: 14.7 s against 7.3 s, the code
    review). Measured on a clean 48^3 phantom, 71 tilts (cProfile, a loaded machine): the forward projections 5.7 ->
    3.4 s, the search's kernels 9.0 -> 7.0 s; the back-projections (3.4-3.6 s) stay one per fold, each over its own
    tilts (over the whole series' they would sum the folds' zeros, in another order: other bits)."""
    full = Projector(geom, backend)
    if full.backend != "numba":  # the numpy projector loops over slices: nothing shared
        return None
    for _, _, a_train, a_test, _, test, train in runs:
        for a, idx in ((a_train, train), (a_test, test)):
            g = a.geometry  # what a projector's kernels read of it (cast to float64 there: equal here, equal there)
            if not (np.array_equal(g.cos_, geom.cos_[idx]) and np.array_equal(g.sin_, geom.sin_[idx])
                    and np.array_equal(g.rows, geom.rows[idx]) and g.det_centre == geom.det_centre):
                return None
    return full
