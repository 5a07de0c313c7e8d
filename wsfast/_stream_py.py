"""Pure-Python per-frame streaming reader: the reference twin of _stream_c (see wsfast.stream).

A frame that lies whole in the chunk is sliced out of it and unmasked in one
call; a payload spread over reads is unmasked piece by piece (the key phase
carried over) and joined when the frame ends; only an incomplete header (at
most 13 bytes) is held between feeds.
"""

from __future__ import annotations

import struct
from typing import Any, List, Optional, Sequence, Tuple

from ._twin_helpers import (
    HDR_FRAME_TOO_BIG,
    HDR_MESSAGE_TOO_BIG,
    HDR_NOT_MINIMAL,
    HDR_TOP_BIT,
    as_bytes,
    header_error,
    header_start_code,
)
from ._twin_helpers import xor_with_key as _unmask
from .enums import CloseCode
from .exceptions import ProtocolError
from .stream import Frame, reader_options

__all__ = ["FrameReader"]

_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from
_BUSY = "FrameReader.feed() called while another feed() of the same reader is running"

Header = Tuple[int, int, int, Optional[bytes]]  # header length, first byte, payload length, mask key


class FrameReader:
    """Per-frame streaming parser: ``feed(data)`` -> list of frames, one per complete wire frame.

    See :mod:`wsfast.stream` for the rules, the frame objects and the errors.
    """

    __slots__ = ("_mask_bit", "_msg_limit", "_frame_limit", "_rsv_bits", "_cls", "_opcodes", "_error",
                 "_busy", "_hdr", "_b0", "_key", "_phase", "_left", "_length", "_parts", "_in_msg",
                 "_msg_size", "_partial", "other_frames")

    def __init__(self, *, client: bool = False, max_message_size: Optional[int] = None,
                 max_frame_size: Optional[int] = None, rsv_bits: int = 0, frame_class: Any = Frame,
                 opcodes: Optional[Sequence[Any]] = None, partial: bool = False) -> None:
        if getattr(self, "_busy", False):
            raise RuntimeError(_BUSY)
        self._partial = bool(partial)
        (self._msg_limit, self._frame_limit, self._rsv_bits, self._cls,
         self._opcodes) = reader_options(max_message_size, max_frame_size, rsv_bits, frame_class, opcodes)
        self._mask_bit = 0 if client else 0x80
        self._error: Optional[ProtocolError] = None
        self._busy = False
        self._hdr = b""  # an incomplete header
        # the frame whose payload is being read (_left < 0: none)
        self._b0 = 0
        self._key: Optional[bytes] = None
        self._phase = 0
        self._left = -1
        self._length = 0
        self._parts: List[bytes] = []
        # a fragmented data message in progress, and its wire size so far
        self._in_msg = False
        self._msg_size = 0
        # frames returned so far that are not a final, unfragmented TEXT/BINARY frame without RSV bits
        # (a caller compares it before and after feed() instead of looking at every frame)
        self.other_frames = 0

    @property
    def client(self) -> bool:
        return not self._mask_bit

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def error(self) -> Optional[ProtocolError]:
        return self._error

    @property
    def held(self) -> bytes:
        """The bytes of an incomplete header held since the last feed (b"" when none)."""
        return self._hdr

    @property
    def frame_progress(self) -> Optional[Tuple[int, int]]:
        """(payload bytes received, payload length) of a frame whose payload is incomplete, else None."""
        if self._left < 0:
            return None
        return self._length - self._left, self._length

    @property
    def in_message(self) -> bool:
        """True between the first and the final frame of a fragmented data message."""
        return self._in_msg

    def feed(self, data: Any) -> List[Any]:
        """Parse the next chunk of received bytes; return the frames it completed."""
        if self._error is not None:
            raise self._copy_error()
        if type(data) is not bytes:
            data = as_bytes(data, "data")
        if self._busy:
            raise RuntimeError(_BUSY)
        frames: List[Any] = []
        self._busy = True
        try:
            self._parse(data, frames)
        except ProtocolError as exc:
            # the received bytes from the offending header on: held ones first if it began in them
            start = getattr(exc, "start", None)
            exc.frames = frames  # type: ignore[attr-defined]
            exc.rest = self._hdr + data if start is None else data[start:]  # type: ignore[attr-defined]
            self._error = exc
            raise
        except BaseException:
            self._error = ProtocolError(CloseCode.INTERNAL_ERROR, "the frame reader failed")
            self._error.frames = frames  # type: ignore[attr-defined]
            self._error.rest = b""  # type: ignore[attr-defined]
            raise
        finally:
            self._busy = False
        return frames

    def _copy_error(self) -> ProtocolError:
        error = self._error
        assert error is not None
        again = ProtocolError(error.close_code, error.reason)
        again.frames = []  # type: ignore[attr-defined]
        again.rest = b""  # type: ignore[attr-defined]
        return again

    def _frame(self, b0: int, payload: bytes, finished: bool = True) -> Any:
        if self._partial:
            return (self._opcodes[b0 & 0x0F], payload, finished, bool(b0 & 0x80))
        frame = self._cls.__new__(self._cls)
        frame.opcode = self._opcodes[b0 & 0x0F]
        frame.data = payload
        frame.fin = bool(b0 & 0x80)
        frame.rsv1 = bool(b0 & 0x40)
        frame.rsv2 = bool(b0 & 0x20)
        frame.rsv3 = bool(b0 & 0x10)
        return frame

    def _parse(self, data: bytes, frames: List[Any]) -> None:
        """Parse `data` into `frames`. A violation in a header that began in this feed carries
        ``.start``, its position; one in a held header carries none (see feed)."""
        pos = 0
        end = len(data)
        if self._hdr:
            held = len(self._hdr)
            head = self._hdr + data[:14]
            h = self._header(head, 0, len(head))
            if h is None:
                self._hdr = head
                return
            self._hdr = b""
            pos = h[0] - held
            self._begin(h[1], h[2], h[3])
        while True:
            left = self._left
            if left >= 0:
                if end - pos < left:
                    if pos < end:
                        self._payload(data[pos:])
                        if self._partial and not self._b0 & 8:  # what came of a data frame, now
                            frames.append(self._frame(self._b0, b"".join(self._parts), False))
                            self._parts = []
                    return
                if left:
                    self._payload(data[pos:pos + left])
                    pos += left
                self._end_frame(frames)
            if pos >= end:
                return
            try:
                h = self._header(data, pos, end)
            except ProtocolError as exc:
                exc.start = pos  # type: ignore[attr-defined]
                raise
            if h is None:
                self._hdr = data[pos:]
                return
            hlen, b0, length, key = h
            start = pos + hlen
            stop = start + length
            if stop <= end and (b0 == 0x81 or b0 == 0x82):  # a whole, final frame: slice, unmask, done
                payload = data[start:stop] if key is None else _unmask(data[start:stop], key)
                frames.append(self._frame(b0, payload if type(payload) is bytes else bytes(payload)))
                pos = stop
                continue
            pos = start
            self._begin(b0, length, key)

    def _header(self, buf: bytes, pos: int, end: int) -> Optional[Header]:
        """(header length, first byte, payload length, mask key), or None if incomplete."""
        if end - pos < 2:
            return None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if not ((b0 == 0x81 or b0 == 0x82) and not self._in_msg and (b1 & 0x80) == self._mask_bit):
            code = header_start_code(b0, b1, self._in_msg, self._rsv_bits, self._mask_bit)
            if code:
                raise header_error(code, b0 & 0x0F)
        length = b1 & 0x7F
        hlen = 2
        if length == 126:
            hlen = 4
            if end - pos < 4:
                return None
            length = _U16(buf, pos + 2)[0]
            if length < 126:
                raise header_error(HDR_NOT_MINIMAL)
        elif length == 127:
            hlen = 10
            if end - pos < 10:
                return None
            length = _U64(buf, pos + 2)[0]
            if length >> 63:
                raise header_error(HDR_TOP_BIT)
            if length < 65536:
                raise header_error(HDR_NOT_MINIMAL)
        if length > self._frame_limit:
            raise header_error(HDR_FRAME_TOO_BIG, length)
        if not b0 & 8 and length > self._msg_limit - self._msg_size:
            raise header_error(HDR_MESSAGE_TOO_BIG, self._msg_size + length)
        if b1 & 0x80:
            if end - pos < hlen + 4:
                return None
            return hlen + 4, b0, length, buf[pos + hlen:pos + hlen + 4]
        return hlen, b0, length, None

    def _begin(self, b0: int, length: int, key: Optional[bytes]) -> None:
        self._b0 = b0
        self._key = key
        self._phase = 0
        self._left = length
        self._length = length
        self._parts = []
        if not b0 & 8:
            self._in_msg = not b0 & 0x80
            self._msg_size = self._msg_size + length if self._in_msg else 0

    def _payload(self, chunk: bytes) -> None:
        key = self._key
        if key is not None:
            phase = self._phase
            if phase:
                key = key[phase:] + key[:phase]
            chunk = _unmask(chunk, key)  # type: ignore[assignment]
            self._phase = (phase + len(chunk)) & 3
        self._left -= len(chunk)
        self._parts.append(chunk)

    def _end_frame(self, frames: List[Any]) -> None:
        self._left = -1
        payload = b"".join(self._parts)
        self._parts = []
        frames.append(self._frame(self._b0, payload))
        if self._b0 != 0x81 and self._b0 != 0x82:
            self.other_frames += 1
