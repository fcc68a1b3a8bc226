"""Decomposition methods as plug-ins: the protocol a method implements, what it is given, and the method table.

:func:`emscale.decomposition.decompose` validates the input, resolves the Poisson weighting, the solver and the
rank ``k``, and runs the PCA every method starts from; then it calls the method's :meth:`Method.fit` with a
:class:`Context` and builds the result from what ``fit`` returns.

A method is a :class:`Method` subclass in its own module (``pca.py``, ``ica.py``, ``vca.py``, ``mcr.py``,
``nmf.py``), decorated with :func:`register`. It declares

* ``name`` -- the ``method=`` of ``decompose``;
* ``nonnegative`` -- it needs non-negative data (and centring makes no sense for it);
* ``uses_pure_pixels`` -- the driver finds VCA's pure-pixel groups for it (:func:`.vca.pure_pixel_groups`);
* ``options`` -- its method-specific options of ``decompose`` and their defaults. An option given to a method
  that does not declare it is a ``ValueError`` naming the option, the method and the methods that take it.

An instance holds the resolved options as attributes (``self.loss``...), as a scikit-learn estimator holds its
constructor parameters. ``fit(ctx)`` returns ``(factors (kept channels, k), loadings (kept pixels, k), info)`` in
data units (the weights undone), signed and ordered as the method reports them; ``info`` is merged into the
result's ``info``.

Adding a method: one module with a registered subclass, and its name in the registering import of :mod:`.api`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import as_count
from ._matrix import DataMatrix

METHODS: dict[str, type[Method]] = {}  # name -> class

ZERO_MEANS_DEFAULT = ("max_iter", "tol")  # decompose has always read 0 as "the method's default" for these
# options that count iterations, checked for every method that declares them (:meth:`Method.__init__`): max_iter=-1
# ran NMF and ICA for no iteration at all, said nowhere, and MCR failed with a bare IndexError
ITERATION_COUNTS = ("max_iter",)


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` the method ``cls.name`` of ``decompose``."""
    METHODS[cls.name] = cls
    return cls


def method_class(method) -> type[Method] | None:
    """The registered method of that name, in any case; None for an unknown name."""
    return METHODS.get(str(method).lower())


def option_as_run(option: str):
    """``record`` entry of ``decompose`` for a method option: ``None`` (the method's default) is written as the
    default's value, so that a history replays the same after a default changes; an option the method does not
    take stays ``None``."""

    def resolve(value, arguments: dict):
        cls = method_class(arguments.get("method", ""))
        if cls is None or option not in cls.options:
            return value
        if value is None or (option in ZERO_MEANS_DEFAULT and value == 0):
            return cls.options[option]
        return value

    return resolve


def option_before_recorded(params: dict) -> dict:
    """The values of method options a recorded step predates (absent from it): the behaviour of that time
    (``Method.before_recorded``)."""
    cls = method_class(params.get("method", ""))
    return {} if cls is None else {k: v for k, v in cls.before_recorded.items() if k not in params}


def configured(method: str, **given) -> Method:
    """The registered method ``method`` (any case) with the options given to ``decompose`` (``None``: not given)."""
    cls = method_class(method)
    if cls is None:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(sorted(METHODS))}")
    return cls(**{k: v for k, v in given.items() if v is not None})


