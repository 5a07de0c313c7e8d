"""Compare two builds of wsfast row by row: ``python -m wsfast bench`` run N times each, interleaved.

::

    python benchmarks/interleave.py --before /path/to/old/venv/bin/python \\
        --after .venv/bin/python --runs 5 [--quick] [section ...]

Runs alternate (before, after, before, after, ...) so that a change of load on
the machine falls on both builds alike. For every cell (section, row, column)
the median of the runs' best times is kept; the report prints, per section, the
before and after medians and after/before. A cell more than ``--threshold``
(default 10%) slower is marked ``SLOWER``. ``--json FILE`` keeps every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Tuple

Cell = Tuple[str, str, str]  # section, row, column
_UNITS: Dict[Tuple[str, str], str] = {}  # (section, row) -> "ns" (times) or "B" (bytes)


def one_run(python: str, sections: List[str], quick: bool) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.json")
        cmd = [python, "-m", "wsfast", "bench", "--json", path, *(["--quick"] if quick else []), *sections]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=tmp)
        with open(path) as f:
            return json.load(f)  # type: ignore[no-any-return]


def cells(run: Dict[str, Any]) -> Dict[Cell, float]:
    found = {}
    for section in run["sections"]:
        for row in section["rows"]:
            _UNITS[(section["section"], row["name"])] = row.get("unit", "ns")
            for column, result in row["results"].items():
                value = result.get("value", result.get("best_ns")) if result else None
                if value is not None:  # a probe's median (CPU per message, bytes...), else a best time
                    found[(section["section"], row["name"], column)] = value
    return found


def _fmt(ns: float, unit: str = "ns") -> str:
    if unit == "B":
        return f"{ns / 1024:.1f} KiB"
    for name, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {name}"
    return f"{ns:.1f} ns"


def report(before: List[Dict[Cell, float]], after: List[Dict[Cell, float]], threshold: float) -> int:
    keys = [k for k in before[0] if all(k in run for run in before + after)]
    slower = 0
    section = None
    for key in keys:
        if key[0] != section:
            section = key[0]
            print(f"\n== {section} (median of {len(before)} interleaved runs) ==")
            print(f"{'row':34} {'column':16} {'before':>11} {'after':>11} {'after/before':>13}")
        unit = _UNITS.get(key[:2], "ns")
        b = statistics.median(run[key] for run in before)
        a = statistics.median(run[key] for run in after)
        ratio = a / b
        mark = ""
        if ratio > 1 + threshold:
            mark = "  SLOWER"
            slower += 1
        print(f"{key[1][:34]:34} {key[2][:16]:16} {_fmt(b, unit):>11} {_fmt(a, unit):>11} "
              f"{ratio:12.2f}x{mark}")
    print(f"\n{slower} of {len(keys)} cells more than {threshold:.0%} slower")
    return slower


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="python of the old build")
    parser.add_argument("--after", default=sys.executable, help="python of the new build (default: this one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threshold", type=float, default=0.10)
    parser.add_argument("--json", help="write every run here")
    parser.add_argument("sections", nargs="*")
    args = parser.parse_args()
    before: List[Dict[str, Any]] = []
    after: List[Dict[str, Any]] = []
    for i in range(args.runs):
        for label, python, store in (("before", args.before, before), ("after", args.after, after)):
            print(f"run {i + 1}/{args.runs}: {label}", file=sys.stderr, flush=True)
            store.append(one_run(python, args.sections, args.quick))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"before": before, "after": after}, f)
    report([cells(r) for r in before], [cells(r) for r in after], args.threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
