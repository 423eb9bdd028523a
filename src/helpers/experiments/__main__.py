"""``python -m helpers.experiments``: list or run the book's experiments.

    python -m helpers.experiments list
    python -m helpers.experiments run NAME [--budget quick|full] [--seeds 0 1 2] [--out FILE.json] [--device cpu]
    python -m helpers.experiments sweep NAME [NAME ...] [--budget quick|full] [--seeds 0-9] [--executor local|slurm]
        [--partition P] [--gpus-per-node N] [--timeout MIN] [--jobs N] [--device cpu] [--out DIR]

``sweep`` runs one job per (experiment, seed) through submitit (:mod:`helpers.experiments.sweep`).

Bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from . import get, names, run, save
from .._checks import check_int_ranges
from ..repro import BUDGETS

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


SEED_MAX = 2**32 - 1  # NumPy's seeds stop here


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an int >= 0, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed must be an int >= 0 and <= {SEED_MAX}, got {value}")
    return value


def _writable_file(path) -> str | None:
    """Why ``path`` cannot take the record (checked before any training), or ``None`` if it can."""
    target = pathlib.Path(path)
    if target.is_dir():
        return f"--out {path} is a folder; give a file name, e.g. {target / 'record.json'}"
    if not target.parent.is_dir():
        return f"--out {path}: the folder {target.parent} does not exist"
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        return f"--out {path}: not writable"
    return None


def _count(lo):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int >= {lo}, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be an int >= {lo}, got {value}")
        return value

    return parse


def _sweep(parser, args) -> int:
    from . import SEEDS
    from .sweep import SweepError, merged_path, sweep

    unknown = [n for n in args.names if n not in names()]
    if unknown:
        parser.error(f"unknown experiment {unknown[0]!r}; known: {', '.join(names())}")
    if len(set(args.names)) != len(args.names):
        parser.error(f"experiments must be distinct, got {' '.join(args.names)}")
    try:
        seeds = list(SEEDS[args.budget]) if args.seeds is None else check_int_ranges(
            args.seeds, "--seeds", "sweep", lo=0, hi=2**32 - 1, max_count=10_000)  # NumPy's seeds stop at 2**32 - 1
    except ValueError as err:
        parser.error(str(err))
    if args.executor != "slurm" and args.partition is not None:
        parser.error("--partition is a Slurm setting: add --executor slurm")
    try:
        merged = sweep(args.names, args.budget, seeds, args.executor, args.out, device=args.device,
                       partition=args.partition, gpus_per_node=args.gpus_per_node, timeout_min=args.timeout,
                       jobs=args.jobs)
    except SweepError as err:
        for line in err.failures:
            print(f"failed: {line}", file=sys.stderr)
        for name in err.merged:
            print(f"wrote {merged_path(args.out, name, args.budget)}")
        print(f"{len(err.failures)} job(s) failed; run the same command again to run only the missing seeds",
              file=sys.stderr)
        return 1
    except ValueError as err:
        parser.error(str(err).splitlines()[0])
    for name, record in merged.items():
        print(f"wrote {merged_path(args.out, name, args.budget)} ({len(record['seeds'])} seeds, "
              f"{record['provenance']['wall_seconds']:.1f} s of jobs)")
    return 0


def main(argv=None) -> int:
    parser = _Parser(prog="python -m helpers.experiments", description="The book's experiments in miniature.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the experiments")
    p = sub.add_parser("run", help="run one experiment over seeds")
    p.add_argument("name")
    p.add_argument("--budget", choices=BUDGETS, default="quick")
    p.add_argument("--seeds", type=_seed, nargs="+", default=None,
                   help="default: the budget's seeds (helpers.experiments.SEEDS)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--out", default=None, help="write the record as JSON here")
    p = sub.add_parser("sweep", help="run experiments over seeds, one job per (experiment, seed), through submitit")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--budget", choices=BUDGETS, default="quick")
    p.add_argument("--seeds", default=None, help="e.g. 0-9 or 0,2,5 (default: the budget's seeds)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: processes on this machine (default); slurm: one job array")
    p.add_argument("--partition", default=None, help="the Slurm partition (slurm only)")
    p.add_argument("--gpus-per-node", type=_count(0), default=None,
                   help="GPUs per job (local: default all this machine shows; slurm: default none)")
    p.add_argument("--timeout", type=_count(1), default=60, help="each job's time limit in minutes (default 60)")
    p.add_argument("--jobs", type=_count(1), default=None,
                   help="jobs at once (local: default 1; slurm: the array's parallelism)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps for every job (default: the best where it runs)")
    p.add_argument("--out", default="_build/sweeps", help="records and logs go here (default _build/sweeps)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in names():
            print(f"{name:24s} {get(name).summary}")
        return 0
    if args.command == "sweep":
        return _sweep(parser, args)
    if args.name not in names():
        parser.error(f"unknown experiment {args.name!r}; known: {', '.join(names()) or 'none'}")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f"seeds must be distinct, got {args.seeds}")
    if args.out and (why := _writable_file(args.out)):  # before minutes of training, not after
        parser.error(why)
    try:
        record = run(args.name, args.budget, args.seeds, device=args.device, progress=True)
    except (ValueError, RuntimeError) as err:  # e.g. an unavailable device
        parser.error(str(err).splitlines()[0])
    for seed, wall in zip(record["seeds"], record["wall_s"]):
        print(f"seed {seed}: {wall:.1f} s on {record['device']}")
    if args.out:
        print(f"wrote {save(record, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
