"""The experiment registry and its command line (helpers.experiments), on a toy experiment."""

import json
import subprocess
import sys

import pytest

from helpers import experiments


@pytest.fixture
def toy():
    name = "_toy_square"

    @experiments.experiment(name, quick=dict(n=3), full=dict(n=30), summary="a toy")
    def _toy(budget, seed, device):
        import torch

        n = experiments.sizes(name, budget)["n"]
        return {"n": n, "seed": seed, "draw": float(torch.rand(()).item()), "device": device.type}

    yield name
    experiments._REGISTRY.pop(name)


def test_run_records_budget_seeds_device_versions(toy):
    rec = experiments.run(toy, "quick", seeds=[3, 5], device="cpu")
    assert rec["budget"] == "quick" and rec["sizes"] == {"n": 3}
    assert rec["seeds"] == [3, 5] and [r["seed"] for r in rec["runs"]] == [3, 5]
    assert rec["device"] == "cpu" and rec["torch"] and rec["python"] and len(rec["wall_s"]) == 2
    assert rec["runs"][0]["draw"] != rec["runs"][1]["draw"]  # seeded differently
    again = experiments.run(toy, "full", seeds=[3], device="cpu")
    assert again["budget"] == "full" and again["runs"][0]["n"] == 30
    assert again["runs"][0]["draw"] == rec["runs"][0]["draw"]  # same seed, same draw


def test_save_load_roundtrip(toy, tmp_path):
    rec = experiments.run(toy, "quick", seeds=[0], device="cpu")
    assert experiments.load(experiments.save(rec, tmp_path / "a" / "r.json")) == rec


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(budget="medium"), "budget must be one of"),
        (dict(seeds=[-1]), "seed must be an int >= 0"),
        (dict(seeds=[]), "seeds must not be empty"),
        (dict(seeds=[1, 1]), "distinct"),
        (dict(seeds="01"), "seeds must be a list"),
    ],
)
def test_bad_arguments(toy, kwargs, match):
    args = dict(budget="quick", seeds=[0], device="cpu") | kwargs
    with pytest.raises(ValueError, match=match):
        experiments.run(toy, **args)


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")


def test_result_must_be_json(toy):
    @experiments.experiment("_toy_bad", quick={}, full={})
    def _bad(budget, seed, device):
        return {"x": object()}

    try:
        with pytest.raises(TypeError):
            experiments.run("_toy_bad", "quick", seeds=[0], device="cpu")
    finally:
        experiments._REGISTRY.pop("_toy_bad")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.experiments", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "args, msg",
    [
        (["run", "no_such_experiment"], "unknown experiment"),
        (["run", "x", "--budget", "huge"], "invalid choice"),
        (["run", "x", "--seeds", "-2"], "seed must be an int >= 0"),
        (["run", "x", "--seeds", "a"], "seed must be an int"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args, msg):
    out = _cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], out.stderr


def test_cli_list_names_every_registered_experiment():
    out = _cli("list")
    assert out.returncode == 0
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    assert listed == experiments.names()


def test_claims_are_checked_against_their_own_experiment(toy):
    @experiments.claim(toy, section="6.9", statement="draws lie in [0, 1)", paper_evidence="none")
    def _check(record):
        draws = [r["draw"] for r in record["runs"]]
        return f"{min(draws):.2f}..{max(draws):.2f}", "holds" if all(0 <= d < 1 for d in draws) else "does not hold"

    try:
        c = next(c for c in experiments.claims() if c.check is _check)
        rec = experiments.run(toy, "quick", seeds=[0, 1], device="cpu")
        text, verdict = c.verdict(rec)
        assert verdict == "holds" and ".." in text
        with pytest.raises(ValueError, match="a record of"):
            c.verdict(dict(rec, name="other"))
    finally:
        experiments._CLAIMS[:] = [c for c in experiments._CLAIMS if c.check is not _check]


def test_a_claim_with_an_unknown_verdict_is_refused(toy):
    @experiments.claim(toy, section="6.1", statement="s", paper_evidence="p")
    def _check(record):
        return "x", "probably"

    try:
        c = next(c for c in experiments.claims() if c.check is _check)
        with pytest.raises(ValueError, match="verdict must be one of"):
            c.verdict(experiments.run(toy, "quick", seeds=[0], device="cpu"))
    finally:
        experiments._CLAIMS[:] = [c for c in experiments._CLAIMS if c.check is not _check]
