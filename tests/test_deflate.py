"""permessage-deflate's data path (RFC 7692 section 7.2) in the frame parser and writer.

Every test runs on the compiled parser with zlib's C API ("c"), the compiled
parser on Python's zlib module (what a build without zlib does: "c-pyzlib")
and the pure-Python twin ("python"), all three with ISA-L turned off, and on
both implementations with ISA-L compressing level-1 messages ("c-isal",
"python-isal": the isal package, which CI installs). Python's zlib module is
the independent reference: it compresses what the parser must inflate, and
inflates what our compressor makes.
"""

from __future__ import annotations

import zlib
from typing import Any, List, Optional

import pytest
from frames_helpers import KEY, feed_all, raw_frame, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsfast import ProtocolError, _deflate_py
from wsfast._env import env_flag
from wsfast.extensions import RSV1
from wsfast.extensions.permessage_deflate import PerMessageDeflate

KINDS = ["c", "c-pyzlib", "python", "c-isal", "python-isal"]
TAIL = b"\x00\x00\xff\xff"


def set_isal(request: Any, on: bool) -> None:
    """ISA-L on (the isal package required: a failure under CI, else a skip) or off, for one test."""
    if on and _deflate_py.ISAL_VERSION is None:
        if env_flag("CI"):
            pytest.fail("the isal package is not installed under CI (it is in the test extra)")
        pytest.skip("the isal package is not installed")
    was = _deflate_py.backend(1) == "isal"
    _deflate_py.use_isal(on)
    request.addfinalizer(lambda: _deflate_py.use_isal(was))


@pytest.fixture(params=KINDS)
def dimpl(request):
    """An implementation, with the compiled one also run on Python's zlib module, and both with ISA-L."""
    from conftest import load_impl

    kind = request.param
    impl = load_impl("python" if kind.startswith("python") else "c")
    set_isal(request, kind.endswith("-isal"))
    if kind == "c-pyzlib":
        from wsfast import _frames_c

        _frames_c._use_python_zlib(True)
        request.addfinalizer(lambda: _frames_c._use_python_zlib(False))
    return impl


@pytest.fixture(params=["zlib", "isal"])
def backend(request):
    """Compressors made in the test use zlib only, or ISA-L for level 1."""
    set_isal(request, request.param == "isal")
    return request.param


# every level; level 1 (the default, and the one ISA-L replaces) about half the time
level_st = st.one_of(st.just(1), st.integers(-1, 9))


def agreed(**kw: Any) -> PerMessageDeflate:
    return PerMessageDeflate(**kw)


def reference_compressor(bits: int = 15, level: int = 6, mem_level: int = 8) -> Any:
    return zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)


def ref_deflate(c: Any, data: bytes) -> bytes:
    """One message compressed by Python's zlib, flush marker removed (RFC 7692 7.2.1)."""
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def ref_inflate(d: Any, payload: bytes) -> bytes:
    return d.decompress(payload + TAIL)


def messages_of(events: List[Any]) -> List[Any]:
    return [e.data for e in events]


# ---------------------------------------------------------------- RFC 7692 section 7.2.3


RFC_EXAMPLES = [
    # 7.2.3.1: one compressed block; and the same message in two fragments
    ("c107f248cdc9c90700", ["Hello"]),
    ("4103f248cd" "8004c9c90700", ["Hello"]),
    # 7.2.3.2: the second message refers back to the first (context takeover)
    ("c107f248cdc9c90700" "c105f200110000", ["Hello", "Hello"]),
    # 7.2.3.3: a stored (uncompressed) block
    ("c10b000500faff48656c6c6f00", ["Hello"]),
    # 7.2.3.4: a block with BFINAL set, then one octet of padding
    ("c108f348cdc9c9070000", ["Hello"]),
    # 7.2.3.5: two blocks in one message
    ("c10df24805000000ffffcac9c90700", ["Hello"]),
]


@pytest.mark.parametrize("wire_hex, expected", RFC_EXAMPLES)
def test_rfc7692_examples_decode(dimpl, wire_hex, expected):
    wire = bytes.fromhex(wire_hex)
    for chunks in ([wire], [wire[i:i + 1] for i in range(len(wire))]):
        parser = dimpl.FrameParser(client=True, extensions=[agreed()])
        events, error, _ = feed_all(parser, chunks)
        assert error is None and messages_of(events) == expected


