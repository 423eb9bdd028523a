r"""Folding a norm's gain and bias into the linear layer that reads its output.

A layer norm (or RMSNorm) with gain :math:`\gamma` and bias :math:`\beta`, read by
a linear layer :math:`y = W z + b`, is the same function as the norm *without*
gain and bias read by a changed linear layer:

.. math::
    W(\gamma \odot \hat x + \beta) + b = \underbrace{W \operatorname{diag}(\gamma)}_{W'} \hat x
    + \underbrace{(b + W \beta)}_{b'}

where :math:`\hat x` is the normalized input. Nothing is approximated: the two
models differ only by rounding. This is the first step of the quantization
recipes that rotate a Transformer's residual stream (QuaRot, SliceGPT; see
:mod:`helpers.rotation`), and the reason a gain that grows large in a few
channels ends up in the next layer's weights.

* :func:`fold_norm_into_linear`: one norm and the linear layer after it, returned
  as a new pair (the inputs are left unchanged).
* :func:`fold_gpt`: every norm -> linear pair of a :class:`helpers.transformer.GPT`
  whose norms sit on branch inputs (``placement="pre"`` or ``"sandwich"``):
  ``ln_1 -> attn.c_attn``, ``ln_2 -> mlp.c_fc`` and ``ln_f -> lm_head``.

Nothing here runs at import.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import norms
from ._checks import ArgTypeError, check_instance
from .transformer import GPT

__all__ = ["FOLDABLE", "fold_norm_into_linear", "fold_gpt"]

#: The norm classes whose affine part can be folded: ours and torch's layer norm and RMSNorm.
FOLDABLE = (norms.LayerNorm, norms.RMSNorm, nn.LayerNorm, nn.RMSNorm)


def _bare_norm(norm):
    """A new norm of ``norm``'s class, shape and eps, with no gain and no bias."""
    return type(norm)(norm.normalized_shape, eps=norm.eps, elementwise_affine=False,
                      device=_param_device(norm), dtype=_param_dtype(norm))


def _param_device(module):
    p = next(module.parameters(), None)
    return None if p is None else p.device


def _param_dtype(module):
    p = next(module.parameters(), None)
    return None if p is None else p.dtype


@torch.no_grad()
def fold_norm_into_linear(norm, linear):
    r"""Fold ``norm``'s gain (and bias) into ``linear``; return the new ``(norm', linear')``.

    .. math::
        W' = W \operatorname{diag}(\gamma), \qquad b' = b + W \beta

    ``norm'`` is the same kind of norm with ``elementwise_affine=False``;
    ``linear'`` is a new :class:`torch.nn.Linear` that has a bias whenever ``b`` or
    ``beta`` exist (``b`` counts as 0 when ``linear`` has none). Then
    ``linear'(norm'(x)) == linear(norm(x))`` up to rounding. A norm without a gain
    returns copies unchanged.

    Args:
        norm: a :class:`helpers.norms.LayerNorm`, :class:`helpers.norms.RMSNorm` or
            torch's :class:`~torch.nn.LayerNorm` / :class:`~torch.nn.RMSNorm`,
            normalizing over one dim of ``C`` features.
        linear (torch.nn.Linear): reads the norm's output, ``in_features == C``.

    Returns:
        ``(norm', linear')``, new modules; the arguments are not modified.

    Raises:
        TypeError: ``norm`` of another kind (batch norm, DyT, ...) or ``linear`` not a
            :class:`torch.nn.Linear`.
        ValueError: a norm over more than one dim, or ``linear.in_features != C``.

    Shape:
        - the pair maps :math:`(*, C)` to :math:`(*, \text{out\_features})`, before and after.

    Example::

        >>> ln, lin = norms.LayerNorm(3), nn.Linear(3, 2)
        >>> ln2, lin2 = fold_norm_into_linear(ln, lin)
        >>> ln2.weight is None, lin2.weight.shape
        (True, torch.Size([2, 3]))
    """
    where = "fold_norm_into_linear"
    if not isinstance(norm, FOLDABLE):
        raise ArgTypeError(f"{where}: norm must be a LayerNorm or RMSNorm (ours or torch's), got "
                           f"{type(norm).__name__}; only a per-feature gain and bias can be folded into a linear layer")
    check_instance(linear, nn.Linear, "linear", where, "a torch.nn.Linear")
    if len(norm.normalized_shape) != 1:
        raise ValueError(f"{where}: norm must normalize over one dim (features), got normalized_shape "
                         f"{tuple(norm.normalized_shape)}")
    C = norm.normalized_shape[0]
    if linear.in_features != C:
        raise ValueError(f"{where}: linear.in_features ({linear.in_features}) must equal the norm's features "
                         f"({C}): this linear layer does not read this norm's output")
    gain = norm.weight
    beta = getattr(norm, "bias", None)
    W = linear.weight  # (out, C)
    if gain is None and beta is None:
        return copy.deepcopy(norm), copy.deepcopy(linear)
    g = torch.ones(C, dtype=W.dtype, device=W.device) if gain is None else gain
    b = torch.zeros(linear.out_features, dtype=W.dtype, device=W.device) if linear.bias is None else linear.bias
    new_linear = nn.Linear(C, linear.out_features, bias=linear.bias is not None or beta is not None,
                           device=W.device, dtype=W.dtype)
    new_linear.weight.copy_(W * g)  # (out, C): column j times gamma_j, W diag(gamma)
    if new_linear.bias is not None:
        new_linear.bias.copy_(b if beta is None else b + W @ beta)  # (out,)
    return _bare_norm(norm), new_linear


