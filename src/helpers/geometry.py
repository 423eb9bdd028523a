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
    recursion; :func:`helpers.widgets.weight_growth_view` reports this function's numbers for it.

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


def fisher_information(logits_fn, theta, inputs=None):
    r"""The Fisher information matrix of a classifier's predictions with respect to parameters ``theta``.

    .. math::
        F(\theta) = \frac1N \sum_{n=1}^{N}\;
        \mathop{\mathbb E}_{y \sim p(y\mid\mathbf x_n;\theta)}
        \Big[\nabla_\theta \log p(y\mid\mathbf x_n;\theta)\;
             \nabla_\theta \log p(y\mid\mathbf x_n;\theta)^\top\Big]
        = \frac1N \sum_{n} J_n^\top\big(\operatorname{diag}(\mathbf p_n) - \mathbf p_n\mathbf p_n^\top\big) J_n

    where :math:`J_n` is the Jacobian of example ``n``'s logits and
    :math:`\mathbf p_n` its predicted probabilities. The labels are drawn from
    the *model*, not the data, as in the paper's Eqs. (8)--(9): then
    :math:`D_{\mathrm{KL}}(p_\theta \,\|\, p_{\theta+\delta}) = \tfrac12\,\delta^\top F(\theta)\,\delta + O(\lVert\delta\rVert^3)`
    (compare with :func:`categorical_kl`). ``F`` is symmetric and positive
    semi-definite; a direction in which the predictions do not change at all
    (such as re-scaling a normalized layer's weights) is in its null space.

    How the Jacobians are computed: with ``inputs``, example by example
    (:func:`torch.func.vmap` over the examples of :func:`torch.func.jacrev` on
    one example), so that the ``C`` output directions of an example go back
    through that example's graph only; this needs the examples to be
    independent (no batch statistics), and ``logits_fn(theta, x)`` must accept
    a batch of one. Without ``inputs``, ``logits_fn(theta)`` is differentiated as
    a whole: all ``N * C`` output directions go back through the graph of the
    whole batch, which costs about ``N`` times the memory and time.

    Args:
        logits_fn (callable): maps a flat parameter vector ``theta`` (and, with
            ``inputs``, a batch of inputs) to logits :math:`(N, C)`; must be
            differentiable (built from torch operations).
        theta (Tensor): the parameters, flattened.
        inputs (Tensor or None): the ``N`` examples, one per row; ``None`` when
            ``logits_fn`` holds them itself. Default: ``None``

    Shape:
        - theta: :math:`(P,)`; inputs: :math:`(N, *)`
        - Output: :math:`(P, P)`, in ``theta``'s dtype.

    Example::

        >>> V = torch.eye(2, dtype=torch.float64)  # logits = x * theta (one parameter)
        >>> F = fisher_information(lambda th, x: x * th * V[0], torch.tensor([0.0], dtype=torch.float64),
        ...                        torch.tensor([[1.0], [3.0]], dtype=torch.float64))
        >>> F.item()  # mean of x^2 p (1 - p) with p = 1/2: (1 + 9) / 2 / 4
        1.25
    """
    where = "fisher_information"
    if not callable(logits_fn):
        raise TypeError(f"{where}: logits_fn must be callable, got {type(logits_fn).__name__}")
    if not isinstance(theta, torch.Tensor) or theta.dim() != 1 or not theta.is_floating_point():
        raise ValueError(f"{where}: theta must be a 1-d floating-point tensor (flatten it first)")
    theta = theta.detach()
    if inputs is None:
        with torch.no_grad():
            logits = _logits_matrix(logits_fn(theta), "logits_fn(theta)", where)  # (N, C)
        J = torch.func.jacrev(logits_fn)(theta)  # (N, C, P): N*C directions through the whole batch
    else:
        check_tensor(inputs, "inputs", where, floating=False)
        if inputs.dim() < 1 or inputs.shape[0] == 0:
            raise ValueError(f"{where}: inputs must have one example per row, got shape {tuple(inputs.shape)}")
        with torch.no_grad():
            logits = _logits_matrix(logits_fn(theta, inputs), "logits_fn(theta, inputs)", where)  # (N, C)
        if logits.shape[0] != inputs.shape[0]:
            raise ValueError(f"{where}: logits_fn(theta, inputs) gave {logits.shape[0]} rows for "
                             f"{inputs.shape[0]} inputs")

        def one(th, x):  # (P,), (*) -> (C,): the logits of one example
            return logits_fn(th, x.unsqueeze(0)).squeeze(0)

        J = torch.func.vmap(torch.func.jacrev(one), in_dims=(None, 0))(theta, inputs)  # (N, C, P)
    N, C = logits.shape
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


