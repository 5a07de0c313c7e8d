"""UTF-8 validation: both implementations, and every compiled kernel, accept
exactly what the strict codec accepts; Utf8Validator.feed() fails on the chunk
holding the first byte after which no continuation can make the text valid.

Expected results never come from the code under test: validity comes from
bytes.decode("utf-8"), and the first impossible byte from a small reference
decoder written here from Unicode's table of well-formed sequences (itself
checked against the codec's error positions).
"""

from __future__ import annotations

import array
import os
import subprocess
import sys
import threading
from typing import Iterable, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from wsfast import _utf8_c

    KERNELS: List[str] = _utf8_c._kernels()
except ImportError:  # the impl fixture reports a missing extension (and fails under CI)
    _utf8_c = None
    KERNELS = []

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HYPOTHESIS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ---------------------------------------------------------------- references

_CONT = (0x80, 0xBF)


def _after_lead(lead: int) -> Optional[List[Tuple[int, int]]]:
    """Allowed ranges of the bytes after `lead` (Unicode Table 3-7); None: never a lead."""
    if lead <= 0x7F:
        return []
    if 0xC2 <= lead <= 0xDF:
        return [_CONT]
    if lead == 0xE0:
        return [(0xA0, 0xBF), _CONT]
    if lead == 0xED:
        return [(0x80, 0x9F), _CONT]
    if 0xE1 <= lead <= 0xEF:
        return [_CONT, _CONT]
    if lead == 0xF0:
        return [(0x90, 0xBF), _CONT, _CONT]
    if 0xF1 <= lead <= 0xF3:
        return [_CONT, _CONT, _CONT]
    if lead == 0xF4:
        return [(0x80, 0x8F), _CONT, _CONT]
    return None


def scan(data: bytes) -> Tuple[Optional[int], bool]:
    """(index of the first impossible byte or None, whether the text ends complete)."""
    expect: List[Tuple[int, int]] = []
    for i, byte in enumerate(data):
        if expect:
            lo, hi = expect.pop(0)
            if not lo <= byte <= hi:
                return i, False
        else:
            ranges = _after_lead(byte)
            if ranges is None:
                return i, False
            expect = list(ranges)
    return None, not expect


def first_impossible(data: bytes) -> Optional[int]:
    return scan(data)[0]


