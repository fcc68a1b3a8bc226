"""The SLADS regression: expected reduction in distortion (ERD) of measuring a pixel, from its features.

Model (Godaliyadda et al. 2018, sec. III): ``ERD(s) = g(z_s)`` where ``z_s`` are the features of
:mod:`.slads_features`, standardised, and ``g`` a regression fitted on training images (:mod:`.slads_regressors`):
the mean of three small ReLU perceptrons fitted to the root of the ERD (``"mlp"``, the default) or the paper's
degree-2 polynomial ridge regression (``"poly2"``).

Training target (the paper's approximation of the reduction in distortion, eq. 14): measuring ``s`` mostly
repairs the reconstruction error near ``s``, so::

    RD(s) = sum_r h(s, r) |x_r - x_hat_r| / scale,   h(s, r) = exp(-|r - s|^2 / (2 sigma_s^2)),
    sigma_s = d1(s) / c,

with ``d1`` the distance from ``s`` to its nearest measurement and ``c`` a constant (the paper tunes c per
image class; ``c = 4`` here). The sum is evaluated for every pixel at once by Gaussian-filtering the error map at
a ladder of widths and interpolating in log sigma.

Two regressions of the same kind (version 3): the *local* one on the seven local features, and the *lattice*
one on those and ``pdev`` (the disagreement with the periodic estimate, :mod:`.slads_periodic`), fitted only on
the training pixels of scans in which a lattice was found (``pdev > 0``). A pixel gets the lattice regression
when its ``pdev`` is not 0, the local one otherwise; on an image without a lattice ``pdev`` is exactly 0, so the
model predicts there exactly what the local regression alone (a version-2 model) does, whatever the lattice
regression learned. One regression on all eight features did not keep that promise: on the benchmark's HAADF
projections it lost up to 7 dB at 30-40 % measured, with ``pdev`` = 0 on every pixel.

Saved models are JSON (no unpickling): format name, version, the feature names, k, c, the regression's name, the
standardisation and the regression's arrays (as lists), and the lattice regression's (or null). Loading checks
all of them; version-1 files (before the regression was named: always the polynomial) and version-2 files (no
lattice regression) still load and predict as before from the local features; newer versions and other feature
sets are refused.

References
----------
G. M. D. Godaliyadda et al., IEEE Trans. Comput. Imaging 4 (2018) 1-16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write
from ..core.errors import DataError, check_count, check_positive, check_seed, is_number, warn_caller
from ._model_fields import array, bad, count, nested_within, number, required, shown
from .patterns import random_pattern
from .slads_features import FEATURES, LOCAL_FEATURES, NeighbourState
from .slads_regressors import (
    REGRESSORS,
    fit_mlp,
    fit_poly2,
    params_from_json,
    params_to_json,
    predict_mlp,
    predict_poly2,
)

FORMAT = "emscale-slads-erd"
VERSION = 3  # 3: + the lattice regression on FEATURES; 2: the regression is named; 1: always "poly2"
# Training pixels with pdev > 0 needed to fit the lattice regression. With 4 500-7 500 (two 64 x 64 lattices, the
# perceptron test in tests/sampling) it steered 1.4 dB worse than the local regression alone on held-out
# lattices; with 148 000 (the benchmark's eight 128 x 128 lattices) 0.9 dB better.
MIN_LATTICE_PIXELS = 20000
# Neighbours of the features: a scan holds (pixels, k) arrays of them, so a model file's k is bounded (the paper
# uses up to 10; 4 here) lest a crafted file ask for terabytes.
MAX_K = 64
INFO_DEPTH = 16  # nesting of a model's training summary (3 as train_erd_model writes it)
# R^2 on the training pixels below which a trained model is said to explain little: 0.3-0.8 on lattices, discs and
# real HAADF projections; 0.02 on images of a few counts in all, whose ERD the features do not predict
MIN_R2 = 0.1


@dataclass
class ERDModel:
    """A regression from SLADS features to the ERD (:mod:`.slads_regressors`), with its standardisation.

    Attributes
    ----------
    regressor : ``"mlp"`` (perceptron) or ``"poly2"`` (degree-2 polynomial ridge regression).
    params : the regression's arrays (see :mod:`.slads_regressors`).
    mean, std : (n_features,) standardisation of the features.
    k : neighbours of the features and the reconstruction.
    c : width constant of the training target.
    info : training summary (images, fractions, seed, R^2).
    lattice : ``None`` or ``{"params", "mean", "std"}``: the same kind of regression on all of
        :data:`FEATURES`, used for the pixels whose ``pdev`` is not 0 (a lattice was found in the scan); the
        others get the local regression (``params``, ``mean``, ``std`` over ``LOCAL_FEATURES``), so on an image
        without a lattice the model predicts exactly what the local one alone does.
    """

    regressor: str
    params: dict
    mean: np.ndarray
    std: np.ndarray
    k: int = 4
    c: float = 4.0
    info: dict = field(default_factory=dict)
    lattice: dict | None = None
    source: str = field(default="the ERD model", compare=False, repr=False)  # its file, for the messages

    def __post_init__(self):
        if self.regressor not in REGRESSORS:
            raise ValueError(f"regressor must be one of {list(REGRESSORS)}, got {self.regressor!r}")

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """ERD of pixels with features ``feats`` (n, n_features), in units of the scan's value scale."""
        feats = np.asarray(feats, dtype=np.float64)
        m, lat = len(LOCAL_FEATURES), self.lattice
        gate = feats[:, m] > 0 if lat is not None and feats.shape[1] > m else np.zeros(0, bool)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the error below, not a warning
            if not gate.any():  # no lattice (or no lattice regression): the local regression alone
                out = self._regress(self.params, _standardise(feats[:, :m], self.mean, self.std))
            elif gate.all():  # a lattice in the scan: pdev > 0 at every pixel
                out = self._regress(lat["params"], _standardise(feats, lat["mean"], lat["std"]))
            else:
                out = np.empty(feats.shape[0])
                out[~gate] = self._regress(self.params, _standardise(feats[~gate, :m], self.mean, self.std))
                out[gate] = self._regress(lat["params"], _standardise(feats[gate], lat["mean"], lat["std"]))
        self._check_finite(out, feats)
        return out

    def _check_finite(self, erd: np.ndarray, feats: np.ndarray) -> None:
        """A NaN or infinite ERD is an error naming the model: SLADS would measure such pixels in index order,
        exit 0 and call the scan spent (load bounds what it can, not every weight's product)."""
        off = np.flatnonzero(~np.isfinite(erd))
        if off.size:
            whose = "features" if np.isfinite(feats[off]).all() else "features (some of them not finite)"
            raise DataError(f"{self.source}: the predicted ERD is NaN or infinite at {off.size} of {erd.size} pixels "
                            f"(the first with {whose} {np.round(feats[off[0]], 4).tolist()}): its numbers overflow; "
                            "retrain the model or use another file")

    def _regress(self, params: dict, z: np.ndarray) -> np.ndarray:
        return predict_poly2(params, z) if self.regressor == "poly2" else predict_mlp(params, z)

    # -- persistence -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": list(FEATURES),
            "k": int(self.k),
            "c": float(self.c),
            "regressor": self.regressor,
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            **params_to_json(self.regressor, self.params),
            "lattice": None if self.lattice is None else {
                "mean": [float(v) for v in self.lattice["mean"]], "std": [float(v) for v in self.lattice["std"]],
                **params_to_json(self.regressor, self.lattice["params"])},
            "info": self.info,
        }

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the model as JSON (a safe format: loading never executes code), atomically: the file appears
        whole or not at all, and an existing one is replaced only with ``overwrite=True`` (and only once the new
        one is complete). Returns the path."""
        path = Path(path)
        atomic_write(path, json.dumps(self.to_dict(), indent=1), overwrite=overwrite)
        return path

    @classmethod
    def load(cls, path) -> ERDModel:
        """Read a model written by :meth:`save`. The file may come from anyone: anything but a model this emscale
        reads is one :class:`DataError` (a ValueError) naming the file -- another format, version or feature set --
        and, for a damaged one, the field (missing, of a wrong type or shape, a number not finite, a ``std`` or scale
        not > 0, a standardisation or scale number beyond ``_model_fields.MAGNITUDE``, ``k`` beyond :data:`MAX_K`).
        What still overflows (a weight of 1e200) is an error naming the file when the scan predicts with it."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: not a SLADS ERD model file (JSON expected): {e}") from None
        except RecursionError:
            raise DataError(f"{path}: not a SLADS ERD model file (JSON nested too deeply to read)") from None
        except ValueError:  # an integer of more digits than Python converts (4300)
            raise DataError(f"{path}: not a SLADS ERD model file (a number of thousands of digits)") from None
        return cls.from_dict(d, source=str(path))

    @classmethod
    def from_dict(cls, d, source: str = "model") -> ERDModel:
        """The model of :meth:`to_dict`'s dict (or a version-1 file's: a polynomial model without the
        ``regressor`` field)."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError(f"{source}: not a SLADS ERD model (format {FORMAT!r} expected)")
        ver = d.get("version")
        if not isinstance(ver, int) or isinstance(ver, bool) or not 1 <= ver <= VERSION:
            newer = isinstance(ver, int) and not isinstance(ver, bool) and ver > VERSION
            raise DataError(f"{source}: model version {shown(ver)} " + (
                f"is newer than this emscale reads (1 to {VERSION}); upgrade emscale or retrain" if newer else
                f"unknown (this emscale reads 1 to {VERSION})"))
        feats = d.get("features", [])
        want = FEATURES if ver >= 3 else LOCAL_FEATURES
        if not isinstance(feats, list) or tuple(feats) != want:
            raise DataError(f"{source}: model (version {ver}) trained on features {shown(feats)}, this emscale "
                            f"computes {list(want)} for that version; retrain the model")
        kind = d.get("regressor", "poly2") if ver >= 2 else "poly2"
        if kind not in REGRESSORS:
            raise DataError(f"{source}: regressor {shown(kind)} unknown (this emscale reads {list(REGRESSORS)})")
        m = len(LOCAL_FEATURES)
        params = params_from_json(kind, d, m, source)
        mean, std = _standardisation(d, m, source)
        lattice = None
        if ver >= 3 and d.get("lattice") is not None:
            lat = d["lattice"]
            if not isinstance(lat, dict):
                raise bad(source, "lattice", "must be an object or null", lat)
            lmean, lstd = _standardisation(lat, len(FEATURES), source, "lattice.")
            lattice = {"params": params_from_json(kind, lat, len(FEATURES), source, "lattice."),
                       "mean": lmean, "std": lstd}
        k = count(required(d, "k", source), source, "k", MAX_K)
        c = number(required(d, "c", source), source, "c", positive=True)
        info = d.get("info", {})
        # the training summary travels into every scan's history: an object of JSON values, shallow enough to encode
        if not isinstance(info, dict) or not nested_within(info, INFO_DEPTH):
            raise bad(source, "info", f"must be an object nesting at most {INFO_DEPTH} levels (the training summary)",
                      info)
        return cls(regressor=kind, params=params, mean=mean, std=std, k=k, c=c, info=dict(info), lattice=lattice,
                   source=source)


def _standardise(f: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(f - mean) / std`` with one temporary (a refresh standardises ~10^5 x 8 features)."""
    z = f - mean
    z /= std
    return z


