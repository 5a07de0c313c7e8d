"""broadcast(): one message to 2,000 open server connections, the synchronous call timed.

Three columns, on real loopback connections in this process:

- ``wsfast``: :func:`wsfast.asyncio.broadcast` over 2,000 connections of a
  wsfast server;
- ``websockets``: websockets' ``broadcast()`` over 2,000 connections of a
  websockets server;
- ``floor``: one ``transport.write`` of a pre-encoded frame per connection
  (on the wsfast server's transports): what any broadcast must at least do,
  one ``send`` system call per connection.

The clients are plain asyncio protocols that count the bytes they receive
(no WebSocket parsing, no replies), so nothing but the server side's writes
is measured.

Each sample is one synchronous call, timed alone with this process's CPU
time (user + system: the call is one ``send`` system call per connection,
and CPU time stays put on a loaded machine), with the event loop stopped and
the garbage collector off. Before every call the audience is drained: the
loop runs until every server transport's write buffer is empty and every
client has read every byte written to it, so each call starts from empty
buffers and does the same work (without it, frames pile up in the kernel's
buffers, writes start to be buffered in user space, and broadcast() starts
skipping connections over their write limit). After every call, untimed:
broadcast() must report all 2,000 connections written to, no transport may
have kept bytes in its buffer (each write went to the kernel within the
call), and, drained again, every client must have received the frame exactly
once; anything else fails the column rather than timing a shortcut. The
columns take turns (round-robin over the rows' repeats); a cell shows the
median of the samples, per connection (the call's time / 2,000). Keepalive
pings are off on both servers and no client offers compression.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from wsfast.bench import Case, peer

TITLE = "broadcast(): one message to 2,000 server connections (median time per connection of one call)"
ORDER = 55
CLOCK = "cpu"  # one send() system call per connection: CPU time is steady on a loaded machine

CONNECTIONS = 2000
ROUNDS = 21  # timed calls per cell (each drained before); the median is shown
QUICK_ROUNDS = 7
RATIOS = [
    ("wsfast", "websockets", "wsfast/websockets"),
    ("wsfast", "floor", "wsfast/floor"),
]
# ≥ 1.5x faster than websockets' broadcast(), and at most 1.15x the floor's time
TARGETS = {("wsfast", "websockets"): 1.5, ("wsfast", "floor"): round(1 / 1.15, 2)}
ROWS = [("64 B text", "x" * 64, True), ("64 B binary", b"\x00" * 64, True),
        ("4 KiB binary", os.urandom(4096), False)]


def _raise_fd_limit(needed: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


class _Counter(asyncio.Protocol):
    """A raw WebSocket client: sends the upgrade request, then only counts the bytes after the 101."""

    def __init__(self) -> None:
        self.head: Optional[bytes] = b""
        self.received = 0
        self.opened = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"not upgraded: {self.head[:80]!r}")
            data, self.head = self.head[end + 4:], None
            self.opened.set_result(None)
        self.received += len(data)


def write_each(transports: Sequence[Any], frame: bytes) -> int:
    """The floor: one write of a pre-encoded frame per connection (returns how many, like broadcast())."""
    for transport in transports:
        transport.write(frame)
    return len(transports)


class Audience:
    """``count`` connections to a wsfast server and ``count`` to a websockets server, in this
    process, on ``loop`` (not running between calls)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int = CONNECTIONS) -> None:
        self.loop = loop
        self.count = count
        self.wsfast: List[Any] = []
        self.websockets: List[Any] = []
        self.clients: Dict[str, List[_Counter]] = {}
        self._servers: List[Any] = []
        self._stack = contextlib.AsyncExitStack()

    # -- setup and teardown

    def open(self, with_websockets: bool = True) -> None:
        _raise_fd_limit(4 * self.count + 256)
        self.loop.run_until_complete(self._open(with_websockets))

    async def _open(self, with_websockets: bool) -> None:
        from wsfast.asyncio import serve

        async def keep(ws: Any, into: List[Any]) -> None:
            into.append(ws)
            await ws.wait_closed()

        server = await self._stack.enter_async_context(
            serve(lambda ws: keep(ws, self.wsfast), "127.0.0.1", 0, ping_interval=None, close_timeout=1))
        self.clients["wsfast"] = await self._connect(server.sockets[0].getsockname()[1], self.wsfast)
        if with_websockets:
            from websockets.asyncio.server import serve as ws_serve

            ws_server = await self._stack.enter_async_context(
                ws_serve(lambda ws: keep(ws, self.websockets), "127.0.0.1", 0, ping_interval=None,
                         compression=None, close_timeout=1))
            port = list(ws_server.sockets)[0].getsockname()[1]
            self.clients["websockets"] = await self._connect(port, self.websockets)

    async def _connect(self, port: int, accepted: List[Any]) -> List[_Counter]:
        clients: List[_Counter] = []
        for start in range(0, self.count, 200):  # in batches: the accept backlog is finite
            batch = [self.loop.create_connection(_Counter, "127.0.0.1", port)
                     for _ in range(min(200, self.count - start))]
            for _, client in await asyncio.gather(*batch):
                clients.append(client)
            await asyncio.gather(*(c.opened for c in clients[start:]))
        for _ in range(1000):  # the handlers run a moment after the 101 went out
            if len(accepted) == self.count:
                break
            await asyncio.sleep(0.01)
        if len(accepted) != self.count:
            raise RuntimeError(f"{len(accepted)} of {self.count} connections reached the handler")
        return clients

    def close(self) -> None:
        async def close() -> None:
            for clients in self.clients.values():
                for client in clients:
                    client.transport.abort()
            await self._stack.aclose()

        self.loop.run_until_complete(close())

    # -- between timings

    def server_transports(self, name: str) -> List[Any]:
        """The server side's transport of each of ``name``'s connections (what broadcast writes to)."""
        return [ws.transport for ws in getattr(self, name)]

    def drain(self, timeout: float = 30.0) -> None:
        """Run the loop until every server transport's write buffer is empty and every client has
        read everything written to it: the clients' byte counts no longer move, and the kernel's
        buffers are empty on both ends (nothing written is still in the server's user-space buffer;
        loopback hands each send() to the peer's socket at once, and the client reads it all)."""
        async def quiet() -> None:
            deadline = self.loop.time() + timeout
            total = -1
            while True:
                buffered = sum(t.get_write_buffer_size()
                               for name in self.clients for t in self.server_transports(name))
                now = sum(c.received for clients in self.clients.values() for c in clients)
                if buffered == 0 and now == total:
                    return
                if self.loop.time() > deadline:
                    raise RuntimeError(f"not drained after {timeout:g} s: {buffered} bytes still buffered")
                total = now
                await asyncio.sleep(0.01)

        self.loop.run_until_complete(quiet())

    def timed_call(self, name: str, timed: Any, frame_size: int) -> int:
        """Drain, then time one call of ``timed`` (``(func, *args)``, writing to the connections of
        ``name``'s server) alone: this process's CPU time in ns, the loop stopped, gc off. Then,
        untimed, check that the call wrote the frame to every connection: what it returns (how
        many it wrote to, when it says: broadcast() does), every transport's buffer empty right
        after it (each write went to the kernel within the call), and, drained again, every
        client got ``frame_size`` more bytes. RuntimeError otherwise."""
        func, args = timed[0], timed[1:]
        self.drain()
        clients = self.clients[name]
        before = [c.received for c in clients]
        clock = time.process_time_ns
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = clock()
            written = func(*args)
            elapsed = clock() - start
        finally:
            if gc_was_enabled:
                gc.enable()
        buffered = sum(t.get_write_buffer_size() for t in self.server_transports(name))
        if written is not None and written != len(clients):
            raise RuntimeError(f"{name}: the call wrote to {written} of {len(clients)} connections")
        if buffered:
            raise RuntimeError(f"{name}: {buffered} bytes left in the transports' buffers after the call")
        self.drain()
        got = {c.received - b for c, b in zip(clients, before)}
        if got != {frame_size}:
            raise RuntimeError(f"{name}: clients received {sorted(got)} bytes, expected {frame_size} each")
        return elapsed

    def check(self, name: str, timed: Any, frame_size: int) -> None:
        """One untimed call of ``timed`` passes :meth:`timed_call`'s checks."""
        self.timed_call(name, timed, frame_size)

    def transports(self) -> List[Any]:
        return self.server_transports("wsfast")


