"""The sans-I/O connection against real peers, in memory: websockets' and wsproto's sans-I/O
clients and servers talk to our ServerProtocol / ClientProtocol, over both hot-path
implementations. The four ways a connection ends (1000, 1001, 1005, 1006), keepalive on a
fake clock, failure causes, held failures, protocol errors, bad use."""

from __future__ import annotations

import pytest
from _conn_peers import (
    WebsocketsClient,
    WebsocketsServer,
    Wire,
    WsfastEnd,
    WsprotoClient,
    make_pair,
    normalize_wsfast,
)

from wsfast import CloseCode, Opcode, ProtocolError
from wsfast.enums import FailureCause
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    InvalidStatus,
)
from wsfast.http11 import Request
from wsfast.protocol import ClientProtocol, ConnectionFailed, HandshakeFailed, ServerProtocol, State

PAIRS = [("server", "websockets"), ("server", "wsproto"), ("client", "websockets"), ("client", "wsproto")]
IDS = [f"ours={o}-peer={p}" for o, p in PAIRS]


@pytest.fixture(params=PAIRS, ids=IDS)
def pair(request, impl):
    ours, peer = request.param
    wire, me, other = make_pair(ours, peer, impl)
    assert me.conn.implementation == impl.name
    return wire, me, other


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frames_on_wire(raw: bytes, impl, *, from_client: bool):
    """Decode bytes one end wrote, with a parser of the receiving side."""
    return impl.FrameParser(client=not from_client, max_message_size=None).feed(raw)


def close_frames(events):
    return [e for e in events if e[0] == "close"]


# ---------------------------------------------------------------- opening


def test_handshake_with_real_peers(pair):
    wire, me, peer = pair
    ours = wire.events(me)
    theirs = wire.events(peer)
    if isinstance(me.conn, ServerProtocol):
        assert ours == [("request", "/chat")]
        assert theirs == [("open",)]
        assert me.conn.request.headers["Host"] == "example.com"
    else:
        assert ours == [("open",)]
        assert theirs == [("request", "/chat")]
        assert me.conn.response.status == 101
    assert me.conn.state is State.OPEN
    assert me.conn.close_code is None and not me.conn.should_close_transport


@pytest.mark.parametrize("peer", ["websockets", "wsproto"])
def test_server_subprotocol_with_real_clients(impl, peer):
    conn = ServerProtocol(impl=impl, subprotocols=["b", "a"])
    client = WebsocketsClient(subprotocols=["a", "b"]) if peer == "websockets" else WsprotoClient(["a", "b"])
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    assert conn.subprotocol == "b"
    if peer == "websockets":
        assert client.p.subprotocol == "b"
    else:
        assert client.subprotocol == "b"
    assert ("open",) in wire.events(client)


def test_client_subprotocol_with_websockets_server(impl):
    conn = ClientProtocol("ws://example.com/chat", impl=impl, subprotocols=["x", "y"])
    server = WebsocketsServer(subprotocols=["y"])
    wire = Wire(WsfastEnd(conn), server)
    wire.pump()
    assert conn.state is State.OPEN and conn.subprotocol == "y"


# ---------------------------------------------------------------- messages


MESSAGES = [
    ("text", "hello"),
    ("text", ""),
    ("text", "h\u00e9llo \u20ac \U0001f600"),
    ("binary", b"\x00\xff" * 3),
    ("binary", b""),
    ("text", "x" * 5000),  # a 16-bit length, sent as [header, payload] by a server
    ("binary", bytes(range(256)) * 300),  # 76800 bytes: a 64-bit length
]


def _send(end, kind, data):
    if isinstance(end, WsfastEnd):
        (end.conn.send_text if kind == "text" else end.conn.send_binary)(data)
    else:
        (end.send_text if kind == "text" else end.send_binary)(data)


def test_messages_both_ways(pair):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    for kind, data in MESSAGES:
        _send(me, kind, data)
    wire.pump()
    assert wire.events(peer) == MESSAGES
    for kind, data in MESSAGES:
        _send(peer, kind, data)
    wire.pump()
    assert wire.events(me) == MESSAGES
    assert me.conn.state is State.OPEN


def test_send_accepts_str_and_bytes_like(pair):
    wire, me, peer = pair
    wire.events(peer)
    me.conn.send("text")
    me.conn.send(b"bytes")
    me.conn.send_binary(bytearray(b"ba"))
    me.conn.send_binary(memoryview(b"xmvx")[1:3])
    wire.pump()
    assert wire.events(peer) == [("text", "text"), ("binary", b"bytes"), ("binary", b"ba"), ("binary", b"mv")]


