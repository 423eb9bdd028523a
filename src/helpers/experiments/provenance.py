"""Where a record came from: the code's commit, the versions, the machine, the threads and what ran the steps.

:func:`provenance` is called by :func:`helpers.experiments.run` for every record, so a
shipped result and a reader's own run can be told apart and compared knowingly (a
record made on the C kernel is not expected to retrace one made on torch operations
to the last digit). Nothing runs at import.
"""

from __future__ import annotations

import datetime
import functools
import pathlib
import platform
import subprocess

import torch

__all__ = ["KEYS", "provenance", "commit", "cpu_name", "lstm_engine"]

#: The keys of every record's ``provenance`` object.
KEYS = ("commit", "torch", "python", "threads", "device_name", "cpu", "engine", "date", "wall_seconds")


@functools.lru_cache(maxsize=1)
def commit() -> str:
    """The book's git commit (``"<hash>"``, ``"<hash>+changes"`` if the tree differs from it), or ``"unknown"``.

    Read from the checkout this package was imported from; an installed wheel has no
    checkout and says ``"unknown (installed package)"``.
    """
    here = pathlib.Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (installed package)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)src"],
                               cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return head.stdout.strip()[:12] + ("+changes" if dirty.stdout.strip() else "")


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def lstm_engine(device, dtype=torch.float32) -> str:
    """What :class:`helpers.rnn.LSTM` (``engine="auto"``) runs the layer-normalized recurrence on, here."""
    from .. import lstm_kernel

    device = torch.device(device)
    ok, why = lstm_kernel.available()
    if ok and device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return "helpers.rnn.LSTM on the C kernel (helpers/lstm_kernel.c)"
    return f"helpers.rnn.LSTM on torch operations ({why if not ok else f'{dtype} on {device.type}'})"


def provenance(engine: str, device, wall_seconds) -> dict:
    """The ``provenance`` object of a record (keys :data:`KEYS`).

    Args:
        engine (str): what computed the model's steps, e.g. ``"stepped cell (helpers.rnn.LSTMCell)"``.
        device (torch.device): where the run was made.
        wall_seconds (list of float): the wall time of each seed.
    """
    device = torch.device(device)
    return {
        "commit": commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "cpu": cpu_name(),
        "engine": engine,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(float(sum(wall_seconds)), 3),
    }
