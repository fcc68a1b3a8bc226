"""Single-axis parallel-beam geometry: tilt angles, detector and slice size -- no algorithm here.

A slice perpendicular to the tilt axis is an image of ``nz x nw`` pixels (``z``: along the beam at zero tilt,
``w``: the image axis perpendicular to the tilt axis). Pixel and detector bin share one size (the calibrated
image pixel). At tilt ``theta`` (radians) the point ``(w, z)`` relative to the slice centre lands on detector
coordinate ``u = w cos(theta) + z sin(theta)``; bin ``b`` sits at ``u = b - ((n_det - 1) / 2 + axis_shift)``, so
``axis_shift`` (pixels) is where the tilt axis crosses the detector, measured from its centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import DataError


@dataclass(frozen=True)
class ParallelGeometry:
    """Projection geometry of one slice; every slice of a single-axis series shares it.

    Parameters
    ----------
    angles : tilt angles in degrees, shape (n_angles,), finite.
    n_det : detector bins (image pixels perpendicular to the tilt axis).
    nz : slice thickness in pixels (default ``n_det``).
    nw : slice width in pixels (default ``n_det``).
    axis_shift : position of the tilt axis on the detector relative to its centre, in pixels; must lie on the
        detector.

    Example
    -------
    >>> g = ParallelGeometry(np.arange(-60, 61, 2.0), n_det=128)
    >>> g.vol_shape, g.sino_shape
    ((128, 128), (61, 128))
    """

    angles: np.ndarray
    n_det: int
    nz: int | None = None
    nw: int | None = None
    axis_shift: float = 0.0
    cos_: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if np.ndim(self.angles) > 1:  # a (2, 2) array was read as four tilts
            raise DataError(f"angles: a list of tilt angles, not an array of shape {np.shape(self.angles)}")
        a = np.asarray(self.angles, dtype=np.float64).ravel()
        if a.size == 0:
            raise DataError("angles: no tilt angles given")
        if not np.all(np.isfinite(a)):
            raise DataError(f"angles: {int(np.sum(~np.isfinite(a)))} tilt angle(s) are not finite")
        n_det = int(self.n_det)
        if n_det < 2:
            raise DataError(f"n_det must be at least 2 detector bins, got {self.n_det}")
        if not abs(float(self.axis_shift)) < n_det / 2:
            raise DataError(
                f"axis_shift {self.axis_shift} px puts the tilt axis outside the detector of {n_det} bins "
                f"(allowed: |axis_shift| < {n_det / 2})"
            )
        object.__setattr__(self, "angles", a)
        object.__setattr__(self, "n_det", n_det)
        for name in ("nz", "nw"):  # 0 silently meant the default; a negative size failed deep inside numpy
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) != v or int(v) < 1):
                what = "thickness (nz)" if name == "nz" else "width (nw)"
                raise DataError(f"slice {what} must be a positive number of pixels (None: the detector's {n_det}), "
                                f"got {v!r}")
        object.__setattr__(self, "nz", int(self.nz or n_det))
        object.__setattr__(self, "nw", int(self.nw or n_det))
        object.__setattr__(self, "axis_shift", float(self.axis_shift))
        r = np.deg2rad(a)
        object.__setattr__(self, "cos_", np.cos(r))

    @property
    def n_angles(self) -> int:
        return int(self.angles.size)

    @property
    def radians(self) -> np.ndarray:
        return np.deg2rad(self.angles)

    @property
    def sin_(self) -> np.ndarray:
        return np.sin(self.radians)

    @property
    def rows(self) -> np.ndarray:
        """Per angle: True where rays are sampled row by row (``|cos| >= |sin|``)."""
        return np.abs(self.cos_) >= np.abs(self.sin_)

    @property
    def det_centre(self) -> float:
        return (self.n_det - 1) / 2.0 + self.axis_shift

    @property
    def vol_shape(self) -> tuple[int, int]:
        return (self.nz, self.nw)

    @property
    def sino_shape(self) -> tuple[int, int]:
        return (self.n_angles, self.n_det)

    def angular_weights(self) -> np.ndarray:
        """Angular interval (radians) each projection stands for: half the distance to its two neighbours in
        sorted order (one-sided at the ends); the quadrature weights of filtered back-projection. Copies of one
        angle share the interval that angle would have alone (a gap of 0 to its copy halved an end's weight).

        Angles spanning 180 degrees or more are taken modulo 180 (a projection at ``a + 180`` is the mirror image
        of the one at ``a``: the same line integrals), on a circle of 180 degrees: the weights sum to pi whatever
        the span (a full turn, 0-359 degrees, summed to 2 pi and doubled every value of the reconstruction)."""
        rad = self.radians
        periodic = rad.size > 1 and float(rad.max() - rad.min()) >= np.pi - 1e-9
        if periodic:
            rad = np.round(np.mod(rad, np.pi), 12) % np.pi  # a copy 180 degrees away is the same projection
        distinct, which, copies = np.unique(rad, return_inverse=True, return_counts=True)
        if distinct.size == 1:
            return np.full(self.n_angles, np.pi / self.n_angles)
        if periodic:
            gaps = np.diff(np.concatenate([distinct, [distinct[0] + np.pi]]))  # the last gap wraps round
            w = (gaps + np.roll(gaps, 1)) / 2
        else:
            gaps = np.diff(distinct)
            w = np.empty_like(distinct)
            w[1:-1] = (gaps[:-1] + gaps[1:]) / 2
            w[0], w[-1] = gaps[0], gaps[-1]
        return (w / copies)[which]
