"""Drop-in patches (wsfast.patch): each library's receive path patched vs unpatched, same process.

Targets (patched / unpatched): websockets sans-I/O 10,000 x 16 B text >= 5x, 16 x 1 MiB binary
>= 1.5x; wsproto FrameProtocol 10,000 x 16 B text >= 10x; websocket-client recv() of a 1 MiB
non-ASCII text >= 3x. The drivers are shared with ``python -m wsfast bench patch``
(wsfast/bench/patch.py), which prints the ratios and also times echo servers.

    python -m pytest benchmarks/bench_patch.py --benchmark-enable -q
"""

from __future__ import annotations

import os

import pytest

import wsfast.patch
from wsfast.bench import patch as section

pytest.importorskip("wsfast._stream_c")


@pytest.fixture(autouse=True)
def _unpatched_after():
    yield
    wsfast.patch.unpatch()


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
@pytest.mark.parametrize("workload", ["10,000 x 16 B text", "16 x 1 MiB binary"])
def test_websockets_sans_io(benchmark, workload, patched):
    pytest.importorskip("websockets.protocol")
    if workload.startswith("10,000"):
        chunks, count, max_size = section._masked(1, b"0123456789abcdef", 10_000), 10_000, 2**20
    else:
        chunks, count, max_size = section._masked(2, os.urandom(1 << 20), 16), 16, None
    benchmark.group = f"websockets sans-I/O {workload}"
    assert benchmark(section.websockets_driver(chunks, patched, max_size)) == count


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_wsproto_frame_protocol(benchmark, patched):
    pytest.importorskip("wsproto.frame_protocol")
    chunks = section._masked(1, b"0123456789abcdef", 10_000)
    benchmark.group = "wsproto FrameProtocol 10,000 x 16 B text"
    assert benchmark(section.wsproto_driver(chunks, patched)) == 10_000


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_websocket_client_recv(benchmark, patched):
    pytest.importorskip("websocket")
    wire, text = section.websocket_client_text()
    benchmark.group = "websocket-client recv() 1 MiB non-ASCII text"
    assert benchmark(section.websocket_client_driver(wire, patched)) == text
