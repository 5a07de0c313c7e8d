"""HTTP/1.1 messages of the opening handshake and their incremental parsers (RFC 7230).

Only what a WebSocket endpoint needs: a request or response *head* (start
line and header fields), never a chunked body. Bytes may arrive in any
pieces, from ``bytes``, ``bytearray`` or a ``memoryview`` of a reused read
buffer; the parsers copy what they keep.

The request parser refuses, with 400, what could make us and a proxy in front
of us disagree on where the request ends (request smuggling): conflicting or
malformed ``Content-Length`` values, ``Transfer-Encoding`` together with
``Content-Length``, and a request-target that is neither origin-form
(``/path?query``) nor absolute-form (``http://host/path``). Heads over
``max_header_size`` bytes or ``max_headers`` lines get 431, as early as it can
be known.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from .exceptions import InvalidMessage, InvalidRequest, status_phrase
from .headers import TCHAR, Headers, has_bad_value_bytes, is_token_bytes

__all__ = [
    "MAX_HEADER_SIZE",
    "MAX_HEADERS",
    "Request",
    "Response",
    "RequestParser",
    "ResponseParser",
]

MAX_HEADER_SIZE = 8192  # bytes of start line + header fields (431 beyond)
MAX_HEADERS = 128  # header lines (431 beyond)

BytesLike = Union[bytes, bytearray, memoryview]


class Request:
    """A parsed request head. ``target`` is the request-target as sent; ``path`` its path and query."""

    __slots__ = ("method", "target", "version", "headers")

    def __init__(self, method: str, target: str, version: Tuple[int, int], headers: Headers) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers

    @property
    def path(self) -> str:
        """The path and query: the target itself (origin-form), or its path part (absolute-form)."""
        target = self.target
        if target.startswith("/"):
            return target
        parts = urlsplit(target)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path

    @property
    def origin(self) -> Optional[str]:
        return self.headers.get("Origin")

    def declares_body(self) -> bool:
        """True if the head announces a body (Transfer-Encoding, or a Content-Length above 0)."""
        headers = self.headers
        if "Transfer-Encoding" in headers:
            return True
        length = headers.get_all("Content-Length")
        return bool(length) and int(length[0]) > 0  # the parser checked the values

    def serialize(self) -> bytes:
        line = f"{self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}\r\n"
        return line.encode("latin-1") + self.headers.serialize() + b"\r\n"

    def __repr__(self) -> str:
        return f"Request({self.method!r}, {self.target!r}, headers={self.headers!r})"


class Response:
    """An HTTP response (the 101, an error or plain answer, or what a server sent a client)."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: Optional[str] = None, headers: Optional[Headers] = None,
                 body: bytes = b"") -> None:
        self.status = int(status)
        self.reason = status_phrase(self.status) if reason is None else reason
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def serialize(self) -> bytes:
        line = f"HTTP/1.1 {self.status} {self.reason}\r\n".encode("latin-1")
        return line + self.headers.serialize() + b"\r\n" + self.body

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.reason!r}, headers={self.headers!r})"


# ---------------------------------------------------------------- incremental parsing

_REQUEST_LINE = re.compile(f"([{TCHAR}]+) ([\\x21-\\x7e]+) HTTP/([0-9])\\.([0-9])".encode("ascii"))
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_NOT_REQUEST_LINE = re.compile(rb"[^\x20-\x7e\r]")
_NOT_STATUS_LINE = re.compile(rb"[^\t\x20-\x7e\x80-\xff\r]")
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]+(?:[/?].*)?")


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

    def feed(self, data: BytesLike) -> Optional[Tuple[bytes, Headers]]:
        """(start line, headers) once the head is complete; raises InvalidRequest (400 or 431)."""
        if self.done:
            raise RuntimeError("the HTTP head was already parsed")
        buf = self._buf
        buf += data  # copied: the caller may reuse its buffer
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if not self._line_checked:
            eol = buf.find(b"\r\n")
            if eol >= 0:
                self._line_checked = True
                self._check_first_line(bytes(buf[:eol]))
            elif self._bad_first_line.search(buf):
                raise InvalidRequest(400, "not an HTTP/1.1 message")
        if end < 0:
            if len(buf) >= self.max_size:
                raise InvalidRequest(431, f"headers exceed {self.max_size} bytes")
            self._scanned = len(buf)
            return None
        if end + 4 > self.max_size:
            raise InvalidRequest(431, f"headers exceed {self.max_size} bytes")
        self.done = True
        self.trailing = bytes(buf[end + 4:])
        head = bytes(buf[:end])
        self._buf = bytearray()
        lines = head.split(b"\r\n")
        if len(lines) - 1 > self.max_headers:
            raise InvalidRequest(431, f"more than {self.max_headers} header lines")
        return lines[0], _parse_header_lines(lines[1:])


