"""The wsfast side of the flow-control cases, in a process of its own (``python _flow_child.py CONFIG``).

Its memory is what the cases measure (from /proc), and a server that spins
cannot freeze the test that watches it. It imports whichever wsfast is on its
path and uses only API that every version of ``serve()``/``connect()`` had, so
``benchmarks/flow_cases.py`` runs the same cases against an older tree.

CONFIG is JSON. ``{"mode": "serve", "options": {...}}`` serves on an ephemeral
loopback port; the request path picks the handler (``?id=N`` names the
connection in the reports):

    /echo           send every message back
    /stream         ``while True: await ws.send(1 KiB)``
    /stream_yield   the same, with ``await asyncio.sleep(0)`` after each send
    /big?n=BYTES    one message of BYTES, then read until the connection closes
    /size           answer every message with its size (as text)
    /sleepy?s=S     echo, after sleeping S seconds first (reading pauses once max_queue wait)
    /slow...        any of the above behind a ``process_request`` that sleeps
                    ``process_request_delay`` seconds (the client may push data meanwhile)

``{"mode": "connect", "clients": [{"url", "action", "count", "options"}]}``
opens client connections (ids "0", "1"... in order) running the same handlers
from the client's side, plus ``/recv`` (read and digest every message) and
``/pingpong?n=N`` (N round trips of a small message, timed). ``sndbuf`` fixes
the kernel's send buffer of every connection. ``rlimit_as`` caps the address space at the
current size plus that many bytes, after start-up.

Reports are JSON lines on stdout: ``{"ev": "ready", "port": P}``, then per
connection ``open`` and ``closed`` (close code, ``time.monotonic()`` — the
system-wide clock the test reads too — and the bytes sent or received).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

from wsfast.asyncio import ConnectionClosed, connect, serve

CHUNK = b"x" * 1024


def report(event: str, **fields: object) -> None:
    fields["ev"] = event
    print(json.dumps(fields), flush=True)


async def run_handler(ws: object, target: str, conn_id: str) -> None:
    kind = target.split("?", 1)[0].removeprefix("/slow")
    query = parse_qs(urlsplit(target).query)
    moved = 0
    digest = hashlib.sha256()
    report("open", id=conn_id, path=kind, t=time.monotonic())
    try:
        if kind == "/echo":
            async for message in ws:  # type: ignore[attr-defined]
                await ws.send(message)  # type: ignore[attr-defined]
                moved += len(message)
        elif kind in ("/stream", "/stream_yield"):
            yielding = kind == "/stream_yield"
            while True:
                await ws.send(CHUNK)  # type: ignore[attr-defined]
                moved += len(CHUNK)
                if yielding:
                    await asyncio.sleep(0)
        elif kind == "/big":
            n = int(query.get("n", ["1048576"])[0])
            await ws.send(b"b" * n)  # type: ignore[attr-defined]
            moved = n
            async for _ in ws:  # type: ignore[attr-defined]
                pass
        elif kind == "/pingpong":
            rtts = []
            await asyncio.sleep(float(query.get("after", ["0"])[0]))
            for _ in range(int(query.get("n", ["10"])[0])):
                started = time.monotonic()
                await ws.send("p" * 64)  # type: ignore[attr-defined]
                await ws.recv()  # type: ignore[attr-defined]
                rtts.append(time.monotonic() - started)
            report("pingpong", id=conn_id, rtts=rtts)
        elif kind == "/sleepy":  # an application that is busy for a while before it reads
            await asyncio.sleep(float(query.get("s", ["1"])[0]))
            async for message in ws:  # type: ignore[attr-defined]
                await ws.send(message)  # type: ignore[attr-defined]
                moved += len(message)
        elif kind == "/size":
            async for message in ws:  # type: ignore[attr-defined]
                moved += len(message)
                await ws.send(str(len(message)))  # type: ignore[attr-defined]
        elif kind == "/recv":
            async for message in ws:  # type: ignore[attr-defined]
                data = message.encode() if isinstance(message, str) else message
                digest.update(data)
                moved += len(data)
                report("message", id=conn_id, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    except ConnectionClosed:
        pass
    report("closed", id=conn_id, path=kind, code=ws.close_code, t=time.monotonic(),  # type: ignore[attr-defined]
           moved=moved)


def set_sndbuf(ws: object, size: object) -> None:
    """A fixed (small) kernel send buffer: a backlog then waits in ours, where the case looks."""
    if size:
        sock = ws.transport.get_extra_info("socket")  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def limit_address_space(extra: int) -> None:
    import resource

    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, resource.RLIM_INFINITY))


async def serve_main(config: dict) -> None:
    delay = config.get("process_request_delay")

    async def handler(ws: object) -> None:
        target = ws.request.path  # type: ignore[attr-defined]
        set_sndbuf(ws, config.get("sndbuf"))
        await run_handler(ws, target, parse_qs(urlsplit(target).query).get("id", ["?"])[0])

    async def process_request(ws: object, request: object) -> None:
        if request.path.startswith("/slow") and delay:  # type: ignore[attr-defined]
            await asyncio.sleep(delay)

    options = dict(config.get("options", {}))
    async with serve(handler, "127.0.0.1", 0, process_request=process_request, **options) as server:
        if config.get("rlimit_as"):
            limit_address_space(config["rlimit_as"])
        report("ready", port=server.sockets[0].getsockname()[1], pid=os.getpid())
        await asyncio.get_running_loop().create_future()  # until killed


async def connect_main(config: dict) -> None:
    opened = 0
    total = sum(entry.get("count", 1) for entry in config["clients"])

    async def one(conn_id: str, entry: dict) -> None:
        nonlocal opened
        try:
            ws = await connect(f"{entry['url']}?id={conn_id}", **entry.get("options", {}))
        except Exception as exc:  # noqa: BLE001 - reported, the case decides
            report("failed", id=conn_id, error=repr(exc), t=time.monotonic())
            return
        set_sndbuf(ws, config.get("sndbuf"))
        opened += 1
        if opened == total:
            report("opened-all")
        await run_handler(ws, entry["action"], conn_id)
        await ws.close()

    if config.get("rlimit_as"):
        limit_address_space(config["rlimit_as"])
    report("ready", pid=os.getpid())
    ids = (str(i) for i in range(total))
    await asyncio.gather(*(one(next(ids), entry) for entry in config["clients"]
                           for _ in range(entry.get("count", 1))))
    report("done", t=time.monotonic())
    await asyncio.get_running_loop().create_future()  # until killed: the test reads our memory


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if config["mode"] == "serve":
        asyncio.run(serve_main(config))
    else:
        asyncio.run(connect_main(config))


if __name__ == "__main__":
    main()
