"""Masking (RFC 6455 section 5.3) against a byte-loop reference, for both implementations and every kernel.

Small sizes are checked exhaustively (every length 0-300 x mask phase 0-3 x
source address alignment 0-63 relative to a cache line) against the plain byte
loop below. Big sizes use an independent reference built from bytes.translate
on the four byte lanes (itself checked against the byte loop). Each compiled
kernel (scalar, SSE2, AVX2, AVX-512 ... as this CPU allows) is tested directly,
in and out of place, including that it never writes outside its buffer and
never reads past a page it was not given.
"""

from __future__ import annotations

import array
import ctypes
import functools
import random
import subprocess
import sys
import textwrap

import pytest

KEY = b"\x9b\x2e\xf1\x47"  # four distinct bytes, high bits set
SMALL_LENGTHS = range(0, 301)
PHASES = range(4)
ALIGNMENTS = range(64)
# around the kernels' unroll widths and the long-run alignment thresholds
BOUNDARY_LENGTHS = [511, 512, 513, 1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048 + 63, 4096 + 5]
BIG_LENGTHS = [64 * 1024, 1024 * 1024, 16 * 1024 * 1024 + 3]


# ---------------------------------------------------------------- references


def ref_mask(data: bytes, key: bytes, phase: int = 0) -> bytes:
    """The definition: byte i is XORed with key[(phase + i) % 4]."""
    out = bytearray(len(data))
    for i in range(len(data)):
        out[i] = data[i] ^ key[(phase + i) % 4]
    return bytes(out)


@functools.cache
def _xor_table(k: int) -> bytes:
    return bytes(b ^ k for b in range(256))


def lane_mask(data: bytes, key: bytes, phase: int = 0) -> bytes:
    """Independent fast reference: each of the four byte lanes is one translate()."""
    data = bytes(data)
    out = bytearray(len(data))
    for lane in range(4):
        out[lane::4] = data[lane::4].translate(_xor_table(key[(phase + lane) % 4]))
    return bytes(out)


PAYLOAD = random.Random(6455).randbytes(max(BOUNDARY_LENGTHS))


@functools.cache
def expected(n: int, phase: int) -> bytes:
    return ref_mask(PAYLOAD[:n], KEY, phase)


