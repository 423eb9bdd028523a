"""Tests for helpers.norms against independent references.

References: torch.nn.functional.layer_norm / batch_norm, torch.nn.LayerNorm /
BatchNorm1d, torch autograd and central finite differences. Every random input
comes from a generator seeded inside the test.
"""

import doctest
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import norms
from helpers.norms import BatchNorm1d, LayerNorm, batch_norm, layer_norm, layer_norm_backward, layer_norm_stats


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def trandn(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


# ---------------------------------------------------------------------------
# NumPy layer_norm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 8), (2, 5, 6), (7,), (3, 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_torch(shape, affine):
    x = 3.0 * randn(*shape, seed=1) + 2.0
    h = shape[-1]
    gain = randn(h, seed=2) if affine else None
    bias = randn(h, seed=3) if affine else None
    ours = layer_norm(x, gain, bias, eps=1e-5)
    t = lambda a: None if a is None else torch.from_numpy(a)
    ref = F.layer_norm(torch.from_numpy(x), (h,), t(gain), t(bias), eps=1e-5).numpy()
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_layer_norm_eps_is_inside_sqrt():
    x = randn(3, 4, seed=4) * 0.01  # small variance so eps matters
    ref = F.layer_norm(torch.from_numpy(x), (4,), eps=1e-3).numpy()
    np.testing.assert_allclose(layer_norm(x, eps=1e-3), ref, rtol=1e-10)


def test_layer_norm_h1_returns_bias():
    x = randn(5, 1, seed=5) * 100
    bias = np.array([0.7])
    y = layer_norm(x, gain=np.array([3.0]), bias=bias)
    np.testing.assert_array_equal(y, np.full((5, 1), 0.7))
    ref = F.layer_norm(torch.from_numpy(x), (1,), torch.tensor([3.0], dtype=torch.float64),
                       torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_layer_norm_large_offset_is_stable():
    # One-pass E[x^2] - E[x]^2 loses ~1e-4 of the variance here; two passes lose ~1e-10.
    x = randn(6, 32, seed=6)
    shifted = x + 1e6
    ref = F.layer_norm(torch.from_numpy(shifted), (32,)).numpy()
    np.testing.assert_allclose(layer_norm(shifted), ref, atol=1e-8)
    np.testing.assert_allclose(layer_norm(shifted), layer_norm(x), atol=1e-8)


def test_layer_norm_output_statistics():
    y = layer_norm(randn(10, 64, seed=7) * 5 - 3, eps=1e-12)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, atol=1e-9)  # biased variance is 1


def test_layer_norm_stats_matches_torch():
    x = randn(3, 4, 5, seed=8)
    mu, sigma = layer_norm_stats(x, eps=1e-5)
    tx = torch.from_numpy(x)
    assert mu.shape == sigma.shape == (3, 4, 1)
    np.testing.assert_allclose(mu, tx.mean(-1, keepdim=True).numpy(), rtol=1e-12)
    var = torch.var(tx, dim=-1, correction=0, keepdim=True)
    np.testing.assert_allclose(sigma, torch.sqrt(var + 1e-5).numpy(), rtol=1e-12)


def test_dtypes():
    x32 = randn(3, 4, seed=9).astype(np.float32)
    assert layer_norm(x32).dtype == np.float32
    assert layer_norm(x32, gain=np.ones(4), bias=np.zeros(4)).dtype == np.float32
    assert batch_norm(x32).dtype == np.float32
    assert all(a.dtype == np.float32 for a in layer_norm_backward(x32, x32))
    ints = [[1, 2, 3], [4, 6, 8]]
    assert layer_norm(ints).dtype == np.float64
    np.testing.assert_allclose(layer_norm(ints), layer_norm(np.array(ints, dtype=float)))
    ref = F.layer_norm(torch.from_numpy(x32), (4,)).numpy()
    np.testing.assert_allclose(layer_norm(x32), ref, rtol=1e-5, atol=1e-6)


def test_layer_norm_accepts_torch_tensor():
    x = trandn(2, 3, seed=10)
    np.testing.assert_allclose(layer_norm(x), F.layer_norm(x, (3,)).numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------
# NumPy batch_norm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 5), (2, 3), (16, 1)])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_matches_torch(shape, affine):
    x = 2.0 * randn(*shape, seed=11) - 1.0
    h = shape[1]
    gain = randn(h, seed=12) if affine else None
    bias = randn(h, seed=13) if affine else None
    t = lambda a: None if a is None else torch.from_numpy(a)
    ref = F.batch_norm(torch.from_numpy(x), None, None, t(gain), t(bias), training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(batch_norm(x, gain, bias, eps=1e-5), ref, rtol=1e-10, atol=1e-12)


def test_batch_norm_3d_reduces_axis_0_only():
    x = randn(6, 3, 4, seed=14)  # (B, T, H): one statistic per (t, h)
    gain, bias = randn(3, 4, seed=15), randn(3, 4, seed=16)
    flat = torch.from_numpy(x.reshape(6, 12))  # F.batch_norm on (B, T*H) reduces axis 0 only
    ref = F.batch_norm(flat, None, None, torch.from_numpy(gain.ravel()), torch.from_numpy(bias.ravel()),
                       training=True).numpy().reshape(6, 3, 4)
    np.testing.assert_allclose(batch_norm(x, gain, bias), ref, rtol=1e-10, atol=1e-12)


def test_layer_norm_is_batch_norm_of_transpose():
    x = randn(5, 7, seed=17)
    np.testing.assert_allclose(layer_norm(x), batch_norm(x.T).T, rtol=1e-12)


# ---------------------------------------------------------------------------
# layer_norm_backward
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5), (5,), (3, 1)])
@pytest.mark.parametrize("with_gain", [False, True])
def test_layer_norm_backward_matches_autograd(shape, with_gain):
    h = shape[-1]
    x = torch.tensor(randn(*shape, seed=20) * 2 + 1, requires_grad=True)
    dy = randn(*shape, seed=21)
    gain = randn(h, seed=22) if with_gain else np.ones(h)
    w = torch.tensor(gain, requires_grad=True)
    b = torch.zeros(h, dtype=torch.float64, requires_grad=True)
    F.layer_norm(x, (h,), w, b, eps=1e-5).backward(torch.from_numpy(dy))

    dx, dgain, dbias = layer_norm_backward(dy, x.detach().numpy(), gain if with_gain else None, eps=1e-5)
    assert dx.shape == shape and dgain.shape == dbias.shape == (h,)
    np.testing.assert_allclose(dx, x.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dgain, w.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dbias, b.grad.numpy(), rtol=1e-9, atol=1e-11)