def _standardisation(d: dict, m: int, source: str, prefix: str = ""):
    why = f"the standardisation does not match {m} features"
    mean = array(required(d, "mean", source, prefix), (m,), source, prefix + "mean", bounded=True, why=why)
    # std divides the features: 0 makes every standardised feature, and so every ERD, NaN; 1e-320 (or a mean of
    # 1.7e308) makes them infinite, and the ERD NaN too (_model_fields.MAGNITUDE)
    std = array(required(d, "std", source, prefix), (m,), source, prefix + "std", positive=True, bounded=True,
                why=why)
    return mean, std


def erd_target(image: np.ndarray, state: NeighbourState, c: float = 4.0) -> np.ndarray:
    """The approximate reduction in distortion of measuring each pixel (flat, 0 at measured pixels).

    Parameters
    ----------
    image : (rows, cols) ground truth.
    state : the measurements and their reconstruction.
    c : width constant, ``sigma_s = d1(s) / c``.
    """
    err = np.abs(image.astype(np.float64).ravel() - state.recon) / state.scale
    err[state.measured] = 0.0
    err = err.reshape(state.shape)
    sigma = np.sqrt(state.nn_d2[:, 0]) / c
    levels = np.geomspace(0.25, max(1.0, float(sigma.max())) * 1.01, 12)
    from scipy.ndimage import gaussian_filter  # here: scipy's submodules cost 0.1-1 s at `import emscale`
    stack = np.stack([gaussian_filter(err, s, mode="constant", truncate=3.0).ravel() * (2 * np.pi * s * s)
                      for s in levels])
    ls = np.log(np.clip(sigma, levels[0], levels[-1]))
    pos = np.interp(ls, np.log(levels), np.arange(levels.size))
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, levels.size - 1)
    t = pos - lo
    cols = np.arange(err.size)
    rd = (1 - t) * stack[lo, cols] + t * stack[hi, cols]
    rd[state.measured] = 0.0
    return rd