@torch.no_grad()
def fold_gpt(model):
    """A copy of a GPT with every norm's gain and bias folded into the linear layer after it.

    For ``placement="pre"`` or ``"sandwich"`` with ``norm="layer"`` or ``"rms"``:
    in each block ``ln_1`` is folded into ``attn.c_attn`` and ``ln_2`` into
    ``mlp.c_fc``, and ``ln_f`` into ``lm_head``. The read-out is then no longer
    tied to the token embedding (``lm_head`` gets its own weight, ``W_E diag(gamma_f)``).
    The output norms of ``"sandwich"`` (``ln_1_out``, ``ln_2_out``) write into the
    residual stream, not into a linear layer, and are left as they are; so are
    QK-norms. The logits of the copy equal the original's up to rounding.

    Args:
        model (helpers.transformer.GPT): the model; it is not modified.

    Returns:
        a new :class:`helpers.transformer.GPT` whose folded norms have no gain or bias.

    Example::

        >>> from helpers.transformer import GPTConfig
        >>> cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4, placement="sandwich")
        >>> model = GPT(cfg).double()
        >>> folded = fold_gpt(model)
        >>> folded.transformer.h[0].ln_1.weight is None, folded.lm_head.weight is folded.transformer.wte.weight
        (True, False)
        >>> idx = torch.tensor([[0, 3, 1]])
        >>> bool((folded(idx) - model(idx)).abs().max() < 1e-12)
        True

    Raises:
        TypeError: ``model`` is not a :class:`helpers.transformer.GPT`.
        ValueError: for a placement whose norms do not feed a linear layer alone
            (``"post"``, ``"deepnorm"``: the norm's output is also the residual
            stream) or a norm with nothing to fold into a linear layer exactly
            (``None``, ``"dyt"``).
    """
    where = "fold_gpt"
    check_instance(model, GPT, "model", where, "a helpers.transformer.GPT")
    cfg = model.config
    if cfg.placement not in ("pre", "sandwich"):
        raise ValueError(f"{where}: placement={cfg.placement!r} cannot be folded: its norms' outputs are the "
                         f"residual stream itself, not only a linear layer's input; use 'pre' or 'sandwich'")
    if cfg.norm not in ("layer", "rms"):
        raise ValueError(f"{where}: norm={cfg.norm!r} has no per-feature affine part to fold exactly; "
                         f"use 'layer' or 'rms'")
    out = copy.deepcopy(model)
    for block in out.transformer.h:
        block.ln_1, block.attn.c_attn = fold_norm_into_linear(block.ln_1, block.attn.c_attn)
        block.ln_2, block.mlp.c_fc = fold_norm_into_linear(block.ln_2, block.mlp.c_fc)
    out.transformer.ln_f, out.lm_head = fold_norm_into_linear(out.transformer.ln_f, out.lm_head)  # unties lm_head
    return out