def _central_diff(f, a, h=1e-6):
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 3)])
def test_layer_norm_backward_matches_finite_differences(shape):
    h = shape[-1]
    x, dy = randn(*shape, seed=30), randn(*shape, seed=31)
    gain, bias = randn(h, seed=32), randn(h, seed=33)
    loss = lambda: np.sum(dy * layer_norm(x, gain, bias, eps=1e-3))  # dL/dy = dy
    dx, dgain, dbias = layer_norm_backward(dy, x, gain, eps=1e-3)
    np.testing.assert_allclose(dx, _central_diff(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dgain, _central_diff(loss, gain), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dbias, _central_diff(loss, bias), rtol=1e-6, atol=1e-7)


def test_layer_norm_backward_is_orthogonal_to_shift_and_scale():
    x, dy = randn(4, 9, seed=34), randn(4, 9, seed=35)
    dx, _, _ = layer_norm_backward(dy, x, randn(9, seed=36))
    np.testing.assert_allclose(dx.sum(-1), 0, atol=1e-12)  # shift direction
    np.testing.assert_allclose((dx * (x - x.mean(-1, keepdims=True))).sum(-1), 0, atol=1e-4)  # ~scale


# ---------------------------------------------------------------------------
# torch LayerNorm module
# ---------------------------------------------------------------------------

def _randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("normalized_shape, in_shape", [(10, (4, 10)), ((10,), (2, 3, 10)), ((4, 5), (2, 3, 4, 5)),
                                                        ([3, 1], (6, 3, 1))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_norm_module_matches_nn(normalized_shape, in_shape, dtype):
    ours = _randomize(LayerNorm(normalized_shape, eps=1e-4, dtype=dtype), seed=40)
    ref = nn.LayerNorm(normalized_shape, eps=1e-4, dtype=dtype)
    ref.load_state_dict(ours.state_dict())
    x = trandn(*in_shape, seed=41, dtype=dtype) * 3 + 1
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours(x), ref(x), **tol)
    # ...and the other way round
    back = LayerNorm(normalized_shape, eps=1e-4, dtype=dtype)
    back.load_state_dict(_randomize(ref, seed=42).state_dict())
    torch.testing.assert_close(back(x), ref(x), **tol)


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}])
def test_layer_norm_module_parameters_like_nn(kwargs):
    ours, ref = LayerNorm((3, 4), **kwargs), nn.LayerNorm((3, 4), **kwargs)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)  # ones and zeros
    x = trandn(2, 3, 4, seed=43, dtype=torch.float32)
    torch.testing.assert_close(ours(x), ref(x))


