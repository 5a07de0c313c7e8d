"""Drop-in speedups (wsfast.patch): each library patched vs the same library unpatched.

In-process rows time the library's own receive path on the same bytes, the
patch switched on and off between calls (a websockets or wsproto protocol
keeps the parser it was created with, so each call creates its own):

- websockets: sans-I/O ``Protocol.receive_data`` + ``events_received`` on
  client frames (masked) in 64 KiB reads;
- wsproto: ``FrameProtocol.receive_bytes`` + ``received_frames``, the same bytes;
- websocket-client: ``WebSocket.recv()`` of one 1 MiB non-ASCII text message
  (unmasked, as a server sends it) read 16 KiB at a time, as from its socket;
- tornado: ``tornado.websocket._websocket_mask`` itself (tornado's own C
  speedup unpatched).

Echo rows run each library's echo server in its own process, patched or not
(``WSFAST_BENCH_PATCH``), against a picows client with 32 messages in flight,
and show the server's CPU time (user + sys) per echoed message, the median of
the repeats taken round-robin; every echo's size is checked, one batch's
bytes before timing. In-process rows are timed with this process's CPU time
(``CLOCK = "cpu"``). The drivers are shared with ``benchmarks/bench_patch.py``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
from typing import Any, Callable, Dict, Iterator, List, Tuple

from wsfast.bench import Case, peer

TITLE = "Drop-in patches (wsfast.patch): patched vs unpatched, same library (CPU time)"
ORDER = 60
CLOCK = "cpu"  # this process's CPU time: on a loaded machine, wall time measures the load

READ_SIZE = 65536
RATIOS = [("patched", "unpatched", "speed-up")]
METRICS = [("cpu", "server CPU/msg", "ns"), ("wall", "wall/msg", "ns")]


# in-process rows with a promise: row -> the patched/unpatched speed-up it must reach
WEBSOCKETS_TEXT = "websockets sans-I/O, 10,000 x 16 B text"
WEBSOCKETS_BINARY = "websockets sans-I/O, 16 x 1 MiB binary"
WSPROTO_TEXT = "wsproto FrameProtocol, 10,000 x 16 B text"
WEBSOCKET_CLIENT_TEXT = "websocket-client recv(), 1 MiB non-ASCII text"
SPEEDUPS = {WEBSOCKETS_TEXT: 5.0, WEBSOCKETS_BINARY: 1.5, WSPROTO_TEXT: 10.0, WEBSOCKET_CLIENT_TEXT: 3.0}


def targets(row: str) -> Dict[Tuple[str, str], float]:
    """A row's promise: the patched library at least SPEEDUPS[row] times faster than unpatched."""
    return {("patched", "unpatched"): SPEEDUPS[row]} if row in SPEEDUPS else {}


def small_text() -> Tuple[List[bytes], int]:
    """(the reads, the message count) of 10,000 masked 16 B text messages."""
    return _masked(1, b"0123456789abcdef", 10_000), 10_000


def big_binary() -> Tuple[List[bytes], int]:
    """(the reads, the message count) of 16 masked 1 MiB binary messages."""
    return _masked(2, os.urandom(1 << 20), 16), 16


def _masked(op: int, payload: bytes, count: int) -> List[bytes]:
    """`count` client frames (masked, fresh key each) in READ_SIZE reads."""
    from wsfast._frames_py import encode_frame

    wire = b"".join(encode_frame(op, payload, mask=True) for _ in range(count))
    return [wire[i:i + READ_SIZE] for i in range(0, len(wire), READ_SIZE)]


def _switch(library: str, on: bool) -> None:
    import wsfast.patch

    if on:
        if getattr(wsfast.patch, library)() is None:
            raise RuntimeError(f"wsfast.patch.{library}() was refused")
    else:
        wsfast.patch.unpatch(library)


# -- in-process drivers: (library, patched?) -> callable ----------------------------------------------

def websockets_driver(chunks: List[bytes], patched: bool, max_size: Any = 2**20) -> Callable[[], int]:
    from websockets.protocol import Protocol, Side

    def run() -> int:
        _switch("websockets", patched)
        protocol = Protocol(Side.SERVER, max_size=max_size)
        n = 0
        for chunk in chunks:
            protocol.receive_data(chunk)
            n += len(protocol.events_received())
        return n

    return run


def wsproto_driver(chunks: List[bytes], patched: bool) -> Callable[[], int]:
    from wsproto.frame_protocol import FrameProtocol

    def run() -> int:
        _switch("wsproto", patched)
        protocol = FrameProtocol(client=False, extensions=[])
        n = 0
        for chunk in chunks:
            protocol.receive_bytes(chunk)
            for frame in protocol.received_frames():
                n += frame.message_finished  # messages (a frame cut by a read comes in pieces)
        return n

    return run


def tornado_mask_driver(data: bytes, patched: bool) -> Callable[[], bytes]:
    """tornado's masking as its WebSocket code calls it (tornado.websocket._websocket_mask)."""
    import tornado.websocket

    _switch("tornado", patched)
    mask = tornado.websocket.__dict__["_websocket_mask"]  # bound now: a call costs what tornado's costs

    def run() -> bytes:
        return mask(b"\x12\x34\x56\x78", data)  # type: ignore[no-any-return]

    return run


