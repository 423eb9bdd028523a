r"""The paper's convolutional-network remark (§6.7), in miniature.

The paper reports, without a figure, that in "preliminary experiments" with
convolutional networks layer norm sped training up over a baseline without
normalization but batch norm did better; its explanation is that units whose
receptive fields lie near the boundary of the image are rarely turned on and
so have statistics very different from the rest of the layer, which one mean
and variance per layer cannot fit.

Here: a three-layer convolutional network on scikit-learn's 8x8 digits
(:func:`helpers.data.load_digits_images`), with each convolution followed by
one of :data:`NORMS`:

* ``"none"``;
* ``"batch"``: :class:`torch.nn.BatchNorm2d`, statistics per channel over
  ``(N, H, W)``;
* ``"layer"``: layer norm over ``(C, H, W)``, one mean and variance per
  example, as the paper's definition asks ("all the hidden units in a layer"),
  with a per-channel gain and bias: ``GroupNorm(1, C)``;
* ``"group"``: ``GroupNorm(G, C)`` with :data:`GROUPS` groups of channels;
* ``"instance"``: statistics per example and channel over ``(H, W)``:
  ``GroupNorm(C, C)``.

:func:`train_one` trains one network and returns it with its curves, so a
chapter can look inside it; :func:`summed_inputs` and :func:`position_stats`
measure the statistics of the units at each position. The registered
experiment ``"convnet_digits"`` trains every norm for one seed and records
the curves and, for the network without normalization, the per-position
statistics of its first two layers. Nothing runs at import.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import norms
from .._checks import check_choice, check_instance, check_int
from ..data import load_digits_images
from . import claim, experiment, sizes
from ._common import spread_text
from .stats import Size

_PAPER_67 = ("'layer normalization offers a speedup over the baseline model without normalization, but batch "
             "normalization outperforms the other methods' (preliminary experiments): no size stated")

__all__ = ["NORMS", "GROUPS", "LR", "BATCH_SIZE", "ConvNet", "train_one", "train_convnets",
           "summed_inputs", "position_stats", "boundary_mask"]

#: The normalizations compared.
NORMS = ("none", "batch", "layer", "group", "instance")
#: Groups of channels for ``"group"``.
GROUPS = 4
#: Adam's learning rate and the batch size of every run.
LR = 3e-3
BATCH_SIZE = 64


class ConvNet(nn.Module):
    """Three 3x3 convolutions (zero padding 1) with a norm and ReLU each, then average pooling and a linear read-out.

    ``(N, 1, 8, 8)`` → conv ``C`` → norm → ReLU → conv ``C`` → norm → ReLU →
    2x2 max pool → conv ``2C`` → norm → ReLU → mean over positions → linear 10.

    Args:
        norm (str): one of :data:`NORMS`.
        channels (int): ``C``, a multiple of :data:`GROUPS`.

    Shape:
        - Input: :math:`(N, 1, 8, 8)`
        - Output: :math:`(N, 10)` logits.
    """

    def __init__(self, norm, channels):
        super().__init__()
        channels = check_int(channels, "channels", "ConvNet", lo=GROUPS)
        if channels % GROUPS:
            raise ValueError(f"ConvNet: channels must be a multiple of {GROUPS}, got {channels}")
        self.norm_kind = check_choice(norm, "norm", NORMS, "ConvNet")
        widths = (1, channels, channels, 2 * channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(norms.make(norm, b, layout="channels", groups=GROUPS) for b in widths[1:])
        self.readout = nn.Linear(widths[-1], 10)

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = F.relu(norm(conv(x)))  # (N, C_i, H, W)
            if i == 1:
                x = F.max_pool2d(x, 2)  # (N, C, 8, 8) -> (N, C, 4, 4)
        return self.readout(x.mean((2, 3)))  # (N, 2C) -> (N, 10)


@torch.no_grad()
def _evaluate(model, x, y):
    model.eval()
    logits = model(x)  # (N, 10)
    out = F.cross_entropy(logits, y).item(), (logits.argmax(1) != y).float().mean().item()
    model.train()
    return out


def train_one(norm, *, channels, steps, n_logs, seed=0, device="cpu", data=None, net=None):
    """Train one :class:`ConvNet` with Adam (:data:`LR`, batches of :data:`BATCH_SIZE`); return ``(model, curves)``.

    Args:
        norm (str): one of :data:`NORMS`.
        channels (int): ``C``.
        steps (int): optimizer steps.
        n_logs (int): log points after the start, evenly spaced in steps.
        seed (int): seeds the initial weights and the batch order.
        device: where to train.
        data: ``((x, y), (x_test, y_test))`` images; default :func:`helpers.data.load_digits_images`.
        net (callable or None): ``net(norm, channels)`` builds the network; default :class:`ConvNet`
            (e.g. a subclass with other norms, built from the same seed).

    Returns:
        the trained model (in evaluation mode) and a dict of lists over log
        points: ``step``, ``train_nll`` (whole training set), ``test_nll`` and
        ``test_err``, all in evaluation mode.
    """
    where = "train_one"
    steps = check_int(steps, "steps", where, lo=1)
    n_logs = check_int(n_logs, "n_logs", where, lo=1)
    (x, y), (xt, yt) = load_digits_images() if data is None else data
    device = torch.device(device)
    x, y, xt, yt = x.to(device), y.to(device), xt.to(device), yt.to(device)
    torch.manual_seed(seed)
    model = (ConvNet if net is None else net)(norm, channels).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    log_at = set(np.linspace(0, steps, n_logs + 1).round().astype(int).tolist())
    curves = {"step": [], "train_nll": [], "test_nll": [], "test_err": []}
    per_epoch = len(y) // BATCH_SIZE
    order = None
    for step in range(steps + 1):
        if step in log_at:
            values = (step, _evaluate(model, x, y)[0], *_evaluate(model, xt, yt))
            for key, value in zip(curves, values):
                curves[key].append(value)
        if step == steps:
            break
        if step % per_epoch == 0:
            order = torch.randperm(len(y), generator=gen)[: per_epoch * BATCH_SIZE].view(per_epoch, BATCH_SIZE)
        idx = order[step % per_epoch].to(device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval(), curves


@torch.no_grad()
def summed_inputs(model, x, layer):
    """The summed inputs (convolution outputs, before the norm) of ``layer`` (0, 1 or 2) for images ``x``.

    Returns:
        Tensor :math:`(N, C_\\text{layer}, H, W)`.
    """
    check_instance(model, ConvNet, "model", "summed_inputs", "a ConvNet")
    layer = check_int(layer, "layer", "summed_inputs", lo=0, hi=len(model.convs) - 1)
    was_training = model.training
    model.eval()
    h = x
    for i in range(layer + 1):
        a = model.convs[i](h)  # (N, C_i, H, W)
        h = F.relu(model.norms[i](a))
        if i == 1:
            h = F.max_pool2d(h, 2)
    model.train(was_training)
    return a


def boundary_mask(height, width, ring=1):
    """Bool ``(height, width)``: ``True`` within ``ring`` positions of the edge (the boundary units)."""
    rows = torch.arange(height)[:, None]  # (H, 1)
    cols = torch.arange(width)[None, :]  # (1, W)
    return (rows < ring) | (rows >= height - ring) | (cols < ring) | (cols >= width - ring)  # (H, W)


def position_stats(a):
    """Per-position statistics of summed inputs ``a`` :math:`(N, C, H, W)`.

    Returns:
        dict of ``(H, W)`` lists: ``active`` (the fraction of the ``N x C``
        values above 0, how often a ReLU unit there is turned on), ``mean``
        and ``std`` (each unit's mean and standard deviation over the ``N``
        examples, averaged over the ``C`` channels), and the scalars
        ``boundary_active``, ``centre_active``, ``boundary_std``,
        ``centre_std``: the same averaged over the boundary ring
        (:func:`boundary_mask`) and over the rest.
    """
    if not (isinstance(a, torch.Tensor) and a.dim() == 4):
        raise ValueError(f"position_stats: a must be a (N, C, H, W) tensor, got {getattr(a, 'shape', a)!r}")
    a = a.double()
    active = (a > 0).double().mean((0, 1))  # (H, W): over examples and channels
    mean = a.mean(0).mean(0)  # (H, W): unit means over examples, averaged over channels
    std = a.std(0).mean(0)  # (H, W): unit stds over examples, averaged over channels
    edge = boundary_mask(*a.shape[2:])
    out = {"active": active.tolist(), "mean": mean.tolist(), "std": std.tolist()}
    for name, t in (("active", active), ("std", std)):
        out[f"boundary_{name}"] = t[edge].mean().item()
        out[f"centre_{name}"] = t[~edge].mean().item()
    return out


def train_convnets(run_sizes, seed=0, device="cpu"):
    """Every norm of the experiment with ``run_sizes`` (``channels``, ``steps``, ``n_logs``, optional ``norms``); one seed.

    Returns:
        ``{"runs": {norm: curves}, "seconds": {norm: s}, "positions": {"layer1": ..., "layer2": ...}}``
        with curves as :func:`train_one` returns them and :func:`position_stats`
        of the trained network without normalization (if ``"none"`` ran) on the test images.
    """
    where = "train_convnets"
    check_instance(run_sizes, dict, "run_sizes", where, "a dict")
    missing = {"channels", "steps", "n_logs"} - set(run_sizes)
    if missing:
        raise ValueError(f"{where}: run_sizes is missing {sorted(missing)}")
    data = load_digits_images()
    out = {"runs": {}, "seconds": {}, "positions": {}}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest, and leaves the other cores alone
    try:
        for norm in run_sizes.get("norms", NORMS):
            tic = time.perf_counter()
            model, out["runs"][norm] = train_one(norm, channels=run_sizes["channels"], steps=run_sizes["steps"],
                                                 n_logs=run_sizes["n_logs"], seed=seed, device=device, data=data)
            out["seconds"][norm] = round(time.perf_counter() - tic, 2)
            if norm == "none":
                x_test = data[1][0].to(device)
                for layer in (0, 1):
                    out["positions"][f"layer{layer + 1}"] = position_stats(summed_inputs(model, x_test, layer).cpu())
    finally:
        torch.set_num_threads(threads)
    return out


@experiment("convnet_digits", quick=dict(channels=16, steps=240, n_logs=12),
            full=dict(channels=16, steps=1000, n_logs=40),
            engine="torch.nn modules (conv2d, the norms of helpers.experiments.convnet)", 
            summary="ConvNet on 8x8 digits: none / batch / layer / group / instance norm (paper §6.7)")
def convnet_digits(budget, seed, device):
    """The registered experiment: :func:`train_convnets` at the budget's sizes."""
    return train_convnets(sizes("convnet_digits", budget), seed, device)


