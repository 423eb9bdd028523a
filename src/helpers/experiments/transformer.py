r"""The Transformer chapter's experiments: gradients at initialization and training runs, per seed.

Two registered experiments, each ``run(budget, seed, device) -> dict`` of
plain values (see :mod:`helpers.experiments`), on the character-level corpus
of the book's prose (:func:`helpers.corpus.load_char_corpus`) and the model of
:mod:`helpers.transformer`:

* ``"transformer_grads"``: for each depth of the budget and each placement
  (post-LN, pre-LN), each block's MLP gradient norm at initialization
  (:func:`helpers.transformer.grad_norms_at_init`, on ``device``); the seed
  fixes the initialization and the batches.
* ``"transformer_lm"``: the seven training runs of the chapter with one seed:
  post-LN and pre-LN (layer norm) without and with warm-up, and pre-LN with
  RMSNorm, DyT and no norm, without warm-up. For each run the training loss
  per step, the validation losses and the time; for DyT the trained
  :math:`\alpha` of every norm; and 200 characters sampled from the post-LN and
  pre-LN models without warm-up.

The sizes are the same model and the same number of steps at both budgets;
the ``"full"`` budget adds a depth to the gradient measurement, and the chapter
runs more seeds at it (10 and 5 instead of 5 and 2). The shipped full-budget
records are ``helpers/data_files/experiments/transformer_grads.json`` and
``transformer_lm.json``. Nothing runs at import.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_instance, check_real
from ..corpus import decode, encode, load_char_corpus
from ..transformer import GPTConfig, generate, grad_norms_at_init, train_lm
from . import experiment, sizes

__all__ = ["MODEL", "TRAIN", "WARMUP", "RUNS", "RESCUE", "STALL_MARGIN_BITS", "model_config", "stall_threshold",
           "stalled"]

#: The model of every run, less ``vocab_size`` (the corpus's); see :class:`helpers.transformer.GPTConfig`.
MODEL = dict(block_size=32, n_layer=6, n_head=4, n_embd=32, init="xavier")
#: The training settings of every run (:func:`helpers.transformer.train_lm`).
TRAIN = dict(steps=200, lr=5e-3, batch_size=16, eval_every=25, eval_batches=4)
#: Steps of linear warm-up, in the runs that have one.
WARMUP = 60
#: The runs of ``"transformer_lm"``: name -> (placement, norm, warm-up steps).
RUNS = {
    "post/0": ("post", "layer", 0), f"post/{WARMUP}": ("post", "layer", WARMUP),
    "pre/0": ("pre", "layer", 0), f"pre/{WARMUP}": ("pre", "layer", WARMUP),
    "rms": ("pre", "rms", 0), "dyt": ("pre", "dyt", 0), "none": ("pre", None, 0),
}


#: A run has *stalled* when its final validation loss is not at least this many bits per character
#: below the entropy of the character frequencies: it learned little beyond which characters are common.
STALL_MARGIN_BITS = 0.15


def stall_threshold(unigram_nats: float) -> float:
    """The final validation loss (bits per character) at or above which a run counts as stalled.

    Args:
        unigram_nats (float): the entropy of the training text's character frequencies, in nats.
    """
    unigram_nats = check_real(unigram_nats, "unigram_nats", "stall_threshold", lo=0.0)
    return unigram_nats / math.log(2) - STALL_MARGIN_BITS


def stalled(history: dict, threshold_bits: float) -> bool:
    """Whether a :func:`~helpers.transformer.train_lm` history stalled (or diverged) at ``threshold_bits``."""
    check_instance(history, dict, "history", "stalled", "a train_lm history")
    if history["diverged"]:
        return True
    return not history["val_loss"][-1] / math.log(2) <= threshold_bits


def model_config(vocab_size, **changes) -> GPTConfig:
    """The chapter's :class:`~helpers.transformer.GPTConfig` with ``changes`` applied."""
    return GPTConfig(**{**MODEL, "vocab_size": vocab_size, **changes})


@experiment("transformer_grads",
            quick=dict(depths=[6, 12], batches=4, batch_size=32),
            full=dict(depths=[6, 12, 24], batches=4, batch_size=32),
            engine="helpers.transformer.GPT, torch operations", 
            summary="Transformer: each block's MLP gradient norm at initialization, post-LN and pre-LN")
