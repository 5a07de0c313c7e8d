"""Compiled frame parser and writer (RFC 6455 section 5): Cython over the mask and UTF-8 kernels.

Same behaviour as wsfast/_frames_py.py (the readable reference); what differs
is where the bytes go:

- Frames are parsed straight from the caller's buffer. Only an incomplete
  header (at most 13 bytes) is copied aside between feeds.
- A payload is unmasked once, directly into the object the message ends up
  in: a bytes object of exactly the payload's size for a message complete in
  the chunk, or a growing bytes object (resized in place, no final copy) for
  fragments and payloads spread over reads. ASCII text complete in the chunk
  is unmasked straight into its str; other text is decoded from there.
- Text spread over frames or reads is checked by the incremental SIMD
  validator as each piece lands (1007 in the feed that brings the bad byte);
  a text message complete in one chunk is validated by the decoder itself.
- Events are final cdef classes created without calling __init__; one list
  of events per feed. They share one base (_Event) for equality, hash, repr
  and pickling; Cython keeps no free list for a subclass, and pymalloc makes
  that cost nothing measurable.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_Check
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport (NOGIL_THRESHOLD, wsf_mask, wsf_utf8_decoder, wsf_utf8_feed, wsf_utf8_finish, wsf_utf8_init,
                          wsf_utf8_state)
from wsf_text cimport text_decoder, utf8_to_str

import os

from wsfast._twin_helpers import (check_mask, check_options, close_fields, decode_extensions, event_bytes, event_text,
                                  short_repr)
from wsfast.close import parse_close_payload
from wsfast.enums import CloseCode, Opcode
from wsfast.exceptions import ProtocolError

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    int _PyBytes_Resize(PyObject **string, Py_ssize_t newsize) except -1
    const char *PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t *size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
    bint PyUnicode_IS_ASCII(object o)
    bytes PyUnicode_AsUTF8String(object o)

__all__ = ["FrameParser", "encode_frame", "encode_message", "TextMessage", "BinaryMessage", "Ping", "Pong",
           "Close"]

cdef enum:
    MAX_CONTROL = 125
    PREALLOC_AHEAD = 16777216  # never reserve more than this ahead of the data received

cdef unsigned long long NO_LIMIT = 0xFFFFFFFFFFFFFFFFULL

cdef object _OP_TEXT = Opcode.TEXT
cdef object _OP_BINARY = Opcode.BINARY
cdef object _OP_PING = Opcode.PING
cdef object _OP_PONG = Opcode.PONG
cdef object _OP_CLOSE = Opcode.CLOSE
cdef object _PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR
cdef object _INVALID_PAYLOAD = CloseCode.INVALID_PAYLOAD
cdef object _MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG
cdef object _INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
cdef str _TEXT_INVALID = "invalid UTF-8 in a text message"
cdef str _BUSY = "FrameParser.feed() called while another feed() of the same parser is running"
cdef bytes _EMPTY = b""


# -- events ----------------------------------------------------------------------------------------

cdef class _Event:
    """What the five events share: equality by class name and fields (so compiled and pure
    events compare equal), hash, repr and pickling, all driven by the class's ``_fields``."""
    _fields = ()

    def __eq__(self, other):
        if type(other).__name__ != type(self).__name__:
            return NotImplemented
        try:
            for name in self._fields:
                if getattr(self, name) != getattr(other, name):
                    return False
        except AttributeError:
            return NotImplemented
        return True

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash((type(self).__name__,) + tuple([getattr(self, name) for name in self._fields]))

    def __repr__(self):
        return f"{type(self).__name__}(data={short_repr(getattr(self, 'data'))})"

    def __reduce__(self):
        return (type(self), tuple([getattr(self, name) for name in self._fields]))


@cython.final
cdef class TextMessage(_Event):
    """A complete text message (fragments joined, validated, decoded)."""
    cdef readonly str data
    opcode = _OP_TEXT
    _fields = ("data",)

    def __init__(self, data):
        self.data = event_text(data, "TextMessage")


