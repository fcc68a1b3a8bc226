"""Atom tracing in a reconstructed volume: local maxima, sub-voxel refinement, a minimum-distance constraint.

1. The volume is smoothed by a Gaussian of ``smooth`` voxels (noise and streaks make spurious maxima; a
   Gaussian atom stays Gaussian, only wider).
2. Candidates are the voxels that are the maximum of their neighbourhood of radius ``min_distance / 2``, above
   the volume's median.
3. Atoms are the candidates whose peak height exceeds ``threshold``. By default the threshold lies in a gap of
   the candidates' heights over the volume's median (the background: a dark offset or a pedestal moves it from
   zero; read from zero, a volume under zero found no atom and one on a pedestal took its every maximum), on a
   log scale, relative to the brightest atoms' height ``top`` (the median of the heights above half the
   highest): the widest gap below ``top`` first (atoms above, background maxima below), then lower, wherever
   at least three maxima stand above a gap of a factor 1.5 or more -- a lighter species apart from the
   background. Maxima under a tenth of ``top`` are never atoms by default. Heights, not counts:
   Otsu's threshold of all the heights failed where the background maxima outnumber a few atoms (4 atoms in a
   32^3 volume: none found), failed outright where the heights are few and alike (skimage: "too many bins"),
   and split two species at their middle (light atoms at 0.4 of the heavy: all missed). Where many maxima lie
   just under the threshold (above half of it; at least three, and a tenth of the atoms found) a species or the
   noise could not be separated, and a warning says so.
4. Each position is refined per axis by the vertex of the parabola through the logarithms of the three voxels
   about the maximum -- exact for a sampled Gaussian (``log`` of a Gaussian is a parabola).
5. Refined atoms closer than ``min_distance`` are merged, the brighter kept.

References
----------
Y. Yang et al., "Deciphering chemical order/disorder and material properties at the single-atom level", Nature
542 (2017) 75-79 (atom tracing in GENFIRE reconstructions: local maxima, polynomial/Gaussian refinement, a
minimum distance between atoms).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.axes import Axis
from ..core.errors import DataError, check_count, is_number
from ..core.peaks import local_maxima, parabola_vertex
from ..core.registry import operation
from ..core.signal import Signal, derive


@dataclass
class TracedAtoms:
    """Result of :func:`trace_atoms`.

    Attributes
    ----------
    positions : (n_atoms, 3) sub-voxel positions as (z, y, x) voxel indices.
    coordinates : (n_atoms, 3) the same in the volume's calibrated units (its axes' offset + scale * index).
    heights : (n_atoms,) smoothed-volume value at each atom's voxel.
    threshold : the height threshold used.
    populations : with the default threshold, per population of heights taken as atoms (brightest first)
        ``{"count", "median_height"}``: two entries where two species stand apart.
    history : provenance entries (filled by the operation registry).
    """

    positions: np.ndarray
    coordinates: np.ndarray
    heights: np.ndarray
    threshold: float
    populations: list = field(default_factory=list)
    unsmoothed: int = 0  # atoms added from the unsmoothed volume (see locate_atoms)
    history: list = field(default_factory=list)


# a tenth of the brightest atoms: under it FBP's streaks and the noise of a few counts make maxima (measured up to
# 0.25 of the atoms' height), and gaps between sparse small maxima say nothing
FLOOR = 0.1
HALF = 0.5  # maxima taken under this share of the atoms' height, with no gap of SPECIES_GAP above them, are said
SPECIES_GAP = np.log(1.5)  # a second population must stand at least this far (a factor) above what is below it
MAX_DENSER = 0.1  # of the atoms taken: more maxima than this between them and min_distance is said (_warn_if_denser)
DENSER_HEIGHT = 0.8  # ... where those maxima's median height reaches this share of the atoms' (above the background)


def _brightest(hs: np.ndarray) -> float:
    """The brightest atoms' height: the median of the heights ``hs`` (sorted, highest first) above half the highest,
    or of those above a species gap among them (:data:`SPECIES_GAP`, three maxima or more above it). A lighter species
    above half the heavy one's height and in the majority otherwise set it (light atoms at 0.6 of the heavy, 55-73 %
    of them: one population at the light atoms' height, the gap above them masked as among the brightest)."""
    upper = hs[hs >= 0.5 * hs[0]]
    gaps = -np.diff(np.log(upper))
    gaps[:2] = -np.inf
    if gaps.size and gaps.max() >= SPECIES_GAP:
        upper = upper[: int(np.argmax(gaps)) + 1]
    return float(np.median(upper))


