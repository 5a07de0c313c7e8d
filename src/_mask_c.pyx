"""Compiled masking: thin Cython over the SIMD kernels in src/mask*.c."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport wsf_mask, wsf_mask_best_name, wsf_mask_fn, wsf_mask_kernel

__all__ = ["apply_mask", "apply_mask_inplace", "KERNEL"]

# Payloads at least this long are masked with the GIL released.
cdef enum:
    NOGIL_THRESHOLD = 262144

KERNEL = wsf_mask_best_name().decode()


cdef inline int _read_key(object mask, unsigned char *key) except -1:
    cdef Py_buffer view
    if PyBytes_CheckExact(mask) and PyBytes_GET_SIZE(mask) == 4:
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 0
    try:
        PyObject_GetBuffer(mask, &view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"mask must be a bytes-like object, not {type(mask).__name__}") from None
    try:
        if view.len != 4:
            raise ValueError(f"mask must be exactly 4 bytes, got {view.len}")
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef inline void _mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                       const unsigned char *key, size_t phase) noexcept:
    if n >= NOGIL_THRESHOLD:
        with nogil:
            wsf_mask(dst, src, <size_t>n, key, phase)
    else:
        wsf_mask(dst, src, <size_t>n, key, phase)


@cython.binding(False)
def apply_mask(data, mask):
    """Return `data` XORed with the 4-byte `mask`, as new bytes."""
    cdef unsigned char key[4]
    cdef Py_buffer view
    cdef bytes out
    _read_key(mask, key)
    if PyBytes_CheckExact(data):
        out = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(data))
        _mask(<unsigned char *>PyBytes_AS_STRING(out), <const unsigned char *>PyBytes_AS_STRING(data),
              PyBytes_GET_SIZE(data), key, 0)
        return out
    if PyByteArray_CheckExact(data):
        out = PyBytes_FromStringAndSize(NULL, PyByteArray_GET_SIZE(data))
        _mask(<unsigned char *>PyBytes_AS_STRING(out), <const unsigned char *>PyByteArray_AS_STRING(data),
              PyByteArray_GET_SIZE(data), key, 0)
        return out
    try:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    except BufferError:  # not contiguous: take the slow, copying road
        return apply_mask(bytes(memoryview(data)), mask)
    try:
        out = PyBytes_FromStringAndSize(NULL, view.len)
        _mask(<unsigned char *>PyBytes_AS_STRING(out), <const unsigned char *>view.buf, view.len, key, 0)
    finally:
        PyBuffer_Release(&view)
    return out


@cython.binding(False)
def apply_mask_inplace(buffer, mask, Py_ssize_t offset=0):
    """XOR a writable buffer in place, `offset` payload bytes into the mask; return the new offset."""
    cdef unsigned char key[4]
    cdef Py_buffer view
    cdef Py_ssize_t n
    _read_key(mask, key)
    if PyByteArray_CheckExact(buffer):
        if offset < 0:
            raise ValueError("offset must be >= 0")
        n = PyByteArray_GET_SIZE(buffer)
        _mask(<unsigned char *>PyByteArray_AS_STRING(buffer), <const unsigned char *>PyByteArray_AS_STRING(buffer),
              n, key, <size_t>offset & 3)
        return offset + n
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    except TypeError:
        raise TypeError(f"buffer must be a writable bytes-like object, not {type(buffer).__name__}") from None
    except BufferError as exc:
        raise TypeError(f"buffer must be a writable, C-contiguous bytes-like object ({exc})") from None
    try:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        n = view.len
        _mask(<unsigned char *>view.buf, <const unsigned char *>view.buf, n, key, <size_t>offset & 3)
    finally:
        PyBuffer_Release(&view)
    return offset + n


def _kernels():
    """Names of the kernels this CPU can run (for tests and benchmarks)."""
    cdef const char *name = NULL
    names = []
    for i in range(8):
        if wsf_mask_kernel(i, &name) != NULL:
            names.append(name.decode())
    return names


def _apply_mask_with(str kernel, data, mask, size_t phase=0) -> bytes:
    """Mask with one named kernel (tests compare every kernel against the reference)."""
    cdef const char *name = NULL
    cdef wsf_mask_fn fn = NULL
    cdef unsigned char key[4]
    cdef const unsigned char[::1] src = data
    _read_key(mask, key)
    for i in range(8):
        fn = wsf_mask_kernel(i, &name)
        if fn != NULL and name.decode() == kernel:
            break
        fn = NULL
    if fn == NULL:
        raise ValueError(f"kernel {kernel!r} is not available here")
    out = PyBytes_FromStringAndSize(NULL, src.shape[0])
    if src.shape[0]:
        fn(<unsigned char *>PyBytes_AS_STRING(out), &src[0], src.shape[0], key, phase & 3)
    return out
