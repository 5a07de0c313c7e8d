"""Close frame payloads (RFC 6455 sections 5.5.1 and 7.4): build what we send, parse what we get.

Sending is strict: a code that must not go on the wire (1005, 1006, 1015, or
anything outside the policy in wsfast.enums) or a reason longer than 123 bytes
of UTF-8 is a ValueError — never silently rewritten, so the caller learns about
the bug instead of the peer getting something it did not mean.
"""

from __future__ import annotations

from typing import Optional, Tuple

from .enums import CloseCode, is_sendable_close_code
from .exceptions import ProtocolError
from .frames import parse_close_payload as _parse_received

__all__ = ["MAX_REASON_BYTES", "build_close_payload", "parse_close_payload", "check_close"]

MAX_REASON_BYTES = 123  # 125-byte control payload minus the 2-byte code


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
    return int(code).to_bytes(2, "big") + encoded


def parse_close_payload(data: bytes) -> Tuple[CloseCode, str]:
    """(code, reason) of a received close payload; (1005, "") when it is empty.

    Raises ProtocolError: 1002 for a 1-byte payload, a code outside the policy or
    a payload over 125 bytes; 1007 for a reason that is not UTF-8. The policy
    itself is the frame parsers' (wsfast.frames), so the two cannot disagree.
    """
    data = bytes(data)
    if len(data) > 125:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame payload over 125 bytes")
    return _parse_received(data)
