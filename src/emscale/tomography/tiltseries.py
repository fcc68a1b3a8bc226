"""Tilt series as Signals: loading (MRC + IMOD ``.rawtlt``, image stacks) and the slice-first view.

A tilt series is a :class:`~emscale.Signal` of shape ``(n_tilts, ny, nx)``: one navigation axis ``"tilt"``
(degrees; explicit coordinates when the angles are not equispaced or not sorted) and two signal axes ``y, x``
(calibrated, nm where the file says so). ``metadata["Tomography"]["tilt_axis"]`` names the image axis parallel
to the tilt axis (``"y"`` or ``"x"``) and ``["axis_position"]`` where the tilt axis crosses the image, in the
calibrated units of the perpendicular image axis. A calibrated position stays right through every crop and
binning, which update the axes' offset and scale; a pixel count would not, and the core operations that crop and
bin know nothing of tomography. :func:`axis_shift_of` gives the shift in pixels from the centre of the
perpendicular axis on the series' current axes (what the geometry takes). A record older than
``axis_position`` holds ``["axis_shift"]`` in pixels; it is read as relative to the axes it was saved with.

Reconstruction works on the series arranged slice first: ``(n_slices, n_tilts, n_det)``, a slice being a line
of pixels perpendicular to the tilt axis, so passes over partitions of the first dimension
(:mod:`emscale.engine`) are passes over slices.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.axes import Axis
from ..core.calibrate import on_recalibration
from ..core.errors import AxisError, DataError, FileFormatError, check_not_complex, is_number, warn_caller
from ..core.history import file_beside_input
from ..core.registry import operation
from ..core.signal import Signal, derive
from .tilt_axis import resolve_tilt_axis

TILT_AXES = ("y", "x")


def read_rawtlt(path) -> np.ndarray:
    """Tilt angles (degrees) from an IMOD ``.rawtlt`` / ``.tlt`` file: one number per line, blank lines skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as e:
        raise FileFormatError(f"cannot read tilt-angle file {path}: {e}") from e
    except UnicodeDecodeError as e:  # the .mrc itself named by mistake
        raise FileFormatError(f"{path}: not a text file of tilt angles (a .rawtlt or .tlt holds one angle in "
                              "degrees a line)") from e
    out = []
    for i, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(float(line.split()[0]))
        except ValueError as e:
            shown = line if len(line) <= 40 else f"{line[:40]}..."
            raise FileFormatError(f"{path}, line {i}: {shown!r} is not a tilt angle") from e
    if not out:
        raise FileFormatError(f"{path} holds no tilt angles")
    return np.asarray(out)


def angles_array(angles) -> np.ndarray:
    """``angles`` as a flat float array, or a :class:`DataError` saying what they are instead."""
    if angles is None:  # np.asarray(None, float) is one NaN: "1 tilt angles given for 25 projections"
        raise DataError("angles: none given (None); a tilt series needs its tilt angles, in degrees, one per "
                        "projection")
    if isinstance(angles, str | Path):
        raise DataError(f"angles: {str(angles)!r} is a file name, not tilt angles: read it with "
                        "tomo.read_rawtlt(path), or give it as rawtlt= (as_tilt_series: the name of a file beside "
                        "the loaded one) or as angles= to tomo.load_tilt_series")
    try:
        a = np.asarray(angles, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"angles: expected tilt angles in degrees, one number per projection; got {angles!r:.80} "
                        f"({e})") from e
    if np.asarray(angles).dtype == bool:  # True/False read as 1/0 degrees: a mask passed in the angles' place
        raise DataError("angles: got True/False values (a boolean array, a mask?), not tilt angles; give the tilt "
                        "angles in degrees, one number per projection")
    if sum(n > 1 for n in a.shape) > 1:  # a single row or column is still a list of angles
        raise DataError(f"angles: expected a flat list of tilt angles, one per projection; got nested lists of "
                        f"shape {a.shape}")
    return a.ravel()


