r"""Chapter 10's ConvNeXt-style network on the digits: batch norm or a channels-last layer norm.

Ba et al. (2016, §6.7) left convolutional networks open: in their preliminary
experiments batch norm did better than layer norm, and "further research is needed"
(chapter 6 repeats that in miniature, :mod:`helpers.experiments.convnet`, where
layer norm normalizes each example over all of ``(C, H, W)``). Liu et al. (2022,
"A ConvNet for the 2020s") put a layer norm in a modernized ConvNet and report
that it trains as well as batch norm: their norm is *channels-last*, one mean and
variance per example **and position**, over the ``C`` channels only, as a
Transformer normalizes each token's features.

:class:`ConvNeXtNet` is that design at the digits' scale: a 3x3 stem convolution
and a norm, ``blocks`` ConvNeXt blocks (depthwise convolution, one norm, a
pointwise MLP of width ``4C`` with GELU, a residual connection), global average
pooling, a norm and a linear read-out. Its norm is one of :data:`NORMS`:

* ``"batch"``: ``nn.BatchNorm2d`` (``BatchNorm1d`` after the pooling), statistics per
  channel over the batch and positions;
* ``"layer"``: ConvNeXt's: :class:`helpers.norms.LayerNorm` over the channels at each
  position (the feature map permuted to channels-last);
* ``"layer_chw"``: chapter 6's layer norm, over ``(C, H, W)`` of each example
  (``GroupNorm(1, C)``).

The registered experiment ``"convnext_digits"`` trains each with chapter 6's loop
(:func:`helpers.experiments.convnet.train_one`: Adam, batches of 64, the same data
and log points) and records its curves. Nothing runs at import.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from .. import norms
from .._checks import check_choice, check_int
from ..data import load_digits_images
from . import claim, experiment, sizes
from ._common import one_thread, per_seed
from .convnet import train_one
from .stats import Size, effect_text

__all__ = ["NORMS", "STILL_TRAINING", "STILL_TRAINING_NATS", "ChannelsLastLayerNorm", "ConvNeXtBlock", "ConvNeXtNet", "final_error",
           "still_training"]

#: The norms compared (see the module docstring).
NORMS = ("batch", "layer", "layer_chw")
#: The depthwise convolution's kernel (ConvNeXt's is 7x7 on larger maps; 5x5 on the 8x8 digits).
KERNEL = 5


class ChannelsLastLayerNorm(nn.Module):
    r"""Layer norm over the channels at each position of a feature map :math:`(N, C, H, W)`, as ConvNeXt's.

    The map is permuted to :math:`(N, H, W, C)`, each of the :math:`N H W` vectors of ``C``
    channels is normalized by :class:`helpers.norms.LayerNorm` (one gain and bias per
    channel), and the result is permuted back.

    Args:
        channels (int): ``C``.

    Shape:
        - Input, Output: :math:`(N, C, H, W)`

    Example::

        >>> y = ChannelsLastLayerNorm(3)(torch.randn(2, 3, 4, 4))
        >>> bool(y.mean(1).abs().max() < 1e-5)  # every position has mean 0 over the channels
        True
    """

    def __init__(self, channels):
        super().__init__()
        self.norm = norms.LayerNorm(check_int(channels, "channels", "ChannelsLastLayerNorm", lo=1))

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (N, C, H, W)


def _norm2d(kind, channels):
    if kind == "layer":
        return ChannelsLastLayerNorm(channels)
    return norms.make("batch" if kind == "batch" else "layer", channels, layout="channels")


class ConvNeXtBlock(nn.Module):
    """``x + pwconv2(gelu(pwconv1(norm(dwconv(x)))))``, the MLP on channels at each position.

    Args:
        norm (str): one of :data:`NORMS`.
        channels (int): ``C``; the MLP is ``C -> 4C -> C``.

    Shape:
        - Input, Output: :math:`(N, C, H, W)`
    """

    def __init__(self, norm, channels):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, KERNEL, padding=KERNEL // 2, groups=channels)  # depthwise
        self.norm = _norm2d(norm, channels)
        self.pwconv1 = nn.Linear(channels, 4 * channels)
        self.pwconv2 = nn.Linear(4 * channels, channels)

    def forward(self, x):
        h = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (N, H, W, C)
        h = self.pwconv2(F.gelu(self.pwconv1(h)))  # (N, H, W, C)
        return x + h.permute(0, 3, 1, 2)  # (N, C, H, W)


class ConvNeXtNet(nn.Module):
    """Stem (3x3 conv, norm), ``blocks`` :class:`ConvNeXtBlock` s, average pooling, norm, linear read-out.

    Args:
        norm (str): one of :data:`NORMS`.
        channels (int): ``C``.
        blocks (int): ConvNeXt blocks. Default: 2

    Shape:
        - Input: :math:`(N, 1, 8, 8)`; Output: :math:`(N, 10)` logits.
    """

    def __init__(self, norm, channels, blocks=2):
        super().__init__()
        self.norm_kind = check_choice(norm, "norm", NORMS, "ConvNeXtNet")
        channels = check_int(channels, "channels", "ConvNeXtNet", lo=1)
        blocks = check_int(blocks, "blocks", "ConvNeXtNet", lo=1)
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.stem_norm = _norm2d(norm, channels)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(norm, channels) for _ in range(blocks)))
        self.head_norm = norms.make("batch" if norm == "batch" else "layer", channels)  # on (N, C)
        self.readout = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.blocks(self.stem_norm(self.stem(x)))  # (N, C, 8, 8)
        return self.readout(self.head_norm(x.mean((2, 3))))  # (N, C) -> (N, 10)


@experiment("convnext_digits", quick=dict(channels=16, blocks=2, steps=200, n_logs=4),
            full=dict(channels=16, blocks=2, steps=1000, n_logs=40),
            engine="torch.nn modules (depthwise conv2d, linear; the norms of helpers.experiments.convnext)",
            summary="Chapter 10: a ConvNeXt-style net on 8x8 digits: batch norm / channels-last layer norm / "
                    "layer norm over (C, H, W) (Liu et al., 2022)")
def convnext_digits(budget, seed, device):
    """Every norm of :data:`NORMS` trained by chapter 6's loop at the budget's sizes; one seed."""
    size = sizes("convnext_digits", budget)
    data = load_digits_images()
    out = {"runs": {}, "seconds": {}}
    with one_thread():  # small models: one thread is fastest, as in chapter 6
        for norm in size.get("norms", NORMS):
            tic = time.perf_counter()
            _, out["runs"][norm] = train_one(norm, channels=size["channels"], steps=size["steps"],
                                             n_logs=size["n_logs"], seed=seed, device=device, data=data,
                                             net=lambda n, c: ConvNeXtNet(n, c, size["blocks"]))
            out["seconds"][norm] = round(time.perf_counter() - tic, 2)
    return out


# --- claims ---------------------------------------------------------------------------------

def final_error(run, norm, k=2):
    """The mean test error (percent) over the last ``k`` log points of ``norm`` in one seed's result."""
    tail = run["runs"][norm]["test_err"][-k:]
    return 100.0 * sum(tail) / len(tail)


