"""permessage-deflate's data path on Python's zlib module (RFC 7692 section 7.2).

The pure-Python frame parser and writer use these two classes; so does the
compiled build where zlib could not be linked (e.g. Windows wheels), which
copies what they return into its own buffers.

Receiving (:class:`Inflater`): the payload of a compressed message, with
``0x00 0x00 0xff 0xff`` appended, is one piece of a raw deflate stream. It is
inflated piece by piece as it arrives, never more than ``room`` bytes, so a
small frame can never make more than the size limit allows (the caller asks
for one byte more than the room left, and fails the connection with 1009 when
it gets it).

Both implementations call zlib's ``inflate()`` in exactly the same steps:
the whole rest of the piece as input, at most ``STEP`` bytes of output per
call (``decompress(data, max_length)`` with ``max_length`` <= 16 KiB is one
``inflate()`` call in CPython). That matters: zlib accepts a distance beyond
the agreed window when the bytes it refers to are still in the current
call's output, so a peer that breaks its window would otherwise be accepted
by one implementation and refused by the other. Corrupt data fails with 1007: the frame itself is well-formed,
its payload is not valid for the message's (negotiated) encoding, which is
what 1007 is for, as for text that is not UTF-8 (Node's ``ws`` does the same).
A stream may end inside a message (a block with BFINAL set, RFC 7692 section
7.2.3.4); whatever follows in that message is not deflate data and is
ignored, and the next message starts a new stream that may still refer back
to the output so far when the peer keeps its context.

Sending (:class:`Compressor`): each message is compressed and sync-flushed,
and the flush marker (``0x00 0x00 0xff 0xff``) removed. Without context
takeover on our side nothing is kept between messages.

ISA-L (the optional ``isal`` package, ``pip install wsfast[isal]``): at
level 1 its deflate makes the same size of output as zlib's level 1, two to
six times faster from ``ISAL_MIN_SIZE`` bytes up (it is slower on shorter
messages: a fixed cost per flushed block), and it honours raw windows of 9 to
15 bits. So where it is installed, a level-1 compressor (``backend(level)``
says which levels) starts on zlib and moves to ISA-L for good with the first
message of at least ``ISAL_MIN_SIZE`` bytes; without context takeover every
message picks its engine by its own size. Moving between messages is always
valid: every message ends with a sync flush (byte-aligned, nothing pending),
and the new engine's blocks simply do not refer back to what the old one
sent (the message that moves compresses without the history). The compiled
build runs the same steps, handing ISA-L's messages to this module, so both
implementations make the same bytes. Other levels stay on zlib: ISA-L has no
level that matches zlib's ratio from level 2 up, and level 0 is zlib's
stored blocks. ``WSFAST_NO_ISAL=1`` (or ``use_isal(False)``) keeps zlib
everywhere. ISA-L's compressors take ~14 us to create with their first
message, so without context takeover they come from a small per-process
pool: each message ends with a full flush (the sync flush's marker, and the
history forgotten), which makes exactly the bytes a new compressor would.
Receiving always uses zlib: its inflate is what decides which streams we
accept (see above).
"""

from __future__ import annotations

import collections
import contextlib
import zlib
from typing import Any, Deque, Dict, List, Optional, Tuple

from ._env import env_flag
from .enums import CloseCode
from .exceptions import ProtocolError

__all__ = ["Inflater", "Compressor", "TAIL", "STEP", "corrupt_data", "backend", "use_isal", "isal_compressor",
           "ISAL_VERSION", "ISAL_MIN_SIZE"]

TAIL = b"\x00\x00\xff\xff"  # the flush marker the sender removed, appended before inflating
STEP = 16384  # output bytes per inflate() call, in both implementations


def _load_isal() -> Any:
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def _isal_version() -> Optional[str]:
    try:
        import isal
    except ImportError:
        return None
    return str(getattr(isal, "__version__", "?"))


_ISAL_MODULE: Any = _load_isal()
ISAL_VERSION: Optional[str] = _isal_version() if _ISAL_MODULE is not None else None
_isal: Any = None if env_flag("WSFAST_NO_ISAL") else _ISAL_MODULE

# our (zlib's) compression level -> the ISA-L level that replaces it: only where the output is as
# small (level 1: 910.7 B against zlib's 907.6 B per ~4 KiB JSON message at window 12, 13701 B
# against 14007 B at ~64 KiB; ISA-L's level 3, its best, makes 872 B where zlib's level 2 makes 847)
ISAL_LEVELS = {1: 1}
# messages from this size go to ISA-L (per ~JSON message with context kept, window 12: 64 B zlib 2.9 us,
# ISA-L 3.4; 128 B 4.0 and 4.0; 256 B 4.3 and 3.9; 1 KiB 13.1 and 6.4; the compiled build calls zlib
# without Python in between, which moves its side of the crossover up)
ISAL_MIN_SIZE = 256
# idle ISA-L compressors kept per (window, memLevel, level), for messages without context takeover
_POOL_SIZE = 16
_pool: Dict[Tuple[int, int, int], List[Any]] = {}
_EMPTY = b"\x00\x00\x00\xff\xff"  # an empty stored block: what zlib makes of an empty message


