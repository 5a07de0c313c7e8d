"""Every exception wsfast raises, in one place.

::

    WebSocketError
    ├── ProtocolError            the peer broke RFC 6455/7692 (carries the close code to send)
    ├── InvalidState             the operation is not possible in the connection's state
    ├── ConnectionClosed         nothing more can be sent or received
    │   ├── ConnectionClosedOK       closed with 1000 or 1001
    │   └── ConnectionClosedError    any other ending (a failure, 1005, 1006, 1015)
    ├── InvalidURI (also a ValueError)
    ├── TLSHandshakeError    the TLS handshake failed: 1015 (also an ssl.SSLError, so an OSError)
    │   └── TLSCertificateError  the peer's certificate was refused (an ssl.SSLCertVerificationError)
    └── InvalidHandshake         the opening handshake failed
        ├── InvalidRequest       server side: the request is refused with an HTTP status
        ├── InvalidMessage       client side: the response is not well-formed HTTP/1.1
        ├── InvalidStatus        client side: the server answered something else than 101
        └── InvalidHeader        client side: a response header is missing or wrong
            ├── InvalidUpgrade
            ├── InvalidAccept
            ├── InvalidSubprotocol
            └── InvalidExtension

Outside that tree, because they are what callers of those parts catch:

    HubUnavailable (a ConnectionError)   wsfast.pubsub: Redis cannot be reached
    PatchWarning (a RuntimeWarning)      wsfast.patch: a patch was refused or not fully undone

The compiled parser raises :class:`ProtocolError` too: both implementations
share these classes, so ``except wsfast.ProtocolError`` works whichever is active.
"""

from __future__ import annotations

import http
import ssl
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from .enums import CloseCode, FailureCause

if TYPE_CHECKING:
    from .http11 import Response

__all__ = [
    "WebSocketError",
    "ProtocolError",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "closed_error",
    "InvalidURI",
    "TLSHandshakeError",
    "TLSCertificateError",
    "InvalidHandshake",
    "InvalidRequest",
    "InvalidMessage",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidUpgrade",
    "InvalidAccept",
    "InvalidSubprotocol",
    "InvalidExtension",
    "HubUnavailable",
    "PatchWarning",
]


class WebSocketError(Exception):
    """Base class of every wsfast error."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455/7692: the connection must be closed with `close_code`.

    `events` holds the events that were completed, in the same `feed`, before
    the violation, so that nothing the peer sent correctly is lost.
    """

    def __init__(self, close_code: int, reason: str, events: Optional[List[Any]] = None) -> None:
        super().__init__(close_code, reason)
        self.close_code = CloseCode(close_code)
        self.reason = reason
        self.events: List[Any] = events if events is not None else []

    def __str__(self) -> str:
        return f"{self.reason} (close code {int(self.close_code)})"

    def __repr__(self) -> str:
        return f"ProtocolError({int(self.close_code)}, {self.reason!r})"

    def __reduce__(self) -> Tuple[Any, ...]:  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (int(self.close_code), self.reason, self.events))


class InvalidState(WebSocketError):
    """The operation is not possible in the connection's current state (e.g. sending before the
    handshake, accepting twice)."""


# ---------------------------------------------------------------- the connection is closed


class ConnectionClosed(WebSocketError):
    """The connection is closed or closing: nothing more can be sent (or received).

    ``code`` / ``reason``: how the connection ended (see ``close_code`` on the
    connection; None while only our close frame is out). ``cause`` says why
    when it failed (a :class:`~wsfast.enums.FailureCause`: protocol error,
    keepalive timeout, EOF, TLS handshake, ...), None for a clean closing
    handshake; the error behind it, if any (a :class:`ProtocolError`, an
    ``ssl.SSLError``...), is ``__cause__``.
    """

    def __init__(self, code: Optional[int], reason: str = "", cause: Optional[FailureCause] = None) -> None:
        super().__init__(code, reason)
        self.code = None if code is None else CloseCode(code)
        self.reason = reason
        self.cause = cause

    def __str__(self) -> str:
        if self.code is None:
            return "the connection is closing"
        text = f"the connection is closed: {int(self.code)} ({self.code.name})"
        if self.reason:
            text = f"{text} {self.reason}"
        if self.cause is not None:
            text = f"{text} [{self.cause.value}]"
        return text

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (None if self.code is None else int(self.code), self.reason, self.cause))


