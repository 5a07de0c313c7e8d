"""Opcodes and close codes (RFC 6455 sections 5.2 and 7.4) and the close-code policy."""

from __future__ import annotations

import enum
from typing import Dict

__all__ = [
    "Opcode",
    "CloseCode",
    "CLOSE_NORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_UNSUPPORTED",
    "CLOSE_NO_STATUS_RECEIVED",
    "CLOSE_ABNORMAL",
    "CLOSE_TOO_LARGE",
    "INTERNAL_ERROR",
    "FailureCause",
    "is_valid_received_close_code",
    "is_sendable_close_code",
]


class Opcode(enum.IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


_APPLICATION_CODES: Dict[int, CloseCode] = {}


class CloseCode(enum.IntEnum):
    """Close status codes. Registered (3000-3999) and private (4000-4999) codes
    are accepted too and come back as cached pseudo-members named CODE_<n>."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    @classmethod
    def _missing_(cls, value: object) -> CloseCode | None:
        if isinstance(value, int) and 3000 <= value <= 4999:
            member = _APPLICATION_CODES.get(value)
            if member is None:
                member = int.__new__(cls, value)
                member._name_ = f"CODE_{value}"
                member._value_ = value
                _APPLICATION_CODES[value] = member
            return member
        return None


CLOSE_NORMAL = CloseCode.NORMAL
CLOSE_GOING_AWAY = CloseCode.GOING_AWAY
CLOSE_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR
CLOSE_UNSUPPORTED = CloseCode.UNSUPPORTED_DATA
CLOSE_NO_STATUS_RECEIVED = CloseCode.NO_STATUS_RECEIVED
CLOSE_ABNORMAL = CloseCode.ABNORMAL_CLOSURE
CLOSE_TOO_LARGE = CloseCode.MESSAGE_TOO_BIG
INTERNAL_ERROR = CloseCode.INTERNAL_ERROR


def is_valid_received_close_code(code: int) -> bool:
    """The close-code policy (docs/protocol-policy.md): 1000-1003, 1007-1014 and 3000-4999."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def is_sendable_close_code(code: int) -> bool:
    """What may go on the wire: the same set (1005, 1006 and 1015 never do)."""
    return is_valid_received_close_code(code)


class FailureCause(enum.Enum):
    """Why a connection ended without a clean closing handshake.

    The sans-I/O protocol records the cause where the failure happens, so no
    layer above has to guess it from a close code (1011 may mean a keepalive
    timeout or an internal error; 1006 an EOF or a closing handshake that
    timed out).
    """

    PROTOCOL_ERROR = "protocol error"  # the peer broke RFC 6455/7692; we sent 1002/1007/1009
    KEEPALIVE_TIMEOUT = "keepalive timeout"  # a keepalive ping got no pong in time; we sent 1011
    EOF = "eof"  # the transport ended before the peer's close frame (1006)
    CLOSE_TIMEOUT = "close timeout"  # the peer did not answer our close frame in time (1006)
    INTERNAL_ERROR = "internal error"  # we could not go on (e.g. out of memory); we sent 1011
    TLS_HANDSHAKE = "tls handshake"  # the TLS handshake failed before any WebSocket byte (1015)
