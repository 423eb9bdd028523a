"""Chapter 10's exact transformations: helpers.folding (a norm's gain and bias folded into the next linear
layer) and helpers.rotation (RMSNorm's invariance to rotating the residual stream).

Every check is against an independent reference, in float64:

* folding: the folded pair against the unfolded one and against the closed form
  ``W' = W diag(gamma)``, ``b' = b + W beta`` written with ``torch.diag``; whole GPTs
  (pre-LN and sandwich, layer norm and RMSNorm) logit for logit, with every gain and
  bias drawn at random first (at initialization they are 1 and 0, and folding them
  would change nothing: a test there could not fail).
* rotation: the rotated GPT's logits against the original's, and its residual stream,
  block by block, against the original's times Q; Haar sampling against E[Q_11] = 0.

Mutants these tests catch (each tried by hand on a copy): folding without the bias
term (``b' = b``); ``diag(gamma) W`` for ``W diag(gamma)``; an output norm of
"sandwich" folded into the residual stream; a writer's bias left unrotated; ``W Q^T``
for ``W Q``; random_orthogonal without Mezzadri's sign correction.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from helpers import norms
from helpers.folding import FOLDABLE, fold_gpt, fold_norm_into_linear
from helpers.rotation import random_orthogonal, rotate_residual_stream
from helpers.transformer import GPT, GPTConfig

F64 = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def cfg(**kw):
    base = dict(vocab_size=13, block_size=8, n_layer=3, n_head=2, n_embd=12)
    base.update(kw)
    return GPTConfig(**base)


@torch.no_grad()
def randomized(config, seed=0, scale=0.3):
    """A float64 GPT with *every* parameter drawn at random: gains around 1, all else N(0, scale^2)."""
    torch.manual_seed(seed)
    model = GPT(config).double()
    g = gen(seed + 100)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g, dtype=F64)
        is_gain = name.endswith("weight") and p.dim() == 1
        p.copy_(1.0 + 0.5 * noise if is_gain else scale * noise)
    return model


def idx(config, seed=1, B=3):
    return torch.randint(config.vocab_size, (B, config.block_size), generator=gen(seed))


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# --- folding: one pair ----------------------------------------------------------------------

NORMS = {
    "ours layer": lambda C: norms.LayerNorm(C, dtype=F64),
    "ours rms": lambda C: norms.RMSNorm(C, eps=1e-6, dtype=F64),
    "torch layer": lambda C: nn.LayerNorm(C, dtype=F64),
    "torch rms": lambda C: nn.RMSNorm(C, eps=1e-6, dtype=F64),
    "ours layer, no bias": lambda C: norms.LayerNorm(C, bias=False, dtype=F64),
}


@pytest.mark.parametrize("kind", list(NORMS))
@pytest.mark.parametrize("lin_bias", [True, False])
@pytest.mark.parametrize("out", [5, 7])
def test_fold_pair_equals_unfolded_and_closed_form(kind, lin_bias, out):
    C = 7  # out = 5: diag(gamma) W (the wrong side) cannot even be formed; out = 7: it can, and is wrong
    norm, lin = NORMS[kind](C), nn.Linear(C, out, bias=lin_bias, dtype=F64)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(C, generator=gen(1), dtype=F64) * 2)
        if getattr(norm, "bias", None) is not None:
            norm.bias.copy_(torch.randn(C, generator=gen(2), dtype=F64))
    before = [t.clone() for t in (*norm.parameters(), *lin.parameters())]
    norm2, lin2 = fold_norm_into_linear(norm, lin)
    x = torch.randn(4, 6, C, generator=gen(3), dtype=F64) * 3 + 1

    assert type(norm2) is type(norm) and norm2.weight is None and getattr(norm2, "bias", None) is None
    assert torch.allclose(lin2(norm2(x)), lin(norm(x)), rtol=0, atol=1e-12)
    # the closed form, with torch.diag, independent of the module's broadcasting
    beta = getattr(norm, "bias", None)
    has_bias = lin_bias or beta is not None
    assert (lin2.bias is not None) == has_bias
    assert torch.allclose(lin2.weight, lin.weight @ torch.diag(norm.weight), rtol=0, atol=1e-14)
    if has_bias:
        b = lin.bias if lin_bias else torch.zeros(out, dtype=F64)
        want = b + (lin.weight @ beta if beta is not None else 0)
        assert torch.allclose(lin2.bias, want, rtol=0, atol=1e-14)
    # the arguments are untouched
    assert all(torch.equal(a, b) for a, b in zip(before, (*norm.parameters(), *lin.parameters())))


def test_fold_changes_the_bias_when_the_norm_has_one():
    """With beta != 0, b' differs from b by W beta: a fold that forgot the bias term would leave it at b."""
    norm, lin = norms.LayerNorm(4, dtype=F64), nn.Linear(4, 3, dtype=F64)
    with torch.no_grad():
        norm.bias.fill_(0.5)
    _, lin2 = fold_norm_into_linear(norm, lin)
    assert (lin2.bias - lin.bias).abs().max() > 1e-3
    assert torch.allclose(lin2.bias - lin.bias, 0.5 * lin.weight.sum(1), rtol=0, atol=1e-14)


