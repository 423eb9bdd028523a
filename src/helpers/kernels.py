r"""Layer norm as a kernel: the ways to compute it, and how precisely each one does.

Chapter 9 times and compares these; :mod:`helpers.bench` measures them.

* :func:`naive_layer_norm`: the formula as separate tensor operations, each a
  full pass over memory. :func:`compiled_layer_norm` hands the same function
  to ``torch.compile``, which fuses it into one loop (a C++ kernel on a CPU);
  :func:`compile_available` says whether ``torch.compile`` can build one here.
* :func:`variance` with ``method`` ``"one-pass"`` (:math:`E[x^2] - E[x]^2`),
  ``"two-pass"`` (:math:`E[(x - E[x])^2]`) or ``"welford"`` (Welford's running
  update, :func:`welford_update`), accumulated in a dtype of your choice, to
  see catastrophic cancellation.
* :func:`layer_norm_backward_rows`: the closed-form backward pass of chapter 1
  (one row at a time for ``dx``; column sums for the gain and bias gradients),
  in torch, as a kernel would compute it.
* :func:`c_layer_norm` (and :func:`c_available`): the same fused loop written by
  hand in C (``helpers/layer_norm_kernel.c``, forward and backward), compiled on
  first use by the system's C compiler and called through ctypes; float32 and
  float64 on a CPU.
* :func:`triton_available` and :func:`triton_layer_norm`: a Triton kernel
  (forward and backward) that runs only on a CUDA GPU with Triton installed;
  nothing here imports Triton unless it is called there.

Nothing runs at import.
"""

from __future__ import annotations

import functools
import importlib.util
import types

import torch

from . import _native
from ._checks import check_choice, check_eps, check_instance, check_tensor

__all__ = [
    "VARIANCE_METHODS",
    "naive_layer_norm",
    "compiled_layer_norm",
    "compile_available",
    "variance",
    "welford_update",
    "layer_norm_backward_rows",
    "c_available",
    "c_layer_norm",
    "c_threads",
    "triton_available",
    "triton_layer_norm",
]

#: The ways :func:`variance` computes a row's variance.
VARIANCE_METHODS = ("one-pass", "two-pass", "welford")


def _check_rows(x, where, weight=None, bias=None):
    check_tensor(x, "x", where)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"{where}: x must have shape (*, H) with H >= 1, got {tuple(x.shape)}")
    for p, name in ((weight, "weight"), (bias, "bias")):
        if p is not None and tuple(check_tensor(p, name, where).shape) != (x.shape[-1],):
            raise ValueError(f"{where}: {name} must have shape ({x.shape[-1]},) to match x, got {tuple(p.shape)}")


def _naive(x, weight, bias, eps: float):
    mu = x.mean(-1, keepdim=True)  # (*, 1): pass 1 reads x
    xc = x - mu  # (*, H): pass 2 reads x, writes xc
    var = (xc * xc).mean(-1, keepdim=True)  # (*, 1): passes 3-4 write and read xc*xc
    y = xc * torch.rsqrt(var + eps)  # (*, H): pass 5
    return y * weight + bias  # (*, H): passes 6-7


def naive_layer_norm(x, weight, bias, eps=1e-5):
    r"""Layer norm of the last axis as separate tensor operations (an "unfused" composite).

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    Each line of the body is one operation that reads and writes whole
    tensors; in eager mode every one is a pass over memory.

    Args:
        x (Tensor): input, normalized over its last axis.
        weight (Tensor): gain :math:`\gamma`.
        bias (Tensor): bias :math:`\beta`.
        eps (float): Default: 1e-5

    Shape:
        - x: :math:`(*, H)`; weight, bias: :math:`(H,)`; output: like x.

    Example::

        >>> x = torch.randn(4, 8)
        >>> y = naive_layer_norm(x, torch.ones(8), torch.zeros(8))
        >>> torch.allclose(y, torch.nn.functional.layer_norm(x, (8,)), atol=1e-6)
        True
    """
    where = "naive_layer_norm"
    _check_rows(x, where, weight, bias)
    return _naive(x, weight, bias, float(check_eps(eps, where)))


@functools.cache
def _compiled(dynamic, signature):
    """One compiled function per signature, so that no shape uses up another's recompilations.

    Dynamo keeps its cache, and its limit of recompilations, on the *code object*, so
    each signature gets its own copy of ``_naive``'s code (renamed): without it, the
    ninth (dtype, width, autograd) combination would silently run uncompiled.
    """
    code = _naive.__code__.replace(co_name=f"_naive_{abs(hash(signature)):x}")
    return torch.compile(types.FunctionType(code, _naive.__globals__, code.co_name), dynamic=dynamic)


