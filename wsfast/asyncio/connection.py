"""The asyncio connection shared by both sides: a BufferedProtocol around the sans-I/O protocol.

One object is both the asyncio protocol (the transport calls ``get_buffer`` /
``buffer_updated``) and what the application uses (``recv``, ``send``,
``async for``, ``ping``, ``close``). It only does I/O: every protocol decision
— handshake, framing, keepalive, closing, failing — is the sans-I/O
:class:`wsfast.protocol.Protocol`'s; this layer moves bytes, runs one timer on
the protocol's next deadline and wakes the application. Why it is shaped this way:

- Read path: the socket reads into a buffer we own (``get_buffer``), fed
  straight to the protocol (the frame parser copies what it keeps, so one
  buffer can serve every connection of a server). Completed messages go to a
  deque; ``recv()`` pops from it without suspending when something is
  waiting, so a handler that keeps up never creates a future, and nothing
  creates a task per message.
- Write path: ``send()`` queues frames in the protocol; one ``call_soon`` per
  burst writes them with ``transport.writelines`` (large messages go out as
  [header, payload], never joined by us).
- Flow control: the transport's write buffer has the high/low water marks of
  ``write_limit``; ``send()`` waits while the transport is over its high-water
  mark, whatever the pattern of sends, and reading pauses meanwhile, so a peer
  that never reads cannot make us queue pongs (or anything) without bound.
  Reading also pauses while ``max_queue`` messages wait for the application.
- Keepalive while reading is paused: a pong cannot be seen, so the protocol is
  told why. Paused for a full write buffer: a peer that drains it is alive
  (``write_progress`` at each deadline that finds the buffer smaller, and when
  it drains to the low-water mark); one that takes nothing for ``ping_timeout``
  gets 1011. Paused for a full queue: the application is behind, not the peer
  (``application_behind``), and the deadline applies again once it catches up.
- A failure (keepalive timeout, out of memory...) wakes a ``send()`` waiting
  for the peer to drain: it raises ConnectionClosed at once, not when the
  transport is finally dropped.
- Fairness: a handler that streams to a fast reader yields to the event loop
  every ``_YIELD_BYTES`` bytes or ``_YIELD_SENDS`` sends, so other
  connections and new handshakes keep making progress.
- A transport that is closing or lost (the peer vanished, a write failed)
  makes ``send()`` yield once and raise ConnectionClosed, as asyncio's
  ``StreamWriter.drain()`` does: a streaming handler can never spin.
- A MemoryError in the data path fails the connection with 1011 and one log
  line. While writing, a frame may already be cut short on the wire, so no
  close frame can follow: the transport is dropped instead.
- When the peer breaks the protocol after good messages, the protocol holds
  the failing close frame back (``hold_failure``) until the application has
  received those messages, so an echo of them still goes out first.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from asyncio import selector_events
from typing import Any, AsyncIterator, Callable, Deque, Dict, List, Optional, Tuple, Union

from .. import _defaults, _impl
from ..enums import CloseCode, FailureCause
from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, InvalidState
from ..http11 import Request, Response
from ..protocol import ConnectionFailed, HandshakeFailed, Protocol, State
from ._waiter import Waiter
from .listener import Listener

__all__ = ["Connection", "Data", "WriteLimit", "READ_BUFFER_SIZE"]

Data = Union[str, bytes]
WriteLimit = Union[int, Tuple[int, int]]

READ_BUFFER_SIZE = 256 * 1024  # bytes one socket read may bring
_YIELD_BYTES = 1024 * 1024  # a sender yields to the loop after this many bytes in one loop turn...
_YIELD_SENDS = 1024  # ...or this many sends
_JOIN_MAX = 256 * 1024  # before 3.12: pieces are joined into writes of about this size (larger: on their own)

# why reading is paused (bits of Connection._read_paused); it resumes when no reason is left
_PAUSE_QUEUE = 1  # max_queue messages wait for the application
_PAUSE_WRITE = 2  # the transport's write buffer is over its high-water mark
_PAUSE_HANDSHAKE = 4  # a request head waits for its answer (process_request may run a while)

_OPEN = State.OPEN
_CLOSED = State.CLOSED
# an empty deque costs ~750 bytes: a connection waiting for messages holds this shared empty
# tuple instead, and a deque is made when messages come
_NO_MESSAGES: Any = ()


class _AfterStep:
    """Stands in for the flush handle while the handler runs inside the read callback (see
    ``_resume_reader``): what it sends is written when its step ends, in the same callback,
    so no Handle is made per send."""

    __slots__ = ()

    def cancel(self) -> None:
        pass


_AFTER_STEP: Any = _AfterStep()


_SELECTOR_SOCKET = getattr(selector_events, "_SelectorSocketTransport", None)


def _socket_fd(transport: Any) -> int:
    """The socket of asyncio's plain TCP transport (-1 for any other: TLS, uvloop, pipes...), for
    the writes we make on it ourselves when the transport has nothing buffered (the <3.12 writev
    below, and a listener's answers: wsfast._datapath_c)."""
    if _SELECTOR_SOCKET is None or type(transport) is not _SELECTOR_SOCKET:
        return -1
    sock = transport.get_extra_info("socket")
    return -1 if sock is None else int(sock.fileno())


if sys.version_info >= (3, 12):

    def _writelines(transport: Any, pieces: List[bytes], fd: int) -> None:
        """Selector transports send a list with sendmsg (scatter/gather): nothing is joined."""
        transport.writelines(pieces)

    def _writev_fd(transport: Any) -> int:
        return -1  # the transports' writelines() does it

else:
    import os

    _JOINING_WRITELINES = asyncio.WriteTransport.writelines

    def _writev_fd(transport: Any) -> int:
        """The socket of asyncio's plain TCP transport (-1 for any other): a large frame's header
        and payload go out in one writev on it (see _writelines)."""
        return _socket_fd(transport) if hasattr(os, "writev") else -1

    def _writelines(transport: Any, pieces: List[bytes], fd: int) -> None:
        """Before 3.12, asyncio's own transports' writelines() joins everything into one new bytes
        object. A transport with a writelines() of its own (uvloop's: one writev) gets the list as
        it is. For the others, pieces are joined into writes of up to about _JOIN_MAX bytes, so
        that a frame header goes out with its payload (one send, one segment, instead of a
        separate send of a few bytes); a larger piece is written on its own, as a memoryview,
        copied at most once (into the transport's buffer, for what the socket did not take).
        What precedes a large piece (its frame header) goes out with it in one writev on the
        plain TCP transport's socket (``fd``) when the transport has nothing buffered, as 3.12's
        writelines does with sendmsg: no separate send (and segment) for a 10-byte header."""
        if type(transport).writelines is not _JOINING_WRITELINES:
            transport.writelines(pieces)
            return
        batch: List[bytes] = []
        size = 0
        for piece in pieces:
            n = len(piece)
            if n >= _JOIN_MAX:
                if batch:
                    head = b"".join(batch) if len(batch) > 1 else batch[0]
                    batch, size = [], 0
                    if fd < 0 or not _writev(transport, fd, head, piece):
                        transport.write(head)
                        transport.write(memoryview(piece))
                    continue
                transport.write(memoryview(piece))
                continue
            batch.append(piece)
            size += n
            if size >= _JOIN_MAX:
                transport.write(b"".join(batch))
                batch, size = [], 0
        if batch:
            transport.write(b"".join(batch) if len(batch) > 1 else batch[0])

    def _writev(transport: Any, fd: int, head: bytes, piece: bytes) -> bool:
        """``head`` then ``piece`` in one writev on the transport's socket, what the socket does
        not take through the transport (which buffers it, in order). False, having written
        nothing, when the transport has something buffered (order) or is closing (its socket
        may be closed), or when the socket takes nothing now or fails: the caller then writes
        both through the transport, which buffers them or meets the error and reports it."""
        if transport.get_write_buffer_size() or transport.is_closing():
            return False
        try:
            sent = os.writev(fd, (head, piece))
        except OSError:  # would block, interrupted, reset...: the transport's write handles it
            return False
        if sent < len(head):
            transport.write(head[sent:])
            transport.write(memoryview(piece))
        elif sent - len(head) < len(piece):
            transport.write(memoryview(piece)[sent - len(head):])
        return True


def write_limits(write_limit: WriteLimit) -> Tuple[int, int]:
    """``write_limit`` as (high, low): an int is the high-water mark, low is a quarter of it."""
    if isinstance(write_limit, int) and not isinstance(write_limit, bool):
        high, low = write_limit, write_limit // 4
    else:
        try:
            high, low = write_limit  # type: ignore[misc]
        except (TypeError, ValueError):
            raise TypeError("write_limit must be an int or a (high, low) pair of ints") from None
    if not (isinstance(high, int) and isinstance(low, int)) or not 0 <= low <= high:
        raise ValueError(f"write_limit needs 0 <= low <= high, not {write_limit!r}")
    return high, low


class Connection(asyncio.BufferedProtocol):
    """A WebSocket connection on asyncio (see :class:`ServerConnection` / :class:`ClientConnection`).

    Receiving: ``await recv()`` or ``async for message in ws`` (str for text,
    bytes for binary). Iteration ends quietly when the connection closes with
    1000/1001 and raises :class:`ConnectionClosedError` otherwise; ``recv()``
    raises :class:`ConnectionClosedOK` / :class:`ConnectionClosedError`
    (``.cause`` says why a connection failed). Sending: ``await send(str | bytes)``.
    ``await ping()`` returns a future that resolves (to the round-trip time)
    when the pong arrives. ``await close()`` runs the closing handshake;
    ``close_code`` / ``close_reason`` say how the connection ended (1005 if the
    peer's close had no code, 1006 if there was no close frame).

    ``protocol`` is the sans-I/O :class:`~wsfast.protocol.Protocol` underneath.
    """

    # slots, no per-instance dict: an idle connection's memory is paid by the thousand, and what
    # broadcast() reads on thousands of cold connections sits in the object itself
    # (``__dict__`` stays available, empty until used, for subclasses and attributes set from outside)
    __slots__ = (
        "protocol", "_receive", "_data_to_send", "_datapath", "_sort_events", "_text_cls",
        "_binary_cls", "_decode_utf8", "_max_queue",
        "_low_water", "_write_high", "_write_low", "logger", "_loop", "transport", "_rview", "_messages",
        "_fd", "_waiter", "_read_paused", "_writing_paused", "_drain_waiters", "_flush_handle", "_stepping",
        "_handoff", "_unflushed", "_turn_bytes", "_turn_sends", "_write_mark", "_timer", "_timer_when",
        "_abort_handle", "_lingering", "_ping_waiters", "_closed", "_lost", "_ended", "remote_address",
        "local_address", "_listener", "_listener_path",
        "__dict__", "__weakref__",
    )

    def __init__(
        self,
        protocol: Protocol,
        *,
        max_queue: Optional[int] = _defaults.MAX_QUEUE,
        write_limit: WriteLimit = _defaults.WRITE_LIMIT,
        logger: Optional[logging.Logger] = None,
        read_buffer: Union[None, bytearray, memoryview] = None,
    ) -> None:
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be >= 1 or None")
        self.protocol = protocol
        impl = _impl.load(protocol.implementation)
        # the protocol's receive / send / data_to_send, through the implementation's data path
        # (wsfast._datapath_c runs an open connection's common case without the interpreter)
        self._datapath = datapath = impl.DataPath(protocol)
        self._receive: Callable[[Any], List[Any]] = datapath.receive
        self._data_to_send: Callable[[], List[bytes]] = datapath.data_to_send
        self._sort_events = impl.sort_events
        self._text_cls, self._binary_cls = protocol.message_types
        self._decode_utf8 = impl.decode_utf8
        self._max_queue = max_queue
        self._low_water = 0 if max_queue is None else max_queue // 4
        self._write_high, self._write_low = write_limits(write_limit)
        self.logger = logger or logging.getLogger("wsfast.asyncio")
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in connection_made
        self.transport: Optional[asyncio.Transport] = None
        self._fd = -1  # the socket, for one writev of a large frame's header and payload (before 3.12)
        if read_buffer is None:
            read_buffer = bytearray(READ_BUFFER_SIZE)
        # a server passes one view for all its connections (a view costs ~300 bytes each)
        self._rview = read_buffer if type(read_buffer) is memoryview else memoryview(read_buffer)
        # str, bytes, or a TextMessage (see _deliver): a deque while messages come, else _NO_MESSAGES
        self._messages: Deque[Any] = _NO_MESSAGES
        self._waiter: Optional[Waiter] = None
        self._read_paused = 0  # bits: why reading is paused (see _PAUSE_*)
        self._writing_paused = False
        self._drain_waiters: Optional[List[asyncio.Future[None]]] = None  # made when a send() waits
        self._flush_handle: Any = None  # an asyncio.Handle, _AFTER_STEP or None
        self._stepping = False  # the handler's task runs inside our read callback (_resume_reader)
        # the message a waiting recv() takes as it resumes in our read callback (no queue); set
        # only for the duration of that callback: queued if the step could not run there
        self._handoff: Any = None
        self._unflushed = 0  # bytes queued in the protocol since the last flush
        self._turn_bytes = 0  # bytes and sends since the loop last ran our flush (fairness)
        self._turn_sends = 0
        self._write_mark = 0  # transport buffer size when reading paused for writes (liveness)
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when = 0.0
        self._abort_handle: Optional[asyncio.TimerHandle] = None
        self._lingering = False  # our side is shut down; waiting for the peer's FIN
        self._ping_waiters: Dict[bytes, asyncio.Future[float]] = {}
        self._closed: Optional[asyncio.Future[None]] = None
        self._lost = False
        self._ended = False  # no more messages will come (close received, failure, or EOF)
        self.remote_address: Any = None
        self.local_address: Any = None
        # callbacks instead of recv() (see listener.py): set once the connection is open, with the
        # read and send path that calls them (a ListenerPath)
        self._listener: Optional[Listener] = None
        self._listener_path: Any = None

    # ------------------------------------------------------------------ public properties

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def request(self) -> Optional[Request]:
        """The opening handshake's request (``.path``, ``.headers``)."""
        return self.protocol.request  # type: ignore[no-any-return, attr-defined]

    @property
    def response(self) -> Optional[Response]:
        """The opening handshake's response (the 101, or the HTTP answer that refused it)."""
        return self.protocol.response  # type: ignore[no-any-return, attr-defined]

    @property
    def subprotocol(self) -> Optional[str]:
        return self.protocol.subprotocol

    @property
    def close_code(self) -> Optional[CloseCode]:
        """How the connection ended (None while it is open)."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.protocol.close_reason

    @property
    def implementation(self) -> str:
        """The hot path this connection runs on: "c" or "python"."""
        return self.protocol.implementation

    @property
    def closed(self) -> bool:
        """True once the TCP connection is closed."""
        return self._lost

    # ------------------------------------------------------------------ receiving

    async def recv(self, decode: Optional[bool] = None) -> Data:
        """The next message: str for text, bytes for binary.

        ``decode=False``: text comes as its validated UTF-8 bytes, with no str
        built (for JSON parsers that read bytes): from then on the protocol
        keeps text messages as bytes, until a call that wants str.
        ``decode=True``: binary messages are decoded as UTF-8 too.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is
        closed and every message received before that has been returned.
        """
        if self._messages:
            message = self._pop()
            if decode is None and type(message) is not self._text_cls:
                return message
            return self._deliver(message, decode)
        if decode is False and self.protocol.decode_text:
            self.protocol.decode_text = False  # the messages still to come: no str
        return self._deliver(await self._recv_wait(), decode)

    def _deliver(self, message: Any, decode: Optional[bool]) -> Data:
        """``message`` as recv(decode) returns it. The queue holds str (text), bytes (binary)
        and, for text completed while the protocol kept text as bytes, the TextMessage."""
        if type(message) is self._text_cls:
            if decode is False:
                return message.data  # type: ignore[no-any-return]
            self.protocol.decode_text = True  # str wanted again: decode as messages complete
            return self._decode_utf8(message.data)  # type: ignore[no-any-return]
        if decode is False:
            if type(message) is str:  # completed before recv(decode=False) was first called
                self.protocol.decode_text = False
                return message.encode()
            return message  # type: ignore[no-any-return]
        if decode and type(message) is not str:
            return bytes(message).decode()
        return message  # type: ignore[no-any-return]

    async def _recv_wait(self) -> Data:
        while not self._messages:
            waiter = self._wait()
            try:
                await waiter
            finally:
                self._waiter = None
            message = self._handoff  # the read path resumed us with a message (see data_received)
            if message is not None:
                self._handoff = None
                return message  # type: ignore[no-any-return]
        return self._pop()

    def _wait(self) -> Waiter:
        """Nothing is queued: write what we sent, and the waiter recv() awaits (raises the
        ConnectionClosed exception once no more messages will come)."""
        if self._ended:
            # a held failure was reported (so we ended): everything before the violation
            # has been received, its close frame may go
            if self.protocol.failure_held:
                self.protocol.release_failure()
                self._after_io()
            raise self._closed_exc()
        handle = self._flush_handle
        if handle is not None:  # about to wait: what we sent goes out now, not next turn
            if handle is not _AFTER_STEP:
                handle.cancel()
            self._flush()
        if self._messages is not _NO_MESSAGES:
            self._messages = _NO_MESSAGES  # about to idle: the empty deque goes
        self._turn_bytes = self._turn_sends = 0  # we yield to the loop: fairness starts again
        waiter = self._waiter = Waiter(loop=self._loop)
        return waiter

    def _pop(self) -> Data:
        """The oldest queued message; reading resumes once the queue is down to its low-water mark."""
        messages = self._messages
        message = messages.popleft()
        if self._read_paused and len(messages) <= self._low_water:
            self._queue_drained()
        return message  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[Data]:
        return self

    async def __anext__(self) -> Data:
        # _recv_wait written out (one coroutine less per message for a handler that waits)
        while True:
            messages = self._messages
            if messages:  # _pop() written out
                message = messages.popleft()
                if self._read_paused and len(messages) <= self._low_water:
                    self._queue_drained()
                break
            try:
                waiter = self._wait()
            except ConnectionClosedOK:
                raise StopAsyncIteration from None
            try:
                await waiter
            finally:
                self._waiter = None
            message = self._handoff
            if message is not None:
                self._handoff = None
                break
        if type(message) is self._text_cls:
            return self._deliver(message, None)
        return message  # type: ignore[no-any-return]

    def _closed_exc(self) -> ConnectionClosed:
        if self.protocol.close_code is None and self._lost:
            return ConnectionClosedError(CloseCode.ABNORMAL_CLOSURE, "", FailureCause.EOF)
        return self.protocol.close_exc

    # ------------------------------------------------------------------ sending

    async def send(self, message: Data) -> None:
        """Send one message: str as text, bytes-like as binary.

        Waits while the transport's write buffer is over its high-water mark.
        Raises ConnectionClosed once the connection is closing or closed (or the
        transport is gone), and TypeError for anything else than str or a
        bytes-like object.
        """
        if self._flush_handle is None:
            # the first send since the last write: that write may have found the peer gone (the
            # transport is then closing). Later sends of the same burst ask no more: nothing has
            # been written since (the burst is written when it ends, or by _flush below, after
            # which the handle is None again)
            transport = self.transport
            if transport is None or transport.is_closing():
                await self._closing_transport()
        if type(message) is str:
            self._datapath.send_text(message)
        else:
            self._datapath.send_binary(message)
        # _schedule_flush(len(message)) written out: a handler streaming small messages pays a
        # call per message for it
        size = len(message)
        self._unflushed += size
        self._turn_bytes += size
        self._turn_sends += 1
        if self._unflushed >= self._write_high:
            self._flush()
        elif self._flush_handle is None:
            if self._stepping:
                self._flush_handle = _AFTER_STEP  # written when the step ends (_resume_reader)
            else:
                self._flush_handle = self._loop.call_soon(self._flush_next_turn)
        if self._writing_paused:
            await self._drain()
        elif self._turn_bytes >= _YIELD_BYTES or self._turn_sends >= _YIELD_SENDS:
            self._turn_bytes = self._turn_sends = 0
            await asyncio.sleep(0)  # let the other connections have a turn

    def send_now(self, message: Data) -> None:
        """Send one message without waiting: str as text, bytes-like as binary.

        For listeners (see :mod:`wsfast.asyncio.listener`) and other code that
        cannot await: what is sent inside a read callback goes out in one write
        when the callback ends, otherwise on the next loop turn. It never
        waits for the peer to read: the transport buffers what the socket does
        not take (reading pauses meanwhile, see ``write_limit``); use
        ``await send()`` to wait. Raises ConnectionClosed once the connection
        is closing or closed (or the transport is gone), TypeError for
        anything else than str or a bytes-like object.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            self._send_refused()
        if type(message) is str:
            self._datapath.send_text(message)
        else:
            self._datapath.send_binary(message)
        self._schedule_flush(len(message))

    def _send_refused(self) -> None:
        """send_now() on a transport that is closing or gone: raise ConnectionClosed."""
        if self.protocol.state is _OPEN and not self.protocol.failure_held:
            raise ConnectionClosedError(CloseCode.ABNORMAL_CLOSURE, "the transport is closing",
                                        FailureCause.EOF)
        raise self._closed_exc()

    def _schedule_flush(self, size: int) -> None:
        """``size`` bytes were queued in the protocol (a send): write them now if the buffer is
        full, at the end of the step or read callback we are in, or on the next loop turn."""
        self._unflushed += size
        self._turn_bytes += size
        self._turn_sends += 1
        if self._unflushed >= self._write_high:
            self._flush()
        elif self._flush_handle is None:
            if self._stepping:
                self._flush_handle = _AFTER_STEP  # written when the step or callback ends
            else:
                self._flush_handle = self._loop.call_soon(self._flush_next_turn)

    async def _closing_transport(self) -> None:
        """The transport is closing or gone: yield (connection_lost may be queued) and raise."""
        await asyncio.sleep(0)
        if self.protocol.state is _OPEN and not self.protocol.failure_held:
            raise ConnectionClosedError(CloseCode.ABNORMAL_CLOSURE, "the transport is closing",
                                        FailureCause.EOF)
        raise self._closed_exc()

    async def ping(self, data: Optional[Union[str, bytes]] = None) -> asyncio.Future[float]:
        """Send a ping; returns a future resolved with the round-trip time (seconds) when its
        pong arrives (a pong also answers every earlier ping, as RFC 6455 allows).

        ``data`` None sends 4 random bytes. ValueError if a ping with the same
        payload is still waiting.
        """
        payload = self.protocol.ping(data)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._ping_waiters[payload] = waiter
        self._flush()
        if self._writing_paused:
            await self._drain()
        return waiter

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        self.protocol.pong(data)
        self._flush()

    async def close(self, code: Optional[int] = CloseCode.NORMAL, reason: str = "") -> None:
        """Start (or join) the closing handshake and wait until the connection is closed,
        at most ``close_timeout`` before the TCP connection is dropped."""
        self.start_close(code, reason)
        await self.wait_closed()

    def start_close(self, code: Optional[int] = CloseCode.NORMAL, reason: str = "") -> None:
        """Send a close frame without waiting (used by server shutdown); no-op once closing."""
        if self._lost:
            return
        protocol = self.protocol
        if protocol.state is _OPEN or protocol.failure_held:
            protocol.close(code, reason)
            # from now on the protocol drops data messages: read on, or the peer's close frame
            # could wait behind a full queue until close_timeout
            self._resume_reading(_PAUSE_QUEUE)
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
        transport.set_write_buffer_limits(self._write_high, self._write_low)  # type: ignore[attr-defined]
        self._fd = _writev_fd(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def data_received(self, data: Any) -> None:
        """Bytes read from the transport (a view of the read buffer, or bytes from a transport that
        does not read into buffers, or from another protocol handing the connection over)."""
        try:
            events = self._receive(data)
        except InvalidState:  # data after EOF: nothing to do
            return
        except MemoryError as exc:
            self._out_of_memory(exc)
            return
        if not events:  # part of a frame (or of the request head): nothing happened yet
            return
        messages = self._messages
        # a recv() waits and nothing is queued: the first message is handed to it, not queued
        hand_over = self._waiter is not None and not messages
        try:
            handed, queue, others = self._sort_events(
                events, None if messages is _NO_MESSAGES else messages, self._text_cls, self._binary_cls,
                hand_over)
        except MemoryError as exc:
            self._out_of_memory(exc)
            return
        if queue is not None:
            self._messages = queue
        if handed is not None:
            self._handoff = handed
        if others is not None:  # only control frames, failures and handshake results make output
            for event in others:
                self._on_event(event)
            self._after_io()
        if self._waiter is not None:
            self._resume_reader()
        if self._max_queue is not None and len(self._messages) >= self._max_queue:
            self._pause_reading(_PAUSE_QUEUE)

    def _resume_reader(self) -> None:
        """A recv() is waiting and messages came: resume its task now, inside this read callback,
        not on the next loop pass (see ``_waiter``), as a plain protocol answers inside
        ``data_received``; what it sends meanwhile is written when its step ends. From a task
        (data fed by one), the step is scheduled instead, and the message handed over is queued."""
        waiter = self._waiter
        assert waiter is not None
        self._stepping = True
        try:
            waiter.resume_now()
        finally:
            self._stepping = False
        message = self._handoff
        if message is not None:  # the step did not run: the message waits first in the queue
            self._handoff = None
            self._queue().appendleft(message)
        handle = self._flush_handle
        if handle is not None:
            handle.cancel()
            self._flush()

    def _listener_failed(self) -> None:
        self.logger.error("listener on_message failed", exc_info=True)
        self.start_close(CloseCode.INTERNAL_ERROR, "")

    def _open_listener(self, listener: Listener) -> bool:
        """The connection is open: from now on messages go to ``listener``. False (the connection
        is closing with 1011) when its ``on_open`` raised."""
        self._listener = listener
        protocol = self.protocol
        path = self._listener_path = _impl.load(protocol.implementation).ListenerPath(
            self, protocol, self._rview, listener.on_message, self.transport, self._write_high,
            _socket_fd(self.transport))
        # the transport and the application call the path's methods straight (instance attributes
        # shadow the class's methods): no method of this class runs per message
        attributes = self.__dict__
        attributes["get_buffer"] = path.get_buffer
        attributes["buffer_updated"] = path.buffer_updated
        attributes["data_received"] = path.data_received
        attributes["send_now"] = path.send_now
        self._stepping = True
        try:
            listener.on_open(self)
        except Exception:
            self.logger.error("listener on_open failed", exc_info=True)
            self.start_close(CloseCode.INTERNAL_ERROR, "")
            return False
        finally:
            self._stepping = False
        return True

    def _leave_listener_path(self) -> None:
        """Reads and sends go through this class's methods again (the connection is ending)."""
        if self._listener_path is not None:
            self._listener_path = None
            for name in ("get_buffer", "buffer_updated", "data_received", "send_now"):
                self.__dict__.pop(name, None)

    def _close_listener(self) -> None:
        self._leave_listener_path()
        listener = self._listener
        if listener is None:
            return
        self._listener = None
        try:
            listener.on_close(self)
        except Exception:
            self.logger.error("listener on_close failed", exc_info=True)

    def eof_received(self) -> bool:
        # The peer will send nothing more: let the transport close; connection_lost reports
        # what happened (1006 if its close frame never came).
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._lost = True
        self.protocol.receive_eof(exc)
        for event in self.protocol.events():
            self._on_event(event)
        self._ended = True
        for handle in (self._timer, self._abort_handle, self._flush_handle):
            if handle is not None:
                handle.cancel()
        self._timer = self._abort_handle = self._flush_handle = None
        waiter = self._waiter
        if waiter is not None:
            waiter.resume_soon()
        self._wake_drain_waiters()
        error = self._closed_exc()
        for ping_waiter in self._ping_waiters.values():
            if not ping_waiter.done():
                ping_waiter.set_exception(error)
                ping_waiter.exception()  # retrieved: nobody may be awaiting it
        self._ping_waiters.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.logger.debug("connection closed: %s %s", self.protocol.close_code, self.protocol.close_reason)
        self._close_listener()

    def pause_writing(self) -> None:
        self._writing_paused = True
        # a peer that does not read must not make us queue without bound (pongs, echoes...)
        transport = self.transport
        self._write_mark = transport.get_write_buffer_size() if transport is not None else 0
        self._pause_reading(_PAUSE_WRITE)

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._read_paused & _PAUSE_WRITE:
            # the peer drained our buffer: its pong, unread behind it, gets a full ping_timeout
            self.protocol.write_progress(self._loop.time())
        self._resume_reading(_PAUSE_WRITE)
        self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters = self._drain_waiters
        if waiters:
            self._drain_waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _queue(self) -> Deque[Any]:
        """The message queue, made if the connection was idle."""
        messages = self._messages
        if messages is _NO_MESSAGES:
            messages = self._messages = collections.deque()
        return messages

    # ------------------------------------------------------------------ internals

    def _dispatch(self, events: List[Any]) -> None:
        """Events the protocol produced outside a read (frames that came with the handshake)."""
        if self._listener_path is not None:
            if events:
                self._listener_path.deliver(events)
            return
        text_cls, binary_cls = self._text_cls, self._binary_cls
        for event in events:
            if type(event) is text_cls or type(event) is binary_cls:
                self._queue().append(event.data)
            else:
                self._on_event(event)

    def _on_event(self, event: Any) -> None:
        """Everything but a data message: control frames, failures, handshake results."""
        opcode = getattr(event, "opcode", None)
        if opcode is not None:
            if event.opcode == 10:  # a pong: wake the ping() waiters it answers
                for payload, rtt in self.protocol.acknowledged_pings():
                    waiter = self._ping_waiters.pop(payload, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(rtt)
            elif event.opcode == 8:
                self._ended = True
            return
        if isinstance(event, ConnectionFailed):
            self._ended = True
            if event.cause is FailureCause.EOF:
                self.logger.debug("connection lost without a close frame")
            else:
                self.logger.info("connection from %s failed (%s): %d %s", self.remote_address,
                                 event.cause.value, event.code, event.reason)
            if self.protocol.failure_held and not self._messages and self._handoff is None:
                self.protocol.release_failure()  # nothing left to deliver first
            return
        if isinstance(event, HandshakeFailed):
            self.logger.info("opening handshake with %s failed: %s", self.remote_address, event.error)
        self._on_handshake_event(event)

    def _on_handshake_event(self, event: Any) -> None:
        """Request / Response / HandshakeFailed: the subclasses handle them."""

    def _out_of_memory(self, exc: MemoryError, *, drop: bool = False) -> None:
        """A MemoryError in the data path: fail with 1011 (one log line), keep the server up.

        ``drop``: it happened while writing, so a frame may be cut short on the wire and no
        close frame can follow it: the transport is dropped instead (still one log line).
        """
        self._messages = _NO_MESSAGES  # free what we can first
        if drop and self.transport is not None:
            self.transport.abort()  # connection_lost comes next turn; nothing more is written
            self._writing_paused = True  # a send() in progress waits for it, then raises
        if self.protocol.state is not _CLOSED and self.protocol.failure is None:
            try:
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "out of memory", FailureCause.INTERNAL_ERROR,
                                   exc)
            except InvalidState:  # still in the opening handshake: nothing to close on the wire
                if self.transport is not None:
                    self.transport.abort()
                return
            for event in self.protocol.events():
                self._on_event(event)
        self._ended = True
        waiter = self._waiter
        if waiter is not None:
            waiter.resume_soon()
        self._after_io()

    def _flush_next_turn(self) -> None:
        """The burst of sends of the last loop turn: write it (the loop ran, so the fairness
        counters start again)."""
        self._turn_bytes = self._turn_sends = 0
        self._flush()

    def _flush(self) -> None:
        self._flush_handle = None
        self._unflushed = 0
        out = self._data_to_send()
        if out and not self._lost:
            transport = self.transport
            assert transport is not None
            if transport.is_closing():
                return  # the peer is gone: connection_lost is on its way
            self._write(out)

    def _write(self, out: List[bytes]) -> None:
        """Write pieces the protocol queued to the transport (open, not closing)."""
        transport = self.transport
        assert transport is not None
        try:
            if len(out) == 1:
                transport.write(out[0])
            else:
                _writelines(transport, out, self._fd)
        except MemoryError as exc:  # the transport could not buffer what the socket did not take
            self._out_of_memory(exc, drop=True)

    def _after_io(self) -> None:
        """Write what the protocol queued, close the transport when it says so, and keep the
        timer on its next deadline."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()
        if self._drain_waiters and self.protocol.failure is not None and not self.protocol.failure_held:
            # failed (keepalive timeout, out of memory...): a send() waiting for the peer to
            # drain our buffer raises now, not when the transport is finally dropped
            self._wake_drain_waiters()
        if self.protocol.should_close_transport and not self._lost:
            self._close_transport()
            return
        deadline = self.protocol.next_deadline()
        if deadline is not None and (self._timer is None or deadline < self._timer_when):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._lost:
            return
        protocol = self.protocol
        now = self._loop.time()
        paused = self._read_paused
        if paused & _PAUSE_WRITE and self.transport is not None:
            # we cannot see pongs while reading is paused: a peer that drains our writes is alive
            size = self.transport.get_write_buffer_size()
            if size < self._write_mark:
                protocol.write_progress(now)
            self._write_mark = size
        elif paused & _PAUSE_QUEUE:
            protocol.application_behind(now)  # its pong may wait unread behind the queued messages
        protocol.tick(now)
        for event in protocol.events():
            self._on_event(event)
        waiter = self._waiter
        if waiter is not None:
            waiter.resume_soon()
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
        protocol = self.protocol
        if protocol.state is not _CLOSED and protocol.close_code is None:
            # our close frame went unanswered until the deadline: nothing more is worth sending
            transport.abort()
            return
        failure = protocol.failure
        self._lingering = True
        self._leave_listener_path()  # what still comes is discarded (below)
        self._fd = -1  # from now on only the transport writes (it refuses anything after write_eof)
        self._receive = self._discard
        self._read_paused = 0
        transport.resume_reading()
        self._arm_abort()
        if failure is not None and failure.cause is FailureCause.KEEPALIVE_TIMEOUT:
            transport.close()  # an unresponsive peer will never send us a FIN
            return
        try:
            if transport.can_write_eof():
                transport.write_eof()
                return
        except (NotImplementedError, RuntimeError, OSError):
            pass
        transport.close()

    @staticmethod
    def _discard(data: Any) -> List[Any]:
        return []

    def _arm_abort(self) -> None:
        timeout = self.protocol.close_timeout
        if self._abort_handle is None and not self._lost and timeout is not None:
            self._abort_handle = self._loop.call_later(timeout, self._abort)

    def _abort(self) -> None:
        self._abort_handle = None
        if not self._lost and self.transport is not None:
            self.logger.debug("closing handshake timed out: dropping the TCP connection")
            self.transport.abort()

    def _pause_reading(self, reason: int) -> None:
        if self._lost or self.transport is None or self._lingering:
            return
        if not self._read_paused:
            self.transport.pause_reading()
        self._read_paused |= reason

    def _resume_reading(self, reason: int) -> None:
        if not self._read_paused & reason:
            return
        self._read_paused &= ~reason
        if not self._read_paused and self.transport is not None and not self._lost:
            self.transport.resume_reading()

    def _queue_drained(self) -> None:
        self._resume_reading(_PAUSE_QUEUE)

    async def _drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark; raise ConnectionClosed
        if the connection ends (or fails) meanwhile."""
        if not self._lost:
            waiter: asyncio.Future[None] = self._loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(waiter)
            await waiter
            self._turn_bytes = self._turn_sends = 0
        if self._lost or (self.protocol.failure is not None and not self.protocol.failure_held):
            raise self._closed_exc()