def test_rfc7692_examples_encode_byte_for_byte(dimpl):
    # 7.2.3.1 and 7.2.3.2 (zlib never makes the stored-block or two-block forms of the others)
    compressor = dimpl.Compressor(agreed())
    assert compressor.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
    assert compressor.compress(b"Hello") == bytes.fromhex("f200110000")  # short: zlib, ISA-L or not
    assert dimpl.encode_message(1, "Hello", compressor=dimpl.Compressor(agreed())) == [
        bytes.fromhex("c107f248cdc9c90700")]
    # without context takeover every message is compressed on its own
    alone = dimpl.Compressor(agreed(local_no_context_takeover=True))
    assert [alone.compress(b"Hello") for _ in range(3)] == [bytes.fromhex("f248cdc9c90700")] * 3


def test_empty_message(dimpl):
    compressor = dimpl.Compressor(agreed())
    assert compressor.compress(b"") == b"\x00"  # RFC 7692 7.2.3.6
    parser = dimpl.FrameParser(extensions=[agreed()])
    wire = raw_frame(1, b"\x00", rsv=RSV1) + raw_frame(2, b"\x00", rsv=RSV1)
    assert parser.feed(wire) == [dimpl.TextMessage(""), dimpl.BinaryMessage(b"")]


# ---------------------------------------------------------------- limits while inflating


@pytest.mark.parametrize("limit", [0, 1, 100, 65536, 300000])
def test_limit_is_exact(dimpl, limit):
    for size, ok in ((limit, True), (limit + 1, False)):
        payload = ref_deflate(reference_compressor(), b"a" * size)
        parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=limit)
        events, error, _ = feed_all(parser, [raw_frame(2, payload, rsv=RSV1)])
        if ok:
            assert error is None and messages_of(events) == [b"a" * size]
        else:
            assert error is not None and error.close_code == 1009
            assert error.reason == f"message inflates to more than the size limit ({limit} bytes)"


def test_limit_counts_every_fragment(dimpl):
    c = reference_compressor()
    packed = ref_deflate(c, b"x" * 5000)
    wire = b"".join(raw_frame(2 if i == 0 else 0, packed[i:i + 7], rsv=RSV1 if i == 0 else 0,
                              fin=i + 7 >= len(packed)) for i in range(0, len(packed), 7))
    parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=4999)
    events, error, _ = feed_all(parser, [wire])
    assert error is not None and error.close_code == 1009
    parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=5000)
    assert messages_of(parser.feed(wire)) == [b"x" * 5000]


def test_compressed_wire_size_is_not_the_limit(dimpl):
    # 4,000 random bytes do not compress: the frame is longer than the message, which fits
    import random

    data = random.Random(7).randbytes(4000)
    packed = ref_deflate(reference_compressor(), data)
    assert len(packed) > 4000
    parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=4000)
    assert messages_of(parser.feed(raw_frame(2, packed, rsv=RSV1))) == [data]


def test_bomb_stops_at_the_limit(dimpl):
    # 64 MiB of zeros in ~64 KiB; the parser stops inflating after limit + 1 bytes
    bomb = ref_deflate(reference_compressor(level=9), bytes(64 << 20))
    assert len(bomb) < 100_000
    wire = raw_frame(2, bomb, rsv=RSV1)
    for chunks in ([wire], split_at(wire, [50, 1000, 30000])):
        parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=1 << 20)
        events, error, index = feed_all(parser, chunks)
        assert error is not None and error.close_code == 1009 and events == []


def test_bomb_in_text_is_checked_as_it_inflates(dimpl):
    # invalid UTF-8 right at the start is found before the size limit
    packed = ref_deflate(reference_compressor(), b"\xff" + bytes(10 << 20))
    parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=1 << 20)
    events, error, _ = feed_all(parser, [raw_frame(1, packed, rsv=RSV1)])
    assert error is not None and error.close_code == 1007


# ---------------------------------------------------------------- corrupt data and odd streams


