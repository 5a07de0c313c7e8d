"""TCP keep-alive and TCP_USER_TIMEOUT (wsfast.sockopts): validation, and the options read back
with getsockopt on both ends of a real loopback connection made by asyncio's create_server /
create_connection (the sockets wsfast's server and client run on)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import pytest
from _tls_certs import tls  # noqa: F401 - the fixture (wss:// cases)

from wsfast import sockopts
from wsfast.sockopts import KeepaliveTiming, configure_transport, keepalive_timing, validate_user_timeout

HAS_KEEP_OPTIONS = hasattr(socket, "TCP_KEEPINTVL") and (
    hasattr(socket, "TCP_KEEPIDLE") or hasattr(socket, "TCP_KEEPALIVE"))
IDLE_OPTION = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("value, expected", [
    (False, None), (None, None), (True, KeepaliveTiming(0, 0, 0)),
    ((1, 1, 1), KeepaliveTiming(1, 1, 1)), ((30, 5, 4), KeepaliveTiming(30, 5, 4)),
    ([60.0, 10.0, 6], KeepaliveTiming(60, 10, 6)), ((32767, 32767, 127), KeepaliveTiming(32767, 32767, 127)),
])
def test_keepalive_timing_accepts(value, expected):
    assert keepalive_timing(value) == expected


def test_detection_time():
    assert KeepaliveTiming(10, 2, 3).detection_time == 16


@pytest.mark.parametrize("value, error, words", [
    ((1, 1), TypeError, "tuple (idle_s, interval_s, count)"),
    ("30,5,4", TypeError, "tuple"),
    (1, TypeError, "tuple"),
    ((0, 1, 1), ValueError, "idle_s must be between 1 and 32767"),
    ((1, 0, 1), ValueError, "interval_s must be between 1"),
    ((1, 1, 0), ValueError, "count must be between 1 and 127"),
    ((1, 1, 128), ValueError, "count must be between 1 and 127"),
    ((32768, 1, 1), ValueError, "idle_s"),
    ((1.5, 1, 1), ValueError, "whole number"),
    ((1, 1, True), TypeError, "count must be a whole number"),
    (("1", 1, 1), TypeError, "not str"),
    ((-1, 1, 1), ValueError, "idle_s"),
])
def test_keepalive_timing_refuses(value, error, words):
    with pytest.raises(error) as info:
        keepalive_timing(value)
    assert words in str(info.value)


@pytest.mark.parametrize("value, millis", [(None, None), (1, 1000), (0.25, 250), (0.0001, 1), (30.5, 30500)])
def test_user_timeout_in_seconds(value, millis):
    assert validate_user_timeout(value) == millis


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (True, TypeError),
                                          ("5", TypeError), (3e6, ValueError)])
def test_user_timeout_refuses(value, error):
    with pytest.raises(error):
        validate_user_timeout(value)


# ------------------------------------------------------------------ on real sockets


class _Recorder(asyncio.Protocol):
    """Applies the options in connection_made, as wsfast's connections do, and keeps the socket."""

    def __init__(self, options, made):
        self.options = options
        self.made = made

    def connection_made(self, transport):
        configure_transport(transport, **self.options)
        self.transport = transport
        self.made.set_result(transport.get_extra_info("socket"))


async def _both_ends(server_options, client_options):
    """A loopback connection through asyncio; returns what getsockopt reads on each end."""
    loop = asyncio.get_running_loop()
    server_made = loop.create_future()
    server = await loop.create_server(lambda: _Recorder(server_options, server_made), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client_made = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _Recorder(client_options, client_made),
                                                "127.0.0.1", port)
    try:
        ends = [await server_made, await client_made]
        return [_read_options(sock) for sock in ends]
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


