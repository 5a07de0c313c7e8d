"""The sans-I/O WebSocket protocol: :class:`ServerProtocol` and :class:`ClientProtocol`.

Every protocol decision is made here; the I/O layers above (asyncio, uvicorn)
only move bytes, run timers and wake the application. No sockets, no event
loop, no clock of its own: the caller feeds received bytes
(:meth:`~Protocol.receive_data`, :meth:`~Protocol.receive_eof`), reads what
happened (:meth:`~Protocol.events`), sends (``send_*``, :meth:`~Protocol.ping`,
:meth:`~Protocol.close`), writes out :meth:`~Protocol.data_to_send` and closes
the transport once :attr:`~Protocol.should_close_transport` says so.
Keepalive and timeouts run on the caller's clock: :meth:`~Protocol.next_deadline`
says when to call :meth:`~Protocol.tick` next.

Server side, the opening handshake (as in websockets' ``ServerProtocol``)::

    protocol.receive_data(data)
    for event in protocol.events():
        if isinstance(event, Request):          # any request head, upgrade or not
            response = protocol.accept(event)   # 101, or the error response (400/403/405/426)
            protocol.send_response(response)    # or send_response(protocol.reject(404, "no"))
    transport.writelines(protocol.data_to_send())

Events, in order, from :meth:`~Protocol.events`:

- the frame parser's events: ``TextMessage`` (``.data`` str), ``BinaryMessage``,
  ``Ping``, ``Pong``, ``Close`` (``.code``, ``.reason``; 1005 when the peer's
  close frame had no code) — the classes of the implementation this protocol
  runs on (:attr:`~Protocol.message_types`), passed through untouched;
- :class:`~wsfast.http11.Request` (server: a request head arrived; answer it)
  and :class:`~wsfast.http11.Response` (client: the server accepted us);
- :class:`HandshakeFailed` (the opening handshake failed; an error response,
  if one is due, is already queued);
- :class:`ConnectionFailed`: the connection ended without a closing
  handshake, with its :class:`~wsfast.enums.FailureCause` — a protocol error
  (we sent 1002/1007/1009), a keepalive timeout or an internal error (we sent
  1011), EOF or a closing handshake that timed out (1006).

The lifecycle (RFC 6455 section 7): a received close is answered with the same
code (1000 if it had none) and no data is delivered after it; after our close,
received data frames are dropped until the peer's close arrives; the server
closes the TCP connection first, the client waits for it (at most
``close_timeout``). :attr:`~Protocol.state` is CLOSED once both close frames
were exchanged or the transport ended.

Keepalive: every ``ping_interval`` a ping with a fresh 4-byte payload goes
out; only a pong carrying that payload (or the payload of a later ping of
ours) answers it — websockets matches pongs the same way, and RFC 6455 allows
a pong to answer several pings. Unsolicited pongs, and pongs for payloads we
never sent, keep nothing alive: a peer that only sends pongs and never reads
ours is timed out with 1011 after ``ping_timeout``. While the I/O layer is not
reading, the pong may be there unread: it says why (:meth:`~Protocol.write_progress`:
the peer drained some of our send buffer; :meth:`~Protocol.application_behind`:
the application has not taken the peer's messages) and the deadline moves to
``ping_timeout`` from then. A peer that reads nothing we send for longer than
``ping_timeout`` while our reads are held for a full write buffer gets no such
call, and 1011.

Compression memory: the compressor's state (zlib's or ISA-L's) is made
with the first message that is compressed. With context takeover it stays
for the next message, but a keepalive ping that finds nothing was sent for a
whole ``ping_interval`` frees it (the next message starts a new compressor,
without the history: valid, since every message ends with a flush), and so
does our close frame (nothing can be sent after it). The decompressor, made
with the first compressed message received, is kept while the peer keeps its
context, but at a ping that finds nothing was inflated for a whole interval
it is freed and only its window (the last ``2**window_bits`` bytes it made,
which the peer may still refer to) is kept, to set on the next one. Without
context takeover neither is held between messages.

Holding a failure back (``hold_failure=True``, what an I/O layer with a
message queue wants): when the peer breaks the protocol after sending good
messages, those messages are still delivered; the close frame that fails the
connection is held back until :meth:`~Protocol.release_failure` (the
application has read them, and may still answer them) or ``close_timeout``
later, whichever comes first.

Cost per message: when a received chunk holds only data messages (the common
case), :meth:`~Protocol.receive` hands the parser's event list over as is,
after one integer comparison for control frames.

Compression (permessage-deflate, RFC 7692) is negotiated by default
(``compression="deflate"``; ``None`` turns it off, a
:class:`~wsfast.extensions.permessage_deflate.DeflateOptions` tunes it).
Once agreed (:attr:`~Protocol.deflate`), the parser inflates compressed
messages and every ``send_*`` compresses messages of at least ``min_size``
bytes; a message sent in fragments is compressed fragment by fragment,
each flushed, and :meth:`~Protocol.send_fragments` compresses the whole
message once and splits the result.
"""

from __future__ import annotations

import enum
import os
import struct
import time
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _defaults, _impl
from ._twin_helpers import as_bytes
from .close import build_close_payload, check_close
from .enums import CloseCode, FailureCause, Opcode
from .exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidRequest,
    InvalidState,
    ProtocolError,
    closed_error,
)
from .extensions import ClientExtension, ServerExtension
from .extensions.permessage_deflate import (
    Compression,
    PerMessageDeflate,
    client_extensions,
    server_extensions,
)
from .handshake import ClientHandshake, ExtraHeaders, OriginPolicy, ServerHandshake, plain_response
from .headers import HeadersLike
from .http11 import MAX_HEADER_SIZE, MAX_HEADERS, Request, RequestParser, Response, ResponseParser
from .uri import WebSocketURI

