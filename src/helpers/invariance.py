r"""What each normalization method is invariant to: the paper's Table 1, checked numerically.

Ba, Kiros & Hinton (2016, Sec. 5.1) compare batch norm, weight norm and layer
norm through one formula, their Eq. (5): a unit's summed input
:math:`a_i = \mathbf{w}_i^\top \mathbf{x}` is normalized as

.. math::
    h_i = f\Big(\frac{g_i}{\sigma_i}(a_i - \mu_i) + b_i\Big)

and the methods differ only in :math:`\mu_i, \sigma_i`:

* **batch norm** -- mean and std of unit ``i``'s summed input over the ``B``
  cases of the mini-batch (down a column of ``a``, shape ``(B, H)``);
* **weight norm** -- :math:`\mu_i = 0`, :math:`\sigma_i = \lVert \mathbf{w}_i \rVert`;
* **layer norm** -- mean and std over the ``H`` units of one case (along a row).

Table 1 asks, for six transformations of a layer's weights ``W`` ``(H, I)`` or
of its data ``X`` ``(B, I)``: does the normalized summed input
:math:`(a_i - \mu_i)/\sigma_i` stay exactly the same? (The gain ``g`` and bias
``b`` are applied afterwards and are not transformed, so they are set to 1
and 0 here.) This module defines each transformation precisely
(:func:`rescale_weight_matrix` ... :func:`rescale_training_case`), computes
the normalized output of each method (:func:`normalized_output`), and
*measures* whether it changes (:func:`invariance_changes`,
:func:`invariance_table`), so the table can be compared with the printed one,
:data:`PAPER_TABLE_1`.

**Scalars.** Every re-scaling factor ``delta`` must be > 0, as in the paper:
a negative factor flips the sign of the normalized output
(``LN(-a) = -LN(a)``, and likewise for the other two), so none of the
methods would be invariant to it. ``gamma`` is a vector of length ``I``.
Pick ``delta`` away from 1 and ``gamma`` away from 0 (the defaults use
``delta = 3.7`` and a random ``gamma``): at ``delta = 1`` every re-scaling is
the identity.

**What "invariant" means numerically.** A cell's *change* is the largest
change of any output relative to the largest output,
``max|after - before| / max|before|``. Over 12,600 random layers (seeds
0-299; ``B`` from 3 to 64; ``delta`` from 0.01 to 100) the invariant cells
measured at most 4.4e-12 (floating-point rounding) and the others at least
5e-3, so the verdict ``change <= rtol`` with ``rtol = 1e-8`` has more than
three orders of magnitude of room on each side.

**The role of eps.** The paper's :math:`\sigma` has no :math:`\epsilon`.
Batch and layer norm here divide by :math:`\sqrt{\sigma^2 + \epsilon}` (the
functions in :mod:`helpers.norms` require ``eps > 0``, so that a constant
row gives 0 rather than 0/0), and then re-scaling the summed inputs by
``delta`` is *not* removed exactly: the output changes by a relative
:math:`\approx \frac{\epsilon}{2\sigma^2}\,\lvert 1 - \delta^{-2}\rvert`.
That is not small when a unit's batch variance is: with three cases it is
sometimes 1e-4, and then even ``eps = 1e-12`` moves "invariant" cells past
1e-8. The checks here therefore default to ``eps = 1e-20``, far below any
variance these layers produce, which computes the paper's formula up to
rounding. The effect of a realistic ``eps`` is a fact of its own: with the
book's usual ``eps = 1e-5`` and data whose summed inputs are much smaller
than ``sqrt(eps) ~ 3e-3``, ``eps`` and not the data sets the scale, and
layer norm's invariance to re-scaling the dataset visibly fails (pass
``eps`` to see it). Weight norm has no ``eps``; its invariances are exact up
to rounding.

**Sizes.** The table holds for generic data with ``B >= 3``, ``H >= 3`` and
``I >= 2``. With only two cases (or two units) a batch (or layer) normalized
output is just ``+-1`` signs, which survive most transformations; with one
input feature, re-centering the weight matrix is a per-unit re-scaling.
:func:`invariance_table` refuses such sizes.

Nothing here draws random numbers except from a ``numpy.random.Generator``
seeded by the caller. Everything is float64.
"""

