r"""The paper's permutation-invariant classifier (§6.6, Fig. 6), in miniature.

The paper trains a 784-1000-1000-10 network on permutation-invariant MNIST
with Adam, at batch sizes 128 and 4, with batch norm on *every* layer (the
logits included) or layer norm on the *hidden* layers only (the logits keep
their scale, which sets the prediction's confidence); at batch size 4 batch
norm's variance is the unbiased estimate. Its claim: layer norm is robust to
the batch size and converges faster than batch norm.

Here: scikit-learn's 8x8 digits flattened to 64 inputs
(:func:`helpers.data.load_digits_images`), a ``64-H-H-10`` ReLU network with
no norm, batch norm or layer norm placed as in the paper, Adam, the same two
batch sizes, trained for the same number of *epochs* at both batch sizes (so
batch size 4 takes 32 times as many steps). Each log point records the
training-set negative log-likelihood and the test error, both in evaluation
mode (batch norm then uses its running averages).

:func:`train_ffn` is the experiment with its sizes passed in (the tests call
it with tiny sizes); the registered experiment ``"ffn_digits"`` looks its
sizes up by budget. Nothing runs at import.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._checks import check_choice, check_instance, check_int
from ..data import load_digits_images
from . import claim, experiment, sizes
from ._common import spread_text
from .stats import Size

__all__ = ["NORMS", "VARIANTS", "BATCH_SIZES", "LR", "BatchNorm", "build_mlp", "train_one", "train_ffn",
           "epochs_to_reach"]

#: The normalizations compared: none, batch norm on every layer, layer norm on the hidden layers.
NORMS = ("none", "batch", "layer")
#: What :func:`build_mlp` also accepts: batch norm on the hidden layers only (not the paper's placement).
VARIANTS = NORMS + ("batch-hidden",)
#: The paper's two batch sizes (Fig. 6, left and right).
BATCH_SIZES = (128, 4)
#: Adam's learning rate in every run.
LR = 1e-3
#: Batch norm's variance is unbiased at batch sizes up to this one (the paper: "for the smaller batch-size").
UNBIASED_UP_TO = 16


class BatchNorm(nn.Module):
    r"""Batch norm of ``(B, C)`` inputs whose batch variance may be the unbiased one.

    .. math::
        y = \frac{x - \bar x}{\sqrt{s^2 + \epsilon}} \odot \gamma + \beta,
        \qquad s^2 = \frac{1}{B - u} \sum_b (x_b - \bar x)^2

    with :math:`u = 1` when ``unbiased`` (the paper's choice at batch size 4)
    and :math:`u = 0` otherwise (:class:`torch.nn.BatchNorm1d`). Running
    averages are kept as torch does (momentum 0.1, unbiased variance) and
    normalize in evaluation mode.

    Args:
        num_features (int): ``C``.
        unbiased (bool): divide by ``B - 1`` in training mode. Default: ``False``
        eps (float): added to the variance. Default: 1e-5

    Shape:
        - Input: :math:`(B, C)`, ``B >= 2`` in training mode.
        - Output: :math:`(B, C)`.
    """

    def __init__(self, num_features, unbiased=False, eps=1e-5):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", "BatchNorm", lo=1)
        self.unbiased = bool(unbiased)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            B = x.shape[0]
            if B < 2:
                raise ValueError(f"BatchNorm: batch statistics need a batch of at least 2, got {tuple(x.shape)}")
            d = x - x.mean(0)  # (B, C): centred over the batch
            ss = (d * d).sum(0)  # (C,): sum of squares over the batch
            with torch.no_grad():
                self.running_mean.mul_(0.9).add_(0.1 * (x - d)[0])
                self.running_var.mul_(0.9).add_(0.1 * ss / (B - 1))
            return d * torch.rsqrt(ss / (B - 1 if self.unbiased else B) + self.eps) * self.weight + self.bias
        return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps) * self.weight + self.bias

    def extra_repr(self):
        return f"{self.num_features}, unbiased={self.unbiased}"


def build_mlp(norm, hidden, batch_size, n_in=64, n_out=10, unbiased=None):
    """The ``n_in - hidden - hidden - n_out`` ReLU network with ``norm`` placed as in the paper.

    ``"batch"``: :class:`BatchNorm` after every linear layer, the logits'
    included, unbiased when ``batch_size <= 16``; ``"layer"``:
    :class:`torch.nn.LayerNorm` after the two hidden linear layers only;
    ``"none"``: neither; ``"batch-hidden"``: :class:`BatchNorm` after the
    hidden layers only, like layer norm (a variant for comparison).
    ``unbiased`` (bool or None) overrides the choice of batch norm's variance;
    ``None`` takes the unbiased one for ``batch_size <= UNBIASED_UP_TO``.
    """
    where = "build_mlp"
    norm = check_choice(norm, "norm", VARIANTS, where)
    hidden = check_int(hidden, "hidden", where, lo=1)
    small = check_int(batch_size, "batch_size", where, lo=2) <= UNBIASED_UP_TO
    unbiased = small if unbiased is None else check_instance(unbiased, bool, "unbiased", where, "a bool or None")
    layers, width = [], n_in
    for out, is_hidden in ((hidden, True), (hidden, True), (n_out, False)):
        layers.append(nn.Linear(width, out))
        if norm == "batch" or (norm == "batch-hidden" and is_hidden):
            layers.append(BatchNorm(out, unbiased=unbiased))
        elif norm == "layer" and is_hidden:
            layers.append(nn.LayerNorm(out))
        if is_hidden:
            layers.append(nn.ReLU())
        width = out
    return nn.Sequential(*layers)


@torch.no_grad()
def _evaluate(model, x, y):
    model.eval()
    logits = model(x)  # (N, 10)
    nll = F.cross_entropy(logits, y).item()
    err = (logits.argmax(1) != y).float().mean().item()
    model.train()
    return nll, err


def train_one(norm, batch_size, *, hidden, epochs, n_logs, seed=0, device="cpu", data=None, unbiased=None):
    """Train one network of :func:`build_mlp` with Adam; return ``(model, curves)``.

    Args:
        norm (str): one of :data:`VARIANTS`.
        batch_size (int): at least 2; each epoch is ``N // batch_size`` steps
            over a fresh shuffle (the last incomplete batch is dropped).
        hidden (int): ``H``.
        epochs (int): passes over the training set.
        n_logs (int): log points after the start, evenly spaced in steps.
        seed (int): seeds the initial weights and the batch order.
        device: where to train.
        data: ``((x, y), (x_test, y_test))`` with flat inputs; default
            :func:`helpers.data.load_digits_images` ``(flatten=True)``.
        unbiased (bool or None): batch norm's variance (:func:`build_mlp`).

    Returns:
        the trained model and a dict of lists over log points: ``epoch``
        (fractional), ``train_nll`` (nats per example, whole training set),
        ``test_nll`` and ``test_err``, all in evaluation mode.
    """
    where = "train_one"
    epochs = check_int(epochs, "epochs", where, lo=1)
    n_logs = check_int(n_logs, "n_logs", where, lo=1)
    (x, y), (xt, yt) = load_digits_images(flatten=True) if data is None else data
    device = torch.device(device)
    x, y, xt, yt = x.to(device), y.to(device), xt.to(device), yt.to(device)
    torch.manual_seed(seed)
    model = build_mlp(norm, hidden, batch_size, n_in=x.shape[1], unbiased=unbiased).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    per_epoch = len(y) // batch_size
    steps = epochs * per_epoch
    log_at = set(np.linspace(0, steps, n_logs + 1).round().astype(int).tolist())
    curves = {"epoch": [], "train_nll": [], "test_nll": [], "test_err": []}

    def log(step):
        train_nll = _evaluate(model, x, y)[0]
        test_nll, test_err = _evaluate(model, xt, yt)
        for key, value in zip(curves, (step / per_epoch, train_nll, test_nll, test_err)):
            curves[key].append(value)

    log(0)
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)[: per_epoch * batch_size].view(per_epoch, batch_size)
        for idx in order.to(device):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step in log_at:
                log(step)
    return model, curves


def train_ffn(run_sizes, seed=0, device="cpu", unbiased=None):
    """Every run of the experiment (each norm at each batch size) with ``run_sizes``; one seed.

    Args:
        run_sizes (dict): ``hidden``, ``n_logs``, ``batch_sizes`` (a list) and
            ``epochs`` (a list, one per batch size), and optionally ``norms``
            (default :data:`NORMS`; any of :data:`VARIANTS`) and ``controls``, extra
            runs named ``"NORM/BATCH"`` (trained for that batch size's epochs).
        seed (int): seeds every run.
        device: where to train.
        unbiased (bool or None): batch norm's variance in every run (:func:`build_mlp`).

    Returns:
        ``{"runs": {"NORM/BATCH": curves}, "seconds": {"NORM/BATCH": s}}``,
        curves as :func:`train_one` returns them.
    """
    import time

    where = "train_ffn"
    check_instance(run_sizes, dict, "run_sizes", where, "a dict")
    missing = {"hidden", "n_logs", "batch_sizes", "epochs"} - set(run_sizes)
    if missing:
        raise ValueError(f"{where}: run_sizes is missing {sorted(missing)}")
    if len(run_sizes["epochs"]) != len(run_sizes["batch_sizes"]):
        raise ValueError(f"{where}: run_sizes needs one number of epochs per batch size")
    data = load_digits_images(flatten=True)
    out = {"runs": {}, "seconds": {}}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and leaves the other cores alone
    try:
        epochs_of = dict(zip(run_sizes["batch_sizes"], run_sizes["epochs"]))
        runs = [(norm, bs) for bs in run_sizes["batch_sizes"] for norm in run_sizes.get("norms", NORMS)]
        for name in run_sizes.get("controls", []):
            norm, bs = name.split("/")
            if int(bs) not in epochs_of:
                raise ValueError(f"{where}: the control {name!r} needs a batch size of batch_sizes")
            runs.append((norm, int(bs)))
        for norm, bs in runs:
            tic = time.perf_counter()
            _, curves = train_one(norm, bs, hidden=run_sizes["hidden"], epochs=epochs_of[bs],
                                  n_logs=run_sizes["n_logs"], seed=seed, device=device, data=data, unbiased=unbiased)
            out["runs"][f"{norm}/{bs}"] = curves
            out["seconds"][f"{norm}/{bs}"] = round(time.perf_counter() - tic, 2)
    finally:
        torch.set_num_threads(threads)
    return out


@experiment("ffn_digits", quick=dict(hidden=64, batch_sizes=[128, 4], epochs=[30, 5], n_logs=30,
                                 controls=["batch-hidden/128"]),
            full=dict(hidden=128, batch_sizes=[128, 4], epochs=[60, 15], n_logs=60, controls=["batch-hidden/128"]),
            engine="torch.nn modules (an MLP)", 
            summary="MLP on flat digits: none / batch / layer norm at batch sizes 128 and 4 (paper §6.6, Fig. 6)")
def ffn_digits(budget, seed, device):
    """The registered experiment: :func:`train_ffn` at the budget's sizes."""
    return train_ffn(sizes("ffn_digits", budget), seed, device)


# ---------------------------------------------------------------------------
# The paper's claims, checked on a record
# ---------------------------------------------------------------------------

def epochs_to_reach(curves, target, key="train_nll"):
    """The first logged epoch at which ``curves[key] <= target``; ``inf`` if never."""
    for epoch, value in zip(curves["epoch"], curves[key]):
        if value <= target:
            return float(epoch)
    return math.inf


def _per_seed(record, run, fn):
    return np.array([fn(r["runs"][run]) for r in record["runs"]], dtype=float)  # (n_seeds,)


def _pm(values, decimals=2, unit=""):
    """``mean (smallest to largest)`` of per-seed values, e.g. ``0.03 (0.02 to 0.04)``, as in the results table.

    Seeds that never got there (``inf``) are counted, not averaged: ``never`` if all of them.
    """
    return spread_text(values, decimals, unit)


def _seeds_budget(record):
    return f"{len(record['seeds'])} seeds, {record['budget']} budget"


def _final(key):
    return lambda curves: curves[key][-1]


@claim("ffn_digits", section="6.6",
       statement="Layer norm is robust to the batch size: going from batch size 128 to 4 "
                 "costs it less test error than it costs batch norm",
       paper_evidence="Fig. 6: at batch size 4 batch norm's test error and training NLL are "
                      "clearly worse than at 128, layer norm's hardly change (one curve each)",
       size=Size("change of the final test error from batch size 128 to 4, layer norm minus batch norm "
                 "(percentage points)", "lower", 0.0, None,
                 "'Layer normalization is robust to the batch-sizes': no size stated"))
def robust_to_batch_size(record):
    """Per seed, the change of the final test error from batch size 128 to 4, layer norm vs batch norm."""
    small, large = min(BATCH_SIZES), max(BATCH_SIZES)
    change = {n: _per_seed(record, f"{n}/{small}", _final("test_err"))
              - _per_seed(record, f"{n}/{large}", _final("test_err")) for n in ("layer", "batch")}
    text = (f"test error from batch size {large} to {small}: layer norm {_pm(100 * change['layer'], 1)}, "
            f"batch norm {_pm(100 * change['batch'], 1)} percentage points ({_seeds_budget(record)})")
    return text, list(100 * (change["layer"] - change["batch"]))


def _epochs_ratio(a, b, total):
    """Per seed, epochs ``a / b`` to a target, bounded where a side never got there within ``total`` epochs.

    A side that never got there needed more than ``total`` epochs, so ``a / b`` is below
    ``a / total`` when only ``b`` never did, and above ``total / b`` when only ``a`` never
    did: the bound is the effect, the conservative value for the claim that ``a`` is faster.
    Neither got there: 1 (no effect).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a_, b_ = np.where(np.isinf(a), total, a), np.where(np.isinf(b), total, b)
    return np.where(np.isinf(a) & np.isinf(b), 1.0, a_ / b_)  # (n_seeds,)


#: The training NLL that counts as "converged" for the speed claim (nats per example).
TARGET_NLL = 0.05


@claim("ffn_digits", section="6.6",
       statement="Layer norm converges faster than batch norm (at both batch sizes; the paper's batch norm "
                 "also normalizes the logits: see the control below)",
       paper_evidence="Fig. 6: layer norm's training NLL falls faster than batch norm's at "
                      "batch sizes 128 and 4 (one curve each)",
       size=Size("epochs to the target training NLL, layer norm / batch norm, the larger of the two batch sizes' "
                 "ratios", "lower", 1.0, None,
                 "'exhibits a faster training convergence comparing to batch normalization': no size stated"))
def converges_faster(record):
    """Per seed, the epochs to reach a training NLL of :data:`TARGET_NLL`, layer vs batch norm, at both sizes.

    The effect of a seed is the larger (worse for layer norm) of its two ratios; where a norm never
    reached the target, the run's length stands in for its epochs (:func:`_epochs_ratio`: a bound),
    and a batch size at which neither did counts as no effect (1).
    """
    parts, ratios = [], []
    for bs in BATCH_SIZES:
        ln = _per_seed(record, f"layer/{bs}", lambda c: epochs_to_reach(c, TARGET_NLL))
        bn = _per_seed(record, f"batch/{bs}", lambda c: epochs_to_reach(c, TARGET_NLL))
        parts.append(f"batch size {bs}: layer norm {_pm(ln, 1)}, batch norm {_pm(bn, 1)}")
        total = record["runs"][0]["runs"][f"layer/{bs}"]["epoch"][-1]
        ratios.append(_epochs_ratio(ln, bn, total))
    text = (f"epochs to a training NLL of {TARGET_NLL}: " + "; ".join(parts) + f" ({_seeds_budget(record)}; where "
            "a norm never got there, the ratio uses the run's length: a bound)")
    return text, list(np.max(ratios, axis=0))


@claim("ffn_digits", section="6.6",
       statement="Control, not a claim of the paper: at batch size 128 layer norm also converges faster than "
                 "batch norm placed like it, on the hidden layers only",
       paper_evidence="None: the paper's batch norm normalizes the logits too, which caps the network's confidence "
                      "until its gain grows; this control separates that from batch statistics",
       size=Size("epochs to the target training NLL at batch size 128, layer norm / batch norm on the hidden layers",
                 "lower", 1.0, None, "not the paper's claim, so no size; judged by direction"), kind="control")
def control_hidden_only(record):
    """Per seed, the epochs to :data:`TARGET_NLL` at batch size 128, layer norm vs batch norm on the hidden layers."""
    bs = max(BATCH_SIZES)
    ln = _per_seed(record, f"layer/{bs}", lambda c: epochs_to_reach(c, TARGET_NLL))
    bnh = _per_seed(record, f"batch-hidden/{bs}", lambda c: epochs_to_reach(c, TARGET_NLL))
    ratio = _epochs_ratio(ln, bnh, record["runs"][0]["runs"][f"layer/{bs}"]["epoch"][-1])
    text = (f"epochs to a training NLL of {TARGET_NLL} at batch size {bs}: layer norm {_pm(ln, 1)}, batch norm on "
            f"the hidden layers {_pm(bnh, 1)}, batch norm on every layer "
            f"{_pm(_per_seed(record, f'batch/{bs}', lambda c: epochs_to_reach(c, TARGET_NLL)), 1)} "
            f"({_seeds_budget(record)})")
    return text, list(ratio)
