"""Compiled masking: thin Cython over the SIMD kernels in src/mask*.c.

A WebSocket stack calls these millions of times, mostly on short frames, so
the call itself is most of the cost. The public apply_mask and
apply_mask_inplace are therefore plain METH_FASTCALL builtins with a fast
path for the everyday call (positional arguments, an exact bytes or bytearray
payload, a 4-byte bytes key, a non-negative int offset): no argument parsing,
no buffer protocol, no reference counting, short payloads masked inline.
Every other call, including every call that has to raise, is passed on
unchanged to the general functions below, which define the behaviour (the
same as wsfast._mask_py).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject, PyTypeObject
from libc.string cimport memcpy

cimport cython

from wsf_kernels cimport (
    NOGIL_THRESHOLD,
    WSF_MASK_SHORT,
    wsf_mask_best,
    wsf_mask_best_name,
    wsf_mask_fn,
    wsf_mask_kernel,
    wsf_mask_short,
    wsf_mask_word32,
)

__all__ = ["apply_mask", "apply_mask_inplace", "KERNEL"]

KERNEL = wsf_mask_best_name().decode()
cdef wsf_mask_fn _kernel = wsf_mask_best()


cdef inline void _mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                       const unsigned char *key, size_t phase) noexcept:
    """Short payloads inline, long ones through the CPU's best kernel."""
    if n <= WSF_MASK_SHORT:
        wsf_mask_short(dst, src, <size_t>n, wsf_mask_word32(key, phase))
    elif n >= NOGIL_THRESHOLD:
        with nogil:
            _kernel(dst, src, <size_t>n, key, phase)
    else:
        _kernel(dst, src, <size_t>n, key, phase)


# ---------------------------------------------------------------- general functions


cdef inline int _read_key(object mask, unsigned char *key) except -1:
    cdef Py_buffer view
    if PyBytes_CheckExact(mask) and PyBytes_GET_SIZE(mask) == 4:
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 0
    try:
        PyObject_GetBuffer(mask, &view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"mask must be a bytes-like object, not {type(mask).__name__}") from None
    except BufferError:  # not contiguous: still 4 bytes of key
        return _read_key(bytes(memoryview(mask)), key)
    try:
        if view.len != 4:
            raise ValueError(f"mask must be exactly 4 bytes, got {view.len}")
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


@cython.binding(False)
def apply_mask(data, mask):
    """Return `data` XORed with the 4-byte `mask`, as new bytes."""
    cdef unsigned char key[4]
    cdef Py_buffer view
    cdef bytes out
    _read_key(mask, key)
    if PyBytes_CheckExact(data):  # immutable: no export needed even without the GIL
        out = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(data))
        _mask(<unsigned char *>PyBytes_AS_STRING(out), <const unsigned char *>PyBytes_AS_STRING(data),
              PyBytes_GET_SIZE(data), key, 0)
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


cdef Py_ssize_t _offset_arg(object offset) except? -1:
    """Like the twin's _check_offset, checked after the mask and the buffer (same exception for any bad call)."""
    try:
        value = PyNumber_Index(offset)
    except TypeError:
        raise TypeError(f"offset must be an integer, not {type(offset).__name__}") from None
    if value > PY_SSIZE_T_MAX or value < -PY_SSIZE_T_MAX - 1:
        raise OverflowError("offset does not fit in a C ssize_t")
    if value < 0:
        raise ValueError("offset must be >= 0")
    return <Py_ssize_t>value


@cython.binding(False)
def apply_mask_inplace(buffer, mask, offset=0):
    """XOR a writable buffer in place, `offset` payload bytes into the mask; return the new offset."""
    cdef unsigned char key[4]
    cdef Py_buffer view
    cdef Py_ssize_t n, off
    _read_key(mask, key)
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    except TypeError:
        raise TypeError(f"buffer must be a writable bytes-like object, not {type(buffer).__name__}") from None
    except BufferError as exc:
        raise TypeError(f"buffer must be a writable, C-contiguous bytes-like object ({exc})") from None
    try:
        off = _offset_arg(offset)
        n = view.len
        _mask(<unsigned char *>view.buf, <const unsigned char *>view.buf, n, key, <size_t>off & 3)
    finally:
        PyBuffer_Release(&view)
    return <object>off + n  # a Python int: offset + n may pass PY_SSIZE_T_MAX


# ---------------------------------------------------------------- fast entry points

