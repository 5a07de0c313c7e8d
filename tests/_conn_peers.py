"""Real WebSocket peers, in memory, for the sans-I/O connection tests.

Each end (a wsfast connection, or websockets' / wsproto's sans-I/O objects)
is wrapped to the same little interface, and :class:`Wire` moves bytes
between two ends like a TCP connection would, including EOF: when an end
closes its transport, the other end receives EOF (and the closing end learns
its transport is gone). Events are normalized to tuples so tests compare them
across peers: ``("text", str)``, ``("binary", bytes)``, ``("ping", bytes)``,
``("pong", bytes)``, ``("close", code, reason)``, ``("failed", code)``,
``("open",)``, ``("handshake_failed", status)``.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import websockets.client
import websockets.frames
import websockets.server
import websockets.uri
import wsproto
import wsproto.events as wpe
from websockets.frames import Opcode as WSOP
from wsproto.connection import ConnectionState
from wsproto.frame_protocol import CloseReason

from wsfast.http11 import Request, Response
from wsfast.protocol import (
    ClientProtocol,
    ConnectionFailed,
    HandshakeFailed,
    ServerProtocol,
    State,
)

URI = "ws://example.com/chat"


class End:
    name = "?"
    closed = False  # this end's transport is closed

    def out(self) -> Tuple[bytes, bool]:
        """(bytes to write, whether this end now closes its transport)."""
        raise NotImplementedError

    def feed(self, data: bytes) -> None:
        raise NotImplementedError

    def feed_eof(self) -> None:
        raise NotImplementedError

    def events(self) -> List[tuple]:
        raise NotImplementedError


# ---------------------------------------------------------------- wsfast


def normalize_wsfast(ev) -> tuple:
    if isinstance(ev, Request):
        return ("request", ev.path)
    if isinstance(ev, Response):
        return ("open",)
    if isinstance(ev, HandshakeFailed):
        return ("handshake_failed", ev.response.status if ev.response is not None else None)
    if isinstance(ev, ConnectionFailed):
        return ("failed", int(ev.code))
    kind = type(ev).__name__
    if kind == "TextMessage":
        return ("text", ev.data)
    if kind == "BinaryMessage":
        return ("binary", ev.data)
    if kind == "Ping":
        return ("ping", ev.data)
    if kind == "Pong":
        return ("pong", ev.data)
    if kind == "Close":
        return ("close", int(ev.code), ev.reason)
    raise AssertionError(f"unexpected event {ev!r}")


class WsfastEnd(End):
    """A wsfast protocol; as a server it answers each request the way an I/O layer does
    (``answer(protocol, request)`` -> Response; default: ``accept``)."""

    def __init__(self, conn, answer=None) -> None:
        self.conn = conn
        self.name = f"wsfast {type(conn).__name__} ({conn.implementation})"
        self.raw_events: list = []
        self.answer = answer or (lambda protocol, request: protocol.accept(request))

    def out(self):
        data = b"".join(self.conn.data_to_send())
        return data, self.conn.should_close_transport

    def feed(self, data):
        self.conn.receive_data(data)

    def feed_eof(self):
        self.conn.receive_eof()

    def events(self):
        evs = self.conn.events()
        self.raw_events += evs
        normalized = [normalize_wsfast(ev) for ev in evs]
        for ev in evs:
            if isinstance(ev, Request) and isinstance(self.conn, ServerProtocol):
                self.conn.send_response(self.answer(self.conn, ev))
                normalized += self.events()  # frames sent early are parsed once the 101 is out
        return normalized


# ---------------------------------------------------------------- websockets


def _ws_frame_events(frames, state) -> List[tuple]:
    result = []
    for frame in frames:
        if not isinstance(frame, websockets.frames.Frame):
            result.append(("open",) if getattr(frame, "status_code", 101) == 101
                          else ("handshake_failed", frame.status_code))
            continue
        op = frame.opcode
        if op in (WSOP.TEXT, WSOP.BINARY):
            state["op"], state["parts"] = op, [bytes(frame.data)]
        elif op == WSOP.CONT:
            state["parts"].append(bytes(frame.data))
        elif op == WSOP.PING:
            result.append(("ping", bytes(frame.data)))
            continue
        elif op == WSOP.PONG:
            result.append(("pong", bytes(frame.data)))
            continue
        elif op == WSOP.CLOSE:
            close = websockets.frames.Close.parse(bytes(frame.data))
            result.append(("close", int(close.code), close.reason))
            continue
        if frame.fin:
            data = b"".join(state["parts"])
            result.append(("text", data.decode()) if state["op"] == WSOP.TEXT
                          else ("binary", data))
    return result


class WebsocketsEnd(End):
    def __init__(self, protocol) -> None:
        self.p = protocol
        self._msg: dict = {}
        self._eof = False

    def out(self):
        chunks = self.p.data_to_send()
        return b"".join(chunks), any(c == b"" for c in chunks)

    def feed(self, data):
        self.p.receive_data(data)

    def feed_eof(self):
        if not self._eof:
            self._eof = True
            self.p.receive_eof()

    def events(self):
        return _ws_frame_events(self.p.events_received(), self._msg)

    # sending
    def send_text(self, text: str):
        self.p.send_text(text.encode())

    def send_binary(self, data: bytes):
        self.p.send_binary(data)

    def ping(self, data: bytes):
        self.p.send_ping(data)

    def close(self, code: Optional[int] = 1000, reason: str = ""):
        self.p.send_close(code, reason)


class WebsocketsClient(WebsocketsEnd):
    name = "websockets ClientProtocol"

    def __init__(self, uri: str = URI, **kwargs) -> None:
        super().__init__(websockets.client.ClientProtocol(websockets.uri.parse_uri(uri), **kwargs))
        self.p.send_request(self.p.connect())


class WebsocketsServer(WebsocketsEnd):
    name = "websockets ServerProtocol"

    def __init__(self, **kwargs) -> None:
        super().__init__(websockets.server.ServerProtocol(**kwargs))

    def events(self):
        result = []
        for ev in self.p.events_received():
            if isinstance(ev, websockets.http11.Request):
                self.p.send_response(self.p.accept(ev))
                result.append(("request", ev.path))
            else:
                result += _ws_frame_events([ev], self._msg)
        return result


# ---------------------------------------------------------------- wsproto


class WsprotoEnd(End):
    """wsproto leaves pongs and close replies to the application: this end answers like a
    typical application does, and closes TCP as RFC 6455 7.1.1 says (the server first)."""

    def __init__(self, kind) -> None:
        self.ws = wsproto.WSConnection(kind)
        self.extensions: list = []
        self.is_server = kind is wsproto.ConnectionType.SERVER
        self._pending = b""
        self._parts: list = []
        self._early: List[tuple] = []
        self._got_eof = False
        self.subprotocol: Optional[str] = None

    def _send(self, event) -> None:
        self._pending += self.ws.send(event)

    def out(self):
        data, self._pending = self._pending, b""
        # the server closes TCP once the closing handshake is done; anyone closes on EOF
        closing = self._got_eof or (self.is_server and self.ws.state is ConnectionState.CLOSED)
        return data, closing

    def feed(self, data):
        if self.ws.state is not ConnectionState.CLOSED:
            self.ws.receive_data(data)

    def feed_eof(self):
        self._got_eof = True
        # wsproto queues its EOF event ahead of frames it has not parsed yet: parse them first
        self._early = self.events()
        if self.ws.state is not ConnectionState.CLOSED:
            self.ws.receive_data(None)

    def events(self):
        result, self._early = self._early, []
        for ev in self.ws.events():
            if isinstance(ev, wpe.Request):
                self._send(wpe.AcceptConnection(subprotocol=self.subprotocol, extensions=self.extensions))
                result.append(("request", ev.target))
            elif isinstance(ev, wpe.AcceptConnection):
                self.subprotocol = ev.subprotocol
                result.append(("open",))
            elif isinstance(ev, wpe.RejectConnection):
                result.append(("handshake_failed", ev.status_code))
            elif isinstance(ev, (wpe.TextMessage, wpe.BytesMessage)):
                self._parts.append(ev.data)
                if ev.message_finished:
                    if isinstance(ev, wpe.TextMessage):
                        result.append(("text", "".join(self._parts)))
                    else:
                        result.append(("binary", b"".join(bytes(p) for p in self._parts)))
                    self._parts = []
            elif isinstance(ev, wpe.Ping):
                self._send(ev.response())
                result.append(("ping", bytes(ev.payload)))
            elif isinstance(ev, wpe.Pong):
                result.append(("pong", bytes(ev.payload)))
            elif isinstance(ev, wpe.CloseConnection):
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self._send(ev.response())
                result.append(("close", int(ev.code), ev.reason or ""))
        return result

    def send_text(self, text: str):
        self._send(wpe.TextMessage(data=text))

    def send_binary(self, data: bytes):
        self._send(wpe.BytesMessage(data=data))

    def ping(self, data: bytes):
        self._send(wpe.Ping(payload=data))

    def close(self, code: Optional[int] = 1000, reason: str = ""):
        # wsproto sends an empty close only for the enum member itself (it tests identity)
        self._send(wpe.CloseConnection(code=CloseReason.NO_STATUS_RCVD if code is None else code,
                                       reason=reason or None))


class WsprotoClient(WsprotoEnd):
    name = "wsproto client"

    def __init__(self, subprotocols=(), extensions=()) -> None:
        super().__init__(wsproto.ConnectionType.CLIENT)
        self._send(wpe.Request(host="example.com", target="/chat", subprotocols=list(subprotocols),
                               extensions=list(extensions)))


class WsprotoServer(WsprotoEnd):
    name = "wsproto server"

    def __init__(self, subprotocol: Optional[str] = None, extensions=()) -> None:
        super().__init__(wsproto.ConnectionType.SERVER)
        self.subprotocol = subprotocol
        self.extensions = list(extensions)


# ---------------------------------------------------------------- the wire


class Wire:
    """Two ends joined in memory. ``pump()`` moves bytes until nothing moves; it records every
    byte each end wrote (``sent[end]``) and each end's normalized events (``seen[end]``)."""

    def __init__(self, a: End, b: End) -> None:
        self.a, self.b = a, b
        self.sent = {id(a): b"", id(b): b""}
        self.seen = {id(a): [], id(b): []}
        self.closed_order: List[End] = []

    def other(self, end: End) -> End:
        return self.b if end is self.a else self.a

    def pump(self, rounds: int = 50, deliver: bool = True) -> None:
        for _ in range(rounds):
            moved = False
            for end in (self.a, self.b):
                self.seen[id(end)] += end.events()
                if end.closed:
                    continue
                data, closing = end.out()
                if data:
                    moved = True
                    self.sent[id(end)] += data
                    if deliver and not self.other(end).closed:
                        self.other(end).feed(data)
                if closing:
                    moved = True
                    self.close_transport(end)
            if not moved:
                for end in (self.a, self.b):
                    self.seen[id(end)] += end.events()
                return
        raise AssertionError("the ends kept talking")

    def close_transport(self, end: End) -> None:
        """`end` closes its socket: it is done, and the other end reads EOF."""
        if end.closed:
            return
        end.closed = True
        self.closed_order.append(end)
        if isinstance(end, WsfastEnd):
            end.feed_eof()  # an I/O layer reports its own closed transport too (connection_lost)
        other = self.other(end)
        if not other.closed:
            other.feed_eof()

    def events(self, end: End) -> List[tuple]:
        """Everything `end` reported since the last call (including what pump() collected)."""
        evs, self.seen[id(end)] = self.seen[id(end)] + end.events(), []
        return evs


def make_pair(ours: str, peer: str, impl, **options):
    """(wire, our WsfastEnd, peer end), handshake done. ours: "server" or "client";
    peer: "websockets" or "wsproto"."""
    if ours == "server":
        conn = ServerProtocol(impl=impl, **options)
        other = WebsocketsClient() if peer == "websockets" else WsprotoClient()
    else:
        conn = ClientProtocol(URI, impl=impl, **options)
        other = WebsocketsServer() if peer == "websockets" else WsprotoServer()
    me = WsfastEnd(conn)
    wire = Wire(me, other)
    wire.pump()
    assert conn.state is State.OPEN, wire.events(me)
    return wire, me, other