import math
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ._checks import check_choice, check_int, check_real, float_array
from .norms import batch_norm, layer_norm, weight_norm

__all__ = [
    "METHODS",
    "TRANSFORMATIONS",
    "PAPER_TABLE_1",
    "rescale_weight_matrix",
    "recenter_weight_matrix",
    "rescale_weight_vector",
    "rescale_dataset",
    "recenter_dataset",
    "rescale_training_case",
    "transform",
    "normalized_output",
    "is_invariant",
    "invariance_changes",
    "invariance_table",
    "Counterexample",
    "counterexample",
]

#: The rows of Table 1.
METHODS = ("batch norm", "weight norm", "layer norm")

#: The columns of Table 1, in the paper's order.
TRANSFORMATIONS = (
    "weight matrix re-scaling",
    "weight matrix re-centering",
    "weight vector re-scaling",
    "dataset re-scaling",
    "dataset re-centering",
    "single training case re-scaling",
)

# Why each cell holds. a = X W^T is (B, H); a_ni is case n's summed input to unit i.
#   batch norm:  mu_i, sigma_i over the B cases of column i  -> removes any per-unit shift and scale
#   weight norm: mu = 0, sigma_i = ||w_i||                    -> removes a re-scaling of the row w_i only
#   layer norm:  mu_n, sigma_n over the H units of row n      -> removes any per-case shift and scale
#: The paper's printed Table 1: ``{(method, transformation): True if invariant}``. Read-only.
PAPER_TABLE_1 = MappingProxyType({
    # W' = delta W: a -> delta a, so every column's mu_i and sigma_i scale by delta.
    ("batch norm", "weight matrix re-scaling"): True,
    # W' = W + 1 gamma^T: a_ni -> a_ni + gamma.x_n, a shift that differs from case to case.
    ("batch norm", "weight matrix re-centering"): False,
    # w_i' = delta w_i: column i scales by delta, and unit i has its own mu_i, sigma_i.
    ("batch norm", "weight vector re-scaling"): True,
    # X' = delta X: a -> delta a.
    ("batch norm", "dataset re-scaling"): True,
    # X' = X + 1 gamma^T: a_ni -> a_ni + w_i.gamma, the same shift for every case of unit i.
    ("batch norm", "dataset re-centering"): True,
    # x_n' = delta x_n: changes the batch's mu_i and sigma_i, hence every case's output.
    ("batch norm", "single training case re-scaling"): False,
    # w_i -> delta w_i for every i: a_i and ||w_i|| both scale by delta.
    ("weight norm", "weight matrix re-scaling"): True,
    # w_i -> w_i + gamma: a new direction for every row; dividing by ||w_i + gamma|| cannot undo that.
    ("weight norm", "weight matrix re-centering"): False,
    # one row: a_i and ||w_i|| both scale by delta.
    ("weight norm", "weight vector re-scaling"): True,
    # nothing is computed from the data: y -> delta y.
    ("weight norm", "dataset re-scaling"): False,
    # y_ni -> y_ni + w_i.gamma / ||w_i||.
    ("weight norm", "dataset re-centering"): False,
    # y_n -> delta y_n.
    ("weight norm", "single training case re-scaling"): False,
    # a_n -> delta a_n for every case n: mu_n and sigma_n scale by delta.
    ("layer norm", "weight matrix re-scaling"): True,
    # a_n -> a_n + (gamma.x_n) 1: one scalar shift for all units of case n, which mu_n removes
    # (also for the paper's W' = delta W + 1 gamma^T: then a_n -> delta a_n + (gamma.x_n) 1).
    ("layer norm", "weight matrix re-centering"): True,
    # only unit i's input scales, so the pattern across units, not just its scale, changes.
    ("layer norm", "weight vector re-scaling"): False,
    # a_n -> delta a_n.
    ("layer norm", "dataset re-scaling"): True,
    # a_ni -> a_ni + w_i.gamma: the shift differs from unit to unit.
    ("layer norm", "dataset re-centering"): False,
    # a_n -> delta a_n, and case n is normalized on its own.
    ("layer norm", "single training case re-scaling"): True,
})

