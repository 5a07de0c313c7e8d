"""Pure-Python frame parser and writer (RFC 6455 section 5): the reference twin of _frames_c.

The parser is sans-I/O: ``FrameParser.feed(chunk)`` returns the events the
chunk completed. How it stays cheap in pure Python:

- A frame that lies whole in the chunk is sliced straight out of it; only an
  incomplete header (at most 13 bytes) is kept between feeds. A payload that
  spans reads is unmasked and, for text, UTF-8-checked as each piece arrives
  (so invalid text fails in the feed that brings the bad byte), then kept in
  one buffer grown in place (a message in tiny fragments costs about its size,
  not an object per fragment).
- Masking uses one big-int XOR for short payloads and four strided
  ``bytes.translate`` passes (one per key byte) for long ones, whichever is
  faster at that size; both run in C inside CPython.
- Header checks take one comparison for the common frame (a final, unfragmented
  text or binary frame masked the way our side expects); the full, ordered rule
  list runs only for anything else, so both twins report the same violation.
"""

from __future__ import annotations

import os
import struct
from typing import Any, List, Optional, Sequence, Tuple, Union

from ._defaults import MAX_MESSAGE_SIZE
from ._deflate_py import TAIL, Compressor, Inflater
from ._twin_helpers import (
    HDR_FRAME_TOO_BIG,
    HDR_MESSAGE_TOO_BIG,
    HDR_NOT_MINIMAL,
    HDR_TOP_BIT,
    MAX_CONTROL_PAYLOAD,
    as_bytes,
    check_mask,
    check_options,
    close_fields,
    event_bytes,
    event_text,
    header_error,
    header_start_code,
    short_repr,
    too_big_inflated,
)
from ._twin_helpers import xor_with_key as _unmask
from ._utf8_py import Utf8Validator, validate_utf8
from .close import parse_close_payload
from .enums import CloseCode, Opcode
from .exceptions import ProtocolError

__all__ = [
    "FrameParser",
    "encode_frame",
    "encode_message",
    "Compressor",
    "TextMessage",
    "BinaryMessage",
    "Ping",
    "Pong",
    "Close",
]

_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from
_HEAD16 = struct.Struct("!BBH").pack
_HEAD64 = struct.Struct("!BBQ").pack
_new = object.__new__

_INVALID_PAYLOAD = CloseCode.INVALID_PAYLOAD
_TEXT_INVALID = "invalid UTF-8 in a text message"
_BUSY = "FrameParser.feed() called while another feed() of the same parser is running"


# -- events ----------------------------------------------------------------------------------------

