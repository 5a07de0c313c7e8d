"""Test helpers for the frame parser: an independent frame builder and feed recorders.

``raw_frame`` builds wire bytes by hand (it does not use wsfast's encoder, so
the parser is not tested against itself), including frames that break rules:
any opcode, RSV bits, non-minimal length encodings, wrong masking.
``outcome`` records everything a parser did with a list of reads, and
``reader_outcome`` everything a per-frame reader (FrameReader) did, for
comparing the compiled and pure twins: the differential tests and the fuzz
targets (fuzz/fuzz_frames.py, fuzz/fuzz_stream.py) use them, with
``raw_frame`` and ``split_at`` to build their input.
"""

from __future__ import annotations

import struct
from typing import Any, List, Optional, Sequence, Tuple

from wsfast import ProtocolError

KEY = b"\x37\xfa\x21\x3d"


def xor(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def raw_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
              key: Optional[bytes] = KEY, length_form: Optional[int] = None,
              length: Optional[int] = None) -> bytes:
    """One frame. ``key=None``: unmasked. ``length_form`` 7/16/64 forces an encoding of the length
    (``length`` overrides the declared length itself)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    mb = 0x80 if key is not None else 0
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head = bytes((b0, mb | n))
    elif form == 16:
        head = bytes((b0, mb | 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, mb | 127)) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + xor(payload, key)


def feed_all(parser: Any, chunks: Sequence[bytes]) -> Tuple[List[Any], Optional[ProtocolError], int]:
    """Feed chunks until one raises: (events, error or None, index of the chunk that raised or -1).

    Events include those the failing feed completed before the violation.
    """
    events: List[Any] = []
    for i, chunk in enumerate(chunks):
        try:
            events.extend(parser.feed(chunk))
        except ProtocolError as exc:
            events.extend(exc.events)
            return events, exc, i
    return events, None, -1


def split_at(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    points = [0] + sorted(c for c in cuts if 0 < c < len(data)) + [len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]


def bytewise(data: bytes) -> List[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def outcome(impl: Any, chunks: Sequence[bytes], **options: Any) -> List[Any]:
    """What each feed of a FrameParser(**options) did: ("ok", events) or ("error", type, code,
    reason, events before it), then the parser's (failed, in_message).

    After a failure one more feed must fail the same way: its error is recorded,
    and a failed parser that accepts input is an AssertionError.
    """
    parser = impl.FrameParser(**options)
    result: List[Any] = []
    for chunk in chunks:
        try:
            result.append(("ok", parser.feed(chunk)))
        except ProtocolError as exc:
            result.append(("error", type(exc).__name__, int(exc.close_code), exc.reason, exc.events))
            try:
                parser.feed(b"\x81\x80\x00\x00\x00\x00")
            except ProtocolError as again:
                result.append(("again", int(again.close_code), again.reason, again.events))
            else:
                raise AssertionError(f"{getattr(impl, 'name', impl)}: a failed parser accepted more input")
            break
    result.append(("state", parser.failed, parser.in_message))
    return result


def frame_key(frame: Any) -> Tuple[Any, ...]:
    """A FrameReader frame as a comparable tuple: (opcode, data, fin, rsv1, rsv2, rsv3); partial
    mode's pieces are tuples already."""
    if isinstance(frame, tuple):
        return frame
    return (int(frame.opcode), bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)


def reader_outcome(impl: Any, chunks: Sequence[bytes], **options: Any) -> List[Any]:
    """What each feed of a FrameReader(**options) did: ("ok", frames, other_frames) or ("error",
    code, reason, frames before it, rest), then the reader's (failed, in_message, held,
    frame_progress, other_frames).

    After a failure one more feed must fail the same way (recorded); a failed reader that
    accepts input is an AssertionError.
    """
    reader = impl.FrameReader(**options)
    result: List[Any] = []
    for chunk in chunks:
        try:
            result.append(("ok", [frame_key(f) for f in reader.feed(chunk)], reader.other_frames))
        except ProtocolError as exc:
            result.append(("error", int(exc.close_code), exc.reason, [frame_key(f) for f in exc.frames],
                           exc.rest))
            try:
                reader.feed(b"\x81\x80\x00\x00\x00\x00")
            except ProtocolError as again:
                result.append(("again", int(again.close_code), again.reason))
            else:
                raise AssertionError(f"{getattr(impl, 'name', impl)}: a failed reader accepted more input")
            break
    result.append(("state", reader.failed, reader.in_message, reader.held, reader.frame_progress,
                   reader.other_frames))
    return result
