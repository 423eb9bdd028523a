r"""The geometry of learning with a normalized layer (Ba, Kiros & Hinton 2016, Sec. 5.2).

When a layer's output does not change as a weight ``w`` is scaled,
``w -> c w`` with ``c > 0`` (the whole matrix ``W`` for layer norm, each row
``w_i`` for batch and weight norm; see :mod:`helpers.invariance`), the loss
is a homogeneous function of degree 0 in ``w``. Differentiating
``L(c w) = L(w)`` gives the two facts this module measures:

* Euler's theorem, :math:`\mathbf w^\top \nabla L(\mathbf w) = 0`: the
  gradient is orthogonal to the weights (:func:`weight_grad_cosine`);
* :math:`\nabla L(c\,\mathbf w) = \nabla L(\mathbf w)/c`: the gradient
  shrinks as the weights grow, so a step of gradient descent turns the
  direction ``w / ||w||`` by about ``lr ||grad|| / ||w||``, and the
  *effective learning rate* is ``lr / ||w||^2``
  (:func:`effective_learning_rate`).

Because every step is orthogonal to ``w``, gradient descent can only lengthen
it: :math:`\lVert\mathbf w_{t+1}\rVert^2 = \lVert\mathbf w_t\rVert^2 +
\text{lr}^2\lVert\nabla L\rVert^2` (Pythagoras). :func:`gd_trajectory`
follows this on a tiny layer-normalized regression problem
(:func:`toy_regression_problem`, :func:`ln_regression_loss_and_grad`), the
one the chapter's :class:`helpers.widgets.WeightGrowthExplorer` simulates in
the browser; :func:`track_sgd` records the same quantities while training any
torch model. :func:`fisher_information` and :func:`categorical_kl` measure
the Fisher metric :math:`ds^2 \approx \tfrac12 \delta^\top F \delta` that the
paper's Sec. 5.2 uses to compare parameterizations.

With ``eps > 0`` inside the square root (as in :func:`helpers.norms.layer_norm`)
layer norm is only *nearly* scale invariant: scaling ``W`` by ``c`` is the
same as dividing ``eps`` by ``c**2``, so the identities above hold up to a
relative error of order ``eps / sigma**2``.

Nothing runs at import; NumPy code is float64 throughout.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_choice, check_eps, check_instance, check_int, check_real, check_tensor, float_array
from .norms import layer_norm

__all__ = [
    "effective_learning_rate",
    "weight_grad_cosine",
    "toy_regression_problem",
    "ln_regression_loss_and_grad",
    "gd_trajectory",
    "MODES",
    "categorical_kl",
    "fisher_information",
    "track_sgd",
]


def _matrix(w, name, shape, where):
    """A finite, non-empty float64 matrix (a NumPy copy of a tensor); ``shape`` names its sizes."""
    return float_array(w, name, where, shape=shape, dtype=np.float64, finite=True, nonempty=True)


def _row_norm_sq(w, per_row):
    """``||W||_F^2`` (a float) or each row's ``||w_i||^2`` (shape ``(H,)``)."""
    sq = (w * w).sum(axis=-1)  # (H,)
    return sq if per_row else float(sq.sum())


# ---------------------------------------------------------------------------
# The two measurements
# ---------------------------------------------------------------------------

def effective_learning_rate(lr, weight, per_row=False):
    r"""The learning rate that the *direction* of a scale-invariant weight sees: ``lr / ||w||^2``.

    If a loss does not depend on the length of ``w``, a gradient step
    ``w -> w - lr * grad`` turns the unit vector ``w / ||w||`` by
    ``(lr / ||w||**2) * (||w|| grad)`` to first order, and ``||w|| grad`` does not
    depend on ``||w||``. So ``lr / ||w||**2`` plays the role that ``lr`` plays for an
    ordinary parameter: double ``||w||`` and the effective learning rate is a quarter.

    Which ``w``: the whole matrix (Frobenius norm) for layer norm, which is
    invariant to re-scaling all of ``W``; each row ``w_i`` (``per_row=True``)
    for batch and weight norm, which are invariant to re-scaling one row.

    Args:
        lr (float): the learning rate of plain gradient descent, > 0.
        weight (array_like or Tensor): the weight matrix ``W``.
        per_row (bool): one value per row ``w_i`` instead of one for the matrix. Default: ``False``

    Shape:
        - weight: :math:`(H, I)`
        - Output: a float, or :math:`(H,)` with ``per_row=True``.

    Example::

        >>> effective_learning_rate(0.1, [[3.0, 4.0]])  # 0.1 / 25
        0.004
        >>> effective_learning_rate(0.1, [[6.0, 8.0]])  # twice as long: a quarter
        0.001
    """
    where = "effective_learning_rate"
    lr = check_real(lr, "lr", where, 0, lo_open=True)
    w = _matrix(weight, "weight", ("H", "I"), where)
    sq = _row_norm_sq(w, per_row)
    if np.any(np.asarray(sq) == 0):
        raise ValueError(f"{where}: weight (or one of its rows) is all zeros, so it has no direction")
    return lr / sq


