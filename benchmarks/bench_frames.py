"""Frame parsing: wsfast compiled / pure Python vs aiohttp, websockets and wsproto.

Client (masked) frames fed in 64 KiB reads, turned into complete messages
(text validated and decoded, fragments joined); groups are one workload,
compare the rows within a group. Workloads, drivers, ratios and targets are
those of ``python -m wsfast bench frames`` (wsfast/bench/frames.py); its table
is printed at the end.

    python -m pytest benchmarks/bench_frames.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

from wsfast.bench import frames as section

DRIVERS = section.drivers()
WORKLOADS = list(section.WORKLOADS)
SUMMARY = Summary(section, [(name, section.targets(name)) for name in WORKLOADS])
_chunks = {}


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


def chunks_for(workload: str):
    if workload not in _chunks:
        _chunks[workload] = section.wire_chunks(workload)
    return _chunks[workload]


@pytest.mark.parametrize("parser", ["c", "py", "aiohttp", "websockets", "wsproto"])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_parse(benchmark, workload, parser):
    run = DRIVERS.get(parser)
    if run is None:
        pytest.skip(f"{parser} unavailable")
    benchmark.group = f"parse {workload}"
    chunks = chunks_for(workload)
    messages = benchmark(run, chunks)
    assert messages == section.expected_messages(workload)
    SUMMARY.record(benchmark, workload, parser)


@pytest.mark.parametrize("impl", ["c", "py"])
@pytest.mark.parametrize("size", [16, 1024, 1 << 20])
def test_encode_masked(benchmark, impl, size):
    """The writer: one masked binary frame (client side), fresh key each call."""
    from wsfast.bench import implementations

    found = implementations()
    if impl not in found:
        pytest.skip(f"{impl} unavailable")
    benchmark.group = f"encode masked {size} B"
    payload = b"\x5a" * size
    frame = benchmark(found[impl].encode_frame, 2, payload, mask=True)
    assert len(frame) > size
