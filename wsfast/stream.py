"""The per-frame streaming mode of the parser: one frame object per wire frame.

:class:`wsfast.FrameParser` works per message (fragments joined, extensions
undone, text decoded). Libraries with their own message layer (websockets
applies its own extensions to each frame; wsfast.patch builds on this) need
the frames themselves: ``FrameReader.feed(data)`` returns one frame per
complete wire frame, with its payload unmasked but otherwise raw (still
compressed if an extension compressed it) and its RSV bits.

The framing rules are FrameParser's, checked on each header as soon as its
bytes arrive, with the same close codes: 1002 for a reserved opcode, a
fragmented or >125-byte control frame, an RSV bit outside ``rsv_bits`` or on
a control or continuation frame, a stray continuation or a data frame inside
a fragmented message, a frame masked the wrong way, a length not in its
minimal encoding or with its top bit set; 1009 when a frame's declared
length exceeds ``max_frame_size``, or the fragments of a message exceed
``max_message_size`` (wire bytes). What a payload means (UTF-8 text, a close
code) is the caller's business: that is message-level policy.

A violation raises :class:`wsfast.ProtocolError` with ``.frames`` (what this
feed completed first) and ``.rest`` (the received bytes from the offending
frame's first header byte on, so a caller can hand them to another parser);
the reader is then failed and every later feed raises the same error.

Frames are instances of ``frame_class`` (default :class:`Frame`), created
without calling ``__init__``: the reader sets the attributes ``opcode`` (from
``opcodes``, a sequence indexed by the opcode number; default
:class:`wsfast.Opcode`), ``data`` (bytes), ``fin``, ``rsv1``, ``rsv2``,
``rsv3`` (bools). websockets' ``Frame`` has exactly these fields.

With ``partial=True`` (for libraries that stream frames, like wsproto), a data
frame is delivered in pieces, as its payload arrives: each feed gives what it
brought of the frame (nothing while none of its payload came), the last piece
when the frame completes; control frames come whole. Items are then tuples
``(opcode, data, frame_finished, fin)``, with ``fin`` the frame's FIN bit.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .enums import Opcode

__all__ = ["Frame", "default_opcodes"]  # and FrameReader, the active implementation's (see __getattr__)


class Frame:
    """One wire frame: ``opcode``, unmasked ``data``, ``fin`` and the RSV bits."""

    __slots__ = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")

    opcode: Any
    data: bytes
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool

    def __init__(self, opcode: int, data: bytes = b"", fin: bool = True, rsv1: bool = False,
                 rsv2: bool = False, rsv3: bool = False) -> None:
        self.opcode = Opcode(opcode)
        self.data = bytes(data)
        self.fin = bool(fin)
        self.rsv1 = bool(rsv1)
        self.rsv2 = bool(rsv2)
        self.rsv3 = bool(rsv3)

    def _key(self) -> tuple:  # type: ignore[type-arg]
        return (int(self.opcode), self.data, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        rsv = "".join(f", rsv{i}=True" for i in (1, 2, 3) if getattr(self, f"rsv{i}"))
        more = "..." if len(self.data) > 48 else ""
        return f"Frame({Opcode(self.opcode).name}, {self.data[:48]!r}{more}, fin={self.fin}{rsv})"


def default_opcodes() -> Sequence[Any]:
    """Opcode numbers 0..15 -> the objects frames carry (reserved numbers never reach a frame)."""
    return tuple(Opcode(n) if n in Opcode._value2member_map_ else n for n in range(16))


def __getattr__(name: str) -> Any:
    if name == "FrameReader":  # the active implementation's, like wsfast.FrameParser
        from . import _impl

        return _impl.active().FrameReader
    raise AttributeError(f"module 'wsfast.stream' has no attribute {name!r}")


def reader_options(max_message_size: Optional[int], max_frame_size: Optional[int], rsv_bits: int,
                   frame_class: Any, opcodes: Optional[Sequence[Any]]) -> tuple:  # type: ignore[type-arg]
    """FrameReader options checked -> (message limit, frame limit, rsv bits, class, 16 opcodes).

    A limit of None means none (2**64 internally: the compiled reader keeps sizes in 64 bits).
    """
    limits = []
    for name, value in (("max_message_size", max_message_size), ("max_frame_size", max_frame_size)):
        if value is None:
            limits.append(1 << 64)
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0 (or None for no limit)")
        limits.append(value if value < (1 << 64) - 1 else 1 << 64)
    if isinstance(rsv_bits, bool) or not isinstance(rsv_bits, int) or rsv_bits & ~0x70:
        raise ValueError("rsv_bits must be a subset of 0x70 (RSV1 0x40, RSV2 0x20, RSV3 0x10)")
    if not isinstance(frame_class, type):
        raise TypeError(f"frame_class must be a class, not {type(frame_class).__name__}")
    table = tuple(default_opcodes() if opcodes is None else opcodes)
    if len(table) != 16:
        raise ValueError("opcodes must have 16 entries, one per opcode number")
    return limits[0], limits[1], rsv_bits, frame_class, table