class _Event:
    """Equality is by class name and fields, so compiled and pure events compare equal."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()
    opcode: Opcode

    def __eq__(self, other: object) -> bool:
        if type(other).__name__ != type(self).__name__:
            return NotImplemented
        try:
            return all(getattr(self, name) == getattr(other, name) for name in self._fields)
        except AttributeError:
            return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + tuple(getattr(self, name) for name in self._fields))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(data={short_repr(self.data)})"  # type: ignore[attr-defined]

    def __reduce__(self) -> Any:
        return (type(self), tuple(getattr(self, name) for name in self._fields))


class TextMessage(_Event):
    """A complete text message (fragments joined, validated, decoded): ``data`` is its str,
    or its validated UTF-8 bytes from a parser made with ``decode_text=False``."""

    __slots__ = ("data",)
    _fields = ("data",)
    opcode = Opcode.TEXT

    def __init__(self, data: str) -> None:
        self.data = event_text(data, "TextMessage")


class BinaryMessage(_Event):
    """A complete binary message (fragments joined)."""

    __slots__ = ("data",)
    _fields = ("data",)
    opcode = Opcode.BINARY

    def __init__(self, data: bytes) -> None:
        self.data = event_bytes(data, "BinaryMessage")


class Ping(_Event):
    __slots__ = ("data",)
    _fields = ("data",)
    opcode = Opcode.PING

    def __init__(self, data: bytes = b"") -> None:
        self.data = event_bytes(data, "Ping")


class Pong(_Event):
    __slots__ = ("data",)
    _fields = ("data",)
    opcode = Opcode.PONG

    def __init__(self, data: bytes = b"") -> None:
        self.data = event_bytes(data, "Pong")


class Close(_Event):
    """A close frame: ``code`` (1005 when it had no payload), ``reason``, raw payload ``data``."""

    __slots__ = ("code", "reason", "data")
    _fields = ("code", "reason", "data")
    opcode = Opcode.CLOSE

    def __init__(self, code: int, reason: str = "", data: Optional[bytes] = None) -> None:
        self.code, self.reason, self.data = close_fields(code, reason, data)

    def __repr__(self) -> str:
        return f"Close(code=CloseCode.{self.code.name}, reason={short_repr(self.reason)})"


def _control_event(op: int, payload: bytes) -> _Event:
    if op == 9:
        ev: Any = _new(Ping)
    elif op == 10:
        ev = _new(Pong)
    else:
        code, reason = parse_close_payload(payload)
        ev = _new(Close)
        ev.code = code
        ev.reason = reason
    ev.data = payload
    return ev  # type: ignore[no-any-return]


def _utf8_event(payload: Union[bytes, bytearray]) -> TextMessage:
    """A whole text payload kept as validated UTF-8 bytes (decode_text=False)."""
    data = payload if type(payload) is bytes else bytes(payload)
    if not validate_utf8(data):
        raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
    ev = _new(TextMessage)
    ev.data = data  # type: ignore[assignment]  # the UTF-8 bytes, not a str
    return ev


def _text_event(payload: Union[bytes, bytearray]) -> TextMessage:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID) from None
    ev = _new(TextMessage)
    ev.data = text
    return ev


# -- parser ----------------------------------------------------------------------------------------

Kept = Union[None, bytes, bytearray]


def _keep(kept: Kept, piece: bytes) -> Union[bytes, bytearray]:
    """What a payload holds so far, with ``piece`` added: nothing yet (None), its only piece
    (bytes, not copied), or one bytearray grown in place. Not a list of pieces: for tiny
    fragments, each piece's object would cost twenty times its bytes."""
    if kept is None:
        return piece
    if type(kept) is bytes:
        kept = bytearray(kept)
    kept += piece
    return kept


def _kept_bytes(kept: Kept) -> bytes:
    if kept is None:
        return b""
    return kept if type(kept) is bytes else bytes(kept)


