"""Helpers the compiled and the pure-Python twins share (masking and frame parsing).

What is rare, small or only about arguments is written once, here, and called
by both twins, so the two cannot disagree on it: the parser's option checks,
the size-limit error for compressed messages, the checks of an event
constructor's arguments, the bytes-like argument rule, the mask key check. The pure twins
also share their XOR (``xor_with_key``). Close payloads are parsed by
:func:`wsfast.close.parse_close_payload`, for the parsers and for everyone else.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

from .close import NO_WIRE_CODES, close_payload
from .enums import CloseCode
from .exceptions import ProtocolError
from .extensions.permessage_deflate import PerMessageDeflate

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "HDR_NOT_MINIMAL",
    "HDR_TOP_BIT",
    "HDR_FRAME_TOO_BIG",
    "HDR_MESSAGE_TOO_BIG",
    "header_error",
    "header_start_code",
    "as_bytes",
    "check_mask",
    "check_options",
    "close_fields",
    "event_bytes",
    "event_text",
    "short_repr",
    "too_big_inflated",
    "xor_with_key",
]

MAX_CONTROL_PAYLOAD = 125


# ---------------------------------------------------------------- header rules

# The codes of wsf_header.h (src/), one per framing rule: the compiled parsers get them from C,
# the pure ones from header_start_code(); both turn them into the error with header_error().
HDR_RESERVED_OPCODE = -1
HDR_FRAGMENTED_CONTROL = -2
HDR_CONTROL_TOO_LONG = -3
HDR_RSV_CONTROL = -4
HDR_DATA_IN_MESSAGE = -5
HDR_RSV_UNOWNED = -6
HDR_STRAY_CONTINUATION = -7
HDR_RSV_CONTINUATION = -8
HDR_UNMASKED_FROM_CLIENT = -9
HDR_MASKED_FROM_SERVER = -10
HDR_NOT_MINIMAL = -11
HDR_TOP_BIT = -12
HDR_FRAME_TOO_BIG = -13
HDR_MESSAGE_TOO_BIG = -14

_HEADER_REASONS = {
    HDR_RESERVED_OPCODE: "reserved opcode {value}",
    HDR_FRAGMENTED_CONTROL: "fragmented control frame",
    HDR_CONTROL_TOO_LONG: "control frame payload longer than 125 bytes",
    HDR_RSV_CONTROL: "RSV bit set on a control frame",
    HDR_DATA_IN_MESSAGE: "new data frame inside a fragmented message",
    HDR_RSV_UNOWNED: "RSV bit set without a negotiated extension",
    HDR_STRAY_CONTINUATION: "continuation frame without a message to continue",
    HDR_RSV_CONTINUATION: "RSV bit set on a continuation frame",
    HDR_UNMASKED_FROM_CLIENT: "unmasked frame from a client",
    HDR_MASKED_FROM_SERVER: "masked frame from a server",
    HDR_NOT_MINIMAL: "payload length not in its minimal encoding",
    HDR_TOP_BIT: "64-bit payload length with its top bit set",
    HDR_FRAME_TOO_BIG: "frame of {value} bytes exceeds the size limit",
    HDR_MESSAGE_TOO_BIG: "message of {value} bytes exceeds the size limit",
}


def header_start_code(b0: int, b1: int, in_message: bool, rsv_owned: int, mask_bit: int) -> int:
    """The rules on a header's first two bytes, in order: 0, or the code of the first one broken.

    The pure-Python twin of wsf_header_check_start() in src/wsf_header.h.
    """
    op = b0 & 0x0F
    rsv = b0 & 0x70
    if op >= 8:
        if op > 10:
            return HDR_RESERVED_OPCODE
        if not b0 & 0x80:
            return HDR_FRAGMENTED_CONTROL
        if (b1 & 0x7F) > MAX_CONTROL_PAYLOAD:
            return HDR_CONTROL_TOO_LONG
        if rsv:
            return HDR_RSV_CONTROL
    elif op:
        if op > 2:
            return HDR_RESERVED_OPCODE
        if in_message:
            return HDR_DATA_IN_MESSAGE
        if rsv & ~rsv_owned:
            return HDR_RSV_UNOWNED
    else:
        if not in_message:
            return HDR_STRAY_CONTINUATION
        if rsv:
            return HDR_RSV_CONTINUATION
    if (b1 & 0x80) != mask_bit:
        return HDR_UNMASKED_FROM_CLIENT if mask_bit else HDR_MASKED_FROM_SERVER
    return 0


def header_error(code: int, value: int = 0) -> ProtocolError:
    """The error for a header rule's code; `value`: the opcode, or the size for the size limits."""
    close = CloseCode.MESSAGE_TOO_BIG if code in (HDR_FRAME_TOO_BIG, HDR_MESSAGE_TOO_BIG) \
        else CloseCode.PROTOCOL_ERROR
    return ProtocolError(close, _HEADER_REASONS[code].format(value=value))


