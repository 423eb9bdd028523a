"""Sweeps: every (experiment, seed) as its own job, on this machine or on a Slurm cluster, through submitit.

    python -m helpers.experiments sweep ffn_digits adding --budget full --seeds 0-9
    python -m helpers.experiments sweep ffn_digits --budget full --seeds 0-9 --executor slurm \\
        --partition gpu --gpus-per-node 1 --timeout 120

Each job runs :func:`helpers.experiments.run` for one seed and writes that seed's
record to ``OUT/NAME/BUDGET/seed-K.json``; as the jobs finish (a progress bar
counts them) the sweep merges each experiment's seeds into one record,
``OUT/NAME-BUDGET.json``, with the usual ``provenance`` and a ``sweep`` entry
(the executor, and each seed's job id, host and provenance). A seed whose record
is already there, for the same sizes, is not run again, so a sweep that was
interrupted, or whose jobs partly failed, is finished by running it again.
A failed job is reported by experiment, seed and the path of its log.

``--executor local`` (the default) runs the jobs as processes on this machine,
``--jobs`` at a time (default 1: each job uses every core torch sees);
``--executor slurm`` submits one job array (``--jobs``: how many of its jobs
run at once). Nothing runs at import.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import time

from .._checks import DEVICE_TYPES, ArgTypeError, check_choice, check_instance, check_int
from ..repro import BUDGETS

__all__ = ["EXECUTORS", "SweepError", "seed_path", "merged_path", "run_seed", "merge", "sweep"]

#: Where the jobs run: processes on this machine, or a Slurm job array.
EXECUTORS = ("local", "slurm")


class SweepError(RuntimeError):
    """Some jobs of a sweep failed; ``failures`` holds one line per failed job (experiment, seed, log)."""

    def __init__(self, failures: list[str], merged: dict):
        self.failures, self.merged = failures, merged
        super().__init__(f"{len(failures)} job(s) failed: " + "; ".join(failures))


def seed_path(out, name: str, budget: str, seed: int) -> pathlib.Path:
    """Where the job of ``name`` at ``budget`` for ``seed`` writes its record."""
    return pathlib.Path(out) / name / budget / f"seed-{seed}.json"


def merged_path(out, name: str, budget: str) -> pathlib.Path:
    """Where a sweep writes the merged record of ``name`` at ``budget``."""
    return pathlib.Path(out) / f"{name}-{budget}.json"


def run_seed(name: str, budget: str, seed: int, device, path: str) -> str:
    """One job: experiment ``name`` at ``budget`` for ``seed``; its record is written to ``path``.

    Args:
        name (str): a registered experiment.
        budget (str): ``"quick"`` or ``"full"``.
        seed (int): the seed.
        device (str or None): the device, or None to pick the best one where the job runs.
        path (str): where the record goes (written whole or not at all).

    Returns:
        str: ``path``.
    """
    from . import run, save

    record = run(name, budget, [seed], device=device)
    try:
        import submitit

        env = submitit.JobEnvironment()
        record["job"] = {"job_id": str(env.job_id), "host": env.hostname}
    except RuntimeError:  # called outside a submitit job (e.g. directly, in a test)
        import platform

        record["job"] = {"job_id": None, "host": platform.node()}
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".part")
    save(record, tmp)
    tmp.replace(path)
    return str(path)


def _done(path: pathlib.Path, name: str, budget: str, seed: int, sizes: dict):
    """The seed's record at ``path`` if it is one of this (experiment, budget, seed, sizes), else None."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = (record.get("name") == name and record.get("budget") == budget and record.get("seeds") == [seed]
            and record.get("sizes") == json.loads(json.dumps(sizes)) and len(record.get("runs", [])) == 1)
    return record if same else None


def _common(values):
    """The one value all of ``values`` share, else their distinct values joined by '; '."""
    distinct = sorted({json.dumps(v, sort_keys=True) for v in values})
    return values[0] if len(distinct) == 1 else "; ".join(sorted({str(v) for v in values}))


