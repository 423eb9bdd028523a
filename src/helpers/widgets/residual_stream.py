r"""The Transformer chapter's explorable: the residual stream of a post-LN or pre-LN stack at initialization.

A stack of ``L`` random residual blocks with ReLU branches
(:func:`helpers.residual.residual_stream`): the norm after each residual
addition (post-LN) or in front of each branch (pre-LN, with a final norm). The
reader sets the placement, the depth ``L``, the scale ``s`` of the input and
the branches' gain ``g``, and sees, after every block ``l``, the size of the
stream (its RMS, with the mean-field expectation :func:`helpers.residual.expected_rms`
dotted) and the size of the gradient that reaches it, on log scales; the
other placement is drawn dashed for comparison. Everything, down to the
random weights (mulberry32, :func:`helpers.residual.uniform_stream`), is
computed by ``js/residual_stream.js`` in the page.

:func:`residual_stream_view` is what the page shows, computed by the library
in NumPy; the page's loops sum in another order, and the two agree to about
1e-13 relative.
"""

from __future__ import annotations

import traitlets

from .. import residual
from .._checks import check_choice, check_eps, check_int, check_real
from .base import Explorable, FiniteFloat

__all__ = ["ResidualStreamExplorer", "residual_stream_view", "LIMITS"]

#: The bounds of the reader's controls: depth ``L``, input scale ``s`` (a log slider) and branch gain ``g``.
LIMITS = {"depth": (1, 48), "scale": (0.1, 10.0), "gain": (0.1, 2.0)}


def residual_stream_view(depth, placement, scale, gain, seed=0, width=32, tokens=16, eps=1e-5) -> dict:
    r"""What the explorable shows: :func:`helpers.residual.residual_stream` for both placements.

    Args:
        depth (int): ``L`` in [1, 48].
        placement (str): ``"post"`` or ``"pre"``, the one drawn solid.
        scale (float): ``s`` in [0.1, 10]. gain (float): ``g`` in [0.1, 2].
        seed, width, tokens, eps: see :func:`helpers.residual.residual_stream`.

    Returns:
        dict of plain values: the inputs under the traits' names, and

        * ``rms``, ``stream_grad`` (``L + 1``) and ``grad`` (``L``) of the chosen
          placement; ``rms_other``, ``stream_grad_other`` of the other one;
        * ``expected_rms`` (``L + 1``): :func:`helpers.residual.expected_rms`;
        * ``grad_ratio``: the last block's weight gradient over the first's;
        * ``grad_last_other``: the other placement's last-block weight
          gradient over this one's.
    """
    where = "residual_stream_view"
    depth = check_int(depth, "depth", where, *LIMITS["depth"])
    placement = check_choice(placement, "placement", residual.PLACEMENTS, where)
    scale = check_real(scale, "scale", where, *LIMITS["scale"])
    gain = check_real(gain, "gain", where, *LIMITS["gain"])
    seed, width, tokens = (check_int(v, n, where, 0) for v, n in ((seed, "seed"), (width, "width"), (tokens, "tokens")))
    eps = check_eps(eps, where)
    other = "pre" if placement == "post" else "post"
    kw = dict(width=width, tokens=tokens, seed=seed, eps=eps)
    this, that = (residual.residual_stream(depth, p, scale, gain, **kw) for p in (placement, other))
    return {
        "depth": depth, "placement": placement, "scale": scale, "gain": gain,
        "seed": seed, "width": width, "tokens": tokens, "eps": eps,
        "rms": this["rms"].tolist(), "stream_grad": this["stream_grad"].tolist(), "grad": this["grad"].tolist(),
        "rms_other": that["rms"].tolist(), "stream_grad_other": that["stream_grad"].tolist(),
        "expected_rms": residual.expected_rms(depth, placement, scale, gain).tolist(),
        "grad_ratio": float(this["grad"][-1] / this["grad"][0]),
        "grad_last_other": float(that["grad"][-1] / this["grad"][-1]),
    }


class ResidualStreamExplorer(Explorable):
    r"""The residual stream of a random post-LN or pre-LN stack, computed live in the page.

    Controls (plain HTML, so they work on the static website): post-LN or
    pre-LN, the depth ``L``, the input scale ``s`` (log slider from 0.1 to 10)
    and the branches' gain ``g``. Two log-scale charts against the block
    ``l = 0 .. L``: the stream's RMS (dotted: its expectation) and the norm
    of the gradient reaching the stream; dashed, the other placement.

    Args:
        depth (int): ``L`` in [1, 48]. Default: 12
        placement (str): ``"post"`` or ``"pre"``. Default: ``"pre"``
        scale (float): ``s`` in [0.1, 10]. Default: 1.0
        gain (float): ``g`` in [0.1, 2]. Default: 1.0
        seed (int): the weights' seed (:func:`helpers.residual.uniform_stream`). Default: 0
        width, tokens (int): ``C`` and ``N``. Defaults: 32, 16
        eps (float): layer norm's epsilon. Default: 1e-5

    Example::

        >>> w = ResidualStreamExplorer(depth=12, placement="pre")
        >>> [round(v, 2) for v in w.view()["expected_rms"][::4]]  # sqrt(1 + l) at l = 0, 4, 8, 12
        [1.0, 2.24, 3.0, 3.61]
    """

    _js = "residual_stream.js"
    kind = "residual_stream"
    checked_keys = ("rms", "stream_grad", "grad", "rms_other", "stream_grad_other", "expected_rms",
                    "grad_ratio", "grad_last_other")
    #: The scale slider's notches k (scale = 10^(k/10)) and the gain slider's step.
    constants = {"scale_notches": [-10, 10], "gain_step": 0.1}

    depth = traitlets.Int(12, min=LIMITS["depth"][0], max=LIMITS["depth"][1]).tag(sync=True)
    placement = traitlets.Enum(residual.PLACEMENTS, default_value="pre").tag(sync=True)
    scale = FiniteFloat(1.0, min=LIMITS["scale"][0], max=LIMITS["scale"][1]).tag(sync=True)
    gain = FiniteFloat(1.0, min=LIMITS["gain"][0], max=LIMITS["gain"][1]).tag(sync=True)
    seed = traitlets.Int(0, min=0, max=2**32 - 1).tag(sync=True)
    width = traitlets.Int(32, min=2, max=128).tag(sync=True)
    tokens = traitlets.Int(16, min=1, max=128).tag(sync=True)
    eps = FiniteFloat(1e-5, min=0.0, min_open=True).tag(sync=True)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """The library's numbers for the inputs the page reports."""
        return residual_stream_view(*(result[k] for k in ("depth", "placement", "scale", "gain", "seed",
                                                          "width", "tokens", "eps")))

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`residual_stream_view`."""
        return residual_stream_view(self.depth, self.placement, self.scale, self.gain, self.seed,
                                    self.width, self.tokens, self.eps)

