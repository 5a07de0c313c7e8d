"""Extension hooks (RFC 6455 section 9): what the handshake and the frame parser expect of an extension.

Negotiation happens in the opening handshake: a :class:`ServerExtension`
answers the client's offers, a :class:`ClientExtension` makes an offer and
checks the server's answer. Both return the *negotiated* object, which the
sans-I/O protocol hands to its frame parser and writer.
"""

from __future__ import annotations

from typing import Any, List, Optional, Protocol, Tuple

from ..headers import ExtensionParams

__all__ = ["ServerExtension", "ClientExtension"]


class ServerExtension(Protocol):
    """What the server needs from an extension (e.g. permessage-deflate)."""

    name: str

    def negotiate(self, offers: List[ExtensionParams]) -> Optional[Tuple[ExtensionParams, Any]]:
        """Given the client's offers for ``name`` (in its order), return
        ``(response_params, extension)`` for the one accepted, or None to decline.
        ``extension`` is what the frame parser and writer are given; raise
        :class:`~wsfast.exceptions.InvalidRequest` to refuse the whole handshake."""
        ...


class ClientExtension(Protocol):
    """What the client needs from an extension."""

    name: str

    def offer(self) -> ExtensionParams:
        """Parameters of our offer for ``name``."""
        ...

    def accept(self, params: ExtensionParams) -> Any:
        """The negotiated extension for the server's response parameters;
        raise ValueError when they are not acceptable."""
        ...
