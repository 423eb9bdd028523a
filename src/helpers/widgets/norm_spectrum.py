"""Chapter 6's explorable: batch, layer, instance and group norm of an ``N x C x H x W`` tensor.

The reader picks the normalization (and, for group norm, the number of groups
``G``) and one element to follow (an example ``n`` and a channel ``c``). The
widget draws the tensor as the classic cube of Wu & He (2018), with the set of
elements that share the followed element's mean and variance shaded, and the
normalized value of every element, example by example. The tensor is
:func:`helpers.norm_groups.example_tensor` of a seed the reader can change;
the page draws it with the same generator in JavaScript.

:func:`norm_spectrum_view` gives the numbers the page shows, from
:func:`helpers.norm_groups.normalize`.
"""

from __future__ import annotations

import numpy as np
import traitlets

from .. import norm_groups
from .._checks import check_choice, check_eps, check_int
from .base import Explorable, FiniteFloat

__all__ = ["NormSpectrumExplorer", "norm_spectrum_view", "SHAPE", "GROUP_CHOICES"]

#: The tensor's shape ``(N, C, H, W)``.
SHAPE = (3, 6, 3, 3)
#: The group counts the page offers: the divisors of ``C``.
GROUP_CHOICES = (1, 2, 3, 6)

WIDGET_CSS = """
.lnb-norm-spectrum .ns-cell { fill: var(--lnb-panel); stroke: var(--lnb-muted); }
.lnb-norm-spectrum .ns-cell.ns-in { fill: var(--lnb-accent); }
.lnb-norm-spectrum .ns-outline { fill: none; stroke: var(--lnb-highlight); stroke-width: 2; }
.lnb-norm-spectrum .ns-panels { grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); align-items: end; }
"""


def norm_spectrum_view(seed, norm, groups, example, channel, eps=1e-5) -> dict:
    """What the explorable shows, computed with :func:`helpers.norm_groups.normalize`.

    Args:
        seed (int): the seed of :func:`helpers.norm_groups.example_tensor` (shape :data:`SHAPE`).
        norm (str): ``"batch"``, ``"layer"``, ``"instance"`` or ``"group"``.
        groups (int): ``G``, one of :data:`GROUP_CHOICES`; used only by ``"group"``.
        example (int): ``n`` of the followed element, in ``[0, N - 1]``.
        channel (int): ``c`` of the followed element, in ``[0, C - 1]``.
        eps (float): added to the variance; > 0.

    Returns:
        dict: the inputs under their trait names, and ``x`` (the tensor),
        ``ids`` (which set each element belongs to), ``mean`` and ``var`` (one
        per set), ``y`` (the normalized tensor), ``selected`` (the followed
        element's set), ``shared`` (elements per set) and ``n_sets``.
    """
    where = "norm_spectrum_view"
    N, C, _, _ = SHAPE
    norm = check_choice(norm, "norm", norm_groups.KINDS, where)
    groups = check_choice(groups, "groups", GROUP_CHOICES, where)
    example = check_int(example, "example", where, 0, N - 1)
    channel = check_int(channel, "channel", where, 0, C - 1)
    eps = check_eps(eps, where)
    x = norm_groups.example_tensor(SHAPE, seed)
    out = norm_groups.normalize(x, norm, groups if norm == "group" else None, eps)
    return {
        "seed": seed, "norm": norm, "groups": groups, "example": example, "channel": channel, "eps": eps,
        "x": x.tolist(), "ids": out["ids"].tolist(), "mean": out["mean"].tolist(), "var": out["var"].tolist(),
        "y": out["y"].tolist(), "selected": int(out["ids"][example, channel, 0, 0]),
        "shared": out["size"], "n_sets": len(out["mean"]),
    }


class NormSpectrumExplorer(Explorable):
    """Which elements of an ``N x C x H x W`` tensor share a mean and a variance, computed live in the page.

    Args:
        seed: the tensor's seed, 0 to 99.
        norm: ``"batch"``, ``"layer"``, ``"instance"`` or ``"group"``.
        groups: ``G`` for group norm, one of :data:`GROUP_CHOICES`.
        example, channel: the element to follow.
        eps: added to the variance.

    Example::

        >>> w = NormSpectrumExplorer(norm="group", groups=1)
        >>> w.view()["shared"]  # G = 1: one set per example, all C x H x W = 54 elements
        54
        >>> NormSpectrumExplorer(norm="batch").view()["n_sets"]  # one set per channel
        6
    """

    _js = "norm_spectrum.js"
    _css = Explorable._css + WIDGET_CSS
    kind = "norm_spectrum"
    checked_keys = ("x", "ids", "mean", "var", "y", "selected", "shared", "n_sets")
    constants = {"shape": SHAPE, "group_choices": GROUP_CHOICES, "kinds": norm_groups.KINDS}

    seed = traitlets.Int(0, min=0, max=99).tag(sync=True)
    # (the trait is "norm": "kind" is every explorable's name for the page)
    norm = traitlets.Enum(norm_groups.KINDS, default_value="group").tag(sync=True)
    groups = traitlets.Enum(GROUP_CHOICES, default_value=2).tag(sync=True)
    example = traitlets.Int(0, min=0, max=SHAPE[0] - 1).tag(sync=True)
    channel = traitlets.Int(0, min=0, max=SHAPE[1] - 1).tag(sync=True)
    eps = FiniteFloat(1e-5, min=0.0, min_open=True).tag(sync=True)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`norm_spectrum_view` of the inputs the page reports."""
        return norm_spectrum_view(result["seed"], result["norm"], result["groups"], result["example"],
                                  result["channel"], result["eps"])

    def view(self) -> dict:
        """The numbers the page shows for the current state."""
        return norm_spectrum_view(self.seed, self.norm, self.groups, self.example, self.channel, self.eps)