@cython.final
cdef class BinaryMessage(_Event):
    """A complete binary message (fragments joined)."""
    cdef readonly bytes data
    opcode = _OP_BINARY
    _fields = ("data",)

    def __init__(self, data):
        self.data = event_bytes(data, "BinaryMessage")


@cython.final
cdef class Ping(_Event):
    cdef readonly bytes data
    opcode = _OP_PING
    _fields = ("data",)

    def __init__(self, data=b""):
        self.data = event_bytes(data, "Ping")


@cython.final
cdef class Pong(_Event):
    cdef readonly bytes data
    opcode = _OP_PONG
    _fields = ("data",)

    def __init__(self, data=b""):
        self.data = event_bytes(data, "Pong")


@cython.final
cdef class Close(_Event):
    """A close frame: ``code`` (1005 when it had no payload), ``reason``, raw payload ``data``."""
    cdef readonly object code
    cdef readonly str reason
    cdef readonly bytes data
    opcode = _OP_CLOSE
    _fields = ("code", "reason", "data")

    def __init__(self, code, reason="", data=None):
        self.code, self.reason, self.data = close_fields(code, reason, data)

    def __repr__(self):
        return f"Close(code=CloseCode.{self.code.name}, reason={short_repr(self.reason)})"


cdef inline TextMessage _text_event(str text):
    cdef TextMessage ev = TextMessage.__new__(TextMessage)
    ev.data = text
    return ev


cdef inline BinaryMessage _binary_event(bytes data):
    cdef BinaryMessage ev = BinaryMessage.__new__(BinaryMessage)
    ev.data = data
    return ev


cdef object _control_event(int op, bytes payload):
    cdef Ping ping
    cdef Pong pong
    cdef Close close
    if op == 9:
        ping = Ping.__new__(Ping)
        ping.data = payload
        return ping
    if op == 10:
        pong = Pong.__new__(Pong)
        pong.data = payload
        return pong
    code, reason = parse_close_payload(payload)
    close = Close.__new__(Close)
    close.code = code
    close.reason = reason
    close.data = payload
    return close


cdef const wsf_utf8_decoder *_TEXT_DECODER = text_decoder()  # SIMD UTF-8 -> str, or NULL


cdef str _decode_text(const unsigned char *buf, Py_ssize_t n):
    try:
        return <str>utf8_to_str(buf, n, _TEXT_DECODER)
    except UnicodeDecodeError:
        raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID) from None


cdef inline void _unmask(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                         const unsigned char *key, size_t phase) noexcept:
    if n >= NOGIL_THRESHOLD:
        with nogil:
            wsf_mask(dst, src, <size_t>n, key, phase)
    else:
        wsf_mask(dst, src, <size_t>n, key, phase)