def merge(records: list[dict], executor: str) -> dict:
    """One record from the one-seed records of a sweep, in the order given.

    The result has the keys of :func:`helpers.experiments.run`'s record, its ``provenance``
    with the keys :data:`helpers.experiments.provenance.KEYS` (a value the seeds share, or
    their distinct values joined; the latest date; the total wall time), and ``sweep``:
    ``{"executor", "jobs": [{"seed", "job_id", "host", "provenance"}, ...]}``.

    Raises:
        ValueError: for no records, records of different experiments, budgets or sizes,
            or a seed twice.
    """
    from . import provenance

    if not records:
        raise ValueError("merge: no records to merge")
    first = records[0]
    for r in records:
        for key in ("name", "budget", "sizes"):
            if r.get(key) != first.get(key):
                raise ValueError(f"merge: records differ in {key}: {first.get(key)!r} and {r.get(key)!r}")
    seeds = [s for r in records for s in r["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"merge: a seed appears twice in {seeds}")
    provs = [r["provenance"] for r in records]
    prov = {key: _common([p[key] for p in provs]) for key in provenance.KEYS}
    prov["date"] = max(p["date"] for p in provs)
    prov["wall_seconds"] = round(sum(float(p["wall_seconds"]) for p in provs), 3)
    return {
        "name": first["name"],
        "budget": first["budget"],
        "sizes": first["sizes"],
        "seeds": seeds,
        "device": _common([r["device"] for r in records]),
        "torch": _common([r["torch"] for r in records]),
        "python": _common([r["python"] for r in records]),
        "date": max(r["date"] for r in records),
        "wall_s": [w for r in records for w in r["wall_s"]],
        "runs": [run for r in records for run in r["runs"]],
        "provenance": prov,
        "sweep": {"executor": executor, "jobs": [
            {"seed": r["seeds"][0], **r.get("job", {"job_id": None, "host": None}), "provenance": r["provenance"]}
            for r in records]},
    }


def _executor(kind, folder, partition, gpus_per_node, timeout_min, jobs):
    import submitit

    if kind == "local":
        # submitit sets CUDA_VISIBLE_DEVICES to the first gpus_per_node of visible_gpus; without a
        # number every job sees the GPUs this process sees (none for CUDA_VISIBLE_DEVICES=).
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        if shown is not None:
            visible = [int(k) for k in shown.split(",") if k.strip().isdigit()]
        else:
            import torch

            visible = list(range(torch.cuda.device_count()))
        if gpus_per_node is not None and gpus_per_node > len(visible):
            raise ValueError(f"experiments.sweep: gpus_per_node={gpus_per_node} but this machine shows "
                             f"{len(visible)} GPU(s)")
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=timeout_min, visible_gpus=visible,
                             gpus_per_node=len(visible) if gpus_per_node is None else gpus_per_node)
        return ex
    ex = submitit.SlurmExecutor(folder=str(folder))
    params = dict(time=timeout_min, nodes=1, ntasks_per_node=1, job_name="lnbook-sweep")
    if gpus_per_node:
        params["gpus_per_node"] = gpus_per_node
    if partition:
        params["partition"] = partition
    if jobs:
        params["array_parallelism"] = jobs
    ex.update_parameters(**params)
    return ex


def _failure(name, seed, job) -> str:
    try:
        err = job.exception()
    except Exception as e:  # noqa: BLE001 -- the job's state could not be read: say that
        err = e
    # submitit's error holds the job's traceback, then the paths of its logs: keep the exception's line
    lines = [l.strip() for l in str(err).splitlines() if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b", l)] \
        if err is not None else []
    why = lines[-1] if lines else (str(err).strip().splitlines() or [f"ended in state {job.state}"])[0]
    return f"{name} seed {seed} failed ({why}); log: {job.paths.stderr}"


def sweep(names, budget: str, seeds, executor: str = "local", out="_build/sweeps", *, device=None,
          partition=None, gpus_per_node=None, timeout_min: int = 60, jobs=None,
          progress: bool = True, poll_s: float = 1.0) -> dict:
    """Run every (experiment, seed) of ``names`` x ``seeds`` as a job; merge each experiment's records.

    Args:
        names (list of str): registered experiments.
        budget (str): ``"quick"`` or ``"full"``.
        seeds (list of int): distinct seeds >= 0.
        executor (str): ``"local"`` (processes here) or ``"slurm"`` (a job array).
        out (path): where the records (``NAME/BUDGET/seed-K.json``, ``NAME-BUDGET.json``) and the
            jobs' logs (``logs/``) go.
        device (str or None): ``"cpu"``, ``"cuda"`` or ``"mps"`` for every job, checked where the
            job runs; None picks the best device there.
        partition (str or None): the Slurm partition (slurm only).
        gpus_per_node (int or None): GPUs each job gets (local: of those this process sees, all of
            them by default; slurm: how many each job asks for, none by default).
        timeout_min (int): each job's time limit, in minutes.
        jobs (int or None): how many jobs run at once (local: default 1; slurm: the array's
            parallelism, default Slurm's).
        progress (bool): show a progress bar over the jobs as they finish.
        poll_s (float): how often to look at the jobs, in seconds.

    Returns:
        dict: ``{name: merged record}`` (each also written to ``OUT/NAME-BUDGET.json``).

    Raises:
        SweepError: when some jobs failed, after every job has ended; it lists each failure with
            the job's log, and holds the records that could be merged (``merged``).
        ValueError: for an unknown experiment, budget, executor or device name, bad seeds, or a
            partition with the local executor (:class:`~helpers._checks.ArgTypeError` for a wrong type).
    """
    from . import _check_seeds, get, save

    where = "experiments.sweep"
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise ArgTypeError(f"{where}: names must be a list of experiment names, got {type(names).__name__}")
    names = list(names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{where}: names must be distinct experiment names, at least one, got {names}")
    exps = {name: get(name) for name in names}
    budget = check_choice(budget, "budget", BUDGETS, where)
    seeds = _check_seeds(seeds, where)
    executor = check_choice(executor, "executor", EXECUTORS, where)
    if device is not None:
        check_instance(device, str, "device", where, "a str")
        check_choice(device.split(":")[0], "device", DEVICE_TYPES, where)
    if partition is not None:
        check_instance(partition, str, "partition", where, "a str")
        if executor != "slurm":
            raise ValueError(f"{where}: partition is a Slurm setting; pass executor='slurm' or no partition")
    if gpus_per_node is not None:
        gpus_per_node = check_int(gpus_per_node, "gpus_per_node", where, lo=0)
    timeout_min = check_int(timeout_min, "timeout_min", where, lo=1)
    jobs = None if jobs is None else check_int(jobs, "jobs", where, lo=1)
    out = pathlib.Path(out)

    records = {name: {} for name in names}  # name -> seed -> record
    todo = []
    for name in names:
        sizes = exps[name].sizes[budget]
        for seed in seeds:
            path = seed_path(out, name, budget, seed)
            done = _done(path, name, budget, seed, sizes)
            if done is not None:
                records[name][seed] = done
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                todo.append((name, seed, str(path)))

    failures = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(names) * len(seeds)
        bar = tqdm(total=total, initial=total - len(todo), desc=f"sweep ({executor}, {budget})", unit="job")
    if todo:
        ex = _executor(executor, out / "logs", partition, gpus_per_node, timeout_min, jobs)
        running = []  # (name, seed, path, job)
        queue = list(todo)
        if executor == "slurm":  # one job array
            args = list(zip(*[(n, budget, s, device, p) for n, s, p in queue]))
            running = [(n, s, p, j) for (n, s, p), j in zip(queue, ex.map_array(run_seed, *args))]
            queue = []
        limit = jobs or 1
        while queue or running:
            while queue and len(running) < limit:
                n, s, p = queue.pop(0)
                running.append((n, s, p, ex.submit(run_seed, n, budget, s, device, p)))
            finished = [r for r in running if r[3].done()]
            for r in finished:
                running.remove(r)
                n, s, p, job = r
                record = _done(pathlib.Path(p), n, budget, s, exps[n].sizes[budget])
                if record is None:
                    failures.append(_failure(n, s, job))
                else:
                    records[n][s] = record
                if bar is not None:
                    bar.update(1)
                    if record is None:
                        bar.write(f"failed: {failures[-1]}")
            if running and not finished:
                time.sleep(poll_s)
    if bar is not None:
        bar.close()
    merged = {}
    for name in names:
        if len(records[name]) == len(seeds):
            merged[name] = merge([records[name][s] for s in seeds], executor)
            save(merged[name], merged_path(out, name, budget))
    if failures:
        raise SweepError(failures, merged)
    return merged
