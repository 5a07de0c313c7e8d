"""Command line: ``python -m wsfast COMMAND`` (also installed as ``wsfast``).

Each subcommand registers itself in ``_COMMANDS`` with a function that adds its
options and one that runs it; heavy modules are imported only when their
command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional


def _add_bench(sub: Any) -> None:
    parser = sub.add_parser("bench", help="side-by-side benchmarks: compiled vs pure Python (and peers)",
                            description="Side-by-side micro-benchmarks of the hot path.")
    from wsfast.bench import add_arguments

    add_arguments(parser)
    parser.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from wsfast.bench import main as bench_main

    return bench_main(args)


def _add_serve(sub: Any) -> None:
    parser = sub.add_parser(
        "serve", help="serve a handler (default: echo); --workers N for several processes",
        description="Serve a WebSocket handler on wsfast.asyncio: in this process, or in N worker "
                    "processes sharing the port (SO_REUSEPORT on Linux, one inherited socket elsewhere) "
                    "under a supervisor that restarts a worker that dies. Ctrl-C / SIGTERM: graceful "
                    "shutdown, 1001 to every client.")
    parser.add_argument("handler", nargs="?", default=None, metavar="MODULE:HANDLER",
                        help="the connection handler, e.g. chat:handler (default: echo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="serve from N supervised worker processes (default: this process only)")
    parser.add_argument("--certfile", default=None, help="TLS certificate chain (PEM): serve wss://")
    parser.add_argument("--keyfile", default=None, help="TLS private key (PEM), if not in --certfile")
    parser.add_argument("--max-message-size", type=int, default=2**24, metavar="BYTES",
                        help="largest message accepted (default: 16 MiB)")
    parser.add_argument("--ping-interval", type=float, default=20.0, metavar="SECONDS",
                        help="keepalive ping interval (default: 20; 0: no pings)")
    parser.add_argument("--ping-timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long a ping may wait for its pong (default: 20; 0: forever)")
    parser.add_argument("--close-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long shutdown waits for closing handshakes (default: 5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections (debug level)")
    parser.set_defaults(run=_run_serve)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _run_serve(args: argparse.Namespace) -> int:
    from wsfast.asyncio.cli import main as serve_main

    return serve_main(args)


# one entry per subcommand: adds its parser (and sets `run`)
_COMMANDS = [_add_bench, _add_serve]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast", description="wsfast command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
