"""Chapter 10's placements in helpers.transformer: sandwich (Peri-LN), DeepNorm, ReZero and Fixup.

Each block and each whole model is checked against a composition written here
with torch's own functions (F.linear, F.scaled_dot_product_attention,
F.layer_norm, F.rms_norm), reading the same weights; DeepNorm's constants
and Fixup's scales against their closed forms; the initializations; and every refused config.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.transformer import GPT, PLACEMENTS, Block, GPTConfig, deepnorm_constants, fixup_scales

F64 = torch.float64


def cfg(**kw):
    base = dict(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=12)
    base.update(kw)
    return GPTConfig(**base)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --- independent references -------------------------------------------------------------

def ref_norm(module, x, kind):
    """torch's functional norm with ``module``'s parameters."""
    if kind == "layer":
        return F.layer_norm(x, (x.shape[-1],), module.weight, module.bias, 1e-5)
    return F.rms_norm(x, (x.shape[-1],), module.weight, 1e-5)


def ref_attn(attn, x, n_head):
    B, T, C = x.shape
    q, k, v = F.linear(x, attn.c_attn.weight, attn.c_attn.bias).split(C, dim=-1)
    heads = lambda t: t.reshape(B, T, n_head, C // n_head).transpose(1, 2)  # noqa: E731
    y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # (B, nh, T, hs)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), attn.c_proj.weight, attn.c_proj.bias)


def ref_mlp(mlp, x):
    return F.linear(F.gelu(F.linear(x, mlp.c_fc.weight, mlp.c_fc.bias)), mlp.c_proj.weight, mlp.c_proj.bias)


def ref_block(block, x, placement, kind, n_layer, n_head):
    A = lambda t: ref_attn(block.attn, t, n_head)  # noqa: E731
    M = lambda t: ref_mlp(block.mlp, t)  # noqa: E731
    N = lambda m, t: ref_norm(m, t, kind)  # noqa: E731
    if placement == "pre":
        x = x + A(N(block.ln_1, x))
        return x + M(N(block.ln_2, x))
    if placement == "post":
        x = N(block.ln_1, x + A(x))
        return N(block.ln_2, x + M(x))
    if placement == "sandwich":
        x = x + N(block.ln_1_out, A(N(block.ln_1, x)))
        return x + N(block.ln_2_out, M(N(block.ln_2, x)))
    if placement == "deepnorm":
        alpha = (2 * n_layer) ** 0.25
        x = N(block.ln_1, alpha * x + A(x))
        return N(block.ln_2, alpha * x + M(x))
    if placement == "fixup":  # a scalar bias before each linear layer and the GELU, a scalar gain per branch
        mlp = block.mlp
        x = x + block.attn_scale * A(x + block.attn_bias_in)
        h = F.gelu(F.linear(x + block.mlp_bias_in, mlp.c_fc.weight, mlp.c_fc.bias) + block.mlp_bias_act)
        return x + block.mlp_scale * F.linear(h + block.mlp_bias_proj, mlp.c_proj.weight, mlp.c_proj.bias)
    a = block.resweight
    x = x + a * A(x)
    return x + a * M(x)


def perturb(model, seed=1):
    """Non-trivial gains, biases, ReZero and Fixup scalars and Fixup's zero projections, so that every parameter
    matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_1_out.weight", "ln_2_out.weight", "ln_f.weight",
                              "_scale")):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith("c_proj.weight") and not p.abs().max() > 0:  # Fixup's zero-initialized last layers
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith("bias") or "_bias_" in name or name.endswith("resweight"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype) + (0.5 if "resweight" in name else 0))
    return model


def kinds_for(placement):
    return [None] if placement in ("rezero", "fixup") else ["layer", "rms"]


CASES = [(p, k) for p in PLACEMENTS for k in kinds_for(p)]


# --- blocks and models against the torch composition -------------------------------------

@pytest.mark.parametrize("placement, kind", CASES)
def test_block_equals_its_torch_composition(placement, kind):
    torch.manual_seed(0)
    block = perturb(Block(cfg(placement=placement, norm=kind)).double())
    x = 2 + randn(2, 7, 12, seed=3)
    expected = ref_block(block, x, placement, kind, 3, 2)
    assert (block(x) - expected).abs().max().item() < 1e-12


