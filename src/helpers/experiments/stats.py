r"""The book's one rule for judging a claim over seeds, and the seed bands its figures draw.

A claim of the paper is tested on a record of several seeds. Each seed gives one
number, the claim's *effect* (a ratio of steps, a difference in error, ...), and
a :class:`Size` says what the paper asserts about it: which way is better, where
"no effect" lies, and -- where the paper states a size ("almost twice as fast",
"60 % of the time") -- the threshold that size means on the effect's scale.

The rule (:func:`judge`), written once and printed on the results page:

* **holds** -- every seed's effect clears the threshold (where the paper gives no
  size, the threshold is "no effect": every seed is on the claimed side of it);
* **holds in direction, not in size** -- every seed is on the claimed side of
  "no effect", but not every seed clears the paper's size;
* **does not hold** -- no seed is on the claimed side, and none clears the size;
* **does not hold in size** -- the seeds disagree on the direction and none reaches the
  size the paper states;
* **inconclusive** -- the seeds disagree;
* **undecided** -- checked first: in some seed the measure cannot be read (say, a model
  was still improving when training stopped, so its best is yet to come): no verdict
  either way.

A seed exactly at "no effect" (a tie) is not on the claimed side. A size the paper
gives as one model's number is taken as the threshold itself: a model whose true
effect sat exactly there would clear it in about half the seeds.

"Every seed" is deliberately strict: with five seeds, a claim holds only if it
held five times out of five. It needs no distributional assumption, and the
spread the results table prints next to each verdict shows how close it was.

Nothing runs at import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_choice

__all__ = ["RULE", "VERDICTS", "Size", "judge", "clearly_less", "seed_band", "effect_text"]

#: The rule in one paragraph, for the page that shows the results table.
RULE = ("A claim **holds** when every seed's effect clears the paper's size (where the paper states no "
        "size, when every seed's effect lies on the claimed side of no effect); it **holds in direction, "
        "not in size** when every seed lies on the claimed side of no effect but not every seed clears the "
        "size; it **does not hold** when no seed lies on the claimed side of no effect and none clears the "
        "size; it **does not hold in size** when the seeds disagree on the direction and none reaches the "
        "paper's size; otherwise (the seeds disagree) it is **inconclusive**. Before all of these: it is "
        "**undecided** when the measure cannot be read in some seed (a model still improving when training "
        "stopped). A seed exactly at no effect (a tie) is not on the claimed side. A size the paper gives as "
        "one model's number is the threshold itself, so a model whose true effect sat exactly there would "
        "clear it in about half the seeds, and hold in about 1 of 32 records of five seeds.")

#: Every verdict the results table can show.
VERDICTS = ("holds", "holds in direction, not in size", "does not hold", "does not hold in size",
            "inconclusive", "undecided", "not testable in miniature")

DIRECTIONS = ("lower", "higher")


@dataclass(frozen=True)
class Size:
    r"""What a claim asserts about its per-seed effect: a direction, "no effect", and the paper's size.

    Args:
        effect (str): what one seed's number is, e.g. ``"steps to the baseline's final bound, LN / baseline"``.
        better (str): ``"lower"`` or ``"higher"``: which way the claim says the effect goes.
        null (float): the value of "no effect" (1 for a ratio, 0 for a difference).
        threshold (float or None): the paper's size on the effect's scale, e.g. 0.6 for
            "almost twice as fast" as a ratio of steps; ``None`` where the paper states no size.
            A threshold on the other side of ``null`` is a tolerance ("comparable": no worse than it).
        paper (str): the paper's words that give the size, quoted, and how we read them; or why
            there is no size.

    Example::

        >>> s = Size("LN / baseline steps", "lower", 1.0, 0.6, "'almost twice as fast': at most 0.6")
        >>> judge([0.5, 0.55], s), judge([0.5, 0.8], s), judge([0.5, 1.2], s), judge([1.1, 1.3], s)
        ('holds', 'holds in direction, not in size', 'inconclusive', 'does not hold')
        >>> judge([0.9, 1.2], s), judge([0.5, 0.55], s, undecided=[False, True])
        ('does not hold in size', 'undecided')
    """

    effect: str
    better: str
    null: float
    threshold: float | None
    paper: str

    def __post_init__(self):
        check_choice(self.better, "better", DIRECTIONS, "Size")
        if not isinstance(self.null, (int, float)) or not math.isfinite(self.null):
            raise ValueError(f"Size: null must be a finite number, got {self.null!r}")
        if self.threshold is not None and (not isinstance(self.threshold, (int, float))
                                           or not math.isfinite(self.threshold)):
            raise ValueError(f"Size: threshold must be a finite number or None, got {self.threshold!r}")
        for name in ("effect", "paper"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Size: {name} must be a non-empty str")

    def threshold_text(self, digits=2) -> str:
        """The threshold as the results table shows it, e.g. ``"≤ 0.60"``, or ``"none stated (< 1)"``."""
        op = {"lower": ("≤", "<"), "higher": ("≥", ">")}[self.better]
        if self.threshold is None:
            return f"none stated ({op[1]} {self.null:g})"
        return f"{op[0]} {self.threshold:.{digits}f}"


def _values(effects, where):
    v = np.asarray(effects, dtype=float).ravel()
    if v.size == 0:
        raise ValueError(f"{where}: no effects (an empty list of seeds)")
    if np.isnan(v).any():
        raise ValueError(f"{where}: an effect is NaN; a seed that never got there is inf, not NaN")
    return v


def judge(effects, size: Size, undecided=None) -> str:
    """The verdict of the book's rule (:data:`RULE`) for one effect per seed.

    Args:
        effects: one number per seed; ``inf`` (or ``-inf``) stands for "never got there"
            and counts as the worst value in the claimed direction.
        size (Size): what the claim asserts.
        undecided (sequence of bool, optional): per seed, whether its measure cannot be read
            (e.g. a model still improving at the end); any such seed makes the verdict ``"undecided"``.

    Returns:
        one of :data:`VERDICTS` but ``"not testable in miniature"``.
    """
    if not isinstance(size, Size):
        raise TypeError(f"judge: size must be a Size, got {type(size).__name__}")
    v = _values(effects, "judge")
    if undecided is not None:
        flags = np.asarray(undecided)
        if flags.dtype != bool or flags.shape != v.shape:
            raise ValueError(f"judge: undecided must be one bool per seed ({v.size}), got {undecided!r}")
        if flags.any():
            return "undecided"
    sign = 1.0 if size.better == "lower" else -1.0
    v, null = sign * v, sign * size.null  # now lower is better
    direction = v < null  # (seeds,) on the claimed side of no effect
    if size.threshold is None:
        clears = direction
    else:
        clears = v <= sign * size.threshold
    if clears.all():
        return "holds"
    if direction.all():
        return "holds in direction, not in size"
    if not (direction | clears).any():
        return "does not hold"
    if size.threshold is not None and not clears.any():
        return "does not hold in size"
    return "inconclusive"


def effect_text(effects, digits=2, unit="") -> str:
    """``"median (min to max)"`` of the per-seed effects, e.g. ``"0.84 (0.80 to 1.00)"``.

    The median, so that a seed that never got there (``inf``, shown as ``never``) counts as
    the worst value without making the summary infinite. One seed prints its value alone.

    Example::

        >>> effect_text([0.5, 0.7, float("inf")])
        '0.70 (0.50 to never)'
    """
    v = _values(effects, "effect_text")

    def show(x):
        return "never" if math.isinf(x) else f"{round(float(x), digits) + 0.0:.{digits}f}{unit}"

    if v.size == 1:
        return show(v[0])
    return f"{show(np.median(v))} ({show(v.min())} to {show(v.max())})"


def clearly_less(a, b):
    """Whether every value of ``a`` is below every value of ``b``: ``max(a) < min(b)``.

    For two groups of runs that are *not* paired by seed (e.g. chapter 5's reference
    curves against a reader's own quick run): their ranges over seeds do not overlap.
    ``inf`` may stand for "never".

    Example::

        >>> clearly_less([1, 2], [3, 4]), clearly_less([1, 3.5], [3, 4])
        (True, False)
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.size == 0 or b.size == 0 or np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("clearly_less: a and b must be non-empty and free of NaN")
    return bool(a.max() < b.min())


def seed_band(histories, key="test_loss"):
    """Mean, minimum and maximum of one recorded series over runs that differ only in their seed.

    Args:
        histories: one :class:`~helpers.train.History` or a list of them, logged
            at the same steps.
        key (str): a series of :class:`~helpers.train.History`. Default: ``"test_loss"``

    Returns:
        dict of NumPy arrays over log points: ``step``, ``mean``, ``min``,
        ``max`` and ``runs`` (one row per history, ``(n_seeds, n_points)``).
    """
    from ..train import History

    hs = [histories] if isinstance(histories, History) else list(histories)
    if not all(isinstance(h, History) for h in hs):
        raise TypeError("seed_band: histories must be a History or a list of them")
    if not hs:
        raise ValueError("seed_band: no histories")
    if any(h.step != hs[0].step for h in hs):
        raise ValueError("seed_band: the histories were logged at different steps")
    if key not in History._SERIES or getattr(hs[0], key) is None:
        raise ValueError(f"seed_band: no series {key!r} in these histories")
    runs = np.array([getattr(h, key) for h in hs], dtype=float)  # (n_seeds, n_points)
    return {"step": np.asarray(hs[0].step), "mean": runs.mean(axis=0),  # mean over seeds
            "min": runs.min(axis=0), "max": runs.max(axis=0), "runs": runs}
