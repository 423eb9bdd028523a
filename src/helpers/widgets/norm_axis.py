"""Chapter 1's explorable: the same activations normalized over the batch or over the layer.

A ``B x H`` matrix of summed inputs (B examples, H hidden units) is normalized
either down each column over the mini-batch (batch norm) or along each row over
the hidden units (layer norm). The reader picks the axis, the batch size ``B``
(the first ``B`` rows form the mini-batch) and one example to follow, and sees
that under batch norm the example's output changes with its batch-mates while
under layer norm it does not.

:func:`norm_axis_view` is the pure-Python twin of the JavaScript in
``js/norm_axis.js``: it returns the same numbers the widget writes into its
``data-lnb-result`` attribute, computed with :mod:`helpers.norms`.
"""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .. import norms
from .._checks import check_choice, check_eps, check_int, float_array
from .base import Explorable, FiniteFloat, FloatArray, as_trait_error

__all__ = ["NormAxisExplorer", "norm_axis_view", "example_activations", "AXES", "EPS_CHOICES"]

#: The two normalization axes: ``"batch"`` (statistics per column, over the B
#: examples) and ``"layer"`` (statistics per row, over the H hidden units).
AXES = ("batch", "layer")

#: The values of ``eps`` the page offers (a value set from Python is offered too).
EPS_CHOICES = (1e-5, 1e-3, 0.1, 1.0)


def example_activations(rows: int = 16, hidden: int = 8, seed: int = 0) -> np.ndarray:
    """Summed inputs ``(rows, hidden)`` whose rows and columns differ visibly in offset and scale.

    Each entry is ``row_offset[b] + row_scale[b] * z[b, h] + unit_offset[h]``
    with ``z`` standard normal, rounded to two decimals so the numbers read
    well in tooltips. Rows differ in offset and spread (so per-row statistics
    vary) and so do columns (so per-column statistics vary too).

    Args:
        rows: number of examples, the largest possible batch size.
        hidden: number of hidden units ``H``.
        seed: seed of the :class:`numpy.random.Generator`.
    """
    rows = check_int(rows, "rows", "example_activations", lo=1)
    hidden = check_int(hidden, "hidden", "example_activations", lo=1)
    rng = np.random.default_rng(seed)
    row_offset = rng.normal(0.0, 1.2, size=(rows, 1))  # (R, 1)
    row_scale = np.exp(rng.normal(0.0, 0.5, size=(rows, 1)))  # (R, 1), positive
    unit_offset = rng.normal(0.0, 1.0, size=(1, hidden))  # (1, H)
    z = rng.standard_normal((rows, hidden))  # (R, H)
    return np.round(row_offset + row_scale * z + unit_offset, 2)  # (R, H)


def norm_axis_view(x, axis: str, batch_size: int, example: int, eps: float = 1e-5) -> dict:
    """What the explorable shows, computed in Python with :mod:`helpers.norms`.

    Args:
        x: the full activation matrix, ``(R, H)``; its first ``batch_size`` rows
            are the mini-batch.
        axis: ``"batch"`` (one mean and std per column, over the ``B`` examples)
            or ``"layer"`` (one mean and std per row, over the ``H`` units).
        batch_size: ``B``, from 1 to ``R``.
        example: the row to follow, from 0 to ``B - 1``.
        eps: added to the biased variance inside the square root; > 0.

    Returns:
        A dict of plain Python floats and lists, with the keys the widget writes
        to ``data-lnb-result``:

        * ``axis``, ``batch_size``, ``example``, ``eps``, ``x``: the inputs
          (``x`` is the whole ``R x H`` matrix);
        * ``x_used``: the ``B x H`` mini-batch, its first ``B`` rows;
        * ``mu``, ``sigma``: the statistics, ``H`` of them for batch norm (per
          column), ``B`` for layer norm (per row); ``sigma = sqrt(var + eps)``;
        * ``y``: the normalized ``B x H`` matrix (no gain or bias);
        * ``example_output``: row ``example`` of ``y``;
        * ``example_output_ref``: the same example's output when the mini-batch
          is all ``R`` rows, the reference the widget draws as markers;
        * ``max_change``: ``max |example_output - example_output_ref|``;
        * ``degenerate``: ``True`` when each statistic sees a single value (batch
          norm with ``B = 1``, or layer norm with ``H = 1``). Then ``x - mu = 0``,
          ``sigma = sqrt(eps)`` and every output is 0; :func:`helpers.norms.batch_norm`
          refuses ``B = 1``, so that case is computed here directly.

    Raises:
        ValueError: for a malformed ``x``, an unknown axis, or an out-of-range
            ``batch_size``, ``example`` or ``eps``.
    """
    where = "norm_axis_view"
    x = float_array(x, "x", where, ndim=2, dtype=np.float64, finite=True, nonempty=True)
    rows, hidden = x.shape
    axis = check_choice(axis, "axis", AXES, where)
    batch_size = check_int(batch_size, "batch_size", where, 1, rows)
    example = check_int(example, "example", where, 0, batch_size - 1)
    eps = check_eps(eps, where)

    def normalize(a):
        """Statistics and normalized matrix of the mini-batch ``a`` (B, H)."""
        if axis == "layer":
            mu, sigma = norms.layer_norm_stats(a, eps=eps)  # (B, 1), (B, 1): per row
            return mu[:, 0], sigma[:, 0], norms.layer_norm(a, eps=eps)
        if a.shape[0] == 1:  # one value per column: x - mu = 0, variance 0
            return a[0].copy(), np.full(hidden, math.sqrt(eps)), np.zeros_like(a)
        mu, sigma = norms.layer_norm_stats(a.T, eps=eps)  # (H, 1), (H, 1): per column
        return mu[:, 0], sigma[:, 0], norms.batch_norm(a, eps=eps)

    x_used = x[:batch_size]  # (B, H): the mini-batch
    mu, sigma, y = normalize(x_used)
    y_ref = normalize(x)[2]  # (R, H): the whole matrix as one batch
    out = y[example]  # (H,)
    ref = y_ref[example]  # (H,)
    return {
        "axis": axis,
        "batch_size": batch_size,
        "example": example,
        "eps": eps,
        "x": x.tolist(),
        "x_used": x_used.tolist(),
        "mu": mu.tolist(),
        "sigma": sigma.tolist(),
        "y": y.tolist(),
        "example_output": out.tolist(),
        "example_output_ref": ref.tolist(),
        "max_change": float(np.abs(out - ref).max()),
        "degenerate": bool((batch_size if axis == "batch" else hidden) == 1),
    }


