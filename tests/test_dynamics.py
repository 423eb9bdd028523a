"""Tests for helpers.dynamics: the forward and backward pass through time against independent computations.

References: helpers.rnn.RNNCell run with torch in float64 (the forward pass),
torch.autograd (every gradient dL/dh_t), explicit products of Jacobian
matrices built with NumPy's @, and closed forms (layer norm's fixed scale,
the linear network's rho^t). Every random draw comes from a seeded generator.
"""

import doctest
import math

import numpy as np
import pytest
import torch

from helpers import dynamics
from helpers.dynamics import (
    OVERFLOW_LIMIT,
    example_rnn,
    growth_rate,
    rnn_dynamics,
    rnn_step,
    rnn_step_backward,
    scale_to_spectral_radius,
    spectral_radius,
)
from helpers.rnn import RNNCell, run_sequence

F64 = torch.float64
NET = example_rnn(hidden=16, inputs=4, max_length=300, seed=0)
SETTINGS = [(norm, nl) for norm in (None, "layer") for nl in ("linear", "tanh")]


def run(radius=1.0, scale=1.0, norm=None, nl="tanh", length=None, net=NET, **kwargs):
    return rnn_dynamics(radius * net["w_hh"], scale * net["w_xh"], net["x"], net["h0"], net["readout"],
                        norm=norm, nonlinearity=nl, length=length, **kwargs)


# ---------------------------------------------------------------- spectral radius

def test_spectral_radius_and_rescaling():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 7))
    assert math.isclose(spectral_radius(w), np.abs(np.linalg.eigvals(w)).max(), rel_tol=1e-14)
    for rho in (0.5, 1.0, 3.0):
        w2 = scale_to_spectral_radius(w, rho)
        assert math.isclose(spectral_radius(w2), rho, rel_tol=1e-12)
        ratio = w2 / w
        assert np.allclose(ratio, ratio.flat[0]) and ratio.flat[0] > 0  # a positive multiple
    assert spectral_radius([[0.0, 2.0], [0.5, 0.0]]) == pytest.approx(1.0)


def test_gelfand_formula_linear_growth_rate():
    """||W^k||^(1/k) -> rho: the linear network's gradient grows by rho per step in the long run."""
    out = run(radius=1.1, scale=0.0, nl="linear")
    assert growth_rate(out["grad_norm"][::-1], start=100) == pytest.approx(1.1, rel=1e-3)
    assert growth_rate(out["h_norm"], start=100) == pytest.approx(1.1, rel=1e-3)


@pytest.mark.parametrize("bad, exc", [
    (np.ones((2, 3)), ValueError), (np.zeros((3, 3)), ValueError), ([[1.0, np.nan], [0.0, 1.0]], ValueError),
    ([["a"]], TypeError), (np.ones(3), ValueError),
])
def test_rescaling_rejects_bad_matrices(bad, exc):
    with pytest.raises(exc):
        scale_to_spectral_radius(bad, 1.0)


@pytest.mark.parametrize("radius", [0.0, -1.0, float("inf"), float("nan"), "1", True])
def test_rescaling_rejects_bad_radius(radius):
    with pytest.raises((TypeError, ValueError)):
        scale_to_spectral_radius(np.eye(3), radius)


def test_example_rnn():
    assert NET["w_hh"].shape == (16, 16) and NET["w_xh"].shape == (16, 4) and NET["x"].shape == (300, 4)
    assert spectral_radius(NET["w_hh"]) == pytest.approx(1.0, abs=1e-12)
    assert np.linalg.norm(NET["h0"]) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(NET["readout"]) == pytest.approx(1.0, abs=1e-5)
    again = example_rnn(hidden=16, inputs=4, max_length=300, seed=0)
    assert all(np.array_equal(NET[k], again[k]) for k in NET)
    assert not np.array_equal(NET["x"], example_rnn(16, 4, 300, seed=1)["x"])
    with pytest.raises(ValueError):
        example_rnn(hidden=0)
    with pytest.raises(TypeError):
        example_rnn(inputs=2.0)
    with pytest.raises(ValueError):
        example_rnn(seed=-1)


# ---------------------------------------------------------------- the forward pass

