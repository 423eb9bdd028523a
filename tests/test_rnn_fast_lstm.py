"""Tests for helpers.rnn.LSTM, the fast sequence module: it must compute what LSTMCell computes.

References: helpers.rnn.LSTMCell run step by step (its autograd gives the reference
gradients), torch.nn.LSTM with the same weights for norm=None, and
torch.autograd.gradcheck (central finite differences) for the hand-written backward.
Both engines of the layer-normalized recurrence are tested: the fused C kernel
(helpers/lstm_kernel.c, compiled on first use; these tests fail, not skip, where it
cannot be built) and the torch operations.
"""

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from helpers.norms import LayerNorm
from helpers import lstm_kernel
from helpers.rnn import LSTM, LSTMCell, SequenceClassifier

F64 = torch.float64
I, H, B, T = 3, 5, 4, 6
ENGINES = ["c", "torch"]
#: The C engine's three ways to run a sequence (see use_path).
PATHS = ["blas", "own product", "per step"]


def use_path(monkeypatch, path):
    """Make the C engine run every batch size one way: the whole sequence in one call with torch's BLAS
    for the matrix products ("blas", the default where torch exports it), the same with the kernel's own
    products ("own product", where it does not), or one call per step after torch's product ("per step")."""
    if path == "blas":
        assert lstm_kernel.blas() is not None, "torch's libtorch_cpu exports no sgemm_ here"
        monkeypatch.setattr(lstm_kernel, "SEQUENCE_BELOW", 0)
    else:
        monkeypatch.setattr(lstm_kernel, "blas", lambda dtype=torch.float32: None)
        monkeypatch.setattr(lstm_kernel, "SEQUENCE_BELOW", 1 << 30 if path == "own product" else 0)
    assert lstm_kernel.whole_sequence(2) == (path != "per step")


def make(norm="layer", dtype=F64, seed=0, engine="auto"):
    """An LSTM with random weights, and layer-norm gains and biases away from 1 and 0."""
    torch.manual_seed(seed)
    lstm = LSTM(I, H, norm=norm, dtype=dtype, engine=engine)
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


@pytest.mark.parametrize("norm, engine", [("layer", "c"), ("layer", "torch"), (None, "auto")])
def test_values_and_gradients_equal_the_cell_stepped(norm, engine):
    lstm = make(norm, engine=engine)
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


