"""Running the TLS handshake ourselves, on plain asyncio: the prototype for 1015 in serve() / connect().

Why: with ``loop.create_server(ssl=context)`` asyncio runs the server-side
handshake inside its SSL protocol, and a handshake that fails (an untrusted or
expired certificate, a wrong host name, a plain-text client) is only logged at
debug level, in debug mode: the application's protocol is created but never
sees ``connection_made``, so the server can neither log the peer nor count the
failure. The first test shows it.

How: the server listens on plain TCP; each accepted connection first belongs to
a small ``TLSAcceptor`` protocol that pauses reading and calls
``loop.start_tls(transport, app_protocol, context, server_side=True)``; on
success the application protocol gets ``connection_made`` with the TLS
transport, on failure the server logs one line with the peer address and 1015
and counts it, and keeps serving. The client does the same in two steps
(``create_connection`` for TCP, then ``start_tls``), so an exception from the
second step is a TLS failure beyond doubt (a reset during the handshake is not
mistaken for a refused connection): it is raised as ``TLSHandshakeError``
(close_code 1015, an ``ssl.SSLError`` and so an ``OSError``, and an
``ssl.SSLCertVerificationError`` when the certificate was refused) with the
ssl error as ``__cause__``.

The classes here are the prototype; the tests are the behaviour serve() and
connect() must keep once they run it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Callable, List, Optional, Tuple

import pytest
from _tls_certs import tls  # noqa: F401 - the fixture

from wsfast.enums import CloseCode
from wsfast.exceptions import WebSocketError

logger = logging.getLogger("wsfast.tls_study")


# ------------------------------------------------------------------ the prototype


class TLSHandshakeError(WebSocketError, ssl.SSLError):
    """The TLS handshake failed: close code 1015, the ssl error as __cause__."""

    close_code = CloseCode.TLS_HANDSHAKE


class TLSCertificateError(TLSHandshakeError, ssl.SSLCertVerificationError):
    """The peer's certificate was refused (still an ssl.SSLCertVerificationError)."""


def tls_handshake_error(cause: BaseException, peer: str) -> TLSHandshakeError:
    """The exception connect() raises for a failed handshake (raise it ``from cause``)."""
    cls = TLSCertificateError if isinstance(cause, ssl.SSLCertVerificationError) else TLSHandshakeError
    error = cls(getattr(cause, "errno", None) or 0, f"TLS handshake with {peer} failed (1015): {cause}")
    for attribute in ("reason", "library", "verify_code", "verify_message"):  # what callers inspect
        if hasattr(cause, attribute):
            setattr(error, attribute, getattr(cause, attribute))
    return error


def _describe(exc: BaseException) -> str:
    """The log's reason. A client that refuses our certificate aborts at once (asyncio resets the
    connection without flushing the TLS alert), so the server usually sees a reset, not the alert."""
    if isinstance(exc, ConnectionResetError):
        return "the peer reset the connection (did it refuse our certificate?)"
    return str(exc) or type(exc).__name__


class _Handover(asyncio.Protocol):
    """Stands in for the application protocol during start_tls.

    asyncio's SSL protocol delivers application data that arrives with the end
    of the handshake before start_tls() returns (and so before anyone could
    call the application's connection_made): this keeps it, and an EOF or a
    loss, until :func:`hand_over` gives the connection to the application.
    """

    def __init__(self) -> None:
        self.buffered: List[bytes] = []
        self.eof = False
        self.lost: Optional[Tuple[Optional[BaseException]]] = None

    def data_received(self, data: bytes) -> None:
        self.buffered.append(bytes(data))

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = (exc,)


def hand_over(tls_transport: Any, handover: _Handover, app: asyncio.BaseProtocol) -> None:
    """Make ``app`` the TLS transport's protocol and replay what arrived before it took over."""
    tls_transport.set_protocol(app)
    app.connection_made(tls_transport)
    for chunk in handover.buffered:
        if isinstance(app, asyncio.BufferedProtocol):
            view = memoryview(chunk)
            while view:
                buffer = app.get_buffer(len(view))
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


class TLSServer:
    """Accepts plain TCP and runs the TLS handshake itself (see the module docstring)."""

    def __init__(self, app_factory: Callable[[], asyncio.BaseProtocol], context: ssl.SSLContext,
                 handshake_timeout: float = 10.0) -> None:
        self.app_factory = app_factory
        self.context = context
        self.handshake_timeout = handshake_timeout
        self.failures = 0  # failed TLS handshakes (1015)
        self.handshakes: set = set()
        self.server: Optional[asyncio.AbstractServer] = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: TLSAcceptor(self), host, port)  # no ssl= here
        return self.server.sockets[0].getsockname()[1]

    def failed(self, peer: Any, exc: BaseException) -> None:
        self.failures += 1
        host, port = (peer or ("?", 0))[:2]
        logger.info("TLS handshake with %s:%s failed (1015): %s", host, port, _describe(exc))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.handshakes):
            task.cancel()
        await asyncio.gather(*self.handshakes, return_exceptions=True)
        await self.server.wait_closed()


