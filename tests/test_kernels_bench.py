"""Tests for helpers.kernels (layer norm as a kernel, variance algorithms) and helpers.bench.

References: torch.nn.functional.layer_norm and its autograd, float64 variances,
and the benchmark run end to end at tiny sizes (a smoke test: no timing is asserted).
"""

import doctest
import json
import platform
import sys

import pytest
import torch
import torch.nn.functional as F

from helpers import bench, kernels, lstm_kernel
from helpers.kernels import VARIANCE_METHODS, layer_norm_backward_rows, naive_layer_norm, variance

F64 = torch.float64


def rand(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_naive_layer_norm_is_torch_layer_norm():
    x, w, b = rand(5, 7), rand(7, seed=1), rand(7, seed=2)
    torch.testing.assert_close(naive_layer_norm(x, w, b, eps=1e-3), F.layer_norm(x, (7,), w, b, eps=1e-3))


def test_backward_rows_is_torch_autograd():
    x, w, b, dy = (rand(*s, seed=i) for i, s in enumerate([(3, 4, 6), (6,), (6,), (3, 4, 6)]))
    x, w, b = (t.requires_grad_() for t in (x, w, b))
    expected = torch.autograd.grad(F.layer_norm(x, (6,), w, b), (x, w, b), dy)
    got = layer_norm_backward_rows(dy, x.detach(), w.detach())
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("method", VARIANCE_METHODS)
def test_variance_methods_agree_in_float64_without_offset(method):
    x = rand(4, 33)
    torch.testing.assert_close(variance(x, method), x.var(-1, correction=0))


def test_one_pass_cancels_and_welford_does_not():
    x = 1e4 + rand(8, 256)  # float64 reference; float32 computation below
    xs = x.float()
    ref = xs.double().var(-1, correction=0)
    err = {m: ((variance(xs, m).double() - ref).abs() / ref).max().item() for m in VARIANCE_METHODS}
    assert err["one-pass"] > 0.1  # catastrophic: more than 10 % wrong
    assert err["two-pass"] < 1e-4 and err["welford"] < 1e-2
    # a float32 accumulator rescues float16 input
    x16 = (10 + rand(8, 256)).half()
    ref16 = x16.double().var(-1, correction=0)
    assert ((variance(x16, "welford", torch.float32).double() - ref16).abs() / ref16).max() < 1e-5


def test_welford_update_matches_the_definition():
    n, mean, m2 = 0, torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64)
    x = rand(2, 9)
    for j in range(9):
        n, mean, m2 = kernels.welford_update(n, mean, m2, x[:, j])
    torch.testing.assert_close(mean, x.mean(-1))
    torch.testing.assert_close(m2 / n, x.var(-1, correction=0))


def test_bad_inputs():
    with pytest.raises(ValueError, match="method"):
        variance(rand(2, 3), "three-pass")
    with pytest.raises(ValueError, match="shape"):
        naive_layer_norm(rand(2, 3), rand(4), rand(3))
    with pytest.raises(TypeError, match="x"):
        naive_layer_norm([[1.0]], rand(1), rand(1))
    for fn in (naive_layer_norm, kernels.c_layer_norm):  # a gain or bias that is no tensor
        with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
            fn(rand(2, 3), [1.0, 1.0, 1.0], rand(3))
        with pytest.raises(TypeError, match="bias must be a torch.Tensor"):
            fn(rand(2, 3), rand(3), 0.0)
    with pytest.raises(ValueError, match="dy"):
        layer_norm_backward_rows(rand(2, 4), rand(2, 3), rand(3))
    with pytest.raises(ValueError, match="size"):
        bench.run("huge")
    with pytest.raises(ValueError, match="repeats"):
        bench.time_calls({"a": lambda: None}, repeats=0)


# --- the hand-written C kernel (compiled on first use; these fail, not skip, where it cannot build) ---

