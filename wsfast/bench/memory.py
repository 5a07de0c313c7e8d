"""Server memory per idle connection, and where it goes.

Each echo server runs in its own process (``_echo_servers``); this process is
the client. After a few warm-up connections (lazy imports and caches are not
per-connection costs), the server's resident set is read, then ``CONNECTIONS``
connections are opened, each completing the opening handshake (offering no
extension, or offering permessage-deflate) and echoing one 64-byte message,
and left idle; the growth of the server's resident set (``/proc/<pid>/status``
VmRSS) divided by the number of connections is the figure. Kernel socket
buffers are not in it (they are not the process's memory).

Then, for wsfast, the same is done once more against a server whose
tracemalloc is on, and the allocations that the connections left behind are
listed by source line (per connection): the notes under the table say where
every kilobyte goes, and how much of the resident set Python's allocator
does not see (the C heap, malloc's own overhead and fragmentation).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any, Dict, Iterator, List, Optional, Tuple

from wsfast.bench import Case, peer
from wsfast.bench._echo_servers import wsfast_deflates
from wsfast.bench._raw_client import client_frames, open_socket, read_frame
from wsfast.bench.echo import _Server

TITLE = "Echo servers: resident memory per idle connection (handshake + one message each)"
ORDER = 60

SERVERS = ["asyncio", "wsfast", "picows", "websockets", "aiohttp"]
CONNECTIONS = 3000
QUICK_CONNECTIONS = 1000
WARM_UP = 20
TOP_LINES = 8

RATIOS = [
    ("wsfast", "asyncio", "wsfast vs floor"),
    ("wsfast", "picows", "wsfast vs picows"),
    ("wsfast", "websockets", "vs websockets"),
    ("wsfast", "aiohttp", "vs aiohttp"),
]
TARGETS = {("wsfast", "websockets"): 13.3 / 6}  # <= 6 KiB, where websockets needs ~13.3 KiB

_notes: List[str] = []
_last: Dict[Tuple[str, bool], float] = {}  # (server, deflate) -> RSS per connection, last measured


def notes() -> List[str]:
    return list(_notes)


def _connect(kind: str, port: int, deflate: bool) -> socket.socket:
    """One connection past the handshake and one echoed 64-byte message."""
    websocket = kind != "asyncio"
    sock = open_socket(port, websocket=websocket, deflate=deflate)
    frame = client_frames(b"m" * 64, 1)
    sock.sendall(frame)
    if websocket:
        read_frame(sock)
    else:
        got = b""
        while len(got) < len(frame):
            chunk = sock.recv(len(frame) - len(got))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            got += chunk
    return sock


def _grow(server: _Server, kind: str, count: int, deflate: bool, traced: bool = False) -> Dict[str, Any]:
    """Open ``count`` idle connections; the server's stats before and with them (then close)."""
    for sock in [_connect(kind, server.port, deflate) for _ in range(WARM_UP)]:
        sock.close()
    before = server.stats("mark" if traced else "stats")
    socks: List[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(_connect(kind, server.port, deflate))
        after = server.stats("trace" if traced else "stats")
    finally:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
    return {"before": before, "after": after}


def _probe(kind: str, count: int, deflate: bool) -> Any:
    def probe() -> Dict[str, float]:
        server = _Server(kind, deflate=deflate)
        try:
            found = _grow(server, kind, count, deflate)
        finally:
            server.stop()
        value = (found["after"]["rss"] - found["before"]["rss"]) / count
        _last[(kind, deflate)] = value
        return {"rss": value}

    return probe


def _account(count: int, deflate: bool, rss_per_conn: Optional[float]) -> None:
    """The notes: where wsfast's bytes per connection go (tracemalloc by line, and the rest)."""
    server = _Server("wsfast", deflate=deflate, env={"WSFAST_BENCH_TRACEMALLOC": "1"})
    try:
        found = _grow(server, "wsfast", count, deflate, traced=True)
    finally:
        server.stop()
    traced = found["after"].get("traced", [])
    total = sum(item["bytes"] for item in traced) / count
    label = "deflate offered" if deflate else "no extension"
    _notes.append(f"wsfast, {label}: tracemalloc sees {total / 1024:.2f} KiB per connection "
                  f"(by line, per connection):")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for item in traced[:TOP_LINES]:
        where = item["where"].replace(root + os.sep, "")
        where = where.split("site-packages" + os.sep)[-1].split("lib" + os.sep + "python")[-1]
        _notes.append(f"    {item['bytes'] / count:8.0f} B  {item['count'] / count:5.2f} blocks  {where}")
    rest = sum(item["bytes"] for item in traced[TOP_LINES:]) / count
    _notes.append(f"    {rest:8.0f} B  elsewhere")
    if rss_per_conn is not None:
        _notes.append(f"    resident set: {rss_per_conn / 1024:.2f} KiB per connection (untraced run); "
                      f"the {max(rss_per_conn - total, 0) / 1024:.2f} KiB not traced is C heap "
                      "(the compiled parser's buffers), malloc overhead and fragmentation")


def cases(quick: bool) -> Iterator[Case]:
    _notes.clear()
    _last.clear()
    count = QUICK_CONNECTIONS if quick else CONNECTIONS
    no_deflate = {"asyncio", "picows"} | (set() if wsfast_deflates() else {"wsfast"})
    for deflate in (False, True):
        funcs: Dict[str, Any] = {}
        for kind in SERVERS:
            module = {"asyncio": "asyncio", "wsfast": "wsfast.asyncio"}.get(kind, kind)
            if peer(module, label=kind) is None or (deflate and kind in no_deflate):
                funcs[kind] = None
                continue
            funcs[kind] = _probe(kind, count, deflate)
        name = f"{count:,} connections, {'deflate offered' if deflate else 'no extension'}"
        yield Case(name, 0, funcs, TARGETS if not deflate else {}, probe=True,
                   metrics=[("rss", "RSS/conn", "B")], repeats=1)
        if funcs.get("wsfast") is not None and not quick:
            _account(count, deflate, _last.get(("wsfast", deflate)))
    _notes.append("deflate offered: " + ("wsfast negotiates it; " if "wsfast" not in no_deflate
                                          else "this wsfast has no permessage-deflate yet; ")
                  + "picows has none; the floor speaks no WebSocket")

