"""``python -m wsfast.patch [options] (-m MODULE | SCRIPT) [ARGS...]``: run a program patched.

The patches are applied in this process, then the program runs as
``python -m MODULE ARGS`` or ``python SCRIPT ARGS`` would run it (same
``sys.argv``, ``__main__``, ``sys.path[0]``), so an application is sped up
without a change to its code. Nothing is installed anywhere: no ``.pth``
file, no import hook, no environment change seen by other processes. A patch
that is refused (untested version, no compiled hot path) leaves its library
exactly as it was, and the program runs on unpatched; ``--strict`` makes a
refusal an error instead (exit status 2), for CI.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import warnings
from typing import List, Optional, Tuple

from . import TARGETS, PatchWarning
from ._core import apply


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsfast.patch",
        usage="python -m wsfast.patch [--only LIB[,LIB...]] [--strict] [-v] (-m MODULE | SCRIPT) [ARGS...]",
        description="Run a Python program with wsfast's drop-in speedups applied under the WebSocket "
                    "libraries it uses. Everything after -m MODULE or SCRIPT is the program's.")
    parser.add_argument("--only", default=None, metavar="LIB[,LIB...]",
                        help=f"patch only these (of {', '.join(TARGETS)}); named ones must be installed. "
                             f"Default: every one of them that is installed")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 if a patch is refused, instead of running unpatched")
    parser.add_argument("-v", "--verbose", action="store_true", help="print what each patch replaced")
    return parser


def _split(argv: List[str]) -> Tuple[List[str], Optional[str], List[str]]:
    """(our options, the module for -m or None, the program's argv): the program starts at -m or SCRIPT."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            if i + 1 == len(argv):
                _parser().error("-m needs a MODULE")
            return argv[:i], argv[i + 1], argv[i + 2:]
        if arg == "--only":
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            return argv[:i], None, argv[i:]
        i += 1
    return argv, None, []


def _libraries(only: Optional[str]) -> List[str]:
    if only is None:
        return list(TARGETS)
    names = [name.strip().replace("-", "_") for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        raise SystemExit(f"wsfast.patch: unknown librar{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    return names


def apply_named(only: Optional[str], *, strict: bool, verbose: bool) -> int:
    """Apply the patches; 0, or 2 when --strict and one was refused or a named library is missing."""
    status = 0
    for name in _libraries(only):
        target = TARGETS[name]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PatchWarning)
            try:
                record = apply(target)
            except ImportError as exc:
                if only is None:
                    continue  # not installed, not asked for by name
                print(f"wsfast.patch: {name} is not importable ({exc})", file=sys.stderr)
                status = 2
                continue
        for warning in caught:
            if issubclass(warning.category, PatchWarning):
                print(warning.message, file=sys.stderr)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if record is None:
            if strict:
                status = 2
        elif verbose:
            print(f"wsfast.patch: {name} {record.version}: {', '.join(record.names())}", file=sys.stderr)
    return status


def main(argv: Optional[List[str]] = None) -> int:
    ours, module, program = _split(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(ours)
    if module is None and not program:
        _parser().error("name a program: -m MODULE [ARGS...] or SCRIPT [ARGS...]")
    status = apply_named(args.only, strict=args.strict, verbose=args.verbose)
    if status:
        return status
    if module is not None:
        sys.argv = [module] + program
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(program)
        sys.path[0] = os.path.dirname(os.path.abspath(program[0]))
        runpy.run_path(program[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
