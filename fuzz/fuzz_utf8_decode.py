"""Fuzz target (atheris): decode_utf8 with every compiled decoder, against ``bytes.decode``.

Each input is either raw bytes or text built from code points the input picks
(long runs of one width, mixes, edges), then possibly one byte flipped, and
placed at an offset the input picks inside a larger buffer (a memoryview
slice), so the SIMD loads see every alignment and every tail. Every decoder
(portable, AVX2, CPython's) must give the codec's own result: the same str,
or a UnicodeDecodeError at the same place for the same reason; every
validation kernel must say valid exactly when the codec decodes it. Under the
sanitizer build (FUZZ_TARGET=fuzz_utf8_decode fuzz/build_sanitized.sh) any
read or write outside the buffers aborts. Texts are drawn and outcomes compared by the
decoding tests' own helpers (tests/utf8_helpers.py).

    python fuzz/fuzz_utf8_decode.py -runs=100000          # libFuzzer flags
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
    from wsfast import _utf8_c, _utf8_py

from utf8_helpers import POOLS, decode_outcome, expected_outcome, same  # noqa: E402

DECODERS = [*_utf8_c._decoders(), "cpython"]
VALIDATORS = _utf8_c._kernels()


def make(fdp: atheris.FuzzedDataProvider) -> bytes:
    if fdp.ConsumeBool():
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    pool = POOLS[fdp.ConsumeIntInRange(0, len(POOLS) - 1)]
    count = fdp.ConsumeIntInRange(0, 1500)
    picks = fdp.ConsumeBytes(count)
    data = bytearray("".join(pool[b % len(pool)] for b in picks).encode())
    if data and fdp.ConsumeBool():
        data[fdp.ConsumeIntInRange(0, len(data) - 1)] = fdp.ConsumeIntInRange(0, 255)
    return bytes(data)


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    offset = fdp.ConsumeIntInRange(0, 63)
    # repeated, so that short fuzz inputs still reach the kernels' long-input paths (>= 256 bytes)
    times = fdp.ConsumeIntInRange(1, 40)
    data = (make(fdp) * times)[:16384]
    expected = expected_outcome(data)
    view = memoryview(b"\xfe" * offset + data + b"\xfe" * 3)[offset:offset + len(data)]
    for decoder in DECODERS:
        try:
            same(decode_outcome(lambda d, name=decoder: _utf8_c._decode_with(name, d), view), expected)
        except AssertionError as exc:
            raise AssertionError(f"{decoder} on {data!r:.200}: {exc}") from None
    valid = isinstance(expected, str)  # the codec decoded it (else: its error)
    for kernel in VALIDATORS:  # the validators see the same alignments (they realign long inputs)
        if _utf8_c._validate_with(kernel, view) is not valid:
            raise AssertionError(f"validator {kernel} on {data!r:.200}: not {valid}")
    for module in (_utf8_c, _utf8_py):
        try:
            same(decode_outcome(module.decode_utf8, data), expected)
        except AssertionError as exc:
            raise AssertionError(f"{module.__name__}.decode_utf8 on {data!r:.200}: {exc}") from None


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
