"""permessage-deflate negotiation (RFC 7692 sections 5 and 7.1) and its use by the sans-I/O protocol.

The table tests call the negotiation objects directly: every parameter
offered, accepted and declined, malformed, repeated and out of range. The
protocol tests run our ServerProtocol / ClientProtocol against websockets' and
wsproto's sans-I/O peers in memory, with their permessage-deflate, on both
hot-path implementations, and look at the frames on the wire.
"""

from __future__ import annotations

import struct
import zlib
from typing import List, Optional, Tuple

import pytest
from _conn_peers import (
    URI,
    WebsocketsClient,
    WebsocketsServer,
    Wire,
    WsfastEnd,
    WsprotoClient,
    WsprotoServer,
)
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from wsproto.extensions import PerMessageDeflate as WsprotoDeflate

from wsfast.exceptions import InvalidExtension, InvalidState
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflate,
    DeflateOptions,
    PerMessageDeflate,
    ServerPerMessageDeflate,
    deflate_options,
)
from wsfast.handshake import ClientHandshake
from wsfast.headers import format_extensions, parse_extensions
from wsfast.http11 import Response
from wsfast.protocol import ClientProtocol, HandshakeFailed, ServerProtocol, State

# ---------------------------------------------------------------- the server's answer


def offers(header: str):
    return [params for name, params in parse_extensions(header) if name == "permessage-deflate"]


def answer(header: str, **options) -> Tuple[Optional[str], Optional[PerMessageDeflate]]:
    result = ServerPerMessageDeflate(DeflateOptions(**options)).negotiate(offers(header))
    if result is None:
        return None, None
    params, agreed = result
    return format_extensions([("permessage-deflate", params)]), agreed


PMD = "permessage-deflate"

