"""HTTP header fields: the multimap and the grammar the opening handshake needs (RFC 7230, RFC 6455 9.1).

:class:`Headers` keeps every field in arrival order with its original case;
lookups ignore case. The parsing helpers turn the list-valued headers of the
handshake (``Connection``, ``Upgrade``, ``Sec-WebSocket-Protocol``,
``Sec-WebSocket-Extensions``) into Python values, raising ValueError on bad
syntax so the caller can pick the right HTTP status.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, List, Mapping, Optional, Set, Tuple, Union

__all__ = [
    "TCHAR",
    "Headers",
    "HeadersLike",
    "ExtensionParams",
    "is_token",
    "parse_token_list",
    "token_set",
    "parse_extensions",
    "format_extensions",
]

# RFC 7230 3.2.6: tchar, the one definition every token pattern below is built from
TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{TCHAR}]+")
_TOKEN_B = re.compile(f"[{TCHAR}]+".encode("ascii"))
# a field value may hold HTAB, SP, VCHAR and obs-text; CR, LF, NUL and other controls are refused
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_VALUE_B = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

ExtensionParams = List[Tuple[str, Optional[str]]]
HeadersLike = Union["Headers", Mapping[str, str], Iterable[Tuple[str, str]]]


def is_token(value: object) -> bool:
    """True if ``value`` is a str made only of tchar (an HTTP token)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def is_token_bytes(value: bytes) -> bool:
    return _TOKEN_B.fullmatch(value) is not None


def has_bad_value_bytes(value: bytes) -> bool:
    """True if a received field value holds a control character (CR, LF, NUL...)."""
    return _BAD_VALUE_B.search(value) is not None


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
        if not is_token(name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid value for header {name}: {value!r}")
        self._items.append((name, value))

    def add_received(self, name: str, value: str) -> None:
        """Append a header the HTTP parser already checked (no second validation)."""
        self._items.append((name, value))

    def fold_last(self, more: str) -> None:
        """Join an obs-fold continuation line to the last header's value (RFC 7230 3.2.4)."""
        name, previous = self._items[-1]
        self._items[-1] = (name, f"{previous} {more}" if previous else more)

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

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable

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
        if not is_token(part):
            raise ValueError(f"not a token: {part!r}")
        items.append(part)
    return items


def token_set(values: List[str]) -> Set[str]:
    """The lowercase items of comma-separated header values (for Connection / Upgrade checks)."""
    tokens = set()
    for value in values:
        for part in value.split(","):
            tokens.add(part.strip(" \t").lower())
    return tokens


_EXT_PARAM = re.compile(rf"\s*([{TCHAR}]+)\s*(?:=\s*(?:([{TCHAR}]+)|\"((?:[^\"\\]|\\.)*)\"))?\s*")


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
        if not is_token(name):
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
                if not is_token(unquoted):  # RFC 6455 9.1: the unquoted value must be a token
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


def format_extensions(extensions: Iterable[Tuple[str, ExtensionParams]]) -> str:
    """The inverse of :func:`parse_extensions` (values are written as tokens)."""
    items = []
    for name, params in extensions:
        words = [name] + [p if v is None else f"{p}={v}" for p, v in params]
        items.append("; ".join(words))
    return ", ".join(items)
