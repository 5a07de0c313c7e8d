"""Exceptions shared by both implementations (the compiled parser raises these too)."""

from __future__ import annotations

from typing import Any, List, Optional

from .enums import CloseCode

__all__ = ["WebSocketError", "ProtocolError"]


class WebSocketError(Exception):
    """Base class of every wsfast error."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455/7692: the connection must be closed with `close_code`.

    `events` holds the events that were completed, in the same `feed`, before
    the violation, so that nothing the peer sent correctly is lost.
    """

    def __init__(self, close_code: int, reason: str, events: Optional[List[Any]] = None) -> None:
        super().__init__(close_code, reason)
        self.close_code = CloseCode(close_code)
        self.reason = reason
        self.events: List[Any] = events if events is not None else []

    def __str__(self) -> str:
        return f"{self.reason} (close code {int(self.close_code)})"

    def __repr__(self) -> str:
        return f"ProtocolError({int(self.close_code)}, {self.reason!r})"

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (int(self.close_code), self.reason, self.events))