def training_set(images, fractions=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4), n_pixels: int = 4000, k: int = 4,
                 c: float = 4.0, seed: int = 0):
    """Features and ERD targets of unmeasured pixels under seeded random masks of each training image.

    Returns (features (n, n_features), targets (n,)).
    """
    rng = np.random.default_rng(seed)
    fs, ts = [], []
    for img in images:
        img = np.asarray(img, dtype=np.float64)
        for frac in fractions:
            mask = random_pattern(img.shape, frac, seed=int(rng.integers(2**31)))
            flat = np.flatnonzero(mask)
            if flat.size < k:
                continue
            st = NeighbourState(img.shape, flat, img.ravel()[flat], k=k)
            rd = erd_target(img, st, c=c)
            u = np.flatnonzero(~st.measured)
            pick = rng.choice(u, min(n_pixels, u.size), replace=False)
            fs.append(st.features[pick])
            ts.append(rd[pick])
    if not fs:
        raise ValueError("no training pixels: give 2-D images larger than k pixels")
    return np.concatenate(fs), np.concatenate(ts)


def without_contrast(images) -> list[int]:
    """Indices of the images that hold one value at every pixel. Nothing is learnt from them: the reconstruction of
    any mask is exact, the ERD targets are rounding noise (np.ones: at most 6e-16), and a model of them only of
    noise (it reported R^2 0.8 on two such images)."""
    return [i for i, im in enumerate(images) if np.size(im) and np.min(im) == np.max(im)]


