"""Tests for helpers.reference_curves: the tasks, the models, one training run, and the shipped curves.

Training runs here are a few steps of tiny models on the CPU; the shipped file
is checked for what chapter 5 and the text rely on (metadata, every run of
EXPERIMENTS, finite curves, small size).
"""

import doctest
import json
import math

import numpy as np
import pytest
import torch

from helpers import reference_curves as rc
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
    lambda: rc.generate(seeds=[], path=None), lambda: rc.generate(seeds=[0, 0], path=None),
    lambda: rc.generate(seeds=[-1], path=None), lambda: rc.seed_band([]),
    lambda: rc.clearly_less([], [1]), lambda: rc.clearly_less([float("nan")], [1]),
    lambda: rc.generate("medium", path=None),
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


def test_generate_save_load_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "curves.json"
    experiments = (("adding", "lstm"), ("rows", "ln-lstm"))
    tiny = {key: dict(TINY) for key in rc.SIZES}
    monkeypatch.setattr(rc, "SIZES", tiny)  # shrink both budgets for the test
    runs, meta = rc.generate("full", path, device="cpu", experiments=experiments, seeds=range(2), progress=False)
    assert sorted(runs) == ["adding/lstm", "rows/ln-lstm"]
    assert meta["seeds"] == [0, 1] and meta["budget"] == "full" and meta["device"] == "cpu"
    assert meta["torch_version"] == torch.__version__ and meta["total_seconds"] >= 0 and meta["date"]
    assert all(len(meta["seconds"][name]) == 2 for name in runs)
    loaded, meta2 = rc.load(path)
    assert meta2 == json.loads(json.dumps(meta))
    for name, hs in runs.items():
        assert [h.seed for h in hs] == [h.seed for h in loaded[name]] == [0, 1]
        assert all(h.budget == "full" for h in loaded[name])
        assert hs[0].loss != hs[1].loss  # different seeds, different runs
        for h, h_loaded in zip(hs, loaded[name]):
            assert h_loaded.step == h.step
            for a, b in zip(h_loaded.test_loss, h.test_loss):
                assert a == pytest.approx(b, rel=1e-5)  # stored to 6 significant digits
    assert meta["torch_threads"] == 1
    assert torch.get_num_threads() >= 1  # restored
    band = rc.seed_band(loaded["adding/lstm"])
    runs_ = np.array([h.test_loss for h in loaded["adding/lstm"]])
    assert np.allclose(band["mean"], runs_.mean(0)) and np.all(band["min"] <= band["mean"])
    assert np.all(band["mean"] <= band["max"]) and band["runs"].shape == (2, len(band["step"]))


def test_seed_band_and_clearly_less():
    def hist(seed, loss, step=(1, 2)):
        return History("regress", "cpu", "quick", seed, 1, 2, 1, 0.1, "adam", None, None,
                       step=list(step), loss=loss, grad_norm=[1.0, 1.0], wall_time=[0.0, 1.0])
    band = rc.seed_band([hist(0, [3.0, 1.0]), hist(1, [1.0, 2.0]), hist(2, [2.0, 0.0])], "loss")
    assert band["mean"].tolist() == [2.0, 1.0] and band["min"].tolist() == [1.0, 0.0]
    assert band["max"].tolist() == [3.0, 2.0] and band["step"].tolist() == [1, 2]
    assert rc.seed_band(hist(0, [1.0, 2.0]), "loss")["mean"].tolist() == [1.0, 2.0]  # one run: its curve
    with pytest.raises(ValueError, match="different steps"):
        rc.seed_band([hist(0, [1.0, 2.0]), hist(1, [1.0, 2.0], step=(1, 3))], "loss")
    with pytest.raises(ValueError, match="test_loss"):
        rc.seed_band([hist(0, [1.0, 2.0])])  # no test data
    with pytest.raises(TypeError):
        rc.seed_band([1, 2])
    assert rc.clearly_less([1, 2], [2.5, math.inf]) and not rc.clearly_less([1, 3], [2.5, 4])
    assert not rc.clearly_less([1, 2], [2, 3])  # touching ranges: not beyond the spread
    assert not rc.clearly_less([math.inf], [math.inf])  # neither got there


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        rc.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"runs": {}}')
    with pytest.raises(ValueError):
        rc.load(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError):
        rc.load(bad)


def test_save_checks_its_arguments(tmp_path):
    with pytest.raises(TypeError):
        rc.save({"a": 1}, {}, tmp_path / "x.json")
    with pytest.raises(TypeError):
        rc.save({}, "meta", tmp_path / "x.json")


# ---------------------------------------------------------------- the shipped file

def test_shipped_reference_curves():
    assert rc.DEFAULT_PATH.is_file(), "run helpers.reference_curves.generate() (see its docstring)"
    assert rc.DEFAULT_PATH.stat().st_size < 200_000 * 5  # room for five seeds
    runs, meta = rc.load()
    for key in ("budget", "seeds", "device", "device_name", "torch_version", "torch_threads", "date", "sizes",
                "seconds", "total_seconds", "command", "lr", "clip_grad"):
        assert key in meta, key
    assert meta["budget"] == "full" and meta["seeds"] and meta["lr"] == rc.LR
    assert sorted(runs) == sorted(f"{t}/{m}" for t, m in rc.EXPERIMENTS)
    for name, hs in runs.items():
        task = name.split("/")[0]
        assert meta["sizes"][name] == rc.experiment_sizes(task, "full"), name
        assert [h.seed for h in hs] == meta["seeds"] and len(meta["seconds"][name]) == len(hs)
        for h in hs:
            assert h.step[-1] == meta["sizes"][name]["steps"] and not h.diverged
            assert h.budget == "full" and h.device == meta["device"]
            assert all(math.isfinite(v) for v in h.loss + h.test_loss + h.wall_time)
    assert "generate(" in meta["command"]


def test_shipped_file_is_package_data():
    """pyproject.toml must ship helpers/data_files/*.json, or an installed package has no curves."""
    import pathlib
    import tomllib
    pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "data_files/*.json" in package_data.get("helpers", []) or "*.json" in package_data.get(
        "helpers.data_files", []), 'add  "helpers" = ["data_files/*.json"]  to [tool.setuptools.package-data]'


def test_doctests():
    failures, tried = doctest.testmod(rc)
    assert tried > 0 and failures == 0
