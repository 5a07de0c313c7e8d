"""permessage-deflate's codec (pytest-benchmark): deflate and inflate one JSON-like message, compiled
vs pure Python vs websockets' PerMessageDeflate extension, at 64 B, 4 KiB and 64 KiB.

The same rows, columns and ratios as ``python -m wsfast bench deflate_codec``
(``wsfast/bench/deflate_codec.py``), whose table is printed at the end; the compressed echo
servers and the memory per connection are ``python -m wsfast bench deflate``.

    python -m pytest benchmarks/bench_deflate.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

from wsfast.bench import deflate_codec as section

CASES = list(section.cases(quick=True))
SUMMARY = Summary(section, [(case.name, case.targets) for case in CASES])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


@pytest.mark.parametrize("column", ["c", "py", "websockets"])
@pytest.mark.parametrize("case", CASES, ids=[case.name.split(" (")[0].replace(" ", "-") for case in CASES])
def test_deflate_codec(benchmark, case, column):
    timed = case.funcs.get(column)
    if timed is None:
        pytest.skip(f"{column} is not available here")
    benchmark.group = case.name
    func, *args = timed
    benchmark(func, *args)
    SUMMARY.record(benchmark, case.name, column)