@pytest.mark.parametrize("payload", [
    b"\xff\xff\xff",  # invalid block type
    b"\x00\x05\x00\x00\x00",  # stored block with a bad length check
    bytes.fromhex("f248cdc9c90700") + b"\x07",  # garbage after a good block
])
def test_corrupt_stream_is_1007(dimpl, payload):
    parser = dimpl.FrameParser(extensions=[agreed()])
    events, error, _ = feed_all(parser, [raw_frame(2, payload, rsv=RSV1)])
    assert error is not None and error.close_code == 1007
    assert error.reason.startswith("invalid compressed data: ")
    assert parser.failed


def test_distance_too_far_back_for_the_window(dimpl):
    # a window of 9 bits agreed, a stream that refers 20,000 bytes back (zlib notices once the
    # bytes referred to are out of the current call's output: every implementation inflates in
    # the same steps, so all of them refuse it at the same place)
    import random

    block = random.Random(1).randbytes(20000)
    data = block + block[:1000]
    c = reference_compressor(bits=15)
    parser = dimpl.FrameParser(extensions=[agreed(remote_max_window_bits=9)])
    events, error, _ = feed_all(parser, [raw_frame(2, ref_deflate(c, data), rsv=RSV1)])
    assert error is not None and error.close_code == 1007 and "too far back" in error.reason


def test_window_8_streams_inflate(dimpl):
    # zlib cannot compress with 8 bits, but it can inflate; a stored block stands in for a peer's
    payload = b"\x00\x05\x00\xfa\xffHello\x00"
    parser = dimpl.FrameParser(extensions=[agreed(remote_max_window_bits=8)])
    assert messages_of(parser.feed(raw_frame(1, payload, rsv=RSV1))) == ["Hello"]


def test_no_compressor_for_an_8_bit_window(dimpl):
    with pytest.raises(ValueError, match="8 bits"):
        dimpl.Compressor(agreed(local_max_window_bits=8))


def test_data_after_a_final_block_is_ignored_and_context_is_kept(dimpl):
    # message 1 ends its deflate stream (BFINAL) with garbage after; message 2 is a new stream
    # that refers back to message 1's output (context takeover, RFC 7692 7.2.3.4)
    first = b"context to refer back to, " * 3
    fin = zlib.compressobj(6, zlib.DEFLATED, -15)
    msg1 = fin.compress(first) + fin.flush(zlib.Z_FINISH) + b"\x00 ignored"
    again = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first)
    msg2 = ref_deflate(again, first[:40])
    assert len(msg2) < 20  # it really refers back
    wire = raw_frame(2, msg1, rsv=RSV1) + raw_frame(2, msg2, rsv=RSV1) + raw_frame(2, b"plain")
    for chunks in ([wire], [wire[i:i + 3] for i in range(0, len(wire), 3)]):
        parser = dimpl.FrameParser(extensions=[agreed()])
        events, error, _ = feed_all(parser, chunks)
        assert error is None and messages_of(events) == [first, first[:40], b"plain"]
    # without context takeover the peer may not refer back: the new stream starts empty
    parser = dimpl.FrameParser(extensions=[agreed(remote_no_context_takeover=True)])
    events, error, _ = feed_all(parser, [wire])
    assert error is not None and error.close_code == 1007


def test_uncompressed_messages_between_compressed_ones(dimpl):
    c = reference_compressor()
    wire = (raw_frame(1, ref_deflate(c, b"one two three"), rsv=RSV1) + raw_frame(1, b"plain")
            + raw_frame(1, ref_deflate(c, b"one two three four"), rsv=RSV1))
    parser = dimpl.FrameParser(extensions=[agreed()])
    assert messages_of(parser.feed(wire)) == ["one two three", "plain", "one two three four"]


def test_control_frames_inside_a_compressed_message(dimpl):
    packed = ref_deflate(reference_compressor(), b"fragmented " * 50)
    wire = (raw_frame(1, packed[:10], rsv=RSV1, fin=False) + raw_frame(9, b"ping")
            + raw_frame(0, packed[10:20], fin=False) + raw_frame(10, b"pong") + raw_frame(0, packed[20:]))
    parser = dimpl.FrameParser(extensions=[agreed()])
    assert parser.feed(wire) == [dimpl.Ping(b"ping"), dimpl.Pong(b"pong"),
                                 dimpl.TextMessage("fragmented " * 50)]


