"""The read and send path of a listener-mode connection: the pure-Python reference.

A :class:`~wsfast.asyncio.Listener` answers inside the read callback, so per
message the server runs: the socket read, the protocol's ``receive``, the
listener's ``on_message``, its ``send_now`` (the protocol's ``send_*``) and one
write. :class:`ListenerPath` is the glue between them, with nothing else on the
way: the connection hands the transport its ``get_buffer`` / ``buffer_updated``
and the application its ``send_now`` (as attributes of the connection object),
so that no method of the asyncio connection runs per message. Its compiled twin
(``wsfast._listen_c``, same names, same behaviour) is what makes a listener
cost about what a plain :class:`asyncio.Protocol` costs.

It makes no protocol decision and owns no state the connection needs: the
sans-I/O protocol frames, parses and decides; everything that is not a data
message in an open connection (control frames, failures, closing) goes to the
connection's own methods; the connection writes (``_flush``).
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

from .exceptions import InvalidState

__all__ = ["ListenerPath"]


class ListenerPath:
    """Per-read glue of one listener-mode connection (see the module doc).

    ``conn`` is the :class:`wsfast.asyncio.Connection`; it provides
    ``_on_event(event)`` (anything but a data message), ``_after_io()``,
    ``_flush()``, ``_out_of_memory(exc)``, ``_listener_failed()``,
    ``_send_refused()`` (raises) and ``_schedule_flush(size)`` (a send outside
    a read callback). ``view`` is the read buffer, ``receive`` the protocol's
    ``receive``, ``on_message`` the listener's, ``message_types`` the
    protocol's (text, binary) event classes, ``send_text`` / ``send_binary``
    the protocol's, ``write_high`` the transport's high-water mark (what is
    sent inside one read callback is written as soon as it reaches it).
    """

    __slots__ = ("_conn", "_view", "_receive", "_on_message", "_text_cls", "_binary_cls", "_send_text",
                 "_send_binary", "_transport", "_write_high", "_in_read", "_queued")

    def __init__(self, conn: Any, view: memoryview, receive: Callable[[Any], List[Any]],
                 on_message: Callable[[Any, Any], None], message_types: Tuple[Any, Any],
                 send_text: Callable[[str], None], send_binary: Callable[[Any], None], transport: Any,
                 write_high: int) -> None:
        self._conn = conn
        self._view = view
        self._receive = receive
        self._on_message = on_message
        self._text_cls, self._binary_cls = message_types
        self._send_text = send_text
        self._send_binary = send_binary
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
            conn._flush()
        if other:
            conn._after_io()

    def send_now(self, message: Any) -> None:
        """The connection's ``send_now`` (see there)."""
        if self._transport.is_closing():
            self._conn._send_refused()
        if type(message) is str:
            self._send_text(message)
        else:
            self._send_binary(message)
        if self._in_read:
            self._queued += len(message) or 1
            if self._queued >= self._write_high:
                self._queued = 0
                self._conn._flush()
        else:
            self._conn._schedule_flush(len(message))