# ---------------------------------------------------------------------------
# The paper's claims, checked on a record
# ---------------------------------------------------------------------------

def _per_seed(record, norm, fn):
    return np.array([fn(r["runs"][norm]) for r in record["runs"]], dtype=float)  # (n_seeds,)


def _pm(values, decimals=2, unit=""):
    """``mean (smallest to largest)`` of per-seed values, as in the results table (never ``-0.0``)."""
    return spread_text(values, decimals, unit)


def _area(curves):
    """Mean of the log training NLL over the log points: lower means faster training."""
    return float(np.mean(np.log(np.maximum(curves["train_nll"], 1e-12))))


@claim("convnet_digits", section="6.7",
       statement="In a convolutional network, layer norm speeds up training over no normalization",
       paper_evidence="A sentence on 'preliminary experiments'; no figure, table or numbers",
       size=Size("mean log training NLL over the run, layer norm minus none", "lower", 0.0, None, _PAPER_67))
def ln_speeds_up_convnet(record):
    """Per seed, the mean log training NLL over the run (lower is faster), layer norm vs none."""
    ln, none = _per_seed(record, "layer", _area), _per_seed(record, "none", _area)
    text = (f"mean log training NLL over the run: layer norm {_pm(ln)}, none {_pm(none)} "
            f"({len(record['seeds'])} seeds, {record['budget']} budget)")
    return text, list(ln - none)


