r"""Checkers for the book's fill-in exercises.

Some exercises ask you to complete a function in the cell below them; the cell
after that calls :func:`check`, which runs your function on several small
cases (made up on the spot, always the same ones) and compares what it returns
with an independent reference: PyTorch's autograd or kernels, or the book's
own cells in :mod:`helpers.rnn`.

* While the function still raises :class:`NotImplementedError`, :func:`check`
  prints one line saying what to do and returns ``False``, so a notebook with
  unfinished exercises still runs from top to bottom.
* A wrong answer raises :class:`CheckFailed` (an :class:`AssertionError`) naming
  the case and what is wrong with it: the shape of an output, or its values
  (largest error, and where it is). In Jupyter that is one line, with no frames
  of this module; if your function itself raised, the frames of your code come
  first.
* When every case passes it prints ``All N cases passed.`` and returns ``True``.

The checkers are named after what the function computes, listed in
:data:`CHECKS`:

========================  ============================================================
``batch_norm_backward``   ``(da, dgain, dbias)`` of batch norm, in NumPy
``rms_norm``              RMSNorm's forward pass, in NumPy
``ln_regression_grad``    loss and gradient of a layer-normalized least-squares layer
``ln_rnn_step``           one step of the layer-normalized RNN, the paper's eq. (4)
``ln_lstm_step``          one step of the layer-normalized LSTM, eqs. (20)-(22), in torch
``causal_attention``      causal scaled dot-product attention of a Transformer, in torch
``group_norm``            group norm of an ``(N, C, H, W)`` array, with a gain and bias, in NumPy
``recall_at_k``           Recall@K of image retrieval from a caption-by-image score matrix, in torch
``welford_mean_var``      per-row mean and variance in one pass, Welford's update
``fold_norm``             a norm's gain and bias folded into the next linear layer, in torch
========================  ============================================================

Example::

    >>> def rms_norm_scratch(a, gain, eps=1e-5):
    ...     raise NotImplementedError
    >>> check("rms_norm", rms_norm_scratch)
    Exercise not done yet: ...
    False
"""

from __future__ import annotations

import math
import traceback
from pathlib import Path
from types import MappingProxyType
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CHECKS", "names", "check", "CheckFailed"]

# Tolerances |got - expected| <= ATOL + RTOL * |expected|, by the dtype of the case's inputs.
_TOLERANCES = {np.dtype(np.float64): (1e-7, 1e-9), np.dtype(np.float32): (1e-4, 1e-5)}


class _Case(NamedTuple):
    name: str  # shown in messages, e.g. "B=1, H=5"
    args: tuple  # passed positionally to the student's function
    dtype: np.dtype  # sets the tolerance
    hint: str = ""  # added to a wrong-values message


class _Checker(NamedTuple):
    summary: str  # one line, for CHECKS
    todo: str  # what the "not done yet" line asks for
    arg_names: tuple  # the arguments, in order (for messages)
    outputs: tuple  # names of the returned values, in order
    cases: Callable[[], list]  # -> [_Case]; built on every call, nothing at import
    reference: Callable[..., tuple]  # same arguments -> expected outputs (NumPy, float64)


# ---------------------------------------------------------------------------
# Small tools
# ---------------------------------------------------------------------------

