"""Chapter 7's experiments (helpers.experiments: retrieval, reader, draw, handwriting, skipthoughts) and the results table.

Each experiment runs at a tiny size (its registered sizes patched for the
test); its building blocks are checked against independent references; each
claim's check is run on synthetic records whose verdict is known.
"""

from __future__ import annotations

import math

import pytest
import torch

from helpers import experiments
from helpers.experiments import draw, handwriting, reader, retrieval, table

TINY = {
    "order_embeddings": dict(train_pairs=64, dim=8, batch=16, steps=4, eval_every=2, lr=1e-3, margin=0.2, test_sets=2),
    "reader": dict(facts=2, hidden=8, batch=8, steps=4, eval_every=2, lr=1e-2, val=16, pop_batches=2),
    "draw": dict(hidden=8, latent=2, glimpses=2, batch=8, steps=4, eval_every=2, lr=1e-3),
    "handwriting": dict(length=6, hidden=8, mixtures=2, batch=8, steps=4, eval_every=2, lr=1e-3, val=4),
    "skip_thoughts": {},
}


@pytest.fixture
def tiny(monkeypatch):
    """Patch every chapter-7 experiment's quick sizes to TINY."""
    for name, sz in TINY.items():
        monkeypatch.setitem(experiments.get(name).sizes, "quick", sz)


@pytest.fixture(scope="module")
def tiny_records():
    saved = {n: experiments.get(n).sizes["quick"] for n in TINY}
    try:
        for n, sz in TINY.items():
            experiments.get(n).sizes["quick"] = sz
        return {n: experiments.run(n, "quick", seeds=[0, 1], device="cpu") for n in TINY}
    finally:
        for n, sz in saved.items():
            experiments.get(n).sizes["quick"] = sz


# --- every experiment runs, at a tiny size -------------------------------------

def test_registered_with_both_budgets_and_a_claim():
    for name in TINY:
        exp = experiments.get(name)
        assert set(exp.sizes) == {"quick", "full"} and exp.summary
        assert any(c.experiment == name for c in experiments.claims())


def test_tiny_runs_have_curves_for_every_variant(tiny_records):
    variants = {"order_embeddings": {"baseline", "ln"}, "reader": set(reader.VARIANTS),
                "draw": set(draw.ARMS), "handwriting": {"baseline", "ln"}}
    series = {"order_embeddings": "rsum", "reader": "val_error", "draw": "test_bound", "handwriting": "val_nll"}
    for name, vs in variants.items():
        rec = tiny_records[name]
        assert rec["budget"] == "quick" and rec["seeds"] == [0, 1]
        for run in rec["runs"]:
            assert set(run) == vs
            for v in vs:
                assert run[v]["step"] == [2, 4]
                assert all(math.isfinite(x) for x in run[v][series[name]])
    oe = tiny_records["order_embeddings"]["runs"][0]["ln"]["test"]
    assert set(oe) == {f"{d}_{m}" for d in ("caption", "image") for m in ("r1", "r5", "r10", "mean_rank")}
    hw = tiny_records["handwriting"]["runs"][0]["ln"]["sample"]
    assert len(hw) == TINY["handwriting"]["length"] and all(len(p) == 3 and p[2] in (0.0, 1.0) for p in hw)


def test_same_seed_same_record(tiny):
    a = experiments.run("draw", "quick", seeds=[3], device="cpu")["runs"]
    b = experiments.run("draw", "quick", seeds=[3], device="cpu")["runs"]
    assert [r["ln"]["test_bound"] for r in a] == [r["ln"]["test_bound"] for r in b]
    assert [r["baseline"]["test_bound"] for r in a] == [r["baseline"]["test_bound"] for r in b]


def test_every_claim_checks_a_real_record(tiny_records):
    """Each claim reads its record seed by seed: with the two seeds' runs swapped, its effects swap.

    Mutant: a claim's check computing every seed's effect from ``record["runs"][0]`` (or returning
    constants while seeds differ) fails the swap or the "seeds differ" check.
    """
    import copy

    tested, differing = 0, 0
    for c in experiments.claims():
        if c.experiment not in tiny_records:
            continue
        record = tiny_records[c.experiment]
        out = c.evaluate(record)
        assert out["verdict"] in experiments.VERDICTS and out["measurement"]
        if c.size is None:
            assert out["verdict"] == "not testable in miniature"
            continue
        swapped = copy.deepcopy(record)
        swapped["runs"] = swapped["runs"][::-1]
        assert c.evaluate(swapped)["effects"] == out["effects"][::-1], c.statement
        tested += 1
        differing += out["effects"][0] != out["effects"][1]
    assert tested and differing, (tested, differing)


