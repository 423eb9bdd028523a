"""Tests for helpers.geometry: scale invariance, the effective learning rate, norm growth and the Fisher metric.

Every function is checked against an independent computation: torch autograd
for the hand-written gradient, explicit sums over labels for the Fisher matrix,
``torch.nn.functional.kl_div`` for the KL divergence, and the algebraic
identity ``||W - lr g||^2 = ||W||^2 - 2 lr <W, g> + lr^2 ||g||^2`` for the
norms that :func:`track_sgd` records.
"""

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import geometry, norms
from helpers.geometry import (
    categorical_kl,
    effective_learning_rate,
    fisher_information,
    gd_trajectory,
    ln_regression_loss_and_grad,
    toy_regression_problem,
    track_sgd,
    weight_grad_cosine,
)

P = toy_regression_problem()


def test_doctests():
    result = doctest.testmod(geometry)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------ the two measurements

def test_effective_learning_rate_values_and_the_quarter_rule():
    W = np.array([[3.0, 4.0], [0.0, 1.0]])  # ||W||^2 = 26, rows 25 and 1
    assert effective_learning_rate(0.5, W) == pytest.approx(0.5 / 26)
    np.testing.assert_allclose(effective_learning_rate(0.5, W, per_row=True), [0.5 / 25, 0.5 / 1])
    assert effective_learning_rate(0.5, 2 * W) == pytest.approx(effective_learning_rate(0.5, W) / 4)
    assert effective_learning_rate(0.1, torch.tensor(W)) == pytest.approx(0.1 / 26)  # tensors too


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan"), float("inf")])
def test_effective_learning_rate_rejects_bad_lr(lr):
    with pytest.raises(ValueError):
        effective_learning_rate(lr, [[1.0]])


@pytest.mark.parametrize("weight", [[[0.0, 0.0]], [1.0, 2.0], [[np.nan, 1.0]], np.zeros((0, 3))])
def test_effective_learning_rate_rejects_bad_weights(weight):
    with pytest.raises(ValueError):
        effective_learning_rate(0.1, weight)


def test_effective_learning_rate_rejects_a_zero_row_per_row_only():
    W = [[1.0, 0.0], [0.0, 0.0]]
    assert effective_learning_rate(1.0, W) == 1.0
    with pytest.raises(ValueError):
        effective_learning_rate(1.0, W, per_row=True)
    with pytest.raises(TypeError):
        effective_learning_rate(True, W)


def test_weight_grad_cosine():
    W = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert weight_grad_cosine(W, [[0.0, 5.0], [3.0, 0.0]]) == 0.0
    assert weight_grad_cosine(W, 3 * W) == pytest.approx(1.0)
    assert weight_grad_cosine(W, -W) == pytest.approx(-1.0)
    np.testing.assert_allclose(weight_grad_cosine(W, [[1.0, 1.0], [0.0, -1.0]], per_row=True),
                               [1 / math.sqrt(2), -1.0])
    assert weight_grad_cosine(W, np.zeros((2, 2))) == 0.0  # a zero gradient has no direction
    np.testing.assert_allclose(weight_grad_cosine(W, [[0.0, 0.0], [1.0, 1.0]], per_row=True), [0.0, 1 / math.sqrt(2)])
    with pytest.raises(ValueError):
        weight_grad_cosine(W, np.zeros((2, 3)))
    with pytest.raises(ValueError):
        weight_grad_cosine(np.zeros((2, 2)), W)


# ------------------------------------------------------------ the toy problem

