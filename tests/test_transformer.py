"""helpers.transformer (a small GPT) and helpers.corpus (the shipped character corpus).

The attention is checked against torch.nn.MultiheadAttention and
torch.nn.functional.scaled_dot_product_attention, the blocks against their
formulas written with torch's own layer norm, and the model for causality.
"""

from __future__ import annotations

import json
import math
import tomllib

import pytest
import torch
import torch.nn.functional as F

from helpers import norms
from helpers.corpus import LICENSE, decode, encode, extract_prose, load_char_corpus
from helpers.transformer import (
    GPT, MLP, Block, CausalSelfAttention, DyT, GPTConfig, generate, get_batch, grad_norms_at_init, lr_at,
    train_lm,
)

from conftest import ROOT


def small(**kw):
    base = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=12)
    base.update(kw)
    return GPTConfig(**base)


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- attention ------------------------------------------------------------------------

@pytest.mark.parametrize("n_head", [1, 2, 4])
def test_attention_matches_nn_multihead_attention_with_a_causal_mask(n_head):
    torch.manual_seed(0)
    cfg = small(n_head=n_head, n_embd=16)
    ours = CausalSelfAttention(cfg).double()
    mha = torch.nn.MultiheadAttention(16, n_head, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # the same weights: in_proj stacks q, k, v like c_attn
        mha.in_proj_weight.copy_(ours.c_attn.weight)
        mha.in_proj_bias.copy_(randn(48, seed=1))
        ours.c_attn.bias.copy_(mha.in_proj_bias)
        mha.out_proj.weight.copy_(ours.c_proj.weight)
        mha.out_proj.bias.copy_(randn(16, seed=2))
        ours.c_proj.bias.copy_(mha.out_proj.bias)
    x = randn(3, 7, 16, seed=3)  # (B, T, C)
    banned = torch.ones(7, 7, dtype=torch.bool).triu(1)  # True: may not attend (t' > t)
    expected, _ = mha(x, x, x, attn_mask=banned, need_weights=False)
    torch.testing.assert_close(ours(x), expected, rtol=1e-12, atol=1e-12)


def test_attention_matches_scaled_dot_product_attention():
    torch.manual_seed(1)
    attn = CausalSelfAttention(small(n_head=3, n_embd=12)).double()
    x = randn(2, 8, 12, seed=4)
    q, k, v = attn.c_attn(x).split(12, dim=-1)
    heads = lambda t: t.view(2, 8, 3, 4).transpose(1, 2)  # noqa: E731  (B, nh, T, hs)
    y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
    expected = attn.c_proj(y.transpose(1, 2).reshape(2, 8, 12))
    torch.testing.assert_close(attn(x), expected, rtol=1e-12, atol=1e-12)


def test_qk_norm_normalizes_queries_and_keys_per_head():
    torch.manual_seed(2)
    attn = CausalSelfAttention(small(n_head=2, n_embd=12, qk_norm=True, norm="rms")).double()
    assert isinstance(attn.q_norm, norms.RMSNorm) and attn.q_norm.normalized_shape == (6,)
    x = randn(2, 5, 12, seed=5)
    q, k, v = attn.c_attn(x).split(12, dim=-1)
    heads = lambda t: t.view(2, 5, 2, 6).transpose(1, 2)  # noqa: E731
    rms = lambda t: F.rms_norm(t, (6,), eps=1e-5)  # noqa: E731
    y = F.scaled_dot_product_attention(rms(heads(q)), rms(heads(k)), heads(v), is_causal=True)
    torch.testing.assert_close(attn(x), attn.c_proj(y.transpose(1, 2).reshape(2, 5, 12)))


# --- blocks and placement -------------------------------------------------------------

@pytest.mark.parametrize("placement", ["pre", "post"])
def test_block_is_its_formula_with_torch_layer_norm(placement):
    torch.manual_seed(3)
    block = Block(small(placement=placement)).double()
    with torch.no_grad():  # non-trivial gains and biases
        for ln in (block.ln_1, block.ln_2):
            ln.weight.copy_(1 + 0.2 * randn(12, seed=6))
            ln.bias.copy_(0.2 * randn(12, seed=7))
    ln1 = lambda t: F.layer_norm(t, (12,), block.ln_1.weight, block.ln_1.bias, 1e-5)  # noqa: E731
    ln2 = lambda t: F.layer_norm(t, (12,), block.ln_2.weight, block.ln_2.bias, 1e-5)  # noqa: E731
    x = randn(2, 6, 12, seed=8)
    if placement == "pre":
        h = x + block.attn(ln1(x))
        expected = h + block.mlp(ln2(h))
    else:
        h = ln1(x + block.attn(x))
        expected = ln2(h + block.mlp(h))
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


def test_mlp_is_gelu_between_two_linear_layers():
    torch.manual_seed(4)
    mlp = MLP(small()).double()
    x = randn(3, 12, seed=9)
    assert mlp.c_fc.out_features == 48
    torch.testing.assert_close(mlp(x), mlp.c_proj(F.gelu(mlp.c_fc(x))))


def test_post_ln_outputs_are_normalized_and_pre_ln_residual_stream_is_not():
    torch.manual_seed(5)
    x = 5 + 3 * randn(2, 6, 12, seed=10)
    post = Block(small(placement="post")).double()(x)
    torch.testing.assert_close(post.mean(-1), torch.zeros(2, 6), atol=1e-9, rtol=0, check_dtype=False)
    torch.testing.assert_close(post.var(-1, unbiased=False), torch.ones(2, 6), atol=1e-4, rtol=0, check_dtype=False)
    pre = Block(small(placement="pre")).double()(x)
    assert pre.mean(-1).abs().min() > 1  # the stream keeps its offset


@pytest.mark.parametrize("kind, cls", [("layer", norms.LayerNorm), ("rms", norms.RMSNorm), ("dyt", DyT),
                                       (None, torch.nn.Identity)])
def test_norm_switch_and_final_norm(kind, cls):
    pre, post = GPT(small(norm=kind, placement="pre")), GPT(small(norm=kind, placement="post"))
    for model in (pre, post):
        for block in model.transformer.h:
            assert type(block.ln_1) is cls and type(block.ln_2) is cls
    assert type(pre.transformer.ln_f) is cls
    assert type(post.transformer.ln_f) is torch.nn.Identity  # a post-LN stack already ends in a norm
    assert norms.make(kind, 5).__class__ is cls  # the book's one constructor by name


def test_dyt_is_its_formula():
    dyt = DyT(4, alpha=0.7)
    with torch.no_grad():
        dyt.weight.copy_(torch.tensor([1.0, 2.0, -1.0, 0.5]))
        dyt.bias.copy_(torch.tensor([0.0, 0.1, 0.2, 0.3]))
    x = torch.randn(3, 4)
    torch.testing.assert_close(dyt(x), dyt.weight * torch.tanh(0.7 * x) + dyt.bias)
    assert sorted(n for n, _ in dyt.named_parameters()) == ["alpha", "bias", "weight"]


# --- the model --------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["layer", "rms", "dyt", None])
@pytest.mark.parametrize("placement", ["pre", "post"])
def test_changing_a_later_token_leaves_earlier_outputs_unchanged(norm, placement):
    torch.manual_seed(6)
    model = GPT(small(norm=norm, placement=placement, qk_norm=norm is not None)).double()
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(0))
    base = model(idx)
    for t in range(7):
        changed = idx.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % 11
        out = model(changed)
        assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"position <= {t} saw token {t + 1}"
        assert (out[:, t + 1] - base[:, t + 1]).abs().max() > 1e-6  # and the change is seen where it may be


