"""The Transformer chapter's registered experiments (helpers.experiments.transformer) and their shipped records."""

import json

import pytest

from helpers import experiments
from helpers.experiments import transformer as tx


def test_registered_with_both_budgets():
    assert {"transformer_grads", "transformer_lm"} <= set(experiments.names())
    assert experiments.sizes("transformer_grads", "full")["depths"][-1] > experiments.sizes(
        "transformer_grads", "quick")["depths"][-1]  # the full budget measures a deeper model
    assert experiments.sizes("transformer_lm", "quick") == experiments.sizes("transformer_lm", "full")


def test_lm_record_on_tiny_runs(monkeypatch):
    monkeypatch.setattr(tx, "TRAIN", dict(tx.TRAIN, steps=2, eval_every=2, eval_batches=1))
    monkeypatch.setattr(tx, "RUNS", {k: tx.RUNS[k] for k in ("post/0", "pre/0", "dyt")})  # those the record reads
    rec = experiments.run("transformer_lm", "quick", seeds=[3], device="cpu")
    (result,) = rec["runs"]
    assert list(result["runs"]) == ["post/0", "pre/0", "dyt"]
    for h in result["runs"].values():
        assert len(h["loss"]) == len(h["time"]) == 2 and h["eval_step"] == [2] and not h["diverged"]
    assert len(result["dyt_alpha"]) == tx.MODEL["n_layer"]
    assert set(result["samples"]) == {"post/0", "pre/0"}
    assert all(s.startswith("Layer norm ") and len(s) == len("Layer norm ") + 200 for s in result["samples"].values())
    assert json.loads(json.dumps(rec)) == rec


@pytest.mark.parametrize("name, n_seeds", [("transformer_grads", 10), ("transformer_lm", 5)])
def test_shipped_records_say_what_made_them(name, n_seeds):
    rec = experiments.load_reference(name)
    assert rec["name"] == name and rec["budget"] == "full"
    assert rec["seeds"] == list(range(n_seeds)) and len(rec["runs"]) == len(rec["wall_s"]) == n_seeds
    assert rec["device"] and rec["torch"] and rec["date"] and rec["sizes"] == experiments.sizes(name, "full")
    if name == "transformer_lm":
        assert all(list(r["runs"]) == list(tx.RUNS) for r in rec["runs"])
        assert all(len(h["loss"]) == tx.TRAIN["steps"] for r in rec["runs"] for h in r["runs"].values()
                   if not h["diverged"])
    else:
        depths = rec["sizes"]["depths"]
        assert all(r["depths"] == depths and [len(g) for g in r["pre"]] == depths for r in rec["runs"])


@pytest.mark.parametrize("name", ["transformer_grads", "transformer_lm"])
def test_cuda_asked_for_without_a_gpu_is_refused(monkeypatch, name):
    # On a machine without a GPU, asking for one must fail loudly, never fall back to the CPU.
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' was asked for but this machine has no cuda device"):
        experiments.run(name, "quick", seeds=[0], device="cuda")


def test_helpers_refuse_cuda_without_a_gpu(monkeypatch):
    # The functions the experiments call check the device themselves too, before any work.
    import torch

    from helpers.corpus import load_char_corpus
    from helpers.transformer import grad_norms_at_init, train_lm

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    corpus = load_char_corpus()
    cfg = tx.model_config(len(corpus.vocab), n_layer=1)
    with pytest.raises(ValueError, match=r"grad_norms_at_init: .*'cuda'.*no cuda device"):
        grad_norms_at_init(cfg, corpus.train, device="cuda", batches=1)
    with pytest.raises(ValueError, match=r"train_lm: .*'cuda'.*no cuda device"):
        train_lm(cfg, corpus.train, corpus.val, steps=1, lr=1e-3, device="cuda")
    with pytest.raises(ValueError, match="train_lm: device must be"):
        train_lm(cfg, corpus.train, corpus.val, steps=1, lr=1e-3, device="gpu please")


def test_stall_threshold_and_stalled():
    """A run stalls when its last validation loss is within STALL_MARGIN_BITS of the unigram entropy.

    Mutant: comparing nats with bits (no / log 2) makes the second case stall.
    """
    import math

    from helpers.experiments import transformer as tx

    unigram = 4.0 * math.log(2)  # 4 bits
    threshold = tx.stall_threshold(unigram)
    assert threshold == pytest.approx(4.0 - tx.STALL_MARGIN_BITS)
    bits = lambda b: {"diverged": False, "val_loss": [9.0, b * math.log(2)]}  # noqa: E731
    assert tx.stalled(bits(3.9), threshold) and not tx.stalled(bits(3.5), threshold)
    assert tx.stalled({"diverged": True, "val_loss": [0.1]}, threshold)
    with pytest.raises(ValueError, match="unigram_nats"):
        tx.stall_threshold(-1.0)
    with pytest.raises(TypeError, match="history must be"):
        tx.stalled([1.0], threshold)
