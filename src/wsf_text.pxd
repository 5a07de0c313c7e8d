# UTF-8 -> str for the Cython modules: scan, allocate the str of the right width, transcode
# straight into it (the kernels in src/utf8_decode*.c). Inline, so each module gets its own copy.

from libc.string cimport memcpy

from libc.stdint cimport uint8_t, uint16_t, uint32_t

from wsf_kernels cimport (
    NOGIL_THRESHOLD,
    wsf_utf8_decoder,
    wsf_utf8_decoder_best,
    wsf_utf8_decoder_kernel,
    wsf_utf8_info,
    wsf_utf8_width,
)

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)

cdef enum:
    # below this, CPython's decoder is as fast (its ASCII path; a scan costs a call too)
    WSF_TEXT_SHORT = 64


cdef inline const wsf_utf8_decoder *text_decoder() noexcept:
    """The SIMD decoder this CPU runs, or NULL where only the portable one would: CPython's
    decoder (one pass) beats a portable scan-then-transcode, so it is used there instead."""
    cdef const wsf_utf8_decoder *best = wsf_utf8_decoder_best()
    if best == wsf_utf8_decoder_kernel(0):
        return NULL
    return best


cdef inline object utf8_to_str(const unsigned char *buf, Py_ssize_t n, const wsf_utf8_decoder *dec):
    """The str that ``buf[:n].decode()`` gives, or its UnicodeDecodeError (invalid text goes
    to CPython's decoder, so the error is the codec's own). ``dec`` NULL: CPython's decoder."""
    if dec == NULL or n < WSF_TEXT_SHORT:
        return PyUnicode_DecodeUTF8(<const char *>buf, n, NULL)
    return utf8_to_str_with(buf, n, dec)


cdef inline object utf8_to_str_with(const unsigned char *buf, Py_ssize_t n, const wsf_utf8_decoder *dec):
    """utf8_to_str with the kernels of ``dec`` (not NULL), whatever the size."""
    cdef wsf_utf8_info info
    cdef int ok, width
    cdef object text
    cdef void *data
    if n >= NOGIL_THRESHOLD:
        with nogil:
            ok = dec.scan(buf, <size_t>n, &info)
    else:
        ok = dec.scan(buf, <size_t>n, &info)
    if not ok:
        return PyUnicode_DecodeUTF8(<const char *>buf, n, NULL)  # raises
    if info.max < 0x80:
        text = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(text), buf, <size_t>n)
        return text
    width = wsf_utf8_width(info.max)
    text = PyUnicode_New(<Py_ssize_t>info.chars, 0xFF if width == 1 else 0xFFFF if width == 2 else 0x10FFFF)
    data = PyUnicode_DATA(text)
    if n >= NOGIL_THRESHOLD:
        with nogil:
            _transcode(dec, buf, <size_t>n, data, width, info.chars)
    else:
        _transcode(dec, buf, <size_t>n, data, width, info.chars)
    return text


cdef inline void _transcode(const wsf_utf8_decoder *dec, const unsigned char *buf, size_t n, void *data,
                            int width, size_t chars) noexcept nogil:
    if width == 1:
        dec.to_ucs1(buf, n, <uint8_t *>data, chars)
    elif width == 2:
        dec.to_ucs2(buf, n, <uint16_t *>data, chars)
    else:
        dec.to_ucs4(buf, n, <uint32_t *>data, chars)
