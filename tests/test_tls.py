"""TLS and close code 1015 through serve() and connect(), with certificates made in the test.

A TLS handshake that fails (an untrusted, expired or wrong-host certificate, a
plain-text client on the TLS port, a TLS client on a plain port, a client that
never says anything) is reported as 1015: ``connect()`` raises
``TLSHandshakeError`` (``close_code`` 1015, the ssl error as ``__cause__``,
still an ``OSError``), and the server logs one line with the peer's address
and 1015, counts it in ``server.tls_handshake_failures``, and serves on. 1015
itself never goes on the wire.

The first test is why the server runs the TLS handshake itself
(wsfast.asyncio.tls): with ``loop.create_server(ssl=...)`` asyncio swallows
these failures.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

import pytest
from _tls_certs import tls  # noqa: F401 - the fixture

from wsfast.asyncio import connect, serve
from wsfast.asyncio.cli import echo
from wsfast.enums import CloseCode, FailureCause
from wsfast.exceptions import InvalidHandshake, TLSCertificateError, TLSHandshakeError, WebSocketError

SERVER_LOG = "wsfast.asyncio.server"


def run(coro, timeout=30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def failure_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == SERVER_LOG and "(1015)" in r.getMessage()]


def no_verification():
    """A client that accepts any certificate: shows that the server still serves."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def round_trip(url, context, message="still serving"):
    async with connect(url, ssl=context, ping_interval=None) as ws:
        await ws.send(message)
        assert await ws.recv() == message
        assert ws.transport.get_extra_info("ssl_object") is not None
    assert ws.close_code == CloseCode.NORMAL


async def wait_for_failures(server, count):
    """The server learns of a failure from the client's alert or reset: a moment after connect()."""
    for _ in range(500):
        if server.tls_handshake_failures >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{server.tls_handshake_failures} failures counted, expected {count}")


def tls_server(tls, kind="trusted", **options):  # noqa: F811
    return serve(echo, "127.0.0.1", 0, ssl=tls.server_context(kind), ping_interval=None, **options)


def url_of(server, scheme="wss"):
    return f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def read_until_eof(reader, limit=65536):
    data = b""
    while len(data) < limit:
        chunk = await asyncio.wait_for(reader.read(limit), 10)
        if not chunk:
            break
        data += chunk
    return data


# ------------------------------------------------------------------ what asyncio does by itself


def test_create_server_ssl_swallows_failed_handshakes(tls, caplog):  # noqa: F811
    """Why serve() runs the TLS handshake itself: behind create_server(ssl=), a failed handshake
    reaches neither the application (its protocol is made, never connected) nor the log nor the
    loop's exception handler."""
    created = []
    connected = []
    handled = []

    class App(asyncio.Protocol):
        def __init__(self):
            created.append(self)

        def connection_made(self, transport):
            connected.append(transport)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: handled.append(context))
        server = await loop.create_server(App, "127.0.0.1", 0, ssl=tls.server_context("untrusted"))
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port, ssl=tls.client_context())
        await asyncio.sleep(0.2)
        server.close()
        await server.wait_closed()

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert created and not connected  # a protocol was made, never connected, never told
    assert handled == []  # not even the loop's exception handler
    assert not [r for r in caplog.records if "handshake" in r.getMessage().lower()
                and r.levelno > logging.DEBUG]


# ------------------------------------------------------------------ serve() and connect()


def test_trusted_certificate(tls):  # noqa: F811
    async def main():
        async with tls_server(tls) as server:
            await round_trip(url_of(server), tls.client_context())
            assert server.tls_handshake_failures == 0

    run(main())


@pytest.mark.parametrize("kind, verify_message", [
    ("untrusted", "unable to get local issuer certificate"),
    ("expired", "certificate has expired"),
    ("wrong_host", "mismatch"),  # "IP address mismatch" for 127.0.0.1, "Hostname mismatch" for a name
])
def test_refused_certificate_is_1015_on_both_sides(tls, caplog, kind, verify_message):  # noqa: F811
    async def main():
        async with tls_server(tls, kind) as server:
            url = url_of(server)
            with pytest.raises(TLSHandshakeError) as info:
                await connect(url, ssl=tls.client_context())
            error = info.value
            assert error.close_code == CloseCode.TLS_HANDSHAKE == 1015
            assert error.cause is FailureCause.TLS_HANDSHAKE
            assert isinstance(error, TLSCertificateError) and isinstance(error, WebSocketError)
            assert isinstance(error, OSError) and isinstance(error, ssl.SSLCertVerificationError)
            assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
            assert verify_message in error.__cause__.verify_message
            assert error.verify_message == error.__cause__.verify_message
            assert "1015" in str(error) and url.split("//")[1] in str(error)
            await wait_for_failures(server, 1)
            await round_trip(url, no_verification())  # the same server serves the next client
            assert server.tls_handshake_failures == 1

    with caplog.at_level(logging.INFO, SERVER_LOG):
        run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines  # one line per failed handshake
    assert lines[0].startswith("TLS handshake with 127.0.0.1:") and "failed (1015)" in lines[0]


