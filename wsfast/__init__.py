"""wsfast: a WebSocket (RFC 6455 / RFC 7692) engine with a compiled hot path.

The hot path (masking, UTF-8 validation, frame parsing) comes from the compiled
extension when it is built, else from its pure-Python twins; IMPLEMENTATION
says which ("c" or "python"). WSFAST_NO_EXTENSIONS=1 forces the twins and
WSFAST_REQUIRE_EXTENSIONS=1 turns a missing extension into an ImportError.

The event classes exported here (TextMessage, BinaryMessage, Ping, Pong,
Close) are those of the active implementation. A protocol created with
``impl="python"`` or ``impl="c"`` produces that implementation's classes,
listed in its ``message_types``; events of both compare equal field by field.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from . import _impl
from .close import build_close_payload, parse_close_payload
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
    FailureCause,
    Opcode,
)
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidState,
    ProtocolError,
    WebSocketError,
)
from .http11 import Request, Response
from .protocol import ClientProtocol, ConnectionFailed, HandshakeFailed, ServerProtocol, State

__version__ = "0.1.0.dev0"

_active = _impl.active()
IMPLEMENTATION: str = _active.name

if TYPE_CHECKING:
    # A type checker sees the compiled modules' stubs (checked against them by mypy's stubtest;
    # the pure twins match them name for name and signature for signature, tests/test_twins_parity.py).
    from ._frames_c import (
        BinaryMessage,
        Close,
        FrameParser,
        Ping,
        Pong,
        TextMessage,
        encode_frame,
        encode_message,
    )
    from ._mask_c import apply_mask, apply_mask_inplace
    from ._utf8_c import Utf8Validator, decode_utf8, validate_utf8
else:
    apply_mask = _active.apply_mask
    apply_mask_inplace = _active.apply_mask_inplace
    validate_utf8 = _active.validate_utf8
    decode_utf8 = _active.decode_utf8
    Utf8Validator = _active.Utf8Validator
    FrameParser = _active.FrameParser
    encode_frame = _active.encode_frame
    encode_message = _active.encode_message
    TextMessage = _active.TextMessage
    BinaryMessage = _active.BinaryMessage
    Ping = _active.Ping
    Pong = _active.Pong
    Close = _active.Close

# old names of the sans-I/O classes, kept one release: in websockets, ServerConnection and
# ClientConnection name the asyncio connection, so these would mislead
_DEPRECATED = {"ServerConnection": ServerProtocol, "ClientConnection": ClientProtocol}


def __getattr__(name: str) -> Any:
    target = _DEPRECATED.get(name)
    if target is None:
        raise AttributeError(f"module 'wsfast' has no attribute {name!r}")
    warnings.warn(
        f"wsfast.{name} is deprecated, use wsfast.{target.__name__} (the sans-I/O protocol; "
        f"wsfast.asyncio.{name} is the asyncio connection)",
        DeprecationWarning,
        stacklevel=2,
    )
    return target


__all__ = [
    "IMPLEMENTATION",
    "apply_mask",
    "apply_mask_inplace",
    "validate_utf8",
    "decode_utf8",
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
    "FailureCause",
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
    "ServerProtocol",
    "ClientProtocol",
    "State",
    "Request",
    "Response",
    "HandshakeFailed",
    "ConnectionFailed",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
    "InvalidHandshake",
]
