"""Extrapolation of the KL multiplicative updates between loss checks: a jump along the direction the last block
of updates took, kept only where it lowers the loss.

Multiplicative updates crawl where an entry of ``W`` or ``H`` must grow or shrink by orders of magnitude (a start
far from the fit, a rotation along the family of equally good factorisations): each update multiplies it by a
factor near one, the same factor update after update. The Velox EELS maps of ``shared/data/real`` (16 x 20 x 2048,
k = 3, from the pure-pixel endmembers) took 900-920 updates; their loss fell *faster* check after check for the
first 250 (a geometric crawl), then slowly.

After each loss check (every ``CHECK_EVERY`` updates) the factors jump geometrically along the block's own
movement, ``A <- A (A / A_start) ** beta`` per entry (clipped to a factor :data:`CAP` either way): the jump keeps
every entry non-negative and an exact zero zero, and follows a geometric crawl exactly. It is kept only where the
loss at the jump's end is lower than the check's (its loss evaluation and the check's own: ~10 % of a block); ``beta``
grows by :data:`GROW` after a kept jump (to :data:`BETA_MAX`), shrinks by :data:`SHRINK` after a refused one and,
below :data:`BETA_MIN`, the jumps stop (data whose crawl is not geometric pay three evaluations, then nothing).
In the spirit of Ang & Gillis (2019, Neural Computation 31, "Accelerating nonnegative matrix factorization
algorithms using extrapolation": a jump between iterates, ``beta`` grown on success and cut on failure), written in
the logarithm of the factors for multiplicative updates.

The fixed points are the updates' own (a jump is only taken where it descends), so the stop rules are too: the
loss rule compares the updates' own progress over a block (from the jump's end), not the jump's, and with the jumps
on each check reads the loss of the factors themselves (the fused update's loss is that of the new W with the old
H). A block that lowered the loss by less than :data:`MIN_PROGRESS` is drifting along the family of equally good
factorisations, not fitting: no jump follows it, unless the pure-pixel end is in view (the endmember start, whose
end is rotated to the pure pixels or refitted from NNDSVDa where refused), where the drift is rotated away.

Measured (issue 17, this machine; updates to the stop, plain -> with the jumps): the Velox EELS maps 900-920 -> 240
(decompose 3.0 -> 1.0 s in a warm process, the loss lower, the rotated spectra 0.01-0.02 degrees apart); dense EELS
cubes with pure pixels from the endmembers 100 -> 70-80 (5000-20000 counts/pixel, within 0.004 degrees); sparse EDS
and mixtures without pure pixels as before within 10-30 updates (their tails are drift), Ag particles on Al (no
rotation) identical. Following the drift as well made those 2-2.3x faster, but moved the solver's own end where it
is the answer (the Ag spectrum 3.32 -> 3.59 degrees).
"""

from __future__ import annotations

import numpy as np

BETA_START = 1.0  # the first jump: as far again as the block moved
GROW = 1.5  # beta after a kept jump
SHRINK = 0.25  # beta after a refused one
BETA_MAX = 8.0
BETA_MIN = 0.05  # below: no more jumps (three refusals in a row from the start)
CAP = 10.0  # a jump changes no entry by more than this factor either way
# No jump after a block that lowered the loss by less than this (relative): the updates then drift along the family
# of equally good factorisations rather than fit, and where no rotation settles the result, where they stop on that
# drift is the answer: jumps there moved it (Ag particles on Al, no rotation taken: the Ag spectrum 3.32 -> 3.59
# degrees from the truth, the loss 1e-6 lower; its blocks lowered the loss by 6e-5 down to 1e-6)
MIN_PROGRESS = 1e-4


class Extrapolation:
    """The jumps of one run of updates: :meth:`begin` at each block's start, :meth:`jump` after its check."""

    def __init__(self, on: bool = True):
        self.on, self.beta = bool(on), BETA_START
        self.accepted = self.refused = 0
        self.drifted = False  # a block drifted: no more jumps
        self.start: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def live(self) -> bool:
        """Whether a jump may still be tried (the checks then read the factors' own loss)."""
        return self.on and not self.drifted and self.beta >= BETA_MIN

    def begin(self, w: np.ndarray, h: np.ndarray) -> None:
        """The factors a block of updates starts from (its direction is read against them)."""
        self.start = (w.copy(), h.copy())

    def jump(self, w: np.ndarray, h: np.ndarray, loss: float, loss_of, progress: float = np.inf) -> float | None:
        """After a check of loss ``loss``, the block having lowered it by ``progress``: jump ``w`` and ``h`` in place
        when the block still fitted (:data:`MIN_PROGRESS`) and the jump's loss (``loss_of(w, h)``) is lower; returns
        that loss, or None (no jump tried, or refused: ``w``, ``h`` unchanged)."""
        if not self.live or self.start is None:
            return None
        if not progress >= MIN_PROGRESS * abs(loss):  # drift only deepens: no more jumps
            self.drifted = True
            return None
        jw, jh = _geometric(w, self.start[0], self.beta), _geometric(h, self.start[1], self.beta)
        new = loss_of(jw, jh)
        if new < loss:  # NaN is refused too
            w[:], h[:] = jw, jh
            self.accepted += 1
            self.beta = min(self.beta * GROW, BETA_MAX)
            return float(new)
        self.refused += 1
        self.beta *= SHRINK
        return None

    def merged(self, other: Extrapolation) -> Extrapolation:
        """This run's counts with a later run's (a continuation of the same fit)."""
        self.accepted += other.accepted
        self.refused += other.refused
        self.drifted |= other.drifted
        return self

    def info(self) -> dict:
        """``info["extrapolation"]``: whether the jumps were asked for, how many were kept and refused, and whether
        they stopped at a drifting block (:data:`MIN_PROGRESS`)."""
        return {"on": self.on, "accepted": self.accepted, "refused": self.refused, "stopped_drifting": self.drifted}


def _geometric(a: np.ndarray, a0: np.ndarray, beta: float) -> np.ndarray:
    """``a (a / a0) ** beta``, the factor clipped to [1 / CAP, CAP]; entries whose start was zero do not move."""
    ratio = np.divide(a, a0, out=np.ones_like(a), where=a0 > 0)
    return a * np.clip(ratio**beta, 1.0 / CAP, CAP)
