"""Tests for helpers.experiments.sequences: chapter 5's tasks, models, training runs, registered experiments and records.

Training runs here are a few steps of tiny models on the CPU; the shipped records
are checked for what chapter 5 and the text rely on (provenance, every run of
RUNS, finite curves, the full budget's sizes).
"""

import doctest
import json
import math

import numpy as np
import pytest
import torch

from helpers import experiments
from helpers.experiments import sequences as rc, stats
from helpers.rnn import LSTM, GRUCell, LSTMCell, SequenceClassifier, SequenceRegressor
from helpers.repro import BUDGETS
from helpers.train import History

TINY = {"steps": 4, "hidden": 8, "batch_size": 16, "log_every": 2}


# ---------------------------------------------------------------- sizes, data, models

def test_one_sizes_table_keyed_by_family_and_budget():
    families = {spec["family"] for spec in rc.TASKS.values()}
    assert set(rc.SIZES) == {(f, b) for f in families for b in BUDGETS}
    for task in rc.TASKS:
        for which in BUDGETS:
            s = rc.experiment_sizes(task, which)
            assert s == rc.SIZES[rc.TASKS[task]["family"], which]
            assert set(s) == {"steps", "hidden", "batch_size", "log_every"}
            assert s["steps"] % s["log_every"] == 0
    for family in ("adding", "rows"):
        quick, full = rc.SIZES[family, "quick"], rc.SIZES[family, "full"]
        # the same model and batches: a quick run is the start of the reference run,
        # and its log points are log points of the reference run
        assert (quick["hidden"], quick["batch_size"]) == (full["hidden"], full["batch_size"])
        assert full["steps"] > quick["steps"] and quick["log_every"] % full["log_every"] == 0
    assert rc.experiment_sizes("pixels", "quick") == rc.experiment_sizes("pixels_const", "quick")
    s = rc.experiment_sizes("adding", "quick")
    s["steps"] = -1  # a fresh dict each time
    assert rc.experiment_sizes("adding", "quick")["steps"] > 0


def test_the_budget_is_never_guessed(monkeypatch):
    monkeypatch.setenv("LNBOOK_BUDGET", "full")
    with pytest.raises(TypeError):
        rc.experiment_sizes("adding")  # no default: the notebook passes the budget it chose
    tiny = {"steps": 2, "hidden": 4, "batch_size": 8, "log_every": 2}
    _, h = rc.train_run("rows", "lstm", "quick", sizes=tiny, device="cpu", progress=False)
    assert h.budget == "quick" and h.steps == 2  # recorded as passed, not from the environment
    _, h = rc.train_run("rows", "lstm", None, sizes=tiny, device="cpu", progress=False)
    assert h.budget is None


@pytest.mark.parametrize("task", list(rc.TASKS))
def test_task_data_shapes(task):
    (x, y), (x_test, y_test) = rc.task_data(task)
    T, I = rc.TASKS[task]["T"], rc.TASKS[task]["input_size"]
    assert x.shape[0] == T and x.shape[2] == I and x_test.shape[0] == T and x_test.shape[2] == I
    assert x.shape[1] == y.shape[0] and x_test.shape[1] == y_test.shape[0]
    assert x.dtype == torch.float32
    if rc.TASKS[task]["task"] == "classify":
        assert y.dtype == torch.int64 and set(y.unique().tolist()) == set(range(10))
    else:
        assert y.is_floating_point()


def test_pixels_const_is_pixels_plus_a_channel_of_ones():
    (x, y), _ = rc.task_data("pixels")
    (xc, yc), _ = rc.task_data("pixels_const")
    assert torch.equal(xc[..., :1], x) and torch.equal(yc, y)
    assert torch.all(xc[..., 1] == 1)


@pytest.mark.parametrize("model, cell_cls, norm", [("lstm", LSTMCell, None), ("ln-lstm", LSTMCell, "layer"),
                                                   ("gru", GRUCell, None), ("ln-gru", GRUCell, "layer")])
