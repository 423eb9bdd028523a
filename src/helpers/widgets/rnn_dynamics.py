r"""Chapter 4's explorable: hidden-state and gradient norms of a small RNN over long sequences.

A 16-unit recurrent network (:func:`helpers.dynamics.example_rnn`: a random
:math:`W_{hh}` with spectral radius 1, an input matrix :math:`W_{xh}`, a
fixed input sequence, an initial state and a read-out) runs for ``T`` steps,

.. math::
    a_t = \rho\, W_{hh} h_{t-1} + s\, W_{xh} x_t, \qquad h_t = f(\hat a_t),

with :math:`\hat a_t = a_t` or its layer norm (gain 1, bias 0), and
:math:`f` the identity or tanh; then back-propagates the loss
:math:`\mathcal L = r^\top h_T` through time. The reader sets the spectral
radius :math:`\rho`, the length ``T``, the input scale :math:`s`, layer norm
on or off and the non-linearity, and sees :math:`\|h_t\|` and
:math:`\|\partial\mathcal L/\partial h_t\|` on log scales. Everything is
computed by ``js/rnn_dynamics.js`` in the page.

:func:`rnn_dynamics_view` is its Python twin: :func:`helpers.dynamics.rnn_dynamics`
on the same inputs, returning the keys the page writes to ``data-lnb-result``.
The page's numbers are checked against it *step by step* (teacher forcing):
each :math:`h_t` and :math:`\delta_{t-1}` is recomputed from the page's own
:math:`h_{t-1}` and :math:`\delta_t`, so that the last-bit freedom of tanh in
two maths libraries cannot be amplified by chaotic dynamics over hundreds of
steps (see :mod:`helpers.dynamics`).
"""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .. import dynamics
from .._checks import check_choice, check_eps, check_int, check_real
from .base import Explorable, FiniteFloat, FloatArray

__all__ = ["RNNDynamicsExplorer", "rnn_dynamics_view", "LIMITS", "NORM_CHOICES"]

#: Slider ranges ``(min, max, step)``: the bounds of the traits, and the steps in the page's constants.
LIMITS = {
    "radius": (0.5, 3.0, 0.05),
    "length": (10, 300, 10),
    "input_scale": (0.0, 2.0, 0.1),
}

#: The ``norm`` trait's values: ``"none"`` or ``"layer"`` (layer norm of the summed input).
NORM_CHOICES = ("none", "layer")


