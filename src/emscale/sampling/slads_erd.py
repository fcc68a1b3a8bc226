"""The ERD map of a SLADS scan: the model's prediction at every unmeasured pixel, kept up to date step by step.

After each batch the pixels whose features changed (:meth:`.NeighbourState.add`: those near the new
measurements) are re-predicted at once. The one non-local feature, ``pdev`` (the disagreement with the periodic
estimate of a lattice, :mod:`.slads_periodic`), changes at every unmeasured pixel when that estimate is
refreshed. Re-predicting every pixel at the refresh is what made those steps slow (a 512 x 512 lattice: ~250 000
pixels, 105-180 ms against a median step of 9-40 ms), so that re-prediction is spread over the ``S`` steps that
start at the refresh. The pixels whose ``pdev`` moved are *stale*: their stored ``pdev`` and their ERD are still
the previous estimate's, so that an ERD is at all times the model's prediction of the stored features.

The cadence follows the scan. A refresh re-predicts every unmeasured pixel once, work in proportion to the scan,
and spreading it only moves that work between steps; what a step can afford is ``B = REFRESH_PIXELS`` pixels
(32 768, ~5 ms of perceptron on the benchmark's machine). So the estimate is refreshed once ``C`` batches have
passed since the last refresh (and the measurements have grown by ``PERIODIC_GROWTH``), with

    C = max(PERIODIC_STEPS, ceil(u / B)),    u: unmeasured pixels at the last refresh,

and its re-prediction is spread over ``S = C`` steps. A scan with up to ``4 B`` unmeasured pixels (362 x 362)
is refreshed every ``PERIODIC_STEPS = 4`` batches, as before; a 512 x 512 scan every 8 at 2 % measured, every 6
at 30 %. With ``m_j`` stale pixels left, the ``j``-th step from the refresh (``j = 0 .. S-1``) brings up to
date and re-predicts

* ``j = 0`` (the refresh step, which also computed the estimate): all ``m_0`` if ``m_0 <= B``, else ``B / 4``;
* ``j >= 1``: ``max(ceil(m_j / (S - j)), B)`` (all, if fewer are left);

the stale pixels of largest stale ERD first (ties in the partition's deterministic order), besides the pixels
its batch changed. A scan of up to ``B`` unmeasured pixels (about 180 x 180) is re-predicted whole at the
refresh.

Measured (CPU time per decision, benchmark's 512 x 512 lattice at 2-5 % measured, one run each, idle machine):
refreshing every 4 batches over 4 steps with ``B = 65 536`` (the code before), median 44.3 ms, max 55.5 ms; every
6 over 6 (``B`` 40 000), 37.3 / 50.2 ms; every 8 over 8 (32 768), 34.8 / 47.4 ms. A fixed cadence of 8 on every
scan cost the small lattices of ``bench_dynamic_sampling.py`` 0.04-0.23 dB at 20 % measured, where a refresh is
cheap; hence the cadence by scan size.

Largest stale ERD first, because the batch is chosen among the largest ERDs and a refresh moves them little:
measured with the earlier constants on the benchmark's 512 x 512 lattice (every other refresh at 2-25 %), the
batch chosen right after a refresh with the top 16 384 stale pixels re-predicted was the full re-prediction's
batch at most refreshes and differed in 0-6 of 262 positions at the others but one (25), with the top 65 536 in
at most 1 (with none re-predicted: 105-238 of 262 differed; with an interleaved quarter of the pixels: 116-201).

Which pixels are re-predicted depends on the step count, the measurements and the ERDs only (never on time or
threads), so a run is the same on rerun. Since ``S <= C``, the stale pixels are all re-predicted before the next
refresh: ``S`` steps after a refresh, every unmeasured pixel's ``pdev`` is the current estimate's and its ERD
the model's prediction of its current features.
"""

from __future__ import annotations

import numpy as np

from .slads_features import NeighbourState
from .slads_model import ERDModel

# The periodic estimate is refreshed every C = max(PERIODIC_STEPS, ceil(unmeasured / REFRESH_PIXELS)) batches at
# the earliest, and only once the measurements grew by PERIODIC_GROWTH since the last one; its re-prediction is
# spread over REFRESH_SPREAD steps (None: C).
PERIODIC_STEPS = 4
PERIODIC_GROWTH = 1.03
REFRESH_SPREAD = None
REFRESH_PIXELS = 32768  # what a step re-predicts at least (all, if fewer stale); the refresh step B/4


