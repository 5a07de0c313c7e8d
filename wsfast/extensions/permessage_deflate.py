"""permessage-deflate (RFC 7692): the options, the negotiation, and what it agrees on.

Three kinds of object:

- :class:`DeflateOptions` — what the user wants (``compression=`` on the
  protocols, ``serve()`` and ``connect()``), in RFC 7692's parameter names;
  ``None`` fields take the side's default (the table in the class docstring).
- :class:`ServerPerMessageDeflate` / :class:`ClientPerMessageDeflate` — the
  handshake's :class:`~wsfast.extensions.ServerExtension` /
  :class:`~wsfast.extensions.ClientExtension`: they answer an offer, or make
  one and check the answer.
- :class:`PerMessageDeflate` — the agreed parameters seen from our side
  (``local_*`` for what we send, ``remote_*`` for what we receive). The frame
  parser inflates with it and the writer's ``Compressor`` deflates with it.

Why window 8 is special: zlib's raw deflate refuses an 8-bit window (it would
silently use 9, which a peer holding 8 bits of history cannot decode). When
the agreement would make us compress with 8 bits we send every message
uncompressed, which RFC 7692 always allows (RSV1 clear); inflating a peer's
8-bit stream is fine.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..headers import ExtensionParams
from . import RSV1

__all__ = [
    "NAME",
    "DeflateOptions",
    "PerMessageDeflate",
    "ServerPerMessageDeflate",
    "ClientPerMessageDeflate",
    "Compression",
    "deflate_options",
    "server_extensions",
    "client_extensions",
]

NAME = "permessage-deflate"
MIN_WINDOW_BITS = 8
MAX_WINDOW_BITS = 15
_BITS_VALUES = {str(n): n for n in range(MIN_WINDOW_BITS, MAX_WINDOW_BITS + 1)}  # "8".."15", no leading zeros

SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"

# Defaults (see docs/compression.md for the measurement behind them).
DEFAULT_WINDOW_BITS = 12  # our compressor's window, and what a server asks of the client when it may
DEFAULT_MEM_LEVEL = 4
DEFAULT_LEVEL = 1
DEFAULT_MIN_SIZE = 0


def _check_bits(name: str, value: Optional[int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int from 8 to 15 or None, not {type(value).__name__}")
    if not MIN_WINDOW_BITS <= value <= MAX_WINDOW_BITS:
        raise ValueError(f"{name} must be from 8 to 15, not {value}")


def _check_int(name: str, value: Optional[int], low: int, high: Optional[int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, not {value}")


class DeflateOptions:
    """What we want from permessage-deflate; pass it as ``compression=``.

    The four negotiation parameters keep RFC 7692's names, so they mean the
    same on both sides; ``None`` takes that side's default:

    - ``server_max_window_bits``: on a server, our compressor's window,
      announced (default 12); on a client, asked of the server (default: not
      asked, the server may use up to 15).
    - ``client_max_window_bits``: on a server, asked of the client when its
      offer allows it (default 12); on a client, our compressor's window,
      offered (default 12).
    - ``server_no_context_takeover``: on a server, reset our compressor after
      every message; on a client, asked of the server (default False).
    - ``client_no_context_takeover``: on a server, asked of the client; on a
      client, reset our compressor after every message (default False).

    A server also accepts ``client_no_context_takeover`` whenever a client
    offers it (then its decompressor keeps no state between messages).
    ``level`` (0-9, zlib's compression level; -1 is zlib's default, 6) and
    ``mem_level`` (1-9) tune our compressor; messages shorter than
    ``min_size`` bytes are sent uncompressed.
    """

    __slots__ = ("server_max_window_bits", "client_max_window_bits", "server_no_context_takeover",
                 "client_no_context_takeover", "level", "mem_level", "min_size")

    def __init__(
        self,
        *,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        level: int = DEFAULT_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        _check_bits("client_max_window_bits", client_max_window_bits)
        _check_int("level", level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        _check_int("min_size", min_size, 0, None)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.level = level
        self.mem_level = mem_level
        self.min_size = min_size

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"DeflateOptions({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeflateOptions):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))


Compression = Union[None, str, DeflateOptions]


def deflate_options(compression: Compression) -> Optional[DeflateOptions]:
    """The ``compression=`` option as DeflateOptions (None: compression off)."""
    if compression is None:
        return None
    if isinstance(compression, DeflateOptions):
        return compression
    if compression == "deflate":
        return DeflateOptions()
    raise ValueError(f"compression must be 'deflate', None or DeflateOptions, not {compression!r}")


class PerMessageDeflate:
    """The agreed parameters, from our side of the connection (what the parser and writer use).

    ``remote_*``: how the peer compresses what we receive (our decompressor's
    window and whether it is reset after each message); ``local_*``: how we
    compress what we send (``local_max_window_bits`` is the window we use, at
    most what was agreed). ``compresses`` is False when that window would be 8
    (see the module docstring): every message then goes out uncompressed.
    ``params`` are the parameters as they appear in the response header.
    """

    name = NAME
    rsv_bits = RSV1

    __slots__ = ("remote_no_context_takeover", "local_no_context_takeover", "remote_max_window_bits",
                 "local_max_window_bits", "level", "mem_level", "min_size", "params")

    def __init__(
        self,
        *,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = MAX_WINDOW_BITS,
        local_max_window_bits: int = MAX_WINDOW_BITS,
        level: int = DEFAULT_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
        params: Optional[ExtensionParams] = None,
    ) -> None:
        _check_bits("remote_max_window_bits", remote_max_window_bits)
        _check_bits("local_max_window_bits", local_max_window_bits)
        _check_int("level", level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        _check_int("min_size", min_size, 0, None)
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.level = level
        self.mem_level = mem_level
        self.min_size = min_size
        self.params: ExtensionParams = list(params) if params is not None else []

    @property
    def compresses(self) -> bool:
        """False when we would have to compress with an 8-bit window: we then send uncompressed."""
        return self.local_max_window_bits > MIN_WINDOW_BITS

    @property
    def shared_key(self) -> Optional[Tuple[int, int, int]]:
        """Connections with equal keys can be sent the same compressed frame (broadcast).

        Only when we reset our compressor after every message (no context
        takeover on our side): each compressed message then depends on its
        payload and these settings alone. None otherwise.
        """
        if not self.local_no_context_takeover or not self.compresses:
            return None
        return (self.local_max_window_bits, self.mem_level, self.level)

    def __repr__(self) -> str:
        return (f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
                f"local_no_context_takeover={self.local_no_context_takeover}, "
                f"remote_max_window_bits={self.remote_max_window_bits}, "
                f"local_max_window_bits={self.local_max_window_bits}, level={self.level}, "
                f"mem_level={self.mem_level}, min_size={self.min_size})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PerMessageDeflate):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------- parameter parsing


class _Params:
    """One offer or response, checked: each parameter at most once, with a valid value."""

    __slots__ = ("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
                 "client_max_window_bits", "client_bits_offered")

    def __init__(self, params: ExtensionParams, *, response: bool) -> None:
        seen: Dict[str, Optional[str]] = {}
        for name, value in params:
            if name in seen:
                raise ValueError(f"duplicate parameter {name}")
            seen[name] = value
        self.server_no_context_takeover = self.client_no_context_takeover = False
        self.server_max_window_bits: Optional[int] = None
        self.client_max_window_bits: Optional[int] = None
        self.client_bits_offered = False  # client_max_window_bits present (with or without a value)
        for name, value in seen.items():
            if name in (SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER):
                if value is not None:
                    raise ValueError(f"{name} takes no value")
                setattr(self, name, True)
            elif name == SERVER_MAX_WINDOW_BITS:
                self.server_max_window_bits = _bits(name, value)
            elif name == CLIENT_MAX_WINDOW_BITS:
                self.client_bits_offered = True
                if value is None:
                    if response:
                        raise ValueError(f"{name} needs a value in a response")
                else:
                    self.client_max_window_bits = _bits(name, value)
            else:
                raise ValueError(f"unknown parameter {name}")


def _bits(name: str, value: Optional[str]) -> int:
    if value is None:
        raise ValueError(f"{name} needs a value")
    bits = _BITS_VALUES.get(value)
    if bits is None:
        raise ValueError(f"{name}={value} is not a window size from 8 to 15")
    return bits


def _or(value: Optional[int], default: int) -> int:
    return default if value is None else value


# ---------------------------------------------------------------- negotiation


class ServerPerMessageDeflate:
    """The server's side of the negotiation: answers the first offer it can honour (RFC 7692 section 5).

    An offer with an unknown or repeated parameter, or a value out of range,
    is declined (RFC 7692 section 5.1); if no offer is acceptable the
    connection opens without compression.
    """

    name = NAME

    def __init__(self, options: Optional[DeflateOptions] = None) -> None:
        self.options = options if options is not None else DeflateOptions()

    def __repr__(self) -> str:
        return f"ServerPerMessageDeflate({self.options!r})"

    def negotiate(self, offers: List[ExtensionParams]) -> Optional[Tuple[ExtensionParams, Any]]:
        for offer in offers:
            try:
                params = _Params(offer, response=False)
            except ValueError:
                continue
            return self._accept(params)
        return None

    def _accept(self, offer: _Params) -> Tuple[ExtensionParams, PerMessageDeflate]:
        opts = self.options
        response: ExtensionParams = []
        # how we compress: our window, never more than the client asked for
        server_bits = _or(opts.server_max_window_bits, DEFAULT_WINDOW_BITS)
        if offer.server_max_window_bits is not None:
            server_bits = min(server_bits, offer.server_max_window_bits)
        server_nct = opts.server_no_context_takeover or offer.server_no_context_takeover
        # how the client compresses: we may only limit its window if it offered the parameter
        if offer.client_bits_offered:
            client_bits = min(_or(opts.client_max_window_bits, DEFAULT_WINDOW_BITS),
                              _or(offer.client_max_window_bits, MAX_WINDOW_BITS))
        else:
            client_bits = MAX_WINDOW_BITS
        client_nct = opts.client_no_context_takeover or offer.client_no_context_takeover
        if server_nct:
            response.append((SERVER_NO_CONTEXT_TAKEOVER, None))
        if client_nct:
            response.append((CLIENT_NO_CONTEXT_TAKEOVER, None))
        if server_bits < MAX_WINDOW_BITS or offer.server_max_window_bits is not None:
            response.append((SERVER_MAX_WINDOW_BITS, str(server_bits)))
        if offer.client_bits_offered and (client_bits < MAX_WINDOW_BITS or offer.client_max_window_bits):
            response.append((CLIENT_MAX_WINDOW_BITS, str(client_bits)))
        agreed = PerMessageDeflate(
            remote_no_context_takeover=client_nct, local_no_context_takeover=server_nct,
            remote_max_window_bits=client_bits, local_max_window_bits=server_bits,
            level=opts.level, mem_level=opts.mem_level, min_size=opts.min_size, params=response)
        return response, agreed


class ClientPerMessageDeflate:
    """The client's side: one offer, and the check of the server's answer (RFC 7692 section 7.1).

    A response that breaks the rules (an unknown or repeated parameter, a
    value out of range, a server window larger than we asked for, a parameter
    we asked for left out) fails the handshake. A ``client_max_window_bits``
    larger than we offered is accepted: it is a maximum, and we compress with
    at most the window we offered anyway.
    """

    name = NAME

    def __init__(self, options: Optional[DeflateOptions] = None) -> None:
        self.options = options if options is not None else DeflateOptions()

    def __repr__(self) -> str:
        return f"ClientPerMessageDeflate({self.options!r})"

    def _client_bits(self) -> int:
        return _or(self.options.client_max_window_bits, DEFAULT_WINDOW_BITS)

    def offer(self) -> ExtensionParams:
        opts = self.options
        params: ExtensionParams = []
        if opts.server_no_context_takeover:
            params.append((SERVER_NO_CONTEXT_TAKEOVER, None))
        if opts.client_no_context_takeover:
            params.append((CLIENT_NO_CONTEXT_TAKEOVER, None))
        if opts.server_max_window_bits is not None:
            params.append((SERVER_MAX_WINDOW_BITS, str(opts.server_max_window_bits)))
        client_bits = self._client_bits()
        params.append((CLIENT_MAX_WINDOW_BITS, str(client_bits) if client_bits < MAX_WINDOW_BITS else None))
        return params

    def offers(self) -> List[ExtensionParams]:
        """Our offer, then the same with ``client_no_context_takeover`` (unless we asked for it anyway).

        The second is for servers that take client_no_context_takeover in an
        offer as the client's consent to being asked for it (Autobahn's test
        server does, and accepts no other offer when it wants it). It does not
        bind us otherwise: a server uses that hint by including the parameter
        in its response (RFC 7692 section 7.1.1.2), and only then do we reset
        our compressor after every message.
        """
        first = self.offer()
        if self.options.client_no_context_takeover:
            return [first]
        return [first, [(CLIENT_NO_CONTEXT_TAKEOVER, None)] + first]

    def accept(self, params: ExtensionParams) -> PerMessageDeflate:
        opts = self.options
        response = _Params(params, response=True)
        if opts.server_no_context_takeover and not response.server_no_context_takeover:
            raise ValueError("the server did not accept server_no_context_takeover, which we asked for")
        asked = opts.server_max_window_bits
        if asked is not None:
            if response.server_max_window_bits is None:
                raise ValueError(f"the server did not accept server_max_window_bits={asked}, "
                                 "which we asked for")
            if response.server_max_window_bits > asked:
                raise ValueError(f"server_max_window_bits={response.server_max_window_bits} is more than "
                                 f"the {asked} we asked for")
        # A server may answer client_max_window_bits with more than we offered (Autobahn's does):
        # harmless, it is a maximum and we compress with at most what we offered.
        offered = self._client_bits()
        agreed_client = _or(response.client_max_window_bits, MAX_WINDOW_BITS)
        return PerMessageDeflate(
            remote_no_context_takeover=response.server_no_context_takeover,
            local_no_context_takeover=opts.client_no_context_takeover or response.client_no_context_takeover,
            remote_max_window_bits=_or(response.server_max_window_bits, MAX_WINDOW_BITS),
            local_max_window_bits=min(offered, agreed_client),
            level=opts.level, mem_level=opts.mem_level, min_size=opts.min_size, params=list(params))


def server_extensions(compression: Compression, extensions: Sequence[Any] = ()) -> List[Any]:
    """The server's extensions with permessage-deflate first, as ``compression`` says
    (unless ``extensions`` already holds one)."""
    options = deflate_options(compression)
    result = list(extensions)
    if options is not None and not any(getattr(ext, "name", None) == NAME for ext in result):
        result.insert(0, ServerPerMessageDeflate(options))
    return result


def client_extensions(compression: Compression, extensions: Sequence[Any] = ()) -> List[Any]:
    """The client's extensions with permessage-deflate first, as ``compression`` says."""
    options = deflate_options(compression)
    result = list(extensions)
    if options is not None and not any(getattr(ext, "name", None) == NAME for ext in result):
        result.insert(0, ClientPerMessageDeflate(options))
    return result
