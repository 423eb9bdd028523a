"""What the recurrent experiments share: the digits as arrays, a time-to-target, seed summaries, verdicts.

Private to :mod:`helpers.experiments`; nothing runs at import.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..reference_curves import clearly_less

__all__ = ["digits_arrays", "steps_to_reach", "final_mean", "steps_to_baseline", "spread_text", "compare", "per_seed",
           "rounded"]


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


def spread_text(values, digits=2, unit=""):
    """``"mean (min to max)"`` of per-seed values, e.g. ``"0.61 (0.52 to 0.70)"``; ``inf`` prints as "never"."""
    v = np.asarray(values, dtype=float)
    show = lambda x: "never" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.{digits}f}{unit}"  # noqa: E731
    if v.size == 1:
        return show(v[0])
    return f"{show(v.mean())} ({show(v.min())} to {show(v.max())})"


def compare(a, b):
    """``"holds"`` if every value of ``a`` is below every value of ``b``, ``"does not hold"`` if the reverse, else ``"inconclusive"``.

    The book's rule (:func:`helpers.reference_curves.clearly_less`): a difference counts only
    when the per-seed ranges do not overlap.
    """
    if clearly_less(a, b):
        return "holds"
    if clearly_less(b, a):
        return "does not hold"
    return "inconclusive"


def rounded(x, digits=4):
    """A float, or a list of them, rounded for a compact JSON record (NaN and inf become ``None``)."""
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [rounded(v, digits) for v in x]
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None
