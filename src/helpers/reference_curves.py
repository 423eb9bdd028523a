r"""Chapter 5's training runs, and the reference learning curves shipped with the book.

Chapter 5 trains LSTMs and GRUs with and without layer norm on three tasks;
a reader's run uses the budget of their machine (:func:`helpers.repro.budget`:
``"quick"`` on a CPU), and is drawn over *reference curves*: the same runs at
the ``"full"`` budget, made once and stored in
``helpers/data_files/ch5_reference_curves.json`` together with the seed, the
device, the torch version, the sizes and the date.

Both go through :func:`train_run`, so a reader's run and the reference differ
only in their sizes (:func:`experiment_sizes`) and the machine.

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
Every run: Adam, learning rate 0.01, gradient norm clipped to 1.

To regenerate the shipped file (about five minutes on a 2-core CPU), from the
repository root::

    LNBOOK_BUDGET=full .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate()"

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

import torch

from ._checks import check_choice
from .data import adding_problem, load_digits_sequences
from .repro import BUDGETS, budget, pick_device, seed_everything
from .rnn import GRUCell, LSTMCell, SequenceClassifier, SequenceRegressor
from .train import History, budget_sizes, train

__all__ = [
    "TASKS",
    "MODELS",
    "EXPERIMENTS",
    "DEFAULT_PATH",
    "LR",
    "CLIP_GRAD",
    "experiment_sizes",
    "task_data",
    "build_model",
    "train_run",
    "generate",
    "save",
    "load",
]

#: Task name -> what it is: ``task`` for :func:`helpers.train.train` and the input size ``I``.
TASKS = {
    "adding": {"task": "regress", "input_size": 2, "T": 50},
    "rows": {"task": "classify", "input_size": 8, "T": 8},
    "pixels": {"task": "classify", "input_size": 1, "T": 64},
    "pixels_const": {"task": "classify", "input_size": 2, "T": 64},
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

#: Sizes for the full budget. A GPU affords ``helpers.train.BUDGET_SIZES["full"]``
#: (3000 steps of 128 units); the shipped reference was made on a CPU, so the
#: full runs here are longer than the quick ones but keep H = 64.
_FULL = {
    "adding": {"steps": 1000, "hidden": 64, "batch_size": 64, "log_every": 25},
    "rows": {"steps": 1000, "hidden": 64, "batch_size": 64, "log_every": 25},
    "pixels": {"steps": 600, "hidden": 64, "batch_size": 64, "log_every": 20},
}


def experiment_sizes(task, which=None):
    """``steps``, ``hidden``, ``batch_size`` and ``log_every`` of one task at one budget.

    ``"quick"`` is :func:`helpers.train.budget_sizes` ``("quick")`` (64 units,
    batches of 64, a log point every 25 steps) with fewer steps, so that all of
    chapter 5 runs in about two minutes on a 2-core CPU: 200 steps for the
    adding problem, 300 for the digits read by rows, and 150 steps of 32 units
    for the two pixel tasks, whose sequences are 64 steps long. ``"full"`` is
    what the shipped reference curves used; the adding and rows tasks share
    every size but the number of steps with ``"quick"``, so a quick run on the
    same machine retraces the start of the reference run.

    Args:
        task (str): a key of :data:`TASKS`.
        which (str or None): ``"quick"`` or ``"full"``; ``None`` asks
            :func:`helpers.repro.budget`. Default: ``None``

    Returns:
        a fresh dict.

    Example::

        >>> experiment_sizes("pixels", "quick")
        {'steps': 150, 'hidden': 32, 'batch_size': 64, 'log_every': 15}
    """
    where = "experiment_sizes"
    task = check_choice(task, "task", TASKS, where)
    which = budget() if which is None else check_choice(which, "budget", BUDGETS, where, hint="or None")
    family = "pixels" if task.startswith("pixels") else task
    if which == "full":
        return dict(_FULL[family])
    sizes = budget_sizes("quick")
    if family == "pixels":
        sizes.update(steps=150, hidden=32, log_every=15)
    elif family == "adding":
        sizes.update(steps=200)
    return sizes


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


def build_model(task, model, hidden, seed=0):
    r"""A fresh model for a task: a cell of :mod:`helpers.rnn` and a linear read-out of :math:`h_T`.

    Seeds every generator with ``seed`` first (:func:`helpers.repro.seed_everything`),
    so the same arguments give the same initial weights.

    Args:
        task (str): a key of :data:`TASKS`.
        model (str): a key of :data:`MODELS`.
        hidden (int): ``H``.
        seed (int): Default: 0

    Returns:
        :class:`~helpers.rnn.SequenceRegressor` (adding) or
        :class:`~helpers.rnn.SequenceClassifier` with 10 classes (digits), float32, on the CPU.
    """
    where = "build_model"
    task = check_choice(task, "task", TASKS, where)
    cell_cls, norm = MODELS[check_choice(model, "model", MODELS, where)]
    seed_everything(seed)
    cell = cell_cls(TASKS[task]["input_size"], hidden, norm=norm)
    if TASKS[task]["task"] == "regress":
        return SequenceRegressor(cell)
    return SequenceClassifier(cell, n_classes=10)


def train_run(task, model, sizes=None, *, device=None, seed=0, progress=True, data=None, lr=LR,
              clip_grad=CLIP_GRAD):
    """Train one model on one task, as chapter 5 and :func:`generate` do.

    Args:
        task (str): a key of :data:`TASKS`.
        model (str): a key of :data:`MODELS`.
        sizes (dict or None): ``steps``, ``hidden``, ``batch_size``, ``log_every``;
            ``None`` uses :func:`experiment_sizes` for the current budget.
        device: where to train; ``None`` picks one (:func:`helpers.repro.pick_device`).
        seed (int): seeds the initial weights and the batch order. Default: 0
        progress (bool): show a progress bar. Default: ``True``
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
    sizes = experiment_sizes(task) if sizes is None else dict(sizes)
    missing = {"steps", "hidden", "batch_size", "log_every"} - set(sizes)
    if missing:
        raise ValueError(f"{where}: sizes is missing {sorted(missing)}")
    train_set, test_set = task_data(task) if data is None else data
    net = build_model(task, model, sizes["hidden"], seed=seed)
    history = train(net, train_set, test_set, task=TASKS[task]["task"], steps=sizes["steps"],
                    batch_size=sizes["batch_size"], lr=lr, clip_grad=clip_grad, log_every=sizes["log_every"],
                    device=device, seed=seed, progress=progress)
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