def height_threshold(h: np.ndarray) -> tuple[float, list[float]]:
    """The default threshold of the candidate heights ``h`` (see the module) and the lower bounds of the populations
    above it (brightest first; the last is the threshold)."""
    hs = np.sort(np.asarray(h, np.float64))[::-1]
    if hs.size == 0 or not hs[0] > 0:
        return float("nan"), []
    top = _brightest(hs)
    # the last gap is down to nothing: where no maximum lies below the atoms
    gaps = -np.diff(np.log(np.maximum(np.r_[hs, 0.0], 1e-6 * top)))
    gaps[(hs > top) | (hs <= FLOOR * top)] = -np.inf  # a gap among the brightest atoms is not their edge
    cut = int(np.argmax(gaps))
    while gaps[cut + 3:].size and gaps[cut + 3:].max() >= SPECIES_GAP:  # three maxima or more above the next
        cut += 3 + int(np.argmax(gaps[cut + 3:]))

    def mid(i):
        return max(float(np.sqrt(hs[i] * (hs[i + 1] if i + 1 < hs.size else 0.0))), FLOOR * top)

    return mid(cut), [mid(i) for i in _species_bounds(np.flatnonzero(gaps[:cut] >= SPECIES_GAP), cut)]


def _species_bounds(gaps: np.ndarray, cut: int) -> list[int]:
    """The indices (into the heights, highest first) of the species gaps ``gaps`` above the threshold's ``cut`` that
    bound a population of three maxima or more, as the threshold's own rule asks; a gap that leaves fewer under it is
    no population's edge (one maximum of SIRT at 20 counts, a shoulder of a heavy atom 1.9 x under the atoms and 3.7 x
    above the noise, was "a species" that the minimum distance then emptied: populations [358, 0])."""
    bounds = [int(i) for i in gaps] + [cut]
    for j in range(len(bounds) - 2, -1, -1):
        if bounds[j + 1] - bounds[j] < 3:
            del bounds[j]
    if len(bounds) > 1 and bounds[0] + 1 < 3:  # the brightest population too: one or two hot voxels are none
        del bounds[0]
    return bounds


def _populations(heights: np.ndarray, bounds: list[float]) -> list[dict]:
    out, upper = [], np.inf
    for lo in bounds:
        h = heights[(heights > lo) & (heights <= upper)]
        if h.size:  # maxima the minimum distance merged into brighter atoms make no population
            out.append({"count": int(h.size), "median_height": float(np.median(h))})
        upper = lo
    return out


def _warn_if_unresolved(h: np.ndarray, thr: float, n_atoms: int, base: float = 0.0) -> None:
    # just under the threshold, not all the way down: noisy data (FBP at a few hundred counts) have maxima at a
    # quarter of the atoms' height where every atom was found. ``h`` and ``thr`` above the background ``base``.
    under = int(np.sum((h >= 0.5 * thr) & (h <= thr)))
    if under >= max(3, 0.1 * n_atoms):
        warnings.warn(
            f"{under} maxima lie just under the atom threshold {thr + base:.4g} (above half of its height over the "
            f"background {base:.4g}), with {n_atoms} atoms "
            "above it: a lighter species or the noise that the default threshold could not tell apart from the "
            "background; they were not traced. Look at the heights (a histogram of locate_atoms(vol, "
            "threshold=0).heights) and pass threshold= to take them", UserWarning, stacklevel=3)


