"""The TLS handshake, run by wsfast itself so that a failed one is seen, logged and reported as 1015.

Why not ``loop.create_server(ssl=context)``: asyncio then runs the server-side
handshake inside its SSL protocol, and a handshake that fails (an untrusted
or expired certificate, a wrong host name, a plain-text client on the TLS
port, no common protocol version) is only logged at debug level in debug
mode: the application's protocol is created but never told, so a server can
neither name the peer nor count the failure.

So the server listens on plain TCP; each accepted connection first belongs to
a :class:`TLSAcceptor` that calls ``loop.start_tls(..., server_side=True)``.
On success the WebSocket connection gets ``connection_made`` with the TLS
transport; on failure :class:`TLSListener` logs one line with the peer
address and 1015, counts it, and the server goes on serving. The client
connects in two steps (``create_connection`` for TCP, then ``start_tls``),
so an error of the second step is a TLS failure beyond doubt — a refused or
reset TCP connection is never mistaken for one — and is raised as
:class:`~wsfast.exceptions.TLSHandshakeError` (close code 1015, the ssl error
as ``__cause__``). 1015 is only reported, never sent: no WebSocket byte has
been exchanged when a TLS handshake fails.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import sys
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..exceptions import TLSCertificateError, TLSHandshakeError

__all__ = ["TLSListener", "TLSAcceptor", "open_tls", "tls_handshake_error", "describe_failure"]

ProtocolFactory = Callable[[], asyncio.BaseProtocol]

# what a failed start_tls raises: ssl.SSLError and resets are OSErrors; EOFError for a peer that
# closes mid-handshake; asyncio.TimeoutError (not an OSError before 3.11) for ssl_handshake_timeout
_HANDSHAKE_ERRORS = (OSError, EOFError, asyncio.TimeoutError)


def tls_handshake_error(cause: BaseException, peer: str) -> TLSHandshakeError:
    """The exception ``connect()`` raises (``from cause``) when its TLS handshake with ``peer``
    failed: a :class:`TLSCertificateError` when the certificate was refused."""
    cls = TLSCertificateError if isinstance(cause, ssl_module.SSLCertVerificationError) else TLSHandshakeError
    error = cls(getattr(cause, "errno", None) or 0, f"TLS handshake with {peer} failed (1015): "
                                                     f"{describe_failure(cause)}")
    for attribute in ("reason", "library", "verify_code", "verify_message"):  # what callers inspect
        if hasattr(cause, attribute):
            setattr(error, attribute, getattr(cause, attribute))
    return error


def describe_failure(exc: BaseException) -> str:
    """Why a handshake failed, in words. A client that refuses our certificate aborts at once
    (asyncio resets the connection without flushing the TLS alert), so a server usually sees a
    reset, not the alert."""
    if isinstance(exc, ConnectionResetError):
        return "the peer reset the connection (did it refuse our certificate?)"
    return str(exc) or type(exc).__name__


def _peer_name(peer: Any) -> str:
    if not peer:
        return "?"
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


class _Handover(asyncio.Protocol):
    """Stands in for the application's protocol during ``start_tls``.

    asyncio's SSL protocol delivers application data that arrives with the end
    of the handshake before ``start_tls()`` returns (so before anyone could
    call the application's ``connection_made``): this keeps it, and an EOF or
    a loss, until :func:`hand_over` gives the connection to the application.
    """

    def __init__(self) -> None:
        self.buffered: List[bytes] = []
        self.eof = False
        self.lost: Optional[Tuple[Optional[Exception]]] = None

    def data_received(self, data: bytes) -> None:
        self.buffered.append(bytes(data))

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = (exc,)


def hand_over(tls_transport: asyncio.BaseTransport, handover: _Handover, app: asyncio.BaseProtocol) -> None:
    """Make ``app`` the TLS transport's protocol and replay what arrived before it took over."""
    tls_transport.set_protocol(app)
    app.connection_made(tls_transport)
    for chunk in handover.buffered:
        if isinstance(app, asyncio.BufferedProtocol):
            view = memoryview(chunk)
            while view:
                buffer = memoryview(app.get_buffer(len(view)))
                n = min(len(buffer), len(view))
                buffer[:n] = view[:n]
                app.buffer_updated(n)
                view = view[n:]
        else:
            app.data_received(chunk)  # type: ignore[attr-defined]
    if handover.eof:
        app.eof_received()  # type: ignore[attr-defined]
    if handover.lost is not None:
        app.connection_lost(handover.lost[0])


# ---------------------------------------------------------------- server side


class TLSListener:
    """One server's TLS: the context, the handshakes in progress and the failures (1015).

    ``protocol_factory`` is what ``loop.create_server`` gets (without ``ssl=``);
    ``app_factory`` makes the WebSocket connection a successful handshake is
    handed to. ``failures`` counts failed handshakes since the server started.
    """

    def __init__(self, context: ssl_module.SSLContext, app_factory: ProtocolFactory, logger: logging.Logger,
                 handshake_timeout: Optional[float] = None, shutdown_timeout: Optional[float] = None) -> None:
        self.context = context
        self.app_factory = app_factory
        self.logger = logger
        self.handshake_timeout = handshake_timeout
        self.shutdown_timeout = shutdown_timeout
        self.failures = 0
        self.handshakes: Set[asyncio.Task[None]] = set()

    def protocol_factory(self) -> TLSAcceptor:
        return TLSAcceptor(self)

    def failed(self, peer: Any, exc: BaseException) -> None:
        """One log line per failed handshake, with the peer and 1015; counted."""
        self.failures += 1
        self.logger.info("TLS handshake with %s failed (1015): %s", _peer_name(peer), describe_failure(exc))

    async def cancel_handshakes(self) -> None:
        """Abort the handshakes in progress (the server is closing) and wait for them to end."""
        for task in list(self.handshakes):
            task.cancel()
        if self.handshakes:
            await asyncio.gather(*self.handshakes, return_exceptions=True)


class TLSAcceptor(asyncio.Protocol):
    """Owns an accepted plain connection until its TLS handshake is done, then hands it over."""

    def __init__(self, listener: TLSListener) -> None:
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]  # the ClientHello is start_tls's to read
        if sys.version_info < (3, 11):
            # Before 3.11 an accepted selector transport starts reading right after connection_made
            # even when that paused it, and bytes read before start_tls's SSL protocol is connected
            # are dropped: the handshake would then wait for a ClientHello that already came.
            asyncio.get_running_loop().call_soon(self._pause_again_and_start, transport)
        else:
            self._start(transport)

    def _pause_again_and_start(self, transport: Any) -> None:
        if transport.is_closing():
            return
        transport.resume_reading()  # really stop reading (a read already queued is cancelled)
        transport.pause_reading()
        self._start(transport)

    def _start(self, transport: asyncio.BaseTransport) -> None:
        task = asyncio.get_running_loop().create_task(self._handshake(transport))
        self.listener.handshakes.add(task)
        task.add_done_callback(self.listener.handshakes.discard)

    async def _handshake(self, transport: Any) -> None:
        listener = self.listener
        loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        handover = _Handover()
        options: Dict[str, Any] = {}
        if listener.handshake_timeout is not None:
            options["ssl_handshake_timeout"] = listener.handshake_timeout
        if listener.shutdown_timeout is not None:
            options["ssl_shutdown_timeout"] = listener.shutdown_timeout
        try:
            tls_transport = await loop.start_tls(transport, handover, listener.context, server_side=True,
                                                 **options)
        except asyncio.CancelledError:
            transport.abort()
            raise
        except _HANDSHAKE_ERRORS as exc:
            listener.failed(peer, exc)  # start_tls has closed the transport (after its alert)
            transport.abort()  # a no-op then; not so after a timeout on some versions
            return
        if tls_transport is None:  # pragma: no cover - only when the transport is already closing
            listener.failed(peer, ConnectionResetError("the connection closed during the TLS handshake"))
            return
        hand_over(tls_transport, handover, listener.app_factory())

    def data_received(self, data: bytes) -> None:  # pragma: no cover - reading is paused
        raise AssertionError("data before the TLS handshake")

    def connection_lost(self, exc: Optional[Exception]) -> None:
        pass  # the handshake task sees it as a failed start_tls