def test_build_model(model, cell_cls, norm):
    reg = rc.build_model("adding", model, 8)
    assert isinstance(reg, SequenceRegressor) and isinstance(reg.rnn.cell, cell_cls) and reg.rnn.cell.norm == norm
    assert reg.rnn.cell.input_size == 2
    clf = rc.build_model("pixels_const", model, 8)
    assert isinstance(clf, SequenceClassifier) and clf.readout.out_features == 10 and clf.rnn.cell.input_size == 2
    again = rc.build_model("adding", model, 8)  # seeded: the same initial weights
    for a, b in zip(reg.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("model", ["lstm", "ln-lstm"])
def test_lstm_models_run_fast_and_equal_the_stepped_cell(model):
    fast = rc.build_model("adding", model, 8, seed=3)
    stepped = rc.build_model("adding", model, 8, seed=3, stepwise=True)
    assert isinstance(fast.rnn, LSTM) and not isinstance(stepped.rnn, LSTM)
    assert list(fast.state_dict()) == list(stepped.state_dict())  # same keys, same order
    for a, b in zip(fast.state_dict().values(), stepped.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(rc.TASKS["adding"]["T"], 4, 2, generator=torch.Generator().manual_seed(0))  # (T, B, I)
    y_fast, y_step = fast(x), stepped(x)
    torch.testing.assert_close(y_fast, y_step, rtol=1e-4, atol=1e-5)
    y_fast.sum().backward()
    y_step.sum().backward()
    for (name, a), b in zip(fast.named_parameters(), stepped.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_gru_models_are_always_stepped_and_stepwise_is_checked():
    assert not isinstance(rc.build_model("adding", "gru", 8).rnn, LSTM)
    with pytest.raises(TypeError, match="stepwise"):
        rc.build_model("adding", "lstm", 8, stepwise="yes")


def test_layer_norm_models_start_with_gain_one_bias_zero():
    cell = rc.build_model("rows", "ln-lstm", 8).rnn.cell
    for ln in (cell.ln_ih, cell.ln_hh, cell.ln_c):
        assert torch.all(ln.weight == 1) and torch.all(ln.bias == 0)


@pytest.mark.parametrize("call", [
    lambda: rc.experiment_sizes("copy", "quick"), lambda: rc.experiment_sizes("adding", "huge"),
    lambda: rc.task_data("mnist"), lambda: rc.build_model("adding", "rnn", 8),
    lambda: rc.train_run("adding", "lstm", None, sizes={"steps": 2}),
    lambda: rc.train_run("adding", "lstm", None), lambda: rc.train_run("adding", "lstm", "medium"),
    lambda: stats.seed_band([]), lambda: stats.clearly_less([], [1]),
    lambda: stats.clearly_less([float("nan")], [1]), lambda: rc.histories({"name": "reader", "runs": []}),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- training runs

@pytest.mark.parametrize("task, model", [("adding", "ln-gru"), ("rows", "ln-lstm"), ("pixels_const", "gru")])
def test_train_run_records_a_history(task, model):
    net, h = rc.train_run(task, model, "quick", sizes=TINY, device="cpu", progress=False)
    assert isinstance(h, History) and h.step == [2, 4] and len(h.test_loss) == 2
    assert all(math.isfinite(v) for v in h.loss + h.test_loss)
    assert h.lr == rc.LR and h.clip_grad == rc.CLIP_GRAD and h.batch_size == TINY["batch_size"]
    assert (h.accuracy is None) == (rc.TASKS[task]["task"] == "regress")
    assert next(net.parameters()).device.type == "cpu"


def test_train_run_is_reproducible_and_takes_data_and_lr():
    data = rc.task_data("rows")
    _, h1 = rc.train_run("rows", "lstm", "quick", sizes=TINY, device="cpu", progress=False, data=data)
    _, h2 = rc.train_run("rows", "lstm", "quick", sizes=TINY, device="cpu", progress=False)
    assert h1.loss == h2.loss and h1.test_loss == h2.test_loss
    _, h3 = rc.train_run("rows", "lstm", "quick", sizes=TINY, device="cpu", progress=False, data=data, lr=1e-3, clip_grad=None)
    assert h3.lr == 1e-3 and h3.clip_grad is None and h3.loss != h1.loss


def test_registered_experiments_round_trip_through_a_record(monkeypatch, tmp_path):
    for name in rc.RUNS:
        monkeypatch.setitem(experiments.get(name).sizes, "full", dict(TINY))  # shrink the full budget for the test
    rec = experiments.run("rows", "full", seeds=[0, 1], device="cpu")
    assert rec["sizes"] == TINY and "helpers.rnn.LSTM" in rec["provenance"]["engine"]
    loaded = experiments.load(experiments.save(rec, tmp_path / "rows.json"))
    runs = rc.histories(loaded)
    assert sorted(runs) == ["rows/ln-lstm", "rows/lstm"]
    for name, hs in runs.items():
        assert [h.seed for h in hs] == [0, 1] and all(h.budget == "full" for h in hs)
        assert hs[0].loss != hs[1].loss  # different seeds, different runs
        _, again = rc.train_run(*name.split("/"), "full", sizes=TINY, device="cpu", progress=False, seed=1)
        assert again.test_loss == hs[1].test_loss  # the record holds what train_run computes
    band = stats.seed_band(runs["rows/lstm"])
    runs_ = np.array([h.test_loss for h in runs["rows/lstm"]])
    assert np.allclose(band["mean"], runs_.mean(0)) and np.all(band["min"] <= band["mean"])
    assert np.all(band["mean"] <= band["max"]) and band["runs"].shape == (2, len(band["step"]))


def test_seed_band_and_clearly_less():
    def hist(seed, loss, step=(1, 2)):
        return History("regress", "cpu", "quick", seed, 1, 2, 1, 0.1, "adam", None, None,
                       step=list(step), loss=loss, grad_norm=[1.0, 1.0], wall_time=[0.0, 1.0])
    band = stats.seed_band([hist(0, [3.0, 1.0]), hist(1, [1.0, 2.0]), hist(2, [2.0, 0.0])], "loss")
    assert band["mean"].tolist() == [2.0, 1.0] and band["min"].tolist() == [1.0, 0.0]
    assert band["max"].tolist() == [3.0, 2.0] and band["step"].tolist() == [1, 2]
    assert stats.seed_band(hist(0, [1.0, 2.0]), "loss")["mean"].tolist() == [1.0, 2.0]  # one run: its curve
    with pytest.raises(ValueError, match="different steps"):
        stats.seed_band([hist(0, [1.0, 2.0]), hist(1, [1.0, 2.0], step=(1, 3))], "loss")
    with pytest.raises(ValueError, match="test_loss"):
        stats.seed_band([hist(0, [1.0, 2.0])])  # no test data
    with pytest.raises(TypeError):
        stats.seed_band([1, 2])
    assert stats.clearly_less([1, 2], [2.5, math.inf]) and not stats.clearly_less([1, 3], [2.5, 4])
    assert not stats.clearly_less([1, 2], [2, 3])  # touching ranges: not beyond the spread
    assert not stats.clearly_less([math.inf], [math.inf])  # neither got there


# ---------------------------------------------------------------- the shipped records

@pytest.mark.parametrize("name", sorted(rc.RUNS))
def test_shipped_records(name):
    rec = experiments.load_reference(name)
    assert rec["budget"] == "full" and len(rec["seeds"]) >= 5 and rec["sizes"] == experiments.sizes(name, "full")
    assert set(rec["provenance"]) == set(experiments.provenance.KEYS)
    runs = rc.histories(rec)
    assert sorted(runs) == sorted(f"{t}/{m}" for t, m in rc.RUNS[name])
    for key, hs in runs.items():
        assert [h.seed for h in hs] == rec["seeds"]
        for h in hs:
            assert h.step[-1] == rec["sizes"]["steps"] and not h.diverged and h.budget == "full"
            assert h.lr == rc.LR and h.clip_grad == rc.CLIP_GRAD
            assert all(math.isfinite(v) for v in h.loss + h.test_loss + h.wall_time)


def test_shipped_file_is_package_data():
    """pyproject.toml must ship helpers/data_files/experiments/*.json, or an installed package has no records."""
    import pathlib
    import tomllib
    pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "data_files/experiments/*.json" in package_data.get("helpers", []), \
        'add  "helpers" = ["data_files/experiments/*.json"]  to [tool.setuptools.package-data]'


def test_doctests():
    failures, tried = doctest.testmod(rc)
    assert tried > 0 and failures == 0
