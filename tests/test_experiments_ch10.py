"""Chapter 10's registered experiments (helpers.experiments.placement and .attention) and their claims.

The experiments run here at a tiny budget (the registry's sizes patched for the test); the claims
are judged on records built by hand, whose verdicts are known, and on the tiny records; the
attention logits are checked against the attention layer's own output (softmax(logits) v, then
c_proj, must give what the layer returned). Mutants these tests catch: the largest stable learning
rate taken as the grid's best rather than the largest within tolerance; the sweep not stopping
after a divergence; logits read before QK-norm; a claim reading only the first seed; a ratio
upside down.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from helpers import experiments
from helpers.experiments import attention as at
from helpers.corpus import unigram_loss
from helpers.experiments import placement as pl
from helpers.transformer import GPT, GPTConfig, get_batch

NAMES = ("placement_depth", "qk_norm_logits")


def claims_of(name):
    return [c for c in experiments.claims() if c.experiment == name]


def test_registered_listed_and_sized():
    assert set(NAMES) <= set(experiments.names())
    for name in NAMES:
        q, f = experiments.sizes(name, "quick"), experiments.sizes(name, "full")
        assert f["steps"] >= q["steps"]
        assert claims_of(name) and all(c.section.startswith("10.") for c in claims_of(name))
    q, f = experiments.sizes("placement_depth", "quick"), experiments.sizes("placement_depth", "full")
    assert q["depths"] == f["depths"] == [6, 12, 24]  # the depths, at both budgets
    assert set(q["lrs"]) <= set(f["lrs"]) == set(pl.LRS) and q["lrs"] == sorted(q["lrs"])


# --- the rule for the largest stable learning rate -------------------------------------------

def test_largest_stable_lr():
    lrs = [0.01, 0.1, 1.0]
    assert pl.largest_stable_lr(lrs, [3.3, 3.35, None]) == 0.1  # diverged at 1.0
    assert pl.largest_stable_lr(lrs, [3.3, 3.6, 3.39]) == 1.0  # not monotone: the largest within tolerance
    assert pl.largest_stable_lr(lrs, [3.3, 3.41, 3.5]) == 0.01  # 3.41 is 0.11 above the best
    assert pl.largest_stable_lr(lrs, [3.3, 3.41, 3.5], tolerance=0.2) == 1.0
    assert pl.largest_stable_lr(lrs, [None, float("nan"), float("inf")]) == 0.0
    assert pl.largest_stable_lr(lrs, [3.5, 3.3, 3.38]) == 1.0  # best in the middle
    assert pl.largest_stable_lr(lrs, [3.5, 3.3, 3.45]) == 0.1  # 3.45 is 0.15 above the best
    # a run that never got below the unigram loss has not trained: post-LN's stall at every rate is not "stable"
    assert pl.largest_stable_lr(lrs, [3.27, 3.28, 3.30], learned_below=3.21) == 0.0
    assert pl.largest_stable_lr(lrs, [3.10, 3.28, 3.15], learned_below=3.21) == 1.0  # 3.28 skipped, 3.15 counts
    with pytest.raises(TypeError, match="learned_below"):
        pl.largest_stable_lr(lrs, [3.1, 3.2, 3.3], learned_below="3.2")


def test_unigram_loss_is_the_cross_entropy_of_the_character_frequencies():
    from types import SimpleNamespace
    corpus = SimpleNamespace(train=torch.tensor([0, 0, 0, 1]), val=torch.tensor([0, 1]), vocab=["a", "b", "c"])
    p = {0: 4 / 7, 1: 2 / 7}  # add-one counts 4, 2, 1 over 7
    assert unigram_loss(corpus) == pytest.approx(-(math.log(p[0]) + math.log(p[1])) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="largest_stable_lr: lrs must be increasing"):
        pl.largest_stable_lr([0.1, 0.01], [1.0, 1.0])
    with pytest.raises(ValueError, match="one final loss per learning rate, got 1 for 2"):
        pl.largest_stable_lr([0.01, 0.1], [1.0])
    with pytest.raises(ValueError, match="tolerance must be finite and >= 0"):
        pl.largest_stable_lr([0.01], [1.0], tolerance=-1)


# --- tiny runs ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_placement():
    exp = experiments.get("placement_depth")
    saved = exp.sizes["quick"]
    # lr 50 diverges in the first steps; lr 1e3 and 1e4 after it are then not run
    exp.sizes["quick"] = dict(depths=[1, 2], lrs=[1e-3, 50.0, 1e3, 1e4], steps=2, batch_size=2, grad_batches=1,
                              eval_batches=1)
    try:
        yield experiments.run("placement_depth", "quick", seeds=[0, 1], device="cpu")
    finally:
        exp.sizes["quick"] = saved


@pytest.fixture(scope="module")
def tiny_qk():
    exp = experiments.get("qk_norm_logits")
    saved = exp.sizes["quick"]
    exp.sizes["quick"] = dict(steps=3, lr_low=1e-3, lr_high=1e-1, batch_size=2, eval_batches=1)
    try:
        with pytest.MonkeyPatch.context() as mp:  # a smaller model than the chapter's, for speed
            mp.setattr(at, "MODEL", dict(at.MODEL, n_layer=1, n_embd=8, n_head=2, block_size=8))
            yield experiments.run("qk_norm_logits", "quick", seeds=[0, 1], device="cpu")
    finally:
        exp.sizes["quick"] = saved


def test_placement_record(tiny_placement):
    rec = tiny_placement
    assert json.loads(json.dumps(rec)) == rec
    for run in rec["runs"]:
        assert run["placements"] == list(pl.PLACEMENTS) and run["depths"] == [1, 2]
        for p in pl.PLACEMENTS:
            assert [len(g) for g in run["grads"][p]] == [1, 2]  # one norm per block
            assert all(v > 0 for g in run["grads"][p] for v in g)
            for finals, div, best in zip(run["final_loss"][p], run["diverged"][p], run["largest_stable_lr"][p]):
                assert len(finals) == len(div) == 4
                # every rate after the first divergence is not run, not only the next one
                assert div == [False, True, None, None] and finals[1:] == [None, None, None]
                assert best == pl.largest_stable_lr(run["lrs"], finals, learned_below=run["unigram_loss"]
                                                    - pl.LEARNED_NATS)
            assert pl.stable_lrs(run, p) == run["largest_stable_lr"][p]  # the claims' rule is the run's
    assert rec["runs"][0]["grads"] != rec["runs"][1]["grads"]  # the seed changes the initialization
    for c in claims_of("placement_depth"):
        out = c.evaluate(rec)
        assert out["verdict"] in experiments.VERDICTS and len(out["effects"]) == 2


def test_qk_record(tiny_qk):
    rec = tiny_qk
    assert json.loads(json.dumps(rec)) == rec
    for run in rec["runs"]:
        assert set(run["runs"]) == {"low", "high", "high_qk"} and set(run["init"]) == {"plain", "qk"}
        assert run["runs"]["high_qk"]["qk_norm"] and not run["runs"]["high"]["qk_norm"]
        for r in run["runs"].values():
            assert len(r["loss"]) == 3 and len(r["val_loss"]) == 1
            assert 0 <= r["min_entropy"] <= r["mean_entropy"] <= math.log(8)  # the test's block_size
    for c in claims_of("qk_norm_logits"):
        out = c.evaluate(rec)
        assert out["verdict"] in experiments.VERDICTS and len(out["effects"]) == 2


@pytest.mark.parametrize("name", NAMES)
def test_cuda_asked_for_without_a_gpu_is_refused(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' was asked for but this machine has no cuda device"):
        experiments.run(name, "quick", seeds=[0], device="cuda")


# --- attention logits against the attention layer's own output -------------------------------

@pytest.mark.parametrize("qk_norm", [False, True])
def test_attention_logits_reproduce_the_layer(qk_norm):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, qk_norm=qk_norm)).double()
    with torch.no_grad():  # gains away from 1 so that QK-norm's parameters matter
        for name, p in model.named_parameters():
            if "q_norm" in name or "k_norm" in name:
                p.copy_(torch.randn_like(p) + 1)
    idx = torch.randint(11, (3, 8), generator=torch.Generator().manual_seed(1))
    seen = []
    hooks = [b.attn.register_forward_hook(lambda m, a, y: seen.append((m, a[0], y))) for b in model.transformer.h]
    model(idx)
    for h in hooks:
        h.remove()
    logits = at.attention_logits(model, idx)
    assert len(logits) == 2
    for (attn, x, y), lg in zip(seen, logits):
        B, T, C = x.shape
        assert lg.shape == (B, 2, T, T)
        assert torch.isinf(lg[..., ~torch.ones(T, T, dtype=torch.bool).tril()]).all()
        v = attn.c_attn(x).split(C, dim=-1)[2].view(B, T, 2, C // 2).transpose(1, 2)  # (B, nh, T, hs)
        again = attn.c_proj((lg.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C))
        assert torch.allclose(again, y, rtol=0, atol=1e-12)


def test_attention_stats_closed_form():
    """With zero query weights every logit is 0: max logit 0, and each head's entropy is the mean of log(t + 1)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)).double()
    with torch.no_grad():
        for b in model.transformer.h:
            b.attn.c_attn.weight[:8].zero_()
            b.attn.c_attn.bias.zero_()
    s = at.attention_stats(model, torch.randint(11, (2, 8)))
    want = sum(math.log(t + 1) for t in range(8)) / 8
    assert s["max_logit"] == 0.0
    assert s["min_entropy"] == pytest.approx(want, abs=1e-12) and s["mean_entropy"] == pytest.approx(want, abs=1e-12)
    with pytest.raises(TypeError, match="attention_logits: model must be a helpers.transformer.GPT"):
        at.attention_logits(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long))


