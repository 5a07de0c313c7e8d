"""permessage-deflate's codec alone: inflate and deflate throughput, compiled vs pure Python vs
websockets' PerMessageDeflate extension, on JSON-like text.

Deflate: one message compressed (window 12, memLevel 5, level 6: websockets'
defaults, for all three; context kept). Inflate: one compressed frame parsed
into its message — by a FrameParser (compiled or pure) fed the whole frame, by
websockets' extension decoding a Frame — compressed without context takeover,
so the same frame can be inflated again and again.
"""

from __future__ import annotations

import zlib
from typing import Any, Dict, Iterator

from wsfast.bench import Case, implementations, peer
from wsfast.bench.deflate import json_messages
from wsfast.extensions.permessage_deflate import PerMessageDeflate

TITLE = "permessage-deflate codec: inflate / deflate one message (time per call)"
ORDER = 57

RATIOS = [("c", "py", "c vs py"), ("c", "websockets", "c vs websockets")]
SIZES = [("64 B", 64), ("4 KiB", 4096), ("64 KiB", 65536)]

SEND = PerMessageDeflate(local_max_window_bits=12, mem_level=5, level=6)
RECEIVE = PerMessageDeflate(remote_max_window_bits=12, remote_no_context_takeover=True)


def _websockets() -> Any:
    ext = peer("websockets.extensions.permessage_deflate", "PerMessageDeflate", label="websockets")
    frames = peer("websockets.frames", label="websockets")
    if ext is None or frames is None:
        return None, None
    sender = ext(remote_no_context_takeover=False, local_no_context_takeover=False, remote_max_window_bits=12,
                 local_max_window_bits=12, compress_settings={"memLevel": 5, "level": 6})
    receiver = ext(remote_no_context_takeover=True, local_no_context_takeover=False,
                   remote_max_window_bits=12, local_max_window_bits=12)
    return (sender, receiver), frames


def cases(quick: bool) -> Iterator[Case]:
    impls = implementations()
    (ws_pair, ws_frames) = _websockets()
    for name, size in SIZES:
        message = json_messages(size, 1, seed=size)[0]
        c = zlib.compressobj(6, zlib.DEFLATED, -12, 5)
        packed = (c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        deflate: Dict[str, Any] = {}
        inflate: Dict[str, Any] = {}
        for label, impl in impls.items():
            deflate[label] = (impl.Compressor(SEND).compress, message)
            frame = impl.encode_frame(1, packed, rsv1=True)
            parser = impl.FrameParser(client=True, extensions=[RECEIVE], max_message_size=None)
            if parser.feed(frame)[0].data.encode() != message:
                raise AssertionError(f"{label}: inflated message differs")
            inflate[label] = (parser.feed, frame)
        if ws_pair is not None:
            sender, receiver = ws_pair
            text = ws_frames.Frame(ws_frames.Opcode.TEXT, message)
            deflate["websockets"] = (sender.encode, text)
            compressed = ws_frames.Frame(ws_frames.Opcode.TEXT, packed, rsv1=True)
            if receiver.decode(compressed).data != message:
                raise AssertionError("websockets: inflated message differs")
            inflate["websockets"] = (receiver.decode, compressed)
        else:
            deflate["websockets"] = inflate["websockets"] = None
        ratio = len(packed) / len(message)
        yield Case(f"deflate {name} JSON ({len(message)} B -> {ratio:.2f})", len(message), deflate,
                   msg_size=len(message))
        yield Case(f"inflate {name} JSON ({len(packed)} B -> {len(message)} B)", len(message), inflate,
                   msg_size=len(message))