def weight_grad_cosine(weight, grad, per_row=False):
    r"""Cosine of the angle between a weight matrix and its gradient: 0 for a scale-invariant loss.

    .. math::
        \cos\theta = \frac{\langle W, \nabla L\rangle}{\lVert W\rVert\,\lVert\nabla L\rVert},
        \qquad \langle W, \nabla L\rangle = \sum_{i,k} W_{ik}\,(\nabla L)_{ik}

    Euler's theorem for a function that is homogeneous of degree 0 in ``W``
    (``L(c W) = L(W)`` for every ``c > 0``) says the numerator is exactly 0.
    A zero gradient has no direction; its cosine is reported as 0.

    Args:
        weight (array_like or Tensor): the weights ``W``.
        grad (array_like or Tensor): the gradient of the loss with respect to ``W``.
        per_row (bool): one cosine per row, ``cos(w_i, grad_i)``. Default: ``False``

    Shape:
        - weight, grad: :math:`(H, I)`
        - Output: a float, or :math:`(H,)` with ``per_row=True``.

    Example::

        >>> weight_grad_cosine([[1.0, 0.0], [0.0, 2.0]], [[0.0, 5.0], [3.0, 0.0]])
        0.0
    """
    where = "weight_grad_cosine"
    w = _matrix(weight, "weight", ("H", "I"), where)
    g = _matrix(grad, "grad", ("H", "I"), where)
    if g.shape != w.shape:
        raise ValueError(f"{where}: grad must have the shape of weight {w.shape}, got {g.shape}")
    dot = (w * g).sum(-1) if per_row else float((w * g).sum())
    w_norm = np.sqrt(_row_norm_sq(w, per_row))
    g_norm = np.sqrt(_row_norm_sq(g, per_row))
    if np.any(np.asarray(w_norm) == 0):
        raise ValueError(f"{where}: weight (or one of its rows) is all zeros, so it has no direction")
    denom = w_norm * g_norm
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(denom > 0, dot / np.where(denom > 0, denom, 1.0), 0.0)
    return cos if per_row else float(cos)


# ---------------------------------------------------------------------------
# A tiny layer-normalized regression problem, and gradient descent on it
# ---------------------------------------------------------------------------

def toy_regression_problem(seed=0, n=8, inputs=3, hidden=4, noise=0.8, eps=1e-5):
    r"""A small problem for one layer-normalized layer: data, targets and a start direction.

    Inputs ``X`` are standard normal, rounded to two decimals. The targets are
    a random *teacher* layer's output with noise added before normalizing,
    ``T = layer_norm(X W_*^T + noise * Z)``: close to what a layer-normalized
    layer can produce, but (for ``noise > 0``) not exactly, so the gradients of
    single examples never all vanish and stochastic gradient descent keeps
    moving. ``U`` is a random direction with :math:`\lVert U\rVert_F = 1`:
    gradient descent starts from :math:`W_0 = s\,U` for a chosen scale ``s``.

    Args:
        seed (int): seed of the :class:`numpy.random.Generator`. Default: 0
        n (int): number of examples ``N``, >= 1. Default: 8
        inputs (int): input size ``I``, >= 1. Default: 3
        hidden (int): hidden units ``H``, >= 2. Default: 4
        noise (float): standard deviation of the noise ``Z``, >= 0. Default: 0.8
        eps (float): the teacher's layer-norm ``eps``. Default: 1e-5

    Returns:
        dict with ``"X"`` :math:`(N, I)`, ``"T"`` :math:`(N, H)`, ``"U"`` :math:`(H, I)`,
        all float64 NumPy arrays.

    Example::

        >>> p = toy_regression_problem()
        >>> [p[k].shape for k in ("X", "T", "U")]
        [(8, 3), (8, 4), (4, 3)]
        >>> round(float(np.linalg.norm(p["U"])), 12)
        1.0
    """
    where = "toy_regression_problem"
    n = check_int(n, "n", where, lo=1)
    inputs = check_int(inputs, "inputs", where, lo=1)
    hidden = check_int(hidden, "hidden", where, lo=2)
    noise = check_real(noise, "noise", where, 0)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, inputs)).round(2)  # (N, I)
    teacher = rng.standard_normal((hidden, inputs)).round(2)  # (H, I)
    Z = rng.standard_normal((n, hidden))  # (N, H)
    T = layer_norm(X @ teacher.T + noise * Z, eps=eps)  # (N, H)
    U = rng.standard_normal((hidden, inputs))  # (H, I)
    U /= np.sqrt((U * U).sum())  # unit Frobenius norm
    return {"X": X, "T": T, "U": U}