class TLSAcceptor(asyncio.Protocol):
    """Owns an accepted connection until its TLS handshake is done, then hands it over."""

    def __init__(self, server: TLSServer) -> None:
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined] # the ClientHello is start_tls's to read
        task = asyncio.get_running_loop().create_task(self._handshake(transport))
        self.server.handshakes.add(task)
        task.add_done_callback(self.server.handshakes.discard)

    async def _handshake(self, transport: Any) -> None:
        loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        handover = _Handover()
        try:
            tls_transport = await loop.start_tls(transport, handover, self.server.context, server_side=True,
                                                 ssl_handshake_timeout=self.server.handshake_timeout)
        except asyncio.CancelledError:
            transport.abort()
            raise
        except (OSError, asyncio.TimeoutError, EOFError) as exc:  # ssl.SSLError is an OSError
            self.server.failed(peer, exc)  # start_tls has closed the transport (after its alert)
            return
        hand_over(tls_transport, handover, self.server.app_factory())

    def data_received(self, data: bytes) -> None:  # pragma: no cover - reading is paused
        raise AssertionError("data before the TLS handshake")

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        pass  # the handshake task sees it as a failed start_tls


class _Quiet(asyncio.Protocol):
    """Holds a fresh TCP connection until start_tls takes it over."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]


async def open_tls(app_factory: Callable[[], asyncio.BaseProtocol], host: str, port: int,
                   context: ssl.SSLContext, server_hostname: Optional[str] = None,
                   handshake_timeout: float = 10.0) -> Tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    """The client side: TCP first (its errors as they are), then TLS (its errors as 1015)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(_Quiet, host, port)
    handover = _Handover()
    try:
        tls_transport = await loop.start_tls(transport, handover, context, server_side=False,
                                             server_hostname=server_hostname or host,
                                             ssl_handshake_timeout=handshake_timeout)
    except (OSError, EOFError) as exc:  # start_tls has closed the transport, after sending its alert
        raise tls_handshake_error(exc, f"{host}:{port}") from exc
    except BaseException:
        transport.abort()
        raise
    app = app_factory()
    hand_over(tls_transport, handover, app)
    return tls_transport, app


# ------------------------------------------------------------------ test peers


class Echo(asyncio.Protocol):
    made: List[Echo] = []

    def connection_made(self, transport):
        self.transport = transport
        Echo.made.append(self)

    def data_received(self, data):
        self.transport.write(data)


class Collect(asyncio.Protocol):
    def __init__(self):
        self.data = bytearray()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)

    async def echoed(self, payload, timeout=10):
        self.transport.write(payload)
        for _ in range(int(timeout * 100)):
            if len(self.data) >= len(payload):
                return bytes(self.data)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no echo: {bytes(self.data)!r}")


def run(coro, timeout=30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def failure_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "wsfast.tls_study"]


async def trusted_round_trip(tls, port):  # noqa: F811
    transport, app = await open_tls(Collect, "127.0.0.1", port, tls.client_context())
    assert await app.echoed(b"still serving") == b"still serving"
    assert transport.get_extra_info("peercert") is not None
    transport.close()


# ------------------------------------------------------------------ what asyncio does by itself


def test_create_server_ssl_swallows_failed_handshakes(tls, caplog):  # noqa: F811
    """The reason for the prototype: nothing reaches the application, nothing is logged."""
    created = []
    handled = []

    class App(Echo):
        def __init__(self):
            created.append(self)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: handled.append(context))
        server = await loop.create_server(App, "127.0.0.1", 0, ssl=tls.server_context("untrusted"))
        port = server.sockets[0].getsockname()[1]
        Echo.made.clear()
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port, ssl=tls.client_context())
        await asyncio.sleep(0.2)
        server.close()
        await server.wait_closed()

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert created and not Echo.made  # a protocol was made, never connected, never told
    assert handled == []  # not even the loop's exception handler
    assert not [r for r in caplog.records if "handshake" in r.getMessage().lower()
                and r.levelno > logging.DEBUG]


# ------------------------------------------------------------------ the prototype at work


def test_trusted_handshake_serves(tls):  # noqa: F811
    async def main():
        server = TLSServer(Echo, tls.server_context("trusted"))
        port = await server.start()
        await trusted_round_trip(tls, port)
        assert server.failures == 0
        await server.close()

    run(main())