def test_fragmented_messages_from_us(pair):
    wire, me, peer = pair
    wire.events(peer)
    me.conn.send_fragments(Opcode.TEXT, "abc\u20acdefghij", 3)
    me.conn.send_fragments(Opcode.BINARY, b"0123456789", 4)
    wire.pump()
    assert wire.events(peer) == [("text", "abc\u20acdefghij"), ("binary", b"0123456789")]


def test_bytes_arriving_one_at_a_time(pair, impl):
    wire, me, peer = pair
    wire.events(me)
    for kind, data in MESSAGES[:5]:
        _send(peer, kind, data)
    peer.ping(b"p")
    raw, _ = peer.out()
    got = []
    for i in range(len(raw)):
        got += me.conn.receive(raw[i:i + 1])  # receive() = receive_data() + events()
    assert [normalize_wsfast(e) for e in got] == MESSAGES[:5] + [("ping", b"p")]


# ---------------------------------------------------------------- ping / pong


def test_peer_ping_is_answered_automatically(pair):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    peer.ping(b"are you there?")
    wire.pump()
    assert wire.events(me) == [("ping", b"are you there?")]
    assert wire.events(peer) == [("pong", b"are you there?")]


def test_our_ping_gets_the_peers_pong(pair):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    assert me.conn.ping(b"1234") == b"1234"
    assert me.conn.ping("\u20ac") == "\u20ac".encode()
    me.conn.pong(b"unsolicited")
    wire.pump()
    assert wire.events(me) == [("pong", b"1234"), ("pong", "\u20ac".encode())]
    theirs = wire.events(peer)
    assert ("ping", b"1234") in theirs and ("pong", b"unsolicited") in theirs


def test_auto_pong_can_be_disabled(impl):
    conn = ServerProtocol(impl=impl, auto_pong=False)
    client = WebsocketsClient()
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    client.ping(b"x")
    wire.pump()
    assert wire.events(client) == [("open",)]  # no pong
    conn.pong(b"x")
    wire.pump()
    assert wire.events(client) == [("pong", b"x")]


# ---------------------------------------------------------------- the four endings: 1000, 1001, 1005, 1006


def _finish(wire, me):
    """Pump until both transports are closed (the server closes first; a client that
    waits for it is released by the server's EOF)."""
    wire.pump()
    assert wire.a.closed and wire.b.closed, (me.conn.state, me.conn.should_close_transport)


def _closed_first(wire):
    return wire.closed_order[0]


@pytest.mark.parametrize("code, reason", [(1000, "done"), (1001, "going away"), (4000, "app code")])
def test_peer_initiates_the_closing_handshake(pair, code, reason):
    """Clean shutdown (1000 both ways), endpoint departure (1001) and application codes: the
    reply carries the same code; the server closes TCP first."""
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    peer.close(code, reason)
    _finish(wire, me)
    ours = wire.events(me)
    assert ours == [("close", code, reason)]  # no ConnectionFailed: a clean ending
    (reply,) = close_frames(wire.events(peer))
    assert reply[1] == code
    assert me.conn.state is State.CLOSED
    assert (me.conn.close_code, me.conn.close_reason) == (code, reason)
    assert me.conn.close_sent == (code, "")
    server = me if isinstance(me.conn, ServerProtocol) else peer
    assert _closed_first(wire) is server


@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "server shutdown"), (3001, "x")])
def test_we_initiate_the_closing_handshake(pair, code, reason):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    me.conn.close(code, reason)
    assert me.conn.state is State.CLOSING
    _finish(wire, me)
    assert close_frames(wire.events(peer)) == [("close", code, reason)]
    (ours,) = wire.events(me)
    assert ours[:2] == ("close", code)  # the peer echoed our code
    assert me.conn.state is State.CLOSED and me.conn.close_code == code
    server = me if isinstance(me.conn, ServerProtocol) else peer
    assert _closed_first(wire) is server


def test_close_without_code_is_reported_as_1005_and_never_sent(pair, impl):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    peer.close(None)
    _finish(wire, me)
    assert wire.events(me) == [("close", 1005, "")]
    assert me.conn.close_code == CloseCode.NO_STATUS_RECEIVED
    # our reply is 1000, and 1005 never appears on the wire
    ours = frames_on_wire(_ws_bytes(wire, me), impl, from_client=isinstance(me.conn, ClientProtocol))
    closes = [e for e in ours if type(e).__name__ == "Close"]
    assert [(int(c.code), bytes(c.data)) for c in closes] == [(1000, b"\x03\xe8")]
    assert close_frames(wire.events(peer)) == [("close", 1000, "")]


