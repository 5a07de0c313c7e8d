"""Compiled per-frame streaming reader: Cython over the header, mask and buffer code in C.

Same behaviour as wsfast/_stream_py.py (the readable reference; see
wsfast.stream for the rules). Headers are parsed and checked by
wsf_header_parse() (src/wsf_header.h). A frame whole in the chunk is
unmasked straight from the caller's buffer into the bytes object it is
delivered in; a payload spread over reads goes into one bytes object that
grows in place (never more than PREALLOC_AHEAD ahead of the data received).
Frame objects are created without calling __init__ (tp_new, then the six
attributes set), which is what makes this mode cheap for small frames.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyObject_SetAttr, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport (
    NOGIL_THRESHOLD,
    WSF_HDR_E_FRAME_TOO_BIG,
    WSF_HDR_E_MESSAGE_TOO_BIG,
    wsf_header,
    wsf_header_parse,
    wsf_mask,
)

from wsfast._twin_helpers import header_error
from wsfast.enums import CloseCode
from wsfast.exceptions import ProtocolError
from wsfast.stream import Frame, reader_options

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject **string, Py_ssize_t newsize) except -1

__all__ = ["FrameReader"]

cdef enum:
    PREALLOC_AHEAD = 16777216  # never reserve more than this ahead of the data received

cdef unsigned long long NO_LIMIT = 0xFFFFFFFFFFFFFFFFULL
cdef object _INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
cdef str _BUSY = "FrameReader.feed() called while another feed() of the same reader is running"
cdef bytes _EMPTY = b""
cdef tuple _NO_ARGS = ()
cdef str _A_OPCODE = "opcode"
cdef str _A_DATA = "data"
cdef str _A_FIN = "fin"
cdef str _A_RSV1 = "rsv1"
cdef str _A_RSV2 = "rsv2"
cdef str _A_RSV3 = "rsv3"


cdef inline void _unmask(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                         const unsigned char *key, size_t phase) noexcept:
    if n >= NOGIL_THRESHOLD:
        with nogil:
            wsf_mask(dst, src, <size_t>n, key, phase)
    else:
        wsf_mask(dst, src, <size_t>n, key, phase)


@cython.final
cdef class FrameReader:
    """Per-frame streaming parser: ``feed(data)`` -> list of frames, one per complete wire frame.

    See :mod:`wsfast.stream` for the rules, the frame objects and the errors.
    """

    cdef unsigned char _mask_bit
    cdef unsigned char _rsv_bits
    cdef unsigned long long _msg_limit
    cdef unsigned long long _frame_limit
    cdef object _cls
    cdef PyTypeObject *_type
    cdef tuple _opcodes
    cdef object _error
    cdef bint _busy
    cdef unsigned char _hdr[14]
    cdef Py_ssize_t _hdr_len
    # the frame whose payload is being read (_left < 0: none)
    cdef unsigned char _b0
    cdef bint _masked
    cdef unsigned char _key[4]
    cdef size_t _phase
    cdef long long _left
    cdef unsigned long long _length
    cdef PyObject *_buf      # the payload so far: a bytes object we own alone, grown in place
    cdef Py_ssize_t _buf_len
    cdef Py_ssize_t _buf_cap
    # a fragmented data message in progress, and its wire size so far
    cdef bint _in_msg
    cdef unsigned long long _msg_size
    cdef bint _partial       # data frames in pieces, items as tuples (see wsfast.stream)
    cdef readonly unsigned long long other_frames

    def __cinit__(self):
        self._buf = NULL
        self._left = -1

    def __init__(self, *, client=False, max_message_size=None, max_frame_size=None, rsv_bits=0,
                 frame_class=Frame, opcodes=None, partial=False):
        if self._busy:
            raise RuntimeError(_BUSY)
        self._partial = bool(partial)
        msg_limit, frame_limit, rsv, self._cls, self._opcodes = reader_options(
            max_message_size, max_frame_size, rsv_bits, frame_class, opcodes)
        self._type = <PyTypeObject *>self._cls
        self._msg_limit = NO_LIMIT if msg_limit >= NO_LIMIT else <unsigned long long>msg_limit
        self._frame_limit = NO_LIMIT if frame_limit >= NO_LIMIT else <unsigned long long>frame_limit
        self._rsv_bits = rsv
        self._mask_bit = 0 if client else 0x80
        self._error = None
        self._hdr_len = 0
        self._left = -1
        self._length = 0
        self._in_msg = False
        self._msg_size = 0
        self.other_frames = 0
        self._drop()

    def __dealloc__(self):
        self._drop()

    @property
    def client(self):
        return not self._mask_bit

    @property
    def failed(self):
        return self._error is not None

    @property
    def error(self):
        return self._error

    @property
    def held(self):
        """The bytes of an incomplete header held since the last feed (b"" when none)."""
        return PyBytes_FromStringAndSize(<const char *>self._hdr, self._hdr_len)

    @property
    def frame_progress(self):
        """(payload bytes received, payload length) of a frame whose payload is incomplete, else None."""
        if self._left < 0:
            return None
        return self._length - <unsigned long long>self._left, self._length

    @property
    def in_message(self):
        """True between the first and the final frame of a fragmented data message."""
        return self._in_msg

    def feed(self, data):
        """Parse the next chunk of received bytes; return the frames it completed."""
        cdef Py_buffer view
        cdef list frames = []
        if self._error is not None:
            again = ProtocolError(self._error.close_code, self._error.reason)
            again.frames = []
            again.rest = _EMPTY
            raise again
        if PyBytes_CheckExact(data):
            self._run(data, <const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), frames)
            return frames
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except TypeError:
            raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
        except BufferError:  # not contiguous
            return self.feed(bytes(memoryview(data)))
        try:
            self._run(data, <const unsigned char *>view.buf, view.len, frames)
        finally:
            PyBuffer_Release(&view)
        return frames

    cdef int _run(self, object source, const unsigned char *data, Py_ssize_t end, list frames) except -1:
        cdef Py_ssize_t start = -1
        cdef bytes held
        if self._busy:
            raise RuntimeError(_BUSY)
        self._busy = True
        try:
            self._parse(data, end, frames, &start)
        except ProtocolError as exc:
            exc.frames = frames
            if start < 0:  # the offending header began in the held bytes
                held = PyBytes_FromStringAndSize(<const char *>self._hdr, self._hdr_len)
                exc.rest = held + PyBytes_FromStringAndSize(<const char *>data, end)
            else:
                exc.rest = PyBytes_FromStringAndSize(<const char *>data + start, end - start)
            self._error = exc
            raise
        except BaseException:
            self._error = ProtocolError(_INTERNAL_ERROR, "the frame reader failed")
            self._error.frames = frames
            self._error.rest = _EMPTY
            raise
        finally:
            self._busy = False
        return 0

    cdef object _frame(self, unsigned char b0, object payload, bint finished=True):
        cdef object frame
        if self._partial:
            return (self._opcodes[b0 & 0x0F], payload, finished, True if b0 & 0x80 else False)
        frame = self._type.tp_new(self._cls, <PyObject *>_NO_ARGS, NULL)
        PyObject_SetAttr(frame, _A_OPCODE, self._opcodes[b0 & 0x0F])
        PyObject_SetAttr(frame, _A_DATA, payload)
        PyObject_SetAttr(frame, _A_FIN, True if b0 & 0x80 else False)
        PyObject_SetAttr(frame, _A_RSV1, True if b0 & 0x40 else False)
        PyObject_SetAttr(frame, _A_RSV2, True if b0 & 0x20 else False)
        PyObject_SetAttr(frame, _A_RSV3, True if b0 & 0x10 else False)
        return frame

    cdef inline int _header(self, const unsigned char *p, Py_ssize_t avail, wsf_header *h) except -1:
        """Header length or 0 (incomplete); raises the ProtocolError for a broken rule."""
        cdef unsigned long long room = self._msg_limit - self._msg_size
        cdef int rc = wsf_header_parse(p, <size_t>avail, self._in_msg, self._rsv_bits, self._mask_bit,
                                       self._frame_limit, room, h)
        if rc >= 0:
            return rc
        if rc == WSF_HDR_E_MESSAGE_TOO_BIG:
            raise header_error(rc, self._msg_size + h.length)
        raise header_error(rc, h.length if rc == WSF_HDR_E_FRAME_TOO_BIG else p[0] & 0x0F)

    cdef int _parse(self, const unsigned char *data, Py_ssize_t end, list frames,
                    Py_ssize_t *err_start) except -1:
        cdef Py_ssize_t pos = 0, hl, held, take
        cdef long long left
        cdef wsf_header h
        cdef bytes out
        if self._hdr_len:
            held = self._hdr_len
            take = 14 - held
            if take > end:
                take = end
            memcpy(self._hdr + held, data, <size_t>take)
            try:
                hl = self._header(self._hdr, held + take, &h)
            except ProtocolError:
                err_start[0] = -1
                raise
            if hl == 0:
                self._hdr_len = held + take
                return 0
            self._hdr_len = 0
            pos = hl - held
            self._begin(&h)
        while True:
            left = self._left
            if left >= 0:
                if end - pos < left:
                    if pos < end:
                        self._payload(data + pos, end - pos)
                        if self._partial and not self._b0 & 8:  # what came of a data frame, now
                            frames.append(self._frame(self._b0, self._take(), False))
                    return 0
                if left:
                    self._payload(data + pos, <Py_ssize_t>left)
                    pos += <Py_ssize_t>left
                self._end_frame(frames)
            if pos >= end:
                return 0
            err_start[0] = pos
            hl = self._header(data + pos, end - pos, &h)
            if hl == 0:
                memcpy(self._hdr, data + pos, <size_t>(end - pos))
                self._hdr_len = end - pos
                return 0
            if (h.b0 == 0x81 or h.b0 == 0x82) and h.length <= <unsigned long long>(end - pos - hl):
                # a whole, final frame in this chunk: unmask straight into its bytes object
                pos += hl
                out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>h.length)
                if h.masked:
                    _unmask(<unsigned char *>PyBytes_AS_STRING(out), data + pos, <Py_ssize_t>h.length, h.key, 0)
                else:
                    memcpy(PyBytes_AS_STRING(out), data + pos, <size_t>h.length)
                frames.append(self._frame(h.b0, out))
                pos += <Py_ssize_t>h.length
                continue
            pos += hl
            self._begin(&h)

    cdef void _begin(self, wsf_header *h) noexcept:
        self._b0 = h.b0
        self._masked = h.masked
        memcpy(self._key, h.key, 4)
        self._phase = 0
        self._left = <long long>h.length
        self._length = h.length
        if not h.b0 & 8:
            self._in_msg = not (h.b0 & 0x80)
            self._msg_size = self._msg_size + h.length if self._in_msg else 0

    cdef unsigned char *_reserve(self, Py_ssize_t n) except NULL:
        """Room for `n` more payload bytes: up to the frame's end, at most PREALLOC_AHEAD ahead."""
        cdef Py_ssize_t need = self._buf_len + n
        cdef Py_ssize_t cap
        cdef object fresh
        if need > self._buf_cap:
            cap = need + PREALLOC_AHEAD
            if <unsigned long long>cap > <unsigned long long>self._buf_len + <unsigned long long>self._left:
                cap = self._buf_len + <Py_ssize_t>self._left  # the frame's end (bounded by cap above)
            if cap < 2 * self._buf_cap:
                cap = 2 * self._buf_cap
            if cap < need or (self._partial and not self._b0 & 8):  # a piece: exactly what came
                cap = need
            if self._buf == NULL:
                fresh = PyBytes_FromStringAndSize(NULL, cap)
                Py_INCREF(fresh)
                self._buf = <PyObject *>fresh
            else:
                try:
                    _PyBytes_Resize(&self._buf, cap)
                except MemoryError:  # the object is gone: keep the fields consistent
                    self._buf_len = self._buf_cap = 0
                    raise
            self._buf_cap = cap
        return <unsigned char *>PyBytes_AS_STRING(<object>self._buf) + self._buf_len

    cdef int _payload(self, const unsigned char *src, Py_ssize_t n) except -1:
        cdef unsigned char *dst = self._reserve(n)
        if self._masked:
            _unmask(dst, src, n, self._key, self._phase)
            self._phase = (self._phase + <size_t>n) & 3
        else:
            memcpy(dst, src, <size_t>n)
        self._buf_len += n
        self._left -= n
        return 0

    cdef bytes _take(self):
        cdef bytes out
        if self._buf == NULL:
            return _EMPTY
        if self._buf_len != self._buf_cap:
            try:
                _PyBytes_Resize(&self._buf, self._buf_len)
            except MemoryError:
                self._buf_len = self._buf_cap = 0
                raise
        out = <bytes>self._buf
        Py_XDECREF(self._buf)  # `out` holds the reference now
        self._buf = NULL
        self._buf_len = self._buf_cap = 0
        return out

    cdef void _drop(self) noexcept:
        Py_XDECREF(self._buf)
        self._buf = NULL
        self._buf_len = self._buf_cap = 0

    cdef int _end_frame(self, list frames) except -1:
        self._left = -1
        frames.append(self._frame(self._b0, self._take()))
        if self._b0 != 0x81 and self._b0 != 0x82:
            self.other_frames += 1
        return 0