# --- the claims, on records whose verdicts are known ------------------------------------------

def _finals(best):
    """Final losses on :data:`LRS` whose largest stable learning rate is ``best``: 3.0 up to it, diverged above;
    ``best`` 0: no run learned (3.3, above the unigram loss of 3.26, at every rate)."""
    return [3.3] * len(pl.LRS) if best == 0 else [3.0 if lr <= best else None for lr in pl.LRS]


def _placement_record(grads_last, lrs):
    """Two seeds; ``grads_last[p]`` and ``lrs[p]``: per-seed last-block gradient and largest stable lr at depth 24."""
    runs = []
    for s in range(2):
        runs.append({"depths": [6, 24], "placements": list(pl.PLACEMENTS), "lrs": list(pl.LRS), "unigram_loss": 3.26,
                     "grads": {p: [[1.0] * 6, [1.0] * 23 + [grads_last.get(p, (1.0, 1.0))[s]]] for p in pl.PLACEMENTS},
                     "final_loss": {p: [_finals(0.1), _finals(lrs.get(p, (0.1, 0.1))[s])] for p in pl.PLACEMENTS}})
    return {"name": "placement_depth", "runs": runs, "budget": "quick", "seeds": [0, 1], "device": "cpu",
            "date": "2026-01-01"}


