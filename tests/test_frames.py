"""Frame parser and writer (RFC 6455 section 5), for both implementations.

RFC examples byte for byte, every length encoding, every split point, UTF-8
failing at the right byte, one row per framing rule with its exact close code,
extensions, the event classes and the writer's options.
"""

from __future__ import annotations

import gc
import pickle
import struct
import zlib

import pytest
from frames_helpers import KEY, bytewise, close_payload, feed_all, raw_frame, split_at, xor

from wsfast import CloseCode, Opcode, ProtocolError
from wsfast.extensions import RSV1, RSV2, RSV3
from wsfast.extensions.permessage_deflate import PerMessageDeflate

# -- RFC 6455 section 5.7 -----------------------------------------------------------------------------

RFC_KEY = bytes((0x37, 0xFA, 0x21, 0x3D))
RFC_EXAMPLES = [
    # (name, wire bytes, masked?, [(opcode, payload, fin)], events as (class name, data))
    ("unmasked text", bytes((0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F)), False,
     [(1, b"Hello", True)], [("TextMessage", "Hello")]),
    ("masked text", bytes((0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58)), True,
     [(1, b"Hello", True)], [("TextMessage", "Hello")]),
    ("fragmented unmasked text", bytes((0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F)), False,
     [(1, b"Hel", False), (0, b"lo", True)], [("TextMessage", "Hello")]),
    ("unmasked ping", bytes((0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F)), False,
     [(9, b"Hello", True)], [("Ping", b"Hello")]),
    ("masked pong", bytes((0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58)), True,
     [(10, b"Hello", True)], [("Pong", b"Hello")]),
    ("256 bytes binary", bytes((0x82, 0x7E, 0x01, 0x00)) + bytes(range(256)), False,
     [(2, bytes(range(256)), True)], [("BinaryMessage", bytes(range(256)))]),
    ("64 KiB binary", bytes((0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0)) + b"\xab" * 65536, False,
     [(2, b"\xab" * 65536, True)], [("BinaryMessage", b"\xab" * 65536)]),
]