cdef inline bint _is_ascii(const unsigned char *p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i = 0
    cdef unsigned long long acc = 0, word
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        acc |= word
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    return (acc & 0x8080808080808080ULL) == 0


cdef str _masked_text(const unsigned char *src, Py_ssize_t n, const unsigned char *key):
    """Unmask and decode a whole text payload with no intermediate bytes object.

    The payload is unmasked straight into a new ASCII str: if it is ASCII (the
    common case) that str is the result, with no further copy; otherwise it
    is decoded as UTF-8 from there (that str is then dropped unseen).
    """
    cdef object text
    cdef unsigned char *dst
    if n == 0:
        return ""
    text = PyUnicode_New(n, 127)
    dst = <unsigned char *>PyUnicode_DATA(text)
    _unmask(dst, src, n, key, 0)
    if _is_ascii(dst, n):
        return <str>text
    return _decode_text(dst, n)


# -- growing buffers: a bytes object we own alone, resized in place --------------------------------

cdef struct GrowBuf:
    PyObject *obj      # owned reference, or NULL
    Py_ssize_t len     # bytes in use
    Py_ssize_t cap     # size of obj


cdef unsigned char *_reserve(GrowBuf *b, Py_ssize_t extra, Py_ssize_t frame_end,
                             unsigned long long limit) except NULL:
    """Room for `extra` more bytes; `frame_end` = bytes in use once the current frame is in.

    Grows to the end of the current frame at once, but never more than
    PREALLOC_AHEAD beyond the data (a header alone must not make us allocate
    what a large size limit allows: that could fail where the pure twin, which
    buffers what arrives, does not), and at least doubles, so many small
    fragments cost amortized O(1) each.
    """
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap
    cdef object fresh
    if need <= b.cap:
        return <unsigned char *>PyBytes_AS_STRING(<object>b.obj) + b.len
    cap = frame_end
    if cap - need > PREALLOC_AHEAD:
        cap = need + PREALLOC_AHEAD
    if cap < 2 * b.cap:
        cap = 2 * b.cap
        if limit != NO_LIMIT and <unsigned long long>cap > limit:
            cap = <Py_ssize_t>limit
    if cap < need:
        cap = need
    if b.obj == NULL:
        fresh = PyBytes_FromStringAndSize(NULL, cap)
        Py_INCREF(fresh)  # the buffer's own reference; `fresh` goes away with this frame
        b.obj = <PyObject *>fresh
    else:
        try:
            _PyBytes_Resize(&b.obj, cap)
        except MemoryError:  # the object is gone (b.obj is NULL): keep the struct consistent
            b.len = b.cap = 0
            raise
    b.cap = cap
    return <unsigned char *>PyBytes_AS_STRING(<object>b.obj) + b.len


cdef bytes _take(GrowBuf *b):
    """The buffer's bytes as an exact-size bytes object; the buffer is left empty."""
    cdef bytes out
    if b.obj == NULL:
        b.len = 0
        return _EMPTY
    if b.len != b.cap:
        try:
            _PyBytes_Resize(&b.obj, b.len)
        except MemoryError:
            b.len = b.cap = 0
            raise
    out = <bytes>b.obj
    Py_XDECREF(b.obj)  # `out` holds the reference now
    b.obj = NULL
    b.len = 0
    b.cap = 0
    return out


cdef inline void _drop(GrowBuf *b) noexcept:
    Py_XDECREF(b.obj)
    b.obj = NULL
    b.len = 0
    b.cap = 0


# -- parser ----------------------------------------------------------------------------------------

cdef struct Header:
    unsigned char b0
    unsigned char masked
    unsigned char key[4]
    unsigned long long length


@cython.final
cdef class FrameParser:
    """Incremental parser of received frames: ``feed(data)`` -> list of events, in wire order.

    ``client=False`` (we are the server): every frame must be masked;
    ``client=True``: none may be. ``max_message_size`` (None = no limit) caps a
    message's payload, summed over its fragments, checked from each header
    before its payload is buffered, and again after extensions decode it.
    ``extensions``: negotiated extensions owning RSV bits (see
    :class:`wsfast.extensions.Extension`). A violation raises ProtocolError with
    the close code to send and ``.events`` = what this feed completed first;
    the parser is then failed (``failed``/``error``) and every later feed
    raises the same error again.
    """

    cdef unsigned char _mask_bit
    cdef unsigned char _owned
    cdef unsigned long long _limit
    cdef tuple _extensions
    cdef object _error
    cdef unsigned char _hdr[14]
    cdef Py_ssize_t _hdr_len
    # the frame whose payload is being read (_f_left < 0: none)
    cdef int _f_op
    cdef bint _f_fin
    cdef bint _f_masked
    cdef unsigned char _f_key[4]
    cdef size_t _f_phase
    cdef long long _f_left
    cdef unsigned char _ctrl[MAX_CONTROL]
    cdef Py_ssize_t _ctrl_len
    cdef GrowBuf _frame      # a frame an extension decodes, kept whole
    # the data message being assembled (_m_op == 0: none)
    cdef int _m_op
    cdef unsigned char _m_rsv
    cdef unsigned long long _m_size      # wire payload bytes so far
    cdef unsigned long long _m_decoded   # after extensions decoded them
    cdef GrowBuf _msg
    cdef bint _busy                      # inside feed(): a second feed() must not touch the buffers
    cdef list _m_parts                   # decoded pieces (messages with RSV bits)
    cdef wsf_utf8_state _utf8
    cdef readonly unsigned long long control_frames  # control events returned so far (cheap check)

    def __cinit__(self):
        self._msg.obj = NULL
        self._frame.obj = NULL
        self._f_left = -1

    def __init__(self, *, client=False, max_message_size=2**20, extensions=()):
        if self._busy:
            raise RuntimeError(_BUSY)
        limit, self._extensions, owned = check_options(max_message_size, extensions)
        self._limit = NO_LIMIT if limit >= NO_LIMIT else <unsigned long long>limit
        self._owned = owned
        self._mask_bit = 0 if client else 0x80
        self._error = None
        self.control_frames = 0
        self._hdr_len = 0
        self._f_left = -1
        self._ctrl_len = 0
        self._m_op = 0
        self._m_rsv = 0
        self._m_size = 0
        self._m_decoded = 0
        self._m_parts = None
        _drop(&self._msg)
        _drop(&self._frame)

    def __dealloc__(self):
        _drop(&self._msg)
        _drop(&self._frame)

    @property
    def client(self):
        return not self._mask_bit

    @property
    def max_message_size(self):
        return None if self._limit == NO_LIMIT else self._limit

    @property
    def failed(self):
        """True once a violation was raised: the parser accepts nothing more."""
        return self._error is not None

    @property
    def error(self):
        """The violation that failed the parser, or None."""
        return self._error

    @property
    def in_message(self):
        """True while a fragmented message, or a frame's payload, is incomplete."""
        return self._m_op != 0 or self._f_left >= 0 or self._hdr_len != 0

    def feed(self, data):
        """Parse the next chunk of received bytes; return the events it completed."""
        cdef Py_buffer view
        cdef list events = []
        if self._error is not None:
            raise ProtocolError(self._error.close_code, self._error.reason)
        if PyBytes_CheckExact(data):
            self._run(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), events)
            return events
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except TypeError:
            raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
        except BufferError:  # not contiguous
            return self.feed(bytes(memoryview(data)))
        try:
            self._run(<const unsigned char *>view.buf, view.len, events)
        finally:
            PyBuffer_Release(&view)
        return events

    cdef int _run(self, const unsigned char *data, Py_ssize_t end, list events) except -1:
        if self._busy:  # another thread, or an extension's decode(): its buffers are in use
            raise RuntimeError(_BUSY)
        self._busy = True
        try:
            self._parse(data, end, events)
        except ProtocolError as exc:
            exc.events = events
            self._error = exc
            raise
        except BaseException:
            self._error = ProtocolError(_INTERNAL_ERROR, "the frame parser failed")
            raise
        finally:
            self._busy = False
        return 0

    cdef int _parse(self, const unsigned char *data, Py_ssize_t end, list events) except -1:
        cdef Py_ssize_t pos = 0, hl, held, take
        cdef long long left
        cdef Header h
        cdef bytes out
        if self._hdr_len:
            held = self._hdr_len
            take = 14 - held
            if take > end:
                take = end
            memcpy(self._hdr + held, data, <size_t>take)
            hl = self._header(self._hdr, held + take, &h)
            if hl == 0:
                self._hdr_len = held + take
                return 0
            self._hdr_len = 0
            pos = hl - held
            self._begin(&h)
        while True:
            left = self._f_left
            if left >= 0:
                if end - pos < left:
                    if pos < end:
                        self._payload(data + pos, end - pos)
                    return 0
                if left:
                    self._payload(data + pos, <Py_ssize_t>left)
                    pos += <Py_ssize_t>left
                self._end_frame(events)
            if pos >= end:
                return 0
            hl = self._header(data + pos, end - pos, &h)
            if hl == 0:
                memcpy(self._hdr, data + pos, <size_t>(end - pos))
                self._hdr_len = end - pos
                return 0
            if (h.b0 == 0x81 or h.b0 == 0x82) and h.length <= <unsigned long long>(end - pos - hl):
                # a whole unfragmented message, in this chunk: unmask straight into its object
                pos += hl
                if h.b0 == 0x81:
                    if h.masked:
                        events.append(_text_event(_masked_text(data + pos, <Py_ssize_t>h.length, h.key)))
                    else:
                        events.append(_text_event(_decode_text(data + pos, <Py_ssize_t>h.length)))
                else:
                    out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>h.length)
                    if h.masked:
                        _unmask(<unsigned char *>PyBytes_AS_STRING(out), data + pos, <Py_ssize_t>h.length,
                                h.key, 0)
                    else:
                        memcpy(PyBytes_AS_STRING(out), data + pos, <size_t>h.length)
                    events.append(_binary_event(out))
                pos += <Py_ssize_t>h.length
                continue
            pos += hl
            self._begin(&h)

    cdef Py_ssize_t _header(self, const unsigned char *p, Py_ssize_t avail, Header *h) except -1:
        """Header length, or 0 if incomplete; raises for a broken rule.

        Rules are checked in a fixed order, each as soon as its bytes are there:
        the first two bytes, then the extended length (encoding, then size
        limit); the mask key last (same order as the pure-Python twin).
        """
        cdef unsigned char b0, b1
        cdef unsigned long long length
        cdef Py_ssize_t hl = 2
        if avail < 2:
            return 0
        b0 = p[0]
        b1 = p[1]
        if not ((b0 == 0x81 or b0 == 0x82) and self._m_op == 0 and (b1 & 0x80) == self._mask_bit):
            self._check_start(b0, b1)
        length = b1 & 0x7F
        if length == 126:
            hl = 4
            if avail < 4:
                return 0
            length = (<unsigned long long>p[2] << 8) | p[3]
            if length < 126:
                raise ProtocolError(_PROTOCOL_ERROR, "payload length not in its minimal encoding")
        elif length == 127:
            hl = 10
            if avail < 10:
                return 0
            length = ((<unsigned long long>p[2] << 56) | (<unsigned long long>p[3] << 48) |
                      (<unsigned long long>p[4] << 40) | (<unsigned long long>p[5] << 32) |
                      (<unsigned long long>p[6] << 24) | (<unsigned long long>p[7] << 16) |
                      (<unsigned long long>p[8] << 8) | <unsigned long long>p[9])
            if length >> 63:
                raise ProtocolError(_PROTOCOL_ERROR, "64-bit payload length with its top bit set")
            if length < 65536:
                raise ProtocolError(_PROTOCOL_ERROR, "payload length not in its minimal encoding")
        if b0 & 8:
            if length > self._limit:
                raise ProtocolError(_MESSAGE_TOO_BIG, f"frame of {length} bytes exceeds the size limit")
        elif length > self._limit - self._m_size:
            raise ProtocolError(_MESSAGE_TOO_BIG,
                                f"message of {self._m_size + length} bytes exceeds the size limit")
        h.b0 = b0
        h.length = length
        if b1 & 0x80:
            if avail < hl + 4:
                return 0
            h.masked = 1
            memcpy(h.key, p + hl, 4)
            return hl + 4
        h.masked = 0
        return hl

    cdef int _check_start(self, unsigned char b0, unsigned char b1) except -1:
        """The rules on a header's first two bytes, in order; raises the first broken one."""
        cdef int op = b0 & 0x0F
        cdef int rsv = b0 & 0x70
        if op >= 8:
            if op > 10:
                raise ProtocolError(_PROTOCOL_ERROR, f"reserved opcode {op}")
            if not b0 & 0x80:
                raise ProtocolError(_PROTOCOL_ERROR, "fragmented control frame")
            if (b1 & 0x7F) > MAX_CONTROL:
                raise ProtocolError(_PROTOCOL_ERROR, "control frame payload longer than 125 bytes")
            if rsv:
                raise ProtocolError(_PROTOCOL_ERROR, "RSV bit set on a control frame")
        elif op:
            if op > 2:
                raise ProtocolError(_PROTOCOL_ERROR, f"reserved opcode {op}")
            if self._m_op:
                raise ProtocolError(_PROTOCOL_ERROR, "new data frame inside a fragmented message")
            if rsv & ~self._owned:
                raise ProtocolError(_PROTOCOL_ERROR, "RSV bit set without a negotiated extension")
        else:
            if not self._m_op:
                raise ProtocolError(_PROTOCOL_ERROR, "continuation frame without a message to continue")
            if rsv:
                raise ProtocolError(_PROTOCOL_ERROR, "RSV bit set on a continuation frame")
        if (b1 & 0x80) != self._mask_bit:
            raise ProtocolError(_PROTOCOL_ERROR,
                                "unmasked frame from a client" if self._mask_bit else "masked frame from a server")
        return 0

    cdef void _begin(self, Header *h) noexcept:
        """A header is complete: its payload (h.length bytes) comes next."""
        cdef int op = h.b0 & 0x0F
        self._f_op = op
        self._f_fin = (h.b0 & 0x80) != 0
        self._f_masked = h.masked
        memcpy(self._f_key, h.key, 4)
        self._f_phase = 0
        self._f_left = <long long>h.length
        if op >= 8:
            self._ctrl_len = 0
            return
        if op:  # the first frame of a message
            self._m_op = op
            self._m_rsv = h.b0 & 0x70
            self._m_decoded = 0
            if op == 1:
                wsf_utf8_init(&self._utf8)
        self._m_size += h.length

    cdef int _payload(self, const unsigned char *src, Py_ssize_t n) except -1:
        """The next piece of the current frame's payload: unmask into place, check text."""
        cdef unsigned char *dst
        cdef GrowBuf *buf
        cdef Py_ssize_t frame_end
        if self._f_op >= 8:
            dst = self._ctrl + self._ctrl_len
            self._ctrl_len += n
        else:
            buf = &self._frame if self._m_rsv else &self._msg
            # where the frame ends in the buffer (saturated: a declared 2**63-1 must not overflow)
            frame_end = PY_SSIZE_T_MAX
            if self._f_left < PY_SSIZE_T_MAX - buf.len:
                frame_end = buf.len + <Py_ssize_t>self._f_left
            dst = _reserve(buf, n, frame_end, self._limit)
            buf.len += n
        if self._f_masked:
            _unmask(dst, src, n, self._f_key, self._f_phase)
            self._f_phase = (self._f_phase + <size_t>n) & 3
        else:
            memcpy(dst, src, <size_t>n)
        self._f_left -= n
        if self._m_op == 1 and self._f_op < 8 and not self._m_rsv:
            if not wsf_utf8_feed(&self._utf8, dst, <size_t>n):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
        return 0

    cdef int _end_frame(self, list events) except -1:
        """The current frame's payload is complete."""
        cdef bytes payload, data
        cdef object room
        self._f_left = -1
        if self._f_op >= 8:
            payload = PyBytes_FromStringAndSize(<const char *>self._ctrl, self._ctrl_len)
            self._ctrl_len = 0
            events.append(_control_event(self._f_op, payload))
            self.control_frames += 1
            return 0
        if self._m_rsv:
            payload = _take(&self._frame)
            room = None if self._limit == NO_LIMIT else self._limit - self._m_decoded
            payload = decode_extensions(self._extensions, payload, self._m_rsv, self._f_fin, room)
            self._m_decoded += <unsigned long long>PyBytes_GET_SIZE(payload)
            if self._m_decoded > self._limit:
                raise ProtocolError(_MESSAGE_TOO_BIG,
                                    f"decoded message of {self._m_decoded} bytes exceeds the size limit")
            if self._m_op == 1 and not wsf_utf8_feed(
                    &self._utf8, <const unsigned char *>PyBytes_AS_STRING(payload), <size_t>PyBytes_GET_SIZE(payload)):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
            if self._m_parts is None:
                self._m_parts = []
            self._m_parts.append(payload)
        if not self._f_fin:
            return 0
        if self._m_rsv:
            data = b"".join(self._m_parts)
            self._m_parts = None
        else:
            data = None
        if self._m_op == 1:
            if not wsf_utf8_finish(&self._utf8):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
            if data is not None:
                text = _decode_text(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
            elif self._msg.obj == NULL:
                text = ""
            else:
                text = _decode_text(<const unsigned char *>PyBytes_AS_STRING(<object>self._msg.obj), self._msg.len)
                _drop(&self._msg)
            ev = _text_event(text)
        else:
            ev = _binary_event(data if data is not None else _take(&self._msg))
        self._m_op = 0
        self._m_rsv = 0
        self._m_size = 0
        events.append(ev)
        return 0


# -- writer ----------------------------------------------------------------------------------------

cdef int _opcode_arg(object opcode) except -1:
    if isinstance(opcode, bool) or not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int (Opcode), not {type(opcode).__name__}")
    if opcode not in (0, 1, 2, 8, 9, 10):
        raise ValueError(f"opcode {opcode} is reserved")
    return <int>opcode


cdef class _Source:
    """A payload argument as a pointer + length, holding whatever keeps the bytes alive."""
    cdef const unsigned char *ptr
    cdef Py_ssize_t len
    cdef Py_buffer view
    cdef bint has_view
    cdef object keep

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)


