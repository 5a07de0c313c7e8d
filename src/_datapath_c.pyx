"""Compiled twin of wsfast/_datapath_py.py (the readable reference; same names, same behaviour).

``DataPath``'s ``receive`` / ``send_text`` / ``send_binary`` /
``data_to_send`` run the common case of an open connection in C, reading the
protocol's own slots:

- ``receive``: the protocol's ``receive`` as written in wsfast/protocol.py
  for an open connection (parse; a batch without control frames is handed
  over as the parser made it); any other state goes to the protocol's method.
- ``send_text`` / ``send_binary``: a final frame of at most _JOIN_LIMIT
  bytes, on an open server connection that is not sending fragments and
  compresses nothing, is framed here (header and payload in one bytes
  object, as ``encode_frame(..., mask=None)`` makes it) and queued; every
  other case (a client's masking, compression, fragments, large payloads,
  bytes-like objects that are not bytes, a closed connection and its errors)
  goes to the protocol's method.

So the decisions stay the protocol's: this module only skips the interpreter
where the protocol's answer is known. tests/test_datapath.py holds the two
to the same results, byte for byte, state for state.

``ListenerPath`` is the reference's, with these functions called in C.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyObject_TypeCheck, PyTypeObject
from cpython.unicode cimport PyUnicode_AsUTF8String
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport wsf_header_size, wsf_header_write

from wsfast.exceptions import InvalidState, ProtocolError

__all__ = ["DataPath", "ListenerPath", "sort_events"]

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

cdef extern from "wsf_send.h":
    long wsf_send(int fd, const char *data, size_t n) nogil

from collections import deque
from types import MemberDescriptorType


cdef Py_ssize_t _JOIN_LIMIT = 4096  # wsfast.protocol._JOIN_LIMIT (read at first use)
cdef object _OPEN = None  # wsfast.protocol.State.OPEN, imported at first use (the protocol imports us)
cdef type _PROTOCOL = None  # wsfast.protocol.Protocol

# Where the slots read per message sit in a Protocol object. Protocol declares __slots__, so each
# is a member descriptor at a fixed offset in every instance of Protocol and its subclasses; read
# straight from there, a slot costs a load instead of an attribute lookup (the type's method
# cache, the descriptor, its getter): a dozen lookups were a third of this module's time per
# message. Only used on objects that pass PyObject_TypeCheck(p, Protocol); others take getattr.
cdef Py_ssize_t _O_STATE, _O_FEED, _O_PARSER, _O_CONTROLS, _O_EVENTS, _O_FRAGMENTING, _O_COMPRESSOR
cdef Py_ssize_t _O_MASK, _O_OUT


cdef Py_ssize_t _offset(type cls, str name) except -1:
    descr = cls.__dict__[name]
    if type(descr) is not MemberDescriptorType:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>descr).d_member.offset


cdef int _init() except -1:
    global _OPEN, _JOIN_LIMIT, _PROTOCOL, _O_STATE, _O_FEED, _O_PARSER, _O_CONTROLS, _O_EVENTS
    global _O_FRAGMENTING, _O_COMPRESSOR, _O_MASK, _O_OUT
    from wsfast import protocol
    cls = protocol.Protocol
    _O_STATE = _offset(cls, "_state")
    _O_FEED = _offset(cls, "_feed")
    _O_PARSER = _offset(cls, "_parser")
    _O_CONTROLS = _offset(cls, "_controls")
    _O_EVENTS = _offset(cls, "_events")
    _O_FRAGMENTING = _offset(cls, "_fragmenting")
    _O_COMPRESSOR = _offset(cls, "_compressor")
    _O_MASK = _offset(cls, "_mask")
    _O_OUT = _offset(cls, "_out")
    _JOIN_LIMIT = protocol._JOIN_LIMIT
    _PROTOCOL = cls
    _OPEN = protocol.State.OPEN
    return 0


cdef inline PyObject *_slot(object p, Py_ssize_t offset) noexcept:
    """The slot's object (borrowed), NULL when unset."""
    return (<PyObject **>((<char *><PyObject *>p) + offset))[0]


