"""Flow control and liveness, tried as a hostile or unlucky peer would, over loopback.

The wsfast side runs in a child process (``_flow_child.py``): its memory is
read from /proc, and a server that spins cannot freeze the code watching it.
The hostile side is written by hand here on plain asyncio sockets, so it
does exactly what a broken or malicious peer does (vanishes, never reads,
floods pings, pushes data into a slow handshake...).

Every case is an ``async`` function ``case(tree, kind) -> dict`` that runs
against any wsfast tree (``Tree``: a checkout and the Python that has it
installed) and returns what it measured; ``tests/test_aio_flow.py`` asserts
on these results and ``benchmarks/flow_cases.py`` prints them, before and
after, side by side. Keys every case may fill:

    rss       peak resident growth of the wsfast process (VmHWM - VmRSS at start), bytes
    held      resident growth still there once the hostile connection is gone, bytes
    vm        address-space growth (VmPeak - VmSize at start), bytes
    closed    seconds from the trigger to the wsfast side's ConnectionClosed (None: not within the bound)
    code      that connection's close code
    served    seconds for a fresh connection's handshake + one echo meanwhile (None: not served)
    logs      log lines the wsfast process wrote

Each step waits for an event (a report line, a byte count, a stalled write)
with a generous bound; no step asserts on how long it took.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).with_name("_flow_child.py")
KiB = 1 << 10
MiB = 1 << 20
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter


@dataclass(frozen=True)
class Tree:
    """A wsfast checkout and the Python interpreter that imports it."""

    root: Path
    python: str


CURRENT = Tree(ROOT, sys.executable)


# ---------------------------------------------------------------- the wsfast process


def proc_status(pid: int) -> Dict[str, int]:
    """The Vm* lines of /proc/PID/status, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Vm"):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0]) * 1024
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """A running ``_flow_child.py``: its JSON reports (``events``) and its log lines (``logs``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.events: List[dict] = []
        self.logs: List[str] = []
        self._news = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._read_reports()), asyncio.ensure_future(self._read_logs())]
        self.base: Dict[str, int] = {}
        self.port = 0

    async def _read_reports(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                self._news.set()
                return
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
            self._news.set()

    async def _read_logs(self) -> None:
        assert self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.logs.append(line.decode(errors="replace").rstrip("\n"))

    async def wait(self, predicate: Callable[[dict], bool], timeout: float) -> Optional[dict]:
        """The first report matching ``predicate``, waiting up to ``timeout`` s for it (else None)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            left = deadline - loop.time()
            if left <= 0 or self.proc.returncode is not None:
                return None
            self._news.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._news.wait(), left)

    async def closed(self, conn_id: str, timeout: float) -> Optional[dict]:
        return await self.wait(lambda e: e["ev"] == "closed" and e["id"] == conn_id, timeout)

    def status(self) -> Dict[str, int]:
        return proc_status(self.pid)

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def mark(self) -> None:
        """Memory now is the baseline growth is measured from."""
        self.base = self.status()

    def growth(self) -> Dict[str, int]:
        now = self.status()
        return {"rss": now["VmHWM"] - self.base["VmRSS"], "now": now["VmRSS"] - self.base["VmRSS"],
                "vm": now["VmPeak"] - self.base["VmSize"]}

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, 9)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 2)


@contextlib.asynccontextmanager
async def wsfast_process(tree: Tree, kind: str, config: dict) -> AsyncIterator[Child]:
    """``_flow_child.py CONFIG`` on ``tree`` with the ``kind`` hot path; killed on exit."""
    env = dict(os.environ, PYTHONPATH=str(tree.root))
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    else:
        env["WSFAST_REQUIRE_EXTENSIONS"] = "1"
    proc = await asyncio.create_subprocess_exec(
        tree.python, str(CHILD), json.dumps(config), env=env, cwd=str(tree.root),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        limit=1 << 20)
    child = Child(proc)
    try:
        ready = await child.wait(lambda e: e["ev"] == "ready", 60)
        if ready is None:
            await child.stop()
            raise RuntimeError(f"the wsfast process did not start: {child.logs[-20:]}")
        child.port = ready.get("port", 0)
        yield child
    finally:
        await child.stop()


@contextlib.asynccontextmanager
async def wsfast_server(tree: Tree, kind: str, **config: Any) -> AsyncIterator[Child]:
    """A wsfast server process (see ``_flow_child.py`` for the paths), baseline taken after a probe."""
    config.setdefault("options", {})
    async with wsfast_process(tree, kind, dict(config, mode="serve")) as server:
        await probe(server.port, 30)  # warm: one handshake and echo before the baseline
        server.mark()
        yield server


@contextlib.asynccontextmanager
async def wsfast_clients(tree: Tree, kind: str, clients: List[dict], **config: Any) -> AsyncIterator[Child]:
    """A process of wsfast clients: ``clients`` = [{"url", "action", "count", "options"}]."""
    async with wsfast_process(tree, kind, dict(config, mode="connect", clients=clients)) as child:
        child.mark()
        yield child


