"""Tests for helpers.norms.weight_norm and helpers.norms.WeightNormLinear.

References: the formula written as a loop, torch.nn.utils.parametrizations.weight_norm
on torch.nn.Linear, the deprecated torch.nn.utils.weight_norm (whose state_dict
names WeightNormLinear shares), and torch.autograd.gradcheck. Every random input
comes from a generator seeded inside the test.
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from helpers import norms
from helpers.norms import WeightNormLinear, weight_norm


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def trandn(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _loop_weight_norm(x, W, g, b):
    """y[n, i] = g_i / ||w_i|| * sum_j W[i, j] x[n, j] + b_i, one scalar at a time."""
    B, I = x.shape
    H = W.shape[0]
    y = np.zeros((B, H))
    for i in range(H):
        length = sum(W[i, j] ** 2 for j in range(I)) ** 0.5
        for n in range(B):
            y[n, i] = g[i] / length * sum(W[i, j] * x[n, j] for j in range(I)) + b[i]
    return y


# ---------------------------------------------------------------------------
# NumPy weight_norm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("B, I, H", [(4, 3, 5), (1, 1, 1), (7, 10, 2)])
def test_weight_norm_matches_loop(B, I, H):
    x, W = randn(B, I, seed=1), randn(H, I, seed=2)
    g, b = randn(H, seed=3), randn(H, seed=4)
    np.testing.assert_allclose(weight_norm(x, W, g, b), _loop_weight_norm(x, W, g, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weight_norm(x, W), _loop_weight_norm(x, W, np.ones(H), np.zeros(H)),
                               rtol=1e-12, atol=1e-12)


def test_weight_norm_is_the_unified_form_with_mu_0_sigma_row_norm():
    # Eq. (5): y_i = g_i / sigma_i * (a_i - mu_i) + b_i with mu_i = 0, sigma_i = ||w_i||.
    x, W, g, b = randn(6, 4, seed=5), randn(3, 4, seed=6), randn(3, seed=7), randn(3, seed=8)
    a = x @ W.T  # (B, H)
    sigma = np.linalg.norm(W, axis=1)  # (H,)
    np.testing.assert_allclose(weight_norm(x, W, g, b), g / sigma * (a - 0.0) + b, rtol=1e-13)


def test_weight_norm_ignores_row_lengths():
    x, W = randn(5, 4, seed=9), randn(3, 4, seed=10)
    scales = np.array([0.01, 3.0, 250.0])[:, None]  # (H, 1): a different positive scale per row
    np.testing.assert_allclose(weight_norm(x, scales * W), weight_norm(x, W), rtol=1e-13)
    flipped = W * np.array([[1.0], [-1.0], [1.0]])  # a negative scale flips that unit only
    np.testing.assert_allclose(weight_norm(x, flipped)[:, 1], -weight_norm(x, W)[:, 1], rtol=1e-13)


def test_weight_norm_matches_torch_parametrization():
    x, W, g, b = randn(8, 5, seed=11), randn(4, 5, seed=12), randn(4, seed=13), randn(4, seed=14)
    lin = parametrizations.weight_norm(nn.Linear(5, 4, dtype=torch.float64))
    with torch.no_grad():
        lin.parametrizations.weight.original0.copy_(torch.from_numpy(g)[:, None])  # g, (H, 1)
        lin.parametrizations.weight.original1.copy_(torch.from_numpy(W))  # v, (H, I)
        lin.bias.copy_(torch.from_numpy(b))
    ref = lin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(weight_norm(x, W, g, b), ref, rtol=1e-12, atol=1e-12)


def test_weight_norm_leading_axes_and_dtypes():
    x, W = randn(2, 3, 4, seed=15), randn(5, 4, seed=16)
    y = weight_norm(x, W)
    assert y.shape == (2, 3, 5)
    np.testing.assert_allclose(y.reshape(6, 5), weight_norm(x.reshape(6, 4), W), rtol=1e-14)
    assert weight_norm(x[0, 0], W).shape == (5,)  # a single example (I,)
    x32, W32 = x.astype(np.float32), W.astype(np.float32)
    assert weight_norm(x32, W32).dtype == np.float32
    assert weight_norm(x32, W32, gain=np.ones(5), bias=np.zeros(5)).dtype == np.float32
    assert weight_norm(x32, W).dtype == np.float64  # the common dtype
    assert weight_norm([[1, 2]], [[3, 4]]).dtype == np.float64
    np.testing.assert_allclose(weight_norm([[1, 2]], [[3, 4]]), [[11 / 5]])


BAD_CALLS = {
    "zero row": (lambda: weight_norm(np.ones((2, 3)), [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                 ValueError, r"weight_norm: row 1 of weight is all zeros.*\|\|w_1\|\| = 0.*zero rows: \[1\]"),
    "two zero rows": (lambda: weight_norm(np.ones((2, 2)), np.zeros((3, 2))), ValueError,
                      r"row 0 .*zero rows: \[0, 1, 2\]"),
    "x I mismatch": (lambda: weight_norm(np.ones((2, 3)), np.ones((4, 5))), ValueError,
                     r"x must have shape \(\*, I\) with I = weight.shape\[1\] = 5, got x.shape = \(2, 3\)"),
    "x 0-d": (lambda: weight_norm(np.float64(1.0), np.ones((4, 1))), ValueError, r"x must have shape \(\*, I\)"),
    "weight 1-d": (lambda: weight_norm(np.ones((2, 3)), np.ones(3)), ValueError,
                   r"weight must have shape \(H, I\) with H, I >= 1, got shape \(3,\)"),
    "weight 3-d": (lambda: weight_norm(np.ones((2, 3)), np.ones((1, 4, 3))), ValueError, r"\(1, 4, 3\)"),
    "weight H=0": (lambda: weight_norm(np.ones((2, 3)), np.ones((0, 3))), ValueError, r"H, I >= 1.*\(0, 3\)"),
    "gain shape": (lambda: weight_norm(np.ones((2, 3)), np.ones((4, 3)), gain=np.ones(3)), ValueError,
                   r"gain must have shape \(H,\) = \(4,\) to match weight.shape = \(4, 3\), got gain.shape = \(3,\)"),
    "bias shape": (lambda: weight_norm(np.ones((2, 3)), np.ones((4, 3)), bias=np.ones((4, 1))), ValueError,
                   r"bias must have shape \(H,\) = \(4,\).*\(4, 1\)"),
    "x strings": (lambda: weight_norm(["a"], np.ones((1, 1))), TypeError, r"weight_norm: x must be a real numeric"),
    "weight None": (lambda: weight_norm(np.ones((1, 1)), None), TypeError, r"weight must be a real numeric"),
    "overflow": (lambda: weight_norm(np.ones((1, 2)), [[1e200, 1e200]]), OverflowError,
                 r"weight_norm: the squared norm of a row of weight overflowed float64"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_weight_norm_bad_input_raises(name):
    call, exc, match = BAD_CALLS[name]
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------
# torch WeightNormLinear
# ---------------------------------------------------------------------------

def _randomized(in_features, out_features, seed, bias=True, dtype=torch.float64):
    m = WeightNormLinear(in_features, out_features, bias=bias, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype))
    return m


def _torch_reference(m):
    """torch.nn.utils.parametrizations.weight_norm(nn.Linear) holding m's parameters."""
    ref = parametrizations.weight_norm(
        nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=m.weight_v.dtype))
    with torch.no_grad():
        ref.parametrizations.weight.original0.copy_(m.weight_g)  # g: (H, 1)
        ref.parametrizations.weight.original1.copy_(m.weight_v)  # v: (H, I)
        if m.bias is not None:
            ref.bias.copy_(m.bias)
    return ref


