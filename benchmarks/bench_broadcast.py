"""broadcast() to 2,000 server connections: wsfast vs websockets vs the floor (one transport.write of
a pre-encoded frame per connection), on the connections of ``python -m wsfast bench broadcast``,
whose ratios and targets (wsfast/bench/broadcast.py) are printed at the end.

    python -m pytest benchmarks/bench_broadcast.py --benchmark-enable --benchmark-timer time.process_time -q

(CPU time: the call is one send() system call per connection, and CPU time stays put on a loaded
machine.) Each round is one synchronous call, from empty buffers: before it, untimed, the event loop
runs until every server transport's write buffer is empty and the clients have read everything
(``Audience.drain``), and the previous round is checked to have written the frame to every
connection (``Audience.timed_call``'s checks: the count broadcast() returns, nothing left buffered,
every client got it exactly once). The table shows the median round, per connection.
"""

from __future__ import annotations

import asyncio

import pytest
from _summary import Summary

from wsfast.asyncio import broadcast
from wsfast.bench import broadcast as section
from wsfast.bench.broadcast import ROUNDS, ROWS, Audience, frame_of, server_of, write_each

SUMMARY = Summary(section, [(f"{section.row_name(name)}, per connection", section.targets(targeted))
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


class _Rounds:
    """pedantic()'s setup before each round: check the previous round's call (untimed), drain."""

    def __init__(self, audience: Audience, name: str, frame_size: int) -> None:
        self.audience, self.name, self.frame_size = audience, name, frame_size
        self.before = None
        self.written = []  # what each call returned (broadcast(): how many connections)

    def call(self, func, *args):
        """What pedantic() times: the call itself, its result kept in a list for the check."""
        self.written.append(func(*args))

    def setup(self) -> None:
        self.check()
        self.audience.drain()
        self.before = [c.received for c in self.audience.clients[self.name]]

    def check(self) -> None:
        if self.before is None:
            return
        clients = self.audience.clients[self.name]
        buffered = sum(t.get_write_buffer_size() for t in self.audience.server_transports(self.name))
        assert buffered == 0, f"{buffered} bytes left in the transports' buffers after a call"
        assert self.written[-1] in (None, len(clients)), f"wrote to {self.written[-1]} of {len(clients)}"
        self.audience.drain()
        got = {c.received - b for c, b in zip(clients, self.before)}
        assert got == {self.frame_size}, f"clients received {sorted(got)} bytes, expected {self.frame_size}"
        self.before = None


@pytest.mark.parametrize("column", ["wsfast", "websockets", "floor"])
@pytest.mark.parametrize("name,message,targeted", ROWS, ids=[row[0] for row in ROWS])
def test_broadcast(benchmark, audience, name, message, targeted, column):
    from websockets.asyncio.server import broadcast as websockets_broadcast

    benchmark.group = f"broadcast {name} x {audience.count:,}"
    frame = frame_of(message)
    timed = {"wsfast": (broadcast, audience.wsfast, message),
             "websockets": (websockets_broadcast, audience.websockets, message),
             "floor": (write_each, audience.transports(), frame)}[column]
    audience.check(server_of(column), timed, len(frame))
    rounds = _Rounds(audience, server_of(column), len(frame))
    benchmark.pedantic(rounds.call, args=timed, setup=rounds.setup, rounds=ROUNDS)
    rounds.check()
    assert rounds.written
    if not benchmark.disabled and benchmark.stats is not None:
        SUMMARY.put(f"{section.row_name(name)}, per connection", column,
                    benchmark.stats.stats.median * 1e9 / audience.count)
