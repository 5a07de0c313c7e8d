"""Loopback echo: one picows client pipelining 32 messages at a time against echo servers.

Each server (wsfast, websockets, aiohttp, picows) runs in its own process
(``wsfast.bench._echo_servers``), so the servers never share a core's event
loop with the client or with each other. The client is picows, the fastest
asyncio client available, so that the server dominates what is measured. One
timed call sends ``BATCH`` messages back to back, waits for all ``BATCH``
echoes, and repeats that ``rounds`` times inside one event-loop run; every
echo's size is checked, and one batch per server is fully compared before
timing starts.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

from wsfast.bench import Case, peer

TITLE = "Loopback echo: picows client, 32 messages in flight, server in its own process (time per call)"
ORDER = 50

BATCH = 32
SERVERS = ["wsfast", "websockets", "aiohttp", "picows"]
# (row name, message size, rounds of BATCH messages per timed call)
SIZES = [("64 B", 64, 16), ("4 KiB", 4096, 8), ("256 KiB", 256 * 1024, 1)]
QUICK_SIZES = SIZES

RATIOS = [
    ("wsfast", "picows", "wsfast/picows"),
    ("wsfast", "websockets", "wsfast/websockets"),
    ("wsfast", "aiohttp", "wsfast/aiohttp"),
]


def targets(size: int) -> Dict[Tuple[str, str], float]:
    if size in (64, 256 * 1024):
        return {("wsfast", "picows"): 1.3}
    return {}


class _Server:
    """An echo server in a child process; stops when we close its stdin.

    ``deflate`` makes it offer permessage-deflate; ``env`` adds to its environment.
    :meth:`stats` asks it for its CPU time and memory (see ``_echo_servers``).
    """

    def __init__(self, kind: str, deflate: bool = False, env: Optional[Dict[str, str]] = None) -> None:
        environ = dict(os.environ, **(env or {}))
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        environ["PYTHONPATH"] = root + os.pathsep + environ.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsfast.bench._echo_servers", kind, "0",
             *(["deflate"] if deflate else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environ,
        )
        line = self.proc.stdout.readline().decode()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{kind} echo server did not start (exit code {self.proc.poll()})")
        self.port = int(line.split()[1])

    def stats(self, command: str = "stats") -> Dict[str, Any]:
        """The server's answer to one control command: CPU seconds, memory bytes, traces."""
        self.proc.stdin.write(command.encode() + b"\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline().decode()  # type: ignore[union-attr]
        if not line.startswith("STATS "):
            raise RuntimeError(f"echo server answered {line!r} (exit code {self.proc.poll()})")
        return json.loads(line[6:])  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _Client:
    """A picows client that sends BATCH messages and waits for their echoes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int) -> None:
        from picows import WSListener, WSMsgType, ws_connect

        self.loop = loop
        self.binary = WSMsgType.BINARY
        client = self

        class Listener(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                client._frame(frame)

            # a batch is bounded (BATCH messages): flow control needs no action, and
            # defining these keeps picows from logging a warning at every pause
            def pause_writing(self) -> None:
                pass

            def resume_writing(self) -> None:
                pass

        self.transport, _ = loop.run_until_complete(
            ws_connect(Listener, f"ws://127.0.0.1:{port}/", max_frame_size=64 * 1024 * 1024)
        )
        self.waiter: Optional[asyncio.Future[None]] = None
        self.left = 0
        self.size = 0
        self.got: List[bytes] = []
        self.keep = False
        self.bad = 0

    def _frame(self, frame: Any) -> None:
        if frame.msg_type != self.binary:
            return
        if frame.payload_size != self.size:
            self.bad += 1
        if self.keep:
            self.got.append(frame.get_payload_as_bytes())
        self.left -= 1
        if self.left == 0 and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _rounds(self, payload: bytes, rounds: int) -> None:
        send = self.transport.send
        kind = self.binary
        for _ in range(rounds):
            self.left = BATCH
            self.waiter = self.loop.create_future()
            for _ in range(BATCH):
                send(kind, payload)
            await self.waiter
        if self.bad:
            raise AssertionError(f"{self.bad} echoes had the wrong size")

    def run(self, payload: bytes, rounds: int) -> None:
        self.size = len(payload)
        self.loop.run_until_complete(asyncio.wait_for(self._rounds(payload, rounds), 60))

    def check(self, payload: bytes) -> None:
        self.keep, self.got = True, []
        self.run(payload, 1)
        self.keep = False
        if self.got != [payload] * BATCH:
            raise AssertionError("echoed payloads differ from what was sent")

    def close(self) -> None:
        self.transport.send_close()
        self.transport.disconnect()
        self.loop.run_until_complete(asyncio.wait_for(self.transport.wait_disconnected(), 5))


def cases(quick: bool) -> Iterator[Case]:
    if peer("picows", label="picows client") is None:
        return
    loop = asyncio.new_event_loop()
    servers: Dict[str, _Server] = {}
    clients: Dict[str, _Client] = {}

    def cleanup() -> None:
        for client in clients.values():
            with contextlib.suppress(Exception):
                client.close()
        for server in servers.values():
            server.stop()
        clients.clear()
        servers.clear()

    atexit.register(cleanup)
    try:
        for kind in SERVERS:
            if kind != "wsfast" and peer(kind, label=kind) is None:
                continue
            if kind == "wsfast" and peer("wsfast.asyncio", label="wsfast") is None:
                continue
            try:
                servers[kind] = _Server(kind)
                clients[kind] = _Client(loop, servers[kind].port)
            except Exception as exc:
                peer(f"<{kind} echo server: {exc}>", label=kind)
        for name, size, rounds in QUICK_SIZES if quick else SIZES:
            payload = os.urandom(size)
            funcs: Dict[str, Any] = {}
            for kind in SERVERS:
                client = clients.get(kind)
                if client is None:
                    funcs[kind] = None
                    continue
                client.check(payload)
                funcs[kind] = (client.run, payload, rounds)
            yield Case(f"{name} x{rounds * BATCH}", size * rounds * BATCH, funcs, targets(size),
                       msg_size=size)
    finally:
        cleanup()
        atexit.unregister(cleanup)
        loop.close()
