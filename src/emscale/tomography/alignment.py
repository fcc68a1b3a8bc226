"""Translational alignment of a tilt series and the tilt-axis position.

1. **Cross-correlation chain.** Projections are ordered by angle; each is registered to its neighbour nearer to
   zero tilt (FFT cross-correlation of Tukey-windowed, mean-subtracted images, peak refined to ``1 /
   upsample`` pixel by the matrix-multiply DFT of Guizar-Sicairos et al. 2008); the relative
   shifts are summed outward from the projection nearest zero tilt.
2. **Centre of mass** (``com=True``, for an object that stays inside the field of view; ``com=None``, the default,
   runs it unless the specimen reaches the image edges in more than a fifth of the projections). Rotation about the tilt
   axis leaves every point's coordinate *along* the axis unchanged, so the projections' centre of mass along
   the axis must agree: each is moved onto their median. Perpendicular to the axis the centre of mass of a
   rotating object follows ``c + X cos(theta) + Z sin(theta)`` (``(X, Z)``: the object's centre of mass relative
   to the axis, ``c``: where the axis crosses the detector); the deviations from the least-squares fit of that
   curve are misalignments and are removed. Each centre of mass is taken with the vacuum set to exactly zero
   (:func:`.background.vacuum_zeroed`): a pedestal left on the vacuum pulls every one toward the image centre.

0. **In-plane rotation** (``rotation=True``): the angle of the tilt axis to the nominal image axis is estimated
   from the slabs' centres of mass across the axis (:mod:`.rotation`) and the images are turned so that the
   axis lies along the image axis before the steps below.

3. **Tilt-axis position** ``axis_shift = c - (n - 1) / 2`` from the fit of step 2 (also without ``com``, where it
   is the only use of the fit), stored as ``metadata["Tomography"]["axis_position"]`` (calibrated,
   :mod:`.tiltseries`) for :func:`.reconstruct`.

Identifiability: a constant shift perpendicular to the axis is the same as moving the axis, and the ``cos``,
``sin`` components are a rigid translation of the object; along the axis a constant shift is a translation. Shifts
are therefore defined up to those components; the returned shifts have none of them (they are projected out), so
the alignment never moves the object or the axis and ``axis_shift`` is the data's own axis position.

References
----------
M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image registration algorithms",
Opt. Lett. 33 (2008) 156-158; D. N. Mastronarde, "Dual-axis tomography", J. Struct. Biol. 120 (1997) 343-352
(cross-correlation alignment in IMOD); ETSpy's ``tilt_com`` (NIST) for the centre-of-mass steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import DataError, check_count
from ..core.registry import operation
from ..core.signal import Signal, derive
from .background import vacuum_zeroed
from .rotation import fit_axis_rotation, rotate_images
from .tiltseries import angles_of, axis_record, check_finite, check_series, check_tilts, tomo_meta


@dataclass
class Alignment:
    """Result of :func:`align_tilts`.

    Attributes
    ----------
    aligned : the shifted tilt series (``metadata["Tomography"]["axis_position"]`` set).
    shifts : (n_tilts, 2) shifts applied to each projection, pixels (y, x), in the series' tilt order; free of
        rigid-motion components (see the module docstring).
    axis_shift : tilt-axis position on the perpendicular image axis, pixels from the image centre.
    xcorr_shifts : (n_tilts, 2) the cross-correlation chain's shifts alone.
    residuals : (n_tilts, 2) per projection (along, perpendicular to the axis, pixels): how far its centre of mass
        was from the rigid-rotation model after the cross-correlation step (what ``com`` corrected).
    residual_rms : RMS of ``residuals`` (pixels): how far the two cues, the cross-correlation chain and the
        centre-of-mass model, disagree -- about the chain's own error where the object stays in view (it was the
        RMS after ``com`` had moved the centres onto the model: ~0 whatever the data). It cannot tell a wrongly
        named tilt axis (0.08 px with ``"y"`` against 0.11 px with the right ``"x"`` on the real series binned to
        64 px); the reprojection misfit of a reconstruction can (0.14 against 0.06 after SIRT).
    rotation : in-plane rotation of the tilt axis found and corrected, degrees (0 when not estimated).
    rotation_stderr : its uncertainty, degrees (:class:`.rotation.RotationFit`; 0 when not estimated).
    com : whether the centre-of-mass refinement ran, and why (``com=None`` decides from the data).
    history : provenance entries (filled by the operation registry).
    """

    aligned: Signal
    shifts: np.ndarray
    axis_shift: float
    xcorr_shifts: np.ndarray
    residuals: np.ndarray
    residual_rms: float
    rotation: float = 0.0
    rotation_stderr: float = 0.0
    com: str = ""  # whether the centre-of-mass refinement ran, and why
    history: list = field(default_factory=list)


def _tukey(n: int, alpha: float = 0.3) -> np.ndarray:
    """Tukey (tapered cosine) window: flat in the middle, cosine tapers over ``alpha / 2`` of each end."""
    x = np.linspace(0.0, 1.0, n)
    w = np.ones(n)
    edge = alpha / 2
    lo, hi = x < edge, x > 1 - edge
    w[lo] = 0.5 * (1 + np.cos(np.pi * (x[lo] / edge - 1)))
    w[hi] = 0.5 * (1 + np.cos(np.pi * ((x[hi] - 1) / edge + 1)))
    return w


def _upsampled_peak(R: np.ndarray, peak: np.ndarray, upsample: int) -> np.ndarray:
    """Refine the correlation peak: the inverse DFT of ``R`` evaluated on a grid of step ``1 / upsample`` within
    0.75 px of ``peak`` by two matrix products (Guizar-Sicairos et al. 2008), its maximum returned."""
    half = int(np.ceil(0.75 * upsample))
    offs = np.arange(-half, half + 1) / upsample
    kern = [np.exp(2j * np.pi * np.outer(p + offs, np.fft.fftfreq(n))) for p, n in zip(peak, R.shape, strict=True)]
    # einsum, not @: these products are tiny, and a threaded BLAS call costs more than it computes
    cc = np.abs(np.einsum("il,jl->ij", np.einsum("ik,kl->il", kern[0], R), kern[1]))
    i, j = np.unravel_index(np.argmax(cc), cc.shape)
    return peak + np.array([offs[i], offs[j]])


def _xcorr_shift(ref: np.ndarray, mov: np.ndarray, upsample: int) -> np.ndarray:
    """Shift (dy, dx) that moves ``mov`` onto ``ref``: FFT cross-correlation of the Tukey-windowed,
    mean-subtracted images, the integer peak refined to ``1 / upsample`` pixel."""
    w = np.outer(_tukey(ref.shape[0]), _tukey(ref.shape[1]))
    R = np.fft.fft2((ref - ref.mean()) * w) * np.conj(np.fft.fft2((mov - mov.mean()) * w))
    cc = np.abs(np.fft.ifft2(R))
    peak = np.array(np.unravel_index(np.argmax(cc), cc.shape), float)
    n = np.array(cc.shape)
    peak[peak > n // 2] -= n[peak > n // 2]  # wrap to signed shifts
    return _upsampled_peak(R, peak, upsample) if upsample > 1 else peak


def xcorr_chain(data: np.ndarray, angles: np.ndarray, upsample: int = 20) -> np.ndarray:
    """Shifts (n_tilts, 2) aligning every projection to the one nearest zero tilt through its neighbours."""
    order = np.argsort(angles, kind="stable")
    ref = int(np.argmin(np.abs(angles[order])))
    shifts = np.zeros((len(angles), 2))
    for step in (1, -1):
        stop = len(order) if step == 1 else -1
        for k in range(ref + step, stop, step):
            i, j = order[k], order[k - step]  # j: the neighbour nearer zero, already placed
            rel = _xcorr_shift(data[j], data[i], upsample)
            shifts[i] = shifts[j] + rel
    return shifts


EDGE_SHARE = 0.05  # a projection whose specimen covers this share of an image edge runs out of the field there
EDGE_LEVEL = 0.2  # the specimen: above this share of the projection's bright level (its 99th percentile)
EDGE_PROJECTIONS = 0.2  # the share of the projections doing so above which com=None leaves out the centre of mass


def _centres(data: np.ndarray, edges: bool = False):
    """Centre of mass (y, x) of each projection, pixels, its vacuum set to zero (:func:`.background.vacuum_zeroed`);
    ``edges``: also the number of projections whose specimen runs out of the field (its support covers at least
    :data:`EDGE_SHARE` of an image edge)."""
    d = vacuum_zeroed(data)
    first = np.stack([d.sum(axis=2) @ np.arange(d.shape[1]), d.sum(axis=1) @ np.arange(d.shape[2])], axis=1)
    cm = first / d.sum(axis=(1, 2))[:, None]
    if not edges:
        return cm
    # the specimen, not the support's faint tails (noise-free data put the whole image in the support) nor noise
    # on them: a fifth of the projection's bright level (a tenth took 37 of 71 projections of an object in view
    # at 5 % noise, a fifth 6; the real needle 73 of 77, slabs and cut specimens 59-64 of 71)
    inside = d > EDGE_LEVEL * np.percentile(d, 99, axis=(1, 2))[:, None, None]
    share = np.stack([inside[:, 0].mean(1), inside[:, -1].mean(1), inside[:, :, 0].mean(1),
                      inside[:, :, -1].mean(1)], axis=1)
    return cm, int(np.count_nonzero(share.max(axis=1) >= EDGE_SHARE))


def _use_com(com: bool | None, out: int, n: int) -> tuple[bool, str]:
    """Whether the centre-of-mass refinement runs (``com``; None: unless the specimen runs out of the field in
    more than :data:`EDGE_PROJECTIONS` of the ``n`` projections, ``out`` of which do), and why. A cut specimen's
    centre of mass follows the field's edge, not the rotation: on a slab wider than the field the refinement took
    the alignment from 0.24 to 2.03 px RMS (worst 13.7 px); the real needle runs out along the axis."""
    said = f"the specimen runs out of the field in {out} of {n} projections"
    if com is not None:
        return bool(com), ("on" if com else "off") + f" (asked; {said})"
    if out > EDGE_PROJECTIONS * n:
        return False, f"off (automatic: {said}, where a centre of mass follows the edge, not the rotation)"
    return True, f"on (automatic: {said}; the object stays in view)"


def _sinusoid_fit(theta_rad: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``c ~ p0 + p1 cos + p2 sin``: coefficients and fitted values."""
    M = np.stack([np.ones_like(theta_rad), np.cos(theta_rad), np.sin(theta_rad)], axis=1)
    p, *_ = np.linalg.lstsq(M, c, rcond=None)
    return p, M @ p