def _check_problem(W, X, T, eps, where):
    W = _matrix(W, "W", ("H", "I"), where)
    X = _matrix(X, "X", ("N", "I"), where)
    T = _matrix(T, "T", ("N", "H"), where)
    if X.shape[1] != W.shape[1] or T.shape != (X.shape[0], W.shape[0]):
        raise ValueError(
            f"{where}: need W (H, I), X (N, I), T (N, H) with matching sizes, got "
            f"W {W.shape}, X {X.shape}, T {T.shape}"
        )
    return W, X, T, check_eps(eps, where)


def ln_regression_loss_and_grad(W, X, T, eps=1e-5):
    r"""Loss and gradient of one layer-normalized layer fitted to targets by squared error.

    .. math::
        \mathcal L(W) = \frac{1}{2N}\sum_{n=1}^{N}\big\lVert \hat{\mathbf a}_n - \mathbf t_n \big\rVert^2,
        \qquad \hat{\mathbf a}_n = \frac{\mathbf a_n - \mu_n}{\sigma_n},\quad
        \mathbf a_n = W\mathbf x_n

    with :math:`\sigma_n = \sqrt{\mathrm{Var}[\mathbf a_n] + \epsilon}` (biased
    variance over the ``H`` units) and gain 1, bias 0. The gradient is layer
    norm's backward pass (chapter 1) followed by
    :math:`\nabla_W\mathcal L = \sum_n \delta\mathbf a_n \mathbf x_n^\top`.
    Only ``+ - * /`` and square roots: the browser can compute it bit for bit.

    Args:
        W (array_like): weights.
        X (array_like): inputs, one example per row.
        T (array_like): targets.
        eps (float): added to the variance inside the square root, > 0. Default: 1e-5

    Shape:
        - W: :math:`(H, I)`, X: :math:`(N, I)`, T: :math:`(N, H)`
        - Output: ``(loss, grad)``, a float and :math:`(H, I)`.
    """
    W, X, T, eps = _check_problem(W, X, T, eps, "ln_regression_loss_and_grad")
    N, H = T.shape
    a = X @ W.T  # (N, H) summed inputs
    mu = a.mean(-1, keepdims=True)  # (N, 1)
    sigma = np.sqrt(((a - mu) ** 2).mean(-1, keepdims=True) + eps)  # (N, 1)
    a_hat = (a - mu) / sigma  # (N, H)
    r = a_hat - T  # (N, H) residuals
    loss = float((r ** 2).sum() / (2 * N))
    d_hat = r / N  # (N, H) dL/d a_hat
    da = (d_hat - d_hat.mean(-1, keepdims=True)
          - a_hat * (d_hat * a_hat).mean(-1, keepdims=True)) / sigma  # (N, H)
    return loss, da.T @ X  # (H, N) @ (N, I) -> (H, I)


#: How :func:`gd_trajectory` forms each step's gradient.
MODES = ("full", "cyclic")