def websocket_client_text() -> Tuple[bytes, str]:
    """(one unmasked 1 MiB text frame as a server sends it, its text): mixed 1- to 4-byte characters."""
    from wsfast._frames_py import encode_frame

    text = ("w\u00e9bsocket \u20ac\u4e2d\u6587 \U0001f600 " * 40000)[: 1 << 19]
    while len(text.encode()) > 1 << 20:
        text = text[:-1000]
    return encode_frame(1, text), text


def websocket_client_driver(wire: bytes, patched: bool) -> Callable[[], str]:
    import websocket
    from websocket._abnf import frame_buffer

    def run() -> str:
        _switch("websocket_client", patched)
        view = memoryview(wire)
        pos = 0

        def recv(n: int) -> bytes:  # what a socket gives: at most n bytes (websocket-client asks 16 KiB)
            nonlocal pos
            chunk = bytes(view[pos:pos + n])
            pos += len(chunk)
            return chunk

        ws = websocket.WebSocket()
        ws.connected = True
        ws.frame_buffer = frame_buffer(recv, False)
        return ws.recv()  # type: ignore[return-value]

    return run


# -- echo servers: picows client, server CPU per message ----------------------------------------------

def _echo_probe(server: Any, client: Any, payload: bytes, rounds: int) -> Callable[[], Dict[str, float]]:
    import time

    from wsfast.bench.echo import BATCH

    count = rounds * BATCH

    def probe() -> Dict[str, float]:
        before = server.stats()
        t0 = time.perf_counter_ns()
        client.run(payload, rounds)
        wall = time.perf_counter_ns() - t0
        after = server.stats()
        cpu = (after["user"] - before["user"]) + (after["sys"] - before["sys"])
        return {"cpu": cpu * 1e9 / count, "wall": wall / count}

    return probe


ECHO_SERVERS = [("websockets", "websockets", "websockets"), ("tornado", "tornado", "tornado")]
ECHO_SIZES = [("64 B", 64, 64, 16), ("64 KiB", 64 * 1024, 4, 2)]  # name, size, rounds, quick rounds


def _echo_cases(quick: bool) -> Iterator[Case]:
    if peer("picows", label="picows client") is None:
        return
    from wsfast.bench.echo import BATCH, _Client, _Server

    loop = asyncio.new_event_loop()
    opened: List[Tuple[Any, Any]] = []

    def cleanup() -> None:
        for server, client in opened:
            with contextlib.suppress(Exception):
                client.close()
            server.stop()
        opened.clear()

    atexit.register(cleanup)
    try:
        for label, kind, library in ECHO_SERVERS:
            if peer(library, label=label) is None:
                continue
            pair: Dict[str, Tuple[Any, Any]] = {}
            for column, env in (("unpatched", {}), ("patched", {"WSFAST_BENCH_PATCH": library})):
                server = _Server(kind, env=env)
                client = _Client(loop, server.port)
                opened.append((server, client))
                pair[column] = (server, client)
            for name, size, rounds, quick_rounds in ECHO_SIZES:
                payload = os.urandom(size)
                n = quick_rounds if quick else rounds
                funcs: Dict[str, Any] = {}
                for column, (server, client) in pair.items():
                    client.check(payload)
                    funcs[column] = _echo_probe(server, client, payload, n)
                yield Case(f"{label} echo server, {name} x{n * BATCH}", size, funcs, probe=True,
                           metrics=METRICS[:1] if quick else METRICS, msg_size=size, series="echo")
            for server, client in pair.values():
                client.close()
                server.stop()
                opened.remove((server, client))
    finally:
        cleanup()
        atexit.unregister(cleanup)
        loop.close()


def cases(quick: bool) -> Iterator[Case]:
    if peer("wsfast._stream_c", label="wsfast compiled") is None:
        return  # every patch refuses without the compiled hot path
    if peer("websockets.protocol", label="websockets") is not None:
        small, _ = small_text()
        big, _ = big_binary()
        yield Case(WEBSOCKETS_TEXT, 16 * 10_000,
                   {"unpatched": websockets_driver(small, False), "patched": websockets_driver(small, True)},
                   targets(WEBSOCKETS_TEXT), msg_size=16, series="websockets")
        yield Case(WEBSOCKETS_BINARY, 16 << 20,
                   {"unpatched": websockets_driver(big, False, None),
                    "patched": websockets_driver(big, True, None)},
                   targets(WEBSOCKETS_BINARY), msg_size=1 << 20, series="websockets")
    if peer("wsproto.frame_protocol", label="wsproto") is not None:
        small, _ = small_text()
        yield Case(WSPROTO_TEXT, 16 * 10_000,
                   {"unpatched": wsproto_driver(small, False), "patched": wsproto_driver(small, True)},
                   targets(WSPROTO_TEXT), msg_size=16, series="wsproto")
    if peer("tornado.websocket", label="tornado") is not None:
        for size in (64, 64 * 1024):
            data = os.urandom(size)
            funcs: Dict[str, Any] = {"unpatched": tornado_mask_driver(data, False),
                                     "patched": tornado_mask_driver(data, True)}
            yield Case(f"tornado _websocket_mask, {size} B", size, funcs, msg_size=size, series="tornado")
    if peer("websocket", label="websocket-client") is not None:
        wire, _ = websocket_client_text()
        yield Case(WEBSOCKET_CLIENT_TEXT, len(wire),
                   {"unpatched": websocket_client_driver(wire, False),
                    "patched": websocket_client_driver(wire, True)},
                   targets(WEBSOCKET_CLIENT_TEXT), msg_size=1 << 20, series="websocket-client")
    yield from _echo_cases(quick)
