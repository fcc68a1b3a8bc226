"""The regressions an ERD model can use, as plain arrays: fitted here, evaluated in numpy, saved as JSON lists.

Both read standardised features ``z`` (n, m) and return the ERD in value-scale units:

* ``mlp`` (the default since model version 2): the mean of a few small multilayer perceptrons with ReLU hidden
  layers, each fitted to the square root of the ERD::

      h_0 = z,   h_i = max(0, h_{i-1} W_i + b_i),   g = h_L W_out + b_out,
      ERD = target_scale^2 * mean over members of max(g, 0)^2

  by scikit-learn's ``MLPRegressor`` (Adam, seeded, early stopping on a held-out tenth) on
  ``sqrt(max(ERD, 0)) / target_scale`` (``target_scale``: that root's standard deviation, so that the networks
  fit unit-size numbers). The root compresses the ERD's long tail (a few edge pixels with tens of times the
  median), which otherwise dominates the squared loss; the square brings the prediction back to ERD units (the
  stopping rule sums them). Only the weights are kept; prediction is a matrix product per layer, no
  scikit-learn at scan time. It runs over blocks of ``PREDICT_ROWS`` pixels on one BLAS thread: a block's hidden
  layers stay in the CPU cache (the whole (n, 16) activations of a 512 x 512 scan do not), and a narrow product
  gains nothing from threads but loses much on a busy machine (the same 65 000 pixels: 11 ms in blocks, 23 ms in
  one product on one thread, 170-350 ms on two threads of a loaded 2-core machine). Each pixel's numbers are the
  same as from one product (checked with OpenBLAS): the same bits.
* ``poly2`` (version 1's): ridge regression on the degree-2 polynomial expansion ``[1, z_i, z_i z_j (i <= j)]``
  (Godaliyadda et al. 2018, sec. III).

On the benchmark's held-out images (bench_dynamic_sampling.py) the perceptron steers SLADS to a higher PSNR than
the polynomial at every fraction from 5 to 40 %: the polynomial cannot represent an ERD that is large only where
several features are large at once (an edge: spread *and* distance), and over-predicts where one is extreme.

References
----------
G. M. D. Godaliyadda et al., "A framework for dynamic image sampling based on supervised learning",
IEEE Trans. Comput. Imaging 4 (2018) 1-16.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.errors import DataError
from ..engine.blas import one_blas_thread  # the products here are narrow: threads only wait on each other
from ._model_fields import array, bad, number, required, shown

REGRESSORS = ("mlp", "poly2")
PREDICT_ROWS = 2048  # pixels per block of the forward pass: (2048, 16) float64 activations, 256 kB


def _triu(m: int):
    return np.triu_indices(m)


def poly2_expand(z: np.ndarray) -> np.ndarray:
    """Degree-2 expansion ``[1, z_i, z_i z_j (i <= j)]``, shape (n, 1 + m + m(m+1)/2)."""
    n, m = z.shape
    iu, ju = _triu(m)
    return np.concatenate([np.ones((n, 1)), z, z[:, iu] * z[:, ju]], axis=1)


def fit_poly2(z: np.ndarray, t: np.ndarray, alpha: float) -> dict:
    """Ridge fit of the expansion (the constant not penalised); returns ``{"coef": (n_terms,)}``."""
    phi = poly2_expand(z)
    reg = alpha * len(t) * np.eye(phi.shape[1])
    reg[0, 0] = 0.0
    return {"coef": np.linalg.solve(phi.T @ phi + reg, phi.T @ t)}


def predict_poly2(params: dict, z: np.ndarray) -> np.ndarray:
    """The polynomial ``c0 + z b + z^T Q z``, with the products' coefficients in the upper-triangular ``Q``
    (the polynomial of :func:`poly2_expand` without building its columns)."""
    coef = params["coef"]
    m = z.shape[1]
    q = np.zeros((m, m))
    q[_triu(m)] = coef[1 + m :]
    with one_blas_thread():
        return coef[0] + z @ coef[1 : 1 + m] + np.einsum("ij,ij->i", z @ q, z)


def fit_mlp(z: np.ndarray, t: np.ndarray, hidden=(16, 16), members: int = 3, alpha: float = 1e-4,
            max_epochs: int = 30, seed: int = 0) -> dict:
    """Fit ``members`` perceptrons (seeds ``seed``, ``seed + 1``, ...) with scikit-learn; returns their arrays
    ``{"members": [{"weights": [...], "biases": [...]}, ...], "target_scale": float}`` (weights[i]:
    (n_in, n_out)). The prediction is their mean: one network's ranking of pixels depends on its random start
    (on the benchmark's particle image single networks ranged over 2.5 dB at 20 %), the mean of three far less.
    ``t``: the ERD targets (value-scale units); the networks fit their root (see the module docstring)."""
    from sklearn.exceptions import ConvergenceWarning  # here: scikit-learn costs ~1 s at import
    from sklearn.neural_network import MLPRegressor

    root = np.sqrt(np.clip(t, 0.0, None))
    scale = float(np.std(root)) or 1.0
    stop = len(t) >= 100  # early stopping holds out a tenth: a batch no larger than what is left
    batch = min(512, max(1, int(0.9 * len(t)) if stop else len(t)))
    out = []
    for i in range(int(members)):
        net = MLPRegressor(hidden_layer_sizes=tuple(int(h) for h in hidden), activation="relu", alpha=alpha,
                           batch_size=batch, max_iter=int(max_epochs), early_stopping=stop,
                           random_state=int(seed) + i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the epoch cap is deliberate
            net.fit(z, root / scale)
        out.append({"weights": [np.asarray(w, dtype=np.float64) for w in net.coefs_],
                    "biases": [np.asarray(b, dtype=np.float64) for b in net.intercepts_]})
    return {"members": out, "target_scale": scale}


def predict_mlp(params: dict, z: np.ndarray) -> np.ndarray:
    """Forward pass in numpy (ReLU hidden layers, linear output), squared and averaged over the members; in
    blocks of ``PREDICT_ROWS`` pixels on one BLAS thread (see the module docstring)."""
    n = z.shape[0]
    total = np.zeros(n)
    # a last block of one row would take BLAS's matrix-vector path (other rounding than one product): joined on
    edges = [a for a in range(0, n, PREDICT_ROWS) if a == 0 or n - a > 1] + [n]
    with one_blas_thread():
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            _forward(params["members"], z[a:b], total[a:b])
    return total * (params["target_scale"] ** 2 / len(params["members"]))


def _forward(members: list, z: np.ndarray, total: np.ndarray) -> None:
    """Add each member's squared output at the pixels ``z`` to ``total`` (a view)."""
    for net in members:
        h = z
        ws, bs = net["weights"], net["biases"]
        for w, b in zip(ws[:-1], bs[:-1], strict=True):
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        g = h @ ws[-1][:, 0]
        g += bs[-1][0]
        np.maximum(g, 0.0, out=g)
        total += g * g


def params_to_json(kind: str, params: dict) -> dict:
    if kind == "poly2":
        return {"degree": 2, "coef": [float(v) for v in params["coef"]]}
    return {"activation": "relu", "target": "sqrt", "target_scale": float(params["target_scale"]),
            "members": [[{"weight": np.asarray(w).tolist(), "bias": np.asarray(b).tolist()}
                         for w, b in zip(net["weights"], net["biases"], strict=True)] for net in params["members"]]}


def params_from_json(kind: str, d: dict, m: int, source: str, prefix: str = "") -> dict:
    """Arrays of a regression from its JSON fields, checked against ``m`` features: types, shapes, every number
    finite, ``target_scale`` > 0 (a DataError naming ``source`` and the field, ``prefix`` + its name, otherwise)."""
    if kind == "poly2":
        if d.get("degree") != 2:
            raise DataError(f"{source}: polynomial degree {shown(d.get('degree'))} not supported (2)")
        n = 1 + m + m * (m + 1) // 2
        return {"coef": array(required(d, "coef", source, prefix), (n,), source, prefix + "coef",
                              why=f"the coefficient arrays do not match {m} features")}
    if d.get("activation") != "relu":
        raise DataError(f"{source}: perceptron activation {shown(d.get('activation'))} not supported ('relu')")
    if d.get("target") != "sqrt":
        raise DataError(f"{source}: perceptron target {shown(d.get('target'))} not supported ('sqrt')")
    nets = required(d, "members", source, prefix)
    if not isinstance(nets, list):
        raise bad(source, prefix + "members", "must be a list of perceptrons", nets)
    if not nets:
        raise DataError(f"{source}: perceptron has no members")
    members = [_layers(net, m, source, f"{prefix}members[{j}]") for j, net in enumerate(nets)]
    # the square of target_scale multiplies every prediction: inf or 0 would make the ERD NaN or flat everywhere,
    # 1e200 overflows when squared (_model_fields.MAGNITUDE)
    scale = number(required(d, "target_scale", source, prefix), source, prefix + "target_scale", positive=True,
                   bounded=True)
    return {"members": members, "target_scale": scale}


def _layers(net, m: int, source: str, name: str) -> dict:
    """One perceptron's layers, each ``{"weight": (n_in, n_out), "bias": (n_out,)}``, from ``m`` inputs to one
    output."""
    if not isinstance(net, list) or not net:
        raise bad(source, name, "must be a non-empty list of layers", net)
    why = f"the perceptron layers do not match {m} features and one output"
    ws, bs = [], []
    n_in = m
    for i, layer in enumerate(net):
        where = f"{name}[{i}]"
        if not isinstance(layer, dict):
            raise bad(source, where, "must be an object with a weight and a bias", layer)
        w = array(required(layer, "weight", source, where + "."), (n_in, None), source, where + ".weight", why=why)
        b = array(required(layer, "bias", source, where + "."), (w.shape[1],), source, where + ".bias", why=why)
        ws.append(w)
        bs.append(b)
        n_in = w.shape[1]
    if n_in != 1:
        raise bad(source, name, f"ends in {n_in} outputs: {why}")
    return {"weights": ws, "biases": bs}