cdef extern from "Python.h":
    # Raw-pointer views of the C API: the fast path borrows its arguments and
    # must not touch reference counts.
    ctypedef PyObject *(*PyCFunction)(PyObject *, PyObject *)
    ctypedef struct PyMethodDef:
        const char *ml_name
        PyCFunction ml_meth
        int ml_flags
        const char *ml_doc
    int METH_FASTCALL
    int METH_KEYWORDS
    const Py_ssize_t PY_SSIZE_T_MAX
    PyTypeObject PyBytes_Type
    PyTypeObject PyByteArray_Type
    PyTypeObject PyLong_Type
    PyTypeObject *_type "Py_TYPE"(PyObject *o)
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE"(PyObject *o)
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *o)
    PyObject *_bytes_new "PyBytes_FromStringAndSize"(const char *s, Py_ssize_t n)
    Py_ssize_t _bytearray_size "PyByteArray_GET_SIZE"(PyObject *o)
    char *_bytearray_data "PyByteArray_AS_STRING"(PyObject *o)
    Py_ssize_t _long_value "PyLong_AsSsize_t"(PyObject *o)
    PyObject *_long_new "PyLong_FromSsize_t"(Py_ssize_t v)
    PyObject *_vectorcall "PyObject_Vectorcall"(PyObject *f, PyObject *const *args, size_t nargsf,
                                                PyObject *kwnames)
    void _clear_error "PyErr_Clear"()
    void _incref "Py_INCREF"(PyObject *o)
    object PyCFunction_NewEx(PyMethodDef *ml, PyObject *self, object module)

cdef object _general_apply_mask = apply_mask
cdef object _general_apply_mask_inplace = apply_mask_inplace


# The new offsets returned for short payloads, created on first use and kept:
# an int costs an allocation above 256, a sizable part of a ~30 ns call.
cdef enum:
    INT_CACHE = 4096
cdef PyObject *_int_cache[INT_CACHE]


cdef inline PyObject *_offset_object(Py_ssize_t value) noexcept:
    """A new reference to int(value) (NULL with MemoryError set on failure)."""
    cdef PyObject *obj
    if value >= INT_CACHE:
        return _long_new(value)
    obj = _int_cache[value]
    if obj == NULL:
        obj = _long_new(value)
        if obj == NULL:
            return NULL
        _int_cache[value] = obj  # the cache keeps this first reference
    _incref(obj)
    return obj


cdef inline bint _is_key(PyObject *mask) noexcept:
    return _type(mask) == &PyBytes_Type and _bytes_size(mask) == 4


cdef PyObject *_apply_mask_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) noexcept:
    cdef PyObject *data
    cdef PyObject *out
    cdef const char *src = NULL
    cdef Py_ssize_t n = -1
    if kwnames == NULL and nargs == 2 and _is_key(args[1]):
        data = args[0]
        if _type(data) == &PyBytes_Type:
            src, n = _bytes_data(data), _bytes_size(data)
        elif _type(data) == &PyByteArray_Type:
            src, n = _bytearray_data(data), _bytearray_size(data)
        if 0 <= n < NOGIL_THRESHOLD:
            out = _bytes_new(NULL, n)
            if out != NULL:  # else MemoryError is set: returning NULL raises it
                _mask(<unsigned char *>_bytes_data(out), <const unsigned char *>src, n,
                      <const unsigned char *>_bytes_data(args[1]), 0)
            return out
    return _vectorcall(<PyObject *>_general_apply_mask, args, <size_t>nargs, kwnames)


ctypedef PyObject *(*_fastcall)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *) noexcept


cdef PyObject *_apply_mask_inplace_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *kwnames) noexcept:
    """The everyday call: (bytearray, 4-byte bytes) whose result int is cached.

    It calls nothing but the kernel (only above WSF_MASK_SHORT bytes), so it
    needs no stack frame; every other call goes on through _inplace_next.
    n < INT_CACHE < NOGIL_THRESHOLD: the GIL is held, the bytearray stays put.
    """
    cdef PyObject *result
    cdef Py_ssize_t n
    if kwnames == NULL and nargs == 2 and _type(args[0]) == &PyByteArray_Type and _is_key(args[1]):
        n = _bytearray_size(args[0])
        if n < INT_CACHE:
            result = _int_cache[n]
            if result != NULL:
                _mask(<unsigned char *>_bytearray_data(args[0]), <const unsigned char *>_bytearray_data(args[0]),
                      n, <const unsigned char *>_bytes_data(args[1]), 0)
                _incref(result)
                return result
    return _inplace_next(self, args, nargs, kwnames)