def _f64(x):
    """A float64 torch tensor holding the values of a NumPy array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def _np(x):
    """A NumPy array from whatever the student returned (tensor, array, list, number)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _copy(x):
    """A deep copy of an argument, so that the reference still sees the original."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        return tuple(_copy(v) for v in x)
    return x


def _same(x, y):
    """Has an argument come back unchanged (bit for bit, NaN equal to NaN)?"""
    if isinstance(x, tuple):
        return all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return np.array_equal(_np(x), _np(y), equal_nan=True)
    return True


def _fmt_shape(shape):
    return str(tuple(int(n) for n in shape))


# ---------------------------------------------------------------------------
# The checkers: cases and references
# ---------------------------------------------------------------------------

_EPS_HINT = "eps goes inside the square root: sigma = sqrt(var + eps)"
_OFFSET_HINT = ("the inputs share a large offset: compute the variance as the mean of "
                "(a - mu)**2, not as mean(a**2) - mu**2, which cancels away in floating point")


# --- batch norm's backward pass (chapter 1) -----------------------------------

def _bn_backward_cases():
    rng = np.random.default_rng(101)

    def case(name, B, H, loc=0.0, scale=1.0, eps=1e-5, dtype=np.float64, hint=""):
        a = rng.normal(loc, scale, size=(B, H)).astype(dtype)
        dy = rng.standard_normal((B, H)).astype(dtype)
        gain = rng.normal(1.0, 0.3, size=H).astype(dtype)
        return _Case(name, (dy, a, gain, eps), np.dtype(dtype), hint)

    return [
        case("B=8, H=5", 8, 5),
        case("B=2, H=3 (the smallest batch)", 2, 3),
        case("B=6, H=1 (one unit)", 6, 1),
        case("B=32, H=4, offset 1e5", 32, 4, loc=1e5, hint=_OFFSET_HINT),
        case("B=5, H=3, spread 1e-3 (eps matters)", 5, 3, scale=1e-3, hint=_EPS_HINT),
        case("B=16, H=8, eps=0.5", 16, 8, eps=0.5, hint=_EPS_HINT),
        case("B=8, H=5, float32", 8, 5, loc=2.0, scale=3.0, dtype=np.float32),
    ]


def _bn_backward_reference(dy, a, gain, eps):
    """Autograd through torch's batch norm in training mode (batch statistics)."""
    a_t, g_t = _f64(a).requires_grad_(), _f64(gain).requires_grad_()
    b_t = torch.zeros_like(g_t, requires_grad=True)
    y = F.batch_norm(a_t, None, None, g_t, b_t, training=True, eps=eps)  # (B, H)
    y.backward(_f64(dy))
    return a_t.grad.numpy(), g_t.grad.numpy(), b_t.grad.numpy()


# --- RMSNorm (chapter 2) -----------------------------------------------------

def _rms_norm_cases():
    rng = np.random.default_rng(202)

    def case(name, shape, loc=0.0, scale=1.0, eps=1e-5, dtype=np.float64, hint=""):
        a = rng.normal(loc, scale, size=shape).astype(dtype)
        gain = rng.normal(1.0, 0.3, size=shape[-1]).astype(dtype)
        return _Case(name, (a, gain, eps), np.dtype(dtype), hint)

    return [
        case("B=4, H=8", (4, 8)),
        case("B=1, H=5", (1, 5)),
        case("B=3, H=1 (one unit)", (3, 1)),
        case("B=4, H=6, offset 10", (4, 6), loc=10.0,
             hint="RMSNorm does not subtract the mean: sigma = sqrt(mean(a**2) + eps)"),
        case("B=3, H=4, values of size 1e-3 (eps matters)", (3, 4), scale=1e-3, hint=_EPS_HINT),
        case("shape (2, 3, 6): normalize the last axis", (2, 3, 6),
             hint="take the mean over the last axis only, with keepdims"),
        case("B=4, H=8, float32", (4, 8), loc=1.0, scale=2.0, dtype=np.float32),
    ]


def _rms_norm_reference(a, gain, eps):
    """torch's RMSNorm where it exists (torch >= 2.4), else the formula in float64."""
    a_t, g_t = _f64(a), _f64(gain)
    if hasattr(F, "rms_norm"):
        return (F.rms_norm(a_t, (a_t.shape[-1],), g_t, eps).numpy(),)
    return ((g_t * a_t / torch.sqrt((a_t ** 2).mean(-1, keepdim=True) + eps)).numpy(),)


# --- the gradient of a scale-invariant loss (chapter 3) ----------------------