def test_layer_norm_module_no_affine_has_no_parameters():
    m = LayerNorm(5, elementwise_affine=False)
    assert list(m.parameters()) == [] and m.weight is None and m.bias is None


def test_layer_norm_module_reset_parameters():
    m = _randomize(LayerNorm(4), seed=44)
    m.reset_parameters()
    torch.testing.assert_close(m.weight.detach(), torch.ones(4))
    torch.testing.assert_close(m.bias.detach(), torch.zeros(4))


@pytest.mark.parametrize("args, kwargs", [((10,), {}), (((3, 4),), {"eps": 1e-3}), ((6,), {"bias": False}),
                                          ((6,), {"elementwise_affine": False}), ((2,), {"eps": 1})])
def test_layer_norm_module_repr_like_nn(args, kwargs):
    ours, ref = LayerNorm(*args, **kwargs), nn.LayerNorm(*args, **kwargs)
    assert ours.extra_repr() == ref.extra_repr()
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("normalized_shape, in_shape", [(5, (3, 5)), ((2, 3), (2, 2, 3))])
def test_layer_norm_module_gradcheck(normalized_shape, in_shape):
    m = _randomize(LayerNorm(normalized_shape, dtype=torch.float64), seed=45)
    x = trandn(*in_shape, seed=46).requires_grad_()

    def f(x, w, b):  # route the gradcheck inputs through the module's parameters
        return torch.func.functional_call(m, {"weight": w, "bias": b}, (x,))

    w = m.weight.detach().clone().requires_grad_()
    b = m.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (x, w, b))


def test_layer_norm_module_does_not_call_fused_kernels(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("fused kernel called")
    monkeypatch.setattr(F, "layer_norm", boom)
    monkeypatch.setattr(torch, "layer_norm", boom)
    monkeypatch.setattr(torch, "native_layer_norm", boom)
    LayerNorm(3)(torch.ones(2, 3))  # must not raise


# ---------------------------------------------------------------------------
# torch BatchNorm1d module
# ---------------------------------------------------------------------------

def _pair(num_features, seed, **kwargs):
    ours = _randomize(BatchNorm1d(num_features, **kwargs), seed)
    ref = nn.BatchNorm1d(num_features, **kwargs)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _assert_buffers_equal(ours, ref, **tol):
    for (na, a), (nb, b) in zip(ours.named_buffers(), ref.named_buffers()):
        assert na == nb
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("in_shape", [(8, 4), (5, 4, 3), (1, 4, 6)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batch_norm_module_training_and_eval_match_nn(in_shape, momentum):
    ours, ref = _pair(4, seed=50, momentum=momentum, eps=1e-3, dtype=torch.float64)
    tol = dict(rtol=1e-10, atol=1e-12)
    for step in range(4):
        x = trandn(*in_shape, seed=51 + step) * (step + 1) + step
        torch.testing.assert_close(ours(x), ref(x), **tol)
        _assert_buffers_equal(ours, ref, **tol)
    assert int(ours.num_batches_tracked) == 4
    ours.eval(), ref.eval()
    x = trandn(*in_shape, seed=60) * 2
    torch.testing.assert_close(ours(x), ref(x), **tol)
    torch.testing.assert_close(ours(x[:1]), ref(x[:1]), **tol)  # batch of 1 is fine in eval mode
    _assert_buffers_equal(ours, ref, **tol)  # eval does not update buffers
    assert int(ours.num_batches_tracked) == 4


def test_batch_norm_module_running_var_is_unbiased():
    m = BatchNorm1d(3, momentum=1.0)
    x = trandn(5, 3, seed=61, dtype=torch.float32)
    m(x)
    torch.testing.assert_close(m.running_var, x.var(0, correction=1))
    torch.testing.assert_close(m.running_mean, x.mean(0))


def test_batch_norm_module_float32_and_state_dict_both_ways():
    ours, ref = _pair(6, seed=62)
    x = trandn(16, 6, seed=63, dtype=torch.float32) * 4 + 2
    for _ in range(3):
        torch.testing.assert_close(ours(x), ref(x))
    _randomize(ref, seed=64)
    ref.eval()
    back = BatchNorm1d(6).eval()
    back.load_state_dict(ref.state_dict())
    torch.testing.assert_close(back(x), ref(x))
    assert ours.state_dict()._metadata[""]["version"] == ref.state_dict()._metadata[""]["version"]


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False}, {"track_running_stats": False},
                                    {"momentum": None, "eps": 1e-3}])