@dataclass
class Context:
    """What :meth:`Method.fit` is given."""

    dm: DataMatrix  # configured as the PCA saw it: Poisson weights (root_ag, root_bh) and centring
    pca: Any  # the .pca.PCAResult: weighted factors V and scores Z with Xw ~ Z V^T
    k: int  # the resolved number of components
    seed: Any  # as given to decompose: seeds every random choice
    groups: list[np.ndarray] | None = None  # pure-pixel groups (kept-pixel indices) when uses_pure_pixels
    eds: bool = False  # EDS spectra (.spectrum_kind) may take the pure-channel rotation (.purity)
    # where these groups were found again after the first fit's were refused (.map_groups): that fit's own
    # factorisation (factors, loadings) as it returned them. Should these groups be refused too, the first fit is
    # kept, so a method need not fall back to its plain fit; one whose start does not use the groups goes on from it
    first_fit: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def factors(self) -> np.ndarray:
        """(kept channels, k) weighted PCA factors, orthonormal columns."""
        return self.pca.factors[:, : self.k]

    @property
    def scores(self) -> np.ndarray:
        """(kept pixels, k) weighted PCA scores (loadings in weighted units)."""
        return self.pca.scores[:, : self.k]

    def unweighted(self, factors_w: np.ndarray, loadings_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Factors and loadings in data units from their weighted counterparts (``Xw = Dr X Dc``)."""
        return factors_w * self.dm.root_bh[:, None], loadings_w * self.dm.root_ag[:, None]


class Method:
    """One decomposition method (see the module docstring). Subclasses set the class attributes and ``fit``."""

    name: ClassVar[str]
    nonnegative: ClassVar[bool] = False
    uses_pure_pixels: bool = False  # a class attribute, or a property of the options (NMF)
    options: ClassVar[dict[str, Any]] = {}
    recorded: ClassVar[tuple[str, ...]] = ()  # options written to the result's params
    # options whose default changed when they were first recorded in the history: the old behaviour, for the
    # replay of a step recorded before (one without the option)
    before_recorded: ClassVar[dict[str, Any]] = {}
    auto_rank: ClassVar[bool] = True  # n_components=None means "auto" (False: every component computed, up to 32)
    single_pass: ClassVar[bool] = False  # solver="single_pass" can serve it
    # its components are sources (phases): a given n_components above what stands out of the noise is said
    separates: ClassVar[bool] = True
    # the randomized route's power iterations go on until the leading components settle (n_iter=None): the
    # method's result is that subspace (PCA, ICA). NMF and MCR, whose start hangs on it, keep two unless asked
    # (option settle_subspace): a new user's thin-layer EELS scene at 2000 counts/pixel gave NMF 2.5 / 0.7 / 0.7 /
    # 0.7 / 0.7 / 4.7 degrees from the truth at seeds 0-5 with two, 0.7 at every seed settled (the exact route's);
    # but settled by default, four tests of mixtures without pure pixels failed (2026-12-02: their purity decisions
    # changed; an EELS mixture's default went below the solver's own, 10.39 against 10.18 degrees, and a soft MCR
    # mixture to 9.32 degrees, above its 9.0 bound; again 2026-12-03: 9 tests failed): not the default until a grid
    # says so. VCA, which refines nothing, settles by default (vca.py)
    refines_subspace: ClassVar[bool] = True  # iterates away from the PCA start (NMF, MCR); VCA reads it as it is
    # its endmembers are the pure-pixel groups' spectra, with no solver's own factorisation to keep where the data show
    # no pure pixels there (VCA): then a warning
    endmembers_are_pure_pixels: ClassVar[bool] = False

    def __init__(self, **given):
        for opt in given:
            if opt not in self.options:
                takers = sorted(n for n, c in METHODS.items() if opt in c.options)
                own = ", ".join(self.options) or "none"
                raise ValueError(f"method {self.name!r} takes no option {opt!r} (an option of "
                                 f"{', '.join(takers) or 'no method'}); its options: {own}")
        for opt, default in self.options.items():
            v = given.get(opt)
            if v is None or (opt in ZERO_MEANS_DEFAULT and not v):
                v = default
            setattr(self, opt, bool(v) if isinstance(default, bool) else v)
        for opt in ITERATION_COUNTS:
            if opt in self.options:
                setattr(self, opt, as_count(opt, getattr(self, opt), "iterations; 0 or None: the method's default"))
        self.validate()

    @property
    def settles_subspace(self) -> bool:
        """Whether the randomized route's power iterations go on until the subspace settles (see above): the
        option ``settle_subspace`` of a method that declares it (NMF, MCR, VCA); PCA and ICA, whose result is the
        subspace, set True; any other method keeps two."""
        return bool(getattr(self, "settle_subspace", False))

    def validate(self) -> None:
        """Check the values of the options (names are checked already)."""

    def params(self) -> dict:
        """The options recorded in the result's ``params``."""
        return {opt: getattr(self, opt) for opt in self.recorded}

    def max_components(self, n_pixels: int) -> int | None:
        """The most components this method can fit to ``n_pixels`` pixels (None: no bound below the PCA's): an
        automatic rank is capped there, not refused by :meth:`fit`."""
        return None

    def fit(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError


def signed(f: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each factor's largest-|value| entry positive (the loadings follow)."""
    sgn = np.sign(f[np.argmax(np.abs(f), axis=0), np.arange(f.shape[1])])
    sgn[sgn == 0] = 1
    return f * sgn, lo * sgn


def by_energy(f: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components ordered by ``|factor| |loading|``, largest first (stable)."""
    energy = np.linalg.norm(f, axis=0) * np.linalg.norm(lo, axis=0)
    order = np.argsort(-energy, kind="stable")
    return f[:, order], lo[:, order]


def unit_sum(f: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each factor scaled to sum to one; the loadings carry the scale."""
    sc = np.maximum(f.sum(axis=0), 1e-300)
    return f / sc, lo * sc
