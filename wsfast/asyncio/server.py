"""``serve()``: a WebSocket server on asyncio, shaped like websockets' ``serve``.

::

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

One task per connection runs the opening handshake's application hooks
(``process_request``) and then the handler; messages never create tasks.
``server.close()`` stops accepting, sends 1001 to every open connection, waits
up to ``close_timeout`` for the closing handshakes, then drops what is left.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from typing import Any, Awaitable, Callable, Generator, List, Optional, Sequence, Set, Union

from ..connection import ConnectionClosed, HandshakeFailed
from ..connection import ServerConnection as SansIOServer
from ..enums import CloseCode
from ..handshake import Headers, HeadersLike, InvalidRequest, Request, Response, ServerHandshake
from .connection import READ_BUFFER_SIZE, Connection

__all__ = ["serve", "Server", "ServerConnection"]

Handler = Callable[["ServerConnection"], Awaitable[Any]]
ProcessRequest = Callable[["ServerConnection", Request], Any]


class ServerConnection(Connection):
    """The server side of one connection (what the handler receives).

    Until the request head is complete, received bytes are kept and parsed
    here so that ``process_request`` sees every request, even one that is not
    a WebSocket upgrade (a health check); then they are handed to the sans-I/O
    connection, which validates the upgrade and answers 101 or an HTTP error.
    """

    def __init__(self, server: Server, sansio: SansIOServer) -> None:
        super().__init__(sansio, max_queue=server.max_queue, close_timeout=server.close_timeout,
                         logger=server.logger, read_buffer=server._read_buffer)
        self.server = server
        self._task: Optional[asyncio.Task] = None
        self._open_timer: Optional[asyncio.TimerHandle] = None
        self._opened = False
        self._http_response: Optional[Response] = None
        self._request: Optional[Request] = None
        self._head: Optional[bytearray] = bytearray()
        self._head_parser: Any = server.handshake.parser()
        self._receive = self._receive_head  # until the request is handed to the sans-I/O layer

    @property
    def request(self) -> Any:
        """The opening handshake's request (``.path``, ``.headers``)."""
        return self._sansio.request or self._request

    @property
    def response(self) -> Any:
        """The 101 response, the HTTP error, or the answer given by ``process_request``."""
        return self._http_response if self._http_response is not None else self._sansio.response

    def respond(self, status: int, text: str = "", headers: Optional[HeadersLike] = None) -> Response:
        """A plain HTTP response to return from ``process_request`` (health checks, redirects,
        rejections): ``text`` is the body (text/plain, UTF-8)."""
        body = text.encode("utf-8")
        hdrs = Headers(headers)
        if "Content-Type" not in hdrs:
            hdrs.add("Content-Type", "text/plain; charset=utf-8")
        hdrs.add("Content-Length", str(len(body)))
        hdrs.add("Connection", "close")
        return Response(status, None, hdrs, body)

    # -- the opening handshake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server._register(self)
        timeout = self.server.open_timeout
        if timeout is not None:
            self._open_timer = self._loop.call_later(timeout, self._open_timed_out)

    def _receive_head(self, data: Any) -> List[Any]:
        """Collect the request head; decide who answers it once it is complete."""
        head = self._head
        assert head is not None
        head += data
        parser = self._head_parser
        if parser is None:
            return []  # process_request is running: keep what arrives
        try:
            request = parser.feed(data)
        except InvalidRequest:
            return self._to_sansio()  # it answers with the right HTTP error
        if request is None:
            return []
        self._head_parser = None
        self._request = request
        if self.server._closing:
            self._send_response(self.respond(503, "the server is shutting down\n"))
            return []
        if self.server.process_request is None:
            return self._to_sansio()
        self._task = self._loop.create_task(self._run(request))
        return []

    def _to_sansio(self) -> List[Any]:
        """Hand everything received so far to the sans-I/O connection (which validates and
        answers the request, then parses the frames that followed it)."""
        data = bytes(self._head or b"")
        self._head = self._head_parser = None
        self._receive = self._sansio.receive
        try:
            return self._sansio.receive(data)
        except Exception:  # a user hook (select_subprotocol, extra_headers) failed
            self.logger.error("accepting the opening handshake failed", exc_info=True)
            self._send_response(self.respond(500, "Internal Server Error\n"))
            return []

    def _on_handshake_event(self, event: Any) -> None:
        if isinstance(event, Request):  # valid and accepted: the 101 is queued
            self._opened = True
            if self._open_timer is not None:
                self._open_timer.cancel()
                self._open_timer = None
            self.logger.debug("connection open from %s: %s", self.remote_address, event.path)
            if self._task is None:
                self._task = self._loop.create_task(self._run(None))
        elif isinstance(event, HandshakeFailed):
            self.logger.info("opening handshake from %s failed: %s", self.remote_address, event.error)

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if not self._opened and not self._lost and self.transport is not None:
            self.logger.info("opening handshake from %s timed out: dropping the connection",
                             self.remote_address)
            self.transport.abort()

    async def _process_request(self, request: Request) -> bool:
        """Run process_request; True to go on with the WebSocket handshake."""
        try:
            response = self.server.process_request(self, request)  # type: ignore[misc]
            if inspect.isawaitable(response):
                response = await response
        except Exception:
            self.logger.error("process_request failed", exc_info=True)
            response = self.respond(500, "Internal Server Error\n")
        if self._lost:
            return False
        if response is not None:
            self._send_response(response)
            return False
        self._dispatch(self._to_sansio())
        self._after_io()
        return self._opened

    def _dispatch(self, events: List[Any]) -> None:
        text_cls, binary_cls = self._text_cls, self._binary_cls
        for event in events:
            if type(event) is text_cls or type(event) is binary_cls:
                self._messages.append(event.data)
            else:
                self._on_event(event)

    def _send_response(self, response: Response) -> None:
        """Answer with a plain HTTP response and close (the connection never opens)."""
        self._http_response = response
        self._head = self._head_parser = None
        self._receive = self._ignore
        assert self.transport is not None
        self.transport.write(response.serialize())
        self.transport.close()
        self._arm_abort()

    @staticmethod
    def _ignore(data: Any) -> List[Any]:
        return []

    # -- the handler

    async def _run(self, request: Optional[Request]) -> None:
        server = self.server
        try:
            if request is not None and not await self._process_request(request):
                return
            try:
                await server.handler(self)
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
    """

    def __init__(
        self,
        handler: Handler,
        *,
        max_message_size: Optional[int] = 2**20,
        max_queue: Optional[int] = 16,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        open_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = 10.0,
        origins: Any = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Any = None,
        extra_headers: Any = None,
        process_request: Optional[ProcessRequest] = None,
        max_header_size: Optional[int] = None,
        logger: Union[None, str, logging.Logger] = None,
        implementation: Any = None,
    ) -> None:
        self.handler = handler
        self.max_message_size = max_message_size
        self.max_queue = max_queue
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.process_request = process_request
        self.implementation = implementation
        if logger is None:
            logger = logging.getLogger("wsfast.asyncio.server")
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        handshake_options: dict = {}
        if max_header_size is not None:
            handshake_options["max_header_size"] = max_header_size
        self.handshake = ServerHandshake(origins=origins, subprotocols=subprotocols,
                                         select_subprotocol=select_subprotocol, extra_headers=extra_headers,
                                         **handshake_options)
        # every connection of this server runs on one loop, and the parser copies what it keeps:
        # one read buffer serves them all
        self._read_buffer = bytearray(READ_BUFFER_SIZE)
        self.connections: Set[ServerConnection] = set()
        self._server: Optional[asyncio.Server] = None
        self._closing = False
        self._closed_future: Optional[asyncio.Future] = None
        self._close_task: Optional[asyncio.Task] = None

    def _make_connection(self) -> ServerConnection:
        sansio = SansIOServer(
            handshake=self.handshake, auto_accept=True, max_message_size=self.max_message_size,
            ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout, clock=asyncio.get_running_loop().time,
            impl=self.implementation,
        )
        return ServerConnection(self, sansio)

    def _register(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        if self._closing:
            conn.transport.abort()  # type: ignore[union-attr]

    def _unregister(self, conn: ServerConnection) -> None:
        self.connections.discard(conn)

    async def _start(self, host: Any, port: Any, sock: Optional[socket.socket], **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self._closed_future = loop.create_future()
        if sock is not None:
            self._server = await loop.create_server(self._make_connection, sock=sock, **kwargs)
        else:
            self._server = await loop.create_server(self._make_connection, host, port, **kwargs)

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
        conns = list(self.connections)
        for conn in conns:
            if not conn._opened:
                if conn.transport is not None and not conn._lost:
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

    Options: ``max_message_size`` (default 1 MiB; None: no limit; bigger → 1009),
    ``max_queue`` (messages buffered before reading pauses; default 16),
    ``ping_interval`` / ``ping_timeout`` (keepalive, default 20 s / 20 s; None
    disables), ``open_timeout`` (seconds to complete the opening handshake,
    default 10), ``close_timeout`` (default 10), ``origins``, ``subprotocols``,
    ``select_subprotocol``, ``extra_headers``, ``process_request(ws, request)``
    (sync or async; return a Response — e.g. ``ws.respond(200, "OK")`` — to
    answer with plain HTTP instead of upgrading), ``max_header_size``,
    ``logger``, ``implementation`` ("c" / "python": force a hot path).
    Anything else (``ssl``, ``reuse_port``, ``backlog``, ``sock``...) goes to
    ``loop.create_server``.
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
