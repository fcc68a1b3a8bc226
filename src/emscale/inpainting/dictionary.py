"""Learned patch-dictionary reconstruction of a sparsely scanned image (masked K-SVD, in the spirit of BPFA).

The image is cut into overlapping ``p x p`` patches ``y_i`` (a vector of ``P = p^2`` values of which only those
where the mask ``m_i`` is True were measured). Each patch is modelled as ``y_i ~ D a_i`` with a dictionary ``D``
(``P x K`` unit-norm atoms, the first one constant) and a sparse code ``a_i`` (the constant atom and at most
``k`` others). Dictionary and codes are learned from the measured pixels only, by alternating

* masked orthogonal matching pursuit: the greedy ``a_i`` minimising ``||m_i * (y_i - D a_i)||^2``
  (atoms scored by their correlation with the residual divided by their norm on the measured pixels, a
  least-squares refit on the measured pixels after each pick; batched over patches), and
* a masked K-SVD atom update (Mairal, Elad, Sapiro 2008): for each atom, the rank-1 weighted least-squares fit
  of the residual of the patches that use it, counted on measured pixels only.

The dictionary is learned from the sparse data themselves, as the beta-process factor analysis (BPFA) of
Stevens et al. does with a Bayesian sampler; here the sparsity level is set by the measured pixels per patch and
the fit is deterministic given ``seed`` (which picks the training patches). The image is the average of the
overlapping patch models ``D a_i``.

The unmeasured pixels of a patch enter as pseudo-observations of a start image with weight ``prior_weight``
(without them 10 % of an 8 x 8 patch is 6 values, too few to pick atoms from an overcomplete dictionary). The
start decides most of the result. Measured at 10 / 20 % (bench_inpainting.py, 256 x 256): from the FISTA
``"sparse"`` start (the default) the dictionary stage adds +0.03 to +0.2 dB on the real HAADF images and +0.2 to
+1.1 dB on synthetic lattices (a repeated motif is what a learned dictionary captures); from ``"biharmonic"``,
+0.1 to +0.6 dB over biharmonic; from the Gaussian ``"smooth"`` fill of the first version it ended 0.1 to 2.8 dB
*below* biharmonic on the HAADF projections (1.4 dB above on the Velox image). So this method is a refinement of
the sparsity-prior reconstruction at 5-20 times its cost, not a better prior on its own; see
``benchmarks/bench_inpainting.py`` for the table.

A refinement can also make things worse: ``k`` atoms a patch cannot reproduce a start that is already near exact
(a noise-free lattice the sparse prior recovers to 80-94 dB came out at 60-65 dB), and on a few noisy lattices it
lost 0.1-0.25 dB. So by default (``refine="auto"``) a seeded tenth of the measured pixels of a central crop is
hidden (:func:`.sparse.hold_out`, with another seed than the one the sparse start chose its settings on), the
whole start is made again without them, a dictionary is learned on it, the crop's patches are coded, and the patch
models replace the start -- on the whole image or not at all -- only if they predict the hidden pixels better.
That costs a second start (its settings kept: no second hold-out), a learning and the crop's coding (on an image of
at most :data:`.sparse.CV_SIZE` a side the crop is the whole image); where the patch models lose, the learning and
coding of the whole image are skipped. Where too few pixels are measured to hide any, the start is refined.

References
----------
Aharon, Elad, Bruckstein, "K-SVD: an algorithm for designing overcomplete dictionaries for sparse
representation", IEEE Trans. Signal Process. 54 (2006) 4311-4322.
Mairal, Elad, Sapiro, "Sparse representation for color image restoration", IEEE Trans. Image Process. 17 (2008)
53-69.
Stevens, Yang, Carin, Arslan, Browning, Microscopy 63 (2014) 41-51 (BPFA for STEM).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import DataError, check_count, check_flag, check_number, check_seed
from ..engine.blas import one_blas_thread
from ._checks import check_image_and_mask, standardise
from .baselines import biharmonic
from .sparse import INTERPOLATION, TOO_FEW_TO_HOLD_OUT, hold_out, smooth_fill, sparse
from .sparse import OPTION_CHECKS as SPARSE_OPTIONS

__all__ = ["OPTION_CHECKS", "check_options", "dictionary", "learn_dictionary", "masked_omp", "odct_dictionary"]

BATCH = 2048  # patches per batch of the pursuit: its (batch, k, P) work arrays stay in cache (8192: 1.2x slower)
RIDGE = 1e-3
PRIOR_WEIGHT = 0.5  # weight of the start image at unmeasured pixels (pseudo-observations; 0.1 measured worse)


def odct_dictionary(p: int, n_1d: int | None = None) -> np.ndarray:
    """Overcomplete 2-D DCT dictionary ``(p*p, n_1d**2)``, unit-norm atoms, atom 0 constant: the start."""
    n_1d = n_1d or int(np.ceil(np.sqrt(2 * p * p)))
    k = np.arange(n_1d)
    d1 = np.cos(np.outer(np.arange(p), k) * np.pi / n_1d)
    d1[:, 1:] -= d1[:, 1:].mean(axis=0)
    d = np.kron(d1, d1)
    return d / np.linalg.norm(d, axis=0)


def _corners(n: int, p: int, stride: int) -> np.ndarray:
    c = list(range(0, n - p + 1, stride))
    if c[-1] != n - p:
        c.append(n - p)
    return np.asarray(c)


def _patches(x: np.ndarray, p: int, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    w = sliding_window_view(x, (p, p))[cy][:, cx]
    return w.reshape(len(cy) * len(cx), p * p)


def masked_omp(Y: np.ndarray, M: np.ndarray, D: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Masked OMP of patches ``Y`` (n, P) with masks ``M`` (n, P; float 0/1) on dictionary ``D`` (P, K).

    Atom 0 is always used. Returns ``support`` (n, k+1) int and ``coef`` (n, k+1)."""
    n = Y.shape[0]
    support = np.zeros((n, k + 1), np.int64)
    coef = np.zeros((n, k + 1))
    for a in range(0, n, BATCH):
        sl = slice(a, min(a + BATCH, n))
        support[sl], coef[sl] = _omp_batch(Y[sl], M[sl], D, k)
    return support, coef