def _warn_if_run_on(h: np.ndarray, thr: float, bounds: list[float], base: float = 0.0) -> None:
    """Warn where many of the maxima taken lie under half the atoms' height with no gap of a species above them.
    FBP with noise at a fifth of its peak: the noise's maxima run on from the atoms' heights down to a tenth of
    them, the default threshold went to the gap under the lowest, and 2703 maxima were traced for 627 atoms (79 %
    false) with no word. A lighter species whose heights run into the heavy atoms' (smoothing lifts a light atom
    on a heavy neighbour's tail) looks the same by its heights: both are said. ``h``, ``thr`` and the populations'
    lower ``bounds`` (:func:`height_threshold`) over ``base``.

    Where two populations stand apart, the rule is read within the lightest, against its own brightest atoms: a
    light species is no run-on of the heavy one's. Read against the heavy atoms, light atoms at 0.4 of their height
    (a few lifted above half of it, over the species gap) were said to be "the maxima of the noise" (168 of 382)
    while the populations counted them, rightly, as 172 light atoms."""
    upper = bounds[-2] if len(bounds) > 1 else np.inf
    hs = np.sort(h[(h > thr) & (h <= upper)])[::-1]
    if hs.size == 0:
        return
    top = _brightest(hs)
    first = int(np.searchsorted(-hs, -HALF * top, side="right"))  # the first taken maximum under HALF * top
    n_low = hs.size - first
    if n_low < max(3, 0.1 * hs.size) or first == 0:
        return
    if np.max(-np.diff(np.log(hs[first - 1:]))) >= SPECIES_GAP:  # a species parted from the atoms above it
        return
    of = "" if upper == np.inf else f" of the lightest population (under {upper + base:.4g})"
    warnings.warn(
        f"{n_low} of the {hs.size} maxima taken as atoms{of} lie under half the brightest atoms' height over the "
        f"background, with no gap parting them from those above (the threshold {thr + base:.4g} is the gap under the "
        "lowest of them): the maxima of the noise (FBP of noisy data) or a lighter species, which the heights cannot "
        "tell apart. Look at the heights (locate_atoms(vol, threshold=0).heights) and pass threshold=, or trace a "
        "less noisy reconstruction (SIRT, TV)", UserWarning, stacklevel=3)


def _enforce_distance(pos: np.ndarray, heights: np.ndarray, min_distance: float) -> np.ndarray:
    """Indices of atoms kept when pairs closer than ``min_distance`` lose their dimmer member."""
    order = np.argsort(-heights, kind="stable")
    from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    tree = cKDTree(pos)
    removed = np.zeros(len(pos), bool)
    for i in order:
        if removed[i]:
            continue
        for j in tree.query_ball_point(pos[i], min_distance - 1e-9):
            if j != i:
                removed[j] = True
    return np.flatnonzero(~removed)


def check_min_distance(min_distance) -> None:
    """The smallest distance between atoms: a number >= 1 voxel; else a :class:`DataError`."""
    if not (is_number(min_distance) and min_distance >= 1):  # NaN too
        raise DataError(f"min_distance must be at least 1 voxel, got {min_distance}")


def check_smooth(smooth) -> None:
    """The smoothing width: a finite number >= 0 voxels; else a :class:`DataError`."""
    if not (is_number(smooth) and np.isfinite(smooth) and smooth >= 0):
        raise DataError(f"smooth must be a finite width >= 0 voxels (0: none), got {smooth}")


def check_threshold(threshold) -> None:
    """A peak height: None (the default rule) or a finite number; else a :class:`DataError`."""
    if threshold is not None and not (is_number(threshold) and np.isfinite(threshold)):
        raise DataError(f"threshold must be a finite peak height or None (the default rule), got {threshold}")


