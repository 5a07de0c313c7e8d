"""Text as validated UTF-8 bytes: FrameParser(decode_text=False), Protocol.decode_text and
recv(decode=False) on the asyncio connection (and decode=True for binary), on both
implementations.

The bytes must be exactly the message's UTF-8 (what the peer encoded), invalid
text must fail with 1007 at the same point as when decoding, and switching
between the modes must never lose, reorder or mistype a message.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from _aio_util import BIG, binary_of, impl_or_skip, run, text_of, wsfast_server

from wsfast import ProtocolError
from wsfast._frames_py import encode_frame, encode_message
from wsfast.asyncio import connect

TEXTS = ["", "a", "héllo", "天地玄黄" * 40, "😀" * 70 + "x", text_of(70_000)]


def _outcome(parser, chunks):
    events = []
    try:
        for chunk in chunks:
            events.extend(parser.feed(chunk))
    except ProtocolError as exc:
        return [(type(e).__name__, e.data) for e in events], (int(exc.close_code), exc.reason)
    return [(type(e).__name__, e.data) for e in events], None


@pytest.mark.parametrize("masked", [True, False])
def test_parser_keeps_text_as_utf8(impl, masked):
    for text in TEXTS:
        for fragment in (None, 5, 1000):
            wire = b"".join(encode_message(1, text, mask=masked, fragment_size=fragment))
            parser = impl.FrameParser(client=not masked, max_message_size=None, decode_text=False)
            (event,) = parser.feed(wire)
            assert type(event) is impl.TextMessage
            assert type(event.data) is bytes and event.data == text.encode()


def test_parser_mode_switches_between_messages(impl):
    parser = impl.FrameParser(max_message_size=None)
    first = encode_frame(1, "é".encode(), mask=True)
    assert parser.feed(first)[0].data == "é"
    parser.decode_text = False
    assert parser.feed(first)[0].data == "é".encode()
    parser.decode_text = True
    assert parser.feed(first)[0].data == "é"


def test_invalid_text_fails_alike_in_both_modes(impl):
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice(["a", "é", "天", "😀"]) for _ in range(rng.randrange(1, 60)))
        data = bytearray(text.encode())
        data[rng.randrange(len(data))] = rng.randrange(256)
        fragment = rng.choice([None, 1, 7])
        wire = b"".join(encode_message(1, bytes(data), mask=True, fragment_size=fragment)) \
            if fragment is None else _fragments(bytes(data), fragment)
        cut = rng.randrange(len(wire) + 1)
        chunks = [wire[:cut], wire[cut:]]
        decoded = _outcome(impl.FrameParser(max_message_size=None), chunks)
        raw = _outcome(impl.FrameParser(max_message_size=None, decode_text=False), chunks)
        assert raw[1] == decoded[1]
        assert [(kind, d if isinstance(d, str) else d.decode()) for kind, d in raw[0]] == decoded[0]


def _fragments(data: bytes, size: int) -> bytes:
    """A text message of raw (possibly invalid) bytes in masked fragments of `size` bytes."""
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    out = []
    for i, piece in enumerate(pieces):
        opcode = 1 if i == 0 else 0
        out.append(encode_frame(opcode, piece, fin=i == len(pieces) - 1, mask=True))
    return b"".join(out)


def test_both_implementations_agree(c_impl, py_impl):
    rng = random.Random(9)
    for _ in range(200):
        messages = [rng.choice(TEXTS[:5]) if rng.random() < 0.7 else binary_of(rng.randrange(50))
                    for _ in range(rng.randrange(1, 8))]
        wire = b"".join(frame for m in messages for frame in encode_message(
            1 if isinstance(m, str) else 2, m, mask=True, fragment_size=rng.choice([None, 3])))
        cuts = sorted(rng.randrange(len(wire) + 1) for _ in range(3))
        chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)])]
        outcomes = [_outcome(impl.FrameParser(max_message_size=None, decode_text=False), chunks)
                    for impl in (c_impl, py_impl)]
        assert outcomes[0] == outcomes[1]
        assert [d for _, d in outcomes[0][0]] == [m.encode() if isinstance(m, str) else m for m in messages]


@pytest.mark.parametrize("kind", ["c", "python"])
def test_recv_decode_modes(kind):
    async def main():
        client = {"implementation": impl_or_skip(kind), "max_message_size": BIG}
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client) as ws:
            texts = ["héllo", "天地" * 3000, ""]
            for text in texts:  # the echo comes back as text
                await ws.send(text)
            assert await ws.recv() == "héllo"  # decoded before the switch
            got = await ws.recv(decode=False)
            assert got == texts[1].encode() and type(got) is bytes
            assert await ws.recv(decode=False) == b""
            await ws.send("é")
            await ws.send(b"\xc3\xa9")
            await ws.send("天")
            assert await ws.recv(decode=False) == "é".encode()
            assert await ws.recv(decode=True) == "é"  # binary, decoded on request
            assert await ws.recv() == "天"  # back to str
            await ws.send("after")
            assert await ws.recv() == "after"
            await ws.send(binary_of(10))
            assert await ws.recv(decode=False) == binary_of(10)
            await ws.send("in order")
            await ws.send("second")
            first = await ws.recv(decode=False)
            await asyncio.sleep(0.05)  # "second" completes while the protocol keeps text as bytes
            second = [m async for m in _take(ws, 1)]
            assert (first, second) == (b"in order", ["second"])

    run(main())


async def _take(ws, n):
    async for message in ws:
        yield message
        n -= 1
        if not n:
            return
