"""``python -m bench [--quick] [--runs N] [SCENARIO ...]``: run benchmarks, print figures."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from pathlib import Path

SCENARIOS = ("apply", "restart", "join", "scale")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[],
                        metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs and smaller sizes, for a first look")
    parser.add_argument("--runs", type=int, default=0,
                        help="runs per figure (default 5, or 3 with --quick)")
    parser.add_argument("--against", type=Path, metavar="OPERATOR_DIR",
                        help="apply: also time an operator running the package in this "
                             "folder (the operator/ of a git worktree of another commit)")
    parser.add_argument("--operator-args", default="", metavar="ARGS",
                        help="apply: more arguments for the operator, e.g. "
                             "'--concurrency 64' (not for the --against one)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 5)

    started = time.monotonic()
    for name in args.scenarios or SCENARIOS:
        module = importlib.import_module(f"bench.{name}")
        options: dict[str, object] = {}
        if name == "apply":
            options = {"against": args.against.resolve() if args.against else None,
                       "operator_args": shlex.split(args.operator_args)}
        report = module.run(runs=runs, quick=args.quick, **options)
        print(report.table(), flush=True)
        print(f"  written to {report.write()}", flush=True)
    print(f"All done in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