@pytest.mark.parametrize("placement, kind", CASES)
def test_gpt_logits_equal_the_torch_composition(placement, kind):
    torch.manual_seed(1)
    c = cfg(placement=placement, norm=kind)
    model = perturb(GPT(c).double())
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(4))
    x = model.transformer.wte.weight[idx] + model.transformer.wpe.weight[:8]  # (B, T, C)
    for block in model.transformer.h:
        x = ref_block(block, x, placement, kind, c.n_layer, c.n_head)
    if placement in ("pre", "sandwich"):
        x = ref_norm(model.transformer.ln_f, x, kind)
    expected = F.linear(x, model.transformer.wte.weight)  # tied read-out
    assert (model(idx) - expected).abs().max().item() < 1e-12


@pytest.mark.parametrize("placement", ["sandwich", "deepnorm", "rezero", "fixup"])
def test_float32_forward_matches_the_float64_composition(placement):
    torch.manual_seed(2)
    kind = None if placement in ("rezero", "fixup") else "layer"
    block = perturb(Block(cfg(placement=placement, norm=kind)))
    x = randn(2, 5, 12, seed=5)
    expected = ref_block(block.double(), x, placement, kind, 3, 2)
    got = block.float()(x.float())
    assert (got.double() - expected).abs().max().item() < 1e-5  # float32 rounding through two branches


def test_the_placements_differ_and_ln_f_follows_them():
    torch.manual_seed(3)
    x = randn(1, 6, 12, seed=6)
    outs = {}
    for p in ("pre", "post", "sandwich", "deepnorm"):
        torch.manual_seed(3)
        outs[p] = Block(cfg(placement=p)).double()(x)
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert (outs[a] - outs[b]).abs().max() > 1e-3, (a, b)
    for p, has_ln_f in [("pre", True), ("sandwich", True), ("post", False), ("deepnorm", False)]:
        assert isinstance(GPT(cfg(placement=p)).transformer.ln_f, torch.nn.Identity) is not has_ln_f
    assert isinstance(GPT(cfg(placement="rezero", norm=None)).transformer.ln_f, torch.nn.Identity)
    assert isinstance(GPT(cfg(placement="fixup", norm=None)).transformer.ln_f, torch.nn.Identity)


# --- DeepNorm --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 6, 12, 24, 1000])
def test_deepnorm_constants_are_the_closed_form(n):
    alpha, beta = deepnorm_constants(n)
    assert alpha == pytest.approx(math.sqrt(math.sqrt(2 * n)), rel=1e-15)
    assert beta == pytest.approx(1 / math.sqrt(math.sqrt(8 * n)), rel=1e-15)
    assert alpha ** 4 == pytest.approx(2 * n) and beta ** -4 == pytest.approx(8 * n)


def test_deepnorm_scales_the_residual_by_alpha():
    block = Block(cfg(placement="deepnorm", n_layer=6)).double()
    assert block.alpha == pytest.approx(12 ** 0.25)
    assert "alpha=1.861" in repr(block)


@pytest.mark.parametrize("init", ["xavier", "gpt2"])
def test_deepnorm_init_scales_value_output_and_mlp_weights_by_beta(init):
    n = 4
    torch.manual_seed(7)
    deep = GPT(cfg(placement="deepnorm", n_layer=n, init=init))
    torch.manual_seed(7)
    post = GPT(cfg(placement="post", n_layer=n, init=init))  # the same draws, in the same order
    beta = (8 * n) ** -0.25
    C = 12
    # under "gpt2" post-LN then redraws the c_proj weights at 0.02 / sqrt(2N): compared by their std below
    scaled = ("attn.c_proj", "mlp.c_fc", "mlp.c_proj") if init == "xavier" else ("mlp.c_fc",)
    for bd, bp in zip(deep.transformer.h, post.transformer.h):
        torch.testing.assert_close(bd.attn.c_attn.weight[:2 * C], bp.attn.c_attn.weight[:2 * C], rtol=0, atol=0)
        torch.testing.assert_close(bd.attn.c_attn.weight[2 * C:], beta * bp.attn.c_attn.weight[2 * C:])
        for name in scaled:
            torch.testing.assert_close(bd.get_submodule(name).weight, beta * bp.get_submodule(name).weight)
    torch.testing.assert_close(deep.transformer.wte.weight, post.transformer.wte.weight, rtol=0, atol=0)


