r"""Chapter 5's tasks and models: the adding problem and the digits read row by row or pixel by pixel.

Chapter 5 trains LSTMs and GRUs with and without layer norm on three tasks,
over several seeds. Each task family is a registered experiment of
:mod:`helpers.experiments` (``"adding"``, ``"pixels"``, ``"rows"``), like every
other experiment of the book: the same function runs in the chapter, from the
command line (``python -m helpers.experiments run adding --budget full``) and
for the shipped full-budget records, which carry their provenance (the engine
that computed the LSTM steps among it). One sizes table, :data:`SIZES`, maps
(task family, budget) to the sizes of a run; :func:`train_run` passes the
budget on to :func:`helpers.train.train`, whose :class:`~helpers.train.History`
records it, and :func:`histories` turns a record back into histories.

The tasks (:data:`TASKS`):

* ``"adding"``: the adding problem (:func:`helpers.data.adding_problem`) with
  ``T = 50`` steps, mean squared error; 10000 training and 1000 test sequences.
* ``"rows"``: the 8x8 digits read one row of 8 pixels per step (``T = 8``, ``I = 8``).
* ``"pixels"``: the digits read one pixel per step (``T = 64``, ``I = 1``).
* ``"pixels_const"``: the same, with a second input channel that is always 1
  (``I = 2``), which lets layer norm of the input term see the pixel's intensity.

The models (:data:`MODELS`): ``"lstm"``, ``"ln-lstm"``, ``"gru"``, ``"ln-gru"``,
the cells of :mod:`helpers.rnn` without and with ``norm="layer"`` (gains 1,
biases 0 at the start) under a linear read-out of the last hidden state.
The LSTMs run over a sequence as :class:`helpers.rnn.LSTM` (chapter 9): the
same function as stepping the :class:`~helpers.rnn.LSTMCell`, computed by
torch's LSTM kernel (plain) or by batched input terms, a hand-written backward
pass and a fused C kernel per step (layer norm; torch operations where no C
compiler is found); the GRUs are stepped in Python.
``build_model(..., stepwise=True)`` steps the LSTM cell too.
Every run: Adam, learning rate 0.01, gradient norm clipped to 1.

Nothing runs at import.
"""

from __future__ import annotations

import dataclasses

import torch

from .._checks import check_choice, check_instance
from ..data import adding_problem, load_digits_sequences
from ..repro import BUDGETS, seed_everything
from ..rnn import LSTM, GRUCell, LSTMCell, SequenceClassifier, SequenceRegressor
from ..train import History, train
from . import experiment, sizes as registered_sizes
from .provenance import lstm_engine

__all__ = ["TASKS", "MODELS", "RUNS", "LR", "CLIP_GRAD", "SIZES", "experiment_sizes", "task_data", "build_model",
           "train_run", "histories"]

#: Task name -> what it is: ``task`` for :func:`helpers.train.train`, the input size ``I``,
#: the sequence length ``T`` and the experiment family (its row of :data:`SIZES`).
TASKS = {
    "adding": {"task": "regress", "input_size": 2, "T": 50, "family": "adding"},
    "rows": {"task": "classify", "input_size": 8, "T": 8, "family": "rows"},
    "pixels": {"task": "classify", "input_size": 1, "T": 64, "family": "pixels"},
    "pixels_const": {"task": "classify", "input_size": 2, "T": 64, "family": "pixels"},
}

#: Model name -> (cell class, norm).
MODELS = {
    "lstm": (LSTMCell, None),
    "ln-lstm": (LSTMCell, "layer"),
    "gru": (GRUCell, None),
    "ln-gru": (GRUCell, "layer"),
}

#: Adam's learning rate and the gradient-norm clip of every run.
LR = 1e-2
CLIP_GRAD = 1.0

#: The one sizes table: (experiment family, budget) -> ``steps``, ``hidden``,
#: ``batch_size`` and ``log_every``. ``"quick"`` is sized for chapter 5 to run
#: two seeds of every run within three minutes on a 2-core CPU (the chapter
#: measures its own training time); ``"full"`` is what
#: the shipped records used (made on a CPU, so H stays 64). The adding
#: and rows families share every size but the number of steps (and the log
#: interval, a multiple of the full one) between the budgets, so a quick run
#: retraces the start of the reference run with the same seed.
SIZES = {
    ("adding", "quick"): {"steps": 150, "hidden": 64, "batch_size": 64, "log_every": 25},
    ("adding", "full"): {"steps": 1000, "hidden": 64, "batch_size": 64, "log_every": 25},
    ("rows", "quick"): {"steps": 200, "hidden": 64, "batch_size": 64, "log_every": 25},
    ("rows", "full"): {"steps": 1000, "hidden": 64, "batch_size": 64, "log_every": 25},
    ("pixels", "quick"): {"steps": 100, "hidden": 32, "batch_size": 64, "log_every": 20},
    ("pixels", "full"): {"steps": 600, "hidden": 64, "batch_size": 64, "log_every": 20},
}