@pytest.mark.parametrize("in_shape", [(6, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_module_matches_torch_parametrization(in_shape, bias):
    m = _randomized(5, 4, seed=20, bias=bias)
    ref = _torch_reference(m)
    x = trandn(*in_shape, seed=21)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y, y_ref = m(x1), ref(x2)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    dy = trandn(*y.shape, seed=22)
    y.backward(dy)
    y_ref.backward(dy)
    pairs = [(x1.grad, x2.grad), (m.weight_g.grad, ref.parametrizations.weight.original0.grad),
             (m.weight_v.grad, ref.parametrizations.weight.original1.grad)]
    if bias:
        pairs.append((m.bias.grad, ref.bias.grad))
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m.weight, ref.weight, rtol=1e-12, atol=1e-12)


def test_module_float32_matches_torch_parametrization():
    m = _randomized(7, 3, seed=23, dtype=torch.float32)
    x = trandn(4, 7, seed=24, dtype=torch.float32)
    torch.testing.assert_close(m(x), _torch_reference(m)(x))


def test_module_state_dict_is_the_deprecated_weight_norms():
    m = _randomized(4, 3, seed=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        old = torch.nn.utils.weight_norm(nn.Linear(4, 3, dtype=torch.float64))
    assert set(m.state_dict()) == set(old.state_dict()) == {"weight_g", "weight_v", "bias"}
    for name, value in m.state_dict().items():
        assert value.shape == old.state_dict()[name].shape, name
    old.load_state_dict(m.state_dict())  # strict: same names, same shapes
    x = trandn(5, 4, seed=26)
    torch.testing.assert_close(m(x), old(x), rtol=1e-12, atol=1e-12)
    back = WeightNormLinear(4, 3, dtype=torch.float64)
    back.load_state_dict(old.state_dict())
    torch.testing.assert_close(back(x), m(x))


def test_module_matches_numpy_weight_norm():
    m = _randomized(5, 3, seed=27)
    x = trandn(6, 5, seed=28)
    ref = weight_norm(x.numpy(), m.weight_v.detach().numpy(), m.weight_g.detach().numpy()[:, 0],
                      m.bias.detach().numpy())
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_module_gradcheck(bias):
    m = _randomized(4, 3, seed=29, bias=bias)
    x = trandn(5, 4, seed=30).requires_grad_()
    params = {name: p.detach().clone().requires_grad_() for name, p in m.named_parameters()}
    names = list(params)

    def f(x, *values):  # route gradcheck's inputs through the module's parameters
        return torch.func.functional_call(m, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params.values()))


def test_module_init_is_nn_linear_init():
    with torch.random.fork_rng():
        torch.manual_seed(31)
        ours = WeightNormLinear(6, 4)
        torch.manual_seed(31)
        lin = nn.Linear(6, 4)
    torch.testing.assert_close(ours.weight_v.detach(), lin.weight.detach())
    torch.testing.assert_close(ours.bias.detach(), lin.bias.detach())
    torch.testing.assert_close(ours.weight.detach(), lin.weight.detach())  # g = ||v|| at init
    torch.testing.assert_close(ours.weight_g.detach(), lin.weight.detach().norm(dim=1, keepdim=True))
    ref = parametrizations.weight_norm(lin)  # torch sets original0 = ||weight|| the same way
    torch.testing.assert_close(ours.weight_g.detach(), ref.parametrizations.weight.original0.detach())


def test_module_reset_parameters():
    m = _randomized(5, 2, seed=32)
    with torch.random.fork_rng():
        torch.manual_seed(33)
        m.reset_parameters()
    torch.testing.assert_close(m.weight_g.detach(), m.weight_v.detach().norm(dim=1, keepdim=True))
    assert m.weight_v.detach().abs().max() <= 1 / 5 ** 0.5  # kaiming_uniform(a=sqrt 5): U(-1/sqrt I, 1/sqrt I)
    assert m.bias.detach().abs().max() <= 1 / 5 ** 0.5


def test_module_weight_rows_have_length_g():
    m = _randomized(5, 4, seed=34)
    with torch.no_grad():
        m.weight_v.mul_(torch.tensor([[1e-3], [1.0], [50.0], [7.0]], dtype=torch.float64))
    torch.testing.assert_close(m.weight.norm(dim=1, keepdim=True), m.weight_g.abs())


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}])
def test_module_structure_and_repr_like_nn_linear(kwargs):
    ours, lin = WeightNormLinear(3, 2, **kwargs), nn.Linear(3, 2, **kwargs)
    assert ours.extra_repr() == lin.extra_repr()
    assert repr(ours) == repr(lin).replace("Linear", "WeightNormLinear")
    assert [n for n, _ in ours.named_parameters()] == ["weight_g", "weight_v"] + (["bias"] if kwargs == {} else [])
    assert tuple(ours.weight_g.shape) == (2, 1) and tuple(ours.weight_v.shape) == (2, 3)
    assert ours.bias is None if kwargs else tuple(ours.bias.shape) == (2,)


