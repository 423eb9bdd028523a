"""helpers.norms.RMSNorm and rms_norm against torch.nn.RMSNorm, and RMSNorm's row of Table 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import invariance, norms


@pytest.mark.parametrize("shape, normalized_shape", [((4, 8), 8), ((2, 3, 6), 6), ((2, 3, 6), (3, 6)), ((5, 1), 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_matches_torch_forward_and_backward(shape, normalized_shape, dtype):
    gen = torch.Generator().manual_seed(0)
    x = (3.0 + 2.0 * torch.randn(shape, generator=gen)).to(dtype)
    ours, theirs = norms.RMSNorm(normalized_shape, dtype=dtype), torch.nn.RMSNorm(normalized_shape, dtype=dtype)
    with torch.no_grad():  # a non-trivial gain, so that it is tested too
        theirs.weight.copy_(1 + 0.3 * torch.randn(theirs.weight.shape, generator=gen))
    ours.load_state_dict(theirs.state_dict())
    dy = torch.randn(shape, generator=gen, dtype=dtype)
    results = []
    for module in (ours, theirs):
        xi = x.clone().requires_grad_()
        y = module(xi)
        y.backward(dy)
        results.append((y.detach(), xi.grad, module.weight.grad))
    tol = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_defaults_repr_and_state_dict_match_torch():
    ours, theirs = norms.RMSNorm(5), torch.nn.RMSNorm(5)
    assert repr(ours) == repr(theirs) == "RMSNorm((5,), eps=None, elementwise_affine=True)"
    assert ours.state_dict().keys() == theirs.state_dict().keys() == {"weight"}
    assert torch.equal(ours.weight, torch.ones(5))
    plain = norms.RMSNorm(5, elementwise_affine=False)
    assert plain.weight is None and repr(plain) == repr(torch.nn.RMSNorm(5, elementwise_affine=False))
    assert list(plain.parameters()) == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eps_none_is_the_dtypes_machine_epsilon(dtype):
    # tiny inputs: there eps decides the output, so a wrong default shows
    x = torch.full((2, 4), 1e-5, dtype=dtype)
    eps = torch.finfo(dtype).eps
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    torch.testing.assert_close(norms.RMSNorm(4, dtype=dtype)(x).detach(), expected)
    torch.testing.assert_close(norms.RMSNorm(4, dtype=dtype)(x).detach(), torch.nn.RMSNorm(4, dtype=dtype)(x).detach())
    assert not torch.allclose(norms.RMSNorm(4, eps=1e-5, dtype=dtype)(x), expected.to(dtype))


def test_explicit_eps_matches_torch():
    x = 1e-3 * torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(norms.RMSNorm(7, eps=1e-5)(x), torch.nn.RMSNorm(7, eps=1e-5)(x))


def test_no_mean_is_subtracted():
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0]])  # layer norm would give 0
    torch.testing.assert_close(norms.RMSNorm(4)(x).detach(), x)


def test_numpy_reference_matches_torch_kernel():
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 3.0, size=(6, 9))
    gain = rng.normal(1.0, 0.3, size=9)
    expected = torch.nn.functional.rms_norm(torch.from_numpy(a), (9,), torch.from_numpy(gain), 1e-5).numpy()
    np.testing.assert_allclose(norms.rms_norm(a, gain, eps=1e-5), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(norms.rms_norm(a), a / np.sqrt((a ** 2).mean(-1, keepdims=True) + 1e-5))


@pytest.mark.parametrize("call, error, match", [
    (lambda: norms.RMSNorm(0), ValueError, "normalized_shape"),
    (lambda: norms.RMSNorm("four"), TypeError, "normalized_shape"),
    (lambda: norms.RMSNorm(4, eps=0.0), ValueError, "eps"),
    (lambda: norms.RMSNorm(4)(torch.ones(2, 5)), ValueError, r"trailing dims must equal normalized_shape \(4,\)"),
    (lambda: norms.RMSNorm(4)(torch.ones(2, 4, dtype=torch.long)), TypeError, "floating-point"),
    (lambda: norms.RMSNorm(4)(np.ones((2, 4))), TypeError, "torch.Tensor"),
    (lambda: norms.rms_norm(np.ones((2, 4)), gain=np.ones(3)), ValueError, "gain must have shape"),
    (lambda: norms.rms_norm(np.ones((2, 4)), eps=-1), ValueError, "eps"),
    (lambda: norms.rms_norm(np.float64(3.0)), ValueError, r"\(\*, H\)"),
])
def test_bad_inputs_give_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_overflow_is_reported():
    with pytest.raises(OverflowError, match="mean square overflowed"):
        norms.rms_norm(np.full((1, 3), 1e30, dtype=np.float32))


# --- RMSNorm's row of Table 1 -------------------------------------------------------

RMS_ROW = {  # Zhang & Sennrich (2019), Table 1, and the reason for each cell
    "weight matrix re-scaling": True,  # a_n -> delta a_n: RMS scales by delta
    "weight matrix re-centering": False,  # a_n -> a_n + s 1: nothing subtracts the shift
    "weight vector re-scaling": False,  # one unit only: the pattern changes
    "dataset re-scaling": True,  # a_n -> delta a_n
    "dataset re-centering": False,  # a unit-dependent shift
    "single training case re-scaling": True,  # a_n -> delta a_n for one case, normalized alone
}


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_rms_norm_row_of_table_1(seed):
    row = invariance.row_changes(lambda a: norms.rms_norm(a, eps=1e-20), seed)
    assert list(row) == list(invariance.TRANSFORMATIONS)
    for transformation, invariant in RMS_ROW.items():
        if invariant:
            assert row[transformation] < 1e-12, transformation
        else:
            assert row[transformation] > 1e-3, transformation


def test_row_changes_reproduces_the_layer_norm_row():
    for seed in (0, 3):
        row = invariance.row_changes(lambda a: norms.layer_norm(a, eps=invariance.EPS), seed)
        table = invariance.invariance_changes(seed)
        assert row == {t: table["layer norm", t] for t in invariance.TRANSFORMATIONS}


def test_row_changes_checks_its_arguments():
    with pytest.raises(TypeError, match="normalize must be a function"):
        invariance.row_changes("rms")
    with pytest.raises(ValueError, match="must return shape"):
        invariance.row_changes(lambda a: a.T)
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        invariance.row_changes(lambda a: a, delta=-1.0)
