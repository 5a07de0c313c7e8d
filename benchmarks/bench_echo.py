"""Loopback echo: one picows client, 32 messages in flight, against the echo servers of
wsfast, websockets, aiohttp and picows, each in its own process (pytest-benchmark).

One group per message size (64 B, 4 KiB, 256 KiB); one timed call sends 32
messages back to back and waits for their 32 echoes, ``rounds`` times (see
``wsfast/bench/echo.py``, which ``python -m wsfast bench echo`` runs with the
same servers and client). Servers whose library is not installed are
skipped. At the end the ratios (min times) and the targets are printed:
wsfast >= 1.3x picows at 64 B and at 256 KiB.

    python -m pytest benchmarks/bench_echo.py --benchmark-enable -q
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os

import pytest
from _summary import print_past_capture, ratio_lines

from wsfast.bench import echo

SIZES = [(f"{name.replace(' ', '')}", size, rounds) for name, size, rounds in echo.SIZES]
RATIOS = [("wsfast", "picows"), ("wsfast", "websockets"), ("wsfast", "aiohttp")]
TARGETS = {(64, ("wsfast", "picows")): 1.3, (256 * 1024, ("wsfast", "picows")): 1.3}

_results: dict = {}


def _installed(kind: str) -> bool:
    try:
        importlib.import_module("wsfast.asyncio" if kind == "wsfast" else kind)
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def clients():
    if not _installed("picows"):
        pytest.skip("picows (the benchmark client) is not installed")
    loop = asyncio.new_event_loop()
    servers, found = {}, {}
    try:
        for kind in echo.SERVERS:
            if not _installed(kind):
                continue
            servers[kind] = echo._Server(kind)
            found[kind] = echo._Client(loop, servers[kind].port)
        yield found
    finally:
        for client in found.values():
            with contextlib.suppress(Exception):
                client.close()
        for server in servers.values():
            server.stop()
        loop.close()


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    if _results:
        rows = [(name, size) for name, size, _ in SIZES]
        lines = ratio_lines("echo", rows, RATIOS, _results, lambda size, pair: TARGETS.get((size, pair)))
        print_past_capture(request, lines)


@pytest.mark.parametrize("server", echo.SERVERS)
@pytest.mark.parametrize("name,size,rounds", SIZES, ids=[name for name, _, _ in SIZES])
def test_echo(benchmark, clients, server, name, size, rounds):
    client = clients.get(server)
    if client is None:
        pytest.skip(f"{server} is not installed")
    benchmark.group = f"echo {name} x{rounds * echo.BATCH} messages"
    payload = os.urandom(size)
    client.check(payload)  # every byte echoed back, in order
    benchmark(client.run, payload, rounds)
    if not benchmark.disabled and benchmark.stats is not None:
        _results[(name, server)] = benchmark.stats.stats.min
