"""``connect()``: a WebSocket client on asyncio, shaped like websockets' ``connect``.

::

    async with connect("ws://127.0.0.1:8765/chat") as ws:
        await ws.send("hello")
        print(await ws.recv())

``ws = await connect(...)`` works too (then ``await ws.close()`` yourself).
``wss://`` URIs use TLS: pass ``ssl=`` an :class:`ssl.SSLContext` (default: a
verifying default context).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from typing import Any, Dict, Generator, Optional, Sequence, Union, cast

from .. import _defaults
from ..exceptions import InvalidMessage
from ..extensions.permessage_deflate import Compression
from ..headers import HeadersLike
from ..http11 import Response
from ..protocol import ClientProtocol, HandshakeFailed, Implementation
from ..sockopts import configure_transport, keepalive_timing, validate_user_timeout
from ..uri import parse_uri
from .connection import Connection, WriteLimit
from .tls import open_tls

__all__ = ["connect", "ClientConnection"]


class ClientConnection(Connection):
    """The client side of a connection (what ``connect`` returns)."""

    __slots__ = ("_handshake",)

    protocol: ClientProtocol

    def __init__(self, protocol: ClientProtocol, **options: Any) -> None:
        super().__init__(protocol, **options)
        self._handshake: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._handshake = self._loop.create_future()
        self._flush()  # the upgrade request

    def _on_handshake_event(self, event: Any) -> None:
        waiter = self._handshake
        if waiter is None or waiter.done():
            return
        if isinstance(event, Response):
            waiter.set_result(None)
        elif isinstance(event, HandshakeFailed):
            waiter.set_exception(event.error)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        super().connection_lost(exc)
        waiter = self._handshake
        if waiter is not None and not waiter.done():
            waiter.set_exception(InvalidMessage("the connection closed during the opening handshake"))


class connect:  # noqa: N801 - used as a function, like websockets' connect
    """Open a WebSocket connection: ``await connect(uri, **options)`` or
    ``async with connect(uri, **options) as ws`` (closed with 1000 on exit).

    Options: ``origin``, ``subprotocols``, ``extra_headers`` (the request),
    ``max_message_size`` (default 1 MiB; None: no limit), ``max_queue``
    (default 16), ``write_limit`` (32 KiB, or ``(high, low)``), ``ping_interval`` /
    ``ping_timeout`` (default 20 s / 20 s),
    ``open_timeout`` (TCP + TLS + handshake, default 10 s), ``close_timeout``
    (default 10 s), ``compression`` (``"deflate"``: offer permessage-deflate,
    the default; ``None``: don't; or a
    :class:`~wsfast.extensions.permessage_deflate.DeflateOptions`), ``ssl``
    (an SSLContext, or True for the default one; wss:// implies it),
    ``server_hostname``, ``logger``, ``implementation`` ("c" / "python").
    Anything else (``sock``, ``local_addr``, ``family``...) goes to
    ``loop.create_connection``. A refused handshake raises the
    :class:`wsfast.exceptions.InvalidHandshake` subclass that names the problem
    (``InvalidStatus`` for a non-101 answer); an open that takes too long,
    TimeoutError. A TLS handshake that fails (an untrusted, expired or
    wrong-host certificate, a server that does not speak TLS) raises
    :class:`wsfast.exceptions.TLSHandshakeError`: ``close_code`` 1015, the ssl
    error as ``__cause__``, still an ``ssl.SSLError`` (so an ``OSError``);
    TCP errors (refused, unreachable) stay what they are.

    ``tcp_keepalive`` (False, True or ``(idle_s, interval_s, count)``) and
    ``tcp_user_timeout`` (seconds, Linux) set TCP-level liveness options on
    the socket; off by default, ping/pong being the primary check (see
    :mod:`wsfast.sockopts`).
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extra_headers: Optional[HeadersLike] = None,
        max_message_size: Optional[int] = _defaults.MAX_MESSAGE_SIZE,
        max_queue: Optional[int] = _defaults.MAX_QUEUE,
        write_limit: WriteLimit = _defaults.WRITE_LIMIT,
        ping_interval: Optional[float] = _defaults.PING_INTERVAL,
        ping_timeout: Optional[float] = _defaults.PING_TIMEOUT,
        open_timeout: Optional[float] = _defaults.OPEN_TIMEOUT,
        close_timeout: Optional[float] = _defaults.CLOSE_TIMEOUT,
        compression: Compression = "deflate",
        ssl: Union[None, bool, ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
        logger: Union[None, str, logging.Logger] = None,
        implementation: Implementation = None,
        tcp_keepalive: Any = False,
        tcp_user_timeout: Optional[float] = None,
        **loop_options: Any,
    ) -> None:
        self.uri = parse_uri(uri)
        timing = keepalive_timing(tcp_keepalive)  # bad values fail here, not after connecting
        validate_user_timeout(tcp_user_timeout)
        self._socket_options: Dict[str, Any] = dict(
            tcp_keepalive=False if timing is None else timing, tcp_user_timeout=tcp_user_timeout)
        if ssl and not self.uri.secure:
            raise ValueError("ssl= is only for wss:// URIs")
        if self.uri.secure and not ssl:
            ssl = True
        self._ssl: Optional[ssl_module.SSLContext] = (
            ssl_module.create_default_context() if ssl is True else ssl or None)
        self._server_hostname = server_hostname
        self._protocol_options: Dict[str, Any] = dict(
            origin=origin, subprotocols=subprotocols, extra_headers=extra_headers,
            max_message_size=max_message_size, ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, hold_failure=True, impl=implementation, compression=compression)
        if logger is None:
            logger = logging.getLogger("wsfast.asyncio.client")
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self._options: Dict[str, Any] = dict(max_queue=max_queue, write_limit=write_limit, logger=logger)
        self.open_timeout = open_timeout
        self._loop_options = loop_options
        self.connection: Optional[ClientConnection] = None

    async def _open(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        protocol = ClientProtocol(self.uri, clock=loop.time, **self._protocol_options)
        options = dict(self._loop_options)
        host, port = self.uri.host, self.uri.port
        if "sock" in options:
            host = port = None  # type: ignore[assignment]

        def factory() -> ClientConnection:
            return ClientConnection(protocol, **self._options)

        transport: asyncio.Transport
        if self._ssl is None:
            transport, conn = await loop.create_connection(factory, host, port, **options)
        else:
            # TCP first, then TLS: a failed TLS handshake is told apart and raised as 1015
            hostname = self._server_hostname if self._server_hostname is not None else self.uri.host
            handshake_timeout = options.pop("ssl_handshake_timeout", None)
            shutdown_timeout = options.pop("ssl_shutdown_timeout", None)
            transport, made = await open_tls(factory, host, port, self._ssl, server_hostname=hostname,
                                             handshake_timeout=handshake_timeout,
                                             shutdown_timeout=shutdown_timeout, **options)
            conn = cast(ClientConnection, made)
        configure_transport(transport, logger=conn.logger, **self._socket_options)
        try:
            assert conn._handshake is not None
            await conn._handshake
        except BaseException:
            transport.abort()
            raise
        conn.logger.debug("connected to %s", self.uri)
        return conn

    async def _create(self) -> ClientConnection:
        try:
            if self.open_timeout is None:
                self.connection = await self._open()
            else:
                self.connection = await asyncio.wait_for(self._open(), self.open_timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(f"opening {self.uri.host}:{self.uri.port} timed out") from None
        return self.connection

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._create().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self._create()

    async def __aexit__(self, *exc: Any) -> None:
        assert self.connection is not None
        await self.connection.close()