# ---------------------------------------------------------------- a hand-written peer


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True,
          length: Optional[int] = None) -> bytes:
    """One frame; a client's is masked with an all-zero key (the payload goes as is); ``length``
    may declare more than ``payload`` holds."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | opcode
    m = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    return head + (b"\0\0\0\0" if masked else b"") + payload


async def read_frame(reader: Reader, *, step: int = 0, pause: float = 0.0) -> Tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next frame (unmasking a client's). With ``step``, a long
    payload is taken ``step`` bytes every ``pause`` seconds (a slow reader)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if b1 & 0x80 else None
    if step:
        parts = []
        left = n
        while left:
            take = min(step, left)
            parts.append(await reader.readexactly(take))
            left -= take
            if left:
                await asyncio.sleep(pause)
        payload = b"".join(parts)
    else:
        payload = await reader.readexactly(n)
    if key is not None and key != b"\0\0\0\0" and n:  # one big-int XOR: fast enough for MiBs
        mask = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return bool(b0 & 0x80), b0 & 0x0F, payload


def upgrade_request(port: int, path: str, extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


async def open_tcp(port: int, *, rcvbuf: Optional[int] = None, limit: int = 64 * KiB
                   ) -> Tuple[Reader, Writer]:
    """A TCP connection to the server; ``rcvbuf`` caps our receive window (set before connecting),
    ``limit`` what the stream reader takes in ahead of us (it reads up to twice that before it
    stops: a client that "never reads" must not have a big buffer reading for it)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=limit)


async def open_ws(port: int, path: str = "/echo", *, rcvbuf: Optional[int] = None, limit: int = 64 * KiB,
                  then: bytes = b"", timeout: float = 10.0) -> Tuple[Reader, Writer]:
    """A completed upgrade (``then`` is sent right behind the request); raises unless 101."""
    reader, writer = await open_tcp(port, rcvbuf=rcvbuf, limit=limit)
    writer.write(upgrade_request(port, path) + then)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    if not head.startswith(b"HTTP/1.1 101 "):
        writer.transport.abort()
        raise ConnectionError(f"upgrade refused: {head[:40]!r}")
    return reader, writer


def vanish(writer: Writer, how: str) -> None:
    """Disappear without a close frame: "rst" (SO_LINGER 0, then close: a reset) or "fin"
    (shut our side down, then close; what the peer still sends meets a reset)."""
    sock = writer.get_extra_info("socket")
    if how == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        sock.shutdown(socket.SHUT_WR)
    writer.transport.abort()


async def probe(port: int, timeout: float = 5.0, path: str = "/echo?id=probe") -> Optional[float]:
    """Seconds for a fresh connection's upgrade and one echo round trip; None if not served in time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer = None
    try:
        async with asyncio_timeout(timeout):
            reader, writer = await open_ws(port, path, timeout=timeout)
            writer.write(frame(1, b"are you there?"))
            fin, opcode, payload = await read_frame(reader)
            if (opcode, payload) != (1, b"are you there?"):
                return None
            return loop.time() - started
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.transport.abort()


@contextlib.asynccontextmanager
async def asyncio_timeout(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout`` for Python < 3.11: cancel the block after ``seconds``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    handle = loop.call_later(seconds, expire)
    try:
        yield
    except asyncio.CancelledError:
        if expired:
            raise asyncio.TimeoutError from None
        raise
    finally:
        handle.cancel()


async def push(writer: Writer, chunk: bytes, *, limit: int, window: float, stall: float = 1.0,
               pace: float = 0.0) -> Tuple[int, bool]:
    """Write ``chunk`` again and again (``pace`` seconds apart), never reading: until ``limit``
    bytes went out, ``window`` seconds passed, or one write could not drain for ``stall``
    seconds (TCP backpressure: the peer stopped reading). Returns (bytes written, stalled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    pushed = 0
    while pushed < limit and loop.time() < deadline:
        writer.write(chunk)
        pushed += len(chunk)
        try:
            await asyncio.wait_for(writer.drain(), stall)
        except asyncio.TimeoutError:
            return pushed, True
        except OSError:
            break
        if pace:
            await asyncio.sleep(pace)
    return pushed, False


async def drain_until(reader: Reader, n: int, timeout: float) -> int:
    """Read (and drop) at least n bytes; returns what was read (less on EOF or timeout)."""
    got = 0
    with contextlib.suppress(asyncio.TimeoutError, OSError):
        async with asyncio_timeout(timeout):
            while got < n:
                data = await reader.read(256 * KiB)
                if not data:
                    break
                got += len(data)
    return got


async def close_code_on_wire(reader: Reader, timeout: float) -> Optional[int]:
    """Read frames until a close frame (its code) or EOF/timeout (None)."""
    with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        async with asyncio_timeout(timeout):
            while True:
                _, opcode, payload = await read_frame(reader)
                if opcode == 8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


class FastReader(threading.Thread):
    """A client that reads a stream as fast as a socket can (a thread; recv releases the GIL)."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(upgrade_request(port, path))
        self.received = 0
        self.error: Optional[BaseException] = None
        self._stopping = False

    def run(self) -> None:
        buf = bytearray(1 * MiB)
        view = memoryview(buf)
        try:
            while not self._stopping:
                n = self.sock.recv_into(view)
                if not n:
                    return
                self.received += n
        except OSError as exc:
            self.error = exc

    async def wait_for(self, n: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.received < n:
            if loop.time() > deadline or not self.is_alive():
                return False
            await asyncio.sleep(0.02)
        return True

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.shutdown(socket.SHUT_RDWR)
        self.join(5)
        self.sock.close()


# ---------------------------------------------------------------- a hand-written server (client cases)


def accept_response(head: bytes) -> bytes:
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", head)
    assert match is not None, head
    accept = base64.b64encode(hashlib.sha1(match.group(1) + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")


Behaviour = Callable[[Reader, Writer, str], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(behaviour: Behaviour, *, rcvbuf: Optional[int] = None, limit: int = 64 * KiB
                     ) -> AsyncIterator[str]:
    """A server that accepts every upgrade, then runs ``behaviour(reader, writer, path)``;
    yields its ws:// URL. ``rcvbuf`` caps its receive window, ``limit`` its read-ahead."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    tasks: List[asyncio.Task[Any]] = []

    async def handle(reader: Reader, writer: Writer) -> None:
        tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            writer.write(accept_response(head))
            path = head.split(b" ", 2)[1].decode()
            await behaviour(reader, writer, path)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.CancelledError):
            pass  # the peer went away, or the case is over
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, sock=sock, limit=limit)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


