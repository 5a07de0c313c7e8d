"""The HTTP/1.1 opening handshake of RFC 6455 section 4, without I/O.

Server side: :class:`RequestParser` reads an upgrade request incrementally
(bytes may arrive in any pieces, from ``bytes``, ``bytearray`` or a
``memoryview`` of a reused BufferedProtocol buffer), :class:`ServerHandshake`
validates it and builds the 101 response, or an error response for every way
the request can be wrong (400, 403, 405, 426, 431): a rejected request is never
an exception that leaves the caller without bytes to send.

Client side: :class:`ClientHandshake` builds the request with a fresh random
key and verifies the server's response, raising one exception class per
mismatch (:class:`InvalidStatus`, :class:`InvalidUpgrade`, :class:`InvalidAccept`,
:class:`InvalidSubprotocol`, :class:`InvalidExtension`, ...).

Extension negotiation is a hook: a server extension is any object with a
``name`` and ``negotiate(offers)``; a client extension has ``name``, ``offer()``
and ``accept(params)`` (see :class:`ServerExtension` / :class:`ClientExtension`).
permessage-deflate plugs in there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import os
import re
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import urlsplit

from .exceptions import WebSocketError

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = [
    "GUID",
    "MAX_HEADER_SIZE",
    "MAX_HEADERS",
    "accept_key",
    "generate_key",
    "Headers",
    "Request",
    "Response",
    "RequestParser",
    "ResponseParser",
    "ServerHandshake",
    "ClientHandshake",
    "ServerExtension",
    "ClientExtension",
    "WebSocketURI",
    "parse_uri",
    "parse_token_list",
    "parse_extensions",
    "format_extensions",
    "InvalidHandshake",
    "InvalidRequest",
    "InvalidMessage",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidUpgrade",
    "InvalidAccept",
    "InvalidSubprotocol",
    "InvalidExtension",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_SIZE = 8192  # bytes of request line + headers (431 beyond)
MAX_HEADERS = 128  # header lines (431 beyond)

ExtensionParams = List[Tuple[str, Optional[str]]]
HeadersLike = Union["Headers", Mapping[str, str], Iterable[Tuple[str, str]]]


# ---------------------------------------------------------------- errors


class InvalidHandshake(WebSocketError):
    """The opening handshake failed (base class of every handshake error)."""


class InvalidRequest(InvalidHandshake):
    """The server refuses the request with HTTP ``status``; ``reason`` says why.

    ``headers`` are extra response headers the status calls for (``Allow`` for
    405, ``Sec-WebSocket-Version`` for 426, ...).
    """

    def __init__(self, status: int, reason: str, headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(status, reason)
        self.status = int(status)
        self.reason = reason
        self.headers = list(headers)

    def __str__(self) -> str:
        return f"{self.status} {_phrase(self.status)}: {self.reason}"


class InvalidMessage(InvalidHandshake):
    """The server's response is not well-formed HTTP/1.1."""


class InvalidStatus(InvalidHandshake):
    """The server answered with another status than 101 Switching Protocols."""

    def __init__(self, response: Response) -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return (f"server rejected the WebSocket connection: HTTP {self.response.status} "
                f"{self.response.reason}".rstrip())


class InvalidHeader(InvalidHandshake):
    """A header of the server's response is missing, duplicated or wrong."""

    def __init__(self, name: str, value: Optional[str] = None, why: str = "") -> None:
        super().__init__(name, value, why)
        self.name = name
        self.value = value
        self.why = why

    def __str__(self) -> str:
        if self.value is None:
            text = f"missing {self.name} header"
        else:
            text = f"invalid {self.name} header: {self.value!r}"
        return f"{text} ({self.why})" if self.why else text


class InvalidUpgrade(InvalidHeader):
    """``Upgrade: websocket`` or ``Connection: Upgrade`` is missing from the response."""


class InvalidAccept(InvalidHeader):
    """``Sec-WebSocket-Accept`` does not match the key we sent."""


class InvalidSubprotocol(InvalidHeader):
    """The server chose a subprotocol we did not offer (or several)."""


class InvalidExtension(InvalidHeader):
    """The server accepted an extension we did not offer, or with parameters we refuse."""


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


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