def test_we_close_without_a_code(pair, impl):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    me.conn.close(None)
    assert me.conn.close_sent == (None, "")
    _finish(wire, me)
    assert close_frames(wire.events(peer)) == [("close", 1005, "")]  # the peer reports 1005 itself
    ours = frames_on_wire(_ws_bytes(wire, me), impl, from_client=isinstance(me.conn, ClientProtocol))
    closes = [e for e in ours if type(e).__name__ == "Close"]
    assert [bytes(c.data) for c in closes] == [b""]


def test_transport_ends_without_a_close_frame_is_1006(pair):
    wire, me, peer = pair
    wire.events(me)
    peer.send_text("last words")
    wire.pump()
    wire.close_transport(peer)  # the peer vanished: TCP closed, no close frame
    wire.pump()
    assert wire.events(me) == [("text", "last words"), ("failed", 1006)]
    assert me.conn.close_code == CloseCode.ABNORMAL_CLOSURE
    assert me.conn.state is State.CLOSED and me.conn.should_close_transport
    with pytest.raises(ConnectionClosedError) as info:
        me.conn.send_text("anyone?")
    assert info.value.code == 1006


def test_eof_after_our_close_before_the_peers_is_1006(pair):
    wire, me, peer = pair
    wire.events(me)
    me.conn.close()
    me.conn.data_to_send()  # lost
    wire.close_transport(peer)
    wire.pump()
    assert wire.events(me) == [("failed", 1006)]
    assert me.conn.close_code == 1006


def _ws_bytes(wire, end):
    """What `end` wrote after its handshake."""
    raw = wire.sent[id(end)]
    return raw.split(b"\r\n\r\n", 1)[1]


# ---------------------------------------------------------------- after our close


def test_data_after_our_close_is_dropped_until_the_peers_close(pair):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    me.conn.close(1000, "bye")
    our_close = b"".join(me.conn.data_to_send())
    peer.send_text("late message")  # crossed our close on the wire
    peer.send_binary(b"late")
    peer.ping(b"late ping")
    raw, _ = peer.out()
    me.feed(raw)
    assert wire.events(me) == [("ping", b"late ping")]  # data dropped; no pong after our close
    assert me.conn.data_to_send() == []
    peer.feed(our_close)
    _finish(wire, me)
    assert close_frames(wire.events(me)) == [("close", 1000, "bye")]
    assert me.conn.state is State.CLOSED and me.conn.close_code == 1000


def test_nothing_is_delivered_after_the_peers_close(impl):
    conn = ServerProtocol(impl=impl)
    client = WebsocketsClient()
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    conn.events()
    one = impl.encode_frame(Opcode.TEXT, b"one", mask=True)
    close = impl.encode_frame(Opcode.CLOSE, b"\x03\xe8", mask=True)
    two = impl.encode_frame(Opcode.TEXT, b"two", mask=True)
    conn.receive_data(one + close + two)
    conn.receive_data(two)
    assert [type(e).__name__ for e in conn.events()] == ["TextMessage", "Close"]
    assert conn.state is State.CLOSED and conn.should_close_transport


# ---------------------------------------------------------------- protocol errors


def _inject(me, impl, opcode, payload, *, rsv1=False, wrong_mask=False):
    """Bytes as the peer would send them (masked iff the peer is a client)."""
    peer_is_client = isinstance(me.conn, ServerProtocol)
    if wrong_mask:
        peer_is_client = not peer_is_client
    return impl.encode_frame(opcode, payload, mask=True if peer_is_client else None, rsv1=rsv1)


