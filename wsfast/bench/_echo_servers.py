"""Echo servers for the loopback echo benchmark, one per library, each run in its own process.

``python -m wsfast.bench._echo_servers KIND [PORT [deflate]]`` starts KIND's echo
server on 127.0.0.1 (PORT 0 = any; ``WSFAST_BENCH_LOOP=uvloop``: on uvloop), prints
``PORT <n>`` once it listens, and
stops when its standard input closes (so a benchmark that dies leaves nothing
running). With ``WSFAST_BENCH_PATCH=LIB`` in the environment, ``wsfast.patch.LIB()``
is applied first (the process exits if the patch is refused). Each server is what
that library's documentation shows: the most direct echo its API offers, no
compression (unless ``deflate`` is given: then permessage-deflate as the library
offers it), large messages allowed. With ``deflate``, ``WSFAST_BENCH_DEFLATE``
(JSON: ``DeflateOptions`` keyword arguments) pins wsfast's and websockets'
compression settings (window bits, ``mem_level``, ``level``, no context
takeover) so they compare alike; aiohttp's are fixed (window 15, memLevel 8,
level 1).

KIND ``asyncio`` is the floor: a plain ``asyncio.Protocol`` that echoes bytes,
no WebSocket at all (the cost of the event loop and the kernel alone).

Standard input is also a control channel, one command per line, each answered
with one ``STATS {json}`` line on standard output: ``stats`` gives the
process's CPU time (``resource.getrusage``: user and sys, in seconds) and its
memory (``/proc/self/status`` VmRSS, ``/proc/self/smaps_rollup`` anonymous
memory, in bytes); with ``WSFAST_BENCH_TRACEMALLOC=1`` in the environment
(tracing starts when the process does), ``mark`` takes a tracemalloc
snapshot and ``trace`` answers with the allocations made since the mark,
grouped by source line, largest first; ``trim`` first hands the C heap's
free pages back to the system (glibc's ``malloc_trim(0)``, where there is
one), so that memory freed while connections sat idle shows in the figures
(glibc keeps freed chunks mapped until they are reused or trimmed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any, Awaitable, Callable, Dict, List, Optional

from wsfast._env import env_flag

MAX_SIZE = 64 * 1024 * 1024


async def _asyncio(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", port)
    try:
        ready(server.sockets[0].getsockname()[1])
        await stop
    finally:
        server.close()


def wsfast_deflates() -> bool:
    """True when this wsfast has permessage-deflate (serve()'s ``compression`` option)."""
    import inspect

    from wsfast.asyncio.server import Server

    return "compression" in inspect.signature(Server).parameters


async def _wsfast(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    await _serve_wsfast(echo, port, ready, stop, deflate)


async def _wsfast_listener(port: int, ready: Callable[[int], None], stop: Awaitable[None],
                           deflate: bool) -> None:
    from wsfast.asyncio import Listener

    class Echo(Listener):
        def on_message(self, ws: Any, message: Any) -> None:
            ws.send_now(message)

    await _serve_wsfast(Echo, port, ready, stop, deflate)


async def _serve_wsfast(handler: Any, port: int, ready: Callable[[int], None], stop: Awaitable[None],
                        deflate: bool) -> None:
    from wsfast.asyncio import serve

    options: Dict[str, Any] = {}
    if wsfast_deflates():
        options["compression"] = "deflate" if deflate else None
        pinned = _pinned_deflate()
        if deflate and pinned:
            from wsfast.extensions.permessage_deflate import DeflateOptions

            options["compression"] = DeflateOptions(**pinned)
    elif deflate:
        raise RuntimeError("this wsfast has no permessage-deflate")
    # keepalive off, unless WSFAST_BENCH_PING_INTERVAL (seconds) asks for it (the idle-memory rows:
    # a compressor idle for a whole ping interval is freed at the ping)
    interval = float(os.environ.get("WSFAST_BENCH_PING_INTERVAL") or 0) or None
    async with serve(handler, "127.0.0.1", port, max_message_size=MAX_SIZE, ping_interval=interval,
                     ping_timeout=None, **options) as server:
        ready(server.sockets[0].getsockname()[1])
        await stop


async def _websockets(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    options: Dict[str, Any] = {"compression": "deflate" if deflate else None}
    pinned = _pinned_deflate()
    if deflate and pinned:
        from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

        settings = {"memLevel": pinned.pop("mem_level", 8), "level": pinned.pop("level", -1)}
        options = {"compression": None, "extensions": [ServerPerMessageDeflateFactory(
            **{k: v for k, v in pinned.items() if k != "min_size"}, compress_settings=settings)]}
    async with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, ping_interval=None, **options) as server:
        ready(server.sockets[0].getsockname()[1])
        await stop


async def _aiohttp(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: Any) -> Any:
        ws = web.WebSocketResponse(max_msg_size=MAX_SIZE, compress=deflate, autoping=True)
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


async def _picows(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    if deflate:
        raise RuntimeError("picows has no permessage-deflate")
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


async def _tornado(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
    import tornado.web
    import tornado.websocket

    class Echo(tornado.websocket.WebSocketHandler):
        def get_compression_options(self) -> Optional[Dict[str, Any]]:
            return {} if deflate else None

        def on_message(self, message: Any) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    app = tornado.web.Application([(r"/", Echo)], websocket_max_message_size=MAX_SIZE)
    server = app.listen(port, "127.0.0.1")
    try:
        ready(next(iter(server._sockets.values())).getsockname()[1])
        await stop
    finally:
        server.stop()


async def asgi_echo(scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The plainest ASGI WebSocket echo: every message goes back as it came (text or bytes)."""
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})
        elif kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        else:
            return


def _uvicorn(ws: str) -> Callable[..., Awaitable[None]]:
    """uvicorn serving asgi_echo with one --ws class; its HTTP protocol is WSFAST_BENCH_HTTP (h11)."""

    async def serve(port: int, ready: Callable[[int], None], stop: Awaitable[None], deflate: bool) -> None:
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        config = uvicorn.Config(asgi_echo, ws=ws, http=os.environ.get("WSFAST_BENCH_HTTP", "h11"),
                                lifespan="off", log_level="warning", ws_max_size=MAX_SIZE,
                                ws_ping_interval=None, ws_per_message_deflate=deflate)
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()  # why it did not start
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        try:
            ready(sock.getsockname()[1])
            await stop
        finally:
            server.should_exit = True
            await task

    return serve


def _pinned_deflate() -> Dict[str, Any]:
    """WSFAST_BENCH_DEFLATE's settings (DeflateOptions keyword arguments), or {}."""
    return dict(json.loads(os.environ.get("WSFAST_BENCH_DEFLATE") or "{}"))


SERVERS: Dict[str, Callable[..., Awaitable[None]]] = {
    "asyncio": _asyncio,
    "tornado": _tornado,
    "wsfast": _wsfast,
    "wsfast-listener": _wsfast_listener,
    "websockets": _websockets,
    "aiohttp": _aiohttp,
    "picows": _picows,
    # uvicorn with its --ws classes (WSFAST_BENCH_LOOP=uvloop runs any of these servers on uvloop)
    "uvicorn-wsfast": _uvicorn("wsfast.uvicorn:WSFastProtocol"),
    "uvicorn-websockets-sansio": _uvicorn("websockets-sansio"),
    "uvicorn-wsproto": _uvicorn("wsproto"),
}


def _memory() -> Dict[str, int]:
    """This process's memory in bytes: resident set, and the anonymous part of it (Linux)."""
    found: Dict[str, int] = {}
    for path, keys in (("/proc/self/status", {"VmRSS": "rss"}),
                       ("/proc/self/smaps_rollup", {"Anonymous": "anonymous"})):
        try:
            with open(path) as f:
                for line in f:
                    name, _, rest = line.partition(":")
                    if name in keys:
                        found[keys[name]] = int(rest.split()[0]) * 1024
        except OSError:
            pass
    return found


_mark: List[Any] = []


def _answer(command: str) -> Dict[str, Any]:
    """One control command (see the module doc) -> the STATS payload."""
    import resource

    if command == "trim":
        import ctypes
        import ctypes.util
        import gc

        gc.collect()
        with contextlib.suppress(OSError, AttributeError, TypeError):
            ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats: Dict[str, Any] = {"user": usage.ru_utime, "sys": usage.ru_stime, **_memory()}
    if command in ("mark", "trace"):
        import gc
        import tracemalloc

        gc.collect()
        if not tracemalloc.is_tracing():
            stats["error"] = "tracemalloc is off (set WSFAST_BENCH_TRACEMALLOC=1)"
        elif command == "mark":
            _mark[:] = [tracemalloc.take_snapshot()]
        elif _mark:
            diff = tracemalloc.take_snapshot().compare_to(_mark[0], "lineno")
            stats["traced"] = [
                {"where": f"{d.traceback[0].filename}:{d.traceback[0].lineno}", "bytes": d.size_diff,
                 "count": d.count_diff}
                for d in diff if d.size_diff
            ]
    return stats


async def _main(kind: str, port: int, deflate: bool) -> None:
    loop = asyncio.get_running_loop()
    if os.environ.get("WSFAST_BENCH_TRANSPORT") == "aiofastnet":
        import aiofastnet

        aiofastnet.patch_loop(loop)  # create_server() makes aiofastnet's compiled transports
    stop = loop.create_future()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def watch_stdin() -> None:
        while True:
            line = await reader.readline()
            if not line:
                break
            print("STATS " + json.dumps(_answer(line.decode().strip())), flush=True)
        if not stop.done():
            stop.set_result(None)

    watcher = asyncio.ensure_future(watch_stdin())

    def ready(bound: int) -> None:
        print(f"PORT {bound}", flush=True)

    try:
        await SERVERS[kind](port, ready, stop, deflate)
    finally:
        watcher.cancel()


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if env_flag("WSFAST_BENCH_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start()
    _raise_open_files()
    patch = os.environ.get("WSFAST_BENCH_PATCH")
    if patch:
        import wsfast.patch

        if getattr(wsfast.patch, patch)() is None:
            sys.exit(f"wsfast.patch.{patch}() was refused")
    main_coroutine = _main(args[0], int(args[1]) if len(args) > 1 else 0, args[2:3] == ["deflate"])
    if os.environ.get("WSFAST_BENCH_LOOP") == "uvloop":
        import uvloop

        uvloop.run(main_coroutine)
    else:
        asyncio.run(main_coroutine)


def _raise_open_files() -> None:
    """Allow as many sockets as the hard limit does (the memory benchmark opens thousands)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            wanted = hard if hard != resource.RLIM_INFINITY else 65536
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass


if __name__ == "__main__":
    main()