def codec_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def codec_first_impossible(data: bytes) -> Optional[int]:
    """The same position, derived from the strict codec's error (start/end/reason)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return None  # only truncated: a continuation could still complete it
        return exc.start if exc.reason == "invalid start byte" else exc.end
    return None


def feed_results(data: bytes, ends: Sequence[int]) -> List[bool]:
    """What feed() must return for chunks of `data` ending at `ends`."""
    # the reference decoder is slow in Python; on big buffers use the codec's
    # position, which test_reference_decoder_agrees_with_codec* prove the same
    bad = first_impossible(data) if len(data) <= 4096 else codec_first_impossible(data)
    return [bad is None or bad >= end for end in ends]


def run_chunks(validator, data: bytes, ends: Sequence[int]) -> List[bool]:
    results, start = [], 0
    for end in ends:
        results.append(validator.feed(data[start:end]))
        start = end
    return results


# ---------------------------------------------------------------- vectors


def raw(cp: int, n: int) -> bytes:
    """`cp` in an n-byte UTF-8 shape, even when UTF-8 forbids it (overlong, surrogate, too large)."""
    if n == 1:
        return bytes([cp])
    out = []
    for _ in range(n - 1):
        out.append(0x80 | (cp & 0x3F))
        cp >>= 6
    lead = (0xFF00 >> n) & 0xFF
    assert cp < (0x80 >> n), "does not fit"
    return bytes([lead | cp] + out[::-1])


def enc(cp: int) -> bytes:
    return chr(cp).encode("utf-8")


BOUNDARIES = [0x0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xCFFF, 0xD000, 0xD7FF, 0xE000, 0xFFFD,
              0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF]
NONCHARACTERS = [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF]
MULTIBYTE = [0x80, 0xE9, 0x7FF, 0x800, 0x20AC, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]
SURROGATES = [0xD800, 0xDB7F, 0xDB80, 0xDBFF, 0xDC00, 0xDF80, 0xDFFF]


def _vectors() -> List[Tuple[str, bytes, bool]]:
    v: List[Tuple[str, bytes, bool]] = []
    # valid
    v.append(("empty", b"", True))
    v += [(f"U+{cp:04X}", enc(cp), True) for cp in BOUNDARIES]
    v += [(f"nonchar U+{cp:04X}", enc(cp), True) for cp in NONCHARACTERS]
    for text in ["hello", "héllo wörld", "€uro", "日本語のテキスト", "😀🎉👍", "a\u00e9\u20ac\U0001f600z",
                 "".join(chr(cp) for cp in BOUNDARIES)]:
        v.append((f"text {text[:6]!a}", text.encode(), True))
    # above U+10FFFF, including the old 5- and 6-byte forms
    for cp in (0x110000, 0x13FFFF, 0x140000, 0x1FFFFF):
        v.append((f"too large U+{cp:X}", raw(cp, 4), False))
    v.append(("5-byte", raw(0x200000, 5), False))
    v.append(("5-byte max", raw(0x3FFFFFF, 5), False))
    v.append(("6-byte", raw(0x4000000, 6), False))
    v.append(("6-byte max", raw(0x7FFFFFFF, 6), False))
    # overlongs: every longer form of several code points
    for cp in (0x00, 0x2F, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF):
        shortest = len(enc(cp))
        for n in range(shortest + 1, 7):
            v.append((f"overlong U+{cp:04X} in {n}", raw(cp, n), False))
    # surrogates, alone and paired (CESU-8)
    v += [(f"surrogate U+{cp:04X}", raw(cp, 3), False) for cp in SURROGATES]
    v.append(("surrogate pair", raw(0xD800, 3) + raw(0xDC00, 3), False))
    v.append(("surrogate pair max", raw(0xDBFF, 3) + raw(0xDFFF, 3), False))
    # truncated sequences of each length, at the end and followed by ASCII or another character
    for cp in MULTIBYTE:
        full = enc(cp)
        for k in range(1, len(full)):
            v.append((f"truncated U+{cp:04X}[:{k}]", full[:k], False))
            v.append((f"truncated U+{cp:04X}[:{k}] + ascii", full[:k] + b"a", False))
            v.append((f"truncated U+{cp:04X}[:{k}] + char", full[:k] + enc(0x20AC), False))
    v.append(("all truncated", b"".join(enc(cp)[:-1] for cp in MULTIBYTE), False))
    # stray continuation bytes
    v += [(f"stray {b:02X}", bytes([b]), False) for b in range(0x80, 0xC0)]
    v.append(("stray pair", b"\x80\xbf", False))
    v.append(("stray run", bytes(range(0x80, 0xC0)), False))
    v.append(("char + extra continuation", enc(0x20AC) + b"\x80", False))
    v.append(("4-byte + extra continuation", enc(0x1F600) + b"\xbf", False))
    # lead bytes followed by a space, and bytes that never appear
    v += [(f"lead {b:02X} + space", bytes([b, 0x20]), False) for b in range(0xC0, 0x100)]
    v += [(f"byte {b:02X}", bytes([b]), False) for b in (0xC0, 0xC1, *range(0xF5, 0x100))]
    v.append(("FE FE FF FF", b"\xfe\xfe\xff\xff", False))
    # an impossible byte inside a sequence
    v += [
        ("bad 2nd of 2", b"\xc3\x28", False),
        ("bad 2nd of 3", b"\xe2\x28\xa1", False),
        ("bad 3rd of 3", b"\xe2\x82\x28", False),
        ("bad 2nd of 4", b"\xf0\x28\x8c\xbc", False),
        ("bad 3rd of 4", b"\xf0\x90\x28\xbc", False),
        ("bad 4th of 4", b"\xf0\x28\x8c\x28", False),
        ("lead inside 4", b"\xf0\x90\x80\xc2\x80", False),
        ("ED 9F BF ED A0", enc(0xD7FF) + b"\xed\xa0", False),
        ("F4 8F BF BF F4 90", enc(0x10FFFF) + b"\xf4\x90", False),
    ]
    return v


VECTORS = _vectors()
VECTOR_IDS = [name for name, _, _ in VECTORS]
VECTOR_DATA = [data for _, data, _ in VECTORS]
PADS = list(range(0, 18)) + [31, 32, 33, 63, 64, 65, 130]


def padded(data: bytes) -> Iterable[bytes]:
    """`data` at every offset inside ASCII padding whose lengths cross 16/32/64-byte boundaries."""
    for pad in PADS:
        for offset in range(pad + 1):
            yield b"a" * offset + data + b"b" * (pad - offset)


# ---------------------------------------------------------------- the references themselves


def test_reference_decoder_agrees_with_codec():
    for _, data, valid in VECTORS:
        bad, complete = scan(data)
        assert (bad is None and complete) == valid == codec_valid(data), data
        assert bad == codec_first_impossible(data), data


@given(st.binary(max_size=64))
@settings(max_examples=2000, deadline=None)
def test_reference_decoder_agrees_with_codec_on_random_bytes(data):
    bad, complete = scan(data)
    assert (bad is None and complete) == codec_valid(data)
    assert bad == codec_first_impossible(data)


# ---------------------------------------------------------------- whole buffers


@pytest.mark.parametrize("data,valid", [(d, ok) for _, d, ok in VECTORS], ids=VECTOR_IDS)
def test_vector(impl, data, valid):
    assert impl.validate_utf8(data) is valid
    assert impl.validate_utf8(bytearray(data)) is valid
    assert impl.validate_utf8(memoryview(data)) is valid


def test_vectors_padded(impl):
    for data in VECTOR_DATA:
        for text in padded(data):
            assert impl.validate_utf8(text) is codec_valid(text), text


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_vectors_padded(kernel):
    for _, data, valid in VECTORS:
        assert _utf8_c._validate_with(kernel, data) is valid, data
        for text in padded(data):
            assert _utf8_c._validate_with(kernel, text) is codec_valid(text), text


def _fill(unit: bytes, size: int) -> bytes:
    """Exactly `size` bytes of valid text made of `unit` (topped up with ASCII)."""
    return unit * (size // len(unit)) + b"a" * (size % len(unit))


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_vectors_around_the_middle(kernel):
    """Long buffers may be validated in pieces cut near the middle (where a character
    starts): every vector across that cut, inside ASCII and inside multi-byte text."""
    for fill in (b"a", "é".encode(), "中".encode(), "😀".encode()):
        for total in (256, 301, 700):
            for _, data, _ in VECTORS:
                if len(data) > 40:
                    continue
                for shift in range(-8, 9):
                    head = total // 2 + shift
                    tail = max(0, total - head - len(data))
                    text = _fill(fill, head) + data + _fill(fill, tail)
                    expected = codec_valid(text)
                    assert _utf8_c._validate_with(kernel, text) is expected, (fill, total, shift, data)


# sequences that end a valid text, break it, or leave it unfinished when cut short
_AT_ALIGNMENT = [enc(0x7F), enc(0x80), enc(0x7FF), enc(0xFFFF), enc(0x10000), enc(0x10FFFF),
                 b"\x80", b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3",
                 b"\xe2\x82", b"\xf0\x9f\x98", b"\xff"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_vectors_at_every_address_alignment(kernel):
    """Long inputs go on from the first vector-aligned address after their first block (the
    bytes in between checked twice): at every address modulo 64, a sequence at each place
    around the first blocks and that boundary is judged as the codec judges it."""
    import ctypes

    size = 300
    buffer = bytearray(size + 128)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    for address in range(64):
        start = (-base) % 64 + address
        restart = 128 - address  # where the AVX-512 kernel goes on aligned
        places = {0, 1, 31, 32, 33, 62, 63, 64, 65, 126, 127, 128, 129}
        avx2_restart = 64 - address % 32  # where the AVX2 kernel goes on aligned
        places |= set(range(restart - 4, restart + 3)) | set(range(avx2_restart - 4, avx2_restart + 3))
        for fill in (b"a", "中".encode()):
            for seq in _AT_ALIGNMENT:
                for place in sorted(p for p in places if 0 <= p <= size - len(seq)):
                    text = _fill(fill, place) + seq + _fill(fill, size - place - len(seq))
                    buffer[start:start + size] = text
                    view = memoryview(buffer)[start:start + size]
                    expected = codec_valid(text)
                    assert _utf8_c._validate_with(kernel, view) is expected, (address, fill, seq, place)


@pytest.mark.slow
def test_kernels_every_byte_pair(c_impl):
    """All 65536 byte pairs, alone and before two continuations, around vector boundaries."""
    validate = _utf8_c._validate_with
    for pad in (0, 30, 62):
        head = b"a" * pad
        for first in range(256):
            for second in range(256):
                for text in (head + bytes([first, second]), head + bytes([first, second, 0x80, 0x80])):
                    expected = codec_valid(text)
                    for kernel in KERNELS:
                        assert validate(kernel, text) is expected, (kernel, text)


def test_every_valid_code_point(impl):
    """Each code point on its own in one buffer, with the SIMD paths on their boundaries."""
    text = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF).encode()
    assert impl.validate_utf8(text)
    assert impl.validate_utf8(b"x" + text)
    assert not impl.validate_utf8(text[:-1])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_every_valid_code_point(kernel):
    text = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF).encode()
    for shift in range(4):
        assert _utf8_c._validate_with(kernel, b"x" * shift + text)
    assert not _utf8_c._validate_with(kernel, text[:-1])
    assert not _utf8_c._validate_with(kernel, text + raw(0xD800, 3))


# ---------------------------------------------------------------- incremental, fail fast


def test_fail_fast_examples(impl):
    for chunk in (b"\xed\xa0", b"\xed\xbf", b"\xf4\x90", b"\xf4\xbf", b"\xe0\x80", b"\xe0\x9f",
                  b"\xf0\x80", b"\xf0\x8f", b"\xc0", b"\xc1", b"\xf5", b"\xff", b"\x80", b"a\xbf",
                  b"\xe2\x28", b"\xf0\x90\x28"):
        v = impl.Utf8Validator()
        assert v.feed(chunk) is False, chunk
        assert v.finish() is False
    for chunk in (b"\xe2\x82", b"\xed\x9f", b"\xf4\x8f\xbf", b"\xf0\x90", b"\xe0\xa0", b"\xc2", b"\xf4"):
        v = impl.Utf8Validator()
        assert v.feed(chunk) is True, chunk
        assert v.finish() is False, chunk  # truncated


def test_surrogate_prefix_fails_on_the_byte_that_makes_it_impossible(impl):
    v = impl.Utf8Validator()
    assert v.feed(b"ok \xed") is True
    assert v.feed(b"\xa0") is False
    v = impl.Utf8Validator()
    assert v.feed(b"\xed") is True
    assert v.feed(b"\x9f") is True
    assert v.feed(b"\xbf") is True
    assert v.finish() is True


def test_failure_is_sticky_until_reset(impl):
    v = impl.Utf8Validator()
    assert v.feed(b"\xff") is False
    assert v.feed(b"valid") is False
    assert v.feed(b"") is False
    assert v.finish() is False
    v.reset()
    assert v.feed(b"valid \xe2\x82") is True
    assert v.finish() is False
    v.reset()
    assert v.finish() is True
    assert v.feed(b"\xac") is False  # a fresh validator: a stray continuation


def test_finish_does_not_change_state(impl):
    v = impl.Utf8Validator()
    assert v.feed(b"\xe2\x82") is True
    assert v.finish() is False
    assert v.finish() is False
    assert v.feed(b"\xac") is True
    assert v.finish() is True
    assert v.feed(b"\xf0\x9f") is True
    assert v.finish() is False
    assert v.feed(b"\x98\x80") is True
    assert v.finish() is True


def test_validators_are_independent(impl):
    a, b = impl.Utf8Validator(), impl.Utf8Validator()
    assert a.feed(b"\xe2") is True
    assert b.feed(b"\x82") is False
    assert a.feed(b"\x82\xac") is True
    assert a.finish() is True and b.finish() is False


def test_empty(impl):
    assert impl.validate_utf8(b"") is True
    v = impl.Utf8Validator()
    assert v.feed(b"") is True
    assert v.finish() is True


@pytest.mark.parametrize("data", VECTOR_DATA, ids=VECTOR_IDS)
def test_every_split_in_two(impl, data):
    valid = codec_valid(data)
    for cut in range(len(data) + 1):
        v = impl.Utf8Validator()
        assert run_chunks(v, data, [cut, len(data)]) == feed_results(data, [cut, len(data)]), cut
        assert v.finish() is valid


@pytest.mark.parametrize("data", VECTOR_DATA, ids=VECTOR_IDS)
def test_byte_by_byte(impl, data):
    ends = list(range(1, len(data) + 1))
    v = impl.Utf8Validator()
    assert run_chunks(v, data, ends) == feed_results(data, ends)
    assert v.finish() is codec_valid(data)


@pytest.mark.slow
def test_every_split_in_two_padded(impl):
    """Splits of vectors inside ASCII and multi-byte text long enough for the SIMD bulk path."""
    for before, after in ((b"a" * 70, b"z" * 70), ("é中😀".encode() * 9, "ü".encode() * 40)):
        for data in VECTOR_DATA:
            text = before + data + after
            valid = codec_valid(text)
            for cut in range(len(text) + 1):
                v = impl.Utf8Validator()
                expected = feed_results(text, [cut, len(text)])
                assert run_chunks(v, text, [cut, len(text)]) == expected, (text, cut)
                assert v.finish() is valid


def test_three_chunks_around_a_sequence(impl):
    """A sequence spread over three feeds, with bulk text before and after each piece."""
    for cp in MULTIBYTE + SURROGATES + [0x110000]:
        seq = raw(cp, 3) if cp in SURROGATES else raw(cp, 4) if cp > 0x10FFFF else enc(cp)
        text = b"x" * 40 + seq + b"y" * 40
        start = 40
        for i in range(start, start + len(seq) + 1):
            for j in range(i, start + len(seq) + 1):
                ends = [i, j, len(text)]
                v = impl.Utf8Validator()
                assert run_chunks(v, text, ends) == feed_results(text, ends), (seq, i, j)
                assert v.finish() is codec_valid(text)


# ---------------------------------------------------------------- argument types


@pytest.mark.parametrize("bad", ["text", 123, 1.5, None, [1, 2], object(), {"a": 1}])
def test_wrong_types(impl, bad):
    with pytest.raises(TypeError):
        impl.validate_utf8(bad)
    v = impl.Utf8Validator()
    with pytest.raises(TypeError):
        v.feed(bad)
    assert v.feed(b"ok") is True  # a type error does not break the validator
    assert v.feed(b"\xff") is False
    with pytest.raises(TypeError):  # still a TypeError once failed
        v.feed(bad)


def test_missing_arguments(impl):
    with pytest.raises(TypeError):
        impl.validate_utf8()
    with pytest.raises(TypeError):
        impl.Utf8Validator().feed()


class _Bytes(bytes):
    pass


def _bytes_likes(data: bytes):
    yield data
    yield bytearray(data)
    yield memoryview(data)
    yield memoryview(bytearray(data))
    yield _Bytes(data)
    yield memoryview(b"__" + data + b"__")[2:-2]
    doubled = bytes(b for byte in data for b in (byte, 0xFF))
    yield memoryview(doubled)[::2]  # not contiguous
    yield memoryview(bytes(reversed(data)))[::-1]
    if len(data) % 2 == 0:
        yield array.array("H", data)
        yield memoryview(data).cast("H")


@pytest.mark.parametrize("data", [b"", b"plain", "é€😀".encode(), b"bad \xed\xa0\x80", b"cut \xe2\x82",
                                  ("é中" * 50000).encode()])
def test_bytes_likes(impl, data):
    valid = codec_valid(data)
    for obj in _bytes_likes(data):
        assert impl.validate_utf8(obj) is valid, type(obj)
        v = impl.Utf8Validator()
        assert v.feed(obj) is (first_impossible(data) is None)
        assert v.finish() is valid


# ---------------------------------------------------------------- property tests


@st.composite
def mutated_text(draw, max_size=200):
    data = bytearray(draw(st.text(max_size=max_size)).encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "replace", "insert", "delete"]))
        if op == "insert" or not data:
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
            continue
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "replace":
            data[pos] = draw(st.integers(0, 255))
        else:
            del data[pos]
    return bytes(data)


@st.composite
def placed(draw, inner):
    """`inner` between text long enough to reach the vector paths."""
    before = draw(st.text(max_size=80)).encode()
    after = draw(st.text(max_size=80)).encode()
    return before + draw(inner) + after


TEXTS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    mutated_text(),
    placed(mutated_text(max_size=20)),
    placed(st.binary(max_size=6)),
)


@st.composite
def chunked(draw):
    data = draw(TEXTS)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return data, cuts + [len(data)]


@given(data=TEXTS)
@HYPOTHESIS
def test_property_validate(impl, data):
    assert impl.validate_utf8(data) is codec_valid(data)


@given(data=TEXTS)
@HYPOTHESIS
def test_property_kernels(data):
    expected = codec_valid(data)
    for kernel in KERNELS:
        assert _utf8_c._validate_with(kernel, data) is expected, kernel


@given(case=chunked())
@HYPOTHESIS
def test_property_incremental(impl, case):
    data, ends = case
    v = impl.Utf8Validator()
    assert run_chunks(v, data, ends) == feed_results(data, ends)
    assert v.finish() is codec_valid(data)


@given(case=chunked())
@HYPOTHESIS
def test_property_compiled_equals_python(c_impl, py_impl, case):
    data, ends = case
    assert c_impl.validate_utf8(data) is py_impl.validate_utf8(data)
    vc, vp = c_impl.Utf8Validator(), py_impl.Utf8Validator()
    assert run_chunks(vc, data, ends) == run_chunks(vp, data, ends)
    assert vc.finish() is vp.finish()


# ---------------------------------------------------------------- big buffers (SIMD bulk, GIL release)

KINDS = {
    "ascii": "The quick brown fox jumps over the lazy dog. ",
    "latin1": "Größenwahn café naïve Ærø façade déjà vu. ",
    "cjk": "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏",
    "emoji": "😀🎉👍🚀🌍🔥💡🧪",
    "mixed": "a é € 😀 中 ",
}


def _big(kind: str, size: int) -> bytes:
    unit = KINDS[kind].encode()
    data = unit * (size // len(unit) + 1)
    cut = size
    while cut > 0 and (data[cut] & 0xC0) == 0x80:  # end on a character boundary
        cut -= 1
    return data[:cut]


def _errors(data: bytes) -> Iterable[Tuple[bytes, Optional[int]]]:
    """Copies of valid `data` broken in several ways at several places, with the bad index."""
    n = len(data)
    for pos in (0, 1, 63, 64, 65, n // 2, n - 65, n - 64, n - 3, n - 1):
        pos = max(0, min(pos, n - 1))
        while pos > 0 and (data[pos] & 0xC0) == 0x80:
            pos -= 1
        for bad in (b"\xff", b"\x80", raw(0xD800, 3), raw(0x110000, 4), raw(0x2F, 2)):
            text = data[:pos] + bad + data[pos:]
            yield text, codec_first_impossible(text)
    yield data[:-1] if data[-1] >= 0x80 else data + b"\xe2\x82", None  # truncated at the end


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("size", [100_000, 300_000, 3 << 20])
def test_big(impl, kind, size):
    data = _big(kind, size)
    assert impl.validate_utf8(data) is True
    assert impl.validate_utf8(bytearray(data)) is True
    assert impl.validate_utf8(memoryview(data)[1:]) is codec_valid(data[1:])
    for text, _ in _errors(data):
        assert impl.validate_utf8(text) is False
        assert impl.validate_utf8(bytearray(text)) is False


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_kernel_big(kernel, kind):
    data = _big(kind, 2 << 20)
    assert _utf8_c._validate_with(kernel, data) is True
    for text, _ in _errors(data):
        assert _utf8_c._validate_with(kernel, text) is False


@pytest.mark.parametrize("kind", list(KINDS))
def test_big_incremental(impl, kind):
    """Megabytes fed in uneven chunks (partial sequences at the chunk ends) fail on the right chunk."""
    data = _big(kind, 1 << 20)
    sizes = [1, 2, 3, 5, 4096, 65537, 300_001, 7, 1 << 20]
    for text, _ in [(data, None)] + list(_errors(data)):
        ends, pos, i = [], 0, 0
        while pos < len(text):
            pos = min(len(text), pos + sizes[i % len(sizes)])
            ends.append(pos)
            i += 1
        v = impl.Utf8Validator()
        assert run_chunks(v, text, ends) == feed_results(text, ends)
        assert v.finish() is codec_valid(text)


def test_threads_share_nothing(impl):
    """Big buffers are validated with the GIL released; results stay right under threads."""
    good = _big("cjk", 600_000)
    bad = good[:-1]
    failures: List[str] = []

    def work(data: bytes, expected: bool) -> None:
        for _ in range(5):
            if impl.validate_utf8(data) is not expected:
                failures.append("validate")
            v = impl.Utf8Validator()
            v.feed(bytearray(data[:300_000]))
            v.feed(data[300_000:])
            if v.finish() is not expected:
                failures.append("incremental")

    threads = [threading.Thread(target=work, args=(d, d is good)) for d in (good, bad, good, bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---------------------------------------------------------------- dispatch


def test_kernel_names(c_impl):
    assert _utf8_c.KERNEL in KERNELS
    assert "scalar" in KERNELS
    with pytest.raises(ValueError):
        _utf8_c._validate_with("no-such-kernel", b"")


_SUBPROCESS_CHECK = """
import sys
from wsfast import _utf8_c
print(_utf8_c.KERNEL)
vectors = [(b"\\xed\\xa0", 1, False), (b"a" * 100 + b"\\xf4\\x90", 101, False), (b"\\xe2\\x82", None, False),
           ("\\u20ac".encode() * 40, None, True), (b"x" * 70 + b"\\xc0\\xaf", 70, False)]
for data, bad, valid in vectors:
    for cut in range(len(data) + 1):
        v = _utf8_c.Utf8Validator()
        got = [v.feed(data[:cut]), v.feed(data[cut:]), v.finish()]
        want = [bad is None or bad >= cut, bad is None, valid]
        assert got == want, (data, cut, got, want)
    assert _utf8_c.validate_utf8(data) is valid
"""


@pytest.mark.parametrize("cap", ["scalar", "sse2", "ssse3", "avx2"])
def test_wsfast_simd_caps_the_kernel(c_impl, cap):
    """WSFAST_SIMD selects the kernel behind validate_utf8 and feed (run in a fresh process)."""
    env = dict(os.environ, WSFAST_SIMD=cap, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS_CHECK], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = cap if cap in KERNELS else "scalar"
    assert out.stdout.strip() == expected