# --- building blocks against independent references ------------------------------

def test_order_violation_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    c, im = torch.rand(3, 4, generator=gen), torch.rand(5, 4, generator=gen)
    want = torch.tensor([[sum(max(0.0, float(c[j, d] - im[k, d])) ** 2 for d in range(4)) for k in range(5)]
                         for j in range(3)])
    assert torch.allclose(retrieval.order_violation(c, im), want, atol=1e-6)
    assert retrieval.order_violation(torch.zeros(1, 4), torch.ones(1, 4)).item() == 0  # below: no violation


def test_retrieval_metrics_on_a_known_matrix():
    s = torch.eye(4)  # every right pair ranks first
    m = retrieval.retrieval_metrics(s)
    assert m["image_r1"] == m["caption_r1"] == 100.0 and m["image_mean_rank"] == 1.0
    s = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 0.5], [3.0, 0.0, 1.0]])
    m = retrieval.retrieval_metrics(s)
    # rows (images for each caption): right item ranks 3, 1, 2 -> R@1 = 1/3, mean rank 2
    assert m["image_r1"] == pytest.approx(100 / 3) and m["image_mean_rank"] == pytest.approx(2.0)
    # columns (captions for each image): ranks 3, 2 (a tie counts against the right one), 2
    assert m["caption_mean_rank"] == pytest.approx(7 / 3) and m["caption_r1"] == 0.0 and m["caption_r5"] == 100.0
    with pytest.raises(ValueError, match="square"):
        retrieval.retrieval_metrics(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        retrieval.retrieval_metrics(torch.tensor([[float("nan")]]))


def test_captions_evaluate_to_their_digits():
    gen = torch.Generator().manual_seed(1)
    for a in range(10):
        for b in range(10):
            words = [retrieval.VOCAB[t] for t in retrieval.caption_tokens(a, b, gen) if retrieval.VOCAB[t] != "<pad>"]
            left, right = " ".join(words).split(" , ")
            assert (eval(left), eval(right)) == (a, b)  # noqa: S307 -- digits and + - only


def test_recall_task_answer_is_in_the_passage():
    tokens, answer = reader.recall_task(50, 3, torch.Generator().manual_seed(2))
    assert tokens.shape == (8, 50)
    for j in range(50):
        key = int(tokens[1, j])
        facts = tokens[2:, j].view(3, 2)
        (row,) = [r for r in facts if int(r[0]) == key]
        assert int(row[1]) - reader.N_KEYS == int(answer[j])


def test_bn_lstm_normalizes_per_time_step():
    torch.manual_seed(0)
    cell = reader.BNLSTMCell(3, 5, max_steps=4, gain=1.0)
    x = torch.randn(4, 64, 3) * torch.tensor([1.0, 10.0, 100.0, 1000.0]).view(4, 1, 1)  # very different steps
    cell.run_sequence(x)
    assert not torch.allclose(cell.mean_ih[0], cell.mean_ih[3])  # each step keeps its own statistics
    cell.eval()
    h1 = cell.run_sequence(x[:, :2])
    h2 = cell.run_sequence(x[:, :1])
    assert torch.allclose(h1[:1], h2, atol=1e-6)  # at evaluation an example does not see the batch


def test_reader_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        reader.Reader(8, "group", 6)


def test_mixture_nll_against_torch_distributions():
    torch.manual_seed(0)
    M = 3
    params = torch.randn(7, 6 * M + 1)
    target = torch.cat([torch.randn(7, 2), torch.randint(2, (7, 1)).float()], dim=1)
    logit_pi, mx, my, lsx, lsy, rho_raw, eos = params.split([M] * 6 + [1], dim=1)
    rho = torch.tanh(rho_raw) * 0.999
    sx, sy = lsx.exp(), lsy.exp()
    cov = torch.stack([torch.stack([sx ** 2, rho * sx * sy], -1), torch.stack([rho * sx * sy, sy ** 2], -1)], -2)
    comp = torch.distributions.MultivariateNormal(torch.stack([mx, my], -1), covariance_matrix=cov)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=logit_pi), comp)
    want = -mix.log_prob(target[:, :2]) - torch.distributions.Bernoulli(logits=eos[:, 0]).log_prob(target[:, 2])
    assert torch.allclose(handwriting.mixture_nll(params, target), want, atol=1e-4)


