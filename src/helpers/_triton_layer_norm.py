"""Triton kernels for layer norm (forward, and backward with a two-stage column sum).

Used by :func:`helpers.kernels.triton_layer_norm`, on a CUDA GPU with Triton
installed. Without Triton the module still imports (the kernels are then not
defined, and :class:`TritonLayerNorm` refuses to run). Each row must fit one
block (``H`` up to 65536 / element size).
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # a CPU-only install: no kernels
    triton = None

__all__ = ["TritonLayerNorm"]


if triton is not None:
    @triton.jit
    def _forward(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < N
        x = tl.load(X + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(x, axis=0) / N  # float32 statistics, whatever the input dtype
        xc = tl.where(mask, x - mean, 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / N + eps)  # two passes, both over registers
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(B + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(Y + row * stride + cols, (xc * rstd * w + b).to(Y.dtype.element_ty), mask=mask)
        tl.store(Mean + row, mean)
        tl.store(Rstd + row, rstd)


    @triton.jit
    def _backward(DY, X, W, Mean, Rstd, DX, DW, DB, stride, N, M, rows_per_program, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < N
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        dw = tl.zeros([BLOCK], dtype=tl.float32)  # this program's partial column sums
        db = tl.zeros([BLOCK], dtype=tl.float32)
        for i in range(0, rows_per_program):
            row = pid * rows_per_program + i
            m = mask & (row < M)
            x = tl.load(X + row * stride + cols, mask=m, other=0.0).to(tl.float32)
            dy = tl.load(DY + row * stride + cols, mask=m, other=0.0).to(tl.float32)
            mean = tl.load(Mean + row, mask=row < M, other=0.0)
            rstd = tl.load(Rstd + row, mask=row < M, other=0.0)
            x_hat = tl.where(m, (x - mean) * rstd, 0.0)
            g = dy * w
            dx = (g - tl.sum(g, axis=0) / N - x_hat * (tl.sum(g * x_hat, axis=0) / N)) * rstd
            tl.store(DX + row * stride + cols, dx.to(DX.dtype.element_ty), mask=m)
            dw += dy * x_hat
            db += dy
        tl.store(DW + pid * N + cols, dw, mask=mask)  # stage 1: one partial row per program
        tl.store(DB + pid * N + cols, db, mask=mask)


class TritonLayerNorm(torch.autograd.Function):
    """``TritonLayerNorm.apply(x, weight, bias, eps)``: layer norm of the last axis."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        if triton is None:
            raise RuntimeError("TritonLayerNorm: the triton package is not installed")
        shape, n = x.shape, x.shape[-1]
        x2 = x.reshape(-1, n).contiguous()  # (M, N)
        weight, bias = weight.contiguous(), bias.contiguous()  # the kernels read them with stride 1
        block = triton.next_power_of_2(n)
        if block * x.element_size() > 65536:
            raise ValueError(f"triton_layer_norm: rows of {n} elements do not fit one block")
        y = torch.empty_like(x2)
        mean = torch.empty(x2.shape[0], device=x.device, dtype=torch.float32)  # (M,)
        rstd = torch.empty_like(mean)
        warps = min(max(block // 256, 1), 8)
        _forward[(x2.shape[0],)](x2, y, weight, bias, mean, rstd, x2.stride(0), n, eps, BLOCK=block,
                                 num_warps=warps)
        ctx.save_for_backward(x2, weight, mean, rstd)
        ctx.block, ctx.warps, ctx.shape = block, warps, shape
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, mean, rstd = ctx.saved_tensors
        m, n = x2.shape
        dy2 = dy.reshape(m, n).contiguous()
        dx = torch.empty_like(x2)
        programs = min(m, 4 * torch.cuda.get_device_properties(x2.device).multi_processor_count)
        rows = triton.cdiv(m, programs)
        programs = triton.cdiv(m, rows)
        dw = torch.empty(programs, n, device=x2.device, dtype=torch.float32)  # (programs, N) partials
        db = torch.empty_like(dw)
        _backward[(programs,)](dy2, x2, weight, mean, rstd, dx, dw, db, x2.stride(0), n, m, rows,
                               BLOCK=ctx.block, num_warps=ctx.warps)
        # stage 2: add the partial sums
        return dx.reshape(ctx.shape), dw.sum(0).to(weight.dtype), db.sum(0).to(weight.dtype), None
