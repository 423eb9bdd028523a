r"""How peaked attention is: the entropy of a softmax row against the scale of its logits.

Attention turns scores :math:`s_1, \dots, s_T` into weights
:math:`p = \mathrm{softmax}(c\, s)`; their entropy

.. math::
    H(c) = -\sum_{t} p_t \log p_t \quad\text{(nats)}, \qquad 0 \le H \le \log T,

is :math:`\log T` at :math:`c = 0` (uniform weights) and falls to 0 as
:math:`c \to \infty` when one score is the largest (all weight on it). Logits
that grow during training (queries and keys whose norms grow; what QK-norm
bounds) push attention to that one-hot end, "entropy collapse". The chapter's
explorable plots :math:`H(c)`; :func:`attention_entropy` is its reference.

Nothing here runs at import.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import ArgTypeError, check_real, float_array

__all__ = ["attention_entropy"]


def attention_entropy(scores, scale=1.0):
    r"""Entropy (nats) of ``softmax(scale * scores)`` over the last dim.

    .. math::
        H = -\sum_t p_t \log p_t, \qquad p = \mathrm{softmax}(c\, s)

    with :math:`\log p` from :func:`torch.log_softmax` (which shifts by the row
    maximum), so large scales do not overflow. Entries equal
    to ``-inf`` are masked positions: weight 0, contributing 0 (a causal row of
    ``k`` allowed positions has at most :math:`\log k`).

    Args:
        scores (Tensor or array_like): attention logits before scaling; every row
            needs at least one finite entry; ``+inf`` and NaN are refused.
        scale (float): :math:`c \ge 0`, the multiplier of the logits (e.g.
            :math:`1/\sqrt{d}`, or a temperature's inverse). Default: 1.0

    Raises:
        TypeError: scores of an integer or bool dtype, or not numeric; a scale that is not a real number
            (both :class:`helpers._checks.ArgTypeError`, also a ``ValueError``).
        ValueError: a negative or non-finite scale, an empty last dim, NaN or ``+inf`` in scores, a
            row with every position masked, or ``scale * scores`` beyond the dtype's range.

    Shape:
        - scores: :math:`(*, T)`
        - Output: :math:`(*)`; a tensor for a tensor input (same dtype), else a
          NumPy float64 array (a float for one row).

    Example::

        >>> round(float(attention_entropy([0.3, 0.3, 0.3, 0.3])), 6) == round(math.log(4), 6)
        True
        >>> float(attention_entropy([5.0, 0.0, 0.0], scale=100.0)) < 1e-100
        True
    """
    where = "attention_entropy"
    c = check_real(scale, "scale", where, 0.0)
    as_tensor = isinstance(scores, torch.Tensor)
    if as_tensor:
        if not scores.is_floating_point():
            raise ArgTypeError(f"{where}: scores must be a floating-point tensor, got dtype {scores.dtype}")
        s = scores
    else:
        s = torch.from_numpy(float_array(scores, "scores", where, dtype=np.float64))
    if s.dim() < 1 or s.shape[-1] < 1:
        raise ValueError(f"{where}: scores must have a last dim T >= 1, got shape {tuple(s.shape)}")
    if torch.isnan(s).any() or (s == math.inf).any():
        raise ValueError(f"{where}: scores must not contain NaN or +inf (-inf marks a masked position)")
    finite = torch.isfinite(s)  # (*, T)
    if not finite.any(-1).all():
        raise ValueError(f"{where}: every row of scores needs at least one finite entry (not all masked)")
    z = torch.where(finite, c * s, torch.full_like(s, -math.inf))  # (*, T) scaled logits, masked as -inf
    if not torch.isfinite(z[finite]).all():
        raise ValueError(f"{where}: scale * scores overflows {s.dtype} (scale = {c:g}); use a smaller scale")
    logp = torch.log_softmax(z, dim=-1)  # (*, T), -inf where masked
    p = logp.exp()  # (*, T)
    h = -(torch.where(finite, p * logp, torch.zeros_like(p))).sum(-1)  # (*,) sum over T
    h = h.clamp_min(0.0)  # rounding can give -1e-17 for a one-hot row
    if as_tensor:
        return h
    out = h.numpy()
    return float(out) if out.ndim == 0 else out