@pytest.mark.parametrize("shape", [(5, 1), (3, 7, 17), (64, 512), (2, 1000)])
def test_c_layer_norm_is_torch_layer_norm_forward_and_backward(shape):
    h = shape[-1]
    x, w, b, dy = (rand(*s, seed=i) for i, s in enumerate([shape, (h,), (h,), shape]))
    x = 3 + 2 * x  # an offset, so the mean matters
    x, w, b = (t.requires_grad_() for t in (x, w, b))
    y = kernels.c_layer_norm(x, w, b, eps=1e-3)
    ref = F.layer_norm(x, (h,), w, b, eps=1e-3)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    for g, e in zip(torch.autograd.grad(y, (x, w, b), dy), torch.autograd.grad(ref, (x, w, b), dy)):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_c_layer_norm_float32_and_without_grad():
    x, w, b = (rand(*s, seed=i, dtype=torch.float32) for i, s in enumerate([(33, 300), (300,), (300,)]))
    with torch.no_grad():
        y = kernels.c_layer_norm(x, w, b)
    assert not y.requires_grad
    torch.testing.assert_close(y, F.layer_norm(x, (300,), w, b), rtol=1e-5, atol=1e-5)
    nc = x.t().contiguous().t()  # a non-contiguous view of the same values
    torch.testing.assert_close(kernels.c_layer_norm(nc, w, b), y)


@pytest.mark.parametrize("shape", [(4099, 33), (3, 20000), (257, 300)])
def test_c_layer_norm_on_two_threads_is_torch_layer_norm(shape, two_threads):
    """Rows split into two blocks (one per thread), the column sums of dw and db in one row per block."""
    n, h = shape
    assert kernels.c_threads(n, h) == 2  # the threaded path is the one checked
    x, w, b, dy = (rand(*s, seed=i) for i, s in enumerate([shape, (h,), (h,), shape]))
    x, w, b = (t.requires_grad_() for t in (3 + 2 * x, w, b))
    y = kernels.c_layer_norm(x, w, b)
    ref = F.layer_norm(x, (h,), w, b)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    for g, e in zip(torch.autograd.grad(y, (x, w, b), dy), torch.autograd.grad(ref, (x, w, b), dy)):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_c_threads_follow_torch_and_the_size(two_threads):
    assert kernels.c_threads(1 << 10, 1 << 10) == 2 and kernels.c_threads(1, 1 << 20) == 1  # one row: one thread
    assert kernels.c_threads(4, 8) == 1  # too small to share
    torch.set_num_threads(1)
    assert kernels.c_threads(1 << 10, 1 << 10) == 1


def test_c_layer_norm_gradcheck():
    x, w, b = (rand(*s, seed=i).requires_grad_() for i, s in enumerate([(3, 6), (6,), (6,)]))
    assert torch.autograd.gradcheck(kernels.c_layer_norm, (x, w, b))


def test_c_layer_norm_refuses_what_it_cannot_run():
    assert kernels.c_available() == (True, "")
    with pytest.raises(TypeError, match="float32 or all float64"):
        kernels.c_layer_norm(rand(2, 4).bfloat16(), rand(4).bfloat16(), rand(4).bfloat16())
    with pytest.raises(TypeError, match="float32 or all float64"):
        kernels.c_layer_norm(rand(2, 4), rand(4).float(), rand(4))
    with pytest.raises(ValueError, match="shape"):
        kernels.c_layer_norm(rand(2, 4), rand(3), rand(4))
    with pytest.raises(ValueError, match="eps"):
        kernels.c_layer_norm(rand(2, 4), rand(4), rand(4), eps=-1.0)


@pytest.mark.skipif(kernels.triton_available(), reason="checks the message shown without a GPU")
def test_triton_says_what_it_needs():
    with pytest.raises(RuntimeError, match="CUDA GPU and the triton package"):
        kernels.triton_layer_norm(rand(2, 4), rand(4), rand(4))


@pytest.mark.skipif(not kernels.triton_available(), reason="needs a CUDA GPU and Triton")
def test_triton_matches_torch_forward_and_backward():  # pragma: no cover - GPU only
    x, w, b, dy = (torch.randn(*s, device="cuda") for s in [(300, 1000), (1000,), (1000,), (300, 1000)])
    x, w, b = (t.requires_grad_() for t in (x, w, b))
    y = kernels.triton_layer_norm(x, w, b)
    ref = F.layer_norm(x, (1000,), w, b)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    for g, e in zip(torch.autograd.grad(y, (x, w, b), dy), torch.autograd.grad(ref, (x, w, b), dy)):
        torch.testing.assert_close(g, e, rtol=1e-3, atol=1e-3)


