"""A real browser: headless Chromium (Debian's package, installed by .ci/run) against a wsfast server.

The test serves a page (tests/peers/browser) whose script opens a WebSocket
to the wsfast server and reports back to the test's HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from _aio_peers import PageServer, chromium
from _aio_util import IMPLEMENTATIONS, run, wsfast_server

from wsfast import CloseCode
from wsfast.asyncio import ConnectionClosed

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)


def test_browser_echoes_text_and_binary_and_closes_with_1000(kind):
    ended = []

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        ended.append((ws.close_code, ws.close_reason, ws.subprotocol, ws.request.headers.get("Origin")))

    async def main():
        async with wsfast_server(handler, impl=kind, subprotocols=["chat.v2"]) as (server, url), \
                PageServer() as pages, chromium(pages.url(f"/echo.html?ws={url}/browser")):
            path, body = await pages.next_post(60)
            assert path == "/result"
            result = json.loads(body)
            for _ in range(100):  # the server sees the close right after the page does
                if ended:
                    break
                await asyncio.sleep(0.05)
        assert result["errors"] == []
        assert result["opened"] is True
        assert result["protocol"] == "chat.v2"
        kinds = [(e["kind"], e["size"]) for e in result["echoes"]]
        assert kinds == [("text", 0), ("text", 16), ("text", 70000),
                         ("binary", 0), ("binary", 125), ("binary", 65536), ("binary", 1 << 20)]
        assert all(e["ok"] for e in result["echoes"]), result["echoes"]
        # the browser reports the server's close frame: the code echoed, no reason
        assert result["close"] == {"code": 1000, "reason": "", "wasClean": True}
        assert ended == [(CloseCode.NORMAL, "browser done", "chat.v2", pages.url("").rstrip("/"))]

    run(main(), 90)


def test_browser_navigating_away_closes_with_1001(kind):
    ended: list = []

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        ended.append((ws.close_code, ws.close_reason))

    async def main():
        async with wsfast_server(handler, impl=kind) as (server, url), PageServer() as pages, \
                chromium(pages.url(f"/navigate.html?ws={url}/nav")):
            path, body = await pages.next_post(60)
            assert (path, body) == ("/opened", "before navigation")
            for _ in range(400):  # the page unloads after its report
                if ended:
                    break
                await asyncio.sleep(0.05)
        assert [code for code, _ in ended] == [CloseCode.GOING_AWAY]

    run(main(), 90)