def test_empty_final_fragment_brings_the_marker_alone(dimpl):
    packed = ref_deflate(reference_compressor(), b"abc" * 100)
    wire = raw_frame(2, packed, rsv=RSV1, fin=False) + raw_frame(0, b"")
    parser = dimpl.FrameParser(extensions=[agreed()])
    assert messages_of(parser.feed(wire)) == [b"abc" * 100]


def test_large_masked_messages_cross_the_scratch_buffer(dimpl):
    import random

    rng = random.Random(3)
    data = bytes(rng.choice(b"abcdefgh ") for _ in range(600_000))
    packed = ref_deflate(reference_compressor(), data)
    assert len(packed) > 2 * 65536
    wire = raw_frame(2, packed, rsv=RSV1)
    for cuts in ([], [100, 70000, 140000], list(range(1, len(wire), 50000))):
        parser = dimpl.FrameParser(extensions=[agreed()], max_message_size=None)
        assert messages_of(feed_all(parser, split_at(wire, cuts))[0]) == [data]


# ---------------------------------------------------------------- round trips (hypothesis)


message_st = st.one_of(
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=300),
    st.sampled_from([b"{\"id\": 1, \"type\": \"update\", \"value\": 3.25}" * 20, bytes(5000), b"ab" * 3000]),
)


def fragments(payload: bytes, cuts: List[int]) -> List[bytes]:
    return split_at(payload, cuts) if payload else [b""]


def build_wire(parts: List[bytes], opcode: int, key: Optional[bytes]) -> bytes:
    frames = []
    for i, part in enumerate(parts):
        frames.append(raw_frame(opcode if i == 0 else 0, part, rsv=RSV1 if i == 0 else 0,
                                fin=i == len(parts) - 1, key=key))
    return b"".join(frames)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(message_st, st.booleans()), min_size=1, max_size=6),
       takeover=st.booleans(), bits=st.integers(9, 15), server=st.booleans(), data=st.data())
def test_parser_inflates_what_python_zlib_compressed(dimpl, messages, takeover, bits, server, data):
    params = agreed(remote_no_context_takeover=not takeover, remote_max_window_bits=bits)
    c = reference_compressor(bits=bits)
    wire = []
    expected = []
    for payload, text in messages:
        if not takeover:
            c = reference_compressor(bits=bits)
        if text:
            try:
                expected.append(payload.decode("utf-8"))
            except UnicodeDecodeError:
                text = False
        if not text:
            expected.append(payload)
        packed = ref_deflate(c, payload)
        cuts = data.draw(st.lists(st.integers(0, len(packed)), max_size=4))
        wire.append(build_wire(fragments(packed, cuts), 1 if text else 2, KEY if server else None))
    stream = b"".join(wire)
    reads = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    parser = dimpl.FrameParser(client=not server, extensions=[params], max_message_size=None)
    events, error, _ = feed_all(parser, split_at(stream, reads))
    assert error is None and messages_of(events) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(message_st, min_size=1, max_size=6), takeover=st.booleans(),
       bits=st.integers(9, 15), level=level_st, mem_level=st.integers(1, 9),
       fragment=st.one_of(st.none(), st.integers(1, 400)), data=st.data())
def test_python_zlib_inflates_what_we_compress(dimpl, messages, takeover, bits, level, mem_level, fragment,
                                               data):
    params = agreed(local_no_context_takeover=not takeover, local_max_window_bits=bits, level=level,
                    mem_level=mem_level)
    compressor = dimpl.Compressor(params)
    d = zlib.decompressobj(wbits=-bits)
    for payload in messages:
        if not takeover:
            d = zlib.decompressobj(wbits=-bits)
        if data.draw(st.booleans()):  # a message sent in fragments, each compressed in turn
            pieces = split_at(payload, data.draw(st.lists(st.integers(0, len(payload)), max_size=3)))
            packed = b"".join(compressor.compress(p, i == len(pieces) - 1) for i, p in enumerate(pieces))
        else:
            frames = dimpl.encode_message(2, payload, fragment_size=fragment, compressor=compressor)
            assert frames[0][0] & 0xF0 == (0xC0 if len(frames) == 1 else 0x40)
            packed = b"".join(strip_header(f) for f in frames)
        assert ref_inflate(d, packed) == payload