# ===========================================================================
# Sec. 5.2.2: the Fisher metric of (normalized) generalized linear models
# (the paper's eqs. 10-14 and 32-35). Added as one block at the end of the
# module; its input checks are those of helpers._checks.
# ===========================================================================

#: The GLM families of :func:`glm_fisher` and :func:`normalized_glm_fisher`.
GLM_FAMILIES = ("bernoulli", "gaussian")

#: The normalizations of :func:`normalized_glm_fisher` and :func:`gain_metric`.
NORMALIZATIONS = ("batch", "layer", "weight")

__all__ += ["GLM_FAMILIES", "NORMALIZATIONS", "glm_fisher", "normalized_glm_fisher",
            "gain_metric", "glm_magnitude_metric"]


def _glm_inputs(X, W, b, family, phi, where):
    X = float_array(X, "X", where, shape=("N", "I"), dtype=np.float64, finite=True, nonempty=True)
    W = float_array(W, "W", where, shape=("H", X.shape[1]), dtype=np.float64, finite=True, nonempty=True)
    b = float_array(b, "b", where, shape=(W.shape[0],), dtype=np.float64, finite=True)
    family = check_choice(family, "family", GLM_FAMILIES, where)
    return X, W, b, check_real(phi, "phi", where, 0, lo_open=True)


def _glm_cov_over_phi2(z, family, phi):
    r"""``Cov[y | x] / phi**2`` of independent GLMs: ``diag(f'(z)) / phi``, shape ``(N, H, H)``."""
    if family == "bernoulli":  # eta = softplus, f = sigmoid, f' = s (1 - s)
        s = 1.0 / (1.0 + np.exp(-z))  # (N, H)
        fprime = s * (1.0 - s)
    else:  # gaussian: eta(z) = z^2 / 2, f = identity, f' = 1
        fprime = np.ones_like(z)
    return np.einsum("nh,hk->nhk", fprime / phi, np.eye(z.shape[1]))  # (N, H, H)


