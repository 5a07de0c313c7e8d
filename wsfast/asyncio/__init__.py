"""wsfast on asyncio: ``serve()`` and ``connect()``, in the shape of websockets' asyncio API.

The connection object (``recv``, ``send``, ``async for``, ``ping``, ``close``,
``wait_closed``, ``close_code`` / ``close_reason``, ``request`` / ``response``,
``subprotocol``, ``remote_address``) runs on the sans-I/O
:class:`wsfast.protocol.ServerProtocol` / ``ClientProtocol`` (its ``protocol``
attribute), which runs on the compiled hot path when it is built.
"""

from __future__ import annotations

from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidState,
    InvalidStatus,
    TLSHandshakeError,
)
from ..http11 import Request, Response
from .broadcast import broadcast
from .client import ClientConnection, connect
from .connection import Connection
from .listener import Listener
from .server import Server, ServerConnection, serve

__all__ = [
    "serve",
    "connect",
    "broadcast",
    "Server",
    "Connection",
    "Listener",
    "ServerConnection",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
    "InvalidHandshake",
    "InvalidStatus",
    "TLSHandshakeError",
    "Request",
    "Response",
]