# ---------------------------------------------------------------- the cases: server side

STREAM_OPTIONS = {"ping_interval": None}
# keepalive on a short fuse for the cases about it (the deadlines run on the server's loop)
KEEPALIVE = {"ping_interval": 0.2, "ping_timeout": 0.4}
SMALL_SNDBUF = 64 * KiB  # the kernel's share of a backlog kept small, so that ours is what is tested
SLOW_READ = 32 * KiB  # a slow reader's read-ahead: what it has not consumed stays in the sender's buffers


async def cpu_share(child: Child, seconds: float) -> float:
    """The share of one core the process used over the next ``seconds``."""
    loop = asyncio.get_running_loop()
    cpu, started = child.cpu(), loop.time()
    await asyncio.sleep(seconds)
    return (child.cpu() - cpu) / (loop.time() - started)


def _result(child: Child, **fields: Any) -> Dict[str, Any]:
    grown = child.growth()
    out: Dict[str, Any] = {"rss": grown["rss"], "vm": grown["vm"], "logs": len(child.logs)}
    out.update(fields)
    return out


async def vanish_under_stream(tree: Tree, kind: str, how: str) -> Dict[str, Any]:
    """A handler streams 1 KiB messages; its client vanishes (RST or FIN) after 256 KiB."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader, writer = await open_ws(server.port, "/stream?id=v")
        await drain_until(reader, 256 * KiB, 10)
        gone = time.monotonic()
        vanish(writer, how)
        closed = await server.closed("v", 5)
        served = await probe(server.port, 5)
        busy = await cpu_share(server, 0.5)  # what it burns afterwards: nothing, or a core spinning
        return _result(server, closed=None if closed is None else closed["t"] - gone,
                       code=None if closed is None else closed["code"], served=served, cpu_after=busy)


async def never_reading_streamed_to(tree: Tree, kind: str, window: float = 2.0) -> Dict[str, Any]:
    """A handler yields between 1 KiB sends; its client never reads (for ``window`` seconds)."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader, writer = await open_ws(server.port, "/stream_yield?id=n", rcvbuf=64 * KiB)
        await server.wait(lambda e: e["ev"] == "open" and e["id"] == "n", 10)
        await asyncio.sleep(window)
        served = await probe(server.port, 5)
        grown = server.growth()
        gone = time.monotonic()
        vanish(writer, "rst")
        closed = await server.closed("n", 5)
        return _result(server, rss=grown["rss"], served=served,
                       closed=None if closed is None else closed["t"] - gone,
                       moved=None if closed is None else closed["moved"])


async def echo_flood_never_read(tree: Tree, kind: str, window: float = 4.0) -> Dict[str, Any]:
    """The echo handler; the client sends 16 KiB messages, one per write and about 1 ms apart
    (so the server reads and answers one per loop turn), and never reads."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader, writer = await open_ws(server.port, "/echo?id=e", rcvbuf=64 * KiB)
        pushed, stalled = await push(writer, frame(2, b"e" * 16 * KiB), limit=512 * MiB, window=window,
                                     pace=0.001)
        served = await probe(server.port, 5)
        grown = server.growth()
        gone = time.monotonic()
        vanish(writer, "rst")
        closed = await server.closed("e", 5)
        return _result(server, rss=grown["rss"], pushed=pushed, stalled=stalled, served=served,
                       closed=None if closed is None else closed["t"] - gone)


async def ping_flood_never_read(tree: Tree, kind: str, window: float = 4.0) -> Dict[str, Any]:
    """The client sends pings (125-byte payloads) as fast as it can and never reads the pongs."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader, writer = await open_ws(server.port, "/echo?id=p", rcvbuf=64 * KiB)
        pings = frame(9, b"p" * 125) * 512
        pushed, stalled = await push(writer, pings, limit=1 << 30, window=window)
        served = await probe(server.port, 5)
        grown = server.growth()
        gone = time.monotonic()
        vanish(writer, "rst")
        closed = await server.closed("p", 5)
        return _result(server, rss=grown["rss"], pings=pushed // len(frame(9, b"p" * 125)), stalled=stalled,
                       served=served, closed=None if closed is None else closed["t"] - gone)