def glm_fisher(X, W, b, family="bernoulli", phi=1.0):
    r"""The Fisher information matrix of ``H`` independent GLMs, the paper's Eq. (12).

    Each output is a generalized linear model in the summed input :math:`a_i = \mathbf w_i^\top\mathbf x`
    (Eqs. 10--11):

    .. math::
        \log P(y_i \mid \mathbf x) = \frac{(a_i + b_i)\,y_i - \eta(a_i + b_i)}{\phi} + c(y_i, \phi),
        \qquad \mathbb E[y_i \mid \mathbf x] = f(a_i + b_i),\quad
        \operatorname{Var}[y_i \mid \mathbf x] = \phi f'(a_i + b_i),

    and with respect to :math:`\theta = \operatorname{vec}([W, \mathbf b]^\top)
    = [\mathbf w_1^\top, b_1, \dots, \mathbf w_H^\top, b_H]^\top` the Fisher matrix is

    .. math::
        F(\theta) = \mathop{\mathbb E}_{\mathbf x}\left[\frac{\operatorname{Cov}[\mathbf y \mid \mathbf x]}{\phi^2}
        \otimes \begin{bmatrix}\mathbf x\mathbf x^\top & \mathbf x\\ \mathbf x^\top & 1\end{bmatrix}\right],

    the expectation being the mean over the rows of ``X``. ``family="bernoulli"``:
    :math:`\eta(z) = \log(1 + e^z)`, :math:`f` the logistic sigmoid (a Bernoulli
    output when :math:`\phi = 1`); ``"gaussian"``: :math:`\eta(z) = z^2/2`,
    :math:`f(z) = z`, variance :math:`\phi`.

    Args:
        X (array_like): inputs, one example per row.
        W (array_like): weights, one GLM per row.
        b (array_like): biases.
        family (str): ``"bernoulli"`` or ``"gaussian"``. Default: ``"bernoulli"``
        phi (float): the dispersion :math:`\phi`, > 0. Default: 1.0

    Shape:
        - X: :math:`(N, I)`, W: :math:`(H, I)`, b: :math:`(H,)`
        - Output: :math:`(H(I+1), H(I+1))`, float64.

    Example::

        >>> F = glm_fisher([[1.0, 2.0]], [[0.0, 0.0]], [0.0])  # sigmoid(0) = 1/2: Var = 1/4
        >>> F * 4
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    where = "glm_fisher"
    X, W, b, phi = _glm_inputs(X, W, b, family, phi, where)
    N, H = X.shape[0], W.shape[0]
    C = _glm_cov_over_phi2(X @ W.T + b, family, phi)  # (N, H, H)
    x1 = np.concatenate([X, np.ones((N, 1))], axis=1)  # (N, I + 1): [x, 1]
    F = np.einsum("nij,np,nq->ipjq", C, x1, x1) / N  # (H, I+1, H, I+1): Kronecker product, averaged
    P = H * x1.shape[1]
    return F.reshape(P, P)


def _normalized_summed_inputs(X, W, norm, eps, where):
    r"""``a`` (N, H), ``sigma`` (N, H) and ``a_hat`` (N, H), and the paper's ``chi`` (N, H, I), Eq. (14)."""
    norm = check_choice(norm, "norm", NORMALIZATIONS, where)
    eps = check_real(eps, "eps", where, 0)  # 0 allowed: the paper's equations have no eps
    N, H = X.shape[0], W.shape[0]
    a = X @ W.T  # (N, H)
    if norm == "layer":  # mu, sigma over the H units of each example
        if H < 2:
            raise ValueError(f"{where}: layer norm needs H >= 2 units, got W of shape {W.shape}")
        mu = a.mean(1, keepdims=True)  # (N, 1)
        sigma = np.sqrt(((a - mu) ** 2).mean(1, keepdims=True) + eps)  # (N, 1)
        a_hat = (a - mu) / sigma  # (N, H)
        # d mu / d w_i = x / H,  d sigma / d w_i = (a_i - mu) x / (H sigma)
        chi = X[:, None, :] * (1.0 - (1.0 + a_hat ** 2) / H)[:, :, None]  # (N, H, I)
    elif norm == "batch":  # mu_i, sigma_i over the N examples (the data distribution)
        if N < 2:
            raise ValueError(f"{where}: batch norm needs N >= 2 examples, got X of shape {X.shape}")
        mu = a.mean(0, keepdims=True)  # (1, H)
        sigma = np.sqrt(((a - mu) ** 2).mean(0, keepdims=True) + eps)  # (1, H)
        a_hat = (a - mu) / sigma  # (N, H)
        Xc = X - X.mean(0)  # (N, I)
        # d mu_i / d w_i = mean x,  d sigma_i / d w_i = Cov[x] w_i / sigma_i
        dsigma = (Xc.T @ Xc / N @ W.T / sigma).T  # (H, I)
        chi = Xc[:, None, :] - a_hat[:, :, None] * dsigma[None]  # (N, H, I)
    else:  # weight norm: mu = 0, sigma_i = ||w_i||
        norms_ = np.sqrt((W * W).sum(1))  # (H,)
        if np.any(norms_ == 0):
            raise ValueError(f"{where}: weight norm needs every row of W to be non-zero")
        sigma = np.broadcast_to(norms_, (1, H))  # (1, H)
        a_hat = a / sigma  # (N, H)
        chi = X[:, None, :] - a_hat[:, :, None] * (W / norms_[:, None])[None]  # (N, H, I)
    return a, np.broadcast_to(sigma, a.shape), a_hat, chi


