"""WebSocket URIs (RFC 6455 section 3): ``ws://host[:port]/path?query`` and ``wss://...``."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

_PRINTABLE = re.compile(r"[\x21-\x7e]+")


class WebSocketURI(NamedTuple):
    secure: bool
    host: str
    port: int
    resource: str  # path and query, never empty

    @property
    def host_header(self) -> str:
        """The Host header for a request to this URI (the port only when it is not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """``ws://host[:port]/path?query`` or ``wss://...``; :class:`~wsfast.exceptions.InvalidURI`
    (a ValueError) otherwise."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{uri!r} is not a valid URI: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a ws:// or wss:// URI")
    if parts.fragment:
        raise InvalidURI(f"{uri!r}: a WebSocket URI cannot have a fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidURI(f"{uri!r}: user information is not supported in the URI")
    host = parts.hostname
    if not host:
        raise InvalidURI(f"{uri!r} has no host")
    secure = scheme == "wss"
    if port is None:
        port = 443 if secure else 80
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    if not _PRINTABLE.fullmatch(resource):
        raise InvalidURI(f"{uri!r}: the path must be printable ASCII (percent-encode it)")
    return WebSocketURI(secure, host, port, resource)