def _omp_batch(Y, M, D, k):
    # The chosen atoms, their masked copies and the normal equations grow by one column per step instead of being
    # gathered and multiplied afresh: each step costs O(n P t), not O(n P t^2).
    n, P = Y.shape
    rows = np.arange(n)[:, None]
    S = np.zeros((n, k + 1), np.int64)
    atoms = np.ascontiguousarray(D.T)
    inv_norm = 1.0 / np.sqrt(M @ (D * D) + 1e-12)  # each atom's norm on each patch's measured pixels
    # step-major: each step writes one contiguous (n, P) block, read by the products through (n, k + 1, P) views
    # (written into (n, k + 1, P), a step's atoms were strided rows: a batch of 2048 patches at k = 6 took 27.6 ms
    # on one thread, 22.9 ms so; the same bits)
    Dt = np.empty((k + 1, n, P))
    At = np.empty((k + 1, n, P))
    Ds, As = Dt.transpose(1, 0, 2), At.transpose(1, 0, 2)
    G = np.zeros((n, k + 1, k + 1))
    b = np.empty((n, k + 1))
    MY = M * Y
    a = None
    for t in range(k + 1):
        if t:
            r = MY - M * np.matmul(a[:, None, :], Ds[:, :t])[:, 0]
            score = np.abs(r @ D)
            score *= inv_norm
            score[rows, S[:, :t]] = -1.0
            S[:, t] = np.argmax(score, axis=1)
        np.take(atoms, S[:, t], axis=0, out=Dt[t])
        np.multiply(Dt[t], M, out=At[t])
        g = np.matmul(Ds[:, : t + 1], As[:, t, :, None])[:, :, 0]
        G[:, t, : t + 1] = g
        G[:, : t + 1, t] = g
        G[:, t, t] += RIDGE
        b[:, t] = np.einsum("np,np->n", At[t], Y)
        a = np.linalg.solve(G[:, : t + 1, : t + 1], b[:, : t + 1, None])[:, :, 0]
    return S, a