cdef PyObject *_apply_mask_inplace_offset(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                          PyObject *kwnames) noexcept:
    """The same with an int offset or a result not cached yet; anything else goes to the general function."""
    cdef PyObject *buffer
    cdef Py_ssize_t n, offset = 0
    if (kwnames == NULL and (nargs == 2 or (nargs == 3 and _type(args[2]) == &PyLong_Type))
            and _type(args[0]) == &PyByteArray_Type and _is_key(args[1])):
        buffer = args[0]
        if nargs == 3:
            offset = _long_value(args[2])  # -1 with OverflowError set when out of range
        n = _bytearray_size(buffer)
        if 0 <= offset <= PY_SSIZE_T_MAX - n and n < NOGIL_THRESHOLD:
            _mask(<unsigned char *>_bytearray_data(buffer), <const unsigned char *>_bytearray_data(buffer), n,
                  <const unsigned char *>_bytes_data(args[1]), <size_t>offset & 3)
            return _offset_object(offset + n)
        _clear_error()  # the general function raises the right error itself
    return _vectorcall(<PyObject *>_general_apply_mask_inplace, args, <size_t>nargs, kwnames)


# Called through a pointer so that the compiler keeps it out of line (inlined,
# its calls would give the fast path a stack frame).
cdef _fastcall _inplace_next = _apply_mask_inplace_offset

def _mask_key_first_general(mask, data):
    """apply_mask with the key first: the argument order of tornado's websocket_mask."""
    return _general_apply_mask(data, mask)


cdef object _general_key_first = _mask_key_first_general


cdef PyObject *_mask_key_first_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames) noexcept:
    """(mask, data): the arguments swapped, then the apply_mask fast path (no Python frame)."""
    cdef PyObject *swapped[2]
    if kwnames == NULL and nargs == 2:
        swapped[0] = args[1]
        swapped[1] = args[0]
        return _apply_mask_fast(self, swapped, 2, NULL)
    return _vectorcall(<PyObject *>_general_key_first, args, <size_t>nargs, kwnames)


cdef PyMethodDef _fast_defs[3]
_fast_defs[0].ml_name = "apply_mask"
_fast_defs[0].ml_meth = <PyCFunction>_apply_mask_fast
_fast_defs[0].ml_flags = METH_FASTCALL | METH_KEYWORDS
_fast_defs[0].ml_doc = "apply_mask(data, mask)\n--\n\nReturn `data` XORed with the 4-byte `mask`, as new bytes."
_fast_defs[1].ml_name = "apply_mask_inplace"
_fast_defs[1].ml_meth = <PyCFunction>_apply_mask_inplace_fast
_fast_defs[1].ml_flags = METH_FASTCALL | METH_KEYWORDS
_fast_defs[1].ml_doc = (
    "apply_mask_inplace(buffer, mask, offset=0)\n--\n\n"
    "XOR a writable buffer in place, `offset` payload bytes into the mask; return the new offset."
)
_fast_defs[2].ml_name = "mask_key_first"
_fast_defs[2].ml_meth = <PyCFunction>_mask_key_first_fast
_fast_defs[2].ml_flags = METH_FASTCALL | METH_KEYWORDS
_fast_defs[2].ml_doc = (
    "mask_key_first(mask, data)\n--\n\n"
    "apply_mask(data, mask) with the key first (the order of tornado's websocket_mask, for wsfast.patch)."
)
apply_mask = PyCFunction_NewEx(&_fast_defs[0], NULL, "wsfast._mask_c")
mask_key_first = PyCFunction_NewEx(&_fast_defs[2], NULL, "wsfast._mask_c")
apply_mask_inplace = PyCFunction_NewEx(&_fast_defs[1], NULL, "wsfast._mask_c")


# ---------------------------------------------------------------- for tests and benchmarks


def _kernels():
    """Names of the kernels this CPU can run (for tests and benchmarks)."""
    cdef const char *name = NULL
    names = []
    for i in range(8):
        if wsf_mask_kernel(i, &name) != NULL:
            names.append(name.decode())
    return names


def _apply_mask_with(str kernel, data, mask, size_t phase=0, out=None):
    """Mask with one named kernel (tests compare every kernel against the reference).

    Returns new bytes, or with `out` (a writable buffer as long as `data`, which
    may be `data` itself for in place) writes there and returns None.
    """
    cdef const char *name = NULL
    cdef wsf_mask_fn fn = NULL
    cdef unsigned char key[4]
    cdef const unsigned char[::1] src = data
    cdef unsigned char[::1] dst
    _read_key(mask, key)
    for i in range(8):
        fn = wsf_mask_kernel(i, &name)
        if fn != NULL and name.decode() == kernel:
            break
        fn = NULL
    if fn == NULL:
        raise ValueError(f"kernel {kernel!r} is not available here")
    if out is not None:
        dst = out
        if dst.shape[0] != src.shape[0]:
            raise ValueError("out must be as long as data")
        if src.shape[0]:
            fn(&dst[0], &src[0], src.shape[0], key, phase & 3)
        return None
    result = PyBytes_FromStringAndSize(NULL, src.shape[0])
    if src.shape[0]:
        fn(<unsigned char *>PyBytes_AS_STRING(result), &src[0], src.shape[0], key, phase & 3)
    return result