def tilt_axis_entry(angles: np.ndarray) -> dict:
    """The navigation-axis dict for ``angles``: uniform (scale/offset) when equispaced, else coordinates."""
    a = np.asarray(angles, float)
    if a.size > 1:
        step = (a[-1] - a[0]) / (a.size - 1)
        if step != 0 and np.allclose(a, a[0] + step * np.arange(a.size), rtol=0, atol=1e-6 * abs(step)):
            return {"name": "tilt", "scale": float(step), "offset": float(a[0]), "units": "deg", "navigate": True}
    return {"name": "tilt", "coords": a.tolist(), "units": "deg", "navigate": True}


def checked_angles(angles, n_tilts: int, stacklevel: int = 3) -> np.ndarray:
    """The tilt angles of ``n_tilts`` projections as a float array, checked as :func:`tilt_series` takes them: a
    :class:`DataError` for a wrong count, a non-finite angle or one beyond a full turn; a warning for a repeated tilt
    and for angles that look like radians."""
    a = angles_array(angles)
    if a.size != n_tilts:
        raise DataError(f"angles: {a.size} tilt angles given for {n_tilts} projections")
    if not np.all(np.isfinite(a)):
        raise DataError(f"angles: non-finite tilt angle(s) at index {np.flatnonzero(~np.isfinite(a)).tolist()}")
    beyond = np.flatnonzero(np.abs(a) > 360.0)
    if beyond.size:  # a typo (400 for 40): reconstructed without a word as the same tilt as 40 degrees
        raise DataError(f"angles: tilt angle(s) {a[beyond][:5].tolist()} (projection(s) {beyond[:5].tolist()}) lie "
                        "beyond a full turn (360 degrees); a tilt angle is in degrees, within -360 to 360")
    values, counts = np.unique(a, return_counts=True)
    if np.any(counts > 1):  # an angle file with a line twice, or a tilt re-recorded: said, not refused (dose checks)
        v = values[np.argmax(counts > 1)]
        where = np.flatnonzero(a == v)[:2].tolist()
        warnings.warn(f"{int(np.sum(counts - 1))} projection(s) repeat a tilt angle of the series (projections "
                      f"{where[0]} and {where[1]} at {v:g} degrees); if they were not recorded twice, check the angle "
                      "list", UserWarning, stacklevel=stacklevel)
    if a.size >= 3 and 0 < float(np.ptp(a)) <= np.pi + 1e-9 and float(np.max(np.abs(a))) <= np.pi + 1e-9:
        # radians taken for degrees: the alignment then reports a tilt axis hundreds of pixels outside the image
        warnings.warn(f"the tilt angles span only {np.ptp(a):.3g} degrees ({a.min():.3g} to {a.max():.3g}); "
                      "emscale takes degrees: if they are radians, pass np.rad2deg(angles)", UserWarning,
                      stacklevel=stacklevel)
    return a


def check_tilt_axis_name(tilt_axis) -> None:
    """``"y"``, ``"x"`` or ``"auto"`` (:func:`.tilt_axis.resolve_tilt_axis`)."""
    if not isinstance(tilt_axis, str) or tilt_axis not in (*TILT_AXES, "auto"):
        raise AxisError(f"tilt_axis {tilt_axis!r}: use one of {TILT_AXES}, or 'auto' (told by the projections)")


def check_tilt_axis(shape, tilt_axis: str, axis_shift: float) -> None:
    """The tilt axis of a stack of ``shape`` (n_tilts, ny, nx): ``"y"`` or ``"x"``, and inside the image."""
    if tilt_axis not in TILT_AXES:
        raise AxisError(f"tilt_axis {tilt_axis!r}: use one of {TILT_AXES}")
    n_perp = shape[2] if tilt_axis == "y" else shape[1]
    if not abs(axis_shift) < n_perp / 2:
        raise DataError(f"axis_shift {axis_shift} px puts the tilt axis outside the image ({n_perp} px across)")


