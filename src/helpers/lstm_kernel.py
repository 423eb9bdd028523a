r"""A fused C kernel for the layer-normalized LSTM, and backpropagation through time with it.

:class:`helpers.rnn.LSTM` runs the recurrence of the layer-normalized LSTM
(Ba et al. 2016, eqs. (20)-(22)) with one of two engines that compute the same
thing:

* ``"torch"``: torch operations (fused layer norms, one sigmoid over the gates,
  results written in place), about a dozen calls per time step;
* ``"c"``: ``lstm_kernel.c``, which does both layer norms, the gates, the cell
  update and the output for each row of the batch while it is in cache, in one
  of two ways (:func:`whole_sequence` picks):

  - *whole sequence*: one call runs all T steps, the matrix products
    ``W_hh h_{t-1}`` included, and one call runs all of the backward pass. The
    products are MKL's ``sgemm_``/``dgemm_``, the routine torch's own matrix
    product ends in, whose address :func:`blas` finds in torch's library and
    passes in (the C file links nothing); where torch has no MKL, the kernel's
    own small product, and then only for a batch below :data:`SEQUENCE_BELOW`
    rows. Calling torch and ``ctypes`` twice per step would cost about as much
    as a small step's arithmetic;
  - *per step*, for a large batch where torch has no MKL: torch's matrix
    product, then one call into the kernel; backward, one call and the product
    ``dL/da W_hh``.

  Without autograd (``torch.no_grad()``, ``torch.inference_mode()``) nothing is
  kept for a backward pass, and the kernel applies the input terms' layer norm
  itself (:func:`forward_no_grad`).

The C file ships with the package and is compiled by the system's C compiler
on first use (``helpers._native``; the library is cached on disk); nothing
happens at import. Where there is no compiler, :func:`available` says why and
the ``"torch"`` engine is used. Only float32 and float64 tensors on a CPU go to C.

Each call splits the batch's rows over torch's threads, and in the whole-sequence
path the columns of the matrix products too (:func:`threads`: at most
``torch.get_num_threads()``, fewer where there is too little work to share;
MKL runs each share on its thread alone).
"""

from __future__ import annotations

import ctypes
import functools
import pathlib

import torch

from . import _native
from ._native import data_pointers as _ptrs

__all__ = ["available", "supports", "load", "blas", "threads", "whole_sequence", "forward_no_grad",
           "LNLSTMRecurrenceC"]

_SIGNATURES = _native.signatures(lnlstm_forward=(3, 1, 16), lnlstm_backward=(3, 0, 17),
                                 lnlstm_forward_seq=(5, 1, 17), lnlstm_backward_seq=(4, 0, 19))

#: Below this batch size the whole sequence runs in one C call, matrix products included
#: (:func:`whole_sequence`); from it on, torch's matrix product runs each step and the kernel the rest.
SEQUENCE_BELOW = 32

#: Rows times hidden units each thread should get at least in the per-step path: below it, waking a thread
#: costs more than it saves (each step forks and joins the threads twice, once in the kernel and once in
#: torch's matrix product, and on a busy machine a join can wait for a time slice of the scheduler).
ROW_WORK = 4096

#: Multiply-adds of one step's matrix product ``B * H * 4H`` each thread should get at least in the
#: whole-sequence path, where the threads start once per call and meet at two barriers per step.
SEQUENCE_WORK = 1 << 18


@functools.lru_cache(maxsize=None)
def _mkl():
    """torch's ``libtorch_cpu`` as a :class:`ctypes.CDLL` if it exports MKL's BLAS, else ``None``."""
    for lib in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        path = pathlib.Path(torch.__file__).parent / "lib" / lib
        if path.exists():
            try:
                cdll = ctypes.CDLL(str(path))
                names = ("sgemm_", "dgemm_", "MKL_Set_Num_Threads_Local")
                return cdll if all(hasattr(cdll, n) for n in names) else None
            except OSError:
                return None
    return None


def blas(dtype=torch.float32):
    """The address of the matrix product torch itself uses, MKL's ``sgemm_`` or ``dgemm_`` (looked up in
    ``libtorch_cpu``), for the kernel to call; ``None`` where torch is not built with MKL (the kernel then
    uses its own product, ``GEMM`` in ``lstm_kernel.c``). Only MKL: the kernel needs it to run on the
    calling thread alone (:func:`_one_blas_thread`), which MKL can be told and other libraries vary on."""
    mkl = _mkl()
    if mkl is None:
        return None
    return ctypes.cast(getattr(mkl, {torch.float32: "sgemm_", torch.float64: "dgemm_"}[dtype]), ctypes.c_void_p).value


class _one_blas_thread:
    """While the kernel runs: MKL on the calling thread alone (``MKL_Set_Num_Threads_Local(1)``, its C
    interface, then the setting before). The kernel shares the work over its own threads; MKL called from a
    team of one would otherwise start its own threads for every step's small product (15x slower at B = 1
    on 2 threads)."""

    def __enter__(self):
        mkl = _mkl()
        self.before = None if mkl is None else mkl.MKL_Set_Num_Threads_Local(1)

    def __exit__(self, *exc):
        if self.before is not None:
            _mkl().MKL_Set_Num_Threads_Local(self.before)


