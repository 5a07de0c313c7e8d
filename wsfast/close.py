"""Close frame payloads (RFC 6455 sections 5.5.1 and 7.4): build what we send, parse what we get.

Sending is strict: a code that must not go on the wire (1005, 1006, 1015, or
anything outside the policy in wsfast.enums) or a reason longer than 123 bytes
of UTF-8 is a ValueError — never silently rewritten, so the caller learns about
the bug instead of the peer getting something it did not mean.

Receiving follows the close-code policy (docs/protocol-policy.md): both frame
parsers call :func:`parse_close_payload`, so they cannot disagree on it.
"""

from __future__ import annotations

from typing import Optional, Tuple

from .enums import CloseCode, is_sendable_close_code, is_valid_received_close_code
from .exceptions import ProtocolError

__all__ = ["MAX_REASON_BYTES", "NO_WIRE_CODES", "build_close_payload", "parse_close_payload", "check_close",
           "close_payload"]

MAX_REASON_BYTES = 123  # 125-byte control payload minus the 2-byte code
# codes that report what happened locally and never go on the wire
NO_WIRE_CODES = (CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)


def check_close(code: Optional[int], reason: str = "") -> bytes:
    """Validate a close we are about to send; return the UTF-8 reason.

    ``code`` None means a close frame without a status code (the peer will
    report 1005); it cannot carry a reason.
    """
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be str, not {type(reason).__name__}")
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"close code must be an int, not {type(code).__name__}")
    if not is_sendable_close_code(code):
        raise ValueError(f"close code {int(code)} may not be sent on the wire "
                         "(valid: 1000-1003, 1007-1014, 3000-4999)")
    encoded = reason.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    if len(encoded) > MAX_REASON_BYTES:
        raise ValueError(f"close reason is {len(encoded)} bytes of UTF-8; the limit is {MAX_REASON_BYTES}")
    return encoded


def build_close_payload(code: Optional[int] = CloseCode.NORMAL, reason: str = "") -> bytes:
    """The payload of a close frame: 2-byte big-endian code + UTF-8 reason (empty if code is None)."""
    encoded = check_close(code, reason)
    if code is None:
        return b""
    return close_payload(code, encoded)


def close_payload(code: int, encoded_reason: bytes) -> bytes:
    """2-byte big-endian code + the reason's bytes, unchecked (:func:`build_close_payload` checks)."""
    return int(code).to_bytes(2, "big") + encoded_reason


def parse_close_payload(data: bytes) -> Tuple[CloseCode, str]:
    """(code, reason) of a received close payload (any bytes-like object); (1005, "") when empty.

    Raises ProtocolError: 1002 for a 1-byte payload, a payload over 125 bytes
    or a code outside the policy (valid: 1000-1003, 1007-1014, 3000-4999);
    1007 for a reason that is not UTF-8.
    """
    n = len(data)
    if n == 0:
        return CloseCode.NO_STATUS_RECEIVED, ""
    if n == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame with a 1-byte payload")
    if n > 125:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame payload over 125 bytes")
    code = (data[0] << 8) | data[1]
    if not is_valid_received_close_code(code):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = bytes(data[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "close reason is not valid UTF-8") from None
    return CloseCode(code), reason
