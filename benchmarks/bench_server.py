"""Echo servers from a raw-socket client: server CPU per message for three client patterns,
and resident memory per idle connection (pytest-benchmark).

The same servers, client and probes as ``python -m wsfast bench server`` and
``python -m wsfast bench memory`` (see ``wsfast/bench/server.py`` and
``wsfast/bench/memory.py``): saturated 64 B, saturated 256 KiB, one message in
flight 64 B, each against the plain asyncio echo floor, for wsfast and every
installed peer. pytest-benchmark times the client's wall clock per round; the
figure that matters, the server process's CPU time (user + sys) per message,
is kept in each benchmark's ``extra_info`` (median over the rounds); the
sections' tables (their ratios and targets) are printed at the end.

    python -m pytest benchmarks/bench_server.py --benchmark-enable -q
"""

from __future__ import annotations

import os
import statistics

import pytest
from _summary import Summary

from wsfast.bench import memory, server

PATTERNS = [(name, size, pattern, quick) for name, size, pattern, _, quick in server.PATTERNS]
CPU_ROW = "{}, server CPU/msg"  # the row names of python -m wsfast bench server
RSS_ROW = f"{memory.QUICK_CONNECTIONS:,} connections, no extension, RSS/conn"
CPU = Summary(server, [(CPU_ROW.format(name), server.TARGETS.get(name, {})) for name, *_ in PATTERNS])
RSS = Summary(memory, [(RSS_ROW, memory.TARGETS)], unit="B")


def _installed(kind: str) -> bool:
    module = {"asyncio": "asyncio", "wsfast": "wsfast.asyncio"}.get(kind, kind)
    try:
        __import__(module)
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def targets():
    found = {}
    try:
        for kind in server.SERVERS:
            if _installed(kind):
                found[kind] = server._Target(kind)
        yield found
    finally:
        for target in found.values():
            target.close()


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    CPU.print(request)
    RSS.print(request)


@pytest.mark.parametrize("kind", server.SERVERS)
@pytest.mark.parametrize("name,size,pattern,count", PATTERNS, ids=[p[0].replace(" ", "-") for p in PATTERNS])
def test_server_cpu(benchmark, targets, kind, name, size, pattern, count):
    target = targets.get(kind)
    if target is None:
        pytest.skip(f"{kind} is not installed")
    payload = os.urandom(size)
    server._check(target, pattern, payload)  # every byte of the echo, before timing
    probe = server._probe(target, pattern, payload, count)
    samples = []
    benchmark.group = f"server {name} x{count}"
    benchmark.pedantic(lambda: samples.append(probe()), rounds=5, iterations=1)
    cpu = statistics.median(s["cpu"] for s in samples)
    benchmark.extra_info.update(server_cpu_ns_per_msg=cpu, messages=count,
                                server_sys_ns_per_msg=statistics.median(s["sys"] for s in samples))
    CPU.put(CPU_ROW.format(name), kind, cpu)
    assert cpu > 0


@pytest.mark.parametrize("kind", server.SERVERS)
def test_idle_memory(benchmark, kind):
    if not _installed(kind):
        pytest.skip(f"{kind} is not installed")
    probe = memory._probe(kind, memory.QUICK_CONNECTIONS, False)
    samples = []
    benchmark.group = f"idle memory, {memory.QUICK_CONNECTIONS} connections"
    benchmark.pedantic(lambda: samples.append(probe()), rounds=1, iterations=1)
    rss = samples[0]["rss"]
    benchmark.extra_info.update(rss_bytes_per_connection=rss, connections=memory.QUICK_CONNECTIONS)
    RSS.put(RSS_ROW, kind, rss)