def save(runs, metadata, path=DEFAULT_PATH):
    """Write reference curves as JSON.

    Args:
        runs (dict): ``"task/model"`` -> :class:`~helpers.train.History`.
        metadata (dict): JSON-serialisable facts about the run (seed, device, ...).
        path: the file to write. Default: :data:`DEFAULT_PATH`

    Returns:
        pathlib.Path: the file written.
    """
    if not isinstance(runs, dict) or not all(isinstance(h, History) for h in runs.values()):
        raise TypeError("save: runs must be a dict of name -> helpers.train.History")
    if not isinstance(metadata, dict):
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "metadata": metadata,
        "runs": {name: {k: _rounded(v) for k, v in h.to_dict().items()} for name, h in runs.items()},
    }
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def load(path=DEFAULT_PATH):
    """Read reference curves written by :func:`save`.

    Args:
        path: the JSON file. Default: :data:`DEFAULT_PATH`, the curves shipped with the book.

    Returns:
        (runs, metadata): ``"task/model"`` -> :class:`~helpers.train.History`, and the metadata dict.

    Raises:
        FileNotFoundError: if there is no such file (run :func:`generate`).
        ValueError: if the file is not reference curves.

    Example::

        >>> runs, meta = load()
        >>> meta["device"], sorted(runs)[0]
        ('cpu', 'adding/gru')
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no reference curves at {path}; make them with helpers.reference_curves.generate()")
    try:
        payload = json.loads(path.read_text())
        runs = {name: History(**fields) for name, fields in payload["runs"].items()}
        metadata = payload["metadata"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"load: {path} does not hold reference curves ({err})") from None
    return runs, metadata


def generate(which="full", path=DEFAULT_PATH, *, device=None, experiments=EXPERIMENTS, seed=0, progress=True,
             num_threads=1):
    """Make the reference curves: every run of :data:`EXPERIMENTS` at one budget, saved with its metadata.

    The shipped file was made with::

        LNBOOK_BUDGET=full .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate()"

    Args:
        which (str): ``"quick"`` or ``"full"``. Default: ``"full"``
        path: where to write; ``None`` writes nothing. Default: :data:`DEFAULT_PATH`
        device: where to train; ``None`` picks one.
        experiments: (task, model) pairs. Default: :data:`EXPERIMENTS`
        seed (int): Default: 0
        progress (bool): show progress bars. Default: ``True``
        num_threads (int or None): torch's CPU threads during the runs, restored
            afterwards. These models are small (``H <= 64``, batches of 64), so
            one thread is as fast as several, and on a machine busy with other
            work multi-threaded small operations can be many times slower.
            ``None`` keeps torch's setting. Default: 1

    Returns:
        (runs, metadata) as :func:`load` returns them.
    """
    which = check_choice(which, "which", BUDGETS, "generate")
    device = pick_device() if device is None else torch.device(device)
    threads_before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _generate(which, path, device, experiments, seed, progress)
    finally:
        torch.set_num_threads(threads_before)


def _generate(which, path, device, experiments, seed, progress):
    runs, sizes, seconds = {}, {}, {}
    start = time.perf_counter()
    cache = {}
    for task, model in experiments:
        task = check_choice(task, "task", TASKS, "generate")
        model = check_choice(model, "model", MODELS, "generate")
        if task not in cache:
            cache[task] = task_data(task)
        s = experiment_sizes(task, which)
        tic = time.perf_counter()
        _, history = train_run(task, model, s, device=device, seed=seed, progress=progress, data=cache[task])
        name = f"{task}/{model}"
        runs[name], sizes[name], seconds[name] = history, s, round(time.perf_counter() - tic, 2)
    metadata = {
        "description": "Reference learning curves of chapter 5 (helpers.reference_curves.EXPERIMENTS).",
        "budget": which,
        "seed": seed,
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
        "command": 'LNBOOK_BUDGET=full .venv/bin/python -c "from helpers import reference_curves as rc; rc.generate()"',
    }
    if path is not None:
        save(runs, metadata, path)
    return runs, metadata
