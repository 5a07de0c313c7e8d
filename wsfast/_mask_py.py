"""Pure-Python masking (RFC 6455 section 5.3): the reference twin of _mask_c.

XORing through one big integer keeps the work in C even here: the payload and
a repeated key become ints, one XOR, and back to bytes.
"""

from __future__ import annotations

import operator
import sys

__all__ = ["apply_mask", "apply_mask_inplace", "check_mask"]


def check_mask(mask: object) -> bytes:
    """The 4-byte key as bytes; TypeError for non-buffers, ValueError for a wrong length."""
    if isinstance(mask, bytes):
        key = mask
    else:
        try:
            key = bytes(memoryview(mask))  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"mask must be a bytes-like object, not {type(mask).__name__}") from None
    if len(key) != 4:
        raise ValueError(f"mask must be exactly 4 bytes, got {len(key)}")
    return key


def _xor(payload: bytes, key: bytes, phase: int) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    rotated = key[phase:] + key[:phase]
    stream = rotated * (n // 4 + 1)
    mixed = int.from_bytes(payload, "little") ^ int.from_bytes(stream[:n], "little")
    return mixed.to_bytes(n, "little")


def apply_mask(data: object, mask: object) -> bytes:
    """Return `data` XORed with the 4-byte `mask`, as new bytes."""
    key = check_mask(mask)
    if isinstance(data, bytes):
        payload = data
    else:
        try:
            payload = bytes(memoryview(data))  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    return _xor(payload, key, 0)


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
            raw[:] = _xor(bytes(raw), key, offset & 3)
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
