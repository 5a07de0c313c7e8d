"""Framing pieces both parser implementations share (RFC 6455 section 5).

Close payloads are rare and small, so the compiled and pure-Python parsers both
parse them here: one implementation of the close-code policy means the two
cannot disagree. This module also documents the extension hook
(:class:`Extension`) and validates the parser's options.
"""

from __future__ import annotations

import struct
from typing import Any, Optional, Protocol, Sequence, Tuple

from .enums import CloseCode, is_valid_received_close_code
from .exceptions import ProtocolError

__all__ = [
    "Extension",
    "MAX_CONTROL_PAYLOAD",
    "RSV1",
    "RSV2",
    "RSV3",
    "parse_close_payload",
]

MAX_CONTROL_PAYLOAD = 125
# RSV bits as they sit in the first header byte
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
_RSV_ALL = RSV1 | RSV2 | RSV3

_CLOSE_CODE = struct.Struct("!H")


class Extension(Protocol):
    """What FrameParser(extensions=...) expects of a negotiated extension.

    - ``rsv_bits``: the RSV bits it owns, as they appear in the first header
      byte (``RSV1`` = 0x40 for permessage-deflate). Bits no extension owns are
      a protocol error (1002), and so is an owned bit on a control frame or on a
      continuation frame: extensions are per message (RFC 7692 section 6.1),
      the bits are read from the first frame of a data message.
    - ``decode(payload, *, rsv, fin, max_size) -> bytes``: called once per
      complete, unmasked frame of a message whose first frame set one of its
      bits, in wire order (``fin`` is True on the last frame), with ``rsv`` =
      the message's RSV bits and ``max_size`` = how many decoded bytes the
      message may still grow by (None for no limit). It returns the decoded
      bytes; it should stop after ``max_size + 1`` bytes (decompressors take an
      output bound), since the parser raises 1009 for anything longer, and it
      raises ProtocolError for a payload it cannot decode. Extensions decode in
      reverse order of the ``extensions`` sequence (the last one applied by the
      sender is undone first). Text is UTF-8-validated after decoding.

    The frame-size limit is checked on wire bytes from the header, before any
    payload is buffered; the decoded size is checked after each decode call.
    """

    rsv_bits: int

    def decode(self, payload: bytes, *, rsv: int, fin: bool, max_size: Optional[int]) -> bytes: ...


def check_options(max_message_size: Optional[int], extensions: Sequence[Any]
                  ) -> Tuple[int, Tuple[Any, ...], int]:
    """Validate FrameParser options -> (limit, extensions, owned RSV bits).

    ``limit`` is ``max_message_size``, or 2**64 for None (no limit).
    """
    if max_message_size is None:
        limit = 1 << 64
    else:
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
            raise TypeError(f"max_message_size must be an int or None, not {type(max_message_size).__name__}")
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 (or None for no limit)")
        # 2**64 - 1 and up: no limit (the compiled parser keeps sizes in 64 bits)
        limit = max_message_size if max_message_size < (1 << 64) - 1 else 1 << 64
    exts = tuple(extensions)
    owned = 0
    for ext in exts:
        bits = getattr(ext, "rsv_bits", None)
        if isinstance(bits, bool) or not isinstance(bits, int) or not bits or bits & ~_RSV_ALL:
            raise ValueError(f"extension {ext!r} must declare rsv_bits, a non-empty subset of 0x70")
        if bits & owned:
            raise ValueError(f"extension {ext!r} claims RSV bits another extension owns")
        if not callable(getattr(ext, "decode", None)):
            raise TypeError(f"extension {ext!r} has no decode() method")
        owned |= bits
    return limit, exts, owned


def decode_extensions(extensions: Tuple[Any, ...], payload: bytes, rsv: int, fin: bool,
                      room: Optional[int]) -> bytes:
    """Undo the extensions that own bits of `rsv` on one frame's payload (see Extension)."""
    for ext in reversed(extensions):
        if ext.rsv_bits & rsv:
            payload = ext.decode(payload, rsv=rsv, fin=fin, max_size=room)
            if type(payload) is not bytes:  # exact bytes: the compiled parser accepts no subclass
                payload = bytes(payload)
    return payload


def parse_close_payload(payload: bytes) -> Tuple[CloseCode, str]:
    """(code, reason) of a received close frame, by the DESIGN.md close-code policy.

    Empty -> (1005, ""); 1 byte or a code outside the policy -> ProtocolError(1002);
    a reason that is not UTF-8 -> ProtocolError(1007).
    """
    n = len(payload)
    if n == 0:
        return CloseCode.NO_STATUS_RECEIVED, ""
    if n == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = _CLOSE_CODE.unpack_from(payload)[0]
    if not is_valid_received_close_code(code):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "close reason is not valid UTF-8") from None
    return CloseCode(code), reason


def event_bytes(data: object, what: str) -> bytes:
    """An event constructor's bytes argument: bytes as is, other bytes-like objects copied."""
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError(f"{what} data must be bytes, not str")
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} data must be bytes, not {type(data).__name__}") from None


def event_text(data: object, what: str) -> str:
    """An event constructor's str argument: str as is, a str subclass as a plain str."""
    if type(data) is str:
        return data
    if isinstance(data, str):
        return str.__str__(data)
    raise TypeError(f"{what} data must be str, not {type(data).__name__}")


_NO_WIRE_CODES = (CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)


def close_fields(code: int, reason: str, data: Optional[bytes]) -> Tuple[CloseCode, str, bytes]:
    """Close(code, reason, data) arguments checked; data=None builds the payload (none for 1005/1006/1015)."""
    close_code = CloseCode(code)
    if not isinstance(reason, str):
        raise TypeError(f"Close reason must be str, not {type(reason).__name__}")
    if data is None:
        if close_code in _NO_WIRE_CODES:
            return close_code, reason, b""
        return close_code, reason, _CLOSE_CODE.pack(close_code) + reason.encode("utf-8")
    return close_code, reason, event_bytes(data, "Close")


def short_repr(data: Any, limit: int = 48) -> str:
    """repr() of event data, cut after `limit` items so a 1 MiB message prints on one line."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}...<{len(data)} {'chars' if isinstance(data, str) else 'bytes'}>"