cdef int _source(_Source src, object payload) except -1:
    if PyBytes_CheckExact(payload):
        src.keep = payload
        src.ptr = <const unsigned char *>PyBytes_AS_STRING(payload)
        src.len = PyBytes_GET_SIZE(payload)
        return 0
    if PyUnicode_Check(payload):
        if PyUnicode_IS_ASCII(payload):  # its own storage is the UTF-8: no copy, nothing cached
            src.ptr = <const unsigned char *>PyUnicode_AsUTF8AndSize(payload, &src.len)
            src.keep = payload
            return 0
        # not ASCII: encode to a temporary (AsUTF8AndSize would keep a copy inside the str for good)
        payload = PyUnicode_AsUTF8String(payload)
        src.keep = payload
        src.ptr = <const unsigned char *>PyBytes_AS_STRING(payload)
        src.len = PyBytes_GET_SIZE(payload)
        return 0
    try:
        PyObject_GetBuffer(payload, &src.view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"payload must be str or a bytes-like object, not {type(payload).__name__}") from None
    except BufferError:
        return _source(src, bytes(memoryview(payload)))
    src.has_view = True
    src.ptr = <const unsigned char *>src.view.buf
    src.len = src.view.len
    return 0


cdef int _key_arg(object mask, unsigned char *key) except -1:
    """1 and the key in `key` if the frame is masked, else 0."""
    if mask is None or mask is False:
        return 0
    if mask is True:
        memcpy(key, PyBytes_AS_STRING(os.urandom(4)), 4)
        return 1
    if PyBytes_CheckExact(mask) and PyBytes_GET_SIZE(mask) == 4:
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 1
    memcpy(key, PyBytes_AS_STRING(check_mask(mask)), 4)
    return 1


