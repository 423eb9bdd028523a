r"""Chapter 10's experiment on what layer norm's backward pass does: LayerNorm, LayerNorm-simple, DetachNorm.

Xu et al. (2019, "Understanding and Improving Layer Normalization", NeurIPS) take
layer norm apart into its forward normalization, the derivatives of its mean and
variance (the backward pass's re-centering and re-scaling of the gradient, the
two subtracted terms of :func:`helpers.norms.layer_norm_backward`) and its gain
and bias. One registered experiment, ``"adanorm_detach"``, ``run(budget, seed,
device) -> dict`` (see :mod:`helpers.experiments`), trains the pre-LN GPT of
chapter 8's width (:data:`MODEL`; 2 blocks at the quick budget, chapter 8's 4 at the full one) on the book's prose with each norm of
:data:`VARIANTS` in every place the model has one:

* ``"full"``: layer norm as the book has it, with gain and bias;
* ``"simple"``: "LayerNorm-simple", no gain and no bias
  (``LayerNorm(C, elementwise_affine=False)``);
* ``"detach"``: "DetachNorm", LayerNorm-simple whose mean and standard deviation
  are constants in the backward pass (``LayerNorm(C, elementwise_affine=False,
  detach_stats=True)``): the same forward pass, the gradient only divided by
  :math:`\sigma`;
* ``"none"``: no norm at all (the norms are the identity).

Every variant starts from the same seed (the same initial weights, except for the
parameters it lacks) and sees the same batches, at a learning rate without
warm-up large enough that the variants part within the short budget. Each run
records its training loss every step and its validation loss at a few points,
on fixed windows. Nothing runs at import.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import norms
from .._checks import check_choice, check_instance
from ..corpus import load_char_corpus
from ..repro import seed_everything
from ..transformer import GPT, GPTConfig, evaluate, get_batch
from . import claim, experiment, sizes
from ._common import one_thread, per_seed, rounded
from .stats import Size, effect_text

__all__ = ["VARIANTS", "MODEL", "with_norm_variant", "final_val"]

#: The norms compared (see the module docstring).
VARIANTS = ("full", "simple", "detach", "none")
#: The model of every run, less ``vocab_size`` and ``n_layer`` (a size of the budget): chapter 8's widths,
#: pre-LN, GPT-2's initialization.
MODEL = dict(block_size=32, n_head=4, n_embd=32, placement="pre", norm="layer")


def with_norm_variant(model, variant):
    """Replace every :class:`helpers.norms.LayerNorm` of ``model`` by the norm ``variant`` names, in place.

    Args:
        model (torch.nn.Module): e.g. a :class:`helpers.transformer.GPT` with ``norm="layer"``.
        variant (str): one of :data:`VARIANTS`; ``"full"`` leaves the model as it is.

    Returns:
        ``model``, whose norms are now ``LayerNorm(C, elementwise_affine=False)`` (``"simple"``),
        the same with ``detach_stats=True`` (``"detach"``) or :class:`torch.nn.Identity` (``"none"``).

    Example::

        >>> m = with_norm_variant(nn.Sequential(norms.LayerNorm(4), nn.Linear(4, 2)), "detach")
        >>> m[0]
        LayerNorm((4,), eps=1e-05, elementwise_affine=False, bias=False, detach_stats=True)
    """
    check_instance(model, nn.Module, "model", "with_norm_variant", "a torch.nn.Module")
    variant = check_choice(variant, "variant", VARIANTS, "with_norm_variant")
    if variant == "full":
        return model
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, norms.LayerNorm):
                new = nn.Identity() if variant == "none" else norms.LayerNorm(
                    child.normalized_shape, eps=child.eps, elementwise_affine=False,
                    detach_stats=variant == "detach")
                setattr(parent, name, new)  # on the CPU: move the model afterwards
    return model


def _train(variant, corpus, size, seed, device):
    """One run: the seed's GPT with ``variant``'s norms, AdamW without warm-up; its curves."""
    seed_everything(seed)
    model = with_norm_variant(GPT(GPTConfig(**MODEL, n_layer=size["n_layer"],
                                                     vocab_size=len(corpus.vocab))), variant).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=size["lr"], betas=(0.9, 0.98), weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)  # the same batches for every variant
    steps, every = size["steps"], max(1, size["steps"] // size["n_evals"])
    out = {"loss": [], "eval_step": [], "val_loss": [], "diverged": False}
    for step in range(1, steps + 1):
        x, y = get_batch(corpus.train, MODEL["block_size"], size["batch_size"], gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        out["loss"].append(rounded(value, 5))
        if not math.isfinite(value):
            out["diverged"] = True
            break
        if step % every == 0 or step == steps:
            out["eval_step"].append(step)
            out["val_loss"].append(rounded(evaluate(model, corpus.val, MODEL["block_size"], size["batch_size"],
                                                    size["eval_batches"]), 5))
    return out


@experiment("adanorm_detach",
            quick=dict(n_layer=2, steps=200, lr=1e-2, batch_size=16, n_evals=4, eval_batches=4),
            full=dict(n_layer=4, steps=1000, lr=1e-2, batch_size=16, n_evals=10, eval_batches=8),
            engine="helpers.transformer.GPT with helpers.norms.LayerNorm variants, torch operations",
            summary="Chapter 10: LayerNorm / LayerNorm-simple (no gain, bias) / DetachNorm (no gradient through "
                    "mean and variance) / no norm in a small GPT (Xu et al., 2019)")
def adanorm_detach(budget, seed, device):
    size = sizes("adanorm_detach", budget)
    corpus = load_char_corpus()
    with one_thread():
        return {"variants": list(VARIANTS),
                "runs": {v: _train(v, corpus, size, seed, device) for v in VARIANTS}}


# --- claims ---------------------------------------------------------------------------------

def final_val(run, variant):
    """The last validation loss of ``variant`` in one seed's result (``inf`` if the run diverged)."""
    r = run["runs"][variant]
    v = r["val_loss"][-1] if r["val_loss"] and not r["diverged"] else None
    return math.inf if v is None else v