def tilt_series(
    images, angles, pixel_size: float | None = None, units: str = "nm", tilt_axis: str = "auto",
    axis_shift: float = 0.0, metadata: dict | None = None,
) -> Signal:
    """A tilt-series Signal from a stack of projections and their tilt angles.

    Parameters
    ----------
    images : array (n_tilts, ny, nx), a sequence of 2D arrays, or a Signal whose navigation dimension (one) holds
        the tilts; a Signal keeps its signal-axis calibration unless ``pixel_size`` is given.
    angles : tilt angles in degrees, one per projection.
    pixel_size, units : image calibration (default 1 and ``units``, or the Signal's).
    tilt_axis : ``"y"`` or ``"x"``: the image axis parallel to the tilt axis; ``"auto"`` (the default): the one
        the projections follow (:func:`.tilt_axis.resolve_tilt_axis`: each row's intensity centroid must move with
        the tilt as a point of the object does), ``"y"`` where they do not tell (said in a warning, with both
        misfits). A named axis the projections clearly contradict is said in a warning too.
        ``metadata["Tomography"]["tilt_axis_evidence"]`` holds the numbers.
    axis_shift : tilt-axis position on the perpendicular image axis, pixels from its centre.

    Returns
    -------
    Signal ``(n_tilts, ny, nx)`` float32 with axes ``tilt`` (deg), ``y``, ``x``.

    Raises
    ------
    DataError : empty series, wrong dimensionality, an angle count that differs from the number of projections,
        non-finite angles or projections (NaN/inf, named by tilt index), a tilt axis outside the image.

    Example
    -------
    >>> s = tilt_series(np.zeros((3, 64, 64)), [-60, 0, 60], pixel_size=0.5)
    """
    sig_axes = None
    if isinstance(images, Signal):
        if images.nav_ndim != 1 or images.sig_ndim != 2:
            raise DataError(
                f"images: a tilt series Signal needs one navigation axis and two signal axes, got "
                f"navigation {images.nav_shape} and signal {images.sig_shape}"
            )
        sig_axes = images.axes[1:]
        images = images.to_numpy()
    if isinstance(images, list | tuple):
        shapes = sorted({np.shape(i) for i in images})
        if len(shapes) > 1:
            raise DataError(f"images: projections of different shapes {shapes}; a tilt series needs one image size")
        images = np.stack([np.asarray(i) for i in images]) if images else np.empty((0, 0, 0))
    data = np.asarray(images)
    if data.size == 0:
        raise DataError(f"images: the tilt series is empty (shape {data.shape})")
    if data.ndim != 3:
        spectral = " (a stack of spectrum images: spectral_tilt_series)" if data.ndim == 4 else ""
        raise DataError(f"images: expected a stack (n_tilts, ny, nx), got shape {data.shape}{spectral}")
    check_not_complex("images", data.dtype, "a tilt series holds real intensities: pass their modulus "
                      "(np.abs(images)) or real part (images.real)")
    a = checked_angles(angles, data.shape[0])
    check_finite(data, "images")
    largest = float(np.max(np.abs(data))) if data.dtype.kind == "f" and data.itemsize > 4 else 0.0
    if largest > float(np.finfo(np.float32).max):  # finite here, infinite as float32: said as such, not as NaN
        raise DataError(f"images: values up to {largest:.3g} exceed float32's range ({np.finfo(np.float32).max:.3g}), "
                        "in which the series is reconstructed; scale the data down")
    data = data.astype(np.float32)
    check_tilt_axis_name(tilt_axis)
    # "y" taken because the projections did not tell is said, as the default "y" that smeared the real series was not
    tilt_axis, evidence, said = resolve_tilt_axis(data, a, tilt_axis)
    if said:
        warn_caller(said)
    check_tilt_axis(data.shape, tilt_axis, axis_shift)
    if sig_axes is None or pixel_size is not None:
        sig_axes = image_axes(pixel_size, units, navigate=False)
    md = dict(metadata or {})
    md.setdefault("Signal", {})["signal_type"] = "tilt_series"
    s = Signal(data, axes=[tilt_axis_entry(a)] + list(sig_axes), signal_type="tilt_series", metadata=md)
    s.metadata["Tomography"] = axis_record(md.get("Tomography", {}), s.axes[1:], tilt_axis, float(axis_shift))
    s.metadata["Tomography"]["tilt_axis_evidence"] = evidence
    return s


