"""helpers.residual: the random post-LN / pre-LN residual stack, against independent references."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from helpers.residual import expected_grad, expected_rms, random_stack, residual_stream, uniform_stream

# The first five numbers of mulberry32 for four seeds, as printed by node 20 running the
# JavaScript generator (Math.imul and unsigned shifts), the one the explorable uses.
JS_MULBERRY32 = {
    0: [0.26642920868471265, 0.0003297457005828619, 0.2232720274478197, 0.1462021479383111, 0.46732782293111086],
    1: [0.6270739405881613, 0.002735721180215478, 0.5274470399599522, 0.9810509674716741, 0.9683778982143849],
    42: [0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693, 0.17481389874592423],
    4294967295: [0.8964226141106337, 0.189478256739676, 0.7156526781618595, 0.9440599093213677, 0.8452364315744489],
}


@pytest.mark.parametrize("seed", sorted(JS_MULBERRY32))
def test_uniform_stream_is_javascripts_mulberry32_bit_for_bit(seed):
    assert uniform_stream(seed, 5).tolist() == JS_MULBERRY32[seed]


def test_random_stack_variances_and_prefix():
    net = random_stack(40, width=32, tokens=64, seed=3)
    C = 32
    assert net["W1"].shape == (40, C, C) and net["X0"].shape == (64, C) == net["R"].shape
    assert abs(net["W1"].var() * C - 1) < 0.05 and abs(net["W2"].var() * C - 2) < 0.1
    assert abs(net["X0"].var() - 1) < 0.1 and abs(np.abs(net["W1"]).max() - math.sqrt(3 / C)) < 1e-3
    short = random_stack(3, width=32, tokens=64, seed=3)
    for key in ("X0", "R"):
        assert np.array_equal(short[key], net[key])
    assert np.array_equal(short["W2"], net["W2"][:3])  # a deeper stack extends a shallower one


def torch_reference(depth, placement, scale, gain, width, tokens, seed, eps=1e-5):
    """The same stack with torch's layer norm and autograd."""
    net = random_stack(depth, width, tokens, seed)
    W1 = [torch.tensor(w, requires_grad=True) for w in net["W1"]]
    W2 = [torch.tensor(w, requires_grad=True) for w in net["W2"]]
    x = (scale * torch.tensor(net["X0"])).requires_grad_(True)
    xs = [x]
    for l in range(depth):
        if placement == "pre":
            x = x + gain * (torch.relu(F.layer_norm(x, (width,), eps=eps) @ W1[l].T) @ W2[l].T)
        else:
            x = F.layer_norm(x + gain * (torch.relu(x @ W1[l].T) @ W2[l].T), (width,), eps=eps)
        x.retain_grad()
        xs.append(x)
    y = F.layer_norm(x, (width,), eps=eps) if placement == "pre" else x
    loss = (y * torch.tensor(net["R"])).sum() / tokens
    loss.backward()
    grad = [math.sqrt(float((a.grad ** 2).sum() + (b.grad ** 2).sum())) for a, b in zip(W1, W2)]
    return {"grad": np.array(grad), "rms": np.array([float(v.detach().pow(2).mean().sqrt()) for v in xs]),
            "stream_grad": np.array([float(v.grad.detach().norm()) for v in xs]), "loss": loss.item()}


@pytest.mark.parametrize("placement", ["post", "pre"])
@pytest.mark.parametrize("depth, scale, gain", [(1, 1.0, 1.0), (6, 1.0, 0.5), (48, 0.1, 2.0), (48, 10.0, 0.1)])
def test_against_torch_autograd(placement, depth, scale, gain):
    ours = residual_stream(depth, placement, scale, gain, width=16, tokens=8, seed=1)
    ref = torch_reference(depth, placement, scale, gain, 16, 8, 1)
    for key in ("grad", "rms", "stream_grad"):
        np.testing.assert_allclose(ours[key], ref[key], rtol=1e-12, atol=1e-14, err_msg=key)
    assert float(ours["loss"]) == pytest.approx(ref["loss"], rel=1e-12, abs=1e-14)


def test_pre_ln_stream_grows_as_expected_and_post_ln_stays_at_one():
    """In expectation each pre-LN branch adds g^2 to the stream's mean square (wide layers, many seeds)."""
    for scale, gain in ((1.0, 1.0), (3.0, 0.5)):
        pre = np.mean([residual_stream(12, "pre", scale, gain, width=128, tokens=16, seed=s)["rms"] ** 2
                       for s in range(24)], axis=0)  # the standard error of this mean is about 1.5%
        np.testing.assert_allclose(pre, expected_rms(12, "pre", scale, gain) ** 2, rtol=0.05)
        post = residual_stream(12, "post", scale, gain, width=128, tokens=16, seed=0)["rms"]
        np.testing.assert_allclose(post[1:], 1.0, rtol=1e-4)  # layer norm's output, up to eps


def test_gradient_profiles_follow_the_mean_field_law():
    """Pre-LN: block l's gradient is proportional to g / sqrt(s^2 + l g^2); post-LN: the same in every block."""
    for placement in ("pre", "post"):
        g = np.array([residual_stream(12, placement, 1.0, 1.0, width=128, tokens=16, seed=s)["grad"]
                      for s in range(8)])  # (seeds, L)
        profile = g.mean(0) / g.mean(0)[0]
        np.testing.assert_allclose(profile, expected_grad(12, placement, 1.0, 1.0), rtol=0.15)


def test_post_ln_is_blind_to_the_input_scale():
    """ReLU branches are positively homogeneous and the first norm removes the scale (eps aside)."""
    a = residual_stream(8, "post", 1.0, 1.0, seed=2)
    b = residual_stream(8, "post", 10.0, 1.0, seed=2)
    np.testing.assert_allclose(a["grad"], b["grad"], rtol=1e-4)
    np.testing.assert_allclose(a["rms"][1:], b["rms"][1:], rtol=1e-4)
    c = residual_stream(8, "pre", 10.0, 1.0, seed=2)
    assert c["grad"][-1] < 0.5 * residual_stream(8, "pre", 1.0, 1.0, seed=2)["grad"][-1]  # pre-LN is not


def test_zero_gain_is_zero_gradient_not_nan():
    out = residual_stream(4, "post", 1.0, 0.0)
    assert np.all(out["grad"] == 0) and np.all(np.isfinite(out["stream_grad"]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=0), "depth must be an int >= 1"),
        (dict(depth=2.5), "depth must be an int"),
        (dict(placement="middle"), "placement must be one of"),
        (dict(scale=0.0), "scale must be finite and > 0"),
        (dict(gain=-1.0), "gain must be finite and >= 0"),
        (dict(gain=float("nan")), "gain must be finite"),
        (dict(eps=0.0), "eps must be"),
        (dict(seed=-1), r"seed must be an int in \[0, 4294967295\]"),
        (dict(width=1), "width must be an int >= 2"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, match):
    args = dict(depth=3, placement="pre") | kwargs
    with pytest.raises(ValueError, match=match):
        residual_stream(**args)


def test_expected_profiles_bad_inputs():
    with pytest.raises(ValueError, match="placement"):
        expected_rms(3, "both")
    with pytest.raises(ValueError, match="depth"):
        expected_grad(0, "pre")