# ---------------------------------------------------------------- client side


class _Quiet(asyncio.Protocol):
    """Holds a fresh TCP connection until start_tls takes it over."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]


async def open_tls(app_factory: ProtocolFactory, host: Any, port: Any, context: ssl_module.SSLContext, *,
                   server_hostname: Optional[str], handshake_timeout: Optional[float] = None,
                   shutdown_timeout: Optional[float] = None,
                   **loop_options: Any) -> Tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """``loop.create_connection(app_factory, host, port, ssl=context)`` in two steps: TCP first
    (its errors as they are), then TLS (its errors as :class:`TLSHandshakeError`, 1015)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(_Quiet, host, port, **loop_options)
    peer = _peer_name(transport.get_extra_info("peername") or (host, port))
    handover = _Handover()
    options: Dict[str, Any] = {}
    if handshake_timeout is not None:
        options["ssl_handshake_timeout"] = handshake_timeout
    if shutdown_timeout is not None:
        options["ssl_shutdown_timeout"] = shutdown_timeout
    try:
        tls_transport = await loop.start_tls(transport, handover, context, server_side=False,
                                             server_hostname=server_hostname, **options)
    except _HANDSHAKE_ERRORS as exc:  # start_tls has closed the transport, after sending its alert
        transport.abort()
        raise tls_handshake_error(exc, peer) from exc
    except BaseException:
        transport.abort()
        raise
    if tls_transport is None:  # pragma: no cover - only when the transport is already closing
        raise tls_handshake_error(ConnectionResetError("the connection closed"), peer)
    app = app_factory()
    hand_over(tls_transport, handover, app)
    return tls_transport, app
