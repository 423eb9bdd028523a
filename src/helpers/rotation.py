r"""RMSNorm's invariance to rotating the residual stream, on the book's GPT.

RMSNorm without a gain commutes with an orthogonal matrix :math:`Q`
(:math:`Q^\top Q = I`): a rotation keeps every vector's length, so

.. math::
    \mathrm{RMSNorm}(x Q) = \frac{x Q}{\sqrt{\lVert x Q\rVert^2 / C + \epsilon}}
    = \mathrm{RMSNorm}(x)\, Q .

So in a pre-norm Transformer whose gains are folded into the next layer
(:func:`helpers.folding.fold_gpt`) one may rotate the whole residual stream,
:math:`x \to x Q`, and change only the weights that read or write it: every layer
that reads the stream gets :math:`W \to W Q`, every layer that writes it
:math:`W \to Q^\top W, b \to Q^\top b`, the embeddings :math:`E \to E Q`. The
rotated model computes the same logits. Compression and quantization methods
are built on this freedom. SliceGPT (Ashkboos et al., 2024, "SliceGPT: Compress
Large Language Models by Deleting Rows and Columns", arXiv:2401.15024), abstract:
"We offer a new insight, computational invariance in transformer networks, which
enables SliceGPT". QuaRot (Ashkboos et al., 2024, "QuaRot: Outlier-Free 4-Bit
Inference in Rotated LLMs", arXiv:2404.00456), abstract: "QuaRot rotates LLMs in
a way that removes outliers from the hidden state without changing the output,
making quantization easier. This computational invariance is applied to the
hidden state (residual) of the LLM". (Both quoted from their abstracts; how each
paper handles layer norm in its body we have not checked against the full text.)

Layer norm does not commute with a general rotation: it subtracts the mean of
the features, the projection on the all-ones direction, and :math:`Q` moves
that direction. The same surgery on a layer-norm model changes its function
(the tests measure how much).

* :func:`random_orthogonal`: a random orthogonal matrix (Haar-distributed).
* :func:`rotate_residual_stream`: the rotated copy of a GPT.

Nothing here runs at import.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import norms
from ._checks import ArgTypeError, check_instance, check_int, check_tensor
from .transformer import GPT

__all__ = ["random_orthogonal", "rotate_residual_stream"]


def random_orthogonal(n, seed=0, dtype=torch.float64):
    r"""A random :math:`n \times n` orthogonal matrix, uniform (Haar) over the orthogonal group.

    The Q factor of a Gaussian matrix, with the signs of R's diagonal moved into Q
    (Mezzadri, 2007), so that the distribution is uniform.

    Args:
        n (int): the size, >= 1.
        seed (int): seeds the Gaussian draw. Default: 0
        dtype (torch.dtype): Default: ``torch.float64``

    Shape:
        - Output: :math:`(n, n)` with :math:`Q^\top Q = I`.

    Example::

        >>> Q = random_orthogonal(4)
        >>> bool(torch.allclose(Q.T @ Q, torch.eye(4, dtype=torch.float64)))
        True
    """
    n = check_int(n, "n", "random_orthogonal", 1)
    seed = check_int(seed, "seed", "random_orthogonal", 0)
    A = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)  # (n, n)
    Q, R = torch.linalg.qr(A)
    signs = torch.sign(torch.diagonal(R))  # (n,)
    signs[signs == 0] = 1.0
    return (Q * signs).to(dtype)  # column j times sign(R_jj)


def _check_no_gain(norm, where, name):
    """Refuse a norm with a gain or bias that is not the identity: it would not commute with Q."""
    if isinstance(norm, nn.Identity):
        return
    if not isinstance(norm, (norms.LayerNorm, norms.RMSNorm, nn.LayerNorm, nn.RMSNorm)):
        raise ArgTypeError(f"{where}: {name} is a {type(norm).__name__}; only RMSNorm (and, to show that it "
                         f"fails, LayerNorm) can be carried through a rotation")
    w, b = norm.weight, getattr(norm, "bias", None)
    if (w is not None and not torch.all(w == 1)) or (b is not None and not torch.all(b == 0)):
        raise ValueError(f"{where}: {name} has a gain or bias other than 1 and 0, which does not commute with "
                         f"a rotation; fold them first with helpers.folding.fold_gpt")


@torch.no_grad()
def rotate_residual_stream(model, Q):
    r"""A copy of a pre-norm GPT whose residual stream is rotated by ``Q``: ``x -> x Q``.

    Changed weights (:math:`W` of a :class:`~torch.nn.Linear` is ``(out, in)``):

    * token and position embeddings: :math:`E \to E Q`;
    * layers reading the stream (``attn.c_attn``, ``mlp.c_fc``, ``lm_head``): :math:`W \to W Q`;
    * layers writing it (``attn.c_proj``, ``mlp.c_proj``): :math:`W \to Q^\top W`,
      :math:`b \to Q^\top b`.

    Everything between (attention scores, values, the MLP's hidden layer, QK-norm)
    lives in other coordinates and is unchanged. With gain-free RMSNorms the copy's
    logits equal the original's up to rounding; with LayerNorms they do not (it
    re-centers), which is the comparison the chapter makes. If ``lm_head`` is still
    tied to the token embedding, :math:`E Q` is also the rotated read-out, and the
    tie is kept.

    Args:
        model (helpers.transformer.GPT): ``placement="pre"``, ``norm`` ``"rms"``,
            ``"layer"`` or ``None``, every norm without gain and bias (or with gain 1,
            bias 0): fold them first with :func:`helpers.folding.fold_gpt`.
        Q (Tensor): an orthogonal :math:`(C, C)` matrix, e.g. :func:`random_orthogonal`,
            in the model's dtype.

    Returns:
        a new :class:`helpers.transformer.GPT`; ``model`` is not modified.

    Raises:
        TypeError: ``model`` not a GPT, ``Q`` not a floating-point tensor.
        ValueError: another placement or norm, ``Q`` not :math:`(C, C)` or not orthogonal,
            a norm with a gain or bias left to fold.

    Shape:
        - Q: :math:`(C, C)`, ``C = model.config.n_embd``.

    Example::

        >>> from helpers.transformer import GPTConfig
        >>> from helpers.folding import fold_gpt
        >>> cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4, norm="rms")
        >>> model = fold_gpt(GPT(cfg).double())
        >>> rotated = rotate_residual_stream(model, random_orthogonal(4))
        >>> idx = torch.tensor([[0, 3, 1]])
        >>> bool((rotated(idx) - model(idx)).abs().max() < 1e-12)
        True
    """
    where = "rotate_residual_stream"
    check_instance(model, GPT, "model", where, "a helpers.transformer.GPT")
    check_tensor(Q, "Q", where)
    cfg = model.config
    C = cfg.n_embd
    if cfg.placement != "pre":
        raise ValueError(f"{where}: placement must be 'pre' (norms only on branch inputs), got {cfg.placement!r}")
    if cfg.norm not in ("rms", "layer", None):
        raise ValueError(f"{where}: norm must be 'rms', 'layer' or None, got {cfg.norm!r}: an element-wise "
                         f"function such as DyT does not commute with a rotation")
    if tuple(Q.shape) != (C, C):
        raise ValueError(f"{where}: Q must be (C, C) = ({C}, {C}), got {tuple(Q.shape)}")
    eye = torch.eye(C, dtype=Q.dtype, device=Q.device)
    if not torch.allclose(Q.T @ Q, eye, atol=1e-5 if Q.dtype == torch.float32 else 1e-10, rtol=0):
        raise ValueError(f"{where}: Q must be orthogonal (Q^T Q = I); max |Q^T Q - I| = "
                         f"{(Q.T @ Q - eye).abs().max().item():.3g}")
    for l, block in enumerate(model.transformer.h):
        _check_no_gain(block.ln_1, where, f"block {l}'s ln_1")
        _check_no_gain(block.ln_2, where, f"block {l}'s ln_2")
    _check_no_gain(model.transformer.ln_f, where, "ln_f")

    out = copy.deepcopy(model)
    Q = Q.to(dtype=out.transformer.wte.weight.dtype, device=out.transformer.wte.weight.device)
    tied = out.lm_head.weight is out.transformer.wte.weight
    out.transformer.wte.weight.copy_(out.transformer.wte.weight @ Q)  # (V, C): also lm_head when tied
    out.transformer.wpe.weight.copy_(out.transformer.wpe.weight @ Q)  # (block_size, C)
    for block in out.transformer.h:
        for reader in (block.attn.c_attn, block.mlp.c_fc):
            reader.weight.copy_(reader.weight @ Q)  # (out, C): W Q
        for writer in (block.attn.c_proj, block.mlp.c_proj):
            writer.weight.copy_(Q.T @ writer.weight)  # (C, in): Q^T W
            if writer.bias is not None:
                writer.bias.copy_(Q.T @ writer.bias)  # (C,)
    if not tied:
        out.lm_head.weight.copy_(out.lm_head.weight @ Q)  # (V, C)
    return out
