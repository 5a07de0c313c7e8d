"""Differential and property tests of the frame parser.

- Against websockets' and wsproto's parsers and writers: the same random valid
  streams give the same messages, in both directions.
- Hypothesis: parse(encode(x)) == x over random messages, fragmentations,
  masks, interleaved control frames and read splits, for both implementations.
- Compiled vs pure Python on random valid streams, random garbage and mutated
  streams: the same events from every feed, and the same failure (exception
  type, close code, reason, events completed before it).
"""

from __future__ import annotations

import random
from typing import Any, List, Tuple

import pytest
from frames_helpers import close_payload, feed_all, outcome, raw_frame, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsfast.extensions.permessage_deflate import PerMessageDeflate


def websockets_module(name: str) -> Any:
    """A module of websockets, for the tests against it (they skip when it is missing; the
    compiled-vs-pure tests below need neither peer)."""
    return pytest.importorskip(f"websockets.{name}")


def wsproto_frame_protocol() -> Any:
    return pytest.importorskip("wsproto.frame_protocol")

# A message model: ("text", str) / ("binary", bytes) / ("ping"|"pong", bytes) / ("close", code, reason)
Message = Tuple[Any, ...]


def random_messages(rng: random.Random, count: int) -> List[Message]:
    out: List[Message] = []
    alphabet = "aé€😀 \x00z"
    for _ in range(count):
        kind = rng.choice(["text", "text", "binary", "binary", "ping", "pong"])
        if kind == "text":
            size = rng.choice([0, 1, 5, 125, 126, 300, 4000, 70000])
            out.append(("text", "".join(rng.choice(alphabet) for _ in range(size))))
        elif kind == "binary":
            size = rng.choice([0, 1, 7, 125, 126, 65535, 65536, 100000])
            out.append(("binary", rng.randbytes(size)))
        else:
            out.append((kind, rng.randbytes(rng.randrange(126))))
    out.append(("close", rng.choice([1000, 1001, 3000, 4999]), "bye ✓"))
    return out


def encode_stream(rng: random.Random, messages: List[Message], masked: bool) -> Tuple[bytes, List[Message]]:
    """Wire bytes for `messages`, data messages fragmented at random with pings in between;
    and the messages a parser delivers (an interleaved ping comes before its message)."""
    parts = []
    expected: List[Message] = []
    for message in messages:
        key = rng.randbytes(4) if masked else None
        kind = message[0]
        if kind in ("ping", "pong"):
            parts.append(raw_frame(9 if kind == "ping" else 10, message[1], key=key))
        elif kind == "close":
            parts.append(raw_frame(8, close_payload(message[1], message[2].encode()), key=key))
        else:
            data = message[1].encode() if kind == "text" else message[1]
            pieces = [data]
            if data and rng.random() < 0.5:
                cuts = sorted(rng.sample(range(1, len(data) + 1), min(len(data), rng.randrange(1, 5))))
                pieces = split_at(data, cuts) + ([b""] if rng.random() < 0.2 else [])
            for i, piece in enumerate(pieces):
                op = (1 if kind == "text" else 2) if i == 0 else 0
                frame_key = rng.randbytes(4) if masked else None
                parts.append(raw_frame(op, piece, fin=i == len(pieces) - 1, key=frame_key))
                if i < len(pieces) - 1 and rng.random() < 0.3:
                    parts.append(raw_frame(9, b"interleaved", key=key))
                    expected.append(("ping", b"interleaved"))
        expected.append(message)
    return b"".join(parts), expected


def model_of(event: Any) -> Message:
    name = type(event).__name__
    if name == "TextMessage":
        return ("text", event.data)
    if name == "BinaryMessage":
        return ("binary", event.data)
    if name in ("Ping", "Pong"):
        return (name.lower(), event.data)
    return ("close", int(event.code), event.reason)


def random_reads(rng: random.Random, data: bytes) -> List[bytes]:
    cuts, pos = [], 0
    while pos < len(data):
        pos += rng.choice([1, 2, 3, 7, 100, 1000, 4096, 65536])
        cuts.append(pos)
    return split_at(data, cuts)


# -- peers' parsers --------------------------------------------------------------------------------------

