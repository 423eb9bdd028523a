"""Chapter 6's experiments (helpers.experiments.feedforward and .convnet) at tiny sizes, and their claims."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import experiments, norms
from helpers.experiments import convnet as cn
from helpers.experiments import feedforward as ff


# --- the feed-forward experiment (paper §6.6) ---------------------------------

def test_batchnorm_biased_matches_torch_and_unbiased_divides_by_b_minus_1():
    torch.manual_seed(0)
    x = torch.randn(4, 6, dtype=torch.float64) * 3 + 1
    ours, ref = ff.BatchNorm(6).double(), nn.BatchNorm1d(6).double()
    torch.testing.assert_close(ours(x), ref(x))  # training mode, biased variance
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x))  # evaluation mode: the running averages
    unb = ff.BatchNorm(6, unbiased=True).double()
    a = x.numpy()
    expected = (a - a.mean(0)) / np.sqrt(a.var(0, ddof=1) + 1e-5)  # NumPy, Bessel-corrected
    np.testing.assert_allclose(unb(x).detach().numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        unb(x[:1])


def test_mlp_places_the_norms_as_the_paper():
    def kinds(model):
        return [type(m).__name__ for m in model]

    ln = ff.build_mlp("layer", 8, 128)
    assert kinds(ln) == ["Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear"]  # not the logits
    bn4, bn128 = ff.build_mlp("batch", 8, 4), ff.build_mlp("batch", 8, 128)
    assert kinds(bn4).count("BatchNorm") == 3 and kinds(bn4)[-1] == "BatchNorm"  # every layer, the logits too
    assert all(m.unbiased for m in bn4 if isinstance(m, ff.BatchNorm))
    assert not any(m.unbiased for m in bn128 if isinstance(m, ff.BatchNorm))
    assert kinds(ff.build_mlp("batch-hidden", 8, 4))[-1] == "Linear"  # the variant: hidden layers only
    assert kinds(ff.build_mlp("batch-hidden", 8, 4)).count("BatchNorm") == 2
    assert "BatchNorm" not in kinds(ff.build_mlp("none", 8, 4)) and "LayerNorm" not in kinds(ff.build_mlp("none", 8, 4))
    with pytest.raises(ValueError, match="norm must be one of"):
        ff.build_mlp("weight", 8, 4)
    with pytest.raises(ValueError, match="batch_size"):
        ff.build_mlp("batch", 8, 1)


def test_train_ffn_tiny():
    sizes = dict(hidden=8, batch_sizes=[32, 4], epochs=[1, 1], n_logs=2)
    out = ff.train_ffn(sizes, seed=0)
    assert set(out["runs"]) == {f"{n}/{b}" for n in ff.NORMS for b in (32, 4)}
    for curves in out["runs"].values():
        assert curves["epoch"] == [0.0, 0.5, 1.0]
        assert all(math.isfinite(v) for key in ("train_nll", "test_nll", "test_err") for v in curves[key])
    assert out["runs"]["layer/4"]["train_nll"][-1] < out["runs"]["layer/4"]["train_nll"][0]
    again = ff.train_ffn(dict(sizes, norms=["layer"], batch_sizes=[4], epochs=[1]), seed=0)
    assert again["runs"]["layer/4"] == out["runs"]["layer/4"]  # seeded: the same run twice
    with pytest.raises(ValueError, match="missing"):
        ff.train_ffn(dict(hidden=8))
    with pytest.raises(ValueError, match="one number of epochs per batch size"):
        ff.train_ffn(dict(sizes, epochs=[1]))


def test_measurements_are_mean_and_range_and_never_show_minus_zero():
    # the format the results table's prose announces: mean (smallest to largest seed)
    assert ff._pm([1.0, 2.0, 6.0], 1) == "3.0 (1.0 to 6.0)" and cn._pm([0.5, 0.7], 1, "%") == "0.6% (0.5% to 0.7%)"
    assert ff._pm([-0.01, 0.01], 1) == "0.0 (0.0 to 0.0)" and cn._pm([-0.001, 0.0], 1) == "0.0 (0.0 to 0.0)"
    assert ff._pm([1.0, float("inf")], 1) == "1.0; never in 1 of 2 seeds" and ff._pm([float("inf")]) == "never"
    with pytest.raises(ValueError, match="no values"):
        ff._pm([])


def test_epochs_to_reach():
    c = {"epoch": [0, 1, 2], "train_nll": [2.0, 0.5, 0.01]}
    assert ff.epochs_to_reach(c, 0.5) == 1 and ff.epochs_to_reach(c, 0.001) == math.inf


# --- the convolutional experiment (paper §6.7) --------------------------------

def test_conv_norms_are_the_torch_functions():
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5, 5, dtype=torch.float64) * 2 + 0.5
    ref = {
        "layer": F.layer_norm(x, x.shape[1:]),  # one mean and variance per example over (C, H, W)
        "instance": F.instance_norm(x),
        "group": F.group_norm(x, cn.GROUPS),
        "batch": F.batch_norm(x, None, None, training=True),
        "none": x,
    }
    for norm, expected in ref.items():
        torch.testing.assert_close(norms.make(norm, 8, layout="channels", groups=cn.GROUPS).double()(x), expected)


def test_convnet_shapes_and_summed_inputs():
    torch.manual_seed(0)
    model = cn.ConvNet("layer", 8).eval()
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == (5, 10)
    a0 = cn.summed_inputs(model, x, 0)
    torch.testing.assert_close(a0, model.convs[0](x))
    a1 = cn.summed_inputs(model, x, 1)
    torch.testing.assert_close(a1, model.convs[1](F.relu(model.norms[0](a0))))
    assert cn.summed_inputs(model, x, 2).shape == (5, 16, 4, 4)
    with pytest.raises(ValueError, match="multiple of"):
        cn.ConvNet("group", 6)
    with pytest.raises(ValueError, match="layer"):
        cn.summed_inputs(model, x, 3)


def test_position_stats_on_a_known_tensor():
    edge = cn.boundary_mask(8, 8)
    assert edge.sum().item() == 28 and not edge[1:7, 1:7].any()
    a = torch.zeros(10, 2, 8, 8)
    a[:, :, 1:7, 1:7] = torch.arange(10.0)[:, None, None, None] + 1  # centre on and varying; boundary 0
    s = cn.position_stats(a)
    assert s["boundary_active"] == 0 and s["centre_active"] == 1
    assert s["boundary_std"] == 0 and s["centre_std"] == pytest.approx(np.arange(1, 11).std(ddof=1))
    assert np.array(s["active"]).shape == (8, 8)
    with pytest.raises(ValueError, match="N, C, H, W"):
        cn.position_stats(torch.zeros(3, 3))


def test_train_convnets_tiny():
    out = cn.train_convnets(dict(channels=4, steps=3, n_logs=1), seed=1)
    assert set(out["runs"]) == set(cn.NORMS)
    assert out["runs"]["batch"]["step"] == [0, 3]
    assert set(out["positions"]) == {"layer1", "layer2"}
    assert 0 <= out["positions"]["layer1"]["boundary_active"] <= 1


def test_registered_with_both_budgets():
    for name in ("ffn_digits", "convnet_digits"):
        assert name in experiments.names()
        q, f = experiments.sizes(name, "quick"), experiments.sizes(name, "full")
        assert set(q) == set(f)


# --- the claims, on synthetic records -----------------------------------------

def _record(name, runs, seeds=(0, 1)):
    return {"name": name, "budget": "quick", "seeds": list(seeds), "runs": runs}


def _ffn_curves(final_err, nll):
    return {"epoch": [0, 1, 2, 3], "train_nll": nll, "test_nll": nll, "test_err": [0.9, 0.5, 0.2, final_err]}


def _ffn_record(ln4, bn4, ln_nll, bn_nll, bnh_nll=(2.3, 0.5, 0.2, 0.1)):
    fast, slow = [2.3, 0.04, 0.02, 0.01], [2.3, 0.5, 0.2, 0.1]
    runs = []
    for s in range(2):
        runs.append({"runs": {"batch-hidden/128": _ffn_curves(0.02, list(bnh_nll)),
            "layer/128": _ffn_curves(0.02, ln_nll), "layer/4": _ffn_curves(ln4[s], ln_nll),
            "batch/128": _ffn_curves(0.02, bn_nll), "batch/4": _ffn_curves(bn4[s], bn_nll),
            "none/128": _ffn_curves(0.05, slow), "none/4": _ffn_curves(0.05, fast)}})
    return _record("ffn_digits", runs)


def _claim(check):
    return next(c for c in experiments.claims() if c.check is check)


def test_ffn_claims_verdicts():
    fast, slow = [2.3, 0.04, 0.02, 0.01], [2.3, 0.5, 0.2, 0.1]
    robust, faster = _claim(ff.robust_to_batch_size), _claim(ff.converges_faster)
    text, verdict = robust.verdict(_ffn_record([0.03, 0.025], [0.10, 0.12], fast, slow))
    assert verdict == "holds" and "percentage points" in text and "2 seeds" in text
    assert robust.verdict(_ffn_record([0.10, 0.12], [0.03, 0.025], fast, slow))[1] == "does not hold"
    assert robust.verdict(_ffn_record([0.03, 0.12], [0.05, 0.06], fast, slow))[1] == "inconclusive"
    text, verdict = faster.verdict(_ffn_record([0.03, 0.025], [0.10, 0.12], fast, slow))
    assert verdict == "holds" and "never" in text
    assert faster.verdict(_ffn_record([0.03, 0.025], [0.10, 0.12], slow, fast))[1] == "does not hold"
    # neither norm reaches the target: no effect (a ratio of 1), so the claim does not hold
    assert faster.verdict(_ffn_record([0.03, 0.025], [0.10, 0.12], slow, slow))[1] == "does not hold"
    with pytest.raises(ValueError, match="a record of"):
        robust.verdict(dict(_ffn_record([0.03, 0.025], [0.1, 0.1], fast, slow), name="convnet_digits"))


def _cnn_record(final_err, nll, edge_active=(0.2, 0.25), edge_std=(0.1, 0.12)):
    runs = []
    for s in range(2):
        runs.append({
            "runs": {n: {"step": [0, 10], "train_nll": [2.3, nll[n][s]], "test_nll": [2.3, nll[n][s]],
                         "test_err": [0.9, final_err[n][s]]} for n in cn.NORMS},
            "positions": {"layer1": {"boundary_active": edge_active[s], "centre_active": 0.7,
                                     "boundary_std": edge_std[s], "centre_std": 0.3}}})
    return _record("convnet_digits", runs)


def test_convnet_claims_verdicts():
    nll = {n: (0.5, 0.6) for n in cn.NORMS} | {"layer": (0.1, 0.12), "none": (0.8, 0.9), "batch": (0.01, 0.02)}
    err = {n: (0.05, 0.06) for n in cn.NORMS} | {"batch": (0.01, 0.012), "layer": (0.03, 0.035)}
    rec = _cnn_record(err, nll)
    for check in (cn.ln_speeds_up_convnet, cn.bn_faster_than_ln, cn.bn_beats_ln_test_error, cn.boundary_units_differ,
                  cn.boundary_units_rarely_on):
        assert _claim(check).verdict(rec)[1] == "holds", check.__name__
    flipped = _cnn_record(err | {"batch": (0.04, 0.05)}, nll | {"none": (0.05, 0.06), "batch": (0.3, 0.4)},
                          edge_active=(0.6, 0.65), edge_std=(0.29, 0.31))
    for check in (cn.ln_speeds_up_convnet, cn.bn_faster_than_ln, cn.bn_beats_ln_test_error,
                  cn.boundary_units_rarely_on):
        assert _claim(check).verdict(flipped)[1] == "does not hold", check.__name__
    # 0.29 and 0.31 against 0.3: different, but not "very" (a ratio beyond 4/3)
    assert _claim(cn.boundary_units_differ).verdict(flipped)[1] == "holds in direction, not in size"
    # paired by seed: layer norm's (0.1, 0.12) against none (0.09, 0.2) and batch norm (0.05, 0.13)
    mixed = _cnn_record(err | {"batch": (0.02, 0.04)}, nll | {"none": (0.09, 0.2), "batch": (0.05, 0.13)})
    assert _claim(cn.bn_beats_ln_test_error).verdict(mixed)[1] == "inconclusive"
    assert _claim(cn.bn_faster_than_ln).verdict(mixed)[1] == "inconclusive"
    assert _claim(cn.ln_speeds_up_convnet).verdict(mixed)[1] == "inconclusive"


def test_every_claim_of_chapter_6_is_registered():
    sections = [(c.section, c.experiment) for c in experiments.claims()]
    assert sections.count(("6.6", "ffn_digits")) == 3  # two claims of the paper and our control
    assert sections.count(("6.7", "convnet_digits")) == 5


def test_ffn_control_hidden_only_batch_norm():
    """Layer norm against batch norm placed like it (hidden layers only), at batch size 128.

    Mutant: reading ``batch/128`` instead of ``batch-hidden/128`` makes the second case hold.
    """
    fast, slow = [2.3, 0.04, 0.02, 0.01], [2.3, 0.5, 0.2, 0.1]
    control = _claim(ff.control_hidden_only)
    text, verdict = control.verdict(_ffn_record([0.03, 0.025], [0.1, 0.12], fast, slow, bnh_nll=slow))
    assert verdict == "holds" and "batch norm on the hidden layers never" in text
    assert control.verdict(_ffn_record([0.03, 0.025], [0.1, 0.12], fast, slow, bnh_nll=fast))[1] == "does not hold"


def test_ffn_runs_controls_and_the_biased_variance():
    out = ff.train_ffn(dict(hidden=8, batch_sizes=[128, 4], epochs=[1, 1], n_logs=2, norms=["batch"],
                            controls=["batch-hidden/128"]), seed=0)
    assert list(out["runs"]) == ["batch/128", "batch/4", "batch-hidden/128"]
    assert [m.unbiased for m in ff.build_mlp("batch", 8, 4, unbiased=False) if isinstance(m, ff.BatchNorm)] == [False] * 3
    assert [m.unbiased for m in ff.build_mlp("batch", 8, 4) if isinstance(m, ff.BatchNorm)] == [True] * 3
    with pytest.raises(ValueError, match="needs a batch size"):
        ff.train_ffn(dict(hidden=8, batch_sizes=[4], epochs=[1], n_logs=1, norms=[], controls=["layer/128"]))
    with pytest.raises(TypeError, match="unbiased must be"):
        ff.build_mlp("batch", 8, 4, unbiased=1)


def test_convnet_train_one_builds_the_given_network():
    built = []

    class Spy(cn.ConvNet):
        def __init__(self, norm, channels):
            built.append((norm, channels))
            super().__init__(norm, channels)

    model, curves = cn.train_one("layer", channels=4, steps=2, n_logs=1, net=Spy)
    assert built == [("layer", 4)] and isinstance(model, Spy) and len(curves["step"]) == 2


def test_epochs_ratio_bounds_a_side_that_never_got_there():
    """Mutant: returning 0 for 'b never' (LN / inf) instead of the bound a / total fails the first assert."""
    inf = math.inf
    r = ff._epochs_ratio([2.0, inf, 3.0, inf], [4.0, 5.0, inf, inf], total=10.0)
    assert r.tolist() == [0.5, 2.0, 0.3, 1.0]