def test_deepnorm_gpt2_init_has_no_extra_c_proj_scaling():
    torch.manual_seed(8)
    deep = GPT(cfg(placement="deepnorm", n_layer=8, n_embd=64, n_head=4))
    beta = 64 ** -0.25
    w = deep.transformer.h[0].mlp.c_proj.weight  # (64, 256) from N(0, 0.02^2) times beta
    assert abs(w.std().item() / (0.02 * beta) - 1) < 0.05


# --- ReZero ----------------------------------------------------------------------------------

def test_rezero_starts_as_the_identity_and_only_its_gate_gets_a_gradient():
    torch.manual_seed(9)
    model = GPT(cfg(placement="rezero", norm=None)).double()
    for block in model.transformer.h:
        assert block.resweight.shape == () and block.resweight.item() == 0.0
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(1))
    x = model.transformer.wte.weight[idx] + model.transformer.wpe.weight[:8]
    assert torch.equal(model(idx), F.linear(x, model.transformer.wte.weight))  # every block is the identity
    targets = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(2))
    model(idx, targets)[1].backward()
    for block in model.transformer.h:
        assert block.resweight.grad.abs().item() > 0
        assert block.mlp.c_fc.weight.grad.abs().max().item() == 0  # "the gradients ... vanish" at alpha = 0
        assert block.attn.c_attn.weight.grad.abs().max().item() == 0


def test_rezero_one_gate_per_block_gates_both_branches():
    torch.manual_seed(10)
    block = Block(cfg(placement="rezero", norm=None)).double()
    assert [n for n, _ in block.named_parameters() if "resweight" in n] == ["resweight"]
    with torch.no_grad():
        block.resweight.fill_(0.4)
    x = randn(1, 5, 12, seed=11)
    h = x + 0.4 * ref_attn(block.attn, x, 2)
    assert (block(x) - (h + 0.4 * ref_mlp(block.mlp, h))).abs().max().item() < 1e-12


@pytest.mark.parametrize("placement", ["sandwich", "deepnorm", "rezero", "fixup"])
def test_new_placements_are_causal(placement):
    torch.manual_seed(12)
    model = perturb(GPT(cfg(placement=placement, norm=None if placement in ("rezero", "fixup") else "rms")).double())
    idx = torch.randint(11, (1, 8), generator=torch.Generator().manual_seed(3))
    base = model(idx)
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 11
    out = model(changed)
    assert torch.equal(out[:, :5], base[:, :5]) and (out[:, 5] - base[:, 5]).abs().max() > 1e-6


# --- Fixup ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 6, 12, 24, 1000])
def test_fixup_scales_are_the_closed_form(n):
    s_attn, s_mlp = fixup_scales(n)
    L = 2 * n  # two residual branches per block
    assert s_mlp == pytest.approx(1 / math.sqrt(L), rel=1e-15)  # L^(-1/(2m-2)), m = 2
    assert s_attn == pytest.approx(L ** (-1 / 6), rel=1e-15)  # the authors' code: num_blocks^(-1/6)
    assert s_attn ** -6 == pytest.approx(L) and s_mlp ** -2 == pytest.approx(L)


@pytest.mark.parametrize("init", ["xavier", "gpt2"])
def test_fixup_init_zeroes_the_last_layers_and_scales_the_others(init):
    n = 4
    torch.manual_seed(13)
    fix = GPT(cfg(placement="fixup", norm=None, n_layer=n, init=init))
    torch.manual_seed(13)
    rz = GPT(cfg(placement="rezero", norm=None, n_layer=n, init=init))  # the same draws, in the same order
    L = 2 * n
    for bf, br in zip(fix.transformer.h, rz.transformer.h):
        torch.testing.assert_close(bf.attn.c_attn.weight, L ** (-1 / 6) * br.attn.c_attn.weight)  # q, k and v
        torch.testing.assert_close(bf.mlp.c_fc.weight, L ** -0.5 * br.mlp.c_fc.weight)
        for lin in (bf.attn.c_proj, bf.mlp.c_proj):
            assert lin.weight.abs().max().item() == 0 and lin.bias.abs().max().item() == 0
        for lin in (bf.attn.c_attn, bf.mlp.c_fc):
            assert lin.bias.abs().max().item() == 0
    torch.testing.assert_close(fix.transformer.wte.weight, rz.transformer.wte.weight, rtol=0, atol=0)
    torch.testing.assert_close(fix.transformer.wpe.weight, rz.transformer.wpe.weight, rtol=0, atol=0)


