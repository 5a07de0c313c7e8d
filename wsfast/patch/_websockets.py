"""websockets: the frame parser under the sans-I/O protocol, and masking.

websockets parses frames with ``Frame.parse``, a generator reading from a
``StreamReader``: per frame, three or four ``read_exact`` calls (each a
bytearray slice and a memmove), an ``Opcode()`` call, ``apply_mask`` and a
dataclass ``Frame()`` call. The patch replaces ``Protocol.parse`` (which
``ServerProtocol.parse`` and ``ClientProtocol.parse`` reach through
``super()`` once the handshake is done) with a loop over wsfast's per-frame
reader (:mod:`wsfast.stream`), which hands it the bytes received in one go and
gets websockets ``Frame`` objects back, built in C. ``Protocol.receive_data``
hands the bytes straight to that loop when it is waiting for them (no copy
into the ``StreamReader``); in every other state it is websockets' own.

What websockets decides stays websockets' own code, run on every frame that
needs it: its extensions' ``decode`` (permessage-deflate), ``Frame.check()``,
``Protocol.recv_frame()`` (pings answered, closing handshake, fragments), its
size limits and exceptions. Only a run of final, unfragmented text/binary
frames without RSV bits skips them, when no extension but websockets' own
deflate is negotiated (it passes such frames through untouched) and
``recv_frame`` is websockets' own (not a subclass's): for those frames they do
nothing but append the frame to the events.

Where wsfast's reader refuses a header (it is stricter: for example a length
not in its minimal encoding), the received bytes from that header on go back
into websockets' ``StreamReader`` and websockets' original parser takes over
for the rest of the connection, so every failure is websockets' own: the same
exception, message and close frame.

``websockets.frames`` binds ``apply_mask`` at import time (from its own C
speedup when built), so the module's name is what is replaced;
``websockets.legacy.framing`` likewise, when the application imported it (the
patch never imports the deprecated legacy package itself: that import warns).
"""

from __future__ import annotations

from typing import Any, Callable, Generator, List, Optional, Tuple

from ..exceptions import ProtocolError as WsfastProtocolError
from ._core import Target, loaded_module

TESTED = ("17.0.1", "17.4")


def _eof_message(held: bytes, progress: Optional[Tuple[int, int]]) -> Optional[str]:
    """What websockets' read_exact says at EOF inside a frame (None: at a frame boundary)."""
    if progress is not None:
        return f"stream ends after {progress[0]} bytes, expected {progress[1]} bytes"
    h = len(held)
    if not h:
        return None
    if h < 2:
        return f"stream ends after {h} bytes, expected 2 bytes"
    code = held[1] & 0x7F
    ext = 2 if code == 126 else 8 if code == 127 else 0
    if h < 2 + ext:
        return f"stream ends after {h - 2} bytes, expected {ext} bytes"
    return f"stream ends after {h - 2 - ext} bytes, expected 4 bytes"


# instance attributes shared by the patched parse() and receive_data(): parse() waits for bytes
# (and nothing else is queued), and the bytes receive_data() handed it
_WAITING = "_wsfast_waiting"
_HANDED = "_wsfast_data"