def test_bench_smoke(tmp_path):
    """The whole benchmark at tiny sizes: it runs, and the report holds what it should."""
    report = bench.run("tiny")
    json_path, md_path = bench.write_report(report, tmp_path)
    data = json.loads(json_path.read_text())
    impls = {r["impl"] for r in data["layer_norm"]}
    assert {"copy", "naive composite", "norms.LayerNorm", "F.layer_norm"} <= impls
    assert {r["direction"] for r in data["layer_norm"]} == {"forward", "backward"}
    assert all(r["gbps"] > 0 for r in data["layer_norm"])
    # every ratio is over the copy's and F.layer_norm's GB/s at the same direction, dtype and width
    # (was: F.layer_norm's vs_F == 1.0, F against itself). Mutant: vs_F over the copy's GB/s fails.
    by = {(r["direction"], r["dtype"], r["width"], r["impl"]): r["gbps"] for r in data["layer_norm"]}
    for r in data["layer_norm"]:
        key = (r["direction"], r["dtype"], r["width"])
        assert r["vs_F"] == pytest.approx(r["gbps"] / by[(*key, "F.layer_norm")], rel=1e-12), r
        assert r["vs_copy"] == pytest.approx(r["gbps"] / by[(*key, "copy")], rel=1e-12), r
    assert set(data["lstm"]["seconds"]) == {"LSTM(norm='layer')", "LSTM(norm='layer', engine='torch')", "nn.LSTM",
                                            "nn.LSTMCell loop", "LSTMCell(norm='layer') loop"}
    assert data["lstm"]["engine"].startswith("c ")  # the fused C kernel builds on the book's machines
    assert len(data["targets"]) == 2 and all(isinstance(t["met"], bool) for t in data["targets"])
    text = md_path.read_text()
    assert "## Targets" in text and "nn.LSTM" in text and data["machine"]["torch"] in text
    assert data["machine"]["allocator"] in text


def test_steady_allocator_says_what_it_did_once():
    first = bench.steady_allocator()
    assert first == bench.steady_allocator() and first == bench.machine()["allocator"]
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first.startswith("glibc malloc with its mmap threshold fixed")
    else:  # pragma: no cover - other platforms
        assert "not adjusted" in first


def test_time_calls_leaves_the_allocator_as_it_found_it():
    bench.default_allocator()
    t = bench.time_calls({"a": lambda: torch.ones(3)}, repeats=3)
    assert len(t["a"]["times"]) == 3 and not bench._ALLOCATOR  # pinned while timing only
    bench.steady_allocator()
    bench.time_calls({"a": lambda: torch.ones(3)}, repeats=1)
    assert bench._ALLOCATOR  # the bench process pinned it itself: it stays


def test_parse_threads():
    assert bench.parse_threads("1,all") == [1] + ([bench._ALL_THREADS] if bench._ALL_THREADS > 1 else [])
    assert bench.parse_threads("3, 1,3") == [3, 1]
    for bad in ("0", "two", "", "1,,2", "-1"):
        with pytest.raises(ValueError, match="threads"):
            bench.parse_threads(bad)


def test_scripted_peer_is_the_layer_norm_lstm_of_fastrnns():
    """Against the same equations written out with F.layer_norm, step by step, unscripted."""
    torch.manual_seed(0)
    peer = bench._scripted_peer(3, 5)
    with torch.no_grad():
        for p in peer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = rand(4, 2, 3, dtype=torch.float32)
    out, (h, c) = peer(x)
    w = dict(peer.named_parameters())
    hr, cr, outs = torch.zeros(2, 5), torch.zeros(2, 5), []
    for t in range(4):
        gates = (F.layer_norm(x[t] @ w["weight_ih"].T, (20,), w["layernorm_i.weight"], w["layernorm_i.bias"])
                 + F.layer_norm(hr @ w["weight_hh"].T, (20,), w["layernorm_h.weight"], w["layernorm_h.bias"]))
        i, f, g, o = gates[:, :5].sigmoid(), gates[:, 5:10].sigmoid(), gates[:, 10:15].tanh(), gates[:, 15:].sigmoid()
        cr = F.layer_norm(f * cr + i * g, (5,), w["layernorm_c.weight"], w["layernorm_c.bias"])
        hr = o * cr.tanh()
        outs.append(hr)
    torch.testing.assert_close((out, h, c), (torch.stack(outs), hr, cr))


def _part(threads, train, forward, peer, ln_fwd, ln_bwd, batch=8):
    r = lambda v: {"min": v, "median": v, "max": v}  # noqa: E731
    return {"threads": threads, "layer_norm": [{"width": 8, "direction": "forward", "speed": r(ln_fwd)},
                                               {"width": 8, "direction": "backward", "speed": r(ln_bwd)}],
            "lstm": [{"shape": {"T": 2, "B": batch, "I": 1, "H": 1}, "engine": "c",
                      "train": {"LSTM(norm='layer')": r(train), "scripted LayerNormLSTMCell": r(peer)},
                      "forward": {"LSTM(norm='layer')": r(forward)}}]}


