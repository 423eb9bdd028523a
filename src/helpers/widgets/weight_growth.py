"""Chapter 3's interactive figure: how gradient descent grows a normalized layer's weights.

One layer-normalized layer, ``y = LN(W x)`` with ``W`` of shape ``(H, I)``, is
fitted to targets by squared error (:func:`helpers.geometry.ln_regression_loss_and_grad`),
starting from ``W_0 = scale * U`` with ``||U|| = 1``. Its output does not depend
on ``||W||``, so every gradient is orthogonal to ``W`` and every step lengthens
it: ``||W_{t+1}||^2 = ||W_t||^2 + lr^2 ||g_t||^2``. The reader sets the learning
rate ``lr`` and the starting scale, and sees ``||W_t||`` (with the Pythagoras
prediction), the effective learning rate ``lr / ||W_t||^2`` and the loss.

The simulation runs in JavaScript (``js/weight_growth.js``), so it is live on
the static website. :func:`weight_growth_view` is its Python twin: the same
operations in the same order on Python floats (IEEE double, as in the
browser), using only ``+ - * /`` and square roots, so the two agree to the
last bit. :func:`helpers.geometry.gd_trajectory` computes the same trajectory
with NumPy.

Guards: ``lr`` must lie in ``[1e-4, 1e3]``, ``scale`` in ``[1e-3, 1e3]`` and
``steps`` in ``[1, 500]``, ``eps > 0``; the page clamps to the same ranges.
Within them every quantity stays finite (the tests run all four corners for
500 steps): ``eps > 0`` keeps layer norm's division finite, the norm can only
grow, up to the ``eps`` term, so ``lr / ||W||^2`` stays below about
``lr / scale**2``, and a zero gradient is given cosine 0 instead of 0/0.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import traitlets

from .. import geometry
from .base import Explorable, InvalidState, as_trait_error, finite_matrix

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
.lnb-weight-growth .wg-line { fill: none; stroke-width: 2; stroke-linejoin: round; }
.lnb-weight-growth .wg-measured { stroke: var(--lnb-accent); }
.lnb-weight-growth .wg-predicted { stroke: var(--lnb-highlight); stroke-dasharray: 5 4; }
.lnb-weight-growth .wg-loss { stroke: var(--lnb-fg); }
.lnb-weight-growth .wg-swatch-measured { height: 0; width: 16px; border-top: 3px solid var(--lnb-accent); }
.lnb-weight-growth .wg-swatch-predicted { height: 0; width: 16px; border-top: 3px dashed var(--lnb-highlight); }
.lnb-weight-growth .lnb-legend { flex-wrap: wrap; }
"""