def strip_header(frame: bytes) -> bytes:
    n = frame[1] & 0x7F
    return frame[2 + (2 if n == 126 else 8 if n == 127 else 0):]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(message_st, min_size=1, max_size=5), takeover=st.booleans(), bits=st.integers(9, 15),
       level=st.one_of(st.just(1), st.integers(0, 9)), data=st.data())
def test_round_trip_through_our_own_writer_and_parser(dimpl, messages, takeover, bits, level, data):
    sender = agreed(local_no_context_takeover=not takeover, local_max_window_bits=bits, level=level)
    receiver = agreed(remote_no_context_takeover=not takeover, remote_max_window_bits=bits)
    compressor = dimpl.Compressor(sender)
    frames = []
    for payload in messages:
        fragment = data.draw(st.one_of(st.none(), st.integers(1, 200)))
        frames += dimpl.encode_message(2, payload, mask=True, fragment_size=fragment, compressor=compressor)
    stream = b"".join(frames)
    parser = dimpl.FrameParser(extensions=[receiver], max_message_size=None)
    reads = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    events, error, _ = feed_all(parser, split_at(stream, reads))
    assert error is None and messages_of(events) == messages


# ---------------------------------------------------------------- compiled vs pure


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(message_st, min_size=1, max_size=6), takeover=st.booleans(), bits=st.integers(9, 15),
       level=level_st, mem_level=st.integers(1, 9), fragment=st.one_of(st.none(), st.integers(1, 300)))
def test_compiled_and_pure_compress_byte_for_byte(c_impl, py_impl, backend, messages, takeover, bits, level,
                                                  mem_level, fragment):
    params = agreed(local_no_context_takeover=not takeover, local_max_window_bits=bits, level=level,
                    mem_level=mem_level)
    outs = []
    for impl in (c_impl, py_impl):
        compressor = impl.Compressor(params)
        assert compressor.backend == (backend if level == 1 else "zlib")
        outs.append([impl.encode_message(1 + (len(m) & 1), m, mask=b"abcd", fragment_size=fragment,
                                         compressor=compressor) for m in messages]
                    + [compressor.compress(m[:5], False) + compressor.compress(m[5:]) for m in messages])
    assert outs[0] == outs[1]


def outcome(impl: Any, params: PerMessageDeflate, limit: Optional[int], chunks: List[bytes]) -> list:
    parser = impl.FrameParser(extensions=[params], max_message_size=limit)
    result: list = []
    for chunk in chunks:
        try:
            result.append(("ok", parser.feed(chunk)))
        except ProtocolError as exc:
            result.append(("error", int(exc.close_code), exc.reason, exc.events))
            break
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.one_of(st.binary(max_size=200), message_st), min_size=1, max_size=5),
       corrupt=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
       takeover=st.booleans(), bits=st.integers(8, 15), limit=st.sampled_from([None, 0, 10, 100, 1000, 4096]),
       text=st.booleans(), data=st.data())
def test_compiled_and_pure_inflate_alike(c_impl, py_impl, payloads, corrupt, takeover, bits, limit, text,
                                         data):
    """Valid, truncated, corrupted and oversized streams: the same events, errors and reasons."""
    params = agreed(remote_no_context_takeover=not takeover, remote_max_window_bits=bits)
    c = reference_compressor(bits=max(bits, 9), level=data.draw(st.integers(0, 9)))
    wire = bytearray()
    for payload in payloads:
        packed = ref_deflate(c, payload) if data.draw(st.booleans()) else payload
        cuts = data.draw(st.lists(st.integers(0, len(packed)), max_size=3))
        wire += build_wire(fragments(packed, cuts), 1 if text else 2, KEY)
    for where, value in corrupt:
        wire[where % len(wire)] = value
    stream = bytes(wire)
    reads = split_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    from wsfast import _frames_c

    c_out = outcome(c_impl, params, limit, reads)
    _frames_c._use_python_zlib(True)
    try:
        fallback_out = outcome(c_impl, params, limit, reads)
    finally:
        _frames_c._use_python_zlib(False)
    py_out = outcome(py_impl, params, limit, reads)
    assert c_out == py_out
    assert fallback_out == py_out


def test_zlib_backend_is_reported(c_impl, py_impl):
    from wsfast import _frames_c

    assert _frames_c.ZLIB.startswith(("zlib ", "Python's zlib module"))