def normalized_glm_fisher(X, W, b, g, norm="layer", family="bernoulli", phi=1.0, eps=0.0):
    r"""The paper's Fisher matrix of a normalized GLM, Eqs. (13)--(14).

    Each output's natural parameter is :math:`z_i = g_i\,(a_i - \mu_i)/\sigma_i + b_i`,
    and with respect to :math:`\theta = \operatorname{vec}([W, \mathbf b, \mathbf g]^\top)
    = [\mathbf w_1^\top, b_1, g_1, \dots, \mathbf w_H^\top, b_H, g_H]^\top`

    .. math::
        \bar F_{ij} = \mathop{\mathbb E}_{\mathbf x}\left[\frac{\operatorname{Cov}[y_i, y_j \mid \mathbf x]}{\phi^2}
        \,\mathbf u_i\mathbf u_j^\top\right], \qquad
        \mathbf u_i = \begin{bmatrix} \frac{g_i}{\sigma_i}\boldsymbol\chi_i \\ 1 \\ \frac{a_i - \mu_i}{\sigma_i}\end{bmatrix},
        \qquad
        \boldsymbol\chi_i = \mathbf x - \frac{\partial\mu_i}{\partial\mathbf w_i}
        - \frac{a_i - \mu_i}{\sigma_i}\frac{\partial\sigma_i}{\partial\mathbf w_i},

    whose top-left block is the paper's
    :math:`\frac{g_i g_j}{\sigma_i\sigma_j}\boldsymbol\chi_i\boldsymbol\chi_j^\top`.
    ``norm`` chooses :math:`\mu_i, \sigma_i`: ``"batch"`` -- mean and standard
    deviation of :math:`a_i` over the rows of ``X`` (the data distribution);
    ``"weight"`` -- :math:`\mu_i = 0`, :math:`\sigma_i = \lVert\mathbf w_i\rVert`;
    ``"layer"`` -- mean and standard deviation over the ``H`` units of each example.

    This is the Fisher matrix exactly when :math:`z_i` depends on ``W`` only
    through :math:`\mathbf w_i` (batch and weight norm). Under layer norm
    :math:`\mu` and :math:`\sigma` are shared by the units, so :math:`\mathbf w_i`
    also moves every other :math:`z_k`; Eq. (13) leaves those terms out of the
    weight blocks (its bias and gain blocks stay exact).

    Args:
        X (array_like): inputs, one example per row.
        W (array_like): weights.
        b (array_like): biases.
        g (array_like): gains.
        norm (str): ``"batch"``, ``"layer"`` or ``"weight"``. Default: ``"layer"``
        family (str): as in :func:`glm_fisher`. Default: ``"bernoulli"``
        phi (float): the dispersion, > 0. Default: 1.0
        eps (float): added to the variance inside the square root (batch and layer norm), >= 0. Default: 0.0

    Shape:
        - X: :math:`(N, I)`, W: :math:`(H, I)`, b, g: :math:`(H,)`
        - Output: :math:`(H(I+2), H(I+2))`, float64.
    """
    where = "normalized_glm_fisher"
    X, W, b, phi = _glm_inputs(X, W, b, family, phi, where)
    g = float_array(g, "g", where, shape=b.shape, dtype=np.float64, finite=True)
    a, sigma, a_hat, chi = _normalized_summed_inputs(X, W, norm, eps, where)
    N, H = a.shape
    C = _glm_cov_over_phi2(g * a_hat + b, family, phi)  # (N, H, H)
    u = np.concatenate([(g / sigma)[:, :, None] * chi,  # (N, H, I): g_i chi_i / sigma_i
                        np.ones((N, H, 1)), a_hat[:, :, None]], axis=2)  # (N, H, I + 2)
    F = np.einsum("nij,nip,njq->ipjq", C, u, u) / N  # (H, I+2, H, I+2)
    P = H * u.shape[2]
    return F.reshape(P, P)