def _without_rigid(shifts: np.ndarray, theta: np.ndarray, along: int, perp: int) -> np.ndarray:
    """Shifts less their rigid-motion part (mean along the axis; ``1, cos, sin`` perpendicular): the alignment
    then neither translates the object nor moves the axis, so the axis fit keeps the data's own axis."""
    out = shifts.copy()
    out[:, along] -= out[:, along].mean()
    out[:, perp] -= _sinusoid_fit(theta, out[:, perp])[1]
    return out


def shift_images(data: np.ndarray, shifts: np.ndarray, order: int = 3) -> np.ndarray:
    """Each image moved by its (dy, dx) (cubic spline; edges continue the border values)."""
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    return np.stack([ndimage.shift(im, sh, order=order, mode="nearest") for im, sh in zip(data, shifts, strict=True)])


def estimate_alignment(s: Signal, com: bool | None = None, upsample: int = 20, rotation: bool = False) -> Alignment:
    """Align a tilt series by a cross-correlation chain, centre-of-mass refinement and the tilt-axis fit.

    Parameters
    ----------
    s : tilt-series Signal (:func:`.tiltseries.tilt_series`); background need not be removed.
    com : refine with the centre-of-mass conditions (right when the object stays inside the field of view at
        every tilt; wrong for extended samples). ``None``: on unless the specimen (a fifth of its bright level)
        reaches an image edge (covers 5 % of it) in more than a fifth of the projections; :attr:`Alignment.com`
        says which and why.
    upsample : subpixel refinement of the cross-correlation peak, 1 / ``upsample`` pixel.
    rotation : estimate the in-plane rotation of the tilt axis (within +-10 degrees) and turn the images to
        undo it before the translational alignment (:func:`.rotation.fit_axis_rotation`).

    Returns
    -------
    :class:`Alignment`

    Memory: the series is read whole (a lazy one too) and worked on in float64, a few copies of it at a time;
    the aligned series is in memory (float32).

    Example
    -------
    >>> al = estimate_alignment(s)
    >>> al.shifts.shape, round(al.axis_shift, 1)
    """
    check_series(s)
    check_count("upsample", upsample, "1 / upsample pixel")
    meta = tomo_meta(s)
    along, perp = (0, 1) if meta["tilt_axis"] == "y" else (1, 0)
    data = np.asarray(s.data, np.float64)
    check_finite(data)
    angles = angles_of(s)
    check_tilts(angles, "the alignment (its tilt-axis fit has three unknowns)", distinct=3)
    flat = np.flatnonzero(np.ptp(data, axis=(1, 2)) == 0)
    if flat.size:  # their centre of mass is 0 / 0: NaN shifts, a NaN axis and a warning per projection
        which = ("every projection holds" if flat.size == len(data)
                 else f"projection(s) at tilt index {flat.tolist()} hold")
        raise DataError(f"{which} one value throughout (e.g. all zero): nothing to align by; leave such projections "
                        "out (s.inav[...]) or check the file")
    theta = np.deg2rad(angles)
    rot = rot_err = 0.0
    if rotation:
        fit = fit_axis_rotation(data, angles, meta["tilt_axis"])
        rot, rot_err = fit.angle, fit.stderr
        data = rotate_images(data, rot, meta["tilt_axis"])
    xc = _without_rigid(xcorr_chain(data, angles, upsample), theta, along, perp)
    shifts = xc.copy()
    cm, out = _centres(shift_images(data, shifts), edges=True)
    com, com_note = _use_com(com, out, len(data))
    residuals = np.zeros_like(cm)
    residuals[:, along] = cm[:, along] - np.median(cm[:, along])
    p, fit = _sinusoid_fit(theta, cm[:, perp])
    residuals[:, perp] = cm[:, perp] - fit
    if com:
        shifts = _without_rigid(shifts - residuals, theta, along, perp)
        cm = _centres(shift_images(data, shifts))
        p, _ = _sinusoid_fit(theta, cm[:, perp])
    axis_shift = float(p[0] - (data.shape[1 + perp] - 1) / 2)
    if not abs(axis_shift) < data.shape[1 + perp] / 2:
        raise DataError(f"the fitted tilt axis lies {axis_shift:.1f} px from the image centre, outside the image; "
                        "the series cannot be a rotation about an axis in view (check tilt_axis, and that the angles "
                        "are in degrees)")
    aligned = derive(s, shift_images(data, shifts).astype(np.float32), s.axes)
    # the series' own record (its background levels) carries over; a previous alignment's does not
    earlier = {k: v for k, v in s.metadata.get("Tomography", {}).items() if k != "alignment"}
    aligned.metadata["Tomography"] = axis_record(earlier, s.axes[1:], meta["tilt_axis"], axis_shift)
    # the residuals before any centre-of-mass correction: after it the centres lie on the model by construction
    return Alignment(aligned, shifts, axis_shift, xc, residuals, float(np.sqrt(np.mean(residuals**2))), rot, rot_err,
                     com_note)


