"""Tests for helpers.rnn: the cells against torch.nn, the paper's invariances, gradients, checks.

References: torch.nn.RNNCell / GRUCell / LSTMCell and torch.nn.RNN / GRU / LSTM
given the same weights (float64), torch.autograd.gradcheck (central finite
differences), and helpers.norms.LayerNorm for the recorded pre-activations.
Every random draw comes from a generator seeded inside the test.
"""

import copy
import doctest

import pytest
import torch
from torch import nn
from torch.func import functional_call

from helpers import rnn
from helpers.norms import LayerNorm
from helpers.rnn import GRUCell, LSTMCell, RNN, RNNCell, SequenceClassifier, SequenceRegressor, run_sequence

F64 = torch.float64
I, H, B, T = 3, 5, 4, 6

CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}
TORCH_CELLS = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}
TORCH_SEQS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def trandn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def torch_module(kind, seq=False, seed=0, **kwargs):
    """A float64 torch cell or 1-layer RNN with random weights; the GRU's b_hn zeroed."""
    torch.manual_seed(seed)
    m = (TORCH_SEQS if seq else TORCH_CELLS)[kind](I, H, **kwargs).to(F64)
    if kind == "gru":
        with torch.no_grad():
            (m.bias_hh_l0 if seq else m.bias_hh)[2 * H:] = 0  # b_hn: see GRUCell.from_torch
    return m


