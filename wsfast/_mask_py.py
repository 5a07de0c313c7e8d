"""Pure-Python masking (RFC 6455 section 5.3): the reference twin of _mask_c.

Even here the per-byte work stays in C: short payloads are XORed as one big
integer (payload and repeated key become ints, one XOR, back to bytes); long
ones as four byte lanes (every 4th byte), each mapped through a 256-byte
bytes.translate table for its key byte, which is about twice as fast per byte.
"""

from __future__ import annotations

import operator
import sys
from typing import Union

__all__ = ["apply_mask", "apply_mask_inplace", "as_bytes", "check_mask", "xor_with_key"]

# _XOR_TABLES[k] maps every byte b to b ^ k (a bytes.translate table)
_IDENTITY = int.from_bytes(bytes(range(256)), "little")
_XOR_TABLES = tuple(
    (_IDENTITY ^ int.from_bytes(bytes((k,)) * 256, "little")).to_bytes(256, "little") for k in range(256)
)
_TRANSLATE_FROM = 512  # below this many bytes the big-int XOR is faster


def as_bytes(data: object, name: str) -> bytes:
    """`data` (any bytes-like object) as bytes; TypeError naming the argument `name` otherwise."""
    if type(data) is bytes:
        return data
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from None


def check_mask(mask: object) -> bytes:
    """The 4-byte key as bytes; TypeError for non-buffers, ValueError for a wrong length."""
    key = as_bytes(mask, "mask")
    if len(key) != 4:
        raise ValueError(f"mask must be exactly 4 bytes, got {len(key)}")
    return key


def xor_with_key(data: bytes, key: bytes) -> Union[bytes, bytearray]:
    """`data` XORed with the 4-byte `key` repeated from its first byte (key already rotated to the phase)."""
    n = len(data)
    if n < _TRANSLATE_FROM:
        stream = key * ((n >> 2) + 1)
        return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(n, "little")
    buf = bytearray(data)
    buf[0::4] = buf[0::4].translate(_XOR_TABLES[key[0]])
    buf[1::4] = buf[1::4].translate(_XOR_TABLES[key[1]])
    buf[2::4] = buf[2::4].translate(_XOR_TABLES[key[2]])
    buf[3::4] = buf[3::4].translate(_XOR_TABLES[key[3]])
    return buf


def apply_mask(data: object, mask: object) -> bytes:
    """Return `data` XORed with the 4-byte `mask`, as new bytes."""
    key = check_mask(mask)
    return bytes(xor_with_key(as_bytes(data, "data"), key))


def apply_mask_inplace(buffer: object, mask: object, offset: int = 0) -> int:
    """XOR a writable buffer in place, `offset` payload bytes into the mask; return the new offset."""
    key = check_mask(mask)
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"buffer must be a writable bytes-like object, not {type(buffer).__name__}") from None
    with view:
        if view.readonly:
            raise TypeError("buffer must be writable (bytearray, memoryview of one, ...), not read-only")
        if not view.c_contiguous:
            raise TypeError("buffer must be C-contiguous")
        offset = _check_offset(offset)
        with view.cast("B") as raw:
            phase = offset & 3
            raw[:] = xor_with_key(bytes(raw), key[phase:] + key[:phase])
        return offset + view.nbytes


def _check_offset(offset: object) -> int:
    """Like a C Py_ssize_t argument: any integer (__index__), TypeError otherwise."""
    try:
        value = operator.index(offset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"offset must be an integer, not {type(offset).__name__}") from None
    if value > sys.maxsize or value < -sys.maxsize - 1:
        raise OverflowError("offset does not fit in a C ssize_t")
    if value < 0:
        raise ValueError("offset must be >= 0")
    return value
