"""Interop on loopback with independent implementations, both ways.

- websockets' asyncio client against a wsfast server, and a wsfast client
  against a websockets server;
- aiohttp's client against a wsfast server;
- Node's `ws` package (tests/peers/node, installed by `npm ci`) as client and server.

Messages of 0 B, 125 B, 64 KiB and 16 MiB, text and binary, pings both ways,
and every close path: either side closing with 1000, a custom code, a close
frame without a code (1005), the handler failing (1011), a size limit (1009).
Each test runs with the compiled and the pure-Python hot path.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import websockets
from _aio_peers import node_client, node_server
from _aio_util import (
    BIG,
    IMPLEMENTATIONS,
    SIZES,
    binary_of,
    client_options,
    run,
    text_of,
    wsfast_server,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from wsfast import CloseCode
from wsfast.asyncio import ConnectionClosedError, ConnectionClosedOK, connect

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)

NODE_STEPS = [{"send": k, "size": n} for n in SIZES for k in ("text", "binary")]


# ---------------------------------------------------------------- websockets client -> wsfast server


def test_websockets_client_echo_every_size(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), \
                ws_connect(url, max_size=BIG, compression=None) as ws:
            for size in SIZES:
                for message in (text_of(size), binary_of(size)):
                    await ws.send(message)
                    assert await ws.recv() == message
            pong = await ws.ping(b"websockets ping")
            assert await asyncio.wait_for(pong, 5) >= 0
        assert ws.close_code == 1000

    run(main(), 90)


@pytest.mark.parametrize(
    "command, code, reason",
    [
        ("close:1000:bye", 1000, "bye"),
        ("close:4042:custom", 4042, "custom"),
        ("close-nocode", 1005, ""),
        ("raise", 1011, ""),
    ],
)
def test_websockets_client_sees_server_close(kind, command, code, reason):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), ws_connect(url) as ws:
            await ws.send(command)
            with pytest.raises(websockets.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            received = info.value.rcvd
            assert (received.code if received else 1005) == code
            assert (received.reason if received else "") == reason

    run(main())


def test_websockets_client_close_codes_reach_the_server(kind):
    async def handler(ws):
        try:
            async for _ in ws:
                pass
        except ConnectionClosedError:
            pass
        await seen.put((ws.close_code, ws.close_reason))

    async def main():
        nonlocal seen
        seen = asyncio.Queue()  # made in the test's loop (before 3.10 a Queue binds to one)
        async with wsfast_server(handler, impl=kind) as (server, url):
            async with ws_connect(url) as ws:
                await ws.close(1000, "websockets done")
            assert await asyncio.wait_for(seen.get(), 10) == (1000, "websockets done")
            async with ws_connect(url) as ws:
                await ws.close(3001, "app code")
            assert await asyncio.wait_for(seen.get(), 10) == (3001, "app code")
            async with ws_connect(url, max_size=BIG) as ws:
                await ws.send(b"\x00")
            assert await asyncio.wait_for(seen.get(), 10) == (1000, "")

    seen: asyncio.Queue
    run(main())


def test_websockets_client_oversized_message_gets_1009(kind):
    async def main():
        async with wsfast_server(impl=kind, max_message_size=64 * 1024) as (server, url), \
                ws_connect(url) as ws:
            await ws.send(b"x" * (64 * 1024 + 1))
            with pytest.raises(websockets.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG

    run(main())


# ---------------------------------------------------------------- wsfast client -> websockets server


async def _websockets_echo(ws):
    try:
        async for message in ws:
            if message == "close:4100":
                await ws.close(4100, "websockets server says bye")
                return
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


def test_wsfast_client_against_websockets_server(kind):
    closes = []
    handled_three: asyncio.Event

    async def handler(ws):
        await _websockets_echo(ws)
        closes.append((ws.close_code, ws.close_reason))
        if len(closes) == 3:
            handled_three.set()

    async def main():
        nonlocal handled_three
        handled_three = asyncio.Event()
        async with ws_serve(handler, "127.0.0.1", 0, max_size=BIG, compression=None) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with connect(url, **client_options(kind)) as ws:
                for size in SIZES:
                    for message in (text_of(size), binary_of(size)):
                        await ws.send(message)
                        assert await ws.recv() == message
                assert await asyncio.wait_for(await ws.ping(b"wsfast ping"), 5) >= 0
            assert ws.close_code == 1000
            async with connect(url, **client_options(kind)) as ws:
                await ws.send("close:4100")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 4100 and info.value.reason == "websockets server says bye"
            ws = await connect(url, **client_options(kind))
            await ws.close(4200, "wsfast client code")
            await asyncio.wait_for(handled_three.wait(), 10)
        assert (1000, "") in closes
        assert (4200, "wsfast client code") in closes

    run(main(), 90)


def test_wsfast_client_answers_websockets_keepalive_pings(kind):
    async def handler(ws):
        await asyncio.sleep(0.6)  # websockets pings every 0.1 s meanwhile
        await ws.send(f"still open, latency {ws.latency:.6f}")

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.3) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with connect(url, **client_options(kind, ping_interval=None)) as ws:
                message = await asyncio.wait_for(ws.recv(), 5)
                assert message.startswith("still open")
                assert float(message.split()[-1]) > 0  # a pong came back

    run(main())


# ---------------------------------------------------------------- aiohttp client -> wsfast server


def test_aiohttp_client_echo_and_close(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url), aiohttp.ClientSession() as session:
            async with session.ws_connect(url, max_msg_size=BIG, autoping=True) as ws:
                for size in SIZES:
                    await ws.send_str(text_of(size))
                    msg = await ws.receive(timeout=10)
                    assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == text_of(size)
                    await ws.send_bytes(binary_of(size))
                    msg = await ws.receive(timeout=10)
                    assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == binary_of(size)
                await ws.ping(b"aiohttp ping")
                await ws.send_str("after ping")
                assert (await ws.receive(timeout=5)).data == "after ping"
                await ws.close(code=4003, message=b"aiohttp done")
                assert ws.close_code == 4003
            async with session.ws_connect(url) as ws:
                await ws.send_str("close:1000:from wsfast")
                msg = await ws.receive(timeout=5)
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert msg.data == 1000 and msg.extra == "from wsfast"

    run(main(), 90)


# ---------------------------------------------------------------- Node ws client -> wsfast server


def test_node_client_against_wsfast_server(kind):
    async def main():
        async with wsfast_server(impl=kind) as (server, url):
            steps = NODE_STEPS + [{"ping": "6e6f6465"}, {"close": 1000, "reason": "node done"}]
            lines = await node_client(url, steps)
            echoes = [line for line in lines if line["event"] == "echo"]
            assert [(e["kind"], e["size"]) for e in echoes] == [(s["send"], s["size"]) for s in NODE_STEPS]
            assert all(e["ok"] for e in echoes), echoes
            assert {"event": "pong", "ok": True} in lines
            assert lines[-1] == {"event": "close", "code": 1000, "reason": ""}

            for command, code, reason in [("close:4321:wsfast says", 4321, "wsfast says"),
                                          ("close-nocode", 1005, ""), ("raise", 1011, "")]:
                lines = await node_client(url, [{"send_text": command}, {"wait_close": True}])
                assert lines[-1] == {"event": "close", "code": code, "reason": reason}, lines

            # Node closing with its own code: the wsfast handler sees it
            lines = await node_client(url, [{"close": 4999, "reason": "node code"}])
            assert lines[-1] == {"event": "close", "code": 4999, "reason": ""}

    run(main(), 120)


# ---------------------------------------------------------------- wsfast client -> Node ws server


def test_wsfast_client_against_node_server(kind):
    async def main():
        async with node_server() as node:
            async with connect(node.url + "/path", **client_options(kind)) as ws:
                for size in SIZES:
                    for message in (text_of(size), binary_of(size)):
                        await ws.send(message)
                        assert await asyncio.wait_for(ws.recv(), 20) == message
                assert await asyncio.wait_for(await ws.ping(b"to node"), 5) >= 0
            assert ws.close_code == 1000
            closed = await node.wait_for_event(lambda e: e["event"] == "close" and e["path"] == "/path")
            assert closed["code"] == 1000 and closed["received"] == 2 * len(SIZES)

            async with connect(node.url + "/server-closes", **client_options(kind)) as ws:
                await ws.send("close:4444:node closes")
                with pytest.raises(ConnectionClosedError) as info:
                    await asyncio.wait_for(ws.recv(), 5)
                assert info.value.code == 4444 and info.value.reason == "node closes"

            async with connect(node.url + "/going-away", **client_options(kind)) as ws:
                await ws.send("close:1001:bye")
                with pytest.raises(ConnectionClosedOK):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1001

            ws = await connect(node.url + "/client-code", **client_options(kind))
            await ws.close(3999, "wsfast to node")
            closed = await node.wait_for_event(
                lambda e: e["event"] == "close" and e["path"] == "/client-code")
            assert closed["code"] == 3999 and closed["reason"] == "wsfast to node"

    run(main(), 120)