def our_cell(kind, norm=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    return CELLS[kind](I, H, norm=norm, dtype=F64, **kwargs)


def randomize_ln(cell, seed=1):
    """Gains and biases away from 1 and 0, so that tests see them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in cell.modules():
            if isinstance(m, LayerNorm):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g, dtype=F64))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g, dtype=F64))
    return cell


def random_state(kind, batch=B, seed=5):
    if kind == "lstm":
        return trandn(batch, H, seed=seed), trandn(batch, H, seed=seed + 1)
    return trandn(batch, H, seed=seed)


def assert_close(a, b, **kw):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, **kw)
    else:
        torch.testing.assert_close(a, b, **kw)


# ---------------------------------------------------------------------------
# Without norm: the same function as torch.nn
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("given_hx", [False, True])
def test_cell_matches_torch_batched(kind, given_hx):
    ref = torch_module(kind)
    cell = CELLS[kind].from_torch(ref)
    x = trandn(B, I, seed=2)
    hx = random_state(kind) if given_hx else None
    assert_close(cell(x, hx), ref(x, hx), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_cell_matches_torch_unbatched(kind):
    ref = torch_module(kind)
    cell = CELLS[kind].from_torch(ref)
    x = trandn(I, seed=3)
    hx = random_state(kind, batch=1)
    hx = tuple(h[0] for h in hx) if kind == "lstm" else hx[0]  # (H,)
    ours, theirs = cell(x, hx), ref(x, hx)
    assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    assert (ours[0] if kind == "lstm" else ours).shape == (H,)


def test_rnn_cell_relu_and_no_bias_match_torch():
    for kwargs in ({"nonlinearity": "relu"}, {"bias": False}):
        ref = torch_module("rnn", **kwargs)
        cell = RNNCell.from_torch(ref)
        x = trandn(B, I, seed=4)
        assert_close(cell(x), ref(x), rtol=1e-12, atol=1e-12)
    assert RNNCell.from_torch(torch_module("rnn", nonlinearity="relu")).nonlinearity == "relu"


def test_from_torch_sums_the_two_biases():
    ref = torch_module("lstm")
    cell = LSTMCell.from_torch(ref)
    torch.testing.assert_close(cell.bias, (ref.bias_ih + ref.bias_hh).detach())
    assert cell.weight_ih.dtype == F64 and cell.norm is None


def test_gru_from_torch_refuses_b_hn():
    """torch's GRU has b_hn inside r * (W_hn h + b_hn); one bias cannot hold it."""
    torch.manual_seed(0)
    ref = nn.GRUCell(I, H).to(F64)  # b_hn is random, not zero
    with pytest.raises(ValueError, match="b_hn"):
        GRUCell.from_torch(ref)
    with torch.no_grad():
        ref.bias_hh[2 * H:] = 0
    GRUCell.from_torch(ref)  # now it can


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("given_hx", [False, True])
def test_sequence_matches_torch(kind, given_hx):
    ref = torch_module(kind, seq=True)
    cell = CELLS[kind].from_torch(ref)
    x = trandn(T, B, I, seed=6)
    hx = random_state(kind) if given_hx else None
    torch_hx = None if hx is None else (tuple(h[None] for h in hx) if kind == "lstm" else hx[None])  # (1, B, H)
    out, state = run_sequence(cell, x, hx)
    ref_out, ref_state = ref(x, torch_hx)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    ref_state = tuple(s[0] for s in ref_state) if kind == "lstm" else ref_state[0]  # drop num_layers
    assert_close(state, ref_state, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_unbatched_sequence_matches_torch(kind):
    ref = torch_module(kind, seq=True)
    cell = CELLS[kind].from_torch(ref)
    x = trandn(T, I, seed=7)
    out, state = RNN(cell)(x)
    ref_out, ref_state = ref(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    assert out.shape == (T, H)
    h = state[0] if kind == "lstm" else state
    torch.testing.assert_close(h, (ref_state[0] if kind == "lstm" else ref_state)[0])


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("norm", [None, "layer"])
def test_sequence_equals_the_cell_step_by_step(kind, norm):
    """run_sequence batches the input term over time; a loop of cell calls must agree."""
    cell = randomize_ln(our_cell(kind, norm)) if norm else our_cell(kind, norm)
    x = trandn(T, B, I, seed=8)
    out, state = run_sequence(cell, x)
    s, hs = None, []
    for t in range(T):
        s = cell(x[t], s)
        hs.append(s[0] if kind == "lstm" else s)
    torch.testing.assert_close(out, torch.stack(hs), rtol=1e-12, atol=1e-12)
    assert_close(state, s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_sequence_can_be_continued_from_its_state(kind):
    cell = randomize_ln(our_cell(kind, "layer"))
    x = trandn(T, B, I, seed=9)
    whole, _ = run_sequence(cell, x)
    first, mid = run_sequence(cell, x[:3])
    second, _ = run_sequence(cell, x[3:], mid)
    torch.testing.assert_close(torch.cat([first, second]), whole)


# ---------------------------------------------------------------------------
# With layer norm: the paper's equations and invariances
# ---------------------------------------------------------------------------

def scaled(cell, factor, which):
    c = copy.deepcopy(cell)
    with torch.no_grad():
        for name in which:
            getattr(c, name).mul_(factor)
    return c


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("which", [("weight_hh",), ("weight_ih",), ("weight_hh", "weight_ih")])
def test_gated_ln_cells_are_invariant_to_scaling_each_weight_matrix(kind, which):
    """LSTM eq. (20), GRU eqs. (26)-(27): W_h h and W_x x are normalized separately."""
    x = trandn(T, B, I, seed=10)
    for eps, atol in ((1e-12, 1e-9), (1e-5, 5e-3)):  # exact up to eps; eps itself moves it a little
        cell = randomize_ln(our_cell(kind, "layer", eps=eps))
        out, _ = run_sequence(cell, x)
        out5, _ = run_sequence(scaled(cell, 5.0, which), x)
        torch.testing.assert_close(out5, out, rtol=0, atol=atol)
    plain = our_cell(kind, None)  # without the norm the same scaling changes everything
    change = (run_sequence(scaled(plain, 5.0, which), x)[0] - run_sequence(plain, x)[0]).abs().max()
    assert change > 0.1


def test_ln_rnn_is_invariant_to_scaling_the_whole_summed_input():
    """Eq. (4) normalizes a = W_hh h + W_xh x: scaling both matrices cancels, scaling one does not."""
    x = trandn(T, B, I, seed=11)
    cell = randomize_ln(our_cell("rnn", "layer", eps=1e-12))
    out, _ = run_sequence(cell, x)
    for factor in (5.0, 0.2):
        both = run_sequence(scaled(cell, factor, ("weight_hh", "weight_ih")), x)[0]
        torch.testing.assert_close(both, out, rtol=0, atol=1e-9)
    only_hh = run_sequence(scaled(cell, 5.0, ("weight_hh",)), x)[0]
    assert (only_hh - out).abs().max() > 0.1  # the balance of recurrent and input terms changed
    plain = our_cell("rnn", None)
    change = run_sequence(scaled(plain, 5.0, ("weight_hh", "weight_ih")), x)[0] - run_sequence(plain, x)[0]
    assert change.abs().max() > 0.1


def test_ln_rnn_follows_eq_4():
    cell = randomize_ln(our_cell("rnn", "layer"))
    x, h = trandn(B, I, seed=12), trandn(B, H, seed=13)
    a = x @ cell.weight_ih.T + h @ cell.weight_hh.T  # (B, H)
    mu = a.mean(-1, keepdim=True)  # (B, 1)
    sigma = (a.var(-1, unbiased=False, keepdim=True) + cell.eps).sqrt()  # (B, 1)
    expected = torch.tanh(cell.ln.weight / sigma * (a - mu) + cell.ln.bias)
    torch.testing.assert_close(cell(x, h), expected, rtol=1e-12, atol=1e-12)


def test_ln_lstm_follows_eqs_20_to_22():
    cell = randomize_ln(our_cell("lstm", "layer"))
    x, h, c = trandn(B, I, seed=14), trandn(B, H, seed=15), trandn(B, H, seed=16)

    def ln(z, m):  # the paper's LN(z; alpha, beta), eps inside the root
        return m.weight * (z - z.mean(-1, keepdim=True)) / (z.var(-1, unbiased=False, keepdim=True) + m.eps).sqrt() + m.bias

    gates = ln(h @ cell.weight_hh.T, cell.ln_hh) + ln(x @ cell.weight_ih.T, cell.ln_ih)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(ln(c_new, cell.ln_c))
    ours = cell(x, (h, c))
    torch.testing.assert_close(ours[0], h_new, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], c_new, rtol=1e-12, atol=1e-12)  # c is carried un-normalized


def test_ln_gru_follows_eqs_26_to_28():
    cell = randomize_ln(our_cell("gru", "layer"))
    x, h = trandn(B, I, seed=17), trandn(B, H, seed=18)
    ax, ah = x @ cell.weight_ih.T, h @ cell.weight_hh.T  # (B, 3H) each
    rz = cell.ln_hh(ah[:, :2 * H]) + cell.ln_ih(ax[:, :2 * H])  # (B, 2H)
    r, z = torch.sigmoid(rz).chunk(2, 1)
    n = torch.tanh(cell.ln_ih_n(ax[:, 2 * H:]) + r * cell.ln_hh_n(ah[:, 2 * H:]))
    torch.testing.assert_close(cell(x, h), (1 - z) * n + z * h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_gradcheck_ln_cells(kind):
    """Inputs, state and every parameter (weights, gains, biases) against finite differences."""
    cell = randomize_ln(CELLS[kind](2, 3, norm="layer", dtype=F64))
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in cell.named_parameters()]
    x = trandn(2, 2, seed=19).requires_grad_()
    hs = [trandn(2, 3, seed=20 + k).requires_grad_() for k in range(2 if kind == "lstm" else 1)]

    def f(x, *rest):
        state, ps = rest[:len(hs)], rest[len(hs):]
        hx = tuple(state) if kind == "lstm" else state[0]
        out = functional_call(cell, dict(zip(names, ps)), (x, hx))
        return out if kind != "lstm" else torch.cat(out, -1)

    assert torch.autograd.gradcheck(f, (x, *hs, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", CELLS)
def test_gains_are_shared_over_time_and_get_gradient_from_every_step(kind):
    cell = our_cell(kind, "layer")
    x = trandn(T, B, I, seed=21)
    out, _ = run_sequence(cell, x)
    out[0].sum().backward()  # only the first step
    first = {n: p.grad.clone() for n, p in cell.named_parameters() if p.grad is not None}
    cell.zero_grad()
    run_sequence(cell, x)[0].sum().backward()  # every step
    gain = next(n for n in first if n.endswith("weight") and n.startswith("ln"))
    assert not torch.allclose(first[gain], dict(cell.named_parameters())[gain].grad)


# ---------------------------------------------------------------------------
# Recording pre-activations
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("norm", [None, "layer"])
def test_record_shapes_and_raw_terms(kind, norm):
    cell = our_cell(kind, norm)
    x = trandn(T, B, I, seed=22)
    out, state, rec = run_sequence(cell, x, record=True)
    g = GATES[kind]
    expected = {"a_ih": g * H, "a_hh": g * H}
    expected.update({"rnn": {"pre": H}, "lstm": {"gates": 4 * H, "c": H}, "gru": {"gates": 2 * H, "n_pre": H}}[kind])
    assert {k: tuple(v.shape) for k, v in rec.items()} == {k: (T, B, n) for k, n in expected.items()}
    torch.testing.assert_close(rec["a_ih"], x @ cell.weight_ih.T)
    h_prev = torch.cat([torch.zeros(1, B, H, dtype=F64), out[:-1]])  # h_0 .. h_{T-1}
    torch.testing.assert_close(rec["a_hh"], h_prev @ cell.weight_hh.T)
    torch.testing.assert_close(run_sequence(cell, x)[0], out)  # recording changes nothing


def test_record_rnn_pre_is_layer_normalized_over_hidden_units():
    cell = our_cell("rnn", "layer")  # gain 1, bias 0: pre has mean 0, variance 1 per step and example
    x = 10 * trandn(T, B, I, seed=23)
    _, _, rec = run_sequence(cell, x, record=True)
    pre = rec["pre"]  # (T, B, H)
    torch.testing.assert_close(pre.mean(-1), torch.zeros(T, B, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(pre.var(-1, unbiased=False), torch.ones(T, B, dtype=F64), atol=1e-4, rtol=0)
    torch.testing.assert_close(pre, cell.ln(rec["a_ih"] + rec["a_hh"]))
    plain = our_cell("rnn", None)
    _, _, rec = run_sequence(plain, x, record=True)
    torch.testing.assert_close(rec["pre"], rec["a_ih"] + rec["a_hh"] + plain.bias)


def test_record_lstm_cell_states_and_unbatched():
    cell = our_cell("lstm", "layer")
    x = trandn(T, I, seed=24)
    out, (h, c), rec = run_sequence(cell, x, record=True)
    assert rec["c"].shape == (T, H) and out.shape == (T, H)
    torch.testing.assert_close(rec["c"][-1], c)


@pytest.mark.parametrize("kind", CELLS)
def test_record_keeps_only_the_keys_asked_for(kind):
    """record="c" or a tuple of keys: the same tensors as record=True, and nothing else kept."""
    cell = our_cell(kind, "layer")
    x = trandn(T, B, I, seed=25)
    out, state, everything = run_sequence(cell, x, record=True)
    for asked in [(k,) for k in everything] + [("a_ih", "a_hh"), tuple(reversed(everything))]:
        out2, state2, rec = run_sequence(cell, x, record=asked if len(asked) > 1 else asked[0])
        assert set(rec) == set(asked)
        for k in asked:
            assert torch.equal(rec[k], everything[k])
        assert torch.equal(out2, out)
    # the steps append only what is asked: a trace of the other keys is never built
    kept = []
    original = cell._step
    cell._step = lambda u, s, trace=None: (kept.append(None if trace is None else set(trace)), original(u, s, trace))[1]
    run_sequence(cell, x, record="a_ih")
    assert kept == [None] * T
    kept.clear()
    run_sequence(cell, x, record=("a_hh",))
    assert kept == [{"a_hh"}] * T


@pytest.mark.parametrize("bad, error", [("h", ValueError), (("c", "nope"), ValueError), ((), TypeError),
                                        (1, TypeError), ({"c"}, TypeError), (None, TypeError)])
def test_record_rejects_unknown_keys(bad, error):
    with pytest.raises(error, match="record"):
        run_sequence(our_cell("lstm", "layer"), trandn(T, B, I), record=bad)


# ---------------------------------------------------------------------------
# Parameters, init, repr
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CELLS)
def test_parameter_names_and_shapes(kind):
    g = GATES[kind]
    plain = dict(our_cell(kind).named_parameters())
    assert {k: tuple(v.shape) for k, v in plain.items()} == {
        "weight_ih": (g * H, I), "weight_hh": (g * H, H), "bias": (g * H,)}
    normed = our_cell(kind, "layer")
    assert normed.bias is None
    ln_sizes = {"rnn": {"ln": H}, "lstm": {"ln_ih": 4 * H, "ln_hh": 4 * H, "ln_c": H},
                "gru": {"ln_ih": 2 * H, "ln_hh": 2 * H, "ln_ih_n": H, "ln_hh_n": H}}[kind]
    expected = {"weight_ih": (g * H, I), "weight_hh": (g * H, H)}
    for name, n in ln_sizes.items():
        expected[f"{name}.weight"] = (n,)
        expected[f"{name}.bias"] = (n,)
    assert {k: tuple(v.shape) for k, v in normed.named_parameters()} == expected


@pytest.mark.parametrize("kind", CELLS)
def test_init_like_torch_and_ln_gain_one_bias_zero(kind):
    torch.manual_seed(0)
    cell = CELLS[kind](7, 16, norm="layer")
    bound = 16 ** -0.5
    for w in (cell.weight_ih, cell.weight_hh):
        assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound and w.std() > 0.4 * bound
    for m in cell.modules():
        if isinstance(m, LayerNorm):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias))
    plain = CELLS[kind](7, 16)
    assert plain.bias.abs().max() <= bound and plain.bias.abs().max() > 0.5 * bound
    with torch.no_grad():
        for p in cell.parameters():
            p.fill_(3.0)
    cell.reset_parameters()
    assert cell.weight_hh.abs().max() <= bound
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in cell.modules() if isinstance(m, LayerNorm))


def test_repr_and_dtype():
    assert "3, 5, norm='layer', nonlinearity='relu'" in repr(RNNCell(3, 5, norm="layer", nonlinearity="relu"))
    assert "norm=None" in repr(LSTMCell(3, 5))
    assert GRUCell(3, 5, dtype=F64).weight_hh.dtype == F64


@pytest.mark.parametrize("kind", CELLS)
def test_run_sequence_is_the_cell_method(kind):
    cell = our_cell(kind)
    x = trandn(T, B, I)
    out, state, trace = cell.run_sequence(x, record=True)
    out2, state2, trace2 = run_sequence(cell, x, record=True)
    torch.testing.assert_close(out, out2, rtol=0, atol=0)
    assert set(trace) == set(trace2) == {"a_ih", *type(cell)._trace_keys}
    for k in trace:
        torch.testing.assert_close(trace[k], trace2[k], rtol=0, atol=0)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CELLS)
def test_bad_norm(kind):
    for norm in ("batch", "Layer", True, "ln"):
        with pytest.raises(ValueError, match="norm must be one of None, 'layer'"):
            CELLS[kind](I, H, norm=norm)


@pytest.mark.parametrize("kind", CELLS)
def test_wrong_input_size_names_expected_size(kind):
    cell = our_cell(kind)
    with pytest.raises(ValueError, match=f"I = {I}"):
        cell(trandn(B, I + 1))
    with pytest.raises(ValueError, match=f"I = {I}"):
        run_sequence(cell, trandn(T, B, I + 1))
    with pytest.raises(ValueError, match=r"\(T, B, I\)"):
        run_sequence(cell, trandn(B, I)[None, None])  # 4-d


@pytest.mark.parametrize("kind", CELLS)
def test_empty_sequence(kind):
    with pytest.raises(ValueError, match="T = 0"):
        run_sequence(our_cell(kind), torch.zeros(0, B, I, dtype=F64))


@pytest.mark.parametrize("kind", CELLS)
def test_hx_shape_mismatch(kind):
    cell = our_cell(kind)
    bad = random_state(kind, batch=B + 1)
    with pytest.raises(ValueError, match=f"\\({B}, {H}\\)"):
        cell(trandn(B, I), bad)
    with pytest.raises(ValueError, match="must have shape"):
        run_sequence(cell, trandn(T, B, I), bad)


def test_lstm_hx_must_be_a_pair_and_dtypes_must_match():
    cell = our_cell("lstm")
    with pytest.raises(TypeError, match="pair"):
        cell(trandn(B, I), trandn(B, H))
    with pytest.raises(TypeError, match="dtype"):
        cell(trandn(B, I).float())
    with pytest.raises(TypeError, match="torch.Tensor"):
        cell([[0.0] * I])
    with pytest.raises(TypeError, match="floating"):
        cell(torch.zeros(B, I, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype"):
        our_cell("gru")(trandn(B, I), trandn(B, H).float())


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        RNNCell(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        LSTMCell(3.0, 4)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="RNNCell"):
        RNN(nn.LSTMCell(3, 4))
    with pytest.raises(TypeError, match="cell"):
        run_sequence(nn.GRUCell(3, 4), torch.zeros(2, 1, 3))


def test_from_torch_bad_modules():
    with pytest.raises(TypeError, match="LSTMCell"):
        LSTMCell.from_torch(nn.GRUCell(I, H))
    with pytest.raises(ValueError, match="single-layer"):
        LSTMCell.from_torch(nn.LSTM(I, H, num_layers=2))
    with pytest.raises(ValueError, match="single-layer"):
        RNNCell.from_torch(nn.RNN(I, H, bidirectional=True))


# ---------------------------------------------------------------------------
# Models on top
# ---------------------------------------------------------------------------

def test_sequence_classifier_and_regressor_shapes():
    x = trandn(T, B, I, seed=25)
    clf = SequenceClassifier(our_cell("lstm", "layer"), n_classes=7)
    assert clf(x).shape == (B, 7) and clf.readout.weight.dtype == F64
    logits = clf(x)
    out, _ = clf.rnn(x)
    torch.testing.assert_close(logits, clf.readout(out[-1]))  # read out from the last hidden state
    assert SequenceClassifier(our_cell("gru"), 7, per_step=True)(x).shape == (T, B, 7)
    assert SequenceRegressor(our_cell("rnn"))(x).shape == (B,)
    assert SequenceRegressor(our_cell("rnn"), out_features=2)(x).shape == (B, 2)
    with pytest.raises(ValueError, match="n_classes"):
        SequenceClassifier(our_cell("rnn"), 0)
    keys = set(clf.state_dict())
    assert {"rnn.cell.weight_ih", "rnn.cell.ln_c.weight", "readout.weight"} <= keys


def test_public_api_and_docstrings():
    assert set(rnn.__all__) == {"NORMS", "RNNCell", "GRUCell", "LSTMCell", "run_sequence", "RNN", "LSTM",
                                "SequenceClassifier", "SequenceRegressor"}
    for name in rnn.__all__:
        if name != "NORMS":
            assert getattr(rnn, name).__doc__
    result = doctest.testmod(rnn, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
