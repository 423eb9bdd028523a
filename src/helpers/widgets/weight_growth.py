"""Chapter 3's interactive figure: how gradient descent grows a normalized layer's weights.

One layer-normalized layer, ``y = LN(W x)`` with ``W`` of shape ``(H, I)``, is
fitted to targets by squared error (:func:`helpers.geometry.ln_regression_loss_and_grad`),
starting from ``W_0 = scale * U`` with ``||U|| = 1``. Its output does not depend
on ``||W||``, so every gradient is orthogonal to ``W`` and every step lengthens
it: ``||W_{t+1}||^2 = ||W_t||^2 + lr^2 ||g_t||^2``. The reader sets the learning
rate ``lr`` and the starting scale, and sees ``||W_t||`` (with the Pythagoras
prediction), the effective learning rate ``lr / ||W_t||^2`` and the loss.

The simulation runs in JavaScript (``js/weight_growth.js``), so it is live on
the static website. :func:`weight_growth_view` computes what the page shows
with :func:`helpers.geometry.gd_trajectory` (NumPy); the page and it agree to
about 1e-12 relative (the order of the sums differs), well within the browser
test's tolerance.

Guards: ``lr`` must lie in ``[1e-4, 1e3]``, ``scale`` in ``[1e-3, 1e3]`` and
``steps`` in ``[1, 500]``, ``eps > 0``; the page clamps to the same ranges.
Within them every quantity stays finite (the tests run all four corners for
500 steps): ``eps > 0`` keeps layer norm's division finite, the norm can only
grow, up to the ``eps`` term, so ``lr / ||W||^2`` stays below about
``lr / scale**2``, and a zero gradient is given cosine 0 instead of 0/0.
"""

from __future__ import annotations

import numpy as np
import traitlets

from .. import geometry
from .._checks import check_int, check_real, float_array
from .base import Explorable, FiniteFloat, FloatArray

__all__ = ["WeightGrowthExplorer", "weight_growth_view", "LR_RANGE", "SCALE_RANGE", "STEPS_RANGE"]

#: Allowed learning rates (the page's slider covers 0.01 to 10).
LR_RANGE = (1e-4, 1e3)
#: Allowed starting norms ``||W_0||`` (the page's slider covers 0.1 to 10).
SCALE_RANGE = (1e-3, 1e3)
#: Allowed numbers of steps.
STEPS_RANGE = (1, 500)


#: Styles of this widget only, added to lib.css (colours come from lib.css's theme variables).
WIDGET_CSS = """
.lnb-weight-growth .wg-charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 4px 12px; }
.lnb-weight-growth .wg-charts > svg { width: 100%; display: block; }
@media (max-width: 640px) { .lnb-weight-growth .wg-charts { grid-template-columns: minmax(0, 1fr); } }
"""


def weight_growth_view(X, T, U, lr, scale, steps=100, eps=1e-5, mode="cyclic") -> dict:
    """What the interactive figure shows: the trajectory of ``||W_t||``, the effective learning rate and the loss.

    Gradient descent ``W_{t+1} = W_t - lr * g_t`` from ``W_0 = scale * U`` on
    ``L(W) = sum_n ||LN(W x_n) - t_n||^2 / (2N)``, where ``g_t`` is the
    gradient over all examples (``mode="full"``) or over example ``t mod N``
    (``mode="cyclic"``). Computed with Python floats in the order the
    browser computes it; equal to :func:`helpers.geometry.gd_trajectory` up
    to rounding.

    Args:
        X: inputs ``(N, I)``.
        T: targets ``(N, H)``.
        U: the starting direction ``(H, I)``; used as given (``||U|| = 1`` makes
            ``scale`` the starting norm).
        lr: learning rate, in ``[1e-4, 1e3]``.
        scale: ``W_0 = scale * U``, in ``[1e-3, 1e3]``.
        steps: number of steps, in ``[1, 500]``.
        eps: layer norm's ``eps``, > 0.
        mode: ``"cyclic"`` (one example per step) or ``"full"``.

    Returns:
        A dict of plain floats and lists, as the page writes it into
        ``data-lnb-result``: the inputs (``X``, ``T``, ``U``, ``lr``, ``scale``,
        ``steps``, ``eps``, ``mode``) and, for ``t = 0 .. steps``,
        ``norm`` (``||W_t||``), ``predicted_norm`` (Pythagoras:
        ``p_{t+1}^2 = p_t^2 + lr^2 ||g_t||^2``), ``effective_lr``
        (``lr / ||W_t||^2``), ``loss`` (over all examples), ``grad_norm``
        (``||g_t||``) and ``cosine`` (between ``W_t`` and ``g_t``); and
        ``max_gap``, the largest ``|norm / predicted_norm - 1|``.

    Raises:
        ValueError: for malformed or out-of-range inputs.
    """
    where = "weight_growth_view"
    U = float_array(U, "U", where, shape=("H", "I"), dtype=np.float64, finite=True, nonempty=True)
    if U.shape[0] < 2 or not np.abs(U).sum() > 0:
        raise ValueError(f"{where}: U must be a non-zero (H, I) matrix with H >= 2, got shape {U.shape}")
    lr = check_real(lr, "lr", where, *LR_RANGE)
    scale = check_real(scale, "scale", where, *SCALE_RANGE)
    steps = check_int(steps, "steps", where, *STEPS_RANGE)
    for name, a in (("X", X), ("T", T)):
        float_array(a, name, where, ndim=2, finite=True)
    r = geometry.gd_trajectory(scale * U, X, T, lr, steps, eps, mode)  # checks X, T, eps and mode
    keys = ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine")
    return {"X": np.asarray(X, dtype=np.float64).tolist(), "T": np.asarray(T, dtype=np.float64).tolist(),
            "U": U.tolist(), "lr": lr, "scale": scale, "steps": steps, "eps": float(eps), "mode": mode,
            **{k: r[k].tolist() for k in keys},
            "max_gap": float(np.abs(r["norm"] / r["predicted_norm"] - 1).max())}