def _parse_header_lines(lines: List[bytes]) -> Headers:
    headers = Headers()
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise InvalidRequest(400, "bare CR or LF in the headers")
        if line[:1] in (b" ", b"\t"):
            # obs-fold (RFC 7230 3.2.4): a continuation line is joined to the previous value with SP
            if not headers:
                raise InvalidRequest(400, "folded line before the first header")
            more = line.strip(b" \t")
            if has_bad_value_bytes(more):
                raise InvalidRequest(400, "control character in a header value")
            headers.fold_last(more.decode("latin-1"))
            continue
        name, sep, value = line.partition(b":")
        if not sep or not is_token_bytes(name):
            raise InvalidRequest(400, f"invalid header line {line[:64]!r}")
        value = value.strip(b" \t")
        if has_bad_value_bytes(value):
            raise InvalidRequest(400, f"control character in header {name.decode('ascii')}")
        headers.add_received(name.decode("ascii"), value.decode("latin-1"))
    return headers


def _check_request_line(line: bytes) -> None:
    if _REQUEST_LINE.fullmatch(line) is None:
        raise InvalidRequest(400, f"malformed request line {line[:64]!r}")


def _check_status_line(line: bytes) -> None:
    if _STATUS_LINE.fullmatch(line) is None:
        raise InvalidRequest(400, f"malformed status line {line[:64]!r}")


def _check_message_framing(headers: Headers) -> None:
    """RFC 7230 3.3.3: refuse a head whose body length two parsers could read differently."""
    lengths = headers.get_all("Content-Length")
    if lengths:
        values = {v.strip(" \t") for joined in lengths for v in joined.split(",")}
        if len(values) != 1:
            raise InvalidRequest(400, "conflicting Content-Length headers")
        value = values.pop()
        if not value.isdigit() or not value.isascii():
            raise InvalidRequest(400, f"invalid Content-Length {value[:32]!r}")
        if "Transfer-Encoding" in headers:
            raise InvalidRequest(400, "both Transfer-Encoding and Content-Length")


def _check_target(target: str) -> None:
    if target.startswith("/") or _ABSOLUTE_FORM.fullmatch(target):
        return
    raise InvalidRequest(400, f"request-target {target[:64]!r} is neither origin-form nor absolute-form")


class RequestParser:
    """Incremental parser of one HTTP/1.1 request head (server side).

    ``feed(data)`` takes any bytes-like object (it is copied) and returns the
    :class:`Request` once the blank line ending the headers has arrived, None
    before. Bytes after the head (frames a client sent without waiting for the
    101) are kept in :attr:`trailing`. A malformed or ambiguous request raises
    :class:`~wsfast.exceptions.InvalidRequest` with 400, a head over
    ``max_header_size`` bytes or ``max_headers`` lines with 431.
    """

    __slots__ = ("_reader",)

    def __init__(self, max_header_size: int = MAX_HEADER_SIZE, max_headers: int = MAX_HEADERS) -> None:
        self._reader = _HeadReader(max_header_size, max_headers, _check_request_line, _NOT_REQUEST_LINE)

    @property
    def trailing(self) -> bytes:
        return self._reader.trailing

    def feed(self, data: BytesLike) -> Optional[Request]:
        head = self._reader.feed(data)
        if head is None:
            return None
        line, headers = head
        match = _REQUEST_LINE.fullmatch(line)
        assert match is not None  # checked as soon as the line was complete
        method, target_b, major, minor = match.groups()
        target = target_b.decode("ascii")
        _check_target(target)
        _check_message_framing(headers)
        return Request(method.decode("ascii"), target, (int(major), int(minor)), headers)


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response head (client side).

    Like :class:`RequestParser`; malformed input raises
    :class:`~wsfast.exceptions.InvalidMessage`. The returned response's ``body``
    holds whatever followed the head up to its Content-Length (only meaningful
    for an error response; after a 101, those bytes are the first frames and
    stay in :attr:`trailing`).
    """

    __slots__ = ("_reader",)

    def __init__(self, max_header_size: int = MAX_HEADER_SIZE, max_headers: int = MAX_HEADERS) -> None:
        self._reader = _HeadReader(max_header_size, max_headers, _check_status_line, _NOT_STATUS_LINE)

    @property
    def trailing(self) -> bytes:
        return self._reader.trailing

    def feed(self, data: BytesLike) -> Optional[Response]:
        try:
            head = self._reader.feed(data)
        except InvalidRequest as exc:  # the head reader words its failures for a request
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
