"""Text delivery: one masked text message parsed into its str, against bytes.decode of its
payload (pytest-benchmark), for ASCII, Latin-1-range, CJK and emoji text.

The same workloads as ``python -m wsfast bench text`` (``wsfast/bench/text.py``):
the compiled parser validates, counts and transcodes with SIMD straight into a
str of the right width, so on 1 MiB of non-ASCII text it must take at most
0.4x the time of ``bytes.decode`` alone (printed at the end).

    python -m pytest benchmarks/bench_text.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import print_past_capture

from wsfast.bench import implementations
from wsfast.bench.text import SIZES, _parse
from wsfast.bench.utf8 import TEXTS, make_text

_results: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    lines = ["", "text delivery: c parse / bytes.decode (target <= 0.40 for 1 MiB of non-ASCII text):"]
    for kind in TEXTS:
        for name, _ in SIZES:
            parse, decode = _results.get((kind, name, "c")), _results.get((kind, name, "decode"))
            if parse and decode:
                lines.append(f"  {kind} {name}: {parse / decode:.2f}")
    if len(lines) > 2:
        print_past_capture(request, lines)


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
    if not benchmark.disabled and benchmark.stats is not None:
        _results[(kind, name, column)] = benchmark.stats.stats.min