def _ln_regression_cases():
    rng = np.random.default_rng(303)

    def case(name, N, I, H, w_scale=1.0, eps=1e-5, hint=""):
        W = w_scale * rng.standard_normal((H, I)) / math.sqrt(I)
        X = rng.standard_normal((N, I))
        T = rng.standard_normal((N, H))
        return _Case(name, (W, X, T, eps), np.dtype(np.float64), hint)

    return [
        case("N=8, I=3, H=4", 8, 3, 4),
        case("N=1 (one example)", 1, 3, 5),
        case("N=6, I=2, H=2", 6, 2, 2),
        case("N=10, I=5, H=6, eps=1e-12", 10, 5, 6, eps=1e-12),
        case("N=5, I=4, H=3, W times 100", 5, 4, 3, w_scale=100.0),
        case("N=5, I=4, H=3, W times 1e-3 (eps matters)", 5, 4, 3, w_scale=1e-3, hint=_EPS_HINT),
    ]


def _ln_regression_reference(W, X, T, eps):
    """Autograd through torch's layer norm: L = sum ||LN(W x_n) - t_n||^2 / (2N)."""
    W_t = _f64(W).requires_grad_()
    X_t, T_t = _f64(X), _f64(T)
    a_hat = F.layer_norm(X_t @ W_t.T, (W_t.shape[0],), eps=eps)  # (N, H)
    loss = ((a_hat - T_t) ** 2).sum() / (2 * X_t.shape[0])
    loss.backward()
    return np.asarray(loss.item()), W_t.grad.numpy()


# --- one step of the layer-normalized RNN (chapter 4) ------------------------

def _ln_rnn_cases():
    rng = np.random.default_rng(404)

    def case(name, B, I, H, w_scale=1.0, h_zero=False, eps=1e-5, dtype=np.float64, hint=""):
        x = rng.standard_normal((B, I))
        h = np.zeros((B, H)) if h_zero else np.tanh(rng.standard_normal((B, H)))
        W_xh = w_scale * rng.standard_normal((H, I)) / math.sqrt(I)
        W_hh = w_scale * rng.standard_normal((H, H)) / math.sqrt(H)
        gain = rng.normal(1.0, 0.3, size=H)
        bias = rng.normal(0.0, 0.3, size=H)
        args = tuple(v.astype(dtype) for v in (x, h, W_xh, W_hh, gain, bias)) + (eps,)
        return _Case(name, args, np.dtype(dtype), hint)

    return [
        case("B=4, I=3, H=6", 4, 3, 6),
        case("B=1, I=2, H=5", 1, 2, 5),
        case("B=3, I=1, H=4 (one input)", 3, 1, 4),
        case("B=2, I=3, H=6, h = 0 (the first step)", 2, 3, 6, h_zero=True),
        case("B=5, I=3, H=4, weights times 1e-3 (eps matters)", 5, 3, 4, w_scale=1e-3,
             hint=_EPS_HINT),
        case("B=4, I=3, H=6, float32", 4, 3, 6, dtype=np.float32),
    ]


