r"""Chapter 10's explorable: how peaked one row of attention is, against the scale of its logits.

One query's scores :math:`s_1, \dots, s_T` (a pattern the reader picks), a
logit scale :math:`\lambda` and, optionally, a soft cap :math:`c` (Gemma 2's
:math:`z \mapsto c \tanh(z / c)`) give the logits

.. math::
    z_t = \lambda\, s_t \quad\text{or}\quad z_t = c \tanh(\lambda\, s_t / c),

the weights :math:`p = \mathrm{softmax}(z)` and their entropy :math:`H` in
nats, between 0 (all weight on one position) and :math:`\log T` (uniform).
The page draws the weights as bars and :math:`H` against :math:`\lambda` on a log
axis, with :math:`\log T` marked and the current :math:`\lambda` as a point: as the
scale grows the entropy falls to the logarithm of the number of tied maxima
(0 for one largest score), "entropy collapse"; a soft cap stops it short.

Everything is computed by ``js/attention_entropy_explorer.js`` in the page;
:func:`attention_entropy_view` computes the same numbers with
:func:`helpers.attention_entropy.attention_entropy`.
"""

from __future__ import annotations

import math

import numpy as np
import traitlets

from ..attention_entropy import attention_entropy
from .._checks import check_choice, check_int, check_real
from ..residual import uniform_stream
from .base import Explorable, FiniteFloat

__all__ = ["AttentionEntropyExplorer", "attention_entropy_view", "attention_scores", "PATTERNS", "SOFTCAPS",
           "CURVE_SCALES", "LIMITS"]

#: The score patterns: seeded random scores of unit variance, one score 1 above the rest, two tied
#: at the top, a ramp from 1 down to -1.
PATTERNS = ("random", "peak", "tie", "ramp")
#: The soft caps the page offers; 0 is no cap.
SOFTCAPS = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0)
#: The bounds of the controls: the logit scale ``c`` (0, then a log slider 10^(-1.9) .. 100), ``T``, the seed.
LIMITS = {"scale": (0.0, 100.0), "length": (1, 64), "seed": (0, 99)}
#: The scale slider's notches: notch 0 is c = 0, notch k > 0 is c = 10^((k - 20) / 10).
SCALE_NOTCHES = (0, 40)
#: Where the entropy curve is evaluated: c = 10^(k/10) for k = -20 .. 20 (0.01 .. 100).
CURVE_SCALES = tuple(10.0 ** (k / 10) for k in range(-20, 21))

WIDGET_CSS = """
.lnb-attention-entropy .lnb-svg text.lnb-tick { font-size: 12.5px; }
.lnb-attention-entropy .lnb-svg text.lnb-axis-label { font-size: 13px; }
.lnb-attention-entropy .lnb-svg text.lnb-title { font-size: 13.5px; }
.lnb-attention-entropy .ae-panels { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
.lnb-attention-entropy .ae-bar { fill: var(--lnb-accent); }
.lnb-attention-entropy .ae-bar.ae-top { fill: var(--lnb-highlight); }
.lnb-attention-entropy .ae-uniform { stroke: var(--lnb-fg); stroke-width: 1.5; stroke-dasharray: 5 4; }
.lnb-attention-entropy .ae-logt { stroke: var(--lnb-highlight); stroke-width: 1.5; stroke-dasharray: 5 4; }
.lnb-attention-entropy .ae-point { fill: var(--lnb-highlight); stroke: var(--lnb-fg); stroke-width: 1.5; }
"""


def attention_scores(pattern, length, seed=0) -> np.ndarray:
    """The scores ``s`` (``T``,) of one pattern, as the page makes them.

    ``"random"``: :math:`\\sqrt 3 (2u - 1)` with ``u`` from :func:`helpers.residual.uniform_stream`
    (mean 0, variance 1); ``"peak"``: 1 at the first position, 0 elsewhere; ``"tie"``: 1 at the
    first two positions, 0 elsewhere; ``"ramp"``: from 1 down to -1 (``[1]`` for ``T = 1``).
    """
    where = "attention_scores"
    pattern = check_choice(pattern, "pattern", PATTERNS, where)
    T = check_int(length, "length", where, 1)
    seed = check_int(seed, "seed", where, 0, 2**32 - 1)
    if pattern == "random":
        return math.sqrt(3.0) * (2.0 * uniform_stream(seed, T) - 1.0)
    s = np.zeros(T)
    if pattern == "peak":
        s[0] = 1.0
    elif pattern == "tie":
        s[:2] = 1.0
    else:
        s = 1.0 - 2.0 * np.arange(T) / max(T - 1, 1)
    return s


def _logits(s, scale, softcap):
    z = scale * s
    return softcap * np.tanh(z / softcap) if softcap > 0 else z


