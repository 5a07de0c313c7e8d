"""The ratio summary printed after a benchmark module: min times side by side, with targets."""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

Pair = Tuple[str, str]


def ratio_lines(
    title: str,
    rows: Iterable[Tuple[str, int]],
    ratios: Sequence[Pair],
    results: Dict[Tuple[str, str], float],
    target: Callable[[int, Pair], Optional[float]],
) -> List[str]:
    """One line per (row name, size): 'a/b' = how many times faster a is than b, and the verdict."""
    lines = ["", f"{title} ratios (min times; 'a/b' = how many times faster a is than b):"]
    for name, size in rows:
        cells = []
        for pair in ratios:
            a, b = (results.get((name, label)) for label in pair)
            if a is None or b is None:
                continue
            ratio = b / a
            goal = target(size, pair)
            verdict = "" if goal is None else f" (target {goal}x: {'ok' if ratio >= goal else 'MISSED'})"
            cells.append(f"{pair[0]}/{pair[1]} {ratio:.2f}x{verdict}")
        if cells:
            lines.append(f"  {name:>7}: " + "; ".join(cells))
    return lines


def print_past_capture(request, lines: List[str]) -> None:
    """Module-teardown output is captured like a test's: print it past the capture."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines), flush=True)