# ---------------------------------------------------------------- ISA-L


@pytest.fixture(params=["c", "python"])
def isal_impl(request):
    """An implementation whose compressors use ISA-L for level 1."""
    from conftest import load_impl

    impl = load_impl(request.param)
    set_isal(request, True)
    return impl


def inflate_one_byte_at_a_time(d: Any, payload: bytes) -> bytes:
    """zlib's inflate with one byte of output per call: every back-reference must then lie in the
    decompressor's window (with a larger output buffer zlib also resolves distances into what the
    same call wrote, so a stream that breaks its window could pass)."""
    out = bytearray()
    data = payload + TAIL
    while True:
        piece = d.decompress(data, 1)
        out += piece
        data = d.unconsumed_tail
        if not piece and not data:
            return bytes(out)


def window_messages(bits: int) -> List[bytes]:
    """Text that compresses, and random blocks repeated at, just under and just past the window."""
    import random

    from wsfast.bench.deflate import json_messages

    rng = random.Random(bits)
    window = 1 << bits
    out = json_messages(1500, 12, seed=bits)
    for _ in range(4):
        block = rng.randbytes(window)
        out += [block + b"x" * 7 + block, rng.randbytes(100) + block[:300], block[-200:] * 3,
                rng.randbytes(window - 50) + block[:64]]
    return out


@pytest.mark.parametrize("takeover", [True, False])
@pytest.mark.parametrize("bits", range(9, 16))
def test_isal_streams_fit_the_negotiated_window(isal_impl, bits, takeover):
    """A peer that holds exactly 2**bits bytes of history inflates every message, with or without
    context takeover, whole or in fragments (a stream made with a larger window than agreed would
    fail here with "invalid distance too far back")."""
    params = agreed(local_max_window_bits=bits, local_no_context_takeover=not takeover)
    compressor = isal_impl.Compressor(params)
    assert compressor.backend == "isal"
    d = zlib.decompressobj(wbits=-bits)
    for i, message in enumerate(window_messages(bits)):
        if not takeover:
            d = zlib.decompressobj(wbits=-bits)
        if i % 3 == 2:  # in three fragments, each compressed and flushed in turn
            cut = len(message) // 3
            packed = (compressor.compress(message[:cut], False)
                      + compressor.compress(message[cut:2 * cut], False)
                      + compressor.compress(message[2 * cut:]))
        else:
            packed = compressor.compress(message)
        assert inflate_one_byte_at_a_time(d, packed) == message


def test_isal_only_replaces_level_1_and_can_be_turned_off(isal_impl, request):
    for level in range(-1, 10):
        compressor = isal_impl.Compressor(agreed(level=level))
        assert compressor.backend == ("isal" if level == 1 else "zlib")
        assert ref_inflate(zlib.decompressobj(wbits=-15), compressor.compress(b"abc" * 100)) == b"abc" * 100
    assert _deflate_py.use_isal(False) is False
    assert isal_impl.Compressor(agreed()).backend == "zlib"
    assert _deflate_py.use_isal(True) is True
    assert isal_impl.Compressor(agreed()).backend == "isal"


def test_isal_is_off_with_the_environment_flag():
    import subprocess
    import sys

    code = ("from wsfast import _deflate_py, _impl; from wsfast.extensions.permessage_deflate import "
            "PerMessageDeflate as P; print(_deflate_py.backend(1), "
            "*[_impl.load(k).Compressor(P()).backend for k in ('c', 'python')])")
    for flag, expected in (("1", "zlib"), ("0", "isal" if _deflate_py.ISAL_VERSION else "zlib")):
        env = {**__import__("os").environ, "WSFAST_NO_ISAL": flag}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.split() and set(out.stdout.split()) == {expected}, out


