"""What an idle connection keeps (both implementations): no per-instance dicts, no empty message
queue, the handshake's heads as bytes, parsed again (equal) when someone asks for them.

The memory figure itself is measured by ``python -m wsfast bench memory``; these tests pin the
structure that figure depends on, so a change that brings a dict back fails here.
"""

from __future__ import annotations

import asyncio

import pytest
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run, wsfast_server

from wsfast.asyncio import connect
from wsfast.asyncio.connection import _NO_MESSAGES

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)


def test_an_idle_server_connection_keeps_no_dicts_no_queue_and_no_parsed_heads(kind):
    seen = []
    # an asyncio.Event made in main(), in the test's loop: before 3.10 an Event binds to the loop
    # current when it is made, and out here there is none once an earlier test's asyncio.run() ended
    idle = None

    async def handler(ws):
        seen.append(ws)
        message = await ws.recv()
        await ws.send(message)
        recv = asyncio.ensure_future(ws.recv())  # idle: waiting for a message
        await asyncio.sleep(0)
        idle.set()
        await ws.send(await recv)

    async def main():
        nonlocal idle
        idle = asyncio.Event()
        async with wsfast_server(handler, impl=kind, compression=None) as (_, url), \
                connect(url, implementation=impl_or_skip(kind), compression=None) as ws:
            await ws.send(b"m" * 64)
            assert await ws.recv() == b"m" * 64
            await asyncio.wait_for(idle.wait(), 10)
            conn = seen[0]
            protocol = conn.protocol
            assert conn.__dict__ == {}, conn.__dict__
            assert protocol.__dict__ == {}, protocol.__dict__
            assert conn._messages is _NO_MESSAGES
            assert conn._drain_waiters is None
            assert protocol._request is None and type(protocol._request_head) is bytes
            assert protocol._response is None and type(protocol._response_head) is bytes
            # asked for: parsed again, equal to what went over the wire, then kept
            request = conn.request
            assert request is conn.request
            assert request.path == "/"
            assert request.headers["Sec-WebSocket-Key"] == ws.request.headers["Sec-WebSocket-Key"]
            assert list(request.headers) == list(ws.request.headers)
            assert conn.response.status == 101
            assert list(conn.response.headers) == list(ws.response.headers)
            await ws.send(b"again")
            assert await ws.recv() == b"again"

    run(main(), 30)