#: Defaults of the numerical checks (see the module docstring).
DELTA, EPS, RTOL, ATOL = 3.7, 1e-20, 1e-8, 1e-12


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------

_DELTA_HINT = ("the paper's re-scalings are by a positive scalar (a negative one flips the sign of every "
               "normalized output)")


def _check_delta(delta, where):
    return check_real(delta, "delta", where, 0, lo_open=True, hint=_DELTA_HINT)


def _matrix(a, name, shape, where):
    """``a`` as a non-empty float64 matrix; ``shape`` names its sizes, e.g. ``("H", "I")``."""
    return float_array(a, name, where, shape=shape, dtype=np.float64, nonempty=True)


def _vector(gamma, size, where):
    if gamma is None:
        raise ValueError(f"{where}: this transformation needs gamma, a vector of shape (I,) = ({size},)")
    gamma = float_array(gamma, "gamma", where, dtype=np.float64)
    if gamma.shape != (size,):
        raise ValueError(f"{where}: gamma must have shape (I,) = ({size},), got gamma.shape = {gamma.shape}")
    return gamma


def _index(index, size, what, where):
    return check_int(index, f"{what} index", where, 0, size - 1)


def _layer(W, X, where):
    W, X = _matrix(W, "W", ("H", "I"), where), _matrix(X, "X", ("B", "I"), where)
    if W.shape[1] != X.shape[1]:
        raise ValueError(
            f"{where}: W (H, I) and X (B, I) must have the same input size I, "
            f"got W.shape = {W.shape}, X.shape = {X.shape}"
        )
    return W, X


# ---------------------------------------------------------------------------
# The six transformations
# ---------------------------------------------------------------------------

def rescale_weight_matrix(W, delta):
    r"""Weight matrix re-scaling, :math:`W' = \delta W`.

    Args:
        W (array_like): weight matrix, row ``i`` = incoming weights of unit ``i``.
        delta (float): the scale, > 0.

    Shape:
        - W, Output: :math:`(H, I)`
    """
    where = "rescale_weight_matrix"
    return _check_delta(delta, where) * _matrix(W, "W", ("H", "I"), where)  # (H, I)


def recenter_weight_matrix(W, gamma, delta=1.0):
    r"""Weight matrix re-centering, :math:`W' = \delta W + \mathbf{1}\gamma^\top`.

    Every row gets the same vector :math:`\gamma` added: :math:`\mathbf{w}_i' =
    \delta\mathbf{w}_i + \gamma`. Then case ``n``'s summed input to *every*
    unit moves by the same scalar, :math:`a_{ni}' = \delta a_{ni} +
    \gamma^\top\mathbf{x}_n`. The paper states the invariance of layer norm
    for this combined form; ``delta = 1`` (the default) is pure re-centering.

    Args:
        W (array_like): weight matrix.
        gamma (array_like): the shift added to every row.
        delta (float): scale applied first, > 0. Default: 1.0

    Shape:
        - W, Output: :math:`(H, I)`
        - gamma: :math:`(I,)`
    """
    where = "recenter_weight_matrix"
    delta = _check_delta(delta, where)
    W = _matrix(W, "W", ("H", "I"), where)
    gamma = _vector(gamma, W.shape[1], where)
    return delta * W + gamma[None, :]  # (H, I) + (1, I)


def rescale_weight_vector(W, i, delta):
    r"""Weight vector re-scaling: one row, :math:`\mathbf{w}_i' = \delta\mathbf{w}_i`; the others unchanged.

    Args:
        W (array_like): weight matrix.
        i (int): the unit whose incoming weights are re-scaled.
        delta (float): the scale, > 0.

    Shape:
        - W, Output: :math:`(H, I)`
    """
    where = "rescale_weight_vector"
    delta = _check_delta(delta, where)
    W = _matrix(W, "W", ("H", "I"), where).copy()
    W[_index(i, W.shape[0], "unit (row of W)", where)] *= delta  # (I,)
    return W