def image_axes(pixel_size: float | None, units: str, navigate: bool) -> list[dict]:
    """The ``y``, ``x`` axis dicts of a series' images, ``pixel_size`` (default 1) checked."""
    if pixel_size is not None and not (is_number(pixel_size) and 0 < pixel_size < np.inf):
        # -1 made a volume of negative scale, its atoms' coordinates mirrored
        raise DataError(f"pixel_size must be a positive, finite length per pixel, got {pixel_size!r}")
    ps = 1.0 if pixel_size is None else float(pixel_size)
    return [{"name": n, "scale": ps, "units": units, "navigate": navigate} for n in ("y", "x")]


def spectral_tilt_series(
    counts, angles, energy_scale: float = 1.0, energy_offset: float = 0.0, energy_units: str = "keV",
    pixel_size: float | None = None, units: str = "nm", tilt_axis: str = "auto", axis_shift: float = 0.0,
    signal_type: str | None = None, metadata: dict | None = None,
) -> Signal:
    """A spectral tilt series Signal (a spectrum image at each tilt, EDS or EELS) from a 4-D array of counts, the
    input of :func:`.spectral.spectral_tomography`.

    Parameters
    ----------
    counts : array ``(n_tilts, ny, nx, n_channels)``; its dtype is kept (integer counts stay integers).
    angles : tilt angles in degrees, one per spectrum image (checked as :func:`tilt_series` checks them).
    energy_scale, energy_offset, energy_units : the spectral axis's calibration (channel width, first channel).
    pixel_size, units, axis_shift : as :func:`tilt_series`.
    tilt_axis : ``"y"``, ``"x"`` or ``"auto"``, as :func:`tilt_series`, told by the counts summed over the spectrum.
    signal_type : the spectra's kind (``"EDS_TEM"``, ``"EELS"``, ...), as :class:`~emscale.Signal` takes it.

    Returns
    -------
    Signal with navigation axes ``tilt`` (deg), ``y``, ``x`` and signal axis ``Energy``; ``metadata["Tomography"]``
    names the tilt axis and holds its evidence.

    Raises
    ------
    DataError : not 4-D or empty, complex, non-finite counts (named by tilt index), an angle count that differs from
        the number of tilts, a non-positive or non-finite energy scale, a tilt axis outside the image.

    Example
    -------
    >>> s = spectral_tilt_series(counts, np.linspace(-70, 70, 15), energy_scale=0.01)
    >>> vols = spectral_tomography(s, n_components=3)
    """
    data = np.asarray(counts)
    if data.ndim != 4 or data.size == 0:
        raise DataError(f"counts: expected spectrum images at each tilt (n_tilts, ny, nx, n_channels), got shape "
                        f"{data.shape}")
    check_not_complex("counts", data.dtype, "spectral counts are real: pass their modulus or real part")
    a = checked_angles(angles, data.shape[0])
    if data.dtype.kind == "f":
        check_finite(data, "counts")
    if not (is_number(energy_scale) and 0 < energy_scale < np.inf and is_number(energy_offset)
            and np.isfinite(energy_offset)):
        raise DataError(f"energy_scale must be a positive, finite channel width and energy_offset finite, got "
                        f"{energy_scale!r} and {energy_offset!r}")
    check_tilt_axis_name(tilt_axis)
    tilt_axis, evidence, said = resolve_tilt_axis(data.sum(axis=-1), a, tilt_axis)  # as spectral_tomogram reads it
    if said:
        warn_caller(said)
    check_tilt_axis(data.shape[:3], tilt_axis, axis_shift)
    energy = {"name": "Energy", "scale": float(energy_scale), "offset": float(energy_offset),
              "units": energy_units, "navigate": False}
    s = Signal(data, axes=[tilt_axis_entry(a), *image_axes(pixel_size, units, navigate=True), energy],
               signal_type=signal_type or "", metadata=dict(metadata or {}))
    s.metadata["Tomography"] = axis_record(s.metadata.get("Tomography", {}), s.axes[1:3], tilt_axis,
                                           float(axis_shift))
    s.metadata["Tomography"]["tilt_axis_evidence"] = evidence
    return s


