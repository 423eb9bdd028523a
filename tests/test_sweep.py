"""Sweeps (``python -m helpers.experiments sweep``, helpers/experiments/sweep.py): one submitit job per
(experiment, seed), on this machine and on a real single-node Slurm cluster (tests/slurm_cluster.py); one
merged record with provenance; failures named with their log; a re-run runs only the missing seeds.

The jobs run ``skip_thoughts``, the registered experiment that trains nothing, so a job costs only its
process start (a few seconds): what is tested is the sweep, not an experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import missing_tool

from helpers import experiments
from helpers.experiments import sweep as sw
from helpers.experiments.__main__ import main

NAME = "skip_thoughts"


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [
    (["sweep", "no_such_experiment"], "unknown experiment 'no_such_experiment'"),
    (["sweep", NAME, "--seeds", "3-1"], "--seeds must be ints in [0, 4294967295]"),
    (["sweep", NAME, "--seeds", "0-99999999999999999999"], "--seeds must be ints in [0, 4294967295]"),
    (["sweep", NAME, "--seeds", "0-20000"], "--seeds must name at most 10000 values"),
    (["sweep", NAME, "--seeds", "0,0"], "--seeds must be distinct"),
    (["sweep", NAME, "--executor", "pbs"], "invalid choice: 'pbs'"),
    (["sweep", NAME, "--partition", "gpu"], "--partition is a Slurm setting"),
    (["sweep", NAME, "--timeout", "0"], "must be an int >= 1"),
    (["sweep", NAME, "--gpus-per-node", "-1"], "must be an int >= 0"),
    (["sweep", NAME, "--device", "tpu"], "device must be one of"),
    (["sweep", NAME, NAME], "experiments must be distinct"),
])
def test_bad_arguments_exit_2_with_one_line(argv, says, capsys, tmp_path):
    code, err = _cli(argv + ["--out", str(tmp_path)], capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # nothing was submitted


def test_merge_keeps_the_record_format_and_refuses_mixed_records(tmp_path):
    records = []
    for seed in (3, 1):
        path = sw.seed_path(tmp_path, NAME, "quick", seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        records.append(json.loads(open(sw.run_seed(NAME, "quick", seed, "cpu", str(path))).read()))
    merged = sw.merge(records, "local")
    assert merged["seeds"] == [3, 1] and len(merged["runs"]) == 2 and len(merged["wall_s"]) == 2
    assert tuple(merged["provenance"]) == experiments.provenance.KEYS
    assert [j["seed"] for j in merged["sweep"]["jobs"]] == [3, 1]
    assert set(experiments.run(NAME, "quick", [0], device="cpu")) <= set(merged)
    with pytest.raises(ValueError, match="a seed appears twice"):
        sw.merge([records[0], records[0]], "local")
    with pytest.raises(ValueError, match="differ in budget"):
        sw.merge([records[0], {**records[1], "budget": "full"}], "local")
    # A seed's record made for other sizes is stale: it is not taken as done.
    stale = dict(records[0], sizes={"steps": 1})
    path = sw.seed_path(tmp_path, NAME, "quick", 3)
    path.write_text(json.dumps(stale))
    assert sw._done(path, NAME, "quick", 3, {}) is None
    path.write_text(json.dumps(records[0]))
    assert sw._done(path, NAME, "quick", 3, {}) == records[0]


def _unavailable_device():
    return next(d for d in ("mps", "cuda") if not (torch.cuda.is_available() if d == "cuda"
                                                     else torch.backends.mps.is_available()))


def test_local_sweep_merges_two_seeds_reruns_only_a_missing_one_and_names_its_failure(tmp_path):
    merged = sw.sweep([NAME], "quick", [0, 1], "local", tmp_path, jobs=2, progress=False)[NAME]
    assert merged["seeds"] == [0, 1] and merged["runs"] == experiments.run(NAME, "quick", [0, 1])["runs"]
    assert merged["sweep"]["executor"] == "local" and tuple(merged["provenance"]) == experiments.provenance.KEYS
    ids = [j["job_id"] for j in merged["sweep"]["jobs"]]
    assert all(ids) and len(set(ids)) == 2
    assert json.loads(sw.merged_path(tmp_path, NAME, "quick").read_text()) == merged

    # Again with a third seed, whose job fails where it runs (a device this machine lacks): seeds 0 and 1
    # are not run again, and the failure names the experiment, the seed and the job's log.
    before = {s: sw.seed_path(tmp_path, NAME, "quick", s).stat().st_mtime_ns for s in (0, 1)}
    logs = set((tmp_path / "logs").iterdir())
    with pytest.raises(sw.SweepError) as failed:
        sw.sweep([NAME], "quick", [0, 1, 2], "local", tmp_path, device=_unavailable_device(), progress=False)
    (line,) = failed.value.failures
    assert line.startswith(f"{NAME} seed 2 failed (") and "was asked for but this machine has no" in line, line
    log = line.rsplit("log: ", 1)[1]
    assert os.path.exists(log) and "was asked for but this machine has no" in open(log).read(), log
    assert failed.value.merged == {}  # seed 2 is missing: no merged record claims three seeds
    assert {s: sw.seed_path(tmp_path, NAME, "quick", s).stat().st_mtime_ns for s in (0, 1)} == before
    new_jobs = {p.name.split("_")[0] for p in set((tmp_path / "logs").iterdir()) - logs}
    assert len(new_jobs) == 1, new_jobs
    assert json.loads(sw.merged_path(tmp_path, NAME, "quick").read_text()) == merged  # the old one stays


@pytest.fixture
def slurm(monkeypatch):
    """A single-node Slurm cluster on localhost (tests/slurm_cluster.py), stopped after the test."""
    sys.path.insert(0, os.path.dirname(__file__))
    import slurm_cluster

    missing = slurm_cluster.missing_tools()
    if missing:
        missing_tool(f"Slurm and munge ({', '.join(missing)})", slurm_cluster.HOW)
    try:
        cluster = slurm_cluster.Cluster()
    except (slurm_cluster.ClusterError, OSError, subprocess.SubprocessError) as err:
        missing_tool(f"a single-node Slurm cluster (its daemons did not start: {err})", slurm_cluster.HOW)
    monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
    yield cluster
    cluster.stop()
    assert not cluster._ours(), "the test cluster left processes behind"  # slurmstepd, srun, job scripts


def test_slurm_sweep_runs_a_job_array_of_two_seeds(slurm, tmp_path, capsys):
    code = main(["sweep", NAME, "--seeds", "0-1", "--executor", "slurm", "--partition", "debug",
                 "--timeout", "5", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    merged = json.loads(sw.merged_path(tmp_path, NAME, "quick").read_text())
    assert merged["seeds"] == [0, 1] and merged["sweep"]["executor"] == "slurm"
    ids = [j["job_id"] for j in merged["sweep"]["jobs"]]
    array = {i.split("_")[0] for i in ids}
    assert len(array) == 1 and sorted(i.split("_")[1] for i in ids) == ["0", "1"], ids  # one job array
    assert all(j["host"] for j in merged["sweep"]["jobs"])
    sacct = (tmp_path / "logs").glob(f"{array.pop()}_*_log.out")
    assert len(list(sacct)) == 2
