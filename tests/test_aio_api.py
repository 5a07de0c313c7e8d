"""wsfast.asyncio against itself on loopback: the API, every option, every close path.

Every test runs with the compiled and with the pure-Python hot path (`kind`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys

import pytest
from _aio_util import (
    IMPLEMENTATIONS,
    SIZES,
    binary_of,
    client_options,
    echo_handler,
    impl_or_skip,
    run,
    text_of,
    wsfast_server,
)

from wsfast import CloseCode
from wsfast.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    connect,
)

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)


def test_echo_every_size_text_and_binary(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            assert ws.implementation == kind
            for size in SIZES:
                for message in (text_of(size), binary_of(size)):
                    await ws.send(message)
                    echoed = await ws.recv()
                    assert type(echoed) is type(message)
                    assert echoed == message
        assert ws.close_code == CloseCode.NORMAL

    run(main(), 60)


def test_pipelined_messages_keep_their_order(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            messages = [f"message {i}" if i % 2 else binary_of(i) for i in range(2000)]
            for message in messages:
                await ws.send(message)
            received = [await ws.recv() for _ in messages]
            assert received == messages

    run(main())


def test_concurrent_senders_interleave_whole_messages(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            async def sender(tag: str):
                for i in range(200):
                    await ws.send(f"{tag}{i}:" + "x" * (i * 37 % 3000))

            await asyncio.gather(sender("a"), sender("b"), sender("c"))
            got = [await ws.recv() for _ in range(600)]
            for tag in "abc":
                mine = [m.split(":")[0] for m in got if m.startswith(tag)]
                assert mine == [f"{tag}{i}" for i in range(200)]

    run(main())


def test_client_close_is_seen_by_the_server(kind):
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosedError as exc:  # 4000 is not a "normal" close
            seen["exc"] = exc
        seen["code"], seen["reason"] = ws.close_code, ws.close_reason
        seen_it.set()

    async def main():
        nonlocal seen_it
        seen_it = asyncio.Event()  # made in the test's loop (before 3.10 an Event binds to one)
        async with wsfast_server(handler, impl=kind) as (server, url):
            ws = await connect(url, **client_options(kind))
            await ws.close(4000, "client says bye")
            # close_code / close_reason are the peer's close frame: it echoed the code, no reason
            assert ws.close_code == 4000 and ws.close_reason == ""
            await asyncio.wait_for(seen_it.wait(), 10)
        assert seen["code"] == 4000 and seen["reason"] == "client says bye"
        assert seen["exc"].code == 4000

    seen_it: asyncio.Event
    run(main())


@pytest.mark.parametrize(
    "command, code, reason, exc_type",
    [
        ("close:1000:server done", 1000, "server done", None),
        ("close:1001:going", 1001, "going", None),
        ("close:4321:custom", 4321, "custom", ConnectionClosedError),
        ("close-nocode", 1005, "", ConnectionClosedError),
        ("raise", 1011, "", ConnectionClosedError),
    ],
)
def test_server_close_paths(kind, command, code, reason, exc_type):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            await ws.send("before")
            await ws.send(command)
            received = []
            if exc_type is None:
                async for message in ws:  # ends quietly on 1000/1001
                    received.append(message)
            else:
                with pytest.raises(exc_type) as info:
                    async for message in ws:
                        received.append(message)
                assert info.value.code == code
            assert received == ["before"]
            assert ws.close_code == code
            assert ws.close_reason == reason
            with pytest.raises(ConnectionClosed):
                await ws.send("after close")
            with pytest.raises(ConnectionClosed):
                await ws.recv()

    run(main())


def test_handler_returning_closes_with_1000(kind):
    async def handler(ws):
        await ws.send("only message")

    async def main():
        async with wsfast_server(handler, impl=kind) as (server, url):
            ws = await connect(url, **client_options(kind))
            assert await ws.recv() == "only message"
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000

    run(main())


def test_ping_returns_an_awaitable_pong(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            waiter = await ws.ping()
            latency = await asyncio.wait_for(waiter, 5)
            assert 0 <= latency < 5
            first = await ws.ping(b"one")
            second = await ws.ping("two")
            assert await asyncio.wait_for(second, 5) >= 0
            assert first.done()  # a pong answers every earlier ping too
            with pytest.raises(ValueError):
                await ws.ping(b"x" * 126)

    run(main())


def test_unanswered_ping_fails_when_the_connection_closes(kind):
    """A peer that completes the handshake, never answers pings, then vanishes: the waiter of
    our ping fails with the connection's ConnectionClosedError (1006)."""
    from wsfast.handshake import accept_key
    from wsfast.http11 import RequestParser

    got_ping: asyncio.Event

    async def mute_peer(reader, writer):
        parser = RequestParser()
        request = None
        while request is None:
            request = parser.feed(await reader.read(4096))
        key = request.headers["Sec-WebSocket-Key"]
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
        data = parser.trailing
        while len(data) < 2 or data[0] != 0x89:  # wait for the ping frame itself
            data += await reader.read(4096)
        got_ping.set()
        writer.transport.abort()  # gone, without a pong or a close frame

    async def main():
        nonlocal got_ping
        got_ping = asyncio.Event()
        peer = await asyncio.start_server(mute_peer, "127.0.0.1", 0)
        port = peer.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}", **client_options(kind, ping_interval=None))
        waiter = await ws.ping()
        await asyncio.wait_for(got_ping.wait(), 10)
        await asyncio.wait_for(ws.wait_closed(), 10)
        with pytest.raises(ConnectionClosedError) as info:
            await waiter
        assert info.value.code == CloseCode.ABNORMAL_CLOSURE
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE
        peer.close()

    run(main())