@functools.cache
def big_payload(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def address(buf) -> int:
    """Address of a writable buffer's first byte."""
    holder = (ctypes.c_char * len(buf)).from_buffer(buf)
    try:
        return ctypes.addressof(holder)
    finally:
        del holder


def aligned_slot(n: int, alignment: int, pad: int = 0):
    """(bytearray, start) with the slot's address == alignment (mod 64) and `pad` spare bytes each side."""
    buf = bytearray(n + 2 * pad + 128)
    start = pad + (alignment - address(buf) - pad) % 64
    assert (address(buf) + start) % 64 == alignment
    return buf, start


def kernels():
    try:
        from wsfast import _mask_c
    except ImportError:
        return []
    return _mask_c._kernels()


def mask_c():
    from wsfast import _mask_c

    return _mask_c


KERNELS = kernels()
needs_kernels = pytest.mark.skipif(not KERNELS, reason="compiled extension not built")


# ---------------------------------------------------------------- the references themselves


def test_reference_definition():
    assert ref_mask(b"\x00\x00\x00\x00\x00", b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04\x01"
    assert ref_mask(b"\x00\x00\x00", b"\x01\x02\x03\x04", 3) == b"\x04\x01\x02"
    # RFC 6455 section 5.7: a masked "Hello"
    assert ref_mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello"


@pytest.mark.parametrize("phase", PHASES)
def test_lane_reference_matches_byte_loop(phase):
    for n in list(range(0, 70)) + [1023, 4099]:
        assert lane_mask(PAYLOAD[:n], KEY, phase) == ref_mask(PAYLOAD[:n], KEY, phase)


# ---------------------------------------------------------------- exhaustive small sizes


@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_apply_mask_all_lengths(impl, alignment):
    buf, start = aligned_slot(max(SMALL_LENGTHS), alignment)
    buf[start:start + len(PAYLOAD[:300])] = PAYLOAD[:300]
    view = memoryview(buf)
    for n in SMALL_LENGTHS:
        got = impl.apply_mask(view[start:start + n], KEY)
        assert type(got) is bytes
        assert got == expected(n, 0), (n, alignment)


@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_apply_mask_inplace_all_lengths_and_offsets(impl, alignment):
    buf, start = aligned_slot(max(SMALL_LENGTHS), alignment)
    view = memoryview(buf)
    for n in SMALL_LENGTHS:
        chunk = view[start:start + n]
        for phase in PHASES:
            chunk[:] = PAYLOAD[:n]
            offset = phase + 4 * n  # any offset: only offset % 4 matters for the key
            assert impl.apply_mask_inplace(chunk, KEY, offset) == offset + n
            assert buf[start:start + n] == expected(n, phase), (n, phase, alignment)


def test_plain_bytes_and_bytearray_all_lengths(impl):
    """The everyday call (exact bytes / bytearray, bytes key), which the compiled module serves
    from a fast path: every length, each twice (first and later calls may differ there), every phase."""
    for n in list(SMALL_LENGTHS) + BOUNDARY_LENGTHS:
        data = PAYLOAD[:n]
        for _ in range(2):
            assert impl.apply_mask(data, KEY) == expected(n, 0)
            assert impl.apply_mask(bytearray(data), KEY) == expected(n, 0)
            buf = bytearray(data)
            assert impl.apply_mask_inplace(buf, KEY) == n
            assert buf == expected(n, 0)
            assert impl.apply_mask_inplace(buf, KEY) == n
            assert buf == data
        for phase in PHASES:
            buf = bytearray(data)
            assert impl.apply_mask_inplace(buf, KEY, phase) == phase + n
            assert buf == expected(n, phase), (n, phase)


@needs_kernels
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_kernel_all_lengths_and_phases(kernel, alignment):
    apply_with = mask_c()._apply_mask_with
    src_buf, src_start = aligned_slot(max(SMALL_LENGTHS), alignment)
    src_buf[src_start:src_start + 300] = PAYLOAD[:300]
    src = memoryview(src_buf)
    dst_buf, dst_start = aligned_slot(max(SMALL_LENGTHS), (alignment * 7 + 5) % 64)
    dst = memoryview(dst_buf)
    for n in SMALL_LENGTHS:
        for phase in PHASES:
            want = expected(n, phase)
            assert apply_with(kernel, src[src_start:src_start + n], KEY, phase) == want, (n, phase)
            # out of place into a differently aligned buffer, then in place
            apply_with(kernel, src[src_start:src_start + n], KEY, phase, out=dst[dst_start:dst_start + n])
            assert dst_buf[dst_start:dst_start + n] == want, (n, phase)
            inplace = dst[dst_start:dst_start + n]
            inplace[:] = PAYLOAD[:n]
            apply_with(kernel, inplace, KEY, phase, out=inplace)
            assert dst_buf[dst_start:dst_start + n] == want, (n, phase)


@pytest.mark.parametrize("alignment", [0, 1, 3, 8, 31, 32, 33, 63])
def test_boundary_lengths(impl, alignment):
    """Lengths around the SIMD unroll widths and the long-run alignment head."""
    buf, start = aligned_slot(max(BOUNDARY_LENGTHS), alignment)
    view = memoryview(buf)
    for n in BOUNDARY_LENGTHS:
        view[start:start + n] = PAYLOAD[:n]
        assert impl.apply_mask(view[start:start + n], KEY) == expected(n, 0)
        for phase in PHASES:
            view[start:start + n] = PAYLOAD[:n]
            assert impl.apply_mask_inplace(view[start:start + n], KEY, phase) == phase + n
            assert buf[start:start + n] == expected(n, phase), (n, phase)


@needs_kernels
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_boundary_lengths(kernel):
    apply_with = mask_c()._apply_mask_with
    for alignment in ALIGNMENTS:
        buf, start = aligned_slot(max(BOUNDARY_LENGTHS), alignment)
        view = memoryview(buf)
        for n in BOUNDARY_LENGTHS:
            for phase in PHASES:
                view[start:start + n] = PAYLOAD[:n]
                apply_with(kernel, view[start:start + n], KEY, phase, out=view[start:start + n])
                assert buf[start:start + n] == expected(n, phase), (n, phase, alignment)


# ---------------------------------------------------------------- big sizes


@pytest.mark.parametrize("n", BIG_LENGTHS, ids=["64KiB", "1MiB", "16MiB+3"])
def test_big_apply_mask(impl, n):
    data = big_payload(n)
    want = lane_mask(data, KEY)
    assert impl.apply_mask(data, KEY) == want
    assert impl.apply_mask(bytearray(data), KEY) == want
    assert impl.apply_mask(memoryview(data)[3:], KEY) == lane_mask(data[3:], KEY)


@pytest.mark.parametrize("n", BIG_LENGTHS, ids=["64KiB", "1MiB", "16MiB+3"])
@pytest.mark.parametrize("alignment", [0, 5])
def test_big_apply_mask_inplace(impl, n, alignment):
    data = big_payload(n)
    buf, start = aligned_slot(n, alignment)
    chunk = memoryview(buf)[start:start + n]
    chunk[:] = data
    assert impl.apply_mask_inplace(chunk, KEY, 7) == 7 + n
    assert chunk == lane_mask(data, KEY, 3)


@needs_kernels
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n", BIG_LENGTHS, ids=["64KiB", "1MiB", "16MiB+3"])
def test_big_kernels(kernel, n):
    data = big_payload(n)
    apply_with = mask_c()._apply_mask_with
    assert apply_with(kernel, memoryview(data)[1:], KEY, 2) == lane_mask(data[1:], KEY, 2)
    buf = bytearray(data)
    apply_with(kernel, buf, KEY, 1, out=buf)
    assert buf == lane_mask(data, KEY, 1)


@needs_kernels
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alignment", [1, 33])
def test_big_kernels_out_of_place_misaligned(kernel, alignment):
    """Past the streaming threshold (10 MiB) out-of-place results take another path."""
    n = (10 << 20) + 5
    data = big_payload(n)
    buf, start = aligned_slot(n, alignment)
    mask_c()._apply_mask_with(kernel, data, KEY, 3, out=memoryview(buf)[start:start + n])
    assert buf[start:start + n] == lane_mask(data, KEY, 3)
    assert buf[:start] == bytes(start) and buf[start + n:] == bytes(len(buf) - start - n)


def test_compiled_equals_pure_python(c_impl, py_impl):
    rng = random.Random(1)
    for _ in range(300):
        n = rng.choice([rng.randrange(0, 300), rng.randrange(0, 70000)])
        data = rng.randbytes(n)
        key = rng.randbytes(4)
        offset = rng.randrange(0, 1 << 40)
        assert c_impl.apply_mask(data, key) == py_impl.apply_mask(data, key)
        a, b = bytearray(data), bytearray(data)
        assert c_impl.apply_mask_inplace(a, key, offset) == py_impl.apply_mask_inplace(b, key, offset)
        assert a == b


# ---------------------------------------------------------------- input kinds


def test_input_types(impl):
    data = PAYLOAD[:77]
    want = expected(77, 0)

    class BytesSub(bytes):
        pass

    class ByteArraySub(bytearray):
        pass

    for source in (data, bytearray(data), memoryview(data), memoryview(bytearray(data)), BytesSub(data),
                   ByteArraySub(data), memoryview(b"xx" + data + b"yy")[2:-2]):
        got = impl.apply_mask(source, KEY)
        assert type(got) is bytes
        assert got == want
    for key in (bytearray(KEY), memoryview(KEY), memoryview(b"--" + KEY)[2:], array.array("B", KEY)):
        assert impl.apply_mask(data, key) == want
        buf = bytearray(data)
        impl.apply_mask_inplace(buf, key)
        assert buf == want


def test_apply_mask_does_not_modify_its_input(impl):
    source = bytearray(PAYLOAD[:100])
    impl.apply_mask(source, KEY)
    assert source == PAYLOAD[:100]


def test_empty(impl):
    assert impl.apply_mask(b"", KEY) == b""
    assert impl.apply_mask(memoryview(b"abc")[1:1], KEY) == b""
    assert impl.apply_mask_inplace(bytearray(), KEY) == 0
    assert impl.apply_mask_inplace(bytearray(), KEY, 5) == 5


def test_non_contiguous_source(impl):
    data = PAYLOAD[:200]
    strided = memoryview(data)[::3]
    assert not strided.c_contiguous
    assert impl.apply_mask(strided, KEY) == ref_mask(data[::3], KEY)
    # a non-contiguous 4-byte mask is still a 4-byte mask
    assert impl.apply_mask(data, memoryview(b"\x9b.\x2e.\xf1.\x47.")[::2]) == expected(200, 0)


def test_wide_items_count_bytes(impl):
    """Buffers of non-byte items are masked as their raw bytes; the offset counts bytes."""
    words = array.array("I", range(50))
    raw = words.tobytes()
    assert impl.apply_mask(words, KEY) == ref_mask(raw, KEY)
    assert impl.apply_mask(memoryview(raw).cast("I"), KEY) == ref_mask(raw, KEY)
    assert impl.apply_mask_inplace(words, KEY, 1) == 1 + len(raw)
    assert words.tobytes() == ref_mask(raw, KEY, 1)


def test_default_offset_is_zero(impl):
    a, b = bytearray(PAYLOAD[:33]), bytearray(PAYLOAD[:33])
    assert impl.apply_mask_inplace(a, KEY) == 33
    assert impl.apply_mask_inplace(b, KEY, offset=0) == 33
    assert a == b == expected(33, 0)
    assert impl.apply_mask_inplace(buffer=a, mask=KEY, offset=2) == 35


def test_masking_twice_restores(impl):
    data = PAYLOAD[:1000]
    assert impl.apply_mask(impl.apply_mask(data, KEY), KEY) == data


def test_large_offsets(impl):
    big = sys.maxsize - 10
    buf = bytearray(PAYLOAD[:6])
    assert impl.apply_mask_inplace(buf, KEY, big) == big + 6
    assert buf == expected(6, big % 4)
    # the returned offset may leave the C range, like a Python int
    buf = bytearray(PAYLOAD[:20])
    assert impl.apply_mask_inplace(buf, KEY, big) == big + 20
    assert buf == expected(20, big % 4)
    assert impl.apply_mask_inplace(memoryview(buf), KEY, big) == big + 20


# ---------------------------------------------------------------- chunked unmasking


@pytest.mark.parametrize("start_offset", [0, 1, 2, 3, 1_000_003])
def test_chunked_equals_one_shot_every_split(impl, start_offset):
    n = 70
    data = PAYLOAD[:n]
    want = ref_mask(data, KEY, start_offset % 4)
    for split in range(n + 1):
        # in one buffer, through views
        buf = bytearray(data)
        view = memoryview(buf)
        offset = impl.apply_mask_inplace(view[:split], KEY, start_offset)
        assert offset == start_offset + split
        assert impl.apply_mask_inplace(view[split:], KEY, offset) == start_offset + n
        assert buf == want, split
        # as separate bytearrays, as they come off a socket
        first, second = bytearray(data[:split]), bytearray(data[split:])
        offset = impl.apply_mask_inplace(first, KEY, start_offset)
        impl.apply_mask_inplace(second, KEY, offset)
        assert first + second == want, split


def test_chunked_every_three_way_split(impl):
    n = 24
    data = PAYLOAD[:n]
    want = expected(n, 0)
    for i in range(n + 1):
        for j in range(i, n + 1):
            buf = bytearray(data)
            view = memoryview(buf)
            offset = 0
            for lo, hi in ((0, i), (i, j), (j, n)):
                offset = impl.apply_mask_inplace(view[lo:hi], KEY, offset)
            assert offset == n
            assert buf == want, (i, j)


# ---------------------------------------------------------------- guards: no byte outside the buffer


GUARD = 128


def _guarded(n: int, alignment: int):
    buf, start = aligned_slot(n, alignment, pad=GUARD)
    for i in range(len(buf)):
        buf[i] = 0xA5
    buf[start:start + n] = PAYLOAD[:n]
    return buf, start


def _check_guards(buf: bytearray, start: int, n: int, want: bytes, what):
    assert buf[:start] == b"\xa5" * start, ("guard before clobbered", what)
    assert buf[start + n:] == b"\xa5" * (len(buf) - start - n), ("guard after clobbered", what)
    assert buf[start:start + n] == want, what


@pytest.mark.parametrize("alignment", [0, 1, 2, 3, 7, 15, 16, 31, 33, 48, 63])
def test_inplace_stays_inside_guards(impl, alignment):
    for n in list(SMALL_LENGTHS) + BOUNDARY_LENGTHS:
        for phase in (0, 3):
            buf, start = _guarded(n, alignment)
            impl.apply_mask_inplace(memoryview(buf)[start:start + n], KEY, phase)
            _check_guards(buf, start, n, expected(n, phase), (n, phase))


@needs_kernels
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alignment", [0, 1, 2, 3, 7, 15, 16, 31, 33, 48, 63])
def test_kernel_stays_inside_guards(kernel, alignment):
    apply_with = mask_c()._apply_mask_with
    for n in list(SMALL_LENGTHS) + BOUNDARY_LENGTHS:
        for phase in (0, 1, 3):
            buf, start = _guarded(n, alignment)
            slot = memoryview(buf)[start:start + n]
            apply_with(kernel, slot, KEY, phase, out=slot)  # in place
            _check_guards(buf, start, n, expected(n, phase), (n, phase, "in place"))
            buf, start = _guarded(n, alignment)
            slot = memoryview(buf)[start:start + n]
            apply_with(kernel, PAYLOAD[:n], KEY, phase, out=slot)  # out of place
            _check_guards(buf, start, n, expected(n, phase), (n, phase, "out of place"))


_PAGE_SCRIPT = textwrap.dedent(
    """
    import ctypes, mmap, sys
    from wsfast import _mask_c

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = mmap.PAGESIZE
    region = mmap.mmap(-1, 3 * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    for p in (0, 2):  # fence pages before and after the middle one
        if libc.mprotect(base + p * page, page, 0) != 0:
            sys.exit("mprotect failed")
    view = memoryview(region)
    key = b"\\x9b\\x2e\\xf1\\x47"
    for kernel in _mask_c._kernels():
        for n in list(range(0, 300)) + [511, 1023, 1024, 1025, 2049, page - 1, page]:
            for at in (page, 2 * page - n):  # touching the fence before, then after
                chunk = view[at:at + n]
                for phase in range(4):
                    _mask_c._apply_mask_with(kernel, chunk, key, phase, out=chunk)
        print(kernel)
    chunk = view[2 * page - 100:2 * page]
    _mask_c.apply_mask_inplace(chunk, key, 1)
    _mask_c.apply_mask(chunk, key)
    chunk = view[page:page + 100]
    _mask_c.apply_mask_inplace(chunk, key, 1)
    _mask_c.apply_mask(chunk, key)
    print("ok")
    """
)


@needs_kernels
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses mprotect through ctypes")
def test_no_read_or_write_past_a_page_edge():
    """Buffers that end or start at an inaccessible page: any stray access would crash the child."""
    proc = subprocess.run([sys.executable, "-c", _PAGE_SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout.split() == KERNELS + ["ok"]


# ---------------------------------------------------------------- bad input: same exception types


BAD_MASKS = [b"", b"abc", b"abcde", bytearray(3), memoryview(b"abcdefgh")[:5], array.array("I", [1, 2])]
NOT_BUFFERS = ["abcd", 1234, None, [1, 2, 3, 4], 1.5, object()]


@pytest.mark.parametrize("mask", BAD_MASKS, ids=repr)
def test_mask_of_wrong_length(impl, mask):
    with pytest.raises(ValueError):
        impl.apply_mask(b"payload", mask)
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(bytearray(b"payload"), mask)
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(memoryview(bytearray(b"payload")), mask, 3)


@pytest.mark.parametrize("mask", NOT_BUFFERS, ids=repr)
def test_mask_not_a_buffer(impl, mask):
    with pytest.raises(TypeError):
        impl.apply_mask(b"payload", mask)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(bytearray(b"payload"), mask)


@pytest.mark.parametrize("data", NOT_BUFFERS, ids=repr)
def test_data_not_a_buffer(impl, data):
    with pytest.raises(TypeError):
        impl.apply_mask(data, KEY)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(data, KEY)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(data, KEY, 1)


@pytest.mark.parametrize(
    "buffer",
    [b"payload", memoryview(b"payload"), memoryview(bytearray(b"payload")).toreadonly(), b""],
    ids=["bytes", "memoryview(bytes)", "readonly view", "empty bytes"],
)
def test_inplace_needs_a_writable_buffer(impl, buffer):
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(buffer, KEY)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(buffer, KEY, 2)


def test_inplace_needs_a_contiguous_buffer(impl):
    buf = bytearray(PAYLOAD[:40])
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(memoryview(buf)[::2], KEY)
    assert buf == PAYLOAD[:40]


@pytest.mark.parametrize("offset", [-1, -4, -(2**40)])
def test_negative_offset(impl, offset):
    buf = bytearray(PAYLOAD[:10])
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(buf, KEY, offset)
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(memoryview(buf), KEY, offset)
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(bytearray(), KEY, offset)
    assert buf == PAYLOAD[:10]


@pytest.mark.parametrize("offset", ["1", 1.0, None, b"\x01"], ids=repr)
def test_offset_not_an_integer(impl, offset):
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(bytearray(b"abc"), KEY, offset)


def test_offset_out_of_range(impl):
    with pytest.raises(OverflowError):
        impl.apply_mask_inplace(bytearray(b"abc"), KEY, 2**64)


def test_offset_accepts_index_objects(impl):
    class Index:
        def __index__(self):
            return 5

    buf = bytearray(PAYLOAD[:9])
    assert impl.apply_mask_inplace(buf, KEY, Index()) == 14
    assert buf == expected(9, 1)
    assert impl.apply_mask_inplace(bytearray(2), KEY, True) == 3


def test_wrong_argument_counts(impl):
    with pytest.raises(TypeError):
        impl.apply_mask(b"abcd")
    with pytest.raises(TypeError):
        impl.apply_mask(b"abcd", KEY, 0)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(bytearray(4))
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(bytearray(4), KEY, 0, 0)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(bytearray(4), KEY, phase=1)


def test_bad_mask_checked_before_buffer(impl):
    """Both implementations report the mask first, so the exception type matches."""
    with pytest.raises(ValueError):
        impl.apply_mask("not a buffer", b"abc")
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(b"read-only", b"abc")


@pytest.mark.parametrize("offset", [2**70, -(2**70), "x", 1.5], ids=repr)
def test_bad_offset_checked_after_mask_and_buffer(impl, offset):
    """A bad mask or buffer is reported before a bad offset, by both implementations."""
    with pytest.raises(ValueError):
        impl.apply_mask_inplace(bytearray(3), b"abc", offset)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(b"read-only", KEY, offset)
    with pytest.raises(TypeError):
        impl.apply_mask_inplace(b"read-only", KEY, offset=offset)


@needs_kernels
def test_kernel_helper_rejects_unknown_kernel():
    with pytest.raises(ValueError):
        mask_c()._apply_mask_with("no-such-kernel", b"abcd", KEY)
    with pytest.raises(ValueError):
        mask_c()._apply_mask_with(KERNELS[0], b"abcd", KEY, out=bytearray(3))


@needs_kernels
def test_best_kernel_is_listed():
    assert mask_c().KERNEL in KERNELS
    assert "scalar" in KERNELS