def load_tilt_series(path, angles=None, tilt_axis: str = "auto", axis_shift: float = 0.0) -> Signal:
    """Load an MRC tilt series (``emscale.load``, through RosettaSciIO) as a tilt series (:func:`as_tilt_series`),
    angles from ``angles``, a ``.rawtlt``/``.tlt`` beside it. Both steps are in the result's history, so it replays
    from the file.

    Parameters
    ----------
    path : the ``.mrc`` / ``.ali`` / ``.st`` file.
    angles : degrees, or a path to an IMOD angle file; ``None`` looks for ``<stem>.rawtlt`` then ``<stem>.tlt``.
    tilt_axis, axis_shift : see :func:`tilt_series`.

    Example
    -------
    >>> s = load_tilt_series("HAADF.mrc", tilt_axis="x")      # angles from HAADF.rawtlt
    """
    from ..io import load

    path = Path(path)
    rawtlt = None
    if angles is None:
        found = [p for p in (path.with_suffix(".rawtlt"), path.with_suffix(".tlt")) if p.is_file()]
        rawtlt = found[0].name if found else None
    elif isinstance(angles, str | Path):
        beside = Path(angles).resolve().parent == path.resolve().parent
        rawtlt, angles = (Path(angles).name, None) if beside else (None, read_rawtlt(angles).tolist())
    else:
        angles = np.asarray(angles, dtype=float).tolist()
    s = load(path)  # first: a missing file is said as such, not as "no tilt angles for it"
    if isinstance(s, list):
        raise DataError(f"{path}: expected one stack of projections, the file holds {len(s)} signals")
    if angles is None and rawtlt is None and s.nav_ndim == 1:  # the axis' own angles (a saved series), the header's
        try:
            _navigation_angles(s)
        except DataError:
            raise FileFormatError(f"no tilt angles for {path}: pass angles= or put {path.stem}.rawtlt beside it") \
                from None
    return as_tilt_series(s, angles=angles, tilt_axis=tilt_axis, axis_shift=axis_shift, rawtlt=rawtlt)


