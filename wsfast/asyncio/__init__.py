"""wsfast on asyncio: ``serve()`` and ``connect()``, in the shape of websockets' asyncio API.

The connection object (``recv``, ``send``, ``async for``, ``ping``, ``close``,
``wait_closed``, ``close_code`` / ``close_reason``, ``request`` / ``response``,
``subprotocol``, ``remote_address``) runs on the sans-I/O
:class:`wsfast.connection.ServerConnection` / ``ClientConnection``, which run
on the compiled hot path when it is built.
"""

from __future__ import annotations

from ..connection import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, InvalidState
from ..handshake import InvalidHandshake, InvalidStatus, Request, Response
from .client import ClientConnection, connect
from .connection import Connection
from .server import Server, ServerConnection, serve

__all__ = [
    "serve",
    "connect",
    "Server",
    "Connection",
    "ServerConnection",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
    "InvalidHandshake",
    "InvalidStatus",
    "Request",
    "Response",
]
