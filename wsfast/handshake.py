"""The opening handshake's policy (RFC 6455 section 4), without I/O.

Server side, :class:`ServerHandshake`: is a request a WebSocket upgrade we
accept (method, version, Host, Upgrade/Connection, Sec-WebSocket-Version and
-Key, no body, Origin allow-list)? Which subprotocol and extensions? What goes
in the 101 (accept key, CORS headers, extra headers) or in the error
response (400, 403, 405, 426 with the version we speak)? A refused request is
never an exception that leaves the caller without bytes to send: every
refusal is an :class:`~wsfast.exceptions.InvalidRequest` carrying its status,
and :meth:`ServerHandshake.error_response` turns it into the response.

Client side, :class:`ClientHandshake`: the request (a fresh random key), and
the verification of the server's answer, raising one exception class per
mismatch (:class:`~wsfast.exceptions.InvalidStatus`, ``InvalidUpgrade``,
``InvalidAccept``, ``InvalidSubprotocol``, ``InvalidExtension``...).

The HTTP messages and their parsers are in :mod:`wsfast.http11`, the header
grammar in :mod:`wsfast.headers`, the extension hooks in
:mod:`wsfast.extensions`. The sans-I/O protocol (:mod:`wsfast.protocol`)
drives all of this.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from .exceptions import (
    InvalidAccept,
    InvalidExtension,
    InvalidHeader,
    InvalidRequest,
    InvalidStatus,
    InvalidSubprotocol,
    InvalidUpgrade,
)
from .extensions import ClientExtension, ServerExtension
from .headers import (
    ExtensionParams,
    Headers,
    HeadersLike,
    format_extensions,
    is_token,
    parse_extensions,
    parse_token_list,
    token_set,
)
from .http11 import MAX_HEADER_SIZE, MAX_HEADERS, Request, RequestParser, Response, ResponseParser
from .uri import WebSocketURI, parse_uri

__all__ = [
    "GUID",
    "accept_key",
    "generate_key",
    "plain_response",
    "offered_subprotocols",
    "offered_extensions",
    "OriginPolicy",
    "ExtraHeaders",
    "ServerHandshake",
    "ClientHandshake",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OriginPolicy = Union[None, Sequence[Optional[str]], Callable[[Optional[str]], bool]]
ExtraHeaders = Union[None, HeadersLike, Callable[[Request], HeadersLike]]


# ---------------------------------------------------------------- keys


def accept_key(key: Union[str, bytes]) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID))."""
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("ascii")
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: base64 of 16 bytes from os.urandom."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _key_is_valid(key: str) -> bool:
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def _checked_subprotocols(subprotocols: Iterable[str]) -> List[str]:
    """Our own list of subprotocols (to offer, or to accept): each must be a token."""
    protocols = list(subprotocols)
    for proto in protocols:
        if not is_token(proto):
            raise ValueError(f"invalid subprotocol {proto!r}")
    return protocols


# ---------------------------------------------------------------- what the client offered


def _offered(chosen: Optional[str], offered: List[str], who: str) -> Optional[str]:
    """``chosen`` (None: no subprotocol), which must be one the client offered."""
    if chosen is not None and chosen not in offered:
        raise ValueError(f"{who} subprotocol {chosen!r}, which the client did not offer")
    return chosen


def offered_subprotocols(request: Request) -> List[str]:
    """Subprotocols the client offered, in its order (ValueError if malformed)."""
    return [p for v in request.headers.get_all("Sec-WebSocket-Protocol") for p in parse_token_list(v)]


def offered_extensions(request: Request) -> List[Tuple[str, ExtensionParams]]:
    """Extension offers, in the client's order (ValueError if malformed)."""
    return [e for v in request.headers.get_all("Sec-WebSocket-Extensions") for e in parse_extensions(v)]


# ---------------------------------------------------------------- responses


def plain_response(status: int, text: str = "", headers: Optional[HeadersLike] = None) -> Response:
    """A short text/plain response that closes the connection (an error, a health check, a redirect).

    ``text`` is the body, as given (UTF-8). A ``Connection`` header in ``headers``
    is merged with ``close`` into one header (e.g. ``Upgrade, close`` for a 426).
    """
    status = int(status)
    if not 200 <= status <= 599:
        raise ValueError(f"a plain HTTP response needs a status from 200 to 599, not {status}")
    extra = list(Headers(headers)) if headers is not None else []
    body = text.encode("utf-8")
    connection = [v for n, v in extra if n.lower() == "connection"] + ["close"]
    hdrs = Headers([(n, v) for n, v in extra if n.lower() not in ("connection", "content-length")])
    if "Content-Type" not in hdrs:
        hdrs.add("Content-Type", "text/plain; charset=utf-8")
    hdrs.add("Content-Length", str(len(body)))
    hdrs.add("Connection", ", ".join(connection))
    return Response(status, None, hdrs, body)