class NormAxisExplorer(Explorable):
    """Batch norm or layer norm of a ``B x H`` activation matrix, computed live in the page.

    The controls (plain HTML, so they work on the static website) pick the
    normalization axis, the batch size ``B`` (the first ``B`` rows form the
    mini-batch) and the example to follow. The widget draws the raw matrix with
    the groups the statistics are taken over, the means and standard
    deviations, the normalized matrix, and the followed example's output as a
    bar chart next to markers for its output with the full batch.

    Args:
        x: the activation matrix ``(R, H)``; by default :func:`example_activations`
            ``(16, 8)``.
        axis: ``"batch"`` or ``"layer"``.
        batch_size: ``B`` in ``[1, R]``.
        example: the row to follow, in ``[0, B - 1]``.
        eps: added to the variance inside the square root.

    Example::

        >>> w = NormAxisExplorer(axis="layer", batch_size=4, example=2)
        >>> w.view()["max_change"]  # what the page shows, from Python: layer norm ignores the batch-mates
        0.0
    """

    _js = "norm_axis.js"
    kind = "norm_axis"
    checked_keys = ("mu", "sigma", "y", "example_output")
    constants = {"eps_choices": EPS_CHOICES}

    x = FloatArray(ndim=2).tag(sync=True)
    axis = traitlets.Enum(AXES, default_value="batch").tag(sync=True)
    batch_size = traitlets.Int(4, min=1).tag(sync=True)
    example = traitlets.Int(0, min=0).tag(sync=True)
    eps = FiniteFloat(1e-5, min=0.0, min_open=True).tag(sync=True)

    def __init__(self, x=None, **kwargs):
        super().__init__(x=example_activations() if x is None else x, **kwargs)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`norm_axis_view` of the inputs the page reports in ``result``."""
        return norm_axis_view(result["x"], result["axis"], result["batch_size"], result["example"], result["eps"])

    # The bounds that depend on another trait: batch_size <= rows of x, example < batch_size.
    # Inside one update (the page lowering B and the example with it) traitlets checks them
    # after every value is set, and rolls the whole update back on failure.
    @traitlets.validate("x", "batch_size", "example")
    def _fits(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        if name == "x":
            as_trait_error(check_int, self.batch_size, "batch_size", "NormAxisExplorer", hi=len(value),
                           hint="lower batch_size before giving x fewer rows")
        else:
            top = len(self.x) if name == "batch_size" else self.batch_size - 1
            as_trait_error(check_int, value, name, "NormAxisExplorer", hi=top)
        return value

    @traitlets.observe("batch_size")
    def _keep_example_in_batch(self, change):
        if self.example >= change["new"]:
            self.example = change["new"] - 1

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`norm_axis_view`."""
        return norm_axis_view(self.x, self.axis, self.batch_size, self.example, self.eps)