def test_pen_trajectories_shape_and_pen_lifts():
    x = handwriting.pen_trajectories(3, 120, torch.Generator().manual_seed(0))
    assert x.shape == (120, 3, 3) and set(x[..., 2].unique().tolist()) <= {0.0, 1.0}
    assert (x[..., 2].sum(0) >= 3).all()  # strokes of at most 24 points: several lifts in 120
    with pytest.raises(ValueError, match="length"):
        handwriting.pen_trajectories(1, 1, torch.Generator())


def test_draw_kl_term_matches_torch():
    torch.manual_seed(0)
    model = draw.DRAW(6, 2, 3, None)
    x = (torch.rand(5, 64) > 0.5).float()
    recon, kl = model(x)
    assert recon.shape == kl.shape == (5,) and (kl >= 0).all() and (recon > 0).all()
    mu, log_sigma = torch.randn(4, 2), torch.randn(4, 2)
    q, p = torch.distributions.Normal(mu, log_sigma.exp()), torch.distributions.Normal(0.0, 1.0)
    ours = 0.5 * (mu ** 2 + (2 * log_sigma).exp() - 2 * log_sigma - 1).sum(1)  # the formula in DRAW.forward
    assert torch.allclose(ours, torch.distributions.kl_divergence(q, p).sum(1), atol=1e-6)


def test_draw_cell_norm_lstm_against_torch():
    """The paper's DRAW cell: torch's LSTM cell state, then h = sigmoid(o) * tanh(F.layer_norm(c)).

    Mutant: normalizing the gates too (``LSTMCell(norm="layer")``) changes c and fails the first assert.
    """
    torch.manual_seed(0)
    cell = draw.CellNormLSTMCell(3, 5).double()
    with torch.no_grad():
        cell.ln_c.weight.uniform_(0.5, 1.5), cell.ln_c.bias.uniform_(-0.5, 0.5)
    ref = torch.nn.LSTMCell(3, 5).double()
    with torch.no_grad():
        ref.weight_ih.copy_(cell.cell.weight_ih), ref.weight_hh.copy_(cell.cell.weight_hh)
        ref.bias_ih.copy_(cell.cell.bias), ref.bias_hh.zero_()
    x, h, c = (torch.randn(4, n, dtype=torch.float64) for n in (3, 5, 5))
    h1, c1 = cell(x, (h, c))
    _, c_ref = ref(x, (h, c))
    assert torch.allclose(c1, c_ref, atol=1e-12)
    o = torch.sigmoid(torch.nn.functional.linear(x, ref.weight_ih, ref.bias_ih) + h @ ref.weight_hh.T)[:, 15:]
    want = o * torch.tanh(torch.nn.functional.layer_norm(c_ref, (5,), cell.ln_c.weight, cell.ln_c.bias, 1e-5))
    assert torch.allclose(h1, want, atol=1e-12)
    with pytest.raises(ValueError, match="norm must be one of"):
        draw.DRAW(6, 2, 3, "batch")


def test_binarized_digits():
    x, xt = draw.binarized_digits()
    assert x.shape == (1347, 64) and xt.shape == (450, 64)
    assert set(x.unique().tolist()) == {0.0, 1.0}


# --- the claims' checks on synthetic records ---------------------------------------

def _record(name, runs):
    # the fields of a real record (helpers.experiments.run), with synthetic runs
    return {"name": name, "budget": "full", "sizes": experiments.sizes(name, "full"),
            "seeds": list(range(len(runs))), "device": "cpu", "date": "2026-01-01", "runs": runs}


def _curve(key, values, **extra):
    return {"step": [10 * (i + 1) for i in range(len(values))], key: values, "wall": [0.0] * len(values), **extra}


def _claim(experiment, fragment):
    (c,) = [c for c in experiments.claims() if c.experiment == experiment and fragment in c.statement]
    return c


