"""What the recurrent experiments share: the digits as arrays, a time-to-target, seed summaries, verdicts.

Private to :mod:`helpers.experiments`; nothing runs at import.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch


__all__ = ["digits_arrays", "steps_to_reach", "final_mean", "steps_to_baseline", "spread_text", "ratio_text",
           "per_seed", "rounded", "one_thread"]


def digits_arrays(seed=0):
    """scikit-learn's digits split as in :func:`helpers.data.load_digits_sequences`: flat images in [0, 1].

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: images :math:`(N, 64)` float32, labels :math:`(N,)` int64.
    """
    from ..data import load_digits_sequences

    (x, y), (xt, yt) = load_digits_sequences("pixels", seed=seed)  # (64, N, 1) each
    return (x[..., 0].T.contiguous(), y), (xt[..., 0].T.contiguous(), yt)  # (N, 64)


def steps_to_reach(steps, values, target, *, lower=True):
    """The first logged step at which ``values`` reaches ``target`` (``<=`` if ``lower`` else ``>=``); ``None`` if never."""
    for s, v in zip(steps, values):
        if v is not None and math.isfinite(v) and (v <= target if lower else v >= target):
            return int(s)
    return None


def final_mean(run, variant, key, k=3):
    """The mean of the last ``k`` logged values of ``run[variant][key]``: where a curve ended."""
    tail = run[variant][key][-k:]
    return sum(tail) / len(tail)


def steps_to_baseline(run, variant, key):
    """Steps until ``run[variant][key]`` first reaches where the baseline ended (``inf`` if never)."""
    s = steps_to_reach(run[variant]["step"], run[variant][key], final_mean(run, "baseline", key))
    return math.inf if s is None else s


def per_seed(record, fn):
    """``[fn(run) for run in record["runs"]]``: one value per seed."""
    return [fn(run) for run in record["runs"]]


def _show(x, digits, unit):
    """One number for the prose: ``inf`` is "never", NaN "n/a", and never ``-0.0``."""
    if math.isinf(x):
        return "never"
    if math.isnan(x):
        return "n/a"
    return f"{round(x, digits) + 0.0:.{digits}f}{unit}"


def spread_text(values, digits=2, unit=""):
    """``"mean (min to max)"`` of per-seed values, e.g. ``"0.61 (0.52 to 0.70)"``.

    Seeds whose value is ``inf`` ("never got there") are not averaged in: they are
    counted, ``"0.61 (0.52 to 0.70); never in 1 of 3 seeds"``, and if every seed's
    value is ``inf`` the text is ``"never"``. One seed prints its value alone.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("spread_text: no values (an empty list of seeds)")
    never = np.isinf(v) & (v > 0)
    if never.all():
        return "never"
    f = v[~never]
    text = _show(f[0], digits, unit) if f.size == 1 else \
        f"{_show(f.mean(), digits, unit)} ({_show(f.min(), digits, unit)} to {_show(f.max(), digits, unit)})"
    return text if not never.any() else f"{text}; never in {int(never.sum())} of {v.size} seeds"


def ratio_text(ln_steps, base_steps, digits=2):
    """Per-seed ratios ``ln / base`` of steps to a target, as the median and the seeds that got there.

    A seed in which LN never reached the target (``inf`` steps) has no ratio to average, so the
    summary is the *median* over all seeds (``"never"`` if at least half never got there) and
    how many seeds reached the target, with the range over those that did::

        "median 0.62 (0.45 to 0.89); LN reached it in 4 of 5 seeds"

    Args:
        ln_steps, base_steps: steps per seed (``inf`` for never); the baseline's must be finite.
    """
    ln, base = np.asarray(ln_steps, dtype=float), np.asarray(base_steps, dtype=float)
    if ln.shape != base.shape or ln.ndim != 1 or ln.size == 0:
        raise ValueError(f"ratio_text: need two equal-length non-empty lists of steps, got {ln.shape} and {base.shape}")
    if not np.isfinite(base).all() or (base <= 0).any():
        raise ValueError("ratio_text: the baseline's steps must be finite and > 0 (it defines the target)")
    ratio = ln / base  # (seeds,), inf where LN never reached the target
    reached = np.isfinite(ratio)
    k, n = int(reached.sum()), ratio.size
    median = _show(float(np.median(ratio)), digits, "")
    reached_text = f"LN reached it in {k} of {n} seed{'s' if n != 1 else ''}"
    if k == 0:
        return f"never: {reached_text}"
    r = ratio[reached]
    if k == 1:
        return f"median {median}; {reached_text}"
    span = f"{_show(r.min(), digits, '')} to {_show(r.max(), digits, '')}"
    return f"median {median} ({span}); {reached_text}" if k == n else \
        f"median {median}; {reached_text} (range {span} among them)"


def rounded(x, digits=4):
    """A float, or a list of them, rounded for a compact JSON record (NaN and inf become ``None``)."""
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [rounded(v, digits) for v in x]
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


@contextlib.contextmanager
def one_thread():
    """Run the block with one torch thread (small models: fastest, and it leaves the other cores alone); restore after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