def test_batch_norm_module_structure_and_repr_like_nn(kwargs):
    ours, ref = BatchNorm1d(5, **kwargs), nn.BatchNorm1d(5, **kwargs)
    assert repr(ours) == repr(ref)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    for mode in ("train", "eval"):  # without running stats, eval also uses batch stats
        getattr(ours, mode)(), getattr(ref, mode)()
        x = trandn(7, 5, 2, seed=65, dtype=torch.float32)
        torch.testing.assert_close(ours(x), ref(x))


def test_batch_norm_module_resets():
    m = _randomize(BatchNorm1d(3), seed=66)
    m(trandn(4, 3, seed=67, dtype=torch.float32))
    m.reset_running_stats()
    assert torch.equal(m.running_mean, torch.zeros(3)) and torch.equal(m.running_var, torch.ones(3))
    assert int(m.num_batches_tracked) == 0
    m.reset_parameters()
    assert torch.equal(m.weight.detach(), torch.ones(3)) and torch.equal(m.bias.detach(), torch.zeros(3))


@pytest.mark.parametrize("in_shape", [(4, 3), (3, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_module_gradcheck(in_shape, training):
    m = _randomize(BatchNorm1d(3, dtype=torch.float64), seed=68)
    m.running_var.fill_(2.0)
    m.train(training)
    x = trandn(*in_shape, seed=69).requires_grad_()
    w = m.weight.detach().clone().requires_grad_()
    b = m.bias.detach().clone().requires_grad_()

    def f(x, w, b):
        return torch.func.functional_call(m, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, w, b))


def test_batch_norm_module_does_not_call_fused_kernels(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("fused kernel called")
    monkeypatch.setattr(F, "batch_norm", boom)
    monkeypatch.setattr(torch, "batch_norm", boom)
    BatchNorm1d(3)(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

X = np.arange(12.0).reshape(3, 4)

BAD_NUMPY_CALLS = {
    "ln eps 0": (lambda: layer_norm(X, eps=0.0), ValueError, r"layer_norm: eps must be finite and > 0.*got 0\.0"),
    "ln eps neg": (lambda: layer_norm(X, eps=-1e-5), ValueError, r"eps must be finite and > 0"),
    "ln eps nan": (lambda: layer_norm(X, eps=float("nan")), ValueError, r"eps must be finite and > 0.*nan"),
    "ln eps inf": (lambda: layer_norm(X, eps=float("inf")), ValueError, r"finite.*inf"),
    "ln eps str": (lambda: layer_norm(X, eps="1e-5"), TypeError, r"eps must be a real number.*str"),
    "stats eps 0": (lambda: layer_norm_stats(X, eps=0), ValueError, r"layer_norm_stats: eps must be finite and > 0"),
    "bn eps 0": (lambda: batch_norm(X, eps=0), ValueError, r"batch_norm: eps must be finite and > 0"),
    "bwd eps 0": (lambda: layer_norm_backward(X, X, eps=0), ValueError, r"layer_norm_backward: eps must be finite and > 0"),
    "ln 0-d": (lambda: layer_norm(np.float64(3.0)), ValueError, r"layer_norm: x must have shape \(\*, H\).*\(\)"),
    "ln H=0": (lambda: layer_norm(np.zeros((3, 0))), ValueError, r"H >= 1.*\(3, 0\)"),
    "stats 0-d": (lambda: layer_norm_stats(2.0), ValueError, r"x must have shape"),
    "bwd 0-d": (lambda: layer_norm_backward(1.0, 2.0), ValueError, r"x must have shape"),
    "bn 0-d": (lambda: batch_norm(np.float64(3.0)), ValueError, r"batch_norm: x must have shape \(B, H"),
    "bn 1-d": (lambda: batch_norm(np.ones(5)), ValueError, r"at least 2 dimensions.*\(5,\)"),
    "ln gain shape": (lambda: layer_norm(X, gain=np.ones(3)), ValueError, r"gain must have shape \(4,\).*\(3, 4\).*\(3,\)"),
    "ln bias shape": (lambda: layer_norm(X, bias=np.ones((1, 4))), ValueError, r"bias must have shape \(4,\).*\(1, 4\)"),
    "bn gain shape": (lambda: batch_norm(X, gain=np.ones(3)), ValueError, r"gain must have shape \(4,\).*\(3,\)"),
    "bn bias shape": (lambda: batch_norm(X, bias=np.ones(12)), ValueError, r"bias must have shape \(4,\).*\(12,\)"),
    "bwd gain shape": (lambda: layer_norm_backward(X, X, gain=np.ones(5)), ValueError, r"gain must have shape \(4,\).*\(5,\)"),
    "bn batch 1": (lambda: batch_norm(np.ones((1, 4))), ValueError, r"batch size 1.*layer_norm.*eval"),
    "bwd dy shape": (lambda: layer_norm_backward(np.ones((3, 3)), X), ValueError, r"dy.*same shape.*\(3, 3\).*\(3, 4\)"),
    "ln strings": (lambda: layer_norm(["a", "b"]), TypeError, r"layer_norm: x must be a real numeric array.*<U1"),
    "ln None": (lambda: layer_norm(None), TypeError, r"x must be a real numeric array.*object.*NoneType"),
    "ln ragged": (lambda: layer_norm([[1.0], [1.0, 2.0]]), TypeError, r"x must be a numeric array"),
    "ln complex": (lambda: layer_norm(X + 1j), TypeError, r"real numeric array.*complex"),
    "ln gain str": (lambda: layer_norm(X, gain=list("abcd")), TypeError, r"gain must be a real numeric array"),
    "bn None": (lambda: batch_norm(None), TypeError, r"batch_norm: x must be a real numeric array"),
    "bwd dy None": (lambda: layer_norm_backward(None, X), TypeError, r"dy must be a real numeric array"),
    "ln overflow f32": (lambda: layer_norm(np.array([[1e20, -1e20]], np.float32)), OverflowError,
                        r"layer_norm: the variance overflowed float32.*float64"),
    "bn overflow": (lambda: batch_norm(np.array([[1e200], [-1e200]])), OverflowError, r"batch_norm: .*overflowed"),
}


@pytest.mark.parametrize("name", list(BAD_NUMPY_CALLS))
def test_numpy_bad_input_raises(name):
    call, exc, match = BAD_NUMPY_CALLS[name]
    with pytest.raises(exc, match=match):
        call()


BAD_MODULE_CALLS = {
    "LN eps 0": (lambda: LayerNorm(4, eps=0.0), ValueError, r"LayerNorm: eps must be finite and > 0.*0\.0"),
    "LN eps nan": (lambda: LayerNorm(4, eps=float("nan")), ValueError, r"LayerNorm: eps must be finite and > 0"),
    "LN shape 0": (lambda: LayerNorm(0), ValueError, r"normalized_shape must be one or more positive sizes"),
    "LN shape empty": (lambda: LayerNorm(()), ValueError, r"normalized_shape"),
    "BN eps neg": (lambda: BatchNorm1d(4, eps=-1.0), ValueError, r"BatchNorm1d: eps must be finite and > 0.*-1\.0"),
    "BN eps str": (lambda: BatchNorm1d(4, eps="x"), TypeError, r"BatchNorm1d: eps must be a real number"),
    "BN features": (lambda: BatchNorm1d(0), ValueError, r"num_features must be an int >= 1, got 0"),
    "BN momentum": (lambda: BatchNorm1d(4, momentum=1.5), ValueError, r"momentum must be finite and in \[0, 1\], got 1\.5; None.*is also accepted"),
    "LN wrong H": (lambda: LayerNorm(4)(torch.ones(2, 5)), ValueError,
                   r"trailing dims must equal normalized_shape \(4,\).*\(2, 5\)"),
    "LN wrong tuple": (lambda: LayerNorm((3, 4))(torch.ones(4, 3)), ValueError, r"\(3, 4\).*\(4, 3\)"),
    "LN too few dims": (lambda: LayerNorm((2, 3))(torch.ones(3)), ValueError, r"\(2, 3\).*\(3,\)"),
    "LN 0-d": (lambda: LayerNorm(1)(torch.tensor(1.0)), ValueError, r"normalized_shape \(1,\), got input of shape \(\)"),
    "LN not tensor": (lambda: LayerNorm(2)([[1.0, 2.0]]), TypeError, r"LayerNorm: input must be a torch.Tensor, got list"),
    "LN None": (lambda: LayerNorm(2)(None), TypeError, r"torch.Tensor, got NoneType"),
    "LN int tensor": (lambda: LayerNorm(2)(torch.ones(3, 2, dtype=torch.long)), TypeError, r"floating-point.*int64"),
    "BN wrong C": (lambda: BatchNorm1d(4)(torch.ones(3, 5)), ValueError, r"\(B, 4\) or \(B, 4, L\), got \(3, 5\)"),
    "BN 1-d": (lambda: BatchNorm1d(4)(torch.ones(4)), ValueError, r"expected input of shape.*got \(4,\)"),
    "BN 4-d": (lambda: BatchNorm1d(4)(torch.ones(2, 4, 3, 3)), ValueError, r"got \(2, 4, 3, 3\)"),
    "BN batch 1": (lambda: BatchNorm1d(4)(torch.ones(1, 4)), ValueError, r"batch size 1.*LayerNorm.*eval"),
    "BN batch 1 L 1": (lambda: BatchNorm1d(4)(torch.ones(1, 4, 1)), ValueError, r"more than 1 value per channel"),
    "BN no-track batch 1": (lambda: BatchNorm1d(4, track_running_stats=False).eval()(torch.ones(1, 4)),
                            ValueError, r"batch size 1"),
    "BN not tensor": (lambda: BatchNorm1d(2)(np.ones((3, 2))), TypeError, r"BatchNorm1d: input must be a torch.Tensor"),
}


@pytest.mark.parametrize("name", list(BAD_MODULE_CALLS))
def test_module_bad_input_raises(name):
    call, exc, match = BAD_MODULE_CALLS[name]
    with pytest.raises(exc, match=match):
        call()


def test_torch_also_rejects_batch_of_one():
    # The behaviour we mirror (with a friendlier message).
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(4)(torch.ones(1, 4))


# ---------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf, from numpy
def test_nan_stays_in_its_row_or_column():
    x = randn(4, 5, seed=70)
    x[1, 2] = np.nan
    y = layer_norm(x)
    assert np.isnan(y[1]).all() and np.isfinite(np.delete(y, 1, axis=0)).all()
    z = batch_norm(x)
    assert np.isnan(z[:, 2]).all() and np.isfinite(np.delete(z, 2, axis=1)).all()
    x[1, 2] = np.inf
    assert np.isnan(layer_norm(x)[1]).all() and np.isfinite(np.delete(layer_norm(x), 1, axis=0)).all()


def test_extreme_but_finite_float64_is_fine():
    x = np.array([[1e150, -1e150, 0.0], [1e-200, 2e-200, 3e-200]])
    y = layer_norm(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[0], [1.224744871, -1.224744871, 0.0], rtol=1e-8)
    np.testing.assert_allclose(y[1], 0.0, atol=1e-12)  # eps dominates a tiny variance


def test_constant_rows_give_zero_not_nan():
    y = layer_norm(np.full((2, 4), 7.0), bias=np.arange(4.0))
    np.testing.assert_array_equal(y, np.tile(np.arange(4.0), (2, 1)))
    torch.testing.assert_close(LayerNorm(4)(torch.full((2, 4), 7.0)), torch.zeros(2, 4))


# ---------------------------------------------------------------------------
# Module hygiene
# ---------------------------------------------------------------------------

def test_docstring_examples_run():
    result = doctest.testmod(norms, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_public_api():
    assert set(norms.__all__) == {"layer_norm", "layer_norm_stats", "layer_norm_backward", "batch_norm",
                                  "LayerNorm", "BatchNorm1d", "weight_norm", "WeightNormLinear", "rms_norm", "RMSNorm",
                                  "DyT", "NAMES", "make"}
    for name in set(norms.__all__) - {"NAMES"}:  # a tuple's docstring is tuple's own
        assert getattr(norms, name).__doc__


def test_import_has_no_side_effects():
    code = textwrap.dedent("""
        import sys, numpy as np, torch
        np_state, t_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
        dtype, threads, grad = torch.get_default_dtype(), torch.get_num_threads(), torch.is_grad_enabled()
        err = np.geterr()
        import helpers.norms
        assert (np.random.get_state()[1] == np_state).all(), "numpy RNG touched"
        assert torch.equal(torch.get_rng_state(), t_state), "torch RNG touched"
        assert torch.get_default_dtype() == dtype and torch.get_num_threads() == threads
        assert torch.is_grad_enabled() == grad and np.geterr() == err
    """)
    env_path = [p for p in sys.path if p]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": ":".join(env_path), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


# --- norms.make: the one constructor by name -----------------------------------------

@pytest.mark.parametrize("name, layout, expected", [
    ("layer", "features", lambda x: F.layer_norm(x, x.shape[-1:])),
    ("rms", "features", lambda x: torch.nn.RMSNorm(x.shape[-1], eps=1e-5).double()(x)),
    (None, "features", lambda x: x),
    ("layer", "channels", lambda x: F.layer_norm(x, x.shape[1:])),
    ("group", "channels", lambda x: F.group_norm(x, 2)),
    ("instance", "channels", lambda x: F.instance_norm(x)),
    ("batch", "channels", lambda x: F.batch_norm(x, None, None, training=True)),
])
def test_make_builds_each_norm_as_torch_computes_it(name, layout, expected):
    torch.manual_seed(0)
    x = (torch.randn(3, 4, 5, 5) if layout == "channels" else torch.randn(3, 4)).double() * 2 + 0.5
    torch.testing.assert_close(norms.make(name, 4, layout=layout, groups=2).double()(x), expected(x))


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "Layer", "size": 4}, "name must be one of"),
    ({"name": "group", "size": 4}, "not built for layout='features'"),
    ({"name": "rms", "size": 4, "layout": "channels"}, "not built for layout='channels'"),
    ({"name": "layer", "size": 4, "layout": "rows"}, "layout must be one of"),
    ({"name": "group", "size": 6, "layout": "channels", "groups": 4}, "must divide"),
    ({"name": "layer", "size": 0}, "size must be an int >= 1"),
])
def test_make_refuses_what_it_does_not_build(kwargs, match):
    with pytest.raises(ValueError, match=match):
        norms.make(**kwargs)


def test_one_constructor_by_name_in_the_helpers():
    """grep-level (issue 18): no other make-style norm constructor in src/helpers."""
    import re

    from conftest import ROOT

    found = [f"{p.relative_to(ROOT)}: {m}" for p in (ROOT / "src" / "helpers").rglob("*.py")
             for m in re.findall(r"^def (make_norm\w*|\w*_norm_factory|make)\(", p.read_text(), re.M)]
    assert found == ["src/helpers/norms.py: make"], found