def whole_sequence(batch, dtype=torch.float32):
    """Whether a batch of ``batch`` rows runs as one C call for the whole sequence rather than one
    per step after torch's matrix product: always where the kernel can call torch's BLAS
    (:func:`blas`), which takes the Python loop out of every step; else below
    :data:`SEQUENCE_BELOW` rows, where the kernel's own small product is the faster."""
    return batch < SEQUENCE_BELOW or blas(dtype) is not None


def threads(batch, hidden):
    """Threads the kernel uses for ``batch`` rows of ``hidden`` units: ``torch.get_num_threads()`` at most.

    Per step (large batches): at most one per row and one per :data:`ROW_WORK` of ``batch * hidden``.
    Whole sequence (small batches): the matrix products' columns are shared too, so at most one per
    :data:`SEQUENCE_WORK` multiply-adds of a step's product, ``batch * 4 * hidden**2``. 1 for ``batch == 1``.
    """
    if batch == 1:
        return 1
    if whole_sequence(batch):
        return max(1, min(torch.get_num_threads(), batch * 4 * hidden * hidden // SEQUENCE_WORK))
    return max(1, min(torch.get_num_threads(), batch, batch * hidden // ROW_WORK))


def load():
    """The compiled kernel as a :class:`ctypes.CDLL`, or ``None`` if it cannot be built (see :func:`available`)."""
    return _native.load("lstm_kernel", _SIGNATURES)


def available():
    """``(True, "")`` if the C kernel is compiled and loaded, else ``(False, reason)``."""
    return _native.available("lstm_kernel", _SIGNATURES)


def supports(*tensors):
    """Whether these tensors can go to the C kernel: all float32 or all float64, on a CPU."""
    dtype = tensors[0].dtype
    return dtype in _native.SUFFIX and all(t.device.type == "cpu" and t.dtype == dtype for t in tensors)


def _forward(u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps, keep, ln_ih=None):
    """The forward loop: ``(output (T, B, H), c_T (B, H), what backward needs or (), threads)``.

    With ``keep``, every step's ``h``, ``c``, normalized terms, activations and
    ``1/sigma`` are kept in ``(T, ...)`` buffers for the backward pass; without it,
    one step's scratch is reused and only ``c_{t-1}``, ``c_t`` are held. With
    ``ln_ih = (gain, bias)``, ``u`` is ``W_ih x`` before its layer norm, which the
    kernel applies to each row as it reaches it.
    """
    T, B, H = u.shape[0], h.shape[0], h.shape[1]
    P = threads(B, H)
    u = u.contiguous()
    params = [p.detach().contiguous() for p in (g_hh, b_hh, g_c, b_c)]
    S = T if keep else 1
    h_all, c_all = u.new_empty(T + 1, B, H), u.new_empty(T + 1 if keep else 2, B, H)  # h_0..h_T; c_0..c_T or 2
    xhat, act = u.new_empty(S, B, 4 * H), u.new_empty(S, B, 4 * H)  # normalized W_hh h; i, f, g, o
    chat, k = u.new_empty(S, B, H), u.new_empty(S, B, H)  # normalized c_t; tanh(LN(c_t))
    rstd = u.new_empty(S, B, 2)  # 1/sigma of the two layer norms
    h_all[0], c_all[0] = h, c
    a = u.new_empty(B, 4 * H)  # W_hh h_{t-1}, reused every step
    w_t = w_hh.detach().t().contiguous()  # (H, 4H): a contiguous right operand multiplies faster
    pg = [p.data_ptr() for p in params]
    pin = [None, None] if ln_ih is None else [p.data_ptr() for p in ln_ih]  # NULL: u is normalized
    if whole_sequence(B, u.dtype):  # one call: all T steps, matrix products included
        seq = _native.function("lstm_kernel", _SIGNATURES, "lnlstm_forward_seq", u.dtype)
        with _one_blas_thread():
            seq(T, B, H, P, int(keep), eps, blas(u.dtype), w_t.data_ptr(), u.data_ptr(), *pin, *pg,
                *(v.data_ptr() for v in (h_all, c_all, a, xhat, act, chat, k, rstd)))
    else:  # per step: torch's matrix product, then the kernel
        fwd = _native.function("lstm_kernel", _SIGNATURES, "lnlstm_forward", u.dtype)
        hs = h_all.unbind(0)
        pa = a.data_ptr()
        ph, pc, pu = map(_ptrs, (h_all, c_all, u))
        if not keep:
            pc = [pc[t % 2] for t in range(T + 1)]  # c_{t-1} and c_t, alternately
        px, pact, pch, pk, pr = (_ptrs(v) if keep else _ptrs(v) * T for v in (xhat, act, chat, k, rstd))
        for t in range(T):
            torch.mm(hs[t], w_t, out=a)  # (B, H) @ (H, 4H) -> (B, 4H)
            fwd(B, H, P, eps, pa, pu[t], *pin, *pg, pc[t], px[t], pact[t], pc[t + 1], pch[t], pk[t], ph[t + 1],
                pr[t])
    c_n = c_all[T if keep else T % 2].clone()  # (B, H)
    return h_all[1:], c_n, ((h_all, c_all, xhat, act, chat, k, rstd) if keep else ()), P


def forward_no_grad(u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps, ln_ih=None):
    """:class:`LNLSTMRecurrenceC`'s forward without autograd and without keeping anything for a backward
    pass (for ``torch.no_grad()`` and ``torch.inference_mode()``): ``output`` (T, B, H), ``c_T`` (B, H).

    With ``ln_ih = (gain, bias)`` of the input terms' layer norm, ``u`` (T, B, 4H) is ``W_ih x``
    *before* that norm, and the kernel normalizes each row as it reaches it (one pass over
    memory fewer than ``F.layer_norm`` first); without it, ``u`` is normalized already.
    """
    if ln_ih is not None:
        ln_ih = [p.detach().contiguous() for p in ln_ih]
    out, c_n, _, _ = _forward(u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps, keep=False, ln_ih=ln_ih)
    return out, c_n


class LNLSTMRecurrenceC(torch.autograd.Function):
    r"""The recurrence of the layer-normalized LSTM on the C kernel; the same contract as the torch engine.

    Inputs ``u`` (T, B, 4H), the normalized input terms; ``h``, ``c`` (B, H); ``w_hh``
    (4H, H); the gains and biases of the recurrent and cell layer norms; ``eps``.
    Returns ``output`` (T, B, H) and ``c_T`` (B, H).
    """

    @staticmethod
    def forward(ctx, u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps):
        out, c_n, saved, P = _forward(u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps, keep=any(ctx.needs_input_grad))
        if saved:
            ctx.save_for_backward(w_hh, g_hh, g_c, *saved)
            ctx.threads = P
        return out, c_n  # (T, B, H), (B, H)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_cn):
        w_hh, g_hh, g_c, h_all, c_all, xhat, act, chat, k, rstd = ctx.saved_tensors
        T, B, H = d_out.shape
        d_out, w = d_out.contiguous(), w_hh.detach().contiguous()
        dc = d_cn.contiguous().clone()  # dL/dc_t, carried down the steps
        dh = d_out.new_zeros(B, H)  # dL/dh_t through the recurrence, carried
        need_w = ctx.needs_input_grad[3]
        P = ctx.threads
        grads = [d_out.new_zeros(P, n) for n in (4 * H, 4 * H, H, H)]  # dg_hh, db_hh, dg_c, db_c: one row per block
        gains = [g.detach().contiguous() for g in (g_hh, g_c)]
        pgrad = [g.data_ptr() for g in grads]
        dz = torch.empty_like(act)  # (T, B, 4H), returned as dL/du
        if whole_sequence(B, d_out.dtype):  # one call: all T steps, the products dL/da W_hh included
            das = torch.empty_like(act)  # dL/da of every step, for one product dL/dW_hh after
            seq = _native.function("lstm_kernel", _SIGNATURES, "lnlstm_backward_seq", d_out.dtype)
            with _one_blas_thread():
                seq(T, B, H, P, blas(d_out.dtype), w.data_ptr(), d_out.data_ptr(), dh.data_ptr(), dc.data_ptr(),
                    *(v.data_ptr() for v in (act, k, chat, xhat, rstd, c_all, *gains, dz, das)), *pgrad)
            # (4H, TB) @ (TB, H): one product of T * B rows, much faster than T products of B rows
            d_w = torch.mm(das.view(T * B, 4 * H).t(), h_all[:-1].reshape(T * B, H)) if need_w else None
        else:  # per step: the kernel, then torch's products with W_hh; dL/dW_hh summed step by step
            bwd = _native.function("lstm_kernel", _SIGNATURES, "lnlstm_backward", d_out.dtype)
            da = act.new_empty(B, 4 * H)  # dL/da of one step, reused
            fixed = [dh.data_ptr(), dc.data_ptr()]
            after = [g.data_ptr() for g in gains]
            pd, pact, pk, pch, px, pr, pc, pdz = map(_ptrs, (d_out, act, k, chat, xhat, rstd, c_all, dz))
            hs = h_all.unbind(0)
            d_w = w.new_zeros(4 * H, H) if need_w else None
            for t in range(T - 1, -1, -1):
                bwd(B, H, P, pd[t], *fixed, pact[t], pk[t], pch[t], px[t], pr[t], pc[t], *after, pdz[t],
                    da.data_ptr(), *pgrad)
                torch.mm(da, w, out=dh)  # (B, 4H) @ (4H, H) -> (B, H)
                if d_w is not None:
                    d_w.addmm_(da.t(), hs[t])  # += (4H, B) @ (B, H): no (T, B, 4H) buffer for dL/da
        return (dz, dh, dc, d_w, *(g.sum(0) for g in grads), None)  # (P, n) -> (n,)
