"""wsproto: the frame protocol's receive path, and masking.

``FrameProtocol`` reads frames with ``FrameDecoder`` over a ``Buffer`` (a
bytearray sliced, and its front deleted, once per frame), masks with
``XorMaskerSimple`` (four ``bytes.translate`` passes) and turns frames into
messages with ``MessageDecoder`` (a NamedTuple per frame, an incremental
UTF-8 decoder per text message). The patch replaces ``FrameProtocol.__init__``
by one that, when no extension is in use, gives the new protocol wsfast's
per-frame reader in its partial mode (wsproto streams frames as their payload
arrives) and a receive loop doing what ``MessageDecoder`` does: every frame
comes out as the same ``Frame`` tuple, split at the same places, text decoded
the same way. Close frames go through wsproto's own ``_process_close``.

Where wsfast's reader refuses a header, the received bytes from that header
on go to a ``FrameDecoder`` of wsproto's own, with a ``MessageDecoder`` in the
state of the message in progress, and wsproto's own loop takes over for the
rest of the connection: every failure is wsproto's own ``ParseFailed``, with
its message and close code. With an extension (permessage-deflate), a
protocol keeps wsproto's own receive path. The objects a protocol is given
at creation stay its own: protocols created while patched keep working after
``unpatch()``.

``XorMaskerSimple`` (still used on the send path) is replaced by a subclass
(isinstance still holds) whose ``process()`` XORs in C and keeps wsproto's
contract: a new bytearray back, the key rotated so the next chunk of the same
frame continues where this one stopped.
"""

from __future__ import annotations

from codecs import getincrementaldecoder
from typing import Any, Callable, Generator, List, Optional, Tuple

from ..exceptions import ProtocolError as WsfastProtocolError
from ._core import Target

TESTED = ("1.3.2",)


def _masker(base: Any, apply_mask_inplace: Any) -> Any:
    class XorMaskerSimple(base):  # type: ignore[misc]
        __doc__ = base.__doc__

        def process(self, data: Any) -> bytearray:
            out = bytearray(data)
            if out:
                key: Any = self._masking_key  # type: ignore[has-type]
                apply_mask_inplace(out, key if type(key) is bytes else bytes(key))
                turn = len(out) & 3
                if turn:
                    self._masking_key = key[turn:] + key[:turn]
            return out

    XorMaskerSimple.__module__ = base.__module__
    XorMaskerSimple.__qualname__ = base.__qualname__
    return XorMaskerSimple


class _Pending:
    """Stands in for a protocol's FrameDecoder: FrameProtocol.receive_bytes() hands it the bytes."""

    __slots__ = ("chunks", "client", "extensions")

    def __init__(self, client: bool) -> None:
        self.chunks: List[bytes] = []
        self.client = client
        self.extensions: List[Any] = []

    def receive_bytes(self, data: bytes) -> None:
        self.chunks.append(data)


def _make_init(impl: Any, fp: Any, original_init: Callable[..., None]) -> Callable[..., None]:
    Frame, Opcode, ParseFailed = fp.Frame, fp.Opcode, fp.ParseFailed
    FrameDecoder = fp.FrameDecoder
    invalid_utf8 = fp.CloseReason.INVALID_FRAME_PAYLOAD_DATA
    TEXT, CLOSE, PING, PONG = Opcode.TEXT, Opcode.CLOSE, Opcode.PING, Opcode.PONG
    opcodes = [Opcode(n) if n in Opcode._value2member_map_ else None for n in range(16)]
    new_frame = tuple.__new__
    utf8_decoder = getincrementaldecoder("utf-8")
    reader_class = impl.FrameReader

    def receive(self: Any, pending: _Pending, reader: Any) -> Generator[Optional[Any], None, None]:
        """FrameProtocol._parse_more_gen on wsfast's reader: frames, None when it needs more bytes."""
        chunks = pending.chunks
        message: Any = None  # the opcode of the data message in progress
        decoder: Any = None  # its incremental UTF-8 decoder (text split over pieces)
        while True:
            if not chunks:
                yield None
                continue
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            rest = None
            try:
                items = reader.feed(data)
            except WsfastProtocolError as exc:
                items, rest = exc.frames, exc.rest  # type: ignore[attr-defined]
            i = 0
            while i < len(items):
                opcode, payload, finished, fin = items[i]
                i += 1
                while not finished and i == len(items) and chunks and rest is None:
                    # bytes came while the caller held back: wsproto would read them into this piece
                    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    try:
                        items = reader.feed(data)
                    except WsfastProtocolError as exc:
                        items, rest = exc.frames, exc.rest  # type: ignore[attr-defined]
                    i = 0
                    if items:
                        payload += items[0][1]
                        finished = items[0][2]
                        i = 1
                if opcode is CLOSE:
                    yield self._process_close(new_frame(Frame, (opcode, payload, True, True)))
                    return  # as wsproto: nothing is read after a close frame
                if opcode is PING or opcode is PONG:
                    yield new_frame(Frame, (opcode, payload, True, True))
                    continue
                if message is None:
                    message = opcode
                done = finished and fin
                if message is TEXT:
                    try:
                        if decoder is None and done:
                            payload = payload.decode("utf-8")
                        else:
                            if decoder is None:
                                decoder = utf8_decoder()
                            payload = decoder.decode(payload, done)
                    except UnicodeDecodeError:
                        try:  # wsproto's own decoder call, for its exact error
                            (decoder or utf8_decoder()).decode(payload, done)
                        except UnicodeDecodeError as exc:
                            raise ParseFailed(str(exc), invalid_utf8) from None
                        raise
                yield new_frame(Frame, (message, payload, finished, done))
                if done:
                    message = decoder = None
            if rest is not None:
                # wsproto's own decoders take over from the header wsfast refused
                own = FrameDecoder(self.client, self.extensions)
                own.receive_bytes(rest)
                self._frame_decoder = own
                self._message_decoder.opcode = message
                self._message_decoder.decoder = decoder if decoder is not None or message is not TEXT \
                    else utf8_decoder()
                self._parse_more = self._parse_more_gen()
                # relayed until it needs bytes; later calls iterate it directly (no "yield from": when
                # this generator is dropped, closing it must not close wsproto's)
                for event in self._parse_more:
                    yield event
                    if event is None:
                        return
                return

    def __init__(self: Any, client: bool, extensions: List[Any]) -> None:
        original_init(self, client, extensions)
        if not self.extensions:
            pending = _Pending(self.client)
            reader = reader_class(client=self.client, opcodes=opcodes, partial=True)
            self._frame_decoder = pending
            self._parse_more = receive(self, pending, reader)

    __init__.__doc__ = original_init.__doc__
    __init__.__qualname__ = original_init.__qualname__
    __init__.__module__ = original_init.__module__
    return __init__


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import wsproto.frame_protocol as fp

    return [
        (fp.FrameProtocol, "__init__", _make_init(impl, fp, fp.FrameProtocol.__dict__["__init__"])),
        (fp, "XorMaskerSimple", _masker(fp.XorMaskerSimple, impl.apply_mask_inplace)),
    ]


TARGET = Target("wsproto", "wsproto", "wsproto", TESTED, _plan)