#: A run is still training when its training NLL fell by more than this fraction over the last log interval...
STILL_TRAINING = 0.2
#: ... and by more than this many nats: a network that fits its training set (NLL about 0.001) has a
#: training NLL that wanders by tens of percent from one log point to the next without learning anything.
STILL_TRAINING_NATS = 0.01


def still_training(run, norms_=("batch", "layer")):
    """Whether any of ``norms_`` in one seed's result was still training at the end: its training NLL (whole
    training set) fell by more than :data:`STILL_TRAINING` of itself and by more than :data:`STILL_TRAINING_NATS`
    between the last two log points. Its final error then says how fast it trained, not where it ends, and the
    claims on final errors are undecided."""
    def falling(curves):
        a, b = curves["train_nll"][-2:]
        return b < (1 - STILL_TRAINING) * a and a - b > STILL_TRAINING_NATS
    return any(falling(run["runs"][n]) for n in norms_)


def _diff(record, a, b):
    return per_seed(record, lambda r: final_error(r, a) - final_error(r, b))


def _late(record, a, b):
    late = per_seed(record, lambda r: still_training(r, (a, b)))
    note = "" if not any(late) else (f"; in {sum(late)} of {len(late)} seeds a network was still training at the end "
                                     f"(training NLL down by more than {STILL_TRAINING:.0%} and "
                                     f"{STILL_TRAINING_NATS:g} nats over the last log interval), so its final "
                                     "error cannot be read (undecided)")
    return late, note