@pytest.mark.parametrize("case, code", [
    ("invalid utf-8", 1007),
    ("reserved opcode", 1002),
    ("wrong masking", 1002),
    ("rsv1 without extension", 1002),
    ("stray continuation", 1002),
    ("bad close code", 1002),
    ("too big", 1009),
])
def test_protocol_errors_close_with_their_code(pair, impl, case, code):
    wire, me, peer = pair
    wire.events(me), wire.events(peer)
    if case == "too big":
        _send(peer, "binary", b"x" * (2**20 + 1))  # over the default max_message_size
        raw, _ = peer.out()
    else:
        raw = {
            "invalid utf-8": lambda: _inject(me, impl, Opcode.TEXT, b"ok \xff\xfe"),
            "reserved opcode": lambda: bytes([0x83]) + _inject(me, impl, Opcode.TEXT, b"")[1:],
            "wrong masking": lambda: _inject(me, impl, Opcode.TEXT, b"abc", wrong_mask=True),
            "rsv1 without extension": lambda: _inject(me, impl, Opcode.TEXT, b"abc", rsv1=True),
            "stray continuation": lambda: _inject(me, impl, Opcode.CONTINUATION, b"abc"),
            "bad close code": lambda: _inject(me, impl, Opcode.CLOSE, b"\x03\xed"),
        }[case]()
    me.feed(_inject(me, impl, Opcode.TEXT, b"before") + raw)
    evs = wire.events(me)
    assert evs[-1] == ("failed", code)
    assert evs[0] == ("text", "before")  # what came before the violation is delivered
    assert me.conn.state is State.CLOSING
    assert me.conn.close_code == code
    failed = me.raw_events[-1]
    assert isinstance(failed, ConnectionFailed) and failed.error.close_code == code
    _finish(wire, me)
    assert close_frames(wire.events(peer))[0][1] == code  # our close frame carried the code
    assert me.conn.state is State.CLOSED and me.conn.close_code == code  # EOF does not rewrite it


@pytest.mark.parametrize("limit", [10, 1000])
def test_max_message_size_is_configurable(impl, limit):
    conn = ServerProtocol(impl=impl, max_message_size=limit)
    client = WebsocketsClient()
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    client.send_binary(b"x" * limit)
    client.send_binary(b"x" * (limit + 1))
    wire.pump()
    assert wire.events(wire.a) == [("request", "/chat"), ("binary", b"x" * limit), ("failed", 1009)]


# ---------------------------------------------------------------- keepalive


@pytest.fixture(params=PAIRS, ids=IDS)
def clocked_pair(request, impl):
    clock = FakeClock()
    wire, me, peer = make_pair(*request.param, impl, ping_interval=10.0, ping_timeout=5.0,
                               close_timeout=3.0, clock=clock)
    wire.events(me), wire.events(peer)
    return wire, me, peer, clock


def test_keepalive_ping_and_pong(clocked_pair):
    wire, me, peer, clock = clocked_pair
    conn = me.conn
    assert conn.next_deadline() == 10.0
    clock.now = 9.9
    conn.tick()
    assert conn.data_to_send() == []
    clock.now = 10.0
    conn.tick()
    assert conn.next_deadline() == 15.0  # the pong deadline comes before the next ping (20)
    wire.pump()
    (pong,) = wire.events(me)
    assert pong[0] == "pong" and len(pong[1]) == 4
    assert conn.next_deadline() == 20.0  # the pong cleared the deadline
    clock.now = 25.0
    conn.tick()
    assert conn.state is State.OPEN and conn.next_deadline() == 30.0


def test_missing_pong_fails_with_1011(clocked_pair):
    wire, me, peer, clock = clocked_pair
    conn = me.conn
    clock.now = 10.0
    conn.tick()
    conn.data_to_send()  # the ping is lost: a half-open connection
    clock.now = 14.9
    conn.tick(14.9)
    assert conn.state is State.OPEN
    clock.now = 15.0
    conn.tick()
    assert wire.events(me) == [("failed", 1011)]
    assert conn.close_code == CloseCode.INTERNAL_ERROR
    assert conn.close_reason == "keepalive ping timeout"
    assert conn.state is State.CLOSING and conn.should_close_transport
    wire.pump()
    assert close_frames(wire.events(peer))[:1] == [("close", 1011, "keepalive ping timeout")]


def test_keepalive_can_be_disabled(impl):
    conn = ServerProtocol(impl=impl, ping_interval=None)
    wire = Wire(WsfastEnd(conn), WebsocketsClient())
    wire.pump()
    assert conn.next_deadline() is None
    conn.tick(1e9)
    assert conn.data_to_send() == [] and conn.state is State.OPEN


def test_close_timeout_when_the_peer_never_answers(clocked_pair):
    wire, me, peer, clock = clocked_pair
    conn = me.conn
    clock.now = 1.0
    conn.close()
    conn.data_to_send()  # lost
    assert conn.next_deadline() == 4.0
    conn.tick(3.9)
    assert not conn.should_close_transport
    conn.tick(4.0)
    assert conn.should_close_transport and conn.next_deadline() is None
    wire.close_transport(me)
    assert wire.events(me) == [("failed", 1006)]


