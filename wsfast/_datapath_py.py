"""The data path of an open connection: the pure-Python reference.

Two things live here, each with a compiled twin in ``wsfast._datapath_c``
(same names, same behaviour, tested side by side):

- ``sort_events``: a batch of events sorted for the asyncio connection's
  message queue (a loop over every message of a read).
- :class:`DataPath`: one protocol's ``receive`` / ``send_text`` /
  ``send_binary`` / ``data_to_send``. Here they *are* the protocol's methods (:class:`wsfast.protocol.
  Protocol` is the one home of every protocol decision); the compiled twins
  run the common case of an open connection (a batch of data messages in, a
  small unfragmented, uncompressed frame out) in C and hand every other case
  to the protocol's methods, so an I/O layer calls no interpreted code of ours
  per message.
- :class:`ListenerPath`, the glue of a listener-mode connection (see
  :mod:`wsfast.asyncio.listener`). Per message the server runs the socket
  read, the protocol's ``receive``, the listener's ``on_message``, its
  ``send_now`` (the protocol's ``send_*``) and one write per read. The
  connection hands the transport this object's ``get_buffer`` /
  ``buffer_updated`` and the application its ``send_now`` (as attributes of
  the connection object), so no method of the asyncio connection runs per
  message. It makes no protocol decision and owns no state the connection
  needs: whatever is not a data message goes to the connection's methods.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Deque, List, Optional, Tuple

from .exceptions import InvalidState

__all__ = ["DataPath", "ListenerPath", "sort_events"]


class DataPath:
    """One protocol's data path: its ``receive``, ``send_text``, ``send_binary`` and
    ``data_to_send`` (here they are the protocol's own methods, called through this object)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def receive(self, data: Any) -> List[Any]:
        return self._protocol.receive(data)  # type: ignore[no-any-return]

    def send_text(self, data: str) -> None:
        """One final text frame."""
        self._protocol.send_text(data)

    def send_binary(self, data: Any) -> None:
        """One final binary frame."""
        self._protocol.send_binary(data)

    def data_to_send(self) -> List[bytes]:
        return self._protocol.data_to_send()  # type: ignore[no-any-return]


def sort_events(events: List[Any], messages: Optional[Deque[Any]], text_cls: Any, binary_cls: Any,
                hand_over: bool) -> Tuple[Any, Optional[Deque[Any]], Optional[List[Any]]]:
    """A batch of the protocol's events, sorted for the asyncio connection's message queue:
    ``(handed, messages, others)``.

    Each data message is appended to ``messages`` (a deque; None: one is made
    when the first message needs it, and returned), in order, as what
    ``recv()`` returns: ``data`` (str or bytes), or the TextMessage itself for
    text the protocol kept as UTF-8 bytes. With ``hand_over`` the first one is
    returned as ``handed`` instead (a waiting ``recv()`` takes it). Every other
    event comes back in ``others`` (None when there is none), in order: the
    protocol puts nothing after a close or a failure, so handling them after
    the messages are queued changes nothing.
    """
    handed = None
    others: Optional[List[Any]] = None
    for event in events:
        kind = type(event)
        if kind is binary_cls:
            message = event.data
        elif kind is text_cls:
            message = event.data
            if type(message) is not str:
                message = event
        else:
            if others is None:
                others = []
            others.append(event)
            continue
        if hand_over:
            handed = message
            hand_over = False
        else:
            if messages is None:
                messages = collections.deque()
            messages.append(message)
    return handed, messages, others


class ListenerPath:
    """Per-read glue of one listener-mode connection (see the module doc).

    ``conn`` is the :class:`wsfast.asyncio.Connection`; it provides
    ``_on_event(event)`` (anything but a data message), ``_after_io()``,
    ``_flush()``, ``_out_of_memory(exc, drop=False)``,
    ``_listener_failed()``, ``_send_refused()`` (raises) and
    ``_schedule_flush(size)`` (a send outside a read callback). ``protocol``
    is its sans-I/O protocol, ``view`` the read buffer, ``on_message`` the
    listener's, ``write_high`` the transport's high-water mark (what is sent
    inside one read callback is written as soon as it reaches it). ``fd`` is
    the transport's socket where we may send on it ourselves (-1: never): the
    compiled twin sends a read callback's lone answer with one ``send()`` when
    the transport has nothing buffered, as the transport's ``write()`` would,
    without its Python code; this reference always calls ``write()`` (the same
    bytes go out in the same order either way).
    """

    __slots__ = ("_conn", "_view", "_receive", "_on_message", "_text_cls", "_binary_cls", "_send_text",
                 "_send_binary", "_data_to_send", "_transport", "_write_high", "_in_read", "_queued")

    def __init__(self, conn: Any, protocol: Any, view: memoryview, on_message: Callable[[Any, Any], None],
                 transport: Any, write_high: int, fd: int = -1) -> None:
        self._conn = conn
        self._view = view
        self._receive = protocol.receive
        self._send_text = protocol.send_text
        self._send_binary = protocol.send_binary
        self._data_to_send = protocol.data_to_send
        self._text_cls, self._binary_cls = protocol.message_types
        self._on_message = on_message
        self._transport = transport
        self._write_high = write_high
        self._in_read = False  # inside deliver(): what send_now() queues is written at its end
        self._queued = 0  # bytes send_now() queued in this read callback

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._view[:nbytes])

    def data_received(self, data: Any) -> None:
        try:
            events = self._receive(data)
        except InvalidState:  # data after EOF: nothing to do
            return
        except MemoryError as exc:
            self._conn._out_of_memory(exc)
            return
        if events:
            self.deliver(events)

    def deliver(self, events: List[Any]) -> None:
        """Each data message to ``on_message``, the rest to the connection, in order; then write
        what was sent meanwhile, in one go."""
        conn = self._conn
        on_message = self._on_message
        text_cls = self._text_cls
        binary_cls = self._binary_cls
        other = False
        self._in_read = True
        try:
            for event in events:
                kind = type(event)
                if kind is binary_cls or kind is text_cls:
                    on_message(conn, event.data)
                else:
                    conn._on_event(event)
                    other = True
        except MemoryError as exc:
            self._in_read = False
            self._queued = 0
            conn._out_of_memory(exc)
            return
        except Exception:
            self._in_read = False
            conn._listener_failed()
        self._in_read = False
        if self._queued:
            self._queued = 0
            if other:
                conn._flush()  # the connection may be closing: its own checks apply
            else:
                self._write()
        if other:
            conn._after_io()

    def _write(self) -> None:
        """Write what the protocol queued (the transport is open: it just read)."""
        out = self._data_to_send()
        if len(out) != 1:
            if out:
                self._conn._write(out)
            return
        try:
            self._transport.write(out[0])
        except MemoryError as exc:  # the transport could not buffer what the socket did not take
            self._conn._out_of_memory(exc, drop=True)

    def send_now(self, message: Any) -> None:
        """The connection's ``send_now`` (see there)."""
        if not self._in_read and self._transport.is_closing():
            self._conn._send_refused()
        if type(message) is str:
            self._send_text(message)
        else:
            self._send_binary(message)
        if self._in_read:
            self._queued += len(message) or 1
            if self._queued >= self._write_high:
                self._queued = 0
                self._write()
        else:
            self._conn._schedule_flush(len(message))