def rescale_dataset(X, delta):
    r"""Dataset re-scaling, :math:`X' = \delta X`: every input of every case.

    Shape:
        - X, Output: :math:`(B, I)`
    """
    where = "rescale_dataset"
    return _check_delta(delta, where) * _matrix(X, "X", ("B", "I"), where)  # (B, I)


def recenter_dataset(X, gamma):
    r"""Dataset re-centering, :math:`X' = X + \mathbf{1}\gamma^\top`: every case shifted by the same vector.

    Then unit ``i``'s summed input moves by the same scalar in every case,
    :math:`a_{ni}' = a_{ni} + \mathbf{w}_i^\top\gamma` -- but by a different
    one for each unit.

    Shape:
        - X, Output: :math:`(B, I)`
        - gamma: :math:`(I,)`
    """
    where = "recenter_dataset"
    X = _matrix(X, "X", ("B", "I"), where)
    return X + _vector(gamma, X.shape[1], where)[None, :]  # (B, I) + (1, I)


def rescale_training_case(X, n, delta):
    r"""Single training case re-scaling: :math:`\mathbf{x}_n' = \delta\mathbf{x}_n`; the other cases unchanged.

    Shape:
        - X, Output: :math:`(B, I)`
    """
    where = "rescale_training_case"
    delta = _check_delta(delta, where)
    X = _matrix(X, "X", ("B", "I"), where).copy()
    X[_index(n, X.shape[0], "training case (row of X)", where)] *= delta  # (I,)
    return X


def transform(transformation, W, X, *, delta=DELTA, gamma=None, index=0):
    r"""Apply one of :data:`TRANSFORMATIONS` to a layer: returns ``(W', X')``.

    Args:
        transformation (str): one of :data:`TRANSFORMATIONS`.
        W (array_like): weight matrix :math:`(H, I)`.
        X (array_like): data :math:`(B, I)`, one case per row.
        delta (float): scale of the four re-scalings, > 0. Default: 3.7
        gamma (array_like, optional): shift :math:`(I,)` of the two re-centerings; required for them.
        index (int): the row re-scaled by weight vector re-scaling (unit ``i``)
            or by single training case re-scaling (case ``n``). Default: 0

    Each column of Table 1 is one transformation on its own: weight matrix
    re-centering here is pure, :math:`W' = W + \mathbf{1}\gamma^\top`. (For the
    paper's combined :math:`\delta W + \mathbf{1}\gamma^\top` call
    :func:`recenter_weight_matrix` with ``delta``; a large ``delta`` would
    dilute ``gamma`` and make the batch and weight norm "No" cells less clear.)
    The untouched one of ``W`` and ``X`` is returned as a float64 array, unchanged.
    """
    where = "transform"
    check_choice(transformation, "transformation", TRANSFORMATIONS, where)
    W, X = _layer(W, X, where)
    if transformation == "weight matrix re-scaling":
        return rescale_weight_matrix(W, delta), X
    if transformation == "weight matrix re-centering":
        return recenter_weight_matrix(W, gamma), X  # pure re-centering: delta = 1
    if transformation == "weight vector re-scaling":
        return rescale_weight_vector(W, index, delta), X
    if transformation == "dataset re-scaling":
        return W, rescale_dataset(X, delta)
    if transformation == "dataset re-centering":
        return W, recenter_dataset(X, gamma)
    return W, rescale_training_case(X, index, delta)  # "single training case re-scaling"


# ---------------------------------------------------------------------------
# The three methods, and the comparison
# ---------------------------------------------------------------------------

