"""The opening handshake: request parsing (incremental), validation and every failure status,
Origin/CORS, subprotocols, extension hooks, and the client's request builder and verifier."""

from __future__ import annotations

import base64

import pytest

from wsfast import exceptions as exc
from wsfast import handshake as hs
from wsfast import headers as hdr
from wsfast import http11
from wsfast import uri as wsuri
from wsfast.protocol import HandshakeFailed, ServerProtocol, State

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD = (
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
).encode()


def request(*lines: str, method: str = "GET", target: str = "/chat", version: str = "HTTP/1.1",
            drop: tuple = ()) -> bytes:
    """A request with the standard headers (minus `drop`, lowercase names) plus `lines`."""
    standard = [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    head = [f"{method} {target} {version}"]
    head += [f"{n}: {v}" for n, v in standard if n.lower() not in drop]
    head += list(lines)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def parse_response(raw: bytes):
    """(status, {lowercase name: [values]}, body) — a deliberately independent little parser."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status, _reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers: dict = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(status), headers, body


def serve(raw: bytes, **options):
    """Feed `raw` to a ServerProtocol and answer its request with accept(), as an I/O layer does;
    (protocol, events, parsed response)."""
    conn = ServerProtocol(**options)
    conn.receive_data(raw)
    events = conn.events()
    for event in events:
        if isinstance(event, http11.Request):
            conn.send_response(conn.accept(event))
    out = conn.bytes_to_send()
    return conn, events, parse_response(out) if out else None


def rejected(raw: bytes, **options):
    """The refusal of `raw`: either at once (not even well-formed HTTP: HandshakeFailed) or by
    accept() (a request that is no acceptable upgrade: handshake_exc); (status, headers, body)."""
    conn, events, response = serve(raw, **options)
    assert response is not None, "a rejected request must get a response"
    status, headers, body = response
    assert conn.state is State.CLOSED
    assert conn.should_close_transport
    assert len(events) == 1
    if isinstance(events[0], HandshakeFailed):
        error = events[0].error
    else:
        assert isinstance(events[0], http11.Request)
        error = conn.handshake_exc
    assert conn.handshake_exc is error
    assert isinstance(error, exc.InvalidRequest) and error.status == status
    (connection,) = headers["connection"]
    assert "close" in [t.strip().lower() for t in connection.split(",")]
    assert int(headers["content-length"][0]) == len(body)
    assert body.decode().strip() == error.reason
    return status, headers, body.decode()


# ---------------------------------------------------------------- keys


def test_rfc_accept_key():
    assert hs.accept_key(KEY) == ACCEPT
    assert hs.accept_key(KEY.encode()) == ACCEPT


def test_generate_key_is_base64_of_16_random_bytes():
    keys = {hs.generate_key() for _ in range(8)}
    assert len(keys) == 8
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


def test_rfc_example_response():
    conn, events, (status, headers, body) = serve(GOOD)
    assert status == 101
    assert headers["upgrade"] == ["websocket"]
    assert headers["connection"] == ["Upgrade"]
    assert headers["sec-websocket-accept"] == [ACCEPT]
    assert "sec-websocket-protocol" not in headers and "access-control-allow-origin" not in headers
    assert body == b""
    assert conn.state is State.OPEN
    (req,) = events
    assert isinstance(req, http11.Request)
    assert (req.method, req.path, req.version) == ("GET", "/chat?room=1", (1, 1))


# ---------------------------------------------------------------- incremental parsing


def test_request_in_two_pieces_at_every_split_point():
    frame = b"\x81\x85\x00\x00\x00\x00hello"  # a frame the client sent right after its request
    raw = GOOD + frame
    for cut in range(len(raw) + 1):
        parser = http11.RequestParser()
        first = parser.feed(raw[:cut])
        if cut < len(GOOD):
            assert first is None, cut
            req = parser.feed(raw[cut:])
            rest = parser.trailing
        else:  # complete in the first piece: what the parser saw after the head, then the rest
            req = first
            rest = parser.trailing + raw[cut:]
        assert req is not None and req.headers["Sec-WebSocket-Key"] == KEY, cut
        assert rest == raw[len(GOOD):], cut


def test_request_byte_by_byte_and_from_reused_buffers():
    parser = http11.RequestParser()
    buffer = bytearray(1)
    result = None
    for i, byte in enumerate(GOOD):
        buffer[0] = byte  # one reused buffer, like a BufferedProtocol's
        result = parser.feed(memoryview(buffer))
        assert (result is None) == (i < len(GOOD) - 1)
    assert result is not None and result.headers["Host"] == "server.example.com"


def test_server_connection_in_pieces_then_frames():
    conn = ServerProtocol()
    raw = GOOD + b"\x81\x82\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"hi", b"\x01\x02"))
    for i in range(len(raw)):
        conn.receive_data(raw[i:i + 1])
    (request,) = conn.events()
    assert isinstance(request, http11.Request) and conn.state is State.CONNECTING
    conn.send_response(conn.accept(request))
    assert [e.data for e in conn.events()] == ["hi"]  # sent before the answer, parsed after it
    assert conn.state is State.OPEN


def test_parser_refuses_reuse():
    parser = http11.RequestParser()
    assert parser.feed(GOOD) is not None
    with pytest.raises(RuntimeError):
        parser.feed(b"GET")


# ---------------------------------------------------------------- header case and folding


def test_header_names_and_tokens_are_case_insensitive():
    raw = (
        "GET / HTTP/1.1\r\n"
        "hOsT: a\r\n"
        "UPGRADE: WebSocket\r\n"
        "connection: keep-alive, UPGRADE\r\n"
        f"sec-websocket-key: {KEY}\r\n"
        "SEC-WEBSOCKET-VERSION: 13\r\n\r\n"
    ).encode()
    _, _, (status, headers, _) = serve(raw)
    assert status == 101 and headers["sec-websocket-accept"] == [ACCEPT]


def test_connection_tokens_over_several_headers():
    raw = request("Connection: Upgrade", drop=("connection",)).replace(
        b"Connection: Upgrade", b"Connection: keep-alive\r\nConnection: upgrade")
    _, _, (status, _, _) = serve(raw)
    assert status == 101


def test_folded_headers_are_unfolded():
    raw = (
        "GET / HTTP/1.1\r\n"
        "Host: a\r\n"
        "Upgrade: websocket\r\n"
        "Connection: keep-alive,\r\n"
        "  Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\n"
        "Sec-WebSocket-Protocol: chat,\r\n"
        "\tsuperchat\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    req = http11.RequestParser().feed(raw)
    assert req.headers["Connection"] == "keep-alive, Upgrade"
    assert hs.offered_subprotocols(req) == ["chat", "superchat"]
    _, _, (status, headers, _) = serve(raw, subprotocols=["superchat"])
    assert status == 101 and headers["sec-websocket-protocol"] == ["superchat"]


def test_headers_keep_original_case_and_order():
    req = http11.RequestParser().feed(request("X-Custom: One", "x-custom: Two"))
    assert req.headers.get_all("X-CUSTOM") == ["One", "Two"]
    assert req.headers["x-custom"] == "One, Two"
    assert list(req.headers)[-2:] == [("X-Custom", "One"), ("x-custom", "Two")]


# ---------------------------------------------------------------- failure statuses


@pytest.mark.parametrize("raw, why", [
    (b"GET /\r\n\r\n", "malformed request line"),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "malformed request line"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "not an HTTP/1.1 message"),  # a TLS ClientHello
    (request("Bad Header: x"), "invalid header line"),
    (request("Bad : x"), "invalid header line"),
    (request("NoColon"), "invalid header line"),
    (b"GET / HTTP/1.1\r\n folded: first\r\n\r\n", "folded line before the first header"),
    (request("X: a\nb"), "bare CR or LF"),
    (request("X: a\x01b"), "control character"),
    (request(version="HTTP/1.0"), "HTTP/1.1 is required"),
    (request(drop=("host",)), "missing Host header"),
    (request("Host: b"), "more than one Host header"),
    (request(drop=("sec-websocket-key",)), "missing Sec-WebSocket-Key"),
    (request(f"Sec-WebSocket-Key: {KEY}"), "more than one Sec-WebSocket-Key"),
    (request("Sec-WebSocket-Key: not base64!!", drop=("sec-websocket-key",)), "not base64 of 16 bytes"),
    (request("Sec-WebSocket-Key: " + base64.b64encode(b"x" * 15).decode(), drop=("sec-websocket-key",)),
     "not base64 of 16 bytes"),
    (request("Origin: http://a", "Origin: http://b"), "more than one Origin"),
    (request("Sec-WebSocket-Protocol: a b"), "malformed Sec-WebSocket-Protocol"),
    (request("Sec-WebSocket-Extensions: x; =1"), "malformed Sec-WebSocket-Extensions"),
])
def test_400_malformed_with_reason(raw, why):
    status, _, body = rejected(raw)
    assert status == 400
    assert why in body


def test_400_is_sent_before_the_head_is_complete_for_garbage():
    conn = ServerProtocol()
    conn.receive_data(b"\x16\x03\x01")
    assert conn.state is State.CLOSED and conn.should_close_transport
    assert conn.bytes_to_send().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    conn.receive_data(b"more garbage")  # ignored once rejected
    assert conn.bytes_to_send() == b""


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "OPTIONS", "get"])
def test_405_for_other_methods(method):
    status, headers, body = rejected(request(method=method))
    assert status == 405
    assert headers["allow"] == ["GET"]
    assert method in body


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "thirteen"])
def test_426_for_another_version(version):
    raw = request(f"Sec-WebSocket-Version: {version}", drop=("sec-websocket-version",))
    status, headers, body = rejected(raw)
    assert status == 426
    assert headers["sec-websocket-version"] == ["13"]
    assert "version" in body.lower()


def test_426_for_a_missing_version_and_repeated_versions():
    for raw in (request(drop=("sec-websocket-version",)), request("Sec-WebSocket-Version: 13")):
        status, headers, _ = rejected(raw)
        assert status == 426 and headers["sec-websocket-version"] == ["13"]


@pytest.mark.parametrize("raw, why", [
    (request(drop=("upgrade",)), "Upgrade: websocket"),
    (request("Upgrade: h2c", drop=("upgrade",)), "Upgrade: websocket"),
    (request(drop=("connection",)), "Connection: Upgrade"),
    (request("Connection: keep-alive", drop=("connection",)), "Connection: Upgrade"),
])
def test_426_for_a_request_that_is_not_an_upgrade(raw, why):
    status, headers, body = rejected(raw)
    assert status == 426
    assert headers["upgrade"] == ["websocket"]
    assert headers["connection"] == ["Upgrade, close"]
    assert why in body


def test_403_for_a_rejected_origin():
    status, _, body = rejected(request("Origin: https://evil.example"), origins=["https://good.example"])
    assert status == 403 and "https://evil.example" in body
    status, _, _ = rejected(request(), origins=["https://good.example"])  # no Origin, None not listed
    assert status == 403
    status, _, _ = rejected(request("Origin: https://x"), origins=lambda origin: origin == "https://y")
    assert status == 403


def test_431_header_limit_default_8_kib():
    big = request("X-Big: " + "a" * 8200)
    status, _, body = rejected(big)
    assert status == 431 and "8192" in body
    # exactly at the limit passes
    filler = 8192 - len(request("X-Big: "))
    _, _, (status, _, _) = serve(request("X-Big: " + "a" * filler))
    assert status == 101
    status, _, _ = rejected(request("X-Big: " + "a" * (filler + 1)))
    assert status == 431


def test_431_is_sent_as_soon_as_the_limit_is_passed():
    conn = ServerProtocol()
    conn.receive_data(b"GET / HTTP/1.1\r\nX-Big: ")
    assert conn.bytes_to_send() == b""
    conn.receive_data(b"a" * 9000)  # no end of headers in sight
    assert conn.bytes_to_send().startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_431_limit_is_configurable():
    raw = request("X-Big: " + "a" * 200)
    status, _, _ = rejected(raw, max_header_size=256)
    assert status == 431
    _, _, (status, _, _) = serve(request("X-Big: " + "a" * 20000), max_header_size=32768)
    assert status == 101
    status, _, body = rejected(request(*[f"X-{i}: v" for i in range(10)]), max_headers=12)
    assert status == 431 and "header lines" in body


# ---------------------------------------------------------------- Origin and CORS


def test_allowed_cross_origin_gets_cors_headers():
    raw = request("Origin: https://app.example")
    _, _, (status, headers, _) = serve(raw, origins=["https://app.example"])
    assert status == 101
    assert headers["access-control-allow-origin"] == ["https://app.example"]
    assert headers["vary"] == ["Origin"]


def test_same_origin_and_unchecked_origins_get_no_cors_headers():
    same = request("Origin: http://server.example.com")
    _, _, (status, headers, _) = serve(same, origins=["http://server.example.com"])
    assert status == 101 and "access-control-allow-origin" not in headers
    cross = request("Origin: https://app.example")
    _, _, (status, headers, _) = serve(cross)  # no allow-list: no statement about CORS
    assert status == 101 and "access-control-allow-origin" not in headers
    other_port = request("Origin: http://server.example.com:8080")
    _, _, (status, headers, _) = serve(other_port, origins=["http://server.example.com:8080"])
    assert headers["access-control-allow-origin"] == ["http://server.example.com:8080"]


def test_origin_policies():
    _, _, (status, _, _) = serve(request(), origins=[None, "https://a"])  # no Origin header allowed
    assert status == 101
    _, _, (status, _, _) = serve(request("Origin: https://a"), origins=lambda o: o.endswith("a"))
    assert status == 101
    with pytest.raises(TypeError):
        hs.ServerHandshake(origins="https://a")


# ---------------------------------------------------------------- subprotocols, extensions, extra headers


def test_subprotocol_in_server_preference_order():
    raw = request("Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Protocol: v2")
    conn, _, (status, headers, _) = serve(raw, subprotocols=["v2", "superchat", "chat"])
    assert status == 101 and headers["sec-websocket-protocol"] == ["v2"]
    assert conn.subprotocol == "v2"
    conn, _, (_, headers, _) = serve(raw, subprotocols=["superchat", "v2"])
    assert headers["sec-websocket-protocol"] == ["superchat"]
    conn, _, (status, headers, _) = serve(raw, subprotocols=["mqtt"])
    assert status == 101 and "sec-websocket-protocol" not in headers and conn.subprotocol is None


def test_select_subprotocol_overrides():
    raw = request("Sec-WebSocket-Protocol: a, b")
    _, _, (_, headers, _) = serve(raw, subprotocols=["a"], select_subprotocol=lambda offered: offered[-1])
    assert headers["sec-websocket-protocol"] == ["b"]
    # a policy hook that fails: 500, and the hook's exception says why
    conn, _, (status, _, _) = serve(raw, select_subprotocol=lambda offered: "c")
    assert status == 500 and isinstance(conn.handshake_exc, ValueError)
    assert "did not offer" in str(conn.handshake_exc) and conn.state is State.CLOSED


class FakeServerExtension:
    name = "x-test"

    def __init__(self):
        self.offers = None

    def negotiate(self, offers):
        self.offers = offers
        for params in offers:
            if ("bad", None) not in params:
                return [("level", "3")], ("negotiated", params)
        return None


def test_extension_negotiation_hook():
    ext = FakeServerExtension()
    raw = request('Sec-WebSocket-Extensions: x-test; bad, x-test; a=1; b="two", other')
    handshake = hs.ServerHandshake(extensions=[ext])
    req = http11.RequestParser().feed(raw)
    handshake.check(req)
    response, _, objects = handshake.accept(req)
    assert ext.offers == [[("bad", None)], [("a", "1"), ("b", "two")]]
    assert response.headers["Sec-WebSocket-Extensions"] == "x-test; level=3"
    assert objects == [("negotiated", [("a", "1"), ("b", "two")])]


def test_extension_header_round_trip():
    items = hdr.parse_extensions('permessage-deflate; client_max_window_bits, x; y="1"')
    assert items == [("permessage-deflate", [("client_max_window_bits", None)]), ("x", [("y", "1")])]
    assert hdr.format_extensions(items) == "permessage-deflate; client_max_window_bits, x; y=1"
    for bad in ('x; y="a b"', "x;;", '"x"', 'x; y="unterminated'):
        with pytest.raises(ValueError):
            hdr.parse_extensions(bad)


def test_extra_headers_static_and_callable():
    _, _, (_, headers, _) = serve(request(), extra_headers=[("Server", "wsfast"), ("X-A", "1")])
    assert headers["server"] == ["wsfast"] and headers["x-a"] == ["1"]
    _, _, (_, headers, _) = serve(request(), extra_headers=lambda req: {"X-Path": req.path})
    assert headers["x-path"] == ["/chat"]


def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        hdr.Headers([("X", "a\r\nSet-Cookie: b")])
    with pytest.raises(ValueError):
        hdr.Headers([("Bad Name", "x")])


def test_accept_with_options_and_reject():
    conn = ServerProtocol(subprotocols=["a"])
    conn.receive_data(request("Sec-WebSocket-Protocol: a, b") + b"\x81\x80\x00\x00\x00\x00")
    (req,) = conn.events()
    assert isinstance(req, http11.Request) and conn.state is State.CONNECTING and conn.request_pending
    assert conn.bytes_to_send() == b""
    response = conn.accept(req, subprotocol="b", extra_headers=[("X-Ok", "1")])
    assert response.status == 101 and conn.state is State.CONNECTING  # nothing sent yet
    conn.send_response(response)
    assert conn.subprotocol == "b" and conn.state is State.OPEN and not conn.request_pending
    status, headers, _ = parse_response(conn.bytes_to_send())
    assert headers["sec-websocket-protocol"] == ["b"] and headers["x-ok"] == ["1"]
    assert [e.data for e in conn.events()] == [""]  # the frame that came before the answer

    conn = ServerProtocol()
    conn.receive_data(request())
    (req,) = conn.events()
    conn.send_response(conn.reject(401, "who are you?\n", headers=[("WWW-Authenticate", "Basic")]))
    status, headers, body = parse_response(conn.bytes_to_send())
    assert (status, headers["www-authenticate"], body) == (401, ["Basic"], b"who are you?\n")
    assert conn.should_close_transport and conn.state is State.CLOSED


# ---------------------------------------------------------------- client side


def client_response(handshake, *extra, status="101 Switching Protocols", accept=None, drop=()):
    lines = [f"HTTP/1.1 {status}"]
    standard = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept or hs.accept_key(handshake.key))]
    lines += [f"{n}: {v}" for n, v in standard if n.lower() not in drop]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def verify(handshake, raw):
    response = handshake.parser().feed(raw)
    assert response is not None
    return handshake.verify(response)


def test_client_request():
    client = hs.ClientHandshake("ws://example.com:8080/chat?x=1", origin="https://app",
                                subprotocols=["a", "b"])
    raw = client.request.serialize()
    req = http11.RequestParser().feed(raw)
    assert req.target == "/chat?x=1"
    assert req.headers["Host"] == "example.com:8080"
    assert req.headers["Origin"] == "https://app"
    assert hs.offered_subprotocols(req) == ["a", "b"]
    assert len(base64.b64decode(req.headers["Sec-WebSocket-Key"])) == 16
    hs.ServerHandshake().check(req)  # our own server accepts it
    assert hs.ClientHandshake("wss://[::1]/").request.headers["Host"] == "[::1]"
    assert hs.ClientHandshake("ws://h").key != hs.ClientHandshake("ws://h").key


def test_client_accepts_a_good_response():
    client = hs.ClientHandshake("ws://h/", subprotocols=["a", "b"])
    assert verify(client, client_response(client, "Sec-WebSocket-Protocol: b")) == ("b", [])
    assert verify(client, client_response(client)) == (None, [])


def test_client_rejects_a_wrong_accept():
    client = hs.ClientHandshake("ws://h/", key=KEY)
    with pytest.raises(exc.InvalidAccept) as info:
        verify(client, client_response(client, accept=hs.accept_key(hs.generate_key())))
    assert ACCEPT in str(info.value)
    with pytest.raises(exc.InvalidHeader, match="missing Sec-WebSocket-Accept"):
        verify(client, client_response(client, drop=("sec-websocket-accept",)))
    with pytest.raises(exc.InvalidHeader, match="more than one"):
        verify(client, client_response(client, f"Sec-WebSocket-Accept: {ACCEPT}"))


@pytest.mark.parametrize("extra, drop, status, error, text", [
    ((), (), "403 Forbidden", exc.InvalidStatus, "HTTP 403 Forbidden"),
    ((), (), "200 OK", exc.InvalidStatus, "HTTP 200"),
    ((), ("upgrade",), "101 Switching Protocols", exc.InvalidUpgrade, "missing Upgrade"),
    (("Upgrade: h2c",), ("upgrade",), "101 Switching Protocols", exc.InvalidUpgrade, "invalid Upgrade"),
    ((), ("connection",), "101 Switching Protocols", exc.InvalidUpgrade, "missing Connection"),
    (("Connection: close",), ("connection",), "101 Switching Protocols", exc.InvalidUpgrade, "Connection"),
    (("Sec-WebSocket-Protocol: c",), (), "101 Switching Protocols", exc.InvalidSubprotocol, "we offered a"),
    (("Sec-WebSocket-Protocol: a, b",), (), "101 Switching Protocols", exc.InvalidSubprotocol, "exactly one"),
    (("Sec-WebSocket-Extensions: x-unknown",), (), "101 Switching Protocols", exc.InvalidExtension,
     "did not offer x-unknown"),
])
def test_client_names_each_mismatch(extra, drop, status, error, text):
    client = hs.ClientHandshake("ws://h/", subprotocols=["a"])
    with pytest.raises(error) as info:
        verify(client, client_response(client, *extra, status=status, drop=drop))
    assert text in str(info.value)
    assert isinstance(info.value, exc.InvalidHandshake)


class FakeClientExtension:
    name = "x-test"

    def offer(self):
        return [("level", None)]

    def accept(self, params):
        if params != [("level", "3")]:
            raise ValueError("level must be 3")
        return ("client-negotiated", params)


def test_client_extension_hook():
    client = hs.ClientHandshake("ws://h/", extensions=[FakeClientExtension()])
    assert client.request.headers["Sec-WebSocket-Extensions"] == "x-test; level"
    assert verify(client, client_response(client, "Sec-WebSocket-Extensions: x-test; level=3")) == (
        None, [("client-negotiated", [("level", "3")])])
    with pytest.raises(exc.InvalidExtension, match="level must be 3"):
        verify(client, client_response(client, "Sec-WebSocket-Extensions: x-test; level=4"))


def test_malformed_responses():
    for raw in (b"HTTP/1.1 abc\r\n\r\n", b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/2.0 101 OK\r\n\r\n"):
        with pytest.raises(exc.InvalidMessage):
            http11.ResponseParser().feed(raw)
    with pytest.raises(exc.InvalidMessage):
        http11.ResponseParser(max_header_size=64).feed(b"HTTP/1.1 101 OK\r\nX: " + b"a" * 100)


def test_error_response_body_is_kept():
    response = http11.ResponseParser().feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnopeEXTRA")
    assert (response.status, response.reason, response.body) == (403, "Forbidden", b"nope")


@pytest.mark.parametrize("uri, expected", [
    ("ws://example.com", (False, "example.com", 80, "/")),
    ("wss://example.com/a/b?c=d", (True, "example.com", 443, "/a/b?c=d")),
    ("ws://[::1]:9000/x", (False, "::1", 9000, "/x")),
])
def test_parse_uri(uri, expected):
    assert tuple(wsuri.parse_uri(uri)) == expected


@pytest.mark.parametrize("uri", ["http://a/", "ws://", "ws://a/#frag", "ws://u:p@a/", "ws://a/é"])
def test_parse_uri_rejects(uri):
    with pytest.raises(ValueError):
        wsuri.parse_uri(uri)


# ---------------------------------------------------------------- the request/answer API


def test_every_request_head_is_surfaced_before_any_answer():
    """A request that is no upgrade at all (a health check) is reported too: the caller decides."""
    conn = ServerProtocol()
    conn.receive_data(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
    (req,) = conn.events()
    assert isinstance(req, http11.Request) and req.path == "/health"
    assert conn.bytes_to_send() == b"" and conn.state is State.CONNECTING
    conn.send_response(conn.reject(200, "OK\n"))
    status, headers, body = parse_response(conn.bytes_to_send())
    assert (status, body) == (200, b"OK\n") and headers["connection"] == ["close"]
    assert conn.state is State.CLOSED and conn.should_close_transport and conn.handshake_exc is None


def test_accept_gives_the_error_response_for_a_request_that_is_no_upgrade():
    conn = ServerProtocol()
    conn.receive_data(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
    (req,) = conn.events()
    response = conn.accept(req)
    assert response.status == 426 and conn.handshake_exc.status == 426
    conn.send_response(response)
    assert conn.state is State.CLOSED


def test_answers_must_match_a_pending_request():
    conn = ServerProtocol()
    with pytest.raises(exc.InvalidState):
        conn.send_response(conn.reject(404))
    conn.receive_data(GOOD)
    (req,) = conn.events()
    other = http11.RequestParser().feed(GOOD)
    with pytest.raises(exc.InvalidState):
        conn.accept(other)  # not the request this connection is answering
    with pytest.raises(exc.InvalidState, match="must come from accept"):
        conn.send_response(http11.Response(101))
    conn2 = ServerProtocol()
    conn2.receive_data(GOOD)
    (req2,) = conn2.events()
    conn2.send_response(conn2.accept(req2))
    with pytest.raises(exc.InvalidState):
        conn2.send_response(conn2.reject(400))  # answered already
    with pytest.raises(exc.InvalidState):
        conn2.accept(req2)
    with pytest.raises(ValueError):
        conn2.reject(101)


def test_bytes_after_the_head_are_kept_until_the_answer_and_bounded():
    from wsfast import _defaults

    conn = ServerProtocol()
    conn.receive_data(GOOD)
    (req,) = conn.events()
    conn.receive_data(b"\x81\x80\x00\x00\x00\x00")
    assert conn.events() == []
    conn.receive_data(b"x" * _defaults.MAX_PENDING_AFTER_REQUEST)  # a client pushing data meanwhile
    (failed,) = conn.events()
    assert isinstance(failed, HandshakeFailed) and failed.error.status == 400
    assert conn.state is State.CLOSED and conn.should_close_transport
    assert conn.bytes_to_send().startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("lines, target, why", [
    (("Content-Length: 5", "Content-Length: 6"), "/chat", "conflicting Content-Length"),
    (("Content-Length: 5, 6",), "/chat", "conflicting Content-Length"),
    (("Content-Length: -1",), "/chat", "invalid Content-Length"),
    (("Content-Length: 0x10",), "/chat", "invalid Content-Length"),
    (("Transfer-Encoding: chunked", "Content-Length: 0"), "/chat",
     "both Transfer-Encoding and Content-Length"),
    ((), "*", "neither origin-form nor absolute-form"),
    ((), "chat", "neither origin-form nor absolute-form"),
    ((), "example.com:80", "neither origin-form nor absolute-form"),
])
def test_ambiguous_requests_get_400_at_once(lines, target, why):
    """Request smuggling defence: no head two HTTP parsers could read differently."""
    status, _, body = rejected(request(*lines, target=target))
    assert status == 400 and why in body


@pytest.mark.parametrize("lines", [
    ("Content-Length: 5",),
    ("Transfer-Encoding: chunked",),
    ("Content-Length: 1", "Content-Length: 1"),  # repeated but equal: one body length, still a body
])
def test_an_upgrade_request_cannot_have_a_body(lines):
    status, _, body = rejected(request(*lines))
    assert status == 400 and "cannot have a body" in body


def test_content_length_zero_and_absolute_form_are_fine():
    _, _, (status, _, _) = serve(request("Content-Length: 0"))
    assert status == 101
    conn, (req,), (status, _, _) = serve(request(target="http://server.example.com/chat?x=1"))
    assert status == 101 and req.path == "/chat?x=1" and req.target.startswith("http://")


def test_old_names_are_deprecated_aliases():
    import wsfast

    with pytest.warns(DeprecationWarning, match="ServerProtocol"):
        assert wsfast.ServerConnection is ServerProtocol
    with pytest.warns(DeprecationWarning, match="ClientProtocol"):
        assert wsfast.ClientConnection is wsfast.ClientProtocol
    with pytest.raises(AttributeError):
        wsfast.NoSuchName  # noqa: B018