def test_client_waits_for_the_server_to_close_tcp(impl):
    clock = FakeClock()
    conn = ClientProtocol("ws://example.com/chat", impl=impl, close_timeout=3.0, clock=clock)
    server = WebsocketsServer()
    wire = Wire(WsfastEnd(conn), server)
    wire.pump()
    server.close(1000)
    raw, _ = server.out()  # the close frame, but the server's EOF never comes
    conn.receive_data(raw)
    assert conn.state is State.CLOSED and not conn.should_close_transport
    assert conn.next_deadline() == 3.0
    conn.tick(3.0)
    assert conn.should_close_transport


# ---------------------------------------------------------------- bad use


def test_bad_use_raises_and_writes_nothing(pair):
    wire, me, peer = pair
    conn = me.conn
    bad = [
        (lambda: conn.send_text(b"bytes"), TypeError),
        (lambda: conn.send_text(None), TypeError),
        (lambda: conn.send_text("\ud800"), UnicodeEncodeError),
        (lambda: conn.send_binary("str"), TypeError),
        (lambda: conn.send_binary(42), TypeError),
        (lambda: conn.ping(b"x" * 126), ValueError),
        (lambda: conn.pong("\u20ac" * 42), ValueError),
        (lambda: conn.ping(3.5), TypeError),
        (lambda: conn.close(1005), ValueError),
        (lambda: conn.close(1006), ValueError),
        (lambda: conn.close(1015), ValueError),
        (lambda: conn.close(999), ValueError),
        (lambda: conn.close(1000, "r" * 124), ValueError),
        (lambda: conn.close(None, "reason"), ValueError),
        (lambda: conn.send_fragments(Opcode.TEXT, b"x", 1), TypeError),
    ]
    for call, error in bad:
        with pytest.raises(error):
            call()
        assert conn.data_to_send() == []
        assert conn.state is State.OPEN
    conn.ping(b"x" * 125)  # the limit itself is fine
    assert len(b"".join(conn.data_to_send())) == (131 if isinstance(conn, ClientProtocol) else 127)


def test_sending_after_close_is_a_clear_error(pair):
    wire, me, peer = pair
    conn = me.conn
    conn.close(1001, "leaving")
    close_bytes = conn.data_to_send()
    for call in (lambda: conn.send_text("x"), lambda: conn.send_binary(b"x"), lambda: conn.ping(),
                 lambda: conn.pong(), lambda: conn.close()):
        with pytest.raises(ConnectionClosed) as info:
            call()
        assert isinstance(info.value, ConnectionClosedOK) and info.value.code == 1001
        assert conn.data_to_send() == []
    assert len(close_bytes) == 1


def test_sending_before_the_handshake(impl):
    conn = ServerProtocol(impl=impl)
    with pytest.raises(InvalidState):
        conn.send_text("too early")
    with pytest.raises(InvalidState):
        conn.close()
    assert conn.data_to_send() == []
    client = ClientProtocol("ws://h/", impl=impl)
    with pytest.raises(InvalidState):
        client.ping()
    assert client.bytes_to_send().startswith(b"GET / HTTP/1.1\r\n")


def test_receive_after_eof_is_an_error(impl):
    conn = ServerProtocol(impl=impl)
    conn.receive_eof()
    with pytest.raises(InvalidState):
        conn.receive_data(b"x")


# ---------------------------------------------------------------- handshake failures end to end


@pytest.mark.parametrize("peer", ["websockets", "wsproto"])
def test_server_rejects_a_real_client(impl, peer):
    conn = ServerProtocol(impl=impl, origins=["https://allowed.example"])
    client = WebsocketsClient(origin="https://evil.example") if peer == "websockets" else WsprotoClient()
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    assert [type(e) for e in wire.a.raw_events] == [Request]  # surfaced; accept() refuses it
    assert conn.handshake_exc.status == 403 and conn.response.status == 403
    assert wire.events(client)[:1] == [("handshake_failed", 403)]
    assert conn.state is State.CLOSED and wire.a.closed


def test_client_reports_a_rejection(impl):
    conn = ClientProtocol("ws://example.com/chat", impl=impl, origin="https://evil.example")
    server = WebsocketsServer(origins=["https://allowed.example"])
    wire = Wire(WsfastEnd(conn), server)
    wire.pump()
    (failed,) = wire.a.raw_events
    assert isinstance(failed, HandshakeFailed) and isinstance(failed.error, InvalidStatus)
    assert failed.response.status == 403 and conn.state is State.CLOSED and conn.should_close_transport


