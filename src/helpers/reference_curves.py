r"""Chapter 5's training runs, and the reference learning curves shipped with the book.

Chapter 5 trains LSTMs and GRUs with and without layer norm on three tasks,
over several seeds. The notebook picks a budget once (:func:`helpers.repro.budget`:
``"quick"`` on a CPU, ``"full"`` on a GPU, or ``LNBOOK_BUDGET``); the one
sizes table, :data:`SIZES`, maps (experiment family, budget) to the sizes of a
run; :func:`train_run` passes the budget on to :func:`helpers.train.train`,
whose :class:`~helpers.train.History` records it. A reader's runs are drawn
over *reference curves*: the same runs at the ``"full"`` budget, made once by
:func:`generate` and stored in ``helpers/data_files/ch5_reference_curves.json``
with the seeds, the device, the torch version, the sizes, the wall time and
the date. :func:`seed_band` and :func:`clearly_less` summarize runs over seeds.

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

The shipped file holds five seeds at the full budget, made on a 2-core CPU with
one torch thread, on a machine busy with other work (so its wall times are
slower than an idle machine's): the GRU runs with the cells stepped in Python,
the LSTM runs again later with :class:`helpers.rnn.LSTM` (its metadata say
when; the GRUs' runs are what the same code computes today). From the
repository root, on a GPU if there is one::

    .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate(seeds=range(5))"

Nothing runs at import.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import platform
import time

import numpy as np
import torch

from ._checks import check_choice, check_instance
from .data import adding_problem, load_digits_sequences
from .repro import BUDGETS, pick_device, seed_everything
from .rnn import LSTM, GRUCell, LSTMCell, SequenceClassifier, SequenceRegressor
from .train import History, train
from .experiments.stats import clearly_less, seed_band  # the book's rule lives with the experiments

__all__ = [
    "TASKS",
    "MODELS",
    "EXPERIMENTS",
    "DEFAULT_PATH",
    "LR",
    "CLIP_GRAD",
    "SIZES",
    "experiment_sizes",
    "task_data",
    "build_model",
    "train_run",
    "generate",
    "save",
    "load",
    "seed_band",
    "clearly_less",
]

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

#: The runs chapter 5 makes and the reference file holds, as (task, model) pairs.
EXPERIMENTS = (
    ("adding", "lstm"), ("adding", "ln-lstm"), ("adding", "gru"), ("adding", "ln-gru"),
    ("pixels", "lstm"), ("pixels", "ln-lstm"), ("pixels_const", "ln-lstm"),
    ("rows", "lstm"), ("rows", "ln-lstm"),
)

#: Where :func:`generate` writes and :func:`load` reads by default.
DEFAULT_PATH = pathlib.Path(__file__).with_name("data_files") / "ch5_reference_curves.json"

#: Adam's learning rate and the gradient-norm clip of every run.
LR = 1e-2
CLIP_GRAD = 1.0

#: The one sizes table: (experiment family, budget) -> ``steps``, ``hidden``,
#: ``batch_size`` and ``log_every``. ``"quick"`` is sized for chapter 5 to run
#: two seeds of every run within three minutes on a 2-core CPU (the chapter
#: measures its own training time); ``"full"`` is what
#: the shipped reference curves used (made on a CPU, so H stays 64). The adding
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
    """Train one model on one task, as chapter 5 and :func:`generate` do.

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


# ---------------------------------------------------------------------------
# The shipped reference
# ---------------------------------------------------------------------------