def experiment_sizes(task, budget):
    """The sizes of one task's runs at one budget: its family's row of :data:`SIZES`.

    Args:
        task (str): a key of :data:`TASKS`.
        budget (str): ``"quick"`` or ``"full"``, as the notebook chose it
            (:func:`helpers.repro.budget`); never guessed here.

    Returns:
        a fresh dict with ``steps``, ``hidden``, ``batch_size`` and ``log_every``.

    Example::

        >>> experiment_sizes("pixels_const", "quick") == SIZES["pixels", "quick"]
        True
    """
    where = "experiment_sizes"
    task = check_choice(task, "task", TASKS, where)
    budget = check_choice(budget, "budget", BUDGETS, where)
    return dict(SIZES[TASKS[task]["family"], budget])


def task_data(task, dtype=torch.float32):
    """``(train_set, test_set)`` of a task, each a pair ``(x, y)`` with ``x`` time-major ``(T, N, I)``.

    Args:
        task (str): a key of :data:`TASKS`.
        dtype (torch.dtype): floating dtype of the inputs. Default: ``torch.float32``

    Example::

        >>> (x, y), test = task_data("pixels_const")
        >>> tuple(x.shape), x[:, :, 1].unique().tolist()
        ((64, 1347, 2), [1.0])
    """
    task = check_choice(task, "task", TASKS, "task_data")
    if task == "adding":
        T = TASKS["adding"]["T"]
        return adding_problem(10000, T, seed=0, dtype=dtype), adding_problem(1000, T, seed=1, dtype=dtype)
    order = "rows" if task == "rows" else "pixels"
    train_set, test_set = load_digits_sequences(order, dtype=dtype)
    if task != "pixels_const":
        return train_set, test_set

    def with_constant(data):
        x, y = data
        return torch.cat([x, torch.ones_like(x)], dim=-1), y  # (T, N, 1) -> (T, N, 2)

    return with_constant(train_set), with_constant(test_set)


def build_model(task, model, hidden, seed=0, *, stepwise=False):
    r"""A fresh model for a task: a cell of :mod:`helpers.rnn` and a linear read-out of :math:`h_T`.

    Seeds every generator with ``seed`` first (:func:`helpers.repro.seed_everything`),
    so the same arguments give the same initial weights, whichever way the cell runs.

    Args:
        task (str): a key of :data:`TASKS`.
        model (str): a key of :data:`MODELS`.
        hidden (int): ``H``.
        seed (int): Default: 0
        stepwise (bool): run an LSTM cell step by step in Python (:class:`~helpers.rnn.RNN`)
            instead of as :class:`~helpers.rnn.LSTM`, which computes the same function
            faster (the two differ in rounding only). GRUs are always stepped. Default: ``False``

    Returns:
        :class:`~helpers.rnn.SequenceRegressor` (adding) or
        :class:`~helpers.rnn.SequenceClassifier` with 10 classes (digits), float32, on the CPU;
        either way ``model.rnn.cell`` is the cell and the ``state_dict`` keys are the same.
    """
    where = "build_model"
    task = check_choice(task, "task", TASKS, where)
    cell_cls, norm = MODELS[check_choice(model, "model", MODELS, where)]
    check_instance(stepwise, bool, "stepwise", where, "True or False")
    seed_everything(seed)
    cell = cell_cls(TASKS[task]["input_size"], hidden, norm=norm)
    if cell_cls is LSTMCell and not stepwise:
        cell = LSTM.from_cell(cell)
    if TASKS[task]["task"] == "regress":
        return SequenceRegressor(cell)
    return SequenceClassifier(cell, n_classes=10)