def test_draw_claims_on_synthetic_records():
    fast = {"baseline": _curve("test_bound", [30, 28, 26, 25, 24, 24]), "ln": _curve("test_bound", [26, 24, 23, 23, 23, 23])}
    rec = _record("draw", [fast, fast])
    text, verdict = _claim("draw", "twice as fast").verdict(rec)
    assert verdict == "holds" and "0.40" in text  # the baseline's final 24.33 is reached at step 50, by LN at 20
    same = {"baseline": fast["baseline"], "ln": fast["baseline"]}
    assert _claim("draw", "twice as fast").verdict(_record("draw", [same, same]))[1] == "does not hold"  # ratio 1
    slower_start = {"baseline": fast["baseline"], "ln": _curve("test_bound", [30, 28, 24, 24, 24, 24])}  # ratio 0.6
    assert _claim("draw", "twice as fast").verdict(_record("draw", [slower_start, fast]))[1] == "holds"
    nearly = {"baseline": fast["baseline"], "ln": _curve("test_bound", [30, 28, 26, 24, 24, 24])}  # ratio 0.8
    assert _claim("draw", "twice as fast").verdict(_record("draw", [nearly, fast]))[1] == \
        "holds in direction, not in size"
    worse = {"baseline": fast["ln"], "ln": fast["baseline"]}
    assert _claim("draw", "lower) bound").verdict(_record("draw", [worse, fast]))[1] == "inconclusive"
    assert _claim("draw", "lower) bound").verdict(_record("draw", [worse, worse]))[1] == "does not hold"


def test_draw_speed_reports_the_median_and_the_seeds_that_got_there():
    fast = {"baseline": _curve("test_bound", [30, 28, 26, 25, 24, 24]), "ln": _curve("test_bound", [26, 24, 23, 23, 23, 23])}
    never = {"baseline": fast["baseline"], "ln": _curve("test_bound", [31, 30, 29, 29, 29, 29])}
    text, verdict = _claim("draw", "twice as fast").verdict(_record("draw", [fast, fast, never]))
    assert "median 0.40; LN reached it in 2 of 3 seeds (range 0.40 to 0.40 among them)" in text
    assert verdict == "inconclusive"  # a seed that never got there counts as slower: the seeds disagree
    text, _ = _claim("draw", "twice as fast").verdict(_record("draw", [fast, never, never]))
    assert "median never; LN reached it in 1 of 3 seeds" in text
    text, _ = _claim("draw", "twice as fast").verdict(_record("draw", [never, never]))
    assert "never: LN reached it in 0 of 2 seeds" in text


def test_ratio_and_spread_texts():
    from helpers.experiments._common import ratio_text, spread_text

    inf = math.inf
    assert ratio_text([1, 2, 3], [2, 2, 2]) == "median 1.00 (0.50 to 1.50); LN reached it in 3 of 3 seeds"
    assert ratio_text([1], [2]) == "median 0.50; LN reached it in 1 of 1 seed"
    with pytest.raises(ValueError, match="baseline's steps must be finite"):
        ratio_text([1, 2], [2, inf])
    with pytest.raises(ValueError, match="equal-length"):
        ratio_text([1, 2], [2])
    assert spread_text([1, 2, inf]) == "1.50 (1.00 to 2.00); never in 1 of 3 seeds"
    assert spread_text([-0.001, 0.001], 1, "%") == "0.0% (0.0% to 0.0%)" and spread_text([inf]) == "never"