def test_module_does_not_call_fused_kernels(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("fused kernel called")
    monkeypatch.setattr(F, "linear", boom)
    monkeypatch.setattr(torch, "_weight_norm", boom)
    monkeypatch.setattr(torch, "norm_except_dim", boom)
    _randomized(3, 2, seed=35)(trandn(4, 3, seed=36))  # must not raise


BAD_MODULE_CALLS = {
    "in 0": (lambda: WeightNormLinear(0, 3), ValueError, r"WeightNormLinear: in_features must be an int >= 1, got 0"),
    "out -1": (lambda: WeightNormLinear(3, -1), ValueError, r"out_features must be an int >= 1, got -1"),
    "in float": (lambda: WeightNormLinear(2.0, 3), ValueError, r"in_features must be an int >= 1, got float 2\.0"),
    "in bool": (lambda: WeightNormLinear(True, 3), ValueError, r"in_features must be an int >= 1, got bool True"),
    "wrong I": (lambda: WeightNormLinear(3, 2)(torch.ones(4, 5)), ValueError,
                r"input must have shape \(\*, 3\), got \(4, 5\)"),
    "0-d": (lambda: WeightNormLinear(1, 2)(torch.tensor(1.0)), ValueError, r"\(\*, 1\), got \(\)"),
    "not tensor": (lambda: WeightNormLinear(2, 2)([[1.0, 2.0]]), TypeError,
                   r"WeightNormLinear: input must be a torch.Tensor, got list"),
    "int tensor": (lambda: WeightNormLinear(2, 2)(torch.ones(1, 2, dtype=torch.long)), TypeError, r"floating-point"),
}


@pytest.mark.parametrize("name", list(BAD_MODULE_CALLS))
def test_module_bad_input_raises(name):
    call, exc, match = BAD_MODULE_CALLS[name]
    with pytest.raises(exc, match=match):
        call()


def test_module_zero_direction_raises_not_nan():
    m = _randomized(3, 4, seed=37)
    with torch.no_grad():
        m.weight_v[2].zero_()
    with pytest.raises(ValueError, match=r"row 2 of weight_v is all zeros.*zero rows: \[2\]"):
        m(trandn(2, 3, seed=38))
    ref = _torch_reference(m)  # what torch does instead
    assert torch.isnan(ref(trandn(2, 3, seed=38))).any()


def test_public_api_lists_weight_norm():
    assert {"weight_norm", "WeightNormLinear"} <= set(norms.__all__)
    assert "weight_norm" in norms.__doc__ and "WeightNormLinear" in norms.__doc__
    for name in ("weight_norm", "WeightNormLinear"):
        assert getattr(norms, name).__doc__