@operation("as_tilt_series", check={"tilt_axis": check_tilt_axis_name})
def as_tilt_series(s: Signal, angles: list[float] | None = None, tilt_axis: str = "auto", axis_shift: float = 0.0,
                   rawtlt: str | dict | None = None) -> Signal:
    """A loaded stack of projections (e.g. ``em.load("HAADF.mrc")``: one navigation axis, images as signal) as a
    tilt series: navigation axis ``"tilt"`` with ``angles`` (degrees; ``None``: the navigation axis's own values),
    float32 data, the image calibration kept, the tilt axis in the metadata. Errors as :func:`tilt_series`.

    The navigation axis's own values are tilt angles only when it is calibrated in angle units (degrees:
    ``deg``, ``degree(s)``, ``°``; radians ``rad`` / ``mrad`` are converted), as in a DigitalMicrograph tilt
    series. An uncalibrated stack takes the stage tilt its file's header records for each projection (an FEI MRC's
    extended header: :func:`_header_angles`), else needs ``angles=`` (a :class:`DataError` says so).

    ``rawtlt`` takes the angles from an IMOD angle file instead (a recipe's way): the plain name of a file in the
    folder of the file the signal was loaded from (its history's ``load`` step) -- never a path, so a recipe
    reads nothing outside its input's folder. A results folder pins it with the file's SHA-256
    (``{"name", "sha256"}``, which this also takes): the same file, or an error naming it.

    Memory: the series is read whole and returned in memory (float32), a lazily loaded stack too; of the
    tomography steps only the reconstruction streams a lazy series (:func:`.reconstruct.reconstruct_to_store`).

    Example
    -------
    >>> ts = as_tilt_series(em.load("HAADF.mrc"), angles=read_rawtlt("HAADF.rawtlt").tolist(), tilt_axis="x")
    >>> ts = as_tilt_series(em.load("HAADF.mrc"), rawtlt="HAADF.rawtlt", tilt_axis="x")   # the same
    """
    if not isinstance(s, Signal):
        raise DataError(_not_a_signal(s, "as_tilt_series takes a loaded stack (em.load(path))"))
    if s.nav_ndim != 1 or s.sig_ndim != 2:
        # a .npy or .tif stack loads as one 3-D signal: say how to make its first (numpy) axis the tilts
        hint = ("; a stack read as one 3-D signal (a .npy, a .tif) becomes one with s.transpose(signal_axes=[0, 1]), "
                f"its numpy axis 0 ({s.data.shape[0]} images) the tilts" if s.nav_ndim == 0 and s.sig_ndim == 3 else "")
        raise DataError(f"expected a stack of images (one navigation axis, two signal axes); got navigation "
                        f"{s.nav_shape} and signal {s.sig_shape}{hint}")
    if rawtlt is not None:
        if angles is not None:
            raise DataError("give the tilt angles once: angles= or rawtlt=, not both")
        angles = _angles_beside_input(s, rawtlt).tolist()
    a = _navigation_angles(s) if angles is None else angles_array(angles)
    ts = tilt_series(s, a, tilt_axis=tilt_axis, axis_shift=axis_shift)
    axes = [Axis.from_dict(tilt_axis_entry(a), size=len(a))] + [replace(x, navigate=False) for x in s.axes[1:]]
    out = derive(s, ts.data, axes, signal_type="tilt_series")
    out.metadata.setdefault("Signal", {})["signal_type"] = "tilt_series"
    out.metadata["Tomography"] = ts.metadata["Tomography"]
    return out


_ANGLE_UNITS = {"deg": 1.0, "degree": 1.0, "degrees": 1.0, "°": 1.0, "rad": 180 / np.pi, "radian": 180 / np.pi,
                "radians": 180 / np.pi, "mrad": 0.18 / np.pi}


def _navigation_angles(s: Signal) -> np.ndarray:
    """The navigation axis's values in degrees, when its units say they are angles; else the stage tilt of each
    projection as the file's header records it (:func:`_header_angles`)."""
    ax = s.axes[0]
    factor = _ANGLE_UNITS.get(str(ax.units or "").strip().lower())
    if factor is not None:
        return ax.values * factor
    header = _header_angles(s)
    if header is None:
        raise DataError(f"the navigation axis {ax.name!r} is not calibrated in degrees (units {ax.units!r}, values "
                        f"{ax.values[0]:g} .. {ax.values[-1]:g}) and the file's header holds no tilt angle per "
                        "projection: pass the tilt angles (angles= or rawtlt=)")
    return header


def _header_angles(s: Signal) -> np.ndarray | None:
    """The stage tilt of each projection where the metadata hold one a projection (an FEI MRC's extended header,
    read as ``Acquisition_instrument.TEM.Stage.tilt_alpha``: a value a projection; a store saved before the loader cut
    the header's padding also holds zeros to the table's end),
    distinct and finite; else None. The real HAADF series' header holds the angles of its ``.rawtlt``."""
    n = s.axes[0].size
    for inst in (s.metadata.get("Acquisition_instrument") or {}).values():
        stage = inst.get("Stage") if isinstance(inst, dict) else None
        tilts = stage.get("tilt_alpha") if isinstance(stage, dict) else None
        if isinstance(tilts, list | tuple | np.ndarray) and len(tilts) >= n:
            try:
                values = np.asarray(tilts, dtype=float).ravel()
            except (TypeError, ValueError):
                continue
            head = values[:n]
            if np.all(np.isfinite(head)) and np.unique(head).size == n and not np.any(values[n:]):
                return head
    return None