async def keepalive_ping_flooder(tree: Tree, kind: str) -> Dict[str, Any]:
    """Keepalive on; the client floods pings and unsolicited pongs and reads nothing: it must be
    timed out (1011) although the pongs keep coming."""
    async with wsfast_server(tree, kind, options=KEEPALIVE) as server:
        started = time.monotonic()
        reader, writer = await open_ws(server.port, "/echo?id=k", rcvbuf=64 * KiB)
        flood = (frame(9, b"p" * 125) + frame(10, b"unsolicited")) * 256
        pusher = asyncio.ensure_future(push(writer, flood, limit=1 << 30, window=30, stall=30))
        closed = await server.closed("k", 10)
        pusher.cancel()
        writer.transport.abort()
        return _result(server, closed=None if closed is None else closed["t"] - started,
                       code=None if closed is None else closed["code"])


async def keepalive_wrong_pongs(tree: Tree, kind: str) -> Dict[str, Any]:
    """Keepalive on; the client reads everything and answers each ping with a pong carrying
    another payload (plus unsolicited pongs): not an answer, so 1011."""
    async with wsfast_server(tree, kind, options=KEEPALIVE) as server:
        started = time.monotonic()
        reader, writer = await open_ws(server.port, "/echo?id=w")
        code = None
        with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            async with asyncio_timeout(10):
                while True:
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 9:
                        writer.write(frame(10, payload[::-1] + b"!") + frame(10, b"unsolicited"))
                    elif opcode == 8:
                        code = struct.unpack("!H", payload[:2])[0]
                        break
        closed = await server.closed("w", 5)
        writer.transport.abort()
        return _result(server, closed=None if closed is None else closed["t"] - started,
                       code=None if closed is None else closed["code"], wire=code)


async def keepalive_right_pongs(tree: Tree, kind: str, watch: float = 2.0) -> Dict[str, Any]:
    """The control: the client answers every ping with its payload; it stays open."""
    async with wsfast_server(tree, kind, options=KEEPALIVE) as server:
        reader, writer = await open_ws(server.port, "/echo?id=r")
        pings = 0
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio_timeout(watch):
                while True:
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 9:
                        pings += 1
                        writer.write(frame(10, payload))
        writer.write(frame(8, struct.pack("!H", 1000)))
        closed = await server.closed("r", 5)
        writer.transport.abort()
        return _result(server, pings=pings, code=None if closed is None else closed["code"])


def numbered(messages: List[str]) -> bool:
    """True if the messages are "message 0", "message 1"... in order (none lost or reordered)."""
    return messages == [f"message {i}" for i in range(len(messages))]


async def keepalive_application_behind(tree: Tree, kind: str, busy: float = 2.0, count: int = 40
                                       ) -> Dict[str, Any]:
    """Keepalive on; the client sends ``count`` messages (more than max_queue: reading pauses)
    and answers every ping, but the handler is busy for ``busy`` seconds before it reads. The
    pong waits unread behind the queue; that is not the peer's fault: it stays open."""
    async with wsfast_server(tree, kind, options=KEEPALIVE) as server:
        reader, writer = await open_ws(server.port, f"/sleepy?id=b&s={busy}")
        writer.write(b"".join(frame(1, f"message {i}".encode()) for i in range(count)))
        echoed = []
        code = None
        with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            async with asyncio_timeout(busy + 10):
                while len(echoed) < count:
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 9:
                        writer.write(frame(10, payload))
                    elif opcode == 1:
                        echoed.append(payload.decode())
                    elif opcode == 8:
                        code = struct.unpack("!H", payload[:2])[0]
                        break
        writer.write(frame(8, struct.pack("!H", 1000)))
        closed = await server.closed("b", 5)
        writer.transport.abort()
        return _result(server, echoed=len(echoed), in_order=numbered(echoed), wire=code,
                       code=None if closed is None else closed["code"])