@operation("align_tilts", method=False, check={"upsample": lambda v: check_count("upsample", v, "1 / upsample pixel")})
def align_tilts(s: Signal, com: bool | None = None, upsample: int = 20, rotation: bool = False) -> Signal:
    """The aligned tilt series (see :func:`estimate_alignment`), with ``metadata["Tomography"]`` holding
    ``axis_position`` (calibrated; :func:`.tiltseries.axis_shift_of` gives it in pixels), what the series held
    before (``background``), and ``alignment``: ``angles`` (the tilts the record is for), ``shifts`` (n_tilts x 2,
    px, (y, x)), ``residuals``, ``residual_rms``, ``com`` (whether the centre-of-mass refinement ran, and why) and
    ``rotation`` (degrees, the in-plane rotation of the tilt axis
    undone when ``rotation=True``, else 0) and ``rotation_stderr`` (degrees, its uncertainty). The
    per-tilt arrays keep every tilt of the series aligned; after ``inav`` :func:`alignment_of` gives those of the
    tilts kept. The series is read whole and the result is in memory, for a lazy series too
    (:func:`estimate_alignment`).

    Example
    -------
    >>> aligned = align_tilts(ts)
    >>> axis_shift_of(aligned)          # pixels from the centre of the image axis across the tilt axis
    """
    al = estimate_alignment(s, com=com, upsample=upsample, rotation=rotation)
    out = derive(s, al.aligned.data, s.axes)
    out.metadata["Tomography"] = {
        **al.aligned.metadata["Tomography"],
        "alignment": {"angles": angles_of(s).tolist(), "shifts": al.shifts.tolist(), "residuals": al.residuals.tolist(),
                      "residual_rms": al.residual_rms, "rotation": al.rotation,
                      "rotation_stderr": al.rotation_stderr, "com": al.com},
    }
    return out


