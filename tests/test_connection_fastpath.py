"""The connection's cheap paths: control frames found without scanning every event, batches
mixing data and control frames, the parser's control_frames counter, zero-copy sends.

Frames going in are built by hand (frames_helpers.raw_frame), and what goes out is
compared with frames built the same way, never with wsfast's own writer or parser."""

from __future__ import annotations

import pytest
from frames_helpers import raw_frame, split_at, xor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsfast import Opcode, ProtocolError
from wsfast.handshake import ClientHandshake, accept_key
from wsfast.http11 import Request
from wsfast.protocol import ClientProtocol, ServerProtocol, State


def opened(impl, **options):
    conn = ServerProtocol(impl=impl, ping_interval=None, **options)
    conn.receive_data(ClientHandshake("ws://h/").request.serialize())
    (request,) = conn.events()
    conn.send_response(conn.accept(request))
    conn.data_to_send()
    return conn


def frame(opcode, payload=b""):
    """A client frame (masked), built by hand."""
    return raw_frame(opcode, payload)


def server_frame(opcode, payload=b""):
    """What the server must send (unmasked), built by hand."""
    return raw_frame(opcode, payload, key=None)


def kinds(events):
    return [(type(e).__name__, getattr(e, "data", None)) for e in events]


def sent(conn):
    return b"".join(conn.data_to_send())


def test_parser_counts_control_frames_alike(impl):
    parser = impl.FrameParser()
    assert parser.control_frames == 0
    parser.feed(frame(Opcode.TEXT, b"a") + frame(Opcode.PING, b"1"))
    parser.feed(frame(Opcode.PONG) + frame(Opcode.BINARY, b"b") + frame(Opcode.PING)[:3])
    assert parser.control_frames == 2
    with pytest.raises(ProtocolError) as info:
        parser.feed(frame(Opcode.PING)[3:] + frame(Opcode.CLOSE, b"\x03\xe8") + b"\x83\x80")
    assert len(info.value.events) == 2
    assert parser.control_frames == 4  # the events handed over in the error count too


@pytest.mark.parametrize("receive", ["receive", "receive_data"])
def test_a_batch_of_data_pings_pongs_and_a_close(impl, receive):
    conn = opened(impl)
    batch = b"".join([
        frame(Opcode.TEXT, b"t1"),
        frame(Opcode.PING, b"p1"),
        frame(Opcode.BINARY, b"b1"),
        frame(Opcode.PONG, b"o1"),
        frame(Opcode.PING, b"p2"),
        frame(Opcode.TEXT, b"t2"),
        frame(Opcode.CLOSE, b"\x03\xe9bye"),
        frame(Opcode.TEXT, b"after the close"),
        frame(Opcode.PING, b"after the close"),
    ])
    if receive == "receive":
        events = conn.receive(batch)
    else:
        conn.receive_data(batch)
        events = conn.events()
    assert kinds(events) == [("TextMessage", "t1"), ("Ping", b"p1"), ("BinaryMessage", b"b1"),
                             ("Pong", b"o1"), ("Ping", b"p2"), ("TextMessage", "t2"),
                             ("Close", b"\x03\xe9bye")]
    # pongs in order, then the close reply with the same code
    assert sent(conn) == (server_frame(Opcode.PONG, b"p1") + server_frame(Opcode.PONG, b"p2")
                          + server_frame(Opcode.CLOSE, b"\x03\xe9"))
    assert conn.state is State.CLOSED and conn.close_code == 1001


def test_a_lone_control_frame_first_in_its_batch(impl):
    conn = opened(impl)
    events = conn.receive(frame(Opcode.PING, b"x") + frame(Opcode.TEXT, b"y"))
    assert kinds(events) == [("Ping", b"x"), ("TextMessage", "y")]
    assert sent(conn) == server_frame(Opcode.PONG, b"x")
    events = conn.receive(frame(Opcode.TEXT, b"z") + frame(Opcode.PING, b"w"))
    assert kinds(events) == [("TextMessage", "z"), ("Ping", b"w")]
    assert sent(conn) == server_frame(Opcode.PONG, b"w")


def test_control_frame_split_across_reads(impl):
    conn = opened(impl)
    raw = frame(Opcode.TEXT, b"a") + frame(Opcode.PING, b"split") + frame(Opcode.TEXT, b"b")
    assert conn.receive(b"") == []  # an empty read is harmless
    got = []
    pos = 0
    for cut in (3, 9, 12, len(raw)):
        got += conn.receive(raw[pos:cut])
        pos = cut
    assert kinds(got) == [("TextMessage", "a"), ("Ping", b"split"), ("TextMessage", "b")]
    assert sent(conn) == server_frame(Opcode.PONG, b"split")


