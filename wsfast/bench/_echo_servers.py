"""Echo servers for the loopback echo benchmark, one per library, each run in its own process.

``python -m wsfast.bench._echo_servers KIND [PORT]`` starts KIND's echo server
on 127.0.0.1 (PORT 0 = any), prints ``PORT <n>`` once it listens, and stops
when its standard input closes (so a benchmark that dies leaves nothing
running). Each server is what that library's documentation shows: the most
direct echo its API offers, no compression, large messages allowed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable, Dict, List, Optional

MAX_SIZE = 64 * 1024 * 1024


async def _wsfast(port: int, ready: Callable[[int], None], stop: Awaitable[None]) -> None:
    from wsfast.asyncio import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", port, max_message_size=MAX_SIZE, ping_interval=None) as server:
        ready(server.sockets[0].getsockname()[1])
        await stop


async def _websockets(port: int, ready: Callable[[int], None], stop: Awaitable[None]) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, compression=None,
                     ping_interval=None) as server:
        ready(server.sockets[0].getsockname()[1])
        await stop


async def _aiohttp(port: int, ready: Callable[[int], None], stop: Awaitable[None]) -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: Any) -> Any:
        ws = web.WebSocketResponse(max_msg_size=MAX_SIZE, compress=False, autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        ready(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await stop
    finally:
        await runner.cleanup()


async def _picows(port: int, ready: Callable[[int], None], stop: Awaitable[None]) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

        # picows buffers what the socket does not take; like picows' own examples, the echo
        # ignores flow control (defining these keeps it from logging a warning at every pause)
        def pause_writing(self) -> None:
            pass

        def resume_writing(self) -> None:
            pass

    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port, max_frame_size=MAX_SIZE)
    try:
        ready(server.sockets[0].getsockname()[1])
        await stop
    finally:
        server.close()


SERVERS: Dict[str, Callable[..., Awaitable[None]]] = {
    "wsfast": _wsfast,
    "websockets": _websockets,
    "aiohttp": _aiohttp,
    "picows": _picows,
}


async def _main(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def watch_stdin() -> None:
        await reader.read()
        if not stop.done():
            stop.set_result(None)

    watcher = asyncio.ensure_future(watch_stdin())

    def ready(bound: int) -> None:
        print(f"PORT {bound}", flush=True)

    try:
        await SERVERS[kind](port, ready, stop)
    finally:
        watcher.cancel()


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(_main(args[0], int(args[1]) if len(args) > 1 else 0))


if __name__ == "__main__":
    main()
