"""``python -m helpers.experiments``: list or run the book's experiments.

    python -m helpers.experiments list
    python -m helpers.experiments run NAME [--budget quick|full] [--seeds 0 1 2] [--out FILE.json] [--device cpu]

Bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from . import get, names, run, save
from ..repro import BUDGETS

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an int >= 0, got {value}")
    return value


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
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in names():
            print(f"{name:24s} {get(name).summary}")
        return 0
    if args.name not in names():
        parser.error(f"unknown experiment {args.name!r}; known: {', '.join(names()) or 'none'}")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f"seeds must be distinct, got {args.seeds}")
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
