"""Fuzz target (atheris): the compiled frame parser, checked against its pure-Python twin.

Each input picks parser options and read splits, then a stream that is either
raw bytes or frames assembled from the input (headers masked the right way
for the side, so the fuzzer gets past the first checks and into payloads,
fragments, UTF-8 and close frames). With permessage-deflate agreed (half the
inputs, with and without context takeover, windows 8-15, small size limits),
frames with RSV1 carry either the input's bytes as they are (corrupt deflate
streams, stream ends, bombs under a limit) or the input compressed by zlib
and cut at input-chosen points (valid streams through every inflate path).
Both implementations must produce the same events from every feed and fail
the same way (close code, reason, events before the error); the compiled
writer and compressor must match the pure ones byte for byte. Under the
sanitizer build (fuzz/build_sanitized.sh) any memory error aborts. Frames are
built, reads split and outcomes recorded by the frame tests' own helpers
(tests/frames_helpers.py).

    python fuzz/fuzz_frames.py -runs=100000          # libFuzzer flags
"""

from __future__ import annotations

import os
import sys
import zlib

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the checkout, after PYTHONPATH: a sanitized build on PYTHONPATH wins
sys.path.append(ROOT)
sys.path.append(os.path.join(ROOT, "tests"))

with atheris.instrument_imports(include=["wsfast"]):
    from wsfast import _frames_c, _frames_py
    from wsfast.extensions.permessage_deflate import PerMessageDeflate

from frames_helpers import outcome, raw_frame, split_at  # noqa: E402

LIMITS = [None, 0, 10, 125, 1000, 2**20]
LENGTH_FORMS = {8: 64, 9: 16}  # else the minimal encoding


def agreement(code):
    """A permessage-deflate agreement from 4 bits of the input: the window and takeover."""
    return PerMessageDeflate(remote_max_window_bits=8 + (code & 7), remote_no_context_takeover=bool(code & 8),
                             local_max_window_bits=9 + (code & 3), local_no_context_takeover=bool(code & 4),
                             level=code % 10)


def build_frames(fdp, client, ext):
    """Frames from the input: header fields, then a payload the input supplies (with deflate
    agreed, sometimes the input's bytes compressed, cut where the input says)."""
    out = []
    pending = b""  # the rest of a compressed stream, for the next frames
    deflater = None
    while fdp.remaining_bytes() > 2 and len(out) < 16:
        b0 = fdp.ConsumeIntInRange(0, 255)
        length = fdp.ConsumeIntInRange(0, 300)
        form = fdp.ConsumeIntInRange(0, 9)  # mostly minimal, sometimes 16- or 64-bit
        masked = (not client) if fdp.ConsumeIntInRange(0, 15) else client
        first = False
        if ext and not pending and (b0 & 0x4F) in (0x41, 0x42) and fdp.ConsumeIntInRange(0, 1):
            if deflater is None or ext.remote_no_context_takeover:
                deflater = zlib.compressobj(fdp.ConsumeIntInRange(0, 9), zlib.DEFLATED,
                                            -max(9, ext.remote_max_window_bits))
            plain = fdp.ConsumeBytes(length) * fdp.ConsumeIntInRange(1, 64)
            pending = deflater.compress(plain) + deflater.flush(zlib.Z_SYNC_FLUSH)
            first = True
        if pending:
            # the stream's first frame keeps the drawn opcode and RSV bits, the others continue it
            cut = fdp.ConsumeIntInRange(0, len(pending))
            payload, pending = pending[:cut], pending[cut:]
            fin = 0 if pending else 0x80
            if not pending and payload.endswith(b"\x00\x00\xff\xff"):
                payload = payload[:-4]
            b0 = fin | ((b0 & 0x7F) if first else 0)
        else:
            payload = fdp.ConsumeBytes(length)
        key = fdp.ConsumeBytes(4).ljust(4, b"\x00") if masked else None
        out.append(raw_frame(b0 & 0x0F, payload, fin=bool(b0 & 0x80), rsv=b0 & 0x70, key=key,
                             length_form=LENGTH_FORMS.get(form)))
    return b"".join(out)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    flags = fdp.ConsumeIntInRange(0, 255)
    client = bool(flags & 1)
    limit = LIMITS[(flags >> 1) % len(LIMITS)]
    ext = agreement(fdp.ConsumeIntInRange(0, 15)) if flags & 0x10 else None
    decode_text = fdp.ConsumeIntInRange(0, 3) != 0  # one input in four: text kept as its UTF-8 bytes
    cuts = sorted(fdp.ConsumeIntInRange(0, 2048) for _ in range(fdp.ConsumeIntInRange(0, 6)))
    raw = flags & 0x20
    stream = fdp.ConsumeBytes(fdp.remaining_bytes()) if raw else build_frames(fdp, client, ext)
    chunks = split_at(stream, cuts)
    if flags & 0x40:
        chunks = [bytearray(c) for c in chunks]
    options = {"client": client, "max_message_size": limit, "extensions": [ext] if ext else (),
               "decode_text": decode_text}
    c_out = outcome(_frames_c, chunks, **options)
    py_out = outcome(_frames_py, chunks, **options)
    if c_out != py_out:
        raise AssertionError(f"compiled and pure disagree:\n  c:  {c_out!r}\n  py: {py_out!r}")
    # the writers agree byte for byte
    key = stream[:4] if len(stream) >= 4 else None
    op = (1, 2)[flags >> 7]
    fragment = (flags & 0x0F) or None
    compiled = encode(_frames_c, op, stream, key, fragment, ext)
    if compiled != encode(_frames_py, op, stream, key, fragment, ext):
        raise AssertionError("compiled and pure writers disagree")


def encode(module, op, payload, key, fragment, ext):
    if ext is None or not ext.compresses:
        return module.encode_message(op, payload, mask=key, fragment_size=fragment)
    compressor = module.Compressor(ext)  # twice: the second message refers back with takeover
    return [module.encode_message(op, payload, mask=key, fragment_size=fragment, compressor=compressor),
            module.encode_message(op, payload[::-1], mask=key, fragment_size=fragment, compressor=compressor),
            compressor.compress(payload[:7], False), compressor.compress(payload[7:])]


def main() -> None:
    print(f"fuzzing {_frames_c.__file__}", flush=True)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
