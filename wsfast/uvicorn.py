"""wsfast as uvicorn's WebSocket protocol: ``uvicorn app:app --ws wsfast.uvicorn:WSFastProtocol``.

uvicorn takes its WebSocket protocol class by import string (``--ws``,
``Config(ws=...)``). Its HTTP protocol parses a request, sees an upgrade,
creates this class (``config``, ``server_state``, ``app_state``), calls
``connection_made(transport)``, ``transport.set_protocol(...)`` and hands the
request head over through ``data_received``. From there the sans-I/O
:class:`~wsfast.protocol.ServerProtocol` parses and answers, and the asyncio
layer of :class:`wsfast.asyncio.Connection` does the I/O (read buffer, write
flushing and limits, keepalive timer, the lingering close); this module maps
ASGI's WebSocket messages (spec 2.4, with the ``websocket.http.response``
denial extension) onto them.

What the ASGI application sees, as with uvicorn's own classes:

- ``websocket.connect`` first; then ``websocket.receive`` (``text`` or
  ``bytes``) per message; then one ``websocket.disconnect``: the peer's close
  code and reason, the app's own close code and reason, 1012 on server
  shutdown, a protocol failure's code (1002/1007/1009, 1011 for a keepalive
  timeout) and reason, 1005 when the TCP connection ended without a close
  frame after the handshake, 1006 before it (or after a denial response).
- ``websocket.close`` before ``websocket.accept`` answers 403; the denial
  extension answers any status with the app's headers and body; an exception
  before an answer answers 500; an exception after ``websocket.accept``
  closes with 1011; an app that returns without closing has its TCP connection
  closed (no close frame: the client sees 1006), as uvicorn does.
- Sending after the client left raises uvicorn's ``ClientDisconnected`` (an
  ``OSError``); sending after ``websocket.close`` is a ``RuntimeError``.

uvicorn's settings: ``ws_per_message_deflate`` (permessage-deflate, RFC 7692, with
wsfast's defaults: 12-bit windows both ways, memLevel 5, as uvicorn's own classes
ask), ``ws_max_size`` (bigger messages, after decompression: 1009), ``ws_max_queue``
(received messages waiting for the app; reading pauses at that many, and
resumes when a quarter are left), ``ws_ping_interval`` / ``ws_ping_timeout``
(keepalive; a missing pong: 1011; 0 or None disables), ``root_path``,
``server_header`` / ``date_header`` / ``headers`` (the default headers of the
101), and ``Server.shutdown()``: 1012 to every open connection.

Per message, the parse, the UTF-8 check, the unmasking and the framing run
on the compiled hot path; ``receive()`` returns without suspending while
messages are queued, ``send()`` queues the frame and one write per event-loop
turn sends everything queued: the ASGI message dicts are the only Python
objects made per message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote

from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)

from . import _defaults
from .asyncio.connection import _PAUSE_HANDSHAKE, _YIELD_BYTES, _YIELD_SENDS, Connection
from .enums import CloseCode, FailureCause
from .exceptions import ConnectionClosed
from .handshake import offered_subprotocols
from .headers import Headers
from .http11 import Request, Response
from .protocol import ServerProtocol, State

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = ["WSFastProtocol"]

Message = Dict[str, Any]

TRACE_LOG_LEVEL = 5  # uvicorn's "trace" level

_OPEN = State.OPEN
_CLOSING = State.CLOSING

# where the ASGI conversation stands (WSFastProtocol._stage)
_WAITING = 0  # the request is reported; the app has not answered it yet
_DENYING = 1  # the app started a denial response (websocket.http.response.start)
_ACCEPTED = 2  # websocket.accept went out
_CLOSED_BY_APP = 3  # websocket.close went out (after accept), or the app was answered with a 403/denial/500

_EXPECTED_ANSWER = ("Expected ASGI message 'websocket.accept', 'websocket.close' "
                    "or 'websocket.http.response.start' but got '{}'.")
_EXPECTED_MESSAGE = "Expected ASGI message 'websocket.send' or 'websocket.close', but got '{}'."
_EXPECTED_BODY = "Expected ASGI message 'websocket.http.response.body' but got '{}'."
_AFTER_CLOSE = "Unexpected ASGI message '{}', after sending 'websocket.close'."

# What the app sent in one event-loop turn goes out in one write at the end of the turn, or as soon
# as this much is queued; a socket read brings up to _READ_BYTES. Fewer, larger system calls: the
# kernel's share of a large message's cost (copies, TCP) is most of it.
_FLUSH_BYTES = 1024 * 1024
_READ_BYTES = 1024 * 1024

_FULL_TRANSPORT = ("abort", "can_write_eof", "write_eof", "writelines", "get_write_buffer_size",
                   "set_write_buffer_limits")


class _ReadBuffers(threading.local):
    """One read buffer per thread: an event loop runs in one thread, and the frame parser copies
    what it keeps before ``data_received`` returns, so every connection of a loop can share it."""

    def __init__(self) -> None:
        self.buffer = memoryview(bytearray(_READ_BYTES))  # one view for all (a view costs ~300 B)


_read_buffers = _ReadBuffers()


class _BasicTransport:
    """A transport that offers only write/close/pause/resume (uvicorn's test doubles do), given the
    rest of asyncio's transport surface: no half-close, abort is close, no write-buffer accounting."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading
        self.get_extra_info = transport.get_extra_info

    def writelines(self, pieces: List[bytes]) -> None:
        self._transport.write(b"".join(pieces))

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()

    abort = close

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        pass


def _seconds(value: Optional[float]) -> Optional[float]:
    """uvicorn's keepalive settings: 0 (or less) disables, as None does."""
    return value if value is not None and value > 0 else None


def _latin1_pairs(headers: Any) -> List[Tuple[str, str]]:
    """ASGI headers (byte-string pairs) as str pairs for :class:`~wsfast.headers.Headers`."""
    return [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers]


class WSFastProtocol(Connection):
    """uvicorn's WebSocket protocol on wsfast (see the module docstring).

    ``hot_path`` (class attribute): None for the active hot path, or ``"c"`` /
    ``"python"`` to force one (a subclass may set it); ``implementation`` says
    which one a connection runs on.
    """

    protocol: ServerProtocol
    hot_path: Optional[str] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: Dict[str, Any],
        _loop: Optional[asyncio.AbstractEventLoop] = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = loop = _loop or asyncio.get_running_loop()
        self.root_path: str = config.root_path
        self.app_state = app_state
        self.connections: Any = server_state.connections
        self.tasks: Any = server_state.tasks
        self.default_headers: List[Tuple[bytes, bytes]] = server_state.default_headers
        max_queue = config.ws_max_queue if config.ws_max_queue and config.ws_max_queue > 0 else None
        protocol = ServerProtocol(
            compression="deflate" if config.ws_per_message_deflate else None,
            max_message_size=config.ws_max_size,
            ping_interval=_seconds(config.ws_ping_interval),
            ping_timeout=_seconds(config.ws_ping_timeout),
            close_timeout=_defaults.CLOSE_TIMEOUT,
            hold_failure=True,
            clock=loop.time,
            impl=self.hot_path,
        )
        super().__init__(protocol, max_queue=max_queue, logger=logging.getLogger("uvicorn.error"),
                         read_buffer=_read_buffers.buffer)
        self._loop = loop
        self.scope: Message = {}
        self.server: Optional[Tuple[str, Optional[int]]] = None
        self.client: Optional[Tuple[str, int]] = None
        self.scheme = "ws"
        self._stage = _WAITING
        self._disconnect: Optional[Message] = None  # fixed by the first thing that ends the conversation
        self._denial: Optional[Tuple[int, Headers, bytearray]] = None  # a denial response being built
        self._task: Optional[asyncio.Task[None]] = None

    # ------------------------------------------------------------------ what uvicorn's tests reach for

    @property
    def close_timeout(self) -> Optional[float]:
        """How long to wait for the peer's close frame after ours (then the connection is dropped)."""
        return self.protocol.close_timeout

    @close_timeout.setter
    def close_timeout(self, value: Optional[float]) -> None:
        self.protocol.close_timeout = value

    @property
    def close_timer(self) -> Optional[asyncio.TimerHandle]:
        """The timer that gives up on the peer's close frame, while we wait for it (None otherwise)."""
        protocol = self.protocol
        if (protocol.state is not _CLOSING or protocol.close_sent is None or self._lost
                or self.transport is None or self.transport.is_closing()):
            return None
        return self._timer

    # ------------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not all(hasattr(transport, name) for name in _FULL_TRANSPORT):
            transport = _BasicTransport(transport)  # type: ignore[assignment]
        super().connection_made(transport)
        self._loop = self.loop
        self.connections.add(self)
        self.server = get_local_addr(transport)  # type: ignore[arg-type]
        self.client = get_remote_addr(transport)  # type: ignore[arg-type]
        self.scheme = "wss" if is_ssl(transport) else "ws"  # type: ignore[arg-type]
        self._trace("WebSocket connection made")

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        super().connection_lost(exc)
        self.connections.discard(self)
        self._trace("WebSocket connection lost")

    def shutdown(self) -> None:
        """The server is shutting down: 1012 to an open connection (the app gets a disconnect with
        1012); a connection still closing, or answering its handshake, is closed now."""
        if self._lost or self.transport is None:
            return
        if self.protocol.state is _OPEN and self._stage == _ACCEPTED:
            self._end({"type": "websocket.disconnect", "code": 1012})
            self.start_close(CloseCode.SERVICE_RESTART, "")
            return
        if self._stage == _WAITING and self.protocol.request_pending:
            self._end({"type": "websocket.disconnect", "code": 1006})
            self._respond(self.protocol.reject(500, "Internal Server Error"))
            return
        self._end(self._disconnect_event())
        self.transport.close()

    def _on_handshake_event(self, event: Any) -> None:
        if not isinstance(event, Request):
            return  # HandshakeFailed: its 400/431 is queued, and the transport closes after it
        protocol = self.protocol
        response = protocol.accept(event)  # the policy's verdict; the 101 itself waits for the app
        if response.status != 101:
            self.logger.info('%s - "WebSocket %s" %d', self._peer(), event.path, response.status)
            protocol.send_response(response)
            return
        self._pause_reading(_PAUSE_HANDSHAKE)  # nothing is read until the app answers
        headers = [(name.lower().encode("ascii"), value.encode("latin-1")) for name, value in event.headers]
        raw_path, _, query = event.path.partition("?")
        root = self.root_path
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": root,
            "path": root + unquote(raw_path),
            "raw_path": root.encode("ascii") + raw_path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": headers,
            "subprotocols": offered_subprotocols(event),
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self._queue().append({"type": "websocket.connect"})
        task = self._task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self._task_done)
        self.tasks.add(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)

    # ------------------------------------------------------------------ the ASGI application

    async def run_asgi(self) -> None:
        """Run the app on this connection, and end the conversation the way its outcome asks."""
        try:
            result = await self.app(self.scope, self.asgi_receive, self.asgi_send)
        except ClientDisconnected:
            failed = False
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            failed = True
        else:
            failed = False
            if self._stage == _WAITING:
                self.logger.error("ASGI callable returned without completing handshake.")
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self._lost:
            return
        stage = self._stage
        if stage == _WAITING:
            self._internal_error()
        elif stage == _DENYING:
            self._finish_denial(failed)
        elif stage == _ACCEPTED:
            protocol = self.protocol
            if protocol.failure_held:  # the app is gone: nothing more will answer what came before
                protocol.release_failure()
                self._after_io()
            elif protocol.state is _OPEN:
                if failed:
                    self._end({"type": "websocket.disconnect", "code": 1011})
                    self.start_close(CloseCode.INTERNAL_ERROR, "")
                else:
                    # returned without websocket.close: the TCP connection is closed, without a close
                    # frame (the client sees 1006), after what the app sent
                    protocol.receive_eof()
                    protocol.events()
                    self._end(self._disconnect_event())
                    self._after_io()
            # else: a closing handshake is under way (shutdown, the peer's close) and ends by itself

    async def asgi_receive(self) -> Message:
        """ASGI ``receive``: the next event; never suspends while messages are queued."""
        messages = self._messages
        if messages:
            data = messages.popleft()
            if self._read_paused and len(messages) <= self._low_water:
                self._queue_drained()
            kind = type(data)
            if kind is str:
                return {"type": "websocket.receive", "text": data}
            if kind is bytes:
                return {"type": "websocket.receive", "bytes": data}
            return data  # type: ignore[no-any-return]  # websocket.connect
        try:
            data = await self._recv_wait()
        except ConnectionClosed:
            return dict(self._disconnect_event())
        if type(data) is str:
            return {"type": "websocket.receive", "text": data}
        if type(data) is bytes:
            return {"type": "websocket.receive", "bytes": data}
        return data  # type: ignore[return-value]

    async def asgi_send(self, message: Mapping[str, Any]) -> None:
        """ASGI ``send``. Waits while the transport's write buffer is over its high-water mark."""
        if self._writing_paused:
            await self._drain_for_app()
        if self._lost:
            raise ClientDisconnected()
        kind = message["type"]
        if self._stage == _ACCEPTED:
            if kind == "websocket.send":
                self._send_data(message)
                if self._writing_paused:
                    await self._drain_for_app()
                elif self._turn_bytes >= _YIELD_BYTES or self._turn_sends >= _YIELD_SENDS:
                    self._turn_bytes = self._turn_sends = 0
                    await asyncio.sleep(0)  # let the other connections have a turn
            elif kind == "websocket.close":
                self._app_close(message)
            else:
                raise RuntimeError(_EXPECTED_MESSAGE.format(kind))
        elif self._stage == _WAITING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self.logger.info('%s - "WebSocket %s" 403', self._peer(), self._path())
                self._end({"type": "websocket.disconnect", "code": 1006})
                self._respond(self.protocol.reject(403, ""))
            elif kind == "websocket.http.response.start":
                self._start_denial(message)
            else:
                raise RuntimeError(_EXPECTED_ANSWER.format(kind))
        elif self._stage == _DENYING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(_EXPECTED_BODY.format(kind))
            assert self._denial is not None
            self._denial[2].extend(message.get("body", b""))
            if not message.get("more_body", False):
                self._finish_denial(False)
        else:
            raise RuntimeError(_AFTER_CLOSE.format(kind))

    # ------------------------------------------------------------------ sending

    async def _drain_for_app(self) -> None:
        """Wait for the write buffer to drain; a connection that ends meanwhile is uvicorn's
        ClientDisconnected (an OSError), which is what ASGI apps catch, not wsfast's ConnectionClosed."""
        try:
            await self._drain()
        except ConnectionClosed:
            raise ClientDisconnected() from None

    def _send_data(self, message: Mapping[str, Any]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClientDisconnected()
        protocol = self.protocol
        data = message.get("bytes")
        try:
            if data is not None:
                protocol.send_binary(data)
            else:
                data = message.get("text")
                if data is None:
                    return
                protocol.send_text(data)
        except ConnectionClosed:
            raise ClientDisconnected() from None
        size = len(data)
        self._unflushed += size
        self._turn_bytes += size
        self._turn_sends += 1
        if self._unflushed >= _FLUSH_BYTES:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush_next_turn)

    def _app_close(self, message: Mapping[str, Any]) -> None:
        code = message.get("code")
        if code is None:
            code = CloseCode.NORMAL
        reason = message.get("reason") or ""
        if self.protocol.state is not _OPEN and not self.protocol.failure_held:
            raise ClientDisconnected()
        self.start_close(code, reason)  # ValueError for a code that may not be sent, nothing sent
        self._stage = _CLOSED_BY_APP
        self._end({"type": "websocket.disconnect", "code": code, "reason": reason})

    # ------------------------------------------------------------------ answering the handshake

    def _accept(self, message: Mapping[str, Any]) -> None:
        self.logger.info('%s - "WebSocket %s" [accepted]', self._peer(), self._path())
        protocol = self.protocol
        request = protocol.request
        assert request is not None
        extra = _latin1_pairs(list(self.default_headers) + list(message.get("headers") or ()))
        response = protocol.accept(request, subprotocol=message.get("subprotocol"), extra_headers=extra)
        if response.status != 101:  # the app chose a subprotocol not offered, or sent a bad header
            error = protocol.handshake_exc
            self._end({"type": "websocket.disconnect", "code": 1006})
            self._respond(response)
            raise RuntimeError(f"websocket.accept could not be sent: {error}")
        self._stage = _ACCEPTED
        protocol.send_response(response)
        self._resume_reading(_PAUSE_HANDSHAKE)
        self._dispatch(protocol.events())  # frames the client sent with its request
        self._after_io()

    def _respond(self, response: Response) -> None:
        """Answer the request with a plain HTTP response; the connection then closes."""
        self._stage = _CLOSED_BY_APP
        self._denial = None
        if self.protocol.request_pending:
            self.protocol.send_response(response)
        self._after_io()

    def _internal_error(self) -> None:
        self._end({"type": "websocket.disconnect", "code": 1006})
        self._respond(self.protocol.reject(500, "Internal Server Error"))

    def _start_denial(self, message: Mapping[str, Any]) -> None:
        status = message["status"]
        if not isinstance(status, int) or not 200 <= status < 600:
            raise RuntimeError(f"Invalid HTTP status code '{status}' in response.")
        self.logger.info('%s - "WebSocket %s" %d', self._peer(), self._path(), status)
        headers = Headers(_latin1_pairs(message.get("headers") or ()))  # ValueError for a bad header
        self._denial = (status, headers, bytearray())
        self._stage = _DENYING

    def _finish_denial(self, failed: bool) -> None:
        """Send the denial response the app built (or, if it failed before giving a length, a 500)."""
        denial = self._denial
        assert denial is not None
        status, headers, body = denial
        self._end({"type": "websocket.disconnect", "code": 1006})
        if failed and "Content-Length" not in headers:
            self._respond(self.protocol.reject(500, "Internal Server Error"))
            return
        for name, value in _latin1_pairs(self.default_headers):
            if name not in headers:
                headers.add(name, value)
        if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
            headers.add("Content-Length", str(len(body)))
        if "Content-Type" not in headers:
            headers.add("Content-Type", "text/plain; charset=utf-8")
        if "Connection" not in headers:
            headers.add("Connection", "close")
        self._respond(Response(status, None, headers, bytes(body)))

    # ------------------------------------------------------------------ the end

    def _end(self, event: Message) -> None:
        """The conversation is over for the app: it gets ``event`` after the messages queued
        before it (unless something else ended it first)."""
        if self._disconnect is None:
            self._disconnect = event
        self._ended = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _disconnect_event(self) -> Message:
        event = self._disconnect
        if event is None:
            protocol = self.protocol
            close = protocol.close_received
            failure = protocol.failure
            if close is not None:
                event = {"type": "websocket.disconnect", "code": int(close.code), "reason": close.reason}
            elif failure is not None and failure.cause not in (FailureCause.EOF, FailureCause.CLOSE_TIMEOUT):
                event = {"type": "websocket.disconnect", "code": int(failure.code), "reason": failure.reason}
            elif self._stage == _ACCEPTED:
                event = {"type": "websocket.disconnect", "code": 1005}
            else:
                event = {"type": "websocket.disconnect", "code": 1006}
            self._disconnect = event
        return event

    def _close_transport(self) -> None:
        super()._close_transport()
        if self._lingering:
            self._receive = self._input_while_closing

    def _input_while_closing(self, data: Any) -> List[Any]:
        """Input while the TCP connection closes: after a clean closing handshake the peer has
        nothing more to say, so the connection is closed now; after a failure the input is
        dropped until the peer's FIN (closing with unread input would reset our close frame)."""
        transport = self.transport
        if self.protocol.close_received is not None and transport is not None and not transport.is_closing():
            transport.close()
        return []

    # ------------------------------------------------------------------ logging

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else ""

    def _path(self) -> str:
        return get_path_with_query_string(self.scope)  # type: ignore[arg-type]

    def _trace(self, what: str) -> None:
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{self._peer()} - " if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%s%s", prefix, what)

