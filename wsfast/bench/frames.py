"""Frame parsing: wsfast compiled vs its pure-Python twin vs aiohttp, websockets and wsproto.

Every column turns the same client (masked) byte stream, fed in 64 KiB reads,
into complete messages: text validated and decoded to str, fragments joined.
Peers that stop short of that do the rest in their driver, the way their own
upper layers do (websockets' protocol yields frames, wsproto's yields message
pieces), so each column produces the same list of messages.
The drivers are also used by ``benchmarks/bench_frames.py`` and its tests.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from wsfast.bench import Case, implementations, peer

TITLE = "Frame parsing: client frames in 64 KiB reads -> messages"
ORDER = 30

READ_SIZE = 65536

RATIOS = [
    ("c", "aiohttp", "c/aiohttp"),
    ("c", "websockets", "c/websockets"),
    ("c", "wsproto", "c/wsproto"),
    ("py", "wsproto", "py/wsproto"),
    ("c", "py", "c/py"),
]


# -- workloads ---------------------------------------------------------------------------------------

def _text(n: int) -> str:
    words = "the quick brown fox jumps over the lazy dog {\"id\": 12345, \"ok\": true} "
    return (words * (n // len(words) + 1))[:n]


# name -> (messages as (opcode, payload), fragment size or None)
WORKLOADS: Dict[str, Tuple[List[Tuple[int, Any]], Optional[int]]] = {
    "10,000 x 16 B text": ([(1, _text(16))] * 10_000, None),
    "1,000 x 1 KiB binary": ([(2, os.urandom(1024)) for _ in range(1000)], None),
    "16 x 1 MiB binary": ([(2, os.urandom(1 << 20)) for _ in range(16)], None),
    "1 MiB text in 64 fragments": ([(1, _text(1 << 20))], (1 << 20) // 64),
}
QUICK = ["10,000 x 16 B text", "1,000 x 1 KiB binary", "16 x 1 MiB binary", "1 MiB text in 64 fragments"]


def wire_chunks(name: str, read_size: int = READ_SIZE) -> List[bytes]:
    """The workload as a client sends it (masked, fresh key per frame), cut into reads."""
    from wsfast._frames_py import encode_message

    messages, fragment = WORKLOADS[name]
    wire = b"".join(frame for op, payload in messages
                    for frame in encode_message(op, payload, mask=True, fragment_size=fragment))
    return [wire[i:i + read_size] for i in range(0, len(wire), read_size)]


def expected_messages(name: str) -> List[Any]:
    return [payload for _, payload in WORKLOADS[name][0]]


# -- drivers: chunks -> list of message payloads (str / bytes) -----------------------------------------

def wsfast_driver(impl: Any) -> Callable[[List[bytes]], List[Any]]:
    parser_class = impl.FrameParser

    def run(chunks: List[bytes]) -> List[Any]:
        parser = parser_class(max_message_size=None)
        out: List[Any] = []
        for chunk in chunks:
            out.extend(parser.feed(chunk))
        return [event.data for event in out]

    return run


def aiohttp_driver() -> Optional[Callable[[List[bytes]], List[Any]]]:
    """aiohttp's compiled reader (``aiohttp._websocket.reader_c``) fed like its protocol does."""
    reader = peer("aiohttp._websocket.reader_c", label="aiohttp")
    if reader is None:
        return None

    class _Protocol:  # what the queue needs of the transport protocol
        _reading_paused = False

        def pause_reading(self) -> None:
            self._reading_paused = True

        def resume_reading(self) -> None:
            self._reading_paused = False

    def run(chunks: List[bytes]) -> List[Any]:
        queue = reader.WebSocketDataQueue(_Protocol(), 2**30, loop=None)
        parser = reader.WebSocketReader(queue, 0, compress=False, decode_text=True)
        buffer = queue._buffer
        out: List[Any] = []
        for chunk in chunks:
            parser.feed_data(chunk)
            if buffer:
                out.extend(message for message, _size in buffer)
                buffer.clear()
        return [message.data for message in out]

    return run


def websockets_driver() -> Optional[Callable[[List[bytes]], List[Any]]]:
    """websockets' sans-I/O ServerProtocol; frames joined and text decoded as its Assembler does."""
    server = peer("websockets.server", label="websockets")
    protocol = peer("websockets.protocol", label="websockets")
    frames = peer("websockets.frames", label="websockets")
    if server is None or protocol is None or frames is None:
        return None
    OP_TEXT, OP_CONT = frames.Opcode.TEXT, frames.Opcode.CONT
    DATA = (frames.Opcode.TEXT, frames.Opcode.BINARY, frames.Opcode.CONT)

    def run(chunks: List[bytes]) -> List[Any]:
        ws = server.ServerProtocol(state=protocol.State.OPEN, max_size=None)
        out: List[Any] = []
        parts: List[bytes] = []
        text = False
        for chunk in chunks:
            ws.receive_data(chunk)
            for frame in ws.events_received():
                if frame.opcode not in DATA:
                    continue
                if frame.opcode is not OP_CONT:
                    text = frame.opcode is OP_TEXT
                if frame.fin and not parts:
                    out.append(frame.data.decode() if text else frame.data)
                    continue
                parts.append(frame.data)
                if frame.fin:
                    data = b"".join(parts)
                    parts = []
                    out.append(data.decode() if text else data)
        return out

    return run


def wsproto_driver() -> Optional[Callable[[List[bytes]], List[Any]]]:
    """wsproto's FrameProtocol (it decodes text itself); message pieces joined."""
    fp = peer("wsproto.frame_protocol", label="wsproto")
    if fp is None:
        return None
    DATA = (fp.Opcode.TEXT, fp.Opcode.BINARY, fp.Opcode.CONTINUATION)

    def run(chunks: List[bytes]) -> List[Any]:
        proto = fp.FrameProtocol(client=False, extensions=[])
        out: List[Any] = []
        parts: List[Any] = []
        for chunk in chunks:
            proto.receive_bytes(chunk)
            for frame in proto.received_frames():
                if frame.opcode not in DATA:
                    continue
                if frame.message_finished and not parts:
                    out.append(frame.payload if isinstance(frame.payload, str) else bytes(frame.payload))
                    continue
                parts.append(frame.payload)
                if frame.message_finished:
                    joined = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
                    parts = []
                    out.append(joined)
        return out

    return run


def drivers() -> Dict[str, Optional[Callable[[List[bytes]], List[Any]]]]:
    """Column label -> driver (None when that implementation or peer is missing)."""
    impls = implementations()
    return {
        "c": wsfast_driver(impls["c"]) if "c" in impls else None,
        "py": wsfast_driver(impls["py"]) if "py" in impls else None,
        "aiohttp": aiohttp_driver(),
        "websockets": websockets_driver(),
        "wsproto": wsproto_driver(),
    }


# -- the section ---------------------------------------------------------------------------------------

def targets(name: str) -> Dict[Tuple[str, str], float]:
    targets = {("py", "wsproto"): 2.0}
    if name == "10,000 x 16 B text":
        targets[("c", "aiohttp")] = 3.0
    if name == "16 x 1 MiB binary":
        targets[("c", "websockets")] = 1.5
    return targets


def cases(quick: bool) -> Iterator[Case]:
    runs = drivers()
    for name in QUICK if quick else list(WORKLOADS):
        chunks = wire_chunks(name)
        size = sum(map(len, chunks))
        funcs = {label: ((run, chunks) if run is not None else None) for label, run in runs.items()}
        messages = expected_messages(name)
        yield Case(name, size, funcs, targets(name), msg_size=len(messages[0]),
                   series="text" if isinstance(messages[0], str) else "binary")