# (server options, the client's offer, our response or None = declined,
#  agreed (remote_nct, local_nct, remote_bits, local_bits))
SERVER_TABLE = [
    ({}, PMD, f"{PMD}; server_max_window_bits=12", (False, False, 15, 12)),
    ({}, f"{PMD}; client_max_window_bits",  # Chromium's offer
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=12", (False, False, 12, 12)),
    ({}, f"{PMD}; client_max_window_bits=10",
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=10", (False, False, 10, 12)),
    ({}, f'{PMD}; client_max_window_bits="13"',
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=12", (False, False, 12, 12)),
    ({}, f"{PMD}; server_max_window_bits=10", f"{PMD}; server_max_window_bits=10", (False, False, 15, 10)),
    ({}, f"{PMD}; server_max_window_bits=15", f"{PMD}; server_max_window_bits=12", (False, False, 15, 12)),
    ({}, f"{PMD}; server_max_window_bits=8",  # accepted; we then send uncompressed
     f"{PMD}; server_max_window_bits=8", (False, False, 15, 8)),
    ({}, f"{PMD}; client_max_window_bits=8",
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=8", (False, False, 8, 12)),
    ({}, f"{PMD}; server_no_context_takeover",
     f"{PMD}; server_no_context_takeover; server_max_window_bits=12", (False, True, 15, 12)),
    ({}, f"{PMD}; client_no_context_takeover",
     f"{PMD}; client_no_context_takeover; server_max_window_bits=12", (True, False, 15, 12)),
    ({}, f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
         f"client_max_window_bits=11",
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
     f"client_max_window_bits=11", (True, True, 11, 9)),
    ({"server_no_context_takeover": True}, PMD,
     f"{PMD}; server_no_context_takeover; server_max_window_bits=12", (False, True, 15, 12)),
    ({"client_no_context_takeover": True}, PMD,
     f"{PMD}; client_no_context_takeover; server_max_window_bits=12", (True, False, 15, 12)),
    ({"server_max_window_bits": 15, "client_max_window_bits": 15}, f"{PMD}; client_max_window_bits",
     PMD, (False, False, 15, 15)),
    ({"server_max_window_bits": 9, "client_max_window_bits": 9}, f"{PMD}; client_max_window_bits=15",
     f"{PMD}; server_max_window_bits=9; client_max_window_bits=9", (False, False, 9, 9)),
    # several offers, in the client's order: the first we can honour wins
    ({}, f"{PMD}; x-unknown, {PMD}; client_max_window_bits=9",
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=9", (False, False, 9, 12)),
    ({}, f"{PMD}; server_max_window_bits=10, {PMD}", f"{PMD}; server_max_window_bits=10",
     (False, False, 15, 10)),
]


@pytest.mark.parametrize("options, offer, response, agreed", SERVER_TABLE,
                         ids=[f"{i}" for i in range(len(SERVER_TABLE))])
def test_server_answers(options, offer, response, agreed):
    got, params = answer(offer, **options)
    assert got == response
    assert params is not None
    assert (params.remote_no_context_takeover, params.local_no_context_takeover,
            params.remote_max_window_bits, params.local_max_window_bits) == agreed
    assert params.compresses == (agreed[3] > 8)
    assert format_extensions([(PMD, params.params)]) == response


DECLINED = [
    f"{PMD}; x-unknown",  # a parameter RFC 7692 does not define
    f"{PMD}; server_max_window_bits",  # needs a value
    f"{PMD}; server_max_window_bits=7",  # out of range
    f"{PMD}; server_max_window_bits=16",
    f"{PMD}; server_max_window_bits=09",  # no leading zeros
    f"{PMD}; server_max_window_bits=+9",
    f"{PMD}; client_max_window_bits=7",
    f"{PMD}; client_max_window_bits=abc",
    f"{PMD}; server_no_context_takeover; server_no_context_takeover",  # twice
    f"{PMD}; client_max_window_bits; client_max_window_bits=10",
    f"{PMD}; client_no_context_takeover=1",  # takes no value
    f"{PMD}; x-unknown, {PMD}; server_max_window_bits=99",  # every offer bad: declined
]


@pytest.mark.parametrize("offer", DECLINED)
def test_server_declines_offers_it_cannot_honour(offer):
    assert answer(offer) == (None, None)


# ---------------------------------------------------------------- the client's offer and check


@pytest.mark.parametrize("options, offer", [
    ({}, f"{PMD}; client_max_window_bits=12"),
    ({"client_max_window_bits": 15}, f"{PMD}; client_max_window_bits"),
    ({"client_max_window_bits": 9}, f"{PMD}; client_max_window_bits=9"),
    ({"server_max_window_bits": 10, "server_no_context_takeover": True, "client_no_context_takeover": True},
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
     f"client_max_window_bits=12"),
])
def test_client_offers(options, offer):
    assert format_extensions([(PMD, ClientPerMessageDeflate(DeflateOptions(**options)).offer())]) == offer


def test_client_header_adds_an_offer_consenting_to_client_no_context_takeover():
    # Autobahn's test server only accepts client_no_context_takeover requests from offers that
    # carry it; the first offer is the one every other server takes
    assert ClientHandshake(URI, extensions=[ClientPerMessageDeflate()]).request.headers[
        "Sec-WebSocket-Extensions"] == (f"{PMD}; client_max_window_bits=12, "
                                        f"{PMD}; client_no_context_takeover; client_max_window_bits=12")
    assert ClientHandshake(URI, extensions=[ClientPerMessageDeflate(DeflateOptions(
        client_no_context_takeover=True))]).request.headers["Sec-WebSocket-Extensions"] == (
        f"{PMD}; client_no_context_takeover; client_max_window_bits=12")
    # our own server takes the first: the client keeps its context
    header = ClientHandshake(URI, extensions=[ClientPerMessageDeflate()]).request.headers[
        "Sec-WebSocket-Extensions"]
    params, agreed = ServerPerMessageDeflate().negotiate(offers(header))
    assert not agreed.remote_no_context_takeover


# (client options, the server's response parameters, agreed (remote_nct, local_nct, remote_bits,
#  local_bits), or the error the handshake fails with)
CLIENT_TABLE = [
    ({}, "", (False, False, 15, 12)),
    ({}, "server_max_window_bits=10", (False, False, 10, 12)),
    ({}, "client_max_window_bits=9", (False, False, 15, 9)),
    ({}, "client_max_window_bits=12", (False, False, 15, 12)),
    ({}, "client_max_window_bits=8", (False, False, 15, 8)),
    ({}, "client_no_context_takeover", (False, True, 15, 12)),
    ({}, "server_no_context_takeover", (True, False, 15, 12)),
    ({}, "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; "
         "client_max_window_bits=10", (True, True, 8, 10)),
    ({"client_no_context_takeover": True}, "", (False, True, 15, 12)),
    ({"client_max_window_bits": 15}, "client_max_window_bits=15", (False, False, 15, 15)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=10", (False, False, 10, 12)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=9", (False, False, 9, 12)),
    ({"server_no_context_takeover": True}, "server_no_context_takeover", (True, False, 15, 12)),
    ({}, "client_max_window_bits=13", (False, False, 15, 12)),  # a maximum: we still use our 12
    ({}, "client_max_window_bits", "needs a value in a response"),
    ({}, "x-unknown", "unknown parameter x-unknown"),
    ({}, "server_max_window_bits=16", "not a window size"),
    ({}, "server_max_window_bits=9; server_max_window_bits=9", "duplicate parameter"),
    ({}, "server_no_context_takeover=yes", "takes no value"),
    ({"server_max_window_bits": 10}, "", "did not accept server_max_window_bits=10"),
    ({"server_max_window_bits": 10}, "server_max_window_bits=11", "more than the 10 we asked for"),
    ({"server_no_context_takeover": True}, "", "did not accept server_no_context_takeover"),
]


@pytest.mark.parametrize("options, response, expected", CLIENT_TABLE,
                         ids=[f"{i}" for i in range(len(CLIENT_TABLE))])
def test_client_checks_the_answer(options, response, expected):
    handshake = ClientHandshake(URI, extensions=[ClientPerMessageDeflate(DeflateOptions(**options))])
    header = f"{PMD}; {response}" if response else PMD
    if isinstance(expected, str):
        with pytest.raises(InvalidExtension, match=expected):
            handshake._extensions(headers_with(header))
        return
    (params,) = handshake._extensions(headers_with(header))
    assert (params.remote_no_context_takeover, params.local_no_context_takeover,
            params.remote_max_window_bits, params.local_max_window_bits) == expected


def headers_with(value: str):
    from wsfast.headers import Headers

    return Headers([("Sec-WebSocket-Extensions", value)])


def test_response_accepting_deflate_twice_or_unoffered_fails():
    handshake = ClientHandshake(URI, extensions=[ClientPerMessageDeflate()])
    with pytest.raises(InvalidExtension, match="accepted twice"):
        handshake._extensions(headers_with(f"{PMD}, {PMD}"))
    with pytest.raises(InvalidExtension, match="did not offer"):
        ClientHandshake(URI)._extensions(headers_with(PMD))


def test_options_checks():
    assert deflate_options("deflate") == DeflateOptions()
    assert deflate_options(None) is None
    custom = DeflateOptions(level=1)
    assert deflate_options(custom) is custom
    with pytest.raises(ValueError):
        deflate_options("gzip")
    for bad in ({"server_max_window_bits": 7}, {"client_max_window_bits": 16}, {"level": 10}, {"level": -2},
                {"mem_level": 0}, {"mem_level": 10}, {"min_size": -1}):
        with pytest.raises(ValueError):
            DeflateOptions(**bad)
    for bad in ({"server_max_window_bits": "12"}, {"level": 1.5}, {"min_size": True}):
        with pytest.raises(TypeError):
            DeflateOptions(**bad)


# ---------------------------------------------------------------- the protocol, against real peers


def frames(raw: bytes, *, masked: bool) -> List[Tuple[int, int, bytes]]:
    """(first header byte, opcode, payload) of every frame in bytes one end wrote (after the head)."""
    if raw.startswith((b"GET ", b"HTTP/")):
        raw = raw[raw.index(b"\r\n\r\n") + 4:]
    out = []
    pos = 0
    while pos < len(raw):
        b0, b1 = raw[pos], raw[pos + 1]
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", raw, pos), pos + 2
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", raw, pos), pos + 8
        key = raw[pos:pos + 4] if masked else b"\0\0\0\0"
        pos += 4 if masked else 0
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(raw[pos:pos + n]))
        out.append((b0, b0 & 0x0F, payload))
        pos += n
    return out


def open_pair(ours: str, peer_end, impl, **options):
    conn = (ServerProtocol(impl=impl, **options) if ours == "server"
            else ClientProtocol(URI, impl=impl, **options))
    me = WsfastEnd(conn)
    wire = Wire(me, peer_end)
    wire.pump()
    assert conn.state is State.OPEN, wire.events(me)
    wire.events(me)
    wire.events(peer_end)
    return wire, me, peer_end


PEERS = {
    ("server", "websockets"): lambda: WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()]),
    ("server", "wsproto"): lambda: WsprotoClient(extensions=[WsprotoDeflate()]),
    ("client", "websockets"): lambda: WebsocketsServer(extensions=[ServerPerMessageDeflateFactory()]),
    ("client", "wsproto"): lambda: WsprotoServer(extensions=[WsprotoDeflate()]),
}


@pytest.mark.parametrize("ours, peer", list(PEERS), ids=[f"ours={o}-peer={p}" for o, p in PEERS])
def test_messages_both_ways_are_compressed(impl, ours, peer):
    wire, me, other = open_pair(ours, PEERS[ours, peer](), impl)
    assert me.conn.deflate is not None
    texts = [f'{{"id": {i}, "kind": "update", "text": "hello hello hello"}}' for i in range(5)]
    for text in texts:
        me.conn.send_text(text)
        other.send_text(text)
    me.conn.send_binary(bytes(3000))
    other.send_binary(bytes(3000))
    me.conn.ping(b"not compressed")
    wire.pump()
    expected = [("text", t) for t in texts] + [("binary", bytes(3000))]
    assert [e for e in wire.events(me) if e[0] != "pong"] == expected
    assert [e for e in wire.events(other) if e[0] in ("text", "binary")] == expected
    mine = frames(wire.sent[id(me)], masked=ours == "client")
    theirs = frames(wire.sent[id(other)], masked=ours == "server")
    data = [f for f in mine if f[1] in (1, 2)]
    assert len(data) == 6 and all(b0 & 0x40 for b0, _, _ in data)
    assert sum(len(p) for _, _, p in data) < 3000 // 10
    assert all(not b0 & 0x70 for b0, op, _ in mine if op >= 8)  # control frames never compressed
    assert any(b0 & 0x40 for b0, _, _ in theirs)


@pytest.mark.parametrize("ours", ["server", "client"])
def test_compression_none_negotiates_nothing(impl, ours):
    peer = PEERS[ours, "websockets"]()
    wire, me, other = open_pair(ours, peer, impl, compression=None)
    assert me.conn.deflate is None and me.conn.extensions == []
    head = wire.sent[id(me)].split(b"\r\n\r\n")[0]
    assert b"Sec-WebSocket-Extensions" not in head
    me.conn.send_text("plain " * 100)
    wire.pump()
    assert [b0 for b0, _, _ in frames(wire.sent[id(me)], masked=ours == "client")] == [0x81]


def test_server_with_a_window_8_client_request_sends_uncompressed(impl):
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=8)])
    wire, me, other = open_pair("server", client, impl)
    assert me.conn.deflate.local_max_window_bits == 8 and not me.conn.deflate.compresses
    me.conn.send_text("words " * 200)
    other.send_text("words " * 200)
    wire.pump()
    assert wire.events(other)[-1] == ("text", "words " * 200)
    assert wire.events(me) == [("text", "words " * 200)]
    assert [b0 for b0, _, _ in frames(wire.sent[id(me)], masked=False)] == [0x81]  # RSV1 clear
    assert all(b0 & 0x40 for b0, op, _ in frames(wire.sent[id(other)], masked=True) if op == 1)