def _in_range(value, name, lo, hi, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{where}: {name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _check_inputs(X, T, U, lr, scale, steps, eps, mode, where):
    X = finite_matrix(X, "X", where)
    U = finite_matrix(U, "U", where)
    if U.shape[1] != X.shape[1] or U.shape[0] < 2:
        raise ValueError(f"{where}: U must have shape (H, I) with H >= 2 and I = X.shape[1] = {X.shape[1]}, got {U.shape}")
    T = finite_matrix(T, "T", where, shape=(X.shape[0], U.shape[0]))
    if not np.sqrt((U * U).sum()) > 0:
        raise ValueError(f"{where}: U must not be all zeros")
    lr = _in_range(lr, "lr", *LR_RANGE, where)
    scale = _in_range(scale, "scale", *SCALE_RANGE, where)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not STEPS_RANGE[0] <= steps <= STEPS_RANGE[1]:
        raise ValueError(f"{where}: steps must be an int in [{STEPS_RANGE[0]}, {STEPS_RANGE[1]}], got {steps!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"{where}: eps must be a finite number > 0, got {eps!r}")
    if mode not in geometry.MODES:
        raise ValueError(f"{where}: mode must be one of {geometry.MODES}, got {mode!r}")
    return X, T, U, lr, scale, int(steps), float(eps), mode


def _loss_grad(W, X, T, eps, rows):
    """Loss and gradient over the examples ``rows``, one float operation at a time (as wgLossGrad in JS)."""
    H, I, m = len(W), len(W[0]), len(rows)
    G = [[0.0] * I for _ in range(H)]
    loss = 0.0
    for n in rows:
        x, t = X[n], T[n]
        a = [0.0] * H
        for i in range(H):
            s = 0.0
            for k in range(I):
                s += W[i][k] * x[k]
            a[i] = s  # summed input a_i = w_i . x
        mu = 0.0
        for i in range(H):
            mu += a[i]
        mu /= H
        v = 0.0
        for i in range(H):
            d = a[i] - mu
            v += d * d
        v /= H  # biased variance
        sigma = math.sqrt(v + eps)
        a_hat = [(a[i] - mu) / sigma for i in range(H)]
        d_hat = [0.0] * H
        for i in range(H):
            r = a_hat[i] - t[i]
            loss += r * r
            d_hat[i] = r / m  # dL/d a_hat for L = sum r^2 / (2 m)
        m1 = 0.0
        for i in range(H):
            m1 += d_hat[i]
        m1 /= H
        m2 = 0.0
        for i in range(H):
            m2 += d_hat[i] * a_hat[i]
        m2 /= H
        for i in range(H):
            da = (d_hat[i] - m1 - a_hat[i] * m2) / sigma  # layer norm's backward pass
            for k in range(I):
                G[i][k] += da * x[k]
    return loss / (2 * m), G


def _sum_products(A, B):
    s = 0.0
    for row_a, row_b in zip(A, B):
        for u, v in zip(row_a, row_b):
            s += u * v
    return s


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
    X, T, U, lr, scale, steps, eps, mode = _check_inputs(X, T, U, lr, scale, steps, eps, mode, where)
    Xl, Tl, Ul = X.tolist(), T.tolist(), U.tolist()
    N = len(Xl)
    everything = list(range(N))
    W = [[scale * u for u in row] for row in Ul]
    p_sq = _sum_products(W, W)
    out = {k: [] for k in ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine")}
    max_gap = 0.0
    for t in range(steps + 1):
        loss, G = _loss_grad(W, Xl, Tl, eps, everything)
        if mode == "cyclic":
            G = _loss_grad(W, Xl, Tl, eps, [t % N])[1]
        n_sq, g_sq, dot = _sum_products(W, W), _sum_products(G, G), _sum_products(W, G)
        norm, pred = math.sqrt(n_sq), math.sqrt(p_sq)
        out["norm"].append(norm)
        out["predicted_norm"].append(pred)
        out["effective_lr"].append(lr / n_sq)
        out["loss"].append(loss)
        out["grad_norm"].append(math.sqrt(g_sq))
        out["cosine"].append(dot / (norm * math.sqrt(g_sq)) if g_sq > 0 else 0.0)
        max_gap = max(max_gap, abs(norm / pred - 1))
        p_sq = p_sq + lr * lr * g_sq
        if t < steps:
            W = [[w - lr * g for w, g in zip(row_w, row_g)] for row_w, row_g in zip(W, G)]
    return {"X": Xl, "T": Tl, "U": Ul, "lr": lr, "scale": scale, "steps": steps, "eps": eps, "mode": mode,
            **out, "max_gap": max_gap}


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
        >>> w.view()["norm"][-1]  # ||W|| after 100 steps, as the page shows it
    """

    _js = "weight_growth.js"
    _css = Explorable._css + WIDGET_CSS
    kind = "weight_growth"
    checked_keys = ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine")

    @classmethod
    def reference(cls, result: dict) -> dict:
        """:func:`weight_growth_view` of the inputs the page reports in ``result``."""
        return weight_growth_view(result["X"], result["T"], result["U"], result["lr"], result["scale"],
                                  result["steps"], result["eps"], result["mode"])

    X = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    T = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    U = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    lr = traitlets.Float(0.1).tag(sync=True)
    scale = traitlets.Float(1.0).tag(sync=True)
    steps = traitlets.Int(100).tag(sync=True)
    eps = traitlets.Float(1e-5).tag(sync=True)
    mode = traitlets.Unicode("cyclic").tag(sync=True)

    def __init__(self, problem=None, lr: float = 0.1, scale: float = 1.0, steps: int = 100,
                 eps: float = 1e-5, mode: str = "cyclic", **kwargs):
        problem = geometry.toy_regression_problem() if problem is None else problem
        try:
            X, T, U = problem["X"], problem["T"], problem["U"]
        except (TypeError, KeyError):
            raise ValueError("WeightGrowthExplorer: problem must be a dict with keys 'X', 'T' and 'U'") from None
        X, T, U, lr, scale, steps, eps, mode = _check_inputs(X, T, U, lr, scale, steps, eps, mode,
                                                             "WeightGrowthExplorer")
        super().__init__(X=X.tolist(), T=T.tolist(), U=U.tolist(), lr=lr, scale=scale, steps=steps,
                         eps=eps, mode=mode, **kwargs)

    # Later assignments, from Python or from the page, are checked too (and rolled back on failure).
    @traitlets.validate("lr")
    def _valid_lr(self, proposal):
        return as_trait_error(_in_range, proposal["value"], "lr", *LR_RANGE, "WeightGrowthExplorer")

    @traitlets.validate("scale")
    def _valid_scale(self, proposal):
        return as_trait_error(_in_range, proposal["value"], "scale", *SCALE_RANGE, "WeightGrowthExplorer")

    @traitlets.validate("steps")
    def _valid_steps(self, proposal):
        v = proposal["value"]
        if not STEPS_RANGE[0] <= v <= STEPS_RANGE[1]:
            raise InvalidState(f"WeightGrowthExplorer: steps must be in [{STEPS_RANGE[0]}, {STEPS_RANGE[1]}], got {v}")
        return v

    @traitlets.validate("eps")
    def _valid_eps(self, proposal):
        v = proposal["value"]
        if not (math.isfinite(v) and v > 0):
            raise InvalidState(f"WeightGrowthExplorer: eps must be a finite number > 0, got {v!r}")
        return v

    @traitlets.validate("mode")
    def _valid_mode(self, proposal):
        if proposal["value"] not in geometry.MODES:
            raise InvalidState(f"WeightGrowthExplorer: mode must be one of {geometry.MODES}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("X", "T", "U")
    def _valid_data(self, proposal):
        name = proposal["trait"].name
        return as_trait_error(finite_matrix, proposal["value"], name, "WeightGrowthExplorer").tolist()

    def view(self) -> dict:
        """The numbers the page shows for the current state: :func:`weight_growth_view`."""
        return weight_growth_view(self.X, self.T, self.U, self.lr, self.scale, self.steps, self.eps, self.mode)