def _atom_update(D, Y, M, S, C):
    """Masked K-SVD pass over atoms 1..K-1 (in order): rank-1 weighted refit of each atom and its coefficients."""
    R = M * (Y - np.einsum("npi,ni->np", D[:, S].transpose(1, 0, 2), C))
    for j in range(1, D.shape[1]):
        ii, ss = np.nonzero(S == j)
        if len(ii) == 0:
            continue
        a = C[ii, ss]
        Mi = M[ii]
        E = R[ii] + Mi * (a[:, None] * D[:, j][None, :])
        den = (a * a) @ Mi
        d = np.where(den > 1e-12, (a @ E) / np.maximum(den, 1e-12), D[:, j])
        nd = np.linalg.norm(d)
        if nd < 1e-12:
            continue
        d /= nd
        a_new = (E @ d) / np.maximum(Mi @ (d * d), 1e-12)
        D[:, j] = d
        C[ii, ss] = a_new
        R[ii] = E - Mi * (a_new[:, None] * d[None, :])
    return D, C


# The pursuit's and the atom update's products are small (a batch of 2048 patches of 64 values against 144 atoms):
# OpenBLAS's threads cost more than they save on them, so they run on one (engine.blas.one_blas_thread). Measured
# 2026-12-03 on the 2-core machine (fresh processes, 48 cases: 64-256 pixel crops of two HAADF projections and a
# lattice at 5-30 %): the whole method's CPU time 214 -> 131 s; its wall time the same where the other core was
# idle, 1.4-2.3 x shorter where other work held it (336 -> 217 s in all). The same bits in all 48 (each element of a
# product is one thread's sum).


def learn_dictionary(Y, M, p: int, k: int, n_iter: int = 8) -> np.ndarray:
    """Alternate masked OMP and masked K-SVD on training patches ``Y``/``M`` (n, p*p); returns ``D``."""
    D = odct_dictionary(p)
    with one_blas_thread():
        for _ in range(n_iter):
            S, C = masked_omp(Y, M, D, k)
            D, _ = _atom_update(D, Y, M, S, C)
    return D


def _sparsity(mean_measured: float) -> int:
    # ~4 measured values per coefficient keep the masked fit determined
    return int(np.clip(round(mean_measured / 4.0), 1, 6))


INITS = ("smooth", "biharmonic", "sparse")


DEFAULT_PATCH = 8  # pixels a side of the patches the dictionary learns


def _check_init(init) -> None:
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


def _check_refine(refine) -> None:
    if not (isinstance(refine, bool | np.bool_) or (isinstance(refine, str) and refine == "auto")):  # 1 is not True
        raise ValueError(f"refine must be 'auto', True or False, got {refine!r}")


def _check_sparsity(sparsity) -> None:
    if sparsity is not None:
        check_count("sparsity", sparsity, "atoms a patch besides the constant one; None: from the measured pixels")


# each option of dictionary() and its check: one place for what it accepts (a recipe checks its params with them)
OPTION_CHECKS = {
    "patch": lambda v: check_count("patch", v, "pixels a side", minimum=2),
    "sparsity": _check_sparsity,
    "n_iter": lambda v: check_count("n_iter", v, "dictionary-learning iterations"),
    "n_train": lambda v: check_count("n_train", v, "training patches"),
    "stride": lambda v: check_count("stride", v, "pixels between the patches averaged"),
    "n_outer": lambda v: check_count("n_outer", v, "rounds"),
    "keep_measured": lambda v: check_flag("keep_measured", v),
    "init": _check_init,
    "prior_weight": lambda v: check_number("prior_weight", v, "weight of the start at unmeasured pixels"),
    "refine": _check_refine,
    "holdout": SPARSE_OPTIONS["holdout"],
}


def check_options(**options) -> None:
    """Options of :func:`dictionary` (any of :data:`OPTION_CHECKS`, by name), each checked: an error naming it. A
    stride longer than the patch (the default's where none is given) would leave pixels no patch covers."""
    for name, value in options.items():
        OPTION_CHECKS[name](value)
    stride, patch = options.get("stride", 2), options.get("patch", DEFAULT_PATCH)
    if stride > patch:
        raise DataError(f"stride {stride} is longer than the patch ({patch} pixels): the pixels between patches "
                        "would be covered by none; give a stride <= patch")