def test_fold_a_norm_without_affine_returns_copies():
    norm, lin = norms.LayerNorm(4, elementwise_affine=False), nn.Linear(4, 3)
    norm2, lin2 = fold_norm_into_linear(norm, lin)
    assert norm2 is not norm and lin2 is not lin and torch.equal(lin2.weight, lin.weight)


def test_fold_refuses_what_cannot_be_folded():
    lin = nn.Linear(4, 3)
    for bad in (nn.BatchNorm1d(4), norms.DyT(4), nn.GroupNorm(1, 4)):
        with pytest.raises(TypeError, match="fold_norm_into_linear: norm must be a LayerNorm or RMSNorm"):
            fold_norm_into_linear(bad, lin)
    with pytest.raises(TypeError, match="linear must be a torch.nn.Linear"):
        fold_norm_into_linear(norms.LayerNorm(4), nn.Conv1d(4, 3, 1))
    with pytest.raises(ValueError, match=r"in_features \(5\) must equal the norm's features \(4\)"):
        fold_norm_into_linear(norms.LayerNorm(4), nn.Linear(5, 3))
    with pytest.raises(ValueError, match="one dim"):
        fold_norm_into_linear(nn.LayerNorm((2, 4)), nn.Linear(4, 3))
    assert nn.LayerNorm in FOLDABLE and norms.RMSNorm in FOLDABLE


# --- folding: a whole GPT -------------------------------------------------------------------

@pytest.mark.parametrize("placement", ["pre", "sandwich"])
@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("qk_norm", [False, True])
def test_fold_gpt_equals_the_unfolded_model(placement, norm, qk_norm):
    c = cfg(placement=placement, norm=norm, qk_norm=qk_norm)
    model = randomized(c)
    before = snapshot(model)
    folded = fold_gpt(model)
    x = idx(c)
    want = model(x)
    assert want.abs().max() > 0.5  # logits of size: the comparison below is not between two near-zeros
    assert torch.allclose(folded(x), want, rtol=0, atol=1e-12)
    for block in folded.transformer.h:
        assert block.ln_1.weight is None and block.ln_2.weight is None
        if placement == "sandwich":  # the output norms write into the stream: left with their gains
            assert block.ln_1_out.weight is not None
    assert folded.transformer.ln_f.weight is None
    assert folded.lm_head.weight is not folded.transformer.wte.weight  # untied: W_E diag(gamma_f)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # model not modified


@pytest.mark.parametrize("changes, match", [
    (dict(placement="post"), "placement='post' cannot be folded"),
    (dict(placement="deepnorm"), "placement='deepnorm' cannot be folded"),
    (dict(norm="dyt"), "norm='dyt' has no per-feature affine part"),
    (dict(norm=None), "norm=None has no per-feature affine part"),
])
def test_fold_gpt_refuses_other_placements_and_norms(changes, match):
    with pytest.raises(ValueError, match=f"fold_gpt: {match}"):
        fold_gpt(GPT(cfg(**changes)))
    with pytest.raises(TypeError, match="fold_gpt: model must be a helpers.transformer.GPT"):
        fold_gpt(nn.Linear(2, 2))


# --- rotation -------------------------------------------------------------------------------

def test_random_orthogonal_is_orthogonal_seeded_and_haar():
    Q = random_orthogonal(9, seed=3)
    assert Q.dtype == F64 and Q.shape == (9, 9)
    assert torch.allclose(Q.T @ Q, torch.eye(9, dtype=F64), rtol=0, atol=1e-13)
    assert torch.equal(Q, random_orthogonal(9, seed=3)) and not torch.equal(Q, random_orthogonal(9, seed=4))
    assert random_orthogonal(5, dtype=torch.float32).dtype == torch.float32
    # Haar: E[Q_11] = 0 (Q and -Q equally likely). Plain Householder QR without the sign correction gives
    # R_11 = -sign(A_11) |A_:1|, so Q_11 < 0 always: mean about -0.8 for n = 3. Here sd(Q_11) = 1/sqrt(3),
    # so the mean of 400 draws has sd 0.029; |mean| < 0.15 is a 5-sigma band.
    q11 = torch.tensor([random_orthogonal(3, seed=s)[0, 0].item() for s in range(400)])
    assert abs(q11.mean().item()) < 0.15 and (q11 > 0).any() and (q11 < 0).any()


def test_random_orthogonal_refuses_bad_sizes():
    with pytest.raises(ValueError, match="random_orthogonal: n must be an int >= 1, got 0"):
        random_orthogonal(0)
    with pytest.raises(TypeError, match="n must be an int"):
        random_orthogonal(3.0)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        random_orthogonal(3, seed=-1)


