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
  of events per feed. They share one base (_Event) for equality, hash, repr,
  pickling and the ``data`` field, and come from that base's free list; they
  are not tracked by the cyclic GC (see _Event).
- permessage-deflate (RFC 7692) runs on zlib's C API (src/deflate.c): a
  compressed payload is unmasked through a small scratch buffer and inflated
  straight into the message's buffer, never more than the size limit + 1
  byte. Where zlib could not be linked at build time the same steps run on
  Python's zlib module (wsfast/_deflate_py.py), with one copy of each
  inflated piece. ``ZLIB`` says which.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_Check
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport (NOGIL_THRESHOLD, WSF_Z_END, WSF_Z_ERROR, WSF_Z_NOMEM, wsf_deflate, wsf_deflate_bound,
                          wsf_deflater, wsf_deflater_free, wsf_deflater_give, wsf_deflater_new, wsf_deflater_take,
                          wsf_inflate, wsf_inflate_error, wsf_inflater, wsf_inflater_free, wsf_inflater_give,
                          wsf_inflater_new, wsf_inflater_reset, wsf_inflater_set_window, wsf_inflater_take,
                          wsf_inflater_window, wsf_mask, wsf_utf8_decoder,
                          wsf_utf8_feed, wsf_utf8_finish, wsf_utf8_init, wsf_utf8_state, wsf_utf8_validate,
                          wsf_zlib_linked,
                          wsf_zlib_version)
from wsf_kernels cimport (WSF_HDR_E_FRAME_TOO_BIG, WSF_HDR_E_MESSAGE_TOO_BIG, WSF_HDR_E_NOT_MINIMAL, WSF_HDR_E_TOP_BIT,
                          wsf_header_check_start, wsf_header_size, wsf_header_write)
from wsf_text cimport text_decoder, utf8_to_str

import os

from wsfast import _deflate_py
from wsfast._deflate_py import corrupt_data
from wsfast._defaults import MAX_MESSAGE_SIZE
from wsfast._twin_helpers import (check_mask, check_options, close_fields, event_bytes, event_text, header_error,
                                  short_repr, too_big_inflated)
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

__all__ = ["FrameParser", "encode_frame", "encode_message", "Compressor", "TextMessage", "BinaryMessage", "Ping",
           "Pong", "Close", "ZLIB"]

cdef enum:
    MAX_CONTROL = 125
    GUESS_MAX = 16777216       # a compressed message's first buffer guesses at most this much
    SCRATCH = 65536            # compressed pieces up to this size are unmasked in a shared buffer
    INFLATE_FIRST = 1024       # a compressed message's buffer starts at least this large
    STEP = 16384               # output bytes per inflate() call (as wsfast._deflate_py.STEP)

# the flush marker a sender removes from a compressed message, appended before inflating
cdef const unsigned char *_TAIL = <const unsigned char *>b"\x00\x00\xff\xff"
# Every parser of the process unmasks compressed payloads here: inflating holds the GIL, and a
# parser's feed() is never re-entered, so one buffer serves them all (nothing per connection).
cdef unsigned char _scratch[SCRATCH + 4]

# zlib's C API when it was linked at build time; else (or after _use_python_zlib(True), for
# tests) Python's zlib module, for parsers and compressors created from then on
cdef bint _c_zlib = wsf_zlib_linked()
ZLIB = (f"zlib {wsf_zlib_version().decode()} (C API, linked)" if _c_zlib
        else "Python's zlib module (zlib was not linked at build time)")


def _use_python_zlib(flag):
    """Tests: make parsers and compressors created from now on use Python's zlib module
    (what a build without zlib does) or, with False, zlib's C API again (if linked)."""
    global _c_zlib
    _c_zlib = (not flag) and wsf_zlib_linked()

cdef unsigned long long NO_LIMIT = 0xFFFFFFFFFFFFFFFFULL