class FrameParser:
    """Incremental parser of received frames: ``feed(data)`` -> list of events, in wire order.

    ``client=False`` (we are the server): every frame must be masked;
    ``client=True``: none may be. ``max_message_size`` (None = no limit) caps a
    message's payload, summed over its fragments: checked from each header
    before its payload is buffered, and for a compressed message while it is
    inflated (never more than the limit + 1 byte is produced).
    ``extensions``: empty, or the agreed permessage-deflate parameters (see
    :class:`wsfast.extensions.Extension`). A violation raises ProtocolError with
    the close code to send and ``.events`` = what this feed completed first;
    the parser is then failed (``failed``/``error``) and every later feed
    raises the same error again.

    A compressed message is inflated in pieces: the bytes of one frame that
    one feed brings, the last piece of the message with the flush marker
    appended. After each piece the new output is UTF-8-checked (text) and the
    size limit applied, in that order; the compiled twin inflates in the same
    pieces, so both fail the same way at the same byte.
    """

    __slots__ = (
        "_mask_bit", "_limit", "_inflater", "_owned", "_error", "_hdr", "_busy",
        "_f_op", "_f_fin", "_f_key", "_f_phase", "_f_left", "_f_kept",
        "_m_op", "_m_rsv", "_m_size", "_m_decoded", "_m_kept", "_m_utf8", "_m_tail", "control_frames",
        "decode_text",
    )

    def __init__(self, *, client: bool = False, max_message_size: Optional[int] = MAX_MESSAGE_SIZE,
                 extensions: Sequence[Any] = (), decode_text: bool = True) -> None:
        if getattr(self, "_busy", False):
            raise RuntimeError(_BUSY)
        # False: text messages come as their validated UTF-8 bytes (no str is built)
        self.decode_text = decode_text
        self._limit, deflate = check_options(max_message_size, extensions)
        self._inflater = Inflater(deflate) if deflate is not None else None
        self._owned = 0x40 if deflate is not None else 0
        self._mask_bit = 0 if client else 0x80
        self._error: Optional[ProtocolError] = None
        self._busy = False
        self._hdr = b""  # an incomplete header, waiting for its other bytes
        # the frame whose payload is being read (_f_left < 0: none)
        self._f_op = 0
        self._f_fin = False
        self._f_key: Optional[bytes] = None
        self._f_phase = 0
        self._f_left = -1
        self._f_kept: Kept = None  # a control frame's payload
        # the data message being assembled (_m_op == 0: none)
        self._m_op = 0
        self._m_rsv = 0
        self._m_size = 0  # wire payload bytes so far
        self._m_decoded = 0  # bytes inflated so far (compressed messages)
        self._m_kept: Kept = None
        self._m_utf8: Optional[Utf8Validator] = None
        self._m_tail = False  # the flush marker was inflated with the last piece
        # control events returned so far: a connection compares it before and after feed()
        # instead of scanning every event for the rare ping/pong/close
        self.control_frames = 0

    @property
    def client(self) -> bool:
        return not self._mask_bit

    @property
    def max_message_size(self) -> Optional[int]:
        return None if self._limit == 1 << 64 else self._limit

    @property
    def failed(self) -> bool:
        """True once a violation was raised: the parser accepts nothing more."""
        return self._error is not None

    @property
    def error(self) -> Optional[ProtocolError]:
        """The violation that failed the parser, or None."""
        return self._error

    @property
    def in_message(self) -> bool:
        """True while a fragmented message, or a frame's payload, is incomplete."""
        return bool(self._m_op) or self._f_left >= 0 or bool(self._hdr)

    def release_idle(self) -> bool:
        """Called now and then (at each keepalive ping): when nothing was inflated since the last
        call and no compressed message is in progress, free the decompressor (a peer that keeps
        its context may still refer back to its window: only the window is kept, and set on the
        next one). Whether it did."""
        inflater = self._inflater
        if inflater is None:
            return False
        if self._m_op != 0 and self._m_rsv:
            return False
        return inflater.park_idle()

    def feed(self, data: Any) -> List[Any]:
        """Parse the next chunk of received bytes; return the events it completed."""
        if self._error is not None:
            raise ProtocolError(self._error.close_code, self._error.reason)
        if type(data) is not bytes:
            data = as_bytes(data, "data")
        if self._busy:  # another thread, or code run during feed() (a finalizer); the twin refuses too
            raise RuntimeError(_BUSY)
        events: List[Any] = []
        self._busy = True
        try:
            self._parse(data, events)
        except ProtocolError as exc:
            exc.events = events
            self._error = exc
            raise
        except BaseException:
            self._error = ProtocolError(CloseCode.INTERNAL_ERROR, "the frame parser failed")
            raise
        finally:
            self._busy = False
        return events

    def _parse(self, data: bytes, events: List[Any]) -> None:
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
            left = self._f_left
            if left >= 0:
                if end - pos < left:
                    if pos < end:
                        self._payload(data[pos:])
                    return
                if left:
                    self._payload(data[pos:pos + left])
                    pos += left
                self._end_frame(events)
            if pos >= end:
                return
            h = self._header(data, pos, end)
            if h is None:
                self._hdr = data[pos:]
                return
            hlen, b0, length, key = h
            start = pos + hlen
            stop = start + length
            if stop <= end and (b0 == 0x81 or b0 == 0x82):
                # a whole unfragmented message, in this chunk: slice, unmask, done
                payload = data[start:stop] if key is None else _unmask(data[start:stop], key)
                if b0 == 0x81:
                    events.append(_text_event(payload) if self.decode_text else _utf8_event(payload))
                else:
                    ev = _new(BinaryMessage)
                    ev.data = payload if type(payload) is bytes else bytes(payload)
                    events.append(ev)
                pos = stop
                continue
            if stop <= end and (b0 == 0xC1 or b0 == 0xC2):
                # a whole compressed message in this chunk: one piece, flush marker included
                self._begin(b0, length, key)
                self._payload(data[start:stop])
                self._end_frame(events)
                pos = stop
                continue
            pos = start
            self._begin(b0, length, key)

    def _header(self, buf: bytes, pos: int, end: int) -> Optional[Tuple[int, int, int, Optional[bytes]]]:
        """(header length, first byte, payload length, mask key) or None if incomplete.

        Rules are checked in a fixed order, each as soon as its bytes are there:
        the first two bytes, then the extended length (encoding, then size
        limit); the mask key last.
        """
        if end - pos < 2:
            return None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if not ((b0 == 0x81 or b0 == 0x82) and not self._m_op and (b1 & 0x80) == self._mask_bit):
            code = header_start_code(b0, b1, bool(self._m_op), self._owned, self._mask_bit)
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
        if b0 & 8:
            if length > self._limit:
                raise header_error(HDR_FRAME_TOO_BIG, length)
        elif (b0 | self._m_rsv) & 0x40:
            pass  # compressed: the limit applies to what it inflates to, checked while inflating
        elif length > self._limit - self._m_size:
            raise header_error(HDR_MESSAGE_TOO_BIG, self._m_size + length)
        if b1 & 0x80:
            if end - pos < hlen + 4:
                return None
            return hlen + 4, b0, length, buf[pos + hlen:pos + hlen + 4]
        return hlen, b0, length, None

    def _begin(self, b0: int, length: int, key: Optional[bytes]) -> None:
        """A header is complete: its payload (`length` bytes) comes next."""
        op = b0 & 0x0F
        self._f_op = op
        self._f_fin = bool(b0 & 0x80)
        self._f_key = key
        self._f_phase = 0
        self._f_left = length
        if op >= 8:
            self._f_kept = None
            return
        if op:  # the first frame of a message
            self._m_op = op
            self._m_rsv = b0 & 0x70
            self._m_kept = None
            self._m_decoded = 0
            self._m_utf8 = Utf8Validator() if op == 1 else None
            self._m_tail = False
        self._m_size += length

    def _payload(self, chunk: bytes) -> None:
        """The next piece of the current frame's payload: unmask, check text, keep."""
        key = self._f_key
        if key is not None:
            phase = self._f_phase
            if phase:
                key = key[phase:] + key[:phase]
            chunk = _unmask(chunk, key)  # type: ignore[assignment]
            self._f_phase = (phase + len(chunk)) & 3
        self._f_left -= len(chunk)
        if self._f_op >= 8:
            self._f_kept = _keep(self._f_kept, chunk)
            return
        if self._m_rsv:
            if self._f_fin and not self._f_left:  # the message's last piece
                self._m_tail = True
                chunk = chunk + TAIL
            self._inflate(chunk)
            return
        utf8 = self._m_utf8
        if utf8 is not None and not utf8.feed(chunk):
            raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
        self._m_kept = _keep(self._m_kept, chunk)

    def _inflate(self, piece: bytes) -> None:
        """Inflate one piece of a compressed message: at most the room left + 1 byte, then check it."""
        parts = self._inflater.inflate(piece, self._limit - self._m_decoded + 1)  # type: ignore[union-attr]
        utf8 = self._m_utf8
        for out in parts:
            if utf8 is not None and not utf8.feed(out):
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
            self._m_decoded += len(out)
        if self._m_decoded > self._limit:
            raise too_big_inflated(self._limit)
        for out in parts:
            self._m_kept = _keep(self._m_kept, out)

    def _end_frame(self, events: List[Any]) -> None:
        """The current frame's payload is complete."""
        self._f_left = -1
        op = self._f_op
        if op >= 8:
            payload = _kept_bytes(self._f_kept)
            self._f_kept = None
            events.append(_control_event(op, payload))
            self.control_frames += 1
            return
        if not self._f_fin:
            return
        if self._m_rsv and not self._m_tail:  # the last frame was empty: the marker on its own
            self._inflate(TAIL)
        utf8 = self._m_utf8
        kept = self._m_kept
        if self._m_rsv:  # the inflater keeps the output as history: as bytes, made once
            kept = _kept_bytes(kept)
            self._inflater.end_message(kept)  # type: ignore[union-attr]
        ev: Any
        if self._m_op == 1:
            if not utf8.finish():  # type: ignore[union-attr]
                raise ProtocolError(_INVALID_PAYLOAD, _TEXT_INVALID)
            ev = _new(TextMessage)
            if self.decode_text:
                ev.data = "" if kept is None else kept.decode("utf-8")  # no bytes copy on the way
            else:
                ev.data = _kept_bytes(kept)
        else:
            ev = _new(BinaryMessage)
            ev.data = _kept_bytes(kept)
        self._m_op = 0
        self._m_rsv = 0
        self._m_size = 0
        self._m_kept = None
        self._m_utf8 = None
        events.append(ev)