def residual_streams(model, x):
    """The residual stream after the embedding and after every block: a list of (B, T, C)."""
    out = []
    hooks = [model.transformer.h[0].register_forward_pre_hook(lambda m, a: out.append(a[0].detach()))]
    hooks += [b.register_forward_hook(lambda m, a, y: out.append(y.detach())) for b in model.transformer.h]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out, logits


@pytest.mark.parametrize("qk_norm", [False, True])
def test_rmsnorm_gpt_is_invariant_to_rotating_its_residual_stream(qk_norm):
    c = cfg(norm="rms", qk_norm=qk_norm, n_layer=4)
    model = randomized(c, seed=5)
    folded = fold_gpt(model)
    before = snapshot(folded)
    Q = random_orthogonal(c.n_embd, seed=7)
    rotated = rotate_residual_stream(folded, Q)
    x = idx(c, seed=2)
    streams, logits = residual_streams(folded, x)
    rot_streams, rot_logits = residual_streams(rotated, x)
    assert logits.abs().max() > 0.5
    assert torch.allclose(rot_logits, model(x), rtol=0, atol=1e-12)  # the original, unfolded model's logits
    assert len(streams) == c.n_layer + 1
    for h, hr in zip(streams, rot_streams):  # the stream itself is rotated: x -> x Q, block by block
        assert torch.allclose(hr, h @ Q, rtol=0, atol=1e-12)
        assert (hr - h).abs().max() > 1e-2  # ... and is not the same stream
    assert all(torch.equal(v, before[k]) for k, v in folded.state_dict().items())  # input not modified
    assert rotated.lm_head.weight is not rotated.transformer.wte.weight  # fold_gpt untied them; still apart


def test_no_norm_is_invariant_and_layer_norm_is_not():
    Q = random_orthogonal(12, seed=1)
    plain = randomized(cfg(norm=None), seed=2)
    x = idx(plain.config)
    rotated = rotate_residual_stream(plain, Q)
    assert torch.allclose(rotated(x), plain(x), rtol=0, atol=1e-12)
    assert rotated.lm_head.weight is rotated.transformer.wte.weight  # a tied read-out stays tied: (E Q)
    # layer norm subtracts the mean, the projection on (1, ..., 1), and Q moves that direction
    ln = fold_gpt(randomized(cfg(norm="layer"), seed=2))
    assert (rotate_residual_stream(ln, Q)(x) - ln(x)).abs().max() > 1e-2
    # unless Q keeps the all-ones direction: a permutation does
    P = torch.eye(12, dtype=F64)[torch.randperm(12, generator=gen(0))]
    assert torch.allclose(rotate_residual_stream(ln, P)(x), ln(x), rtol=0, atol=1e-12)


def test_rotation_refuses_bad_models_and_matrices():
    Q = random_orthogonal(12)
    rms = GPT(cfg(norm="rms")).double()
    with pytest.raises(ValueError, match="rotate_residual_stream: block 0's ln_1 has a gain or bias other than 1"):
        rotate_residual_stream(randomized(cfg(norm="rms")), Q)  # gains not folded
    with pytest.raises(ValueError, match=r"Q must be \(C, C\) = \(12, 12\), got \(11, 11\)"):
        rotate_residual_stream(rms, random_orthogonal(11))
    with pytest.raises(ValueError, match="Q must be orthogonal"):
        rotate_residual_stream(rms, 1.01 * Q)
    with pytest.raises(TypeError, match="Q must be a floating-point tensor"):
        rotate_residual_stream(rms, torch.eye(12, dtype=torch.int64))
    with pytest.raises(TypeError, match="Q must be a torch.Tensor"):
        rotate_residual_stream(rms, Q.numpy())
    with pytest.raises(TypeError, match="model must be a helpers.transformer.GPT"):
        rotate_residual_stream(nn.Linear(12, 12), Q)
    with pytest.raises(ValueError, match="placement must be 'pre'"):
        rotate_residual_stream(GPT(cfg(norm="rms", placement="sandwich")), Q)
    with pytest.raises(ValueError, match="DyT does not commute"):
        rotate_residual_stream(GPT(cfg(norm="dyt")), Q)
    # a norm swapped for something that is not a norm
    odd = copy.deepcopy(rms)
    odd.transformer.h[1].ln_2 = nn.BatchNorm1d(12).double()
    with pytest.raises(TypeError, match="block 1's ln_2 is a BatchNorm1d"):
        rotate_residual_stream(odd, Q)


def test_float32_rotation_is_close():
    c = cfg(norm="rms")
    model = fold_gpt(randomized(c).float())
    Q = random_orthogonal(c.n_embd, dtype=torch.float32)
    x = idx(c)
    assert torch.allclose(rotate_residual_stream(model, Q)(x), model(x), rtol=0, atol=1e-4)
    assert math.isclose(float(torch.linalg.det(random_orthogonal(6)).abs()), 1.0, abs_tol=1e-12)
