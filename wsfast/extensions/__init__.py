"""Extension hooks (RFC 6455 section 9): what the handshake and the frame parser expect of an extension.

Negotiation happens in the opening handshake: a :class:`ServerExtension`
answers the client's offers, a :class:`ClientExtension` makes an offer and
checks the server's answer. Both return the *negotiated* object, an
:class:`Extension`, which the sans-I/O protocol hands to its frame parser and
writer.
"""

from __future__ import annotations

from typing import Any, List, Optional, Protocol, Tuple

from ..headers import ExtensionParams

__all__ = ["Extension", "ServerExtension", "ClientExtension", "RSV1", "RSV2", "RSV3", "RSV_ALL"]

# RSV bits as they sit in the first header byte
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
RSV_ALL = RSV1 | RSV2 | RSV3


class Extension(Protocol):
    """What FrameParser(extensions=...) accepts: the agreed permessage-deflate parameters.

    The parser implements the one extension deployed in practice,
    permessage-deflate (RFC 7692), itself: a message whose first frame has
    RSV1 set is inflated as its payload arrives, straight into the message's
    buffer, its size limit checked while inflating (never after), its text
    validated as it lands. ``extensions`` is empty (RSV1 is then a protocol
    error, 1002) or holds one
    :class:`~wsfast.extensions.permessage_deflate.PerMessageDeflate` from the
    handshake; its ``remote_*`` fields say how the peer compresses. RSV1 on a
    control frame or a continuation frame, and RSV2/RSV3 always, are protocol
    errors (1002).
    """

    rsv_bits: int
    remote_max_window_bits: int
    remote_no_context_takeover: bool


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
        """Parameters of our offer for ``name``. An extension may instead define
        ``offers() -> List[ExtensionParams]``: several offers for ``name``, in our order
        of preference (the server accepts one; ``accept`` gets its answer)."""
        ...

    def accept(self, params: ExtensionParams) -> Any:
        """The negotiated extension for the server's response parameters;
        raise ValueError when they are not acceptable."""
        ...
