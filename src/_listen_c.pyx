"""Compiled twin of wsfast/_listen_py.py (the readable reference; same names, same behaviour).

A listener's per-message path, with no interpreted frame of ours on it: the
transport calls ``buffer_updated`` here, the protocol parses (compiled
parser), each message goes to ``on_message``, and ``send_now`` calls the
protocol's ``send_*``. Everything else goes to the connection's methods, as
in the twin.
"""

cimport cython

from wsfast.exceptions import InvalidState

__all__ = ["ListenerPath"]


@cython.auto_pickle(False)  # glue between live objects: nothing to pickle
cdef class ListenerPath:
    cdef object _conn
    cdef object _view
    cdef object _receive
    cdef object _on_message
    cdef object _text_cls
    cdef object _binary_cls
    cdef object _send_text
    cdef object _send_binary
    cdef object _transport
    cdef Py_ssize_t _write_high
    cdef bint _in_read
    cdef Py_ssize_t _queued

    def __init__(self, conn, view, receive, on_message, message_types, send_text, send_binary, transport,
                 Py_ssize_t write_high):
        self._conn = conn
        self._view = view
        self._receive = receive
        self._on_message = on_message
        self._text_cls, self._binary_cls = message_types
        self._send_text = send_text
        self._send_binary = send_binary
        self._transport = transport
        self._write_high = write_high
        self._in_read = False
        self._queued = 0

    def get_buffer(self, sizehint):
        return self._view

    def buffer_updated(self, Py_ssize_t nbytes):
        self.data_received(self._view[:nbytes])

    def data_received(self, data):
        try:
            events = self._receive(data)
        except InvalidState:
            return
        except MemoryError as exc:
            self._conn._out_of_memory(exc)
            return
        if events:
            self.deliver(events)

    def deliver(self, list events):
        cdef object conn = self._conn
        cdef object on_message = self._on_message
        cdef object text_cls = self._text_cls
        cdef object binary_cls = self._binary_cls
        cdef bint other = False
        cdef object kind
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

    def send_now(self, message):
        cdef Py_ssize_t size
        if self._transport.is_closing():
            self._conn._send_refused()
        if type(message) is str:
            self._send_text(message)
        else:
            self._send_binary(message)
        size = len(message)
        if self._in_read:
            self._queued += size or 1
            if self._queued >= self._write_high:
                self._queued = 0
                self._conn._flush()
        else:
            self._conn._schedule_flush(size)