@pytest.mark.parametrize("engine", ENGINES)
def test_float32_agrees_with_the_cell_to_float_tolerance(engine):
    lstm = make(dtype=torch.float32, engine=engine)
    x, h0, c0 = inputs(torch.float32)
    out, _ = lstm(x, (h0, c0))
    ref, _ = stepped(lstm.cell, x, h0, c0)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    g_fast = lstm.cell.weight_hh.grad.clone()
    lstm.zero_grad()
    ref.sum().backward()
    torch.testing.assert_close(g_fast, lstm.cell.weight_hh.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("engine", ["torch"] + [f"c, {p}" for p in PATHS])
def test_gradcheck_of_the_hand_written_backward(engine, monkeypatch):
    if engine.startswith("c, "):  # each of the C engine's paths, at this small batch
        use_path(monkeypatch, engine[3:])
        engine = "c"
    lstm = make(engine=engine)
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


@pytest.mark.parametrize("engine", ENGINES)
def test_unbatched_default_state_and_shared_parameters(engine):
    lstm = make(engine=engine)
    x, _, _ = inputs()
    out, (h, c) = lstm(x[:, 0])  # (T, I): one unbatched sequence, zero state
    ref, (h_ref, c_ref) = lstm.cell.run_sequence(x[:, 0])
    assert out.shape == (T, H) and h.shape == (H,) and c.shape == (H,)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(c, c_ref)
    assert set(lstm.state_dict()) == {"cell." + k for k in lstm.cell.state_dict()}
    wrapped = LSTM.from_cell(lstm.cell, engine=engine)
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
    with pytest.raises(ValueError, match="engine must be one of"):
        LSTM(I, H, engine="cuda")


# --- the C kernel on its own terms -------------------------------------------------

def test_the_c_kernel_is_built_here_and_auto_uses_it():
    ok, why = lstm_kernel.available()
    assert ok, f"the C kernel did not build: {why}"
    lstm = make()
    assert lstm._recurrence(torch.zeros(1, dtype=F64)) is lstm_kernel.LNLSTMRecurrenceC
    assert LSTM(I, H, engine="torch")._recurrence(torch.zeros(1)) is not lstm_kernel.LNLSTMRecurrenceC


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 3, 1), (9, 1, 2), (4, 2, 17)])
def test_c_engine_at_edge_shapes(shape):
    """T = 1, one sequence, one hidden unit (4H = 4 gates) and a width that is no multiple of a vector."""
    t, b, h = shape
    torch.manual_seed(5)
    fast = LSTM(2, h, dtype=F64, engine="c")
    slow = LSTM.from_cell(fast.cell, engine="torch")
    x = torch.randn(t, b, 2, dtype=F64, requires_grad=True)
    out, (h_n, c_n) = fast(x)
    ref, (h_ref, c_ref) = slow(x)
    torch.testing.assert_close((out, h_n, c_n), (ref, h_ref, c_ref), rtol=1e-12, atol=1e-12)
    g = torch.autograd.grad(out.square().sum() + c_n.sum(), [x, *fast.parameters()])
    g_ref = torch.autograd.grad(ref.square().sum() + c_ref.sum(), [x, *fast.parameters()])
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 30.0, 300.0])
def test_c_float32_exp_at_extreme_pre_activations(scale):
    """The kernel's own float32 exp/sigmoid/tanh: tiny and saturating pre-activations, against float64."""
    torch.manual_seed(6)
    lstm = LSTM(I, 8, engine="c")
    with torch.no_grad():
        lstm.cell.ln_hh.weight.fill_(scale)  # pre-activations of size `scale`
        lstm.cell.ln_ih.weight.fill_(scale)
        lstm.cell.ln_c.weight.fill_(scale)
    x = torch.randn(5, 3, I)
    out, (_, c) = lstm(x)
    ref, (_, c_ref) = LSTM.from_cell(lstm.cell.to(F64), engine="torch")(x.to(F64))
    assert torch.isfinite(out).all() and torch.isfinite(c).all()
    torch.testing.assert_close(out.to(F64), ref, rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(c.to(F64), c_ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_nan_in_the_input_stays_a_nan(engine):
    lstm = make(engine=engine)
    x, _, _ = inputs()
    x = x.detach().clone()
    x[2, 1, 0] = float("nan")
    out, _ = lstm(x)
    assert torch.isnan(out[2:, 1]).all() and torch.isfinite(out[:2]).all() and torch.isfinite(out[:, 0]).all()


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("path", ["blas", "per step"])
def test_without_grad_the_c_engine_keeps_nothing_and_agrees(mode, dtype, tol, path, monkeypatch):
    """Without autograd the kernel keeps no (T, ...) buffers and normalizes W_ih x itself (the
    input norm's gain and bias passed in); the result equals the autograd path's to rounding."""
    kept = []  # (keep, whether the kernel got the input norm's parameters) of every forward loop
    loop = lstm_kernel._forward
    monkeypatch.setattr(lstm_kernel, "_forward", lambda *a, keep, ln_ih=None: kept.append((keep, ln_ih is not None))
                        or loop(*a, keep=keep, ln_ih=ln_ih))
    lstm = make(engine="c", dtype=dtype)
    x, _, _ = inputs(dtype=dtype)
    use_path(monkeypatch, path)
    for batch in (B, 40):
        xb = x.detach()[:, :1].expand(T, batch, I).contiguous() + 0.01 * torch.arange(batch, dtype=dtype)[:, None]
        kept.clear()
        with mode():
            out_nograd, (_, c_nograd) = lstm(xb)
        out, (_, c) = lstm(xb.requires_grad_())
        assert kept == [(False, True), (True, False)]
        assert out.requires_grad and not out_nograd.requires_grad
        torch.testing.assert_close((out_nograd, c_nograd), (out.detach(), c.detach()), rtol=0, atol=tol)
        # mutant: the kernel told the input is normalized when it is not gives a different output
        u = xb.detach() @ lstm.cell.weight_ih.detach().T
        rest = [t.detach() for t in (torch.zeros(batch, H, dtype=dtype), torch.zeros(batch, H, dtype=dtype),
                                     lstm.cell.weight_hh, lstm.cell.ln_hh.weight, lstm.cell.ln_hh.bias,
                                     lstm.cell.ln_c.weight, lstm.cell.ln_c.bias)]
        wrong, _ = lstm_kernel.forward_no_grad(u, *rest, lstm.cell.eps)
        assert (wrong - out.detach()).abs().max() > 1e-2


@pytest.mark.parametrize("batch, hidden", [(16, 520), (67, 128)])
def test_c_engine_on_two_threads_equals_the_cell_stepped(batch, hidden, two_threads):
    """The batch split in two blocks (one per thread); gain and bias gradients summed over the blocks."""
    assert lstm_kernel.threads(batch, hidden) == 2  # the threaded path is the one checked
    torch.manual_seed(3)
    lstm = LSTM(I, hidden, dtype=F64, engine="c")
    with torch.no_grad():
        for p in lstm.parameters():
            p.add_(0.2 * torch.randn_like(p))  # gains and biases away from 1 and 0
    g = torch.Generator().manual_seed(4)
    x = torch.randn(T, batch, I, generator=g, dtype=F64, requires_grad=True)
    h0, c0 = (torch.randn(batch, hidden, generator=g, dtype=F64, requires_grad=True) for _ in range(2))
    out, (h, c) = lstm(x, (h0, c0))
    ref, (h_ref, c_ref) = stepped(lstm.cell, x, h0, c0)
    torch.testing.assert_close((out, c), (ref, c_ref), rtol=1e-12, atol=1e-12)
    leaves = [x, h0, c0, *lstm.parameters()]
    dout = torch.randn(out.shape, generator=g, dtype=F64)
    for a, e in zip(torch.autograd.grad((out * dout).sum() + c.sum(), leaves),
                    torch.autograd.grad((ref * dout).sum() + c_ref.sum(), leaves)):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


def test_c_threads_follow_torch_and_the_batch(two_threads, monkeypatch):
    assert lstm_kernel.whole_sequence(64) == (lstm_kernel.blas() is not None)  # with torch's BLAS, every batch
    monkeypatch.setattr(lstm_kernel, "blas", lambda dtype=torch.float32: None)
    assert not lstm_kernel.whole_sequence(64) and lstm_kernel.threads(64, 128) == 2  # per step: rows
    assert lstm_kernel.whole_sequence(8) and lstm_kernel.threads(8, 128) == 2  # whole sequence: columns too
    assert lstm_kernel.threads(8, 64) == 1  # 8 x 256 x 64 multiply-adds a step: too little to share
    assert lstm_kernel.threads(1, 4096) == 1  # one row cannot be split
    assert lstm_kernel.threads(2, 8) == 1  # too little work to share
    torch.set_num_threads(1)
    assert lstm_kernel.threads(64, 128) == 1 and lstm_kernel.threads(8, 128) == 1


def _values_and_gradients(lstm, x, h0, c0, dout):
    """Output, c_T and the gradients of every input and parameter, and the no_grad output and c_T."""
    out, (_, c) = lstm(x, (h0, c0))
    grads = torch.autograd.grad((out * dout).sum() + c.sum(), [x, h0, c0, *lstm.parameters()])
    with torch.no_grad():
        out_ng, (_, c_ng) = lstm(x, (h0, c0))
    return (out, c, *grads, out_ng, c_ng)


@pytest.mark.parametrize("dtype, hidden", [(F64, 5), (F64, 17), (torch.float32, 24)])
def test_whole_sequence_and_per_step_paths_agree(dtype, hidden, monkeypatch):
    """The C engine's three paths at the same small batch: one call for the whole sequence with torch's
    BLAS, the same with the kernel's own matrix products (tiles of 8 or 4 rows by 2 vectors, here with rows
    and columns left over), and one call per step after torch's matrix product. Each against the cell
    stepped (float64) and against each other."""
    torch.manual_seed(8)
    lstm = LSTM(I, hidden, dtype=dtype, engine="c")
    with torch.no_grad():
        for p in lstm.parameters():
            p.add_(0.2 * torch.randn_like(p))
    g = torch.Generator().manual_seed(9)
    batch = 6  # fewer rows than a tile of 8 (AVX-512), or a tile of 4 and 2 left over
    x = torch.randn(T, batch, I, generator=g, dtype=dtype, requires_grad=True)
    h0, c0 = (torch.randn(batch, hidden, generator=g, dtype=dtype, requires_grad=True) for _ in range(2))
    dout = torch.randn(T, batch, hidden, generator=g, dtype=dtype)
    got = {}
    for path in PATHS:
        with monkeypatch.context() as m:
            use_path(m, path)
            got[path] = _values_and_gradients(lstm, x, h0, c0, dout)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == F64 else {"rtol": 2e-5, "atol": 2e-5}
    for path in PATHS[1:]:
        torch.testing.assert_close(got[path], got["blas"], **tol)
    if dtype == F64:
        ref, (_, c_ref) = stepped(lstm.cell, x, h0, c0)
        grads = torch.autograd.grad((ref * dout).sum() + c_ref.sum(), [x, h0, c0, *lstm.parameters()])
        for path in PATHS:
            torch.testing.assert_close(got[path], (ref, c_ref, *grads, ref.detach(), c_ref.detach()),
                                       rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", ["blas", "own product"])
def test_whole_sequence_on_two_threads_with_columns_left_over(path, two_threads, monkeypatch):
    """Both products' columns split over two threads where neither 4H = 36 nor H = 9 is a multiple of the
    column tile (16 or 32), and the rows (3) split unevenly, with torch's BLAS and with the kernel's own
    product: the same values and gradients as the cell stepped."""
    monkeypatch.setattr(lstm_kernel, "SEQUENCE_WORK", 1)  # share even this little work
    use_path(monkeypatch, path)
    batch, hidden = 3, 9
    assert lstm_kernel.whole_sequence(batch) and lstm_kernel.threads(batch, hidden) == 2
    torch.manual_seed(10)
    lstm = LSTM(I, hidden, dtype=F64, engine="c")
    g = torch.Generator().manual_seed(11)
    x = torch.randn(T, batch, I, generator=g, dtype=F64, requires_grad=True)
    h0, c0 = (torch.randn(batch, hidden, generator=g, dtype=F64, requires_grad=True) for _ in range(2))
    dout = torch.randn(T, batch, hidden, generator=g, dtype=F64)
    got = _values_and_gradients(lstm, x, h0, c0, dout)
    ref, (_, c_ref) = stepped(lstm.cell, x, h0, c0)
    grads = torch.autograd.grad((ref * dout).sum() + c_ref.sum(), [x, h0, c0, *lstm.parameters()])
    torch.testing.assert_close(got, (ref, c_ref, *grads, ref.detach(), c_ref.detach()), rtol=1e-10, atol=1e-10)


def test_without_a_compiler_auto_falls_back_and_c_says_why():
    code = ("import torch\n"
            "from helpers.rnn import LSTM\n"
            "from helpers import lstm_kernel\n"
            "ok, why = lstm_kernel.available()\n"
            "assert not ok and 'LNBOOK_NO_C_KERNEL' in why, why\n"
            "out, _ = LSTM(3, 4)(torch.randn(5, 2, 3))\n"
            "assert out.shape == (5, 2, 4)\n"
            "try:\n"
            "    LSTM(3, 4, engine='c')(torch.randn(5, 2, 3))\n"
            "except RuntimeError as err:\n"
            "    assert 'not available' in str(err), err\n"
            "else:\n"
            "    raise AssertionError('engine=c did not raise')\n")
    env = dict(os.environ, LNBOOK_NO_C_KERNEL="1")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_c_engine_refuses_what_it_cannot_run():
    lstm = LSTM(I, H, engine="c", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        lstm(torch.randn(T, B, I, dtype=torch.bfloat16))