class ERDMap:
    """The predicted ERD of every pixel of a scan (``-inf`` where measured), updated after each batch.

    Parameters
    ----------
    model : the ERD model.
    state : the scan's :class:`.NeighbourState` (its first measurements taken); the map reads its features and
        refreshes its periodic estimate.
    spread : steps over which a refresh's re-prediction is spread (``None``: ``REFRESH_SPREAD``, whose ``None``
        is the cadence ``C``; 1: all at the refresh step), at most ``PERIODIC_STEPS``.
    min_pixels : ``B``, stale pixels a step re-predicts at least (``None``: ``REFRESH_PIXELS``); with more stale
        pixels than that, the refresh step itself (which also computes the estimate) re-predicts a quarter of it.
        The cadence ``C`` is set by ``REFRESH_PIXELS`` in any case (module docstring).

    Attributes
    ----------
    erd : (n_pixels,) float64, the ERD the next batch is chosen by.
    stale : (n_pixels,) bool, unmeasured pixels whose ``pdev`` moved at the last refresh and whose stored ``pdev``
        and ERD are still the ones before it (none ``spread`` steps after a refresh); every unmeasured pixel's ERD
        is at all times the model's prediction of its stored features.
    predicted : pixels re-predicted by the last :meth:`update`.
    cadence : ``C``, batches from the last refresh to the next one at the earliest.
    """

    def __init__(self, model: ERDModel, state: NeighbourState, spread: int | None = None,
                 min_pixels: int | None = None):
        s = REFRESH_SPREAD if spread is None else int(spread)
        if s is not None and not 1 <= s <= PERIODIC_STEPS:
            raise ValueError(f"spread must be in 1..{PERIODIC_STEPS} (PERIODIC_STEPS), got {spread}")
        self.min_pixels = REFRESH_PIXELS if min_pixels is None else int(min_pixels)
        if self.min_pixels < 1:
            raise ValueError(f"min_pixels must be at least 1, got {min_pixels}")
        self.model, self.state, self._spread_asked = model, state, s
        n = state.measured.size
        self.erd = np.full(n, -np.inf)
        u = np.flatnonzero(~state.measured)
        self._pace(u.size)
        self.erd[u] = model.predict(state.features[u])
        self.stale = np.zeros(n, dtype=bool)
        self.predicted = u
        self._step = 0
        self._phase = self.spread  # steps of the last refresh's spread done so far (spread: none pending)
        self._last = (0, int(state.measured.sum()))  # (step, positions measured) of the last periodic estimate

    def update(self, new: np.ndarray, changed: np.ndarray) -> None:
        """After the batch ``new`` was added to the state (``changed``: what :meth:`.NeighbourState.add`
        returned): refresh the periodic estimate if due, re-predict the changed pixels and the stale ones due."""
        st = self.state
        self._step += 1
        count = int(st.measured.sum())
        if self._step - self._last[0] >= self.cadence and count >= PERIODIC_GROWTH * self._last[1]:
            moved = st.refresh_periodic(pdev=False)  # every unmeasured pixel where a lattice is found, or none
            self._last = (self._step, count)
            self._pace(st.measured.size - count)
            self._phase = 0 if moved.size else self.spread
            self.stale[moved] = True
        self.stale[new] = False
        fresh = changed[self.stale[changed]]  # re-predicted below in any case, some with a stale pdev
        st.update_pdev(fresh)
        self.stale[fresh] = False
        self.erd[new] = -np.inf
        todo = changed
        if self._phase < self.spread:
            todo = np.concatenate([changed, self._due()])
            self._phase += 1
        self.erd[todo] = self.model.predict(st.features[todo])
        self.predicted = todo

    def _pace(self, unmeasured: int) -> None:
        """The cadence ``C`` and the spread from a refresh with ``unmeasured`` pixels on (module docstring)."""
        self.cadence = max(PERIODIC_STEPS, -(-int(unmeasured) // REFRESH_PIXELS))
        self.spread = self.cadence if self._spread_asked is None else self._spread_asked

    def _due(self) -> np.ndarray:
        """The stale pixels to re-predict at this step of the spread (largest stale ERD first), no longer stale."""
        rest = np.flatnonzero(self.stale)
        left = self.spread - self._phase  # steps of the spread left, this one included
        if left == 1 or rest.size <= self.min_pixels:
            k = rest.size
        elif self._phase == 0:  # the refresh step, which also computed the estimate: a smaller share
            k = max(self.min_pixels // 4, 1)
        else:
            k = max(-(-rest.size // left), self.min_pixels)
        if k < rest.size:
            rest = rest[np.argpartition(-self.erd[rest], k - 1)[:k]]
        self.stale[rest] = False
        self.state.update_pdev(rest)
        return rest