def check_fractions(fractions) -> tuple[float, ...]:
    """The fractions of the training masks as floats: one or more numbers in (0, 1) (at 1 no pixel is left
    unmeasured to learn from); else a DataError naming them."""
    try:
        fractions = tuple(fractions)
    except TypeError:
        fractions = (fractions,)
    if not fractions or not all(is_number(f) and 0 < f < 1 for f in fractions):
        raise DataError(f"fractions must be in (0, 1) (shares of pixels measured), got {list(fractions)}")
    return tuple(float(f) for f in fractions)


def train_erd_model(images, fractions=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4), n_pixels: int = 4000, k: int = 4,
                    c: float = 4.0, alpha: float | None = None, seed: int = 0, regressor: str = "mlp",
                    hidden=(16, 16), members: int = 3, min_lattice_pixels: int = MIN_LATTICE_PIXELS) -> ERDModel:
    """Fit the ERD regression on training images (offline, once per image class).

    Parameters
    ----------
    images : iterable of (rows, cols) arrays (e.g. HAADF projections, ADF images, synthetic lattices).
    fractions : sampling fractions of the random training masks.
    n_pixels : unmeasured pixels drawn per (image, fraction).
    k, c : neighbours and target width constant (see the module docstring).
    alpha : L2 penalty; ``None``: 1e-4 for the perceptron's weights, 1e-3 for the polynomial's ridge.
    seed : seeds the masks, the pixel draws and the perceptron's initial weights and batches.
    regressor : ``"mlp"`` (the mean of ``members`` ReLU perceptrons with ``hidden`` units per layer) or
        ``"poly2"`` (degree-2 polynomial ridge regression, version 1's model); see :mod:`.slads_regressors`.
    hidden, members : hidden layer widths and number of the perceptrons.
    min_lattice_pixels : the lattice regression (see :class:`ERDModel`) is fitted only if at least this many
        training pixels have ``pdev > 0`` (scans in which a lattice was found); with fewer the model has none.

    Returns
    -------
    ERDModel

    Example
    -------
    >>> model = train_erd_model([lattice_image((96, 96), seed=s) for s in range(3)])
    >>> model.save("adf_erd.json")
    """
    if regressor not in REGRESSORS:
        raise ValueError(f"regressor must be one of {list(REGRESSORS)}, got {regressor!r}")
    # the rules of a model file's fields (ERDModel.from_dict), before any pixel is drawn: c = 0 ended in an
    # IndexError of index -9223372036854775808, c = -1 saved a model that load refuses, members = 0 in a
    # ZeroDivisionError, fractions (1.0,) in scikit-learn's "Found array with 0 sample(s)"
    check_count("n_pixels", n_pixels)
    check_count("k", k)
    if k > MAX_K:
        raise DataError(f"k must be at most {MAX_K} (neighbours of the features), got {k}")
    check_positive("c", c, "the target's width: sigma = d1 / c")
    check_count("members", members, "perceptrons averaged")
    check_seed(seed)
    fractions = check_fractions(fractions)
    images = [np.asarray(im) for im in images]
    for i, im in enumerate(images):
        if im.ndim != 2:
            raise ValueError(f"training image {i} has shape {im.shape}; 2-D images expected")
        if im.dtype.kind not in "biuf":
            raise DataError(f"training image {i} holds {im.dtype} values; real numbers expected")
        if not np.all(np.isfinite(im)):  # scikit-learn: "Input X contains NaN. MLPRegressor does not accept..."
            bad = int(np.size(im) - np.count_nonzero(np.isfinite(im)))
            raise DataError(f"training image {i} holds {bad} NaN or infinite value(s); fill or crop them first "
                            "(e.g. np.nan_to_num(image, nan=np.nanmedian(image)))")
    flat = without_contrast(images)
    if flat:
        listed = ", ".join(map(str, flat[:10])) + (f" ... ({len(flat)})" if len(flat) > 10 else "")
        raise DataError(f"training image{'s' * (len(flat) > 1)} {listed} of {len(images)} "
                        f"{'have' if len(flat) > 1 else 'has'} no contrast (one value at every pixel): there is no "
                        f"error to learn the ERD from; drop {'them' if len(flat) > 1 else 'it'}")
    f, t = training_set(images, fractions, n_pixels, k, c, seed)
    alpha = (1e-3 if regressor == "poly2" else 1e-4) if alpha is None else float(alpha)
    m = len(LOCAL_FEATURES)
    params, mean, std, r2 = _fit(f[:, :m], t, regressor, alpha, hidden, members, seed)
    info = {"n_images": len(images), "fractions": [float(x) for x in fractions], "n_samples": int(len(t)),
            "seed": int(seed), "regressor": regressor, "alpha": alpha, "r2": round(r2, 4)}
    if r2 < MIN_R2:  # the model was written without a word, and a scan steered by it follows noise
        share = f"only {info['r2']:g}" if r2 > 0 else "none"  # R^2 < 0: worse than predicting the mean
        warn_caller(f"the ERD model explains {share} of its training targets' variance (R^2 {info['r2']:g}, below "
                    f"{MIN_R2}): its predictions of where a measurement helps most are little better than a guess; "
                    "train it on more images, or images with more counts or structure, or more pixels (n_pixels)")
    if regressor == "mlp":
        info["hidden"] = [int(h) for h in hidden]
        info["members"] = int(members)
    gate = f[:, m] > 0  # pixels of scans in which a lattice was found
    lattice = None
    if gate.sum() >= max(int(min_lattice_pixels), 1):
        lp, lmean, lstd, lr2 = _fit(f[gate], t[gate], regressor, alpha, hidden, members, seed)
        lattice = {"params": lp, "mean": lmean, "std": lstd}
        info["lattice"] = {"n_samples": int(gate.sum()), "r2": round(lr2, 4)}
    return ERDModel(regressor=regressor, params=params, mean=mean, std=std, k=k, c=c, info=info, lattice=lattice)