def dictionary(
    image,
    mask,
    patch: int = DEFAULT_PATCH,
    sparsity: int | None = None,
    n_iter: int = 8,
    n_train: int = 6000,
    stride: int = 2,
    n_outer: int = 1,
    seed: int = 0,
    keep_measured: bool = True,
    init: str = "sparse",
    prior_weight: float = PRIOR_WEIGHT,
    refine: bool | str = "auto",
    holdout: str = "crossfit",
    return_choice: bool = False,
):
    """Reconstruction of a sparsely scanned image from a patch dictionary learned on its measured pixels.

    Parameters
    ----------
    image : (rows, columns) values; only those where ``mask`` is True are read.
    mask : (rows, columns) bool, True = measured.
    patch : patch side ``p`` in pixels (the dictionary has ``ceil(sqrt(2 p^2))^2`` atoms, an overcomplete DCT at
        the start).
    sparsity : atoms per patch besides the constant one; None: a quarter of the mean measured pixels per patch
        (1 to 6).
    n_iter : dictionary-learning iterations (pursuit + atom update).
    n_train : training patches, a seeded random subset of all patches.
    stride : step between the patches whose models are averaged into the image (1: every position).
    seed : seed of the training subset and of the hold-out; same seed, same bits.
    keep_measured : put the measured values back into the result.
    init : start image of the unmeasured pixels: ``"sparse"`` (:func:`.sparse.sparse`, FISTA), ``"biharmonic"``
        or ``"smooth"`` (Gaussian normalised convolution).
    prior_weight : weight of the current estimate at the unmeasured pixels of a patch (measured pixels: 1).
    n_outer : rounds of (learn the dictionary, code every patch, average) each starting from the last image.
    refine : ``"auto"``: the patch models replace the start (everywhere or nowhere) only if they predict a seeded
        hold-out of the measured pixels (:func:`.sparse.hold_out`) better than the start does -- the
        dictionary's k-sparse patches cannot reproduce a start that is already near exact (a noise-free lattice:
        90-94 dB from the sparse prior, 60 dB after the patch models); True: always; False: return the start.
    holdout : the sparse start's hold-out rule (:func:`.sparse.sparse`'s ``holdout``).
    return_choice : also return ``{"refined", "chosen_by", "held_out_mse", "start"}``: whether the patch models
        were used, who decided (``"hold-out"``, ``"caller"``, or the defaults where too few pixels are measured to
        hold out), the hold-out's mean squared errors of the start and of the patch models (standardised values)
        and what the start ran (the sparse prior's own choice, or the name of ``init``).

    Returns
    -------
    (rows, columns) float64 reconstruction; with ``return_choice``, ``(reconstruction, choice)``.

    Example
    -------
    >>> rec = dictionary(img, random_pattern(img.shape, 0.2, seed=0), patch=8)
    """
    img, m = check_image_and_mask(image, mask)
    check_options(patch=patch, sparsity=sparsity, n_iter=n_iter, n_train=n_train, stride=stride, n_outer=n_outer,
                  keep_measured=keep_measured, init=init, prior_weight=prior_weight, refine=refine, holdout=holdout)
    p = int(patch)
    if min(img.shape) < 2:
        raise ValueError(f"the dictionary learns patches of at least 2 x 2 pixels: an image of {img.shape[0]} x "
                         f"{img.shape[1]} holds none; use method='sparse' or an interpolation")
    if p > min(img.shape):
        raise ValueError(f"patch must be between 2 and the image's smaller side {min(img.shape)}, got {patch!r}"
                         + (" (the default; pass a smaller patch=)" if patch == DEFAULT_PATCH else ""))
    if isinstance(refine, np.bool_):
        refine = bool(refine)
    check_seed(seed)
    y, mu, sd = standardise(img, m)
    corners = _corners(img.shape[0], p, stride), _corners(img.shape[1], p, stride)
    weights = _patches(np.where(m, 1.0, float(prior_weight)), p, *corners)
    k = _sparsity(weights.sum(axis=1).mean()) if sparsity is None else int(sparsity)
    train = np.sort(np.random.default_rng(seed).permutation(len(weights))[: int(n_train)])
    fit_args = (p, k, n_iter, train, corners, float(prior_weight))
    x, started = _start(y, m, init, seed, holdout)
    choice = {"refined": refine is not False, "chosen_by": "caller", "held_out_mse": None, "start": started}
    if refine == "auto":
        # not the split the sparse start chose its own settings on: scored there, the start would have the edge
        # of being the best of its 140 candidates on those very pixels
        split = hold_out(m, seed + 1)
        if split is None:
            choice["chosen_by"] = TOO_FEW_TO_HOLD_OUT
        else:
            crop, fit, hide = split
            # the whole start again without the hidden pixels (with the choices made on every pixel, no second
            # hold-out), the dictionary learned on it, and the crop's patches coded: none has seen them. A start
            # rebuilt on the crop alone left the rest of the image, fitted to the hidden pixels too, to the learning
            m_fit = m.copy()
            m_fit[crop] = fit
            x_fit = _restart(y, m_fit, init, seed, started)
            D = _learn(y, m_fit, x_fit, *fit_args)
            xc = x_fit[crop]
            crop_corners = _corners(xc.shape[0], p, stride), _corners(xc.shape[1], p, stride)
            xd = _code(y[crop], fit, xc, D, p, k, crop_corners, float(prior_weight))
            truth = y[crop].flat[hide]
            err = {
                "start": float(np.mean((xc.flat[hide] - truth) ** 2)),
                "dictionary": float(np.mean((xd.flat[hide] - truth) ** 2)),
            }
            choice.update(refined=err["dictionary"] < err["start"], chosen_by="hold-out", held_out_mse=err)
    if choice["refined"]:
        # learned afresh from every measured pixel and the whole start: reused, the hold-out's dictionary (a tenth
        # of the crop's measured pixels short) ended 0.1-0.3 dB lower on four of 22 held-out lattices. The hold-out
        # judged one round; further rounds (n_outer > 1) are the caller's
        for _ in range(n_outer):
            x = _code(y, m, x, _learn(y, m, x, *fit_args), p, k, corners, float(prior_weight))
    x = x * sd + mu
    out = np.where(m, img, x) if keep_measured else x
    return (out, choice) if return_choice else out