cdef bytes _frame(int op, const unsigned char *src, Py_ssize_t n, bint fin, object mask, bint rsv1):
    cdef unsigned char key[4]
    cdef int masked = _key_arg(mask, key)
    cdef Py_ssize_t hl = 2 if n < 126 else (4 if n < 65536 else 10)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hl + (4 if masked else 0) + n)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    cdef int i
    p[0] = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    p[1] = 0x80 if masked else 0
    if n < 126:
        p[1] |= <unsigned char>n
    elif n < 65536:
        p[1] |= 126
        p[2] = <unsigned char>(n >> 8)
        p[3] = <unsigned char>n
    else:
        p[1] |= 127
        for i in range(8):
            p[2 + i] = <unsigned char>((<unsigned long long>n) >> (56 - 8 * i))
    p += hl
    if masked:
        memcpy(p, key, 4)
        _unmask(p + 4, src, n, key, 0)
    else:
        memcpy(p, src, <size_t>n)
    return out


@cython.binding(False)
def encode_frame(opcode, payload=b"", *, fin=True, mask=None, rsv1=False):
    """One frame on the wire: header (+ mask key) + (masked) payload.

    ``payload`` may be str (encoded as UTF-8) or any bytes-like object.
    ``mask``: None for an unmasked (server) frame, 4 bytes for that key, True
    for a fresh key from os.urandom (clients). Control frames must be final
    and at most 125 bytes, and cannot carry RSV1 (ValueError otherwise).
    """
    cdef int op = _opcode_arg(opcode)
    cdef _Source src = _Source.__new__(_Source)
    cdef bint is_fin = bool(fin), is_rsv1 = bool(rsv1)
    _source(src, payload)
    if op >= 8:
        if not is_fin:
            raise ValueError("control frames cannot be fragmented")
        if src.len > MAX_CONTROL:
            raise ValueError(f"control frame payload is {src.len} bytes; at most 125 are allowed")
        if is_rsv1:
            raise ValueError("RSV1 cannot be set on a control frame")
    return _frame(op, src.ptr, src.len, is_fin, mask, is_rsv1)


