r"""A small GPT-style decoder, with layer norm's placement and kind as switches.

The shape follows nanoGPT's (Karpathy), so the two can be read side by side:
:class:`GPTConfig` holds the sizes, :class:`GPT` is token and position
embeddings, ``n_layer`` :class:`Block` s and a linear read-out tied to the
token embedding. Each block is causal multi-head self-attention
(:class:`CausalSelfAttention`, written out: no fused attention kernel) and an
MLP, each inside a residual connection. Module names mirror ``torch.nn`` and
GPT-2's checkpoints (``ln_1``, ``attn.c_attn``, ``mlp.c_fc``, ``ln_f``, ...).

Two switches are the subject of the Transformer chapter:

* ``placement``: ``"post"`` is the original Transformer (Vaswani et al., 2017),
  ``x = LN(x + f(x))`` after each sub-layer; ``"pre"`` is GPT-2's and later
  models', ``x = x + f(LN(x))``, plus a final norm ``ln_f`` before the
  read-out. (A post-LN stack already ends in a norm, so its ``ln_f`` is the
  identity, as in Xiong et al., 2020.) Chapter 10 adds four more (see
  :class:`Block`): ``"sandwich"`` (Peri-LN, ``x = x + LN_out(f(LN_in(x)))``),
  ``"deepnorm"`` (DeepNet's ``x = LN(alpha x + f(x))`` with some branch
  weights scaled down by ``beta`` at initialization), ``"rezero"``
  (ReZero, ``x = x + a f(x)`` with a learnable scalar ``a`` initialized to 0
  and no norm at all) and ``"fixup"`` (Fixup, Zhang et al., 2019: no norm
  either; each branch's last layer starts at zero, its other weights scaled
  down with depth, :func:`fixup_scales`, plus a scalar multiplier and scalar
  biases per branch).
* ``norm``: ``"layer"`` (:class:`helpers.norms.LayerNorm`), ``"rms"``
  (:class:`helpers.norms.RMSNorm`), ``"dyt"`` (:class:`DyT`,
  ``gamma * tanh(alpha * x) + beta``, Zhu et al., 2025) or ``None`` (no
  normalization at all).

Layer norm here normalizes each token's ``C`` features: for activations
``(B, T, C)`` the statistics are over the last axis, one mean and one
standard deviation per (example, position). That is the paper's ``(B, H)``
picture with the ``B * T`` tokens as the cases and ``C`` as the units.

:func:`train_lm` is a small seeded training loop (AdamW, linear warm-up, then a
constant learning rate) for character-level language modelling on a 1-d
tensor of token ids; :func:`grad_norms_at_init` measures each block's
gradient norm at initialization; :func:`generate` samples text.
Nothing here runs at import.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import norms
from .norms import DyT  # defined with the other norms; the chapter on Transformers introduces it
from ._checks import check_choice, check_device, check_int, check_real
from .repro import seed_everything

__all__ = [
    "NORMS", "PLACEMENTS", "NORMLESS", "GPTConfig", "DyT", "CausalSelfAttention", "MLP", "deepnorm_constants",
    "fixup_scales", "Block", "GPT",
    "get_batch", "lr_at", "train_lm", "evaluate", "grad_norms_at_init", "generate",
]

#: The values of ``GPTConfig.norm``.
NORMS = ("layer", "rms", "dyt", None)
#: The values of ``GPTConfig.placement``.
PLACEMENTS = ("pre", "post", "sandwich", "deepnorm", "rezero", "fixup")
#: The placements without a norm (they need ``norm=None``) -> what does the norm's work instead.
NORMLESS = {"rezero": "ReZero replaces the norm by a zero-initialized scalar",
            "fixup": "Fixup replaces the norm by its initialization"}


@dataclass
class GPTConfig:
    """The sizes and switches of a :class:`GPT`.

    Args:
        vocab_size (int): number of distinct tokens.
        block_size (int): the longest sequence (context) the model accepts.
        n_layer (int): number of blocks.
        n_head (int): attention heads; must divide ``n_embd``.
        n_embd (int): features per token, ``C``.
        norm (str or None): ``"layer"``, ``"rms"``, ``"dyt"`` or ``None``. Default: ``"layer"``
        placement (str): ``"pre"``, ``"post"``, ``"sandwich"``, ``"deepnorm"``,
            ``"rezero"`` or ``"fixup"`` (see :class:`Block`). ``"sandwich"`` and
            ``"deepnorm"`` need a norm; ``"rezero"`` and ``"fixup"`` need
            ``norm=None``. Default: ``"pre"``
        bias (bool): biases in the linear layers. Default: ``True``
        qk_norm (bool): normalize queries and keys per head (with ``norm``'s
            kind, over the head size) before their dot product. Default: ``False``
        dyt_alpha (float): DyT's initial ``alpha``. Default: 0.5
        eps (float): layer norm's and RMSNorm's epsilon. Default: 1e-5
        init (str): ``"gpt2"`` (GPT-2's and nanoGPT's small weights, residual
            projections scaled down with depth) or ``"xavier"`` (the original
            Transformer's: Xavier-uniform linear layers and token embeddings
            multiplied by sqrt(C), so every token starts at unit scale; the
            setting of Xiong et al.'s analysis). Default: ``"gpt2"``
    """

    vocab_size: int = 96
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    norm: str | None = "layer"
    placement: str = "pre"
    bias: bool = True
    qk_norm: bool = False
    dyt_alpha: float = 0.5
    eps: float = 1e-5
    init: str = "gpt2"

    def __post_init__(self):
        where = "GPTConfig"
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(getattr(self, name), name, where, 1)
        if self.n_embd % self.n_head:
            raise ValueError(f"{where}: n_embd (C = {self.n_embd}) must be divisible by n_head "
                             f"({self.n_head}), so that every head gets C // n_head features")
        check_choice(self.norm, "norm", NORMS, where)
        check_choice(self.placement, "placement", PLACEMENTS, where)
        check_choice(self.init, "init", ("gpt2", "xavier"), where)
        if self.qk_norm and self.norm is None:
            raise ValueError(f"{where}: qk_norm needs a norm ('layer', 'rms' or 'dyt'), got norm=None")
        if self.placement in ("sandwich", "deepnorm") and self.norm is None:
            raise ValueError(f"{where}: placement={self.placement!r} needs a norm ('layer', 'rms' or 'dyt'), "
                             f"got norm=None")
        if self.placement in NORMLESS and self.norm is not None:
            raise ValueError(f"{where}: placement={self.placement!r} has no norm in its blocks "
                             f"({NORMLESS[self.placement]}); pass norm=None, got norm={self.norm!r}")


class CausalSelfAttention(nn.Module):
    r"""Multi-head self-attention in which position ``t`` sees only positions ``<= t``.

    ``q, k, v = x W_attn^T`` split into ``n_head`` heads of ``hs = C // n_head``
    features; each head computes ``softmax(q k^T / sqrt(hs) + mask) v`` with
    ``-inf`` above the diagonal; the heads are concatenated and projected by
    ``c_proj``. With ``config.qk_norm``, queries and keys are normalized over
    ``hs`` first (QK-norm).

    Shape:
        - Input: :math:`(B, T, C)`; Output: :math:`(B, T, C)`.
    """

    def __init__(self, config):
        super().__init__()
        C = config.n_embd
        self.n_head = config.n_head
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)  # q, k, v for all heads at once
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        hs = C // config.n_head
        self.q_norm = norms.make(config.norm, hs, eps=config.eps, dyt_alpha=config.dyt_alpha) if config.qk_norm else nn.Identity()
        self.k_norm = norms.make(config.norm, hs, eps=config.eps, dyt_alpha=config.dyt_alpha) if config.qk_norm else nn.Identity()
        mask = torch.ones(config.block_size, config.block_size, dtype=torch.bool).tril()
        self.register_buffer("mask", mask, persistent=False)  # (block_size, block_size) True where allowed

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=-1)  # 3 x (B, T, C)
        q = self.q_norm(q.view(B, T, self.n_head, hs).transpose(1, 2))  # (B, nh, T, hs)
        k = self.k_norm(k.view(B, T, self.n_head, hs).transpose(1, 2))  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, T)
        att = att.masked_fill(~self.mask[:T, :T], float("-inf"))  # no looking ahead
        att = att.softmax(dim=-1)  # (B, nh, T, T), rows sum to 1 over the past
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C) heads side by side
        return self.c_proj(y)


class MLP(nn.Module):
    """Position-wise feed-forward network: ``c_proj(gelu(c_fc(x)))``, width ``4C``.

    Shape:
        - Input: :math:`(B, T, C)`; Output: :math:`(B, T, C)`.
    """

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))  # (B, T, C)


def deepnorm_constants(n_layer):
    r"""DeepNet's :math:`\alpha` and :math:`\beta` for a decoder-only stack of ``n_layer`` blocks.

    .. math::
        \alpha = (2N)^{1/4}, \qquad \beta = (8N)^{-1/4}

    DeepNorm (Wang et al., 2022, "DeepNet: Scaling Transformers to 1,000 Layers",
    arXiv:2203.00555) is post-LN with the residual scaled up by :math:`\alpha`,
    ``x = LN(alpha * x + f(x))``, and the weights of the MLP and of the attention's
    value and output projections scaled down by :math:`\beta` at initialization.
    The abstract says: "we introduce a new normalization function (DeepNorm) to
    modify the residual connection in Transformer, accompanying with theoretically
    derived initialization. In-depth theoretical analysis shows that model updates
    can be bounded in a stable way."

    Where the numbers come from: the constants are those of DeepNet's table of
    :math:`\alpha, \beta` per architecture for a decoder-only (or an encoder-only)
    model of ``N`` blocks; the paper writes ``M`` for a decoder's depth (``N``
    for an encoder's), and an encoder-decoder gets other values. The authors'
    code, microsoft/torchscale, ``torchscale/architecture/decoder.py``, uses the
    same: ``self.alpha = math.pow(2.0 * args.decoder_layers, 0.25)`` and
    ``init_scale = math.pow(8.0 * args.decoder_layers, 0.25)``, by which the
    parameters whose names contain ``"fc1"``, ``"fc2"``, ``"out_proj"`` or
    ``"v_proj"`` are divided (``p.data.div_(init_scale)``), for a decoder without
    an encoder. ``N`` is the number of blocks (each with an attention and an MLP).

    Args:
        n_layer (int): ``N``, the blocks, >= 1.

    Returns:
        ``(alpha, beta)``, two floats.

    Example::

        >>> [round(v, 4) for v in deepnorm_constants(6)]
        [1.8612, 0.3799]
    """
    n = check_int(n_layer, "n_layer", "deepnorm_constants", 1)
    return (2.0 * n) ** 0.25, (8.0 * n) ** -0.25


def fixup_scales(n_layer):
    r"""Fixup's initial scale factors for a decoder-only stack of ``n_layer`` blocks: ``(attn, mlp)``.

    .. math::
        s_\text{attn} = L^{-1/6}, \qquad s_\text{mlp} = L^{-1/2}, \qquad L = 2N

    Fixup (Zhang, Dauphin & Ma, 2019, "Fixup Initialization: Residual Learning
    Without Normalization", ICLR; arXiv:1901.09321) trains residual networks
    without a norm by, in its abstract's words, "properly rescaling a standard
    initialization". Its rule, paraphrased: the last layer of each residual
    branch (and the classification layer) starts at zero; every other weight
    layer inside a branch gets a standard initialization times
    :math:`L^{-1/(2m-2)}`, with :math:`L` the number of residual branches and
    :math:`m` the number of layers in a branch; and each branch gets a scalar
    multiplier (initialized at 1) and scalar biases (initialized at 0).

    Here a block has two branches, so :math:`L = 2N`. The MLP is a chain of
    :math:`m = 2` layers, ``c_fc`` then ``c_proj``: ``c_proj`` starts at zero
    and ``c_fc`` is scaled by :math:`L^{-1/2}`. The attention is not a chain:
    queries, keys and values (``c_attn``) meet in a softmax and a product before
    ``c_proj``. We follow the authors' Transformer code (hongyi-zhang/Fixup,
    ``fairseq/fairseq/modules/multihead_attention_zero.py``), which scales the
    whole input projection, queries, keys and values alike, by
    :math:`L^{-1/6}` (``self.in_proj_weight.data *= math.pow(self.num_blocks,
    -1./6.)``, the rule read with :math:`m = 4`; the code does not say why) and
    zeroes the output projection (``self.out_proj.weight.data *= 0.``); its
    feed-forward layers (``fairseq/fairseq/models/transformer_zero.py``) get
    ``scale=1./math.sqrt(args.encoder_layers * 2 + args.decoder_layers * 3)``
    and ``scale=0.``, and ``num_blocks`` is that same count of residual
    branches, :math:`L`.

    Args:
        n_layer (int): ``N``, the blocks, >= 1.

    Returns:
        ``(attn, mlp)``, two floats: the factors of ``attn.c_attn`` and of ``mlp.c_fc``.

    Example::

        >>> [round(v, 4) for v in fixup_scales(6)]
        [0.6609, 0.2887]
    """
    n = check_int(n_layer, "n_layer", "fixup_scales", 1)
    L = 2 * n  # residual branches: an attention and an MLP per block
    return L ** (-1 / 6), L ** (-1 / 2)


class Block(nn.Module):
    r"""One Transformer block: attention and MLP, each in a residual connection.

    By ``config.placement`` (``f`` is ``attn``, then ``mlp``):

    * ``"pre"``: ``x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))``.
    * ``"post"``: ``x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))``.
    * ``"sandwich"`` (Peri-LN): ``x = x + ln_1_out(attn(ln_1(x)))``, the same
      with ``ln_2``, ``ln_2_out`` and ``mlp``: a norm on each branch's input
      *and* output. Kim et al. (2025, "Peri-LN: Revisiting Normalization Layer
      in the Transformer Architecture", arXiv:2502.02732), abstract: "This
      strategy places normalization layer peripherally around sublayers, a
      design we term Peri-LN." (Whether the paper also normalizes the
      embeddings we have not checked against its full text; here it does not.)
    * ``"deepnorm"``: ``x = ln_1(alpha * x + attn(x)); x = ln_2(alpha * x + mlp(x))``
      with ``alpha`` from :func:`deepnorm_constants`; :class:`GPT` scales the
      branch weights by ``beta`` at initialization.
    * ``"rezero"``: ``x = x + resweight * attn(x); x = x + resweight * mlp(x)``,
      no norm, one learnable scalar ``resweight`` per block initialized to 0, so
      every block starts as the identity. Bachlechner et al. (2020, "ReZero is
      All You Need: Fast Convergence at Large Depth", arXiv:2003.04887),
      abstract: "initializes an arbitrary layer as the identity map, using a
      single additional learned parameter per layer"; as in their code
      (majumderb/rezero, ``rezero/transformer/rztx.py``: ``self.resweight =
      nn.Parameter(torch.zeros((1,)))``, applied to the attention's and the
      feed-forward's output alike) the one scalar gates both branches of a block.
    * ``"fixup"``: ``x = x + attn_scale * attn(x + attn_bias_in)``, then
      ``x = x + mlp_scale * c_proj(gelu(c_fc(x + mlp_bias_in) + mlp_bias_act) + mlp_bias_proj)``:
      no norm, a scalar multiplier per branch (initialized to 1) and scalar
      biases (initialized to 0) where the authors' Transformer code puts
      them: one before the attention (none before its output projection),
      and in the MLP one before each linear layer and one before the
      activation. :class:`GPT` starts
      ``attn.c_proj`` and ``mlp.c_proj`` at zero, so every block starts as the
      identity, and scales ``attn.c_attn`` and ``mlp.c_fc`` by
      :func:`fixup_scales`. Fixup (Zhang et al., 2019) also starts the
      classification layer at zero and, in the authors' language model, puts a
      scalar bias before it; here the read-out is tied to the token embedding
      and has neither (the authors' code zeroes its output embedding only when
      it is not shared with the input).

    Shape:
        - Input: :math:`(B, T, C)`; Output: :math:`(B, T, C)`.
    """

    def __init__(self, config):
        super().__init__()
        self.placement = config.placement
        new_norm = lambda: norms.make(config.norm, config.n_embd, eps=config.eps, dyt_alpha=config.dyt_alpha)  # noqa: E731
        self.ln_1 = new_norm()
        self.attn = CausalSelfAttention(config)
        self.ln_2 = new_norm()
        self.mlp = MLP(config)
        if self.placement == "sandwich":
            self.ln_1_out, self.ln_2_out = new_norm(), new_norm()
        if self.placement == "deepnorm":
            self.alpha = deepnorm_constants(config.n_layer)[0]  # a constant, not a parameter
        if self.placement == "rezero":
            self.resweight = nn.Parameter(torch.zeros(()))  # a scalar, 0 at initialization
        if self.placement == "fixup":  # scalars: multipliers at 1, biases at 0
            self.attn_bias_in, self.attn_scale = nn.Parameter(torch.zeros(())), nn.Parameter(torch.ones(()))
            self.mlp_bias_in, self.mlp_bias_act = nn.Parameter(torch.zeros(())), nn.Parameter(torch.zeros(()))
            self.mlp_bias_proj, self.mlp_scale = nn.Parameter(torch.zeros(())), nn.Parameter(torch.ones(()))

    def forward(self, x):
        if self.placement == "pre":
            x = x + self.attn(self.ln_1(x))  # (B, T, C): the residual stream is never normalized
            return x + self.mlp(self.ln_2(x))
        if self.placement == "post":
            x = self.ln_1(x + self.attn(x))  # (B, T, C): the sum is normalized
            return self.ln_2(x + self.mlp(x))
        if self.placement == "sandwich":
            x = x + self.ln_1_out(self.attn(self.ln_1(x)))  # (B, T, C): each branch's output normalized too
            return x + self.ln_2_out(self.mlp(self.ln_2(x)))
        if self.placement == "deepnorm":
            x = self.ln_1(self.alpha * x + self.attn(x))  # (B, T, C): post-LN, the residual up-weighted
            return self.ln_2(self.alpha * x + self.mlp(x))
        if self.placement == "rezero":
            x = x + self.resweight * self.attn(x)  # (B, T, C): no norm, a gated branch
            return x + self.resweight * self.mlp(x)
        x = x + self.attn_scale * self.attn(x + self.attn_bias_in)  # "fixup", (B, T, C): no norm, scalar bias and gain
        mlp = self.mlp
        h = mlp.gelu(mlp.c_fc(x + self.mlp_bias_in) + self.mlp_bias_act)  # (B, T, 4C)
        return x + self.mlp_scale * mlp.c_proj(h + self.mlp_bias_proj)

    def extra_repr(self):
        return f"placement={self.placement!r}" + (f", alpha={self.alpha:.4g}" if self.placement == "deepnorm" else "")


class GPT(nn.Module):
    """A GPT-style decoder-only language model (see the module docstring).

    Initialization (``config.init``): ``"gpt2"`` as in GPT-2 and nanoGPT,
    linear and embedding weights from N(0, 0.02²), biases 0, and the residual
    projections (``c_proj``) from N(0, (0.02 / sqrt(2 n_layer))²) (except under
    ``placement="deepnorm"``, whose own depth scaling replaces that one: the
    weights of ``mlp.c_fc``, ``mlp.c_proj``, ``attn.c_proj`` and the value rows of
    ``attn.c_attn`` are multiplied by DeepNet's ``beta``, :func:`deepnorm_constants`,
    after the ``"gpt2"`` or ``"xavier"`` draw; DeepNet itself uses Xavier; and
    except under ``placement="fixup"``, whose ``attn.c_proj`` and ``mlp.c_proj``
    weights start at zero and whose ``attn.c_attn`` and ``mlp.c_fc`` weights are
    multiplied by :func:`fixup_scales` after the draw);
    ``"xavier"`` as in the original Transformer, Xavier-uniform linear
    weights, token embeddings from N(0, 1/C) multiplied by sqrt(C) in the
    forward pass, position embeddings from N(0, 1). Norms start at gain 1,
    bias 0 (DyT at its ``alpha``).

    Args:
        config (GPTConfig): sizes and switches.

    Shape:
        - idx: :math:`(B, T)` token ids (int64), ``T <= block_size``.
        - targets (optional): :math:`(B, T)` the next token at each position.
        - Output: logits :math:`(B, T, \\text{vocab\\_size})`, or ``(logits, loss)``
          with the mean cross-entropy (nats) when targets are given.
    """

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=norms.make(config.norm, config.n_embd, eps=config.eps, dyt_alpha=config.dyt_alpha)
            if config.placement in ("pre", "sandwich") else nn.Identity(),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2
        # token embeddings times sqrt(C) under "xavier" (Vaswani et al.), times 1 under "gpt2"
        self.embed_scale = math.sqrt(config.n_embd) if config.init == "xavier" else 1.0
        self.apply(self._init_weights)
        if config.placement == "deepnorm":
            self._deepnorm_init()
        elif config.placement == "fixup":
            self._fixup_init()
        elif config.init == "gpt2":
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @torch.no_grad()
    def _deepnorm_init(self):
        """DeepNet's initialization: the MLP's weights and the attention's value and output projections times beta."""
        beta = deepnorm_constants(self.config.n_layer)[1]
        C = self.config.n_embd
        for block in self.transformer.h:
            block.attn.c_attn.weight[2 * C:].mul_(beta)  # (C, C): the value rows of [q; k; v]
            for lin in (block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
                lin.weight.mul_(beta)

    @torch.no_grad()
    def _fixup_init(self):
        """Fixup's initialization: each branch's last layer at zero, the layers before it scaled down with depth."""
        s_attn, s_mlp = fixup_scales(self.config.n_layer)
        for block in self.transformer.h:
            block.attn.c_attn.weight.mul_(s_attn)  # (3C, C): queries, keys and values alike
            block.mlp.c_fc.weight.mul_(s_mlp)  # (4C, C)
            nn.init.zeros_(block.attn.c_proj.weight)  # the branches' last layers (their biases are 0 already)
            nn.init.zeros_(block.mlp.c_proj.weight)

    def _init_weights(self, module):
        xavier = self.config.init == "xavier"
        if module is self.lm_head:  # tied to wte, which is initialized as an embedding
            return
        if isinstance(module, nn.Linear):
            if xavier:
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            std = (1 / math.sqrt(self.config.n_embd) if module is self.transformer.wte else 1.0) if xavier else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def forward(self, idx, targets=None):
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32) or idx.dim() != 2:
            raise TypeError(f"GPT: idx must be a (B, T) tensor of int64 token ids, got "
                            f"{type(idx).__name__} {getattr(idx, 'dtype', '')} of shape {tuple(getattr(idx, 'shape', ()))}")
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"GPT: sequence length T = {T} is longer than the context, "
                             f"block_size = {self.config.block_size}; pass at most the last {self.config.block_size} tokens")
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.embed_scale * self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab_size)
        if targets is None:
            return logits
        if targets.shape != idx.shape:
            raise ValueError(f"GPT: targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))  # mean over B*T tokens
        return logits, loss


# ---------------------------------------------------------------------------
# Data, training, measuring
# ---------------------------------------------------------------------------

def get_batch(data, block_size, batch_size, generator=None):
    """``batch_size`` random windows of a 1-d id tensor: inputs and next-token targets.

    Args:
        data (Tensor): token ids, shape ``(N,)`` with ``N > block_size``.
        block_size (int): window length ``T``.
        batch_size (int): windows ``B``.
        generator (torch.Generator, optional): for the window offsets.

    Returns:
        ``(x, y)``, each ``(B, T)`` int64; ``y`` is ``x`` shifted by one position.
    """
    if data.dim() != 1 or len(data) <= block_size:
        raise ValueError(f"get_batch: data must be a 1-d tensor longer than block_size = {block_size}, "
                         f"got shape {tuple(data.shape)}")
    start = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = start[:, None] + torch.arange(block_size)  # (B, T)
    return data[offsets], data[offsets + 1]


def lr_at(step, lr, warmup):
    """The learning rate at optimizer step ``step`` (0-based): linear warm-up to ``lr``, then constant."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    return lr


@torch.no_grad()
def evaluate(model, data, block_size, batch_size=32, batches=8, seed=1234):
    """Mean cross-entropy (nats per token) on ``batches`` fixed random windows of ``data``."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    losses = []
    for _ in range(batches):
        x, y = get_batch(data, block_size, batch_size, gen)
        losses.append(model(x.to(device), y.to(device))[1].item())
    model.train(was_training)
    return sum(losses) / len(losses)


def train_lm(config, train_data, val_data, *, steps, lr, warmup=0, batch_size=16, seed=0,
             eval_every=None, eval_batches=8, weight_decay=0.0, betas=(0.9, 0.98), device="cpu",
             diverge_loss=None):
    """Train a fresh ``GPT(config)`` on next-character prediction; return the model and its history.

    Seeds everything with ``seed`` (initial weights and batches), then runs
    ``steps`` AdamW steps at :func:`lr_at` ``(step, lr, warmup)``. Training stops
    early, marked ``diverged``, when the loss is not finite or exceeds
    ``diverge_loss`` (default: twice the larger of the first step's loss and
    that of a uniform guess, ``ln vocab``).

    Args:
        config (GPTConfig): the model.
        train_data, val_data (Tensor): 1-d token ids.
        steps (int): optimizer steps.
        lr (float): peak learning rate.
        warmup (int): linear warm-up steps (0: none). Default: 0
        batch_size (int): windows per step. Default: 16
        seed (int): seed of the weights and the batches. Default: 0
        eval_every (int, optional): validation every this many steps (and at the end). Default: steps // 10
        eval_batches (int): batches per validation. Default: 8
        weight_decay (float), betas (tuple): AdamW's. Defaults: 0.0, (0.9, 0.98)
        device: where to train. Default: ``"cpu"``
        diverge_loss (float, optional): the loss above which a run counts as diverged.

    Returns:
        ``(model, history)``; ``history`` is a dict with ``step`` (list of
        steps done), ``loss`` (training loss per step, nats), ``time``
        (seconds since the start, per step), ``eval_step``, ``val_loss``
        (nats), ``diverged`` (bool) and ``seconds`` (total).
    """
    where = "train_lm"
    steps = check_int(steps, "steps", where, 1)
    warmup = check_int(warmup, "warmup", where, 0)
    lr = check_real(lr, "lr", where, 0.0, lo_open=True)
    device = check_device(device, "device", where)
    eval_every = eval_every or max(1, steps // 10)
    seed_everything(seed)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    hist = {"step": [], "loss": [], "time": [], "eval_step": [], "val_loss": [], "diverged": False}
    tic = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, warmup)
        x, y = get_batch(train_data, config.block_size, batch_size, gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        if step == 0 and diverge_loss is None:
            diverge_loss = 2 * max(value, math.log(config.vocab_size))
        hist["step"].append(step + 1)
        hist["loss"].append(value)
        hist["time"].append(time.perf_counter() - tic)
        if not math.isfinite(value) or value > diverge_loss:
            hist["diverged"] = True
            break
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            hist["eval_step"].append(step + 1)
            hist["val_loss"].append(evaluate(model, val_data, config.block_size, batch_size, eval_batches))
    hist["seconds"] = time.perf_counter() - tic
    return model, hist


def grad_norms_at_init(config, data, *, seed=0, batch_size=16, batches=4, which="mlp", device="cpu"):
    """Each block's gradient norm at initialization, averaged over a few batches.

    Builds ``GPT(config)`` with ``seed``, computes the language-modelling loss
    on ``batches`` random windows of ``data`` and returns, for each block
    ``l = 1 .. n_layer``, the mean over batches of the Frobenius norm of the
    gradient of its parameters: the MLP's weight matrices (``which="mlp"``,
    Xiong et al.'s W^FFN) or all of the block's parameters (``which="all"``).
    The model and the batches live on ``device`` (default ``"cpu"``; a device
    this machine lacks raises ``ValueError``); the batches are drawn on the CPU
    from ``seed``, so every device sees the same windows.

    Returns:
        a list of ``n_layer`` floats, from the input side to the output side.
    """
    check_choice(which, "which", ("mlp", "all"), "grad_norms_at_init")
    device = check_device(device, "device", "grad_norms_at_init")
    seed_everything(seed)
    model = GPT(config).to(device)
    gen = torch.Generator().manual_seed(seed)
    totals = [0.0] * config.n_layer
    for _ in range(batches):
        x, y = (t.to(device) for t in get_batch(data, config.block_size, batch_size, gen))
        model.zero_grad(set_to_none=True)
        model(x, y)[1].backward()
        for l, block in enumerate(model.transformer.h):
            params = [block.mlp.c_fc.weight, block.mlp.c_proj.weight] if which == "mlp" else list(block.parameters())
            totals[l] += math.sqrt(sum(float((p.grad ** 2).sum()) for p in params if p.grad is not None))
    return [t / batches for t in totals]


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, generator=None):
    """Sample ``max_new_tokens`` tokens after the prompt ``idx`` ``(B, T0)``; returns ``(B, T0 + new)``.

    Each step feeds the last ``block_size`` tokens, divides the last
    position's logits by ``temperature`` and samples from their softmax.
    """
    check_real(temperature, "temperature", "generate", 0.0, lo_open=True)
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        logits = model(idx[:, -model.config.block_size:])[:, -1, :] / temperature  # (B, vocab)
        nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)
    model.train(was_training)
    return idx
