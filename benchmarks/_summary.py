"""What a benchmark module prints after its last test: the table of ``python -m wsfast bench``.

The rows, column labels, ratio columns and targets are those of the module's
section in wsfast/bench (defined there once); the times are pytest-benchmark's
minimum per call. Printed by wsfast.bench.print_rows, the one printer.
"""

from __future__ import annotations

import contextlib
import types
from typing import Dict, List, Sequence, Tuple

from wsfast import bench

Pair = Tuple[str, str]


class Summary:
    """Collects min times per (row, column) during a module's tests, prints them at its end."""

    def __init__(self, section: types.ModuleType, rows: Sequence[Tuple[str, Dict[Pair, float]]]) -> None:
        self.section = section
        self.rows = list(rows)  # (row name, targets), in table order
        self.times: Dict[Tuple[str, str], float] = {}  # (row, column) -> seconds per call
        self.columns: List[str] = []

    def record(self, benchmark, row: str, column: str) -> None:
        """Keep this test's min time, if it was measured (not under --benchmark-disable)."""
        if benchmark.disabled or benchmark.stats is None:
            return
        self.times[(row, column)] = benchmark.stats.stats.min
        if column not in self.columns:
            self.columns.append(column)

    def print(self, request) -> None:
        if not self.times:
            return
        ratios = bench.section_ratios(self.section)
        table = []
        for name, targets in self.rows:
            results = {column: {"best_ns": self.times[(name, column)] * 1e9}
                       for column in self.columns if (name, column) in self.times}
            if results:
                table.append(bench.make_row(name, 0, results, targets, ratios))
        # module-teardown output is captured like a test's: print it past the capture
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n{self.section.TITLE} (pytest-benchmark min times)", flush=True)
            bench.print_rows(table, self.columns, ratios)