cdef inline bint _ours(object p) except -1:
    """``p`` is a Protocol (its slots are where _init found them)."""
    if _OPEN is None:
        _init()
    return PyObject_TypeCheck(p, <PyTypeObject *>_PROTOCOL)


cdef inline object _receive(object p, object data):
    cdef PyObject *events
    if not _ours(p) or _slot(p, _O_STATE) != <PyObject *>_OPEN or _slot(p, _O_FEED) == NULL:
        return p.receive(data)
    try:
        evs = (<object>_slot(p, _O_FEED))(data)
    except ProtocolError as exc:
        p._protocol_error(exc)
        return p.events()
    except MemoryError as exc:
        p._parse_failed(exc)
        return p.events()
    events = _slot(p, _O_EVENTS)
    if (events != NULL and not <object>events and _slot(p, _O_PARSER) != NULL
            and (<object>_slot(p, _O_PARSER)).control_frames == <object>_slot(p, _O_CONTROLS)):
        return evs
    p._process(evs)
    return p.events()


cdef inline bytes _frame(unsigned char b0, bytes payload):
    """An unmasked final frame: header and payload in one bytes object."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
    cdef bytes frame = PyBytes_FromStringAndSize(NULL, wsf_header_size(n) + n)
    cdef unsigned char *out = <unsigned char *>PyBytes_AS_STRING(frame)
    out += wsf_header_write(out, b0, 0, n)
    if n:
        memcpy(out, PyBytes_AS_STRING(payload), <size_t>n)
    return frame


cdef inline PyObject *_plain(object p, Py_ssize_t n) except? NULL:
    """The protocol's output list when it would queue this payload as one plain frame, encoded
    whole (an open server connection, no fragments, no compression, n <= _JOIN_LIMIT); else NULL."""
    cdef PyObject *out
    cdef PyObject *fragmenting
    if n > _JOIN_LIMIT or not _ours(p):
        return NULL
    out = _slot(p, _O_OUT)
    fragmenting = _slot(p, _O_FRAGMENTING)
    if (out == NULL or type(<object>out) is not list or fragmenting == NULL
            or _slot(p, _O_STATE) != <PyObject *>_OPEN or <object>fragmenting
            or _slot(p, _O_COMPRESSOR) != <PyObject *>None or _slot(p, _O_MASK) != <PyObject *>None):
        return NULL
    return out


cdef inline int _send_text(object p, object data) except -1:
    cdef bytes payload
    cdef PyObject *out
    cdef list queue
    if type(data) is str:
        payload = PyUnicode_AsUTF8String(data)
        out = _plain(p, PyBytes_GET_SIZE(payload))
        if out != NULL:
            queue = <list>out  # a reference of our own: making the frame may run other code (GC)
            PyList_Append(queue, _frame(0x81, payload))
            return 0
    p.send_text(data)
    return 0


cdef inline int _send_binary(object p, object data) except -1:
    cdef PyObject *out
    cdef list queue
    if type(data) is bytes:
        out = _plain(p, PyBytes_GET_SIZE(data))
        if out != NULL:
            queue = <list>out  # a reference of our own (see _send_text)
            PyList_Append(queue, _frame(0x82, <bytes>data))
            return 0
    p.send_binary(data)
    return 0


cdef inline list _data_to_send(object p):
    cdef list out = p._out
    if PyList_GET_SIZE(out):
        p._out = []
    return out


@cython.auto_pickle(False)  # a view of a live protocol: nothing to pickle
cdef class DataPath:
    """One protocol's data path (see the reference's docstring)."""
    cdef object _protocol

    def __init__(self, protocol):
        self._protocol = protocol

    def receive(self, data):
        return _receive(self._protocol, data)

    def send_text(self, data):
        """One final text frame."""
        _send_text(self._protocol, data)

    def send_binary(self, data):
        """One final binary frame."""
        _send_binary(self._protocol, data)

    def data_to_send(self):
        return _data_to_send(self._protocol)


def sort_events(list events, messages, text_cls, binary_cls, bint hand_over):
    """A batch sorted for the asyncio connection's message queue: (handed, messages, others)."""
    cdef object handed = None
    cdef list others = None
    cdef object kind, message
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
                messages = deque()
            messages.append(message)
    return handed, messages, others


