r"""The residual stream of a Transformer at initialization, with the norm before or after each branch.

A stack of ``L`` residual blocks acts on ``N`` tokens of ``C`` features. Each
block's branch is a random ReLU MLP, ``f(z) = g * W2 relu(W1 z)``, with no
biases, ``W1`` of variance ``1/C`` and ``W2`` of variance ``2/C`` (He's
initialization: a unit-scale input gives a unit-scale output at gain
``g = 1``). The norm is layer norm over the ``C`` features of each token,
without gain or bias. The two placements of the Transformer chapter:

.. math::
    \text{post-LN:}\quad x_l = \operatorname{LN}\bigl(x_{l-1} + f_l(x_{l-1})\bigr),
    \qquad
    \text{pre-LN:}\quad x_l = x_{l-1} + f_l\bigl(\operatorname{LN}(x_{l-1})\bigr),

from ``x_0 = s * X0``, a fixed random input at scale ``s``. The output is
``y = x_L`` (post-LN) or ``LN(x_L)`` (pre-LN's final norm), and the loss is
linear, ``L = mean over tokens n of r_n . y_n`` for fixed random read-outs
``r_n``, one per token (as each token of a language model has its own target).
:func:`residual_stream` returns the size of the stream after every block and
the gradient norm of every block's weights, the two things Xiong et al.
(2020) compare.

In expectation over the weights each pre-LN branch adds ``g^2`` to the mean
square of the stream (a ReLU halves the second moment of a symmetric input,
and ``W2``'s variance ``2/C`` doubles it back), so its RMS is
``sqrt(s^2 + l g^2)`` (:func:`expected_rms`, up to layer norm's ``eps``), while
post-LN's is 1 after every block. Back-propagated, the same recursion
telescopes: pre-LN block ``l``'s weight gradient is proportional to
``g / sqrt(s^2 + l g^2)``, falling towards the output, and the last block's
shrinks like ``1 / sqrt(L)`` with depth; post-LN's is the same in every block
and does not shrink with depth (:func:`expected_grad`).

Every random number comes from :func:`uniform_stream`, the mulberry32 generator
that the book's JavaScript uses too, so a page computes exactly the same stack
as this module (the Transformer chapter's explorable). The weights are uniform
with the variances above; all the arithmetic is float64.
Nothing runs at import.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_choice, check_eps, check_int, check_real

__all__ = ["PLACEMENTS", "uniform_stream", "random_stack", "residual_stream", "expected_rms", "expected_grad"]

#: Where the norm goes: after the residual addition (``"post"``) or before the branch (``"pre"``).
PLACEMENTS = ("post", "pre")

_MASK = np.uint64(0xFFFFFFFF)


def uniform_stream(seed, n):
    """``n`` numbers in [0, 1) from the mulberry32 generator seeded with ``seed``.

    mulberry32 (Tommy Ettinger) keeps one 32-bit state that grows by
    ``0x6D2B79F5`` per draw and scrambles it with multiplies, shifts and
    exclusive ors into a 32-bit integer ``k``; the number is ``k / 2**32``,
    exact in float64. The same few lines in JavaScript (``Math.imul``) give
    the same numbers bit for bit, which is why the book uses it for
    explorables with a Python twin.

    Args:
        seed (int): in ``[0, 2**32)``.
        n (int): how many numbers, >= 0.

    Returns:
        float64 array ``(n,)``.
    """
    seed = check_int(seed, "seed", "uniform_stream", 0, 2**32 - 1)
    n = check_int(n, "n", "uniform_stream", 0)
    # the state after draw k (1-based) is seed + k * 0x6D2B79F5 (mod 2**32): no loop needed
    a = (np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x6D2B79F5)) & _MASK  # (n,)

    def imul(x, y):  # Math.imul: the low 32 bits of the product (uint64 wraps mod 2**64, a multiple of 2**32)
        return (x * y) & _MASK

    t = imul(a ^ (a >> np.uint64(15)), a | np.uint64(1))
    t = (t ^ ((t + imul(t ^ (t >> np.uint64(7)), t | np.uint64(61))) & _MASK)) & _MASK
    k = (t ^ (t >> np.uint64(14))) & _MASK
    return k.astype(np.float64) / 4294967296.0


def random_stack(depth, width=32, tokens=16, seed=0):
    """The random input, read-out and weights of a stack of ``depth`` blocks.

    Drawn from :func:`uniform_stream` in this order: the input ``X0`` (tokens
    by features, row by row), the read-outs ``R`` (the same shape), then for each block ``W1``
    and ``W2`` (row by row). A uniform number ``u`` becomes
    ``(2u - 1) * sqrt(3 v)``, uniform with mean 0 and variance ``v``: 1 for
    ``X0`` and ``R``, ``1/C`` for ``W1``, ``2/C`` for ``W2``. A deeper stack
    extends a shallower one with the same seed.

    Args:
        depth (int): blocks ``L``, >= 1.
        width (int): features ``C``, >= 2. Default: 32
        tokens (int): tokens ``N``, >= 1. Default: 16
        seed (int): seed of :func:`uniform_stream`. Default: 0

    Returns:
        dict with ``X0`` and ``R`` ``(N, C)``, ``W1`` and ``W2`` ``(L, C, C)``.
    """
    where = "random_stack"
    L = check_int(depth, "depth", where, 1)
    C = check_int(width, "width", where, 2)
    N = check_int(tokens, "tokens", where, 1)
    u = uniform_stream(seed, 2 * N * C + 2 * L * C * C)
    centered = 2.0 * u - 1.0  # (n,) exact: u has 32 significant bits
    x0r = centered[: 2 * N * C].reshape(2, N, C) * math.sqrt(3.0)
    w = centered[2 * N * C:].reshape(L, 2, C, C)
    return {"X0": x0r[0], "R": x0r[1],
            "W1": w[:, 0] * math.sqrt(3.0 / C), "W2": w[:, 1] * math.sqrt(6.0 / C)}


def _ln(x, eps):
    """Layer norm of each row of ``x`` ``(N, C)`` without gain or bias; returns ``(y, sigma)``."""
    mu = x.mean(axis=1, keepdims=True)  # (N, 1)
    sigma = np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + eps)  # (N, 1)
    return (x - mu) / sigma, sigma


def _ln_backward(y, sigma, dy):
    """The gradient through :func:`_ln` of the upstream gradient ``dy``, given its output ``y`` and ``sigma``."""
    m1 = dy.mean(axis=1, keepdims=True)  # (N, 1)
    m2 = (dy * y).mean(axis=1, keepdims=True)  # (N, 1)
    return (dy - m1 - y * m2) / sigma


def residual_stream(depth, placement, scale=1.0, gain=1.0, *, width=32, tokens=16, seed=0, eps=1e-5):
    r"""Stream size and per-block gradient norms of a random post-LN or pre-LN stack at initialization.

    See the module docstring for the stack. Forward, then back-propagation of
    the linear loss by hand (float64).

    Args:
        depth (int): blocks ``L``, >= 1.
        placement (str): ``"post"`` or ``"pre"``.
        scale (float): ``s``, the scale of the input ``x_0 = s X0``, > 0. Default: 1.0
        gain (float): ``g``, the branches' gain, >= 0. Default: 1.0
        width, tokens, seed: see :func:`random_stack`. Defaults: 32, 16, 0
        eps (float): layer norm's epsilon, > 0. Default: 1e-5

    Returns:
        dict of NumPy arrays:

        * ``rms`` ``(L + 1,)``: the root mean square of the stream ``x_l`` over
          tokens and features, ``l = 0 .. L``;
        * ``grad`` ``(L,)``: the Frobenius norm of the loss's gradient with
          respect to block ``l``'s weights (``W1`` and ``W2`` together), ``l = 1 .. L``;
        * ``stream_grad`` ``(L + 1,)``: the Frobenius norm of the gradient
          with respect to ``x_l`` (all tokens);
        * ``loss``: a 0-d array.

    Shape:
        The weights are :func:`random_stack` ``(depth, width, tokens, seed)``.
    """
    where = "residual_stream"
    L = check_int(depth, "depth", where, 1)
    placement = check_choice(placement, "placement", PLACEMENTS, where)
    s = check_real(scale, "scale", where, 0.0, lo_open=True)
    g = check_real(gain, "gain", where, 0.0)
    eps = check_eps(eps, where)
    net = random_stack(L, width, tokens, seed)
    W1, W2, R = net["W1"], net["W2"], net["R"]
    N = net["X0"].shape[0]
    xs = [s * net["X0"]]  # x_0 .. x_L, each (N, C)
    cache = []
    for l in range(L):
        x = xs[-1]
        if placement == "pre":
            z, sig_in = _ln(x, eps)  # (N, C) the branch's input, normalized
            a = z @ W1[l].T  # (N, C)
            h = np.maximum(a, 0.0)
            xs.append(x + g * (h @ W2[l].T))
            cache.append((z, sig_in, a, h, None, None))
        else:
            a = x @ W1[l].T  # (N, C)
            h = np.maximum(a, 0.0)
            y_l, sig_out = _ln(x + g * (h @ W2[l].T), eps)  # (N, C) the sum, normalized
            xs.append(y_l)
            cache.append((x, None, a, h, y_l, sig_out))
    if placement == "pre":
        y, sig_f = _ln(xs[-1], eps)  # the final norm
    else:
        y = xs[-1]
    loss = float((y * R).sum() / N)  # mean over N tokens of r_n . y_n
    dy = R / N  # (N, C)
    dx = _ln_backward(y, sig_f, dy) if placement == "pre" else dy.copy()
    stream_grad = [np.linalg.norm(dx)]
    grad = []
    for l in reversed(range(L)):
        z, sig_in, a, h, y_l, sig_out = cache[l]
        d_sum = _ln_backward(y_l, sig_out, dx) if placement == "post" else dx  # (N, C) at x + f
        dh = g * (d_sum @ W2[l])  # (N, C)
        da = dh * (a > 0)
        gW2 = g * (d_sum.T @ h)  # (C, C) summed over tokens
        gW1 = da.T @ z  # (C, C); under post-LN z is the block's input x_{l-1}
        grad.append(math.sqrt(float((gW1 ** 2).sum() + (gW2 ** 2).sum())))
        d_in = da @ W1[l]  # (N, C) into the branch's input
        dx = dx + _ln_backward(z, sig_in, d_in) if placement == "pre" else d_sum + d_in
        stream_grad.append(np.linalg.norm(dx))
    rms = [math.sqrt(float((x ** 2).mean())) for x in xs]
    return {"rms": np.array(rms), "grad": np.array(grad[::-1]),
            "stream_grad": np.array(stream_grad[::-1]), "loss": np.array(loss)}


def expected_rms(depth, placement, scale=1.0, gain=1.0):
    r"""The stream's RMS after each block, in expectation over the weights (``eps`` neglected).

    Pre-LN: :math:`\sqrt{s^2 + l g^2}` for ``l = 0 .. L`` (every branch adds
    :math:`g^2` to the mean square, independently of the stream); post-LN:
    ``s`` at ``l = 0``, then 1. Returns a float64 array ``(L + 1,)``.
    """
    where = "expected_rms"
    L = check_int(depth, "depth", where, 1)
    placement = check_choice(placement, "placement", PLACEMENTS, where)
    s = check_real(scale, "scale", where, 0.0, lo_open=True)
    g = check_real(gain, "gain", where, 0.0)
    layers = np.arange(L + 1, dtype=np.float64)  # (L + 1,)
    if placement == "pre":
        return np.sqrt(s * s + layers * g * g)
    return np.where(layers == 0, s, 1.0)


def expected_grad(depth, placement, scale=1.0, gain=1.0):
    r"""Each block's weight-gradient norm relative to the first block's, in expectation (wide layers).

    Pre-LN: :math:`\sqrt{(s^2 + g^2) / (s^2 + l g^2)}` for ``l = 1 .. L``. The
    gradient reaching the stream after block ``l`` has mean square
    :math:`\propto 1/(s^2 + l g^2)`: the final norm divides by the stream's
    RMS, and going down each block multiplies the mean square by
    :math:`1 + g^2/(s^2 + k g^2)`, a product that telescopes. Post-LN: 1 in
    every block (each norm divides by :math:`\sqrt{1 + g^2}` what the block's
    residual branch multiplied by it). Returns a float64 array ``(L,)``.
    """
    where = "expected_grad"
    L = check_int(depth, "depth", where, 1)
    placement = check_choice(placement, "placement", PLACEMENTS, where)
    s = check_real(scale, "scale", where, 0.0, lo_open=True)
    g = check_real(gain, "gain", where, 0.0)
    layers = np.arange(1, L + 1, dtype=np.float64)  # (L,)
    if placement == "pre" and g > 0:
        return np.sqrt((s * s + g * g) / (s * s + layers * g * g))
    return np.ones(L)