def test_plain_client_on_the_tls_port(tls, caplog):  # noqa: F811
    """A plain-text client is dropped (at most a TLS alert comes back, never an HTTP answer or a
    WebSocket close frame: 1015 is not sent), logged with its address and counted."""
    async def main():
        async with tls_server(tls) as server:
            host, port = server.sockets[0].getsockname()[:2]
            # wsfast's own client, ws:// on the wss:// port
            with pytest.raises(InvalidHandshake):
                await connect(url_of(server, "ws"), open_timeout=10)
            await wait_for_failures(server, 1)
            # and a raw one, to see every byte the server answers
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            raw_port = writer.get_extra_info("sockname")[1]
            answer = await read_until_eof(reader)
            writer.close()
            assert answer == b"" or answer[0] == 0x15, answer  # nothing, or a TLS alert record
            assert b"HTTP/" not in answer and b"\x03\xf7" not in answer  # 0x03f7 == 1015
            await wait_for_failures(server, 2)
            await round_trip(url_of(server), tls.client_context())
            assert server.tls_handshake_failures == 2
            return raw_port

    with caplog.at_level(logging.INFO, SERVER_LOG):
        raw_port = run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 2, lines
    assert f"TLS handshake with 127.0.0.1:{raw_port} failed (1015)" in lines[1], lines
    assert all("http request" in line.lower() or "wrong version" in line.lower() for line in lines), lines


def test_tls_client_on_a_plain_port(tls):  # noqa: F811
    """A plain wsfast server answers the ClientHello with a 400: the client's handshake fails, 1015
    (an ssl.SSLError, not a certificate error); the plain server serves on."""
    async def main():
        async with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
            with pytest.raises(TLSHandshakeError) as info:
                await connect(url_of(server, "wss"), ssl=tls.client_context())
            error = info.value
            assert error.close_code == 1015
            assert isinstance(error.__cause__, ssl.SSLError)
            assert not isinstance(error, ssl.SSLCertVerificationError)
            assert server.tls_handshake_failures == 0  # not a TLS server: nothing to count
            async with connect(url_of(server, "ws"), ping_interval=None) as ws:
                await ws.send("plain")
                assert await ws.recv() == "plain"

    run(main())


def test_refused_tcp_is_not_a_tls_failure(tls):  # noqa: F811
    """TCP errors stay what they are (ConnectionRefusedError), never 1015."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main():
        with pytest.raises(ConnectionRefusedError) as info:
            await connect(f"wss://127.0.0.1:{port}", ssl=tls.client_context())
        assert not isinstance(info.value, TLSHandshakeError)

    run(main())


def test_silent_client_times_out_as_1015(tls, caplog):  # noqa: F811
    """A client that connects and never sends a ClientHello: dropped after open_timeout, logged."""
    async def main():
        async with tls_server(tls, open_timeout=0.5) as server:
            host, port = server.sockets[0].getsockname()[:2]
            reader, writer = await asyncio.open_connection(host, port)
            assert await read_until_eof(reader) == b""
            writer.close()
            await wait_for_failures(server, 1)

    with caplog.at_level(logging.INFO, SERVER_LOG):
        run(main())
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "failed (1015): SSL handshake is taking longer than 0.5 seconds" in lines[0], lines


def test_closing_the_server_cancels_handshakes_in_progress(tls):  # noqa: F811
    async def main():
        loop = asyncio.get_running_loop()
        server = await tls_server(tls, open_timeout=30)
        host, port = server.sockets[0].getsockname()[:2]
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(500):
            if server._tls.handshakes:
                break
            await asyncio.sleep(0.01)
        assert server._tls.handshakes
        start = loop.time()
        server.close()
        await server.wait_closed()
        assert loop.time() - start < 10  # did not wait for the 30 s handshake timeout
        assert await read_until_eof(reader) == b""
        writer.close()
        assert not server._tls.handshakes and server.tls_handshake_failures == 0  # cancelled, not failed

    run(main())


def test_server_refuses_a_non_context(tls):  # noqa: F811
    with pytest.raises(TypeError, match="ssl.SSLContext"):
        serve(echo, "127.0.0.1", 0, ssl=True)