def test_send_rejects_other_types(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), connect(url, **client_options(kind)) as ws:
            with pytest.raises(TypeError):
                await ws.send(12345)
            await ws.send(bytearray(b"bytearray is fine"))
            assert await ws.recv() == b"bytearray is fine"
            await ws.send(memoryview(b"so is a memoryview"))
            assert await ws.recv() == b"so is a memoryview"

    run(main())


def test_oversized_message_closes_with_1009(kind):
    received = []

    async def handler(ws):
        try:
            async for message in ws:
                received.append(len(message))
        except ConnectionClosedError as exc:
            received.append(exc.code)

    async def main():
        async with wsfast_server(handler, impl=kind, max_message_size=1024) as (server, url), \
                connect(url, **client_options(kind)) as ws:
            await ws.send(b"x" * 1024)
            await ws.send(b"x" * 1025)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == CloseCode.MESSAGE_TOO_BIG
        assert received == [1024, CloseCode.MESSAGE_TOO_BIG]

    run(main())


def _socket_buffers_max() -> int:
    """The most the kernel may buffer for one loopback TCP connection (receive + send sides)."""
    total = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        try:
            with open(f"/proc/sys/net/ipv4/{name}") as f:
                total += int(f.read().split()[2])
        except (OSError, ValueError, IndexError):
            total += 8 << 20
    return total


def test_max_queue_pauses_reading_until_the_handler_catches_up(kind):
    """With max_queue=4 and a handler that does not read, the server stops reading the socket
    (seen through the transport's public is_reading()), so TCP backpressure reaches the
    client, whose sends block; once the handler reads, every message arrives, in order.

    The client sends twice what the kernel can buffer at most, so while the server does not
    read, the sends cannot all complete, however the kernel sizes its buffers.
    """
    paused: asyncio.Event
    release: asyncio.Event
    unit = 50 * 1000
    count = 2 * _socket_buffers_max() // unit + 1
    state = {}

    def message(i: int) -> str:
        return f"{i:05d}" * (unit // 5)

    async def handler(ws):
        while ws.transport.is_reading():  # messages pile up until the queue is full (no event for it)
            await asyncio.sleep(0.01)
        paused.set()
        await release.wait()
        got = 0
        async for received in ws:
            if received != message(got):
                state["wrong"] = got
                break
            got += 1
            if got == count:
                break
        state["got"] = got
        await ws.send("done")

    async def main():
        nonlocal paused, release
        paused, release = asyncio.Event(), asyncio.Event()
        # uncompressed, so the bytes really travel
        async with wsfast_server(handler, impl=kind, max_queue=4, compression=None) as (server, url), \
                connect(url, **client_options(kind)) as ws:
            async def sender():
                for i in range(count):
                    await ws.send(message(i))

            sending = asyncio.create_task(sender())
            await asyncio.wait_for(paused.wait(), 30)
            assert not sending.done()  # backpressure: the client is blocked in send()
            release.set()
            await asyncio.wait_for(sending, 60)
            assert await asyncio.wait_for(ws.recv(), 30) == "done"
        assert state == {"got": count}  # every message, in order

    run(main(), 120)


def test_request_headers_path_and_addresses(kind):
    seen = {}

    async def handler(ws):
        seen["path"] = ws.request.path
        seen["header"] = ws.request.headers.get("X-Test")
        seen["remote"] = ws.remote_address
        seen["status"] = ws.response.status
        await ws.send("hi")

    async def main():
        async with wsfast_server(handler, impl=kind) as (server, url):
            opts = client_options(kind, extra_headers={"X-Test": "yes"})
            async with connect(url + "/chat/room?x=1", **opts) as ws:
                assert await ws.recv() == "hi"
                assert ws.response.status == 101
                assert ws.request.headers["X-Test"] == "yes"
                assert ws.remote_address[1] == server.sockets[0].getsockname()[1]
                local_port = ws.local_address[1]
        assert seen["path"] == "/chat/room?x=1"
        assert seen["header"] == "yes"
        assert seen["remote"][0] == "127.0.0.1" and seen["remote"][1] == local_port
        assert seen["status"] == 101

    run(main())


def test_subprotocol_negotiation(kind):
    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    async def main():
        async with wsfast_server(handler, impl=kind, subprotocols=["v2", "v1"]) as (server, url):
            async with connect(url, **client_options(kind, subprotocols=["v1", "v2"])) as ws:
                assert ws.subprotocol == "v2"  # the server's preference wins
                assert await ws.recv() == "v2"
            async with connect(url, **client_options(kind, subprotocols=["v1"])) as ws:
                assert await ws.recv() == "v1"
            async with connect(url, **client_options(kind)) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "none"

    run(main())


def test_origin_allow_list(kind):
    async def main():
        async with wsfast_server(impl=kind, origins=["https://good.example"]) as (server, url):
            async with connect(url, **client_options(kind, origin="https://good.example")) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
            with pytest.raises(InvalidStatus) as info:
                await connect(url, **client_options(kind, origin="https://evil.example"))
            assert info.value.response.status == 403

    run(main())


async def _http_get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)  # the server closes after answering
    writer.close()
    return data