def _verdicts(name, record):
    return {c.check.__name__: c.evaluate(record)["verdict"] for c in claims_of(name)}


def test_placement_claims_judged_by_the_rule():
    rec = _placement_record({"post": (4.0, 3.0), "pre": (1.0, 1.5)},
                            {"post": (0.03, 0.03), "pre": (0.1, 0.3), "deepnorm": (0.1, 0.3)})
    v = _verdicts("placement_depth", rec)
    assert v == {"post_grads_near_output_larger": "holds", "post_less_stable_than_pre": "holds",
                 "deepnorm_as_stable_as_pre": "holds", "deepnorm_more_stable_than_post": "holds"}
    rec = _placement_record({"post": (0.5, 3.0)}, {"post": (0.1, 0.3), "pre": (0.03, 0.1), "deepnorm": (0.03, 0.3)})
    v = _verdicts("placement_depth", rec)
    assert v["post_grads_near_output_larger"] == "inconclusive"  # seed 0 the other way
    assert v["post_less_stable_than_pre"] == "does not hold"  # post's lr larger in both seeds
    assert v["deepnorm_as_stable_as_pre"] == "holds"  # equal in seed 0 (the tolerance), larger in seed 1
    assert v["deepnorm_more_stable_than_post"] == "does not hold"  # 0.3 and a tie (1.0): never above 1
    c = next(c for c in claims_of("placement_depth") if c.check is pl.deepnorm_as_stable_as_pre)
    assert c.evaluate(_placement_record({}, {"deepnorm": (0.03, 0.03)}))["verdict"] == "does not hold"
    # post-LN that never learns (a stall at the unigram loss) is the least stable, not as stable as the best
    v = _verdicts("placement_depth", _placement_record({}, {"post": (0, 0), "pre": (0.01, 0.03), "deepnorm": (0, 0)}))
    assert v["post_less_stable_than_pre"] == "holds" and v["deepnorm_as_stable_as_pre"] == "does not hold"
    assert v["deepnorm_more_stable_than_post"] == "undecided"  # neither learned: the seeds cannot be read
    # seed by seed: swapping the runs swaps the effects
    swapped = copy.deepcopy(rec)
    swapped["runs"] = swapped["runs"][::-1]
    for c in claims_of("placement_depth"):
        assert c.evaluate(swapped)["effects"] == c.evaluate(rec)["effects"][::-1]