def _rounded(value, digits=6):
    """Floats to ``digits`` significant digits (keeps the file small); other values unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value != 0.0:
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _histories(runs, where):
    """``runs`` with every value a non-empty list of histories (one History becomes a list of one)."""
    if not isinstance(runs, dict):
        raise TypeError(f"{where}: runs must be a dict of name -> list of helpers.train.History")
    out = {}
    for name, hs in runs.items():
        hs = [hs] if isinstance(hs, History) else hs
        if not (isinstance(hs, (list, tuple)) and hs and all(isinstance(h, History) for h in hs)):
            raise TypeError(f"{where}: runs[{name!r}] must be a History or a non-empty list of them")
        out[name] = list(hs)
    return out


def save(runs, metadata, path=DEFAULT_PATH):
    """Write reference curves as JSON.

    Args:
        runs (dict): ``"task/model"`` -> a list of :class:`~helpers.train.History`,
            one per seed (a single History is stored as a list of one).
        metadata (dict): JSON-serialisable facts about the runs (seeds, device, ...).
        path: the file to write. Default: :data:`DEFAULT_PATH`

    Returns:
        pathlib.Path: the file written.
    """
    runs = _histories(runs, "save")
    if not isinstance(metadata, dict):
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "metadata": metadata,
        "runs": {name: [{k: _rounded(v) for k, v in h.to_dict().items()} for h in hs] for name, hs in runs.items()},
    }
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def load(path=DEFAULT_PATH):
    """Read reference curves written by :func:`save`.

    Args:
        path: the JSON file. Default: :data:`DEFAULT_PATH`, the curves shipped with the book.

    Returns:
        (runs, metadata): ``"task/model"`` -> a list of :class:`~helpers.train.History`
        (one per seed, in the order of ``metadata["seeds"]``), and the metadata dict.

    Raises:
        FileNotFoundError: if there is no such file (run :func:`generate`).
        ValueError: if the file is not reference curves.

    Example::

        >>> runs, meta = load()
        >>> meta["device"], meta["seeds"], len(runs["adding/gru"])
        ('cpu', [0, 1, 2, 3, 4], 5)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no reference curves at {path}; make them with helpers.reference_curves.generate()")
    try:
        payload = json.loads(path.read_text())
        runs = {name: [History(**fields) for fields in hs] for name, hs in payload["runs"].items()}
        metadata = payload["metadata"]
        seeds = metadata["seeds"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"load: {path} does not hold reference curves ({err})") from None
    if any([h.seed for h in hs] != seeds for hs in runs.values()):
        raise ValueError(f"load: {path}: the runs' seeds do not match metadata['seeds'] = {seeds}")
    return runs, metadata


def generate(budget="full", path=DEFAULT_PATH, *, device=None, experiments=EXPERIMENTS, seeds=(0,), progress=True,
             num_threads=1):
    """Make the reference curves: every run of :data:`EXPERIMENTS`, for every seed, at one budget, saved.

    The shipped file was made with (the environment variable is harmless
    and no longer needed: the budget is this function's argument)::

        LNBOOK_BUDGET=full .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate()"

    Five seeds, for bands over seeds in chapter 5 (on a GPU if there is one)::

        .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate(seeds=range(5))"

    Args:
        budget (str): ``"quick"`` or ``"full"``: the sizes (:data:`SIZES`) and
            what every history records. Default: ``"full"``
        path: where to write; ``None`` writes nothing. Default: :data:`DEFAULT_PATH`
        device: where to train; ``None`` picks one.
        experiments: (task, model) pairs. Default: :data:`EXPERIMENTS`
        seeds: the seeds, each run once per seed (non-negative ints). Default: ``(0,)``
        progress (bool): show progress bars. Default: ``True``
        num_threads (int or None): torch's CPU threads during the runs, restored
            afterwards. These models are small (``H <= 64``, batches of 64), so
            one thread is as fast as several, and on a machine busy with other
            work multi-threaded small operations can be much slower (chapter 5
            measures it). ``None`` keeps torch's setting. Default: 1

    Returns:
        (runs, metadata) as :func:`load` returns them; the metadata record the
        budget, the seeds, the device, the torch version, the sizes, the
        seconds per run and in all, and the date.
    """
    budget = check_choice(budget, "budget", BUDGETS, "generate")
    seeds = list(seeds) if isinstance(seeds, (list, tuple, range)) else seeds
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise ValueError(f"generate: seeds must be a non-empty list of distinct non-negative ints, got {seeds!r}")
    device = pick_device() if device is None else torch.device(device)
    threads_before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _generate(budget, path, device, experiments, seeds, progress)
    finally:
        torch.set_num_threads(threads_before)


def _generate(budget, path, device, experiments, seeds, progress):
    runs, sizes, seconds, cache = {}, {}, {}, {}
    start = time.perf_counter()
    for task, model in experiments:
        task = check_choice(task, "task", TASKS, "generate")
        model = check_choice(model, "model", MODELS, "generate")
        if task not in cache:
            cache[task] = task_data(task)
        name = f"{task}/{model}"
        runs[name], sizes[name], seconds[name] = [], experiment_sizes(task, budget), []
        for seed in seeds:
            tic = time.perf_counter()
            _, history = train_run(task, model, budget, device=device, seed=seed, progress=progress, data=cache[task])
            runs[name].append(history)
            seconds[name].append(round(time.perf_counter() - tic, 2))
    metadata = {
        "description": "Reference learning curves of chapter 5 (helpers.reference_curves.EXPERIMENTS).",
        "budget": budget,
        "seeds": seeds,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "lr": LR,
        "clip_grad": CLIP_GRAD,
        "sizes": sizes,
        "seconds": seconds,
        "total_seconds": round(time.perf_counter() - start, 1),
        "implementation": "LSTMs: helpers.rnn.LSTM; GRUs: the cells stepped in Python",
        "command": f"generate(budget={budget!r}, seeds={seeds}, device={str(device)!r})",
    }
    if path is not None:
        save(runs, metadata, path)
    return runs, metadata