def test_thread_targets_apply_issue_20s_goals():
    met = lambda parts: [t["met"] for t in bench.thread_targets(parts)]  # noqa: E731
    # train, forward, peer (its ratio to nn.LSTM), LN forward and backward speeds
    assert met([_part(1, 1.29, 1.49, 1.3, 0.95, 1.0)]) == [True] * 5
    assert met([_part(1, 1.31, 1.51, 1.3, 0.94, 0.99)]) == [False, False, False, False, False]
    assert met([_part(2, 1.49, 1.0, 2.0, 1.0, 1.0)]) == [True] * 5  # 1.5 at more than one thread
    assert met([_part(2, 1.51, 1.0, 2.0, 1.0, 1.0)])[0] is False
    one = bench.thread_targets([_part(1, 1.99, 9.0, 2.0, 1.0, 1.0, batch=1)])  # B = 1: <= 2, no forward goal
    assert [(t["goal"], t["met"]) for t in one][:2] == [("<= 2.0", True), ("< 1.0", True)]


def test_main_reports_each_thread_count(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--out", str(tmp_path), "--threads", "1,2"]) == 0
    finally:
        torch.set_num_threads(before)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [p["threads"] for p in data["threads"]] == [1, 2] and data["machine"]["threads"] == 1
    assert {t["threads"] for t in data["thread_targets"]} == {1, 2}
    for part in data["threads"]:
        assert {r["shape"]["B"] for r in part["lstm"]} == {4, 1} and len(part["layer_norm"]) == 4
        for r in part["lstm"]:
            # tiny shapes: the whole sequence in one call, on one thread (too little to share), said so
            assert r["engine"].startswith("c (whole sequence in one call, MKL's matrix products), 1 of ")
            assert set(r["train"]) == {"LSTM(norm='layer')", "scripted LayerNormLSTMCell"}
    text = (tmp_path / "bench.md").read_text()
    assert "## At each thread count" in text and "one row cannot be split" in text
    assert "[2 threads]" in capsys.readouterr().out


def test_engine_name_says_how_the_kernel_runs(two_threads, monkeypatch):
    if not lstm_kernel.available()[0]:
        pytest.fail("the C kernel did not build: " + lstm_kernel.available()[1])
    assert lstm_kernel.blas() is not None  # torch's x86-64 Linux build has MKL
    assert bench.lstm_engine_name(8, 128) == "c (whole sequence in one call, MKL's matrix products), 2 of 2 threads"
    assert bench.lstm_engine_name(64, 128) == "c (whole sequence in one call, MKL's matrix products), 2 of 2 threads"
    assert bench.lstm_engine_name(1, 128).endswith("1 of 2 threads: one row cannot be split")
    assert bench.lstm_engine_name(8, 16).endswith("1 of 2 threads: too little work per step to share")
    monkeypatch.setattr(lstm_kernel, "blas", lambda dtype=torch.float32: None)  # a torch without MKL
    assert bench.lstm_engine_name(8, 128) == "c (whole sequence in one call, its own matrix products), 2 of 2 threads"
    assert bench.lstm_engine_name(64, 128) == "c (per step, after torch's matrix product), 2 of 2 threads"


def test_main_writes_the_report(tmp_path, capsys):
    assert bench.main(["--tiny", "--out", str(tmp_path), "--threads", str(torch.get_num_threads())]) == 0
    assert (tmp_path / "bench.md").exists() and "wrote" in capsys.readouterr().out


def test_doctests():
    for module in (kernels, bench):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
    assert doctest.testmod(kernels).attempted >= 4


def test_each_compiled_signature_has_its_own_code_object():
    # dynamo caches (and counts recompilations) per code object: sixteen signatures sharing
    # one code object would exceed its limit of 8 and silently run the rest uncompiled
    sigs = [(dt, "cpu", w, grad) for dt in (torch.float32, torch.bfloat16) for w in (128, 512, 2048, 8192)
            for grad in (False, True)]
    codes = {kernels._compiled(False, s).__wrapped__.__code__ for s in sigs}
    assert len(codes) == len(sigs)
    assert all(c.co_code == kernels._naive.__code__.co_code for c in codes)  # the same function, copied