def test_pending_events_come_first(impl):
    conn = ServerProtocol(impl=impl, ping_interval=None)
    conn.receive_data(ClientHandshake("ws://h/").request.serialize() + frame(Opcode.TEXT, b"one"))
    (request,) = conn.events()
    conn.send_response(conn.accept(request))  # parses the frame sent early: an event is pending
    events = conn.receive(frame(Opcode.TEXT, b"one and a half"))
    assert kinds(events) == [("TextMessage", "one"), ("TextMessage", "one and a half")]
    conn.receive_data(frame(Opcode.TEXT, b"two"))
    conn.receive_data(frame(Opcode.TEXT, b"three"))
    assert kinds(conn.receive(frame(Opcode.TEXT, b"four"))) == [
        ("TextMessage", "two"), ("TextMessage", "three"), ("TextMessage", "four")]


def test_events_lists_are_the_callers(impl):
    conn = opened(impl)
    empty = conn.events()
    empty.append("mine")
    assert conn.events() == []
    conn.receive_data(frame(Opcode.TEXT, b"x"))
    first = conn.events()
    first.clear()
    assert conn.events() == []


def test_large_server_frames_are_not_copied(impl):
    conn = opened(impl)
    payload = bytes(70000)
    conn.send_binary(payload)
    header, body = conn.data_to_send()
    assert body is payload  # handed to writelines as is
    assert header == b"\x82\x7f" + (70000).to_bytes(8, "big")
    text = "\u20ac" * 2000
    conn.send_text(text)
    header, body = conn.data_to_send()
    assert header == b"\x81\x7e" + (6000).to_bytes(2, "big") and body == text.encode()
    conn.send_binary(b"small")
    assert conn.data_to_send() == [b"\x82\x05small"]


def test_client_frames_are_masked_with_fresh_keys(impl):
    conn = ClientProtocol("ws://h/", impl=impl)
    conn.data_to_send()
    accept = accept_key(conn.handshake.key).encode()
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    assert conn.state is State.OPEN
    conn.send_binary(bytes(70000))
    conn.send_binary(bytes(70000))
    first, second = conn.data_to_send()
    for wire in (first, second):
        assert wire[:2] == b"\x82\xff" and wire[2:10] == (70000).to_bytes(8, "big")  # masked, 64-bit length
        assert len(wire) == 14 + 70000 and xor(wire[14:], wire[10:14]) == bytes(70000)
    assert first[10:14] != second[10:14]  # a fresh key per frame


def _conversation() -> bytes:
    parts = [ClientHandshake("ws://h/chat").request.serialize()]
    for i in range(12):
        parts.append(frame(Opcode.TEXT, f"message {i} \u20ac".encode()))
        if i % 4 == 1:
            parts.append(frame(Opcode.PING, bytes([i])))
        if i % 5 == 2:  # a binary message in fragments of 7 bytes
            pieces = split_at(bytes(range(40)), range(7, 40, 7))
            last = len(pieces) - 1
            parts += [raw_frame(Opcode.CONTINUATION if j else Opcode.BINARY, piece, fin=j == last)
                      for j, piece in enumerate(pieces)]
    parts.append(frame(Opcode.CLOSE, b"\x03\xe8done"))
    return b"".join(parts)


def _run(impl, pieces):
    conn = ServerProtocol(impl=impl, ping_interval=None)
    events, out = [], []
    for piece in pieces:
        for event in conn.receive(piece):
            events.append(event)
            if isinstance(event, Request):
                conn.send_response(conn.accept(event))
                events += conn.events()
        out += conn.data_to_send()
    normalized = [(type(e).__name__, getattr(e, "data", None)) for e in events]
    # the 101 response carries a per-request accept value: compare what follows it
    return normalized, b"".join(out).split(b"\r\n\r\n", 1)[1], conn.state, conn.close_code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_of_a_conversation_gives_the_same_result(impl, data):
    stream = _conversation()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    pieces = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
    assert _run(impl, pieces) == _run(impl, [stream])


def test_a_conversation_one_byte_at_a_time(impl):
    stream = _conversation()
    whole = _run(impl, [stream])
    assert _run(impl, [stream[i:i + 1] for i in range(len(stream))]) == whole
    events, out, state, code = whole
    assert events[0][0] == "Request" and events[-1] == ("Close", b"\x03\xe8done")
    assert sum(1 for e in events if e[0] == "Ping") == 3 and state is State.CLOSED and code == 1000