def normalized_output(method, W, X, eps=EPS):
    r"""The normalized summed inputs :math:`(a_i - \mu_i)/\sigma_i` of a layer, gain 1 and bias 0.

    With :math:`a = X W^\top` of shape ``(B, H)``:

    * ``"batch norm"`` -- :func:`helpers.norms.batch_norm` of ``a``: each
      column (unit) normalized over the ``B`` cases;
    * ``"weight norm"`` -- :func:`helpers.norms.weight_norm`:
      :math:`a_{ni} / \lVert \mathbf{w}_i \rVert` (``eps`` is not used);
    * ``"layer norm"`` -- :func:`helpers.norms.layer_norm` of ``a``: each row
      (case) normalized over the ``H`` units.

    Args:
        method (str): one of :data:`METHODS`.
        W (array_like): weight matrix.
        X (array_like): data, one case per row (batch norm needs ``B >= 2``).
        eps (float): added to the variance inside the square root, > 0. Default: 1e-20

    Shape:
        - W: :math:`(H, I)`, X: :math:`(B, I)`
        - Output: :math:`(B, H)`

    Example::

        >>> W = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
        >>> X = [[1.0, 2.0], [3.0, 5.0]]
        >>> normalized_output("layer norm", W, X).round(4).tolist()  # a = [[1, 2, 3], [3, 5, 8]]
        [[-1.2247, 0.0, 1.2247], [-1.1355, -0.1622, 1.2978]]
        >>> normalized_output("batch norm", W, X).round(4).tolist()  # two cases: just signs
        [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]
        >>> normalized_output("weight norm", W, X).round(4).tolist()  # a_ni / ||w_i||
        [[1.0, 2.0, 2.1213], [3.0, 5.0, 5.6569]]
    """
    where = "normalized_output"
    check_choice(method, "method", METHODS, where)
    W, X = _layer(W, X, where)
    if method == "weight norm":
        return weight_norm(X, W)  # (B, H)
    a = X @ W.T  # (B, H): summed inputs a_ni = w_i . x_n
    if method == "batch norm":
        return batch_norm(a, eps=eps)  # statistics down each column, over the B cases
    return layer_norm(a, eps=eps)  # statistics along each row, over the H units


def _compare(before, after):
    """``(max|after - before|, max|before|)``: the absolute change and the scale it is relative to."""
    return float(np.abs(after - before).max()), float(np.abs(before).max())


def is_invariant(method, transformation, W, X, *, delta=DELTA, gamma=None, index=0,
                 eps=EPS, rtol=RTOL, atol=ATOL):
    r"""Does ``transformation`` leave ``method``'s normalized output of this layer unchanged?

    Applies :func:`transform` to ``(W, X)`` and compares
    :func:`normalized_output` before and after. The verdict is

    .. math::
        \max_{n,i} \lvert y'_{ni} - y_{ni}\rvert \le \text{atol} + \text{rtol}\cdot\max_{n,i}\lvert y_{ni}\rvert

    i.e. :func:`numpy.allclose` with the scale taken over the whole output,
    so that outputs near 0 do not make the test stricter. The defaults suit
    summed inputs of order 1e-5 and larger (see the module docstring on
    ``eps``); the verdict is
    about *these* ``W``, ``X``, ``delta`` and ``gamma``: at ``delta = 1`` or
    ``gamma = 0`` every transformation is the identity.

    Args:
        method (str): one of :data:`METHODS`.
        transformation (str): one of :data:`TRANSFORMATIONS`.
        W (array_like): weight matrix :math:`(H, I)`.
        X (array_like): data :math:`(B, I)`.
        delta, gamma, index: as in :func:`transform`.
        eps (float): as in :func:`normalized_output`. Default: 1e-20
        rtol (float): tolerance relative to the largest output. Default: 1e-8
        atol (float): absolute tolerance. Default: 1e-12

    Returns:
        bool
    """
    where = "is_invariant"
    check_choice(method, "method", METHODS, where)
    W, X = _layer(W, X, where)
    W2, X2 = transform(transformation, W, X, delta=delta, gamma=gamma, index=index)
    change, scale = _compare(normalized_output(method, W, X, eps), normalized_output(method, W2, X2, eps))
    return change <= atol + rtol * scale