__all__ = [
    "State",
    "Protocol",
    "ServerProtocol",
    "ClientProtocol",
    "HandshakeFailed",
    "ConnectionFailed",
    "Clock",
    "encode_shared",
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

Clock = Callable[[], float]
Implementation = Union[None, str, types.SimpleNamespace]


# ---------------------------------------------------------------- connection-level events


class HandshakeFailed:
    """The opening handshake failed; the connection never opened.

    Server: ``error`` is the :class:`~wsfast.exceptions.InvalidRequest` (with its
    ``status``) for a request that is not even well-formed HTTP, ``response`` the
    error response already queued. Client: ``error`` is the
    :class:`~wsfast.exceptions.InvalidHandshake` naming the mismatch, ``response``
    what the server sent (None if it was not HTTP).
    """

    __slots__ = ("error", "response")

    def __init__(self, error: Exception, response: Optional[Response] = None) -> None:
        self.error = error
        self.response = response

    def __repr__(self) -> str:
        return f"HandshakeFailed({self.error!r})"


class ConnectionFailed:
    """The connection ended without a clean closing handshake.

    ``code`` is the connection's close code: 1002/1007/1009 for a protocol
    error (``error`` is the ProtocolError; that code was sent), 1011 for a
    keepalive timeout or an internal error (sent), 1006 when the transport
    ended before the peer's close frame. ``cause`` says which
    (:class:`~wsfast.enums.FailureCause`), so nobody has to guess it from the code.
    """

    __slots__ = ("code", "reason", "cause", "error")

    def __init__(self, code: int, reason: str, cause: FailureCause, error: Optional[BaseException] = None
                 ) -> None:
        self.code = CloseCode(code)
        self.reason = reason
        self.cause = cause
        self.error = error

    def __repr__(self) -> str:
        return (f"ConnectionFailed(code=CloseCode.{self.code.name}, reason={self.reason!r}, "
                f"cause=FailureCause.{self.cause.name})")


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


def _control_payload(data: Union[bytes, str], what: str) -> bytes:
    if isinstance(data, str):
        payload = data.encode("utf-8")
    else:
        payload = as_bytes(data, f"{what} data", "str or a bytes-like object")
    if len(payload) > 125:
        raise ValueError(f"{what} payload is {len(payload)} bytes; control frames carry at most 125")
    return payload


def encode_shared(message: Union[str, bytes], deflate: Optional[PerMessageDeflate] = None) -> bytes:
    """``message`` as the frame :meth:`Protocol.send_encoded` takes: one final, unmasked TEXT
    (str) or BINARY (bytes-like) frame, encoded once and queued on many server connections.

    ``deflate``: compressed for connections whose :meth:`Protocol.shared_key`
    is ``deflate.shared_key`` (compressed on its own, RSV1 set).
    """
    opcode = Opcode.TEXT if isinstance(message, str) else Opcode.BINARY
    impl = _impl.active()
    if deflate is None:
        return impl.encode_frame(opcode, message)  # type: ignore[no-any-return]
    payload = message.encode("utf-8") if isinstance(message, str) else message
    return impl.encode_frame(opcode, impl.Compressor(deflate).compress(payload), rsv1=True)  # type: ignore[no-any-return]


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def _resolve_impl(impl: Implementation) -> types.SimpleNamespace:
    if impl is None:
        return _impl.active()
    if isinstance(impl, str):
        return _impl.load(impl)
    return impl


_EVENT_TYPES: Dict[int, Tuple[Any, Tuple[Any, Any], Tuple[Any, Any, Any]]] = {}


def _event_types(impl: types.SimpleNamespace) -> Tuple[Tuple[Any, Any], Tuple[Any, Any, Any]]:
    """(TextMessage, BinaryMessage) and the control frames' classes (in order of how often they
    come) of ``impl``: made once per implementation, not once per connection."""
    found = _EVENT_TYPES.get(id(impl))
    if found is None or found[0] is not impl:
        if len(_EVENT_TYPES) > 64:  # namespaces made on the fly (tests): keep the table small
            _EVENT_TYPES.clear()
        found = _EVENT_TYPES[id(impl)] = (impl, (impl.TextMessage, impl.BinaryMessage),
                                          (impl.Ping, impl.Close, impl.Pong))
    return found[1], found[2]


def _parse_kept_head(parser_cls: Any, head: bytes) -> Any:
    """A request or response head kept as its bytes once the connection opened, parsed again
    (it was valid when it came or went; the limits are its own size and line count)."""
    return parser_cls(max_header_size=len(head) + 1, max_headers=head.count(b"\r\n")).feed(head)


def _positive(name: str, value: Optional[float]) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be > 0 or None")


# ---------------------------------------------------------------- the protocol


class Protocol:
    """What both sides share. Create a :class:`ServerProtocol` or :class:`ClientProtocol`.

    Options (keyword-only, both sides):

    max_message_size:
        Largest message accepted (bytes, summed over fragments, after
        decompression); None for no limit. Bigger → 1009.
    ping_interval / ping_timeout:
        Keepalive: send a ping every ``ping_interval`` seconds while open; if no
        pong answers it within ``ping_timeout`` seconds, fail the connection
        with 1011. None disables either. Finds half-open TCP connections
        without waiting hours for TCP keep-alive.
    close_timeout:
        How long to wait for the peer's close frame after ours, for the server
        to close TCP after the closing handshake (client), and at most how
        long a failure is held back (``hold_failure``). None: wait forever.
    auto_pong:
        Answer pings with a pong carrying the same payload (the Ping event is
        still reported).
    hold_failure:
        Hold the close frame that fails the connection back until
        :meth:`release_failure` (see the module docstring).
    clock:
        The caller's clock (seconds, monotonic); deadlines are in its terms.
    impl:
        The hot-path implementation: None (the active one), "c", "python", or a
        namespace from ``wsfast._impl.load``. Received events are that
        implementation's classes (:attr:`message_types`).
    """

    # What broadcast() reads on each of thousands of connections whose objects are cold (the
    # kernel's work for the previous connection evicted them): as slots they sit in the object
    # itself, a cache line or two, not in its attribute dict (dict, keys, entries: more lines).
    is_client = False

    # one connection's state: slots, no per-instance dict (idle connections cost memory by the
    # thousand; what broadcast() reads on thousands of cold connections sits in the object itself);
    # ``__dict__`` stays available (empty until used) for attributes set from outside
    __slots__ = (
        "_acked", "_clock", "_close_cls", "_close_code", "_close_deadline", "_close_rcvd", "_close_reason",
        "_close_sent", "_close_timed_out", "_compressor", "_control_types", "_controls", "_data_types",
        "_decode_text", "_encode", "_eof", "_events", "_failed", "_failure", "_feed", "_fragment_compressed",
        "_fragmenting", "_held_close", "_impl", "_keepalive_ping", "_mask", "_min_size", "_next_ping", "_out",
        "_parser", "_ping_cls", "_pings", "_pong_cls", "_pong_deadline", "_release_deadline", "_should_close",
        "_state", "auto_pong", "close_timeout", "deflate", "extensions", "handshake_exc", "hold_failure",
        "max_message_size", "message_types", "ping_interval", "ping_timeout", "subprotocol",
        "__dict__", "__weakref__",
    )

    def __init__(
        self,
        *,
        max_message_size: Optional[int] = _defaults.MAX_MESSAGE_SIZE,
        ping_interval: Optional[float] = _defaults.PING_INTERVAL,
        ping_timeout: Optional[float] = _defaults.PING_TIMEOUT,
        close_timeout: Optional[float] = _defaults.CLOSE_TIMEOUT,
        auto_pong: bool = True,
        hold_failure: bool = False,
        clock: Clock = time.monotonic,
        impl: Implementation = None,
    ) -> None:
        _positive("ping_interval", ping_interval)
        _positive("ping_timeout", ping_timeout)
        _positive("close_timeout", close_timeout)
        self._impl = impl = _resolve_impl(impl)
        self.max_message_size = max_message_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.auto_pong = auto_pong
        self.hold_failure = hold_failure
        self._clock = clock
        self._encode = impl.encode_frame
        self._mask: Any = True if self.is_client else None
        self._ping_cls = impl.Ping
        self._pong_cls = impl.Pong
        self._close_cls = impl.Close
        # the implementation's event classes, in tuples shared by every protocol on it
        self.message_types, self._control_types = _event_types(impl)
        self._data_types = self.message_types  # `in` a 2-tuple: two identity checks
        self._parser: Any = None
        self._decode_text = True
        self._controls = 0  # the parser's control_frames count, as of the last batch processed
        self._feed: Callable[[Any], List[Any]] = self._not_open
        self._state = _CONNECTING
        self._events: List[Any] = []
        self._out: List[bytes] = []
        self._should_close = False
        self._eof = False
        self._failed = False  # we failed the connection: the parser's input is ignored from now on
        self._failure: Optional[ConnectionFailed] = None
        self._held_close: Optional[bytes] = None  # the failing close frame, while held back
        self._release_deadline: Optional[float] = None
        self._close_sent: Optional[Tuple[Optional[CloseCode], str]] = None
        self._close_rcvd: Any = None
        self._close_code: Optional[CloseCode] = None
        self._close_reason = ""
        self._close_timed_out = False
        self._fragmenting = 0  # opcode of the message we are sending in fragments (0: none)
        self._fragment_compressed = False  # ...and whether its fragments are compressed
        self._pings: Dict[bytes, float] = {}  # payloads of our pings waiting for a pong -> sent at
        self._acked: List[Tuple[bytes, float]] = []  # (payload, round trip) answered, not yet collected
        self._keepalive_ping: Optional[bytes] = None
        self._next_ping: Optional[float] = None
        self._pong_deadline: Optional[float] = None
        self._close_deadline: Optional[float] = None
        self.handshake_exc: Optional[Exception] = None
        self.subprotocol: Optional[str] = None
        self.extensions: List[Any] = []
        self.deflate: Optional[PerMessageDeflate] = None  # the agreed permessage-deflate parameters
        self._compressor: Any = None  # set when we compress what we send
        self._min_size = 0

    # -- properties

    @property
    def decode_text(self) -> bool:
        """True (the default): a TextMessage's ``data`` is a str. False: it is the message's
        validated UTF-8 as bytes, no str built (for JSON parsers that read bytes). It can change
        at any time; it applies to the messages completed from then on."""
        return self._decode_text

    @decode_text.setter
    def decode_text(self, value: bool) -> None:
        self._decode_text = bool(value)
        if self._parser is not None:
            self._parser.decode_text = self._decode_text

    @property
    def state(self) -> State:
        return self._state

    @property
    def implementation(self) -> str:
        """Which hot path this protocol runs on ("c" or "python")."""
        return str(getattr(self._impl, "name", "?"))

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
    def failure(self) -> Optional[ConnectionFailed]:
        """The :class:`ConnectionFailed` event, once the connection failed (None otherwise)."""
        return self._failure

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception that says how the connection ended (raise it from recv()/send()).

        ConnectionClosedOK for 1000/1001 after a clean closing handshake,
        ConnectionClosedError otherwise, with ``cause`` and the underlying error
        as ``__cause__`` when it failed.
        """
        failure = self._failure
        if failure is not None:
            return closed_error(failure.code, failure.reason, failure.cause, failure.error)
        code = self._close_code
        if code is None:
            sent = self._close_sent
            if sent is not None:
                return closed_error(sent[0], sent[1])
            return ConnectionClosed(None)
        return closed_error(code, self._close_reason)

    @property
    def close_sent(self) -> Optional[Tuple[Optional[CloseCode], str]]:
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

    @property
    def failure_held(self) -> bool:
        """True while the close frame failing the connection is held back (``hold_failure``)."""
        return self._held_close is not None

    # -- receiving

    def receive_data(self, data: Any) -> None:
        """Feed bytes received from the transport (any bytes-like object; it is not kept)."""
        self._events = self.receive(data)  # everything not yet collected, these bytes' events last

    def receive(self, data: Any) -> List[Any]:
        """``receive_data(data)`` then ``events()`` in one call: the hot path for I/O layers.

        When the chunk held only data messages (no ping, pong or close), this is
        the parser's own event list, handed over without copying or scanning.
        """
        if self._state is _OPEN:
            try:  # _parse() written out: this is the path of every read
                evs = self._feed(data)
            except ProtocolError as exc:
                self._protocol_error(exc)
                return self.events()
            except MemoryError as exc:
                self._parse_failed(exc)
                return self.events()
            if self._parser.control_frames == self._controls and not self._events:
                return evs
            self._process(evs)
        else:
            self._receive_other(data)
        return self.events()

    def _parse(self, data: Any) -> Optional[List[Any]]:
        """The parser's events for ``data``; None when they failed the connection."""
        try:
            return self._feed(data)
        except ProtocolError as exc:
            self._protocol_error(exc)
        except MemoryError as exc:
            self._parse_failed(exc)
        return None

    def _parse_failed(self, exc: MemoryError) -> None:
        self._fail(CloseCode.INTERNAL_ERROR, "out of memory", FailureCause.INTERNAL_ERROR, exc)

    def events(self) -> List[Any]:
        """The events since the last call, in order (the list is yours)."""
        evs = self._events
        if not evs:
            return []
        self._events = []
        return evs

    def acknowledged_pings(self) -> List[Tuple[bytes, float]]:
        """``(payload, round_trip_seconds)`` of our pings answered since the last call, oldest first.

        A pong answers the ping with its payload and every earlier one still
        waiting; its round trip is measured on the caller's clock.
        """
        acked = self._acked
        if acked:
            self._acked = []
        return acked

    def receive_eof(self, error: Optional[BaseException] = None) -> None:
        """The transport ended (the peer closed TCP, or the caller closed it: call this from
        connection_lost too). Reports 1006 if the peer's close frame never came; ``error`` is
        what ended the transport, if anything did (a reset, ETIMEDOUT from TCP keep-alive or
        TCP_USER_TIMEOUT...): the failure's ``error``, so the ``__cause__`` of what recv() raises."""
        if self._eof:
            return
        self._eof = True
        self._should_close = True
        state = self._state
        self._state = _CLOSED
        if self._compressor is not None:
            self._compressor.release()
        self._next_ping = self._pong_deadline = self._close_deadline = self._release_deadline = None
        self._held_close = None  # too late to send it
        if state is _CONNECTING:
            self._eof_during_handshake()
            return
        if state is not _CLOSED and self._close_rcvd is None and not self._failed:
            if self._close_timed_out:
                cause, reason = FailureCause.CLOSE_TIMEOUT, "the peer did not answer our close frame in time"
            else:
                cause, reason = FailureCause.EOF, "the connection ended without a close frame"
            self._close_code = CloseCode.ABNORMAL_CLOSURE
            self._close_reason = ""
            if error is not None:
                reason = f"{reason} ({error or type(error).__name__})"
            self._report_failure(ConnectionFailed(CloseCode.ABNORMAL_CLOSURE, reason, cause, error))

    def _eof_during_handshake(self) -> None:
        self._close_code = CloseCode.ABNORMAL_CLOSURE

    def _not_open(self, data: Any) -> List[Any]:
        raise InvalidState("the connection is not open")

    def _receive_other(self, data: Any) -> None:
        if self._eof:
            raise InvalidState("data received after receive_eof()")
        state = self._state
        if state is _CONNECTING:
            self._receive_handshake(data)
        elif state is _CLOSING and not self._failed and self._close_rcvd is None:
            # our close is sent: wait for the peer's, dropping data frames
            evs = self._parse(data)
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
                self._on_pong(ev.data)
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
                self._on_pong(ev.data)
            elif kind is self._close_cls:
                self._on_close(ev)
                return

    def _on_pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return  # unsolicited, or for a ping we never sent: it answers nothing
        now = self._clock()
        for sent_payload in list(pings):
            sent_at = pings.pop(sent_payload)
            self._acked.append((sent_payload, now - sent_at))
            if sent_payload == self._keepalive_ping:
                self._keepalive_ping = None
                self._pong_deadline = None
            if sent_payload == payload:
                break

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
        self._fail(exc.close_code, exc.reason, FailureCause.PROTOCOL_ERROR, exc)

    def fail(self, code: int = CloseCode.INTERNAL_ERROR, reason: str = "",
             cause: FailureCause = FailureCause.INTERNAL_ERROR,
             error: Optional[BaseException] = None) -> None:
        """Fail the connection now (RFC 6455 7.1.7): for an I/O layer that cannot go on
        (e.g. out of memory). Sends a close frame with ``code`` if it still may."""
        check_close(code, "")
        if self._state is _CONNECTING:
            raise InvalidState("the opening handshake is not complete")
        self._fail(code, reason, cause, error)

    def _fail(self, code: int, reason: str, cause: FailureCause, error: Optional[BaseException]) -> None:
        """Send a close with `code` if we still may, stop processing input, report it."""
        if self._failed or self._close_rcvd is not None or self._eof:
            return
        self._failed = True
        self._state = _CLOSING
        self._close_code = CloseCode(code)
        self._close_reason = reason
        self._next_ping = self._pong_deadline = None
        self._report_failure(ConnectionFailed(code, reason, cause, error))
        if self._close_sent is not None:
            self._after_failing_close(code)
            return
        frame = self._close_frame(code, _truncate_utf8(reason, 123))
        if self.hold_failure and cause is FailureCause.PROTOCOL_ERROR:
            self._held_close = frame
            self._release_deadline = (None if self.close_timeout is None
                                      else self._clock() + self.close_timeout)
            return
        self._out.append(frame)
        self._after_failing_close(code)

    def _after_failing_close(self, code: int) -> None:
        if self.is_client and code != CloseCode.INTERNAL_ERROR and self.close_timeout is not None:
            # the client waits (a while) for the server to close TCP
            self._close_deadline = self._clock() + self.close_timeout
        else:
            self._should_close = True
            self._close_deadline = None

    def release_failure(self) -> None:
        """Send the held-back close frame now (the application has read what came before the
        violation). Nothing happens when no failure is held."""
        frame = self._held_close
        if frame is None:
            return
        self._held_close = None
        self._release_deadline = None
        self._out.append(frame)
        code = self._close_code
        self._after_failing_close(CloseCode.PROTOCOL_ERROR if code is None else code)

    def _report_failure(self, event: ConnectionFailed) -> None:
        self._failure = event
        self._events.append(event)

    # -- sending

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            if self._held_close is not None:
                return  # answering the messages before a held failure is still allowed
            if self._state is _CONNECTING:
                raise InvalidState("the opening handshake is not complete")
            raise self.close_exc

    def send_text(self, data: str, *, fin: bool = True) -> None:
        """Queue a text message (or its first fragment, ``fin=False``). TypeError unless
        ``data`` is str; a str with lone surrogates is a UnicodeEncodeError; nothing is queued."""
        if type(data) is not str and not isinstance(data, str):
            raise TypeError(f"send_text() takes str, not {type(data).__name__}")
        payload = data.encode("utf-8")
        if self._state is not _OPEN or self._fragmenting:
            self._check_data()
        if fin:
            self._send_data(0x81, payload)
        else:
            self._fragment(Opcode.TEXT, payload, False)

    def send_binary(self, data: Any, *, fin: bool = True) -> None:
        """Queue a binary message (or its first fragment); any bytes-like object, str is a TypeError."""
        payload = data if type(data) is bytes else as_bytes(data, "send_binary() data")
        if self._state is not _OPEN or self._fragmenting:
            self._check_data()
        if fin:
            self._send_data(0x82, payload)
        else:
            self._fragment(Opcode.BINARY, payload, False)

    def send_continuation(self, data: Union[str, bytes], *, fin: bool) -> None:
        """Queue the next fragment of the message started with ``send_text/send_binary(fin=False)``."""
        if not self._fragmenting:
            raise InvalidState("no fragmented message is being sent")
        if self._fragmenting == Opcode.TEXT:
            if not isinstance(data, str):
                raise TypeError(f"a text message continues with str, not {type(data).__name__}")
            payload = data.encode("utf-8")
        else:
            payload = as_bytes(data, "send_continuation() data")
        self._check_open()
        self._fragment(Opcode.CONTINUATION, payload, fin)

    def send(self, data: Union[str, bytes]) -> None:
        """send_text() for str, send_binary() for bytes-like objects."""
        if isinstance(data, str):
            self.send_text(data)
        else:
            self.send_binary(data)

    def send_fragments(self, opcode: int, data: Union[str, bytes], fragment_size: int) -> None:
        """Queue one whole TEXT or BINARY message split into frames of ``fragment_size`` payload bytes."""
        if opcode == Opcode.TEXT and not isinstance(data, str):
            raise TypeError(f"a text message must be str, not {type(data).__name__}")
        if opcode == Opcode.BINARY and isinstance(data, str):
            raise TypeError("a binary message must be bytes, not str")
        compressor = self._compressor
        if compressor is not None:
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(memoryview(data).cast("B"))
            if size < self._min_size:
                compressor = None
        self._check_data()
        self._out += self._impl.encode_message(opcode, data, mask=self._mask, fragment_size=fragment_size,
                                               compressor=compressor)

    def send_encoded(self, frame: bytes) -> None:
        """Queue one pre-encoded data frame, the same bytes object for many connections (broadcast).

        ``frame`` must be a complete, final, unmasked TEXT or BINARY frame (as
        :func:`encode_shared` makes); only a server sends unmasked
        frames. A compressed frame (RSV1) is accepted where permessage-deflate
        was agreed and we reset our compressor after every message (no context
        takeover on our side): it must then be compressed on its own, with a
        window of at most ``deflate.local_max_window_bits`` (a
        ``Compressor`` for the same ``deflate.shared_key`` makes it).
        Raises ConnectionClosed/InvalidState like the other ``send_*``.
        """
        if self.is_client:
            raise InvalidState("a client masks every frame with a fresh key: it cannot share frames")
        if type(frame) is not bytes or len(frame) < 2 or frame[1] & 0x80 or frame[0] not in (
                (0x81, 0x82, 0xC1, 0xC2) if self._shares_compressed() else (0x81, 0x82)):
            raise ValueError("send_encoded() takes one final, unmasked TEXT or BINARY frame as bytes "
                             "(compressed only where our compressor keeps no context)")
        if self._state is not _OPEN or self._fragmenting or self._held_close is not None:
            self._check_data()
            if self._held_close is not None:
                raise self.close_exc
        self._out.append(frame)

    def writes_encoded_now(self) -> bool:
        """True when a pre-encoded frame given to :meth:`send_encoded` now would be the next bytes
        out: a server connection, open, not in the middle of a fragmented message, no failure
        held, nothing queued. The I/O layer may then write that shared frame to the transport
        itself instead of queueing it (``broadcast()`` does, for thousands of connections)."""
        return (self._state is _OPEN and not self._out and not self._fragmenting
                and self._held_close is None and not self.is_client)

    def broadcast_key(self, size: int) -> Optional[Tuple[int, ...]]:
        """:meth:`shared_key` if :meth:`writes_encoded_now`, else None, in one call: which shared
        frame of a message of ``size`` bytes the I/O layer may write to the transport itself now,
        as the next bytes out. ``broadcast()`` asks each of thousands of connections; it reads
        only the protocol's slots (and ``deflate`` when we compress)."""
        if (self._state is not _OPEN or self._out or self._fragmenting or self._held_close is not None
                or self._mask is not None):  # a client masks every frame: it cannot share them
            return None
        if self._compressor is None or size < self._min_size:
            return ()
        return self.deflate.shared_key  # type: ignore[union-attr]

    def _shares_compressed(self) -> bool:
        deflate = self.deflate
        return deflate is not None and deflate.shared_key is not None

    def shared_key(self, size: int) -> Optional[Tuple[int, ...]]:
        """How this connection can take a message of ``size`` bytes encoded for many (broadcast).

        ``()``: the plain frame (no compression agreed, or a message under
        ``min_size``); a ``(window bits, memLevel, level)`` tuple: the frame
        compressed on its own with those settings (we keep no compression
        context: connections with equal keys take the same bytes); None: it
        must encode the message itself with :meth:`send` (a client masks every
        frame with a fresh key; a compressor that keeps context must see every
        message).
        """
        if self.is_client:
            return None
        if self._compressor is None or size < self._min_size:
            return ()
        return self.deflate.shared_key  # type: ignore[union-attr]

    def _check_data(self) -> None:
        self._check_open()
        if self._fragmenting:
            raise InvalidState("a fragmented message is being sent: finish it with send_continuation()")

    def _fragment(self, opcode: int, payload: bytes, fin: bool) -> None:
        first = opcode != Opcode.CONTINUATION
        if first:
            self._fragment_compressed = self._compressor is not None
        if self._fragment_compressed:
            # every fragment of a compressed message is compressed (and flushed) in turn
            payload = self._compressor.compress(payload, fin)
        self._out.append(self._encode(opcode, payload, fin=fin, mask=self._mask,
                                      rsv1=first and self._fragment_compressed))
        if first:
            self._fragmenting = opcode
        if fin:
            self._fragmenting = 0
            self._fragment_compressed = False

    def _send_data(self, b0: int, payload: bytes) -> None:
        compressor = self._compressor
        if compressor is not None and len(payload) >= self._min_size:
            payload = compressor.compress(payload)
            b0 |= 0x40
        if self._mask is None and len(payload) > _JOIN_LIMIT:
            self._out += (_header(b0, len(payload)), payload)
        else:
            self._out.append(self._encode(b0 & 0x0F, payload, mask=self._mask, rsv1=b0 & 0x40))

    def ping(self, data: Union[None, bytes, str] = None) -> bytes:
        """Queue a ping; returns its payload (None: 4 fresh random bytes; str is sent as UTF-8).

        Its answer is reported by :meth:`acknowledged_pings`. ValueError over
        125 bytes, or when a ping with the same payload is still waiting.
        """
        return self._send_ping(data, self._clock())

    def _send_ping(self, data: Union[None, bytes, str], now: float) -> bytes:
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = _control_payload(data, "ping")
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
        self._check_open()
        self._out.append(self._encode(Opcode.PING, payload, mask=self._mask))
        self._pings[payload] = now
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
        if self._held_close is not None:
            self.release_failure()  # the failure's own close frame goes out instead
            return
        if self._state is not _OPEN:
            self._check_open()
        self._queue_close(code, reason)
        self._state = _CLOSING
        self._next_ping = self._pong_deadline = None
        if self.close_timeout is not None:
            self._close_deadline = self._clock() + self.close_timeout

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        payload = build_close_payload(code, reason)
        self._close_sent = (None if code is None else CloseCode(code), reason)
        if self._compressor is not None:
            self._compressor.release()  # no data frame can follow our close frame
        return self._encode(Opcode.CLOSE, payload, mask=self._mask)  # type: ignore[no-any-return]

    def _queue_close(self, code: Optional[int], reason: str) -> None:
        self._out.append(self._close_frame(code, reason))

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
        for t in (self._next_ping, self._pong_deadline, self._close_deadline, self._release_deadline):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def tick(self, now: Optional[float] = None) -> None:
        """Run what is due at ``now`` (default: the clock): send a keepalive ping, fail the
        connection with 1011 when its pong is overdue, release a held failure, give up on a
        peer that does not close."""
        if now is None:
            now = self._clock()
        if self._state is _OPEN:
            if self._pong_deadline is not None and now >= self._pong_deadline:
                self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout", FailureCause.KEEPALIVE_TIMEOUT,
                           None)
                return
            if self._next_ping is not None and now >= self._next_ping:
                if self._compressor is not None:
                    # nothing sent for a whole ping interval: forget the history, free the memory
                    self._compressor.release_idle()
                # nothing received for a whole interval: the decompressor keeps only its window
                self._parser.release_idle()
                payload = self._send_ping(None, now)
                self._next_ping = now + self.ping_interval  # type: ignore[operator]
                if self.ping_timeout is not None and self._pong_deadline is None:
                    self._keepalive_ping = payload
                    self._pong_deadline = now + self.ping_timeout
        if self._release_deadline is not None and now >= self._release_deadline:
            self.release_failure()
        if self._close_deadline is not None and now >= self._close_deadline:
            self._close_deadline = None
            self._should_close = True
            if self._close_rcvd is None and not self._failed:
                self._close_timed_out = True

    def write_progress(self, now: Optional[float] = None) -> None:
        """The peer took bytes from our send buffer while our reading is paused.

        An I/O layer that stops reading while its write buffer is full cannot
        see the pong of a keepalive ping: a peer that keeps draining what we
        send is alive, so each call moves a pending pong deadline to at least
        ``now + ping_timeout`` (call it too when reading resumes, so that the
        pong waiting behind our data gets a full ``ping_timeout`` to arrive).
        A peer that reads nothing gets no such calls and is timed out (1011)
        as usual.
        """
        self._defer_pong_deadline(now)

    def application_behind(self, now: Optional[float] = None) -> None:
        """Reading is paused because the application has not taken the messages the peer sent.

        The pong of a keepalive ping may be waiting unread behind them: that is
        not the peer's fault, so each call moves a pending pong deadline to at
        least ``now + ping_timeout``; once the application catches up and reading
        resumes, the usual deadline applies again.
        """
        self._defer_pong_deadline(now)

    def _defer_pong_deadline(self, now: Optional[float]) -> None:
        if self._pong_deadline is None or self.ping_timeout is None:
            return
        if now is None:
            now = self._clock()
        self._pong_deadline = max(self._pong_deadline, now + self.ping_timeout)

    # -- opening

    def _open(self, trailing: bytes, extensions: Sequence[Any]) -> None:
        """The handshake succeeded: start framing, keepalive, and parse what followed the head."""
        for ext in extensions:
            if isinstance(ext, PerMessageDeflate):
                self.deflate = ext
                self._min_size = ext.min_size
                if ext.compresses:
                    self._compressor = self._impl.Compressor(ext)
        parser = self._impl.FrameParser(client=self.is_client, max_message_size=self.max_message_size,
                                        extensions=tuple(extensions))
        self._parser = parser
        parser.decode_text = self._decode_text
        self._feed = parser.feed
        self._state = _OPEN
        if self.ping_interval is not None:
            self._next_ping = self._clock() + self.ping_interval
        if trailing:
            self.receive_data(trailing)

    def _handshake_failed(self, error: Exception, response: Optional[Response]) -> None:
        self.handshake_exc = error
        self._state = _CLOSED
        self._should_close = True
        self._close_code = CloseCode.ABNORMAL_CLOSURE
        self._close_reason = str(error)
        self._events.append(HandshakeFailed(error, response))


