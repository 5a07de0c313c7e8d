"""uvicorn with --ws wsfast.uvicorn:WSFastProtocol vs websockets-sansio vs wsproto: a raw ASGI echo app,
64 B text and 64 KiB binary, on asyncio + h11 and uvloop + httptools (pytest-benchmark).

One test per (stack, message): the three servers (each its own process) run interleaved
(``wsfast/bench/uvicorn.py``'s ``measure_cell``, which ``python -m wsfast bench uvicorn`` runs too);
the medians of messages/s and of the server process's CPU time per message go to the
benchmark's ``extra_info``, and pytest-benchmark times wsfast's runs. At the end the CPU
ratios are printed with the targets: websockets-sansio's CPU per message over wsfast's
>= 2.5x at 64 B and >= 1.5x at 64 KiB.

    python -m pytest benchmarks/bench_uvicorn.py --benchmark-enable -q
"""

from __future__ import annotations

import importlib.util

import pytest
from _summary import print_past_capture

from wsfast.bench import uvicorn as bench

ROUNDS = 5
_rows: list = []


@pytest.fixture(scope="module", params=bench.STACKS, ids=[f"{loop}+{http}" for loop, http in bench.STACKS])
def servers(request):
    loop, http = request.param
    for module in ("uvicorn", http) + (("uvloop",) if loop == "uvloop" else ()):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    found = bench.start_servers(loop, http)
    try:
        yield f"{loop}+{http}", found
    finally:
        for server in found.values():
            server.stop()


@pytest.fixture(scope="module", autouse=True)
def _cpu_summary(request):
    yield
    lines = ["", "uvicorn echo: server CPU per message (median of interleaved runs):"]
    for row in _rows:
        cells = "; ".join(f"{ws} {res['cpu_us_per_message']:.2f} us ({res['messages_per_s']:.0f}/s)"
                          for ws, res in row["results"].items())
        ratio = row["cpu_ratios"].get("websockets-sansio")
        verdict = "" if ratio is None else (f"; websockets-sansio/wsfast {ratio:.2f}x "
                                            f"(target {row['target']}x: {'ok' if row['met'] else 'MISSED'})")
        lines.append(f"  {row['stack']} {row['name']}: {cells}{verdict}")
    if _rows:
        print_past_capture(request, lines)


@pytest.mark.parametrize("name,size,text,messages", [(n, s, t, m) for n, s, t, m, _ in bench.SIZES],
                         ids=[n.replace(" ", "-") for n, *_ in bench.SIZES])
def test_uvicorn_echo(benchmark, servers, name, size, text, messages):
    stack, found = servers
    if "wsfast" not in found:
        pytest.skip("wsfast's server did not start")
    work = bench.Workload(size, text, messages)
    row = bench.measure_cell(stack, name, found, work, ROUNDS)
    _rows.append(row)
    benchmark.group = f"uvicorn echo {stack} {name} x{work.messages}"
    benchmark.extra_info.update({ws: {k: v for k, v in res.items() if k != "runs"}
                                 for ws, res in row["results"].items()})
    benchmark.pedantic(bench.run_once, args=(found["wsfast"], work), rounds=3, iterations=1)
