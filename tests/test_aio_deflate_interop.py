"""permessage-deflate with real peers on loopback, both ways, both hot paths.

websockets (client and server), aiohttp (client and server), Node's ``ws``
(perMessageDeflate on, compressing every message) and headless Chromium (its
default offer, ``permessage-deflate; client_max_window_bits``). Each test
checks that compression was really agreed — on both ends where the peer says —
then exchanges text and binary messages from empty to 1 MiB, compressible and
not, and fragmented ones where the peer can send them.
"""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
import pytest
from _aio_peers import PageServer, chromium, node_client, node_server
from _aio_util import BIG, IMPLEMENTATIONS, binary_of, impl_or_skip, run, text_of, wsfast_server
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from wsfast.asyncio import ConnectionClosed, connect
from wsfast.extensions.permessage_deflate import DeflateOptions

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)

SIZES = [0, 1, 125, 4096, 65536, 1 << 20]


def messages():
    """Text and binary, compressible (repeating) and not (random), every size."""
    out = []
    for n in SIZES:
        out.append(text_of(n))
        out.append(binary_of(n))
        out.append(os.urandom(n))
    out.append(json.dumps([{"id": i, "name": f"user{i}", "online": i % 3 == 0} for i in range(2000)]))
    return out


MESSAGES = messages()

OPTIONS = {  # what our end asks for, beside the default
    "default": "deflate",
    "no-context": DeflateOptions(server_no_context_takeover=True, client_no_context_takeover=True),
    "small-window": DeflateOptions(server_max_window_bits=9, client_max_window_bits=9, level=1, mem_level=1),
}


def agreed(ws) -> str:
    deflate = ws.protocol.deflate
    assert deflate is not None, "permessage-deflate was not agreed"
    return "; ".join(f"{k}={v}" if v is not None else k for k, v in deflate.params)


async def recording_echo(ws, seen):
    seen.append(ws)
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


# ---------------------------------------------------------------- websockets


@pytest.mark.parametrize("option", list(OPTIONS))
def test_websockets_client_with_deflate(kind, option):
    seen: list = []

    async def main():
        async with wsfast_server(lambda ws: recording_echo(ws, seen), impl=kind,
                                 compression=OPTIONS[option]) as (server, url), \
                ws_connect(url, max_size=BIG) as ws:
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send([text_of(100), text_of(5000), text_of(3)])  # fragmented, each compressed
            assert await ws.recv() == text_of(100) + text_of(5000) + text_of(3)
            extensions = ws.protocol.extensions
        assert [type(e).__name__ for e in extensions] == ["PerMessageDeflate"]
        agreed(seen[0])

    run(main(), 120)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_wsfast_client_against_websockets_server_with_deflate(kind, option):
    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, max_size=BIG) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            async with connect(url, implementation=impl_or_skip(kind), max_message_size=BIG,
                               compression=OPTIONS[option]) as ws:
                agreed(ws)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 30) == message
                ws.protocol.send_fragments(1, text_of(70000), 1000)  # compressed once, then split
                ws._flush()
                assert await asyncio.wait_for(ws.recv(), 30) == text_of(70000)
            assert ws.close_code == 1000

    run(main(), 120)


# ---------------------------------------------------------------- aiohttp


@pytest.mark.parametrize("option", list(OPTIONS))
def test_aiohttp_client_with_deflate(kind, option):
    seen: list = []

    async def main():
        async with wsfast_server(lambda ws: recording_echo(ws, seen), impl=kind,
                                 compression=OPTIONS[option]) as (server, url), \
                aiohttp.ClientSession() as session, \
                session.ws_connect(url, compress=15, max_msg_size=BIG) as ws:
            assert ws.compress > 0  # aiohttp agreed to compress (its window bits)
            for message in MESSAGES:
                if isinstance(message, str):
                    await ws.send_str(message)
                    msg = await ws.receive(timeout=30)
                    assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == message
                else:
                    await ws.send_bytes(message)
                    msg = await ws.receive(timeout=30)
                    assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == message
            await ws.close()
        agreed(seen[0])

    run(main(), 120)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_wsfast_client_against_aiohttp_server_with_deflate(kind, option):
    async def handler(request):
        ws = web.WebSocketResponse(compress=True, max_msg_size=BIG)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with connect(f"ws://127.0.0.1:{port}/", implementation=impl_or_skip(kind),
                               max_message_size=BIG, compression=OPTIONS[option]) as ws:
                agreed(ws)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 30) == message
        finally:
            await runner.cleanup()

    run(main(), 120)


# ---------------------------------------------------------------- Node ws

NODE_STEPS = [{"send": k, "size": n} for n in SIZES for k in ("text", "binary")]


@pytest.mark.parametrize("option", list(OPTIONS))
def test_node_client_with_deflate(kind, option):
    seen: list = []

    async def main():
        async with wsfast_server(lambda ws: recording_echo(ws, seen), impl=kind,
                                 compression=OPTIONS[option]) as (server, url):
            lines = await node_client(url, NODE_STEPS + [{"close": 1000, "reason": "done"}], deflate=True)
            assert lines[0]["event"] == "open" and lines[0]["extensions"].startswith("permessage-deflate")
            echoes = [line for line in lines if line["event"] == "echo"]
            assert [(e["kind"], e["size"]) for e in echoes] == [(s["send"], s["size"]) for s in NODE_STEPS]
            assert all(e["ok"] for e in echoes), echoes
            assert lines[-1]["event"] == "close" and lines[-1]["code"] == 1000
        agreed(seen[0])

    run(main(), 120)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_wsfast_client_against_node_server_with_deflate(kind, option):
    async def main():
        async with node_server(deflate=True) as node:
            async with connect(node.url + "/deflate", implementation=impl_or_skip(kind), max_message_size=BIG,
                               compression=OPTIONS[option]) as ws:
                agreed(ws)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 30) == message
            closed = await node.wait_for_event(lambda e: e["event"] == "close" and e["path"] == "/deflate")
            assert closed["code"] == 1000 and closed["extensions"].startswith("permessage-deflate")
            assert closed["received"] == len(MESSAGES)

    run(main(), 120)


# ---------------------------------------------------------------- headless Chromium


def test_browser_default_offer_is_answered_and_used(kind):
    ended = []

    async def handler(ws):
        offer = ws.request.headers.get("Sec-WebSocket-Extensions")
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        ended.append((offer, agreed(ws), ws.close_code))

    async def main():
        async with wsfast_server(handler, impl=kind, subprotocols=["chat.v2"]) as (server, url), \
                PageServer() as pages, chromium(pages.url(f"/echo.html?ws={url}/deflate")):
            path, body = await pages.next_post(60)
            result = json.loads(body)
            for _ in range(100):
                if ended:
                    break
                await asyncio.sleep(0.05)
        assert result["errors"] == [] and all(e["ok"] for e in result["echoes"]), result
        assert len(result["echoes"]) == 7
        (offer, response, code), = ended
        assert "permessage-deflate" in offer and "client_max_window_bits" in offer
        assert response == "server_max_window_bits=12; client_max_window_bits=12"
        assert code == 1000

    run(main(), 90)