# ---------------------------------------------------------------- headers

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN_B = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_B = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers:
    """HTTP headers: an ordered multi-map with case-insensitive names.

    Iterating gives ``(name, value)`` pairs as received (original case);
    ``headers[name]`` joins repeated headers with ", " (RFC 7230 3.2.2);
    :meth:`get_all` returns each occurrence.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Optional[HeadersLike] = None) -> None:
        self._items: List[Tuple[str, str]] = []
        if items is not None:
            self.update(items)

    def add(self, name: str, value: str) -> None:
        """Append a header; names must be tokens, values free of CR, LF and NUL."""
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid value for header {name}: {value!r}")
        self._items.append((name, value))

    def update(self, items: HeadersLike) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self.add(name, value)

    def get_all(self, name: str) -> List[str]:
        lname = name.lower()
        return [v for n, v in self._items if n.lower() == lname]

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        return any(n.lower() == lname for n, _ in self._items)

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def serialize(self) -> bytes:
        return b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in self._items)


def parse_token_list(value: str) -> List[str]:
    """``a, b ,,c`` -> ``["a", "b", "c"]`` (RFC 7230 #rule); ValueError if an item is not a token."""
    items = []
    for part in value.split(","):
        part = part.strip(" \t")
        if not part:
            continue
        if not _TOKEN.fullmatch(part):
            raise ValueError(f"not a token: {part!r}")
        items.append(part)
    return items


def _token_set(values: List[str]) -> set:
    tokens = set()
    for value in values:
        for part in value.split(","):
            tokens.add(part.strip(" \t").lower())
    return tokens


_EXT_PARAM = re.compile(
    r"\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*(?:=\s*(?:([!#$%&'*+\-.^_`|~0-9A-Za-z]+)|\"((?:[^\"\\]|\\.)*)\"))?\s*"
)


def parse_extensions(value: str) -> List[Tuple[str, ExtensionParams]]:
    """Parse ``Sec-WebSocket-Extensions`` (RFC 6455 9.1) into ``[(name, [(param, value|None)])]``.

    Quoted-string values are unquoted. ValueError on bad syntax.
    """
    result: List[Tuple[str, ExtensionParams]] = []
    for item in _split_outside_quotes(value, ","):
        if not item.strip(" \t"):
            continue
        parts = _split_outside_quotes(item, ";")
        name = parts[0].strip(" \t")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid extension name {name!r}")
        params: ExtensionParams = []
        for part in parts[1:]:
            match = _EXT_PARAM.fullmatch(part)
            if match is None:
                raise ValueError(f"invalid extension parameter {part!r}")
            pname, token, quoted = match.groups()
            pvalue: Optional[str] = token
            if quoted is not None:
                unquoted = re.sub(r"\\(.)", r"\1", quoted)
                if not _TOKEN.fullmatch(unquoted):  # RFC 6455 9.1: the unquoted value must be a token
                    raise ValueError(f"invalid extension parameter value {quoted!r}")
                pvalue = unquoted
            params.append((pname, pvalue))
        result.append((name, params))
    return result


def _split_outside_quotes(value: str, sep: str) -> List[str]:
    parts: List[str] = []
    current: List[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise ValueError("unterminated quoted string")
    parts.append("".join(current))
    return parts


def format_extensions(extensions: Sequence[Tuple[str, ExtensionParams]]) -> str:
    """The inverse of :func:`parse_extensions` (values are written as tokens)."""
    items = []
    for name, params in extensions:
        words = [name] + [p if v is None else f"{p}={v}" for p, v in params]
        items.append("; ".join(words))
    return ", ".join(items)


# ---------------------------------------------------------------- messages


class Request:
    """A parsed upgrade request. ``target`` is the request-target as sent (path and query)."""

    __slots__ = ("method", "target", "version", "headers")

    def __init__(self, method: str, target: str, version: Tuple[int, int], headers: Headers) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers

    @property
    def path(self) -> str:
        return self.target

    @property
    def origin(self) -> Optional[str]:
        return self.headers.get("Origin")

    @property
    def subprotocols(self) -> List[str]:
        """Subprotocols the client offered, in its order (ValueError if malformed)."""
        return [p for v in self.headers.get_all("Sec-WebSocket-Protocol") for p in parse_token_list(v)]

    @property
    def extensions(self) -> List[Tuple[str, ExtensionParams]]:
        """Extension offers, in the client's order (ValueError if malformed)."""
        return [e for v in self.headers.get_all("Sec-WebSocket-Extensions") for e in parse_extensions(v)]

    def serialize(self) -> bytes:
        line = f"{self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}\r\n"
        return line.encode("latin-1") + self.headers.serialize() + b"\r\n"

    def __repr__(self) -> str:
        return f"Request({self.method!r}, {self.target!r}, headers={self.headers!r})"


class Response:
    """An HTTP response (the 101, an error response, or what a server sent a client)."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: Optional[str] = None, headers: Optional[Headers] = None,
                 body: bytes = b"") -> None:
        self.status = int(status)
        self.reason = _phrase(self.status) if reason is None else reason
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def serialize(self) -> bytes:
        line = f"HTTP/1.1 {self.status} {self.reason}\r\n".encode("latin-1")
        return line + self.headers.serialize() + b"\r\n" + self.body

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.reason!r}, headers={self.headers!r})"


# ---------------------------------------------------------------- incremental parsing

_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_NOT_REQUEST_LINE = re.compile(rb"[^\x20-\x7e\r]")
_NOT_STATUS_LINE = re.compile(rb"[^\t\x20-\x7e\x80-\xff\r]")


class _SyntaxFailure(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _HeadReader:
    """Buffers bytes until the blank line ending an HTTP head, within a size limit."""

    __slots__ = ("_buf", "_scanned", "max_size", "max_headers", "_line_checked", "_check_first_line",
                 "_bad_first_line", "trailing", "done")

    def __init__(self, max_size: int, max_headers: int,
                 check_first_line: Callable[[bytes], None], bad_first_line: re.Pattern[bytes]) -> None:
        if max_size < 16:
            raise ValueError("max_header_size is too small")
        self._buf = bytearray()
        self._scanned = 0
        self.max_size = max_size
        self.max_headers = max_headers
        self._line_checked = False
        self._check_first_line = check_first_line
        self._bad_first_line = bad_first_line
        self.trailing = b""
        self.done = False

    def feed(self, data: Any) -> Optional[Tuple[bytes, Headers]]:
        """(start line, headers) once the head is complete; raises _SyntaxFailure."""
        if self.done:
            raise RuntimeError("the HTTP head was already parsed")
        buf = self._buf
        buf += data  # copies: the caller may reuse its buffer
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if not self._line_checked:
            eol = buf.find(b"\r\n")
            if eol >= 0:
                self._line_checked = True
                self._check_first_line(bytes(buf[:eol]))
            elif self._bad_first_line.search(buf):
                raise _SyntaxFailure(400, "not an HTTP/1.1 message")
        if end < 0:
            if len(buf) >= self.max_size:
                raise _SyntaxFailure(431, f"headers exceed {self.max_size} bytes")
            self._scanned = len(buf)
            return None
        if end + 4 > self.max_size:
            raise _SyntaxFailure(431, f"headers exceed {self.max_size} bytes")
        self.done = True
        self.trailing = bytes(buf[end + 4:])
        head = bytes(buf[:end])
        self._buf = bytearray()
        lines = head.split(b"\r\n")
        if len(lines) - 1 > self.max_headers:
            raise _SyntaxFailure(431, f"more than {self.max_headers} header lines")
        return lines[0], _parse_header_lines(lines[1:])


def _parse_header_lines(lines: List[bytes]) -> Headers:
    headers = Headers()
    items = headers._items
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise _SyntaxFailure(400, "bare CR or LF in the headers")
        if line[:1] in (b" ", b"\t"):
            # obs-fold (RFC 7230 3.2.4): a continuation line is joined to the previous value with SP
            if not items:
                raise _SyntaxFailure(400, "folded line before the first header")
            more = line.strip(b" \t")
            if _BAD_VALUE_B.search(more):
                raise _SyntaxFailure(400, "control character in a header value")
            folded_name, previous = items[-1]
            joined = f"{previous} {more.decode('latin-1')}" if previous else more.decode("latin-1")
            items[-1] = (folded_name, joined)
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN_B.fullmatch(name):
            raise _SyntaxFailure(400, f"invalid header line {line[:64]!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE_B.search(value):
            raise _SyntaxFailure(400, f"control character in header {name.decode('ascii')}")
        items.append((name.decode("ascii"), value.decode("latin-1")))
    return headers


def _check_request_line(line: bytes) -> None:
    if _REQUEST_LINE.fullmatch(line) is None:
        raise _SyntaxFailure(400, f"malformed request line {line[:64]!r}")


def _check_status_line(line: bytes) -> None:
    if _STATUS_LINE.fullmatch(line) is None:
        raise _SyntaxFailure(400, f"malformed status line {line[:64]!r}")


class RequestParser:
    """Incremental parser of one HTTP/1.1 request head (server side).

    ``feed(data)`` takes any bytes-like object (it is copied) and returns the
    :class:`Request` once the blank line ending the headers has arrived, None
    before. Bytes after the head (frames a client sent without waiting for the
    101) are kept in :attr:`trailing`. A malformed request raises
    :class:`InvalidRequest` with 400, a head over ``max_header_size`` bytes or
    ``max_headers`` lines with 431 — as early as it can be known.
    """

    __slots__ = ("_reader",)

    def __init__(self, max_header_size: int = MAX_HEADER_SIZE, max_headers: int = MAX_HEADERS) -> None:
        self._reader = _HeadReader(max_header_size, max_headers, _check_request_line, _NOT_REQUEST_LINE)

    @property
    def trailing(self) -> bytes:
        return self._reader.trailing

    def feed(self, data: Any) -> Optional[Request]:
        try:
            head = self._reader.feed(data)
        except _SyntaxFailure as exc:
            raise InvalidRequest(exc.status, exc.reason) from None
        if head is None:
            return None
        line, headers = head
        match = _REQUEST_LINE.fullmatch(line)
        assert match is not None  # checked as soon as the line was complete
        method, target, major, minor = match.groups()
        return Request(method.decode("ascii"), target.decode("ascii"), (int(major), int(minor)), headers)


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response head (client side).

    Like :class:`RequestParser`; malformed input raises :class:`InvalidMessage`.
    The returned response's ``body`` holds whatever followed the head up to its
    Content-Length (only meaningful for an error response; after a 101, those
    bytes are the first frames and stay in :attr:`trailing`).
    """

    __slots__ = ("_reader",)

    def __init__(self, max_header_size: int = MAX_HEADER_SIZE, max_headers: int = MAX_HEADERS) -> None:
        self._reader = _HeadReader(max_header_size, max_headers, _check_status_line, _NOT_STATUS_LINE)

    @property
    def trailing(self) -> bytes:
        return self._reader.trailing

    def feed(self, data: Any) -> Optional[Response]:
        try:
            head = self._reader.feed(data)
        except _SyntaxFailure as exc:
            raise InvalidMessage(f"malformed HTTP response: {exc.reason}") from None
        if head is None:
            return None
        line, headers = head
        match = _STATUS_LINE.fullmatch(line)
        assert match is not None
        major, _minor, status, reason = match.groups()
        if int(major) != 1:
            raise InvalidMessage(f"unsupported HTTP version in {line[:64]!r}")
        body = b""
        if int(status) != 101:
            body = self.trailing
            length = headers.get("Content-Length")
            if length is not None and length.isdigit():
                body = body[:int(length)]
        return Response(int(status), (reason or b"").decode("latin-1"), headers, body)


# ---------------------------------------------------------------- extension hooks


class ServerExtension(Protocol):
    """What the server needs from an extension (e.g. permessage-deflate)."""

    name: str

    def negotiate(self, offers: List[ExtensionParams]) -> Optional[Tuple[ExtensionParams, Any]]:
        """Given the client's offers for ``name`` (in its order), return
        ``(response_params, extension)`` for the one accepted, or None to decline.
        ``extension`` is what the frame parser and writer are given; raise
        InvalidRequest to refuse the whole handshake."""
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


# ---------------------------------------------------------------- server

OriginPolicy = Union[None, Sequence[Optional[str]], Callable[[Optional[str]], bool]]
ExtraHeaders = Union[None, HeadersLike, Callable[[Request], HeadersLike]]


def _error_response(status: int, reason: str, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    body = (reason + "\n").encode("utf-8")
    connection = [v for n, v in headers if n.lower() == "connection"] + ["close"]
    hdrs = Headers([(n, v) for n, v in headers if n.lower() != "connection"])
    hdrs.add("Content-Type", "text/plain; charset=utf-8")
    hdrs.add("Content-Length", str(len(body)))
    hdrs.add("Connection", ", ".join(connection))  # one header: e.g. "Upgrade, close" for a 426
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
        :class:`ServerExtension` objects, in order of preference.
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
        for proto in subprotocols:
            if not isinstance(proto, str) or not _TOKEN.fullmatch(proto):
                raise ValueError(f"invalid subprotocol {proto!r}")
        self.origins = origins
        self.subprotocols = list(subprotocols)
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
        """Raise :class:`InvalidRequest` (with its status) unless ``request`` is a
        valid WebSocket upgrade this policy accepts."""
        if request.method != "GET":
            raise InvalidRequest(405, f"method {request.method} not allowed; use GET", [("Allow", "GET")])
        if request.version[0] != 1 or request.version[1] < 1:
            raise InvalidRequest(400, "HTTP/1.1 is required")
        headers = request.headers
        hosts = headers.get_all("Host")
        if len(hosts) != 1:
            raise InvalidRequest(400, "missing Host header" if not hosts else "more than one Host header")
        upgrade_headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        if "websocket" not in _token_set(headers.get_all("Upgrade")):
            raise InvalidRequest(426, "missing 'Upgrade: websocket' header", upgrade_headers)
        if "upgrade" not in _token_set(headers.get_all("Connection")):
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
            request.subprotocols  # noqa: B018 - syntax check
        except ValueError as exc:
            raise InvalidRequest(400, f"malformed Sec-WebSocket-Protocol header: {exc}") from None
        try:
            request.extensions  # noqa: B018
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
        offered = request.subprotocols
        if self.select_subprotocol is not None:
            chosen = self.select_subprotocol(offered)
            if chosen is not None and chosen not in offered:
                raise ValueError(f"select_subprotocol chose {chosen!r}, which the client did not offer")
            return chosen
        for proto in self.subprotocols:
            if proto in offered:
                return proto
        return None

    def negotiate_extensions(self, request: Request) -> Tuple[List[Tuple[str, ExtensionParams]], List[Any]]:
        """(response header items, negotiated extension objects), in our order of preference."""
        if not self.extensions:
            return [], []
        offers = request.extensions
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
        elif subprotocol is not None and subprotocol not in request.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
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
    def reject(status: int, reason: str = "", headers: Optional[HeadersLike] = None) -> Response:
        """An error response (text/plain body ``reason``; ``Connection: close``)."""
        if not 400 <= int(status) <= 599:
            raise ValueError(f"a rejection needs a 4xx or 5xx status, not {status}")
        extra = list(Headers(headers)) if headers is not None else []
        return _error_response(int(status), reason or _phrase(int(status)), extra)

    @staticmethod
    def error_response(error: InvalidRequest) -> Response:
        """The response that tells the client why its request failed."""
        return _error_response(error.status, error.reason, error.headers)


# ---------------------------------------------------------------- client


class WebSocketURI(NamedTuple):
    secure: bool
    host: str
    port: int
    resource: str  # path and query, never empty

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """``ws://host[:port]/path?query`` or ``wss://...`` (ValueError otherwise)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"{uri!r} is not a ws:// or wss:// URI")
    if parts.fragment:
        raise ValueError(f"{uri!r}: a WebSocket URI cannot have a fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{uri!r}: user information is not supported in the URI")
    host = parts.hostname
    if not host:
        raise ValueError(f"{uri!r} has no host")
    secure = scheme == "wss"
    port = parts.port if parts.port is not None else (443 if secure else 80)
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    if not re.fullmatch(r"[\x21-\x7e]+", resource):
        raise ValueError(f"{uri!r}: the path must be printable ASCII (percent-encode it)")
    return WebSocketURI(secure, host, port, resource)


class ClientHandshake:
    """Client side of the opening handshake: builds the request, verifies the response.

    ``key`` defaults to 16 fresh random bytes (os.urandom), base64-encoded.
    ``subprotocols`` are offered in our order; ``extensions`` are
    :class:`ClientExtension` objects.
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
        for proto in subprotocols:
            if not isinstance(proto, str) or not _TOKEN.fullmatch(proto):
                raise ValueError(f"invalid subprotocol {proto!r}")
        self.subprotocols = list(subprotocols)
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
                        format_extensions([(ext.name, ext.offer()) for ext in self.extensions]))
        if extra_headers:
            headers.update(extra_headers)
        self.request = Request("GET", self.uri.resource, (1, 1), headers)

    def parser(self) -> ResponseParser:
        return ResponseParser(self.max_header_size, self.max_headers)

    def verify(self, response: Response) -> Tuple[Optional[str], List[Any]]:
        """``(subprotocol, extensions)`` if ``response`` accepts our request;
        otherwise raise the :class:`InvalidHandshake` subclass naming the mismatch."""
        if response.status != 101:
            raise InvalidStatus(response)
        headers = response.headers
        upgrade = headers.get_all("Upgrade")
        if not upgrade:
            raise InvalidUpgrade("Upgrade")
        if _token_set(upgrade) != {"websocket"}:
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade), "expected 'websocket'")
        connection = headers.get_all("Connection")
        if not connection:
            raise InvalidUpgrade("Connection")
        if "upgrade" not in _token_set(connection):
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