class ServerProtocol(Protocol):
    """The server side: surfaces the request head, answers it as the caller decides, then speaks WebSocket.

    Handshake policy options: those of :class:`wsfast.handshake.ServerHandshake`
    (``origins``, ``subprotocols``, ``select_subprotocol``, ``extensions``,
    ``extra_headers``, ``max_header_size``, ``max_headers``) and
    ``compression`` (``"deflate"``, the default: answer permessage-deflate
    offers; ``None``: never; or
    :class:`~wsfast.extensions.permessage_deflate.DeflateOptions`), or a
    shared ``handshake`` object (a server shares one across its connections;
    its extensions decide, and ``compression`` is not used).

    Every complete request head is reported as a :class:`~wsfast.http11.Request`
    event — an upgrade or not (a health check) — and the caller answers it:
    :meth:`accept` builds the 101 (or the error response the request
    deserves), :meth:`reject` a plain response, :meth:`send_response` sends
    either. A head that is not even well-formed HTTP/1.1 (400), or too large
    (431), is answered here at once and reported as :class:`HandshakeFailed`.
    Bytes the client sends after its head are kept (at most
    ``MAX_PENDING_AFTER_REQUEST``) until the answer; an I/O layer should stop
    reading until then.
    """

    is_client = False

    __slots__ = ("handshake", "_request_parser", "_pending", "_accepted", "_request", "_request_head",
                 "_response", "_response_head")

    def __init__(
        self,
        *,
        origins: OriginPolicy = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Optional[Callable[[List[str]], Optional[str]]] = None,
        extensions: Sequence[ServerExtension] = (),
        compression: Compression = "deflate",
        extra_headers: ExtraHeaders = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
        handshake: Optional[ServerHandshake] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if handshake is None:
            handshake = ServerHandshake(origins=origins, subprotocols=subprotocols,
                                        select_subprotocol=select_subprotocol,
                                        extensions=server_extensions(compression, extensions),
                                        extra_headers=extra_headers, max_header_size=max_header_size,
                                        max_headers=max_headers)
        self.handshake = handshake
        self._request_parser: Any = handshake.parser()
        self._pending: Optional[bytearray] = None  # bytes after the request, until it is answered
        self._accepted: Optional[Tuple[Response, Optional[str], List[Any]]] = None
        self._request: Optional[Request] = None
        self._response: Optional[Response] = None
        # once open, the request and the 101 are kept as their bytes (a few hundred, where the
        # parsed objects cost ~1.5 KiB per connection) and parsed again if someone asks
        self._request_head: Optional[bytes] = None
        self._response_head: Optional[bytes] = None

    @property
    def request(self) -> Optional[Request]:
        """The request head (``.path``, ``.headers``), once received."""
        request = self._request
        if request is None and self._request_head is not None:
            request = self._request = _parse_kept_head(RequestParser, self._request_head)
            self._request_head = None
        return request

    @request.setter
    def request(self, request: Optional[Request]) -> None:
        self._request = request
        self._request_head = None

    @property
    def response(self) -> Optional[Response]:
        """The response we sent (the 101, or the HTTP answer that refused the request)."""
        response = self._response
        if response is None and self._response_head is not None:
            response = self._response = _parse_kept_head(ResponseParser, self._response_head)
            self._response_head = None
        return response

    @response.setter
    def response(self, response: Optional[Response]) -> None:
        self._response = response
        self._response_head = None

    def _receive_handshake(self, data: Any) -> None:
        pending = self._pending
        if pending is not None:  # the request is waiting for its answer
            if len(pending) + len(data) > _defaults.MAX_PENDING_AFTER_REQUEST:
                self._pending = None
                self._request_parser = None
                error = InvalidRequest(400, "too much data sent before the handshake was answered")
                self._send_refusal(self.handshake.error_response(error), error)
                return
            pending += data
            return
        if self._request_parser is None:
            return  # answered: input is ignored until the 101 opens the connection
        try:
            request = self._request_parser.feed(data)
        except InvalidRequest as exc:
            self._request_parser = None
            self._send_refusal(self.handshake.error_response(exc), exc)
            return
        if request is None:
            return
        self.request = request
        self._pending = bytearray(self._request_parser.trailing)
        self._request_parser = None
        self._events.append(request)

    @property
    def request_pending(self) -> bool:
        """True between the Request event and :meth:`send_response`."""
        return self._pending is not None

    def accept(self, request: Request, *, subprotocol: Any = ...,
               extra_headers: Optional[HeadersLike] = None) -> Response:
        """The answer to ``request``: 101 Switching Protocols if it is a WebSocket upgrade the
        policy accepts, else the error response it deserves (400/403/405/426; the reason is
        in :attr:`handshake_exc`). Pass the result to :meth:`send_response`.

        ``subprotocol`` overrides the policy's choice (None: none; it must be one
        the client offered); ``extra_headers`` are added to the 101. A policy
        hook that raises (``select_subprotocol``, a callable ``extra_headers``)
        gives a 500 response, the exception in :attr:`handshake_exc`.
        """
        if request is not self.request or self._pending is None:
            raise InvalidState("this request is not waiting for an answer")
        try:
            self.handshake.check(request)
        except InvalidRequest as exc:
            self.handshake_exc = exc
            return self.handshake.error_response(exc)
        try:
            accepted = self.handshake.accept(request, subprotocol=subprotocol, extra_headers=extra_headers)
        except Exception as exc:
            self.handshake_exc = exc
            return plain_response(500, "Internal Server Error\n")
        self._accepted = accepted
        return accepted[0]

    def reject(self, status: int, text: str = "", *, headers: Optional[HeadersLike] = None) -> Response:
        """A plain text response (status 200-599: an error, a health check, a redirect) that
        closes the connection. Pass it to :meth:`send_response`."""
        return plain_response(status, text, headers)

    def send_response(self, response: Response) -> None:
        """Send the answer to the pending request: the 101 from :meth:`accept` opens the
        connection (and the frames the client sent early are parsed); any other response is
        sent, and the transport should then be closed."""
        if self._pending is None or self._state is not _CONNECTING:
            raise InvalidState("no request is waiting for an answer")
        trailing = bytes(self._pending)
        self._pending = None
        self.response = response
        head = response.serialize()
        self._out.append(head)
        if response.status == 101:
            accepted = self._accepted
            if accepted is None or accepted[0] is not response:
                raise InvalidState("a 101 response must come from accept()")
            _, self.subprotocol, self.extensions = accepted
            self._accepted = None
            # an open connection keeps the heads as bytes (parsed again on demand)
            request = self._request
            if request is not None:
                self._request = None
                self._request_head = request.serialize()
            self._response = None
            self._response_head = head
            self._open(trailing, self.extensions)
            return
        self._accepted = None
        self._state = _CLOSED
        self._should_close = True
        self._close_code = CloseCode.ABNORMAL_CLOSURE

    def _send_refusal(self, response: Response, error: InvalidRequest) -> None:
        self.response = response
        self._out.append(response.serialize())
        self._handshake_failed(error, response)

    def _eof_during_handshake(self) -> None:
        super()._eof_during_handshake()
        self._request_parser = None
        self._pending = None


class ClientProtocol(Protocol):
    """The client side: the upgrade request is queued at once (see :meth:`data_to_send`).

    ``uri`` is ``ws://host[:port]/path`` or ``wss://...`` (TLS is the I/O layer's
    job; the URI only shapes the request). Handshake options: ``origin``,
    ``subprotocols`` (offered in this order), ``extensions``
    (:class:`~wsfast.extensions.ClientExtension`), ``compression``
    (``"deflate"``, the default: offer permessage-deflate; ``None``: don't; or
    :class:`~wsfast.extensions.permessage_deflate.DeflateOptions`),
    ``extra_headers``, ``key`` (for tests; default 16 random bytes),
    ``max_header_size``, ``max_headers``.
    A server response that does not accept us gives a :class:`HandshakeFailed`
    event whose error names the mismatch; a 101 gives a ``Response`` event and OPEN.
    """

    is_client = True

    __slots__ = ("handshake", "request", "response", "_response_parser")

    def __init__(
        self,
        uri: Union[str, WebSocketURI],
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtension] = (),
        compression: Compression = "deflate",
        extra_headers: Optional[HeadersLike] = None,
        key: Optional[str] = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.handshake = ClientHandshake(uri, origin=origin, subprotocols=subprotocols,
                                         extensions=client_extensions(compression, extensions),
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
            error = InvalidMessage("the connection closed during the handshake")
            self.handshake_exc = error
            self._events.append(HandshakeFailed(error))