def test_process_request_answers_plain_http_and_rejects(kind):
    async def process_request(ws, request):
        if request.path == "/health":
            return ws.respond(200, "OK\n")
        if request.path == "/forbidden":
            return ws.respond(403, "no\n")
        if request.path == "/async":
            await asyncio.sleep(0.01)
            return ws.respond(204)
        return None

    async def main():
        async with wsfast_server(impl=kind, process_request=process_request) as (server, url):
            port = server.sockets[0].getsockname()[1]
            health = await _http_get(port, "/health")
            assert health.startswith(b"HTTP/1.1 200 ")
            assert health.endswith(b"\r\n\r\nOK\n")
            assert (await _http_get(port, "/async")).startswith(b"HTTP/1.1 204 ")
            with pytest.raises(InvalidStatus) as info:
                await connect(url + "/forbidden", **client_options(kind))
            assert info.value.response.status == 403
            async with connect(url + "/chat", **client_options(kind)) as ws:
                await ws.send("still a websocket")
                assert await ws.recv() == "still a websocket"

    run(main())


def test_invalid_upgrade_gets_an_http_error(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url):
            port = server.sockets[0].getsockname()[1]
            answer = await _http_get(port, "/")  # a plain GET, no Upgrade
            assert answer.startswith(b"HTTP/1.1 426 ")

    run(main())


def test_client_open_timeout(kind):
    async def silent(reader, writer):
        await asyncio.sleep(5)
        writer.close()

    async def main():
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await connect(f"ws://127.0.0.1:{port}", **client_options(kind, open_timeout=0.3))
        assert loop.time() - start < 3
        server.close()

    run(main())


def _self_signed(tmp_path):
    openssl = shutil.which("openssl")
    from _aio_peers import require

    require(openssl is not None, "the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_wss_with_ssl_context(kind, tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main():
        async with wsfast_server(impl=kind, ssl=server_ctx) as (server, url):
            wss = url.replace("ws://", "wss://")
            async with connect(wss, **client_options(kind, ssl=client_ctx)) as ws:
                for message in ("secure text", binary_of(200_000)):
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == 1000
            with pytest.raises(ssl.SSLError):
                await connect(wss, **client_options(kind))  # the default context does not trust it

    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_cli_serve_echoes_and_shuts_down_on_ctrl_c(kind):
    env = dict(os.environ)
    if kind == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsfast", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, env=env, start_new_session=True,
    )
    try:
        line = proc.stdout.readline().decode()
        assert "ws://127.0.0.1:" in line, line
        url = line.split()[-1]

        async def main():
            async with connect(url, **client_options(kind)) as ws:
                await ws.send("via the CLI")
                assert await ws.recv() == "via the CLI"
                proc.send_signal(signal.SIGINT)
                with pytest.raises(ConnectionClosedOK) as info:
                    await asyncio.wait_for(ws.recv(), 10)
                assert info.value.code == CloseCode.GOING_AWAY

        run(main())
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()



def test_awaited_serve_and_serve_forever(kind):
    from wsfast.asyncio import serve

    async def main():
        server = await serve(echo_handler, "127.0.0.1", 0, implementation=impl_or_skip(kind))
        assert server.is_serving()
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        forever = asyncio.ensure_future(server.serve_forever())
        ws = await connect(url, **client_options(kind))
        await ws.send("served")
        assert await ws.recv() == "served"
        server.close()
        await asyncio.wait_for(forever, 5)  # serve_forever returns once the server is closed
        assert not server.is_serving()
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == CloseCode.GOING_AWAY
        assert not server.connections
        with pytest.raises(OSError):
            await connect(url, **client_options(kind, open_timeout=2))

    run(main())


def test_failing_handshake_hook_answers_500(kind):
    def select_subprotocol(offered):
        if "boom" in offered:
            raise RuntimeError("hook failure requested by the test")
        return "not-offered" if "bad" in offered else None

    async def main():
        async with wsfast_server(impl=kind, select_subprotocol=select_subprotocol) as (server, url):
            for proto in ("boom", "bad"):
                with pytest.raises(InvalidStatus) as info:
                    await connect(url, **client_options(kind, subprotocols=[proto]))
                assert info.value.response.status == 500
            async with connect(url, **client_options(kind, subprotocols=["fine"])) as ws:
                assert ws.subprotocol is None
                await ws.send("still serving")
                assert await ws.recv() == "still serving"

    run(main())