@claim("convnet_digits", section="6.7",
       statement="In a convolutional network, batch norm trains faster than layer norm",
       paper_evidence="A sentence on 'preliminary experiments' (batch norm 'outperforms the other methods'); "
                      "no figure, table or numbers",
       size=Size("mean log training NLL over the run, batch norm minus layer norm", "lower", 0.0, None, _PAPER_67))
def bn_faster_than_ln(record):
    """Per seed, the mean log training NLL over the run (lower is faster), batch norm vs layer norm."""
    bn, ln = _per_seed(record, "batch", _area), _per_seed(record, "layer", _area)
    text = (f"mean log training NLL over the run: batch norm {_pm(bn)}, layer norm {_pm(ln)} "
            f"({len(record['seeds'])} seeds, {record['budget']} budget)")
    return text, list(bn - ln)


@claim("convnet_digits", section="6.7",
       statement="In a convolutional network, batch norm ends with a lower test error than layer norm",
       paper_evidence="A sentence on 'preliminary experiments' (batch norm 'outperforms the other methods'); "
                      "no figure, table or numbers",
       size=Size("final test error, batch norm minus layer norm (percentage points)", "lower", 0.0, None, _PAPER_67))
def bn_beats_ln_test_error(record):
    """Per seed, the final test error, batch norm vs layer norm."""
    bn = _per_seed(record, "batch", lambda c: c["test_err"][-1])
    ln = _per_seed(record, "layer", lambda c: c["test_err"][-1])
    text = (f"final test error: batch norm {_pm(100 * bn, 1, '%')}, layer norm {_pm(100 * ln, 1, '%')} "
            f"({len(record['seeds'])} seeds, {record['budget']} budget)")
    return text, list(100 * (bn - ln))