def gain_metric(X, W, b, g, norm="layer", family="bernoulli", phi=1.0, eps=0.0):
    r"""The block of :func:`normalized_glm_fisher` along the gains ``g``: the paper's Eqs. (32)--(34).

    .. math::
        ds^2 = \tfrac12\,\delta\mathbf g^\top M\,\delta\mathbf g, \qquad
        M_{ij} = \frac{1}{\phi^2}\mathop{\mathbb E}_{\mathbf x}\left[\operatorname{Cov}[y_i, y_j \mid \mathbf x]\,
        \frac{(a_i - \mu_i)(a_j - \mu_j)}{\sigma_i\sigma_j}\right] .

    For layer norm this is Eq. (33), with factors :math:`(a_i-\mu)(a_j-\mu)/\sigma^2`;
    for weight norm Eq. (34), with :math:`a_i a_j/(\lVert\mathbf w_i\rVert\lVert\mathbf w_j\rVert)`.
    For batch norm the factors are :math:`\hat a_i \hat a_j` too; Eq. (32) as
    printed omits them. The gains do not enter :math:`\mu` or :math:`\sigma`,
    so this block is exact for all three normalizations.

    Args:
        X, W, b, g, norm, family, phi, eps: as in :func:`normalized_glm_fisher`.

    Shape:
        - Output: :math:`(H, H)`, float64.
    """
    where = "gain_metric"
    X, W, b, phi = _glm_inputs(X, W, b, family, phi, where)
    g = float_array(g, "g", where, shape=b.shape, dtype=np.float64, finite=True)
    _, _, a_hat, _ = _normalized_summed_inputs(X, W, norm, eps, where)
    C = _glm_cov_over_phi2(g * a_hat + b, family, phi)  # (N, H, H)
    return np.einsum("nij,ni,nj->ij", C, a_hat, a_hat) / X.shape[0]  # (H, H)


def glm_magnitude_metric(X, W, b, family="bernoulli", phi=1.0):
    r"""The metric of a plain GLM along the lengths of its weight vectors: the paper's Eq. (35).

    Changing the length of each :math:`\mathbf w_i` by :math:`\delta g_i` is the
    step :math:`\delta\mathbf w_i = \delta g_i\,\mathbf w_i/\lVert\mathbf w_i\rVert`,
    and the metric :func:`glm_fisher` gives it is
    :math:`ds^2 = \tfrac12\,\delta\mathbf g^\top M\,\delta\mathbf g` with

    .. math::
        M_{ij} = \frac{1}{\phi^2}\mathop{\mathbb E}_{\mathbf x}\left[\operatorname{Cov}[y_i, y_j \mid \mathbf x]\,
        \frac{a_i a_j}{\lVert\mathbf w_i\rVert\lVert\mathbf w_j\rVert}\right],
        \qquad a_i = \mathbf w_i^\top\mathbf x,

    which grows with the scale of the inputs.

    Args:
        X, W, b, family, phi: as in :func:`glm_fisher`; no row of ``W`` may be zero.

    Shape:
        - Output: :math:`(H, H)`, float64.
    """
    where = "glm_magnitude_metric"
    X, W, b, phi = _glm_inputs(X, W, b, family, phi, where)
    norms_ = np.sqrt((W * W).sum(1))  # (H,)
    if np.any(norms_ == 0):
        raise ValueError(f"{where}: every row of W must be non-zero (it needs a direction)")
    a = X @ W.T  # (N, H)
    C = _glm_cov_over_phi2(a + b, family, phi)  # (N, H, H)
    r = a / norms_  # (N, H)
    return np.einsum("nij,ni,nj->ij", C, r, r) / X.shape[0]  # (H, H)