@cython.auto_pickle(False)  # glue between live objects: nothing to pickle
cdef class ListenerPath:
    cdef object _conn
    cdef object _protocol
    cdef object _view
    cdef object _on_message
    cdef object _text_cls
    cdef object _binary_cls
    cdef object _transport
    cdef object _transport_write
    cdef object _buffered  # the transport's get_write_buffer_size
    cdef object _closing  # ...and is_closing
    cdef int _fd  # its socket, when we may send on it ourselves (see _write), else -1
    cdef object _last_view  # the last view of the read buffer we fed (see buffer_updated)
    cdef Py_ssize_t _write_high
    cdef bint _in_read
    cdef Py_ssize_t _queued

    def __init__(self, conn, protocol, view, on_message, transport, Py_ssize_t write_high, int fd=-1):
        self._conn = conn
        self._fd = fd
        self._buffered = transport.get_write_buffer_size
        self._closing = transport.is_closing
        self._protocol = protocol
        self._view = view
        self._text_cls, self._binary_cls = protocol.message_types
        self._on_message = on_message
        self._transport = transport
        self._transport_write = transport.write
        self._write_high = write_high
        self._in_read = False
        self._queued = 0

    def get_buffer(self, sizehint):
        return self._view

    def buffer_updated(self, Py_ssize_t nbytes):
        # reads of one size (an interactive peer's messages) reuse one view of the read buffer
        # instead of making one per read: the protocol copies what it keeps, never the view
        view = self._last_view
        if view is None or len(view) != nbytes:
            view = self._last_view = self._view[:nbytes]
        self._data_received(view)

    def data_received(self, data):
        self._data_received(data)

    def deliver(self, list events):
        self._deliver(events)

    # the methods above call these C functions directly (a def method called by name is looked up
    # on the type at every call)

    cdef int _data_received(self, data) except -1:
        try:
            events = _receive(self._protocol, data)
        except InvalidState:
            return 0
        except MemoryError as exc:
            self._conn._out_of_memory(exc)
            return 0
        if events:
            self._deliver(events)
        return 0

    cdef int _deliver(self, list events) except -1:
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
            return 0
        except Exception:
            self._in_read = False
            conn._listener_failed()
        self._in_read = False
        if self._queued:
            self._queued = 0
            if other:
                conn._flush()
            else:
                self._write()
        if other:
            conn._after_io()
        return 0

    cdef int _write(self) except -1:
        cdef list out = self._protocol._out
        cdef object piece
        if PyList_GET_SIZE(out) != 1:
            if PyList_GET_SIZE(out):
                self._conn._write(_data_to_send(self._protocol))
            return 0
        # one piece (the usual answer): taken out of the protocol's list, which stays (the
        # reference's data_to_send() hands the list over and makes a new one: same bytes out)
        piece = <object>PyList_GET_ITEM(out, 0)
        del out[0]
        cdef long sent
        cdef Py_ssize_t size
        if self._fd >= 0 and type(piece) is bytes and not self._buffered() and not self._closing():
            # nothing waits in the transport: the socket takes the answer now, as the transport's
            # write() would (a lone send() on a non-blocking socket), without its Python code;
            # what it does not take (and any error) goes through the transport after all
            size = PyBytes_GET_SIZE(piece)
            sent = wsf_send(self._fd, PyBytes_AS_STRING(piece), <size_t>size)
            if sent == size:
                return 0
            if sent > 0:
                piece = piece[sent:]
        try:
            self._transport_write(piece)
        except MemoryError as exc:
            self._conn._out_of_memory(exc, drop=True)
        return 0

    def send_now(self, message):
        if not self._in_read and self._transport.is_closing():
            self._conn._send_refused()
        if type(message) is str:
            _send_text(self._protocol, message)
        else:
            _send_binary(self._protocol, message)
        if self._in_read:
            self._queued += len(message) or 1
            if self._queued >= self._write_high:
                self._queued = 0
                self._write()
        else:
            self._conn._schedule_flush(len(message))
