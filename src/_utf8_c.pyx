"""Compiled UTF-8 validation and decoding: thin Cython over the kernels in src/utf8*.c."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8

cimport cython

from wsf_kernels cimport (
    NOGIL_THRESHOLD,
    wsf_utf8_best_name,
    wsf_utf8_decoder,
    wsf_utf8_decoder_kernel,
    wsf_utf8_feed,
    wsf_utf8_finish,
    wsf_utf8_fn,
    wsf_utf8_init,
    wsf_utf8_kernel,
    wsf_utf8_state,
    wsf_utf8_validate,
)

from wsf_text cimport text_decoder, utf8_to_str, utf8_to_str_with

__all__ = ["validate_utf8", "decode_utf8", "Utf8Validator", "KERNEL", "DECODER"]

KERNEL = wsf_utf8_best_name().decode()

cdef const wsf_utf8_decoder *_decoder = text_decoder()
# what decode_utf8 runs on: a SIMD decoder's name, or "cpython" (CPython's own decoder)
DECODER = "cpython" if _decoder == NULL else _decoder.name.decode()


cdef inline bint _validate(const unsigned char *buf, Py_ssize_t n) noexcept:
    cdef bint ok
    if n >= NOGIL_THRESHOLD:
        with nogil:
            ok = wsf_utf8_validate(buf, <size_t>n)
        return ok
    return wsf_utf8_validate(buf, <size_t>n)


cdef inline bint _feed(wsf_utf8_state *st, const unsigned char *buf, Py_ssize_t n) noexcept:
    cdef bint ok
    if n >= NOGIL_THRESHOLD:
        with nogil:
            ok = wsf_utf8_feed(st, buf, <size_t>n)
        return ok
    return wsf_utf8_feed(st, buf, <size_t>n)


cdef int _get_buffer(object data, Py_buffer *view) except -1:
    """A contiguous view of any bytes-like object; 1 when it is a copy of a strided one."""
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
        return 0
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    except BufferError:  # not contiguous: validate a contiguous copy
        PyObject_GetBuffer(memoryview(data).tobytes(), view, PyBUF_SIMPLE)
        return 1


@cython.binding(False)
def validate_utf8(data):
    """True when `data` (any bytes-like object) is complete, valid UTF-8."""
    cdef Py_buffer view
    cdef bint ok
    if PyBytes_CheckExact(data):
        return _validate(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if PyByteArray_CheckExact(data) and PyByteArray_GET_SIZE(data) < NOGIL_THRESHOLD:
        return <bint>wsf_utf8_validate(<const unsigned char *>PyByteArray_AS_STRING(data),
                                       <size_t>PyByteArray_GET_SIZE(data))
    _get_buffer(data, &view)
    ok = _validate(<const unsigned char *>view.buf, view.len)
    PyBuffer_Release(&view)
    return ok


@cython.binding(False)
def decode_utf8(data):
    """``bytes(data).decode()``: the str, or the codec's own UnicodeDecodeError.

    Text is validated, counted and its widest code point found first, then
    transcoded straight into a str of the right width (SIMD where the CPU has
    it): no intermediate buffer, one pass of the codec's work.
    """
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        return utf8_to_str(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), _decoder)
    _get_buffer(data, &view)
    try:
        return utf8_to_str(<const unsigned char *>view.buf, view.len, _decoder)
    finally:
        PyBuffer_Release(&view)


cdef class Utf8Validator:
    """Incremental validation for text split across frames and reads.

    feed() returns False as soon as the bytes seen so far cannot be the start
    of valid UTF-8, and keeps returning False until reset(); finish() is True
    when everything fed is complete, valid UTF-8.
    """

    cdef wsf_utf8_state state

    def __cinit__(self):
        wsf_utf8_init(&self.state)

    def feed(self, data):
        """Validate the next chunk; False once the text can no longer be valid."""
        cdef Py_buffer view
        cdef bint ok
        if PyBytes_CheckExact(data):
            return _feed(&self.state, <const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        if PyByteArray_CheckExact(data) and PyByteArray_GET_SIZE(data) < NOGIL_THRESHOLD:
            return <bint>wsf_utf8_feed(&self.state, <const unsigned char *>PyByteArray_AS_STRING(data),
                                       <size_t>PyByteArray_GET_SIZE(data))
        _get_buffer(data, &view)
        ok = _feed(&self.state, <const unsigned char *>view.buf, view.len)
        PyBuffer_Release(&view)
        return ok

    def finish(self):
        """True when everything fed so far is complete, valid UTF-8."""
        return <bint>wsf_utf8_finish(&self.state)

    def reset(self):
        """Forget everything fed so far (and a failure)."""
        wsf_utf8_init(&self.state)


def _kernels():
    """Names of the kernels this CPU can run (for tests and benchmarks)."""
    cdef const char *name = NULL
    names = []
    for i in range(8):
        if wsf_utf8_kernel(i, &name) != NULL:
            names.append(name.decode())
    return names


def _validate_with(str kernel, data):
    """Validate with one named kernel (tests compare every kernel against the reference)."""
    cdef const char *name = NULL
    cdef wsf_utf8_fn fn = NULL
    cdef Py_buffer view
    cdef bint ok
    for i in range(8):
        fn = wsf_utf8_kernel(i, &name)
        if fn != NULL and name.decode() == kernel:
            break
        fn = NULL
    if fn == NULL:
        raise ValueError(f"kernel {kernel!r} is not available here")
    _get_buffer(data, &view)
    ok = fn(<const unsigned char *>view.buf, <size_t>view.len)
    PyBuffer_Release(&view)
    return ok


def _decoders():
    """Names of the decoders this CPU can run (for tests and benchmarks)."""
    names = []
    for i in range(8):
        if wsf_utf8_decoder_kernel(i) != NULL:
            names.append(wsf_utf8_decoder_kernel(i).name.decode())
    return names


def _decode_with(str decoder, data):
    """decode_utf8 with one named decoder, whatever the size ("cpython": CPython's own)."""
    cdef const wsf_utf8_decoder *dec = NULL
    cdef Py_buffer view
    if decoder != "cpython":
        for i in range(8):
            dec = wsf_utf8_decoder_kernel(i)
            if dec != NULL and dec.name.decode() == decoder:
                break
            dec = NULL
        if dec == NULL:
            raise ValueError(f"decoder {decoder!r} is not available here")
    _get_buffer(data, &view)
    try:
        if dec == NULL:
            return PyUnicode_DecodeUTF8(<const char *>view.buf, view.len, NULL)
        return utf8_to_str_with(<const unsigned char *>view.buf, view.len, dec)
    finally:
        PyBuffer_Release(&view)
