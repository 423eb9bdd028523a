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

import numpy as np
import traitlets

from .. import invariance
from .._checks import check_eps, check_int, float_array
from .base import Explorable, FiniteFloat, FloatArray, as_trait_error

__all__ = ["InvarianceExplorer", "invariance_view", "invariance_example", "TOLERANCE", "EPS_CHOICES"]

#: A method "moved" when ``max|after - before| / max|before|`` exceeds this (as in
#: :func:`helpers.invariance.invariance_table`).
TOLERANCE = 1e-8

#: The values of ``eps`` the page offers: effectively 0 (the paper's formula), torch's default, and a large one.
EPS_CHOICES = (1e-20, 1e-5, 1e-2)

#: The transformations that re-scale one row, and what the row is: a unit (row of W) or a case (row of X).
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
    B, I, H = (check_int(size, name, where, lo=least) for name, size, least in (("B", B, 3), ("I", I, 2), ("H", H, 3)))
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


def _check_layer(W, X, gamma, where):
    """``W`` ``(H, I)``, ``X`` ``(B, I)`` and ``gamma`` ``(I,)`` as finite float64 arrays."""
    W = float_array(W, "W", where, shape=("H", "I"), dtype=np.float64, finite=True, nonempty=True)
    X = float_array(X, "X", where, shape=("B", W.shape[1]), dtype=np.float64, finite=True, nonempty=True)
    gamma = float_array(gamma, "gamma", where, shape=(W.shape[1],), dtype=np.float64, finite=True)
    return W, X, gamma


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
    W, X, gamma = _check_layer(W, X, gamma, "invariance_view")
    eps = check_eps(eps, "invariance_view")
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
    constants = {
        "transformations": invariance.TRANSFORMATIONS,
        "methods": invariance.METHODS,
        "paper": {m: [invariance.PAPER_TABLE_1[m, t] for t in invariance.TRANSFORMATIONS] for m in invariance.METHODS},
        "index_kind": USES_INDEX,
        "tolerance": TOLERANCE,
        "eps_choices": EPS_CHOICES,
    }

    W = FloatArray(ndim=2).tag(sync=True)
    X = FloatArray(ndim=2).tag(sync=True)
    gamma_dir = FloatArray(ndim=1).tag(sync=True)
    transformation = traitlets.Enum(invariance.TRANSFORMATIONS, default_value="weight matrix re-scaling").tag(sync=True)
    delta = FiniteFloat(3.0, min=0.1, max=10.0).tag(sync=True)
    gamma_scale = FiniteFloat(1.0, min=-3.0, max=3.0).tag(sync=True)
    index = traitlets.Int(0, min=0).tag(sync=True)
    eps = FiniteFloat(1e-20, min=0.0, min_open=True).tag(sync=True)

    def __init__(self, example=None, transformation: str = "weight matrix re-scaling", index: int = 0, **kwargs):
        where = "InvarianceExplorer"
        example = invariance_example() if example is None else example
        try:
            W, X, gamma = _check_layer(example["W"], example["X"], example["gamma"], where)
        except (TypeError, KeyError):
            raise ValueError(f"{where}: example must be a dict with keys 'W', 'X' and 'gamma'") from None
        size = _index_size(transformation, W, X)
        check_int(index, "index", where, 0, size - 1, hint=f"{transformation!r} has {size} rows to pick from")
        super().__init__(W=W, X=X, gamma_dir=gamma, transformation=transformation, index=index, **kwargs)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`invariance_view` of the inputs the page reports in ``result``."""
        return invariance_view(result["W"], result["X"], result["transformation"], result["delta"],
                               result["gamma"], result["index"], result["eps"])

    # The bounds that depend on other traits: the index picks a unit or a case, so it is
    # below max(H, B) (the page clamps it to the rows the transformation picks from).
    @traitlets.validate("index", "gamma_dir")
    def _fits(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        if name == "index":
            return as_trait_error(check_int, value, "index", "InvarianceExplorer", hi=max(len(self.W), len(self.X)) - 1)
        return as_trait_error(float_array, value, "gamma_dir", "InvarianceExplorer", shape=(len(self.W[0]),)).tolist()

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