def _random_layer(seed, B, I, H, where):
    """A seeded layer: ``W`` (H, I) with entries N(0, 1/I), ``X`` (B, I) N(0, 1), ``gamma`` (I,) N(0, 1)."""
    hint = ("with fewer, batch or layer normalized outputs are only +-1 signs (B or H = 2) or "
            "re-centering W is a re-scaling (I = 1), and the table degenerates")
    B = check_int(B, "B", where, lo=3, hint=hint)
    I = check_int(I, "I", where, lo=2, hint=hint)
    H = check_int(H, "H", where, lo=3, hint=hint)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((H, I)) / math.sqrt(I)  # (H, I): summed inputs of variance ~1
    X = rng.standard_normal((B, I))  # (B, I)
    gamma = rng.standard_normal(I)  # (I,)
    return W, X, gamma


def invariance_changes(seed=0, *, B=8, I=5, H=6, delta=DELTA, eps=EPS):
    """Measure every cell of Table 1 on one random layer: ``{(method, transformation): change}``.

    Draws ``W``, ``X`` and ``gamma`` from ``np.random.default_rng(seed)``
    (``W`` with entries of variance ``1/I``, so summed inputs have variance
    about 1), applies each transformation (``index = 0``: unit 0, case 0) and
    returns ``max|after - before| / max|before|`` of each method's
    :func:`normalized_output`. Invariant cells give 1e-16 to 1e-11, the
    others 1e-2 to 3 (see the module docstring).

    Args:
        seed (int): seed of the generator. Default: 0
        B (int): cases, >= 3. Default: 8
        I (int): input size, >= 2. Default: 5
        H (int): hidden units, >= 3. Default: 6
        delta (float): re-scaling factor, > 0. Default: 3.7
        eps (float): as in :func:`normalized_output`. Default: 1e-20

    Returns:
        dict mapping each ``(method, transformation)`` to a float.
    """
    delta = _check_delta(delta, "invariance_changes")
    W, X, gamma = _random_layer(seed, B, I, H, "invariance_changes")
    changes = {}
    for transformation in TRANSFORMATIONS:
        W2, X2 = transform(transformation, W, X, delta=delta, gamma=gamma)
        for method in METHODS:
            change, scale = _compare(normalized_output(method, W, X, eps), normalized_output(method, W2, X2, eps))
            changes[method, transformation] = change / scale
    return {key: changes[key] for key in PAPER_TABLE_1}  # in the table's order


def invariance_table(seed=0, *, B=8, I=5, H=6, delta=DELTA, eps=EPS, rtol=RTOL):
    """Table 1, measured: ``{(method, transformation): True if invariant}``.

    The verdict of each cell is ``change <= rtol`` for the change that
    :func:`invariance_changes` measures with the same arguments. With the
    defaults it equals :data:`PAPER_TABLE_1`.

    Args:
        seed, B, I, H, delta, eps: as in :func:`invariance_changes`.
        rtol (float): largest relative change still called invariant. Default: 1e-8

    Example::

        >>> invariance_table() == PAPER_TABLE_1
        True
        >>> invariance_table()["layer norm", "weight matrix re-centering"]
        True
    """
    changes = invariance_changes(seed, B=B, I=I, H=H, delta=delta, eps=eps)
    return {key: change <= rtol for key, change in changes.items()}


# ---------------------------------------------------------------------------
# A printable counterexample
# ---------------------------------------------------------------------------

class Counterexample(NamedTuple):
    """A small layer on which a transformation changes a method's normalized output."""

    #: ``{"W", "X", "W_new", "X_new", "delta", "gamma", "index"}``; ``W_new``, ``X_new`` are transformed.
    inputs: dict
    #: ``normalized_output(method, W, X)``, shape ``(B, H)``.
    before: np.ndarray
    #: ``normalized_output(method, W_new, X_new)``, shape ``(B, H)``.
    after: np.ndarray