def attention_entropy_view(scale, length, pattern, seed=0, softcap=0.0) -> dict:
    r"""What the explorable shows, with the entropies from :func:`helpers.attention_entropy.attention_entropy`.

    Args:
        scale (float): the logit scale :math:`\lambda` in [0, 100].
        length (int): ``T`` in [1, 64].
        pattern (str): one of :data:`PATTERNS`.
        seed (int): the random pattern's seed in [0, 99].
        softcap (float): the cap :math:`c`, one of :data:`SOFTCAPS`; 0 is no cap.

    Returns:
        dict: the inputs, and ``scores`` (``s``), ``logits`` (``z``), ``weights``
        (``softmax(z)``), ``entropy`` (nats), ``max_entropy`` (:math:`\log T`),
        ``perplexity`` (:math:`e^H`, the number of positions attended to
        "effectively"), ``max_weight``, ``curve_scales`` (:data:`CURVE_SCALES`)
        and ``curve`` (the entropy at each of them, with the same cap).
    """
    where = "attention_entropy_view"
    scale = check_real(scale, "scale", where, *LIMITS["scale"])
    length = check_int(length, "length", where, *LIMITS["length"])
    seed = check_int(seed, "seed", where, *LIMITS["seed"])
    softcap = float(check_choice(softcap, "softcap", SOFTCAPS, where))
    s = attention_scores(pattern, length, seed)
    z = _logits(s, scale, softcap)
    p = np.exp(z - z.max())
    p /= p.sum()
    if softcap > 0:  # the cap is a nonlinearity, not a scale: the library gets the capped logits
        entropy = float(attention_entropy(z, 1.0))
        curve = [float(attention_entropy(_logits(s, c, softcap), 1.0)) for c in CURVE_SCALES]
    else:
        entropy = float(attention_entropy(s, scale))
        curve = [float(attention_entropy(s, c)) for c in CURVE_SCALES]
    return {
        "scale": scale, "length": length, "pattern": pattern, "seed": seed, "softcap": softcap,
        "scores": s.tolist(), "logits": z.tolist(), "weights": p.tolist(), "entropy": entropy,
        "max_entropy": math.log(length), "perplexity": math.exp(entropy), "max_weight": float(p.max()),
        "curve_scales": list(CURVE_SCALES), "curve": curve,
    }


class AttentionEntropyExplorer(Explorable):
    r"""The entropy of one attention row against the scale of its logits, computed live in the page.

    Controls (plain HTML, so they work on the static website): the logit
    scale :math:`\lambda` (0, or a log slider from 0.01 to 100), the number of
    positions ``T``, the scores' pattern and seed, and a soft cap :math:`c`. Two
    charts: the weights ``softmax(z)`` as bars (dashed: the uniform 1/T), and
    the entropy :math:`H(\lambda)` in nats on a log axis of :math:`\lambda` with
    :math:`\log T` dashed and the current :math:`\lambda` as a point.

    Args:
        scale (float): :math:`\lambda` in [0, 100]. Default: 1.0
        length (int): ``T`` in [1, 64]. Default: 16
        pattern (str): one of :data:`PATTERNS`. Default: ``"random"``
        seed (int): the random scores' seed, 0 to 99. Default: 0
        softcap (float): the cap :math:`c`, one of :data:`SOFTCAPS`, 0 for none. Default: 0

    Example::

        >>> w = AttentionEntropyExplorer(scale=0.0, length=8)
        >>> round(w.view()["entropy"], 4) == round(math.log(8), 4)   # lambda = 0: uniform weights
        True
        >>> AttentionEntropyExplorer(scale=100.0, pattern="tie").view()["entropy"] > 0.69  # two tied maxima: log 2
        True
    """

    _js = "attention_entropy_explorer.js"
    _css = Explorable._css + WIDGET_CSS
    kind = "attention_entropy"
    checked_keys = ("scores", "logits", "weights", "entropy", "max_entropy", "perplexity", "max_weight",
                    "curve_scales", "curve")
    constants = {"scale_notches": list(SCALE_NOTCHES), "softcaps": list(SOFTCAPS), "patterns": list(PATTERNS),
                 "curve_scales": list(CURVE_SCALES)}

    scale = FiniteFloat(1.0, min=LIMITS["scale"][0], max=LIMITS["scale"][1]).tag(sync=True)
    length = traitlets.Int(16, min=LIMITS["length"][0], max=LIMITS["length"][1]).tag(sync=True)
    pattern = traitlets.Enum(PATTERNS, default_value="random").tag(sync=True)
    seed = traitlets.Int(0, min=LIMITS["seed"][0], max=LIMITS["seed"][1]).tag(sync=True)
    softcap = traitlets.Enum(SOFTCAPS, default_value=0.0).tag(sync=True)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`attention_entropy_view` of the inputs the page reports."""
        return attention_entropy_view(result["scale"], result["length"], result["pattern"], result["seed"],
                                      result["softcap"])

    def view(self) -> dict:
        """The numbers the page shows for the current state."""
        return attention_entropy_view(self.scale, self.length, self.pattern, self.seed, self.softcap)
