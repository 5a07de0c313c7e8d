"""The asyncio connection shared by both sides: a BufferedProtocol around the sans-I/O connection.

One object is both the asyncio protocol (the transport calls ``get_buffer`` /
``buffer_updated``) and what the application uses (``recv``, ``send``,
``async for``, ``ping``, ``close``). Why it is shaped this way:

- Read path: the socket reads into a buffer we own (``get_buffer``), which is
  fed straight to :class:`wsfast.connection.Connection` (the frame parser copies
  what it keeps, so one buffer can serve every connection of a server).
  Completed messages go to a deque; ``recv()`` pops from it without suspending
  when something is waiting, so a handler that keeps up never creates a
  future, and nothing creates a task per message.
- Write path: ``send()`` only queues frames in the sans-I/O connection; one
  ``call_soon`` per burst writes them all with ``transport.writelines`` (large
  messages go out as [header, payload], never joined by us). A burst larger than
  ``WRITE_LIMIT`` is written at once, and ``send()`` waits while the transport
  is over its high-water mark, so a fast sender is bounded in memory.
- Backpressure on reading: with ``max_queue`` messages waiting, reading from
  the socket pauses until the application catches up.
- Keepalive, close and open timeouts run on ``loop.time()``: the sans-I/O
  layer says when it next needs attention and one timer handle follows it.
- When the peer breaks the protocol, the messages it sent correctly before the
  violation are still delivered: the close frame that fails the connection is
  held back until the application has received them (or ``close_timeout``
  passes), so an echo of those messages still goes out first.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import time
from typing import Any, AsyncIterator, Deque, Dict, Optional, Tuple, Union

from ..connection import (
    ConnectionClosed,
    ConnectionClosedOK,
    ConnectionFailed,
    InvalidState,
    State,
    closed_error,
)
from ..enums import CloseCode, Opcode

__all__ = ["Connection", "Data"]

Data = Union[str, bytes]

WRITE_LIMIT = 64 * 1024  # queued-but-unwritten bytes that make send() write at once
READ_BUFFER_SIZE = 256 * 1024
_CLOSED = State.CLOSED
_OPEN = State.OPEN


if sys.version_info >= (3, 12):

    def _writelines(transport: Any, pieces: list) -> None:
        """Selector transports send a list with sendmsg (scatter/gather): nothing is joined."""
        transport.writelines(pieces)

else:

    def _writelines(transport: Any, pieces: list) -> None:
        """Before 3.12, writelines() joins everything into one new bytes object: copy large
        payloads at most once (into the transport's buffer, for what the socket did not take) by
        writing them on their own, as memoryviews; small frames are still joined."""
        small: list = []
        for piece in pieces:
            if len(piece) < _OWN_WRITE:
                small.append(piece)
                continue
            if small:
                transport.write(b"".join(small) if len(small) > 1 else small[0])
                small = []
            transport.write(memoryview(piece))
        if small:
            transport.write(b"".join(small) if len(small) > 1 else small[0])


_OWN_WRITE = 16 * 1024


class Connection(asyncio.BufferedProtocol):
    """A WebSocket connection on asyncio (see :class:`ServerConnection` / :class:`ClientConnection`).

    Receiving: ``await recv()`` or ``async for message in ws`` (str for text,
    bytes for binary). Iteration ends quietly when the connection closes with
    1000/1001 and raises :class:`ConnectionClosedError` otherwise; ``recv()``
    raises :class:`ConnectionClosedOK` / :class:`ConnectionClosedError`.
    Sending: ``await send(str | bytes)``. ``await ping()`` returns a future that
    resolves (to the round-trip time) when the pong arrives. ``await close()``
    runs the closing handshake; ``close_code`` / ``close_reason`` say how the
    connection ended (1005 if the peer's close had no code, 1006 if there was
    no close frame).
    """

    def __init__(
        self,
        sansio: Any,
        *,
        max_queue: Optional[int] = 16,
        close_timeout: Optional[float] = 10.0,
        logger: Optional[logging.Logger] = None,
        read_buffer: Optional[bytearray] = None,
    ) -> None:
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be >= 1 or None")
        self._sansio = sansio
        self._receive = sansio.receive
        self._data_to_send = sansio.data_to_send
        impl = sansio._impl  # the namespace the sans-I/O connection runs on
        self._impl = impl
        self._text_cls = impl.TextMessage
        self._binary_cls = impl.BinaryMessage
        self._max_queue = max_queue
        self._low_water = 0 if max_queue is None else max_queue // 4
        self.close_timeout = close_timeout
        self.logger = logger or logging.getLogger("wsfast.asyncio")
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.transport: Optional[asyncio.Transport] = None
        if read_buffer is None:
            read_buffer = bytearray(READ_BUFFER_SIZE)
        self._rbuf = read_buffer
        self._rview = memoryview(read_buffer)
        self._messages: Deque[Data] = collections.deque()
        self._waiter: Optional[asyncio.Future] = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiters: Deque[asyncio.Future] = collections.deque()
        self._flush_handle: Optional[asyncio.Handle] = None
        self._unflushed = 0
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when = 0.0
        self._abort_handle: Optional[asyncio.TimerHandle] = None
        self._lingering = False  # our side is shut down; waiting for the peer's FIN
        self._peer_unresponsive = False
        self._pings: Dict[bytes, Tuple[asyncio.Future, float]] = {}
        self._closed: Optional[asyncio.Future] = None
        self._lost = False
        self._ended = False  # no more messages will come (close received, failure, or EOF)
        # a protocol violation whose close frame waits until the messages before it are received
        self._held: Optional[list] = None
        self._held_handle: Optional[asyncio.TimerHandle] = None
        self.remote_address: Any = None
        self.local_address: Any = None

    # ------------------------------------------------------------------ public properties

    @property
    def state(self) -> State:
        return self._sansio.state

    @property
    def request(self) -> Any:
        """The opening handshake's request (:class:`wsfast.handshake.Request`; ``.path``, ``.headers``)."""
        return self._sansio.request

    @property
    def response(self) -> Any:
        """The opening handshake's response (:class:`wsfast.handshake.Response`)."""
        return self._sansio.response

    @property
    def subprotocol(self) -> Optional[str]:
        return self._sansio.subprotocol

    @property
    def close_code(self) -> Optional[CloseCode]:
        """How the connection ended (None while it is open)."""
        return self._sansio.close_code

    @property
    def close_reason(self) -> str:
        return self._sansio.close_reason

    @property
    def implementation(self) -> str:
        """The hot path this connection runs on: "c" or "python"."""
        return self._sansio.implementation

    @property
    def closed(self) -> bool:
        return self._lost

    # ------------------------------------------------------------------ receiving

    async def recv(self) -> Data:
        """The next message: str for text, bytes for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is
        closed and every message received before that has been returned.
        """
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) <= self._low_water:
                self._resume_reading()
            return message
        return await self._recv_wait()

    async def _recv_wait(self) -> Data:
        messages = self._messages
        while not messages:
            if self._held is not None:
                self._release_failure()
            if self._ended:
                raise self._closed_exc()
            handle = self._flush_handle
            if handle is not None:  # about to wait: what we sent goes out now, not next turn
                handle.cancel()
                self._flush()
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = messages.popleft()
        if self._reading_paused and len(messages) <= self._low_water:
            self._resume_reading()
        return message

    def __aiter__(self) -> AsyncIterator[Data]:
        return self  # type: ignore[return-value]

    async def __anext__(self) -> Data:
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) <= self._low_water:
                self._resume_reading()
            return message
        try:
            return await self._recv_wait()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    def _closed_exc(self) -> ConnectionClosed:
        code = self._sansio.close_code
        if code is None:
            code = CloseCode.ABNORMAL_CLOSURE
        return closed_error(code, self._sansio.close_reason)

    # ------------------------------------------------------------------ sending

    async def send(self, message: Data) -> None:
        """Send one message: str as text, bytes-like as binary.

        Raises ConnectionClosed once the connection is closing or closed, and
        TypeError for anything else than str or a bytes-like object.
        """
        try:
            if type(message) is str:
                self._sansio.send_text(message)
            else:
                self._sansio.send_binary(message)
        except ConnectionClosed:
            if self._held is None:
                raise
            self._send_held(message)
        self._unflushed += len(message)
        if self._unflushed >= WRITE_LIMIT:
            self._flush()
            if self._writing_paused:
                await self._drain()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    async def ping(self, data: Optional[Union[str, bytes]] = None) -> asyncio.Future:
        """Send a ping; returns a future resolved with the round-trip time (seconds) when the
        matching pong arrives (a pong also answers every earlier ping, as RFC 6455 allows)."""
        if data is None:
            payload = self._unique_ping_payload()
        else:
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        self._sansio.ping(payload)
        waiter = self._loop.create_future()
        self._pings[payload] = (waiter, time.monotonic())
        self._flush()
        if self._writing_paused:
            await self._drain()
        return waiter

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        self._sansio.pong(data)
        self._flush()

    def _unique_ping_payload(self) -> bytes:
        import os

        while True:
            payload = os.urandom(4)
            if payload not in self._pings:
                return payload

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start (or join) the closing handshake and wait until the connection is closed,
        at most ``close_timeout`` before the TCP connection is dropped."""
        self.start_close(code, reason)
        await self.wait_closed()

    def start_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Send a close frame without waiting (used by server shutdown); no-op once closing."""
        if self._lost:
            return
        if self._held is not None:
            self._release_failure()
            return
        if self._sansio.state is _OPEN:
            self._sansio.close(code, reason)
            self._after_io()
        self._arm_abort()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        if self._closed is None:
            raise InvalidState("the connection was never made")
        await asyncio.shield(self._closed)

    # ------------------------------------------------------------------ asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        self.remote_address = transport.get_extra_info("peername")
        self.local_address = transport.get_extra_info("sockname")

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        try:
            events = self._receive(self._rview[:nbytes])
        except InvalidState:  # data after EOF: nothing to do
            return
        if not events:  # part of a frame (or of the request head): nothing happened yet
            return
        messages = self._messages
        text_cls = self._text_cls
        binary_cls = self._binary_cls
        other = False
        for event in events:
            kind = type(event)
            if kind is text_cls or kind is binary_cls:
                messages.append(event.data)
            else:
                self._on_event(event)
                other = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._max_queue is not None and len(messages) >= self._max_queue and not self._reading_paused:
            self._pause_reading()
        if other:  # only control frames, failures and handshake results make output or deadlines
            self._after_io()

    def eof_received(self) -> bool:
        # The peer will send nothing more. A server whose closing handshake is done closes at
        # once; otherwise let the transport close too: connection_lost reports what happened.
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._lost = True
        self._sansio.receive_eof()
        for event in self._sansio.events():
            self._on_event(event)
        self._ended = True
        if self._held is not None:
            self._held = None  # too late to send anything
        for handle in (self._timer, self._abort_handle, self._flush_handle, self._held_handle):
            if handle is not None:
                handle.cancel()
        self._timer = self._abort_handle = self._flush_handle = self._held_handle = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        while self._drain_waiters:
            drain = self._drain_waiters.popleft()
            if not drain.done():
                drain.set_result(None)
        error = self._closed_exc()
        for ping_waiter, _ in self._pings.values():
            if not ping_waiter.done():
                ping_waiter.set_exception(error)
                ping_waiter.exception()  # retrieved: nobody may be awaiting it
        self._pings.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.logger.debug("connection closed: %s %s", self._sansio.close_code, self._sansio.close_reason)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ internals

    def _on_event(self, event: Any) -> None:
        """Everything but a data message: control frames, failures, handshake results."""
        opcode = getattr(event, "opcode", None)
        if opcode is not None:
            if opcode == Opcode.PONG:
                self._on_pong(event.data)
            elif opcode == Opcode.CLOSE:
                self._ended = True
            return
        if isinstance(event, ConnectionFailed):
            self._ended = True
            if event.code == CloseCode.INTERNAL_ERROR and event.error is None:
                self._peer_unresponsive = True  # the keepalive ping got no pong
            if event.error is not None and self._messages and not self._lost:
                # the peer broke the protocol after sending messages still waiting to be
                # received: hold our close frame back until the application has them
                out = self._data_to_send()
                if out and out[-1][:1] == b"\x88":  # the close frame that fails the connection
                    if len(out) > 1:  # frames queued before the failure (echoes, pongs) go now
                        _writelines(self.transport, out[:-1])
                    self._held = out[-1:]
                    self._held_handle = self._loop.call_later(self.close_timeout or 10.0,
                                                              self._release_failure)
                elif out:
                    _writelines(self.transport, out)
            if event.code == CloseCode.ABNORMAL_CLOSURE:
                self.logger.debug("connection lost without a close frame")
            else:
                self.logger.info("failing the connection: %d %s", event.code, event.reason)
            return
        self._on_handshake_event(event)

    def _on_handshake_event(self, event: Any) -> None:
        """Request / Response / HandshakeFailed: the subclasses handle them."""

    def _on_pong(self, data: bytes) -> None:
        if data not in self._pings:
            return
        now = time.monotonic()
        for payload in list(self._pings):
            waiter, sent = self._pings.pop(payload)
            if not waiter.done():
                waiter.set_result(now - sent)
            if payload == data:
                break

    def _send_held(self, message: Any) -> None:
        """Send while our failing close frame is held back (it goes out after this message)."""
        if isinstance(message, str):
            opcode, payload = Opcode.TEXT, message.encode("utf-8")
        else:
            opcode, payload = Opcode.BINARY, bytes(message)
        mask = True if self._sansio.is_client else None
        assert self.transport is not None
        self.transport.write(self._impl.encode_frame(opcode, payload, mask=mask))

    def _release_failure(self) -> None:
        """Write the held-back close frame that fails the connection."""
        held, self._held = self._held, None
        if self._held_handle is not None:
            self._held_handle.cancel()
            self._held_handle = None
        if held is None or self._lost:
            return
        assert self.transport is not None
        self.transport.writelines(held)
        self._after_io()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        self._flush_handle = None
        self._unflushed = 0
        if self._held is not None:
            return
        out = self._data_to_send()
        if out and not self._lost:
            if len(out) == 1:
                self.transport.write(out[0])  # type: ignore[union-attr]
            else:
                _writelines(self.transport, out)

    def _after_io(self) -> None:
        """Write what the sans-I/O layer queued, close the transport when it says so, and keep
        the timer on its next deadline."""
        if self._held is None:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush()
            if self._sansio.should_close_transport and not self._lost:
                self._close_transport()
                return
        deadline = self._sansio.next_deadline()
        if deadline is not None and (self._timer is None or deadline < self._timer_when):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._lost:
            return
        sansio = self._sansio
        sansio.tick(self._loop.time())
        for event in sansio.events():
            self._on_event(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._after_io()

    def _close_transport(self) -> None:
        """Close TCP after the pending writes; drop it if that does not happen in time.

        A lingering close: we shut down our side (FIN after our close frame) and
        discard whatever the peer still sends until it closes too, instead of
        closing at once. Closing a socket with unread input makes the kernel send
        a reset, which can destroy our close frame (1009, 1002...) before the peer
        reads it; a peer still sending a too-big message would never learn why.
        """
        transport = self.transport
        assert transport is not None
        if self._lingering or transport.is_closing():
            return
        sansio = self._sansio
        if sansio.state is not _CLOSED and sansio.close_code is None:
            # our close frame went unanswered until the deadline: nothing more is worth sending
            transport.abort()
            return
        self._lingering = True
        self._receive = self._discard
        if self._reading_paused:
            self._resume_reading()
        self._arm_abort()
        if self._peer_unresponsive:  # a keepalive timeout: nobody will send us a FIN
            transport.close()
            return
        try:
            if transport.can_write_eof():
                transport.write_eof()
                return
        except (NotImplementedError, RuntimeError, OSError):
            pass
        transport.close()

    @staticmethod
    def _discard(data: Any) -> list:
        return []

    def _arm_abort(self) -> None:
        if self._abort_handle is None and not self._lost and self.close_timeout is not None:
            self._abort_handle = self._loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        self._abort_handle = None
        if not self._lost and self.transport is not None:
            self.logger.debug("closing handshake timed out: dropping the TCP connection")
            self.transport.abort()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self._lost:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self.transport is not None and not self._lost:
            self.transport.resume_reading()

    async def _drain(self) -> None:
        if self._lost:
            return
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