def fresh_deflate(message: bytes, bits: int, mem_level: int) -> bytes:
    """``message`` compressed by a new compressor of the engine its size calls for."""
    from isal import isal_zlib

    module: Any = isal_zlib if len(message) >= _deflate_py.ISAL_MIN_SIZE else zlib
    c = module.compressobj(1, module.DEFLATED, -bits, mem_level)
    return (c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_isal_without_context_takeover_makes_a_new_compressors_bytes(isal_impl):
    """Without context takeover each message picks its engine by its size, and pooled ISA-L
    compressors (a full flush after each message) make exactly what a new one makes, whichever
    connection used them before: what broadcast's shared frames rely on."""
    messages = window_messages(12)[:10] + [b"Hello", b"x" * 300, b"Hello", b"x" * 300]
    params = agreed(local_max_window_bits=12, local_no_context_takeover=True)
    first, second = isal_impl.Compressor(params), isal_impl.Compressor(params)
    for i, message in enumerate(messages):
        expected = fresh_deflate(message, 12, params.mem_level)
        assert (first if i % 2 else second).compress(message) == expected
        assert ref_inflate(zlib.decompressobj(wbits=-12), expected) == message
    assert len(_deflate_py._pool[(12, params.mem_level, 1)]) >= 1
    # a message whose last fragment is empty: the next message still starts afresh
    long = messages[0]
    for compressor in (first, second):
        packed = compressor.compress(long[:300], False) + compressor.compress(b"")
        assert ref_inflate(zlib.decompressobj(wbits=-12), packed) == long[:300]
        assert compressor.compress(long) == fresh_deflate(long, 12, params.mem_level)


@pytest.mark.parametrize("bits", [9, 12, 15])
def test_isal_takes_over_for_good_at_the_first_long_message(isal_impl, bits):
    """With context takeover: zlib (context kept) until a message of ISAL_MIN_SIZE bytes, which a new
    ISA-L compressor compresses without the history; ISA-L from then on, short messages too. The
    peer's decompressor keeps its context throughout."""
    from isal import isal_zlib

    short, long = b'{"t":"chat","u":"user1","m":"hello"}', b'{"t":"tick","p":3.25}' * 20
    assert len(short) < _deflate_py.ISAL_MIN_SIZE <= len(long)
    compressor = isal_impl.Compressor(agreed(local_max_window_bits=bits))
    zc = zlib.compressobj(1, zlib.DEFLATED, -bits, 4)
    ic = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -bits, 4)
    d = zlib.decompressobj(wbits=-bits)
    for message, reference in [(short, zc), (short, zc), (long, ic), (short, ic), (long, ic)]:
        packed = compressor.compress(message)
        assert packed == (reference.compress(message) + reference.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert inflate_one_byte_at_a_time(d, packed) == message
    # a message sent in fragments keeps its engine to its end, whatever the later fragments' sizes
    compressor = isal_impl.Compressor(agreed(local_max_window_bits=bits))
    d = zlib.decompressobj(wbits=-bits)
    zc = zlib.compressobj(1, zlib.DEFLATED, -bits, 4)
    packed = compressor.compress(short, False) + compressor.compress(long)
    assert packed == (zc.compress(short) + zc.flush(zlib.Z_SYNC_FLUSH) + zc.compress(long)
                      + zc.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert inflate_one_byte_at_a_time(d, packed) == short + long


def test_isal_empty_messages_are_zlibs_empty_block(isal_impl):
    compressor = isal_impl.Compressor(agreed())
    d = zlib.decompressobj(wbits=-12)
    long = b"abcdefgh" * 100
    assert ref_inflate(d, compressor.compress(long)) == long  # on ISA-L from here
    assert compressor.compress(b"") == b"\x00"  # RFC 7692 7.2.3.6 (ISA-L would make 02 00)
    assert compressor.compress(b"", False) == b"\x00" + TAIL
    packed = compressor.compress(b"Hello", False) + compressor.compress(b"", False) + compressor.compress(b"")
    assert ref_inflate(d, packed) == b"Hello"
    assert ref_inflate(d, compressor.compress(b"Hello")) == b"Hello"


def test_isal_round_trip_through_our_own_writer_and_parser(isal_impl):
    """What ISA-L makes, whole and split into frames, goes through our parser with context kept."""
    messages = window_messages(12)
    compressor = isal_impl.Compressor(agreed())
    wire = b"".join(frame for m in messages
                    for frame in isal_impl.encode_message(2, m, mask=True, fragment_size=700,
                                                          compressor=compressor))
    parser = isal_impl.FrameParser(extensions=[agreed()], max_message_size=None)
    events, error, _ = feed_all(parser, [wire])
    assert error is None and messages_of(events) == messages


# ---------------------------------------------------------------- idle decompressors


def test_idle_decompressor_keeps_only_its_window(dimpl):
    """release_idle(): after a whole call interval without inflating (and not inside a compressed
    message) the decompressor goes and only its window stays; the next message, which refers back
    to the earlier ones, still inflates; without context takeover there is nothing to free."""
    params = agreed(remote_max_window_bits=10)
    parser = dimpl.FrameParser(extensions=[params], max_message_size=None)
    c = reference_compressor(bits=10, level=6)
    assert parser.release_idle() is False  # nothing made yet
    first = b'{"kind": "update", "value": 1, "text": "hello hello hello"}' * 5
    assert parser.feed(raw_frame(2, ref_deflate(c, first), rsv=RSV1, key=KEY)) == [dimpl.BinaryMessage(first)]
    assert parser.release_idle() is False  # something was inflated in this interval
    assert parser.release_idle() is True   # a whole interval without: freed
    assert parser.release_idle() is False
    second = first[:200] + b"new" + first[-300:]
    packed = ref_deflate(c, second)
    assert len(packed) < 40  # it refers back to the first message
    assert parser.feed(raw_frame(2, packed, rsv=RSV1, key=KEY)) == [dimpl.BinaryMessage(second)]
    # inside a compressed message: kept
    third = ref_deflate(c, first)
    assert parser.feed(raw_frame(2, third[:5], rsv=RSV1, fin=False, key=KEY)) == []
    assert parser.release_idle() is False
    assert parser.release_idle() is False
    assert parser.feed(raw_frame(0, third[5:], key=KEY)) == [dimpl.BinaryMessage(first)]
    # no context takeover: nothing is held between messages anyway
    parser = dimpl.FrameParser(extensions=[agreed(remote_no_context_takeover=True)], max_message_size=None)
    c = reference_compressor(bits=15)
    wire = raw_frame(1, ref_deflate(c, b"Hello"), rsv=RSV1, key=KEY)
    assert parser.feed(wire) == [dimpl.TextMessage("Hello")]
    assert parser.release_idle() is False and parser.release_idle() is False


def park_outcome(impl: Any, params: PerMessageDeflate, limit: Optional[int], chunks: List[bytes],
                 parks: List[bool]) -> list:
    parser = impl.FrameParser(extensions=[params], max_message_size=limit)
    result: list = []
    for chunk, park in zip(chunks, parks):
        try:
            result.append(("ok", parser.feed(chunk)))
        except ProtocolError as exc:
            result.append(("error", int(exc.close_code), exc.reason, exc.events))
            break
        if park:
            result.append(("parked", parser.release_idle(), parser.release_idle()))
    return result


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.one_of(st.binary(max_size=200), message_st), min_size=1, max_size=6),
       bits=st.integers(8, 15), peer_bits=st.integers(9, 15), limit=st.sampled_from([None, 100, 4096]),
       data=st.data())