def test_toy_problem_shapes_seed_and_targets():
    assert [P[k].shape for k in ("X", "T", "U")] == [(8, 3), (8, 4), (4, 3)]
    assert np.linalg.norm(P["U"]) == pytest.approx(1.0, abs=1e-15)
    again = toy_regression_problem()
    for k in P:
        np.testing.assert_array_equal(P[k], again[k])
    assert not np.array_equal(P["X"], toy_regression_problem(seed=1)["X"])
    np.testing.assert_allclose(P["T"].mean(1), 0, atol=1e-12)  # layer-normalized targets
    np.testing.assert_allclose(P["T"].var(1), 1, atol=1e-3)
    q = toy_regression_problem(n=5, inputs=2, hidden=6, noise=0.0)
    assert [q[k].shape for k in ("X", "T", "U")] == [(5, 2), (5, 6), (6, 2)]


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"inputs": 0}, {"hidden": 1}, {"n": 2.0}, {"noise": -1.0},
                                    {"noise": float("nan")}])
def test_toy_problem_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError):
        toy_regression_problem(**kwargs)


def _torch_loss(W, X, T, eps):
    """The same loss, written with torch operations, for autograd."""
    a = X @ W.T  # (N, H)
    mu = a.mean(-1, keepdim=True)
    a_hat = (a - mu) / torch.sqrt(((a - mu) ** 2).mean(-1, keepdim=True) + eps)
    return ((a_hat - T) ** 2).sum() / (2 * X.shape[0])


@pytest.mark.parametrize("eps", [1e-5, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_and_grad_match_autograd(eps, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((4, 3)) * rng.uniform(0.2, 5)
    loss, grad = ln_regression_loss_and_grad(W, P["X"], P["T"], eps)
    Wt = torch.tensor(W, requires_grad=True)
    lt = _torch_loss(Wt, torch.tensor(P["X"]), torch.tensor(P["T"]), eps)
    (gt,) = torch.autograd.grad(lt, Wt)
    assert loss == pytest.approx(lt.item(), rel=1e-13)
    np.testing.assert_allclose(grad, gt.numpy(), rtol=1e-11, atol=1e-13)


def test_loss_is_scale_invariant_and_its_gradient_orthogonal_and_homogeneous():
    W = P["U"] * 1.7
    loss1, g1 = ln_regression_loss_and_grad(W, P["X"], P["T"], eps=1e-30)
    for c in (0.5, 2.0, 10.0):
        loss_c, g_c = ln_regression_loss_and_grad(c * W, P["X"], P["T"], eps=1e-30)
        assert loss_c == pytest.approx(loss1, rel=1e-12)
        np.testing.assert_allclose(g_c, g1 / c, rtol=1e-10, atol=1e-14)
    assert abs(weight_grad_cosine(W, g1)) < 1e-13


def test_loss_and_grad_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        ln_regression_loss_and_grad(P["U"], P["X"][:, :2], P["T"])
    with pytest.raises(ValueError):
        ln_regression_loss_and_grad(P["U"], P["X"], P["T"][:, :3])
    with pytest.raises(ValueError):
        ln_regression_loss_and_grad(P["U"], P["X"], P["T"], eps=0.0)


# ------------------------------------------------------------ gradient descent

def _autograd_trajectory(W0, X, T, lr, steps, eps, mode):
    """Gradient descent with torch autograd: the independent twin of gd_trajectory."""
    W = torch.tensor(W0, requires_grad=True)
    Xt, Tt = torch.tensor(X), torch.tensor(T)
    norm, loss = [], []
    for t in range(steps + 1):
        full = _torch_loss(W, Xt, Tt, eps)
        if mode == "cyclic":
            n = t % len(X)
            step_loss = _torch_loss(W, Xt[n:n + 1], Tt[n:n + 1], eps)
        else:
            step_loss = full
        (g,) = torch.autograd.grad(step_loss, W)
        norm.append(W.detach().norm().item())
        loss.append(full.item())
        with torch.no_grad():
            W -= lr * g
    return np.array(norm), np.array(loss)


@pytest.mark.parametrize("mode", geometry.MODES)
@pytest.mark.parametrize("lr, scale", [(0.1, 1.0), (10.0, 0.1), (0.01, 10.0), (1.0, 3.0)])
def test_gd_trajectory_matches_autograd(mode, lr, scale):
    r = gd_trajectory(scale * P["U"], P["X"], P["T"], lr, 60, mode=mode)
    norm, loss = _autograd_trajectory(scale * P["U"], P["X"], P["T"], lr, 60, 1e-5, mode)
    np.testing.assert_allclose(r["norm"], norm, rtol=1e-9)
    np.testing.assert_allclose(r["loss"], loss, rtol=1e-9, atol=1e-13)
    for key in ("norm", "predicted_norm", "effective_lr", "loss", "grad_norm", "cosine"):
        assert r[key].shape == (61,) and np.isfinite(r[key]).all()
    np.testing.assert_allclose(r["effective_lr"], lr / r["norm"] ** 2, rtol=1e-14)
    assert r["W"].shape == (4, 3)


@pytest.mark.parametrize("mode", geometry.MODES)
def test_pythagoras_holds_and_the_norm_never_shrinks(mode):
    r = gd_trajectory(P["U"], P["X"], P["T"], 0.5, 100, eps=1e-30, mode=mode)
    np.testing.assert_allclose(r["norm"], r["predicted_norm"], rtol=1e-12)
    assert np.all(np.diff(r["norm"]) >= -1e-12)
    assert np.abs(r["cosine"]).max() < 1e-12
    assert r["norm"][-1] > 1.1  # it did grow


def test_gd_trajectory_depends_only_on_lr_over_norm_squared():
    """(lr, W0) and (4 lr, 2 W0): the same losses, norms twice as large (eps ~ 0)."""
    a = gd_trajectory(P["U"], P["X"], P["T"], 0.3, 80, eps=1e-30, mode="cyclic")
    b = gd_trajectory(2 * P["U"], P["X"], P["T"], 1.2, 80, eps=1e-30, mode="cyclic")
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b["norm"], 2 * a["norm"], rtol=1e-9)


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"lr": -1.0}, {"steps": -1}, {"steps": 2.5}, {"mode": "batch"},
                                    {"eps": -1e-5}])