def _errors(record, norm):
    return effect_text(per_seed(record, lambda r: final_error(r, norm)), 1, "%")


LIU = ("Liu et al. (2022), §2.6: \"We observe that our ConvNet model does not have any difficulties training with LN; "
       "in fact, the performance is slightly better, obtaining an accuracy of 81.5%.\" (81.4% with batch norm just "
       "before, on ImageNet-1K)")


@claim("convnext_digits", section="10.4", paper="liu2022convnet",
       statement="In a ConvNeXt-style network, layer norm (over the channels at each position) in place of batch norm "
                 "does slightly better (Liu et al., 2022)",
       paper_evidence=LIU,
       size=Size("final test error, channels-last layer norm minus batch norm (percentage points)", "lower", 0.0,
                 None, "\"slightly better\": 81.5% against 81.4% on ImageNet, a size that does not carry to 8x8 "
                       "digits; judged by direction"))
def ln_slightly_better_than_bn(record):
    d = _diff(record, "layer", "batch")
    late, note = _late(record, "layer", "batch")
    return (f"final test error: layer norm {_errors(record, 'layer')}, batch norm {_errors(record, 'batch')}; "
            f"layer minus batch {effect_text(d, 2)} points{note}", d, late)


@claim("convnext_digits", section="10.4", kind="reading", paper="liu2022convnet",
       statement="Our reading: the ConvNeXt-style network has no difficulty training with layer norm "
                 "(its test error at most 1 point above batch norm's)",
       paper_evidence=LIU,
       size=Size("final test error, channels-last layer norm minus batch norm (percentage points)", "lower", 0.0,
                 1.0, "\"does not have any difficulties\": no number; we read it as at most 1 point worse"))
def ln_trains_without_difficulty(record):
    d = _diff(record, "layer", "batch")
    late, note = _late(record, "layer", "batch")
    return f"layer minus batch norm, final test error: {effect_text(d, 2)} points{note}", d, late


@claim("convnext_digits", section="10.4", kind="reading", paper="liu2022convnet",
       statement="Our reading: in the ConvNeXt-style network, ConvNeXt's layer norm (per position, over channels) "
                 "does at least as well as chapter 6's layer norm over (C, H, W)",
       paper_evidence="The book's comparison: ConvNeXt's norm is the Transformer's (one token, its features); "
                      "Ba et al.'s §6.7 normalizes the whole layer, boundary positions with the centre",
       size=Size("final test error, channels-last minus (C, H, W) layer norm (percentage points)", "lower", 0.0,
                 0.0, "no size; at least as well: a difference of at most 0"))
def per_position_ln_vs_whole_layer(record):
    d = _diff(record, "layer", "layer_chw")
    late, note = _late(record, "layer", "layer_chw")
    return (f"final test error: per position {_errors(record, 'layer')}, over (C, H, W) "
            f"{_errors(record, 'layer_chw')}; difference {effect_text(d, 2)} points{note}", d, late)
