"""Frame parsing: wsfast compiled / pure Python vs aiohttp, websockets and wsproto.

Client (masked) frames fed in 64 KiB reads, turned into complete messages
(text validated and decoded, fragments joined); groups are one workload,
compare the rows within a group. Targets (issue 3): c >= 3x aiohttp on
10,000 x 16 B text; c >= 1.5x websockets on 16 x 1 MiB binary; python >= 2x
wsproto on every workload. The drivers are shared with ``python -m wsfast
bench frames`` (wsfast/bench/frames.py), which prints the ratios.

    python -m pytest benchmarks/bench_frames.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest

from wsfast.bench import frames as section

DRIVERS = section.drivers()
WORKLOADS = list(section.WORKLOADS)
_chunks = {}


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