def encode_message(opcode, payload, *, mask=None, fragment_size=None, rsv1=False):
    """A whole TEXT or BINARY message as a list of frames (for ``transport.writelines``).

    With ``fragment_size`` (payload bytes per frame, >= 1) a longer message is
    split: the first frame carries the opcode and RSV1, the others are
    CONTINUATION frames, the last one is final. Text may be split inside a
    UTF-8 sequence (RFC 6455 validates the whole message). ``mask=True`` draws
    a fresh key from os.urandom for every frame; 4 bytes use that key for all.
    """
    cdef int op = _opcode_arg(opcode)
    cdef _Source src
    cdef Py_ssize_t size, start, stop, n
    cdef bint rsv = bool(rsv1)
    if op != 1 and op != 2:
        raise ValueError("encode_message() sends TEXT or BINARY messages; use encode_frame() for others")
    src = _Source.__new__(_Source)
    _source(src, payload)
    if fragment_size is not None:
        if isinstance(fragment_size, bool) or not isinstance(fragment_size, int):
            raise TypeError(f"fragment_size must be an int or None, not {type(fragment_size).__name__}")
        if fragment_size < 1:
            raise ValueError("fragment_size must be >= 1")
    if mask is not None and mask is not True and mask is not False:
        mask = check_mask(mask)
    n = src.len
    if fragment_size is None or n <= fragment_size:
        return [_frame(op, src.ptr, n, True, mask, rsv)]
    size = fragment_size
    frames = []
    start = 0
    while start < n:
        stop = start + size if n - start > size else n
        frames.append(_frame(op if start == 0 else 0, src.ptr + start, stop - start, stop >= n, mask,
                             rsv and start == 0))
        start = stop
    return frames
