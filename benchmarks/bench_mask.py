"""Masking: compiled vs pure Python vs aiohttp and websockets (pytest-benchmark).

One group per size; like is compared with like:
- ``c-inplace`` vs ``aiohttp-inplace`` (both XOR a bytearray in place),
- ``c`` vs ``websockets`` (both return new bytes) and vs ``bytes-copy``
  (``bytes(bytearray)``, the floor for anything that writes a new object),
- ``c`` vs ``python`` and ``c-inplace`` vs ``python-inplace``.
Peers that are not installed are skipped. At the end the ratios (min times)
and the issue-2 targets are printed.

pytest-benchmark calls ``target(*args, **kwargs)``, which costs ~20 ns per
call on top of a ~20 ns masking call (and ~6 ns less for Cython
cyfunctions such as aiohttp's masker than for builtins such as ours), so the
16 B and 125 B ratios here are compressed; ``python -m wsfast bench mask``
calls each function directly from a generated loop and is the reference for
the short-payload targets.

    python -m pytest benchmarks/bench_mask.py --benchmark-enable -q
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest
from _summary import print_past_capture, ratio_lines

from wsfast import _impl

SIZES = [("16B", 16), ("125B", 125), ("1KiB", 1024), ("64KiB", 64 << 10), ("1MiB", 1 << 20),
         ("16MiB", 16 << 20)]
KEY = b"\x37\xfa\x21\x3d"

# (faster, slower, target or None): "faster is N times faster than slower"
RATIOS = [
    ("c-inplace", "aiohttp-inplace"),
    ("c", "websockets"),
    ("c", "bytes-copy"),
    ("c", "python"),
    ("c-inplace", "python-inplace"),
]


def target(size: int, pair: tuple) -> float | None:
    if pair == ("c-inplace", "aiohttp-inplace"):
        return 1.5 if size <= 125 else 1.2 if size <= 1 << 20 else None
    if pair == ("c", "websockets"):
        return 1.2 if 1024 <= size <= 1 << 20 else None
    if pair == ("c", "bytes-copy"):
        return 0.9 if size == 16 << 20 else None
    if pair == ("c", "python"):
        return 20.0 if size == 1024 else None
    return None


def _load():
    found = {}
    for label, kind in (("c", "c"), ("python", "python")):
        with contextlib.suppress(ImportError):
            impl = _impl.load(kind)
            found[label] = (impl.apply_mask, "new")
            found[f"{label}-inplace"] = (impl.apply_mask_inplace, "inplace")
    with contextlib.suppress(ImportError):
        from aiohttp._websocket.mask import _websocket_mask_cython

        found["aiohttp-inplace"] = (_websocket_mask_cython, "aiohttp")
    with contextlib.suppress(ImportError):
        from websockets.speedups import apply_mask as websockets_apply_mask

        found["websockets"] = (websockets_apply_mask, "new")
    found["bytes-copy"] = (bytes, "copy")
    return found


IMPLS = _load()
_results: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    if _results:
        print_past_capture(request, ratio_lines("masking", SIZES, RATIOS, _results, target))


def _run(benchmark, func, args):
    """benchmark.pedantic with a loop count calibrated here (rounds of ~2 ms): pytest-benchmark's
    own calibration sometimes settles on 1 iteration per round for ~50 ns calls, which then
    measures the timer instead of the call."""
    if benchmark.disabled:
        return func(*args)
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            func(*args)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.002:
            break
        loops *= 2 if elapsed > 0.0002 else 10
    rounds = max(5, min(200, int(0.5 / elapsed)))
    return benchmark.pedantic(func, args=args, iterations=loops, rounds=rounds, warmup_rounds=1)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("size_name,size", SIZES, ids=[name for name, _ in SIZES])
def test_mask(benchmark, size_name, size, impl):
    if impl not in IMPLS:
        pytest.skip(f"{impl} unavailable")
    func, kind = IMPLS[impl]
    if impl.startswith("python") and size > 1 << 20 and not benchmark.disabled:
        pytest.skip("pure Python at 16 MiB: too slow to be interesting")
    benchmark.group = f"mask {size_name}"
    data = os.urandom(size)
    buf = bytearray(data)
    args = {"new": (data, KEY), "inplace": (buf, KEY), "aiohttp": (KEY, buf), "copy": (buf,)}[kind]
    result = _run(benchmark, func, args)
    if kind == "new":
        assert len(result) == size
    elif kind == "inplace":
        assert result == size
    elif kind == "copy":
        assert result == buf
    if not benchmark.disabled and benchmark.stats is not None:
        _results[(size_name, impl)] = benchmark.stats.stats.min