def rnn_dynamics_view(w_hh, w_xh, x, h0, readout, radius, length, input_scale, norm="none",
                      nonlinearity="tanh", eps=1e-5, *, teacher_h=None, teacher_delta=None) -> dict:
    r"""What the explorable shows, computed in Python with :func:`helpers.dynamics.rnn_dynamics`.

    Args:
        w_hh: :math:`W_{hh}` ``(H, H)``, used as ``radius * w_hh``.
        w_xh: :math:`W_{xh}` ``(H, I)``, used as ``input_scale * w_xh``.
        x: inputs ``(T_x, I)`` with ``T_x >= length``.
        h0, readout: ``(H,)`` the initial state and :math:`r`.
        radius (float): :math:`\rho`. length (int): ``T``. input_scale (float): :math:`s`.
        norm (str): ``"none"`` or ``"layer"``. Default: ``"none"``
        nonlinearity (str): ``"linear"`` or ``"tanh"``. Default: ``"tanh"``
        eps (float): layer norm's :math:`\epsilon`. Default: 1e-5
        teacher_h, teacher_delta: step from these states and gradients (see
            :func:`helpers.dynamics.rnn_dynamics`); the browser test passes the page's.

    Returns:
        dict of plain Python values: the inputs (``radius``, ``length``,
        ``input_scale``, ``norm``, ``nonlinearity``, ``eps``, ``w_hh``,
        ``w_xh``, ``x`` -- its first ``length`` rows --, ``h0``, ``readout``)
        and the outputs

        * ``h``, ``delta``: ``(T + 1, H)`` states :math:`h_0..h_T` and
          gradients :math:`\delta_t = \partial\mathcal L/\partial h_t`;
        * ``h_norm``, ``grad_norm``: their norms, ``T + 1`` each;
        * ``steps_run``: ``T``, or fewer after an overflow (never in the sliders' range);
        * ``overflow``: bool;
        * ``h_norm_last``: :math:`\|h_T\|`; ``grad_norm_first``: :math:`\|\delta_0\|`;
        * ``grad_factor``: :math:`(\|\delta_0\| / \|\delta_T\|)^{1/T}`, the mean
          factor per step back through time (0 if the gradient underflowed to 0).

    Raises:
        ValueError, TypeError: for out-of-range settings or malformed arrays.
    """
    where = "rnn_dynamics_view"
    radius = check_real(radius, "radius", where, *LIMITS["radius"][:2])
    length = check_int(length, "length", where, *LIMITS["length"][:2])
    input_scale = check_real(input_scale, "input_scale", where, *LIMITS["input_scale"][:2])
    norm = check_choice(norm, "norm", NORM_CHOICES, where)
    nonlinearity = check_choice(nonlinearity, "nonlinearity", dynamics.NONLINEARITIES, where)
    eps = check_eps(eps, where)
    w_hh = np.asarray(w_hh, dtype=np.float64)
    w_xh = np.asarray(w_xh, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    out = dynamics.rnn_dynamics(
        radius * w_hh, input_scale * w_xh, x, h0, readout,  # the page multiplies entry by entry too
        norm=None if norm == "none" else "layer", nonlinearity=nonlinearity, eps=eps, length=length,
        teacher_h=teacher_h, teacher_delta=teacher_delta,
    )
    g = out["grad_norm"]
    T = out["length"]
    factor = math.exp((math.log(g[0]) - math.log(g[T])) / T) if g[0] > 0 and g[T] > 0 else 0.0
    return {
        "radius": radius,
        "length": length,
        "input_scale": input_scale,
        "norm": norm,
        "nonlinearity": nonlinearity,
        "eps": eps,
        "w_hh": w_hh.tolist(),
        "w_xh": w_xh.tolist(),
        "x": x[:length].tolist(),
        "h0": np.asarray(h0, dtype=np.float64).tolist(),
        "readout": np.asarray(readout, dtype=np.float64).tolist(),
        "h": out["h"].tolist(),
        "delta": out["delta"].tolist(),
        "h_norm": out["h_norm"].tolist(),
        "grad_norm": g.tolist(),
        "steps_run": T,
        "overflow": out["overflow"],
        "h_norm_last": float(out["h_norm"][T]),
        "grad_norm_first": float(g[0]),
        "grad_factor": float(factor),
    }


class RNNDynamicsExplorer(Explorable):
    r"""Norms of the hidden state and of the gradient through time, computed live in the page.

    Controls (plain HTML, so they work on the static website): the spectral
    radius :math:`\rho` of the recurrent matrix, the sequence length ``T``,
    the input scale :math:`s`, layer norm off or on, and linear or tanh units.
    Two log-scale charts show :math:`\|h_t\|` and
    :math:`\|\partial\mathcal L/\partial h_t\|` for :math:`t = 0..T`; a dashed
    curve shows the same network with layer norm switched the other way.

    Args:
        radius (float): :math:`\rho` in [0.5, 3]. Default: 1.0
        length (int): ``T`` in [10, 300]. Default: 200
        input_scale (float): :math:`s` in [0, 2]. Default: 1.0
        norm (str): ``"none"`` or ``"layer"``. Default: ``"none"``
        nonlinearity (str): ``"linear"`` or ``"tanh"``. Default: ``"tanh"``
        eps (float): layer norm's :math:`\epsilon`. Default: 1e-5
        seed (int): seeds :func:`helpers.dynamics.example_rnn` (``H = 16``, ``I = 4``). Default: 0

    Example::

        >>> w = RNNDynamicsExplorer(radius=1.5, norm="layer", nonlinearity="linear")
        >>> round(w.view()["h_norm_last"], 3)  # what the page shows, from Python: sqrt(16) up to eps
        4.0
    """

    _js = "rnn_dynamics.js"
    kind = "rnn_dynamics"
    checked_keys = ("h", "delta", "h_norm", "grad_norm", "h_norm_last", "grad_norm_first", "grad_factor")

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`rnn_dynamics_view` of the page's inputs, stepping from the page's own states and gradients."""
        return rnn_dynamics_view(
            result["w_hh"], result["w_xh"], result["x"], result["h0"], result["readout"],
            result["radius"], result["length"], result["input_scale"], result["norm"],
            result["nonlinearity"], result["eps"], teacher_h=result["h"], teacher_delta=result["delta"],
        )

    constants = {"steps": {name: step for name, (_, _, step) in LIMITS.items()}}

    w_hh = FloatArray(ndim=2).tag(sync=True)
    w_xh = FloatArray(ndim=2).tag(sync=True)
    x = FloatArray(ndim=2).tag(sync=True)
    h0 = FloatArray(ndim=1).tag(sync=True)
    readout = FloatArray(ndim=1).tag(sync=True)
    radius = FiniteFloat(1.0, min=LIMITS["radius"][0], max=LIMITS["radius"][1]).tag(sync=True)
    length = traitlets.Int(200, min=LIMITS["length"][0], max=LIMITS["length"][1]).tag(sync=True)
    input_scale = FiniteFloat(1.0, min=LIMITS["input_scale"][0], max=LIMITS["input_scale"][1]).tag(sync=True)
    norm = traitlets.Enum(NORM_CHOICES, default_value="none").tag(sync=True)
    nonlinearity = traitlets.Enum(dynamics.NONLINEARITIES, default_value="tanh").tag(sync=True)
    eps = FiniteFloat(1e-5, min=0.0, min_open=True).tag(sync=True)

    def __init__(self, seed: int = 0, **kwargs):
        net = dynamics.example_rnn(hidden=16, inputs=4, max_length=LIMITS["length"][1], seed=seed)
        super().__init__(**{k: net[k] for k in ("w_hh", "w_xh", "x", "h0", "readout")}, **kwargs)

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`rnn_dynamics_view`."""
        return rnn_dynamics_view(self.w_hh, self.w_xh, self.x, self.h0, self.readout, self.radius,
                                 self.length, self.input_scale, self.norm, self.nonlinearity, self.eps)