def parse_with_websockets(chunks: List[bytes], server: bool) -> List[Message]:
    websockets_frames = websockets_module("frames")
    state = websockets_module("protocol").State.OPEN
    if server:
        proto = websockets_module("server").ServerProtocol(state=state, max_size=None)
    else:
        proto = websockets_module("client").ClientProtocol(_uri(), state=state, max_size=None)
    op = websockets_frames.Opcode
    out: List[Message] = []
    parts: List[bytes] = []
    text = False
    for chunk in chunks:
        proto.receive_data(chunk)
        for frame in proto.events_received():
            if frame.opcode is op.PING:
                out.append(("ping", frame.data))
            elif frame.opcode is op.PONG:
                out.append(("pong", frame.data))
            elif frame.opcode is op.CLOSE:
                close = websockets_frames.Close.parse(frame.data)
                out.append(("close", close.code, close.reason))
            else:
                if frame.opcode is not op.CONT:
                    text = frame.opcode is op.TEXT
                parts.append(frame.data)
                if frame.fin:
                    data = b"".join(parts)
                    parts = []
                    out.append(("text", data.decode()) if text else ("binary", data))
    return out


def _uri():
    return websockets_module("uri").parse_uri("ws://x/")


def parse_with_wsproto(chunks: List[bytes], server: bool) -> List[Message]:
    wsproto_fp = wsproto_frame_protocol()
    proto = wsproto_fp.FrameProtocol(client=not server, extensions=[])
    op = wsproto_fp.Opcode
    out: List[Message] = []
    parts: List[Any] = []
    for chunk in chunks:
        proto.receive_bytes(chunk)
        for frame in proto.received_frames():
            if frame.opcode is op.PING:
                out.append(("ping", bytes(frame.payload)))
            elif frame.opcode is op.PONG:
                out.append(("pong", bytes(frame.payload)))
            elif frame.opcode is op.CLOSE:
                code, reason = frame.payload
                out.append(("close", int(code), reason))
            else:
                parts.append(frame.payload)
                if frame.message_finished:
                    if isinstance(parts[0], str):
                        out.append(("text", "".join(parts)))
                    else:
                        out.append(("binary", b"".join(bytes(p) for p in parts)))
                    parts = []
    return out


def parse_with(impl, chunks: List[bytes], server: bool) -> List[Message]:
    parser = impl.FrameParser(client=not server, max_message_size=None)
    events, error, _ = feed_all(parser, chunks)
    assert error is None, error
    return [model_of(e) for e in events]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
def test_same_messages_as_websockets_and_wsproto(impl, seed, server):
    rng = random.Random(seed)
    messages = random_messages(rng, 12)
    wire, expected = encode_stream(rng, messages, masked=server)
    chunks = random_reads(rng, wire)
    assert parse_with_websockets(chunks, server) == expected
    assert parse_with_wsproto(chunks, server) == expected
    assert parse_with(impl, chunks, server) == expected