def _finals(record, variant):
    return per_seed(record, lambda r: final_val(r, variant))


def _readable(effects):
    """Per-seed effects with the seeds that cannot be read flagged.

    A difference of two final losses is ``inf - inf`` (NaN) when both runs diverged: that seed
    says nothing about which variant is better, so it is *undecided* (:func:`helpers.experiments.stats.judge`),
    not a tie. Returns ``(effects, undecided)``, the unreadable effects shown as 0.0.
    """
    undecided = [math.isnan(e) for e in effects]
    return [0.0 if u else e for e, u in zip(effects, undecided)], undecided


def _diverged_text(undecided):
    n = sum(undecided)
    return f"; both runs diverged in {n} of {len(undecided)} seeds (cannot be read)" if n else ""


def _text(record, *variants):
    names = {"full": "LayerNorm", "simple": "LayerNorm-simple", "detach": "DetachNorm", "none": "no norm"}
    return "; ".join(f"{names[v]} {effect_text(_finals(record, v), 3)}" for v in variants)


XU = ("Xu et al. (2019), abstract: \"Many of previous studies believe that the success of LayerNorm comes from "
      "forward normalization. Unlike them, we find that the derivatives of the mean and variance are more important "
      "than forward normalization by re-centering and re-scaling backward gradients.\"")


@claim("adanorm_detach", section="10.5", paper="xu2019understanding",
       statement="The derivatives of the mean and variance matter more than the forward normalization "
                 "(Xu et al., 2019)",
       paper_evidence=XU + " Measured with DetachNorm (forward normalization, no derivatives) between LayerNorm-simple "
                           "and no norm",
       size=Size("final validation loss (nats): what dropping the derivatives costs (DetachNorm minus "
                 "LayerNorm-simple) minus what the forward normalization gains (no norm minus DetachNorm)",
                 "higher", 0.0, None, "no size (\"more important\"); judged by direction"))
def derivatives_matter_more(record):
    effects = per_seed(record, lambda r: (final_val(r, "detach") - final_val(r, "simple"))
                       - (final_val(r, "none") - final_val(r, "detach")))
    effects, undecided = _readable(effects)
    return (f"final validation loss: {_text(record, 'simple', 'detach', 'none')}; derivatives' share minus "
            f"forward's: {effect_text(effects, 3)} nats{_diverged_text(undecided)}", effects, undecided)


@claim("adanorm_detach", section="10.5", kind="reading", paper="xu2019understanding",
       statement="Our reading: without the derivatives of the mean and variance (DetachNorm), training ends worse "
                 "than with them (LayerNorm-simple)",
       paper_evidence=XU,
       size=Size("final validation loss, DetachNorm minus LayerNorm-simple (nats)", "higher", 0.0, None,
                 "no size; judged by direction"))
def detach_worse_than_simple(record):
    effects = per_seed(record, lambda r: final_val(r, "detach") - final_val(r, "simple"))
    effects, undecided = _readable(effects)
    return (f"final validation loss: {_text(record, 'simple', 'detach')}; DetachNorm minus simple: "
            f"{effect_text(effects, 3)} nats{_diverged_text(undecided)}", effects, undecided)


@claim("adanorm_detach", section="10.5", paper="xu2019understanding",
       statement="LayerNorm without its gain and bias (LayerNorm-simple) does better than LayerNorm (Xu et al., 2019)",
       paper_evidence="Xu et al. (2019), abstract: \"we find that the parameters of LayerNorm, including the bias and "
                      "gain, increase the risk of over-fitting and do not work in most cases. Experiments show that a "
                      "simple version of LayerNorm (LayerNorm-simple) without the bias and gain outperforms LayerNorm "
                      "on four datasets.\"",
       size=Size("final validation loss, LayerNorm-simple minus LayerNorm (nats)", "lower", 0.0, None,
                 "no size (\"outperforms\" on four of their datasets, not all); judged by direction"))
def simple_beats_full(record):
    effects = per_seed(record, lambda r: final_val(r, "simple") - final_val(r, "full"))
    effects, undecided = _readable(effects)
    return (f"final validation loss: {_text(record, 'full', 'simple')}; simple minus full: "
            f"{effect_text(effects, 3)} nats{_diverged_text(undecided)}", effects, undecided)