# -- writer ----------------------------------------------------------------------------------------

_OPCODES = frozenset((0, 1, 2, 8, 9, 10))


def _payload_arg(payload: object) -> bytes:
    if type(payload) is bytes:
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return as_bytes(payload, "payload", "str or a bytes-like object")


def _opcode_arg(opcode: object) -> int:
    if isinstance(opcode, bool) or not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int (Opcode), not {type(opcode).__name__}")
    if opcode not in _OPCODES:
        raise ValueError(f"opcode {opcode} is reserved")
    return int(opcode)


def _frame(op: int, payload: bytes, fin: bool, mask: Any, rsv1: bool) -> bytes:
    n = len(payload)
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    if mask is None or mask is False:
        mb = 0
    else:
        key = os.urandom(4) if mask is True else check_mask(mask)
        mb = 0x80
    if n < 126:
        head = bytes((b0, mb | n))
    elif n < 65536:
        head = _HEAD16(b0, mb | 126, n)
    else:
        head = _HEAD64(b0, mb | 127, n)
    if mb:
        return head + key + _unmask(payload, key)
    return head + payload


def encode_frame(opcode: int, payload: Union[str, bytes, bytearray, memoryview] = b"", *, fin: bool = True,
                 mask: Union[None, bool, bytes] = None, rsv1: bool = False) -> bytes:
    """One frame on the wire: header (+ mask key) + (masked) payload.

    ``payload`` may be str (encoded as UTF-8) or any bytes-like object.
    ``mask``: None for an unmasked (server) frame, 4 bytes for that key, True
    for a fresh key from os.urandom (clients). Control frames must be final
    and at most 125 bytes, and cannot carry RSV1 (ValueError otherwise).
    """
    op = _opcode_arg(opcode)
    data = _payload_arg(payload)
    if op >= 8:
        if not fin:
            raise ValueError("control frames cannot be fragmented")
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {len(data)} bytes; at most 125 are allowed")
        if rsv1:
            raise ValueError("RSV1 cannot be set on a control frame")
    return _frame(op, data, bool(fin), mask, bool(rsv1))


