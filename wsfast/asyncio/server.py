"""``serve()``: a WebSocket server on asyncio, shaped like websockets' ``serve``.

::

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

The sans-I/O :class:`~wsfast.protocol.ServerProtocol` parses each request head
and decides every answer; this layer runs the application's hooks around it:
one task per connection runs ``process_request`` (which may answer plain HTTP,
e.g. a health check) and then the handler. Reading stops from the request
head until the answer is sent, so a client cannot push data into a slow
``process_request``. ``server.close()`` stops accepting, sends 1001 to every
open connection, waits up to ``close_timeout`` for the closing handshakes,
then drops what is left.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl as ssl_module
from typing import Any, Awaitable, Callable, Generator, List, Optional, Sequence, Set, Type, Union, cast

from .. import _defaults
from ..enums import CloseCode
from ..exceptions import ConnectionClosed
from ..extensions.permessage_deflate import Compression, server_extensions
from ..handshake import ExtraHeaders, OriginPolicy, ServerHandshake
from ..headers import HeadersLike
from ..http11 import MAX_HEADER_SIZE, Request, Response
from ..protocol import Implementation, ServerProtocol, State
from ..sockopts import configure_transport, keepalive_timing, validate_user_timeout
from .connection import _PAUSE_HANDSHAKE, READ_BUFFER_SIZE, Connection, WriteLimit
from .listener import Listener
from .tls import TLSListener

__all__ = ["serve", "Server", "ServerConnection"]

# a coroutine function run once per connection, or a Listener subclass (one instance per connection)
Handler = Union[Callable[["ServerConnection"], Awaitable[Any]], Type[Listener]]
ProcessRequest = Callable[["ServerConnection", Request], Any]


class ServerConnection(Connection):
    """The server side of one connection (what the handler receives)."""

    __slots__ = ("server", "_task", "_open_timer")

    protocol: ServerProtocol

    def __init__(self, server: Server, protocol: ServerProtocol) -> None:
        super().__init__(protocol, max_queue=server.max_queue, write_limit=server.write_limit,
                         logger=server.logger, read_buffer=server._read_buffer)
        self.server = server
        self._task: Optional[asyncio.Task[None]] = None
        self._open_timer: Optional[asyncio.TimerHandle] = None

    def respond(self, status: int, text: str = "", headers: Optional[HeadersLike] = None) -> Response:
        """A plain HTTP response to return from ``process_request`` (health checks, redirects,
        rejections): ``text`` is the body (text/plain, UTF-8)."""
        return self.protocol.reject(status, text, headers=headers)

    # -- the opening handshake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self.server
        configure_transport(transport, tcp_keepalive=server.tcp_keepalive,
                            tcp_user_timeout=server.tcp_user_timeout, logger=server.logger)
        server._register(self)
        timeout = self.server.open_timeout
        if timeout is not None:
            self._open_timer = self._loop.call_later(timeout, self._open_timed_out)

    def _on_handshake_event(self, event: Any) -> None:
        if isinstance(event, Request):
            # nothing more is read until the request is answered (process_request may take a while)
            self._pause_reading(_PAUSE_HANDSHAKE)
            self._task = self._loop.create_task(self._run(event))

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if self.protocol.state is State.CONNECTING and not self._lost and self.transport is not None:
            self.logger.info("opening handshake from %s timed out: dropping the connection",
                             self.remote_address)
            self.transport.abort()

    async def _answer(self, request: Request) -> bool:
        """Run process_request, then answer the request; True once the connection is open."""
        server = self.server
        protocol = self.protocol
        response: Any = None
        if server._closing:
            response = protocol.reject(503, "the server is shutting down\n")
        elif server.process_request is not None:
            try:
                response = server.process_request(self, request)
                if inspect.isawaitable(response):
                    response = await response
            except Exception:
                self.logger.error("process_request failed", exc_info=True)
                response = protocol.reject(500, "Internal Server Error\n")
        if self._lost:
            return False
        if response is None:
            response = protocol.accept(request)
            if protocol.handshake_exc is not None:
                error = protocol.handshake_exc
                if response.status >= 500:
                    self.logger.error("accepting the opening handshake failed", exc_info=error)
                else:
                    self.logger.info("opening handshake from %s refused: %s", self.remote_address, error)
        protocol.send_response(response)
        self._resume_reading(_PAUSE_HANDSHAKE)
        opened = protocol.state is State.OPEN
        if opened:
            if self._open_timer is not None:
                self._open_timer.cancel()
                self._open_timer = None
            self.logger.debug("connection open from %s: %s", self.remote_address, request.path)
            # frames the client sent early were parsed when the 101 went out (a listener whose
            # on_open failed gets none: the connection is closing with 1011)
            if server.listener is None or self._open_listener(server.listener()):
                self._dispatch(protocol.events())
        self._after_io()
        return opened

    # -- the handler

    async def _run(self, request: Request) -> None:
        server = self.server
        try:
            if not await self._answer(request):
                return
            del request  # the protocol keeps it compactly (a handler that runs for hours holds this frame)
            if server.listener is not None:
                await self.wait_closed()  # the listener's callbacks run in the read path
                return
            try:
                await cast(Callable[["ServerConnection"], Awaitable[Any]], server.handler)(self)
            except ConnectionClosed:
                self.logger.debug("handler exited: the connection closed")
            except asyncio.CancelledError:
                self.start_close(CloseCode.GOING_AWAY, "")
                raise
            except Exception:
                self.logger.error("connection handler failed", exc_info=True)
                self.start_close(CloseCode.INTERNAL_ERROR, "")
            await self.close()
        except asyncio.CancelledError:
            if self.transport is not None and not self._lost:
                self.transport.abort()
            raise
        except Exception:
            self.logger.error("connection failed", exc_info=True)
            if self.transport is not None and not self._lost:
                self.transport.abort()
        finally:
            server._unregister(self)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        super().connection_lost(exc)
        if self._task is None:
            self.server._unregister(self)


class Server:
    """A listening WebSocket server (returned by ``await serve(...)`` or ``async with serve(...)``).

    ``sockets`` are the listening sockets; ``connections`` the open ones.
    ``close()`` shuts down gracefully (1001 to every connection), ``wait_closed()``
    waits for that to finish, ``serve_forever()`` runs until closed.
    ``tls_handshake_failures`` counts the TLS handshakes that failed (1015).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        max_message_size: Optional[int] = _defaults.MAX_MESSAGE_SIZE,
        max_queue: Optional[int] = _defaults.MAX_QUEUE,
        write_limit: WriteLimit = _defaults.WRITE_LIMIT,
        ping_interval: Optional[float] = _defaults.PING_INTERVAL,
        ping_timeout: Optional[float] = _defaults.PING_TIMEOUT,
        open_timeout: Optional[float] = _defaults.OPEN_TIMEOUT,
        close_timeout: Optional[float] = _defaults.CLOSE_TIMEOUT,
        origins: OriginPolicy = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Optional[Callable[[List[str]], Optional[str]]] = None,
        extra_headers: ExtraHeaders = None,
        process_request: Optional[ProcessRequest] = None,
        max_header_size: int = MAX_HEADER_SIZE,
        compression: Compression = "deflate",
        logger: Union[None, str, logging.Logger] = None,
        implementation: Implementation = None,
        ssl: Optional[ssl_module.SSLContext] = None,
        tcp_keepalive: Any = False,
        tcp_user_timeout: Optional[float] = None,
    ) -> None:
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl= takes an ssl.SSLContext on the server, not {type(ssl).__name__}")
        self.handler = handler
        # a Listener subclass instead of a coroutine function: callbacks (see listener.py)
        self.listener: Optional[Type[Listener]] = (
            handler if isinstance(handler, type) and issubclass(handler, Listener) else None)
        self.max_message_size = max_message_size
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.process_request = process_request
        self.implementation = implementation
        self.ssl = ssl
        timing = keepalive_timing(tcp_keepalive)  # bad values fail here, not on the first connection
        self.tcp_keepalive: Any = False if timing is None else timing
        validate_user_timeout(tcp_user_timeout)
        self.tcp_user_timeout = tcp_user_timeout
        self._tls: Optional[TLSListener] = None
        if logger is None:
            logger = logging.getLogger("wsfast.asyncio.server")
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.handshake = ServerHandshake(origins=origins, subprotocols=subprotocols,
                                         select_subprotocol=select_subprotocol, extra_headers=extra_headers,
                                         extensions=server_extensions(compression),
                                         max_header_size=max_header_size)
        # every connection of this server runs on one loop, and the parser copies what it keeps:
        # one read buffer serves them all
        self._read_buffer = memoryview(bytearray(READ_BUFFER_SIZE))
        self.connections: Set[ServerConnection] = set()
        self._server: Optional[asyncio.Server] = None
        self._closing = False
        self._closed_future: Optional[asyncio.Future[None]] = None
        self._close_task: Optional[asyncio.Task[None]] = None

    def _make_connection(self) -> ServerConnection:
        protocol = ServerProtocol(
            handshake=self.handshake, max_message_size=self.max_message_size,
            ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout, hold_failure=True, clock=asyncio.get_running_loop().time,
            impl=self.implementation,
        )
        return ServerConnection(self, protocol)

    def _register(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        if self._closing:
            conn.transport.abort()  # type: ignore[union-attr]

    def _unregister(self, conn: ServerConnection) -> None:
        self.connections.discard(conn)

    async def _start(self, host: Any, port: Any, sock: Optional[socket.socket], **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self._closed_future = loop.create_future()
        factory: Callable[[], asyncio.BaseProtocol] = self._make_connection
        if self.ssl is not None:
            # the server runs the TLS handshake itself: create_server(ssl=) would hide the failures
            self._tls = TLSListener(self.ssl, self._make_connection, self.logger,
                                    kwargs.pop("ssl_handshake_timeout", self.open_timeout),
                                    kwargs.pop("ssl_shutdown_timeout", None))
            factory = self._tls.protocol_factory
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, **kwargs)
        else:
            self._server = await loop.create_server(factory, host, port, **kwargs)

    @property
    def tls_handshake_failures(self) -> int:
        """How many TLS handshakes failed since the server started (each logged once, 1015)."""
        return self._tls.failures if self._tls is not None else 0

    @property
    def sockets(self) -> List[socket.socket]:
        return list(self._server.sockets) if self._server is not None else []

    def is_serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    def close(self, close_connections: bool = True) -> None:
        """Stop listening, then close every connection with 1001 (in the background; await
        :meth:`wait_closed` to know when it is done)."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        self._close_task = asyncio.get_running_loop().create_task(self._shutdown(close_connections))

    async def _shutdown(self, close_connections: bool) -> None:
        if self._tls is not None:
            await self._tls.cancel_handshakes()
        conns = list(self.connections)
        for conn in conns:
            if conn.protocol.state is State.CONNECTING:
                if conn.transport is not None and not conn._lost and conn._task is None:
                    conn.transport.abort()
            elif close_connections:
                conn.start_close(CloseCode.GOING_AWAY, "server shutdown")
        pending = [c._closed for c in conns if c._closed is not None]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.close_timeout)
            if late:
                self.logger.info("%d connections did not close in time: dropping them", len(late))
                for conn in conns:
                    if not conn._lost and conn.transport is not None:
                        conn.transport.abort()
        tasks = [c._task for c in conns if c._task is not None and not c._task.done()]
        if tasks:
            _, late_tasks = await asyncio.wait(tasks, timeout=self.close_timeout)
            for task in late_tasks:
                task.cancel()
            if late_tasks:
                await asyncio.wait(late_tasks, timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
        if self._closed_future is not None and not self._closed_future.done():
            self._closed_future.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection is done."""
        assert self._closed_future is not None
        await asyncio.shield(self._closed_future)

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (or the task is cancelled, which closes the server)."""
        try:
            await self.wait_closed()
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


class serve:  # noqa: N801 - used as a function, like websockets' serve
    """``await serve(handler, host, port, **options)`` -> :class:`Server`, or
    ``async with serve(...) as server:`` (closed gracefully on exit).

    ``handler`` is a coroutine function, run once per connection with the
    :class:`ServerConnection`, or a :class:`~wsfast.asyncio.Listener`
    subclass: one instance per connection, whose ``on_message`` is called
    inside the read callback (no task wake-up per message; see
    :mod:`wsfast.asyncio.listener`).

    Options (defaults as in websockets): ``max_message_size`` (1 MiB; None: no
    limit; bigger → 1009), ``max_queue`` (messages buffered before reading
    pauses; 16), ``write_limit`` (the transport's write-buffer high-water mark,
    or a ``(high, low)`` pair; 32 KiB: ``send()`` waits above it),
    ``ping_interval`` / ``ping_timeout`` (keepalive, 20 s / 20 s; None
    disables), ``open_timeout`` (seconds to complete the opening handshake,
    10), ``close_timeout`` (10), ``origins``, ``subprotocols``,
    ``select_subprotocol``, ``extra_headers``, ``process_request(ws, request)``
    (sync or async; return a Response — e.g. ``ws.respond(200, "OK")`` — to
    answer with plain HTTP instead of upgrading), ``max_header_size``,
    ``compression`` (``"deflate"``: answer permessage-deflate offers, the
    default; ``None``: never; or a
    :class:`~wsfast.extensions.permessage_deflate.DeflateOptions`),
    ``logger``, ``implementation`` ("c" / "python": force a hot path).

    Deployment options:

    - ``ssl``: an :class:`ssl.SSLContext` to serve ``wss://``. The server runs
      each TLS handshake itself (within ``open_timeout``, or
      ``ssl_handshake_timeout``): one that fails is logged once with the
      peer's address and 1015, counted in ``server.tls_handshake_failures``,
      and the server serves on.
    - ``tcp_keepalive``: False (default), True (SO_KEEPALIVE with the
      system's timing) or ``(idle_s, interval_s, count)``; ``tcp_user_timeout``:
      seconds sent data may stay unacknowledged (Linux). Applied to every
      connection; ping/pong stays the primary liveness check (see
      :mod:`wsfast.sockopts` for when to use which).
    - ``reuse_port=True``: SO_REUSEPORT, so that several processes can listen
      on the same port (Linux spreads the connections across them; see
      :mod:`wsfast.asyncio.workers`).

    Anything else (``backlog``, ``sock``, ``family``...) goes to ``loop.create_server``.
    """

    def __init__(self, handler: Handler, host: Any = None, port: Any = None, **options: Any) -> None:
        server_keys = set(inspect.signature(Server.__init__).parameters) - {"self", "handler"}
        server_options = {k: options.pop(k) for k in list(options) if k in server_keys}
        self._sock = options.pop("sock", None)
        self._host = host
        self._port = port
        self._loop_options = options
        self.server = Server(handler, **server_options)

    async def _create(self) -> Server:
        await self.server._start(self._host, self._port, self._sock, **self._loop_options)
        return self.server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self._create()

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        await self.server.wait_closed()