def _positions(record, key, layer="layer1"):
    return np.array([r["positions"][layer][key] for r in record["runs"]], dtype=float)  # (n_seeds,)


@claim("convnet_digits", section="6.7",
       statement="Units near the image boundary have statistics very different from the rest of the layer",
       paper_evidence="Stated as the explanation of the result above, without a measurement",
       size=Size("|log(standard deviation at the boundary / in the centre)|, first layer, no norm", "higher", 0.0,
                 math.log(4 / 3), "'very different': no number; we read it as a ratio beyond 4/3 either way "
                 "(|log ratio| ≥ 0.29)"))
def boundary_units_differ(record):
    """Per seed, the first layer's standard deviation over examples at the boundary ring vs the centre (no norm)."""
    edge, centre = _positions(record, "boundary_std"), _positions(record, "centre_std")
    ratio = edge / centre
    text = (f"first layer, no norm: standard deviation at the boundary / in the centre {_pm(ratio, 2)} "
            f"({len(record['seeds'])} seeds, {record['budget']} budget)")
    return text, list(np.abs(np.log(ratio)))


#: Below this fraction of the time, a unit counts as "rarely turned on".
RARELY = 0.5


@claim("convnet_digits", section="6.7",
       statement="Units near the image boundary are rarely turned on",
       paper_evidence="Stated as the explanation of the result above, without a measurement",
       size=Size("fraction of the time a first-layer boundary unit is on (no norm)", "lower", RARELY, None,
                 "'rarely': no number; we read it as less than half the time"))
def boundary_units_rarely_on(record):
    """Per seed, the fraction of first-layer boundary units turned on (summed input > 0), against :data:`RARELY`."""
    edge, centre = _positions(record, "boundary_active"), _positions(record, "centre_active")
    text = (f"first layer, no norm: on {_pm(100 * edge, 0, '%')} of the time at the boundary, "
            f"{_pm(100 * centre, 0, '%')} in the centre ({len(record['seeds'])} seeds, {record['budget']} budget)")
    return text, list(edge)
