"""A peer that dies silently (its packets dropped in a network namespace, no RST).

First with plain asyncio sockets and wsfast.sockopts' options (the controls: what the kernel
does by itself), then through wsfast's serve() and connect(), both ends at once — a wsfast
server on our side whose client is the peer, and a wsfast client on our side whose server is
the peer:

- ping/pong notices it within ping_interval + ping_timeout and fails the connection with 1011
  (FailureCause.KEEPALIVE_TIMEOUT);
- TCP keep-alive, with application pings off and the connection idle, notices it after about
  idle + interval x count seconds: 1006, with the kernel's ETIMEDOUT as the error behind it,
  while a connection without keep-alive stays "open" through the same window;
- with data in flight keep-alive does nothing (the kernel retransmits instead, for ~15 minutes on
  Linux), and TCP_USER_TIMEOUT is what fails the connection (1006, ETIMEDOUT).

The detection times are printed; the wsfast tests also check them against the promised bound
with a generous margin for a loaded machine (the bound is the point of these options).
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


# ------------------------------------------------------------------ through wsfast: serve() and connect()

# inside the namespace: a wsfast echo server (its port printed), and one wsfast client per port
# given, connected to our servers, echoing what they send; nothing on this side ever gives up
PEER_WSFAST = """
import asyncio, contextlib, sys
from wsfast.asyncio import ConnectionClosed, connect, serve
from wsfast.asyncio.cli import echo as cli_echo

async def echo(ws):
    with contextlib.suppress(ConnectionClosed):
        await cli_echo(ws)

