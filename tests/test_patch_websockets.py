"""wsfast.patch.websockets() against websockets itself: the same bytes, fed the same way to a
patched and an unpatched sans-I/O Protocol, give the same events, the same bytes to send, the same
state, close codes and parser exception (type and message), for valid streams (fragments, control
frames in between, permessage-deflate, size limits as an int or a (message, fragment) tuple) and
for broken ones (every header violation, bad close frames, oversize frames, EOF anywhere); and a
patched websockets asyncio server and client talk over loopback.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import struct
import zlib
from typing import Any, List, Optional

import pytest

import wsfast.patch
from wsfast.patch import _core

websockets = pytest.importorskip("websockets")
from websockets.extensions.permessage_deflate import PerMessageDeflate  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import Protocol, Side  # noqa: E402


@pytest.fixture(autouse=True)
def _tested_version():
    version = _core.installed_version("websockets")
    if version not in wsfast.patch.TESTED["websockets"]:
        pytest.skip(f"websockets {version} is not a tested version")
    try:
        importlib.import_module("wsfast._stream_c")
    except ImportError:
        pytest.skip("the compiled hot path is not built")
    wsfast.patch.unpatch()
    yield
    wsfast.patch.unpatch()


def frame(op: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, key: Optional[bytes] = b"abcd",
          form: Optional[int] = None, length: Optional[int] = None) -> bytes:
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | op])
    mb = 0x80 if key is not None else 0
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head += bytes([mb | n])
    elif form == 16:
        head += bytes([mb | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mb | 127]) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def deflate(data: bytes, compressor: Any) -> bytes:
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def describe(event: Any) -> Any:
    if isinstance(event, Frame):
        return ("frame", int(event.opcode), bytes(event.data), event.fin, event.rsv1, event.rsv2, event.rsv3)
    return ("other", repr(event))


def run(chunks: List[bytes], *, side: Side, max_size: Any, deflate_on: bool, eof: bool,
        cls: Any = Protocol) -> Any:
    protocol = cls(side, max_size=max_size)
    if deflate_on:
        protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
    record: List[Any] = []
    for chunk in chunks:
        try:
            protocol.receive_data(chunk)
        except EOFError as exc:  # data after EOF
            record.append(("EOFError", str(exc)))
        record.append([describe(e) for e in protocol.events_received()])
        writes = protocol.data_to_send()
        record.append(writes if side is Side.SERVER else len(writes))
    if eof:
        protocol.receive_eof()
        record.append([describe(e) for e in protocol.events_received()])
        record.append(protocol.data_to_send() if side is Side.SERVER else None)
    exc = protocol.parser_exc
    record.append((protocol.state, protocol.close_code, protocol.close_reason,
                   type(exc).__name__ if exc else None, str(exc) if exc else None, protocol.current_size))
    return record


def both(chunks: List[bytes], **options: Any) -> None:
    unpatched = run(chunks, **options)
    assert wsfast.patch.websockets() is not None
    try:
        patched = run(chunks, **options)
    finally:
        wsfast.patch.unpatch()
    assert patched == unpatched


def splits(rng: random.Random, data: bytes) -> List[bytes]:
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(0, 6))))
    out, last = [], 0
    for cut in cuts + [len(data)]:
        out.append(data[last:cut])
        last = cut
    return out


def random_stream(rng: random.Random, *, masked: bool, deflate_on: bool) -> bytes:
    key = (lambda: rng.randbytes(4)) if masked else (lambda: None)
    compressor = zlib.compressobj(wbits=-15)
    parts = []
    for _ in range(rng.randrange(1, 12)):
        kind = rng.random()
        if kind < 0.15:
            parts.append(frame(rng.choice([9, 10]), rng.randbytes(rng.randrange(30)), key=key()))
        elif kind < 0.3:
            pieces = [rng.randbytes(rng.choice([0, 3, 40, 300])) for _ in range(rng.randrange(1, 4))]
            for i, piece in enumerate(pieces):
                parts.append(frame(rng.choice([1, 2]) if i == 0 else 0, piece, fin=i == len(pieces) - 1,
                                   key=key()))
                if rng.random() < 0.3:
                    parts.append(frame(9, b"mid", key=key()))
        elif kind < 0.45 and deflate_on:
            text = ("hello " * rng.randrange(1, 300)).encode()
            parts.append(frame(1, deflate(text, compressor), rsv=0x40, key=key()))
        else:
            payload = rng.randbytes(rng.choice([0, 1, 16, 125, 126, 1000, 70000]))
            parts.append(frame(rng.choice([1, 2]), payload, key=key()))
    if rng.random() < 0.5:
        parts.append(frame(8, struct.pack("!H", rng.choice([1000, 1001, 4000])) + b"bye", key=key()))
        parts.append(frame(1, b"after close", key=key()))
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(60))
def test_random_streams_give_what_websockets_gives(seed):
    rng = random.Random(seed)
    side = rng.choice([Side.SERVER, Side.CLIENT])
    deflate_on = rng.random() < 0.4
    data = random_stream(rng, masked=side is Side.SERVER, deflate_on=deflate_on)
    if rng.random() < 0.5:  # a few mutated bytes: violations anywhere
        mutated = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        data = bytes(mutated)
    eof_at = len(data) if rng.random() < 0.6 else rng.randrange(len(data) + 1)
    max_size = rng.choice([2**20, None, 1000, (2**20, 100), (None, 300), (5000, None)])
    both(splits(rng, data[:eof_at]), side=side, max_size=max_size, deflate_on=deflate_on,
         eof=rng.random() < 0.7)


KEY = b"abcd"
BROKEN = {
    "reserved opcode": frame(3, b"x"),
    "reserved control opcode": frame(11, b""),
    "fragmented control": frame(9, b"p", fin=False),
    "long control": frame(9, b"p" * 126),
    "rsv on control": frame(9, b"p", rsv=0x40),
    "rsv without extension": frame(1, b"x", rsv=0x40),
    "rsv2": frame(2, b"x", rsv=0x20),
    "stray continuation": frame(0, b"x"),
    "data inside a message": frame(1, b"a", fin=False) + frame(2, b"b"),
    "rsv on continuation": frame(1, b"a", fin=False) + frame(0, b"b", rsv=0x40),
    "unmasked from a client": frame(1, b"x", key=None),
    "16-bit length not minimal": frame(1, b"abc", form=16),
    "64-bit length not minimal": frame(2, b"abc", form=64),
    "64-bit top bit": frame(2, b"", length=1 << 63)[:10],
    "oversize": frame(2, b"x" * 2000),
    "oversize declared": frame(2, b"", length=1 << 40)[:10],
    "oversize fragments": frame(2, b"x" * 600, fin=False) + frame(0, b"x" * 600),
    "ping over the message budget": frame(2, b"x" * 990, fin=False) + frame(9, b"x" * 20),
    "close 1005": frame(8, struct.pack("!H", 1005)),
    "close 1-byte": frame(8, b"\x03"),
    "close bad utf-8": frame(8, struct.pack("!H", 1000) + b"\xff"),
    "close inside a message": frame(1, b"a", fin=False) + frame(8, struct.pack("!H", 1000)),
    "deflate garbage": frame(1, b"\xff\xff\xff\xff", rsv=0x40),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("deflate_on", [False, True])
def test_broken_streams_fail_as_websockets_fails(name, deflate_on):
    data = frame(1, b"first") + BROKEN[name] + frame(1, b"never")
    for cut in (None, 1, 7, 13):
        chunks = [data] if cut is None else [data[:cut], data[cut:]]
        both(chunks, side=Side.SERVER, max_size=1000, deflate_on=deflate_on, eof=True)


@pytest.mark.parametrize("cut", range(1, 20))
def test_eof_inside_a_frame_is_reported_as_websockets_reports_it(cut):
    data = frame(1, b"ok") + frame(2, b"y" * 300) + frame(1, b"z")
    both([data[:cut + 2]], side=Side.SERVER, max_size=2**20, deflate_on=False, eof=True)
    both([data[:len(data) - cut]], side=Side.SERVER, max_size=2**20, deflate_on=False, eof=True)


def test_fragment_limit_and_message_limit_tuple():
    pieces = [frame(2, b"x" * 90, fin=False)] + [frame(0, b"x" * 90, fin=False)] * 20 + [frame(0, b"")]
    both([b"".join(pieces)], side=Side.SERVER, max_size=(None, 100), deflate_on=False, eof=False)
    both([b"".join(pieces)], side=Side.SERVER, max_size=(1000, 100), deflate_on=False, eof=False)
    both([frame(2, b"x" * 101)], side=Side.SERVER, max_size=(None, 100), deflate_on=False, eof=False)


class Recording(Protocol):
    """A subclass that overrides recv_frame (as websockets' own tests do): it must see every frame."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: List[Any] = []

    def recv_frame(self, frame: Any) -> None:
        self.seen.append(describe(frame))
        if frame.data == b"boom":
            raise RuntimeError("BOOM")
        super().recv_frame(frame)


def test_a_subclass_recv_frame_sees_every_frame_and_its_crash_is_1011():
    data = frame(1, b"a") + frame(2, b"b") + frame(1, b"boom") + frame(1, b"never")
    both([data], side=Side.SERVER, max_size=2**20, deflate_on=False, eof=False, cls=Recording)
    wsfast.patch.websockets()
    protocol = Recording(Side.SERVER)
    protocol.receive_data(data)
    assert protocol.seen == [describe(Frame(Opcode.TEXT, b"a")), describe(Frame(Opcode.BINARY, b"b")),
                             describe(Frame(Opcode.TEXT, b"boom"))]
    assert protocol.close_code is None and protocol.close_sent.code == 1011
    assert str(protocol.parser_exc) == "BOOM"


def test_debug_logging_sees_every_frame(caplog):
    import logging

    data = frame(1, b"a") + frame(9, b"p") + frame(2, b"b")
    with caplog.at_level(logging.DEBUG, logger="websockets.server"):
        run([data], side=Side.SERVER, max_size=2**20, deflate_on=False, eof=False)
        unpatched = [r.getMessage() for r in caplog.records]
        caplog.clear()
        wsfast.patch.websockets()
        run([data], side=Side.SERVER, max_size=2**20, deflate_on=False, eof=False)
        patched = [r.getMessage() for r in caplog.records]
    assert patched == unpatched and len(patched) >= 3


def test_asyncio_server_and_client_over_loopback_patched():
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    assert wsfast.patch.websockets() is not None

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        rng = random.Random(5)
        async with serve(echo, "127.0.0.1", 0, max_size=2**22) as server:
            port = server.sockets[0].getsockname()[1]
            for compression in ("deflate", None):
                async with connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=2**22) as ws:
                    for n in (0, 1, 125, 126, 65536, 1 << 20):
                        data = rng.randbytes(n)
                        await ws.send(data)
                        assert await ws.recv() == data
                        text = "é€" * (n // 4)
                        await ws.send(text)
                        assert await ws.recv() == text
                    await ws.send([b"frag", b"ments"])
                    assert await ws.recv() == b"fragments"
                    await ws.ping(b"hi")

    asyncio.run(main())


def test_data_after_eof_and_data_handed_over_whole():
    """receive_data after receive_eof raises as websockets does; bytes handed over are not kept."""
    import gc
    import weakref

    for patched in (False, True):
        if patched:
            wsfast.patch.websockets()
        protocol = Protocol(Side.SERVER)
        protocol.receive_data(frame(1, b"a"))
        protocol.receive_eof()
        with pytest.raises(EOFError, match="stream ended"):
            protocol.receive_data(frame(1, b"b"))
    # a large frame received is held by nothing of the parser's once its events are taken
    protocol = Protocol(Side.SERVER, max_size=None)
    data = frame(2, b"x" * 300_000)
    for i in range(0, len(data), 65536):
        protocol.receive_data(data[i:i + 65536])
    (event,) = protocol.events_received()
    ref = weakref.ref(event)
    del event
    gc.collect()
    assert ref() is None
