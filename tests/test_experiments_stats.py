"""The book's one rule (helpers.experiments.stats.judge) against hand-worked cases."""

import math

import pytest

from helpers.experiments.stats import RULE, Size, judge

FASTER = Size("LN / baseline steps", "lower", 1.0, 0.6, "'almost twice as fast': at most 0.6")
BETTER = Size("LN minus baseline test R-sum", "higher", 0.0, None, "no size stated")
COMPARABLE = Size("LN minus baseline NLL", "lower", 0.0, 0.05, "'comparable': no worse than 0.05")


@pytest.mark.parametrize("effects, size, verdict", [
    ([0.5, 0.55, 0.6], FASTER, "holds"),                       # every seed clears the size (0.6 included)
    ([0.5, 0.9], FASTER, "holds in direction, not in size"),   # every seed faster, one not by enough
    ([0.5, 1.2], FASTER, "inconclusive"),                      # the seeds disagree on the direction
    ([0.9, 1.0, 0.84], FASTER, "does not hold in size"),       # no seed near "twice as fast", one a tie
    ([1.0, 1.3], FASTER, "does not hold"),                     # no seed faster (1.0 is no effect)
    ([0.5, math.inf], FASTER, "inconclusive"),                 # a seed that never got there is the worst
    ([math.inf, math.inf], FASTER, "does not hold"),
    ([3.0, 0.1], BETTER, "holds"),                             # no size: direction in every seed
    ([3.0, -0.1], BETTER, "inconclusive"),
    ([-3.0, 0.0], BETTER, "does not hold"),
    ([-0.3, 0.04], COMPARABLE, "holds"),                       # a tolerance: no worse than +0.05
    ([0.06, 0.2], COMPARABLE, "does not hold"),
    ([0.01, 0.2], COMPARABLE, "inconclusive"),
])
def test_judge_by_hand(effects, size, verdict):
    assert judge(effects, size) == verdict


def test_a_seed_whose_measure_cannot_be_read_leaves_the_claim_undecided():
    assert judge([0.5, 0.55], FASTER, undecided=[False, True]) == "undecided"
    assert judge([0.5, 0.55], FASTER, undecided=[False, False]) == "holds"
    with pytest.raises(ValueError, match="one bool per seed"):
        judge([0.5, 0.55], FASTER, undecided=[True])


def test_the_rule_is_the_one_on_the_page():
    from helpers.experiments.stats import VERDICTS

    for verdict in VERDICTS[:-1]:  # all but "not testable in miniature", which no rule decides
        assert f"**{verdict}**" in RULE, verdict


def test_verdict_counts_keep_the_papers_claims_apart_and_add_up():
    """The counts a chapter prints: every row of a source counted once, the book's readings and controls
    apart, and a claim the miniature cannot test (Source "—") counted too (it was dropped before)."""
    from helpers import experiments
    from helpers.experiments.table import verdict_counts

    records = [experiments.load_reference(name) for name in ("order_embeddings", "skip_thoughts", "reader")]
    rows = experiments.results_table({"shipped": records, "this build": records[:1]})
    counts = verdict_counts(rows, "shipped")
    shipped = [r for r in rows if r["label"] == "shipped"]
    assert sum(counts["paper"].values()) + sum(counts["book"].values()) == len(shipped)
    assert counts["paper"]["not testable in miniature"] == 1  # §6.3
    assert sum(counts["book"].values()) == sum(r["kind"] != "paper" for r in shipped) >= 2


def test_threshold_text():
    assert FASTER.threshold_text() == "≤ 0.60" and BETTER.threshold_text() == "none stated (> 0)"


@pytest.mark.parametrize("call, error, match", [
    (lambda: judge([], FASTER), ValueError, "no effects"),
    (lambda: judge([float("nan")], FASTER), ValueError, "NaN"),
    (lambda: judge([1.0], 0.6), TypeError, "size must be a Size"),
    (lambda: Size("x", "faster", 1.0, 0.6, "p"), ValueError, "better must be one of"),
    (lambda: Size("x", "lower", math.nan, 0.6, "p"), ValueError, "null must be a finite number"),
    (lambda: Size("x", "lower", 1.0, "0.6", "p"), ValueError, "threshold must be a finite number or None"),
    (lambda: Size("x", "lower", 1.0, 0.6, ""), ValueError, "paper must be a non-empty str"),
])
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