def test_client_told_window_8_sends_uncompressed(impl):
    server = WebsocketsServer(extensions=[ServerPerMessageDeflateFactory(client_max_window_bits=8)])
    wire, me, other = open_pair("client", server, impl)
    assert me.conn.deflate.local_max_window_bits == 8 and me.conn.shared_key(100) is None
    me.conn.send_text("words " * 200)
    wire.pump()
    assert wire.events(other) == [("text", "words " * 200)]
    assert [b0 for b0, _, _ in frames(wire.sent[id(me)], masked=True)] == [0x81]


def test_chromium_offer_and_several_headers(impl):
    conn = ServerProtocol(impl=impl)
    request = (b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
               b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    conn.receive_data(request)
    (req,) = conn.events()
    response = conn.accept(req)
    assert response.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    conn.send_response(response)
    assert conn.deflate is not None and conn.deflate.remote_max_window_bits == 12


def test_malformed_extensions_header_is_400(impl):
    request = (b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Extensions: %s\r\n\r\n")
    for header in (b'permessage-deflate; client_max_window_bits="10', b"permessage-deflate; x=",
                   b"permessage-deflate; server_no_context_takeover=", b"permessage deflate"):
        conn = ServerProtocol(impl=impl)
        conn.receive_data(request % header)
        (req,) = conn.events()
        assert conn.accept(req).status == 400, header


def test_unasked_for_deflate_in_the_response_fails_the_handshake(impl):
    conn = ClientProtocol(URI, impl=impl, compression=None)
    key = conn.request.headers["Sec-WebSocket-Key"]
    from wsfast.handshake import accept_key

    conn.receive_data(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
                      f"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode())
    (event,) = conn.events()
    assert isinstance(event, HandshakeFailed) and isinstance(event.error, InvalidExtension)


def test_min_size_sends_short_messages_plain(impl):
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()])
    wire, me, other = open_pair("server", client, impl, compression=DeflateOptions(min_size=100))
    me.conn.send_text("x" * 99)
    me.conn.send_text("x" * 100)
    me.conn.send_fragments(1, "y" * 99, 10)
    me.conn.send_fragments(1, "y" * 100, 10)
    wire.pump()
    assert wire.events(other) == [("text", "x" * 99), ("text", "x" * 100), ("text", "y" * 99),
                                  ("text", "y" * 100)]
    sent = frames(wire.sent[id(me)], masked=False)
    firsts = [b0 for b0, op, _ in sent if op in (1, 2)]
    assert firsts == [0x81, 0xC1, 0x01, 0xC1]  # 100 "y" compress into one frame


def test_send_fragments_compresses_once_and_splits(impl):
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()])
    wire, me, other = open_pair("server", client, impl,
                                compression=DeflateOptions(server_no_context_takeover=True))
    message = "".join(f"line {i}: the quick brown fox\n" for i in range(300))
    me.conn.send_fragments(1, message, 100)
    wire.pump()
    assert wire.events(other) == [("text", message)]
    sent = frames(wire.sent[id(me)], masked=False)
    assert sent[0][0] == 0x41 and all(b0 in (0x00, 0x80) for b0, _, _ in sent[1:]) and sent[-1][0] == 0x80
    assert all(len(p) == 100 for _, _, p in sent[:-1])
    whole = impl.Compressor(me.conn.deflate).compress(message.encode())
    assert b"".join(p for _, _, p in sent) == whole