def test_forward_shapes_loss_and_weight_tying():
    torch.manual_seed(7)
    model = GPT(small())
    idx = torch.randint(11, (3, 5))
    logits = model(idx)
    assert logits.shape == (3, 5, 11)
    targets = torch.randint(11, (3, 5))
    logits2, loss = model(idx, targets)
    torch.testing.assert_close(logits2, logits)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(15, 11), targets.reshape(15)))
    assert abs(loss.item() - math.log(11)) < 0.1  # small initial weights: nearly uniform
    assert model.lm_head.weight is model.transformer.wte.weight
    names = {n for n, _ in model.named_parameters()}
    assert {"transformer.h.0.ln_1.weight", "transformer.h.1.attn.c_attn.weight",
            "transformer.h.0.mlp.c_fc.weight", "transformer.ln_f.bias"} <= names


def test_initializations():
    torch.manual_seed(8)
    gpt2 = GPT(small(n_layer=8, n_embd=64, n_head=4))
    assert abs(gpt2.transformer.h[0].mlp.c_fc.weight.std().item() - 0.02) < 0.002
    assert abs(gpt2.transformer.h[0].mlp.c_proj.weight.std().item() - 0.02 / 4) < 0.001  # / sqrt(2 * 8)
    xav = GPT(small(n_layer=8, n_embd=64, n_head=4, init="xavier"))
    w = xav.transformer.h[0].mlp.c_fc.weight  # (256, 64): bound sqrt(6 / 320)
    assert w.abs().max() <= math.sqrt(6 / 320) and abs(w.std().item() - math.sqrt(2 / 320)) < 0.01
    tokens = xav.embed_scale * xav.transformer.wte.weight
    assert abs(tokens.std().item() - 1) < 0.1  # every token starts at unit scale


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(placement="middle"), ValueError,
     "placement must be one of 'pre', 'post', 'sandwich', 'deepnorm', 'rezero', 'fixup', got 'middle'"),
    (dict(n_embd=10, n_head=4), ValueError, r"n_embd \(C = 10\) must be divisible by n_head \(4\)"),
    (dict(norm="batch"), ValueError, "norm must be one of"),
    (dict(n_layer=0), ValueError, "n_layer must be an int >= 1"),
    (dict(init="he"), ValueError, "init must be"),
    (dict(norm=None, qk_norm=True), ValueError, "qk_norm needs a norm"),
])
def test_bad_configs_give_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        small(**kwargs)


