"""Fuzz target (atheris): the compiled per-frame reader (FrameReader), checked against its pure twin.

Each input picks the reader's options (side, size limits, RSV bits, partial mode) and read
splits, then a stream: raw bytes, or frames assembled from the input with headers masked the
right way for the side (so the fuzzer gets past the first checks into payloads spread over
reads, fragments and control frames). Both implementations must give the same frames from every
feed and fail the same way (close code, reason, frames before the error, the bytes from the
offending header on). Under the sanitizer build (FUZZ_TARGET=fuzz_stream fuzz/build_sanitized.sh)
any memory error aborts.

    python fuzz/fuzz_stream.py -runs=100000          # libFuzzer flags
"""

from __future__ import annotations

import os
import sys

import atheris

# the checkout, after PYTHONPATH: a sanitized build on PYTHONPATH wins
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["wsfast"]):
    from wsfast import _stream_c, _stream_py
    from wsfast.exceptions import ProtocolError

LIMITS = [None, 0, 10, 125, 1000, 2**20]


def outcome(module, options, chunks):
    reader = module.FrameReader(**options)
    result = []
    for chunk in chunks:
        try:
            items = reader.feed(chunk)
            result.append(("ok", [f if isinstance(f, tuple) else
                                  (int(f.opcode), f.data, f.fin, f.rsv1, f.rsv2, f.rsv3) for f in items]))
        except ProtocolError as exc:
            frames = [f if isinstance(f, tuple) else (int(f.opcode), f.data, f.fin, f.rsv1, f.rsv2, f.rsv3)
                      for f in exc.frames]
            result.append(("error", int(exc.close_code), exc.reason, frames, exc.rest))
            try:
                reader.feed(b"\x81\x80\x00\x00\x00\x00")
                result.append("accepted after failure")
            except ProtocolError as again:
                result.append(("again", int(again.close_code), again.reason))
            break
    result.append((reader.failed, reader.in_message, reader.held, reader.frame_progress, reader.other_frames))
    return result


def frames_from(fdp, client):
    out = []
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        b0 = fdp.ConsumeIntInRange(0, 255) if fdp.ConsumeBool() else fdp.PickValueInList(
            [0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0xC1, 0x41])
        payload = fdp.ConsumeBytes(fdp.PickValueInList([0, 1, 5, 125, 126, 300, 70000]))
        n = len(payload)
        mask = 0 if client else 0x80
        if n < 126:
            head = bytes([b0, mask | n])
        elif n < 65536:
            head = bytes([b0, mask | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([b0, mask | 127]) + n.to_bytes(8, "big")
        if not client:
            key = fdp.ConsumeBytes(4).ljust(4, b"\0")
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
            head += key
        out.append(head + payload)
    return b"".join(out)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    client = fdp.ConsumeBool()
    options = {
        "client": client,
        "max_message_size": fdp.PickValueInList(LIMITS),
        "max_frame_size": fdp.PickValueInList(LIMITS),
        "rsv_bits": fdp.PickValueInList([0, 0x40, 0x70]),
        "partial": fdp.ConsumeBool(),
    }
    cuts = sorted(fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 6)))
    stream = frames_from(fdp, client) if fdp.ConsumeBool() else fdp.ConsumeBytes(fdp.remaining_bytes())
    chunks, last = [], 0
    for cut in cuts + [len(stream)]:
        cut = min(cut, len(stream))
        if cut >= last:
            chunks.append(stream[last:cut])
            last = cut
    compiled = outcome(_stream_c, options, chunks)
    pure = outcome(_stream_py, options, chunks)
    if compiled != pure:
        raise AssertionError(f"the twins differ:\n  c:  {compiled!r}\n  py: {pure!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