# ---------------------------------------------------------------- arguments


def as_bytes(data: object, name: str, expected: str = "a bytes-like object") -> bytes:
    """``data`` (any bytes-like object) as bytes: bytes as is, others copied.

    TypeError "``name`` must be ``expected``, not <type>" for anything else
    (str included: it has no buffer).
    """
    if type(data) is bytes:
        return data
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be {expected}, not {type(data).__name__}") from None


def check_mask(mask: object) -> bytes:
    """The 4-byte key as bytes; TypeError for non-buffers, ValueError for a wrong length."""
    key = as_bytes(mask, "mask")
    if len(key) != 4:
        raise ValueError(f"mask must be exactly 4 bytes, got {len(key)}")
    return key


# ---------------------------------------------------------------- masking (the pure twins)

# _XOR_TABLES[k] maps every byte b to b ^ k (a bytes.translate table)
_IDENTITY = int.from_bytes(bytes(range(256)), "little")
_XOR_TABLES = tuple(
    (_IDENTITY ^ int.from_bytes(bytes((k,)) * 256, "little")).to_bytes(256, "little") for k in range(256)
)
_TRANSLATE_FROM = 512  # below this many bytes the big-int XOR is faster


def xor_with_key(data: bytes, key: bytes) -> Union[bytes, bytearray]:
    """``data`` XORed with the 4-byte ``key`` repeated from its first byte (key already rotated to the phase).

    Even in pure Python the per-byte work stays in C: short payloads are XORed
    as one big integer (payload and repeated key become ints, one XOR, back to
    bytes); long ones as four byte lanes (every 4th byte), each mapped through
    a 256-byte ``bytes.translate`` table for its key byte, about twice as fast
    per byte.
    """
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


# ---------------------------------------------------------------- the frame parser


def check_options(max_message_size: Optional[int], extensions: Sequence[Any]
                  ) -> Tuple[int, Optional[PerMessageDeflate]]:
    """Validate FrameParser options -> (limit, the agreed permessage-deflate parameters or None).

    ``limit`` is ``max_message_size``, or 2**64 for None (no limit). What
    ``extensions`` may hold: :class:`wsfast.extensions.Extension`.
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
    for ext in exts:
        if not isinstance(ext, PerMessageDeflate):
            raise TypeError(f"FrameParser implements permessage-deflate only (a PerMessageDeflate), "
                            f"not {type(ext).__name__}")
    if len(exts) > 1:
        raise ValueError("permessage-deflate can be agreed once per connection")
    return limit, (exts[0] if exts else None)


def too_big_inflated(limit: int) -> ProtocolError:
    """The 1009 for a compressed message that inflates past the limit (both implementations)."""
    return ProtocolError(CloseCode.MESSAGE_TOO_BIG,
                         f"message inflates to more than the size limit ({limit} bytes)")


# ---------------------------------------------------------------- events


def event_bytes(data: object, what: str) -> bytes:
    """An event constructor's bytes argument: bytes as is, other bytes-like objects copied."""
    return as_bytes(data, f"{what} data", "bytes")


def event_text(data: object, what: str) -> str:
    """An event constructor's str argument: str as is, a str subclass as a plain str."""
    if type(data) is str:
        return data
    if isinstance(data, str):
        return str.__str__(data)
    raise TypeError(f"{what} data must be str, not {type(data).__name__}")


def close_fields(code: int, reason: str, data: Optional[bytes]) -> Tuple[CloseCode, str, bytes]:
    """Close(code, reason, data) arguments checked; data=None builds the payload (none for 1005/1006/1015)."""
    close_code = CloseCode(code)
    if not isinstance(reason, str):
        raise TypeError(f"Close reason must be str, not {type(reason).__name__}")
    if data is None:
        if close_code in NO_WIRE_CODES:
            return close_code, reason, b""
        return close_code, reason, close_payload(close_code, reason.encode("utf-8"))
    return close_code, reason, event_bytes(data, "Close")


def short_repr(data: Any, limit: int = 48) -> str:
    """repr() of event data, cut after `limit` items so a 1 MiB message prints on one line."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}...<{len(data)} {'chars' if isinstance(data, str) else 'bytes'}>"