def test_reader_claims_on_synthetic_records():
    slow, fast, stuck = [80, 60, 40, 20, 10, 10], [60, 20, 5, 2, 2, 2], [80, 80, 80, 80, 80, 80]
    learns = [70, 30, 8, 4, 3, 3]
    run = {"lstm": _curve("val_error", slow), "ln": _curve("val_error", fast),
           "ln_gain0.1": _curve("val_error", stuck), "bn": _curve("val_error", stuck),
           "bn_gain1.0": _curve("val_error", learns)}
    rec = _record("reader", [run, run])
    text, verdict = _claim("reader", "trains faster").verdict(rec)
    # the LSTM's final error (10) is reached by LN at step 30, by the LSTM at 50; BN never
    assert verdict == "holds" and "LN / LSTM median 0.60" in text and "never reached it in 2 of 2 seeds" in text
    text, verdict = _claim("reader", "lower validation").verdict(rec)
    assert verdict == "holds" and "recurrent BN 80.0 (80.0 to 80.0)" in text
    bn_learns = dict(run, bn=_curve("val_error", [70, 30, 8, 4, 3, 3]))  # BN at gain 0.1 reaches 10 at step 30 too
    text, verdict = _claim("reader", "trains faster").verdict(_record("reader", [bn_learns, bn_learns]))
    assert "LN / recurrent BN median 1.00" in text and verdict == "does not hold"  # a tie is no speed-up
    assert _claim("reader", "gain initialized").verdict(rec)[1] == "holds"
    flipped = dict(run, ln=run["ln_gain0.1"], **{"ln_gain0.1": run["ln"]})
    assert _claim("reader", "gain initialized").verdict(_record("reader", [flipped, flipped]))[1] == "does not hold"
    sensitive = _claim("reader", "less sensitive")
    # finals are means of the last 3: LN 2 vs 80 (gap 78); BN 80 vs 3.33 (gap 76.7): LN is the more sensitive here
    assert sensitive.verdict(rec)[1] == "does not hold"
    insensitive_ln = dict(run, **{"ln_gain0.1": _curve("val_error", fast)})  # LN gap 0, BN gap 80 - 3.33
    text, verdict = sensitive.verdict(_record("reader", [insensitive_ln, insensitive_ln]))
    assert verdict == "holds" and "recurrent BN 76.7 (76.7 to 76.7), LN 0.0 (0.0 to 0.0)" in text


def test_reader_bn_evaluation_modes_and_population_statistics():
    """The constant first steps of every question: population statistics keep them at 0, plain division does not.

    Mutant: with ``const_var=None`` in the population mode (plain batch norm at evaluation),
    the trained-mode and population outputs differ at the constant steps and the first assert fails.
    """
    torch.manual_seed(0)
    model = reader.Reader(8, "bn", max_steps=6)
    gen = torch.Generator().manual_seed(0)
    batches = [reader.recall_task(32, 2, gen)[0] for _ in range(3)]
    model.train()
    for tok in batches:  # moves the running averages a little, as training does
        model(tok)
    with torch.no_grad():
        model.embed.weight.add_(0.5)  # the weights move on; the running means lag behind
    tokens = batches[0]
    model.eval()
    batch_stats = model(tokens, "batch")  # the batch's own statistics, as in training
    population = [model.embed(t) for t in batches[:1]]
    model.cell.estimate_population(population)
    assert torch.allclose(model(tokens), batch_stats, atol=1e-4)  # one batch: its own statistics, constants at 0
    assert model.cell.const_var == 1e-8 and not model.training
    assert (model.cell.var_hh[0] == 0).all()  # h_0 = 0: the recurrent term is constant at the first step
    with pytest.raises(ValueError, match="no batches"):
        model.cell.estimate_population([])
    with pytest.raises(ValueError, match="stats must be one of"):
        model(tokens, "median")
    with pytest.raises(TypeError, match="floor must be"):
        model(tokens, "stored", 1)


def test_reader_evaluate_restores_the_running_averages():
    torch.manual_seed(0)
    model = reader.Reader(8, "bn", max_steps=6)
    gen = torch.Generator().manual_seed(1)
    val = reader.recall_task(16, 2, gen)
    model(val[0])  # one training-mode pass fills the running averages
    kept = {k: v.clone() for k, v in model.cell.named_buffers()}
    out = reader.evaluate(model, val, [reader.recall_task(16, 2, gen)[0]])
    assert set(out) == set(reader.BN_EVALUATIONS) and model.training
    assert all(torch.equal(v, kept[k]) for k, v in model.cell.named_buffers())


