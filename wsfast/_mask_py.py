"""Pure-Python masking (RFC 6455 section 5.3): the reference twin of _mask_c.

Even here the per-byte work stays in C (see ``xor_with_key`` in
wsfast._twin_helpers, which the pure frame parser uses too).
"""

from __future__ import annotations

import operator
import sys

from ._twin_helpers import as_bytes, check_mask, xor_with_key

__all__ = ["apply_mask", "apply_mask_inplace"]


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
