"""Tests for helpers.rnn.LSTM, the fast sequence module: it must compute what LSTMCell computes.

References: helpers.rnn.LSTMCell run step by step (its autograd gives the reference
gradients), torch.nn.LSTM with the same weights for norm=None, and
torch.autograd.gradcheck (central finite differences) for the hand-written backward.
"""

import pytest
import torch
from torch import nn

from helpers.norms import LayerNorm
from helpers.rnn import LSTM, LSTMCell, SequenceClassifier

F64 = torch.float64
I, H, B, T = 3, 5, 4, 6


def make(norm="layer", dtype=F64, seed=0):
    """An LSTM with random weights, and layer-norm gains and biases away from 1 and 0."""
    torch.manual_seed(seed)
    lstm = LSTM(I, H, norm=norm, dtype=dtype)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in lstm.modules():
            if isinstance(m, LayerNorm):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g, dtype=dtype))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g, dtype=dtype))
    return lstm


def inputs(dtype=F64, seed=2, batch=B):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, batch, I, generator=g, dtype=dtype, requires_grad=True)
    h0 = torch.randn(batch, H, generator=g, dtype=dtype, requires_grad=True)
    c0 = torch.randn(batch, H, generator=g, dtype=dtype, requires_grad=True)
    return x, h0, c0


def stepped(cell, x, h, c):
    """LSTMCell run one step at a time in Python: the reference."""
    outs = []
    for t in range(x.shape[0]):
        h, c = cell(x[t], (h, c))
        outs.append(h)
    return torch.stack(outs), (h, c)  # T x (B, H) -> (T, B, H)


@pytest.mark.parametrize("norm", ["layer", None])
def test_values_and_gradients_equal_the_cell_stepped(norm):
    lstm = make(norm)
    x, h0, c0 = inputs()
    out, (h, c) = lstm(x, (h0, c0))
    ref, (h_ref, c_ref) = stepped(lstm.cell, x, h0, c0)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
    g = torch.Generator().manual_seed(7)
    w_out, w_c = torch.randn(out.shape, generator=g, dtype=F64), torch.randn(c.shape, generator=g, dtype=F64)
    wrt = [x, h0, c0, *lstm.parameters()]
    grads = torch.autograd.grad((out * w_out).sum() + (c * w_c).sum(), wrt)
    grads_ref = torch.autograd.grad((ref * w_out).sum() + (c_ref * w_c).sum(), wrt)
    for name, a, b in zip(["x", "h0", "c0"] + [n for n, _ in lstm.named_parameters()], grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=f"gradient of {name}")


def test_float32_agrees_with_the_cell_to_float_tolerance():
    lstm = make(dtype=torch.float32)
    x, h0, c0 = inputs(torch.float32)
    out, _ = lstm(x, (h0, c0))
    ref, _ = stepped(lstm.cell, x, h0, c0)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    g_fast = lstm.cell.weight_hh.grad.clone()
    lstm.zero_grad()
    ref.sum().backward()
    torch.testing.assert_close(g_fast, lstm.cell.weight_hh.grad, rtol=1e-4, atol=1e-5)


def test_gradcheck_of_the_hand_written_backward():
    lstm = make()
    x, h0, c0 = inputs(batch=2)
    params = tuple(lstm.parameters())

    def f(x, h0, c0, *ps):
        with torch.no_grad():
            for p, v in zip(params, ps):
                p.copy_(v)
        out, (h, c) = lstm(x, (h0, c0))
        return out, c

    # gradcheck perturbs inputs; parameters go through functional_call instead
    from torch.func import functional_call
    names = [n for n, _ in lstm.named_parameters()]

    def g(x, h0, c0, *ps):
        out, (_, c) = functional_call(lstm, dict(zip(names, ps)), (x, (h0, c0)))
        return out, c

    ps = tuple(p.detach().clone().requires_grad_() for p in params)
    assert torch.autograd.gradcheck(g, (x, h0, c0, *ps))


def test_norm_none_is_torch_lstm():
    torch.manual_seed(3)
    ref = nn.LSTM(I, H).to(F64)
    lstm = LSTM.from_cell(LSTMCell.from_torch(ref))
    x, h0, c0 = inputs()
    out, (h, c) = lstm(x, (h0, c0))
    out_ref, (h_ref, c_ref) = ref(x, (h0[None], c0[None]))
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close((h, c), (h_ref[0], c_ref[0]))


def test_unbatched_default_state_and_shared_parameters():
    lstm = make()
    x, _, _ = inputs()
    out, (h, c) = lstm(x[:, 0])  # (T, I): one unbatched sequence, zero state
    ref, (h_ref, c_ref) = lstm.cell.run_sequence(x[:, 0])
    assert out.shape == (T, H) and h.shape == (H,) and c.shape == (H,)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(c, c_ref)
    assert set(lstm.state_dict()) == {"cell." + k for k in lstm.cell.state_dict()}
    wrapped = LSTM.from_cell(lstm.cell)
    assert wrapped.cell is lstm.cell and repr(wrapped) == repr(lstm)


def test_a_classifier_on_it_is_the_classifier_on_the_cell():
    lstm = make()
    x, _, _ = inputs()
    fast = SequenceClassifier(lstm, n_classes=3)
    slow = SequenceClassifier(lstm.cell, n_classes=3)
    slow.readout.load_state_dict(fast.readout.state_dict())
    assert set(fast.state_dict()) == set(slow.state_dict())
    torch.testing.assert_close(fast(x), slow(x))


@pytest.mark.parametrize("call, exc, words", [
    (lambda m: m(torch.randn(T, B, I + 1, dtype=F64)), ValueError, "input size"),
    (lambda m: m(torch.randn(B, I, 1, 1, dtype=F64)), ValueError, "shape"),
    (lambda m: m(torch.randn(0, B, I, dtype=F64)), ValueError, "empty"),
    (lambda m: m(torch.randn(T, B, I)), TypeError, "dtype"),
    (lambda m: m(torch.randn(T, B, I, dtype=F64), torch.zeros(B, H, dtype=F64)), TypeError, "pair"),
    (lambda m: m(torch.randn(T, B, I, dtype=F64), (torch.zeros(B, H + 1, dtype=F64),) * 2), ValueError, "h must"),
    (lambda m: m([[1.0]]), TypeError, "input"),
])
def test_bad_inputs_raise_clear_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call(make())


def test_bad_construction():
    with pytest.raises(ValueError, match="norm"):
        LSTM(I, H, norm="batch")
    with pytest.raises(ValueError, match="hidden_size"):
        LSTM(I, 0)
    with pytest.raises(TypeError, match="LSTMCell"):
        LSTM.from_cell(nn.LSTMCell(I, H))
