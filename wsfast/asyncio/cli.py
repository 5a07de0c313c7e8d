"""``python -m wsfast serve``: an echo server, for trying wsfast out and for peers' tests.

The options are declared in ``wsfast/__main__.py`` (so ``--help`` stays cheap).

Ctrl-C (SIGINT) or SIGTERM shuts it down gracefully: every connection gets
1001, the server waits up to ``--close-timeout`` for the closing handshakes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .connection import Connection
from .server import serve


async def echo(ws: Connection) -> None:
    """Send every message back as it came (text stays text, binary stays binary)."""
    async for message in ws:
        await ws.send(message)


async def _serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no signal handlers
            loop.add_signal_handler(signum, request_stop)
    async with serve(echo, args.host, args.port, max_message_size=args.max_message_size,
                     close_timeout=args.close_timeout) as server:
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            print(f"wsfast echo server listening on ws://{host}:{port}", flush=True)
        await stop
        print("shutting down (1001 to every connection)", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Windows: no signal handlers, Ctrl-C raises
        asyncio.run(_serve(args))
    return 0