def test_gd_trajectory_rejects_bad_arguments(kwargs):
    args = {"W0": P["U"], "X": P["X"], "T": P["T"], "lr": 0.1, "steps": 5} | kwargs
    with pytest.raises((ValueError, TypeError)):
        gd_trajectory(**args)


def test_gd_trajectory_zero_steps():
    r = gd_trajectory(P["U"], P["X"], P["T"], 0.1, 0)
    assert r["norm"].shape == (1,) and r["norm"][0] == pytest.approx(1.0)


# ------------------------------------------------------------ KL and Fisher

def test_categorical_kl_matches_torch_and_is_a_divergence():
    gen = torch.Generator().manual_seed(0)
    p, q = torch.randn(7, 5, generator=gen, dtype=torch.float64), torch.randn(7, 5, generator=gen, dtype=torch.float64)
    ref = F.kl_div(torch.log_softmax(q, -1), torch.log_softmax(p, -1), log_target=True, reduction="batchmean")
    assert categorical_kl(p, q).item() == pytest.approx(ref.item(), rel=1e-12)
    assert categorical_kl(p, q).item() > 0
    assert categorical_kl(p, p + 3.0).item() == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError):
        categorical_kl(p, q[:, :4])
    with pytest.raises(ValueError):
        categorical_kl(p[:, :1], q[:, :1])
    with pytest.raises(TypeError):
        categorical_kl(p.numpy(), q)


def _tiny_model():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(6, 3, generator=gen, dtype=torch.float64)  # (N, I)
    V = torch.randn(4, 5, generator=gen, dtype=torch.float64)  # read-out (C, H)

    def logits(theta, x=X):  # theta: (H * I,) = (15,); x: (N, I)
        a = x @ theta.reshape(5, 3).T  # (N, H)
        a_hat = (a - a.mean(-1, keepdim=True)) / torch.sqrt(a.var(-1, unbiased=False, keepdim=True) + 1e-30)
        return torch.tanh(a_hat) @ V.T  # (N, C)

    theta = torch.randn(15, generator=gen, dtype=torch.float64)
    return logits, theta