def locate_atoms(vol, min_distance: float = 4.0, smooth: float = 0.75, threshold: float | None = None,
                 exclude_border: int = 1) -> TracedAtoms:
    """Trace atoms in a volume (numpy ``(z, y, x)`` or a volume Signal).

    Parameters
    ----------
    vol : the reconstruction; atoms bright on a dark background.
    min_distance : smallest allowed distance between atoms, voxels (a little under the nearest-neighbour
        distance, e.g. 0.7 of it).
    smooth : Gaussian smoothing before the search, voxels (0: none).
    threshold : minimum peak height in the smoothed volume; ``None``: in a gap of the candidates' heights (see
        the module; a warning where many maxima lie just under it).
    exclude_border : ignore maxima fewer than this many voxels from a face (1: those on a face; 0: none).

    Returns
    -------
    :class:`TracedAtoms`

    Example
    -------
    >>> atoms = locate_atoms(rec, min_distance=4.0)
    >>> atoms.positions.shape
    """
    sig = vol if isinstance(vol, Signal) else None
    if sig is not None and str(sig.signal_type or "") == "tilt_series":
        raise DataError(f"{sig!r} is a tilt series, not a volume: reconstruct it first (reconstruct_tomogram), "
                        "then trace the atoms of the volume")
    v = np.asarray(sig.data if sig is not None else vol, np.float32)
    if v.ndim != 3 or 0 in v.shape:
        raise DataError(f"vol: expected a non-empty (z, y, x) volume, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise DataError("vol contains NaN or infinite values")
    check_min_distance(min_distance)
    check_smooth(smooth)
    check_threshold(threshold)
    from scipy import ndimage  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    vs = ndimage.gaussian_filter(v, smooth) if smooth > 0 else v
    pos, h, thr, bounds = _maxima(vs, min_distance, threshold, exclude_border, warn=True)
    unsmoothed = 0
    if smooth > 0 and threshold is None and len(pos):
        # smoothing merges a light atom into the tail of a heavy neighbour a few voxels away (light atoms at 0.45
        # 3.96 voxels from heavy ones: 22 % found, 97 % unsmoothed); atoms of the unsmoothed volume that no
        # smoothed atom stands near are added, so the default never finds fewer than either alone
        raw, _, _, _ = _maxima(v, min_distance, None, exclude_border, warn=False)
        if len(raw):
            from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`

            at = tuple(np.clip(np.rint(raw).astype(int), 0, np.array(v.shape) - 1).T)
            # and that stand above the atoms' threshold in the smoothed volume too: a noise maximum of the vacuum
            # does not (white noise at a tenth of the atoms' height: 130-150 of them otherwise)
            far = (cKDTree(pos).query(raw)[0] >= min_distance) & (vs[at] > thr)
            if far.any():
                pos, h = np.concatenate([pos, raw[far]]), np.concatenate([h, vs[at][far]])
                unsmoothed = int(far.sum())
    coords = pos.copy()
    if sig is not None:
        for d, ax in enumerate(sig.axes):
            coords[:, d] = ax.offset + ax.scale * pos[:, d]
    return TracedAtoms(pos, coords, h, thr, _populations(h, bounds), unsmoothed)


def _maxima(vs: np.ndarray, min_distance: float, threshold, exclude_border: int, warn: bool):
    """Refined positions and heights of the atoms of ``vs``, the threshold and the population bounds."""
    peaks = local_maxima(vs, 2 * max(1, int(np.floor(min_distance / 2))) + 1, exclude_border)
    if len(peaks) == 0:
        return np.empty((0, 3)), np.empty(0), float("nan"), []
    h = vs[tuple(peaks.T)]
    bounds: list[float] = []
    # the vacuum's level: the default threshold's ratios and the denser lattice's heights are read above it
    base = float(np.median(vs)) if threshold is None or warn else 0.0
    if threshold is None:
        # heights above the background, as the candidates are: the default's ratios (FLOOR, SPECIES_GAP) are
        # read from the vacuum's level, which a dark offset or a pedestal moves away from zero
        above_base = h - base
        thr, bounds = height_threshold(above_base)
        if warn:
            _warn_if_unresolved(above_base, thr, int(np.sum(above_base > thr)), base)
            _warn_if_run_on(above_base, thr, bounds, base)
        thr, bounds = thr + base, [b + base for b in bounds]
    else:
        thr = float(threshold)
    keep = h > thr
    peaks, h = peaks[keep], h[keep]
    pos = parabola_vertex(vs - min(float(vs.min()), 0.0), peaks, log=True)
    kept = _enforce_distance(pos, h, min_distance)
    pos, h = pos[kept], h[kept]
    if warn:
        _warn_if_denser(vs, pos, thr, min_distance, exclude_border, base)
    return pos, h, thr, bounds


def _warn_if_denser(vs: np.ndarray, pos: np.ndarray, thr: float, min_distance: float, exclude_border: int,
                    base: float) -> None:
    """Warn where many maxima above the threshold, resolved from their neighbours, lie closer than ``min_distance``
    to an atom taken: a lattice denser than ``min_distance`` (an fcc particle 3.54 voxels apart at the default 4:
    305 of 1225 atoms found with no word; at 3, all). The maxima of the smallest neighbourhood (3 voxels) are
    counted; those within 1.5 voxels of an atom are its own. ``base``: the volume's median (the vacuum)."""
    if len(pos) == 0:
        return
    fine = local_maxima(vs, 3, exclude_border)
    fine = fine[vs[tuple(fine.T)] > thr].astype(np.float64)
    if len(fine) < len(pos) + max(3, MAX_DENSER * len(pos)):
        return
    from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`

    dist = cKDTree(pos).query(fine)[0]
    between = (dist > 1.5) & (dist < min_distance)
    if between.sum() < max(3, MAX_DENSER * len(pos)):
        return
    # as high as the atoms taken: the noise of FBP makes maxima between atoms too, lower ones (noisy particles, atoms
    # 5 voxels apart: 400-679 such maxima at 0.55-0.68 of the atoms' median height; the dense lattice's at 0.95)
    atoms = np.clip(np.rint(pos).astype(int), 0, np.array(vs.shape) - 1)
    height = np.median(vs[tuple(fine[between].astype(int).T)]) - base
    if height < DENSER_HEIGHT * (np.median(vs[tuple(atoms.T)]) - base):
        return
    warnings.warn(
        f"{int(between.sum())} maxima above the atom threshold, resolved from their neighbours, as high as the atoms, "
        f"lie closer than min_distance={min_distance:g} voxels to the {len(pos)} atoms taken (median "
        f"{np.median(dist[between]):.2f} "
        "voxels) and were not traced: where they are atoms of a lattice denser than min_distance, pass a smaller one "
        "(about 0.7 of the nearest-neighbour distance)", UserWarning, stacklevel=4)


@operation("trace_atoms", check={"min_distance": check_min_distance, "smooth": check_smooth,
                                   "threshold": check_threshold,
                                   "exclude_border": lambda v: check_count("exclude_border", v, "samples from a face",
                                                                           minimum=0, optional=True)})
def trace_atoms(vol: Signal, min_distance: float = 4.0, smooth: float = 0.75, threshold: float | None = None,
                exclude_border: int = 1) -> Signal:
    """The atoms of a volume Signal as a table Signal ``(n_atoms, 4)``: navigation axis ``atom``, signal axis
    ``field`` = (z, y, x, height), positions in the volume's calibrated units (see :func:`locate_atoms` for the
    method and parameters; ``metadata["AtomTracing"]`` holds the units, the threshold and the voxel positions).

    Example
    -------
    >>> atoms = trace_atoms(volume, min_distance=4.0)
    >>> atoms.data[:, :3]          # z, y, x in nm
    """
    if not isinstance(vol, Signal):
        raise DataError(f"trace_atoms takes a volume Signal (reconstruct_tomogram's result), got "
                        f"{type(vol).__name__} of shape {np.shape(vol)}: for a numpy volume use locate_atoms(vol)")
    found = locate_atoms(vol, min_distance=min_distance, smooth=smooth, threshold=threshold,
                         exclude_border=exclude_border)
    table = np.column_stack([found.coordinates, found.heights]).astype(np.float64)
    axes = [Axis("atom", table.shape[0], navigate=True), Axis("field", 4)]
    out = derive(vol, table, axes, signal_type="atom_positions")
    out.metadata.setdefault("Signal", {})["signal_type"] = "atom_positions"
    out.metadata["AtomTracing"] = {
        "fields": ["z", "y", "x", "height"], "units": [a.units for a in vol.axes] + [""],
        "threshold": found.threshold, "populations": found.populations, "voxel_positions": found.positions.tolist(),
        "unsmoothed": found.unsmoothed,
    }
    return out


def _positions(p, what: str) -> np.ndarray:
    """``(n, 3)`` voxel positions (z, y, x); one position ``(3,)`` or none are taken too. Any other shape was
    reshaped to three columns: ``(n, 2)`` positions failed in numpy's words, or, for n a multiple of 3, were
    silently regrouped into wrong positions."""
    a = np.asarray(p, float)
    if a.size == 0:
        return a.reshape(0, 3)
    if a.shape == (3,):
        return a.reshape(1, 3)
    if a.ndim != 2 or a.shape[1] != 3:
        raise DataError(f"match_atoms: {what} must be (n, 3) positions (z, y, x in voxels), got shape {a.shape}"
                        + (" -- 2-D positions? add the z coordinate" if a.ndim == 2 and a.shape[1] == 2 else ""))
    if not np.isfinite(a).all():  # was scipy's "'x' must be finite"
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise DataError(f"match_atoms: {what} holds {bad.size} position(s) that are not finite (NaN or inf; the "
                        f"first at row {bad[0]})")
    return a


def match_atoms(found: np.ndarray, truth: np.ndarray, max_distance: float) -> dict:
    """Compare traced positions with the truth: one-to-one matches within ``max_distance`` voxels, closest pairs
    first (exact when ``max_distance`` is under half the atom spacing). Returns ``found_fraction`` (of the true
    atoms), ``false_fraction`` (of the traced atoms), ``rms`` (voxels, 3D distance over the matches) and
    ``pairs`` (index into ``found``, index into ``truth``)."""
    if not (is_number(max_distance) and 0 < max_distance < np.inf):  # scipy takes a negative bound as none at all
        raise DataError(f"max_distance must be a positive, finite distance in voxels, got {max_distance!r}")
    found, truth = _positions(found, "found"), _positions(truth, "truth")
    pairs: list[tuple[int, int]] = []
    if len(found) and len(truth):
        from scipy.spatial import cKDTree  # here: scipy's submodules cost 0.1-1 s at `import emscale`
        d, j = cKDTree(truth).query(found, k=min(4, len(truth)), distance_upper_bound=max_distance)
        d, j = d.reshape(len(found), -1), j.reshape(len(found), -1)
        cand = [(d[i, k], i, j[i, k]) for i in range(len(found)) for k in range(d.shape[1]) if np.isfinite(d[i, k])]
        used_f, used_t = set(), set()
        for _, i, jj in sorted(cand):
            if i not in used_f and jj not in used_t:
                pairs.append((int(i), int(jj)))
                used_f.add(i)
                used_t.add(jj)
    err = np.array([found[a] - truth[b] for a, b in pairs]).reshape(-1, 3)
    return {
        "found_fraction": len(pairs) / max(len(truth), 1),
        "false_fraction": (len(found) - len(pairs)) / max(len(found), 1),
        "rms": float(np.sqrt(np.mean(np.sum(err**2, axis=1)))) if len(pairs) else float("nan"),
        "pairs": pairs,
    }
