"""Command line: ``python -m wsfast COMMAND`` (also installed as ``wsfast``).

Each subcommand registers itself in ``_COMMANDS`` with a function that adds its
options and one that runs it; heavy modules are imported only when their
command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _add_bench(sub) -> None:
    parser = sub.add_parser("bench", help="side-by-side benchmarks: compiled vs pure Python (and peers)",
                            description="Side-by-side micro-benchmarks of the hot path.")
    from wsfast.bench import add_arguments

    add_arguments(parser)
    parser.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from wsfast.bench import main as bench_main

    return bench_main(args)


# one entry per subcommand: adds its parser (and sets `run`)
_COMMANDS = [_add_bench]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast", description="wsfast command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