def test_client_reports_eof_during_the_handshake(impl):
    conn = ClientProtocol("ws://example.com/chat", impl=impl)
    conn.data_to_send()
    conn.receive_data(b"HTTP/1.1 101 Switching")
    conn.receive_eof()
    (failed,) = conn.events()
    assert isinstance(failed, HandshakeFailed) and "during the handshake" in str(failed.error)
    assert conn.state is State.CLOSED


def test_frames_right_after_the_101(impl):
    """A server may send frames in the same segment as its 101."""
    server = WebsocketsServer()
    conn = ClientProtocol("ws://example.com/chat", impl=impl)
    server.feed(b"".join(conn.data_to_send()))
    server.events()
    server.send_text("welcome")
    raw, _ = server.out()
    conn.receive_data(raw)
    evs = conn.events()
    assert [type(e).__name__ for e in evs] == ["Response", "TextMessage"] and evs[1].data == "welcome"


# ---------------------------------------------------------------- failure causes


def _opened_server(impl, **options):
    """A ServerProtocol past its handshake, and the client key its peer would mask with."""
    conn = ServerProtocol(impl=impl, **options)
    client = WebsocketsClient()
    wire = Wire(WsfastEnd(conn), client)
    wire.pump()
    wire.events(wire.a), wire.events(client)
    return conn, wire, client


def test_each_failure_says_its_cause(impl):
    from wsfast.enums import FailureCause

    # a protocol error
    conn, wire, client = _opened_server(impl)
    conn.receive_data(impl.encode_frame(Opcode.TEXT, b"\xff", mask=True))
    (failed,) = conn.events()
    assert (failed.code, failed.cause) == (1007, FailureCause.PROTOCOL_ERROR)
    assert isinstance(failed.error, ProtocolError) and conn.failure is failed
    exc = conn.close_exc
    assert isinstance(exc, ConnectionClosedError) and exc.cause is FailureCause.PROTOCOL_ERROR
    assert exc.code == 1007 and exc.__cause__ is failed.error

    # a keepalive timeout (1011 too, but not an internal error)
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=1.0, ping_timeout=1.0, clock=clock)
    conn.tick(1.0)
    conn.data_to_send()
    conn.tick(2.0)
    (failed,) = conn.events()
    assert (failed.code, failed.cause, failed.error) == (1011, FailureCause.KEEPALIVE_TIMEOUT, None)

    # an internal error reported by the I/O layer (e.g. out of memory)
    conn, wire, client = _opened_server(impl)
    error = MemoryError()
    conn.fail(1011, "out of memory", FailureCause.INTERNAL_ERROR, error)
    (failed,) = conn.events()
    assert (failed.code, failed.cause, failed.error) == (1011, FailureCause.INTERNAL_ERROR, error)
    assert conn.should_close_transport and conn.close_exc.__cause__ is error

    # EOF without a close frame
    conn, wire, client = _opened_server(impl)
    conn.receive_eof()
    (failed,) = conn.events()
    assert (failed.code, failed.cause, failed.error) == (1006, FailureCause.EOF, None)

    # the transport ended by an error (a reset, ETIMEDOUT from TCP keep-alive): kept as the cause
    conn, wire, client = _opened_server(impl)
    error = TimeoutError(110, "Connection timed out")
    conn.receive_eof(error)
    (failed,) = conn.events()
    assert (failed.code, failed.cause, failed.error) == (1006, FailureCause.EOF, error)
    assert "Connection timed out" in failed.reason and conn.close_exc.__cause__ is error

    # our close frame unanswered until close_timeout, then the transport is dropped
    conn, wire, client = _opened_server(impl, close_timeout=2.0, clock=clock)
    clock.now = 10.0
    conn.close()
    conn.tick(12.0)
    assert conn.should_close_transport and conn.events() == []
    conn.receive_eof()
    (failed,) = conn.events()
    assert (failed.code, failed.cause) == (1006, FailureCause.CLOSE_TIMEOUT)

    # a clean closing handshake has no cause
    conn, wire, client = _opened_server(impl)
    client.close(1000)
    wire.pump()
    assert conn.failure is None
    assert isinstance(conn.close_exc, ConnectionClosedOK) and conn.close_exc.cause is None


def test_a_memory_error_in_the_parser_fails_with_1011(impl):
    import types

    from wsfast.enums import FailureCause

    class Exhausted:
        control_frames = 0

        def __init__(self, **options):
            pass

        def feed(self, data):
            raise MemoryError

    starved = types.SimpleNamespace(**vars(impl))
    starved.FrameParser = Exhausted
    for method in ("receive_data", "receive"):
        conn, wire, client = _opened_server(starved)
        getattr(conn, method)(b"\x81\x80\x00\x00\x00\x00")
        failed = conn.failure
        assert (failed.code, failed.cause) == (1011, FailureCause.INTERNAL_ERROR)
        assert isinstance(failed.error, MemoryError)
        assert b"".join(conn.data_to_send())[:4] == b"\x88\x0f\x03\xf3"  # close 1011 "out of memory"