@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("radius, scale", [(0.5, 1.0), (1.0, 0.0), (2.0, 1.5)])
def test_forward_matches_helpers_rnn_cell(norm, radius, scale):
    """tanh units: the same states as helpers.rnn.RNNCell in float64 (bias 0, gain 1)."""
    T = 40
    out = run(radius, scale, norm=norm, nl="tanh", length=T)
    cell = RNNCell(4, 16, norm=norm, dtype=F64)
    with torch.no_grad():
        cell.weight_hh.copy_(torch.from_numpy(radius * NET["w_hh"]))
        cell.weight_ih.copy_(torch.from_numpy(scale * NET["w_xh"]))
        if norm is None:
            cell.bias.zero_()
        x = torch.from_numpy(NET["x"][:T])  # (T, I): one unbatched sequence
        h_torch, _, rec = run_sequence(cell, x, torch.from_numpy(NET["h0"]), record=True)
    np.testing.assert_allclose(out["h"][1:], h_torch.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(out["a_hat"], rec["pre"].numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(out["a"], (rec["a_ih"] + rec["a_hh"]).numpy(), rtol=1e-11, atol=1e-12)


def test_layer_norm_fixes_the_linear_state_norm_exactly():
    """Linear units with layer norm: ||h_t|| = sqrt(H v_t / (v_t + eps)) at every step, for every radius."""
    for radius in (0.5, 1.0, 3.0):
        out = run(radius, 1.0, norm="layer", nl="linear")
        v = out["a"].var(axis=1)  # (T,) biased variance of each a_t
        np.testing.assert_allclose(out["h_norm"][1:], np.sqrt(16 * v / (v + 1e-5)), rtol=1e-12)
        assert np.all(np.abs(out["h_norm"][1:] - 4.0) < 1e-3)  # sqrt(H) up to eps


def test_without_norm_linear_state_grows_like_rho_to_the_t():
    out = run(3.0, 0.0, nl="linear")
    h = NET["h0"].copy()
    for _ in range(300):
        h = (3.0 * NET["w_hh"]) @ h
    assert out["h_norm"][-1] == pytest.approx(np.linalg.norm(h), rel=1e-9)
    assert 1e140 < out["h_norm"][-1] < OVERFLOW_LIMIT and not out["overflow"]


# ---------------------------------------------------------------- the backward pass

def _autograd_deltas(radius, scale, norm, nl, T, eps=1e-5):
    """dL/dh_t for t = 0..T by torch autograd, the network written out with torch ops."""
    W = torch.from_numpy(radius * NET["w_hh"])
    U = torch.from_numpy(scale * NET["w_xh"])
    x = torch.from_numpy(NET["x"][:T])
    h = torch.from_numpy(NET["h0"]).clone().requires_grad_()
    states = [h]
    for t in range(T):
        a = W @ states[-1] + U @ x[t]
        if norm == "layer":
            a = torch.nn.functional.layer_norm(a, (16,), eps=eps)
        h = torch.tanh(a) if nl == "tanh" else a
        h.retain_grad()
        states.append(h)
    loss = torch.from_numpy(NET["readout"]) @ states[-1]
    loss.backward()
    return np.array([s.grad.numpy() for s in states])  # (T + 1, H)


@pytest.mark.parametrize("norm, nl", SETTINGS)
@pytest.mark.parametrize("radius, scale", [(0.5, 1.0), (1.0, 0.0), (1.2, 2.0), (3.0, 1.0)])
def test_backward_matches_autograd(norm, nl, radius, scale):
    T = 30
    out = run(radius, scale, norm=norm, nl=nl, length=T)
    ref = _autograd_deltas(radius, scale, norm, nl, T)
    # each delta_t against autograd, relative to its own size (they span many decades)
    for t in range(T + 1):
        scale_t = np.abs(ref[t]).max()
        np.testing.assert_allclose(out["delta"][t], ref[t], rtol=1e-9, atol=1e-11 * scale_t, err_msg=f"t={t}")
    np.testing.assert_allclose(out["grad_norm"], np.linalg.norm(ref, axis=1), rtol=1e-9)


@pytest.mark.parametrize("norm, nl", SETTINGS)
def test_backward_is_the_product_of_jacobians(norm, nl):
    """delta_0 = (J_T ... J_1)^T r with J_t = diag(f') dLN W_hh built as explicit matrices."""
    T, H, eps = 25, 16, 1e-5
    W = 1.3 * NET["w_hh"]
    out = run(1.3, 0.7, norm=norm, nl=nl, length=T)
    P = np.eye(H)
    for t in range(1, T + 1):
        fprime = 1 - out["h"][t] ** 2 if nl == "tanh" else np.ones(H)
        if norm == "layer":
            a = out["a"][t - 1]
            sigma = np.sqrt(a.var() + eps)
            a_hat = (a - a.mean()) / sigma
            dln = (np.eye(H) - 1 / H - np.outer(a_hat, a_hat) / H) / sigma  # chapter 1's Jacobian
        else:
            dln = np.eye(H)
        J = np.diag(fprime) @ dln @ W  # dh_t / dh_{t-1}
        P = J @ P  # dh_t / dh_0
    np.testing.assert_allclose(out["delta"][0], P.T @ NET["readout"], rtol=1e-9, atol=1e-12)


def test_layer_norm_rnn_is_invariant_to_scaling_both_weight_matrices_only():
    """eq. (4): scaling W_hh and W_xh together changes nothing (up to eps); W_hh alone does."""
    base = run(1.0, 1.0, norm="layer", nl="tanh", length=40)
    both = run(4.0, 4.0, norm="layer", nl="tanh", length=40)
    only = run(4.0, 1.0, norm="layer", nl="tanh", length=40)
    assert np.abs(both["h"] - base["h"]).max() < 1e-4
    np.testing.assert_allclose(both["grad_norm"], base["grad_norm"], rtol=1e-3)
    assert np.abs(only["h"] - base["h"]).max() > 0.1


# ---------------------------------------------------------------- guards and extremes

def test_overflow_guard_cuts_the_run_and_stays_finite():
    out = run(10.0, 1.0, nl="linear")
    assert out["overflow"] and out["length"] < 300
    assert out["h"].shape == (out["length"] + 1, 16) and out["delta"].shape == out["h"].shape
    for key in ("h", "delta", "h_norm", "grad_norm"):
        assert np.isfinite(out[key]).all(), key
    assert np.abs(out["h"][-1]).max() > OVERFLOW_LIMIT


def test_saturated_tanh_underflows_to_zero_not_nan():
    out = run(60.0, 60.0, nl="tanh")
    assert np.isfinite(out["grad_norm"]).all() and out["grad_norm"][0] == 0.0
    assert out["grad_norm"][-1] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("norm, nl", SETTINGS)
@pytest.mark.parametrize("radius", [0.5, 3.0])
@pytest.mark.parametrize("scale", [0.0, 2.0])
def test_explorable_extremes_are_finite(norm, nl, radius, scale):
    out = run(radius, scale, norm=norm, nl=nl)
    assert not out["overflow"]
    for key in ("h", "delta", "h_norm", "grad_norm", "a", "a_hat", "sigma"):
        assert np.isfinite(out[key]).all(), key
    assert (out["grad_norm"] > 0).all()


def test_teacher_forcing_with_own_states_changes_nothing():
    out = run(1.5, 1.0, norm="layer", nl="tanh")
    again = run(1.5, 1.0, norm="layer", nl="tanh", teacher_h=out["h"], teacher_delta=out["delta"])
    for key in ("h", "delta", "h_norm", "grad_norm"):
        np.testing.assert_array_equal(out[key], again[key])


def test_teacher_forcing_checks_each_step_separately():
    """A wrong state shows up at its own step and the next one, and nowhere else: errors do not propagate."""
    out = run(1.0, 1.0, norm=None, nl="tanh", length=20)
    bad = out["h"].copy()
    bad[10] += 0.5
    again = run(1.0, 1.0, norm=None, nl="tanh", length=20, teacher_h=bad)
    diff = np.abs(again["h"] - bad).max(axis=1)  # (T + 1,)
    assert diff[10] == pytest.approx(0.5)  # h_10 does not follow from h_9
    assert diff[11] > 1e-3  # h_11 does not follow from the wrong h_10
    assert np.delete(diff, [10, 11]).max() == 0.0


@pytest.mark.parametrize("norm, nl", SETTINGS)
def test_steps_recompute_each_row_of_a_run(norm, nl):
    """Teacher forcing by hand: every h_t and delta_{t-1} of a run follows, bit for bit, from its predecessor."""
    W, U = 1.5 * NET["w_hh"], NET["w_xh"]
    out = run(1.5, 1.0, norm=norm, nl=nl, length=40)
    for t in range(1, 41):
        h, a, a_hat, sigma = rnn_step(W, U, out["h"][t - 1], NET["x"][t - 1], norm=norm, nonlinearity=nl)
        np.testing.assert_array_equal(h, out["h"][t])
        np.testing.assert_array_equal(a_hat, out["a_hat"][t - 1])
        assert sigma == out["sigma"][t - 1]
        back = rnn_step_backward(W, out["delta"][t], h, a_hat, sigma, norm=norm, nonlinearity=nl)
        np.testing.assert_array_equal(back, out["delta"][t - 1])


@pytest.mark.parametrize("norm, nl", SETTINGS)
def test_step_backward_is_the_transposed_jacobian_of_the_step(norm, nl):
    """rnn_step_backward(delta) = J^T delta, with J = d rnn_step / d h from torch autograd."""
    W, U = torch.from_numpy(1.2 * NET["w_hh"]), torch.from_numpy(NET["w_xh"])
    h_prev, x_t, delta = (torch.from_numpy(v) for v in (NET["h0"], NET["x"][0], NET["readout"]))

    def step(h):
        a = W @ h + U @ x_t
        a = torch.nn.functional.layer_norm(a, (16,), eps=1e-5) if norm == "layer" else a
        return torch.tanh(a) if nl == "tanh" else a

    J = torch.autograd.functional.jacobian(step, h_prev).numpy()  # (H, H)
    h, _, a_hat, sigma = rnn_step(W.numpy(), U.numpy(), NET["h0"], NET["x"][0], norm=norm, nonlinearity=nl)
    np.testing.assert_allclose(h, step(h_prev).numpy(), rtol=1e-12, atol=1e-14)
    back = rnn_step_backward(W.numpy(), NET["readout"], h, a_hat, sigma, norm=norm, nonlinearity=nl)
    np.testing.assert_allclose(back, J.T @ delta.numpy(), rtol=1e-10, atol=1e-13)


def test_steps_check_their_arguments():
    W, U, h, x = NET["w_hh"], NET["w_xh"], NET["h0"], NET["x"][0]
    with pytest.raises(ValueError, match=r"rnn_step: x_t must be a non-empty vector of shape \(4,\), got shape \(3,\)"):
        rnn_step(W, U, h, x[:3])
    with pytest.raises(ValueError, match=r"rnn_step: h must be a non-empty vector of shape \(16,\)"):
        rnn_step(W, U, h[:5], x)
    with pytest.raises(ValueError, match=r"rnn_step: w_hh must be square"):
        rnn_step(W[:5], U, h, x)
    with pytest.raises(ValueError, match=r"rnn_step: norm must be one of None, 'layer', got 'batch'"):
        rnn_step(W, U, h, x, norm="batch")
    with pytest.raises(ValueError, match=r"rnn_step_backward: sigma must be finite and > 0, got 0\.0"):
        rnn_step_backward(W, h, h, h, 0.0)
    with pytest.raises(ValueError, match=r"rnn_step_backward: a_hat must be finite"):
        rnn_step_backward(W, h, h, np.full(16, np.nan), 1.0)


def test_inputs_are_not_modified():
    w = NET["w_hh"].copy()
    run(2.0, 1.0, norm="layer")
    np.testing.assert_array_equal(w, NET["w_hh"])


@pytest.mark.parametrize("kwargs, exc", [
    ({"norm": "batch"}, ValueError), ({"nl": "relu"}, ValueError), ({"length": 0}, ValueError),
    ({"length": 301}, ValueError), ({"length": 2.0}, TypeError), ({"eps": 0.0}, ValueError),
    ({"eps": float("nan")}, ValueError), ({"teacher_h": np.zeros((5, 16))}, ValueError),
    ({"teacher_h": np.zeros((301, 3))}, ValueError), ({"teacher_delta": np.zeros((2, 16))}, ValueError),
])
def test_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        run(**kwargs)


def test_bad_shapes():
    n = NET
    with pytest.raises(ValueError):
        rnn_dynamics(n["w_hh"][:, :5], n["w_xh"], n["x"], n["h0"], n["readout"])
    with pytest.raises(ValueError):
        rnn_dynamics(n["w_hh"], n["w_xh"][:5], n["x"], n["h0"], n["readout"])
    with pytest.raises(ValueError):
        rnn_dynamics(n["w_hh"], n["w_xh"], n["x"][:, :2], n["h0"], n["readout"])
    with pytest.raises(ValueError):
        rnn_dynamics(n["w_hh"], n["w_xh"], n["x"], n["h0"][:3], n["readout"])
    with pytest.raises(ValueError):
        rnn_dynamics(n["w_hh"], n["w_xh"], n["x"], n["h0"], np.full(16, np.inf))
    with pytest.raises(TypeError):
        rnn_dynamics("w", n["w_xh"], n["x"], n["h0"], n["readout"])


def test_growth_rate():
    assert growth_rate([1.0, 2.0, 4.0, 8.0]) == pytest.approx(2.0)
    assert growth_rate(3.0 * 0.5 ** np.arange(50.0), start=10) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        growth_rate([1.0])
    with pytest.raises(ValueError):
        growth_rate([1.0, 0.0, 2.0])


def test_public_api_and_doctests():
    assert set(dynamics.__all__) >= {"rnn_dynamics", "spectral_radius", "scale_to_spectral_radius", "example_rnn"}
    failures, tried = doctest.testmod(dynamics, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0