def train_run(task, model, budget, *, sizes=None, device=None, seed=0, progress=True, data=None, lr=LR,
              clip_grad=CLIP_GRAD):
    """Train one model on one task, as chapter 5 and the registered experiments do.

    Args:
        task (str): a key of :data:`TASKS`.
        model (str): a key of :data:`MODELS`.
        budget (str or None): ``"quick"`` or ``"full"``: the sizes come from
            :data:`SIZES` and the budget is recorded in the history. ``None``
            only together with ``sizes`` (a run sized by hand, recorded as such).
        sizes (dict or None): ``steps``, ``hidden``, ``batch_size``, ``log_every``
            to use instead of the budget's. Default: ``None``
        device: where to train; ``None`` picks one (:func:`helpers.repro.pick_device`).
        seed (int): seeds the initial weights and the batch order. Default: 0
        progress (bool or callable): a progress bar, or ``progress(step, steps)`` (see :func:`helpers.train.train`).
        data: ``(train_set, test_set)`` to use instead of :func:`task_data` ``(task)``
            (to share one copy between runs).
        lr (float): Adam's learning rate. Default: :data:`LR`
        clip_grad (float or None): gradient-norm clip. Default: :data:`CLIP_GRAD`

    Returns:
        (model, :class:`~helpers.train.History`): the trained model (on ``device``)
        and what :func:`helpers.train.train` recorded; test loss and, for the
        digits, test accuracy at every log point.
    """
    where = "train_run"
    task = check_choice(task, "task", TASKS, where)
    model = check_choice(model, "model", MODELS, where)
    if budget is None and sizes is None:
        raise ValueError(f"{where}: give a budget ({' or '.join(map(repr, BUDGETS))}) or sizes")
    if budget is not None:
        budget = check_choice(budget, "budget", BUDGETS, where, hint="or None with sizes")
    sizes = experiment_sizes(task, budget) if sizes is None else dict(sizes)
    missing = {"steps", "hidden", "batch_size", "log_every"} - set(sizes)
    if missing:
        raise ValueError(f"{where}: sizes is missing {sorted(missing)}")
    train_set, test_set = task_data(task) if data is None else data
    net = build_model(task, model, sizes["hidden"], seed=seed)
    history = train(net, train_set, test_set, task=TASKS[task]["task"], steps=sizes["steps"],
                    batch_size=sizes["batch_size"], lr=lr, clip_grad=clip_grad, log_every=sizes["log_every"],
                    device=device, seed=seed, progress=progress, budget=budget)
    return net, history


#: The registered experiments of chapter 5: name -> the ``(task, model)`` runs one record holds.
RUNS = {
    "adding": (("adding", "lstm"), ("adding", "ln-lstm"), ("adding", "gru"), ("adding", "ln-gru")),
    "pixels": (("pixels", "lstm"), ("pixels", "ln-lstm"), ("pixels_const", "ln-lstm")),
    "rows": (("rows", "lstm"), ("rows", "ln-lstm")),
}


def _run_all(name, budget, seed, device):
    """Every run of :data:`RUNS` ``[name]`` for one seed: ``{"task/model": History as a dict}``."""
    out, data = {}, {}
    for task, model in RUNS[name]:
        data.setdefault(task, task_data(task))
        _, history = train_run(task, model, budget, sizes=registered_sizes(name, budget), device=device, seed=seed,
                               progress=False, data=data[task])
        out[f"{task}/{model}"] = dataclasses.asdict(history)
    return out


def _engine(device):
    return f"LSTMs: {lstm_engine(device)}; GRUs: stepped cells (helpers.rnn.GRUCell), torch operations"


@experiment("adding", quick=SIZES["adding", "quick"], full=SIZES["adding", "full"], engine=_engine,
            summary="the adding problem (T = 50): LSTM and GRU, with and without layer norm (chapter 5)")
def adding(budget, seed, device):
    """The adding problem for every model of :data:`RUNS` ``["adding"]``, one seed."""
    return _run_all("adding", budget, seed, device)


@experiment("pixels", quick=SIZES["pixels", "quick"], full=SIZES["pixels", "full"], engine=lstm_engine,
            summary="digits read pixel by pixel (T = 64): LSTM, LN-LSTM, LN-LSTM with a constant input (chapter 5)")
def pixels(budget, seed, device):
    """The digits pixel by pixel for every model of :data:`RUNS` ``["pixels"]``, one seed."""
    return _run_all("pixels", budget, seed, device)


@experiment("rows", quick=SIZES["rows", "quick"], full=SIZES["rows", "full"], engine=lstm_engine,
            summary="digits read row by row (T = 8): LSTM and LN-LSTM (chapter 5)")
def rows(budget, seed, device):
    """The digits row by row for every model of :data:`RUNS` ``["rows"]``, one seed."""
    return _run_all("rows", budget, seed, device)


def histories(*records):
    """``{"task/model": [History, one per seed]}`` from records of ``"adding"``, ``"pixels"`` or ``"rows"``.

    Example::

        >>> from helpers import experiments
        >>> runs = histories(experiments.load_reference("rows"))
        >>> sorted(runs), len(runs["rows/lstm"])
        (['rows/ln-lstm', 'rows/lstm'], 5)
    """
    out = {}
    for record in records:
        check_instance(record, dict, "record", "histories", "a record of helpers.experiments.run")
        if record.get("name") not in RUNS:
            raise ValueError(f"histories: a record of {sorted(RUNS)} is needed, got one of {record.get('name')!r}")
        for run in record["runs"]:
            for key, fields in run.items():
                out.setdefault(key, []).append(History(**fields))
    return out