def transformer_grads(budget, seed, device):
    size = sizes("transformer_grads", budget)
    corpus = load_char_corpus()
    out = {"depths": size["depths"], "post": [], "pre": []}
    for depth in size["depths"]:
        for placement in ("post", "pre"):
            cfg = model_config(len(corpus.vocab), n_layer=depth, placement=placement)
            out[placement].append(grad_norms_at_init(cfg, corpus.train, seed=seed, batches=size["batches"],
                                                     batch_size=size["batch_size"], device=device))
    return out


def _history(h):
    """The JSON part of a :func:`~helpers.transformer.train_lm` history, losses to 6 significant digits."""
    r6 = lambda values: [float(f"{v:.6g}") for v in values]  # noqa: E731
    return {"loss": r6(h["loss"]), "time": r6(h["time"]), "eval_step": h["eval_step"],
            "val_loss": r6(h["val_loss"]), "diverged": h["diverged"], "seconds": round(h["seconds"], 3)}


@experiment("transformer_lm",
            quick=dict(runs=list(RUNS), steps=TRAIN["steps"], warmup=WARMUP),
            full=dict(runs=list(RUNS), steps=TRAIN["steps"], warmup=WARMUP),
            engine="helpers.transformer.GPT, torch operations", 
            summary="Transformer: post-/pre-LN with and without warm-up, RMSNorm, DyT, no norm (one seed)")
def transformer_lm(budget, seed, device):
    sizes("transformer_lm", budget)  # the same runs at both budgets
    corpus = load_char_corpus()
    out, models = {"runs": {}}, {}
    for name, (placement, norm, warmup) in RUNS.items():
        cfg = model_config(len(corpus.vocab), placement=placement, norm=norm)
        models[name], h = train_lm(cfg, corpus.train, corpus.val, warmup=warmup, seed=seed,
                                   device=device, **TRAIN)
        out["runs"][name] = _history(h)
    out["dyt_alpha"] = [[blk.ln_1.alpha.item(), blk.ln_2.alpha.item()] for blk in models["dyt"].transformer.h]
    prompt = encode("Layer norm ", corpus.vocab)[None, :]  # (1, len(prompt))
    out["samples"] = {}
    for name in ("post/0", "pre/0"):
        idx = generate(models[name].cpu(), prompt, 200, temperature=0.8,
                       generator=torch.Generator().manual_seed(0))
        out["samples"][name] = decode(idx[0], corpus.vocab)
    return out


#: The post-LN runs of chapter 8's exercises on warm-up and QK-norm: name -> (learning rate, warm-up steps, QK-norm).
RESCUE = {
    "lr0.001": (1e-3, 0, False), "lr0.003": (3e-3, 0, False), "lr0.005": (5e-3, 0, False),
    "lr0.005/warmup10": (5e-3, 10, False), "lr0.005/warmup30": (5e-3, 30, False),
    "lr0.005/warmup60": (5e-3, 60, False), "lr0.005/qk": (5e-3, 0, True),
}


@experiment("post_ln_rescue",
            quick=dict(runs=list(RESCUE), steps=TRAIN["steps"]),
            full=dict(runs=list(RESCUE), steps=TRAIN["steps"]),
            engine="helpers.transformer.GPT, torch operations",
            summary="Transformer: post-LN at three learning rates, with warm-up, with QK-norm (chapter 8's exercises)")
def post_ln_rescue(budget, seed, device):
    """Every run of :data:`RESCUE` for one seed, and each block's MLP gradient norm at initialization with and
    without QK-norm (the chapter's model; the same runs at both budgets)."""
    sizes("post_ln_rescue", budget)
    corpus = load_char_corpus()
    out = {"runs": {}, "grad_norms": {}}
    for name, (lr, warmup, qk) in RESCUE.items():
        cfg = model_config(len(corpus.vocab), placement="post", qk_norm=qk)
        _, h = train_lm(cfg, corpus.train, corpus.val, warmup=warmup, seed=seed, device=device, **{**TRAIN, "lr": lr})
        out["runs"][name] = _history(h)
    for qk in (False, True):
        cfg = model_config(len(corpus.vocab), placement="post", qk_norm=qk)
        out["grad_norms"]["qk" if qk else "plain"] = grad_norms_at_init(cfg, corpus.train, seed=seed, batches=4,
                                                                         batch_size=32, device=device)
    return out
