"""Tests for helpers.train: the loop learns, records what it says, reproduces, and checks its arguments.

Everything runs on the CPU with tiny models; each training run takes well under a second.
"""

import doctest
import json

import numpy as np
import pytest
import torch
from torch import nn

from helpers import train as train_mod
from helpers.data import adding_problem, copy_task, load_digits_sequences
from helpers.repro import BUDGETS, seed_everything
from helpers.rnn import GRUCell, LSTMCell, RNNCell, SequenceClassifier, SequenceRegressor
from helpers.train import History, evaluate, train

FAST = {"device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def digits():
    return load_digits_sequences("rows")


def lstm_classifier(norm=None, seed=0, hidden=16):
    seed_everything(seed)
    return SequenceClassifier(LSTMCell(8, hidden, norm=norm), n_classes=10)


# ---------------------------------------------------------------------------
# It learns
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("norm", [None, "layer"])
def test_classifier_learns_digits_in_a_few_dozen_steps(digits, norm):
    train_set, test_set = digits
    model = lstm_classifier(norm)
    before = evaluate(model, test_set)
    h = train(model, train_set, test_set, steps=40, batch_size=32, lr=1e-2, log_every=10, **FAST)
    assert h.step == [10, 20, 30, 40]
    assert h.test_loss[-1] < before["loss"] - 0.3
    assert h.loss[-1] < h.loss[0]
    assert h.accuracy[-1] > 0.4 > before["accuracy"]  # chance is 0.1
    assert h.accuracy_on == "test"


def test_regressor_learns_the_adding_problem_a_little():
    seed_everything(0)
    model = SequenceRegressor(GRUCell(2, 16))
    train_set, test_set = adding_problem(512, 6, seed=0), adding_problem(256, 6, seed=1)
    before = evaluate(model, test_set, task="regress")
    h = train(model, train_set, test_set, task="regress", steps=60, batch_size=32, lr=1e-2, log_every=20, **FAST)
    assert h.accuracy is None and h.accuracy_on is None
    assert h.test_loss[-1] < min(before["loss"], 1 / 6)  # below what ignoring the input gives


def test_per_step_targets_copy_task():
    seed_everything(0)
    x, y = copy_task(64, 3, n_symbols=3, copy_len=2, seed=0)
    model = SequenceClassifier(RNNCell(5, 16, norm="layer"), n_classes=5, per_step=True)
    h = train(model, (x, y), steps=30, batch_size=16, lr=1e-2, log_every=10, **FAST)
    assert h.accuracy_on == "train" and h.test_loss is None
    assert len(h.accuracy) == 3 and 0 <= h.accuracy[-1] <= 1
    assert h.loss[-1] < h.loss[0]


# ---------------------------------------------------------------------------
# What it records
# ---------------------------------------------------------------------------

def test_history_fields(digits):
    train_set, test_set = digits
    model = lstm_classifier()
    h = train(model, train_set, test_set, steps=7, batch_size=16, lr=1e-3, log_every=3, seed=5, **FAST)
    assert h.step == [3, 6, 7]  # every log_every steps, and the last
    for series in (h.loss, h.grad_norm, h.wall_time, h.test_loss, h.accuracy):
        assert len(series) == 3 and all(isinstance(v, float) for v in series)
    assert all(a < b for a, b in zip(h.wall_time, h.wall_time[1:]))
    assert h.device == "cpu" and h.budget is None and h.seed == 5 and h.task == "classify"
    assert h.n_params == sum(p.numel() for p in model.parameters())
    assert (h.steps, h.batch_size, h.lr, h.optimizer, h.clip_grad, h.diverged) == (7, 16, 1e-3, "adam", None, False)
    d = h.to_dict()
    assert json.loads(json.dumps(d)) == d
    arrays = h.as_arrays()
    assert set(arrays) == {"step", "loss", "grad_norm", "wall_time", "test_loss", "accuracy"}
    assert arrays["loss"].dtype == np.float64 and arrays["step"].tolist() == [3, 6, 7]
    assert train(lstm_classifier(), train_set, steps=2, batch_size=8, lr=1e-3, **FAST).step == [1, 2]


def test_logged_values_match_a_manual_loop(digits):
    """Without test data: loss, accuracy and gradient norm are means over each window's batches."""
    train_set, _ = digits
    x, y = train_set
    model = lstm_classifier(seed=1)
    reference = lstm_classifier(seed=1)
    h = train(model, train_set, steps=5, batch_size=10, lr=1e-3, optimizer="sgd", log_every=3, seed=2, **FAST)
    gen = torch.Generator().manual_seed(2)
    order = torch.randperm(x.shape[1], generator=gen)
    opt = torch.optim.SGD(reference.parameters(), lr=1e-3)
    losses, correct, norms = [], [], []
    for k in range(5):
        idx = order[10 * k:10 * (k + 1)]
        logits = reference(x[:, idx])
        loss = nn.functional.cross_entropy(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        norms.append(torch.sqrt(sum((p.grad ** 2).sum() for p in reference.parameters())).item())
        opt.step()
        losses.append(loss.item())
        correct.append((logits.argmax(-1) == y[idx]).sum().item())
    windows = [slice(0, 3), slice(3, 5)]  # log points after steps 3 and 5
    assert h.step == [3, 5]
    assert h.loss == pytest.approx([np.mean(losses[w]) for w in windows], rel=1e-6)
    assert h.grad_norm == pytest.approx([np.mean(norms[w]) for w in windows], rel=1e-5)
    assert h.accuracy == pytest.approx([sum(correct[w]) / (10 * len(correct[w])) for w in windows])
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_wall_time_leaves_out_evaluation(digits, monkeypatch):
    """Evaluation is timed out of wall_time. A fake clock makes each evaluation 'take' 1000 s,
    so the check does not depend on how busy the machine is."""
    train_set, test_set = digits
    real_evaluate, real_clock = train_mod.evaluate, train_mod.time.perf_counter
    offset = [0.0]

    def slow_evaluate(*args, **kwargs):
        offset[0] += 1000.0
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", slow_evaluate)
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: real_clock() + offset[0])
    h = train(lstm_classifier(), train_set, test_set, steps=4, batch_size=8, lr=1e-3, log_every=1, **FAST)
    assert len(h.test_loss) == 4
    assert offset[0] == 4000.0  # evaluated once per log point
    assert 0 < h.wall_time[-1] < 1000  # none of the 4000 s of evaluation is counted


def test_seeded_runs_reproduce_exactly(digits):
    train_set, test_set = digits
    kw = dict(steps=12, batch_size=16, lr=1e-2, log_every=4, **FAST)
    a = train(lstm_classifier("layer"), train_set, test_set, seed=3, **kw)
    b = train(lstm_classifier("layer"), train_set, test_set, seed=3, **kw)
    c = train(lstm_classifier("layer"), train_set, test_set, seed=4, **kw)
    assert a.loss == b.loss and a.test_loss == b.test_loss and a.accuracy == b.accuracy
    assert a.grad_norm == b.grad_norm
    assert a.loss != c.loss  # another batch order


def test_train_leaves_the_global_random_state_alone(digits):
    train_set, _ = digits
    model = lstm_classifier()
    state = torch.random.get_rng_state()
    train(model, train_set, steps=3, batch_size=8, lr=1e-3, **FAST)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_clip_grad_bounds_the_update():
    seed_everything(0)
    model = SequenceRegressor(RNNCell(2, 8))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = adding_problem(32, 5, seed=0)
    h = train(model, (x, 100 * y), task="regress", steps=1, batch_size=32, lr=1.0, optimizer="sgd",
              clip_grad=0.01, **FAST)
    step = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(model.parameters(), before)))
    assert step.item() == pytest.approx(0.01, rel=1e-4)  # lr * clip_grad
    assert h.grad_norm[0] > 1.0  # the norm is recorded before clipping