def frame_of(message: Any) -> bytes:
    """The frame every connection gets: what broadcast() itself encodes once."""
    from wsfast.protocol import encode_shared

    return encode_shared(message)


def targets(targeted: bool) -> Dict[Tuple[str, str], float]:
    return dict(TARGETS) if targeted else {}


def row_name(name: str) -> str:
    return f"{name} x {CONNECTIONS:,}"


def server_of(column: str) -> str:
    """Whose connections a column writes to: the floor writes to the wsfast server's."""
    return "websockets" if column == "websockets" else "wsfast"


def _probe(audience: Audience, column: str, timed: Any, frame_size: int) -> Dict[str, float]:
    elapsed = audience.timed_call(server_of(column), timed, frame_size)
    return {"per_conn": elapsed / audience.count}


def cases(quick: bool) -> Iterator[Case]:
    from wsfast.asyncio import broadcast

    ws_broadcast = peer("websockets.asyncio.server", "broadcast", label="websockets")
    loop = asyncio.new_event_loop()
    audience = Audience(loop)
    try:
        audience.open(with_websockets=ws_broadcast is not None)
        transports = audience.transports()
        for name, message, targeted in ROWS[:2] if quick else ROWS:
            frame = frame_of(message)
            funcs: Dict[str, Any] = {
                "wsfast": (broadcast, audience.wsfast, message),
                "websockets": None if ws_broadcast is None else (ws_broadcast, audience.websockets, message),
                "floor": (write_each, transports, frame),
            }
            for label, timed in funcs.items():  # a warm-up call each, checked like the timed ones
                if timed is not None:
                    audience.check(server_of(label), timed, len(frame))
            yield Case(row_name(name), len(frame),  # the bytes one connection gets in the time shown
                       {label: None if timed is None else (_probe, audience, label, timed, len(frame))
                        for label, timed in funcs.items()},
                       targets(targeted), msg_size=len(frame), probe=True,
                       metrics=[("per_conn", "per connection", "ns")],
                       repeats=QUICK_ROUNDS if quick else ROUNDS)
    finally:
        audience.close()
        loop.close()
