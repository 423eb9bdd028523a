r"""Layer normalization, batch normalization and weight normalization, written out in full.

Two families of code live here:

* NumPy reference functions -- :func:`layer_norm`, :func:`batch_norm`,
  :func:`layer_norm_stats` and the hand-derived gradient
  :func:`layer_norm_backward`; and :func:`weight_norm`, the third method the
  paper compares (Sec. 5.1, Table 1). They are the formulas of Ba, Kiros &
  Hinton (2016), one line per equation, and are what the book's figures use.
* Torch modules -- :class:`LayerNorm` and :class:`BatchNorm1d`, built from
  primitive tensor ops (``mean``, ``sqrt``, ``*``, ``+``) so that autograd
  derives the backward pass. They take the same arguments, hold the same
  parameters and buffers, and load the same ``state_dict`` as
  :class:`torch.nn.LayerNorm` and :class:`torch.nn.BatchNorm1d`, so a reader
  can swap one for the other. :class:`WeightNormLinear` is a linear layer
  with Salimans & Kingma's weight normalization, equal to
  ``torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(...))``.

The difference between the two norms is only *which axis* the statistics are
taken over. For an activation matrix ``x`` of shape ``(B, H)``::

    layer norm:  mu = x.mean(-1)   one mean per example, over the H hidden units
    batch norm:  mu = x.mean(0)    one mean per hidden unit, over the B examples

Weight normalization takes no statistics of the activations at all: it
divides each unit's summed input ``a_i = w_i . x`` by the length of that
unit's weight vector, ``sigma_i = ||w_i||`` (and ``mu = 0``).

Notation: ``B`` batch size, ``H`` hidden units (features), ``T`` time steps,
``I`` input size; a weight matrix ``W`` is ``(H, I)`` and ``w_i`` is its row ``i``.
Both norms use the *biased* variance (divide by ``H`` or ``B``, not ``H - 1``)
and put ``eps`` inside the square root: ``sigma = sqrt(var + eps)``.

Non-finite values: a NaN or inf in ``x`` gives NaN in the rows (layer norm) or
columns (batch norm) whose statistics it enters, and nowhere else. Finite
input never turns into NaN silently: if the NumPy functions' statistics
overflow (e.g. ``|x| > 1e19`` in float32) they raise :class:`OverflowError`.
"""

import math

import numpy as np
import torch
from torch import nn

from ._checks import ArgTypeError, check_eps, check_int, check_real, check_shape, check_tensor, float_array

__all__ = [
    "layer_norm",
    "layer_norm_stats",
    "layer_norm_backward",
    "batch_norm",
    "weight_norm",
    "LayerNorm",
    "BatchNorm1d",
    "WeightNormLinear",
]


# ---------------------------------------------------------------------------
# Input checks shared by everything below
# ---------------------------------------------------------------------------

def _affine_param(p, name, x, axes, where):
    """Check a gain/bias against ``x.shape[axes]``, cast to x's dtype; ``None`` passes through."""
    if p is None:
        return None
    p = float_array(p, name, where).astype(x.dtype, copy=False)
    if p.shape != x.shape[axes]:
        raise ValueError(
            f"{where}: {name} must have shape {x.shape[axes]} to match x.shape = {x.shape}, "
            f"got {name}.shape = {p.shape}"
        )
    return p


def _check_rows(x, where):
    """Layer norm needs at least one axis, and at least one unit on it."""
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{where}: x must have shape (*, H) with H >= 1, got shape {x.shape}")