def _authority(host: str, default_port: Optional[int]) -> Tuple[str, Optional[int]]:
    """(lowercase host, port) from ``host[:port]`` or ``[v6]:port``."""
    parts = urlsplit("//" + host)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port if port is not None else default_port


def _is_cross_origin(origin: str, host: Optional[str]) -> bool:
    """True unless Origin names the same host and port as the Host header."""
    if host is None:
        return True
    parts = urlsplit(origin)
    default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(parts.scheme.lower())
    if default is None or not parts.netloc:
        return True  # "null" or another opaque origin
    origin_host, origin_port = _authority(parts.netloc, default)
    host_name, host_port = _authority(host, default)
    return origin_host != host_name or host_port != origin_port


# ---------------------------------------------------------------- server


class ServerHandshake:
    """Server-side policy of the opening handshake; one may serve many connections.

    origins:
        None accepts any Origin. A sequence lists the exact Origin values allowed
        (include None to allow requests without an Origin header, as non-browser
        clients send); a callable ``(origin or None) -> bool`` decides. A refused
        origin gets 403. An allowed cross-origin request gets
        ``Access-Control-Allow-Origin: <origin>`` and ``Vary: Origin``.
    subprotocols:
        Supported subprotocols in the SERVER's order of preference; the first one
        the client also offered is chosen. ``select_subprotocol(offered) -> str | None``
        overrides the choice.
    extensions:
        :class:`~wsfast.extensions.ServerExtension` objects, in order of preference.
    extra_headers:
        Headers added to every 101 response, or a callable ``(request) -> headers``.
    max_header_size / max_headers:
        Limits on the request head (431 beyond).
    """

    def __init__(
        self,
        *,
        origins: OriginPolicy = None,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Optional[Callable[[List[str]], Optional[str]]] = None,
        extensions: Sequence[ServerExtension] = (),
        extra_headers: ExtraHeaders = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
    ) -> None:
        if origins is not None and not callable(origins):
            if isinstance(origins, str):
                raise TypeError("origins must be a sequence of strings, not a string")
            origins = list(origins)
        self.origins = origins
        self.subprotocols = _checked_subprotocols(subprotocols)
        self.select_subprotocol = select_subprotocol
        self.extensions = list(extensions)
        self.extra_headers = extra_headers
        self.max_header_size = max_header_size
        self.max_headers = max_headers

    def parser(self) -> RequestParser:
        """A fresh incremental request parser with this policy's limits."""
        return RequestParser(self.max_header_size, self.max_headers)

    # -- validation

    def check(self, request: Request) -> None:
        """Raise :class:`~wsfast.exceptions.InvalidRequest` (with its status) unless
        ``request`` is a valid WebSocket upgrade this policy accepts."""
        if request.method != "GET":
            raise InvalidRequest(405, f"method {request.method} not allowed; use GET", [("Allow", "GET")])
        if request.version[0] != 1 or request.version[1] < 1:
            raise InvalidRequest(400, "HTTP/1.1 is required")
        headers = request.headers
        hosts = headers.get_all("Host")
        if len(hosts) != 1:
            raise InvalidRequest(400, "missing Host header" if not hosts else "more than one Host header")
        if request.declares_body():
            raise InvalidRequest(400, "an upgrade request cannot have a body")
        upgrade_headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        if "websocket" not in token_set(headers.get_all("Upgrade")):
            raise InvalidRequest(426, "missing 'Upgrade: websocket' header", upgrade_headers)
        if "upgrade" not in token_set(headers.get_all("Connection")):
            raise InvalidRequest(426, "missing 'Connection: Upgrade' header", upgrade_headers)
        versions = headers.get_all("Sec-WebSocket-Version")
        if versions != ["13"]:
            why = "missing Sec-WebSocket-Version header" if not versions else (
                f"unsupported Sec-WebSocket-Version {', '.join(versions)!r}")
            raise InvalidRequest(426, f"{why}; this server speaks version 13",
                                 [("Sec-WebSocket-Version", "13")] + upgrade_headers)
        keys = headers.get_all("Sec-WebSocket-Key")
        if len(keys) != 1:
            raise InvalidRequest(400, "missing Sec-WebSocket-Key header" if not keys
                                 else "more than one Sec-WebSocket-Key header")
        if not _key_is_valid(keys[0]):
            raise InvalidRequest(400, f"Sec-WebSocket-Key {keys[0][:40]!r} is not base64 of 16 bytes")
        origins = headers.get_all("Origin")
        if len(origins) > 1:
            raise InvalidRequest(400, "more than one Origin header")
        if not self.origin_allowed(origins[0] if origins else None):
            raise InvalidRequest(403, f"origin {origins[0] if origins else None!r} not allowed")
        try:
            offered_subprotocols(request)
        except ValueError as exc:
            raise InvalidRequest(400, f"malformed Sec-WebSocket-Protocol header: {exc}") from None
        try:
            offered_extensions(request)
        except ValueError as exc:
            raise InvalidRequest(400, f"malformed Sec-WebSocket-Extensions header: {exc}") from None

    def origin_allowed(self, origin: Optional[str]) -> bool:
        policy = self.origins
        if policy is None:
            return True
        if callable(policy):
            return bool(policy(origin))
        return origin in policy

    # -- responses

    def choose_subprotocol(self, request: Request) -> Optional[str]:
        offered = offered_subprotocols(request)
        if self.select_subprotocol is not None:
            return _offered(self.select_subprotocol(offered), offered, "select_subprotocol chose")
        for proto in self.subprotocols:
            if proto in offered:
                return proto
        return None

    def negotiate_extensions(self, request: Request) -> Tuple[List[Tuple[str, ExtensionParams]], List[Any]]:
        """(response header items, negotiated extension objects), in our order of preference."""
        if not self.extensions:
            return [], []
        offers = offered_extensions(request)
        accepted: List[Tuple[str, ExtensionParams]] = []
        objects: List[Any] = []
        for ext in self.extensions:
            mine = [params for name, params in offers if name == ext.name]
            if not mine:
                continue
            result = ext.negotiate(mine)
            if result is not None:
                params, obj = result
                accepted.append((ext.name, params))
                objects.append(obj)
        return accepted, objects

    def accept(self, request: Request, *, subprotocol: Any = ..., extra_headers: Optional[HeadersLike] = None
               ) -> Tuple[Response, Optional[str], List[Any]]:
        """The 101 response for a request that passed :meth:`check`.

        Returns ``(response, subprotocol, extensions)``. ``subprotocol`` overrides
        the policy's choice (None for none; it must be one the client offered).
        """
        if subprotocol is ...:
            subprotocol = self.choose_subprotocol(request)
        else:
            subprotocol = _offered(subprotocol, offered_subprotocols(request), "accept() was given")
        ext_items, ext_objects = self.negotiate_extensions(request)
        headers = Headers()
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Accept", accept_key(request.headers["Sec-WebSocket-Key"]))
        if subprotocol is not None:
            headers.add("Sec-WebSocket-Protocol", subprotocol)
        if ext_items:
            headers.add("Sec-WebSocket-Extensions", format_extensions(ext_items))
        origin = request.origin
        host = request.headers.get("Host")
        if self.origins is not None and origin is not None and _is_cross_origin(origin, host):
            headers.add("Access-Control-Allow-Origin", origin)
            headers.add("Vary", "Origin")
        extra = self.extra_headers
        if callable(extra):
            extra = extra(request)
        if extra:
            headers.update(extra)
        if extra_headers:
            headers.update(extra_headers)
        return Response(101, None, headers), subprotocol, ext_objects

    @staticmethod
    def error_response(error: InvalidRequest) -> Response:
        """The response that tells the client why its request failed."""
        return plain_response(error.status, error.reason + "\n", error.headers)