def _angles_beside_input(s: Signal, rawtlt) -> np.ndarray:
    """The angles of the IMOD file ``rawtlt`` (a name, or ``{"name", "sha256"}`` as pinned) in the folder of the
    file ``s`` was loaded from."""
    return read_rawtlt(file_beside_input(s.history, rawtlt, "rawtlt (or pass angles=)"))


# -- views used by the algorithms ----------------------------------------------------------------------------
def angles_of(s: Signal) -> np.ndarray:
    """The tilt angles (degrees) of a tilt-series Signal."""
    try:
        return s.axis("tilt").values.copy()
    except AxisError as e:
        raise AxisError(f"not a tilt series: {e}") from e


def perpendicular_axis(image_axes, tilt_axis: str) -> Axis:
    """Of the image axes ``(y, x)``, the one perpendicular to the tilt axis (the detector of a slice)."""
    return image_axes[1] if tilt_axis == "y" else image_axes[0]


def axis_record(record: dict, image_axes, tilt_axis: str, axis_shift: float) -> dict:
    """``record`` (a ``metadata["Tomography"]``) with the tilt axis and its position: ``axis_shift`` pixels from
    the centre of the perpendicular one of ``image_axes``, written in that axis's calibrated units."""
    perp = perpendicular_axis(image_axes, tilt_axis)
    out = {k: v for k, v in record.items() if k not in ("axis_shift", "axis_position")}
    out["tilt_axis"] = tilt_axis
    if perp.is_uniform:
        out["axis_position"] = float(perp.offset + perp.scale * ((perp.size - 1) / 2 + axis_shift))
    else:  # no calibrated position to keep on a non-uniform axis: pixels, as before
        out["axis_shift"] = float(axis_shift)
    return out


def shift_on(image_axes, record: dict) -> float:
    """The tilt axis's shift in pixels from the centre of the perpendicular one of ``image_axes``."""
    perp = perpendicular_axis(image_axes, record.get("tilt_axis", "y"))
    if "axis_position" in record and perp.is_uniform:
        return float((float(record["axis_position"]) - perp.offset) / perp.scale - (perp.size - 1) / 2)
    # a record from before axis_position: pixels on the axes it was saved with, taken to be these
    return float(record.get("axis_shift", 0.0))


@on_recalibration
def _keep_axis_position(metadata: dict, old_axes, new_axes) -> None:
    """A recalibrated image axis (``s.calibrate("x", scale=0.5)``) keeps the tilt axis where it was in pixels: its
    position is kept in the axis's calibrated units, which the recalibration changed (-62.75 pixels for +2)."""
    record = metadata.get("Tomography")
    if not isinstance(record, dict) or len(old_axes) != 3 or "axis_position" not in record:
        return
    shift = shift_on(old_axes[-2:], record)
    metadata["Tomography"] = axis_record(record, new_axes[-2:], record.get("tilt_axis", "y"), shift)


def axis_shift_of(s: Signal) -> float:
    """Where the tilt axis crosses the images of the tilt series ``s``: pixels from the centre of the image axis
    perpendicular to it, on the series' current axes (so right after any crop or binning).

    Example
    -------
    >>> axis_shift_of(tilt_series(np.zeros((3, 64, 64)), [-60, 0, 60], axis_shift=4.0).rebin((1, 2, 2)))
    2.0
    """
    return shift_on(s.axes[-2:], s.metadata.get("Tomography", {}))


def tomo_meta(s: Signal) -> dict:
    t = s.metadata.get("Tomography", {})
    return {"tilt_axis": t.get("tilt_axis", "y"), "axis_shift": shift_on(s.axes[-2:], t)}