def test_divergence_stops_training():
    seed_everything(0)
    model = nn.Linear(3, 1)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = 1e3 * torch.randn(64, 1, generator=torch.Generator().manual_seed(1))
    h = train(model, (x, y), task="regress", steps=500, batch_size=64, lr=1e3, optimizer="sgd",
              log_every=10, **FAST)
    assert h.diverged and h.step[-1] < 500 and not np.isfinite(h.loss[-1])


def test_custom_optimizer_and_feed_forward_data():
    seed_everything(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # (N,), batch-first 2-d inputs
    h = train(model, (x, y), steps=5, batch_size=20,
              lr=0.1, optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9), **FAST)
    assert h.optimizer == "<lambda>" and len(h.loss) == 5


def test_progress_bar_runs(digits, capsys):
    train_set, _ = digits
    h = train(lstm_classifier(), train_set, steps=3, batch_size=8, lr=1e-3, device="cpu", progress=True)
    assert h.step[-1] == 3
    assert "train" in capsys.readouterr().err  # tqdm writes to stderr


def test_progress_callback_is_called_after_every_step(digits, capsys):
    train_set, _ = digits
    calls = []
    h = train(lstm_classifier(), train_set, steps=4, batch_size=8, lr=1e-3, device="cpu", log_every=2,
              progress=lambda step, steps: calls.append((step, steps)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)] and h.step == [2, 4]
    assert "train" not in capsys.readouterr().err  # a callback replaces the tqdm bar