def gd_trajectory(W0, X, T, lr, steps, eps=1e-5, mode="full"):
    r"""Gradient descent on :func:`ln_regression_loss_and_grad`, with what it does to ``||W||``.

    :math:`W_{t+1} = W_t - \text{lr}\,\mathbf g_t` for ``t < steps``, where
    :math:`\mathbf g_t` is the gradient of the loss over all ``N`` examples
    (``mode="full"``) or over example ``t mod N`` alone (``mode="cyclic"``:
    stochastic gradient descent with one example per step, in a fixed order).
    At every :math:`W_t`, ``t = 0 .. steps``, it records the Frobenius norm,
    the loss over all examples, the norm of :math:`\mathbf g_t`, the cosine
    between :math:`W_t` and :math:`\mathbf g_t`, the effective learning rate
    ``lr / ||W_t||^2``, and the norm that Pythagoras predicts if every step is
    orthogonal to ``W``:

    .. math::
        p_0 = \lVert W_0\rVert, \qquad p_{t+1}^2 = p_t^2 + \text{lr}^2\lVert\mathbf g_t\rVert^2 .

    (The measured norm obeys the exact
    :math:`\lVert W_{t+1}\rVert^2 = \lVert W_t\rVert^2 - 2\,\text{lr}\,\langle W_t, \mathbf g_t\rangle
    + \text{lr}^2\lVert\mathbf g_t\rVert^2`; the middle term is 0 up to ``eps``.)
    The browser's :class:`helpers.widgets.WeightGrowthExplorer` runs the same
    recursion; :func:`helpers.widgets.weight_growth_view` is its step-by-step twin.

    Args:
        W0 (array_like): the starting weights.
        X, T (array_like): data and targets, as in :func:`ln_regression_loss_and_grad`.
        lr (float): learning rate, > 0.
        steps (int): number of gradient steps, >= 0.
        eps (float): layer norm's ``eps``, > 0. Default: 1e-5
        mode (str): ``"full"`` or ``"cyclic"``. Default: ``"full"``

    Shape:
        - W0: :math:`(H, I)`, X: :math:`(N, I)`, T: :math:`(N, H)`
        - Output: a dict of arrays of length ``steps + 1`` -- ``"norm"``,
          ``"predicted_norm"``, ``"effective_lr"``, ``"loss"``, ``"grad_norm"``,
          ``"cosine"`` -- and ``"W"``, the final weights :math:`(H, I)`.
    """
    where = "gd_trajectory"
    W, X, T, eps = _check_problem(W0, X, T, eps, where)
    lr = check_real(lr, "lr", where, 0, lo_open=True)
    steps = check_int(steps, "steps", where, lo=0)
    mode = check_choice(mode, "mode", MODES, where)
    N = X.shape[0]
    keys = ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine")
    out = {k: np.empty(steps + 1) for k in keys}
    p_sq = float((W * W).sum())
    for t in range(steps + 1):
        loss, grad = ln_regression_loss_and_grad(W, X, T, eps)
        if mode == "cyclic":
            n = t % N
            grad = ln_regression_loss_and_grad(W, X[n:n + 1], T[n:n + 1], eps)[1]  # (H, I)
        n_sq, g_sq = float((W * W).sum()), float((grad * grad).sum())
        out["norm"][t] = math.sqrt(n_sq)
        out["predicted_norm"][t] = math.sqrt(p_sq)
        out["effective_lr"][t] = lr / n_sq
        out["loss"][t] = loss
        out["grad_norm"][t] = math.sqrt(g_sq)
        out["cosine"][t] = weight_grad_cosine(W, grad) if g_sq > 0 else 0.0
        p_sq += lr * lr * g_sq
        if t < steps:
            W = W - lr * grad
    out["W"] = W
    return out


# ---------------------------------------------------------------------------
# The Fisher metric
# ---------------------------------------------------------------------------

def _logits_matrix(z, name, where):
    check_tensor(z, name, where, floating=False)
    if z.dim() != 2 or z.shape[1] < 2:
        raise ValueError(f"{where}: {name} must have shape (N, C) with C >= 2 classes, got {tuple(z.shape)}")
    return z


