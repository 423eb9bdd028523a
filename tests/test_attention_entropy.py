"""helpers.attention_entropy against closed forms and a direct NumPy computation.

Closed forms: equal scores (or scale 0) give log T; one dominant score at a large scale gives 0;
two positions give the binary entropy of sigmoid(c (s1 - s2)). The direct computation is
-sum p log p with p the softmax written out in NumPy (float64). Mutants these tests catch:
log2 for ln (every value off by 1/ln 2), the masked entries counted as positions (log T for
a causal row), the scale ignored, the sign of the sum flipped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.attention_entropy import attention_entropy


def direct(scores, scale):
    """-sum p log p, p = softmax(scale * scores) over the finite entries of each row (NumPy, float64)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.empty(s.shape[:-1])
    for i in np.ndindex(*s.shape[:-1]):
        row = s[i][np.isfinite(s[i])] * scale
        p = np.exp(row - row.max())
        p /= p.sum()
        out[i] = -sum(q * math.log(q) for q in p if q > 0)
    return out


@pytest.mark.parametrize("T", [1, 2, 5, 64])
def test_uniform_gives_log_T(T):
    assert attention_entropy([0.7] * T, scale=3.0) == pytest.approx(math.log(T), abs=1e-12)
    rng = np.random.default_rng(T)
    assert attention_entropy(rng.normal(size=T), scale=0.0) == pytest.approx(math.log(T), abs=1e-12)


def test_one_hot_gives_zero_and_entropy_falls_with_scale():
    assert attention_entropy([3.0, 0.0, 0.0, -1.0], scale=1e4) == pytest.approx(0.0, abs=1e-12)
    s = np.random.default_rng(0).normal(size=16)
    hs = [attention_entropy(s, scale=c) for c in (0.0, 0.5, 1.0, 2.0, 8.0, 64.0)]
    assert hs[0] == pytest.approx(math.log(16)) and all(a > b for a, b in zip(hs, hs[1:])) and hs[-1] < 0.05


@pytest.mark.parametrize("c", [0.1, 1.0, 3.0])
def test_two_positions_binary_entropy(c):
    s1, s2 = 1.3, -0.4
    p = 1 / (1 + math.exp(-c * (s1 - s2)))  # sigmoid
    want = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert attention_entropy([s1, s2], scale=c) == pytest.approx(want, abs=1e-14)


def test_against_direct_computation_batched_tensor_and_masked():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 4, 7, dtype=torch.float64, generator=g) * 2  # (B, heads, T)
    h = attention_entropy(s, scale=0.8)
    assert isinstance(h, torch.Tensor) and h.shape == (3, 4) and h.dtype == torch.float64
    assert np.allclose(h.numpy(), direct(s.numpy(), 0.8), rtol=0, atol=1e-12)
    # a causal attention matrix: row t sees positions <= t; its entropy is that of its t + 1 entries
    att = torch.randn(6, 6, dtype=torch.float64, generator=g)
    att = att.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    h = attention_entropy(att)
    assert h[0] == 0.0 and np.allclose(h.numpy(), direct(att.numpy(), 1.0), rtol=0, atol=1e-12)
    assert all(h[t] <= math.log(t + 1) + 1e-12 for t in range(6))
    # NumPy in, NumPy out (float64); one row gives a float; float32 tensors stay float32
    out = attention_entropy(s.numpy().tolist(), scale=0.8)
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    assert isinstance(attention_entropy([1.0, 2.0]), float)
    assert attention_entropy(s.float()).dtype == torch.float32


@pytest.mark.parametrize("scores, scale, err, match", [
    ([1.0, float("nan")], 1.0, ValueError, "must not contain NaN or \\+inf"),
    ([1.0, float("inf")], 1.0, ValueError, "must not contain NaN or \\+inf"),
    ([[0.0, 1.0], [float("-inf"), float("-inf")]], 1.0, ValueError, "at least one finite entry"),
    ([1.0, 2.0], -1.0, ValueError, "scale must be finite and >= 0"),
    ([1.0, 2.0], float("inf"), ValueError, "scale must be finite"),
    ([1.0, 2.0], "2", TypeError, "scale must be a real number"),
    ([], 1.0, ValueError, "last dim T >= 1"),
    (1.0, 1.0, ValueError, "last dim T >= 1"),
    ([1e300, 0.0], 1e10, ValueError, "overflows"),
    ("abc", 1.0, TypeError, "scores must be a real numeric array"),
])
def test_bad_inputs_raise(scores, scale, err, match):
    with pytest.raises(err, match=f"attention_entropy: .*{match}"):
        attention_entropy(scores, scale=scale)


def test_integer_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point tensor"):
        attention_entropy(torch.tensor([1, 2, 3]))