async def main():
    address, host, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
    async with serve(echo, address, 0, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        clients = [await connect(f"ws://{host}:{port}", ping_interval=None) for port in ports]
        print("connected", flush=True)
        await asyncio.gather(*(echo(ws) for ws in clients))
        await asyncio.Event().wait()

asyncio.run(main())
"""

# a generous margin over a promised detection time: timers, probes and a loaded machine
SLACK = 2.5


async def until_closed(ws):
    """Read until the connection ends: (the ConnectionClosed raised, when)."""
    from wsfast.asyncio import ConnectionClosed

    try:
        while True:
            await ws.recv()
    except ConnectionClosed as exc:
        return exc, asyncio.get_running_loop().time()


class WsfastEnds:
    """For each named option set: a wsfast server here (the peer's client connects to it) and a
    wsfast client here (connected to the peer's server); ``ended[name]`` holds, for the server's
    end then the client's, a task that returns (exception, time) when that connection ends."""

    def __init__(self, lab, option_sets):
        self.lab = lab
        self.option_sets = option_sets
        self.servers = {}
        self.connections = {}
        self.ended = {}

    async def __aenter__(self):
        from wsfast.asyncio import connect, serve

        loop = asyncio.get_running_loop()
        opened = {name: loop.create_future() for name in self.option_sets}
        for name, options in self.option_sets.items():
            async def handler(ws, name=name):
                await ws.send("alive?")  # the peer's client echoes it: the path works
                assert await ws.recv() == "alive?"
                task = loop.create_task(until_closed(ws))
                opened[name].set_result((ws, task))
                await task

            self.servers[name] = await serve(handler, self.lab.host_address, 0, close_timeout=0.5, **options)
        ports = [str(server.sockets[0].getsockname()[1]) for server in self.servers.values()]
        self.peer = self.lab.python(PEER_WSFAST, self.lab.peer_address, self.lab.host_address, *ports)
        peer_port = await self._line()
        assert peer_port.isdigit(), peer_port
        assert await self._line() == "connected"
        for name, options in self.option_sets.items():
            client = await connect(f"ws://{self.lab.peer_address}:{peer_port}", close_timeout=0.5, **options)
            await client.send("alive?")
            assert await asyncio.wait_for(client.recv(), 10) == "alive?"
            server_end, server_task = await asyncio.wait_for(opened[name], 10)
            self.connections[name] = (server_end, client)
            self.ended[name] = (server_task, loop.create_task(until_closed(client)))
        return self

    async def _line(self):
        line = await asyncio.get_running_loop().run_in_executor(None, self.peer.stdout.readline)
        if not line:
            raise AssertionError(f"the peer exited: {self.peer.stderr.read()}")
        return line.strip()

    async def __aexit__(self, *exc):
        for server_end, client in self.connections.values():
            for ws in (server_end, client):
                if ws.transport is not None:
                    ws.transport.abort()
        for server in self.servers.values():
            server.close()
            await server.wait_closed()
        for tasks in self.ended.values():
            for task in tasks:
                task.cancel()


async def detected_within(ends, name, since, bound):
    """Both of ``name``'s ends failed: [(seconds after ``since``, exception)] for server, client."""
    found = []
    for task in ends.ended[name]:
        exc, when = await asyncio.wait_for(asyncio.shield(task), bound + 30)
        found.append((when - since, exc))
    return found


def still_open(ends, name):
    for task in ends.ended[name]:
        assert not task.done(), task.result()


def test_wsfast_ping_pong_detects_a_silent_peer(dead_peer_lab, capsys):  # noqa: F811
    from wsfast.enums import CloseCode, FailureCause

    interval, timeout = 1.0, 1.0

    async def main():
        async with WsfastEnds(dead_peer_lab, {"pings": {"ping_interval": interval,
                                                        "ping_timeout": timeout}}) as ends:
            dead_peer_lab.drop()
            dropped = asyncio.get_running_loop().time()
            return await detected_within(ends, "pings", dropped, interval + timeout)

    found = asyncio.run(asyncio.wait_for(main(), 60))
    for seconds, exc in found:
        assert exc.code == CloseCode.INTERNAL_ERROR and exc.cause is FailureCause.KEEPALIVE_TIMEOUT, exc
        assert seconds <= interval + timeout + SLACK, seconds
    report(capsys, f"wsfast ping_interval={interval} s, ping_timeout={timeout} s: 1011 (keepalive timeout) "
                   f"{found[0][0]:.2f} s (serve) / {found[1][0]:.2f} s (connect) after the drop")


def test_wsfast_tcp_keepalive_detects_a_silent_peer_when_idle(dead_peer_lab, capsys):  # noqa: F811
    from wsfast.enums import CloseCode, FailureCause

    timing = KeepaliveTiming(1, 1, 2)
    quiet = {"ping_interval": None}

    async def main():
        loop = asyncio.get_running_loop()
        async with WsfastEnds(dead_peer_lab, {"keepalive": {**quiet, "tcp_keepalive": tuple(timing)},
                                              "control": quiet}) as ends:
            dead_peer_lab.drop()
            dropped = loop.time()
            found = await detected_within(ends, "keepalive", dropped, timing.detection_time)
            # the connections without keep-alive are still "open" well after that
            await asyncio.sleep(max(0.0, dropped + timing.detection_time + 2 - loop.time()))
            still_open(ends, "control")
            return found

    found = asyncio.run(asyncio.wait_for(main(), 60))
    for seconds, exc in found:
        assert exc.code == CloseCode.ABNORMAL_CLOSURE and exc.cause is FailureCause.EOF, exc
        assert isinstance(exc.__cause__, TimeoutError), repr(exc.__cause__)  # ETIMEDOUT from the probes
        assert seconds <= timing.detection_time + SLACK, seconds
    report(capsys, f"wsfast tcp_keepalive={tuple(timing)}, pings off (idle + interval x count = "
                   f"{timing.detection_time} s): 1006 (ETIMEDOUT) {found[0][0]:.2f} s (serve) / "
                   f"{found[1][0]:.2f} s (connect) after the drop; without keep-alive: still open at "
                   f"{timing.detection_time + 2} s")


def test_wsfast_tcp_user_timeout_detects_a_silent_peer_with_data_in_flight(dead_peer_lab, capsys):  # noqa: F811
    from wsfast.enums import CloseCode, FailureCause

    user_timeout = 2.0
    timing = KeepaliveTiming(1, 1, 2)
    quiet = {"ping_interval": None}

    async def main():
        loop = asyncio.get_running_loop()
        async with WsfastEnds(dead_peer_lab, {"user_timeout": {**quiet, "tcp_user_timeout": user_timeout},
                                              "control": {**quiet, "tcp_keepalive": tuple(timing)}}) as ends:
            dead_peer_lab.drop()
            dropped = loop.time()
            senders = [loop.create_task(ws.send(b"x" * 256 * 1024))  # unacknowledged from now on
                       for pair in ends.connections.values() for ws in pair]
            found = await detected_within(ends, "user_timeout", dropped, user_timeout)
            # keep-alive sends no probe while data is unacknowledged: the control is still retransmitting
            window = max(user_timeout, timing.detection_time) + 2
            await asyncio.sleep(max(0.0, dropped + window - loop.time()))
            still_open(ends, "control")
            for sender in senders:
                sender.cancel()
            return found

    found = asyncio.run(asyncio.wait_for(main(), 60))
    for seconds, exc in found:
        assert exc.code == CloseCode.ABNORMAL_CLOSURE and exc.cause is FailureCause.EOF, exc
        assert isinstance(exc.__cause__, TimeoutError), repr(exc.__cause__)
        assert seconds <= user_timeout + SLACK, seconds
    window = max(user_timeout, timing.detection_time) + 2
    report(capsys, f"wsfast tcp_user_timeout={user_timeout} s, 256 KiB in flight: 1006 (ETIMEDOUT) "
                   f"{found[0][0]:.2f} s (serve) / {found[1][0]:.2f} s (connect) after the drop; keep-alive "
                   f"{tuple(timing)} alone: still open at {window:.0f} s")
