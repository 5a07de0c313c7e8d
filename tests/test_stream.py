"""The per-frame streaming reader (wsfast.stream.FrameReader), on both implementations.

- One frame per wire frame: raw payload (unmasked, nothing decoded), FIN and RSV bits, fragments
  as CONTINUATION frames, control frames in wire order, for every way of splitting the reads.
- The header rules and close codes are FrameParser's: the same violation gets the same close code
  and reason from both; ``.frames`` and ``.rest`` say what came before and where it began.
- Differential: compiled and pure Python give the same frames and the same failures on random
  valid streams, random garbage and mutated streams.
"""

from __future__ import annotations

import random
from typing import Any, List, Optional, Tuple

import pytest
from frames_helpers import frame_key, raw_frame, reader_outcome, split_at

from wsfast import CloseCode, Opcode, ProtocolError
from wsfast.stream import Frame, default_opcodes


def reader(impl, **options):
    return impl.FrameReader(**options)


def feed_chunks(r, chunks) -> Tuple[List[Any], Optional[ProtocolError]]:
    frames: List[Any] = []
    for chunk in chunks:
        try:
            frames += r.feed(chunk)
        except ProtocolError as exc:
            return frames + exc.frames, exc
    return frames, None


MASK = b"\x11\x22\x33\x44"


def stream() -> Tuple[bytes, List[tuple]]:
    """A masked stream with fragments, control frames in between and an RSV1 message."""
    parts = [
        (raw_frame(1, b"hello", key=MASK), (1, b"hello", True, False, False, False)),
        (raw_frame(2, b"\x00" * 300, fin=False, key=MASK), (2, b"\x00" * 300, False, False, False, False)),
        (raw_frame(9, b"ping!", key=MASK), (9, b"ping!", True, False, False, False)),
        (raw_frame(0, b"x" * 70000, fin=False, key=MASK), (0, b"x" * 70000, False, False, False, False)),
        (raw_frame(0, b"", key=MASK), (0, b"", True, False, False, False)),
        (raw_frame(1, b"\xff\xfe raw", rsv=0x40, key=MASK), (1, b"\xff\xfe raw", True, True, False, False)),
        (raw_frame(8, b"\x03\xe8\xffbad", key=MASK), (8, b"\x03\xe8\xffbad", True, False, False, False)),
    ]
    return b"".join(p for p, _ in parts), [e for _, e in parts]


@pytest.mark.parametrize("cut", [None, 1, 2, 3, 7, 13, 64, 1000])
def test_one_frame_per_wire_frame_whatever_the_reads(impl, cut):
    wire, expected = stream()
    chunks = [wire] if cut is None else [wire[i:i + cut] for i in range(0, len(wire), cut)]
    r = reader(impl, rsv_bits=0x40)
    frames, error = feed_chunks(r, chunks)
    assert error is None
    assert [frame_key(f) for f in frames] == expected
    assert all(type(f) is Frame and type(f.data) is bytes for f in frames)
    assert frames[0].opcode is Opcode.TEXT and frames[2].opcode is Opcode.PING
    assert r.other_frames == 6  # all but the first: fragments, control frames, RSV bits
    assert not r.in_message and r.held == b"" and r.frame_progress is None


def test_unmasked_frames_for_a_client(impl):
    r = reader(impl, client=True)
    frames = r.feed(raw_frame(2, b"abc", key=None) + raw_frame(10, b"p", key=None))
    assert [frame_key(f) for f in frames] == [(2, b"abc", True, False, False, False),
                                           (10, b"p", True, False, False, False)]


def test_state_between_feeds(impl):
    r = reader(impl)
    wire = raw_frame(2, b"z" * 1000, key=MASK)
    assert r.feed(wire[:3]) == [] and r.held == wire[:3] and r.frame_progress is None
    assert r.feed(wire[3:108]) == [] and r.held == b"" and r.frame_progress == (100, 1000)
    frames = r.feed(wire[108:])
    assert [frame_key(f) for f in frames] == [(2, b"z" * 1000, True, False, False, False)]


