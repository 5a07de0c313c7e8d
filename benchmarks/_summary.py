"""What a benchmark module prints after its last test: the table of ``python -m wsfast bench``.

The rows, column labels, ratio columns and targets are those of the module's
section in wsfast/bench (defined there once); the values are what the tests
measured (pytest-benchmark's minimum time per call, or a probe's median).
Printed by wsfast.bench.print_rows, the one printer.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any, Dict, List, Sequence, Tuple

from wsfast import bench

Pair = Tuple[str, str]


class Summary:
    """Collects one value per (row, column) during a module's tests, prints them at its end."""

    def __init__(self, section: types.ModuleType, rows: Sequence[Tuple[str, Dict[Pair, float]]],
                 unit: str = "ns") -> None:
        self.section = section
        self.rows = list(rows)  # (row name, targets), in table order
        self.unit = unit  # "ns" (times) or "B" (bytes)
        self.values: Dict[Tuple[str, str], float] = {}
        self.columns: List[str] = []

    def put(self, row: str, column: str, value: float) -> None:
        self.values[(row, column)] = value
        if column not in self.columns:
            self.columns.append(column)

    def record(self, benchmark: Any, row: str, column: str) -> None:
        """Keep this test's min time per call, if it was measured (not under --benchmark-disable)."""
        if not benchmark.disabled and benchmark.stats is not None:
            self.put(row, column, benchmark.stats.stats.min * 1e9)

    def print(self, request: Any) -> None:
        if not self.values:
            return
        ratios = bench.section_ratios(self.section)
        table = []
        for name, targets in self.rows:
            results = {column: {"value": self.values[(name, column)]}
                       for column in self.columns if (name, column) in self.values}
            if results:
                table.append(bench.make_row(name, results, targets, ratios, unit=self.unit))
        # module-teardown output is captured like a test's: print it past the capture
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n{self.section.TITLE} (pytest-benchmark)", flush=True)
            bench.print_rows(table, self.columns, ratios)