def use_isal(flag: bool) -> bool:
    """Compressors made from now on use ISA-L for the levels it replaces (True, when installed) or
    zlib only (False). Returns whether ISA-L is now in use."""
    global _isal
    _isal = _ISAL_MODULE if flag else None
    _pool.clear()
    return _isal is not None


def backend(level: int) -> str:
    """What a compressor made now uses for ``level``: "isal" (ISA-L from ``ISAL_MIN_SIZE`` bytes, zlib
    below) or "zlib"."""
    return "isal" if _isal is not None and level in ISAL_LEVELS else "zlib"


def _nbytes(data: Any) -> int:
    return len(data) if type(data) is bytes else memoryview(data).nbytes


def corrupt_data(detail: str) -> ProtocolError:
    """The error for a compressed payload zlib cannot inflate (one wording for every implementation)."""
    return ProtocolError(CloseCode.INVALID_PAYLOAD, f"invalid compressed data: {detail}")


def _zlib_detail(exc: zlib.error) -> str:
    """zlib's own message from Python's "Error -3 while decompressing data: <message>"."""
    text = str(exc)
    _, sep, detail = text.partition(": ")
    return detail if sep else "invalid input data"


class Inflater:
    """The decompressor for one connection's received messages (``params``: the agreed PerMessageDeflate)."""

    __slots__ = ("_bits", "_takeover", "_window", "_d", "_ended", "_recent", "_recent_size", "_used",
                 "_parked")

    def __init__(self, params: Any) -> None:
        self._bits: int = params.remote_max_window_bits
        self._takeover = not params.remote_no_context_takeover
        self._window = 1 << self._bits
        self._d: Any = None  # created with the first compressed message
        self._ended = False  # the stream ended inside the current message
        # with context takeover: the latest output, enough to refill the window after a stream end
        self._recent: Deque[bytes] = collections.deque()
        self._recent_size = 0
        self._used = False  # inflated something since the last park_idle()
        self._parked = False  # the decompressor was freed while idle: the next one starts from _recent

    def inflate(self, data: bytes, room: int) -> List[bytes]:
        """Inflate the next piece of the current message: its output, at most ``room`` (>= 1) bytes."""
        parts: List[bytes] = []
        self._used = True
        if self._ended:
            return parts
        d = self._d
        if d is None:
            d = self._d = self._new_decompressor()
        while True:
            step = STEP if room > STEP else room
            try:
                out: bytes = d.decompress(data, step)
            except zlib.error as exc:
                raise corrupt_data(_zlib_detail(exc)) from None
            if out:
                parts.append(out)
                room -= len(out)
            if d.eof:
                self._ended = True
                return parts
            if len(out) < step or not room:  # the input is used up, or no room is left
                return parts
            data = d.unconsumed_tail

    def end_message(self, output: bytes) -> None:
        """The current message is complete; ``output`` is all it inflated to."""
        if not self._takeover:
            self._d = None  # the peer starts afresh: so do we (and an idle connection holds nothing)
            self._ended = False
            return
        if output:
            self._remember(output)
        if self._ended:
            self._ended = False
            self._parked = True
            self._d = self._new_decompressor()

    def _new_decompressor(self) -> Any:
        """A decompressor; after a stream's end or a park, one that starts from the window."""
        if self._parked:
            self._parked = False
            history = b"".join(self._recent)[-self._window:]
            if history:
                return zlib.decompressobj(wbits=-self._bits, zdict=history)
        return zlib.decompressobj(wbits=-self._bits)

    def park_idle(self) -> bool:
        """Nothing inflated since the last call (and no compressed message in progress: the
        caller's check): free the decompressor; the next one starts from the window, which
        ``_recent`` holds anyway. Whether it did."""
        idle = not self._used
        self._used = False
        if not idle or not self._takeover or self._d is None or self._ended:
            return False
        self._d = None
        self._parked = True
        return True

    def _remember(self, output: bytes) -> None:
        window = self._window
        if len(output) >= window:
            self._recent.clear()
            self._recent.append(output[-window:])
            self._recent_size = window
            return
        self._recent.append(output)
        self._recent_size += len(output)
        while self._recent_size - len(self._recent[0]) >= window:
            self._recent_size -= len(self._recent.popleft())