# ---------------------------------------------------------------- holding a failure back


def _close_code_sent(conn) -> int:
    """The code of the (unmasked, server) close frame conn queued."""
    (frame,) = conn.data_to_send()
    assert frame[0] == 0x88
    return int.from_bytes(frame[2:4], "big")


def test_a_held_failure_waits_for_release(impl):
    from wsfast.enums import FailureCause

    clock = FakeClock()
    conn, wire, client = _opened_server(impl, hold_failure=True, close_timeout=5.0, clock=clock)
    good = b"".join(impl.encode_frame(Opcode.TEXT, text, mask=True) for text in (b"one", b"two"))
    conn.receive_data(good + impl.encode_frame(Opcode.TEXT, b"\xff", mask=True))
    events = conn.events()
    assert [e.data for e in events[:2]] == ["one", "two"]
    assert events[2].cause is FailureCause.PROTOCOL_ERROR and conn.failure_held
    assert conn.data_to_send() == [] and not conn.should_close_transport
    assert conn.next_deadline() == 5.0
    conn.send_text("echo of one")  # answering what came before the violation is still allowed
    conn.send_text("echo of two")
    conn.release_failure()
    assert not conn.failure_held and conn.should_close_transport
    wire.pump()
    got = wire.events(client)
    assert got[:2] == [("text", "echo of one"), ("text", "echo of two")]
    assert close_frames(got) == [("close", 1007, "invalid UTF-8 in a text message")]
    with pytest.raises(ConnectionClosedError):
        conn.send_text("too late")


def test_a_held_failure_is_released_at_the_deadline(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, hold_failure=True, close_timeout=5.0, clock=clock)
    clock.now = 100.0
    conn.receive_data(impl.encode_frame(Opcode.TEXT, b"one", mask=True) + b"\x83\x80\x00\x00\x00\x00")
    conn.events()
    assert conn.failure_held and conn.next_deadline() == 105.0
    conn.tick(104.9)
    assert conn.failure_held and conn.data_to_send() == []
    conn.tick(105.0)
    assert not conn.failure_held and conn.should_close_transport
    assert _close_code_sent(conn) == 1002


def test_without_hold_failure_the_close_goes_out_at_once(impl):
    conn, wire, client = _opened_server(impl)
    conn.receive_data(impl.encode_frame(Opcode.TEXT, b"one", mask=True) + b"\x83\x80\x00\x00\x00\x00")
    assert not conn.failure_held and conn.should_close_transport
    assert _close_code_sent(conn) == 1002
    # closing while a failure is held sends the failure's own close frame
    conn, wire, client = _opened_server(impl, hold_failure=True)
    conn.receive_data(b"\x83\x80\x00\x00\x00\x00")
    assert conn.failure_held
    conn.close(1000)
    assert _close_code_sent(conn) == 1002 and conn.should_close_transport


# ---------------------------------------------------------------- which pongs keep a peer alive


def test_only_a_matching_pong_answers_the_keepalive_ping(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=10.0, ping_timeout=5.0, clock=clock)
    conn.tick(10.0)
    (ping,) = frames_on_wire(b"".join(conn.data_to_send()), impl, from_client=False)
    assert len(ping.data) == 4
    clock.now = 12.0
    conn.receive_data(impl.encode_frame(Opcode.PONG, b"", mask=True))  # unsolicited: answers nothing
    conn.receive_data(impl.encode_frame(Opcode.PONG, b"othr", mask=True))  # not our payload
    assert conn.acknowledged_pings() == [] and conn.next_deadline() == 15.0
    conn.receive_data(impl.encode_frame(Opcode.PONG, ping.data, mask=True))
    assert conn.acknowledged_pings() == [(ping.data, 2.0)]
    assert conn.next_deadline() == 20.0  # only the next ping is due


def test_a_pong_flood_does_not_keep_a_silent_peer_alive(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=10.0, ping_timeout=5.0, clock=clock)
    conn.tick(10.0)
    conn.data_to_send()  # the peer never reads our ping
    for t in range(11, 15):
        clock.now = float(t)
        conn.receive_data(impl.encode_frame(Opcode.PONG, b"alive", mask=True) * 100)
        conn.tick()
    assert conn.state is State.OPEN
    conn.tick(15.0)
    assert conn.failure is not None and conn.failure.code == 1011


