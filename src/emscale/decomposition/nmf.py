"""Non-negative matrix factorisation X ~= W H, written as passes (one pass over the data per iteration).

``loss="kl"``
    Kullback-Leibler (Poisson likelihood) multiplicative updates (Lee & Seung). Each pass, for each block of
    pixels, updates that block's rows of ``W`` (they depend on ``H`` and the block only) and accumulates the
    numerator ``W_b^T (X_b / W_b H)`` and denominator ``sum W_b`` of the ``H`` update, which is applied after
    the pass. The loss is evaluated on the fly (with the factors entering the pass).
``loss="frobenius"``
    HALS (hierarchical alternating least squares, Cichocki & Phan): block rows of ``W`` by column-wise exact
    updates against ``X_b H^T`` and ``H H^T``; ``H`` from the accumulated ``W^T X`` and ``W^T W``.

``W`` (pixels x k) and ``H`` (k x channels) are kept in memory; the data never are. Initialisation: NNDSVDa
(Boutsidis & Gallopoulos) from a truncated SVD computed by passes, zeros filled with the data mean.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ..engine import Pass
from ._matrix import DataMatrix

EPS = 1e-12


def nndsvda(u: np.ndarray, s: np.ndarray, vt: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVD with zeros replaced by ``fill`` (NNDSVDa). u (n, k), s (k,), vt (k, p)."""
    k = len(s)
    w = np.zeros((u.shape[0], k))
    h = np.zeros((k, vt.shape[1]))
    w[:, 0] = np.sqrt(s[0]) * np.abs(u[:, 0])
    h[0] = np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, k):
        x, y = u[:, j], vt[j]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        xpn, ypn, xnn, ynn = (np.linalg.norm(a) for a in (xp, yp, xn, yn))
        mp, mn = xpn * ypn, xnn * ynn
        if mp > mn:
            uu, vv, sig = xp / max(xpn, EPS), yp / max(ypn, EPS), mp
        else:
            uu, vv, sig = xn / max(xnn, EPS), yn / max(ynn, EPS), mn
        lam = np.sqrt(s[j] * sig)
        w[:, j] = lam * uu
        h[j] = lam * vv
    w[w < EPS] = fill
    h[h < EPS] = fill
    return w, h


def init_nndsvda(dm: DataMatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVDa from the top-k SVD of the unweighted data (Gram path: two passes)."""
    from .pca import gram_pca, randomized_pca

    if dm.n_channels <= 4096:
        r = gram_pca(dm, k)
    else:
        r = randomized_pca(dm, k)
    s = np.sqrt(np.clip(r.eigenvalues[:k], EPS, None))
    u = r.scores / s
    fill = float(dm.sums.col_sums.sum()) / (dm.n_pixels * dm.n_channels)
    return nndsvda(u, s, r.factors.T, fill)


def _kl_pass(dm: DataMatrix, w: np.ndarray, h: np.ndarray):
    hsum = h.sum(axis=1)  # (k,) = H 1

    def m(block, rows):
        x, k0, k1 = dm.block(block, rows)
        wb = w[k0:k1]
        wh = wb @ h + EPS
        loss = float(np.sum(xlogy(x, x / wh) - x + wh))
        wb = wb * ((x / wh) @ h.T) / hsum[None, :]
        wh = wb @ h + EPS
        num = wb.T @ (x / wh)
        return ([wb], num, wb.sum(axis=0), loss)

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])

    blocks, num, den, loss = dm.run(Pass(m, merge, name="nmf-kl"))
    w_new = np.concatenate(blocks, axis=0) if blocks else w
    h_new = h * num / np.maximum(den, EPS)[:, None]
    return w_new, h_new, loss


def _hals_pass(dm: DataMatrix, w: np.ndarray, h: np.ndarray):
    hht = h @ h.T
    k = h.shape[0]

    def m(block, rows):
        x, k0, k1 = dm.block(block, rows)
        wb = w[k0:k1].copy()
        xht = x @ h.T
        loss = float(np.einsum("ij,ij->", x, x) - 2 * np.sum(xht * wb) + np.sum((wb.T @ wb) * hht))
        for c in range(k):
            wb[:, c] = np.maximum(EPS, wb[:, c] + (xht[:, c] - wb @ hht[:, c]) / max(hht[c, c], EPS))
        return ([wb], wb.T @ x, wb.T @ wb, loss)

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])

    blocks, wtx, wtw, loss = dm.run(Pass(m, merge, name="nmf-hals"))
    w_new = np.concatenate(blocks, axis=0) if blocks else w
    h_new = h.copy()
    for c in range(k):
        h_new[c] = np.maximum(EPS, h_new[c] + (wtx[c] - wtw[c] @ h_new) / max(wtw[c, c], EPS))
    return w_new, h_new, max(loss, 0.0)


def nmf(
    dm: DataMatrix,
    k: int,
    loss: str = "kl",
    max_iter: int = 1000,
    tol: float = 1e-6,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Factorise the (unweighted, uncentred) data matrix of ``dm``: returns W (pixels, k), H (k, channels), info.

    Stops when the relative decrease of the loss over one iteration falls below ``tol`` (or at ``max_iter``).
    The loss reported is the one evaluated on the last pass (KL divergence or squared Frobenius norm).
    """
    if loss not in ("kl", "frobenius"):
        raise ValueError(f"loss must be 'kl' or 'frobenius', not {loss!r}")
    w, h = init if init is not None else init_nndsvda(dm, k)
    step = _kl_pass if loss == "kl" else _hals_pass
    prev = np.inf
    history = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
        w, h, cur = step(dm, w, h)
        history.append(cur)
        if np.isfinite(prev) and abs(prev - cur) <= tol * max(abs(cur), EPS):
            converged = True
            break
        prev = cur
    # Scale: each spectrum sums to 1, loadings carry the counts; order by total signal.
    scale = np.maximum(h.sum(axis=1), EPS)
    h = h / scale[:, None]
    w = w * scale[None, :]
    order = np.argsort(-w.sum(axis=0), kind="stable")
    info = {
        "loss": float(history[-1]),
        "n_iter": it,
        "converged": converged,
        "loss_name": loss,
        "loss_history": np.asarray(history),
    }
    return w[:, order], h[order], info