@pytest.mark.parametrize("name,wire,masked,frames,expected", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_parse(impl, name, wire, masked, frames, expected):
    parser = impl.FrameParser(client=not masked)
    events = parser.feed(wire)
    assert [(type(e).__name__, e.data) for e in events] == expected
    # and byte by byte
    parser = impl.FrameParser(client=not masked)
    events, error, _ = feed_all(parser, bytewise(wire))
    assert error is None
    assert [(type(e).__name__, e.data) for e in events] == expected


@pytest.mark.parametrize("name,wire,masked,frames,expected", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_encode(impl, name, wire, masked, frames, expected):
    key = RFC_KEY if masked else None
    out = b"".join(impl.encode_frame(op, payload, fin=fin, mask=key) for op, payload, fin in frames)
    assert out == wire


def test_rfc_fragmented_example_with_encode_message(impl):
    frames = impl.encode_message(Opcode.TEXT, "Hello", fragment_size=3)
    assert frames == [bytes((0x01, 0x03, 0x48, 0x65, 0x6C)), bytes((0x80, 0x02, 0x6C, 0x6F))]


# -- lengths -------------------------------------------------------------------------------------------

LENGTHS = list(range(0, 131)) + list(range(65530, 65541)) + [2**16 + 1, 2**16 + 7, 2**18 + 3, 2**20]


def _length_header(n: int) -> int:
    return 2 if n < 126 else 4 if n < 65536 else 10


@pytest.mark.parametrize("client", [False, True], ids=["server-masked", "client-unmasked"])
def test_every_length(impl, client):
    limit = None
    for n in LENGTHS:
        payload = bytes((i * 7 + n) & 0xFF for i in range(n))
        key = None if client else KEY
        wire = raw_frame(2, payload, key=key)
        assert impl.encode_frame(Opcode.BINARY, payload, mask=key) == wire
        assert len(wire) == _length_header(n) + (0 if client else 4) + n
        text = ("é" * (n // 2) + "a" * (n % 2)).encode()
        assert len(text) == n
        text_wire = raw_frame(1, text, key=key)
        parser = impl.FrameParser(client=client, max_message_size=limit)
        events = parser.feed(wire + text_wire)
        assert events == [impl.BinaryMessage(payload), impl.TextMessage(text.decode())], n
        # split in the header and in the middle of the payload
        for cut in {1, _length_header(n) - 1, len(wire) // 2, len(wire) - 1}:
            parser = impl.FrameParser(client=client, max_message_size=limit)
            got, error, _ = feed_all(parser, split_at(wire + text_wire, [cut, len(wire) + cut]))
            assert error is None
            assert got == [impl.BinaryMessage(payload), impl.TextMessage(text.decode())], (n, cut)


@pytest.mark.parametrize("n", [125, 126, 65535, 65536])
def test_length_boundaries_encoded_minimally(impl, n):
    frame = impl.encode_frame(Opcode.BINARY, b"x" * n)
    assert frame[1] & 0x7F == (n if n < 126 else 126 if n < 65536 else 127)


def test_huge_frame_in_many_reads(impl):
    # over the no-GIL threshold, spread over reads of uneven sizes
    payload = bytes(range(256)) * (5 * 4096 + 3)
    wire = raw_frame(2, payload, key=b"\x01\x02\x03\x04")
    parser = impl.FrameParser(max_message_size=None)
    events, error, _ = feed_all(parser, split_at(wire, range(7, len(wire), 65537)))
    assert error is None and events == [impl.BinaryMessage(payload)]
    assert parser.feed(wire) == [impl.BinaryMessage(payload)]


# -- split points -----------------------------------------------------------------------------------------

def _stream(masked=True):
    key = KEY if masked else None
    return b"".join([
        raw_frame(1, "héllo €".encode(), key=key),
        raw_frame(1, "ab€".encode()[:3], fin=False, key=key),
        raw_frame(9, b"ping!", key=key),
        raw_frame(0, "ab€".encode()[3:4], fin=False, key=key),
        raw_frame(0, b"", fin=False, key=key),
        raw_frame(0, "ab€".encode()[4:] + "😀".encode(), key=key),
        raw_frame(2, bytes(range(200)), key=key),
        raw_frame(10, b"", key=key),
        raw_frame(2, b"", key=key),
        raw_frame(1, b"", key=key),
        raw_frame(8, close_payload(1000, "bye ✓".encode()), key=key),
    ])


def _expected(impl):
    return [
        impl.TextMessage("héllo €"), impl.Ping(b"ping!"), impl.TextMessage("ab€😀"),
        impl.BinaryMessage(bytes(range(200))), impl.Pong(b""), impl.BinaryMessage(b""), impl.TextMessage(""),
        impl.Close(1000, "bye ✓"),
    ]


@pytest.mark.parametrize("masked", [True, False])
def test_every_split_point(impl, masked):
    wire = _stream(masked)
    expected = _expected(impl)
    assert impl.FrameParser(client=not masked).feed(wire) == expected
    for cut in range(1, len(wire)):
        parser = impl.FrameParser(client=not masked)
        first = parser.feed(wire[:cut])
        second = parser.feed(wire[cut:])
        assert first + second == expected, cut
    for cut in range(1, len(wire), 7):  # three pieces
        for cut2 in range(cut, len(wire), 13):
            parser = impl.FrameParser(client=not masked)
            got, error, _ = feed_all(parser, split_at(wire, [cut, cut2]))
            assert error is None and got == expected, (cut, cut2)


@pytest.mark.parametrize("masked", [True, False])
def test_byte_by_byte_equals_all_at_once(impl, masked):
    wire = _stream(masked)
    parser = impl.FrameParser(client=not masked)
    got, error, _ = feed_all(parser, bytewise(wire))
    assert error is None and got == _expected(impl)
    assert not parser.in_message


def test_events_are_delivered_in_the_feed_that_completes_them(impl):
    wire = raw_frame(1, b"abc") + raw_frame(1, b"de")
    parser = impl.FrameParser()
    assert parser.feed(wire[:5]) == []
    assert parser.in_message
    assert parser.feed(wire[5:10]) == [impl.TextMessage("abc")]
    assert parser.feed(wire[10:]) == [impl.TextMessage("de")]
    assert parser.feed(b"") == []


def test_control_frames_between_fragments_are_delivered_at_once(impl):
    parser = impl.FrameParser()
    assert parser.feed(raw_frame(2, b"part1", fin=False)) == []
    assert parser.feed(raw_frame(9, b"p1")) == [impl.Ping(b"p1")]
    assert parser.feed(raw_frame(0, b"part2", fin=False) + raw_frame(10, b"p2")) == [impl.Pong(b"p2")]
    assert parser.feed(raw_frame(8, close_payload(1001))) == [impl.Close(1001)]
    assert parser.feed(raw_frame(0, b"part3")) == [impl.BinaryMessage(b"part1part2part3")]


# -- input types ----------------------------------------------------------------------------------------

def test_accepts_any_bytes_like(impl):
    wire = raw_frame(1, b"hello") + raw_frame(2, b"\x00\x01")
    expected = [impl.TextMessage("hello"), impl.BinaryMessage(b"\x00\x01")]
    for data in (bytearray(wire), memoryview(wire), memoryview(bytearray(wire))):
        assert impl.FrameParser().feed(data) == expected
    strided = memoryview(bytes(b for pair in zip(wire, wire) for b in pair))[::2]
    assert not strided.c_contiguous
    assert impl.FrameParser().feed(strided) == expected
    for bad in ("text", 123, None, [1, 2]):
        with pytest.raises(TypeError):
            impl.FrameParser().feed(bad)


def test_caller_buffer_reuse_does_not_alter_events(impl):
    # zero-copy parsing must not keep references into the caller's buffer
    buf = bytearray(raw_frame(2, b"A" * 300) + raw_frame(1, b"B" * 20) + raw_frame(2, b"C" * 10)[:-3])
    parser = impl.FrameParser()
    events = parser.feed(buf)
    buf[:] = b"\x00" * len(buf)
    assert events == [impl.BinaryMessage(b"A" * 300), impl.TextMessage("B" * 20)]
    assert parser.feed(xor(b"CCC", KEY[3:] + KEY[:3])[:3]) == [impl.BinaryMessage(b"C" * 10)]


# -- the rules ------------------------------------------------------------------------------------------

PE, BAD_DATA, TOO_BIG = 1002, 1007, 1009


def _open_message():
    return raw_frame(1, b"frag", fin=False)


RULES = [
    # (id, wire bytes, parser options, close code)
    *[(f"reserved opcode {op}", raw_frame(op, b"x"), {}, PE) for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    ("RSV1 without extension", raw_frame(1, b"x", rsv=RSV1), {}, PE),
    ("RSV2 without extension", raw_frame(2, b"x", rsv=RSV2), {}, PE),
    ("RSV3 without extension", raw_frame(1, b"x", rsv=RSV3), {}, PE),
    ("RSV bit on a ping", raw_frame(9, b"x", rsv=RSV1), {}, PE),
    ("fragmented ping", raw_frame(9, b"x", fin=False), {}, PE),
    ("fragmented pong", raw_frame(10, b"", fin=False), {}, PE),
    ("fragmented close", raw_frame(8, close_payload(1000), fin=False), {}, PE),
    ("ping of 126 bytes", raw_frame(9, b"x" * 126), {}, PE),
    ("close of 126 bytes", raw_frame(8, close_payload(1000, b"x" * 124)), {}, PE),
    ("pong of 65536 bytes", raw_frame(10, b"x" * 65536), {}, PE),
    ("continuation without message", raw_frame(0, b"x"), {}, PE),
    ("final continuation without message", raw_frame(0, b"x", fin=False), {}, PE),
    ("text inside fragmented message", _open_message() + raw_frame(1, b"x"), {}, PE),
    ("binary inside fragmented message", _open_message() + raw_frame(2, b"x", fin=False), {}, PE),
    ("unmasked frame from a client", raw_frame(1, b"x", key=None), {}, PE),
    ("unmasked ping from a client", raw_frame(9, b"x", key=None), {}, PE),
    ("masked frame from a server", raw_frame(1, b"x"), {"client": True}, PE),
    ("64-bit length with top bit", raw_frame(2, b"", length_form=64, length=2**63),
     {"max_message_size": None}, PE),
    ("64-bit length all ones", raw_frame(2, b"", length_form=64, length=2**64 - 1), {}, PE),
    ("16-bit length for 125", raw_frame(2, b"x" * 125, length_form=16), {}, PE),
    ("16-bit length for 0", raw_frame(2, b"", length_form=16), {}, PE),
    ("64-bit length for 65535", raw_frame(2, b"x" * 65535, length_form=64), {}, PE),
    ("64-bit length for 126", raw_frame(2, b"x" * 126, length_form=64), {}, PE),
    ("64-bit length for 0", raw_frame(2, b"", length_form=64), {}, PE),
    ("1-byte close payload", raw_frame(8, b"\x03"), {}, PE),
    *[(f"close code {code}", raw_frame(8, close_payload(code)), {}, PE)
      for code in (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)],
    ("close reason not UTF-8", raw_frame(8, close_payload(1000, b"\xff")), {}, BAD_DATA),
    ("close reason truncated UTF-8", raw_frame(8, close_payload(1000, "é".encode()[:1])), {}, BAD_DATA),
    ("text not UTF-8", raw_frame(1, b"a\xffb"), {}, BAD_DATA),
    ("text surrogate", raw_frame(1, b"\xed\xa0\x80"), {}, BAD_DATA),
    ("text truncated", raw_frame(1, "€".encode()[:2]), {}, BAD_DATA),
    ("fragmented text not UTF-8", _open_message() + raw_frame(0, b"\xc0\xaf"), {}, BAD_DATA),
    ("fragmented text truncated", _open_message() + raw_frame(0, "€".encode()[:2]), {}, BAD_DATA),
    ("frame over the limit", raw_frame(2, b"x" * 101), {"max_message_size": 100}, TOO_BIG),
    ("text frame over the limit", raw_frame(1, b"x" * 65536), {"max_message_size": 65535}, TOO_BIG),
    ("fragments over the limit", raw_frame(2, b"x" * 60, fin=False) + raw_frame(0, b"x" * 41),
     {"max_message_size": 100}, TOO_BIG),
    ("control frame over the limit", raw_frame(9, b"x" * 11), {"max_message_size": 10}, TOO_BIG),
    ("anything with limit 0", raw_frame(2, b"x"), {"max_message_size": 0}, TOO_BIG),
    ("2**63-1 bytes", raw_frame(2, b"", length_form=64, length=2**63 - 1), {}, TOO_BIG),
]


@pytest.mark.parametrize("name,wire,options,code", RULES, ids=[r[0] for r in RULES])
def test_rule(impl, name, wire, options, code):
    for chunks in ([wire], bytewise(wire)):
        parser = impl.FrameParser(**options)
        events, error, _ = feed_all(parser, chunks)
        assert error is not None, "no error raised"
        assert isinstance(error, ProtocolError)
        assert error.close_code == code
        assert isinstance(error.close_code, CloseCode)
        assert error.reason
        assert parser.failed and parser.error is error


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999])
def test_valid_close_codes(impl, code):
    (event,) = impl.FrameParser().feed(raw_frame(8, close_payload(code, "r€".encode())))
    assert event.code == code and isinstance(event.code, CloseCode)
    assert event.reason == "r€"
    assert event.data == close_payload(code, "r€".encode())
    assert event.opcode is Opcode.CLOSE


def test_empty_close_is_1005(impl):
    (event,) = impl.FrameParser().feed(raw_frame(8, b""))
    assert event.code is CloseCode.NO_STATUS_RECEIVED and event.reason == "" and event.data == b""
    assert event == impl.Close(1005)


def test_size_limit_is_checked_from_the_header(impl):
    # only the header arrives: the error comes before any payload is buffered
    header = raw_frame(2, b"x" * 1000, key=KEY)[:8]
    parser = impl.FrameParser(max_message_size=999)
    with pytest.raises(ProtocolError) as info:
        parser.feed(header)
    assert info.value.close_code == 1009
    # even before the mask key
    parser = impl.FrameParser(max_message_size=999)
    with pytest.raises(ProtocolError) as info:
        parser.feed(header[:4])
    assert info.value.close_code == 1009
    # 2**62 declared bytes with no limit: accepted, nothing allocated up front
    parser = impl.FrameParser(max_message_size=None)
    assert parser.feed(raw_frame(2, b"", length_form=64, length=2**62)[:14] + b"abc") == []


def test_limit_counts_fragments_not_control_frames(impl):
    parser = impl.FrameParser(max_message_size=10)
    wire = (raw_frame(1, b"12345", fin=False) + raw_frame(9, b"0123456789") + raw_frame(0, b"67890"))
    assert parser.feed(wire) == [impl.Ping(b"0123456789"), impl.TextMessage("1234567890")]
    # the count starts again with every message
    assert parser.feed(raw_frame(2, b"x" * 10)) == [impl.BinaryMessage(b"x" * 10)]


def test_error_carries_the_events_before_it(impl):
    wire = (raw_frame(1, b"one") + raw_frame(9, b"p") + raw_frame(2, b"two") + raw_frame(5, b"bad")
            + raw_frame(1, b"x"))
    parser = impl.FrameParser()
    with pytest.raises(ProtocolError) as info:
        parser.feed(wire)
    assert info.value.events == [impl.TextMessage("one"), impl.Ping(b"p"), impl.BinaryMessage(b"two")]
    assert info.value.close_code == 1002


def test_failed_parser_keeps_failing(impl):
    parser = impl.FrameParser()
    assert not parser.failed and parser.error is None
    with pytest.raises(ProtocolError) as first:
        parser.feed(raw_frame(1, b"\xff"))
    assert parser.failed and parser.error is first.value
    for data in (raw_frame(1, b"ok"), b"", b"\x00"):
        with pytest.raises(ProtocolError) as again:
            parser.feed(data)
        assert again.value.close_code == 1007 and again.value.reason == first.value.reason
        assert again.value.events == []


def test_parser_options(impl):
    parser = impl.FrameParser()
    assert parser.client is False and parser.max_message_size == 2**20
    parser = impl.FrameParser(client=True, max_message_size=None)
    assert parser.client is True and parser.max_message_size is None
    with pytest.raises(ValueError):
        impl.FrameParser(max_message_size=-1)
    with pytest.raises(TypeError):
        impl.FrameParser(max_message_size="big")
    with pytest.raises(TypeError):
        impl.FrameParser(True)  # keyword-only


# -- UTF-8 at the right byte --------------------------------------------------------------------------

# (payload, index of the first byte that makes it impossible; len(payload) = fails only at the end)
UTF8_CASES = [
    (b"ab\xffcd", 2),
    (b"a\xc3(", 2),
    (b"\xc0\x80", 0),
    (b"\xc1\xbf", 0),
    (b"\xf5\x80\x80\x80", 0),
    (b"\xe0\x80\x80", 1),
    (b"\xe0\x9f\xbf", 1),
    (b"\xed\xa0\x80", 1),
    (b"\xed\xbf\xbf", 1),
    (b"\xf0\x80\x80\x80", 1),
    (b"\xf4\x90\x80\x80", 1),
    ("héllo".encode() + b"\x80", 6),
    ("€".encode()[:2] + b"ab", 2),
    ("😀".encode()[:3] + "😀".encode(), 3),
    (b"ok \xe2\x82", 5),
    (b"\xf0\x9f\x98", 3),
    ("valid €😀 text".encode(), None),
]


@pytest.mark.parametrize("payload,bad", UTF8_CASES, ids=[repr(c[0]) for c in UTF8_CASES])
@pytest.mark.parametrize("fragment", [None, 1, 2, 3])
def test_utf8_fails_in_the_feed_with_the_bad_byte(impl, payload, bad, fragment):
    """Fed byte by byte, the 1007 comes with the first impossible byte (or the message's end)."""
    before = raw_frame(2, b"before")
    frames = []
    positions = []  # wire offset of each payload byte
    size = fragment or max(len(payload), 1)
    offset = len(before)
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    for i, piece in enumerate(pieces):
        frame = raw_frame(1 if i == 0 else 0, piece, fin=i == len(pieces) - 1)
        header = len(frame) - len(piece)
        positions.extend(offset + header + k for k in range(len(piece)))
        frames.append(frame)
        offset += len(frame)
    wire = before + b"".join(frames)
    parser = impl.FrameParser()
    events, error, index = feed_all(parser, bytewise(wire))
    assert events[:1] == [impl.BinaryMessage(b"before")]
    if bad is None:
        assert error is None and events[1:] == [impl.TextMessage(payload.decode())]
        return
    assert error is not None and error.close_code == 1007
    expected = positions[bad] if bad < len(payload) else len(wire) - 1
    assert index == expected
    # all at once: same error, with the events before it
    parser = impl.FrameParser()
    events, error, _ = feed_all(parser, [wire])
    assert error.close_code == 1007 and events == [impl.BinaryMessage(b"before")]


def test_utf8_split_across_reads_and_frames_is_valid(impl):
    text = "aé€😀" * 50
    data = text.encode()
    for size in (1, 2, 3, 5, 7, 64):
        wire = b"".join(impl.encode_message(Opcode.TEXT, data, mask=KEY, fragment_size=size))
        for read in (1, 3, 4, 100):
            parser = impl.FrameParser()
            events, error, _ = feed_all(parser, [wire[i:i + read] for i in range(0, len(wire), read)])
            assert error is None and events == [impl.TextMessage(text)], (size, read)


def test_text_failure_mid_frame_mid_read(impl):
    # a big text frame whose bad byte arrives in the second of three reads
    payload = b"a" * 5000 + b"\xff" + b"b" * 5000
    wire = raw_frame(1, payload)
    parser = impl.FrameParser()
    assert parser.feed(wire[:3000]) == []
    with pytest.raises(ProtocolError) as info:
        parser.feed(wire[3000:7000])
    assert info.value.close_code == 1007


# -- extensions (permessage-deflate; its data path is in test_deflate.py) ----------------------------

def deflated(data: bytes) -> bytes:
    """data compressed as one permessage-deflate message (flush marker removed), by Python's zlib."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_rsv1_inflates_messages_when_deflate_is_agreed(impl):
    parser = impl.FrameParser(extensions=[PerMessageDeflate()], max_message_size=100)
    packed = deflated(b"abcabcdefdef")
    wire = (raw_frame(1, packed[:3], rsv=RSV1, fin=False) + raw_frame(9, b"p") + raw_frame(0, packed[3:])
            + raw_frame(2, b"plain"))
    expected = [impl.Ping(b"p"), impl.TextMessage("abcabcdefdef"), impl.BinaryMessage(b"plain")]
    assert parser.feed(wire) == expected


def test_extension_rules(impl):
    for wire, code in [
        (raw_frame(1, b"x", rsv=RSV2), 1002),  # a bit nobody owns
        (raw_frame(1, deflated(b"x"), rsv=RSV1 | RSV3), 1002),
        (raw_frame(9, b"x", rsv=RSV1), 1002),  # RSV1 on a control frame
        # RSV1 on a continuation
        (raw_frame(1, deflated(b"x")[:1], rsv=RSV1, fin=False) + raw_frame(0, b"y", rsv=RSV1), 1002),
        (raw_frame(2, deflated(b"x" * 51), rsv=RSV1), 1009),  # inflated size over the limit
        (raw_frame(1, deflated(b"\xff"), rsv=RSV1), 1007),  # inflated text invalid
        (raw_frame(2, b"\xff\xff\xff", rsv=RSV1), 1007),  # not deflate data
    ]:
        parser = impl.FrameParser(extensions=[PerMessageDeflate()], max_message_size=50)
        events, error, _ = feed_all(parser, [wire])
        assert error is not None and error.close_code == code, wire


def test_rsv1_without_deflate_is_a_protocol_error(impl):
    parser = impl.FrameParser()
    events, error, _ = feed_all(parser, [raw_frame(1, deflated(b"hello"), rsv=RSV1)])
    assert error is not None and error.close_code == 1002 and "RSV" in error.reason


def test_extension_option_checks(impl):
    class Reverse:
        rsv_bits = RSV1

        def decode(self, payload, **kw):
            return payload[::-1]

    with pytest.raises(TypeError, match="permessage-deflate only"):
        impl.FrameParser(extensions=[Reverse()])
    with pytest.raises(ValueError):
        impl.FrameParser(extensions=[PerMessageDeflate(), PerMessageDeflate()])


# -- events ----------------------------------------------------------------------------------------------

def test_event_classes(impl):
    t = impl.TextMessage("hi")
    b = impl.BinaryMessage(b"hi")
    assert (t.opcode, b.opcode, impl.Ping().opcode, impl.Pong().opcode, impl.Close(1000).opcode) == (
        Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE)
    assert t == impl.TextMessage("hi") and t != impl.TextMessage("ho") and t != b
    assert impl.BinaryMessage(bytearray(b"hi")) == b
    assert type(impl.BinaryMessage(bytearray(b"x")).data) is bytes
    assert impl.Ping() == impl.Ping(b"") and impl.Ping(b"x") != impl.Pong(b"x")
    assert hash(t) == hash(impl.TextMessage("hi"))
    assert len({impl.Ping(b"a"), impl.Ping(b"a"), impl.Pong(b"a")}) == 2
    close = impl.Close(1000, "bye")
    assert (close.code, close.reason, close.data) == (CloseCode.NORMAL, "bye", b"\x03\xe8bye")
    assert impl.Close(4000).data == b"\x0f\xa0" and impl.Close(1006).data == b""
    assert impl.Close(1000, "x", b"raw").data == b"raw"
    assert "TextMessage" in repr(t) and "'hi'" in repr(t)
    assert "NORMAL" in repr(close) and "bye" in repr(close)
    long = repr(impl.BinaryMessage(b"x" * 100000))
    assert len(long) < 200 and "100000" in long
    for event in (t, b, impl.Ping(b"p"), impl.Pong(b"q"), close):
        assert pickle.loads(pickle.dumps(event)) == event
    with pytest.raises(TypeError):
        impl.TextMessage(b"bytes")
    with pytest.raises(TypeError):
        impl.BinaryMessage("str")
    with pytest.raises(ValueError):
        impl.Close(1004)


def test_text_event_takes_str_subclasses_as_plain_str(impl):
    # like BinaryMessage with a bytes subclass: the event holds the exact built-in type
    class Text(str):
        pass

    event = impl.TextMessage(Text("hé"))
    assert event == impl.TextMessage("hé") and type(event.data) is str
    with pytest.raises(TypeError, match="TextMessage data must be str, not NoneType"):
        impl.TextMessage(None)


def test_events_compare_across_implementations(c_impl, py_impl):
    pairs = [
        (c_impl.TextMessage("x"), py_impl.TextMessage("x")),
        (c_impl.BinaryMessage(b"x"), py_impl.BinaryMessage(b"x")),
        (c_impl.Ping(b"x"), py_impl.Ping(b"x")),
        (c_impl.Pong(b""), py_impl.Pong()),
        (c_impl.Close(1000, "r"), py_impl.Close(1000, "r")),
    ]
    for a, b in pairs:
        assert a == b and b == a and hash(a) == hash(b) and repr(a) == repr(b)
        assert not a.__ne__(b) and not b.__ne__(a)
    assert c_impl.TextMessage("x") != py_impl.TextMessage("y")
    assert c_impl.Ping(b"x") != py_impl.Pong(b"x")
    assert c_impl.TextMessage("x") != "x"


def test_compiled_events_are_untracked_and_recycled_as_the_right_type(c_impl):
    # The compiled events hold only an exact str or bytes (and Close a CloseCode), so the cyclic
    # GC need not track them; the four one-field events share their base's free list, so an
    # object freed as one event type comes back as another: type and data must follow.
    made = [c_impl.TextMessage("t"), c_impl.BinaryMessage(b"b"), c_impl.Ping(b"p"), c_impl.Pong(b"q")]
    cases = [(raw_frame(1, b"text"), c_impl.TextMessage("text")),
             (raw_frame(2, b"bin"), c_impl.BinaryMessage(b"bin")),
             (raw_frame(9, b"ping"), c_impl.Ping(b"ping")),
             (raw_frame(10, b"pong"), c_impl.Pong(b"pong")),
             (raw_frame(1, "é".encode()), c_impl.TextMessage("é"))]
    parser = c_impl.FrameParser()
    for shift in range(len(cases)):  # each round reuses the objects the last one freed, as other types
        order = cases[shift:] + cases[:shift]
        events = parser.feed(b"".join(wire for wire, _ in order))
        assert [type(e) for e in events] == [type(e) for _, e in order]
        assert events == [e for _, e in order] and all(type(e.data) in (str, bytes) for e in events)
        made += events[:1]
        del events
    raw = c_impl.FrameParser(decode_text=False).feed(raw_frame(1, b"utf8"))
    assert type(raw[0].data) is bytes and raw[0].data == b"utf8"
    assert not any(gc.is_tracked(e) for e in made + raw)


# -- writer ----------------------------------------------------------------------------------------------

def test_encode_frame_options(impl):
    assert impl.encode_frame(Opcode.TEXT, "é") == b"\x81\x02\xc3\xa9"
    assert impl.encode_frame(1, bytearray(b"a")) == b"\x81\x01a"
    assert impl.encode_frame(2, memoryview(b"ab")[::2]) == b"\x82\x01a"
    assert impl.encode_frame(Opcode.BINARY, b"x", fin=False) == b"\x02\x01x"
    assert impl.encode_frame(Opcode.BINARY, b"x", rsv1=True) == b"\xc2\x01x"
    assert impl.encode_frame(Opcode.PING) == b"\x89\x00"
    assert impl.encode_frame(Opcode.CLOSE, close_payload(1000, b"ok")) == b"\x88\x04\x03\xe8ok"
    assert impl.encode_frame(2, b"abcd", mask=bytearray(KEY)) == raw_frame(2, b"abcd", key=KEY)
    masked = impl.encode_frame(2, b"abcd", mask=True)
    other = impl.encode_frame(2, b"abcd", mask=True)
    assert masked[1] == 0x84 and len(masked) == 10 and masked != other  # fresh keys
    assert impl.FrameParser().feed(masked) == [impl.BinaryMessage(b"abcd")]
    for args, kwargs, exc in [
        ((9, b"x" * 126), {}, ValueError),
        ((8, b""), {"fin": False}, ValueError),
        ((10, b""), {"rsv1": True}, ValueError),
        ((3, b""), {}, ValueError),
        ((16, b""), {}, ValueError),
        (("1", b""), {}, TypeError),
        ((1, 5), {}, TypeError),
        ((1, b""), {"mask": b"abc"}, ValueError),
        ((1, b""), {"mask": "abcd"}, TypeError),
    ]:
        with pytest.raises(exc):
            impl.encode_frame(*args, **kwargs)


def test_encode_message_fragments(impl):
    data = bytes(range(256)) * 4
    frames = impl.encode_message(Opcode.BINARY, data, fragment_size=300, rsv1=True)
    assert [len(f) for f in frames] == [304, 304, 304, 126]  # 16-bit lengths, then 7-bit for 124 bytes
    assert [f[0] for f in frames] == [0x42, 0x00, 0x00, 0x80]
    assert b"".join(f[4:] for f in frames[:3]) + frames[3][2:] == data
    assert impl.encode_message(Opcode.TEXT, "short", fragment_size=100) == [impl.encode_frame(1, "short")]
    assert impl.encode_message(Opcode.TEXT, "") == [b"\x81\x00"]
    masked = impl.encode_message(Opcode.TEXT, "abcdef" * 10, mask=True, fragment_size=10)
    keys = {f[2:6] for f in masked}
    assert len(masked) == 6 and len(keys) > 1  # a fresh key per frame
    parser = impl.FrameParser()
    assert parser.feed(b"".join(masked)) == [impl.TextMessage("abcdef" * 10)]
    fixed = impl.encode_message(Opcode.BINARY, b"x" * 10, mask=KEY, fragment_size=4)
    assert fixed == [raw_frame(2, b"xxxx", fin=False), raw_frame(0, b"xxxx", fin=False), raw_frame(0, b"xx")]
    for kwargs, exc in [({"fragment_size": 0}, ValueError), ({"fragment_size": 1.5}, TypeError),
                        ({"mask": b"12345"}, ValueError)]:
        with pytest.raises(exc):
            impl.encode_message(Opcode.BINARY, b"x", **kwargs)
    with pytest.raises(ValueError):
        impl.encode_message(Opcode.PING, b"x")


def test_encoded_lengths_roundtrip(impl):
    for n in (0, 125, 126, 65535, 65536, 70000):
        wire = impl.encode_frame(2, b"\x5a" * n, mask=KEY)
        assert wire == raw_frame(2, b"\x5a" * n, key=KEY)
        head = struct.unpack("!H", wire[2:4])[0] if 126 <= n < 65536 else None
        assert head in (None, n)


def test_writers_agree_byte_for_byte(c_impl, py_impl):
    payloads = ("", "abc", "é€😀" * 100, "a" * 70000, b"\x00\xff" * 100, bytearray(b"xy"), memoryview(b"z"))
    for payload in payloads:
        for fragment in (None, 1, 7, 1000):
            for op in (1, 2):
                kwargs = {"mask": KEY, "fragment_size": fragment}
                expected = py_impl.encode_message(op, payload, **kwargs)
                assert c_impl.encode_message(op, payload, **kwargs) == expected
        assert c_impl.encode_frame(2, payload, mask=KEY) == py_impl.encode_frame(2, payload, mask=KEY)
    for impl in (c_impl, py_impl):
        with pytest.raises(UnicodeEncodeError):
            impl.encode_frame(1, "\ud800")


def test_reentrant_feed_is_refused(impl):
    """Code that runs inside feed() (here a garbage-collection callback; or another thread) and
    calls feed() or __init__() on the same parser gets RuntimeError, never corruption."""
    parser = impl.FrameParser()
    seen = []

    def during_collection(phase, info):
        if phase != "start":
            return
        for call in (lambda: parser.feed(raw_frame(2, b"inner")), lambda: parser.__init__()):
            try:
                call()
            except RuntimeError as exc:
                seen.append(str(exc))

    wire = b"".join(raw_frame(8, close_payload(1000, b"r" * (i % 100))) for i in range(50))
    threshold = gc.get_threshold()
    gc.callbacks.append(during_collection)
    gc.set_threshold(1)  # a collection at (nearly) every allocation feed() makes
    try:
        events = parser.feed(wire)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(during_collection)
    assert len(events) == 50 and seen and all("another feed()" in why for why in seen)
    assert parser.feed(raw_frame(1, b"after")) == [impl.TextMessage("after")]


def test_huge_declared_continuation_without_limit(impl):
    # a fragment, then a continuation declaring 2**63-1 bytes: buffered as it comes, no overflow
    parser = impl.FrameParser(max_message_size=None)
    wire = raw_frame(2, b"ab", fin=False) + raw_frame(0, b"", length_form=64, length=2**63 - 1)
    assert parser.feed(wire + xor(b"cdef", KEY)) == []
    assert parser.in_message
    with pytest.raises(ProtocolError) as info:  # 2 + (2**63-1) bytes, summed from the headers
        impl.FrameParser(max_message_size=2**63).feed(wire)
    assert info.value.close_code == 1009 and str(2**63 + 1) in info.value.reason


@pytest.mark.parametrize("limit", [2**50, 2**63, None])
def test_huge_declared_frame_under_a_huge_limit_is_buffered_as_it_comes(impl, limit):
    # a header alone must not make the parser reserve what the limit allows (2**49 bytes: MemoryError)
    parser = impl.FrameParser(max_message_size=limit)
    wire = raw_frame(2, b"", length_form=64, length=2**49)
    assert parser.feed(wire + xor(b"abcdef", KEY)) == []
    assert parser.feed(xor(b"ghij", KEY)) == [] and parser.in_message and not parser.failed


@pytest.mark.parametrize("limit,shown", [(None, None), (0, 0), (2**63, 2**63), (2**64 - 2, 2**64 - 2),
                                         (2**64 - 1, None), (2**80, None)])
def test_max_message_size_property(impl, limit, shown):
    assert impl.FrameParser(max_message_size=limit).max_message_size == shown