def compiled_layer_norm(x, weight, bias, eps=1e-5, *, dynamic=False):
    """:func:`naive_layer_norm` compiled by ``torch.compile`` (fused into one kernel).

    The first call for a new shape or dtype compiles (seconds, or tens of
    seconds on a small CPU); later calls reuse the kernel. Needs a C compiler
    on a CPU. ``dynamic=True`` compiles once for every row width.

    Args and shape: as :func:`naive_layer_norm`.
    """
    where = "compiled_layer_norm"
    _check_rows(x, where, weight, bias)
    # static: a kernel per (dtype, width, autograd or not); dynamic: one per dtype and autograd
    signature = (x.dtype, x.device.type, None if dynamic else x.shape[-1],
                 torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
    return _compiled(bool(dynamic), signature)(x, weight, bias, float(check_eps(eps, where)))


def _compile_probe(x):
    return x * 2.0 + 1.0


@functools.cache
def compile_available():
    """``(True, "")`` if ``torch.compile`` builds a CPU kernel here, else ``(False, reason)``.

    On a CPU, ``torch.compile`` generates C++ and builds it with a C++ compiler (``$CXX``,
    else ``g++``; on macOS ``clang++``, with OpenMP): without a working one its first call
    raises ``InductorError``. The check compiles and runs a one-line function, once per
    session (the first use of ``torch.compile`` takes seconds); ``reason`` is the first line
    of the error. Use it before :func:`compiled_layer_norm` and skip that comparison when it
    is ``False``.

    Example::

        >>> ok, reason = compile_available()
        >>> ok or bool(reason)
        True
    """
    try:
        torch.compile(_compile_probe)(torch.ones(8))
    except Exception as err:  # InductorError without a compiler; any failure means: not here
        lines = str(err).strip().splitlines() or [type(err).__name__]
        return False, f"torch.compile could not build a CPU kernel here ({lines[0].strip()})"
    return True, ""

def welford_update(count, mean, m2, x):
    r"""One step of Welford's running mean and variance: add the values ``x``.

    .. math::
        n \leftarrow n + 1, \quad \delta = x - \bar x, \quad
        \bar x \leftarrow \bar x + \delta / n, \quad
        M_2 \leftarrow M_2 + \delta\,(x - \bar x)

    after which the biased variance of the values seen so far is :math:`M_2 / n`.
    No large sum is ever formed, so nothing large cancels.

    Args:
        count (int): values seen before this one, :math:`n`.
        mean, m2 (Tensor): running mean and sum of squared deviations (one per row).
        x (Tensor): the next value of every row.

    Returns:
        ``(count + 1, mean, m2)``, updated.

    Example::

        >>> n, mean, m2 = 0, torch.zeros(1), torch.zeros(1)
        >>> for v in (1.0, 2.0, 3.0):
        ...     n, mean, m2 = welford_update(n, mean, m2, torch.tensor([v]))
        >>> mean.item(), (m2 / n).item()
        (2.0, 0.6666666865348816)
    """
    count = count + 1
    delta = x - mean
    mean = mean + delta / count
    m2 = m2 + delta * (x - mean)
    return count, mean, m2


def variance(x, method="two-pass", dtype=None):
    r"""The biased variance of every row (last axis), computed and accumulated in ``dtype``.

    * ``"one-pass"``: :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2` from the two sums;
      when :math:`|\mathrm{E}[x]| \gg` the standard deviation, two nearly equal
      numbers are subtracted and the digits that mattered are lost.
    * ``"two-pass"``: the mean first, then :math:`\mathrm{E}[(x - \mathrm{E}[x])^2]`.
    * ``"welford"``: one pass with :func:`welford_update`, column by column.

    Every intermediate is rounded to ``dtype``: the sums of ``"one-pass"`` and
    ``"two-pass"`` are column-by-column running sums in ``dtype`` (as a
    low-precision accumulator would hold them), not torch's reductions, which
    may accumulate in higher precision.

    Args:
        x (Tensor): values, rows on the last axis.
        method (str): one of :data:`VARIANCE_METHODS`. Default: ``"two-pass"``
        dtype (torch.dtype, optional): accumulation dtype. Default: ``x.dtype``

    Shape:
        - x: :math:`(*, H)`; output: :math:`(*)`, in ``dtype``.

    Example::

        >>> x = 1e4 + torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
        >>> [round(variance(x.float(), m).item(), 3) for m in VARIANCE_METHODS]
        [0.0, 0.667, 0.667]
    """
    where = "variance"
    _check_rows(x, where)
    method = check_choice(method, "method", VARIANCE_METHODS, where)
    dtype = x.dtype if dtype is None else check_instance(dtype, torch.dtype, "dtype", where, "a torch.dtype")
    x = x.to(dtype)
    n = x.shape[-1]
    if method == "welford":
        count, mean, m2 = 0, x.new_zeros(x.shape[:-1]), x.new_zeros(x.shape[:-1])  # (*,) each
        for j in range(n):
            count, mean, m2 = welford_update(count, mean, m2, x[..., j])
        return m2 / n
    s1 = _running_sum(x)  # (*,)
    mean = s1 / n
    if method == "one-pass":
        return _running_sum(x * x) / n - mean * mean  # (*,)
    xc = x - mean.unsqueeze(-1)  # (*, H)
    return _running_sum(xc * xc) / n  # (*,)


def _running_sum(x):
    """Sum over the last axis by a running total in x's dtype (rounded after every addition)."""
    total = x[..., 0].clone()  # (*,)
    for j in range(1, x.shape[-1]):
        total = total + x[..., j]
    return total


def layer_norm_backward_rows(dy, x, weight, eps=1e-5):
    r"""The backward pass of layer norm as a kernel computes it: per-row ``dx``, column sums.

    With :math:`\hat x = (x - \mu)\,r`, :math:`r = 1/\sqrt{\sigma^2 + \epsilon}` and
    :math:`g = \gamma \odot \partial L/\partial y` (chapter 1):

    .. math::
        \frac{\partial L}{\partial x} = r\,\big(g - \operatorname{mean}(g)
            - \hat x \operatorname{mean}(g \odot \hat x)\big), \qquad
        \frac{\partial L}{\partial \gamma} = \sum_{\text{rows}} \frac{\partial L}{\partial y} \odot \hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum_{\text{rows}} \frac{\partial L}{\partial y}

    ``dx`` needs only its own row (two row reductions); the gain and bias
    gradients are sums over all rows, which a GPU kernel does in two stages:
    each block of rows writes a partial sum, and a second pass adds the partials.
    Statistics are accumulated in float32 for float16/bfloat16 input.

    Args:
        dy, x (Tensor): upstream gradient and the forward input.
        weight (Tensor): the gain :math:`\gamma`.
        eps (float): Default: 1e-5

    Shape:
        - dy, x: :math:`(*, H)`; weight: :math:`(H,)`
        - Output: ``(dx, dweight, dbias)``: :math:`(*, H)`, :math:`(H,)`, :math:`(H,)`.
    """
    where = "layer_norm_backward_rows"
    _check_rows(x, where, weight)
    check_tensor(dy, "dy", where)
    if dy.shape != x.shape:
        raise ValueError(f"{where}: dy must have x's shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    eps = check_eps(eps, where)
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    xf, dyf, wf = x.to(acc), dy.to(acc), weight.to(acc)
    mu = xf.mean(-1, keepdim=True)  # (*, 1)
    r = torch.rsqrt(((xf - mu) ** 2).mean(-1, keepdim=True) + eps)  # (*, 1)
    x_hat = (xf - mu) * r  # (*, H)
    g = dyf * wf  # (*, H)
    dx = r * (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True))  # (*, H)
    rows = tuple(range(x.dim() - 1))
    dweight = (dyf * x_hat).sum(rows)  # (*, H) -> (H,)
    dbias = dyf.sum(rows)  # (*, H) -> (H,)
    return dx.to(x.dtype), dweight.to(weight.dtype), dbias.to(weight.dtype)


_C_SIGNATURES = _native.signatures(ln_forward=(3, 1, 6), ln_backward=(3, 0, 8))

#: Below this many elements the C layer norm runs on one thread: starting the others costs more than it saves.
C_THREADS_FROM = 1 << 15


def c_threads(n, h):
    """Threads the C layer norm uses for ``n`` rows of width ``h``: torch's (``torch.get_num_threads()``), at most
    one per row, and one for inputs under :data:`C_THREADS_FROM` elements."""
    return 1 if n * h < C_THREADS_FROM else max(1, min(torch.get_num_threads(), n))


def c_available():
    """``(True, "")`` if the C layer norm kernel compiles and loads here, else ``(False, reason)``."""
    return _native.available("layer_norm_kernel", _C_SIGNATURES)


def _c_forward(x, weight, bias, eps):
    """The C forward kernel: ``(y, x as (N, H), mean (N,), rstd (N,))``."""
    forward = _native.function("layer_norm_kernel", _C_SIGNATURES, "ln_forward", x.dtype)
    h = x.shape[-1]
    x2 = x.contiguous().view(-1, h)  # (N, H): every leading axis is a row
    n = x2.shape[0]
    w, b = weight.detach().contiguous(), bias.detach().contiguous()
    y, mean, rstd = torch.empty_like(x2), x2.new_empty(n), x2.new_empty(n)  # (N, H), (N,), (N,)
    forward(n, h, c_threads(n, h), eps, x2.data_ptr(), w.data_ptr(), b.data_ptr(), y.data_ptr(), mean.data_ptr(),
            rstd.data_ptr())
    return y.view(x.shape), x2, mean, rstd


class _CLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, x2, mean, rstd = _c_forward(x, weight, bias, eps)
        ctx.save_for_backward(x2, weight.detach().contiguous(), mean, rstd)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x2, w, mean, rstd = ctx.saved_tensors
        backward = _native.function("layer_norm_kernel", _C_SIGNATURES, "ln_backward", x2.dtype)
        n, h = x2.shape
        dy2 = dy.contiguous().view(n, h)
        p = c_threads(n, h)
        dx, dw, db = torch.empty_like(x2), w.new_zeros(p, h), w.new_zeros(p, h)  # dw, db: one row per thread's block
        backward(n, h, p, dy2.data_ptr(), x2.data_ptr(), mean.data_ptr(), rstd.data_ptr(), w.data_ptr(),
                 dx.data_ptr(), dw.data_ptr(), db.data_ptr())
        return dx.view(dy.shape), dw.sum(0), db.sum(0), None  # (P, H) -> (H,)


def c_layer_norm(x, weight, bias, eps=1e-5):
    r"""Layer norm of the last axis by a hand-written C kernel (``helpers/layer_norm_kernel.c``).

    Computes what :func:`naive_layer_norm` computes (biased variance, eps inside
    the square root), in one loop over the rows: mean and variance in two passes
    over a row held in cache, then the output. Its backward pass is chapter 1's
    closed form in C, with the gain and bias gradients summed row by row. The
    rows are split into blocks over torch's threads (:func:`c_threads`). The
    first call compiles the kernel (a second or two; cached on disk).

    Args: as :func:`naive_layer_norm`; ``x``, ``weight`` and ``bias`` all
    float32 or all float64, on a CPU.

    Shape:
        - x: :math:`(*, H)`; weight, bias: :math:`(H,)`; output: like x.

    Raises:
        TypeError: for another dtype or device. RuntimeError: where the kernel
        cannot be built (:func:`c_available` says why).

    Example::

        >>> x = torch.randn(4, 8)
        >>> y = c_layer_norm(x, torch.ones(8), torch.zeros(8))
        >>> torch.allclose(y, torch.nn.functional.layer_norm(x, (8,)), atol=1e-6)
        True
    """
    where = "c_layer_norm"
    _check_rows(x, where, weight, bias)
    eps = float(check_eps(eps, where))
    if (x.dtype not in _native.SUFFIX or weight.dtype != x.dtype or bias.dtype != x.dtype
            or x.device.type != "cpu" or weight.device.type != "cpu" or bias.device.type != "cpu"):
        raise TypeError(f"{where}: x, weight and bias must all be float32 or all float64 on a CPU, got "
                        f"{x.dtype}/{weight.dtype}/{bias.dtype} on {x.device}/{weight.device}/{bias.device}")
    ok, why = c_available()
    if not ok:
        raise RuntimeError(f"{where}: the C kernel is not available here ({why})")
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or bias.requires_grad):
        return _CLayerNorm.apply(x, weight, bias, eps)
    return _c_forward(x, weight, bias, eps)[0]  # no graph to record: skip autograd's bookkeeping


def triton_available():
    """True when a CUDA GPU and the ``triton`` package are both present."""
    return torch.cuda.is_available() and importlib.util.find_spec("triton") is not None


def triton_layer_norm(x, weight, bias, eps=1e-5):
    """Layer norm of the last axis by the book's Triton kernels, differentiable (CUDA only).

    Forward: one program per row, statistics in float32. Backward: per-row
    ``dx`` and the gain and bias gradients as a two-stage column sum. See
    ``helpers/_triton_layer_norm.py``.

    Raises:
        RuntimeError: without a CUDA GPU or without Triton (see :func:`triton_available`).
    """
    where = "triton_layer_norm"
    if not triton_available():
        raise RuntimeError(f"{where}: needs a CUDA GPU and the triton package; check triton_available() first")
    _check_rows(x, where, weight, bias)
    if not (x.is_cuda and weight.is_cuda and bias.is_cuda):
        raise ValueError(f"{where}: x, weight and bias must be CUDA tensors")
    from ._triton_layer_norm import TritonLayerNorm  # imports triton: only here

    return TritonLayerNorm.apply(x, weight, bias, float(check_eps(eps, where)))
