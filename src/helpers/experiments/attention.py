r"""Chapter 10's experiment on attention and the norm: logit growth and entropy collapse at a high learning rate.

One registered experiment, ``"qk_norm_logits"``, ``run(budget, seed, device) -> dict``
(see :mod:`helpers.experiments`): a pre-LN GPT of chapter 8's width with
fewer blocks (:data:`MODEL`) trained on the book's prose, without warm-up, at a low and a high
learning rate without QK-norm, and at the high one with QK-norm (queries and keys
layer-normalized per head, ``GPTConfig(qk_norm=True)``). For each run, and for
the model at initialization, on fixed validation windows:

* ``max_logit``: the largest :math:`|q \cdot k| / \sqrt{d}` over layers, heads and
  the allowed (causal) positions, the attention logits of :func:`attention_logits`;
* ``min_entropy`` and ``mean_entropy``: the attention entropy
  (:func:`helpers.attention_entropy.attention_entropy`, nats) of each layer and head,
  averaged over queries and windows, then the smallest and the mean over layers and
  heads (a collapsed head has entropy near 0; a uniform one :math:`\log T` at most);
* the training loss per step and the final validation loss.

Wortsman et al. (2023, "Small-scale proxies for large-scale Transformer training
instabilities", arXiv:2309.14322) reproduce "the growth of logits in attention
layers (Dehghani et al., 2023)" in small models at high learning rates; their
abstract is quoted by the claims below. Nothing runs at import.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_instance
from ..attention_entropy import attention_entropy
from ..corpus import load_char_corpus
from ..transformer import GPT, GPTConfig, get_batch, train_lm
from . import claim, experiment, sizes
from ._common import per_seed, rounded
from .stats import effect_text, Size

__all__ = ["MODEL", "attention_logits", "attention_stats"]

#: The model of every run, less ``vocab_size``: chapter 8's width and heads with fewer blocks (4, not 6),
#: GPT-2's initialization, pre-LN.
MODEL = dict(block_size=32, n_layer=4, n_head=4, n_embd=32, placement="pre", norm="layer")


@torch.no_grad()
def attention_logits(model, idx):
    r"""Every layer's attention logits :math:`q k^\top / \sqrt{d}` for the token ids ``idx``, masked positions ``-inf``.

    The queries and keys are those the model's :class:`~helpers.transformer.CausalSelfAttention`
    computes (after QK-norm when the model has it), read from the input each attention layer
    receives in a forward pass of ``model``.

    Args:
        model (helpers.transformer.GPT): any placement.
        idx (Tensor): :math:`(B, T)` token ids.

    Returns:
        a list with one tensor :math:`(B, n_{head}, T, T)` per block; entry :math:`(b, h, t, s)` is
        ``-inf`` for :math:`s > t`.
    """
    check_instance(model, GPT, "model", "attention_logits", "a helpers.transformer.GPT")
    inputs = []
    hooks = [b.attn.register_forward_hook(lambda m, a, y: inputs.append((m, a[0]))) for b in model.transformer.h]
    try:
        model(idx)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for attn, x in inputs:
        B, T, C = x.shape
        hs = C // attn.n_head
        q, k, _ = attn.c_attn(x).split(C, dim=-1)  # (B, T, C) each
        q = attn.q_norm(q.view(B, T, attn.n_head, hs).transpose(1, 2))  # (B, nh, T, hs)
        k = attn.k_norm(k.view(B, T, attn.n_head, hs).transpose(1, 2))  # (B, nh, T, hs)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, T)
        out.append(logits.masked_fill(~attn.mask[:T, :T], float("-inf")))
    return out


def attention_stats(model, idx):
    """``{"max_logit", "min_entropy", "mean_entropy"}`` of ``model``'s attention on ``idx`` (see the module docstring)."""
    was_training = model.training
    model.eval()
    logits = attention_logits(model, idx)
    model.train(was_training)
    max_logit = max(float(l[torch.isfinite(l)].abs().max()) for l in logits)
    per_head = torch.stack([attention_entropy(l).mean(dim=(0, 2)) for l in logits])  # (layers, heads)
    return {"max_logit": max_logit, "min_entropy": float(per_head.min()), "mean_entropy": float(per_head.mean())}


@experiment("qk_norm_logits",
            quick=dict(steps=60, lr_low=0.01, lr_high=0.1, batch_size=16, eval_batches=2),
            full=dict(steps=200, lr_low=0.01, lr_high=0.1, batch_size=16, eval_batches=8),
            engine="helpers.transformer.GPT, torch operations",
            summary="Chapter 10: attention-logit growth and entropy collapse at a high learning rate, and QK-norm")
