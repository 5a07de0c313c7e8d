"""The sans-I/O WebSocket connection: :class:`ServerConnection` and :class:`ClientConnection`.

No sockets, no event loop, no clock of its own: the caller feeds received
bytes (:meth:`~Connection.receive_data`, :meth:`~Connection.receive_eof`), reads
what happened (:meth:`~Connection.events`), sends (``send_*``, :meth:`~Connection.ping`,
:meth:`~Connection.close`), writes out :meth:`~Connection.data_to_send` and closes
the transport once :attr:`~Connection.should_close_transport` says so.
Keepalive and timeouts run on the caller's clock: :meth:`~Connection.next_deadline`
says when to call :meth:`~Connection.tick` next.

Events, in order, from :meth:`~Connection.events`:

- the frame parser's events: ``TextMessage`` (``.data`` str), ``BinaryMessage``,
  ``Ping``, ``Pong``, ``Close`` (``.code``, ``.reason``; 1005 when the peer's
  close frame had no code) — the active implementation's classes, passed
  through untouched;
- :class:`wsfast.handshake.Request` (server: a valid upgrade request arrived)
  and :class:`wsfast.handshake.Response` (client: the server accepted us);
- :class:`HandshakeFailed` (the opening handshake failed; the error response,
  if any, is already queued);
- :class:`ConnectionFailed`: the connection ended without a closing
  handshake: 1002/1007/1009 when the peer broke the protocol (we sent that
  code), 1011 when a keepalive pong did not come (we sent 1011), 1006 when the
  transport ended before the peer's close frame.

The lifecycle (RFC 6455 section 7): a received close is answered with the same
code (1000 if it had none) and no data is delivered after it; after our close,
received data frames are dropped until the peer's close arrives; the server
closes the TCP connection first, the client waits for it (at most
``close_timeout``). :attr:`~Connection.state` is CLOSED once both close frames
were exchanged or the transport ended.

Cost per message: when a received chunk holds only data messages (the common
case), ``receive_data`` hands the parser's event list over as is, after one
C-level scan for control frames; ``events()`` returns that same list.
"""

from __future__ import annotations

import enum
import os
import struct
import time
import types
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _impl
from .close import check_close
from .enums import CloseCode, Opcode
from .exceptions import ProtocolError, WebSocketError
from .handshake import (
    MAX_HEADER_SIZE,
    MAX_HEADERS,
    ClientExtension,
    ClientHandshake,
    ExtraHeaders,
    HeadersLike,
    InvalidHandshake,
    InvalidMessage,
    InvalidRequest,
    OriginPolicy,
    Request,
    Response,
    ServerExtension,
    ServerHandshake,
    WebSocketURI,
)

__all__ = [
    "State",
    "Connection",
    "ServerConnection",
    "ClientConnection",
    "HandshakeFailed",
    "ConnectionFailed",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
]


class State(enum.IntEnum):
    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


_CONNECTING = State.CONNECTING
_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED


# ---------------------------------------------------------------- errors


class InvalidState(WebSocketError):
    """The operation is not possible in the connection's current state (e.g. sending before the
    handshake)."""