def counterexample(method, transformation, seed=0):
    """A tiny, printable layer showing that a "No" cell of Table 1 really is not invariant.

    ``W`` ``(3, 2)``, ``X`` ``(3, 2)`` and ``gamma`` ``(2,)`` have one decimal
    digit, ``delta = 2`` and ``index = 0``; draws whose output changes by less
    than 5% of its scale (or that have a zero weight row) are skipped, so the
    example is never a near miss. Invariant cells have no counterexample and
    raise :class:`ValueError`.

    Returns:
        :class:`Counterexample` ``(inputs, before, after)``.

    Example::

        >>> inputs, before, after = counterexample("weight norm", "dataset re-scaling")
        >>> bool(np.allclose(after, 2 * before))
        True
    """
    where = "counterexample"
    check_choice(method, "method", METHODS, where)
    check_choice(transformation, "transformation", TRANSFORMATIONS, where)
    if PAPER_TABLE_1[method, transformation]:
        raise ValueError(
            f"{where}: {method} is invariant to {transformation} (Table 1), so there is no "
            f"counterexample; use is_invariant to check it on any layer"
        )
    rng = np.random.default_rng(seed)
    delta = 2.0
    for _ in range(1000):  # a draw is rejected rarely, so this ends within a few rounds
        W = rng.standard_normal((3, 2)).round(1)  # (H, I) = (3, 2)
        X = rng.standard_normal((3, 2)).round(1)  # (B, I) = (3, 2)
        gamma = rng.standard_normal(2).round(1)  # (I,)
        if (np.abs(W).sum(1) == 0).any():
            continue
        W2, X2 = transform(transformation, W, X, delta=delta, gamma=gamma)
        before, after = normalized_output(method, W, X), normalized_output(method, W2, X2)
        change, scale = _compare(before, after)
        if change > 0.05 * scale:
            inputs = {"W": W, "X": X, "W_new": W2, "X_new": X2, "delta": delta, "gamma": gamma, "index": 0}
            return Counterexample(inputs, before, after)
    raise RuntimeError(f"{where}: no clear counterexample in 1000 draws for seed {seed}")  # not reached


# ---------------------------------------------------------------------------
# A new row: any normalization of the summed inputs (added for the Transformer chapter)
# ---------------------------------------------------------------------------

__all__ += ["row_changes"]


def row_changes(normalize, seed=0, *, B=8, I=5, H=6, delta=DELTA):
    r"""One new row of Table 1: how much each transformation changes ``normalize(X @ W.T)``.

    ``normalize`` maps the summed inputs :math:`a = XW^\top` ``(B, H)`` to a
    normalized ``(B, H)`` array, e.g. ``lambda a: norms.rms_norm(a, eps=1e-20)``
    for RMSNorm. The layer, the six transformations and the measure of change
    are those of :func:`invariance_changes`, so with ``normalize =
    lambda a: norms.layer_norm(a, eps=1e-20)`` the row equals that function's
    "layer norm" row. A cell is invariant when its change is ``<= 1e-8``
    (:data:`RTOL`).

    Args:
        normalize (callable): ``(B, H)`` array -> ``(B, H)`` array.
        seed, B, I, H, delta: as in :func:`invariance_changes`.

    Returns:
        dict mapping each transformation (in :data:`TRANSFORMATIONS` order) to
        the relative change ``max|after - before| / max|before|``.

    Example::

        >>> from helpers.norms import rms_norm
        >>> row = row_changes(lambda a: rms_norm(a, eps=1e-20))
        >>> [t for t, change in row.items() if change <= RTOL]
        ['weight matrix re-scaling', 'dataset re-scaling', 'single training case re-scaling']
    """
    where = "row_changes"
    if not callable(normalize):
        raise TypeError(f"{where}: normalize must be a function of the (B, H) summed inputs, "
                        f"got {type(normalize).__name__}")
    delta = _check_delta(delta, where)
    W, X, gamma = _random_layer(seed, B, I, H, where)

    def output(W, X):
        y = np.asarray(normalize(X @ W.T))  # (B, H)
        if y.shape != (X.shape[0], W.shape[0]):
            raise ValueError(f"{where}: normalize must return shape (B, H) = {(X.shape[0], W.shape[0])}, "
                             f"got {y.shape}")
        return y

    before = output(W, X)
    row = {}
    for transformation in TRANSFORMATIONS:
        change, scale = _compare(before, output(*transform(transformation, W, X, delta=delta, gamma=gamma)))
        row[transformation] = change / scale
    return row
