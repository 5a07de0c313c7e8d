"""A peer that dies silently (its packets dropped in a network namespace, no RST), seen from plain
asyncio sockets with wsfast.sockopts' options:

- TCP keep-alive notices it on an idle connection after about idle + interval x count seconds,
  while a connection without keep-alive stays "open" through the same window;
- with data in flight keep-alive does nothing (the kernel retransmits instead, for ~15 minutes on
  Linux), and TCP_USER_TIMEOUT is what fails the connection.

The figures are printed, not asserted (this machine's timings are not the test's business);
the deadlines below only keep a broken run from hanging.
"""

from __future__ import annotations

import asyncio

import pytest
from _netns import dead_peer_lab  # noqa: F401 - the fixture

from wsfast.sockopts import KeepaliveTiming, configure_transport

# an asyncio echo server: prints its port, then echoes every connection until it ends
PEER_ECHO = """
import asyncio, sys

async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass

async def main():
    server = await asyncio.start_server(echo, sys.argv[1], 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


class Watched(asyncio.Protocol):
    """One client connection: applies the options when made, records how and when it ended."""

    def __init__(self, loop, **options):
        self.options = options
        self.lost = loop.create_future()
        self.received = bytearray()
        self._loop = loop
        self._arrived = None

    def connection_made(self, transport):
        configure_transport(transport, **self.options)
        self.transport = transport

    def data_received(self, data):
        self.received += data
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result((exc, self._loop.time()))

    async def round_trip(self, payload: bytes) -> None:
        """Prove the path works before the peer goes silent."""
        start = len(self.received)
        self.transport.write(payload)
        while len(self.received) < start + len(payload):
            self._arrived = self._loop.create_future()
            await asyncio.wait_for(self._arrived, 10)
        assert bytes(self.received[start:]) == payload


async def start_peer(lab):
    proc = lab.python(PEER_ECHO, lab.peer_address)
    line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
    assert line.strip().isdigit(), (line, proc.stderr.read() if proc.poll() is not None else "")
    return int(line)


async def open_watched(lab, port, **options):
    loop = asyncio.get_running_loop()
    _, watched = await loop.create_connection(lambda: Watched(loop, **options), lab.peer_address, port)
    await watched.round_trip(b"alive?")
    return watched


def report(capsys, text):
    with capsys.disabled():
        print(f"\n    dead peer: {text}", end="")


@pytest.mark.parametrize("backend", ["iptables", "nft", "netem"])
def test_the_lab_drops_and_restores(dead_peer_lab, backend):  # noqa: F811
    """The switch itself, with each way of dropping packets this machine has: silence while
    dropping, traffic again after restore."""
    lab = dead_peer_lab
    try:
        lab.use(backend)
    except RuntimeError as exc:
        pytest.skip(f"{backend} cannot drop packets here: {exc}")

    async def main():
        port = await start_peer(lab)
        watched = await open_watched(lab, port)
        lab.drop()
        watched.transport.write(b"lost")
        await asyncio.sleep(0.5)
        assert watched.received == bytearray(b"alive?")  # nothing came back
        lab.restore()
        # the retransmission gets through once the path is back
        # (the first retransmit backs off: allow for a few seconds)
        for _ in range(100):
            if watched.received.endswith(b"lost"):
                break
            await asyncio.sleep(0.1)
        assert watched.received == bytearray(b"alive?lost")
        assert not watched.lost.done()
        watched.transport.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_keepalive_detects_a_silent_peer_on_an_idle_connection(dead_peer_lab, capsys):  # noqa: F811
    lab = dead_peer_lab
    timing = KeepaliveTiming(1, 1, 2)

    async def main():
        loop = asyncio.get_running_loop()
        port = await start_peer(lab)
        watched = await open_watched(lab, port, tcp_keepalive=tuple(timing))
        control = await open_watched(lab, port)  # no keep-alive: nothing will notice
        lab.drop()
        dropped = loop.time()
        exc, when = await asyncio.wait_for(watched.lost, 2 * timing.detection_time + 10)
        assert isinstance(exc, TimeoutError), repr(exc)  # ETIMEDOUT from the probes, not a reset
        detected = when - dropped
        # the connection without keep-alive is still "open" well after that
        await asyncio.sleep(max(0.0, dropped + timing.detection_time + 2 - loop.time()))
        assert not control.lost.done(), control.lost.result()
        control.transport.abort()
        return detected

    detected = asyncio.run(asyncio.wait_for(main(), 60))
    report(capsys, f"tcp_keepalive={tuple(timing)} (idle + interval x count = {timing.detection_time} s): "
                   f"ETIMEDOUT {detected:.2f} s after the drop; without keep-alive: still open at "
                   f"{timing.detection_time + 2} s")


def test_user_timeout_detects_a_silent_peer_with_data_in_flight(dead_peer_lab, capsys):  # noqa: F811
    lab = dead_peer_lab
    user_timeout = 2.0
    timing = KeepaliveTiming(1, 1, 2)

    async def main():
        loop = asyncio.get_running_loop()
        port = await start_peer(lab)
        watched = await open_watched(lab, port, tcp_user_timeout=user_timeout)
        control = await open_watched(lab, port, tcp_keepalive=tuple(timing))  # keep-alive only
        lab.drop()
        dropped = loop.time()
        for conn in (watched, control):
            conn.transport.write(b"x" * 256 * 1024)  # unacknowledged from now on
        exc, when = await asyncio.wait_for(watched.lost, 2 * user_timeout + 10)
        assert isinstance(exc, TimeoutError), repr(exc)
        detected = when - dropped
        # keep-alive sends no probe while data is unacknowledged: the control is still retransmitting
        await asyncio.sleep(max(0.0, dropped + max(user_timeout, timing.detection_time) + 2 - loop.time()))
        assert not control.lost.done(), control.lost.result()
        control.transport.abort()
        return detected

    detected = asyncio.run(asyncio.wait_for(main(), 60))
    report(capsys, f"tcp_user_timeout={user_timeout} s with 256 KiB in flight: ETIMEDOUT {detected:.2f} s "
                   f"after the drop; keep-alive {tuple(timing)} alone: still open at "
                   f"{max(user_timeout, timing.detection_time) + 2:.0f} s")
