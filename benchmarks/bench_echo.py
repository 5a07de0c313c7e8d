"""Loopback echo: one picows client, 32 messages in flight, against the echo servers of
wsfast, websockets, aiohttp and picows, each in its own process (pytest-benchmark).

One group per message size (64 B, 4 KiB, 256 KiB); one timed call sends 32
messages back to back and waits for their 32 echoes, ``rounds`` times (see
``wsfast/bench/echo.py``, which ``python -m wsfast bench echo`` runs with the
same servers and client). Servers whose library is not installed are
skipped. At the end the table of ``python -m wsfast bench echo`` is printed,
with its ratios and targets (defined in wsfast/bench/echo.py).

    python -m pytest benchmarks/bench_echo.py --benchmark-enable -q
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os

import pytest
from _summary import Summary

from wsfast.bench import echo

ROWS = [(f"{name} x{rounds * echo.BATCH}", size, rounds) for name, size, rounds in echo.SIZES]
SUMMARY = Summary(echo, [(row, echo.targets(size)) for row, size, _ in ROWS])


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
    SUMMARY.print(request)


@pytest.mark.parametrize("server", echo.SERVERS)
@pytest.mark.parametrize("row,size,rounds", ROWS, ids=[f"{size}B" for _, size, _ in ROWS])
def test_echo(benchmark, clients, server, row, size, rounds):
    client = clients.get(server)
    if client is None:
        pytest.skip(f"{server} is not installed")
    benchmark.group = f"echo {row} messages"
    payload = os.urandom(size)
    client.check(payload)  # every byte echoed back, in order
    benchmark(client.run, payload, rounds)
    SUMMARY.record(benchmark, row, server)
