"""uvicorn with --ws wsfast.uvicorn:WSFastProtocol vs websockets-sansio vs wsproto: a raw ASGI echo app,
server CPU per message from a raw-socket client (pytest-benchmark).

The same servers, client and probes as ``python -m wsfast bench uvicorn`` (see
``wsfast/bench/uvicorn.py``): 64 B and 64 KiB messages, saturated, on asyncio + h11
and uvloop + httptools. pytest-benchmark times the client's wall clock per round;
the figure that matters, the server process's CPU time (user + sys) per message,
is kept in each benchmark's ``extra_info`` (median over the rounds, which take
turns over the three servers); the section's table, with its ratios and
targets, is printed at the end.

    python -m pytest benchmarks/bench_uvicorn.py --benchmark-enable -q
"""

from __future__ import annotations

import importlib.util
import os
import statistics

import pytest
from _summary import Summary

from wsfast.bench import server, uvicorn

ROUNDS = 5
STACK_IDS = [f"{loop}+{http}" for loop, http in uvicorn.STACKS]
ROW = "{} {}, server CPU/msg"  # the row names of python -m wsfast bench uvicorn
SUMMARY = Summary(uvicorn, [(ROW.format(stack, name), uvicorn.TARGETS[size])
                            for stack in STACK_IDS for name, size, *_ in uvicorn.SIZES])


@pytest.fixture(scope="module", params=uvicorn.STACKS, ids=STACK_IDS)
def targets(request):
    loop, http = request.param
    needed = ["uvicorn", http] + (["uvloop"] if loop == "uvloop" else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    env = {"WSFAST_BENCH_LOOP": loop, "WSFAST_BENCH_HTTP": http}
    found = {}
    try:
        for ws in uvicorn.CLASSES:
            found[ws] = server._Target(f"uvicorn-{ws}", env=env)
        yield f"{loop}+{http}", found
    finally:
        for target in found.values():
            target.close()


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    SUMMARY.print(request)


@pytest.mark.parametrize("name,size,count", [(n, s, q) for n, s, _, q in uvicorn.SIZES],
                         ids=[n.replace(" ", "") for n, *_ in uvicorn.SIZES])
def test_uvicorn_echo_cpu(benchmark, targets, name, size, count):
    stack, found = targets
    payload = os.urandom(size)
    probes = {}
    for ws, target in found.items():
        server._check(target, "saturated", payload)  # every byte of the echo, before timing
        probes[ws] = server._probe(target, "saturated", payload, count)
    samples: dict = {ws: [] for ws in probes}

    def one_round():  # the three servers take turns
        for ws, probe in probes.items():
            samples[ws].append(probe())

    benchmark.group = f"uvicorn echo {stack} {name} x{count}, one round of {len(probes)} servers"
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    cpu = {ws: statistics.median(s["cpu"] for s in runs) for ws, runs in samples.items()}
    benchmark.extra_info.update({f"{ws}_server_cpu_ns_per_msg": value for ws, value in cpu.items()},
                                messages=count)
    for ws, value in cpu.items():
        SUMMARY.put(ROW.format(stack, name), ws, value)
    assert all(value > 0 for value in cpu.values())
