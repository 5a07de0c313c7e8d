"""wsfast: a WebSocket (RFC 6455 / RFC 7692) engine with a compiled hot path.

The hot path (masking, UTF-8 validation, frame parsing) comes from the compiled
extension when it is built, else from its pure-Python twins; IMPLEMENTATION
says which ("c" or "python"). WSFAST_NO_EXTENSIONS=1 forces the twins and
WSFAST_REQUIRE_EXTENSIONS=1 turns a missing extension into an ImportError.
"""

from __future__ import annotations

from . import _impl
from .close import build_close_payload, parse_close_payload
from .connection import (  # the sans-I/O connection (issue 4)
    ClientConnection,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    ServerConnection,
    State,
)
from .enums import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_NO_STATUS_RECEIVED,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_LARGE,
    CLOSE_UNSUPPORTED,
    INTERNAL_ERROR,
    CloseCode,
    Opcode,
)
from .exceptions import ProtocolError, WebSocketError
from .handshake import InvalidHandshake

__version__ = "0.1.0.dev0"

_active = _impl.active()
IMPLEMENTATION: str = _active.name

apply_mask = _active.apply_mask
apply_mask_inplace = _active.apply_mask_inplace
validate_utf8 = _active.validate_utf8
Utf8Validator = _active.Utf8Validator
FrameParser = _active.FrameParser
encode_frame = _active.encode_frame
encode_message = _active.encode_message
TextMessage = _active.TextMessage
BinaryMessage = _active.BinaryMessage
Ping = _active.Ping
Pong = _active.Pong
Close = _active.Close

__all__ = [
    "IMPLEMENTATION",
    "apply_mask",
    "apply_mask_inplace",
    "validate_utf8",
    "Utf8Validator",
    "FrameParser",
    "encode_frame",
    "encode_message",
    "build_close_payload",
    "parse_close_payload",
    "TextMessage",
    "BinaryMessage",
    "Ping",
    "Pong",
    "Close",
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
    "WebSocketError",
    "ProtocolError",
    "ServerConnection",
    "ClientConnection",
    "State",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
    "InvalidHandshake",
]
