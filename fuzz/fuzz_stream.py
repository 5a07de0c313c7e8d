"""Fuzz target (atheris): the compiled per-frame reader (FrameReader), checked against its pure twin.

Each input picks the reader's options (side, size limits, RSV bits, partial mode) and read
splits, then a stream: raw bytes, or frames assembled from the input with headers masked the
right way for the side (so the fuzzer gets past the first checks into payloads spread over
reads, fragments and control frames). Both implementations must give the same frames from every
feed and fail the same way (close code, reason, frames before the error, the bytes from the
offending header on). Under the sanitizer build (FUZZ_TARGET=fuzz_stream fuzz/build_sanitized.sh)
any memory error aborts. Frames are built, reads split and outcomes recorded by the stream
tests' own helpers (tests/frames_helpers.py).

    python fuzz/fuzz_stream.py -runs=100000          # libFuzzer flags
"""

from __future__ import annotations

import os
import sys

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the checkout, after PYTHONPATH: a sanitized build on PYTHONPATH wins
sys.path.append(ROOT)
sys.path.append(os.path.join(ROOT, "tests"))

with atheris.instrument_imports(include=["wsfast"]):
    from wsfast import _stream_c, _stream_py

from frames_helpers import raw_frame, reader_outcome, split_at  # noqa: E402

LIMITS = [None, 0, 10, 125, 1000, 2**20]
FIRST_BYTES = [0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0xC1, 0x41]


def frames_from(fdp, client):
    """Up to 8 frames: a first byte drawn from any value or the usual ones, a payload of a size
    around the length encodings' edges, masked the right way for the side."""
    out = []
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        b0 = fdp.ConsumeIntInRange(0, 255) if fdp.ConsumeBool() else fdp.PickValueInList(FIRST_BYTES)
        payload = fdp.ConsumeBytes(fdp.PickValueInList([0, 1, 5, 125, 126, 300, 70000]))
        key = None if client else fdp.ConsumeBytes(4).ljust(4, b"\0")
        out.append(raw_frame(b0 & 0x0F, payload, fin=bool(b0 & 0x80), rsv=b0 & 0x70, key=key))
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
    cuts = [fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    stream = frames_from(fdp, client) if fdp.ConsumeBool() else fdp.ConsumeBytes(fdp.remaining_bytes())
    chunks = split_at(stream, cuts)
    compiled = reader_outcome(_stream_c, chunks, **options)
    pure = reader_outcome(_stream_py, chunks, **options)
    if compiled != pure:
        raise AssertionError(f"the twins differ:\n  c:  {compiled!r}\n  py: {pure!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
