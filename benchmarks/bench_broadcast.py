"""broadcast() to 2,000 server connections: wsfast vs websockets vs the floor (one transport.write of
a pre-encoded frame per connection), on the connections of ``python -m wsfast bench broadcast``,
whose ratios and targets (wsfast/bench/broadcast.py) are printed at the end.

    python -m pytest benchmarks/bench_broadcast.py --benchmark-enable --benchmark-timer time.process_time -q

(CPU time: the call is one send() system call per connection, and CPU time stays put on a loaded
machine.) Each round is one synchronous call; the event loop runs between rounds, untimed, so
that the clients read what was written.
"""

from __future__ import annotations

import asyncio

import pytest
from _summary import Summary

from wsfast.asyncio import broadcast
from wsfast.bench import broadcast as section
from wsfast.bench.broadcast import ROWS, Audience, frame_of, write_each

ROUNDS = 30
SUMMARY = Summary(section, [(section.row_name(name), section.targets(targeted))
                            for name, _, targeted in ROWS])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


@pytest.fixture(scope="module")
def audience():
    loop = asyncio.new_event_loop()
    audience = Audience(loop)
    try:
        audience.open(with_websockets=True)
    except ImportError as exc:
        pytest.skip(f"websockets is needed for the comparison: {exc}")
    yield audience
    audience.close()
    loop.close()


@pytest.mark.parametrize("column", ["wsfast", "websockets", "floor"])
@pytest.mark.parametrize("name,message,targeted", ROWS, ids=[row[0] for row in ROWS])
def test_broadcast(benchmark, audience, name, message, targeted, column):
    from websockets.asyncio.server import broadcast as websockets_broadcast

    benchmark.group = f"broadcast {name} x {audience.count:,}"
    frame = frame_of(message)
    timed = {"wsfast": (broadcast, audience.wsfast, message),
             "websockets": (websockets_broadcast, audience.websockets, message),
             "floor": (write_each, audience.transports(), frame)}[column]
    audience.check("websockets" if column == "websockets" else "wsfast", timed, len(frame))
    benchmark.pedantic(timed[0], args=timed[1:], setup=audience.drain, rounds=ROUNDS)
    SUMMARY.record(benchmark, section.row_name(name), column)
