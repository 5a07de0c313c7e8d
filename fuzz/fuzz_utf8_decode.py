"""Fuzz target (atheris): decode_utf8 with every compiled decoder, against ``bytes.decode``.

Each input is either raw bytes or text built from code points the input picks
(long runs of one width, mixes, edges), then possibly one byte flipped, and
placed at an offset the input picks inside a larger buffer (a memoryview
slice), so the SIMD loads see every alignment and every tail. Every decoder
(portable, AVX2, CPython's) must give the codec's own result: the same str,
or a UnicodeDecodeError at the same place for the same reason. Under the
sanitizer build (FUZZ_TARGET=fuzz_utf8_decode fuzz/build_sanitized.sh) any
read or write outside the buffers aborts.

    python fuzz/fuzz_utf8_decode.py -runs=100000          # libFuzzer flags
"""

from __future__ import annotations

import os
import sys

import atheris

# the checkout, after PYTHONPATH: a sanitized build on PYTHONPATH wins
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["wsfast"]):
    from wsfast import _utf8_c, _utf8_py

DECODERS = [*_utf8_c._decoders(), "cpython"]
POOLS = [[0x61], [0x61, 0xE9], [0xE9, 0xFF], [0x5929, 0x61], [0x5929], [0x1F600], [0x1F600, 0x61, 0x5929],
         [0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF, 0xD7FF, 0xE000]]


def outcome(func, data):
    try:
        return func(data)
    except UnicodeDecodeError as exc:
        return ("error", exc.start, exc.end, exc.reason)


def make(fdp: atheris.FuzzedDataProvider) -> bytes:
    if fdp.ConsumeBool():
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    pool = POOLS[fdp.ConsumeIntInRange(0, len(POOLS) - 1)]
    count = fdp.ConsumeIntInRange(0, 1500)
    picks = fdp.ConsumeBytes(count)
    data = bytearray("".join(chr(pool[b % len(pool)]) for b in picks).encode())
    if data and fdp.ConsumeBool():
        data[fdp.ConsumeIntInRange(0, len(data) - 1)] = fdp.ConsumeIntInRange(0, 255)
    return bytes(data)


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    offset = fdp.ConsumeIntInRange(0, 63)
    data = make(fdp)
    expected = outcome(bytes.decode, data)
    view = memoryview(b"\xfe" * offset + data + b"\xfe" * 3)[offset:offset + len(data)]
    for decoder in DECODERS:
        got = outcome(lambda d, name=decoder: _utf8_c._decode_with(name, d), view)
        if got != expected or type(got) is not type(expected):
            raise AssertionError(f"{decoder}: {got!r:.200} != {expected!r:.200} for {data!r:.200}")
    for module in (_utf8_c, _utf8_py):
        got = outcome(module.decode_utf8, data)
        if got != expected:
            raise AssertionError(f"{module.__name__}.decode_utf8: {got!r:.200} != {expected!r:.200}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
