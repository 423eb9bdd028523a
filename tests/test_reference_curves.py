"""Tests for helpers.reference_curves: the tasks, the models, one training run, and the shipped curves.

Training runs here are a few steps of tiny models on the CPU; the shipped file
is checked for what chapter 5 and the text rely on (metadata, every run of
EXPERIMENTS, finite curves, small size).
"""

import doctest
import json
import math

import pytest
import torch

from helpers import reference_curves as rc
from helpers.rnn import GRUCell, LSTMCell, SequenceClassifier, SequenceRegressor
from helpers.train import BUDGET_SIZES, History

TINY = {"steps": 4, "hidden": 8, "batch_size": 16, "log_every": 2}


# ---------------------------------------------------------------- sizes, data, models

def test_experiment_sizes():
    for task in rc.TASKS:
        for which in ("quick", "full"):
            s = rc.experiment_sizes(task, which)
            assert set(s) == {"steps", "hidden", "batch_size", "log_every"}
            assert s["steps"] % s["log_every"] == 0
    quick, full = rc.experiment_sizes("adding", "quick"), rc.experiment_sizes("adding", "full")
    # the same model and batches: a quick run is the start of the reference run
    assert {k: v for k, v in quick.items() if k != "steps"} == {k: v for k, v in full.items() if k != "steps"}
    assert quick["hidden"] == BUDGET_SIZES["quick"]["hidden"] and full["steps"] > quick["steps"]
    assert rc.experiment_sizes("rows", "quick") == BUDGET_SIZES["quick"]
    assert rc.experiment_sizes("pixels", "quick") == rc.experiment_sizes("pixels_const", "quick")
    s = rc.experiment_sizes("adding", "quick")
    s["steps"] = -1  # a fresh dict each time
    assert rc.experiment_sizes("adding", "quick")["steps"] > 0


def test_experiment_sizes_follow_the_budget(monkeypatch):
    monkeypatch.setenv("LNBOOK_BUDGET", "full")
    assert rc.experiment_sizes("adding") == rc.experiment_sizes("adding", "full")
    monkeypatch.setenv("LNBOOK_BUDGET", "quick")
    assert rc.experiment_sizes("adding") == rc.experiment_sizes("adding", "quick")


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


def test_layer_norm_models_start_with_gain_one_bias_zero():
    cell = rc.build_model("rows", "ln-lstm", 8).rnn.cell
    for ln in (cell.ln_ih, cell.ln_hh, cell.ln_c):
        assert torch.all(ln.weight == 1) and torch.all(ln.bias == 0)


@pytest.mark.parametrize("call", [
    lambda: rc.experiment_sizes("copy", "quick"), lambda: rc.experiment_sizes("adding", "huge"),
    lambda: rc.task_data("mnist"), lambda: rc.build_model("adding", "rnn", 8),
    lambda: rc.train_run("adding", "lstm", {"steps": 2}),
    lambda: rc.generate("medium", path=None),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- training runs

@pytest.mark.parametrize("task, model", [("adding", "ln-gru"), ("rows", "ln-lstm"), ("pixels_const", "gru")])
def test_train_run_records_a_history(task, model):
    net, h = rc.train_run(task, model, TINY, device="cpu", progress=False)
    assert isinstance(h, History) and h.step == [2, 4] and len(h.test_loss) == 2
    assert all(math.isfinite(v) for v in h.loss + h.test_loss)
    assert h.lr == rc.LR and h.clip_grad == rc.CLIP_GRAD and h.batch_size == TINY["batch_size"]
    assert (h.accuracy is None) == (rc.TASKS[task]["task"] == "regress")
    assert next(net.parameters()).device.type == "cpu"


def test_train_run_is_reproducible_and_takes_data_and_lr():
    data = rc.task_data("rows")
    _, h1 = rc.train_run("rows", "lstm", TINY, device="cpu", progress=False, data=data)
    _, h2 = rc.train_run("rows", "lstm", TINY, device="cpu", progress=False)
    assert h1.loss == h2.loss and h1.test_loss == h2.test_loss
    _, h3 = rc.train_run("rows", "lstm", TINY, device="cpu", progress=False, data=data, lr=1e-3, clip_grad=None)
    assert h3.lr == 1e-3 and h3.clip_grad is None and h3.loss != h1.loss


def test_generate_save_load_round_trip(tmp_path):
    path = tmp_path / "curves.json"
    experiments = (("adding", "lstm"), ("rows", "ln-lstm"))
    sizes = rc._FULL
    try:  # shrink the full budget for the test
        rc._FULL = {k: dict(TINY) for k in sizes}
        runs, meta = rc.generate("full", path, device="cpu", experiments=experiments, progress=False)
    finally:
        rc._FULL = sizes
    assert sorted(runs) == ["adding/lstm", "rows/ln-lstm"]
    loaded, meta2 = rc.load(path)
    assert meta2 == json.loads(json.dumps(meta))
    for name, h in runs.items():
        assert loaded[name].step == h.step
        for a, b in zip(loaded[name].test_loss, h.test_loss):
            assert a == pytest.approx(b, rel=1e-5)  # stored to 6 significant digits
    assert meta["torch_threads"] == 1 and meta["budget"] == "full" and meta["device"] == "cpu"
    assert torch.get_num_threads() >= 1  # restored


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
    assert rc.DEFAULT_PATH.stat().st_size < 200_000
    runs, meta = rc.load()
    for key in ("budget", "seed", "device", "device_name", "torch_version", "torch_threads", "date", "sizes",
                "seconds", "total_seconds", "command", "lr", "clip_grad"):
        assert key in meta, key
    assert meta["budget"] == "full" and meta["seed"] == 0 and meta["lr"] == rc.LR
    assert sorted(runs) == sorted(f"{t}/{m}" for t, m in rc.EXPERIMENTS)
    for name, h in runs.items():
        task = name.split("/")[0]
        assert meta["sizes"][name] == rc.experiment_sizes(task, "full"), name
        assert h.step[-1] == meta["sizes"][name]["steps"] and not h.diverged
        assert h.budget == "full" and h.device == meta["device"] and h.seed == meta["seed"]
        assert all(math.isfinite(v) for v in h.loss + h.test_loss + h.wall_time)
    assert "rc.generate()" in meta["command"] and "LNBOOK_BUDGET=full" in meta["command"]
    assert meta["command"] in rc.__doc__ and meta["command"] in rc.generate.__doc__


def test_shipped_file_is_package_data():
    """pyproject.toml must ship helpers/data_files/*.json, or an installed package has no curves."""
    import pathlib
    pyproject = (pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"helpers.data_files"' in pyproject or '"helpers" = ["data_files/' in pyproject, (
        'add  "helpers" = ["data_files/*.json"]  to [tool.setuptools.package-data] in pyproject.toml')


def test_doctests():
    failures, tried = doctest.testmod(rc)
    assert tried > 0 and failures == 0
