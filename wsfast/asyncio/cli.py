"""``python -m wsfast serve [module:handler]``: serve a handler (echo by default), in this process
or in ``--workers N`` supervised processes sharing the port.

The options are declared in ``wsfast/__main__.py`` (so ``--help`` stays cheap).

Ctrl-C (SIGINT) or SIGTERM shuts it down gracefully: every connection of every
worker gets 1001, each server waits up to ``--close-timeout`` for the closing
handshakes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Dict, List

from .connection import Connection


async def echo(ws: Connection) -> None:
    """Send every message back as it came (text stays text, binary stays binary)."""
    async for message in ws:
        await ws.send(message)


def _seconds_or_off(value: float) -> Any:
    return None if value == 0 else value


def serve_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The serve() options the command line sets."""
    return {
        "max_message_size": args.max_message_size,
        "close_timeout": args.close_timeout,
        "ping_interval": _seconds_or_off(args.ping_interval),
        "ping_timeout": _seconds_or_off(args.ping_timeout),
    }


def main(args: argparse.Namespace) -> int:
    from .workers import run

    level = logging.DEBUG if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    what = "echo server" if args.handler is None else f"server ({args.handler})"
    if args.workers is not None:
        what += f", {args.workers} worker{'s' if args.workers > 1 else ''},"

    def announce(urls: List[str]) -> None:
        for url in urls:
            print(f"wsfast {what} listening on {url}", flush=True)

    try:
        status = run(args.handler, args.host, args.port, workers=args.workers, certfile=args.certfile,
                     keyfile=args.keyfile, on_ready=announce, log_level=level, **serve_options(args))
    except (ValueError, OSError) as exc:  # a handler that does not import, a port in use, a bad key...
        print(f"wsfast serve: {exc}", file=sys.stderr, flush=True)
        return 2
    if status == 0:
        print("stopped (1001 sent to every connection)", flush=True, file=sys.stderr)
    return status
