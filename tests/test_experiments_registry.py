"""The experiment registry and its command line (helpers.experiments), on a toy experiment."""

import json
import subprocess
import sys

import pytest

from helpers import experiments


@pytest.fixture
def toy():
    name = "_toy_square"

    @experiments.experiment(name, quick=dict(n=3), full=dict(n=30), summary="a toy", engine="torch.rand")
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


def test_every_record_carries_its_provenance(toy):
    import torch

    from helpers.experiments import provenance

    torch.set_num_threads(1)
    rec = experiments.run(toy, "quick", seeds=[0, 1], device="cpu")
    prov = rec["provenance"]
    assert tuple(prov) == provenance.KEYS
    assert prov["engine"] == "torch.rand" and prov["threads"] == 1 and prov["device_name"] == "cpu"
    assert prov["torch"] == torch.__version__ and prov["cpu"] and prov["date"][:4].isdigit()
    assert prov["wall_seconds"] == pytest.approx(sum(rec["wall_s"]), abs=2e-3)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head:  # a checkout: the commit is HEAD's, marked when src differs from it
        assert prov["commit"].split("+")[0] == head[:12]


def test_an_experiment_must_say_what_computes_its_steps():
    with pytest.raises(TypeError, match="engine must be"):
        experiments.experiment("_toy_no_engine", quick={}, full={}, engine="")(lambda b, s, d: {})


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
    @experiments.experiment("_toy_bad", quick={}, full={}, engine="none")
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
        (["run", "skip_thoughts", "--seeds", "99999999999999999999"], "seed must be an int >= 0 and <= 4294967295"),
        (["run", "skip_thoughts", "--out", "/"], "is a folder"),
        (["run", "skip_thoughts", "--out", "/nonexistent-lnbook/dir/r.json"], "does not exist"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args, msg):
    """Each refused before any training (the --out cases took minutes to fail, after the run)."""
    out = _cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], out.stderr


def test_cli_list_names_every_registered_experiment():
    out = _cli("list")
    assert out.returncode == 0
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    assert listed == experiments.names()


def test_claims_are_judged_by_the_one_rule_on_their_own_experiment(toy):
    size = experiments.Size("the draw", "lower", 1.0, 0.5, "a toy size: below 0.5")

    @experiments.claim(toy, section="6.9", statement="draws lie below 0.5", paper_evidence="none", size=size)
    def _check(record):
        draws = [r["draw"] for r in record["runs"]]
        return f"{min(draws):.2f}..{max(draws):.2f}", draws

    try:
        c = next(c for c in experiments.claims() if c.check is _check)
        rec = experiments.run(toy, "quick", seeds=[0, 1, 2, 3], device="cpu")
        draws = [r["draw"] for r in rec["runs"]]
        out = c.evaluate(rec)
        assert out["effects"] == draws and out["threshold"] == "≤ 0.50"
        # every draw lies in [0, 1), below "no effect" (1): the size (0.5) decides between the two
        assert out["verdict"] == ("holds" if max(draws) <= 0.5 else "holds in direction, not in size")
        assert c.verdict(rec)[0] == out["measurement"]
        with pytest.raises(ValueError, match="a record of"):
            c.verdict(dict(rec, name="other"))
    finally:
        experiments._CLAIMS[:] = [c for c in experiments._CLAIMS if c.check is not _check]


def test_a_claim_must_return_one_effect_per_seed(toy):
    size = experiments.Size("x", "higher", 0.0, None, "no size")

    @experiments.claim(toy, section="6.1", statement="s", paper_evidence="p", size=size)
    def _check(record):
        return "x", [1.0]  # one effect, whatever the seeds

    try:
        c = next(c for c in experiments.claims() if c.check is _check)
        with pytest.raises(ValueError, match="1 effects for 2 seeds"):
            c.verdict(experiments.run(toy, "quick", seeds=[0, 1], device="cpu"))
    finally:
        experiments._CLAIMS[:] = [c for c in experiments._CLAIMS if c.check is not _check]
    with pytest.raises(TypeError, match="size must be a Size"):
        experiments.claim(toy, section="6.1", statement="s", paper_evidence="p", size=0.6)


def test_every_registered_claim_has_a_size_or_says_why_not():
    for c in experiments.claims():
        if c.size is None:  # only a claim the miniature cannot test
            assert c.experiment == "skip_thoughts", c.statement
        else:
            assert c.size.paper and c.size.effect, c.statement
            assert c.size.threshold is not None or "no" in c.size.paper.lower(), c.statement


def test_seeds_per_budget_are_defined_once(toy):
    assert experiments.seeds("quick") == [0, 1] and len(experiments.seeds("full")) >= 5
    rec = experiments.run(toy, "quick", device="cpu")  # no seeds given: the budget's
    assert rec["seeds"] == experiments.seeds("quick")
    with pytest.raises(ValueError, match="budget must be one of"):
        experiments.seeds("medium")


def test_shipped_records_have_provenance_and_five_seeds():
    for name in experiments.names():
        path = experiments.REFERENCE_DIR / f"{name}.json"
        if not path.exists():
            continue
        rec = experiments.load(path)
        assert rec["budget"] == "full" and len(rec["seeds"]) >= 5, name
        assert "provenance" in rec and set(rec["provenance"]) == set(experiments.provenance.KEYS), name