def encode_message(opcode: int, payload: Union[str, bytes, bytearray, memoryview], *,
                   mask: Union[None, bool, bytes] = None, fragment_size: Optional[int] = None,
                   rsv1: bool = False, compressor: Optional[Compressor] = None) -> List[bytes]:
    """A whole TEXT or BINARY message as a list of frames (for ``transport.writelines``).

    With ``fragment_size`` (payload bytes per frame, >= 1) a longer message is
    split: the first frame carries the opcode and RSV1, the others are
    CONTINUATION frames, the last one is final. Text may be split inside a
    UTF-8 sequence (RFC 6455 validates the whole message). ``mask=True`` draws
    a fresh key from os.urandom for every frame; 4 bytes use that key for all.
    ``compressor`` (a :class:`Compressor` of this implementation, for the
    agreed permessage-deflate): the message is compressed once, as a whole,
    and the compressed payload split (RSV1 set on the first frame).
    """
    op = _opcode_arg(opcode)
    if op not in (1, 2):
        raise ValueError("encode_message() sends TEXT or BINARY messages; use encode_frame() for others")
    data = _payload_arg(payload)
    if fragment_size is not None:
        if isinstance(fragment_size, bool) or not isinstance(fragment_size, int):
            raise TypeError(f"fragment_size must be an int or None, not {type(fragment_size).__name__}")
        if fragment_size < 1:
            raise ValueError("fragment_size must be >= 1")
    if mask is not None and mask is not True and mask is not False:
        mask = check_mask(mask)
    rsv = bool(rsv1)
    if compressor is not None:
        if not isinstance(compressor, Compressor):
            raise TypeError(f"compressor must be a Compressor of this implementation, not "
                            f"{type(compressor).__name__}")
        data = compressor.compress(data)
        rsv = True
    n = len(data)
    if fragment_size is None or n <= fragment_size:
        return [_frame(op, data, True, mask, rsv)]
    frames = []
    for start in range(0, n, fragment_size):
        stop = start + fragment_size
        frames.append(_frame(op if start == 0 else 0, data[start:stop], stop >= n, mask, rsv and start == 0))
    return frames