def _read_options(sock):
    read = {"keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0}
    if HAS_KEEP_OPTIONS:
        read["idle"] = sock.getsockopt(socket.IPPROTO_TCP, IDLE_OPTION)
        read["interval"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
    if hasattr(socket, "TCP_KEEPCNT"):
        read["count"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        read["user_timeout_ms"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
    return read


def test_off_leaves_both_ends_alone():
    server, client = run(_both_ends({}, {"tcp_keepalive": False}))
    for end in (server, client):
        assert end["keepalive"] is False
        if "user_timeout_ms" in end:
            assert end["user_timeout_ms"] == 0


@pytest.mark.skipif(not HAS_KEEP_OPTIONS, reason="no TCP_KEEPIDLE/TCP_KEEPINTVL to read back here")
def test_tuple_sets_timing_on_both_ends():
    server, client = run(_both_ends({"tcp_keepalive": (7, 3, 4)}, {"tcp_keepalive": (11, 2, 5)}))
    assert server["keepalive"] and client["keepalive"]
    assert (server["idle"], server["interval"]) == (7, 3)
    assert (client["idle"], client["interval"]) == (11, 2)
    if "count" in server:
        assert (server["count"], client["count"]) == (4, 5)


@pytest.mark.skipif(not HAS_KEEP_OPTIONS, reason="no TCP_KEEPIDLE/TCP_KEEPINTVL to read back here")
def test_true_turns_keepalive_on_with_the_system_timing():
    with socket.socket() as fresh:
        default_idle = fresh.getsockopt(socket.IPPROTO_TCP, IDLE_OPTION)
    server, client = run(_both_ends({"tcp_keepalive": True}, {"tcp_keepalive": True}))
    for end in (server, client):
        assert end["keepalive"] is True
        assert end["idle"] == default_idle


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux-only")
def test_user_timeout_on_both_ends():
    server, client = run(_both_ends({"tcp_user_timeout": 2.5}, {"tcp_user_timeout": 0.3,
                                                                "tcp_keepalive": (1, 1, 1)}))
    assert server["user_timeout_ms"] == 2500
    assert server["keepalive"] is False  # one option does not imply the other
    assert client["user_timeout_ms"] == 300
    assert client["keepalive"] is True


@pytest.mark.skipif(hasattr(socket, "TCP_USER_TIMEOUT"), reason="this platform has TCP_USER_TIMEOUT")
def test_user_timeout_missing_is_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(sockopts, "_warned_user_timeout", False)
    with caplog.at_level(logging.WARNING, "wsfast.sockopts"):
        run(_both_ends({"tcp_user_timeout": 1}, {"tcp_user_timeout": 1}))
    assert [r.getMessage() for r in caplog.records].count(
        "tcp_user_timeout is ignored: TCP_USER_TIMEOUT is Linux-only") == 1


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def main():
        loop = asyncio.get_running_loop()
        made = loop.create_future()
        try:
            server = await loop.create_server(lambda: _Recorder({"tcp_keepalive": (5, 2, 3)}, made), "::1", 0)
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback: {exc}")
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "::1", port)
        try:
            return _read_options(await made)
        finally:
            transport.close()
            server.close()
            await server.wait_closed()

    read = run(main())
    assert read["keepalive"] is True
    if HAS_KEEP_OPTIONS:
        assert (read["idle"], read["interval"]) == (5, 2)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or sys.platform == "win32", reason="no Unix sockets")
def test_unix_socket_is_skipped(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        made = loop.create_future()
        path = str(tmp_path / "s")
        server = await loop.create_unix_server(
            lambda: _Recorder({"tcp_keepalive": (5, 2, 3), "tcp_user_timeout": 1}, made), path)
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, path)
        try:
            return await made  # connection_made did not raise
        finally:
            transport.close()
            server.close()
            await server.wait_closed()

    sock = run(main())
    assert sock.family == socket.AF_UNIX


def test_plain_socket_object(tmp_path):
    """The functions take a socket.socket as well as asyncio's TransportSocket."""
    with socket.socket() as sock:
        assert sockopts.set_tcp_keepalive(sock, (3, 2, 1)) == KeepaliveTiming(3, 2, 1)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        assert sockopts.set_tcp_keepalive(sock, False) is None
        assert sockopts.set_tcp_user_timeout(sock, None) is False
        if sys.platform.startswith("linux"):
            assert sockopts.set_tcp_user_timeout(sock, 4) is True
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4000


# ------------------------------------------------------------------ through serve() and connect()


async def _through_wsfast(server_options, client_options, secure=None):
    """One wsfast connection (wss:// when ``secure`` is TLS material): what getsockopt reads on
    the server's end (seen from the handler) and on the client's end."""
    from wsfast.asyncio import connect, serve

    loop = asyncio.get_running_loop()
    server_end = loop.create_future()

    async def handler(ws):
        server_end.set_result(_read_options(ws.transport.get_extra_info("socket")))
        await ws.wait_closed()

    server_ssl = {} if secure is None else {"ssl": secure.server_context()}
    client_ssl = {} if secure is None else {"ssl": secure.client_context()}
    async with serve(handler, "127.0.0.1", 0, ping_interval=None, **server_ssl, **server_options) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"{'wss' if secure else 'ws'}://127.0.0.1:{port}"
        async with connect(url, ping_interval=None, **client_ssl, **client_options) as ws:
            client = _read_options(ws.transport.get_extra_info("socket"))
            return await server_end, client


@pytest.mark.skipif(not HAS_KEEP_OPTIONS, reason="no TCP_KEEPIDLE/TCP_KEEPINTVL to read back here")
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_serve_and_connect_apply_the_options(secure, request):
    material = request.getfixturevalue("tls") if secure else None
    user_timeout = {"tcp_user_timeout": 4} if hasattr(socket, "TCP_USER_TIMEOUT") else {}
    server, client = run(_through_wsfast({"tcp_keepalive": (7, 3, 4), **user_timeout},
                                         {"tcp_keepalive": (11, 2, 5)}, material))
    assert server["keepalive"] and client["keepalive"]
    assert (server["idle"], server["interval"]) == (7, 3)
    assert (client["idle"], client["interval"]) == (11, 2)
    if "count" in server:
        assert (server["count"], client["count"]) == (4, 5)
    if user_timeout:
        assert (server["user_timeout_ms"], client["user_timeout_ms"]) == (4000, 0)


def test_serve_and_connect_leave_sockets_alone_by_default():
    server, client = run(_through_wsfast({}, {}))
    for end in (server, client):
        assert end["keepalive"] is False
        assert end.get("user_timeout_ms", 0) == 0


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux-only")
def test_connect_applies_the_user_timeout():
    server, client = run(_through_wsfast({"tcp_keepalive": True}, {"tcp_user_timeout": 0.75}))
    assert server["keepalive"] is True and server["user_timeout_ms"] == 0
    assert client["keepalive"] is False and client["user_timeout_ms"] == 750


@pytest.mark.parametrize("options, error", [
    ({"tcp_keepalive": (0, 1, 1)}, ValueError), ({"tcp_keepalive": "on"}, TypeError),
    ({"tcp_user_timeout": 0}, ValueError), ({"tcp_user_timeout": "1"}, TypeError),
])
def test_serve_and_connect_refuse_bad_values_when_called(options, error):
    """A bad value fails at the call, not on the first connection."""
    from wsfast.asyncio import connect, serve
    from wsfast.asyncio.cli import echo

    with pytest.raises(error):
        serve(echo, "127.0.0.1", 0, **options)
    with pytest.raises(error):
        connect("ws://127.0.0.1:9", **options)