def test_fixup_init_scale_in_distribution():
    torch.manual_seed(14)
    n, C = 8, 64
    fix = GPT(cfg(placement="fixup", norm=None, n_layer=n, n_embd=C, n_head=4, init="xavier"))
    s_attn, s_mlp = fixup_scales(n)
    w_fc = torch.cat([b.mlp.c_fc.weight.flatten() for b in fix.transformer.h])  # Xavier-uniform, (4C, C)
    w_attn = torch.cat([b.attn.c_attn.weight.flatten() for b in fix.transformer.h])  # Xavier-uniform, (3C, C)
    assert abs(w_fc.std().item() / (s_mlp * math.sqrt(2 / (5 * C))) - 1) < 0.02
    assert abs(w_attn.std().item() / (s_attn * math.sqrt(2 / (4 * C))) - 1) < 0.02


def test_fixup_scalars_and_their_initial_values():
    block = Block(cfg(placement="fixup", norm=None))
    got = {n: p.item() for n, p in block.named_parameters() if p.dim() == 0}
    assert got == {"attn_bias_in": 0.0, "attn_scale": 1.0, "mlp_bias_in": 0.0, "mlp_bias_act": 0.0,
                   "mlp_bias_proj": 0.0, "mlp_scale": 1.0}


def test_fixup_starts_as_the_identity_and_only_the_last_layers_get_a_gradient():
    torch.manual_seed(15)
    model = GPT(cfg(placement="fixup", norm=None)).double()
    x = randn(2, 8, 12, seed=16)
    for block in model.transformer.h:
        assert torch.equal(block(x), x)  # each block is the identity at initialization
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(1))
    h = model.transformer.wte.weight[idx] + model.transformer.wpe.weight[:8]
    assert torch.equal(model(idx), F.linear(h, model.transformer.wte.weight))  # no final norm, tied read-out
    targets = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(2))
    model(idx, targets)[1].backward()
    for block in model.transformer.h:
        assert block.attn.c_proj.weight.grad.abs().max().item() > 0
        assert block.mlp.c_proj.weight.grad.abs().max().item() > 0
        # behind a zero last layer: no gradient, the scalars' included (they scale or feed a zero branch)
        for p in (block.attn.c_attn.weight, block.mlp.c_fc.weight, block.attn_scale, block.mlp_scale,
                  block.attn_bias_in, block.mlp_bias_in, block.mlp_bias_act):
            assert p.grad.abs().max().item() == 0
        assert block.mlp_bias_proj.grad.abs().item() == 0  # its gradient goes back through c_proj's zero weight


# --- refused configs --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(placement="peri"),
     "placement must be one of 'pre', 'post', 'sandwich', 'deepnorm', 'rezero', 'fixup', got 'peri'"),
    (dict(placement="Sandwich"), "placement must be one of"),
    (dict(placement=None), "placement must be one of"),
    (dict(placement="sandwich", norm=None), r"placement='sandwich' needs a norm"),
    (dict(placement="deepnorm", norm=None), r"placement='deepnorm' needs a norm"),
    (dict(placement="rezero"), r"placement='rezero' has no norm in its blocks.*norm='layer'"),
    (dict(placement="rezero", norm="rms"), r"pass norm=None, got norm='rms'"),
    (dict(placement="rezero", norm=None, qk_norm=True), "qk_norm needs a norm"),
    (dict(placement="fixup"), r"placement='fixup' has no norm in its blocks.*norm='layer'"),
    (dict(placement="fixup", norm="dyt"), r"pass norm=None, got norm='dyt'"),
    (dict(placement="fixup", norm=None, qk_norm=True), "qk_norm needs a norm"),
])
def test_bad_placement_configs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kwargs)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_deepnorm_constants_refuse_bad_depths(n):
    with pytest.raises(ValueError, match="n_layer must be an int >= 1"):
        deepnorm_constants(n)
    with pytest.raises(ValueError, match="n_layer must be an int >= 1"):
        fixup_scales(n)