def test_frames_of_another_class_with_other_opcode_objects(impl):
    websockets_frames = pytest.importorskip("websockets.frames")
    table = [websockets_frames.Opcode(n) if n in (0, 1, 2, 8, 9, 10) else None for n in range(16)]
    r = reader(impl, frame_class=websockets_frames.Frame, opcodes=table)
    frames = r.feed(raw_frame(1, b"hi", key=MASK) + raw_frame(2, b"yo", fin=False, key=MASK))
    assert frames == [websockets_frames.Frame(websockets_frames.Opcode.TEXT, b"hi"),
                      websockets_frames.Frame(websockets_frames.Opcode.BINARY, b"yo", fin=False)]
    assert frames[0].opcode is websockets_frames.Opcode.TEXT


def test_partial_mode_delivers_data_frames_as_their_payload_arrives(impl):
    r = reader(impl, partial=True)
    big = bytes(range(256)) * 4
    wire = (raw_frame(2, big, fin=False, key=MASK) + raw_frame(9, b"ping", key=MASK)
            + raw_frame(0, b"", key=MASK) + raw_frame(1, b"whole", key=MASK))
    head = 8  # 2 + 2 (16-bit length) + 4 (key)
    assert r.feed(wire[:head]) == []  # a header alone: no piece
    assert r.feed(wire[head:head + 100]) == [(Opcode.BINARY, big[:100], False, False)]
    assert r.feed(wire[head + 100:head + 101]) == [(Opcode.BINARY, big[100:101], False, False)]
    rest = r.feed(wire[head + 101:])
    assert rest == [(Opcode.BINARY, big[101:], True, False), (Opcode.PING, b"ping", True, True),
                    (Opcode.CONTINUATION, b"", True, True), (Opcode.TEXT, b"whole", True, True)]
    # control frames come whole, whatever the reads
    r = reader(impl, partial=True)
    ping = raw_frame(9, b"abcdef", key=MASK)
    assert r.feed(ping[:7]) == [] and r.feed(ping[7:]) == [(Opcode.PING, b"abcdef", True, True)]


# (wire bytes, close code, reason) - each breaks one rule
VIOLATIONS = [
    (bytes([0x83, 0x80]) + MASK, 1002, "reserved opcode 3"),
    (bytes([0x8B, 0x80]) + MASK, 1002, "reserved opcode 11"),
    (bytes([0x09, 0x80]) + MASK, 1002, "fragmented control frame"),
    (bytes([0x89, 0xFE, 0x00, 0x7E]) + MASK, 1002, "control frame payload longer than 125 bytes"),
    (bytes([0xC9, 0x80]) + MASK, 1002, "RSV bit set on a control frame"),
    (bytes([0xA1, 0x80]) + MASK, 1002, "RSV bit set without a negotiated extension"),
    (bytes([0x80, 0x80]) + MASK, 1002, "continuation frame without a message to continue"),
    (bytes([0x81, 0x00]), 1002, "unmasked frame from a client"),
    (bytes([0x81, 0xFE, 0x00, 0x05]) + MASK, 1002, "payload length not in its minimal encoding"),
    (bytes([0x82, 0xFF]) + (65535).to_bytes(8, "big") + MASK, 1002,
     "payload length not in its minimal encoding"),
    (bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + MASK, 1002,
     "64-bit payload length with its top bit set"),
]


@pytest.mark.parametrize("wire,code,reason", VIOLATIONS)
def test_violations_have_framing_parsers_close_codes_and_reasons(impl, wire, code, reason):
    before = raw_frame(1, b"ok", key=MASK)
    for cut in (None, 1, 3):  # the offending header whole, or held over feeds
        r = reader(impl)
        data = before + wire
        chunks = [data] if cut is None else split_at(data, [len(before) + cut])
        frames, error = feed_chunks(r, chunks)
        assert error is not None and (error.close_code, error.reason) == (code, reason)
        assert [frame_key(f) for f in frames] == [(1, b"ok", True, False, False, False)]
        assert error.rest == wire[:len(error.rest)] and len(error.rest) >= min(2, len(wire))
        assert r.failed and r.error is error
        with pytest.raises(ProtocolError) as again:
            r.feed(b"")
        assert (again.value.close_code, again.value.reason) == (code, reason)
        # the message-mode parser says the same about the same bytes
        parser = impl.FrameParser()
        with pytest.raises(ProtocolError) as theirs:
            parser.feed(data)
        assert (theirs.value.close_code, theirs.value.reason) == (code, reason)