def qk_norm_logits(budget, seed, device):
    size = sizes("qk_norm_logits", budget)
    corpus = load_char_corpus()
    V = len(corpus.vocab)
    idx = get_batch(corpus.val, MODEL["block_size"], 16, torch.Generator().manual_seed(1234))[0].to(device)
    runs = {"low": (size["lr_low"], False), "high": (size["lr_high"], False), "high_qk": (size["lr_high"], True)}
    out = {"runs": {}, "init": {}}
    for qk in (False, True):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(**MODEL, vocab_size=V, qk_norm=qk)).to(device)
        out["init"]["qk" if qk else "plain"] = {k: rounded(v, 5) for k, v in attention_stats(model, idx).items()}
    for name, (lr, qk) in runs.items():
        model, h = train_lm(GPTConfig(**MODEL, vocab_size=V, qk_norm=qk), corpus.train, corpus.val,
                            steps=size["steps"], lr=lr, batch_size=size["batch_size"], seed=seed,
                            eval_every=size["steps"], eval_batches=size["eval_batches"], device=device)
        stats = {k: rounded(v, 5) for k, v in attention_stats(model, idx).items()}
        out["runs"][name] = {"lr": lr, "qk_norm": qk, "diverged": bool(h["diverged"]),
                             "loss": rounded(h["loss"], 5), "val_loss": rounded(h["val_loss"], 5), **stats}
    return out


# --- claims ---------------------------------------------------------------------------------

WORTSMAN = ("Wortsman et al. (2023), abstract: \"we show that these instabilities also appear in small models when "
            "training at high learning rates, and that mitigations previously employed at large scales are "
            "equally effective in this regime\"")


def _stat(run, name, key):
    v = run["runs"][name][key]
    return math.inf if v is None else v


@claim("qk_norm_logits", section="10.2", paper="wortsman2023small",
       statement="Attention logits grow at a high learning rate in a small model (Wortsman et al., 2023)",
       paper_evidence=WORTSMAN + "; the first of \"these instabilities\" is \"the growth of logits in attention "
                                 "layers (Dehghani et al., 2023)\"",
       size=Size("largest attention logit after training, high / low learning rate (no QK-norm)", "higher", 1.0,
                 None, "no size; judged by direction"))
def logits_grow_at_high_lr(record):
    ratios = per_seed(record, lambda r: _stat(r, "high", "max_logit") / _stat(r, "low", "max_logit"))
    hi = per_seed(record, lambda r: _stat(r, "high", "max_logit"))
    lr = record["runs"][0]["runs"]["high"]["lr"]
    return f"largest attention logit at lr {lr:g}: {effect_text(hi, 1)}; high / low lr: {effect_text(ratios)}", ratios


@claim("qk_norm_logits", section="10.2", paper="wortsman2023small",
       statement="QK-norm keeps the attention logits small at the high learning rate (Wortsman et al., 2023)",
       paper_evidence=WORTSMAN + "; for attention-logit growth the mitigation is qk-layernorm (their §3.1.1)",
       size=Size("largest attention logit after training at the high learning rate, with / without QK-norm",
                 "lower", 1.0, None, "no size (\"equally effective\"); judged by direction"))
def qk_norm_bounds_logits(record):
    ratios = per_seed(record, lambda r: _stat(r, "high_qk", "max_logit") / _stat(r, "high", "max_logit"))
    return f"largest attention logit, with / without QK-norm: {effect_text(ratios, 3)}", ratios


@claim("qk_norm_logits", section="10.2", kind="reading", paper="wortsman2023small",
       statement="Our measure: without QK-norm, some head's attention entropy collapses at the high learning rate, "
                 "and QK-norm prevents it",
       paper_evidence="The book's own reading: growing logits make softmax one-hot (entropy 0); the least entropy "
                      "over layers and heads, without minus with QK-norm",
       size=Size("least head entropy after training at the high learning rate, without minus with QK-norm (nats)",
                 "lower", 0.0, None, "no size: the book's measure; judged by direction"))
def entropy_collapses_without_qk_norm(record):
    diffs = per_seed(record, lambda r: _stat(r, "high", "min_entropy") - _stat(r, "high_qk", "min_entropy"))
    plain = per_seed(record, lambda r: _stat(r, "high", "min_entropy"))
    return (f"least head entropy without QK-norm {effect_text(plain, 3)} nats; without minus with: "
            f"{effect_text(diffs)} nats", diffs)
