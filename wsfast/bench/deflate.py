"""permessage-deflate: compressed echo (server CPU per message and bytes on the wire), and
memory per idle connection with compression agreed, for several settings.

Compressed echo: each server (wsfast, websockets, aiohttp) runs in its own
process (``_echo_servers``); the client is a raw socket in this process that
makes Chromium's offer (``permessage-deflate; client_max_window_bits``), sends
JSON-like text messages it compressed beforehand (zlib level 6, context kept,
the window the server agreed to) in 256 KiB writes, and only counts the
echoes' frames: it costs the server nothing. The figure is the server
process's CPU time (user + sys) per echoed message, the median of round-robin
repeats, and the echo's bytes on the wire. At 64 B and 4 KiB each server runs
its defaults; at 64 KiB zlib itself dominates, so wsfast is pinned to each
peer's settings (websockets: window 12, memLevel 5, level 6; aiohttp:
window 15, memLevel 8, level 1) and compared with that peer. Where the isal
package is installed wsfast compresses level-1 messages with ISA-L; the
``wsfast-zlib`` column is the same server on zlib alone (``WSFAST_NO_ISAL=1``).

Memory: the growth of the server's resident set per connection, each
connection past the handshake (compression agreed) and one compressed message
echoed, then idle, for wsfast and websockets with the same settings; also
after the handshake alone, and (wsfast) after two keepalive intervals with
nothing sent; each also after ``malloc_trim(0)`` in the server (glibc keeps
freed chunks until they are reused or trimmed: the trimmed figure is what the
connections still hold).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import random
import re
import socket
import threading
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from wsfast._frames_py import encode_frame
from wsfast.bench import Case, peer
from wsfast.bench._raw_client import WRITE_SIZE, open_socket, read_frame
from wsfast.bench.echo import _Server

TITLE = "permessage-deflate: compressed echo, server CPU (user+sys) per message; memory per idle connection"
ORDER = 58

# "wsfast" as installed (level-1 messages on ISA-L when the isal package is there); "wsfast-zlib" the
# same server with WSFAST_NO_ISAL=1 (only when isal is installed: otherwise it is the same server)
SERVERS = ["wsfast", "wsfast-zlib", "websockets", "aiohttp"]
RATIOS = [("wsfast", "websockets", "vs websockets"), ("wsfast", "aiohttp", "vs aiohttp"),
          ("wsfast-zlib", "aiohttp", "zlib-only vs aiohttp")]

# (row, message size, messages per sample, quick, servers' settings: None = each its defaults)
WEBSOCKETS_SETTINGS = {"server_max_window_bits": 12, "client_max_window_bits": 12, "mem_level": 5, "level": 6}
AIOHTTP_SETTINGS = {"server_max_window_bits": 15, "client_max_window_bits": 15, "mem_level": 8, "level": 1}
ECHO_ROWS: List[Tuple[str, int, int, int, Optional[Dict[str, Any]], Tuple[str, ...]]] = [
    ("64 B JSON, defaults", 64, 20_000, 4_000, None, ("wsfast", "wsfast-zlib", "websockets", "aiohttp")),
    ("4 KiB JSON, defaults", 4096, 3_000, 600, None, ("wsfast", "wsfast-zlib", "websockets", "aiohttp")),
    ("64 KiB JSON, as websockets (w12 m5 L6)", 65536, 200, 40, WEBSOCKETS_SETTINGS, ("wsfast", "websockets")),
    ("64 KiB JSON, as aiohttp (w15 m8 L1)", 65536, 200, 40, AIOHTTP_SETTINGS,
     ("wsfast", "wsfast-zlib", "aiohttp")),
]
# <= 1/1.5 of the best of websockets and aiohttp at 64 B and 4 KiB (server CPU per message)
ECHO_TARGETS = {("wsfast", "websockets"): 1.5, ("wsfast", "aiohttp"): 1.5}

# memory rows: (row, settings for both servers (None = each its defaults), the messages each connection
# echoes: "json" a ~57 B JSON message, "none" nothing (the handshake only), "json+idle" the message and
# then two keepalive intervals of IDLE_PING_INTERVAL with nothing sent (wsfast only: its compressor,
# idle for a whole interval, is freed at the ping))
MEMORY_ROWS: List[Tuple[str, Optional[Dict[str, Any]], str]] = [
    ("defaults", None, "json"),
    ("defaults, handshake only (nothing compressed yet)", None, "none"),
    ("defaults, then idle for two keepalive pings", None, "json+idle"),
    ("w12 m5 L6 (websockets' defaults)", WEBSOCKETS_SETTINGS, "json"),
    ("w15 m8 (zlib's defaults)",
     {"server_max_window_bits": 15, "client_max_window_bits": 15, "mem_level": 8}, "json"),
    ("w12 m4, no context takeover",
     {"server_max_window_bits": 12, "client_max_window_bits": 12, "mem_level": 4,
      "server_no_context_takeover": True, "client_no_context_takeover": True}, "json"),
]
IDLE_PING_INTERVAL = 0.5
CONNECTIONS = 1000
QUICK_CONNECTIONS = 300

_notes: List[str] = []


def notes() -> List[str]:
    return list(_notes)


_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
          "kilo", "lima", "order", "trade", "price", "update", "user", "room", "message", "status")


def _event(rng: random.Random, i: int) -> Dict[str, Any]:
    kind = rng.choice(("tick", "chat", "presence"))
    if kind == "tick":
        return {"t": "tick", "s": rng.choice(("BTC-USD", "ETH-USD", "SOL-USD")),
                "p": round(rng.uniform(10, 70000), 2), "q": round(rng.random(), 4), "n": i}
    if kind == "chat":
        return {"t": "chat", "u": f"user{rng.randrange(1000)}",
                "m": " ".join(rng.choice(_WORDS) for _ in range(4)), "n": i}
    return {"t": "presence", "u": f"user{rng.randrange(1000)}", "on": rng.random() < 0.5, "n": i}


def json_messages(size: int, count: int, seed: int = 0) -> List[bytes]:
    """``count`` JSON-like text messages of about ``size`` bytes (one event, or a list of events)."""
    rng = random.Random(seed)
    out = []
    n = 0
    for _ in range(count):
        if size <= 128:
            text = json.dumps(_event(rng, n), separators=(",", ":"))
            n += 1
        else:
            batch: List[Dict[str, Any]] = []
            while len(json.dumps(batch)) < size:
                batch.append(_event(rng, n))
                n += 1
            text = json.dumps(batch)
        out.append(text.encode())
    return out


def _server(kind: str, settings: Optional[Dict[str, Any]], ping_interval: Optional[float] = None) -> _Server:
    env = {"WSFAST_BENCH_DEFLATE": json.dumps(settings)} if settings else {}
    if ping_interval is not None:
        env["WSFAST_BENCH_PING_INTERVAL"] = str(ping_interval)
    if kind == "wsfast-zlib":
        env["WSFAST_NO_ISAL"] = "1"
    return _Server("wsfast" if kind == "wsfast-zlib" else kind, deflate=True, env=env)


def _available(kind: str) -> bool:
    if kind == "wsfast":
        return True
    if kind == "wsfast-zlib":
        from wsfast._deflate_py import ISAL_VERSION

        return ISAL_VERSION is not None
    return peer(kind, label=kind) is not None


class _Peer:
    """One echo server process with compression on, and one raw client connection to it."""

    def __init__(self, kind: str, settings: Optional[Dict[str, Any]]) -> None:
        self.kind = kind
        self.server = _server(kind, settings)
        head: List[bytes] = []
        self.sock = open_socket(self.server.port, deflate=True, response=head)
        header = re.search(rb"(?im)^sec-websocket-extensions:(.*)$", head[0])
        if header is None or b"permessage-deflate" not in header.group(1):
            raise RuntimeError(f"{kind} did not agree to permessage-deflate")
        bits = re.search(rb"client_max_window_bits=(\d+)", header.group(1))
        self.window = int(bits.group(1)) if bits else 15
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -self.window)

    def frames(self, messages: List[bytes]) -> bytes:
        """The next messages, compressed in turn (context kept), as masked text frames."""
        out = []
        for message in messages:
            packed = self.compressor.compress(message) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            out.append(encode_frame(1, packed[:-4], mask=True, rsv1=True))
        return b"".join(out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.server.stop()


def _send(sock: socket.socket, data: bytes, errors: List[BaseException]) -> None:
    view = memoryview(data)
    try:
        for i in range(0, len(view), WRITE_SIZE):
            sock.sendall(view[i:i + WRITE_SIZE])
    except BaseException as exc:
        errors.append(exc)


def _echo(sock: socket.socket, stream: bytes, count: int) -> int:
    """Write ``stream`` (a thread) while counting ``count`` echoed frames; the bytes they took."""
    errors: List[BaseException] = []
    writer = threading.Thread(target=_send, args=(sock, stream, errors), daemon=True)
    writer.start()
    buf = bytearray()
    frames = got = pos = 0
    try:
        while frames < count:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"the server closed the connection after {frames} echoes")
            buf += chunk
            got += len(chunk)
            while True:  # whole frames in buf[pos:]
                if len(buf) - pos < 2:
                    break
                n = buf[pos + 1] & 0x7F
                head = 2 + (2 if n == 126 else 8 if n == 127 else 0)
                if len(buf) - pos < head:
                    break
                if n >= 126:
                    n = int.from_bytes(buf[pos + 2:pos + head], "big")
                if len(buf) - pos < head + n:
                    break
                pos += head + n
                frames += 1
            del buf[:pos]
            pos = 0
    finally:
        writer.join()
    if errors:
        raise errors[0]
    return got


def _check(target: _Peer, messages: List[bytes]) -> None:
    """A few echoes inflated and compared with what was sent (before anything is timed)."""
    target.sock.sendall(target.frames(messages))
    inflater = zlib.decompressobj(wbits=-15)
    for message in messages:
        b0, payload = read_frame(target.sock)
        data = inflater.decompress(payload + b"\x00\x00\xff\xff") if b0 & 0x40 else payload
        if data != message:
            raise AssertionError(f"{target.kind}: the echo differs from what was sent")
        if not b0 & 0x40 and len(message) > 64:
            raise AssertionError(f"{target.kind}: the echo was not compressed")


def _echo_probe(target: _Peer, messages: List[bytes]) -> Callable[[], Dict[str, float]]:
    def probe() -> Dict[str, float]:
        stream = target.frames(messages)  # compressed before the clock starts
        before = target.server.stats()
        t0 = time.perf_counter_ns()
        wire = _echo(target.sock, stream, len(messages))
        wall = time.perf_counter_ns() - t0
        after = target.server.stats()
        cpu = (after["user"] - before["user"]) + (after["sys"] - before["sys"])
        return {"cpu": cpu * 1e9 / len(messages), "wire": wire / len(messages), "wall": wall / len(messages)}

    return probe


def _memory_probe(kind: str, settings: Optional[Dict[str, Any]], count: int, messages: str
                  ) -> Callable[[], Dict[str, float]]:
    message = json_messages(64, 1)[0]
    idle = messages == "json+idle"

    def connect(port: int) -> Tuple[socket.socket, int]:
        head: List[bytes] = []
        sock = open_socket(port, deflate=True, response=head)
        if messages == "none":
            return sock, 0x40
        bits = re.search(rb"client_max_window_bits=(\d+)", head[0])
        c = zlib.compressobj(6, zlib.DEFLATED, -(int(bits.group(1)) if bits else 15))
        sock.sendall(encode_frame(1, (c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH))[:-4], mask=True,
                                  rsv1=True))
        b0, _ = read_frame(sock)
        return sock, b0

    def probe() -> Dict[str, float]:
        server = _server(kind, settings, IDLE_PING_INTERVAL if idle else None)
        socks: List[socket.socket] = []
        try:
            for _ in range(20):  # warm-up: lazy imports and caches are not per connection
                connect(server.port)[0].close()
            before = server.stats("trim")
            for _ in range(count):
                sock, b0 = connect(server.port)
                socks.append(sock)
                if not b0 & 0x40:
                    raise AssertionError(f"{kind}: the echo was not compressed")
            if idle:  # the last connection's message, then two whole ping intervals
                time.sleep(3 * IDLE_PING_INTERVAL)
            after = server.stats()
            trimmed = server.stats("trim")
        finally:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.close()
            server.stop()
        return {"rss": (after["rss"] - before["rss"]) / count,
                "rss_trim": (trimmed["rss"] - before["rss"]) / count}

    return probe


def cases(quick: bool) -> Iterator[Case]:
    _notes.clear()
    if peer("wsfast.asyncio", label="wsfast") is None:
        return
    targets: Dict[Tuple[str, str], _Peer] = {}

    def cleanup() -> None:
        for target in targets.values():
            target.close()
        targets.clear()

    atexit.register(cleanup)
    try:
        for row, size, count, quick_count, settings, servers in ECHO_ROWS:
            n = quick_count if quick else count
            messages = json_messages(size, n, seed=size)
            raw = sum(map(len, messages)) / n
            funcs: Dict[str, Any] = {}
            for kind in SERVERS:
                if kind not in servers or not _available(kind):
                    funcs[kind] = None
                    continue
                key = (kind, json.dumps(settings))
                if key not in targets:
                    targets[key] = _Peer(kind, settings)
                    _check(targets[key], json_messages(size, 4, seed=1))
                funcs[kind] = _echo_probe(targets[key], messages)
            yield Case(f"{row} (~{raw:.0f} B)", size, funcs, ECHO_TARGETS if settings is None else {},
                       probe=True, metrics=[("cpu", "server CPU/msg", "ns"), ("wire", "echo bytes/msg", "B"),
                                            ("wall", "wall/msg", "ns")], msg_size=size)
        cleanup()
        conns = QUICK_CONNECTIONS if quick else CONNECTIONS
        for row, settings, traffic in MEMORY_ROWS:
            kinds = ("wsfast", "wsfast-zlib") if traffic == "json+idle" else ("wsfast", "wsfast-zlib",
                                                                              "websockets")
            funcs = {kind: (_memory_probe(kind, settings, conns, traffic)
                            if kind in kinds and _available(kind) else None)
                     for kind in SERVERS}
            yield Case(f"memory per idle connection, {row}", 0, funcs, {}, probe=True,
                       metrics=[("rss", "RSS/conn", "B"), ("rss_trim", "RSS/conn after malloc_trim", "B")],
                       repeats=1)
    finally:
        cleanup()
    from wsfast._deflate_py import ISAL_VERSION

    _notes.append("wsfast compresses level-1 messages with " + (
        f"ISA-L (isal {ISAL_VERSION}); wsfast-zlib is the same server with WSFAST_NO_ISAL=1"
        if ISAL_VERSION else "zlib (the isal package is not installed: no wsfast-zlib column)"))
    _notes.append("the client offers permessage-deflate; client_max_window_bits (Chromium's offer); "
                  "wsfast's defaults: window 12 (asked of the client too), memLevel 4, level 1 "
                  "(see docs/compression.md); websockets': 12/12, memLevel 5, level 6; aiohttp's: 15, "
                  "memLevel 8, level 1")
