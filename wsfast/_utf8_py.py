"""Pure-Python UTF-8 validation: the reference twin of _utf8_c.

Valid means exactly what the strict "utf-8" codec accepts (no overlongs, no
surrogates, nothing above U+10FFFF), so the codec does the work in C here too.
The incremental decoder already rejects a chunk as soon as its bytes cannot
start valid UTF-8, except for one case: it buffers a surrogate prefix
(ED A0..BF) until the sequence is complete. Utf8Validator checks the
decoder's pending bytes for that case, so both twins fail on the same chunk.
"""

from __future__ import annotations

import codecs
from typing import Union

from ._typing import Buffer

__all__ = ["validate_utf8", "decode_utf8", "Utf8Validator"]

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")
_utf_8_decode = codecs.utf_8_decode

_Readable = Union[bytes, bytearray, memoryview]


def _readable(data: object) -> _Readable:
    """`data` as something the codec reads directly; a C-ordered copy if strided."""
    if isinstance(data, (bytes, bytearray)):
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    return view if view.c_contiguous else view.tobytes()


def validate_utf8(data: Buffer) -> bool:
    """True when `data` (any bytes-like object) is complete, valid UTF-8."""
    try:
        if type(data) is bytes:
            data.decode()  # the cheapest call for the common case
        else:
            _utf_8_decode(_readable(data), "strict", True)
    except UnicodeDecodeError:
        return False
    return True


def decode_utf8(data: Buffer) -> str:
    """``bytes(data).decode()``: the str, or the codec's own UnicodeDecodeError."""
    if type(data) is bytes:
        return data.decode()
    return _utf_8_decode(_readable(data), "strict", True)[0]


def _impossible_prefix(pending: bytes) -> bool:
    """True for a buffered prefix no continuation can complete: ED A0..BF (a surrogate)."""
    return len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0


class Utf8Validator:
    """Incremental validation for text split across frames and reads.

    feed() returns False as soon as the bytes seen so far cannot be the start
    of valid UTF-8, and keeps returning False until reset(); finish() is True
    when everything fed is complete, valid UTF-8.
    """

    __slots__ = ("_decoder", "_failed")

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder()
        self._failed = False

    def feed(self, data: Buffer) -> bool:
        """Validate the next chunk; False once the text can no longer be valid."""
        chunk = data if type(data) is bytes else _readable(data)
        if self._failed:
            return False
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._failed = True
            return False
        if _impossible_prefix(self._decoder.getstate()[0]):
            self._failed = True
            return False
        return True

    def finish(self) -> bool:
        """True when everything fed so far is complete, valid UTF-8."""
        return not self._failed and not self._decoder.getstate()[0]

    def reset(self) -> None:
        """Forget everything fed so far (and a failure)."""
        self._decoder.reset()
        self._failed = False
