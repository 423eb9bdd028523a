r"""The one training loop of the book, and the numbers it records.

Every chapter that trains calls :func:`train`: mini-batch gradient descent on
a model and a data set held in memory, with a seeded batch order, an optional
gradient-norm clip and a progress bar, returning a :class:`History` whose
lists plot directly (``plt.plot(h.step, h.loss)``). :func:`evaluate` scores a
model on a data set. The training budget (``"quick"`` or ``"full"``) is
chosen once, by the notebook (:func:`helpers.repro.budget`); an experiment
maps it to sizes (e.g. :data:`helpers.experiments.sequences.SIZES`) and passes it
on as ``train(..., budget=...)``, and :class:`History` records what was
passed -- :func:`train` never guesses it from the device.

Data are pairs ``(x, y)`` of tensors. Which axis holds the examples:

* inputs ``x``: axis 1 for 3-d tensors -- time-major sequences ``(T, N, I)``,
  as in ``book/notation.md`` -- and axis 0 otherwise (``(N, D)`` features);
* targets ``y``: axis 0 (``(N,)`` labels or ``(N,)`` / ``(N, K)`` regression
  targets), except for per-step class labels, which have the input's shape
  without its feature axis, e.g. ``(T, N)`` for ``x`` of shape ``(T, N, I)``.

Tasks: ``"classify"`` -- the model returns logits with a class axis last,
shaped ``y.shape + (C,)``, and the loss is the cross-entropy averaged over all
labels; ``"regress"`` -- the model returns ``y.shape`` and the loss is the mean
squared error.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._checks import ArgTypeError, check_choice, check_instance, check_int, check_real
from .repro import BUDGETS, pick_device

__all__ = ["TASKS", "OPTIMIZERS", "History", "train", "evaluate"]

#: The values of ``task``.
TASKS = ("classify", "regress")

#: Optimizers :func:`train` knows by name.
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

@dataclasses.dataclass
class History:
    """What :func:`train` recorded, one entry per logging point.

    Lists (same length, one entry per log point):
        step: the number of optimizer steps taken so far.
        loss: mean training loss over the steps since the previous log point.
        grad_norm: mean gradient norm (before clipping) over those steps.
        wall_time: seconds of training since the start, evaluation excluded.
        test_loss: loss on the test set, or ``None`` (the field) without test data.
        accuracy: fraction correct, on the test set if there is one (else the
            mean over the training batches since the previous log point);
            ``None`` (the field) for regression.

    Scalars: ``task``, ``accuracy_on`` (``"test"``, ``"train"`` or ``None``),
    ``device``, ``budget`` (what the caller passed to :func:`train`:
    ``"quick"``, ``"full"`` or ``None``), ``seed``, ``n_params`` (trainable parameters),
    ``steps`` (asked for), ``batch_size``, ``lr``, ``optimizer``, ``clip_grad``
    and ``diverged`` (training stopped early on a non-finite loss).
    """

    task: str
    device: str
    budget: str | None
    seed: int
    n_params: int
    steps: int
    batch_size: int
    lr: float
    optimizer: str
    clip_grad: float | None
    accuracy_on: str | None
    step: list = dataclasses.field(default_factory=list)
    loss: list = dataclasses.field(default_factory=list)
    grad_norm: list = dataclasses.field(default_factory=list)
    wall_time: list = dataclasses.field(default_factory=list)
    test_loss: list | None = None
    accuracy: list | None = None
    diverged: bool = False

    _SERIES = ("step", "loss", "grad_norm", "wall_time", "test_loss", "accuracy")

    def to_dict(self):
        """Everything as plain Python values (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def as_arrays(self):
        """The per-log-point series as NumPy arrays, keyed by name; absent series are left out.

        Example::

            >>> h = History("regress", "cpu", "quick", 0, 10, 2, 1, 0.1, "adam", None, None,
            ...             step=[1, 2], loss=[1.0, 0.5], grad_norm=[1.0, 1.0], wall_time=[0.1, 0.2])
            >>> sorted(h.as_arrays())
            ['grad_norm', 'loss', 'step', 'wall_time']
        """
        return {k: np.asarray(getattr(self, k)) for k in self._SERIES if getattr(self, k) is not None}


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def _split_data(data, name, task, where):
    """``(x, y, x_dim, y_dim, n)``: the tensors, their example axes and the number of examples."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(t, torch.Tensor) for t in data)):
        raise ArgTypeError(f"{where}: {name} must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if x.dim() == 0 or y.dim() == 0:
        raise ValueError(f"{where}: {name}: x and y need an example axis, got shapes {tuple(x.shape)}, {tuple(y.shape)}")
    x_dim = 1 if x.dim() == 3 else 0  # time-major sequences (T, N, I), else (N, ...)
    per_step = task == "classify" and y.dim() >= 2 and y.dim() == x.dim() - 1
    y_dim = x_dim if per_step else 0
    n = x.shape[x_dim]
    if y.shape[y_dim] != n:
        raise ValueError(
            f"{where}: {name}: x has {n} examples on axis {x_dim} (shape {tuple(x.shape)}) but y has "
            f"{y.shape[y_dim]} on axis {y_dim} (shape {tuple(y.shape)})"
        )
    if n == 0:
        raise ValueError(f"{where}: {name} has no examples")
    if task == "classify" and (y.is_floating_point() or y.is_complex()):
        raise ArgTypeError(f"{where}: {name}: class labels y must be integers for task='classify', got {y.dtype}")
    return x, y, x_dim, y_dim, n


def _loss_and_correct(out, y, task, where):
    """Mean loss over all targets, and the number of correct labels (``None`` for regression)."""
    if task == "classify":
        if out.dim() != y.dim() + 1 or out.shape[:-1] != y.shape:
            raise ValueError(
                f"{where}: for task='classify' the model must return logits of shape y.shape + (C,) = "
                f"{tuple(y.shape)} + (C,), got {tuple(out.shape)}"
            )
        logits = out.reshape(-1, out.shape[-1])  # (*, C) -> (M, C): every label one row
        loss = nn.functional.cross_entropy(logits, y.reshape(-1))  # mean over the M labels
        correct = (out.argmax(-1) == y).sum()  # reduce every axis
        return loss, correct
    if out.shape != y.shape:
        raise ValueError(
            f"{where}: for task='regress' the model must return the targets' shape {tuple(y.shape)}, "
            f"got {tuple(out.shape)}"
        )
    return nn.functional.mse_loss(out, y), None


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, data, *, task="classify", batch_size=1024, device=None):
    """Mean loss (and accuracy) of ``model`` on ``data``, in eval mode and without gradients.

    Args:
        model (nn.Module): maps a batch of inputs to logits or predictions.
        data: a pair ``(x, y)`` of tensors (see the module docstring for the axes).
        task (str): ``"classify"`` or ``"regress"``. Default: ``"classify"``
        batch_size (int): examples per forward pass. Default: 1024
        device: where to compute; by default the device of the model's first parameter.

    Returns:
        dict with ``"loss"`` (mean over all targets) and ``"accuracy"``
        (``None`` for regression). The model's train/eval mode is restored.
    """
    where = "evaluate"
    task = check_choice(task, "task", TASKS, where)
    batch_size = check_int(batch_size, "batch_size", where, lo=1)
    x, y, x_dim, y_dim, n = _split_data(data, "data", task, where)
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    total_loss, total_correct, total_targets = 0.0, 0, 0
    try:
        for start in range(0, n, batch_size):
            xb = x.narrow(x_dim, start, min(batch_size, n - start)).to(device)  # a slice along the example axis
            yb = y.narrow(y_dim, start, min(batch_size, n - start)).to(device)
            loss, correct = _loss_and_correct(model(xb), yb, task, where)
            total_loss += loss.item() * yb.numel()  # mean -> sum over this slice's targets
            total_targets += yb.numel()
            if correct is not None:
                total_correct += correct.item()
    finally:
        model.train(was_training)
    accuracy = total_correct / total_targets if task == "classify" else None
    return {"loss": total_loss / total_targets, "accuracy": accuracy}


# ---------------------------------------------------------------------------
# Training: the pieces of one step and one log point, then the loop
# ---------------------------------------------------------------------------

def _make_optimizer(optimizer, params, lr, where):
    """``(optimizer, its name)`` from a name in :data:`OPTIMIZERS` or a callable ``(params, lr=lr)``."""
    if callable(optimizer):
        return optimizer(params, lr=lr), getattr(optimizer, "__name__", type(optimizer).__name__)
    check_instance(optimizer, str, "optimizer", where, "a name or a callable(params, lr=...)")
    name = check_choice(optimizer, "optimizer", OPTIMIZERS, where, hint="or pass a callable(params, lr=...)")
    return OPTIMIZERS[name](params, lr=lr), name


def _device(device):
    """A :class:`torch.device`; a device *kind* is checked to be available (:func:`helpers.repro.pick_device`)."""
    if device is None or device in ("cuda", "mps", "cpu"):
        return pick_device(device)  # a clear error if the asked-for kind is not available
    return torch.device(device)


def _batches(n, batch_size, seed, device):
    """Endless mini-batch indices without replacement: a fresh order of ``range(n)`` each epoch, seeded."""
    gen = torch.Generator().manual_seed(seed)  # the batch order, on the CPU
    while True:
        order = torch.randperm(n, generator=gen).to(device)  # (n,)
        for pos in range(0, n - batch_size + 1, batch_size):
            yield order[pos:pos + batch_size]  # (batch_size,)


def _step(model, opt, params, xb, yb, task, clip_grad, where):
    """One optimizer step: ``(loss, correct or None, gradient norm before clipping)``, on the device."""
    opt.zero_grad(set_to_none=True)
    loss, correct = _loss_and_correct(model(xb), yb, task, where)
    loss.backward()
    if clip_grad is None:
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, clip_grad)
    opt.step()
    return loss.detach(), correct, norm.detach()


def _zeros_like_sums(device):
    """Running sums since the last log point: loss, gradient norm and correct labels as device
    tensors (no sync per step), and the numbers of steps and of labels."""
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    return {
        "loss": torch.zeros((), dtype=dtype, device=device),
        "grad_norm": torch.zeros((), dtype=dtype, device=device),
        "correct": torch.zeros((), dtype=torch.int64, device=device),
        "steps": 0,
        "targets": 0,
    }


def _log_point(history, step, sums, elapsed, scores):
    """Append one log point to ``history``; ``scores`` is :func:`evaluate` on the test set, or ``None``."""
    mean_loss = sums["loss"].item() / sums["steps"]
    history.step.append(step)
    history.loss.append(mean_loss)
    history.grad_norm.append(sums["grad_norm"].item() / sums["steps"])
    history.wall_time.append(elapsed)
    if scores is not None:
        history.test_loss.append(scores["loss"])
    if history.task == "classify":
        history.accuracy.append(sums["correct"].item() / sums["targets"] if scores is None else scores["accuracy"])
    if not math.isfinite(mean_loss):
        history.diverged = True
    return mean_loss


def _loop(model, opt, params, data, test_data, history, log_every, clip_grad, progress):
    """:func:`train`'s loop, on checked arguments and data already on the device; fills ``history``."""
    x, y, x_dim, y_dim, n = data
    device = x.device
    sums, elapsed = _zeros_like_sums(device), 0.0
    model.train()
    bar = tqdm(total=history.steps, disable=progress is not True, desc="train", leave=False)
    report = progress if callable(progress) else None
    try:
        tic = time.perf_counter()
        for step, idx in zip(range(1, history.steps + 1), _batches(n, history.batch_size, history.seed, device)):
            xb, yb = x.index_select(x_dim, idx), y.index_select(y_dim, idx)  # one mini-batch
            loss, correct, norm = _step(model, opt, params, xb, yb, history.task, clip_grad, "train")
            sums["loss"] += loss
            sums["grad_norm"] += norm
            if correct is not None:
                sums["correct"] += correct
            sums["steps"] += 1
            sums["targets"] += yb.numel()
            bar.update(1)
            if report is not None:
                report(step, history.steps)
            if step % log_every == 0 or step == history.steps:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed += time.perf_counter() - tic
                scores = None if test_data is None else evaluate(model, test_data, task=history.task, device=device)
                bar.set_postfix(loss=f"{_log_point(history, step, sums, elapsed, scores):.4g}")
                sums = _zeros_like_sums(device)
                if history.diverged:
                    break
                tic = time.perf_counter()
    finally:
        bar.close()


def _check_settings(steps, batch_size, lr, seed, log_every, clip_grad, budget, where):
    """:func:`train`'s scalar arguments, checked; ``log_every=None`` becomes about 50 log points."""
    steps, batch_size = check_int(steps, "steps", where, lo=1), check_int(batch_size, "batch_size", where, lo=1)
    lr, seed = check_real(lr, "lr", where, 0, lo_open=True), check_int(seed, "seed", where, lo=0)
    log_every = max(1, steps // 50) if log_every is None else check_int(log_every, "log_every", where, lo=1)
    clip_grad = None if clip_grad is None else check_real(clip_grad, "clip_grad", where, 0, lo_open=True)
    budget = None if budget is None else check_choice(budget, "budget", BUDGETS, where, hint="or None")
    return steps, batch_size, lr, seed, log_every, clip_grad, budget


def train(model, train_data, test_data=None, *, task="classify", steps, batch_size, lr,
          optimizer="adam", device=None, seed=0, log_every=None, progress=True, clip_grad=None,
          budget=None):
    r"""Train ``model`` in place by mini-batch gradient descent; return what happened.

    Each step draws a mini-batch without replacement (a fresh random order of
    the training set each epoch, from a :class:`torch.Generator` seeded with
    ``seed``), computes the loss (cross-entropy or mean squared error, see the
    module docstring), back-propagates, optionally clips the gradient norm to
    ``clip_grad``, and takes an optimizer step. Every ``log_every`` steps (and
    after the last) it records the mean training loss, the mean gradient norm,
    the elapsed training time and -- with ``test_data`` -- the test loss and
    accuracy. A non-finite training loss stops training at that log point
    (``History.diverged``).

    Reproducibility: the batch order depends only on ``seed``; the model's
    initial weights (and dropout, if any) are drawn from the global generator,
    so call :func:`helpers.repro.seed_everything` before building the model.
    Two runs with the same seeds on the same device give identical curves.

    Args:
        model (nn.Module): maps a batch of inputs to logits (``"classify"``) or predictions.
        train_data: a pair ``(x, y)`` of tensors, e.g. from :mod:`helpers.data`.
        test_data: a pair ``(x, y)`` evaluated at every log point. Default: ``None``
        task (str): ``"classify"`` or ``"regress"``. Default: ``"classify"``
        steps (int): optimizer steps.
        batch_size (int): examples per step, at most the size of the training set.
        lr (float): learning rate.
        optimizer (str or callable): ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``,
            or a callable ``(params, lr=lr) -> torch.optim.Optimizer``. Default: ``"adam"``
        device: where to train (the model and data are moved there); ``None``
            picks one with :func:`helpers.repro.pick_device`.
        seed (int): seeds the batch order. Default: 0
        log_every (int or None): steps between log points; ``None``: about 50 points.
        progress (bool or callable): a tqdm progress bar (``True``), none, or ``progress(step, steps)`` after each step.
        clip_grad (float or None): clip the global gradient norm to this value. Default: ``None``
        budget (str or None): ``"quick"`` or ``"full"``, the budget the caller sized this run
            for, recorded in ``History.budget`` as given (never inferred from the
            device); ``None`` for a run not sized by a budget. Default: ``None``

    Returns:
        History: the recorded curves and the run's settings.

    Example::

        >>> from helpers.rnn import LSTMCell, SequenceClassifier
        >>> from helpers.data import load_digits_sequences
        >>> train_set, test_set = load_digits_sequences("rows")
        >>> model = SequenceClassifier(LSTMCell(8, 32, norm="layer"), n_classes=10)
        >>> h = train(model, train_set, test_set, steps=20, batch_size=32, lr=1e-2,
        ...           device="cpu", progress=False, log_every=10, budget="quick")
        >>> h.step, len(h.accuracy), h.budget
        ([10, 20], 2, 'quick')
    """
    where = "train"
    check_instance(model, nn.Module, "model", where, "a torch.nn.Module")
    task = check_choice(task, "task", TASKS, where)
    steps, batch_size, lr, seed, log_every, clip_grad, budget = _check_settings(
        steps, batch_size, lr, seed, log_every, clip_grad, budget, where)
    x, y, x_dim, y_dim, n = _split_data(train_data, "train_data", task, where)
    if test_data is not None:
        _split_data(test_data, "test_data", task, where)
    if batch_size > n:
        raise ValueError(f"{where}: batch_size {batch_size} is larger than the training set ({n} examples)")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{where}: the model has no trainable parameters")
    device = _device(device)
    model.to(device)
    x, y = x.to(device), y.to(device)
    opt, opt_name = _make_optimizer(optimizer, params, lr, where)
    history = History(
        task=task, device=str(device), budget=budget, seed=seed,
        n_params=sum(p.numel() for p in params), steps=steps, batch_size=batch_size, lr=lr,
        optimizer=opt_name, clip_grad=clip_grad,
        accuracy_on=None if task == "regress" else ("test" if test_data is not None else "train"),
        test_loss=None if test_data is None else [], accuracy=None if task == "regress" else [],
    )
    _loop(model, opt, params, (x, y, x_dim, y_dim, n), test_data, history, log_every, clip_grad, progress)
    return history
