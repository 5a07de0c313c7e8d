"""Text delivery: one masked text message parsed into its str, against bytes.decode of its
payload (pytest-benchmark), for ASCII, Latin-1-range, CJK and emoji text.

The same workloads, columns, ratios and targets as ``python -m wsfast bench text``
(``wsfast/bench/text.py``), whose table is printed at the end.

    python -m pytest benchmarks/bench_text.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

from wsfast.bench import implementations
from wsfast.bench import text as section
from wsfast.bench.text import SIZES, _parse
from wsfast.bench.utf8 import TEXTS, make_text

SUMMARY = Summary(section, [(f"{kind} {name}", section.targets(kind, size))
                            for kind in TEXTS for name, size in SIZES])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


@pytest.mark.parametrize("column", ["c", "py", "decode"])
@pytest.mark.parametrize("name,size", SIZES, ids=[name.replace(" ", "") for name, _ in SIZES])
@pytest.mark.parametrize("kind", list(TEXTS))
def test_text(benchmark, kind, name, size, column):
    from wsfast._frames_py import encode_frame

    data = make_text(kind, size)
    benchmark.group = f"text {kind} {name}"
    if column == "decode":
        benchmark(bytes.decode, data)
    else:
        impl = implementations().get(column)
        if impl is None:
            pytest.skip(f"no {column} implementation here")
        if column == "py" and size > 65536:
            pytest.skip("the pure-Python parser is not timed on 1 MiB")
        parser = impl.FrameParser(max_message_size=None)
        wire = encode_frame(1, data, mask=True)
        assert _parse(parser, wire) == data.decode()
        benchmark(_parse, parser, wire)
    SUMMARY.record(benchmark, f"{kind} {name}", "decode" if column == "decode" else f"{column} parse")