def test_compiled_and_pure_park_alike(c_impl, py_impl, payloads, bits, peer_bits, limit, data):
    """Decompressors freed and restored from their window between any messages: the same events,
    errors and reasons in both implementations (and on Python's zlib module), a peer that breaks
    the agreed window included (it compresses with up to 15 bits where ``bits`` were agreed)."""
    params = agreed(remote_max_window_bits=bits)
    c = reference_compressor(bits=peer_bits, level=data.draw(st.integers(1, 9)))
    chunks = []
    for payload in payloads:
        packed = ref_deflate(c, payload) if data.draw(st.booleans()) else payload
        cuts = data.draw(st.lists(st.integers(0, len(packed)), max_size=2))
        wire = build_wire(fragments(packed, cuts), 2, KEY)
        chunks += split_at(wire, data.draw(st.lists(st.integers(0, len(wire)), max_size=2)))
    parks = data.draw(st.lists(st.booleans(), min_size=len(chunks), max_size=len(chunks)))
    from wsfast import _frames_c

    c_out = park_outcome(c_impl, params, limit, chunks, parks)
    _frames_c._use_python_zlib(True)
    try:
        fallback_out = park_outcome(c_impl, params, limit, chunks, parks)
    finally:
        _frames_c._use_python_zlib(False)
    py_out = park_outcome(py_impl, params, limit, chunks, parks)
    assert c_out == py_out
    assert fallback_out == py_out