def test_a_record_without_fixup_is_read_by_its_placements():
    """A record made before "fixup" joined PLACEMENTS (as the shipped one may be): the claims, placements_of and
    summary_rows read it by the placements it has."""
    rec = _placement_record({"post": (4.0, 3.0), "pre": (1.0, 1.5)}, {"post": (0.03, 0.03), "pre": (0.1, 0.3)})
    full = {c.check.__name__: c.evaluate(rec)["verdict"] for c in claims_of("placement_depth")}
    old = copy.deepcopy(rec)
    for run in old["runs"]:
        run["placements"].remove("fixup")
        for key in ("grads", "final_loss"):
            del run[key]["fixup"]
    assert "fixup" in pl.PLACEMENTS and pl.placements_of(rec) == list(pl.PLACEMENTS)
    assert pl.placements_of(old) == [p for p in pl.PLACEMENTS if p != "fixup"]
    assert _verdicts("placement_depth", old) == full  # the claims are about post, pre and DeepNorm only
    rows = pl.summary_rows(old)
    assert {r["placement"] for r in rows} == set(pl.placements_of(old)) and len(rows) == 2 * len(pl.placements_of(old))
    with pytest.raises(ValueError, match="no 'fixup' in every run"):
        pl.provenance_of(old, "fixup")
    assert pl.provenance_of(dict(old, provenance={"commit": "x"}), "pre") == {"commit": "x"}
    old["runs"][1]["placements"].remove("rezero")  # a placement only some seeds have is not read
    assert "rezero" not in pl.placements_of(old) and "rezero" in pl.placements_of(rec)


def test_the_shipped_record_s_merged_placements_carry_their_own_provenance():
    rec = experiments.load_reference("placement_depth")
    merged = rec.get("placement_provenance", {})
    for p, entry in merged.items():
        assert set(entry) == {"note", "seeds", "sizes", "device", "torch", "python", "date", "wall_s", "provenance"}
        assert tuple(entry["provenance"]) == experiments.provenance.KEYS
        assert "+changes" not in entry["provenance"]["commit"] and "unknown" not in entry["provenance"]["commit"]
        assert entry["seeds"] == rec["seeds"] and entry["sizes"] == rec["sizes"] and len(entry["wall_s"]) == len(rec["seeds"])
        assert entry["device"] == entry["provenance"]["device_name"] and entry["torch"] == entry["provenance"]["torch"]
        assert p in pl.placements_of(rec) and pl.provenance_of(rec, p) is entry["provenance"]
        for run in rec["runs"]:
            assert len(run["final_loss"][p]) == len(run["depths"]) and pl.stable_lrs(run, p) == run["largest_stable_lr"][p]
    for p in pl.placements_of(rec):
        if p not in merged:
            assert pl.provenance_of(rec, p) is rec["provenance"]
    with pytest.raises(ValueError, match="no 'layer' in every run"):
        pl.provenance_of(rec, "layer")


def _qk_record(low, high, high_qk, ent_high=(0.01, 0.02), ent_qk=(1.5, 1.6)):
    runs = [{"runs": {"low": {"lr": 0.01, "max_logit": low[s], "min_entropy": 2.0},
                      "high": {"lr": 0.1, "max_logit": high[s], "min_entropy": ent_high[s]},
                      "high_qk": {"lr": 0.1, "max_logit": high_qk[s], "min_entropy": ent_qk[s]}}} for s in range(2)]
    return {"name": "qk_norm_logits", "runs": runs, "budget": "quick", "seeds": [0, 1], "device": "cpu",
            "date": "2026-01-01"}


def test_qk_claims_judged_by_the_rule():
    v = _verdicts("qk_norm_logits", _qk_record((10, 12), (1000, 1500), (5, 6)))
    assert v == {"logits_grow_at_high_lr": "holds", "qk_norm_bounds_logits": "holds",
                 "entropy_collapses_without_qk_norm": "holds"}
    v = _verdicts("qk_norm_logits", _qk_record((10, 12), (8, 1500), (9, 2000), ent_high=(2.0, 0.1)))
    assert v == {"logits_grow_at_high_lr": "inconclusive", "qk_norm_bounds_logits": "does not hold",
                 "entropy_collapses_without_qk_norm": "inconclusive"}
    c = next(c for c in claims_of("qk_norm_logits") if c.check is at.qk_norm_bounds_logits)
    assert c.evaluate(_qk_record((1, 1), (100, 200), (5, 4)))["effects"] == [0.05, 0.02]


def test_attention_stats_on_a_trained_batch_are_finite():
    torch.manual_seed(0)
    from helpers.corpus import load_char_corpus

    corpus = load_char_corpus()
    model = GPT(GPTConfig(vocab_size=len(corpus.vocab), **{**at.MODEL, "n_layer": 1}))
    idx = get_batch(corpus.val, at.MODEL["block_size"], 2, torch.Generator().manual_seed(0))[0]
    s = at.attention_stats(model, idx)
    assert all(math.isfinite(v) for v in s.values()) and model.training  # the mode is restored