class ConnectionClosedOK(ConnectionClosed):
    """Closed cleanly: 1000 or 1001."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with any other code (a failure, or 1005/1006/1015)."""


def closed_error(code: Optional[int], reason: str = "", cause: Optional[FailureCause] = None,
                 error: Optional[BaseException] = None) -> ConnectionClosed:
    """The ConnectionClosed subclass that fits ``code``, with ``error`` as its ``__cause__``."""
    exc: ConnectionClosed
    if code in (CloseCode.NORMAL, CloseCode.GOING_AWAY) and cause is None:
        exc = ConnectionClosedOK(code, reason, cause)
    else:
        exc = ConnectionClosedError(code, reason, cause)
    if error is not None:
        exc.__cause__ = error
    return exc


class InvalidURI(WebSocketError, ValueError):
    """Not a ws:// or wss:// URI we can connect to (also a ValueError)."""


class TLSHandshakeError(WebSocketError, ssl.SSLError):
    """The TLS handshake failed before any WebSocket byte was exchanged: close code 1015.

    ``close_code`` is ``CloseCode.TLS_HANDSHAKE`` and ``cause``
    ``FailureCause.TLS_HANDSHAKE``; the ssl error (or the reset, the EOF, the
    timeout) is ``__cause__``, and its ``reason`` / ``library`` /
    ``verify_code`` / ``verify_message`` are copied here. Still an
    ``ssl.SSLError``, so code that catches ``OSError`` or ``ssl.SSLError``
    around ``connect()`` keeps working. 1015 is never sent on the wire.
    """

    close_code = CloseCode.TLS_HANDSHAKE
    cause = FailureCause.TLS_HANDSHAKE


class TLSCertificateError(TLSHandshakeError, ssl.SSLCertVerificationError):
    """The peer's certificate was refused: untrusted, expired, or for another host name (still an
    ``ssl.SSLCertVerificationError``)."""


# ---------------------------------------------------------------- the opening handshake


def status_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status ("" for an unknown one)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class InvalidHandshake(WebSocketError):
    """The opening handshake failed (base class of every handshake error)."""


class InvalidRequest(InvalidHandshake):
    """The server refuses the request with HTTP ``status``; ``reason`` says why.

    ``headers`` are extra response headers the status calls for (``Allow`` for
    405, ``Sec-WebSocket-Version`` for 426, ...).
    """

    def __init__(self, status: int, reason: str, headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(status, reason)
        self.status = int(status)
        self.reason = reason
        self.headers = list(headers)

    def __str__(self) -> str:
        return f"{self.status} {status_phrase(self.status)}: {self.reason}"


class InvalidMessage(InvalidHandshake):
    """The server's response is not well-formed HTTP/1.1 (or the connection ended first)."""


class InvalidStatus(InvalidHandshake):
    """The server answered with another status than 101 Switching Protocols."""

    def __init__(self, response: Response) -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return (f"server rejected the WebSocket connection: HTTP {self.response.status} "
                f"{self.response.reason}".rstrip())


class InvalidHeader(InvalidHandshake):
    """A header of the server's response is missing, duplicated or wrong."""

    def __init__(self, name: str, value: Optional[str] = None, why: str = "") -> None:
        super().__init__(name, value, why)
        self.name = name
        self.value = value
        self.why = why

    def __str__(self) -> str:
        if self.value is None:
            text = f"missing {self.name} header"
        else:
            text = f"invalid {self.name} header: {self.value!r}"
        return f"{text} ({self.why})" if self.why else text


class InvalidUpgrade(InvalidHeader):
    """``Upgrade: websocket`` or ``Connection: Upgrade`` is missing from the response."""


class InvalidAccept(InvalidHeader):
    """``Sec-WebSocket-Accept`` does not match the key we sent."""


class InvalidSubprotocol(InvalidHeader):
    """The server chose a subprotocol we did not offer (or several)."""


class InvalidExtension(InvalidHeader):
    """The server accepted an extension we did not offer, or with parameters we refuse."""


class HubUnavailable(ConnectionError):
    """Redis cannot be reached (at start, or for a publish during an outage)."""


class PatchWarning(RuntimeWarning):
    """A patch was refused (nothing changed) or could not be fully undone."""