def _ln_rnn_reference(x, h, W_xh, W_hh, gain, bias, eps):
    """The book's cell: helpers.rnn.RNNCell(norm="layer") with these weights."""
    from .rnn import RNNCell  # not at import time: helpers.rnn pulls in torch.nn

    H, I = np.shape(W_xh)
    cell = RNNCell(I, H, norm="layer", eps=eps, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(_f64(W_xh))
        cell.weight_hh.copy_(_f64(W_hh))
        cell.ln.weight.copy_(_f64(gain))
        cell.ln.bias.copy_(_f64(bias))
        return (cell(_f64(x), _f64(h)).numpy(),)


# --- one step of the layer-normalized LSTM (chapter 5) -----------------------

def _ln_lstm_cases():
    gen = torch.Generator().manual_seed(505)

    def randn(*shape, scale=1.0, loc=0.0):
        return loc + scale * torch.randn(*shape, generator=gen, dtype=torch.float64)

    def case(name, B, I, H, dtype=torch.float64, hint=""):
        x, h, c = randn(B, I), torch.tanh(randn(B, H)), randn(B, H)
        W_ih = randn(4 * H, I, scale=1 / math.sqrt(I))
        W_hh = randn(4 * H, H, scale=1 / math.sqrt(H))
        ln_ih = (randn(4 * H, scale=0.3, loc=1.0), randn(4 * H, scale=0.3))
        ln_hh = (randn(4 * H, scale=0.3, loc=1.0), randn(4 * H, scale=0.3))
        ln_c = (randn(H, scale=0.3, loc=1.0), randn(H, scale=0.3))
        cast = lambda v: tuple(cast(u) for u in v) if isinstance(v, tuple) else v.to(dtype)  # noqa: E731
        args = tuple(cast(v) for v in (x, h, c, W_ih, W_hh, ln_ih, ln_hh, ln_c)) + (1e-5,)
        return _Case(name, args, np.dtype(str(dtype).removeprefix("torch.")), hint)

    return [
        case("B=3, I=2, H=4", 3, 2, 4),
        case("B=1, I=3, H=5", 1, 3, 5),
        case("B=4, I=1, H=3 (one input)", 4, 1, 3),
        case("B=2, I=2, H=1 (one unit)", 2, 2, 1),
        case("B=3, I=2, H=4, float32", 3, 2, 4, dtype=torch.float32),
    ]


def _ln_lstm_reference(x, h, c, W_ih, W_hh, ln_ih, ln_hh, ln_c, eps):
    """The book's cell: helpers.rnn.LSTMCell(norm="layer") with these parameters."""
    from .rnn import LSTMCell

    H, I = h.shape[-1], x.shape[-1]
    cell = LSTMCell(I, H, norm="layer", eps=eps, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(_f64(W_ih))
        cell.weight_hh.copy_(_f64(W_hh))
        for module, (gain, bias) in ((cell.ln_ih, ln_ih), (cell.ln_hh, ln_hh), (cell.ln_c, ln_c)):
            module.weight.copy_(_f64(gain))
            module.bias.copy_(_f64(bias))
        h_new, c_new = cell(_f64(x), (_f64(h), _f64(c)))
    return h_new.numpy(), c_new.numpy()


# --- causal self-attention (chapter 6, the Transformer) ----------------------

def _attention_cases():
    gen = torch.Generator().manual_seed(606)

    def case(name, B, nh, T, hs, scale=1.0, dtype=torch.float64, hint=""):
        q, k, v = (scale * torch.randn(B, nh, T, hs, generator=gen, dtype=torch.float64) for _ in range(3))
        return _Case(name, (q.to(dtype), k.to(dtype), v.to(dtype)), np.dtype(str(dtype).removeprefix("torch.")), hint)

    return [
        case("B=2, heads=2, T=5, hs=4", 2, 2, 5, 4),
        case("B=1, heads=1, T=1 (one token)", 1, 1, 1, 3),
        case("B=1, heads=3, T=6, hs=8", 1, 3, 6, 8,
             hint="scores are q k^T / sqrt(hs), hs being the last dim of q"),
        case("B=2, heads=1, T=4, hs=2, large scores", 2, 1, 4, 2, scale=6.0,
             hint="mask with -inf (or a very negative number) before the softmax, not after it"),
        case("B=2, heads=2, T=5, hs=4, float32", 2, 2, 5, 4, dtype=torch.float32),
    ]


def _attention_reference(q, k, v):
    """torch's fused kernel with is_causal=True, in float64."""
    return (F.scaled_dot_product_attention(_f64(q), _f64(k), _f64(v), is_causal=True).numpy(),)


# --- group norm from primitives (chapter 6, convolutional networks) ---------

def _group_norm_cases():
    rng = np.random.default_rng(607)

    def case(name, N, C, H, W, G, offset=0.0, dtype=np.float64, hint=""):
        x = (offset + rng.normal(0.0, 2.0, size=(N, C, H, W))).astype(dtype)
        gain = rng.normal(1.0, 0.3, size=C).astype(dtype)
        bias = rng.normal(0.0, 0.5, size=C).astype(dtype)
        return _Case(name, (x, G, gain, bias, 1e-5), np.dtype(dtype), hint)

    return [
        case("N=2, C=6, H=W=3, G=3", 2, 6, 3, 3, 3),
        case("N=2, C=4, H=2, W=3, G=1 (layer norm)", 2, 4, 2, 3, 1),
        case("N=3, C=4, H=W=2, G=4 (instance norm)", 3, 4, 2, 2, 4),
        case("N=1, C=8, H=1, W=5, G=2", 1, 8, 1, 5, 2,
             hint="each group is C // G consecutive channels of one example, over all of H and W"),
        case("N=2, C=6, H=W=2, G=2, offset 1e6", 2, 6, 2, 2, 2, offset=1e6, hint=_OFFSET_HINT),
        case("N=2, C=6, H=W=3, G=3, float32", 2, 6, 3, 3, 3, dtype=np.float32),
    ]


def _group_norm_reference(x, G, gain, bias, eps):
    """torch's F.group_norm in float64."""
    return (F.group_norm(_f64(x), int(G), _f64(gain), _f64(bias), eps).numpy(),)

# --- Recall@K (chapter 7, order embeddings) ------------------------------------

def _recall_cases():
    gen = torch.Generator().manual_seed(707)

    def case(name, n, k, dtype=torch.float64, diag=0.0, hint=""):
        s = torch.randn(n, n, generator=gen, dtype=torch.float64) + diag * torch.eye(n, dtype=torch.float64)
        return _Case(name, (s.to(dtype), k), np.dtype(str(dtype).removeprefix("torch.")), hint)

    return [
        case("N=8, K=1", 8, 1, hint="R@1 counts the captions whose own image scores highest in their row"),
        case("N=12, K=5", 12, 5, hint="the right image of caption j is column j of row j; rank the row, not the column"),
        case("N=10, K=3, right pairs favoured", 10, 3, diag=1.5),
        case("N=4, K=10 (K > N)", 4, 10, hint="with K >= N every caption finds its image"),
        case("N=30, K=10, float32", 30, 10, dtype=torch.float32, hint="return a percentage, 0 to 100"),
    ]


def _recall_reference(scores, k):
    """Sort each row in descending order and look for the diagonal entry among the first k."""
    s = _f64(scores)  # (N, N)
    order = torch.argsort(s, dim=1, descending=True)  # (N, N), column indices, best first
    own = torch.arange(len(s))[:, None]  # (N, 1)
    position = (order == own).float().argmax(dim=1)  # (N,), 0 = first
    return (np.asarray(100.0 * (position < k).double().mean().item()),)

# --- Welford's one-pass mean and variance (chapter 9, layer norm at speed) ----

def _welford_cases():
    rng = np.random.default_rng(909)

    def case(name, B, H, offset=0.0, hint=""):
        return _Case(name, (offset + rng.standard_normal((B, H)),), np.dtype(np.float64), hint)

    return [
        case("B=3, H=8", 3, 8),
        case("B=1, H=1 (one value: variance 0)", 1, 1),
        case("B=4, H=64, offset 1e6", 4, 64, offset=1e6,
             hint="E[x^2] - E[x]^2 cancels when the mean is large; update a running mean and M2 instead"),
        case("B=2, H=200, offset -3e5", 2, 200, offset=-3e5,
             hint="E[x^2] - E[x]^2 cancels when the mean is large; update a running mean and M2 instead"),
        case("B=5, H=2", 5, 2, hint="divide M2 by H (the biased variance), not by H - 1"),
    ]


def _welford_reference(x):
    """NumPy's mean and biased variance (two passes), float64."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(-1), x.var(-1)


# --- folding a norm's gain and bias into the next linear layer (chapter 10) ----

def _fold_cases():
    gen = torch.Generator().manual_seed(1010)

    def case(name, C, out, dtype=torch.float64, hint=""):
        gain = 1.0 + 0.5 * torch.randn(C, generator=gen, dtype=torch.float64)
        beta = 0.5 * torch.randn(C, generator=gen, dtype=torch.float64)
        W = torch.randn(out, C, generator=gen, dtype=torch.float64)
        b = torch.randn(out, generator=gen, dtype=torch.float64)
        args = tuple(t.to(dtype) for t in (gain, beta, W, b))
        return _Case(name, args, np.dtype(str(dtype).removeprefix("torch.")), hint)

    return [
        case("C=4, out=3", 4, 3),
        case("C=5, out=5 (square W)", 5, 5,
             hint="W' = W diag(gain) scales column j of W (input feature j) by gain_j, not row i"),
        case("C=3, out=1", 3, 1),
        case("C=6, out=2", 6, 2, hint="b' = b + W beta: the bias the norm adds passes through W first"),
        case("C=8, out=4, float32", 8, 4, dtype=torch.float32),
    ]


def _fold_reference(gain, beta, W, b):
    """helpers.folding.fold_norm_into_linear on a float64 LayerNorm and nn.Linear with these parameters."""
    from . import folding, norms  # not at import: folding imports the Transformer

    out_features, C = W.shape
    ln = norms.LayerNorm(C).double()
    lin = torch.nn.Linear(C, out_features).double()
    with torch.no_grad():
        ln.weight.copy_(_f64(gain))
        ln.bias.copy_(_f64(beta))
        lin.weight.copy_(_f64(W))
        lin.bias.copy_(_f64(b))
    _, folded = folding.fold_norm_into_linear(ln, lin)
    return folded.weight.detach().numpy(), folded.bias.detach().numpy()


_REGISTRY = {
    "batch_norm_backward": _Checker(
        summary="batch norm's gradients (da, dgain, dbias) for a (B, H) input, in NumPy",
        todo="complete the cell above so that it returns batch norm's gradients "
             "(da, dgain, dbias), then run this cell again.",
        arg_names=("dy", "a", "gain", "eps"),
        outputs=("da", "dgain", "dbias"),
        cases=_bn_backward_cases,
        reference=_bn_backward_reference,
    ),
    "rms_norm": _Checker(
        summary="RMSNorm of the last axis, with a gain, in NumPy",
        todo="complete the cell above so that it returns gain * a / sqrt(mean(a**2) + eps) "
             "over the last axis, then run this cell again.",
        arg_names=("a", "gain", "eps"),
        outputs=("y",),
        cases=_rms_norm_cases,
        reference=_rms_norm_reference,
    ),
    "ln_regression_grad": _Checker(
        summary="loss and gradient of a layer-normalized layer fitted by squared error, in NumPy",
        todo="complete the cell above so that it returns (loss, grad) of the layer-normalized "
             "least-squares loss, then run this cell again.",
        arg_names=("W", "X", "T", "eps"),
        outputs=("loss", "grad"),
        cases=_ln_regression_cases,
        reference=_ln_regression_reference,
    ),
    "ln_rnn_step": _Checker(
        summary="one step of the layer-normalized RNN, the paper's eq. (4), in NumPy",
        todo="complete the cell above so that it returns the next hidden state "
             "h_t = tanh(gain / sigma * (a_t - mu) + bias), then run this cell again.",
        arg_names=("x", "h", "W_xh", "W_hh", "gain", "bias", "eps"),
        outputs=("h_new",),
        cases=_ln_rnn_cases,
        reference=_ln_rnn_reference,
    ),
    "ln_lstm_step": _Checker(
        summary="one step of the layer-normalized LSTM, the paper's eqs. (20)-(22), in torch",
        todo="complete the cell above so that it returns (h_new, c_new) of one "
             "layer-normalized LSTM step, then run this cell again.",
        arg_names=("x", "h", "c", "W_ih", "W_hh", "ln_ih", "ln_hh", "ln_c", "eps"),
        outputs=("h_new", "c_new"),
        cases=_ln_lstm_cases,
        reference=_ln_lstm_reference,
    ),
    "causal_attention": _Checker(
        summary="causal scaled dot-product attention of (B, heads, T, hs) queries, keys and values, in torch",
        todo="complete the cell above so that it returns softmax(q k^T / sqrt(hs), masked so that "
             "position t sees only positions <= t) v, then run this cell again.",
        arg_names=("q", "k", "v"),
        outputs=("y",),
        cases=_attention_cases,
        reference=_attention_reference,
    ),
    "group_norm": _Checker(
        summary="group norm of an (N, C, H, W) array with G groups, a gain and a bias, in NumPy",
        todo="complete the cell above so that it returns group norm of x: statistics per example over "
             "each group of C // G channels and all positions, then gain and bias per channel; "
             "then run this cell again.",
        arg_names=("x", "G", "gain", "bias", "eps"),
        outputs=("y",),
        cases=_group_norm_cases,
        reference=_group_norm_reference,
    ),
    "recall_at_k": _Checker(
        summary="Recall@K (%) of retrieving each caption's image from an (N, N) score matrix, in torch",
        todo="complete the cell above so that it returns the percentage of rows whose diagonal entry "
             "is among the row's k largest scores, then run this cell again.",
        arg_names=("scores", "k"),
        outputs=("recall",),
        cases=_recall_cases,
        reference=_recall_reference,
    ),
    "welford_mean_var": _Checker(
        summary="per-row mean and biased variance of a (B, H) array in one pass, by Welford's update",
        todo="complete the cell above so that it returns (mean, var) of every row, updating a running "
             "mean and M2 one column at a time, then run this cell again.",
        arg_names=("x",),
        outputs=("mean", "var"),
        cases=_welford_cases,
        reference=_welford_reference,
    ),
    "fold_norm": _Checker(
        summary="a norm's gain and bias folded into the linear layer after it: (W diag(gain), b + W beta), in torch",
        todo="complete the cell above so that it returns (W_folded, b_folded) = (W diag(gain), b + W beta), "
             "then run this cell again.",
        arg_names=("gain", "beta", "W", "b"),
        outputs=("W_folded", "b_folded"),
        cases=_fold_cases,
        reference=_fold_reference,
    ),
}

#: The checkers' names, each with a one-line description of what it checks.
CHECKS = MappingProxyType({name: c.summary for name, c in _REGISTRY.items()})


def names():
    """The names :func:`check` accepts, as a tuple of strings."""
    return tuple(CHECKS)


# ---------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------

def _compare(case, fn_name, checker, got):
    """Raise AssertionError if ``got`` does not match the reference on ``case``."""
    where = f"case {case.name!r}"
    outputs = checker.outputs
    if len(outputs) > 1:
        if not isinstance(got, (tuple, list)) or len(got) != len(outputs):
            what = f"{len(got)} values" if isinstance(got, (tuple, list)) else f"a {type(got).__name__}"
            raise AssertionError(
                f"{where}: {fn_name} returned {what}, but should return {len(outputs)} values: "
                f"({', '.join(outputs)})"
            )
    else:
        got = (got,)
    expected = checker.reference(*case.args)
    rtol, atol = _TOLERANCES[case.dtype]
    for name, g, e in zip(outputs, got, expected):
        if g is None:
            raise AssertionError(f"{where}: {name} is None; did the function forget to return it?")
        try:
            g = _np(g)
        except Exception as err:  # a value that is not numbers at all
            raise AssertionError(f"{where}: {name} is not an array of numbers ({err})") from err
        if g.dtype.kind not in "biuf":
            raise AssertionError(f"{where}: {name} has dtype {g.dtype}, not real numbers")
        if g.shape != e.shape:
            raise AssertionError(
                f"{where}: {name} has shape {_fmt_shape(g.shape)} but should be {_fmt_shape(e.shape)}"
            )
        g = g.astype(np.float64)
        if not np.isfinite(g).all():
            raise AssertionError(f"{where}: {name} contains NaN or inf")
        err = np.abs(g - e)
        bad = err > atol + rtol * np.abs(e)
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), err.shape)
            at = f" at index {tuple(int(i) for i in k)}" if err.ndim else ""
            hint = case.hint
            if not hint and err.max() < 1e-3 * max(1.0, float(np.abs(e).max())):
                hint = ("an error this small often comes from where eps goes "
                        "(inside the square root) or from the variance's divisor")
            hint = f" Hint: {hint}." if hint else ""
            raise AssertionError(
                f"{where}: {name} is wrong: max |error| = {err.max():.2e}{at} "
                f"(got {g[k]:.6g}, expected {e[k]:.6g}; tolerance {atol:.0e} + {rtol:.0e} * |expected|)."
                f"{hint}"
            )


class CheckFailed(AssertionError):
    """A fill-in answer that does not match the reference, or that raised.

    IPython renders an exception through its ``_render_traceback_`` when it has one: here the verdict
    in one line, after the frames of the reader's own function if it raised (never this module's).
    """

    def __init__(self, message, error=None):
        super().__init__(message)
        self.error = error

    def _render_traceback_(self):
        lines = []
        if self.error is not None:
            here = Path(__file__).resolve()
            frames = [f for f in traceback.extract_tb(self.error.__traceback__) if Path(f.filename).resolve() != here]
            lines = "".join(traceback.format_list(frames)).splitlines()
        return [*lines, f"CheckFailed: {self}"]


def check(name, fn):
    """Run ``fn`` on the cases of checker ``name`` and compare it with the reference.

    Args:
        name (str): the checker, one of :func:`names` (e.g. ``"rms_norm"``).
        fn (callable): the function you completed; it is called with the
            arguments the exercise describes, positionally, on copies of the
            case's arrays.

    Returns:
        bool: ``True`` if every case passed (and prints ``All N cases passed.``);
        ``False`` if ``fn`` raised :class:`NotImplementedError` (and prints
        ``Exercise not done yet: ...``).

    Raises:
        CheckFailed: (an ``AssertionError``) on the first case ``fn`` gets wrong,
            naming the case and what is wrong (an exception ``fn`` raised, an
            output's shape, its values, or an argument it changed in place).
        ValueError: if ``name`` is not a checker.
        TypeError: if ``fn`` is not callable.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"check: unknown checker {name!r}; the checkers are: {', '.join(names())}")
    if not callable(fn):
        raise TypeError(f"check: fn must be the function to check, got {type(fn).__name__} {fn!r}")
    checker = _REGISTRY[name]
    fn_name = getattr(fn, "__name__", "the function")
    cases = checker.cases()
    for case in cases:
        args = tuple(_copy(a) for a in case.args)
        try:
            got = fn(*args)
        except NotImplementedError:
            print(f"Exercise not done yet: {checker.todo}")
            return False
        except Exception as err:
            raise CheckFailed(f"case {case.name!r}: {fn_name} raised {type(err).__name__}: {err}", err) from err
        for arg_name, before, after in zip(checker.arg_names, case.args, args):
            if not _same(before, after):
                raise CheckFailed(f"case {case.name!r}: {fn_name} changed its argument {arg_name!r} in place; "
                                  "compute new arrays instead")
        try:
            _compare(case, fn_name, checker, got)
        except AssertionError as err:
            raise CheckFailed(str(err)) from None
    print(f"All {len(cases)} cases passed.")
    return True