def _moments(x, axis, eps, where):
    """Mean and ``sqrt(biased var + eps)`` along ``axis``, kept as a size-1 axis.

    The only line that differs between layer norm (``axis=-1``) and batch norm
    (``axis=0``) is the choice of ``axis``. The squares are of ``x - mu`` (two
    passes), so a large common offset does not cancel the variance away.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mu = x.mean(axis, keepdims=True)  # (*, 1) for axis=-1, (1, *) for axis=0
        var = ((x - mu) ** 2).mean(axis, keepdims=True)  # same shape as mu, biased
    overflowed = ~np.isfinite(var) & np.isfinite(x).all(axis, keepdims=True)
    if overflowed.any():
        raise OverflowError(
            f"{where}: the variance overflowed {x.dtype} although the input is finite "
            f"(max |x| = {np.abs(x).max():.3g}); rescale the input or pass float64"
        )
    return mu, np.sqrt(var + eps)  # same shape as mu


# ---------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------

def layer_norm_stats(x, eps=1e-5):
    r"""Per-example mean and standard deviation over the last axis.

    .. math::
        \mu = \frac{1}{H}\sum_{i=1}^{H} x_i, \qquad
        \sigma = \sqrt{\frac{1}{H}\sum_{i=1}^{H} (x_i - \mu)^2 + \epsilon}

    The variance is biased (divides by ``H``) and ``eps`` sits inside the square
    root, exactly as in :func:`layer_norm`. The squares are taken of
    ``x - mu`` (two passes), so a large common offset such as ``x + 1e6`` does
    not cancel away the variance.

    Args:
        x (array_like): activations; statistics are taken over the last axis.
        eps (float): added to the variance before the square root. Default: 1e-5

    Shape:
        - x: :math:`(*, H)`
        - Output: ``(mu, sigma)``, each :math:`(*, 1)` so they broadcast against ``x``.

    Example::

        >>> mu, sigma = layer_norm_stats([[1.0, 2.0, 3.0]], eps=1e-5)
        >>> mu.tolist(), round(float(sigma[0, 0]), 4)
        ([[2.0]], 0.8165)
    """
    where = "layer_norm_stats"
    eps = check_eps(eps, where)
    x = float_array(x, "x", where)
    _check_rows(x, where)
    return _moments(x, -1, eps, where)


def layer_norm(x, gain=None, bias=None, eps=1e-5):
    r"""Layer normalization of the last axis (Ba, Kiros & Hinton 2016, Sec. 3).

    .. math::
        y = g \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + b

    where :math:`\mu` and :math:`\sigma^2` are the mean and the *biased*
    variance of the ``H`` entries of each row (the last axis). Every example,
    and every time step of a sequence, is normalized on its own; nothing is
    shared across the batch. The paper writes :math:`\sigma` without
    :math:`\epsilon`; it is added here, as in torch, so that a constant row
    gives ``0`` instead of ``0/0``. Computation is in the input's float dtype
    (float32 stays float32); integer input is converted to float64.

    Args:
        x (array_like): activations to normalize over the last axis.
        gain (array_like, optional): per-unit gain :math:`g`. Default: ``None`` (all ones).
        bias (array_like, optional): per-unit bias :math:`b`. Default: ``None`` (all zeros).
        eps (float): added to the variance inside the square root; must be > 0. Default: 1e-5

    Shape:
        - x: :math:`(*, H)`, e.g. :math:`(B, H)` or :math:`(B, T, H)`
        - gain, bias: :math:`(H,)`
        - Output: same shape as ``x``.

    With ``H = 1`` the normalized value is always 0, so the output is ``bias``.

    Example::

        >>> y = layer_norm([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
        >>> y.round(4).tolist()
        [[-1.2247, 0.0, 1.2247], [-1.2247, 0.0, 1.2247]]
    """
    where = "layer_norm"
    eps = check_eps(eps, where)
    x = float_array(x, "x", where)
    _check_rows(x, where)
    gain = _affine_param(gain, "gain", x, slice(-1, None), where)
    bias = _affine_param(bias, "bias", x, slice(-1, None), where)
    mu, sigma = _moments(x, -1, eps, where)  # (*, 1), (*, 1): one per example
    x_hat = (x - mu) / sigma  # (*, H)
    y = x_hat if gain is None else gain * x_hat
    return y if bias is None else y + bias


def batch_norm(x, gain=None, bias=None, eps=1e-5):
    r"""Batch normalization in training mode: statistics over the batch axis 0.

    .. math::
        y = g \odot \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + b

    where :math:`\mu_B` and :math:`\sigma_B^2` are the mean and the *biased*
    variance of each feature over the ``B`` examples of the mini-batch. This is
    the function the paper contrasts layer norm with: an example's output
    depends on the other examples in its batch, and a batch of one has no
    variance at all. Running averages (inference mode) are the business of
    :class:`BatchNorm1d`.

    Only axis 0 is reduced: an input of shape ``(B, T, H)`` gets one mean per
    ``(t, h)`` pair. (``torch.nn.functional.batch_norm`` would also pool over
    ``T``; reshape to ``(B * T, H)`` for that.)

    Args:
        x (array_like): activations, at least 2-d, batch first.
        gain (array_like, optional): per-feature gain. Default: ``None`` (all ones).
        bias (array_like, optional): per-feature bias. Default: ``None`` (all zeros).
        eps (float): added to the variance inside the square root; must be > 0. Default: 1e-5

    Shape:
        - x: :math:`(B, H)` or :math:`(B, *)` with :math:`B > 1`
        - gain, bias: ``x.shape[1:]``
        - Output: same shape as ``x``.

    Example::

        >>> y = batch_norm([[1.0, 10.0], [3.0, 30.0]])
        >>> y.round(4).tolist()
        [[-1.0, -1.0], [1.0, 1.0]]
    """
    where = "batch_norm"
    eps = check_eps(eps, where)
    x = float_array(x, "x", where)
    if x.ndim < 2:
        raise ValueError(f"{where}: x must have shape (B, H, ...) with at least 2 dimensions, got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(
            f"{where}: batch statistics need more than 1 example per feature, got batch size "
            f"{x.shape[0]} (x.shape = {x.shape}); use layer_norm, which normalizes each example "
            f"on its own, or running statistics (BatchNorm1d in eval mode)"
        )
    gain = _affine_param(gain, "gain", x, slice(1, None), where)
    bias = _affine_param(bias, "bias", x, slice(1, None), where)
    mu, sigma = _moments(x, 0, eps, where)  # (1, H), (1, H): one per feature
    x_hat = (x - mu) / sigma  # (B, H)
    y = x_hat if gain is None else gain * x_hat
    return y if bias is None else y + bias


def layer_norm_backward(dy, x, gain=None, eps=1e-5):
    r"""Gradients of :func:`layer_norm`, from the closed form (no autograd).

    With :math:`\hat x = (x - \mu)/\sigma`, :math:`\sigma = \sqrt{\mathrm{Var}[x] + \epsilon}`
    and :math:`\hat g = g \odot \partial L/\partial y` (the upstream gradient
    pulled back through the gain), for every row of ``H`` units:

    .. math::
        \frac{\partial L}{\partial x} = \frac{1}{\sigma}\Big(\hat g
            - \operatorname{mean}_H(\hat g)
            - \hat x \odot \operatorname{mean}_H(\hat g \odot \hat x)\Big)

        \frac{\partial L}{\partial g} = \sum_{\text{rows}} \frac{\partial L}{\partial y} \odot \hat x,
        \qquad
        \frac{\partial L}{\partial b} = \sum_{\text{rows}} \frac{\partial L}{\partial y}

    The two subtracted means remove the components of :math:`\hat g` along the
    all-ones direction and along :math:`\hat x`: shifting the input row does
    not change the output, and neither (up to ``eps``) does rescaling it, so the
    gradient has no component in those directions.
    The gain and bias gradients sum over every leading axis (batch and time).

    ``dgain`` and ``dbias`` are returned even when ``gain`` is ``None``: they
    are then the gradients at ``gain = 1``, ``bias = 0`` (the bias gradient
    does not depend on the gain at all).

    Args:
        dy (array_like): upstream gradient :math:`\partial L/\partial y`.
        x (array_like): the input that was passed to :func:`layer_norm`.
        gain (array_like, optional): the gain used in the forward pass. Default: ``None`` (ones).
        eps (float): the eps used in the forward pass. Default: 1e-5

    Shape:
        - dy, x: :math:`(*, H)`, the same shape
        - gain: :math:`(H,)`
        - Output: ``(dx, dgain, dbias)`` with shapes :math:`(*, H)`, :math:`(H,)`, :math:`(H,)`.

    Example::

        >>> dx, dgain, dbias = layer_norm_backward([[1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0]])
        >>> dx.round(4).tolist(), dbias.tolist()  # a uniform push is a shift: no gradient
        ([[0.0, 0.0, 0.0]], [1.0, 1.0, 1.0])
    """
    where = "layer_norm_backward"
    eps = check_eps(eps, where)
    x = float_array(x, "x", where)
    dy = float_array(dy, "dy", where).astype(x.dtype, copy=False)
    _check_rows(x, where)
    if dy.shape != x.shape:
        raise ValueError(f"{where}: dy must have the same shape as x, got dy.shape = {dy.shape}, x.shape = {x.shape}")
    gain = _affine_param(gain, "gain", x, slice(-1, None), where)
    mu, sigma = _moments(x, -1, eps, where)  # (*, 1), (*, 1)
    x_hat = (x - mu) / sigma  # (*, H)
    g = dy if gain is None else gain * dy  # (*, H)
    g_mean = g.mean(-1, keepdims=True)  # (*, 1)
    gx_mean = (g * x_hat).mean(-1, keepdims=True)  # (*, 1)
    dx = (g - g_mean - x_hat * gx_mean) / sigma  # (*, H)
    rows = tuple(range(x.ndim - 1))  # every leading axis: batch, time, ...
    dgain = (dy * x_hat).sum(rows)  # (H,)
    dbias = dy.sum(rows)  # (H,)
    return dx, dgain, dbias


def _row_norms(weight, where, name="weight"):
    """``||w_i||`` for every row of ``weight`` ``(H, I)``, shape ``(H,)``; no zero rows allowed."""
    with np.errstate(over="ignore"):
        norms = np.sqrt((weight ** 2).sum(-1))  # (H,)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{where}: row {zero[0]} of {name} is all zeros, so it has no direction to normalize "
            f"(||w_{zero[0]}|| = 0); zero rows: {zero.tolist()}"
        )
    if not np.isfinite(norms).all() and np.isfinite(weight).all():
        raise OverflowError(
            f"{where}: the squared norm of a row of {name} overflowed {weight.dtype} although the "
            f"weights are finite (max |w| = {np.abs(weight).max():.3g}); rescale the weights"
        )
    return norms


def _unit_param(p, name, weight, where):
    """Check a per-unit gain/bias against ``weight.shape[0] = H``; ``None`` passes through."""
    if p is None:
        return None
    p = float_array(p, name, where).astype(weight.dtype, copy=False)
    if p.shape != weight.shape[:1]:
        raise ValueError(
            f"{where}: {name} must have shape (H,) = {weight.shape[:1]} to match weight.shape = "
            f"{weight.shape}, got {name}.shape = {p.shape}"
        )
    return p


def weight_norm(x, weight, gain=None, bias=None):
    r"""A linear layer with weight normalization (Salimans & Kingma 2016), in the paper's form.

    .. math::
        a_i = \mathbf{w}_i^\top \mathbf{x}, \qquad
        y_i = \frac{g_i}{\lVert \mathbf{w}_i \rVert_2}\, a_i + b_i

    This is the paper's unified normalization, Eq. (5),
    :math:`y_i = \frac{g_i}{\sigma_i}(a_i - \mu_i) + b_i`, with :math:`\mu_i = 0`
    and :math:`\sigma_i = \lVert \mathbf{w}_i \rVert_2`: nothing is computed from
    the data, so, unlike layer and batch norm, there is no ``eps`` and an
    example's output does not depend on the other examples or units. It is
    the same as an ordinary linear layer whose row ``i`` is
    :math:`g_i \mathbf{w}_i / \lVert \mathbf{w}_i \rVert` (the nonlinearity
    :math:`f` is not applied). Computation is in the common float dtype of
    ``x`` and ``weight``; integers become float64.

    Args:
        x (array_like): inputs, one example per row.
        weight (array_like): the direction matrix :math:`W`; row ``i`` holds the
            incoming weights :math:`\mathbf{w}_i` of unit ``i``. Only each row's
            direction matters. No row may be all zeros.
        gain (array_like, optional): per-unit gain :math:`g`. Default: ``None`` (all ones).
        bias (array_like, optional): per-unit bias :math:`b`. Default: ``None`` (all zeros).

    Shape:
        - x: :math:`(*, I)`, e.g. :math:`(B, I)`
        - weight: :math:`(H, I)`
        - gain, bias: :math:`(H,)`
        - Output: :math:`(*, H)`

    Example::

        >>> y = weight_norm([[1.0, 2.0]], [[3.0, 4.0], [0.0, -2.0]])  # ||w_0|| = 5, ||w_1|| = 2
        >>> y.tolist()  # [(3 + 8) / 5, -4 / 2]
        [[2.2, -2.0]]
        >>> weight_norm([[1.0, 2.0]], [[30.0, 40.0], [0.0, -0.5]]).tolist()  # row lengths do not matter
        [[2.2, -2.0]]
    """
    where = "weight_norm"
    x = float_array(x, "x", where)
    weight = float_array(weight, "weight", where)
    dtype = np.result_type(x.dtype, weight.dtype)
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    if weight.ndim != 2 or weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(f"{where}: weight must have shape (H, I) with H, I >= 1, got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{where}: x must have shape (*, I) with I = weight.shape[1] = {weight.shape[1]}, "
            f"got x.shape = {x.shape} (weight.shape = {weight.shape})"
        )
    gain = _unit_param(gain, "gain", weight, where)
    bias = _unit_param(bias, "bias", weight, where)
    norms = _row_norms(weight, where)  # (H,): sigma_i = ||w_i||
    a = x @ weight.T  # (*, H): summed inputs a_i = w_i . x
    y = a / norms  # (*, H)
    y = y if gain is None else gain * y
    return y if bias is None else y + bias


# ---------------------------------------------------------------------------
# Torch modules from primitive ops
# ---------------------------------------------------------------------------

class LayerNorm(nn.Module):
    r"""Layer normalization over the last ``D`` dims, from primitive tensor ops.

    A drop-in for :class:`torch.nn.LayerNorm` (same arguments, parameters,
    ``state_dict`` and ``repr``) whose forward pass is the formula itself, so
    autograd -- not a fused kernel -- produces the gradients:

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    The mean and the *biased* variance are taken over the last
    ``D = len(normalized_shape)`` dimensions of each example, in training and
    in eval mode alike (no running statistics). ``eps`` must be > 0. NaN or
    inf in an example gives NaN in that example's output only.

    Args:
        normalized_shape (int or tuple of int): the trailing shape to normalize
            over, e.g. ``H`` for inputs ``(B, T, H)``.
        eps (float): added to the variance inside the square root. Default: 1e-5
        elementwise_affine (bool): learn a per-element gain ``weight`` (init 1)
            and ``bias`` (init 0). Default: ``True``
        bias (bool): learn the additive bias (only if ``elementwise_affine``). Default: ``True``
        device, dtype: where and in what dtype to create the parameters.
        detach_stats (bool, keyword-only): treat the mean and the standard deviation as constants
            in the backward pass (Xu et al., 2019, "DetachNorm"): the forward pass is unchanged,
            but the gradient is :math:`\gamma \odot \partial L/\partial y \,/\, \sigma`, without
            the two terms through :math:`\mu` and :math:`\sigma` that re-center and re-scale it
            (see :func:`layer_norm_backward`). Not an option of :class:`torch.nn.LayerNorm`;
            ``repr`` shows it only when ``True``. Default: ``False``

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`, e.g. :math:`(B, T, H)`
        - Output: same shape as the input.

    Example::

        >>> LayerNorm(3, elementwise_affine=False, detach_stats=True)
        LayerNorm((3,), eps=1e-05, elementwise_affine=False, bias=False, detach_stats=True)
        >>> ln = LayerNorm(3)
        >>> ln
        LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)
        >>> ln(torch.tensor([[1.0, 2.0, 3.0]])).detach().round(decimals=4)
        tensor([[-1.2247,  0.0000,  1.2247]])
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None, *, detach_stats=False):
        super().__init__()
        self.normalized_shape = check_shape(normalized_shape, "normalized_shape", "LayerNorm")
        check_eps(eps, "LayerNorm")
        if not isinstance(detach_stats, bool):
            raise ArgTypeError(f"LayerNorm: detach_stats must be a bool, got {detach_stats!r}")
        self.detach_stats = detach_stats
        self.eps = eps  # as given, like torch (its repr shows it)
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        self.register_parameter("weight", None)  # absent unless elementwise_affine, as in torch
        self.register_parameter("bias", None)
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(self.normalized_shape, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(self.normalized_shape, **factory))
        self.reset_parameters()

    def reset_parameters(self):
        """Gain to ones and bias to zeros, as in the paper and in torch."""
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        check_tensor(x, "input", "LayerNorm")
        d = len(self.normalized_shape)
        if x.dim() < d or tuple(x.shape[-d:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: input's trailing dims must equal normalized_shape "
                f"{self.normalized_shape}, got input of shape {tuple(x.shape)}"
            )
        dims = tuple(range(-d, 0))  # the last D dims
        mu = x.mean(dims, keepdim=True)  # (*, 1, ..., 1)
        var = ((x - mu) ** 2).mean(dims, keepdim=True)  # (*, 1, ..., 1), biased
        sigma = torch.sqrt(var + self.eps)  # (*, 1, ..., 1)
        if self.detach_stats:  # DetachNorm: the same numbers, no gradient through mu and sigma
            mu, sigma = mu.detach(), sigma.detach()
        y = (x - mu) / sigma  # (*, normalized_shape)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
                + (", detach_stats=True" if self.detach_stats else ""))


class BatchNorm1d(nn.Module):
    r"""Batch normalization of ``(B, C)`` or ``(B, C, L)`` inputs, from primitive tensor ops.

    A drop-in for :class:`torch.nn.BatchNorm1d` (same arguments, parameters,
    buffers, ``state_dict`` and ``repr``):

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    In training mode the mean and *biased* variance of each channel ``c`` are
    taken over the batch (and length) dims, i.e. over the ``B`` (or ``B * L``)
    values of that channel, and the running estimates are updated::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)

    Note the *unbiased* batch variance in ``running_var`` (``n`` values per
    channel) while the biased one normalizes -- this is what torch does.
    With ``momentum=None`` the running stats are a plain cumulative average.
    In eval mode the running estimates normalize instead (unless
    ``track_running_stats=False``, in which case batch statistics are always used).
    Batch statistics of a single value per channel are undefined and raise
    :class:`ValueError`.

    Args:
        num_features (int): ``C``, the number of channels (hidden units).
        eps (float): added to the variance inside the square root; must be > 0. Default: 1e-5
        momentum (float or None): weight of the new batch in the running averages. Default: 0.1
        affine (bool): learn a per-channel ``weight`` (init 1) and ``bias`` (init 0). Default: ``True``
        track_running_stats (bool): keep ``running_mean``, ``running_var``,
            ``num_batches_tracked`` buffers. Default: ``True``
        device, dtype: where and in what dtype to create parameters and buffers.
        bias (bool, keyword-only): learn the bias (only if ``affine``). Default: ``True``

    Shape:
        - Input: :math:`(B, C)` or :math:`(B, C, L)`
        - Output: same shape as the input.

    Example::

        >>> bn = BatchNorm1d(2)
        >>> bn(torch.tensor([[1.0, 10.0], [3.0, 30.0]])).detach().round(decimals=4)
        tensor([[-1., -1.],
                [ 1.,  1.]])
        >>> bn.running_mean
        tensor([0.2000, 2.0000])
    """

    _version = 2  # torch's BatchNorm version, so state_dict metadata matches

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", "BatchNorm1d", lo=1)
        if momentum is not None:
            check_real(momentum, "momentum", "BatchNorm1d", 0, 1, hint="None (a cumulative average) is also accepted")
        check_eps(eps, "BatchNorm1d")
        self.eps = eps  # as given, like torch (its repr shows it)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        factory = {"device": device, "dtype": dtype}
        self.register_parameter("weight", None)  # absent unless affine, as in torch
        self.register_parameter("bias", None)
        if affine:
            self.weight = nn.Parameter(torch.empty(self.num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(self.num_features, **factory))
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(self.num_features, **factory))
            self.register_buffer("running_var", torch.ones(self.num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        """Running mean to 0, running variance to 1, batch counter to 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Reset the running stats, the gain to ones and the bias to zeros."""
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        check_tensor(x, "input", "BatchNorm1d")
        if x.dim() not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d: expected input of shape (B, {self.num_features}) or "
                f"(B, {self.num_features}, L), got {tuple(x.shape)}"
            )
        dims = (0,) if x.dim() == 2 else (0, 2)  # every dim but the channel dim
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # reshape (C,) -> (1, C) or (1, C, 1)
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.numel() // self.num_features  # values per channel: B or B * L
            if n < 2:
                raise ValueError(
                    f"BatchNorm1d: batch statistics need more than 1 value per channel, got "
                    f"input of shape {tuple(x.shape)} (batch size {x.shape[0]}); use LayerNorm, "
                    f"which normalizes each example on its own, or call .eval() to use the "
                    f"running statistics (track_running_stats=True)"
                )
            mean = x.mean(dims)  # (C,)
            var = ((x - mean.reshape(shape)) ** 2).mean(dims)  # (C,), biased
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var  # (C,), (C,)
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)  # (B, C[, L])
        if self.weight is not None:
            y = y * self.weight.reshape(shape)  # (1, C[, 1])
        if self.bias is not None:
            y = y + self.bias.reshape(shape)  # (1, C[, 1])
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        unbiased_var = var * (n / (n - 1))  # (C,), Bessel's correction, as torch does
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * unbiased_var)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class WeightNormLinear(nn.Module):
    r"""A linear layer with weight normalization (Salimans & Kingma 2016), from primitive tensor ops.

    The weight matrix is split into a direction ``weight_v`` and a length
    ``weight_g`` per output unit, and the layer applies

    .. math::
        W = g \odot \frac{V}{\lVert V \rVert_{\text{row}}}, \quad\text{i.e.}\quad
        \mathbf{w}_i = \frac{g_i}{\lVert \mathbf{v}_i \rVert_2}\,\mathbf{v}_i,
        \qquad y = x W^\top + b

    so row ``i`` of the effective :attr:`weight` always has length ``|g_i|``,
    whatever the scale of ``v_i``. This is :func:`weight_norm` as a module.

    **Names.** The parameters are called as in torch's (now deprecated)
    ``torch.nn.utils.weight_norm``, whose ``state_dict`` this module loads
    unchanged: ``weight_g`` (shape ``(H, 1)``, a column so that it broadcasts
    against ``weight_v``), ``weight_v`` ``(H, I)`` and ``bias`` ``(H,)``. In the
    current ``torch.nn.utils.parametrizations.weight_norm(nn.Linear(I, H))``
    the same tensors are ``parametrizations.weight.original0`` (= ``weight_g``)
    and ``parametrizations.weight.original1`` (= ``weight_v``).

    **Initialization.** ``weight_v`` and ``bias`` are drawn exactly as
    :class:`torch.nn.Linear` draws ``weight`` and ``bias``, and
    ``weight_g = ||weight_v||`` row by row, as torch's ``weight_norm`` sets it;
    so the initial :attr:`weight` is the weight a ``Linear`` would have drawn
    from the same random state. (Salimans & Kingma's data-dependent
    initialization is not done.)

    A row of ``weight_v`` that is all zeros has no direction; the forward
    pass raises :class:`ValueError` rather than return NaN.

    Args:
        in_features (int): ``I``, size of each input example.
        out_features (int): ``H``, number of output units.
        bias (bool): learn an additive bias. Default: ``True``
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        - Input: :math:`(*, I)`
        - Output: :math:`(*, H)`

    Example::

        >>> m = WeightNormLinear(3, 2)
        >>> m
        WeightNormLinear(in_features=3, out_features=2, bias=True)
        >>> [tuple(p.shape) for p in (m.weight_g, m.weight_v, m.bias)]
        [(2, 1), (2, 3), (2,)]
        >>> with torch.no_grad():
        ...     _ = m.weight_v.copy_(torch.tensor([[3.0, 0.0, 4.0], [0.0, -1.0, 0.0]]))
        ...     _ = m.weight_g.fill_(2.0)
        >>> m.weight.detach()  # rows of length |g_i| = 2, in the directions of v_i
        tensor([[ 1.2000,  0.0000,  1.6000],
                [ 0.0000, -2.0000,  0.0000]])
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "WeightNormLinear", lo=1)
        self.out_features = check_int(out_features, "out_features", "WeightNormLinear", lo=1)
        factory = {"device": device, "dtype": dtype}
        self.weight_g = nn.Parameter(torch.empty(self.out_features, 1, **factory))  # (H, 1)
        self.weight_v = nn.Parameter(torch.empty(self.out_features, self.in_features, **factory))  # (H, I)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, **factory))  # (H,)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """``weight_v`` and ``bias`` as :class:`torch.nn.Linear` draws them; ``weight_g = ||weight_v||``."""
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))  # nn.Linear's weight init
        with torch.no_grad():
            self.weight_g.copy_(self.weight_v.pow(2).sum(1, keepdim=True).sqrt())  # (H, 1)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)  # nn.Linear's bias init
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight(self):
        """The effective weight ``g * v / ||v||``, shape ``(H, I)``, differentiable in ``g`` and ``v``."""
        norm = self.weight_v.pow(2).sum(1, keepdim=True).sqrt()  # (H, 1): ||v_i||
        if (norm == 0).any():
            zero = torch.nonzero(norm[:, 0] == 0).flatten().tolist()
            raise ValueError(
                f"WeightNormLinear: row {zero[0]} of weight_v is all zeros, so it has no "
                f"direction to normalize; zero rows: {zero}"
            )
        return self.weight_g * (self.weight_v / norm)  # (H, I)

    def forward(self, x):
        check_tensor(x, "input", "WeightNormLinear")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"WeightNormLinear: input must have shape (*, {self.in_features}), got {tuple(x.shape)}"
            )
        y = x @ self.weight.T  # (*, H)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ---------------------------------------------------------------------------
# RMSNorm (Zhang & Sennrich, 2019): layer norm without re-centering
# ---------------------------------------------------------------------------
# A separate block, added for the Transformer chapter; it uses the checks above
# as they are and changes nothing before it.

__all__ += ["rms_norm", "RMSNorm"]


def rms_norm(x, gain=None, eps=1e-5):
    r"""RMSNorm of each row of ``x`` (NumPy reference): :math:`g \odot a / \sqrt{\overline{a^2} + \epsilon}`.

    Layer norm without the mean: the statistic is the root mean square of the
    ``H`` units of one case, :math:`\mathrm{RMS}(\mathbf a) = \sqrt{\frac1H\sum_i a_i^2}`,
    and nothing is subtracted. So it keeps layer norm's invariance to
    re-scaling a case (or the whole weight matrix), and loses its invariance
    to re-centering the weight matrix.

    Args:
        x (array_like): summed inputs, one case per row.
        gain (array_like, optional): per-unit gain :math:`(H,)`. Default: ones.
        eps (float): added to the mean square inside the square root, > 0. Default: 1e-5

    Shape:
        - x, Output: :math:`(*, H)`

    Example::

        >>> rms_norm(np.array([[3.0, 4.0]]), eps=1e-12).round(4).tolist()  # RMS = sqrt(12.5)
        [[0.8485, 1.1314]]
    """
    where = "rms_norm"
    eps = check_eps(eps, where)
    x = float_array(x, "x", where)
    _check_rows(x, where)
    gain = _affine_param(gain, "gain", x, slice(-1, None), where)
    with np.errstate(over="ignore", invalid="ignore"):
        ms = (x ** 2).mean(-1, keepdims=True)  # (*, 1) mean square of each row
    if (~np.isfinite(ms) & np.isfinite(x).all(-1, keepdims=True)).any():
        raise OverflowError(f"{where}: the mean square overflowed {x.dtype} although the input is finite; "
                            f"rescale the input or pass float64")
    y = x / np.sqrt(ms + eps)  # (*, H)
    return y if gain is None else y * gain


class RMSNorm(nn.Module):
    r"""RMSNorm over the last ``D`` dims, from primitive tensor ops.

    A drop-in for :class:`torch.nn.RMSNorm` (same arguments and defaults,
    parameter, ``state_dict`` and ``repr``):

    .. math::
        y = \frac{x}{\sqrt{\mathrm{E}[x^2] + \epsilon}} \odot \gamma

    the mean square taken over the last ``D = len(normalized_shape)`` dims.
    There is no mean to subtract and no bias.

    Args:
        normalized_shape (int or tuple of int): the trailing shape to normalize
            over, e.g. ``C`` for inputs ``(B, T, C)``.
        eps (float, optional): added to the mean square. ``None`` (the default,
            as in torch) means the machine epsilon of the input's dtype,
            ``torch.finfo(x.dtype).eps`` (1.19e-7 for float32).
        elementwise_affine (bool): learn a per-element gain ``weight`` (init 1).
            Default: ``True``
        device, dtype: where and in what dtype to create the parameter.

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`, e.g. :math:`(B, T, C)`
        - Output: same shape as the input.

    Example::

        >>> rms = RMSNorm(2)
        >>> rms
        RMSNorm((2,), eps=None, elementwise_affine=True)
        >>> rms(torch.tensor([[3.0, 4.0]])).detach().round(decimals=4)
        tensor([[0.8485, 1.1314]])
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = shape = check_shape(normalized_shape, "normalized_shape", "RMSNorm")
        self.eps = None if eps is None else check_eps(eps, "RMSNorm")
        self.elementwise_affine = elementwise_affine
        self.register_parameter("weight", None)
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        """Gain to ones, as in torch."""
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, x):
        check_tensor(x, "input", "RMSNorm")
        d = len(self.normalized_shape)
        if x.dim() < d or tuple(x.shape[-d:]) != self.normalized_shape:
            raise ValueError(
                f"RMSNorm: input's trailing dims must equal normalized_shape "
                f"{self.normalized_shape}, got input of shape {tuple(x.shape)}"
            )
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-d, 0))  # the last D dims
        ms = (x * x).mean(dims, keepdim=True)  # (*, 1, ..., 1) mean square
        y = x * torch.rsqrt(ms + eps)  # (*, normalized_shape)
        if self.weight is not None:
            y = y * self.weight
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# ---------------------------------------------------------------------------
# DyT, and one constructor for every norm by name
# ---------------------------------------------------------------------------