def test_handwriting_and_retrieval_claims_on_synthetic_records():
    hw = {"baseline": _curve("val_nll", [2.0, 1.0, 0.5, 0.0, 0.0, 0.0]), "ln": _curve("val_nll", [1.0, 0.0, -0.02, 0.0, 0.0, 0.0])}
    rec = _record("handwriting", [hw, hw])
    text, verdict = _claim("handwriting", "much faster").verdict(rec)
    assert verdict == "holds" and "median 0.50 (0.50 to 0.50); LN reached it in 2 of 2 seeds" in text  # step 20 vs 40
    comparable = _claim("handwriting", "comparable")
    # 'comparable': LN no worse than the baseline by more than COMPARABLE_NATS, in every seed
    def pair(base_final, ln_final):
        return {"baseline": _curve("val_nll", [3.0] + [base_final] * 3), "ln": _curve("val_nll", [3.0] + [ln_final] * 3)}
    assert handwriting.COMPARABLE_NATS == 0.05
    text, verdict = comparable.verdict(_record("handwriting", [pair(1.0, 1.04), pair(1.2, 1.0)]))  # +0.04, -0.2
    assert verdict == "holds"
    text, verdict = comparable.verdict(_record("handwriting", [pair(1.0, 0.4), pair(1.1, 0.6)]))  # LN lower in every seed
    assert verdict == "holds" and "-0.55 (-0.60 to -0.50) nats per point" in text
    text, verdict = comparable.verdict(_record("handwriting", [pair(1.0, 1.5), pair(1.1, 1.6)]))  # LN worse by 0.5
    assert verdict == "does not hold"
    assert comparable.verdict(_record("handwriting", [pair(1.0, 1.1), pair(1.2, 1.0)]))[1] == "inconclusive"
    test = {f"{d}_{m}": 50.0 for d in ("caption", "image") for m in ("r1", "r5", "r10", "mean_rank")}
    oe = {"baseline": _curve("rsum", [100, 200, 300, 250], test=test, best_rsum=300, best_step=30),
          "ln": _curve("rsum", [310, 300, 290, 280], test={**test, "image_r1": 60.0}, best_rsum=310, best_step=10)}
    rec = _record("order_embeddings", [oe, oe])
    text, verdict = _claim("order_embeddings", "speeds up").verdict(rec)
    assert verdict == "holds" and "LN / baseline: 0.33 (0.33 to 0.33)" in text and "last quarter" not in text  # 10 vs 30
    late = dict(oe, ln=dict(oe["ln"], best_step=40))
    text, verdict = _claim("order_embeddings", "speeds up").verdict(_record("order_embeddings", [late, oe]))
    assert verdict == "undecided" and "in 1 of 2 seeds a model found its best in the last quarter" in text
    ours = _claim("order_embeddings", "baseline's best validation R-sum sooner")
    assert ours.kind == "reading" and ours.verdict(rec)[1] == "holds"  # LN passes 300 at step 0: ratio 0/30
    assert _claim("order_embeddings", "improves retrieval").verdict(rec)[1] == "holds"


def test_a_claim_refuses_another_experiments_record(tiny_records):
    with pytest.raises(ValueError, match="a record of 'draw'"):
        _claim("draw", "twice as fast").verdict(tiny_records["reader"])


# --- the results table ----------------------------------------------------------

def test_results_table_one_row_per_claim_and_source():
    fast = {"baseline": _curve("test_bound", [30, 28, 26, 25, 24, 24]), "ln": _curve("test_bound", [26, 24, 23, 23, 23, 23])}
    full = _record("draw", [fast] * 5)
    quick = dict(_record("draw", [fast] * 2), budget="quick")
    rows = experiments.results_table({"shipped": [full], "this build": quick})
    assert [tuple(r) for r in rows] == [table.COLUMNS + ("measurement", "label", "kind")] * len(rows)
    draw_rows = [r for r in rows if r["section"] == "6.4"]
    assert len(draw_rows) == 2 * 2  # two claims, two sources
    assert draw_rows[0]["threshold"] == "≤ 0.60" and draw_rows[0]["verdict"] == "holds"  # 0.4 in every seed
    assert draw_rows[0]["effect"].startswith("steps to the baseline's final bound, LN / baseline: 0.40")
    assert draw_rows[0]["source"] == "shipped, 5\u00a0seeds"  # short, and wraps after the label only
    assert draw_rows[1]["source"] == "this build, 2\u00a0seeds"
    assert table.describe_sources({"shipped": [full, full], "this build": quick}) == (
        "shipped: full budget, 5 seeds, cpu, 2026-01-01. this build: quick budget, 2 seeds, cpu, 2026-01-01.")
    other = dict(_record("reader", [fast]), device="NVIDIA H200")
    assert table.describe_sources({"shipped": [full, other]}) == (
        "shipped: full budget, 5 seeds, cpu, 2026-01-01 (draw); full budget, 1 seed, NVIDIA H200, 2026-01-01 (reader).")
    others = [r for r in rows if r["section"] != "6.4"]
    assert others and all(r["verdict"] == table.NOT_RUN for r in others)
    n_claims = len(experiments.claims())
    assert len(rows) == n_claims + 2  # every registered claim appears, whoever registered it
    ours = experiments.results_table({"shipped": [full]}, claims=experiments.claims("ba2016layer"))
    assert {r["section"].split(".")[0] for r in ours} == {"6"}  # the layer-norm paper's sections only
    assert len(ours) == len(experiments.claims("ba2016layer")) < n_claims  # chapter 10's claims are not in it
    md = experiments.results_markdown(rows)
    assert md.count("\n") == len(rows) + 2 and "**holds**" in md
    # a claim from two sources: its text and evidence once, the second row says so
    draw = [line for line in md.splitlines() if line.startswith("| 6.4 |")]
    assert draw[0].count(table.SAME_CLAIM) == 0 and draw[1].count(table.SAME_CLAIM) == 2, draw[:2]
    assert draw[0].split(" | ")[1] == draw_rows[0]["claim"].replace("|", "\\|")