def _learn(y, m, x, p, k, n_iter, train, corners, prior_weight) -> np.ndarray:
    """The dictionary learned on the training patches of ``y`` (measured) completed by ``x`` (elsewhere)."""
    M = _patches(np.where(m, 1.0, prior_weight), p, *corners)[train]
    Y = _patches(np.where(m, y, x), p, *corners)[train]
    return learn_dictionary(Y, M, p, k, n_iter)


def _code(y, m, x, D, p, k, corners, prior_weight) -> np.ndarray:
    """Every patch coded on ``D`` (measured pixels of ``y``, pseudo-observations of ``x``) and averaged."""
    M = _patches(np.where(m, 1.0, prior_weight), p, *corners)
    with one_blas_thread():
        S, C = masked_omp(_patches(np.where(m, y, x), p, *corners), M, D, k)
    return _average_patches(np.einsum("npi,ni->np", D[:, S].transpose(1, 0, 2), C), y.shape, p, *corners)


def _start(y, m, init, seed, holdout="crossfit"):
    """The first estimate of the unmeasured pixels, on standardised values, and what ran to make it."""
    if init == "smooth":
        return smooth_fill(y, m), init
    if init == "biharmonic":
        return biharmonic(y, m), init
    return sparse(y, m, seed=seed, holdout=holdout, return_choice=True)


def _restart(y, m, init, seed, started):
    """The start made again from fewer measured pixels with the choices the first one made (no hold-out)."""
    if init != "sparse":
        return _start(np.where(m, y, 0.0), m, init, seed)[0]
    if started["prior"] == INTERPOLATION:  # the sparse start's hold-out chose the plain interpolation
        return biharmonic(np.where(m, y, 0.0), m)
    columns = started["columns"]
    return sparse(
        np.where(m, y, 0.0),
        m,
        prior=started["prior"],
        lam_min=started["lam_min"],
        columns=False if columns == "no lattice" else columns,
        residual=started["residual"],
        seed=seed,
    )


def _average_patches(models: np.ndarray, shape, p: int, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    acc = np.zeros(shape)
    cnt = np.zeros(shape)
    models = models.reshape(len(cy), len(cx), p, p)
    for i in range(p):  # p*p strided adds instead of one add per patch
        for j in range(p):
            acc[np.ix_(cy + i, cx + j)] += models[:, :, i, j]
            cnt[np.ix_(cy + i, cx + j)] += 1.0
    return acc / cnt