def test_message_sequence_rules(impl):
    r = reader(impl)
    with pytest.raises(ProtocolError) as exc:
        r.feed(raw_frame(1, b"a", fin=False, key=MASK) + raw_frame(2, b"b", key=MASK))
    assert exc.value.reason == "new data frame inside a fragmented message"
    r = reader(impl, rsv_bits=0x40)
    with pytest.raises(ProtocolError) as exc:
        r.feed(raw_frame(1, b"a", fin=False, rsv=0x40, key=MASK) + raw_frame(0, b"b", rsv=0x40, key=MASK))
    assert exc.value.reason == "RSV bit set on a continuation frame"
    assert [frame_key(f) for f in exc.value.frames] == [(1, b"a", False, True, False, False)]


def test_size_limits_from_the_header(impl):
    r = reader(impl, max_frame_size=10)
    assert len(r.feed(raw_frame(2, b"x" * 10, key=MASK))) == 1
    with pytest.raises(ProtocolError) as exc:
        r.feed(bytes([0x82, 0xFF]) + (1 << 40).to_bytes(8, "big"))  # no payload needed to refuse it
    assert exc.value.close_code == CloseCode.MESSAGE_TOO_BIG
    assert exc.value.reason == f"frame of {1 << 40} bytes exceeds the size limit"
    r = reader(impl, max_message_size=10)
    r.feed(raw_frame(2, b"x" * 6, fin=False, key=MASK) + raw_frame(9, b"y" * 100, key=MASK))
    with pytest.raises(ProtocolError) as exc:
        r.feed(raw_frame(0, b"x" * 5, key=MASK))
    assert (exc.value.close_code, exc.value.reason) == (1009, "message of 11 bytes exceeds the size limit")
    # a new message starts from zero
    r = reader(impl, max_message_size=10)
    r.feed(raw_frame(2, b"x" * 10, key=MASK))
    assert len(r.feed(raw_frame(2, b"x" * 10, key=MASK))) == 1


def test_options_are_checked(impl):
    with pytest.raises(ValueError):
        reader(impl, rsv_bits=0x80)
    with pytest.raises(TypeError):
        reader(impl, max_frame_size="10")
    with pytest.raises(ValueError):
        reader(impl, max_message_size=-1)
    with pytest.raises(ValueError):
        reader(impl, opcodes=[1, 2])
    with pytest.raises(TypeError):
        reader(impl).feed("text")


def test_default_opcodes_table():
    table = default_opcodes()
    assert len(table) == 16 and table[1] is Opcode.TEXT and table[3] == 3


# -- differential: compiled vs pure Python ---------------------------------------------------------

def random_valid(rng: random.Random) -> bytes:
    out = []
    for _ in range(rng.randrange(1, 30)):
        kind = rng.random()
        if kind < 0.2:
            payload = rng.randbytes(rng.randrange(126))
            out.append(raw_frame(rng.choice([8, 9, 10]), payload, key=rng.randbytes(4)))
        elif kind < 0.4:
            n = rng.randrange(1, 4)
            for i in range(n):
                payload = rng.randbytes(rng.choice([0, 3, 200, 70000]))
                rsv = 0x40 if i == 0 and rng.random() < 0.3 else 0
                out.append(raw_frame(rng.choice([1, 2]) if i == 0 else 0, payload, fin=i == n - 1, rsv=rsv,
                                     key=rng.randbytes(4)))
        else:
            out.append(raw_frame(rng.choice([1, 2]), rng.randbytes(rng.choice([0, 1, 16, 125, 126, 65536])),
                                 key=rng.randbytes(4)))
    return b"".join(out)


@pytest.mark.parametrize("seed", range(40))
def test_differential_valid_garbage_and_mutated(c_impl, py_impl, seed):
    rng = random.Random(seed)
    valid = random_valid(rng)
    mutated = bytearray(valid)
    for _ in range(rng.randrange(1, 6)):
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    garbage = rng.randbytes(rng.randrange(1, 300))  # from the seed: a failure replays
    for data in (valid, bytes(mutated), garbage, valid[:rng.randrange(len(valid))]):
        cuts = sorted(rng.sample(range(1, max(2, len(data))), min(len(data) - 1, rng.randrange(0, 8)))) \
            if len(data) > 1 else []
        options = rng.choice([{}, {"rsv_bits": 0x40}, {"max_message_size": 1000}, {"max_frame_size": 200},
                              {"client": True}, {"partial": True}])
        chunks = split_at(data, cuts)
        assert reader_outcome(c_impl, chunks, **options) == reader_outcome(py_impl, chunks, **options)