def test_results_table_escapes_and_iterates_whatever_is_registered():
    size = experiments.Size("m|n", "lower", 1.0, None, "no size")
    c = experiments.Claim("x", "9.9", "a | b", "p", size, lambda r: ("text", [0.5]))
    rows = experiments.results_table({"s": [{"name": "x", "runs": [{}], "budget": "quick", "seeds": [0],
                                             "device": "cpu", "date": "d"}]}, claims=[c])
    assert rows[0]["verdict"] == "holds" and rows[0]["effect"] == "m|n: 0.50"
    assert "a \\| b" in experiments.results_markdown(rows) and "m\\|n" in experiments.results_markdown(rows)


@pytest.mark.parametrize("bad, err, match", [
    ([], TypeError, "sources must be a dict"),
    ({"s": "nope"}, TypeError, "must be a record or a list"),
    ({"s": [{"runs": []}]}, ValueError, "lacks 'name' or 'runs'"),
    ({1: []}, TypeError, "label must be a str"),
])
def test_results_table_bad_inputs(bad, err, match):
    with pytest.raises(err, match=match):
        experiments.results_table(bad)


def test_results_markdown_bad_inputs():
    with pytest.raises(TypeError, match="rows must be a list"):
        experiments.results_markdown("rows")
    with pytest.raises(ValueError, match="each row must be a dict"):
        experiments.results_markdown([{"section": "6.1"}])


def test_guessing_error_matches_a_simulated_guesser():
    # a reader that ignores the question and picks one of the passage's values at random
    gen = torch.Generator().manual_seed(0)
    for k in (1, 3, 5):
        tok, ans = reader.recall_task(40_000, k, gen)  # (2 + 2K, n): query, asked key, then k1 v1 k2 v2 ...
        values = tok[3::2] - reader.N_KEYS  # (K, n)
        pick = values[torch.randint(k, (values.shape[1],), generator=gen), torch.arange(values.shape[1])]
        simulated = 100 * (pick != ans).double().mean().item()
        any_value, in_passage = reader.guessing_error(k)
        assert abs(simulated - in_passage) < 1.0 and any_value == pytest.approx(90.0)
    with pytest.raises(ValueError, match="n_facts"):
        reader.guessing_error(0)


def test_claims_by_paper():
    """Chapter 7's table takes the layer-norm paper's claims; chapter 10's are about later papers.
    Mutant: claims() ignoring ``paper`` (chapter 7's table then shows chapter 10's rows as 'not run')."""
    every = experiments.claims()
    ours = experiments.claims("ba2016layer")
    assert ours and all(c.paper == "ba2016layer" and c.section.startswith("6.") for c in ours)
    later = [c for c in every if c.paper != "ba2016layer"]
    assert later and all(c.section.startswith("10.") for c in later)
    assert len(ours) + len(later) == len(every)
    with pytest.raises(ValueError, match="no claim is about 'nobody2099'"):
        experiments.claims("nobody2099")
    with pytest.raises(TypeError):
        experiments.claims(2016)
