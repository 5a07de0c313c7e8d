"""The sans-I/O connection's cost on top of the frame parser, and peers.

Each row feeds the same client byte stream (masked frames) into: the bare
FrameParser (``c parser`` / ``py parser``), an open ServerProtocol via its
I/O-layer entry point ``receive()`` (``c conn`` / ``py conn``: automatic pongs,
close handling and keepalive bookkeeping included), and the sans-I/O
connection objects of websockets (ServerProtocol) and wsproto (WSConnection),
each driven the way its own upper layer does, to complete messages.

Parsers and connections are opened once and reused (every run ends on a
message boundary), so a handshake is not part of what is timed.

``conn/parser`` is the parser's time over the connection's: 0.87x means the
connection runs at 87% of the parser's speed, i.e. adds 15%. The target is
an overhead of at most 30% (>= 0.77x) when messages arrive in reads of many
messages (how asyncio delivers them). Two rows are shown, not targeted: one
read per 16-byte message, where the fixed cost of a Python-level call (about
0.1 us) dominates; and reads that each hold dozens of pings (keepalive sends
one every 20 s), where the connection locates them with C-level list scans
(about 15 ns per event of such a read) to answer them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from wsfast.bench import Case, implementations, peer

TITLE = "Connection layer: ServerProtocol.receive() vs FrameParser.feed() alone (and peers)"
ORDER = 35

READ_SIZE = 65536
TARGET = 1 / 1.3  # at most 30% added

RATIOS = [
    ("c conn", "c parser", "c conn/parser"),
    ("py conn", "py parser", "py conn/parser"),
    ("c conn", "websockets", "c conn/websockets"),
    ("c conn", "wsproto", "c conn/wsproto"),
]

_TEXT16 = "0123456789abcdef"


def workloads(quick: bool) -> List[Tuple[str, List[Tuple[int, bytes]], Optional[int], bool]]:
    """(name, messages as (opcode, payload), read size or None for one read per frame, targeted)."""
    text = [(1, _TEXT16.encode())] * 10_000
    with_pings = []
    for i in range(10_000):
        with_pings.append((1, _TEXT16.encode()))
        if i % 100 == 99:
            with_pings.append((9, b"keepalive"))
    rows = [
        ("10,000 x 16 B text, 64 KiB reads", text, READ_SIZE, True),
        ("10,000 x 16 B text + 100 pings, 64 KiB reads", with_pings, READ_SIZE, False),
        ("1,000 x 1 KiB binary, 64 KiB reads", [(2, bytes(range(256)) * 4)] * 1000, READ_SIZE, True),
        ("10,000 x 16 B text, one read per message", text, None, False),
    ]
    return rows[:3] if quick else rows


def wire(messages: List[Tuple[int, bytes]], read_size: Optional[int]) -> List[bytes]:
    from wsfast._frames_py import encode_frame

    frames = [encode_frame(op, payload, mask=True) for op, payload in messages]
    if read_size is None:
        return frames
    stream = b"".join(frames)
    return [stream[i:i + read_size] for i in range(0, len(stream), read_size)]


# -- drivers: each returns how many events it produced (so nothing is optimized away) --------------


def _parser_run(feed: Callable[[Any], List[Any]], chunks: List[bytes]) -> int:
    n = 0
    for chunk in chunks:
        n += len(feed(chunk))
    return n


def _conn_run(conn: Any, chunks: List[bytes]) -> int:
    receive = conn.receive
    n = 0
    for chunk in chunks:
        n += len(receive(chunk))
    conn.data_to_send()  # pongs
    return n


def open_server_connection(impl: Any) -> Any:
    """A ServerProtocol past its handshake, keepalive off (nothing time-dependent)."""
    from wsfast.handshake import ClientHandshake
    from wsfast.protocol import ServerProtocol

    conn = ServerProtocol(impl=impl, ping_interval=None, max_message_size=None)
    conn.receive_data(ClientHandshake("ws://localhost/").request.serialize())
    (request,) = conn.events()
    conn.send_response(conn.accept(request))
    conn.data_to_send()
    return conn


def _websockets_runner() -> Optional[Callable[[List[bytes]], int]]:
    server = peer("websockets.server", label="websockets")
    protocol = peer("websockets.protocol", label="websockets")
    frames = peer("websockets.frames", label="websockets")
    if server is None or protocol is None or frames is None:
        return None
    ws = server.ServerProtocol(state=protocol.State.OPEN, max_size=None)
    TEXT, BINARY = frames.Opcode.TEXT, frames.Opcode.BINARY

    def run(chunks: List[bytes]) -> int:
        n = 0
        for chunk in chunks:
            ws.receive_data(chunk)
            for frame in ws.events_received():  # unfragmented here: decode text as its Assembler does
                if frame.opcode is TEXT:
                    frame.data.decode()
                elif frame.opcode is not BINARY:
                    continue
                n += 1
        ws.data_to_send()
        return n

    return run


def _wsproto_runner() -> Optional[Callable[[List[bytes]], int]]:
    wsproto = peer("wsproto", label="wsproto")
    events = peer("wsproto.events", label="wsproto")
    if wsproto is None or events is None:
        return None
    from wsfast.handshake import ClientHandshake

    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    ws.receive_data(ClientHandshake("ws://localhost/").request.serialize())
    for ev in ws.events():
        if isinstance(ev, events.Request):
            ws.send(events.AcceptConnection())
    Message, Ping = events.Message, events.Ping

    def run(chunks: List[bytes]) -> int:
        n = 0
        for chunk in chunks:
            ws.receive_data(chunk)
            for ev in ws.events():
                if isinstance(ev, Message):
                    n += 1
                elif isinstance(ev, Ping):
                    ws.send(ev.response())  # wsproto leaves pongs to the application
        return n

    return run


def targets(targeted: bool) -> Dict[Tuple[str, str], float]:
    """A targeted workload's promise: the connection adds at most 30% to the parser's time."""
    return {("c conn", "c parser"): TARGET, ("py conn", "py parser"): TARGET} if targeted else {}


def cases(quick: bool) -> Iterator[Case]:
    impls = implementations()
    websockets_run = _websockets_runner()
    wsproto_run = _wsproto_runner()
    for name, messages, read_size, targeted in workloads(quick):
        chunks = wire(messages, read_size)
        size = sum(map(len, chunks))
        funcs: Dict[str, Any] = {}
        for label in ("c", "py"):
            impl = impls.get(label)
            if impl is None:
                funcs[f"{label} parser"] = funcs[f"{label} conn"] = None
                continue
            parser = impl.FrameParser(max_message_size=None)
            funcs[f"{label} parser"] = (_parser_run, parser.feed, chunks)
            funcs[f"{label} conn"] = (_conn_run, open_server_connection(impl), chunks)
        funcs["websockets"] = (websockets_run, chunks) if websockets_run else None
        funcs["wsproto"] = (wsproto_run, chunks) if wsproto_run else None
        yield Case(name, size, funcs, targets(targeted))
