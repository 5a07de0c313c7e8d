"""wsfast.uvicorn.WSFastProtocol under a real uvicorn server, driven by real clients.

A FastAPI app (tests/_uvicorn_util.py) served by uvicorn with wsfast's class, on
the compiled and the pure-Python hot path, on asyncio + h11 (uvicorn's default)
and on uvloop + httptools (``uvicorn[standard]``); clients: websockets, aiohttp,
wsfast's own sans-I/O client over asyncio streams (to leave pings unanswered,
and to see them), headless Chromium. uvicorn's own test suite runs against the
class too (.ci/suites/uvicorn.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, List, Tuple

import pytest
from _aio_peers import PageServer, chromium
from _aio_util import binary_of, text_of
from _uvicorn_util import (
    STACK_IDS,
    STACKS,
    connections,
    fastapi_app,
    raw_echo_app,
    run_on,
    uvicorn_server,
    wait_for,
)

from wsfast import Ping
from wsfast.protocol import ClientProtocol
from wsfast.uvicorn import WSFastProtocol

websockets_client = pytest.importorskip("websockets.asyncio.client")
websockets_exceptions = pytest.importorskip("websockets.exceptions")

pytestmark = [
    pytest.mark.parametrize("kind", ["c", "python"]),
    pytest.mark.parametrize("stack", STACKS, ids=STACK_IDS),
]

BIG = 16 * 1024 * 1024
MAX = 32 * 1024 * 1024  # ws_max_size where 16 MiB messages travel


def connect(url: str, **options: Any) -> Any:
    options.setdefault("max_size", MAX)
    options.setdefault("compression", None)
    return websockets_client.connect(url, **options)


class RawClient:
    """wsfast's sans-I/O ClientProtocol over asyncio streams: sees every frame, answers pings
    only if told to (``auto_pong``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: ClientProtocol):
        self.reader, self.writer, self.protocol = reader, writer, protocol

    @classmethod
    async def open(cls, url: str, **options: Any) -> RawClient:
        host_port = url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        options.setdefault("ping_interval", None)
        client = cls(reader, writer, ClientProtocol(url, **options))
        client.flush()
        events = await client.next_events()
        assert client.protocol.response is not None and client.protocol.response.status == 101, events
        return client

    def flush(self) -> None:
        self.writer.writelines(self.protocol.data_to_send())

    async def next_events(self, timeout: float = 10.0) -> List[Any]:
        """The events of the next read (empty list at EOF)."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                self.protocol.receive_eof()
                return self.protocol.events()
            events = self.protocol.receive(data)
            self.flush()
            if events:
                return events

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# ---------------------------------------------------------------- FastAPI, websockets client


def test_websockets_client_text_binary_16mib_and_subprotocol(kind, stack):
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http, ws_max_size=MAX) as (server, url):
            async with connect(url + "/echo", subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
                for message in ["", "h\u00e9llo \U0001F600", text_of(70000), text_of(BIG),
                                b"", binary_of(125), binary_of(65536), binary_of(BIG)]:
                    await ws.send(message)
                    echo = await ws.recv()
                    assert type(echo) is type(message) and echo == message
                (conn,) = connections(server)
                assert conn.implementation == kind
            await wait_for(lambda: events, what="the app's disconnect")
        assert events == [("disconnect", 1000, "")]

    run_on(loop, main(), 60)


def test_close_codes_both_ways(kind, stack):
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http) as (server, url):
            async with connect(url + "/echo") as ws:  # the app closes
                await ws.send("close:4001:app says bye")
                with pytest.raises(websockets_exceptions.ConnectionClosed):
                    await ws.recv()
            assert (ws.close_code, ws.close_reason) == (4001, "app says bye")
            async with connect(url + "/echo") as ws:  # the client closes
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await ws.close(4002, "client says bye")
            await wait_for(lambda: len(events) == 2, what="the app's disconnect")
            async with connect(url + "/echo") as ws:  # the client closes without a code
                await ws.close(None)  # type: ignore[arg-type]
            await wait_for(lambda: len(events) == 3, what="the app's disconnect")
        assert events == [("closed", 4001, "app says bye"), ("disconnect", 4002, "client says bye"),
                          ("disconnect", 1005, "")]

    run_on(loop, main())


def test_app_error_after_accept_closes_with_1011(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(fastapi_app([]), kind, http) as (server, url):
            async with connect(url + "/echo") as ws:
                await ws.send("raise")
                with pytest.raises(websockets_exceptions.ConnectionClosedError):
                    await ws.recv()
            assert ws.close_code == 1011

    run_on(loop, main())


def test_denial_response_403_and_500(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(fastapi_app([]), kind, http) as (server, url):
            with pytest.raises(websockets_exceptions.InvalidStatus) as denied:
                await connect(url + "/deny")
            response = denied.value.response
            assert response.status_code == 401
            assert response.body == b"members only"
            assert response.headers["X-Why"] == "no token"
            assert response.headers["Content-Length"] == "12"
            for path, status in (("/reject", 403), ("/boom", 500), ("/nowhere", 403)):
                with pytest.raises(websockets_exceptions.InvalidStatus) as refused:
                    await connect(url + path)
                assert refused.value.response.status_code == status, path
            await wait_for(lambda: not server.server_state.connections, what="connections to close")

    run_on(loop, main())


def test_scope(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(fastapi_app([]), kind, http, root_path="/api") as (server, url):
            port = int(url.rsplit(":", 1)[1])
            async with connect(url + "/scope/a%20b?x=1&y=%C3%A9", subprotocols=["p1", "p2"],
                               additional_headers=[("X-Custom", "Value")]) as ws:
                scope = json.loads(await ws.recv())
        assert scope["name"] == "a b"
        assert scope["path"] == "/api/scope/a b"
        assert (scope["raw_path"], scope["root_path"]) == ("/api/scope/a%20b", "/api")
        assert scope["query_string"] == "x=1&y=%C3%A9"
        assert scope["scheme"] == "ws"
        assert ["x-custom", "Value"] in scope["headers"]
        assert all(name == name.lower() for name, _ in scope["headers"])
        assert scope["subprotocols"] == ["p1", "p2"]
        assert scope["server"] == ["127.0.0.1", port]
        assert scope["client"][0] == "127.0.0.1"
        assert scope["spec_version"] == "2.4"
        assert scope["extensions"] == ["websocket.http.response"]

    run_on(loop, main())


# ---------------------------------------------------------------- aiohttp client


def test_aiohttp_client(kind, stack):
    aiohttp = pytest.importorskip("aiohttp")
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http, ws_max_size=MAX) as (server, url), \
                aiohttp.ClientSession() as session:
            async with session.ws_connect(url + "/echo", protocols=["chat.v2"], max_msg_size=MAX,
                                          compress=0) as ws:
                assert ws.protocol == "chat.v2"
                for message in ["text", text_of(BIG), binary_of(1000), binary_of(BIG)]:
                    if isinstance(message, str):
                        await ws.send_str(message)
                    else:
                        await ws.send_bytes(message)
                    echo = await ws.receive()
                    assert echo.data == message
                await ws.send_str("close:4003:from the app")
                closing = await ws.receive()
                assert closing.type == aiohttp.WSMsgType.CLOSE
                assert (closing.data, closing.extra) == (4003, "from the app")
            async with session.ws_connect(url + "/echo", compress=0) as ws:
                await ws.close(code=4004, message=b"from aiohttp")
            await wait_for(lambda: len(events) == 2, what="the app's disconnect")
        assert events == [("closed", 4003, "from the app"), ("disconnect", 4004, "from aiohttp")]

    run_on(loop, main())


# ---------------------------------------------------------------- permessage-deflate


def test_permessage_deflate_with_websockets_and_aiohttp(kind, stack):
    aiohttp = pytest.importorskip("aiohttp")
    loop, http = stack
    messages = ["", "h\u00e9llo", text_of(100_000), text_of(BIG), b"", binary_of(70_000), os.urandom(300_000)]

    async def main():
        async with uvicorn_server(fastapi_app([]), kind, http, ws_max_size=MAX) as (server, url):
            async with connect(url + "/echo", compression="deflate") as ws:
                assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                for message in messages:
                    await ws.send(message)
                    assert await ws.recv() == message
                (conn,) = connections(server)
                assert [e.name for e in conn.protocol.extensions] == ["permessage-deflate"]
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(url + "/echo", compress=15, max_msg_size=MAX) as ws:
                assert ws.compress  # the server agreed (aiohttp shows the window bits)
                for message in messages:
                    await (ws.send_str(message) if isinstance(message, str) else ws.send_bytes(message))
                    assert (await ws.receive()).data == message
        async with uvicorn_server(fastapi_app([]), kind, http, ws_per_message_deflate=False) as (_, url), \
                connect(url + "/echo", compression="deflate") as ws:
            assert ws.protocol.extensions == []
            await ws.send("plain")
            assert await ws.recv() == "plain"

    run_on(loop, main(), 60)


# ---------------------------------------------------------------- uvicorn's settings


def test_keepalive_pings_answered_keep_the_connection(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(raw_echo_app, kind, http, ws_ping_interval=0.05, ws_ping_timeout=0.5
                                  ) as (server, url):
            client = await RawClient.open(url)
            pings = 0
            while pings < 15:  # 15 pings answered: well past ping_timeout
                pings += sum(type(e) is Ping for e in await client.next_events())
            client.protocol.send_text("still here")
            client.flush()
            assert [e.data for e in await client.next_events()] == ["still here"]
            await client.close()

    run_on(loop, main())


def test_keepalive_missing_pong_is_1011(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(raw_echo_app, kind, http, ws_ping_interval=0.05, ws_ping_timeout=0.2
                                  ) as (server, url):
            client = await RawClient.open(url, auto_pong=False)
            seen: List[Any] = []
            while not any(getattr(e, "opcode", None) == 8 for e in seen):
                seen += await client.next_events()
            close = [e for e in seen if getattr(e, "opcode", None) == 8][0]
            assert (close.code, close.reason) == (1011, "keepalive ping timeout")
            await client.close()

    run_on(loop, main())


def test_keepalive_disabled_sends_no_ping(kind, stack):
    loop, http = stack

    async def main():
        async with uvicorn_server(raw_echo_app, kind, http, ws_ping_interval=None) as (server, url):
            client = await RawClient.open(url)
            await asyncio.sleep(0.3)
            client.protocol.send_text("ping?")
            client.flush()
            assert [type(e).__name__ for e in await client.next_events()] == ["TextMessage"]
            await client.close()

    run_on(loop, main())


def test_max_size_is_1009_for_client_and_app(kind, stack):
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http, ws_max_size=1000) as (server, url):
            async with connect(url + "/echo") as ws:
                await ws.send(b"x" * 1000)
                assert await ws.recv() == b"x" * 1000
                await ws.send(b"x" * 1001)
                with pytest.raises(websockets_exceptions.ConnectionClosedError):
                    await ws.recv()
            assert ws.close_code == 1009
            await wait_for(lambda: events, what="the app's disconnect")
        assert events[0][:2] == ("disconnect", 1009)

    run_on(loop, main())


def test_shutdown_closes_with_1012(kind, stack):
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http) as (server, url):
            ws = await connect(url + "/echo")
            await ws.send("hi")
            assert await ws.recv() == "hi"
        # the server is shut down
        with pytest.raises(websockets_exceptions.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1012
        assert events == [("disconnect", 1012, "")]

    run_on(loop, main())


# ---------------------------------------------------------------- flow control


def _reading(conn: WSFastProtocol) -> bool:
    return conn.transport.is_reading()  # type: ignore[union-attr]


def test_reading_pauses_only_at_ws_max_queue(kind, stack):
    loop, http = stack

    async def main():
        release = asyncio.Event()
        got: List[Any] = []

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            await release.wait()
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return
                got.append(message["text"])
                if len(got) == 12:
                    await send({"type": "websocket.send", "text": "read 12"})

        async with uvicorn_server(app, kind, http, ws_max_queue=8) as (server, url):
            client = await RawClient.open(url)
            (conn,) = connections(server)
            for i in range(7):  # fewer than ws_max_queue wait: still reading
                client.protocol.send_text(str(i))
            client.flush()
            await wait_for(lambda: len(conn._messages) == 7, what="7 queued messages")
            assert _reading(conn)
            client.protocol.send_text("7")  # the 8th pauses reading
            client.flush()
            await wait_for(lambda: not _reading(conn), what="reading to pause")
            assert len(conn._messages) == 8
            for i in range(8, 12):  # not read while paused
                client.protocol.send_text(str(i))
            client.flush()
            await asyncio.sleep(0.2)
            assert len(conn._messages) == 8
            release.set()  # the app reads: reading resumes, the rest arrives
            assert [e.data for e in await client.next_events()] == ["read 12"]
            assert got == [str(i) for i in range(12)]
            assert _reading(conn)
            await client.close()

    run_on(loop, main())


def test_close_resumes_reads_paused_on_a_full_queue(kind, stack):
    loop, http = stack

    async def main():
        closing = asyncio.Event()

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            await closing.wait()
            await send({"type": "websocket.close", "code": 4000})  # the queue is full and unread

        async with uvicorn_server(app, kind, http, ws_max_queue=2) as (server, url):
            async with connect(url, close_timeout=30) as ws:
                (conn,) = connections(server)
                for _ in range(5):
                    await ws.send("unread")
                await wait_for(lambda: not _reading(conn), what="reading to pause")
                closing.set()
                started = asyncio.get_running_loop().time()
                with pytest.raises(websockets_exceptions.ConnectionClosed):
                    await ws.recv()
                await ws.wait_closed()
            # the client's close frame was read: a clean close, long before close_timeout (10 s)
            assert (ws.close_code, ws.protocol.close_sent.code) == (4000, 4000)
            assert asyncio.get_running_loop().time() - started < 5
            await wait_for(lambda: not server.server_state.connections, what="the connection to end")

    run_on(loop, main())


def test_send_after_the_client_left_raises_client_disconnected(kind, stack):
    from uvicorn.protocols.utils import ClientDisconnected

    loop, http = stack

    async def main():
        outcome: List[Any] = []
        left = asyncio.Event()

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            outcome.append(await receive())
            await left.wait()
            try:
                await send({"type": "websocket.send", "text": "anyone?"})
            except ClientDisconnected as exc:
                outcome.append(type(exc))

        async with uvicorn_server(app, kind, http) as (server, url):
            async with connect(url) as ws:
                await ws.close(1001)
            await wait_for(lambda: outcome, what="the app's disconnect")
            left.set()
            await wait_for(lambda: len(outcome) == 2, what="the app's failed send")
        assert outcome == [{"type": "websocket.disconnect", "code": 1001, "reason": ""}, ClientDisconnected]

    run_on(loop, main())


def test_messages_before_a_protocol_error_reach_the_app(kind, stack):
    loop, http = stack

    async def main():
        got: List[Any] = []

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                got.append(message)
                if message["type"] == "websocket.disconnect":
                    return
                await send({"type": "websocket.send", "text": "echo " + message["text"]})

        async with uvicorn_server(app, kind, http) as (server, url):
            client = await RawClient.open(url)
            client.protocol.send_text("one")
            client.protocol.send_text("two")
            data = b"".join(client.protocol.data_to_send())
            client.writer.write(data + b"\x83\x80\x00\x00\x00\x00")  # reserved opcode 3 right behind them
            seen: List[Any] = []
            while not any(getattr(e, "opcode", None) == 8 for e in seen):
                seen += await client.next_events()
            assert [e.data for e in seen if getattr(e, "opcode", None) == 1] == ["echo one", "echo two"]
            assert seen[-1].code == 1002
            await client.close()
        assert [m.get("text") for m in got[:2]] == ["one", "two"]
        assert got[2]["code"] == 1002

    run_on(loop, main())


# ---------------------------------------------------------------- a real browser


def test_browser_through_fastapi_with_permessage_deflate(kind, stack):
    loop, http = stack
    events: List[Tuple[Any, ...]] = []

    async def main():
        async with uvicorn_server(fastapi_app(events), kind, http) as (server, url), PageServer() as pages, \
                chromium(pages.url(f"/echo.html?ws={url}/echo")):
            path, body = await pages.next_post(60)
            assert path == "/result"
            result = json.loads(body)
            await wait_for(lambda: events, what="the app's disconnect")
        assert result["errors"] == []
        assert result["opened"] is True
        assert result["protocol"] == "chat.v2"
        assert all(e["ok"] for e in result["echoes"]) and len(result["echoes"]) == 7, result["echoes"]
        assert result["close"] == {"code": 1000, "reason": "", "wasClean": True}
        assert result["extensions"].startswith("permessage-deflate"), result["extensions"]
        assert events == [("disconnect", 1000, "browser done")]

    run_on(loop, main(), 90)

