"""Chapter 2's explorable: transform a layer, and see which normalization methods notice.

A small layer -- weights ``W`` ``(H, I)`` and a batch of inputs ``X`` ``(B, I)`` --
is transformed by one of the six transformations of the paper's Table 1
(:data:`helpers.invariance.TRANSFORMATIONS`). The widget shows the transformed
layer and the normalized summed inputs of batch norm, weight norm and layer
norm before and after, with the largest relative change of each and a badge
saying whether it moved.

:func:`invariance_view` is the Python twin of the JavaScript in
``js/invariance_explorer.js``: it recomputes, with
:func:`helpers.invariance.transform` and
:func:`helpers.invariance.normalized_output`, the numbers the page writes into
its ``data-lnb-result`` attribute.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import traitlets

from .. import invariance
from .base import Explorable, InvalidState, as_trait_error, finite_matrix

__all__ = ["InvarianceExplorer", "invariance_view", "invariance_example", "TOLERANCE", "EPS_CHOICES"]

#: A method "moved" when ``max|after - before| / max|before|`` exceeds this (as in
#: :func:`helpers.invariance.invariance_table`).
TOLERANCE = 1e-8

#: The values of ``eps`` the page offers: effectively 0 (the paper's formula), torch's default, and a large one.
EPS_CHOICES = (1e-20, 1e-5, 1e-2)

#: Transformations that use ``delta``, ``gamma`` and ``index`` respectively.
USES_DELTA = ("weight matrix re-scaling", "weight vector re-scaling", "dataset re-scaling",
              "single training case re-scaling")
USES_GAMMA = ("weight matrix re-centering", "dataset re-centering")
USES_INDEX = {"weight vector re-scaling": "unit", "single training case re-scaling": "case"}


def invariance_example(seed: int = 0, B: int = 6, I: int = 3, H: int = 4) -> dict:
    """A small layer for the explorable: ``W`` ``(H, I)``, ``X`` ``(B, I)`` and a shift direction ``gamma`` ``(I,)``.

    ``W`` has entries from N(0, 1/I) (so summed inputs have variance about 1),
    ``X`` and ``gamma`` from N(0, 1); all are rounded to two decimals so they
    read well in tooltips. Sizes must satisfy ``B, H >= 3`` and ``I >= 2``, as
    Table 1 needs (see :mod:`helpers.invariance`).

    Example::

        >>> ex = invariance_example()
        >>> ex["W"].shape, ex["X"].shape, ex["gamma"].shape
        ((4, 3), (6, 3), (3,))
    """
    where = "invariance_example"
    for name, size, least in (("B", B, 3), ("I", I, 2), ("H", H, 3)):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < least:
            raise ValueError(f"{where}: {name} must be an int >= {least}, got {size!r}")
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((H, I)) / math.sqrt(I)).round(2)  # (H, I)
    X = rng.standard_normal((B, I)).round(2)  # (B, I)
    gamma = rng.standard_normal(I).round(2)  # (I,)
    if (np.abs(W).sum(1) == 0).any() or not np.abs(gamma).sum() > 0:  # pragma: no cover - not for seed 0
        raise ValueError(f"{where}: seed {seed} drew a zero row of W or a zero gamma; pick another seed")
    return {"W": W, "X": X, "gamma": gamma}


#: Styles of this widget only, added to lib.css (colours come from lib.css's theme variables).
WIDGET_CSS = """
.lnb-invariance .lnb-controls select { max-width: 100%; }
.lnb-invariance .iv-off { opacity: 0.45; }
.lnb-invariance .iv-layer { display: flex; flex-wrap: wrap; gap: 4px 28px; align-items: flex-start; }
.lnb-invariance .iv-layer > svg { width: auto; }
.lnb-invariance .iv-cards { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; margin-top: 8px; }
@media (max-width: 640px) { .lnb-invariance .iv-cards { grid-template-columns: minmax(0, 1fr); } }
.lnb-invariance .iv-card {
  background: var(--lnb-panel); border: 1px solid var(--lnb-border); border-radius: 6px;
  padding: 6px 8px; min-width: 0;
}
.lnb-invariance .iv-card > svg { width: 100%; display: block; margin: 2px 0; }
.lnb-invariance .iv-stats { color: var(--lnb-muted); font-size: 12px; }
.lnb-invariance .iv-badge { border-left: 4px solid; padding: 2px 6px; margin: 4px 0 2px; font-size: 12.5px; }
.lnb-invariance .iv-same { border-color: #009e73; }
.lnb-invariance .iv-moved { border-color: #d55e00; }
.lnb-invariance .iv-paper, .lnb-invariance .iv-why { font-size: 12px; color: var(--lnb-muted); margin-top: 2px; }
"""


def _check_layer(W, X, where):
    W, X = finite_matrix(W, "W", where), finite_matrix(X, "X", where)
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"{where}: W (H, I) and X (B, I) need the same I, got {W.shape} and {X.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"{where}: batch norm needs B >= 2 cases, got X of shape {X.shape}")
    if (np.sqrt((W * W).sum(1)) == 0).any():
        raise ValueError(f"{where}: W has an all-zero row, which weight norm cannot normalize")
    return W, X


def _check_vector(g, size, name, where):
    try:
        v = np.asarray(g, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {name} must be a vector of numbers ({err})") from None
    if v.shape != (size,) or not np.isfinite(v).all():
        raise ValueError(f"{where}: {name} must be a finite vector of shape ({size},), got shape {v.shape}")
    return v


def _check_eps(eps, where):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"{where}: eps must be a finite number > 0, got {eps!r}")
    return float(eps)


def _index_size(transformation, W, X):
    """How many rows the index can pick: units (rows of W) or cases (rows of X); 1 when it is unused."""
    kind = USES_INDEX.get(transformation)
    return W.shape[0] if kind == "unit" else X.shape[0] if kind == "case" else 1


def invariance_view(W, X, transformation, delta, gamma, index, eps) -> dict:
    """What the explorable shows, computed with :mod:`helpers.invariance`.

    Args:
        W: weights ``(H, I)``. X: inputs ``(B, I)``, ``B >= 2``.
        transformation: one of :data:`helpers.invariance.TRANSFORMATIONS`.
        delta: the re-scaling factor, > 0 (ignored by the two re-centerings).
        gamma: the shift ``(I,)`` of the re-centerings (ignored by the re-scalings).
        index: the unit (weight vector re-scaling) or case (single training case
            re-scaling) that is re-scaled; ignored by the other four.
        eps: added to the variance inside the square root by batch and layer norm, > 0.

    Returns:
        A dict of plain Python values with the keys the page writes to
        ``data-lnb-result``:

        * the inputs ``W``, ``X``, ``transformation``, ``delta``, ``gamma``, ``index``, ``eps``;
        * ``W_new``, ``X_new``: the transformed layer;
        * ``methods``: :data:`helpers.invariance.METHODS`, the order of what follows;
        * ``before``, ``after``: each method's normalized output ``(B, H)`` (gain 1, bias 0);
        * ``changes``: each method's ``max|after - before| / max|before|``;
        * ``invariant``: ``change <= TOLERANCE`` for each method;
        * ``paper``: Table 1's verdict for each method and this transformation.

    Raises:
        ValueError: for malformed inputs, an unknown transformation, ``delta <= 0``,
            or an index out of range for the transformation that uses it.
    """
    where = "invariance_view"
    W, X = _check_layer(W, X, where)
    if transformation not in invariance.TRANSFORMATIONS:
        raise ValueError(f"{where}: transformation must be one of {invariance.TRANSFORMATIONS}, got {transformation!r}")
    gamma = _check_vector(gamma, W.shape[1], "gamma", where)
    eps = _check_eps(eps, where)
    W_new, X_new = invariance.transform(transformation, W, X, delta=delta, gamma=gamma, index=index)
    before, after, changes = [], [], []
    for method in invariance.METHODS:
        y0 = invariance.normalized_output(method, W, X, eps)  # (B, H)
        y1 = invariance.normalized_output(method, W_new, X_new, eps)  # (B, H)
        before.append(y0.tolist())
        after.append(y1.tolist())
        changes.append(float(np.abs(y1 - y0).max() / np.abs(y0).max()))
    return {
        "W": W.tolist(), "X": X.tolist(), "transformation": transformation, "delta": float(delta),
        "gamma": gamma.tolist(), "index": int(index), "eps": eps,
        "W_new": W_new.tolist(), "X_new": X_new.tolist(),
        "methods": list(invariance.METHODS),
        "before": before, "after": after, "changes": changes,
        "invariant": [c <= TOLERANCE for c in changes],
        "paper": [invariance.PAPER_TABLE_1[m, transformation] for m in invariance.METHODS],
    }


class InvarianceExplorer(Explorable):
    """Apply one of Table 1's transformations to a small layer, live in the page, and see which norms move.

    Controls (plain HTML, so they work on the static website): the
    transformation; its factor ``delta`` on a log slider from 0.1 to 10; the
    size of the shift ``gamma = gamma_scale * gamma_dir`` (slider from -3 to 3);
    the unit or case that a single-row re-scaling acts on; and ``eps`` (about 0
    as in the paper, torch's 1e-5, or 0.01). The page shows the transformed
    ``W`` and ``X``, each method's normalized output before and after, and a
    badge per method: unchanged (relative change at most :data:`TOLERANCE`) or
    moved, next to Table 1's verdict.

    Args:
        example: a dict with ``"W"`` ``(H, I)``, ``"X"`` ``(B, I)`` and ``"gamma"``
            ``(I,)`` (the shift direction); by default :func:`invariance_example`.
        transformation: one of :data:`helpers.invariance.TRANSFORMATIONS`.
        delta: the re-scaling factor, in ``[0.1, 10]``.
        gamma_scale: multiplies the shift direction, in ``[-3, 3]``.
        index: unit or case to re-scale (clamped by the page to the valid range).
        eps: one of :data:`EPS_CHOICES` or any number > 0.

    Example::

        >>> w = InvarianceExplorer(transformation="weight vector re-scaling", delta=3.0, index=1)
        >>> w.view()["invariant"]  # batch norm, weight norm, layer norm
        [True, True, False]
    """

    _js = "invariance_explorer.js"
    _css = Explorable._css + WIDGET_CSS
    kind = "invariance"
    checked_keys = ("W_new", "X_new", "before", "after", "changes", "invariant")

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`invariance_view` of the inputs the page reports in ``result``."""
        return invariance_view(result["W"], result["X"], result["transformation"], result["delta"],
                               result["gamma"], result["index"], result["eps"])

    W = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    X = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    gamma_dir = traitlets.List(traitlets.Float()).tag(sync=True)
    transformation = traitlets.Unicode("weight matrix re-scaling").tag(sync=True)
    delta = traitlets.Float(3.0).tag(sync=True)
    gamma_scale = traitlets.Float(1.0).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    eps = traitlets.Float(1e-20).tag(sync=True)

    def __init__(self, example=None, transformation: str = "weight matrix re-scaling", delta: float = 3.0,
                 gamma_scale: float = 1.0, index: int = 0, eps: float = 1e-20, **kwargs):
        where = "InvarianceExplorer"
        example = invariance_example() if example is None else example
        try:
            W, X, gamma = example["W"], example["X"], example["gamma"]
        except (TypeError, KeyError):
            raise ValueError(f"{where}: example must be a dict with keys 'W', 'X' and 'gamma'") from None
        W, X = _check_layer(W, X, where)
        gamma = _check_vector(gamma, W.shape[1], "gamma", where)
        self._check_transformation(transformation)
        delta = self._check_delta(delta)
        gamma_scale = self._check_gamma_scale(gamma_scale)
        eps = _check_eps(eps, where)
        size = _index_size(transformation, W, X)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < max(W.shape[0], X.shape[0]):
            raise ValueError(f"{where}: index must be an int in [0, {max(W.shape[0], X.shape[0])}), got {index!r}")
        if index >= size:
            raise ValueError(f"{where}: {transformation} has {size} rows to pick from, got index {index}")
        super().__init__(W=W.tolist(), X=X.tolist(), gamma_dir=gamma.tolist(), transformation=transformation,
                         delta=delta, gamma_scale=gamma_scale, index=int(index), eps=eps, **kwargs)

    @staticmethod
    def _check_transformation(t):
        if t not in invariance.TRANSFORMATIONS:
            raise ValueError(f"InvarianceExplorer: transformation must be one of {invariance.TRANSFORMATIONS}, got {t!r}")
        return t

    @staticmethod
    def _check_delta(delta):
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not 0.1 <= delta <= 10:
            raise ValueError(f"InvarianceExplorer: delta must be a number in [0.1, 10], got {delta!r}")
        return float(delta)

    @staticmethod
    def _check_gamma_scale(g):
        if isinstance(g, bool) or not isinstance(g, numbers.Real) or not -3 <= g <= 3:
            raise ValueError(f"InvarianceExplorer: gamma_scale must be a number in [-3, 3], got {g!r}")
        return float(g)

    @traitlets.validate("transformation")
    def _valid_transformation(self, proposal):
        return as_trait_error(self._check_transformation, proposal["value"])

    @traitlets.validate("delta")
    def _valid_delta(self, proposal):
        return as_trait_error(self._check_delta, proposal["value"])

    @traitlets.validate("gamma_scale")
    def _valid_gamma_scale(self, proposal):
        return as_trait_error(self._check_gamma_scale, proposal["value"])

    @traitlets.validate("eps")
    def _valid_eps(self, proposal):
        return as_trait_error(_check_eps, proposal["value"], "InvarianceExplorer")

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        v, top = proposal["value"], max(len(self.W), len(self.X))
        if not 0 <= v < top:
            raise InvalidState(f"InvarianceExplorer: index must be in [0, {top}), got {v}")
        return v

    @traitlets.validate("W", "X")
    def _valid_matrix(self, proposal):
        name = proposal["trait"].name
        return as_trait_error(finite_matrix, proposal["value"], name, "InvarianceExplorer").tolist()

    @traitlets.validate("gamma_dir")
    def _valid_gamma_dir(self, proposal):
        size = len(self.W[0]) if self.W else len(proposal["value"])
        return as_trait_error(_check_vector, proposal["value"], size, "gamma_dir", "InvarianceExplorer").tolist()

    def _index_used(self):
        """The index the page uses: clamped to the rows the current transformation can pick from."""
        size = _index_size(self.transformation, np.asarray(self.W), np.asarray(self.X))
        return min(self.index, size - 1)

    def gamma(self) -> np.ndarray:
        """The shift the re-centerings add: ``gamma_scale * gamma_dir``, shape ``(I,)``."""
        return self.gamma_scale * np.asarray(self.gamma_dir, dtype=np.float64)

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`invariance_view`."""
        return invariance_view(self.W, self.X, self.transformation, self.delta, self.gamma(),
                               self._index_used(), self.eps)