class Compressor:
    """Compresses the messages we send on one connection (``params``: the agreed PerMessageDeflate).

    ``compress(data)`` returns a whole message's compressed payload (to send
    with RSV1 set); ``compress(data, fin=False)`` one fragment of a message
    whose end comes later: its output is flushed, so the peer can inflate the
    fragment as it arrives, and only the last fragment's flush marker is
    removed. Messages shorter than ``min_size`` are for the caller to send
    uncompressed.
    """

    __slots__ = ("min_size", "backend", "_bits", "_mem_level", "_level", "_takeover", "_c", "_isal", "_auto",
                 "_module", "_mid", "_used")

    def __init__(self, params: Any) -> None:
        if not params.compresses:
            raise ValueError("the agreed window is 8 bits, which zlib cannot compress with: "
                             "send uncompressed")
        self.min_size: int = params.min_size
        self._bits: int = params.local_max_window_bits
        self._mem_level: int = params.mem_level
        self._level: int = params.level
        self._takeover = not params.local_no_context_takeover
        self._c: Any = None  # created with the first message that needs it
        # ISA-L from ISAL_MIN_SIZE where backend() says so (see isal_compressor() for the other use)
        self.backend = backend(self._level)
        self._module: Any = _isal if self.backend == "isal" else None
        self._auto = self._module is not None  # the engine may still change
        self._isal: Any = None  # ISA-L for the current message
        self._mid = False  # inside a message sent in fragments
        self._used = False  # compressed something since the last release_idle()

    @property
    def has_state(self) -> bool:
        """Whether a compressor's state (zlib's or ISA-L's) is allocated now."""
        return self._c is not None

    def release(self) -> None:
        """Free the compressor's state now; a later message starts a new one, without the history.

        Valid between any two calls (every call ends with a flush: the stream
        is byte-aligned and nothing is pending), so the peer, keeping its
        context or not, inflates what follows as usual.
        """
        self._c = None

    def release_idle(self) -> bool:
        """:meth:`release` if nothing was compressed since the last call; whether it did."""
        idle = not self._used and not self._mid
        self._used = False
        if idle and self._c is not None:
            self._c = None
            return True
        return False

    def compress(self, data: Any, fin: bool = True) -> bytes:
        self._used = True
        if self._auto and not self._mid:
            big = _nbytes(data) >= ISAL_MIN_SIZE
            if big is (self._isal is None):
                self._isal = self._module if big else None
                self._c = None  # nothing pending: the last message ended with a sync flush
                if self._takeover:
                    self._auto = False  # for good: moving back would lose the history again
        self._mid = not fin
        if self._isal is not None:
            return self._compress_isal(data, fin)
        c = self._c
        if c is None:
            c = zlib.compressobj(self._level, zlib.DEFLATED, -self._bits, self._mem_level)
            if self._takeover or not fin:
                self._c = c
        out: bytes = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            if not self._takeover:
                self._c = None
            return out[:-4]  # a sync flush always ends with TAIL
        return out

    def _compress_isal(self, data: Any, fin: bool) -> bytes:
        if not len(data):
            # what zlib makes of it (RFC 7692 7.2.3.6); the stream is byte-aligned after every call,
            # so an empty stored block fits anywhere and the compressor need not see it
            if fin and not self._takeover:
                self._c = None  # it holds the message's earlier fragments: not back to the pool
            return _EMPTY[:1] if fin else _EMPTY
        isal = self._isal
        c = self._c
        if c is None:
            key = (self._bits, self._mem_level, ISAL_LEVELS[self._level])
            c = None
            if not self._takeover:
                idle = _pool.get(key)
                if idle:
                    # one step, as another thread's event loop may take from the same pool
                    with contextlib.suppress(IndexError):
                        c = idle.pop()
            if c is None:
                c = isal.compressobj(key[2], isal.DEFLATED, -self._bits, self._mem_level)
            self._c = c
        try:
            # without context takeover the message's last flush is a full flush: the same marker,
            # and the compressor forgets the message (it goes back to the pool)
            out: bytes = c.compress(data) + c.flush(
                isal.Z_FULL_FLUSH if fin and not self._takeover else isal.Z_SYNC_FLUSH)
        except BaseException:
            self._c = None  # its stream is in an unknown state
            raise
        if fin:
            if not self._takeover:
                self._c = None
                idle = _pool.setdefault((self._bits, self._mem_level, ISAL_LEVELS[self._level]), [])
                if len(idle) < _POOL_SIZE:
                    idle.append(c)
            return out[:-4]
        return out


def isal_compressor(params: Any) -> Compressor:
    """A :class:`Compressor` that sends every message to ISA-L: the compiled build's ISA-L half (it
    decides which messages go there, as :meth:`Compressor.compress` does)."""
    c = Compressor(params)
    if c._module is None:
        raise ValueError(f"ISA-L does not compress level {params.level} here")
    c._isal = c._module
    c._auto = False
    return c