def test_streamed_fragments_are_compressed_one_by_one(impl):
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()])
    wire, me, other = open_pair("server", client, impl)
    me.conn.send_text("part one, ", fin=False)
    me.conn.send_continuation("part two, ", fin=False)
    me.conn.send_continuation("part three", fin=True)
    me.conn.send_binary(b"abc" * 50, fin=False)
    me.conn.send_continuation(b"", fin=True)
    wire.pump()
    assert wire.events(other) == [("text", "part one, part two, part three"), ("binary", b"abc" * 50)]
    sent = frames(wire.sent[id(me)], masked=False)
    assert [b0 for b0, _, _ in sent] == [0x41, 0x00, 0x80, 0x42, 0x80]
    # each fragment is inflatable as it arrives: a flushed piece of one deflate stream
    d = zlib.decompressobj(wbits=-15)
    assert d.decompress(sent[0][2]) == b"part one, "


def test_send_encoded_takes_compressed_frames_only_without_context(impl):
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()])
    wire, me, other = open_pair("server", client, impl)
    frame = impl.encode_frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True)
    assert me.conn.shared_key(100) is None  # context takeover: every message through its compressor
    with pytest.raises(ValueError, match="compressed only"):
        me.conn.send_encoded(frame)
    client = WebsocketsClient(extensions=[ClientPerMessageDeflateFactory()])
    wire, me, other = open_pair("server", client, impl,
                                compression=DeflateOptions(server_no_context_takeover=True))
    assert me.conn.shared_key(100) == (12, 4, 1) and me.conn.shared_key(0) == (12, 4, 1)
    me.conn.send_encoded(frame)
    wire.pump()
    assert wire.events(other) == [("text", "Hello")]
    client_conn = ClientProtocol(URI, impl=impl)
    with pytest.raises(InvalidState):
        client_conn.send_encoded(frame)


