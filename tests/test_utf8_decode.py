"""decode_utf8: both implementations and every compiled decoder give exactly what
``bytes.decode("utf-8")`` gives -- the same str (same width, so equal and canonical)
or the same UnicodeDecodeError -- for any text, any length around the SIMD block
sizes, any alignment of the buffer, and any way a text message is split over reads.

Expected results come from the codec alone, never from the code under test.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from utf8_helpers import EDGES, POOLS, decode_outcome, expected_outcome, same

try:
    from wsfast import _utf8_c

    DECODERS = [*_utf8_c._decoders(), "cpython"]
except ImportError:  # the impl fixture reports a missing extension (and fails under CI)
    _utf8_c = None
    DECODERS = []

HYPOTHESIS = settings(max_examples=400, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])

SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 35, 47, 48, 63, 64, 65, 95, 96,
         127, 128, 129, 255, 256, 257, 1000, 4096]


def _texts(seed: int):
    """Texts of every width class and mix, at every size of SIZES (in characters)."""
    rng = random.Random(seed)
    for size in SIZES:
        for pool in POOLS:
            yield "".join(rng.choice(pool) for _ in range(size))


@pytest.mark.parametrize("seed", range(3))
def test_every_width_and_size(impl, seed):
    for text in _texts(seed):
        data = text.encode()
        same(decode_outcome(impl.decode_utf8, data), text)


@pytest.mark.skipif(_utf8_c is None, reason="no compiled extension")
@pytest.mark.parametrize("decoder", DECODERS)
def test_every_decoder_every_alignment(decoder):
    """Each text at 0..63 bytes into a larger buffer (memoryview slices), so SIMD loads see
    every alignment and the tail code every remainder."""
    for text in _texts(7):
        data = text.encode()
        padded = b"\xff" * 64 + data + b"\xff" * 64  # invalid bytes all round: nothing outside is read
        for offset in (0, 1, 3, 7, 15, 31, 33, 63) if len(data) > 300 else range(64):
            view = memoryview(padded)[64 - offset:][offset:offset + len(data)]
            same(decode_outcome(lambda d: _utf8_c._decode_with(decoder, d), view), text)


@pytest.mark.skipif(_utf8_c is None, reason="no compiled extension")
@pytest.mark.parametrize("decoder", DECODERS)
def test_invalid_text_raises_the_codecs_error(decoder):
    rng = random.Random(5)
    for text in _texts(11):
        data = bytearray(text.encode())
        if not data:
            continue
        for _ in range(3):
            bad = bytearray(data)
            bad[rng.randrange(len(bad))] = rng.choice([0x80, 0xBF, 0xC0, 0xC1, 0xED, 0xF4, 0xF5, 0xFF,
                                                       rng.randrange(256)])
            bad_bytes = bytes(bad)
            got = decode_outcome(lambda d: _utf8_c._decode_with(decoder, d), bad_bytes)
            same(got, expected_outcome(bad_bytes))
        # cut in the middle of the last character
        if len(text) and len(text[-1].encode()) > 1:
            cut = bytes(data[:-1])
            same(decode_outcome(lambda d: _utf8_c._decode_with(decoder, d), cut), expected_outcome(cut))


@HYPOTHESIS
@given(text=st.text(max_size=600), prefix=st.integers(0, 40))
def test_hypothesis_valid(impl, text, prefix):
    data = text.encode()  # hypothesis' text() has no lone surrogates
    expected = text
    same(decode_outcome(impl.decode_utf8, data), expected)
    view = memoryview(b"x" * prefix + data)[prefix:]
    same(decode_outcome(impl.decode_utf8, view), expected)
    if _utf8_c is not None:
        for decoder in DECODERS:
            same(decode_outcome(lambda d, name=decoder: _utf8_c._decode_with(name, d), view), expected)


@HYPOTHESIS
@given(data=st.binary(max_size=300))
def test_hypothesis_any_bytes(impl, data):
    expected = expected_outcome(data)
    same(decode_outcome(impl.decode_utf8, data), expected)
    if _utf8_c is not None:
        for decoder in DECODERS:
            same(decode_outcome(lambda d, name=decoder: _utf8_c._decode_with(name, d), data), expected)


@HYPOTHESIS
@given(chars=st.lists(st.sampled_from(EDGES), min_size=60, max_size=400), flip=st.integers(0, 10_000),
       value=st.integers(0, 255))
def test_hypothesis_one_bad_byte_in_long_text(impl, chars, flip, value):
    data = bytearray("".join(chars).encode())
    data[flip % len(data)] = value
    expected = expected_outcome(bytes(data))
    same(decode_outcome(impl.decode_utf8, bytes(data)), expected)
    if _utf8_c is not None:
        for decoder in DECODERS:
            same(decode_outcome(lambda d, name=decoder: _utf8_c._decode_with(name, d), bytes(data)), expected)


def test_rejects_non_bytes(impl):
    with pytest.raises(TypeError):
        impl.decode_utf8("text")


@pytest.mark.parametrize("text", ["天地玄黄" * 300 + "a", "Größe café " * 200, "😀🎉" * 500 + "é",
                                  "x" * 5000])
def test_text_message_split_at_every_point(impl, text):
    """A masked text message cut into two reads at every byte: one text event, the same str."""
    from wsfast._frames_py import encode_frame

    wire = encode_frame(1, text.encode(), mask=True)
    step = 1 if len(wire) < 3000 else 7
    for cut in range(0, len(wire) + 1, step):
        parser = impl.FrameParser(max_message_size=None)
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert [e.data for e in events] == [text]
        same(events[0].data, text)


@pytest.mark.parametrize("text", ["天地玄黄" * 100, "Größe café " * 40, "😀🎉" * 100 + "é"])
def test_fragmented_text_message_split_at_every_point(impl, text):
    """Fragments cut inside characters, and reads cut everywhere: the same str."""
    from wsfast._frames_py import encode_message

    wire = b"".join(encode_message(1, text, mask=True, fragment_size=37))
    for cut in range(0, len(wire) + 1, 3):
        parser = impl.FrameParser(max_message_size=None)
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert [e.data for e in events] == [text]
        same(events[0].data, text)