class ConnectionClosed(WebSocketError):
    """The connection is closed or closing: nothing more can be sent (or received).

    ``code`` / ``reason`` are the connection's close code and reason (see
    :attr:`Connection.close_code`).
    """

    def __init__(self, code: Optional[int], reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = None if code is None else CloseCode(code)
        self.reason = reason

    def __str__(self) -> str:
        if self.code is None:
            return "the connection is closing"
        text = f"the connection is closed: {int(self.code)} ({self.code.name})"
        return f"{text} {self.reason}" if self.reason else text


class ConnectionClosedOK(ConnectionClosed):
    """Closed cleanly: 1000 or 1001."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with any other code (a failure, or 1005/1006)."""


def closed_error(code: Optional[int], reason: str = "") -> ConnectionClosed:
    """The ConnectionClosed subclass that fits ``code``."""
    if code in (CloseCode.NORMAL, CloseCode.GOING_AWAY):
        return ConnectionClosedOK(code, reason)
    return ConnectionClosedError(code, reason)


# ---------------------------------------------------------------- connection-level events


class HandshakeFailed:
    """The opening handshake failed; the connection never opened.

    Server: ``error`` is the :class:`~wsfast.handshake.InvalidRequest` (with its
    ``status``), ``response`` the error response already queued. Client:
    ``error`` is the :class:`~wsfast.handshake.InvalidHandshake` naming the
    mismatch, ``response`` what the server sent (None if it was not HTTP).
    """

    __slots__ = ("error", "response")

    def __init__(self, error: Exception, response: Optional[Response] = None) -> None:
        self.error = error
        self.response = response

    def __repr__(self) -> str:
        return f"HandshakeFailed({self.error!r})"


class ConnectionFailed:
    """The connection ended without a clean closing handshake.

    ``code``: 1002 / 1007 / 1009 (the peer broke the protocol; ``error`` is the
    ProtocolError and that code was sent), 1011 (a keepalive ping got no pong in
    time; 1011 was sent), 1006 (the transport ended before the peer's close frame).
    """

    __slots__ = ("code", "reason", "error")

    def __init__(self, code: int, reason: str, error: Optional[Exception] = None) -> None:
        self.code = CloseCode(code)
        self.reason = reason
        self.error = error

    def __repr__(self) -> str:
        return f"ConnectionFailed(code=CloseCode.{self.code.name}, reason={self.reason!r})"


# ---------------------------------------------------------------- helpers

_JOIN_LIMIT = 4096  # above this, a server frame goes out as [header, payload] (no copy of the payload)
_HEAD16 = struct.Struct("!BBH").pack
_HEAD64 = struct.Struct("!BBQ").pack


def _header(b0: int, n: int) -> bytes:
    """An unmasked frame header for a payload of n bytes."""
    if n < 126:
        return bytes((b0, n))
    if n < 65536:
        return _HEAD16(b0, 126, n)
    return _HEAD64(b0, 127, n)


def _control_payload(data: Any, what: str) -> bytes:
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif type(data) is bytes:
        payload = data
    else:
        try:
            payload = bytes(memoryview(data))
        except TypeError:
            raise TypeError(f"{what} payload must be bytes or str, not {type(data).__name__}") from None
    if len(payload) > 125:
        raise ValueError(f"{what} payload is {len(payload)} bytes; control frames carry at most 125")
    return payload


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def _resolve_impl(impl: Union[None, str, types.SimpleNamespace]) -> types.SimpleNamespace:
    if impl is None:
        return _impl.active()
    if isinstance(impl, str):
        return _impl.load(impl)
    return impl


Clock = Callable[[], float]


class _CountingParser:
    """For a parser without a ``control_frames`` counter (a foreign implementation namespace):
    counts control events by scanning each batch, so the connection's fast path stays the same."""

    __slots__ = ("_parser", "_data_types", "control_frames")

    def __init__(self, parser: Any, data_types: frozenset) -> None:
        self._parser = parser
        self._data_types = data_types
        self.control_frames = 0

    def feed(self, data: Any) -> List[Any]:
        try:
            evs = self._parser.feed(data)
        except ProtocolError as exc:
            self._count(exc.events)
            raise
        self._count(evs)
        return evs

    def _count(self, evs: List[Any]) -> None:
        data_types = self._data_types
        self.control_frames += sum(1 for ev in evs if type(ev) not in data_types)


# ---------------------------------------------------------------- the connection


class Connection:
    """What both sides share. Create a :class:`ServerConnection` or :class:`ClientConnection`.

    Options (keyword-only, both sides):

    max_message_size:
        Largest message accepted (bytes, summed over fragments); None for no
        limit. Bigger → 1009.
    ping_interval / ping_timeout:
        Keepalive: send a ping every ``ping_interval`` seconds while open; if its
        pong (any pong) has not come ``ping_timeout`` seconds later, fail the
        connection with 1011. None disables either. Finds half-open TCP
        connections without waiting hours for TCP keep-alive.
    close_timeout:
        How long to wait for the peer's close frame after ours, and (client) for
        the server to close TCP after the closing handshake, before
        :attr:`should_close_transport` turns True anyway. None: wait forever.
    auto_pong:
        Answer pings with a pong carrying the same payload (the Ping event is
        still reported).
    clock:
        The caller's clock (seconds, monotonic); deadlines are in its terms.
    impl:
        The hot-path implementation: None (the active one), "c", "python", or a
        namespace from ``wsfast._impl.load``.
    """

    is_client = False

    def __init__(
        self,
        *,
        max_message_size: Optional[int] = 2**20,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        close_timeout: Optional[float] = 10.0,
        auto_pong: bool = True,
        clock: Clock = time.monotonic,
        impl: Union[None, str, types.SimpleNamespace] = None,
    ) -> None:
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout),
                            ("close_timeout", close_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None")
        self._impl = impl = _resolve_impl(impl)
        self.max_message_size = max_message_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.auto_pong = auto_pong
        self._clock = clock
        self._encode = impl.encode_frame
        self._mask: Any = True if self.is_client else None
        self._ping_cls = impl.Ping
        self._pong_cls = impl.Pong
        self._close_cls = impl.Close
        self._data_types = frozenset((impl.TextMessage, impl.BinaryMessage))
        self._control_types = (impl.Ping, impl.Close, impl.Pong)  # in order of how often they come
        self._parser: Any = None
        self._controls = 0  # the parser's control_frames count, as of the last batch processed
        self._feed: Optional[Callable[[Any], List[Any]]] = None
        self._state = _CONNECTING
        self._events: List[Any] = []
        self._out: List[bytes] = []
        self._should_close = False
        self._eof = False
        self._failed = False  # we failed the connection: the parser's input is ignored from now on
        self._close_sent: Optional[Tuple[Optional[int], str]] = None
        self._close_rcvd: Any = None
        self._close_code: Optional[CloseCode] = None
        self._close_reason = ""
        self._next_ping: Optional[float] = None
        self._pong_deadline: Optional[float] = None
        self._close_deadline: Optional[float] = None
        self.subprotocol: Optional[str] = None
        self.extensions: List[Any] = []

    # -- properties

    @property
    def state(self) -> State:
        return self._state

    @property
    def implementation(self) -> str:
        """Which hot path this connection runs on ("c" or "python")."""
        return getattr(self._impl, "name", "?")

    @property
    def close_code(self) -> Optional[CloseCode]:
        """How the connection ended, once known (None before).

        The code of the peer's close frame (1005 if it had none); else the code
        we failed the connection with (1002/1007/1009/1011); else 1006 when the
        transport ended first.
        """
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def close_sent(self) -> Optional[Tuple[Optional[int], str]]:
        """(code, reason) of the close frame we sent (code None: it had no code), or None."""
        return self._close_sent

    @property
    def close_received(self) -> Any:
        """The peer's Close event, or None."""
        return self._close_rcvd

    @property
    def should_close_transport(self) -> bool:
        """True when the caller should close the TCP connection (after writing data_to_send())."""
        return self._should_close

    # -- receiving

    def receive_data(self, data: Any) -> None:
        """Feed bytes received from the transport (any bytes-like object; it is not kept)."""
        if self._state is _OPEN:
            try:
                evs = self._feed(data)  # type: ignore[misc]
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            if self._parser.control_frames != self._controls:
                self._process(evs)
            elif self._events:
                self._events += evs
            else:
                self._events = evs
            return
        self._receive_other(data)

    def receive(self, data: Any) -> List[Any]:
        """``receive_data(data)`` then ``events()`` in one call: the hot path for I/O layers.

        When the chunk held only data messages (no ping, pong or close), this is
        the parser's own event list, handed over without copying or scanning.
        """
        if self._state is _OPEN:
            try:
                evs = self._feed(data)  # type: ignore[misc]
            except ProtocolError as exc:
                self._protocol_error(exc)
                return self.events()
            if self._parser.control_frames == self._controls and not self._events:
                return evs
            self._process(evs)
        else:
            self._receive_other(data)
        return self.events()

    def events(self) -> List[Any]:
        """The events since the last call, in order (the list is yours)."""
        evs = self._events
        if not evs:
            return []
        self._events = []
        return evs

    def receive_eof(self) -> None:
        """The transport ended (the peer closed TCP, or the caller closed it: call this from
        connection_lost too). Reports 1006 if the peer's close frame never came."""
        if self._eof:
            return
        self._eof = True
        self._should_close = True
        state = self._state
        self._state = _CLOSED
        self._next_ping = self._pong_deadline = self._close_deadline = None
        if state is _CONNECTING:
            self._eof_during_handshake()
            return
        if state is not _CLOSED and self._close_rcvd is None and not self._failed:
            reason = "the connection ended without a close frame"
            self._close_code = CloseCode.ABNORMAL_CLOSURE
            self._close_reason = ""
            self._events.append(ConnectionFailed(CloseCode.ABNORMAL_CLOSURE, reason))

    def _eof_during_handshake(self) -> None:
        self._close_code = CloseCode.ABNORMAL_CLOSURE

    def _receive_other(self, data: Any) -> None:
        if self._eof:
            raise InvalidState("data received after receive_eof()")
        state = self._state
        if state is _CONNECTING:
            self._receive_handshake(data)
        elif state is _CLOSING and not self._failed and self._close_rcvd is None:
            # our close is sent: wait for the peer's, dropping data frames
            try:
                evs = self._feed(data)  # type: ignore[misc]
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            if evs:
                self._process(evs)
        # else: after the closing handshake or a failure, input is discarded

    def _receive_handshake(self, data: Any) -> None:
        raise NotImplementedError

    def _process(self, evs: List[Any]) -> None:
        """The slow path: a batch holding control frames, or arriving while CLOSING."""
        count = self._parser.control_frames
        controls = count - self._controls  # how many control events this batch holds
        self._controls = count
        if self._close_sent is not None:
            self._process_closing(evs)
            return
        # Open: every event is delivered, up to and including a close frame. The control frames
        # are located without a Python loop over the batch: a lone one is usually last (a
        # keepalive ping in its own read); otherwise C-level scans (list.index) find them,
        # stopping once all `controls` are found.
        hits: List[int] = []
        if controls == 1 and type(evs[-1]) in self._control_types:
            hits.append(len(evs) - 1)
        elif controls > 0:
            kinds = list(map(type, evs))
            for kind in self._control_types:
                i = -1
                try:
                    while len(hits) < controls:
                        i = kinds.index(kind, i + 1)
                        hits.append(i)
                except ValueError:
                    pass
                if len(hits) >= controls:
                    break
            hits.sort()
        for i in hits:
            ev = evs[i]
            kind = type(ev)
            if kind is self._ping_cls:
                if self.auto_pong:
                    self._out.append(self._encode(Opcode.PONG, ev.data, mask=self._mask))
            elif kind is self._pong_cls:
                self._pong_deadline = None
            else:
                self._on_close(ev)
                del evs[i + 1:]  # nothing may follow a close frame
                break
        if self._events:
            self._events += evs
        else:
            self._events = evs

    def _process_closing(self, evs: List[Any]) -> None:
        """Our close is sent: data frames are dropped (RFC 6455 1.4), control frames reported
        (pings are not answered any more) until the peer's close."""
        out = self._events
        data_types = self._data_types
        for ev in evs:
            kind = type(ev)
            if kind in data_types:
                continue
            out.append(ev)
            if kind is self._pong_cls:
                self._pong_deadline = None
            elif kind is self._close_cls:
                self._on_close(ev)
                return

    def _on_close(self, ev: Any) -> None:
        self._close_rcvd = ev
        self._close_code = ev.code
        self._close_reason = ev.reason
        self._next_ping = self._pong_deadline = None
        if self._close_sent is None:
            code = ev.code if ev.code != CloseCode.NO_STATUS_RECEIVED else CloseCode.NORMAL
            self._queue_close(code, "")
        self._state = _CLOSED
        self._closing_handshake_done()

    def _closing_handshake_done(self) -> None:
        """Both close frames were exchanged: the server closes TCP now; the client waits for it."""
        if self.is_client:
            if self.close_timeout is not None and not self._should_close:
                self._close_deadline = self._clock() + self.close_timeout
            else:
                self._close_deadline = None
        else:
            self._should_close = True
            self._close_deadline = None

    def _protocol_error(self, exc: ProtocolError) -> None:
        """Deliver what the peer sent correctly, then fail the connection with exc's code."""
        if exc.events:
            self._process(exc.events)
            if self._close_rcvd is not None:
                return  # the violation came after the peer's close: already done
        self._fail(exc.close_code, exc.reason, exc)

    def _fail(self, code: int, reason: str, error: Optional[Exception]) -> None:
        """Fail the WebSocket connection (RFC 6455 7.1.7): send a close with `code` if we still
        may, stop processing input, report it."""
        if self._failed or self._close_rcvd is not None:
            return
        self._failed = True
        if self._close_sent is None:
            self._queue_close(code, _truncate_utf8(reason, 123))
        self._state = _CLOSING
        self._close_code = CloseCode(code)
        self._close_reason = reason
        self._next_ping = self._pong_deadline = None
        if self.is_client and code != CloseCode.INTERNAL_ERROR and self.close_timeout is not None:
            # the client waits (a while) for the server to close TCP
            self._close_deadline = self._clock() + self.close_timeout
        else:
            self._should_close = True
            self._close_deadline = None
        self._events.append(ConnectionFailed(code, reason, error))

    # -- sending

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            if self._state is _CONNECTING:
                raise InvalidState("the opening handshake is not complete")
            if self._close_code is not None:
                raise closed_error(self._close_code, self._close_reason)
            sent = self._close_sent
            raise closed_error(sent[0], sent[1]) if sent is not None else ConnectionClosed(None)

    def send_text(self, data: str) -> None:
        """Queue a text message. TypeError unless ``data`` is str; a str that is not valid
        Unicode (lone surrogates) is a UnicodeEncodeError; either way nothing is queued."""
        if type(data) is not str and not isinstance(data, str):
            raise TypeError(f"send_text() takes str, not {type(data).__name__}")
        if self._state is not _OPEN:
            self._check_open()
        self._send_data(0x81, data.encode("utf-8"))

    def send_binary(self, data: Any) -> None:
        """Queue a binary message (any bytes-like object; str is a TypeError)."""
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("send_binary() takes bytes, not str (use send_text())")
            try:
                data = bytes(memoryview(data))
            except TypeError:
                kind = type(data).__name__
                raise TypeError(f"send_binary() takes a bytes-like object, not {kind}") from None
        if self._state is not _OPEN:
            self._check_open()
        self._send_data(0x82, data)

    def send(self, data: Union[str, bytes]) -> None:
        """send_text() for str, send_binary() for bytes-like objects."""
        if isinstance(data, str):
            self.send_text(data)
        else:
            self.send_binary(data)

    def send_fragments(self, opcode: int, data: Union[str, bytes], fragment_size: int) -> None:
        """Queue one TEXT or BINARY message split into frames of ``fragment_size`` payload bytes."""
        if opcode == Opcode.TEXT and not isinstance(data, str):
            raise TypeError(f"a text message must be str, not {type(data).__name__}")
        if opcode == Opcode.BINARY and isinstance(data, str):
            raise TypeError("a binary message must be bytes, not str")
        frames = self._impl.encode_message(opcode, data, mask=self._mask, fragment_size=fragment_size)
        self._check_open()
        self._out += frames

    def _send_data(self, b0: int, payload: bytes) -> None:
        if self._mask is None and len(payload) > _JOIN_LIMIT:
            self._out += (_header(b0, len(payload)), payload)
        else:
            self._out.append(self._encode(b0 & 0x0F, payload, mask=self._mask))

    def ping(self, data: Union[bytes, str] = b"") -> bytes:
        """Queue a ping; returns its payload (str is sent as UTF-8). ValueError over 125 bytes."""
        payload = _control_payload(data, "ping")
        self._check_open()
        self._out.append(self._encode(Opcode.PING, payload, mask=self._mask))
        return payload

    def pong(self, data: Union[bytes, str] = b"") -> None:
        """Queue a pong (unsolicited pongs are a one-way heartbeat)."""
        payload = _control_payload(data, "pong")
        self._check_open()
        self._out.append(self._encode(Opcode.PONG, payload, mask=self._mask))

    def close(self, code: Optional[int] = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake: queue a close frame.

        ``code`` None sends a close frame without a code (the peer reports
        1005). A code that may not be sent (1005, 1006, 1015, outside
        1000-1003/1007-1014/3000-4999) or a reason over 123 bytes of UTF-8 is a
        ValueError, nothing queued. After this, received data frames are
        dropped until the peer's close frame arrives.
        """
        check_close(code, reason)
        self._check_open()
        self._queue_close(code, reason)
        self._state = _CLOSING
        self._next_ping = self._pong_deadline = None
        if self.close_timeout is not None:
            self._close_deadline = self._clock() + self.close_timeout

    def _queue_close(self, code: Optional[int], reason: str) -> None:
        payload = b"" if code is None else int(code).to_bytes(2, "big") + reason.encode("utf-8")
        self._out.append(self._encode(Opcode.CLOSE, payload, mask=self._mask))
        self._close_sent = (None if code is None else CloseCode(code), reason)

    def data_to_send(self) -> List[bytes]:
        """Bytes to write, as a list of pieces (for ``transport.writelines``); empties the queue."""
        out = self._out
        if out:
            self._out = []
        return out

    def bytes_to_send(self) -> bytes:
        """data_to_send(), joined."""
        return b"".join(self.data_to_send())

    # -- keepalive and timeouts (the caller's clock)

    def next_deadline(self) -> Optional[float]:
        """When :meth:`tick` must next be called (in the clock's terms), or None if never."""
        best = None
        for t in (self._next_ping, self._pong_deadline, self._close_deadline):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def tick(self, now: Optional[float] = None) -> None:
        """Run what is due at ``now`` (default: the clock): send a keepalive ping, fail the
        connection with 1011 when a pong is overdue, give up on a peer that does not close."""
        if now is None:
            now = self._clock()
        if self._state is _OPEN:
            if self._pong_deadline is not None and now >= self._pong_deadline:
                self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout", None)
                return
            if self._next_ping is not None and now >= self._next_ping:
                self._out.append(self._encode(Opcode.PING, os.urandom(4), mask=self._mask))
                self._next_ping = now + self.ping_interval  # type: ignore[operator]
                if self.ping_timeout is not None and self._pong_deadline is None:
                    self._pong_deadline = now + self.ping_timeout
        if self._close_deadline is not None and now >= self._close_deadline:
            self._close_deadline = None
            self._should_close = True

    # -- opening

    def _open(self, trailing: bytes, extensions: Sequence[Any]) -> None:
        """The handshake succeeded: start framing, keepalive, and parse what followed the head."""
        parser = self._impl.FrameParser(client=self.is_client, max_message_size=self.max_message_size,
                                        extensions=tuple(extensions))
        if not hasattr(parser, "control_frames"):
            parser = _CountingParser(parser, self._data_types)
        self._parser = parser
        self._feed = parser.feed
        self._state = _OPEN
        if self.ping_interval is not None:
            self._next_ping = self._clock() + self.ping_interval
        if trailing:
            self.receive_data(trailing)

    def _handshake_failed(self, error: Exception, response: Optional[Response]) -> None:
        self._state = _CLOSED
        self._should_close = True
        self._close_code = CloseCode.ABNORMAL_CLOSURE
        self._close_reason = str(error)
        self._events.append(HandshakeFailed(error, response))


class ServerConnection(Connection):
    """The server side: parses the upgrade request, answers it, then speaks WebSocket.

    Handshake options: those of :class:`wsfast.handshake.ServerHandshake`
    (``origins``, ``subprotocols``, ``select_subprotocol``, ``extensions``,
    ``extra_headers``, ``max_header_size``, ``max_headers``), or a shared
    ``handshake`` object. With ``auto_accept`` (default) a valid request is
    answered with 101 at once and reported as a ``Request`` event; with
    ``auto_accept=False`` the connection stays CONNECTING after the ``Request``
    event until :meth:`accept` or :meth:`reject`. An invalid request always gets
    its error response (400/403/405/426/431) and a :class:`HandshakeFailed` event.
    """

    is_client = False

    def __init__(
        self,
        *,
        origins: OriginPolicy = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Optional[Callable[[List[str]], Optional[str]]] = None,
        extensions: Sequence[ServerExtension] = (),
        extra_headers: ExtraHeaders = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
        handshake: Optional[ServerHandshake] = None,
        auto_accept: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if handshake is None:
            handshake = ServerHandshake(origins=origins, subprotocols=subprotocols,
                                        select_subprotocol=select_subprotocol, extensions=extensions,
                                        extra_headers=extra_headers, max_header_size=max_header_size,
                                        max_headers=max_headers)
        self.handshake = handshake
        self.auto_accept = auto_accept
        self._request_parser: Any = handshake.parser()
        self._pending: Optional[bytearray] = None  # bytes after the request, before accept()
        self.request: Optional[Request] = None
        self.response: Optional[Response] = None

    def _receive_handshake(self, data: Any) -> None:
        if self._pending is not None:  # waiting for accept()/reject()
            self._pending += data
            return
        if self._request_parser is None:
            return  # rejected: input is ignored
        try:
            request = self._request_parser.feed(data)
            if request is None:
                return
            self.handshake.check(request)
        except InvalidRequest as exc:
            self._request_parser = None
            self._send_rejection(self.handshake.error_response(exc), exc)
            return
        self.request = request
        trailing = self._request_parser.trailing
        self._request_parser = None
        self._events.append(request)
        if self.auto_accept:
            self._accept(trailing)
        else:
            self._pending = bytearray(trailing)

    def accept(self, *, subprotocol: Any = ..., extra_headers: Optional[HeadersLike] = None) -> Response:
        """Answer the pending request with 101 (``auto_accept=False``); returns the response.

        ``subprotocol`` overrides the policy's choice (None: none).
        """
        if self._state is not _CONNECTING or self.request is None or self._pending is None:
            raise InvalidState("no request is waiting to be accepted")
        trailing = bytes(self._pending)
        self._pending = None
        return self._accept(trailing, subprotocol=subprotocol, extra_headers=extra_headers)

    def _accept(self, trailing: bytes, **kwargs: Any) -> Response:
        assert self.request is not None
        response, self.subprotocol, self.extensions = self.handshake.accept(self.request, **kwargs)
        self.response = response
        self._out.append(response.serialize())
        self._open(trailing, self.extensions)
        return response

    def reject(self, status: int, reason: str = "", headers: Optional[HeadersLike] = None) -> Response:
        """Refuse the pending request with an HTTP error (``auto_accept=False``)."""
        if self._state is not _CONNECTING or self.request is None or self._pending is None:
            raise InvalidState("no request is waiting for an answer")
        response = self.handshake.reject(status, reason, headers)
        self._pending = None
        self.response = response
        self._out.append(response.serialize())
        self._state = _CLOSED
        self._should_close = True
        self._close_code = CloseCode.ABNORMAL_CLOSURE
        return response

    def _send_rejection(self, response: Response, error: InvalidRequest) -> None:
        self.response = response
        self._out.append(response.serialize())
        self._handshake_failed(error, response)

    def _eof_during_handshake(self) -> None:
        super()._eof_during_handshake()
        self._request_parser = None
        self._pending = None


class ClientConnection(Connection):
    """The client side: the upgrade request is queued at once (see :meth:`data_to_send`).

    ``uri`` is ``ws://host[:port]/path`` or ``wss://...`` (TLS is the I/O layer's
    job; the URI only shapes the request). Handshake options: ``origin``,
    ``subprotocols`` (offered in this order), ``extensions``
    (:class:`~wsfast.handshake.ClientExtension`), ``extra_headers``, ``key`` (for
    tests; default 16 random bytes), ``max_header_size``, ``max_headers``.
    A server response that does not accept us gives a :class:`HandshakeFailed`
    event whose error names the mismatch; a 101 gives a ``Response`` event and OPEN.
    """

    is_client = True

    def __init__(
        self,
        uri: Union[str, WebSocketURI],
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtension] = (),
        extra_headers: Optional[HeadersLike] = None,
        key: Optional[str] = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.handshake = ClientHandshake(uri, origin=origin, subprotocols=subprotocols, extensions=extensions,
                                         extra_headers=extra_headers, key=key,
                                         max_header_size=max_header_size, max_headers=max_headers)
        self.request: Request = self.handshake.request
        self.response: Optional[Response] = None
        self._response_parser: Any = self.handshake.parser()
        self._out.append(self.request.serialize())

    def _receive_handshake(self, data: Any) -> None:
        if self._response_parser is None:
            return
        try:
            response = self._response_parser.feed(data)
        except InvalidMessage as exc:
            self._response_parser = None
            self._handshake_failed(exc, None)
            return
        if response is None:
            return
        trailing = self._response_parser.trailing
        self._response_parser = None
        self.response = response
        try:
            self.subprotocol, self.extensions = self.handshake.verify(response)
        except InvalidHandshake as exc:
            self._handshake_failed(exc, response)
            return
        self._events.append(response)
        self._open(trailing, self.extensions)

    def _eof_during_handshake(self) -> None:
        super()._eof_during_handshake()
        if self._response_parser is not None:
            self._response_parser = None
            self._events.append(HandshakeFailed(InvalidMessage("the connection closed during the handshake")))