def test_our_client_against_our_server(impl):
    """Both ends ours, every option combination that changes the data path."""
    for options in (DeflateOptions(), DeflateOptions(server_no_context_takeover=True,
                                                     client_no_context_takeover=True),
                    DeflateOptions(server_max_window_bits=9, client_max_window_bits=9, level=1, mem_level=1),
                    DeflateOptions(server_max_window_bits=15, client_max_window_bits=15, level=9,
                                   mem_level=9)):
        server = WsfastEnd(ServerProtocol(impl=impl, compression=options))
        client = WsfastEnd(ClientProtocol(URI, impl=impl, compression=options))
        wire = Wire(server, client)
        wire.pump()
        wire.events(server)
        wire.events(client)
        messages = [f"message {i} " * (i + 1) for i in range(30)]
        for m in messages:
            server.conn.send_text(m)
            client.conn.send_text(m)
        wire.pump()
        assert wire.events(server) == [("text", m) for m in messages]
        assert wire.events(client) == [("text", m) for m in messages]
        assert isinstance(client.conn.response, Response)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("ours, peer", list(PEERS), ids=[f"ours={o}-peer={p}" for o, p in PEERS])
def test_compressor_state_is_made_when_needed_and_freed_when_idle_or_closed(impl, ours, peer):
    """No compressor until a message is compressed; with context takeover it stays for the next
    message, and goes at a keepalive ping when nothing was sent for a whole interval (the next
    message then starts a new compressor: the peer, keeping its context, still inflates it) or when
    our close frame goes out; without it (wsproto's server asks us for no context takeover) none is
    held between messages. Our decompressor, idle for the same interval, keeps only its window: the
    peer's next message still refers back to its earlier ones."""
    clock = _Clock()
    wire, me, other = open_pair(ours, PEERS[ours, peer](), impl, ping_interval=10.0, ping_timeout=None,
                                clock=clock)
    compressor = me.conn._compressor
    assert compressor is not None and not compressor.has_state
    me.conn.send_text("short" * 3)
    if me.conn.deflate.local_no_context_takeover:
        assert (ours, peer) == ("client", "wsproto")
        assert not compressor.has_state
        me.conn.send_text("short" * 3, fin=False)
        assert compressor.has_state  # until the message ends
        me.conn.send_continuation("", fin=True)
        assert not compressor.has_state
        wire.pump()
        assert [e for e in wire.events(other) if e[0] == "text"] == [("text", "short" * 3)] * 2
        return
    assert compressor.has_state
    texts = [f'{{"id": {i}, "kind": "update", "text": "hello hello"}}' for i in range(3)]
    for text in texts:
        clock.now += 10.0
        me.conn.tick()  # a keepalive ping; something was sent in the interval before this one
        assert compressor.has_state
        me.conn.send_text(text)
        wire.pump()
        assert wire.events(other)[-1] == ("text", text)
    other.send_text(texts[1])  # the peer compresses too, keeping its context
    wire.pump()
    assert [e for e in wire.events(me) if e[0] == "text"] == [("text", texts[1])]
    clock.now += 10.0
    me.conn.tick()  # the message before the last ping was sent in that interval: kept
    assert compressor.has_state
    clock.now += 10.0
    me.conn.tick()  # a whole interval with nothing sent: freed; the decompressor keeps its window only
    assert not compressor.has_state
    parser = me.conn._parser
    assert parser.release_idle() is False and parser.release_idle() is False  # done at the ping
    me.conn.send_text(texts[0])
    assert compressor.has_state
    me.conn.send_binary(bytes(3000))
    other.send_text(texts[1])  # refers back to the peer's earlier message, across our idle time
    wire.pump()
    assert [e for e in wire.events(other) if e[0] in ("text", "binary")] == [("text", texts[0]),
                                                                              ("binary", bytes(3000))]
    assert [e for e in wire.events(me) if e[0] == "text"] == [("text", texts[1])]
    mine = [f for f in frames(wire.sent[id(me)], masked=ours == "client") if f[1] in (1, 2)]
    assert mine and all(b0 & 0x40 for b0, _, _ in mine)
    me.conn.close()
    assert not compressor.has_state  # no data frame can follow the close frame