def _fit(f: np.ndarray, t: np.ndarray, regressor: str, alpha: float, hidden, members: int, seed: int):
    """Standardise ``f`` and fit the regression; returns (params, mean, std, R^2 on the training pixels)."""
    mean = f.mean(axis=0)
    std = f.std(axis=0)
    std[std == 0] = 1.0
    z = (f - mean) / std
    if regressor == "poly2":
        params = fit_poly2(z, t, alpha)
        pred = predict_poly2(params, z)
    else:
        params = fit_mlp(z, t, hidden=hidden, members=members, alpha=alpha, seed=seed)
        pred = predict_mlp(params, z)
    r2 = 1.0 - float(np.sum((t - pred) ** 2) / max(np.sum((t - t.mean()) ** 2), 1e-300))
    return params, mean, std, r2


def lattice_image(shape=(128, 128), spacing: float = 8.0, angle: float = 0.0, width: float = 1.2,
                  vacancy: float = 0.05, noise_dose: float | None = 200.0, seed: int = 0) -> np.ndarray:
    """A synthetic atomic-resolution ADF image: Gaussian columns on a (possibly rotated) 2-D lattice.

    Two sublattices of different brightness (a heavy and a light column per cell), random vacancies,
    a smooth thickness ramp, and optional Poisson noise of ``noise_dose`` counts at the brightest column.

    Returns
    -------
    (rows, cols) float64 image.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    ca, sa = np.cos(angle), np.sin(angle)
    img = np.zeros(shape)
    reach = int(np.hypot(ny, nx) / spacing) + 2
    ij = np.mgrid[-reach : reach + 1, -reach : reach + 1].reshape(2, -1).T
    for frac, amp in ((0.0, 1.0), (0.5, 0.45)):
        u = (ij[:, 1] + frac) * spacing
        v = (ij[:, 0] + frac) * spacing
        cx = nx / 2 + ca * u - sa * v
        cy = ny / 2 + sa * u + ca * v
        keep = (cx > -3 * width) & (cx < nx + 3 * width) & (cy > -3 * width) & (cy < ny + 3 * width)
        keep &= rng.random(keep.size) > vacancy
        for x0, y0 in zip(cx[keep], cy[keep], strict=True):
            r = int(4 * width) + 1
            y_lo, y_hi = max(int(y0) - r, 0), min(int(y0) + r + 1, ny)
            x_lo, x_hi = max(int(x0) - r, 0), min(int(x0) + r + 1, nx)
            if y_lo >= y_hi or x_lo >= x_hi:
                continue
            patch = np.exp(-((yy[y_lo:y_hi, x_lo:x_hi] - y0) ** 2 + (xx[y_lo:y_hi, x_lo:x_hi] - x0) ** 2)
                           / (2 * width**2))
            img[y_lo:y_hi, x_lo:x_hi] += amp * patch
    img *= 0.8 + 0.4 * xx / max(nx - 1, 1)
    img += 0.05
    if noise_dose is not None:
        img = rng.poisson(img * noise_dose) / noise_dose
    return img


def disc_image(shape=(128, 128), n: int = 8, seed: int = 0, radius: tuple[float, float] = (2.5, 7.0),
               noise_dose: float | None = None) -> np.ndarray:
    """A synthetic particle image: ``n`` flat discs (radii uniform in ``radius``, brightness 0.5-1) on a weak
    horizontal ramp, optional Poisson noise of ``noise_dose`` counts per unit brightness; the non-periodic
    counterpart of :func:`lattice_image` for training and tests.

    Returns
    -------
    (rows, cols) float64 image.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    img = 0.1 + 0.05 * xx / shape[1]
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        r = rng.uniform(*radius)
        img = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, rng.uniform(0.5, 1.0), img)
    return img if noise_dose is None else rng.poisson(img * noise_dose) / noise_dose
