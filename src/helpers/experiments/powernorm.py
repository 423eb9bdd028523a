r"""Chapter 10's experiment on why batch norm does badly on text: how much batch statistics fluctuate.

Shen et al. (2020, "PowerNorm: Rethinking Batch Normalization in Transformers",
ICML) put batch norm in place of layer norm in a Transformer and measured, at
the first batch-norm layer and throughout training, the distance between each
mini-batch's statistics and the layer's running statistics, per feature
averaged as :math:`\frac1d \lVert \mu_B - \mu \rVert` and
:math:`\frac1d \lVert \sigma^2_B - \sigma^2 \rVert` (their Fig. 2), against the
same for a ResNet on CIFAR-10. The registered experiment ``"powernorm_batch_stats"``,
``run(budget, seed, device) -> dict`` (see :mod:`helpers.experiments`), repeats
that in miniature:

* **text**: the GPT of chapter 8's size (:data:`GPT_MODEL`) with every layer norm
  replaced by a batch norm over the ``B x T`` tokens of the batch
  (:class:`TokenBatchNorm`, a :class:`helpers.norms.BatchNorm1d` per feature),
  trained on the book's prose (windows of ``T`` characters, so no padding);
* **images**: chapter 6's convolutional network with batch norm
  (:class:`helpers.experiments.convnet.ConvNet`), trained on the 8x8 digits;
  statistics per channel over the batch and the positions, as ``BatchNorm2d``'s.

Each is trained at its own usual batch (chapter 8's 16 windows of 32 characters,
512 tokens; chapter 6's 64 images of 64 positions, 4096 values per channel; the
paper's were 4K tokens against 128 CIFAR images), and at every step the input of
its first batch-norm layer gives the batch's mean and (biased) variance per feature,
compared with the layer's running mean and variance *before* this batch updates
them. Recorded per step: the paper's two distances (:func:`stat_distances`), and the
same made scale-free, each feature's deviation divided by its running standard
deviation (mean) or variance (variance), since the two models' features have
different scales.

The distance to the running statistics also grows while the weights move (the
running averages lag behind), which in runs this short can outweigh the
batch-to-batch noise. So at ``n_checks`` points of training the experiment also
measures the **fluctuation** alone (:func:`fluctuation`): ``probe_batches`` fixed
batches through the model at its current weights, each batch's statistics against
those of all of them pooled. The claims read the second half of training (of the
steps, or of the checks). Nothing runs at import.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .. import norms
from .._checks import check_instance, check_tensor
from ..corpus import load_char_corpus
from ..data import load_digits_images
from ..repro import seed_everything
from ..transformer import GPT, GPTConfig, get_batch
from . import claim, experiment, sizes
from ._common import one_thread, per_seed, rounded
from .convnet import ConvNet
from .stats import Size, effect_text

__all__ = ["GPT_MODEL", "KEYS", "TokenBatchNorm", "gpt_with_batch_norm", "stat_distances", "fluctuation",
           "second_half_mean"]

#: The text model, less ``vocab_size``: chapter 8's sizes, pre-LN placement, its norms batch norms.
GPT_MODEL = dict(block_size=32, n_layer=4, n_head=4, n_embd=32, placement="pre", norm="layer")
#: The distances recorded per step (see :func:`stat_distances`).
KEYS = ("mean", "var", "mean_rel", "var_rel")


class TokenBatchNorm(nn.Module):
    r"""Batch norm of a Transformer's activations :math:`(B, T, C)`: per feature, over all ``B x T`` tokens.

    A :class:`helpers.norms.BatchNorm1d` of ``C`` features applied to the tokens as rows,
    ``(B * T, C)``, with running statistics, as Shen et al.'s Transformer with batch norm
    (without padding: every window here is full).

    Args:
        features (int): ``C``.

    Shape:
        - Input, Output: :math:`(B, T, C)`
    """

    def __init__(self, features):
        super().__init__()
        self.bn = norms.BatchNorm1d(features)

    def forward(self, x):
        return self.bn(x.reshape(-1, x.shape[-1])).view_as(x)  # (B, T, C)


def gpt_with_batch_norm(config):
    """A :class:`helpers.transformer.GPT` of ``config`` (``norm="layer"``) with every layer norm a :class:`TokenBatchNorm`."""
    check_instance(config, GPTConfig, "config", "gpt_with_batch_norm", "a GPTConfig")
    if config.norm != "layer":
        raise ValueError(f"gpt_with_batch_norm: config.norm must be 'layer' (each becomes a batch norm), "
                         f"got {config.norm!r}")
    model = GPT(config)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, norms.LayerNorm):
                setattr(parent, name, TokenBatchNorm(child.normalized_shape[0]))
    return model


def stat_distances(x, running_mean, running_var, feature_dim=-1):
    r"""How far a batch's statistics are from running ones: the paper's two distances and their scale-free forms.

    With :math:`\mu_B, \sigma^2_B` the mean and biased variance of each of the ``d`` features
    of ``x`` over every other axis, and :math:`\mu, \sigma^2` the running ones:

    * ``mean``: :math:`\frac1d\lVert \mu_B - \mu\rVert_2`; ``var``: :math:`\frac1d\lVert \sigma^2_B - \sigma^2\rVert_2`
      (Shen et al.'s Fig. 2);
    * ``mean_rel``: :math:`\frac1d\sum_i |\mu_{B,i} - \mu_i| / \sigma_i`; ``var_rel``:
      :math:`\frac1d\sum_i |\sigma^2_{B,i} - \sigma^2_i| / \sigma^2_i` (the book's: in units of each feature's spread).

    Args:
        x (Tensor): a batch of activations, the features on ``feature_dim``.
        running_mean, running_var (Tensor): :math:`(d,)`; the variances > 0.
        feature_dim (int): the features' axis (``-1`` for tokens, ``1`` for feature maps). Default: -1

    Returns:
        dict of floats with the keys :data:`KEYS`.

    Example::

        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # means (1, 2), variances (1, 1)
        >>> {k: round(v, 3) for k, v in stat_distances(x, torch.zeros(2), torch.full((2,), 4.0)).items()}
        {'mean': 1.118, 'var': 2.121, 'mean_rel': 0.75, 'var_rel': 0.75}
    """
    where = "stat_distances"
    check_tensor(x, "x", where)
    x = x.detach().movedim(feature_dim, -1)
    d = x.shape[-1]
    rows = x.reshape(-1, d).double()  # (n, d)
    if rows.shape[0] < 2:
        raise ValueError(f"{where}: need at least 2 values per feature, got x of shape {tuple(x.shape)}")
    mu_run, var_run = running_mean.detach().double(), running_var.detach().double()
    if mu_run.shape != (d,) or var_run.shape != (d,) or not bool((var_run > 0).all()):
        raise ValueError(f"{where}: running_mean and running_var must have shape ({d},), the variances > 0")
    mu = rows.mean(0)  # (d,)
    var = ((rows - mu) ** 2).mean(0)  # (d,), biased, as batch norm normalizes with
    return {"mean": float((mu - mu_run).norm() / d), "var": float((var - var_run).norm() / d),
            "mean_rel": float(((mu - mu_run).abs() / var_run.sqrt()).mean()),
            "var_rel": float(((var - var_run).abs() / var_run).mean())}


def _recorder(out, feature_dim):
    """A forward pre-hook on a batch norm: the distances of the batch it gets, before it updates its running stats."""
    def hook(module, args):
        bn = module.bn if isinstance(module, TokenBatchNorm) else module
        if bn.training and int(bn.num_batches_tracked) > 0:  # before the first batch the running stats are 0 and 1
            for key, value in stat_distances(args[0], bn.running_mean, bn.running_var, feature_dim).items():
                out[key].append(rounded(value, 6))
    return hook


@torch.no_grad()
def fluctuation(model, module, batches, feature_dim=-1):
    """How far each batch's statistics at ``module``'s input stray from those of all ``batches`` pooled.

    ``model`` (in evaluation mode, so no running statistics move) runs on every batch of ``batches``;
    ``module``'s input gives each batch's per-feature mean and variance, and the pooled ones over all
    the batches stand for the population's at the model's current weights. Unlike the distance to the
    running statistics, this does not grow when the weights move during training: it is the
    batch-to-batch fluctuation alone.

    Args:
        model (torch.nn.Module): called as ``model(batch)``.
        module (torch.nn.Module): a submodule of ``model`` whose input is measured (e.g. the first norm).
        batches (list): at least 2 inputs of ``model``.
        feature_dim (int): the features' axis of ``module``'s input. Default: -1

    Returns:
        dict with the keys :data:`KEYS`: :func:`stat_distances` of each batch against the pooled
        statistics, averaged over the batches.
    """
    if len(batches) < 2:
        raise ValueError(f"fluctuation: need at least 2 batches, got {len(batches)}")
    seen = []
    hook = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().movedim(feature_dim, -1)))
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            model(batch)
    finally:
        hook.remove()
        model.train(was_training)
    rows = [x.reshape(-1, x.shape[-1]).double() for x in seen]  # one (n, d) per batch
    pooled = torch.cat(rows)
    mu, var = pooled.mean(0), pooled.var(0, unbiased=False)  # (d,), (d,)
    per = [stat_distances(r, mu, var) for r in rows]
    return {k: sum(p[k] for p in per) / len(per) for k in KEYS}


def _check_steps(steps, n_checks):
    """The steps after which the fluctuation is measured: ``n_checks`` evenly spaced, the last one the end."""
    return {round(steps * (i + 1) / n_checks) for i in range(n_checks)}


def _train_text(size, seed, device):
    corpus = load_char_corpus()
    seed_everything(seed)
    model = gpt_with_batch_norm(GPTConfig(**GPT_MODEL, vocab_size=len(corpus.vocab))).to(device)
    out = {key: [] for key in KEYS}
    model.transformer.h[0].ln_1.register_forward_pre_hook(_recorder(out, -1))  # the first batch norm
    opt = torch.optim.AdamW(model.parameters(), lr=size["text_lr"], betas=(0.9, 0.98), weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    held = torch.Generator().manual_seed(1234)  # the same fixed windows at every check
    probe = [get_batch(corpus.train, GPT_MODEL["block_size"], size["text_batch"], held)[0].to(device)
             for _ in range(size["probe_batches"])]
    checks, out["fluct"] = _check_steps(size["steps"], size["n_checks"]), {key: [] for key in KEYS}
    losses = []
    for step in range(1, size["steps"] + 1):
        x, y = get_batch(corpus.train, GPT_MODEL["block_size"], size["text_batch"], gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step in checks:
            for key, value in fluctuation(model, model.transformer.h[0].ln_1, probe, -1).items():
                out["fluct"][key].append(rounded(value, 6))
    out["loss"] = rounded(losses, 5)
    return out


def _train_images(size, seed, device):
    (x, y), _ = load_digits_images()
    x, y = x.to(device), y.to(device)
    seed_everything(seed)
    model = ConvNet("batch", size["channels"]).to(device)
    out = {key: [] for key in KEYS}
    model.norms[0].register_forward_pre_hook(_recorder(out, 1))  # the first batch norm, BatchNorm2d
    opt = torch.optim.Adam(model.parameters(), lr=size["image_lr"])
    gen = torch.Generator().manual_seed(seed)
    held = torch.Generator().manual_seed(1234)  # the same fixed images at every check
    probe = [x[torch.randint(len(y), (size["image_batch"],), generator=held).to(device)]
             for _ in range(size["probe_batches"])]
    checks, out["fluct"] = _check_steps(size["steps"], size["n_checks"]), {key: [] for key in KEYS}
    losses = []
    for step in range(1, size["steps"] + 1):
        idx = torch.randint(len(y), (size["image_batch"],), generator=gen).to(device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step in checks:
            for key, value in fluctuation(model, model.norms[0], probe, 1).items():
                out["fluct"][key].append(rounded(value, 6))
    out["loss"] = rounded(losses, 5)
    return out


@experiment("powernorm_batch_stats",
            quick=dict(steps=100, text_batch=16, image_batch=64, text_lr=1e-3, image_lr=3e-3, channels=16,
                       n_checks=4, probe_batches=8),
            full=dict(steps=600, text_batch=16, image_batch=64, text_lr=1e-3, image_lr=3e-3, channels=16,
                      n_checks=6, probe_batches=16),
            engine="helpers.transformer.GPT with batch norm, helpers.experiments.convnet.ConvNet; torch operations",
            summary="Chapter 10: how far batch statistics stray from running statistics during training, text (a "
                    "GPT with batch norm) against images (chapter 6's ConvNet) (Shen et al., 2020)")
def powernorm_batch_stats(budget, seed, device):
    size = sizes("powernorm_batch_stats", budget)
    with one_thread():
        return {"text": _train_text(size, seed, device), "images": _train_images(size, seed, device)}


# --- claims ---------------------------------------------------------------------------------

def second_half_mean(values):
    """The mean of the second half of a per-step series (after the running statistics have caught up)."""
    values = list(values)
    if not values:
        raise ValueError("second_half_mean: an empty series")
    tail = values[len(values) // 2:]
    return sum(tail) / len(tail)


def _series(side, key):
    """The per-step distance to the running statistics (``key`` in :data:`KEYS`), or the fluctuation at the
    checks (``"fluct_" + key``)."""
    return side["fluct"][key[6:]] if key.startswith("fluct_") else side[key]


def _ratio(record, key):
    return per_seed(record, lambda r: second_half_mean(_series(r["text"], key))
                    / second_half_mean(_series(r["images"], key)))


def _levels(record, key):
    text = effect_text(per_seed(record, lambda r: second_half_mean(_series(r["text"], key))), 3)
    images = effect_text(per_seed(record, lambda r: second_half_mean(_series(r["images"], key))), 3)
    return f"text {text}, images {images}"


SHEN = ("Shen et al. (2020), abstract: \"We find that the statistics of NLP data across the batch dimension exhibit "
        "large fluctuations throughout training.\"; the text on their Fig. 2: \"The first observation is that "
        "Transformer_BN shows significantly larger distances between the batch statistics and the running "
        "statistics than ResNet20 on Cifar-10, which exhibits close to zero fluctuations.\" (the subscript as _)")


@claim("powernorm_batch_stats", section="10.4", paper="shen2020powernorm",
       statement="Batch means fluctuate more from batch to batch on text than on images (Shen et al., 2020), "
                 "in units of each feature's spread",
       paper_evidence=SHEN,
       size=Size("fluctuation of the batch means, (1/d) sum_i |mu_B,i - mu_i| / sigma_i against the pooled "
                 "statistics, mean over the second half of the checks, text / images",
                 "higher", 1.0, None, "no size (\"significantly larger\"); judged by direction, on the scale-free "
                                      "distance since the two models' features have different scales"))
def text_means_fluctuate_more(record):
    ratios = _ratio(record, "fluct_mean_rel")
    return (f"scale-free fluctuation of the batch means, second half of training: "
            f"{_levels(record, 'fluct_mean_rel')}; text / images {effect_text(ratios)}", ratios)


@claim("powernorm_batch_stats", section="10.4", paper="shen2020powernorm",
       statement="Batch variances fluctuate more from batch to batch on text than on images "
                 "(Shen et al., 2020), relative to each feature's variance",
       paper_evidence=SHEN + " Fig. 2's caption: \"This is true both for the mean (shown in left) as well as "
                             "variance (shown in right).\"",
       size=Size("fluctuation of the batch variances, (1/d) sum_i |var_B,i - var_i| / var_i against the pooled "
                 "statistics, mean over the second half of the checks, text / images",
                 "higher", 1.0, None, "no size; judged by direction, on the scale-free distance"))
def text_variances_fluctuate_more(record):
    ratios = _ratio(record, "fluct_var_rel")
    return (f"scale-free fluctuation of the batch variances, second half of training: "
            f"{_levels(record, 'fluct_var_rel')}; text / images {effect_text(ratios)}", ratios)


@claim("powernorm_batch_stats", section="10.4", kind="reading", paper="shen2020powernorm",
       statement="Our reading of Fig. 2's caption: the images' batch statistics vary orders of magnitude less "
                 "than the text's (at least 10 times less, for the mean, in the paper's own distance)",
       paper_evidence="Shen et al. (2020), Fig. 2's caption: \"We can clearly see that the ResNet20 statistics have "
                      "orders of magnitude smaller variation than the running statistics throughout training.\"",
       size=Size("mean over the second half of training of (1/d) ||mu_B - mu||, text / images", "higher", 1.0, 10.0,
                 "\"orders of magnitude\": we read it as a factor of at least 10 (one order)"))
def orders_of_magnitude(record):
    ratios = _ratio(record, "mean")
    return (f"the paper's distance of the batch means, second half of training: {_levels(record, 'mean')}; "
            f"text / images {effect_text(ratios)}", ratios)