def test_device_argument(digits):
    train_set, _ = digits
    h = train(lstm_classifier(), train_set, steps=1, batch_size=8, lr=1e-3, device=torch.device("cpu"),
              progress=False)
    assert h.device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            train(lstm_classifier(), train_set, steps=1, batch_size=8, lr=1e-3, device="cuda", progress=False)


def test_evaluate_matches_a_direct_computation(digits):
    _, (x, y) = digits
    model = lstm_classifier()
    model.train()
    with torch.no_grad():
        logits = model(x)
    scores = evaluate(model, (x, y), batch_size=100)  # in slices of 100, the last one 50
    assert scores["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert scores["accuracy"] == pytest.approx((logits.argmax(-1) == y).float().mean().item())
    assert model.training  # mode restored


# ---------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("budget", BUDGETS)
def test_budget_is_recorded_as_passed_never_inferred(digits, monkeypatch, budget):
    """A CPU run sized for "full" is recorded as "full", whatever the device or LNBOOK_BUDGET say."""
    train_set, _ = digits
    other = "quick" if budget == "full" else "full"
    monkeypatch.setenv("LNBOOK_BUDGET", other)  # must not leak into the record
    h = train(lstm_classifier(), train_set, steps=2, batch_size=8, lr=1e-3, budget=budget, **FAST)
    assert h.device == "cpu" and h.budget == budget
    assert train(lstm_classifier(), train_set, steps=1, batch_size=8, lr=1e-3, **FAST).budget is None


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------

def test_bad_arguments(digits):
    train_set, _ = digits
    model = lstm_classifier()
    kw = dict(steps=2, batch_size=8, lr=1e-3, **FAST)
    bad = [
        (dict(kw, steps=0), ValueError, "steps"),
        (dict(kw, steps=2.0), TypeError, "steps"),
        (dict(kw, batch_size=5000), ValueError, "larger than the training set"),
        (dict(kw, lr=-1.0), ValueError, "lr"),
        (dict(kw, lr=float("nan")), ValueError, "lr"),
        (dict(kw, task="cluster"), ValueError, "task"),
        (dict(kw, optimizer="lbfgs2"), ValueError, "optimizer"),
        (dict(kw, optimizer=3), TypeError, "optimizer"),
        (dict(kw, clip_grad=0), ValueError, "clip_grad"),
        (dict(kw, log_every=0), ValueError, "log_every"),
        (dict(kw, seed=-1), ValueError, "seed"),
        (dict(kw, budget="medium"), ValueError, "budget"),
        (dict(kw, budget=1), ValueError, "budget"),
    ]
    for kwargs, error, match in bad:
        with pytest.raises(error, match=match):
            train(model, train_set, **kwargs)
    x, y = train_set
    with pytest.raises(TypeError, match="pair"):
        train(model, x, **kw)
    with pytest.raises(ValueError, match="examples on axis 1"):
        train(model, (x, y[:-1]), **kw)
    with pytest.raises(TypeError, match="integers"):
        train(model, (x, y.float()), **kw)
    with pytest.raises(ValueError, match="logits of shape"):
        train(SequenceRegressor(LSTMCell(8, 4)), (x, y), **kw)  # (B,) outputs are no logits
    with pytest.raises(ValueError, match="targets' shape"):
        train(SequenceRegressor(LSTMCell(8, 4)), (x, y.float()[:, None]), task="regress", **kw)
    with pytest.raises(TypeError, match="nn.Module"):
        train(lambda x: x, train_set, **kw)


def test_public_api_and_doctests():
    assert set(train_mod.__all__) == {"TASKS", "OPTIMIZERS", "History", "train", "evaluate"}
    assert History.__doc__ and train.__doc__ and evaluate.__doc__
    result = doctest.testmod(train_mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