@pytest.mark.parametrize("kind, verify_message", [
    ("untrusted", "unable to get local issuer certificate"),
    ("expired", "certificate has expired"),
    ("wrong_host", "mismatch"),  # "IP address mismatch" for 127.0.0.1, "Hostname mismatch" for a name
])
def test_refused_certificate_is_1015_on_both_sides(tls, caplog, kind, verify_message):  # noqa: F811
    async def main():
        server = TLSServer(Echo, tls.server_context(kind))
        port = await server.start()
        with pytest.raises(TLSHandshakeError) as info:
            await open_tls(Collect, "127.0.0.1", port, tls.client_context())
        error = info.value
        assert error.close_code == CloseCode.TLS_HANDSHAKE == 1015
        assert isinstance(error, OSError) and isinstance(error, ssl.SSLCertVerificationError)
        assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
        assert verify_message in error.__cause__.verify_message
        assert error.verify_message == error.__cause__.verify_message
        assert "1015" in str(error) and f"127.0.0.1:{port}" in str(error)
        for _ in range(100):  # the server learns of it from the client's alert
            if server.failures:
                break
            await asyncio.sleep(0.01)
        assert server.failures == 1
        await trusted_round_trip_on(server, tls)
        await server.close()

    async def trusted_round_trip_on(server, tls):  # noqa: F811
        # the same server, now with the trusted certificate for new handshakes: it still serves
        server.context = tls.server_context("trusted")
        await trusted_round_trip(tls, server.server.sockets[0].getsockname()[1])
        assert server.failures == 1

    with caplog.at_level(logging.INFO, "wsfast.tls_study"):
        run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines  # one line per failed handshake
    assert lines[0].startswith("TLS handshake with 127.0.0.1:") and "failed (1015)" in lines[0]


def test_plain_client_on_the_tls_port(tls, caplog):  # noqa: F811
    async def main():
        loop = asyncio.get_running_loop()
        server = TLSServer(Echo, tls.server_context("trusted"))
        port = await server.start()
        transport, plain = await loop.create_connection(Collect, "127.0.0.1", port)
        transport.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        await asyncio.wait_for(plain.lost, 10)  # dropped, not answered
        assert server.failures == 1
        await trusted_round_trip(tls, port)
        await server.close()
        return transport.get_extra_info("sockname")[1]

    with caplog.at_level(logging.INFO, "wsfast.tls_study"):
        client_port = run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 1 and f"127.0.0.1:{client_port} failed (1015)" in lines[0], lines
    assert "http request" in lines[0].lower() or "wrong version" in lines[0].lower()


def test_tls_client_on_a_plain_port(tls):  # noqa: F811
    """A plain HTTP server answers the ClientHello with a 400: the client's handshake fails, 1015."""

    class PlainHTTP(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(PlainHTTP, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TLSHandshakeError) as info:
            await open_tls(Collect, "127.0.0.1", port, tls.client_context())
        assert info.value.close_code == 1015
        assert isinstance(info.value.__cause__, ssl.SSLError)
        assert not isinstance(info.value, ssl.SSLCertVerificationError)
        server.close()
        await server.wait_closed()

    run(main())


def test_refused_tcp_is_not_a_tls_failure(tls):  # noqa: F811
    """TCP errors stay what they are (ConnectionRefusedError), never 1015."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await open_tls(Collect, "127.0.0.1", port, tls.client_context())

    run(main())


def test_silent_client_times_out_as_1015(tls, caplog):  # noqa: F811
    async def main():
        loop = asyncio.get_running_loop()
        server = TLSServer(Echo, tls.server_context("trusted"), handshake_timeout=0.5)
        port = await server.start()
        transport, silent = await loop.create_connection(Collect, "127.0.0.1", port)
        await asyncio.wait_for(silent.lost, 10)
        assert server.failures == 1
        await server.close()

    with caplog.at_level(logging.INFO, "wsfast.tls_study"):
        run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "failed (1015): SSL handshake is taking longer than 0.5 seconds" in lines[0], lines


def test_closing_the_server_cancels_handshakes_in_progress(tls):  # noqa: F811
    async def main():
        loop = asyncio.get_running_loop()
        server = TLSServer(Echo, tls.server_context("trusted"), handshake_timeout=30)
        port = await server.start()
        transport, silent = await loop.create_connection(Collect, "127.0.0.1", port)
        for _ in range(100):
            if server.handshakes:
                break
            await asyncio.sleep(0.01)
        assert server.handshakes
        await server.close()  # does not wait 30 s
        await asyncio.wait_for(silent.lost, 5)
        assert not server.handshakes

    run(main(), timeout=10)