def test_bad_inputs_give_clear_errors():
    model = GPT(small())
    with pytest.raises(ValueError, match=r"T = 9 is longer than the context, block_size = 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(TypeError, match=r"idx must be a \(B, T\) tensor of int64"):
        model(torch.zeros(1, 4))
    with pytest.raises(TypeError, match=r"idx must be a \(B, T\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must have the shape"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="config must be a GPTConfig"):
        GPT({"n_layer": 2})
    with pytest.raises(ValueError, match="alpha must be"):
        DyT(4, alpha=0.0)


# --- training and measuring -------------------------------------------------------------

def test_lr_at_warms_up_linearly_then_stays():
    assert [lr_at(s, 1.0, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_at(0, 0.1, 0) == 0.1


def test_get_batch_targets_are_the_next_tokens():
    data = torch.arange(100)
    x, y = get_batch(data, 10, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="longer than block_size"):
        get_batch(torch.arange(5), 10, 2)


def test_train_lm_is_seeded_learns_and_flags_divergence():
    data = torch.arange(400) % 7  # a periodic sequence: easy to predict
    cfg = small(vocab_size=7, n_embd=16)
    _, h1 = train_lm(cfg, data, data, steps=30, lr=1e-2, warmup=5, batch_size=8, seed=3, eval_every=10)
    _, h2 = train_lm(cfg, data, data, steps=30, lr=1e-2, warmup=5, batch_size=8, seed=3, eval_every=10)
    assert h1["loss"] == h2["loss"] and h1["val_loss"] == h2["val_loss"]
    assert h1["eval_step"] == [10, 20, 30] and len(h1["loss"]) == 30 and not h1["diverged"]
    assert h1["val_loss"][-1] < 0.5 * math.log(7)
    _, bad = train_lm(cfg, data, data, steps=30, lr=3e-3, batch_size=8, diverge_loss=1e-3)
    assert bad["diverged"] and len(bad["loss"]) == 1
    with pytest.raises(ValueError, match="warmup must be an int >= 0"):
        train_lm(cfg, data, data, steps=3, lr=1e-3, warmup=-1)


def test_grad_norms_at_init_and_generate():
    data = torch.arange(300) % 11
    g = grad_norms_at_init(small(n_layer=3), data, seed=0, batches=2)
    assert len(g) == 3 and all(v > 0 for v in g)
    assert g == grad_norms_at_init(small(n_layer=3), data, seed=0, batches=2)
    assert len(grad_norms_at_init(small(n_layer=3), data, which="all")) == 3
    model = GPT(small())
    out = generate(model, torch.zeros(2, 3, dtype=torch.long), 12, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 15) and out.max() < 11  # longer than block_size: the context is cropped
    again = generate(model, torch.zeros(2, 3, dtype=torch.long), 12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


# --- the corpus -------------------------------------------------------------------------

def test_corpus_loads_splits_and_round_trips():
    c = load_char_corpus()
    assert 50_000 < len(c.text) < 500_000 and "layer norm" in c.text
    assert len(c.train) + len(c.val) == len(c.text)
    assert abs(len(c.val) / len(c.text) - 0.1) < 0.01
    assert decode(c.val[:50], c.vocab) == c.text[len(c.train): len(c.train) + 50]
    assert torch.equal(encode("layer", c.vocab), c.train.new_tensor([c.vocab.index(ch) for ch in "layer"]))
    for junk in ("{glue:text}", "{cite}", "```", ":::", "\\mathbf"):
        assert junk not in c.text
    assert "CC BY 4.0" in LICENSE
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode("☃", c.vocab)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        decode([len(c.vocab)], c.vocab)
    with pytest.raises(ValueError, match="val_fraction"):
        load_char_corpus(0.0)


def test_extract_prose_keeps_prose_and_drops_the_rest(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# Title\n\nLayer norm of $\\mathbf a$ is {glue:text}`x:.2f` "
                                              "here {cite}`ba2016layer`.\n\n$$\ny = x\n$$\n\n```python\ncode()\n```"},
        {"cell_type": "code", "source": "print('no')"},
        {"cell_type": "markdown", "source": [":::{admonition} Note\n", "Inside the box.\n", ":::"]},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    text = extract_prose([path])
    assert text == "Layer norm of a is N here.\n\nInside the box.\n"


def test_the_corpus_ships_with_the_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["helpers"]
    assert "data_files/*.txt" in data