def _not_a_signal(s, what: str) -> str:
    """Why ``s`` (a path, an array) is no Signal, and the call that makes one."""
    if isinstance(s, str | os.PathLike):
        return (f"{what}, not the path {str(s)!r}: tomo.load_tilt_series(path) loads an MRC stack with the angles "
                "of the .rawtlt beside it (or angles=)")
    return (f"{what}, got {type(s).__name__} of shape {np.shape(s)}: wrap the projections and their angles first, "
            "tomo.tilt_series(images, angles)")


def check_series(s: Signal) -> None:
    if not isinstance(s, Signal):
        raise DataError(_not_a_signal(s, "expected a tilt-series Signal"))
    if s.nav_ndim != 1 or s.sig_ndim != 2 or s.axes[0].name != "tilt":
        raise DataError(
            f"expected a tilt series (navigation 'tilt', signal y, x); got axes {[a.name for a in s.axes]}"
        )
    if 0 in s.shape:
        raise DataError(f"the tilt series is empty (shape {s.shape})")
    negative = [a.name for a in s.axes[1:] if a.is_uniform and a.scale < 0]
    if negative:  # a mirrored volume: refused at tilt_series(pixel_size=-1), and so after calibrate(scale=-1)
        raise DataError(f"the tilt series' image axis {negative[0]!r} has a negative scale: a pixel size is positive "
                        "(s.calibrate(axis, scale=...))")
    units = str(s.axes[0].units or "").strip().lower()
    if units not in ANGLE_UNITS:  # the angles are read in degrees, whatever the axis says
        raise DataError(f"the tilt axis is in {s.axes[0].units!r}; tilt angles are read in degrees (units 'deg'): "
                        "convert them (np.rad2deg) and build the series with tomo.tilt_series")


ANGLE_UNITS = ("", "deg", "degree", "degrees", "°")


def check_finite(data: np.ndarray, what: str = "the tilt series") -> None:
    """Every value of the stack ``data`` (n_tilts, ny, nx[, n_channels]) finite, else a :class:`DataError`
    counting the others and naming the first projection that holds one (a series that bypassed
    :func:`tilt_series`: built as a Signal, loaded from a store)."""
    per = np.sum(~np.isfinite(data), axis=tuple(range(1, data.ndim)))
    which = np.flatnonzero(per)
    if which.size:
        raise DataError(f"{what}: {int(per.sum())} NaN or infinite value(s) in {which.size} of {len(data)} "
                        f"projections, the first at tilt index {which[0]}; crop them away (isig) or leave those "
                        "projections out (inav)")


def check_tilts(angles: np.ndarray, what: str, distinct: int = 2) -> None:
    """At least three projections and ``distinct`` different tilts for ``what``, else a :class:`DataError`."""
    a = np.asarray(angles, float)
    if a.size < 3:
        raise DataError(f"{what} needs a tilt series of at least 3 projections, got {a.size} (angles {a.tolist()})")
    n = np.unique(a).size
    if n < distinct:
        same = f"all {a.size} projections are at {a[0]:g} degrees" if n == 1 else f"only {n} different tilts"
        raise DataError(f"{what} needs projections at {distinct} or more different tilts; {same}")


def slice_first(data: np.ndarray, tilt_axis: str) -> np.ndarray:
    """``(n_tilts, ny, nx)`` -> ``(n_slices, n_tilts, n_det)``: slices along the tilt axis first (a view)."""
    return data.transpose(1, 0, 2) if tilt_axis == "y" else data.transpose(2, 0, 1)


def volume_from_slices(slices: np.ndarray, tilt_axis: str) -> np.ndarray:
    """Reconstructed slices ``(n_slices, nz, n_w)`` -> volume ``(z, y, x)``."""
    return slices.transpose(1, 0, 2) if tilt_axis == "y" else slices.transpose(1, 2, 0)