async def keepalive_while_reads_held(tree: Tree, kind: str, drain: bool, size: int = 4 * MiB,
                                     ) -> Dict[str, Any]:
    """Keepalive on; the handler sends one ``size`` message (our reads are held while it waits
    in the write buffer). A client that drains it slowly, answering pings once it sees them,
    stays open; one that reads nothing is timed out (1011)."""
    options = dict(KEEPALIVE, max_message_size=2 * size)
    async with wsfast_server(tree, kind, options=options, sndbuf=SMALL_SNDBUF) as server:
        started = time.monotonic()
        reader, writer = await open_ws(server.port, f"/big?id=h&n={size}", rcvbuf=64 * KiB, limit=SLOW_READ)
        received = 0
        code = None
        with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            async with asyncio_timeout(30):
                if not drain:
                    await server.closed("h", 10)
                    raise asyncio.TimeoutError
                while True:  # about 1.6 MB/s: 32 KiB every 20 ms
                    _, opcode, payload = await read_frame_slowly(reader)
                    if opcode == 9:
                        writer.write(frame(10, payload))
                    elif opcode == 2:
                        received += len(payload)
                        writer.write(frame(8, struct.pack("!H", 1000)))  # done: close normally
                    elif opcode == 8:
                        code = struct.unpack("!H", payload[:2])[0]
                        break
        closed = await server.closed("h", 5)
        writer.transport.abort()
        return _result(server, received=received, wire=code,
                       closed=None if closed is None else closed["t"] - started,
                       code=None if closed is None else closed["code"])


async def read_frame_slowly(reader: Reader) -> Tuple[bool, int, bytes]:
    """read_frame at about 1.6 MB/s: 32 KiB every 20 ms."""
    return await read_frame(reader, step=32 * KiB, pause=0.02)