@pytest.mark.parametrize("seed", range(6))
def test_we_parse_what_websockets_and_wsproto_write(impl, seed):
    websockets_frames = websockets_module("frames")
    wsproto_fp = wsproto_frame_protocol()
    rng = random.Random(1000 + seed)
    messages = [m for m in random_messages(rng, 10) if m[0] != "close"]
    ws_op = websockets_frames.Opcode
    ws_wire = []
    wp = wsproto_fp.FrameProtocol(client=True, extensions=[])
    wp_wire = []
    for kind, data in messages:
        opcode = {"text": ws_op.TEXT, "binary": ws_op.BINARY, "ping": ws_op.PING, "pong": ws_op.PONG}[kind]
        payload = data.encode() if kind == "text" else data
        frame = websockets_frames.Frame(opcode, payload)
        ws_wire.append(frame.serialize(mask=True, extensions=[]))
        if kind == "ping":
            wp_wire.append(wp.ping(data))
        elif kind == "pong":
            wp_wire.append(wp.pong(data))
        elif data and kind == "text":  # wsproto fragments when told the message goes on
            wp_wire.append(wp.send_data(data[: len(data) // 2], fin=False))
            wp_wire.append(wp.send_data(data[len(data) // 2:], fin=True))
        else:
            wp_wire.append(wp.send_data(data, fin=True))
    for wire in (b"".join(ws_wire), b"".join(bytes(w) for w in wp_wire)):
        assert parse_with(impl, random_reads(rng, wire), server=True) == messages


@pytest.mark.parametrize("seed", range(6))
def test_websockets_and_wsproto_parse_what_we_write(impl, seed):
    rng = random.Random(2000 + seed)
    messages = random_messages(rng, 10)
    frames = []
    for message in messages:
        kind = message[0]
        if kind in ("text", "binary"):
            frames.extend(impl.encode_message(1 if kind == "text" else 2, message[1], mask=True,
                                              fragment_size=rng.choice([None, 1, 100, 5000])))
        elif kind == "close":
            frames.append(impl.encode_frame(8, close_payload(message[1], message[2].encode()), mask=True))
        else:
            frames.append(impl.encode_frame(9 if kind == "ping" else 10, message[1], mask=True))
    chunks = random_reads(rng, b"".join(frames))
    assert parse_with_websockets(chunks, server=True) == messages
    assert parse_with_wsproto(chunks, server=True) == messages


# -- hypothesis: parse(encode(x)) == x --------------------------------------------------------------------

text_st = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
data_message = st.one_of(st.tuples(st.just("text"), text_st),
                         st.tuples(st.just("binary"), st.binary(max_size=300)))
control_message = st.tuples(st.sampled_from(["ping", "pong"]), st.binary(max_size=125))
any_message = st.one_of(data_message, data_message, control_message)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(messages=st.lists(any_message, max_size=8), data=st.data(), server=st.booleans())
def test_parse_of_encode_is_identity(impl, messages, data, server):
    frames = []
    for kind, payload in messages:
        mask = data.draw(st.one_of(st.just(True), st.binary(min_size=4, max_size=4))) if server else None
        if kind in ("ping", "pong"):
            frames.append(impl.encode_frame(9 if kind == "ping" else 10, payload, mask=mask))
            continue
        fragment = data.draw(st.one_of(st.none(), st.integers(1, 64)))
        pieces = impl.encode_message(1 if kind == "text" else 2, payload, mask=mask, fragment_size=fragment)
        if len(pieces) > 1 and data.draw(st.booleans()):  # a ping between two fragments
            pieces.insert(1, impl.encode_frame(9, b"between", mask=mask))
        frames.extend(pieces)
    wire = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    parser = impl.FrameParser(client=not server)
    events, error, _ = feed_all(parser, split_at(wire, cuts))
    assert error is None
    got = [model_of(e) for e in events if not (type(e).__name__ == "Ping" and e.data == b"between")]
    assert got == [tuple(m) for m in messages]
    assert not parser.in_message


# -- compiled vs pure Python --------------------------------------------------------------------------------

DEFLATE = {  # permessage-deflate agreements, so the inflate path is compared too
    "takeover": PerMessageDeflate(),
    "reset": PerMessageDeflate(remote_no_context_takeover=True, remote_max_window_bits=9),
    "small": PerMessageDeflate(remote_max_window_bits=8),
}


def assert_same(c_impl, py_impl, options, chunks):
    opts = dict(options)
    ext = opts.pop("ext", None)
    if ext:
        opts["extensions"] = [DEFLATE[ext]]
    assert outcome(c_impl, chunks, **opts) == outcome(py_impl, chunks, **opts)


options_st = st.fixed_dictionaries({
    "client": st.booleans(),
    "max_message_size": st.one_of(st.none(), st.integers(0, 200), st.just(2**20)),
    "ext": st.sampled_from([None, "takeover", "reset", "small"]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=200), options=options_st, data=st.data())
def test_compiled_and_pure_agree_on_garbage(c_impl, py_impl, garbage, options, data):
    cuts = data.draw(st.lists(st.integers(0, len(garbage)), max_size=6))
    assert_same(c_impl, py_impl, options, split_at(garbage, cuts))


def _frame_st():
    return st.builds(
        lambda op, payload, fin, rsv, masked, key, form: raw_frame(
            op, payload, fin=fin, rsv=rsv, key=key if masked else None,
            length_form=form if form == 7 and len(payload) < 126 or form == 16 and len(payload) < 65536
            or form == 64 else None),
        op=st.sampled_from([0, 0, 1, 1, 2, 2, 8, 9, 10, 3, 11]),
        payload=st.one_of(st.binary(max_size=140), st.text(max_size=40).map(str.encode),
                          st.sampled_from([b"\x03\xe8", b"\x03\xe8ok", b"\x03\xe8\xff", b"\x03", b"\x03\xed",
                                           b"\xed\xa0\x80", "é".encode()[:1], b"\xf4\x90"])),
        fin=st.booleans(),
        rsv=st.sampled_from([0, 0, 0, 0x40, 0x20, 0x10]),
        masked=st.booleans(),
        key=st.binary(min_size=4, max_size=4),
        form=st.sampled_from([None, None, None, 7, 16, 64]),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(_frame_st(), max_size=8), options=options_st, data=st.data())
def test_compiled_and_pure_agree_on_random_frames(c_impl, py_impl, frames, options, data):
    wire = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=8))
    assert_same(c_impl, py_impl, options, split_at(wire, cuts))
    assert_same(c_impl, py_impl, options, [wire[i:i + 1] for i in range(len(wire))])


VIOLATIONS = ["opcode", "rsv", "fin", "mask", "length", "close", "utf8", "big"]


@st.composite
def mostly_valid_stream(draw, server: bool) -> bytes:
    """Frames that follow the rules (text fragments cut anywhere), one in ~8 breaking one rule."""
    frames = []
    open_message = False
    for _ in range(draw(st.integers(0, 10))):
        control = draw(st.integers(0, 3)) == 0
        fin = True if control else draw(st.booleans())
        if control:
            op = draw(st.sampled_from([8, 9, 10]))
            payload = close_payload(1000, draw(st.text(max_size=20)).encode()) if op == 8 else draw(
                st.binary(max_size=125))
        else:
            op = 0 if open_message else draw(st.sampled_from([1, 2]))
            payload = draw(st.one_of(st.binary(max_size=200), st.text(max_size=60).map(str.encode)))
            open_message = not fin
        key = draw(st.binary(min_size=4, max_size=4)) if server else None
        rsv, form, length = 0, None, None
        violation = draw(st.sampled_from(VIOLATIONS)) if draw(st.integers(0, 7)) == 0 else None
        if violation == "opcode":
            op = draw(st.sampled_from([3, 7, 11, 15, 0, 1, 2]))
        elif violation == "rsv":
            rsv = draw(st.sampled_from([0x40, 0x20, 0x10]))
        elif violation == "fin":
            fin = not fin
        elif violation == "mask":
            key = None if server else b"\x01\x02\x03\x04"
        elif violation == "length":
            form = 64
        elif violation == "close":
            bad_close = [b"\x03", b"\x03\xec", b"\x00\x00", b"\x03\xe8\xc3"]
            op, fin, payload = 8, True, draw(st.sampled_from(bad_close))
        elif violation == "utf8":
            op, payload = (0 if open_message else 1), draw(st.sampled_from([b"\xff", b"\xed\xa0", b"\xc3"]))
        elif violation == "big":
            length = draw(st.sampled_from([2**63, 2**40, 70000]))
            form = 64
        frame = raw_frame(op, payload, fin=fin, rsv=rsv, key=key, length_form=form, length=length)
        if length is not None:
            frame = frame[: len(frame) - len(payload)]  # the header claims more than follows
        frames.append(frame)
    return b"".join(frames)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=options_st, data=st.data())
def test_compiled_and_pure_agree_on_mostly_valid_streams(c_impl, py_impl, options, data):
    wire = data.draw(mostly_valid_stream(not options["client"]))
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=8))
    assert_same(c_impl, py_impl, options, split_at(wire, cuts))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                        max_size=4), options=options_st)
def test_compiled_and_pure_agree_on_mutated_streams(c_impl, py_impl, seed, flips, options):
    rng = random.Random(seed)
    server = not options["client"]
    wire = bytearray(encode_stream(rng, random_messages(rng, 4), masked=server)[0])
    for where, value in flips:
        wire[where % len(wire)] = value
    assert_same(c_impl, py_impl, options, random_reads(rng, bytes(wire)))


def test_compiled_and_pure_agree_on_random_valid_streams(c_impl, py_impl):
    for seed in range(20):
        rng = random.Random(seed)
        wire, _ = encode_stream(rng, random_messages(rng, 8), masked=True)
        options = {"client": False, "max_message_size": rng.choice([None, 2**20, 70000])}
        assert_same(c_impl, py_impl, options, random_reads(rng, wire))


@pytest.mark.parametrize("seed", range(3))
def test_compiled_and_pure_agree_on_random_bytes(c_impl, py_impl, seed):
    """Short random inputs, seeded: a failure names its seed and replays."""
    rng = random.Random(seed)
    for _ in range(100):
        garbage = rng.randbytes(rng.randrange(1, 64))
        for client in (False, True):
            assert_same(c_impl, py_impl, {"client": client, "max_message_size": 100}, [garbage])