def test_a_pong_answers_its_ping_and_every_earlier_one(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=None, clock=clock)
    first = conn.ping()
    clock.now = 1.0
    conn.ping(b"second")
    clock.now = 2.0
    conn.ping("third")
    with pytest.raises(ValueError):
        conn.ping(b"second")  # still waiting
    clock.now = 3.0
    conn.receive_data(impl.encode_frame(Opcode.PONG, b"second", mask=True))
    assert conn.acknowledged_pings() == [(first, 3.0), (b"second", 2.0)]
    conn.receive_data(impl.encode_frame(Opcode.PONG, b"third", mask=True))
    assert conn.acknowledged_pings() == [(b"third", 1.0)]
    assert conn.acknowledged_pings() == []


def test_write_progress_keeps_a_draining_peer_alive(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=10.0, ping_timeout=5.0, clock=clock)
    conn.tick(10.0)
    assert conn.next_deadline() == 15.0
    conn.write_progress(13.0)  # our reads are paused, but the peer took some of our bytes
    assert conn.next_deadline() == 18.0
    conn.tick(17.9)
    assert conn.state is State.OPEN
    conn.tick(18.0)
    assert conn.failure is not None and conn.failure.code == 1011


def test_application_behind_defers_the_pong_deadline_until_reading_resumes(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=10.0, ping_timeout=5.0, clock=clock)
    conn.tick(10.0)
    conn.application_behind(12.0)  # reads paused: the pong may be queued behind unread messages
    conn.application_behind(14.0)
    assert conn.next_deadline() == 19.0
    conn.application_behind(13.0)  # never earlier than a deadline already granted
    assert conn.next_deadline() == 19.0
    conn.tick(18.9)
    assert conn.state is State.OPEN
    conn.tick(19.0)  # the application caught up, reading resumed, still no pong
    assert conn.failure is not None and conn.failure.cause is FailureCause.KEEPALIVE_TIMEOUT


def test_deferring_without_a_pending_ping_does_nothing(impl):
    clock = FakeClock()
    conn, wire, client = _opened_server(impl, ping_interval=10.0, ping_timeout=5.0, clock=clock)
    conn.write_progress(3.0)
    conn.application_behind(4.0)
    assert conn.next_deadline() == 10.0  # the next ping, nothing else


# ---------------------------------------------------------------- the frame writer


def test_fragmented_sends_with_fin(pair):
    wire, me, peer = pair
    wire.events(peer)
    conn = me.conn
    conn.send_text("abc", fin=False)
    conn.ping(b"between")  # control frames may come between fragments
    with pytest.raises(InvalidState):
        conn.send_binary(b"no")  # a new message inside a fragmented one
    with pytest.raises(TypeError):
        conn.send_continuation(b"bytes in a text message", fin=True)
    conn.send_continuation("def", fin=False)
    conn.send_continuation("\u20ac", fin=True)
    conn.send_binary(b"01", fin=False)
    conn.send_continuation(b"23", fin=True)
    with pytest.raises(InvalidState):
        conn.send_continuation(b"nothing to continue", fin=True)
    wire.pump()
    got = [e for e in wire.events(peer) if e[0] not in ("ping", "pong")]
    assert got == [("text", "abcdef\u20ac"), ("binary", b"0123")]


def test_send_encoded_shares_one_frame(impl):
    frame = impl.encode_frame(Opcode.TEXT, "to everyone")
    conns = [_opened_server(impl) for _ in range(3)]
    for conn, _wire, client in conns:
        conn.send_encoded(frame)
        out = conn.data_to_send()
        assert out == [frame] and out[0] is frame  # the same object, no copy
        client.feed(out[0])
        assert client.events() == [("text", "to everyone")]
    conn, wire, client = conns[0]
    for bad in (b"\x01\x02ab", impl.encode_frame(Opcode.TEXT, "x", mask=True), bytearray(frame),
                impl.encode_frame(Opcode.PING, b"")):
        with pytest.raises(ValueError):
            conn.send_encoded(bad)
    conn.send_text("a", fin=False)
    with pytest.raises(InvalidState):
        conn.send_encoded(frame)  # inside a fragmented message
    conn.send_continuation("b", fin=True)
    conn.close()
    with pytest.raises(ConnectionClosed):
        conn.send_encoded(frame)
    client_conn = ClientProtocol("ws://h/", impl=impl)
    with pytest.raises(InvalidState):
        client_conn.send_encoded(frame)  # clients mask every frame
