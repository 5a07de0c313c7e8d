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
