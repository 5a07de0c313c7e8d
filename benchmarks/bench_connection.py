"""The sans-I/O protocol on top of the frame parser: ServerProtocol.receive() vs
FrameParser.feed() alone, both implementations, on the workloads of ``python -m
wsfast bench connection`` (wsfast/bench/connection.py: its ratios and targets are
printed at the end). Within a group compare `parser` and `conn`.

    python -m pytest benchmarks/bench_connection.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

from wsfast import _impl
from wsfast.bench import connection as section
from wsfast.bench.connection import _conn_run, _parser_run, open_server_connection, wire, workloads

WORKLOADS = workloads(quick=False)
SUMMARY = Summary(section, [(name, section.targets(targeted)) for name, _, _, targeted in WORKLOADS])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


def _load(kind):
    try:
        return _impl.load(kind)
    except ImportError as exc:
        pytest.skip(f"{kind} implementation unavailable: {exc}")


@pytest.mark.parametrize("layer", ["parser", "conn"])
@pytest.mark.parametrize("kind", ["c", "python"])
@pytest.mark.parametrize("name,messages,read_size,targeted", WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_receive(benchmark, name, messages, read_size, targeted, kind, layer):
    impl = _load(kind)
    benchmark.group = f"{name} ({kind})"
    chunks = wire(messages, read_size)
    if layer == "parser":
        n = benchmark(_parser_run, impl.FrameParser(max_message_size=None).feed, chunks)
    else:
        n = benchmark(_conn_run, open_server_connection(impl), chunks)
    assert n == len(messages)
    SUMMARY.record(benchmark, name, f"{'c' if kind == 'c' else 'py'} {layer}")
