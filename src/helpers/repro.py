"""Reproducibility: seeds, the device, and how much training a run can afford.

Every chapter that draws random numbers or trains calls :func:`seed_everything`
in its setup cell, :func:`pick_device` to choose where tensors live, and
:func:`budget` to size its experiments. Nothing here runs at import.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._checks import check_choice, check_int

__all__ = ["seed_everything", "pick_device", "budget", "BUDGETS", "BUDGET_ENV_VAR"]

#: The two training budgets. ``"quick"`` keeps every training cell of a chapter
#: to about a minute on a 2-core laptop CPU; ``"full"`` is what a GPU affords.
BUDGETS = ("quick", "full")

#: Environment variable that overrides the automatic budget choice.
BUDGET_ENV_VAR = "LNBOOK_BUDGET"


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    Args:
        seed: a non-negative integer.

    Returns:
        The seed, so a cell can print what it used.

    Example::

        >>> seed_everything(0)
        0
        >>> a = torch.rand(2); _ = seed_everything(0); bool((torch.rand(2) == a).all())
        True
    """
    seed = check_int(seed, "seed", "seed_everything", lo=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def pick_device(prefer: str | None = None) -> torch.device:
    """The best device available: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: force a device type (``"cuda"``, ``"mps"`` or ``"cpu"``); an
            unavailable choice raises ``ValueError`` instead of silently falling back.
    """
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if prefer is not None:
        prefer = check_choice(prefer, "prefer", available, "pick_device")
        if not available[prefer]:
            raise ValueError(f"pick_device: device {prefer!r} was asked for but is not available here")
        return torch.device(prefer)
    for kind in ("cuda", "mps", "cpu"):
        if available[kind]:
            return torch.device(kind)
    raise AssertionError("unreachable: the CPU is always available")


def budget(device: torch.device | str | None = None) -> str:
    """How much training this run can afford: ``"full"`` on a GPU, ``"quick"`` otherwise.

    The environment variable ``LNBOOK_BUDGET`` (``quick`` or ``full``) overrides
    the choice, e.g. to run the full experiments on a fast CPU or to keep a GPU
    build quick.

    Args:
        device: the device training will use; by default :func:`pick_device`.
    """
    override = os.environ.get(BUDGET_ENV_VAR, "").strip().lower()
    if override:
        return check_choice(override, BUDGET_ENV_VAR, BUDGETS, "budget")
    device = torch.device(device) if device is not None else pick_device()
    return "full" if device.type == "cuda" else "quick"
