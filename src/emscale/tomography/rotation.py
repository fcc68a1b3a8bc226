"""In-plane rotation of the tilt axis: the direction along which every projection has the same profile.

A rotation about the tilt axis leaves every point's coordinate along the axis unchanged, so the projection of
each image onto the axis direction -- the profile ``p_i(t) = sum of the image over the line t = const``, ``t``
the coordinate along the axis -- is the same at every tilt (the object's mass per slab; a common line of all
projections). When the axis is rotated in the image plane by ``phi`` from the nominal image axis, the profiles
taken along the nominal axis mix in the perpendicular coordinate, which changes with tilt. The estimate is the
``phi`` that minimises the spread of the profiles across tilts,

    J(phi) = sum_t var_i p_i(t; phi) / sum_t mean_i p_i(t; phi)^2,

each profile first moved to a common centroid (a shift along the axis, or a perpendicular shift seen through
the rotation, is a translation, not a rotation). ``J`` is scanned on a 0.5 degree grid over ``+-search`` degrees,
then refined by golden-section search around the best grid point.

Convention: the axis direction in ``(y, x)`` components is ``(cos phi, sin phi)`` for ``tilt_axis="y"`` and
``(-sin phi, cos phi)`` for ``"x"`` (the nominal direction turned by ``phi`` from ``+y`` towards ``+x``).

References
----------
IMOD ``tiltxcorr`` / ``xftoxg`` estimate the tilt-axis angle from the alignment of projections; the common-line
argument is R. A. Crowther, D. J. DeRosier and A. Klug, Proc. R. Soc. Lond. A 317 (1970) 319-340.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import AxisError, DataError


def _axis_vector(phi_deg: float, tilt_axis: str) -> tuple[float, float]:
    r = np.deg2rad(phi_deg)
    if tilt_axis == "y":
        return float(np.cos(r)), float(np.sin(r))
    if tilt_axis == "x":
        return float(-np.sin(r)), float(np.cos(r))
    raise AxisError(f"tilt_axis {tilt_axis!r}: use 'y' or 'x'")


def axis_profiles(data: np.ndarray, phi_deg: float, tilt_axis: str = "y") -> np.ndarray:
    """Profiles ``(n_tilts, n_bins)`` of images ``data`` (n_tilts, ny, nx) along the axis rotated by ``phi_deg``
    (linear binning of each pixel onto unit-spaced bins of the axis coordinate)."""
    n, ny, nx = data.shape
    uy, ux = _axis_vector(phi_deg, tilt_axis)
    y, x = np.mgrid[:ny, :nx]
    y, x = y - (ny - 1) / 2, x - (nx - 1) / 2
    # pixels of the inscribed disc only: the same set of pixels whatever phi, so the image's corners (which
    # turn in and out of view with phi) do not weigh on the comparison
    disc = (y**2 + x**2 <= (min(ny, nx) / 2) ** 2).ravel()
    t = (y * uy + x * ux).ravel()[disc] + min(ny, nx) / 2 + 1
    n_bins = int(np.floor(t.max())) + 2
    i0 = np.floor(t).astype(np.int64)
    f = t - i0
    flat = data.reshape(n, -1)[:, disc]
    idx = (np.arange(n)[:, None] * n_bins + i0[None, :]).ravel()
    out = np.bincount(idx, (flat * (1 - f)).ravel(), minlength=n * n_bins)
    out += np.bincount(idx + 1, (flat * f).ravel(), minlength=n * n_bins)
    return out.reshape(n, n_bins)


def _spread(profiles: np.ndarray) -> float:
    """``J``: relative variance across tilts of the profiles moved to a common centroid."""
    t = np.arange(profiles.shape[1], dtype=float)
    mass = profiles.sum(axis=1)
    c = (profiles @ t) / np.where(mass != 0, mass, 1.0)
    moved = np.stack([np.interp(t + ci - c.mean(), t, p, left=0.0, right=0.0)
                      for p, ci in zip(profiles, c, strict=True)])
    return float(np.sum(moved.var(axis=0)) / max(np.sum(moved.mean(axis=0) ** 2), 1e-300))


def estimate_axis_rotation(data: np.ndarray, tilt_axis: str = "y", search: float = 10.0, tol: float = 0.01
                           ) -> float:
    """In-plane rotation (degrees) of the tilt axis of a series ``data`` (n_tilts, ny, nx); see the module.

    Parameters
    ----------
    data : projections, background roughly removed (a constant background is harmless).
    tilt_axis : the nominal image axis parallel to the tilt axis, ``"y"`` or ``"x"``.
    search : the rotation is sought in ``[-search, search]`` degrees.
    tol : golden-section stopping width, degrees.

    Raises
    ------
    DataError : when the spread is smallest at the edge of the range (no interior minimum: the series does not
        follow the model, e.g. an object that leaves the field of view along the axis).

    Example
    -------
    >>> phi = estimate_axis_rotation(series.data, tilt_axis="x")
    """
    data = np.asarray(data, np.float64)
    data = data - np.percentile(data, 1)

    def J(phi):
        return _spread(axis_profiles(data, phi, tilt_axis))

    grid = np.arange(-search, search + 1e-9, 0.5)
    k = int(np.argmin([J(p) for p in grid]))
    if k in (0, grid.size - 1):  # no minimum inside the range: the series breaks the model, do not guess
        raise DataError(f"in-plane rotation: the profiles along the tilt axis agree best at the edge of the search "
                        f"range ({grid[k]:+.1f} deg of +-{search} deg): no rotation estimate (the object leaves the "
                        "field of view along the axis?); align without rotation (rotation=False)")
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    jc, jd = J(c), J(d)
    while b - a > tol:
        if jc < jd:
            b, d, jd = d, c, jc
            c = b - g * (b - a)
            jc = J(c)
        else:
            a, c, jc = c, d, jd
            d = a + g * (b - a)
            jd = J(d)
    return float((a + b) / 2)


def rotate_images(data: np.ndarray, phi_deg: float, tilt_axis: str = "y", order: int = 3) -> np.ndarray:
    """Resample images so that an axis rotated by ``phi_deg`` (the convention above) becomes the nominal image
    axis: output pixel ``(y', x')`` (about the centre) reads the input at ``y' u + x' v`` with ``u`` the rotated
    axis direction and ``v`` its perpendicular (cubic spline; edges continue the border values)."""
    _axis_vector(phi_deg, tilt_axis)  # checks tilt_axis; both axes turn with the frame
    n, ny, nx = data.shape
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    yp, xp = np.mgrid[:ny, :nx].astype(float)
    yp -= cy
    xp -= cx
    # the nominal frame's unit vectors, turned by phi: e_y -> (cos, sin), e_x -> (-sin, cos) (in (y, x))
    r = np.deg2rad(phi_deg)
    cos_, sin_ = np.cos(r), np.sin(r)
    src_y = cy + yp * cos_ - xp * sin_
    src_x = cx + yp * sin_ + xp * cos_
    coords = np.stack([src_y, src_x])
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    return np.stack([ndimage.map_coordinates(im, coords, order=order, mode="nearest") for im in data])