async def push_during_process_request(tree: Tree, kind: str, window: float = 3.0) -> Dict[str, Any]:
    """``process_request`` sleeps 10 s; the client pushes frames behind its request meanwhile."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS, process_request_delay=10) as server:
        reader, writer = await open_tcp(server.port, rcvbuf=64 * KiB)
        writer.write(upgrade_request(server.port, "/slow/echo?id=s"))
        pushed, stalled = await push(writer, frame(2, b"s" * 64 * KiB) * 16, limit=256 * MiB, window=window)
        served = await probe(server.port, 5)
        grown = server.growth()
        vanish(writer, "rst")
        await asyncio.sleep(0.5)  # let the server drop the connection (it has no handler yet)
        held = server.status()["VmRSS"] - server.base["VmRSS"]
        return _result(server, rss=grown["rss"], held=held, pushed=pushed, stalled=stalled, served=served)


AMBIGUOUS_REQUESTS = {
    "two Content-Length": "Content-Length: 0\r\nContent-Length: 5\r\n",
    "Transfer-Encoding + Content-Length": "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
    "a body (Content-Length: 5)": "Content-Length: 5\r\n",
    "a body (chunked)": "Transfer-Encoding: chunked\r\n",
    "GET *": None,
    "target neither origin- nor absolute-form": None,
}


async def ambiguous_requests(tree: Tree, kind: str) -> Dict[str, Any]:
    """Upgrade requests a proxy might read differently; the status each one gets (and controls)."""
    async with wsfast_server(tree, kind) as server:
        port = server.port
        statuses: Dict[str, Optional[int]] = {}
        cases = dict(AMBIGUOUS_REQUESTS)
        cases["control: origin-form"] = ""
        cases["control: absolute-form"] = None
        cases["control: Content-Length: 0"] = "Content-Length: 0\r\n"
        for name, extra in cases.items():
            target = {"GET *": "*", "target neither origin- nor absolute-form": "127.0.0.1/echo",
                      "control: absolute-form": f"http://127.0.0.1:{port}/echo"}.get(name, "/echo")
            reader, writer = await open_tcp(port)
            writer.write(upgrade_request(port, target, extra or ""))
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
                statuses[name] = int(head.split()[1])
            except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                statuses[name] = None
            writer.transport.abort()
        return _result(server, statuses=statuses)


async def fast_reader_starves_others(tree: Tree, kind: str, probes: int = 10) -> Dict[str, Any]:
    """A handler streams to a client that reads as fast as it can; meanwhile, fresh clients
    connect and echo one message each (sequentially)."""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader = FastReader(server.port, "/stream?id=f")
        reader.start()
        try:
            if not await reader.wait_for(8 * MiB, 20):
                raise RuntimeError("the stream never started")
            before = reader.received
            loop = asyncio.get_running_loop()
            started = loop.time()
            rtts = [await probe(server.port, 10) for _ in range(probes)]
            elapsed = loop.time() - started
            rate = (reader.received - before) / elapsed
        finally:
            reader.stop()
        ok = [r for r in rtts if r is not None]
        return _result(server, served=max(ok) if len(ok) == probes else None, probe_rtts=rtts,
                       stream_rate=rate)


async def declared_max_frames(tree: Tree, kind: str, conns: int = 200, size: int = 16 * MiB
                              ) -> Dict[str, Any]:
    """``conns`` clients each declare a ``size`` frame (the size limit) and send 15 bytes of it."""
    async with wsfast_server(tree, kind, options=dict(STREAM_OPTIONS, max_message_size=size)) as server:
        writers = []
        try:
            for i in range(conns):
                _, writer = await open_ws(server.port, f"/echo?id=d{i}")
                writer.write(frame(2, b"x" * 15, length=size))
                writers.append(writer)
            served = await probe(server.port, 10)  # by now the server has read those 15 bytes
            grown = server.growth()
        finally:
            for writer in writers:
                writer.transport.abort()
        return _result(server, rss=grown["rss"], vm=grown["vm"], served=served)


async def out_of_memory(tree: Tree, kind: str, conns: int = 24, size: int = 16 * MiB,
                        limit: int = 192 * MiB) -> Dict[str, Any]:
    """The server's address space is capped (``limit`` above its size at start); ``conns``
    clients each send a ``size`` message at once (the handler answers with its size). Each must
    get its answer or, when the server cannot hold the message, 1011 on the wire (one log line
    each); the server serves on."""
    options = dict(STREAM_OPTIONS, max_message_size=64 * MiB)
    async with wsfast_server(tree, kind, options=options, rlimit_as=limit) as server:
        streams = [await open_ws(server.port, f"/size?id=o{i}") for i in range(conns)]
        message = frame(2, b"o" * size)

        async def one(reader: Reader, writer: Writer) -> Optional[int]:
            """1000 for the answer, the close code for a close frame, None for neither."""
            writer.write(message)
            with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
                async with asyncio_timeout(60):
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 1:
                        return 1000 if payload == str(size).encode() else None
                    if opcode == 8:
                        return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            return None

        outcomes = await asyncio.gather(*(one(r, w) for r, w in streams))
        for _, writer in streams:
            writer.transport.abort()
        served = await probe(server.port, 10)
        return _result(server, answered=outcomes.count(1000), failed_1011=outcomes.count(1011),
                       neither=conns - outcomes.count(1000) - outcomes.count(1011), served=served,
                       tracebacks=sum("Traceback" in line for line in server.logs))


async def fragmented_message(tree: Tree, kind: str, size: int = 1 * MiB, piece: int = 2) -> Dict[str, Any]:
    """One ``size`` message in ``piece``-byte fragments to the echo handler; echoed back intact?"""
    async with wsfast_server(tree, kind, options=STREAM_OPTIONS) as server:
        reader, writer = await open_ws(server.port, "/echo?id=g")
        data = os.urandom(size)
        wire = bytearray()
        for i in range(0, size, piece):
            last = i + piece >= size
            wire += frame(0 if i else 2, data[i:i + piece], fin=last)
        writer.write(bytes(wire))
        del wire
        echoed = None
        with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            async with asyncio_timeout(60):
                _, opcode, echoed = await read_frame(reader)
        grown = server.growth()
        writer.transport.abort()
        return _result(server, rss=grown["rss"], intact=echoed == data, size=size)


# ---------------------------------------------------------------- the cases: client side

CLIENT_STREAM = {"ping_interval": None}


async def client_under_vanishing_server(tree: Tree, kind: str, how: str) -> Dict[str, Any]:
    """A client streams 1 KiB messages; the server vanishes (RST or FIN) after 256 KiB."""
    gone = asyncio.get_running_loop().create_future()

    async def vanishing(reader: Reader, writer: Writer, path: str) -> None:
        await drain_until(reader, 256 * KiB, 10)
        gone.set_result(time.monotonic())
        vanish(writer, how)

    async with raw_server(vanishing) as url, wsfast_clients(tree, kind, [{"url": url, "action": "/stream",
                                            "options": CLIENT_STREAM}]) as client:
        closed = await client.closed("0", 10)
        at = gone.result() if gone.done() else None
        busy = await cpu_share(client, 0.5)
        return _result(client, closed=None if closed is None or at is None else closed["t"] - at,
                       code=None if closed is None else closed["code"], cpu_after=busy)


async def client_to_never_reading_server(tree: Tree, kind: str, window: float = 2.0) -> Dict[str, Any]:
    """A client yields between 1 KiB sends; the server never reads."""
    stop = asyncio.Event()

    async def sleeper(reader: Reader, writer: Writer, path: str) -> None:
        await stop.wait()
        vanish(writer, "rst")

    async with raw_server(sleeper, rcvbuf=64 * KiB) as url:
        streamer = {"url": url, "action": "/stream_yield", "options": CLIENT_STREAM}
        async with wsfast_clients(tree, kind, [streamer]) as client:
            await client.wait(lambda e: e["ev"] == "open", 10)
            await asyncio.sleep(window)
            grown = client.growth()
            stop.set()
            closed = await client.closed("0", 5)
            return _result(client, rss=grown["rss"], moved=None if closed is None else closed["moved"])


async def server_ping_flood(tree: Tree, kind: str, window: float = 4.0) -> Dict[str, Any]:
    """The server floods the client with pings and never reads its pongs."""
    result: Dict[str, Any] = {}
    done = asyncio.Event()

    async def flooder(reader: Reader, writer: Writer, path: str) -> None:
        pings = frame(9, b"p" * 125, masked=False) * 512
        result["pushed"], result["stalled"] = await push(writer, pings, limit=1 << 30, window=window)
        done.set()
        await asyncio.sleep(30)

    async with raw_server(flooder, rcvbuf=64 * KiB) as url:
        receiver = {"url": url, "action": "/recv", "options": CLIENT_STREAM}
        async with wsfast_clients(tree, kind, [receiver]) as client:
            await asyncio.wait_for(done.wait(), window + 30)
            grown = client.growth()
            return _result(client, rss=grown["rss"], pings=result["pushed"] // 127, stalled=result["stalled"])


async def client_keepalive_while_reads_held(tree: Tree, kind: str, drain: bool, size: int = 4 * MiB
                                            ) -> Dict[str, Any]:
    """The client sends one ``size`` message with keepalive on; the server drains it slowly
    (answering the client's pings once it sees them) or reads nothing."""
    seen: Dict[str, Any] = {"received": 0}

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        if not drain:
            await asyncio.sleep(30)
            return
        while True:
            _, opcode, payload = await read_frame_slowly(reader)
            if opcode == 9:
                writer.write(frame(10, payload, masked=False))
            elif opcode == 2:
                seen["received"] += len(payload)
                writer.write(frame(8, struct.pack("!H", 1000), masked=False))
            elif opcode == 8:
                return

    async with raw_server(server, rcvbuf=64 * KiB, limit=SLOW_READ) as url:
        options = dict(KEEPALIVE, max_message_size=2 * size)
        async with wsfast_clients(tree, kind, [{"url": url, "action": f"/big?n={size}", "options": options}],
                                  sndbuf=SMALL_SNDBUF) as client:
            opened = await client.wait(lambda e: e["ev"] == "open", 10)
            closed = await client.closed("0", 30)
            return _result(client, received=seen["received"], code=None if closed is None else closed["code"],
                           closed=None if closed is None or opened is None else closed["t"] - opened["t"])


async def client_application_behind(tree: Tree, kind: str, busy: float = 2.0, count: int = 40
                                    ) -> Dict[str, Any]:
    """Keepalive on in the client; the server sends ``count`` messages and answers every ping,
    but the client's application is busy for ``busy`` seconds before it reads: it stays open."""
    seen: Dict[str, Any] = {"echoed": []}

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        writer.write(b"".join(frame(1, f"message {i}".encode(), masked=False) for i in range(count)))
        while len(seen["echoed"]) < count:
            _, opcode, payload = await read_frame(reader)
            if opcode == 9:
                writer.write(frame(10, payload, masked=False))
            elif opcode == 1:
                seen["echoed"].append(payload.decode())
            elif opcode == 8:
                return
        writer.write(frame(8, struct.pack("!H", 1000), masked=False))
        await asyncio.sleep(30)

    async with raw_server(server) as url:
        sleepy = {"url": url, "action": f"/sleepy?s={busy}", "options": KEEPALIVE}
        async with wsfast_clients(tree, kind, [sleepy]) as client:
            closed = await client.closed("0", busy + 10)
            echoed = seen["echoed"]
            return _result(client, echoed=len(echoed), in_order=numbered(echoed),
                           code=None if closed is None else closed["code"])


async def client_fairness(tree: Tree, kind: str, rounds: int = 50) -> Dict[str, Any]:
    """In one client process, a connection streams to a server that reads as fast as it can;
    another one exchanges ``rounds`` small messages with an echo server meanwhile."""

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        if path.startswith("/stream"):
            while await reader.read(4 * MiB):
                pass
            return
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == 8:
                return
            writer.write(frame(opcode, payload, masked=False))

    async with raw_server(server) as url:
        clients = [{"url": url + "/stream", "action": "/stream", "options": CLIENT_STREAM},
                   {"url": url + "/echo", "action": f"/pingpong?n={rounds}&after=0.5",
                    "options": CLIENT_STREAM}]
        async with wsfast_clients(tree, kind, clients) as client:
            done = await client.wait(lambda e: e["ev"] == "pingpong", 30)
            return _result(client, served=None if done is None else max(done["rtts"]),
                           rounds=0 if done is None else len(done["rtts"]))


async def client_declared_max_frames(tree: Tree, kind: str, conns: int = 50, size: int = 16 * MiB
                                     ) -> Dict[str, Any]:
    """``conns`` clients (one process) each get a ``size`` frame header and 15 bytes of it."""
    sent = []

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        writer.write(frame(2, b"x" * 15, masked=False, length=size))
        sent.append(1)
        await asyncio.sleep(60)

    async with raw_server(server) as url:
        options = dict(CLIENT_STREAM, max_message_size=size)
        async with wsfast_clients(tree, kind, [{"url": url, "action": "/recv", "count": conns,
                                                "options": options}]) as client:
            await client.wait(lambda e: e["ev"] == "opened-all", 30)
            while len(sent) < conns:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the 15 bytes reach the client's parser
            grown = client.growth()
            return _result(client, rss=grown["rss"], vm=grown["vm"])


async def client_fragmented_message(tree: Tree, kind: str, size: int = 1 * MiB, piece: int = 2
                                    ) -> Dict[str, Any]:
    """The server sends one ``size`` message in ``piece``-byte fragments."""
    data = os.urandom(size)

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        wire = bytearray()
        for i in range(0, size, piece):
            wire += frame(0 if i else 2, data[i:i + piece], fin=i + piece >= size, masked=False)
        writer.write(bytes(wire))
        await asyncio.sleep(60)

    async with raw_server(server) as url, wsfast_clients(tree, kind, [{"url": url, "action": "/recv",
                                            "options": CLIENT_STREAM}]) as client:
        got = await client.wait(lambda e: e["ev"] == "message", 60)
        grown = client.growth()
        return _result(client, rss=grown["rss"],
                       intact=got is not None and got["sha256"] == hashlib.sha256(data).hexdigest())


async def client_keepalive_wrong_pongs(tree: Tree, kind: str) -> Dict[str, Any]:
    """Keepalive on in the client; the server reads everything but answers each ping with a pong
    carrying another payload (plus unsolicited pongs): not an answer, so 1011."""
    seen: Dict[str, Any] = {"wire": None}

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == 9:
                wrong = frame(10, payload[::-1] + b"!", masked=False)
                writer.write(wrong + frame(10, b"unsolicited", masked=False))
            elif opcode == 8:
                seen["wire"] = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return

    async with raw_server(server) as url, wsfast_clients(tree, kind, [{"url": url, "action": "/recv",
                                            "options": KEEPALIVE}]) as client:
        opened = await client.wait(lambda e: e["ev"] == "open", 10)
        closed = await client.closed("0", 10)
        for _ in range(100):  # the close frame reaches the hand-written server
            if seen["wire"] is not None:
                break
            await asyncio.sleep(0.02)
        return _result(client, wire=seen["wire"], code=None if closed is None else closed["code"],
                       closed=None if closed is None or opened is None else closed["t"] - opened["t"])


async def client_keepalive_flooder(tree: Tree, kind: str) -> Dict[str, Any]:
    """Keepalive on in the client; the server reads nothing the client sends and floods pings
    and unsolicited pongs: the pongs answer nothing, so the client fails with 1011 after
    ping_interval + ping_timeout although they keep coming."""
    result: Dict[str, Any] = {}

    async def flooder(reader: Reader, writer: Writer, path: str) -> None:
        flood = (frame(9, b"p" * 125, masked=False) + frame(10, b"unsolicited", masked=False)) * 256
        result["pushed"], result["stalled"] = await push(writer, flood, limit=1 << 30, window=30, stall=30)

    flooded = [{"url": "", "action": "/recv", "options": KEEPALIVE}]
    async with raw_server(flooder, rcvbuf=64 * KiB) as url, \
            wsfast_clients(tree, kind, [dict(flooded[0], url=url)]) as client:
        opened = await client.wait(lambda e: e["ev"] == "open", 10)
        closed = await client.closed("0", 10)
        grown = client.growth()
        return _result(client, rss=grown["rss"], code=None if closed is None else closed["code"],
                       closed=None if closed is None or opened is None else closed["t"] - opened["t"])


async def client_keepalive_right_pongs(tree: Tree, kind: str, watch: float = 2.0) -> Dict[str, Any]:
    """The control: keepalive on in the client, the server answers every ping with its payload
    for ``watch`` seconds, then closes normally; the client stays open until then."""
    seen: Dict[str, Any] = {"pings": 0}

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio_timeout(watch):
                while True:
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 9:
                        seen["pings"] += 1
                        writer.write(frame(10, payload, masked=False))
                    elif opcode == 8:
                        return
        writer.write(frame(8, struct.pack("!H", 1000), masked=False))
        await close_code_on_wire(reader, 5)

    async with raw_server(server) as url, wsfast_clients(tree, kind, [{"url": url, "action": "/recv",
                                            "options": KEEPALIVE}]) as client:
        closed = await client.closed("0", watch + 10)
        return _result(client, pings=seen["pings"], code=None if closed is None else closed["code"])


async def client_out_of_memory(tree: Tree, kind: str, conns: int = 24, size: int = 16 * MiB,
                               limit: int = 192 * MiB) -> Dict[str, Any]:
    """The client process's address space is capped (``limit`` above its size at start);
    ``conns`` of its connections each receive a ``size`` message at once and answer with its
    size. Each must answer or, when the client cannot hold the message, send 1011 (one log
    line each, no traceback)."""
    outcomes: List[Optional[int]] = []
    message = frame(2, b"o" * size, masked=False)

    async def server(reader: Reader, writer: Writer, path: str) -> None:
        outcome = None
        try:
            writer.write(message)
            with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
                async with asyncio_timeout(60):
                    _, opcode, payload = await read_frame(reader)
                    if opcode == 1:
                        outcome = 1000 if payload == str(size).encode() else None
                    elif opcode == 8:
                        outcome = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        finally:
            outcomes.append(outcome)
        await asyncio.sleep(60)

    async with raw_server(server) as url:
        options = dict(CLIENT_STREAM, max_message_size=64 * MiB)
        async with wsfast_clients(tree, kind, [{"url": url, "action": "/size", "count": conns,
                                                "options": options}], rlimit_as=limit) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while len(outcomes) < conns and loop.time() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the log lines of the last failures reach us
            return _result(client, answered=outcomes.count(1000), failed_1011=outcomes.count(1011),
                           neither=conns - outcomes.count(1000) - outcomes.count(1011),
                           tracebacks=sum("Traceback" in line for line in client.logs))