def test_fisher_matches_the_expectation_over_model_labels():
    logits, theta = _tiny_model()
    Fm = fisher_information(logits, theta)
    with torch.no_grad():
        p = torch.softmax(logits(theta), -1)  # (N, C)
    N, C = p.shape
    ref = torch.zeros(15, 15, dtype=torch.float64)
    for n in range(N):
        for c in range(C):
            th = theta.clone().requires_grad_()
            (g,) = torch.autograd.grad(torch.log_softmax(logits(th), -1)[n, c], th)
            ref += p[n, c] * torch.outer(g, g)
    ref /= N
    torch.testing.assert_close(Fm, ref, rtol=1e-10, atol=1e-13)
    assert torch.equal(Fm, Fm.T)
    assert torch.linalg.eigvalsh(Fm).min() > -1e-12


def test_fisher_is_the_curvature_of_kl_and_sees_the_invariances():
    logits, theta = _tiny_model()
    Fm = fisher_information(logits, theta)
    u = torch.randn(15, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    u /= u.norm()
    with torch.no_grad():
        for size in (1e-2, 1e-3):
            d = size * u
            kl = categorical_kl(logits(theta), logits(theta + d)).item()
            assert kl == pytest.approx(0.5 * (d @ Fm @ d).item(), rel=5 * size)
    radial = theta / theta.norm()
    recenter = (torch.ones(5, 1, dtype=torch.float64) * torch.tensor([1.0, -2.0, 0.5])).reshape(-1)
    recenter /= recenter.norm()
    scale = (u @ Fm @ u).item()
    assert abs((radial @ Fm @ radial).item()) < 1e-12 * scale
    assert abs((recenter @ Fm @ recenter).item()) < 1e-12 * scale
    torch.testing.assert_close(fisher_information(logits, 2 * theta), Fm / 4, rtol=1e-9, atol=1e-14)


def test_fisher_per_example_jacobians_equal_the_whole_batch_and_the_definition():
    """With ``inputs`` the Jacobians are taken example by example (vmap of jacrev): the same matrix."""
    logits, theta = _tiny_model()
    X = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # _tiny_model's X
    whole = fisher_information(logits, theta)
    per_example = fisher_information(logits, theta, X)
    torch.testing.assert_close(per_example, whole, rtol=1e-13, atol=1e-15)
    # a closed form: softmax regression, logits = x^T Theta, F = mean_n (diag p - p p^T) kron x x^T
    Xr = torch.randn(7, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)  # (N, I)
    th = torch.randn(3 * 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)  # (I * C,)
    F_reg = fisher_information(lambda t, x: x @ t.reshape(3, 4), th, Xr)
    p = torch.softmax(Xr @ th.reshape(3, 4), -1)  # (N, C)
    ref = sum(torch.kron(torch.outer(x, x), torch.diag(q) - torch.outer(q, q)) for x, q in zip(Xr, p)) / 7
    torch.testing.assert_close(F_reg, ref, rtol=1e-12, atol=1e-15)
    # batch statistics make examples depend on each other: then only the whole batch is right
    batch_norm = lambda t, x: ((x - x.mean(0)) @ t.reshape(3, 4))  # noqa: E731
    assert not torch.allclose(fisher_information(batch_norm, th, Xr),
                              fisher_information(lambda t: batch_norm(t, Xr), th))


def test_fisher_with_inputs_differentiates_one_example_at_a_time():
    """The Jacobians go back through a batch of one (the memory saving), never through all N examples."""
    logits, theta = _tiny_model()
    X = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    seen = []

    def counting(th, x):
        seen.append(x.shape[0])
        return logits(th, x)

    fisher_information(counting, theta, X)
    assert seen[0] == 6 and set(seen[1:]) == {1}, seen  # the probabilities once, then per example


def test_fisher_rejects_bad_arguments():
    logits, theta = _tiny_model()
    with pytest.raises(TypeError):
        fisher_information("not callable", theta)
    with pytest.raises(ValueError):
        fisher_information(logits, theta.reshape(5, 3))
    with pytest.raises(ValueError):
        fisher_information(logits, torch.arange(15))
    with pytest.raises(ValueError):
        fisher_information(lambda th: th[:3], theta)  # not (N, C)
    X = torch.randn(6, 3, dtype=torch.float64)
    with pytest.raises(TypeError):
        fisher_information(logits, theta, X.numpy())
    with pytest.raises(ValueError):
        fisher_information(logits, theta, X[:0])  # no examples
    with pytest.raises(ValueError):
        fisher_information(lambda th, x: logits(th, x)[:2], theta, X)  # not one row per input


# ------------------------------------------------------------ track_sgd

def _digits_like(n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 10, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


def _mlp(layer_norm, eps=1e-5):
    torch.manual_seed(0)
    first = torch.nn.Linear(10, 6, bias=not layer_norm)
    mid = [norms.LayerNorm(6, eps=eps)] if layer_norm else []
    return torch.nn.Sequential(first, *mid, torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()


@pytest.mark.parametrize("layer_norm", [True, False])
def test_track_sgd_records_the_exact_norm_identity(layer_norm):
    X, y = _digits_like()
    m = _mlp(layer_norm)
    rec = track_sgd(m, m[0].weight, X, y, lr=0.5, steps=40, batch_size=16)
    lr = rec["lr_weight"]
    identity = rec["norm_sq"][:-1] - 2 * lr * rec["dot"] + lr ** 2 * rec["grad_sq"]
    np.testing.assert_allclose(rec["norm_sq"][1:], identity, rtol=1e-12)
    np.testing.assert_allclose(rec["row_norm_sq"].sum(1), rec["norm_sq"], rtol=1e-12)
    np.testing.assert_allclose(rec["row_dot"].sum(1), rec["dot"], rtol=1e-9, atol=1e-15)
    assert rec["loss"].shape == (40,) and rec["row_norm_sq"].shape == (41, 6)
    np.testing.assert_allclose(rec["norm_sq"][-1], (m[0].weight.detach() ** 2).sum().item(), rtol=1e-14)
    cos = np.abs(rec["dot"]) / np.sqrt(rec["norm_sq"][:-1] * rec["grad_sq"])
    if layer_norm:  # the whole matrix is scale invariant: orthogonal up to eps
        assert cos.max() < 1e-3
        np.testing.assert_allclose(np.diff(rec["norm_sq"]), lr ** 2 * rec["grad_sq"], rtol=1e-2)
    else:
        assert cos.max() > 1e-2


def test_track_sgd_separate_lr_reproduces_the_scaled_run():
    """(lr, W) and (4 lr, 2 W) with eps ~ 0: the same losses."""
    X, y = _digits_like()
    runs = []
    for c, lr_w in ((1.0, 0.3), (2.0, 1.2)):
        m = _mlp(True, eps=1e-30)
        with torch.no_grad():
            m[0].weight.mul_(c)
        runs.append(track_sgd(m, m[0].weight, X, y, lr=0.3, lr_weight=lr_w, steps=30, batch_size=8, seed=3))
    np.testing.assert_allclose(runs[1]["loss"], runs[0]["loss"], rtol=1e-9)
    np.testing.assert_allclose(runs[1]["norm_sq"], 4 * runs[0]["norm_sq"], rtol=1e-9)
    assert runs[1]["lr_weight"] == 1.2


def test_track_sgd_rejects_bad_arguments():
    X, y = _digits_like()
    m = _mlp(True)
    other = torch.nn.Parameter(torch.zeros(6, 10, dtype=torch.float64))
    with pytest.raises(ValueError):
        track_sgd(m, other, X, y, lr=0.1, steps=1, batch_size=4)
    with pytest.raises(ValueError):
        track_sgd(m, m[1].weight, X, y, lr=0.1, steps=1, batch_size=4)  # 1-d
    with pytest.raises(ValueError):
        track_sgd(m, m[0].weight, X, y, lr=0.0, steps=1, batch_size=4)
    with pytest.raises(ValueError):
        track_sgd(m, m[0].weight, X, y, lr=0.1, steps=0, batch_size=4)
    with pytest.raises(ValueError):
        track_sgd(m, m[0].weight, X, y[:5], lr=0.1, steps=1, batch_size=4)
    with pytest.raises(TypeError):
        track_sgd("model", m[0].weight, X, y, lr=0.1, steps=1, batch_size=4)


# ------------------------------------------------------------ Sec. 5.2.2: (normalized) GLMs, Eqs. (10)-(14), (32)-(35)
# The reference is the definition of the Fisher matrix, Eq. (9), E_x E_y[grad log p grad log p^T],
# with torch autograd for the scores and the expectation over y exact: all 2^H outcomes of H
# Bernoulli outputs, or (Gaussian outputs, whose log-likelihood is linear in y) the identity
# F = -E_y[Hessian of log p], E_y[.] = the Hessian at y = E[y].

from itertools import product  # noqa: E402  (kept with the block it serves)

from helpers.geometry import gain_metric, glm_fisher, glm_magnitude_metric, normalized_glm_fisher


def _glm_problem(seed=0, n=24, inputs=3, hidden=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, inputs)), rng.standard_normal((hidden, inputs)),
            0.5 * rng.standard_normal(hidden), rng.uniform(0.5, 2.0, hidden))


def _natural_params(norm, X, H, I, eps=0.0):
    """theta = [w_1, b_1, (g_1), ..., w_H, b_H, (g_H)] -> z (N, H), written from the definitions."""
    def z(theta):
        rows = theta.reshape(H, -1)  # (H, I + 1) or (H, I + 2)
        W, b = rows[:, :I], rows[:, I]
        a = X @ W.T  # (N, H)
        if norm is None:
            return a + b
        g = rows[:, I + 1]
        if norm == "layer":
            mu = a.mean(1, keepdim=True)
            a_hat = (a - mu) / torch.sqrt(((a - mu) ** 2).mean(1, keepdim=True) + eps)
        elif norm == "batch":
            mu = a.mean(0, keepdim=True)
            a_hat = (a - mu) / torch.sqrt(((a - mu) ** 2).mean(0, keepdim=True) + eps)
        else:
            a_hat = a / W.norm(dim=1)
        return g * a_hat + b
    return z


def _theta(W, b, g=None):
    cols = [W, b[:, None]] + ([] if g is None else [g[:, None]])
    return torch.tensor(np.concatenate(cols, axis=1).reshape(-1))


def _fisher_by_enumeration(z_fn, theta):
    """Bernoulli outputs: sum over every y in {0,1}^H of p(y|x) score score^T, averaged over x."""
    with torch.no_grad():
        z0 = z_fn(theta)  # (N, H)
    N, H = z0.shape
    fisher = torch.zeros(theta.numel(), theta.numel(), dtype=torch.float64)
    for y in product((0.0, 1.0), repeat=H):
        y = torch.tensor(y, dtype=torch.float64)
        def log_p(th):  # (N,) log-likelihood of the outcome y for each example
            z = z_fn(th)
            return (z * y - F.softplus(z)).sum(1)
        S = torch.func.jacrev(log_p)(theta)  # (N, P) scores
        with torch.no_grad():
            p = torch.exp(log_p(theta))  # (N,)
        fisher += torch.einsum("n,np,nq->pq", p, S, S)
    return (fisher / N).numpy()


def _fisher_gaussian(z_fn, theta, phi):
    """Gaussian outputs: -E_y[Hessian of log p], with y at its mean (log p is linear in y)."""
    with torch.no_grad():
        y = z_fn(theta)  # E[y | x] = z
    def neg_log_p(th):
        z = z_fn(th)
        return -((z * y - z ** 2 / 2) / phi).sum() / y.shape[0]
    return torch.autograd.functional.hessian(neg_log_p, theta).numpy()


def test_glm_fisher_eq12_matches_the_definition():
    X, W, b, _ = _glm_problem()
    z = _natural_params(None, torch.tensor(X), 3, 3)
    ref = _fisher_by_enumeration(z, _theta(W, b))
    np.testing.assert_allclose(glm_fisher(X, W, b), ref, rtol=1e-12, atol=1e-14)
    ref_g = _fisher_gaussian(z, _theta(W, b), 0.7)
    np.testing.assert_allclose(glm_fisher(X, W, b, family="gaussian", phi=0.7), ref_g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm", ["batch", "weight"])
@pytest.mark.parametrize("family", ["bernoulli", "gaussian"])
def test_normalized_glm_fisher_eq13_is_exact_for_batch_and_weight_norm(norm, family):
    X, W, b, g = _glm_problem(seed=1)
    z = _natural_params(norm, torch.tensor(X), 3, 3)
    theta = _theta(W, b, g)
    ref = _fisher_by_enumeration(z, theta) if family == "bernoulli" else _fisher_gaussian(z, theta, 1.3)
    phi = 1.0 if family == "bernoulli" else 1.3
    Fbar = normalized_glm_fisher(X, W, b, g, norm=norm, family=family, phi=phi)
    assert Fbar.shape == (15, 15)
    np.testing.assert_allclose(Fbar, ref, rtol=1e-10, atol=1e-13)


def test_normalized_glm_fisher_eq13_under_layer_norm_misses_only_cross_unit_weight_terms():
    X, W, b, g = _glm_problem(seed=2)
    I, H = 3, 3
    ref = _fisher_by_enumeration(_natural_params("layer", torch.tensor(X), H, I, eps=1e-3), _theta(W, b, g))
    Fbar = normalized_glm_fisher(X, W, b, g, norm="layer", eps=1e-3)
    bg = np.ravel([[i * (I + 2) + I, i * (I + 2) + I + 1] for i in range(H)])  # bias and gain entries
    np.testing.assert_allclose(Fbar[np.ix_(bg, bg)], ref[np.ix_(bg, bg)], rtol=1e-12, atol=1e-14)
    w = np.setdiff1d(np.arange(H * (I + 2)), bg)
    assert np.abs(Fbar[np.ix_(w, w)] - ref[np.ix_(w, w)]).max() > 1e-2 * np.abs(ref[np.ix_(w, w)]).max()


@pytest.mark.parametrize("norm", ["batch", "layer", "weight"])
def test_gain_metric_eqs32_34_is_the_gain_block_of_the_definition(norm):
    X, W, b, g = _glm_problem(seed=3)
    I, H = 3, 3
    ref = _fisher_by_enumeration(_natural_params(norm, torch.tensor(X), H, I), _theta(W, b, g))
    gi = [i * (I + 2) + I + 1 for i in range(H)]
    M = gain_metric(X, W, b, g, norm=norm)
    np.testing.assert_allclose(M, ref[np.ix_(gi, gi)], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(M, normalized_glm_fisher(X, W, b, g, norm=norm)[np.ix_(gi, gi)], rtol=1e-13)


def test_weight_blocks_scale_as_one_over_c_squared_and_gains_do_not():
    """Scale the weights that the normalization ignores: w_i alone (weight, batch), all of W (layer)."""
    X, W, b, g = _glm_problem(seed=4)
    I = 3
    for norm, c in (("weight", [2.0, 1.0, 1.0]), ("batch", [1.0, 3.0, 1.0]), ("layer", [2.0, 2.0, 2.0])):
        F1 = normalized_glm_fisher(X, W, b, g, norm=norm)
        F2 = normalized_glm_fisher(X, W * np.array(c)[:, None], b, g, norm=norm)
        s = np.concatenate([np.r_[np.full(I, 1 / ci), 1.0, 1.0] for ci in c])  # (15,) per entry of theta
        np.testing.assert_allclose(F2, F1 * np.outer(s, s), rtol=1e-10, atol=1e-14)
    # layer norm is not invariant to scaling one row: the metric changes otherwise
    F1 = normalized_glm_fisher(X, W, b, g, norm="layer")
    F2 = normalized_glm_fisher(X, W * np.array([2.0, 1.0, 1.0])[:, None], b, g, norm="layer")
    s = np.concatenate([np.r_[np.full(I, 1 / ci), 1.0, 1.0] for ci in (2.0, 1.0, 1.0)])
    assert np.abs(F2 - F1 * np.outer(s, s)).max() > 1e-3 * np.abs(F1).max()


def test_gain_metric_ignores_input_and_weight_scale_but_glm_magnitude_metric_does_not():
    X, W, b, g = _glm_problem(seed=5)
    for family in geometry.GLM_FAMILIES:
        M = gain_metric(X, W, b, g, norm="layer", family=family)
        np.testing.assert_allclose(gain_metric(10 * X, 3 * W, b, g, norm="layer", family=family), M, rtol=1e-12)
        rows = np.arange(1, 25)[:, None]  # layer norm: each example may be scaled on its own
        np.testing.assert_allclose(gain_metric(rows * X, W, b, g, norm="layer", family=family), M, rtol=1e-12)
    G1 = glm_magnitude_metric(X, W, b, family="gaussian")
    np.testing.assert_allclose(glm_magnitude_metric(10 * X, W, b, family="gaussian"), 100 * G1, rtol=1e-12)
    np.testing.assert_allclose(glm_magnitude_metric(X, 3 * W, b, family="gaussian"), G1, rtol=1e-12)


def test_glm_magnitude_metric_eq35_is_eq12_along_the_weight_directions():
    X, W, b, _ = _glm_problem(seed=6)
    I, H = 3, 3
    F = glm_fisher(X, W, b)
    P = np.zeros((H * (I + 1), H))  # column i: the step w_i / ||w_i|| in theta = [w_1, b_1, ...]
    for i in range(H):
        P[i * (I + 1):i * (I + 1) + I, i] = W[i] / np.linalg.norm(W[i])
    np.testing.assert_allclose(glm_magnitude_metric(X, W, b), P.T @ F @ P, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kwargs, err", [
    ({"family": "poisson"}, ValueError), ({"phi": 0.0}, ValueError), ({"phi": "1"}, TypeError),
    ({"b": np.zeros(2)}, ValueError), ({"X": np.zeros((5, 2))}, ValueError), ({"W": np.zeros(3)}, ValueError),
])
def test_glm_fisher_rejects_bad_arguments(kwargs, err):
    X, W, b, _ = _glm_problem()
    args = {"X": X, "W": W, "b": b} | kwargs
    with pytest.raises(err):
        glm_fisher(**args)


@pytest.mark.parametrize("kwargs", [{"norm": "group"}, {"eps": -1.0}, {"g": np.ones(2)}, {"g": [np.nan] * 3},
                                    {"W": np.zeros((3, 3)), "norm": "weight"}, {"X": np.ones((1, 3)), "norm": "batch"},
                                    {"W": np.ones((1, 3)), "b": [0.0], "g": [1.0], "norm": "layer"}])
def test_normalized_glm_fisher_and_gain_metric_reject_bad_arguments(kwargs):
    X, W, b, g = _glm_problem()
    args = {"X": X, "W": W, "b": b, "g": g} | kwargs
    for fn in (normalized_glm_fisher, gain_metric):
        with pytest.raises(ValueError):
            fn(**args)
    with pytest.raises(ValueError):
        glm_magnitude_metric(X, np.zeros((3, 3)), b)