def alignment_of(s: Signal) -> dict:
    """The alignment record of an aligned tilt series (:func:`align_tilts`) with ``shifts`` and ``residuals`` for
    the tilts ``s`` holds now, in its order: slicing the series (``inav``) leaves the metadata's arrays whole, for
    every tilt aligned, since the core operations know nothing of tomography; they are picked here by angle.

    Example
    -------
    >>> alignment_of(aligned.inav[10:60])["shifts"].shape
    (50, 2)
    """
    rec = s.metadata.get("Tomography", {}).get("alignment")
    if rec is None:
        raise DataError("the series has no alignment record: align it first (tomo.align_tilts)")
    shifts, residuals = np.asarray(rec["shifts"], float), np.asarray(rec["residuals"], float)
    now = angles_of(s)
    if "angles" not in rec:  # a record from before the angles were kept: right only while no tilt was cut
        if len(shifts) != now.size:
            raise DataError(f"the alignment record holds {len(shifts)} tilts without their angles, the series "
                            f"{now.size}: it cannot say which are which; align the series again")
        pick = np.arange(now.size)
    else:
        pick = _match_angles(np.asarray(rec["angles"], float), now)
    return {**rec, "angles": now.tolist(), "shifts": shifts[pick], "residuals": residuals[pick]}


def _match_angles(recorded: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Index into ``recorded`` of each of ``now``; a repeated angle (a dose-symmetric 0) taken in turn."""
    used = np.zeros(recorded.size, bool)
    out = np.empty(now.size, int)
    for k, a in enumerate(now):
        free = np.flatnonzero(~used & np.isclose(recorded, a, rtol=0, atol=1e-6))
        if free.size == 0:
            raise DataError(f"tilt {a:g} degrees is not in the alignment record (tilts {recorded.min():g} to "
                            f"{recorded.max():g}): align the series again")
        out[k] = free[0]
        used[free[0]] = True
    return out