def categorical_kl(logits_p, logits_q):
    r"""Mean over examples of :math:`D_{\mathrm{KL}}(p \,\|\, q)` between two categorical predictions.

    .. math::
        \frac1N \sum_{n=1}^{N} \sum_{y} p(y \mid \mathbf x_n)\,
        \big(\log p(y \mid \mathbf x_n) - \log q(y \mid \mathbf x_n)\big),
        \qquad p = \operatorname{softmax}(\text{logits}_p)

    computed from log-softmax, so it is accurate for nearby ``p`` and ``q``
    (where the Fisher metric lives). Differentiable.

    Args:
        logits_p (Tensor): the reference model's logits.
        logits_q (Tensor): the other model's logits.

    Shape:
        - logits_p, logits_q: :math:`(N, C)`
        - Output: a 0-d tensor.

    Example::

        >>> z = torch.tensor([[1.0, 2.0, 0.5]])
        >>> categorical_kl(z, z + 3.0).item()  # softmax ignores a common shift
        0.0
    """
    where = "categorical_kl"
    p = _logits_matrix(logits_p, "logits_p", where)
    q = _logits_matrix(logits_q, "logits_q", where)
    if p.shape != q.shape:
        raise ValueError(f"{where}: logits_p and logits_q must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    log_p = torch.log_softmax(p, dim=-1)  # (N, C)
    log_q = torch.log_softmax(q, dim=-1)  # (N, C)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def fisher_information(logits_fn, theta):
    r"""The Fisher information matrix of a classifier's predictions with respect to parameters ``theta``.

    .. math::
        F(\theta) = \frac1N \sum_{n=1}^{N}\;
        \mathop{\mathbb E}_{y \sim p(y\mid\mathbf x_n;\theta)}
        \Big[\nabla_\theta \log p(y\mid\mathbf x_n;\theta)\;
             \nabla_\theta \log p(y\mid\mathbf x_n;\theta)^\top\Big]
        = \frac1N \sum_{n} J_n^\top\big(\operatorname{diag}(\mathbf p_n) - \mathbf p_n\mathbf p_n^\top\big) J_n

    where :math:`J_n` is the Jacobian of example ``n``'s logits and
    :math:`\mathbf p_n` its predicted probabilities. The labels are drawn from
    the *model*, not the data, as in the paper's Eq. (6)--(7): then
    :math:`D_{\mathrm{KL}}(p_\theta \,\|\, p_{\theta+\delta}) = \tfrac12\,\delta^\top F(\theta)\,\delta + O(\lVert\delta\rVert^3)`
    (compare with :func:`categorical_kl`). ``F`` is symmetric and positive
    semi-definite; a direction in which the predictions do not change at all
    (such as re-scaling a normalized layer's weights) is in its null space.

    Args:
        logits_fn (callable): maps a flat parameter vector ``theta`` to logits
            :math:`(N, C)`; must be differentiable (built from torch operations).
        theta (Tensor): the parameters, flattened.

    Shape:
        - theta: :math:`(P,)`
        - Output: :math:`(P, P)`, in ``theta``'s dtype.
    """
    where = "fisher_information"
    if not callable(logits_fn):
        raise TypeError(f"{where}: logits_fn must be callable, got {type(logits_fn).__name__}")
    if not isinstance(theta, torch.Tensor) or theta.dim() != 1 or not theta.is_floating_point():
        raise ValueError(f"{where}: theta must be a 1-d floating-point tensor (flatten it first)")
    theta = theta.detach()
    with torch.no_grad():
        logits = _logits_matrix(logits_fn(theta), "logits_fn(theta)", where)  # (N, C)
    N, C = logits.shape
    J = torch.func.jacrev(logits_fn)(theta)  # (N, C, P)
    p = torch.softmax(logits, dim=-1)  # (N, C)
    pJ = torch.einsum("nc,ncp->np", p, J)  # (N, P): sum_c p_c J_c
    # sum_n J^T diag(p) J - (p^T J)^T (p^T J), averaged over the N examples
    F = torch.einsum("nc,ncp,ncq->pq", p, J, J) - pJ.T @ pJ  # (P, P)
    return (F + F.T) / (2 * N)  # symmetric to the last bit


# ---------------------------------------------------------------------------
# Training a torch model while watching one weight matrix
# ---------------------------------------------------------------------------

def track_sgd(model, weight, X, y, *, lr, steps, batch_size, seed=0, lr_weight=None):
    r"""Train ``model`` by plain SGD on cross-entropy, recording what each step does to ``weight``.

    Each step draws ``batch_size`` examples with replacement (from a
    :class:`torch.Generator` seeded with ``seed``), computes the mean
    cross-entropy of ``model(X[idx])`` against ``y[idx]``, and updates every
    parameter ``p <- p - lr * grad`` (``weight`` with ``lr_weight`` if given).
    No momentum, no weight decay: the update is exactly the gradient step that
    the norm-growth identity is about,

    .. math::
        \lVert W_{t+1}\rVert^2 = \lVert W_t\rVert^2 - 2\,\text{lr}\,\langle W_t, \nabla_t\rangle
        + \text{lr}^2\lVert\nabla_t\rVert^2 .

    Args:
        model (nn.Module): maps ``X`` :math:`(N, D)` to logits :math:`(N, C)`.
        weight (nn.Parameter): one of ``model``'s parameters, 2-d, to watch.
        X (Tensor): inputs :math:`(N, D)`.
        y (Tensor): class labels :math:`(N,)`, int64.
        lr (float): learning rate, > 0.
        steps (int): number of SGD steps, >= 1.
        batch_size (int): examples per step, >= 1.
        seed (int): seeds the mini-batch draws. Default: 0
        lr_weight (float, optional): learning rate for ``weight``. Default: ``lr``

    Returns:
        dict of NumPy arrays, ``T = steps``, ``H = weight.shape[0]``:

        * ``"loss"`` :math:`(T,)` -- each step's mini-batch loss, before the update;
        * ``"norm_sq"`` :math:`(T + 1,)` -- :math:`\lVert W_t\rVert_F^2`, before each step and after the last;
        * ``"grad_sq"`` :math:`(T,)` -- :math:`\lVert\nabla_t\rVert_F^2`;
        * ``"dot"`` :math:`(T,)` -- :math:`\langle W_t, \nabla_t\rangle`;
        * ``"row_norm_sq"`` :math:`(T + 1, H)`, ``"row_grad_sq"`` and ``"row_dot"`` :math:`(T, H)` -- the same per row;
        * ``"lr_weight"`` -- the learning rate ``weight`` was trained with.
    """
    where = "track_sgd"
    check_instance(model, torch.nn.Module, "model", where, "a torch.nn.Module")
    params = list(model.parameters())
    if not any(p is weight for p in params):
        raise ValueError(f"{where}: weight must be one of model's parameters")
    if weight.dim() != 2:
        raise ValueError(f"{where}: weight must be 2-d (H, I), got shape {tuple(weight.shape)}")
    lr = check_real(lr, "lr", where, 0, lo_open=True)
    lr_w = lr if lr_weight is None else check_real(lr_weight, "lr_weight", where, 0, lo_open=True)
    steps = check_int(steps, "steps", where, lo=1)
    batch_size = check_int(batch_size, "batch_size", where, lo=1)
    if not (isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor)) or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"{where}: X and y must be tensors with the same, non-zero number of rows")
    gen = torch.Generator().manual_seed(int(seed))
    H = weight.shape[0]
    rec = {"loss": np.empty(steps), "norm_sq": np.empty(steps + 1), "grad_sq": np.empty(steps),
           "dot": np.empty(steps), "row_norm_sq": np.empty((steps + 1, H)),
           "row_grad_sq": np.empty((steps, H)), "row_dot": np.empty((steps, H))}
    for t in range(steps):
        idx = torch.randint(0, X.shape[0], (batch_size,), generator=gen)  # (batch,)
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            W, G = weight.detach(), weight.grad  # (H, I), (H, I)
            rec["loss"][t] = loss.item()
            rec["row_norm_sq"][t] = (W * W).sum(1).numpy(force=True)
            rec["row_grad_sq"][t] = (G * G).sum(1).numpy(force=True)
            rec["row_dot"][t] = (W * G).sum(1).numpy(force=True)
            rec["norm_sq"][t] = (W * W).sum().item()
            rec["grad_sq"][t] = (G * G).sum().item()
            rec["dot"][t] = (W * G).sum().item()
            for p in params:
                if p.grad is not None:
                    p -= (lr_w if p is weight else lr) * p.grad
    with torch.no_grad():
        W = weight.detach()
        rec["row_norm_sq"][steps] = (W * W).sum(1).numpy(force=True)
        rec["norm_sq"][steps] = (W * W).sum().item()
    rec["lr_weight"] = lr_w
    return rec