class WeightGrowthExplorer(Explorable):
    """Gradient descent on a layer-normalized layer, simulated live in the page.

    Sliders (plain HTML, so they work on the static website) set the learning
    rate (0.01 to 10) and the starting norm ``||W_0||`` (0.1 to 10), both on
    log scales whose notches are matched: one notch of ``lr`` multiplies it by
    ``10**0.1``, one notch of the scale multiplies ``||W_0||**2`` by the same,
    so moving both by the same number of notches keeps ``lr / ||W_0||^2``
    fixed. A radio button chooses full-batch gradients or one example per
    step. Three charts show ``||W_t||`` with the Pythagoras prediction, the
    effective learning rate ``lr / ||W_t||^2`` and the loss.

    Args:
        problem: a dict with ``"X"`` ``(N, I)``, ``"T"`` ``(N, H)``, ``"U"``
            ``(H, I)``; by default :func:`helpers.geometry.toy_regression_problem`.
        lr: learning rate. scale: ``||W_0||`` when ``||U|| = 1``.
        steps: number of gradient steps. eps: layer norm's ``eps``.
        mode: ``"cyclic"`` (one example per step) or ``"full"``.

    Example::

        >>> w = WeightGrowthExplorer(lr=1.0, scale=0.1)
        >>> round(w.view()["norm"][-1], 2)  # ||W|| after 100 steps, as the page shows it
        64.89
    """

    _js = "weight_growth.js"
    _css = Explorable._css + WIDGET_CSS
    kind = "weight_growth"
    checked_keys = ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine")
    #: The sliders' notches: lr = 10**(k/10), ||W_0|| = 10**(j/20) (0.01 to 10 and 0.1 to 10).
    constants = {"lr_notches": (-20, 10), "scale_notches": (-20, 20)}

    X = FloatArray(ndim=2).tag(sync=True)
    T = FloatArray(ndim=2).tag(sync=True)
    U = FloatArray(ndim=2).tag(sync=True)
    lr = FiniteFloat(0.1, min=LR_RANGE[0], max=LR_RANGE[1]).tag(sync=True)
    scale = FiniteFloat(1.0, min=SCALE_RANGE[0], max=SCALE_RANGE[1]).tag(sync=True)
    steps = traitlets.Int(100, min=STEPS_RANGE[0], max=STEPS_RANGE[1]).tag(sync=True)
    eps = FiniteFloat(1e-5, min=0.0, min_open=True).tag(sync=True)
    mode = traitlets.Enum(geometry.MODES, default_value="cyclic").tag(sync=True)

    def __init__(self, problem=None, **kwargs):
        problem = geometry.toy_regression_problem() if problem is None else problem
        try:
            X, T, U = problem["X"], problem["T"], problem["U"]
        except (TypeError, KeyError):
            raise ValueError("WeightGrowthExplorer: problem must be a dict with keys 'X', 'T' and 'U'") from None
        super().__init__(X=X, T=T, U=U, **kwargs)

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`weight_growth_view` of the inputs the page reports in ``result``."""
        return weight_growth_view(result["X"], result["T"], result["U"], result["lr"], result["scale"],
                                  result["steps"], result["eps"], result["mode"])

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`weight_growth_view`."""
        return weight_growth_view(self.X, self.T, self.U, self.lr, self.scale, self.steps, self.eps, self.mode)