# ---------------------------------------------------------------- client


def _offers(ext: ClientExtension) -> List[ExtensionParams]:
    """An extension's offers, in its order: ``offers()`` if it has several, else ``[offer()]``."""
    several = getattr(ext, "offers", None)
    return list(several()) if several is not None else [ext.offer()]


class ClientHandshake:
    """Client side of the opening handshake: builds the request, verifies the response.

    ``key`` defaults to 16 fresh random bytes (os.urandom), base64-encoded.
    ``subprotocols`` are offered in our order; ``extensions`` are
    :class:`~wsfast.extensions.ClientExtension` objects.
    """

    def __init__(
        self,
        uri: Union[str, WebSocketURI],
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtension] = (),
        extra_headers: Optional[HeadersLike] = None,
        key: Optional[str] = None,
        max_header_size: int = MAX_HEADER_SIZE,
        max_headers: int = MAX_HEADERS,
    ) -> None:
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri
        self.subprotocols = _checked_subprotocols(subprotocols)
        self.extensions = list(extensions)
        self.key = generate_key() if key is None else key
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        headers = Headers()
        headers.add("Host", self.uri.host_header)
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Key", self.key)
        headers.add("Sec-WebSocket-Version", "13")
        if origin is not None:
            headers.add("Origin", origin)
        if self.subprotocols:
            headers.add("Sec-WebSocket-Protocol", ", ".join(self.subprotocols))
        if self.extensions:
            headers.add("Sec-WebSocket-Extensions",
                        format_extensions([(ext.name, params) for ext in self.extensions
                                           for params in _offers(ext)]))
        if extra_headers:
            headers.update(extra_headers)
        self.request = Request("GET", self.uri.resource, (1, 1), headers)

    def parser(self) -> ResponseParser:
        return ResponseParser(self.max_header_size, self.max_headers)

    def verify(self, response: Response) -> Tuple[Optional[str], List[Any]]:
        """``(subprotocol, extensions)`` if ``response`` accepts our request;
        otherwise raise the :class:`~wsfast.exceptions.InvalidHandshake` subclass naming the mismatch."""
        if response.status != 101:
            raise InvalidStatus(response)
        headers = response.headers
        upgrade = headers.get_all("Upgrade")
        if not upgrade:
            raise InvalidUpgrade("Upgrade")
        if token_set(upgrade) != {"websocket"}:
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade), "expected 'websocket'")
        connection = headers.get_all("Connection")
        if not connection:
            raise InvalidUpgrade("Connection")
        if "upgrade" not in token_set(connection):
            raise InvalidUpgrade("Connection", ", ".join(connection), "expected 'Upgrade'")
        accepts = headers.get_all("Sec-WebSocket-Accept")
        if not accepts:
            raise InvalidHeader("Sec-WebSocket-Accept")
        if len(accepts) > 1:
            raise InvalidHeader("Sec-WebSocket-Accept", ", ".join(accepts), "more than one")
        if accepts[0] != accept_key(self.key):
            raise InvalidAccept("Sec-WebSocket-Accept", accepts[0],
                                f"expected {accept_key(self.key)!r} for our key")
        return self._subprotocol(headers), self._extensions(headers)

    def _subprotocol(self, headers: Headers) -> Optional[str]:
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        joined = ", ".join(values)
        try:
            protos = [p for v in values for p in parse_token_list(v)]
        except ValueError:
            raise InvalidSubprotocol("Sec-WebSocket-Protocol", joined, "malformed") from None
        if len(protos) != 1:
            raise InvalidSubprotocol("Sec-WebSocket-Protocol", joined, "the server must choose exactly one")
        if protos[0] not in self.subprotocols:
            why = "we offered none" if not self.subprotocols else f"we offered {', '.join(self.subprotocols)}"
            raise InvalidSubprotocol("Sec-WebSocket-Protocol", joined, why)
        return protos[0]

    def _extensions(self, headers: Headers) -> List[Any]:
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values:
            return []
        joined = ", ".join(values)
        try:
            items = [e for v in values for e in parse_extensions(v)]
        except ValueError:
            raise InvalidExtension("Sec-WebSocket-Extensions", joined, "malformed") from None
        by_name = {ext.name: ext for ext in self.extensions}
        negotiated = []
        seen = set()
        for name, params in items:
            ext = by_name.get(name)
            if ext is None:
                raise InvalidExtension("Sec-WebSocket-Extensions", joined, f"we did not offer {name}")
            if name in seen:
                raise InvalidExtension("Sec-WebSocket-Extensions", joined, f"{name} accepted twice")
            seen.add(name)
            try:
                negotiated.append(ext.accept(params))
            except ValueError as exc:
                raise InvalidExtension("Sec-WebSocket-Extensions", joined, str(exc)) from None
        return negotiated
