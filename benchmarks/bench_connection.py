"""The sans-I/O connection on top of the frame parser (issue 4): ServerConnection.receive()
vs FrameParser.feed() alone, both implementations, on the workloads of
``python -m wsfast bench connection``. Within a group compare `parser` and `conn`;
target: conn adds at most 30% when messages arrive in 64 KiB reads.

    python -m pytest benchmarks/bench_connection.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest

from wsfast import _impl
from wsfast.bench.connection import _conn_run, _parser_run, open_server_connection, wire, workloads

WORKLOADS = workloads(quick=False)


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