def _make_receive_data(original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def receive_data(self: Any, data: Any) -> None:
        """websockets' receive_data, handing the bytes to wsfast's parser without copying them."""
        if self.__dict__.get(_WAITING) and not self.reader.eof and not self.reader.buffer:
            self.__dict__[_HANDED] = data
            next(self.parser)
        else:
            original(self, data)

    receive_data.__doc__ = original.__doc__
    receive_data.__qualname__ = original.__qualname__
    receive_data.__module__ = original.__module__
    return receive_data


def _make_parse(impl: Any, original: Callable[[Any], Generator[None, None, None]]) -> Callable[[Any], Any]:
    from websockets.exceptions import PayloadTooBig, ProtocolError
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import CloseCode, Frame, Opcode
    from websockets.protocol import CLIENT, Protocol

    own_recv_frame = Protocol.recv_frame
    opcodes = [Opcode(n) if n in Opcode._value2member_map_ else None for n in range(16)]
    reader_class = impl.FrameReader

    def new_reader(protocol: Any) -> Any:
        message, fragment = protocol.max_message_size, protocol.max_fragment_size
        frame = fragment if message is None else message if fragment is None else min(message, fragment)
        # every RSV bit is let through to websockets' extensions and Frame.check(), which decide
        return reader_class(client=protocol.side is CLIENT, max_message_size=message, max_frame_size=frame,
                            rsv_bits=0x70, frame_class=Frame, opcodes=opcodes)

    def frame_limit(protocol: Any) -> Optional[int]:
        """websockets' max_size for the next frame (as in its own Protocol.parse)."""
        max_size = None
        if protocol.max_message_size is not None:
            if protocol.current_size is None:
                max_size = protocol.max_message_size
            else:
                max_size = protocol.max_message_size - protocol.current_size
        if protocol.max_fragment_size is not None:
            if max_size is None:
                max_size = protocol.max_fragment_size
            else:
                max_size = min(max_size, protocol.max_fragment_size)
        return max_size

    def receive(protocol: Any, frame: Any) -> None:
        """One frame through websockets' own checks, extensions and recv_frame (Frame.parse's tail)."""
        max_size = frame_limit(protocol)
        if max_size is not None and len(frame.data) > max_size:
            raise PayloadTooBig(len(frame.data), max_size)
        for extension in reversed(protocol.extensions):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        if protocol.debug:
            protocol.logger.debug("< %s", frame)
        protocol.recv_frame(frame)

    def parse(self: Any) -> Generator[None, None, None]:
        """websockets' Protocol.parse, on wsfast's per-frame reader (see the module docstring)."""
        outer = self.parser  # recv_frame() and fail() replace it: then this generator is done
        reader: Any = None
        limits: Any = None
        try:
            while True:
                buffer = self.reader.buffer
                if not buffer:
                    buffer = self.__dict__.pop(_HANDED, None)  # given by receive_data, not copied
                if not buffer:
                    if self.reader.eof:
                        inside = None if reader is None else _eof_message(reader.held, reader.frame_progress)
                        if inside is not None:
                            raise EOFError(inside)
                        if self.debug:
                            self.logger.debug("< EOF")
                        raise EOFError("unexpected end of stream")
                    self.__dict__[_WAITING] = True
                    try:
                        yield
                    finally:
                        self.__dict__[_WAITING] = False
                    continue
                if reader is None or (limits != (self.max_message_size, self.max_fragment_size)
                                      and not reader.in_message and not reader.held
                                      and reader.frame_progress is None):
                    reader = new_reader(self)
                    limits = (self.max_message_size, self.max_fragment_size)
                if buffer is self.reader.buffer:
                    self.reader.buffer = bytearray()
                rest = None
                others = reader.other_frames
                try:
                    frames = reader.feed(buffer)
                except WsfastProtocolError as exc:
                    frames, rest = exc.frames, exc.rest  # type: ignore[attr-defined]
                if (rest is None and reader.other_frames == others and not self.debug
                        and self.current_size is None and type(self).recv_frame is own_recv_frame
                        and all(type(e) is PerMessageDeflate for e in self.extensions)):
                    # final, unfragmented TEXT/BINARY frames without RSV bits, within the size limit:
                    # websockets' own deflate, check() and recv_frame() would only append them
                    self.events.extend(frames)
                else:
                    for frame in frames:
                        receive(self, frame)
                        if self.parser is not outer:  # closing, or failed: discard() reads on
                            frames = frame = buffer = None
                            while True:
                                yield
                # hold nothing while waiting: a large frame's memory goes back before the next one
                frames = frame = buffer = None
                if rest is not None:
                    # websockets' own parser takes over from the header wsfast refused
                    self.reader.buffer[:0] = rest
                    yield from original(self)
                    return
        except ProtocolError as exc:
            self.fail(CloseCode.PROTOCOL_ERROR, str(exc))
            self.parser_exc = exc
        except EOFError as exc:
            self.fail(CloseCode.ABNORMAL_CLOSURE, str(exc))
            self.parser_exc = exc
        except UnicodeDecodeError as exc:
            self.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self.parser_exc = exc
        except PayloadTooBig as exc:
            exc.set_current_size(self.current_size)
            self.fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
            self.parser_exc = exc
        except Exception as exc:
            self.logger.error("parser failed", exc_info=True)
            # no exception details in the close frame (as websockets: they may be security-sensitive)
            self.fail(CloseCode.INTERNAL_ERROR)
            self.parser_exc = exc
        yield
        raise AssertionError("parse() shouldn't step after error")

    parse.__doc__ = original.__doc__
    parse.__qualname__ = original.__qualname__
    parse.__module__ = original.__module__
    return parse


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import websockets.frames
    import websockets.protocol

    protocol = websockets.protocol.Protocol
    triples: List[Tuple[Any, str, Any]] = [
        (protocol, "parse", _make_parse(impl, protocol.__dict__["parse"])),
        (protocol, "receive_data", _make_receive_data(protocol.__dict__["receive_data"])),
        (websockets.frames, "apply_mask", impl.apply_mask),
    ]
    legacy = loaded_module("websockets.legacy.framing")
    if legacy is not None:
        triples.append((legacy, "apply_mask", impl.apply_mask))
    return triples


TARGET = Target("websockets", "websockets", "websockets", TESTED, _plan)