__all__ += ["DyT", "NAMES", "make"]


class DyT(nn.Module):
    r"""Dynamic tanh (Zhu et al., 2025): :math:`y = \gamma \odot \tanh(\alpha x) + \beta`.

    An element-wise stand-in for a normalization layer: no statistics at all.
    One learnable scalar ``alpha`` squashes every feature through tanh, and a
    per-feature gain ``weight`` (:math:`\gamma`, init 1) and ``bias``
    (:math:`\beta`, init 0) follow, as in layer norm.

    Args:
        normalized_shape (int): features ``C`` (the last dim).
        alpha (float): the initial ``alpha``, > 0. Default: 0.5 (the paper's default)

    Shape:
        - Input: :math:`(*, C)`; Output: same shape.
    """

    def __init__(self, normalized_shape, alpha=0.5):
        super().__init__()
        self.normalized_shape = (check_int(normalized_shape, "normalized_shape", "DyT", 1),)
        alpha = check_real(alpha, "alpha", "DyT", 0.0, lo_open=True)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x) + self.bias  # (*, C)

    def extra_repr(self):
        return f"{self.normalized_shape}, alpha_init={self.alpha.item():g}"


#: Every norm :func:`make` builds, by name: the book's one vocabulary for "which norm".
#: ``None`` is accepted for ``"none"`` (the Transformer's ``GPTConfig(norm=None)``).
NAMES = ("none", "layer", "rms", "batch", "group", "instance", "dyt")
#: What each layout can build.
_LAYOUTS = {"features": ("none", "layer", "rms", "batch", "dyt"),
            "channels": ("none", "layer", "batch", "group", "instance")}


