"""Helpers for the asyncio tests: bounded runs, the echo handler, servers on loopback.

The echo handler understands a few text commands so that one server can
exercise every close path from the peer's side:

    "close:<code>:<reason>"   the server closes with that code and reason
    "close-nocode"            the server sends a close frame without a code
    "raise"                   the handler raises (the server must close with 1011)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any, AsyncIterator, Optional, Tuple

from wsfast.asyncio import ConnectionClosed, Server, serve

IMPLEMENTATIONS = ["c", "python"]
SIZES = [0, 125, 64 * 1024, 16 * 1024 * 1024]
BIG = 32 * 1024 * 1024  # max_message_size used where 16 MiB messages travel


def run(coro: Any, timeout: float = 30.0) -> Any:
    """Run a coroutine on a fresh loop, failing (not hanging) after `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def impl_or_skip(kind: str) -> Any:
    """The implementation namespace (fails under CI when the compiled one is missing)."""
    from conftest import load_impl

    return load_impl(kind)


def client_options(kind: str, **options: Any) -> dict:
    """connect() options for implementation ``kind``: big messages allowed (as wsfast_server does)."""
    options.setdefault("max_message_size", BIG)
    options["implementation"] = impl_or_skip(kind)
    return options


def text_of(n: int) -> str:
    """n UTF-8 bytes mixing 1- to 4-byte sequences."""
    unit = "a\u00e9\u20ac\U0001F600"  # 1 + 2 + 3 + 4 bytes
    return unit * (n // 10) + "x" * (n % 10)


_PATTERN = bytes((i * 31 + 7) & 0xFF for i in range(256))


def binary_of(n: int) -> bytes:
    return (_PATTERN * (n // 256 + 1))[:n]


def digest(message: Any) -> str:
    data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return hashlib.sha256(data).hexdigest()


async def echo_handler(ws: Any) -> None:
    try:
        async for message in ws:
            if isinstance(message, str):
                if message.startswith("close:"):
                    _, code, reason = message.split(":", 2)
                    await ws.close(int(code), reason)
                    return
                if message == "close-nocode":
                    await ws.close(None)
                    return
                if message == "raise":
                    raise RuntimeError("handler failure requested by the test")
            await ws.send(message)
    except ConnectionClosed:
        pass


@contextlib.asynccontextmanager
async def wsfast_server(handler: Any = echo_handler, impl: Optional[str] = None,
                        **options: Any) -> AsyncIterator[Tuple[Server, str]]:
    """A wsfast server on an ephemeral loopback port; yields (server, ws:// URL)."""
    options.setdefault("max_message_size", BIG)
    if impl is not None:
        options["implementation"] = impl_or_skip(impl)
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"
    assert not server.connections, "connections left open after shutdown"

