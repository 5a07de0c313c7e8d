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
is measured. The event loop does not run while a cell is timed: written
frames wait in the kernel's socket buffers (a few KiB per connection over a
whole row), and the loop drains them between rows; before timing, every
column's frame is checked to reach every client exactly once. Keepalive pings
are off on both servers and no client offers compression.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from wsfast.bench import Case, peer

TITLE = "broadcast(): one message to 2,000 server connections (time per synchronous call)"
ORDER = 55
CLOCK = "cpu"  # one send() system call per connection: CPU time is steady on a loaded machine

CONNECTIONS = 2000
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


def write_each(transports: Sequence[Any], frame: bytes) -> None:
    """The floor: one write of a pre-encoded frame per connection."""
    for transport in transports:
        transport.write(frame)


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

    def drain(self) -> None:
        """Run the loop until the clients have read everything written so far (nothing is written
        faster than the kernel takes it here: quiet clients mean empty buffers). The servers'
        objects are left alone, so that no column finds them warmer than another."""
        async def quiet() -> None:
            total = -1
            while True:
                now = sum(c.received for clients in self.clients.values() for c in clients)
                if now == total:
                    return
                total = now
                await asyncio.sleep(0.02)

        self.loop.run_until_complete(quiet())

    def check(self, name: str, timed: Any, frame_size: int) -> None:
        """One call of ``timed`` (``(func, *args)``) reaches every client of ``name`` (the server's
        whose connections it writes to) exactly once, ``frame_size`` bytes."""
        self.drain()
        before = [c.received for c in self.clients[name]]
        timed[0](*timed[1:])
        self.drain()
        got = {c.received - b for c, b in zip(self.clients[name], before)}
        if got != {frame_size}:
            raise RuntimeError(f"{name}: clients received {sorted(got)} bytes, expected {frame_size} each")

    def transports(self) -> List[Any]:
        return [ws.transport for ws in self.wsfast]


def frame_of(message: Any) -> bytes:
    """The frame every connection gets: what broadcast() itself encodes once."""
    from wsfast.protocol import encode_shared

    return encode_shared(message)


def targets(targeted: bool) -> Dict[Tuple[str, str], float]:
    return dict(TARGETS) if targeted else {}


def row_name(name: str) -> str:
    return f"{name} x {CONNECTIONS:,}"


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
            for label, timed in funcs.items():
                if timed is not None:  # the floor writes to the wsfast server's connections
                    audience.check("websockets" if label == "websockets" else "wsfast", timed, len(frame))
            audience.drain()
            yield Case(row_name(name), len(frame) * CONNECTIONS, funcs, targets(targeted))
            audience.drain()
    finally:
        audience.close()
        loop.close()