def make(name, size, *, layout="features", eps=1e-5, groups=4, dyt_alpha=0.5):
    r"""The normalization module called ``name``, for ``size`` features or channels.

    The one place a model of the book turns a norm's name into a module (the Transformer's blocks,
    chapter 6's ConvNet, ...), so that every model, experiment and widget spells it the same way.

    ``layout="features"``: inputs :math:`(*, C)`, normalized over the last dim: ``"layer"`` is
    :class:`LayerNorm`, ``"rms"`` :class:`RMSNorm`, ``"dyt"`` :class:`DyT` (no statistics), ``"batch"``
    :class:`BatchNorm1d` over the batch axis of :math:`(N, C)`.

    ``layout="channels"``: inputs :math:`(N, C, *)` (feature maps): ``"layer"`` normalizes each example
    over all of :math:`(C, *)` (``GroupNorm(1, C)``), ``"group"`` over ``groups`` groups of channels,
    ``"instance"`` each channel of each example alone (``GroupNorm(C, C)``), ``"batch"`` each channel
    over the batch and positions (``nn.BatchNorm2d``). Every one has a gain and bias per channel.

    Args:
        name (str or None): one of :data:`NAMES` (``None`` means ``"none"``: ``nn.Identity``).
        size (int): ``C``, the features (last dim) or the channels (dim 1).
        layout (str): ``"features"`` (default) or ``"channels"``.
        eps (float): added to the variance. Default: ``1e-5``
        groups (int): groups of channels for ``"group"``; must divide ``size``. Default: 4
        dyt_alpha (float): DyT's initial :math:`\alpha`. Default: 0.5

    Example::

        >>> make("layer", 8)
        LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)
        >>> make("group", 8, layout="channels", groups=2)
        GroupNorm(2, 8, eps=1e-05, affine=True, bias=True)
    """
    where = "norms.make"
    if layout not in _LAYOUTS:
        raise ValueError(f"{where}: layout must be one of {tuple(_LAYOUTS)}, got {layout!r}")
    name = "none" if name is None else name
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"{where}: name must be one of {NAMES} (or None), got {name!r}")
    if name not in _LAYOUTS[layout]:
        raise ValueError(f"{where}: {name!r} is not built for layout={layout!r}; that layout has "
                         f"{_LAYOUTS[layout]}")
    size = check_int(size, "size", where, 1)
    eps = check_eps(eps, where)
    if name == "none":
        return nn.Identity()
    if name == "dyt":
        return DyT(size, alpha=dyt_alpha)
    if layout == "features":
        return {"layer": LayerNorm, "rms": RMSNorm, "batch": BatchNorm1d}[name](size, eps=eps)
    if name == "batch":
        return nn.BatchNorm2d(size, eps=eps)
    if name == "group":
        groups = check_int(groups, "groups", where, 1)
        if size % groups:
            raise ValueError(f"{where}: groups ({groups}) must divide the channels ({size})")
    n_groups = {"layer": 1, "group": groups, "instance": size}[name]
    return nn.GroupNorm(n_groups, size, eps=eps)