cdef object _OP_TEXT = Opcode.TEXT
cdef object _OP_BINARY = Opcode.BINARY
cdef object _OP_PING = Opcode.PING
cdef object _OP_PONG = Opcode.PONG
cdef object _OP_CLOSE = Opcode.CLOSE
cdef object _INVALID_PAYLOAD = CloseCode.INVALID_PAYLOAD
cdef object _INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
cdef str _TEXT_INVALID = "invalid UTF-8 in a text message"
cdef str _BUSY = "FrameParser.feed() called while another feed() of the same parser is running"
cdef bytes _EMPTY = b""


# -- events ----------------------------------------------------------------------------------------

@cython.freelist(512)
@cython.no_gc
cdef class _Event:
    """What the five events share: equality by class name and fields (so compiled and pure
    events compare equal), hash, repr and pickling, all driven by the class's ``_fields``;
    and ``data``, the one field all five have.

    ``data`` lives here so that the four one-field events are exactly this struct's size:
    the free list below (Cython keeps one only on a base class) then serves all four, and
    a parser's events are recycled instead of allocated (a 16 B message costs ~10-20% more
    without it). ``data`` is always an exact str or bytes (the constructors and the parser
    make sure), which can refer to nothing: the events need no cyclic GC, whose
    tracking and collections cost a parse of 16 B text messages 30-50%.
    """
    cdef readonly object data
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
    """A complete text message (fragments joined, validated, decoded): ``data`` is its str,
    or its validated UTF-8 bytes from a parser made with ``decode_text=False``."""
    opcode = _OP_TEXT
    _fields = ("data",)

    def __init__(self, data):
        self.data = event_text(data, "TextMessage")


@cython.final
cdef class BinaryMessage(_Event):
    """A complete binary message (fragments joined)."""
    opcode = _OP_BINARY
    _fields = ("data",)

    def __init__(self, data):
        self.data = event_bytes(data, "BinaryMessage")


@cython.final
cdef class Ping(_Event):
    opcode = _OP_PING
    _fields = ("data",)

    def __init__(self, data=b""):
        self.data = event_bytes(data, "Ping")


@cython.final
cdef class Pong(_Event):
    opcode = _OP_PONG
    _fields = ("data",)

    def __init__(self, data=b""):
        self.data = event_bytes(data, "Pong")


@cython.final
cdef class Close(_Event):
    """A close frame: ``code`` (1005 when it had no payload), ``reason``, raw payload ``data``."""
    cdef readonly object code
    cdef readonly str reason
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


cdef TextMessage _utf8_event(const unsigned char *src, Py_ssize_t n, const unsigned char *key):
    """A whole text payload kept as validated UTF-8 bytes (decode_text=False), unmasked with
    ``key`` (NULL: not masked)."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
    cdef int ok
    if key != NULL:
        _unmask(dst, src, n, key, 0)
    else:
        memcpy(dst, src, <size_t>n)
    if n >= NOGIL_THRESHOLD:
        with nogil:
            ok = wsf_utf8_validate(dst, <size_t>n)
    else:
        ok = wsf_utf8_validate(dst, <size_t>n)
    if not ok:
        raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
    return _raw_text_event(out)


cdef inline TextMessage _raw_text_event(bytes utf8):
    cdef TextMessage ev = TextMessage.__new__(TextMessage)
    ev.data = utf8
    return ev


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


cdef unsigned char *_reserve(GrowBuf *b, Py_ssize_t extra, Py_ssize_t target,
                             unsigned long long most) except NULL:
    """Room for `extra` more bytes: the buffer grows to at least twice its size and to
    `target` (a guess from data in hand), never beyond `most` bytes, always to what is needed.

    Doubling makes many small pieces cost amortized O(1) each. A size a header
    only declares is never a target, just a ceiling (`most`): a peer that
    announces the largest frame the size limit allows and sends 15 bytes of it
    costs 15 bytes, not a reservation (hundreds of such connections would
    otherwise take gigabytes of address space), and a payload spread over reads
    ends at its exact size, with no final resize.
    """
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap
    cdef object fresh
    if need <= b.cap:
        return <unsigned char *>PyBytes_AS_STRING(<object>b.obj) + b.len
    cap = 2 * b.cap
    if cap < target:
        cap = target
    if <unsigned long long>cap > most:
        cap = <Py_ssize_t>most
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


# -- permessage-deflate: receiving ------------------------------------------------------------------

@cython.final
cdef class _Inflate:
    """The decompressor state of one parser.

    On zlib's C API (``z``): a peer that keeps its compressor's history gets a
    decompressor of our own for the connection's life; for one that resets it
    per message, a decompressor is taken from a pool for each compressed
    message and given back after, so an idle connection holds none. On
    Python's zlib module (``py``): wsfast._deflate_py.Inflater does the work.
    """
    cdef wsf_inflater *z
    cdef object py
    cdef bytes parked  # while idle with context takeover: the window, without the decompressor
    cdef int bits
    cdef bint takeover
    cdef bint ended  # the stream ended inside the current message: the rest of it is ignored
    cdef bint used   # inflated something since the last park_idle()

    def __cinit__(self):
        self.z = NULL

    def __dealloc__(self):
        self.release()

    cdef void release(self) noexcept:
        if self.z != NULL:
            if self.takeover:
                wsf_inflater_free(self.z)
            else:
                wsf_inflater_give(self.z)
            self.z = NULL

    cdef wsf_inflater *stream(self) except NULL:
        """The decompressor for the current message."""
        cdef bytes window
        self.used = True
        if self.z == NULL:
            self.z = wsf_inflater_new(self.bits) if self.takeover else wsf_inflater_take(self.bits)
            if self.z == NULL:
                raise MemoryError("no memory for a decompressor")
            window = self.parked
            if window is not None:
                self.parked = None
                if wsf_inflater_set_window(self.z, <const unsigned char *>PyBytes_AS_STRING(window),
                                           <size_t>PyBytes_GET_SIZE(window)) != 0:
                    raise MemoryError("the decompressor could not take back its window")
        return self.z

    cdef bint park_idle(self) except -1:
        """Nothing inflated since the last call (and no compressed message in progress: the
        caller's check): free the decompressor, keeping only its window (the peer may still refer
        back to it) to set on the next one. Whether it did."""
        cdef bytes window
        cdef object keep
        cdef size_t n
        if self.py is not None:
            return self.py.park_idle()
        idle = not self.used
        self.used = False
        if not idle or not self.takeover or self.z == NULL or self.ended:
            return False
        keep = PyBytes_FromStringAndSize(NULL, 1 << self.bits)
        n = wsf_inflater_window(self.z, <unsigned char *>PyBytes_AS_STRING(keep))
        window = keep[:n] if n < <size_t>(1 << self.bits) else keep
        wsf_inflater_free(self.z)
        self.z = NULL
        self.parked = window
        return True

    cdef int end_message(self, bytes output) except -1:
        """The current message is complete (``output``: what it inflated to)."""
        cdef int rc
        if self.py is not None:
            self.py.end_message(output)
        elif not self.takeover:
            self.release()
        elif self.ended and self.z != NULL:
            rc = wsf_inflater_reset(self.z, 1)
            if rc == WSF_Z_NOMEM:
                raise MemoryError("no memory to restart the decompressor")
            if rc != 0:
                raise corrupt_data("the decompressor could not restart")
        self.ended = False
        return 0


cdef _Inflate _new_inflate(object params):
    cdef _Inflate inf = _Inflate.__new__(_Inflate)
    inf.bits = params.remote_max_window_bits
    inf.takeover = not params.remote_no_context_takeover
    if not _c_zlib:
        inf.py = _deflate_py.Inflater(params)
    return inf


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
    message's payload, summed over its fragments: checked from each header
    before its payload is buffered, and for a compressed message while it is
    inflated (never more than the limit + 1 byte is produced).
    ``extensions``: empty, or the agreed permessage-deflate parameters (see
    :class:`wsfast.extensions.Extension`). A violation raises ProtocolError with
    the close code to send and ``.events`` = what this feed completed first;
    the parser is then failed (``failed``/``error``) and every later feed
    raises the same error again. Compressed messages are inflated in the
    same pieces as the pure-Python twin does (see its docstring).
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
    # the data message being assembled (_m_op == 0: none)
    cdef int _m_op
    cdef unsigned char _m_rsv            # RSV1: compressed
    cdef bint _m_tail                    # compressed: the flush marker went with the last piece
    cdef unsigned long long _m_size      # wire payload bytes so far
    cdef GrowBuf _msg                    # the payload (inflated, for a compressed message)
    cdef _Inflate _inflate               # None unless permessage-deflate was agreed
    cdef bint _busy                      # inside feed(): a second feed() must not touch the buffers
    cdef wsf_utf8_state _utf8
    cdef readonly unsigned long long control_frames  # control events returned so far (cheap check)
    cdef public bint decode_text  # False: text messages come as their validated UTF-8 bytes

    def __cinit__(self):
        self._msg.obj = NULL
        self._f_left = -1

    def __init__(self, *, client=False, max_message_size=MAX_MESSAGE_SIZE, extensions=(), decode_text=True):
        if self._busy:
            raise RuntimeError(_BUSY)
        self.decode_text = decode_text
        limit, deflate = check_options(max_message_size, extensions)
        self._limit = NO_LIMIT if limit >= NO_LIMIT else <unsigned long long>limit
        self._inflate = _new_inflate(deflate) if deflate is not None else None
        self._owned = 0x40 if deflate is not None else 0
        self._mask_bit = 0 if client else 0x80
        self._error = None
        self.control_frames = 0
        self._hdr_len = 0
        self._f_left = -1
        self._ctrl_len = 0
        self._m_op = 0
        self._m_rsv = 0
        self._m_size = 0
        _drop(&self._msg)

    def __dealloc__(self):
        _drop(&self._msg)

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

    def release_idle(self):
        """Called now and then (at each keepalive ping): when nothing was inflated since the last
        call and no compressed message is in progress, free the decompressor (a peer that keeps
        its context may still refer back to its window: only the window is kept, and set on the
        next one). Whether it did."""
        if self._inflate is None:
            return False
        if self._m_op != 0 and self._m_rsv:
            return False
        return self._inflate.park_idle()

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
        if self._busy:  # another thread, or code run during feed() (a finalizer): its buffers are in use
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
                    if not self.decode_text:
                        events.append(_utf8_event(data + pos, <Py_ssize_t>h.length, h.key if h.masked else NULL))
                    elif h.masked:
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
            if (h.b0 == 0xC1 or h.b0 == 0xC2) and h.length <= <unsigned long long>(end - pos):
                # a whole compressed message in this chunk: one piece, flush marker included
                self._payload(data + pos, <Py_ssize_t>h.length)
                pos += <Py_ssize_t>h.length
                self._end_frame(events)

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
                raise header_error(WSF_HDR_E_NOT_MINIMAL)
        elif length == 127:
            hl = 10
            if avail < 10:
                return 0
            length = ((<unsigned long long>p[2] << 56) | (<unsigned long long>p[3] << 48) |
                      (<unsigned long long>p[4] << 40) | (<unsigned long long>p[5] << 32) |
                      (<unsigned long long>p[6] << 24) | (<unsigned long long>p[7] << 16) |
                      (<unsigned long long>p[8] << 8) | <unsigned long long>p[9])
            if length >> 63:
                raise header_error(WSF_HDR_E_TOP_BIT)
            if length < 65536:
                raise header_error(WSF_HDR_E_NOT_MINIMAL)
        if b0 & 8:
            if length > self._limit:
                raise header_error(WSF_HDR_E_FRAME_TOO_BIG, length)
        elif (b0 | self._m_rsv) & 0x40:
            pass  # compressed: the limit applies to what it inflates to, checked while inflating
        elif length > self._limit - self._m_size:
            raise header_error(WSF_HDR_E_MESSAGE_TOO_BIG, self._m_size + length)
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
        """The rules on a header's first two bytes, in order (wsf_header.h); raises the first broken one."""
        cdef int code = wsf_header_check_start(b0, b1, self._m_op != 0, self._owned, self._mask_bit)
        if code:
            raise header_error(code, b0 & 0x0F)
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
            self._m_tail = False
            if op == 1:
                wsf_utf8_init(&self._utf8)
        self._m_size += h.length

    cdef int _payload(self, const unsigned char *src, Py_ssize_t n) except -1:
        """The next piece of the current frame's payload: unmask into place, check text."""
        cdef unsigned char *dst
        cdef GrowBuf *buf
        cdef unsigned long long most
        cdef bint tail
        if self._f_op >= 8:
            dst = self._ctrl + self._ctrl_len
            self._ctrl_len += n
        elif self._m_rsv:
            self._f_left -= n
            tail = self._f_fin and self._f_left == 0  # the message's last piece
            if tail:
                self._m_tail = True
            return self._inflate_piece(src, n, tail)
        else:
            buf = &self._msg
            most = self._limit
            # the message ends with this frame: not one byte more (both terms < 2**63: no overflow)
            if self._f_fin and <unsigned long long>buf.len + <unsigned long long>self._f_left < most:
                most = <unsigned long long>buf.len + <unsigned long long>self._f_left
            dst = _reserve(buf, n, 0, most)
            buf.len += n
        if self._f_masked:
            _unmask(dst, src, n, self._f_key, self._f_phase)
            self._f_phase = (self._f_phase + <size_t>n) & 3
        else:
            memcpy(dst, src, <size_t>n)
        self._f_left -= n
        if self._m_op == 1 and self._f_op < 8:
            if not wsf_utf8_feed(&self._utf8, dst, <size_t>n):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
        return 0

    cdef int _inflate_piece(self, const unsigned char *src, Py_ssize_t n, bint tail) except -1:
        """Inflate one piece of a compressed message (plus the flush marker if ``tail``) into the
        message's buffer, at most the room left + 1 byte; then check what it added: text first,
        then the size limit (the pure twin's order).

        zlib gets the whole piece as one input and at most STEP bytes of room per call, as in
        wsfast/_deflate_py.py, so both implementations accept and refuse the same streams. A
        masked piece is unmasked (and the marker appended) into the shared scratch buffer, or
        a temporary one when it is larger.
        """
        cdef GrowBuf *buf = &self._msg
        cdef Py_ssize_t start = buf.len, cap, size
        cdef const unsigned char *inp = src
        cdef unsigned char *tmp = NULL
        cdef unsigned char *dst
        cdef _Inflate inf = self._inflate
        # the most the buffer may hold: limit + 1 (saturated)
        cap = PY_SSIZE_T_MAX
        if self._limit < <unsigned long long>PY_SSIZE_T_MAX:
            cap = <Py_ssize_t>self._limit + 1
        if inf.ended:  # after the end of the deflate stream the message carries nothing more
            if self._f_masked:
                self._f_phase = (self._f_phase + <size_t>n) & 3
            return 0
        size = n + (4 if tail else 0)
        if self._f_masked or tail:
            if size <= SCRATCH:
                dst = _scratch
            else:
                tmp = <unsigned char *>PyMem_Malloc(<size_t>size)
                if tmp == NULL:
                    raise MemoryError("no memory to unmask a compressed frame")
                dst = tmp
            if n == 0:
                pass
            elif self._f_masked:
                _unmask(dst, src, n, self._f_key, self._f_phase)
                self._f_phase = (self._f_phase + <size_t>n) & 3
            else:
                memcpy(dst, src, <size_t>n)
            if tail:
                memcpy(dst + n, _TAIL, 4)
            inp = dst
        try:
            if inf.py is not None:
                self._inflate_python(inp, size, cap)
            else:
                self._inflate_c(inf.stream(), inp, size, cap)
        finally:
            PyMem_Free(tmp)
        if buf.len == start:
            return 0
        if self._m_op == 1 and not wsf_utf8_feed(
                &self._utf8, <const unsigned char *>PyBytes_AS_STRING(<object>buf.obj) + start,
                <size_t>(buf.len - start)):
            raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
        if <unsigned long long>buf.len > self._limit:
            raise too_big_inflated(self._limit)
        return 0

    cdef int _inflate_c(self, wsf_inflater *z, const unsigned char *src, Py_ssize_t n, Py_ssize_t cap) except -1:
        """zlib's inflate() from src into the message buffer, STEP bytes of room at a time, until
        the input is used up, the stream ends, or the buffer holds ``cap`` bytes."""
        cdef GrowBuf *buf = &self._msg
        cdef const unsigned char *inp = src
        cdef size_t in_len = <size_t>n, out_len, step
        cdef unsigned char *out
        cdef unsigned char *base
        cdef Py_ssize_t guess
        cdef int rc
        while True:
            step = STEP if cap - buf.len > STEP else <size_t>(cap - buf.len)
            if buf.cap - buf.len < <Py_ssize_t>step:
                # the first growth guesses from the compressed size; later ones double
                guess = n * 4 if n < GUESS_MAX else GUESS_MAX
                if guess < INFLATE_FIRST:
                    guess = INFLATE_FIRST
                if guess > cap - buf.len:
                    guess = cap - buf.len
                _reserve(buf, <Py_ssize_t>step, buf.len + guess, <unsigned long long>cap)
            base = <unsigned char *>PyBytes_AS_STRING(<object>buf.obj)
            out = base + buf.len
            out_len = step
            rc = wsf_inflate(z, &inp, &in_len, &out, &out_len)
            buf.len = out - base
            if rc == WSF_Z_END:
                self._inflate.ended = True
                return 0
            if rc == WSF_Z_ERROR:
                raise corrupt_data(wsf_inflate_error(z).decode("utf-8", "replace"))
            if rc == WSF_Z_NOMEM:
                raise MemoryError("no memory to inflate")
            if out_len > 0 or buf.len >= cap:  # the input is used up, or no room is left
                return 0

    cdef int _inflate_python(self, const unsigned char *src, Py_ssize_t n, Py_ssize_t cap) except -1:
        """The same on Python's zlib module (wsfast._deflate_py.Inflater), copying its output in."""
        cdef GrowBuf *buf = &self._msg
        cdef Py_ssize_t m
        for out in self._inflate.py.inflate(PyBytes_FromStringAndSize(<const char *>src, n), cap - buf.len):
            m = PyBytes_GET_SIZE(out)
            memcpy(_reserve(buf, m, buf.len + m, NO_LIMIT), PyBytes_AS_STRING(out), <size_t>m)
            buf.len += m
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
        if not self._f_fin:
            return 0
        if self._m_rsv:
            if not self._m_tail:  # the last frame was empty: the marker on its own
                self._inflate_piece(NULL, 0, True)
            data = _take(&self._msg)
            self._inflate.end_message(data)
        else:
            data = None
        if self._m_op == 1:
            if not wsf_utf8_finish(&self._utf8):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
            if not self.decode_text:  # the validated UTF-8, as bytes
                ev = _raw_text_event(data if data is not None else _take(&self._msg))
            elif data is not None:
                text = _decode_text(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
            elif self._msg.obj == NULL:
                text = ""
            else:
                text = _decode_text(<const unsigned char *>PyBytes_AS_STRING(<object>self._msg.obj), self._msg.len)
                _drop(&self._msg)
            if self.decode_text:
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
    cdef Py_ssize_t hl = wsf_header_size(n)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hl + (4 if masked else 0) + n)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    p += wsf_header_write(p, (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op, masked, n)
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


def encode_message(opcode, payload, *, mask=None, fragment_size=None, rsv1=False, compressor=None):
    """A whole TEXT or BINARY message as a list of frames (for ``transport.writelines``).

    With ``fragment_size`` (payload bytes per frame, >= 1) a longer message is
    split: the first frame carries the opcode and RSV1, the others are
    CONTINUATION frames, the last one is final. Text may be split inside a
    UTF-8 sequence (RFC 6455 validates the whole message). ``mask=True`` draws
    a fresh key from os.urandom for every frame; 4 bytes use that key for all.
    ``compressor`` (a :class:`Compressor` of this implementation, for the
    agreed permessage-deflate): the message is compressed once, as a whole,
    and the compressed payload split (RSV1 set on the first frame).
    """
    cdef int op = _opcode_arg(opcode)
    cdef _Source src
    cdef Py_ssize_t size, start, stop, n
    cdef bint rsv = bool(rsv1)
    cdef bytes packed
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
    if compressor is not None:
        if type(compressor) is not Compressor:
            raise TypeError(f"compressor must be a Compressor of this implementation, not "
                            f"{type(compressor).__name__}")
        packed = (<Compressor>compressor)._compress(src, True)
        src = _Source.__new__(_Source)
        _source(src, packed)
        rsv = True
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


# -- permessage-deflate: sending --------------------------------------------------------------------

@cython.final
cdef class Compressor:
    """Compresses the messages we send on one connection (``params``: the agreed PerMessageDeflate).

    ``compress(data)`` returns a whole message's compressed payload (to send
    with RSV1 set); ``compress(data, fin=False)`` one fragment of a message
    whose end comes later (flushed, so the peer can inflate it as it
    arrives; only the last fragment's flush marker is removed). Messages
    shorter than ``min_size`` are for the caller to send uncompressed.

    With context takeover on our side the zlib stream lives as long as the
    connection. Without it, a compressor is taken from a pool for each
    message and given back after: an idle connection holds none, and
    connections with the same settings compress alike (broadcast sends them
    one frame). Without zlib linked, and for the levels ISA-L replaces where
    the isal package is installed, wsfast._deflate_py.Compressor does it.
    """
    cdef wsf_deflater *z
    cdef object py
    cdef object isal      # wsfast._deflate_py.Compressor on ISA-L, once a message needs it
    cdef object params
    cdef int bits, mem_level, level
    cdef bint takeover
    cdef bint auto        # a message may still move to (or, without context takeover, from) ISA-L
    cdef bint uses_isal
    cdef bint on_isal     # the current message goes to ISA-L
    cdef bint mid         # inside a message sent in fragments
    cdef bint used        # compressed something since the last release_idle()
    cdef Py_ssize_t isal_min_size
    cdef readonly Py_ssize_t min_size

    def __cinit__(self):
        self.z = NULL

    def __init__(self, params):
        if not params.compresses:
            raise ValueError("the agreed window is 8 bits, which zlib cannot compress with: send uncompressed")
        self._release()
        self.bits = params.local_max_window_bits
        self.mem_level = params.mem_level
        self.level = params.level
        self.takeover = not params.local_no_context_takeover
        self.min_size = params.min_size
        self.py = None if _c_zlib else _deflate_py.Compressor(params)
        # ISA-L (where installed, for the levels it replaces) from ISAL_MIN_SIZE bytes, through the pure
        # module's compressor, at the same messages as there (see wsfast/_deflate_py.py)
        self.auto = _c_zlib and _deflate_py.backend(self.level) == "isal"
        self.uses_isal = self.auto
        self.params = params
        self.isal_min_size = _deflate_py.ISAL_MIN_SIZE
        self.isal = None
        self.on_isal = self.mid = self.used = False

    def __dealloc__(self):
        self._release()

    cdef void _release(self) noexcept:
        if self.z != NULL:
            if self.takeover:
                wsf_deflater_free(self.z)
            else:
                wsf_deflater_give(self.z)
            self.z = NULL

    @property
    def backend(self):
        """The engine that compresses: "isal" (the ISA-L package) or "zlib"."""
        return "isal" if self.uses_isal else "zlib" if self.py is None else self.py.backend

    @property
    def has_state(self):
        """Whether a compressor's state (zlib's or ISA-L's) is allocated now."""
        return (self.z != NULL or (self.py is not None and self.py.has_state)
                or (self.isal is not None and self.isal.has_state))

    def release(self):
        """Free the compressor's state now; a later message starts a new one, without the history
        (valid between any two calls: see wsfast/_deflate_py.py)."""
        self._release()
        if self.py is not None:
            self.py.release()
        if self.isal is not None:
            self.isal.release()

    def release_idle(self):
        """:meth:`release` if nothing was compressed since the last call; whether it did."""
        idle = not self.used and not self.mid
        self.used = False
        if idle and self.has_state:
            self.release()
            return True
        return False

    def compress(self, data, fin=True):
        """The compressed payload of ``data`` (str: UTF-8; any bytes-like object)."""
        cdef _Source src = _Source.__new__(_Source)
        _source(src, data)
        return self._compress(src, bool(fin))

    cdef bytes _compress(self, _Source src, bint fin):
        cdef wsf_deflater *z
        cdef PyObject *out
        cdef object keep
        cdef unsigned char *base
        cdef unsigned char *o
        cdef const unsigned char *inp = src.ptr
        cdef size_t in_len = <size_t>src.len, o_len
        cdef Py_ssize_t cap, used = 0
        cdef int rc, flush = 0
        cdef bint big
        self.used = True
        if self.py is not None:
            self.mid = not fin
            return self.py.compress(PyBytes_FromStringAndSize(<const char *>src.ptr, src.len), fin)
        if self.auto and not self.mid:
            big = src.len >= self.isal_min_size
            if big != self.on_isal:
                self.on_isal = big
                if big and self.isal is None:
                    self.isal = _deflate_py.isal_compressor(self.params)
                if self.takeover:  # for good, as in the pure module
                    self.auto = False
                    self._release()
                    self.py = self.isal
        self.mid = not fin
        if self.on_isal:
            return self.isal.compress(PyBytes_FromStringAndSize(<const char *>src.ptr, src.len), fin)
        z = self.z
        if z == NULL:
            z = (wsf_deflater_new(self.bits, self.mem_level, self.level) if self.takeover
                 else wsf_deflater_take(self.bits, self.mem_level, self.level))
            if z == NULL:
                raise MemoryError("no memory for a compressor")
            self.z = z
        cap = <Py_ssize_t>wsf_deflate_bound(z, in_len)
        keep = PyBytes_FromStringAndSize(NULL, cap)
        Py_INCREF(keep)
        out = <PyObject *>keep
        keep = None
        try:
            # as Python's zlib does it: all input with Z_NO_FLUSH, then a sync flush on its own
            while True:
                if cap - used < 64:  # room for the flush marker in one go (zlib asks for > 6 bytes)
                    cap *= 2
                    _PyBytes_Resize(&out, cap)
                base = <unsigned char *>PyBytes_AS_STRING(<object>out)
                o = base + used
                o_len = <size_t>(cap - used)
                rc = wsf_deflate(z, &inp, &in_len, &o, &o_len, flush)
                used = o - base
                if rc != 0:
                    raise RuntimeError("zlib failed to compress")
                if o_len > 0 and in_len == 0:
                    if flush:
                        break
                    flush = 1
            if fin:
                used -= 4  # a sync flush ends with 00 00 ff ff, which RFC 7692 has us remove
                if not self.takeover:
                    self._release()
            _PyBytes_Resize(&out, used)
        except BaseException:
            Py_XDECREF(out)
            self._release()  # its stream is in an unknown state
            raise
        keep = <object>out
        Py_XDECREF(out)
        return <bytes>keep
